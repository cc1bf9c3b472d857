"""The Salesforce wire: one org reached through ``simple_salesforce`` (call counting, quota, errors),
the ``Sforce-Limit-Info`` and error bodies it answers with, and the sObject Collections and
Bulk API 2.0 CSV formats of a push.

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

import csv
import io
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.bulk2 import _Bulk2Client
from simple_salesforce.exceptions import SalesforceError, SalesforceOperationError

from integrations.errors import AuthError, FatalError, RetriableError, VendorRefused
from integrations.http import QuotaGuard, RetryPolicy, retry_after_seconds
from integrations.json_body import response_json

T = TypeVar("T")
log = logging.getLogger("canary.salesforce")

DEFAULT_API_VERSION = "60.0"
Timeout = tuple[float, float]


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


class _Salesforce(Salesforce):
    """simple_salesforce's client, its answers' JSON decoded by `integrations.json_body` (the same values)."""

    def parse_result_to_json(self, result: requests.Response) -> Any:
        options: dict[str, Any] = vars(self)
        return response_json(result, object_pairs_hook=options.get("_object_pairs_hook", Salesforce._object_pairs_hook),
                             parse_float=options.get("_parse_float", Salesforce._parse_float))


class AccessRefused(AuthError):
    """HTTP 403 other than a request limit: the connected user lacks a permission the request needs."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


FIELD_ACCESS_CODES = frozenset({"INVALID_FIELD", "INVALID_FIELD_FOR_INSERT_UPDATE"})
"""Error codes of a field the connected user cannot see or cannot edit (field-level security)."""


def is_concurrency_limit(content: Any) -> bool:
    """Whether a ``REQUEST_LIMIT_EXCEEDED`` body names a short concurrency limit, not the daily one.

    Both come with the same code and status; only the message tells them apart
    ("ConcurrentPerOrgLongTxn Limit exceeded." against "TotalRequests Limit exceeded.").
    """
    first = content[0] if isinstance(content, list) and content else content
    message = str(first.get("message") or "") if isinstance(first, Mapping) else ""
    return message.strip().startswith("Concurrent")


def translate(what: str, exc: SalesforceError, retry_after: float | None) -> Exception:
    """A simple-salesforce error as the integration error that says what the caller should do."""
    status = int(exc.status or 0)
    content = exc.content
    code = error_code(content)
    text = error_text(content)
    if code == "REQUEST_LIMIT_EXCEEDED" and is_concurrency_limit(content):
        return RetriableError(f"salesforce {what}: too many long-running requests in the org at once ({text}); "
                              "retrying with backoff", retry_after=retry_after, status=status)
    if code == "REQUEST_LIMIT_EXCEEDED":
        return FatalError(
            f"salesforce: the org's daily API allocation is used up ({text}); stopping without retrying. "
            "The next run resumes from the saved cursors once the rolling 24-hour usage falls."
        )
    if status == 401:
        return AuthError(f"salesforce rejected the access token ({text}); reconnect Salesforce "
                         "(the session expired or was revoked)")
    if status == 403:
        return AccessRefused(f"salesforce refused {what} ({text}); the connected user lacks a permission "
                             "this needs (API Enabled, Customize Application, or access to the object)", code=code)
    if status == 429 or status >= 500:
        return RetriableError(f"salesforce {what}: HTTP {status} ({text})", retry_after=retry_after, status=status)
    return VendorRefused(f"salesforce {what}: HTTP {status} ({text})", status=status, code=code, body=content)


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
        self.sf = _Salesforce(instance_url=instance_url, session_id=access_token, session=session,
                             version=api_version, object_pairs_hook=dict)
        bulk_headers = {"Content-Type": "application/json", "Authorization": f"Bearer {access_token}"}
        self.bulk = _Bulk2Client("Account", self.sf.bulk2_url, bulk_headers, session)

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.calls += 1
        self._retry_after = retry_after_seconds(response.headers)
        usage = api_usage(response.headers.get("Sforce-Limit-Info"))
        if usage is not None:
            self.usage = usage
            self.guard.observe(*usage)

    def call(self, what: str, send: Callable[[], T]) -> T:
        """Run one single-request SDK call under the retry policy, translating its errors."""
        return self.policy.run(lambda: self._once(what, send), what=f"salesforce {what}")

    def once(self, what: str, send: Callable[[], T]) -> T:
        """One try of a request that must not be repeated blindly (see `RetryPolicy.run_unsure`)."""
        return self._once(what, send)

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


# ------------------------------------------------------------------ answers and bulk formats


NULL_IN_CSV = "#N/A"
"""What clears a field in a Bulk API 2.0 CSV upload (an empty cell leaves it unchanged)."""


def api_usage(header: str | None) -> tuple[int, int] | None:
    """``Sforce-Limit-Info: api-usage=18/5000[; per-app-api-usage=...]`` → (used, limit)."""
    if not header:
        return None
    match = re.search(r"(?:^|[;,\s])api-usage=(\d+)/(\d+)", header)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


def error_code(content: Any) -> str | None:
    """The first ``errorCode`` of a Salesforce error body (a list of ``{message, errorCode}``)."""
    first = content[0] if isinstance(content, list) and content else content
    if isinstance(first, Mapping):
        code = first.get("errorCode") or first.get("statusCode")
        return str(code) if code else None
    return None


