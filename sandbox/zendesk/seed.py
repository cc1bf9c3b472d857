"""Project the vendor-neutral `World` into native Zendesk records.

Only records whose ``presence`` has ``"zendesk"`` appear; their ids are the integers in
``Presence.external_id``. An organization's ``external_id`` holds the Salesforce Account id and
``organization_fields.hubspot_company_id`` the HubSpot company id, when the world cross-references
them. The world's team are agents (the CSM who left suspended), and the lookup relationship field
``success_manager`` names the agent the help desk holds as the organization's owner. Domains are
stored as Zendesk would accept them in ``domain_names``: a URL form such as ``https://www.acme.com/``
becomes ``www.acme.com`` (Zendesk refuses schemes and paths, while the
``www.`` variant is a valid domain and stays).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sandbox.world import Company, Person, Presence, TeamMember, Ticket, World, present_in

HUBSPOT_FIELD_KEY = "hubspot_company_id"
OWNER_FIELD_KEY = "success_manager"
"""The organization lookup relationship field (``type: lookup``, ``relationship_target_type: zen:user``)
naming the organization's owner: an agent's user id."""
AGENT_ID_BASE = 362_000_000_000
SATISFACTION_ID_OFFSET = 5_000_000_000
"""Satisfaction rating ids: the ticket id plus this offset (its own id space in Zendesk)."""
TICKET_FORM_ID = 360_000_389_592
BRAND_ID = 360_002_256_672
CUSTOM_STATUS_IDS = {
    status: 12_480_498_776_781 + n for n, status in enumerate(("new", "open", "pending", "solved", "closed"))
}


def iso(moment: datetime) -> str:
    """Zendesk's timestamp form, whole seconds in UTC: ``2023-09-09T23:52:02Z``."""
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def stamp(moment: datetime) -> int:
    return int(as_utc(moment).timestamp())


def domain_name(raw: str | None) -> str | None:
    if not raw:
        return None
    text = raw.strip().lower()
    host = urlsplit(text).hostname if "://" in text else text.split("/")[0]
    return host or None


@dataclass
class NativeRecords:
    """Native rows keyed by id, plus each row's modification stamp (Unix seconds)."""

    organizations: dict[int, dict[str, Any]] = field(default_factory=dict)
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    satisfaction_ratings: dict[int, dict[str, Any]] = field(default_factory=dict)


def _times(presence: Presence, fallback: datetime) -> tuple[datetime, datetime]:
    created = presence.created_at or presence.updated_at or fallback
    updated = presence.updated_at or created
    return as_utc(created), as_utc(updated)


def organization_row(company: Company, presence: Presence, fallback: datetime,
                     agent_ids: dict[str, int] | None = None) -> dict[str, Any]:
    created, updated = _times(presence, fallback)
    domain = domain_name(presence.domain)
    return {
        "id": int(presence.external_id),
        "name": presence.name or company.name,
        "shared_tickets": False,
        "shared_comments": False,
        "external_id": presence.cross_refs.get("salesforce"),
        "created_at": iso(created),
        "updated_at": iso(updated),
        "domain_names": [domain] if domain else [],
        "details": None,
        "notes": None,
        "group_id": None,
        "tags": [],
        "organization_fields": {
            HUBSPOT_FIELD_KEY: presence.cross_refs.get("hubspot"),
            OWNER_FIELD_KEY: (agent_ids or {}).get(company.helpdesk_owner or ""),
        },
    }


def agent_row(member: TeamMember, agent_id: int, moment: datetime) -> dict[str, Any]:
    """A team member as a Zendesk agent (managers are admins); the CSM who left is suspended, as
    Zendesk keeps a departed agent whose tickets and fields still name them."""
    return {
        "id": agent_id,
        "name": member.name,
        "email": member.email,
        "created_at": iso(moment),
        "updated_at": iso(moment),
        "time_zone": "America/New_York",
        "iana_time_zone": "America/New_York",
        "phone": None,
        "shared_phone_number": None,
        "photo": None,
        "locale_id": 1,
        "locale": "en-US",
        "organization_id": None,
        "role": "admin" if member.role == "manager" else "agent",
        "verified": True,
        "external_id": None,
        "tags": [],
        "alias": None,
        "active": True,
        "shared": False,
        "shared_agent": False,
        "last_login_at": iso(moment),
        "two_factor_auth_enabled": None,
        "signature": None,
        "details": None,
        "notes": None,
        "role_type": None,
        "custom_role_id": None,
        "moderator": True,
        "ticket_restriction": None,
        "only_private_comments": False,
        "restricted_agent": False,
        "suspended": not member.active,
        "default_group_id": None,
        "report_csv": True,
        "user_fields": {"customer_role": None},
    }


def _login(day: date | None) -> str | None:
    if day is None:
        return None
    return iso(datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC))


