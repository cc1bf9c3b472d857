"""Many accounts scored at once, column by column: the batch path of `score_many`.

A `SignalTable` holds the signals of many accounts as NumPy columns (one float column per scorable
signal with a mask of present values, category codes for the profile rules' segment, tier and
lifecycle stage) and gives back each account's `Signals` when asked. `score_table` chooses every
account's profile, maps every measure to points, weighs and bands with array operations over the
accounts, one measure at a time, and returns a `ScoreBatch`: the scores, bands and points as arrays,
and each account's `HealthScore` (parts, missing measures, reasons) built when it is read.

The arithmetic is the one-account path's (`scoring.engine._score`), operation for operation, so the
numbers are the same floats: points are `(value − poor) × scale` (or 50 / 100 / 0), the weighted sum
adds the present measures in the profile's order, and the score is rounded to 6 decimals as Python's
`round` does (NumPy's rounding, checked, and `round` itself for the rare value near a half). Reasons
are `scoring.reasons.explain` of the built score, as in `score_account`.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from operator import attrgetter
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt

from scoring.engine import _compile, _CompiledProfile, _with_reasons
from scoring.model import Band, HealthModel, ProfileRule
from scoring.reasons import describe, explain
from scoring.results import (
    HealthScore,
    MeasurePart,
    Reason,
    Status,
    _legend_text,
    _name,
    _number,
    _part_json,
    _text,
)
from scoring.signals import SIGNALS, Signals

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

CATEGORIES = ("segment", "tier", "lifecycle_stage")
"""The text fields profile rules match on (case-insensitively)."""
RULE_SIGNAL = "days_since_onboarding_start"
"""The scorable signal a profile rule reads besides the categories (`max_days_since_onboarding_start`)."""

STATUSES: tuple[Status, ...] = ("missing", "good", "average", "poor")
"""Status codes of `ScoreBatch.status`: the index into this tuple."""
BANDS: tuple[Band, ...] = ("poor", "average", "good")
"""Band codes of `ScoreBatch.band_codes` (−1: no score)."""

_new = tuple.__new__


class SignalTable:
    """The signals of many accounts, as columns.

    `values[signal]` is a float column (NaN where missing) and `present[signal]` says which values
    are there (a present NaN stays a value, as in `Signals`); `categories[field]` is (codes, values):
    account i's segment is `values[codes[i]]`; `onboarding_complete` is 1 / 0 for True / False and −1
    for unknown. `row(i)` is account i's `Signals`."""

    __slots__ = ("_rows", "categories", "column_of", "grid", "onboarding_complete", "plain", "present",
                 "present_grid", "size", "values")

    def __init__(
        self,
        rows: Sequence[Signals],
        values: Mapping[str, FloatArray],
        present: Mapping[str, BoolArray],
        categories: Mapping[str, tuple[npt.NDArray[np.int32], tuple[str | None, ...]]],
        onboarding_complete: npt.NDArray[np.int8],
        grid: tuple[Sequence[str], FloatArray, BoolArray] | None = None,
        plain: BoolArray | None = None,
    ) -> None:
        """`grid`: the same columns stacked (names, values, present: signals × accounts), when the caller
        has them so; `plain`: which of those columns are NaN exactly where a value is missing, when the
        caller knows (otherwise checked here)."""
        self.size = len(rows)
        for name, column in (*values.items(), *present.items(), ("onboarding_complete", onboarding_complete),
                             *((f, c[0]) for f, c in categories.items())):
            if column.shape != (self.size,):
                raise ValueError(f"column {name!r} has shape {column.shape}, expected ({self.size},)")
        missing = [f for f in CATEGORIES if f not in categories]
        if missing:
            raise ValueError(f"missing category columns: {', '.join(missing)}")
        self._rows = rows
        self.values = values
        self.present = present
        self.categories = categories
        self.onboarding_complete = onboarding_complete
        if grid is None:
            names = [name for name in values if name in present]
            grid = (names, np.stack([values[n] for n in names]) if names else np.zeros((0, self.size)),
                    np.stack([present[n] for n in names]) if names else np.zeros((0, self.size), dtype=bool))
        self.column_of = {name: j for j, name in enumerate(grid[0])}
        self.grid, self.present_grid = grid[1], grid[2]
        if plain is None:
            plain = (np.isnan(self.grid) != self.present_grid).all(axis=1)
        self.plain: BoolArray = plain
        """Per grid row: NaN exactly where missing (no present NaN, no value marked missing)."""

    def __len__(self) -> int:
        return self.size

    def row(self, i: int) -> Signals:
        return self._rows[i]

    def field_column(self, name: str) -> tuple[FloatArray, BoolArray]:
        """The column of a whole-number or date field of the rows beyond the scorable ones (a date as its
        ordinal; NaN where not given) and where it is given: from the computation's arrays where it has them, else
        read from the rows."""
        column = getattr(self._rows, "field_column", None)
        found = column(name) if column is not None else None
        if found is not None:
            return found
        given = [getattr(self._rows[i], name) for i in range(self.size)]
        present = np.array([v is not None for v in given], dtype=bool)
        values = np.array([np.nan if v is None else v.toordinal() if isinstance(v, dt.date) else v for v in given],
                          dtype=np.float64)
        return values, present

    def users_below(self, share: float) -> IntArray:
        """Per account, how many of its `user_key_feature_counts` are under `share` % of its key features (the
        training rule's count): from the computation's arrays where it has them, else read from the rows."""
        users_below = getattr(self._rows, "users_below", None)
        found = users_below(share) if users_below is not None else None
        if found is not None:
            return found
        rows = [self._rows[i] for i in range(self.size)]
        return np.array([sum(1 for n in r.user_key_feature_counts if n / r.key_features_total * 100.0 < share)
                         if r.key_features_total else 0 for r in rows], dtype=np.int64)

    def fields(self, i: int) -> Signals:
        """Account i's `Signals` for reading a few of its fields: where the rows are built from columns, one that
        makes only the fields read (`scoring.signal_table.SignalFields`), else the row."""
        fields = getattr(self._rows, "fields", None)
        return fields(i) if fields is not None else self._rows[i]

    def column_rows(self) -> tuple[BoolArray, list[int], dt.date] | None:
        """Which rows' `Signals` take every scorable signal from the columns (a present value
        ``float(values[name][i])``, a missing one None), every row's account id and the day; None when the
        rows are not built from the columns (a table `from_signals`)."""
        from_columns = getattr(self._rows, "from_columns", None)
        return from_columns() if from_columns is not None else None

    @classmethod
    def from_signals(cls, signals: Iterable[Signals], names: Iterable[str] | None = None) -> SignalTable:
        """Columns of the given `Signals` (every scorable signal, or only `names` and the one profile
        rules read)."""
        rows = signals if isinstance(signals, list | tuple) else list(signals)
        wanted = sorted(set(SIGNALS if names is None else names) | {RULE_SIGNAL})
        unknown = [n for n in wanted if n not in SIGNALS]
        if unknown:
            raise ValueError(f"unknown signals: {', '.join(unknown)}")
        n, k = len(rows), len(wanted)
        get = attrgetter(*wanted)
        tuples = list(map(get, rows)) if k > 1 else [(v,) for v in map(get, rows)]
        grid = np.array(tuples, dtype=np.float64).reshape(n, k)  # None → NaN
        present_grid = ~np.isnan(grid)
        plain = np.ones(k, dtype=bool)
        for i, j in zip(*(a.tolist() for a in np.nonzero(~present_grid)), strict=True):
            if tuples[i][j] is not None:  # a NaN value, not a missing one
                present_grid[i, j] = True
                plain[j] = False
        grid, present_grid = np.ascontiguousarray(grid.T), np.ascontiguousarray(present_grid.T)
        values = {name: grid[j] for j, name in enumerate(wanted)}
        present = {name: present_grid[j] for j, name in enumerate(wanted)}
        categories = {f: _codes(list(map(attrgetter(f), rows))) for f in CATEGORIES}
        complete = np.fromiter(
            (1 if v is True else 0 if v is False else -1 for v in map(attrgetter("onboarding_complete"), rows)),
            dtype=np.int8, count=n)
        return cls(rows, values, present, categories, complete, (wanted, grid, present_grid), plain)

    def matches(self, rule: ProfileRule) -> BoolArray:
        """Which accounts the rule matches (`scoring.engine._matches`, for every account at once)."""
        found = np.ones(self.size, dtype=bool)
        for name in CATEGORIES:
            allowed: frozenset[str] | None = getattr(rule, name)
            if allowed is None:
                continue
            codes, labels = self.categories[name]
            ok = np.array([(label or "").casefold() in allowed for label in labels], dtype=bool)
            found &= ok[codes]
        if rule.onboarding_complete is not None:
            found &= self.onboarding_complete == (1 if rule.onboarding_complete else 0)
        limit = rule.max_days_since_onboarding_start
        if limit is not None:
            found &= self.present[RULE_SIGNAL] & (self.values[RULE_SIGNAL] <= limit)
        return found