def error_text(content: Any) -> str:
    """A short, human message for a Salesforce error body: ``CODE: message (fields)``."""
    items = content if isinstance(content, list) else [content]
    parts: list[str] = []
    for item in items:
        if isinstance(item, Mapping):
            code = item.get("errorCode") or item.get("statusCode") or "ERROR"
            message = str(item.get("message") or "").strip()
            fields = item.get("fields") or []
            text = f"{code}: {message}" if message else str(code)
            if fields:
                text += f" ({', '.join(str(f) for f in fields)})"
            parts.append(text)
        elif item is not None:
            parts.append(str(item)[:200])
    return "; ".join(parts) or "no details given"


def collection_records(rows: Sequence[tuple[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """``(account id, field values)`` pairs as sObject Collections records (null clears a field)."""
    return [{"attributes": {"type": "Account"}, "id": account_id, **fields} for account_id, fields in rows]


def task_records(rows: Sequence[tuple[str | None, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """``(task id or None for a new one, field values)`` pairs as sObject Collections ``Task`` records."""
    return [{"attributes": {"type": "Task"}, **({"id": task_id} if task_id else {}), **fields}
            for task_id, fields in rows]


def collection_outcomes(ids: Sequence[str], results: Any) -> tuple[list[str], dict[str, str]]:
    """Per-record results of ``PATCH composite/sobjects`` (same order as sent) → (succeeded, failed)."""
    succeeded: list[str] = []
    failed: dict[str, str] = {}
    answers = results if isinstance(results, list) else []
    for index, account_id in enumerate(ids):
        answer = answers[index] if index < len(answers) else None
        if not isinstance(answer, Mapping):
            failed[account_id] = "salesforce reported no result for this record"
        elif answer.get("success") is True:
            succeeded.append(account_id)
        else:
            failed[account_id] = error_text(answer.get("errors") or [])
    return succeeded, failed


def _csv_cell(value: Any) -> str:
    if value is None:
        return NULL_IN_CSV
    if isinstance(value, float):
        return repr(value) if value != int(value) else str(int(value))
    return str(value)


def bulk_csv(rows: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """Bulk API 2.0 update CSV: an ``Id`` column plus one per field; ``#N/A`` clears a field."""
    columns: list[str] = []
    for _, fields in rows:
        for name in fields:
            if name not in columns:
                columns.append(name)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["Id", *columns])
    for account_id, fields in rows:
        writer.writerow([account_id, *(_csv_cell(fields[c]) if c in fields else "" for c in columns)])
    return buffer.getvalue()


def bulk_failures(text: str) -> dict[str, str]:
    """``failedResults`` CSV (``sf__Id, sf__Error, <columns>``) → uploaded Id → error message."""
    failed: dict[str, str] = {}
    for row in csv.DictReader(io.StringIO(text)):
        account_id = row.get("Id") or row.get("sf__Id") or ""
        if account_id:
            failed[account_id] = bulk_error_text(row.get("sf__Error"))
    return failed


def bulk_error_text(raw: str | None) -> str:
    """``sf__Error`` (``CODE:message:field,field --``) in the same words as the composite errors."""
    text = (raw or "").strip().removesuffix("--").strip()
    if not text:
        return "rejected by the Bulk API job"
    code, _, rest = text.partition(":")
    message, _, fields = rest.rpartition(":") if rest.count(":") else (rest, "", "")
    item: dict[str, Any] = {"errorCode": code, "message": message.strip()}
    if fields.strip():
        item["fields"] = [f.strip() for f in fields.split(",") if f.strip()]
    return error_text([item])


def error_code_of(message: str) -> str:
    """The code at the head of a message written by `error_text` (``CODE: message (fields)``)."""
    return message.partition(":")[0].strip()


def bulk_ids(text: str) -> list[str]:
    """Uploaded Ids listed in a ``successfulResults`` or ``unprocessedrecords`` CSV."""
    return [row.get("Id") or row.get("sf__Id") or "" for row in csv.DictReader(io.StringIO(text))
            if row.get("Id") or row.get("sf__Id")]


def describe_field_names(describe: Mapping[str, Any]) -> set[str]:
    """Field API names of an sObject describe."""
    return set(describe_fields(describe))


def describe_fields(describe: Mapping[str, Any]) -> dict[str, bool]:
    """Field API names of an sObject describe (the fields the connected user can read) → updateable."""
    fields: Iterable[Any] = describe.get("fields") or []
    return {str(f["name"]): f.get("updateable") is True for f in fields if isinstance(f, Mapping) and f.get("name")}


def refused_fields(results: Any) -> list[str] | None:
    """The fields named by per-record field-level security errors (`FIELD_ACCESS_CODES`) in a
    collection answer; None when no record failed that way (an empty list: failed, fields unnamed)."""
    names: list[str] | None = None
    for answer in results if isinstance(results, list) else []:
        errors = answer.get("errors") if isinstance(answer, Mapping) else None
        for error in errors if isinstance(errors, list) else []:
            if isinstance(error, Mapping) and (error.get("statusCode") or error.get("errorCode")) in FIELD_ACCESS_CODES:
                names = names or []
                names.extend(str(f) for f in error.get("fields") or [] if str(f) not in names)
    return names


def identity_user_id(resources: Any) -> str | None:
    """The connected user's id from the ``identity`` URL (``.../id/<org id>/<user id>``) of the
    Resources by Version answer (``GET /services/data/vXX.X/``)."""
    identity = resources.get("identity") if isinstance(resources, Mapping) else None
    last = str(identity or "").rstrip("/").rsplit("/", 1)[-1]
    return last if re.fullmatch(r"005[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?", last) else None
