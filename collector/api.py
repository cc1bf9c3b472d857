"""``POST /v1/batch``, ``/v1/track``, ``/v1/identify``, ``/v1/group``, ``/v1/page``: the Segment HTTP API.

Authenticated by the tenant's write key as the HTTP Basic user name (Segment's
convention). Answers say, per message, what was accepted, what was a duplicate and
why anything was rejected (by batch index); the good messages of a mixed batch are stored.

Limits, each with a clear answer: 500 KB per request and ``COLLECTOR_MAX_BATCH_MESSAGES``
messages per batch (413); ``COLLECTOR_RATE_PER_SECOND`` requests per write key with bursts of
``COLLECTOR_RATE_BURST`` (429 with ``Retry-After``); at most ``COLLECTOR_REJECTIONS_LISTED``
rejections named in an answer, ``rejectedCount`` giving them all.

Accept, then fold (`collector.inbox`): the answer comes once the batch's message ids are claimed and its
messages stored in the inbox; the fold job (`jobs.submit_fold`) folds them into accounts, users and usage a
moment later, then hands the accounts to the real-time path (``REALTIME_USAGE``). ``COLLECTOR_FOLD = "request"``
folds within the request instead (one-process tools and tests that read usage right after posting).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from flask import Blueprint, Response, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState
from sqlalchemy import bindparam, select

from collector.inbox import accept, accept_usual
from collector.ingest import REJECTIONS_LISTED
from collector.jsonbody import decode
from collector.limits import RateLimiter, retry_after
from collector.messages import (
    MAX_BATCH_BYTES,
    MAX_BATCH_MESSAGES,
    BatchError,
    BatchTooLarge,
    Message,
    Rejection,
    UsualColumns,
    parse_batch,
    read_body,
)
from extensions import canary_store, health_model
from jobs import submit_fold
from jobs.work import fold_job
from store.models import Tenant
from store.tenants import hash_write_key

collector = Blueprint("collector", __name__, url_prefix="/v1")

SINGLE_TYPES = {"track": "track", "identify": "identify", "group": "group", "page": "page",
                "screen": "screen", "alias": "alias"}
LIMITER = "canary.collector.limiter"
"""``app.extensions`` key of the per-write-key `RateLimiter` (tests swap in one with their own clock)."""


@collector.record_once
def _setup(state: BlueprintSetupState) -> None:
    state.app.extensions[LIMITER] = RateLimiter.from_config(state.app.config)


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"success": False, "error": message}), status


_TENANT_OF_KEY = select(Tenant.id).where(Tenant.write_key_hash == bindparam("key_hash"))
"""Built once: making the statement cost more than running it (SQLAlchemy caches its compiled form either way)."""


def _tenant_id() -> int | None:
    auth = request.authorization
    key = auth.username if auth and auth.type == "basic" else None
    if not key and isinstance(request.headers.get("X-Write-Key"), str):
        key = request.headers["X-Write-Key"]
    if not key:
        return None
    # One indexed read of the id alone (no ORM session): it runs before every batch
    with canary_store().engine.connect() as conn:
        found = conn.scalar(_TENANT_OF_KEY, {"key_hash": hash_write_key(key)})
    return int(found) if found is not None else None


def _read_body() -> bytes:
    too_large = f"batch larger than {MAX_BATCH_BYTES // 1024} KB: split it into smaller batches"
    length = request.content_length
    if length is not None and length > MAX_BATCH_BYTES:
        raise BatchTooLarge(too_large)
    # As many bytes as the request says it has (the stream holds no more): no buffer of the largest size made and copied
    body = request.stream.read(MAX_BATCH_BYTES + 1 if length is None else length)
    if len(body) > MAX_BATCH_BYTES:
        raise BatchTooLarge(too_large)
    return body


def _json(body: bytes) -> Any:
    try:
        return decode(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BatchError(f"the body is not valid JSON: {exc}") from exc


def _handle(wrap_single: str | None) -> tuple[Response, int]:
    tenant_id = _tenant_id()
    if tenant_id is None:
        return _error(401, "missing or unknown write key: send it as the HTTP Basic user name")
    wait = current_app.extensions[LIMITER].take(tenant_id)
    if wait > 0:
        response, status = _error(429, "too many requests for this write key: retry after the "
                                       "number of seconds in the Retry-After header")
        response.headers["Retry-After"] = retry_after(wait)
        return response, status
    config = current_app.config
    try:
        body = _read_body()
        now = dt.datetime.now(dt.UTC)
        most = int(config.get("COLLECTOR_MAX_BATCH_MESSAGES", MAX_BATCH_MESSAGES))
        # A batch of usual messages takes the typed decoder (and comes as columns when every message is of the
        # usual shape); anything else the plain one and every check
        parsed = read_body(body, now, max_messages=most) if wrap_single is None else None
        if parsed is None:
            payload = _json(body)
            if wrap_single is not None:
                if not isinstance(payload, dict):
                    raise BatchError("the body must be a JSON object")
                payload = {"batch": [{**payload, "type": payload.get("type", wrap_single)}]}
            parsed = parse_batch(payload, now, max_messages=most)
    except BatchTooLarge as exc:
        return _error(413, str(exc))
    except BatchError as exc:
        return _error(400, str(exc))
    milestones = frozenset(health_model().signals.milestones)
    if type(parsed) is UsualColumns:
        result = accept_usual(canary_store(), tenant_id, parsed, milestones=milestones)
    else:
        good, bad = cast(tuple[list[Message], list[Rejection]], parsed)
        result = accept(canary_store(), tenant_id, good, bad, milestones=milestones)
    if result.accepted:
        if config.get("COLLECTOR_FOLD", "background") == "request":
            fold_job(current_app, tenant_id)
        else:
            submit_fold(current_app, tenant_id)
    answer = result.as_dict(listed=int(config.get("COLLECTOR_REJECTIONS_LISTED", REJECTIONS_LISTED)))
    if result.accepted == 0 and result.duplicates == 0 and result.rejected:
        return jsonify(answer), 400
    return jsonify(answer), 200


@collector.post("/batch")
@collector.post("/import")
def batch() -> tuple[Response, int]:
    return _handle(None)


@collector.post("/<any(track, identify, group, page, screen, alias):kind>")
def single(kind: str) -> tuple[Response, int]:
    return _handle(SINGLE_TYPES[kind])
