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
    contact = session.scalars(select(Contact).where(Contact.email == email).order_by(Contact.id)).first()
    if contact is not None:
        user.update(name=contact.name, title=contact.title, role=contact.role)
    else:
        person = session.scalars(select(ProductUser).where(ProductUser.email == email).order_by(ProductUser.id)
                                 .limit(1)).first()
        if person is not None:
            user["name"] = person.name
    return {"account": account, "user": user, "health": health,
            "workspace": {"name": tenant.name if tenant is not None else ""}}


def variables_for_many(session: Session, tenant_id: int, people: list[tuple[int | None, str]]
                       ) -> dict[tuple[int | None, str], dict[str, Any]]:
    """`variables_for` for many (account id, e-mail) pairs in five queries (a campaign step's chunk), keyed by
    the pair with the e-mail lower-cased; the same values `variables_for` gives one by one."""
    from sqlalchemy import func

    emails = sorted({email.strip().lower() for _, email in people})
    account_ids = sorted({a for a, _ in people if a is not None})
    tenant = session.get(Tenant, tenant_id)
    accounts = {a.id: a for a in session.scalars(select(Account).where(Account.id.in_(account_ids)))}
    latest = (select(HealthSnapshot.account_id, func.max(HealthSnapshot.day).label("day"))
              .where(HealthSnapshot.account_id.in_(account_ids)).group_by(HealthSnapshot.account_id).subquery())
    snapshots = {snap.account_id: snap for snap in session.scalars(select(HealthSnapshot).join(
        latest, (latest.c.account_id == HealthSnapshot.account_id) & (latest.c.day == HealthSnapshot.day))
        .order_by(HealthSnapshot.id))}
    contacts: dict[str, Contact] = {}
    for found in session.scalars(select(Contact).where(Contact.email.in_(emails)).order_by(Contact.id)):
        contacts.setdefault(found.email, found)
    names: dict[str, str | None] = {}
    for address, name in session.execute(select(ProductUser.email, ProductUser.name).where(
            ProductUser.email.in_(emails)).order_by(ProductUser.id)):
        if address is not None:
            names.setdefault(address, name)
    out: dict[tuple[int | None, str], dict[str, Any]] = {}
    for account_id, raw in people:
        email = raw.strip().lower()
        account: dict[str, Any] = {}
        health: dict[str, Any] = {}
        row = accounts.get(account_id) if account_id is not None else None
        if row is not None:
            account = {"name": row.name, "domain": row.domain, "segment": row.segment, "tier": row.tier,
                       "lifecycle_stage": row.lifecycle_stage, "owner": row.owner, "arr": row.arr,
                       "renewal_date": row.renewal_key if row.renewal_key not in (None, NO_RENEWAL) else None}
            snap = snapshots.get(row.id)
            if snap is not None:
                health = {"score": round(snap.score) if snap.score is not None else None, "band": snap.band,
                          "trend": snap.trend, "day": snap.day,
                          "reasons": [str(r.get("text", "")) for r in (snap.reasons or [])[:5] if isinstance(r, dict)]}
        user: dict[str, Any] = {"email": email, "name": None, "title": None, "role": None}
        contact = contacts.get(email)
        if contact is not None:
            user.update(name=contact.name, title=contact.title, role=contact.role)
        else:
            user["name"] = names.get(email)
        out[(account_id, email)] = {"account": account, "user": user, "health": health,
                                    "workspace": {"name": tenant.name if tenant is not None else ""}}
    return out
