"""Issue 16: the adoption pack (`report_fact_packs`, part "adoption") the whole base's Adoption view computed in a
request reads — every figure equals the one computed from the usage facts and from the monthly usage rows, after
new usage, a moved tier, a user's usage moving to another account and a deleted account, in two workspaces, on
SQLite and PostgreSQL; a cohort's view reads the facts."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, func, select, text, update

from extensions import canary_store
from store.models import Account, ReportFactPack, UsageDaily
from sync import base_reports as br
from sync import usage_facts as uf
from sync.reports import Cohort
from tests.console.conftest import CHEAP_ARGON2, Workspace, seed_workspace
from tests.shared import record_calls
from tests.sync.test_usage_facts import KEYS, LOGIN, _usage, console_app, seeded

__all__ = ["console_app", "seeded"]
ADOPTION = {"key_features": KEYS, "login_event": LOGIN}


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Which views read the accounts' usage facts (`fact_adoption_counts`) and which found the pack holding."""
    calls = record_calls(monkeypatch, uf, ("fact_adoption_counts", "fact_upgrade_ready", "fact_needs_training"))
    found = br._adoption_pack

    def counting(*args: Any, **kwargs: Any) -> Any:
        held = found(*args, **kwargs)
        if held is not None:
            calls.append("pack")
        return held

    monkeypatch.setattr(br, "_adoption_pack", counting)
    return calls


def _views(s: Any, ws: Workspace) -> dict[str, Any]:
    """The whole base's views (6, 3 and 1 months) and a cohort's."""
    return {"all": br._adoption_report(s, **ADOPTION), "3": br._adoption_report(s, **ADOPTION, months=3),
            "1": br._adoption_report(s, **ADOPTION, months=1),
            "csm": br._adoption_report(s, **ADOPTION, cohort=Cohort(csm_user_id=ws.users["csm"]))}


