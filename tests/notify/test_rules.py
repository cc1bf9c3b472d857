"""`notify.rules`, pure: preferences validation, who is in scope, business hours and the digest's hour."""

from __future__ import annotations

import datetime as dt

import pytest

from notify.rules import (
    DEFAULT_RULES,
    EventFacts,
    Person,
    PreferenceError,
    Snooze,
    add_business_hours,
    digest_cutoff,
    plan,
    snooze_until,
    validate_rules,
)
from tests.shared import WORLD_NOW

UTC = dt.UTC
MANAGER, CSM, CSM2, ADMIN, GONE = (Person(1, "manager", None), Person(2, "csm", 1), Person(3, "csm", None),
                                   Person(4, "admin", None), Person(5, "csm", 1, active=False))
PEOPLE = [MANAGER, CSM, CSM2, ADMIN, GONE]


def test_defaults_fill_every_kind_and_a_given_rule_is_normalised() -> None:
    rules = validate_rules({"alert": {"scope": "team", "channels": ["slack", "bell"], "min_severity": "high"}})
    assert rules["alert"] == {"scope": "team", "channels": ["bell", "slack"], "min_severity": "high"}
    assert rules["task_assigned"] == DEFAULT_RULES["task_assigned"]
    assert DEFAULT_RULES["alert"]["channels"] == ["bell", "digest"]
    assert set(rules) == {"alert", "task_assigned", "task_overdue", "band_changed", "play_step_due", "escalation"}


