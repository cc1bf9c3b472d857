"""Health across the base: distribution, weekly trend, measure benchmarks per segment, persistent poor health.

Pure (no I/O, no clock). The caller pre-aggregates in SQL: one `BaseAccount` per account (its latest band and
score, ARR and grouping columns) and one `WeekHealth` per account per ISO week (the week's last snapshot), so
every function here is one pass over rows that are already small. Rules: docs/analytics.md, "Health across the
base".
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

BANDS = ("good", "average", "poor")
UNSCORED = "unscored"
DIMENSIONS = ("segment", "tier", "lifecycle_stage", "csm")
NOT_SET = "(not set)"
"""The group of accounts whose dimension column is empty."""
ALL = "all"
"""The one group when no dimension is asked for."""
PERCENTILES = (10, 25, 50, 75, 90)

DEFINITIONS: dict[str, str] = {
    "band_count": "Accounts whose latest health band is good / average / poor; unscored: no latest score.",
    "band_arr": "Σ ARR (active subscriptions of the system of record; none counts 0) of the accounts in each band.",
    "histogram": "Accounts per 10-point bin of the latest score: [0,10), [10,20) … [90,100] (100 falls in the last).",
    "trend": "Per ISO week (Monday first), over the accounts' week-end snapshots: average score and band counts.",
    "benchmark": "p10/p25/p50/p75/p90 of a measure's value (or points) per segment, nearest-rank, over the latest "
                 "snapshot of each account that has the measure.",
    "persistent_poor": "Accounts whose week-end snapshot was poor in at least N of the last M ISO weeks "
                       "(defaults 3 of 4); a week without a snapshot is not poor.",
}


@dataclass(frozen=True, slots=True)
class BaseAccount:
    """One account as the base reports see it: Account's columns and its latest snapshot."""

    account_id: int
    arr: float | None = None
    segment: str | None = None
    tier: str | None = None
    lifecycle_stage: str | None = None
    csm: str | None = None
    """The CSM's name or id, as the caller wants it grouped (Account.csm_user_id mapped to a label)."""
    score: float | None = None
    band: str | None = None
    """'good' | 'average' | 'poor' | None (not scored)."""


@dataclass(frozen=True, slots=True)
class WeekHealth:
    """An account's last snapshot of one ISO week (SQL: the row with the greatest `day` per account and week)."""

    account_id: int
    week: dt.date
    """The Monday of the week (`week_start`)."""
    score: float | None
    band: str | None


@dataclass(frozen=True, slots=True)
class MeasureValue:
    """One measure of an account's latest snapshot (`HealthSnapshot.parts[measure]`: value and points)."""

    account_id: int
    measure: str
    value: float | None
    points: float | None = None


@dataclass(frozen=True, slots=True)
class BandCount:
    """Accounts of one group, latest band and score bin, pre-aggregated (SQL: GROUP BY group, band, bin)."""

    group: str
    band: str | None
    bin: int | None
    """floor(score ÷ 10), 100 in bin 9; None: no score."""
    accounts: int
    arr: float
    """Σ ARR (none counts 0)."""


@dataclass(frozen=True, slots=True)
class WeekCount:
    """Week-end snapshots of one group, ISO week and band, pre-aggregated (GROUP BY group, week, band)."""

    group: str
    week: dt.date
    band: str | None
    accounts: int
    scored: int
    """Of them, with a score."""
    score_sum: float


@dataclass(slots=True)
class Distribution:
    accounts: int = 0
    arr: float = 0.0
    count: dict[str, int] = field(default_factory=lambda: dict.fromkeys((*BANDS, UNSCORED), 0))
    band_arr: dict[str, float] = field(default_factory=lambda: dict.fromkeys((*BANDS, UNSCORED), 0.0))
    histogram: list[int] = field(default_factory=lambda: [0] * 10)
    """Scored accounts per bin: index i holds scores in [10 i, 10 i + 10), 100 in the last bin."""


