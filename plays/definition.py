"""A play as data: a trigger, an optional audience, and steps — YAML/JSON validated into frozen values.

    name: Usage drop get-well plan
    description: Find out why usage fell and agree a plan with the customer.
    trigger: {type: alert, rule: usage_drop}
    auto_close: true          # close the run and its open tasks when the alert resolves
    audience:                 # optional: only accounts matching these list conditions
      match: all
      conditions:
        - {field: subscription.arr, op: gte, value: 10000}
    steps:
      - type: task
        subject: Find out why usage dropped at {account}
        description: "{reasons}"
        due_days: 2
        priority: high
        assign: {to: owner, fallback: owner_manager}
      - {type: wait, until: task_done}
      - {type: wait, days: 14}
      - {type: email, to: owner, subject: "Usage at {account}: two weeks on", body: "..."}

Triggers (`TRIGGERS`): an account enters or leaves a portfolio list (named by its key or id), an alert
rule is raised, a date offset (``subscription.renewal_date`` − 120 days, ``onboarding.start_date`` + 30
days), a subscription anniversary (months since the subscription start, with an offset), or a person
starts it by hand. Date and anniversary triggers fire on the day the offset falls and for ``window_days``
after it (a missed daily run still catches up; publishing a play does not start it for dates long past).

Steps (`STEP_TYPES`): create a task (subject, description, due offset, priority, assignee rule), wait
N days or until the previous task is done, e-mail the owner, call a webhook, set an account field.
Texts may name `PLACEHOLDERS` in braces. `load_definition` raises `PlayError` naming every problem as
``field.path: message``, like the lists' and the health model's validators. Pure: no I/O, no clock.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml
from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from scoring.model import ALERT_RULES
from worklists.definition import (
    ConditionSchema,
    ListDefinition,
    ListError,
    StrictSchema,
    flatten_messages,
    parse_text,
    visible_text,
)

FORMAT_VERSION = 1
TRIGGERS = ("list_entered", "list_left", "alert", "date", "anniversary", "manual")
CLEARABLE = ("list_entered", "list_left", "alert")
"""Triggers that can clear (the account leaves the list again, the alert resolves): ``auto_close`` applies."""
DATE_FIELDS = {"subscription.renewal_date": "renewal date", "subscription.start_date": "subscription start",
               "onboarding.start_date": "onboarding start"}
STEP_TYPES = ("task", "wait", "email", "webhook", "set_field")
ASSIGN_TO = ("owner", "role", "round_robin", "fewest_open_tasks", "fewest_accounts", "user")
ROLES = {"crm_owner": "the account's owner in the CRM", "support_owner": "the account's owner in the help desk",
         "owner_manager": "the manager of the account's CSM"}
TEAMS = ("owner_team", "all_csms")
"""Teams a round-robin or fewest-work rule picks from, besides ``manager:<e-mail>`` (that manager's team)."""
FALLBACKS = ("owner_manager", "round_robin", "unassigned")
SET_FIELDS = {"account.lifecycle_stage": "Lifecycle stage", "account.tier": "Tier"}
PRIORITIES = ("low", "normal", "high")
PLACEHOLDERS = {
    "account": "the account's name",
    "reasons": "why the play started, one reason a line",
    "play": "the play's name",
    "owner": "the account owner's e-mail",
    "renewal_date": "the next renewal date",
    "trigger_day": "the day the trigger fired",
}
MAX_STEPS = 20
MAX_OFFSET = 3660


class PlayError(ValueError):
    """The play definition is invalid; `errors` lists ``field.path: message`` lines."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("invalid play definition:\n  " + "\n  ".join(errors))


@dataclass(frozen=True, slots=True)
class Trigger:
    type: str
    list: str | None = None
    """A list's key (``usage-dropped``) or id (``"12"``), for list triggers."""
    rule: str | None = None
    field: str | None = None
    offset_days: int = 0
    window_days: int = 7
    months: tuple[int, ...] = ()
    every_year: bool = True
    include_current: bool = True
    """List and alert triggers: on first publish, start for the accounts already in the list / with the
    alert open (else only for those entering from then on)."""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.type in ("list_entered", "list_left"):
            out["list"] = self.list
        if self.type == "alert":
            out["rule"] = self.rule
        if self.type == "date":
            out["field"] = self.field
        if self.type == "anniversary":
            out["months"] = list(self.months)
            out["every_year"] = self.every_year
        if self.type in ("date", "anniversary"):
            out["offset_days"] = self.offset_days
            out["window_days"] = self.window_days
        if self.type in ("list_entered", "alert") and not self.include_current:
            out["include_current"] = False
        return out

    def summary(self) -> str:
        """The trigger in words, for the API and the run log: "When an account enters list “renewal-120”"."""
        if self.type in ("list_entered", "list_left"):
            verb = "enters" if self.type == "list_entered" else "leaves"
            current = " (accounts already in count when first published)" \
                if self.type == "list_entered" and self.include_current else ""
            return f"When an account {verb} list “{self.list}”{current}"
        if self.type == "alert":
            current = " (alerts already open count when first published)" if self.include_current else ""
            return f"When alert {self.rule} is raised on an account{current}"
        window = f", for {self.window_days} day{'s' if self.window_days != 1 else ''}"
        if self.type == "date":
            what = DATE_FIELDS.get(self.field or "", self.field or "")
            return f"{_offset_words(self.offset_days)} the {what}{window}"
        if self.type == "anniversary":
            months = [f"{m}" for m in self.months]
            listed = ", ".join(months[:-1]) + f" and {months[-1]}" if len(months) > 1 else "".join(months)
            yearly = ", every year" if self.every_year else ""
            return f"{_offset_words(self.offset_days)} each {listed}-month subscription anniversary{yearly}{window}"
        return "Started by hand"

    @property
    def reason(self) -> str:
        """What "the same reason" means for this trigger (one running copy per play, account and reason)."""
        if self.type in ("list_entered", "list_left"):
            return f"{self.type}:{self.list}"
        if self.type == "alert":
            return f"alert:{self.rule}"
        if self.type == "date":
            return f"date:{self.field}{self.offset_days:+d}"
        if self.type == "anniversary":
            return f"anniversary{self.offset_days:+d}"
        return "manual"


def _offset_words(days: int) -> str:
    if days == 0:
        return "On"
    return f"{abs(days)} day{'s' if abs(days) != 1 else ''} {'before' if days < 0 else 'after'}"


@dataclass(frozen=True, slots=True)
class Assign:
    to: str = "owner"
    role: str | None = None
    team: str = "owner_team"
    user: str | None = None
    fallback: str = "round_robin"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"to": self.to}
        if self.to == "role":
            out["role"] = self.role
        if self.to == "user":
            out["user"] = self.user
        if self.to in ("round_robin", "fewest_open_tasks", "fewest_accounts") or self.fallback == "round_robin":
            out["team"] = self.team
        out["fallback"] = self.fallback
        return out


