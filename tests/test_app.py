"""The app factory, configuration layering, /healthz, the start page and the CLI."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from app import cli, create_app


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for key in list(os.environ):
        if key.startswith("CANARY_") and key not in ("CANARY_TEST_POSTGRES_URL", "CANARY_SKIP_POSTGRES"):
            monkeypatch.delenv(key)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return tmp_path


def test_config_layers_in_order(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_file = clean_env / "canary.toml"
    config_file.write_text(
        'PUBLIC_URL = "https://from-file.example"\nLOG_LEVEL = "DEBUG"\nSERVE_PORT = 7000\n'
        'SERVE_WORKERS = 3\n'
    )
    monkeypatch.setenv("CANARY_CONFIG", str(config_file))
    monkeypatch.setenv("CANARY_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("CANARY_SERVE_PORT", "8000")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{clean_env / 'env.db'}")
    app = create_app({"TESTING": True, "SECRET_KEY": "k" * 32, "SERVE_PORT": 9000})
    assert app.config["PUBLIC_URL"] == "https://from-file.example"  # file over default
    assert app.config["LOG_LEVEL"] == "WARNING"  # env over file
    assert app.config["SERVE_WORKERS"] == 3  # file, untouched by env
    assert app.config["SERVE_PORT"] == 9000  # argument over env
    assert app.config["DATABASE_URL"] == f"sqlite:///{clean_env / 'env.db'}"
    assert app.config["SERVE_HOST"] == "127.0.0.1"  # default


def test_secret_key_is_made_once_and_kept(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{clean_env / 'x.db'}")
    first = create_app({"TESTING": True}).config["SECRET_KEY"]
    second = create_app({"TESTING": True}).config["SECRET_KEY"]
    assert first == second and len(first) >= 32
    key_file = Path(create_app({"TESTING": True}).instance_path) / "secret.key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


def test_healthz_reports_a_reachable_database(client: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "reachable", "migrations": "current"}


def test_healthz_reports_an_unreachable_database(clean_env: Path) -> None:
    app = create_app({"TESTING": True, "SECRET_KEY": "k" * 32,
                      "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": "unreachable"}


def test_start_page_says_what_canary_is_and_how_to_connect(client: Any) -> None:
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Customer health, one glance away." in html
    assert "Connect a system" in html
    for system in ("Salesforce", "Zendesk", "HubSpot"):
        assert system in html
    assert "Database reachable and migrated." in html
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "http://" not in html.replace("http://localhost", "")  # no external resources


def test_cli_db_upgrade_then_current(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{clean_env / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("CANARY_SECRET_KEY", "cli-secret-key-0123456789")
    runner = CliRunner()
    result = runner.invoke(cli, ["db", "current"])
    assert result.exit_code == 0, result.output
    assert "empty (run: canary db upgrade)" in result.output
    result = runner.invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    from store.migrate import head_revision

    assert f"Database at revision {head_revision()}." in result.output
    result = runner.invoke(cli, ["db", "downgrade", "base", "--yes"])
    assert result.exit_code == 0, result.output
    assert "Database at revision base." in result.output


def test_serve_refuses_an_unmigrated_database(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{clean_env / 'empty.db'}")
    monkeypatch.setenv("CANARY_SECRET_KEY", "cli-secret-key-0123456789")
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code != 0
    assert "run `canary db upgrade` first" in result.output


def test_cli_tenant_create_list_and_rotate(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from store.db import Store
    from store.tenants import hash_write_key
    from tests.dbtemplate import migrate_new

    url = f"sqlite:///{clean_env / 'tenants.db'}"
    migrate_new(url)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("CANARY_SECRET_KEY", "cli-secret-key-0123456789")
    runner = CliRunner()
    created = runner.invoke(cli, ["tenant", "create", "acme", "--name", "Acme CS"])
    assert created.exit_code == 0, created.output
    key = created.output.split("keep it safe): ")[1].split()[0]
    store = Store(url)
    with store.session() as s:
        from store.models import Tenant

        tenant = s.query(Tenant).one()
        assert tenant.write_key_hash == hash_write_key(key)
        assert key not in (tenant.write_key_hash or "")
    duplicate = runner.invoke(cli, ["tenant", "create", "acme"])
    assert duplicate.exit_code != 0 and "exists already" in duplicate.output
    bad = runner.invoke(cli, ["tenant", "create", "Not A Slug"])
    assert bad.exit_code != 0 and "lowercase" in bad.output
    listed = runner.invoke(cli, ["tenant", "list"])
    assert "acme" in listed.output and "Acme CS" in listed.output
    rotated = runner.invoke(cli, ["tenant", "rotate-write-key", "acme"])
    new_key = rotated.output.split("(shown once): ")[1].strip()
    assert new_key != key
    with store.session() as s:
        assert s.query(Tenant).one().write_key_hash == hash_write_key(new_key)
    store.dispose()
