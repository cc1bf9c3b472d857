"""Every period figure against hand-computed cases (docs/analytics.md "Period figures")."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from analytics.definitions import DEFINITIONS
from analytics.retention import FIGURE_ACCOUNTS, AccountLine, monthly_series, period_figures
from analytics.timeline import build_timeline
from tests.analytics.build import AS_OF, NOV, OCT, book, d, term

D = Decimal
TIMELINE = build_timeline(book())

# October 2026, opening = ARR on 09-30, closing = ARR on 10-31 (tests/analytics/build.py, one account per case):
#   acct:     1     2     3     4    5    6   7     8     9   10    11    12    13   14       15
#   opening 1200  1000  2000  800    0    0   0  1000  1000  700  2000  1000  1400  900  1234.56
#   closing 1200  1500  1500    0 3000  900   0  1000  1100    0  2000  1300  1400  900  1234.56
# cohort (opening > 0): 1 2 3 4 8 9 10 11 12 13 14 15 -> 12 accounts, start = 14234.56
# churn = 800 (4) + 700 (10) = 1500; contraction = 2000 - 1500 (3) = 500
# expansion = 500 (2) + 100 (9) + 300 (12) = 900; new = 3000 (5); reactivation = 900 (6)
# closing = 14234.56 + 900 - 500 - 1500 + 3000 + 900 = 17034.56
START = D("14234.56")


def test_october_totals_by_hand() -> None:
    f = period_figures(TIMELINE, OCT, NOV)
    assert (f.start, f.churn, f.contraction, f.expansion, f.new, f.reactivation, f.closing) == (
        START, D(1500), D(500), D(900), D(3000), D(900), D("17034.56"))
    assert (f.cohort_size, f.churned_logos) == (12, 2)


def test_october_ratios_by_hand() -> None:
    f = period_figures(TIMELINE, OCT, NOV)
    assert f.grr == (START - 500 - 1500) / START  # 12234.56 / 14234.56 = 85.95 %
    assert f.nrr == (START + 900 - 500 - 1500) / START  # 13134.56 / 14234.56 = 92.27 %
    assert round(f.grr * 100, 2) == D("85.95") and round(f.nrr * 100, 2) == D("92.27")
    assert f.logo_churn == D(2) / D(12)
    assert f.revenue_churn == D(1500) / START
    assert f.expansion_rate == D(900) / START
    assert f.contraction_rate == D(500) / START
    assert f.net_mrr_churn == D(1500 + 500 - 900 - 900) / START  # 200 / 14234.56
    assert f.quick_ratio == D("2.4")  # (3000 + 900 + 900) / (1500 + 500)


def test_october_renewal_rate_by_hand() -> None:
    # Decided term ends in October (account: up -> renewed):
    #   3: 2000 -> 1500 (10-01)   4: 800 -> 0 (lost)   7: 500 -> 0 (lost)   10: 700 -> 0 (renewed at 0)
    #   12: 1000 -> 1000 (ARR 1300 on 10-15, capped at up)   13: 1000 -> 1000 (1400 - 400 continuing)
    # ARR renewal rate = 3500 / 6000; customer renewal rate = 3 (3, 12, 13) / 6
    f = period_figures(TIMELINE, OCT, NOV, as_of=AS_OF)
    assert [(r.account, r.up, r.continuing, r.renewed) for r in f.renewal_events] == [
        (3, 2000, 0, 1500), (13, 1000, 400, 1000), (10, 700, 0, 0), (12, 1000, 0, 1000),
        (4, 800, 0, 0), (7, 500, 0, 0)]
    assert f.arr_renewal_rate == D(3500) / D(6000)
    assert f.customer_renewal_rate == D("0.5")
    # 14's renewal date (10-10) passed with nothing booked or lost: counted apart, not in the rate
    assert [t.key for t in f.undecided] == ["s14"]


def test_cltv_by_hand() -> None:
    # ARPA = 14234.56 / 12 (MRR) / 12 accounts = 98.8511; monthly logo churn = (2 / 12) / (31 / 30.4375)
    # CLTV = 98.8511 × 0.8 ÷ 0.163642 = 14234.56 × 0.8 × 31 / (12 × 2 × 30.4375) = 483.254
    assert period_figures(TIMELINE, OCT, NOV).cltv == D("483.25")
    assert period_figures(TIMELINE, OCT, NOV, gross_margin=0.5).cltv == D("302.03")  # 483.254 × 5/8


def test_mrr_divides_totals_by_12_and_keeps_every_rate() -> None:
    arr = period_figures(TIMELINE, OCT, NOV)
    mrr = period_figures(TIMELINE, OCT, NOV, unit="mrr")
    assert (mrr.start, mrr.churn, mrr.expansion) == (D("1186.21"), D(125), D(75))  # 14234.56 / 12 = 1186.213
    rates = ("grr", "nrr", "logo_churn", "revenue_churn", "net_mrr_churn", "quick_ratio", "cltv")
    assert [mrr.figures()[k] for k in rates] == [arr.figures()[k] for k in rates]


def test_new_logos_are_not_in_the_cohort() -> None:
    f = period_figures(TIMELINE, OCT, NOV)
    cohort = [line.account for line in f.accounts("grr")]
    assert cohort == [1, 2, 3, 4, 8, 9, 10, 11, 12, 13, 14, 15]
    assert f.accounts("new") == [AccountLine(5, D(0), D(3000))]
    assert f.accounts("reactivation") == [AccountLine(6, D(0), D(900))]
    assert [(x.account, x.delta) for x in f.accounts("churn")] == [(4, D(-800)), (10, D(-700))]
    assert [(x.account, x.delta) for x in f.accounts("expansion")] == [(2, 500), (9, 100), (12, 300)]
    assert [x.account for x in f.accounts("arr_renewal_rate")] == [3, 4, 7, 10, 12, 13]


def test_a_change_on_the_first_day_belongs_to_that_period() -> None:
    # 3 renews down on 10-01: September (opening 08-31, closing 09-30) sees 2000 -> 2000, October 2000 -> 1500
    september = period_figures(TIMELINE, d("2026-09-01"), OCT, accounts=[3])
    october = period_figures(TIMELINE, OCT, NOV, accounts=[3])
    assert (september.start, september.contraction, september.closing) == (2000, 0, 2000)
    assert (october.start, october.contraction, october.closing) == (2000, 500, 1500)


@pytest.mark.parametrize(("first", "end", "expected"), [
    # 10-10 .. 10-20 (end exclusive): opening on 10-09, closing on 10-19.
    # cohort: 1 1200, 2 1000, 3 1500, 4 800, 5 3000 (a logo from 10-05 is in the cohort of a later partial period),
    #   7 500, 8 1000, 9 1400, 10 0 (ended 10-12) ... only accounts 4, 5, 7, 10, 12 asked:
    #   4: 800 -> 800 (churns on 10-20, after the period); 5: 3000 -> 3000; 7: 500 -> 500;
    #   10: 700 -> 0 (churn 700); 12: 1000 -> 1300 (expansion 300)  => start 6000, churn 700, expansion 300
    ("2026-10-10", "2026-10-20", {"start": D(6000), "churn": D(700), "expansion": D(300), "new": D(0)}),
    # 10-20 .. 11-01: 4 (800 -> 0) and 7 (500 -> 0) churn; 10 is at 0 already; 12 flat at 1300
    ("2026-10-20", "2026-11-01", {"start": D(5600), "churn": D(1300), "expansion": D(0), "new": D(0)}),
])
def test_partial_periods(first: str, end: str, expected: dict[str, Decimal]) -> None:
    f = period_figures(TIMELINE, d(first), d(end), accounts=[4, 5, 7, 10, 12])
    assert {k: f.figures()[k] for k in expected} == expected


def test_one_that_starts_and_churns_within_the_period_counts_nowhere() -> None:
    f = period_figures(TIMELINE, OCT, NOV, accounts=[7])
    assert (f.start, f.new, f.churn, f.closing, f.cohort_size) == (0, 0, 0, 0, 0)
    assert (f.grr, f.nrr, f.logo_churn, f.quick_ratio, f.cltv) == (None, None, None, None, None)


def test_multi_year_deal_counts_its_arr_per_year() -> None:
    # s8: 1000 a year for three years (2024-03-01 .. 2027-03-01), never 3000
    f = period_figures(TIMELINE, d("2026-01-01"), d("2027-01-01"), accounts=[8])
    assert (f.start, f.closing, f.grr, f.nrr) == (D(1000), D(1000), D(1), D(1))


def test_system_of_record_counts_the_same_deal_once() -> None:
    f = period_figures(TIMELINE, OCT, NOV, accounts=[11])
    assert (f.start, f.expansion, f.closing) == (D(2000), D(0), D(2000))
    assert TIMELINE.system_of_record[11] == "salesforce"


def test_renewal_up_down_flat() -> None:
    rows = {r.account: (r.up, r.renewed, r.delta, r.kept) for r in TIMELINE.renewals if r.day.year == 2026}
    assert rows[12] == (1000, 1000, 300, True)  # up
    assert rows[3] == (2000, 1500, -500, True)  # down
    assert rows[13] == (1000, 1000, 0, True)  # flat, with an add-on running on
    assert rows[4] == (800, 0, -800, False)  # lost


def test_monthly_series_chains_and_covers_twelve_months() -> None:
    series = monthly_series(TIMELINE, NOV, months=12)
    assert [f.first for f in series] == [dt.date(2025, 12, 1)] + [dt.date(2026, m, 1) for m in range(1, 12)]
    assert [f.end for f in series] == [dt.date(2026, m, 1) for m in range(1, 13)]
    assert series[-2].closing == series[-1].start + series[-1].new + series[-1].reactivation  # nothing moves in Nov
    assert series[-2].start == START and series[-2].closing == D("17034.56")
    # the closing of each month is the opening ARR of the next (start + new + reactivation counts every opening > 0)
    assert [a.closing for a in series[:-1]] == [b.start for b in series[1:]]


def test_every_figure_has_one_definition_and_accounts() -> None:
    names = set(period_figures(TIMELINE, OCT, NOV).figures())
    assert names - set(DEFINITIONS) == set()
    assert set(FIGURE_ACCOUNTS) - names == set()


@pytest.mark.parametrize(("call", "message"), [
    (lambda: period_figures(TIMELINE, NOV, OCT), "end after first"),
    (lambda: period_figures(TIMELINE, OCT, NOV, unit="eur"), "unit must be"),
    (lambda: period_figures(TIMELINE, OCT, NOV, gross_margin=80), "gross margin"),
    (lambda: monthly_series(TIMELINE, d("2026-11-15")), "first day of a month"),
    (lambda: period_figures(TIMELINE, OCT, NOV).accounts("revenue"), "no accounts are listed"),
])
def test_bad_input_is_refused_clearly(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("book", [[], [term("p", 1, 10, "2026-01-01", status="pending")]])
def test_an_empty_book_gives_none_ratios(book: list) -> None:  # type: ignore[type-arg]
    timeline = build_timeline(book)
    f = period_figures(timeline, OCT, NOV)
    assert (f.start, f.grr, f.nrr, f.arr_renewal_rate, f.customer_renewal_rate) == (0, None, None, None, None)
    assert (monthly_series(timeline, NOV, 2)[0].closing, timeline.arr_on(1, AS_OF), timeline.renewals) == (0, 0, ())


def test_unknown_accounts_in_a_cohort_are_ignored() -> None:
    assert period_figures(TIMELINE, OCT, NOV, accounts=[2, 404]).figures() == period_figures(
        TIMELINE, OCT, NOV, accounts=[2]).figures()


def test_undecided_counts_only_renewal_dates_up_to_as_of() -> None:
    # s14 renews (undecided) on 10-10: seen as of 10-10, not as of 10-09; without as_of the whole period counts
    assert [len(period_figures(TIMELINE, OCT, NOV, as_of=d(x)).undecided) for x in ("2026-10-09", "2026-10-10")] == [
        0, 1]
    assert period_figures(TIMELINE, OCT, NOV).figures()["undecided"] == 1


def test_a_lost_main_term_with_an_add_on_running_on() -> None:
    # main 1000 lost on 2026-03-01 while an add-on of 200 runs to 2026-09-01: up 1000, continuing 200, renewed 0;
    # the account keeps ARR, so it is a renewal movement (delta -1000) and, over March, a contraction of 1000
    timeline = build_timeline([
        term("m", 1, 1000, "2025-03-01", "2026-03-01"),
        term("a", 1, 200, "2025-06-01", "2026-09-01"),
        term("l", 1, 1000, "2026-02-20", "2027-03-01", status="churned"),
    ])
    (event,) = timeline.renewals
    assert (event.up, event.continuing, event.renewed, event.delta, event.kept) == (1000, 200, 0, -1000, True)
    march = period_figures(timeline, d("2026-03-01"), d("2026-04-01"))
    assert (march.start, march.contraction, march.churn, march.arr_renewal_rate, march.customer_renewal_rate) == (
        D(1200), D(1000), D(0), D(0), D(0))
