"""Real Chromium: the in-app snippet on a customer's page (served by a tiny server on another origin, allowed
by CORS) shows a banner to the targeted end user and not to another user of the same account; dismissing it
records the dismissal; the next message, a modal, takes focus and keeps it; its call to action is recorded
and reaches usage as ``In-App CTA Clicked``; Esc closes a modal and records that too. Screenshots go to
``tests/e2e/artifacts/``. Canary runs at `WORLD_NOW` (pinned clock).

The customer's page server computes each user's ``userHash`` as a customer's server would: HMAC-SHA256 of the
user id with the workspace's in-app secret.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from extensions import canary_store, credential_cipher
from sandbox.core import LoopbackServer
from store.models import InAppMessage, UsageDaily
from tests.e2e.test_console_chromium import ARTIFACTS, browser
from tests.shared import WORLD_NOW, pinned_clock

pytestmark = pytest.mark.e2e
__all__ = ["browser"]

GROUP = "acct-e2e-1"
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Acme product</title></head>
<body><main><h1>Acme dashboard</h1><p>Signed in as {user}.</p><button id="work">Do some work</button></main>
<script src="{snippet}"></script>
<script>Canary.init({{workspace: "e2e", userId: "{user}", userHash: "{hash}"}})
  .then(function (n) {{ document.body.dataset.canaryPending = String(n); }});</script></body></html>"""


MARKUP = '<img src=x onerror="window.pwned = 1">Hello'


