"""Signals: the numbers a health model scores, computed for one account as of one day.

Every scorable signal is a `float | None`; None means the data is missing (source not
connected, no survey answered, no renewal date...) and the measure built on it is left
out of the score rather than scored as zero. Alongside them `Signals` keeps the raw counts
the reasons and alert rules quote ("Weekly active users fell from 42 to 17").

Windows (days counted back from `as_of`, `as_of` itself included):
7 for weekly active users, 14 for trends, 28 for active users, logins, features and
utilisation, 30 for ticket trend, 90 for CSAT and 180 for NPS (the last two configurable).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

import yaml

from scoring.inputs import CLOSED_TICKET_STATUSES, AccountInputs

if TYPE_CHECKING:
    from scoring.model import HealthModel

Unit = Literal["percent", "days", "count", "per_week", "nps", "money", "change"]

SHIPPED_MODEL = "default_model.yaml"


@cache
def _shipped_signals() -> dict[str, Any]:
    """The ``signals:`` section of the shipped health model: the product's vocabulary (key features,
    onboarding milestones, the login event) is written there and nowhere else."""
    text = resources.files("scoring").joinpath(SHIPPED_MODEL).read_text(encoding="utf-8")
    section: dict[str, Any] = yaml.safe_load(text)["signals"]
    return section


def _shipped(key: str) -> Callable[[], Any]:
    def value() -> Any:
        found = _shipped_signals()[key]
        return tuple(found) if isinstance(found, list) else found

    return value


USUAL_TICKETS_FROM = 14
"""The usual ticket rate is measured over the 4 weeks that end this many days before the scoring day."""


@dataclass(frozen=True, slots=True)
class SignalInfo:
    label: str
    unit: Unit


SIGNALS: dict[str, SignalInfo] = {
    "logins_per_user_week": SignalInfo("Logins per active user per week", "per_week"),
    "days_since_last_login": SignalInfo("Days since anyone logged in", "days"),
    "weekly_active_users": SignalInfo("Weekly active users", "count"),
    "active_users_trend": SignalInfo("Change in weekly active users over 14 days", "change"),
    "usage_trend": SignalInfo("Change in usage, last 14 days vs the 14 before", "change"),
    "license_utilisation": SignalInfo("License utilisation", "percent"),
    "feature_breadth": SignalInfo("Key features used", "percent"),
    "feature_depth": SignalInfo("Key-feature uses per active user per week", "per_week"),
    "open_tickets": SignalInfo("Open tickets", "count"),
    "urgent_open_tickets": SignalInfo("Urgent open tickets", "count"),
    "escalated_open_tickets": SignalInfo("Escalated open tickets", "count"),
    "ticket_trend": SignalInfo("Change in tickets, last 30 days vs the 30 before", "change"),
    "csat": SignalInfo("CSAT", "percent"),
    "nps": SignalInfo("NPS", "nps"),
    "sponsor_days_inactive": SignalInfo("Days since the executive sponsor was active", "days"),
    "champion_days_inactive": SignalInfo("Days since the champion was active", "days"),
    "days_since_onboarding_start": SignalInfo("Days since onboarding started", "days"),
    "onboarding_progress": SignalInfo("Onboarding milestones reached", "percent"),
    "days_to_renewal": SignalInfo("Days to renewal", "days"),
    "arr": SignalInfo("ARR", "money"),
}
"""Every signal a measure may score, with the words and unit used to show it."""


@dataclass(frozen=True, slots=True)
class SignalSettings:
    """The model's say in how signals are computed (section `signals:` of the model file); what a model
    file leaves out is the shipped model's (`scoring/default_model.yaml`)."""

    key_features: tuple[str, ...] = field(default_factory=_shipped("key_features"))
    login_event: str = field(default_factory=_shipped("login_event"))
    milestones: tuple[str, ...] = field(default_factory=_shipped("milestones"))
    csat_days: int = 90
    nps_days: int = 180


