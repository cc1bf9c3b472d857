"""The receiver: one route for every vendor, which asks the vendor's `WebhookSpec` what to do.

Order of the checks, and the answer each failure gets (nothing is handed over on any of them):

1. an unknown vendor or a vendor account in the wrong place: 404;
2. a body that does not name the vendor account the way the vendor does: 400;
3. no Canary workspace connected to that account: 404;
4. a forged or stale signature (or token), or no secret set up: 401;
5. a body the vendor would not send: 400;
6. this exact signed delivery seen before (a replay): 401.

Then each event is claimed in the shared replay ledger under ``(vendor, workspace, event id)`` for the
vendor's retry horizon — a duplicate delivery, or one event arriving in two batches, is handed over once —
and events Canary's own write-back caused are dropped (the loop guard). Ordering is not restored here:
processing fetches each record's current state by id, so an older event arriving last changes nothing.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Blueprint, Response, current_app, request
from sqlalchemy import select

import jobs
from cli.logs import register_secret
from extensions import canary_store, credential_cipher, replay_guard
from integrations import hosts
from integrations.errors import SignatureError
from integrations.registry import UnknownVendor, WebhookSpec
from integrations.registry import vendor as vendor_of
from integrations.replay import replay_key
from integrations.webhooks import Delivery, MalformedDelivery, Replay, VendorEvent, json_refusal
from store.models import Connection
from sync.changes import Change

log = logging.getLogger("canary.webhooks")

webhooks = Blueprint("webhooks", __name__, url_prefix="/webhooks")


def _answer(spec: WebhookSpec | None, status: int, message: str) -> Response:
    body, mimetype = spec.refusal(status, message) if spec is not None else json_refusal(status, message)
    return Response(body, status=status, content_type=mimetype)


def _connection(system: str, account_ref: str) -> tuple[int, dict[str, Any]] | None:
    """(tenant id, decrypted credentials) of the workspace connected to this vendor account."""
    try:
        account_ref = vendor_of(system).account_ref(account_ref)
    except hosts.InvalidHost:
        return None
    with canary_store().session() as session:  # across tenants: a vendor account belongs to one of them
        conn = session.scalar(select(Connection).where(Connection.system == system,
                                                       Connection.account_ref == account_ref))
        return (conn.tenant_id, credential_cipher().load(conn)) if conn is not None else None


def _change(system: str, event: VendorEvent) -> Change:
    return Change(system=system, object=event.object, external_id=event.external_id, kind=event.kind,
                  event_id=event.key, occurred_at=event.occurred_at, merged_into=event.merged_into)


@webhooks.post("/<system>")
@webhooks.post("/<system>/<account>")
def receive(system: str, account: str | None = None) -> Response:
    try:
        descriptor = vendor_of(system)
    except UnknownVendor as exc:
        return _answer(None, 404, str(exc))
    spec = descriptor.webhooks
    if spec is None:
        return _answer(None, 404, f"{descriptor.label} sends Canary no webhooks")
    if (account is not None) != spec.account_in_path:
        where = f"/webhooks/{system}/<account>" if spec.account_in_path else f"/webhooks/{system}"
        return _answer(spec, 404, f"{descriptor.label} webhooks are received at {where}")
    delivery = Delivery(request.method, request.url, dict(request.headers.items()), request.get_data(), account,
                        request.args.to_dict())
    try:
        refs = spec.accounts(delivery)
    except MalformedDelivery as exc:
        return _answer(spec, 400, str(exc))
    now = time.time()
    app_secret = current_app.config.get(spec.app_secret_config) if spec.app_secret_config else None
    verified: list[tuple[int, dict[str, Any], str, Replay | None]] = []
    for ref in refs:
        found = _connection(system, ref)
        if found is None:
            continue
        tenant_id, credentials = found
        secret = credentials.get(spec.secret_key) or app_secret
        register_secret(str(secret) if secret else None)
        if credentials.get("ticket_webhook_secret"):  # Zendesk's second webhook signs with its own
            register_secret(str(credentials["ticket_webhook_secret"]))
        try:
            replay = spec.verify(delivery, credentials, now=now, scope=tenant_id, app_secret=app_secret)
        except SignatureError as exc:
            missing = not secret
            return _answer(spec, 401, f"{exc}: {spec.setup}" if missing else str(exc))
        verified.append((tenant_id, credentials, ref, replay))
    if not verified:
        return _answer(spec, 404, f"no Canary workspace is connected to this {descriptor.label} account")
    try:
        parsed = [(tenant_id, spec.parse(delivery, credentials, ref), replay)
                  for tenant_id, credentials, ref, replay in verified]
    except MalformedDelivery as exc:
        return _answer(spec, 400, str(exc))
    guard = replay_guard()
    try:
        for _tenant, _events, replay in parsed:
            if replay is not None:
                guard.check_and_remember(replay.key, replay.expires_at)
    except SignatureError as exc:
        return _answer(spec, 401, str(exc))
    counts = {"handed_over": 0, "duplicates": 0, "own_changes": 0, "unknown_accounts": len(refs) - len(verified)}
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    for tenant_id, events, _replay in parsed:
        claimed: dict[str, bool] = {}
        changes: list[Change] = []
        for event in events:
            if event.own:
                counts["own_changes"] += 1
                continue
            if event.key not in claimed:  # a merge is one event naming several records
                try:
                    guard.check_and_remember(replay_key(f"{system}-event", tenant_id, event.key),
                                             now + spec.dedupe_ttl_s)
                    claimed[event.key] = True
                except SignatureError:
                    claimed[event.key] = False
            if not claimed[event.key]:
                counts["duplicates"] += 1
                continue
            changes.append(_change(system, event))
        counts["handed_over"] += jobs.submit_changes(app, tenant_id, changes)
    log.info("%s webhook: %s", system, ", ".join(f"{k} {v}" for k, v in counts.items()))
    body, mimetype = spec.answer(counts)
    return Response(body, status=200, content_type=mimetype)
