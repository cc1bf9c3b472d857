"""`analytics.base.benchmarks_of_columns` over a NumPy matrix: the same figures (nearest-rank percentiles of each
measure's values per segment, `analytics.base.nearest_rank`), without a Python object per value. Pure: no I/O,
no clock."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from analytics.base import PERCENTILES, BaseAccount, Benchmark, _grouper, nearest_rank


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
        rows = values[of_row == k]
        for j, measure in enumerate(measures):
            column = rows[:, j]
            xs = np.sort(column[~np.isnan(column)], kind="stable").tolist()
            if xs:
                out.append(Benchmark(g, measure, len(xs), {p: nearest_rank(xs, p) for p in PERCENTILES}))
    out.sort(key=lambda b: (b.segment, b.measure))
    return out


__all__ = ["benchmarks_of_matrix"]
