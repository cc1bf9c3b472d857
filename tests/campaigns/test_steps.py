"""The other steps and states: in-app messages through the adapter (or pending without the package), tasks,
a branch on list membership, paused and finished campaigns, the job and `canary campaigns run|list`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from campaigns.manage import set_status
from campaigns.runner import run_due
from store.models import Campaign, CampaignEnrollment, CampaignStepRun, OutboxMessage, Task
from tests.campaigns.conftest import MAIL, SENDER, STEP_ONE, active_campaign, per_address, run
from tests.shared import WORLD_NOW, pinned_clock
from tests.smtp_server import smtp_server

T0 = WORLD_NOW + dt.timedelta(hours=4)
IN_APP = {"kind": "send_in_app", "title": "New reports", "body": "Try the report builder.", "cta_label": "Open",
          "cta_url": "https://app.example/reports", "in_app_kind": "modal"}


def test_in_app_steps_go_through_the_adapter_or_wait_as_pending_with_a_log(world: Any, caplog: Any) -> None:
    _, store, seg = world
    t = seg.tenant_id
    active_campaign(store, t, [IN_APP], audience={"roles": ["champion"]})
    calls: list[dict[str, Any]] = []

    def queue_message(session: Any, **kwargs: Any) -> int:
        calls.append(kwargs)
        return 77

    queued = run_due(store, t, T0, mail=MAIL, queue_message=queue_message)
    assert (queued.in_app, queued.in_app_pending) == (1, 0)
    assert calls == [{"tenant_id": t, "user_key": "u-ann", "account_id": seg.acme, "title": "New reports",
                      "body": "Try the report builder.", "cta_label": "Open", "cta_url": "https://app.example/reports",
                      "kind": "modal", "ref": calls[0]["ref"]}]
    assert calls[0]["ref"].startswith("campaign:") and calls[0]["ref"].endswith(":step:1:person:1")

    active_campaign(store, t, [IN_APP], audience={"roles": ["user"]})
    with caplog.at_level("INFO", logger="canary.campaigns"):
        pending = run_due(store, t, T0, mail=MAIL, queue_message=None)
    assert (pending.in_app, pending.in_app_pending) == (0, 1)
    assert "left pending (the in-app package is not installed)" in caplog.text
    with store.session(t) as s:
        assert sorted((r.outcome, r.detail) for r in s.scalars(select(CampaignStepRun))) == [
            ("pending", "the in-app package is not installed"), ("queued", "in-app message 77")]


def test_a_branch_on_list_membership_and_a_task_for_the_account(world: Any) -> None:
    _, store, seg = world
    t = seg.tenant_id
    steps = [{"kind": "branch", "on": "list", "list_id": seg.starters, "then": 2, "else": 0},
             {"kind": "create_task", "title": "Call about the starter plan", "due_days": 2}]
    active_campaign(store, t, steps)
    summary = run(store, t, T0)
    assert (summary.branched, summary.tasks, summary.completed) == (3, 1, 3)
    with store.session(t) as s:
        tasks = sorted((task.account_id, task.title, task.due_date, task.source) for task in s.scalars(select(Task)))
    # Ann is enrolled with her first product user, at Acme (not in the list), as is Bob; Cy is at Globex.
    assert tasks == [(seg.globex, "Call about the starter plan", dt.date(2026, 12, 2), "play")]


def test_paused_campaigns_wait_and_finished_ones_exit_everyone(world: Any) -> None:
    _, store, seg = world
    t = seg.tenant_id
    campaign_id = active_campaign(store, t, [STEP_ONE, {"kind": "wait", "days": 1}, STEP_ONE])
    assert run(store, t, T0).sent == 3
    with store.session(t) as s:
        set_status(s.get(Campaign, campaign_id), "paused", T0)
    assert run(store, t, T0 + dt.timedelta(days=1)).as_dict() == run(store, t, T0 + dt.timedelta(days=9)).as_dict()
    assert run(store, t, T0 + dt.timedelta(days=1)).sent == 0
    with store.session(t) as s:
        set_status(s.get(Campaign, campaign_id), "finished", T0)
    assert run(store, t, T0 + dt.timedelta(days=2)).finished == 3
    with store.session(t) as s:
        assert sorted(e.exit_reason for e in s.scalars(select(CampaignEnrollment))) == ["finished"] * 3
        assert s.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key.like("%:step:3:%"))) is None


def test_the_cli_runs_the_campaigns_and_sends_then_lists_them(world: Any, app_factory: Any) -> None:
    from app import cli

    _, store, seg = world
    active_campaign(store, seg.tenant_id, [STEP_ONE])
    with pinned_clock(), smtp_server() as (inbox, port):  # Monday 10:00 UTC: 05:00 in Cy's New York
        app = app_factory(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_FROM=SENDER,
                          PUBLIC_URL="https://canary.alpha.example")
        runner = app.test_cli_runner()
        ran = runner.invoke(cli, ["campaigns", "run", "--tenant", "alpha"])
        assert ran.exit_code == 0, ran.output
        assert ran.output.splitlines() == ["enrolled 3, sent 2, quiet 1, completed 2",
                                           "mail: sent 2, retried 0, failed 0, dead 0, suppressed 0, requeued 0, "
                                           "unknown 0"]
        listed = runner.invoke(cli, ["campaigns", "list", "--tenant", "alpha"])
    assert per_address(inbox) == {"ann@acme.test": 1, "bob@acme.test": 1}
    assert listed.output == "   1  active   Onboarding  — enrolled 3, sent 2, opened 0, clicked 0, converted 0\n"


def test_the_collector_keeps_a_users_time_zone_from_context_timezone_and_ignores_a_bad_one(world: Any) -> None:
    import json

    from store.models import ProductUser
    from tests.campaigns.conftest import WRITE_KEY
    from tests.collector.conftest import auth

    app, store, seg = world
    client = app.test_client()

    def post(*messages: dict[str, Any]) -> None:
        answer = client.post("/v1/batch", data=json.dumps({"batch": list(messages)}),
                             headers={**auth(WRITE_KEY), "Content-Type": "application/json"})
        assert answer.status_code == 200 and answer.get_json().get("rejected", []) == [], answer.get_data(as_text=True)

    post({"type": "track", "messageId": "tz-1", "userId": "u-bob", "event": "login",
          "context": {"timezone": "America/Chicago"}},
         {"type": "identify", "messageId": "tz-2", "userId": "u-new", "traits": {"email": "new@acme.test"},
          "context": {"timezone": "../../etc/passwd", "groupId": "g-acme"}})
    post({"type": "track", "messageId": "tz-3", "userId": "u-bob", "event": "login",
          "context": {"timezone": "Nowhere/Town"}})
    with store.session(seg.tenant_id) as s:
        zones = {u.user_key: u.time_zone for u in s.scalars(select(ProductUser).where(
            ProductUser.user_key.in_(["u-bob", "u-new", "u-cy"])))}
    assert zones == {"u-bob": "America/Chicago", "u-new": None, "u-cy": "America/New_York"}


def test_the_chunks_template_variables_are_those_of_variables_for_one_by_one(world: Any) -> None:
    from mail.context import variables_for, variables_for_many
    from store.models import HealthSnapshot

    _, store, seg = world
    t = seg.tenant_id
    with store.session(t) as s:
        s.add_all([HealthSnapshot(account_id=seg.acme, day=WORLD_NOW.date() - dt.timedelta(days=1), score=40.4,
                                  band="poor", reasons=[{"text": "old"}], trend=-1.0),
                   HealthSnapshot(account_id=seg.acme, day=WORLD_NOW.date(), score=61.6, band="average",
                                  reasons=[{"text": "Logins fell"}, "not a reason"], trend=0.5)])
    people = [(seg.acme, "ann@acme.test"), (seg.globex, "Ann@Acme.test"), (seg.acme, "bob@acme.test"),
              (seg.globex, "cy@globex.test"), (None, "nobody@acme.test")]
    with store.session(t) as s:
        many = variables_for_many(s, t, people)
        one = {(a, e.lower()): variables_for(s, a, e) for a, e in people}
    assert many == one
    assert many[(seg.acme, "ann@acme.test")]["health"] == {"score": 62, "band": "average", "trend": 0.5,
                                                           "day": WORLD_NOW.date(), "reasons": ["Logins fell"]}
    assert many[(seg.globex, "cy@globex.test")]["user"] == {"email": "cy@globex.test", "name": "Cy", "title": None,
                                                            "role": None}