@dataclass(frozen=True, slots=True)
class Signals:
    account_id: int
    day: dt.date
    name: str | None = None
    segment: str | None = None
    tier: str | None = None
    lifecycle_stage: str | None = None
    parent_id: int | None = None

    # Scorable (see SIGNALS); None = missing.
    logins_per_user_week: float | None = None
    days_since_last_login: float | None = None
    weekly_active_users: float | None = None
    active_users_trend: float | None = None
    usage_trend: float | None = None
    license_utilisation: float | None = None
    feature_breadth: float | None = None
    feature_depth: float | None = None
    open_tickets: float | None = None
    urgent_open_tickets: float | None = None
    escalated_open_tickets: float | None = None
    ticket_trend: float | None = None
    csat: float | None = None
    nps: float | None = None
    sponsor_days_inactive: float | None = None
    champion_days_inactive: float | None = None
    days_since_onboarding_start: float | None = None
    onboarding_progress: float | None = None
    days_to_renewal: float | None = None
    arr: float | None = None

    # Raw numbers quoted by reasons and alerts.
    active_users_28d: int | None = None
    weekly_active_users_before: int | None = None
    """Weekly active users in the week that ended 14 days before `day`."""
    events_14d: int | None = None
    events_prev_14d: int | None = None
    active_days_14d: int | None = None
    """User-days with any activity in the last 14 days (a user active on 3 days counts 3)."""
    active_days_prev_14d: int | None = None
    key_features_used: tuple[str, ...] = ()
    key_features_total: int = 0
    user_key_feature_counts: tuple[int, ...] = ()
    """For each user active in the last 28 days, how many distinct key features they used."""
    seats_purchased: int | None = None
    oldest_urgent_open_days: int | None = None
    tickets_created_7d: int | None = None
    tickets_weekly_before: float | None = None
    """Average tickets created per week over the 4 weeks before the last 2 (days 14-41 back): the
    usual rate, measured before the week under watch and the week before it, so a storm that has
    lasted more than a week does not become its own baseline."""
    tickets_created_30d: int | None = None
    tickets_created_prev_30d: int | None = None
    csat_responses: int = 0
    nps_responses: int = 0
    last_detractor_day: dt.date | None = None
    last_detractor_score: int | None = None
    sponsor_name: str | None = None
    champion_name: str | None = None
    milestones_reached: tuple[str, ...] = ()
    milestones_missing: tuple[str, ...] = ()
    onboarding_complete: bool | None = None
    renewal_date: dt.date | None = None


def _day(value: dt.date) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _change(now: float, before: float) -> float | None:
    """Percent change; None when there is nothing to compare with."""
    if before <= 0:
        return None
    return (now - before) / before * 100.0


def compute_signals(
    inputs: AccountInputs, as_of: dt.date, model: SignalSettings | HealthModel | None = None
) -> Signals:
    """All signals of one account as of the end of `as_of` (facts dated later are ignored)."""
    settings = _settings(model)
    today = as_of.toordinal()
    values: dict[str, object] = {}
    if inputs.usage is not None:
        values.update(_usage_signals(inputs, today, settings))
    if inputs.tickets is not None:
        values.update(_ticket_signals(inputs, today))
    values.update(_survey_signals(inputs, today, settings))
    values.update(_contact_signals(inputs, today, values.pop("_last_seen", {})))  # type: ignore[arg-type]
    values.update(_onboarding_signals(inputs, today, settings, values.pop("_milestone_events", set())))  # type: ignore[arg-type]
    if inputs.renewal_date is not None:
        renewal = _day(inputs.renewal_date)
        values["renewal_date"] = renewal
        values["days_to_renewal"] = float(renewal.toordinal() - today)
    if inputs.arr is not None:
        values["arr"] = float(inputs.arr)
    return Signals(
        account_id=inputs.account_id,
        day=as_of,
        name=inputs.name,
        segment=inputs.segment,
        tier=inputs.tier,
        lifecycle_stage=inputs.lifecycle_stage,
        parent_id=inputs.parent_id,
        seats_purchased=inputs.seats_purchased,
        **values,  # type: ignore[arg-type]
    )


