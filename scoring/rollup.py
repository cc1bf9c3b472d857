"""Hierarchy roll-up: a parent's health from its children's, weighted by count or by ARR."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from scoring.model import Bands, HealthModel
from scoring.results import Reason


@dataclass(frozen=True, slots=True)
class ChildHealth:
    account_id: int
    score: float | None
    name: str | None = None
    arr: float | None = None


@dataclass(frozen=True, slots=True)
class RollupScore:
    parent_id: int
    score: float | None
    """None when no child could be counted."""
    band: Literal["good", "average", "poor"] | None
    weight_by: Literal["count", "arr"]
    counted: tuple[int, ...]
    left_out: tuple[int, ...]
    """Children without a score, or (weighting by ARR) without a positive ARR."""
    reasons: tuple[Reason, ...]


def roll_up(
    parent_id: int,
    children: Iterable[ChildHealth],
    model: HealthModel | None = None,
    *,
    weight_by: Literal["count", "arr"] | None = None,
    limit: int | None = None,
) -> RollupScore:
    """Weighted mean of the children's scores; the reasons name the children pulling it down,
    largest pull first (pull = weight share × points below the parent's score)."""
    bands = model.bands if model else Bands()
    weight_by = weight_by or (model.rollup_weight_by if model else "arr")
    limit = limit if limit is not None else (model.reason_limit if model else 3)
    counted: list[tuple[ChildHealth, float, float]] = []
    left_out: list[int] = []
    for child in sorted(children, key=lambda c: c.account_id):
        weight = 1.0 if weight_by == "count" else (child.arr or 0.0)
        if child.score is None or weight <= 0:
            left_out.append(child.account_id)
        else:
            counted.append((child, child.score, weight))
    total = sum(weight for _, _, weight in counted)
    if not counted or total <= 0:
        return RollupScore(parent_id, None, None, weight_by, (), tuple(left_out), ())
    score = round(sum(value * weight for _, value, weight in counted) / total, 6)
    pulls = [
        ((score - value) * weight / total, child, value, weight) for child, value, weight in counted if value < score
    ]
    pulls.sort(key=lambda item: (-item[0], item[1].account_id))
    reasons = []
    for pull, child, value, weight in pulls[:limit]:
        name = child.name or f"Account {child.account_id}"
        share = f", {weight / total * 100:.0f} % of ARR" if weight_by == "arr" else ""
        text = f"{name} ({bands.band(value)}, {value:.0f}{share}) pulls the score down by {pull:.1f} points"
        reasons.append(Reason(text, None, pull, "rollup"))
    return RollupScore(
        parent_id,
        score,
        bands.band(score),
        weight_by,
        tuple(child.account_id for child, _, _ in counted),
        tuple(left_out),
        tuple(reasons),
    )
