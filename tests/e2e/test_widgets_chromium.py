"""Real Chromium frames the widgets the way the vendors do, at sidebar and record-tab widths.

A host page on another loopback origin POSTs the vendor's signed payload into an iframe
(Zendesk: the ZAF JWT as ``token``; Salesforce Canvas: ``signed_request``), exactly as the
vendor's page does; HubSpot's iframe modal loads the full-view URL the card was given.
Screenshots go to ``tests/e2e/artifacts/`` for people to look at.
"""

from __future__ import annotations

import html
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.core import LoopbackServer
from tests.widgets.conftest import canvas_request, hubspot_headers, zendesk_token

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = os.environ.get("CANARY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _host_app(pages: dict[str, str]) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = pages.get(environ["PATH_INFO"])
        if body is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [body.encode()]

    return app


def _framing_page(action: str, field: str, value: str, width: int, height: int) -> str:
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>vendor host</title>
<style>body{{margin:0;background:#f0f2f5}} iframe{{border:0;background:#fff;display:block}}</style></head>
<body><form id="f" method="post" target="widget" action="{html.escape(action)}">
<input type="hidden" name="{field}" value="{html.escape(value)}"></form>
<iframe name="widget" id="widget" width="{width}" height="{height}"></iframe>
<script>document.getElementById('f').submit();</script></body></html>"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make test` installs the Debian chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def live(embed_app: Any) -> Iterator[dict[str, Any]]:
    pages: dict[str, str] = {}
    host = LoopbackServer(_host_app(pages)).start()
    embed_app.config["WIDGET_FRAME_ANCESTORS_EXTRA"] = [host.url]
    canary = LoopbackServer(embed_app).start()
    try:
        yield {"canary": canary.url, "host": host.url, "pages": pages, "app": embed_app}
    finally:
        canary.stop()
        host.stop()


def _open(browser: Any, url: str, width: int) -> tuple[Any, Any]:
    context = browser.new_context(viewport={"width": width + 40, "height": 900})
    page = context.new_page()
    external: list[str] = []
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(("http://127.0.0.1", "data:",
                                                                                 "about:")) else None)
    page.goto(url)
    frame = page.frame_locator("#widget")
    return page, (frame, external, context)


@pytest.mark.parametrize("width", [320, 800])
def test_zendesk_sidebar_renders_in_chromium(browser: Any, live: dict[str, Any], width: int) -> None:
    a = live["app"].config["TENANT_A"]
    action = f"{live['canary']}/widgets/zendesk/sidebar?organization_id=100"
    live["pages"]["/zendesk"] = _framing_page(action, "token", zendesk_token(a), width, 640)
    page, (frame, external, context) = _open(browser, f"{live['host']}/zendesk", width)
    try:
        frame.locator('[data-testid="score"]').wait_for(timeout=15000)
        assert frame.locator('[data-testid="score"]').inner_text() == "34"
        assert frame.locator('[data-testid="band"]').inner_text().strip().lower() == "poor"
        assert "Weekly active users fell from 42 to 17" in frame.locator('[data-testid="reasons"]').inner_text()
        assert frame.locator('[data-testid="sparkline"] svg').count() == 1
        assert frame.locator('[data-testid="account-name"]').inner_text() == "Alpha Industries"
        badge_colour = frame.locator('[data-testid="badge"]').evaluate("e => getComputedStyle(e).color")
        assert badge_colour == "rgb(179, 38, 30)"  # poor: red, and named in text as well
        box = frame.locator("main.panel").bounding_box()
        assert box is not None and box["width"] <= width + 1  # no horizontal overflow at this width
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"zendesk-sidebar-{width}.png"), full_page=True)
        assert external == []
    finally:
        context.close()


@pytest.mark.parametrize("width", [320, 800])
def test_salesforce_canvas_renders_in_chromium(browser: Any, live: dict[str, Any], width: int) -> None:
    b = live["app"].config["TENANT_B"]
    action = f"{live['canary']}/widgets/salesforce/canvas"
    live["pages"]["/salesforce"] = _framing_page(action, "signed_request",
                                                 canvas_request(b, "001000000000001AAA"), width, 760)
    page, (frame, external, context) = _open(browser, f"{live['host']}/salesforce", width)
    try:
        frame.locator('[data-testid="score"]').wait_for(timeout=15000)
        assert frame.locator('[data-testid="score"]').inner_text() == "88"
        assert frame.locator('[data-testid="band"]').inner_text().strip().lower() == "good"
        assert frame.locator('[data-testid="sparkline"] svg').count() == 1
        assert "$120,000" in frame.locator('[data-testid="arr"]').inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"salesforce-canvas-{width}.png"), full_page=True)
        assert external == []
    finally:
        context.close()


def test_hubspot_full_view_renders_in_the_iframe_modal(browser: Any, live: dict[str, Any]) -> None:
    """The card's "Open full view" button: HubSpot's iframe modal loads the URL the card was given."""
    a = live["app"].config["TENANT_A"]
    card = f"http://localhost/widgets/hubspot/card?companyId=555&portalId={a.portal_id}"
    answer = live["app"].test_client().get(card, headers=hubspot_headers("GET", card)).get_json()
    full_view = answer["full_view_url"].replace("http://localhost", live["canary"], 1)
    live["pages"]["/hubspot"] = f"""<!doctype html><html><head><meta charset="utf-8"><title>HubSpot modal</title>
<style>body{{margin:0;background:#f5f8fa}} iframe{{border:0;background:#fff;display:block}}</style></head>
<body><iframe id="widget" src="{html.escape(full_view)}" width="800" height="760"></iframe></body></html>"""
    page, (frame, external, context) = _open(browser, f"{live['host']}/hubspot", 800)
    try:
        frame.locator('[data-testid="score"]').wait_for(timeout=15000)
        assert frame.locator('[data-testid="score"]').inner_text() == "34"
        assert frame.locator('[data-testid="band"]').inner_text().strip().lower() == "poor"
        assert frame.locator('[data-testid="account-name"]').inner_text() == "Alpha Industries"
        assert frame.locator('[data-testid="sparkline"] svg').count() == 1
        assert "Usage dropped 58 % in two weeks" in frame.locator("main.panel").inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "hubspot-full-view-800.png"), full_page=True)
        assert external == []
    finally:
        context.close()


def test_a_forged_request_shows_no_customer_data(browser: Any, live: dict[str, Any]) -> None:
    b = live["app"].config["TENANT_B"]
    action = f"{live['canary']}/widgets/salesforce/canvas"
    live["pages"]["/forged"] = _framing_page(action, "signed_request",
                                             canvas_request(b, "001000000000001AAA", secret="guessed"), 320, 400)
    _page, (frame, _external, context) = _open(browser, f"{live['host']}/forged", 320)
    try:
        body = frame.locator("body", has_text=re.compile("signature", re.IGNORECASE))
        body.wait_for(timeout=15000)  # the refusal page, not the frame's empty body before it loads
        text = body.inner_text()
        assert "signature" in text.lower()
        assert "Bravo" not in text
    finally:
        context.close()
