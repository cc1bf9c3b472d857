"""The test databases copied from templates (tests/dbtemplate.py) are what migrating gives, and are each their own."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from store.db import Store
from store.migrate import current_revision, head_revision, upgrade
from tests.dbtemplate import Templates, sqlite_path
from tests.pg import _bin, create_database


def _dump(url: str) -> list[str]:
    """Everything in the database, schema and rows: tables, indexes, triggers, views, functions, alembic's head."""
    if url.startswith("sqlite:"):
        conn = sqlite3.connect(sqlite_path(url))
        try:
            return sorted(_canonical(statement) for statement in conn.iterdump())
        finally:
            conn.close()
    proc = subprocess.run([_bin("pg_dump"), "--no-owner", "--no-privileges", url], capture_output=True, text=True,
                          timeout=120, check=True)
    # pg_dump's \restrict lines carry a random key per run; nothing else differs between two dumps of one schema.
    return [line for line in proc.stdout.splitlines() if not line.startswith(("\\restrict", "\\unrestrict"))]


NEW_TENANT = "INSERT INTO tenants (slug, name, created_at) VALUES ('{slug}', 'Name', '2026-01-01 00:00:00')"


def _canonical(statement: str) -> str:
    """A SQLite statement with its table constraints in name order. SQLite's batch migrations (copy the table,
    rename) write constraints and indexes in an order that differs from one run to the next (set order), so
    two fresh migrations differ in that order alone; columns keep theirs."""
    lines = [line.rstrip().removesuffix(",").rstrip() for line in statement.splitlines()]
    columns = [line for line in lines if not line.lstrip().startswith("CONSTRAINT ")]
    constraints = sorted(line for line in lines if line.lstrip().startswith("CONSTRAINT "))
    return "\n".join(columns[:-1] + constraints + columns[-1:]) if constraints else "\n".join(lines)


def _fresh(database_url: str, tmp_path: Path, request: pytest.FixtureRequest, name: str = "fresh") -> str:
    """Another empty database on the same backend as `database_url`."""
    if database_url.startswith("sqlite:"):
        return f"sqlite:///{tmp_path / name}.db"
    return create_database(request.getfixturevalue("postgres_admin_url"))


def test_a_copy_is_what_migrating_gives(migrated_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    fresh = _fresh(migrated_url, tmp_path, request)
    upgrade(fresh)
    copied, migrated = _dump(migrated_url), _dump(fresh)
    assert current_revision(migrated_url) == head_revision() == current_revision(fresh)
    assert any("CREATE TRIGGER" in line for line in copied)  # the dump does show triggers
    assert any("CREATE INDEX" in line or "CREATE UNIQUE INDEX" in line for line in copied)
    assert copied == migrated


def test_copies_are_independent(database_url: str, db_templates: Templates, tmp_path: Path,
                                request: pytest.FixtureRequest) -> None:
    other = _fresh(database_url, tmp_path, request)
    db_templates.migrate(database_url)
    db_templates.migrate(other)
    first = Store(database_url)
    try:
        with first.engine.begin() as conn:
            conn.execute(text(NEW_TENANT.format(slug="solo")))
            assert conn.execute(text("SELECT count(*) FROM tenants")).scalar() == 1
    finally:
        first.dispose()
    second = Store(other)
    try:
        with second.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM tenants")).scalar() == 0
    finally:
        second.dispose()
    third = _fresh(database_url, tmp_path, request, "third")
    db_templates.migrate(third)  # a copy made after the write does not have it either: the template is untouched
    assert not any("solo" in line for line in _dump(third))


def test_a_changed_migration_gets_a_new_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.dbtemplate as dbtemplate

    templates = Templates(tmp_path)
    first = templates.sqlite_template()
    assert templates.sqlite_template() == first  # built once
    monkeypatch.setattr(dbtemplate, "migrations_digest", lambda: "0" * 64)
    changed = templates.sqlite_template()
    assert changed != first
    assert changed.exists() and first.exists()
    assert current_revision(f"sqlite:///{changed}") == head_revision()


def test_seeded_copies_are_independent(database_url: str, db_templates: Templates) -> None:
    builds: list[str] = []

    def build(url: str) -> dict[str, Any]:
        builds.append(url)
        s = Store(url)
        try:
            with s.engine.begin() as conn:
                conn.execute(text(NEW_TENANT.format(slug="seed")))
        finally:
            s.dispose()
        return {"slugs": ["seed"]}

    got = db_templates.seeded("dbtemplate-test", database_url, build)
    assert got == {"slugs": ["seed"]}
    got["slugs"].append("mutated")  # a test's changes to what it got stay its own
    s = Store(database_url)
    try:
        with s.engine.begin() as conn:
            assert conn.execute(text("SELECT slug FROM tenants")).scalars().all() == ["seed"]
            conn.execute(text("DELETE FROM tenants"))
    finally:
        s.dispose()
    again = db_templates.seeded("dbtemplate-test", database_url, build)  # over a database already in use
    assert again == {"slugs": ["seed"]}
    assert len(builds) == 1
    s = Store(database_url)
    try:
        with s.engine.connect() as conn:
            assert conn.execute(text("SELECT slug FROM tenants")).scalars().all() == ["seed"]
    finally:
        s.dispose()


def test_seeded_takes_the_url_an_app_names_its_driver_in(database_url: str, db_templates: Templates) -> None:
    """`seeded_workspaces` passes an app's ``store.url`` (``postgresql+psycopg://`` on PostgreSQL)."""
    def build(url: str) -> list[str]:
        s = Store(url)
        try:
            with s.engine.begin() as conn:
                conn.execute(text(NEW_TENANT.format(slug="driver")))
        finally:
            s.dispose()
        return ["driver"]

    named = Store(database_url)
    url = named.url
    named.dispose()
    assert url.startswith(("sqlite:", "postgresql+psycopg://"))
    assert db_templates.seeded("dbtemplate-driver", url, build) == ["driver"]
    s = Store(database_url)
    try:
        with s.engine.connect() as conn:
            assert conn.execute(text("SELECT slug FROM tenants")).scalars().all() == ["driver"]
    finally:
        s.dispose()
