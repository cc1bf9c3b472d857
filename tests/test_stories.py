"""Issue 5 on the sandbox: the stories in truth.json raise their early-warning alerts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app import create_app
from cli.demo import run_demo
from cli.truth import alert_quality
from sandbox.server import Sandbox
from store.migrate import upgrade


@pytest.fixture(scope="module")
def quality(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    url = f"sqlite:///{tmp_path_factory.mktemp('stories') / 'stories.db'}"
    upgrade(url)
    app = create_app({"TESTING": True, "SECRET_KEY": "stories-secret-key-0123456789", "DATABASE_URL": url})
    with Sandbox(accounts=250, seed=21, hubspot={"requests_per_10s": 100_000},
                 zendesk={"incremental_requests_per_minute": None}) as box:
        result = run_demo(app, accounts=250, seed=21, sandbox=box)
        truth = json.loads(Path(box.truth_path).read_text())
        return dict(alert_quality(app.extensions["canary.store"], result.tenant_id, truth))


@pytest.mark.parametrize(
    ("rule", "min_recall", "min_precision"),
    [
        ("usage_drop", 0.8, 0.85),  # declining usage
        ("onboarding_overdue", 0.8, 0.9),  # onboarding stalled past 30 days
        ("champion_inactive", 0.85, 0.85),  # champion gone quiet
        ("seat_capacity", 0.85, 0.7),  # at capacity: the upsell signal
        ("ticket_spike", 0.6, 0.9),  # ticket storms
    ],
)
def test_story_alerts_are_found(quality: dict[str, object], rule: str, min_recall: float,
                                min_precision: float) -> None:
    q = quality[rule]
    assert q.expected >= 5, f"the sandbox should hold several {rule} stories"  # type: ignore[attr-defined]
    assert q.recall >= min_recall, q  # type: ignore[attr-defined]
    assert q.precision >= min_precision, q  # type: ignore[attr-defined]