def _codes(labels: list[str | None]) -> tuple[npt.NDArray[np.int32], tuple[str | None, ...]]:
    index: dict[str | None, int] = {}
    codes = np.fromiter((index.setdefault(v, len(index)) for v in labels), dtype=np.int32, count=len(labels))
    return codes, tuple(index)


def _distinct(keys: IntArray) -> tuple[IntArray, IntArray]:
    """(the distinct keys, sorted; each key's index among them)."""
    distinct, inverse = np.unique(keys, return_inverse=True)
    return distinct, inverse.reshape(-1)


def round6(x: FloatArray) -> FloatArray:
    """`round(v, 6)` of every value, as Python rounds (correctly, half to even on the exact binary value).

    `rint(v × 10⁶) / 10⁶` is the same float unless v × 10⁶ lies within its own rounding error of a half
    (or v is huge or not finite): those few values are rounded by `round` itself."""
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = x * 1e6
        out: FloatArray = np.rint(scaled) / 1e6
        risky = (np.abs(x) >= 1e6) | (np.abs(scaled - np.floor(scaled) - 0.5) < 1e-3)  # NaN: NaN, as `round`
    for i in np.flatnonzero(risky).tolist():
        out[i] = round(float(x[i]), 6)
    return out


class _ProfileBlock:
    """The accounts scored with one profile: their positions and points (measures × accounts; 0 where
    missing), and, when first asked for, their statuses (accounts × measures)."""

    __slots__ = ("_status", "compiled", "index", "points", "table")

    def __init__(self, table: SignalTable, compiled: _CompiledProfile, index: IntArray, points: FloatArray) -> None:
        self.table = table
        self.compiled = compiled
        self.index = index
        self.points = points
        self._status: npt.NDArray[np.int8] | None = None

    @property
    def status(self) -> npt.NDArray[np.int8]:
        """An index into `STATUSES` per account and measure."""
        if self._status is None:
            value, present, good_at, poor_at = _values(self.table, self.compiled, self.index)
            with np.errstate(invalid="ignore"):
                status = (2 + (value <= poor_at).view(np.int8) - (value >= good_at).view(np.int8)).astype(np.int8)
            np.copyto(status, 0, where=~present)
            self._status = np.ascontiguousarray(status.T)
        return self._status


