"""Reports: the figures the console's report pages and ``/api/v1/reports/…`` show, computed by `analytics`
from the store (docs/analytics.md). Both read these functions, so a page and the API never disagree.

The ARR timeline of a workspace is built from all its subscriptions once and kept (`timeline`) until a
subscription or a version changes: the fingerprint is their count and newest change.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analytics.definitions import DEFINITIONS
from analytics.forecast import Probabilities, forecast
from analytics.forecast import probabilities as calibrate
from analytics.retention import add_months, monthly_series, period_figures
from analytics.timeline import ArrTimeline, build_timeline
from store.models import Account, HealthSnapshot, RenewalCall, Subscription, SubscriptionVersion, Tenant, User
from store.portfolio_keys import reference_day
from store.queries import live_accounts
from store.scoping import current_tenant
from sync.revenue import load_terms, probabilities

UNITS = ("arr", "mrr")
FIGURES = ("start", "churn", "contraction", "expansion", "new", "reactivation", "closing", "grr", "nrr",
           "logo_churn", "revenue_churn", "expansion_rate", "contraction_rate", "net_mrr_churn", "quick_ratio",
           "arr_renewal_rate", "customer_renewal_rate", "undecided", "cltv")
RATIOS = frozenset({"grr", "nrr", "logo_churn", "revenue_churn", "expansion_rate", "contraction_rate",
                    "net_mrr_churn", "arr_renewal_rate", "customer_renewal_rate"})


class ReportError(ValueError):
    """A report asked for with bad parameters; the message says which and what is allowed."""


@dataclass(frozen=True)
class Cohort:
    """Which accounts a report counts: all, or those of a segment, tier and/or CSM."""

    segment: str | None = None
    tier: str | None = None
    csm_user_id: int | None = None

    @property
    def everyone(self) -> bool:
        return self.segment is None and self.tier is None and self.csm_user_id is None

    def account_ids(self, session: Session) -> list[int] | None:
        if self.everyone:
            return None
        where = [live_accounts()]
        if self.segment is not None:
            where.append(Account.segment == self.segment)
        if self.tier is not None:
            where.append(Account.tier == self.tier)
        if self.csm_user_id is not None:
            where.append(Account.csm_user_id == self.csm_user_id)
        return list(session.scalars(select(Account.id).where(*where)))


_timelines: dict[int, tuple[tuple[Any, ...], ArrTimeline]] = {}
_lock = threading.Lock()


def timeline(session: Session) -> ArrTimeline:
    """The workspace's ARR timeline, rebuilt only when its subscriptions changed since the last build."""
    tenant_id = current_tenant(session)
    if tenant_id is None:
        raise ReportError("reports are read in a workspace's session")
    fingerprint = _fingerprint(session)
    with _lock:
        cached = _timelines.get(tenant_id)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    built = build_timeline(load_terms(session))
    with _lock:
        _timelines[tenant_id] = (fingerprint, built)
    return built


def _fingerprint(session: Session) -> tuple[Any, ...]:
    """What the timeline is built from, in two cheap aggregates: subscriptions and versions, counted and newest."""
    return (*session.execute(select(func.count(Subscription.id), func.max(Subscription.updated_at))).one(),
            *session.execute(select(func.count(SubscriptionVersion.id), func.max(SubscriptionVersion.id))).one())


def as_of_day(session: Session) -> dt.date:
    """The day reports are as of: the workspace's latest scored day (what the portfolio shows), else today."""
    return reference_day(session.scalar(select(func.max(HealthSnapshot.day))))


def _number(value: Any, ratio: bool) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value
    return round(float(value), 6 if ratio else 2)


def _tenant(session: Session) -> Tenant:
    tenant = session.get(Tenant, current_tenant(session))
    if tenant is None:
        raise ReportError("no workspace")
    return tenant


def month_of(text: str) -> dt.date:
    try:
        day = dt.datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise ReportError(f"month must look like 2026-10, not {text!r}") from None
    return day


