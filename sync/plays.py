"""Plays in the store: definitions with drafts and versions, runs, and the work their steps do.

* A play is made from a template or written from scratch as a **draft**; `publish` saves the draft as
  a new numbered version (`PlayVersion`, never changed) that new runs start on. Runs keep the version
  they started on unless the publisher asks to move them (``migrate_runs``). `pause` stops starting
  and advancing runs; `turn_off` closes the running runs and their open tasks (no task left behind).
* `evaluate_in_session` (after every scoring run, on the daily schedule, and when a play is published
  or started by hand) works out every live play's firings (`plays.triggers`) as of a day, and:
  - starts a run for each firing not handled before — one running copy per play, account and reason:
    a firing whose reason is still running is kept as a **skipped** run saying why (the unique
    ``active_key`` makes a duplicate impossible even for two evaluations at once);
  - closes, for plays with ``auto_close``, the runs whose trigger cleared, with their open tasks;
  - advances every running run through its steps until a wait: tasks (`sync.tasks.create_task`, with
    the assignee `plays.assign` picks), e-mails, webhook calls, field changes. An e-mail or webhook
    that fails is tried again at the next evaluation, up to `MAX_ATTEMPTS`, then the run fails.
  Each run keeps a log (queued, running, waiting, done, closed, skipped, failed — with why).
* `preview` is the same evaluation without writing: which accounts would start now (and which would
  be skipped, and why), with the tasks their first steps would create and for whom.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from plays import (
    AccountPeople,
    Assigner,
    Departure,
    Firing,
    Membership,
    Person,
    PlayDefinition,
    PlayError,
    RaisedAlert,
    Step,
    TriggerInputs,
    firings,
    load_definition,
    render,
    still_holds,
)
from store.audit import record_audit
from store.models import (
    NO_RENEWAL,
    Account,
    Alert,
    Play,
    PlayRun,
    PlayVersion,
    PortfolioList,
    PortfolioListEvent,
    PortfolioListMember,
    SourceLink,
    Task,
    User,
)
from store.scoping import current_tenant
from store.types import utcnow
from sync.owners import choose_owner
from sync.tasks import complete_task, create_task
from worklists import AccountFacts
from worklists import evaluate as evaluate_list

log = logging.getLogger("canary.plays")

MAX_ATTEMPTS = 3
WEBHOOK_TIMEOUT = 10.0
HELPDESKS = ("zendesk",)

Mailer = Callable[[str, str, str], None]
"""(to, subject, body): sends one e-mail or raises (tests; production queues through `MailQueue`)."""
MailQueue = Callable[[Session, str, str, str, str], bool]
"""(the run's session, idempotency key, to, subject, body): queues one e-mail in the run's transaction (the
outbox: asked again with the same key, it queues nothing new); False when no mail server is configured."""
Poster = Callable[[str, Mapping[str, Any], Mapping[str, str]], int]
"""(url, JSON body, headers) → the HTTP status; raises when there is no answer."""


def post_json(url: str, body: Mapping[str, Any], headers: Mapping[str, str]) -> int:
    return requests.post(url, json=dict(body), headers=dict(headers), timeout=WEBHOOK_TIMEOUT,
                         allow_redirects=False).status_code


@dataclass
class Effects:
    """How steps reach the outside world (tests and the CLI choose)."""

    mailer: Mailer | None = None
    """None: no mail server configured — an e-mail step is logged as not sent and the run goes on."""
    queue: MailQueue | None = None
    """Set: e-mail steps go to the outbox (key ``play:<play>:run:<run>:step:<n>``) instead of ``mailer``."""
    post: Poster = post_json


class PlayStateError(ValueError):
    """The play cannot do that in its state (publish without a draft, start a paused play...)."""


@dataclass
class PlaysSummary:
    plays: int = 0
    started: Counter[str] = field(default_factory=Counter)
    """Play name → runs started."""
    skipped: int = 0
    closed: int = 0
    done: int = 0
    failed: int = 0
    tasks_created: int = 0
    tasks_closed: int = 0
    emails_sent: int = 0
    webhooks_called: int = 0
    fields_set: int = 0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"plays": self.plays, "started": dict(sorted(self.started.items())), "skipped": self.skipped,
                "closed": self.closed, "done": self.done, "failed": self.failed,
                "tasks_created": self.tasks_created, "tasks_closed": self.tasks_closed,
                "emails_sent": self.emails_sent, "webhooks_called": self.webhooks_called,
                "fields_set": self.fields_set, "problems": list(self.problems)}


# --- definitions --------------------------------------------------------------------------------------


def create_play(session: Session, definition: PlayDefinition, actor: str, actor_user_id: int | None = None,
                *, template: str | None = None) -> Play:
    """A new draft play (not running until published)."""
    key = template if template and session.scalar(select(Play.id).where(Play.key == template)) is None else None
    play = Play(key=key, template=template, name=definition.name, state="draft", draft=definition.as_dict(),
                created_by_user_id=actor_user_id, assign_state={})
    session.add(play)
    session.flush()
    record_audit(session, actor, "play.created", f"play {play.id}", actor_user_id, name=play.name,
                 template=template)
    return play


def create_from_template(session: Session, key: str, actor: str, actor_user_id: int | None = None) -> Play:
    from plays import template

    return create_play(session, template(key), actor, actor_user_id, template=key)


def version_definition(session: Session, play_id: int, version: int) -> PlayDefinition:
    row = session.scalar(select(PlayVersion).where(PlayVersion.play_id == play_id, PlayVersion.version == version))
    if row is None:
        raise PlayError([f"(document): play {play_id} has no version {version}"])
    return load_definition(row.definition)


def published_definition(session: Session, play: Play) -> PlayDefinition | None:
    return version_definition(session, play.id, play.version) if play.version else None


def editing_definition(session: Session, play: Play) -> PlayDefinition:
    """What the editor shows: the draft, else the published version."""
    if play.draft is not None:
        return load_definition(play.draft)
    published = published_definition(session, play)
    if published is None:
        raise PlayError(["(document): the play has neither a draft nor a published version"])
    return published


def save_draft(session: Session, play: Play, definition: PlayDefinition, actor: str,
               actor_user_id: int | None = None) -> None:
    """Keep edits as the draft; runs and new starts still use the published version until `publish`."""
    if play.state == "off":
        raise PlayStateError("the play is turned off; turn it on again before editing it")
    play.draft = definition.as_dict()
    play.name = definition.name if play.version is None else play.name
    record_audit(session, actor, "play.draft_saved", f"play {play.id}", actor_user_id, name=definition.name)


def publish(session: Session, play: Play, actor: str, actor_user_id: int | None, as_of: dt.date, *,
            migrate_runs: bool = False) -> int:
    """Publish the draft as the next version; the play goes live. Returns the new version number."""
    if play.draft is None:
        raise PlayStateError("nothing to publish: the play has no unpublished changes")
    definition = load_definition(play.draft)
    version = (play.version or 0) + 1
    session.add(PlayVersion(play_id=play.id, version=version, definition=definition.as_dict(),
                            author_user_id=actor_user_id, author=actor))
    moved = 0
    if migrate_runs and play.version is not None:
        for run in session.scalars(select(PlayRun).where(PlayRun.play_id == play.id,
                                                         PlayRun.active_key.is_not(None))):
            run.version = version
            run.step = min(run.step, len(definition.steps))
            _log(run, as_of, run.state, f"moved to version {version} by {actor}")
            moved += 1
    play.version, play.name, play.draft = version, definition.name, None
    play.state = "live" if play.state in ("draft", "live", "off") else play.state
    play.published_on = play.published_on or as_of
    record_audit(session, actor, "play.published", f"play {play.id}", actor_user_id, name=play.name,
                 version=version, runs_moved=moved)
    return version


def pause(session: Session, play: Play, actor: str, actor_user_id: int | None = None) -> None:
    if play.state != "live":
        raise PlayStateError(f"only a live play can be paused (this one is {play.state})")
    play.state = "paused"
    record_audit(session, actor, "play.paused", f"play {play.id}", actor_user_id, name=play.name)


def resume(session: Session, play: Play, actor: str, actor_user_id: int | None = None) -> None:
    if play.state not in ("paused", "off") or play.version is None:
        raise PlayStateError(f"only a paused or turned-off published play can be resumed (this one is {play.state})")
    play.state = "live"
    record_audit(session, actor, "play.resumed", f"play {play.id}", actor_user_id, name=play.name)


def turn_off(session: Session, play: Play, actor: str, actor_user_id: int | None, as_of: dt.date) -> tuple[int, int]:
    """Stop the play: its running runs close and their open tasks with them. Returns (runs, tasks) closed."""
    runs = list(session.scalars(select(PlayRun).where(PlayRun.play_id == play.id, PlayRun.active_key.is_not(None))))
    tasks = sum(_close_run(session, run, play.name, as_of, f"play turned off by {actor}") for run in runs)
    play.state = "off"
    record_audit(session, actor, "play.turned_off", f"play {play.id}", actor_user_id, name=play.name,
                 runs_closed=len(runs), tasks_closed=tasks)
    return len(runs), tasks


# --- runs ---------------------------------------------------------------------------------------------


def _entry(day: dt.date, state: str, message: str) -> dict[str, str]:
    return {"at": utcnow().isoformat(timespec="seconds"), "day": day.isoformat(), "state": state, "message": message}


def _log(run: PlayRun, day: dt.date, state: str, message: str) -> None:
    run.why = message
    run.log = [*(run.log or []), _entry(day, state, message)]


def _end(run: PlayRun, state: str, day: dt.date, message: str) -> None:
    run.state, run.active_key, run.ended_at, run.resume_on = state, None, utcnow(), None
    _log(run, day, state, message)


def _close_run(session: Session, run: PlayRun, play_name: str, day: dt.date, why: str) -> int:
    closed = 0
    for task in session.scalars(select(Task).where(Task.play_run_id == run.id, Task.status == "open")):
        complete_task(task)
        task.closed_reason = f"Closed by play “{play_name}”: {why}"
        closed += 1
    _end(run, "closed", day, f"closed: {why}" + (f"; {closed} open task(s) closed" if closed else ""))
    return closed


def active_key(play_id: int, account_id: int, reason: str) -> str:
    return f"{play_id}:{account_id}:{reason}"


class _World:
    """What an evaluation reads, loaded once and only when a play needs it."""

    def __init__(self, session: Session, as_of: dt.date, only: Sequence[int] | None = None) -> None:
        self.session, self.as_of, self.only = session, as_of, only
        self._facts: dict[int, AccountFacts] | None = None
        self._people: dict[int, Person] | None = None
        self._accounts: dict[int, tuple[str, int | None, str | None, dt.date | None]] | None = None
        self._roles: dict[int, dict[str, str]] | None = None
        self.open_tasks: dict[int, int] = {}
        self.accounts_per_csm: dict[int, int] = {}
        self._lists: dict[str, PortfolioList | None] = {}

    def facts(self) -> dict[int, AccountFacts]:
        if self._facts is None:
            from sync.lists import load_facts

            self._facts = {f.account_id: f for f in load_facts(self.session, self.as_of, account_ids=self.only)}
        return self._facts

    def audience(self, definition: PlayDefinition) -> set[int] | None:
        if definition.audience is None:
            return None
        from sync.lists import load_facts

        needed = definition.audience
        facts: Iterable[AccountFacts] = (
            load_facts(self.session, self.as_of, needed.measures, needed.change_days, account_ids=self.only)
            if needed.measures or needed.change_days else self.facts().values())
        return {m.account_id for m in evaluate_list(needed, facts, self.as_of)}

    def find_list(self, ref: str) -> PortfolioList | None:
        if ref not in self._lists:
            row = self.session.scalar(select(PortfolioList).where(PortfolioList.key == ref))
            if row is None and ref.isdigit():
                row = self.session.get(PortfolioList, int(ref))
            self._lists[ref] = row
        return self._lists[ref]

    def inputs(self, definition: PlayDefinition, since: dt.date | None) -> TriggerInputs:
        trigger = definition.trigger
        if trigger.type in ("list_entered", "list_left"):
            row = self.find_list(trigger.list or "")
            if row is None:
                raise PlayError([f"trigger.list: no list {trigger.list!r} in this workspace"])
            members = {r.account_id: Membership(r.entered_on, tuple(r.reasons or ())) for r in self.session.execute(
                select(PortfolioListMember.account_id, PortfolioListMember.entered_on, PortfolioListMember.reasons)
                .where(PortfolioListMember.list_id == row.id))}
            first = min(since or self.as_of, self.as_of - dt.timedelta(days=90))
            departures: dict[int, Departure] = {}
            for account_id, day, reasons in self.session.execute(
                    select(PortfolioListEvent.account_id, PortfolioListEvent.day, PortfolioListEvent.reasons)
                    .where(PortfolioListEvent.list_id == row.id, PortfolioListEvent.kind == "left",
                           PortfolioListEvent.day >= first).order_by(PortfolioListEvent.id)):
                if account_id not in members:
                    departures[account_id] = Departure(day, tuple(reasons or ()))
            return TriggerInputs(list_name=row.name, members=members, departures=departures)
        if trigger.type == "alert":
            alerts: dict[int, RaisedAlert] = {}
            for alert_id, account_id, raised_at, reasons in self.session.execute(
                    select(Alert.id, Alert.account_id, Alert.raised_at, Alert.reasons)
                    .where(Alert.rule == trigger.rule, Alert.status == "open").order_by(Alert.id)):
                alerts[account_id] = RaisedAlert(alert_id, raised_at.date(), tuple(reasons or ()))
            return TriggerInputs(alerts=alerts)
        if trigger.type in ("date", "anniversary"):
            return TriggerInputs(facts=self.facts())
        return TriggerInputs()

    # people and accounts, for assignment and texts

    def people(self) -> dict[int, Person]:
        if self._people is None:
            self._people = {u.id: Person(u.id, u.email, u.role, u.active, u.manager_id) for u in self.session.execute(
                select(User.id, User.email, User.role, User.active, User.manager_id))}
            for user_id, n in self.session.execute(
                    select(Task.assignee_user_id, func.count()).where(Task.status == "open",
                                                                      Task.assignee_user_id.is_not(None))
                    .group_by(Task.assignee_user_id)):
                if user_id is not None:
                    self.open_tasks[user_id] = n
            for user_id, n in self.session.execute(
                    select(Account.csm_user_id, func.count()).where(Account.csm_user_id.is_not(None))
                    .group_by(Account.csm_user_id)):
                if user_id is not None:
                    self.accounts_per_csm[user_id] = n
        return self._people

    def account(self, account_id: int) -> tuple[str, int | None, str | None, dt.date | None]:
        """(name, CSM user id, owner e-mail, next renewal)."""
        if self._accounts is None:
            self._accounts = {}
            for a in self.session.execute(select(Account.id, Account.name, Account.csm_user_id, Account.owner,
                                                 Account.renewal_key)):
                renewal = a.renewal_key if a.renewal_key not in (None, NO_RENEWAL) else None
                self._accounts[a.id] = (a.name, a.csm_user_id, a.owner, renewal)
        return self._accounts.get(account_id, (f"account {account_id}", None, None, None))

    def account_people(self, account_id: int) -> AccountPeople:
        if self._roles is None:
            named: dict[int, dict[str, str]] = defaultdict(dict)
            for acc, system, owner in self.session.execute(
                    select(SourceLink.account_id, SourceLink.system, SourceLink.owner)
                    .where(SourceLink.account_id.is_not(None), SourceLink.owner.is_not(None))
                    .order_by(SourceLink.system, SourceLink.external_id)):
                if acc is not None and owner is not None:
                    named[acc].setdefault(system, owner)
            self._roles = {}
            for acc, systems in named.items():
                roles: dict[str, str] = {}
                crm = choose_owner({s: o for s, o in systems.items() if s not in HELPDESKS})
                if crm:
                    roles["crm_owner"] = crm
                support = next((systems[s] for s in HELPDESKS if systems.get(s)), None)
                if support:
                    roles["support_owner"] = support
                self._roles[acc] = roles
        _, csm, owner, _ = self.account(account_id)
        return AccountPeople(account_id, csm, owner, self._roles.get(account_id, {}))

    def assigner(self, play: Play) -> Assigner:
        return Assigner(self.people(), self.open_tasks, self.accounts_per_csm, dict(play.assign_state or {}))

    def placeholders(self, play_name: str, run: PlayRun) -> dict[str, str]:
        name, _, owner, renewal = self.account(run.account_id)
        return {"account": name, "reasons": "\n".join(str(r) for r in run.trigger_reasons or ()),
                "play": play_name, "owner": owner or "", "renewal_date": renewal.isoformat() if renewal else "",
                "trigger_day": run.started_on.isoformat()}


def _since(play: Play, definition: PlayDefinition) -> dt.date | None:
    trigger = definition.trigger
    if trigger.type in ("list_entered", "alert") and trigger.include_current:
        return None
    return play.published_on


def _fired(world: _World, play: Play, definition: PlayDefinition) -> tuple[list[Firing], TriggerInputs]:
    since = _since(play, definition)
    inputs = world.inputs(definition, since)
    fired = firings(definition.trigger, inputs, world.as_of, since)
    allowed = world.audience(definition)
    if allowed is not None:
        fired = [f for f in fired if f.account_id in allowed]
    if world.only is not None:
        some = set(world.only)
        fired = [f for f in fired if f.account_id in some]
    return fired, inputs


@dataclass(frozen=True, slots=True)
class _Active:
    """A running run, as far as starting another needs it (read as columns: no ORM object per run)."""

    id: int | None
    started_on: dt.date


def _known(session: Session, play_id: int
           ) -> tuple[set[tuple[int, str, str]], dict[tuple[int, str], PlayRun | _Active]]:
    handled = {(a, r, e) for a, r, e in session.execute(
        select(PlayRun.account_id, PlayRun.reason, PlayRun.episode).where(PlayRun.play_id == play_id))}
    active: dict[tuple[int, str], PlayRun | _Active] = {
        (a, r): _Active(i, started_on) for a, r, i, started_on in session.execute(
            select(PlayRun.account_id, PlayRun.reason, PlayRun.id, PlayRun.started_on)
            .where(PlayRun.play_id == play_id, PlayRun.active_key.is_not(None)))}
    return handled, active


def _start(session: Session, play: Play, fired: Sequence[Firing], day: dt.date, summary: PlaysSummary,
           started_by: str | None = None) -> list[int]:
    """Write a run for each firing not handled before — queued, or skipped when one for its reason is still
    running — in one bulk INSERT; returns the ids of the queued ones."""
    handled, active = _known(session, play.id)
    assert play.version is not None
    tenant_id = current_tenant(session)
    rows: list[dict[str, Any]] = []
    queued: list[int] = []
    """Positions in `rows` of the runs queued."""
    for f in fired:
        if (f.account_id, f.reason, f.episode) in handled:
            continue
        handled.add((f.account_id, f.reason, f.episode))
        running = active.get((f.account_id, f.reason))
        key: str | None = None
        if running is not None:
            state, message = "skipped", f"already running since {running.started_on} (run {running.id})"
            summary.skipped += 1
        else:
            state, message = "queued", "; ".join(f.reasons[:3]) or "started"
            key = active_key(play.id, f.account_id, f.reason)
            active[(f.account_id, f.reason)] = _Active(None, day)  # no id until written (as before: "run None")
            summary.started[play.name] += 1
            queued.append(len(rows))
        rows.append({"tenant_id": tenant_id, "play_id": play.id, "version": play.version, "account_id": f.account_id,
                     "reason": f.reason, "episode": f.episode, "trigger_reasons": list(f.reasons), "step": 0,
                     "attempts": 0, "started_on": day, "started_by": started_by, "state": state, "active_key": key,
                     "why": message, "log": [_entry(day, state, message)]})
    session.flush()
    if not rows:
        return []
    ids = list(session.scalars(insert(PlayRun).returning(PlayRun.id, sort_by_parameter_order=True), rows))
    return [ids[i] for i in queued]


def _auto_close(session: Session, world: _World, play: Play, definitions: dict[int, PlayDefinition],
                inputs: TriggerInputs, summary: PlaysSummary) -> None:
    cleared: dict[int, str] = {}
    query = select(PlayRun.id, PlayRun.version, PlayRun.reason, PlayRun.account_id, PlayRun.episode).where(
        PlayRun.play_id == play.id, PlayRun.active_key.is_not(None))
    if world.only is not None:
        query = query.where(PlayRun.account_id.in_(world.only))
    for run_id, version, reason, account_id, episode in session.execute(query):
        definition = definitions.get(version)
        if definition is None:
            definitions[version] = definition = version_definition(session, play.id, version)
        if not definition.auto_close or definition.trigger.reason != reason:
            continue
        holds, why = still_holds(definition.trigger, account_id, episode, inputs)
        if not holds:
            cleared[run_id] = why
    for run in _runs(session, cleared):
        summary.tasks_closed += _close_run(session, run, play.name, world.as_of, f"trigger cleared: {cleared[run.id]}")
        summary.closed += 1


def _runs(session: Session, run_ids: Iterable[int]) -> list[PlayRun]:
    """The runs `run_ids` as ORM objects, in id order, loaded a chunk at a time."""
    ids = sorted(run_ids)
    out: list[PlayRun] = []
    for start in range(0, len(ids), 500):
        out += session.scalars(select(PlayRun).where(PlayRun.id.in_(ids[start:start + 500])).order_by(PlayRun.id))
    return out


# --- steps --------------------------------------------------------------------------------------------


class _Runner:
    def __init__(self, session: Session, world: _World, effects: Effects, summary: PlaysSummary) -> None:
        self.session, self.world, self.effects, self.summary = session, world, effects, summary
        self.assigners: dict[int, Assigner] = {}
        self.latest_task: dict[int, tuple[int, str, str | None]] = {}
        """Run id → (task id, status, owner e-mail) of its latest task."""

    def load_latest_tasks(self, run_ids: Sequence[int]) -> None:
        """Each run's latest task (highest id). The runs' few tasks are read plainly and the latest picked
        here: a grouped self-join planned on stale statistics (a tasks table that just grew) can be a
        nested loop over every task for each run."""
        ids = list(run_ids)
        latest: dict[int, tuple[int, str, str | None]] = {}
        for start in range(0, len(ids), 500):
            for run_id, task_id, status, owner in self.session.execute(
                    select(Task.play_run_id, Task.id, Task.status, Task.owner)
                    .where(Task.play_run_id.in_(ids[start:start + 500]))):
                if run_id is not None and (run_id not in latest or task_id > latest[run_id][0]):
                    latest[run_id] = (task_id, status, owner)
        self.latest_task.update(latest)

    def assigner(self, play: Play) -> Assigner:
        if play.id not in self.assigners:
            self.assigners[play.id] = self.world.assigner(play)
        return self.assigners[play.id]

    def stays(self, run_id: int, state: str, step: int, wait_task_id: int | None, why: str,
              definition: PlayDefinition) -> bool:
        """Whether `advance` would leave the run exactly as it is: running, waiting for its latest task,
        which is still open, and saying so already (most running runs on most days). Such runs are not
        loaded at all."""
        if state != "running" or step >= len(definition.steps):
            return False
        current = definition.steps[step]
        if current.type != "wait" or current.days is not None:
            return False
        latest = self.latest_task.get(run_id)
        return (latest is not None and latest[1] == "open" and (not latest[0] or latest[0] == wait_task_id)
                and why.startswith("waiting for"))

    def advance(self, play: Play, run: PlayRun, definition: PlayDefinition) -> None:
        day = self.world.as_of
        if run.state == "queued":
            run.state = "running"
            _log(run, day, "running", f"started on version {run.version}")
        created_now = False
        steps = definition.steps
        while run.step < len(steps):
            step = steps[run.step]
            if step.type == "wait":
                if step.days is not None:
                    if run.resume_on is None:
                        run.resume_on = day + dt.timedelta(days=step.days)
                        _log(run, day, "running", f"waiting {step.days} day(s), until {run.resume_on}")
                    if day < run.resume_on:
                        return
                    run.resume_on = None
                else:
                    latest = self.latest_task.get(run.id)
                    if created_now or (latest is not None and latest[1] == "open"):
                        if latest is not None and latest[0]:
                            run.wait_task_id = latest[0]
                        if not run.why.startswith("waiting for"):
                            _log(run, day, "running", "waiting for the previous task to be done")
                        return
                run.step += 1
                continue
            ok, message = self.execute(play, run, step)
            if step.type == "task" and ok:
                created_now = True
            if not ok:
                run.attempts += 1
                if run.attempts >= MAX_ATTEMPTS:
                    _end(run, "failed", day, f"step {run.step + 1} failed {run.attempts} times: {message}")
                    self.summary.failed += 1
                else:
                    _log(run, day, "running", f"step {run.step + 1} failed (attempt {run.attempts} of "
                                              f"{MAX_ATTEMPTS}, tried again at the next run): {message}")
                return
            run.attempts = 0
            run.step += 1
            _log(run, day, "running", f"step {run.step}: {message}")
        _end(run, "done", day, f"done: all {len(steps)} step(s) ran")
        self.summary.done += 1

    def execute(self, play: Play, run: PlayRun, step: Step) -> tuple[bool, str]:
        values = self.world.placeholders(play.name, run)
        day = self.world.as_of
        if step.type == "task":
            assignment = self.assigner(play).choose(step.assign, self.world.account_people(run.account_id))
            task = create_task(self.session, run.account_id, render(step.subject, values)[:500],
                               body=render(step.description, values) or None,
                               due_date=day + dt.timedelta(days=step.due_days), priority=step.priority,
                               source="play", source_ref=f"play:{play.id}", assignee_user_id=assignment.user_id,
                               owner=assignment.owner_email, play_run_id=run.id)
            self.latest_task[run.id] = (0, "open", assignment.owner_email)
            self.summary.tasks_created += 1
            return True, (f"task “{task.title}” due {task.due_date} for {assignment.owner_email or 'nobody'} "
                          f"({assignment.why})")
        if step.type == "email":
            to = self._recipient(run, step.to)
            if not to:
                return True, f"e-mail not sent: nobody to send it to ({step.to})"
            if self.effects.queue is not None:
                key = f"play:{play.id}:run:{run.id}:step:{run.step + 1}"
                try:
                    queued = self.effects.queue(self.session, key, to, render(step.subject, values),
                                                render(step.description, values))
                except Exception as exc:  # a bad address: the step fails like a refused send
                    log.warning("play %s run %s: e-mail to %s not queued: %s", play.id, run.id, to, exc)
                    return False, f"e-mail to {to} not queued: {exc}"
                if not queued:
                    return True, f"e-mail to {to} not sent: no mail server is configured"
                self.summary.emails_sent += 1
                return True, f"e-mail to {to} queued"
            if self.effects.mailer is None:
                return True, f"e-mail to {to} not sent: no mail server is configured"
            try:
                self.effects.mailer(to, render(step.subject, values), render(step.description, values))
            except Exception as exc:
                log.warning("play %s run %s: e-mail to %s failed: %s", play.id, run.id, to, exc)
                return False, f"e-mail to {to} failed: {type(exc).__name__}"
            self.summary.emails_sent += 1
            return True, f"e-mailed {to}"
        if step.type == "webhook":
            name, _, owner, _ = self.world.account(run.account_id)
            body = {"event": "play.step", "day": day.isoformat(),
                    "play": {"id": play.id, "name": play.name, "version": run.version},
                    "run": {"id": run.id, "reason": run.reason, "episode": run.episode, "step": run.step + 1},
                    "account": {"id": run.account_id, "name": name, "owner": owner},
                    "reasons": list(run.trigger_reasons or ())}
            headers = {"Canary-Delivery": f"play-run-{run.id}-step-{run.step + 1}", "User-Agent": "Canary-Plays/1"}
            try:
                status = self.effects.post(step.url or "", body, headers)
            except Exception as exc:
                return False, f"webhook call failed: {type(exc).__name__}"
            if not 200 <= status < 300:
                return False, f"webhook answered {status}"
            self.summary.webhooks_called += 1
            return True, f"webhook answered {status}"
        with self.session.no_autoflush:  # by primary key: pending rows cannot change the answer
            account = self.session.get(Account, run.account_id)
        if account is None:
            return True, "field not set: the account is gone"
        column = (step.field or "").split(".", 1)[1]
        before = getattr(account, column)
        setattr(account, column, step.value)
        record_audit(self.session, f"play {play.name}", "account.field_set", f"account {account.id}",
                     field=step.field, before=before, after=step.value, run=run.id)
        self.summary.fields_set += 1
        return True, f"set {step.field} to “{step.value}” (was “{before or ''}”)"

    def _recipient(self, run: PlayRun, to: str) -> str | None:
        if "@" in to:
            return to
        _, csm, owner, _ = self.world.account(run.account_id)
        people = self.world.people()
        if to == "owner":
            person = people.get(csm) if csm is not None else None
            return person.email if person is not None and person.active else owner
        if to == "owner_manager":
            person = people.get(csm) if csm is not None else None
            manager = people.get(person.manager_id) if person is not None and person.manager_id else None
            return manager.email if manager is not None and manager.active else None
        latest = self.latest_task.get(run.id)
        return latest[2] if latest else None


# --- evaluation ---------------------------------------------------------------------------------------


def evaluate_plays(store: Any, tenant_id: int, as_of: dt.date, *, play_ids: Iterable[int] | None = None,
                   effects: Effects | None = None, account_ids: Iterable[int] | None = None) -> PlaysSummary:
    """Evaluate the workspace's live plays as of `as_of` and do what their runs' steps say
    (``account_ids``: for those accounts only — a real-time change)."""
    with store.session(tenant_id) as session:
        return evaluate_in_session(session, as_of, play_ids=play_ids, effects=effects, account_ids=account_ids)


def evaluate_in_session(session: Session, as_of: dt.date, *, play_ids: Iterable[int] | None = None,
                        effects: Effects | None = None, account_ids: Iterable[int] | None = None) -> PlaysSummary:
    if current_tenant(session) is None:
        raise ValueError("plays are evaluated in a tenant's session")
    summary = PlaysSummary()
    query = select(Play).where(Play.state == "live").order_by(Play.id)
    if play_ids is not None:
        query = query.where(Play.id.in_(list(play_ids)))
    plays = list(session.scalars(query))
    world = _World(session, as_of, sorted(set(account_ids)) if account_ids is not None else None)
    runner = _Runner(session, world, effects or Effects(), summary)
    definitions: dict[int, dict[int, PlayDefinition]] = {}
    for play in plays:
        try:
            definition = published_definition(session, play)
            assert definition is not None and play.version is not None
            definitions[play.id] = {play.version: definition}
            fired, inputs = _fired(world, play, definition)
        except PlayError as exc:
            summary.problems.append(f"{play.name}: {'; '.join(exc.errors)}")
            log.warning("play %s (%s) not evaluated: %s", play.id, play.name, exc)
            continue
        summary.plays += 1
        _auto_close(session, world, play, definitions[play.id], inputs, summary)
        _start(session, play, fired, as_of, summary)
        if world.only is None:
            play.evaluated_on = as_of
    _advance_all(session, runner, [p for p in plays if p.id in definitions], definitions)
    return summary


def _advance_all(session: Session, runner: _Runner, plays: Sequence[Play],
                 definitions: dict[int, dict[int, PlayDefinition]], run_ids: Iterable[int] | None = None) -> None:
    by_id = {p.id: p for p in plays}
    if not by_id:
        return
    query = select(PlayRun.id, PlayRun.play_id, PlayRun.version, PlayRun.state, PlayRun.step, PlayRun.wait_task_id,
                   PlayRun.why).where(PlayRun.play_id.in_(list(by_id)), PlayRun.active_key.is_not(None),
                                      (PlayRun.resume_on.is_(None)) | (PlayRun.resume_on <= runner.world.as_of))
    if run_ids is not None:
        query = query.where(PlayRun.id.in_(list(run_ids)))
    if runner.world.only is not None:
        query = query.where(PlayRun.account_id.in_(runner.world.only))
    due = session.execute(query.order_by(PlayRun.id)).all()
    runner.load_latest_tasks([r.id for r in due])
    moving: list[int] = []
    for r in due:
        known = definitions.setdefault(r.play_id, {})
        if r.version not in known:
            known[r.version] = version_definition(session, r.play_id, r.version)
        if not runner.stays(r.id, r.state, r.step, r.wait_task_id, r.why, known[r.version]):
            moving.append(r.id)
    for run in _runs(session, moving):
        runner.advance(by_id[run.play_id], run, definitions[run.play_id][run.version])
    for play in plays:
        assigner = runner.assigners.get(play.id)
        if assigner is not None and assigner.round_robin != (play.assign_state or {}):
            play.assign_state = dict(assigner.round_robin)


def after_scoring(store: Any, tenant_id: int, day: dt.date, *, effects: Effects | None = None,
                  account_ids: Iterable[int] | None = None) -> tuple[Any, PlaysSummary]:
    """What follows every scoring (a run, a job, a real-time change): the portfolio lists, then the plays —
    of the whole workspace, or of ``account_ids`` only. Returns (lists summary, plays summary)."""
    from sync.collection import fewer_collections
    from sync.lists import evaluate_lists

    some = sorted(set(account_ids)) if account_ids is not None else None
    with fewer_collections():
        lists = evaluate_lists(store, tenant_id, day, account_ids=some)
        return lists, evaluate_plays(store, tenant_id, day, effects=effects, account_ids=some)


def start_by_hand(session: Session, play: Play, account_ids: Iterable[int], actor: str,
                  actor_user_id: int | None, as_of: dt.date, *, effects: Effects | None = None) -> PlaysSummary:
    """Start a live play on accounts by hand (any trigger): one running copy per account for reason
    ``manual``; an account already running it by hand is skipped, saying since when."""
    if play.state != "live" or play.version is None:
        raise PlayStateError(f"only a live play can be started (this one is {play.state})")
    summary = PlaysSummary(plays=1)
    stamp = utcnow().isoformat(timespec="microseconds")
    ids = sorted(set(account_ids))
    known = set(session.scalars(select(Account.id).where(Account.id.in_(ids))))
    missing = [i for i in ids if i not in known]
    if missing:
        raise ValueError(f"no such account in this workspace: {', '.join(map(str, missing[:5]))}")
    fired = [Firing(i, "manual", f"manual-{stamp}", (f"Started by hand by {actor}",)) for i in ids]
    new = _start(session, play, fired, as_of, summary, started_by=actor)
    record_audit(session, actor, "play.started_by_hand", f"play {play.id}", actor_user_id, name=play.name,
                 accounts=len(ids), started=len(new), skipped=summary.skipped)
    world = _World(session, as_of)
    runner = _Runner(session, world, effects or Effects(), summary)
    _advance_all(session, runner, [play], {}, run_ids=new)
    return summary


# --- preview ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewTask:
    subject: str
    assignee: str | None
    due: dt.date
    priority: str
    why: str


@dataclass(frozen=True)
class PreviewRow:
    account_id: int
    account: str
    action: str
    """start | skip."""
    why: str
    reasons: tuple[str, ...]
    tasks: tuple[PreviewTask, ...] = ()
    later: tuple[str, ...] = ()
    """The steps after the first wait, in words."""


@dataclass
class Preview:
    as_of: dt.date
    starts: int = 0
    skips: int = 0
    tasks: int = 0
    rows: list[PreviewRow] = field(default_factory=list)
    problem: str | None = None


def preview(session: Session, play: Play, definition: PlayDefinition, as_of: dt.date, *, limit: int = 200) -> Preview:
    """A dry run of `definition` for `play` as of `as_of`: who would start, who would be skipped and why,
    and the tasks the first steps would create (up to the first wait). Writes nothing."""
    out = Preview(as_of)
    world = _World(session, as_of)
    shadow = Play(id=play.id, name=definition.name, published_on=play.published_on or as_of,
                  assign_state=dict(play.assign_state or {}))
    try:
        fired, _ = _fired(world, shadow, definition)
    except PlayError as exc:
        out.problem = "; ".join(exc.errors)
        return out
    handled, active = _known(session, play.id) if play.id else (set(), {})
    assigner = world.assigner(shadow)
    assigner.open_tasks = dict(world.open_tasks)
    first: list[Step] = []
    for step in definition.steps:
        if step.type == "wait":
            break
        first.append(step)
    later = tuple(s.summary() for s in definition.steps[len(first):])
    for f in fired:
        if (f.account_id, f.reason, f.episode) in handled:
            continue
        name = world.account(f.account_id)[0]
        running = active.get((f.account_id, f.reason))
        if running is not None:
            out.skips += 1
            if len(out.rows) < limit:
                out.rows.append(PreviewRow(f.account_id, name, "skip", f"already running since {running.started_on}",
                                           f.reasons))
            continue
        out.starts += 1
        tasks = []
        for step in first:
            if step.type != "task":
                continue
            a = assigner.choose(step.assign, world.account_people(f.account_id))
            values = {"account": name, "reasons": "\n".join(f.reasons), "play": definition.name,
                      "owner": world.account(f.account_id)[2] or "", "trigger_day": as_of.isoformat(),
                      "renewal_date": (r.isoformat() if (r := world.account(f.account_id)[3]) else "")}
            tasks.append(PreviewTask(render(step.subject, values), a.owner_email,
                                     as_of + dt.timedelta(days=step.due_days), step.priority, a.why))
        out.tasks += len(tasks)
        if len(out.rows) < limit:
            others = tuple(s.summary() for s in first if s.type != "task")
            out.rows.append(PreviewRow(f.account_id, name, "start", "would start", f.reasons, tuple(tasks),
                                       others + later))
    return out


# --- reading runs -------------------------------------------------------------------------------------


def runs_of_account(session: Session, account_id: int, limit: int = 50) -> list[tuple[PlayRun, str]]:
    """The account's play runs, newest first, with their play's name (the per-account run log)."""
    return [(run, name) for run, name in session.execute(
        select(PlayRun, Play.name).join(Play, Play.id == PlayRun.play_id).where(PlayRun.account_id == account_id)
        .order_by(PlayRun.id.desc()).limit(limit))]


def run_counts(session: Session) -> dict[int, dict[str, int]]:
    """Play id → runs by state."""
    out: dict[int, dict[str, int]] = defaultdict(dict)
    for play_id, state, n in session.execute(select(PlayRun.play_id, PlayRun.state, func.count())
                                             .group_by(PlayRun.play_id, PlayRun.state)):
        out[play_id][state] = n
    return dict(out)
