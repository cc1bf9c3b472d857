"""`canary demo --no-serve`: the whole pipeline on the sandbox, deterministic for a seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from app import cli
from tests.console.conftest import CHEAP_ARGON2


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> dict[str, object]:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'demo.db'}")
    monkeypatch.setenv("CANARY_SECRET_KEY", "demo-test-secret-key-0123456789")
    # cheap argon2id for the demo's dozen users (the defaults cost ~0.27 s of CPU a hash), as the console tests use
    monkeypatch.setenv("CANARY_PASSWORD_HASH", json.dumps(CHEAP_ARGON2))
    result = CliRunner().invoke(cli, ["demo", "--accounts", "40", "--seed", str(seed), "--no-serve"])
    assert result.exit_code == 0, result.output[-3000:]
    line = next(x for x in result.output.splitlines() if x.startswith("{"))
    summary: dict[str, object] = json.loads(line)
    assert "customer accounts as of" in result.output
    assert "180 days of health history scored" in result.output
    _sign_in_with_the_printed_lines(result.output)
    return summary


def _sign_in_with_the_printed_lines(output: str) -> None:
    """The demo ends with sign-in lines for a CSM and a manager, and they work."""
    from app import create_app

    tail = output.strip().splitlines()
    lines = {parts[0]: (parts[1], parts[3]) for parts in (x.split() for x in tail[-4:]) if len(parts) == 4}
    assert set(lines) >= {"CSM", "manager"}, tail[-6:]
    app = create_app({"TESTING": True})
    for role in ("CSM", "manager"):
        email, password = lines[role]
        client = app.test_client()
        client.get("/sign-in")
        with client.session_transaction() as session:
            token = session["csrf"]
        answer = client.post("/sign-in", data={"email": email, "password": password, "csrf_token": token})
        assert answer.status_code == 302, (role, answer.get_data(as_text=True)[-300:])
        page = client.get("/accounts").get_data(as_text=True)
        assert ("My portfolio" if role == "CSM" else "My team") in page
        shown = page.count('data-label="Account"')
        everyone = client.get("/accounts?scope=all").get_data(as_text=True).count('data-label="Account"')
        assert 1 <= shown < everyone, (role, shown, everyone)


def test_demo_runs_the_pipeline_and_repeats_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _run(tmp_path, monkeypatch, seed=3)
    for key in ("accounts", "linked_accounts", "bands", "alerts_raised", "api_calls", "pushed_records"):
        assert key in first
    assert isinstance(first["accounts"], int) and first["accounts"] >= 35
    assert isinstance(first["linked_accounts"], int) and 0 < first["linked_accounts"] <= first["accounts"]
    bands = first["bands"]
    assert isinstance(bands, dict) and sum(bands.values()) > 0
    calls = first["api_calls"]
    assert isinstance(calls, dict) and set(calls) == {"salesforce", "zendesk", "hubspot"}
    for system_calls in calls.values():
        assert system_calls["pull"] >= 4 and system_calls["push"] >= 1
    pushed = first["pushed_records"]
    assert isinstance(pushed, dict) and set(pushed) == set(calls) and all(n > 0 for n in pushed.values())
    tasks = first["tasks"]  # one task per alert, one per play run's first task; in each CRM the account is in
    assert tasks["by_source"]["alert"] == first["alerts_raised"] > 0
    assert tasks["created"] == tasks["by_source"]["alert"] + tasks["by_source"]["play"]
    assert set(tasks["pushed"]) == {"salesforce", "hubspot"}
    assert all(0 < n <= tasks["created"] for n in tasks["pushed"].values())
    started = first["plays"]["runs_started"]  # the nine ready-made plays, published in the demo workspace
    assert len(started) == 9 and sum(started.values()) > 0
    assert started["Usage drop get-well plan"] == first["alerts_by_rule"].get("usage_drop", 0)
    assert tasks["by_source"]["play"] >= sum(started.values())  # every run's first step is a task
    notified = first["notifications"]  # each alert is an event; each CSM's defaults put it on their bell
    assert notified["events"] >= first["alerts_raised"] and notified["deliveries"] > 0
    # a fresh demo workspace and a fresh sandbox each time: the same seed gives the same result
    second = _run(tmp_path, monkeypatch, seed=3)
    assert second == first
