"""Issue 15 item 2: the records a change names, fetched by id, over HTTP against the sandbox.

After a full sync, records change in the three vendors (an organization renamed, a new ticket, a deal's
amount, contacts deleted, companies merged, a new organization); `fetch_records` with just those ids brings the store to
what a fresh full sync of the changed world holds (the merges' followers aside, as in
``test_convergence``), names the accounts touched, spends one read per object and vendor (plus the
pull's own owner and association lookups), and leaves every sync cursor as it was. With HubSpot's
search lagging 30 s behind writes, the fetched change is there at once where an incremental pull
misses it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cli.truth import comparable, merge_followers, store_state
from integrations.base import DealRecord, ObjectName, Removal
from sandbox.server import Sandbox
from store.db import Store
from store.models import SourceLink, Subscription, SyncCursor, Ticket
from sync.connections import build_adapter
from sync.fetch import fetch_records
from sync.runner import sync
from tests.shared import WORLD_AS_OF
from tests.sync.test_sandbox_pipeline import LIMITS, Clock, adapters, new_store, stored_credentials

OPTIONS: dict[str, Any] = {
    "hubspot": {**LIMITS["hubspot"], "search_lag_seconds": 30},
    "zendesk": {**LIMITS["zendesk"], "export_deleted": True},
    "salesforce": {"recycle_bin": True},
}
UNKNOWN = {"salesforce": "006000000000000AAA", "zendesk": "987654321", "hubspot": "987654321"}
"""An id of the right shape that no record has."""


@pytest.fixture
def synced(tmp_path: Path) -> Iterator[tuple[Sandbox, Clock, Store, int]]:
    clock = Clock()
    with Sandbox(accounts=60, seed=23, as_of=WORLD_AS_OF, clock=clock, **OPTIONS) as box:
        store, tenant = new_store(tmp_path / "fetch.db")
        summary = sync(store, tenant, adapters(box))
        assert all(s.stopped is None for s in summary.systems.values()), summary.as_dict()
        clock.advance(60)
        yield box, clock, store, tenant


def cursors(store: Store, tenant: int) -> dict[tuple[str, str], str]:
    with store.session(tenant) as s:
        return {(c.system, c.object): c.value for c in s.scalars(select(SyncCursor))}


def account_of(store: Store, tenant: int, system: str, external_id: str) -> int | None:
    with store.session(tenant) as s:
        return s.scalar(select(SourceLink.account_id).where(SourceLink.system == system,
                                                            SourceLink.external_id == external_id))


def calls(box: Sandbox, system: str) -> dict[tuple[str, str], int]:
    return {(c["method"], c["endpoint"]): c["count"] for c in box.stats()[system]["calls"]}


def test_fetching_changed_records_by_id_reaches_a_fresh_full_sync(synced: tuple[Sandbox, Clock, Store, int],
                                                                  tmp_path: Path) -> None:
    box, clock, store, tenant = synced
    sf, zd, hs = (box.emulators[s] for s in ("salesforce", "zendesk", "hubspot"))
    before = store_state(store, tenant)
    cursors_before = cursors(store, tenant)

    # --- the vendors change -------------------------------------------------------------------------------
    # Zendesk: an organization linked by its Salesforce id is renamed; a customer opens a ticket for it.
    org = next(o for o in zd.records("organizations") if o["external_id"]
               and o["organization_fields"].get("success_manager"))
    org_id = str(org["id"])
    zd.update("organizations", org_id, {"name": f"{org['name']} (renamed)"})
    requester = next(u for u in zd.records("users") if u["organization_id"] == org["id"])
    ticket_id = str(zd.create_ticket(org["id"], requester["id"], "Cannot export the monthly report", "high"))

    # HubSpot: a deal's amount changes, a contact is deleted, one company is merged into another.
    deal = next(d for d in hs.records("deals") if not d["archived"])
    deal_id = deal["id"]
    hs.update("deals", deal_id, {"amount": "123456"})
    hs_contact = next(c for c in hs.records("contacts") if not c["archived"])["id"]
    hs.delete("contacts", [hs_contact])
    companies = [c["id"] for c in hs.records("companies") if not c["archived"]]
    hs_primary, hs_merged = companies[3], companies[7]
    hs.merge("companies", hs_primary, hs_merged)

    # Salesforce: a contact is deleted; one Account is merged into another, its children re-parented (each
    # a change Salesforce reports too, so each is fetched).
    sf_contact = sf.records("Contact")[0]["Id"]
    sf.delete("Contact", [sf_contact])
    accounts = [a["Id"] for a in sf.records("Account")]
    sf_master, sf_loser = accounts[2], accounts[5]
    children = {t: [r["Id"] for r in sf.records(t) if r.get("AccountId") == sf_loser]
                for t in ("Contact", "Opportunity", "Case")}
    sf.merge("Account", sf_master, sf_loser)

    wanted: dict[str, dict[ObjectName, list[str]]] = {
        "zendesk": {"accounts": [org_id, UNKNOWN["zendesk"]], "tickets": [ticket_id]},
        "hubspot": {"accounts": [hs_merged, hs_primary], "contacts": [hs_contact],
                    "deals": [deal_id, UNKNOWN["hubspot"]]},
        "salesforce": {"accounts": [sf_loser, sf_master], "contacts": [sf_contact, *children["Contact"]],
                       "deals": children["Opportunity"] + [UNKNOWN["salesforce"]], "tickets": children["Case"]},
    }
    merges = [(("hubspot", hs_merged), ("hubspot", hs_primary)), (("salesforce", sf_loser), ("salesforce", sf_master))]

    # Zendesk again: a new organization for a customer known only to the CRMs, naming its Salesforce Account.
    involved = {key for pair in merges for key in pair}
    sf_alone = next(next(ext for system, ext in sorted(group) if system == "salesforce")
                    for group in before["groups"].values()
                    if {s for s, _ in group} == {"salesforce", "hubspot"} and not group & involved)
    new_org = str(zd.create_organization("Brand-new Org Ltd", external_id=sf_alone))
    wanted["zendesk"]["accounts"].append(new_org)

    # --- fetched by id, at once (no clock moves: HubSpot's search has not seen the changes yet) --------
    live = adapters(box)
    summaries, states = {}, [before]
    for system, objects in wanted.items():
        box.emulators[system].stats.reset()
        summaries[system] = fetch_records(store, tenant, system, live[system], objects)
        assert summaries[system].calls == box.stats()[system]["calls_total"], system
        states.append(store_state(store, tenant))
    after = states[-1]

    # Every sync cursor is where the full sync left it.
    assert cursors(store, tenant) == cursors_before

    # The physical minimum: one read per object and vendor (<= 100 ids, 200 for Salesforce), plus the pull's
    # own lookups of what a record names (owners; HubSpot's company associations, which batch read lacks).
    assert calls(box, "zendesk") == {("GET", "/api/v2/organizations/show_many.json"): 1,
                                     ("GET", "/api/v2/users/show_many.json"): 1,  # the organization's owner
                                     ("GET", "/api/v2/tickets/show_many.json"): 1}
    primary = next(c for c in hs.records("companies") if c["id"] == hs_primary)["properties"]
    hubspot_calls = {("POST", "/crm/v3/objects/<object_type>/batch/read"): 3,
                     ("POST", "/crm/v4/associations/<from_type>/<to_type>/batch/read"):
                         1 + (0 if primary.get("hs_parent_company_id") else 1)}
    if primary.get("hubspot_owner_id"):
        hubspot_calls[("GET", "/crm/v3/owners/")] = 2  # every owner, then the archived ones: one page each
    assert calls(box, "hubspot") == hubspot_calls
    master = sf.record("Account", sf_master)
    assert master is not None and master.get("OwnerId")
    assert calls(box, "salesforce") == {("GET", "/services/data/v<version>/queryAll"): 3 + bool(children["Case"]),
                                        ("GET", "/services/data/v<version>/query"): 1}  # the owner's User

    # Unknown ids are removals, not errors; the merged-away records are removals too.
    assert summaries["zendesk"].objects["accounts"].removed == 1
    assert summaries["hubspot"].objects["deals"].removed == 1
    assert summaries["hubspot"].objects["accounts"].removed == 1
    assert summaries["hubspot"].objects["contacts"].removed == 1
    assert summaries["salesforce"].objects["deals"].removed == 1
    assert summaries["salesforce"].objects["accounts"].removed == 1

    # The accounts the fetched records are on, before and after (a merged-away record's old account too).
    for (system, objects), ahead, behind in zip(wanted.items(), states, states[1:], strict=False):
        expected = holders(ahead, system, objects) | holders(behind, system, objects)
        assert summaries[system].account_ids == expected, system
    assert holders(before, "hubspot", {"accounts": [hs_merged]}) <= summaries["hubspot"].account_ids
    assert holders(before, "salesforce", {"contacts": [sf_contact]}) <= summaries["salesforce"].account_ids
    assert len(summaries["hubspot"].account_ids) >= 2

    # The changes are in the store.
    with store.session(tenant) as s:
        assert s.scalar(select(SourceLink.name).where(SourceLink.system == "zendesk",
                                                      SourceLink.external_id == org_id)) == f"{org['name']} (renamed)"
        ticket = s.scalar(select(Ticket).where(Ticket.system == "zendesk", Ticket.external_id == ticket_id))
        assert ticket is not None and (ticket.priority, ticket.status) == ("high", "new")
        assert ticket.account_id == account_of(store, tenant, "zendesk", org_id) is not None
        arr = s.scalar(select(Subscription.arr).where(Subscription.system == "hubspot",
                                                      Subscription.external_id == deal_id))
        assert arr == Decimal("123456")

    # The new organization is on its customer's account (identity ran after the accounts were fetched).
    assert account_of(store, tenant, "zendesk", new_org) == account_of(store, tenant, "salesforce", sf_alone)
    assert account_of(store, tenant, "salesforce", sf_alone) in summaries["zendesk"].account_ids

    # Where an incremental pull, asked now, misses the deal (HubSpot's search has not indexed the change).
    pulled = [r for page in adapters(box)["hubspot"].pull("deals", cursors_before[("hubspot", "deals")])
              for r in page.records]
    assert all(not (isinstance(r, DealRecord) and r.arr == Decimal("123456")) for r in pulled)

    # A fresh full sync of the changed world holds what the fetch left (the merges' followers aside: the
    # fetch knows the merged records were one customer, a fresh sync cannot).
    clock.advance(120)  # past Zendesk's one-minute export rule and HubSpot's search lag
    fresh, fresh_tenant = new_store(tmp_path / "fresh.db")
    full = sync(fresh, fresh_tenant, adapters(box))
    assert all(s.stopped is None for s in full.systems.values()), full.as_dict()
    ignore = merge_followers(before, merges)
    mine, clean = comparable(after, ignore), comparable(store_state(fresh, fresh_tenant), ignore)
    assert len(mine["groups"]) > 40
    assert mine == clean
    assert after["dead_groups"] == set()


def holders(state: dict[str, Any], system: str, objects: Mapping[str, Sequence[str]]) -> set[int]:
    """The accounts of ``state`` (`cli.truth.store_state`) holding ``system``'s records ``objects``."""
    out: set[int] = set()
    for obj, ids in objects.items():
        wanted = set(ids)
        if obj == "accounts":
            out |= {a for a, group in state["groups"].items() if any((system, i) in group for i in wanted)}
        elif obj == "contacts":
            out |= {row[-1] for row in state["contacts"] if dict(row[2]).get(system) in wanted}
        else:
            kind = {"deals": "subscriptions", "tickets": "tickets"}[obj]
            out |= {row[-1] for row in state[kind] if row[0] == system and row[1] in wanted}
    return {a for a in out if a is not None}


