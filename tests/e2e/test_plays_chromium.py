"""Real Chromium: a manager makes a portfolio list in the list editor, makes a play from a template, points
its trigger at the new list in the editor's textarea, previews who it would start for, publishes it —
and the assigned CSM, signed in in a second browser context, finds the new tasks on My day; the manager
then looks at the team's day. Screenshots at 1280 and 390 px go to ``tests/e2e/artifacts/console-*.png``.

The workspace is the console tests' seeded one (`tests.console.conftest.seed_workspace`, dated from
`WORLD_AS_OF`, on a clock pinned to `WORLD_NOW`), its shipped lists evaluated as a score run leaves them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from extensions import canary_store
from store.models import Play, PlayRun, Task
from tests.console.conftest import PASSWORD
from tests.e2e.served import served_workspace
from tests.e2e.test_console_chromium import ARTIFACTS, browser
from tests.shared import WORLD_AS_OF, pinned_clock

pytestmark = pytest.mark.e2e
__all__ = ["browser"]

WIDTHS = (1280, 390)
LIST_NAME = "Poor renewals to rescue"
PLAY_NAME = "Rescue poor renewals"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with pinned_clock(), served_workspace(tmp_path_factory.mktemp("plays"), "plays") as served:
        yield served


def _shoot(page: Any, name: str) -> None:
    """The page at each width, full length; neither may scroll sideways."""
    ARTIFACTS.mkdir(exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(100)
        page.screenshot(path=str(ARTIFACTS / f"console-{name}-{width}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} scrolls sideways by {overflow} px at {width} px"
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def _sign_in(page: Any, email: str) -> None:
    page.fill('input[name="email"]', email)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')


def test_a_published_play_puts_tasks_on_the_csms_day(browser: Any, workspace: dict[str, Any]) -> None:
    ws, app = workspace["ws"], workspace["app"]
    with pinned_clock():
        manager = browser.new_context(viewport={"width": 1280, "height": 900})
        csm = browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            page = manager.new_page()
            # 1. a portfolio list, made in the list editor
            page.goto(f"{workspace['url']}/lists/new")
            _sign_in(page, ws.emails["manager"])
            page.wait_for_selector('[data-testid="list-form"]')
            page.fill('[data-testid="list-name"]', LIST_NAME)
            page.fill('[data-testid="list-description"]', "Poor health and renewing within 90 days.")
            page.fill('[data-testid="list-conditions"]',
                      "- {field: subscription.renewal_date, op: within, from_days: 0, to_days: 90}\n"
                      "- {field: health.band, op: in, values: [poor]}\n")
            page.click('[data-testid="save-list"]')
            page.wait_for_selector('[data-testid="members"]')
            assert page.locator('[data-testid="message"]').inner_text() == \
                "List created: 2 accounts in the workspace match it."
            list_id = int(re.search(r"/lists/(\d+)", page.url).group(1))  # type: ignore[union-attr]

            # 2. a play from a template
            page.click('[data-testid="nav-plays"]')
            page.wait_for_selector('[data-testid="plays"]')
            assert page.locator('[data-testid="templates"] section').count() == 9
            page.click('[data-testid="use-onboarding-stalled"]')
            page.wait_for_selector('[data-testid="play-definition"]')
            text = page.input_value('[data-testid="play-definition"]')
            assert 'trigger: {"type": "list_entered", "list": "onboarding-stalled"}' in text

            # 3. its trigger pointed at the new list, through the textarea
            text = text.replace("name: Onboarding stalled", f"name: {PLAY_NAME}")
            text = re.sub(r"^trigger: .*$", f'trigger: {{"type": "list_entered", "list": "{list_id}"}}', text,
                          flags=re.MULTILINE)
            page.fill('[data-testid="play-definition"]', text)
            assert f"{list_id}" in page.locator('[data-testid="list-keys"]').inner_text()

            # 4. its audience previewed: written nowhere
            page.click('[data-testid="preview"]')
            page.wait_for_selector('[data-testid="preview-result"]')
            assert page.locator('[data-testid="preview-starts"]').inner_text() == "2 would start"
            assert page.locator('[data-testid="preview-skips"]').inner_text() == "0 would be skipped"
            assert page.locator('[data-testid="preview-tasks"]').inner_text() == "2 tasks at once"
            accounts = page.locator('[data-testid="preview-account"]').all_inner_texts()
            assert sorted(accounts) == ["Alpha Other Poor", "Alpha Poor Renewing"]
            tasks = page.locator('[data-testid="preview-task"]').all_inner_texts()
            due = (WORLD_AS_OF + dt.timedelta(days=2)).isoformat()
            assert any(t.startswith("Unblock onboarding at Alpha Poor Renewing") and ws.emails["csm"] in t and due in t
                       for t in tasks), tasks
            assert page.input_value('[data-testid="play-definition"]') == text
            with canary_store(app).session(ws.tenant_id) as s:
                assert s.scalar(select(PlayRun.id)) is None and s.scalar(
                    select(Task.id).where(Task.source == "play")) is None
            _shoot(page, "play-editor")

            # 5. saved and published: evaluated at once
            page.click('[data-testid="save-draft"]')
            page.wait_for_selector('[data-testid="publish"]')
            assert "Draft saved." in page.locator('[data-testid="message"]').inner_text()
            page.click('[data-testid="publish"]')
            page.wait_for_selector('[data-testid="runs"] tbody tr[data-run-id]')
            assert page.locator('[data-testid="message"]').inner_text() == \
                f"Published version 1: started 2 runs, created 2 tasks (as of {WORLD_AS_OF.isoformat()})."
            assert page.locator('[data-testid="play-state"]').inner_text() == "Live"
            assert page.locator('[data-testid="trigger"]').inner_text().startswith(
                f"When an account enters the list “{LIST_NAME}”")
            assert page.locator('[data-testid="run-state"]').all_inner_texts() == ["Running", "Running"]
            _shoot(page, "play")
            page.click('[data-testid="nav-plays"]')
            page.wait_for_selector('[data-testid="plays"]')
            row = page.locator('[data-testid="plays"] tbody tr').first
            assert row.locator("td.name a").inner_text() == PLAY_NAME
            assert row.locator('[data-testid="open-tasks"]').inner_text() == "2"
            _shoot(page, "plays")
            with canary_store(app).session(ws.tenant_id) as s:
                play = s.scalar(select(Play).where(Play.name == PLAY_NAME))
                assert play is not None and play.state == "live" and play.version == 1

            # 6. the CSM's day, in another browser
            mine = csm.new_page()
            mine.goto(f"{workspace['url']}/my-day")
            _sign_in(mine, ws.emails["csm"])
            mine.wait_for_selector('[data-testid="upcoming-tasks"]')
            upcoming = mine.locator('[data-testid="upcoming-tasks"] [data-testid="day-task"]')
            titles = upcoming.locator('[data-testid="task-title"]').all_inner_texts()
            names = upcoming.locator('[data-testid="task-account"]').all_inner_texts()
            pairs = list(zip(titles, names, strict=True))
            assert ("HIGH Unblock onboarding at Alpha Poor Renewing", "Alpha Poor Renewing") in pairs
            assert not any("Alpha Other Poor" in t for t in titles)  # csm2's account: their task, not this CSM's
            assert mine.locator('[data-testid="day-run"]').all_inner_texts()[0].startswith(
                f"{PLAY_NAME} on Alpha Poor Renewing")
            _shoot(mine, "my-day-csm")

            # 7. the manager's view of the team
            page.click('[data-testid="nav-my-day"]')
            page.click('[data-testid="view-team"]')
            page.wait_for_selector('[data-testid="upcoming-tasks"]')
            team = page.locator('[data-testid="upcoming-tasks"] [data-testid="day-task"]')
            assert "HIGH Unblock onboarding at Alpha Poor Renewing" in team.locator(
                '[data-testid="task-title"]').all_inner_texts()
            assert set(team.locator('[data-testid="task-assignee"]').all_inner_texts()) == {"Alpha Csm"}
            _shoot(page, "my-day-team")
        finally:
            manager.close()
            csm.close()
