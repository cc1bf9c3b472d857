"""When a play fires (pure): a trigger over plain inputs gives `Firing`s as of a day.

A firing is (account, reason, episode): the reason is what "the same reason" means for one running copy
per play and account (`plays.definition.Trigger.reason`); the episode tells its occurrences apart — the
day the account entered the list, the alert, the renewal date — so each is handled once (started, or
skipped because a run for the reason is still going). `still_holds` says whether a running run's trigger
still holds (for ``auto_close``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from plays.definition import DATE_FIELDS, Trigger
from worklists import AccountFacts, anniversaries


@dataclass(frozen=True, slots=True)
class Membership:
    entered_on: dt.date
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Departure:
    day: dt.date
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RaisedAlert:
    alert_id: int
    raised_on: dt.date
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Firing:
    account_id: int
    reason: str
    episode: str
    reasons: tuple[str, ...]
    anchor: dt.date | None = None
    """The date a date or anniversary trigger counts from (the renewal date...)."""


@dataclass(frozen=True)
class TriggerInputs:
    list_name: str = ""
    members: Mapping[int, Membership] = field(default_factory=dict)
    """The trigger's list now: account → since when and why."""
    departures: Mapping[int, Departure] = field(default_factory=dict)
    """Accounts out of the trigger's list now → their last exit."""
    alerts: Mapping[int, RaisedAlert] = field(default_factory=dict)
    """Accounts with the trigger's alert rule open → the latest such alert."""
    facts: Mapping[int, AccountFacts] = field(default_factory=dict)


def _date_of(facts: AccountFacts, path: str) -> dt.date | None:
    if path == "subscription.renewal_date":
        return facts.renewal_date
    if path == "subscription.start_date":
        return facts.start_date
    return facts.onboarding_start


def _days(n: int) -> str:
    return f"{abs(n)} day{'s' if abs(n) != 1 else ''}"


def firings(trigger: Trigger, inputs: TriggerInputs, as_of: dt.date, since: dt.date | None = None) -> list[Firing]:
    """What fires as of `as_of`. `since`: list and alert triggers count only entries/alerts from that day
    (the play's first publication, when it does not include accounts already in); None counts all."""
    reason = trigger.reason
    out: list[Firing] = []
    if trigger.type == "list_entered":
        for account_id, m in inputs.members.items():
            if since is None or m.entered_on >= since:
                why = (f"Entered list “{inputs.list_name}” on {m.entered_on}", *m.reasons)
                out.append(Firing(account_id, reason, m.entered_on.isoformat(), why))
    elif trigger.type == "list_left":
        for account_id, d in inputs.departures.items():
            if since is None or d.day >= since:
                why = (f"Left list “{inputs.list_name}” on {d.day}", *(f"was in for: {r}" for r in d.reasons))
                out.append(Firing(account_id, reason, d.day.isoformat(), why))
    elif trigger.type == "alert":
        for account_id, a in inputs.alerts.items():
            if since is None or a.raised_on >= since:
                out.append(Firing(account_id, reason, f"alert-{a.alert_id}", a.reasons or (f"Alert {trigger.rule}",)))
    elif trigger.type == "date":
        path = trigger.field or ""
        for account_id, facts in inputs.facts.items():
            anchor = _date_of(facts, path)
            if anchor is None:
                continue
            fires_on = anchor + dt.timedelta(days=trigger.offset_days)
            if fires_on <= as_of < fires_on + dt.timedelta(days=trigger.window_days):
                away = (anchor - as_of).days
                when = f"in {_days(away)}" if away > 0 else "today" if away == 0 else f"{_days(away)} ago"
                why = (f"{DATE_FIELDS[path].capitalize()} {anchor} ({when})",)
                out.append(Firing(account_id, reason, anchor.isoformat(), why, anchor))
    elif trigger.type == "anniversary":
        first = as_of - dt.timedelta(days=trigger.offset_days + trigger.window_days - 1)
        last = as_of - dt.timedelta(days=trigger.offset_days)
        for account_id, facts in inputs.facts.items():
            if facts.start_date is None:
                continue
            for months, day in anniversaries(facts.start_date, trigger.months, trigger.every_year, first, last):
                why = (f"{months}-month subscription anniversary on {day} (subscription started {facts.start_date})",)
                out.append(Firing(account_id, reason, f"{months}m-{day.isoformat()}", why, day))
    out.sort(key=lambda f: (f.account_id, f.episode))
    return out


def still_holds(trigger: Trigger, account_id: int, episode: str, inputs: TriggerInputs) -> tuple[bool, str]:
    """(whether a run's trigger still holds, why not) — for ``auto_close``. Triggers that cannot clear hold."""
    if trigger.type == "list_entered":
        m = inputs.members.get(account_id)
        if m is None or m.entered_on.isoformat() != episode:
            d = inputs.departures.get(account_id)
            return False, f"left list “{inputs.list_name}”" + (f" on {d.day}" if d else "")
    elif trigger.type == "list_left":
        if account_id in inputs.members:
            return False, f"is back in list “{inputs.list_name}” since {inputs.members[account_id].entered_on}"
    elif trigger.type == "alert":
        a = inputs.alerts.get(account_id)
        if a is None or f"alert-{a.alert_id}" != episode:
            return False, f"the {trigger.rule} alert resolved"
    return True, ""
