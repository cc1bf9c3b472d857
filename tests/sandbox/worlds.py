"""Small builders for the hand-made worlds of the emulator tests: the fields most tests leave alone."""

from __future__ import annotations

from datetime import date
from typing import Any

from sandbox.world import Company, Ticket

COMPANY_DEFAULTS: dict[str, Any] = {"segment": "smb", "tier": "growth", "story": "healthy"}
TICKET_DEFAULTS: dict[str, Any] = {"satisfaction": None, "satisfaction_comment": None}


def company(**fields: Any) -> Company:
    """A `Company`; segment, tier and story default to smb, growth and healthy."""
    fields.setdefault("onboarding_start", date(2026, 1, 1))
    return Company(**{**COMPANY_DEFAULTS, **fields})


def ticket(**fields: Any) -> Ticket:
    """A `Ticket` without a satisfaction rating unless one is given."""
    return Ticket(**{**TICKET_DEFAULTS, **fields})