def _settings(model: SignalSettings | HealthModel | None) -> SignalSettings:
    if model is None:
        return SignalSettings()
    if isinstance(model, SignalSettings):
        return model
    return model.signals


def _usage_signals(inputs: AccountInputs, today: int, settings: SignalSettings) -> dict[str, object]:
    key_features = frozenset(settings.key_features)
    milestone_names = frozenset(settings.milestones)
    login_event = settings.login_event
    users_7: set[str] = set()
    users_before: set[str] = set()
    users_28: set[str] = set()
    features_by_user: dict[str, set[str]] = {}
    last_seen: dict[str, int] = {}
    milestone_events: set[str] = set()
    events_14 = events_prev_14 = logins_28 = key_uses_28 = 0
    user_days_14: set[tuple[str, int]] = set()
    user_days_prev_14: set[tuple[str, int]] = set()
    last_login = -1
    for row in inputs.usage or ():
        if row.count <= 0:
            continue
        day = _day(row.day).toordinal()
        age = today - day
        if age < 0:
            continue
        user, event = row.user_key, row.event
        if event in milestone_names:
            milestone_events.add(event)
        if last_seen.get(user, -1) < day:
            last_seen[user] = day
        if event == login_event and day > last_login:
            last_login = day
        if age >= 28:
            continue
        users_28.add(user)
        if event == login_event:
            logins_28 += row.count
        if event in key_features:
            key_uses_28 += row.count
            features_by_user.setdefault(user, set()).add(event)
        if age < 14:
            events_14 += row.count
            user_days_14.add((user, day))
            if age < 7:
                users_7.add(user)
        else:
            events_prev_14 += row.count
            user_days_prev_14.add((user, day))
            if age < 21:
                users_before.add(user)
    active = len(users_28)
    used = set().union(*features_by_user.values()) if features_by_user else set()
    total_features = len(settings.key_features)
    seats = inputs.seats_purchased
    return {
        "_last_seen": last_seen,
        "_milestone_events": milestone_events,
        "logins_per_user_week": logins_28 / active / 4.0 if active else 0.0,
        "days_since_last_login": float(today - last_login) if last_login >= 0 else None,
        "weekly_active_users": float(len(users_7)),
        "weekly_active_users_before": len(users_before),
        "active_users_trend": _change(len(users_7), len(users_before)),
        "events_14d": events_14,
        "events_prev_14d": events_prev_14,
        "usage_trend": _change(events_14, events_prev_14),
        "active_days_14d": len(user_days_14),
        "active_days_prev_14d": len(user_days_prev_14),
        "active_users_28d": active,
        "license_utilisation": active / seats * 100.0 if seats else None,
        "key_features_used": tuple(f for f in settings.key_features if f in used),
        "key_features_total": total_features,
        "feature_breadth": len(used) / total_features * 100.0 if total_features else None,
        "feature_depth": key_uses_28 / active / 4.0 if active else 0.0,
        "user_key_feature_counts": tuple(sorted(len(features_by_user.get(u, ())) for u in users_28)),
    }


def _ticket_signals(inputs: AccountInputs, today: int) -> dict[str, object]:
    open_count = urgent = escalated = created_7 = created_usual = created_30 = created_prev_30 = 0
    oldest_urgent = -1
    for ticket in inputs.tickets or ():
        created = _day(ticket.created_at).toordinal()
        age = today - created
        if age < 0:
            continue
        if age < 7:
            created_7 += 1
        elif USUAL_TICKETS_FROM <= age < USUAL_TICKETS_FROM + 28:
            created_usual += 1
        if age < 30:
            created_30 += 1
        elif age < 60:
            created_prev_30 += 1
        solved = ticket.solved_at is not None and _day(ticket.solved_at).toordinal() <= today
        if solved or (ticket.solved_at is None and ticket.status in CLOSED_TICKET_STATUSES):
            continue
        open_count += 1
        escalated += ticket.escalated
        if ticket.priority == "urgent":
            urgent += 1
            oldest_urgent = max(oldest_urgent, age)
    return {
        "open_tickets": float(open_count),
        "urgent_open_tickets": float(urgent),
        "escalated_open_tickets": float(escalated),
        "oldest_urgent_open_days": oldest_urgent if oldest_urgent >= 0 else None,
        "tickets_created_7d": created_7,
        "tickets_weekly_before": created_usual / 4.0,
        "tickets_created_30d": created_30,
        "tickets_created_prev_30d": created_prev_30,
        "ticket_trend": (created_30 - created_prev_30) / max(created_prev_30, 1) * 100.0,
    }