def score_table(
    table: SignalTable,
    model: HealthModel,
    previous: Mapping[int, HealthScore] | None = None,
    *,
    reasons: bool = True,
) -> ScoreBatch:
    """Score every account of the table with one model (`score_account` for each, as arrays)."""
    profiles = _compile(model)
    needed = {spec.signal for p in profiles for spec in p.specs}
    if any(p.rule.max_days_since_onboarding_start is not None for p in profiles):
        needed.add(RULE_SIGNAL)
    absent = sorted(needed - table.column_of.keys())
    if absent:
        raise ValueError(f"the signal table has no column for {', '.join(absent)}, which the model scores")
    n = table.size
    last = len(profiles) - 1
    left = np.ones(n, dtype=bool)
    profile_of = np.full(n, last, dtype=np.int16)
    score = np.empty(n)
    scored = np.empty(n, dtype=bool)
    blocks: list[_ProfileBlock] = []
    for k, compiled in enumerate(profiles):
        if k == last:
            mine = left  # as `_score`: nothing matched, the last profile
        else:
            mine = left & table.matches(compiled.rule)
            left ^= mine
        index = np.flatnonzero(mine)
        whole = len(index) == n
        if k != last:
            profile_of[index] = k
        points, total, weights = _points(table, compiled, None if whole else index)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / weights
        has = weights != 0.0
        if not has.all():
            mean[~has] = np.nan
        mean = round6(mean)
        if whole:
            score, scored = mean, has
        else:
            score[index] = mean
            scored[index] = has
        blocks.append(_ProfileBlock(table, compiled, index, points))
    with np.errstate(invalid="ignore"):  # a NaN score (a present NaN value) is poor, as `Bands.band` says
        bands = (score >= model.bands.good).view(np.int8) + (score >= model.bands.average).view(np.int8)
    bands -= (~scored).view(np.int8)  # −1: no score
    return ScoreBatch(table, model, blocks, profile_of, score, scored, bands, previous, reasons)


