"""Reports on the whole base: *Health* (distribution, weekly trend, measure benchmarks, persistent poor health),
*Adoption* (key features by tier, start cohort and month; upgrade-ready accounts; users who need training;
champions and sponsors), *Users* (the engagement leaderboard) and *Team* (per CSM and per team).

The figures are `analytics.base`, `analytics.adoption` and `analytics.team` (docs/analytics.md); this module
reads the store for them, grouping in SQL whatever those functions accept pre-aggregated (counts per group,
week and band; distinct users per account and feature), so no page reads a row per account and day. The
console's pages and ``/api/v1/reports/…`` both call these functions, so they never disagree.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import operator
import typing
import warnings
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec
import numpy as np
from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    LargeBinary,
    Table,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from analytics import adoption as ad
from analytics import base as hb
from analytics import team as tm
from analytics import team_arrays as tma
from analytics.base_arrays import benchmarks_of_matrix
from scoring import HealthModel, default_model
from store.models import (
    Account,
    AccountFact,
    Alert,
    Contact,
    HealthSnapshot,
    HealthWeek,
    ProductUser,
    ReportCopy,
    ReportFactPack,
    ReportFactsState,
    Subscription,
    Task,
    Tenant,
    UsageDaily,
    UsageFactsState,
    UsageMonthly,
    User,
)
from store.queries import live_accounts
from store.scoping import current_tenant, scoped_core
from sync.collection import collected_rarely
from sync.reports import Cohort, ReportError, as_of_day

log = logging.getLogger(__name__)

BY = {"segment": "segment", "tier": "tier", "stage": "lifecycle_stage", "csm": "csm"}
"""``?by=`` of the health trend → the `analytics.base` dimension."""
WINDOW = 30
"""Days of usage the adoption and user figures read (docs/analytics.md: 30-day windows)."""
TEAM_DAYS = (7, 30, 90, 365)
LEADERBOARD = 50
LISTED = 200
"""Rows listed per table of the adoption report (the totals count them all)."""


# --- small SQL helpers -----------------------------------------------------------------------------------------
def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _month(session: Session, column: Any) -> Any:
    if _postgres(session):
        return cast(func.date_trunc("month", column), Date)
    return func.date(column, "start of month")


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(ids))
    out: dict[int, str] = {}
    for i in range(0, len(wanted), 500):
        out.update(session.execute(select(Account.id, Account.name).where(Account.id.in_(wanted[i : i + 500]))).all())
    return out


def _people(session: Session) -> dict[int, str]:
    return {uid: name or email for uid, name, email in session.execute(select(User.id, User.name, User.email))}


def _group_column(dimension: str | None) -> Any:
    if dimension is None:
        return literal(hb.ALL)
    if dimension == "csm":
        return Account.csm_user_id
    return getattr(Account, dimension)


def _label(value: Any, dimension: str | None, people: dict[int, str]) -> str:
    if dimension is None:
        return hb.ALL
    if value is None or value == "":
        return hb.NOT_SET
    if dimension == "csm":
        return people.get(int(value), f"User {value}")
    return str(value)


def _latest(day: dt.date, tenant: int | None = None, accounts: Sequence[int] | None = None) -> Any:
    """Per account, the day of its latest snapshot on or before `day`: the latest of its `HealthWeek` week ends
    (one row per week, not per snapshot), but in the week of `day` when that week's last snapshot is later than
    `day` (a report as of an earlier day): those few accounts' from the snapshots. `tenant`: the workspace's
    conditions spelled out (a driver read, which the session's scoping does not filter). `accounts`: only these
    accounts' (a patch of their facts: `refresh_account_facts_of`)."""
    this_week = hb.week_start(day)
    weeks = [HealthWeek.tenant_id == tenant] if tenant is not None else []
    if accounts is not None:
        weeks.append(HealthWeek.account_id.in_(list(accounts)))
    kept = (select(HealthWeek.account_id.label("account_id"), func.max(HealthWeek.day).label("day"))
            .where(HealthWeek.week <= this_week, or_(HealthWeek.week < this_week, HealthWeek.day <= day), *weeks)
            .group_by(HealthWeek.account_id))
    later = (select(HealthWeek.account_id).where(HealthWeek.week == this_week, HealthWeek.day > day, *weeks)
             .scalar_subquery())
    earlier = (select(HealthSnapshot.account_id, func.max(HealthSnapshot.day))
               .where(HealthSnapshot.day >= this_week, HealthSnapshot.day <= day, HealthSnapshot.account_id.in_(later),
                      *([HealthSnapshot.tenant_id == tenant] if tenant is not None else []))
               .group_by(HealthSnapshot.account_id))
    both = union_all(kept, earlier).subquery("week_latest")
    return (select(both.c.account_id, func.max(both.c.day).label("day")).group_by(both.c.account_id)
            .subquery("latest"))


def _week_ends(first: dt.date, day: dt.date) -> Any:
    """Per account and ISO week from `first` (a Monday) to `day`: the score and band of the week's last snapshot
    on or before `day`. The `HealthWeek` rows hold them, but for the week of `day` when its last snapshot is
    later than `day` (a report as of an earlier day): those few accounts' are read from the snapshots."""
    this_week = hb.week_start(day)
    kept = (select(HealthWeek.account_id, HealthWeek.week, HealthWeek.score, HealthWeek.band)
            .where(HealthWeek.week >= first, or_(HealthWeek.week < this_week, HealthWeek.day <= day)))
    later = (select(HealthWeek.account_id).where(HealthWeek.week == this_week, HealthWeek.day > day)
             .scalar_subquery())
    last = (select(HealthSnapshot.account_id.label("account_id"), func.max(HealthSnapshot.day).label("day"))
            .where(HealthSnapshot.day >= this_week, HealthSnapshot.day <= day, HealthSnapshot.account_id.in_(later))
            .group_by(HealthSnapshot.account_id).subquery("last"))
    earlier = (select(HealthSnapshot.account_id, literal(this_week, Date), HealthSnapshot.score, HealthSnapshot.band)
               .join(last, and_(last.c.account_id == HealthSnapshot.account_id, last.c.day == HealthSnapshot.day)))
    return union_all(kept, earlier).subquery("week_ends")


def _masks(first: dt.date, last: dt.date) -> dict[dt.date, int]:
    """Per month that days `first`…`last` touch: the `UsageMonthly.days` bits of those days."""
    out: dict[dt.date, int] = {}
    d = first
    while d <= last:
        out[d.replace(day=1)] = out.get(d.replace(day=1), 0) | 1 << (d.day - 1)
        d += dt.timedelta(days=1)
    return out


def _days_in(first: dt.date, last: dt.date) -> Any:
    """A `UsageMonthly` row's day bits within `first`…`last` (0 in other months), in SQL."""
    return case(*[(UsageMonthly.month == m, UsageMonthly.days.bitwise_and(k)) for m, k in _masks(first, last).items()],
                else_=0)


def _bits(mask: Any) -> Any:
    """How many bits of a day mask (< 2**31, a BIGINT column: it is repeated) are set, in SQL: the SWAR popcount
    (SQLite has no bit_count); the constants inline, as PostgreSQL shifts a BIGINT by an INTEGER only."""
    def n(value: int) -> Any:
        return literal_column(str(value))

    x = mask - mask.bitwise_rshift(n(1)).bitwise_and(n(0x55555555))
    x = x.bitwise_and(n(0x33333333)) + x.bitwise_rshift(n(2)).bitwise_and(n(0x33333333))
    x = (x + x.bitwise_rshift(n(4))).bitwise_and(n(0x0F0F0F0F))
    return (x * n(0x01010101)).bitwise_rshift(n(24)).bitwise_and(n(0xFF))


def _window_rows(first: dt.date, last: dt.date, key_features: Sequence[str], *where: Any) -> Any:
    """The key features' and the any-event ('') monthly rows of the months `first`…`last` touch, with ``d`` their
    day bits within those days."""
    return (select(UsageMonthly.account_id.label("a"), UsageMonthly.user_key.label("u"),
                   UsageMonthly.event.label("e"), cast(_days_in(first, last), BigInteger).label("d"))
            .where(UsageMonthly.month.in_(list(_masks(first, last))), UsageMonthly.event.in_([*key_features, ""]),
                   *where).subquery("window_rows"))


def _day(session: Session, as_of: dt.date | None) -> dt.date:
    return as_of or as_of_day(session)


# --- Health ------------------------------------------------------------------------------------------------------
def weekly_counts(session: Session, dimension: str | None, first: dt.date, day: dt.date, cohort: Cohort,
                  people: dict[int, str]) -> list[hb.WeekCount]:
    """`WeekCount` rows (GROUP BY group, ISO week, band) of the cohort's week-end snapshots from `first` to `day`:
    from the account facts when they hold the day and weeks (`fresh_account_facts`), else from the week rows."""
    facts = fresh_account_facts(session, day, first_week=first)
    if facts is not None:
        return _fact_week_counts(session, facts, dimension, first, cohort, people)
    ends = _week_ends(first, day)
    group = _group_column(dimension)
    rows = session.execute(
        select(group.label("g"), ends.c.week, ends.c.band, func.count(), func.count(ends.c.score),
               func.coalesce(func.sum(ends.c.score), 0.0))
        .select_from(ends).join(Account, Account.id == ends.c.account_id).where(*cohort.conditions())
        .group_by(group, ends.c.week, ends.c.band)).all()
    out: dict[tuple[str, dt.date, str | None], list[float]] = {}
    for g, week, band, n, scored, total in rows:  # two CSM ids may carry one name: merge their cells
        cell = out.setdefault((_label(g, dimension, people), _date(week), band), [0, 0, 0.0])
        cell[0] += n
        cell[1] += scored
        cell[2] += float(total)
    return [hb.WeekCount(g, w, b, int(c[0]), int(c[1]), c[2]) for (g, w, b), c in out.items()]


def _distribution_dict(d: hb.Distribution) -> dict[str, Any]:
    return {"accounts": d.accounts, "arr": _round(d.arr), "count": dict(d.count),
            "band_arr": {k: _round(v) for k, v in d.band_arr.items()}, "histogram": list(d.histogram)}


@collected_rarely
def _health_report(session: Session, *, by: str = "segment", cohort: Cohort = Cohort(), as_of: dt.date | None = None,
                  weeks: int = 12, measures: Sequence[str] = (), poor_weeks: int = 3, of_weeks: int = 4,
                  shared: dict[Any, Any] | None = None) -> dict[str, Any]:
    """Latest band distribution (count and ARR) and score histogram, per group of `by` and over all; the weekly
    trend of the last `weeks` ISO weeks per group; p10…p90 of each of `measures` per segment; the accounts poor
    in `poor_weeks` of the last `of_weeks` weeks.

    `shared`: a dict kept between the reports of one preparation (`prepare_base_reports`, in one transaction):
    the benchmarks and persistent poor health, which do not depend on `by`, are computed for the first `by`
    and reused for the others; the accounts' facts are read once (`_every_fact`), shared with the Team views."""
    if by not in BY:
        raise ReportError(f"by must be one of {', '.join(BY)}, not {by[:40]!r}")
    if not 1 <= weeks <= 53:
        raise ReportError("weeks must be from 1 to 53")
    if not 1 <= poor_weeks <= of_weeks <= 26:
        raise ReportError("persistent poor health needs 1 <= N <= M <= 26 weeks")
    dimension = BY[by]
    day = _day(session, as_of)
    people = _people(session)
    latest = _latest(day)
    group = _group_column(dimension)
    mondays = [hb.week_start(day) - dt.timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    reuse = (day, tuple(_cohort_key(cohort)), tuple(measures), poor_weeks, of_weeks)
    cached = shared.get(reuse) if shared is not None else None
    # the latest scored day's views from the account facts (a row per account), when they hold what is asked: the
    # distribution, benchmarks and persistent poor health their measures and weeks, the trend its weeks; the
    # facts the trend, benchmarks and persistent poor health read are read once (`_fact_rows`)
    facts = fresh_account_facts(session, day)
    whole = facts is not None and facts.holds(measures, hb.week_start(day) - dt.timedelta(weeks=of_weeks - 1))
    trend_facts = facts is not None and facts.holds((), mondays[0])
    # the whole base's: from the workspace's pack (one row) while it holds
    pack = labels = None
    if facts is not None and whole and trend_facts and cohort.everyone and len(set(measures)) == len(measures):
        pack = _fact_pack(session, facts, "health")
        labels = None if pack is None else _pack_labels(pack, dimension, people)
        pack = None if labels is None else pack
    rows = None
    if pack is None and facts is not None and (trend_facts or whole):
        rows = _fact_rows(session, facts, dimension, cohort, people, measures=whole and cached is None,
                          shared=shared)
    score = HealthSnapshot.score
    tenth = func.floor(score / 10) if _postgres(session) else score / 10  # SQLite's CAST truncates, PG's rounds
    bin_ = case((score.is_(None), None), (score >= 100, 9), else_=cast(tenth, Integer))
    band_rows = [] if whole else session.execute(
        select(group.label("g"), HealthSnapshot.band, bin_.label("bin"), func.count(),
               func.coalesce(func.sum(func.coalesce(Account.arr, 0.0)), 0.0))
        .select_from(Account).outerjoin(latest, latest.c.account_id == Account.id)
        .outerjoin(HealthSnapshot, and_(HealthSnapshot.account_id == latest.c.account_id,
                                        HealthSnapshot.day == latest.c.day))
        .where(*cohort.conditions()).group_by(group, HealthSnapshot.band, bin_)).all()
    counts = [hb.BandCount(_label(g, dimension, people), band, None if b is None else int(b), int(n), float(arr))
              for g, band, b, n, arr in band_rows]
    if whole and rows is not None:
        counts = _fact_distribution(rows, _postgres(session))
    if pack is not None and labels is not None:
        counts = _pack_distribution(pack, dimension, labels)
    try:
        per_group = hb.distribution_of(counts)
        overall = hb.distribution_of(dataclasses.replace(c, group=hb.ALL) for c in counts).get(hb.ALL,
                                                                                                hb.Distribution())
        if pack is not None and labels is not None and facts is not None:
            week_counts = _pack_week_counts(pack, facts, dimension, labels, mondays[0])
        elif trend_facts and facts is not None and rows is not None:
            week_counts = _fact_week_counts(session, facts, dimension, mondays[0], cohort, people, rows)
        else:
            week_counts = weekly_counts(session, dimension, mondays[0], day, cohort, people)
        trend = hb.trend_of(week_counts, day, weeks, per_group)
        if cached is not None:
            bench, poor, names = cached
        else:
            if pack is not None:
                bench = _pack_benchmarks(pack, measures)
                poor, names = _pack_persistent_poor(pack, day, poor_weeks, of_weeks)
            elif whole and facts is not None and rows is not None:
                bench = _fact_benchmarks(rows, facts, measures)
                poor = _fact_persistent_poor(rows, facts, day, poor_weeks, of_weeks)
                wanted = {p.account_id for p in poor}
                names = {a: name for a, name in zip(rows.ids.tolist(), rows.names, strict=True) if a in wanted}
            else:
                bench = _benchmarks(session, latest, cohort, measures)
                poor = _persistent_poor(session, day, cohort, poor_weeks, of_weeks)
                names = _names(session, [p.account_id for p in poor])
            if shared is not None:
                shared[reuse] = bench, poor, names
    except ValueError as exc:
        raise ReportError(str(exc)) from None
    iso: dict[tuple[dt.date, ...], list[str]] = {}  # the weeks' texts per pattern of poor weeks (a few)
    return {
        "as_of": day.isoformat(), "by": by, "weeks": [m.isoformat() for m in mondays],
        "overall": _distribution_dict(overall),
        "groups": {g: _distribution_dict(d) for g, d in per_group.items()},
        "trend": {g: [{"week": p.week.isoformat(), "accounts": p.accounts, "average_score": _round(p.average_score),
                       "good": p.good, "average": p.average, "poor": p.poor} for p in points]
                  for g, points in trend.items()},
        "benchmarks": [{"segment": b.segment, "measure": b.measure, "accounts": b.accounts,
                        "percentiles": {f"p{p}": _round(v, 4) for p, v in b.percentiles.items()}} for b in bench],
        "persistent_poor": {"at_least": poor_weeks, "of_last": of_weeks, "accounts": [
            {"account_id": p.account_id, "name": names.get(p.account_id, f"Account {p.account_id}"),
             "poor_weeks": list(iso.get(p.poor_weeks) or iso.setdefault(p.poor_weeks, [w.isoformat() for w in
                                                                                         p.poor_weeks]))}
            for p in poor]},
        "definitions": dict(hb.DEFINITIONS),
    }


def _benchmarks(session: Session, latest: Any, cohort: Cohort, measures: Sequence[str]) -> list[hb.Benchmark]:
    """Measure values of each account's latest snapshot (`_measure_rows`), handed to the pure function as
    columns."""
    if not measures:
        return []
    lead, values = _measure_rows(session, [Account.segment], latest, cohort.conditions(), measures)
    return hb.benchmarks_of_columns([r[0] for r in lead], measures, values)


def _measure_rows(session: Session, lead: Sequence[Any], latest: Any, where: Sequence[Any], measures: Sequence[str],
                  tenant: int | None = None, skip_day: dt.date | None = None
                  ) -> tuple[list[tuple[Any, ...]], list[list[float | None]]]:
    """`lead`'s columns and the measure values of each account's latest snapshot (of the accounts `where` keeps),
    read from its JSON in SQL (no whole `parts` loaded): on SQLite all measures in one ``json_extract`` (one parse
    of the document per row, a JSON array back, decoded with msgspec), on PostgreSQL a column per measure. Returns
    the rows' `lead` values and a column of values per measure (None: missing). `tenant`: the workspace's
    conditions spelled out (`latest` must name it too) and, on SQLite, the rows read through the driver
    (`_driver_rows`: `lead`'s values as it returns them, a date as its ISO text); else the session's. `skip_day`:
    the snapshots of that day are not read (their values None: the caller knows them, see `KnownMeasures`)."""
    postgres = _postgres(session)
    one_pass = not postgres and len(measures) > 1 and not any('"' in m for m in measures)
    named = [c.label(f"lead_{i}") for i, c in enumerate(lead)]
    scope = [Account.tenant_id == tenant, HealthSnapshot.tenant_id == tenant] if tenant is not None else []
    parts: Any = HealthSnapshot.parts
    if skip_day is not None:
        parts = type_coerce(case((HealthSnapshot.day == skip_day, null()), else_=HealthSnapshot.parts),
                            HealthSnapshot.parts.type)
    source = (select(*named, parts.label("parts")).select_from(latest)
              .join(HealthSnapshot, and_(HealthSnapshot.account_id == latest.c.account_id,
                                         HealthSnapshot.day == latest.c.day))
              .join(Account, Account.id == latest.c.account_id).where(*where, *scope))

    def read(statement: Any) -> Sequence[Any]:  # PostgreSQL's paths are bound as SQLAlchemy's types bind them
        return (_driver_rows(session, statement) if tenant is not None and not postgres
                else session.execute(statement).all())

    k = len(lead)
    if postgres:
        # `parts` is json (text): parsed once per row into jsonb, in a subquery OFFSET 0 keeps from being inlined,
        # then each measure's path is read from the binary form (not a parse of the text per measure)
        parsed = source.with_only_columns(*named, cast(parts, JSONB).label("parts")).offset(0) \
            .subquery("p")
        rows = read(select(*[parsed.c[f"lead_{i}"] for i in range(k)],
                           *[parsed.c.parts[("parts", m, "value")].as_float() for m in measures]))
    elif one_pass:
        rows = read(source.with_only_columns(
            *named, func.json_extract(parts, *[f'$."parts"."{m}"."value"' for m in measures])))
    else:
        rows = read(source.with_only_columns(*named, *[parts[("parts", m, "value")].as_float() for m in measures]))
    leads = [tuple(r[:k]) for r in rows]
    if not measures:
        return leads, []
    if one_pass:
        empty = [None] * len(measures)
        decode = msgspec.json.decode
        arrays = [decode(r[k]) if r[k] is not None else empty for r in rows]
        values = [[x if x.__class__ is float else _as_float(x) for x in column]
                  for column in (zip(*arrays, strict=True) if arrays else [[]] * len(measures))]
    else:
        values = [[r[k + i] for r in rows] for i in range(len(measures))]
    return leads, values


def _as_float(value: Any) -> float | None:
    """A JSON value as SQLite's ``CAST(… AS FLOAT)`` reads it (what the one-measure query does)."""
    if value is None or isinstance(value, list | dict):
        return None if value is None else 0.0
    if isinstance(value, bool | int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return 0.0


def _persistent_poor(session: Session, day: dt.date, cohort: Cohort, at_least: int, of_last: int
                     ) -> list[hb.PoorHealth]:
    """Only the poor week-end rows of the last `of_last` weeks are read (all that matters to the rule)."""
    first = hb.week_start(day) - dt.timedelta(weeks=of_last - 1)
    ends = _week_ends(first, day)
    rows = session.execute(
        select(ends.c.account_id, ends.c.week).select_from(ends)
        .join(Account, Account.id == ends.c.account_id)
        .where(ends.c.band == "poor", *cohort.conditions())).all()
    return hb.persistent_poor([hb.WeekHealth(a, _date(w), None, "poor") for a, w in rows], day, at_least, of_last)


# --- Account facts: the Health and Team views of the latest scored day from a row per account --------------------
FACT_WEEKS = 26
"""ISO weeks of week-end health an `AccountFact` holds (the trend's default 12, persistent poor's up to 26, the
team report's 7…90 days); views of more weeks read the week rows."""
_BAND_CODES = {"good": "g", "average": "a", "poor": "p", None: "n"}
_NO_WEEK = "-"
_LOOKUP = np.full(256, 4, dtype=np.int64)
for _i, _code in enumerate("gapn"):
    _LOOKUP[ord(_code)] = _i
_CODE_BANDS: tuple[str | None, ...] = ("good", "average", "poor", None)
_FACT_COLUMNS = ("tenant_id", "account_id", "day", "score", "band", "measures", "week_scores", "week_bands")


@dataclasses.dataclass(frozen=True)
class _Facts:
    day: dt.date
    measures: tuple[str, ...]
    last_week: dt.date
    weeks: int
    fingerprint: str = ""

    def first_week(self) -> dt.date:
        return self.last_week - dt.timedelta(weeks=self.weeks - 1)

    def holds(self, measures: Sequence[str] = (), first_week: dt.date | None = None) -> bool:
        return set(measures) <= set(self.measures) and (first_week is None or first_week >= self.first_week())


def _facts_fingerprint(session: Session) -> str:
    """What the facts are built from: the workspace's epoch (hashed), then in the clear the newest snapshot's day
    and id (their `health_weeks` change only with them), so that a patch (`patch_base_reports`) can tell which
    snapshots were added since. A score rewritten in place is a partial score run's, which patches its accounts'
    facts (`patch_base_reports`); rows removed are a sync's, which builds them again."""
    tenant = current_tenant(session)
    sources = _sources(tenant)
    epoch = tuple(map(tuple, session.execute(sources["epoch"][0]).all()))
    day, newest = (session.scalar(query) for query in sources["snapshots"])
    return f"{_short(tenant, 'facts', epoch)}:{day}:{newest}"


def _short(*what: Any) -> str:
    """A short hash of `what` (a part of a fingerprint, compared with itself only)."""
    return hashlib.sha256(repr(what).encode()).hexdigest()[:12]


def only_rows_of(session: Session, key: Any, account: Any, newest: str, accounts: Sequence[int]) -> bool:
    """Whether every row of `key`'s table with a key above `newest` (a fingerprint's mark: "None" for no row then)
    belongs to one of `accounts` or to no account (one index range read: the rows added since)."""
    try:
        floor = int(newest) if newest != "None" else None
    except ValueError:
        return False
    query = select(key).where(account.is_not(None), account.not_in(list(accounts)))
    if floor is not None:
        query = query.where(key > floor)
    return session.execute(query.limit(1)).first() is None


def fresh_account_facts(session: Session, day: dt.date, measures: Sequence[str] = (), first_week: dt.date | None = None
                 ) -> _Facts | None:
    """The workspace's facts when they hold `day` (the latest scored day they were built on), `measures` and the
    weeks from `first_week`, and the snapshots are unchanged since; else None (the view reads the snapshots)."""
    state = session.execute(select(ReportFactsState.day, ReportFactsState.measures, ReportFactsState.last_week,
                                   ReportFactsState.weeks, ReportFactsState.fingerprint)).first()
    if state is None or _date(state.day) != day:
        return None
    facts = _Facts(_date(state.day), tuple(json.loads(state.measures)), _date(state.last_week), int(state.weeks),
                   state.fingerprint)
    if not facts.holds(measures, first_week):
        return None
    return facts if state.fingerprint == _facts_fingerprint(session) else None


@dataclasses.dataclass
class KnownMeasures:
    """The measure values a score run has just written into its day's snapshots' parts, kept from its arrays
    (`scoring.ScoreBatch.measure_values`): the account facts built right after the run (`refresh_account_facts`)
    take them from here instead of reading them back from the JSON of every snapshot of the day. Only the accounts
    `add`ed with exact values are known; any other snapshot of the day is read as before."""

    day: dt.date
    measures: tuple[str, ...]
    _ids: list[np.ndarray] = dataclasses.field(default_factory=list)
    _rows: list[np.ndarray] = dataclasses.field(default_factory=list)

    def add(self, account_ids: Sequence[int], values: np.ndarray, exact: np.ndarray) -> None:
        """Accounts' values (accounts × `measures`, NaN: none), those whose `exact` is set."""
        keep = np.flatnonzero(exact)
        self._ids.append(np.asarray(account_ids, dtype=np.int64)[keep])
        self._rows.append(np.ascontiguousarray(values[keep], dtype=np.float64))

    def rows(self) -> tuple[dict[int, int], np.ndarray]:
        """(each known account's row, the rows: accounts × measures)."""
        ids = np.concatenate(self._ids) if self._ids else np.zeros(0, dtype=np.int64)
        rows = np.concatenate(self._rows) if self._rows else np.zeros((0, len(self.measures)))
        return dict(zip(ids.tolist(), range(len(ids)), strict=True)), rows


def refresh_account_facts(session: Session, measures: Sequence[str], known: KnownMeasures | None = None) -> int:
    """Builds the workspace's `AccountFact` rows for its latest scored day, set-based: the latest snapshot per
    account with its `measures` (the SQL the Health report reads them with), the week-end rows of the last
    `FACT_WEEKS` weeks (a band is good, average, poor or none: the snapshots' CHECK); all written in one
    executemany. Returns how many. `known`: the values of the snapshots a score run has just written, not read
    again (when it holds these `measures`)."""
    tenant = current_tenant(session)
    if tenant is None:
        raise ValueError("account facts are built for one workspace")
    session.execute(delete(ReportFactsState))
    session.execute(delete(AccountFact))
    if session.scalar(select(func.max(HealthSnapshot.day))) is None:
        return 0
    day = as_of_day(session)
    measures = sorted(set(measures))
    rows = _fact_tuples(session, tenant, day, measures,
                        known=known if known is not None and known.measures == tuple(measures) else None)
    _insert_tuples(session, AccountFact.__table__, _FACT_COLUMNS, rows)
    session.execute(insert(typing.cast(Table, ReportFactsState.__table__)).values(
        tenant_id=tenant, day=day, fingerprint=_facts_fingerprint(session), measures=json.dumps(measures),
        last_week=hb.week_start(day), weeks=FACT_WEEKS, built_at=dt.datetime.now(dt.UTC)))
    return len(rows)


def refresh_account_facts_of(session: Session, accounts: Sequence[int]) -> bool:
    """The `AccountFact` rows of `accounts` built again (`refresh_account_facts`' SQL restricted to them: an
    account without a snapshot nor week row left has none) for the day and measures the facts hold, and the facts'
    fingerprint stamped again: after a score run of some accounts (`patch_base_reports`), whose snapshots it
    rewrote in place. Returns whether the rows differ from those they replace (as the driver returns them); the
    caller checks the facts held before (`_facts_patchable`)."""
    tenant = current_tenant(session)
    state = session.execute(select(ReportFactsState.id, ReportFactsState.day, ReportFactsState.measures)).first()
    if tenant is None or state is None:
        raise ValueError("account facts are patched for one workspace that has them")
    wanted = sorted(set(accounts))
    rows: list[tuple[Any, ...]] = []
    old: list[tuple[Any, ...]] = []
    for i in range(0, len(wanted), 5000):
        chunk = wanted[i:i + 5000]
        old += _core_rows(session, select(*[AccountFact.__table__.c[c] for c in _FACT_COLUMNS])
                          .where(AccountFact.account_id.in_(chunk)), AccountFact)
        session.execute(delete(AccountFact).where(AccountFact.account_id.in_(chunk)))
        rows += _fact_tuples(session, tenant, _date(state.day), json.loads(state.measures), chunk)
    _insert_tuples(session, AccountFact.__table__, _FACT_COLUMNS, rows)
    session.execute(update(ReportFactsState).where(ReportFactsState.id == state.id).values(
        fingerprint=_facts_fingerprint(session), built_at=dt.datetime.now(dt.UTC)))
    return sorted(map(tuple, old), key=operator.itemgetter(1)) != sorted(rows, key=operator.itemgetter(1))


def _fact_tuples(session: Session, tenant: int, day: dt.date, measures: Sequence[str],
                 accounts: Sequence[int] | None = None, known: KnownMeasures | None = None) -> list[tuple[Any, ...]]:
    """The `AccountFact` rows (`_FACT_COLUMNS`) of the workspace's accounts (of `accounts`: only theirs) for `day`:
    the latest snapshot per account with its `measures`, the week-end rows of the last `FACT_WEEKS` weeks. `known`:
    the values of its day's snapshots a score run kept (those of the accounts it knows are not read)."""
    last_week = hb.week_start(day)
    first = last_week - dt.timedelta(weeks=FACT_WEEKS - 1)
    mine = [] if accounts is None else [Account.id.in_(list(accounts))]
    # a driver read (no `Row` nor type processing per account): the day as the driver returns it, written so
    lead_columns = [Account.id, HealthSnapshot.day, HealthSnapshot.score, HealthSnapshot.band]
    lead, values = _measure_rows(session, lead_columns, _latest(day, tenant, accounts), mine, measures, tenant,
                                 skip_day=known.day if known is not None else None)
    matrix = np.array([[np.nan if x is None else x for x in column] for column in values],
                      dtype=np.float64).T.copy() if lead and measures else np.zeros((len(lead), len(measures)))
    if known is not None and lead and measures:
        # the run's day: its values from the run, but those of accounts it does not know, read as before
        position, rows = known.rows()
        skipped = {known.day.isoformat(), known.day}  # the day as the driver returns it (SQLite: its ISO text)
        unknown: list[int] = []
        for i, head in enumerate(lead):
            if head[1] in skipped:
                at = position.get(head[0])
                if at is None:
                    unknown.append(i)
                else:
                    matrix[i] = rows[at]
        for start in range(0, len(unknown), 5000):
            part = unknown[start:start + 5000]
            found, read = _measure_rows(session, lead_columns, _latest(day, tenant, accounts),
                                        [*mine, Account.id.in_([lead[i][0] for i in part])], measures, tenant)
            where = {lead[i][0]: i for i in part}
            for k, head in enumerate(found):
                matrix[where[head[0]]] = [np.nan if c[k] is None else c[k] for c in read]
    # the week rows of the weeks from `first` (on the latest scored day no row is of a later day): the week's
    # slot and the band's letter computed in SQL, so no date or string is made per row
    if _postgres(session):
        slot_of = cast((HealthWeek.week - literal(first, Date)) / 7, Integer)
    else:
        slot_of = cast((func.julianday(HealthWeek.week) - func.julianday(literal(first.isoformat()))) / 7, Integer)
    letter = case(*[(HealthWeek.band == band, ord(code)) for band, code in _BAND_CODES.items() if band],
                  else_=ord(_BAND_CODES[None]))
    weeks = _core_rows(session, select(HealthWeek.account_id, slot_of, HealthWeek.score, letter)
                       .where(HealthWeek.week >= first,
                              *([] if accounts is None else [HealthWeek.account_id.in_(list(accounts))])),
                       HealthWeek)  # a row per account and week: no processing
    ids = np.unique(np.fromiter((r[0] for r in (*lead, *weeks)), dtype=np.int64))
    scores = np.full((len(ids), FACT_WEEKS), np.nan)
    codes = np.full((len(ids), FACT_WEEKS), ord(_NO_WEEK), dtype=np.uint8)
    if weeks:
        columns = list(zip(*weeks, strict=True))
        row = np.searchsorted(ids, np.array(columns[0], dtype=np.int64))
        slot = np.array(columns[1], dtype=np.int64)
        scores[row, slot] = np.array(columns[2], dtype=np.float64)  # None: NaN
        codes[row, slot] = np.array(columns[3], dtype=np.uint8)
    latest: dict[int, tuple[Any, Any, Any, bytes | None]] = {}
    if lead:
        blobs = matrix.tobytes() if measures else b""
        size = 8 * len(measures)
        for i, (a, d, score, band) in enumerate(lead):
            latest[a] = (d, score, band, blobs[i * size:(i + 1) * size] if measures else None)
    empty: tuple[Any, Any, Any, bytes | None] = (None, None, None, None)
    score_blobs, band_text = scores.tobytes(), codes.tobytes().decode("ascii")
    return [(tenant, a, f[0], f[1], f[2], f[3], score_blobs[i * 8 * FACT_WEEKS:(i + 1) * 8 * FACT_WEEKS],
             band_text[i * FACT_WEEKS:(i + 1) * FACT_WEEKS])
            for i, a in enumerate(ids.tolist()) for f in (latest.get(a, empty),)]


def _fact_distribution(rows: _FactRows, postgres: bool) -> list[hb.BandCount]:
    """The distribution's `BandCount` rows (group, band, tenth, accounts, ARR) from the facts' columns, counted with
    NumPy as the snapshot query's SQL groups them: a tenth is floor(score ÷ 10) (SQLite's CAST truncates), 9 for
    100 and over, none without a score; ARR summed in id order (the SQL's order is its own: the sums agree to far
    below the cent they are shown to)."""
    scored = ~np.isnan(rows.score)
    score = np.where(scored, rows.score, 0.0)
    tenth = np.where(score >= 100, 9, np.floor(score / 10) if postgres else np.trunc(score / 10)).astype(np.int64)
    lo = min(0, int(tenth[scored].min(initial=0)))  # a negative score's tenth (PostgreSQL's floor): its own cell
    span = 10 - lo + 1  # per group and band: no score, then the tenths from `lo` to 9
    key = (rows.index * 4 + rows.band) * span + np.where(scored, tenth - lo + 1, 0)
    size = len(rows.labels) * 4 * span
    count = np.bincount(key, minlength=size)
    arr = np.bincount(key, weights=rows.arr, minlength=size)
    out = []
    for cell in np.flatnonzero(count).tolist():
        rest, b = divmod(cell, span)
        label, band = divmod(rest, 4)
        out.append(hb.BandCount(rows.labels[label], _CODE_BANDS[band], None if b == 0 else b - 1 + lo,
                                int(count[cell]), float(arr[cell])))
    return out


def _core_rows(session: Session, statement: Any, *scoped: Any) -> list[Any]:
    """`statement`'s rows as the driver returns them, read through the session's connection: no ORM or SQLAlchemy
    row processing of 100,000 rows, so only for columns the driver returns as read (integers, floats, text,
    blobs: no dates). The workspace's condition on each of `scoped` (models in its FROM) is added here: the
    session's tenant criteria (`store.scoping`) apply to ORM statements only; an outer-joined model's is the
    caller's, in its ON."""
    statement = scoped_core(session, statement, *scoped, what="account facts")
    session.flush()
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # binary results: a blob as its bytes, not hex text the server writes and psycopg decodes per row
        compiled = statement.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
        with typing.cast(Any, connection.connection.driver_connection).cursor(binary=True) as cursor:
            cursor.execute(str(compiled), compiled.params)
            return list(cursor.fetchall())
    result = connection.execute(statement)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def _int_rows(session: Session, statement: Any, *scoped: Any) -> np.ndarray:
    """`statement`'s rows of integers (no NULL: coalesce it) as an int64 matrix, for the workspace (`_core_rows`'
    scoping). Each column comes back as one value, not a row per value (the aggregates of one pass see the rows in
    one order): on SQLite a text of its values (``group_concat``), on PostgreSQL a bytea (``string_agg`` of its
    values' 8 big-endian bytes, ``int8send``)."""
    width = len(statement.selected_columns)
    tenant = current_tenant(session)
    inner = statement.where(*[m.tenant_id == tenant for m in scoped]).subquery("r")
    if not _postgres(session):
        # SQLite: each column as one text (group_concat of its values, the aggregates of one pass in one order)
        # parsed by NumPy, not a row tuple per value
        texts = _core_rows(session, select(*[func.group_concat(c, literal_column("','")) for c in inner.c]))[0]
        if texts[0] is None:
            return np.zeros((0, width), dtype=np.int64)
        return np.stack([np.fromstring(t, dtype=np.int64, sep=",") for t in texts], axis=1)
    blobs = _core_rows(session, select(*[func.string_agg(func.int8send(cast(c, BigInteger)),
                                                         literal(b"", LargeBinary)) for c in inner.c]))
    columns = [np.frombuffer(b or b"", dtype=">i8").astype(np.int64) for b in blobs[0]]
    return np.stack(columns, axis=1) if columns[0].size else np.zeros((0, width), dtype=np.int64)


def _insert_tuples(session: Session, table: Any, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """`rows` (plain tuples in `columns`' order) into `table` in one driver ``executemany``: no dict nor SQLAlchemy
    parameter processing per row, so each value as the driver binds it the way the column's type would: numbers,
    text, bytes; a date as the driver returned it from a date column (SQLite: its ISO text) or `_sql_date`'s."""
    if not rows:
        return
    connection = session.connection()
    mark = "?" if connection.dialect.name == "sqlite" else "%s"
    connection.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608
                               f"VALUES ({', '.join([mark] * len(columns))})", rows)


def _driver_rows(session: Session, statement: Any) -> list[tuple[Any, ...]]:
    """`statement`'s rows as the driver returns them (plain tuples, no type processing: for columns it returns as
    wanted — numbers, text, bytes; a date as SQLite's ISO text), on the session's connection: 100,000 rows without
    a `Row` each. No scoping: the statement names its workspace. The session's pending changes are flushed first."""
    session.flush()
    return connection_rows(session.connection(), statement)


def connection_rows(connection: Any, statement: Any) -> list[tuple[Any, ...]]:
    """`_driver_rows` on a SQLAlchemy connection (a session's, or a read ahead's own)."""
    compiled = statement.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    values = compiled.construct_params()
    params: Any = [values[k] for k in compiled.positiontup or ()] if compiled.positional else values
    cursor = connection.connection.cursor()
    try:
        cursor.execute(str(compiled), params)
        return [tuple(r) for r in cursor.fetchall()]
    finally:
        cursor.close()


def _sql_date(session: Session) -> Callable[[dt.date | None], Any]:
    """A date as the driver binds a date column's value: SQLite's ISO text, else the date."""
    if session.get_bind().dialect.name == "sqlite":
        return lambda d: None if d is None else d.isoformat()
    return lambda d: d


@dataclasses.dataclass(frozen=True)
class _FactRows:
    """The facts of a cohort's accounts as columns (id order), read once per report: row i's group label
    (``labels[index[i]]``), segment, account id and name, week-end scores (NaN: none) and band codes (`_CODE_BANDS`'
    index, 4: no row) of the facts' weeks, the latest snapshot's measure values (NaN; a row of NaN for an account
    without one), its ARR, score and band."""

    labels: list[str]
    index: np.ndarray
    segments: list[Any]
    ids: np.ndarray
    names: list[Any]
    scores: np.ndarray
    bands: np.ndarray
    measures: np.ndarray | None
    has_measures: np.ndarray | None
    arr: np.ndarray
    """The account's ARR (0: none), its latest score (NaN: none) and band's code (3: none or no snapshot)."""
    score: np.ndarray
    band: np.ndarray


@dataclasses.dataclass(frozen=True)
class _EveryFact:
    """Every account of the workspace outer-joined to its facts, as columns (id order): read once per preparation
    (`_every_fact`) for its Health views (each `by`, the live accounts) and Team views (each window), which read
    the same rows one by one otherwise. ``groups``: the raw values of each `BY` dimension's column."""

    ids: np.ndarray
    alive: np.ndarray
    groups: dict[str, list[Any]]
    names: list[Any]
    arr: np.ndarray
    scores: np.ndarray
    bands: np.ndarray
    measures: np.ndarray
    has_measures: np.ndarray
    score: np.ndarray
    band: np.ndarray

    def live_rows(self, dimension: str | None, people: dict[int, str], measures: bool) -> _FactRows:
        """`_fact_rows` of the live accounts (no cohort) grouped by `dimension`."""
        keep = np.flatnonzero(self.alive)
        at = keep.tolist()
        groups = [hb.ALL] * len(at) if dimension is None else [self.groups[dimension][i] for i in at]
        labels: dict[str, int] = {}
        of_value = {g: labels.setdefault(_label(g, dimension, people), len(labels)) for g in dict.fromkeys(groups)}
        index = np.fromiter(map(of_value.__getitem__, groups), dtype=np.int64, count=len(at))
        segments = self.groups["segment"]
        return _FactRows(list(labels), index, [segments[i] for i in at], self.ids[keep], [self.names[i] for i in at],
                         self.scores[keep], self.bands[keep], self.measures[keep] if measures else None,
                         self.has_measures[keep] if measures else None, self.arr[keep], self.score[keep],
                         self.band[keep])


def _every_fact(session: Session, facts: _Facts, shared: dict[Any, Any]) -> _EveryFact:
    """`_EveryFact` of `facts`, read on the first call of a preparation (`shared`) and kept there."""
    key = ("every fact", facts)
    found: _EveryFact | None = shared.get(key)
    if found is not None:
        return found
    tenant = current_tenant(session)
    live = case((live_accounts(), literal_column("1")), else_=literal_column("0"))
    dimensions = list(BY.values())
    rows = _core_rows(session, select(Account.id, live, *[_group_column(d) for d in dimensions], Account.name,
                                      Account.arr, AccountFact.week_scores, AccountFact.week_bands,
                                      AccountFact.score, AccountFact.band, AccountFact.measures)
                      .select_from(Account)
                      .outerjoin(AccountFact, and_(AccountFact.account_id == Account.id,
                                                   AccountFact.tenant_id == tenant)), Account)
    rows.sort(key=operator.itemgetter(0))  # id order here, not the server's sort (PostgreSQL's spills to disk)
    n, width, k = len(rows), facts.weeks, 2 + len(dimensions)
    columns = list(zip(*rows, strict=True)) if rows else [()] * (k + 7)
    no_scores, no_bands = b"\xff" * (8 * width), _NO_WEEK * width  # NaN (a quiet NaN's bytes), no row
    blanks = b"\xff" * (8 * len(facts.measures))
    found = _EveryFact(
        np.fromiter(columns[0], dtype=np.int64, count=n), np.fromiter(columns[1], dtype=bool, count=n),
        {d: list(columns[2 + i]) for i, d in enumerate(dimensions)}, list(columns[k]),
        np.fromiter((0.0 if x is None else x for x in columns[k + 1]), dtype=np.float64, count=n),
        np.frombuffer(b"".join(x if x is not None else no_scores for x in columns[k + 2]),
                      dtype=np.float64).reshape(n, width),
        _LOOKUP[np.frombuffer("".join(x if x is not None else no_bands for x in columns[k + 3]).encode("ascii"),
                              dtype=np.uint8).reshape(n, width)],
        np.frombuffer(b"".join(x if x is not None else blanks for x in columns[k + 6]),
                      dtype=np.float64).reshape(n, len(facts.measures)),
        np.fromiter((x is not None for x in columns[k + 6]), dtype=bool, count=n),
        np.fromiter((np.nan if x is None else x for x in columns[k + 4]), dtype=np.float64, count=n),
        _LOOKUP[np.fromiter((ord(_BAND_CODES.get(x, "n")) for x in columns[k + 5]), dtype=np.uint8, count=n)])
    shared[key] = found
    return found


def _fact_rows(session: Session, facts: _Facts, dimension: str | None, cohort: Cohort, people: dict[int, str],
               measures: bool, shared: dict[Any, Any] | None = None) -> _FactRows:
    """One read of the cohort's accounts outer-joined to their facts (the group, segment, name, ARR of each; an
    account without a fact has no week-end row nor score), its blobs decoded into matrices with NumPy. `shared`
    (a preparation's, no cohort): the live rows of the workspace's one read (`_every_fact`)."""
    if shared is not None and cohort.everyone:
        return _every_fact(session, facts, shared).live_rows(dimension, people, measures)
    tenant = current_tenant(session)
    group = _group_column(dimension)
    columns = [group.label("g"), Account.segment, Account.id, Account.name, AccountFact.week_scores,
               AccountFact.week_bands, Account.arr, AccountFact.score, AccountFact.band]
    if measures:
        columns.append(AccountFact.measures)
    rows = _core_rows(session, select(*columns).select_from(Account)
                      .outerjoin(AccountFact, and_(AccountFact.account_id == Account.id,
                                                   AccountFact.tenant_id == tenant))
                      .where(*cohort.conditions()), Account)
    rows.sort(key=operator.itemgetter(2))  # id order here, not the server's sort (PostgreSQL's spills to disk)
    n, width = len(rows), facts.weeks
    groups = [r[0] for r in rows]
    labels: dict[str, int] = {}
    of_value = {g: labels.setdefault(_label(g, dimension, people), len(labels)) for g in dict.fromkeys(groups)}
    index = np.fromiter(map(of_value.__getitem__, groups), dtype=np.int64, count=n)
    no_scores, no_bands = b"\xff" * (8 * width), _NO_WEEK * width  # NaN (a quiet NaN's bytes), no row
    scores = np.frombuffer(b"".join(r[4] if r[4] is not None else no_scores for r in rows),
                           dtype=np.float64).reshape(n, width)
    bands = _LOOKUP[np.frombuffer("".join(r[5] if r[5] is not None else no_bands for r in rows).encode("ascii"),
                                  dtype=np.uint8).reshape(n, width)]
    matrix = has = None
    if measures:
        blanks = b"\xff" * (8 * len(facts.measures))
        has = np.fromiter((r[9] is not None for r in rows), dtype=bool, count=n)
        matrix = np.frombuffer(b"".join(r[9] if r[9] is not None else blanks for r in rows),
                               dtype=np.float64).reshape(n, len(facts.measures))
    return _FactRows(list(labels), index, [r[1] for r in rows], np.fromiter((r[2] for r in rows), dtype=np.int64,
                                                                             count=n),
                     [r[3] for r in rows], scores, bands, matrix, has,
                     np.fromiter((0.0 if r[6] is None else r[6] for r in rows), dtype=np.float64, count=n),
                     np.fromiter((np.nan if r[7] is None else r[7] for r in rows), dtype=np.float64, count=n),
                     _LOOKUP[np.fromiter((ord(_BAND_CODES.get(r[8], "n")) for r in rows), dtype=np.uint8,
                                         count=n)])


def _week_cells(labels: Sequence[str], index: np.ndarray, scores: np.ndarray, bands: np.ndarray, first: dt.date
                ) -> list[hb.WeekCount]:
    """`WeekCount` rows of a matrix of week-end scores and band codes (column 0: the week of `first`), per group
    label (``labels[index[i]]`` of row i), week and band, counted with NumPy (as the SQL GROUP BY and the merge of
    labels: the scores of a cell summed in row order)."""
    count, n_scored, total = _week_arrays(index, len(labels), scores, bands)
    return _cells(labels, count, n_scored, total, scores.shape[1], first)


def _week_arrays(index: np.ndarray, n_labels: int, scores: np.ndarray, bands: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell (label, week, band: ``(label * weeks + week) * 5 + band``) the rows, the scored rows and their
    scores' sum (in row order) of `_week_cells`."""
    return _week_arrays_of(_week_parts(scores, bands), index, n_labels)


def _week_parts(scores: np.ndarray, bands: np.ndarray) -> tuple[Any, ...]:
    """What `_week_arrays` counts of a matrix whatever the grouping, in flat (row-major) order: the weeks; of the
    week-end rows and of the scored ones, the row and the week-and-band part of the cell; the scores."""
    n_weeks = scores.shape[1]
    present = np.flatnonzero(bands.ravel() != 4)
    scored = present[~np.isnan(scores.ravel()[present])]
    cell = ((np.arange(n_weeks, dtype=np.int64) * 5)[None, :] + bands).ravel()
    return (n_weeks, present // n_weeks, cell[present], scored // n_weeks, cell[scored], scores.ravel()[scored])


def _week_arrays_of(parts: tuple[Any, ...], index: np.ndarray, n_labels: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_week_arrays` of `_week_parts` grouped by `index` (a label per row)."""
    n_weeks, present_rows, present_cells, scored_rows, scored_cells, weights = parts
    size = n_labels * n_weeks * 5
    count = np.bincount(index[present_rows] * (n_weeks * 5) + present_cells, minlength=size)
    at_scored = index[scored_rows] * (n_weeks * 5) + scored_cells
    return count, np.bincount(at_scored, minlength=size), np.bincount(at_scored, weights=weights, minlength=size)


def _cells(labels: Sequence[str], count: np.ndarray, n_scored: np.ndarray, total: np.ndarray, n_weeks: int,
           first: dt.date) -> list[hb.WeekCount]:
    """`WeekCount` rows of `_week_arrays`' cells (week 0: the week of `first`), in cell order."""
    weeks = [first + dt.timedelta(weeks=w) for w in range(n_weeks)]
    out = []
    for cell in np.flatnonzero(count).tolist():
        label, rest = divmod(cell, n_weeks * 5)
        week, band = divmod(rest, 5)
        out.append(hb.WeekCount(labels[label], weeks[week], _CODE_BANDS[band], int(count[cell]),
                                int(n_scored[cell]), float(total[cell])))
    return out


def _fact_week_counts(session: Session, facts: _Facts, dimension: str | None, first: dt.date, cohort: Cohort,
                      people: dict[int, str], rows: _FactRows | None = None) -> list[hb.WeekCount]:
    """`weekly_counts` from the facts (`rows`, else read here): the weeks from `first`."""
    rows = rows or _fact_rows(session, facts, dimension, cohort, people, measures=False)
    if not len(rows.ids):
        return []
    lo = (first - facts.first_week()).days // 7
    return _week_cells(rows.labels, rows.index, rows.scores[:, lo:], rows.bands[:, lo:], first)


def _fact_benchmarks(rows: _FactRows, facts: _Facts, measures: Sequence[str]) -> list[hb.Benchmark]:
    if not measures or rows.measures is None or rows.has_measures is None:
        return []
    keep = np.flatnonzero(rows.has_measures)
    position = [facts.measures.index(m) for m in measures]
    return benchmarks_of_matrix([rows.segments[i] for i in keep.tolist()], measures,
                                rows.measures[keep][:, position])


def _fact_persistent_poor(rows: _FactRows, facts: _Facts, day: dt.date, at_least: int, of_last: int
                          ) -> list[hb.PoorHealth]:
    """`analytics.base.persistent_poor` of the facts' last `of_last` weeks, with NumPy: the accounts poor in at
    least `at_least` of them, most poor weeks first, then account id (each account's weeks a tuple per pattern)."""
    if not 1 <= at_least <= of_last:
        raise ValueError(f"need 1 <= N <= M for 'poor in N of the last M weeks', not N={at_least}, M={of_last}")
    first = hb.week_start(day) - dt.timedelta(weeks=of_last - 1)
    poor = rows.bands[:, facts.weeks - of_last:] == _CODE_BANDS.index("poor")
    counts = poor.sum(axis=1)
    candidates = np.flatnonzero(counts >= at_least)
    ids = rows.ids[candidates]
    ordered = candidates[np.lexsort((ids, -counts[candidates]))]
    patterns = poor[ordered] @ (1 << np.arange(of_last, dtype=np.int64))
    weeks = [first + dt.timedelta(weeks=i) for i in range(of_last)]
    tuples: dict[int, tuple[dt.date, ...]] = {}
    out = []
    for a, bits in zip(rows.ids[ordered].tolist(), patterns.tolist(), strict=True):
        held = tuples.get(bits)
        if held is None:
            held = tuples[bits] = tuple(w for i, w in enumerate(weeks) if bits >> i & 1)
        out.append(hb.PoorHealth(a, held))
    return out


# --- Report fact pack: the whole base's Health and Team views from one row (migration 0037) ------------------------
# Built by `prepare_base_reports` from its one read of the facts (`_every_fact`): per group of each `BY` dimension
# the distribution's cells (`_fact_distribution`) and the weekly trend's cells of every week held (`_week_arrays`),
# the benchmarks of every measure held, the live accounts with a poor week held (their weeks as bits), and the Team
# report's per-account columns. The cells are the same sums over the same rows in the same order as the views
# computed from the facts, so the figures are equal; the views of a cohort, of other measures or weeks, or while
# two CSMs share a name (their cells would merge), read the facts as before.
_PACK_VERSION = 1


def _pack_fingerprint(session: Session, facts: _Facts) -> str:
    """The facts' (their snapshots' fingerprint, day, measures and weeks) and the accounts' (their count, newest id
    and change: a moved, renamed, retired, added or removed account): what a pack holds besides the people's names
    (resolved when read)."""
    return hashlib.sha256(repr((current_tenant(session), "pack", _PACK_VERSION, facts.fingerprint, facts.day,
                                facts.measures, facts.last_week, facts.weeks, _account_marks(session))
                               ).encode()).hexdigest()


def _account_marks(session: Session) -> list[tuple[Any, ...]]:
    """The accounts' count, newest id and newest change (a moved, renamed, retired, added or removed account)."""
    count, newest, changed = session.execute(select(func.count(), func.max(Account.id),
                                                    func.max(Account.updated_at))).one()
    return [(count, newest, changed)]


def _read_pack(session: Session, part: str, fingerprint: Callable[[], str]) -> dict[str, Any] | None:
    """The workspace's `ReportFactPack` `part`, decoded (its blob read through the driver, binary on PostgreSQL),
    while its stored fingerprint equals `fingerprint()`; else None."""
    mark = session.execute(select(ReportFactPack.id, ReportFactPack.fingerprint)
                           .where(ReportFactPack.part == part)).first()
    if mark is None or mark.fingerprint != fingerprint():
        return None
    rows = _core_rows(session, select(ReportFactPack.data).where(ReportFactPack.id == mark.id), ReportFactPack)
    if not rows:
        return None
    pack: dict[str, Any] = msgspec.msgpack.decode(rows[0][0])
    return pack


def _write_packs(session: Session, fingerprint: str, packs: dict[str, dict[str, Any]]) -> None:
    """The workspace's `ReportFactPack` rows of `packs` (part → data), replacing those parts."""
    session.execute(delete(ReportFactPack).where(ReportFactPack.part.in_(list(packs))))
    now = dt.datetime.now(dt.UTC)
    session.execute(insert(typing.cast(Table, ReportFactPack.__table__)), [
        {"tenant_id": current_tenant(session), "part": part, "fingerprint": fingerprint,
         "data": msgspec.msgpack.encode(data), "built_at": now} for part, data in packs.items()])


def _team_slots(facts: _Facts) -> list[int]:
    """The facts' week slots the Team report reads on the facts' day: each window's first week held, the last."""
    slots = {facts.weeks - 1}
    for days in TEAM_DAYS:
        first = hb.week_start(facts.day - dt.timedelta(days=days - 1))
        if first >= facts.first_week():
            slots.add((first - facts.first_week()).days // 7)
    return sorted(slots)


def _team_pack(session: Session, facts: _Facts, every: _EveryFact, owners: np.ndarray) -> dict[str, Any]:
    """The pack's Team part: every account's id, CSM (`owners`) and whether it is live, the live ones' ARR and
    week-end score (NaN: none) of each week slot the windows read (`_team_slots`); for a window longer than the
    facts' weeks (365 days) its first week's scores (the week rows of that week, as `_wide_team_columns` reads
    them) and its weekly counts of the weeks before the facts' (`_older_week_rows`), so each window's view reads
    the pack."""
    keep = np.flatnonzero(every.alive)
    scores, bands = every.scores[keep], every.bands[keep]
    wide = []
    for days in TEAM_DAYS:
        first_week = hb.week_start(facts.day - dt.timedelta(days=days - 1))
        if first_week >= facts.first_week():
            continue
        first = _wide_team_columns(every, _core_rows(session, select(HealthWeek.account_id, HealthWeek.score)
                                                     .where(HealthWeek.week == first_week), HealthWeek),
                                   first_week).first
        older = [[g, _date(week).isoformat(), band, int(n), int(scored), float(total)] for g, week, band, n, scored,
                 total in _older_week_rows(session, first_week, facts.first_week())]
        wide.append({"first_week": first_week.isoformat(), "first": first.tobytes(), "older": older})
    return {"everyone": every.ids.astype(np.int64).tobytes(), "owners": owners.tobytes(),
            "alive": every.alive.astype(np.uint8).tobytes(), "arr": every.arr[keep].tobytes(),
            "slots": [[slot, np.where(bands[:, slot] != 4, scores[:, slot], np.nan).tobytes()]
                      for slot in _team_slots(facts)], "wide": wide}


def _build_pack(session: Session, facts: _Facts, every: _EveryFact) -> None:
    """The workspace's `ReportFactPack` of `every` (the facts `facts`), replacing any."""
    postgres = _postgres(session)
    keep = np.flatnonzero(every.alive)
    at = keep.tolist()
    ids, scores, bands = every.ids[keep], every.scores[keep], every.bands[keep]
    dims: dict[str, Any] = {}
    parts = _week_parts(scores, bands)
    for dimension in dict.fromkeys(BY.values()):
        raw = [every.groups[dimension][i] for i in at]
        if dimension != "csm":  # the others' labels need no names
            of_raw = {g: _label(g, dimension, {}) for g in dict.fromkeys(raw)}
            raw = list(map(of_raw.__getitem__, raw))
        keys = raw
        values: dict[Any, int] = {}
        of_key = {k: values.setdefault(k, len(values)) for k in dict.fromkeys(keys)}
        index = np.fromiter(map(of_key.__getitem__, keys), dtype=np.int64, count=len(keys))
        rows = _FactRows(list(map(str, range(len(values)))), index, [], ids, [], scores, bands, None, None,
                         every.arr[keep], every.score[keep], every.band[keep])
        count, n_scored, total = _week_arrays_of(parts, index, len(values))
        dims[dimension] = {
            "keys": list(values),
            "distribution": [[int(c.group), c.band, c.bin, c.accounts, c.arr]
                             for c in _fact_distribution(rows, postgres)],
            "count": count.astype(np.int64).tobytes(), "scored": n_scored.astype(np.int64).tobytes(),
            "total": total.astype(np.float64).tobytes()}
    everything = _FactRows([], np.zeros(len(at), dtype=np.int64), [every.groups["segment"][i] for i in at], ids,
                           [], scores, bands, every.measures[keep], every.has_measures[keep], every.arr[keep],
                           every.score[keep], every.band[keep])
    bench = [[b.segment, b.measure, b.accounts, [[p, v] for p, v in b.percentiles.items()]]
             for b in _fact_benchmarks(everything, facts, facts.measures)]
    poor = bands == _CODE_BANDS.index("poor")
    any_poor = np.flatnonzero(poor.any(axis=1))
    bits = poor[any_poor] @ (1 << np.arange(facts.weeks, dtype=np.int64))
    owners = np.fromiter((tma.NO_CSM if c is None else c for c in every.groups["csm"]), dtype=np.int64,
                         count=len(every.ids))
    head = {"version": _PACK_VERSION, "day": facts.day.isoformat(), "weeks": facts.weeks}
    health = {**head, "dimensions": dims, "benchmarks": bench,
              "poor": {"ids": ids[any_poor].tobytes(), "bits": bits.astype(np.int64).tobytes(),
                       "names": [every.names[i] for i in keep[any_poor].tolist()]}}
    team = {**head, "dimensions": {"csm": dims["csm"]}, "team": _team_pack(session, facts, every, owners)}
    _write_packs(session, _pack_fingerprint(session, facts), {"health": health, "team": team})


def _fact_pack(session: Session, facts: _Facts | None, part: str) -> dict[str, Any] | None:
    """The workspace's pack's `part` ("health", "team") while it holds (`_pack_fingerprint`) for `facts`, decoded
    (its blob read through the driver, binary on PostgreSQL); else None."""
    if facts is None:
        return None
    pack = _read_pack(session, part, lambda: _pack_fingerprint(session, facts))
    if pack is None or pack.get("version") != _PACK_VERSION or pack.get("day") != facts.day.isoformat():
        return None
    return pack


def _pack_labels(pack: dict[str, Any], dimension: str, people: dict[int, str]) -> list[str] | None:
    """The labels of a dimension's groups in the pack, None when two share one (their cells would merge)."""
    keys = pack["dimensions"][dimension]["keys"]
    labels = [_label(k, "csm", people) for k in keys] if dimension == "csm" else list(keys)
    return labels if len(set(labels)) == len(labels) else None


def _pack_week_counts(pack: dict[str, Any], facts: _Facts, dimension: str, labels: list[str], first: dt.date
                      ) -> list[hb.WeekCount]:
    """`_fact_week_counts` of the live accounts from the pack: the cells of the weeks from `first`."""
    cells = pack["dimensions"][dimension]
    lo = (first - facts.first_week()).days // 7
    shape = (len(labels), facts.weeks, 5)

    def part(name: str, dtype: Any) -> np.ndarray:
        return np.frombuffer(cells[name], dtype=dtype).reshape(shape)[:, lo:, :].ravel()

    return _cells(labels, part("count", np.int64), part("scored", np.int64), part("total", np.float64),
                  facts.weeks - lo, first)


def _pack_team_counts(pack: dict[str, Any], facts: _Facts, labels: list[str], first_week: dt.date,
                      names: dict[int, str]) -> list[hb.WeekCount]:
    """Every CSM's weekly counts of the weeks from `first_week` from the pack: those before the facts' weeks (a
    window longer than they hold) as `_older_week_counts` of the pack's rows, then the facts' weeks' cells."""
    if first_week >= facts.first_week():
        return _pack_week_counts(pack, facts, "csm", labels, first_week)
    wide = _pack_wide(pack, first_week)
    if wide is None:
        raise ValueError(f"the pack holds no weeks from {first_week}")
    return _named_week_counts(wide["older"], names) + _pack_week_counts(pack, facts, "csm", labels,
                                                                        facts.first_week())


def _pack_distribution(pack: dict[str, Any], dimension: str, labels: list[str]) -> list[hb.BandCount]:
    return [hb.BandCount(labels[g], band, b, n, arr) for g, band, b, n, arr in
            pack["dimensions"][dimension]["distribution"]]


def _pack_benchmarks(pack: dict[str, Any], measures: Sequence[str]) -> list[hb.Benchmark]:
    wanted = set(measures)
    return [hb.Benchmark(s, m, n, {int(p): v for p, v in percentiles})
            for s, m, n, percentiles in pack["benchmarks"] if m in wanted]


def _pack_persistent_poor(pack: dict[str, Any], day: dt.date, at_least: int, of_last: int
                          ) -> tuple[list[hb.PoorHealth], dict[int, Any]]:
    """`_fact_persistent_poor` of the live accounts from their poor weeks' bits, and the listed accounts' names."""
    if not 1 <= at_least <= of_last:
        raise ValueError(f"need 1 <= N <= M for 'poor in N of the last M weeks', not N={at_least}, M={of_last}")
    held = pack["poor"]
    ids = np.frombuffer(held["ids"], dtype=np.int64)
    bits = (np.frombuffer(held["bits"], dtype=np.int64) >> (pack["weeks"] - of_last)) & ((1 << of_last) - 1)
    counts = np.zeros(len(ids), dtype=np.int64)
    for i in range(of_last):
        counts += (bits >> i) & 1
    candidates = np.flatnonzero(counts >= at_least)
    ordered = candidates[np.lexsort((ids[candidates], -counts[candidates]))]
    first = hb.week_start(day) - dt.timedelta(weeks=of_last - 1)
    weeks = [first + dt.timedelta(weeks=i) for i in range(of_last)]
    tuples: dict[int, tuple[dt.date, ...]] = {}
    out = []
    for a, pattern in zip(ids[ordered].tolist(), bits[ordered].tolist(), strict=True):
        found = tuples.get(pattern)
        if found is None:
            found = tuples[pattern] = tuple(w for i, w in enumerate(weeks) if pattern >> i & 1)
        out.append(hb.PoorHealth(a, found))
    names = held["names"]
    return out, {int(ids[i]): names[i] for i in ordered.tolist()}


def _pack_wide(pack: dict[str, Any], first_week: dt.date) -> dict[str, Any] | None:
    """The pack's part for a window that starts in `first_week`, before the facts' weeks (`_team_pack`), if held."""
    found = [w for w in pack["team"].get("wide", ()) if w["first_week"] == first_week.isoformat()]
    return found[0] if found else None


def _pack_team_columns(pack: dict[str, Any], facts: _Facts, first_week: dt.date, last_week: dt.date
                       ) -> _TeamColumns | None:
    """`_fact_team_columns` from the pack (no weekly matrix: the counts are the pack's), None when it lacks the
    window's weeks (a window longer than the facts' weeks: its first week's scores from the pack's wide part)."""
    team = pack["team"]
    slots = {slot: column for slot, column in team["slots"]}
    first, last = ((week - facts.first_week()).days // 7 for week in (first_week, last_week))
    wide = _pack_wide(pack, first_week) if first < 0 else None
    if wide is not None:
        slots[first] = wide["first"]
    if first not in slots or last not in slots:
        return None
    everyone = np.frombuffer(team["everyone"], dtype=np.int64)
    owners = np.frombuffer(team["owners"], dtype=np.int64)
    alive = np.frombuffer(team["alive"], dtype=np.uint8).astype(bool)
    empty = np.zeros((int(alive.sum()), 0))
    return _TeamColumns(everyone[alive], owners[alive], np.frombuffer(team["arr"], dtype=np.float64),
                        np.frombuffer(slots[first], dtype=np.float64), np.frombuffer(slots[last], dtype=np.float64),
                        empty, empty.astype(np.int64), first_week, everyone, owners, alive)


# --- Adoption ----------------------------------------------------------------------------------------------------
def _window(day: dt.date) -> tuple[dt.date, dt.date]:
    """The 30 days up to `day` and the first day of the 30 before them."""
    start = day - dt.timedelta(days=WINDOW - 1)
    return start, start - dt.timedelta(days=WINDOW)


def _adoption_rows(rows: list[ad.FeatureAdoption]) -> list[dict[str, Any]]:
    return [{"group": r.group, "feature": r.feature, "accounts": r.accounts, "accounts_using": r.accounts_using,
             "account_share": _round(r.account_share, 6), "active_users": r.active_users,
             "users_using": r.users_using, "user_share": _round(r.user_share, 6)} for r in rows]


@collected_rarely
def _adoption_report(session: Session, *, key_features: Sequence[str], login_event: str, cohort: Cohort = Cohort(),
                    as_of: dt.date | None = None, months: int = 6, pack: bool = False) -> dict[str, Any]:
    """Key-feature adoption over the last 30 days by tier class and by start cohort; per calendar month for the
    last `months` months; upgrade-ready accounts; users who need training; champions and sponsors. `pack` (the
    worker's `prepare_base_reports`): the whole base's counts, when computed from the usage facts, stored as the
    workspace's adoption pack."""
    if not key_features:
        raise ReportError("the health model names no key features")
    if not 1 <= months <= 24:
        raise ReportError("months must be from 1 to 24")
    day = _day(session, as_of)
    start, _before = _window(day)
    where = cohort.conditions()
    from sync import usage_facts as uf  # it reads this module's SQL helpers

    # the latest scored day's views from the usage facts (a row per account and per user), when they hold them;
    # the whole base's counts and lists from the workspace's adoption pack while it holds (`_adoption_pack`)
    facts = uf.fresh_usage_facts(session, day, key_features, login_event, months)
    if facts is not None:
        try:
            held = _adoption_pack(session, facts) if cohort.everyone else None
            counted = uf.fact_adoption_counts(session, facts, where, day, facts.months) if held is None \
                else held.counts
            n_accounts, tier_counts, cohort_counts, every_month = counted
            month_counts = every_month[len(every_month) - months:]
            by_tier = ad.feature_adoption_of(tier_counts, key_features)
            by_cohort = ad.feature_adoption_of(cohort_counts, key_features)
            monthly = [(m, ad.feature_adoption_of(c, key_features)) for m, c in month_counts]
        except ValueError as exc:
            raise ReportError(str(exc)) from None
        if held is None:
            ready = uf.fact_upgrade_ready(session, day, where)
            training, trained_total = uf.fact_needs_training(session, key_features, where)
            if cohort.everyone and pack:
                _build_adoption_pack(session, facts, _AdoptionPack(counted, ready, training, trained_total))
        else:
            ready, training, trained_total = held.ready, held.training, held.trained
    else:
        n_accounts, by_tier, by_cohort, monthly = _adoption_figures(session, day, key_features, where, months)
        ready = _upgrade_ready(session, day, where)
        training, trained_total = _needs_training(session, day, key_features, login_event, where)
    sponsors = _sponsors(session, day, where)
    names = _names(session, [r.account_id for r in ready] + [t.account_id for t in training]
                   + [s.account_id for s in sponsors if s.account_id is not None])
    people = _product_users(session, [(t.account_id, t.user_key) for t in training])
    return {
        "as_of": day.isoformat(), "window": {"first": start.isoformat(), "last": day.isoformat()},
        "key_features": list(key_features), "accounts": n_accounts,
        "by_tier": _adoption_rows(by_tier), "by_cohort": _adoption_rows(by_cohort),
        "monthly": [{"month": m.strftime("%Y-%m"), "rows": _adoption_rows(rows)} for m, rows in monthly],
        "upgrade_ready": [{"account_id": r.account_id, "name": names.get(r.account_id, f"Account {r.account_id}"),
                           "reason": r.reason} for r in ready],
        "needs_training": {"total": trained_total, "users": [
            {"account_id": t.account_id, "name": names.get(t.account_id, f"Account {t.account_id}"),
             "user_key": t.user_key, "product_user_id": people.get((t.account_id, t.user_key), (None, None))[0],
             "user_name": people.get((t.account_id, t.user_key), (None, None))[1], "reasons": list(t.reasons)}
            for t in training]},
        "sponsors": [{"account_id": s.account_id, "name": None if s.account_id is None else names.get(s.account_id),
                      "email": s.email, "contact": s.name, "role": s.role, "user_keys": list(s.user_keys),
                      "last_activity": None if s.last_activity is None else s.last_activity.isoformat(),
                      "days_since": s.days_since} for s in sponsors],
        "definitions": {**ad.DEFINITIONS, "tier_class": ad.DEFINITIONS["tier_class"] + " " + PRODUCT_TIER},
    }


# The whole base's adoption counts (`fact_adoption_counts` of every live account over the facts' months: by tier
# class, by start cohort, per month), upgrade-ready accounts and users who need training in a `ReportFactPack` of
# part "adoption", built by `prepare_base_reports` from the figures its Adoption view computes anyway; read while
# the usage facts (their state row: fingerprint, build time) and the accounts (`_account_marks`: a moved tier, a
# retired, added or removed account) are as they were.
# The figures are the very ones the view would compute, so every figure is equal; a cohort reads the facts (the
# sponsors, of the contacts, are read in the request).
_ADOPTION_PACK_VERSION = 2  # 2: the lists too
_AdoptionCounts = tuple[int, list[ad.AdoptionCount], list[ad.AdoptionCount],
                        list[tuple[dt.date, list[ad.AdoptionCount]]]]


@dataclasses.dataclass(frozen=True)
class _AdoptionPack:
    """The whole base's counts (`fact_adoption_counts` over the facts' months), upgrade-ready accounts
    (`fact_upgrade_ready`), users who need training (`fact_needs_training`: the first `LISTED`, and how many)."""
    counts: _AdoptionCounts
    ready: list[ad.UpgradeReady]
    training: list[ad.TrainingNeed]
    trained: int


def _adoption_pack_fingerprint(session: Session, facts: Any) -> str:
    state = session.execute(select(UsageFactsState.fingerprint, UsageFactsState.built_at)).first()
    return hashlib.sha256(repr((current_tenant(session), "adoption pack", _ADOPTION_PACK_VERSION, facts,
                                None if state is None else tuple(state), _account_marks(session))
                               ).encode()).hexdigest()


def _build_adoption_pack(session: Session, facts: Any, held: _AdoptionPack) -> None:
    """The workspace's adoption pack of the whole base's figures `held` (of the facts `facts`), replacing any."""
    n_accounts, by_tier, by_cohort, monthly = held.counts

    def plain(rows: list[ad.AdoptionCount]) -> list[list[Any]]:
        return [[r.group, r.feature, r.accounts, r.users] for r in rows]

    data = {"version": _ADOPTION_PACK_VERSION, "accounts": n_accounts, "tier": plain(by_tier),
            "cohort": plain(by_cohort), "months": [[m.isoformat(), plain(rows)] for m, rows in monthly],
            "ready": [[r.account_id, r.reason] for r in held.ready],
            "training": [[t.account_id, t.user_key, list(t.reasons)] for t in held.training],
            "trained": held.trained}
    _write_packs(session, _adoption_pack_fingerprint(session, facts), {"adoption": data})


def _adoption_pack(session: Session, facts: Any) -> _AdoptionPack | None:
    """The whole base's figures (counts over the facts' months, lists) from the workspace's adoption pack while it
    holds, else None."""
    data = _read_pack(session, "adoption", lambda: _adoption_pack_fingerprint(session, facts))
    if data is None or data.get("version") != _ADOPTION_PACK_VERSION or len(data["months"]) != facts.months:
        return None

    def counts(rows: list[list[Any]]) -> list[ad.AdoptionCount]:
        return [ad.AdoptionCount(g, f, n, u) for g, f, n, u in rows]

    return _AdoptionPack((data["accounts"], counts(data["tier"]), counts(data["cohort"]),
                          [(dt.date.fromisoformat(m), counts(rows)) for m, rows in data["months"]]),
                         [ad.UpgradeReady(a, reason) for a, reason in data["ready"]],
                         [ad.TrainingNeed(a, key, tuple(reasons)) for a, key, reasons in data["training"]],
                         data["trained"])


def _first_use(tenant: int | None = None) -> Any:
    """Per account its first month of use and that month's lowest day bit's value (the any-event rows; no row has
    no bit): (account_id, month, offset). `tenant`: the workspace's condition spelled out (a driver read)."""
    scope = [UsageMonthly.tenant_id == tenant] if tenant is not None else []
    first_month = (select(UsageMonthly.account_id.label("account_id"), func.min(UsageMonthly.month).label("month"))
                   .where(UsageMonthly.event == "", *scope).group_by(UsageMonthly.account_id).subquery("first_month"))
    lowest = UsageMonthly.days.bitwise_and(-UsageMonthly.days)  # the lowest bit's value
    return (select(first_month.c.account_id, first_month.c.month, func.min(lowest).label("offset"))
            .join(UsageMonthly, and_(UsageMonthly.account_id == first_month.c.account_id,
                                     UsageMonthly.month == first_month.c.month, UsageMonthly.event == "", *scope))
            .group_by(first_month.c.account_id, first_month.c.month).subquery("first_use"))


def _product_tiers(tenant: int | None = None) -> Any:
    """Per account its active subscriptions' product tier: a premium one (if any) and the greatest. `tenant`: the
    workspace's condition spelled out (a driver read)."""
    premium = [t.lower() for t in ad.PREMIUM_TIERS]
    scope = [Subscription.tenant_id == tenant] if tenant is not None else []
    return (select(Subscription.account_id.label("account_id"),
                   func.max(case((func.lower(Subscription.product_tier).in_(premium), Subscription.product_tier)))
                   .label("premium"), func.max(Subscription.product_tier).label("other"))
            .where(Subscription.status == "active", *scope).group_by(Subscription.account_id).subquery("product"))


def _window_users(day: dt.date, key_features: Sequence[str]) -> Any:
    """Per account and event (the key features and '', any event) its distinct users with a day in the 30-day
    window: (account_id, event, users), to be joined and grouped by the caller."""
    start, _ = _window(day)
    return (select(UsageMonthly.account_id, UsageMonthly.event,
                   func.count(func.distinct(UsageMonthly.user_key)).label("users"))
            .where(UsageMonthly.month.in_(list(_masks(start, day))), UsageMonthly.event.in_([*key_features, ""]),
                   _days_in(start, day) != 0)
            .group_by(UsageMonthly.account_id, UsageMonthly.event))


def _adoption_figures(session: Session, day: dt.date, key_features: Sequence[str], where: list[Any], months: int
                      ) -> tuple[int, list[ad.FeatureAdoption], list[ad.FeatureAdoption],
                                 list[tuple[dt.date, list[ad.FeatureAdoption]]]]:
    """The accounts counted, adoption by tier class and by start cohort, and per month, from the monthly rows."""
    first_use = _first_use()
    # an account without a tier of its own takes its active subscriptions' product tier (a premium one if any)
    product = _product_tiers()
    tier = func.coalesce(func.nullif(Account.tier, ""), product.c.premium, product.c.other)
    accounts = [ad.AdoptionAccount(a, t, None if first is None else
                                   _date(first) + dt.timedelta(days=int(offset).bit_length() - 1))
                for a, t, first, offset in
                session.execute(select(Account.id, tier, first_use.c.month, first_use.c.offset)
                                .outerjoin(first_use, first_use.c.account_id == Account.id)
                                .outerjoin(product, product.c.account_id == Account.id).where(*where))]
    # per account: its active users (the any-event rows, event ''), and per key feature its users, in one
    # COUNT DISTINCT over the monthly rows with a day in the window
    rows = session.execute(_window_users(day, key_features).join(Account, Account.id == UsageMonthly.account_id)
                           .where(*where)).all()
    per_account = [(a, e, n) for a, e, n in rows if e != ""]
    active = [(a, n) for a, e, n in rows if e == ""]
    try:
        by_tier = ad.feature_adoption_of(_counts(accounts, per_account, active, "tier"), key_features)
        by_cohort = ad.feature_adoption_of(_counts(accounts, per_account, active, "cohort"), key_features)
        monthly = _monthly(session, day, months, key_features, where, len(accounts))
    except ValueError as exc:
        raise ReportError(str(exc)) from None
    return len(accounts), by_tier, by_cohort, monthly


PRODUCT_TIER = ("An account without a tier of its own takes the product tier of its active subscriptions "
                "(a premium one when any is).")


def _counts(accounts: list[ad.AdoptionAccount], per_account: Sequence[Any], active: Sequence[Any], by: str
            ) -> list[ad.AdoptionCount]:
    """`AdoptionCount` rows from per-account distinct users: a user is an (account, key) pair, so the users of a
    group are the sum over its accounts."""
    group = {a.account_id: ad.group_of(a, by, ad.PREMIUM_TIERS) for a in accounts}
    n_accounts: dict[str, int] = defaultdict(int)
    for g in group.values():
        n_accounts[g] += 1
    users: dict[str, int] = defaultdict(int)
    for account_id, n in active:
        users[group[account_id]] += n
    using: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for account_id, feature, n in per_account:
        if feature is None or not n:
            continue
        cell = using[(group[account_id], feature)]
        cell[0] += 1
        cell[1] += n
    return ([ad.AdoptionCount(g, None, n, users[g]) for g, n in n_accounts.items()]
            + [ad.AdoptionCount(g, f, c[0], c[1]) for (g, f), c in using.items()])


def _monthly(session: Session, day: dt.date, months: int, key_features: Sequence[str], where: list[Any],
             n_accounts: int) -> list[tuple[dt.date, list[ad.FeatureAdoption]]]:
    """Per calendar month (the month of `day` last, to date): COUNT(DISTINCT) accounts and users in SQL."""
    first = day.replace(day=1)
    for _ in range(months - 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    # one monthly row per account, user and event ('' = any event): a user is an (account, key) pair, so the
    # rows of a month and feature are its users, their distinct accounts the accounts using it; the month of
    # `day` counts its days up to `day` only
    this_month = day.replace(day=1)
    grouped = session.execute(
        select(UsageMonthly.month, UsageMonthly.event, func.count(func.distinct(UsageMonthly.account_id)), func.count())
        .join(Account, Account.id == UsageMonthly.account_id)
        .where(UsageMonthly.month >= first, UsageMonthly.month <= this_month,
               UsageMonthly.event.in_([*key_features, ""]),
               or_(UsageMonthly.month < this_month, _days_in(this_month, day) != 0), *where)
        .group_by(UsageMonthly.month, UsageMonthly.event)).all()
    rows = [(m_, f, n_acc, n) for m_, f, n_acc, n in grouped if f != ""]
    totals = [(m_, n) for m_, f, _n_acc, n in grouped if f == ""]
    counts: dict[dt.date, list[ad.AdoptionCount]] = defaultdict(list)
    firsts, m = [], first
    while m <= day:
        firsts.append(m)
        counts[m] = []
        m = (m + dt.timedelta(days=32)).replace(day=1)
    users = {_date(m): int(n) for m, n in totals}
    for m_ in firsts:
        counts[m_].append(ad.AdoptionCount("all", None, n_accounts, users.get(m_, 0)))
    for m_, feature, n_acc, n_users in rows:
        counts[_date(m_)].append(ad.AdoptionCount("all", feature, int(n_acc), int(n_users)))
    return [(m_, ad.feature_adoption_of(counts[m_], key_features)) for m_ in firsts]


def _upgrade_ready(session: Session, day: dt.date, where: list[Any]) -> list[ad.UpgradeReady]:
    """Health is filtered in SQL (HAVING), so seats and users are read for the few accounts that pass it."""
    start, before = _window(day)
    healthy = session.execute(
        select(HealthSnapshot.account_id, func.count(), func.min(HealthSnapshot.score), func.min(HealthSnapshot.day))
        .join(Account, Account.id == HealthSnapshot.account_id)
        .where(HealthSnapshot.day >= start, HealthSnapshot.day <= day, *where)
        .group_by(HealthSnapshot.account_id)
        .having(func.min(HealthSnapshot.score) >= ad.UPGRADE_SCORE, func.count(HealthSnapshot.score) == func.count(),
                func.min(HealthSnapshot.day) <= start + dt.timedelta(days=6))).all()
    ids = [r[0] for r in healthy]
    seats: dict[int, int] = {}
    users: dict[int, tuple[int, int]] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        seats.update((a, int(n)) for a, n in session.execute(
            select(Subscription.account_id, func.sum(Subscription.seats_purchased))
            .where(Subscription.status == "active", Subscription.account_id.in_(chunk),
                   Subscription.seats_purchased.is_not(None)).group_by(Subscription.account_id)).all()
            if a is not None and n is not None)
        now = func.count(func.distinct(case((_days_in(start, day) != 0, UsageMonthly.user_key))))
        then = func.count(func.distinct(case((_days_in(before, start - dt.timedelta(days=1)) != 0,
                                              UsageMonthly.user_key))))
        users.update({a: (n, b) for a, n, b in session.execute(
            select(UsageMonthly.account_id, now, then)
            .where(UsageMonthly.account_id.in_(chunk), UsageMonthly.event == "",
                   UsageMonthly.month.in_(list(_masks(before, day))))
            .group_by(UsageMonthly.account_id))})
    return ad.upgrade_ready([ad.UpgradeFacts(a, n, lowest, _date(first), seats.get(a), *users.get(a, (0, 0)))
                             for a, n, lowest, first in healthy], day)


def _needs_training(session: Session, day: dt.date, key_features: Sequence[str], login_event: str,
                    where: list[Any]) -> tuple[list[ad.TrainingNeed], int]:
    """Per user of the 60 days (GROUP BY account, user key) with the rule's two tests in HAVING; the first
    `LISTED` by account and user key, and how many there are.

    All from the monthly rows' day bits but what they cannot tell: active and key-feature days (these as
    (feature, day) pairs: only whether there are any matters); a month's login count counts for a window when all
    the month's login days are in it (none: 0). The login rows of a month with days in and out of a window
    ("split") are read from the daily rows instead."""
    both, (active, key_days, logins_now, logins_before), rule = _user_activity(session, day, key_features,
                                                                              login_event)
    grouped = (select(both.c.a, both.c.u, active.label("active"), key_days.label("k"), logins_now.label("l"),
                      logins_before.label("lb"))
               .join(Account, Account.id == both.c.a).where(*where)
               .group_by(both.c.a, both.c.u).having(rule).subquery("needs"))
    rows = session.execute(select(grouped, func.count().over().label("total"))  # one pass: the total beside
                           .order_by(grouped.c.a, grouped.c.u).limit(LISTED)).all()
    users = [ad.UserActivity(a, u, int(n), int(lg), int(lb)) for a, u, n, _k, lg, lb, _t in rows]
    uses = [ad.EventUse(a, u, key_features[0], int(k)) for a, u, _n, k, _l, _lb, _t in rows if k]
    return ad.needs_training(users, uses, key_features), int(rows[0][-1]) if rows else 0


def _user_activity(session: Session, day: dt.date, key_features: Sequence[str], login_event: str,
                   tenant: int | None = None, accounts: Sequence[int] | None = None
                   ) -> tuple[Any, tuple[Any, Any, Any, Any], Any]:
    """Per user of the 60 days up to `day` (to GROUP BY ``a``, ``u``): the rows to group, the sums of their active
    days, key-feature days, logins in the 30 days and in the 30 before, and the training rule over those sums (see
    `_needs_training`). `tenant`: conditions on the workspace spelled out (for an INSERT … SELECT, which the
    session's scoping does not filter). `accounts`: only these accounts' users (`sync.usage_facts`' patch)."""
    monthly_scope = [UsageMonthly.tenant_id == tenant] if tenant is not None else []
    if accounts is not None:
        monthly_scope.append(UsageMonthly.account_id.in_(list(accounts)))
    # the daily rows of the monthly row's account (an account is one workspace's): no condition on the workspace
    # of their own, so SQLite sums them from the (account, day, user, event, count) index alone
    daily_scope: list[Any] = []
    start, before = _window(day)
    eve = start - dt.timedelta(days=1)
    # per month of the 60 days (its window masks constants: no CASE per row) its rows: the login rows of the 60
    # days and the key features' and any-event rows of the 30
    now_masks, then_masks = _masks(start, day), _masks(before, eve)
    monthly = []
    for month in _masks(before, day):
        now, then = (UsageMonthly.days.bitwise_and(literal_column(str(masks.get(month, 0))))
                     for masks in (now_masks, then_masks))
        recent = _bits(cast(now, BigInteger)) if now_masks.get(month) else literal_column("0")
        is_login = UsageMonthly.event == login_event
        whole = and_(or_(now == 0, now == UsageMonthly.days), or_(then == 0, then == UsageMonthly.days))
        events = [login_event, *(([*key_features, ""]) if month in now_masks else [])]
        monthly.append(select(UsageMonthly.account_id.label("a"), UsageMonthly.user_key.label("u"),
                              case((UsageMonthly.event == "", recent), else_=0).label("active"),
                              case((UsageMonthly.event.in_(list(key_features)), recent), else_=0).label("k"),
                              case((and_(is_login, whole, now != 0), UsageMonthly.count), else_=0).label("l"),
                              case((and_(is_login, whole, then != 0), UsageMonthly.count), else_=0).label("lb"))
                       .where(UsageMonthly.month == month, UsageMonthly.event.in_(events), *monthly_scope))
    logins = [_split_logins(session, month, day, login_event, monthly_scope, daily_scope)
              for month in _masks(before, day)]
    both = union_all(*monthly, *logins).subquery("both")
    active, key_days = func.sum(both.c.active), func.sum(both.c.k)
    logins_now, logins_before = func.sum(both.c.l), func.sum(both.c.lb)
    rule = or_(and_(active > 0, key_days == 0), and_(logins_before >= 4, 2 * logins_now <= logins_before))
    return both, (active, key_days, logins_now, logins_before), rule


def _split_logins(session: Session, month: dt.date, day: dt.date, login_event: str, monthly_scope: list[Any],
                  daily_scope: list[Any]) -> Any:
    """`_user_activity`'s rows for the login rows of `month` that a window cuts ("split": login days in and out of
    a window): (account, user, 0, 0, logins in the 30 days, logins in the 30 before), each count from the daily
    rows of those days of the month only. One indexed range read per row: the month's days in a window, as
    constants (no window: 0, no read); when the month lies within the 60 days, only the shorter of its two
    parts is read, the other is the rest of the row's count (`UsageMonthly.count` sums its days' counts: the
    roll-up's triggers keep it in the same transaction as the daily rows), its sum computed once in a subquery
    OFFSET 0 keeps from being inlined."""
    start, before = _window(day)
    eve = start - dt.timedelta(days=1)
    last_day = (month + dt.timedelta(days=31)).replace(day=1) - dt.timedelta(days=1)
    now_mask, then_mask = _masks(start, day).get(month, 0), _masks(before, eve).get(month, 0)
    now = UsageMonthly.days.bitwise_and(literal_column(str(now_mask)))
    then = UsageMonthly.days.bitwise_and(literal_column(str(then_mask)))
    split = [UsageMonthly.event == login_event, UsageMonthly.month == month,
             ~and_(or_(now == 0, now == UsageMonthly.days), or_(then == 0, then == UsageMonthly.days)),
             *monthly_scope]
    spans = [(max(start, month), min(day, last_day)), (max(before, month), min(eve, last_day))]

    def daily(first: dt.date, last: dt.date) -> Any:  # the row's login count within first…last
        if first > last:
            return literal(0)
        return (select(func.coalesce(func.sum(UsageDaily.count), 0))
                .where(UsageDaily.account_id == UsageMonthly.account_id, UsageDaily.user_key == UsageMonthly.user_key,
                       UsageDaily.event == login_event, UsageDaily.day >= first, UsageDaily.day <= last,
                       *daily_scope).scalar_subquery())

    if before <= month and last_day <= day and all(first <= last for first, last in spans):
        read = min((0, 1), key=lambda i: spans[i][1] - spans[i][0])
        rows = (select(UsageMonthly.account_id.label("a"), UsageMonthly.user_key.label("u"),
                       UsageMonthly.count.label("n"), daily(*spans[read]).label("x"))
                .where(*split).offset(0).subquery(f"split_{month:%Y%m}"))
        counts = [rows.c.x, rows.c.n - rows.c.x]
        return select(rows.c.a, rows.c.u, literal(0), literal(0), *(counts if read == 0 else counts[::-1]))
    return select(UsageMonthly.account_id, UsageMonthly.user_key, literal(0), literal(0),
                  *[daily(*span) for span in spans]).where(*split)


def _sponsors(session: Session, day: dt.date, where: list[Any]) -> list[ad.SponsorActivity]:
    contacts = [ad.ContactPerson(a, email, role, name, last) for a, email, role, name, last in session.execute(
        select(Contact.account_id, Contact.email, Contact.role, Contact.name, Contact.last_active_at)
        .join(Account, Account.id == Contact.account_id)
        .where(Contact.role.in_(ad.SPONSOR_ROLES), *where))]
    emails = sorted({c.email.strip().lower() for c in contacts})
    people = []
    for i in range(0, len(emails), 500):
        people += [ad.ProductPerson(a, u, e, seen) for a, u, e, seen in session.execute(
            select(ProductUser.account_id, ProductUser.user_key, ProductUser.email, ProductUser.last_seen)
            .where(func.lower(func.trim(ProductUser.email)).in_(emails[i : i + 500])))]
    return ad.sponsors(contacts, people, day)


def _product_users(session: Session, keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str], tuple[int, str | None]]:
    """(account id, user key) → (ProductUser id, its name or e-mail), for links to the product-user page."""
    out: dict[tuple[int, str], tuple[int, str | None]] = {}
    wanted = sorted(set(keys))
    for i in range(0, len(wanted), 300):
        chunk = wanted[i : i + 300]
        for pid, a, u, name, email in session.execute(
                select(ProductUser.id, ProductUser.account_id, ProductUser.user_key, ProductUser.name,
                       ProductUser.email)
                .where(ProductUser.account_id.in_({a for a, _ in chunk}),
                       ProductUser.user_key.in_({u for _, u in chunk}))):
            if a is not None and (a, u) in keys:
                out[(a, u)] = (pid, name or email)
    return out


# --- Users: the leaderboard --------------------------------------------------------------------------------------
@collected_rarely
def _leaderboard_report(session: Session, *, key_features: Sequence[str], account_id: int | None = None,
                       limit: int = LEADERBOARD, cohort: Cohort = Cohort(), as_of: dt.date | None = None
                       ) -> dict[str, Any]:
    """The most engaged users of the last 30 days across the base (or of one account): engagement per user is
    computed and ordered in SQL (GROUP BY account, user key; ORDER BY the rule's keys; LIMIT), then ranked by
    `analytics.adoption.leaderboard` over those rows."""
    if not 1 <= limit <= 500:
        raise ReportError("limit must be from 1 to 500")
    if not key_features:
        raise ReportError("the health model names no key features")
    day = _day(session, as_of)
    start, _ = _window(day)
    if account_id is not None and session.get(Account, account_id) is None:
        raise ReportError(f"no account {account_id} in this workspace")
    from sync import usage_facts as uf  # it reads this module's SQL helpers

    if uf.fresh_usage_facts(session, day, key_features) is not None:  # the latest scored day: a row per user
        rows = uf.fact_leaderboard(session, account_id, limit, cohort.conditions())
    else:
        rows = _leaderboard_rows(session, start, day, key_features, account_id, limit, cohort.conditions())
    people = _product_users(session, [(a, u) for a, u, _n, _k in rows])
    users = [ad.UserActivity(a, u, int(n), name=people.get((a, u), (0, None))[1]) for a, u, n, _k in rows]
    uses = [ad.EventUse(a, u, key_features[0], int(k)) for a, u, _n, k in rows if k]
    ranked = ad.leaderboard(users, uses, key_features, limit, account_id)
    names = _names(session, [r.account_id for r in ranked])
    return {
        "as_of": day.isoformat(), "window": {"first": start.isoformat(), "last": day.isoformat()},
        "account_id": account_id, "account_name": None if account_id is None else names.get(account_id),
        "users": [{"rank": r.rank, "account_id": r.account_id, "name": names.get(r.account_id),
                   "user_key": r.user_key, "product_user_id": people.get((r.account_id, r.user_key), (None,))[0],
                   "user_name": r.name, "engagement": r.engagement, "active_days": r.active_days,
                   "key_feature_days": r.key_feature_days} for r in ranked],
        "definitions": {k: ad.DEFINITIONS[k] for k in ("active_user", "engagement")},
    }


def _leaderboard_rows(session: Session, start: dt.date, day: dt.date, key_features: Sequence[str],
                      account_id: int | None, limit: int, where: list[Any]) -> list[Any]:
    """(account, user key, active days, key-feature days) of the `limit` most engaged users, from the monthly
    rows."""
    # active days: the any-event row's day bits in the window; key-feature days: (feature, day) pairs, the
    # key features' rows' bits (each row is one feature)
    rows = _window_rows(start, day, key_features,
                        *([UsageMonthly.account_id == account_id] if account_id is not None else []))
    bits = _bits(rows.c.d)
    active = func.sum(case((rows.c.e == "", bits), else_=0))
    key_days = func.sum(case((rows.c.e != "", bits), else_=0))
    query = (select(rows.c.a, rows.c.u, active.label("active"), key_days.label("k"))
             .join(Account, Account.id == rows.c.a).where(*where)
             .group_by(rows.c.a, rows.c.u).having(active > 0)
             .order_by((active + key_days).desc(), active.desc(), rows.c.a, rows.c.u)
             .limit(limit))
    return list(session.execute(query).all())


# --- Team --------------------------------------------------------------------------------------------------------
def visible_people(session: Session, role: str, user_id: int) -> set[int] | None:
    """Whose rows a signed-in user sees on the team report: a CSM their own, a manager themself and their direct
    reports, anyone else (admin, viewer) everyone (None)."""
    if role == "csm":
        return {user_id}
    if role == "manager":
        return {user_id, *session.scalars(select(User.id).where(User.manager_id == user_id))}
    return None


def _figures(f: tm.Figures) -> dict[str, Any]:
    return {"accounts": f.accounts, "arr": _round(f.arr), "health_first": _round(f.health_first),
            "health_last": _round(f.health_last), "health_change": _round(f.health_change), "on_time": f.on_time,
            "late": f.late, "on_time_rate": _round(f.on_time_rate, 6), "overdue": f.overdue,
            "untouched": len(f.untouched), "untouched_accounts": list(f.untouched[:20]), "alerts": f.alerts,
            "acted": f.acted, "hours_to_act": _round(f.hours_to_act)}


@dataclasses.dataclass(frozen=True)
class _TeamFacts:
    """What the team report is computed from, whoever looks: every CSM's and team's figures, the open tasks not
    yet due per person, every CSM's weekly portfolio counts. `_team_view` cuts a role's report from it."""

    day: dt.date
    days: int
    start: dt.date
    report: tm.TeamReport
    names: dict[int, str]
    members: dict[int, list[int]]
    waiting: dict[int, int]
    counts: list[hb.WeekCount]
    n_weeks: int


@dataclasses.dataclass(frozen=True)
class _TeamColumns:
    """The live accounts as columns (id order): CSM (`tma.NO_CSM`: none), ARR (0: none), week-end score of the
    window's first and last ISO weeks (NaN: none), and the facts' scores and band codes from the first week; and
    every account's CSM and whether it is live."""

    ids: np.ndarray
    csm: np.ndarray
    arr: np.ndarray
    first: np.ndarray
    last: np.ndarray
    scores: np.ndarray
    bands: np.ndarray
    first_week: dt.date
    everyone: np.ndarray
    """Every account's id (id order), its CSM and whether it is live (`live_accounts`)."""
    owners: np.ndarray
    alive: np.ndarray

    def counts(self, names: dict[int, str]) -> list[hb.WeekCount]:
        """`weekly_counts` by CSM of the live accounts over the weeks held (the accounts without a fact have no
        week-end row)."""
        values = self.csm.tolist()
        labels: dict[str, int] = {}
        of_value = {c: labels.setdefault(_label(None if c == tma.NO_CSM else c, "csm", names), len(labels))
                    for c in dict.fromkeys(values)}
        index = np.fromiter(map(of_value.__getitem__, values), dtype=np.int64, count=len(values))
        return _week_cells(list(labels), index, self.scores, self.bands, self.first_week)


def _fact_team_columns(session: Session, facts: _Facts, first_week: dt.date, last_week: dt.date,
                       shared: dict[Any, Any] | None = None) -> _TeamColumns:
    """One read of the accounts outer-joined to their facts: the live ones' `_TeamColumns`, with every account's
    CSM and whether it is live (what the tasks' tally needs). `shared` (a preparation's): from its one read of
    the workspace's facts (`_every_fact`)."""
    lo = (first_week - facts.first_week()).days // 7
    last = (last_week - first_week).days // 7
    if shared is not None:
        every = _every_fact(session, facts, shared)
        owners = np.fromiter((tma.NO_CSM if c is None else c for c in every.groups["csm"]), dtype=np.int64,
                             count=len(every.ids))
        alive = every.alive
        scores, bands = every.scores[alive][:, lo:], every.bands[alive][:, lo:]
        first, final = (np.where(bands[:, slot] != 4, scores[:, slot], np.nan) for slot in (0, last))
        return _TeamColumns(every.ids[alive], owners[alive], every.arr[alive], first, final, scores, bands,
                            first_week, every.ids, owners, alive)
    tenant = current_tenant(session)
    live = case((live_accounts(), literal_column("1")), else_=literal_column("0"))
    rows = _core_rows(session, select(Account.id, Account.csm_user_id, Account.arr, AccountFact.week_scores,
                                      AccountFact.week_bands, live)
                      .select_from(Account)
                      .outerjoin(AccountFact, and_(AccountFact.account_id == Account.id,
                                                   AccountFact.tenant_id == tenant)), Account)
    rows.sort(key=operator.itemgetter(0))  # id order here, not the server's sort (PostgreSQL's spills to disk)
    everyone = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    owners = np.fromiter((tma.NO_CSM if r[1] is None else r[1] for r in rows), dtype=np.int64, count=len(rows))
    alive = np.fromiter((r[5] for r in rows), dtype=bool, count=len(rows))
    rows = [r for r, keep in zip(rows, alive.tolist(), strict=True) if keep]
    n, width = len(rows), facts.weeks
    no_scores, no_bands = b"\xff" * (8 * width), _NO_WEEK * width  # NaN, no row
    scores = np.frombuffer(b"".join(r[3] if r[3] is not None else no_scores for r in rows),
                           dtype=np.float64).reshape(n, width)[:, lo:]
    bands = _LOOKUP[np.frombuffer("".join(r[4] if r[4] is not None else no_bands for r in rows).encode("ascii"),
                                  dtype=np.uint8).reshape(n, width)[:, lo:]]

    def week(slot: int) -> np.ndarray:  # a week-end row's score, NaN for none (or no row that week)
        return np.where(bands[:, slot] != 4, scores[:, slot], np.nan)

    return _TeamColumns(everyone[alive], owners[alive],
                        np.fromiter((0.0 if r[2] is None else r[2] for r in rows), dtype=np.float64, count=n),
                        week(0), week(last), scores, bands, first_week, everyone, owners, alive)


def _wide_team_columns(every: _EveryFact, first_scores: list[Any], first_week: dt.date) -> _TeamColumns:
    """`_TeamColumns` of a window longer than the facts' weeks: the accounts from `every`, the week-end score (NaN:
    none) of the window's first ISO week from `first_scores` (the week rows' (account, score) of that week, an
    earlier one than the day's), of its last (the day's) from the facts; no weekly matrix."""
    owners = np.fromiter((tma.NO_CSM if c is None else c for c in every.groups["csm"]), dtype=np.int64,
                         count=len(every.ids))
    alive = every.alive
    ids = every.ids[alive]
    first = np.full(len(ids), np.nan)
    if first_scores and len(ids):
        accounts = np.fromiter((r[0] for r in first_scores), dtype=np.int64, count=len(first_scores))
        at = np.minimum(np.searchsorted(ids, accounts), len(ids) - 1)
        known = ids[at] == accounts  # a live account's row
        score = np.fromiter((np.nan if r[1] is None else r[1] for r in first_scores), dtype=np.float64,
                            count=len(first_scores))
        first[at[known]] = score[known]
    last = np.where(every.bands[alive][:, -1] != 4, every.scores[alive][:, -1], np.nan)
    empty = np.zeros((len(ids), 0))
    return _TeamColumns(ids, owners[alive], every.arr[alive], first, last, empty, empty.astype(np.int64),
                        first_week, every.ids, owners, alive)


def _older_week_rows(session: Session, first: dt.date, before: dt.date) -> list[tuple[Any, ...]]:
    """The cells of `_older_week_counts` by CSM id (None: no CSM): (CSM, week, band, accounts, scored, Σ score)."""
    group = _group_column("csm")
    return [tuple(r) for r in session.execute(
        select(group, HealthWeek.week, HealthWeek.band, func.count(), func.count(HealthWeek.score),
               func.coalesce(func.sum(HealthWeek.score), 0.0))
        .select_from(HealthWeek).join(Account, Account.id == HealthWeek.account_id)
        .where(HealthWeek.week >= first, HealthWeek.week < before, live_accounts())
        .group_by(group, HealthWeek.week, HealthWeek.band))]


def _older_week_counts(session: Session, first: dt.date, before: dt.date, names: dict[int, str]
                       ) -> list[hb.WeekCount]:
    """`weekly_counts` by CSM of the live accounts for the ISO weeks from `first` to the week before `before` (all
    earlier than the day's week: the week rows as they are)."""
    return _named_week_counts(_older_week_rows(session, first, before), names)


def _named_week_counts(rows: Iterable[Sequence[Any]], names: dict[int, str]) -> list[hb.WeekCount]:
    """`_older_week_rows`' cells (read, or a pack's) as `WeekCount` rows by the CSMs' names."""
    out: dict[tuple[str, dt.date, str | None], list[float]] = {}
    for g, week, band, n, scored, total in rows:  # two CSM ids may carry one name: merge their cells
        cell = out.setdefault((_label(g, "csm", names), _date(week), band), [0, 0, 0.0])
        cell[0] += n
        cell[1] += scored
        cell[2] += float(total)
    return [hb.WeekCount(g, w, b, int(c[0]), int(c[1]), c[2]) for (g, w, b), c in out.items()]


def _utc_day(session: Session, column: Any) -> Any:
    """A UTC datetime column's date (`datetime.date()` of the value read), in SQL."""
    if _postgres(session):
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)


def _task_tally(session: Session, day: dt.date, days: int, columns: _TeamColumns
                ) -> tuple[tma.TaskTally, dict[int, int]]:
    """`analytics.team.tally_tasks` of the tasks, and the open tasks not yet due per assignee, else CSM (the
    `waiting` figure): what each task counts as is computed in SQL (one pass over the tasks, no join: the account,
    the assignee and a number), whom it counts for (its assignee, else its account's CSM: while the account is
    live, but for `waiting`) from `columns`, counted with NumPy."""
    start = day - dt.timedelta(days=days - 1)
    untouched_since = day - dt.timedelta(days=tm.UNTOUCHED_DAYS - 1)

    def at(d: dt.date) -> dt.datetime:
        return dt.datetime.combine(d, dt.time(), dt.UTC)

    def number(k: int) -> Any:  # inline: no bind parameter per row
        return literal_column(str(k))

    end = at(day + dt.timedelta(days=1))
    done = and_(Task.status == "done", or_(Task.closed_reason.is_(None), Task.closed_reason == ""),
                Task.completed_at.is_not(None))
    in_time = or_(Task.due_date.is_(None), _utc_day(session, Task.completed_at) <= Task.due_date)
    # the rows read: the open tasks, and those completed by a person from the window's or the touches' first day
    # (whichever is earlier) to the day; so a row not open is such a completion, and what it counts as is read
    # from its status, completion and due day alone: 1 on time, 2 late (completed in the window), 3 open and
    # overdue, 4 open and not yet due, 0 none of these; +8 when it touched its account in the last
    # `UNTOUCHED_DAYS` days
    kind = case((Task.status == "open", case((Task.due_date < day, number(3)), else_=number(4))),
                (Task.completed_at >= at(start), case((in_time, number(1)), else_=number(2))), else_=number(0))
    touch = case((and_(Task.status != "open", Task.completed_at >= at(untouched_since)), number(8)),
                 else_=number(0))
    # two columns, not three: the assignee (+1, 0 for none) and the code in one BIGINT, (assignee + 1) * 16 + code
    packed = (cast(func.coalesce(Task.assignee_user_id, number(tma.NO_CSM)), BigInteger) + number(1)) * number(16)
    rows = _int_rows(session, select(Task.account_id, packed + kind + touch).where(or_(
        Task.status == "open",
        and_(done, Task.completed_at >= at(min(start, untouched_since)), Task.completed_at < end))), Task)
    n = len(rows)
    accounts, code = rows[:, 0], rows[:, 1] & 15
    assignee = (rows[:, 1] >> 4) - 1
    kinds = code & 7
    at_row = np.minimum(np.searchsorted(columns.everyone, accounts), max(len(columns.everyone) - 1, 0))
    known = (columns.everyone[at_row] == accounts) if len(columns.everyone) else np.zeros(n, dtype=bool)
    csm = np.where(known, columns.owners[at_row] if len(columns.everyone) else tma.NO_CSM, tma.NO_CSM)
    csm_if_live = np.where(known & (columns.alive[at_row] if len(columns.everyone) else False), csm, tma.NO_CSM)
    holder = np.where(assignee != tma.NO_CSM, assignee, np.where(kinds == 4, csm, csm_if_live))
    tallies: list[dict[int, int]] = []
    for k in (1, 2, 3, 4):
        people, counts = np.unique(holder[(kinds == k) & (holder != tma.NO_CSM)], return_counts=True)
        tallies.append(dict(zip(people.tolist(), counts.tolist(), strict=True)))
    touched = frozenset(accounts[code >= 8].tolist())  # a set of them (NumPy's hashed unique is slower)
    since = at(min(start, untouched_since))  # the tasks `team_performance` is handed
    acted_at = {int(typing.cast(int, alert)): _aware(first) for alert, first in session.execute(
        select(Task.alert_id, func.min(Task.completed_at))
        .where(done, Task.alert_id.is_not(None), Task.completed_at >= since, Task.completed_at < end)
        .group_by(Task.alert_id))}
    return tma.TaskTally(tallies[0], tallies[1], tallies[2], touched, acted_at), tallies[3]


_PG_EPOCH_US = tma.microseconds(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
"""PostgreSQL's epoch of its binary times (`timestamptz_send`: whole microseconds since), from `tma.EPOCH`'s."""


def _alert_columns(session: Session, alert_query: Any) -> tma.AlertColumns:
    """`alert_query`'s alerts (id, account, raised at) as `tma.AlertColumns`, no object per alert: on PostgreSQL each
    column as one bytea of its values' binary forms (the time's: its whole microseconds since 2000), on SQLite its text
    parsed by NumPy (a naive UTC time: as `UTCDateTime` reads it), else each read as `_aware` reads it."""
    if _postgres(session):
        # each column one bytea of its values' binary form: the time's is its microseconds since 2000-01-01 UTC
        inner = alert_query.where(Alert.tenant_id == current_tenant(session)).subquery("r")
        blobs = _core_rows(session, select(*[func.string_agg(send(c), literal(b"", LargeBinary)) for send, c in (
            (func.int8send, cast(inner.c.id, BigInteger)), (func.int8send, cast(inner.c.account_id, BigInteger)),
            (func.timestamptz_send, inner.c.raised_at))]))
        ids, accounts, raised = (np.frombuffer(b or b"", dtype=">i8").astype(np.int64) for b in blobs[0])
        return tma.AlertColumns(ids, accounts, raised + _PG_EPOCH_US)
    # each column as one text (group_concat: one pass, one order) parsed by NumPy, no row tuple per alert
    inner = alert_query.where(Alert.tenant_id == current_tenant(session)).subquery("r")
    texts = _core_rows(session, select(func.group_concat(inner.c.id, literal_column("','")),
                                       func.group_concat(inner.c.account_id, literal_column("','")),
                                       func.group_concat(inner.c.raised_at, literal_column("'|'"))))[0]
    if texts[0] is None:
        return tma.AlertColumns(*(np.zeros(0, dtype=np.int64) for _ in range(3)))
    ids, accounts = (np.fromstring(t, dtype=np.int64, sep=",") for t in texts[:2])
    times = texts[2].split("|")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a time with a zone, or not a time's text: read one by one
            raised = np.array(times, dtype="datetime64[us]").astype(np.int64)
            if len(raised) != len(ids):
                raise ValueError("not one time per alert")
        return tma.AlertColumns(ids, accounts, raised)
    except (ValueError, Warning):
        pass
    rows = _core_rows(session, alert_query, Alert)
    n = len(rows)
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
    accounts = np.fromiter((r[1] for r in rows), dtype=np.int64, count=n)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a time with a zone: read one by one
            if any(not isinstance(r[2], str) for r in rows):
                raise ValueError("not text")
            raised = np.array([r[2] for r in rows], dtype="datetime64[us]").astype(np.int64)
    except (ValueError, Warning):
        raised = np.fromiter((tma.microseconds(_aware(r[2])) for r in rows), dtype=np.int64, count=n)
    return tma.AlertColumns(ids, accounts, raised)


def _aware(value: Any) -> dt.datetime:
    """A datetime aggregate as `UTCDateTime` reads it (SQLite's MIN of the column is its text)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        return typing.cast(dt.datetime, value.replace(tzinfo=dt.UTC))
    return typing.cast(dt.datetime, value.astimezone(dt.UTC))


def _team_facts(session: Session, *, days: int, as_of: dt.date | None, shared: dict[Any, Any] | None = None
                ) -> _TeamFacts:
    """The team report's figures over the `days` up to the day (`_TeamFacts`). `shared`: a dict kept between the
    views of one preparation (`prepare_base_reports`, one transaction): the accounts' facts read once."""
    if days not in TEAM_DAYS:
        raise ReportError(f"days must be one of {', '.join(map(str, TEAM_DAYS))}, not {days}")
    day = _day(session, as_of)
    start = day - dt.timedelta(days=days - 1)
    touch_from = min(start, day - dt.timedelta(days=tm.UNTOUCHED_DAYS - 1))
    people = [tm.Person(uid, name or email, manager) for uid, name, email, manager in
              session.execute(select(User.id, User.name, User.email, User.manager_id))]
    names = {p.user_id: p.name for p in people}
    first_week, last_week = hb.week_start(start), hb.week_start(day)
    today = fresh_account_facts(session, day)  # the day's facts; `facts` while they hold the window's weeks
    facts = today if today is not None and today.holds(first_week=first_week) else None
    since = dt.datetime.combine(touch_from, dt.time(), dt.UTC)
    task_query = (select(Task.id, Task.account_id, Task.status, Task.due_date, Task.completed_at,
                         Task.assignee_user_id, Task.alert_id, Task.closed_reason)
                  .where(or_(and_(Task.status == "done", Task.completed_at >= since),
                             and_(Task.status == "open", Task.due_date < day))))
    alert_query = (select(Alert.id, Alert.account_id, Alert.raised_at)
                   .where(Alert.raised_at >= dt.datetime.combine(start, dt.time(), dt.UTC),
                          Alert.raised_at < dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)))
    counts: list[hb.WeekCount]
    try:
        packed = labels = None
        pack = _fact_pack(session, today, "team") if today is not None and shared is None else None
        if pack is not None and today is not None:
            labels = _pack_labels(pack, "csm", names)
            packed = None if labels is None else _pack_team_columns(pack, today, first_week, last_week)
        if today is not None and pack is not None and packed is not None and labels is not None:
            # the whole base's per-account columns and every CSM's weekly counts from the workspace's pack (a
            # window longer than the facts' weeks too: its first week and older weeks are the pack's)
            tally, waiting = _task_tally(session, day, days, packed)
            report = tma.team_performance_arrays(people, packed.ids, packed.csm, packed.arr, packed.first,
                                                 packed.last, tally, _alert_columns(session, alert_query), day, days)
            counts = _pack_team_counts(pack, today, labels, first_week, names)
        elif facts is not None:
            # the live accounts (in id order: the order figures are summed in) with their facts, read once: the
            # window's first and last week-end scores and every CSM's weekly counts (as `weekly_counts`) from it
            columns = _fact_team_columns(session, facts, first_week, last_week, shared)
            tally, waiting = _task_tally(session, day, days, columns)
            report = tma.team_performance_arrays(people, columns.ids, columns.csm, columns.arr, columns.first,
                                                 columns.last, tally, _alert_columns(session, alert_query), day, days)
            counts = columns.counts(names)
        elif shared is not None and first_week < last_week and (wide := today) is not None:
            # a window longer than the facts' weeks, in a preparation: the accounts, the last week-end scores and
            # the weekly counts of the weeks held from its one read of the facts; the first week's scores and the
            # counts of the weeks before the facts' from the week rows (earlier than the day's week: as they are)
            every = _every_fact(session, wide, shared)
            columns = _wide_team_columns(every, _core_rows(session, select(HealthWeek.account_id, HealthWeek.score)
                                                           .where(HealthWeek.week == first_week), HealthWeek),
                                         first_week)
            tally, waiting = _task_tally(session, day, days, columns)
            alerts = [tm.AlertFacts(*row) for row in session.execute(alert_query)]
            report = tma.team_performance_arrays(people, columns.ids, columns.csm, columns.arr, columns.first,
                                                 columns.last, tally, alerts, day, days)
            held = dataclasses.replace(columns, scores=every.scores[every.alive], bands=every.bands[every.alive],
                                       first_week=wide.first_week())
            counts = _older_week_counts(session, first_week, wide.first_week(), names) + held.counts(names)
        else:
            accounts = [tm.OwnedAccount(a, csm, arr) for a, csm, arr in session.execute(
                select(Account.id, Account.csm_user_id, Account.arr).where(live_accounts()).order_by(Account.id))]
            ends = _week_ends(first_week, day)
            weeks = [hb.WeekHealth(a, _date(w), s, None) for a, w, s in session.execute(
                select(ends.c.account_id, ends.c.week, ends.c.score).select_from(ends)
                .where(ends.c.week.in_([first_week, last_week])))]
            tasks = [tm.TaskFacts(*row) for row in session.execute(task_query)]
            alerts = [tm.AlertFacts(*row) for row in session.execute(alert_query)]
            report = tm.team_performance(people, accounts, weeks, tasks, alerts, day, days)
            # every CSM's portfolio, week by week over the window (the Health report's weekly SQL, by CSM)
            counts = weekly_counts(session, "csm", first_week, day, Cohort(), names)
            # open tasks not yet due (or with no due date), counted for whom a task counts (assignee, else the CSM)
            holder = func.coalesce(Task.assignee_user_id, Account.csm_user_id)
            waiting = {int(u): int(n) for u, n in session.execute(
                select(holder, func.count()).join(Account, Account.id == Task.account_id)
                .where(Task.status == "open", or_(Task.due_date.is_(None), Task.due_date >= day),
                       holder.is_not(None))
                .group_by(holder))}
    except ValueError as exc:
        raise ReportError(str(exc)) from None
    members: dict[int, list[int]] = defaultdict(list)
    for p in people:
        if p.manager_id is not None:
            members[p.manager_id].append(p.user_id)
    return _TeamFacts(day, days, start, report, names, members, waiting, counts,
                      (last_week - first_week).days // 7 + 1)


def _team_view(facts: _TeamFacts, seen: set[int] | None, role: str, user_id: int | None) -> dict[str, Any]:
    """The report as `role` sees it: `seen` (`visible_people`) its CSMs, their teams, their portfolios' trend."""
    names, members, waiting = facts.names, facts.members, facts.waiting
    csms = {u: f for u, f in facts.report.csms.items() if seen is None or u in seen}
    if role == "csm":
        teams: dict[int, tm.Figures] = {}
    else:
        teams = {m: f for m, f in facts.report.teams.items() if seen is None or m == user_id}
    trend_counts = [c for c in facts.counts if c.group in {names.get(u) for u in csms}]
    trend = hb.trend_of(trend_counts, facts.day, facts.n_weeks,
                        [names.get(u, f"User {u}") for u in csms if csms[u].accounts])
    return {
        "as_of": facts.day.isoformat(), "days": facts.days, "first": facts.start.isoformat(),
        "csms": [{"user_id": u, "name": names.get(u, f"User {u}"), **_figures(f), "open": waiting.get(u, 0)}
                 for u, f in csms.items()],
        "teams": [{"manager_id": m, "name": names.get(m, f"User {m}"), "members": sorted([m, *members.get(m, [])]),
                   **_figures(f), "open": sum(waiting.get(u, 0) for u in [m, *members.get(m, [])])}
                  for m, f in teams.items()],
        "trend": {g: [{"week": p.week.isoformat(), "average_score": _round(p.average_score), "accounts": p.accounts}
                      for p in points] for g, points in trend.items()},
        "definitions": {**tm.DEFINITIONS, "open": OPEN_TASKS},
    }


@collected_rarely
def _team_report(session: Session, *, days: int = 30, as_of: dt.date | None = None, role: str = "admin",
                 user_id: int | None = None) -> dict[str, Any]:
    """Per CSM and per team over the `days` up to the report's day, scoped to what `role` may see
    (`visible_people`), with the weekly health of the visible CSMs' portfolios over the window."""
    facts = _team_facts(session, days=days, as_of=as_of)
    return _team_view(facts, visible_people(session, role, user_id or 0), role, user_id)


OPEN_TASKS = "Open tasks not yet due (due today or later, or no due date), for their assignee, else the CSM."


# --- Prepared copies ---------------------------------------------------------------------------------------------
# The report functions below are what the console and the API call: each returns the stored copy of the report for
# its parameters while the data it was built from is unchanged (`data_fingerprint`), else builds it (the `_…_report`
# functions above) and stores it. The worker prepares the default views after every sync and score run
# (`prepare_base_reports`), so a page opened with them reads a stored copy; other parameters (a cohort, another
# day, one account's leaderboard, a CSM's or a manager's team view) are built on their first request.
def _sources(tenant: int | None) -> dict[str, list[Any]]:
    """Per table a report reads, aggregates that change with its rows, each one index read (one aggregate per
    query: SQLite answers a lone MAX from an index, not two): the newest snapshot and usage row (their roll-ups,
    `usage_monthly` and `health_weeks`, change only with them: 0019's triggers); the newest row or change of the
    tables of a row per account or user, on the (tenant, id / changed) indexes of migration 0028. No counts (a
    pass over 100,000 index entries each): rows are removed only by a sync (merges, deleted records), which
    prepares every copy again."""
    def newest(column: Any) -> Any:
        return select(func.max(column))

    return {
        "snapshots": [newest(HealthSnapshot.day), newest(HealthSnapshot.id)],
        "usage": [newest(UsageDaily.id)],
        "accounts": [newest(Account.updated_at)],
        "subscriptions": [newest(Subscription.updated_at)],
        "tasks": [newest(Task.id), newest(Task.updated_at)],
        "alerts": [newest(Alert.id)],
        "people": [select(User.id, User.manager_id, User.name, User.email).order_by(User.id)],  # a few dozen
        "contacts": [newest(Contact.updated_at)],
        "product_users": [newest(ProductUser.id), newest(ProductUser.last_seen)],
        "epoch": [select(Tenant.panel_epoch).where(Tenant.id == tenant)],
    }


READS = {
    "health": ("snapshots", "accounts", "people", "epoch"),
    "adoption": ("snapshots", "usage", "accounts", "subscriptions", "contacts", "product_users", "epoch"),
    "users": ("snapshots", "usage", "accounts", "product_users", "epoch"),
    "team": ("snapshots", "accounts", "tasks", "alerts", "people", "epoch"),
    "filters": ("accounts", "people"),
}
"""The tables each report reads (`_sources`); its copies hold while their aggregates are unchanged."""


def data_fingerprint(session: Session, report: str) -> str:
    """What `report` is built from (`READS`), as a hash of its tables' aggregates. A change these cannot see (a
    score rewritten in place: a score run's; a usage count the collector raises on a day already counted) shows
    after the next sync or score run, whose `prepare_base_reports` drops every copy (a run of some accounts:
    `patch_base_reports` those of the views that read scores)."""
    tenant = current_tenant(session)
    sources = _sources(tenant)
    parts = [tuple(map(tuple, session.execute(query).all())) for name in READS[report] for query in sources[name]]
    return hashlib.sha256(repr((tenant, report, parts)).encode()).hexdigest()


def _key(report: str, params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps([report, params], sort_keys=True, default=str).encode()).hexdigest()


def _cohort_key(cohort: Cohort) -> list[Any]:
    return [cohort.segment, cohort.tier, cohort.csm_user_id]


@collected_rarely
def _prepared(session: Session, report: str, params: dict[str, Any], build: Callable[[], dict[str, Any]]
              ) -> dict[str, Any]:
    fingerprint, key = data_fingerprint(session, report), _key(report, params)
    payload = session.scalar(select(ReportCopy.payload).where(
        ReportCopy.report == report, ReportCopy.key == key, ReportCopy.fingerprint == fingerprint))
    if payload is not None:
        try:
            found: dict[str, Any] = json.loads(zlib.decompress(payload))
            return found
        except (zlib.error, ValueError) as exc:  # damaged: built again and stored over it
            log.info("stored %s report not read (%s); rebuilding", report, exc.__class__.__name__)
    built = build()
    _store(session, report, key, fingerprint, built)
    return built


def _store(session: Session, report: str, key: str, fingerprint: str, built: dict[str, Any]) -> None:
    """Stores a copy (and drops the copies of older data); two processes may store at once: one write is dropped."""
    payload = zlib.compress(json.dumps(built, separators=(",", ":")).encode(), 1)
    try:
        with session.begin_nested():
            session.execute(delete(ReportCopy).where(ReportCopy.report == report,
                                                     ReportCopy.fingerprint != fingerprint))
            row = session.scalar(select(ReportCopy).where(ReportCopy.report == report, ReportCopy.key == key))
            if row is None:
                row = ReportCopy(report=report, key=key)
                session.add(row)
            row.fingerprint, row.payload, row.built_at = fingerprint, payload, dt.datetime.now(dt.UTC)
    except SQLAlchemyError as exc:
        log.warning("%s report built but not stored: %s", report, exc.__class__.__name__)


def health_report(session: Session, *, by: str = "segment", cohort: Cohort = Cohort(), as_of: dt.date | None = None,
                  weeks: int = 12, measures: Sequence[str] = (), poor_weeks: int = 3, of_weeks: int = 4,
                  shared: dict[Any, Any] | None = None) -> dict[str, Any]:
    """`_health_report`, its stored copy while the data is unchanged (`shared`: see `_health_report`)."""
    day = _day(session, as_of)
    params = {"by": by, "cohort": _cohort_key(cohort), "day": day, "weeks": weeks, "measures": list(measures),
              "poor": [poor_weeks, of_weeks]}
    return _prepared(session, "health", params, lambda: _health_report(
        session, by=by, cohort=cohort, as_of=day, weeks=weeks, measures=measures, poor_weeks=poor_weeks,
        of_weeks=of_weeks, shared=shared))


def adoption_report(session: Session, *, key_features: Sequence[str], login_event: str, cohort: Cohort = Cohort(),
                    as_of: dt.date | None = None, months: int = 6, pack: bool = False) -> dict[str, Any]:
    """`_adoption_report`, its stored copy while the data is unchanged (`pack`: see `_adoption_report`)."""
    day = _day(session, as_of)
    params = {"key_features": list(key_features), "login": login_event, "cohort": _cohort_key(cohort), "day": day,
              "months": months}
    return _prepared(session, "adoption", params, lambda: _adoption_report(
        session, key_features=key_features, login_event=login_event, cohort=cohort, as_of=day, months=months,
        pack=pack))


def leaderboard_report(session: Session, *, key_features: Sequence[str], account_id: int | None = None,
                       limit: int = LEADERBOARD, cohort: Cohort = Cohort(), as_of: dt.date | None = None
                       ) -> dict[str, Any]:
    """`_leaderboard_report`, its stored copy while the data is unchanged."""
    day = _day(session, as_of)
    params = {"key_features": list(key_features), "account": account_id, "limit": limit,
              "cohort": _cohort_key(cohort), "day": day}
    return _prepared(session, "users", params, lambda: _leaderboard_report(
        session, key_features=key_features, account_id=account_id, limit=limit, cohort=cohort, as_of=day))


def team_report(session: Session, *, days: int = 30, as_of: dt.date | None = None, role: str = "admin",
                user_id: int | None = None) -> dict[str, Any]:
    """`_team_report`, its stored copy while the data is unchanged; one copy per visibility scope (everyone, a
    CSM's own row, a manager's team), never another's."""
    day = _day(session, as_of)
    return _prepared(session, "team", _team_params(days, day, role, user_id), lambda: _team_report(
        session, days=days, as_of=day, role=role, user_id=user_id))


def _team_params(days: int, day: dt.date, role: str, user_id: int | None) -> dict[str, Any]:
    scope = [role, user_id or 0] if role in ("csm", "manager") else ["everyone", None]
    return {"days": days, "day": day, "scope": scope}


def _cohort_choices(session: Session) -> dict[str, Any]:
    return {
        "segments": sorted(v for v in session.scalars(select(Account.segment).distinct()) if v),
        "tiers": sorted(v for v in session.scalars(select(Account.tier).distinct()) if v),
        "csms": [list(row) for row in session.execute(select(User.id, User.name, User.email).where(
            User.role.in_(("csm", "manager"))).order_by(User.email))],
    }


def cohort_choices(session: Session) -> dict[str, Any]:
    """What every report page's cohort filter offers — the segments and tiers in use, the CSMs and managers
    ([id, name, e-mail]) — from its stored copy while the accounts and people are unchanged (two passes over the
    accounts otherwise: ~0.1 s each at 100,000 on PostgreSQL)."""
    return _prepared(session, "filters", {}, lambda: _cohort_choices(session))


def prepare_base_reports(session: Session, model: HealthModel | None = None, ahead: Any = None,
                         known: KnownMeasures | None = None) -> int:
    """What a worker runs after a sync or a score run: every stored copy dropped, then the pages' default views
    built and stored — Health by each `BY`, Adoption, Users (the top 50 of the base), and Team over each of
    `TEAM_DAYS` as everyone-seeing roles, each manager and each CSM see it (one computation per window, cut per
    scope) — for the latest scored day and no cohort. Returns how many. `ahead`: the usage facts' reads started
    by the caller (`sync.usage_facts.ReadAhead`: a score run's, early); `known`: the measure values of the
    snapshots the score run has just written (`KnownMeasures`), not read back from their JSON."""
    model = model or default_model()
    measures, signals = sorted(model.measures), model.signals
    from sync.usage_facts import ReadAhead, refresh_usage_facts

    # the usage facts' reads on a second connection meanwhile (before anything is written: see `ReadAhead`)
    if ahead is None:
        ahead = ReadAhead(session, signals.key_features, signals.login_event)
    drop_base_reports(session)
    refresh_account_facts(session, measures, known)  # what the views computed in a request read
    refresh_usage_facts(session, signals.key_features, signals.login_event, ahead)  # the Adoption and Users views'
    shared: dict[Any, Any] = {}  # what the Health views compute alike for every `by`; the facts the views read
    held = fresh_account_facts(session, as_of_day(session))
    if held is not None:  # the whole base's views computed in a request read it (migration 0037)
        _build_pack(session, held, _every_fact(session, held, shared))
    for by in BY:
        health_report(session, by=by, measures=measures, shared=shared)
    # and the whole base's adoption pack from the counts this view computes
    adoption_report(session, key_features=signals.key_features, login_event=signals.login_event, pack=True)
    leaderboard_report(session, key_features=signals.key_features)
    cohort_choices(session)
    scopes: list[tuple[str, int | None]] = [("admin", None), *((role, uid) for role, uid in session.execute(
        select(User.role, User.id).where(User.role.in_(("csm", "manager"))).order_by(User.id)))]
    seen = {(role, uid): visible_people(session, role, uid or 0) for role, uid in scopes}
    fingerprint = data_fingerprint(session, "team")
    for days in TEAM_DAYS:
        facts = _team_facts(session, days=days, as_of=None, shared=shared)
        for role, uid in scopes:
            _store(session, "team", _key("team", _team_params(days, facts.day, role, uid)), fingerprint,
                   _team_view(facts, seen[(role, uid)], role, uid))
    return len(BY) + 3 + len(TEAM_DAYS) * len(scopes)


def patch_base_reports(session: Session, model: HealthModel | None, accounts: Iterable[int]) -> bool:
    """What a score run of some accounts (a real-time change: `sync.realtime`) runs instead of a preparation: the
    report sources kept correct and fast, with work in proportion to `accounts` (those rescored, their parents,
    those a record fetch changed) and one rewrite of each pack —

    - their `AccountFact` rows built again and the facts' fingerprint stamped again (`refresh_account_facts_of`);
    - the Health/Team pack built again from the facts (`_build_pack`: one read of the facts, no snapshot);
    - their usage facts built again (`sync.usage_facts.patch_usage_facts`) and the adoption pack from them;
    - the stored copies of the Health, Team and Adoption views dropped (a score rewritten in place, which their
      fingerprints cannot see): each is computed from the packs on its first request and stored again. The
      Users copies stay (they read no score; a fetched account or new usage changes their fingerprint).

    Only while the facts held before the run but for those accounts' rows (`_facts_patchable`: the same day and
    epoch, no snapshot of another account added since); else everything is dropped (`drop_base_reports`) until the
    next preparation, as are the usage facts alone when their usage moved for other accounts. Returns whether
    the account facts were patched."""
    from sync import usage_facts as uf

    ids = sorted(set(accounts))
    day = as_of_day(session)
    state = session.execute(select(ReportFactsState.day, ReportFactsState.fingerprint)).first()
    if not ids or state is None or _date(state.day) != day or not _facts_patchable(session, state.fingerprint, ids):
        drop_base_reports(session)
        return False
    model = model or default_model()
    session.execute(delete(ReportCopy).where(ReportCopy.report.in_(("health", "team", "adoption"))))
    # the packs that held before (accounts unchanged since they were written: `_account_marks`)
    packs = _packs_holding(session, lambda: _pack_fingerprint(session, _state_facts(session)), "adoption")
    signals = model.signals
    usage_state = session.execute(select(UsageFactsState.day, UsageFactsState.key_features,
                                         UsageFactsState.login_event, UsageFactsState.months)).first()
    adoption_held = usage_state is not None and bool(_packs_holding(session, lambda: _adoption_pack_fingerprint(
        session, uf.UsageFacts(_date(usage_state.day), tuple(json.loads(usage_state.key_features)),
                               usage_state.login_event, int(usage_state.months))), "adoption", wanted=True))
    changed = refresh_account_facts_of(session, ids)
    held = fresh_account_facts(session, day)
    if held is not None and not changed and packs:  # the same figures: the packs stamped again
        _stamp_packs(session, _pack_fingerprint(session, held), packs)
    elif held is not None:
        _build_pack(session, held, _every_fact(session, held, {}))
    else:
        session.execute(delete(ReportFactPack).where(ReportFactPack.part.in_(("health", "team"))))
    usage_changed = uf.patch_usage_facts(session, ids, signals.key_features, signals.login_event)
    if usage_changed is not None:
        usage = uf.fresh_usage_facts(session, day, signals.key_features, signals.login_event, uf.FACT_MONTHS)
        if usage is not None and adoption_held and not usage_changed:
            _stamp_packs(session, _adoption_pack_fingerprint(session, usage), ["adoption"])
            return True
        if usage is not None:  # the whole base's figures, as the prepare's Adoption view counts them
            every = Cohort().conditions()
            counted = uf.fact_adoption_counts(session, usage, every, day, usage.months)
            _build_adoption_pack(session, usage, _AdoptionPack(
                counted, uf.fact_upgrade_ready(session, day, every),
                *uf.fact_needs_training(session, signals.key_features, every)))
            return True
    session.execute(delete(UsageFactsState))
    session.execute(delete(ReportFactPack).where(ReportFactPack.part == "adoption"))
    return True


def _state_facts(session: Session) -> _Facts:
    """The account facts as their state row holds them (held or not)."""
    state = session.execute(select(ReportFactsState.day, ReportFactsState.measures, ReportFactsState.last_week,
                                   ReportFactsState.weeks, ReportFactsState.fingerprint)).one()
    return _Facts(_date(state.day), tuple(json.loads(state.measures)), _date(state.last_week), int(state.weeks),
                  state.fingerprint)


def _packs_holding(session: Session, fingerprint: Callable[[], str], part: str, wanted: bool = False) -> list[str]:
    """The stored packs of `part` (`wanted`; else every part but it: the facts' packs) when each is stored with the
    fingerprint `fingerprint()`; else none."""
    stored = session.execute(select(ReportFactPack.part, ReportFactPack.fingerprint).where(
        ReportFactPack.part == part if wanted else ReportFactPack.part != part)).all()
    if not stored:
        return []
    now = fingerprint()
    return [name for name, _ in stored] if all(found == now for _, found in stored) else []


def _stamp_packs(session: Session, fingerprint: str, parts: Sequence[str]) -> None:
    """The packs `parts` stamped with `fingerprint` (their figures unchanged by a patch)."""
    session.execute(update(ReportFactPack).where(ReportFactPack.part.in_(list(parts))).values(
        fingerprint=fingerprint, built_at=dt.datetime.now(dt.UTC)))


def _facts_patchable(session: Session, fingerprint: str, accounts: Sequence[int]) -> bool:
    """Whether the account facts of fingerprint `fingerprint` (`_facts_fingerprint`) hold but for `accounts`' rows:
    the same epoch and newest snapshot day, and every snapshot added since is one of theirs."""
    stored, now = fingerprint.split(":"), _facts_fingerprint(session).split(":")
    if len(stored) != 3 or stored[0] != now[0] or stored[1] != now[1]:
        return False
    return stored[2] == now[2] or only_rows_of(session, HealthSnapshot.id, HealthSnapshot.account_id, stored[2],
                                               accounts)


def sources_missing(session: Session) -> bool:
    """Whether a scored workspace lacks its report sources — the account facts or the usage facts dropped by a
    change a patch could not follow (`patch_base_reports`), or never prepared — so its report pages would read
    the snapshots and usage rows until they are prepared again."""
    if session.scalar(select(HealthSnapshot.id).limit(1)) is None:
        return False
    return (session.scalar(select(ReportFactsState.day)) is None
            or session.scalar(select(UsageFactsState.day)) is None)


def drop_base_reports(session: Session) -> None:
    """Every stored copy of the workspace dropped (after a change the fingerprint may not see), and its account
    facts no longer read (until `prepare_base_reports` builds them again)."""
    session.execute(delete(ReportCopy))
    session.execute(delete(ReportFactsState))
    session.execute(delete(ReportFactPack))
    session.execute(delete(UsageFactsState))


__all__ = ["BY", "TEAM_DAYS", "adoption_report", "cohort_choices", "data_fingerprint", "drop_base_reports",
           "fresh_account_facts", "health_report", "leaderboard_report", "patch_base_reports", "prepare_base_reports",
           "refresh_account_facts", "refresh_account_facts_of", "sources_missing", "team_report", "visible_people",
           "weekly_counts"]
