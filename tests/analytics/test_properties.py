"""Properties over generated books (hypothesis, derandomized, no example database)."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.movements import movements
from analytics.retention import monthly_series, period_figures
from analytics.timeline import SubscriptionTerm, build_timeline, term_ends
from tests.shared import WORLD_AS_OF

BASE = WORLD_AS_OF - dt.timedelta(days=800)
SYSTEMS = ["salesforce", "hubspot", "zendesk", "chargebee", "stripe"]
SETTINGS = settings(derandomize=True, database=None, max_examples=100, deadline=None)


@st.composite
def terms(draw: st.DrawFn) -> list[SubscriptionTerm]:
    out = []
    for n in range(draw(st.integers(1, 14))):
        start = BASE + dt.timedelta(days=draw(st.integers(0, 760)))
        length = draw(st.one_of(st.none(), st.integers(1, 500)))
        arr = Decimal(draw(st.integers(0, 500_000))).scaleb(-2)
        versions: tuple[tuple[dt.date, Decimal], ...] = ()
        if draw(st.booleans()):
            edits = sorted(draw(st.lists(st.integers(-20, 400), min_size=1, max_size=3)))
            values = [Decimal(draw(st.integers(0, 9000))) for _ in edits]
            versions = tuple((start + dt.timedelta(days=e), v) for e, v in zip(edits, values, strict=True))
            arr = values[-1]
        out.append(SubscriptionTerm(
            key=f"t{n}", account=draw(st.integers(1, 5)), system=draw(st.sampled_from(SYSTEMS)),
            arr=arr, start=start, renewal=None if length is None else start + dt.timedelta(days=length),
            status=draw(st.sampled_from(["active", "active", "active", "churned", "pending"])), versions=versions))
    return out


periods = st.tuples(st.integers(0, 800), st.integers(1, 120)).map(
    lambda p: (BASE + dt.timedelta(days=p[0]), BASE + dt.timedelta(days=p[0] + p[1])))


def naive_end(book: list[SubscriptionTerm], t: SubscriptionTerm) -> dt.date | None:
    """S.end straight from docs/analytics.md: another won or lost term (same account and system) starting on
    or after renewal - 30 days decides it."""
    if t.status != "active" or t.renewal is None:
        return None
    deciding = [u for u in book if u.key != t.key and u.account == t.account and u.system == t.system
                and u.status in ("active", "churned") and u.start is not None
                and u.start >= t.renewal - dt.timedelta(days=30)]
    return t.renewal if deciding else None


def naive_arr(book: list[SubscriptionTerm], account: int, day: dt.date) -> Decimal:
    """ARR(a, d) straight from docs/analytics.md, one term at a time."""
    mine = [t for t in book if t.account == account]
    present = {t.system for t in mine}
    record = next((s for s in ("salesforce", "hubspot", "zendesk") if s in present), min(present))
    total = Decimal(0)
    for t in mine:
        end = naive_end(book, t)
        if t.system != record or t.status != "active" or t.start is None or day < t.start:
            continue
        if end is not None and day >= end:
            continue
        seen = [v for on, v in t.versions if on <= day]
        total += seen[-1] if seen else (t.versions[0][1] if t.versions else t.arr)
    return total


@SETTINGS
@given(terms(), st.integers(0, 800))
def test_the_timeline_matches_the_definition_day_by_day(book: list[SubscriptionTerm], offset: int) -> None:
    timeline = build_timeline(book)
    day = BASE + dt.timedelta(days=offset)
    accounts = sorted({t.account for t in book})
    assert [timeline.arr_on(a, day) for a in accounts] == [naive_arr(book, a, day) for a in accounts]


@SETTINGS
@given(terms())
def test_term_ends_match_the_definition(book: list[SubscriptionTerm]) -> None:
    assert term_ends(book) == {t.key: naive_end(book, t) for t in book}
    assert build_timeline(book).ends == term_ends(book)


@SETTINGS
@given(terms(), periods)
def test_grr_at_most_100_at_most_nrr_plus_losses(book: list[SubscriptionTerm], period: tuple[dt.date, dt.date]) -> None:
    f = period_figures(build_timeline(book), *period)
    if f.start > 0:
        assert f.grr is not None and f.nrr is not None and f.contraction_rate is not None
        assert f.revenue_churn is not None
        assert 0 <= f.grr <= 1 <= f.nrr + f.contraction_rate + f.revenue_churn
    else:
        assert (f.grr, f.nrr, f.logo_churn) == (None, None, None)
    assert f.start + f.expansion - f.contraction - f.churn + f.new + f.reactivation == f.closing


@SETTINGS
@given(terms(), periods, st.integers(0, 2**32 - 1))
def test_figures_do_not_depend_on_the_order_of_the_terms(book: list[SubscriptionTerm],
                                                        period: tuple[dt.date, dt.date], seed: int) -> None:
    shuffled = list(book)
    random.Random(seed).shuffle(shuffled)
    a, b = period_figures(build_timeline(book), *period), period_figures(build_timeline(shuffled), *period)
    assert a.figures() == b.figures()
    assert a.accounts("quick_ratio") == b.accounts("quick_ratio")
    assert [(r.account, r.day, r.up, r.renewed) for r in a.renewal_events] == [
        (r.account, r.day, r.up, r.renewed) for r in b.renewal_events]


@SETTINGS
@given(terms(), st.integers(0, 25))
def test_months_chain(book: list[SubscriptionTerm], back: int) -> None:
    last = (WORLD_AS_OF.replace(day=1) - dt.timedelta(days=back * 28)).replace(day=1)
    series = monthly_series(build_timeline(book), last, months=4)
    assert len(series) == 4
    assert [m.closing for m in series[:-1]] == [m.start for m in series[1:]]
    assert [[(x.account, x.closing) for x in m.accounts("closing")] for m in series[:-1]] == [
        [(x.account, x.opening) for x in m.accounts("start")] for m in series[1:]]


@SETTINGS
@given(terms(), periods)
def test_movement_deltas_sum_to_the_net_change(book: list[SubscriptionTerm], period: tuple[dt.date, dt.date]) -> None:
    timeline = build_timeline(book)
    f = period_figures(timeline, *period)
    assert sum((m.delta for m in movements(timeline, *period)), Decimal(0)) == f.closing - f.start
