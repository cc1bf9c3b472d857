"""What a real Zendesk account does and the sandbox now does by default, handled by `ZendeskAdapter`
(the real zenpy against `ZendeskEmulator`): deleted tickets and organizations in the exports,
satisfaction ratings without an organization, type-checked organization fields, ``https`` links."""

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


def test_ratings_take_their_ticket_organization_in_one_request_per_page(boot: Callable[..., Box]) -> None:
    box = boot(satisfaction_organization_id=False)
    adapter = box.adapter(list_page_size=25)
    pages, _ = drain(adapter, "satisfaction")
    ticket_org = {str(t["id"]): str(t["organization_id"]) for t in box.emulator.records("tickets")}
    records = [r for p in pages for r in p.records]
    assert len(records) == len(box.ids("satisfaction_ratings")) == 54
    assert [r.account_external_id for r in records] == [ticket_org[r.ticket_external_id] for r in records]
    assert box.emulator.stats.calls("GET", SHOW_MANY) == len(pages) == 3
    assert adapter.calls == 2 * len(pages) == box.calls()


def test_a_rating_whose_ticket_is_not_stored_yet_finds_its_account(sqlite_store: Store, tenant: int,
                                                                  boot: Callable[..., Box]) -> None:
    box = boot(satisfaction_organization_id=False)
    adapter = box.adapter(list_page_size=25)
    sync(sqlite_store, tenant, {"zendesk": adapter}, objects=("accounts", "satisfaction"))  # no ticket stored
    with sqlite_store.session(tenant) as s:
        assert list(s.scalars(select(Ticket))) == []
        account_of = dict(s.execute(select(SourceLink.external_id, SourceLink.account_id)
                                    .where(SourceLink.system == "zendesk")).all())
        answers = {r.source_ref: r.account_id for r in s.scalars(select(SurveyResponse))}
    ticket_org = {str(t["id"]): str(t["organization_id"]) for t in box.emulator.records("tickets")}
    expected = {str(r["id"]): account_of[ticket_org[str(r["ticket_id"])]]
                for r in box.emulator.records("satisfaction_ratings")}
    assert answers == expected
    assert None not in answers.values()


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
