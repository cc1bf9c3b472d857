"""The store side of revenue analytics: subscriptions' derived term ends and movements, renewal forecast calls,
and the workspace's analytics settings. The rules themselves are pure, in `analytics` (docs/analytics.md).

`refresh` runs whenever sync writes, deletes or moves an account's subscriptions (`sync.writer.PageWriter`,
before the portfolio keys, which count only the terms in force): it recomputes, from all the account's
subscriptions and their versions, each term's `term_end` and the account's `SubscriptionMovement` rows —
the same answer whatever order the deals arrived in. Every function takes a tenant-scoped session.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
from sqlalchemy import BigInteger, bindparam, case, cast, delete, func, insert, literal, select, update
from sqlalchemy.orm import Session

from analytics.forecast import check_call
from store.arrays import day_ordinal, int_columns
from store.audit import record_audit
from store.models import (
    BANDS,
    RenewalCall,
    Subscription,
    SubscriptionMovement,
    SubscriptionVersion,
    Tenant,
)
from store.panel_views import touches
from store.scoping import current_tenant

CHUNK = 500


class RevenueError(ValueError):
    """Bad input for a forecast call or an analytics setting; the message says what to fix."""


# --------------------------------------------------------------------------- forecast calls

def record_call(session: Session, account_id: int, renewal_date: dt.date, checkpoint: int, call: str,
                expected_arr: Any, note: str | None, actor: str, user_id: int | None) -> RenewalCall:
    """Record (or replace) a CSM's forecast call at a renewal's 6- or 3-month checkpoint; audited."""
    try:
        check_call(checkpoint, call)  # the one rule (analytics.forecast): 6 or 3 months, no 'monitor' at 3
    except ValueError as exc:
        raise RevenueError(str(exc)) from None
    amount: Decimal | None = None
    if expected_arr not in (None, ""):
        try:
            amount = Decimal(str(expected_arr)).quantize(Decimal("0.01"))
        except InvalidOperation:
            raise RevenueError(f"expected ARR must be a number, not {expected_arr!r}") from None
        if amount < 0:
            raise RevenueError("expected ARR cannot be negative")
    row = session.scalar(select(RenewalCall).where(RenewalCall.account_id == account_id,
                                                   RenewalCall.renewal_date == renewal_date,
                                                   RenewalCall.checkpoint == checkpoint))
    if row is None:
        row = RenewalCall(account_id=account_id, renewal_date=renewal_date, checkpoint=checkpoint)
        session.add(row)
    row.call, row.expected_arr, row.note, row.user_id = call, amount, (note or "").strip() or None, user_id
    row.made_at = dt.datetime.now(dt.UTC)
    record_audit(session, actor, "renewal.call", f"account {account_id}", user_id,
                 renewal_date=renewal_date.isoformat(), checkpoint=checkpoint, call=call)
    return row


# --------------------------------------------------------------------------- settings

DEFAULT_PROBABILITIES: dict[str, float] = {"good": 0.95, "average": 0.75, "poor": 0.45, "none": 0.75}
"""p(band) of the renewal forecast before the workspace's own renewals recalibrate it (docs/analytics.md)."""


def probabilities(tenant: Tenant) -> dict[str, float]:
    return {**DEFAULT_PROBABILITIES, **(tenant.renewal_probabilities or {})}


def set_settings(session: Session, gross_margin: Any, renewal_probabilities: Mapping[str, Any], actor: str,
                 user_id: int | None) -> bool:
    """Set the workspace's gross margin (0–1) and starting p(band) (each 0–1); audited; True when changed."""
    tenant = session.get(Tenant, current_tenant(session))
    if tenant is None:
        raise RevenueError("no workspace")
    margin = _fraction("gross margin", gross_margin)
    wanted = {band: _fraction(f"p({band})", renewal_probabilities[band])
              for band in (*BANDS, "none") if renewal_probabilities.get(band) not in (None, "")}
    unknown = sorted(set(renewal_probabilities) - {*BANDS, "none"})
    if unknown:
        raise RevenueError(f"no band {', '.join(unknown)}: bands are {', '.join((*BANDS, 'none'))}")
    own = {band: p for band, p in wanted.items() if p != DEFAULT_PROBABILITIES[band]} or None
    if tenant.gross_margin == margin and tenant.renewal_probabilities == own:
        return False
    record_audit(session, actor, "analytics.settings", tenant.slug, user_id, gross_margin=margin,
                 renewal_probabilities=own or {})
    tenant.gross_margin, tenant.renewal_probabilities = margin, own
    return True


