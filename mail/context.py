"""A template's variables for one person at one account, read from the store (plain values only: a template
never gets an ORM row, so there is nothing to walk from a variable to the database).

``account``: name, domain, segment, tier, lifecycle_stage, owner, arr, renewal_date;
``user``: email, name, title, role (the contact or product user with that address);
``health``: score, band, trend, day, reasons (the latest snapshot's reason texts, at most 5);
``workspace``: name.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import NO_RENEWAL, Account, Contact, HealthSnapshot, ProductUser, Tenant
from store.scoping import current_tenant


def variables_for(session: Session, account_id: int | None, email: str) -> dict[str, Any]:
    email = email.strip().lower()
    tenant_id = current_tenant(session)
    tenant = session.get(Tenant, tenant_id) if tenant_id is not None else None
    account: dict[str, Any] = {}
    health: dict[str, Any] = {}
    row = session.get(Account, account_id) if account_id is not None else None
    if row is not None:
        account = {"name": row.name, "domain": row.domain, "segment": row.segment, "tier": row.tier,
                   "lifecycle_stage": row.lifecycle_stage, "owner": row.owner, "arr": row.arr,
                   "renewal_date": row.renewal_key if row.renewal_key not in (None, NO_RENEWAL) else None}
        snap = session.scalars(select(HealthSnapshot).where(HealthSnapshot.account_id == row.id)
                               .order_by(HealthSnapshot.day.desc()).limit(1)).first()
        if snap is not None:
            health = {"score": round(snap.score) if snap.score is not None else None, "band": snap.band,
                      "trend": snap.trend, "day": snap.day,
                      "reasons": [str(r.get("text", "")) for r in (snap.reasons or [])[:5] if isinstance(r, dict)]}
    user: dict[str, Any] = {"email": email, "name": None, "title": None, "role": None}
    contact = session.scalars(select(Contact).where(Contact.email == email)).first()
    if contact is not None:
        user.update(name=contact.name, title=contact.title, role=contact.role)
    else:
        person = session.scalars(select(ProductUser).where(ProductUser.email == email).limit(1)).first()
        if person is not None:
            user["name"] = person.name
    return {"account": account, "user": user, "health": health,
            "workspace": {"name": tenant.name if tenant is not None else ""}}
