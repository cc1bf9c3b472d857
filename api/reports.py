"""The v1 routes for reports, on the same blueprint as `api.v1` (authentication, scoping, errors).

    GET  /reports/revenue                 GRR, NRR, churn, expansion … per month (?months=, ?unit=, cohort)
    GET  /reports/revenue/accounts        the accounts behind one month's figure (?month=YYYY-MM&figure=churn)
    GET  /reports/renewals                the renewal forecast: 12 months by band, expected ARR, revenue at risk
    PUT  /reports/renewals/calls          a CSM's forecast call at a renewal's 6- or 3-month checkpoint

Figures are computed by `sync.reports`, the same functions the console's report pages read.
Cohort parameters: ``segment``, ``tier``, ``csm_user_id``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import jsonify, request

from api.v1 import ApiError, _only, _store, me, v1
from store.models import Account
from sync.reports import Cohort, ReportError, figure_accounts, parse_day, renewals, revenue
from sync.revenue import RevenueError, record_call

COHORT = frozenset({"segment", "tier", "csm_user_id", "as_of"})
"""Every report's filters, and ``as_of`` (YYYY-MM-DD; default: the workspace's latest scored day)."""


def _as_of() -> dt.date | None:
    try:
        return parse_day(request.args.get("as_of"))
    except ReportError as exc:
        raise ApiError(400, str(exc)) from None


def _cohort() -> Cohort:
    raw = request.args.get("csm_user_id")
    if raw is not None and not raw.isdigit():
        raise ApiError(400, "csm_user_id must be a user id (a whole number)")
    return Cohort(request.args.get("segment") or None, request.args.get("tier") or None,
                  int(raw) if raw else None)


@v1.get("/reports/revenue")
def report_revenue() -> Any:
    _only(COHORT | {"months", "unit", "period"})
    months = request.args.get("months", "12")
    if not months.isdigit():
        raise ApiError(400, "months must be a whole number from 1 to 36")
    with _store().session(me().tenant_id) as s:
        try:
            return jsonify(revenue(s, months=int(months), unit=request.args.get("unit", "arr"), cohort=_cohort(),
                                   as_of=_as_of(), period=request.args.get("period", "month")))
        except ReportError as exc:
            raise ApiError(400, str(exc)) from None


@v1.get("/reports/revenue/accounts")
def report_revenue_accounts() -> Any:
    _only(COHORT | {"month", "figure"})
    month, figure = request.args.get("month"), request.args.get("figure")
    if not month or not figure:
        raise ApiError(400, "month (a period: 2026-10, 2026-Q3 or 2026) and figure (e.g. churn, expansion, grr) are "
                            "needed")
    with _store().session(me().tenant_id) as s:
        try:
            return jsonify(figure_accounts(s, month, figure, cohort=_cohort(), as_of=_as_of()))
        except ReportError as exc:
            raise ApiError(400, str(exc)) from None


@v1.get("/reports/renewals")
def report_renewals() -> Any:
    _only(COHORT | {"per_month"})
    per_month = request.args.get("per_month", "25")
    if not per_month.isdigit():
        raise ApiError(400, "per_month must be a whole number from 1 to 1000")
    with _store().session(me().tenant_id) as s:
        try:
            return jsonify(renewals(s, cohort=_cohort(), as_of=_as_of(), per_month=int(per_month)))
        except ReportError as exc:
            raise ApiError(400, str(exc)) from None


@v1.put("/reports/renewals/calls")
def report_renewal_call() -> Any:
    """``{"account_id", "renewal_date", "checkpoint": 6|3, "call", "expected_arr", "note"}``: record or replace the
    call. Admins and managers on any account, a CSM on their own accounts, a viewer never."""
    _only(frozenset())
    who = me()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, 'send a JSON object, e.g. {"account_id": 7, "renewal_date": "2027-03-01", '
                            '"checkpoint": 3, "call": "commit", "expected_arr": 12000}')
    allowed = {"account_id", "renewal_date", "checkpoint", "call", "expected_arr", "note"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(map(str, unknown))[:200]}; allowed: "
                            f"{', '.join(sorted(allowed))}")
    try:
        account_id, checkpoint = int(body["account_id"]), int(body["checkpoint"])
        renewal = dt.date.fromisoformat(str(body["renewal_date"]))
    except (KeyError, TypeError, ValueError):
        raise ApiError(400, "account_id (a number), renewal_date (YYYY-MM-DD) and checkpoint (6 or 3) are "
                            "needed") from None
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 2000):
        raise ApiError(400, "note must be text of at most 2,000 characters")
    if who.role == "viewer":
        raise ApiError(403, "viewers cannot record forecast calls")
    with _store().session(who.tenant_id) as s:
        account = s.get(Account, account_id)
        if account is None:
            raise ApiError(404, f"no account {account_id} in this workspace")
        if who.role == "csm" and account.csm_user_id != who.user_id:
            raise ApiError(403, "a CSM records calls on their own accounts only")
        try:
            call = record_call(s, account_id, renewal, checkpoint, str(body.get("call")), body.get("expected_arr"),
                               note, who.email, who.user_id)
        except RevenueError as exc:
            s.rollback()
            raise ApiError(400, str(exc)) from None
        return jsonify({"account_id": call.account_id, "renewal_date": call.renewal_date.isoformat(),
                        "checkpoint": call.checkpoint, "call": call.call,
                        "expected_arr": None if call.expected_arr is None else float(call.expected_arr),
                        "note": call.note})
