"""What a real Zendesk account does and the sandbox now does by default, handled by `ZendeskAdapter`
(the real zenpy against `ZendeskEmulator`): deleted tickets and organizations in the exports,
satisfaction ratings without an organization (placed through their stored ticket), type-checked organization
fields, ``https`` links."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from integrations.base import FieldUpdate, Page, Removal, TicketRecord
from store.db import Store
from store.models import SourceLink, SurveyResponse, Ticket
from store.tenants import create_tenant
from sync.fetch import fetch_records
from sync.push import HEALTH_FIELDS
from sync.runner import sync
from tests.dbtemplate import Templates
from tests.integrations import test_zendesk_adapter as zda
from tests.integrations.test_zendesk_adapter import Box, drain, ids_of

loopback, world, boot = zda.loopback, zda.world, zda.boot  # the adapter tests' fixtures

SHOW_MANY = "/api/v2/tickets/show_many.json"
VALUES = {"score": "72", "band": "good", "trend": "1.5", "reasons": "Usage up", "scored_at": "2026-11-01T12:00:00Z"}


def removed_of(pages: list[Page]) -> list[Removal]:
    return [r for p in pages for r in p.removed]


@pytest.fixture
def sqlite_store(tmp_path: Path, db_templates: Templates) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'canary.db'}"
    db_templates.migrate(url)
    store = Store(url)
    yield store
    store.dispose()


@pytest.fixture
def tenant(sqlite_store: Store) -> int:
    with sqlite_store.session() as s:
        created, _ = create_tenant(s, "acme", "Acme CS")
        return created.id


# ---------------------------------------------------------------- deleted tickets and organizations


def test_deleted_tickets_come_as_removals_never_as_open_tickets(boot: Callable[..., Box]) -> None:
    box = boot(export_deleted=True)
    adapter = box.adapter(export_page_size=20)
    _, cursor = drain(adapter, "tickets")
    box.clock.advance(300)
    gone = box.ids("tickets")[4:6]
    assert box.emulator.delete("tickets", gone) == [int(i) for i in gone]
    box.clock.advance(61)
    before = adapter.calls
    pages, _ = drain(adapter, "tickets", cursor)
    assert removed_of(pages) == [Removal(gone[0]), Removal(gone[1])]
    assert ids_of(pages) == []
    assert adapter.calls - before == 1 == len(pages)
    # A first full pull after the deletion: the deleted tickets are removals, the others tickets.
    fresh = box.adapter(export_page_size=20)
    pages, _ = drain(fresh, "tickets")
    tickets = [r for p in pages for r in p.records if isinstance(r, TicketRecord)]
    assert sorted(r.external_id for r in tickets) == sorted(set(box.ids("tickets")) - set(gone))
    assert {r.status for r in tickets} <= {"new", "open", "pending", "hold", "solved", "closed"}
    assert sorted(r.external_id for r in removed_of(pages)) == sorted(gone)
    assert fresh.calls == box.calls() - adapter.calls


def test_deleted_organizations_come_as_removals(boot: Callable[..., Box]) -> None:
    box = boot(export_deleted=True)
    adapter = box.adapter(export_page_size=7)
    _, cursor = drain(adapter, "accounts")
    box.clock.advance(300)
    gone = box.ids("organizations")[3]
    box.emulator.delete("organizations", [gone])
    box.clock.advance(61)
    before = adapter.calls
    pages, _ = drain(adapter, "accounts", cursor)
    assert (ids_of(pages), removed_of(pages)) == ([], [Removal(gone)])
    assert adapter.calls - before == 1
    full, _ = drain(box.adapter(export_page_size=7), "accounts")
    assert gone not in ids_of(full)
    assert len(ids_of(full)) == len(box.ids("organizations")) - 1
    assert removed_of(full) == [Removal(gone)]


def test_deleted_ticket_and_organization_leave_the_store(sqlite_store: Store, tenant: int,
                                                        boot: Callable[..., Box]) -> None:
    box = boot(export_deleted=True)
    adapter = box.adapter(export_page_size=50)
    sync(sqlite_store, tenant, {"zendesk": adapter})
    ticket_id, org_id = box.ids("tickets")[0], box.ids("organizations")[0]
    box.clock.advance(120)
    box.emulator.delete("tickets", [ticket_id])
    box.emulator.delete("organizations", [org_id])
    box.clock.advance(61)
    summary = sync(sqlite_store, tenant, {"zendesk": adapter}).systems["zendesk"]
    assert (summary.objects["tickets"].removed, summary.objects["accounts"].removed) == (1, 1)
    assert (summary.objects["tickets"].pulled, summary.objects["accounts"].pulled) == (0, 0)
    with sqlite_store.session(tenant) as s:
        tickets = {t.external_id: t.status for t in s.scalars(select(Ticket))}
        links = set(s.scalars(select(SourceLink.external_id).where(SourceLink.system == "zendesk")))
    assert ticket_id not in tickets and "deleted" not in tickets.values()
    assert len(tickets) == len(box.ids("tickets")) - 1
    assert org_id not in links and len(links) == len(box.ids("organizations")) - 1


# ---------------------------------------------------------------- satisfaction ratings through their ticket

LISTS = {"/api/v2/incremental/organizations.json": "accounts", "/api/v2/incremental/users/cursor.json": "contacts",
         "/api/v2/incremental/tickets/cursor.json": "tickets", "/api/v2/satisfaction_ratings.json": "satisfaction"}
"""The endpoint each object's pull lists its pages from."""


