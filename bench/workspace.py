"""The portfolio the list and play benches fill: one workspace written straight into a migrated database
(a SQLite file, or a PostgreSQL database named by its URL).

`fill` writes a tenant with an admin, 2 managers and 10 CSMs (5 under each), `accounts` accounts owned
by the CSMs, an active subscription each (started 30–730 days ago, renewing over the next 400 days),
two days of health snapshots a week apart whose ``parts`` hold the shipped model's 16 measures, three
product users per account, and open alerts: ``alerts`` lists (rule, first account, every how many).
Setup only: nothing here is timed.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import random
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

AS_OF = dt.date(2026, 11, 30)
NOW = "2026-11-30 00:00:00.000000"
LIST_ALERTS: tuple[tuple[str, int, int], ...] = (("usage_drop", 1, 7), ("champion_inactive", 1, 7))
"""The open alerts of `bench_lists`: every 7th account has a usage drop and a quiet champion."""


def new_database(folder: str, name: str, admin_url: str | None = None) -> tuple[Path | str, str]:
    """A new empty database for one bench run, migrated: (what `Raw` and `fill` take, its URL) — a SQLite file
    `name`.db in `folder`, or with `admin_url` a fresh database on that PostgreSQL server."""
    from store.migrate import upgrade

    target: Path | str
    if admin_url is not None:
        from tests.pg import create_database

        target = url = create_database(admin_url)
    else:
        target = Path(folder) / f"{name}.db"
        url = f"sqlite:///{target}"
    upgrade(url)
    return target, url


def kept_pg_database(admin_url: str, name: str) -> tuple[str, bool]:
    """A database `name` on the PostgreSQL server of `admin_url`, kept between bench runs: created when missing,
    migrated to the head; (its URL, whether it was just created and must be filled)."""
    import psycopg

    from store.migrate import upgrade

    with psycopg.connect(admin_url, autocommit=True) as conn:
        new = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None
        if new:
            conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    return url, new


class Raw:
    """A plain DB-API connection to the bench's database, SQL written with ``?`` for both backends."""

    def __init__(self, target: Path | str) -> None:
        self.postgres = isinstance(target, str) and target.startswith("postgresql")
        if self.postgres:
            import psycopg

            self.conn: Any = psycopg.connect(str(target).replace("postgresql+psycopg://", "postgresql://"))
        else:
            self.conn = sqlite3.connect(target if isinstance(target, Path) else target.removeprefix("sqlite:///"))
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=OFF")

    def _sql(self, sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s") if self.postgres else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Returns the rows changed."""
        return int(self.conn.execute(self._sql(sql), params).rowcount)

    def executemany(self, sql: str, rows: Any) -> None:
        self.conn.cursor().executemany(self._sql(sql), rows)

    def close(self) -> None:
        if self.postgres:  # ids were written: the sequences start after them
            for table in ("tenants", "users", "accounts"):
                self.conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))")
        self.conn.commit()
        self.conn.close()


def fill(target: Path | str, accounts: int, alerts: Sequence[tuple[str, int, int]] = LIST_ALERTS) -> None:
    """`target`: a SQLite file, or a database URL."""
    from scoring import default_model

    measures = sorted(default_model().measures)
    conn = Raw(target)
    conn.execute("INSERT INTO tenants (id, slug, name, created_at) VALUES (1, 'bench', 'Bench', ?)", (NOW,))
    users = [(1, "admin@bench.example", "admin", None), (2, "m1@bench.example", "manager", None),
             (3, "m2@bench.example", "manager", None)]
    users += [(10 + i, f"csm{i}@bench.example", "csm", 2 + i % 2) for i in range(10)]
    conn.executemany("INSERT INTO users (id, tenant_id, email, role, manager_id, active, session_epoch, created_at) "
                     "VALUES (?, 1, ?, ?, ?, ?, 0, ?)", ((*u, True, NOW) for u in users))
    rng = random.Random(7)
    conn.executemany(
        "INSERT INTO accounts (id, tenant_id, name, domain, segment, lifecycle_stage, tier, owner, csm_user_id, "
        "created_at, updated_at) VALUES (?, 1, ?, ?, ?, 'adopting', ?, ?, ?, ?, ?)",
        ((i, f"Company {i}", f"c{i}.example", ("smb", "mid_market", "enterprise")[i % 3],
          ("starter", "growth", "enterprise")[i % 3], f"csm{i % 10}@bench.example", 10 + i % 10, NOW, NOW)
         for i in range(1, accounts + 1)))
    conn.executemany(
        "INSERT INTO subscriptions (tenant_id, account_id, system, external_id, arr, seats_purchased, start_date, "
        "renewal_date, status, updated_at) VALUES (1, ?, 'salesforce', ?, ?, 20, ?, ?, 'active', ?)",
        ((i, f"006{i}", 10_000 + i % 90_000, (AS_OF - dt.timedelta(days=30 + i % 700)).isoformat(),
          (AS_OF + dt.timedelta(days=i % 400)).isoformat(), NOW) for i in range(1, accounts + 1)))
    for day in (AS_OF - dt.timedelta(days=7), AS_OF):
        rows = []
        for i in range(1, accounts + 1):
            score = rng.uniform(10, 95)
            band = "poor" if score < 40 else ("average" if score < 70 else "good")
            parts = {"parts": {m: {"signal": m, "dimension": "engagement", "label": m, "value": rng.uniform(-60, 100),
                                   "status": band, "points": rng.uniform(0, 100), "weight": 1.0} for m in measures},
                     "benchmarks": {m: {"segment_percentile": 50.0, "base_percentile": 50.0} for m in measures}}
            rows.append((i, day.isoformat(), score, band, json.dumps(parts), rng.uniform(-1, 1), NOW))
        conn.executemany("INSERT INTO health_snapshots (tenant_id, account_id, day, score, band, parts, reasons, "
                         "trend, computed_at) VALUES (1, ?, ?, ?, ?, ?, '[]', ?, ?)", rows)
    conn.executemany("INSERT INTO alerts (tenant_id, account_id, rule, dedupe_key, severity, title, reasons, status, "
                     "raised_at) VALUES (1, ?, ?, ?, 'warning', 'Alert', '[]', 'open', ?)",
                     ((i, rule, f"{rule}:{i}", NOW) for rule, first, every in alerts
                      for i in range(first, accounts + 1, every)))
    conn.executemany("INSERT INTO product_users (tenant_id, user_key, account_id, first_seen, last_seen) "
                     "VALUES (1, ?, ?, ?, ?)",
                     ((f"u{i}-{u}", i, (AS_OF - dt.timedelta(days=20 + i % 300)).isoformat() + " 00:00:00.000000",
                       (AS_OF - dt.timedelta(days=(i + u) % 40)).isoformat() + " 09:00:00.000000")
                      for i in range(1, accounts + 1) for u in range(3)))
    conn.execute("ANALYZE")
    conn.close()


