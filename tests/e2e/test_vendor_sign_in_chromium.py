"""Real Chromium: "Sign in with HubSpot" on the console's sign-in page, the sandbox HubSpot's sign-in page
(choose which of its users you are: the world's CSMs), and back in the console as that CSM's Canary user.

A workspace connected to the sandbox's HubSpot portal, with one of the sandbox's CSMs as a user; the
console and the sandbox are served on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from extensions import canary_store
from sandbox.core import LoopbackServer
from store.models import AuditEvent, Connection
from tests.e2e.test_console_chromium import ARTIFACTS, browser  # noqa: F401 - the shared Chromium fixture
from tests.shared import WORLD_AS_OF

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from app import create_app
    from console.people import add_user
    from sandbox.oauth import install_config
    from sandbox.server import Sandbox
    from store.tenants import create_tenant
    from tests.dbtemplate import migrate_new

    folder: Path = tmp_path_factory.mktemp("vendor-sign-in")
    url = f"sqlite:///{folder / 'console.db'}"
    migrate_new(url)
    app = create_app({"TESTING": True, "SECRET_KEY": "e2e-vendor-sign-in-secret-0123456789", "DATABASE_URL": url,
                      "COOKIE_SECURE": False, "PUBLIC_URL": "http://127.0.0.1"})
    with Sandbox(accounts=4, seed=5, as_of=WORLD_AS_OF) as box:
        server = LoopbackServer(app).start()
        try:
            app.config["PUBLIC_URL"] = server.url
            app.config.update(install_config(box, server.url))
            hubspot = box.oauth["hubspot"]
            hubspot.login_page = True
            csm = hubspot.people()[0]
            store = canary_store(app)
            with store.session() as s:
                tenant, _ = create_tenant(s, "demo", "Canary demo")
            with store.session(tenant.id) as s:
                s.add(Connection(system="hubspot", account_ref=str(hubspot.account), credentials_encrypted=b"x"))
                user = add_user(s, csm.email, "csm", name=csm.name)
                ids = {"tenant": tenant.id, "user": user.id}
            yield {"app": app, "url": server.url, "csm": csm, **ids}
        finally:
            server.stop()


def test_csm_signs_in_with_hubspot(browser: Any, console: dict[str, Any]) -> None:  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{console['url']}/accounts")
        assert "/sign-in" in page.url
        page.click('[data-testid="sign-in-with-hubspot"]')
        page.wait_for_selector(f'button[data-email="{console["csm"].email}"]')  # HubSpot's sign-in page
        assert "Sign in to HubSpot" in page.title()
        page.click(f'button[data-email="{console["csm"].email}"]')
        page.wait_for_selector('[data-testid="portfolio"]')
        assert page.url.startswith(f"{console['url']}/accounts")
        assert page.locator('[data-testid="signed-in-as"]').inner_text() == console["csm"].name
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "console-signed-in-with-hubspot.png"), full_page=True)
    finally:
        context.close()
    with canary_store(console["app"]).session(console["tenant"]) as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "sign_in")).one()
        assert (event.actor_user_id, event.detail) == (console["user"], {"method": "hubspot"})
