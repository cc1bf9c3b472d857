"""Background work: sync, score, push, real-time changes — run inline or on Celery workers.

`submit(app, kind, tenant_id, ...)` is the one door: without ``CELERY_BROKER_URL`` the job runs in
this process on one background thread (a webhook's request answers at once, as the vendors' timeouts
require) — `make demo` needs no Redis; with it, a message goes to Redis and a `canary worker` runs it
(`jobs.worker`). Either way the job is the same function of `jobs.work`. `submit_changes` is the door
for webhook receivers and the collector (verified, parsed `sync.changes.Change`s); `submit_fold` the collector's
door to its fold job (`collector.inbox`), coalesced per workspace.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from sync.changes import Change

log = logging.getLogger("canary.jobs")

QUEUE_KEY = "canary.jobs"


class InlineQueue:
    """Runs submitted work in order on one thread of this process (no broker needed)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="canary-jobs")
        self._lock = threading.Lock()
        self._pending: list[Future[Any]] = []

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        with self._lock:  # listed before it can start: a `drain` that sees its effects also waits for it
            future = self._pool.submit(fn, *args)
            self._pending = [f for f in self._pending if not f.done()] + [future]
        future.add_done_callback(_log_failure)
        return future

    def drain(self, timeout: float = 60.0) -> None:
        """Wait for everything submitted so far (tests; a clean shutdown)."""
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.result(timeout=timeout)


def _log_failure(future: Future[Any]) -> None:
    exc = future.exception()
    if exc is not None:
        log.error("background job failed: %s: %s", type(exc).__name__, exc)


def real_app(app: Any) -> Any:
    """The Flask app behind ``current_app`` (a job outlives the request that queued it)."""
    unwrap = getattr(app, "_get_current_object", None)
    return unwrap() if unwrap is not None else app


_Held = TypeVar("_Held", "InlineQueue", "PendingChanges", "PendingFolds")


def _this_process(app: Any, key: str, kind: type[_Held]) -> _Held:
    """The app's `kind` kept under `key` for this process: a forked worker makes its own (threads do not fork, so
    the master's queue thread and the work it holds stay behind)."""
    held = app.extensions.get(key)
    if not isinstance(held, kind) or held.pid != os.getpid():
        held = app.extensions[key] = kind()
    return held


def queue_of(app: Any) -> InlineQueue:
    return _this_process(app, QUEUE_KEY, InlineQueue)


KINDS = ("sync", "push", "score", "refresh", "changes", "send", "campaigns", "notify", "consent", "fold")
LOCKS_KEY = "canary.locks"


def uses_celery(app: Any) -> bool:
    return bool(app.config.get("CELERY_BROKER_URL"))


def locks_for(app: Any) -> Any:
    """The job locks: in Redis with a broker (shared by every worker), else in this process."""
    locks = app.extensions.get(LOCKS_KEY)
    if locks is None:
        from jobs.locks import LocalLocks, RedisLocks

        if uses_celery(app):
            import redis

            locks = RedisLocks(redis.Redis.from_url(app.config["CELERY_BROKER_URL"]),
                               float(app.config.get("JOB_LOCK_SECONDS") or 120))
        else:
            locks = LocalLocks()
        app.extensions[LOCKS_KEY] = locks
    return locks


def run_inline(app: Any, kind: str, tenant_id: int, kwargs: dict[str, Any]) -> Any:
    """Run one job here and now; a failure (other than a lock held elsewhere) becomes a dead letter."""
    from jobs import work
    from jobs.locks import Locked

    try:
        with app.app_context():  # on the queue's thread, as in a request
            return getattr(work, f"{kind}_job")(app, tenant_id, **kwargs)
    except Locked as exc:
        log.info("job %s for workspace %s skipped: %s", kind, tenant_id, exc)
        return {"skipped": str(exc)}
    except Exception as exc:
        work.record_failure(app, tenant_id, kind, dict(kwargs), exc, attempts=1)
        raise


def submit(app: Any, kind: str, tenant_id: int, **kwargs: Any) -> str | None:
    """Queue one job (`KINDS`); returns the Celery task id, or None when it runs inline."""
    if kind not in KINDS:
        raise ValueError(f"job kind must be one of {', '.join(KINDS)}, not {kind!r}")
    app = real_app(app)
    if uses_celery(app):
        from jobs.worker import celery_for

        result = celery_for(app).send_task(f"canary.{kind}", args=[tenant_id], kwargs=kwargs)
        return str(result.id)
    queue_of(app).submit(run_inline, app, kind, tenant_id, kwargs)
    return None


