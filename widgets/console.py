"""The console: Canary's own pages — the start page, and for the demo workspace a portfolio list.

The portfolio pages show customer data, so they are served only when ``CONSOLE_OPEN_TENANT``
names a workspace (``canary demo`` sets it to its own sandbox workspace); sign-in for real
workspaces is not built yet, and without it these pages answer 404.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, current_app, render_template
from sqlalchemy import func, select

from extensions import canary_store
from integrations.registry import vendors
from store.db import Store
from store.models import Account, Alert, HealthSnapshot, Tenant
from widgets.health import load_account_health
from widgets.sparkline import sparkline_svg

console = Blueprint("console", __name__, template_folder="templates", static_folder="static",
                    static_url_path="/static/console")



@console.get("/")
def start() -> str:
    """What Canary is and how to connect it; nothing about any workspace (anyone can open this page)."""
    from store.migrate import pending

    store = canary_store()
    database_ok = store.ping()
    if database_ok:
        try:
            database_ok = not pending(store.url)
        except Exception:  # an unreadable migration state: the page explains how to migrate
            database_ok = False
    return render_template("console/start.html", database_ok=database_ok, systems={v.name: v.label for v in vendors()},
                           portfolio=bool(current_app.config.get("CONSOLE_OPEN_TENANT")))


def _open_tenant() -> tuple[Store, int, str]:
    slug = current_app.config.get("CONSOLE_OPEN_TENANT")
    if not slug:
        abort(404)
    store = canary_store()
    with store.session() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
        if tenant is None:
            abort(404)
        return store, tenant.id, tenant.name


@console.get("/accounts")
def portfolio() -> str:
    """Every account with its latest health, at-risk first: the CSM's portfolio list."""
    store, tenant_id, tenant_name = _open_tenant()
    with store.session(tenant_id) as session:
        latest = (select(HealthSnapshot.account_id, func.max(HealthSnapshot.day).label("day"))
                  .group_by(HealthSnapshot.account_id).subquery())
        rows = session.execute(
            select(Account.id, Account.name, Account.owner, HealthSnapshot.score, HealthSnapshot.band,
                   HealthSnapshot.trend)
            .outerjoin(latest, latest.c.account_id == Account.id)
            .outerjoin(HealthSnapshot, (HealthSnapshot.account_id == Account.id) & (HealthSnapshot.day == latest.c.day))
            .where((Account.lifecycle_stage.is_(None)) | (Account.lifecycle_stage != "merged"))
        ).all()
        alerts = dict(session.execute(select(Alert.account_id, func.count()).where(Alert.status == "open")
                                      .group_by(Alert.account_id)).all())
    accounts = sorted(
        ({"id": r.id, "name": r.name, "owner": r.owner, "score": r.score, "band": r.band, "trend": r.trend,
          "alerts": alerts.get(r.id, 0)} for r in rows),
        key=lambda a: (a["score"] is None, a["score"] if a["score"] is not None else 0, a["name"]))
    return render_template("console/portfolio.html", accounts=accounts, tenant_name=tenant_name)


@console.get("/accounts/<int:account_id>")
def account(account_id: int) -> str:
    store, tenant_id, _ = _open_tenant()
    with store.session(tenant_id) as session:
        view = load_account_health(session, account_id, dt.datetime.now(dt.UTC).date())
    if view is None:
        abort(404)
    return render_template("widgets/panel.html", view=view, variant="full",
                           sparkline=sparkline_svg(view.points, width=760, height=80))
