"""Each adapter returns account owners' e-mails read from the vendor's users, over HTTP with the real SDK.

One sandbox world with the customer-success team: owners are read once per run (a page of owners, not a
call per company), and the CSM who left comes back as an owner the vendor counts as inactive.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cli.demo import sandbox_connections
from integrations.base import AccountRecord
from sandbox.generate import FORMER_CSM
from sandbox.server import Sandbox
from sandbox.world import Company
from sync.connections import build_adapter
from tests.shared import WORLD_AS_OF

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


@pytest.mark.parametrize(("system", "options", "owner_calls"), [
    ("salesforce", {}, 1),  # one User query for the 11 owners (200 ids a query)
    ("hubspot", {"list_limit": 4}, 3 + 1),  # 10 active owners, 4 a page, then 1 page of archived owners
    ("zendesk", {}, 1),  # one users/show_many for the agents the first export page names
])
def test_owners_cost_a_call_per_page_of_owners_not_per_company(box: Sandbox, system: str, options: dict[str, Any],
                                                               owner_calls: int) -> None:
    with_owners, calls = pull_accounts(box, system, **options)
    without, calls_without = pull_accounts(box, system, resolve_owners=False, **options)
    assert len(with_owners) == len(without) > 20
    assert calls - calls_without == owner_calls
    assert all(r.owner == r.owner_ref for r in without if r.owner_ref)  # unresolved: named by the user id
