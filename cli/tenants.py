"""`canary tenant …`: workspaces and their usage-collector write keys."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from extensions import canary_store
from store.audit import COMMAND_LINE, record_audit
from store.db import Store
from store.models import Account, Connection, Tenant
from store.tenants import create_tenant, rotate_write_key

tenant_cli = AppGroup("tenant", help="Create and list workspaces (tenants).")


def _store() -> Store:
    return canary_store()


@tenant_cli.command("create", help="Create a workspace; prints its collector write key once.")
@click.argument("slug")
@click.option("--name", help="Display name (default: the slug).")
def create(slug: str, name: str | None) -> None:
    with _store().session() as session:
        try:
            tenant, key = create_tenant(session, slug, name or slug)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"Created workspace {tenant.slug!r} (id {tenant.id}).")
    click.echo(f"Usage collector write key (shown once, keep it safe): {key}")
    click.echo("Send product events to POST /v1/batch with the key as the HTTP Basic user name.")


@tenant_cli.command("list", help="List workspaces with their connections and account counts.")
def list_tenants() -> None:
    with _store().session() as session:
        tenants = session.scalars(select(Tenant).order_by(Tenant.slug)).all()
        if not tenants:
            click.echo("No workspaces yet: canary tenant create SLUG")
            return
        for t in tenants:
            systems = session.scalars(select(Connection.system).where(Connection.tenant_id == t.id)).all()
            accounts = session.scalar(select(func.count()).select_from(Account).where(Account.tenant_id == t.id))
            click.echo(f"{t.slug:20} {t.name:30} accounts={accounts:<7} connected={','.join(systems) or '-'}")


@tenant_cli.command("rotate-write-key", help="Issue a new collector write key; the old one stops working.")
@click.argument("slug")
def rotate(slug: str) -> None:
    with _store().session() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
        if tenant is None:
            raise click.ClickException(f"no workspace {slug!r}")
        key = rotate_write_key(session, tenant)
        record_audit(session, COMMAND_LINE, "workspace.write_key_rotate", slug, tenant_id=tenant.id)
    click.echo(f"New write key for {slug!r} (shown once): {key}")