def by_id(records: Sequence[Any]) -> dict[str, Any]:
    return {r.external_id: r for r in records}


def test_fetch_maps_as_the_pull_maps_in_batches_and_removes_what_is_not_there(tmp_path: Path) -> None:
    clock = Clock()
    with Sandbox(accounts=40, seed=29, as_of=WORLD_AS_OF, clock=clock, **OPTIONS) as box:
        live = adapters(box)
        cases: list[tuple[str, ObjectName, int, tuple[str, str], int]] = [
            # system, object, ids a call, the read endpoint, unknown ids to pad with
            ("salesforce", "accounts", 200, ("GET", "/services/data/v<version>/queryAll"), 230),
            ("zendesk", "accounts", 100, ("GET", "/api/v2/organizations/show_many.json"), 130),
            ("zendesk", "tickets", 100, ("GET", "/api/v2/tickets/show_many.json"), 130),
            ("hubspot", "accounts", 100, ("POST", "/crm/v3/objects/<object_type>/batch/read"), 130),
            ("hubspot", "deals", 100, ("POST", "/crm/v3/objects/<object_type>/batch/read"), 130),
        ]
        for system, obj, per_call, (method, endpoint), padding in cases:
            adapter = live[system]
            pulled = by_id([r for page in adapter.pull(obj, None) for r in page.records])
            real = sorted(pulled)[:12]
            unknown = [str(int(UNKNOWN[system]) + n) if system != "salesforce" else f"001{n:012d}AAA"
                       for n in range(padding)]
            asked = [*real, real[0], *unknown, "not-an-id"]
            emulator = box.emulators[system]
            emulator.stats.reset()
            page = adapter.fetch(obj, asked)
            reads = -(-(len(real) + len(unknown)) // per_call)
            assert (page.object, page.cursor) == (obj, None)
            assert emulator.stats.calls(method, endpoint) == reads == 2, (system, obj)
            # The same records the pull maps (owners and links included), nothing twice; the rest removed.
            assert by_id(page.records) == {i: pulled[i] for i in real}, (system, obj)
            assert len(page.records) == len(real)
            assert page.removed == [Removal(i) for i in [*unknown, "not-an-id"]], (system, obj)

        # Zendesk ratings: one show each (Zendesk has none for many), their tickets not read (the store places a
        # rating through its stored ticket): no tickets/show_many.
        zendesk = live["zendesk"]
        ratings = by_id([r for page in zendesk.pull("satisfaction", None) for r in page.records])
        some = sorted(ratings)[:3]
        box.emulators["zendesk"].stats.reset()
        page = zendesk.fetch("satisfaction", [*some, UNKNOWN["zendesk"]])
        assert by_id(page.records) == {i: ratings[i] for i in some}
        assert page.removed == [Removal(UNKNOWN["zendesk"])]
        assert calls(box, "zendesk") == {("GET", "/api/v2/satisfaction_ratings/{id}.json"): 4}
        assert all(r.account_external_id is None for r in page.records)

        # Canary's tasks before any was made (no key field yet): none to read, every id removed, no error.
        for system, task_id in (("salesforce", "00T000000000001AAA"), ("hubspot", "12345")):
            page = live[system].fetch("tasks", [task_id])
            assert (page.records, page.removed) == ([], [Removal(task_id)])

        # An object the vendor does not have is refused before any call.
        store, tenant = new_store(tmp_path / "refused.db")
        box.emulators["zendesk"].stats.reset()
        with pytest.raises(ValueError, match="zendesk has no deals"):
            fetch_records(store, tenant, "zendesk", zendesk, {"deals": ["1"]})
        assert box.stats()["zendesk"]["calls_total"] == 0

        # Refused credentials stop the fetch as they stop a sync run: said, nothing stored, no exception.
        creds, base = stored_credentials(box)["hubspot"]
        refused = build_adapter("hubspot", {**creds, "access_token": "not-the-token"}, base)
        summary = fetch_records(store, tenant, "hubspot", refused, {"accounts": ["1"], "deals": ["2"]})
        assert summary.stopped is not None and "401" in summary.stopped
        assert (summary.calls, summary.objects, summary.account_ids) == (1, {}, set())
