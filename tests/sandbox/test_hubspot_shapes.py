"""The emulator's answers carry the keys, types and nesting of real HubSpot payloads.

Each case sends one raw request to the emulator and compares the answer with a recorded or
documented vendor payload from ``shared/vendor-payloads/hubspot/`` (see its SOURCES.md),
then parses the answer with the SDK's own model class.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from hubspot.crm.associations.v4 import ApiClient as AssociationsApiClient
from hubspot.crm.companies import ApiClient as CompaniesApiClient
from hubspot.crm.properties import ApiClient as PropertiesApiClient

from sandbox.core import LoopbackServer
from sandbox.hubspot import HubSpotEmulator
from tests.sandbox.test_hubspot import make_world
from tests.shared import vendor_payloads

PAYLOADS = vendor_payloads("hubspot")

FREE_FORM = {"properties", "context"}  # maps whose keys are data, not schema


def vendor(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())  # a missing recording fails loudly


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


ALLOWED_EXTRA: frozenset[str] = frozenset(
    {
        # A property definition: HubSpot's ``Property`` schema lists these, its published example
        # (``property_create_response_spec_example.json``) leaves them out.
        "archived",
        "calculated",
        "createdAt",
        "dataSensitivity",
        "description",
        "externalOptions",
        "updatedAt",
    }
)
"""Keys ours may carry beyond a recorded payload's, each because real payloads vary there."""


def assert_same_shape(theirs: Any, ours: Any, path: str = "$") -> None:
    """Exactly the keys of the vendor payload (bar `ALLOWED_EXTRA`), with the same JSON type, recursively."""
    if theirs is None or (ours is None and isinstance(theirs, str)):
        return  # nullable on one side: HubSpot labels and property values are str | null
    assert _kind(ours) == _kind(theirs), f"{path}: ours is {_kind(ours)}, vendor's is {_kind(theirs)}"
    if isinstance(theirs, dict):
        extra = set(ours) - set(theirs) - ALLOWED_EXTRA
        assert not extra, f"{path}: keys the vendor does not send {sorted(extra)}"
        for key, value in theirs.items():
            assert key in ours, f"{path}: key {key!r} missing (ours: {sorted(ours)})"
            if key in FREE_FORM:
                assert isinstance(ours[key], dict), f"{path}.{key} must be an object"
                continue
            assert_same_shape(value, ours[key], f"{path}.{key}")
    elif isinstance(theirs, list) and theirs and ours:
        assert_same_shape(theirs[0], ours[0], f"{path}[0]")


@pytest.fixture(scope="module")
def portal() -> Iterator[tuple[HubSpotEmulator, LoopbackServer, requests.Session]]:
    emu = HubSpotEmulator(
        clock=lambda: datetime(2026, 11, 20, 10, 15, tzinfo=UTC),
        requests_per_10s=10_000,
        search_requests_per_second=10_000,
    )
    emu.seed(make_world(30))
    with LoopbackServer(emu.wsgi_app) as server:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {emu.access_token}"
        yield emu, server, session
        session.close()


Portal = tuple[HubSpotEmulator, LoopbackServer, requests.Session]


def call(portal: Portal, method: str, path: str, body: Any = None) -> requests.Response:
    _, server, session = portal
    return session.request(method, server.url + path, json=body, timeout=10)


CASES: list[tuple[str, str, str, Any, int, str, Any]] = [
    # (vendor file, method, path, body, expected status, SDK model, SDK api client)
    (
        "companies_page_spec_examples.json",
        "GET",
        "/crm/v3/objects/companies?limit=2",
        None,
        200,
        "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging",
        CompaniesApiClient,
    ),
    (
        "companies_search_response.json",
        "POST",
        "/crm/v3/objects/companies/search",
        {
            "filterGroups": [{"filters": [{"propertyName": "name", "operator": "EQ", "value": "Company 3"}]}],
            "properties": ["name", "domain", "hs_lastmodifieddate"],
        },
        200,
        "CollectionResponseWithTotalSimplePublicObjectForwardPaging",
        CompaniesApiClient,
    ),
    (
        "companies_batch_update_response.json",
        "POST",
        "/crm/v3/objects/companies/batch/update",
        {"inputs": [{"id": "1001", "properties": {"domain": "renamed.example"}}]},
        200,
        "BatchResponseSimplePublicObject",
        CompaniesApiClient,
    ),
    (
        "companies_batch_create_response.json",
        "POST",
        "/crm/v3/objects/companies/batch/create",
        {"inputs": [{"properties": {"name": "New Co", "domain": "new.example"}}]},
        201,
        "BatchResponseSimplePublicObject",
        CompaniesApiClient,
    ),
    (
        "associations_v4_list.json",
        "GET",
        "/crm/v4/objects/companies/1000/associations/contacts",
        None,
        200,
        "CollectionResponseMultiAssociatedObjectWithLabelForwardPaging",
        AssociationsApiClient,
    ),
    (
        "associations_v4_batch_read.json",
        "POST",
        "/crm/v4/associations/deals/companies/batch/read",
        {"inputs": [{"id": "70001"}, {"id": "70002"}]},
        200,
        "BatchResponsePublicAssociationMultiWithLabel",
        AssociationsApiClient,
    ),
    (
        "property_create_response_spec_example.json",
        "POST",
        "/crm/v3/properties/contacts",
        {
            "name": "canary_tier",
            "label": "Canary tier",
            "type": "enumeration",
            "fieldType": "select",
            "groupName": "contactinformation",
            "options": [{"label": "Option A", "value": "A"}, {"label": "Option B", "value": "B"}],
        },
        201,
        "ModelProperty",
        PropertiesApiClient,
    ),
]


