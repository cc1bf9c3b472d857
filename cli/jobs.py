"""`canary worker` and `canary beat`: background jobs on Celery with Redis (``CELERY_BROKER_URL``)."""

from __future__ import annotations

import os

import click
from flask import current_app
from flask.cli import with_appcontext


def _configured() -> object:
    from jobs.worker import configure, set_flask_app

    if not current_app.config.get("CELERY_BROKER_URL"):
        raise click.ClickException("set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0) to run background workers; "
                                   "without it Canary runs every job inline")
    set_flask_app(current_app._get_current_object())  # type: ignore[attr-defined]
    return configure(current_app)


@click.command("worker", help="Run a Celery worker for sync, score, push, real-time and e-mail jobs.")
@click.option("--concurrency", "-c", default=None, type=click.IntRange(1, 256),
              help="Processes (default: the number of CPUs).")
@click.option("--pool", type=click.Choice(["prefork", "solo", "threads"]), default="prefork", show_default=True)
@click.option("--name", default=None, help="Worker name (default: canary@<host>-<pid>).")
@click.option("--queues", "-Q", "kinds", default=None, metavar="KIND[,KIND]",
              help="Kinds of job to serve, among changes, sync, score, push, send (default: all).")
@click.option("--partitions", default=None, metavar="N[,N]",
              help="With JOB_PARTITIONS > 1: the workspace partitions to serve (default: all).")
@click.option("--loglevel", default="INFO", show_default=True)
@with_appcontext
def worker(concurrency: int | None, pool: str, name: str | None, kinds: str | None, partitions: str | None,
           loglevel: str) -> None:
    from jobs.worker import QUEUE_KINDS, worker_queues

    celery = _configured()
    try:
        only = [int(p) for p in partitions.split(",") if p.strip()] if partitions is not None else None
        queues = worker_queues([k.strip() for k in kinds.split(",") if k.strip()] if kinds else QUEUE_KINDS,
                               int(current_app.config.get("JOB_PARTITIONS") or 1), only)
    except ValueError as exc:
        raise click.BadParameter(str(exc).replace("invalid literal for int() with base 10", "not a number"),
                                 param_hint="--queues/--partitions") from exc
    argv = ["worker", "--loglevel", loglevel, "--pool", pool, "--queues", ",".join(queues),
            "--hostname", name or f"canary@%h-{os.getpid()}", "--without-gossip", "--without-mingle"]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    celery.worker_main(argv)  # type: ignore[attr-defined]


@click.command("beat", help="Run the schedule: every workspace refreshed every 5 minutes, a nightly rescore.")
@click.option("--loglevel", default="INFO", show_default=True)
@with_appcontext
def beat(loglevel: str) -> None:
    celery = _configured()
    schedule = os.path.join(current_app.instance_path, "celerybeat-schedule")
    os.makedirs(current_app.instance_path, exist_ok=True)
    celery.start(["beat", "--loglevel", loglevel, "--schedule", schedule])  # type: ignore[attr-defined]
