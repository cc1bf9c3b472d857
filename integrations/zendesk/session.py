"""The HTTP session zenpy talks through, and where zenpy is pointed.

`ZendeskSession` is handed to ``Zenpy(session=...)``: every request zenpy (or the adapter)
sends passes through `ZendeskSession.send`, which counts it, feeds the rate-limit headers
to the adapter, and turns what the caller should retry (429, 5xx, timeouts, dropped
connections) into `RetriableError` and refused credentials into `AuthError` *before* zenpy
sees the response. So zenpy's own 429 loop (which sleeps out ``Retry-After`` itself) never
runs, and `RetryPolicy` stays the one place that waits. The session mounts adapters without
urllib3 retries (zenpy's default session retries 5xx on its own).

zenpy reads ``ZENPY_FORCE_NETLOC`` / ``ZENPY_FORCE_SCHEME`` from the process environment on
every request. `pointed_at` sets them for one SDK call under a module-wide lock and restores
the previous values, so adapters for different instances (two tenants, a real account and
the sandbox) never send a request to each other's host.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from integrations.errors import AuthError, FatalError, RetriableError

_ENV_LOCK = threading.RLock()
ENV_NETLOC = "ZENPY_FORCE_NETLOC"
ENV_SCHEME = "ZENPY_FORCE_SCHEME"


@contextmanager
def pointed_at(netloc: str | None, scheme: str | None) -> Iterator[None]:
    """Point zenpy at ``scheme://netloc`` (or, with ``None``, at the real ``<subdomain>.zendesk.com``)."""
    with _ENV_LOCK:
        saved = {key: os.environ.get(key) for key in (ENV_NETLOC, ENV_SCHEME)}
        _put(ENV_NETLOC, netloc)
        _put(ENV_SCHEME, scheme if netloc else None)
        try:
            yield
        finally:
            for key, value in saved.items():
                _put(key, value)


def _put(key: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(key, None)
    else:
        os.environ[key] = value


def retry_after_seconds(response: requests.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def header_int(response: requests.Response, *names: str) -> int | None:
    for name in names:
        raw = response.headers.get(name)
        if raw is not None:
            try:
                return int(float(raw))
            except ValueError:
                continue
    return None


class ZendeskSession(requests.Session):
    """A `requests.Session` that counts, observes and sorts every response; see the module docstring."""

    def __init__(self, *, subdomain: str, before_request: Callable[[], None],
                 on_response: Callable[[requests.Response], None]) -> None:
        super().__init__()
        self.subdomain = subdomain
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
        what = f"{request.method} {urlsplit(request.url or '').path}"
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
        self.last_response = response
        self._on_response(response)
        status = response.status_code
        if status == 429:
            raise RetriableError(f"zendesk: {what}: rate limited (429 {_brief(response)})",
                                 retry_after=retry_after_seconds(response), status=status)
        if status >= 500:
            raise RetriableError(f"zendesk: {what}: server error {status}",
                                 retry_after=retry_after_seconds(response), status=status)
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