def user_row(person: Person, presence: Presence, org_id: int | None, fallback: datetime) -> dict[str, Any]:
    created, updated = _times(presence, fallback)
    return {
        "id": int(presence.external_id),
        "name": presence.name or f"{person.first_name} {person.last_name}",
        "email": person.email,
        "created_at": iso(created),
        "updated_at": iso(updated),
        "time_zone": "America/New_York",
        "iana_time_zone": "America/New_York",
        "phone": None,
        "shared_phone_number": None,
        "photo": None,
        "locale_id": 1,
        "locale": "en-US",
        "organization_id": org_id,
        "role": "end-user",
        "verified": True,
        "external_id": None,
        "tags": [],
        "alias": None,
        "active": True,
        "shared": False,
        "shared_agent": False,
        "last_login_at": _login(person.last_active),
        "two_factor_auth_enabled": None,
        "signature": None,
        "details": None,
        "notes": None,
        "role_type": None,
        "custom_role_id": None,
        "moderator": False,
        "ticket_restriction": "requested",
        "only_private_comments": False,
        "restricted_agent": True,
        "suspended": False,
        "default_group_id": None,
        "report_csv": False,
        "user_fields": {"customer_role": person.role},
    }


def ticket_row(ticket: Ticket, presence: Presence, org_id: int | None, requester_id: int | None) -> dict[str, Any]:
    created = as_utc(presence.created_at or ticket.created_at)
    updated = as_utc(presence.updated_at or ticket.updated_at)
    ticket_id = int(presence.external_id)
    rating: dict[str, Any]
    if ticket.satisfaction is not None:
        rating = {
            "id": ticket_id + SATISFACTION_ID_OFFSET,
            "score": ticket.satisfaction,
            "comment": ticket.satisfaction_comment,
        }
    elif ticket.status in ("solved", "closed"):
        rating = {"score": "offered"}
    else:
        rating = {"score": "unoffered"}
    return {
        "id": ticket_id,
        "external_id": None,
        "via": {"channel": "web", "source": {"from": {}, "to": {}, "rel": None}},
        "created_at": iso(created),
        "updated_at": iso(updated),
        "type": "question",
        "subject": ticket.subject,
        "raw_subject": ticket.subject,
        "description": ticket.subject,
        "priority": ticket.priority,
        "status": ticket.status,
        "recipient": None,
        "requester_id": requester_id,
        "submitter_id": requester_id,
        "assignee_id": None,
        "organization_id": org_id,
        "group_id": None,
        "collaborator_ids": [],
        "follower_ids": [],
        "email_cc_ids": [],
        "forum_topic_id": None,
        "problem_id": None,
        "has_incidents": False,
        "is_public": True,
        "due_at": None,
        "tags": ["escalated"] if ticket.escalated else [],
        "custom_fields": [],
        "satisfaction_rating": rating,
        "sharing_agreement_ids": [],
        "custom_status_id": CUSTOM_STATUS_IDS[ticket.status],
        "fields": [],
        "followup_ids": [],
        "ticket_form_id": TICKET_FORM_ID,
        "brand_id": BRAND_ID,
        "satisfaction_probability": None,
        "allow_channelback": False,
        "allow_attachments": True,
        "from_messaging_channel": False,
        "generated_timestamp": stamp(updated),
    }


def satisfaction_row(ticket_row: dict[str, Any], ticket: Ticket) -> dict[str, Any]:
    rated_at = as_utc(ticket.solved_at or ticket.updated_at)
    return {
        "id": ticket_row["id"] + SATISFACTION_ID_OFFSET,
        "assignee_id": None,
        "group_id": None,
        "requester_id": ticket_row["requester_id"],
        "ticket_id": ticket_row["id"],
        "organization_id": ticket_row["organization_id"],
        "score": ticket.satisfaction,
        "comment": ticket.satisfaction_comment,
        "reason": None,
        "created_at": iso(rated_at),
        "updated_at": iso(rated_at),
    }


def project(world: World, now: datetime) -> NativeRecords:
    """All Zendesk rows of ``world``; rows without their own timestamps get one day before ``now``."""
    fallback = as_utc(now) - timedelta(days=1)
    out = NativeRecords()
    agent_ids: dict[str, int] = {}
    for n, member in enumerate(world.team):
        agent = agent_row(member, AGENT_ID_BASE + n * 3, fallback)
        out.users[agent["id"]] = agent
        agent_ids[member.email] = agent["id"]
    org_ids: dict[str, int] = {}
    for company, presence in present_in(world.companies, "zendesk"):
        row = organization_row(company, presence, fallback, agent_ids)
        out.organizations[row["id"]] = row
        org_ids[company.key] = row["id"]
    user_ids: dict[str, int] = {}
    for person, presence in present_in(world.people, "zendesk"):
        row = user_row(person, presence, org_ids.get(person.company_key), fallback)
        out.users[row["id"]] = row
        user_ids[person.key] = row["id"]
    for ticket, presence in present_in(world.tickets, "zendesk"):
        row = ticket_row(ticket, presence, org_ids.get(ticket.company_key), user_ids.get(ticket.requester_key))
        out.tickets[row["id"]] = row
        if ticket.satisfaction is not None:
            rating = satisfaction_row(row, ticket)
            out.satisfaction_ratings[rating["id"]] = rating
    return out
