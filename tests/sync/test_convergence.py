"""An incremental sync after vendor changes, deletions and merges reaches what a fresh full sync reaches.

On the sandbox with HubSpot's search lag and 20 % injected faults: a full sync; then 200 random
record changes, 30 deletions and 5 merges across the three systems; then an incremental sync. Its
store is compared with a fresh full sync of the final world, record by record.

One difference is expected and asserted on its own: when a vendor merges two records, the
incremental store knows they are one customer, so the other systems' records of the merged-away
customer follow the survivor's account; a fresh sync never saw the merge and keeps them apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cli.truth import comparable, merge_followers, others_of, store_state
from integrations.http import RetryPolicy
from sandbox.server import Sandbox
from sync.runner import sync
from tests.shared import WORLD_AS_OF
from tests.sync.test_sandbox_pipeline import LIMITS, Clock, adapters, new_store

OPTIONS: dict[str, Any] = {
    "hubspot": {**LIMITS["hubspot"], "search_lag_seconds": 30},
    "zendesk": {**LIMITS["zendesk"], "export_deleted": True},
    "salesforce": {"recycle_bin": True, "whole_second_timestamps": True},
}
"""The vendors as they really behave (whatever the emulators' defaults): search indexes late, deleted
records stay visible to incremental reads, Salesforce stamps whole seconds."""


def _patient(box: Sandbox) -> dict[str, Any]:
    options = {s: {"policy": RetryPolicy(sleep=lambda _s: None, max_attempts=40)} for s in box.emulators}
    return adapters(box, **options)


def test_incremental_sync_after_changes_deletions_and_merges_equals_a_fresh_full_sync(tmp_path: Path) -> None:
    clock = Clock()
    with Sandbox(accounts=200, seed=31, as_of=WORLD_AS_OF, clock=clock, faults=0.2,
                 fault_kinds=("429", "500", "503", "drop"), **OPTIONS) as box:
        store, tenant = new_store(tmp_path / "incremental.db")
        first = sync(store, tenant, _patient(box))
        assert all(s.stopped is None for s in first.systems.values()), first.as_dict()
        before = store_state(store, tenant)

        clock.advance(60)
        mutation = box.mutate(changes=200, deletions=30, merges=5, seed=77)
        assert (len(mutation.changes), len(mutation.deletions), len(mutation.merges)) == (200, 30, 5)
        clock.advance(600)  # past HubSpot's search lag and Zendesk's one-minute export rule
        second = sync(store, tenant, _patient(box))
        assert all(s.stopped is None for s in second.systems.values()), second.as_dict()
        removed = sum(o.removed for s in second.systems.values() for o in s.objects.values())
        assert removed >= 35

        fresh_store, fresh_tenant = new_store(tmp_path / "fresh.db")
        fresh = sync(fresh_store, fresh_tenant, _patient(box))
        assert all(s.stopped is None for s in fresh.systems.values()), fresh.as_dict()
        incremental, clean = store_state(store, tenant), store_state(fresh_store, fresh_tenant)

    # The merged-away records' counterparts in other systems: on the survivor's account incrementally.
    merges = [((m.system, m.merged_id), (m.system, m.primary_id)) for m in mutation.merges]
    for loser, survivor in merges:
        friends = others_of(before, loser)
        assert friends <= others_of(incremental, survivor) | {survivor}, (loser, survivor, friends)
    ignore = merge_followers(before, merges)
    same, other = comparable(incremental, ignore), comparable(clean, ignore)
    assert len(same["groups"]) > 150
    assert same == other
    assert incremental["dead_groups"] == set()  # merged and retired accounts keep no vendor record