def _from_facts(s: Any, ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    with monkeypatch.context() as m:
        m.setattr(br, "_adoption_pack", lambda *args, **kwargs: None)
        return _views(s, ws)


def _from_rows(s: Any, ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    with monkeypatch.context() as m:
        m.setattr(uf, "fresh_usage_facts", lambda *args, **kwargs: None)
        return _views(s, ws)


def test_pack_view_equals_the_facts_and_rows(seeded: Any, reads: list[str], monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    store, ws = seeded
    with store.session(ws.tenant_id) as s:
        br.prepare_base_reports(s)
    with store.session(ws.tenant_id) as s:
        assert sorted(s.scalars(select(ReportFactPack.part))) == ["adoption", "health", "team"]
        reads.clear()
        packed = _views(s, ws)
        assert reads == ["pack", "pack", "pack", "fact_adoption_counts", "fact_upgrade_ready",
                         "fact_needs_training"]  # the cohort's reads the facts
        assert packed == _from_facts(s, ws, monkeypatch) == _from_rows(s, ws, monkeypatch)
        report = packed["all"]  # real figures: accounts, both tier classes, users of a key feature, six months
        assert report["accounts"] == 5 and {r["group"] for r in report["by_tier"]} == {"premium", "standard"}
        assert sum(r["active_users"] for r in report["by_tier"] if r["feature"] == KEYS[0]) > 0
        assert [len(packed[k]["monthly"]) for k in ("all", "3", "1")] == [6, 3, 1]
        assert packed["3"]["monthly"] == packed["all"]["monthly"][3:]
        assert packed["csm"]["accounts"] < report["accounts"]
        assert report["upgrade_ready"][0]["account_id"] == ws.accounts["Alpha Good Steady"]
        assert report["needs_training"]["total"] == len(report["needs_training"]["users"]) > 0


def test_pack_follows_usage_moves_and_deletes(seeded: Any, reads: list[str], monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    store, ws = seeded
    a = ws.accounts
    with store.session(ws.tenant_id) as s:
        br.prepare_base_reports(s)
    with store.session(ws.tenant_id) as s:  # new usage: neither the facts nor the pack hold
        s.add_all(_usage([a["Alpha Unowned"]], salt=3))
    with store.session(ws.tenant_id) as s:
        reads.clear()
        fresh = _views(s, ws)
        assert reads == [] and fresh == _from_rows(s, ws, monkeypatch)
        uf.refresh_usage_facts(s, KEYS, LOGIN)  # the facts again, not the pack (built from older facts)
    with store.session(ws.tenant_id) as s:
        reads.clear()
        assert _views(s, ws) == fresh and "pack" not in reads
        br.prepare_base_reports(s)
    with store.session(ws.tenant_id) as s:
        reads.clear()
        assert _views(s, ws) == fresh and reads.count("pack") == 3
    # a moved tier (as a sync writes it): the facts hold, the pack does not, until prepared again
    with store.session(ws.tenant_id) as s:
        later = s.get(Account, a["Alpha Poor Later"])
        assert later is not None
        later.tier = "enterprise"
    with store.session(ws.tenant_id) as s:
        reads.clear()
        moved = _views(s, ws)
        assert "pack" not in reads and reads.count("fact_adoption_counts") == reads.count("fact_upgrade_ready") == 4
        assert moved == _from_rows(s, ws, monkeypatch) and moved["all"]["by_tier"] != fresh["all"]["by_tier"]
        br.prepare_base_reports(s)
    with store.session(ws.tenant_id) as s:
        reads.clear()
        assert _views(s, ws) == moved and reads.count("pack") == 3
    # a user's usage moved to another account (a merge, in a sync) and the sync's prepare
    with store.session(ws.tenant_id) as s:
        user = s.scalar(select(UsageDaily.user_key).where(UsageDaily.account_id == a["Alpha Other Poor"])
                        .order_by(UsageDaily.user_key).limit(1))
        s.execute(update(UsageDaily).where(UsageDaily.user_key == user)
                  .values(account_id=a["Alpha Poor Renewing"]))
    with store.session(ws.tenant_id) as s:
        merged = _from_rows(s, ws, monkeypatch)
        br.prepare_base_reports(s)
    with store.session(ws.tenant_id) as s:
        reads.clear()
        assert _views(s, ws) == merged and reads.count("pack") == 3 and merged != moved
    # a deleted account (its facts with it): the pack no longer holds, until prepared again
    with store.session(ws.tenant_id) as s:
        s.execute(delete(Account).where(Account.id == a["Alpha Good Steady"]))
    with store.session(ws.tenant_id) as s:
        reads.clear()
        deleted = _views(s, ws)
        assert "pack" not in reads and deleted == _from_rows(s, ws, monkeypatch)
        assert deleted["all"]["accounts"] == merged["all"]["accounts"] - 1
        br.prepare_base_reports(s)
    with store.session(ws.tenant_id) as s:
        reads.clear()
        assert _views(s, ws) == deleted and reads.count("pack") == 3
        assert s.scalar(select(func.count()).select_from(ReportFactPack)) == 3
        br.drop_base_reports(s)
        assert s.scalar(select(func.count()).select_from(ReportFactPack)) == 0


def test_adoption_packs_of_two_workspaces(app_factory: Any, database_url: str, reads: list[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    app = app_factory(PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False, DATABASE_URL=database_url)
    store = canary_store(app)
    ws, beta = seed_workspace(app, "alpha", "Alpha"), seed_workspace(app, "beta", "Beta")
    with store.session(ws.tenant_id) as s:
        s.add_all(_usage(sorted(ws.accounts.values())))
    with store.session(beta.tenant_id) as s:  # beta: other usage, of its first three accounts
        s.add_all(_usage(sorted(beta.accounts.values())[:3], salt=1))
    for w in (ws, beta):
        with store.session(w.tenant_id) as s:
            br.prepare_base_reports(s)
    with store.session() as s:
        assert s.execute(text("SELECT tenant_id, part FROM report_fact_packs WHERE part = 'adoption' ORDER BY 1")
                         ).all() == [(ws.tenant_id, "adoption"), (beta.tenant_id, "adoption")]
    found = {}
    for w in (ws, beta):
        with store.session(w.tenant_id) as s:
            reads.clear()
            found[w.tenant_id] = packed = _views(s, w)
            assert reads.count("pack") == 3
            assert packed == _from_rows(s, w, monkeypatch)
    assert found[ws.tenant_id]["all"]["by_tier"] != found[beta.tenant_id]["all"]["by_tier"]