PENDING_KEY = "canary.pending_changes"
FLUSH_TTL_SECONDS = 300


class PendingChanges:
    """Changes waiting for their workspace's next real-time job, in this process (no broker).

    The first change of a quiet workspace schedules one job after ``REALTIME_COALESCE_SECONDS``; the
    changes arriving meanwhile join it — a burst of webhooks or collector batches is one rescoring."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._lock = threading.Lock()
        self._pending: dict[int, dict[str, dict[str, Any]]] = {}

    def add(self, tenant_id: int, changes: Sequence[dict[str, Any]]) -> bool:
        """Keep the changes; True when no job is scheduled for the workspace yet (schedule one)."""
        with self._lock:
            first = tenant_id not in self._pending
            bucket = self._pending.setdefault(tenant_id, {})
            for c in changes:
                bucket[_change_key(c)] = c
            return first

    def take(self, tenant_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._pending.pop(tenant_id, {}).values())


def _change_key(c: dict[str, Any]) -> str:
    return f"{c['system']}|{c['object']}|{c['external_id']}|{c.get('kind')}|{c.get('merged_into')}"


def pending_of(app: Any) -> PendingChanges:
    return _this_process(app, PENDING_KEY, PendingChanges)


def run_pending(app: Any, tenant_id: int) -> Any:
    """The inline real-time job: every change waiting for the workspace, in one pass."""
    changes = pending_of(app).take(tenant_id)
    return run_inline(app, "changes", tenant_id, {"changes": changes}) if changes else None


def submit_changes(app: Any, tenant_id: int, changes: Sequence[Change]) -> int:
    """Hand verified changes of one workspace over for processing; returns how many were handed over.

    Changes are coalesced per workspace for ``REALTIME_COALESCE_SECONDS`` (duplicates dropped): one job
    processes everything that arrived in that window."""
    if not changes:
        return 0
    app = real_app(app)
    items = [c.as_dict() for c in changes]
    delay = float(app.config.get("REALTIME_COALESCE_SECONDS") or 0)
    if uses_celery(app):
        from jobs.worker import queue_changes

        queue_changes(app, tenant_id, items, delay)
        return len(items)
    if pending_of(app).add(tenant_id, items):
        if delay > 0:
            timer = threading.Timer(delay, lambda: queue_of(app).submit(run_pending, app, tenant_id))
            timer.daemon = True
            timer.start()
        else:
            queue_of(app).submit(run_pending, app, tenant_id)
    return len(items)


FOLDS_KEY = "canary.pending_folds"


class PendingFolds:
    """Workspaces with a fold job queued and not started, in this process (no broker): a burst of collector
    batches queues one fold per workspace; a batch accepted once that fold has started queues the next."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._lock = threading.Lock()
        self._queued: set[int] = set()

    def add(self, tenant_id: int) -> bool:
        """True when no fold was queued for the workspace (queue one)."""
        with self._lock:
            first = tenant_id not in self._queued
            self._queued.add(tenant_id)
            return first

    def start(self, tenant_id: int) -> None:
        with self._lock:
            self._queued.discard(tenant_id)


def folds_of(app: Any) -> PendingFolds:
    return _this_process(app, FOLDS_KEY, PendingFolds)


def run_fold(app: Any, tenant_id: int) -> Any:
    """The inline fold job: marked started before it reads the inbox, so a batch stored meanwhile queues another."""
    folds_of(app).start(tenant_id)
    return run_inline(app, "fold", tenant_id, {})


def submit_fold(app: Any, tenant_id: int) -> None:
    """Fold the workspace's collector inbox soon (`jobs.work.fold_job`): on the inline queue's thread, or as a
    Celery task (``canary.fold``, one queued per workspace at a time)."""
    app = real_app(app)
    if uses_celery(app):
        from jobs.worker import queue_fold

        queue_fold(app, tenant_id)
        return
    if folds_of(app).add(tenant_id):
        queue_of(app).submit(run_fold, app, tenant_id)
