"""Notifications in the store: events found, fanned out, delivered — each step idempotent.

One round (`run_round`, the ``notify`` job) of a workspace, at ``now``:

1. `collect`: new alerts, tasks assigned, tasks overdue, band changes and play-made tasks due become
   `NotifyEvent` rows, one per key (``alert:12``) — found twice, stored once.
2. `escalate`: an alert event nobody acknowledged within the workspace's business hours makes an
   ``escalation`` event for the CSM's manager.
3. `fan_out`: each new event → `notify.rules.plan` → `NotifyDelivery` rows, unique per (event, user,
   channel): a second fan-out of the same event adds nothing, so nothing is sent twice.
4. `send_email`: e-mail-now deliveries into the outbox (key ``notify:<event>:<user>:email``, category
   customer_success); the outbox's send job hands them to SMTP.
5. `send_digests`: at 08:00 in each user's zone, one e-mail (key ``notify:digest:<user>:<day>``) with one
   line per digest delivery waiting since the last one.
6. `send_slack`: Slack deliveries, at most one message a second per channel; a 429 is waited out
   (``Retry-After`` up to `SlackPolicy.inline_wait`) or retried in a later round, counted, never dropped.

Snoozed deliveries carry ``deliver_after``: the bell hides them and no sender takes them until then.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mail.outbox import MailRequest, enqueue_many
from mail.templates import MailTemplate
from notify.rules import (
    KIND_LABELS,
    EventFacts,
    Person,
    PreferenceError,
    Snooze,
    add_business_hours,
    digest_cutoff,
    plan,
    rules_for,
)
from notify.settings import workspace_row
from notify.slack import SlackError, SlackTarget, post
from store.db import Store
from store.models import (
    Account,
    Alert,
    HealthSnapshot,
    NotifyDelivery,
    NotifyEvent,
    NotifyPreference,
    NotifySettings,
    NotifySnooze,
    Task,
    User,
)

log = logging.getLogger("canary.notify")

LOOKBACK = dt.timedelta(days=2)
"""How far back `collect` looks for alerts and task assignments it has not seen (a first round does not
notify the whole history)."""
OVERDUE_DAYS = 7

NOW_TEMPLATE = MailTemplate(
    subject="{{ workspace.line }}",
    html=("<p>{{ workspace.line }}</p><p><a href=\"{{ workspace.link }}\">Open in Canary</a></p>"
          "<p>You get this because of your notification settings: {{ workspace.settings }}</p>"),
)
DIGEST_TEMPLATE = MailTemplate(
    subject="Canary daily digest: {{ workspace.count }} update(s)",
    html=("<p>Good morning {{ user.name }}, since your last digest:</p><ul>"
          "{% for line in workspace.lines %}<li>{{ line }}</li>{% endfor %}</ul>"
          "<p><a href=\"{{ workspace.link }}\">Open Canary</a> · change what you get: {{ workspace.settings }}</p>"),
)


# --- 1. collect ---------------------------------------------------------------------------------


def _add_events(session: Session, events: list[NotifyEvent]) -> int:
    if not events:
        return 0
    keys = [e.key for e in events]
    known = set(session.scalars(select(NotifyEvent.key).where(NotifyEvent.key.in_(keys))))
    fresh = list({e.key: e for e in events if e.key not in known}.values())
    return _insert(session, fresh)


def _insert(session: Session, rows: list[Any]) -> int:
    """Add rows in one savepoint; when another round stored some meanwhile (a unique key), row by row."""
    if not rows:
        return 0
    try:
        with session.begin_nested():
            session.add_all(rows)
        return len(rows)
    except IntegrityError:
        added = 0
        for row in rows:
            try:
                with session.begin_nested():
                    session.add(row)
                added += 1
            except IntegrityError:
                pass
        return added


def _names(session: Session, account_ids: set[int]) -> dict[int, str]:
    """The names of these accounts only (a round must not read every account of a large workspace)."""
    ids = sorted(account_ids)
    names: dict[int, str] = {}
    for first in range(0, len(ids), 500):
        names.update(session.execute(select(Account.id, Account.name).where(Account.id.in_(ids[first:first + 500])))
                     .all())
    return names


def collect(session: Session, now: dt.datetime) -> int:
    """Store the workspace's new events; returns how many were new."""
    since = now - LOOKBACK
    today = now.date()
    alerts = list(session.scalars(select(Alert).where(Alert.status == "open", Alert.raised_at >= since,
                                                      Alert.raised_at <= now)))
    assigned = list(session.scalars(select(Task).where(
        Task.status == "open", Task.assignee_user_id.is_not(None),
        or_(Task.created_at >= since, Task.updated_at >= since))))
    overdue = list(session.scalars(select(Task).where(
        Task.status == "open", Task.due_date < today, Task.due_date >= today - dt.timedelta(days=OVERDUE_DAYS))))
    steps = list(session.scalars(select(Task).where(Task.status == "open", Task.play_run_id.is_not(None),
                                                    Task.due_date == today)))
    bands = _band_changes(session, today)
    names = _names(session, {a.account_id for a in alerts} | {t.account_id for t in assigned + overdue + steps}
                   | {account_id for account_id, _, _, _ in bands})

    def name(account_id: int) -> str:
        return names.get(account_id, "An account")

    events = [NotifyEvent(key=f"alert:{a.id}", kind="alert", account_id=a.account_id, alert_id=a.id,
                          severity=a.severity, reason=a.rule, title=f"{name(a.account_id)}: {a.title}",
                          occurred_at=a.raised_at) for a in alerts]
    events += [NotifyEvent(key=f"task-assigned:{t.id}:{t.assignee_user_id}", kind="task_assigned",
                           account_id=t.account_id, task_id=t.id, user_id=t.assignee_user_id,
                           title=f"{name(t.account_id)}: task {t.title}", occurred_at=now) for t in assigned]
    events += [NotifyEvent(key=f"task-overdue:{t.id}:{t.due_date}", kind="task_overdue", account_id=t.account_id,
                           task_id=t.id, user_id=t.assignee_user_id,
                           title=f"{name(t.account_id)}: task {t.title} was due {t.due_date:%d %b}", occurred_at=now)
               for t in overdue]
    events += [NotifyEvent(key=f"play-step:{t.id}:{t.due_date}", kind="play_step_due", account_id=t.account_id,
                           task_id=t.id, user_id=t.assignee_user_id,
                           title=f"{name(t.account_id)}: play step due today — {t.title}", occurred_at=now)
               for t in steps]
    events += [NotifyEvent(key=f"band:{account_id}:{day}:{new}", kind="band_changed", account_id=account_id,
                           title=f"{name(account_id)} moved from {old} to {new}", severity=new, occurred_at=now)
               for account_id, day, old, new in bands]
    return _add_events(session, events)