def revenue(session: Session, *, months: int = 12, unit: str = "arr", cohort: Cohort = Cohort(),
            as_of: dt.date | None = None) -> dict[str, Any]:
    """GRR, NRR, churn, expansion and the other period figures per calendar month: the `months` complete months
    before `as_of`'s month, oldest first, plus the month to date."""
    if unit not in UNITS:
        raise ReportError(f"unit must be arr or mrr, not {unit!r}")
    if not 1 <= months <= 36:
        raise ReportError("months must be from 1 to 36")
    day = as_of or as_of_day(session)
    line = timeline(session)
    margin = Decimal(str(_tenant(session).gross_margin))
    ids = cohort.account_ids(session)
    current = day.replace(day=1)
    series = monthly_series(line, add_months(current, -1), months, ids, unit, margin, day)
    to_date = period_figures(line, current, day + dt.timedelta(days=1), ids, unit, margin, day)
    rows = [{"month": f.first.strftime("%Y-%m"), "first": f.first.isoformat(), "end": f.end.isoformat(),
             "complete": True, **{k: _number(v, k in RATIOS) for k, v in f.figures().items()}} for f in series]
    rows.append({"month": current.strftime("%Y-%m"), "first": current.isoformat(),
                 "end": (day + dt.timedelta(days=1)).isoformat(), "complete": False,
                 **{k: _number(v, k in RATIOS) for k, v in to_date.figures().items()}})
    return {"as_of": day.isoformat(), "unit": unit, "gross_margin": float(margin), "months": rows,
            "definitions": {k: DEFINITIONS[k] for k in FIGURES}, "recurring_now": _number(to_date.closing, False)}


def figure_accounts(session: Session, month: str, figure: str, *, cohort: Cohort = Cohort(),
                    as_of: dt.date | None = None) -> dict[str, Any]:
    """The accounts behind one month's figure (e.g. churn of 2026-10), with their opening and closing ARR."""
    first = month_of(month)
    day = as_of or as_of_day(session)
    end = min(add_months(first, 1), day + dt.timedelta(days=1))
    if end <= first:
        raise ReportError(f"{month} is after the report's day ({day.isoformat()})")
    figures = period_figures(timeline(session), first, end, cohort.account_ids(session),
                             gross_margin=Decimal(str(_tenant(session).gross_margin)), as_of=day)
    try:
        lines = figures.accounts(figure)
    except ValueError as exc:
        raise ReportError(str(exc)) from None
    names = _names(session, [line.account for line in lines])
    return {"month": month, "figure": figure, "definition": DEFINITIONS.get(figure, ""),
            "accounts": [{"account_id": line.account, "name": names.get(line.account, f"Account {line.account}"),
                          "opening": _number(line.opening, False), "closing": _number(line.closing, False),
                          "delta": _number(line.delta, False)} for line in lines]}


