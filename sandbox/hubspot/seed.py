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
from sandbox.world import World

TICKET_PRIORITY = {"low": "LOW", "normal": "MEDIUM", "high": "HIGH", "urgent": "URGENT"}
TICKET_STAGE = {"new": "1", "pending": "2", "open": "3", "solved": "4", "closed": "4"}
DEAL_STAGE = {"active": "closedwon", "churned": "closedlost", "pending": "contractsent"}


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def seed_world(store: HubSpotStore, world: World) -> dict[str, int]:
    """Fill the store; returns how many records of each type were written."""
    now = store.clock()
    counts = {"companies": 0, "contacts": 0, "deals": 0, "tickets": 0}
    company_ids: dict[str, str] = {}
    contact_ids: dict[str, str] = {}

    for company in world.companies:
        p = company.presence.get("hubspot")
        if p is None:
            continue
        created = p.created_at or now
        store.insert(
            "companies",
            {
                "name": p.name or company.name,
                "domain": p.domain,
                "industry": company.industry,
                "numberofemployees": str(company.employees),
                "lifecyclestage": "customer",
                "salesforceaccountid": p.cross_refs.get("salesforce"),
                "zendesk_organization_id": p.cross_refs.get("zendesk"),
            },
            record_id=p.external_id,
            created_at=created,
            updated_at=p.updated_at or created,
        )
        company_ids[company.key] = p.external_id
        counts["companies"] += 1

    for company in world.companies:
        child = company_ids.get(company.key)
        parent = company_ids.get(company.parent_key) if company.parent_key else None
        if child and parent:
            store.set_parent(child, parent)

    for person in world.people:
        p = person.presence.get("hubspot")
        if p is None:
            continue
        created = p.created_at or now
        company_id = company_ids.get(person.company_key)
        store.insert(
            "contacts",
            {
                "email": person.email,
                "firstname": person.first_name,
                "lastname": person.last_name,
                "jobtitle": person.title,
                "customer_role": person.role,
                "associatedcompanyid": company_id,
            },
            record_id=p.external_id,
            created_at=created,
            updated_at=p.updated_at or created,
        )
        contact_ids[person.key] = p.external_id
        if company_id:
            store.associate("contacts", p.external_id, "companies", company_id, primary=True)
        counts["contacts"] += 1

    for deal in world.deals:
        p = deal.presence.get("hubspot")
        if p is None:
            continue
        created = p.created_at or _midnight(deal.start_date)
        store.insert(
            "deals",
            {
                "dealname": p.name or deal.name,
                "amount": format_number(deal.arr),
                "dealstage": DEAL_STAGE[deal.status],
                "closedate": iso_ms(_midnight(deal.start_date)),
                "pipeline": "default",
                "seats": str(deal.seats),
                "product_tier": deal.tier,
                "renewal_date": deal.renewal_date.isoformat(),
            },
            record_id=p.external_id,
            created_at=created,
            updated_at=p.updated_at or created,
        )
        company_id = company_ids.get(deal.company_key)
        if company_id:
            store.associate("deals", p.external_id, "companies", company_id, primary=True)
        counts["deals"] += 1

    for ticket in world.tickets:
        p = ticket.presence.get("hubspot")
        if p is None:
            continue
        store.insert(
            "tickets",
            {
                "subject": p.name or ticket.subject,
                "hs_ticket_priority": TICKET_PRIORITY[ticket.priority],
                "hs_pipeline": "0",
                "hs_pipeline_stage": TICKET_STAGE[ticket.status],
                "closed_date": iso_ms(ticket.solved_at) if ticket.solved_at else None,
            },
            record_id=p.external_id,
            created_at=p.created_at or ticket.created_at,
            updated_at=p.updated_at or ticket.updated_at,
        )
        company_id = company_ids.get(ticket.company_key)
        if company_id:
            store.associate("tickets", p.external_id, "companies", company_id, primary=True)
        requester = contact_ids.get(ticket.requester_key)
        if requester:
            store.associate("tickets", p.external_id, "contacts", requester)
        counts["tickets"] += 1
    return counts
