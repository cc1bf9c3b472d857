"""Real Chromium: a manager opens Lists, creates a list with the definition editor (a bad submit first:
the errors show inline and nothing typed is lost), and sees its members with why each is in — at 1280 px
and on a 390 px phone. Screenshots go to ``tests/e2e/artifacts/``.

The workspace is the console tests' seeded one (`tests.console.conftest.seed_workspace`, dated from
`WORLD_AS_OF`), its shipped lists evaluated as a score run leaves them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from extensions import canary_store
from store.models import PortfolioList
from tests.console.conftest import PASSWORD
from tests.e2e.served import served_workspace
from tests.e2e.test_console_chromium import ARTIFACTS, browser

pytestmark = pytest.mark.e2e
__all__ = ["browser"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with served_workspace(tmp_path_factory.mktemp("lists"), "lists") as served:
        yield served


@pytest.mark.parametrize("width", [1280, 390])
def test_a_manager_creates_a_list_and_sees_its_members(browser: Any, workspace: dict[str, Any], width: int) -> None:
    ws = workspace["ws"]
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{workspace['url']}/lists")
        page.fill('input[name="email"]', ws.emails["manager"])
        page.fill('input[name="password"]', PASSWORD)
        page.click('button[type="submit"]')
        page.wait_for_selector('[data-testid="lists"]')
        with canary_store(workspace["app"]).session(ws.tenant_id) as s:
            held = s.scalar(select(func.count()).select_from(PortfolioList))
        assert held is not None and held >= 12
        assert page.locator('[data-testid="lists"] tbody tr').count() == held
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"console-lists-{width}.png"), full_page=True)

        name = f"Poor renewals ({width} px)"
        page.click('[data-testid="new-list"]')
        page.fill('[data-testid="list-name"]', name)
        page.fill('[data-testid="list-description"]', "Renewing within 90 days while poor: escalate.")
        page.fill('[data-testid="list-conditions"]', "- {field: subscription.renewal_date, op: within, from_days: 0}\n")
        page.click('[data-testid="save-list"]')
        page.wait_for_selector('[data-testid="errors"]')
        assert page.locator('[data-testid="error-conditions"]').inner_text() == \
            "conditions.0.to_days: required for op within"
        assert page.input_value('[data-testid="list-name"]') == name  # nothing typed is lost
        page.screenshot(path=str(ARTIFACTS / f"console-list-errors-{width}.png"), full_page=True)

        page.fill('[data-testid="list-conditions"]',
                  "- {field: subscription.renewal_date, op: within, from_days: 0, to_days: 90}\n"
                  "- {field: health.band, op: in, values: [poor]}\n")
        page.click('[data-testid="save-list"]')
        page.wait_for_selector('[data-testid="members"]')
        assert page.locator('[data-testid="list-title"]').inner_text() == name
        rows = page.locator('[data-testid="members"] tbody tr[data-account-id]')
        assert rows.count() == 1  # the manager's team: Alpha Poor Renewing (Alpha Other Poor is csm2's)
        assert page.locator('[data-testid="members"] td.name a').inner_text() == "Alpha Poor Renewing"
        why = page.locator('[data-testid="why"] li').all_inner_texts()
        assert why == ["Renewal date 2027-01-14, in 45 days (between today and 90 days ahead)",
                       "Health is poor (score 30)"]
        page.screenshot(path=str(ARTIFACTS / f"console-list-{width}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the list page scrolls sideways by {overflow} px at {width} px"

        page.click('[data-testid="scope-all"]')
        page.wait_for_selector('[data-testid="members"]')
        assert rows.count() == 2
        page.click('[data-testid="members"] td.name a >> nth=0')
        page.wait_for_url("**/accounts/*")
        assert page.locator("h1").first.inner_text() in ("Alpha Poor Renewing", "Alpha Other Poor")
    finally:
        context.close()
