"""Portfolio lists as the console and API read them: every list with its count, ARR and this week's
movement, one list's members with why each is in (keyset pages), and the weekly view of followed lists.

Everything is read in the signed-in user's tenant-scoped session and within their portfolio scope (the
portfolio's rules, `console.portfolio`): a CSM sees their own accounts first and may switch to all, a
manager their team's. The memberships themselves are written only by `sync.lists`.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Date, func, literal, select, tuple_
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from console.auth import SignedIn
from console.portfolio import PortfolioQuery, QueryError, _enrich, _scope_filter, latest_day
from store.models import (
    Account,
    PortfolioList,
    PortfolioListEvent,
    PortfolioListFollow,
    PortfolioListMember,
    PortfolioListVersion,
)

WEEK_DAYS = 7
PAGE_SIZE = 50


def parse_scope(args: Mapping[str, Any], who: SignedIn) -> str:
    """The portfolio's scope (mine, team, all, unassigned) with its default for the user's role."""
    return PortfolioQuery.parse({"scope": args.get("scope") or ""}, who).scope


def scope_condition(s: Session, scope: str, who: SignedIn) -> ColumnElement[bool] | None:
    return _scope_filter(s, PortfolioQuery(scope=scope), who)


def reference_day(s: Session) -> dt.date:
    """The day lists were last evaluated as of (else the latest scored day, else today): "this week" ends there."""
    day: dt.date | None = s.scalar(select(func.max(PortfolioList.evaluated_on)))
    return day or latest_day(s) or dt.datetime.now(dt.UTC).date()


@dataclass
class ListRow:
    id: int
    name: str
    description: str
    key: str | None
    version: int
    evaluated_on: dt.date | None
    members: int
    arr: float
    entered: int
    left: int
    followed: bool


def overview(s: Session, who: SignedIn, scope: str, *, only_followed: bool = False) -> tuple[list[ListRow], dt.date]:
    """Every list (or the followed ones) with its members and their ARR in scope, and how many entered and
    left in the week ending on the reference day."""
    day = reference_day(s)
    since = day - dt.timedelta(days=WEEK_DAYS - 1)
    where = [c for c in (scope_condition(s, scope, who),) if c is not None]
    counts = {r.list_id: r for r in s.execute(
        select(PortfolioListMember.list_id, func.count().label("n"), func.sum(Account.arr).label("arr"))
        .join(Account, Account.id == PortfolioListMember.account_id).where(*where)
        .group_by(PortfolioListMember.list_id))}
    moves: dict[tuple[int, str], int] = {(r.list_id, r.kind): r.n for r in s.execute(
        select(PortfolioListEvent.list_id, PortfolioListEvent.kind, func.count().label("n"))
        .join(Account, Account.id == PortfolioListEvent.account_id)
        .where(PortfolioListEvent.day >= since, PortfolioListEvent.day <= day, *where)
        .group_by(PortfolioListEvent.list_id, PortfolioListEvent.kind))}
    followed = set(s.scalars(select(PortfolioListFollow.list_id).where(PortfolioListFollow.user_id == who.user_id)))
    rows = []
    for lst in s.scalars(select(PortfolioList).order_by(PortfolioList.id)):
        if only_followed and lst.id not in followed:
            continue
        c = counts.get(lst.id)
        rows.append(ListRow(lst.id, lst.name, lst.description, lst.key, lst.version, lst.evaluated_on,
                            int(c.n) if c else 0, float(c.arr or 0) if c else 0.0,
                            moves.get((lst.id, "entered"), 0), moves.get((lst.id, "left"), 0), lst.id in followed))
    return rows, day


def _decode(cursor: str) -> tuple[dt.date, int]:
    try:
        day, account_id = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"==").decode())
        return dt.date.fromisoformat(day), int(account_id)
    except (ValueError, TypeError, UnicodeDecodeError):
        raise QueryError("cursor is not one this server gave: start again without it") from None


def _encode(day: dt.date, account_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([day.isoformat(), account_id]).encode()).decode().rstrip("=")


@dataclass
class MemberPage:
    rows: list[dict[str, Any]]
    next_cursor: str | None


def member_page(s: Session, list_id: int, who: SignedIn, scope: str, cursor: str | None = None,
                limit: int = PAGE_SIZE) -> MemberPage:
    """One page of a list's members in scope, newest entries first (keyset on entered_on, account id), each
    with its reasons and the portfolio's columns (health, renewal, ARR, alerts, CSM)."""
    query = (select(Account.id, Account.name, Account.owner, Account.csm_user_id, Account.segment, Account.tier,
                    Account.lifecycle_stage, PortfolioListMember.entered_on, PortfolioListMember.reasons)
             .join(Account, Account.id == PortfolioListMember.account_id)
             .where(PortfolioListMember.list_id == list_id))
    scoped = scope_condition(s, scope, who)
    if scoped is not None:
        query = query.where(scoped)
    if cursor:
        day, account_id = _decode(cursor)
        query = query.where(tuple_(PortfolioListMember.entered_on, PortfolioListMember.account_id)
                            < tuple_(literal(day, type_=Date()), literal(account_id)))
    rows = [dict(r._mapping) for r in s.execute(
        query.order_by(PortfolioListMember.entered_on.desc(), PortfolioListMember.account_id.desc()).limit(limit + 1))]
    more = len(rows) > limit
    rows = rows[:limit]
    for r in rows:
        if isinstance(r["entered_on"], str):
            r["entered_on"] = dt.date.fromisoformat(r["entered_on"])
    scored = latest_day(s)
    _enrich(s, rows, scored, scored or dt.datetime.now(dt.UTC).date())
    last = rows[-1] if rows else None
    return MemberPage(rows, _encode(last["entered_on"], last["id"]) if more and last else None)