def _band_changes(session: Session, today: dt.date) -> list[tuple[int, dt.date, str, str]]:
    """(account, day, old band, new band) for accounts whose band on the latest scored day (at most two days
    ago) differs from the day before — reading only the snapshots computed since the last scan
    (`NotifySettings.bands_checked_at`), so a quiet minute reads none of a large workspace's."""
    latest = session.scalar(select(func.max(HealthSnapshot.day)).where(HealthSnapshot.day <= today))
    if latest is None or latest < today - dt.timedelta(days=2):
        return []
    settings = workspace_row(session)
    if settings is None:
        settings = NotifySettings(slack_routes={})
        session.add(settings)
    query = select(HealthSnapshot.account_id, HealthSnapshot.band, HealthSnapshot.computed_at).where(
        HealthSnapshot.day == latest)
    if settings.bands_checked_at is not None:
        query = query.where(HealthSnapshot.computed_at > settings.bands_checked_at)
    fresh = session.execute(query).all()
    if not fresh:
        return []
    settings.bands_checked_at = max(computed for _, _, computed in fresh)
    before = latest - dt.timedelta(days=1)
    ids = sorted({account_id for account_id, _, _ in fresh})
    earlier: dict[int, str | None] = {}
    for first in range(0, len(ids), 500):
        earlier.update(session.execute(select(HealthSnapshot.account_id, HealthSnapshot.band).where(
            HealthSnapshot.day == before, HealthSnapshot.account_id.in_(ids[first:first + 500]))).all())
    return [(account_id, latest, str(earlier[account_id]), band) for account_id, band, _ in sorted(fresh)
            if band and earlier.get(account_id) and earlier[account_id] != band]


# --- 2. escalate ----------------------------------------------------------------------------------


