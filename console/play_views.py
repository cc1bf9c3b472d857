"""The console's play pages: *Plays* (the workspace's plays and the templates to start from), one play
(its definition in words, state actions, versions, runs, start by hand), and the editor (YAML with a
reference panel, save draft, preview).

Routes live on the console blueprint, so its guard applies: a live session for every page, the CSRF
token on every POST. Admins and managers change plays; CSMs and viewers read them (their POSTs get
403), and everyone but viewers may start a live play by hand. "Today" is the workspace's reference day
(`console.lists.reference_day`), as for lists. Every change is audited by `sync.plays`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import abort, current_app, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from console.lists import parse_scope, reference_day
from console.mail import play_effects
from console.play_data import (
    RUN_LABELS,
    STATE_LABELS,
    account_choices,
    audience_words,
    can_manage,
    can_start,
    error_lines,
    list_names,
    open_task_count,
    parse_run_state,
    play_rows,
    play_versions,
    running_count,
    runs_page,
    startable_accounts,
    trigger_words,
)
from console.portfolio import QueryError
from console.views import _store, console, who
from plays import (
    ASSIGN_TO,
    PLACEHOLDERS,
    SET_FIELDS,
    PlayDefinition,
    PlayError,
    dump_text,
    load_definition,
    templates,
)
from plays.definition import DATE_FIELDS
from scoring.model import ALERT_RULES
from store.models import RUN_STATES, Play, PortfolioList
from sync.plays import (
    PlayStateError,
    create_from_template,
    create_play,
    editing_definition,
    evaluate_in_session,
    pause,
    preview,
    publish,
    published_definition,
    resume,
    save_draft,
    start_by_hand,
    turn_off,
)

F = TypeVar("F", bound=Callable[..., Any])
BLANK = {"name": "New play", "description": "", "trigger": {"type": "manual"},
         "steps": [{"type": "task", "subject": "Call {account}", "description": "{reasons}", "due_days": 3,
                    "priority": "normal", "assign": {"to": "owner", "fallback": "owner_manager"}}]}
MAX_TEXT = 40000


def manages_plays(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not can_manage(who()):
            abort(403, description="only a manager or an admin of this workspace can change plays")
        return view(*args, **kwargs)

    return cast(F, wrapper)


def _play_or_404(s: Session, play_id: int) -> Play:
    play = s.get(Play, play_id)
    if play is None:
        abort(404, description="no such play in this workspace")
    return play


def _definitions(s: Session, play: Play) -> tuple[PlayDefinition | None, PlayDefinition | None]:
    """(the published version, the unpublished draft), each None when there is none or it cannot be read."""
    try:
        published = published_definition(s, play)
    except PlayError:
        published = None
    try:
        draft = load_definition(play.draft) if play.draft is not None else None
    except PlayError:
        draft = None
    return published, draft


def _back(play_id: int, message: str, **args: Any) -> Any:
    return redirect(url_for("console.play_page", play_id=play_id, message=message, **args))


# --- index and creation -----------------------------------------------------------------------------------


@console.get("/plays")
def plays_index() -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        definitions = {}
        for play in s.scalars(select(Play)):
            published, draft = _definitions(s, play)
            definitions[play.id] = published or draft
        rows = play_rows(s, definitions)
        lists = list_names(s)
        shipped = [(t, trigger_words(t.trigger, lists)) for t in templates()]
        return render_template("console/plays.html", rows=rows, shipped=shipped, me=me, manage=can_manage(me),
                               states=STATE_LABELS, run_labels=RUN_LABELS, day=reference_day(s),
                               message=request.args.get("message"))


@console.post("/plays/new")
@manages_plays
def play_create() -> Any:
    me = who()
    key = str(request.form.get("template", ""))[:64]
    with _store().session(me.tenant_id) as s:
        if key:
            if key not in {t.key for t in templates()}:
                return redirect(url_for("console.plays_index", message=f"There is no play template “{key}”."))
            play = create_from_template(s, key, me.email, me.user_id)
        else:
            play = create_play(s, load_definition(BLANK), me.email, me.user_id)
        play_id = play.id
    return redirect(url_for("console.play_edit", play_id=play_id, message=(
        "Draft created. Change it here, preview who it would start for, then save and publish it.")))


# --- one play ---------------------------------------------------------------------------------------------


@console.get("/plays/<int:play_id>")
def play_page(play_id: int) -> Any:
    me = who()
    try:
        state = parse_run_state(request.args.get("state"))
        scope = parse_scope(request.args, me)
    except (ValueError, QueryError) as exc:
        abort(400, description=str(exc))
    raw_before = str(request.args.get("before", ""))
    if raw_before and not (raw_before.isdigit() and len(raw_before) < 19):
        abort(400, description="before must be a run number (follow the Older runs link)")
    before = int(raw_before) if raw_before else None
    search = str(request.args.get("q", "")).strip()[:120] or None
    with _store().session(me.tenant_id) as s:
        play = _play_or_404(s, play_id)
        published, draft = _definitions(s, play)
        lists = list_names(s)
        shown = published or draft
        choices = account_choices(s, me, scope, search) if can_start(me) and play.state == "live" else []
        return render_template(
            "console/play.html", play=play, published=published, draft=draft, lists=lists, me=me,
            trigger=trigger_words(shown.trigger, lists) if shown else None,
            draft_trigger=trigger_words(draft.trigger, lists) if draft else None,
            audience=audience_words(shown) if shown else ("", []),
            draft_audience=audience_words(draft) if draft else ("", []),
            versions=play_versions(s, play.id), runs=runs_page(s, play.id, state, before), run_state=state,
            before=before, run_states=RUN_STATES, run_labels=RUN_LABELS, states=STATE_LABELS,
            open_tasks=open_task_count(s, play.id), running=running_count(s, play.id), manage=can_manage(me),
            may_start=can_start(me), choices=choices, scope=scope, search=search or "", day=reference_day(s),
            message=request.args.get("message"), problem=request.args.get("problem"))


@console.post("/plays/<int:play_id>/publish")
@manages_plays
def play_publish(play_id: int) -> Any:
    me = who()
    migrate = request.form.get("migrate_runs") == "1"
    with _store().session(me.tenant_id) as s:
        play = _play_or_404(s, play_id)
        day = reference_day(s)
        try:
            version = publish(s, play, me.email, me.user_id, day, migrate_runs=migrate)
        except (PlayStateError, PlayError) as exc:
            return _back(play_id, "", problem=str(exc))
        s.flush()
        summary = evaluate_in_session(s, day, play_ids=[play.id], effects=play_effects(current_app.config))
    started = sum(summary.started.values())
    text = (f"Published version {version}: started {started} run{'' if started == 1 else 's'}, "
            f"created {summary.tasks_created} task{'' if summary.tasks_created == 1 else 's'}"
            + (f", skipped {summary.skipped}" if summary.skipped else "") + f" (as of {day.isoformat()}).")
    if summary.problems:
        return _back(play_id, text, problem="The play could not be evaluated: " + "; ".join(summary.problems))
    return _back(play_id, text)


def _state_change(play_id: int, change: Callable[[Session, Play], str]) -> Any:
    with _store().session(who().tenant_id) as s:
        play = _play_or_404(s, play_id)
        try:
            text = change(s, play)
        except PlayStateError as exc:
            return _back(play_id, "", problem=str(exc))
    return _back(play_id, text)


@console.post("/plays/<int:play_id>/pause")
@manages_plays
def play_pause(play_id: int) -> Any:
    me = who()

    def change(s: Session, play: Play) -> str:
        pause(s, play, me.email, me.user_id)
        return "Paused: nothing new starts and running runs wait until the play is resumed."

    return _state_change(play_id, change)


@console.post("/plays/<int:play_id>/resume")
@manages_plays
def play_resume(play_id: int) -> Any:
    me = who()

    def change(s: Session, play: Play) -> str:
        resume(s, play, me.email, me.user_id)
        return "Resumed: the play is live again."

    return _state_change(play_id, change)


@console.post("/plays/<int:play_id>/turn-off")
@manages_plays
def play_turn_off(play_id: int) -> Any:
    me = who()

    def change(s: Session, play: Play) -> str:
        if play.state == "off":
            raise PlayStateError("the play is already off")
        runs, tasks = turn_off(s, play, me.email, me.user_id, reference_day(s))
        return (f"Turned off: {runs} running run{'' if runs == 1 else 's'} closed with "
                f"{tasks} open task{'' if tasks == 1 else 's'}.")

    return _state_change(play_id, change)


@console.post("/plays/<int:play_id>/start")
def play_start(play_id: int) -> Any:
    me = who()
    if not can_start(me):
        abort(403, description="a viewer cannot start plays")
    try:
        wanted = sorted({int(v) for v in request.form.getlist("account_id")})
    except ValueError:
        abort(400, description="account_id must be account numbers")
    with _store().session(me.tenant_id) as s:
        play = _play_or_404(s, play_id)
        if not wanted:
            return _back(play_id, "", problem="Choose at least one account to start the play on.")
        allowed = startable_accounts(s, me, wanted)
        if len(allowed) != len(wanted):
            abort(404, description="no such account in this workspace")
        try:
            summary = start_by_hand(s, play, allowed, me.email, me.user_id, reference_day(s),
                                    effects=play_effects(current_app.config))
        except PlayStateError as exc:
            return _back(play_id, "", problem=str(exc))
    started = sum(summary.started.values())
    text = (f"Started {started} run{'' if started == 1 else 's'}, created {summary.tasks_created} "
            f"task{'' if summary.tasks_created == 1 else 's'}"
            + (f"; {summary.skipped} skipped (already running by hand)" if summary.skipped else "") + ".")
    return _back(play_id, text)


# --- the editor -------------------------------------------------------------------------------------------


def _editor(s: Session, play: Play, text: str, errors: list[str], *, result: Any = None, status: int = 200,
            message: str | None = None) -> Any:
    workspace_lists = list(s.execute(select(PortfolioList.id, PortfolioList.key, PortfolioList.name)
                                     .order_by(PortfolioList.name)))
    return render_template(
        "console/play_edit.html", play=play, text=text, errors=error_lines(text, errors), preview=result,
        lists=workspace_lists, placeholders=PLACEHOLDERS, rules=sorted(ALERT_RULES), date_fields=DATE_FIELDS,
        assign_to=ASSIGN_TO, set_fields=SET_FIELDS, states=STATE_LABELS, me=who(), day=reference_day(s),
        message=message), status


@console.get("/plays/<int:play_id>/edit")
@manages_plays
def play_edit(play_id: int) -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        play = _play_or_404(s, play_id)
        try:
            text = dump_text(editing_definition(s, play))
        except PlayError as exc:
            return _editor(s, play, "", exc.errors)
        return _editor(s, play, text, [], message=request.args.get("message"))


@console.post("/plays/<int:play_id>/edit")
@manages_plays
def play_save(play_id: int) -> Any:
    me = who()
    text = str(request.form.get("definition", ""))[:MAX_TEXT]
    action = request.form.get("action", "save")
    with _store().session(me.tenant_id) as s:
        play = _play_or_404(s, play_id)
        if play.state == "off" and action == "save":
            return _editor(s, play, text, ["(document): the play is turned off; resume it before editing it"],
                           status=409)
        try:
            definition = load_definition(text)
        except PlayError as exc:
            return _editor(s, play, text, exc.errors, status=400)
        if action == "preview":
            result = preview(s, play, definition, reference_day(s))
            page = _editor(s, play, text, [], result=result)
            s.rollback()  # a preview writes nothing, whatever it touched
            return page
        save_draft(s, play, definition, me.email, me.user_id)
    return _back(play_id, "Draft saved. Publish it to make it the version new runs start on.")
