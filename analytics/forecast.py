"""Renewal forecast and revenue at risk by health band, recalibration, and the CSMs' forecast calls.

docs/analytics.md "Renewal forecast and revenue at risk". Probabilities and amounts are `Decimal`.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property, partial
from typing import NamedTuple

import numpy as np

from analytics.retention import add_months
from analytics.timeline import ArrTimeline, from_cents

BANDS: tuple[str | None, ...] = ("good", "average", "poor", None)
DEFAULT_P: dict[str | None, Decimal] = {
    "good": Decimal("0.95"), "average": Decimal("0.75"), "poor": Decimal("0.45"), None: Decimal("0.75")}
PRIOR_WEIGHT = 5
"""Five renewals' worth of the default probability."""
CLAMP = (Decimal("0.05"), Decimal("0.98"))
BAND_LEAD = dt.timedelta(days=90)
"""Recalibration reads the account's band 90 days before each renewal date."""
HISTORY_MONTHS = 12

CALLS = ("commit", "likely", "monitor", "at_risk", "lost")
"""A CSM's forecast call, most to least confident."""
CHECKPOINTS = (6, 3)
"""Months before the renewal date at which a call is recorded."""


def _check_band(band: str | None, where: str) -> None:
    if band not in BANDS:
        raise ValueError(f"{where}: a health band is 'good', 'average', 'poor' or None, got {band!r}")


class Due(NamedTuple):
    """One account's renewal due on `renewal`: the ARR of its open terms renewing then, and its current band."""

    account: int
    renewal: dt.date
    arr: Decimal
    band: str | None
    p: Decimal

    @property
    def expected(self) -> Decimal:
        return self.arr * self.p

    @property
    def at_risk(self) -> Decimal:
        return self.arr - self.expected


@dataclass(frozen=True)
class BandTotals:
    count: int
    arr: Decimal
    expected: Decimal
    at_risk: Decimal


class ForecastMonth:
    """One calendar month of the forecast: totals overall and per band; `dues` lists the accounts."""

    def __init__(self, first: dt.date, total: BandTotals, by_band: dict[str | None, BandTotals],
                 dues: Callable[[], list[Due]], most_at_risk: Callable[[int], list[Due]] | None = None):
        self.first, self.total, self.by_band = first, total, by_band
        self._dues = dues
        self._most_at_risk = most_at_risk

    @cached_property
    def dues(self) -> tuple[Due, ...]:
        """The renewals due in the month, by renewal day then account."""
        return tuple(self._dues())

    def most_at_risk(self, n: int) -> list[Due]:
        """The `n` renewals with the most ARR at risk, most first (then by renewal day and account), without
        making the month's other dues."""
        if self._most_at_risk is None:
            return sorted(self.dues, key=lambda d: (-d.at_risk, d.renewal, d.account))[:n]
        return self._most_at_risk(n)


@dataclass(frozen=True)
class Probabilities:
    """The p(band) used, whether recalibrated, and per band how many renewals informed it."""

    p: dict[str | None, Decimal]
    calibrated: bool
    renewals: dict[str | None, int] = field(default_factory=dict)

    def source(self, band: str | None) -> str:
        if not self.calibrated:
            return "workspace default"
        n = self.renewals.get(band, 0)
        return f"recalibrated from {n} renewal{'' if n == 1 else 's'} of the last 12 months (prior weight 5)"


@dataclass(frozen=True)
class Forecast:
    as_of: dt.date
    months: tuple[ForecastMonth, ...]
    probabilities: Probabilities
    overdue: tuple[Due, ...]
    """Open terms whose renewal date is before the first forecast month (undecided, past due)."""


def band_on(history: Sequence[tuple[dt.date, str | None]], day: dt.date) -> str | None:
    """The band of a (day, band) history (ascending) on `day`: the newest on or before it, else None."""
    i = bisect_right(history, day, key=lambda row: row[0]) - 1
    return history[i][1] if i >= 0 else None


def probabilities(timeline: ArrTimeline, as_of: dt.date,
                  band_history: Mapping[int, Sequence[tuple[dt.date, str | None]]],
                  defaults: Mapping[str | None, Decimal] | None = None) -> Probabilities:
    """p(band): the defaults, or recalibrated once decided renewals reach back 12 months before `as_of`.

    Recalibrated p = (Σ renewed ÷ up per renewal + 5 × default) ÷ (n + 5) over the renewals decided in
    (as_of − 12 months, as_of], by the account's band 90 days before the renewal, clamped to [0.05, 0.98]."""
    base = _defaults(defaults)
    year_ago = _years_before(as_of, 1)
    first = timeline.first_renewal()
    if first is None or first > year_ago:
        return Probabilities(base, calibrated=False)
    accounts, days, up, renewed = timeline.renewal_rows(year_ago + dt.timedelta(days=1), as_of + dt.timedelta(days=1))
    sums: dict[str | None, Decimal] = defaultdict(Decimal)
    counts: dict[str | None, int] = defaultdict(int)
    lead = BAND_LEAD.days
    for account, day, u, r in zip(accounts.tolist(), days.tolist(), up.tolist(), renewed.tolist(), strict=True):
        if u == 0:
            continue
        history = band_history.get(account)
        band = band_on(history, dt.date.fromordinal(day - lead)) if history else None
        _check_band(band, f"account {account}'s band history")
        sums[band] += Decimal(r) / Decimal(u)
        counts[band] += 1
    low, high = CLAMP
    p = {band: min(max((sums[band] + PRIOR_WEIGHT * base[band]) / (counts[band] + PRIOR_WEIGHT), low), high)
         for band in BANDS}
    return Probabilities(p, calibrated=True, renewals={band: counts[band] for band in BANDS})


