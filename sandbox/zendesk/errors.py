"""Zendesk's own error bodies, so clients parse our failures exactly as they parse the real ones.

Recorded shapes (``../shared/vendor-payloads/zendesk/`` beside the repository): 401 ``{"error": "Couldn't authenticate
you"}`` with ``WWW-Authenticate``, 404 ``RecordNotFound``, 400 ``TooManyValues`` (``max_count``),
429 as ``text/html`` with ``Retry-After``. Inferred from the docs and SDK handling (not recorded):
422 ``InvalidValue`` for a too-recent ``start_time``, 422 ``RecordInvalid`` with per-field
``details``, 400 ``InvalidPaginationParameter``, 404 ``InvalidEndpoint`` and the 500/503 bodies.
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Response

JSON_TYPE = "application/json; charset=utf-8"

RATE_LIMITED_TEXT = "Number of allowed API requests per minute exceeded"
INCREMENTAL_RATE_LIMITED_TEXT = "Number of allowed incremental export API requests per minute exceeded"
RECORDED_429_TEXT = "Rate limit for ticket updates exceeded, please wait before updating this ticket again"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status=status, content_type=JSON_TYPE, headers=headers)


def error(status: int, error: str, description: str | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {"error": error}
    if description is not None:
        body["description"] = description
    body.update(extra)
    return json_response(body, status)


def unauthorized() -> Response:
    return json_response(
        {"error": "Couldn't authenticate you"},
        401,
        {"WWW-Authenticate": 'Basic realm="Web Password"', "Cache-Control": "no-cache"},
    )


def record_not_found() -> Response:
    return error(404, "RecordNotFound", "Not found")


def invalid_endpoint() -> Response:
    return error(404, "InvalidEndpoint", "Not found")


def too_many_values(max_count: int = 100) -> Response:
    # The recorded description really has two spaces where the parameter name would go.
    return error(400, "TooManyValues", f"Parameter  cannot specify more than {max_count} values", max_count=max_count)


def invalid_value(description: str, status: int = 422) -> Response:
    return error(status, "InvalidValue", description)


def invalid_pagination(description: str) -> Response:
    return error(400, "InvalidPaginationParameter", description)


def record_invalid(field: str, description: str, code: str = "InvalidValue") -> Response:
    return error(
        422,
        "RecordInvalid",
        "Record validation errors",
        details={field: [{"description": description, "error": code}]},
    )


def rate_limited(retry_after: int, text: str = RATE_LIMITED_TEXT) -> Response:
    return Response(
        text,
        status=429,
        content_type="text/html; charset=utf-8",
        headers={
            "Retry-After": str(max(1, retry_after)),
            "X-Zendesk-API-Version": "v2",
            "Cache-Control": "no-cache",
        },
    )


def server_error() -> Response:
    return error(500, "InternalServerError", "Something went wrong, please try again later")


def service_unavailable(retry_after: int) -> Response:
    response = error(503, "ServiceUnavailable", "Zendesk is temporarily unavailable, please retry")
    response.headers["Retry-After"] = str(max(1, retry_after))
    return response
