"""`canary plays …`: ready-made plays, a workspace's plays, publishing them, and the daily run.

`canary score` evaluates the lists and plays after every scoring run; `canary plays run` does the
same without scoring (for a schedule between score runs, or after a play was published). Every change
is written to the workspace's audit log as done from the command line.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from cli.after_score import echo_plays, run_plays
from cli.pipeline import app_store, parse_day, resolve_tenant
from plays import PlayError, dump_text, load_definition, templates
from store.audit import COMMAND_LINE
from store.models import Play


def _today(as_of: str | None) -> dt.date:
    return parse_day(as_of, "--as-of") or dt.datetime.now(dt.UTC).date()


@click.group("plays", help="Plays: ready-made templates, the workspace's plays, publishing, the daily run.")
def plays_cli() -> None:
    pass


@plays_cli.command("templates", help="List the ready-made plays (their key makes a play with `plays create`).")
def plays_templates() -> None:
    for t in templates():
        click.echo(f"{t.key:22} {t.name} — {t.description}")


@plays_cli.command("list", help="The workspace's plays with their state and runs.")
@click.option("--tenant", "tenant_slug", help="Workspace slug (default: the only one).")
@with_appcontext
def plays_list(tenant_slug: str | None) -> None:
    from sync.plays import run_counts

    store = app_store()
    tenant = resolve_tenant(store, tenant_slug)
    with store.session(tenant.id) as s:
        counts = run_counts(s)
        rows = list(s.scalars(select(Play).order_by(Play.id)))
        if not rows:
            click.echo("No plays yet: `canary plays templates` lists ready-made ones.")
        for play in rows:
            runs = ", ".join(f"{n} {state}" for state, n in sorted(counts.get(play.id, {}).items())) or "no runs"
            draft = " (unpublished changes)" if play.draft is not None and play.version else ""
            click.echo(f"{play.id:4}  {play.state:7} v{play.version or 0}{draft}  {play.name}  — {runs}")


@plays_cli.command("create", help="Make a draft play from a template key or a YAML/JSON file.")
@click.option("--template", "key", help="A template key (see `canary plays templates`).")
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A play definition file.")
@click.option("--publish", "publish_now", is_flag=True, help="Publish it at once (it goes live).")
@click.option("--tenant", "tenant_slug", help="Workspace slug (default: the only one).")
@click.option("--as-of", "as_of", help="The day it counts as published (default: today, UTC).")
@with_appcontext
def plays_create(key: str | None, path: Path | None, publish_now: bool, tenant_slug: str | None,
                 as_of: str | None) -> None:
    from sync.plays import create_from_template, create_play, publish

    if (key is None) == (path is None):
        raise click.UsageError("give either --template or --file")
    store = app_store()
    tenant = resolve_tenant(store, tenant_slug)
    try:
        with store.session(tenant.id) as s:
            if key is not None:
                play = create_from_template(s, key, COMMAND_LINE)
            else:
                assert path is not None
                play = create_play(s, load_definition(path.read_text(encoding="utf-8")), COMMAND_LINE)
            if publish_now:
                publish(s, play, COMMAND_LINE, None, _today(as_of))
            play_id, name, state = play.id, play.name, play.state
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0])) from None
    except PlayError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Play {play_id} “{name}” is {state}.")


@plays_cli.command("show", help="Print a play's definition (the draft if it has one) as YAML.")
@click.argument("play_id", type=int)
@click.option("--tenant", "tenant_slug", help="Workspace slug (default: the only one).")
@with_appcontext
def plays_show(play_id: int, tenant_slug: str | None) -> None:
    from sync.plays import editing_definition

    store = app_store()
    tenant = resolve_tenant(store, tenant_slug)
    with store.session(tenant.id) as s:
        play = s.get(Play, play_id)
        if play is None:
            raise click.ClickException(f"no play {play_id} in {tenant.slug}")
        click.echo(dump_text(editing_definition(s, play)), nl=False)


def _state_change(play_id: int, tenant_slug: str | None, action: str, as_of: str | None = None,
                  migrate_runs: bool = False) -> None:
    from sync import plays as engine

    store = app_store()
    tenant = resolve_tenant(store, tenant_slug)
    try:
        with store.session(tenant.id) as s:
            play = s.get(Play, play_id)
            if play is None:
                raise click.ClickException(f"no play {play_id} in {tenant.slug}")
            if action == "publish":
                version = engine.publish(s, play, COMMAND_LINE, None, _today(as_of), migrate_runs=migrate_runs)
                message = f"Published “{play.name}” as version {version}; it is live."
            elif action == "pause":
                engine.pause(s, play, COMMAND_LINE)
                message = f"Paused “{play.name}”: nothing starts or advances until it is resumed."
            elif action == "resume":
                engine.resume(s, play, COMMAND_LINE)
                message = f"“{play.name}” is live again."
            else:
                runs, tasks = engine.turn_off(s, play, COMMAND_LINE, None, _today(as_of))
                message = f"Turned off “{play.name}”: {runs} running run(s) and {tasks} open task(s) closed."
    except (engine.PlayStateError, PlayError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(message)


@plays_cli.command("publish", help="Publish a play's draft as its next version (the play goes live).")
@click.argument("play_id", type=int)
@click.option("--migrate-runs", is_flag=True, help="Move running runs to the new version too.")
@click.option("--tenant", "tenant_slug", help="Workspace slug (default: the only one).")
@click.option("--as-of", "as_of", help="The day it counts as published (default: today, UTC).")
@with_appcontext
def plays_publish(play_id: int, migrate_runs: bool, tenant_slug: str | None, as_of: str | None) -> None:
    _state_change(play_id, tenant_slug, "publish", as_of, migrate_runs)


@plays_cli.command("pause", help="Pause a live play.")
@click.argument("play_id", type=int)
@click.option("--tenant", "tenant_slug", help="Workspace slug (default: the only one).")
@with_appcontext
def plays_pause(play_id: int, tenant_slug: str | None) -> None:
    _state_change(play_id, tenant_slug, "pause")


@plays_cli.command("resume", help="Make a paused or turned-off play live again.")
@click.argument("play_id", type=int)
@click.option("--tenant", "tenant_slug", help="Workspace slug (default: the only one).")
@with_appcontext
def plays_resume(play_id: int, tenant_slug: str | None) -> None:
    _state_change(play_id, tenant_slug, "resume")


@plays_cli.command("off", help="Turn a play off: its running runs and their open tasks close.")
@click.argument("play_id", type=int)
@click.option("--tenant", "tenant_slug", help="Workspace slug (default: the only one).")
@click.option("--as-of", "as_of", help="The day (default: today, UTC).")
@with_appcontext
def plays_off(play_id: int, tenant_slug: str | None, as_of: str | None) -> None:
    _state_change(play_id, tenant_slug, "off", as_of)


@plays_cli.command("run", help="Evaluate the lists and live plays as of a day (the daily schedule).")
@click.option("--tenant", "tenant_slug", help="Workspace slug (default: the only one).")
@click.option("--as-of", "as_of", help="The day (default: today, UTC).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one line of JSON.")
@with_appcontext
def plays_run(tenant_slug: str | None, as_of: str | None, as_json: bool) -> None:
    store = app_store()
    tenant = resolve_tenant(store, tenant_slug)
    result = run_plays(store, tenant.id, _today(as_of))
    if as_json:
        click.echo(json.dumps(result, sort_keys=True, default=str))
        return
    echo_plays(result["plays"])  # type: ignore[arg-type]
