"""One Salesforce org reached through ``simple_salesforce``: call counting, quota, errors.

Every request goes through `SalesforceConnection.call`, which runs it under the shared
`RetryPolicy` after asking the `QuotaGuard`. A response hook on the ``requests.Session``
sees every answer — REST, Tooling and Bulk API 2.0 alike, errors included — so it counts
each HTTP request exactly once and feeds ``Sforce-Limit-Info`` to the guard (the same
parse as ``sf.api_usage``, which the SDK only fills in on success and never for Bulk 2.0
calls). The SDK's exceptions carry no headers, so ``Retry-After`` is read from there too.

No hidden retrying: the org is reached with an access token (``session_id``), for which
simple-salesforce never re-logs-in on a 401; the transport adapter has ``max_retries=0``;
Bulk 2.0 jobs are polled here with the injectable ``sleep``, not with the SDK's sleeping
``wait_for_job``. A default timeout applies to every request (the SDK sets none).

TLS: for the sandbox, the session trusts the sandbox certificate and ``trust_env`` is off
(``REQUESTS_CA_BUNDLE`` would otherwise replace ``verify``); a real org keeps the defaults.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.bulk2 import _Bulk2Client
from simple_salesforce.exceptions import SalesforceError, SalesforceOperationError

from integrations.errors import AuthError, FatalError, RetriableError
from integrations.http import QuotaGuard, RetryPolicy
from integrations.salesforce.mapping import api_usage, error_code, error_text, retry_after_seconds

T = TypeVar("T")
log = logging.getLogger("canary.salesforce")

DEFAULT_API_VERSION = "60.0"
Timeout = tuple[float, float]


class SalesforceRefused(FatalError):
    """Salesforce refused the request itself (a 4xx other than auth and the daily limit)."""

    def __init__(self, message: str, *, status: int, code: str | None, content: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.content = content


class _TimeoutAdapter(HTTPAdapter):
    """A transport with no retries of its own and a default timeout for every request."""

    def __init__(self, timeout: Timeout) -> None:
        super().__init__(max_retries=0)
        self.timeout = timeout

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: bool | str = True, cert: Any = None, proxies: Mapping[str, str] | None = None
             ) -> requests.Response:
        return super().send(request, stream=stream, timeout=timeout or self.timeout, verify=verify, cert=cert,
                            proxies=proxies)


def translate(what: str, exc: SalesforceError, retry_after: float | None) -> Exception:
    """A simple-salesforce error as the integration error that says what the caller should do."""
    status = int(exc.status or 0)
    content = exc.content
    code = error_code(content)
    text = error_text(content)
    if code == "REQUEST_LIMIT_EXCEEDED":
        return FatalError(
            f"salesforce: the org's daily API allocation is used up ({text}); stopping without retrying. "
            "The next run resumes from the saved cursors once the rolling 24-hour usage falls."
        )
    if status == 401:
        return AuthError(f"salesforce rejected the access token ({text}); reconnect Salesforce "
                         "(the session expired or was revoked)")
    if status == 403:
        return AuthError(f"salesforce refused {what} ({text}); the connected user lacks a permission "
                         "this needs (API Enabled, Customize Application, or access to the object)")
    if status == 429 or status >= 500:
        return RetriableError(f"salesforce {what}: HTTP {status} ({text})", retry_after=retry_after, status=status)
    return SalesforceRefused(f"salesforce {what}: HTTP {status} ({text})", status=status, code=code,
                             content=content)


class SalesforceConnection:
    """The SDK client of one org, with the session it runs on."""

    def __init__(
        self,
        *,
        instance_url: str,
        access_token: str,
        policy: RetryPolicy,
        guard: QuotaGuard,
        ca_cert: str | None = None,
        api_version: str = DEFAULT_API_VERSION,
        timeout: Timeout = (10.0, 120.0),
    ) -> None:
        if not access_token:
            raise AuthError("salesforce: no access token given; connect Salesforce (OAuth) first")
        if not instance_url.startswith("https://"):
            raise ValueError(f"salesforce: the instance URL must be https://..., got {instance_url!r}")
        session = requests.Session()
        if ca_cert:
            session.verify = ca_cert
            session.trust_env = False
        transport = _TimeoutAdapter(timeout)
        session.mount("https://", transport)
        session.hooks["response"].append(self._on_response)
        self.session = session
        self.policy = policy
        self.guard = guard
        self.calls = 0
        self.usage: tuple[int, int] | None = None
        self._retry_after: float | None = None
        self.sf = Salesforce(instance_url=instance_url, session_id=access_token, session=session,
                             version=api_version, object_pairs_hook=dict)
        bulk_headers = {"Content-Type": "application/json", "Authorization": f"Bearer {access_token}"}
        self.bulk = _Bulk2Client("Account", self.sf.bulk2_url, bulk_headers, session)

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.calls += 1
        self._retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        usage = api_usage(response.headers.get("Sforce-Limit-Info"))
        if usage is not None:
            self.usage = usage
            self.guard.observe(*usage)

    def call(self, what: str, send: Callable[[], T]) -> T:
        """Run one single-request SDK call under the retry policy, translating its errors."""
        return self.policy.run(lambda: self._once(what, send), what=f"salesforce {what}")

    def _once(self, what: str, send: Callable[[], T]) -> T:
        self.guard.check()
        self._retry_after = None
        try:
            return send()
        except SalesforceError as exc:
            raise translate(what, exc, self._retry_after) from None
        except requests.exceptions.SSLError as exc:
            self.calls += 1
            raise FatalError(f"salesforce {what}: the TLS certificate was not accepted ({exc.__class__.__name__}); "
                             "check the instance URL (and the sandbox certificate)") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            self.calls += 1  # no answer reached the hook, but the request was made
            raise RetriableError(f"salesforce {what}: connection problem ({exc.__class__.__name__})") from None
        except requests.exceptions.ChunkedEncodingError as exc:
            raise RetriableError(f"salesforce {what}: the answer was cut off ({exc.__class__.__name__})") from None
        except SalesforceOperationError as exc:
            raise FatalError(f"salesforce {what}: {exc}") from None
        except ValueError as exc:
            # A 2xx whose JSON does not parse: a truncated answer, worth another try.
            raise RetriableError(f"salesforce {what}: the answer was not valid JSON ({exc.__class__.__name__})"
                                 ) from None
