"""A whole score run's usage facts: their reads started before the run writes its day (`sync.usage_facts.ReadAhead`
with the day, `sync.health._early_usage_facts`), taken by its base reports only when nothing they read changed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import sync.health as health
from scoring import default_model
from store.db import Store
from store.tenants import create_tenant
from sync import usage_facts as uf
from sync.health import score_tenant
from tests.sync.test_health_run import TODAY, _usage, _world
from tests.sync.test_usage_facts import _stored_facts

MODEL = default_model()
KEYS, LOGIN = tuple(MODEL.signals.key_features), MODEL.signals.login_event


@pytest.fixture
def world(store: Store) -> tuple[Store, int, dict[str, int]]:
    with store.session() as s:
        tenant, _ = create_tenant(s, "acme", "Acme CS")
    return store, tenant.id, _world(store, tenant.id)


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bool, bool]]:
    """Per `ReadAhead.take`: whether the read was an early one (guarded), and whether its rows were taken."""
    calls: list[tuple[bool, bool]] = []
    original = uf.ReadAhead.take

    def take(self: uf.ReadAhead, *args: Any, **kwargs: Any) -> Any:
        build = original(self, *args, **kwargs)
        calls.append((bool(self.guards), build is not None))
        return build

    monkeypatch.setattr(uf.ReadAhead, "take", take)
    return calls


def _rebuilt(store: Any, tenant: int) -> tuple[list[Any], list[Any]]:
    """The facts the session's own reads build (no read ahead)."""
    with store.session(tenant) as s:
        uf.refresh_usage_facts(s, KEYS, LOGIN)
    with store.session(tenant) as s:
        return _stored_facts(s)


def test_a_score_runs_early_reads_build_the_facts_its_session_would(world: Any, taken: list[Any]) -> None:
    store, tenant, _ = world
    score_tenant(store, tenant, MODEL, TODAY)
    assert taken == [(True, True)]  # started early, taken
    with store.session(tenant) as s:
        early = _stored_facts(s)
        assert uf.fresh_usage_facts(s, TODAY, KEYS, LOGIN, uf.FACT_MONTHS) is not None
    assert (len(early[0]), len(early[1])) == (3, 20)
    assert _rebuilt(store, tenant) == early
    score_tenant(store, tenant, MODEL, TODAY + dt.timedelta(days=1))  # the next day: its snapshots inserted
    assert taken[1:] == [(True, True)]
    with store.session(tenant) as s:
        assert uf.fresh_usage_facts(s, TODAY + dt.timedelta(days=1), KEYS, LOGIN, uf.FACT_MONTHS) is not None
        early = _stored_facts(s)
    assert _rebuilt(store, tenant) == early


def test_usage_committed_after_the_early_reads_is_not_missed(world: Any, taken: list[Any],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A usage row committed while the run writes its day (after the early reads may have read): the guard reads
    another newest usage row, the rows read early are not taken, the facts count the new users."""
    store, tenant, ids = world
    write_day = health._write_day

    def write_day_and_usage(*args: Any, **kwargs: Any) -> Any:
        touched = write_day(*args, **kwargs)
        with store.session(tenant) as s:  # another writer's commit (a sync's): two more users
            s.add_all([row for row in _usage(ids["falling"], 12, range(0, 3)) if row.user_key.endswith(("10", "11"))])
        return touched

    monkeypatch.setattr(health, "_write_day", write_day_and_usage)
    score_tenant(store, tenant, MODEL, TODAY)
    assert taken == [(True, False)]  # started early, not taken: the session read itself
    with store.session(tenant) as s:
        after = _stored_facts(s)
    assert len(after[1]) == 22  # the new users counted
    assert _rebuilt(store, tenant) == after


def test_an_early_read_of_another_day_is_not_taken(world: Any, taken: list[Any],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The day the run expected its reports to be of is checked at the take: another is read by the session."""
    store, tenant, _ = world
    early = health._early_usage_facts

    def a_day_late(store_: Any, tenant_id: int, model: Any, as_of: dt.date) -> Any:
        return early(store_, tenant_id, model, as_of + dt.timedelta(days=1))

    monkeypatch.setattr(health, "_early_usage_facts", a_day_late)
    score_tenant(store, tenant, MODEL, TODAY)
    assert taken == [(True, False)]
    with store.session(tenant) as s:
        facts = _stored_facts(s)
    assert (len(facts[0]), len(facts[1])) == (3, 20)
    assert _rebuilt(store, tenant) == facts
