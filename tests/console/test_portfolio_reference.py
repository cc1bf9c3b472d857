"""The indexed portfolio answers what the plain reference computation answers (`portfolio_reference`):
every sort in both directions over three keyset pages, and the filters and scopes; on SQLite and
PostgreSQL, on a seeded book of 120 accounts with ties, unscored and merged accounts, subscriptions in
two systems, amounts and renewal dates missing, renewals past and future, and open and resolved alerts."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

import pytest

from console.auth import SignedIn
from console.portfolio import SORTS, PortfolioQuery, load_page
from store import portfolio_keys
from store.db import Store
from store.models import Account, Alert, HealthSnapshot, Subscription, User
from store.tenants import create_tenant
from tests.console import portfolio_reference
from tests.dbtemplate import Templates
from tests.shared import WORLD_AS_OF

DAY = WORLD_AS_OF
WORDS = ("Kestrel", "aster", "Birch", "cedar", "Dune", "ember", "Fjord", "grove")


def seed(store: Store) -> tuple[int, dict[str, SignedIn]]:
    rng = random.Random(2026)
    with store.session() as s:
        tenant, _ = create_tenant(s, "books", "Books")
    who: dict[str, SignedIn] = {}
    with store.session(tenant.id) as s:
        admin = User(email="admin@books.example", role="admin")
        manager = User(email="manager@books.example", role="manager")
        s.add_all([admin, manager])
        s.flush()
        csms = [User(email=f"csm{i}@books.example", role="csm", manager_id=manager.id if i < 2 else None)
                for i in range(3)]
        s.add_all(csms)
        s.flush()
        for label, user in (("admin", admin), ("manager", manager), ("csm", csms[0])):
            who[label] = SignedIn(user.id, tenant.id, "Books", user.email, None, user.role)
        for i in range(120):
            account = Account(
                name=f"{WORDS[i % len(WORDS)]}{i:03d}", owner=rng.choice(("ownera", "ownerb", "", None)),
                segment=rng.choice(("smb", "mid", "ent", "", None)), tier=rng.choice(("gold", "silver", None)),
                lifecycle_stage=rng.choice(("adopting",) * 6 + ("onboarding", None, "merged", "retired")),
                csm_user_id=rng.choice([c.id for c in csms] + [None]))
            s.add(account)
            s.flush()
            s.add(HealthSnapshot(account_id=account.id, day=DAY - dt.timedelta(days=1), score=50.0, band="average",
                                 trend=0.0))
            if rng.random() < 0.88:  # else: scored yesterday only, so unscored on the latest day
                score = rng.choice([float(x) for x in range(0, 100, 5)] + [None])
                band = None if score is None else ("poor" if score < 40 else "average" if score < 70 else "good")
                trend = rng.choice((-0.5, -0.1, 0.0, 0.05, 0.1, 0.3, None))
                s.add(HealthSnapshot(account_id=account.id, day=DAY, score=score, band=band, trend=trend))
            for k in range(rng.choice((0, 0, 1, 1, 2, 3))):
                renewal = rng.choice((None, DAY + dt.timedelta(days=rng.randint(-100, 400))))
                arr = rng.choice((None, "0", "5000", "12000", "12000.50", "90000"))
                s.add(Subscription(account_id=account.id, system="hubspot" if k == 2 else "salesforce",
                                   external_id=f"d{i}-{k}", arr=None if arr is None else Decimal(arr),
                                   renewal_date=renewal, status=rng.choice(("active",) * 4 + ("closed",))))
            for k in range(rng.choice((0, 0, 1, 2))):
                s.add(Alert(account_id=account.id, rule=rng.choice(("usage_drop", "champion_left")),
                            dedupe_key=f"a{i}-{k}", title="Alert", status=rng.choice(("open", "open", "resolved"))))
        portfolio_keys.refresh(s)
    return tenant.id, who


@pytest.fixture
def book(store: Store, migrated_url: str, db_templates: Templates) -> tuple[int, dict[str, SignedIn]]:
    """`seed(store)`'s book, seeded once per session per backend and copied into the test's empty database."""
    def build(url: str) -> tuple[int, dict[str, SignedIn]]:
        builder = Store(url)
        try:
            return seed(builder)
        finally:
            builder.dispose()

    store.engine.dispose()  # nothing holds the database while it is replaced
    return db_templates.seeded("portfolio_books", migrated_url, build)


def pages(store: Store, tenant_id: int, q: PortfolioQuery, who: SignedIn, count: int) -> list[list[int]]:
    out = []
    with store.session(tenant_id) as s:
        for _ in range(count):
            page = load_page(s, q, who)
            out.append([r["id"] for r in page.rows])
            if page.next_cursor is None:
                break
            q = PortfolioQuery(**{**q.__dict__, "cursor": page.next_cursor})
    return out


def test_the_stored_keys_are_the_reference_values(store: Store, book: tuple[int, dict[str, SignedIn]]) -> None:
    tenant_id, _ = book
    with store.session(tenant_id) as s:
        expected = portfolio_reference.expected_keys(s)
        assert len(expected) == 120
        assert portfolio_reference.stored_keys(s) == expected
        # the seed holds every case the keys encode
        values = list(expected.values())
        assert {v[1] == -1.0 for v in values} == {True, False} and {v[2] == -1000.0 for v in values} == {True, False}
        assert any(v[3] is None and v[4] == 0.0 for v in values) and any(v[4] is None for v in values)
        assert any(v[5] == portfolio_reference.FAR_FUTURE for v in values)


def test_every_sort_in_both_directions_pages_like_the_reference(
        store: Store, book: tuple[int, dict[str, SignedIn]]) -> None:
    tenant_id, who = book
    checked = 0
    for sort in SORTS:
        for descending in (False, True):
            q = PortfolioQuery(scope="all", sort=sort, descending=descending, limit=7)
            with store.session(tenant_id) as s:
                reference = portfolio_reference.ordered_ids(s, q, who["admin"])
            assert len(reference) > 21, (sort, descending)
            got = pages(store, tenant_id, q, who["admin"], 3)
            assert got == [reference[0:7], reference[7:14], reference[14:21]], (sort, descending)
            checked += 1
    assert checked == 2 * len(SORTS)


FILTERS: list[tuple[str, dict[str, Any]]] = [
    ("admin", {"bands": ("poor",)}),
    ("admin", {"bands": ("poor",), "renewal_days": 90}),
    ("admin", {"bands": ("good", "average"), "sort": "arr", "descending": True}),
    ("admin", {"bands": ("none",)}),
    ("admin", {"bands": ("poor", "none"), "sort": "trend"}),
    ("admin", {"trend": "down"}),
    ("admin", {"trend": "up", "sort": "renewal"}),
    ("admin", {"trend": "flat", "descending": True}),
    ("admin", {"segment": "smb", "sort": "name"}),
    ("admin", {"tier": "gold", "sort": "owner", "descending": True}),
    ("admin", {"stage": "adopting", "sort": "alerts", "descending": True}),
    ("admin", {"renewal_days": 365, "sort": "renewal"}),
    ("admin", {"renewal_days": 180, "sort": "score", "descending": True}),
    ("admin", {"arr_min": 5000.0, "sort": "arr"}),
    ("admin", {"arr_max": 5000.0}),
    ("admin", {"arr_min": 0.0, "arr_max": 12000.5, "sort": "segment"}),
    ("admin", {"alert_rule": "usage_drop"}),
    ("admin", {"search": "ED", "sort": "name", "descending": True}),
    ("admin", {"scope": "unassigned", "sort": "tier"}),
    ("csm", {"scope": "mine"}),
    ("csm", {"scope": "mine", "bands": ("poor", "average"), "sort": "stage"}),
    ("manager", {"scope": "team"}),
    ("manager", {"scope": "team", "sort": "arr", "descending": True}),
    ("admin", {"owner_id": "csm", "sort": "renewal", "descending": True}),
]


@pytest.mark.parametrize(("user", "filters"), FILTERS, ids=[str(f) for _, f in FILTERS])
def test_filters_and_scopes_match_the_reference(store: Store, book: tuple[int, dict[str, SignedIn]], user: str,
                                              filters: dict[str, Any]) -> None:
    tenant_id, who = book
    if filters.get("owner_id") == "csm":
        filters = {**filters, "owner_id": who["csm"].user_id}
    q = PortfolioQuery(**{"scope": "all", **filters, "limit": 200})
    with store.session(tenant_id) as s:
        reference = portfolio_reference.ordered_ids(s, q, who[user])
    assert reference, filters  # the seed has accounts for every filter
    assert pages(store, tenant_id, q, who[user], 1) == [reference]
    paged = pages(store, tenant_id, PortfolioQuery(**{**q.__dict__, "limit": 4}), who[user], 200)
    assert [i for page in paged for i in page] == reference
