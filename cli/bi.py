"""`canary bi …`: read-only access to a workspace's data for a BI tool (PostgreSQL views in schema ``bi``);
`canary revenue rebuild`: a workspace's subscription history recomputed."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy.engine import make_url

from cli.pipeline import app_store, resolve_tenant
from store.audit import COMMAND_LINE


@click.group("bi", help="Read-only views of a workspace's data for BI tools (PostgreSQL), and their login role.")
def bi_cli() -> None:
    pass


@bi_cli.command("views", help="The views a BI tool may query, and what each holds.")
def bi_views() -> None:
    from store.bi import VIEWS

    for name, what in VIEWS.items():
        click.echo(f"bi.{name:24} {what}")


@bi_cli.command("enable", help="Create the workspace's BI role, or give it a new password (shown once).")
@click.option("--tenant", "tenant_slug", help="Workspace slug (default: the only one).")
@with_appcontext
def bi_enable(tenant_slug: str | None) -> None:
    from store.bi import BIError, enable

    store = app_store()
    tenant = resolve_tenant(store, tenant_slug)
    try:
        access = enable(store, tenant.id, COMMAND_LINE)
    except BIError as exc:
        raise click.ClickException(str(exc)) from None
    url = make_url(store.url)
    click.echo(f"BI access for {tenant.slug}: role {access.role}")
    click.echo(f"password (shown this once; `canary bi enable` again makes a new one): {access.password}")
    click.echo(f"connect to host {url.host or 'localhost'} port {url.port or 5432} database {url.database}; "
               "query the views in schema bi (`canary bi views`)")


@bi_cli.command("disable", help="Drop the workspace's BI role.")
@click.option("--tenant", "tenant_slug", help="Workspace slug (default: the only one).")
@with_appcontext
def bi_disable(tenant_slug: str | None) -> None:
    from store.bi import BIError, disable

    store = app_store()
    tenant = resolve_tenant(store, tenant_slug)
    try:
        role = disable(store, tenant.id, COMMAND_LINE)
    except BIError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"BI role {role} dropped." if role else f"BI access was not enabled for {tenant.slug}.")


@click.group("revenue", help="Subscription history: term ends and ARR movements (docs/analytics.md).")
def revenue_cli() -> None:
    pass


@revenue_cli.command("rebuild", help="Recompute every subscription's term end and the workspace's ARR movements "
                                     "from its subscriptions (once after upgrading; sync keeps them after).")
@click.option("--tenant", "tenant_slug", help="Workspace slug (default: the only one).")
@with_appcontext
def revenue_rebuild(tenant_slug: str | None) -> None:
    from sqlalchemy import select

    from store.models import Subscription
    from sync.reports import prepare_reports
    from sync.revenue import refresh

    store = app_store()
    tenant = resolve_tenant(store, tenant_slug)
    with store.session(tenant.id) as s:
        ids = [a for a in s.scalars(select(Subscription.account_id).distinct()) if a is not None]
        rows = refresh(s, ids)
        prepare_reports(s)
    click.echo(f"{tenant.slug}: {len(ids)} accounts with subscriptions, {rows} movements and renewals recorded.")
