"""`canary demo --no-serve`: the whole pipeline on the sandbox, deterministic for a seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from app import cli


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> dict[str, object]:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'demo.db'}")
    monkeypatch.setenv("CANARY_SECRET_KEY", "demo-test-secret-key-0123456789")
    result = CliRunner().invoke(cli, ["demo", "--accounts", "40", "--seed", str(seed), "--no-serve"])
    assert result.exit_code == 0, result.output[-3000:]
    last = result.output.strip().splitlines()[-1]
    summary: dict[str, object] = json.loads(last)
    assert "customer accounts as of" in result.output
    return summary


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
    # a fresh demo workspace and a fresh sandbox each time: the same seed gives the same result
    second = _run(tmp_path, monkeypatch, seed=3)
    assert second == first
