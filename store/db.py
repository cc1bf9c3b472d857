"""Engines and sessions. SQLite under ``instance/`` by default, PostgreSQL via ``DATABASE_URL``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from store import panel_views as _panel_views  # noqa: F401  (registers the panel views' change marks)
from store.scoping import tenant_session


def normalise_url(url: str) -> str:
    """Heroku-style ``postgres://`` and plain ``postgresql://`` use the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def redacted(url: str) -> str:
    """The URL with its password hidden, for logs and messages."""
    return make_url(normalise_url(url)).render_as_string(hide_password=True)


class Store:
    """An engine plus session factories; one per app (``extensions.canary_store(app)``)."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"<Store {redacted(self.url)}>"

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def analyze(self, *tables: str) -> None:
        """Refresh PostgreSQL's planner statistics of ``tables`` after a bulk load (a workspace's first score
        writes 180 days of snapshots at once). Autovacuum's analyze comes later, and a query planned before it
        sees a table "nearly empty": the push's newest-snapshot join then ran as a nested loop over millions of
        rows for over half an hour (bench_scaleout, 20 × 2,000). SQLite plans without such statistics."""
        if self.engine.dialect.name != "postgresql":
            return
        with self.engine.begin() as conn:
            for table in tables:
                conn.execute(text(f'ANALYZE "{table}"'))

    @contextmanager
    def session(self, tenant_id: int | None = None) -> Iterator[Session]:
        """A session committed on success and rolled back on error.

        With ``tenant_id`` it is tenant-scoped; without, it may only be used for
        tenant-level administration (creating tenants, migrations, the console's tenant list).
        """
        session = tenant_session(self.sessions, tenant_id) if tenant_id is not None else self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
