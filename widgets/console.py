"""The console: Canary's own pages (start page; portfolio views come later)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template
from sqlalchemy import func, select

from store.db import Store
from store.models import Account, Connection, Tenant

console = Blueprint("console", __name__, template_folder="templates", static_folder="static",
                    static_url_path="/static/console")

SYSTEM_LABELS = {"salesforce": "Salesforce", "zendesk": "Zendesk", "hubspot": "HubSpot"}


@console.after_request
def _no_framing(response: Any) -> Any:
    response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


@console.get("/")
def start() -> str:
    store: Store = current_app.extensions["canary.store"]
    tenants: list[dict[str, Any]] = []
    database_ok = store.ping()
    if database_ok:
        try:
            with store.session() as session:
                for tenant in session.scalars(select(Tenant).order_by(Tenant.name)):
                    systems = session.scalars(
                        select(Connection.system).where(Connection.tenant_id == tenant.id)
                    ).all()
                    accounts = session.scalar(
                        select(func.count()).select_from(Account).where(Account.tenant_id == tenant.id)
                    )
                    tenants.append({"name": tenant.name, "systems": [SYSTEM_LABELS[s] for s in systems],
                                    "accounts": accounts or 0})
        except Exception:  # tables missing: the page explains how to migrate
            database_ok = False
    return render_template("console/start.html", tenants=tenants, database_ok=database_ok,
                           systems=SYSTEM_LABELS)
