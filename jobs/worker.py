"""Celery: the jobs of `jobs.work` as tasks, their retries, the dead letters, and the schedule.

* Messages are acknowledged after the job (``acks_late``) and re-queued when the worker running one
  dies (``reject_on_worker_lost``; Redis hands an unacknowledged message to another worker after
  ``CELERY_VISIBILITY_TIMEOUT``): a killed worker's sync is finished by another, and since every job
  is idempotent the store ends as after one uninterrupted run.
* A job whose lock is held elsewhere is tried again a little later; a vendor's `RetriableError` is
  retried with its ``Retry-After`` (else exponential backoff); a job out of retries is recorded as a
  dead letter (`store.models.JobFailure`), shown on the Connections page.
* The schedule (`canary beat`): every workspace's refresh (incremental sync of each connected
  system, today's score, lists and plays, push) every 5 minutes — also the reconciliation that
  catches what a webhook missed — and a nightly rescore of the last 30 days at 02:00 UTC.
* Queues by kind (`route`): real-time changes, syncs and refreshes, scores, pushes, e-mail sends each have
  their own queue (``canary.changes``, ``canary.sync``, ``canary.score``, ``canary.push``, ``canary.send``;
  every minute ``canary.send_due`` queues a send for each workspace with e-mail (or an in-app Web Push) due,
  and ``canary.consent_due`` a consent write-back to the CRMs (on the push queue); every five minutes
  ``canary.campaigns_due`` a campaigns run, on the send queue), so a nightly rescore
  never waits in front of a webhook's change; with ``JOB_PARTITIONS`` = P > 1 each kind is split into
  P queues by workspace id (``canary.sync.<tenant_id % P>``): `canary worker --queues sync --partitions 3`
  serves one slice, so a workspace's jobs of a kind always go to the same worker processes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from celery import Celery, Task
from celery.schedules import crontab
from celery.signals import worker_process_init, worker_ready

log = logging.getLogger("canary.jobs")

REFRESH_SECONDS = 300.0
SEND_SECONDS = 60.0
CAMPAIGN_SECONDS = 300.0
NOTIFY_SECONDS = 60.0
"""Notification rounds: new events, escalations, digests due at 08:00 local, Slack (`jobs.work.notify_job`)."""
FOLD_SECONDS = 60.0
"""The collector's fold round: a fold for each workspace with batches left in its inbox (a fold that failed, or a
batch whose fold was never queued); each batch queues its own fold at once (`queue_fold`)."""
NIGHTLY_HISTORY_DAYS = 30
MAX_RETRIES = 5
LOCKED_RETRY_SECONDS = 15

celery = Celery("canary")
_flask: list[Any] = []
"""The Flask app whose config and store the tasks use (set by `canary worker`, else made on first use)."""

QUEUE_KINDS = ("changes", "sync", "score", "push", "send")
"""The kinds of queue, each served by its own workers when wanted (`canary worker --queues`)."""
TASK_QUEUES: dict[str, str] = {
    "canary.changes": "changes", "canary.changes_flush": "changes",
    "canary.fold": "changes", "canary.fold_due": "changes",
    "canary.sync": "sync", "canary.refresh": "sync", "canary.refresh_all": "sync",
    "canary.score": "score", "canary.rescore_all": "score",
    "canary.push": "push", "canary.consent": "push", "canary.consent_due": "push",
    "canary.send": "send", "canary.send_due": "send",
    "canary.campaigns": "send", "canary.campaigns_due": "send",
    "canary.notify": "send", "canary.notify_all": "send",
}
"""Each task's queue kind. A refresh (sync, score, push of one workspace in one job) is sync work; the
schedule's fan-outs go with the work they fan out (partition 0: they name no workspace)."""
LEGACY_QUEUE = "canary"
"""The one queue of earlier versions: a worker serving every kind drains what is left in it."""


def queue_name(kind: str, tenant_id: int | None, partitions: int) -> str:
    """``canary.<kind>``, or with ``partitions`` > 1 ``canary.<kind>.<tenant_id % partitions>``."""
    if kind not in QUEUE_KINDS:
        raise ValueError(f"queue kind must be one of {', '.join(QUEUE_KINDS)}, not {kind!r}")
    if partitions < 1:
        raise ValueError(f"JOB_PARTITIONS must be 1 or more, not {partitions}")
    if partitions == 1:
        return f"canary.{kind}"
    return f"canary.{kind}.{(tenant_id or 0) % partitions}"


