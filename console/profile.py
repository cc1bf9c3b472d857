"""What the account profile and the product-user profile show, read from one workspace's store."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from console.history import BandChange, band_changes
from integrations.registry import VENDOR_NAMES, vendor, vendors
from scoring import Legend, part_descriptors
from store.legends import legends
from store.models import (
    Account,
    Alert,
    Connection,
    Contact,
    HealthSnapshot,
    ProductUser,
    SourceLink,
    Subscription,
    SurveyResponse,
    Task,
    Ticket,
    UsageDaily,
    User,
)
from store.queries import active_subscriptions

HISTORY_DAYS = 180
SYSTEM_LABELS = {**{v.name: v.label for v in vendors()}, "product": "Product"}


@dataclass
class Measure:
    name: str
    label: str
    dimension: str
    value: float | None
    status: str
    points: float | None
    percentile: float | None
    change_30d: float | None


@dataclass
class AccountProfile:
    account: Account
    csm: str | None
    as_of: dt.date | None
    score: float | None
    band: str | None
    trend: float | None
    reasons: list[str]
    points: list[tuple[dt.date, float | None]]
    changes: list[BandChange]
    measures: list[Measure]
    contacts: list[dict[str, Any]]
    subscriptions: list[Subscription]
    arr: float | None
    renewal: dt.date | None
    tickets: list[Ticket]
    satisfaction: dict[str, int]
    nps: list[SurveyResponse]
    alerts: list[Alert]
    tasks: list[dict[str, Any]]
    links: list[dict[str, Any]]
    timeline: list[tuple[dt.datetime, str, str]] = field(default_factory=list)


def _open_tasks(s: Session, account_id: int) -> list[dict[str, Any]]:
    """Open tasks, soonest due first: who they are for, their priority and where they are in the CRMs."""
    tasks = list(s.scalars(select(Task).where(Task.account_id == account_id, Task.status == "open")
                           .options(selectinload(Task.links)).order_by(Task.due_date, Task.id)))
    ids = {t.assignee_user_id for t in tasks if t.assignee_user_id}
    names: dict[int, str] = {}
    if ids:
        for user_id, name in s.execute(select(User.id, func.coalesce(User.name, User.email)).where(User.id.in_(ids))):
            names[user_id] = name
    return [{"id": t.id, "title": t.title, "due_date": t.due_date, "priority": t.priority,
             "assignee": names.get(t.assignee_user_id) if t.assignee_user_id else t.owner,
             "assignee_user_id": t.assignee_user_id,
             "crm": [(SYSTEM_LABELS.get(link.system, link.system),
                      "in sync" if link.state == "created" else link.state)
                     for link in sorted(t.links, key=lambda link: link.system)]} for t in tasks]


def reason_texts(reasons: Any, limit: int = 5) -> list[str]:
    out = [str(r.get("text")) for r in (reasons or []) if isinstance(r, dict) and r.get("text")]
    return out[:limit]


def record_url(system: str, external_id: str, connection: Connection | None) -> str | None:
    """Where to open a linked record in its own system (None: no web page for it)."""
    if system not in VENDOR_NAMES:
        return None
    return vendor(system).record_url(external_id, connection.account_ref if connection is not None else None)


def _history(s: Session, account_id: int, as_of: dt.date) -> tuple[list[Any], list[Any]]:
    start = as_of - dt.timedelta(days=HISTORY_DAYS - 1)
    rows = s.execute(select(HealthSnapshot.day, HealthSnapshot.score, HealthSnapshot.band, HealthSnapshot.reasons)
                     .where(HealthSnapshot.account_id == account_id, HealthSnapshot.day >= start,
                            HealthSnapshot.day <= as_of).order_by(HealthSnapshot.day)).all()
    by_day = {r.day: r.score for r in rows}
    points = [(start + dt.timedelta(days=i), by_day.get(start + dt.timedelta(days=i))) for i in range(HISTORY_DAYS)]
    return points, [(r.day, r.score, r.band, reason_texts(r.reasons)) for r in rows]


def _measures(latest: HealthSnapshot | None, month_ago: HealthSnapshot | None, legend: Legend | None = None
              ) -> list[Measure]:
    """The latest snapshot's measures: a part's label, dimension and signal are its own (a snapshot written before
    the legends), else `legend`'s (the stored legend its parts name: `store.legends`), else its measure's name and
    no dimension."""
    if latest is None:
        return []
    parts = (latest.parts or {}).get("parts", {})
    bench = (latest.parts or {}).get("benchmarks", {})
    before = ((month_ago.parts or {}).get("parts", {}) if month_ago else {})
    out = []
    for name, p in parts.items():
        old = before.get(name, {}).get("value")
        value = p.get("value")
        signal, dimension, label = part_descriptors(name, p, legend)
        b = bench.get(name) or bench.get(signal or "") or {}
        percentile = b.get("segment_percentile")
        percentile = percentile if percentile is not None else b.get("base_percentile")
        out.append(Measure(name, label or name, dimension, value, p.get("status", "missing"),
                           p.get("points"), percentile,
                           None if value is None or old is None else value - old))
    return sorted(out, key=lambda m: (m.dimension, m.label))


def _contacts(s: Session, account_id: int) -> list[dict[str, Any]]:
    rows = s.execute(select(Contact, func.max(ProductUser.last_seen), func.min(ProductUser.id))
                     .outerjoin(ProductUser, (ProductUser.email == Contact.email)
                                & (ProductUser.account_id == Contact.account_id))
                     .where(Contact.account_id == account_id).group_by(Contact.id)
                     .order_by(Contact.role, Contact.name).limit(50)).all()
    out = []
    for contact, seen, user_id in rows:
        last = max((d for d in (contact.last_active_at, seen) if d is not None), default=None)
        out.append({"contact": contact, "last_active": last, "product_user_id": user_id})
    return out


def _links(s: Session, account_id: int) -> list[dict[str, Any]]:
    connections = {c.system: c for c in s.scalars(select(Connection))}
    return [{"system": link.system, "label": SYSTEM_LABELS.get(link.system, link.system),
             "external_id": link.external_id, "name": link.name, "method": link.method, "reason": link.reason,
             "url": record_url(link.system, link.external_id, connections.get(link.system)),
             "created_at": link.created_at}
            for link in s.scalars(select(SourceLink).where(SourceLink.account_id == account_id)
                                  .order_by(SourceLink.system, SourceLink.external_id))]


def _timeline(profile: AccountProfile) -> list[tuple[dt.datetime, str, str]]:
    def at(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), dt.UTC)

    events: list[tuple[dt.datetime, str, str]] = []
    for c in profile.changes:
        events.append((at(c.day), "band", f"Health moved from {c.before} to {c.after}"
                       + (f": {c.reasons[0]}" if c.reasons else "")))
    for a in profile.alerts:
        events.append((a.raised_at, "alert", f"Alert raised: {a.title}"))
    for t in profile.tickets:
        events.append((t.created_at, "ticket", f"Ticket opened ({t.priority}): {t.subject or t.external_id}"))
        if t.solved_at:
            events.append((t.solved_at, "ticket", f"Ticket solved: {t.subject or t.external_id}"))
    for sub in profile.subscriptions:
        if sub.start_date:
            events.append((at(sub.start_date), "subscription", f"Subscription started: {sub.name or sub.external_id}"))
    for link in profile.links:
        events.append((link["created_at"], "link", f"Linked to {link['label']} record {link['external_id']}"))
    return sorted(events, key=lambda e: e[0], reverse=True)[:40]


def load_account_profile(s: Session, account_id: int, as_of: dt.date | None) -> AccountProfile | None:
    account = s.get(Account, account_id)
    if account is None:
        return None
    day = as_of or s.scalar(select(func.max(HealthSnapshot.day))) or dt.datetime.now(dt.UTC).date()
    points, rows = _history(s, account_id, day)
    latest = s.scalar(select(HealthSnapshot).where(HealthSnapshot.account_id == account_id,
                                                   HealthSnapshot.day <= day).order_by(HealthSnapshot.day.desc()))
    month_ago = s.scalar(select(HealthSnapshot).where(
        HealthSnapshot.account_id == account_id, HealthSnapshot.day <= day - dt.timedelta(days=30))
        .order_by(HealthSnapshot.day.desc()))
    active = active_subscriptions(s, [account_id]).get(account_id, [])
    renewals = sorted(x.renewal_date for x in active if x.renewal_date)
    tickets = list(s.scalars(select(Ticket).where(Ticket.account_id == account_id)
                             .order_by(Ticket.created_at.desc()).limit(25)))
    sat = dict(s.execute(select(Ticket.satisfaction, func.count()).where(
        Ticket.account_id == account_id, Ticket.satisfaction.is_not(None)).group_by(Ticket.satisfaction)).all())
    csm = s.scalar(select(func.coalesce(User.name, User.email)).where(User.id == account.csm_user_id)) \
        if account.csm_user_id else None
    profile = AccountProfile(
        account=account, csm=csm, as_of=day, score=latest.score if latest else None,
        band=latest.band if latest else None, trend=latest.trend if latest else None,
        reasons=reason_texts(latest.reasons if latest else []), points=points, changes=band_changes(rows),
        measures=_measures(latest, month_ago, legends(s).of(s, latest.parts) if latest else None),
        contacts=_contacts(s, account_id),
        subscriptions=list(s.scalars(select(Subscription).where(Subscription.account_id == account_id)
                                     .order_by(Subscription.renewal_date.desc()))),
        arr=sum(float(x.arr) for x in active if x.arr is not None) if any(x.arr for x in active) else None,
        renewal=next((r for r in renewals if r >= day), renewals[-1] if renewals else None),
        tickets=tickets, satisfaction={str(k): int(v) for k, v in sat.items()},
        nps=list(s.scalars(select(SurveyResponse).where(SurveyResponse.account_id == account_id)
                           .order_by(SurveyResponse.submitted_at.desc()).limit(10))),
        alerts=list(s.scalars(select(Alert).where(Alert.account_id == account_id, Alert.status == "open")
                              .order_by(Alert.raised_at.desc()))),
        tasks=_open_tasks(s, account_id),
        links=_links(s, account_id))
    profile.timeline = _timeline(profile)
    return profile


@dataclass
class ProductUserProfile:
    user: ProductUser
    account: Account | None
    role: str | None
    days: list[tuple[dt.date, int]]
    features: list[tuple[str, int, dt.date]]
    as_of: dt.date


def load_product_user(s: Session, user_id: int, as_of: dt.date | None, days: int = 90) -> ProductUserProfile | None:
    user = s.get(ProductUser, user_id)
    if user is None:
        return None
    day = as_of or s.scalar(select(func.max(HealthSnapshot.day))) or dt.datetime.now(dt.UTC).date()
    start = day - dt.timedelta(days=days - 1)
    per_day = dict(s.execute(select(UsageDaily.day, func.sum(UsageDaily.count)).where(
        UsageDaily.user_key == user.user_key, UsageDaily.day >= start, UsageDaily.day <= day)
        .group_by(UsageDaily.day)).all())
    features = [(e, int(n), last) for e, n, last in s.execute(
        select(UsageDaily.event, func.sum(UsageDaily.count), func.max(UsageDaily.day))
        .where(UsageDaily.user_key == user.user_key, UsageDaily.day >= start, UsageDaily.day <= day)
        .group_by(UsageDaily.event).order_by(func.sum(UsageDaily.count).desc()).limit(30))]
    role = s.scalar(select(Contact.role).where(Contact.email == user.email)) if user.email else None
    return ProductUserProfile(
        user=user, account=s.get(Account, user.account_id) if user.account_id else None, role=role,
        days=[(start + dt.timedelta(days=i), int(per_day.get(start + dt.timedelta(days=i), 0))) for i in range(days)],
        features=features, as_of=day)


def activity_bars_svg(days: list[tuple[dt.date, int]], width: int = 900, height: int = 120) -> str:
    peak = max((n for _, n in days), default=0) or 1
    bar = width / max(len(days), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="Events per day over {len(days)} days" class="activity" preserveAspectRatio="none">']
    for i, (_, n) in enumerate(days):
        h = (height - 4) * n / peak
        parts.append(f'<rect x="{i * bar:.1f}" y="{height - h:.1f}" width="{max(bar - 1, 1):.1f}" '
                     f'height="{h:.1f}" fill="#3b5bdb"/>')
    parts.append("</svg>")
    return "".join(parts)