def _defaults(defaults: Mapping[str | None, Decimal] | None) -> dict[str | None, Decimal]:
    base = dict(DEFAULT_P if defaults is None else defaults)
    for band in BANDS:
        if band not in base:
            raise ValueError(f"the default probabilities need every band; missing {band!r}")
        if not Decimal(0) <= base[band] <= 1:
            raise ValueError(f"a probability is in [0, 1], got {base[band]} for {band!r}")
    return base


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


_EPOCH = dt.date(1970, 1, 1).toordinal()


class BandColumns(Mapping[int, "str | None"]):
    """Every account's current band as two columns — account ids ascending, each one's index in `BANDS` (-1: not
    scored) — read as a mapping, and looked up for many accounts at once by `forecast` (no dict of every account)."""

    def __init__(self, ids: np.ndarray, codes: np.ndarray) -> None:
        if len(ids) != len(codes) or (len(ids) > 1 and bool((np.diff(ids) <= 0).any())):
            raise ValueError("band columns need ascending account ids, one code each")
        if len(codes) and (int(codes.min()) < -1 or int(codes.max()) >= len(BANDS)):
            raise ValueError(f"a band code is outside -1…{len(BANDS) - 1}")
        self.ids, self.codes = ids.astype(np.int64), codes.astype(np.int64)

    def codes_of(self, accounts: np.ndarray) -> np.ndarray:
        """The band index of each of `accounts` (-1: not scored or unknown)."""
        if not len(self.ids):
            return np.full(len(accounts), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.ids, accounts), len(self.ids) - 1)
        return np.where(self.ids[pos] == accounts, self.codes[pos], -1)

    def __getitem__(self, account: int) -> str | None:
        code = int(self.codes_of(np.array([account], dtype=np.int64))[0])
        if code == -1 and not bool((self.ids == account).any()):
            raise KeyError(account)
        return BANDS[code] if code >= 0 else None

    def __iter__(self) -> Iterator[int]:
        return iter(self.ids.tolist())

    def __len__(self) -> int:
        return len(self.ids)


def forecast(timeline: ArrTimeline, as_of: dt.date, bands: Mapping[int, str | None],
             band_history: Mapping[int, Sequence[tuple[dt.date, str | None]]] | None = None,
             defaults: Mapping[str | None, Decimal] | None = None,
             accounts: Iterable[int] | None = None) -> Forecast:
    """Renewals due in each of the 12 calendar months from `as_of`'s month, with expected ARR and ARR at risk.

    `bands`: each account's current health band (missing: None, not scored). `band_history`: per account
    (day, band) changes, ascending, for the recalibration (None: the defaults only)."""
    probs = (probabilities(timeline, as_of, band_history, defaults) if band_history is not None
             else Probabilities(_defaults(defaults), calibrated=False))
    first = as_of.replace(day=1)
    limit = add_months(first, HISTORY_MONTHS)
    account_ids, days, cents = timeline.open_rows(limit, timeline.mask(accounts))  # one due per account and day
    ids = account_ids.tolist()
    band_index = {band: i for i, band in enumerate(BANDS)}
    if isinstance(bands, BandColumns):  # looked up at once (not scored: None's index)
        codes = bands.codes_of(account_ids)
        band_no = np.where(codes < 0, band_index[None], codes)
        due_bands = [BANDS[c] for c in band_no.tolist()]
    else:
        due_bands = [bands.get(a) for a in ids]
        for band in set(due_bands) - set(BANDS):
            _check_band(band, "an account's current band")
        band_no = np.fromiter((band_index[b] for b in due_bands), dtype=np.int64, count=len(due_bands))
    month_no = (days - _EPOCH).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) - (
        (first.year - 1970) * 12 + first.month - 1)
    slots = len(BANDS) * HISTORY_MONTHS
    upcoming = month_no >= 0
    cell = (month_no * len(BANDS) + band_no)[upcoming]
    counts = np.bincount(cell, minlength=slots)
    sums = np.zeros(slots, dtype=np.int64)
    np.add.at(sums, cell, cents[upcoming])

    def dues_of(rows: np.ndarray) -> list[Due]:
        return [Due(ids[i], dt.date.fromordinal(int(days[i])), from_cents(int(cents[i])), due_bands[i],
                    probs.p[due_bands[i]]) for i in rows.tolist()]

    # ARR at risk per due, in cents × (1 − p) as floats: only to choose the rows; the Dues say it exactly.
    risk = cents * np.array([float(1 - probs.p[b]) for b in BANDS])[band_no] if len(ids) else np.zeros(0)

    def most_at_risk(rows: np.ndarray, n: int) -> list[Due]:
        if n <= 0 or not len(rows):
            return []
        order = np.lexsort((account_ids[rows], days[rows], -risk[rows]))[: n * 2 + 8]
        chosen = dues_of(rows[order])  # a margin of ties, then the exact order in Decimal
        return sorted(chosen, key=lambda d: (-d.at_risk, d.renewal, d.account))[:n]

    bounds = np.searchsorted(month_no, np.arange(HISTORY_MONTHS + 1))
    months = []
    for k in range(HISTORY_MONTHS):
        by_band = {}
        for b, band in enumerate(BANDS):
            arr = from_cents(int(sums[k * len(BANDS) + b]))
            expected = arr * probs.p[band]
            by_band[band] = BandTotals(int(counts[k * len(BANDS) + b]), arr, expected, arr - expected)
        total = BandTotals(sum(x.count for x in by_band.values()), sum((x.arr for x in by_band.values()), Decimal(0)),
                           sum((x.expected for x in by_band.values()), Decimal(0)),
                           sum((x.at_risk for x in by_band.values()), Decimal(0)))
        rows = np.arange(bounds[k], bounds[k + 1])
        months.append(ForecastMonth(add_months(first, k), total, by_band, partial(dues_of, rows),
                                    partial(most_at_risk, rows)))
    return Forecast(as_of, tuple(months), probs, tuple(dues_of(np.flatnonzero(~upcoming))))