def escalate(session: Session, now: dt.datetime) -> int:
    """Escalation events for alert events unacknowledged past the workspace's business hours."""
    settings = workspace_row(session)
    hours = settings.escalation_hours if settings is not None else 8
    if hours <= 0:
        return 0
    zone = settings.time_zone if settings is not None else "UTC"
    start, end = (settings.business_start, settings.business_end) if settings is not None else (9, 17)
    waiting = session.execute(select(NotifyEvent, Alert.status, Account.csm_user_id).join(
        Alert, Alert.id == NotifyEvent.alert_id).join(Account, Account.id == NotifyEvent.account_id).where(
        NotifyEvent.kind == "alert", NotifyEvent.acknowledged_at.is_(None), NotifyEvent.escalated_at.is_(None))).all()
    managers = dict(session.execute(select(User.id, User.manager_id)).all())
    made: list[NotifyEvent] = []
    for event, status, csm in waiting:
        if status != "open":
            event.acknowledged_at = now  # resolved or closed: someone dealt with it
            continue
        due = add_business_hours(event.occurred_at, hours, zone, start, end)
        if due > now:
            continue
        event.escalated_at = now
        manager = managers.get(csm) if csm is not None else None
        if manager is None:
            log.info("alert event %s is unacknowledged but its CSM has no manager to escalate to", event.id)
            continue
        made.append(NotifyEvent(key=f"escalation:{event.alert_id}", kind="escalation", account_id=event.account_id,
                                alert_id=event.alert_id, user_id=manager, severity=event.severity, reason=event.reason,
                                title=f"Unacknowledged for {hours} business hours: {event.title}", occurred_at=now))
    return _add_events(session, made)


# --- 3. fan out ------------------------------------------------------------------------------------


def _owner(event: NotifyEvent, csm_of: Mapping[int, int | None]) -> int | None:
    if event.kind in ("task_assigned", "task_overdue", "play_step_due", "escalation") and event.user_id is not None:
        return event.user_id
    return csm_of.get(event.account_id) if event.account_id is not None else None


def slack_channel_for(event: NotifyEvent, person_slack: str | None, mode: str | None, default: str | None,
                      routes: Mapping[str, str]) -> str | None:
    """Where one Slack delivery goes: the webhook's channel; else the route of the alert's reason, else the
    user's own direct messages (their member id), else the workspace's default channel."""
    if mode == "webhook":
        return "webhook"
    if event.reason and event.reason in routes:
        return routes[event.reason]
    return person_slack or default


def fan_out(session: Session, now: dt.datetime) -> int:
    """Deliveries for every event not yet fanned out; returns how many deliveries were stored."""
    events = list(session.scalars(select(NotifyEvent).where(NotifyEvent.fanned_out_at.is_(None))
                                  .order_by(NotifyEvent.id)))
    if not events:
        return 0
    people = [Person(u.id, u.role, u.manager_id, u.active) for u in session.scalars(select(User).order_by(User.id))]
    prefs = {p.user_id: p for p in session.scalars(select(NotifyPreference))}
    rules = {uid: rules_for(p.rules) for uid, p in prefs.items()}
    account_ids = sorted({e.account_id for e in events if e.account_id is not None})
    csm_of: dict[int, int | None] = {}
    for first in range(0, len(account_ids), 500):
        csm_of.update(session.execute(select(Account.id, Account.csm_user_id)
                                      .where(Account.id.in_(account_ids[first:first + 500]))).all())
    snoozes = [Snooze(s.user_id, s.alert_id, s.until) for s in session.scalars(
        select(NotifySnooze).where(NotifySnooze.until > now))]
    settings = workspace_row(session)
    mode = settings.slack_mode if settings is not None and settings.slack_secret_encrypted else None
    routes = dict(settings.slack_routes or {}) if settings is not None else {}
    default = settings.slack_channel if settings is not None else None
    have: set[tuple[int, int, str]] = set()
    ids = [e.id for e in events]
    for first in range(0, len(ids), 500):
        have.update(session.execute(select(NotifyDelivery.event_id, NotifyDelivery.user_id, NotifyDelivery.channel)
                                    .where(NotifyDelivery.event_id.in_(ids[first:first + 500]))).all())
    rows: list[NotifyDelivery] = []
    for event in events:
        facts = EventFacts(event.kind, _owner(event, csm_of), event.severity, event.alert_id)
        planned = plan(facts, people, rules, snoozes, now, slack_ready=mode is not None)
        for p in planned:
            if (event.id, p.user_id, p.channel) in have:
                continue
            pref = prefs.get(p.user_id)
            channel = None
            if p.channel == "slack":
                channel = slack_channel_for(event, pref.slack_user if pref else None, mode, default, routes)
                if channel is None:
                    continue
            rows.append(NotifyDelivery(event_id=event.id, user_id=p.user_id, channel=p.channel,
                                       slack_channel=channel, state="sent" if p.channel == "bell" else "pending",
                                       deliver_after=p.deliver_after, next_attempt_at=p.deliver_after,
                                       created_at=now, sent_at=p.deliver_after if p.channel == "bell" else None))
        event.fanned_out_at = now
    return _insert(session, rows)


