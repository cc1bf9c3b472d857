"""One product vocabulary: onboarding milestones and key features are the health model's, read everywhere from it."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from extensions import canary_store, health_model
from scoring import SignalSettings, default_model
from store.models import EventType
from store.tenants import create_tenant

ROOT = Path(__file__).resolve().parents[1]
WRITE_KEY = "wk_vocabulary_0123456789"


def test_the_shipped_model_is_the_one_source() -> None:
    from sandbox import usage

    shipped = default_model().signals
    assert len(shipped.milestones) == 5 and len(shipped.key_features) == 8
    assert SignalSettings().milestones == shipped.milestones
    assert SignalSettings().key_features == shipped.key_features
    assert SignalSettings().login_event == shipped.login_event
    assert shipped.milestones == usage.ONBOARDING_MILESTONES
    assert shipped.key_features == usage.KEY_FEATURES
    assert shipped.login_event == usage.LOGIN_EVENT


def test_no_code_spells_the_vocabulary_out() -> None:
    words = [*default_model().signals.milestones, *default_model().signals.key_features]
    pattern = re.compile("|".join(re.escape(f'"{w}"') for w in words))
    sources = [p for part in ("app.py", "extensions.py", "scoring", "collector", "sandbox", "sync", "widgets", "cli")
               for p in ([ROOT / part] if part.endswith(".py") else sorted((ROOT / part).rglob("*.py")))]
    assert len(sources) > 20
    assert [str(p.relative_to(ROOT)) for p in sources if pattern.search(p.read_text(encoding="utf-8"))] == []


def test_the_collector_takes_milestones_from_the_apps_health_model(app_factory: Any, tmp_path: Path) -> None:
    model = yaml.safe_load((ROOT / "scoring" / "default_model.yaml").read_text(encoding="utf-8"))
    model["signals"]["milestones"] = ["Pipeline Imported"]
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(model), encoding="utf-8")
    app = app_factory(HEALTH_MODEL=str(path))
    assert health_model(app).signals.milestones == ("Pipeline Imported",)
    with canary_store(app).session() as session:
        tenant, _ = create_tenant(session, "vocab", "Vocabulary", write_key=WRITE_KEY)
    batch = {"batch": [{"type": "track", "messageId": f"m-{name}", "userId": "u1", "event": name,
                        "context": {"groupId": "g1"}, "timestamp": "2026-11-20T10:00:00Z"}
                       for name in ("Pipeline Imported", "Workspace Created")]}
    auth = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    response = app.test_client().post("/v1/batch", data=json.dumps(batch),
                                      headers={"Authorization": auth, "Content-Type": "application/json"})
    assert response.status_code == 200, response.get_json()
    with canary_store(app).session(tenant.id) as session:
        kinds = {name: kind for name, kind in session.execute(select(EventType.name, EventType.kind))}
    assert kinds == {"Pipeline Imported": "milestone", "Workspace Created": "feature"}


@pytest.mark.parametrize("config", [{}, {"HEALTH_MODEL": None}])
def test_without_a_model_file_the_shipped_one_counts(app_factory: Any, config: dict[str, Any]) -> None:
    assert health_model(app_factory(**config)) is default_model()
