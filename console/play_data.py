"""Plays as the console reads them: the index with runs and open tasks, one play's runs (filtered, paged),
its versions, the accounts a user may start it on, triggers and audiences in words, and editor errors
placed on the line of the YAML they are about.

Read-only, in the signed-in user's tenant-scoped session; every change goes through `sync.plays`
(which audits it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from console.auth import SignedIn
from console.lists import scope_condition
from plays import PlayDefinition, Trigger
from plays.definition import DATE_FIELDS
from store.models import RUN_STATES, Account, Play, PlayRun, PlayVersion, PortfolioList, Task, User
from sync.plays import run_counts
from worklists.definition import Condition, field_label

RUNS_PAGE = 50
ACCOUNT_CHOICES = 25
MANAGING_ROLES = ("admin", "manager")
STATE_LABELS = {"draft": "Draft", "live": "Live", "paused": "Paused", "off": "Off"}
RUN_LABELS = {"queued": "Queued", "running": "Running", "done": "Done", "closed": "Closed", "skipped": "Skipped",
              "failed": "Failed"}


def can_manage(who: SignedIn) -> bool:
    """Admins and managers create, edit, publish, pause and turn off plays."""
    return who.role in MANAGING_ROLES


def can_start(who: SignedIn) -> bool:
    """Everyone but viewers may start a live play by hand (CSMs on the accounts they can see)."""
    return who.role != "viewer"


# --- words ------------------------------------------------------------------------------------------------


def list_names(s: Session) -> dict[str, str]:
    """Every way a play may name a list (its key, its id) → the list's name."""
    out: dict[str, str] = {}
    for list_id, key, name in s.execute(select(PortfolioList.id, PortfolioList.key, PortfolioList.name)):
        out[str(list_id)] = name
        if key:
            out[key] = name
    return out


def _days(n: int) -> str:
    return f"{n} day{'' if n == 1 else 's'}"


def trigger_words(trigger: Trigger, lists: Mapping[str, str]) -> str:
    """The trigger as a sentence (“When an account enters the list “Usage dropped””)."""
    if trigger.type in ("list_entered", "list_left"):
        ref = trigger.list or ""
        name = f"“{lists[ref]}”" if ref in lists else f"“{ref}” (no such list in this workspace)"
        verb = "enters" if trigger.type == "list_entered" else "leaves"
        tail = "" if trigger.include_current or trigger.type == "list_left" else \
            " (accounts already in it when first published are left out)"
        return f"When an account {verb} the list {name}{tail}"
    if trigger.type == "alert":
        tail = "" if trigger.include_current else " (alerts open when first published are left out)"
        return f"When the alert “{(trigger.rule or '').replace('_', ' ')}” is raised{tail}"
    if trigger.type == "date":
        what = DATE_FIELDS.get(trigger.field or "", trigger.field or "")
        offset = trigger.offset_days
        when = f"On the {what}" if offset == 0 else \
            f"{_days(abs(offset))} {'before' if offset < 0 else 'after'} the {what}"
        return f"{when} (caught up for {_days(trigger.window_days)})"
    if trigger.type == "anniversary":
        months = ", ".join(str(m) for m in trigger.months)
        every = " of every year" if trigger.every_year else ""
        offset = trigger.offset_days
        shift = "" if offset == 0 else f", {_days(abs(offset))} {'before' if offset < 0 else 'after'}"
        return (f"At {months} months{every} after the subscription start{shift} "
                f"(caught up for {_days(trigger.window_days)})")
    return "Only when someone starts it by hand"


def condition_words(c: Condition) -> str:
    params = {k: v for k, v in c.as_dict().items() if k not in ("field", "op")}
    parts = []
    for k, v in params.items():
        shown = ", ".join(map(str, v)) if isinstance(v, list) else str(v)
        parts.append(shown if k in ("value", "values") else f"{k.replace('_', ' ')} {shown}")
    try:
        label = field_label(c.field)
    except KeyError:
        label = c.field
    return f"{label} {c.op.replace('_', ' ')} {'; '.join(parts)}".strip()


def audience_words(definition: PlayDefinition) -> tuple[str, list[str]]:
    """(“every” | “any”, one line per condition); no conditions: every account."""
    if definition.audience is None:
        return "", []
    return ("every" if definition.audience.match == "all" else "any",
            [condition_words(c) for c in definition.audience.conditions])


# --- the index --------------------------------------------------------------------------------------------


@dataclass
class PlayRow:
    id: int
    name: str
    state: str
    trigger: str
    version: int | None
    has_draft: bool
    template: str | None
    runs: dict[str, int] = field(default_factory=dict)
    open_tasks: int = 0


def open_tasks_by_play(s: Session) -> dict[int, int]:
    return {play_id: n for play_id, n in s.execute(
        select(PlayRun.play_id, func.count(Task.id)).join(Task, Task.play_run_id == PlayRun.id)
        .where(Task.status == "open").group_by(PlayRun.play_id))}


