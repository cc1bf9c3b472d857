"""A vendor account (Zendesk subdomain, Salesforce org, HubSpot portal) belongs to one workspace.

Embedded requests and installs find their tenant by (system, account_ref); two connections
claiming the same vendor account would make that choice arbitrary. The upgrade refuses, naming
them, when such duplicates exist, so nothing is dropped silently.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 10:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.migrate import MigrationRefused

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    duplicates = op.get_bind().execute(sa.text(
        "SELECT c.system, c.account_ref, t.slug FROM connections c JOIN tenants t ON t.id = c.tenant_id "
        "WHERE c.account_ref IS NOT NULL AND (SELECT COUNT(*) FROM connections o WHERE o.system = c.system "
        "AND o.account_ref = c.account_ref) > 1 ORDER BY c.system, c.account_ref, t.slug")).all()
    if duplicates:
        claims: dict[tuple[str, str], list[str]] = {}
        for system, account_ref, slug in duplicates:
            claims.setdefault((system, account_ref), []).append(slug)
        listed = "; ".join(f"{system} account {ref!r} is connected to workspaces {', '.join(slugs)}"
                           for (system, ref), slugs in claims.items())
        raise MigrationRefused(f"each vendor account may belong to one workspace only: {listed}. "
                               "Reconnect all but one of them (`canary connect SYSTEM --tenant SLUG "
                               "--account-ref ...`), then run `canary db upgrade` again.")
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_connections_account_ref"))
        batch_op.create_unique_constraint(batch_op.f("uq_connections_system_account_ref"), ["system", "account_ref"])


def downgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_connections_system_account_ref"), type_="unique")
        batch_op.create_index(batch_op.f("ix_connections_account_ref"), ["account_ref"], unique=False)
