"""Account owners: one precedence (the CRM before the help desk), vendor users linked to Canary users,
CSMs set for active users only — and end to end on a seeded sandbox world with the real SDKs."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cli.demo import sandbox_connections
from console.people import add_user
from sandbox.generate import FORMER_CSM
from sandbox.server import Sandbox
from store.db import Store
from store.models import Account, SourceLink, User, VendorUserLink
from store.tenants import create_tenant
from sync.connections import build_adapter
from sync.owners import apply_owners, choose_owner, owner_precedence
from sync.runner import sync
from sync.writer import account_attributes, segment_for_employees
from tests.dbtemplate import migrate_new
from tests.shared import WORLD_AS_OF

LIMITS: dict[str, Any] = {"hubspot": {"requests_per_10s": 100_000},
                          "zendesk": {"plan": "enterprise_plus", "incremental_requests_per_minute": None}}
EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def new_store(path: Path) -> tuple[Store, int]:
    url = f"sqlite:///{path}"
    migrate_new(url)
    store = Store(url)
    with store.session() as s:
        tenant, _ = create_tenant(s, "owners", "Owners")
    return store, tenant.id


def test_the_crms_come_before_the_help_desk() -> None:
    assert owner_precedence() == ("salesforce", "hubspot", "zendesk")


@pytest.mark.parametrize(("named", "owner"), [
    ({"zendesk": "z@x.example", "salesforce": "s@x.example", "hubspot": "h@x.example"}, "s@x.example"),
    ({"zendesk": "z@x.example", "hubspot": "h@x.example"}, "h@x.example"),
    ({"zendesk": "z@x.example"}, "z@x.example"),
    ({"product": "p@x.example"}, None),
    ({}, None),
])
def test_choose_owner(named: dict[str, str], owner: str | None) -> None:
    assert choose_owner(named) == owner


def test_apply_owners_picks_links_and_assigns_active_users_only(tmp_path: Path) -> None:
    store, tenant = new_store(tmp_path / "owners.db")
    with store.session(tenant) as s:
        ana = add_user(s, "ana@x.example", "csm")
        left = add_user(s, "left@x.example", "csm")
        left.active = False
        a, b, c = (Account(name=n) for n in ("A", "B", "C"))
        s.add_all([a, b, c])
        s.flush()

        def link(account: Account, system: str, ext: str, owner: str | None, ref: str | None) -> None:
            s.add(SourceLink(system=system, external_id=ext, account_id=account.id, method="new", reason="test",
                             owner=owner, owner_ref=ref, owner_active=True))

        link(a, "zendesk", "1", "left@x.example", "900")  # a stale help-desk field ...
        link(a, "salesforce", "001A", "ana@x.example", "005A")  # ... loses to the CRM
        link(b, "zendesk", "2", "ana@x.example", "901")
        link(c, "hubspot", "7", "left@x.example", "51")
        s.flush()
        counts = apply_owners(s)
        owners = {x.name: (x.owner, x.csm_user_id) for x in s.scalars(select(Account))}
        links = sorted((x.system, x.external_id, x.user_id) for x in s.scalars(select(VendorUserLink)))
        ana_id = ana.id
    assert owners == {"A": ("ana@x.example", ana_id), "B": ("ana@x.example", ana_id), "C": ("left@x.example", None)}
    # the disabled user gets no link (vendor sign-in must not let them in) and no accounts
    assert links == [("salesforce", "005A", ana_id), ("zendesk", "901", ana_id)]
    assert (counts.accounts_changed, counts.vendor_users_linked, counts.without_active_csm) == (3, 2, 1)
    with store.session(tenant) as s:
        again = apply_owners(s)
    assert (again.accounts_changed, again.vendor_users_linked, again.csms_changed) == (0, 0, 0)


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    sandbox = Sandbox(accounts=150, seed=7, as_of=WORLD_AS_OF, **LIMITS)
    sandbox.start()
    yield sandbox
    sandbox.stop()


def test_a_sync_gives_every_account_the_owner_the_world_says(box: Sandbox, tmp_path: Path) -> None:
    assert box.world is not None
    truth = json.loads(Path(box.truth_path).read_text())
    team = {m["email"]: m for m in truth["team"]}
    assert len([m for m in team.values() if m["role"] == "csm" and m["active"]]) == 8
    assert [m["email"] for m in team.values() if not m["active"]] == [FORMER_CSM]
    store, tenant = new_store(tmp_path / "pipeline.db")
    with store.session(tenant) as s:
        for email, member in team.items():
            if member["active"]:
                add_user(s, email, member["role"] if member["role"] == "manager" else "csm")
    adapters = {system: build_adapter(system, creds, base)
                for system, (creds, base, _ref) in sandbox_connections(box).items()}
    summary = sync(store, tenant, adapters, objects=("accounts",))
    assert all(x.stopped is None for x in summary.systems.values()), summary.as_dict()

    with store.session(tenant) as s:
        account_of = {(x.system, x.external_id): x.account_id for x in s.scalars(select(SourceLink))}
        accounts = {x.id: (x.owner, x.csm_user_id) for x in s.scalars(select(Account))}
        users = dict(s.execute(select(User.email, User.id)).all())
        links = {(x.system, x.email): x.user_id for x in s.scalars(select(VendorUserLink))}
    placed = {}
    for company in truth["companies"]:
        ids = {account_of[(system, ext)] for system, ext in company["ids"].items()}
        assert len(ids) == 1, company["key"]
        placed[company["key"]] = (ids.pop(), company["owner"])
    assert len(placed) == 150
    for key, (account_id, owner) in placed.items():
        assert accounts[account_id][0] == owner, key
        assert accounts[account_id][1] == users.get(owner), key  # None for the CSM who left
    former = [account_id for account_id, owner in placed.values() if owner == FORMER_CSM]
    assert former and all(accounts[a][1] is None for a in former)
    assert {a for a, (owner, csm) in accounts.items() if csm is None and owner} == set(former)
    assert summary.owners.without_active_csm == len(set(former))

    # every vendor user seen as an owner who is an active Canary user is linked, per system
    expected: set[tuple[str, str]] = set()
    for company in box.world.companies:
        for system in company.presence:
            owner = company.helpdesk_owner if system == "zendesk" else company.csm_owner
            if owner in users:
                expected.add((system, owner))
    assert {(system, users_email) for system, users_email in links} == expected
    assert len({system for system, _ in expected}) == 3
    assert all(links[(system, email)] == users[email] for system, email in expected)

    # a stale help-desk owner field lost to the CRM's owner
    stale = [c for c in box.world.companies if c.helpdesk_owner and c.helpdesk_owner != c.csm_owner]
    assert stale and all(accounts[placed[c.key][0]][0] == c.csm_owner for c in stale)


def test_a_first_sync_gives_every_account_its_segment(box: Sandbox, tmp_path: Path) -> None:
    """Accounts created by identity resolution get a segment on the same sync — the one a record names, else
    their employee count's (the CRM's first) — so scoring's segment profiles and the portfolio's segment
    filter work from day one."""
    truth = json.loads(Path(box.truth_path).read_text())
    store, tenant = new_store(tmp_path / "attributes.db")
    adapters = {system: build_adapter(system, creds, base)
                for system, (creds, base, _ref) in sandbox_connections(box).items()}
    summary = sync(store, tenant, adapters, objects=("accounts",))
    assert all(x.stopped is None for x in summary.systems.values()), summary.as_dict()
    with store.session(tenant) as s:
        account_of = {(x.system, x.external_id): x.account_id for x in s.scalars(select(SourceLink))}
        sized = {x.account_id for x in s.scalars(select(SourceLink)) if x.employees is not None}
        segments = dict(s.execute(select(Account.id, Account.segment)).all())
    crm_companies = [c for c in truth["companies"] if {"salesforce", "hubspot"} & set(c["ids"])]
    assert len(crm_companies) > 100
    for company in crm_companies:  # the CRMs carry the employee count the world's segment was drawn from
        account_id = account_of[next(iter(company["ids"].items()))]
        assert account_id in sized and segments[account_id] == company["segment"], company["key"]
    assert {segments[account_of[next(iter(c["ids"].items()))]] for c in crm_companies} == {
        "smb", "mid_market", "enterprise"}


@pytest.mark.parametrize(("employees", "segment"), [
    (None, None), (-1, None), (0, "smb"), (199, "smb"), (200, "mid_market"), (1999, "mid_market"),
    (2000, "enterprise"), (50_000, "enterprise")])
def test_segment_for_employees(employees: int | None, segment: str | None) -> None:
    assert segment_for_employees(employees) == segment


def test_a_record_s_own_segment_beats_the_employee_count_and_the_crm_comes_first() -> None:
    def link(system: str, **values: Any) -> SourceLink:
        return SourceLink(system=system, external_id="x", method="exact", reason="", **values)

    assert account_attributes([link("zendesk", segment="strategic"), link("salesforce", employees=50)]) == {
        "segment": "strategic"}
    assert account_attributes([link("zendesk", employees=5000), link("salesforce", employees=50)]) == {
        "segment": "smb"}
    assert account_attributes([link("hubspot", tier="growth"), link("salesforce", tier="enterprise")]) == {
        "tier": "enterprise"}
    assert account_attributes([link("product")]) == {}