@dataclass
class Movement:
    list_id: int
    list_name: str
    account_id: int
    account_name: str
    kind: str
    day: dt.date
    reasons: list[str]


def weekly(s: Session, who: SignedIn, scope: str) -> tuple[dict[int, list[Movement]], dt.date]:
    """For each list the user follows: who entered and who left in the week ending on the reference day."""
    day = reference_day(s)
    since = day - dt.timedelta(days=WEEK_DAYS - 1)
    followed = select(PortfolioListFollow.list_id).where(PortfolioListFollow.user_id == who.user_id)
    query = (select(PortfolioListEvent.list_id, PortfolioList.name, Account.id, Account.name.label("account_name"),
                    PortfolioListEvent.kind, PortfolioListEvent.day, PortfolioListEvent.reasons)
             .join(PortfolioList, PortfolioList.id == PortfolioListEvent.list_id)
             .join(Account, Account.id == PortfolioListEvent.account_id)
             .where(PortfolioListEvent.list_id.in_(followed), PortfolioListEvent.day >= since,
                    PortfolioListEvent.day <= day)
             .order_by(PortfolioListEvent.list_id, PortfolioListEvent.day.desc(), PortfolioListEvent.id.desc()))
    scoped = scope_condition(s, scope, who)
    if scoped is not None:
        query = query.where(scoped)
    out: dict[int, list[Movement]] = {}
    for r in s.execute(query):
        out.setdefault(r[0], []).append(Movement(r[0], r[1], r[2], r[3], r[4], r[5], list(r[6] or [])))
    return out, day


def versions(s: Session, list_id: int) -> list[PortfolioListVersion]:
    return list(s.scalars(select(PortfolioListVersion).where(PortfolioListVersion.list_id == list_id)
                          .order_by(PortfolioListVersion.version.desc())))


CSV_COLUMNS = ("id", "name", "entered_on", "why", "score", "band", "renewal", "arr", "alerts", "csm", "owner_email",
               "segment", "tier", "stage")


def csv_row(r: Mapping[str, Any]) -> list[str]:
    from console.portfolio import csv_row as portfolio_row

    base = portfolio_row(r)  # id, name, score, band, trend_30d, renewal, arr, alerts, csm, owner, segment, tier, stage
    why = "; ".join(r["reasons"] or [])
    why = "'" + why if why[:1] in ("=", "+", "-", "@", "\t", "\r") else why
    return [base[0], base[1], r["entered_on"].isoformat(), why, base[2], base[3], *base[5:]]
