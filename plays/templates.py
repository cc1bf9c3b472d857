"""The ready-made plays shipped with Canary (`templates.yaml`), validated like any other definition."""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml

from plays.definition import PlayDefinition, PlayError, load_definition


@cache
def templates() -> tuple[PlayDefinition, ...]:
    text = resources.files("plays").joinpath("templates.yaml").read_text(encoding="utf-8")
    out = []
    for i, document in enumerate(yaml.safe_load(text)):
        try:
            out.append(load_definition(document))
        except PlayError as exc:  # a shipped template that does not load is a bug: say which one
            raise PlayError([f"templates.yaml item {i}: {e}" for e in exc.errors]) from exc
    return tuple(out)


def template(key: str) -> PlayDefinition:
    """The template named `key`; `KeyError` naming the known keys when there is none."""
    for definition in templates():
        if definition.key == key:
            return definition
    raise KeyError(f"no play template {key!r}; known: {', '.join(t.key or '' for t in templates())}")
