"""What a campaign is, as validated documents (pure: no I/O, no clock): its audience, its steps and its goal.

Every error is a `DefinitionError` naming the field and what is wrong, in words; a valid document comes back
normalised (``as_dict``) and is what the store keeps.

**Audience** (every condition given must hold; none given: everyone with an e-mail)::

    {"roles": ["champion"], "title_contains": "VP", "active_within_days": 14 | "inactive_days": 30,
     "used": ["report_created"], "not_used": ["export"], "usage_window_days": 30,
     "tiers": ["enterprise"], "joined_within_days": 30, "lists": [3, 4]}

**Steps**: ``[{"kind": "send_email", "subject": …, "html": …, "text": …}, {"kind": "wait", "days": 3},
{"kind": "branch", "on": "opened", "step": 1, "then": 4, "else": 0}, …]`` — positions count from 1; a branch
jumps forward only (``0`` ends the track), so every track ends. A ``send_in_app`` step (``title``, ``body``,
optional ``cta_label`` / ``cta_url``, ``in_app_kind`` banner|modal) with ``"push": true`` is also sent as Web Push.

**Goal**: ``{"kind": "event", "event": "report_created"}``, ``{"kind": "list_entered" | "list_left",
"list_id": 3}`` or ``{"kind": "field", "field": "account.tier", "value": "enterprise"}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mail.templates import MailTemplate, TemplateError, check_template

CONTACT_ROLES = ("executive_sponsor", "champion", "admin", "user")
MAX_DAYS = 3650
GOAL_FIELDS = ("account.tier", "account.segment", "account.lifecycle_stage", "account.health_band", "user.role",
               "user.title")
BRANCH_ON = ("opened", "clicked", "goal", "list")
IN_APP_KINDS = ("banner", "modal")


class DefinitionError(ValueError):
    """An audience, step list or goal that cannot be used; the message names the field."""


def _days(doc: Mapping[str, Any], name: str, where: str) -> int | None:
    value = doc.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        raise DefinitionError(f"{where}{name} must be a whole number of days from 1 to {MAX_DAYS}, not {value!r}")
    return value


def _names(doc: Mapping[str, Any], name: str, where: str = "audience: ") -> tuple[str, ...]:
    value = doc.get(name)
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise DefinitionError(f"{where}{name} must be a list of event names, not {value!r}")
    out = []
    for item in value:
        if not isinstance(item, str) or not item.strip() or len(item.strip()) > 200:
            raise DefinitionError(f"{where}{name} holds {item!r}: an event name is 1 to 200 characters")
        out.append(item.strip())
    return tuple(dict.fromkeys(out))


def _ids(value: Any, name: str, where: str) -> tuple[int, ...]:
    if value is None:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise DefinitionError(f"{where}{name} must be a list of list ids, not {value!r}")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or item < 1:
            raise DefinitionError(f"{where}{name} holds {item!r}: a list id is a positive whole number")
    return tuple(dict.fromkeys(value))


AUDIENCE_KEYS = ("roles", "title_contains", "active_within_days", "inactive_days", "used", "not_used",
                 "usage_window_days", "tiers", "joined_within_days", "lists")


@dataclass(frozen=True)
class Audience:
    roles: tuple[str, ...] = ()
    title_contains: str | None = None
    active_within_days: int | None = None
    inactive_days: int | None = None
    used: tuple[str, ...] = ()
    not_used: tuple[str, ...] = ()
    usage_window_days: int = 30
    tiers: tuple[str, ...] = ()
    joined_within_days: int | None = None
    lists: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in AUDIENCE_KEYS:
            value = getattr(self, key)
            if value in (None, ()) or (key == "usage_window_days" and not (self.used or self.not_used)):
                continue
            out[key] = list(value) if isinstance(value, tuple) else value
        return out


def parse_audience(doc: Any) -> Audience:
    """The audience a document describes, or `DefinitionError`."""
    if not isinstance(doc, Mapping):
        raise DefinitionError("audience: must be an object of conditions")
    unknown = sorted(set(doc) - set(AUDIENCE_KEYS))
    if unknown:
        raise DefinitionError(f"audience: unknown condition(s) {', '.join(unknown)}; known: {', '.join(AUDIENCE_KEYS)}")
    roles = doc.get("roles") or []
    if isinstance(roles, str) or not isinstance(roles, Sequence) or any(r not in CONTACT_ROLES for r in roles):
        raise DefinitionError(f"audience: roles must be a list of {', '.join(CONTACT_ROLES)}, not {roles!r}")
    title = doc.get("title_contains")
    if title is not None and (not isinstance(title, str) or not title.strip() or len(title) > 300):
        raise DefinitionError(f"audience: title_contains must be 1 to 300 characters, not {title!r}")
    active, inactive = _days(doc, "active_within_days", "audience: "), _days(doc, "inactive_days", "audience: ")
    if active is not None and inactive is not None:
        raise DefinitionError("audience: active_within_days and inactive_days exclude each other; give one")
    used, not_used = _names(doc, "used"), _names(doc, "not_used")
    both = sorted(set(used) & set(not_used))
    if both:
        raise DefinitionError(f"audience: {', '.join(both)} cannot be both used and not used")
    tiers = doc.get("tiers") or []
    if isinstance(tiers, str) or not isinstance(tiers, Sequence) or any(
            not isinstance(t, str) or not t.strip() or len(t) > 50 for t in tiers):
        raise DefinitionError(f"audience: tiers must be a list of plan tier names, not {tiers!r}")
    return Audience(roles=tuple(dict.fromkeys(roles)), title_contains=title.strip() if title else None,
                    active_within_days=active, inactive_days=inactive, used=used, not_used=not_used,
                    usage_window_days=_days(doc, "usage_window_days", "audience: ") or 30,
                    tiers=tuple(dict.fromkeys(t.strip() for t in tiers)),
                    joined_within_days=_days(doc, "joined_within_days", "audience: "),
                    lists=_ids(doc.get("lists"), "lists", "audience: "))


GOAL_KINDS = ("event", "list_entered", "list_left", "field")


@dataclass(frozen=True)
class Goal:
    kind: str
    event: str | None = None
    list_id: int | None = None
    field: str | None = None
    value: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in (("kind", self.kind), ("event", self.event), ("list_id", self.list_id),
                                  ("field", self.field), ("value", self.value)) if v is not None}


def parse_goal(doc: Any, where: str = "goal: ") -> Goal:
    if not isinstance(doc, Mapping) or doc.get("kind") not in GOAL_KINDS:
        raise DefinitionError(f"{where}kind must be one of {', '.join(GOAL_KINDS)}")
    kind = str(doc["kind"])
    if kind == "event":
        names = _names({"event": [doc.get("event")]}, "event", where)
        return Goal(kind, event=names[0])
    if kind in ("list_entered", "list_left"):
        return Goal(kind, list_id=_ids([doc.get("list_id")], "list_id", where)[0])
    if doc.get("field") not in GOAL_FIELDS:
        raise DefinitionError(f"{where}field must be one of {', '.join(GOAL_FIELDS)}, not {doc.get('field')!r}")
    value = doc.get("value")
    if not isinstance(value, str) or not value.strip() or len(value) > 300:
        raise DefinitionError(f"{where}value must be 1 to 300 characters, not {value!r}")
    return Goal(kind, field=str(doc["field"]), value=value.strip())


STEP_KINDS = ("send_email", "send_in_app", "wait", "branch", "create_task")


@dataclass(frozen=True)
class Step:
    position: int
    kind: str
    config: dict[str, Any] = field(default_factory=dict)

    def template(self) -> MailTemplate:
        return MailTemplate(subject=self.config["subject"], html=self.config["html"], text=self.config.get("text"))


def _text(doc: Mapping[str, Any], name: str, where: str, limit: int, required: bool = True) -> str | None:
    value = doc.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise DefinitionError(f"{where}{name} must be text of 1 to {limit} characters")
    return value


def _step(doc: Any, position: int, count: int, earlier: dict[int, str]) -> Step:
    where = f"step {position}: "
    if not isinstance(doc, Mapping) or doc.get("kind") not in STEP_KINDS:
        raise DefinitionError(f"{where}kind must be one of {', '.join(STEP_KINDS)}")
    kind = str(doc["kind"])
    config: dict[str, Any]
    if kind == "send_email":
        config = {"subject": _text(doc, "subject", where, 998), "html": _text(doc, "html", where, 200_000)}
        text = _text(doc, "text", where, 200_000, required=False)
        if text is not None:
            config["text"] = text
        try:
            check_template(MailTemplate(subject=config["subject"], html=config["html"], text=text))
        except TemplateError as exc:
            raise DefinitionError(f"{where}{exc}") from None
    elif kind == "send_in_app":
        in_app_kind = doc.get("in_app_kind", "banner")
        if in_app_kind not in IN_APP_KINDS:
            raise DefinitionError(f"{where}in_app_kind must be one of {', '.join(IN_APP_KINDS)}")
        config = {"title": _text(doc, "title", where, 200), "body": _text(doc, "body", where, 2000),
                  "cta_label": _text(doc, "cta_label", where, 60, required=False),
                  "cta_url": _text(doc, "cta_url", where, 2000, required=False), "in_app_kind": in_app_kind}
        if config["cta_url"] is not None and not str(config["cta_url"]).startswith(("https://", "http://")):
            raise DefinitionError(f"{where}cta_url must be an http(s) URL")
        push = doc.get("push", False)
        if not isinstance(push, bool):
            raise DefinitionError(f"{where}push must be true or false, not {push!r}")
        if push:
            config["push"] = True
    elif kind == "wait":
        config = {"days": _days(doc, "days", where)}
        if config["days"] is None:
            raise DefinitionError(f"{where}a wait needs days")
    elif kind == "branch":
        on = doc.get("on")
        if on not in BRANCH_ON:
            raise DefinitionError(f"{where}on must be one of {', '.join(BRANCH_ON)}")
        config = {"on": on}
        if on in ("opened", "clicked"):
            target = doc.get("step")
            if earlier.get(target) != "send_email":  # type: ignore[arg-type]
                raise DefinitionError(f"{where}step must be the position of an earlier send_email step")
            config["step"] = target
        elif on == "list":
            config["list_id"] = _ids([doc.get("list_id")], "list_id", where)[0]
        elif doc.get("goal") is not None:
            config["goal"] = parse_goal(doc["goal"], where + "goal: ").as_dict()
        for name in ("then", "else"):
            target = doc.get(name)
            if isinstance(target, bool) or not isinstance(target, int) or not (
                    target == 0 or position < target <= count):
                raise DefinitionError(f"{where}{name} must be a later step's position (up to {count}) or 0 to end")
            config[name] = target
    else:
        due = doc.get("due_days", 3)
        if isinstance(due, bool) or not isinstance(due, int) or not 0 <= due <= 365:
            raise DefinitionError(f"{where}due_days must be 0 to 365")
        config = {"title": _text(doc, "title", where, 500), "due_days": due}
    return Step(position, kind, config)


def parse_steps(docs: Any) -> list[Step]:
    """The ordered steps, or `DefinitionError` naming the first bad one."""
    if isinstance(docs, str) or not isinstance(docs, Sequence) or not docs:
        raise DefinitionError("steps: a campaign needs a list of at least one step")
    if len(docs) > 50:
        raise DefinitionError("steps: at most 50 steps")
    earlier: dict[int, str] = {}
    steps = []
    for position, doc in enumerate(docs, start=1):
        step = _step(doc, position, len(docs), earlier)
        earlier[position] = step.kind
        steps.append(step)
    return steps
