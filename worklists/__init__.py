"""Portfolio lists (pure): saved account segments as validated data, evaluated over plain facts.

No I/O and no clock: `sync.lists` loads the facts from the store and writes memberships; the console
and API show them. See docs/lists.md.
"""

from worklists.columns import FactColumns, evaluate_columns
from worklists.defaults import default_lists
from worklists.definition import (
    FIELDS,
    FORMAT_VERSION,
    OPERATORS,
    Condition,
    ListDefinition,
    ListError,
    dump_text,
    field_kind,
    load_definition,
)
from worklists.evaluate import Member, add_months, anniversaries, evaluate
from worklists.facts import AccountFacts, EarlierHealth, OpenAlert

__all__ = [
    "FIELDS",
    "FORMAT_VERSION",
    "OPERATORS",
    "AccountFacts",
    "Condition",
    "EarlierHealth",
    "FactColumns",
    "ListDefinition",
    "ListError",
    "Member",
    "OpenAlert",
    "add_months",
    "anniversaries",
    "default_lists",
    "dump_text",
    "evaluate",
    "evaluate_columns",
    "field_kind",
    "load_definition",
]
