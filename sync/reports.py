"""Reports: the figures the console's report pages and ``/api/v1/reports/…`` show, computed by `analytics`
from the store (docs/analytics.md). Both read these functions, so a page and the API never disagree.

The ARR timeline of a workspace is built from all its subscriptions once and kept (`timeline`) until a
subscription or a version changes: the fingerprint is their count and newest change.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, case, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from analytics.definitions import DEFINITIONS
from analytics.forecast import BANDS as forecast_bands
from analytics.forecast import BandColumns, Probabilities, forecast
from analytics.forecast import probabilities as calibrate
from analytics.retention import add_months, period_figures
from analytics.timeline import ArrTimeline, build_timeline
from store.arrays import int_columns
from store.models import (
    BANDS,
    Account,
    HealthSnapshot,
    RenewalCall,
    RevenueTimeline,
    Subscription,
    SubscriptionVersion,
    Tenant,
    User,
)
from store.portfolio_keys import reference_day
from store.queries import live_accounts
from store.scoping import current_tenant
from sync.revenue import load_columns, probabilities

log = logging.getLogger("canary.reports")

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

    def conditions(self) -> list[ColumnElement[bool]]:
        """Live accounts of the cohort, as conditions on `Account`."""
        where = [live_accounts()]
        if self.segment is not None:
            where.append(Account.segment == self.segment)
        if self.tier is not None:
            where.append(Account.tier == self.tier)
        if self.csm_user_id is not None:
            where.append(Account.csm_user_id == self.csm_user_id)
        return where

    def account_ids(self, session: Session) -> list[int] | None:
        if self.everyone:
            return None
        return list(session.scalars(select(Account.id).where(*self.conditions())))


def parse_day(raw: str | None) -> dt.date | None:
    """A report's ``as_of`` as a request gives it (YYYY-MM-DD; empty: None, the workspace's latest scored day)."""
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ReportError(f"as_of must be a date like 2026-11-30, not {raw[:40]!r}") from None


CACHED_WORKSPACES = 16
"""Timelines a process keeps in memory (the workspaces it read most recently); the others are read from
`revenue_timelines` again — a few MB, tens of milliseconds."""

_timelines: OrderedDict[int, tuple[tuple[Any, ...], ArrTimeline]] = OrderedDict()
_lock = threading.Lock()


def timeline(session: Session) -> ArrTimeline:
    """The workspace's ARR timeline as its subscriptions are now (see `_timeline`)."""
    return _timeline(session)[1]


def _timeline(session: Session) -> tuple[tuple[Any, ...], ArrTimeline]:
    """(what it was built from — `_fingerprint` —, the timeline): this process's copy while the subscriptions
    are unchanged, else the one stored after the last sync (`prepare_timeline`), else built here and stored."""
    tenant_id = current_tenant(session)
    if tenant_id is None:
        raise ReportError("reports are read in a workspace's session")
    fingerprint = _fingerprint(session)
    with _lock:
        cached = _timelines.get(tenant_id)
        if cached is not None and cached[0] == fingerprint:
            _timelines.move_to_end(tenant_id)
            return cached
    built = (fingerprint, _stored(session, fingerprint) or _build_and_store(session, fingerprint))
    with _lock:
        _timelines[tenant_id] = built
        _timelines.move_to_end(tenant_id)
        while len(_timelines) > CACHED_WORKSPACES:
            _timelines.popitem(last=False)
    return built


def prepare_timeline(session: Session) -> bool:
    """Build and store the workspace's timeline unless the stored one is current (what a worker runs after a sync
    that may have changed subscriptions, so that no report request has to build it); True when it was built."""
    fingerprint = _fingerprint(session)
    if session.scalar(select(RevenueTimeline.id).where(RevenueTimeline.fingerprint == repr(fingerprint))):
        return False
    _build_and_store(session, fingerprint)
    return True


def _stored(session: Session, fingerprint: tuple[Any, ...]) -> ArrTimeline | None:
    payload = _payload(session, repr(fingerprint))
    if payload is None:
        return None
    try:
        return ArrTimeline.loads(payload)
    except ValueError as exc:  # another layout (an older Canary wrote it): rebuilt and stored again
        log.info("stored ARR timeline not read (%s); rebuilding", exc)
        return None