# --- 4, 5. e-mail now and the digest --------------------------------------------------------------


@dataclass(frozen=True)
class MailContext:
    sender: str
    public_url: str
    workspace_name: str = "Canary"


def _link(public_url: str) -> str:
    return f"{public_url.rstrip('/')}/notifications"


def send_email(session: Session, now: dt.datetime, mail: MailContext) -> int:
    """Queue the e-mail-now deliveries that are due; returns how many were queued."""
    due = session.execute(select(NotifyDelivery, NotifyEvent, User).join(
        NotifyEvent, NotifyEvent.id == NotifyDelivery.event_id).join(User, User.id == NotifyDelivery.user_id).where(
        NotifyDelivery.channel == "email", NotifyDelivery.state == "pending",
        NotifyDelivery.deliver_after <= now).order_by(NotifyDelivery.id)).all()
    requests_: list[MailRequest] = []
    for _delivery, event, user in due:
        line = f"{KIND_LABELS.get(event.kind, event.kind)} — {event.title}"
        requests_.append(MailRequest(
            f"notify:{event.id}:{user.id}:email", user.email, NOW_TEMPLATE,
            {"workspace": {"name": mail.workspace_name, "line": line[:250], "link": _link(mail.public_url),
                           "settings": _link(mail.public_url) + "/settings"},
             "user": {"name": user.name or user.email}, "account": {}, "health": {}}))
    if requests_:
        enqueue_many(session, requests_, sender=mail.sender, public_url=mail.public_url, now=now)
    for delivery, _, _ in due:
        delivery.state, delivery.sent_at, delivery.attempts = "sent", now, delivery.attempts + 1
    return len(due)


def send_digests(session: Session, now: dt.datetime, mail: MailContext) -> int:
    """One digest e-mail per user whose 08:00 has come (in their zone) and who has lines waiting."""
    users = {u.id: u for u in session.scalars(select(User).where(User.active.is_(True)))}
    prefs = {p.user_id: p for p in session.scalars(select(NotifyPreference))}
    waiting_users = set(session.scalars(select(NotifyDelivery.user_id).where(
        NotifyDelivery.channel == "digest", NotifyDelivery.state == "pending").distinct()))
    sent = 0
    for user_id in sorted(waiting_users):
        user = users.get(user_id)
        if user is None:
            continue
        pref = prefs.get(user_id)
        zone = pref.time_zone if pref is not None else "UTC"
        due = digest_cutoff(now, zone, pref.last_digest_on if pref is not None else None)
        if due is None:
            continue
        day, cutoff = due
        rows = session.execute(select(NotifyDelivery, NotifyEvent).join(
            NotifyEvent, NotifyEvent.id == NotifyDelivery.event_id).where(
            NotifyDelivery.user_id == user_id, NotifyDelivery.channel == "digest", NotifyDelivery.state == "pending",
            NotifyDelivery.created_at < cutoff, NotifyDelivery.deliver_after <= now)
            .order_by(NotifyEvent.occurred_at, NotifyEvent.id)).all()
        if pref is None:
            pref = NotifyPreference(user_id=user_id, rules={}, time_zone="UTC")
            session.add(pref)
        pref.last_digest_on = day
        if not rows:
            continue
        lines = [f"{KIND_LABELS.get(e.kind, e.kind)} — {e.title}" for _, e in rows]
        enqueue_many(session, [MailRequest(
            f"notify:digest:{user_id}:{day.isoformat()}", user.email, DIGEST_TEMPLATE,
            {"workspace": {"name": mail.workspace_name, "count": len(lines), "lines": lines,
                           "link": _link(mail.public_url), "settings": _link(mail.public_url) + "/settings"},
             "user": {"name": user.name or user.email}, "account": {}, "health": {}})],
            sender=mail.sender, public_url=mail.public_url, now=now)
        for delivery, _ in rows:
            delivery.state, delivery.sent_at = "sent", now
        sent += 1
    return sent