@dataclass(frozen=True, slots=True)
class TrendPoint:
    week: dt.date
    accounts: int
    """Accounts with a snapshot that week."""
    average_score: float | None
    good: int
    average: int
    poor: int


@dataclass(frozen=True, slots=True)
class Benchmark:
    segment: str
    measure: str
    accounts: int
    percentiles: dict[int, float]


@dataclass(frozen=True, slots=True)
class PoorHealth:
    account_id: int
    poor_weeks: tuple[dt.date, ...]
    """The Mondays of the weeks that counted as poor, oldest first."""


def week_start(day: dt.date) -> dt.date:
    """The Monday of `day`'s ISO week."""
    return day - dt.timedelta(days=day.weekday())


def weekly(snapshots: Iterable[tuple[int, dt.date, float | None, str | None]]) -> list[WeekHealth]:
    """Daily snapshots (account_id, day, score, band) reduced to `WeekHealth` rows (what SQL would return)."""
    last: dict[tuple[int, dt.date], tuple[dt.date, float | None, str | None]] = {}
    for account_id, day, score, band in snapshots:
        key = (account_id, week_start(day))
        held = last.get(key)
        if held is None or day > held[0]:
            last[key] = (day, score, band)
    return [WeekHealth(a, w, s, b) for (a, w), (_d, s, b) in sorted(last.items())]


def group_of(account: BaseAccount, dimension: str | None) -> str:
    """The group `account` falls in for `dimension` (`ALL` without one, `NOT_SET` for an empty value)."""
    return _grouper(dimension)(account)


def _band(band: str | None) -> str:
    if band is None:
        return UNSCORED
    if band not in BANDS:
        raise ValueError(f"unknown health band {band!r}: expected good, average, poor or none")
    return band


