"""`ScoreBatch.light` and `ScoreBatch.parts_json` (the one-day run's snapshots made from the arrays) give what the
built scores give: the same score, band, profile and reasons (text, impact, order), and the same JSON text of the
parts, dimensions, missing measures and reasons — on random accounts, with and without prior scores (a band
change or a drop explained by change reasons), on models whose measures tie, miss and sit on their thresholds."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.batch import SignalTable, score_table
from scoring.model import Band, HealthModel, default_model, load_model, model_legend
from scoring.results import HealthScore, reasons_json
from scoring.signal_table import compute_signal_table
from scoring.signals import SignalSettings, compute_signals
from tests.scoring.build import AS_OF
from tests.scoring.test_batch import SLOW_DATA, models
from tests.scoring.test_signal_table import _account

MODEL = default_model()
LEGEND = 7
LEGEND_OF = {name: (d["signal"], d["dimension"], d["label"]) for name, d in model_legend(MODEL).items()}
"""What the stored legend of `MODEL` holds, as `store.legends` reads it."""
"""The id of the stored legend a run's parts name (any int: the pure code only writes it)."""


def _strip(score: HealthScore) -> HealthScore:
    return HealthScore(score.account_id, score.day, score.score, score.band, score.profile, (), (), score.reasons)


def _priors(rng: random.Random, whole: list[HealthScore]) -> dict[int, HealthScore]:
    """Some accounts' prior scores: higher (a drop), of another band or profile, or without a score."""
    priors: dict[int, HealthScore] = {}
    for score in whole:
        draw = rng.random()
        if draw < 0.25 or score.score is None:
            continue
        if draw < 0.5:
            priors[score.account_id] = dataclasses.replace(score, score=min(100.0, score.score + 15.0))
        elif draw < 0.7:
            band: Band = "good" if score.band != "good" else "poor"
            priors[score.account_id] = dataclasses.replace(score, band=band, profile="tech_touch")
        elif draw < 0.85:
            priors[score.account_id] = dataclasses.replace(score, score=None, band=None)
        else:
            priors[score.account_id] = score
    return priors


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_light_scores_and_parts_text_equal_the_built_scores(seed: int) -> None:
    rng = random.Random(seed)
    accounts = [_account(rng, i + 1) for i in range(rng.randint(150, 300))]
    table = compute_signal_table(accounts, AS_OF, MODEL)
    whole = score_table(table, MODEL).to_list()
    for previous in (None, _priors(rng, whole)):
        batch = score_table(table, MODEL, previous)
        built = score_table(table, MODEL, previous).to_list()
        light = batch.light()
        assert light == [_strip(s) for s in built]
        assert sum(bool(s.reasons) for s in light) > len(light) // 2  # the reasons are exercised
        if previous:
            assert any(r.kind == "change" for s in light for r in s.reasons)
        reasons = [reasons_json(s.reasons) for s in light]
        assert batch.parts_json(reasons) == [s.as_json(r) for s, r in zip(built, reasons, strict=True)]
        # the stored form: the parts without their descriptors, the legend named
        stored = batch.parts_json(reasons, legend=LEGEND)
        assert stored == [s.as_json(r, legend=LEGEND) for s, r in zip(built, reasons, strict=True)]
        assert stored is not None
        decoded = [json.loads(text) for text in stored]
        assert {d["legend"] for d in decoded} == {LEGEND}
        assert {key for d in decoded for part in d["parts"].values() for key in part} == {
            "value", "status", "points", "weight"}
        assert [HealthScore.from_dict(d, LEGEND_OF) for d in decoded] == built


@settings(max_examples=40, deadline=None, suppress_health_check=SLOW_DATA)
@given(models(), st.randoms(use_true_random=False))
def test_random_models_light_and_parts_text_equal_the_built_scores(model: HealthModel, rng: random.Random) -> None:
    """Random models (thresholds, weights, modes, profile rules, reason limits and drop points)."""
    accounts = [_account(rng, i + 1) for i in range(rng.randint(1, 60))]
    table = compute_signal_table(accounts, AS_OF, model)
    previous = _priors(rng, score_table(table, model).to_list())
    batch = score_table(table, model, previous)
    built = score_table(table, model, previous).to_list()
    assert batch.light() == [_strip(s) for s in built]
    texts = [reasons_json(s.reasons) for s in built]
    assert batch.parts_json(texts) == [s.as_json(t) for s, t in zip(built, texts, strict=True)]
    assert batch.parts_json(texts, LEGEND) == [s.as_json(t, LEGEND) for s, t in zip(built, texts, strict=True)]


def test_without_reasons_and_on_a_tied_model() -> None:
    """Equal weights and thresholds every measure shares: the reasons' ties are broken by measure name."""
    rng = random.Random(11)
    accounts = [_account(rng, i + 1) for i in range(200)]
    measures = {name: {"signal": signal, "dimension": dimension, "direction": "higher_is_better", "poor": 0.0,
                       "good": 50.0, "mode": mode}
                for name, signal, dimension, mode in (
                    ("b_usage", "usage_trend", "engagement", "smooth"), ("a_logins", "logins_per_user_week",
                                                                          "engagement", "bands"),
                    ("c_seats", "license_utilisation", "utilisation", "smooth"),
                    ("d_csat", "csat", "satisfaction", "bands"))}
    model = load_model({"dimensions": ["engagement", "utilisation", "satisfaction"], "measures": measures,
                        "profiles": [{"name": "all", "measures": {name: {"weight": 1.0} for name in measures}}]})
    table = compute_signal_table(accounts, AS_OF, model)
    for reasons in (True, False):
        batch = score_table(table, model, reasons=reasons)
        built = score_table(table, model, reasons=reasons).to_list()
        assert batch.light() == [_strip(s) for s in built]
        texts = [reasons_json(s.reasons) for s in built]
        assert batch.parts_json(texts) == [s.as_json(t) for s, t in zip(built, texts, strict=True)]
        assert batch.parts_json(texts, LEGEND) == [s.as_json(t, LEGEND) for s, t in zip(built, texts, strict=True)]
    assert batch.parts_json(texts, LEGEND) == [s.as_json(t, LEGEND) for s, t in zip(built, texts, strict=True)]


def test_accounts_computed_one_by_one_and_tables_from_signals() -> None:
    """A model naming a key feature twice computes every account one by one: built whole, the same texts; a table
    made `from_signals` is not read column-wise (`parts_json` None, `light` the built scores)."""
    rng = random.Random(5)
    accounts = [_account(rng, i + 1) for i in range(60)]
    twice = SignalSettings(key_features=("API Call", "API Call"))
    table = compute_signal_table(accounts, AS_OF, twice)
    batch = score_table(table, MODEL)
    built = score_table(table, MODEL).to_list()
    assert batch.light() == [_strip(s) for s in built]
    texts = [reasons_json(s.reasons) for s in built]
    assert batch.parts_json(texts) == [s.as_json(t) for s, t in zip(built, texts, strict=True)]
    assert batch.parts_json(texts, LEGEND) == [s.as_json(t, LEGEND) for s, t in zip(built, texts, strict=True)]
    plain = SignalTable.from_signals([compute_signals(a, AS_OF, MODEL) for a in accounts])
    batch = score_table(plain, MODEL)
    assert batch.parts_json(texts) is None
    assert batch.light() == score_table(plain, MODEL).to_list()
