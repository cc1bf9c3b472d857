"""The database-backed replay guard: one acceptance per signature across processes (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select

from integrations.errors import SignatureError
from integrations.replay import LedgerReplayGuard
from store.db import Store
from store.models import UsedSignature
from store.replay import UsedSignatures

NOW = 1_800_000_000.0


def StoreReplayGuard(store: Store, clock: Any, sweep_every: int = 500) -> LedgerReplayGuard:
    """The app's guard: `LedgerReplayGuard` over the ``used_signatures`` table."""
    return LedgerReplayGuard(UsedSignatures(store, sweep_every=sweep_every), clock=clock)


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


def test_canvas_replay_window_follows_issued_at_on_the_database(store: Store) -> None:
    """200, then refused, then still refused at +15 min 20 s (before: accepted again)."""
    from integrations.salesforce.signatures import verify_canvas_signed_request
    from tests.integrations.test_signatures import NOW as SIGNED_AT
    from tests.integrations.test_signatures import SECRET, canvas_request

    clock = {"now": SIGNED_AT}
    guard = StoreReplayGuard(store, clock=lambda: clock["now"], sweep_every=1)  # sweeps on every check
    signed = canvas_request(issuedAt=int(SIGNED_AT * 1000))

    def verify() -> None:
        verify_canvas_signed_request(signed, SECRET, now=clock["now"], replay_guard=guard, replay_scope=7)

    verify()
    with store.engine.connect() as conn:
        assert conn.execute(select(UsedSignature.expires_at)).scalars().all() == [SIGNED_AT + 15 * 60 + 60]
    for offset, refusal in [(60, "request replayed"), (15 * 60, "request replayed"), (15 * 60 + 20, "too old")]:
        clock["now"] = SIGNED_AT + offset
        with pytest.raises(SignatureError, match=refusal):
            verify()


def test_keys_are_scoped_by_vendor_and_workspace(store: Store) -> None:
    from integrations.replay import replay_key

    guard = StoreReplayGuard(store, clock=lambda: NOW)
    guard.check_and_remember(replay_key("zendesk", 1, "jti:X"), NOW + 300)
    guard.check_and_remember(replay_key("zendesk", 2, "jti:X"), NOW + 300)  # another workspace: its own key
    guard.check_and_remember(replay_key("hubspot", 1, "jti:X"), NOW + 300)  # another vendor: its own key
    with pytest.raises(SignatureError, match="already used"):
        guard.check_and_remember(replay_key("zendesk", 2, "jti:X"), NOW + 300)
    assert len(guard) == 3
