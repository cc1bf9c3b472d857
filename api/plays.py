"""The v1 routes for plays, on the same blueprint as `api.v1` (authentication, scoping, paging, errors).

    GET  /plays                      the workspace's plays: state, version, trigger (words and data), runs by state
    GET  /plays/<id>                 one play, with its published definition, its draft and its versions
    GET  /plays/<id>/runs            its runs, newest first, with their logs (?state=, ?account=)
    GET  /accounts/<id>/plays        the account's runs of every play, newest first, with their logs
    POST /plays/<id>/preview         a dry run: who would start or be skipped, and the tasks; writes nothing

Read-only: the preview's session is rolled back whatever the dry run did.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import jsonify, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.v1 import ApiError, _day, _id_cursor, _limit, _next_id_cursor, _only, _store, me, v1
from plays import PlayDefinition, PlayError, load_definition
from store import portfolio_keys
from store.models import PLAY_STATES, RUN_STATES, Account, HealthSnapshot, Play, PlayRun, PlayVersion
from sync.plays import preview, run_counts

PAGE = frozenset({"limit", "cursor"})
PREVIEW_FIELDS = frozenset({"as_of", "definition", "limit"})


def _whole(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(400, f"{name} must be a whole number")
    return int(raw)


def _published(session: Session, plays: list[Play]) -> dict[int, dict[str, Any]]:
    """Play id → its published definition document (one query for the page)."""
    wanted = {p.id: p.version for p in plays if p.version is not None}
    if not wanted:
        return {}
    return {play_id: document for play_id, version, document in session.execute(
        select(PlayVersion.play_id, PlayVersion.version, PlayVersion.definition)
        .where(PlayVersion.play_id.in_(list(wanted)))) if wanted[play_id] == version}


def _definition(document: dict[str, Any] | None) -> PlayDefinition | None:
    if document is None:
        return None
    try:
        return load_definition(document)
    except PlayError:
        return None


def _trigger(document: dict[str, Any] | None) -> dict[str, Any] | None:
    definition = _definition(document)
    if definition is None:
        return None
    return {"text": definition.trigger.summary(), "data": definition.trigger.as_dict()}


def _play_row(play: Play, published: dict[str, Any] | None, runs: dict[str, int]) -> dict[str, Any]:
    return {"id": play.id, "name": play.name, "key": play.key, "template": play.template, "state": play.state,
            "version": play.version, "has_draft": play.draft is not None,
            "published_on": _day(play.published_on), "evaluated_on": _day(play.evaluated_on),
            "trigger": _trigger(published if published is not None else play.draft),
            "runs": {state: runs.get(state, 0) for state in RUN_STATES}}


def _run_row(run: PlayRun, account: str | None, play: str | None = None) -> dict[str, Any]:
    row = {"id": run.id, "play_id": run.play_id, "version": run.version, "account_id": run.account_id,
           "account": account, "reason": run.reason, "episode": run.episode, "state": run.state, "why": run.why,
           "trigger_reasons": list(run.trigger_reasons or ()), "step": run.step, "resume_on": _day(run.resume_on),
           "started_on": _day(run.started_on), "started_by": run.started_by, "ended_at": _day(run.ended_at),
           "log": list(run.log or ())}
    if play is not None:
        row["play"] = play
    return row


def _page(data: list[dict[str, Any]], cursor: str | None) -> Any:
    return jsonify({"data": data, "next_cursor": cursor})


def _play(session: Session, play_id: int) -> Play:
    play = session.get(Play, play_id)
    if play is None:
        raise ApiError(404, f"no play {play_id} in this workspace")
    return play


@v1.get("/plays")
def plays() -> Any:
    _only(PAGE | {"state"})
    state, limit, after = request.args.get("state"), _limit(), _id_cursor()
    if state is not None and state not in PLAY_STATES:
        raise ApiError(400, f"state must be one of {', '.join(PLAY_STATES)}")
    query = select(Play).order_by(Play.id).limit(limit + 1)
    if state is not None:
        query = query.where(Play.state == state)
    if after is not None:
        query = query.where(Play.id > after)
    with _store().session(me().tenant_id) as s:
        rows = list(s.scalars(query))
        published, counts = _published(s, rows[:limit]), run_counts(s)
        data = [_play_row(p, published.get(p.id), counts.get(p.id, {})) for p in rows[:limit]]
    return _page(data, _next_id_cursor(rows, limit))


@v1.get("/plays/<int:play_id>")
def play(play_id: int) -> Any:
    _only(frozenset())
    with _store().session(me().tenant_id) as s:
        found = _play(s, play_id)
        published = _published(s, [found]).get(found.id)
        counts = run_counts(s).get(found.id, {})
        versions = [{"version": v.version, "author": v.author, "author_user_id": v.author_user_id,
                     "created_at": _day(v.created_at)} for v in s.scalars(
            select(PlayVersion).where(PlayVersion.play_id == found.id).order_by(PlayVersion.version))]
        body = {**_play_row(found, published, counts), "published": published, "draft": found.draft,
                "versions": versions}
    return jsonify(body)


def _runs_page(session: Session, query: Any, limit: int, with_play: bool) -> Any:
    after = _id_cursor()
    if after is not None:
        query = query.where(PlayRun.id < after)
    rows = session.execute(query.order_by(PlayRun.id.desc()).limit(limit + 1)).all()
    data = [_run_row(r[0], r[1], r[2] if with_play else None) for r in rows[:limit]]
    return _page(data, _next_id_cursor([r[0] for r in rows], limit))


@v1.get("/plays/<int:play_id>/runs")
def play_runs(play_id: int) -> Any:
    _only(PAGE | {"state", "account"})
    state, account_id, limit = request.args.get("state"), _whole("account"), _limit()
    if state is not None and state not in RUN_STATES:
        raise ApiError(400, f"state must be one of {', '.join(RUN_STATES)}")
    query = select(PlayRun, Account.name).outerjoin(Account, Account.id == PlayRun.account_id) \
        .where(PlayRun.play_id == play_id)
    if state is not None:
        query = query.where(PlayRun.state == state)
    if account_id is not None:
        query = query.where(PlayRun.account_id == account_id)
    with _store().session(me().tenant_id) as s:
        _play(s, play_id)
        return _runs_page(s, query, limit, with_play=False)


@v1.get("/accounts/<int:account_id>/plays")
def account_plays(account_id: int) -> Any:
    _only(PAGE)
    limit = _limit()
    query = select(PlayRun, Account.name, Play.name).join(Play, Play.id == PlayRun.play_id) \
        .join(Account, Account.id == PlayRun.account_id).where(PlayRun.account_id == account_id)
    with _store().session(me().tenant_id) as s:
        if s.get(Account, account_id) is None:
            raise ApiError(404, f"no account {account_id} in this workspace")
        return _runs_page(s, query, limit, with_play=True)


def _preview_request() -> tuple[dt.date | None, dict[str, Any] | None, int]:
    _only(frozenset())
    if request.get_data() and not request.is_json:
        raise ApiError(400, "send a JSON object (Content-Type: application/json), or no body")
    body = request.get_json(silent=True) if request.get_data() else {}
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object: {\"as_of\", \"definition\", \"limit\"}, all optional")
    unknown = sorted(set(body) - PREVIEW_FIELDS)
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(unknown)}; allowed: {', '.join(sorted(PREVIEW_FIELDS))}")
    as_of = None
    if body.get("as_of") is not None:
        try:
            as_of = dt.date.fromisoformat(str(body["as_of"]))
        except ValueError:
            raise ApiError(400, "as_of must be a date, YYYY-MM-DD") from None
    definition = body.get("definition")
    if definition is not None and not isinstance(definition, dict):
        raise ApiError(400, "definition must be a play as a JSON object (as GET /plays/<id> shows it)")
    limit = body.get("limit", 50)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 200:
        raise ApiError(400, "limit must be a whole number from 1 to 200")
    return as_of, definition, limit


@v1.post("/plays/<int:play_id>/preview")
def play_preview(play_id: int) -> Any:
    """A dry run of the play (its draft, else its published version, else the definition sent) as of a day
    (default: the workspace's latest scored day): counts and the first `limit` rows. Writes nothing."""
    as_of, document, limit = _preview_request()
    with _store().session(me().tenant_id) as s:
        try:
            found = _play(s, play_id)
            if document is None:
                document = found.draft if found.draft is not None else _published(s, [found]).get(found.id)
            try:
                definition = load_definition(document or {})
            except PlayError as exc:
                raise ApiError(400, "invalid play definition: " + "; ".join(exc.errors)) from None
            day = as_of or portfolio_keys.reference_day(s.scalar(select(func.max(HealthSnapshot.day))))
            out = preview(s, found, definition, day, limit=limit)
        finally:
            s.rollback()
    return jsonify({
        "play_id": play_id, "as_of": _day(out.as_of), "starts": out.starts, "skips": out.skips, "tasks": out.tasks,
        "problem": out.problem, "trigger": {"text": definition.trigger.summary(), "data": definition.trigger.as_dict()},
        "rows": [{"account_id": r.account_id, "account": r.account, "action": r.action, "why": r.why,
                  "reasons": list(r.reasons), "later": list(r.later),
                  "tasks": [{"subject": t.subject, "assignee": t.assignee, "due": _day(t.due), "priority": t.priority,
                             "why": t.why} for t in r.tasks]} for r in out.rows]})
