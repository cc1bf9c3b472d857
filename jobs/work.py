"""The jobs themselves, framework-free: inline and Celery run these same functions.

Each is idempotent — a sync resumes from its stored cursors, a push sends only what differs from
the ledger, a change is fetched in its current state — so a job run twice (a retry, a worker that
died after the work but before the acknowledgement) changes nothing the second time. Syncs and
pushes hold a lock per workspace and system (`jobs.locks`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

log = logging.getLogger("canary.jobs")


def _store(app: Any) -> Any:
    from extensions import canary_store

    return canary_store(app)


def _adapters(app: Any, tenant_id: int, systems: Sequence[str] | None) -> tuple[Any, dict[str, Any]]:
    from extensions import credential_cipher
    from sync.connections import TenantAdapters

    connected = TenantAdapters(_store(app), credential_cipher(app), tenant_id, config=app.config)
    return connected, connected.build(list(systems) if systems else None)


def locks_of(app: Any) -> Any:
    from jobs import locks_for

    return locks_for(app)


def connected_systems(app: Any, tenant_id: int) -> list[str]:
    from store.models import Connection

    with _store(app).session(tenant_id) as s:
        return sorted(s.scalars(select(Connection.system).where(Connection.status == "active")))


def sync_job(app: Any, tenant_id: int, system: str, *, full: bool = False, trigger: str = "schedule") -> dict[str, Any]:
    """Pull one system of one workspace (incremental unless ``full``), recorded for the Connections page."""
    from console.connections import record_sync
    from sync.runner import sync

    store = _store(app)
    with locks_of(app).hold(f"sync:{tenant_id}:{system}"):
        connected, adapters = _adapters(app, tenant_id, [system])
        if system not in adapters:
            return {"system": system, "skipped": "not connected"}
        started = dt.datetime.now(dt.UTC)
        summary = sync(store, tenant_id, adapters, full=full, reconnect=connected.reconnect)
        record_sync(store, tenant_id, summary, trigger, started)
    return summary.as_dict()


def push_job(app: Any, tenant_id: int, system: str, *, trigger: str = "schedule") -> dict[str, Any]:
    """Write one workspace's changed health fields and tasks to one system."""
    from console.connections import record_push
    from sync.push import push

    store = _store(app)
    with locks_of(app).hold(f"push:{tenant_id}:{system}"):
        connected, adapters = _adapters(app, tenant_id, [system])
        if system not in adapters:
            return {"system": system, "skipped": "not connected"}
        started = dt.datetime.now(dt.UTC)
        result = push(store, tenant_id, system, adapters[system], reconnect=connected.reconnect)
        record_push(store, tenant_id, system, result, trigger, started)
    return {"system": system, "pushed": result.pushed, "calls": result.calls, "stopped": result.stopped,
            "tasks": result.tasks.as_dict() if result.tasks else None}


def score_job(app: Any, tenant_id: int, *, as_of: str | None = None, history_days: int = 1) -> dict[str, Any]:
    """Score the workspace as of a day (``history_days`` back, for the nightly rescore), then its lists
    and plays — what `canary score` does."""
    from console.mail import play_effects
    from extensions import health_model
    from sync.health import first_score, has_history, score_tenant
    from sync.plays import after_scoring

    store = _store(app)
    day = dt.date.fromisoformat(as_of) if as_of else dt.datetime.now(dt.UTC).date()
    model = health_model(app)
    with locks_of(app).hold(f"score:{tenant_id}"):
        if not has_history(store, tenant_id):
            summary = first_score(store, tenant_id, model, day)
        else:
            summary = score_tenant(store, tenant_id, model, day, since=day - dt.timedelta(days=history_days - 1))
        lists, plays = after_scoring(store, tenant_id, day, effects=play_effects(app.config))
    return {"score": summary.as_dict(), "lists": lists.as_dict(), "plays": plays.as_dict()}


def refresh_job(app: Any, tenant_id: int, *, trigger: str = "schedule", as_of: str | None = None) -> dict[str, Any]:
    """The every-few-minutes round of one workspace: pull every connected system, score the day
    (``as_of``, default today), push."""
    systems = connected_systems(app, tenant_id)
    out: dict[str, Any] = {"sync": {}, "push": {}}
    for system in systems:
        out["sync"][system] = sync_job(app, tenant_id, system, trigger=trigger)
    out["score"] = score_job(app, tenant_id, as_of=as_of)
    for system in systems:
        out["push"][system] = push_job(app, tenant_id, system, trigger=trigger)
    return out


