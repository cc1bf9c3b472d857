"""The emulators' consent endpoints answer like the vendors, errors included: HubSpot communication preferences v3
(definitions, unsubscribe, status) over raw HTTP and parsed by the SDK's own models; Salesforce's Lead and the
Email Opt Out field validated like other sObjects."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hubspot.communication_preferences import ApiClient, PublicSubscriptionStatus, SubscriptionDefinitionsResponse

from sandbox.core import LoopbackServer
from sandbox.hubspot import HubSpotEmulator
from sandbox.salesforce import SalesforceEmulator
from sandbox.salesforce.errors import FieldValueError
from tests.shared import pinned_clock


@pytest.fixture
def hubspot() -> Iterator[tuple[HubSpotEmulator, str]]:
    with pinned_clock():
        emu = HubSpotEmulator()
        with LoopbackServer(emu.wsgi_app) as server:
            yield emu, server.url


def _post(url: str, emu: HubSpotEmulator, body: Any) -> requests.Response:
    return requests.post(f"{url}/communication-preferences/v3/unsubscribe", json=body, timeout=10,
                         headers={"Authorization": f"Bearer {emu.access_token}"})


class _Raw:
    def __init__(self, body: str) -> None:
        self.data = body


def test_hubspot_unsubscribe_answers_the_status_and_refuses_bad_requests(hubspot: tuple[HubSpotEmulator, str]) -> None:
    emu, url = hubspot
    auth = {"Authorization": f"Bearer {emu.access_token}"}
    listed = requests.get(f"{url}/communication-preferences/v3/definitions", headers=auth, timeout=10)
    assert listed.status_code == 200
    parsed = ApiClient().deserialize(_Raw(listed.text), "SubscriptionDefinitionsResponse")
    assert isinstance(parsed, SubscriptionDefinitionsResponse)
    names = {d.name: d.id for d in parsed.subscription_definitions}
    assert set(names) == {"Marketing Information", "One to One", "Customer Service Communication"}
    service = names["Customer Service Communication"]

    ok = _post(url, emu, {"emailAddress": "Ann@Acme.test", "subscriptionId": service,
                          "legalBasis": "LEGITIMATE_INTEREST_CLIENT", "legalBasisExplanation": "asked by e-mail"})
    assert ok.status_code == 200
    status = ApiClient().deserialize(_Raw(ok.text), "PublicSubscriptionStatus")
    assert isinstance(status, PublicSubscriptionStatus)
    assert (status.id, status.status, status.source_of_status, status.legal_basis) == (
        service, "NOT_SUBSCRIBED", "SUBSCRIPTION_STATUS", "LEGITIMATE_INTEREST_CLIENT")

    refusals = [
        ({}, "some of required attributes are not set [emailAddress, subscriptionId]"),
        ({"emailAddress": "ann@acme.test"}, "some of required attributes are not set [subscriptionId]"),
        ({"emailAddress": "not an address", "subscriptionId": service}, "Invalid email address: not an address"),
        ({"emailAddress": "ann@acme.test", "subscriptionId": "42"}, "Subscription id 42 does not exist"),
        ({"emailAddress": "bob@acme.test", "subscriptionId": service, "legalBasis": "BECAUSE"},
         "Invalid legal basis: BECAUSE"),
        ({"emailAddress": "ANN@acme.test", "subscriptionId": service}, "is already unsubscribed from subscription"),
    ]
    for body, words in refusals:
        answer = _post(url, emu, body)
        assert answer.status_code == 400, body
        assert answer.json()["category"] == "VALIDATION_ERROR" and words in answer.json()["message"], body
    assert requests.post(f"{url}/communication-preferences/v3/unsubscribe", json={}, timeout=10).status_code == 401
    statuses = requests.get(f"{url}/communication-preferences/v3/status/email/ann@acme.test", headers=auth,
                            timeout=10).json()
    assert [(x["id"], x["status"]) for x in statuses["subscriptionStatuses"]] == [(service, "NOT_SUBSCRIBED")]
    assert emu.stats.calls("POST", "/communication-preferences/v3/unsubscribe") == 8


def test_salesforce_leads_need_a_company_and_opt_out_is_a_boolean() -> None:
    with pinned_clock():
        emu = SalesforceEmulator()
        lead = emu.insert("Lead", {"LastName": "Lee", "Company": "Initech", "Email": "lee@initech.test"})
        row = emu.record("Lead", lead)
        assert row is not None and lead.startswith("00Q")
        assert (row["HasOptedOutOfEmail"], row["IsConverted"], row["Status"], row["Name"]) == (
            False, False, "Open - Not Contacted", "Lee")
        with pytest.raises(FieldValueError, match=r"Required fields are missing: \[Company\]"):
            emu.insert("Lead", {"LastName": "Nobody"})
        with pytest.raises(FieldValueError):
            emu.update("Lead", lead, {"HasOptedOutOfEmail": "maybe"})
        emu.update("Lead", lead, {"HasOptedOutOfEmail": True})
        assert emu.record("Lead", lead)["HasOptedOutOfEmail"] is True  # type: ignore[index]
