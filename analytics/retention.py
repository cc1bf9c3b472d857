"""Period figures (GRR, NRR, churn, expansion, renewal rate, CLTV ...) per docs/analytics.md "Period figures".

Totals are `Decimal` money in the chosen unit (ARR, or MRR = ARR ÷ 12 rounded to the cent); every ratio is
an exact `Decimal` quotient of whole-cent ARR sums (28 significant digits), so it is the same in ARR or MRR,
and None when its denominator is 0. Vectorised over accounts with NumPy (100,000 accounts in milliseconds).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cached_property
from typing import NamedTuple

import numpy as np

from analytics.movements import _check_period
from analytics.timeline import ArrTimeline, RenewalEvent, SubscriptionTerm, from_cents

UNITS = ("arr", "mrr")
DAYS_PER_MONTH = Decimal("30.4375")

FIGURE_ACCOUNTS: dict[str, tuple[str, ...]] = {
    "start": ("cohort",), "grr": ("cohort",), "nrr": ("cohort",), "net_mrr_churn": ("cohort", "reactivation"),
    "cltv": ("cohort",),
    "churn": ("churn",), "logo_churn": ("churn",), "revenue_churn": ("churn",),
    "contraction": ("contraction",), "contraction_rate": ("contraction",),
    "expansion": ("expansion",), "expansion_rate": ("expansion",),
    "new": ("new",), "reactivation": ("reactivation",), "closing": ("closing",),
    "quick_ratio": ("new", "reactivation", "expansion", "churn", "contraction"),
    "arr_renewal_rate": ("renewed",), "customer_renewal_rate": ("renewed",),
}
"""Which account groups stand behind each figure (the console lists them)."""


class AccountLine(NamedTuple):
    account: int
    opening: Decimal
    closing: Decimal

    @property
    def delta(self) -> Decimal:
        return self.closing - self.opening


def ratio(numerator: int, denominator: int) -> Decimal | None:
    return None if denominator == 0 else Decimal(numerator) / Decimal(denominator)


class PeriodFigures:
    """The figures of one period [first, end) for one cohort; `accounts(figure)` lists who is behind one."""

    def __init__(self, timeline: ArrTimeline, first: dt.date, end: dt.date, mask: np.ndarray, unit: str,
                 gross_margin: Decimal, as_of: dt.date | None):
        self.first, self.end, self.unit, self.gross_margin = first, end, unit, gross_margin
        one_day = dt.timedelta(days=1)
        opening = timeline.cents_all(first - one_day)
        closing = timeline.cents_all(end - one_day)
        self._ids = timeline.account_ids
        self._opening, self._closing = opening, closing
        cohort = mask & (opening > 0)
        from_zero = mask & (opening == 0) & (closing > 0)
        before = timeline.had_arr_before(first)
        self._groups = {
            "cohort": cohort,
            "churn": cohort & (closing == 0),
            "contraction": cohort & (closing > 0) & (closing < opening),
            "expansion": cohort & (closing > opening),
            "new": from_zero & ~before,
            "reactivation": from_zero & before,
            "closing": mask & (closing > 0),
        }
        g = self._groups
        cents = {
            "start": int(opening[cohort].sum()),
            "churn": int(opening[g["churn"]].sum()),
            "contraction": int((opening - closing)[g["contraction"]].sum()),
            "expansion": int((closing - opening)[g["expansion"]].sum()),
            "new": int(closing[g["new"]].sum()),
            "reactivation": int(closing[g["reactivation"]].sum()),
            "closing": int(closing[mask].sum()),
        }
        self._cents = cents
        self.cohort_size = int(cohort.sum())
        self.churned_logos = int(g["churn"].sum())
        start, churn, contraction = cents["start"], cents["churn"], cents["contraction"]
        expansion, new, reactivation = cents["expansion"], cents["new"], cents["reactivation"]
        self.grr = ratio(start - contraction - churn, start)
        self.nrr = ratio(start + expansion - contraction - churn, start)
        self.logo_churn = ratio(self.churned_logos, self.cohort_size)
        self.revenue_churn = ratio(churn, start)
        self.expansion_rate = ratio(expansion, start)
        self.contraction_rate = ratio(contraction, start)
        self.net_mrr_churn = ratio(churn + contraction - expansion - reactivation, start)
        self.quick_ratio = ratio(new + reactivation + expansion, churn + contraction)

        self._timeline, self._mask = timeline, mask
        self.renewals_up, renewed_count, up, renewed = timeline.renewal_totals(first, end, mask)
        self.arr_renewal_rate = ratio(renewed, up)
        self.customer_renewal_rate = ratio(renewed_count, self.renewals_up)
        self._undecided_end = end if as_of is None else min(end, as_of + one_day)

        months = Decimal((end - first).days) / DAYS_PER_MONTH
        self.cltv: Decimal | None = None
        if self.churned_logos and self.cohort_size:
            arpa_mrr = Decimal(start) / 100 / 12 / self.cohort_size
            monthly_logo_churn = Decimal(self.churned_logos) / self.cohort_size / months
            self.cltv = (arpa_mrr * gross_margin / monthly_logo_churn).quantize(Decimal("0.01"), ROUND_HALF_EVEN)

    @cached_property
    def renewal_events(self) -> list[RenewalEvent]:
        """The decided term ends dated in the period (the renewal rates' events), by day then account."""
        return self._timeline.renewals_between(self.first, self.end, self._mask)

    @cached_property
    def undecided(self) -> list[SubscriptionTerm]:
        """Open terms whose renewal date is in the period (and not after `as_of`): counted apart."""
        if self._undecided_end <= self.first:
            return []
        return self._timeline.open_between(self.first, self._undecided_end, self._mask)

    def amount(self, figure: str) -> Decimal:
        """A total (start, churn, contraction, expansion, new, reactivation, closing) in the unit."""
        cents = self._cents[figure]
        if self.unit == "arr":
            return from_cents(cents)
        return (Decimal(cents) / 1200).quantize(Decimal("0.01"), ROUND_HALF_EVEN)

    @property
    def start(self) -> Decimal:
        return self.amount("start")

    @property
    def churn(self) -> Decimal:
        return self.amount("churn")

    @property
    def contraction(self) -> Decimal:
        return self.amount("contraction")

    @property
    def expansion(self) -> Decimal:
        return self.amount("expansion")

    @property
    def new(self) -> Decimal:
        return self.amount("new")

    @property
    def reactivation(self) -> Decimal:
        return self.amount("reactivation")

    @property
    def closing(self) -> Decimal:
        return self.amount("closing")

    def figures(self) -> dict[str, Decimal | int | None]:
        """Every figure by its `DEFINITIONS` name (totals in the unit; `undecided` a count)."""
        return {
            **{name: self.amount(name) for name in self._cents},
            "grr": self.grr, "nrr": self.nrr, "logo_churn": self.logo_churn, "revenue_churn": self.revenue_churn,
            "expansion_rate": self.expansion_rate, "contraction_rate": self.contraction_rate,
            "net_mrr_churn": self.net_mrr_churn, "quick_ratio": self.quick_ratio,
            "arr_renewal_rate": self.arr_renewal_rate, "customer_renewal_rate": self.customer_renewal_rate,
            "undecided": len(self.undecided), "cltv": self.cltv,
        }

    def accounts(self, figure: str) -> list[AccountLine]:
        """The accounts behind `figure` with their opening and closing ARR (always ARR), by account id."""
        if figure not in FIGURE_ACCOUNTS:
            raise ValueError(f"no accounts are listed for {figure!r}; known: {', '.join(sorted(FIGURE_ACCOUNTS))}")
        groups = FIGURE_ACCOUNTS[figure]
        if groups == ("renewed",):
            chosen = np.isin(self._ids, np.array(sorted({r.account for r in self.renewal_events}), dtype=np.int64))
        else:
            chosen = np.zeros(len(self._ids), dtype=bool)
            for group in groups:
                chosen |= self._groups[group]
        idx = np.flatnonzero(chosen)
        return [AccountLine(a, from_cents(o), from_cents(c)) for a, o, c in
                zip(self._ids[idx].tolist(), self._opening[idx].tolist(), self._closing[idx].tolist(), strict=True)]


def period_figures(timeline: ArrTimeline, first: dt.date, end: dt.date, accounts: Iterable[int] | None = None,
                   unit: str = "arr", gross_margin: Decimal | float = Decimal("0.8"),
                   as_of: dt.date | None = None) -> PeriodFigures:
    """The figures of [first, end) for `accounts` (None: all). `as_of`: count undecided renewals up to that day."""
    _check_period(first, end)
    if unit not in UNITS:
        raise ValueError(f"unit must be 'arr' or 'mrr', got {unit!r}")
    margin = Decimal(str(gross_margin))
    if not Decimal(0) < margin <= 1:
        raise ValueError(f"gross margin is a fraction in (0, 1], got {gross_margin!r}")
    return PeriodFigures(timeline, first, end, timeline.mask(accounts), unit, margin, as_of)


def add_months(first_day: dt.date, months: int) -> dt.date:
    index = first_day.year * 12 + first_day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def monthly_series(timeline: ArrTimeline, last_month_first_day: dt.date, months: int = 12,
                   accounts: Iterable[int] | None = None, unit: str = "arr",
                   gross_margin: Decimal | float = Decimal("0.8"),
                   as_of: dt.date | None = None) -> list[PeriodFigures]:
    """Per calendar month, oldest first, ending with the month starting `last_month_first_day`."""
    if last_month_first_day.day != 1:
        raise ValueError(f"last_month_first_day must be the first day of a month, got {last_month_first_day}")
    if months < 1:
        raise ValueError(f"months must be at least 1, got {months}")
    chosen = None if accounts is None else list(accounts)
    return [period_figures(timeline, add_months(last_month_first_day, -back),
                           add_months(last_month_first_day, 1 - back), chosen, unit, gross_margin, as_of)
            for back in range(months - 1, -1, -1)]