def changes_job(app: Any, tenant_id: int, changes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Real-time changes of one workspace (webhooks, the collector): see `sync.realtime`."""
    from sync.realtime import process_changes_for_app

    return process_changes_for_app(app, tenant_id, changes)


def fold_job(app: Any, tenant_id: int) -> dict[str, Any]:
    """Fold the collector's inbox of one workspace (`collector.inbox.fold_pending`: oldest batch first, each
    deleted in the transaction that folds it), then hand the accounts whose usage moved to the real-time path
    (``REALTIME_USAGE``), as the collector did in the request before."""
    from collector.inbox import fold_pending, rescore_soon

    result = fold_pending(_store(app), tenant_id)
    if result.usage_accounts and app.config.get("REALTIME_USAGE"):
        rescore_soon(app, tenant_id, result.usage_accounts)
    return result.as_dict()


def workspaces_with_inbox(app: Any) -> list[int]:
    """Workspaces whose collector inbox holds a batch (the schedule's fold round, a worker's start)."""
    from store.models import CollectorInbox

    with _store(app).session() as s:
        return list(s.scalars(select(CollectorInbox.tenant_id).distinct().order_by(CollectorInbox.tenant_id)))


def send_job(app: Any, tenant_id: int, *, limit: int | None = None) -> dict[str, Any]:
    """Hand the workspace's due outbox e-mails to its SMTP server (`mail.outbox.deliver`: claims, so two
    senders never send one message; stale claims reconciled first; nothing to do without an SMTP server), then
    Web-Push the in-app messages queued with ``push`` (`inapp.push.send_due_pushes`: claimed before any HTTP call,
    at most once). The answer has ``push`` (its counts) only when a message was claimed."""
    from extensions import credential_cipher
    from inapp.push import send_due_pushes
    from mail.outbox import OutboxPolicy, deliver
    from mail.settings import smtp_settings

    store = _store(app)
    cipher = credential_cipher(app)
    with store.session(tenant_id) as s:
        settings = smtp_settings(s, cipher, app.config)
    if settings is None:
        out: dict[str, Any] = {"skipped": "no SMTP server is configured"}
    else:
        out = deliver(store, tenant_id, settings, policy=OutboxPolicy.from_config(app.config), limit=limit).as_dict()
    pushed = send_due_pushes(store, tenant_id, cipher, dt.datetime.now(dt.UTC),
                             allow_loopback=bool(app.config.get("INAPP_PUSH_ALLOW_LOOPBACK")))
    if pushed:
        out["push"] = pushed.as_dict()
    return out


def consent_job(app: Any, tenant_id: int) -> dict[str, Any]:
    """Write the workspace's queued suppressions to its CRMs (`sync.consent`); rows whose write failed for a
    passing reason stay queued for a later run (`workspaces_with_consent_due`, the schedule)."""
    from extensions import credential_cipher
    from sync.connections import TenantAdapters
    from sync.consent import ConsentPolicy, due_systems, write_consent

    store = _store(app)
    now = dt.datetime.now(dt.UTC)
    systems = due_systems(store, tenant_id, now)
    if not systems:
        return {"states": {}, "calls": {}, "retry_at": None}
    with locks_of(app).hold(f"consent:{tenant_id}"):
        connected = TenantAdapters(store, credential_cipher(app), tenant_id, config=app.config)
        adapters: dict[str, Any] = {}
        build_failed: dict[str, str] = {}
        for system in systems:
            try:
                adapters.update(connected.build([system]))
            except Exception as exc:  # an expired token that cannot be refreshed now: the rows wait
                build_failed[system] = f"{type(exc).__name__}: {exc}"
        policy = ConsentPolicy(backoff_seconds=float(app.config.get("CONSENT_BACKOFF_SECONDS") or 60.0))
        return write_consent(store, tenant_id, adapters, now=now, policy=policy, build_failed=build_failed).as_dict()


def workspaces_with_consent_due(app: Any) -> list[int]:
    """Workspaces with a consent write-back due now (the schedule's consent round)."""
    from store.models import ConsentWrite

    with _store(app).session() as s:
        return list(s.scalars(select(ConsentWrite.tenant_id).where(
            ConsentWrite.state == "queued", ConsentWrite.next_attempt_at <= dt.datetime.now(dt.UTC))
            .distinct().order_by(ConsentWrite.tenant_id)))


def campaigns_job(app: Any, tenant_id: int, *, now: str | None = None) -> dict[str, Any]:
    """Enroll and advance the workspace's active campaigns (`campaigns.runner.run_due`), one run at a time per
    workspace; the e-mails it queues go with the next send job (queued here when any was)."""
    from campaigns.runner import MailContext, run_due
    from extensions import credential_cipher
    from mail.settings import smtp_settings

    store = _store(app)
    with store.session(tenant_id) as s:
        settings = smtp_settings(s, credential_cipher(app), app.config)
    mail = MailContext(settings.from_address, str(app.config["PUBLIC_URL"]), str(app.config["SECRET_KEY"])) \
        if settings is not None else None
    when = dt.datetime.fromisoformat(now) if now else dt.datetime.now(dt.UTC)
    with locks_of(app).hold(f"campaigns:{tenant_id}"):
        summary = run_due(store, tenant_id, when, mail=mail)
    return summary.as_dict()


def workspaces_with_campaigns(app: Any) -> list[int]:
    """Workspaces with an active campaign (or a finished one whose people are still in)."""
    from store.models import Campaign

    with _store(app).session() as s:
        return list(s.scalars(select(Campaign.tenant_id).where(Campaign.status.in_(("active", "finished")))
                              .distinct().order_by(Campaign.tenant_id)))


def notify_job(app: Any, tenant_id: int, *, now: str | None = None) -> dict[str, Any]:
    """One notification round of the workspace (`notify.service.run_round`): new events, escalations, fan-out,
    e-mail now, digests due at 08:00 local, Slack; then a send job when it queued e-mail. ``now`` (ISO) for
    tests and replays; default the clock."""
    from extensions import credential_cipher
    from mail.settings import smtp_settings
    from notify.service import MailContext, run_round, utc_now
    from notify.settings import slack_target
    from store.models import Tenant

    store = _store(app)
    at = dt.datetime.fromisoformat(now) if now else utc_now()
    with locks_of(app).hold(f"notify:{tenant_id}"):
        with store.session(tenant_id) as s:
            settings = smtp_settings(s, credential_cipher(app), app.config)
            slack = slack_target(s, credential_cipher(app), app.config)
            tenant = s.get(Tenant, tenant_id)
            name = tenant.name if tenant is not None else "Canary"
        public_url = str(app.config.get("PUBLIC_URL") or "")
        mail = MailContext(settings.from_address, public_url, name) if settings is not None else None
        summary = run_round(store, tenant_id, at, mail=mail, slack=slack, public_url=public_url,
                            clock=None if now else utc_now)
    out = summary.as_dict()
    if summary.emails or summary.digests:
        from jobs import submit

        submit(app, "send", tenant_id)
    return out


def workspaces_with_mail_due(app: Any) -> list[int]:
    """Workspaces whose outbox has a message due now, or an in-app message waiting for its Web Push (the
    schedule's send round)."""
    from store.models import InAppMessage, OutboxMessage

    with _store(app).session() as s:
        mail = set(s.scalars(select(OutboxMessage.tenant_id).where(
            OutboxMessage.state == "queued", OutboxMessage.next_attempt_at <= dt.datetime.now(dt.UTC)).distinct()))
        push = set(s.scalars(select(InAppMessage.tenant_id).where(
            InAppMessage.push_wanted.is_(True), InAppMessage.pushed_at.is_(None)).distinct()))
        return sorted(mail | push)


def workspaces(app: Any) -> list[int]:
    from store.models import Tenant

    with _store(app).session() as s:
        return list(s.scalars(select(Tenant.id).order_by(Tenant.id)))


def record_failure(app: Any, tenant_id: int, kind: str, arguments: dict[str, Any], error: BaseException | str,
                   attempts: int, job_id: str | None = None) -> None:
    """A job out of retries: kept for the Connections page (the dead letters)."""
    from store.models import JobFailure

    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    with _store(app).session(tenant_id) as s:
        s.add(JobFailure(kind=kind, system=arguments.get("system"), arguments=arguments, error=text[:4000],
                         attempts=attempts, job_id=job_id))
    log.error("job %s for workspace %s failed after %s attempt(s): %s", kind, tenant_id, attempts, text[:500])
