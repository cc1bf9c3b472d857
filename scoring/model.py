"""The health model: a YAML/JSON document validated by marshmallow into frozen values.

A model has bands, the signal settings (key features, milestones), a library of measures
(signal → good / average / poor), profiles that pick and weight measures and are chosen by
ordered rules on segment, tier, lifecycle stage and onboarding, roll-up and reason
settings, and the alert rules with their thresholds. `docs/scoring.md` explains the
default model shipped in `default_model.yaml`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml
from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates_schema,
)

from scoring.signals import SIGNALS, SignalSettings

Band = Literal["good", "average", "poor"]
Direction = Literal["higher_is_better", "lower_is_better"]
Mode = Literal["bands", "smooth"]
BAND_ORDER: dict[str, int] = {"poor": 0, "average": 1, "good": 2}
DEFAULT_DIMENSIONS = ("engagement", "utilisation", "support", "satisfaction", "relationship", "outcomes")

ALERT_RULES: dict[str, dict[str, float]] = {
    "band_dropped": {"lookback_days": 7},
    "score_drop": {"points": 15, "days": 14},
    "usage_drop": {"drop_percent": 50, "max_chance_percent": 1},
    "onboarding_overdue": {"days": 30, "max_days": 180},
    "sponsor_inactive": {"days": 30},
    "champion_inactive": {"days": 30},
    "training_needed": {"feature_share": 20, "min_users": 3},
    "seat_capacity": {"utilisation_percent": 90},
    "ticket_spike": {"min_tickets": 5, "factor": 2},
    "nps_detractor": {"days": 30},
    "renewal_risk": {"days": 90},
}
"""Every alert rule and its thresholds with their defaults (see `scoring.alerts`)."""
DEFAULT_SEVERITY: dict[str, str] = {
    "band_dropped": "warning",
    "score_drop": "warning",
    "usage_drop": "critical",
    "onboarding_overdue": "warning",
    "sponsor_inactive": "warning",
    "champion_inactive": "warning",
    "training_needed": "info",
    "seat_capacity": "info",
    "ticket_spike": "warning",
    "nps_detractor": "warning",
    "renewal_risk": "critical",
}


class ModelError(ValueError):
    """The model document is invalid; `errors` lists `field.path: message` lines."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("invalid health model:\n  " + "\n  ".join(errors))


@dataclass(frozen=True, slots=True)
class Bands:
    good: float = 70.0
    average: float = 40.0

    def band(self, score: float) -> Band:
        if score >= self.good:
            return "good"
        return "average" if score >= self.average else "poor"


@dataclass(frozen=True, slots=True)
class Measure:
    name: str
    signal: str
    dimension: str
    direction: Direction
    poor: float
    good: float
    mode: Mode = "bands"
    label: str = ""


@dataclass(frozen=True, slots=True)
class WeightedMeasure:
    measure: Measure
    weight: float


@dataclass(frozen=True, slots=True)
class ProfileRule:
    """All given conditions must hold; a list matches any of its values (case-insensitive)."""

    segment: frozenset[str] | None = None
    tier: frozenset[str] | None = None
    lifecycle_stage: frozenset[str] | None = None
    onboarding_complete: bool | None = None
    max_days_since_onboarding_start: float | None = None

    @property
    def matches_all(self) -> bool:
        return self == ProfileRule()


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    when: ProfileRule
    measures: tuple[WeightedMeasure, ...]


@dataclass(frozen=True, slots=True)
class AlertRule:
    name: str
    enabled: bool
    severity: str
    thresholds: Mapping[str, float]

    def __getitem__(self, key: str) -> float:
        return self.thresholds[key]


@dataclass(frozen=True, slots=True)
class HealthModel:
    bands: Bands
    signals: SignalSettings
    dimensions: tuple[str, ...]
    measures: Mapping[str, Measure]
    profiles: tuple[Profile, ...]
    alerts: Mapping[str, AlertRule]
    rollup_weight_by: Literal["count", "arr"] = "arr"
    reason_drop_points: float = 10.0
    reason_limit: int = 3
    name: str = "custom"

    def profile(self, name: str) -> Profile:
        for profile in self.profiles:
            if profile.name == name:
                return profile
        raise KeyError(name)


# --- schemas ---------------------------------------------------------------------------------------------


def _float(**kwargs: Any) -> fields.Float:
    """A number field that refuses NaN and infinity."""
    return fields.Float(allow_nan=False, **kwargs)


class _Strict(Schema):
    sections: tuple[str, ...] = ()
    """Nested sections that may be left out; they are loaded from `{}` so their defaults apply."""

    class Meta:
        unknown = RAISE

    @pre_load
    def _fill_sections(self, data: Any, **_: Any) -> Any:
        if isinstance(data, Mapping) and self.sections:
            return {**{key: {} for key in self.sections}, **data}
        return data


class BandsSchema(_Strict):
    good = _float(load_default=70.0, validate=validate.Range(0, 100))
    average = _float(load_default=40.0, validate=validate.Range(0, 100))

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        if data["average"] >= data["good"]:
            raise ValidationError("must be below bands.good", "average")

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Bands:
        return Bands(**data)


