"""The v1 routes for the base reports, on the same blueprint as `api.v1` (authentication, scoping, errors).

    GET  /reports/health      band distribution, score histogram, weekly trend by ?by=, benchmarks, persistent poor
    GET  /reports/adoption    key features by tier, cohort and month; upgrade-ready; needs training; sponsors
    GET  /reports/users       the engagement leaderboard (?account= for one account, ?limit=)
    GET  /reports/team        per CSM and per team over ?days=7|30|90|365, scoped to the caller's role

Figures are computed by `sync.base_reports`, the functions the console's report pages read. Cohort parameters
(``segment``, ``tier``, ``csm_user_id``) and ``as_of`` as on the revenue reports.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request

from api.reports import COHORT, _as_of, _cohort
from api.v1 import ApiError, _only, _store, me, v1
from extensions import health_model
from sync.base_reports import adoption_report, health_report, leaderboard_report, team_report
from sync.reports import ReportError


def _whole(name: str, default: str) -> int:
    raw = request.args.get(name, default)
    if not raw.isdigit():
        raise ApiError(400, f"{name} must be a whole number, not {raw[:40]!r}")
    return int(raw)


@v1.get("/reports/health")
def report_health() -> Any:
    _only(COHORT | {"by"})
    measures = sorted(health_model(current_app).measures)
    with _store().session(me().tenant_id) as s:
        try:
            return jsonify(health_report(s, by=request.args.get("by", "segment"), cohort=_cohort(), as_of=_as_of(),
                                         measures=measures))
        except ReportError as exc:
            raise ApiError(400, str(exc)) from None


@v1.get("/reports/adoption")
def report_adoption() -> Any:
    _only(COHORT | {"months"})
    months = _whole("months", "6")
    signals = health_model(current_app).signals
    with _store().session(me().tenant_id) as s:
        try:
            return jsonify(adoption_report(s, key_features=signals.key_features, login_event=signals.login_event,
                                           cohort=_cohort(), as_of=_as_of(), months=months))
        except ReportError as exc:
            raise ApiError(400, str(exc)) from None


@v1.get("/reports/users")
def report_users() -> Any:
    _only(COHORT | {"account", "limit"})
    limit = _whole("limit", "50")
    account = _whole("account", "0") if request.args.get("account") else None
    with _store().session(me().tenant_id) as s:
        try:
            return jsonify(leaderboard_report(s, key_features=health_model(current_app).signals.key_features,
                                              account_id=account, limit=limit, cohort=_cohort(), as_of=_as_of()))
        except ReportError as exc:
            raise ApiError(400, str(exc)) from None


@v1.get("/reports/team")
def report_team() -> Any:
    """A CSM sees their own row, a manager their own and their direct reports' rows and their team, admins and
    viewers everyone."""
    _only(frozenset({"days", "as_of"}))
    days = _whole("days", "30")
    who = me()
    with _store().session(who.tenant_id) as s:
        try:
            return jsonify(team_report(s, days=days, as_of=_as_of(), role=who.role, user_id=who.user_id))
        except ReportError as exc:
            raise ApiError(400, str(exc)) from None