def _survey_signals(inputs: AccountInputs, today: int, settings: SignalSettings) -> dict[str, object]:
    values: dict[str, object] = {}
    good = answered = 0
    for answer in inputs.csat:
        age = today - _day(answer.day).toordinal()
        if 0 <= age < settings.csat_days:
            answered += 1
            good += answer.good
    values["csat_responses"] = answered
    if answered:
        values["csat"] = good / answered * 100.0
    promoters = detractors = responses = 0
    last_detractor: tuple[int, int] | None = None
    for nps in inputs.nps:
        day = _day(nps.day).toordinal()
        age = today - day
        if not 0 <= age < settings.nps_days:
            continue
        responses += 1
        if nps.score >= 9:
            promoters += 1
        elif nps.score <= 6:
            detractors += 1
            # Latest day wins; on one day the lowest score.
            if last_detractor is None or (day, -nps.score) > (last_detractor[0], -last_detractor[1]):
                last_detractor = (day, nps.score)
    values["nps_responses"] = responses
    if responses:
        values["nps"] = (promoters - detractors) / responses * 100.0
    if last_detractor is not None:
        values["last_detractor_day"] = dt.date.fromordinal(last_detractor[0])
        values["last_detractor_score"] = last_detractor[1]
    return values


def _contact_signals(inputs: AccountInputs, today: int, last_seen: dict[str, int]) -> dict[str, object]:
    seen = {user.casefold(): day for user, day in last_seen.items()} if last_seen else {}
    best: dict[str, tuple[int, str]] = {}
    for contact in inputs.contacts:
        if contact.role not in ("executive_sponsor", "champion"):
            continue
        day = seen.get(contact.user_key.casefold(), -1)
        if contact.last_active is not None:
            stored = _day(contact.last_active).toordinal()
            if day < stored <= today:
                day = stored
        if day < 0:
            continue
        name = contact.name or contact.user_key
        current = best.get(contact.role)
        # Most recently active person of the role; a tie goes to the first name alphabetically.
        if current is None or day > current[0] or (day == current[0] and name < current[1]):
            best[contact.role] = (day, name)
    values: dict[str, object] = {}
    for role, prefix in (("executive_sponsor", "sponsor"), ("champion", "champion")):
        if role in best:
            day, name = best[role]
            values[f"{prefix}_days_inactive"] = float(today - day)
            values[f"{prefix}_name"] = name
    return values


def _onboarding_signals(
    inputs: AccountInputs, today: int, settings: SignalSettings, from_usage: Iterable[str]
) -> dict[str, object]:
    values: dict[str, object] = {}
    started = inputs.onboarding_start is not None and _day(inputs.onboarding_start).toordinal() <= today
    if started:
        assert inputs.onboarding_start is not None
        values["days_since_onboarding_start"] = float(today - _day(inputs.onboarding_start).toordinal())
    known = set(from_usage) | set(inputs.milestones_reached)
    if not settings.milestones or not (started or known):
        return values
    reached = tuple(m for m in settings.milestones if m in known)
    missing = tuple(m for m in settings.milestones if m not in known)
    values["milestones_reached"] = reached
    values["milestones_missing"] = missing
    values["onboarding_complete"] = not missing
    values["onboarding_progress"] = len(reached) / len(settings.milestones) * 100.0
    return values
