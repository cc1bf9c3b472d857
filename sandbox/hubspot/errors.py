"""HubSpot's error bodies: ``{status: "error", message, correlationId, category, ...}``."""

from __future__ import annotations

import uuid
from typing import Any

AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
    "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
BATCH_LIMIT_MESSAGE = (
    "The maximum number of inputs supported in a batch is 100. Please reduce the number of items and try again"
)


def correlation_id() -> str:
    return str(uuid.uuid4())


class HubSpotError(Exception):
    """An answer in HubSpot's error shape; raised by the store, rendered by the app."""

    def __init__(self, status: int, category: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.extra = extra

    def body(self, corr: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "correlationId": corr or correlation_id(),
        }
        out.update(self.extra)
        out["category"] = self.category
        return out


def validation_error(message: str, **extra: Any) -> HubSpotError:
    return HubSpotError(400, "VALIDATION_ERROR", message, **extra)


def not_found(message: str = "resource not found", **extra: Any) -> HubSpotError:
    return HubSpotError(404, "OBJECT_NOT_FOUND", message, **extra)
