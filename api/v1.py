"""The v1 routes. See `api` for authentication, scoping, paging and errors."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from flask import Blueprint, g, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import HTTPException

from api.openapi import openapi_document
from console.auth import SignedIn, signed_in_by_token
from console.lists import member_page, overview, parse_scope
from console.portfolio import PortfolioQuery, QueryError, load_page
from console.profile import load_account_profile
from extensions import canary_store
from integrations.registry import VENDOR_NAMES
from store.db import Store
from store.models import Alert, PortfolioList, SourceLink, Task, User
from sync.reassign import ReassignError, reassign, target_user

v1 = Blueprint("api_v1", __name__, url_prefix="/api/v1")
ACCOUNT_LIST_PARAMS = frozenset({"scope", "owner", "band", "trend", "segment", "tier", "stage", "renewal", "arr_min",
                                 "arr_max", "alert", "q", "sort", "limit", "cursor"})
LIST_PARAMS = frozenset({"status", "limit", "cursor", "account_id"})
LINK_SYSTEMS = (*VENDOR_NAMES, "product")


class ApiError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def _store() -> Store:
    store = canary_store()
    return store


def me() -> SignedIn:
    found: SignedIn = g.api_user
    return found


@v1.before_request
def authenticate() -> Any:
    if request.endpoint == "api_v1.openapi":
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    who = signed_in_by_token(_store(), token.strip()) if scheme.lower() == "bearer" and token else None
    if who is None:
        response = jsonify({"error": "a valid API token is needed: Authorization: Bearer <token> "
                                     "(canary token create --user EMAIL)"})
        response.headers["WWW-Authenticate"] = 'Bearer realm="canary"'
        return response, 401
    g.api_user = who
    return None


@v1.errorhandler(ApiError)
def _api_error(error: ApiError) -> Any:
    return jsonify({"error": error.reason}), error.status


@v1.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Any:
    return jsonify({"error": error.description or error.name}), error.code or 500


def _only(allowed: frozenset[str]) -> None:
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise ApiError(400, f"unknown query parameter(s): {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _limit(default: int = 50) -> int:
    raw = request.args.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 200:
        raise ApiError(400, "limit must be a whole number from 1 to 200")
    return int(raw)


def _id_cursor() -> int | None:
    raw = request.args.get("cursor")
    if not raw:
        return None
    try:
        value = int(base64.urlsafe_b64decode(raw.encode() + b"==").decode())
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "cursor is not one this server gave: start again without it") from None
    return value


def _next_id_cursor(rows: list[Any], limit: int) -> str | None:
    if len(rows) <= limit:
        return None
    return base64.urlsafe_b64encode(str(rows[limit - 1].id).encode()).decode().rstrip("=")


def _day(value: dt.date | dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def account_row(r: dict[str, Any]) -> dict[str, Any]:
    return {"id": r["id"], "name": r["name"], "score": None if r["score"] is None else round(r["score"], 1),
            "band": r["band"], "trend_per_day": r["trend"], "renewal_date": _day(r["renewal"]), "arr": r["arr"],
            "open_alerts": r["alerts"], "csm": r["csm"], "csm_user_id": r["csm_user_id"], "owner_email": r["owner"],
            "segment": r["segment"], "tier": r["tier"], "lifecycle_stage": r["lifecycle_stage"]}


@v1.get("/openapi.json")
def openapi() -> Any:
    return jsonify(openapi_document())


@v1.get("/accounts")
def accounts() -> Any:
    _only(ACCOUNT_LIST_PARAMS)
    who = me()
    try:
        query = PortfolioQuery.parse(request.args, who, getlist=request.args.getlist)
        with _store().session(who.tenant_id) as s:
            page = load_page(s, query, who)
    except QueryError as exc:
        raise ApiError(400, str(exc)) from None
    return jsonify({"data": [account_row(r) for r in page.rows], "next_cursor": page.next_cursor,
                    "as_of": _day(page.as_of)})


def _account_body(account_id: int) -> dict[str, Any]:
    with _store().session(me().tenant_id) as s:
        p = load_account_profile(s, account_id, None)
        if p is None:
            raise ApiError(404, f"no account {account_id} in this workspace")
        return {
            "id": p.account.id, "name": p.account.name, "domain": p.account.domain, "csm": p.csm,
            "owner_email": p.account.owner, "segment": p.account.segment, "tier": p.account.tier,
            "lifecycle_stage": p.account.lifecycle_stage, "as_of": _day(p.as_of),
            "health": {"score": p.score, "band": p.band, "trend_per_day": p.trend, "reasons": p.reasons},
            "measures": [{"measure": m.name, "label": m.label, "dimension": m.dimension, "value": m.value,
                          "status": m.status, "points": m.points, "percentile": m.percentile,
                          "change_30d": m.change_30d} for m in p.measures],
            "history": [{"day": d.isoformat(), "score": score} for d, score in p.points],
            "band_changes": [{"day": c.day.isoformat(), "from": c.before, "to": c.after, "score": c.score,
                              "reasons": list(c.reasons)} for c in p.changes],
            "renewal_date": _day(p.renewal), "arr": p.arr,
            "open_alerts": [{"id": a.id, "rule": a.rule, "severity": a.severity, "title": a.title} for a in p.alerts],
            "links": [{"system": link["system"], "external_id": link["external_id"], "method": link["method"],
                       "reason": link["reason"], "url": link["url"]} for link in p.links],
        }


@v1.get("/accounts/<int:account_id>")
def account(account_id: int) -> Any:
    _only(frozenset())
    return jsonify(_account_body(account_id))


@v1.get("/lookup/<system>/<path:external_id>")
def lookup(system: str, external_id: str) -> Any:
    _only(frozenset())
    if system not in LINK_SYSTEMS:
        raise ApiError(400, f"system must be one of {', '.join(LINK_SYSTEMS)}")
    if len(external_id) > 255 or any(ord(c) < 32 for c in external_id):
        raise ApiError(400, "external_id is too long or holds control characters")
    with _store().session(me().tenant_id) as s:
        account_id = s.scalar(select(SourceLink.account_id).where(SourceLink.system == system,
                                                                  SourceLink.external_id == external_id))
    if account_id is None:
        raise ApiError(404, f"no {system} record {external_id} is linked to an account in this workspace")
    return jsonify(_account_body(account_id))


def _status(default: str) -> str:
    status = request.args.get("status", default)
    if status not in ("open", "resolved", "done", "all"):
        raise ApiError(400, "status must be open, resolved, done or all")
    return status


def _account_filter() -> int | None:
    raw = request.args.get("account_id")
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(400, "account_id must be a whole number")
    return int(raw)


@v1.get("/alerts")
def alerts() -> Any:
    _only(LIST_PARAMS)
    status, limit, after, account_id = _status("open"), _limit(), _id_cursor(), _account_filter()
    query = select(Alert).order_by(Alert.id.desc()).limit(limit + 1)
    if status != "all":
        query = query.where(Alert.status == status)
    if after is not None:
        query = query.where(Alert.id < after)
    if account_id is not None:
        query = query.where(Alert.account_id == account_id)
    with _store().session(me().tenant_id) as s:
        rows = list(s.scalars(query))
        data = [{"id": a.id, "account_id": a.account_id, "rule": a.rule, "severity": a.severity, "title": a.title,
                 "reasons": a.reasons, "status": a.status, "raised_at": _day(a.raised_at),
                 "resolved_at": _day(a.resolved_at)} for a in rows[:limit]]
    return jsonify({"data": data, "next_cursor": _next_id_cursor(rows, limit)})


@v1.get("/tasks")
def tasks() -> Any:
    _only(LIST_PARAMS)
    status, limit, after, account_id = _status("open"), _limit(), _id_cursor(), _account_filter()
    query = select(Task).order_by(Task.id.desc()).limit(limit + 1)
    if status != "all":
        query = query.where(Task.status == status)
    if after is not None:
        query = query.where(Task.id < after)
    if account_id is not None:
        query = query.where(Task.account_id == account_id)
    with _store().session(me().tenant_id) as s:
        rows = list(s.scalars(query.options(selectinload(Task.links))))
        data = [task_row(t) for t in rows[:limit]]
    return jsonify({"data": data, "next_cursor": _next_id_cursor(rows, limit)})


def task_row(t: Task) -> dict[str, Any]:
    return {"id": t.id, "account_id": t.account_id, "alert_id": t.alert_id, "title": t.title,
            "owner_email": t.owner, "assignee_user_id": t.assignee_user_id, "priority": t.priority,
            "source": t.source, "due_date": _day(t.due_date), "status": t.status,
            "completed_at": _day(t.completed_at),
            "crm": [{"system": link.system, "external_id": link.external_id, "state": link.state}
                    for link in sorted(t.links, key=lambda link: link.system)]}


@v1.patch("/tasks/<int:task_id>")
def task_update(task_id: int) -> Any:
    """Reassign a task: ``{"assignee": "<e-mail>"}`` gives it to that active user, ``{"assignee": null}`` to
    the account's owner (nobody in Canary). The console's rules: admins and managers any task, a CSM their
    own and the unassigned tasks of their accounts, a viewer none; one audit event."""
    _only(frozenset())
    who = me()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, 'send a JSON object, e.g. {"assignee": "csm@example.com"} or {"assignee": null}')
    unknown = sorted(set(body) - {"assignee"})
    if unknown or "assignee" not in body:
        raise ApiError(400, "the only field that can be changed is assignee (an e-mail address, or null)"
                       + (f"; unknown: {', '.join(map(str, unknown))[:200]}" if unknown else ""))
    assignee = body["assignee"]
    if assignee is not None and (not isinstance(assignee, str) or len(assignee) > 320):
        raise ApiError(400, "assignee must be an e-mail address or null")
    with _store().session(who.tenant_id) as s:
        if s.get(Task, task_id) is None:
            raise ApiError(404, f"no task {task_id} in this workspace")
        try:
            target = target_user(s, email=assignee) if assignee is not None else None
            reassign(s, [task_id], target, user_id=who.user_id, role=who.role, actor=who.email, how="api")
        except ReassignError as exc:
            s.rollback()
            raise ApiError(exc.status, str(exc)) from None
        task = s.scalar(select(Task).where(Task.id == task_id).options(selectinload(Task.links)))
        if task is None:
            raise ApiError(404, f"no task {task_id} in this workspace")
        return jsonify(task_row(task))


@v1.get("/users")
def users() -> Any:
    _only(frozenset({"limit", "cursor"}))
    limit, after = _limit(), _id_cursor()
    query = select(User).order_by(User.id.desc()).limit(limit + 1)
    if after is not None:
        query = query.where(User.id < after)
    with _store().session(me().tenant_id) as s:
        rows = list(s.scalars(query))
        data = [{"id": u.id, "email": u.email, "name": u.name, "role": u.role, "manager_id": u.manager_id,
                 "active": u.active} for u in rows[:limit]]
    return jsonify({"data": data, "next_cursor": _next_id_cursor(rows, limit)})


def _scope() -> str:
    try:
        return parse_scope(request.args, me())
    except QueryError as exc:
        raise ApiError(400, str(exc)) from None


@v1.get("/lists")
def lists() -> Any:
    """The workspace's lists in id order, each with its accounts and ARR in the caller's scope and how many
    entered and left in the 7 days to `as_of` (the day the lists were last evaluated as of)."""
    _only(frozenset({"scope", "limit", "cursor"}))
    who, scope, limit, after = me(), _scope(), _limit(), _id_cursor()
    with _store().session(who.tenant_id) as s:
        rows, day = overview(s, who, scope)
    rows = [r for r in rows if after is None or r.id > after]
    data = [{"id": r.id, "name": r.name, "description": r.description, "key": r.key, "version": r.version,
             "evaluated_on": _day(r.evaluated_on), "accounts": r.members, "arr": r.arr, "entered_7d": r.entered,
             "left_7d": r.left, "followed": r.followed} for r in rows[:limit]]
    cursor = base64.urlsafe_b64encode(str(rows[limit - 1].id).encode()).decode().rstrip("=") \
        if len(rows) > limit else None
    return jsonify({"data": data, "next_cursor": cursor, "as_of": _day(day)})


@v1.get("/lists/<int:list_id>/accounts")
def list_accounts(list_id: int) -> Any:
    """A list's accounts in the caller's scope, newest entries first, each with why it is in."""
    _only(frozenset({"scope", "limit", "cursor"}))
    who, scope, limit = me(), _scope(), _limit()
    with _store().session(who.tenant_id) as s:
        if s.get(PortfolioList, list_id) is None:
            raise ApiError(404, f"no list {list_id} in this workspace")
        try:
            page = member_page(s, list_id, who, scope, request.args.get("cursor") or None, limit)
        except QueryError as exc:
            raise ApiError(400, str(exc)) from None
    return jsonify({"data": [{**account_row(r), "entered_on": _day(r["entered_on"]), "reasons": r["reasons"]}
                             for r in page.rows], "next_cursor": page.next_cursor})


@v1.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def not_found(rest: str) -> Any:
    raise ApiError(404, f"Not Found: no API route /api/v1/{rest[:100]} (see /api/v1/openapi.json)")
