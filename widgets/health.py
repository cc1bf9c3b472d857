"""What an embedded health panel shows, read from the store for one account (read-only)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.models import Account, Alert, HealthSnapshot, ProductUser, SourceLink, Task, UsageDaily
from store.queries import active_subscriptions

BAND_LABELS = {"good": "Good", "average": "Average", "poor": "Poor"}
TREND_DAYS = 90


@dataclass(frozen=True)
class EngagedUser:
    label: str
    active_days: int
    last_day: dt.date


@dataclass(frozen=True)
class AccountHealthView:
    account_id: int
    name: str
    domain: str | None
    score: float | None
    band: str | None
    trend: float | None
    scored_on: dt.date | None
    points: list[tuple[dt.date, float | None]]
    reasons: list[str]
    renewal_date: dt.date | None
    arr: Decimal | None
    owner: str | None
    alerts: list[tuple[str, str]] = field(default_factory=list)
    """(severity, title) of open alerts, newest first."""
    tasks: list[tuple[str, dt.date | None]] = field(default_factory=list)
    engaged_users: list[EngagedUser] = field(default_factory=list)

    @property
    def band_label(self) -> str:
        return BAND_LABELS.get(self.band or "", "Not scored yet")

    @property
    def trend_words(self) -> str:
        if self.trend is None:
            return "no trend yet"
        if abs(self.trend) < 0.1:
            return "steady over 30 days"
        per_month = self.trend * 30
        direction = "up" if per_month > 0 else "down"
        return f"{direction} {abs(per_month):.0f} points over 30 days"

    @property
    def score_text(self) -> str:
        return "–" if self.score is None else str(round(self.score))

    def as_dict(self) -> dict[str, object]:
        return {
            "account": {"id": self.account_id, "name": self.name, "domain": self.domain, "owner": self.owner},
            "score": None if self.score is None else round(self.score),
            "band": self.band,
            "band_label": self.band_label,
            "trend_per_day": self.trend,
            "trend": self.trend_words,
            "scored_on": self.scored_on.isoformat() if self.scored_on else None,
            "reasons": self.reasons,
            "renewal_date": self.renewal_date.isoformat() if self.renewal_date else None,
            "arr": None if self.arr is None else float(self.arr),
            "alerts": [{"severity": s, "title": t} for s, t in self.alerts],
            "tasks": [{"title": t, "due": d.isoformat() if d else None} for t, d in self.tasks],
            "engaged_users": [{"user": u.label, "active_days": u.active_days, "last_active": u.last_day.isoformat()}
                              for u in self.engaged_users],
            "history": [{"day": d.isoformat(), "score": s} for d, s in self.points],
        }


def account_for_record(session: Session, system: str, external_id: str) -> int | None:
    """The canonical account a vendor record is linked to, within the session's tenant."""
    return session.scalar(select(SourceLink.account_id).where(
        SourceLink.system == system, SourceLink.external_id == str(external_id)))


def _reason_texts(reasons: list[object], limit: int = 4) -> list[str]:
    out: list[str] = []
    for r in reasons:
        text = r.get("text") if isinstance(r, dict) else r
        if isinstance(text, str) and text:
            out.append(text)
        if len(out) == limit:
            break
    return out


def load_account_health(session: Session, account_id: int, as_of: dt.date) -> AccountHealthView | None:
    account = session.get(Account, account_id)
    if account is None:
        return None
    start = as_of - dt.timedelta(days=TREND_DAYS - 1)
    # Only day and score for the sparkline: the parts JSON of 90 snapshots is not needed.
    by_day = dict(session.execute(select(HealthSnapshot.day, HealthSnapshot.score).where(
        HealthSnapshot.account_id == account_id, HealthSnapshot.day >= start, HealthSnapshot.day <= as_of)).all())
    points = [(start + dt.timedelta(days=i), by_day.get(start + dt.timedelta(days=i))) for i in range(TREND_DAYS)]
    latest = session.execute(
        select(HealthSnapshot.day, HealthSnapshot.score, HealthSnapshot.band, HealthSnapshot.trend,
               HealthSnapshot.reasons)
        .where(HealthSnapshot.account_id == account_id, HealthSnapshot.day <= as_of)
        .order_by(HealthSnapshot.day.desc()).limit(1)
    ).first()

    subs = active_subscriptions(session, [account_id]).get(account_id, [])
    renewals = sorted((x for x in subs if x.renewal_date), key=lambda x: x.renewal_date or as_of)
    subscription = next((x for x in renewals if x.renewal_date and x.renewal_date >= as_of),
                        renewals[-1] if renewals else None)
    arr = sum(x.arr for x in subs if x.arr is not None) if any(x.arr is not None for x in subs) else None

    alerts = [(a.severity, a.title) for a in session.scalars(select(Alert).where(
        Alert.account_id == account_id, Alert.status == "open").order_by(Alert.raised_at.desc()).limit(5))]
    tasks = [(t.title, t.due_date) for t in session.scalars(select(Task).where(
        Task.account_id == account_id, Task.status == "open").order_by(Task.due_date).limit(5))]

    since = as_of - dt.timedelta(days=29)
    active = session.execute(
        select(UsageDaily.user_key, func.count(func.distinct(UsageDaily.day)), func.max(UsageDaily.day))
        .where(UsageDaily.account_id == account_id, UsageDaily.day >= since, UsageDaily.day <= as_of)
        .group_by(UsageDaily.user_key)
        .order_by(func.count(func.distinct(UsageDaily.day)).desc(), UsageDaily.user_key)
        .limit(5)
    ).all()
    labels = dict(session.execute(select(ProductUser.user_key, func.coalesce(ProductUser.name, ProductUser.email))
                                  .where(ProductUser.user_key.in_([row[0] for row in active]))).all())
    engaged = [EngagedUser(labels.get(key) or key, int(days), last) for key, days, last in active]

    return AccountHealthView(
        account_id=account.id, name=account.name, domain=account.domain,
        score=latest.score if latest else None, band=latest.band if latest else None,
        trend=latest.trend if latest else None, scored_on=latest.day if latest else None,
        points=points, reasons=_reason_texts(latest.reasons if latest else []),
        renewal_date=subscription.renewal_date if subscription else None,
        arr=Decimal(arr) if arr is not None else None, owner=account.owner,
        alerts=alerts, tasks=tasks, engaged_users=engaged,
    )
