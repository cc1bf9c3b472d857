"""Each adapter returns account owners' e-mails read from the vendor's users, over HTTP with the real SDK.

One sandbox world with the customer-success team: owners are read once per run (a page of owners, not a
call per company), and the CSM who left comes back as an owner the vendor counts as inactive.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from cli.demo import sandbox_connections
from integrations.base import AccountRecord, VendorUser
from integrations.hubspot import records as hubspot_records
from integrations.zendesk import records as zendesk_records
from sandbox.generate import FORMER_CSM
from sandbox.server import Sandbox
from sandbox.world import Company
from sync.connections import build_adapter
from tests.shared import WORLD_AS_OF, vendor_payloads

LIMITS: dict[str, Any] = {"hubspot": {"requests_per_10s": 100_000},
                          "zendesk": {"plan": "enterprise_plus", "incremental_requests_per_minute": None}}


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    sandbox = Sandbox(accounts=120, seed=5, as_of=WORLD_AS_OF, **LIMITS)
    sandbox.start()
    yield sandbox
    sandbox.stop()


def pull_accounts(box: Sandbox, system: str, **options: Any) -> tuple[list[AccountRecord], int]:
    creds, base, _ref = sandbox_connections(box)[system]
    adapter = build_adapter(system, creds, base, **options)
    found = [r for page in adapter.pull("accounts", None) for r in page.records if isinstance(r, AccountRecord)]
    return found, adapter.calls


def expected_owner(system: str, company: Company) -> str | None:
    """The CRMs hold the truth's owner; the help desk's field what the world put there (maybe nobody)."""
    return company.helpdesk_owner if system == "zendesk" else company.csm_owner


@pytest.mark.parametrize("system", ["salesforce", "hubspot", "zendesk"])
def test_every_account_comes_with_its_owner_from_the_vendor_users(box: Sandbox, system: str) -> None:
    assert box.world is not None
    companies = {p.external_id: c for c in box.world.companies for s, p in c.presence.items() if s == system}
    records, _ = pull_accounts(box, system)
    assert len(records) == len(companies) > 20
    got = {r.external_id: (r.owner, r.owner_active) for r in records}
    want = {ext: expected_owner(system, c) for ext, c in companies.items()}
    assert {ext: owner for ext, (owner, _) in got.items()} == want
    named = [r for r in records if r.owner is not None]
    assert named and all(r.owner_ref and "@" in (r.owner or "") for r in named)
    gone = {r.external_id for r in records if r.owner_active is False}
    assert gone and gone == {r.external_id for r in records if r.owner == FORMER_CSM}
    assert all(r.owner_active is True for r in named if r.owner != FORMER_CSM)


OWNER_ENDPOINTS = {  # where each vendor's owner reads go, as the emulators count them
    "salesforce": "/services/data/v<version>/query",  # SOQL on User (accounts come from queryAll)
    "hubspot": "/crm/v3/owners/",
    "zendesk": "/api/v2/users/show_many.json",
}


def owner_endpoint_calls(box: Sandbox, system: str, **options: Any) -> tuple[list[AccountRecord], int]:
    """A pull, and the calls it made to the vendor's owner endpoint (counted by the emulator: a whole-pull
    difference would also count the HubSpot search's occasional extra page)."""
    stats = box.emulators[system].stats
    stats.reset()
    records, _ = pull_accounts(box, system, **options)
    return records, stats.calls("GET", OWNER_ENDPOINTS[system])


@pytest.mark.parametrize(("system", "options", "owner_calls"), [
    ("salesforce", {}, 1),  # one User query for the 11 owners (200 ids a query)
    ("hubspot", {"list_limit": 4}, 3 + 1),  # 10 active owners, 4 a page, then 1 page of archived owners
    ("zendesk", {}, 1),  # one users/show_many for the agents the first export page names
])
def test_owners_cost_a_call_per_page_of_owners_not_per_company(box: Sandbox, system: str, options: dict[str, Any],
                                                               owner_calls: int) -> None:
    with_owners, calls = owner_endpoint_calls(box, system, **options)
    without, calls_without = owner_endpoint_calls(box, system, resolve_owners=False, **options)
    assert len(with_owners) == len(without) > 20
    assert (calls, calls_without) == (owner_calls, 0)
    assert all(r.owner == r.owner_ref for r in without if r.owner_ref)  # unresolved: named by the user id


def test_a_suspended_agent_of_the_recorded_zendesk_payload_is_an_inactive_owner() -> None:
    body = json.loads((vendor_payloads("zendesk") / "users_incremental_cursor_end_of_stream_docs.json").read_text())
    agent = body["users"][0]
    assert (agent["role"], agent["suspended"]) == ("agent", True)
    assert zendesk_records.agent_to_owner(agent) == VendorUser("35436", "johnny@example.com", "Johnny Agent",
                                                               active=False)
    org = {"id": 1, "updated_at": "2026-01-01T00:00:00Z", "organization_fields": {"success_manager": 35436}}
    owners = {"35436": zendesk_records.agent_to_owner(agent)}
    record = zendesk_records.organization_to_account(org, owners)
    assert (record.owner, record.owner_ref, record.owner_active) == ("johnny@example.com", "35436", False)
    typed = zendesk_records.organization_to_account({**org, "organization_fields": {"success_manager": "a@B.example"}})
    assert (typed.owner, typed.owner_ref) == ("a@b.example", None)


def test_the_documented_hubspot_owner_maps_to_a_vendor_user() -> None:
    # GET /crm/v3/owners/{ownerId} as HubSpot's reference shows it ("Retrieve an owner")
    owner = {"archived": False, "createdAt": "2019-10-30T03:30:17.883Z", "email": "jsmith@example.com",
             "firstName": "John", "id": "6166860", "lastName": "Smith",
             "teams": [{"id": "178588", "name": "West Coast Sales", "primary": True}],
             "updatedAt": "2019-12-07T16:50:06.678Z", "userId": 1296619}
    assert hubspot_records.owner_from_payload(owner) == VendorUser("6166860", "jsmith@example.com", "John Smith",
                                                                   active=True)
    assert hubspot_records.owner_from_payload({**owner, "archived": True}).active is False