def _placed(store: Store, tenant: int) -> tuple[dict[str, int | None], dict[str, int | None], dict[str, str | None]]:
    """The stored ratings' accounts (by rating id), the zendesk links' accounts (by organization id) and the stored
    tickets' satisfaction (by ticket id)."""
    with store.session(tenant) as s:
        ratings = {r.source_ref: r.account_id for r in s.scalars(select(SurveyResponse))}
        links = dict(s.execute(select(SourceLink.external_id, SourceLink.account_id)
                               .where(SourceLink.system == "zendesk")).all())
        scores = dict(s.execute(select(Ticket.external_id, Ticket.satisfaction)).all())
    return ratings, links, scores


def _ticket_accounts(box: Box, links: dict[str, int | None]) -> dict[str, int | None]:
    """Each received rating's account as the look-up of its ticket's organization gave it (before the store placed
    ratings through their stored ticket): the link of the ticket's organization in the emulator."""
    ticket_org = {str(t["id"]): str(t["organization_id"]) for t in box.emulator.records("tickets")}
    return {str(r["id"]): links[ticket_org[str(r["ticket_id"])]]
            for r in box.emulator.records("satisfaction_ratings") if r["score"] in ("good", "bad")}


def _ticket_scores(box: Box) -> dict[str, str]:
    """Each rated ticket's score, as its received rating gives it."""
    return {str(r["ticket_id"]): r["score"] for r in box.emulator.records("satisfaction_ratings")
            if r["score"] in ("good", "bad")}


def test_ratings_are_listed_one_request_a_page_and_no_ticket_is_read_for_them(boot: Callable[..., Box]) -> None:
    box = boot(satisfaction_organization_id=False)
    adapter = box.adapter(list_page_size=25)
    pages, _ = drain(adapter, "satisfaction")
    ticket_of = {str(r["id"]): str(r["ticket_id"]) for r in box.emulator.records("satisfaction_ratings")}
    records = [r for p in pages for r in p.records]
    assert len(records) == len(box.ids("satisfaction_ratings")) == 54
    # The rating's ticket, not its account: the store places it through the ticket (`PageWriter`).
    assert [r.ticket_external_id for r in records] == [ticket_of[r.external_id] for r in records]
    assert [r.account_external_id for r in records] == [None] * len(records)
    assert box.emulator.stats.calls("GET", SHOW_MANY) == 0
    assert adapter.calls == len(pages) == 3 == box.calls()


