"""Shared fixtures: databases on SQLite and on a throwaway PostgreSQL, the app, tenants."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dbtemplate import _SESSION, Templates
from tests.pg import create_database, postgres_server

TEST_SECRET = "test-secret-key-for-canary-0123456789"


_TRAVELLERS: list[Any] = []


def pytest_configure(config: pytest.Config) -> None:
    """``CANARY_TEST_NOW=2027-06-30T23:30:00+00:00 pytest`` runs the suite, collection included, as if
    that were the time (Python's clock only: servers the tests start in other processes keep the real
    one); the suite must pass whatever the date. Without it, the real clock."""
    when = os.environ.get("CANARY_TEST_NOW")
    if when:
        import datetime as dt

        import time_machine

        traveller = time_machine.travel(dt.datetime.fromisoformat(when), tick=True)
        traveller.start()
        _TRAVELLERS.append(traveller)
    # pytest-xdist ≥ 3.5 re-sorts `--dist loadfile`/`loadscope` work by the number of tests in each file
    # (`--loadscope-reorder`, on by default), which undid `HEAVY_FIRST`: the one-test files that run longest
    # (the demo, the Celery workers, the live demo) were handed out last and set the suite's wall time.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False
    # Deriving the credentials' Fernet key (PBKDF2, 100,000 rounds: ~40 ms) ran in every app the tests build;
    # the same secret always gives the same key, so each secret is derived once per test process.
    import functools

    from store import crypto

    if not hasattr(crypto._fernet_key, "cache_info"):
        crypto._fernet_key = functools.lru_cache(maxsize=None)(crypto._fernet_key)
    _share_url_builders()


def _share_url_builders() -> None:
    """Each app the tests build compiles a URL builder for each of its ~140 routes (werkzeug generates Python
    source per rule and ``compile()``s it: most of `create_app`'s time). The generated function depends only on
    the rule's text, its parsed parts, its defaults' names and ``append_unknown``, and reaches the rule itself
    only through its ``.self`` argument, so the same rule in the next app gets the function compiled the first
    time. A rule whose defaults fill one of its own placeholders (the only case where a converter's output
    goes into the code) is compiled as usual."""
    from werkzeug.routing import rules

    if getattr(rules.Rule._compile_builder, "_shared", False):
        return
    compile_builder = rules.Rule._compile_builder
    built: dict[tuple[Any, ...], Any] = {}

    def shared(self: Any, append_unknown: bool = True) -> Any:
        defaults = self.defaults or {}
        if any(is_dynamic and data in defaults for is_dynamic, data in self._trace):
            return compile_builder(self, append_unknown)
        key = (self.rule, append_unknown, tuple(self._trace), tuple(defaults))
        if key not in built:
            built[key] = compile_builder(self, append_unknown)
        return built[key]

    shared._shared = True  # type: ignore[attr-defined]
    rules.Rule._compile_builder = shared  # type: ignore[method-assign]


HEAVY_FIRST = (
    # Test files that take longest, longest first: seconds summed per file from `--durations=0` of a whole run on
    # this branch, 2026-12-02 02:45-03:35 UTC, under a load of 8-10 from other work on the 2 cores (so several times
    # the quiet figures; the order is what counts), lowered for what this branch made cheaper since (the console
    # Chromium test copies the stories' month-end world, the base report files copy a seeded workspace): stories
    # 451, report patches 424, sandbox pipeline 134, adoption pack 134, property batches 123, demo 109 … of 5,700 s
    # of test time. With `--dist loadfile` a file runs whole on one worker, and a long file handed out last sets the
    # suite's wall time while the other worker idles: these start first, every other file follows in collection
    # order (`pytest_configure` turns off xdist's own re-sorting by test count, which would undo this). Ordering
    # only: a file missing here (or a name that no longer exists) just runs in its usual place.
    "tests/test_stories.py",
    "tests/sync/test_report_patches.py",
    "tests/test_demo.py",
    "tests/sync/test_sandbox_pipeline.py",
    "tests/sync/test_adoption_pack.py",
    "tests/scoring/test_batch.py",
    "tests/e2e/test_console_chromium.py",
    "tests/sync/test_account_facts.py",
    "tests/sync/test_health_run.py",
    "tests/console/test_portfolio_reference.py",
    "tests/sync/test_runner_and_push.py",
    "tests/sync/test_score_day_writes.py",
    "tests/sync/test_report_fact_packs.py",
    "tests/jobs/test_celery_workers.py",
    "tests/sync/test_base_report_copies.py",
    "tests/sync/test_usage_facts.py",
    "tests/console/test_portfolio.py",
    "tests/test_logs_hold_no_secrets.py",
    "tests/sync/test_alerts_bulk_paths.py",
    "tests/sync/test_score_one_day.py",
    "tests/store/test_migrations.py",
    "tests/campaigns/test_sandbox_world.py",
    "tests/store/test_usage_rollup.py",
    "tests/scoring/test_signal_table.py",
    "tests/console/test_plays.py",
    "tests/sync/test_revenue.py",
    "tests/scoring/test_batch_light.py",
    "tests/sync/test_score_facts_ahead.py",
    "tests/sync/test_realtime.py",
    "tests/sync/test_crm_tasks.py",
    "tests/sync/test_deferred_refresh.py",
    "tests/store/test_analyze.py",
    "tests/sync/test_backfill.py",
    "tests/sync/test_base_reports.py",
    "tests/e2e/test_live_demo.py",
    "tests/e2e/test_plays_chromium.py",
)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """`HEAVY_FIRST` files first (a stable sort: within a file, and among the other files, order is kept)."""
    rank = {path: i for i, path in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


def pytest_unconfigure(config: pytest.Config) -> None:
    while _TRAVELLERS:
        _TRAVELLERS.pop().stop()


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    if os.environ.get("CANARY_SKIP_POSTGRES") == "1":
        pytest.skip("CANARY_SKIP_POSTGRES=1")
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend of a test using `database_url`, `migrated_url` or `store`: each runs twice."""
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend: every test using it runs twice."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'canary.db'}"
    admin = request.getfixturevalue("postgres_admin_url")
    return create_database(admin)


@pytest.fixture(scope="session", autouse=True)
def db_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    """Migrated (and seeded) template databases of this session, copied for each test: see tests/dbtemplate.py.
    Autouse (it costs nothing until a template is asked for) so that `tests.dbtemplate.migrate_new` serves
    helpers that take no fixture."""
    templates = Templates(tmp_path_factory.mktemp("db-templates"))
    _SESSION.append(templates)
    yield templates
    _SESSION.remove(templates)
    templates.close()


@pytest.fixture
def migrated_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path, db_templates: Templates) -> str:
    """A database migrated to the head on each backend: a copy of the session's migrated template. A test that
    also takes `database_url` gets that database migrated; otherwise a PostgreSQL copy is made straight from the
    template (no empty database made first, then dropped for the copy)."""
    if backend == "postgresql" and "database_url" not in request.fixturenames:
        return db_templates.new_migrated(request.getfixturevalue("postgres_admin_url"))
    url = str(request.getfixturevalue("database_url"))
    db_templates.migrate(url)
    return url


