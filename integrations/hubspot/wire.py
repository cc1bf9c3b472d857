"""The HubSpot wire: one portal reached through ``hubspot-api-client`` (call counting, pacing,
errors), and what its answers carry (rate-limit headers, error bodies, batch outcomes).

Every request goes through `HubSpotConnection.call`, which runs it under the shared
`RetryPolicy` after: checking the `QuotaGuard`, pausing per `RateLimitPacer`, counting it.
The SDK's own urllib3 retry is switched off (``Retry(total=0)``, Retry-After not honoured),
so the policy is the one place that waits. Requests are made with ``_preload_content=False``:
the adapter reads the JSON and the ``X-HubSpot-RateLimit-*`` headers itself, and the pure
mapping functions get HubSpot's payloads exactly as sent.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import hubspot.communication_preferences as communication_preferences
import hubspot.crm.associations.v4 as associations_v4
import hubspot.crm.companies as companies
import hubspot.crm.objects as objects
import hubspot.crm.owners as owners
import hubspot.crm.properties as properties
import requests
import urllib3
from hubspot import HubSpot
from urllib3.util.retry import Retry

from integrations.errors import AuthError, FatalError, RetriableError, VendorRefused
from integrations.http import QuotaGuard, RetryPolicy, retry_after_seconds
from integrations.json_body import loads
from integrations.oauth import TIMEOUT, OAuthClient, OAuthError
from integrations.values import int_or_none

log = logging.getLogger("canary.hubspot")

DEFAULT_HOST = "https://api.hubapi.com"
SDK_ERRORS: tuple[type[Exception], ...] = (
    objects.ApiException,
    companies.ApiException,
    associations_v4.ApiException,
    owners.ApiException,
    properties.ApiException,
    communication_preferences.ApiException,
)


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str]


@dataclass
class RateLimitPacer:
    """Pause before HubSpot would answer 429: the 10-second account window and the search limit.

    The account window is read from ``X-HubSpot-RateLimit-Remaining``/``-Max``/``-Interval-Milliseconds``;
    when nothing is left, wait until our own oldest call in the window has aged out (the whole
    interval if others spent it). Search answers carry no such headers, so searches are spaced
    to at most ``search_per_second``.
    """

    search_per_second: float = 4.0
    reserve: int = 0
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    remaining: int | None = None
    interval: float = 10.0
    waited: float = 0.0
    _recent: deque[float] = field(default_factory=lambda: deque(maxlen=1000))
    _last_search: float | None = None

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            log.info("hubspot: pausing %.2f s to stay under the rate limit", seconds)
            self.sleep(seconds)
            self.waited += seconds

    def before(self, *, search: bool) -> None:
        if search:
            if self.search_per_second > 0 and self._last_search is not None:
                gap = 1.0 / self.search_per_second
                self._pause(gap - (self.monotonic() - self._last_search))
            self._last_search = self.monotonic()
            return
        if self.remaining is not None and self.remaining <= self.reserve:
            now = self.monotonic()
            while self._recent and now - self._recent[0] >= self.interval:
                self._recent.popleft()
            self._pause((self._recent[0] + self.interval - now) if self._recent else self.interval)
            self.remaining = None
        self._recent.append(self.monotonic())

    def observe(self, headers: Mapping[str, Any]) -> None:
        limits = rate_limit_headers(headers)
        if limits.remaining is not None:
            self.remaining = limits.remaining
        if limits.interval_seconds:
            self.interval = limits.interval_seconds


class HubSpotConnection:
    """The SDK clients of one portal, built once (each SDK API object owns a connection pool)."""

    def __init__(
        self,
        access_token: str,
        *,
        base_url: str | None = None,
        ca_cert: str | None = None,
        policy: RetryPolicy,
        guard: QuotaGuard,
        pacer: RateLimitPacer,
        timeout: tuple[float, float] = (10.0, 60.0),
    ) -> None:
        if not access_token:
            raise AuthError(
                "hubspot: no access token given; connect HubSpot (private-app token or OAuth install)"
            )
        options: dict[str, Any] = {"host": (base_url or DEFAULT_HOST).rstrip("/")}
        if ca_cert:
            options["ssl_ca_cert"] = ca_cert
        no_retry = Retry(
            total=0,
            connect=0,
            read=0,
            status=0,
            other=0,
            redirect=0,
            respect_retry_after_header=False,
            raise_on_status=False,
        )
        client = HubSpot(access_token=access_token, retry=no_retry, **options)
        crm = client.crm
        self.host = options["host"]
        self.objects = crm.objects.basic_api
        self.search = crm.objects.search_api
        self.batch = crm.objects.batch_api
        self.companies_batch = crm.companies.batch_api
        self.associations = crm.associations.v4.batch_api
        self.properties = crm.properties.core_api
        self.groups = crm.properties.groups_api
        self.owners = crm.owners.owners_api
        self.consent = client.communication_preferences.status_api
        self.subscription_types = client.communication_preferences.definition_api
        self.policy = policy
        self.guard = guard
        self.pacer = pacer
        self.timeout = timeout
        self.calls = 0
        self.daily_remaining: int | None = None

    def call(
        self, what: str, send: Callable[..., Any], *args: Any, search: bool = False, **kwargs: Any
    ) -> Answer:
        """Run one SDK method under the policy; ``send(*args, **kwargs)`` gets the raw-response options."""
        kwargs.update(_preload_content=False, _request_timeout=self.timeout)
        return self.policy.run(lambda: self._once(what, send, args, kwargs, search), what=f"hubspot {what}")

    def once(self, what: str, send: Callable[..., Any], *args: Any, **kwargs: Any) -> Answer:
        """One try of a request that must not be repeated blindly (see `RetryPolicy.run_unsure`)."""
        kwargs.update(_preload_content=False, _request_timeout=self.timeout)
        return self._once(what, send, args, kwargs, False)

    def _observe(self, headers: Mapping[str, Any] | None) -> None:
        if not headers:
            return
        self.pacer.observe(headers)
        limits = rate_limit_headers(headers)
        if limits.daily is not None and limits.daily_used is not None:
            self.guard.observe(limits.daily_used, limits.daily)
            self.daily_remaining = limits.daily_remaining

    def _once(
        self, what: str, send: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], search: bool
    ) -> Answer:
        self.guard.check()
        self.pacer.before(search=search)
        self.calls += 1
        try:
            response = send(*args, **kwargs)
            data = response.data
            response.release_conn()
        except SDK_ERRORS as exc:
            headers = dict(getattr(exc, "headers", None) or {})
            self._observe(headers)
            status = int(getattr(exc, "status", None) or 0)
            body = getattr(exc, "body", None) or getattr(exc, "reason", None)
            raise translate(what, status, body, headers, self.host) from None
        except urllib3.exceptions.HTTPError as exc:
            raise RetriableError(f"hubspot {what}: connection problem ({type(exc).__name__})") from None
        headers = dict(response.headers)
        self._observe(headers)
        try:
            body = loads(data) if data else None
        except ValueError:
            raise RetriableError(
                f"hubspot {what}: the answer was not JSON (HTTP {response.status})", status=response.status
            ) from None
        return Answer(response.status, body, headers)


def translate(
    what: str, status: int, raw_body: Any, headers: Mapping[str, Any], host: str = DEFAULT_HOST
) -> Exception:
    """A HubSpot error answer as the integration error that says what the caller should do."""
    try:
        body: Any = json.loads(raw_body) if isinstance(raw_body, (str, bytes)) and raw_body else raw_body
    except ValueError:
        body = raw_body
    message = error_message(body, status)
    policy = body.get("policyName") if isinstance(body, Mapping) else None
    if status == 401:
        return AuthError(
            f"hubspot rejected the access token (401 {message}); reconnect HubSpot or check the "
            "private-app token"
        )
    if status == 403:
        return AuthError(
            f"hubspot refused {what} (403 {message}); the token lacks a scope this needs "
            "(crm.objects.companies.read/write, crm.schemas.companies.write, ...)"
        )
    if status == 429 and policy == "DAILY":
        return FatalError(
            f"hubspot {what}: the portal's daily API limit is used up ({message}); "
            "the next run resumes where this one stopped"
        )
    if status == 429 or status >= 500:
        return RetriableError(
            f"hubspot {what}: HTTP {status} {message}",
            retry_after=retry_after_seconds(headers),
            status=status,
        )
    if status == 0:
        return FatalError(f"hubspot {what}: could not talk to {host} ({message})")
    code = body.get("category") if isinstance(body, Mapping) else None
    return VendorRefused(f"hubspot {what}: HTTP {status} {message}", status=status, code=code, body=body)


# --- answers: rate limits, errors, batch outcomes --------------------------------------------


@dataclass(frozen=True)
class RateLimitHeaders:
    """The ``X-HubSpot-RateLimit-*`` family of one answer; None where the answer did not carry it."""

    remaining: int | None = None
    maximum: int | None = None
    interval_seconds: float | None = None
    daily: int | None = None
    daily_remaining: int | None = None

    @property
    def daily_used(self) -> int | None:
        if self.daily is None or self.daily_remaining is None:
            return None
        return max(0, self.daily - self.daily_remaining)


def rate_limit_headers(headers: Mapping[str, Any]) -> RateLimitHeaders:
    lowered = {str(k).lower(): v for k, v in headers.items()}

    def number(name: str) -> int | None:
        return int_or_none(lowered.get("x-hubspot-ratelimit-" + name))

    interval = number("interval-milliseconds")
    return RateLimitHeaders(
        remaining=number("remaining"),
        maximum=number("max"),
        interval_seconds=interval / 1000 if interval else None,
        daily=number("daily"),
        daily_remaining=number("daily-remaining"),
    )


def error_message(body: Any, status: int | None = None) -> str:
    """One line from a HubSpot error body (``{status: "error", message, category, ...}``)."""
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body)
        except ValueError:
            text = body.decode(errors="replace") if isinstance(body, bytes) else body
            return f"HTTP {status}: {text[:200]}" if status else text[:200]
    if not isinstance(body, Mapping):
        return f"HTTP {status}" if status else "no details"
    category = body.get("category")
    message = str(body.get("message") or "no message")
    return f"{category}: {message}" if category else message


@dataclass(frozen=True)
class InvalidValue:
    """One rejected property value of a batch write; ``value`` None means every value of the property."""

    property: str
    value: str | None
    message: str
    code: str | None = None


_VALUE_IN_MESSAGE = re.compile(r"^(?P<value>.*?) (?:was not|is not) (?:a valid|one of the allowed)", re.S)


def _invalid_value(name: str, message: str, code: str | None) -> InvalidValue:
    match = _VALUE_IN_MESSAGE.match(message)
    value = (
        match.group("value") if match and code not in ("PROPERTY_DOESNT_EXIST", "READ_ONLY_VALUE") else None
    )
    return InvalidValue(name, value, message, code)


def invalid_values(body: Any) -> list[InvalidValue]:
    """What a 400 ``VALIDATION_ERROR`` of a batch write says was wrong, from ``errors[]`` or the message.

    HubSpot names the property and (in the message) the value, never the input: the adapter
    matches inputs by (property, value) to find the records to drop.
    """
    if not isinstance(body, Mapping):
        return []
    found: list[InvalidValue] = []
    for err in body.get("errors") or ():
        if not isinstance(err, Mapping):
            continue
        names = (err.get("context") or {}).get("propertyName") or [err.get("in") or err.get("name")]
        for name in names:
            if name:
                found.append(_invalid_value(str(name), str(err.get("message") or ""), err.get("code")))
    if found:
        return found
    message = str(body.get("message") or "")
    prefix = "Property values were not valid: "
    if message.startswith(prefix):
        try:
            details = json.loads(message[len(prefix) :])
        except ValueError:
            details = []
        for item in details if isinstance(details, list) else ():
            if isinstance(item, Mapping) and item.get("name"):
                found.append(
                    _invalid_value(str(item["name"]), str(item.get("message") or ""), item.get("error"))
                )
    return found


def batch_outcome(body: Any, sent_ids: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """(succeeded ids, failed id -> message) of a batch answer (200 ``COMPLETE`` or 207 with ``errors``)."""
    sent = [str(i) for i in sent_ids]
    body = body if isinstance(body, Mapping) else {}
    done = {str(r.get("id")) for r in body.get("results") or () if isinstance(r, Mapping)}
    failed: dict[str, str] = {}
    for err in body.get("errors") or ():
        if not isinstance(err, Mapping):
            continue
        context = err.get("context") or {}
        ids = context.get("ids") or context.get("id") or []
        for rid in ids if isinstance(ids, list) else [ids]:
            failed[str(rid)] = error_message(err)
    succeeded = [i for i in sent if i in done and i not in failed]
    for rid in sent:
        if rid not in done and rid not in failed:
            failed[rid] = "HubSpot reported no result for this record"
    return succeeded, {k: v for k, v in failed.items() if k in set(sent)}


# --- the install: which portal a token belongs to ----------------------------------------------


_TOKEN_IN_PATH = re.compile(r"(/oauth/v1/access-tokens/)[^\s/?\"]+")


class _TokenPathFilter(logging.Filter):
    """urllib3 logs request paths at DEBUG; HubSpot's token-information path carries the token."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_TOKEN_IN_PATH.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                                for a in record.args)
        return True


def _hide_token_paths() -> None:
    pool_log = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _TokenPathFilter) for f in pool_log.filters):
        pool_log.addFilter(_TokenPathFilter())


def token_info(client: OAuthClient, access_token: str, *, session: requests.Session | None = None,
               timeout: float | tuple[float, float] = TIMEOUT) -> dict[str, Any]:
    """``GET /oauth/v1/access-tokens/{token}``: ``hub_id``, ``hub_domain``, ``user``, ``scopes``."""
    base = (client.api_url or DEFAULT_HOST).rstrip("/")
    _hide_token_paths()
    http = session or requests.Session()
    try:
        response = http.get(f"{base}/oauth/v1/access-tokens/{quote(access_token, safe='')}", timeout=timeout,
                            verify=client.verify)
        info: Any = response.json()
    except (requests.RequestException, ValueError):
        raise OAuthError("hubspot token information unavailable", error="temporarily_unavailable") from None
    finally:
        if session is None:
            http.close()
    if response.status_code != 200 or not isinstance(info, dict) or "hub_id" not in info:
        raise OAuthError(f"hubspot token information refused (HTTP {response.status_code})",
                         status=response.status_code)
    return info
