"""Who hears of what, where and when — pure: no I/O, no clock (callers pass ``now``).

* `validate_rules`: a user's preferences, per kind a scope and channels (defaults filled in, bad input a
  `PreferenceError` naming the kind and field).
* `plan`: one event + the workspace's people + their rules + who owns the account + snoozes → deliveries.
* `add_business_hours`: when an unacknowledged alert escalates (Mon–Fri, the workspace's hours and zone).
* `digest_cutoff`: whether a user's daily digest is due (08:00 in their zone) and what it covers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

KINDS = ("alert", "task_assigned", "task_overdue", "band_changed", "play_step_due", "escalation")
KIND_LABELS = {"alert": "New alert", "task_assigned": "Task assigned to me", "task_overdue": "Task overdue",
               "band_changed": "Account changed band", "play_step_due": "Play step due",
               "escalation": "Alert escalated to me (as manager)"}
SCOPES = ("mine", "team", "all")
SCOPE_LABELS = {"mine": "My accounts", "team": "My team", "all": "All accounts"}
CHANNELS = ("bell", "email", "digest", "slack")
CHANNEL_LABELS = {"bell": "In-app bell", "email": "E-mail now", "digest": "Daily digest", "slack": "Slack"}
SEVERITIES = ("info", "warning", "high", "critical")
"""Alert severities, lowest first: an alert rule's ``min_severity`` lets through that one and above."""
DIGEST_HOUR = 8
MAX_SNOOZE = dt.timedelta(days=90)

DEFAULT_RULES: dict[str, dict[str, Any]] = {
    "alert": {"scope": "mine", "channels": ["bell", "digest"], "min_severity": "info"},
    "task_assigned": {"scope": "mine", "channels": ["bell", "email"]},
    "task_overdue": {"scope": "mine", "channels": ["bell", "digest"]},
    "band_changed": {"scope": "mine", "channels": ["digest"]},
    "play_step_due": {"scope": "mine", "channels": ["bell"]},
    "escalation": {"scope": "mine", "channels": ["bell", "email"]},
}
"""Alerts on my accounts → bell and digest; what needs doing now (a task given to me, an escalation) → bell
and e-mail; the rest → bell or digest. Nobody gets Slack until they choose it."""


class PreferenceError(ValueError):
    """A preference that cannot be saved, in words naming the kind and the field."""


def check_zone(name: str) -> str:
    """An IANA time-zone name (``Europe/Berlin``), or `PreferenceError`."""
    name = (name or "").strip()
    if not name or len(name) > 64:
        raise PreferenceError("time zone must be an IANA name like Europe/Berlin or UTC")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PreferenceError(f"time zone {name!r} is unknown: use an IANA name like Europe/Berlin or UTC") from None
    return name