@dataclass(frozen=True, slots=True)
class Step:
    type: str
    subject: str = ""
    description: str = ""
    due_days: int = 7
    priority: str = "normal"
    assign: Assign = Assign()
    days: int | None = None
    until: str | None = None
    to: str = "owner"
    url: str | None = None
    field: str | None = None
    value: str | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.type == "task":
            return {"type": "task", "subject": self.subject, "description": self.description,
                    "due_days": self.due_days, "priority": self.priority, "assign": self.assign.as_dict()}
        if self.type == "wait":
            return {"type": "wait", "days": self.days} if self.days is not None else {"type": "wait",
                                                                                        "until": self.until}
        if self.type == "email":
            return {"type": "email", "to": self.to, "subject": self.subject, "body": self.description}
        if self.type == "webhook":
            return {"type": "webhook", "url": self.url}
        return {"type": "set_field", "field": self.field, "value": self.value}

    def summary(self) -> str:
        """The step in a few words, for the editor, the preview and the run log."""
        if self.type == "task":
            return f"Task “{self.subject}” due in {self.due_days} day(s), {self.priority} priority, to {self.assign.to}"
        if self.type == "wait":
            return f"Wait {self.days} day(s)" if self.days is not None else "Wait until the previous task is done"
        if self.type == "email":
            return f"E-mail {self.to}: “{self.subject}”"
        if self.type == "webhook":
            return f"Call webhook {self.url}"
        return f"Set {SET_FIELDS.get(self.field or '', self.field)} to “{self.value}”"


