"""What an embedded health panel shows: the view model, from the payload `store.panel_views` prepares."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from store.panel_views import TREND_DAYS

BAND_LABELS = {"good": "Good", "average": "Average", "poor": "Poor"}
__all__ = ["TREND_DAYS", "AccountHealthView", "EngagedUser", "view_from_payload"]


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


def _day(value: object) -> dt.date | None:
    return dt.date.fromisoformat(value) if isinstance(value, str) else None


def view_from_payload(payload: dict[str, Any]) -> AccountHealthView:
    """The panel's view from its prepared payload (`store.panel_views.build_payloads`)."""
    start = dt.date.fromisoformat(payload["start"])
    arr = payload.get("arr")
    return AccountHealthView(
        account_id=payload["account_id"], name=payload["name"], domain=payload["domain"],
        score=payload["score"], band=payload["band"], trend=payload["trend"], scored_on=_day(payload["scored_on"]),
        points=[(start + dt.timedelta(days=i), s) for i, s in enumerate(payload["scores"])],
        reasons=list(payload["reasons"]), renewal_date=_day(payload["renewal_date"]),
        arr=Decimal(arr) if arr is not None else None, owner=payload["owner"],
        alerts=[(severity, title) for severity, title in payload["alerts"]],
        tasks=[(title, _day(due)) for title, due in payload["tasks"]],
        engaged_users=[EngagedUser(label, days, dt.date.fromisoformat(last))
                       for label, days, last in payload["engaged"]],
    )
