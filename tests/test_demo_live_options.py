"""`canary demo --live`'s options and the public URL it wires the sandbox's webhooks to (no sandbox started)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from app import cli
from cli.live import public_url


def test_a_port_moves_a_loopback_public_url_only() -> None:
    assert public_url({"PUBLIC_URL": "http://127.0.0.1:5000/"}, "127.0.0.1", 5611) == "http://127.0.0.1:5611"
    assert public_url({"PUBLIC_URL": "http://localhost:5000"}, "0.0.0.0", 8080) == "http://localhost:8080"
    assert public_url({"PUBLIC_URL": "http://127.0.0.1:5000"}, "127.0.0.1", 5000) == "http://127.0.0.1:5000"
    assert public_url({"PUBLIC_URL": "https://canary.example.com"}, "0.0.0.0", 8080) == \
        "https://canary.example.com"


def test_live_refuses_no_serve_before_starting_anything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'demo.db'}")
    monkeypatch.setenv("CANARY_SECRET_KEY", "demo-live-test-secret-key-0123456789")
    result = CliRunner().invoke(cli, ["demo", "--live", "--no-serve"])
    assert result.exit_code == 2
    assert "--live serves the app: drop --no-serve" in result.output


def test_live_with_a_broker_that_does_not_answer_stops_with_a_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'demo.db'}")
    monkeypatch.setenv("CANARY_SECRET_KEY", "demo-live-test-secret-key-0123456789")
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:9/0")  # nothing listens on the discard port
    result = CliRunner().invoke(cli, ["demo", "--live", "--accounts", "3", "--port", "5999"])
    assert result.exit_code == 1
    assert "CELERY_BROKER_URL is set but Redis does not answer" in result.output