@dataclass(frozen=True, slots=True)
class PlayDefinition:
    name: str
    description: str
    trigger: Trigger
    steps: tuple[Step, ...]
    auto_close: bool = False
    audience: ListDefinition | None = None
    key: str | None = None
    """The template this is (``usage-drop-get-well``...), None for a play written from scratch."""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": FORMAT_VERSION, "name": self.name, "description": self.description,
                               "trigger": self.trigger.as_dict(), "auto_close": self.auto_close}
        if self.audience is not None:
            out["audience"] = {"match": self.audience.match,
                               "conditions": [c.as_dict() for c in self.audience.conditions]}
        out["steps"] = [s.as_dict() for s in self.steps]
        if self.key:
            out["key"] = self.key
        return out

    @property
    def task_steps(self) -> int:
        return sum(1 for s in self.steps if s.type == "task")


def placeholders_in(text: str) -> list[str]:
    """The placeholder names a text uses; `ValueError` for braces that are not a plain ``{name}``."""
    names = []
    for _, name, spec, conversion in string.Formatter().parse(text):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(f"{{{name}}} is not a placeholder; write {{{{ and }}}} for literal braces")
        names.append(name)
    return names


def render(text: str, values: Mapping[str, str]) -> str:
    """``text`` with its placeholders filled (the definition was validated: every name is known)."""
    return text.format_map({name: values.get(name, "") for name in PLACEHOLDERS})


def _check_text(text: str) -> None:
    try:
        names = placeholders_in(text)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc
    unknown = [n for n in names if n not in PLACEHOLDERS]
    if unknown:
        raise ValidationError(f"unknown placeholder {{{unknown[0]}}}; known: "
                              + ", ".join("{" + p + "}" for p in PLACEHOLDERS))


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _offset(**kwargs: Any) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(-MAX_OFFSET, MAX_OFFSET), **kwargs)


class TriggerSchema(StrictSchema):
    type = fields.String(required=True, validate=validate.OneOf(TRIGGERS))
    list = fields.Raw()
    rule = fields.String()
    field = fields.String()
    offset_days = _offset()
    window_days = fields.Integer(strict=True, validate=validate.Range(1, 90))
    months = fields.List(fields.Integer(strict=True, validate=validate.Range(1, 120)),
                         validate=validate.Length(min=1, max=40))
    every_year = fields.Boolean()
    include_current = fields.Boolean()

    @validates_schema(skip_on_field_errors=False)
    def _consistent(self, data: dict[str, Any], **_: Any) -> None:
        kind = data.get("type")
        if kind is None:  # its own error says why
            return
        allowed = {"type"}
        needed: set[str] = set()
        if kind in ("list_entered", "list_left"):
            needed = {"list"}
            allowed |= {"list", "include_current"}
        elif kind == "alert":
            needed = {"rule"}
            allowed |= {"rule", "include_current"}
        elif kind == "date":
            needed = {"field", "offset_days"}
            allowed |= {"field", "offset_days", "window_days"}
        elif kind == "anniversary":
            needed = {"months"}
            allowed |= {"months", "every_year", "offset_days", "window_days"}
        if kind == "list_left":
            allowed.discard("include_current")
        errors: dict[str, str] = {}
        for name in sorted(needed):
            if data.get(name) is None:
                errors[name] = f"required for {_a(kind)} trigger"
        for name in sorted(set(data) - allowed):
            errors[name] = f"not used by {_a(kind)} trigger"
        if "list" in data and data["list"] is not None:
            value = data["list"]
            if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
                errors["list"] = "must be a list's key or id"
        if data.get("rule") is not None and data["rule"] not in ALERT_RULES:
            errors["rule"] = f"unknown alert rule {data['rule']!r}; known: {', '.join(sorted(ALERT_RULES))}"
        if data.get("field") is not None and data["field"] not in DATE_FIELDS:
            errors["field"] = f"must be one of {', '.join(DATE_FIELDS)}"
        if errors:
            raise ValidationError({k: [v] for k, v in errors.items()})

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Trigger:
        if "list" in data:
            data["list"] = str(data["list"]).strip()
        if "months" in data:
            data["months"] = tuple(sorted(set(data["months"])))
        return Trigger(**data)


