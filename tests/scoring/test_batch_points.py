"""The batch path's arithmetic points (`scoring.batch._points`) on the values where arithmetic could slip:
next to and on the thresholds, infinities, −0.0, present NaNs beside missing values, bands and smooth, both
directions — every part and score the one-account path's, to the last bit (their JSON compared)."""

from __future__ import annotations

import json
import math
import random

import numpy as np

from scoring.batch import SignalTable, score_table
from scoring.engine import score_account
from scoring.model import HealthModel, load_model
from scoring.signals import Signals
from tests.scoring.build import signals

THRESHOLDS = {"csat": (10.0, 90.0), "nps": (-20.0, 0.0), "open_tickets": (7.0, 1.0), "arr": (0.3, 0.1),
              "feature_breadth": (0.0, 30.0), "license_utilisation": (0.1, 0.7)}
"""(poor, good). At 0.1 → 0.7 the line's end is 100.00000000000001, not 100; at poor 0, −0.0 is poor."""


def model(mode: str) -> HealthModel:
    measures = {
        name: {"signal": name, "dimension": "d", "poor": poor, "good": good, "mode": mode,
               "direction": "higher_is_better" if good > poor else "lower_is_better"}
        for name, (poor, good) in THRESHOLDS.items()
    }
    weights = dict(zip(measures, (1.0, 0.1, 1 / 3, 2.0, 0.7, 3.0), strict=True))
    return load_model({"dimensions": ["d"], "measures": measures,
                       "profiles": [{"name": "all", "measures": {m: {"weight": w} for m, w in weights.items()}}]})


def edge_values(rng: random.Random, poor: float, good: float) -> list[float | None]:
    near = [math.nextafter(t, d) for t in (poor, good) for d in (-math.inf, math.inf)]
    return [None, math.inf, -math.inf, -0.0, 0.0, poor, good, *near, rng.uniform(min(poor, good), max(poor, good)),
            rng.uniform(-1e3, 1e3), 1e308, -1e308]


def accounts(nan: bool) -> list[Signals]:
    rng = random.Random(7)
    out = []
    for i in range(3000):
        values = {name: rng.choice(edge_values(rng, *t)) for name, t in THRESHOLDS.items()}
        if i % 11 == 0:
            values = dict.fromkeys(THRESHOLDS)  # no score
        if nan and i % 7 == 0:
            values["csat"] = math.nan  # a present NaN: that column takes the exact path
        out.append(signals(account_id=i, **values))
    return out


def test_points_on_the_edges_are_the_one_account_paths() -> None:
    assert (0.7 - 0.1) * (100.0 / (0.7 - 0.1)) != 100.0
    for mode in ("smooth", "bands"):
        m = model(mode)
        for nan in (False, True):
            batch = accounts(nan)
            table = SignalTable.from_signals(batch, list(THRESHOLDS))
            assert table.plain[table.column_of["csat"]] is np.False_ if nan else bool(table.plain.all())
            many = score_table(table, m, reasons=False).to_list()  # reasons cannot quote an infinite NPS
            one = [score_account(s, m, reasons=False) for s in batch]
            assert [json.dumps(s.as_dict()) for s in many] == [json.dumps(s.as_dict()) for s in one]
            assert sum(s.score is None for s in one) >= 3000 // 11 - 3000 // 77


def test_a_table_with_a_value_marked_missing_ignores_it() -> None:
    m = model("smooth")
    batch = [signals(account_id=i, csat=50.0, nps=-10.0, open_tickets=3.0, arr=0.2) for i in range(3)]
    table = SignalTable.from_signals(batch, list(THRESHOLDS))
    present = {name: column.copy() for name, column in table.present.items()}
    present["csat"][1] = False  # the value 50.0 stays in the column but is missing
    values = {name: column.copy() for name, column in table.values.items()}
    marked = SignalTable(batch, values, present, table.categories, table.onboarding_complete)
    assert not marked.plain[marked.column_of["csat"]]
    scores = score_table(marked, m, reasons=False)
    assert scores.blocks[0].points[:, 1].tolist()[0] == 0.0
    assert scores.scores.tolist()[0] == score_account(batch[0], m, reasons=False).score
    assert scores.scores.tolist()[1] == score_account(signals(account_id=1, nps=-10.0, open_tickets=3.0, arr=0.2),
                                                      m, reasons=False).score