class SignalSettingsSchema(_Strict):
    key_features = fields.List(fields.String(validate=validate.Length(min=1)), validate=validate.Length(min=1))
    login_event = fields.String(validate=validate.Length(min=1))
    milestones = fields.List(fields.String(validate=validate.Length(min=1)))
    csat_days = fields.Integer(validate=validate.Range(min=1, max=3650))
    nps_days = fields.Integer(validate=validate.Range(min=1, max=3650))

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> SignalSettings:
        for key in ("key_features", "milestones"):
            if key in data:
                data[key] = tuple(dict.fromkeys(data[key]))
        return SignalSettings(**data)


class MeasureSchema(_Strict):
    signal = fields.String(required=True, validate=validate.OneOf(sorted(SIGNALS)))
    dimension = fields.String(required=True)
    direction = fields.String(required=True, validate=validate.OneOf(["higher_is_better", "lower_is_better"]))
    poor = _float(required=True)
    good = _float(required=True)
    mode = fields.String(load_default="bands", validate=validate.OneOf(["bands", "smooth"]))
    label = fields.String(load_default=None)


class ProfileMeasureSchema(_Strict):
    weight = _float(required=True, validate=validate.Range(min=0, min_inclusive=False))
    poor = _float()
    good = _float()


class ProfileRuleSchema(_Strict):
    segment = fields.List(fields.String(), validate=validate.Length(min=1))
    tier = fields.List(fields.String(), validate=validate.Length(min=1))
    lifecycle_stage = fields.List(fields.String(), validate=validate.Length(min=1))
    onboarding_complete = fields.Boolean()
    max_days_since_onboarding_start = _float(validate=validate.Range(min=0))

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> ProfileRule:
        for key in ("segment", "tier", "lifecycle_stage"):
            if key in data:
                data[key] = frozenset(v.casefold() for v in data[key])
        return ProfileRule(**data)


class ProfileSchema(_Strict):
    sections = ("when",)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    when = fields.Nested(ProfileRuleSchema)
    measures = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(ProfileMeasureSchema),
        required=True,
        validate=validate.Length(min=1),
    )


class AlertRuleSchema(_Strict):
    """`{enabled, severity, <threshold>: number...}`: thresholds sit beside the two switches."""

    enabled = fields.Boolean(load_default=True)
    severity = fields.String(validate=validate.OneOf(["info", "warning", "critical"]))
    thresholds = fields.Dict(keys=fields.String(), values=_float(validate=validate.Range(min=0)), load_default=dict)

    @pre_load
    def _gather_thresholds(self, data: Any, **_: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        switches = {k: v for k, v in data.items() if k in ("enabled", "severity")}
        return {**switches, "thresholds": {k: v for k, v in data.items() if k not in switches}}


class RollupSchema(_Strict):
    weight_by = fields.String(load_default="arr", validate=validate.OneOf(["count", "arr"]))


class ReasonSettingsSchema(_Strict):
    drop_points = _float(load_default=10.0, validate=validate.Range(min=0, max=100))
    limit = fields.Integer(load_default=3, validate=validate.Range(min=1, max=20))


class HealthModelSchema(_Strict):
    sections = ("bands", "signals", "rollup", "reasons")
    name = fields.String(load_default="custom")
    version = fields.Integer(load_default=1, validate=validate.Equal(1))
    bands = fields.Nested(BandsSchema)
    signals = fields.Nested(SignalSettingsSchema)
    dimensions = fields.List(fields.String(), load_default=lambda: list(DEFAULT_DIMENSIONS))
    measures = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=100)),
        values=fields.Nested(MeasureSchema),
        required=True,
        validate=validate.Length(min=1),
    )
    profiles = fields.List(fields.Nested(ProfileSchema), required=True, validate=validate.Length(min=1))
    rollup = fields.Nested(RollupSchema)
    reasons = fields.Nested(ReasonSettingsSchema)
    alerts = fields.Dict(keys=fields.String(), values=fields.Nested(AlertRuleSchema), load_default=dict)

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, str] = {}
        dimensions = set(data["dimensions"])
        for name, measure in data["measures"].items():
            if measure["dimension"] not in dimensions:
                errors[f"measures.{name}.dimension"] = f"unknown dimension {measure['dimension']!r}"
            _check_thresholds(errors, f"measures.{name}", measure["direction"], measure["poor"], measure["good"])
        seen: set[str] = set()
        for i, profile in enumerate(data["profiles"]):
            if profile["name"] in seen:
                errors[f"profiles.{i}.name"] = f"duplicate profile name {profile['name']!r}"
            seen.add(profile["name"])
            for key, override in profile["measures"].items():
                measure = data["measures"].get(key)
                if measure is None:
                    errors[f"profiles.{i}.measures.{key}"] = "unknown measure"
                    continue
                _check_thresholds(
                    errors,
                    f"profiles.{i}.measures.{key}",
                    measure["direction"],
                    override.get("poor", measure["poor"]),
                    override.get("good", measure["good"]),
                )
        if not data["profiles"][-1]["when"].matches_all:
            errors[f"profiles.{len(data['profiles']) - 1}.when"] = (
                "the last profile must have no conditions so that every account gets a profile"
            )
        for rule, settings in data["alerts"].items():
            if rule not in ALERT_RULES:
                errors[f"alerts.{rule}"] = f"unknown rule; known: {', '.join(sorted(ALERT_RULES))}"
                continue
            for key in settings["thresholds"]:
                if key not in ALERT_RULES[rule]:
                    errors[f"alerts.{rule}.{key}"] = f"unknown threshold; known: {', '.join(sorted(ALERT_RULES[rule]))}"
        if errors:
            raise ValidationError({path: [message] for path, message in errors.items()})

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> HealthModel:
        measures = {
            name: Measure(
                name=name,
                signal=m["signal"],
                dimension=m["dimension"],
                direction=m["direction"],
                poor=m["poor"],
                good=m["good"],
                mode=m["mode"],
                label=m["label"] or SIGNALS[m["signal"]].label,
            )
            for name, m in data["measures"].items()
        }
        profiles = tuple(
            Profile(
                name=p["name"],
                when=p["when"],
                measures=tuple(
                    WeightedMeasure(
                        replace(
                            measures[key],
                            poor=o.get("poor", measures[key].poor),
                            good=o.get("good", measures[key].good),
                        ),
                        o["weight"],
                    )
                    for key, o in p["measures"].items()
                ),
            )
            for p in data["profiles"]
        )
        alerts = {}
        for rule, defaults in ALERT_RULES.items():
            given = data["alerts"].get(rule, {})
            alerts[rule] = AlertRule(
                name=rule,
                enabled=given.get("enabled", True),
                severity=given.get("severity") or DEFAULT_SEVERITY[rule],
                thresholds=MappingProxyType({**defaults, **given.get("thresholds", {})}),
            )
        return HealthModel(
            name=data["name"],
            bands=data["bands"],
            signals=data["signals"],
            dimensions=tuple(data["dimensions"]),
            measures=MappingProxyType(measures),
            profiles=profiles,
            alerts=MappingProxyType(alerts),
            rollup_weight_by=data["rollup"]["weight_by"],
            reason_drop_points=data["reasons"]["drop_points"],
            reason_limit=data["reasons"]["limit"],
        )


