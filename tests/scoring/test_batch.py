"""The batch path (`score_many`, `scoring.batch`) gives exactly what `score_account` gives one account at a time:
the same scores, parts, bands, missing measures and reasons (text and order), on random accounts and random
models — missing values, values on the thresholds, ties, band boundaries, every kind of profile rule."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.batch import SignalTable, round6, score_table
from scoring.engine import score_account, score_many
from scoring.model import HealthModel, default_model, load_model
from scoring.results import HealthScore, reasons_json
from scoring.signals import SIGNALS, Signals
from tests.scoring.build import signals

DEFAULT = default_model()
SCORED = sorted(SIGNALS)
THRESHOLDS = (-40.0, -10.0, 0.0, 1.0, 2.0, 3.0, 10.0, 30.0, 40.0, 60.0, 70.0, 75.0, 90.0, 100.0)
WEIGHTS = (0.5, 1.0, 1.0, 2.0, 3.0, 0.1, 1.0 / 3.0)
LABELS = (None, "enterprise", "Enterprise", "smb", "SMB", "mid_market", "")

value = st.one_of(
    st.none(),
    st.sampled_from(THRESHOLDS),  # on a threshold: good / poor are inclusive
    st.integers(-50, 150),  # ints stay ints in the parts (and in their JSON)
    st.floats(-200, 200, allow_nan=False),
)

SLOW_DATA = [HealthCheck.too_slow, HealthCheck.data_too_large]
"""Examples are whole batches of accounts: on a busy shared machine drawing one can pass Hypothesis' time check."""


@st.composite
def rules(draw: st.DrawFn) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    for name in ("segment", "tier", "lifecycle_stage"):
        if draw(st.booleans()):
            rule[name] = draw(st.lists(st.sampled_from(["enterprise", "SMB", "mid_market", "growth"]),
                                       min_size=1, max_size=2))
    if draw(st.booleans()):
        rule["onboarding_complete"] = draw(st.booleans())
    if draw(st.booleans()):
        rule["max_days_since_onboarding_start"] = draw(st.sampled_from([0.0, 30.0, 90.0]))
    return rule


@st.composite
def models(draw: st.DrawFn) -> HealthModel:
    names = draw(st.lists(st.sampled_from(SCORED), min_size=1, max_size=8, unique=True))
    measures: dict[str, Any] = {}
    for name in names:
        low, high = sorted(draw(st.lists(st.sampled_from(THRESHOLDS), min_size=2, max_size=2, unique=True)))
        higher = draw(st.booleans())
        measures[f"m_{name}"] = {
            "signal": name, "dimension": draw(st.sampled_from(["engagement", "support"])),
            "direction": "higher_is_better" if higher else "lower_is_better",
            "poor": low if higher else high, "good": high if higher else low,
            "mode": draw(st.sampled_from(["bands", "smooth"])),
        }

    def profile_measures() -> dict[str, Any]:
        chosen = draw(st.lists(st.sampled_from(sorted(measures)), min_size=1, max_size=len(measures), unique=True))
        out: dict[str, Any] = {}
        for key in chosen:
            entry: dict[str, Any] = {"weight": draw(st.sampled_from(WEIGHTS))}
            if draw(st.integers(0, 3)) == 0:  # a profile's own thresholds, the same direction
                m = measures[key]
                low, high = sorted(draw(st.lists(st.sampled_from(THRESHOLDS), min_size=2, max_size=2, unique=True)))
                higher = m["direction"] == "higher_is_better"
                entry.update(poor=low if higher else high, good=high if higher else low)
            out[key] = entry
        return out

    profiles = [{"name": f"p{i}", "when": draw(rules()), "measures": profile_measures()}
                for i in range(draw(st.integers(0, 3)))]
    profiles.append({"name": "rest", "measures": profile_measures()})
    good = draw(st.sampled_from([50.0, 60.0, 70.0, 100.0]))
    average = draw(st.sampled_from([a for a in (0.0, 25.0, 40.0, 50.0) if a < good]))
    return load_model({
        "dimensions": ["engagement", "support"], "measures": measures, "profiles": profiles,
        "bands": {"good": good, "average": average},
        "reasons": {"limit": draw(st.integers(1, 5)), "drop_points": draw(st.sampled_from([0.0, 5.0, 10.0]))},
    })


