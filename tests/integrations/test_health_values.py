"""Each vendor's account mapping carries Canary's own health fields the same way (`integrations.base.health_values`):
from the recorded payloads (which have none) and from the same payloads with Canary's fields added."""

from __future__ import annotations

import json
from typing import Any

from integrations.hubspot.records import company_to_account
from integrations.salesforce.records import account_from_payload
from integrations.zendesk.records import organization_to_account
from tests.shared import vendor_payloads


def recorded(vendor: str, name: str) -> Any:
    return json.loads((vendor_payloads(vendor) / name).read_text())


def test_recorded_payloads_carry_no_health_fields() -> None:
    org = recorded("zendesk", "organizations_incremental_time_based.json")["organizations"][0]
    company = recorded("hubspot", "companies_search_response.json")["results"][0]
    account = recorded("salesforce", "query_final_page.json")["records"][0]
    assert organization_to_account(org).health is None
    assert company_to_account(company).health is None
    assert account_from_payload(account).health is None


def test_each_vendor_reads_canarys_fields_into_the_same_keys() -> None:
    org = recorded("zendesk", "organizations_incremental_time_based.json")["organizations"][0]
    org["organization_fields"] |= {"canary_health_score": 42, "canary_health_band": "average",
                                   "canary_health_trend": -0.5, "canary_scored_at": "2026-11-20T10:00:00Z"}
    company = recorded("hubspot", "companies_search_response.json")["results"][0]
    company["properties"] |= {"canary_health_score": "42", "canary_health_band": "average",
                              "canary_health_trend": "-0.5", "canary_health_reasons": None}
    account = recorded("salesforce", "query_final_page.json")["records"][0]
    account |= {"Canary_Health_Score__c": 42.0, "Canary_Health_Band__c": "average"}
    assert organization_to_account(org).health == {"score": 42, "band": "average", "trend": -0.5,
                                                   "scored_at": "2026-11-20T10:00:00Z"}
    assert company_to_account(company).health == {"score": "42", "band": "average", "trend": "-0.5",
                                                  "reasons": None}
    assert account_from_payload(account).health == {"score": 42.0, "band": "average"}
