"""The campaign console's forms as documents, and back: the audience editor's fields, the draft editor's steps
(add, remove, move up and down without saving — the page is drawn again from what was typed, so nothing is lost),
goal and settings. Pure: no store, no Flask; the documents are validated by `campaigns.definition`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from campaigns.definition import CONTACT_ROLES, STEP_KINDS

STEP_FIELDS: dict[str, tuple[str, ...]] = {
    "send_email": ("subject", "html", "text"),
    "send_in_app": ("title", "body", "cta_label", "cta_url", "in_app_kind", "push"),
    "wait": ("days",),
    "branch": ("on", "step", "list_id", "then", "else"),
    "create_task": ("title", "due_days"),
}
INT_FIELDS = frozenset({"days", "step", "list_id", "then", "else", "due_days"})
STEP_LABELS = {"send_email": "Send an e-mail", "send_in_app": "Show an in-app message", "wait": "Wait",
               "branch": "Branch", "create_task": "Create a task"}
NEW_STEPS: dict[str, dict[str, Any]] = {
    "send_email": {"kind": "send_email", "subject": "Hello {{ user.name }}",
                   "html": ("<p>Hi {{ user.name }},</p>\n<p>…</p>\n"
                            "<p><a href=\"{{ unsubscribe_url }}\">Unsubscribe</a></p>")},
    "send_in_app": {"kind": "send_in_app", "title": "Did you know?", "body": "…", "in_app_kind": "banner"},
    "wait": {"kind": "wait", "days": 3},
    "branch": {"kind": "branch", "on": "goal", "then": 0, "else": 0},
    "create_task": {"kind": "create_task", "title": "Call {{ account.name }}", "due_days": 3},
}
AUDIENCE_INTS = ("active_within_days", "inactive_days", "usage_window_days", "joined_within_days")
GOAL_KINDS_UI = ("", "event", "list_entered", "list_left", "field")


class FormError(ValueError):
    """A field that is not even the right shape (a number field holding words)."""


def _int(value: Any, where: str) -> int | None:
    text = str(value if value is not None else "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise FormError(f"{where} must be a whole number, not {text!r}") from None


def _names(value: Any) -> list[str]:
    return [n.strip() for n in str(value or "").replace("\n", ",").split(",") if n.strip()]


def audience_from_form(form: Mapping[str, Any], getlist: Any) -> dict[str, Any]:
    """The audience document the editor's fields describe (empty fields left out)."""
    doc: dict[str, Any] = {}
    roles = [r for r in getlist("roles") if r]
    if roles:
        doc["roles"] = roles
    title = str(form.get("title_contains") or "").strip()
    if title:
        doc["title_contains"] = title
    for name in AUDIENCE_INTS:
        number = _int(form.get(name), name.replace("_", " "))
        if number is not None:
            doc[name] = number
    for name in ("used", "not_used", "tiers"):
        values = _names(form.get(name))
        if values:
            doc[name] = values
    lists = [_int(v, "list") for v in getlist("lists") if str(v).strip()]
    if lists:
        doc["lists"] = lists
    return doc


def audience_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The editor's field values for an audience document."""
    return {"roles": list(doc.get("roles") or []), "title_contains": doc.get("title_contains") or "",
            **{n: doc.get(n, "") for n in AUDIENCE_INTS},
            **{n: ", ".join(doc.get(n) or []) for n in ("used", "not_used", "tiers")},
            "lists": [int(i) for i in doc.get("lists") or []]}


def steps_from_form(form: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The steps typed in the editor, in order (``step-<i>-<field>``), each with only its kind's fields.
    Whole-number fields stay text when they are not numbers, for the validator to name."""
    count = _int(form.get("step_count"), "step count") or 0
    steps: list[dict[str, Any]] = []
    for i in range(1, min(count, 60) + 1):
        kind = str(form.get(f"step-{i}-kind") or "")
        if kind not in STEP_KINDS:
            continue
        step: dict[str, Any] = {"kind": kind}
        for name in STEP_FIELDS[kind]:
            raw = form.get(f"step-{i}-{name}")
            if raw is None or (isinstance(raw, str) and raw == "" and name not in ("subject", "html", "title",
                                                                                   "body")):
                continue
            if name in INT_FIELDS:
                try:
                    step[name] = int(str(raw).strip())
                except ValueError:
                    step[name] = str(raw)
            elif name == "in_app_kind" and kind == "send_in_app":
                step[name] = str(raw)
            elif name == "push":
                step[name] = True  # a ticked box; an unticked one is not sent at all
            else:
                step[name] = str(raw).replace("\r\n", "\n")
        steps.append(step)
    return steps


def apply_op(steps: list[dict[str, Any]], op: str) -> tuple[list[dict[str, Any]], str]:
    """``add:<kind>``, ``remove:<n>``, ``up:<n>``, ``down:<n>`` on the typed steps; (steps, what happened).
    Branch targets naming moved steps are renumbered so they keep pointing at the same step."""
    verb, _, arg = op.partition(":")
    steps = [dict(s) for s in steps]
    if verb == "add" and arg in NEW_STEPS:
        steps.append(dict(NEW_STEPS[arg]))
        return steps, f"{STEP_LABELS[arg]} added as step {len(steps)} (not saved yet)"
    try:
        n = int(arg)
    except ValueError:
        raise FormError(f"unknown editor action {op!r}") from None
    if not 1 <= n <= len(steps):
        raise FormError(f"there is no step {n}")
    order = list(range(1, len(steps) + 1))
    if verb == "remove":
        order.remove(n)
        what = f"step {n} removed (not saved yet)"
    elif verb in ("up", "down"):
        m = n - 1 if verb == "up" else n + 1
        if not 1 <= m <= len(steps):
            return steps, f"step {n} is already {'first' if verb == 'up' else 'last'}"
        order[n - 1], order[m - 1] = order[m - 1], order[n - 1]
        what = f"step {n} moved {verb} (not saved yet)"
    else:
        raise FormError(f"unknown editor action {op!r}")
    new_position = {old: new for new, old in enumerate(order, start=1)}
    out = []
    for old in order:
        step = steps[old - 1]
        for name in ("step", "then", "else"):
            target = step.get(name)
            if isinstance(target, int) and not isinstance(target, bool) and target > 0:
                step[name] = new_position.get(target, 0)
        out.append(step)
    return out, what


def goal_from_form(form: Mapping[str, Any]) -> dict[str, Any] | None:
    kind = str(form.get("goal_kind") or "")
    if not kind:
        return None
    if kind == "event":
        return {"kind": kind, "event": str(form.get("goal_event") or "").strip()}
    if kind in ("list_entered", "list_left"):
        return {"kind": kind, "list_id": _int(form.get("goal_list_id"), "goal list")}
    return {"kind": kind, "field": str(form.get("goal_field") or ""), "value": str(form.get("goal_value") or "")}


def role_choices() -> list[tuple[str, str]]:
    return [(r, r.replace("_", " ")) for r in CONTACT_ROLES]
