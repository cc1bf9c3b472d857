"""The console's report pages on the whole base: *Health*, *Adoption*, *Users* and *Team*. Figures come from
`sync.base_reports`, as the API's do; every chart has its table view and CSV (`console.charts`), every figure
its definition (the `DEFINITIONS` of `analytics.base`, `analytics.adoption`, `analytics.team`).

Every signed-in role reads Health, Adoption and Users for the whole workspace (as Revenue); on Team a CSM sees
their own row, a manager their team, admins and viewers everyone (`sync.base_reports.visible_people`).

A page opened with its default view (no cohort, the latest scored day; Team for the viewer's own scope) reads the
copy the worker stored after the last sync or score run; a cohort, another day or one account's leaderboard is
computed on its first request and stored for the next (`sync.base_reports`, *Prepared copies*).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Response, abort, current_app, render_template, request

from console.charts import Chart, Series, _cell
from console.report_views import _as_of, _cohort, _csv, _filters, _one
from console.views import _store, console, who
from extensions import health_model
from sync.base_reports import BY, TEAM_DAYS, adoption_report, health_report, leaderboard_report, team_report
from sync.reports import ReportError

BANDS = ("good", "average", "poor", "unscored")
BAND_NAMES = {"good": "Good", "average": "Average", "poor": "Poor", "unscored": "Not scored"}
BY_NAMES = {"segment": "Segment", "tier": "Tier", "stage": "Lifecycle stage", "csm": "CSM"}
MAX_LINES = 8
"""Trend lines drawn per chart (the groups with the most accounts); the table and CSV hold the same lines."""
POOR_LISTED = 25
"""Persistently poor accounts listed on the Health page, the most poor weeks first (tens of thousands at 100,000
accounts: a page of megabytes); its CSV and the API list them all."""


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 4)


def health_charts(report: dict[str, Any]) -> list[Chart]:
    overall = report["overall"]
    band_of = [b if b != "unscored" else None for b in BANDS]
    labels = [BAND_NAMES[b] for b in BANDS]
    sizes = {g: d["accounts"] for g, d in report["groups"].items()}
    groups = sorted(report["trend"], key=lambda g: (-sizes.get(g, 0), g))[:MAX_LINES]
    return [
        Chart("band-accounts", "bar", "Accounts by latest health band", labels,
              [Series("Accounts", [overall["count"][b] for b in BANDS])], unit="count", category="Band",
              bands=band_of),
        Chart("band-arr", "bar", "ARR by latest health band", labels,
              [Series("ARR", [overall["band_arr"][b] for b in BANDS])], unit="money", category="Band", bands=band_of),
        Chart("histogram", "histogram", "Accounts by latest health score",
              [f"{10 * i}–{10 * i + 10}" for i in range(10)],
              [Series("Accounts", [float(n) for n in overall["histogram"]])], unit="count", category="Score"),
        Chart("trend", "line", f"Average health score per week by {BY_NAMES[report['by']].lower()}",
              [w[5:] for w in report["weeks"]],
              [Series(g, [p["average_score"] for p in report["trend"][g]]) for g in groups] or [
                  Series("Accounts", [None for _ in report["weeks"]])], unit="number", category="Week of"),
    ]


def adoption_charts(report: dict[str, Any]) -> list[Chart]:
    features = report["key_features"]
    tiers = {(r["group"], r["feature"]): r["account_share"] for r in report["by_tier"]}
    months = report["monthly"]
    return [
        Chart("tier-adoption", "hbar", "Accounts using each key feature (30 days): premium vs standard", features,
              [Series(name, [_pct(tiers.get((group, f))) for f in features])
               for group, name in (("premium", "Premium"), ("standard", "Standard"))], unit="percent",
              category="Key feature"),
        Chart("monthly-adoption", "line", "Active users using each key feature, per month",
              [m["month"] for m in months],
              [Series(f, [_pct(next(r["user_share"] for r in m["rows"] if r["feature"] == f)) for m in months])
               for f in features], unit="percent", category="Month"),
    ]


def leaderboard_chart(report: dict[str, Any]) -> Chart:
    users = report["users"]
    return Chart("leaderboard", "hbar", "Most engaged users (active days + key-feature days, 30 days)",
                 [f"{u['rank']}. {u['user_name'] or u['user_key']}" for u in users],
                 [Series("Active days", [u["active_days"] for u in users]),
                  Series("Key-feature days", [u["key_feature_days"] for u in users])], unit="count",
                 category="User")


def team_charts(report: dict[str, Any]) -> list[Chart]:
    rows = report["csms"]
    names = [r["name"] for r in rows]
    trend = report["trend"]
    weeks = [p["week"][5:] for p in next(iter(trend.values()), [])]
    return [
        Chart("tasks", "stacked", f"Tasks per CSM: done in the last {report['days']} days, open now", names,
              [Series("On time", [r["on_time"] for r in rows]), Series("Late", [r["late"] for r in rows]),
               Series("Overdue now", [r["overdue"] for r in rows]),
               Series("Open, not yet due", [r["open"] for r in rows])],
              unit="count", category="CSM"),
        Chart("portfolio-health", "line", "Average health of each CSM's accounts per week", weeks,
              [Series(g, [p["average_score"] for p in points]) for g, points in list(trend.items())[:MAX_LINES]],
              unit="number", category="Week of") if trend and weeks else
        Chart("portfolio-health", "line", "Average health of each CSM's accounts per week", ["–"],
              [Series("No accounts", [None])], unit="number", category="Week of"),
    ]


def _report(fn: Any, **kwargs: Any) -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        try:
            report = fn(s, **kwargs)
        except ReportError as exc:
            abort(400, description=str(exc))
        filters = _filters(s)
    return me, report, filters


@console.get("/reports/health")
def report_health() -> Any:
    by = request.args.get("by", "segment")
    me, report, filters = _report(health_report, by=by, cohort=_cohort(), as_of=_as_of(),
                                  measures=sorted(health_model(current_app).measures))
    if request.args.get("csv") == "persistent-poor":
        return _poor_csv(report["persistent_poor"]["accounts"])
    charts = health_charts(report)
    if request.args.get("csv"):
        return _csv(_one(charts, request.args["csv"]))
    return render_template("console/report_health.html", me=me, report=report, charts=charts, filters=filters,
                           args=request.args, by_names=BY_NAMES, by_choices=list(BY), bands=BAND_NAMES,
                           poor_listed=POOR_LISTED)


def _poor_csv(accounts: list[dict[str, Any]]) -> Response:
    """Every persistently poor account as CSV: id, name, how many poor weeks, which (ISO dates, space-separated)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["Account id", "Account", "Poor weeks", "Weeks of"])
    for p in accounts:
        writer.writerow([p["account_id"], _cell(p["name"]), len(p["poor_weeks"]), " ".join(p["poor_weeks"])])
    response = Response(out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = "attachment; filename=canary-persistent-poor.csv"
    return response


@console.get("/reports/adoption")
def report_adoption() -> Any:
    signals = health_model(current_app).signals
    me, report, filters = _report(adoption_report, key_features=signals.key_features,
                                  login_event=signals.login_event, cohort=_cohort(), as_of=_as_of())
    charts = adoption_charts(report)
    if request.args.get("csv"):
        return _csv(_one(charts, request.args["csv"]))
    return render_template("console/report_adoption.html", me=me, report=report, charts=charts, filters=filters,
                           args=request.args)


@console.get("/reports/users")
def report_users() -> Any:
    raw = request.args.get("account") or ""
    if raw and not raw.isdigit():
        abort(400, description="account must be an account id")
    me, report, filters = _report(leaderboard_report, key_features=health_model(current_app).signals.key_features,
                                  account_id=int(raw) if raw else None, cohort=_cohort(), as_of=_as_of())
    chart = leaderboard_chart(report)
    if request.args.get("csv"):
        return _csv(_one([chart], request.args["csv"]))
    return render_template("console/report_users.html", me=me, report=report, charts=[chart], filters=filters,
                           args=request.args)


@console.get("/reports/team")
def report_team() -> Any:
    raw = request.args.get("days", "30")
    if not raw.isdigit():
        abort(400, description="days must be 7, 30, 90 or 365")
    me = who()
    me, report, _ = _report(team_report, days=int(raw), as_of=_as_of(), role=me.role, user_id=me.user_id)
    charts = team_charts(report)
    if request.args.get("csv"):
        return _csv(_one(charts, request.args["csv"]))
    return render_template("console/report_team.html", me=me, report=report, charts=charts, args=request.args,
                           days=TEAM_DAYS)
