"""Seeded changes to a running sandbox's vendor records, and the state a fresh full sync should reach.

`mutate` applies ``changes`` field edits, ``deletions`` and ``merges`` across the running
emulators, drawn from a ``random.Random(seed)`` over the records sorted by system, type and
id, so one seed on one world always makes the same mutation. Merges go first (two distinct
live accounts/companies each, Salesforce and HubSpot taking turns; Zendesk has no organization
merge), then
deletions (never a record of a merge), then changes (only live records). Every edit goes
through the emulator's in-process API, stamped by its clock, as a user's edit would be.

`work_tasks` is a CRM user working the tasks Canary made there: completing, re-dating and
reassigning them (`Sandbox.work_tasks`, `canary sandbox` has no process to reach, so tests and
scripts call it on a running sandbox).

`world_state` reads the emulators back: per system the live ids of every object type, the ids
deleted since seeding and each merged id with the record it resolves to.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

Rng = random.Random
ValueMaker = Callable[[Rng], dict[str, Any]]

TITLES = ("CTO", "VP Operations", "Head of Support", "Director of IT", "COO", "Engineering Manager")
_SF_CASE_STATUSES = ("Working", "Escalated", "Closed")

CHANGES: dict[str, dict[str, ValueMaker]] = {
    "salesforce": {
        "Account": lambda rng: {"NumberOfEmployees": rng.randint(5, 5000)},
        "Contact": lambda rng: {"Title": rng.choice(TITLES)},
        "Opportunity": lambda rng: {"Amount": float(rng.randint(1_000, 200_000))},
        "Case": lambda rng: {"Status": rng.choice(_SF_CASE_STATUSES), "Priority": rng.choice(("Low", "High"))},
    },
    "zendesk": {
        "organizations": lambda rng: {"notes": f"account review {rng.randint(1, 9999)}"},
        "users": lambda rng: {"phone": f"+1555{rng.randint(1_000_000, 9_999_999)}"},
        "tickets": lambda rng: {"status": rng.choice(("open", "pending", "solved")),
                                "priority": rng.choice(("low", "normal", "high", "urgent"))},
    },
    "hubspot": {
        "companies": lambda rng: {"numberofemployees": str(rng.randint(5, 5000))},
        "contacts": lambda rng: {"jobtitle": rng.choice(TITLES)},
        "deals": lambda rng: {"amount": str(rng.randint(1_000, 200_000))},
        "tickets": lambda rng: {"hs_ticket_priority": rng.choice(("LOW", "MEDIUM", "HIGH"))},
    },
}  # fmt: skip
"""Per system and object type: what a random edit writes."""
DELETABLE: dict[str, tuple[str, ...]] = {
    "salesforce": ("Account", "Contact", "Opportunity", "Case"),
    "zendesk": ("organizations", "tickets"),
    "hubspot": ("companies", "contacts", "deals", "tickets"),
}
MERGEABLE: dict[str, str] = {"salesforce": "Account", "hubspot": "companies"}


@dataclass(frozen=True)
class Change:
    system: str
    object_type: str
    record_id: str
    values: dict[str, Any]


@dataclass(frozen=True)
class Deletion:
    system: str
    object_type: str
    record_id: str


@dataclass(frozen=True)
class Merge:
    system: str
    object_type: str
    primary_id: str
    merged_id: str


@dataclass
class Mutation:
    """What `mutate` did, in the order it did it (merges, deletions, changes)."""

    merges: list[Merge] = field(default_factory=list)
    deletions: list[Deletion] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def live_ids(system: str, emulator: Any, object_type: str) -> list[str]:
    """Ids of the records of one type that exist (not deleted, archived or merged), sorted."""
    if system == "salesforce":
        return sorted(r["Id"] for r in emulator.records(object_type))
    if system == "zendesk":
        rows = emulator.records(object_type)
        return sorted(str(r["id"]) for r in rows if not emulator.is_deleted(object_type, r["id"]))
    return sorted(r["id"] for r in emulator.records(object_type) if not r["archived"])


def mutate(emulators: Mapping[str, Any], changes: int, deletions: int, merges: int, seed: int) -> Mutation:
    """Apply the mutation drawn from ``seed`` to the running emulators; see the module docstring."""
    rng = random.Random(seed)
    out = Mutation()
    used: set[tuple[str, str]] = set()
    mergeable = [s for s in sorted(MERGEABLE) if s in emulators]
    start = rng.randrange(len(mergeable)) if mergeable else 0
    for n in range(merges if mergeable else 0):
        system = mergeable[(start + n) % len(mergeable)]  # the systems take turns
        object_type = MERGEABLE[system]
        pool = [i for i in live_ids(system, emulators[system], object_type) if (system, i) not in used]
        if len(pool) < 2:
            break
        primary, merged = rng.sample(pool, 2)
        used.update({(system, primary), (system, merged)})
        emulators[system].merge(object_type, primary, merged)
        out.merges.append(Merge(system, object_type, primary, merged))
    for system, object_type, record_id in _draw(rng, emulators, DELETABLE, deletions, used):
        emulators[system].delete(object_type, [record_id])
        out.deletions.append(Deletion(system, object_type, record_id))
    changeable = {system: tuple(types) for system, types in CHANGES.items()}
    for system, object_type, record_id in _draw(rng, emulators, changeable, changes, set(), repeat=True):
        values = CHANGES[system][object_type](rng)
        emulators[system].update(object_type, record_id, values)
        out.changes.append(Change(system, object_type, record_id, values))
    return out


def _draw(
    rng: Rng,
    emulators: Mapping[str, Any],
    types: Mapping[str, tuple[str, ...]],
    count: int,
    excluded: set[tuple[str, str]],
    repeat: bool = False,
) -> list[tuple[str, str, str]]:
    """``count`` live records (system, type, id) from the running systems, drawn from ``rng``."""
    pool = [
        (system, object_type, record_id)
        for system in sorted(types)
        if system in emulators
        for object_type in types[system]
        for record_id in live_ids(system, emulators[system], object_type)
        if (system, record_id) not in excluded
    ]
    if repeat:
        return [rng.choice(pool) for _ in range(count)] if pool else []
    return rng.sample(pool, min(count, len(pool)))


def world_state(emulators: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per system: ``alive`` ids by type, ``deleted`` ids by type, ``merged`` {merged id: primary} by type."""
    out: dict[str, dict[str, Any]] = {}
    for system in sorted(emulators):
        emulator = emulators[system]
        alive = {t: live_ids(system, emulator, t) for t in CHANGES[system]}
        deleted = {t: [str(i) for i in emulator.deleted_ids(t)] for t in DELETABLE[system]}
        merged = {MERGEABLE[system]: emulator.merged_ids(MERGEABLE[system])} if system in MERGEABLE else {}
        out[system] = {"alive": alive, "deleted": deleted, "merged": {t: m for t, m in merged.items() if m}}
    return out


