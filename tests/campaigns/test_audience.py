"""Audiences: validated documents with clear errors, evaluated set-wise in SQL (SQLite and PostgreSQL), one
person per lower-cased e-mail, previewed with a count and the first people."""

from __future__ import annotations

from typing import Any

import pytest

from campaigns.audience import preview
from campaigns.definition import DefinitionError, parse_audience, parse_goal, parse_steps
from tests.campaigns.conftest import seed_segment
from tests.shared import WORLD_NOW


@pytest.fixture
def segment(store: Any) -> Any:
    from store.tenants import create_tenant

    with store.session() as s:
        tenant, _ = create_tenant(s, "alpha", "Alpha")
    return store, seed_segment(store, tenant.id)


def emails(store: Any, tenant_id: int, audience: dict[str, Any]) -> tuple[int, list[str]]:
    with store.session(tenant_id) as s:
        found = preview(s, audience, WORLD_NOW)
    return found.count, [p.email for p in found.people]


def test_each_condition_selects_its_people_and_one_address_is_one_person(segment: Any) -> None:
    store, seg = segment
    t = seg.tenant_id
    # ann@acme.test is two product users (two accounts, two keys, two cases): one person, her first user.
    assert emails(store, t, {}) == (3, ["ann@acme.test", "bob@acme.test", "cy@globex.test"])
    with store.session(t) as s:
        ann = preview(s, {"roles": ["champion"]}, WORLD_NOW).people
    assert [(p.user_key, p.account_id, p.time_zone) for p in ann] == [("u-ann", seg.acme, "Europe/Amsterdam")]
    assert emails(store, t, {"title_contains": "vp"}) == (1, ["ann@acme.test"])
    assert emails(store, t, {"active_within_days": 7}) == (2, ["ann@acme.test", "cy@globex.test"])
    assert emails(store, t, {"inactive_days": 30}) == (1, ["bob@acme.test"])
    assert emails(store, t, {"used": ["report_created"]}) == (1, ["ann@acme.test"])
    assert emails(store, t, {"used": ["report_created"], "usage_window_days": 2}) == (0, [])
    # Features and inactivity are the person's: Ann's Globex user never made a report, but Ann did.
    assert emails(store, t, {"not_used": ["report_created"]}) == (2, ["bob@acme.test", "cy@globex.test"])
    assert emails(store, t, {"tiers": ["starter"]}) == (2, ["ann@acme.test", "cy@globex.test"])
    assert emails(store, t, {"joined_within_days": 30}) == (1, ["cy@globex.test"])
    assert emails(store, t, {"lists": [seg.starters]}) == (2, ["ann@acme.test", "cy@globex.test"])
    assert emails(store, t, {"lists": [seg.starters], "active_within_days": 2, "tiers": ["starter"]}) == (
        1, ["cy@globex.test"])


@pytest.mark.parametrize(("doc", "message"), [
    ("everyone", "audience: must be an object"),
    ({"plan": "gold"}, "unknown condition(s) plan"),
    ({"roles": ["boss"]}, "roles must be a list of executive_sponsor"),
    ({"active_within_days": 0}, "active_within_days must be a whole number of days from 1 to 3650, not 0"),
    ({"inactive_days": "30"}, "inactive_days must be a whole number"),
    ({"active_within_days": 7, "inactive_days": 30}, "exclude each other"),
    ({"used": ["export"], "not_used": ["export"]}, "export cannot be both used and not used"),
    ({"used": "export"}, "used must be a list of event names"),
    ({"used": [""]}, "an event name is 1 to 200 characters"),
    ({"lists": [0]}, "a list id is a positive whole number"),
    ({"tiers": [3]}, "tiers must be a list of plan tier names"),
])
def test_a_bad_audience_is_refused_naming_the_condition(doc: Any, message: str) -> None:
    with pytest.raises(DefinitionError) as err:
        parse_audience(doc)
    assert message in str(err.value)


def test_bad_steps_and_goals_are_refused_naming_the_step() -> None:
    cases = [
        ([], "at least one step"),
        ([{"kind": "fax"}], "step 1: kind must be one of"),
        ([{"kind": "send_email", "subject": "Hi"}], "step 1: html must be text"),
        ([{"kind": "send_email", "subject": "Hi {{ user.name ", "html": "<p>x</p>"}], "step 1:"),
        ([{"kind": "wait"}], "step 1: a wait needs days"),
        ([{"kind": "wait", "days": 1}, {"kind": "branch", "on": "opened", "step": 1, "then": 0, "else": 0}],
         "step 2: step must be the position of an earlier send_email step"),
        ([{"kind": "branch", "on": "list", "list_id": 3, "then": 1, "else": 0}],
         "step 1: then must be a later step's position"),
        ([{"kind": "send_in_app", "title": "t", "body": "b", "cta_url": "javascript:alert(1)"}],
         "step 1: cta_url must be an http(s) URL"),
    ]
    for steps, message in cases:
        with pytest.raises(DefinitionError) as err:
            parse_steps(steps)
        assert message in str(err.value), steps
    with pytest.raises(DefinitionError, match="goal: kind must be one of event"):
        parse_goal({"kind": "revenue"})
    with pytest.raises(DefinitionError, match=r"goal: field must be one of account\.tier"):
        parse_goal({"kind": "field", "field": "account.password", "value": "x"})
    assert parse_goal({"kind": "event", "event": " report_created "}).as_dict() == {
        "kind": "event", "event": "report_created"}
