"""The campaign engine: `run_due` enrolls new people and advances every due enrollment of a workspace.

**Per run**, for each active campaign: people who entered its audience (`campaigns.audience`) and are not yet
in it are enrolled at step 1, due now; goals are checked for everyone still in (set-wise for events and list
moves); then each due enrollment walks its steps until one makes it wait (a ``wait`` step, quiet hours, the
weekly cap) or it leaves (goal, unsubscribe, end of the track). A finished campaign exits everyone still in.
A paused one does nothing.

**Before every step**: the goal (reached → exit ``goal``, a conversion when within ``conversion_days`` of
enrolling), then consent (the address suppressed for the campaign's category → exit ``unsubscribed``, or
``suppressed`` when it was suppressed before enrolling).

**E-mail steps** go through the outbox (`mail.outbox.enqueue_many`) under the key
``campaign:<id>:step:<position>:person:<enrollment id>``: re-running at the same moment, or after a crash,
stores nothing twice. A person is one lower-cased e-mail (one enrollment per campaign, whatever accounts it is
in). At most ``weekly_cap`` campaign e-mails per person per ISO week across all campaigns (a capped step
waits to the next local Monday, recorded as ``capped``); none in quiet hours in the recipient's time zone
(the product user's, else the workspace's; the step is due again at the first allowed minute, ``quiet``).

Every step leaves a `CampaignStepRun` row. Runs are serialised per workspace by the job's lock.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.audience import people
from campaigns.definition import Goal, Step, parse_audience, parse_goal
from campaigns.inapp_adapter import QueueMessage, queue_in_app, queue_message_function
from campaigns.manage import campaign_settings
from campaigns.timing import next_allowed, week_bounds, zone
from campaigns.tracking import rewriter
from mail.context import variables_for, variables_for_many
from mail.outbox import MailRequest, enqueue_many
from store.db import Store
from store.models import (
    Account,
    Campaign,
    CampaignEnrollment,
    CampaignSettings,
    CampaignStepRun,
    Contact,
    MailEvent,
    PortfolioListEvent,
    PortfolioListMember,
    ProductUser,
    Suppression,
    Task,
    UsageDaily,
)

log = logging.getLogger("canary.campaigns")

CHUNK = 200
UNSET: Any = object()


@dataclass(frozen=True)
class MailContext:
    """What a campaign e-mail needs besides its template: the workspace's From address, Canary's public URL
    (unsubscribe and tracking links) and the app's secret (signing tracking links)."""

    sender: str
    public_url: str
    secret: str


@dataclass
class RunSummary:
    enrolled: int = 0
    sent: int = 0
    """E-mails queued in the outbox (sent by the send job)."""
    suppressed: int = 0
    capped: int = 0
    quiet: int = 0
    in_app: int = 0
    in_app_pending: int = 0
    waited: int = 0
    branched: int = 0
    tasks: int = 0
    goals: int = 0
    conversions: int = 0
    unsubscribed: int = 0
    completed: int = 0
    finished: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def campaign_key(campaign_id: int, position: int, enrollment_id: int) -> str:
    return f"campaign:{campaign_id}:step:{position}:person:{enrollment_id}"


@dataclass
class _Run:
    session: Session
    tenant_id: int
    campaign: Campaign
    steps: dict[int, Step]
    goal: Goal | None
    settings: CampaignSettings
    mail: MailContext | None
    queue: QueueMessage | None
    now: dt.datetime
    summary: RunSummary
    chunk: _Chunk = field(default_factory=lambda: _Chunk())
    runs: list[CampaignStepRun] = field(default_factory=list)
    """History rows of the chunk, stored in order once its e-mails are queued (they name the outbox rows)."""
    mails: list[tuple[CampaignStepRun, MailRequest]] = field(default_factory=list)

    def history(self, e: CampaignEnrollment, step: Step, outcome: str, detail: str | None = None) -> CampaignStepRun:
        step_id = next((s.id for s in self.campaign.steps if s.position == step.position), None)
        row = CampaignStepRun(campaign_id=self.campaign.id, enrollment_id=e.id, step_id=step_id,
                              position=step.position, kind=step.kind, outcome=outcome,
                              detail=detail[:500] if detail else None, at=self.now)
        self.runs.append(row)
        return row


