"""`Sandbox.mutate` and `Sandbox.world_state`: seeded changes, deletions and merges across the three
emulators, and the state a fresh full sync should reach."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sandbox.mutate import Mutation
from sandbox.server import Sandbox

AS_OF = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@contextmanager
def running(**options: Any) -> Iterator[Sandbox]:
    with Sandbox(accounts=40, seed=5, as_of=AS_OF, clock=lambda: NOW, **options) as sandbox:
        yield sandbox


def mutated(seed: int, **options: Any) -> tuple[Mutation, dict[str, Any]]:
    with running(**options) as sandbox:
        mutation = sandbox.mutate(changes=60, deletions=12, merges=4, seed=seed)
        return mutation, sandbox.world_state()


def test_the_same_seed_makes_the_same_mutation_and_state() -> None:
    first, second, other = mutated(3), mutated(3), mutated(4)
    assert first == second
    assert first[0] != other[0]
    mutation = first[0]
    assert (len(mutation.changes), len(mutation.deletions), len(mutation.merges)) == (60, 12, 4)
    assert {c.system for c in mutation.changes} == {"salesforce", "zendesk", "hubspot"}
    assert [m.system for m in mutation.merges].count("salesforce") == 2  # the two systems take turns
    assert [m.system for m in mutation.merges].count("hubspot") == 2


def test_world_state_shows_every_deletion_and_merge() -> None:
    mutation, state = mutated(3)
    assert (len(mutation.deletions), len(mutation.merges)) == (12, 4)
    for deletion in mutation.deletions:
        system = state[deletion.system]
        assert deletion.record_id in system["deleted"][deletion.object_type], deletion
        assert deletion.record_id not in system["alive"][deletion.object_type], deletion
    for merge in mutation.merges:
        system = state[merge.system]
        assert system["merged"][merge.object_type][merge.merged_id] == merge.primary_id
        assert merge.primary_id in system["alive"][merge.object_type]
        assert merge.merged_id not in system["alive"][merge.object_type]
    merged = {m.merged_id for m in mutation.merges}
    assert not merged & {d.record_id for d in mutation.deletions}


def test_changes_reach_the_sdks_and_deletions_the_vendor_views() -> None:
    options = {"salesforce": {"recycle_bin": True}, "zendesk": {"export_deleted": True}}
    with running(**options) as sandbox:
        # a seed whose draw holds a HubSpot company change, a Salesforce merge and Zendesk ticket deletions
        # (the draw picks among all records, the subscription history's deals included)
        mutation = sandbox.mutate(changes=30, deletions=10, merges=3, seed=11)
        clients = sandbox.sdk_clients()
        change = next(c for c in mutation.changes if c.system == "hubspot" and c.object_type == "companies")
        company = clients.hubspot.crm.companies.basic_api.get_by_id(change.record_id, properties=list(change.values))
        assert company.properties == {**company.properties, **change.values}
        sf_merges = [m for m in mutation.merges if m.system == "salesforce"]
        assert sf_merges, mutation.merges
        rows = clients.salesforce.query_all(
            "SELECT Id, MasterRecordId FROM Account WHERE IsDeleted = true", include_deleted=True
        )["records"]
        masters = {r["Id"]: r["MasterRecordId"] for r in rows}
        assert all(masters[m.merged_id] == m.primary_id for m in sf_merges)
        zd_tickets = [d.record_id for d in mutation.deletions if d.system == "zendesk" and d.object_type == "tickets"]
        assert zd_tickets, mutation.deletions
        for ticket_id in zd_tickets:
            assert sandbox.emulators["zendesk"].is_deleted("tickets", ticket_id)


def test_with_search_lag_mutated_companies_reach_search_only_after_the_lag() -> None:
    clock = [NOW]
    lagging = {"search_lag_seconds": 30}
    with Sandbox(accounts=40, seed=5, as_of=AS_OF, clock=lambda: clock[0], hubspot=lagging) as sandbox:
        mutation = sandbox.mutate(changes=40, deletions=0, merges=0, seed=3)  # draws HubSpot company changes
        changed = {c.record_id for c in mutation.changes if c.system == "hubspot" and c.object_type == "companies"}
        assert changed
        since = {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(int(NOW.timestamp() * 1000))}
        search = {"filterGroups": [{"filters": [since]}], "limit": 100}
        api = sandbox.hubspot_client().crm.companies.search_api
        assert api.do_search(public_object_search_request=search).total == 0
        clock[0] = NOW + timedelta(seconds=30)
        assert {r.id for r in api.do_search(public_object_search_request=search).results} == changed
