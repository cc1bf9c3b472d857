"""Issue 16: on the sandbox, the retention figures Canary computes from what it synced match `truth.json`
(computed by the world generator from the history it intended) within 0.1 percentage point, for each of the
last 12 complete months, and the API and the console's Revenue page show the same figures."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from console.auth import issue_api_token, passwords
from console.people import add_user
from extensions import canary_store
from sandbox.generate import truth_dict
from sandbox.server import Sandbox
from store.models import Subscription, SubscriptionMovement, User
from store.tenants import create_tenant
from sync.reports import revenue
from sync.runner import sync
from tests.console.conftest import PASSWORD, console_app, csrf_of, signed_in_client
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
        add_user(s, "manager@truth.example", "manager", name="Manager", password=PASSWORD,
                 hasher=passwords(console_app))
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

    # The console: the headline of the last complete month, and the retention chart's CSV, month by month.
    client = signed_in_client(app, "manager@truth.example")
    page = client.get(f"/reports/revenue?months=12&as_of={WORLD_AS_OF.isoformat()}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    last = months[-1]
    assert f"{last['grr'] * 100:.1f} %" in html and f"{last['nrr'] * 100:.1f} %" in html
    exported = client.get(f"/reports/revenue?months=12&csv=retention&as_of={WORLD_AS_OF.isoformat()}")
    assert exported.headers["Content-Disposition"].startswith("attachment")
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    assert rows[0][0] == "Month" and [r[0] for r in rows[1:]] == [m["month"] for m in expected]
    assert [float(r[1]) for r in rows[1:]] == pytest.approx([t["grr"] * 100 for t in expected], abs=0.1)


def test_the_renewals_page_forecasts_the_open_terms_and_keeps_the_calls(synced_app: Any) -> None:
    from sync.reports import renewals

    app, store, tenant_id, _ = synced_app
    with store.session(tenant_id) as s:
        report = renewals(s, as_of=WORLD_AS_OF)
        open_terms = {(sub.account_id, sub.renewal_date) for sub in s.scalars(select(Subscription).where(
            Subscription.status == "active", Subscription.term_end.is_(None),
            Subscription.renewal_date >= WORLD_AS_OF.replace(day=1),
            Subscription.renewal_date < WORLD_AS_OF.replace(year=WORLD_AS_OF.year + 1, day=1)))}
    due = [d for m in report["months"] for d in m["renewals"]]
    # One renewal per account and day (a deal in two CRMs counts once); each month lists its 25 most at risk.
    assert sum(m["count"] for m in report["months"]) == len(open_terms) > 20
    assert sum(min(m["count"], 25) for m in report["months"]) == len(due)
    assert {(d["account_id"], dt.date.fromisoformat(d["renewal_date"])) for d in due} <= open_terms
    for m in report["months"]:
        assert m["more"] == m["count"] - len(m["renewals"])
        assert [d["at_risk"] for d in m["renewals"]] == sorted((d["at_risk"] for d in m["renewals"]), reverse=True)
    total = sum(m["arr"] for m in report["months"])
    # No account is scored here: every renewal is "not scored". The synced history has 24 months of decided
    # renewals (most renewed), so p(not scored) is recalibrated up from its 0.75 default.
    p = report["probabilities"]["none"]
    assert report["calibrated"] is True and 0.75 < p["p"] <= 0.98 and "recalibrated from" in p["source"]
    assert sum(m["at_risk"] for m in report["months"]) == pytest.approx(total * (1 - p["p"]), rel=1e-4)

    client = signed_in_client(app, "manager@truth.example")
    page = client.get(f"/reports/renewals?as_of={WORLD_AS_OF.isoformat()}").get_data(as_text=True)
    assert page.count('data-testid="due"') == len(due)
    first = due[0]
    form = {"account_id": first["account_id"], "renewal_date": first["renewal_date"], "checkpoint": "3",
            "call": "monitor", "expected_arr": "1000", "csrf_token": csrf_of(client)}
    refused = client.post("/reports/renewals/calls", data=form)
    assert refused.status_code == 400 and "6-month checkpoint" in refused.get_data(as_text=True)
    saved = client.post("/reports/renewals/calls", data={**form, "call": "at_risk", "note": "budget <frozen>"})
    assert saved.status_code == 302
    page = client.get(f"/reports/renewals?as_of={WORLD_AS_OF.isoformat()}").get_data(as_text=True)
    assert "3 mo: <strong>at risk</strong> · 1,000 · budget &lt;frozen&gt;" in page
