"""A portfolio list as data: a YAML/JSON document validated by marshmallow into frozen values.

A list has a name, a description, and conditions over the facts Canary keeps per account
(`worklists.facts.AccountFacts`), joined by ``match: all`` (every condition holds) or ``match: any``
(at least one does). Each condition names a field (`FIELDS`), an operator that the field's kind allows
(`OPERATORS`) and the operator's parameters. Dates are never absolute: a window is days counted from
the ``as_of`` day the list is evaluated on (negative: before it), so one definition means the same
thing every week.

    name: Renewals in 90 days
    description: Plan the renewal conversation.
    match: all
    conditions:
      - {field: subscription.renewal_date, op: within, from_days: 0, to_days: 90}
      - {field: health.band, op: in, values: [poor, average]}

`load_definition` raises `ListError` listing every problem as ``field.path: message`` (the same style
as the health model's `scoring.model.ModelError`). ``version`` is the document format's version (1);
the store keeps each saved edit of a list as a numbered version of its own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

from scoring.model import ALERT_RULES
from scoring.signals import SIGNALS

FORMAT_VERSION = 1
Kind = Literal["text", "number", "date", "band", "alert", "anniversary"]
Match = Literal["all", "any"]
BAND_VALUES = ("good", "average", "poor", "none")
"""`health.band` values: the three bands, and ``none`` for an account not scored on the latest day."""


@dataclass(frozen=True, slots=True)
class FieldInfo:
    kind: Kind
    label: str
    unit: str = ""


FIELDS: dict[str, FieldInfo] = {
    "account.name": FieldInfo("text", "Account name"),
    "account.segment": FieldInfo("text", "Segment"),
    "account.tier": FieldInfo("text", "Tier"),
    "account.lifecycle_stage": FieldInfo("text", "Lifecycle stage"),
    "account.owner": FieldInfo("text", "Owner e-mail"),
    "health.band": FieldInfo("band", "Health band"),
    "health.score": FieldInfo("number", "Health score"),
    "health.trend_30d": FieldInfo("number", "30-day health trend", "points"),
    "alert.open_rule": FieldInfo("alert", "Open alert"),
    "subscription.arr": FieldInfo("number", "ARR", "money"),
    "subscription.renewal_date": FieldInfo("date", "Renewal date"),
    "subscription.start_date": FieldInfo("date", "Subscription start"),
    "subscription.anniversary": FieldInfo("anniversary", "Subscription anniversary"),
    "onboarding.start_date": FieldInfo("date", "Onboarding start"),
    "usage.last_active_date": FieldInfo("date", "Last product activity"),
    "usage.active_users_7d": FieldInfo("number", "Product users active in the last 7 days"),
    "usage.active_users_28d": FieldInfo("number", "Product users active in the last 28 days"),
}
"""Every field a condition may name, besides ``health.measures.<measure>`` (a measure's value on the
latest scored day, as the account's health parts hold it: see `measure_name`)."""
MEASURE_PREFIX = "health.measures."

OPERATORS: dict[Kind, tuple[str, ...]] = {
    "text": ("in", "not_in", "contains", "is_set", "is_not_set"),
    "number": ("gt", "gte", "lt", "lte", "between", "rose_by", "fell_by", "is_set", "is_not_set"),
    "date": ("within", "before", "after", "is_set", "is_not_set"),
    "band": ("in", "not_in"),
    "alert": ("any", "none"),
    "anniversary": ("within",),
}
"""Which operators each kind of field allows."""

PARAMETERS: dict[str, tuple[str, ...]] = {
    "in": ("values",), "not_in": ("values",), "contains": ("value",), "is_set": (), "is_not_set": (),
    "gt": ("value",), "gte": ("value",), "lt": ("value",), "lte": ("value",), "between": ("min", "max"),
    "rose_by": ("by", "days"), "fell_by": ("by", "days"),
    "within": ("from_days", "to_days"), "before": ("days",), "after": ("days",),
    "any": ("values",), "none": ("values",),
}
"""The parameters each operator needs. Optional extras: ``raised_within_days`` for ``alert.open_rule any``;
``months`` and ``every_year`` for anniversaries."""
OPTIONAL: dict[str, tuple[str, ...]] = {"any": ("raised_within_days",), "within": ("months", "every_year")}
MAX_DAYS = 3660
CHANGE_DAYS = 90
"""``rose_by``/``fell_by`` compare with the account's health up to this many days earlier."""


class ListError(ValueError):
    """The list definition is invalid; `errors` lists ``field.path: message`` lines."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("invalid list definition:\n  " + "\n  ".join(errors))


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    op: str
    value: Any = None
    values: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    by: float | None = None
    days: int | None = None
    from_days: int | None = None
    to_days: int | None = None
    months: tuple[int, ...] = ()
    every_year: bool = True
    raised_within_days: int | None = None

    @property
    def measure(self) -> str | None:
        return measure_name(self.field)

    def as_dict(self) -> dict[str, Any]:
        """The condition as written (only the parameters its operator uses)."""
        out: dict[str, Any] = {"field": self.field, "op": self.op}
        for name in (*PARAMETERS[self.op], *OPTIONAL.get(self.op, ())):
            value = getattr(self, name)
            if name == "months" and self.field != "subscription.anniversary":
                continue
            if name == "every_year" and self.field != "subscription.anniversary":
                continue
            if value is None or value == ():
                continue
            out[name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True, slots=True)
class ListDefinition:
    name: str
    description: str
    match: Match
    conditions: tuple[Condition, ...]
    key: str | None = None
    """The shipped list this is (``renewal-90``...), None for a list a user made."""

    @property
    def measures(self) -> frozenset[str]:
        return frozenset(c.measure for c in self.conditions if c.measure)

    @property
    def change_days(self) -> frozenset[int]:
        """How many days back ``rose_by``/``fell_by`` conditions compare with."""
        return frozenset(c.days for c in self.conditions if c.op in ("rose_by", "fell_by") and c.days)

    def as_dict(self) -> dict[str, Any]:
        """The document, as `load_definition` reads it back (what the store keeps per version)."""
        out: dict[str, Any] = {"version": FORMAT_VERSION, "name": self.name, "description": self.description,
                               "match": self.match, "conditions": [c.as_dict() for c in self.conditions]}
        if self.key:
            out["key"] = self.key
        return out


def measure_name(path: str) -> str | None:
    return path[len(MEASURE_PREFIX):] if path.startswith(MEASURE_PREFIX) else None


def field_kind(path: str) -> Kind | None:
    if measure_name(path):
        return "number"
    info = FIELDS.get(path)
    return info.kind if info else None


def field_label(path: str) -> str:
    measure = measure_name(path)
    if measure is not None:
        info = SIGNALS.get(measure)
        return info.label if info else measure.replace("_", " ").capitalize()
    return FIELDS[path].label


# --- schemas ---------------------------------------------------------------------------------------------


def _float(**kwargs: Any) -> fields.Float:
    return fields.Float(allow_nan=False, **kwargs)


def _days(**kwargs: Any) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(-MAX_DAYS, MAX_DAYS), **kwargs)


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class ConditionSchema(StrictSchema):
    field = fields.String(required=True)
    op = fields.String(required=True)
    value = fields.Raw()
    values = fields.List(fields.String(validate=validate.Length(min=1, max=200)),
                         validate=validate.Length(min=1, max=50))
    min = _float()
    max = _float()
    by = _float(validate=validate.Range(min=0, min_inclusive=False))
    days = _days()
    from_days = _days()
    to_days = _days()
    months = fields.List(fields.Integer(strict=True, validate=validate.Range(1, 120)),
                         validate=validate.Length(min=1, max=40))
    every_year = fields.Boolean()
    raised_within_days = fields.Integer(strict=True, validate=validate.Range(1, MAX_DAYS))

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, str] = {}
        path, op = data["field"], data["op"]
        kind = field_kind(path)
        if path == MEASURE_PREFIX:
            raise ValidationError(f"name a measure after {MEASURE_PREFIX}", "field")
        if kind is None:
            known = ", ".join([*FIELDS, MEASURE_PREFIX + "<measure>"])
            raise ValidationError(f"unknown field {path!r}; known: {known}", "field")
        if op not in OPERATORS[kind]:
            raise ValidationError(f"{op!r} does not apply to {path} (a {kind} field); use one of "
                                  f"{', '.join(OPERATORS[kind])}", "op")
        needed = PARAMETERS[op]
        allowed = {"field", "op", *needed, *OPTIONAL.get(op, ())}
        if kind != "anniversary":
            allowed -= {"months", "every_year"}
        if kind == "anniversary":
            needed = (*needed, "months")
        for name in needed:
            if data.get(name) is None:
                errors[name] = f"required for op {op}"
        for name in sorted(set(data) - allowed):
            errors[name] = f"not used by op {op}"
        value = data.get("value")
        if "value" in needed and value is not None:
            if kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
                errors["value"] = "must be a number"
            elif kind == "text" and not isinstance(value, str):
                errors["value"] = "must be text"
            elif isinstance(value, float) and value != value:
                errors["value"] = "must be a number"
        if kind == "band":
            for i, band in enumerate(data.get("values") or ()):
                if band not in BAND_VALUES:
                    errors[f"values.{i}"] = f"must be one of {', '.join(BAND_VALUES)}"
        if kind == "alert":
            for i, rule in enumerate(data.get("values") or ()):
                if rule not in ALERT_RULES:
                    errors[f"values.{i}"] = f"unknown alert rule {rule!r}; known: {', '.join(sorted(ALERT_RULES))}"
        if op == "between" and data.get("min") is not None and data.get("max") is not None \
                and data["min"] > data["max"]:
            errors["max"] = "must not be below min"
        if op == "within" and data.get("from_days") is not None and data.get("to_days") is not None \
                and data["from_days"] > data["to_days"]:
            errors["to_days"] = "must not be before from_days"
        if op in ("rose_by", "fell_by") and data.get("days") is not None and not 1 <= data["days"] <= CHANGE_DAYS:
            errors["days"] = f"must be from 1 to {CHANGE_DAYS} (days back to compare with)"
        if op in ("rose_by", "fell_by") and path not in ("health.score", "health.trend_30d") \
                and not measure_name(path):
            errors["op"] = f"{op} compares health over time: only health.score and health.measures.* have a history"
        if errors:
            raise ValidationError({k: [v] for k, v in errors.items()})

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Condition:
        for key in ("values", "months"):
            if key in data:
                data[key] = tuple(dict.fromkeys(data[key]))
        if data.get("value") is not None and field_kind(data["field"]) == "number":
            data["value"] = float(data["value"])
        return Condition(**data)


def visible_text(text: str) -> None:
    if not text.strip() or any(ord(c) < 32 for c in text):
        raise ValidationError("must hold visible text and no control characters")


class ListSchema(StrictSchema):
    version = fields.Integer(load_default=FORMAT_VERSION, validate=validate.Equal(FORMAT_VERSION))
    key = fields.String(load_default=None, validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,63}$",
                                                                   error="lower-case letters, digits and dashes"))
    name = fields.String(required=True, validate=[validate.Length(min=1, max=120), visible_text])
    description = fields.String(load_default="", validate=validate.Length(max=2000))
    match = fields.String(load_default="all", validate=validate.OneOf(["all", "any"]))
    conditions = fields.List(fields.Nested(ConditionSchema), required=True, validate=validate.Length(min=1, max=20))

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> ListDefinition:
        return ListDefinition(name=data["name"].strip(), description=data["description"].strip(),
                              match=data["match"], conditions=tuple(data["conditions"]), key=data["key"])


def flatten_messages(messages: Any, path: str = "") -> list[str]:
    if isinstance(messages, Mapping):
        lines: list[str] = []
        for key, value in messages.items():
            sub = "" if key == "_schema" else str(key)
            lines += flatten_messages(value, f"{path}.{sub}" if path and sub else path or sub)
        return lines
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [f"{path or '(document)'}: {m}" for m in messages]
    if isinstance(messages, list):
        return [line for m in messages for line in flatten_messages(m, path)]
    return [f"{path or '(document)'}: {messages}"]


def parse_text(text: str) -> Any:
    """A definition typed as YAML (JSON is YAML too); `ListError` when it is neither."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise ListError([f"(document): not valid YAML or JSON{where}: {getattr(exc, 'problem', exc)}"]) from exc


def load_definition(source: Mapping[str, Any] | str) -> ListDefinition:
    """Validate a list given as a mapping, or as YAML/JSON text. Raises `ListError` naming every problem."""
    document = parse_text(source) if isinstance(source, str) else source
    if not isinstance(document, Mapping):
        raise ListError(["(document): must be a mapping with name and conditions"])
    try:
        definition: ListDefinition = ListSchema().load(document)
    except ValidationError as exc:
        raise ListError(sorted(flatten_messages(exc.messages))) from exc
    return definition


def dump_text(definition: ListDefinition | Mapping[str, Any]) -> str:
    """The document as YAML for the editor (conditions one per line)."""
    data = definition.as_dict() if isinstance(definition, ListDefinition) else dict(definition)
    head = {k: v for k, v in data.items() if k not in ("conditions", "version", "key")}
    text = yaml.safe_dump(head, sort_keys=False, allow_unicode=True, width=100)
    text += "conditions:\n" + "".join(f"  - {json.dumps(c, ensure_ascii=False)}\n" for c in data.get("conditions", ()))
    return text