def _check_thresholds(errors: dict[str, str], path: str, direction: str, poor: float, good: float) -> None:
    if direction == "higher_is_better" and not good > poor:
        errors[f"{path}.good"] = "must be above poor when higher is better"
    elif direction == "lower_is_better" and not good < poor:
        errors[f"{path}.good"] = "must be below poor when lower is better"


def _flatten(messages: Any, path: str = "") -> list[str]:
    if isinstance(messages, Mapping):
        lines: list[str] = []
        for key, value in messages.items():
            # "_schema" and the Dict field's "value" level, and alert rules' gathered "thresholds",
            # are not what the author wrote: leave them out of the path.
            sub = "" if key in ("_schema", "value", "thresholds") else str(key)
            lines += _flatten(value, f"{path}.{sub}" if path and sub else path or sub)
        return lines
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [f"{path or '(document)'}: {m}" for m in messages]
    if isinstance(messages, list):
        return [line for m in messages for line in _flatten(m, path)]
    return [f"{path or '(document)'}: {messages}"]


def load_model(source: str | Path | Mapping[str, Any]) -> HealthModel:
    """Validate a model given as a mapping, or as the path of a `.yaml`/`.yml`/`.json` file.

    Raises `ModelError` listing every problem as `field.path: message`.
    """
    if isinstance(source, Mapping):
        document: Any = source
    else:
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ModelError([f"(file): cannot read {path}: {exc.strerror}"]) from exc
        try:
            document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            kind = "JSON" if path.suffix == ".json" else "YAML"
            raise ModelError([f"(file): {path.name} is not valid {kind}: {exc}"]) from exc
    if not isinstance(document, Mapping):
        raise ModelError(["(document): must be a mapping"])
    try:
        model: HealthModel = HealthModelSchema().load(document)
    except ValidationError as exc:
        raise ModelError(sorted(_flatten(exc.messages))) from exc
    return model


@cache
def default_model() -> HealthModel:
    """The model shipped with Canary (`scoring/default_model.yaml`, explained in docs/scoring.md)."""
    text = resources.files("scoring").joinpath("default_model.yaml").read_text(encoding="utf-8")
    return load_model(yaml.safe_load(text))


def model_fingerprint(model: HealthModel) -> str:
    """A short digest of everything a model says: two models score alike exactly when it matches."""
    return hashlib.sha256(repr(model).encode()).hexdigest()[:16]


def model_legend(model: HealthModel) -> dict[str, dict[str, str]]:
    """The model's descriptors of every measure, ``{measure: {"signal", "dimension", "label"}}``: what a stored
    legend holds (`store.legends`), for the snapshots whose parts keep only what varies per account."""
    return {name: {"signal": m.signal, "dimension": m.dimension, "label": m.label}
            for name, m in model.measures.items()}