def _until(what: str, check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll ``check`` until truthy (a generous bound for the browser's request to land, not a timed assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from app import create_app
    from collector.ingest import ingest
    from collector.messages import parse_batch
    from inapp.messages import queue_message
    from inapp.settings import rotate_secret, save_origins
    from inapp.web import snippet_version
    from store.models import SourceLink
    from store.tenants import create_tenant
    from tests.dbtemplate import migrate_new

    folder: Path = tmp_path_factory.mktemp("inapp")
    url = f"sqlite:///{folder / 'inapp.db'}"
    migrate_new(url)
    with pinned_clock(WORLD_NOW):
        app = create_app({"TESTING": True, "SECRET_KEY": "e2e-inapp-secret-key-0123456789", "DATABASE_URL": url})
        store = canary_store(app)
        with store.session() as s:
            tenant, _ = create_tenant(s, "e2e", "E2E")
        good, bad = parse_batch({"batch": [
            {"type": "group", "messageId": f"g-{u}", "userId": u, "groupId": GROUP, "traits": {"name": "Acme"},
             "timestamp": WORLD_NOW.isoformat()} for u in ("u-ann", "u-bob")]}, WORLD_NOW)
        assert ingest(store, tenant.id, good, bad).accepted == 2
        canary_server = LoopbackServer(app).start()
        served: dict[str, str] = {"snippet": f"{canary_server.url}/inapp/v1/canary-inapp.js?v={snippet_version()}"}
        page_server = _page_server(served)
        page_url = f"http://127.0.0.1:{page_server.server_port}"
        with store.session(tenant.id) as s:
            served["secret"] = rotate_secret(s, credential_cipher(app), "admin@e2e.example", None, WORLD_NOW)
            save_origins(s, page_url, "admin@e2e.example", None)
            account_id = s.scalar(select(SourceLink.account_id).where(SourceLink.external_id == GROUP))
            ids = {}
            for ref, kind, title, cta in (
                    ("campaign:1:step:1", "banner", "Your trial ends in 3 days", None),
                    ("campaign:1:step:2", "modal", "Unlock reports", "See plans"),
                    ("campaign:1:step:3", "modal", "What's new", None)):
                ids[ref] = queue_message(s, tenant_id=tenant.id, user_key="u-ann", account_id=account_id,
                                         title=title, body="A message from Acme.", cta_label=cta,
                                         cta_url=f"{page_url}/thanks" if cta else None, kind=kind, ref=ref)
            ids["markup"] = queue_message(s, tenant_id=tenant.id, user_key="u-eve", account_id=account_id,
                                          title=MARKUP, body=MARKUP, cta_label=None, cta_url=None, kind="banner",
                                          ref="campaign:2:step:1")
        try:
            yield {"app": app, "tenant_id": tenant.id, "account_id": account_id, "ids": ids, "page": page_url}
        finally:
            page_server.shutdown()
            page_server.server_close()
            canary_server.stop()


def _page_server(served: dict[str, str]) -> ThreadingHTTPServer:
    """The customer's product: ``/?user=ID`` signs ID with the in-app secret; ``/thanks`` is the CTA's target."""
    from inapp.rules import user_hash

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/thanks":
                body = "<!doctype html><title>Plans</title><h1>Plans</h1>"
            else:
                user = parse_qs(parts.query).get("user", ["u-ann"])[0]
                body = PAGE.format(user=user, hash=user_hash(served["secret"], user), snippet=served["snippet"])
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def _message(canary: dict[str, Any], ref: str) -> InAppMessage:
    with canary_store(canary["app"]).session(canary["tenant_id"]) as s:
        row = s.get(InAppMessage, canary["ids"][ref])
        assert row is not None
        s.expunge(row)
        return row


def test_the_banner_reaches_only_its_user_and_records_dismissal_and_click(browser: Any,
                                                                        canary: dict[str, Any]) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    ARTIFACTS.mkdir(exist_ok=True)
    banner, modal, esc = (canary["ids"][f"campaign:1:step:{n}"] for n in (1, 2, 3))
    try:
        with pinned_clock(WORLD_NOW):
            page.goto(f"{canary['page']}/?user=u-bob")  # same account, no message of his own
            page.wait_for_selector("body[data-canary-pending]")
            assert page.get_attribute("body", "data-canary-pending") == "0"
            assert page.locator("[data-canary-message]").count() == 0
            page.screenshot(path=str(ARTIFACTS / "inapp-other-user.png"))
            assert _message(canary, "campaign:1:step:1").shown_at is None

            page.goto(f"{canary['page']}/?user=u-ann")
            region = page.locator(f'[data-canary-message="{banner}"]')
            region.wait_for()
            assert region.get_attribute("role") == "region"
            assert page.get_by_role("region", name="Your trial ends in 3 days").count() == 1
            _until("the banner recorded as shown", lambda: _message(canary, "campaign:1:step:1").shown_at)
            page.screenshot(path=str(ARTIFACTS / "inapp-banner.png"))
            page.get_by_role("button", name="Dismiss: Your trial ends in 3 days").click()
            dismissed = _until("the dismissal stored", lambda: _message(canary, "campaign:1:step:1").dismissed_at)
            assert abs((dismissed - WORLD_NOW).total_seconds()) < 300

            dialog = page.get_by_role("dialog", name="Unlock reports")
            dialog.wait_for()
            assert page.locator(f'[data-canary-message="{modal}"]').get_attribute("aria-modal") == "true"
            assert page.evaluate("document.activeElement.textContent") == "See plans"
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.textContent") == "Close"
            page.keyboard.press("Tab")  # focus stays in the dialog
            assert page.evaluate("document.activeElement.textContent") == "See plans"
            page.screenshot(path=str(ARTIFACTS / "inapp-modal.png"))
            page.get_by_role("link", name="See plans").click()
            page.wait_for_url(f"{canary['page']}/thanks")
            clicked = _message(canary, "campaign:1:step:2")
            assert clicked.clicked_at is not None and clicked.dismissed_at is None
            with canary_store(canary["app"]).session(canary["tenant_id"]) as s:
                usage = s.execute(select(UsageDaily.account_id, UsageDaily.user_key, UsageDaily.count)
                                  .where(UsageDaily.event == "In-App CTA Clicked")).all()
            assert [tuple(u) for u in usage] == [(canary["account_id"], "u-ann", 1)]

            page.goto(f"{canary['page']}/?user=u-ann")
            page.get_by_role("dialog", name="What's new").wait_for()
            page.keyboard.press("Escape")
            _until("Esc recorded as a dismissal", lambda: _message(canary, "campaign:1:step:3").dismissed_at)
            assert page.locator(f'[data-canary-message="{esc}"]').count() == 0
            page.goto(f"{canary['page']}/?user=u-ann")
            page.wait_for_selector("body[data-canary-pending]")
            assert page.get_attribute("body", "data-canary-pending") == "0"
            page.screenshot(path=str(ARTIFACTS / "inapp-done.png"))
    finally:
        context.close()


def test_message_text_is_shown_as_text_never_run(browser: Any, canary: dict[str, Any]) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 800})
    page = context.new_page()
    try:
        with pinned_clock(WORLD_NOW):
            page.goto(f"{canary['page']}/?user=u-eve")
            region = page.locator(f'[data-canary-message="{canary["ids"]["markup"]}"]')
            region.wait_for()
            assert page.locator(".canary-inapp-title").inner_text() == MARKUP
            assert region.locator("img").count() == 0
            assert page.evaluate("window.pwned === undefined")
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"the banner scrolls sideways by {overflow} px at 390 px"
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "inapp-banner-390.png"))
    finally:
        context.close()

