"""`analytics.base.benchmarks_of_columns` over a NumPy matrix: the same figures (nearest-rank percentiles of each
measure's values per segment, `analytics.base.nearest_rank`), without a Python object per value. Pure: no I/O,
no clock."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from analytics.base import PERCENTILES, BaseAccount, Benchmark, _grouper


def benchmarks_of_matrix(segments: Sequence[str | None], measures: Sequence[str], values: np.ndarray
                         ) -> list[Benchmark]:
    """``values[i, j]``: account i's value of ``measures[j]`` (NaN: missing, skipped); ``segments[i]`` its
    segment. Equal to `benchmarks_of_columns` of the same values with None for NaN."""
    if values.ndim != 2 or values.shape != (len(segments), len(measures)):
        raise ValueError("benchmarks need one row of values per account and one column per measure")
    group = _grouper("segment")
    labels = {s: group(BaseAccount(0, segment=s)) for s in set(segments)}
    names = sorted(set(labels.values()))
    index = {g: k for k, g in enumerate(names)}
    of_row = np.fromiter((index[labels[s]] for s in segments), dtype=np.int64, count=len(segments))
    out = []
    for k, g in enumerate(names):
        # each column sorted once (NaN last, stable like the list sort), its percentiles read at their ranks
        columns = np.sort(np.ascontiguousarray(values[of_row == k].T), axis=1, kind="stable")
        counts = (~np.isnan(columns)).sum(axis=1).tolist()
        for j, measure in enumerate(measures):
            n = counts[j]
            if n:
                column = columns[j]
                out.append(Benchmark(g, measure, n, {p: float(column[_rank(n, p)]) for p in PERCENTILES}))
    out.sort(key=lambda b: (b.segment, b.measure))
    return out


def _rank(n: int, p: int) -> int:
    """`nearest_rank`'s 0-based index among `n` sorted values."""
    return max(math.ceil(p / 100 * n), 1) - 1


__all__ = ["benchmarks_of_matrix"]
