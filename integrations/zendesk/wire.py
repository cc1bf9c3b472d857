"""The Zendesk wire: the HTTP session zenpy talks through, and Zendesk's error bodies.

`ZendeskSession` is handed to ``Zenpy(session=...)``: every request zenpy (or the adapter)
sends passes through `ZendeskSession.send`, which sends it to this session's instance, counts
it, feeds the rate-limit headers to the adapter, and turns what the caller should retry (429,
5xx, timeouts, dropped connections) into `RetriableError` and refused credentials into
`AuthError` *before* zenpy sees the response. So zenpy's own 429 loop (which sleeps out
``Retry-After`` itself) never runs, and `RetryPolicy` stays the one place that waits. The
session mounts adapters without urllib3 retries (zenpy's default session retries 5xx on its own).

Where requests go is the session's own business: each request's scheme and host are set to
this session's ``base_url`` (``https://<subdomain>.zendesk.com``, or the sandbox), whatever
zenpy built, and each answer's request shows zenpy ``https://<subdomain>.zendesk.com`` again
(zenpy picks its response handler by that host). Nothing process-wide is changed (zenpy's
``ZENPY_FORCE_NETLOC`` / ``ZENPY_FORCE_SCHEME`` environment switches are not used and must stay
unset), so adapters for different instances (two tenants, a real account and the sandbox) never
reach each other's host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from integrations.errors import AuthError, FatalError, RetriableError
from integrations.http import retry_after_seconds
from integrations.values import int_or_none


def header_int(response: requests.Response, *names: str) -> int | None:
    """The first of ``names`` the answer carries, as a whole number."""
    for name in names:
        value = int_or_none(response.headers.get(name))
        if value is not None:
            return value
    return None


class ZendeskSession(requests.Session):
    """A `requests.Session` that counts, observes and sorts every response; see the module docstring."""

    def __init__(self, *, subdomain: str, before_request: Callable[[], None],
                 on_response: Callable[[requests.Response], None], base_url: str | None = None) -> None:
        super().__init__()
        self.subdomain = subdomain
        target = urlsplit(base_url or f"https://{subdomain}.zendesk.com")
        if not target.scheme or not target.netloc:
            raise ValueError(f"zendesk: {base_url!r} is not a base URL like http://127.0.0.1:8080")
        self.scheme, self.netloc = target.scheme, target.netloc
        self.calls = 0
        self.last_response: requests.Response | None = None
        self._before_request = before_request
        self._on_response = on_response
        for prefix in ("https://", "http://"):
            self.mount(prefix, HTTPAdapter(max_retries=0))

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        """A CA file given to the adapter wins over ``REQUESTS_CA_BUNDLE`` (requests lets the env win)."""
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None and self.verify is not True:
            settings["verify"] = self.verify
        return settings

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        parts = urlsplit(request.url or "")
        canonical = urlunsplit(("https", f"{self.subdomain}.zendesk.com", parts.path, parts.query, ""))
        request.url = urlunsplit((self.scheme, self.netloc, parts.path, parts.query, parts.fragment))
        what = f"{request.method} {parts.path}"
        self._before_request()
        self.calls += 1
        try:
            response = super().send(request, **kwargs)
        except requests.exceptions.SSLError as exc:
            raise FatalError(
                f"zendesk: {what}: the server's TLS certificate is not trusted; for a sandbox served over TLS "
                "pass its certificate file as verify="
            ) from exc
        except requests.Timeout as exc:
            raise RetriableError(f"zendesk: {what} timed out") from exc
        except requests.ConnectionError as exc:
            raise RetriableError(f"zendesk: {what}: the connection failed or was dropped") from exc
        if response.request is not None:  # zenpy recognises its answers by their host: show it Zendesk's
            response.request.url = canonical
        self.last_response = response
        self._on_response(response)
        status = response.status_code
        if status == 429:
            raise RetriableError(f"zendesk: {what}: rate limited (429 {_brief(response)})",
                                 retry_after=retry_after_seconds(response.headers), status=status)
        if status >= 500:
            raise RetriableError(f"zendesk: {what}: server error {status}",
                                 retry_after=retry_after_seconds(response.headers), status=status)
        if status == 401:
            raise AuthError(
                f"zendesk: the credentials for {self.subdomain!r} were refused (401 {_brief(response)}); "
                "check the agent e-mail and API token, or reconnect to get a new OAuth token"
            )
        if status == 403:
            raise AuthError(
                f"zendesk: {what} is forbidden for this user (403 {_brief(response)}); "
                "connect Canary with a Zendesk admin"
            )
        return response


def _brief(response: requests.Response) -> str:
    """The vendor's own short error text (JSON ``error``/``description`` or a text body), never headers."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason or ""
    return error_text(body) or response.reason or ""


def error_text(body: Any) -> str:
    """Zendesk's error bodies: ``{"error": "...", "description": "..."}`` or ``{"error": {"title", "message"}}``."""
    if not isinstance(body, dict):
        return str(body)[:200]
    error: Any = body.get("error")
    description: Any = body.get("description")
    if isinstance(error, dict):
        error, description = error.get("title"), error.get("message")
    parts = [str(p) for p in (error, description) if p]
    details = body.get("details")
    if isinstance(details, dict):
        for problems in details.values():
            for problem in problems if isinstance(problems, list) else [problems]:
                text = problem.get("description") if isinstance(problem, dict) else problem
                if text:
                    parts.append(str(text))
    return ": ".join(parts)[:500]