def _fraction(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RevenueError(f"{name} must be a number between 0 and 1, not {value!r}") from None
    if not 0 < number <= 1:
        raise RevenueError(f"{name} must be above 0 and at most 1 (e.g. 0.8 for 80 %), not {number}")
    return number


# --------------------------------------------------------------------------- derived history


def load_terms(session: Session, account_ids: Iterable[int] | None = None) -> list[Any]:
    """The `analytics.timeline.SubscriptionTerm` of every subscription of `account_ids` (None: all), read as
    plain rows (no ORM objects: a report builds the whole workspace's timeline from them)."""
    return _load_terms(session, account_ids)[0]


WHOLE_READ_SHARE = 4
"""`_load_terms` reads every subscription once, and keeps those of the accounts asked for, when the accounts
are at least a 1/this share of the workspace's subscriptions (a first or full pull's refresh names nearly every
account: 20 chunked reads of 500 accounts' subscriptions, and as many of their stored term ends, became one of
each)."""


def _load_terms(session: Session, account_ids: Iterable[int] | None = None
                ) -> tuple[list[Any], list[tuple[int, int, dt.date | None]]]:
    """`load_terms`, and each term's (subscription id, account, stored ``term_end``), read by the same rows."""
    from analytics.timeline import SubscriptionTerm

    ids = None if account_ids is None else sorted(set(account_ids))
    keep: set[int] | None = None
    if ids is not None and len(ids) > CHUNK and len(ids) * WHOLE_READ_SHARE >= (session.scalar(
            select(func.count()).select_from(Subscription).where(Subscription.account_id.is_not(None))) or 0):
        keep = set(ids)  # most of the workspace: one read of all, those asked for kept
        ids = None
    chunks = [None] if ids is None else [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]
    columns = (Subscription.id, Subscription.account_id, Subscription.system, Subscription.arr,
               Subscription.start_date, Subscription.renewal_date, Subscription.status, Subscription.term_end)
    terms: list[Any] = []
    stored: list[tuple[int, int, dt.date | None]] = []
    for chunk in chunks:
        where = [Subscription.account_id.is_not(None)]
        if chunk is not None:
            where.append(Subscription.account_id.in_(chunk))
        rows = session.execute(select(*columns).where(*where)).all()
        versions: dict[int, list[Any]] = defaultdict(list)
        edited = select(SubscriptionVersion.subscription_id, SubscriptionVersion.seen_on,
                        SubscriptionVersion.arr_before, SubscriptionVersion.arr_after).order_by(
            SubscriptionVersion.seen_on, SubscriptionVersion.id)
        if chunk is not None:
            edited = edited.join(Subscription, Subscription.id == SubscriptionVersion.subscription_id).where(
                Subscription.account_id.in_(chunk))
        for v in session.execute(edited):
            versions[v.subscription_id].append(v)
        for sub_id, account_id, system, arr, start, renewal, status, term_end in rows:
            assert account_id is not None  # the query leaves those out
            if keep is not None and account_id not in keep:
                continue
            terms.append(SubscriptionTerm(
                key=str(sub_id), account=account_id, system=system, arr=arr or Decimal(0), start=start,
                renewal=renewal, status=status,
                versions=_arr_versions(start, arr, versions[sub_id]) if sub_id in versions else ()))
            stored.append((sub_id, account_id, term_end))
    return terms, stored


def load_columns(session: Session) -> Any:
    """Every subscription of the workspace as `analytics.timeline.TermColumns`: one pass of integers (no ORM
    rows), plus the few ARR versions (what `load_terms` gives, for a whole workspace's timeline)."""
    from analytics.timeline import STATUSES, TermColumns

    systems = tuple(sorted(s for s in session.scalars(select(Subscription.system).distinct()) if s is not None))
    cents = cast(func.round(func.coalesce(Subscription.arr, 0) * 100), BigInteger)
    status = case(*((Subscription.status == name, code) for code, name in enumerate(STATUSES)), else_=-1)
    system = case(*((Subscription.system == name, code) for code, name in enumerate(systems)), else_=-1) \
        if systems else literal(0)
    ids, account, system_code, amount, start, renewal, state = int_columns(session, select(
        Subscription.id, Subscription.account_id, system, cents, day_ordinal(session, Subscription.start_date),
        day_ordinal(session, Subscription.renewal_date), status).where(Subscription.account_id.is_not(None))
        .order_by(Subscription.id), (Subscription,))
    bad = np.flatnonzero(state < 0)
    if len(bad):
        raise ValueError(f"subscription {int(ids[bad[0]])} has a status outside {', '.join(STATUSES)}")
    versions: dict[int, list[Any]] = defaultdict(list)
    for v in session.execute(select(SubscriptionVersion.subscription_id, SubscriptionVersion.seen_on,
                                    SubscriptionVersion.arr_before, SubscriptionVersion.arr_after)
                             .order_by(SubscriptionVersion.seen_on, SubscriptionVersion.id)):
        versions[v.subscription_id].append(v)
    edited: dict[int, tuple[tuple[dt.date, Decimal], ...]] = {}
    for sub_id, seen in versions.items():
        row = int(np.searchsorted(ids, sub_id))  # ids ascending (ORDER BY id)
        if row == len(ids) or ids[row] != sub_id:
            continue  # a version of a subscription without an account
        start_day = dt.date.fromordinal(int(start[row])) if start[row] else None
        steps = _arr_versions(start_day, Decimal(int(amount[row])).scaleb(-2), seen)
        if steps:
            edited[row] = steps
    return TermColumns(ids=ids, account=account, system=system_code, systems=systems, cents=amount, start=start,
                       renewal=renewal, status=state, versions=edited)


def _arr_versions(start: dt.date | None, arr: Decimal | None,
                  versions: list[Any]) -> tuple[tuple[dt.date, Decimal], ...]:
    """(effective day, ARR) steps of an ARR edited in place: the first value from the start, each later one from
    the day the vendor changed it. Empty when the ARR never changed."""
    steps = [(max(v.seen_on, start), v.arr_after or Decimal(0)) for v in versions
             if v.arr_before != v.arr_after] if start is not None else []
    if start is None or not steps or steps[-1][1] != (arr or Decimal(0)):
        return ()  # never edited in place, or an earlier edit not recorded: the current ARR throughout
    first = next(v.arr_before for v in versions if v.arr_before != v.arr_after) or Decimal(0)
    return ((start, first), *steps)


def refresh(session: Session, account_ids: Iterable[int]) -> int:
    """Recompute `term_end` and the movements of `account_ids` from all their subscriptions; returns how many
    movement rows they have now (renewals included)."""
    from analytics.movements import movements, renewals
    from analytics.timeline import build_timeline

    ids = sorted(set(account_ids))
    if not ids:
        return 0
    tenant_id = current_tenant(session)
    if tenant_id is None:
        raise ValueError("subscriptions' movements are refreshed in a tenant's session")
    terms, stored = _load_terms(session, ids)  # with each subscription's stored term end, by the same rows
    timeline = build_timeline(terms)
    ends = timeline.ends
    # Plain statements, no ORM rows: the sync writer calls this for every page of deals.
    ended: list[dict[str, Any]] = []
    touched: set[int] = set()
    for sub_id, account_id, term_end in stored:
        end = ends.get(str(sub_id))
        if term_end != end:
            ended.append({"b_id": sub_id, "b_end": end})
            touched.add(account_id)
    subscriptions: Any = Subscription.__table__
    if ended:
        session.execute(update(subscriptions).where(subscriptions.c.id == bindparam("b_id"),
                                                    subscriptions.c.tenant_id == tenant_id)
                        .values(term_end=bindparam("b_end")), ended, execution_options=touches(touched))
    for i in range(0, len(ids), CHUNK):
        session.execute(delete(SubscriptionMovement).where(SubscriptionMovement.account_id.in_(ids[i : i + CHUNK])))
    days = [d for t in terms for d in (t.start, t.renewal) if d is not None]
    if not days:
        return 0
    first, end = min(days), max(days) + dt.timedelta(days=1)
    rows = [{"tenant_id": tenant_id, "account_id": m.account, "day": m.day, "kind": m.kind, "arr_before": m.before,
             "arr_after": m.after, "delta": m.delta} for m in movements(timeline, first, end)]
    rows += [{"tenant_id": tenant_id, "account_id": r.account, "day": r.day, "kind": "renewal",
              "arr_before": r.up + r.continuing, "arr_after": r.up + r.continuing + r.delta, "delta": r.delta}
             for r in renewals(timeline, first, end)]
    if rows:
        table: Any = SubscriptionMovement.__table__
        session.execute(insert(table), rows)
    return len(rows)