@dataclass
class _Chunk:
    """What the walk of a chunk of enrollments reads, fetched for the whole chunk at once."""

    suppressed: dict[str, tuple[dt.datetime, int | None]] = field(default_factory=dict)
    zones: dict[str, str] = field(default_factory=dict)
    sent_at: dict[str, list[dt.datetime]] = field(default_factory=dict)
    """Campaign e-mails sent to each address in the last 8 days (any campaign), and those queued by this walk."""
    variables: dict[tuple[int | None, str], dict[str, Any]] = field(default_factory=dict)


def run_due(store: Store, tenant_id: int, now: dt.datetime, *, mail: MailContext | None,
            queue_message: QueueMessage | None = UNSET) -> RunSummary:
    """Enroll and advance every active campaign of the workspace as of ``now``; idempotent at one ``now``.
    ``mail`` None (no SMTP server configured): an e-mail step waits an hour, recorded ``no_mail``.
    ``queue_message``: the in-app call (default: `inapp.messages.queue_message` when installed; None: pending)."""
    queue = queue_message_function() if queue_message is UNSET else queue_message
    summary = RunSummary()
    with store.session(tenant_id) as s:
        ids = list(s.scalars(select(Campaign.id).where(Campaign.status.in_(("active", "finished")))
                             .order_by(Campaign.id)))
    for campaign_id in ids:
        with store.session(tenant_id) as s:
            campaign = s.get(Campaign, campaign_id)
            if campaign is None:
                continue
            if campaign.status == "finished":
                _exit_all(s, campaign_id, now, summary)
                continue
            run = _run(s, tenant_id, campaign, mail, queue, now, summary)
            _enroll(run)
            _sweep_goals(run)
            due = list(s.scalars(select(CampaignEnrollment.id).where(
                CampaignEnrollment.campaign_id == campaign_id, CampaignEnrollment.exited_at.is_(None),
                CampaignEnrollment.next_at <= now).order_by(CampaignEnrollment.next_at, CampaignEnrollment.id)))
        for first in range(0, len(due), CHUNK):
            with store.session(tenant_id) as s:
                campaign = s.get(Campaign, campaign_id)
                if campaign is None or campaign.status != "active":
                    break
                run = _run(s, tenant_id, campaign, mail, queue, now, summary)
                chunk = list(s.scalars(select(CampaignEnrollment).where(
                    CampaignEnrollment.id.in_(due[first:first + CHUNK])).order_by(CampaignEnrollment.id)))
                run.chunk = _prefetch(run, chunk)
                for enrollment in chunk:
                    _advance(run, enrollment)
                _store_chunk(run)
    return summary


def _prefetch(run: _Run, chunk: list[CampaignEnrollment]) -> _Chunk:
    s = run.session
    emails = sorted({e.email for e in chunk})
    found = _Chunk()
    for address, created, outbox_id in s.execute(select(
            Suppression.address, Suppression.created_at, Suppression.outbox_id).where(
            Suppression.category == run.campaign.category, Suppression.address.in_(emails))):
        found.suppressed[address] = (created, outbox_id)
    for address, zone_name in s.execute(select(func.lower(ProductUser.email), ProductUser.time_zone).where(
            func.lower(ProductUser.email).in_(emails), ProductUser.time_zone.is_not(None)).order_by(ProductUser.id)):
        found.zones.setdefault(address, zone_name)
    for address, at in s.execute(select(CampaignEnrollment.email, CampaignStepRun.at).join(
            CampaignStepRun, CampaignStepRun.enrollment_id == CampaignEnrollment.id).where(
            CampaignEnrollment.email.in_(emails), CampaignStepRun.outcome == "sent",
            CampaignStepRun.at >= run.now - dt.timedelta(days=8))):
        found.sent_at.setdefault(address, []).append(at)
    if run.mail is not None and any(run.steps[p].kind == "send_email" for p in run.steps):
        found.variables = variables_for_many(s, run.tenant_id, [(e.account_id, e.email) for e in chunk])
    return found


def _store_chunk(run: _Run) -> None:
    """Queue the chunk's e-mails in one `enqueue_many`, then store its history rows in walk order."""
    if run.mails and run.mail is not None:
        rows = enqueue_many(run.session, [request for _, request in run.mails], sender=run.mail.sender,
                            public_url=run.mail.public_url, now=run.now,
                            rewrite_html=rewriter(run.mail.secret, run.tenant_id, run.mail.public_url))
        run.session.flush()
        for (history, _), row in zip(run.mails, rows, strict=True):
            history.outbox_id = row.id
            if row.state == "suppressed":
                history.outcome, history.detail = "suppressed", (row.last_error or "")[:500]
                run.summary.suppressed += 1
                run.summary.sent -= 1
    run.session.add_all(run.runs)
    run.session.flush()
    run.runs, run.mails = [], []