def worker_queues(kinds: Sequence[str] = QUEUE_KINDS, partitions: int = 1,
                  only: Sequence[int] | None = None) -> list[str]:
    """The queues a worker serving ``kinds`` (and of those, partitions ``only``) consumes."""
    unknown = sorted(set(kinds) - set(QUEUE_KINDS))
    if unknown or not kinds:
        raise ValueError(f"queue kinds must be among {', '.join(QUEUE_KINDS)}, not {', '.join(unknown) or 'none'}")
    slices = sorted(set(only)) if only is not None else list(range(partitions))
    if partitions > 1 and (not slices or slices[0] < 0 or slices[-1] >= partitions):
        raise ValueError(f"partitions must be between 0 and {partitions - 1} (JOB_PARTITIONS = {partitions})")
    if partitions == 1 and only is not None and slices != [0]:
        raise ValueError("JOB_PARTITIONS is 1: there is only partition 0")
    names = [queue_name(kind, p, partitions) for kind in kinds for p in (slices if partitions > 1 else [0])]
    return names + ([LEGACY_QUEUE] if set(kinds) == set(QUEUE_KINDS) and only is None else [])


def route(name: str, args: Sequence[Any] | None, kwargs: Any, options: Any, task: Any = None, **_: Any) -> Any:
    """Celery's router: a Canary task's queue by its kind and, when partitioned, its workspace id."""
    kind = TASK_QUEUES.get(name)
    if kind is None:
        return None
    tenant_id = int(args[0]) if args else None
    return {"queue": queue_name(kind, tenant_id, int(celery.conf.get("canary_job_partitions") or 1))}


SCHEDULE: dict[str, dict[str, Any]] = {
    "refresh every workspace": {"task": "canary.refresh_all", "schedule": REFRESH_SECONDS},
    "nightly rescore": {"task": "canary.rescore_all", "schedule": crontab(hour=2, minute=0)},
    "send due e-mail": {"task": "canary.send_due", "schedule": SEND_SECONDS},
    "write due consent": {"task": "canary.consent_due", "schedule": SEND_SECONDS},
    "advance campaigns": {"task": "canary.campaigns_due", "schedule": CAMPAIGN_SECONDS},
    "notify every workspace": {"task": "canary.notify_all", "schedule": NOTIFY_SECONDS},
    "fold the collector's inbox": {"task": "canary.fold_due", "schedule": FOLD_SECONDS},
}


