"""`canary campaigns`: run a workspace's campaigns now, and list them with their figures."""

from __future__ import annotations

import datetime as dt

import click
from flask import current_app
from flask.cli import with_appcontext

from cli.pipeline import app_store, resolve_tenant


@click.group("campaigns", help="Campaigns: advance them now (what the campaigns job does), list them.")
def campaigns_cli() -> None:
    pass


@campaigns_cli.command("run", help="Enroll and advance the workspace's active campaigns now, then send the e-mail.")
@click.option("--tenant", "tenant_slug", help="Workspace slug (default: the only one).")
@click.option("--no-send", is_flag=True, help="Queue the e-mails in the outbox without sending them.")
@with_appcontext
def campaigns_run(tenant_slug: str | None, no_send: bool) -> None:
    from jobs.work import campaigns_job, send_job

    tenant = resolve_tenant(app_store(), tenant_slug)
    result = campaigns_job(current_app, tenant.id)
    click.echo(", ".join(f"{k} {v}" for k, v in result.items() if v) or "nothing due")
    if not no_send and (result.get("sent") or result.get("in_app")):
        sent = send_job(current_app, tenant.id)
        click.echo("mail: " + ", ".join(f"{k} {v}" for k, v in sent.items()))


@campaigns_cli.command("list", help="The workspace's campaigns: status, people, e-mails, conversions.")
@click.option("--tenant", "tenant_slug", help="Workspace slug (default: the only one).")
@with_appcontext
def campaigns_list(tenant_slug: str | None) -> None:
    from sqlalchemy import select

    from campaigns.stats import campaign_stats
    from store.models import Campaign

    tenant = resolve_tenant(app_store(), tenant_slug)
    today = dt.datetime.now(dt.UTC).date()
    with app_store().session(tenant.id) as s:
        rows = list(s.scalars(select(Campaign).order_by(Campaign.id)))
        if not rows:
            click.echo("no campaigns")
        for campaign in rows:
            c = campaign_stats(s, campaign.id, today)["campaign"]
            click.echo(f"{campaign.id:>4}  {campaign.status:<8} {campaign.name}  — enrolled {c['enrolled']}, sent "
                       f"{c['sent']}, opened {c['opened']}, clicked {c['clicked']}, converted {c['converted']}")
