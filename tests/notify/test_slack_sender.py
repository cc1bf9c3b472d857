"""The Slack sender against a local receiver: 429 ``Retry-After`` honoured (waited out through an injected
sleeper, or left to a later round — counted, never lost), one message a second per channel, clear errors for a
bad token or channel with no secret in them or in the logs, and the incoming-webhook door."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import pytest
from sqlalchemy import select

from notify.service import MailContext, SlackPolicy, run_round, send_slack
from notify.settings import slack_target
from store.models import NotifyDelivery
from tests.notify.conftest import (
    BOT_TOKEN,
    PUBLIC_URL,
    SENDER,
    FakeTime,
    World,
    cipher,
    raise_alert,
    set_prefs,
    set_workspace,
)
from tests.notify.slack_receiver import Receiver, slack_receiver
from tests.shared import WORLD_NOW


def _setup(w: World, slack: Receiver, mode: str = "bot") -> Any:
    secret = BOT_TOKEN if mode == "bot" else f"{slack.url}/services/T1/B2/hooksecret"
    set_workspace(w, {"slack_mode": mode, "slack_secret": secret, "slack_channel": "#cs-alerts"})
    set_prefs(w, "csm", rules=json.dumps({"alert": {"scope": "mine", "channels": ["slack"]}}))
    with w.store.session(w.alpha) as s:
        return slack_target(s, cipher(), {"SLACK_API_URL": slack.url})


def _plan_only(w: World, at: dt.datetime) -> None:
    """Collect and fan out without sending (slack=None keeps Slack deliveries pending for `send_slack`)."""
    run_round(w.store, w.alpha, at, mail=MailContext(SENDER, PUBLIC_URL), slack=None)


def _deliveries(w: World) -> list[NotifyDelivery]:
    with w.store.session(w.alpha) as s:
        rows = list(s.scalars(select(NotifyDelivery).where(NotifyDelivery.channel == "slack")
                              .order_by(NotifyDelivery.id)))
        s.expunge_all()
    return rows


def test_a_429_with_a_short_retry_after_is_waited_out_and_counted(world: World) -> None:
    with slack_receiver() as slack:
        target = _setup(world, slack)
        raise_alert(world, "acme", WORLD_NOW)
        _plan_only(world, WORLD_NOW)
        slack.reply(429, '{"ok": false, "error": "ratelimited"}', Retry_After="7")
        fake = FakeTime()
        summary = send_slack(world.store, world.alpha, target, public_url=PUBLIC_URL, clock=fake.clock,
                             sleeper=fake.sleep)
    assert len(slack.requests) == 2  # the refused one, then the same message after the wait
    assert slack.requests[0].body == slack.requests[1].body
    assert fake.sleeps == [7.0]
    assert summary.as_dict() == {"sent": 1, "rate_limited": 1, "deferred": 0, "failed": 0, "unknown": 0,
                                 "waited": 7.0}
    (row,) = _deliveries(world)
    assert (row.state, row.attempts, row.sent_at) == ("sent", 2, WORLD_NOW + dt.timedelta(seconds=7))


def test_a_long_retry_after_leaves_the_message_for_a_later_round_not_lost(world: World) -> None:
    with slack_receiver() as slack:
        target = _setup(world, slack)
        raise_alert(world, "acme", WORLD_NOW)
        _plan_only(world, WORLD_NOW)
        slack.reply(429, "", Retry_After="120")
        runs = []
        for seconds in (0, 60, 120):
            fake = FakeTime(WORLD_NOW + dt.timedelta(seconds=seconds))
            runs.append(send_slack(world.store, world.alpha, target, public_url=PUBLIC_URL, clock=fake.clock,
                                   sleeper=fake.sleep, policy=SlackPolicy(inline_wait=30)).as_dict())
            assert fake.sleeps == []
            if seconds == 0:
                (waiting,) = _deliveries(world)
                assert (waiting.state, waiting.attempts) == ("pending", 1)
                assert waiting.next_attempt_at == WORLD_NOW + dt.timedelta(seconds=120)
                assert "retry after 120 s" in (waiting.last_error or "")
    assert [r["sent"] for r in runs] == [0, 0, 1]
    assert [r["deferred"] for r in runs] == [1, 0, 0]
    assert len(slack.requests) == 2
    (row,) = _deliveries(world)
    assert (row.state, row.attempts) == ("sent", 2)


def test_messages_to_one_channel_go_at_most_one_a_second(world: World) -> None:
    with slack_receiver() as slack:
        target = _setup(world, slack)
        raise_alert(world, "acme", WORLD_NOW, rule="usage_drop")
        raise_alert(world, "acme", WORLD_NOW, rule="renewal_risk")
        raise_alert(world, "acme", WORLD_NOW, rule="nps_drop")
        _plan_only(world, WORLD_NOW)
        fake = FakeTime()
        summary = send_slack(world.store, world.alpha, target, public_url=PUBLIC_URL, clock=fake.clock,
                             sleeper=fake.sleep)
    assert summary.sent == 3 and len(slack.requests) == 3
    assert {r.body["channel"] for r in slack.requests} == {"#cs-alerts"}
    assert fake.sleeps == [1.0, 1.0]


def test_an_invalid_token_fails_clearly_and_never_shows_the_token(world: World, caplog: pytest.LogCaptureFixture
                                                                  ) -> None:
    caplog.set_level(logging.DEBUG)
    with slack_receiver() as slack:
        target = _setup(world, slack)
        raise_alert(world, "acme", WORLD_NOW, rule="usage_drop")
        raise_alert(world, "acme", WORLD_NOW, rule="renewal_risk")
        _plan_only(world, WORLD_NOW)
        slack.reply(200, '{"ok": false, "error": "invalid_auth"}')
        fake = FakeTime()
        summary = send_slack(world.store, world.alpha, target, public_url=PUBLIC_URL, clock=fake.clock,
                             sleeper=fake.sleep)
    assert len(slack.requests) == 1  # a refused token: stop, do not hammer Slack with it
    first, second = _deliveries(world)
    assert first.state == "failed" and second.state == "pending"
    assert first.last_error is not None and "refused the bot token (invalid_auth)" in first.last_error
    assert summary.failed == 1
    assert BOT_TOKEN not in (first.last_error or "") and BOT_TOKEN not in caplog.text
    assert "secrettoken" not in repr(target)


def test_an_unknown_channel_fails_that_message_and_the_rest_go_on(world: World) -> None:
    with slack_receiver() as slack:
        target = _setup(world, slack)
        set_workspace(world, {"slack_mode": "bot", "slack_channel": "#cs-alerts",
                              "slack_routes": "usage_drop = #gone"})
        raise_alert(world, "acme", WORLD_NOW, rule="usage_drop")
        raise_alert(world, "acme", WORLD_NOW, rule="renewal_risk")
        _plan_only(world, WORLD_NOW)
        slack.reply(200, '{"ok": false, "error": "channel_not_found"}')
        fake = FakeTime()
        send_slack(world.store, world.alpha, target, public_url=PUBLIC_URL, clock=fake.clock, sleeper=fake.sleep)
    assert [r.body["channel"] for r in slack.requests] == ["#gone", "#cs-alerts"]
    first, second = _deliveries(world)
    assert (first.state, second.state) == ("failed", "sent")
    assert "channel #gone (channel_not_found)" in (first.last_error or "")


def test_an_incoming_webhook_gets_the_text_and_its_429_is_honoured_too(world: World) -> None:
    with slack_receiver() as slack:
        target = _setup(world, slack, mode="webhook")
        raise_alert(world, "acme", WORLD_NOW)
        _plan_only(world, WORLD_NOW)
        slack.reply(429, "rate_limited", Retry_After="3")
        fake = FakeTime()
        summary = send_slack(world.store, world.alpha, target, public_url=PUBLIC_URL, clock=fake.clock,
                             sleeper=fake.sleep)
    assert [r.path for r in slack.requests] == ["/services/T1/B2/hooksecret"] * 2
    assert set(slack.requests[1].body) == {"text"} and "Acme" in slack.requests[1].body["text"]
    assert (summary.sent, summary.rate_limited, fake.sleeps) == (1, 1, [3.0])
    (row,) = _deliveries(world)
    assert (row.slack_channel, row.state) == ("webhook", "sent")


def test_a_message_left_mid_post_is_never_posted_again_and_a_claimed_one_is_not_taken(world: World) -> None:
    with slack_receiver() as slack:
        target = _setup(world, slack)
        raise_alert(world, "acme", WORLD_NOW, rule="usage_drop")
        raise_alert(world, "acme", WORLD_NOW, rule="renewal_risk")
        _plan_only(world, WORLD_NOW)
        first, second = _deliveries(world)
        with world.store.session(world.alpha) as s:  # a sender that claimed the first and died mid-post...
            row = s.get(NotifyDelivery, first.id)
            assert row is not None
            row.state, row.claimed_at = "sending", WORLD_NOW
        fake = FakeTime(WORLD_NOW + dt.timedelta(minutes=1))  # ... still within its lease: not ours to post
        assert send_slack(world.store, world.alpha, target, public_url=PUBLIC_URL, clock=fake.clock,
                          sleeper=fake.sleep).as_dict()["sent"] == 1
        fake = FakeTime(WORLD_NOW + dt.timedelta(minutes=11))  # past the lease: unknown, never posted again
        summary = send_slack(world.store, world.alpha, target, public_url=PUBLIC_URL, clock=fake.clock,
                             sleeper=fake.sleep)
    assert (summary.unknown, summary.sent) == (1, 0)
    assert len(slack.requests) == 1
    first, second = _deliveries(world)
    assert (first.state, second.state) == ("unknown", "sent")
    assert "may be in Slack and is not posted again" in (first.last_error or "")


def test_a_webhook_url_must_be_slacks_unless_the_app_names_another_host() -> None:
    from notify.slack import check_bot_token, check_channel, check_webhook_url

    assert check_webhook_url("https://hooks.slack.com/services/T1/B2/x") == "https://hooks.slack.com/services/T1/B2/x"
    assert check_webhook_url("http://127.0.0.1:8123/services/T1", ("hooks.slack.com", "127.0.0.1"))
    for bad in ("https://intranet.example/services/T1", "http://hooks.slack.com/services/T1",
                "https://hooks.slack.com/", "http://127.0.0.1:8123/services/T1", "hooks.slack.com/services/T1"):
        with pytest.raises(ValueError, match=r"must look like https://hooks\.slack\.com/services/"):
            check_webhook_url(bad)
    with pytest.raises(ValueError, match="starts with xoxb-"):
        check_bot_token("xoxp-user-token")
    with pytest.raises(ValueError, match="must be an id like C0123ABCD or a name like #cs-alerts"):
        check_channel("#cs alerts")
