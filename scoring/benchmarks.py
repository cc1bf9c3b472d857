"""Benchmarks: where each measure's value stands within the account's segment and the whole base.

A percentile here reads "better than N % of peers": direction-aware (for a lower-is-better
measure the smallest value ranks highest), ties counted half, the account itself included
(the mid-rank definition, so a lone account sits at 50).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

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