# -- forecast calls at the 6- and 3-month checkpoints -------------------------------------------------------

@dataclass(frozen=True)
class ForecastCall:
    """A CSM's call on one account's renewal at a checkpoint (6 or 3 months before), with the ARR expected."""

    account: int
    renewal: dt.date
    checkpoint: int
    call: str
    expected_arr: Decimal
    note: str = ""

    def __post_init__(self) -> None:
        check_call(self.checkpoint, self.call)
        if self.expected_arr < 0:
            raise ValueError(f"the expected ARR of a forecast call is >= 0, got {self.expected_arr}")


def check_call(checkpoint: int, call: str) -> None:
    """A clear ValueError for an unknown checkpoint or call, and for 'monitor' at 3 months."""
    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"a forecast call is recorded 6 or 3 months before the renewal, not {checkpoint!r}")
    if call not in CALLS:
        raise ValueError(f"a forecast call is one of {', '.join(CALLS)}; got {call!r}")
    if call == "monitor" and checkpoint == 3:
        raise ValueError("'monitor' is allowed only at the 6-month checkpoint: 3 months before the renewal "
                         "the call must be commit, likely, at_risk or lost")


def checkpoint_due(renewal: dt.date, as_of: dt.date) -> int | None:
    """The checkpoint a renewal is in on `as_of`: 3 within 3 months of it, 6 within 6 months, else None."""
    if as_of >= renewal:
        return None
    for months in sorted(CHECKPOINTS):
        if as_of >= _months_before(renewal, months):
            return months
    return None


def _months_before(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - months
    year, month = index // 12, index % 12 + 1
    last = (add_months(dt.date(year, month, 1), 1) - dt.timedelta(days=1)).day
    return dt.date(year, month, min(day.day, last))


def canary_call(p: Decimal, checkpoint: int) -> str:
    """Canary's call from p(band): commit ≥ 0.9, likely ≥ 0.7, monitor ≥ 0.5 (at_risk at 3 months), at_risk ≥ 0.2,
    else lost."""
    if p >= Decimal("0.9"):
        return "commit"
    if p >= Decimal("0.7"):
        return "likely"
    if p >= Decimal("0.5"):
        return "monitor" if checkpoint == 6 else "at_risk"
    return "at_risk" if p >= Decimal("0.2") else "lost"


@dataclass(frozen=True)
class Disagreement:
    call: ForecastCall
    canary: str
    canary_expected_arr: Decimal
    gap: Decimal
    """CSM expected ARR − Canary's expected ARR (positive: the CSM is more optimistic)."""


def disagreements(calls: Iterable[ForecastCall], forecast_: Forecast, steps: int = 2) -> list[Disagreement]:
    """Calls at least `steps` places away from Canary's call (in `CALLS` order) on a renewal in the forecast.

    Canary's side is the forecast's `Due` for the same account and renewal date (its ARR × p(band));
    calls on renewals not in the forecast are skipped. Largest |gap| first."""
    dues = {(d.account, d.renewal): d for m in forecast_.months for d in m.dues}
    dues.update({(d.account, d.renewal): d for d in forecast_.overdue})
    out = []
    for call in calls:
        due = dues.get((call.account, call.renewal))
        if due is None:
            continue
        canary = canary_call(due.p, call.checkpoint)
        if abs(CALLS.index(call.call) - CALLS.index(canary)) >= steps:
            out.append(Disagreement(call, canary, due.expected, call.expected_arr - due.expected))
    out.sort(key=lambda d: (-abs(d.gap), d.call.account))
    return out
