import gc
import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.engine import choose_profile, measure_points, score_account, score_many
from scoring.inputs import ContactFact, NpsAnswer, TicketFact
from scoring.model import default_model, load_model
from scoring.results import HealthScore
from scoring.signals import compute_signals
from tests.scoring.build import AS_OF, days_ago, inputs, one_measure_model, signals, usage

MODEL = default_model()


@pytest.mark.parametrize(
    ("value", "higher", "poor", "good", "smooth", "expected"),
    [
        (90, True, 70, 90, False, ("good", 100.0)),
        (89.9, True, 70, 90, False, ("average", 50.0)),
        (70.1, True, 70, 90, False, ("average", 50.0)),
        (70, True, 70, 90, False, ("poor", 0.0)),
        (-5, True, 70, 90, False, ("poor", 0.0)),
        (80, True, 70, 90, True, ("average", 50.0)),
        (75, True, 70, 90, True, ("average", 25.0)),
        (95, True, 70, 90, True, ("good", 100.0)),
        (0, False, 2, 0, False, ("good", 100.0)),
        (1, False, 2, 0, False, ("average", 50.0)),
        (2, False, 2, 0, False, ("poor", 0.0)),
        (12, False, 30, 7, True, ("average", (30 - 12) / 23 * 100)),
        (7, False, 30, 7, True, ("good", 100.0)),
        (31, False, 30, 7, True, ("poor", 0.0)),
    ],
)
def test_measure_points(value: float, higher: bool, poor: float, good: float, smooth: bool, expected: Any) -> None:
    status, points = measure_points(value, higher, poor, good, smooth)
    assert status == expected[0]
    assert points == pytest.approx(expected[1])
    # The engine's inlined copy agrees with the reference function.
    direction = "higher_is_better" if higher else "lower_is_better"
    part = score_account(
        signals(csat=value), one_measure_model(direction, poor, good, "smooth" if smooth else "bands")
    ).parts[0]
    assert (part.status, part.points) == pytest.approx((status, points))


@pytest.mark.parametrize(
    ("value", "band"), [(100, "good"), (70, "good"), (69.99, "average"), (40, "average"), (39.99, "poor"), (0, "poor")]
)
def test_band_thresholds(value: float, band: str) -> None:
    result = score_account(signals(csat=value), one_measure_model())
    assert result.score == pytest.approx(value)
    assert result.band == band


@pytest.mark.parametrize(("value", "band"), [(80, "good"), (79.9, "average"), (50, "average"), (49.9, "poor")])
def test_configurable_bands(value: float, band: str) -> None:
    model = one_measure_model(bands={"good": 80, "average": 50})
    assert score_account(signals(csat=value), model).band == band


TWO = load_model(
    {
        "measures": {
            "csat": {
                "signal": "csat",
                "dimension": "satisfaction",
                "direction": "higher_is_better",
                "poor": 0,
                "good": 100,
                "mode": "smooth",
            },
            "tickets": {
                "signal": "open_tickets",
                "dimension": "support",
                "direction": "lower_is_better",
                "poor": 10,
                "good": 0,
                "mode": "smooth",
            },
        },
        "profiles": [{"name": "all", "measures": {"csat": {"weight": 3}, "tickets": {"weight": 1}}}],
    }
)


@pytest.mark.parametrize(
    ("values", "score", "missing"),
    [
        ({"csat": 80.0, "open_tickets": 4.0}, (3 * 80 + 60) / 4, ()),
        ({"csat": 80.0}, 80.0, ("tickets",)),  # missing tickets are left out, not scored as 0
        ({"open_tickets": 4.0}, 60.0, ("csat",)),
        ({"csat": 0.0, "open_tickets": 10.0}, 0.0, ()),  # zero is a value, not missing
        ({}, None, ("csat", "tickets")),
    ],
)
def test_missing_data_is_excluded_and_reported(
    values: dict[str, float], score: float | None, missing: tuple[str, ...]
) -> None:
    result = score_account(signals(**values), TWO)
    assert result.score == (pytest.approx(score) if score is not None else None)
    assert result.missing == missing
    assert [p.status == "missing" for p in result.parts] == [m in missing for m in ("csat", "tickets")]
    if score is None:
        assert result.band is None
        assert result.reasons == ()


