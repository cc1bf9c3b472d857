"""`canary demo --live` from outside, inline jobs (no broker): a person's five urgent tickets through zenpy,
and an account's usage cut through ``POST /v1/batch``, each reach the account's score and band in the store,
in Salesforce and HubSpot (read back through the vendors' APIs) and in the Zendesk panel (opened with a
request signed as Zendesk signs it). The demo runs as a subprocess on its own port and SQLite file, its
clock pinned to `WORLD_NOW`, and stops on Ctrl-C."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from tests.e2e.live import LiveDemo
from tests.shared import WORLD_NOW, pinned_clock

SECRET = "live-demo-test-secret-key-0123456789abcdef"
WAIT = 90.0
"""A generous bound for a change to reach every destination (polled, not a timed assertion)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _reaches_everywhere(demo: LiveDemo, account_id: int, before: str | None) -> None:
    """Wait until the store holds a new score for the account and every destination shows it."""
    links = demo.links(account_id)
    sf = demo.salesforce()
    panel = demo.panel_session()

    def everywhere() -> bool:
        stored = demo.in_store(account_id)
        if stored.score == before:
            return False
        seen = [demo.in_salesforce(sf, links["salesforce"]), demo.in_hubspot(links["hubspot"]),
                demo.in_panel(panel, links["zendesk"])]
        return all(s == stored for s in seen)

    demo.wait_until(f"account {account_id}'s new health everywhere", everywhere, WAIT, every=0.5)
    stored = demo.in_store(account_id)
    assert stored.score is not None and stored.score != before and stored.band in ("good", "average", "poor")
    assert demo.in_salesforce(sf, links["salesforce"]) == stored
    assert demo.in_hubspot(links["hubspot"]) == stored
    assert demo.in_panel(panel, links["zendesk"]) == stored


def test_live_demo_reacts_to_a_persons_tickets_and_a_usage_cut(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CANARY_") and k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update({"DATABASE_URL": f"sqlite:///{tmp_path / 'live.db'}", "CANARY_SECRET_KEY": SECRET,
                "CANARY_REALTIME_COALESCE_SECONDS": "0.5"})
    with pinned_clock():
        demo = LiveDemo.start(folder=tmp_path, port=_free_port(), accounts=10, seed=11, env=env,
                              pinned_at=WORLD_NOW)
        try:
            info = demo.info
            assert info["jobs"] == {"mode": "inline"}
            assert info["collector"]["url"].endswith("/v1/batch") and info["collector"]["write_key"]
            for vendor in ("salesforce", "zendesk", "hubspot"):
                assert info["vendors"][vendor]["person"] != info["vendors"][vendor]["canary"]

            # Five urgent tickets for one organization, opened by a person with zenpy.
            ticketed = demo.movable("urgent_tickets")[0]
            before = demo.in_store(ticketed).score
            made = demo.open_urgent_tickets(demo.links(ticketed)["zendesk"], 5, who="person")
            assert len(set(made)) == 5
            _reaches_everywhere(demo, ticketed, before)

            # Another account's usage cut to zero through the collector.
            cut = next(a for a in demo.movable("usage_trend") if a != ticketed)
            before = demo.in_store(cut).score
            answers = demo.cut_usage(cut, WORLD_NOW)  # the demo process runs pinned at WORLD_NOW
            assert sum(a["accepted"] for a in answers) >= 200 and all(a["rejectedCount"] == 0 for a in answers)
            _reaches_everywhere(demo, cut, before)
            stats = demo.sandbox_stats()
            assert set(stats) == {"salesforce", "zendesk", "hubspot"}
            assert stats["zendesk"]["calls_total"] > demo.calls["zendesk"]  # Canary's own calls are in there too
        finally:
            code = demo.stop()
    assert code == 0
