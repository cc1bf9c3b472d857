"""The Zendesk panel's repeat requests answered in front of Flask (`widgets.fastpath`): the very answer Flask
gave, only for a session checked and a view read in the request, and never for anything that changed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select, update

from extensions import canary_store
from store import panel_views
from store.models import Account, HealthSnapshot
from store.panel_views import touches
from tests.shared import WORLD_NOW, pinned_clock
from tests.widgets.conftest import TODAY, Tenantry
from widgets.fastpath import PanelFastPath


@pytest.fixture
def panel(embed_app: Any) -> Iterator[Any]:
    with pinned_clock():
        yield embed_app


def _token(app: Any, tenant: str = "TENANT_A", vendor: str = "zendesk") -> str:
    t: Tenantry = app.config[tenant]
    return URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="canary-widget-session").dumps(
        {"t": t.tenant_id, "v": vendor})


def _get(app: Any, token: str, query: str = "organization_id=100") -> Any:
    return app.test_client().get(f"/widgets/zendesk/panel?{query}", headers={"Authorization": f"Bearer {token}"})


def _fast(app: Any) -> PanelFastPath:
    assert isinstance(app.wsgi_app, PanelFastPath)
    return app.wsgi_app


def _answer(response: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    return response.status_code, sorted(response.headers.items()), response.get_data()


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str, str]]:
    """Every panel lookup: (tenant, system, external id)."""
    calls: list[tuple[int, str, str]] = []
    real = panel_views.lookup

    def counted(engine: Any, tenant_id: int, system: str, external_id: str, as_of: dt.date) -> Any:
        calls.append((tenant_id, system, external_id))
        return real(engine, tenant_id, system, external_id, as_of)

    monkeypatch.setattr(panel_views, "lookup", counted)
    return calls


def test_a_repeat_request_gets_flasks_own_answer_after_one_lookup(panel: Any,
                                                                  lookups: list[tuple[int, str, str]]) -> None:
    fast, token = _fast(panel), _token(panel)
    first = _get(panel, token)
    assert first.status_code == 200 and fast.served == 0
    assert "Alpha Industries" in first.get_data(as_text=True)
    lookups.clear()
    second = _get(panel, token)
    assert fast.served == 1
    assert _answer(second) == _answer(first)  # status, every header and the body, byte for byte
    assert lookups == [(panel.config["TENANT_A"].tenant_id, "zendesk", "100")]  # the one indexed read
    assert "zendesk.com" in second.headers["Content-Security-Policy"].split("frame-ancestors", 1)[1]
    assert second.headers["Cache-Control"] == "no-store"


def test_each_variant_is_kept_apart(panel: Any) -> None:
    fast, token = _fast(panel), _token(panel)
    compact = _get(panel, token)
    full = _get(panel, token, "organization_id=100&variant=full")
    assert fast.served == 0  # the full variant's first answer came from Flask
    assert _answer(_get(panel, token, "organization_id=100&variant=full")) == _answer(full)
    assert _answer(_get(panel, token)) == _answer(compact)
    assert fast.served == 2
    assert _answer(full) != _answer(compact)


def test_an_expired_session_is_refused_though_its_answer_is_kept(panel: Any) -> None:
    fast, token = _fast(panel), _token(panel)
    assert _get(panel, token).status_code == 200
    with time_machine.travel(WORLD_NOW + dt.timedelta(minutes=16), tick=False):
        late = _get(panel, token)
    assert late.status_code == 401 and "expired" in late.get_json()["error"]
    assert fast.served == 0


def test_another_workspace_gets_its_own_account_not_the_kept_answer(panel: Any) -> None:
    fast = _fast(panel)
    a = _get(panel, _token(panel, "TENANT_A"))
    _get(panel, _token(panel, "TENANT_A"))
    assert fast.served == 1
    b_token = _token(panel, "TENANT_B")
    b = _get(panel, b_token)
    assert b.status_code == 200 and fast.served == 1
    assert "Bravo Logistics" in b.get_data(as_text=True) and "Alpha Industries" not in b.get_data(as_text=True)
    assert _answer(_get(panel, b_token)) == _answer(b) != _answer(a)
    assert fast.served == 2


def test_a_session_for_another_vendor_or_a_tampered_one_goes_to_flask(panel: Any) -> None:
    fast, token = _fast(panel), _token(panel)
    _get(panel, token)
    other = _token(panel, vendor="hubspot")
    for bad in (other, token[:-2] + ("AA" if not token.endswith("AA") else "BB"), ""):
        refused = _get(panel, bad)
        assert refused.status_code == 401, bad
    assert _get(panel, _token(panel, vendor="hubspot")).status_code == 401  # checked, and still refused
    assert fast.served == 0


def test_a_bad_organization_id_is_answered_by_flask(panel: Any) -> None:
    fast, token = _fast(panel), _token(panel)
    _get(panel, token)
    for query in ("organization_id=abc", "organization_id=", "organization_id=%C2%B2", "variant=full"):
        response = _get(panel, token, query)
        assert response.status_code == 404, query
    assert _get(panel, token, "organization_id=999").status_code == 404
    assert fast.served == 0


def test_a_change_to_the_account_is_shown_at_once(panel: Any) -> None:
    fast, token = _fast(panel), _token(panel)
    a: Tenantry = panel.config["TENANT_A"]
    assert 'data-testid="score">34<' in _get(panel, token).get_data(as_text=True)
    assert 'data-testid="score">34<' in _get(panel, token).get_data(as_text=True)
    assert fast.served == 1
    with canary_store(panel).session(a.tenant_id) as s:
        account_id = s.scalars(select(Account.id).where(Account.name == "Alpha Industries")).one()
        s.execute(update(HealthSnapshot).where(HealthSnapshot.account_id == account_id, HealthSnapshot.day == TODAY)
                  .values(score=77.0, band="good"), execution_options=touches([account_id]))
    changed = _get(panel, token).get_data(as_text=True)
    assert 'data-testid="score">77<' in changed and fast.served == 1
    assert _get(panel, token).get_data(as_text=True) == changed and fast.served == 2
    panel.config["WIDGET_TODAY"] = (TODAY + dt.timedelta(days=1)).isoformat()  # a new day: built again
    _get(panel, token)
    assert fast.served == 2


def test_a_new_framing_policy_is_not_answered_from_the_old_one(panel: Any) -> None:
    fast, token = _fast(panel), _token(panel)
    _get(panel, token)
    panel.config["WIDGET_FRAME_ANCESTORS_EXTRA"] = ["https://support.example.com"]
    moved = _get(panel, token)
    assert "https://support.example.com" in moved.headers["Content-Security-Policy"]
    assert fast.served == 0
