"""The one place a campaign's ``send_in_app`` step reaches the in-app package.

Contract (the ``inapp`` helper's): ``inapp.messages.queue_message(session, *, tenant_id, user_key, account_id,
title, body, cta_label, cta_url, kind, ref, push=False) -> id`` (``push`` passed only when the step asks for it).
Until that package is installed the step is recorded as
``pending`` with a log line saying so (`campaigns.runner`)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

QueueMessage = Callable[..., Any]


def queue_message_function() -> QueueMessage | None:
    """``inapp.messages.queue_message``, or None when the package is not there."""
    try:
        module = importlib.import_module("inapp.messages")
    except ImportError:
        return None
    found = getattr(module, "queue_message", None)
    return found if callable(found) else None


def queue_in_app(queue: QueueMessage, session: Session, *, tenant_id: int, user_key: str, account_id: int | None,
                 title: str, body: str, cta_label: str | None, cta_url: str | None, kind: str, ref: str,
                 push: bool = False) -> int:
    extra = {"push": True} if push else {}
    return int(queue(session, tenant_id=tenant_id, user_key=user_key, account_id=account_id, title=title, body=body,
                     cta_label=cta_label, cta_url=cta_url, kind=kind, ref=ref, **extra))
