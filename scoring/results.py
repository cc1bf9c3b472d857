"""What scoring returns: a `HealthScore` with its parts per measure and its reasons."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

Status = Literal["good", "average", "poor", "missing"]
ReasonKind = Literal["change", "weak", "rollup"]


class MeasurePart(NamedTuple):
    """One measure's share of a score (a NamedTuple: 100k accounts × 16 measures must be cheap)."""

    measure: str
    signal: str
    dimension: str
    label: str
    value: float | None
    status: Status
    points: float | None
    """0–100, None when the value is missing."""
    weight: float

    def as_dict(self) -> dict[str, Any]:
        return self._asdict()


@dataclass(frozen=True, slots=True)
class Reason:
    text: str
    measure: str | None
    impact: float
    """Points of score this reason accounts for (lost or, for a rise, gained); used for ordering."""
    kind: ReasonKind

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "measure": self.measure,
            "impact": self.impact,
            "kind": self.kind,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reason:
        return cls(str(data["text"]), data.get("measure"), float(data.get("impact", 0.0)), data.get("kind", "weak"))


@dataclass(frozen=True, slots=True)
class HealthScore:
    account_id: int
    day: dt.date
    score: float | None
    """0–100; None when every measure of the profile is missing."""
    band: Literal["good", "average", "poor"] | None
    profile: str
    parts: tuple[MeasurePart, ...]
    missing: tuple[str, ...]
    """Measures left out of the score because their data is missing."""
    reasons: tuple[Reason, ...] = ()

    @property
    def dimensions(self) -> dict[str, float | None]:
        """Score per dimension (weighted over its present measures); None when all of them are missing."""
        points: dict[str, float] = {}
        weights: dict[str, float] = {}
        for part in self.parts:
            dimension, weight = part.dimension, part.weight
            if part.points is None:
                if dimension not in weights:
                    points[dimension] = weights[dimension] = 0.0
                continue
            points[dimension] = points.get(dimension, 0.0) + weight * part.points
            weights[dimension] = weights.get(dimension, 0.0) + weight
        return {d: (round(points[d] / w, 6) if w else None) for d, w in weights.items()}

    def part(self, measure: str) -> MeasurePart:
        for part in self.parts:
            if part.measure == measure:
                return part
        raise KeyError(measure)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready; the store keeps `parts` and `reasons` of a HealthSnapshot in this shape."""
        return {
            "account_id": self.account_id,
            "day": self.day.isoformat(),
            "score": self.score,
            "band": self.band,
            "profile": self.profile,
            "parts": {p.measure: {"signal": p.signal, "dimension": p.dimension, "label": p.label, "value": p.value,
                                  "status": p.status, "points": p.points, "weight": p.weight} for p in self.parts},
            "dimensions": self.dimensions,
            "missing": list(self.missing),
            "reasons": [r.as_dict() for r in self.reasons],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HealthScore:
        """Rebuild a score from `as_dict()` output (e.g. yesterday's snapshot)."""
        parts = tuple(MeasurePart(measure=name, **fields) for name, fields in data.get("parts", {}).items())
        return cls(
            account_id=int(data["account_id"]),
            day=dt.date.fromisoformat(data["day"]) if isinstance(data["day"], str) else data["day"],
            score=data.get("score"),
            band=data.get("band"),
            profile=data.get("profile") or "",
            parts=parts,
            missing=tuple(data.get("missing", ())),
            reasons=tuple(Reason.from_dict(r) for r in data.get("reasons", ())),
        )
