"""The database-backed replay guard: one acceptance per signature across processes (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select

from integrations.errors import SignatureError
from integrations.replay import StoreReplayGuard
from store.db import Store
from store.models import UsedSignature

NOW = 1_800_000_000.0


def test_a_signature_is_accepted_once_even_by_another_process(store: Store, migrated_url: str) -> None:
    first = StoreReplayGuard(store, clock=lambda: NOW)
    first.check_and_remember("zendesk:jwt-1", NOW + 300)
    with pytest.raises(SignatureError, match="already used"):
        first.check_and_remember("zendesk:jwt-1", NOW + 300)
    other_worker = Store(migrated_url)  # its own engine and connections, as a second gunicorn worker has
    try:
        with pytest.raises(SignatureError):
            StoreReplayGuard(other_worker, clock=lambda: NOW).check_and_remember("zendesk:jwt-1", NOW + 300)
        StoreReplayGuard(other_worker, clock=lambda: NOW).check_and_remember("zendesk:jwt-2", NOW + 300)
    finally:
        other_worker.dispose()
    with store.engine.connect() as conn:
        hashes = set(conn.execute(select(UsedSignature.key_hash)).scalars())
    assert len(hashes) == 2 and all(len(h) == 64 for h in hashes)
    assert not any("jwt" in h for h in hashes)  # only hashes are kept


def test_an_expired_use_is_forgotten_and_swept(store: Store) -> None:
    clock = {"now": NOW}
    guard = StoreReplayGuard(store, clock=lambda: clock["now"], sweep_every=3)
    guard.check_and_remember("hubspot:a", NOW + 300)
    guard.check_and_remember("hubspot:b", NOW + 300)
    clock["now"] = NOW + 301
    guard.check_and_remember("hubspot:a", NOW + 601)  # its earlier use expired: remembered again, not refused
    assert len(guard) == 1  # the third check swept both expired rows, then remembered "a" again
    with pytest.raises(SignatureError):
        guard.check_and_remember("hubspot:a", NOW + 601)


def test_racing_workers_with_one_request_let_exactly_one_through(store: Store, migrated_url: str) -> None:
    stores = [Store(migrated_url) for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(s: Any) -> None:
        guard = StoreReplayGuard(s, clock=lambda: NOW)
        barrier.wait()
        try:
            guard.check_and_remember("canvas:signed-request", NOW + 900)
            result = "accepted"
        except SignatureError:
            result = "refused"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=worker, args=(s,)) for s in stores]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        for s in stores:
            s.dispose()
    assert sorted(outcomes) == ["accepted", "refused", "refused", "refused"]
