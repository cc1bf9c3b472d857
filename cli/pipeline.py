"""`canary score` (and the shared helpers of the pipeline verbs)."""

from __future__ import annotations

import datetime as dt
import json
import time

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from cli.progress import progress
from extensions import canary_store
from scoring import HealthModel, ModelError, default_model, load_model, model_fingerprint
from store.audit import COMMAND_LINE, record_audit
from store.db import Store
from store.models import Account, AuditEvent, Tenant


def app_store() -> Store:
    return canary_store()


def resolve_tenant(store: Store, slug: str | None) -> Tenant:
    with store.session() as session:
        if slug:
            tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
            if tenant is None:
                raise click.ClickException(f"no workspace {slug!r}: see `canary tenant list`")
            return tenant
        tenants = session.scalars(select(Tenant)).all()
    if not tenants:
        raise click.ClickException("no workspace yet: run `canary tenant create SLUG` or `canary demo`")
    if len(tenants) > 1:
        raise click.ClickException("several workspaces: choose one with --tenant SLUG")
    return tenants[0]


def health_model(path: str | None) -> HealthModel:
    path = path or current_app.config.get("HEALTH_MODEL")
    if not path:
        return default_model()
    try:
        return load_model(path)
    except ModelError as exc:
        raise click.ClickException("the health model is not valid:\n  " + "\n  ".join(exc.errors)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot read the health model {path}: {exc.strerror}") from exc


def parse_day(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date like 2026-05-01", param_hint=name) from exc


def note_model(store: Store, tenant_id: int, model: HealthModel, source: str | None,
               actor: str = COMMAND_LINE) -> bool:
    """Audit a change of the workspace's health model: scoring with a model other than the one last used
    records ``model.change`` (its name, file and fingerprint). Returns whether it was a change."""
    fingerprint = model_fingerprint(model)
    with store.session(tenant_id) as session:
        last = session.scalar(select(AuditEvent.detail).where(AuditEvent.action == "model.change")
                              .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(1))
        if last is not None and last.get("fingerprint") == fingerprint:
            return False
        record_audit(session, actor, "model.change", model.name, fingerprint=fingerprint,
                     source=source or "shipped model",
                     previous=last.get("fingerprint") if last is not None else None)
    return True


@click.command("score", help="Score every account's health (and raise alerts) as of today, or recompute history; "
                             "a workspace's first score backfills 180 days of history.")
@click.option("--tenant", "tenant_slug", help="Workspace slug (default: the only one).")
@click.option("--since", help="Recompute every day from this date (YYYY-MM-DD) up to --as-of.")
@click.option("--as-of", "as_of", help="The day to score (default: today, UTC).")
@click.option("--model", "model_path", help="Health model file (YAML or JSON); default: the shipped model.")
@click.option("--history-days", default=None, type=click.IntRange(1, 3660),
              help="Days of history a workspace's first score backfills (default 180; 1: only the day scored).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one line of JSON.")
@click.option("--timings", is_flag=True, help="Print the seconds each phase of the run took (on standard error).")
@with_appcontext
def score(tenant_slug: str | None, since: str | None, as_of: str | None, model_path: str | None,
          history_days: int | None, as_json: bool, timings: bool) -> None:
    from cli.after_score import echo_plays, run_plays
    from sync.health import HISTORY_DAYS, has_history, score_tenant

    store = app_store()
    tenant = resolve_tenant(store, tenant_slug)
    model = health_model(model_path)
    day = parse_day(as_of, "--as-of") or dt.datetime.now(dt.UTC).date()
    first = parse_day(since, "--since")
    if first is not None and first > day:
        raise click.BadParameter(f"{first} is after {day}", param_hint="--since")
    with store.session(tenant.id) as session:
        accounts = session.scalar(select(func.count()).select_from(Account)) or 0
    if first is None and not has_history(store, tenant.id):
        first = day - dt.timedelta(days=(history_days or HISTORY_DAYS) - 1)  # a first score backfills history
    note_model(store, tenant.id, model, model_path or current_app.config.get("HEALTH_MODEL"))
    with progress(f"Scoring {accounts} accounts", total=accounts) as bar:
        summary = score_tenant(store, tenant.id, model, day, since=first, progress=bar.advance)
    with summary.phase("lists_and_plays"):
        after = run_plays(store, tenant.id, day)  # portfolio lists, then plays, follow every score run
    if timings:
        for name, seconds in summary.timings.items():
            click.echo(f"timing {name}: {seconds:.2f} s (CPU {summary.cpu_timings.get(name, 0.0):.2f} s)", err=True)
        click.echo(f"timing total (score and plays): {sum(summary.timings.values()):.2f} s, CPU "
                   f"{time.process_time():.2f} s in the process", err=True)
    result = summary.as_dict()
    result["lists"], result["plays"] = after["lists"], after["plays"]
    if as_json:
        click.echo(json.dumps(result, sort_keys=True))
        return
    bands = result["bands"]
    click.echo(f"Scored {result['accounts']} accounts over {result['days']} day(s) as of {day}: "
               f"{bands['good']} good, {bands['average']} average, {bands['poor']} poor"
               + (f", {result['unscored']} without data" if result["unscored"] else "") + ".")
    click.echo(f"Band changes: {result['band_changes']}. Alerts raised: {result['alerts_raised']}, "
               f"resolved: {result['alerts_resolved']}.")
    for rule, count in sorted(result["alerts_by_rule"].items()):
        click.echo(f"  {rule}: {count}")
    lists = result["lists"]
    click.echo(f"Lists: {lists['lists']} evaluated, {lists['entered']} accounts entered, {lists['left']} left.")
    for problem in after["list_problems"]:  # type: ignore[attr-defined]
        click.echo(f"  not evaluated: {problem}", err=True)
    echo_plays(result["plays"])
