"""What scoring returns: a `HealthScore` with its parts per measure and its reasons."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from operator import itemgetter
from typing import Any, Literal, NamedTuple, cast

Status = Literal["good", "average", "poor", "missing"]
ReasonKind = Literal["change", "weak", "rollup"]
Legend = Mapping[str, tuple[str, str, str]]
"""A model's descriptors per measure: (signal, dimension, label) — what a stored legend holds."""


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

    def as_dict(self, legend: int | None = None) -> dict[str, Any]:
        """JSON-ready; the store keeps `parts` and `reasons` of a HealthSnapshot in this shape.

        `legend`: the id of the stored legend holding the model's descriptors of each measure (its signal, dimension
        and label: `store.legends`): each part then keeps only what varies per account (value, status, points,
        weight) and the dict names the legend (``"legend": id``); None: each part describes itself (every field)."""
        if legend is None:
            parts = {p.measure: {"signal": p.signal, "dimension": p.dimension, "label": p.label, "value": p.value,
                                 "status": p.status, "points": p.points, "weight": p.weight} for p in self.parts}
        else:
            parts = {p.measure: {"value": p.value, "status": p.status, "points": p.points, "weight": p.weight}
                     for p in self.parts}
        return {
            "account_id": self.account_id,
            "day": self.day.isoformat(),
            "score": self.score,
            "band": self.band,
            "profile": self.profile,
            **({} if legend is None else {"legend": legend}),
            "parts": parts,
            "dimensions": self.dimensions,
            "missing": list(self.missing),
            "reasons": [r.as_dict() for r in self.reasons],
        }

    def as_json(self, reasons: str | None = None, legend: int | None = None) -> str:
        """`json.dumps(self.as_dict(legend))`, the same text, built from pieces: each measure's part is encoded
        once and its text reused while it repeats (a backfill's consecutive days repeat many of them), the
        dimensions summed as `dimensions` sums them. `reasons` is `reasons_json(self.reasons)` when the caller
        has it already."""
        parts = self.parts
        if len(set(map(_MEASURE, parts))) != len(parts):
            return json.dumps(self.as_dict(legend))  # a measure twice: the dict keeps one, as json.dumps shows
        lean = legend is not None
        found = list(map((_LEAN_TEXT if lean else _PART_TEXT).get, parts))
        texts: list[str] = [_part_json(p, lean) for p in parts] if None in found else cast(list[str], found)
        # `dimensions`, the same operations in the same order
        points: dict[str, float] = {}
        weights: dict[str, float] = {}
        for _, _, dimension, _, _, _, got, weight in parts:
            if got is None:
                if dimension not in weights:
                    points[dimension] = weights[dimension] = 0.0
                continue
            points[dimension] = points.get(dimension, 0.0) + weight * got
            weights[dimension] = weights.get(dimension, 0.0) + weight
        dimensions = ", ".join([f"{_name(d)}: {_number(round(points[d] / w, 6) if w else None)}"
                                for d, w in weights.items()])
        missing = _MISSING_TEXT.get(self.missing)
        if missing is None:
            missing = ", ".join(map(_name, self.missing))
            if len(_MISSING_TEXT) < 10_000:
                _MISSING_TEXT[self.missing] = missing
        return (f'{{"account_id": {_number(self.account_id)}, "day": "{self.day.isoformat()}", '
                f'"score": {_number(self.score)}, "band": {_text(self.band)}, "profile": {_name(self.profile)}, '
                f'{"" if legend is None else _legend_text(legend)}"parts": {{{", ".join(texts)}}}, '
                f'"dimensions": {{{dimensions}}}, "missing": [{missing}], '
                f'"reasons": {reasons_json(self.reasons) if reasons is None else reasons}}}')

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], legend: Legend | None = None) -> HealthScore:
        """Rebuild a score from `as_dict()` output (e.g. yesterday's snapshot).

        A part's signal, dimension and label are the part's own where it has them (a snapshot written before the
        legends, or `as_dict()` without one), else the `legend`'s for its measure (the stored legend the snapshot
        names, ``data["legend"]``: `store.legends`); with neither, the signal and the label are the measure's name
        and the dimension is ""."""
        parts = tuple(_measure_part(name, fields, legend) for name, fields in data.get("parts", {}).items())
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


