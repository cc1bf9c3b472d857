"""The console's list pages: *Lists*, one list's members (and CSV), create and edit (a validated
definition editor that keeps what was typed on a bad submit), follow / unfollow, and *My lists*.

Routes live on the console blueprint, so its guard applies: a live session for every page, the CSRF
token on every POST. Viewers change nothing (following included); every change is audited by
`sync.lists` (create, edit, follow, unfollow).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Response, abort, redirect, render_template, request, stream_with_context, url_for
from sqlalchemy.orm import Session

from console.lists import (
    CSV_COLUMNS,
    csv_row,
    member_page,
    overview,
    parse_scope,
    reference_day,
    versions,
    weekly,
)
from console.portfolio import QueryError
from console.views import _store, console, may_change, who
from scoring.model import ALERT_RULES, default_model
from store.models import PortfolioList
from sync.lists import create_list, current_definition, edit_list, evaluate_in_session, set_follow
from worklists import FIELDS, OPERATORS, ListError, dump_text, load_definition
from worklists.definition import BAND_VALUES, parse_text

STARTER = ("- {field: subscription.renewal_date, op: within, from_days: 0, to_days: 90}\n"
           "- {field: health.band, op: in, values: [poor, average]}\n")


def _scope() -> str:
    try:
        return parse_scope(request.args, who())
    except QueryError as exc:
        abort(400, description=str(exc))


def _list_or_404(s: Session, list_id: int) -> PortfolioList:
    row = s.get(PortfolioList, list_id)
    if row is None:
        abort(404, description="no such list in this workspace")
    return row


@console.get("/lists")
def lists() -> Any:
    me, scope = who(), _scope()
    with _store().session(me.tenant_id) as s:
        rows, day = overview(s, me, scope)
    return render_template("console/lists.html", rows=rows, day=day, scope=scope, me=me,
                           message=request.args.get("message"))


@console.get("/lists/mine")
def my_lists() -> Any:
    me, scope = who(), _scope()
    with _store().session(me.tenant_id) as s:
        rows, day = overview(s, me, scope, only_followed=True)
        moves, _ = weekly(s, me, scope)
    return render_template("console/my_lists.html", rows=rows, moves=moves, day=day, scope=scope, me=me)


@console.get("/lists/<int:list_id>")
def list_page(list_id: int) -> Any:
    me, scope = who(), _scope()
    if request.args.get("format") == "csv":
        return _csv(list_id, scope)
    with _store().session(me.tenant_id) as s:
        row = _list_or_404(s, list_id)
        try:
            page = member_page(s, list_id, me, scope, request.args.get("cursor") or None)
        except QueryError as exc:
            abort(400, description=str(exc))
        rows, day = overview(s, me, scope)
        summary = next(r for r in rows if r.id == list_id)
        definition = current_definition(s, row)
        history = versions(s, list_id)
        return render_template("console/list.html", lst=row, summary=summary, page=page, scope=scope, me=me,
                               day=day, definition=definition, history=history, cursor=request.args.get("cursor"),
                               message=request.args.get("message"))


def _csv(list_id: int, scope: str) -> Response:
    me = who()
    with _store().session(me.tenant_id) as s:
        row = _list_or_404(s, list_id)
        filename = "".join(c if c.isalnum() else "-" for c in row.name.lower()).strip("-") or "list"

    def rows() -> Any:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        cursor: str | None = None
        while True:
            with _store().session(me.tenant_id) as s:
                page = member_page(s, list_id, me, scope, cursor, limit=200)
            for r in page.rows:
                writer.writerow(csv_row(r))
            yield out.getvalue()
            out.seek(0)
            out.truncate()
            if page.next_cursor is None:
                break
            cursor = page.next_cursor

    response = Response(stream_with_context(rows()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f"attachment; filename=canary-list-{filename[:60]}.csv"
    return response


def _editor(form: dict[str, str], errors: list[str], lst: PortfolioList | None, status: int = 200) -> Any:
    fields = [(path, info.label, info.kind, OPERATORS[info.kind]) for path, info in FIELDS.items()]
    measures = sorted(default_model().measures.items())
    by_field: dict[str, list[str]] = {}
    for line in errors:
        path, _, message = line.partition(": ")
        top = path.split(".")[0] if path in ("name", "description", "match") else "conditions"
        by_field.setdefault(top, []).append(line if top == "conditions" else message)
    return render_template("console/list_edit.html", form=form, errors=errors, by_field=by_field, lst=lst,
                           fields=fields, measures=measures, rules=sorted(ALERT_RULES), bands=BAND_VALUES,
                           me=who()), status


def _submitted() -> dict[str, str]:
    return {k: str(request.form.get(k, ""))[:20000] for k in ("name", "description", "match", "conditions")}


def _parse(form: dict[str, str]) -> Any:
    try:
        conditions = parse_text(form["conditions"])
    except ListError as exc:
        raise ListError([e.replace("(document)", "conditions", 1) for e in exc.errors]) from exc
    return load_definition({"name": form["name"], "description": form["description"],
                            "match": form["match"] or "all", "conditions": conditions})


@console.get("/lists/new")
@may_change
def list_new() -> Any:
    return _editor({"name": "", "description": "", "match": "all", "conditions": STARTER}, [], None)


@console.post("/lists/new")
@may_change
def list_create() -> Any:
    me, form = who(), _submitted()
    try:
        definition = _parse(form)
    except ListError as exc:
        return _editor(form, exc.errors, None, 400)
    with _store().session(me.tenant_id) as s:
        row = create_list(s, definition, me.email, me.user_id)
        s.flush()
        summary = evaluate_in_session(s, reference_day(s), list_ids=[row.id])
        list_id = row.id
    return redirect(url_for("console.list_page", list_id=list_id,
                            message=f"List created: {summary.members} accounts in the workspace match it."))


@console.get("/lists/<int:list_id>/edit")
@may_change
def list_edit(list_id: int) -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        row = _list_or_404(s, list_id)
        definition = current_definition(s, row)
        text = dump_text(definition) if definition is not None else ""
        conditions = text.split("conditions:\n", 1)[1] if "conditions:\n" in text else ""
        form = {"name": row.name, "description": row.description,
                "match": definition.match if definition else "all",
                "conditions": "".join(line[2:] + "\n" for line in conditions.splitlines())}
        return _editor(form, [], row)


@console.post("/lists/<int:list_id>/edit")
@may_change
def list_update(list_id: int) -> Any:
    me, form = who(), _submitted()
    with _store().session(me.tenant_id) as s:
        row = _list_or_404(s, list_id)
        try:
            definition = _parse(form)
        except ListError as exc:
            return _editor(form, exc.errors, row, 400)
        before = row.version
        version = edit_list(s, row, definition, me.email, me.user_id)
        s.flush()
        if version != before:
            evaluate_in_session(s, reference_day(s), list_ids=[row.id])
    message = f"Saved as version {version}." if version != before else "Nothing changed."
    return redirect(url_for("console.list_page", list_id=list_id, message=message))


def _follow(list_id: int, follow: bool) -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        row = _list_or_404(s, list_id)
        set_follow(s, row, me.user_id, follow, me.email)
        name = row.name
    target = request.form.get("next") or ""
    if target.startswith("/lists") and not target.startswith("//"):
        return redirect(target)
    return redirect(url_for("console.lists", message=f"{'Following' if follow else 'No longer following'} {name}."))


@console.post("/lists/<int:list_id>/follow")
@may_change
def list_follow(list_id: int) -> Any:
    return _follow(list_id, True)


@console.post("/lists/<int:list_id>/unfollow")
@may_change
def list_unfollow(list_id: int) -> Any:
    return _follow(list_id, False)
