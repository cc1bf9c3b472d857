"""ARR movements (new, reactivation, expansion, contraction, churn), renewals and undecided renewals.

docs/analytics.md "Movements": a movement is a day on which an account's ARR differs from the day before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from analytics.timeline import ArrTimeline, RenewalEvent, SubscriptionTerm, from_cents

KINDS = ("new", "reactivation", "expansion", "contraction", "churn")


@dataclass(frozen=True)
class Movement:
    account: int
    day: dt.date
    kind: str
    before: Decimal
    after: Decimal

    @property
    def delta(self) -> Decimal:
        return self.after - self.before


def kind_of(before: int, after: int, had_arr_before: bool) -> str:
    """The movement kind of an ARR change `before` -> `after` (they differ)."""
    if before == after:
        raise ValueError("no movement: the ARR did not change")
    if before == 0:
        return "reactivation" if had_arr_before else "new"
    if after == 0:
        return "churn"
    return "expansion" if after > before else "contraction"


def _check_period(first: dt.date, end: dt.date) -> None:
    if end <= first:
        raise ValueError(f"a period [first, end) needs end after first, got first={first} end={end}")


def movements(timeline: ArrTimeline, first: dt.date, end: dt.date,
              accounts: Iterable[int] | None = None) -> list[Movement]:
    """Every movement dated in [first, end), by day then account."""
    _check_period(first, end)
    out = [Movement(account, day, kind_of(before, after, had), from_cents(before), from_cents(after))
           for account, day, before, after, had in timeline.changes(first, end, timeline.mask(accounts))]
    out.sort(key=lambda m: (m.day, m.account))
    return out


def decided_renewals(timeline: ArrTimeline, first: dt.date, end: dt.date,
                     accounts: Iterable[int] | None = None) -> list[RenewalEvent]:
    """Every decided term end in [first, end), renewed or lost (the renewal rate's events)."""
    _check_period(first, end)
    return timeline.renewals_between(first, end, timeline.mask(accounts))


def renewals(timeline: ArrTimeline, first: dt.date, end: dt.date,
             accounts: Iterable[int] | None = None) -> list[RenewalEvent]:
    """The renewal movements in [first, end): decided term ends on which the account keeps ARR."""
    return [r for r in decided_renewals(timeline, first, end, accounts) if r.kept]


def undecided(timeline: ArrTimeline, as_of: dt.date, accounts: Iterable[int] | None = None,
              since: dt.date | None = None) -> list[SubscriptionTerm]:
    """Open terms whose renewal date passed by `as_of` (renewal <= as_of; from `since` on when given)."""
    wanted = None if accounts is None else set(accounts)
    return sorted(
        (t for t in timeline.open_terms
         if t.renewal is not None and t.renewal <= as_of and (since is None or t.renewal >= since)
         and (wanted is None or t.account in wanted)),
        key=lambda t: (t.renewal, t.account, t.key))