def _names(session: Session, ids: list[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for i in range(0, len(ids), 500):
        out.update(session.execute(select(Account.id, Account.name).where(Account.id.in_(ids[i : i + 500]))).all())
    return out


PER_MONTH = 25
"""Renewals listed per month (those with the most ARR at risk first); the totals count them all."""

_calibrations: dict[int, tuple[tuple[Any, ...], Probabilities]] = {}


def _probabilities(session: Session, line: ArrTimeline, day: dt.date) -> Probabilities:
    """p(band), recalibrated from the workspace's renewals; kept until the timeline, the latest scored day, the
    report's day or the workspace's defaults change (the band history it reads is one query per renewal day)."""
    tenant = _tenant(session)
    defaults = {None if band == "none" else band: Decimal(str(p)) for band, p in probabilities(tenant).items()}
    key = (_fingerprint(session), session.scalar(select(func.max(HealthSnapshot.day))), day, tuple(sorted(
        (band or "", p) for band, p in defaults.items())))
    with _lock:
        cached = _calibrations.get(tenant.id)
    if cached is not None and cached[0] == key:
        return cached[1]
    found = calibrate(line, day, _band_history(session, line, day), defaults)
    with _lock:
        _calibrations[tenant.id] = (key, found)
    return found


def renewals(session: Session, *, cohort: Cohort = Cohort(), as_of: dt.date | None = None,
             per_month: int = PER_MONTH) -> dict[str, Any]:
    """The renewal forecast: renewals due per month for 12 months by health band, expected ARR and revenue at
    risk, the p(band) used and where they came from, and per month the `per_month` renewals with the most ARR at
    risk (all overdue ones) with the CSMs' calls beside them."""
    if not 1 <= per_month <= 1000:
        raise ReportError("per_month must be from 1 to 1000")
    day = as_of or as_of_day(session)
    line = timeline(session)
    ids = cohort.account_ids(session)
    bands = dict(session.execute(select(Account.id, Account.health_band)).all())
    probs = _probabilities(session, line, day)
    result = forecast(line, day, bands, None, probs.p, ids)
    listed = [sorted(m.dues, key=lambda d: (-d.at_risk, d.renewal, d.account))[:per_month] for m in result.months]
    due_ids = sorted({d.account for rows in listed for d in rows} | {d.account for d in result.overdue})
    names = _names(session, due_ids)
    csm: dict[int, str] = {}
    for i in range(0, len(due_ids), 500):
        csm.update(session.execute(select(Account.id, User.email).join(User, User.id == Account.csm_user_id)
                                   .where(Account.id.in_(due_ids[i : i + 500]))).all())
    calls: dict[tuple[int, dt.date], dict[int, RenewalCall]] = defaultdict(dict)
    for i in range(0, len(due_ids), 500):
        for call in session.scalars(select(RenewalCall).where(RenewalCall.renewal_date >= day.replace(day=1),
                                                              RenewalCall.account_id.in_(due_ids[i : i + 500]))):
            calls[(call.account_id, call.renewal_date)][call.checkpoint] = call

    def due(d: Any) -> dict[str, Any]:
        made = calls.get((d.account, d.renewal), {})
        return {"account_id": d.account, "name": names.get(d.account, f"Account {d.account}"),
                "renewal_date": d.renewal.isoformat(), "arr": _number(d.arr, False), "band": d.band,
                "p": _number(d.p, True), "expected": _number(d.expected, False), "at_risk": _number(d.at_risk, False),
                "csm": csm.get(d.account),
                "calls": {str(k): {"call": c.call, "expected_arr": _number(c.expected_arr, False), "note": c.note}
                          for k, c in sorted(made.items())}}

    def totals(t: Any) -> dict[str, Any]:
        return {"count": t.count, "arr": _number(t.arr, False), "expected": _number(t.expected, False),
                "at_risk": _number(t.at_risk, False)}

    return {
        "as_of": day.isoformat(),
        "probabilities": {band or "none": {"p": _number(probs.p[band], True), "source": probs.source(band)}
                          for band in probs.p},
        "calibrated": probs.calibrated,
        "months": [{"month": m.first.strftime("%Y-%m"), **totals(m.total),
                    "by_band": {band or "none": totals(t) for band, t in m.by_band.items()},
                    "renewals": [due(d) for d in rows], "more": m.total.count - len(rows)}
                   for m, rows in zip(result.months, listed, strict=True)],
        "overdue": [due(d) for d in result.overdue],
        "definitions": {k: DEFINITIONS[k] for k in ("expected_renewal_arr", "revenue_at_risk")},
    }


def _band_history(session: Session, line: ArrTimeline, day: dt.date) -> dict[int, list[tuple[dt.date, str | None]]]:
    """Each renewing account's band 90 days before its renewals of the last year (what recalibration reads),
    from the snapshots of those days only."""
    from analytics.forecast import BAND_LEAD

    start = day - dt.timedelta(days=366)
    accounts, days, _, _ = line.renewal_rows(start, day + dt.timedelta(days=1))
    wanted: dict[dt.date, set[int]] = defaultdict(set)
    for account, ordinal in zip(accounts.tolist(), days.tolist(), strict=True):
        wanted[dt.date.fromordinal(ordinal) - BAND_LEAD].add(account)
    history: dict[int, list[tuple[dt.date, str | None]]] = defaultdict(list)
    for snap_day, ids in sorted(wanted.items()):
        chosen = sorted(ids)
        for i in range(0, len(chosen), 500):
            for account, band in session.execute(select(HealthSnapshot.account_id, HealthSnapshot.band).where(
                    HealthSnapshot.day == snap_day, HealthSnapshot.account_id.in_(chosen[i : i + 500]))).all():
                history[account].append((snap_day, band))
    return history
