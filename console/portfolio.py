"""A portfolio: the accounts a user looks at, filtered and sorted, one keyset page at a time.

Shared by the console page, its CSV export and ``GET /api/v1/accounts``. Filters arrive as query
parameters (`PortfolioQuery.parse` checks every one and says what is wrong). Filters and sorts read
the account row alone: the latest scored day's band, score and trend and the subscriptions' ARR and
renewal are kept on it (`store.portfolio_keys`) under (tenant, [CSM | band,] key, id) indexes, so a page
(the first or the hundredth: the keyset condition is a row-value range on the same index) is read in
order and stops after one page of rows. What a row shows is read from the snapshots, subscriptions and
alerts for the page's rows alone, so a page costs about the same at 100,000 accounts as at 100.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import and_, exists, func, literal, or_, select, tuple_
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from console.auth import SignedIn
from console.people import team_ids
from store.models import BANDS, NO_RENEWAL, NO_TREND, Account, Alert, HealthSnapshot, User
from store.portfolio_keys import reference_day
from store.queries import subscription_facts

SORTS = ("score", "name", "band", "trend", "renewal", "arr", "owner", "segment", "tier", "stage", "alerts")
SCOPES = ("mine", "team", "all", "unassigned")
TRENDS = ("down", "flat", "up")
RENEWAL_WINDOWS = (30, 60, 90, 180, 365)
PAGE_SIZES = (25, 50, 100, 200)
STEADY = 0.1
"""Points per day under which a 30-day trend counts as flat (as the panels say 'steady')."""


class QueryError(ValueError):
    """A filter, sort or cursor the server cannot use; the message names it."""


@dataclass(frozen=True)
class PortfolioQuery:
    scope: str = "all"
    owner_id: int | None = None
    bands: tuple[str, ...] = ()
    trend: str | None = None
    segment: str | None = None
    tier: str | None = None
    stage: str | None = None
    renewal_days: int | None = None
    arr_min: float | None = None
    arr_max: float | None = None
    alert_rule: str | None = None
    search: str | None = None
    sort: str = "score"
    descending: bool = False
    limit: int = 50
    cursor: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, args: Mapping[str, Any], who: SignedIn, *, getlist: Any = None) -> PortfolioQuery:
        default_scope = {"csm": "mine", "manager": "team"}.get(who.role, "all")
        scope = args.get("scope") or default_scope
        if scope not in SCOPES:
            raise QueryError(f"scope must be one of {', '.join(SCOPES)}")
        raw_bands = getlist("band") if getlist else ([args["band"]] if args.get("band") else [])
        bands = tuple(b for value in raw_bands for b in value.split(",") if b)
        for b in bands:
            if b not in (*BANDS, "none"):
                raise QueryError(f"band must be one of {', '.join((*BANDS, 'none'))}")
        trend = args.get("trend") or None
        if trend is not None and trend not in TRENDS:
            raise QueryError(f"trend must be one of {', '.join(TRENDS)}")
        sort = args.get("sort") or "score"
        descending = sort.startswith("-")
        sort = sort.lstrip("-")
        if sort not in SORTS:
            raise QueryError(f"sort must be one of {', '.join(SORTS)} (a leading - sorts descending)")
        return cls(
            scope=scope, owner_id=_int(args.get("owner"), "owner"), bands=bands, trend=trend,
            segment=_text(args.get("segment")), tier=_text(args.get("tier")), stage=_text(args.get("stage")),
            renewal_days=_choice(args.get("renewal"), RENEWAL_WINDOWS, "renewal"),
            arr_min=_number(args.get("arr_min"), "arr_min"), arr_max=_number(args.get("arr_max"), "arr_max"),
            alert_rule=_text(args.get("alert")), search=_text(args.get("q")), sort=sort, descending=descending,
            limit=_choice(args.get("limit"), PAGE_SIZES, "limit") or 50, cursor=args.get("cursor") or None)

    def params(self, **change: Any) -> dict[str, Any]:
        """The query as URL parameters (for links that keep the filters), with `change` applied."""
        q = replace(self, **change) if change else self
        out: dict[str, Any] = {"scope": q.scope, "sort": ("-" if q.descending else "") + q.sort}
        for name, value in (("owner", q.owner_id), ("trend", q.trend), ("segment", q.segment), ("tier", q.tier),
                            ("stage", q.stage), ("renewal", q.renewal_days), ("arr_min", q.arr_min),
                            ("arr_max", q.arr_max), ("alert", q.alert_rule), ("q", q.search),
                            ("cursor", q.cursor)):
            if value is not None:
                out[name] = value
        if q.bands:
            out["band"] = ",".join(q.bands)
        if q.limit != 50:
            out["limit"] = q.limit
        return out


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = str(value).strip()
    if len(text) > 200 or any(ord(c) < 32 for c in text):
        raise QueryError("a filter value is too long or holds control characters")
    return text or None


def _int(value: Any, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise QueryError(f"{name} must be a whole number") from None
    if not 0 < number < 2**62:
        raise QueryError(f"{name} is out of range")
    return number


def _number(value: Any, name: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise QueryError(f"{name} must be a number") from None
    if not 0 <= number < 1e13:
        raise QueryError(f"{name} must be between 0 and 10^13")
    return number


def _choice(value: Any, allowed: tuple[int, ...], name: str) -> int | None:
    number = _int(value, name)
    if number is not None and number not in allowed:
        raise QueryError(f"{name} must be one of {', '.join(map(str, allowed))}")
    return number


@dataclass
class PortfolioPage:
    rows: list[dict[str, Any]]
    next_cursor: str | None
    as_of: dt.date | None
    query: PortfolioQuery


def latest_day(s: Session) -> dt.date | None:
    day: dt.date | None = s.scalar(select(func.max(HealthSnapshot.day)))
    return day


def open_alert_counts() -> Any:
    return (select(Alert.account_id.label("account_id"), func.count().label("alerts"))
            .where(Alert.status == "open").group_by(Alert.account_id).subquery("open_alerts"))


def _scope_filter(s: Session, q: PortfolioQuery, who: SignedIn) -> ColumnElement[bool] | None:
    if q.owner_id is not None:
        return Account.csm_user_id == q.owner_id
    if q.scope == "mine":
        return Account.csm_user_id == who.user_id
    if q.scope == "team":
        return Account.csm_user_id.in_(team_ids(s, who.user_id))
    if q.scope == "unassigned":
        return Account.csm_user_id.is_(None)
    return None


def _sort_expression(q: PortfolioQuery, alerts: Any) -> ColumnElement[Any]:
    """What a page is ordered by (then by id): an indexed column of `accounts` for score, band, trend,
    renewal and ARR (`store.portfolio_keys`), an expression over the row for the names."""
    exprs: dict[str, ColumnElement[Any]] = {
        "score": Account.score_key.expression, "band": Account.score_key.expression,
        "trend": Account.trend_key.expression, "renewal": Account.renewal_key.expression,
        "arr": Account.arr_key.expression, "name": func.lower(Account.name),
        "owner": func.coalesce(Account.owner, ""), "segment": func.coalesce(Account.segment, ""),
        "tier": func.coalesce(Account.tier, ""), "stage": func.coalesce(Account.lifecycle_stage, ""),
    }
    if q.sort == "alerts":
        return func.coalesce(alerts.c.alerts, 0)
    return exprs[q.sort]


def _decode_cursor(cursor: str, sort: str) -> tuple[Any, int]:
    try:
        value, last_id = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"==").decode())
        last_id = int(last_id)
        if sort == "renewal":
            value = dt.date.fromisoformat(value)
        elif sort in ("name", "owner", "segment", "tier", "stage"):
            value = str(value)
        else:
            value = float(value)
    except (ValueError, TypeError, UnicodeDecodeError):
        raise QueryError("cursor is not one this server gave: start again without it") from None
    return value, last_id


def _encode_cursor(value: Any, last_id: int) -> str:
    if isinstance(value, dt.date):
        value = value.isoformat()
    return base64.urlsafe_b64encode(json.dumps([value, last_id]).encode()).decode().rstrip("=")


def _filters(s: Session, q: PortfolioQuery, who: SignedIn, as_of: dt.date) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [or_(Account.lifecycle_stage.is_(None), Account.lifecycle_stage != "merged")]
    scope = _scope_filter(s, q, who)
    if scope is not None:
        where.append(scope)
    # Sorted on an indexed key, the page is read in order from the sort's index and the other conditions
    # are checked row by row until it is full: band and renewal are then written so that SQLite cannot
    # take their index instead (a range it guesses small, then a sort of every match: 22,000 accounts
    # renewing within 90 days at 100,000).
    by_index = q.sort in ("score", "band", "trend", "arr", "renewal")
    band = func.coalesce(Account.health_band, "") if by_index and q.sort not in ("score", "band") \
        else Account.health_band
    renewal = func.coalesce(Account.renewal_key, NO_RENEWAL) if by_index and q.sort != "renewal" \
        else Account.renewal_key
    if q.bands:
        named = [b for b in q.bands if b != "none"]
        # One band is an equality, so the (tenant, band, score, id) index delivers the page in score order.
        parts: list[ColumnElement[bool]] = [band == named[0]] if len(named) == 1 \
            else [band.in_(named)] if named else []
        if "none" in q.bands:
            parts.append(Account.health_band.is_(None))
        where.append(or_(*parts))
    if q.trend == "down":
        where.append(and_(Account.trend_key < -STEADY, Account.trend_key > NO_TREND))
    elif q.trend == "up":
        where.append(Account.trend_key > STEADY)
    elif q.trend == "flat":
        where.append(Account.trend_key.between(-STEADY, STEADY))
    for column, value in ((Account.segment, q.segment), (Account.tier, q.tier), (Account.lifecycle_stage, q.stage)):
        if value is not None:
            where.append(column == value)
    if q.search:
        where.append(func.lower(Account.name).contains(q.search.lower(), autoescape=True))
    if q.renewal_days is not None:  # NO_RENEWAL is never in a window; no subscription (None) never matches
        where.append(renewal.between(as_of, as_of + dt.timedelta(days=q.renewal_days)))
    if q.arr_min is not None:
        where.append(Account.arr >= q.arr_min)
    if q.arr_max is not None:
        where.append(Account.arr <= q.arr_max)
    if q.sort in ("renewal", "arr"):  # an account without an active subscription has no renewal or ARR to sort on
        where.append(Account.arr_key.is_not(None))
    if q.alert_rule:
        where.append(exists().where(Alert.account_id == Account.id, Alert.status == "open",
                                    Alert.rule == q.alert_rule))
    return where


def load_page(s: Session, q: PortfolioQuery, who: SignedIn) -> PortfolioPage:
    """One page: the filters and the keyset condition are conditions on the `accounts` row alone (plus
    open alerts when sorting by them), so the (tenant, [CSM | band,] key, id) indexes deliver the page in
    order and the query stops after `limit` + 1 rows."""
    day = latest_day(s)
    reference = reference_day(day)
    alerts = open_alert_counts()
    sort_expr = _sort_expression(q, alerts)
    query = select(Account.id, Account.name, Account.owner, Account.csm_user_id, Account.segment, Account.tier,
                   Account.lifecycle_stage, sort_expr.label("sort_value"))
    if q.sort == "alerts":
        query = query.outerjoin(alerts, alerts.c.account_id == Account.id)
    query = query.where(*_filters(s, q, who, reference))
    if q.cursor:
        value, last_id = _decode_cursor(q.cursor, q.sort)
        key, after = tuple_(sort_expr, Account.id), tuple_(literal(value, type_=sort_expr.type), literal(last_id))
        query = query.where(key < after if q.descending else key > after)
    order = (sort_expr.desc(), Account.id.desc()) if q.descending else (sort_expr.asc(), Account.id.asc())
    rows = [dict(r._mapping) for r in s.execute(query.order_by(*order).limit(q.limit + 1))]
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    _enrich(s, rows, day, reference)
    next_cursor = _encode_cursor(rows[-1]["sort_value"], rows[-1]["id"]) if more and rows else None
    return PortfolioPage(rows=rows, next_cursor=next_cursor, as_of=day, query=q)


def _enrich(s: Session, rows: list[dict[str, Any]], day: dt.date | None, as_of: dt.date) -> None:
    """Health, renewal, ARR, open alerts and the CSM's name for the page's rows only, from their sources."""
    ids = [r["id"] for r in rows]
    if not ids:
        return
    health = {r.account_id: r for r in s.execute(select(
        HealthSnapshot.account_id, HealthSnapshot.score, HealthSnapshot.band, HealthSnapshot.trend).where(
        HealthSnapshot.day == day, HealthSnapshot.account_id.in_(ids)))} if day is not None else {}
    facts = subscription_facts(as_of, ids)
    by_id = {r.account_id: r for r in s.execute(select(facts))}
    alerts = dict(s.execute(select(Alert.account_id, func.count()).where(
        Alert.account_id.in_(ids), Alert.status == "open").group_by(Alert.account_id)).all())
    csm_ids = {r["csm_user_id"] for r in rows if r["csm_user_id"]}
    names = dict(s.execute(select(User.id, func.coalesce(User.name, User.email)).where(User.id.in_(csm_ids))).all()) \
        if csm_ids else {}
    for r in rows:
        h = health.get(r["id"])
        r["score"], r["band"], r["trend"] = (h.score, h.band, h.trend) if h is not None else (None, None, None)
        f = by_id.get(r["id"])
        renewal = f.renewal if f is not None else None
        if isinstance(renewal, str):
            renewal = dt.date.fromisoformat(renewal)
        r["renewal"] = renewal
        r["arr"] = f.arr if f is not None else None
        r["alerts"] = int(alerts.get(r["id"], 0))
        r["csm"] = names.get(r["csm_user_id"]) if r["csm_user_id"] else None


_OPTIONS_CACHE: dict[tuple[str, int], tuple[float, dict[str, list[Any]]]] = {}
OPTIONS_SECONDS = 300.0


def filter_options(s: Session, tenant_id: int | None = None, now: float | None = None) -> dict[str, list[Any]]:
    """Values the filter menus offer, from this workspace's own data (kept five minutes per workspace and
    process: four scans of every account are too dear for each page at 100,000 accounts)."""
    if tenant_id is not None:
        now = time.monotonic() if now is None else now
        key = (str(s.get_bind().engine.url), tenant_id)
        cached = _OPTIONS_CACHE.get(key)
        if cached is not None and now - cached[0] < OPTIONS_SECONDS:
            return cached[1]
        options = _filter_options(s)
        _OPTIONS_CACHE[key] = (now, options)
        return options
    return _filter_options(s)


def _filter_options(s: Session) -> dict[str, list[Any]]:
    def distinct(column: Any) -> list[str]:
        return [v for v in s.scalars(select(column).where(column.is_not(None)).distinct().order_by(column)) if v]

    return {
        "segments": distinct(Account.segment), "tiers": distinct(Account.tier),
        "stages": [v for v in distinct(Account.lifecycle_stage) if v != "merged"],
        "rules": distinct(Alert.rule),
        "owners": [(uid, label) for uid, label in s.execute(
            select(User.id, func.coalesce(User.name, User.email)).where(User.role.in_(("csm", "manager")))
            .order_by(func.coalesce(User.name, User.email)))],
    }


CSV_COLUMNS = ("id", "name", "score", "band", "trend_30d", "renewal", "arr", "alerts", "csm", "owner_email",
               "segment", "tier", "stage")


def csv_row(r: Mapping[str, Any]) -> list[str]:
    def text(v: Any) -> str:
        value = "" if v is None else str(v)
        return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value  # no spreadsheet formulas

    trend = None if r["trend"] is None else round(r["trend"] * 30, 1)
    score = None if r["score"] is None else round(r["score"])
    return [str(r["id"]), text(r["name"]), "" if score is None else str(score), r["band"] or "",
            "" if trend is None else str(trend), r["renewal"].isoformat() if r["renewal"] else "",
            "" if r["arr"] is None else f"{r['arr']:.2f}", str(r["alerts"]), text(r["csm"]), text(r["owner"]),
            text(r["segment"]), text(r["tier"]), text(r["lifecycle_stage"])]



