"""The campaign engine against a real SMTP server on loopback: one e-mail per person per step with both
unsubscribe headers and a plain-text part, a one-click unsubscribe before the next step, the goal reached by
usage through ``/v1/batch``, the weekly cap, quiet hours across time zones, a branch on a click, and signed
tracking links (a tampered one is refused)."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from campaigns.manage import save_campaign_settings
from campaigns.stats import campaign_stats
from campaigns.tracking import sign
from mail.outbox import deliver
from store.models import CampaignEnrollment, CampaignStepRun, MailEvent
from tests.campaigns.conftest import (
    STEP_ONE,
    STEP_TWO,
    WRITE_KEY,
    active_campaign,
    per_address,
    run,
    smtp,
)
from tests.collector.conftest import auth
from tests.shared import WORLD_NOW, pinned_clock
from tests.smtp_server import smtp_server

T0 = WORLD_NOW + dt.timedelta(hours=4)
"""Monday 14:00 UTC: outside quiet hours in Amsterdam (15:00), New York (09:00) and UTC."""
DAY = dt.timedelta(days=1)
WAIT_2 = {"kind": "wait", "days": 2}


def enrollments(store: Any, tenant_id: int) -> dict[str, tuple[int, str | None, bool]]:
    with store.session(tenant_id) as s:
        return {e.email: (e.position, e.exit_reason, e.converted_at is not None)
                for e in s.scalars(select(CampaignEnrollment).order_by(CampaignEnrollment.id))}


def outcomes(store: Any, tenant_id: int, email: str) -> list[tuple[int, str]]:
    with store.session(tenant_id) as s:
        return [(r.position, r.outcome) for r in s.scalars(
            select(CampaignStepRun).join(CampaignEnrollment, CampaignEnrollment.id == CampaignStepRun.enrollment_id)
            .where(CampaignEnrollment.email == email).order_by(CampaignStepRun.id))]


def message_to(inbox: Any, address: str) -> Any:
    found = [m for m in inbox.messages() if m["To"] == address]
    assert len(found) >= 1, address
    return found[-1]


def parts(message: Any) -> dict[str, str]:
    return {p.get_content_type(): p.get_content() for p in message.iter_parts()}


def test_two_steps_send_one_e_mail_per_person_per_step_and_a_one_click_unsubscribe_stops_the_next(
        world: Any) -> None:
    app, store, seg = world
    t = seg.tenant_id
    campaign_id = active_campaign(store, t, [STEP_ONE, WAIT_2, STEP_TWO])
    with smtp_server() as (inbox, port):
        first = run(store, t, T0)
        assert (first.enrolled, first.sent, first.waited) == (3, 3, 3)
        again = run(store, t, T0)  # the same moment again: nothing new, nothing twice
        assert (again.enrolled, again.sent, again.waited) == (0, 0, 0)
        assert deliver(store, t, smtp(port), clock=lambda: T0).sent == 3
        # Ann is two product users (two accounts): one person, one e-mail.
        assert per_address(inbox) == {"ann@acme.test": 1, "bob@acme.test": 1, "cy@globex.test": 1}
        for message in inbox.messages():
            unsubscribe = message["List-Unsubscribe"]
            assert re.fullmatch(r"<https://canary\.alpha\.example/u/[\w-]{43}>, <mailto:success@alpha\.example"
                                r"\?subject=unsubscribe%20[\w-]{43}>", unsubscribe), unsubscribe
            assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            body = parts(message)
            assert "text/plain" in body and "Start here (https://docs.example/start?a=1&b=2)" in body["text/plain"]
            assert "/t/c/" in body["text/html"] and "/t/o/" in body["text/html"]
            assert "https://docs.example/start" not in body["text/html"]  # the HTML's link is the tracked one

        bob = message_to(inbox, "bob@acme.test")
        url = bob["List-Unsubscribe"].split(">")[0].lstrip("<")
        posted = app.test_client().post(urlsplit(url).path, data="List-Unsubscribe=One-Click",
                                        content_type="application/x-www-form-urlencoded")
        assert posted.status_code == 200

        second = run(store, t, T0 + 2 * DAY)
        assert (second.sent, second.unsubscribed) == (2, 1)
        assert run(store, t, T0 + 2 * DAY).sent == 0
        assert deliver(store, t, smtp(port), clock=lambda: T0 + 2 * DAY).sent == 2
        assert per_address(inbox) == {"ann@acme.test": 2, "bob@acme.test": 1, "cy@globex.test": 2}
    assert enrollments(store, t) == {"ann@acme.test": (4, "completed", False),
                                     "bob@acme.test": (3, "unsubscribed", False),
                                     "cy@globex.test": (4, "completed", False)}
    assert outcomes(store, t, "bob@acme.test") == [(1, "sent"), (2, "waited")]
    with store.session(t) as s:
        stats = campaign_stats(s, campaign_id, (T0 + 2 * DAY).date())
        kinds = sorted(s.scalars(select(MailEvent.kind)))
    assert kinds == ["delivered"] * 5 + ["unsubscribed"]
    assert [(st["position"], st["sent"], st["delivered"], st["unsubscribed"]) for st in stats["steps"]] == [
        (1, 3, 3, 1), (2, 0, 0, 0), (3, 2, 2, 0)]
    assert [(d["day"], d["sent"], d["delivered"], d["unsubscribed"]) for d in stats["days"]] == [
        ("2026-11-30", 3, 3, 1), ("2026-12-01", 3, 3, 1), ("2026-12-02", 5, 5, 1)]
    assert (stats["campaign"]["enrolled"], stats["campaign"]["sent"], stats["campaign"]["active"]) == (3, 5, 0)


def test_the_goal_reached_by_usage_through_v1_batch_exits_the_person_and_counts_a_conversion(world: Any) -> None:
    app, store, seg = world
    t = seg.tenant_id
    campaign_id = active_campaign(store, t, [STEP_ONE, {"kind": "wait", "days": 3}, STEP_TWO],
                                  goal={"kind": "event", "event": "dashboard_shared"}, conversion_days=7)
    with smtp_server() as (inbox, port):
        assert run(store, t, T0).sent == 3
        with pinned_clock(T0 + DAY):
            batch = {"batch": [{"type": "track", "messageId": "m-goal-1", "userId": "u-cy",
                                "event": "dashboard_shared", "timestamp": (T0 + DAY).isoformat()}]}
            answer = app.test_client().post("/v1/batch", data=json.dumps(batch),
                                            headers={**auth(WRITE_KEY), "Content-Type": "application/json"})
            assert answer.status_code == 200, answer.get_data(as_text=True)
        reached = run(store, t, T0 + DAY)
        assert (reached.goals, reached.conversions, reached.sent) == (1, 1, 0)
        later = run(store, t, T0 + 3 * DAY)
        assert later.sent == 2
        deliver(store, t, smtp(port), clock=lambda: T0 + 3 * DAY)
        assert per_address(inbox) == {"ann@acme.test": 2, "bob@acme.test": 2, "cy@globex.test": 1}
    found = enrollments(store, t)
    assert found["cy@globex.test"] == (3, "goal", True)
    with store.session(t) as s:
        stats = campaign_stats(s, campaign_id, (T0 + 3 * DAY).date())
    assert (stats["campaign"]["goal_reached"], stats["campaign"]["converted"]) == (1, 1)
    assert [d["goal_reached"] for d in stats["days"]] == [0, 1, 1, 1]


def test_the_weekly_cap_holds_a_step_to_the_next_local_week_across_campaigns(world: Any) -> None:
    _, store, seg = world
    t = seg.tenant_id
    with store.session(t) as s:
        save_campaign_settings(s, weekly_cap=1, quiet_start=0, quiet_end=0, time_zone="UTC")
    champions = {"roles": ["champion"]}  # Ann, in Amsterdam
    active_campaign(store, t, [STEP_ONE, STEP_TWO], audience=champions)
    active_campaign(store, t, [STEP_TWO], audience=champions)
    first = run(store, t, WORLD_NOW)
    assert (first.sent, first.capped) == (1, 2)
    with store.session(t) as s:
        due = sorted({e.next_at for e in s.scalars(select(CampaignEnrollment))})
    monday_amsterdam = dt.datetime(2026, 12, 6, 23, 0, tzinfo=dt.UTC)  # Mon 7 Dec 00:00 CET
    assert due == [monday_amsterdam]
    assert run(store, t, monday_amsterdam - dt.timedelta(minutes=1)).sent == 0
    second = run(store, t, monday_amsterdam)
    assert (second.sent, second.capped) == (1, 1)  # one a week: the first campaign's step 2 goes, the other waits
    assert outcomes(store, t, "ann@acme.test") == [(1, "sent"), (2, "capped"), (1, "capped"), (2, "sent"),
                                                   (1, "capped")]


def test_quiet_hours_are_the_recipients_own_or_the_workspaces(world: Any) -> None:
    _, store, seg = world
    t = seg.tenant_id
    with store.session(t) as s:  # Bob has no time zone of his own: Tokyo, where 10:00 UTC is 19:00
        save_campaign_settings(s, weekly_cap=3, quiet_start=18 * 60, quiet_end=8 * 60, time_zone="Asia/Tokyo")
    active_campaign(store, t, [STEP_ONE])
    first = run(store, t, WORLD_NOW)  # Monday 10:00 UTC: Amsterdam 11:00, New York 05:00, Tokyo 19:00
    assert (first.sent, first.quiet) == (1, 2)
    with store.session(t) as s:
        due = {e.email: e.next_at for e in s.scalars(select(CampaignEnrollment))}
    assert due == {"ann@acme.test": None, "cy@globex.test": dt.datetime(2026, 11, 30, 13, 0, tzinfo=dt.UTC),
                   "bob@acme.test": dt.datetime(2026, 11, 30, 23, 0, tzinfo=dt.UTC)}
    assert run(store, t, dt.datetime(2026, 11, 30, 12, 59, tzinfo=dt.UTC)).sent == 0
    assert run(store, t, dt.datetime(2026, 11, 30, 13, 0, tzinfo=dt.UTC)).sent == 1
    assert run(store, t, dt.datetime(2026, 11, 30, 23, 0, tzinfo=dt.UTC)).sent == 1
    assert outcomes(store, t, "bob@acme.test") == [(1, "quiet"), (1, "sent")]


def test_a_branch_on_clicked_follows_the_signed_click_and_a_tampered_link_is_refused(world: Any) -> None:
    app, store, seg = world
    t = seg.tenant_id
    steps = [STEP_ONE, {"kind": "wait", "days": 1},
             {"kind": "branch", "on": "clicked", "step": 1, "then": 4, "else": 0}, STEP_TWO]
    campaign_id = active_campaign(store, t, steps)
    client = app.test_client()
    with smtp_server() as (inbox, port):
        assert run(store, t, T0).sent == 3
        deliver(store, t, smtp(port), clock=lambda: T0)
        html = parts(message_to(inbox, "ann@acme.test"))["text/html"]
        click = re.search(r'href="https://canary\.alpha\.example(/t/c/[^"]+)"', html)
        pixel = re.search(r'src="https://canary\.alpha\.example(/t/o/[^"]+)"', html)
        assert click is not None and pixel is not None
        opened = client.get(pixel.group(1))
        assert (opened.status_code, opened.mimetype) == (200, "image/gif")
        followed = client.get(click.group(1))
        assert (followed.status_code, followed.headers["Location"]) == (302, "https://docs.example/start?a=1&b=2")

        token = click.group(1).rsplit("/", 1)[1]
        tampered = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
        assert client.get(f"/t/c/{tampered}").status_code == 404
        assert client.get(click.group(1).replace("/t/c/", "/t/o/")).status_code == 404  # a link is no pixel
        assert client.get(pixel.group(1).replace("/t/o/", "/t/c/")).status_code == 404  # nor a pixel a link
        forged = sign("not-the-app-secret", t, "campaign:1:step:1:person:1", "https://evil.example/")
        assert client.get(f"/t/c/{forged}").status_code == 404
        bad_scheme = sign(app.config["SECRET_KEY"], t, "campaign:1:step:1:person:1", "javascript:alert(1)")
        assert client.get(f"/t/c/{bad_scheme}").status_code == 404

        after = run(store, t, T0 + DAY)
        assert (after.sent, after.completed, after.branched) == (1, 3, 3)  # Ann after step 4, the others at 3
        deliver(store, t, smtp(port), clock=lambda: T0 + DAY)
        assert per_address(inbox) == {"ann@acme.test": 2, "bob@acme.test": 1, "cy@globex.test": 1}
    assert {e: (p, r) for e, (p, r, _) in enrollments(store, t).items()} == {
        "ann@acme.test": (5, "completed"), "bob@acme.test": (3, "completed"), "cy@globex.test": (3, "completed")}
    assert outcomes(store, t, "ann@acme.test") == [(1, "sent"), (2, "waited"), (3, "branched"), (4, "sent")]
    with store.session(t) as s:
        stats = campaign_stats(s, campaign_id, (T0 + DAY).date())
    assert [(st["sent"], st["opened"], st["clicked"]) for st in stats["steps"]] == [(3, 1, 1), (0, 0, 0), (0, 0, 0),
                                                                                  (1, 0, 0)]