def part_descriptors(name: str, fields: Mapping[str, Any], legend: Legend | None) -> tuple[str, str, str]:
    """A stored part's (signal, dimension, label): the part's own where it has them (a snapshot written before the
    legends), else the `legend`'s for its measure, else the measure's name as signal and label and no dimension.
    The one rule for every reader of stored parts (`HealthScore.from_dict`, the account profile)."""
    described = legend.get(name) if legend is not None else None
    signal, dimension, label = described if described is not None else (name, "", name)
    return fields.get("signal", signal), fields.get("dimension", dimension), fields.get("label", label)


def _measure_part(name: str, fields: Mapping[str, Any], legend: Legend | None) -> MeasurePart:
    """A stored part as a `MeasurePart` (`HealthScore.from_dict`)."""
    return MeasurePart(name, *part_descriptors(name, fields, legend), fields["value"], fields["status"],
                       fields["points"], fields["weight"])


def reasons_json(reasons: Iterable[Reason]) -> str:
    """`json.dumps` of the reasons as stored (`Reason.as_dict()` each), the same text."""
    return "[" + ", ".join([f'{{"text": {_text(r.text)}, "measure": {_text(r.measure)}, '
                            f'"impact": {_number(r.impact)}, "kind": {_text(r.kind)}}}' for r in reasons]) + "]"


def _text(value: str | None) -> str:
    """A string or None as `json.dumps` writes it."""
    return "null" if value is None else encode_basestring_ascii(value)


_MEASURE = itemgetter(0)
_NAME_TEXT: dict[str, str] = {}
_MISSING_TEXT: dict[tuple[str, ...], str] = {}


def _name(value: str) -> str:
    """`_text` of a name that recurs (a dimension, measure or profile), memoised."""
    found = _NAME_TEXT.get(value)
    if found is None:
        found = encode_basestring_ascii(value)
        if len(_NAME_TEXT) < 10_000:
            _NAME_TEXT[value] = found
    return found


def _number(value: float | None) -> str:
    """A float, int or None as `json.dumps` writes it."""
    if value is None:
        return "null"
    kind = type(value)
    if kind is float and value - value == 0.0:  # finite: repr, as json.dumps
        return float.__repr__(value)
    if kind is int:
        return int.__repr__(int(value))
    return json.dumps(value)


_PART_TEXT: dict[MeasurePart, str] = {}
_LEAN_TEXT: dict[MeasurePart, str] = {}
"""`_part_json`'s texts of parts that describe themselves, and of parts whose descriptors are in a legend."""
_PART_TEXT_LIMIT = 100_000


def _part_json(part: MeasurePart, lean: bool = False) -> str:
    """``"measure": {...}`` of `HealthScore.as_json`, memoised; `lean`: without the signal, dimension and label (a
    snapshot naming a legend). Only parts whose numbers are plain floats (or None) are kept: equal parts then
    encode alike (1 == 1.0 and -0.0 == 0.0 would not)."""
    memo = _LEAN_TEXT if lean else _PART_TEXT
    found = memo.get(part)
    if found is not None:
        return found
    if lean:
        text = json.dumps({part.measure: {"value": part.value, "status": part.status, "points": part.points,
                                          "weight": part.weight}})[1:-1]
    else:
        text = json.dumps({part.measure: {"signal": part.signal, "dimension": part.dimension, "label": part.label,
                                          "value": part.value, "status": part.status, "points": part.points,
                                          "weight": part.weight}})[1:-1]
    if all(_plain(v) for v in (part.value, part.points, part.weight)):
        if len(memo) >= _PART_TEXT_LIMIT:
            memo.clear()
        memo[part] = text
    return text


def _legend_text(legend: int) -> str:
    """``"legend": id, `` of `HealthScore.as_json` (before the parts, as `as_dict` places it)."""
    return f'"legend": {_number(legend)}, '


def _plain(value: object) -> bool:
    return value is None or (type(value) is float and (value != 0.0 or math.copysign(1.0, value) > 0))
