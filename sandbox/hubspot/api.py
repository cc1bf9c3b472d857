"""The HTTP face of the HubSpot emulator: CRM v3 objects/search/batch, v4 associations, properties.

Every call is counted (route pattern, not URL), checked for ``Authorization: Bearer``,
then against the daily allocation and the rolling 10-second limit (search has its own
per-second limit and, like HubSpot, carries only the daily headers).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from sandbox.hubspot.errors import (
    AUTH_MESSAGE,
    BATCH_LIMIT_MESSAGE,
    HubSpotError,
    correlation_id,
    not_found,
    validation_error,
)
from sandbox.hubspot.schema import (
    DEFAULT_PROPERTIES,
    KIND_BY_TYPE_ID,
    SINGULAR,
    PropertyDefinition,
    PropertyGroupDefinition,
)
from sandbox.hubspot.store import HubSpotRecord, iso_ms, object_label

if TYPE_CHECKING:
    from sandbox.hubspot.emulator import HubSpotEmulator

BATCH_MAX_INPUTS = 100
ASSOCIATION_BATCH_MAX_INPUTS = 1000
LIST_MAX_LIMIT = 100
ASSOCIATION_PAGE_MAX = 500


class RollingLimit:
    """At most ``limit`` admissions in any ``window`` seconds (a sliding log of admission times)."""

    def __init__(self, limit: int, window: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._monotonic = monotonic
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def admit(self) -> tuple[bool, int]:
        """(admitted, admissions left in the current window)."""
        with self._lock:
            now = self._monotonic()
            while self._times and now - self._times[0] >= self.window:
                self._times.popleft()
            if len(self._times) >= self.limit:
                return False, 0
            self._times.append(now)
            return True, self.limit - len(self._times)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status=status,
        mimetype="application/json;charset=utf-8",
        headers=headers,
    )


def error_response(err: HubSpotError, headers: dict[str, str] | None = None) -> Response:
    corr = correlation_id()
    out = {"X-HubSpot-Correlation-Id": corr, **(headers or {})}
    return _json(err.body(corr), err.status, out)


def _body() -> dict[str, Any]:
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw or b"{}")
    except json.JSONDecodeError as exc:
        raise validation_error(f"Invalid input JSON on line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise validation_error("Invalid input JSON: expected an object.")
    return data


def _flag(name: str) -> bool:
    return request.args.get(name, "false").lower() == "true"


def _names(raw: str | list[str] | None, object_type: str) -> list[str]:
    if raw is None:
        return list(DEFAULT_PROPERTIES[object_type])
    if isinstance(raw, str):
        raw = [raw]
    out: list[str] = []
    for item in raw:
        out.extend(n.strip() for n in str(item).split(",") if n.strip())
    return out or list(DEFAULT_PROPERTIES[object_type])


def _limit(raw: Any, default: int, maximum: int) -> int:
    try:
        value = int(raw) if raw not in (None, "") else default
    except (TypeError, ValueError):
        raise validation_error(f"limit must be an integer, got {raw!r}") from None
    if not 0 < value <= maximum:
        raise validation_error(f"limit must be between 1 and {maximum}, got {value}.")
    return value


def property_json(prop: PropertyDefinition) -> dict[str, Any]:
    out: dict[str, Any] = {
        "updatedAt": iso_ms(prop.updated_at) if prop.updated_at else None,
        "createdAt": iso_ms(prop.created_at) if prop.created_at else None,
        "name": prop.name,
        "label": prop.label,
        "type": prop.type,
        "fieldType": prop.field_type,
        "description": prop.description,
        "groupName": prop.group_name,
        "options": [dict(o) for o in prop.options],
        "displayOrder": prop.display_order,
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": prop.has_unique_value,
        "hidden": prop.hidden,
        "modificationMetadata": {
            "archivable": not prop.hubspot_defined,
            "readOnlyDefinition": prop.hubspot_defined,
            "readOnlyValue": prop.read_only,
            "readOnlyOptions": prop.hubspot_defined and not prop.options,
        },
        "formField": prop.form_field,
        "dataSensitivity": "non_sensitive",
        "archived": False,
    }
    if prop.hubspot_defined:
        out["hubspotDefined"] = True
    return out


def group_json(group: PropertyGroupDefinition) -> dict[str, Any]:
    return {
        "name": group.name,
        "label": group.label,
        "displayOrder": group.display_order,
        "archived": group.archived,
    }


def build_app(emu: HubSpotEmulator) -> Flask:
    """The Flask app serving one emulator; routes close over its store, stats and limits."""
    app = Flask("sandbox.hubspot")
    store = emu.store
    stats = emu.stats
    ten_second = RollingLimit(emu.requests_per_10s, 10.0, emu.monotonic)
    per_second = RollingLimit(max(1, emu.requests_per_10s // 10), 1.0, emu.monotonic)
    search_limit = RollingLimit(emu.search_requests_per_second, 1.0, emu.monotonic)
    daily_lock = threading.Lock()
    daily: dict[str, Any] = {"day": None, "used": 0}

    def now_iso() -> str:
        return iso_ms(emu.clock())

    def daily_admit() -> tuple[bool, int]:
        with daily_lock:
            day = emu.clock().date()
            if daily["day"] != day:
                daily["day"], daily["used"] = day, 0
            if daily["used"] >= emu.daily_api_limit:
                return False, 0
            daily["used"] += 1
            return True, emu.daily_api_limit - daily["used"]

    def daily_remaining() -> int:
        with daily_lock:
            return max(0, emu.daily_api_limit - int(daily["used"]))

    def rate_limited(message: str, policy: str | None, headers: dict[str, str]) -> Response:
        # No Retry-After: HubSpot's recorded 429s carry none (and urllib3, under the SDK, would sleep on it).
        extra: dict[str, Any] = {}
        if policy is not None:
            extra = {
                "errorType": "RATE_LIMIT",
                "policyName": policy,
                "groupName": f"api-calls:{emu.portal_id}",
            }
        return error_response(HubSpotError(429, "RATE_LIMITS", message, **extra), headers)

    @app.before_request
    def guard() -> Response | None:
        if request.path == "/_sandbox/stats":
            return None
        rule = request.url_rule.rule if request.url_rule is not None else "<unknown>"
        stats.record_call(request.method, rule)
        auth = request.headers.get("Authorization", "")
        if auth != f"Bearer {emu.access_token}":
            return error_response(HubSpotError(401, "INVALID_AUTHENTICATION", AUTH_MESSAGE))
        is_search = rule.endswith("/search")
        g.is_search = is_search
        daily_headers = {
            "X-HubSpot-RateLimit-Daily": str(emu.daily_api_limit),
            "X-HubSpot-RateLimit-Daily-Remaining": str(daily_remaining()),
        }
        if is_search:
            ok, _ = search_limit.admit()
            if not ok:
                return rate_limited("You have reached your secondly limit.", None, daily_headers)
        else:
            ok, remaining = ten_second.admit()
            if not ok:
                headers = {**daily_headers, **_interval_headers(0, 0)}
                return rate_limited(
                    "You have reached your ten_secondly_rolling limit.", "TEN_SECONDLY_ROLLING", headers
                )
            g.remaining = remaining
            _, g.secondly_remaining = per_second.admit()
        ok, _ = daily_admit()
        if not ok:
            return rate_limited("You have reached your daily limit.", "DAILY", daily_headers)
        return None

    def _interval_headers(remaining: int, secondly_remaining: int) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Max": str(emu.requests_per_10s),
            "X-HubSpot-RateLimit-Remaining": str(remaining),
            "X-HubSpot-RateLimit-Secondly": str(max(1, emu.requests_per_10s // 10)),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(secondly_remaining),
        }

    @app.after_request
    def rate_headers(response: Response) -> Response:
        if request.path == "/_sandbox/stats" or "X-HubSpot-RateLimit-Daily" in response.headers:
            return response
        if "remaining" not in g and not g.get("is_search"):
            return response
        response.headers["X-HubSpot-RateLimit-Daily"] = str(emu.daily_api_limit)
        response.headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(daily_remaining())
        if not g.get("is_search"):
            response.headers.update(_interval_headers(g.remaining, g.get("secondly_remaining", 0)))
        response.headers.setdefault("X-HubSpot-Correlation-Id", correlation_id())
        return response

    @app.errorhandler(HubSpotError)
    def hubspot_error(err: HubSpotError) -> Response:
        return error_response(err)

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> Response:
        status = err.code or 500
        category = {404: "OBJECT_NOT_FOUND", 405: "VALIDATION_ERROR"}.get(status, "VALIDATION_ERROR")
        return error_response(HubSpotError(status, category, err.description or err.name))

    @app.errorhandler(Exception)
    def unexpected(err: Exception) -> Response:
        app.logger.exception("HubSpot emulator failed on %s %s", request.method, request.path)
        return error_response(HubSpotError(500, "INTERNAL_ERROR", "internal error"))

    @app.get("/_sandbox/stats")
    def sandbox_stats() -> Response:
        return _json(stats.snapshot())

    # --- objects ------------------------------------------------------------------------

    def record_json(
        object_type: str, record: HubSpotRecord, names: list[str], associations: list[str] | None = None
    ) -> dict[str, Any]:
        table = store.tables[object_type]
        out = record.as_json(names, table.properties)
        if associations:
            found: dict[str, Any] = {}
            for to in associations:
                to_type = store.table(to).object_type
                rows = [
                    {"id": tid, "type": kind.v3_name}
                    for tid, kinds in store.associations_of(object_type, record.id, to_type)
                    for kind in kinds
                ]
                if rows:
                    found[to_type] = {"results": rows}
            if found:
                out["associations"] = found
        return out

    @app.get("/crm/v3/objects/<object_type>")
    def list_objects(object_type: str) -> Response:
        table = store.table(object_type)
        limit = _limit(request.args.get("limit"), 10, LIST_MAX_LIMIT)
        names = _names(request.args.getlist("properties") or None, table.object_type)
        assoc = (
            _names(request.args.getlist("associations"), table.object_type)
            if request.args.get("associations")
            else None
        )
        records, after = store.page(table.object_type, request.args.get("after"), limit, archived=_flag("archived"))
        body: dict[str, Any] = {"results": [record_json(table.object_type, r, names, assoc) for r in records]}
        if after is not None:
            query = {k: v for k, v in request.args.items(multi=True) if k != "after"}
            query_items = [*query.items(), ("after", after)]
            body["paging"] = {
                "next": {
                    "after": after,
                    "link": f"{request.host_url}crm/v3/objects/{object_type}?{urlencode(query_items)}",
                }
            }
        stats.add_returned(len(records))
        return _json(body)

    @app.get("/crm/v3/objects/<object_type>/<record_id>")
    def get_object(object_type: str, record_id: str) -> Response:
        table = store.table(object_type)
        names = _names(request.args.getlist("properties") or None, table.object_type)
        assoc = (
            _names(request.args.getlist("associations"), table.object_type)
            if request.args.get("associations")
            else None
        )
        record = store.get(
            table.object_type,
            record_id,
            id_property=request.args.get("idProperty"),
            archived=_flag("archived"),
        )
        if record is None:
            raise not_found("Object not found.  objectId are usually numeric.", context={"id": [record_id]})
        stats.add_returned(1)
        return _json(record_json(table.object_type, record, names, assoc))

    @app.post("/crm/v3/objects/<object_type>")
    def create_object(object_type: str) -> Response:
        table = store.table(object_type)
        body = _body()
        record = _create_one(table.object_type, body)
        stats.add_written(1)
        return _json(record_json(table.object_type, record, list(record.properties)), 201)

    def _create_one(object_type: str, body: dict[str, Any]) -> HubSpotRecord:
        values = store.validate(object_type, body.get("properties") or {})
        links = body.get("associations") or []
        for link in links:
            _check_link(object_type, link)
        record = store.insert(object_type, values)
        for link in links:
            _apply_link(object_type, record.id, link)
        return record

    def _check_link(object_type: str, link: Any) -> None:
        try:
            to_id = str(link["to"]["id"])
            types = link["types"]
            ids = [int(t["associationTypeId"]) for t in types]
        except (KeyError, TypeError, ValueError):
            raise validation_error("Each association needs `to.id` and `types[].associationTypeId`.") from None
        for type_id in ids:
            kind = KIND_BY_TYPE_ID.get(type_id)
            if kind is None or kind[0] != object_type:
                raise validation_error(f"{type_id} is not a valid association type id for {object_type}.")
            if store.get(kind[1], to_id) is None:
                raise validation_error(f"{SINGULAR[kind[1]]} {to_id} does not exist.")

    def _apply_link(object_type: str, record_id: str, link: dict[str, Any]) -> None:
        for t in link["types"]:
            _, to_type, kind = KIND_BY_TYPE_ID[int(t["associationTypeId"])]
            store.associate(object_type, record_id, to_type, str(link["to"]["id"]), primary=kind.label == "Primary")

    @app.patch("/crm/v3/objects/<object_type>/<record_id>")
    def update_object(object_type: str, record_id: str) -> Response:
        table = store.table(object_type)
        body = _body()
        record = store.get(table.object_type, record_id, id_property=request.args.get("idProperty"))
        if record is None:
            raise not_found("Object not found.  objectId are usually numeric.", context={"id": [record_id]})
        values = store.validate(table.object_type, body.get("properties") or {})
        store.apply(record, table.object_type, values)
        stats.add_written(1)
        return _json(record_json(table.object_type, record, list(record.properties)))

    @app.delete("/crm/v3/objects/<object_type>/<record_id>")
    def archive_object(object_type: str, record_id: str) -> Response:
        table = store.table(object_type)
        store.archive(table.object_type, record_id)
        return Response(status=204)

    @app.post("/crm/v3/objects/<object_type>/search")
    def search_objects(object_type: str) -> Response:
        table = store.table(object_type)
        body = _body()
        total, records, next_offset = store.search(table.object_type, body)
        names = _names(body.get("properties") or None, table.object_type)
        out: dict[str, Any] = {
            "total": total,
            "results": [r.as_json(names, table.properties) for r in records],
        }
        if next_offset is not None:
            out["paging"] = {"next": {"after": str(next_offset)}}
        stats.add_returned(len(records))
        return _json(out)

    def _inputs(body: dict[str, Any], maximum: int = BATCH_MAX_INPUTS) -> list[dict[str, Any]]:
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
            raise validation_error("Invalid input: `inputs` must be a list of objects.")
        if len(inputs) > maximum:
            if maximum == BATCH_MAX_INPUTS:
                raise validation_error(BATCH_LIMIT_MESSAGE)
            raise validation_error(
                f"The maximum number of inputs supported in a batch is {maximum}. "
                "Please reduce the number of items and try again"
            )
        return inputs

    def _batch(results: list[dict[str, Any]], errors: list[dict[str, Any]], started: str) -> Response:
        body: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = errors
        body["startedAt"] = started
        body["completedAt"] = now_iso()
        return _json(body, 207 if errors else 200)

    def _missing(object_type: str, ids: list[str]) -> dict[str, Any]:
        return {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": (
                f"Could not get some {object_label(object_type)} objects, they may be deleted or not exist. "
                "Check that ids are valid."
            ),
            "context": {"ids": ids},
            "links": {},
            "errors": [],
        }

    @app.post("/crm/v3/objects/<object_type>/batch/read")
    def batch_read(object_type: str) -> Response:
        started = now_iso()
        table = store.table(object_type)
        body = _body()
        inputs = _inputs(body)
        names = _names(body.get("properties") or None, table.object_type)
        id_property = body.get("idProperty")
        archived = _flag("archived")
        results, missing = [], []
        for item in inputs:
            rid = str(item.get("id", ""))
            record = store.get(table.object_type, rid, id_property=id_property, archived=archived)
            if record is None:
                missing.append(rid)
            else:
                results.append(record.as_json(names, table.properties))
        stats.add_returned(len(results))
        return _batch(results, [_missing(table.object_type, missing)] if missing else [], started)

    @app.post("/crm/v3/objects/<object_type>/batch/update")
    def batch_update(object_type: str) -> Response:
        started = now_iso()
        table = store.table(object_type)
        inputs = _inputs(_body())
        ids = [str(item.get("id", "")) for item in inputs]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise validation_error(
                f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique",
                context={"ids": duplicates},
            )
        # Validation is all-or-nothing: one bad value fails the whole batch with a 400.
        planned: list[tuple[HubSpotRecord | None, str, dict[str, str | None]]] = []
        with store.lock:
            for item, rid in zip(inputs, ids, strict=True):
                values = store.validate(table.object_type, item.get("properties") or {})
                record = store.get(table.object_type, rid, id_property=item.get("idProperty"))
                planned.append((record, rid, values))
            results, missing = [], []
            for record, rid, values in planned:
                if record is None:
                    missing.append(rid)
                    continue
                store.apply(record, table.object_type, values)
                results.append(record_json(table.object_type, record, list(record.properties)))
        stats.add_written(len(results))
        return _batch(results, [_missing(table.object_type, missing)] if missing else [], started)

    @app.post("/crm/v3/objects/<object_type>/batch/create")
    def batch_create(object_type: str) -> Response:
        started = now_iso()
        table = store.table(object_type)
        inputs = _inputs(_body())
        with store.lock:
            for item in inputs:
                store.validate(table.object_type, item.get("properties") or {})
                for link in item.get("associations") or []:
                    _check_link(table.object_type, link)
            created = [_create_one(table.object_type, item) for item in inputs]
        stats.add_written(len(created))
        response = _batch([record_json(table.object_type, r, list(r.properties)) for r in created], [], started)
        response.status_code = 201
        return response

    # --- v4 associations --------------------------------------------------------------------

    def _assoc_rows(from_type: str, from_id: str, to_type: str) -> list[dict[str, Any]]:
        return [
            {"toObjectId": int(tid), "associationTypes": [k.as_v4() for k in kinds]}
            for tid, kinds in store.associations_of(from_type, from_id, to_type)
        ]

    @app.get("/crm/v4/objects/<from_type>/<from_id>/associations/<to_type>")
    def list_associations(from_type: str, from_id: str, to_type: str) -> Response:
        f, t = store.table(from_type).object_type, store.table(to_type).object_type
        limit = _limit(request.args.get("limit"), ASSOCIATION_PAGE_MAX, ASSOCIATION_PAGE_MAX)
        after = request.args.get("after") or "0"
        if not after.isdigit():
            raise validation_error(f"Invalid 'after' value: {after}")
        rows = _assoc_rows(f, from_id, t)
        start = int(after)
        page = rows[start : start + limit]
        body: dict[str, Any] = {"results": page}
        if start + limit < len(rows):
            nxt = str(start + limit)
            body["paging"] = {
                "next": {
                    "after": nxt,
                    "link": f"{request.host_url}crm/v4/objects/{from_type}/{from_id}/associations/{to_type}"
                    f"?{urlencode({'limit': limit, 'after': nxt})}",
                }
            }
        return _json(body)

    @app.put("/crm/v4/objects/<from_type>/<from_id>/associations/default/<to_type>/<to_id>")
    def associate_default(from_type: str, from_id: str, to_type: str, to_id: str) -> Response:
        f, t = store.table(from_type).object_type, store.table(to_type).object_type
        if store.get(f, from_id) is None or store.get(t, to_id) is None:
            raise not_found(f"Could not find {SINGULAR[f]} {from_id} or {SINGULAR[t]} {to_id}.")
        store.associate(f, from_id, t, to_id)
        stats.add_written(1)
        kinds = store.associations_of(f, from_id, t)
        spec = next(k for tid, ks in kinds if tid == to_id for k in ks)
        result = {
            "from": {"id": from_id},
            "to": {"id": to_id},
            "associationSpec": {"associationCategory": spec.category, "associationTypeId": spec.type_id},
        }
        return _json({"status": "COMPLETE", "results": [result], "startedAt": now_iso(), "completedAt": now_iso()})

    @app.post("/crm/v4/associations/<from_type>/<to_type>/batch/read")
    def batch_read_associations(from_type: str, to_type: str) -> Response:
        started = now_iso()
        f, t = store.table(from_type).object_type, store.table(to_type).object_type
        inputs = _inputs(_body(), ASSOCIATION_BATCH_MAX_INPUTS)
        results, errors = [], []
        for item in inputs:
            fid = str(item.get("id", ""))
            rows = _assoc_rows(f, fid, t)
            if rows:
                results.append({"from": {"id": fid}, "to": rows})
            else:
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                        "message": f"No {SINGULAR[t]} is associated with {SINGULAR[f]} {fid}.",
                        "context": {"fromObjectId": [fid]},
                        "links": {},
                        "errors": [],
                    }
                )
        return _batch(results, errors, started)

    # --- properties -------------------------------------------------------------------------

    @app.get("/crm/v3/properties/<object_type>")
    def list_properties(object_type: str) -> Response:
        table = store.table(object_type)
        with store.lock:
            body = {"results": [property_json(p) for p in table.properties.values()]}
        return _json(body)

    @app.post("/crm/v3/properties/<object_type>")
    def create_property(object_type: str) -> Response:
        prop = store.create_property(object_type, _body())
        return _json(property_json(prop), 201)

    @app.get("/crm/v3/properties/<object_type>/<name>")
    def get_property(object_type: str, name: str) -> Response:
        prop = store.table(object_type).properties.get(name)
        if prop is None:
            raise not_found(f"Unable to find property {name} for object type {object_type}")
        return _json(property_json(prop))

    @app.patch("/crm/v3/properties/<object_type>/<name>")
    def update_property(object_type: str, name: str) -> Response:
        return _json(property_json(store.update_property(object_type, name, _body())))

    @app.get("/crm/v3/properties/<object_type>/groups")
    def list_groups(object_type: str) -> Response:
        table = store.table(object_type)
        with store.lock:
            body = {"results": [group_json(gr) for gr in table.groups.values()]}
        return _json(body)

    @app.post("/crm/v3/properties/<object_type>/groups")
    def create_group(object_type: str) -> Response:
        return _json(group_json(store.create_group(object_type, _body())), 201)

    @app.get("/crm/v3/properties/<object_type>/groups/<name>")
    def get_group(object_type: str, name: str) -> Response:
        group = store.table(object_type).groups.get(name)
        if group is None:
            raise not_found(f"Unable to find property group {name} for object type {object_type}")
        return _json(group_json(group))

    return app
