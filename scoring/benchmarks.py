"""Benchmarks: where each measure's value stands within the account's segment and the whole base.

A percentile here reads "better than N % of peers": direction-aware (for a lower-is-better
measure the smallest value ranks highest), ties counted half, the account itself included
(the mid-rank definition, so a lone account sits at 50).
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scoring.model import HealthModel
from scoring.signals import Signals


@dataclass(frozen=True, slots=True)
class MeasureBenchmark:
    measure: str
    value: float
    segment_percentile: float | None
    """None when the account has no segment."""
    base_percentile: float
    segment_size: int
    base_size: int


def _percentile(ordered: list[float], value: float, higher_is_better: bool) -> float:
    below = bisect_left(ordered, value)
    above = len(ordered) - bisect_right(ordered, value)
    ties = len(ordered) - below - above
    better_than = below if higher_is_better else above
    return round((better_than + 0.5 * ties) / len(ordered) * 100.0, 4)


def benchmark(signals: Sequence[Signals], model: HealthModel) -> dict[int, dict[str, MeasureBenchmark]]:
    """For every account and every measure of the model's library with a value: its percentiles."""
    out: dict[int, dict[str, MeasureBenchmark]] = {s.account_id: {} for s in signals}
    for measure in model.measures.values():
        higher = measure.direction == "higher_is_better"
        present = [(s, v) for s in signals if (v := getattr(s, measure.signal)) is not None]
        if not present:
            continue
        base = sorted(v for _, v in present)
        by_segment: dict[str, list[float]] = {}
        for s, v in present:
            if s.segment is not None:
                by_segment.setdefault(s.segment.casefold(), []).append(v)
        for values in by_segment.values():
            values.sort()
        for s, v in present:
            peers = by_segment.get(s.segment.casefold()) if s.segment is not None else None
            out[s.account_id][measure.name] = MeasureBenchmark(
                measure=measure.name,
                value=v,
                segment_percentile=_percentile(peers, v, higher) if peers else None,
                base_percentile=_percentile(base, v, higher),
                segment_size=len(peers) if peers else 0,
                base_size=len(base),
            )
    return out


def benchmark_json(signals: Sequence[Signals], model: HealthModel) -> list[str | None]:
    """For each account of `signals`, in order, the JSON text of its snapshot's ``benchmarks`` part —
    ``json.dumps({measure: {"segment_percentile": …, "base_percentile": …}})`` for every measure with a
    value, in the model's order, as `benchmark` gives them — or None when it has no measure with a value
    (`benchmark_json_columns` of the accounts' values)."""
    n = len(signals)
    values: dict[str, npt.NDArray[np.float64]] = {}
    present: dict[str, npt.NDArray[np.bool_]] = {}
    for name in dict.fromkeys(m.signal for m in model.measures.values()):
        raw = [getattr(s, name) for s in signals]
        present[name] = np.fromiter((v is not None for v in raw), dtype=bool, count=n)
        values[name] = np.array([np.nan if v is None else v for v in raw], dtype=np.float64).reshape(n)
    return benchmark_json_columns(values, present, [s.segment for s in signals], model, lambda: signals)


def benchmark_json_columns(values: Mapping[str, npt.NDArray[np.float64]],
                           present: Mapping[str, npt.NDArray[np.bool_]], segments: Sequence[str | None],
                           model: HealthModel, rows: Callable[[], Sequence[Signals]]) -> list[str | None]:
    """`benchmark_json` of accounts given as columns: each measure's signal's values (`values[signal]`, read
    where `present[signal]`) and each account's segment; `rows()` gives the accounts' `Signals`, asked for only
    when a present value is NaN.

    Over arrays: each measure's values sorted once, every account's rank a `searchsorted`, its segment's
    the same within the segment; the percentile is worked out by `_percentile`'s operations on the same
    whole numbers (so the same floats), Python's `round` applied once per distinct value, and each
    measure's text made once per distinct pair of percentiles. A NaN value (whose order `sorted` leaves
    undefined) sends the whole computation to `benchmark`."""
    n = len(segments)
    codes: dict[str, int] = {}
    segment = np.fromiter((-1 if s is None else codes.setdefault(s.casefold(), len(codes)) for s in segments),
                          dtype=np.int64, count=n)
    pieces: list[list[str]] = [[] for _ in range(n)]
    for measure in model.measures.values():
        name = measure.signal
        where = present[name]
        if not where.any():
            continue
        positions = np.flatnonzero(where)
        found = values[name][positions]
        if np.isnan(found).any():
            return _benchmark_json_alone(rows(), model)
        higher = measure.direction == "higher_is_better"
        base = _ranks(found, higher)
        mine = segment[positions]
        peers = np.full(len(found), np.nan)
        for code in np.unique(mine[mine >= 0]).tolist():
            group = np.flatnonzero(mine == code)
            peers[group] = _ranks(found[group], higher)
        prefix = json.dumps(measure.name) + ': {"segment_percentile": '
        texts: dict[tuple[float | None, float], str] = {}
        for i, p, b in zip(positions.tolist(), peers.tolist(), base.tolist(), strict=True):
            key = (None if p != p else p, b)  # NaN: no segment
            text = texts.get(key)
            if text is None:
                text = texts[key] = f'{prefix}{json.dumps(key[0])}, "base_percentile": {json.dumps(b)}}}'
            pieces[i].append(text)
    return ["{" + ", ".join(parts) + "}" if parts else None for parts in pieces]


def _ranks(values: npt.NDArray[np.float64], higher_is_better: bool) -> npt.NDArray[np.float64]:
    """`_percentile(sorted(values), v, higher_is_better)` for every v of `values`."""
    ordered = np.sort(values)
    size = len(ordered)
    below = np.searchsorted(ordered, values, side="left")
    above = size - np.searchsorted(ordered, values, side="right")
    ties = size - below - above
    better = below if higher_is_better else above
    exact = (better + 0.5 * ties) / size * 100.0
    distinct, back = np.unique(exact, return_inverse=True)
    return np.array([round(x, 4) for x in distinct.tolist()], dtype=np.float64)[back.reshape(-1)]


def _benchmark_json_alone(signals: Sequence[Signals], model: HealthModel) -> list[str | None]:
    table = benchmark(signals, model)
    out: list[str | None] = []
    for s in signals:
        found = table[s.account_id]
        out.append(json.dumps({name: {"segment_percentile": b.segment_percentile,
                                      "base_percentile": b.base_percentile} for name, b in found.items()})
                   if found else None)
    return out
