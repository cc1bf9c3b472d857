"""``POST /v1/batch``, ``/v1/track``, ``/v1/identify``, ``/v1/group``, ``/v1/page``: the Segment HTTP API.

Authenticated by the tenant's write key as the HTTP Basic user name (Segment's
convention). Answers say, per message, what was accepted, what was a duplicate and
why anything was rejected; the good messages of a mixed batch are stored.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import Blueprint, Response, jsonify, request

from collector.ingest import ingest
from collector.messages import MAX_BATCH_BYTES, BatchError, parse_batch
from extensions import canary_store, health_model
from store.tenants import tenant_for_write_key

collector = Blueprint("collector", __name__, url_prefix="/v1")

SINGLE_TYPES = {"track": "track", "identify": "identify", "group": "group", "page": "page",
                "screen": "screen", "alias": "alias"}


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"success": False, "error": message}), status


def _tenant_id() -> int | None:
    auth = request.authorization
    key = auth.username if auth and auth.type == "basic" else None
    if not key and isinstance(request.headers.get("X-Write-Key"), str):
        key = request.headers["X-Write-Key"]
    if not key:
        return None
    with canary_store().session() as session:
        tenant = tenant_for_write_key(session, key)
        return tenant.id if tenant else None


def _read_json() -> Any:
    length = request.content_length
    if length is not None and length > MAX_BATCH_BYTES:
        raise _TooLarge
    body = request.stream.read(MAX_BATCH_BYTES + 1)
    if len(body) > MAX_BATCH_BYTES:
        raise _TooLarge
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BatchError(f"the body is not valid JSON: {exc}") from exc


class _TooLarge(Exception):
    pass


def _handle(wrap_single: str | None) -> tuple[Response, int]:
    tenant_id = _tenant_id()
    if tenant_id is None:
        return _error(401, "missing or unknown write key: send it as the HTTP Basic user name")
    try:
        payload = _read_json()
        if wrap_single is not None:
            if not isinstance(payload, dict):
                raise BatchError("the body must be a JSON object")
            payload = {"batch": [{**payload, "type": payload.get("type", wrap_single)}]}
        now = dt.datetime.now(dt.UTC)
        good, bad = parse_batch(payload, now)
    except _TooLarge:
        return _error(413, f"batch larger than {MAX_BATCH_BYTES // 1024} KB: split it into smaller batches")
    except BatchError as exc:
        return _error(400, str(exc))
    milestones = frozenset(health_model().signals.milestones)
    result = ingest(canary_store(), tenant_id, good, bad, milestones=milestones)
    body = result.as_dict()
    if result.accepted == 0 and result.duplicates == 0 and result.rejected:
        return jsonify(body), 400
    return jsonify(body), 200


@collector.post("/batch")
@collector.post("/import")
def batch() -> tuple[Response, int]:
    return _handle(None)


@collector.post("/<any(track, identify, group, page, screen, alias):kind>")
def single(kind: str) -> tuple[Response, int]:
    return _handle(SINGLE_TYPES[kind])
