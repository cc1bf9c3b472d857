"""The portfolio worked out the plain way, in Python, from the source rows: what `console.portfolio`
answered before its keys were kept on the account row, to compare the indexed queries and the stored
keys with.

Health is the snapshot of the workspace's latest day; ARR and renewal come from the active
subscriptions of the system of record (`store.queries.active_subscriptions`), the renewal being the
first on or after that day, else the last; sort values are those the old query sorted on
(coalesce(score, -1), coalesce(trend, -1000), coalesce(renewal, 9999-12-31), coalesce(arr, 0), lower(name),
coalesce(text, '')), ties by id; an account without an active subscription is left out when sorting or
filtering by ARR or renewal.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from console.auth import SignedIn
from console.people import team_ids
from console.portfolio import STEADY, PortfolioQuery
from store.models import Account, Alert, HealthSnapshot
from store.portfolio_keys import reference_day
from store.queries import active_subscriptions

FAR_FUTURE = dt.date(9999, 12, 31)


@dataclass
class Row:
    account: Account
    band: str | None
    score: float | None
    trend: float | None
    subscribed: bool
    arr: float | None
    renewal: dt.date | None
    alerts: int
    rules: set[str]


def rows(s: Session) -> tuple[dt.date | None, dict[int, Row]]:
    day = s.scalar(select(func.max(HealthSnapshot.day)))
    reference = reference_day(day)  # production's rule: the latest scored day, else today
    accounts = list(s.scalars(select(Account)))
    snaps = {h.account_id: h for h in s.scalars(select(HealthSnapshot).where(HealthSnapshot.day == day))} \
        if day is not None else {}
    subs = active_subscriptions(s, [a.id for a in accounts])
    open_alerts: dict[int, list[str]] = {}
    for alert in s.scalars(select(Alert).where(Alert.status == "open")):
        open_alerts.setdefault(alert.account_id, []).append(alert.rule)
    out = {}
    for a in accounts:
        h = snaps.get(a.id)
        mine = subs.get(a.id, [])
        amounts = [float(x.arr) for x in mine if x.arr is not None]
        renewals = sorted(x.renewal_date for x in mine if x.renewal_date is not None)
        renewal = next((d for d in renewals if d >= reference), renewals[-1] if renewals else None)
        out[a.id] = Row(a, h.band if h else None, h.score if h else None, h.trend if h else None, bool(mine),
                        sum(amounts) if amounts else None, renewal, len(open_alerts.get(a.id, [])),
                        set(open_alerts.get(a.id, [])))
    return day, out


def expected_keys(s: Session) -> dict[int, tuple[Any, ...]]:
    """Account id -> what `Account.(health_band, score_key, trend_key, arr, arr_key, renewal_key)` must hold."""
    _, by_id = rows(s)
    return {i: (r.band, -1.0 if r.score is None else r.score, -1000.0 if r.trend is None else r.trend,
                r.arr if r.subscribed else None, (r.arr or 0.0) if r.subscribed else None,
                (r.renewal or FAR_FUTURE) if r.subscribed else None) for i, r in by_id.items()}


def stored_keys(s: Session) -> dict[int, tuple[Any, ...]]:
    return {a.id: (a.health_band, a.score_key, a.trend_key, a.arr, a.arr_key, a.renewal_key)
            for a in s.scalars(select(Account))}


def sort_value(r: Row, sort: str) -> Any:
    a = r.account
    return {"score": -1.0 if r.score is None else r.score, "band": -1.0 if r.score is None else r.score,
            "trend": -1000.0 if r.trend is None else r.trend, "renewal": r.renewal or FAR_FUTURE,
            "arr": r.arr or 0.0, "name": a.name.lower(), "owner": a.owner or "", "segment": a.segment or "",
            "tier": a.tier or "", "stage": a.lifecycle_stage or "", "alerts": r.alerts}[sort]


def ordered_ids(s: Session, q: PortfolioQuery, who: SignedIn) -> list[int]:
    """Every account the query matches, in its order (no paging)."""
    day, by_id = rows(s)
    reference = reference_day(day)  # production's rule: the latest scored day, else today
    team = set(team_ids(s, who.user_id)) if q.scope == "team" else set()
    found = []
    for r in by_id.values():
        a = r.account
        if a.lifecycle_stage == "merged":
            continue
        if q.owner_id is not None:
            if a.csm_user_id != q.owner_id:
                continue
        elif (q.scope == "mine" and a.csm_user_id != who.user_id) or (q.scope == "team" and a.csm_user_id not in team) \
                or (q.scope == "unassigned" and a.csm_user_id is not None):
            continue
        if q.bands and not ((r.band in q.bands) or (r.band is None and "none" in q.bands)):
            continue
        if q.trend and (r.trend is None or not {"down": r.trend < -STEADY, "up": r.trend > STEADY,
                                                 "flat": -STEADY <= r.trend <= STEADY}[q.trend]):
            continue
        if any(v is not None and getattr(a, c) != v
               for c, v in (("segment", q.segment), ("tier", q.tier), ("lifecycle_stage", q.stage))):
            continue
        if q.search and q.search.lower() not in a.name.lower():
            continue
        if (q.sort in ("arr", "renewal") or q.renewal_days is not None or q.arr_min is not None
                or q.arr_max is not None) and not r.subscribed:
            continue
        if q.renewal_days is not None and not (
                r.renewal is not None and reference <= r.renewal <= reference + dt.timedelta(days=q.renewal_days)):
            continue
        if q.arr_min is not None and (r.arr is None or r.arr < q.arr_min):
            continue
        if q.arr_max is not None and (r.arr is None or r.arr > q.arr_max):
            continue
        if q.alert_rule and q.alert_rule not in r.rules:
            continue
        found.append(r)
    found.sort(key=lambda r: (sort_value(r, q.sort), r.account.id), reverse=q.descending)
    return [r.account.id for r in found]
