"""Real Chromium on the demo workspace: a CSM signs in, sees their own portfolio first, filters it to poor
accounts renewing within 90 days, opens one and sees the 180-day history chart with a band change and
its reasons — at 1280 px and on a 390 px phone. Screenshots go to ``tests/e2e/artifacts/``.

The workspace is made by `cli.demo.run_demo` on the sandbox (100 companies, seed 9, as of
`WORLD_AS_OF`): the same pipeline `canary demo` runs, users and 180 days of history included. It is a copy
of the run's world that tests/test_stories.py checks the month end's alerts on (`tests.worlds`).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from console.base_report_views import POOR_LISTED
from extensions import canary_store
from sandbox.core import LoopbackServer
from tests.shared import WORLD_AS_OF

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = os.environ.get("CANARY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
COMPANIES, SEED = 100, 9


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A copy of the run's demo world of (100 companies, seed 9, `WORLD_AS_OF`), the stories' month end too
    (`tests.worlds`: built once per run), served over HTTP."""
    from tests.worlds import demo_world

    world = demo_world(tmp_path_factory, tmp_path_factory.mktemp("demo") / "demo.db",
                       accounts=COMPANIES, seed=SEED, as_of=WORLD_AS_OF)
    app = world.app(COOKIE_SECURE=False)
    server = LoopbackServer(app).start()
    try:
        yield {"app": app, "result": world.result, "url": server.url}
    finally:
        server.stop()
        canary_store(app).dispose()
        world.remove()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make test` installs the Debian chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _csm_with_a_poor_renewal(demo: dict[str, Any]) -> tuple[str, str, str, int]:
    """A demo CSM owning a poor account that renews within 90 days: (e-mail, password, name, accounts owned)."""
    from console.portfolio import subscription_facts
    from store.models import Account, HealthSnapshot, User

    store = canary_store(demo["app"])
    tenant_id = demo["result"].tenant_id
    facts = subscription_facts(WORLD_AS_OF)
    with store.session(tenant_id) as s:
        owners = list(s.execute(
            select(User.email, User.name).join(Account, Account.csm_user_id == User.id)
            .join(HealthSnapshot, (HealthSnapshot.account_id == Account.id) & (HealthSnapshot.day == WORLD_AS_OF))
            .join(facts, facts.c.account_id == Account.id)
            .where(HealthSnapshot.band == "poor",
                   facts.c.renewal.between(WORLD_AS_OF, WORLD_AS_OF + dt.timedelta(days=90)))))
        assert owners, "the demo world has no poor account renewing within 90 days"
        email, name = owners[0]
        owned = s.scalar(select(func.count()).select_from(Account).join(User, User.id == Account.csm_user_id)
                         .where(User.email == email))
    password = next(p for role, e, p in demo["result"].sign_ins if e == email)
    return email, password, name, int(owned or 0)


@pytest.mark.parametrize("width", [1280, 390])
def test_csm_signs_in_filters_and_opens_history(browser: Any, demo: dict[str, Any], width: int) -> None:
    email, password, name, owned = _csm_with_a_poor_renewal(demo)
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    external: list[str] = []
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(("http://127.0.0.1", "data:",
                                                                                 "about:")) else None)
    try:
        page.goto(f"{demo['url']}/accounts")
        assert "/sign-in" in page.url  # no session: the sign-in page first
        page.fill('input[name="email"]', email)
        page.fill('input[name="password"]', password)
        page.click('button[type="submit"]')
        page.wait_for_selector('[data-testid="portfolio"]')
        assert page.locator('[data-testid="portfolio-title"]').inner_text() == "My portfolio"
        assert page.locator('[data-testid="signed-in-as"]').inner_text() == name
        csms = page.locator('[data-testid="portfolio"] [data-testid="csm"]').all_inner_texts()
        assert len(csms) == min(owned, 50) and set(csms) == {name}  # only this CSM's accounts
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"console-portfolio-{width}.png"), full_page=True)

        page.select_option('[data-testid="filter-band"]', "poor")
        page.select_option('[data-testid="filter-renewal"]', "90")
        page.click('[data-testid="apply-filters"]')
        page.wait_for_url("**band=poor**")
        bands = page.locator('[data-testid="portfolio"] [data-testid="band"]').all_inner_texts()
        renewals = page.locator('[data-testid="portfolio"] [data-testid="renewal"]').all_inner_texts()
        assert bands and {b.strip().lower() for b in bands} == {"poor"}
        last = (WORLD_AS_OF + dt.timedelta(days=90)).isoformat()
        assert all(WORLD_AS_OF.isoformat() <= r <= last for r in renewals), renewals
        assert set(page.locator('[data-testid="portfolio"] [data-testid="csm"]').all_inner_texts()) == {name}
        page.screenshot(path=str(ARTIFACTS / f"console-portfolio-poor-90d-{width}.png"), full_page=True)

        page.locator('[data-testid="portfolio"] td.name a').first.click()
        page.wait_for_selector('[data-testid="history-chart"]')
        chart = page.locator('[data-testid="history-chart"]')
        assert "180 days" in (chart.get_attribute("aria-label") or "")
        assert page.locator(".band-change-marker").count() >= 1
        changes = page.locator('[data-testid="band-changes"] > li')
        assert changes.count() >= 1 and changes.first.locator(".reasons li").count() >= 1
        assert page.locator('[data-testid="score"]').inner_text().isdigit()
        box = chart.bounding_box()
        assert box is not None and box["width"] >= (700 if width == 1280 else 300) and box["height"] > 60
        overflow = page.evaluate("document.scrollingElement.scrollWidth")
        assert overflow <= width + 1, f"horizontal scrolling at {width}px: {overflow}"
        page.screenshot(path=str(ARTIFACTS / f"console-account-{width}.png"), full_page=True)
        assert external == []
    finally:
        context.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_report_pages_of_the_demo_workspace_draw_their_charts(browser: Any, demo: dict[str, Any], width: int) -> None:
    """Issue 16: Revenue and Renewals render non-empty charts (as many points and bars as the figures have),
    with tables and CSV links, and neither page scrolls sideways."""
    from store.models import Tenant
    from sync.reports import renewals, revenue

    store = canary_store(demo["app"])
    with store.session() as s:
        tenant_id = s.scalars(select(Tenant.id)).one()
    with store.session(tenant_id) as s:
        money = revenue(s, months=12)
        forecast = renewals(s)
    complete = [m for m in money["months"] if m["complete"]]
    points = sum(m[k] is not None for m in complete for k in ("grr", "nrr"))
    due_bars = sum(bool(m["by_band"][b]["arr"]) for m in forecast["months"]
                   for b in ("good", "average", "poor", "none"))
    assert points >= 20 and due_bars >= 12  # the demo's sandbox has 24 months of history and a year of renewals

    email, password, _, _ = _csm_with_a_poor_renewal(demo)
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{demo['url']}/reports/revenue")
        page.fill('input[name="email"]', email)
        page.fill('input[name="password"]', password)
        page.click('button[type="submit"]')
        page.wait_for_selector('[data-testid="chart-retention"] svg')
        assert page.locator('[data-testid="chart-retention"] .point').count() == points
        assert page.locator('[data-testid="chart-movements"] .bar').count() >= 12
        assert page.locator('[data-testid="figure-grr"] .figure-value').inner_text() == \
            f"{complete[-1]['grr'] * 100:.1f} %"
        assert page.locator('[data-testid="chart-csv-retention"]').count() == 1
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"console-report-revenue-{width}.png"), full_page=True)
        assert page.evaluate("document.scrollingElement.scrollWidth") <= width

        page.click('[data-testid="tab-renewals"]')
        page.wait_for_selector('[data-testid="chart-due-by-band"] svg')
        drawn = "els => els.filter(e => parseFloat(e.getAttribute('height')) > 0).length"
        assert page.eval_on_selector_all('[data-testid="chart-due-by-band"] rect.bar', drawn) == due_bars
        assert page.locator('[data-testid="chart-forecast"] .bar').count() >= 12
        assert page.locator('[data-testid="due"]').count() == sum(len(m["renewals"]) for m in forecast["months"]) \
            + len(forecast["overdue"])
        page.screenshot(path=str(ARTIFACTS / f"console-report-renewals-{width}.png"), full_page=True)
        assert page.evaluate("document.scrollingElement.scrollWidth") <= width
    finally:
        context.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_base_report_pages_of_the_demo_workspace_draw_their_charts(browser: Any, demo: dict[str, Any],
                                                                   width: int) -> None:
    """Issue 16, items 4–7: Health, Adoption, Users and Team render non-empty charts with as many bars and
    points as the service's figures have (a manager signed in: their team on Team), and none scrolls sideways."""
    from console.base_report_views import MAX_LINES
    from extensions import health_model
    from store.models import User
    from sync.base_reports import adoption_report, health_report, leaderboard_report, team_report

    store = canary_store(demo["app"])
    tenant_id = demo["result"].tenant_id
    model = health_model(demo["app"])
    email, password = next((e, p) for role, e, p in demo["result"].sign_ins if role == "manager")
    with store.session(tenant_id) as s:
        manager_id = s.scalar(select(User.id).where(User.email == email))
        health = health_report(s, measures=sorted(model.measures))
        adoption = adoption_report(s, key_features=model.signals.key_features, login_event=model.signals.login_event)
        users = leaderboard_report(s, key_features=model.signals.key_features)
        team = team_report(s, role="manager", user_id=manager_id)
    assert health["as_of"] == WORLD_AS_OF.isoformat() and len(health["trend"]) <= MAX_LINES
    trend_points = sum(p["average_score"] is not None for g in health["trend"].values() for p in g)
    band_bars = sum(bool(n) for n in health["overall"]["count"].values())
    bins = sum(bool(n) for n in health["overall"]["histogram"])
    tier_bars = sum(bool(r["account_share"]) for r in adoption["by_tier"])
    month_points = sum(r["user_share"] is not None for m in adoption["monthly"] for r in m["rows"])
    user_bars = sum(bool(u["active_days"]) + bool(u["key_feature_days"]) for u in users["users"])
    task_bars = sum(bool(r[k]) for r in team["csms"] for k in ("on_time", "late", "overdue", "open"))
    team_points = sum(p["average_score"] is not None for g in list(team["trend"].values())[:MAX_LINES] for p in g)
    assert trend_points >= 12 and band_bars >= 2 and bins >= 3 and tier_bars >= 4 and month_points >= 6
    assert len(users["users"]) == 50 and team["csms"] and task_bars >= 1 and team_points >= 5

    drawn = "els => els.filter(e => parseFloat(e.getAttribute('height')) > 0).length"
    wide = "els => els.filter(e => parseFloat(e.getAttribute('width')) > 0).length"
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    ARTIFACTS.mkdir(exist_ok=True)

    def done(name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"console-report-{name}-{width}.png"), full_page=True)
        overflow = page.evaluate("document.scrollingElement.scrollWidth")
        assert overflow <= width, f"{name}: horizontal scrolling at {width}px: {overflow}"

    try:
        page.goto(f"{demo['url']}/reports/health")
        page.fill('input[name="email"]', email)
        page.fill('input[name="password"]', password)
        page.click('button[type="submit"]')
        page.wait_for_selector('[data-testid="chart-trend"] svg')
        assert page.locator('[data-testid="chart-trend"] .point').count() == trend_points
        assert page.eval_on_selector_all('[data-testid="chart-band-accounts"] rect.bar', drawn) == band_bars
        assert page.eval_on_selector_all('[data-testid="chart-histogram"] rect.bar', drawn) == bins
        poor = len(health["persistent_poor"]["accounts"])
        assert page.locator('[data-testid="poor"]').count() == min(poor, POOR_LISTED)
        assert page.locator('[data-testid="poor-count"]').inner_text().startswith(f"({poor:,} account")
        done("health")

        page.click('[data-testid="tab-adoption"]')
        page.wait_for_selector('[data-testid="chart-tier-adoption"] svg')
        assert page.eval_on_selector_all('[data-testid="chart-tier-adoption"] rect.bar', wide) == tier_bars
        assert page.locator('[data-testid="chart-monthly-adoption"] .point').count() == month_points
        assert page.locator('[data-testid="upgrade"]').count() == len(adoption["upgrade_ready"])
        assert page.locator('[data-testid="training"]').count() == min(len(adoption["needs_training"]["users"]), 25)
        done("adoption")

        page.click('[data-testid="tab-users"]')
        page.wait_for_selector('[data-testid="chart-leaderboard"] svg')
        assert page.eval_on_selector_all('[data-testid="chart-leaderboard"] rect.bar', wide) == user_bars
        assert page.locator('[data-testid="ranked"]').count() == 50
        done("users")

        page.click('[data-testid="tab-team"]')
        page.wait_for_selector('[data-testid="chart-tasks"] svg')
        assert page.eval_on_selector_all('[data-testid="chart-tasks"] rect.bar', drawn) == task_bars
        assert page.locator('[data-testid="chart-portfolio-health"] .point').count() == team_points
        assert page.locator('[data-testid="csm-row"]').count() == len(team["csms"])
        assert page.locator('[data-testid="team-row"]').count() == 1
        done("team")
    finally:
        context.close()
