"""The HubSpot app card rendered with HubSpot's own test renderer (@hubspot/ui-extensions/testing, from npm).

``hubspot.fetch`` is answered by a stub (``self.hsFetch``), so the card's request, its loading,
data and error states, and the retry button are all checked without HubSpot.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from marketplace.build import BuildResult

HARNESS = """
import React from "react";
import { createRenderer } from "@hubspot/ui-extensions/testing";
import { Alert, Button, DescriptionListItem, Heading, LoadingSpinner, StatisticsItem, StatisticsTrend, Tag, Text }
  from "@hubspot/ui-extensions";

globalThis.self = globalThis;
const answers = JSON.parse(process.argv[2]);
const calls = [];
globalThis.hsFetch = async (url, options) => {
  calls.push({ url, options });
  const answer = answers.length > 1 ? answers.shift() : answers[0];
  if (answer.throws) throw new Error(answer.throws);
  return { ok: answer.status < 400, status: answer.status, json: async () => answer.body };
};
const { CanaryHealthCard } = await import("./card.mjs");
const { render, find, findAll, maybeFind, waitFor, mocks } = createRenderer("crm.record.tab");
const iframes = [];
const actions = { openIframeModal: (payload) => iframes.push(payload) };
render(React.createElement(CanaryHealthCard, { context: mocks.context, actions }));
const out = { loadingFirst: maybeFind(LoadingSpinner) !== null };
await waitFor(() => { if (maybeFind(LoadingSpinner)) throw new Error("still loading"); });
const alert = maybeFind(Alert);
if (alert) {
  out.alert = { title: alert.props.title, text: alert.text, variant: alert.props.variant };
  find(Button).trigger("onClick");
  await waitFor(() => { if (calls.length < 2 || maybeFind(LoadingSpinner)) throw new Error("waiting"); });
  out.afterRetry = maybeFind(Alert) ? "alert" : find(Tag).text;
} else {
  const tag = find(Tag);
  out.tag = { text: tag.text, variant: tag.props.variant };
  out.score = find(StatisticsItem).props.number;
  const trend = maybeFind(StatisticsTrend);
  out.trend = trend && { direction: trend.props.direction, value: trend.props.value };
  out.headings = findAll(Heading).map((h) => h.text);
  out.texts = findAll(Text).map((t) => t.text);
  out.details = findAll(DescriptionListItem).map((d) => [d.props.label, d.text]);
  const buttons = findAll(Button).filter((b) => b.text === "Open full view");
  buttons.forEach((b) => b.trigger("onClick"));
  out.fullViewButtons = buttons.length;
  out.iframes = iframes;
}
out.calls = calls;
process.stdout.write(JSON.stringify(out));
"""
FULL_VIEW_URL = "https://canary.example.com/widgets/hubspot/full?token=abc"
HEALTH = {"account": {"name": "Acme", "owner": "Casey CSM"}, "score": 62, "band": "average", "band_label": "Average",
          "trend_per_day": -0.27, "trend": "down 8 points over 30 days",
          "reasons": ["Weekly active users down 35%", "Two urgent tickets open"], "scored_on": "2026-11-20",
          "renewal_date": "2027-02-01", "arr": 120000.0, "alerts": [{"severity": "high", "title": "Usage dropped"}],
          "full_view_url": FULL_VIEW_URL}
UNSCORED = {"account": {"name": "Beta"}, "score": None, "band": None, "band_label": "Not scored yet",
            "trend_per_day": None, "trend": "no trend yet", "reasons": [], "scored_on": None}
CARD_URL = "https://canary.example.com/widgets/hubspot/card?companyId=123"


@pytest.fixture(scope="module")
def card_dir(built: BuildResult, compilers: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built card bundled to ESM next to a ``node_modules`` link, so node resolves react and ui-extensions."""
    folder = tmp_path_factory.mktemp("card")
    (folder / "node_modules").symlink_to(compilers, target_is_directory=True)
    result = subprocess.run(
        [str(compilers / ".bin" / "esbuild"), str(built.hubspot_dir / "src/app/cards/CanaryHealthCard.jsx"),
         "--bundle", "--format=esm", "--jsx=automatic", "--external:react", "--external:react/*",
         "--external:@hubspot/ui-extensions", f"--outfile={folder / 'card.mjs'}", "--log-level=error"],
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    (folder / "render.mjs").write_text(HARNESS)
    return folder


def render_card(node: str, card_dir: Path, answers: list[dict[str, Any]]) -> dict[str, Any]:
    result = subprocess.run([node, "render.mjs", json.dumps(answers)], cwd=card_dir, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    rendered: dict[str, Any] = json.loads(result.stdout)
    return rendered


def test_card_fetches_canary_and_renders_health(node: str, card_dir: Path) -> None:
    out = render_card(node, card_dir, [{"status": 200, "body": HEALTH}])
    assert out["loadingFirst"] is True
    assert out["calls"] == [{"url": CARD_URL, "options": {"method": "GET", "timeout": 15000}}]
    assert out["tag"] == {"text": "Average", "variant": "warning"}
    assert out["score"] == "62"
    assert out["trend"] == {"direction": "decrease", "value": "8 points in 30 days"}
    assert out["headings"] == ["Acme", "Why", "Open alerts"]
    assert out["texts"] == ["down 8 points over 30 days", "Weekly active users down 35%", "Two urgent tickets open",
                            "Scored on 2026-11-20", "Usage dropped"]
    assert out["details"] == [["Renewal", "2027-02-01"], ["ARR", "$120,000"], ["CSM", "Casey CSM"]]
    assert out["fullViewButtons"] == 1
    assert out["iframes"] == [{"uri": FULL_VIEW_URL, "title": "Canary health: Acme", "width": 860, "height": 760}]


def test_card_renders_an_unscored_company(node: str, card_dir: Path) -> None:
    out = render_card(node, card_dir, [{"status": 200, "body": UNSCORED}])
    assert out["tag"] == {"text": "Not scored yet", "variant": "default"}
    assert out["score"] == "–"
    assert out["trend"] is None
    assert "No reasons yet: Canary has not scored this company." in out["texts"]
    assert out["details"] == [["Renewal", "–"], ["ARR", "–"], ["CSM", "Unassigned"]]
    assert out["fullViewButtons"] == 0 and out["iframes"] == []


@pytest.mark.parametrize(
    ("answer", "text"),
    [
        ({"status": 401, "body": {"error": "signature does not match the app's client secret"}},
         "signature does not match the app's client secret"),
        ({"status": 404, "body": {"error": "this company is not linked to a Canary account yet"}},
         "this company is not linked to a Canary account yet"),
        ({"status": 502, "body": None}, "Canary answered 502"),
        ({"throws": "Request timed out"}, "Request timed out"),
    ],
    ids=["unauthorized", "not-linked", "bad-gateway", "timeout"],
)
def test_card_shows_errors_and_retries(node: str, card_dir: Path, answer: dict[str, Any], text: str) -> None:
    out = render_card(node, card_dir, [answer, {"status": 200, "body": HEALTH}])
    assert out["alert"] == {"title": "Canary health is not available", "text": text, "variant": "error"}
    assert out["afterRetry"] == "Average"
    assert len(out["calls"]) == 2