# --- 6. Slack -------------------------------------------------------------------------------------

Clock = Callable[[], dt.datetime]
Sleeper = Callable[[float], None]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class SlackPolicy:
    per_channel_seconds: float = 1.0
    """At least this long between two messages to one channel (Slack: about one a second)."""
    inline_wait: float = 30.0
    """A ``Retry-After`` up to this long is waited out in the round; a longer one is left to a later round."""
    max_attempts: int = 6
    """Temporary failures (no answer, 5xx) before a message fails; rate limits never make one fail."""
    backoff_seconds: float = 60.0
    lease_seconds: float = 600.0
    """A delivery left ``sending`` this long had its sender stop mid-post: ``unknown``, never posted again."""


@dataclass
class SlackSummary:
    sent: int = 0
    rate_limited: int = 0
    """429 answers received (each counted on its delivery's ``attempts``)."""
    deferred: int = 0
    failed: int = 0
    unknown: int = 0
    """Deliveries a stopped sender left mid-post (maybe posted): not posted again."""
    waited: float = 0.0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "rate_limited": self.rate_limited, "deferred": self.deferred,
                "failed": self.failed, "unknown": self.unknown, "waited": self.waited}


def _slack_text(event: NotifyEvent, slack_user: str | None, channel: str | None, public_url: str) -> str:
    mention = f"<@{slack_user}> " if slack_user and channel != slack_user else ""
    label = KIND_LABELS.get(event.kind, event.kind)
    return f"{mention}*{label}* — {event.title} <{_link(public_url)}|Open in Canary>"


def send_slack(store: Store, tenant_id: int, target: SlackTarget, *, public_url: str,
               http: requests.Session | None = None, clock: Clock = utc_now,
               sleeper: Sleeper = time.sleep, policy: SlackPolicy | None = None) -> SlackSummary:
    """Post the due Slack deliveries, oldest first, pacing each channel.

    At most once: each delivery is claimed (``pending`` → ``sending``, a compare-and-set committed before the
    call, so two senders never post one message), posted, and its outcome committed. A delivery left
    ``sending`` longer than the lease (its sender stopped mid-post) becomes ``unknown`` and is not posted again."""
    policy = policy or SlackPolicy()
    http = http or requests.Session()
    summary = SlackSummary()
    now = clock()
    with store.session(tenant_id) as s:
        stale = now - dt.timedelta(seconds=policy.lease_seconds)
        for row in s.scalars(select(NotifyDelivery).where(NotifyDelivery.channel == "slack",
                                                          NotifyDelivery.state == "sending",
                                                          NotifyDelivery.claimed_at < stale)):
            row.state = "unknown"
            row.last_error = (f"the sender stopped while posting this message at {row.claimed_at:%Y-%m-%d %H:%M} "
                              "UTC: it may be in Slack and is not posted again")
            summary.unknown += 1
    with store.session(tenant_id) as s:
        due = [(d.id, d.slack_channel, e, p.slack_user if p is not None else None) for d, e, p in s.execute(
            select(NotifyDelivery, NotifyEvent, NotifyPreference).join(
                NotifyEvent, NotifyEvent.id == NotifyDelivery.event_id).outerjoin(
                NotifyPreference, NotifyPreference.user_id == NotifyDelivery.user_id).where(
                NotifyDelivery.channel == "slack", NotifyDelivery.state == "pending",
                NotifyDelivery.deliver_after <= now, NotifyDelivery.next_attempt_at <= now)
            .order_by(NotifyDelivery.id)).all()]
        s.expunge_all()
    last_post: dict[str, dt.datetime] = {}
    blocked: set[str] = set()
    for delivery_id, channel, event, slack_user in due:
        key = channel or "webhook"
        if key in blocked:
            continue
        if not _claim(store, tenant_id, delivery_id, clock()):
            continue  # another sender has it
        text = _slack_text(event, slack_user, channel, public_url)
        outcome: dict[str, Any] = {}
        while True:
            previous = last_post.get(key)
            if previous is not None:
                gap = policy.per_channel_seconds - (clock() - previous).total_seconds()
                if gap > 0:
                    sleeper(gap)
                    summary.waited += gap
            try:
                last_post[key] = clock()
                post(http, target, None if target.mode == "webhook" else channel, text)
            except SlackError as error:
                if error.kind == "rate":
                    summary.rate_limited += 1
                    wait = float(error.retry_after or 1.0)
                    outcome["attempts"] = outcome.get("attempts", 0) + 1
                    outcome["last_error"] = str(error)
                    if wait <= policy.inline_wait:
                        sleeper(wait)
                        summary.waited += wait
                        last_post.pop(key, None)
                        continue
                    outcome["next_attempt_at"] = clock() + dt.timedelta(seconds=wait)
                    summary.deferred += 1
                    blocked.add(key)
                elif error.kind == "temporary":
                    outcome["attempts"] = outcome.get("attempts", 0) + 1
                    outcome["last_error"] = str(error)
                    outcome["temporary"] = True
                else:
                    outcome.update(state="failed", last_error=str(error), attempts=outcome.get("attempts", 0) + 1)
                    summary.failed += 1
                    summary.errors.append(str(error))
                    if error.kind == "auth":
                        _finish(store, tenant_id, delivery_id, outcome, clock(), policy)
                        log.warning("Slack of workspace %s refused its credentials: %s", tenant_id, error)
                        return summary
            else:
                outcome.update(state="sent", sent_at=clock(), last_error=None,
                               attempts=outcome.get("attempts", 0) + 1)
                summary.sent += 1
            break
        _finish(store, tenant_id, delivery_id, outcome, clock(), policy)
    return summary