def test_a_full_sync_reads_no_ticket_for_the_ratings_and_places_each_on_its_ticket_account(
        sqlite_store: Store, tenant: int, boot: Callable[..., Box]) -> None:
    box = boot(satisfaction_organization_id=False)
    adapter = box.adapter(export_page_size=20, list_page_size=25)
    summary = sync(sqlite_store, tenant, {"zendesk": adapter}).systems["zendesk"]
    stats = box.emulator.stats
    # One request per page listed and the owners' look-up: the tickets/show_many each page of ratings made (one
    # per page) is gone, so the pull costs exactly the rating pages fewer calls.
    assert {endpoint: stats.calls("GET", endpoint) for endpoint in LISTS} == {
        endpoint: summary.objects[obj].pages for endpoint, obj in LISTS.items()}
    assert summary.objects["satisfaction"].pages == 3
    assert stats.calls("GET", SHOW_MANY) == 0
    owners = stats.calls("GET", "/api/v2/users/show_many.json")
    assert summary.calls == box.calls() == sum(o.pages for o in summary.objects.values()) + owners
    ratings, links, scores = _placed(sqlite_store, tenant)
    # Every rating on the account its ticket's organization gave it before, which is its stored ticket's.
    assert ratings == _ticket_accounts(box, links)
    assert None not in ratings.values()
    with sqlite_store.session(tenant) as s:
        ticket_accounts = dict(s.execute(select(Ticket.external_id, Ticket.account_id)).all())
        by_ticket = dict(s.execute(select(SurveyResponse.ticket_ref, SurveyResponse.account_id)).all())
    assert by_ticket == {ref: ticket_accounts[ref] for ref in by_ticket}
    assert {ref: scores[ref] for ref in _ticket_scores(box)} == _ticket_scores(box)


def test_a_rating_whose_ticket_is_not_stored_yet_gets_its_account_when_the_ticket_comes(
        sqlite_store: Store, tenant: int, boot: Callable[..., Box]) -> None:
    box = boot(satisfaction_organization_id=False)
    adapter = box.adapter(list_page_size=25)
    sync(sqlite_store, tenant, {"zendesk": adapter}, objects=("accounts", "satisfaction"))  # no ticket stored
    ratings, links, scores = _placed(sqlite_store, tenant)
    assert scores == {}
    assert len(ratings) == 54 and set(ratings.values()) == {None}  # no ticket to place them through yet
    assert box.emulator.stats.calls("GET", SHOW_MANY) == 0
    summary = sync(sqlite_store, tenant, {"zendesk": adapter}, objects=("tickets",)).systems["zendesk"]
    assert summary.objects["tickets"].pulled == len(box.ids("tickets"))
    ratings, links, scores = _placed(sqlite_store, tenant)
    assert ratings == _ticket_accounts(box, links)  # placed by the tickets' first write
    assert None not in ratings.values()
    assert {ref: scores[ref] for ref in _ticket_scores(box)} == _ticket_scores(box)


def test_a_rating_fetched_before_its_ticket_gets_its_account_when_the_ticket_is_fetched(
        sqlite_store: Store, tenant: int, boot: Callable[..., Box]) -> None:
    """The webhook path (`sync.fetch.fetch_records`): a rating read by id maps as the pull maps it, its ticket not
    read; the ticket's own fetch places it."""
    box = boot(satisfaction_organization_id=False)
    adapter = box.adapter()
    sync(sqlite_store, tenant, {"zendesk": adapter}, objects=("accounts",))
    rating = next(r for r in box.emulator.records("satisfaction_ratings") if r["score"] in ("good", "bad"))
    rating_id, ticket_id = str(rating["id"]), str(rating["ticket_id"])
    box.emulator.stats.reset()
    fetched = fetch_records(sqlite_store, tenant, "zendesk", adapter, {"satisfaction": [rating_id]})
    assert (fetched.stopped, fetched.calls, fetched.account_ids) == (None, 1, set())
    assert box.emulator.stats.calls("GET", "/api/v2/satisfaction_ratings/{id}.json") == 1
    assert box.emulator.stats.calls("GET", SHOW_MANY) == 0
    ratings, links, scores = _placed(sqlite_store, tenant)
    assert ratings == {rating_id: None}
    fetched = fetch_records(sqlite_store, tenant, "zendesk", adapter, {"tickets": [ticket_id]})
    account = _ticket_accounts(box, links)[rating_id]
    assert account is not None
    assert (fetched.stopped, fetched.account_ids) == (None, {account})
    ratings, links, scores = _placed(sqlite_store, tenant)
    assert (ratings, scores) == ({rating_id: account}, {ticket_id: rating["score"]})


