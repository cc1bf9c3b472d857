"""The renewal forecast, p(band) recalibration and the CSMs' forecast calls (docs/analytics.md, last section)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from analytics.forecast import (
    DEFAULT_P,
    ForecastCall,
    band_on,
    canary_call,
    check_call,
    checkpoint_due,
    disagreements,
    forecast,
    probabilities,
)
from analytics.timeline import build_timeline
from tests.analytics.build import AS_OF, book, d

D = Decimal
TIMELINE = build_timeline(book())
BANDS = {1: "good", 9: "poor", 13: "average", 2: "good"}
# Bands 90 days before the October 2026 renewals (renewal day - 90 days is in early July 2026):
HISTORY = {
    3: [(d("2026-01-01"), "good"), (d("2026-07-01"), "poor"), (d("2026-09-15"), "good")],  # poor on 07-03
    4: [(d("2026-06-01"), "poor")], 10: [(d("2026-06-01"), "poor")],
    12: [(d("2026-06-01"), "good")], 13: [(d("2026-06-01"), "good")],
    # 7 has no band then: not scored (None)
}


def test_months_and_bands_by_hand() -> None:
    f = forecast(TIMELINE, AS_OF, BANDS)
    assert [m.first for m in f.months][:3] == [d("2026-11-01"), d("2026-12-01"), d("2027-01-01")]
    assert len(f.months) == 12 and f.months[-1].first == d("2027-10-01")
    january = f.months[2]
    # due on 2027-01-01: 1 (1200, good), 9 (1100, poor), 13's add-on (400, average)
    assert [(x.account, x.arr, x.band) for x in january.dues] == [(1, 1200, "good"), (9, 1100, "poor"),
                                                                  (13, 400, "average")]
    # expected = 1200 × .95 + 1100 × .45 + 400 × .75 = 1140 + 495 + 300 = 1935; at risk = 2700 - 1935 = 765
    assert (january.total.count, january.total.arr, january.total.expected, january.total.at_risk) == (
        3, D(2700), D(1935), D(765))
    assert january.by_band["poor"].at_risk == D(605)  # 1100 × .55
    assert january.by_band[None].count == 0
    # June 2027: account 2's main term and co-terminous expansion renew together: 1000 + 500
    assert [(x.account, x.arr) for x in f.months[7].dues] == [(2, D(1500))]
    # 14's renewal (2026-10-10) passed undecided: listed apart as overdue, not in a month
    assert [(x.account, x.arr) for x in f.overdue] == [(14, D(900))]
    assert not f.probabilities.calibrated and f.probabilities.p == DEFAULT_P
    assert f.probabilities.source("good") == "workspace default"


def test_recalibration_by_hand() -> None:
    # Decided renewals in (2025-11-30, 2026-11-30] with renewed ÷ up and the band 90 days before:
    #   3: 1500/2000 = .75 poor; 4: 0 poor; 10: 0 poor; 12: 1 good; 13: 1 good; 7: 0 not scored
    # good = (2 + 5 × .95) / (2 + 5) = 6.75 / 7;  poor = (.75 + 5 × .45) / 8 = 3 / 8
    # None = (0 + 5 × .75) / 6 = .625;  average: no renewals, stays .75
    # (s6's end on 2025-01-01 shows the history reaches back 12 months, so recalibration applies)
    p = probabilities(TIMELINE, AS_OF, HISTORY)
    assert p.calibrated
    assert p.p == {"good": D("6.75") / 7, "poor": D("0.375"), None: D("0.625"), "average": D("0.75")}
    assert p.renewals == {"good": 2, "poor": 3, None: 1, "average": 0}
    assert p.source("poor") == "recalibrated from 3 renewals of the last 12 months (prior weight 5)"
    january = forecast(TIMELINE, AS_OF, BANDS, HISTORY).months[2]
    assert january.total.expected == 1200 * (D("6.75") / 7) + 1100 * D("0.375") + 400 * D("0.75")


def test_no_recalibration_before_twelve_months_of_history() -> None:
    young = build_timeline([t for t in book() if t.account != 6])  # first decided renewal: 2026-10-01
    assert not probabilities(young, AS_OF, HISTORY).calibrated
    assert probabilities(young, d("2027-10-01"), HISTORY).calibrated


def test_recalibrated_p_is_clamped() -> None:
    defaults = {"good": D(1), "average": D("0.75"), "poor": D("0.01"), None: D("0.75")}
    p = probabilities(TIMELINE, AS_OF, {}, defaults).p  # every renewal "not scored": good and poor keep n = 0
    assert (p["good"], p["poor"]) == (D("0.98"), D("0.05"))


def test_band_on() -> None:
    history = HISTORY[3]
    assert [band_on(history, d(x)) for x in ("2025-12-31", "2026-01-01", "2026-07-03", "2026-09-15")] == [
        None, "good", "poor", "good"]


@pytest.mark.parametrize(("checkpoint", "call", "message"), [
    (3, "monitor", "'monitor' is allowed only at the 6-month checkpoint"),
    (4, "commit", "6 or 3 months"),
    (6, "maybe", "one of commit, likely, monitor, at_risk, lost"),
])
def test_forecast_calls_refuse_bad_input(checkpoint: int, call: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_call(checkpoint, call)
    with pytest.raises(ValueError, match=message):
        ForecastCall(1, d("2027-01-01"), checkpoint, call, D(100))


def test_monitor_is_fine_at_six_months() -> None:
    assert ForecastCall(1, d("2027-01-01"), 6, "monitor", D(100)).call == "monitor"
    with pytest.raises(ValueError, match="expected ARR"):
        ForecastCall(1, d("2027-01-01"), 6, "commit", D(-1))


def test_checkpoint_due() -> None:
    renewal = d("2027-01-01")
    assert [checkpoint_due(renewal, d(x)) for x in ("2026-06-30", "2026-07-01", "2026-09-30", "2026-10-01",
                                                     "2026-12-31", "2027-01-01")] == [None, 6, 6, 3, 3, None]


def test_canary_call_from_p() -> None:
    assert [canary_call(DEFAULT_P[b], 6) for b in ("good", "average", "poor", None)] == [
        "commit", "likely", "at_risk", "likely"]
    assert (canary_call(D("0.6"), 6), canary_call(D("0.6"), 3), canary_call(D("0.1"), 3)) == (
        "monitor", "at_risk", "lost")


def test_disagreements_for_the_manager() -> None:
    f = forecast(TIMELINE, AS_OF, BANDS)
    calls = [
        ForecastCall(9, d("2027-01-01"), 3, "commit", D(1100)),  # poor (at_risk) called commit: 3 steps apart
        ForecastCall(1, d("2027-01-01"), 3, "likely", D(1200)),  # good (commit) called likely: 1 step, fine
        ForecastCall(13, d("2027-01-01"), 3, "lost", D(0)),  # average (likely) called lost: 3 steps
        ForecastCall(5, d("2027-01-01"), 3, "lost", D(0)),  # no such renewal in the forecast: skipped
    ]
    got = [(x.call.account, x.canary, x.canary_expected_arr, x.gap) for x in disagreements(calls, f)]
    # gaps: 1100 - 1100 × .45 = 605; 0 - 400 × .75 = -300
    assert got == [(9, "at_risk", D(495), D(605)), (13, "likely", D(300), D(-300))]


def test_bad_bands_are_refused() -> None:
    with pytest.raises(ValueError, match="a health band is"):
        forecast(TIMELINE, AS_OF, {1: "green"})
    with pytest.raises(ValueError, match="need every band"):
        probabilities(TIMELINE, AS_OF, {}, {"good": D(1)})


def test_a_cohort_narrows_the_forecast() -> None:
    f = forecast(TIMELINE, AS_OF, BANDS, accounts=[9, 14])
    assert [[x.account for x in m.dues] for m in f.months if m.dues] == [[9]]
    assert [x.account for x in f.overdue] == [14]
    assert sum(m.total.count for m in f.months) == 1


def test_totals_add_up_per_band_and_month() -> None:
    f = forecast(TIMELINE, AS_OF, BANDS, HISTORY)
    for month in f.months[:3]:
        assert month.total.arr == sum((x.arr for x in month.dues), D(0))
        assert month.total.expected == sum((x.expected for x in month.dues), D(0))
        assert month.total.expected + month.total.at_risk == month.total.arr
    # October 2027: 3 (1500), 13 (1000, average), 5 (3000), 6 (900), 10 (0), 12 (1300): five not scored
    october = f.months[-1]
    assert (october.total.count, october.total.arr) == (6, D(7700))
    assert (october.by_band[None].count, october.by_band[None].arr, october.by_band["average"].arr) == (
        5, D(6700), D(1000))


def test_an_empty_book_forecasts_nothing() -> None:
    f = forecast(build_timeline([]), AS_OF, {}, {})
    assert (len(f.months), f.months[0].total.count, f.months[0].total.arr, f.overdue) == (12, 0, 0, ())
    assert not f.probabilities.calibrated


def test_the_most_at_risk_are_the_first_of_all_dues_ordered_by_risk() -> None:
    """`most_at_risk(n)` picks from arrays without making every due: the same rows, in the same order, as sorting
    all of a month's dues by ARR at risk (then renewal day, then account) — ties included."""
    import random

    from tests.analytics.build import term

    rng = random.Random(16)
    bands: dict[int, str | None] = {}
    terms = []
    for account in range(1, 400):
        renewal = f"2027-{rng.randint(1, 3):02d}-{rng.randint(1, 28):02d}"
        terms.append(term(f"t{account}", account, rng.choice((1000, 1000, 2500, 7000, rng.randint(1, 90_000))),
                          "2026-01-01", renewal))
        bands[account] = rng.choice(("good", "average", "poor", None))
    result = forecast(build_timeline(terms), AS_OF, bands)
    checked = 0
    for month in result.months:
        everyone = sorted(month.dues, key=lambda due: (-due.at_risk, due.renewal, due.account))
        for n in (1, 5, 25, len(everyone) + 3):
            assert month.most_at_risk(n) == everyone[:n]
        checked += len(everyone)
    assert checked == 399


