"""`canary notify run`: one notification round of a workspace now (what the beat's notify job does) — for
installations without a broker, a cron line every minute."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from cli.pipeline import app_store, resolve_tenant


@click.group("notify", help="Notifications for the team: run a round (events, escalations, bell, e-mail, digests, "
                            "Slack).")
def notify_cli() -> None:
    pass


@notify_cli.command("run", help="One notification round of the workspace now, then a send of the e-mail it queued.")
@click.option("--tenant", "tenant_slug", help="Workspace slug (default: the only one).")
@with_appcontext
def notify_run(tenant_slug: str | None) -> None:
    from jobs import queue_of
    from jobs.work import notify_job

    tenant = resolve_tenant(app_store(), tenant_slug)
    result = notify_job(current_app, tenant.id)
    queue_of(current_app).drain()  # the send job it queued, inline
    slack = result.pop("slack") or {}
    click.echo(", ".join(f"{name} {n}" for name, n in result.items())
               + (f"; Slack: {', '.join(f'{k} {v}' for k, v in slack.items())}" if slack else "; Slack: not set up"))
