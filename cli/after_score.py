"""What follows a score run — the portfolio lists, then the plays — and how the CLI reports it
(shared by `canary score` and `canary plays run`)."""

from __future__ import annotations

import datetime as dt

import click
from flask import current_app


def run_plays(store: object, tenant_id: int, day: dt.date) -> dict[str, object]:
    """Evaluate the lists then the plays of a workspace as of `day` (what follows every score run)."""
    from console.mail import play_effects
    from sync.plays import after_scoring

    lists, plays = after_scoring(store, tenant_id, day, effects=play_effects(current_app.config))
    return {"lists": {k: v for k, v in lists.as_dict().items() if k != "skipped"}, "plays": plays.as_dict(),
            "list_problems": lists.skipped}


def echo_plays(plays: dict[str, object]) -> None:
    started = plays.get("started") or {}
    assert isinstance(started, dict)
    click.echo(f"Plays: {plays['plays']} live, {sum(started.values())} runs started, {plays['skipped']} skipped, "
               f"{plays['closed']} closed, {plays['tasks_created']} tasks created.")
    for name, n in started.items():
        click.echo(f"  {name}: {n}")
    for problem in plays.get("problems") or ():  # type: ignore[attr-defined]
        click.echo(f"  not evaluated: {problem}", err=True)
