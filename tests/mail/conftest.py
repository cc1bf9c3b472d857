"""A migrated SQLite store with one workspace, and the message every outbox test sends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mail.templates import MailTemplate
from tests.dbtemplate import Templates

CAMPAIGN = MailTemplate(
    subject="{{ account.name }} is {{ health.band }}",
    html=('<p>Hi {{ user.name }},</p><p><strong>{{ account.name }}</strong> scores {{ health.score }}.</p>'
          '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'))
VARIABLES = {"account": {"name": "Acme"}, "user": {"name": "Ann"}, "health": {"band": "poor", "score": 41},
             "workspace": {"name": "Alpha"}}
PUBLIC_URL = "https://canary.alpha.example"
SENDER = "success@alpha.example"


@pytest.fixture(autouse=True)
def _pinned() -> Iterator[None]:
    """Every mail test runs at `WORLD_NOW` (tests that also pin it themselves nest the same instant)."""
    from tests.shared import pinned_clock

    with pinned_clock():
        yield


@pytest.fixture
def sqlite_url(tmp_path: Path, db_templates: Templates) -> str:
    url = f"sqlite:///{tmp_path / 'mail.db'}"
    db_templates.migrate(url)
    return url


@pytest.fixture
def mail_store(sqlite_url: str) -> Iterator[tuple[Any, int]]:
    from store.db import Store
    from store.tenants import create_tenant

    store = Store(sqlite_url)
    with store.session() as s:
        tenant, _ = create_tenant(s, "alpha", "Alpha")
    yield store, tenant.id
    store.dispose()
