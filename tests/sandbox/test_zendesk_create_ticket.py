"""``POST /api/v2/tickets`` in the Zendesk emulator, through zenpy: a person's new ticket, the install's
ticket trigger fired as that person, and Zendesk's refusals for a bad priority or an unknown organization."""

from __future__ import annotations

import json

import pytest
from zenpy.lib.api_objects import Ticket
from zenpy.lib.exception import APIException

from sandbox.server import Sandbox
from sandbox.webhooks import acting_person, by_api
from tests.shared import WORLD_AS_OF, pinned_clock


def test_a_person_creates_urgent_tickets_with_zenpy() -> None:
    with pinned_clock(), Sandbox(accounts=8, seed=5, as_of=WORLD_AS_OF) as box:
        emulator = box.emulators["zendesk"]
        triggered: list[tuple[int, str | None, bool]] = []
        emulator._ticket_trigger = lambda row: triggered.append((row["id"], acting_person(), by_api()))
        person = box.person_clients().zendesk
        org = next(iter(person.organizations()))
        before = box.stats()["zendesk"]["records_written"]

        audit = person.tickets.create(Ticket(subject="Nothing loads", priority="urgent", organization_id=org.id,
                                             description="The whole team is blocked."))

        assert audit.ticket.priority == "urgent" and audit.ticket.status == "new"
        assert audit.ticket.organization_id == org.id and audit.ticket.subject == "Nothing loads"
        assert audit.audit.author_id == int(emulator.credentials["person_user_id"])
        stored = person.tickets(id=audit.ticket.id)
        assert (stored.priority, stored.organization_id) == ("urgent", org.id)
        assert box.stats()["zendesk"]["records_written"] == before + 1
        # The install's ticket trigger fired once, for the person (not Canary's API user).
        assert triggered == [(audit.ticket.id, emulator.credentials["person_user_id"], False)]

        with pytest.raises(APIException) as bad_priority:
            person.tickets.create(Ticket(subject="x", priority="blocker", organization_id=org.id))
        assert "priority" in json.loads(str(bad_priority.value))["description"]
        with pytest.raises(APIException) as unknown_org:
            person.tickets.create(Ticket(subject="x", priority="high", organization_id=999_999_999_999))
        assert "organization_id" in json.loads(str(unknown_org.value))["description"]