def configure(app: Any) -> Celery:
    """Point the Celery app at the Flask app's broker and settings."""
    if celery.conf.broker_url and celery.conf.broker_url != app.config["CELERY_BROKER_URL"]:
        # Another broker than before (tests, benches): the cached producers still talk to the old one.
        celery.amqp._producer_pool = None
        celery.close()
    _configured_for[:] = [app.config["CELERY_BROKER_URL"]]
    celery.conf.update(
        broker_url=app.config["CELERY_BROKER_URL"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=LEGACY_QUEUE,
        task_routes=(route,),
        canary_job_partitions=int(app.config.get("JOB_PARTITIONS") or 1),
        broker_transport_options={"visibility_timeout": int(app.config.get("CELERY_VISIBILITY_TIMEOUT") or 3600),
                                  **dict(app.config.get("CELERY_TRANSPORT_OPTIONS") or {})},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        timezone="UTC",
        beat_schedule=SCHEDULE,
    )
    return celery


_configured_for: list[str] = []
"""The broker URL `configure` last set. Not ``celery.conf.broker_url``: Celery reads that from the
``CELERY_BROKER_URL`` environment variable by itself, without the rest of `configure` (the queue)."""


def celery_for(app: Any) -> Celery:
    if _configured_for != [app.config.get("CELERY_BROKER_URL")]:
        configure(app)
    return celery


def set_flask_app(app: Any) -> None:
    _flask[:] = [app]


def flask_app() -> Any:
    if not _flask:
        from app import create_app

        _flask.append(create_app())
    return _flask[0]


@worker_ready.connect
def _fold_at_start(**_: Any) -> None:
    """A worker starting: fold whatever the collector's inbox holds (batches accepted while no worker ran)."""
    try:
        fold_due.delay()
    except Exception as exc:  # the broker not reachable yet: the schedule's round comes within a minute
        log.warning("could not queue the collector's fold at start: %s", exc)


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    """A forked pool process must not share its parent's database connections."""
    if _flask:
        from extensions import canary_store

        canary_store(_flask[0]).engine.dispose(close=False)


class CanaryTask(Task):
    max_retries = MAX_RETRIES

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        from jobs.work import record_failure

        if args:
            record_failure(flask_app(), int(args[0]), self.name.removeprefix("canary."), dict(kwargs or {}), exc,
                           attempts=self.request.retries + 1, job_id=task_id)


def _run(task: Any, kind: str, tenant_id: int, **kwargs: Any) -> Any:
    from integrations.errors import RetriableError
    from jobs import work
    from jobs.locks import Locked

    app = flask_app()
    try:
        with app.app_context():
            return getattr(work, f"{kind}_job")(app, tenant_id, **kwargs)
    except Locked as exc:
        raise task.retry(countdown=LOCKED_RETRY_SECONDS, exc=exc, max_retries=40) from exc
    except RetriableError as exc:
        wait = exc.retry_after if exc.retry_after is not None else 5 * 2 ** task.request.retries
        raise task.retry(countdown=wait, exc=exc) from exc


@celery.task(name="canary.sync", base=CanaryTask, bind=True)
def sync_task(self: Any, tenant_id: int, system: str, full: bool = False, trigger: str = "schedule") -> Any:
    return _run(self, "sync", tenant_id, system=system, full=full, trigger=trigger)


@celery.task(name="canary.push", base=CanaryTask, bind=True)
def push_task(self: Any, tenant_id: int, system: str, trigger: str = "schedule") -> Any:
    return _run(self, "push", tenant_id, system=system, trigger=trigger)


@celery.task(name="canary.score", base=CanaryTask, bind=True)
def score_task(self: Any, tenant_id: int, as_of: str | None = None, history_days: int = 1) -> Any:
    return _run(self, "score", tenant_id, as_of=as_of, history_days=history_days)


@celery.task(name="canary.refresh", base=CanaryTask, bind=True)
def refresh_task(self: Any, tenant_id: int, trigger: str = "schedule", as_of: str | None = None) -> Any:
    return _run(self, "refresh", tenant_id, trigger=trigger, as_of=as_of)


@celery.task(name="canary.changes", base=CanaryTask, bind=True)
def changes_task(self: Any, tenant_id: int, changes: list[dict[str, Any]]) -> Any:
    return _run(self, "changes", tenant_id, changes=changes)


@celery.task(name="canary.send", base=CanaryTask, bind=True)
def send_task(self: Any, tenant_id: int, limit: int | None = None) -> Any:
    return _run(self, "send", tenant_id, limit=limit)


@celery.task(name="canary.send_due")
def send_due() -> int:
    """Every minute: a send job for each workspace with e-mail due (new, or a retry whose backoff is over) or an
    in-app message waiting for its Web Push."""
    from jobs.work import workspaces_with_mail_due

    ids = workspaces_with_mail_due(flask_app())
    for tenant_id in ids:
        send_task.delay(tenant_id)
    return len(ids)


@celery.task(name="canary.consent", base=CanaryTask, bind=True)
def consent_task(self: Any, tenant_id: int) -> Any:
    return _run(self, "consent", tenant_id)


@celery.task(name="canary.consent_due")
def consent_due() -> int:
    """Every minute: a consent job for each workspace with a CRM write-back due (new, or a retry)."""
    from jobs.work import workspaces_with_consent_due

    ids = workspaces_with_consent_due(flask_app())
    for tenant_id in ids:
        consent_task.delay(tenant_id)
    return len(ids)


@celery.task(name="canary.campaigns", base=CanaryTask, bind=True)
def campaigns_task(self: Any, tenant_id: int, now: str | None = None) -> Any:
    return _run(self, "campaigns", tenant_id, now=now)


@celery.task(name="canary.campaigns_due")
def campaigns_due() -> int:
    """Every five minutes: a campaigns job for each workspace with an active campaign (its e-mails then go
    with the minute's send round)."""
    from jobs.work import workspaces_with_campaigns

    ids = workspaces_with_campaigns(flask_app())
    for tenant_id in ids:
        campaigns_task.delay(tenant_id)
    return len(ids)


@celery.task(name="canary.notify", base=CanaryTask, bind=True)
def notify_task(self: Any, tenant_id: int, now: str | None = None) -> Any:
    return _run(self, "notify", tenant_id, now=now)


@celery.task(name="canary.notify_all")
def notify_all() -> int:
    """Every minute: a notification round for each workspace (digests fall due at 08:00 in each user's zone)."""
    from jobs.work import workspaces

    ids = workspaces(flask_app())
    for tenant_id in ids:
        notify_task.delay(tenant_id)
    return len(ids)


def _redis(app: Any) -> Any:
    import redis

    return redis.Redis.from_url(app.config["CELERY_BROKER_URL"])


def queue_changes(app: Any, tenant_id: int, changes: list[dict[str, Any]], delay: float) -> None:
    """Keep the changes in Redis; the first of a quiet workspace schedules its flush job after ``delay``."""
    import json

    client = _redis(app)
    client.rpush(f"canary:changes:{tenant_id}", *[json.dumps(c, sort_keys=True) for c in changes])
    if client.set(f"canary:changes-flush:{tenant_id}", "1", nx=True, ex=300):
        celery_for(app).send_task("canary.changes_flush", args=[tenant_id], countdown=delay)


@celery.task(name="canary.changes_flush", base=CanaryTask, bind=True)
def changes_flush(self: Any, tenant_id: int) -> Any:
    """Every change waiting for the workspace, in one pass (duplicates dropped). The flag goes first, so
    a change arriving during the pass schedules the next flush."""
    import json

    app = flask_app()
    client = _redis(app)
    key = f"canary:changes:{tenant_id}"
    client.delete(f"canary:changes-flush:{tenant_id}")
    pipe = client.pipeline(transaction=True)
    pipe.lrange(key, 0, -1)
    pipe.delete(key)
    raw, _ = pipe.execute()
    changes = list({item: json.loads(item) for item in raw}.values())
    if not changes:
        return None
    try:
        return _run(self, "changes", tenant_id, changes=changes)
    except Exception:
        if raw:  # not lost: back in the list for the retry (or the next flush)
            client.rpush(key, *raw)
        raise


def queue_fold(app: Any, tenant_id: int) -> None:
    """Queue the workspace's fold unless one is queued and not started (a Redis flag, cleared when it starts)."""
    if _redis(app).set(f"canary:fold:{tenant_id}", "1", nx=True, ex=300):
        celery_for(app).send_task("canary.fold", args=[tenant_id])


@celery.task(name="canary.fold", base=CanaryTask, bind=True)
def fold_task(self: Any, tenant_id: int) -> Any:
    """Fold the workspace's collector inbox. The flag goes first, so a batch stored during the fold queues the
    next one; a failed fold leaves its batches in the inbox (the next fold, or the schedule's round, takes them)."""
    _redis(flask_app()).delete(f"canary:fold:{tenant_id}")
    return _run(self, "fold", tenant_id)


@celery.task(name="canary.fold_due")
def fold_due() -> int:
    """Every minute (and at a worker's start): a fold for each workspace with batches in its collector inbox."""
    from jobs.work import workspaces_with_inbox

    ids = workspaces_with_inbox(flask_app())
    for tenant_id in ids:
        fold_task.delay(tenant_id)
    return len(ids)


@celery.task(name="canary.refresh_all")
def refresh_all() -> int:
    from jobs.work import workspaces

    ids = workspaces(flask_app())
    for tenant_id in ids:
        refresh_task.delay(tenant_id)
    return len(ids)


@celery.task(name="canary.rescore_all")
def rescore_all() -> int:
    from jobs.work import workspaces

    ids = workspaces(flask_app())
    for tenant_id in ids:
        score_task.delay(tenant_id, history_days=NIGHTLY_HISTORY_DAYS)
    return len(ids)
