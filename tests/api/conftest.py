"""The API tests use the console tests' seeded workspaces."""

from tests.console.conftest import console_app, two_workspaces

__all__ = ["console_app", "two_workspaces"]
