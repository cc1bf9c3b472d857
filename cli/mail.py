"""`canary mail`: the outbox by hand — send what is due now, and count messages per state."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from cli.pipeline import app_store, resolve_tenant


@click.group("mail", help="E-mail: the outbox of a workspace (send what is due, counts per state).")
def mail_cli() -> None:
    pass


@mail_cli.command("send", help="Hand the workspace's due e-mails to its SMTP server now (what the send job does).")
@click.option("--tenant", "tenant_slug", help="Workspace slug (default: the only one).")
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many messages.")
@with_appcontext
def mail_send(tenant_slug: str | None, limit: int | None) -> None:
    from jobs.work import send_job

    tenant = resolve_tenant(app_store(), tenant_slug)
    result = send_job(current_app, tenant.id, limit=limit)
    push = result.pop("push", None)
    if push:
        click.echo("web push: " + ", ".join(f"{what} {n}" for what, n in push.items() if n))
    if "skipped" in result:
        if push:
            click.echo(f"e-mail: nothing sent: {result['skipped']}")
            return
        raise click.ClickException(f"nothing sent: {result['skipped']} (set it on the console's Settings page)")
    click.echo(", ".join(f"{state} {n}" for state, n in result.items()))


@mail_cli.command("outbox", help="Messages in the workspace's outbox, per state.")
@click.option("--tenant", "tenant_slug", help="Workspace slug (default: the only one).")
@with_appcontext
def mail_outbox(tenant_slug: str | None) -> None:
    from mail.outbox import counts

    tenant = resolve_tenant(app_store(), tenant_slug)
    found = counts(app_store(), tenant.id)
    click.echo(", ".join(f"{state} {n}" for state, n in sorted(found.items())) or "empty")