def _run(s: Session, tenant_id: int, campaign: Campaign, mail: MailContext | None, queue: QueueMessage | None,
         now: dt.datetime, summary: RunSummary) -> _Run:
    steps = {row.position: Step(row.position, row.kind, dict(row.config)) for row in campaign.steps}
    goal = parse_goal(campaign.goal) if campaign.goal else None
    return _Run(s, tenant_id, campaign, steps, goal, campaign_settings(s), mail, queue, now, summary)


def _exit(run: _Run, e: CampaignEnrollment, reason: str) -> None:
    e.exited_at, e.exit_reason, e.next_at = run.now, reason, None
    if reason in ("unsubscribed", "suppressed"):
        run.summary.unsubscribed += 1
    elif reason == "completed":
        run.summary.completed += 1


def _exit_all(s: Session, campaign_id: int, now: dt.datetime, summary: RunSummary) -> None:
    for e in s.scalars(select(CampaignEnrollment).where(CampaignEnrollment.campaign_id == campaign_id,
                                                        CampaignEnrollment.exited_at.is_(None))):
        e.exited_at, e.exit_reason, e.next_at = now, "finished", None
        summary.finished += 1


def _enroll(run: _Run) -> None:
    """Everyone in the audience now and not yet in the campaign: enrolled at step 1, due now."""
    s, campaign = run.session, run.campaign
    known = set(s.scalars(select(CampaignEnrollment.email).where(CampaignEnrollment.campaign_id == campaign.id)))
    fresh = [p for p in people(s, parse_audience(campaign.audience), run.now) if p.email not in known]
    s.add_all([CampaignEnrollment(campaign_id=campaign.id, email=p.email, user_key=p.user_key,
                                  account_id=p.account_id, position=1, next_at=run.now, enrolled_at=run.now)
               for p in fresh])
    s.flush()
    run.summary.enrolled += len(fresh)


# --- goals ---------------------------------------------------------------------------------------------------


def _reached(run: _Run, e: CampaignEnrollment, at: dt.datetime) -> None:
    e.goal_reached_at = at
    run.summary.goals += 1
    if at <= e.enrolled_at + dt.timedelta(days=run.campaign.conversion_days):
        e.converted_at = at
        run.summary.conversions += 1
    _exit(run, e, "goal")


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), dt.UTC)


def _first_after(rows: Iterable[tuple[int, dt.date]], enrolled: dict[int, dt.datetime]) -> dict[int, dt.datetime]:
    """Per enrollment, when the goal was first met on or after the day it enrolled (a day's usage is one row:
    usage on the enrolling day counts, from the moment of enrolling)."""
    found: dict[int, dt.datetime] = {}
    for enrollment_id, day in rows:
        since = enrolled[enrollment_id]
        if day < since.date():
            continue
        at = max(since, _day_start(day))
        if enrollment_id not in found or at < found[enrollment_id]:
            found[enrollment_id] = at
    return found


def _sweep_goals(run: _Run) -> None:
    """Event and list goals for every open enrollment at once (a person waiting in a ``wait`` step converts
    the run after they act, not when their next step comes)."""
    goal, s = run.goal, run.session
    if goal is None or goal.kind == "field":
        return
    open_rows = s.scalars(select(CampaignEnrollment).where(CampaignEnrollment.campaign_id == run.campaign.id,
                                                           CampaignEnrollment.exited_at.is_(None))).all()
    if not open_rows:
        return
    enrolled = {e.id: e.enrolled_at for e in open_rows}
    since = min(enrolled.values()).date()
    E = CampaignEnrollment
    if goal.kind == "event":
        rows = s.execute(select(E.id, UsageDaily.day).distinct()
                         .join(ProductUser, func.lower(ProductUser.email) == E.email)
                         .join(UsageDaily, UsageDaily.user_key == ProductUser.user_key)
                         .where(E.campaign_id == run.campaign.id, E.exited_at.is_(None),
                                UsageDaily.event == goal.event, UsageDaily.day >= since)).all()
    else:
        kind = "entered" if goal.kind == "list_entered" else "left"
        rows = s.execute(select(E.id, PortfolioListEvent.day).distinct()
                         .join(PortfolioListEvent, PortfolioListEvent.account_id == E.account_id)
                         .where(E.campaign_id == run.campaign.id, E.exited_at.is_(None),
                                PortfolioListEvent.list_id == goal.list_id, PortfolioListEvent.kind == kind,
                                PortfolioListEvent.day >= since)).all()
    reached = _first_after([(int(i), d) for i, d in rows], enrolled)
    for e in open_rows:
        if e.id in reached:
            _reached(run, e, reached[e.id])


