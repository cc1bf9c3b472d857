"""The e2e tests use the widget tests' seeded tenants."""

from tests.widgets.conftest import embed_app

__all__ = ["embed_app"]
