"""Plays (pure): triggers, audiences and steps as validated data, when they fire, and who gets the work.

No I/O and no clock: `sync.plays` loads the inputs from the store, keeps runs and makes the tasks,
e-mails, webhook calls and field changes; the console and API show them. See docs/plays.md.
"""

from plays.assign import AccountPeople, Assigner, Assignment, Person
from plays.definition import (
    ASSIGN_TO,
    CLEARABLE,
    DATE_FIELDS,
    PLACEHOLDERS,
    SET_FIELDS,
    STEP_TYPES,
    TRIGGERS,
    Assign,
    PlayDefinition,
    PlayError,
    Step,
    Trigger,
    dump_text,
    load_definition,
    render,
)
from plays.templates import template, templates
from plays.triggers import Departure, Firing, Membership, RaisedAlert, TriggerInputs, firings, still_holds

__all__ = [
    "ASSIGN_TO",
    "CLEARABLE",
    "DATE_FIELDS",
    "PLACEHOLDERS",
    "SET_FIELDS",
    "STEP_TYPES",
    "TRIGGERS",
    "AccountPeople",
    "Assign",
    "Assigner",
    "Assignment",
    "Departure",
    "Firing",
    "Membership",
    "Person",
    "PlayDefinition",
    "PlayError",
    "RaisedAlert",
    "Step",
    "Trigger",
    "TriggerInputs",
    "dump_text",
    "firings",
    "load_definition",
    "render",
    "still_holds",
    "template",
    "templates",
]
