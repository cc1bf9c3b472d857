"""The emulator's native store: CRM records, property definitions and associations.

Everything here speaks HubSpot's vocabulary (properties are strings, ids numeric strings,
timestamps ``2026-11-20T10:15:00.000Z``) but knows nothing of HTTP: bad input raises
`HubSpotError`, which the app renders. One re-entrant lock guards the whole store; the
emulator is never the bottleneck at sandbox sizes (tens of thousands of records).
"""

from __future__ import annotations

import bisect
import json
import random
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from sandbox.hubspot.errors import HubSpotError, not_found, validation_error
from sandbox.hubspot.schema import (
    ASSOCIATION_KINDS,
    CHILD_TO_PARENT,
    MODIFIED_PROPERTY,
    OBJECT_TYPES,
    PARENT_TO_CHILD,
    PROPERTY_TYPES,
    SEARCHABLE_TEXT,
    SINGULAR,
    AssociationKind,
    PropertyDefinition,
    PropertyGroupDefinition,
    canonical_type,
    merged_ids_property,
    standard_groups,
    standard_properties,
)

SEARCH_RESULT_CAP = 10_000
MAX_FILTER_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS_TOTAL = 18

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def iso_ms(ts: datetime) -> str:
    """``2026-11-20T10:15:00.000Z``: HubSpot's timestamp format, always UTC, milliseconds."""
    ts = ts.astimezone(UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


@lru_cache(maxsize=131_072)
def parse_instant(value: str) -> int | None:
    """Milliseconds since the epoch from epoch-ms digits, an ISO timestamp or a date; None if neither."""
    text = value.strip()
    if not text:
        return None
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return int((datetime(day.year, day.month, day.day, tzinfo=UTC) - _EPOCH).total_seconds()) * 1000
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return (ts - _EPOCH) // timedelta(milliseconds=1)


def _from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(slots=True)
class HubSpotRecord:
    id: str
    properties: dict[str, str | None]
    created_at: datetime
    updated_at: datetime
    archived: bool = False
    archived_at: datetime | None = None
    indexed: list[tuple[datetime, HubSpotRecord]] | None = None
    """With a search lag: what search sees, as (visible from, snapshot), oldest first."""

    def snapshot(self) -> HubSpotRecord:
        return HubSpotRecord(self.id, dict(self.properties), self.created_at, self.updated_at, self.archived,
                             self.archived_at)  # fmt: skip

    def as_json(self, names: Iterable[str], known: dict[str, PropertyDefinition]) -> dict[str, Any]:
        props = self.properties
        out: dict[str, Any] = {
            "id": self.id,
            "properties": {n: props.get(n) for n in names if n in known},
            "createdAt": iso_ms(self.created_at),
            "updatedAt": iso_ms(self.updated_at),
            "archived": self.archived,
        }
        if self.archived_at is not None:
            out["archivedAt"] = iso_ms(self.archived_at)
        return out


@dataclass
class ObjectTable:
    object_type: str
    properties: dict[str, PropertyDefinition]
    groups: dict[str, PropertyGroupDefinition]
    records: dict[str, HubSpotRecord] = field(default_factory=dict)
    sorted_ids: list[int] = field(default_factory=list)


class HubSpotStore:
    """All records of one emulated portal."""

    def __init__(self, clock: Callable[[], datetime], search_lag_seconds: float = 0.0) -> None:
        self.clock = clock
        self.search_lag = timedelta(seconds=search_lag_seconds)
        self.merged_into: dict[tuple[str, str], str] = {}
        """(object type, merged id) -> the primary it was merged into."""
        self.lock = threading.RLock()
        now = clock()
        self.tables: dict[str, ObjectTable] = {
            t: ObjectTable(t, standard_properties(t, now), standard_groups(t)) for t in OBJECT_TYPES
        }
        # (from_type, to_type) -> from_id -> to_id -> kinds (insertion ordered)
        self.links: dict[tuple[str, str], dict[str, dict[str, list[AssociationKind]]]] = {}
        self.owners: dict[str, dict[str, Any]] = {}
        """Owner id -> the owner as ``/crm/v3/owners`` shows it (``archived`` ones included), in id order."""
        self.version = 0
        self._next_id = 9_000_000_001
        self._search_cache: OrderedDict[tuple[Any, ...], list[HubSpotRecord]] = OrderedDict()
        self.listener: Callable[[str, str, str, dict[str, Any]], None] | None = None
        """Told of every change: (creation | propertyChange | deletion | merge, object type, id, details)."""
        self._merging = False

    def _notify(self, action: str, object_type: str, record_id: str, details: dict[str, Any]) -> None:
        if self.listener is not None and not self._merging:
            self.listener(action, object_type, record_id, details)

    # --- tables and properties -------------------------------------------------------------

    def table(self, object_type: str) -> ObjectTable:
        name = canonical_type(object_type)
        if name is None:
            raise validation_error(f"Unable to infer object type from: {object_type}")
        return self.tables[name]

    def create_group(self, object_type: str, body: dict[str, Any]) -> PropertyGroupDefinition:
        table = self.table(object_type)
        name, label = body.get("name"), body.get("label")
        if not isinstance(name, str) or not _PROPERTY_NAME.match(name) or not isinstance(label, str):
            raise validation_error("A property group needs a lowercase `name` and a `label`.")
        with self.lock:
            if name in table.groups:
                raise HubSpotError(409, "OBJECT_ALREADY_EXISTS", f"A property group named '{name}' already exists.")
            group = PropertyGroupDefinition(name=name, label=label, display_order=int(body.get("displayOrder", -1)))
            table.groups[name] = group
            return group

    def create_property(self, object_type: str, body: dict[str, Any]) -> PropertyDefinition:
        table = self.table(object_type)
        name = body.get("name")
        missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)]
        if missing:
            raise validation_error(f"Missing required fields: {', '.join(missing)}")
        if not isinstance(name, str) or not _PROPERTY_NAME.match(name):
            raise validation_error(f"Property name '{name}' is invalid: use lowercase letters, digits and underscores.")
        ptype, ftype = body["type"], body["fieldType"]
        if ptype not in PROPERTY_TYPES or ftype not in PROPERTY_TYPES[ptype]:
            raise validation_error(f"fieldType '{ftype}' is not valid for type '{ptype}'.")
        options = body.get("options") or []
        if ptype == "enumeration" and ftype != "booleancheckbox" and not options:
            raise validation_error(f"Property '{name}' of type enumeration needs options.")
        with self.lock:
            if body["groupName"] not in table.groups:
                raise validation_error(f"Property group '{body['groupName']}' does not exist.")
            if name in table.properties:
                raise HubSpotError(
                    409,
                    "OBJECT_ALREADY_EXISTS",
                    f"Property named '{name}' already exists.",
                    context={"name": [name]},
                )
            now = self.clock()
            prop = PropertyDefinition(
                name=name,
                label=str(body["label"]),
                type=ptype,
                field_type=ftype,
                group_name=str(body["groupName"]),
                options=[_option(o, i) for i, o in enumerate(options)],
                description=str(body.get("description") or ""),
                display_order=int(body.get("displayOrder", -1)),
                hubspot_defined=False,
                has_unique_value=bool(body.get("hasUniqueValue", False)),
                hidden=bool(body.get("hidden", False)),
                form_field=bool(body.get("formField", False)),
                created_at=now,
                updated_at=now,
            )
            table.properties[name] = prop
            return prop

    def update_property(self, object_type: str, name: str, body: dict[str, Any]) -> PropertyDefinition:
        table = self.table(object_type)
        with self.lock:
            prop = table.properties.get(name)
            if prop is None:
                raise not_found(f"Unable to find property {name} for object type {object_type}")
            if prop.hubspot_defined and prop.read_only:
                raise validation_error(f"Property {name} is read-only and cannot be modified.")
            if "label" in body:
                prop.label = str(body["label"])
            if "description" in body:
                prop.description = str(body["description"] or "")
            if "groupName" in body:
                if body["groupName"] not in table.groups:
                    raise validation_error(f"Property group '{body['groupName']}' does not exist.")
                prop.group_name = str(body["groupName"])
            if "options" in body:
                prop.options = [_option(o, i) for i, o in enumerate(body["options"] or [])]
            if "hidden" in body:
                prop.hidden = bool(body["hidden"])
            if "displayOrder" in body:
                prop.display_order = int(body["displayOrder"])
            prop.updated_at = self.clock()
            return prop

    # --- writes ---------------------------------------------------------------------------

    def new_id(self) -> str:
        with self.lock:
            self._next_id += 1
            return str(self._next_id)

    def insert(
        self,
        object_type: str,
        properties: dict[str, str | None],
        *,
        record_id: str | None = None,
        created_at: datetime | None = None,
        updated_at: datetime | None = None,
    ) -> HubSpotRecord:
        """Store a record as given (seeding and creates); stamps ``hs_object_id`` and the dates."""
        table = self.table(object_type)
        with self.lock:
            rid = record_id or self.new_id()
            if not rid.isdigit():
                raise ValueError(f"HubSpot ids are numeric strings, not {rid!r}")
            created = created_at or self.clock()
            updated = updated_at or created
            props = dict(properties)
            props["hs_object_id"] = rid
            props["createdate"] = iso_ms(created)
            props[MODIFIED_PROPERTY[table.object_type]] = iso_ms(updated)
            if table.object_type == "tasks":
                props["hs_createdate"] = iso_ms(created)
                _task_completion(props, created)
            record = HubSpotRecord(rid, props, created, updated)
            if rid not in table.records:
                bisect.insort(table.sorted_ids, int(rid))
            table.records[rid] = record
            self._index(record, updated)
            self._next_id = max(self._next_id, int(rid))
            self.version += 1
            self._notify("creation", table.object_type, rid, {})
            return record

    def validate(self, object_type: str, properties: Any) -> dict[str, str | None]:
        """Check values against the property definitions; all problems at once, as HubSpot does."""
        table = self.table(object_type)
        if not isinstance(properties, dict):
            raise validation_error("Invalid input: `properties` must be an object of name to value.")
        problems: list[tuple[str, str, str]] = []
        out: dict[str, str | None] = {}
        for name, raw in properties.items():
            prop = table.properties.get(name)
            if prop is None:
                problems.append((name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'))
                continue
            if prop.read_only:
                problems.append(
                    (name, "READ_ONLY_VALUE", f'"{name}" is a read only property; its value cannot be set.')
                )
                continue
            value, problem = _normalize(prop, raw)
            if problem is not None:
                problems.append((name, *problem))
            else:
                out[name] = value
        if problems:
            detail = [
                {"isValid": False, "message": msg, "error": code, "name": name, "localizedErrorMessage": msg}
                for name, code, msg in problems
            ]
            raise validation_error(
                "Property values were not valid: " + json.dumps(detail),
                errors=[
                    {"message": msg, "code": code, "context": {"propertyName": [name]}} for name, code, msg in problems
                ],
            )
        return out

    def apply(self, record: HubSpotRecord, object_type: str, values: dict[str, str | None]) -> None:
        """Write already-validated values and bump the modification stamp."""
        with self.lock:
            now = self.clock()
            record.properties.update(values)
            if self.table(object_type).object_type == "tasks":
                _task_completion(record.properties, now)
            record.updated_at = now
            record.properties[MODIFIED_PROPERTY[self.table(object_type).object_type]] = iso_ms(now)
            self._index(record, now)
            self.version += 1
            for name, value in values.items():
                self._notify("propertyChange", self.table(object_type).object_type, record.id,
                             {"propertyName": name, "propertyValue": value})

    def touch(self, object_type: str, ids: Iterable[str]) -> int:
        with self.lock:
            table = self.table(object_type)
            count = 0
            for rid in ids:
                record = table.records.get(str(rid))
                if record is not None:
                    self.apply(record, object_type, {})
                    count += 1
            return count

    def archive(self, object_type: str, record_id: str) -> bool:
        with self.lock:
            record = self.table(object_type).records.get(record_id)
            if record is None or record.archived:
                return False
            record.archived = True
            record.archived_at = self.clock()
            self._index(record, record.archived_at)
            self.version += 1
            if self.table(object_type).object_type == "companies":
                self._recalculate_company_of_contacts(record_id, None)
            self._notify("deletion", self.table(object_type).object_type, record_id, {})
            return True

    def _recalculate_company_of_contacts(self, company_id: str, new_id: str | None) -> None:
        """Contacts whose primary company (``associatedcompanyid``, which HubSpot calculates) was
        ``company_id`` now name ``new_id`` (None: the company was deleted), a change like any other."""
        for contact in list(self.tables["contacts"].records.values()):
            if not contact.archived and contact.properties.get("associatedcompanyid") == company_id:
                self.apply(contact, "contacts", {"associatedcompanyid": new_id})

    def _index(self, record: HubSpotRecord, written_at: datetime) -> None:
        """With a search lag, the record as written now becomes searchable ``search_lag`` later."""
        if not self.search_lag:
            return
        history = record.indexed or []
        now = self.clock()
        visible = [i for i, (at, _) in enumerate(history) if at <= now]
        if len(visible) > 1:
            history = history[visible[-1] :]
        history.append((written_at + self.search_lag, record.snapshot()))
        record.indexed = history

    def _move_links(self, object_type: str, old: str, new: str) -> None:
        """Every association of record ``old`` now belongs to ``new`` (no record links to itself)."""
        for (f, t), targets in self.links.items():
            if f == object_type and old in targets:
                dest = targets.setdefault(new, {})
                for to_id, kinds in targets.pop(old).items():
                    existing = dest.setdefault(to_id, [])
                    existing.extend([k for k in kinds if k not in existing])
            if t == object_type:
                for to in targets.values():
                    if old in to:
                        kinds, existing = to.pop(old), to.setdefault(new, [])
                        existing.extend([k for k in kinds if k not in existing])
            if f == t == object_type:
                targets.get(new, {}).pop(new, None)

    def merge(self, object_type: str, primary_id: str, merged_id: str) -> HubSpotRecord:
        """Merge ``merged_id`` into ``primary_id``: the merged record is archived and resolves to the
        primary, whose ``hs_merged_object_ids`` lists it; its associations move to the primary."""
        table = self.table(object_type)
        with self.lock:
            primary, merged = self.get(table.object_type, primary_id), self.get(table.object_type, merged_id)
            if primary is None or merged is None or primary.id == merged.id:
                missing = merged_id if merged is None else primary_id
                raise not_found("Object not found.  objectId are usually numeric.", context={"id": [missing]})
            table.properties.setdefault("hs_merged_object_ids", merged_ids_property(self.clock()))
            earlier = [i for i in (primary.properties.get("hs_merged_object_ids") or "").split(";") if i]
            also = [i for i in (merged.properties.get("hs_merged_object_ids") or "").split(";") if i]
            self._merging = True
            try:
                self._move_links(table.object_type, merged.id, primary.id)
                if table.object_type == "companies":
                    self._recalculate_company_of_contacts(merged.id, primary.id)
                self.archive(table.object_type, merged.id)
                self.merged_into[(table.object_type, merged.id)] = primary.id
                ids = ";".join([*earlier, merged.id, *also])
                self.apply(primary, table.object_type, {"hs_merged_object_ids": ids})
            finally:
                self._merging = False
            self._notify("merge", table.object_type, primary.id, {"mergedObjectIds": [merged.id]})
            return primary

    # --- reads ----------------------------------------------------------------------------

    def get(
        self, object_type: str, record_id: str, *, id_property: str | None = None, archived: bool = False
    ) -> HubSpotRecord | None:
        table = self.table(object_type)
        with self.lock:
            if id_property and id_property != "hs_object_id":
                for candidate in table.records.values():
                    if candidate.archived == archived and candidate.properties.get(id_property) == record_id:
                        return candidate
                return None
            record = table.records.get(record_id)
            primary = self.merged_into.get((table.object_type, record_id))
            if primary is not None and not archived:
                return self.get(table.object_type, primary)
            if record is None or record.archived != archived:
                return None
            return record

    def page(
        self, object_type: str, after: str | None, limit: int, *, archived: bool = False
    ) -> tuple[list[HubSpotRecord], str | None]:
        """One page in id order; the cursor is the id to start from, like HubSpot's."""
        table = self.table(object_type)
        if after is not None and not after.isdigit():
            raise validation_error(f"Invalid 'after' value: {after}")
        with self.lock:
            ids = table.sorted_ids
            start = bisect.bisect_left(ids, int(after)) if after else 0
            out: list[HubSpotRecord] = []
            records = table.records
            for i in range(start, len(ids)):
                record = records[str(ids[i])]
                if record.archived != archived:
                    continue
                if len(out) == limit:
                    return out, record.id
                out.append(record)
            return out, None

    def search(self, object_type: str, body: dict[str, Any]) -> tuple[int, list[HubSpotRecord], int | None]:
        """(total, page, next offset) for a CRM search body; offset ``after`` past 10,000 is a 400."""
        table = self.table(object_type)
        limit = body.get("limit", 10)
        after = body.get("after") or 0
        try:
            limit, offset = int(limit), int(after)
        except (TypeError, ValueError):
            raise validation_error("`limit` and `after` must be integers.") from None
        if not 0 < limit <= 200:
            raise validation_error(f"limit must be between 1 and 200, got {limit}.")
        if offset >= SEARCH_RESULT_CAP:
            raise validation_error(
                f"The search endpoint can return at most {SEARCH_RESULT_CAP} results for a query; "
                f"'after' was {offset}.",
                context={"after": [str(offset)]},
            )
        key: tuple[Any, ...] = (
            table.object_type,
            json.dumps(
                [body.get("filterGroups"), body.get("filters"), body.get("sorts"), body.get("query")],
                sort_keys=True,
                default=str,
            ),
        )
        with self.lock:
            if self.search_lag:
                key = (*key, self.clock())
            version = self.version
            cached = self._search_cache.get((*key, version))
            if cached is None:
                cached = self._run_search(table, body)
                self._search_cache[(*key, version)] = cached
                while len(self._search_cache) > 16:
                    self._search_cache.popitem(last=False)
        total = len(cached)
        end = min(offset + limit, total, SEARCH_RESULT_CAP)
        page = cached[offset:end]
        return total, page, end if end < total else None

    def _run_search(self, table: ObjectTable, body: dict[str, Any]) -> list[HubSpotRecord]:
        groups = body.get("filterGroups") or []
        if body.get("filters"):
            groups = [*groups, {"filters": body["filters"]}]
        if len(groups) > MAX_FILTER_GROUPS:
            raise validation_error(f"Too many filter groups: at most {MAX_FILTER_GROUPS} are allowed.")
        if sum(len(g.get("filters") or []) for g in groups) > MAX_FILTERS_TOTAL:
            raise validation_error(f"Too many filters: at most {MAX_FILTERS_TOTAL} in total are allowed.")
        compiled: list[list[Callable[[HubSpotRecord], bool]]] = []
        for group in groups:
            filters = group.get("filters") or []
            if len(filters) > MAX_FILTERS_PER_GROUP:
                raise validation_error(f"Too many filters in a group: at most {MAX_FILTERS_PER_GROUP} are allowed.")
            compiled.append([_compile_filter(table.properties, f) for f in filters])
        query = str(body.get("query") or "").strip().lower()
        text_fields = SEARCHABLE_TEXT[table.object_type]

        def matches(record: HubSpotRecord) -> bool:
            if query and not any(query in (record.properties.get(f) or "").lower() for f in text_fields):
                return False
            return not compiled or any(all(p(record) for p in group) for group in compiled)

        ordered = self._searchable(table)
        found = [r for r in ordered if not r.archived and matches(r)]
        for name, descending in reversed(_parse_sorts(body.get("sorts"))):
            prop = table.properties.get(name)
            if prop is None:
                raise validation_error(f"Cannot sort by unknown property '{name}'.")
            key_of = _sort_key(prop)
            present = [r for r in found if key_of(r) is not None]
            absent = [r for r in found if key_of(r) is None]
            present.sort(key=lambda r: key_of(r), reverse=descending)
            found = present + absent
        return self._shuffle_fresh(found)

    def _searchable(self, table: ObjectTable) -> list[HubSpotRecord]:
        """What the search index holds: every record, or with a lag each one as last indexed."""
        records = [table.records[str(i)] for i in table.sorted_ids]
        if not self.search_lag:
            return records
        now = self.clock()
        out = []
        for record in records:
            seen = [snap for at, snap in record.indexed or [] if at <= now]
            if seen:
                out.append(seen[-1])
        return out

    def _shuffle_fresh(self, found: list[HubSpotRecord]) -> list[HubSpotRecord]:
        """Records indexed within the last lag come back in a (seeded) shuffled order among themselves."""
        if not self.search_lag:
            return found
        now = self.clock()
        fresh = [i for i, r in enumerate(found) if now - self.search_lag < r.updated_at + self.search_lag <= now]
        picked = [found[i] for i in fresh]
        random.Random(f"{self.version}-{len(found)}").shuffle(picked)
        for i, record in zip(fresh, picked, strict=True):
            found[i] = record
        return found

    # --- associations ---------------------------------------------------------------------

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str, *, primary: bool = False) -> None:
        """Link two records both ways with HubSpot's default (and optionally primary) types."""
        f, t = self.table(from_type).object_type, self.table(to_type).object_type
        kinds = ASSOCIATION_KINDS.get((f, t))
        back = ASSOCIATION_KINDS.get((t, f))
        if kinds is None or back is None:
            raise validation_error(f"No association type between {f} and {t}.")
        forward = [kinds[0]] + ([kinds[1]] if primary and kinds[1] is not None else [])
        self._link(f, from_id, t, to_id, forward)
        self._link(t, to_id, f, from_id, [back[0]])

    def set_parent(self, child_id: str, parent_id: str) -> None:
        self._link("companies", child_id, "companies", parent_id, [CHILD_TO_PARENT])
        self._link("companies", parent_id, "companies", child_id, [PARENT_TO_CHILD])

    def _link(self, f: str, fid: str, t: str, tid: str, kinds: list[AssociationKind]) -> None:
        with self.lock:
            targets = self.links.setdefault((f, t), {}).setdefault(fid, {})
            existing = targets.setdefault(tid, [])
            for kind in kinds:
                if kind not in existing:
                    existing.append(kind)
            self.version += 1

    def associations_of(self, from_type: str, from_id: str, to_type: str) -> list[tuple[str, list[AssociationKind]]]:
        f, t = self.table(from_type).object_type, self.table(to_type).object_type
        with self.lock:
            targets = self.links.get((f, t), {}).get(from_id, {})
            return sorted(((tid, list(k)) for tid, k in targets.items()), key=lambda item: int(item[0]))


def _task_completion(props: dict[str, str | None], now: datetime) -> None:
    """``hs_task_completion_date``: stamped when a task becomes COMPLETED, cleared when it is reopened."""
    if props.get("hs_task_status") == "COMPLETED":
        props["hs_task_completion_date"] = props.get("hs_task_completion_date") or iso_ms(now)
    else:
        props["hs_task_completion_date"] = None


def _option(raw: Any, index: int) -> dict[str, Any]:
    if not isinstance(raw, dict) or "value" not in raw or "label" not in raw:
        raise validation_error("Each option needs a `label` and a `value`.")
    return {
        "label": str(raw["label"]),
        "value": str(raw["value"]),
        "description": str(raw.get("description") or ""),
        "displayOrder": int(raw.get("displayOrder", index)),
        "hidden": bool(raw.get("hidden", False)),
    }


def _normalize(prop: PropertyDefinition, raw: Any) -> tuple[str | None, tuple[str, str] | None]:
    """(stored value, None) or (None, (error code, message)) for one written value."""
    if raw is None or raw == "":
        return None, None
    if isinstance(raw, bool):
        text = "true" if raw else "false"
    elif isinstance(raw, int | float):
        text = format_number(raw)
    elif isinstance(raw, str):
        text = raw
    else:
        return None, ("INVALID_TYPE", f"{raw!r} is not a valid value for property {prop.name}")
    if prop.type == "number":
        try:
            number = float(text)
        except ValueError:
            return None, ("INVALID_FLOAT", f"{text} was not a valid number.")
        if number != number or number in (float("inf"), float("-inf")):
            return None, ("INVALID_FLOAT", f"{text} was not a valid number.")
        return text.strip(), None
    if prop.type in ("datetime", "date"):
        ms = parse_instant(text)
        if ms is None:
            return None, ("INVALID_DATE", f"{text} is not a valid {prop.type} for property {prop.name}.")
        if prop.type == "date":
            return _from_ms(ms).date().isoformat(), None
        return iso_ms(_from_ms(ms)), None
    if prop.type == "bool":
        if text.lower() not in ("true", "false"):
            return None, ("INVALID_BOOLEAN", f"{text} is not a valid boolean.")
        return text.lower(), None
    if prop.type == "enumeration" and prop.options:
        allowed = prop.allowed_values()
        chosen = text.split(";") if prop.field_type == "checkbox" else [text]
        bad = [v for v in chosen if v not in allowed]
        if bad:
            return None, (
                "INVALID_OPTION",
                f"{bad[0]} was not one of the allowed options: {sorted(allowed)}",
            )
    return text, None


def _typed(prop: PropertyDefinition) -> Callable[[str | None], Any]:
    """Convert a stored (or filter) string to a value comparable for this property's type."""
    if prop.type == "number":

        def number(value: str | None) -> float | None:
            if value is None or value == "":
                return None
            try:
                return float(value)
            except ValueError:
                return None

        return number
    if prop.type in ("datetime", "date"):
        return lambda value: parse_instant(value) if value else None
    return lambda value: value.lower() if value else None


def _sort_key(prop: PropertyDefinition) -> Callable[[HubSpotRecord], Any]:
    typed = _typed(prop)
    return lambda record: typed(record.properties.get(prop.name))


def _parse_sorts(raw: Any) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []
    for item in raw or []:
        if isinstance(item, str):
            name, desc = item.lstrip("-"), item.startswith("-")
        elif isinstance(item, dict):
            name = str(item.get("propertyName", ""))
            desc = str(item.get("direction", "ASCENDING")).upper() == "DESCENDING"
        else:
            raise validation_error(f"Invalid sort: {item!r}")
        out.append((name, desc))
    return out


def _compile_filter(known: dict[str, PropertyDefinition], raw: Any) -> Callable[[HubSpotRecord], bool]:
    if not isinstance(raw, dict) or "propertyName" not in raw or "operator" not in raw:
        raise validation_error("Each filter needs `propertyName` and `operator`.")
    name, op = str(raw["propertyName"]), str(raw["operator"]).upper()
    prop = known.get(name)
    if prop is None:
        raise validation_error(f"There was a problem with the request: property '{name}' does not exist.")
    typed = _typed(prop)

    def value_of(record: HubSpotRecord) -> Any:
        return typed(record.properties.get(name))

    if op == "HAS_PROPERTY":
        return lambda r: value_of(r) is not None
    if op == "NOT_HAS_PROPERTY":
        return lambda r: value_of(r) is None
    if op in ("IN", "NOT_IN"):
        values = raw.get("values")
        if not isinstance(values, list):
            raise validation_error(f"Operator {op} needs `values`.")
        wanted = {typed(str(v)) for v in values}
        if op == "IN":
            return lambda r: value_of(r) in wanted
        return lambda r: value_of(r) not in wanted
    if op == "CONTAINS_TOKEN":
        token = str(raw.get("value", "")).lower().strip("*")
        return lambda r: token in (r.properties.get(name) or "").lower()
    if op == "NOT_CONTAINS_TOKEN":
        token = str(raw.get("value", "")).lower().strip("*")
        return lambda r: token not in (r.properties.get(name) or "").lower()
    if "value" not in raw:
        raise validation_error(f"Operator {op} needs a `value`.")
    target = typed(str(raw["value"]))
    if target is None:
        raise validation_error(f"'{raw['value']}' is not a valid value for property {name}.")
    if op == "BETWEEN":
        high = typed(str(raw.get("highValue", "")))
        if high is None:
            raise validation_error("Operator BETWEEN needs a `highValue`.")
        return lambda r: (v := value_of(r)) is not None and target <= v <= high
    compare: dict[str, Callable[[Any], bool]] = {
        "EQ": lambda v: v == target,
        "NEQ": lambda v: v != target,
        "LT": lambda v: v < target,
        "LTE": lambda v: v <= target,
        "GT": lambda v: v > target,
        "GTE": lambda v: v >= target,
    }
    test = compare.get(op)
    if test is None:
        raise validation_error(f"Unsupported operator {op}.")
    if op == "NEQ":
        return lambda r: (v := value_of(r)) is None or test(v)
    return lambda r: (v := value_of(r)) is not None and test(v)


def object_label(object_type: str) -> str:
    return SINGULAR[object_type].upper()