def _goal_met(run: _Run, goal: Goal, e: CampaignEnrollment) -> dt.datetime | None:
    """When this enrollment met ``goal`` (None: not yet)."""
    s = run.session
    if goal.kind == "field":
        assert goal.field is not None
        owner, name = goal.field.split(".", 1)
        if owner == "account":
            account = s.get(Account, e.account_id) if e.account_id is not None else None
            value = getattr(account, name, None) if account is not None else None
        else:
            contact = s.scalars(select(Contact).where(func.lower(Contact.email) == e.email)
                                .order_by(Contact.id)).first()
            value = getattr(contact, name, None) if contact is not None else None
        return run.now if value is not None and str(value).lower() == (goal.value or "").lower() else None
    if goal.kind == "event":
        days = s.scalars(select(UsageDaily.day).join(ProductUser, ProductUser.user_key == UsageDaily.user_key)
                         .where(func.lower(ProductUser.email) == e.email, UsageDaily.event == goal.event,
                                UsageDaily.day >= e.enrolled_at.date())).all()
    else:
        kind = "entered" if goal.kind == "list_entered" else "left"
        days = s.scalars(select(PortfolioListEvent.day).where(
            PortfolioListEvent.account_id == e.account_id, PortfolioListEvent.list_id == goal.list_id,
            PortfolioListEvent.kind == kind, PortfolioListEvent.day >= e.enrolled_at.date())).all()
    found = _first_after([(e.id, d) for d in days], {e.id: e.enrolled_at})
    return found.get(e.id)


# --- steps ---------------------------------------------------------------------------------------------------


def _consent(run: _Run, e: CampaignEnrollment) -> str | None:
    """``unsubscribed`` (from one of this enrollment's e-mails, or since enrolling) or ``suppressed`` (before)
    when the address may get none of the campaign's category."""
    row = run.chunk.suppressed.get(e.email)
    if row is None:
        return None
    created, outbox_id = row
    ours = outbox_id is not None and run.session.scalar(select(func.count(CampaignStepRun.id)).where(
        CampaignStepRun.enrollment_id == e.id, CampaignStepRun.outbox_id == outbox_id))
    return "unsubscribed" if ours or created >= e.enrolled_at else "suppressed"


def _advance(run: _Run, e: CampaignEnrollment) -> None:
    for _ in range(len(run.steps) + 2):  # branches jump forward only: a walk visits each step once at most
        if e.exited_at is not None:
            return
        if run.goal is not None and run.goal.kind == "field":  # event and list goals: swept at this moment
            at = _goal_met(run, run.goal, e)
            if at is not None:
                _reached(run, e, at)
                return
        refusal = _consent(run, e)
        if refusal is not None:
            _exit(run, e, refusal)
            return
        step = run.steps.get(e.position)
        if step is None:
            _exit(run, e, "completed")
            return
        if not _STEPS[step.kind](run, e, step):
            return


def _time_zone(run: _Run, e: CampaignEnrollment) -> Any:
    return zone(run.chunk.zones.get(e.email), run.settings.time_zone)


def _send_email(run: _Run, e: CampaignEnrollment, step: Step) -> bool:
    s, now = run.session, run.now
    if run.mail is None:
        e.next_at = now + dt.timedelta(hours=1)
        run.history(e, step, "no_mail", "no SMTP server is configured: the e-mail waits")
        return False
    tz = _time_zone(run, e)
    allowed = next_allowed(now, tz, run.settings.quiet_start, run.settings.quiet_end)
    if allowed > now:
        e.next_at = allowed
        run.history(e, step, "quiet", f"quiet hours in {tz.key}: due {allowed:%Y-%m-%d %H:%M} UTC")
        run.summary.quiet += 1
        return False
    start, end = week_bounds(now, tz)
    sent_at = run.chunk.sent_at.setdefault(e.email, [])
    sent = sum(1 for at in sent_at if start <= at < end)
    if sent >= run.settings.weekly_cap:
        e.next_at = end
        run.history(e, step, "capped", f"{sent} campaign e-mails this week (cap {run.settings.weekly_cap})")
        run.summary.capped += 1
        return False
    key = campaign_key(run.campaign.id, step.position, e.id)
    variables = run.chunk.variables.get((e.account_id, e.email)) or variables_for(s, e.account_id, e.email)
    history = run.history(e, step, "sent")  # the outbox row (or its suppression) is filled in by `_store_chunk`
    run.mails.append((history, MailRequest(key, e.email, step.template(), variables, run.campaign.category)))
    sent_at.append(now)
    run.summary.sent += 1
    e.position += 1
    return True


