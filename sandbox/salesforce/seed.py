"""Project the vendor-neutral `World` into native Salesforce records."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sandbox.world import Company, Presence, TeamMember, Ticket, World, present_in

from .ids import format_datetime, make_id, to_18

ROLE_LABELS = {
    "executive_sponsor": "Executive Sponsor",
    "champion": "Champion",
    "admin": "Admin",
    "user": "User",
}
PRIORITIES = {"low": "Low", "normal": "Medium", "high": "High", "urgent": "Critical"}
DEAL_STAGES = {"active": "Closed Won", "churned": "Closed Lost", "pending": "Negotiation/Review"}


def _stamps(presence: Presence, fallback: str) -> dict[str, str]:
    created = format_datetime(presence.created_at) if presence.created_at else fallback
    updated = format_datetime(presence.updated_at) if presence.updated_at else created
    return {"CreatedDate": created, "LastModifiedDate": updated, "SystemModstamp": updated}


def _sf_id(presences: dict[Any, Presence]) -> str | None:
    presence = presences.get("salesforce")
    return to_18(presence.external_id) if presence else None


def _owner_id(email: str, owners: dict[str, str]) -> str:
    if email not in owners:
        owners[email] = make_id("005", 100 + len(owners))
    return owners[email]


def project_world(world: World, now: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(sobject, record)`` for everything of the world present in Salesforce.

    The team (and any other owner) become Users, and an account's owner its ``OwnerId``; a company's
    parent becomes ``ParentId`` when the parent is in Salesforce too; explicit cross references fill
    the ``*_Id__c`` fields.
    """
    companies: dict[str, Company] = {c.key: c for c in world.companies}
    members = world.team_members()
    owners: dict[str, str] = {}
    for member in members:
        _owner_id(member.email, owners)
    yield from _accounts(world, companies, owners, now)
    yield from _users(members, owners, now)
    people_ids: dict[str, str] = {}
    yield from _contacts(world, companies, people_ids, now)
    yield from _opportunities(world, companies, now)
    yield from _cases(world, companies, people_ids, now)


def _accounts(
    world: World, companies: dict[str, Company], owners: dict[str, str], now: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    for company, presence in present_in(world.companies, "salesforce"):
        parent = companies.get(company.parent_key) if company.parent_key else None
        yield (
            "Account",
            {
                "Id": to_18(presence.external_id),
                "Name": presence.name or company.name,
                "Type": "Customer",
                "ParentId": _sf_id(parent.presence) if parent else None,
                "Website": presence.domain,
                "Industry": company.industry,
                "NumberOfEmployees": company.employees,
                "Description": None,
                "OwnerId": _owner_id(company.csm_owner, owners),
                "Zendesk_Organization_Id__c": presence.cross_refs.get("zendesk"),
                "HubSpot_Company_Id__c": presence.cross_refs.get("hubspot"),
                **_stamps(presence, now),
            },
        )


def _users(members: list[TeamMember], owners: dict[str, str], now: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The team as Users; the CSM who left is deactivated (``IsActive`` false), as Salesforce keeps
    a departed user: their records stay theirs until someone reassigns them."""
    for member in members:
        yield (
            "User",
            {
                "Id": owners[member.email],
                "Username": member.email,
                "Name": member.name,
                "Email": member.email,
                "IsActive": member.active,
                "CreatedDate": now,
                "LastModifiedDate": now,
                "SystemModstamp": now,
            },
        )


def _contacts(
    world: World, companies: dict[str, Company], people_ids: dict[str, str], now: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    for person, presence in present_in(world.people, "salesforce"):
        owner = companies.get(person.company_key)
        first, last = person.first_name, person.last_name
        if presence.name:
            first, _, last = presence.name.partition(" ")
            if not last:
                first, last = "", first
        people_ids[person.key] = to_18(presence.external_id)
        yield (
            "Contact",
            {
                "Id": to_18(presence.external_id),
                "AccountId": _sf_id(owner.presence) if owner else None,
                "FirstName": first or None,
                "LastName": last,
                "Email": person.email,
                "Phone": None,
                "Title": person.title,
                "Customer_Role__c": ROLE_LABELS.get(person.role, "User"),
                **_stamps(presence, now),
            },
        )


def _opportunities(
    world: World, companies: dict[str, Company], now: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    for deal, presence in present_in(world.deals, "salesforce"):
        account = companies.get(deal.company_key)
        yield (
            "Opportunity",
            {
                "Id": to_18(presence.external_id),
                "AccountId": _sf_id(account.presence) if account else None,
                "Name": presence.name or deal.name,
                "StageName": DEAL_STAGES.get(deal.status, "Closed Won"),
                "Amount": float(deal.arr),
                "CloseDate": deal.start_date.isoformat(),
                "Type": "New Business",
                "Seats__c": float(deal.seats),
                "Product_Tier__c": deal.tier.capitalize(),
                "Renewal_Date__c": deal.renewal_date.isoformat(),
                **_stamps(presence, now),
            },
        )


def _case_status(ticket: Ticket) -> str:
    if ticket.status in ("solved", "closed"):
        return "Closed"
    if ticket.escalated:
        return "Escalated"
    return "New" if ticket.status == "new" else "Working"


def _cases(
    world: World, companies: dict[str, Company], people_ids: dict[str, str], now: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    for ticket, presence in present_in(world.tickets, "salesforce"):
        customer = companies.get(ticket.company_key)
        closed = ticket.status in ("solved", "closed")
        stamps = _stamps(presence, now)
        if not presence.created_at:
            stamps["CreatedDate"] = format_datetime(ticket.created_at)
        if not presence.updated_at:
            stamps["LastModifiedDate"] = stamps["SystemModstamp"] = format_datetime(ticket.updated_at)
        solved: datetime | None = ticket.solved_at
        yield (
            "Case",
            {
                "Id": to_18(presence.external_id),
                "AccountId": _sf_id(customer.presence) if customer else None,
                "ContactId": people_ids.get(ticket.requester_key),
                "Subject": presence.name or ticket.subject,
                "Description": None,
                "Priority": PRIORITIES.get(ticket.priority, "Medium"),
                "Status": _case_status(ticket),
                "Origin": "Web",
                "IsEscalated": ticket.escalated,
                "IsClosed": closed,
                "ClosedDate": format_datetime(solved) if closed and solved else None,
                **stamps,
            },
        )