@pytest.fixture
def store(migrated_url: str) -> Iterator[Any]:
    from store.db import Store

    s = Store(migrated_url)
    yield s
    s.dispose()


@pytest.fixture
def app_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_templates: Templates) -> Any:
    """Build apps on a migrated SQLite file in a temp instance folder, or on a ``DATABASE_URL`` given: a database
    with no table yet (a new file, a new PostgreSQL database) becomes a copy of the session's migrated template,
    one already there is upgraded."""
    from app import create_app
    from store.migrate import upgrade

    for key in list(os.environ):
        if key.startswith("CANARY_") and key not in ("CANARY_TEST_POSTGRES_URL", "CANARY_SKIP_POSTGRES"):
            monkeypatch.delenv(key)
    monkeypatch.delenv("DATABASE_URL", raising=False)

    def build(**config: Any) -> Any:
        default = tmp_path / "app.db"
        url = config.pop("DATABASE_URL", f"sqlite:///{default}")
        if Templates.is_empty(url):
            db_templates.migrate(url)
        else:
            upgrade(url)
        config.setdefault("COLLECTOR_FOLD", "request")  # usage folded before the answer: tests read it right after
        return create_app({"TESTING": True, "SECRET_KEY": TEST_SECRET, "DATABASE_URL": url, **config})

    return build


@pytest.fixture
def app(app_factory: Any) -> Any:
    return app_factory()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()
