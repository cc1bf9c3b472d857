"""The lists shipped with Canary (`default_lists.yaml`), validated like any other definition."""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml

from worklists.definition import ListDefinition, ListError, load_definition


@cache
def default_lists() -> tuple[ListDefinition, ...]:
    text = resources.files("worklists").joinpath("default_lists.yaml").read_text(encoding="utf-8")
    documents = yaml.safe_load(text)
    out = []
    for i, document in enumerate(documents):
        try:
            out.append(load_definition(document))
        except ListError as exc:  # a shipped list that does not load is a bug: say which one
            raise ListError([f"default_lists.yaml item {i}: {e}" for e in exc.errors]) from exc
    return tuple(out)