def _send_in_app(run: _Run, e: CampaignEnrollment, step: Step) -> bool:
    ref = campaign_key(run.campaign.id, step.position, e.id)
    if run.queue is None or not e.user_key:
        why = "the in-app package is not installed" if run.queue is None else "the person has no product user key"
        log.info("campaign %s step %s: in-app message for enrollment %s left pending (%s)", run.campaign.id,
                 step.position, e.id, why)
        run.history(e, step, "pending", why)
        run.summary.in_app_pending += 1
    else:
        c = step.config
        message_id = queue_in_app(run.queue, run.session, tenant_id=run.tenant_id, user_key=e.user_key,
                                  account_id=e.account_id, title=c["title"], body=c["body"],
                                  cta_label=c.get("cta_label"), cta_url=c.get("cta_url"),
                                  kind=c.get("in_app_kind", "banner"), ref=ref, push=bool(c.get("push")))
        run.history(e, step, "queued", f"in-app message {message_id}")
        run.summary.in_app += 1
    e.position += 1
    return True


def _wait(run: _Run, e: CampaignEnrollment, step: Step) -> bool:
    e.position += 1
    e.next_at = run.now + dt.timedelta(days=int(step.config["days"]))
    run.history(e, step, "waited", f"until {e.next_at:%Y-%m-%d %H:%M} UTC")
    run.summary.waited += 1
    return False


def _branch(run: _Run, e: CampaignEnrollment, step: Step) -> bool:
    s, c = run.session, step.config
    on = c["on"]
    if on in ("opened", "clicked"):
        outbox_ids = select(CampaignStepRun.outbox_id).where(
            CampaignStepRun.enrollment_id == e.id, CampaignStepRun.position == c["step"],
            CampaignStepRun.outbox_id.is_not(None))
        yes = s.scalar(select(func.count(MailEvent.id)).where(MailEvent.outbox_id.in_(outbox_ids),
                                                               MailEvent.kind == on)) or 0
        met = yes > 0
    elif on == "list":
        met = e.account_id is not None and s.scalar(select(func.count(PortfolioListMember.id)).where(
            PortfolioListMember.list_id == c["list_id"], PortfolioListMember.account_id == e.account_id)) != 0
    else:
        goal = parse_goal(c["goal"]) if c.get("goal") else run.goal
        met = goal is not None and _goal_met(run, goal, e) is not None
    target = int(c["then"] if met else c["else"])
    run.history(e, step, "branched", f"{on}: {'yes' if met else 'no'} → {target or 'end'}")
    run.summary.branched += 1
    if target == 0:
        _exit(run, e, "completed")
        return False
    e.position = target
    return True


def _create_task(run: _Run, e: CampaignEnrollment, step: Step) -> bool:
    e.position += 1
    if e.account_id is None:
        run.history(e, step, "skipped", "the person belongs to no account")
        return True
    account = run.session.get(Account, e.account_id)
    task = Task(account_id=e.account_id, title=str(step.config["title"])[:500],
                body=f"From campaign {run.campaign.name!r} for {e.email}.", owner=account.owner if account else None,
                due_date=run.now.date() + dt.timedelta(days=int(step.config.get("due_days", 3))),
                status="open", priority="normal", source="play",
                source_ref=campaign_key(run.campaign.id, step.position, e.id)[:100],
                assignee_user_id=account.csm_user_id if account else None)
    run.session.add(task)
    run.session.flush()
    run.history(e, step, "task", f"task {task.id}")
    run.summary.tasks += 1
    return True


_STEPS = {"send_email": _send_email, "send_in_app": _send_in_app, "wait": _wait, "branch": _branch,
          "create_task": _create_task}
"""Each step's work; True: go on to the enrollment's next step now, False: it waits or left."""
