"""A workspace with lists, served over HTTP for Chromium: the alpha team seeded, its shipped lists evaluated."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from extensions import canary_store
from sandbox.core import LoopbackServer
from tests.console.conftest import CHEAP_ARGON2, seed_workspace
from tests.shared import WORLD_AS_OF


@contextmanager
def served_workspace(folder: Path, name: str) -> Iterator[dict[str, Any]]:
    """Yields ``{"app", "ws", "url"}``; the server stops afterwards."""
    from app import create_app
    from sync.lists import evaluate_lists
    from tests.dbtemplate import migrate_new

    url = f"sqlite:///{folder / f'{name}.db'}"
    migrate_new(url)
    app = create_app({"TESTING": True, "SECRET_KEY": f"e2e-{name}-secret-key-0123456789", "DATABASE_URL": url,
                      "COOKIE_SECURE": False, "PASSWORD_HASH": CHEAP_ARGON2})
    ws = seed_workspace(app, "alpha", "Alpha")
    assert evaluate_lists(canary_store(app), ws.tenant_id, WORLD_AS_OF).installed == 12
    server = LoopbackServer(app).start()
    try:
        yield {"app": app, "ws": ws, "url": server.url}
    finally:
        server.stop()
