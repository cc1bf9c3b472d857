"""`claim_message_ids`: a batch's ids claimed once per workspace, the fresh ones back in batch order — on SQLite
(no RETURNING: the row count, and the inserted rows read back by their row ids when some ids were claimed before)
and PostgreSQL."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import select

from collector.ingest import claim_message_ids
from collector.messages import Message
from extensions import canary_store
from store.models import CollectedMessage
from tests.shared import WORLD_NOW


def _messages(ids: list[str]) -> list[Message]:
    return [Message("track", message_id, "u-1", WORLD_NOW, index, "Logged In", "g-1")
            for index, message_id in enumerate(ids)]


def _claim(app: Any, tenant_id: int, ids: list[str]) -> list[tuple[int, str]]:
    with canary_store(app).session(tenant_id) as s:
        return [(m.index, m.message_id) for m in claim_message_ids(s, tenant_id, _messages(ids))]


def _stored(app: Any, tenant_id: int) -> list[str]:
    with canary_store(app).session(tenant_id) as s:
        return sorted(s.scalars(select(CollectedMessage.message_id)))


def test_fresh_ids_come_back_in_batch_order_and_claimed_ones_do_not(collector_app: Any) -> None:
    tenant, other = collector_app.config["TEST_TENANT"], collector_app.config["OTHER_TENANT"]
    assert _claim(collector_app, tenant, ["c", "a", "b"]) == [(0, "c"), (1, "a"), (2, "b")]
    # The other workspace's rows come between: its ids are its own, and its rows sit between this workspace's
    assert _claim(collector_app, other, ["x", "a"]) == [(0, "x"), (1, "a")]
    assert _claim(collector_app, tenant, ["d", "b", "e", "a", "d", "f"]) == [(0, "d"), (2, "e"), (5, "f")]
    assert _claim(collector_app, tenant, ["d", "b"]) == []
    assert _claim(collector_app, tenant, ["f", "g"]) == [(1, "g")]  # right after this workspace's own rows
    assert _claim(collector_app, tenant, ["z", "z", "y"]) == [(0, "z"), (2, "y")]
    assert _claim(collector_app, other, ["a", "b"]) == [(1, "b")]
    assert _stored(collector_app, tenant) == ["a", "b", "c", "d", "e", "f", "g", "y", "z"]
    assert _stored(collector_app, other) == ["a", "b", "x"]


def test_claims_match_a_set_of_seen_ids_over_random_batches(collector_app: Any) -> None:
    """Seeded: batches drawn from a small set of ids (repeats within and across batches, two workspaces taking turns);
    each claim gives exactly the ids its workspace had not seen, first occurrences, in batch order."""
    tenants = (collector_app.config["TEST_TENANT"], collector_app.config["OTHER_TENANT"])
    rng = random.Random(18)
    seen: dict[int, set[str]] = {t: set() for t in tenants}
    for _ in range(40):
        tenant = rng.choice(tenants)
        ids = [f"m-{rng.randrange(60)}" for _ in range(rng.randrange(1, 25))]
        expected: list[tuple[int, str]] = []
        for index, message_id in enumerate(ids):
            if message_id not in seen[tenant]:
                seen[tenant].add(message_id)
                expected.append((index, message_id))
        assert _claim(collector_app, tenant, ids) == expected
    for tenant in tenants:
        assert _stored(collector_app, tenant) == sorted(seen[tenant])
