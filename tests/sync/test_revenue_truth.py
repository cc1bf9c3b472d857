"""Issue 16: on the sandbox, the retention figures Canary computes from what it synced match `truth.json`
(computed by the world generator from the history it intended) within 0.1 percentage point, for each of the
last 12 complete months, and the API answers the same figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from console.auth import issue_api_token
from console.people import add_user
from extensions import canary_store
from sandbox.generate import truth_dict
from sandbox.server import Sandbox
from store.models import SubscriptionMovement, User
from store.tenants import create_tenant
from sync.reports import revenue
from sync.runner import sync
from tests.console.conftest import console_app
from tests.shared import WORLD_AS_OF
from tests.sync.test_sandbox_pipeline import LIMITS, Clock, adapters

__all__ = ["console_app"]
COMPARED = ("grr", "nrr", "logo_churn", "expansion_rate")


@pytest.fixture
def synced_app(console_app: Any, tmp_path: Path) -> Any:
    store = canary_store(console_app)
    with store.session() as s:
        tenant, _ = create_tenant(s, "truth", "Truth")
    with store.session(tenant.id) as s:
        add_user(s, "manager@truth.example", "manager", name="Manager")
    with Sandbox(accounts=150, seed=11, as_of=WORLD_AS_OF, clock=Clock(), **LIMITS) as box:
        summary = sync(store, tenant.id, adapters(box))
        assert all(s.stopped is None for s in summary.systems.values()), summary.as_dict()
        assert box.world is not None
        truth = truth_dict(box.world)["revenue"]
    return console_app, store, tenant.id, truth


def test_last_twelve_months_match_the_truth_in_the_store_and_the_api(synced_app: Any) -> None:
    app, store, tenant_id, truth = synced_app
    expected = truth["months"][-12:]
    assert len(expected) == 12
    with store.session(tenant_id) as s:
        report = revenue(s, months=12, as_of=WORLD_AS_OF)
        assert s.scalar(select(SubscriptionMovement.id).where(SubscriptionMovement.kind == "churn").limit(1))
    months = [m for m in report["months"] if m["complete"]]
    assert [m["month"] for m in months] == [m["month"] for m in expected]
    active = 0
    for mine, theirs in zip(months, expected, strict=True):
        assert mine["start"] == pytest.approx(theirs["start"], abs=0.01), mine["month"]
        for figure in COMPARED:
            if theirs[figure] is None:
                assert mine[figure] is None, (mine["month"], figure)
            else:
                assert mine[figure] == pytest.approx(theirs[figure], abs=0.001), (mine["month"], figure)
        active += bool(theirs["churn"] or theirs["expansion"] or theirs["contraction"])
    assert active >= 6  # the months compared are not all flat: the check can fail

    with store.session(tenant_id) as s:
        user = s.scalar(select(User).where(User.email == "manager@truth.example"))
        _, token = issue_api_token(s, user, "t")
    answer = app.test_client().get(f"/api/v1/reports/revenue?months=12&as_of={WORLD_AS_OF.isoformat()}",
                                   headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["months"] == report["months"]