@st.composite
def accounts(draw: st.DrawFn, account_id: int) -> Signals:
    values = {name: draw(value) for name in SCORED}
    return signals(
        account_id=account_id,
        segment=draw(st.sampled_from(LABELS)),
        tier=draw(st.sampled_from([None, "growth", "Enterprise"])),
        lifecycle_stage=draw(st.sampled_from([None, "mid_market", "smb"])),
        onboarding_complete=draw(st.sampled_from([None, True, False])),
        # raw numbers the reasons quote
        weekly_active_users_before=draw(st.integers(0, 50)),
        events_14d=draw(st.integers(0, 500)),
        events_prev_14d=draw(st.integers(0, 500)),
        seats_purchased=draw(st.sampled_from([None, 10])),
        active_users_28d=draw(st.integers(0, 12)),
        tickets_created_30d=draw(st.integers(0, 9)),
        tickets_created_prev_30d=draw(st.integers(0, 9)),
        csat_responses=draw(st.integers(0, 5)),
        nps_responses=draw(st.integers(0, 5)),
        champion_name=draw(st.sampled_from([None, "Dana Lee"])),
        **values,
    )


@st.composite
def batches(draw: st.DrawFn) -> tuple[HealthModel, list[Signals], dict[int, Any]]:
    model = draw(st.one_of(st.just(DEFAULT), models()))
    size = draw(st.integers(0, 12))
    batch = [draw(accounts(i)) for i in range(size)]
    if size and draw(st.booleans()):  # ties: the same signals under another id
        batch.append(Signals(**{**{f: getattr(batch[0], f) for f in Signals.__slots__}, "account_id": size}))
    previous = {}
    for s in batch:
        if draw(st.booleans()):  # yesterday's score of other signals: change reasons and band changes
            previous[s.account_id] = score_account(draw(accounts(s.account_id)), model)
    return model, batch, previous


def _json(score: HealthScore, legend: int | None = None) -> str:
    return json.dumps(score.as_dict(legend))


@settings(max_examples=300, deadline=None, suppress_health_check=SLOW_DATA)
@given(batches())
def test_batch_equals_one_account_at_a_time(case: tuple[HealthModel, list[Signals], dict[int, Any]]) -> None:
    model, batch, previous = case
    one = [score_account(s, model, previous.get(s.account_id)) for s in batch]
    many = score_many(batch, model, previous)
    assert len(many) == len(one)
    assert list(many) == one
    assert [_json(m) for m in many] == [_json(o) for o in one]  # ints stay ints, -0.0 stays -0.0
    assert [many[i] for i in range(len(batch))] == one  # one read at a time builds the same
    bare = score_many(batch, model, reasons=False)
    assert list(bare) == [score_account(s, model, reasons=False) for s in batch]
    # The arrays say what the scores say.
    assert [None if math.isnan(v) else v for v in bare.scores.tolist()] == [o.score for o in one]
    assert [None if c < 0 else ("poor", "average", "good")[c] for c in bare.band_codes.tolist()] == [
        o.band for o in one]
    assert [model.profiles[c].name for c in bare.profile_codes.tolist()] == [o.profile for o in one]


def test_a_nan_value_is_a_value_as_in_the_one_account_path() -> None:
    batch = [signals(account_id=1, csat=math.nan, nps=10.0, segment="smb"), signals(account_id=2, csat=None)]
    one = [score_account(s, DEFAULT) for s in batch]
    many = score_many(batch, DEFAULT)
    assert [_json(m) for m in many] == [_json(o) for o in one]
    assert many[0].part("csat").status == "average"
    assert many[1].part("csat").status == "missing"


def test_the_default_model_on_many_random_accounts() -> None:
    rng = random.Random(18)
    batch = [
        signals(
            account_id=i,
            segment=rng.choice(["enterprise", "smb", None]),
            onboarding_complete=rng.choice([True, False, None]),
            **{name: rng.choice([None, float(rng.randint(-50, 120)), rng.uniform(-50, 120)])
               for name in SCORED if name != "days_since_onboarding_start"},
            days_since_onboarding_start=rng.choice([None, 10.0, 90.0, 91.0]),
        )
        for i in range(2000)
    ]
    many = score_many(batch, DEFAULT)
    assert list(many) == [score_account(s, DEFAULT) for s in batch]
    counts = many.band_counts()
    assert sum(counts.values()) == 2000
    assert counts["good"] == sum(1 for s in many if s.band == "good")
    assert {s.profile for s in many} == {"onboarding", "high_touch", "tech_touch"}


