"""Making and changing campaigns in the store: every document validated first (`campaigns.definition`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.definition import DefinitionError, parse_audience, parse_goal, parse_steps
from campaigns.timing import check_zone
from store.models import CAMPAIGN_STATUSES, SUPPRESSION_CATEGORIES, Campaign, CampaignSettings, CampaignStep

DEFAULT_WEEKLY_CAP = 3
DEFAULT_QUIET = (21 * 60, 8 * 60)


def create_campaign(session: Session, *, name: str, audience: Mapping[str, Any], steps: Sequence[Any],
                    goal: Mapping[str, Any] | None = None, conversion_days: int = 30,
                    category: str = "customer_success", created_by_user_id: int | None = None) -> Campaign:
    """A draft campaign with its steps (added to the session, flushed)."""
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise DefinitionError("name: a campaign needs a name of 1 to 120 characters")
    if category not in SUPPRESSION_CATEGORIES:
        raise DefinitionError(f"category must be one of {', '.join(SUPPRESSION_CATEGORIES)}, not {category!r}")
    if isinstance(conversion_days, bool) or not isinstance(conversion_days, int) or not 1 <= conversion_days <= 365:
        raise DefinitionError("conversion_days must be 1 to 365")
    checked_audience = parse_audience(audience).as_dict()
    checked_goal = parse_goal(goal).as_dict() if goal is not None else None
    parsed = parse_steps(steps)
    campaign = Campaign(name=name, status="draft", category=category, audience=checked_audience, goal=checked_goal,
                        conversion_days=conversion_days, created_by_user_id=created_by_user_id)
    campaign.steps = [CampaignStep(position=s.position, kind=s.kind, config=s.config) for s in parsed]
    session.add(campaign)
    session.flush()
    return campaign


def set_status(campaign: Campaign, status: str, now: dt.datetime) -> None:
    """draft → active ⇄ paused → finished; finished is final."""
    if status not in CAMPAIGN_STATUSES:
        raise DefinitionError(f"status must be one of {', '.join(CAMPAIGN_STATUSES)}, not {status!r}")
    if campaign.status == "finished" and status != "finished":
        raise DefinitionError("a finished campaign cannot be started again; copy it instead")
    if status == "draft" and campaign.status != "draft":
        raise DefinitionError("a campaign that has run cannot go back to draft")
    if status == "active" and campaign.activated_at is None:
        campaign.activated_at = now
    if status == "finished":
        campaign.finished_at = now
    campaign.status = status


def campaign_settings(session: Session) -> CampaignSettings:
    """The workspace's campaign rules (an unsaved row with the defaults when none is stored)."""
    row = session.scalars(select(CampaignSettings)).first()
    if row is None:
        row = CampaignSettings(weekly_cap=DEFAULT_WEEKLY_CAP, quiet_start=DEFAULT_QUIET[0],
                               quiet_end=DEFAULT_QUIET[1], time_zone="UTC")
    return row


def save_campaign_settings(session: Session, *, weekly_cap: int, quiet_start: int, quiet_end: int,
                           time_zone: str) -> CampaignSettings:
    if isinstance(weekly_cap, bool) or not isinstance(weekly_cap, int) or not 1 <= weekly_cap <= 50:
        raise DefinitionError("weekly_cap must be 1 to 50 campaign e-mails per person per week")
    for name, value in (("quiet_start", quiet_start), ("quiet_end", quiet_end)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 24 * 60:
            raise DefinitionError(f"{name} must be minutes after midnight, 0 to 1439")
    try:
        check_zone(time_zone)
    except ValueError as exc:
        raise DefinitionError(f"time_zone: {exc}") from None
    row = session.scalars(select(CampaignSettings)).first()
    if row is None:
        row = CampaignSettings()
        session.add(row)
    row.weekly_cap, row.quiet_start, row.quiet_end, row.time_zone = weekly_cap, quiet_start, quiet_end, time_zone
    session.flush()
    return row