class AssignSchema(StrictSchema):
    to = fields.String(load_default="owner", validate=validate.OneOf(ASSIGN_TO))
    role = fields.String(validate=validate.OneOf(list(ROLES)))
    team = fields.String(load_default="owner_team")
    user = fields.Email()
    fallback = fields.String(load_default="round_robin", validate=validate.OneOf(FALLBACKS))

    @validates_schema(skip_on_field_errors=False)
    def _consistent(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, str] = {}
        if data.get("to") == "role" and not data.get("role"):
            errors["role"] = "required when assigning to a role: " + ", ".join(ROLES)
        if data.get("to") != "role" and data.get("role"):
            errors["role"] = "only used when assigning to a role"
        if data.get("to") == "user" and not data.get("user"):
            errors["user"] = "required when assigning to a user (their e-mail)"
        if data.get("to") != "user" and data.get("user"):
            errors["user"] = "only used when assigning to a user"
        team = data.get("team", "owner_team")
        if team not in TEAMS and not (team.startswith("manager:") and "@" in team):
            errors["team"] = f"must be one of {', '.join(TEAMS)} or manager:<e-mail>"
        if errors:
            raise ValidationError({k: [v] for k, v in errors.items()})

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Assign:
        if data.get("user"):
            data["user"] = data["user"].strip().lower()
        if data.get("team", "").startswith("manager:"):
            data["team"] = "manager:" + data["team"][len("manager:"):].strip().lower()
        return Assign(**data)


def _text(max_length: int, **kwargs: Any) -> fields.String:
    return fields.String(validate=[validate.Length(max=max_length), _check_text], **kwargs)


class StepSchema(StrictSchema):
    type = fields.String(required=True, validate=validate.OneOf(STEP_TYPES))
    subject = _text(255)
    description = _text(4000)
    body = _text(8000)
    due_days = fields.Integer(strict=True, validate=validate.Range(0, 365))
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    assign = fields.Nested(AssignSchema)
    days = fields.Integer(strict=True, validate=validate.Range(1, 365))
    until = fields.String(validate=validate.OneOf(["task_done"]))
    to = fields.String()
    url = fields.String(validate=validate.Length(max=2000))
    field = fields.String()
    value = fields.String(validate=validate.Length(min=1, max=50))

    USES: dict[str, tuple[set[str], set[str]]] = {  # noqa: RUF012 — type -> (required, optional)
        "task": ({"subject"}, {"description", "due_days", "priority", "assign"}),
        "wait": (set(), {"days", "until"}),
        "email": ({"subject", "body"}, {"to"}),
        "webhook": ({"url"}, set()),
        "set_field": ({"field", "value"}, set()),
    }

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _consistent(self, data: dict[str, Any], original: Any = None, **_: Any) -> None:
        kind = data.get("type")
        if kind is None:  # its own error says why
            return
        needed, optional = self.USES[kind]
        given = original if isinstance(original, Mapping) else {}
        errors: dict[str, str] = {}
        for name in sorted(needed):
            if not data.get(name) and not given.get(name):
                errors[name] = f"required for {_a(kind)} step"
        for name in sorted(set(data) - needed - optional - {"type"}):
            errors[name] = f"not used by {_a(kind)} step"
        if kind == "task" and data.get("subject") is not None and not data["subject"].strip():
            errors["subject"] = "must hold visible text"
        if kind == "wait" and (data.get("days") is None) == (data.get("until") is None):
            errors["days"] = "a wait step names either days or until: task_done"
        if kind == "email" and data.get("to", "owner") not in ("owner", "assignee", "owner_manager") \
                and "@" not in data.get("to", ""):
            errors["to"] = "must be owner, assignee, owner_manager or an e-mail address"
        if kind == "webhook" and data.get("url"):
            problem = webhook_url_problem(data["url"])
            if problem:
                errors["url"] = problem
        if kind == "set_field" and data.get("field") is not None and data["field"] not in SET_FIELDS:
            errors["field"] = f"must be one of {', '.join(SET_FIELDS)}"
        if errors:
            raise ValidationError({k: [v] for k, v in errors.items()})

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> Step:
        if "body" in data:
            data["description"] = data.pop("body")
        for key in ("subject", "description"):
            if key in data:
                data[key] = data[key].strip()
        if "to" in data:
            data["to"] = data["to"].strip().lower()
        return Step(**data)


