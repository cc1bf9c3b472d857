"""The play format: templates load and round-trip, and every mistake is named by its field path."""

from __future__ import annotations

from typing import Any

import pytest

from plays import PLACEHOLDERS, PlayError, dump_text, load_definition, render, template, templates
from plays.definition import webhook_url_problem

BASE: dict[str, Any] = {"name": "P", "trigger": {"type": "alert", "rule": "usage_drop"},
                        "steps": [{"type": "task", "subject": "Call {account}"}]}


def errors(document: dict[str, Any] | str) -> list[str]:
    with pytest.raises(PlayError) as caught:
        load_definition(document)
    return caught.value.errors


def test_nine_templates_from_the_seeds_load_and_round_trip_through_the_editor_text() -> None:
    keys = [t.key for t in templates()]
    assert keys == ["onboarding-stalled", "thirty-day-check-in", "business-review", "champion-quiet",
                    "usage-drop-get-well", "training-needed", "upsell-ready", "renewal-120", "nps-detractor"]
    for t in templates():
        again = load_definition(dump_text(t))
        assert again == load_definition({**t.as_dict(), "key": None}), t.key
        assert load_definition(t.as_dict()) == t
        assert t.task_steps >= 1
    assert template("renewal-120").trigger.offset_days == -120
    with pytest.raises(KeyError, match="no play template 'nope'"):
        template("nope")


def test_every_problem_is_named_by_its_path() -> None:
    found = errors({"name": "", "trigger": {"type": "alert", "rule": "usage_dropp", "list": "x"},
                    "auto_close": "maybe",
                    "steps": [{"type": "wait", "until": "task_done"},
                              {"type": "task"},
                              {"type": "email", "to": "nobody", "subject": "Hi {acount}", "body": "x"},
                              {"type": "webhook", "url": "http://example.com/hook"},
                              {"type": "set_field", "field": "account.name", "value": "x"},
                              {"type": "wait", "days": 3, "until": "task_done"},
                              {"type": "teleport"}]})
    assert "name: Length must be between 1 and 120." in found
    assert any(e.startswith("trigger.rule: unknown alert rule 'usage_dropp'") for e in found)
    assert "trigger.list: not used by an alert trigger" in found
    assert "auto_close: Not a valid boolean." in found
    assert "steps.1.subject: required for a task step" in found
    assert "steps.0.until: waits for the previous task, but no task step comes before it" in found
    assert "steps.2.to: must be owner, assignee, owner_manager or an e-mail address" in found
    assert any(e.startswith("steps.2.subject: unknown placeholder {acount}") for e in found)
    assert "steps.3.url: must be an https:// URL (http:// only to localhost)" in found
    assert "steps.4.field: must be one of account.lifecycle_stage, account.tier" in found
    assert "steps.5.days: a wait step names either days or until: task_done" in found
    assert any(e.startswith("steps.6.type: Must be one of") for e in found)


def test_rules_across_fields() -> None:
    assert errors({**BASE, "trigger": {"type": "date", "field": "subscription.renewal_date", "offset_days": -90},
                   "auto_close": True}) == [
        "auto_close: a date trigger never clears; auto_close applies to list_entered, list_left, alert"]
    assert errors({**BASE, "steps": [{"type": "wait", "until": "task_done"}, *BASE["steps"]]}) == [
        "steps.0.until: waits for the previous task, but no task step comes before it"]
    assert errors({**BASE, "trigger": {"type": "list_entered"}}) == [
        "trigger.list: required for a list_entered trigger"]
    assert errors({**BASE, "steps": [{"type": "task", "subject": "x", "assign": {"to": "role"}}]}) == [
        "steps.0.assign.role: required when assigning to a role: crm_owner, support_owner, owner_manager"]
    assert errors({**BASE, "steps": [{"type": "task", "subject": "x", "assign": {"team": "sales"}}]}) == [
        "steps.0.assign.team: must be one of owner_team, all_csms or manager:<e-mail>"]
    assert errors({**BASE, "steps": [{"type": "task", "subject": "{account!r}"}]}) == [
        "steps.0.subject: {account} is not a placeholder; write {{ and }} for literal braces"]
    assert errors("name: [unclosed")[0].startswith("(document): not valid YAML or JSON")
    assert errors({**BASE, "steps": []}) == ["steps: Length must be between 1 and 20."]


def test_texts_fill_their_placeholders_and_literal_braces_stay() -> None:
    definition = load_definition({**BASE, "steps": [{"type": "task", "subject": "{account}: {{json}} {play}"}]})
    text = render(definition.steps[0].subject, {"account": "Acme", "play": "P"})
    assert text == "Acme: {json} P"
    assert set(PLACEHOLDERS) == {"account", "reasons", "play", "owner", "renewal_date", "trigger_day"}


def test_webhook_urls() -> None:
    assert webhook_url_problem("https://hooks.example.com/x") is None
    assert webhook_url_problem("http://127.0.0.1:8080/x") is None
    assert webhook_url_problem("ftp://example.com") is not None
    assert webhook_url_problem("https://") is not None
