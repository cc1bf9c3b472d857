"""Two years of subscription history for the sandbox world, and the revenue truth it adds up to.

`plan_history` draws, for one company, the past terms that led to its current deal (D1): earlier annual
terms renewed flat, up or down, a few co-terminous mid-term expansions, and now and then a lost renewal
followed by a win-back months later (the current deal). `generate.py` turns the plan into CRM deals and
keeps the *intended* timeline beside it: per company, explicit ``(start, end, arr)`` segments.

`revenue_truth` computes the period figures of ``docs/analytics.md`` (opening and closing ARR, the
cohort, churn, contraction, expansion, new, reactivation, GRR, NRR, logo churn, expansion rate) from
those segments alone, never from the deal records and their in-force rule, so that a test comparing
Canary's figures (computed from what it synced) with these checks something. Nothing here imports
Canary's `analytics/`; nothing does I/O or reads a clock.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

Segment = tuple[date, date | None, float]
"""``(start, end, arr)``: ``arr`` in force on the days ``[start, end)``; ``end`` None: still running."""

HISTORY_MONTHS = 24
"""Complete calendar months of figures in the truth, before the month of ``as_of``."""
TERM_DAYS = 365
DECIDED_DAYS = 30
"""A won or lost deal starting this many days (or fewer) before a term's renewal date decides it."""
RENEWAL_MIX: tuple[tuple[str, float], ...] = (("flat", 0.60), ("up", 0.25), ("down", 0.15))
"""How the current term compares with the one before: renewed flat, up 5-40 %, down 5-30 %."""
EXPANSION_SHARE = 0.10
"""Share of past terms with a co-terminous mid-term expansion."""
CHURN_RETURN_SHARE = 0.13
"""Share of companies with old enough history drawn to have lost a renewal and come back 1-6 months
later (with the current deal); about 8 % of all companies with past terms (see the module tests)."""


@dataclass(frozen=True)
class PlannedDeal:
    """One past deal: a won annual term, a co-terminous expansion of one, or a lost renewal."""

    kind: Literal["term", "expansion", "lost"]
    start: date
    renewal: date
    arr: float
    seats: int
    first: bool = False
    """The company's first term ever (new business), not a renewal."""


def add_months(day: date, months: int) -> date:
    """The first of the month ``months`` after ``day``'s month (negative: before)."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def history_horizon(as_of: date) -> date:
    """Past terms are drawn while they end after this day: one month before the first month of figures,
    so every account that had ARR before the window shows it in the window's first opening."""
    return add_months(as_of, -HISTORY_MONTHS - 1)


def _round_arr(value: float) -> float:
    return max(100.0, round(value / 100) * 100.0)


def _growth(rng: random.Random) -> float:
    """The change from one term to the next: 0, +5..40 % or -5..30 %."""
    pick = rng.random()
    if pick < RENEWAL_MIX[0][1]:
        return 0.0
    if pick < RENEWAL_MIX[0][1] + RENEWAL_MIX[1][1]:
        return 0.05 + rng.random() * 0.35
    return -(0.05 + rng.random() * 0.25)