def _claim(store: Store, tenant_id: int, delivery_id: int, now: dt.datetime) -> bool:
    with store.session(tenant_id) as s:
        claimed = s.execute(update(NotifyDelivery).where(
            NotifyDelivery.id == delivery_id, NotifyDelivery.state == "pending").values(
            state="sending", claimed_at=now).execution_options(synchronize_session=False))
        return bool(getattr(claimed, "rowcount", 0))


def _finish(store: Store, tenant_id: int, delivery_id: int, outcome: dict[str, Any], now: dt.datetime,
            policy: SlackPolicy) -> None:
    with store.session(tenant_id) as s:
        row = s.get(NotifyDelivery, delivery_id)
        if row is None:
            return
        row.attempts += int(outcome.pop("attempts", 0))
        row.state = "pending"  # unless the outcome says otherwise: a rate limit or a temporary failure
        if outcome.pop("temporary", False):
            if row.attempts >= policy.max_attempts:
                row.state = "failed"
            else:
                row.next_attempt_at = now + dt.timedelta(seconds=policy.backoff_seconds * 2 ** (row.attempts - 1))
        for name, value in outcome.items():
            setattr(row, name, value)
        if row.last_error:
            row.last_error = row.last_error[:1000]


# --- the bell, acknowledgement, snooze ------------------------------------------------------------


@dataclass(frozen=True)
class BellItem:
    id: int
    event_id: int
    kind: str
    label: str
    title: str
    at: dt.datetime
    read: bool
    alert_id: int | None
    account_id: int | None
    acknowledged: bool


def unread_count(session: Session, user_id: int, now: dt.datetime) -> int:
    return int(session.scalar(select(func.count()).select_from(NotifyDelivery).where(
        NotifyDelivery.user_id == user_id, NotifyDelivery.channel == "bell", NotifyDelivery.read_at.is_(None),
        NotifyDelivery.deliver_after <= now)) or 0)


def bell(session: Session, user_id: int, now: dt.datetime, limit: int = 50) -> list[BellItem]:
    """The user's latest bell items (snoozed ones hidden until their snooze ends), newest first."""
    rows = session.execute(select(NotifyDelivery, NotifyEvent).join(
        NotifyEvent, NotifyEvent.id == NotifyDelivery.event_id).where(
        NotifyDelivery.user_id == user_id, NotifyDelivery.channel == "bell", NotifyDelivery.deliver_after <= now)
        .order_by(NotifyDelivery.deliver_after.desc(), NotifyDelivery.id.desc()).limit(limit)).all()
    return [BellItem(d.id, e.id, e.kind, KIND_LABELS.get(e.kind, e.kind), e.title, d.deliver_after,
                     d.read_at is not None, e.alert_id, e.account_id, e.acknowledged_at is not None)
            for d, e in rows]


