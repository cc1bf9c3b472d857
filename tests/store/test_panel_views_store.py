"""Prepared panel views on both backends: the one-statement lookup, the build, and the marks at commit."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from store import panel_views
from store.db import Store
from store.models import Account, HealthSnapshot, PanelView, SourceLink, Subscription
from store.panel_views import touches
from store.tenants import create_tenant

DAY = dt.date(2026, 11, 30)


def test_lookup_build_and_marks_on_both_backends(migrated_url: str) -> None:
    store = Store(migrated_url)
    try:
        with store.session() as s:
            tenant_id = create_tenant(s, "acme", "Acme")[0].id
            other_tenant = create_tenant(s, "other", "Other")[0].id
        with store.session(tenant_id) as s:
            account = Account(name="Initech", owner="casey@example.com")
            s.add(account)
            s.flush()
            account_id = account.id
            s.add_all([SourceLink(account_id=account_id, system="zendesk", external_id="100", method="new",
                                  reason="t"),
                       HealthSnapshot(account_id=account_id, day=DAY, score=42.0, band="average", trend=0.5,
                                      reasons=[{"text": "Seats filled"}])])
        assert panel_views.lookup(store.engine, other_tenant, "zendesk", "100", DAY) is None  # scoped
        assert panel_views.lookup(store.engine, tenant_id, "zendesk", "999", DAY) is None
        found = panel_views.lookup(store.engine, tenant_id, "zendesk", "100", DAY)
        assert found is not None and found.account_id == account_id and found.payload is None
        assert found.version == 1  # the seeding transaction marked it

        with store.session(tenant_id) as s:
            built = panel_views.refresh(s, [account_id], DAY)
        found = panel_views.lookup(store.engine, tenant_id, "zendesk", "100", DAY)
        assert found is not None and found.payload == built[account_id][1] and found.key == built[account_id][0]
        view = panel_views.decode(found.payload)
        assert (view["score"], view["owner"], view["reasons"]) == (42.0, "casey@example.com", ["Seats filled"])
        nxt = panel_views.lookup(store.engine, tenant_id, "zendesk", "100", DAY + dt.timedelta(days=1))
        assert nxt is not None and nxt.payload is None  # another day: built again

        with store.session(tenant_id) as s:  # an ORM change
            s.add(Subscription(account_id=account_id, system="salesforce", external_id="006A", status="active",
                               renewal_date=DAY + dt.timedelta(days=40)))
        found = panel_views.lookup(store.engine, tenant_id, "zendesk", "100", DAY)
        assert found is not None and found.payload is None and found.version == 2

        with store.session(tenant_id) as s:
            panel_views.refresh(s, [account_id], DAY)
            s.execute(update(Account).where(Account.id == account_id).values(segment="enterprise"),
                      execution_options=touches(()))  # a column no panel shows: the view is kept
        found = panel_views.lookup(store.engine, tenant_id, "zendesk", "100", DAY)
        assert found is not None and found.payload is not None

        with store.session(tenant_id) as s:  # a statement naming no accounts: the workspace's epoch moves
            s.execute(update(Account).values(domain="initech.example"))
        found = panel_views.lookup(store.engine, tenant_id, "zendesk", "100", DAY)
        assert found is not None and found.payload is None and found.version == 2
        with store.session(tenant_id) as s:
            rebuilt = panel_views.refresh(s, [account_id], DAY)[account_id]
            assert s.scalars(select(PanelView.epoch)).one() == rebuilt[0][3] == 1
        assert panel_views.decode(rebuilt[1])["domain"] == "initech.example"
        assert panel_views.decode(rebuilt[1])["renewal_date"] == (DAY + dt.timedelta(days=40)).isoformat()
    finally:
        store.dispose()
