"""Read helpers shared by scoring runs and the panels."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from store.models import Account, Subscription

SYSTEM_OF_RECORD = ("salesforce", "hubspot", "zendesk")
"""Which CRM's deals count when one customer's subscription is recorded in several systems."""


def active_subscriptions(session: Session, account_ids: Iterable[int]) -> dict[int, list[Subscription]]:
    """Each account's active subscriptions, from one system of record only.

    The same deal is often entered in Salesforce and in HubSpot; adding both would double the
    customer's ARR and seats (and hide a customer at seat capacity). The first system in
    `SYSTEM_OF_RECORD` that has any active subscription for the account is the one that counts.
    """
    ids = list(account_ids)
    by_account: dict[int, dict[str, list[Subscription]]] = defaultdict(lambda: defaultdict(list))
    for start in range(0, len(ids), 500):
        for sub in session.scalars(select(Subscription).where(Subscription.account_id.in_(ids[start : start + 500]),
                                                              Subscription.status == "active")):
            if sub.account_id is not None:
                by_account[sub.account_id][sub.system].append(sub)
    out: dict[int, list[Subscription]] = {}
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
