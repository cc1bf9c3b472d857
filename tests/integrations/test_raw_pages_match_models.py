"""What a pull reads from each vendor's raw answer is what the SDK's own model path gives (the sandbox, the real
SDKs): the adapters skip the SDKs' model objects where those cost (zenpy's objects, hubspot-api-client's models) and
map the JSON as sent, so the records must be the same as those mapped from the models' ``to_dict()``; Salesforce's
SDK answers dicts either way, and its ``query_all`` gives the same records as the adapter's paging."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

import pytest

from cli.demo import sandbox_connections
from integrations.base import ObjectName, Record
from integrations.hubspot.adapter import OBJECT_TYPES
from integrations.hubspot.records import MAPPERS, PROPERTIES, linked_company
from integrations.salesforce.adapter import PULLED as SALESFORCE_PULLED
from integrations.salesforce.cursor import ModstampCursor
from integrations.salesforce.soql import incremental_query
from integrations.zendesk.records import is_customer, organization_to_account, ticket_to_ticket, user_to_contact
from sandbox.server import Sandbox
from sync.connections import build_adapter


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    # A pinned day: on the real today the world changed daily, and some days held fewer than 10 HubSpot tickets.
    with Sandbox(accounts=40, seed=11, as_of=date(2026, 12, 1)) as started:
        yield started


def _adapter(box: Sandbox, system: str, **options: Any) -> Any:
    creds, base, _ref = sandbox_connections(box)[system]
    return build_adapter(system, creds, base, **options)


def _pulled(adapter: Any, obj: ObjectName) -> list[Record]:
    return sorted((r for page in adapter.pull(obj, None) for r in page.records), key=lambda r: r.external_id)


def test_zendesk_records_from_the_raw_exports_equal_those_from_zenpy_objects(box: Sandbox) -> None:
    adapter = _adapter(box, "zendesk", resolve_owners=False)
    zenpy = adapter._zenpy
    organizations = [organization_to_account(o.to_dict(), owners={}, owner_field=adapter.owner_field)
                     for o in zenpy.organizations.incremental(start_time=0)]
    users = [user_to_contact(u.to_dict()) for u in zenpy.users.incremental(start_time=0) if is_customer(u.to_dict())]
    tickets = [ticket_to_ticket(t.to_dict()) for t in zenpy.tickets.incremental(start_time=0)
               if t.to_dict().get("status") != "deleted"]
    expected: list[tuple[ObjectName, Sequence[Record]]] = [("accounts", organizations), ("contacts", users),
                                                      ("tickets", tickets)]
    for obj, models in expected:
        raw = _pulled(adapter, obj)
        assert len(raw) >= 20, obj
        assert raw == sorted(models, key=lambda r: r.external_id), obj


@pytest.mark.parametrize("obj", ["contacts", "deals", "tickets"])
def test_hubspot_records_from_raw_pages_equal_those_from_the_sdk_models(box: Sandbox, obj: ObjectName) -> None:
    adapter = _adapter(box, "hubspot")
    object_type = OBJECT_TYPES[obj]
    modelled: list[Record] = []
    after: str | None = None
    while True:
        options: dict[str, Any] = {"limit": 100, "properties": list(PROPERTIES[object_type]),
                                   "associations": ["companies"], **({"after": after} if after else {})}
        page = adapter.connection.objects.get_page(object_type, **options)  # the SDK's model path
        for model in page.results:
            row = model.to_dict()
            modelled.append(MAPPERS[object_type](row, linked_company(row, object_type, None)))
        after = page.paging.next.after if page.paging and page.paging.next else None
        if not after:
            break
    raw = _pulled(adapter, obj)
    assert len(raw) >= 10
    assert raw == sorted(modelled, key=lambda r: r.external_id)


@pytest.mark.parametrize("obj", ["contacts", "deals", "tickets"])
def test_salesforce_records_paged_equal_those_of_the_sdk_query_all(box: Sandbox, obj: ObjectName) -> None:
    adapter = _adapter(box, "salesforce")
    spec = SALESFORCE_PULLED[obj]
    soql = incremental_query(spec.sobject, spec.fields, ModstampCursor(), scope=spec.scope)
    answer = adapter.connection.sf.query_all(soql, include_deleted=True)
    modelled = [spec.to_record(p) for p in answer["records"] if not p.get("IsDeleted")]
    raw = _pulled(adapter, obj)
    assert len(raw) >= 10
    assert raw == sorted(modelled, key=lambda r: r.external_id)

