"""Zendesk: the only code that speaks the Zendesk API (see `integrations.zendesk.descriptor`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from integrations.zendesk.adapter import ZendeskAdapter

__all__ = ["ZendeskAdapter"]


def __getattr__(name: str) -> Any:
    """`ZendeskAdapter` imported on first use: the descriptor, the webhooks and the fields load without the SDK."""
    if name == "ZendeskAdapter":
        from integrations.zendesk.adapter import ZendeskAdapter

        return ZendeskAdapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