def _bin(score: float) -> int:
    if not 0 <= score <= 100 or math.isnan(score):
        raise ValueError(f"health score {score!r} is outside 0–100")
    return min(int(score // 10), 9)


def _grouper(dimension: str | None) -> Callable[[BaseAccount], str]:
    if dimension is None:
        return lambda _account: ALL
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}: use one of {', '.join(DIMENSIONS)} (or none)")
    read = attrgetter(dimension)

    def group(account: BaseAccount) -> str:
        value = read(account)
        return NOT_SET if value is None or value == "" else str(value)
    return group


def band_counts(accounts: Iterable[BaseAccount], dimension: str | None = None) -> list[BandCount]:
    """Accounts reduced to `BandCount` rows, as SQL would return them (GROUP BY group, band, bin)."""
    group_of_ = _grouper(dimension)
    known = frozenset(BANDS)
    cells: dict[tuple[str, str | None, int | None], list[float]] = {}
    for account in accounts:
        band, score = account.band, account.score
        if band is not None and band not in known:
            _band(band)
        key = (group_of_(account), band,
               None if score is None else int(score // 10) if 0 <= score < 100 else _bin(score))
        cell = cells.get(key)
        if cell is None:
            cells[key] = [1, account.arr or 0.0]
        else:
            cell[0] += 1
            cell[1] += account.arr or 0.0
    return [BandCount(g, b, n, int(c[0]), c[1]) for (g, b, n), c in cells.items()]


def distribution_of(counts: Iterable[BandCount]) -> dict[str, Distribution]:
    """`distribution` from pre-aggregated `BandCount` rows (the caller's SQL at 100,000 accounts)."""
    out: dict[str, Distribution] = {}
    for c in counts:
        d = out.get(c.group)
        if d is None:
            d = out[c.group] = Distribution()
        band = _band(c.band)
        d.accounts += c.accounts
        d.arr += c.arr
        d.count[band] += c.accounts
        d.band_arr[band] += c.arr
        if c.bin is not None:
            if not 0 <= c.bin <= 9:
                raise ValueError(f"score bin {c.bin} is outside 0–9")
            d.histogram[c.bin] += c.accounts
    return dict(sorted(out.items()))


def distribution(accounts: Iterable[BaseAccount], dimension: str | None = None) -> dict[str, Distribution]:
    """Count and ARR per band and the score histogram, per group of `dimension` (or one group `ALL`)."""
    return distribution_of(band_counts(accounts, dimension))


def _weeks(as_of: dt.date, weeks: int) -> list[dt.date]:
    if weeks < 1:
        raise ValueError(f"weeks must be at least 1, not {weeks}")
    last = week_start(as_of)
    return [last - dt.timedelta(weeks=weeks - 1 - i) for i in range(weeks)]


def week_counts(accounts: Iterable[BaseAccount], rows: Iterable[WeekHealth], dimension: str | None = None,
                since: dt.date | None = None) -> list[WeekCount]:
    """Week-end rows reduced to `WeekCount` rows, as SQL would return them (GROUP BY group, week, band);
    rows of accounts not in `accounts`, or of weeks before `since`, are left out."""
    grouper = _grouper(dimension)
    groups = {a.account_id: grouper(a) for a in accounts}
    known = frozenset(BANDS)
    cells: dict[tuple[str, dt.date, str | None], list[float]] = {}
    for row in rows:
        if since is not None and row.week < since:
            continue
        g = groups.get(row.account_id)
        if g is None:
            continue
        band, score = row.band, row.score
        if band is not None and band not in known:
            _band(band)
        key = (g, row.week, band)
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = [0, 0, 0.0]
        cell[0] += 1
        if score is not None:
            cell[1] += 1
            cell[2] += score
    return [WeekCount(g, w, b, int(c[0]), int(c[1]), c[2]) for (g, w, b), c in cells.items()]


def trend_of(counts: Iterable[WeekCount], as_of: dt.date, weeks: int = 12, groups: Iterable[str] = ()
             ) -> dict[str, list[TrendPoint]]:
    """`trend` from pre-aggregated `WeekCount` rows; `groups` adds groups that have no row (all points empty)."""
    wanted = _weeks(as_of, weeks)
    index = {w: i for i, w in enumerate(wanted)}
    # per group: per week [accounts, scored, Σ score, good, average, poor]
    sums: dict[str, list[list[float]]] = {g: [[0, 0, 0.0, 0, 0, 0] for _ in wanted] for g in groups}
    slot = {"good": 3, "average": 4, "poor": 5}
    for c in counts:
        i = index.get(c.week)
        if i is None:
            continue
        per = sums.get(c.group)
        if per is None:
            per = sums[c.group] = [[0, 0, 0.0, 0, 0, 0] for _ in wanted]
        cell = per[i]
        cell[0] += c.accounts
        cell[1] += c.scored
        cell[2] += c.score_sum
        if _band(c.band) != UNSCORED:
            cell[slot[c.band or ""]] += c.accounts
    return {g: [TrendPoint(w, int(c[0]), c[2] / c[1] if c[1] else None, int(c[3]), int(c[4]), int(c[5]))
                for w, c in zip(wanted, cells, strict=True)]
            for g, cells in sorted(sums.items())}


def trend(accounts: Iterable[BaseAccount], rows: Iterable[WeekHealth], as_of: dt.date, weeks: int = 12,
          dimension: str | None = None) -> dict[str, list[TrendPoint]]:
    """Per group, one point per ISO week of the last `weeks` (the week of `as_of` last, partial so far).

    Accounts are grouped by their current dimension value; rows of accounts not in `accounts` are ignored.
    """
    listed = list(accounts)
    grouper = _grouper(dimension)
    first = _weeks(as_of, weeks)[0]
    return trend_of(week_counts(listed, rows, dimension, since=first), as_of, weeks, {grouper(a) for a in listed})


def nearest_rank(ordered: Sequence[float], p: float) -> float:
    """The nearest-rank percentile of sorted values: the value at rank ceil(p/100 × n) (1-based), p in (0, 100]."""
    if not ordered:
        raise ValueError("no values to take a percentile of")
    if not 0 < p <= 100:
        raise ValueError(f"percentile {p} is outside (0, 100]")
    return ordered[max(math.ceil(p / 100 * len(ordered)), 1) - 1]


def measure_values(account_id: int, parts: Mapping[str, Any]) -> list[MeasureValue]:
    """A snapshot's stored ``parts`` ({measure: {"value", "points", ...}}) as `MeasureValue` rows."""
    return [MeasureValue(account_id, measure, part.get("value"), part.get("points"))
            for measure, part in parts.items() if isinstance(part, Mapping)]


def benchmarks(accounts: Iterable[BaseAccount], values: Iterable[MeasureValue], of: str = "value",
               dimension: str | None = "segment") -> list[Benchmark]:
    """p10…p90 (nearest rank) of each measure's `of` ('value' or 'points') per group; missing values skipped."""
    if of not in ("value", "points"):
        raise ValueError(f"benchmarks are of 'value' or 'points', not {of!r}")
    grouper = _grouper(dimension)
    groups = {a.account_id: grouper(a) for a in accounts}
    collected: dict[tuple[str, str], list[float]] = defaultdict(list)
    for v in values:
        g = groups.get(v.account_id)
        x = v.value if of == "value" else v.points
        if g is None or x is None:
            continue
        collected[(g, v.measure)].append(float(x))
    out = []
    for (g, measure), xs in sorted(collected.items()):
        xs.sort()
        out.append(Benchmark(g, measure, len(xs), {p: nearest_rank(xs, p) for p in PERCENTILES}))
    return out


def benchmarks_of_columns(segments: Sequence[str | None], measures: Sequence[str],
                          columns: Sequence[Sequence[float | None]]) -> list[Benchmark]:
    """`benchmarks` of values per segment, from columns as SQL returns them: ``segments[i]`` is account i's
    segment and ``columns[j][i]`` its value of ``measures[j]`` (None: missing, skipped). No object per value."""
    if len(columns) != len(measures) or any(len(c) != len(segments) for c in columns):
        raise ValueError("benchmarks need one column of values per measure and one value per account")
    group = _grouper("segment")
    labels = {s: group(BaseAccount(0, segment=s)) for s in set(segments)}
    names = [labels[s] for s in segments]
    out = []
    for measure, column in zip(measures, columns, strict=True):
        collected: dict[str, list[float]] = defaultdict(list)
        for g, x in zip(names, column, strict=True):
            if x is not None:
                collected[g].append(float(x))
        for g, xs in collected.items():
            xs.sort()
            out.append(Benchmark(g, measure, len(xs), {p: nearest_rank(xs, p) for p in PERCENTILES}))
    out.sort(key=lambda b: (b.segment, b.measure))
    return out


def persistent_poor(rows: Iterable[WeekHealth], as_of: dt.date, at_least: int = 3, of_last: int = 4
                    ) -> list[PoorHealth]:
    """Accounts poor in at least `at_least` of the last `of_last` ISO weeks (the week of `as_of` included).

    Most poor weeks first, then account id.
    """
    if not 1 <= at_least <= of_last:
        raise ValueError(f"need 1 <= N <= M for 'poor in N of the last M weeks', not N={at_least}, M={of_last}")
    wanted = set(_weeks(as_of, of_last))
    poor: dict[int, list[dt.date]] = defaultdict(list)
    for row in rows:
        if row.band == "poor" and row.week in wanted:
            poor[row.account_id].append(row.week)
    out = [PoorHealth(a, tuple(sorted(set(ws)))) for a, ws in poor.items()]
    out = [p for p in out if len(p.poor_weeks) >= at_least]
    out.sort(key=lambda p: (-len(p.poor_weeks), p.account_id))
    return out
