import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from scoring.model import ALERT_RULES, ModelError, default_model, load_model
from scoring.signals import SIGNALS

MEASURE = {"signal": "csat", "dimension": "satisfaction", "direction": "higher_is_better", "poor": 70, "good": 90}


def doc(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "measures": {"csat": dict(MEASURE)},
        "profiles": [{"name": "all", "measures": {"csat": {"weight": 1}}}],
    }
    base.update(changes)
    return base


def test_default_model_is_complete() -> None:
    model = default_model()
    assert [p.name for p in model.profiles] == ["onboarding", "high_touch", "tech_touch"]
    assert (model.bands.good, model.bands.average) == (70, 40)
    assert set(model.alerts) == set(ALERT_RULES)
    assert all(m.signal in SIGNALS for m in model.measures.values())
    assert set(model.dimensions) == {m.dimension for m in model.measures.values()}
    onboarding = model.profile("onboarding")
    breadth = next(wm for wm in onboarding.measures if wm.measure.name == "feature_breadth")
    assert (breadth.measure.poor, breadth.measure.good, breadth.weight) == (10, 40, 2)
    assert model.measures["feature_breadth"].poor == 25  # the override does not leak into the library


def test_defaults_fill_omitted_sections() -> None:
    model = load_model(doc())
    assert (model.bands.good, model.bands.average, model.rollup_weight_by, model.reason_limit) == (70, 40, "arr", 3)
    assert model.alerts["score_drop"].thresholds == {"points": 15, "days": 14}
    assert model.measures["csat"].label == SIGNALS["csat"].label


def test_alert_thresholds_sit_beside_the_switches() -> None:
    model = load_model(
        doc(alerts={"score_drop": {"points": 20, "severity": "critical"}, "usage_drop": {"enabled": False}})
    )
    assert model.alerts["score_drop"]["points"] == 20
    assert model.alerts["score_drop"]["days"] == 14
    assert model.alerts["score_drop"].severity == "critical"
    assert model.alerts["usage_drop"].enabled is False


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"bands": {"good": 40, "average": 60}}, "bands.average: must be below bands.good"),
        ({"bands": {"good": 120}}, "bands.good: Must be greater than or equal to 0 and less than or equal to 100."),
        ({"measures": {"csat": {**MEASURE, "signal": "mood"}}}, "measures.csat.signal: Must be one of:"),
        (
            {"measures": {"csat": {**MEASURE, "good": 50}}},
            "measures.csat.good: must be above poor when higher is better",
        ),
        ({"measures": {"csat": {**MEASURE, "direction": "lower_is_better"}}}, "measures.csat.good: must be below poor"),
        (
            {"measures": {"csat": {**MEASURE, "dimension": "vibes"}}},
            "measures.csat.dimension: unknown dimension 'vibes'",
        ),
        ({"measures": {"csat": {**MEASURE, "poor": "low"}}}, "measures.csat.poor: Not a valid number."),
        ({"measures": {"csat": {**MEASURE, "mode": "wavy"}}}, "measures.csat.mode: Must be one of: bands, smooth."),
        ({"measures": {"csat": {**MEASURE, "colour": "red"}}}, "measures.csat.colour: Unknown field."),
        (
            {"profiles": [{"name": "all", "measures": {"nps": {"weight": 1}}}]},
            "profiles.0.measures.nps: unknown measure",
        ),
        (
            {"profiles": [{"name": "all", "measures": {"csat": {"weight": 0}}}]},
            "profiles.0.measures.csat.weight: Must be greater than 0.",
        ),
        (
            {"profiles": [{"name": "all", "measures": {"csat": {"weight": 1, "good": 60}}}]},
            "profiles.0.measures.csat.good: must be above poor",
        ),
        (
            {"profiles": [{"name": "x", "when": {"segment": ["smb"]}, "measures": {"csat": {"weight": 1}}}]},
            "profiles.0.when: the last profile must have no conditions",
        ),
        (
            {"profiles": [{"name": "a", "measures": {"csat": {"weight": 1}}}] * 2},
            "profiles.1.name: duplicate profile name 'a'",
        ),
        ({"profiles": []}, "profiles: Shorter than minimum length 1."),
        ({"alerts": {"coffee_low": {}}}, "alerts.coffee_low: unknown rule"),
        ({"alerts": {"score_drop": {"pointz": 3}}}, "alerts.score_drop.pointz: unknown threshold; known: days, points"),
        ({"alerts": {"score_drop": {"points": -3}}}, "alerts.score_drop.points: Must be greater than or equal to 0."),
        ({"rollup": {"weight_by": "mood"}}, "rollup.weight_by: Must be one of: count, arr."),
        ({"version": 2}, "version: Must be equal to 1."),
    ],
)
def test_validation_errors_name_the_field(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(ModelError) as caught:
        load_model(doc(**changes))
    assert any(line.startswith(expected) for line in caught.value.errors), caught.value.errors


def test_missing_required_sections() -> None:
    with pytest.raises(ModelError) as caught:
        load_model({})
    assert caught.value.errors == [
        "measures: Missing data for required field.",
        "profiles: Missing data for required field.",
    ]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_load_from_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"model{suffix}"
    path.write_text(json.dumps(doc()) if suffix == ".json" else yaml.safe_dump(doc()))
    assert load_model(path).profiles[0].name == "all"


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("bad.yaml", "measures: [unclosed", "(file): bad.yaml is not valid YAML"),
        ("bad.json", "{", "(file): bad.json is not valid JSON"),
        ("list.yaml", "- 1\n- 2\n", "(document): must be a mapping"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, text: str, expected: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(ModelError) as caught:
        load_model(tmp_path / name)
    assert caught.value.errors[0].startswith(expected)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot read"):
        load_model(tmp_path / "nope.yaml")