def plan_history(rng: random.Random, *, current_start: date, current_arr: float, current_seats: int,
                 onboarding_start: date, horizon: date) -> list[PlannedDeal]:
    """The past deals of one company, oldest first, ending where its current term starts.

    Terms are annual and chained back from ``current_start`` while they start on or after
    ``onboarding_start`` and end after ``horizon``. A renewal starts exactly on the renewal date of the
    term before; an expansion ends with its term and starts more than 30 days before that end; a lost
    renewal starts on the renewal date of the term it ends, with that term's ARR.
    """
    if onboarding_start >= current_start:
        return []  # a new logo: its current term is its first
    end = current_start
    lost: PlannedDeal | None = None
    if rng.random() < CHURN_RETURN_SHARE:
        gap = 30 + int(rng.random() * 154)  # came back 1-6 months later
        if onboarding_start <= current_start - timedelta(days=gap + TERM_DAYS) and \
                current_start - timedelta(days=gap) > horizon:
            end = current_start - timedelta(days=gap)
    next_arr, next_seats = current_arr, current_seats
    planned: list[PlannedDeal] = []
    churned = end != current_start
    oldest: PlannedDeal | None = None
    while True:
        start = end - timedelta(days=TERM_DAYS)
        if start < onboarding_start or end <= horizon:
            break
        growth = _growth(rng)
        total = _round_arr(next_arr / (1 + growth))
        seats = max(1, round(next_seats / (1 + growth)))
        if churned and lost is None:
            lost = PlannedDeal("lost", end, end + timedelta(days=TERM_DAYS), total, seats)
        term_arr, term_seats = total, seats
        if rng.random() < EXPANSION_SHARE and seats >= 4:
            extra = max(1, round(seats * (0.10 + rng.random() * 0.25)))
            added = round(total * extra / seats / 100) * 100.0
            if 0 < added < total:
                # booked 30 days into the term at the earliest, 45 days before its end at the latest
                begins = start + timedelta(days=30 + int(rng.random() * (TERM_DAYS - 75)))
                planned.append(PlannedDeal("expansion", begins, end, added, extra))
                term_arr, term_seats = total - added, seats - extra
        oldest = PlannedDeal("term", start, end, term_arr, term_seats)
        planned.append(oldest)
        next_arr, next_seats = total, seats
        end = start
    if oldest is not None and oldest.start - timedelta(days=TERM_DAYS) < onboarding_start:
        # the chain stopped at the onboarding, not at the horizon: its oldest term was new business
        planned[planned.index(oldest)] = PlannedDeal("term", oldest.start, oldest.renewal, oldest.arr,
                                                     oldest.seats, first=True)
    if lost is not None:
        planned.append(lost)
    return sorted(planned, key=lambda p: (p.start, p.kind != "term"))


def segments_of(planned: Sequence[PlannedDeal], current_start: date, current_arr: float) -> list[Segment]:
    """The intended ARR timeline of a company: its won past deals over their terms, then the current one."""
    spans: list[Segment] = [(p.start, p.renewal, p.arr) for p in planned if p.kind != "lost"]
    spans.append((current_start, None, current_arr))
    return spans


# --------------------------------------------------------------------------- the truth


def arr_on(segments: Sequence[Segment], day: date) -> float:
    """The ARR in force on ``day``."""
    return sum(arr for start, end, arr in segments if start <= day and (end is None or day < end))


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator == 0 else round(numerator / denominator, 6)


def period_figures(accounts: Mapping[str, Sequence[Segment]], first: date, end: date) -> dict[str, Any]:
    """The period figures of ``docs/analytics.md`` over ``[first, end)``, net per account."""
    start = churn = contraction = expansion = new = reactivation = 0.0
    cohort = churned = 0
    before, last = first - timedelta(days=1), end - timedelta(days=1)
    for segments in accounts.values():
        opening, closing = arr_on(segments, before), arr_on(segments, last)
        if opening > 0:
            cohort += 1
            start += opening
            if closing == 0:
                churned += 1
                churn += opening
            elif closing < opening:
                contraction += opening - closing
            elif closing > opening:
                expansion += closing - opening
        elif closing > 0:
            if any(s < first and (e is None or e > s) for s, e, _ in segments):
                reactivation += closing
            else:
                new += closing
    return {
        "start": start, "churn": churn, "contraction": contraction, "expansion": expansion, "new": new,
        "reactivation": reactivation, "closing": sum(arr_on(s, last) for s in accounts.values()),
        "cohort": cohort, "churned_logos": churned,
        "grr": _ratio(start - contraction - churn, start),
        "nrr": _ratio(start + expansion - contraction - churn, start),
        "logo_churn": _ratio(churned, cohort),
        "expansion_rate": _ratio(expansion, start),
    }


def revenue_truth(accounts: Mapping[str, Sequence[Segment]], as_of: date,
                  months: int = HISTORY_MONTHS) -> dict[str, Any]:
    """``truth.json``'s ``revenue``: the figures of each of the ``months`` complete calendar months before
    the month of ``as_of`` (oldest first), the ARR in force on ``as_of``, and the segments behind them."""
    rows = []
    for back in range(months, 0, -1):
        first = add_months(as_of, -back)
        rows.append({"month": first.strftime("%Y-%m"),
                     **period_figures(accounts, first, add_months(as_of, -back + 1))})
    return {
        "unit": "arr",
        "months": rows,
        "arr_now": sum(arr_on(s, as_of) for s in accounts.values()),
        "accounts": {key: [[s.isoformat(), e.isoformat() if e else None, arr] for s, e, arr in segments]
                     for key, segments in sorted(accounts.items())},
    }
