"""`canary plays …` and `canary score`: templates, a play made and published from the command line, the
daily run, turning it off — with clear errors for what cannot be done."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from app import cli
from store.db import Store
from store.models import AuditEvent, Play, Task
from tests.sync.test_health_run import TODAY, _world, tenant  # noqa: F401 — the fixture is used by name


def test_plays_from_the_command_line(monkeypatch: pytest.MonkeyPatch, migrated_url: str, store: Store,
                                     tenant: int) -> None:  # noqa: F811
    _world(store, tenant)
    monkeypatch.setenv("DATABASE_URL", migrated_url)
    monkeypatch.setenv("CANARY_SECRET_KEY", "cli-secret-key-0123456789")
    runner = CliRunner()
    listed = runner.invoke(cli, ["plays", "templates"])
    assert listed.exit_code == 0 and len(listed.output.strip().splitlines()) == 9
    assert "usage-drop-get-well" in listed.output
    empty = runner.invoke(cli, ["plays", "list"])
    assert "No plays yet" in empty.output

    made = runner.invoke(cli, ["plays", "create", "--template", "usage-drop-get-well", "--publish",
                               "--as-of", TODAY.isoformat()])
    assert made.exit_code == 0, made.output
    assert "“Usage drop get-well plan” is live" in made.output
    unknown = runner.invoke(cli, ["plays", "create", "--template", "nope"])
    assert unknown.exit_code != 0 and "no play template 'nope'" in unknown.output

    scored = runner.invoke(cli, ["score", "--as-of", TODAY.isoformat(), "--json"])  # lists, then plays, follow
    assert scored.exit_code == 0, scored.output
    summary = json.loads(scored.output.strip().splitlines()[-1])
    assert summary["plays"]["started"] == {"Usage drop get-well plan": 1}  # Falling Co's usage_drop alert
    again = runner.invoke(cli, ["plays", "run", "--as-of", TODAY.isoformat(), "--json"])
    assert json.loads(again.output.strip().splitlines()[-1])["plays"]["started"] == {}

    with store.session(tenant) as s:
        play_id = s.scalar(select(Play.id))
        play_tasks = s.scalars(select(Task).where(Task.source == "play")).all()
    assert [t.title for t in play_tasks] == ["Find out why usage dropped at Falling Co"]
    shown = runner.invoke(cli, ["plays", "show", str(play_id)])
    assert "trigger: {\"type\": \"alert\", \"rule\": \"usage_drop\"}" in shown.output
    assert "1 running" in runner.invoke(cli, ["plays", "list"]).output
    twice = runner.invoke(cli, ["plays", "publish", str(play_id)])
    assert twice.exit_code != 0 and "nothing to publish" in twice.output
    off = runner.invoke(cli, ["plays", "off", str(play_id), "--as-of", TODAY.isoformat()])
    assert off.exit_code == 0 and "1 running run(s) and 1 open task(s) closed" in off.output
    assert runner.invoke(cli, ["plays", "pause", str(play_id)]).exit_code != 0
    missing = runner.invoke(cli, ["plays", "off", "9999"])
    assert missing.exit_code != 0 and "no play 9999" in missing.output
    with store.session(tenant) as s:
        actions = [a for a in s.scalars(select(AuditEvent.action).where(AuditEvent.action.like("play.%")))]
        assert s.scalar(select(Task.status).where(Task.source == "play")) == "done"
    assert actions == ["play.created", "play.published", "play.turned_off"]
