"""Health across the base (analytics.base): hand-computed tables, edge cases, one property."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.base import (
    ALL,
    DEFINITIONS,
    NOT_SET,
    BandCount,
    BaseAccount,
    MeasureValue,
    WeekCount,
    WeekHealth,
    band_counts,
    benchmarks,
    distribution,
    distribution_of,
    measure_values,
    nearest_rank,
    persistent_poor,
    trend,
    trend_of,
    week_counts,
    week_start,
    weekly,
)
from tests.shared import WORLD_AS_OF

MON = WORLD_AS_OF  # 2026-11-30, a Monday
W0, W1, W2, W3, W4 = (MON - dt.timedelta(weeks=k) for k in range(5))  # 30 Nov, 23 Nov, 16 Nov, 9 Nov, 2 Nov
SETTINGS = settings(derandomize=True, database=None, max_examples=60, deadline=None)

BOOK = [
    BaseAccount(1, arr=1000.0, segment="smb", tier="growth", csm="ann", score=85.0, band="good"),
    BaseAccount(2, arr=2000.0, segment="smb", tier="enterprise", csm="ann", score=100.0, band="good"),
    BaseAccount(3, arr=500.0, segment="enterprise", tier="enterprise", csm="bob", score=55.0, band="average"),
    BaseAccount(4, arr=None, segment="enterprise", tier=None, csm=None, score=12.5, band="poor"),
    BaseAccount(5, arr=300.0, segment=None, tier="starter", csm="bob", score=None, band=None),
]


def test_every_module_figure_has_a_definition() -> None:
    assert set(DEFINITIONS) == {"band_count", "band_arr", "histogram", "trend", "benchmark", "persistent_poor"}
    assert all(text.endswith(".") for text in DEFINITIONS.values())


def test_distribution_of_the_whole_base() -> None:
    d = distribution(BOOK)[ALL]
    assert (d.accounts, d.arr) == (5, 3800.0)  # 1000 + 2000 + 500 + 0 (none) + 300
    assert d.count == {"good": 2, "average": 1, "poor": 1, "unscored": 1}
    assert d.band_arr == {"good": 3000.0, "average": 500.0, "poor": 0.0, "unscored": 300.0}
    # 85 -> bin 8, 100 -> bin 9 (the last bin holds 100), 55 -> bin 5, 12.5 -> bin 1; unscored in no bin
    assert d.histogram == [0, 1, 0, 0, 0, 1, 0, 0, 1, 1]


def test_distribution_by_segment_and_by_csm_with_empty_values_grouped_apart() -> None:
    by_segment = distribution(BOOK, "segment")
    assert list(by_segment) == [NOT_SET, "enterprise", "smb"]
    assert by_segment["smb"].count["good"] == 2 and by_segment["smb"].arr == 3000.0
    assert by_segment["enterprise"].count == {"good": 0, "average": 1, "poor": 1, "unscored": 0}
    assert by_segment[NOT_SET].count["unscored"] == 1
    by_csm = distribution(BOOK, "csm")
    assert {k: v.accounts for k, v in by_csm.items()} == {NOT_SET: 1, "ann": 2, "bob": 2}


def test_distribution_refuses_unknown_dimension_band_and_score() -> None:
    with pytest.raises(ValueError, match="unknown dimension 'region'"):
        distribution(BOOK, "region")
    with pytest.raises(ValueError, match="unknown health band 'red'"):
        distribution([BaseAccount(1, score=10.0, band="red")])
    with pytest.raises(ValueError, match="outside 0–100"):
        distribution([BaseAccount(1, score=101.0, band="good")])


def test_distribution_of_no_accounts_is_empty() -> None:
    assert distribution([]) == {}


def test_distribution_from_rows_the_caller_grouped_in_sql() -> None:
    counts = [BandCount("smb", "good", 8, 3, 300.0), BandCount("smb", "good", 9, 1, 50.0),
              BandCount("smb", None, None, 2, 0.0), BandCount("smb", "poor", 0, 4, 40.0)]
    d = distribution_of(counts)["smb"]
    assert (d.accounts, d.arr) == (10, 390.0)  # 3 + 1 + 2 + 4; 300 + 50 + 0 + 40
    assert d.count == {"good": 4, "average": 0, "poor": 4, "unscored": 2}
    assert d.band_arr == {"good": 350.0, "average": 0.0, "poor": 40.0, "unscored": 0.0}
    assert d.histogram == [4, 0, 0, 0, 0, 0, 0, 0, 3, 1]
    with pytest.raises(ValueError, match="bin 10"):
        distribution_of([BandCount("smb", "good", 10, 1, 0.0)])
    # the per-account path is the same reduction: BOOK by segment gives these rows for "smb"
    assert sorted(band_counts(BOOK[:2], "segment"), key=lambda c: c.bin or 0) == [
        BandCount("smb", "good", 8, 1, 1000.0), BandCount("smb", "good", 9, 1, 2000.0)]


def test_trend_from_rows_the_caller_grouped_in_sql() -> None:
    counts = [WeekCount("ann", W0, "good", 2, 2, 150.0), WeekCount("ann", W0, "poor", 1, 1, 20.0),
              WeekCount("ann", W0, None, 1, 0, 0.0), WeekCount("ann", W4, "poor", 5, 5, 50.0)]  # W4: too old
    points = trend_of(counts, MON, weeks=2, groups=["bob"])
    assert list(points) == ["ann", "bob"]
    last = points["ann"][1]
    assert (last.week, last.accounts, last.good, last.poor) == (W0, 4, 2, 1)
    assert last.average_score == pytest.approx(170 / 3)  # (150 + 20) / 3 scored
    assert [p.accounts for p in points["bob"]] == [0, 0]
    rows = [WeekHealth(1, W0, 80.0, "good"), WeekHealth(2, W0, 90.0, "good"), WeekHealth(2, W4, 1.0, "poor")]
    assert sorted(week_counts(BOOK, rows, "csm", since=W1), key=lambda c: c.week) == [
        WeekCount("ann", W0, "good", 2, 2, 170.0)]


def test_weekly_keeps_the_last_snapshot_of_each_iso_week() -> None:
    # Sun 29 Nov is in the week of Mon 23 Nov; Mon 30 Nov starts the next week
    rows = weekly([(1, dt.date(2026, 11, 23), 50.0, "average"), (1, dt.date(2026, 11, 29), 30.0, "poor"),
                   (1, dt.date(2026, 11, 30), 75.0, "good"), (1, dt.date(2026, 11, 25), 60.0, "average")])
    assert rows == [WeekHealth(1, W1, 30.0, "poor"), WeekHealth(1, W0, 75.0, "good")]
    assert week_start(dt.date(2027, 1, 1)) == dt.date(2026, 12, 28)  # a week across the year end


def test_trend_by_tier_over_three_weeks() -> None:
    rows = [WeekHealth(1, W2, 60.0, "average"), WeekHealth(1, W1, 70.0, "good"), WeekHealth(1, W0, 90.0, "good"),
            WeekHealth(2, W0, 30.0, "poor"), WeekHealth(3, W0, 50.0, "average"), WeekHealth(3, W3, 10.0, "poor"),
            WeekHealth(4, W1, None, None), WeekHealth(99, W0, 99.0, "good")]  # 99: not in the book, ignored
    points = trend(BOOK, rows, MON, weeks=3, dimension="tier")
    assert list(points) == [NOT_SET, "enterprise", "growth", "starter"]
    ent = points["enterprise"]  # accounts 2 and 3; W3 is outside the last 3 weeks
    assert [p.week for p in ent] == [W2, W1, W0]
    assert [p.accounts for p in ent] == [0, 0, 2]
    assert ent[2].average_score == 40.0  # (30 + 50) / 2
    assert (ent[2].good, ent[2].average, ent[2].poor) == (0, 1, 1)
    assert ent[0].average_score is None  # no snapshot: no average, never 0
    assert [p.average_score for p in points["growth"]] == [60.0, 70.0, 90.0]
    assert [p.accounts for p in points[NOT_SET]] == [0, 1, 0] and points[NOT_SET][1].average_score is None


def test_trend_with_as_of_mid_week_ends_with_the_partial_week() -> None:
    thursday = MON + dt.timedelta(days=3)
    points = trend(BOOK[:1], [WeekHealth(1, W0, 80.0, "good")], thursday, weeks=2)[ALL]
    assert [(p.week, p.average_score) for p in points] == [(W1, None), (W0, 80.0)]
    with pytest.raises(ValueError, match="weeks must be at least 1"):
        trend(BOOK, [], MON, weeks=0)


def test_nearest_rank_percentiles() -> None:
    xs = [10.0, 20.0, 30.0, 40.0]
    # rank = ceil(p/100 * 4): p10 -> 1, p25 -> 1, p50 -> 2, p75 -> 3, p90 -> 4
    assert [nearest_rank(xs, p) for p in (10, 25, 50, 75, 90)] == [10.0, 10.0, 20.0, 30.0, 40.0]
    assert nearest_rank([7.0], 90) == 7.0
    with pytest.raises(ValueError, match="no values"):
        nearest_rank([], 50)


def test_benchmarks_per_segment_of_values_and_points() -> None:
    values = [MeasureValue(a, "logins", float(v), float(v) / 10) for a, v in ((1, 5), (2, 1), (3, 8), (4, 2))]
    values += [MeasureValue(3, "tickets", None, None), MeasureValue(77, "logins", 1000.0)]  # none / unknown account
    out = benchmarks(BOOK, values)
    # enterprise: accounts 3 and 4 -> [2, 8]; n=2: p10..p50 -> rank 1 = 2, p75/p90 -> rank 2 = 8
    # smb: accounts 1 and 2 -> [1, 5]
    assert [(b.segment, b.measure, b.accounts) for b in out] == [("enterprise", "logins", 2), ("smb", "logins", 2)]
    assert out[0].percentiles == {10: 2.0, 25: 2.0, 50: 2.0, 75: 8.0, 90: 8.0}
    assert out[1].percentiles == {10: 1.0, 25: 1.0, 50: 1.0, 75: 5.0, 90: 5.0}
    points = benchmarks(BOOK, values, of="points", dimension=None)
    assert points[0].percentiles[50] == 0.2  # [0.1, 0.2, 0.5, 0.8]: rank ceil(0.5 * 4) = 2 -> 0.2
    with pytest.raises(ValueError, match="'value' or 'points'"):
        benchmarks(BOOK, values, of="weight")


def test_measure_values_read_a_snapshots_parts() -> None:
    parts = {"logins": {"value": 3.5, "points": 40, "weight": 2}, "nps": {"value": None, "points": None}}
    assert measure_values(9, parts) == [MeasureValue(9, "logins", 3.5, 40), MeasureValue(9, "nps", None, None)]


def test_persistent_poor_three_of_four_weeks_with_the_weeks() -> None:
    rows = [
        # account 1: poor W3, W2, W0 (W1 average) -> 3 of 4
        WeekHealth(1, W3, 20.0, "poor"), WeekHealth(1, W2, 25.0, "poor"), WeekHealth(1, W1, 45.0, "average"),
        WeekHealth(1, W0, 30.0, "poor"),
        # account 2: poor in all four
        *(WeekHealth(2, w, 10.0, "poor") for w in (W0, W1, W2, W3)),
        # account 3: poor W4 (outside), W1, W0 and no snapshot W2, W3 -> 2 of 4
        WeekHealth(3, W4, 5.0, "poor"), WeekHealth(3, W1, 5.0, "poor"), WeekHealth(3, W0, 5.0, "poor"),
    ]
    out = persistent_poor(rows, MON)
    assert [(p.account_id, p.poor_weeks) for p in out] == [(2, (W3, W2, W1, W0)), (1, (W3, W2, W0))]
    assert [p.account_id for p in persistent_poor(rows, MON, at_least=2, of_last=2)] == [2, 3]
    assert persistent_poor([], MON) == []
    with pytest.raises(ValueError, match="N <= M"):
        persistent_poor(rows, MON, at_least=5, of_last=4)


@st.composite
def books(draw: st.DrawFn) -> list[BaseAccount]:
    n = draw(st.integers(0, 40))
    return [BaseAccount(i, arr=draw(st.one_of(st.none(), st.floats(0, 1e6))),
                        segment=draw(st.sampled_from([None, "smb", "enterprise"])),
                        score=(s := draw(st.one_of(st.none(), st.floats(0, 100)))),
                        band=None if s is None else ("good" if s >= 70 else "average" if s >= 40 else "poor"))
            for i in range(n)]


@SETTINGS
@given(books(), st.randoms(use_true_random=False))
def test_band_counts_and_bins_sum_to_the_accounts_whatever_the_order(book: list[BaseAccount],
                                                                     rnd: random.Random) -> None:
    d = distribution(book, "segment")
    assert sum(g.accounts for g in d.values()) == len(book)
    for g in d.values():
        assert sum(g.count.values()) == g.accounts
        assert sum(g.histogram) == g.accounts - g.count["unscored"]
    shuffled = book[:]
    rnd.shuffle(shuffled)
    again = distribution(shuffled, "segment")
    assert {k: (v.count, v.histogram) for k, v in again.items()} == {k: (v.count, v.histogram) for k, v in d.items()}
    # rows grouped in SQL may come split and in any order: each count split in two gives the same figures
    split = [part for c in band_counts(book, "segment")
             for part in (BandCount(c.group, c.band, c.bin, c.accounts // 2, 0.0),
                          BandCount(c.group, c.band, c.bin, c.accounts - c.accounts // 2, c.arr))]
    rnd.shuffle(split)
    assert {k: (v.count, v.histogram) for k, v in distribution_of(split).items()} == \
        {k: (v.count, v.histogram) for k, v in d.items()}


def test_benchmarks_of_columns_equal_benchmarks_of_values() -> None:
    from analytics.base import benchmarks_of_columns

    accounts = [BaseAccount(i, segment=("smb", None, "", "ent")[i % 4]) for i in range(1, 41)]
    values = {"a": [float((i * 7) % 13) if i % 5 else None for i in range(1, 41)],
              "b": [float(i) for i in range(1, 41)]}
    expected = benchmarks(accounts, [MeasureValue(a.account_id, m, values[m][a.account_id - 1])
                                     for a in accounts for m in values])
    got = benchmarks_of_columns([a.segment for a in accounts], list(values), list(values.values()))
    assert got == expected
    assert {b.segment for b in got} == {"smb", "ent", "(not set)"}
    with pytest.raises(ValueError, match="one column of values per measure"):
        benchmarks_of_columns(["smb"], ["a", "b"], [[1.0]])
