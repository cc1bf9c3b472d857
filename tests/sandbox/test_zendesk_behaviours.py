"""Real-account behaviours of the Zendesk emulator, each behind an option: on (the default), the
behaviour through the real ``zenpy``; off, the emulator as it used to be."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from zenpy.lib.api_objects import Organization, OrganizationField
from zenpy.lib.exception import APIException

from sandbox.zendesk.seed import iso
from tests.sandbox import test_zendesk as zd
from tests.sandbox.test_zendesk import ORG_ID0, TICKET_ID0, Sandbox

loopback = zd.loopback
boot = zd.boot
Boot = Callable[..., Sandbox]


def fresh(boot: Boot, **options: Any) -> Sandbox:
    return boot(incremental_requests_per_minute=None, **options)


# ---------------------------------------------------------------- deleted tickets and organizations


def test_deleted_tickets_and_organizations_stay_in_the_exports(boot: Boot) -> None:
    sb = fresh(boot, export_deleted=True)
    assert sb.emulator.delete("tickets", [TICKET_ID0 + 5, TICKET_ID0 + 6]) == [TICKET_ID0 + 5, TICKET_ID0 + 6]
    assert sb.emulator.delete("organizations", [ORG_ID0 + 7]) == [ORG_ID0 + 7]
    sb.clock.advance(61)
    client = sb.zenpy()
    tickets = {t.id: t.status for t in client.tickets.incremental(start_time=0)}
    assert len(tickets) == 250
    assert [i for i, status in tickets.items() if status == "deleted"] == [TICKET_ID0 + 5, TICKET_ID0 + 6]
    orgs = {o.id: o.to_dict() for o in client.organizations.incremental(start_time=0)}
    assert orgs[ORG_ID0 + 7]["deleted_at"] == iso(sb.clock.now - timedelta(seconds=61))
    assert "deleted_at" not in orgs[ORG_ID0 + 8]
    excluded = sb.get("incremental/tickets/cursor.json", start_time=0, exclude_deleted="true").json()
    assert len(excluded["tickets"]) == 248
    assert TICKET_ID0 + 5 not in {t["id"] for t in excluded["tickets"]}
    assert sb.get(f"tickets/{TICKET_ID0 + 5}.json").status_code == 404
    assert TICKET_ID0 + 5 not in {t.id for t in client.tickets()}
    assert ORG_ID0 + 7 not in {o.id for o in client.organizations()}
    assert sb.emulator.deleted_ids("tickets") == [TICKET_ID0 + 5, TICKET_ID0 + 6]


def test_without_export_deleted_a_deleted_ticket_vanishes(boot: Boot) -> None:
    sb = fresh(boot, export_deleted=False)
    sb.emulator.delete("tickets", [TICKET_ID0 + 5])
    sb.clock.advance(61)
    ids = [t.id for t in sb.zenpy().tickets.incremental(start_time=0)]
    assert len(ids) == 249 and TICKET_ID0 + 5 not in ids
    assert sb.emulator.deleted_ids("tickets") == [TICKET_ID0 + 5]


# ---------------------------------------------------------------- satisfaction ratings


@pytest.mark.parametrize("with_org", [True, False])
def test_satisfaction_rating_shape(boot: Boot, with_org: bool) -> None:
    sb = fresh(boot, satisfaction_organization_id=with_org)
    rating = next(iter(sb.zenpy().satisfaction_ratings()))
    keys = set(rating.to_dict())
    assert {"ticket_id", "requester_id", "assignee_id", "group_id", "score", "url"} <= keys
    assert ("organization_id" in keys) is with_org
    body = sb.get("satisfaction_ratings.json").json()["satisfaction_ratings"][0]
    assert ("organization_id" in body) is with_org


# ---------------------------------------------------------------- typed organization fields


FIELDS = [("health_decimal", "decimal"), ("seats_integer", "integer"), ("renewed", "checkbox"), ("renewal", "date")]


@pytest.mark.parametrize(("checked", "failures"), [(True, 4), (False, 0)])
def test_organization_field_values_are_type_checked(boot: Boot, checked: bool, failures: int) -> None:
    sb = fresh(boot, type_check_fields=checked)
    client = sb.zenpy()
    for key, kind in FIELDS:
        client.organization_fields.create(OrganizationField(key=key, type=kind, title=key.title()))
    tier = OrganizationField(key="tier", type="dropdown", title="Tier",
                             custom_field_options=[{"name": "Gold", "value": "gold"}])  # fmt: skip
    client.organization_fields.create(tier)
    good = {"health_decimal": "71.5", "seats_integer": 25, "renewed": True, "renewal": "2027-01-31", "tier": "gold"}
    bad = [{"health_decimal": "abc"}, {"seats_integer": "2.5"}, {"renewed": "yes"}, {"tier": "platinum"}]
    batch = [Organization(id=ORG_ID0 + 1, organization_fields=good)]
    batch += [Organization(id=ORG_ID0 + 2 + n, organization_fields=values) for n, values in enumerate(bad)]
    done = client.job_status(id=client.organizations.update(batch).id)
    results = {r.id: r.to_dict() for r in done.results}
    assert results[ORG_ID0 + 1]["status"] == "Updated"
    failed = [r for r in results.values() if r.get("error") == "OrganizationUpdateFailed"]
    assert len(failed) == failures
    stored = {o["id"]: o["organization_fields"] for o in sb.emulator.records("organizations")}
    assert stored[ORG_ID0 + 1]["health_decimal"] == "71.5"
    assert (stored[ORG_ID0 + 2]["health_decimal"] == "abc") is not checked
    if checked:
        assert {r["index"] for r in failed} == {1, 2, 3, 4}
        assert "abc" in next(r["details"] for r in failed if r["id"] == ORG_ID0 + 2)
        with pytest.raises(APIException) as single:
            client.organizations.update(Organization(id=ORG_ID0 + 9, organization_fields={"renewal": "soon"}))
        assert single.value.response.status_code == 422


# ---------------------------------------------------------------- https links


@pytest.mark.parametrize("https", [True, False])
def test_links_scheme(boot: Boot, https: bool) -> None:
    sb = fresh(boot, https_links=https)
    scheme = "https://" if https else "http://"
    page = sb.get("organizations.json", **{"page[size]": 2}).json()
    assert page["organizations"][0]["url"].startswith(scheme)
    assert page["links"]["next"].startswith(scheme)
    export = sb.get("incremental/tickets/cursor.json", start_time=0, per_page=5).json()
    assert export["after_url"].startswith(scheme) and export["tickets"][0]["url"].startswith(scheme)
    by_time = sb.get("incremental/organizations.json", start_time=0).json()
    assert by_time["next_page"].startswith(scheme)
    # zenpy follows the links either way when the vendor host, on either scheme, reaches the emulator
    assert len(list(sb.zenpy().organizations())) == 250
    assert sb.emulator.stats.calls("GET", "/api/v2/organizations.json") == 1 + 3