def _payload(session: Session, fingerprint: str) -> bytes | None:
    """The stored timeline's bytes if built from `fingerprint`. On PostgreSQL read in binary (psycopg's text
    protocol sends a bytea as hex: twice the bytes and a decode), in the session's transaction."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return session.scalar(select(RevenueTimeline.payload).where(RevenueTimeline.fingerprint == fingerprint))
    with connection.connection.driver_connection.cursor(binary=True) as cursor:  # type: ignore[union-attr]
        cursor.execute("SELECT payload FROM revenue_timelines WHERE tenant_id = %s AND fingerprint = %s",
                       (current_tenant(session), fingerprint))
        row = cursor.fetchone()
    return bytes(row[0]) if row is not None else None


def _build_and_store(session: Session, fingerprint: tuple[Any, ...]) -> ArrTimeline:
    built = build_timeline(load_columns(session))
    payload = built.dumps()
    try:
        with session.begin_nested():  # two processes may store at once: the second one's write is dropped
            row = session.scalar(select(RevenueTimeline))
            if row is None:
                row = RevenueTimeline()
                session.add(row)
            row.fingerprint, row.payload, row.subscriptions = repr(fingerprint), payload, int(fingerprint[0])
            row.built_at = dt.datetime.now(dt.UTC)
    except SQLAlchemyError as exc:
        log.warning("ARR timeline built but not stored: %s", exc.__class__.__name__)
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


PERIODS = {"month": 1, "quarter": 3, "year": 12}
"""A report's period and its length in months."""