@pytest.mark.parametrize(("given", "message"), [
    ({"alerts": {}}, "unknown notification kind 'alerts'"),
    ({"alert": {"scope": "everyone"}}, "alert: scope must be one of mine, team, all, not 'everyone'"),
    ({"task_overdue": {"channels": ["sms"]}}, "task_overdue: channels must be among bell, email, digest, slack"),
    ({"alert": {"min_severity": "urgent"}}, "alert: min_severity must be one of info, warning, high, critical"),
    ({"escalation": {"scope": "all"}}, "escalation: goes to the CSM's manager only"),
    ({"alert": "bell"}, "alert: a rule is an object"),
])
def test_bad_preferences_are_refused_naming_the_kind_and_field(given: dict[str, object], message: str) -> None:
    with pytest.raises(PreferenceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_rules(given)


def _who(event: EventFacts, rules: dict[int, dict[str, object]] | None = None,
         snoozes: tuple[Snooze, ...] = ()) -> list[tuple[int, str]]:
    return [(p.user_id, p.channel) for p in plan(event, PEOPLE, rules or {}, snoozes, WORLD_NOW)]


def test_scopes_mine_team_and_all() -> None:
    alert = EventFacts("alert", owner_id=CSM.id, severity="warning", alert_id=9)
    assert _who(alert) == [(2, "bell"), (2, "digest")]  # defaults: mine only
    team = {1: {"alert": {"scope": "team", "channels": ["email"]}}}
    assert _who(alert, team) == [(1, "email"), (2, "bell"), (2, "digest")]  # the manager of the CSM
    everyone = {4: {"alert": {"scope": "all", "channels": ["slack"]}}, 3: {"alert": {"scope": "team",
                                                                                    "channels": ["bell"]}}}
    assert _who(alert, everyone) == [(2, "bell"), (2, "digest"), (4, "slack")]  # CSM2 manages nobody; GONE inactive
    assert _who(EventFacts("alert", owner_id=None), everyone) == [(4, "slack")]  # an unowned account


def test_severity_floor_and_the_escalation_goes_to_its_manager_only() -> None:
    high_only = {2: {"alert": {"scope": "mine", "channels": ["bell"], "min_severity": "high"}}}
    assert _who(EventFacts("alert", CSM.id, "warning"), high_only) == []
    assert _who(EventFacts("alert", CSM.id, "critical"), high_only) == [(2, "bell")]
    everyone = {4: {"escalation": {"scope": "mine", "channels": ["bell"]}, "alert": {"scope": "all", "channels": []}}}
    assert _who(EventFacts("escalation", MANAGER.id, "warning"), everyone) == [(1, "bell"), (1, "email")]


def test_a_snooze_holds_the_deliveries_of_its_alert_or_all_of_its_user() -> None:
    later = WORLD_NOW + dt.timedelta(hours=5)
    one = Snooze(CSM.id, 9, later)
    planned = plan(EventFacts("alert", CSM.id, "info", 9), PEOPLE, {}, [one], WORLD_NOW)
    assert {p.deliver_after for p in planned} == {later}
    planned = plan(EventFacts("alert", CSM.id, "info", 10), PEOPLE, {}, [one], WORLD_NOW)
    assert {p.deliver_after for p in planned} == {WORLD_NOW}
    everything = Snooze(CSM.id, None, later)
    assert {p.deliver_after for p in plan(EventFacts("task_assigned", CSM.id), PEOPLE, {}, [everything],
                                          WORLD_NOW)} == {later}


@pytest.mark.parametrize(("start", "hours", "zone", "expected"), [
    (dt.datetime(2026, 11, 27, 16, tzinfo=UTC), 2, "UTC", dt.datetime(2026, 11, 30, 10, tzinfo=UTC)),  # Fri → Mon
    (dt.datetime(2026, 11, 28, 12, tzinfo=UTC), 1, "UTC", dt.datetime(2026, 11, 30, 10, tzinfo=UTC)),  # Sat → Mon
    (dt.datetime(2026, 11, 30, 7, tzinfo=UTC), 8, "UTC", dt.datetime(2026, 11, 30, 17, tzinfo=UTC)),  # before opening
    (dt.datetime(2026, 11, 30, 10, tzinfo=UTC), 16, "UTC", dt.datetime(2026, 12, 2, 10, tzinfo=UTC)),
    # 15:00 UTC Friday is 16:00 in Berlin: one hour left that day, three on Monday (09:00-12:00 CET = 11:00 UTC).
    (dt.datetime(2026, 11, 27, 15, tzinfo=UTC), 4, "Europe/Berlin", dt.datetime(2026, 11, 30, 11, tzinfo=UTC)),
])
def test_business_hours_skip_nights_and_weekends(start: dt.datetime, hours: float, zone: str,
                                                 expected: dt.datetime) -> None:
    assert add_business_hours(start, hours, zone, 9, 17) == expected


def test_the_digest_is_due_from_eight_local_once_a_day() -> None:
    berlin = "Europe/Berlin"
    assert digest_cutoff(dt.datetime(2026, 12, 1, 6, 59, tzinfo=UTC), berlin, None) is None
    day, cutoff = digest_cutoff(dt.datetime(2026, 12, 1, 7, 0, tzinfo=UTC), berlin, None) or (None, None)
    assert (day, cutoff) == (dt.date(2026, 12, 1), dt.datetime(2026, 12, 1, 7, 0, tzinfo=UTC))
    assert digest_cutoff(dt.datetime(2026, 12, 1, 20, tzinfo=UTC), berlin, dt.date(2026, 12, 1)) is None
    assert digest_cutoff(dt.datetime(2026, 12, 1, 12, tzinfo=UTC), "America/New_York", None) is None  # 07:00 there


def test_snooze_lengths_are_checked() -> None:
    assert snooze_until(WORLD_NOW, hours="4") == WORLD_NOW + dt.timedelta(hours=4)
    assert snooze_until(WORLD_NOW, until="2026-12-03", zone="Europe/Berlin") == dt.datetime(2026, 12, 3, 7,
                                                                                            tzinfo=UTC)
    for hours, until, message in (("0", None, "1 hour to 90 days"), ("x", None, "a number"),
                                  (None, "2026-11-29", "after today"), (None, "soon", "YYYY-MM-DD"),
                                  (None, None, "hours or a date")):
        with pytest.raises(PreferenceError, match=message):
            snooze_until(WORLD_NOW, hours=hours, until=until)
