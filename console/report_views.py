"""The console's report pages: *Revenue* (GRR with NRR, churn, expansion per month, each figure with its
definition and the accounts behind it) and *Renewals* (the 12-month forecast by health band, revenue at risk,
the CSMs' forecast calls). Figures come from `sync.reports`, as the API's do; every chart has a table view and a
CSV (`console.charts`).

On the console blueprint: a live session for every page, the CSRF token on the call form; viewers read only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, abort, redirect, render_template, request, url_for
from sqlalchemy import select

from console.charts import Chart, Series
from console.views import _store, console, who
from store.models import Account
from sync.base_reports import cohort_choices
from sync.reports import RATIOS, Cohort, ReportError, figure_accounts, parse_day, renewals, revenue
from sync.revenue import RevenueError, record_call

HEADLINE = ("grr", "nrr", "logo_churn", "revenue_churn", "expansion_rate", "contraction_rate", "net_mrr_churn",
            "quick_ratio", "arr_renewal_rate", "customer_renewal_rate", "cltv")
LABELS = {
    "start": "Starting ARR", "churn": "Churned", "contraction": "Contraction", "expansion": "Expansion", "new": "New",
    "reactivation": "Reactivation", "closing": "Closing ARR", "grr": "Gross revenue retention",
    "nrr": "Net revenue retention", "logo_churn": "Logo churn", "revenue_churn": "Revenue churn",
    "expansion_rate": "Expansion rate", "contraction_rate": "Contraction rate", "net_mrr_churn": "Net MRR churn",
    "quick_ratio": "Quick ratio", "arr_renewal_rate": "ARR renewal rate", "customer_renewal_rate":
    "Customer renewal rate", "undecided": "Undecided renewals", "cltv": "Customer lifetime value",
    "expected_renewal_arr": "Expected renewal ARR", "revenue_at_risk": "Revenue at risk",
}
BAND_NAMES = {"good": "Good", "average": "Average", "poor": "Poor", "none": "Not scored"}


def _cohort() -> Cohort:
    raw = request.args.get("csm") or ""
    if raw and not raw.isdigit():
        abort(400, description="csm must be a user id")
    return Cohort(request.args.get("segment") or None, request.args.get("tier") or None, int(raw) if raw else None)


def _as_of() -> dt.date | None:
    """``?as_of=YYYY-MM-DD``: the report's day (default: the workspace's latest scored day)."""
    try:
        return parse_day(request.args.get("as_of"))
    except ReportError as exc:
        abort(400, description=str(exc))


def _filters(session: Any) -> dict[str, Any]:
    """The values the cohort filter offers: segments and tiers in use, the CSMs (`cohort_choices`: a stored copy)."""
    return cohort_choices(session)


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 4)


def revenue_charts(report: dict[str, Any]) -> list[Chart]:
    months = [m for m in report["months"] if m["complete"]]
    labels = [m["month"] for m in months]
    return [
        Chart("retention", "line", f"Gross and net revenue retention per {report['period']}", labels,
              [Series("GRR", [_pct(m["grr"]) for m in months]), Series("NRR", [_pct(m["nrr"]) for m in months])],
              unit="percent", category=report["period"].capitalize(), reference=100, reference_label="100 %"),
        Chart("movements", "stacked", f"ARR movements per {report['period']} ({report['unit'].upper()})", labels,
              [Series("New", [m["new"] for m in months]), Series("Reactivation", [m["reactivation"] for m in months]),
               Series("Expansion", [m["expansion"] for m in months]),
               Series("Contraction", [-(m["contraction"] or 0) for m in months]),
               Series("Churn", [-(m["churn"] or 0) for m in months])], unit="money", category="Month"),
        Chart("logo-churn", "bar", f"Logo churn per {report['period']}", labels,
              [Series("Logo churn", [_pct(m["logo_churn"]) for m in months])], unit="percent", category="Month"),
    ]


def renewal_charts(report: dict[str, Any]) -> list[Chart]:
    labels = [m["month"] for m in report["months"]]
    bands = ("good", "average", "poor", "none")
    return [
        Chart("forecast", "stacked", "Renewals due: expected ARR and revenue at risk", labels,
              [Series("Expected renewal ARR", [m["expected"] for m in report["months"]]),
               Series("Revenue at risk", [m["at_risk"] for m in report["months"]])], unit="money", category="Month"),
        Chart("due-by-band", "stacked", "ARR due by current health band", labels,
              [Series(BAND_NAMES[b], [m["by_band"][b]["arr"] for m in report["months"]],
                      band=b if b != "none" else None) for b in bands], unit="money", category="Month"),
    ]


def _csv(chart: Chart) -> Response:
    response = Response(chart.csv(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f"attachment; filename={chart.csv_filename}"
    return response


def _one(charts: list[Chart], ident: str) -> Chart:
    found = next((c for c in charts if c.ident == ident), None)
    if found is None:
        abort(404, description=f"no chart {ident!r} on this page; charts: {', '.join(c.ident for c in charts)}")
    return found


@console.get("/reports")
def reports() -> Any:
    return redirect(url_for("console.report_revenue"))


@console.get("/reports/revenue")
def report_revenue() -> Any:
    me = who()
    months, unit = request.args.get("months", "12"), request.args.get("unit", "arr")
    if not months.isdigit():
        abort(400, description="months must be a whole number from 1 to 36")
    with _store().session(me.tenant_id) as s:
        try:
            report = revenue(s, months=int(months), unit=unit, cohort=_cohort(), as_of=_as_of(),
                             period=request.args.get("period", "month"))
        except ReportError as exc:
            abort(400, description=str(exc))
        filters = _filters(s)
    charts = revenue_charts(report)
    if request.args.get("csv"):
        return _csv(_one(charts, request.args["csv"]))
    complete = [m for m in report["months"] if m["complete"]]
    return render_template("console/report_revenue.html", me=me, report=report, charts=charts,
                           last=complete[-1] if complete else None, to_date=report["months"][-1], headline=HEADLINE,
                           labels=LABELS, ratios=RATIOS, filters=filters, args=request.args)


@console.get("/reports/revenue/accounts")
def report_revenue_accounts() -> Any:
    me = who()
    month, figure = request.args.get("month", ""), request.args.get("figure", "")
    with _store().session(me.tenant_id) as s:
        try:
            found = figure_accounts(s, month, figure, cohort=_cohort(), as_of=_as_of())
        except ReportError as exc:
            abort(400, description=str(exc))
    return render_template("console/report_accounts.html", me=me, found=found, labels=LABELS)


@console.get("/reports/renewals")
def report_renewals() -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        report = renewals(s, cohort=_cohort(), as_of=_as_of())
        filters = _filters(s)
        mine = set(s.scalars(select(Account.id).where(Account.csm_user_id == me.user_id)))
    charts = renewal_charts(report)
    if request.args.get("csv"):
        return _csv(_one(charts, request.args["csv"]))
    return render_template("console/report_renewals.html", me=me, report=report, charts=charts, labels=LABELS,
                           bands=BAND_NAMES, filters=filters, args=request.args, mine=mine,
                           message=request.args.get("message"))


@console.post("/reports/renewals/calls")
def report_renewal_call() -> Any:
    me = who()
    if me.role == "viewer":
        abort(403, description="viewers cannot record forecast calls")
    form = request.form
    try:
        account_id, checkpoint = int(form.get("account_id", "")), int(form.get("checkpoint", ""))
        renewal = dt.date.fromisoformat(form.get("renewal_date", ""))
    except ValueError:
        abort(400, description="account, renewal date and checkpoint (6 or 3) are needed")
    with _store().session(me.tenant_id) as s:
        account = s.get(Account, account_id)
        if account is None:
            abort(404, description="no such account in this workspace")
        if me.role == "csm" and account.csm_user_id != me.user_id:
            abort(403, description="a CSM records calls on their own accounts only")
        try:
            record_call(s, account_id, renewal, checkpoint, form.get("call", ""), form.get("expected_arr"),
                        form.get("note"), me.email, me.user_id)
        except RevenueError as exc:
            s.rollback()
            abort(400, description=str(exc))
        name = account.name
    text = f"Call recorded for {name} ({checkpoint}-month checkpoint, renewal {renewal.isoformat()})"
    return redirect(url_for("console.report_renewals", message=text, _anchor=f"due-{account_id}"))