def migration_0019() -> Any:
    """Migration 0019 (its ``usage_monthly`` triggers and backfill), loaded from its file: the benches that write
    usage rows directly drop its triggers while they write, then run its backfill and put them back."""
    path = Path(__file__).resolve().parents[1] / "store" / "migrations" / "versions" / "0019_usage_rollup.py"
    spec = importlib.util.spec_from_file_location("usage_rollup_0019", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def served_pages(url: str, store: Any, when: str, runs: int, paths: Sequence[str]) -> None:
    """Report pages as the console serves them: the Flask app through its WSGI test client (the sign-in check, the
    report, the cohort filter, charts and template; no socket; the templates compiled first, as a server process has
    them after its first pages), signed in as the workspace's first admin. Prints
    each path's p50 / p95 over `runs` requests, the first included (a view nobody prepared is computed and stored
    on it), and the page's size."""
    from sqlalchemy import select

    from app import create_app
    from extensions import canary_store
    from store.models import User

    with store.session(1) as s:
        admin = s.execute(select(User.id, User.session_epoch).where(User.role == "admin").order_by(User.id)
                          .limit(1)).first()
    if admin is None:
        print(f"  pages served ({when}): no admin in the workspace, not timed")
        return
    app = create_app({"SECRET_KEY": "bench-secret-key-0123456789abcdef", "DATABASE_URL": url, "COOKIE_SECURE": False})
    for name in app.jinja_env.list_templates(filter_func=lambda n: n.startswith("console/")):
        app.jinja_env.get_template(name)  # compiled once per process, as a server has them after its first pages
    client = app.test_client()
    with client.session_transaction() as session:
        session.update({"uid": admin.id, "tid": 1, "epoch": admin.session_epoch, "seen": int(time.time()),
                        "sid": "bench", "csrf": "bench"})
    for path in paths:
        took, size = [], 0
        for _ in range(runs):
            wall = time.perf_counter()
            response = client.get(path)
            took.append((time.perf_counter() - wall) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{path}: HTTP {response.status_code}: {response.get_data(as_text=True)[:300]}")
            size = len(response.data)
        ordered = sorted(took)
        p50, p95 = ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        print(f"  {'page served (' + when + ') ' + path:64} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms "
              f"(first {took[0]:.1f}; {size / 1024:,.0f} KiB)")
    canary_store(app).dispose()


def sandbox_workspace(folder: str | Path, name: str, box: Any) -> tuple[Any, Any, dict[str, Any]]:
    """A migrated SQLite store `name`.db in `folder`, a workspace in it and an adapter per system of the sandbox
    `box` (in this process or served apart): (the store, the workspace, the adapters by system)."""
    from cli.demo import SANDBOX_OPTIONS, sandbox_connections
    from store.db import Store
    from store.migrate import upgrade
    from store.tenants import create_tenant
    from sync.connections import build_adapter

    url = f"sqlite:///{Path(folder) / name}.db"
    upgrade(url)
    store = Store(url)
    with store.session() as s:
        tenant, _ = create_tenant(s, "bench", "Bench")
    adapters = {system: build_adapter(system, creds, base, **SANDBOX_OPTIONS.get(system, {}))
                for system, (creds, base, _ref) in sandbox_connections(box).items()}
    return store, tenant, adapters