@settings(max_examples=500, deadline=None)
@given(st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-200, 200),
    st.integers(-10**8, 10**8).map(lambda k: (k + 0.5) / 1e6),  # exactly on (or next to) a half
    st.integers(-10**8, 10**8).map(lambda k: math.nextafter((k + 0.5) / 1e6, math.inf)),
))
def test_round6_is_pythons_round(x: float) -> None:
    got = round6(np.array([x, x]))[0]
    want = round(x, 6)
    assert (math.isnan(got) and math.isnan(want)) or (got == want and math.copysign(1, got) == math.copysign(1, want))


def test_a_table_without_the_models_signals_is_refused() -> None:
    table = SignalTable.from_signals([signals(csat=80.0)], ["csat"])
    with pytest.raises(ValueError, match=r"no column for .*active_users_trend"):
        score_table(table, DEFAULT)
    with pytest.raises(ValueError, match="unknown signals: nope"):
        SignalTable.from_signals([signals()], ["nope"])


def test_an_empty_batch() -> None:
    many = score_many([], DEFAULT)
    assert len(many) == 0
    assert many == []
    assert many.band_counts() == {"none": 0, "poor": 0, "average": 0, "good": 0}


def test_one_measure_model_scores_from_a_table() -> None:
    model = load_model({"measures": {"m": {"signal": "csat", "dimension": "satisfaction",
                                           "direction": "higher_is_better", "poor": 0, "good": 100,
                                           "mode": "smooth"}},
                        "profiles": [{"name": "all", "measures": {"m": {"weight": 1}}}]})
    batch = [signals(account_id=i, csat=v) for i, v in enumerate([None, 0, 33.3333333, 100, 150])]
    many = score_many(SignalTable.from_signals(batch, ["csat"]), model)
    assert [s.score for s in many] == [None, 0.0, 33.333333, 100.0, 100.0]
    assert [s.band for s in many] == [None, "poor", "poor", "good", "good"]
    assert many[0].missing == ("m",)


def test_minus_zero_on_a_threshold_scores_plus_zero_points() -> None:
    batch = [signals(account_id=1, nps=-0.0, csat=-0.0, ticket_trend=-0.0, segment="enterprise")]
    one = [score_account(s, DEFAULT) for s in batch]
    many = score_many(batch, DEFAULT)
    assert [_json(m) for m in many] == [_json(o) for o in one]
    assert math.copysign(1.0, many[0].part("nps").points or 0.0) == 1.0


@settings(max_examples=200, deadline=None, suppress_health_check=SLOW_DATA)
@given(batches())
def test_score_json_text_is_json_dumps_of_its_dict(case: tuple[HealthModel, list[Signals], dict[int, Any]]) -> None:
    """`HealthScore.as_json` (pieces memoised: parts, names, missing lists) gives `json.dumps(as_dict())`, for the
    batch's scores and for the same scores seen twice (their texts then come from the memos). The values as a score
    run has them: floats (an int value, or −0.0, equal to a float part met before takes that part's text)."""
    model, batch, previous = case

    def as_run(s: Signals) -> Signals:
        fields: dict[str, Any] = {f: getattr(s, f) for f in Signals.__slots__}
        for name in SIGNALS:
            v = fields[name]
            if type(v) is int or (type(v) is float and v == 0.0):
                fields[name] = float(v) + 0.0
        return Signals(**fields)

    batch = [as_run(s) for s in batch]
    for score in [*score_table(SignalTable.from_signals(batch), model, previous).to_list()] * 2:
        assert score.as_json() == _json(score)
        assert score.as_json(reasons_json(score.reasons)) == _json(score)
        # the stored form: each part without its descriptors, the legend named (its memo apart from the full one)
        assert score.as_json(legend=12) == _json(score, 12)
        assert score.as_json(reasons_json(score.reasons), legend=12) == _json(score, 12)