def play_rows(s: Session, definitions: Mapping[int, PlayDefinition | None]) -> list[PlayRow]:
    counts, tasks, lists = run_counts(s), open_tasks_by_play(s), list_names(s)
    rows = []
    for play in s.scalars(select(Play).order_by(Play.name, Play.id)):
        definition = definitions.get(play.id)
        rows.append(PlayRow(play.id, play.name, play.state,
                            trigger_words(definition.trigger, lists) if definition else "(definition unreadable)",
                            play.version, play.draft is not None, play.template,
                            {state: counts.get(play.id, {}).get(state, 0) for state in RUN_STATES},
                            tasks.get(play.id, 0)))
    return rows


# --- one play ---------------------------------------------------------------------------------------------


@dataclass
class RunRow:
    id: int
    account_id: int
    account: str
    state: str
    why: str
    started_on: dt.date
    step: int
    version: int
    started_by: str | None


@dataclass
class RunPage:
    rows: list[RunRow]
    next_before: int | None


def parse_run_state(value: str | None) -> str | None:
    """A runs filter: a run state, else None (all states); `ValueError` naming the states otherwise."""
    if not value:
        return None
    if value not in RUN_STATES:
        raise ValueError(f"state must be one of {', '.join(RUN_STATES)}")
    return value


def runs_page(s: Session, play_id: int, state: str | None, before: int | None, limit: int | None = None) -> RunPage:
    """The play's runs, newest first (keyset on the run id), `RUNS_PAGE` at a time."""
    limit = limit or RUNS_PAGE
    query = (select(PlayRun, Account.name).join(Account, Account.id == PlayRun.account_id)
             .where(PlayRun.play_id == play_id))
    if state is not None:
        query = query.where(PlayRun.state == state)
    if before is not None:
        query = query.where(PlayRun.id < before)
    found = list(s.execute(query.order_by(PlayRun.id.desc()).limit(limit + 1)))
    rows = [RunRow(run.id, run.account_id, name, run.state, run.why, run.started_on, run.step, run.version,
                   run.started_by) for run, name in found[:limit]]
    return RunPage(rows, rows[-1].id if len(found) > limit and rows else None)


def open_task_count(s: Session, play_id: int) -> int:
    return int(s.scalar(select(func.count(Task.id)).join(PlayRun, PlayRun.id == Task.play_run_id)
                        .where(PlayRun.play_id == play_id, Task.status == "open")) or 0)


def running_count(s: Session, play_id: int) -> int:
    return int(s.scalar(select(func.count(PlayRun.id)).where(PlayRun.play_id == play_id,
                                                              PlayRun.active_key.is_not(None))) or 0)


def play_versions(s: Session, play_id: int) -> list[PlayVersion]:
    return list(s.scalars(select(PlayVersion).where(PlayVersion.play_id == play_id)
                          .order_by(PlayVersion.version.desc())))


@dataclass
class AccountChoice:
    id: int
    name: str
    csm: str | None


def account_choices(s: Session, who: SignedIn, scope: str, search: str | None,
                    limit: int = ACCOUNT_CHOICES) -> list[AccountChoice]:
    """Accounts to start a play on: the user's scope of the portfolio, by name."""
    query = (select(Account.id, Account.name, func.coalesce(User.name, User.email, Account.owner))
             .outerjoin(User, User.id == Account.csm_user_id))
    scoped = scope_condition(s, scope, who)
    if scoped is not None:
        query = query.where(scoped)
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(func.lower(Account.name).like(f"%{escaped.lower()}%", escape="\\"))
    return [AccountChoice(i, n, c) for i, n, c in s.execute(query.order_by(func.lower(Account.name), Account.id)
                                                            .limit(limit))]


def startable_accounts(s: Session, who: SignedIn, account_ids: list[int]) -> list[int]:
    """The ids among `account_ids` this user may start a play on (the others: not in their workspace).

    Managers and admins: any account of the workspace. CSMs: the accounts they can see — the console
    lets a CSM open every account of their workspace (their own first, all on request), so the same;
    the tenant-scoped session already hides every other workspace's."""
    if not can_start(who) or not account_ids:
        return []
    return sorted(set(s.scalars(select(Account.id).where(Account.id.in_(account_ids)))))


# --- editor errors on their lines -------------------------------------------------------------------------


def _line_of(root: yaml.Node, path: str) -> int | None:
    node: yaml.Node = root
    line = None
    for part in path.split("."):
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
        else:
            break
    return line


def error_lines(text: str, errors: list[str]) -> list[tuple[int | None, str]]:
    """Each ``field.path: message`` error with the line of the editor text it is about (None: the document)."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        root = None
    out: list[tuple[int | None, str]] = []
    for error in errors:
        path = error.partition(": ")[0]
        line = None
        if path.startswith("(document)"):
            marker = error.find("(line ")
            if marker >= 0:
                digits = error[marker + 6:].split(",")[0].split(")")[0]
                line = int(digits) if digits.isdigit() else None
        elif root is not None:
            line = _line_of(root, path)
        out.append((line, error))
    return out

