"""Background work: sync, score, push, real-time changes — run inline or on Celery workers.

`submit(app, kind, tenant_id, ...)` is the one door: without ``CELERY_BROKER_URL`` the job runs in
this process on one background thread (a webhook's request answers at once, as the vendors' timeouts
require) — `make demo` needs no Redis; with it, a message goes to Redis and a `canary worker` runs it
(`jobs.worker`). Either way the job is the same function of `jobs.work`. `submit_changes` is the door
for webhook receivers and the collector (verified, parsed `sync.changes.Change`s).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sync.changes import Change

log = logging.getLogger("canary.jobs")

QUEUE_KEY = "canary.jobs"


class InlineQueue:
    """Runs submitted work in order on one thread of this process (no broker needed)."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="canary-jobs")
        self._lock = threading.Lock()
        self._pending: list[Future[Any]] = []

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future = self._pool.submit(fn, *args)
        future.add_done_callback(_log_failure)
        with self._lock:
            self._pending = [f for f in self._pending if not f.done()] + [future]
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


def queue_of(app: Any) -> InlineQueue:
    queue = app.extensions.get(QUEUE_KEY)
    if queue is None:
        queue = app.extensions[QUEUE_KEY] = InlineQueue()
    assert isinstance(queue, InlineQueue)
    return queue


KINDS = ("sync", "push", "score", "refresh", "changes")
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
    if uses_celery(app):
        from jobs.worker import celery_for

        result = celery_for(app).send_task(f"canary.{kind}", args=[tenant_id], kwargs=kwargs)
        return str(result.id)
    queue_of(app).submit(run_inline, app, kind, tenant_id, kwargs)
    return None


def submit_changes(app: Any, tenant_id: int, changes: Sequence[Change]) -> int:
    """Hand verified changes of one workspace over for processing; returns how many were handed over."""
    if not changes:
        return 0
    submit(app, "changes", tenant_id, changes=[c.as_dict() for c in changes])
    return len(changes)