def _values(table: SignalTable, compiled: _CompiledProfile, index: IntArray
            ) -> tuple[FloatArray, BoolArray, FloatArray, FloatArray]:
    """The profile's measures' values of the accounts at `index` (measures × accounts), which are present,
    and the good and poor thresholds (a column each), lower-is-better measures negated (values and
    thresholds: −v ≥ −good ⟺ v ≤ good, and (−v) − (−poor) is poor − v to the last bit), so that all
    measures are one set of array operations."""
    specs = compiled.specs
    columns = np.array([table.column_of[spec.signal] for spec in specs])
    sign = np.array([[1.0 if spec.higher else -1.0] for spec in specs])
    value = table.grid[columns][:, index]
    value *= sign
    return (value, table.present_grid[columns][:, index], np.array([[spec.good] for spec in specs]) * sign,
            np.array([[spec.poor] for spec in specs]) * sign)


def _points(table: SignalTable, compiled: _CompiledProfile, index: IntArray | None
            ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Points (measures × accounts, 0 where missing), weighted sums and weights of the accounts at `index`
    (None: every account); the sums add one measure after another, in the profile's order, as `_score` does.

    Where a column is plain (NaN exactly where a value is missing) a measure is a few arithmetic array
    operations and no masked ones (a masked write or `np.where` costs as much as twenty of them: its
    branches follow the data). Smooth: the value clamped into [poor, good] (`fmax` / `fmin` also turn a
    NaN into poor), then the line `(v − poor) × scale` of that: the line itself between the thresholds
    (the same operations on the same value), 0 at or below poor and where missing, and at good the line's
    end `top`, which is 100 unless rounding missed it — then v ≥ good adds `100 − top` (exact, as top is
    within an ulp or two of 100, and top + (100 − top) is then exactly 100). Bands: 50 × ((v beyond poor) +
    (v at or beyond good)). Lower is better: the same with `poor − v` and the comparisons turned round.
    Other columns (a present NaN, a value marked missing) take `_points_exact`."""
    specs = compiled.specs
    size = table.size if index is None else len(index)
    points = np.empty((len(specs), size))
    total = np.zeros(size)
    weights = np.zeros(size)
    work = np.empty(size)
    good = np.empty(size, dtype=bool)
    here = np.empty(size, dtype=bool)
    steps = np.empty(size, dtype=np.int8)
    with np.errstate(invalid="ignore", over="ignore"):
        for j, spec in enumerate(specs):
            column = table.column_of[spec.signal]
            row = table.grid[column]
            v = row if index is None else np.take(row, index)
            out = points[j]
            if not table.plain[column]:
                present = table.present_grid[column]
                np.copyto(here, present if index is None else np.take(present, index))
                _points_exact(spec, v, here, out)
            elif spec.scale is None:
                (np.greater if spec.higher else np.less)(v, spec.poor, out=here)  # beyond poor
                (np.greater_equal if spec.higher else np.less_equal)(v, spec.good, out=good)
                np.add(here.view(np.int8), good.view(np.int8), out=steps)  # 0, 1, 2
                np.multiply(steps, 50.0, out=out)
                np.equal(v, v, out=here)  # present: not NaN
            else:
                if spec.higher:
                    np.fmax(v, spec.poor, out=out)
                    np.fmin(out, spec.good, out=out)
                    out -= spec.poor
                    top = (spec.good - spec.poor) * spec.scale
                else:
                    np.fmin(v, spec.poor, out=out)
                    np.fmax(out, spec.good, out=out)
                    np.subtract(spec.poor, out, out=out)
                    top = (spec.poor - spec.good) * spec.scale
                out *= spec.scale
                if top != 100.0:
                    (np.greater_equal if spec.higher else np.less_equal)(v, spec.good, out=good)
                    np.multiply(good, 100.0 - top, out=work)
                    out += work  # + 0.0 elsewhere: also turns a −0.0 into 0.0
                elif spec.poor == 0.0:
                    out += 0.0  # a value of −0.0 at poor 0 gives −0.0 × scale; `_score` gives 0.0
                np.equal(v, v, out=here)  # present: not NaN
            np.multiply(out, spec.weight, out=work)
            total += work  # 0 where missing: the sum is unchanged
            np.multiply(here, spec.weight, out=work)
            weights += work
    return points, total, weights


def _points_exact(spec: Any, v: FloatArray, here: BoolArray, out: FloatArray) -> None:
    """One measure's points into `out` where values may be present NaNs or missing non-NaNs: a present NaN
    is average (NaN points on the line, 50 in bands), a missing value 0."""
    # good and poor cannot both hold: the model keeps `good` beyond `poor` (a NaN is neither)
    if spec.higher:
        good, poor = v >= spec.good, v <= spec.poor
    else:
        good, poor = v <= spec.good, v >= spec.poor
    if spec.scale is None:
        np.copyto(out, 50.0)
    else:
        middle = np.subtract(v, spec.poor) if spec.higher else np.subtract(spec.poor, v)
        np.multiply(middle, spec.scale, out=out)
    np.copyto(out, 100.0, where=good)
    np.copyto(out, 0.0, where=poor | ~here)


class ScoreBatch(Sequence[HealthScore]):
    """The scores of a `SignalTable`: arrays for all accounts, and each account's `HealthScore`
    (equal to `score_account` of its signals) built when it is read.

    `scores` (NaN: no score), `band_codes` (an index into `BANDS`, −1: no score), `profile_codes` (an
    index into the model's profiles)."""

    def __init__(self, table: SignalTable, model: HealthModel, blocks: list[_ProfileBlock],
                 profile_of: npt.NDArray[np.int16], score: FloatArray, scored: BoolArray,
                 bands: npt.NDArray[np.int8], previous: Mapping[int, HealthScore] | None, reasons: bool) -> None:
        self.table = table
        self.model = model
        self.blocks = blocks
        self.profile_codes = profile_of
        self._position: IntArray | None = None
        self.scores = score
        self.scored = scored
        self.band_codes = bands
        self.previous = previous
        self.reasons = reasons
        self._built: list[HealthScore] | None = None

    def __len__(self) -> int:
        return self.table.size

    @property
    def position(self) -> IntArray:
        """Each account's place in its profile's block (worked out when first asked for)."""
        if self._position is None:
            position = np.zeros(len(self), dtype=np.int64)
            for block in self.blocks:
                position[block.index] = np.arange(len(block.index))
            self._position = position
        return self._position

    @overload
    def __getitem__(self, i: int) -> HealthScore: ...

    @overload
    def __getitem__(self, i: slice) -> list[HealthScore]: ...

    def __getitem__(self, i: int | slice) -> HealthScore | list[HealthScore]:
        if isinstance(i, slice):
            return [self._build(j) for j in range(*i.indices(len(self)))]
        if self._built is not None:
            return self._built[i]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError("score index out of range")
        return self._build(i)

    def __iter__(self) -> Iterator[HealthScore]:
        return iter(self.to_list())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ScoreBatch | list | tuple):
            return self.to_list() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<ScoreBatch of {len(self):,} accounts>"

    def to_list(self) -> list[HealthScore]:
        """Every account's `HealthScore` (built once, then kept)."""
        if self._built is None:
            collecting = gc.isenabled()
            gc.disable()  # millions of small acyclic tuples, as in `scoring.engine.score_series`
            try:
                built: list[Any] = [None] * len(self)
                for block in self.blocks:
                    for i, result in zip(block.index.tolist(), self._build_block(block), strict=True):
                        built[i] = result
                self._built = built
            finally:
                if collecting:
                    gc.enable()
        return self._built

    def _build_block(self, block: _ProfileBlock) -> Iterator[HealthScore]:
        """The `HealthScore` of every account of one profile, in the block's order."""
        compiled = block.compiled
        specs, values_of, name = compiled.specs, compiled.values, compiled.name
        heads = [(s.measure, s.signal, s.dimension, s.label) for s in specs]
        absent = [_new(MeasurePart, (*head, None, "missing", None, s.weight))
                  for head, s in zip(heads, specs, strict=True)]
        weights = [s.weight for s in specs]
        row_of = self.table.row
        scores = self.scores[block.index].tolist()
        scored = self.scored[block.index].tolist()
        bands = self.band_codes[block.index].tolist()
        previous = self.previous
        limit, drop = self.model.reason_limit, self.model.reason_drop_points
        for i, points, codes, score, has, band in zip(block.index.tolist(), block.points.T.tolist(),
                                                      block.status.tolist(), scores, scored, bands, strict=True):
            signals = row_of(i)
            parts: list[MeasurePart] = []
            missing: list[str] = []
            for j, value in enumerate(values_of(signals)):
                code = codes[j]
                if code == 0:
                    missing.append(heads[j][0])
                    parts.append(absent[j])
                else:
                    parts.append(_new(MeasurePart, (*heads[j], value, STATUSES[code], points[j], weights[j])))
            result = HealthScore(signals.account_id, signals.day, score if has else None,
                                 BANDS[band] if has else None, name, tuple(parts), tuple(missing))
            if self.reasons:
                prior = previous.get(signals.account_id) if previous else None
                result = _with_reasons(result, explain(result, signals, prior, limit, drop))
            yield result

    def _build(self, i: int) -> HealthScore:
        block = self.blocks[self.profile_codes[i]]
        row = int(self.position[i])
        signals = self.table.row(i)
        parts: list[MeasurePart] = []
        missing: list[str] = []
        for spec, value, points, code in zip(block.compiled.specs, block.compiled.values(signals),
                                             block.points[:, row].tolist(), block.status[row].tolist(), strict=True):
            if code == 0:
                missing.append(spec.measure)
                parts.append(_new(MeasurePart, (spec.measure, spec.signal, spec.dimension, spec.label, None,
                                                "missing", None, spec.weight)))
            else:
                parts.append(_new(MeasurePart, (spec.measure, spec.signal, spec.dimension, spec.label, value,
                                                STATUSES[code], points, spec.weight)))
        band: Band | None = None
        score: float | None = None
        if self.scored[i]:
            score = float(self.scores[i])
            band = BANDS[self.band_codes[i]]
        result = HealthScore(signals.account_id, signals.day, score, band, block.compiled.name, tuple(parts),
                             tuple(missing))
        if not self.reasons:
            return result
        prior = self.previous.get(signals.account_id) if self.previous else None
        return _with_reasons(result, explain(result, signals, prior, self.model.reason_limit,
                                             self.model.reason_drop_points))

    def _columnar(self) -> tuple[BoolArray, list[int], dt.date] | None:
        """`SignalTable.column_rows`, or None when the blocks cannot be read column-wise (a profile naming a
        measure twice: its parts are a dict's, by measure)."""
        if any(len({s.measure for s in b.compiled.specs}) != len(b.compiled.specs) for b in self.blocks):
            return None
        return self.table.column_rows()

    def light(self) -> list[HealthScore]:
        """Every account's `HealthScore` as the alert rules and roll-ups read it: score, band, profile and reasons
        the same, no parts and no missing measures (`parts_json` writes them) — made from the arrays without
        building the parts: the weakest measures' costs (`scoring.reasons.weak_reasons`: the present weights summed
        in the profile's order, ``weight × (100 − points) / total``, the largest first, then by measure) as
        arrays, and only the chosen reasons described. An account whose signals were computed one by one, or whose
        reasons explain a change since its prior score (`needs_change_reasons`), is built whole (`__getitem__`)."""
        n = len(self)
        found = self._columnar()
        if found is None or (self.reasons and self.model.reason_limit < 0):
            return [self[i] for i in range(n)]
        from_columns, account_ids, day = found
        out: list[Any] = [None] * n
        previous = self.previous if self.reasons else None
        limit, drop = self.model.reason_limit, self.model.reason_drop_points
        good = STATUSES.index("good")
        for block in self.blocks:
            index = block.index
            size = len(index)
            if not size:
                continue
            compiled = block.compiled
            specs = compiled.specs
            codes = block.status
            scores = self.scores[index].tolist()
            scored = self.scored[index].tolist()
            bands = self.band_codes[index].tolist()
            chosen: list[list[int]] = []
            costs: list[list[float]] = []
            if self.reasons and limit > 0:
                total = np.zeros(size)
                for j, spec in enumerate(specs):
                    total = np.where(codes[:, j] != 0, total + spec.weight, total)
                negative = np.full((size, len(specs)), np.inf)
                with np.errstate(invalid="ignore", divide="ignore"):
                    for j, spec in enumerate(specs):
                        points = block.points[j]
                        weak = (codes[:, j] != 0) & (codes[:, j] != good) & (points < 100.0) & (total != 0.0)
                        negative[:, j] = np.where(weak, -(spec.weight * (100.0 - points) / total), np.inf)
                rank = np.argsort(np.argsort(np.array([s.measure for s in specs]), kind="stable"), kind="stable")
                order = np.lexsort((np.broadcast_to(rank, negative.shape), negative), axis=-1)[:, :limit]
                picked = np.take_along_axis(negative, order, axis=1)
                chosen, costs = order.tolist(), picked.tolist()
            values = [self.table.values[spec.signal][index] for spec in specs] if chosen else []
            points_of = block.points
            profile = compiled.name
            columns = from_columns[index].tolist()
            for k, i in enumerate(index.tolist()):
                has = scored[k]
                score = scores[k] if has else None
                band = BANDS[bands[k]] if has else None
                account_id = account_ids[i]
                prior = previous.get(account_id) if previous else None
                if not columns[k] or (prior is not None and prior.score is not None and score is not None
                                      and (band != prior.band or prior.score - score >= drop)):
                    whole = self[i]
                    out[i] = HealthScore(whole.account_id, whole.day, whole.score, whole.band, whole.profile, (), (),
                                         whole.reasons)
                    continue
                reasons: tuple[Reason, ...] = ()
                if chosen:
                    picks = [(j, -c) for j, c in zip(chosen[k], costs[k], strict=True) if c != np.inf]
                    if picks:
                        signals = self.table.fields(i)
                        found_reasons = []
                        for j, cost in picks:
                            spec = specs[j]
                            part = _new(MeasurePart, (spec.measure, spec.signal, spec.dimension, spec.label,
                                                      values[j].item(k), STATUSES[codes.item(k, j)],
                                                      points_of.item(j, k), spec.weight))
                            found_reasons.append(Reason(describe(part, signals), spec.measure, cost, "weak"))
                        reasons = tuple(found_reasons)
                out[i] = HealthScore(account_id, day, score, band, profile, (), (), reasons)
        return out

    def parts_json(self, reasons: Sequence[str], legend: int | None = None) -> list[str] | None:
        """Every account's ``HealthScore.as_json(reasons[i], legend)`` — the same text — made from the arrays, without
        building the scores: each measure's part text made once per distinct (status, value, points) of a
        profile's accounts, the dimensions summed as `HealthScore.dimensions` sums them (the present measures'
        ``weight × points`` added in the profile's order) and rounded as `round` does (`round6`), the missing
        measures' list once per distinct set. `reasons[i]`: account i's ``reasons_json`` text. Accounts whose
        signals were computed one by one are built (`__getitem__`) and encoded; None when the blocks cannot be
        read column-wise (see `_columnar`). `legend`: the stored legend the parts name (their parts then without
        signal, dimension and label)."""
        found = self._columnar()
        if found is None:
            return None
        from_columns, account_ids, day = found
        out: list[str] = [""] * len(self)
        lean = legend is not None
        head = f'"day": "{day.isoformat()}", '
        for block in self.blocks:
            index = block.index
            size = len(index)
            if not size:
                continue
            compiled = block.compiled
            specs = compiled.specs
            codes = block.status  # accounts × measures
            here_of = codes != 0
            dimensions: dict[str, list[int]] = {}
            texts: list[list[str]] = []
            for j, spec in enumerate(specs):
                dimensions.setdefault(spec.dimension, []).append(j)
                here = here_of[:, j]
                # a part's text depends on its status, value and points: each distinct one encoded once (the
                # floats compared by their bits: -0.0 and 0.0, or two NaNs, are told apart as `repr` tells them)
                code, first = _distinct(codes[:, j].astype(np.int64))
                value, second = _distinct(np.where(here, self.table.values[spec.signal][index], 0.0).view(np.int64))
                points, third = _distinct(np.where(here, block.points[j], 0.0).view(np.int64))
                key, inverse = _distinct((first * len(value) + second) * len(points) + third)
                made = np.empty(len(key), dtype=object)
                for u, combined in enumerate(key.tolist()):
                    c = int(code[combined // (len(value) * len(points))])
                    part: tuple[Any, ...]
                    if c == 0:
                        part = (spec.measure, spec.signal, spec.dimension, spec.label, None, "missing", None,
                                spec.weight)
                    else:
                        v = float(value[combined // len(points) % len(value)].view(np.float64))
                        p = float(points[combined % len(points)].view(np.float64))
                        part = (spec.measure, spec.signal, spec.dimension, spec.label, v, STATUSES[c], p, spec.weight)
                    made[u] = _part_json(_new(MeasurePart, part), lean)
                texts.append(made[inverse].tolist())
            # dimensions: as `HealthScore.as_json` sums them, measure after measure in the profile's order
            shown: list[list[str]] = []
            for dimension, members in dimensions.items():
                total = np.zeros(size)
                weights = np.zeros(size)
                for j in members:
                    here = here_of[:, j]
                    weight = specs[j].weight
                    total = np.where(here, total + weight * block.points[j], total)
                    weights = np.where(here, weights + weight, weights)
                has = weights != 0.0
                with np.errstate(invalid="ignore", divide="ignore"):
                    mean = round6(np.where(has, total / np.where(has, weights, 1.0), 0.0))
                distinct, inverse = _distinct(mean.view(np.int64))
                made = np.array([f"{_name(dimension)}: {_number(float(np.int64(m).view(np.float64)))}"
                                 for m in distinct.tolist()], dtype=object)
                shown.append(np.where(has, made[inverse], f"{_name(dimension)}: null").tolist())
            bits = (~here_of).astype(np.int64) @ (np.int64(1) << np.arange(len(specs), dtype=np.int64)) \
                if len(specs) <= 62 else None
            if bits is not None:
                distinct, inverse = _distinct(bits)
                missing = np.array([", ".join([_name(s.measure) for b, s in enumerate(specs) if m >> b & 1])
                                    for m in distinct.tolist()], dtype=object)[inverse]
            else:
                missing = np.array([", ".join([_name(s.measure) for s, here in zip(specs, row, strict=True)
                                               if not here]) for row in here_of.tolist()], dtype=object)
            # the profile's text and the legend's (``"legend": id, ``, or nothing), followed by the parts
            profile_legend = f'{_name(compiled.name)}, {"" if legend is None else _legend_text(legend)}'
            scores = self.scores[index].tolist()
            scored = self.scored[index].tolist()
            bands = self.band_codes[index].tolist()
            columns = from_columns[index].tolist()
            parts_of = [", ".join(row) for row in zip(*texts, strict=True)]
            shown_of = [", ".join(row) for row in zip(*shown, strict=True)] if shown else [""] * size
            missing_of = missing.tolist()
            for k, i in enumerate(index.tolist()):
                if not columns[k]:
                    out[i] = self[i].as_json(reasons[i], legend)
                    continue
                has_score = scored[k]
                out[i] = (f'{{"account_id": {_number(account_ids[i])}, {head}'
                          f'"score": {_number(scores[k]) if has_score else "null"}, '
                          f'"band": {_text(BANDS[bands[k]]) if has_score else "null"}, "profile": {profile_legend}'
                          f'"parts": {{{parts_of[k]}}}, "dimensions": {{{shown_of[k]}}}, '
                          f'"missing": [{missing_of[k]}], "reasons": {reasons[i]}}}')
        return out

    def measure_values(self, measures: Sequence[str]) -> tuple[list[int], FloatArray, BoolArray] | None:
        """Each account's value of each of `measures` as its parts text (`parts_json`) holds it — the signal's value
        where the measure is in the account's profile and not missing, NaN (the text's null) elsewhere — as an
        accounts × measures matrix, with the accounts' ids and which rows read back from the text as the same
        floats: those read column-wise whose present values are all finite (a NaN or an infinity is not a JSON
        number). None when the blocks cannot be read column-wise (see `_columnar`)."""
        found = self._columnar()
        if found is None:
            return None
        from_columns, account_ids, _day = found
        where = {m: j for j, m in enumerate(measures)}
        out = np.full((len(self), len(measures)), np.nan)
        exact = from_columns.copy()
        for block in self.blocks:
            index = block.index
            if not len(index):
                continue
            for j, spec in enumerate(block.compiled.specs):
                here = block.status[:, j] != 0
                value = self.table.values[spec.signal][index]
                exact[index[here & ~np.isfinite(value)]] = False
                column = where.get(spec.measure)
                if column is not None:
                    out[index, column] = np.where(here, value, np.nan)
        return account_ids, out, exact

    def band_counts(self) -> dict[Literal["good", "average", "poor", "none"], int]:
        """How many accounts fall in each band ("none": no score)."""
        counts = np.bincount(self.band_codes.astype(np.int64) + 1, minlength=4).tolist()
        return {"none": counts[0], "poor": counts[1], "average": counts[2], "good": counts[3]}
