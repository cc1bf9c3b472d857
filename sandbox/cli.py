"""``sandbox`` command group (click only, so the lead can attach it to the ``canary`` CLI).

``sandbox serve [--accounts N] [--seed S] [--faults RATE] [--port-base P]`` builds the world,
starts the three emulators, prints their base URLs, the credentials to use and where
``truth.json`` is, and serves until Ctrl-C.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import click

from sandbox.generate import ProgressCallback
from sandbox.server import Sandbox, SandboxError


@contextmanager
def _progress(accounts: int, interactive: bool) -> Iterator[ProgressCallback]:
    """A rich progress bar on a terminal; plain log lines every 10 % otherwise."""
    if interactive:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("generating companies"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,}"),
            TimeElapsedColumn(), transient=True,
        ) as bar:
            task = bar.add_task("generate", total=accounts)
            yield lambda done, total: bar.update(task, completed=done, total=total)
        return
    last_tenth = -1

    def log_line(done: int, total: int) -> None:
        nonlocal last_tenth
        tenth = done * 10 // max(total, 1)
        if tenth != last_tenth:
            last_tenth = tenth
            click.echo(f"generating companies: {done:,}/{total:,}", err=True)

    yield log_line


def describe(sandbox: Sandbox) -> str:
    """What a person needs to connect to a running sandbox, as text."""
    lines = [f"Canary sandbox: {sandbox.accounts:,} companies, seed {sandbox.seed}, "
             f"as of {sandbox.world.as_of if sandbox.world else '?'}", ""]
    for vendor, values in sandbox.credentials.items():
        lines.append(f"{vendor}: {sandbox.urls[vendor]}")
        for key, value in values.items():
            if key != "base_url":
                lines.append(f"    {key}: {value}")
    lines.append("")
    lines.append(f"truth.json: {sandbox.truth_path}")
    if sandbox.faults:
        lines.append(f"faults: {sandbox.faults:.1%} of calls (seeded)")
    lines.append("stats: GET <base url>/_sandbox/stats")
    lines.append("tasks: open <salesforce or hubspot url>/_sandbox/tasks to complete, re-date or reassign "
                 "Canary's tasks as a CRM user")
    return "\n".join(lines)


@click.group("sandbox")
def sandbox_cli() -> None:
    """Local emulators of Salesforce, Zendesk and HubSpot with a synthetic world."""


@sandbox_cli.command("serve")
@click.option("--accounts", default=200, show_default=True, type=click.IntRange(min=1),
              help="Companies in the synthetic world.")
@click.option("--seed", default=7, show_default=True, type=int, help="Seed of the world and of the faults.")
@click.option("--faults", default=0.0, show_default=True, type=click.FloatRange(0.0, 1.0),
              help="Share of API calls answered with a fault (429/500/503, slow, dropped).")
@click.option("--port-base", default=None, type=click.IntRange(1, 65533),
              help="Serve Salesforce on P, Zendesk on P+1, HubSpot on P+2 (default: free ports).")
@click.option("--as-of", "as_of", default=None, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="The synthetic 'today' (default: today).")
@click.option("--workdir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Where truth.json and the TLS certificate go (default: a temporary folder).")
def serve(accounts: int, seed: int, faults: float, port_base: int | None, as_of: Any,
          workdir: Path | None) -> None:
    """Start the sandbox and serve until Ctrl-C."""
    day: date | None = as_of.date() if as_of is not None else None
    with _progress(accounts, sys.stderr.isatty()) as progress:
        sandbox = Sandbox(accounts=accounts, seed=seed, faults=faults, as_of=day, port_base=port_base,
                          workdir=workdir, progress=progress, announce=lambda text: click.echo(text, err=True))
        try:
            sandbox.start()
        except SandboxError as exc:
            raise click.ClickException(str(exc)) from exc
    try:
        click.echo(describe(sandbox))
        click.echo("\nServing; press Ctrl-C to stop.")
        _wait_forever()
    except KeyboardInterrupt:
        click.echo("\nstopping", err=True)
    finally:
        sandbox.stop()


def _wait_forever() -> None:
    """Block the main thread (the servers run in daemon threads) until Ctrl-C."""
    threading.Event().wait()
