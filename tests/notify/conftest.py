"""Two workspaces on a migrated SQLite store. Alpha: an admin, a manager, a CSM reporting to the manager (in
Berlin) and a second CSM, each CSM owning one account; Bravo: a CSM with an account of its own."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.dbtemplate import Templates
from tests.shared import WORLD_NOW

SENDER = "canary@alpha.example"
PUBLIC_URL = "https://canary.alpha.example"
BOT_TOKEN = "xoxb-1111-2222-secrettoken"


@dataclass
class World:
    store: Any
    alpha: int
    bravo: int
    users: dict[str, int] = field(default_factory=dict)
    accounts: dict[str, int] = field(default_factory=dict)


@pytest.fixture(autouse=True)
def _pinned() -> Iterator[None]:
    from tests.shared import pinned_clock

    with pinned_clock():
        yield


@pytest.fixture
def world(tmp_path: Path, db_templates: Templates) -> Iterator[World]:
    from console.people import add_user
    from store.db import Store
    from store.models import Account
    from store.tenants import create_tenant

    url = f"sqlite:///{tmp_path / 'notify.db'}"
    db_templates.migrate(url)
    store = Store(url)
    with store.session() as s:
        alpha, _ = create_tenant(s, "alpha", "Alpha")
        bravo, _ = create_tenant(s, "bravo", "Bravo")
    w = World(store, alpha.id, bravo.id)
    with store.session(alpha.id) as s:
        admin = add_user(s, "admin@alpha.example", "admin", name="Ada Admin")
        manager = add_user(s, "manager@alpha.example", "manager", name="Max Manager")
        csm = add_user(s, "csm@alpha.example", "csm", name="Cleo Csm", manager=manager)
        csm2 = add_user(s, "csm2@alpha.example", "csm", name="Olga Other")
        s.flush()
        acme = Account(name="Acme", csm_user_id=csm.id, created_at=WORLD_NOW - dt.timedelta(days=300))
        globex = Account(name="Globex", csm_user_id=csm2.id, created_at=WORLD_NOW - dt.timedelta(days=300))
        s.add_all([acme, globex])
        s.flush()
        w.users.update(admin=admin.id, manager=manager.id, csm=csm.id, csm2=csm2.id)
        w.accounts.update(acme=acme.id, globex=globex.id)
    with store.session(bravo.id) as s:
        other = add_user(s, "csm@bravo.example", "csm", name="Bea Bravo")
        s.flush()
        initech = Account(name="Initech", csm_user_id=other.id)
        s.add(initech)
        s.flush()
        w.users["bravo_csm"], w.accounts["initech"] = other.id, initech.id
    yield w
    store.dispose()


def raise_alert(w: World, account: str, at: dt.datetime, rule: str = "usage_drop", severity: str = "warning",
                tenant: int | None = None) -> int:
    from store.models import Alert

    with w.store.session(tenant or w.alpha) as s:
        alert = Alert(account_id=w.accounts[account], rule=rule, dedupe_key=f"{rule}:{account}", severity=severity,
                      title="Weekly active users fell from 12 to 3", raised_at=at)
        s.add(alert)
        s.flush()
        return alert.id


def set_prefs(w: World, user: str, tenant: int | None = None, **form: Any) -> None:
    from notify.settings import save_user

    with w.store.session(tenant or w.alpha) as s:
        save_user(s, w.users[user], form, f"{user}@alpha.example")


def set_workspace(w: World, form: dict[str, Any], tenant: int | None = None) -> None:
    from notify.settings import save_workspace

    with w.store.session(tenant or w.alpha) as s:
        save_workspace(s, cipher(), form, "admin@alpha.example", w.users["admin"],
                       webhook_hosts=("hooks.slack.com", "127.0.0.1"))


def cipher() -> Any:
    from store.crypto import CredentialCipher

    return CredentialCipher("test-secret-key-for-canary-0123456789")


class FakeTime:
    """An injected clock and sleeper: sleeping advances the clock and is recorded, nobody waits."""

    def __init__(self, start: dt.datetime = WORLD_NOW) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> dt.datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += dt.timedelta(seconds=seconds)
