"""`canary sync`, `canary push`: pull the connected systems, write health back (`canary connect`: cli.connect)."""

from __future__ import annotations

import json
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from cli.pipeline import app_store, resolve_tenant
from cli.progress import progress
from extensions import credential_cipher
from integrations.errors import AuthError
from integrations.registry import VENDOR_NAMES
from sync.connections import TenantAdapters


def _adapters(tenant_id: int, systems: list[str] | None) -> tuple[TenantAdapters, dict[str, Any]]:
    connected = TenantAdapters(app_store(), credential_cipher(), tenant_id, config=current_app.config)
    try:
        adapters = connected.build(systems)
    except AuthError as exc:
        raise click.ClickException(str(exc)) from exc
    if not adapters:
        raise click.ClickException("no connected system: run `canary connect SYSTEM` first")
    return connected, adapters


def print_sync_summary(summary: Any) -> None:
    for system, s in summary.systems.items():
        pulled = ", ".join(f"{o} {v.pulled} pulled/{v.changed} changed" for o, v in s.objects.items()) or "nothing"
        quota = f", quota left {s.quota_left}" if s.quota_left is not None else ""
        click.echo(f"  {system:10} {pulled}; {s.calls} API calls{quota}")
        if s.stopped:
            click.echo(f"  {system:10} stopped: {s.stopped}")
    ident = summary.identity
    click.echo(f"  identity   {ident.accounts_created} accounts created, {ident.records_linked} records (re)linked"
               + (f", {ident.accounts_merged} merged" if ident.accounts_merged else ""))


@click.command("sync", help="Pull changes from the connected systems (incremental; --full re-reads everything).")
@click.option("--tenant", "tenant_slug", help="Workspace slug (default: the only one).")
@click.option("--system", "systems", multiple=True, type=click.Choice(VENDOR_NAMES),
              help="Only this system (repeatable).")
@click.option("--full", is_flag=True, help="Forget the saved cursors and pull everything again.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one line of JSON.")
@with_appcontext
def sync_command(tenant_slug: str | None, systems: tuple[str, ...], full: bool, as_json: bool) -> None:
    from sync.runner import sync

    store = app_store()
    tenant = resolve_tenant(store, tenant_slug)
    connected, adapters = _adapters(tenant.id, list(systems) or None)
    with progress("Pulling records") as bar:
        summary = sync(store, tenant.id, adapters, full=full, progress=lambda _s, _o, n: bar.advance(n),
                       reconnect=connected.reconnect)
    if as_json:
        click.echo(json.dumps(summary.as_dict(), sort_keys=True, default=str))
    else:
        click.echo(f"Sync of {', '.join(adapters)} finished:")
        print_sync_summary(summary)
    if any(s.stopped for s in summary.systems.values()):
        raise SystemExit(2)


@click.command("push", help="Write changed health scores back to the connected systems, in the fewest calls.")
@click.option("--tenant", "tenant_slug", help="Workspace slug (default: the only one).")
@click.option("--system", "systems", multiple=True, type=click.Choice(VENDOR_NAMES),
              help="Only this system (repeatable).")
@with_appcontext
def push_command(tenant_slug: str | None, systems: tuple[str, ...]) -> None:
    from sync.push import push

    store = app_store()
    tenant = resolve_tenant(store, tenant_slug)
    connected, adapters = _adapters(tenant.id, list(systems) or None)
    stopped = False
    for system, adapter in adapters.items():
        with progress(f"Pushing to {system}"):
            result = push(store, tenant.id, system, adapter, reconnect=connected.reconnect)
        click.echo(f"  {system:10} {result.pushed} records written, {len(result.failed)} failed (retried next run), "
                   f"{result.calls} API calls" + (f"; fields created: {', '.join(result.fields_created)}"
                                                  if result.fields_created else ""))
        if result.stopped:
            click.echo(f"  {system:10} stopped: {result.stopped}")
            stopped = True
    if stopped:
        raise SystemExit(2)