def mark_read(session: Session, user_id: int, now: dt.datetime, delivery_id: int | None = None) -> int:
    """Mark one bell item (or all) of the user read; another user's item is not found (0)."""
    rows = session.scalars(select(NotifyDelivery).where(
        NotifyDelivery.user_id == user_id, NotifyDelivery.channel == "bell", NotifyDelivery.read_at.is_(None),
        NotifyDelivery.deliver_after <= now,
        *([NotifyDelivery.id == delivery_id] if delivery_id is not None else []))).all()
    for row in rows:
        row.read_at = now
    return len(rows)


def acknowledge(session: Session, user_id: int, alert_id: int, now: dt.datetime) -> bool:
    """The user acknowledges an alert they were notified of: no escalation follows."""
    notified = session.scalar(select(func.count()).select_from(NotifyDelivery).join(
        NotifyEvent, NotifyEvent.id == NotifyDelivery.event_id).where(
        NotifyEvent.alert_id == alert_id, NotifyDelivery.user_id == user_id))
    if not notified:
        return False
    for event in session.scalars(select(NotifyEvent).where(NotifyEvent.alert_id == alert_id,
                                                           NotifyEvent.kind == "alert",
                                                           NotifyEvent.acknowledged_at.is_(None))):
        event.acknowledged_at, event.acknowledged_by_user_id = now, user_id
    return True


def snooze(session: Session, user_id: int, until: dt.datetime, now: dt.datetime, alert_id: int | None = None) -> int:
    """Hold the user's deliveries (of one alert, or all) until ``until``; returns how many waiting ones moved.

    Future events of the alert (or any, for a snooze of everything) are held at fan-out."""
    if until <= now:
        raise PreferenceError("a snooze must end in the future")
    if alert_id is not None and session.get(Alert, alert_id) is None:
        raise PreferenceError(f"alert {alert_id} does not exist in this workspace")
    session.add(NotifySnooze(user_id=user_id, alert_id=alert_id, until=until, created_at=now))
    query = select(NotifyDelivery).where(NotifyDelivery.user_id == user_id, or_(
        NotifyDelivery.state == "pending", and_(NotifyDelivery.channel == "bell", NotifyDelivery.read_at.is_(None))))
    if alert_id is not None:
        query = query.where(NotifyDelivery.event_id.in_(select(NotifyEvent.id).where(NotifyEvent.alert_id == alert_id)))
    moved = 0
    for row in session.scalars(query):
        if row.deliver_after < until:
            row.deliver_after = until
            row.next_attempt_at = max(row.next_attempt_at, until)
            moved += 1
    return moved


# --- one round -------------------------------------------------------------------------------------


@dataclass
class RoundSummary:
    events: int = 0
    escalations: int = 0
    deliveries: int = 0
    emails: int = 0
    digests: int = 0
    slack: SlackSummary | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"events": self.events, "escalations": self.escalations, "deliveries": self.deliveries,
                "emails": self.emails, "digests": self.digests,
                "slack": self.slack.as_dict() if self.slack is not None else None}


def run_round(store: Store, tenant_id: int, now: dt.datetime, *, mail: MailContext | None,
              slack: SlackTarget | None, public_url: str = "", http: requests.Session | None = None,
              clock: Clock | None = None, sleeper: Sleeper = time.sleep,
              policy: SlackPolicy | None = None) -> RoundSummary:
    """Everything due for one workspace at ``now`` (see the module's steps). Without ``mail`` (no SMTP
    server) e-mail deliveries wait; without ``slack`` no Slack delivery is planned."""
    out = RoundSummary()
    with store.session(tenant_id) as s:
        out.events = collect(s, now)
    with store.session(tenant_id) as s:
        out.escalations = escalate(s, now)
    with store.session(tenant_id) as s:
        out.deliveries = fan_out(s, now)
    if mail is not None:
        with store.session(tenant_id) as s:
            out.emails = send_email(s, now, mail)
        with store.session(tenant_id) as s:
            out.digests = send_digests(s, now, mail)
    if slack is not None:
        out.slack = send_slack(store, tenant_id, slack, public_url=public_url, http=http,
                               clock=clock or (lambda: now), sleeper=sleeper, policy=policy)
    return out