def validate_rules(given: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The full rule set: each kind given is checked, each kind not given keeps its default."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(KINDS))
    if unknown:
        raise PreferenceError(f"unknown notification kind {unknown[0]!r}: use one of {', '.join(KINDS)}")
    out: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        rule = given.get(kind)
        if rule is None:
            out[kind] = {**DEFAULT_RULES[kind], "channels": list(DEFAULT_RULES[kind]["channels"])}
            continue
        if not isinstance(rule, Mapping):
            raise PreferenceError(f"{kind}: a rule is an object with scope and channels")
        scope = rule.get("scope", DEFAULT_RULES[kind]["scope"])
        if scope not in SCOPES:
            raise PreferenceError(f"{kind}: scope must be one of {', '.join(SCOPES)}, not {scope!r}")
        if kind == "escalation" and scope != "mine":
            raise PreferenceError("escalation: goes to the CSM's manager only, so its scope is mine")
        channels = rule.get("channels", DEFAULT_RULES[kind]["channels"])
        if not isinstance(channels, list | tuple) or any(c not in CHANNELS for c in channels):
            raise PreferenceError(f"{kind}: channels must be among {', '.join(CHANNELS)}, not {channels!r}")
        checked: dict[str, Any] = {"scope": scope, "channels": [c for c in CHANNELS if c in channels]}
        if kind == "alert":
            severity = rule.get("min_severity", "info")
            if severity not in SEVERITIES:
                raise PreferenceError(f"alert: min_severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
            checked["min_severity"] = severity
        out[kind] = checked
    return out


@dataclass(frozen=True)
class Person:
    id: int
    role: str
    manager_id: int | None
    active: bool = True


@dataclass(frozen=True)
class EventFacts:
    """What `plan` needs of an event: its kind, severity, the user it concerns (the account's CSM, a task's
    assignee, an escalation's manager) and the alert it is about (for alert snoozes)."""

    kind: str
    owner_id: int | None
    severity: str | None = None
    alert_id: int | None = None


@dataclass(frozen=True)
class Snooze:
    user_id: int
    alert_id: int | None
    """None: everything of the user."""
    until: dt.datetime


@dataclass(frozen=True)
class Planned:
    user_id: int
    channel: str
    deliver_after: dt.datetime


def _severity_ok(event: EventFacts, rule: Mapping[str, Any]) -> bool:
    if event.kind != "alert":
        return True
    have = SEVERITIES.index(event.severity) if event.severity in SEVERITIES else len(SEVERITIES) - 1
    return have >= SEVERITIES.index(rule.get("min_severity", "info"))


def in_scope(person: Person, scope: str, owner: Person | None) -> bool:
    """mine: the event concerns me; team: me or someone reporting to me; all: any event of the workspace."""
    if scope == "all":
        return True
    if owner is None:
        return False
    if owner.id == person.id:
        return True
    return scope == "team" and owner.manager_id == person.id


def plan(event: EventFacts, people: Sequence[Person], rules: Mapping[int, Mapping[str, Any]],
         snoozes: Iterable[Snooze], now: dt.datetime, *, slack_ready: bool = True) -> list[Planned]:
    """The deliveries one event makes: for every active person (in the order given) whose rule for the kind
    takes it in scope, one per chosen channel, held until their snooze ends. An escalation goes to its manager
    alone. ``rules``: user id → kind → rule, as `validate_rules` stores them; a kind missing keeps its default."""
    owner = next((p for p in people if p.id == event.owner_id), None) if event.owner_id is not None else None
    held: dict[int, dt.datetime] = {}
    for snooze in snoozes:
        if snooze.until > now and (snooze.alert_id is None or snooze.alert_id == event.alert_id):
            held[snooze.user_id] = max(held.get(snooze.user_id, now), snooze.until)
    out: list[Planned] = []
    for person in people:
        if not person.active:
            continue
        rule = (rules.get(person.id) or {}).get(event.kind) or DEFAULT_RULES[event.kind]
        scope = "mine" if event.kind == "escalation" else rule["scope"]
        if not in_scope(person, scope, owner) or not _severity_ok(event, rule):
            continue
        after = held.get(person.id, now)
        out += [Planned(person.id, channel, after) for channel in CHANNELS
                if channel in rule["channels"] and (channel != "slack" or slack_ready)]
    return out


def rules_for(stored: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """A user's stored rules completed with the defaults (stored rules were validated when saved)."""
    out = {kind: dict(rule) for kind, rule in DEFAULT_RULES.items()}
    out.update({k: dict(v) for k, v in (stored or {}).items() if k in KINDS and isinstance(v, Mapping)})
    return out


def add_business_hours(start: dt.datetime, hours: float, zone: str, day_start: int = 9, day_end: int = 17
                       ) -> dt.datetime:
    """The instant ``hours`` business hours after ``start`` (UTC-aware), counting only Monday to Friday
    between ``day_start`` and ``day_end`` o'clock in ``zone``. A start outside hours counts from the next
    opening; Friday 16:00 + 2 h (9–17) is Monday 10:00."""
    if not 0 <= day_start < day_end <= 24:
        raise ValueError("business hours must run from an earlier to a later hour of one day (0-24)")
    tz = ZoneInfo(zone)
    left = dt.timedelta(hours=hours)
    local = start.astimezone(tz)
    day = local.date()
    for _ in range(3700):  # ten years of days: more than any setting allows
        if day.weekday() < 5:
            opens = dt.datetime.combine(day, dt.time(), tz) + dt.timedelta(hours=day_start)
            closes = dt.datetime.combine(day, dt.time(), tz) + dt.timedelta(hours=day_end)
            begin = max(opens, local)
            if begin < closes:
                if begin + left <= closes:
                    return (begin + left).astimezone(dt.UTC)
                left -= closes - begin
        day += dt.timedelta(days=1)
        local = dt.datetime.combine(day, dt.time(), tz)
    raise ValueError(f"{hours} business hours is too long")


def digest_cutoff(now: dt.datetime, zone: str, last_digest_on: dt.date | None) -> tuple[dt.date, dt.datetime] | None:
    """(local day, cutoff) when a digest is due — it is 08:00 or later in ``zone`` and today's has not been
    made — else None. The digest covers what was waiting before the cutoff (08:00 local, in UTC)."""
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    if local.hour < DIGEST_HOUR or (last_digest_on is not None and last_digest_on >= local.date()):
        return None
    cutoff = dt.datetime.combine(local.date(), dt.time(DIGEST_HOUR), tz).astimezone(dt.UTC)
    return local.date(), cutoff


def snooze_until(now: dt.datetime, *, hours: str | None = None, until: str | None = None, zone: str = "UTC"
                 ) -> dt.datetime:
    """When a snooze ends: ``hours`` from now (1–2160), or ``until`` a date (YYYY-MM-DD, 08:00 in ``zone``)."""
    if hours:
        try:
            value = float(hours)
        except ValueError:
            raise PreferenceError("snooze hours must be a number") from None
        if not 0 < value <= MAX_SNOOZE.total_seconds() / 3600:
            raise PreferenceError("snooze for 1 hour to 90 days")
        return now + dt.timedelta(hours=value)
    if until:
        try:
            day = dt.date.fromisoformat(until)
        except ValueError:
            raise PreferenceError("snooze until a date written YYYY-MM-DD") from None
        end = dt.datetime.combine(day, dt.time(DIGEST_HOUR), ZoneInfo(zone)).astimezone(dt.UTC)
        if not now < end <= now + MAX_SNOOZE:
            raise PreferenceError("snooze until a date after today and at most 90 days ahead")
        return end
    raise PreferenceError("snooze needs a number of hours or a date")