def test_dimensions_and_parts() -> None:
    result = score_account(signals(csat=80.0), TWO)
    assert result.dimensions == {"satisfaction": 80.0, "support": None}
    part = result.part("csat")
    assert (part.value, part.status, part.points, part.weight, part.dimension) == (
        80.0,
        "average",
        80.0,
        3,
        "satisfaction",
    )


@pytest.mark.parametrize(
    ("values", "profile"),
    [
        ({"segment": "Enterprise", "onboarding_complete": True}, "high_touch"),
        ({"segment": "enterprise", "onboarding_complete": False, "days_since_onboarding_start": 30.0}, "onboarding"),
        ({"segment": "smb", "onboarding_complete": False, "days_since_onboarding_start": 90.0}, "onboarding"),
        ({"segment": "smb", "onboarding_complete": False, "days_since_onboarding_start": 91.0}, "tech_touch"),
        ({"segment": "smb", "onboarding_complete": None, "days_since_onboarding_start": 5.0}, "tech_touch"),
        ({"segment": None}, "tech_touch"),
        ({"segment": "mid_market"}, "tech_touch"),
    ],
)
def test_profile_chosen_by_ordered_rules(values: dict[str, Any], profile: str) -> None:
    s = signals(**values)
    assert choose_profile(s, MODEL).name == profile
    assert score_account(s, MODEL).profile == profile


def test_profile_rules_on_tier_and_lifecycle() -> None:
    model = load_model(
        {
            "measures": {
                "csat": {
                    "signal": "csat",
                    "dimension": "satisfaction",
                    "direction": "higher_is_better",
                    "poor": 0,
                    "good": 1,
                }
            },
            "profiles": [
                {
                    "name": "gold",
                    "when": {"tier": ["enterprise"], "lifecycle_stage": ["adopted", "renewing"]},
                    "measures": {"csat": {"weight": 1}},
                },
                {"name": "rest", "measures": {"csat": {"weight": 1}}},
            ],
        }
    )
    assert choose_profile(signals(tier="Enterprise", lifecycle_stage="renewing"), model).name == "gold"
    assert choose_profile(signals(tier="enterprise", lifecycle_stage="onboarding"), model).name == "rest"
    assert choose_profile(signals(tier="growth", lifecycle_stage="adopted"), model).name == "rest"


def test_score_many_matches_score_account_and_restores_gc() -> None:
    rng = random.Random(3)
    batch = [
        signals(
            account_id=i,
            segment=rng.choice(["enterprise", "smb"]),
            csat=rng.random() * 100,
            nps=rng.random() * 200 - 100,
            license_utilisation=rng.random() * 100,
            open_tickets=float(rng.randint(0, 9)),
        )
        for i in range(50)
    ]
    previous = {3: score_account(batch[3], MODEL)}
    assert gc.isenabled()
    many = score_many(batch, MODEL, previous)
    assert gc.isenabled()
    assert many == [score_account(s, MODEL, previous.get(s.account_id)) for s in batch]
    assert score_many(batch, MODEL, reasons=False)[0].reasons == ()


def test_round_trip_through_dict() -> None:
    result = score_account(signals(csat=75.0, nps=10.0, open_tickets=2.0, segment="smb"), MODEL)
    again = HealthScore.from_dict(result.as_dict())
    assert again == result
    assert result.as_dict()["parts"]["csat"]["status"] == "average"


