"""A rating's account is its stored ticket's (`PageWriter._satisfaction`), and a rating stored before its ticket
takes the ticket's account when the ticket is first written (`PageWriter._rated_before`), on SQLite and PostgreSQL:
only the new tickets' unplaced ratings of the same system, the ticket's score filled from its latest rating when its
record carries none; a page of tickets with no unplaced rating in the store costs one indexed existence check."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from integrations.base import AccountRecord, Page, Record, Removal, SatisfactionRecord, TicketRecord
from store.db import Store
from store.models import SourceLink, SurveyResponse, Ticket
from store.tenants import create_tenant
from sync.writer import PageWriter, apply_identity
from tests.shared import WORLD_NOW, statements

T0 = WORLD_NOW - dt.timedelta(days=3)


@pytest.fixture
def tenant(store: Store) -> int:
    with store.session() as s:
        t, _ = create_tenant(s, "acme", "Acme CS")
        return t.id


def _write(store: Store, tenant: int, obj: str, records: list[Record], system: str = "zendesk") -> None:
    with store.session(tenant) as s:
        PageWriter(s, system).write(Page(obj, records, None))  # type: ignore[arg-type]


def _ticket(external_id: str, org: str | None, satisfaction: str | None = None, system: str = "zendesk"
            ) -> TicketRecord:
    return TicketRecord(system, external_id, T0, T0, org, f"Ticket {external_id}", satisfaction=satisfaction)


def _rating(external_id: str, ticket: str, score: str, at: dt.datetime = T0, system: str = "zendesk"
            ) -> SatisfactionRecord:
    return SatisfactionRecord(system, external_id, at, score, ticket_external_id=ticket)


def _stored(store: Store, tenant: int) -> tuple[dict[tuple[str, str], int | None], dict[str, tuple[int | None, str]]]:
    """Ratings' accounts by (source, rating id); tickets' (account, satisfaction) by ticket id."""
    with store.session(tenant) as s:
        ratings = {(str(r.source), str(r.source_ref)): r.account_id for r in s.scalars(select(SurveyResponse))}
        tickets = {t.external_id: (t.account_id, t.satisfaction) for t in s.scalars(select(Ticket))}
    return ratings, tickets


def _accounts(store: Store, tenant: int, *orgs: str) -> dict[str, int]:
    _write(store, tenant, "accounts", [AccountRecord("zendesk", org, f"Org {org}", T0, domain=f"{org}.example.org")
                                       for org in orgs])
    with store.session(tenant) as s:
        apply_identity(s)
        return {str(e): int(a) for e, a in s.execute(select(SourceLink.external_id, SourceLink.account_id))}


def test_ratings_stored_before_their_tickets_take_the_accounts_of_the_new_tickets(store: Store, tenant: int) -> None:
    account = _accounts(store, tenant, "o1", "o2")
    _write(store, tenant, "tickets", [_ticket("t6", "o2", "bad")])  # stored first: the usual order
    later = T0 + dt.timedelta(hours=1)
    _write(store, tenant, "satisfaction", [
        _rating("r1", "t1", "good"), _rating("r2", "t2", "bad"), _rating("r3", "t3", "good"),
        _rating("r6", "t6", "good"), _rating("r8", "t7", "good", at=later), _rating("r7", "t7", "bad")])
    _write(store, tenant, "satisfaction", [_rating("h1", "t1", "bad", system="hubspot")], system="hubspot")
    ratings, tickets = _stored(store, tenant)
    # Only the rating whose ticket was stored has an account; its ticket took its score.
    assert ratings == {("zendesk", "r1"): None, ("zendesk", "r2"): None, ("zendesk", "r3"): None,
                       ("zendesk", "r6"): account["o2"], ("zendesk", "r7"): None, ("zendesk", "r8"): None,
                       ("hubspot", "h1"): None}
    assert tickets == {"t6": (account["o2"], "good")}

    _write(store, tenant, "tickets", [
        _ticket("t1", "o1"),  # no score of its own: its rating's
        _ticket("t2", "o2", "good"),  # its own score, read after the rating: kept
        _ticket("t3", None),  # no organization: the rating stays unplaced, the score is still the rating's
        _ticket("t6", "o1", "bad"),  # known already: not a new ticket, its rating stays where it is
        _ticket("t7", "o1"),  # two ratings: both placed, the score the later one's
    ])
    ratings, tickets = _stored(store, tenant)
    assert ratings == {("zendesk", "r1"): account["o1"], ("zendesk", "r2"): account["o2"], ("zendesk", "r3"): None,
                       ("zendesk", "r6"): account["o2"], ("zendesk", "r7"): account["o1"],
                       ("zendesk", "r8"): account["o1"], ("hubspot", "h1"): None}  # another system's ticket t1
    assert tickets == {"t1": (account["o1"], "good"), "t2": (account["o2"], "good"), "t3": (None, "good"),
                       "t6": (account["o1"], "bad"), "t7": (account["o1"], "good")}

    # A rating written again once its ticket is stored keeps the account, through the ticket (the one rule).
    _write(store, tenant, "satisfaction", [_rating("r1", "t1", "good"), _rating("r3", "t3", "good")])
    assert _stored(store, tenant)[0] == ratings


def test_a_deleted_ticket_s_rating_is_placed_again_if_the_ticket_comes_back(store: Store, tenant: int) -> None:
    account = _accounts(store, tenant, "o1")
    _write(store, tenant, "tickets", [_ticket("t1", "o1", "good")])
    _write(store, tenant, "satisfaction", [_rating("r1", "t1", "good")])
    assert _stored(store, tenant)[0] == {("zendesk", "r1"): account["o1"]}
    with store.session(tenant) as s:
        PageWriter(s, "zendesk").write(Page("tickets", [], None, [Removal("t1")]))
    assert _stored(store, tenant) == ({("zendesk", "r1"): None}, {})
    _write(store, tenant, "tickets", [_ticket("t1", "o1", "good")])  # restored in Zendesk, exported again
    assert _stored(store, tenant) == ({("zendesk", "r1"): account["o1"]}, {"t1": (account["o1"], "good")})


def _rating_statements(seen: list[str]) -> list[str]:
    return [s.split(" WHERE")[0] for s in seen if "SURVEY_RESPONSES" in s]


def test_new_tickets_cost_one_existence_check_when_no_rating_waits(store: Store, tenant: int) -> None:
    _accounts(store, tenant, "o1")
    # A first pull: tickets before any rating.
    with statements(store) as seen:
        _write(store, tenant, "tickets", [_ticket(f"t{i}", "o1") for i in range(300)])
    assert _rating_statements(seen) == ["SELECT SURVEY_RESPONSES.ID FROM SURVEY_RESPONSES"]
    # Every rating placed (their tickets stored first): still the one check, no look-up of the tickets' ratings.
    _write(store, tenant, "satisfaction", [_rating(f"r{i}", f"t{i}", "good") for i in range(300)])
    with statements(store) as seen:
        _write(store, tenant, "tickets", [_ticket(f"t{i}", "o1") for i in range(300, 400)])
    assert _rating_statements(seen) == ["SELECT SURVEY_RESPONSES.ID FROM SURVEY_RESPONSES"]
    # Tickets already stored: no new ticket, nothing asked of the ratings.
    with statements(store) as seen:
        _write(store, tenant, "tickets", [_ticket(f"t{i}", "o1", "bad") for i in range(100)])
    assert _rating_statements(seen) == []
    # One rating waiting: the check, one look-up of the page's new tickets' ratings, one update.
    _write(store, tenant, "satisfaction", [_rating("r999", "t999", "bad")])
    with statements(store) as seen:
        _write(store, tenant, "tickets", [_ticket(f"t{i}", "o1") for i in range(900, 1000)])
    found = _rating_statements(seen)
    assert [s.split(" ")[0] for s in found] == ["SELECT", "SELECT", "UPDATE"]
    ratings, tickets = _stored(store, tenant)
    assert ratings[("zendesk", "r999")] is not None and tickets["t999"][1] == "bad"
