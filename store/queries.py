"""Read helpers shared by scoring runs and the panels."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import ColumnElement, Float, bindparam, case, cast, func, select
from sqlalchemy.orm import Session

from store.models import Account, Subscription

T = TypeVar("T")

SYSTEM_OF_RECORD = ("salesforce", "hubspot", "zendesk")
"""Which CRM's deals count when one customer's subscription is recorded in several systems."""


def active_subscriptions(session: Session, account_ids: Iterable[int]) -> dict[int, list[Subscription]]:
    """Each account's active subscriptions in force now (no `term_end`: a renewed or lost term is history),
    from one system of record only.

    The same deal is often entered in Salesforce and in HubSpot; adding both would double the
    customer's ARR and seats (and hide a customer at seat capacity). The first system in
    `SYSTEM_OF_RECORD` that has any active subscription for the account is the one that counts.
    """
    ids = list(account_ids)
    by_account: dict[int, dict[str, list[Subscription]]] = defaultdict(lambda: defaultdict(list))
    for start in range(0, len(ids), 500):
        for sub in session.scalars(select(Subscription).where(Subscription.account_id.in_(ids[start : start + 500]),
                                                              Subscription.status == "active",
                                                              Subscription.term_end.is_(None))):
            if sub.account_id is not None:
                by_account[sub.account_id][sub.system].append(sub)
    return _of_record(by_account)


class SubscriptionTerms(NamedTuple):
    """The columns of an active subscription a scoring run reads (`active_subscription_terms`)."""

    system: str
    arr: Decimal | None
    seats_purchased: int | None
    start_date: dt.date | None
    renewal_date: dt.date | None


def active_subscription_terms(session: Session, account_ids: Iterable[int]) -> dict[int, list[SubscriptionTerms]]:
    """`active_subscriptions`, as rows of the columns a scoring run reads instead of ORM objects (a score run
    reads every account's): the same subscriptions, the same system of record, in id order."""
    ids = list(account_ids)
    by_account: dict[int, dict[str, list[SubscriptionTerms]]] = defaultdict(lambda: defaultdict(list))
    for start in range(0, len(ids), 1000):
        for account_id, system, arr, seats, start_date, renewal_date in session.execute(
                select(Subscription.account_id, Subscription.system, Subscription.arr, Subscription.seats_purchased,
                       Subscription.start_date, Subscription.renewal_date)
                .where(Subscription.account_id.in_(bindparam("ids", expanding=True)), Subscription.status == "active",
                       Subscription.term_end.is_(None)).order_by(Subscription.id), {"ids": ids[start : start + 1000]}):
            if account_id is not None:
                row = SubscriptionTerms(system, arr, seats, start_date, renewal_date)
                by_account[account_id][row.system].append(row)
    return _of_record(by_account)


def _of_record(by_account: dict[int, dict[str, list[T]]]) -> dict[int, list[T]]:
    """Each account's subscriptions of its system of record: the first of `SYSTEM_OF_RECORD` holding any."""
    out: dict[int, list[T]] = {}
    for account_id, systems in by_account.items():
        for system in (*SYSTEM_OF_RECORD, *sorted(systems)):
            if systems.get(system):
                out[account_id] = systems[system]
                break
    return out


GONE_STAGES = ("merged", "retired")
"""Lifecycle stages of accounts that are no customer of their own any more: merged into another
account, or retired when the last record standing for them was deleted in its system."""


def live_accounts() -> ColumnElement[bool]:
    """The condition that keeps merged and retired accounts out of scoring, lists and counts."""
    return Account.lifecycle_stage.is_(None) | Account.lifecycle_stage.not_in(GONE_STAGES)


def subscription_facts(as_of: dt.date, account_ids: Any = None, *, materialized: bool = False) -> Any:
    """Per account: ARR and next renewal of its active subscriptions in force on `as_of` (no `term_end` after
    it) in one system of record (the first of `SYSTEM_OF_RECORD` holding any), as the panels count them.

    The renewal is the first on or after `as_of`, else the last one (None when none names a date).
    With `account_ids` (ids, or a select of ids), only those accounts are aggregated; `materialized`
    makes it a CTE computed once, so a join on it never re-runs the aggregation per row."""
    rank = case({system: i for i, system in enumerate(SYSTEM_OF_RECORD)}, value=Subscription.system,
                else_=len(SYSTEM_OF_RECORD))
    per_system = (select(Subscription.account_id.label("account_id"), rank.label("rank"),
                         func.sum(Subscription.arr).label("arr"),
                         func.min(case((Subscription.renewal_date >= as_of, Subscription.renewal_date))).label("next"),
                         func.max(Subscription.renewal_date).label("last"))
                  .where(Subscription.status == "active", Subscription.account_id.is_not(None),
                         Subscription.term_end.is_(None) | (Subscription.term_end > as_of),
                         *([Subscription.account_id.in_(account_ids)] if account_ids is not None else []))
                  .group_by(Subscription.account_id, rank).subquery())
    ranked = select(per_system, func.row_number().over(partition_by=per_system.c.account_id,
                                                       order_by=per_system.c.rank).label("rn")).subquery()
    facts = (select(ranked.c.account_id, cast(ranked.c.arr, Float).label("arr"),
                    func.coalesce(ranked.c.next, ranked.c.last).label("renewal")).where(ranked.c.rn == 1))
    return facts.cte("facts").prefix_with("MATERIALIZED") if materialized else facts.subquery("facts")
