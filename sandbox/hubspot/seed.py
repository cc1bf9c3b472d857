"""Project the vendor-neutral `World` into HubSpot companies, contacts, deals and tickets.

Only records whose ``presence`` has ``"hubspot"`` appear; ids are the presence's
``external_id``; ``salesforceaccountid`` / ``zendesk_organization_id`` come from its
``cross_refs``; a company's ``parent_key`` becomes a parent/child company association.
Timestamps come from the presence when set (many records may share one on purpose),
otherwise from the world's own dates, otherwise ``now``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sandbox.hubspot.store import HubSpotStore, format_number, iso_ms
from sandbox.world import Presence, World, present_in

TICKET_PRIORITY = {"low": "LOW", "normal": "MEDIUM", "high": "HIGH", "urgent": "URGENT"}
TICKET_STAGE = {"new": "1", "pending": "2", "open": "3", "solved": "4", "closed": "4"}
DEAL_STAGE = {"active": "closedwon", "churned": "closedlost", "pending": "contractsent"}


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


OWNER_ID_BASE = 51_000_100
USER_ID_BASE = 9_586_500
TEAM_ID = "178588"


def seed_world(store: HubSpotStore, world: World) -> dict[str, int]:
    """Fill the store; returns how many records of each type were written."""
    owner_ids = _owners(store, world)
    company_ids = _companies(store, world, owner_ids)
    contact_ids = _contacts(store, world, company_ids)
    deals = _deals(store, world, company_ids)
    tickets = _tickets(store, world, company_ids, contact_ids)
    return {"companies": len(company_ids), "contacts": len(contact_ids), "deals": deals, "tickets": tickets}


def _put(
    store: HubSpotStore,
    object_type: str,
    properties: dict[str, str | None],
    presence: Presence,
    created: datetime,
    updated: datetime,
    company_id: str | None = None,
) -> None:
    """Insert one record with the presence's id, primary-associated to its company when it has one."""
    store.insert(object_type, properties, record_id=presence.external_id, created_at=created, updated_at=updated)
    if company_id:
        store.associate(object_type, presence.external_id, "companies", company_id, primary=True)


def _owners(store: HubSpotStore, world: World) -> dict[str, str]:
    """The team as owners (``/crm/v3/owners``): e-mail -> owner id. The CSM who left is archived, as
    HubSpot archives the owner of a deactivated user (``userId`` gone, ``userIdIncludingInactive`` kept)."""
    stamp = iso_ms(store.clock())
    owner_ids: dict[str, str] = {}
    store.owners.clear()
    for n, member in enumerate(world.team_members()):
        owner_id = str(OWNER_ID_BASE + n * 7)
        first, _, last = member.name.partition(" ")
        store.owners[owner_id] = {
            "id": owner_id,
            "email": member.email,
            "type": "PERSON",
            "firstName": first,
            "lastName": last,
            "userId": USER_ID_BASE + n if member.active else None,
            "userIdIncludingInactive": USER_ID_BASE + n,
            "createdAt": stamp,
            "updatedAt": stamp,
            "archived": not member.active,
            "teams": [{"id": TEAM_ID, "name": "Customer Success", "primary": True}],
        }
        owner_ids[member.email] = owner_id
    return owner_ids


def _companies(store: HubSpotStore, world: World, owner_ids: dict[str, str]) -> dict[str, str]:
    now = store.clock()
    company_ids: dict[str, str] = {}
    for company, p in present_in(world.companies, "hubspot"):
        created = p.created_at or now
        properties: dict[str, str | None] = {
            "name": p.name or company.name,
            "domain": p.domain,
            "industry": company.industry,
            "numberofemployees": str(company.employees),
            "lifecyclestage": "customer",
            "salesforceaccountid": p.cross_refs.get("salesforce"),
            "zendesk_organization_id": p.cross_refs.get("zendesk"),
            "hubspot_owner_id": owner_ids.get(company.csm_owner),
        }
        _put(store, "companies", properties, p, created, p.updated_at or created)
        company_ids[company.key] = p.external_id
    for company in world.companies:
        child = company_ids.get(company.key)
        parent = company_ids.get(company.parent_key) if company.parent_key else None
        if child and parent:
            store.set_parent(child, parent)
    return company_ids


def _contacts(store: HubSpotStore, world: World, company_ids: dict[str, str]) -> dict[str, str]:
    now = store.clock()
    contact_ids: dict[str, str] = {}
    for person, p in present_in(world.people, "hubspot"):
        created = p.created_at or now
        company_id = company_ids.get(person.company_key)
        properties: dict[str, str | None] = {
            "email": person.email,
            "firstname": person.first_name,
            "lastname": person.last_name,
            "jobtitle": person.title,
            "customer_role": person.role,
            "associatedcompanyid": company_id,
        }
        _put(store, "contacts", properties, p, created, p.updated_at or created, company_id)
        contact_ids[person.key] = p.external_id
    return contact_ids


def _deals(store: HubSpotStore, world: World, company_ids: dict[str, str]) -> int:
    count = 0
    for deal, p in present_in(world.deals, "hubspot"):
        created = p.created_at or _midnight(deal.start_date)
        properties: dict[str, str | None] = {
            "dealname": p.name or deal.name,
            "amount": format_number(deal.arr),
            "dealstage": DEAL_STAGE[deal.status],
            "closedate": iso_ms(_midnight(deal.start_date)),
            "pipeline": "default",
            "seats": str(deal.seats),
            "product_tier": deal.tier,
            "renewal_date": deal.renewal_date.isoformat(),
        }
        _put(store, "deals", properties, p, created, p.updated_at or created, company_ids.get(deal.company_key))
        count += 1
    return count


def _tickets(
    store: HubSpotStore, world: World, company_ids: dict[str, str], contact_ids: dict[str, str]
) -> int:
    count = 0
    for ticket, p in present_in(world.tickets, "hubspot"):
        properties: dict[str, str | None] = {
            "subject": p.name or ticket.subject,
            "hs_ticket_priority": TICKET_PRIORITY[ticket.priority],
            "hs_pipeline": "0",
            "hs_pipeline_stage": TICKET_STAGE[ticket.status],
            "closed_date": iso_ms(ticket.solved_at) if ticket.solved_at else None,
        }
        created, updated = p.created_at or ticket.created_at, p.updated_at or ticket.updated_at
        _put(store, "tickets", properties, p, created, updated, company_ids.get(ticket.company_key))
        requester = contact_ids.get(ticket.requester_key)
        if requester:
            store.associate("tickets", p.external_id, "contacts", requester)
        count += 1
    return count