def webhook_url_problem(url: str) -> str | None:
    """Why a webhook URL is refused (None: fine): https, or http only to this machine (a local relay)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "is not a URL"
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"):
        return None
    return "must be an https:// URL (http:// only to localhost)"


class AudienceSchema(StrictSchema):
    match = fields.String(load_default="all", validate=validate.OneOf(["all", "any"]))
    conditions = fields.List(fields.Nested(ConditionSchema), required=True, validate=validate.Length(min=1, max=20))


class PlaySchema(StrictSchema):
    version = fields.Integer(load_default=FORMAT_VERSION, validate=validate.Equal(FORMAT_VERSION))
    key = fields.String(load_default=None, validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,63}$",
                                                                   error="lower-case letters, digits and dashes"))
    name = fields.String(required=True, validate=[validate.Length(min=1, max=120), visible_text])
    description = fields.String(load_default="", validate=validate.Length(max=2000))
    trigger = fields.Nested(TriggerSchema, required=True)
    auto_close = fields.Boolean(load_default=False)
    audience = fields.Nested(AudienceSchema, load_default=None)
    steps = fields.List(fields.Nested(StepSchema), required=True, validate=validate.Length(min=1, max=MAX_STEPS))

    @validates_schema(skip_on_field_errors=False)
    def _consistent(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, str] = {}
        trigger = data.get("trigger")
        if data.get("auto_close") and isinstance(trigger, Trigger) and trigger.type not in CLEARABLE:
            errors["auto_close"] = (f"{_a(trigger.type)} trigger never clears; auto_close applies to "
                                    + ", ".join(CLEARABLE))
        seen_task = False
        for i, step in enumerate(data.get("steps") or ()):
            if not isinstance(step, Step):
                continue
            if step.type == "wait" and step.until == "task_done" and not seen_task:
                errors[f"steps.{i}.until"] = "waits for the previous task, but no task step comes before it"
            if step.type == "email" and step.to == "assignee" and not seen_task:
                errors[f"steps.{i}.to"] = "e-mails the previous task's assignee, but no task step comes before it"
            seen_task = seen_task or step.type == "task"
        if errors:
            raise ValidationError({k: [v] for k, v in errors.items()})

    @post_load
    def _make(self, data: dict[str, Any], **_: Any) -> PlayDefinition:
        audience = None
        if data.get("audience"):
            audience = ListDefinition(name=f"{data['name'].strip()} audience", description="",
                                      match=data["audience"]["match"],
                                      conditions=tuple(data["audience"]["conditions"]))
        return PlayDefinition(name=data["name"].strip(), description=data["description"].strip(),
                              trigger=data["trigger"], steps=tuple(data["steps"]), auto_close=data["auto_close"],
                              audience=audience, key=data["key"])


def load_definition(source: Mapping[str, Any] | str) -> PlayDefinition:
    """Validate a play given as a mapping, or as YAML/JSON text. Raises `PlayError` naming every problem."""
    try:
        document = parse_text(source) if isinstance(source, str) else source
    except ListError as exc:
        raise PlayError(exc.errors) from exc
    if not isinstance(document, Mapping):
        raise PlayError(["(document): must be a mapping with name, trigger and steps"])
    try:
        definition: PlayDefinition = PlaySchema().load(document)
    except ValidationError as exc:
        raise PlayError(sorted(flatten_messages(exc.messages))) from exc
    return definition


def dump_text(definition: PlayDefinition | Mapping[str, Any]) -> str:
    """The document as YAML for the editor: the trigger and each step on one line."""
    data = definition.as_dict() if isinstance(definition, PlayDefinition) else dict(definition)
    head = {k: v for k, v in data.items() if k in ("name", "description")}
    text = yaml.safe_dump(head, sort_keys=False, allow_unicode=True, width=100)
    text += f"trigger: {json.dumps(data['trigger'], ensure_ascii=False)}\n"
    text += f"auto_close: {'true' if data.get('auto_close') else 'false'}\n"
    if data.get("audience"):
        text += f"audience:\n  match: {data['audience'].get('match', 'all')}\n  conditions:\n"
        text += "".join(f"    - {json.dumps(c, ensure_ascii=False)}\n" for c in data["audience"]["conditions"])
    text += "steps:\n" + "".join(f"  - {json.dumps(s, ensure_ascii=False)}\n" for s in data.get("steps", ()))
    return text
