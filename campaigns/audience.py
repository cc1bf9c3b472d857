"""An audience evaluated set-wise in SQL: one statement over product users (with their contacts, usage,
accounts and list memberships), whatever the audience's size.

**A person** is a product user with an e-mail, identified by that e-mail lower-cased: one address at two
accounts (or under two user keys) is one person, enrolled once, represented by its lowest product-user id.
CRM contacts are not people of their own (they have no activity or features); they lend role and title to
the product user with the same address. Features used or not and inactivity are the person's (any of their
product users); the other conditions hold for one of their product users. ``as_of`` is the moment activity
and join dates are measured from.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, exists, func, select
from sqlalchemy.orm import Session, aliased

from campaigns.definition import Audience, parse_audience
from store.models import Account, Contact, PortfolioListMember, ProductUser, UsageDaily

PREVIEW_PEOPLE = 20


@dataclass(frozen=True)
class Person:
    email: str
    user_key: str
    account_id: int | None
    name: str | None
    time_zone: str | None


@dataclass(frozen=True)
class Preview:
    count: int
    people: list[Person]


def _conditions(audience: Audience, as_of: dt.datetime) -> list[Any]:
    pu = ProductUser
    email = func.lower(pu.email)
    where: list[Any] = [pu.email.is_not(None), pu.email != ""]
    if audience.roles or audience.title_contains:
        contact = [func.lower(Contact.email) == email]
        if audience.roles:
            contact.append(Contact.role.in_(audience.roles))
        if audience.title_contains:
            contact.append(func.lower(Contact.title).contains(audience.title_contains.lower(), autoescape=True))
        where.append(exists(select(Contact.id).where(*contact)))
    if audience.active_within_days is not None:
        where.append(pu.last_seen >= as_of - dt.timedelta(days=audience.active_within_days))
    same = aliased(ProductUser)  # the person's other product users (same address)
    if audience.inactive_days is not None:
        where.append(~exists(select(same.id).where(
            func.lower(same.email) == email, same.last_seen >= as_of - dt.timedelta(days=audience.inactive_days))))
    since = as_of.date() - dt.timedelta(days=audience.usage_window_days - 1)

    def used(event: str) -> Any:
        return exists(select(UsageDaily.id).join(same, same.user_key == UsageDaily.user_key).where(
            func.lower(same.email) == email, UsageDaily.event == event, UsageDaily.day >= since,
            UsageDaily.day <= as_of.date()))

    where += [used(e) for e in audience.used]
    where += [~used(e) for e in audience.not_used]
    if audience.tiers:
        where.append(pu.account_id.in_(select(Account.id).where(Account.tier.in_(audience.tiers))))
    if audience.joined_within_days is not None:
        where.append(pu.first_seen >= as_of - dt.timedelta(days=audience.joined_within_days))
    if audience.lists:
        where.append(pu.account_id.in_(select(PortfolioListMember.account_id)
                                       .where(PortfolioListMember.list_id.in_(audience.lists))))
    return where


def audience_select(audience: Audience, as_of: dt.datetime) -> Select[Any]:
    """Every matching product user, lowest id first (the caller keeps the first row per e-mail)."""
    pu = ProductUser
    return (select(func.lower(pu.email), pu.user_key, pu.account_id, pu.name, pu.time_zone)
            .where(and_(*_conditions(audience, as_of))).order_by(pu.id))


def people(session: Session, audience: Audience | dict[str, Any], as_of: dt.datetime,
           limit: int | None = None) -> list[Person]:
    """The audience's people, one per lower-cased e-mail, in product-user order."""
    if not isinstance(audience, Audience):
        audience = parse_audience(audience)
    seen: dict[str, Person] = {}
    for email, user_key, account_id, name, time_zone in session.execute(audience_select(audience, as_of)):
        if email not in seen:
            seen[email] = Person(email, user_key, account_id, name, time_zone)
            if limit is not None and len(seen) >= limit:
                break
    return list(seen.values())


def count(session: Session, audience: Audience, as_of: dt.datetime) -> int:
    pu = ProductUser
    return int(session.scalar(select(func.count(func.distinct(func.lower(pu.email))))
                              .where(and_(*_conditions(audience, as_of)))) or 0)


def preview(session: Session, audience: Audience | dict[str, Any], as_of: dt.datetime | None = None) -> Preview:
    """How many people the audience holds now (distinct e-mails) and the first `PREVIEW_PEOPLE` of them.
    A document is validated first (`DefinitionError`)."""
    if not isinstance(audience, Audience):
        audience = parse_audience(audience)
    when = as_of or dt.datetime.now(dt.UTC)
    return Preview(count(session, audience, when), people(session, audience, when, limit=PREVIEW_PEOPLE))
