"""`analytics.base_arrays.benchmarks_of_matrix` equals `analytics.base.benchmarks_of_columns` (the Health report's
benchmarks from the account facts and from the snapshots)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from analytics.base import benchmarks_of_columns
from analytics.base_arrays import benchmarks_of_matrix


@pytest.mark.parametrize("seed", range(8))
def test_matrix_benchmarks_equal_the_columns(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.choice([1, 2, 7, 50, 400])
    segments = [rng.choice(["smb", "mid-market", "", None, "enterprise"]) for _ in range(n)]
    measures = ["a", "b", "c"]
    columns: list[list[float | None]] = [
        [None if rng.random() < 0.2 else round(rng.uniform(-5, 100), rng.choice([0, 1, 3])) for _ in range(n)],
        [None] * n,  # a measure no snapshot has
        [float(rng.randint(0, 3)) for _ in range(n)],  # ties
    ]
    matrix = np.array([[np.nan if x is None else x for x in column] for column in columns], dtype=np.float64).T
    expected = benchmarks_of_columns(segments, measures, columns)
    got = benchmarks_of_matrix(segments, measures, matrix)
    assert got == expected
    assert all(b.measure != "b" for b in got) and sum(b.accounts for b in got if b.measure == "c") == n


def test_matrix_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="one row of values per account"):
        benchmarks_of_matrix(["smb"], ["a", "b"], np.zeros((1, 3)))