@pytest.mark.parametrize(
    ("payload", "method", "path", "body", "status", "model", "client"), CASES, ids=[c[0] for c in CASES]
)
def test_answer_matches_vendor_payload_and_parses_with_the_sdk(
    portal: Portal, payload: str, method: str, path: str, body: Any, status: int, model: str, client: Any
) -> None:
    theirs = vendor(payload)
    response = call(portal, method, path, body)
    assert response.status_code == status, response.text
    ours = response.json()
    assert_same_shape(theirs, ours)
    parsed = client()._ApiClient__deserialize(ours, model)
    assert type(parsed).__name__ == model
    assert parsed.to_dict()


@pytest.mark.parametrize(
    ("payload", "method", "path", "body", "status", "headers"),
    [
        (
            "error_400_batch_over_100_inputs.json",
            "POST",
            "/crm/v3/objects/contacts/batch/read",
            {"inputs": [{"id": str(i)} for i in range(107)], "properties": [], "propertiesWithHistory": []},
            400,
            None,
        ),
        ("error_401_invalid_authentication.json", "GET", "/crm/v3/objects/companies", None, 401, {}),
    ],
)
def test_error_bodies_match_vendor_keys(
    portal: Portal, payload: str, method: str, path: str, body: Any, status: int, headers: Any
) -> None:
    theirs = vendor(payload)
    _, server, _ = portal
    if headers is not None:  # no Authorization at all
        response = requests.request(method, server.url + path, json=body, timeout=10)
    else:
        response = call(portal, method, path, body)
    assert response.status_code == status
    ours = response.json()
    assert set(ours) == set(theirs)
    assert ours["message"] == theirs["message"]
    assert ours["category"] == theirs["category"]
    assert response.headers["Content-Type"] == "application/json;charset=utf-8"


def test_search_429_matches_the_recorded_one() -> None:
    theirs = vendor("error_429_secondly_limit_search.json")
    recorded = vendor("error_429_secondly_limit_search_headers.json")
    emu = HubSpotEmulator(search_requests_per_second=1, monotonic=lambda: 1.0)
    with LoopbackServer(emu.wsgi_app) as server:
        url = f"{server.url}/crm/v3/objects/companies/search"
        auth = {"Authorization": f"Bearer {emu.access_token}"}
        assert requests.post(url, json={}, headers=auth, timeout=10).status_code == 200
        response = requests.post(url, json={}, headers=auth, timeout=10)
    assert response.status_code == recorded["status"] == 429
    assert response.json().keys() == theirs.keys()
    assert response.json()["message"] == theirs["message"]
    assert {h.lower() for h in recorded["headers"]} <= {h.lower() for h in response.headers}


def test_rate_limit_headers_match_the_recorded_batch_update(portal: Portal) -> None:
    recorded = vendor("response_headers_rate_limit_batch_update.json")
    response = call(
        portal,
        "POST",
        "/crm/v3/objects/companies/batch/update",
        {"inputs": [{"id": "1002", "properties": {"city": "Oslo"}}]},
    )
    assert response.status_code == recorded["status"]
    missing = {h for h in recorded["headers"] if h.lower() not in {k.lower() for k in response.headers}}
    assert not missing, missing
    for name in ("X-HubSpot-RateLimit-Daily", "X-HubSpot-RateLimit-Max", "X-HubSpot-RateLimit-Remaining"):
        assert response.headers[name].isdigit()


def test_batch_update_207_errors_carry_the_template_keys(portal: Portal) -> None:
    template = vendor("companies_batch_update_207_template.json")
    response = call(
        portal,
        "POST",
        "/crm/v3/objects/companies/batch/update",
        {"inputs": [{"id": "1003", "properties": {"city": "Oslo"}}, {"id": "55555", "properties": {}}]},
    )
    assert response.status_code == 207
    ours = response.json()
    wanted = {"status", "results", "startedAt", "completedAt", "numErrors", "errors"}
    assert wanted <= set(template) and wanted <= set(ours)
    error_keys = {"category", "context", "errors", "links", "message", "status"}
    assert error_keys <= set(template["errors"][0])
    assert error_keys <= set(ours["errors"][0])
    parsed = CompaniesApiClient()._ApiClient__deserialize(ours, "BatchResponseSimplePublicObjectWithErrors")
    assert parsed.errors[0].context == {"ids": ["55555"]}