def period_start(day: dt.date, period: str) -> dt.date:
    """The first day of the month, quarter or year `day` is in."""
    if period not in PERIODS:
        raise ReportError(f"period must be month, quarter or year, not {period!r}")
    step = PERIODS[period]
    return dt.date(day.year, (day.month - 1) // step * step + 1, 1)


def period_label(first: dt.date, period: str) -> str:
    return {"month": f"{first:%Y-%m}", "quarter": f"{first.year}-Q{(first.month - 1) // 3 + 1}",
            "year": f"{first.year}"}[period]


def parse_period(label: str) -> tuple[dt.date, str]:
    """'2026-10' (a month), '2026-Q3' (a quarter) or '2026' (a year) → (its first day, its kind)."""
    text = label.strip().upper()
    try:
        if len(text) == 4 and text.isdigit():
            return dt.date(int(text), 1, 1), "year"
        if len(text) == 7 and text[4:6] == "-Q" and text[6] in "1234":
            return dt.date(int(text[:4]), 3 * int(text[6]) - 2, 1), "quarter"
        return dt.datetime.strptime(text, "%Y-%m").date(), "month"
    except ValueError:
        raise ReportError(f"a period looks like 2026-10, 2026-Q3 or 2026, not {label[:40]!r}") from None


def revenue(session: Session, *, months: int = 12, unit: str = "arr", cohort: Cohort = Cohort(),
            as_of: dt.date | None = None, period: str = "month") -> dict[str, Any]:
    """GRR, NRR, churn, expansion and the other period figures per calendar month (or quarter, or year): the
    `months` complete periods before the one `as_of` is in, oldest first, plus that period to date."""
    if unit not in UNITS:
        raise ReportError(f"unit must be arr or mrr, not {unit!r}")
    if not 1 <= months <= 36:
        raise ReportError("the number of periods must be from 1 to 36")
    day = as_of or as_of_day(session)
    current = period_start(day, period)
    step = PERIODS[period]
    line = timeline(session)
    margin = Decimal(str(_tenant(session).gross_margin))
    ids = cohort.account_ids(session)
    firsts = [add_months(current, -step * back) for back in range(months, 0, -1)]
    spans = [(first, add_months(first, step), True) for first in firsts] + [(current, day + dt.timedelta(days=1),
                                                                             False)]
    rows = []
    for first, end, complete in spans:
        figures = period_figures(line, first, end, ids, unit, margin, day)
        rows.append({"month": period_label(first, period), "first": first.isoformat(), "end": end.isoformat(),
                     "complete": complete, **{k: _number(v, k in RATIOS) for k, v in figures.figures().items()}})
    return {"as_of": day.isoformat(), "unit": unit, "period": period, "gross_margin": float(margin), "months": rows,
            "definitions": {k: DEFINITIONS[k] for k in FIGURES}, "recurring_now": _number(figures.closing, False)}


def figure_accounts(session: Session, month: str, figure: str, *, cohort: Cohort = Cohort(),
                    as_of: dt.date | None = None) -> dict[str, Any]:
    """The accounts behind one period's figure (e.g. churn of 2026-10, of 2026-Q3 or of 2026), with their opening
    and closing ARR."""
    first, period = parse_period(month)
    day = as_of or as_of_day(session)
    end = min(add_months(first, PERIODS[period]), day + dt.timedelta(days=1))
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

_calibrations: dict[int, tuple[str, Probabilities]] = {}


def _probabilities(session: Session, fingerprint: tuple[Any, ...], line: ArrTimeline, day: dt.date) -> Probabilities:
    """p(band), recalibrated from the workspace's renewals; kept until the timeline, the latest scored day, the
    report's day or the workspace's defaults change: in this process, and in `revenue_timelines` for the day the
    reports open on (`prepare_reports` computes that one after every sync and score run)."""
    tenant = _tenant(session)
    defaults = {None if band == "none" else band: Decimal(str(p)) for band, p in probabilities(tenant).items()}
    key = repr((fingerprint, session.scalar(select(func.max(HealthSnapshot.day))), day, tuple(sorted(
        (band or "", p) for band, p in defaults.items()))))
    with _lock:
        cached = _calibrations.get(tenant.id)
    if cached is not None and cached[0] == key:
        return cached[1]
    row = session.scalar(select(RevenueTimeline))
    stored = (row.calibration or {}) if row is not None else {}
    if stored.get("key") == key:
        found = Probabilities({None if b == "none" else b: Decimal(v) for b, v in stored["p"].items()},
                              calibrated=bool(stored["calibrated"]),
                              renewals={None if b == "none" else b: int(n) for b, n in stored["renewals"].items()})
    else:
        found = calibrate(line, day, _band_history(session, line, day), defaults)
        if row is not None and row.fingerprint == repr(fingerprint):
            try:
                with session.begin_nested():
                    row.calibration = {"key": key, "calibrated": found.calibrated,
                                       "p": {b or "none": str(v) for b, v in found.p.items()},
                                       "renewals": {b or "none": n for b, n in found.renewals.items()}}
            except SQLAlchemyError as exc:
                log.warning("p(band) computed but not stored: %s", exc.__class__.__name__)
    with _lock:
        _calibrations[tenant.id] = (key, found)
        while len(_calibrations) > CACHED_WORKSPACES:
            del _calibrations[next(iter(_calibrations))]
    return found


def prepare_reports(session: Session) -> bool:
    """What a worker runs after a sync or a score run: the stored timeline made current (`prepare_timeline`) and
    the renewal forecast's p(band) for the day the reports open on computed and stored, so that no report request
    has to build either. True when something was built."""
    built = prepare_timeline(session)
    before = session.scalar(select(RevenueTimeline.calibration))
    _probabilities(session, _fingerprint(session), timeline(session), as_of_day(session))
    return built or session.scalar(select(RevenueTimeline.calibration)) != before


def _bands(session: Session) -> BandColumns:
    """Every account's current health band (None: not scored), read as integer columns and kept as columns: the
    forecast looks its renewing accounts up at once."""
    code = case(*((Account.health_band == band, forecast_bands.index(band)) for band in BANDS),
                (Account.health_band.is_(None), -1), else_=-2)
    ids, codes = int_columns(session, select(Account.id, code), (Account,))
    if (codes == -2).any():
        raise ReportError(f"account {int(ids[codes == -2][0])} has a health band outside {', '.join(BANDS)}")
    order = np.argsort(ids, kind="stable")
    return BandColumns(ids[order], codes[order])


def renewals(session: Session, *, cohort: Cohort = Cohort(), as_of: dt.date | None = None,
             per_month: int = PER_MONTH) -> dict[str, Any]:
    """The renewal forecast: renewals due per month for 12 months by health band, expected ARR and revenue at
    risk, the p(band) used and where they came from, and per month the `per_month` renewals with the most ARR at
    risk (all overdue ones) with the CSMs' calls beside them."""
    if not 1 <= per_month <= 1000:
        raise ReportError("per_month must be from 1 to 1000")
    day = as_of or as_of_day(session)
    fingerprint, line = _timeline(session)
    ids = cohort.account_ids(session)
    bands = _bands(session)
    probs = _probabilities(session, fingerprint, line, day)
    result = forecast(line, day, bands, None, probs.p, ids)
    listed = [m.most_at_risk(per_month) for m in result.months]
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
    from the snapshots of those (account, day) pairs only: per 1,000 pairs one query joining them, as a VALUES
    list written into the SQL as integers and ISO dates (never user input), to the (tenant, account, day) key."""
    from analytics.forecast import BAND_LEAD

    start = day - dt.timedelta(days=366)
    accounts, days, _, _ = line.renewal_rows(start, day + dt.timedelta(days=1))
    pairs = sorted(set(zip(accounts.tolist(), (days - BAND_LEAD.days).tolist(), strict=True)))
    tenant = int(current_tenant(session) or 0)
    date = "DATE '{}'" if session.get_bind().dialect.name == "postgresql" else "'{}'"
    history: dict[int, list[tuple[dt.date, str | None]]] = defaultdict(list)
    for i in range(0, len(pairs), 1000):
        values = ", ".join(f"({int(a)}, {date.format(dt.date.fromordinal(d).isoformat())})"
                           for a, d in pairs[i : i + 1000])
        rows = session.execute(text(  # the pairs drive the join: one lookup each on the (tenant, account, day) key
            f"WITH wanted (account_id, day) AS (VALUES {values}) "  # noqa: S608 - integers and ISO dates only
            "SELECT s.account_id, s.day, s.band FROM wanted JOIN health_snapshots s ON s.tenant_id = :tenant "
            "AND s.account_id = wanted.account_id AND s.day = wanted.day"), {"tenant": tenant})
        for account, snap_day, band in rows:
            history[account].append((snap_day if isinstance(snap_day, dt.date) else dt.date.fromisoformat(snap_day),
                                     band))
    for rows_of in history.values():
        rows_of.sort()
    return history