def test_band_columns_answer_as_the_mapping_they_hold() -> None:
    """`BandColumns` (what the report reads: ids ascending, band indexes, -1 not scored): the same forecast as the
    dict of the same bands, every due's band included; read as a mapping; bad columns refused."""
    import numpy as np

    from analytics.forecast import BANDS as ORDER
    from analytics.forecast import BandColumns

    accounts = sorted({*BANDS, 5, 7})  # 5 and 7: present, not scored; others absent (not scored either)
    columns = BandColumns(np.array(accounts), np.array([ORDER.index(BANDS[a]) if a in BANDS else -1
                                                         for a in accounts]))
    assert dict(columns) == {a: BANDS.get(a) for a in accounts} and len(columns) == len(accounts)
    assert columns[9] == "poor" and columns[5] is None
    with pytest.raises(KeyError):
        columns[4]
    as_dict, as_columns = forecast(TIMELINE, AS_OF, BANDS), forecast(TIMELINE, AS_OF, columns)
    def months(f: Any) -> list[Any]:
        return [(m.first, m.total, m.by_band, m.dues, m.most_at_risk(3)) for m in f.months]

    assert months(as_columns) == months(as_dict) and as_columns.overdue == as_dict.overdue
    assert [d.band for m in as_columns.months for d in m.dues] == [d.band for m in as_dict.months for d in m.dues]
    assert any(d.band is not None for m in as_dict.months for d in m.dues)
    for bad in ((np.array([2, 1]), np.array([0, 0])), (np.array([1]), np.array([4])), (np.array([1]), np.array([]))):
        with pytest.raises(ValueError):
            BandColumns(*bad)