def test_round_trip_through_the_stored_form_and_its_legend() -> None:
    """A snapshot's parts name a legend and keep only value, status, points and weight: read with the legend's
    descriptors they are the score again; a self-describing part (a snapshot written before the legends) reads as
    before whatever legend is given, its own descriptors winning; with no legend a lean part is named after its
    measure (signal and label the measure's name, dimension "")."""
    result = score_account(signals(csat=75.0, nps=10.0, open_tickets=2.0, segment="smb"), MODEL)
    stored = json.loads(result.as_json(legend=5))
    assert stored["legend"] == 5
    assert stored["parts"]["csat"] == {"value": 75.0, "status": "average", "points": result.part("csat").points,
                                       "weight": result.part("csat").weight}
    assert {k for part in stored["parts"].values() for k in part} == {"value", "status", "points", "weight"}
    assert {k: v for k, v in stored.items() if k != "legend"} == {**result.as_dict(), "parts": stored["parts"]}
    legend = {name: (m.signal, m.dimension, m.label) for name, m in MODEL.measures.items()}
    assert HealthScore.from_dict(stored, legend) == result
    old = json.loads(json.dumps(result.as_dict()))
    other = {name: ("x", "y", "z") for name in MODEL.measures}
    assert HealthScore.from_dict(old, other) == HealthScore.from_dict(old) == result
    bare = HealthScore.from_dict(stored)
    assert [(p.measure, p.signal, p.dimension, p.label) for p in bare.parts] == [
        (p.measure, p.measure, "", p.measure) for p in result.parts]
    assert [(p.value, p.status, p.points, p.weight) for p in bare.parts] == [
        (p.value, p.status, p.points, p.weight) for p in result.parts]


# --- properties -------------------------------------------------------------------------------------------

SCORED = sorted({m.signal for m in MODEL.measures.values()})
value = st.one_of(st.none(), st.floats(-1000, 1000, allow_nan=False))
signal_values = st.fixed_dictionaries({name: value for name in SCORED})
context = st.fixed_dictionaries(
    {
        "segment": st.sampled_from([None, "enterprise", "smb"]),
        "onboarding_complete": st.sampled_from([None, True, False]),
        "days_since_onboarding_start": st.sampled_from([None, 10.0, 200.0]),
    }
)


@settings(max_examples=150, deadline=None)
@given(signal_values, context)
def test_score_is_within_0_and_100(values: dict[str, Any], ctx: dict[str, Any]) -> None:
    result = score_account(signals(**{**values, **ctx}), MODEL)
    if result.score is None:
        assert all(p.status == "missing" for p in result.parts)
    else:
        assert 0.0 <= result.score <= 100.0
        assert result.band == MODEL.bands.band(result.score)
    assert all(p.points is None or 0.0 <= p.points <= 100.0 for p in result.parts)


@settings(max_examples=150, deadline=None)
@given(signal_values, context, st.sampled_from(sorted(MODEL.measures)), st.floats(0, 500, allow_nan=False))
def test_score_is_monotone_in_each_measure(
    values: dict[str, Any], ctx: dict[str, Any], measure: str, step: float
) -> None:
    spec = MODEL.measures[measure]
    base = values[spec.signal] if values[spec.signal] is not None else 0.0
    better = base + step if spec.direction == "higher_is_better" else base - step
    before = score_account(signals(**{**values, **ctx, spec.signal: base}), MODEL)
    after = score_account(signals(**{**values, **ctx, spec.signal: better}), MODEL)
    assert before.score is not None and after.score is not None
    assert after.score >= before.score - 1e-9


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False))
def test_score_is_independent_of_input_order(rng: random.Random) -> None:
    events = ["Logged In", "Report Created", "Automation Run", "Workspace Created"]
    rows = [
        usage(rng.randint(0, 30), f"u{rng.randint(0, 6)}", rng.choice(events), rng.randint(1, 4)) for _ in range(60)
    ]
    tickets = [
        TicketFact(
            str(i), rng.choice(["normal", "urgent"]), rng.choice(["open", "solved"]), days_ago(rng.randint(0, 50))
        )
        for i in range(12)
    ]
    contacts = [
        ContactFact(f"u{i}", rng.choice(["champion", "executive_sponsor"]), f"P{i}", days_ago(rng.randint(0, 60)))
        for i in range(5)
    ]
    nps = [NpsAnswer(days_ago(rng.randint(0, 100)), rng.randint(0, 10)) for _ in range(6)]

    def score(order: random.Random | None) -> HealthScore:
        parts: list[list[Any]] = [list(rows), list(tickets), list(contacts), list(nps)]
        if order is not None:
            for part in parts:
                order.shuffle(part)
        account = inputs(
            usage=tuple(parts[0]),
            tickets=tuple(parts[1]),
            contacts=tuple(parts[2]),
            nps=tuple(parts[3]),
            seats_purchased=10,
            onboarding_start=days_ago(100),
        )
        return score_account(compute_signals(account, AS_OF, MODEL), MODEL)

    assert score(random.Random(rng.random())) == score(None)