# ------------------------------------------------------------------ a CRM user working Canary's tasks

TASK_OBJECTS: dict[str, str] = {"salesforce": "Task", "hubspot": "tasks"}
"""The CRMs that keep tasks, and their task object."""
TASK_KEYS: dict[str, str] = {"salesforce": "Canary_Task_Key__c", "hubspot": "canary_task_key"}


@dataclass(frozen=True)
class TaskEdit:
    """One change a CRM user made to a Canary task there: ``complete``, ``redate`` or ``reassign``."""

    system: str
    task_id: str
    key: str
    action: str
    value: str | None = None
    """The new due date (ISO day) or owner id."""


def open_canary_tasks(system: str, emulator: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """(task id, Canary key, the record's values) of the open tasks Canary made in one CRM, by id."""
    key_name = TASK_KEYS[system]
    if system == "salesforce":
        return [(r["Id"], r[key_name], r) for r in emulator.records("Task")
                if r.get(key_name) and not r.get("IsClosed")]
    return [(r["id"], r["properties"][key_name], r["properties"]) for r in emulator.records("tasks")
            if not r["archived"] and r["properties"].get(key_name)
            and r["properties"].get("hs_task_status") != "COMPLETED"]


def active_owners(system: str, emulator: Any) -> list[str]:
    if system == "salesforce":
        return sorted(r["Id"] for r in emulator.records("User") if r.get("IsActive") is True)
    return sorted(o for o, row in emulator.store.owners.items() if not row.get("archived"))


def work_tasks(emulators: Mapping[str, Any], complete: int = 0, redate: int = 0, reassign: int = 0,
               seed: int = 0, systems: tuple[str, ...] | None = None,
               task_of: Mapping[str, Hashable] | None = None) -> list[TaskEdit]:
    """A CRM user at work on Canary's open tasks: ``complete`` marked completed, ``redate`` given a due date
    a week later, ``reassign`` given to another active user, spread over the CRMs (distinct tasks, drawn
    from ``random.Random(seed)``), each through the emulator's in-process API as a user's edit would be.

    A Canary task of an account in both CRMs has a copy in each, under a different key per CRM; nothing in
    the CRMs' records ties the two together, so a caller who knows (Canary's task links) passes ``task_of``:
    key → Canary task, and one copy of each task is drawn. Without it every copy counts as a task. The pool
    is ordered by the CRMs' record ids, never by the keys (random per push), so a seed always draws the
    same records of the same world."""
    rng = random.Random(seed)
    copies: dict[Hashable, list[tuple[str, str, str, dict[str, Any]]]] = {}
    for system in sorted(systems or TASK_OBJECTS):
        if system in emulators and system in TASK_OBJECTS:
            for task_id, key, values in open_canary_tasks(system, emulators[system]):
                task = task_of.get(key, key) if task_of is not None else key
                copies.setdefault(task, []).append((system, task_id, key, values))
    groups = sorted((sorted(rows, key=_record_order) for rows in copies.values()),
                    key=lambda rows: _record_order(rows[0]))
    pool = [rows[0] if len(rows) == 1 else rng.choice(rows) for rows in groups]
    wanted = [("complete", complete), ("redate", redate), ("reassign", reassign)]
    if sum(n for _, n in wanted) > len(pool):
        raise ValueError(f"only {len(pool)} open Canary tasks in the CRMs; asked for {sum(n for _, n in wanted)}")
    chosen = rng.sample(pool, sum(n for _, n in wanted))
    edits: list[TaskEdit] = []
    for action, count in wanted:
        for system, task_id, key, values in chosen[:count]:
            owner = None
            if action == "reassign":
                current = values.get("OwnerId" if system == "salesforce" else "hubspot_owner_id")
                owner = rng.choice([o for o in active_owners(system, emulators[system]) if o != current])
            edits.append(edit_task(emulators[system], system, task_id, key, values, action, owner))
        chosen = chosen[count:]
    return edits


def _record_order(row: tuple[str, str, str, dict[str, Any]]) -> tuple[str, int, str]:
    system, task_id, _key, _values = row
    return (system, len(task_id), task_id)  # numeric HubSpot ids in number order


def edit_task(emulator: Any, system: str, task_id: str, key: str, values: Mapping[str, Any], action: str,
              owner: str | None = None) -> TaskEdit:
    """One CRM user's edit of one task: ``complete`` it, ``redate`` it a week later, ``reassign`` it to
    ``owner`` (an active user's id) — through the emulator's in-process API, as the vendor's UI would."""
    value: str | None = None
    if action == "complete":
        change: dict[str, Any] = {"Status": "Completed"} if system == "salesforce" else {"hs_task_status": "COMPLETED"}
    elif action == "redate":
        due = due_of(system, values) + timedelta(days=7)
        value = due.isoformat()
        change = ({"ActivityDate": value} if system == "salesforce" else
                  {"hs_timestamp": str(int(datetime(due.year, due.month, due.day, tzinfo=UTC).timestamp() * 1000))})
    elif action == "reassign":
        if owner not in active_owners(system, emulator):
            raise ValueError(f"{owner!r} is no active {system} user")
        value = owner
        change = {"OwnerId": owner} if system == "salesforce" else {"hubspot_owner_id": owner}
    else:
        raise ValueError(f"unknown task edit {action!r}: complete, redate or reassign")
    emulator.update(TASK_OBJECTS[system], task_id, change)
    return TaskEdit(system, task_id, key, action, value)


def due_of(system: str, values: Mapping[str, Any]) -> date:
    if system == "salesforce":
        return date.fromisoformat(values["ActivityDate"]) if values.get("ActivityDate") else date(2026, 1, 1)
    stamp = values.get("hs_timestamp")
    if stamp and str(stamp).isdigit():
        return datetime.fromtimestamp(int(stamp) / 1000, tz=UTC).date()
    return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).date() if stamp else date(2026, 1, 1)