# ---------------------------------------------------------------- organization fields type-checked


def _api(box: Box, method: str, path: str, **kwargs: object) -> requests.Response:
    auth = (f"{box.emulator.credentials['email']}/token", box.emulator.credentials["token"])
    response = requests.request(method, f"{box.server.url}/api/v2/{path}", auth=auth, timeout=10, **kwargs)  # type: ignore[arg-type]
    assert response.status_code < 300, response.text
    return response


def _fields(box: Box, **types: str) -> None:
    """Organization fields an admin made before Canary's ensure_fields ran."""
    for key, kind in types.items():
        field: dict[str, object] = {"key": key, "type": kind, "title": key.replace("_", " ").title()}
        if kind == "dropdown":
            field["custom_field_options"] = [{"name": n.title(), "value": n} for n in ("good", "average", "poor")]
        _api(box, "POST", "organization_fields.json", json={"organization_field": field})


def test_push_sends_each_value_in_its_field_type(boot: Callable[..., Box]) -> None:
    """An admin made the score and trend integer fields, the band a dropdown and the date a date field."""
    box = boot(type_check_fields=True)
    _fields(box, canary_health_score="integer", canary_health_trend="integer", canary_health_band="dropdown",
            canary_scored_at="date")
    adapter = box.adapter()
    assert adapter.ensure_fields(HEALTH_FIELDS) == ["reasons"]
    org_ids = box.ids("organizations")[:3]
    result = adapter.push_fields([FieldUpdate(i, VALUES | {"band": "Good"}) for i in org_ids])
    assert (sorted(result.succeeded), result.failed) == (org_ids, {})
    assert result.calls == 2
    stored = {str(o["id"]): o["organization_fields"] for o in box.emulator.records("organizations")}
    assert {k: v for k, v in stored[org_ids[0]].items() if k.startswith("canary")} == {
        "canary_health_score": 72, "canary_health_trend": 2, "canary_health_band": "good",
        "canary_health_reasons": "Usage up", "canary_scored_at": "2026-11-01"}


def test_a_value_zendesk_refuses_fails_that_organization_alone(boot: Callable[..., Box]) -> None:
    """The emulator type-checks by default; the job's per-organization failure is that record's failure."""
    box = boot()
    _fields(box, canary_health_band="decimal")
    adapter = box.adapter()
    adapter.ensure_fields(HEALTH_FIELDS)
    good, bad = box.ids("organizations")[:2]
    before = adapter.calls
    result = adapter.push_fields([FieldUpdate(good, VALUES | {"band": None}), FieldUpdate(bad, VALUES)])
    assert result.succeeded == [good]
    assert list(result.failed) == [bad]
    assert result.failed[bad] == ("zendesk: OrganizationUpdateFailed: "
                                  "Canary Health Band: 'good' is not a valid decimal value")
    assert adapter.calls - before == result.calls == 2
    stored = {str(o["id"]): o["organization_fields"] for o in box.emulator.records("organizations")}
    assert (stored[good]["canary_health_score"], stored[bad]["canary_health_score"]) == (72, None)


# ---------------------------------------------------------------- https links


def test_https_links_by_default_and_every_walk_and_push_still_works(boot: Callable[..., Box]) -> None:
    box = boot()
    page = _api(box, "GET", "organizations.json", params={"page[size]": 2}).json()
    assert page["links"]["next"].startswith("https://") and page["organizations"][0]["url"].startswith("https://")
    adapter = box.adapter(export_page_size=5, list_page_size=5)
    for obj, native in (("accounts", "organizations"), ("contacts", "users"), ("tickets", "tickets"),
                        ("satisfaction", "satisfaction_ratings")):
        pages, _ = drain(adapter, obj)
        assert sorted(ids_of(pages)) == box.ids(native), obj
        assert len(pages) > 3
    adapter.ensure_fields(HEALTH_FIELDS)
    result = adapter.push_fields([FieldUpdate(box.ids("organizations")[0], VALUES)])
    assert result.succeeded == [box.ids("organizations")[0]] and result.calls == 2
    assert adapter.calls == box.calls() - 1  # the one request of this test itself
