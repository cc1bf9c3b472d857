"""Migrated (and seeded) databases for tests without migrating for every test.

Running the 28 migrations takes about two seconds on SQLite and two to four on PostgreSQL, and the
``store`` fixture did it twice for every test. A test session instead migrates once per backend into a
*template* and gives every test its own copy:

- SQLite: the template is a migrated file; a copy is made with SQLite's backup API (a consistent
  page-by-page copy through SQLite itself, WAL or not).
- PostgreSQL: the template is a database; a copy is ``CREATE DATABASE copy TEMPLATE template``. The
  template refuses connections (``ALLOW_CONNECTIONS false``) so nothing can change it after it is built.

Templates are keyed by the migrations' head revision and a digest of the migration files, so a changed
migration is never served from a stale template. ``seeded()`` does the same one level up: a database
migrated and then filled by a builder (demo workspaces) is kept once per session, and each test gets a
copy plus its own deep copy of what the builder returned (ids, e-mails, keys), so tests cannot see each
other's writes.

Copies are byte-for-byte what the first build produced: rows whose columns default to the clock
(``created_at``) carry the moment of that first build in this test session, not of the test. The builders run in
fixtures (never under a pinned clock), so a copy's dates are at most the session's length old; no test may
depend on them being newer.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.pool import NullPool

T = TypeVar("T")

MIGRATIONS = Path(__file__).resolve().parent.parent / "store" / "migrations"


def migrations_digest() -> str:
    """A digest of every file the migrations run (scripts, env.py, template), by name and content."""
    digest = hashlib.sha256()
    for path in sorted(MIGRATIONS.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".mako", ".ini") and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(MIGRATIONS)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def sqlite_path(url: str) -> Path:
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == prefix + ":memory:":
        raise ValueError(f"not a SQLite file URL: {url}")
    return Path(url[len(prefix):])


def copy_sqlite(source: Path, target: Path) -> None:
    """Replace ``target``'s content with ``source``'s (SQLite backup API: whole pages, schema and data)."""
    src = sqlite3.connect(source)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _pg_split(url: str) -> tuple[str, str]:
    """(admin URL on the same server, database name) of a PostgreSQL URL."""
    base, name = url.rsplit("/", 1)
    return base + "/postgres", name


def _pg_execute(admin_url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def rows_written(url: str) -> list[str]:
    """The tables of the database at ``url`` that hold rows (alembic's version row aside)."""
    from sqlalchemy import inspect, text

    from store.db import make_engine

    if url.startswith("sqlite:") and not sqlite_path(url).exists():
        return []
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            tables = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
            return [t for t in tables if conn.execute(text(f'SELECT 1 FROM "{t}" LIMIT 1')).first() is not None]
    finally:
        engine.dispose()


@dataclass
class _Seeded:
    data: Any
    sqlite: Path | None = None
    postgres: str | None = None


@dataclass
class Templates:
    """One test session's templates (one per pytest-xdist worker: each has its own PostgreSQL cluster)."""

    folder: Path
    _heads: dict[str, str] = field(default_factory=dict)
    _sqlite: dict[str, Path] = field(default_factory=dict)
    _postgres: dict[tuple[str, str], str] = field(default_factory=dict)
    _seeded: dict[tuple[str, str, str], _Seeded] = field(default_factory=dict)
    _tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def key(self) -> str:
        """The migrations' head revision plus their digest: what a template is valid for."""
        digest = migrations_digest()
        if digest not in self._heads:
            from store.migrate import head_revision

            self._heads[digest] = str(head_revision())
        return f"{self._heads[digest]}-{digest[:16]}"

    # --- migrated ------------------------------------------------------------------------------------

    def sqlite_template(self) -> Path:
        key = self.key()
        if key not in self._sqlite:
            from store.migrate import upgrade

            path = self.folder / f"migrated-{key}.db"
            path.unlink(missing_ok=True)
            upgrade(f"sqlite:///{path}")
            self._sqlite[key] = path
        return self._sqlite[key]

    def postgres_template(self, admin_url: str) -> str:
        """The name of a migrated template database on ``admin_url``'s server."""
        key = self.key()
        if (admin_url, key) not in self._postgres:
            from store.migrate import upgrade

            name = f"tmpl_{key[:12].lower()}_{self._tag}_{len(self._postgres)}"
            name = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
            _pg_execute(admin_url, f'CREATE DATABASE "{name}"')
            upgrade(admin_url.rsplit("/", 1)[0] + "/" + name)
            _pg_execute(admin_url, f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            self._postgres[admin_url, key] = name
        return self._postgres[admin_url, key]

    def migrate(self, url: str) -> None:
        """Make the empty database at ``url`` a migrated one (as ``upgrade(url)`` would), from the template."""
        if url.startswith("sqlite:"):
            copy_sqlite(self.sqlite_template(), sqlite_path(url))
            return
        admin_url, name = _pg_split(url)
        self._replace_postgres(admin_url, name, self.postgres_template(admin_url))

    def new_migrated(self, admin_url: str) -> str:
        """A new migrated database on ``admin_url``'s server, made straight from the template (one
        ``CREATE DATABASE … TEMPLATE``, not an empty database made first and then dropped); its URL."""
        name = "t_" + uuid.uuid4().hex[:12]
        _pg_execute(admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{self.postgres_template(admin_url)}"')
        return admin_url.rsplit("/", 1)[0] + "/" + name

    @staticmethod
    def is_empty(url: str) -> bool:
        """Whether the database at ``url`` holds no table at all (a new SQLite file, or a new PostgreSQL
        database): what `migrate` may replace with the template's copy, as ``upgrade(url)`` would fill it."""
        if url.startswith("sqlite:"):
            try:
                path = sqlite_path(url)
            except ValueError:
                return False
            if not path.exists() or path.stat().st_size == 0:
                return True
            with contextlib.closing(sqlite3.connect(path)) as conn:
                return conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
            row = conn.execute("SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                               "ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
                               "AND n.nspname NOT LIKE 'pg_toast%'").fetchone()
            return row is not None and row[0] == 0

    @staticmethod
    def _replace_postgres(admin_url: str, name: str, template: str) -> None:
        # DROP without FORCE: if anything is connected to the database, this fails rather than pulling it away.
        _pg_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}" TEMPLATE "{template}"')

    # --- seeded --------------------------------------------------------------------------------------

    def seeded(self, name: str, url: str, build: Callable[[str], T]) -> T:
        """Put a copy of the ``name`` seeded database at ``url`` and return a deep copy of what ``build``
        returned when it seeded the template. ``build(template_url)`` runs once per session per backend: it
        gets a migrated database and fills it. The database at ``url`` must hold no rows yet (migrated or
        empty): a copy replaces it whole, and would silently drop what a test had written first."""
        sqlite = url.startswith("sqlite:")
        url = url.replace("postgresql+psycopg://", "postgresql://", 1)  # an app's `store.url` names the driver
        written = rows_written(url)
        if written:
            raise RuntimeError(f"seeded({name!r}) over a database that has rows already: {written}")
        admin_url = "" if sqlite else _pg_split(url)[0]
        slot = (name, self.key(), admin_url)
        if slot not in self._seeded:
            if sqlite:
                path = self.folder / f"seeded-{slot[0]}-{slot[1]}.db"
                path.unlink(missing_ok=True)
                copy_sqlite(self.sqlite_template(), path)
                data = build(f"sqlite:///{path}")
                self._seeded[slot] = _Seeded(data, sqlite=path)
            else:
                template = f"seed_{name}_{self._tag}_{len(self._seeded)}"
                template = "".join(c if c.isalnum() or c == "_" else "_" for c in template.lower())
                _pg_execute(admin_url, f'CREATE DATABASE "{template}" TEMPLATE "{self.postgres_template(admin_url)}"')
                data = build(admin_url.rsplit("/", 1)[0] + "/" + template)
                _pg_execute(admin_url, f'ALTER DATABASE "{template}" WITH ALLOW_CONNECTIONS false')
                self._seeded[slot] = _Seeded(data, postgres=template)
        found = self._seeded[slot]
        if found.sqlite is not None:
            copy_sqlite(found.sqlite, sqlite_path(url))
        else:
            assert found.postgres is not None
            self._replace_postgres(admin_url, _pg_split(url)[1], found.postgres)
        return copy.deepcopy(found.data)

    def close(self) -> None:
        """Drop the PostgreSQL templates (they would outlive the session on a server given by URL)."""
        dropped: list[tuple[str, str]] = [(admin, name) for (admin, _), name in self._postgres.items()]
        dropped[:0] = [(admin, s.postgres) for (_, _, admin), s in self._seeded.items() if s.postgres]
        for admin_url, name in dropped:
            with contextlib.suppress(Exception):  # the cluster may be gone already: nothing to keep then
                _pg_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}"')
        self._postgres.clear()
        self._seeded.clear()


_SESSION: list[Templates] = []
"""This test process's `Templates` (the ``db_templates`` session fixture's), for helpers that take no fixture."""


def migrate_new(url: str) -> None:
    """``store.migrate.upgrade(url)`` for a new database: a copy of the session's migrated template when the
    database has no table yet and a session is running, the migrations themselves otherwise."""
    if _SESSION and Templates.is_empty(url):
        _SESSION[-1].migrate(url)
        return
    from store.migrate import upgrade

    upgrade(url)
