"""The sandbox's 24 months of subscription history and the revenue truth (`sandbox.revenue`).

The truth is computed from the timeline the generator intended; these tests check its arithmetic by hand,
that the generated deals obey the in-force rule of docs/analytics.md so that Canary can rebuild that same
timeline from what it syncs, that every record drawn before the history is unchanged, and that the
Salesforce and HubSpot emulators serve the past deals to the real SDKs.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import random
from datetime import date, timedelta
from typing import Any

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.deals import Filter, FilterGroup, PublicObjectSearchRequest
from simple_salesforce import Salesforce

from sandbox.core import LoopbackServer, make_self_signed_cert
from sandbox.generate import generate_world, truth_dict
from sandbox.hubspot import HubSpotEmulator
from sandbox.revenue import (
    Segment,
    add_months,
    arr_on,
    history_horizon,
    period_figures,
    plan_history,
    revenue_truth,
)
from sandbox.salesforce import SalesforceEmulator
from sandbox.world import Deal, World
from tests.shared import WORLD_AS_OF, WORLD_NOW

D = date.fromisoformat


def _world(accounts: int, history: bool = True) -> World:
    return generate_world(accounts, 7, WORLD_AS_OF, _history=history)


@pytest.fixture(scope="module")
def world() -> World:
    return _world(500)


def _past(world: World) -> list[Deal]:
    return [d for d in world.deals if "-H" in d.key]


# --------------------------------------------------------------------------- the arithmetic, by hand

HAND: dict[str, list[Segment]] = {
    "expands": [(D("2025-01-01"), D("2026-01-01"), 1000.0), (D("2026-01-01"), None, 1200.0)],
    "churns": [(D("2025-06-01"), D("2026-01-15"), 500.0)],
    "contracts": [(D("2025-03-01"), D("2026-01-10"), 800.0), (D("2026-01-10"), None, 600.0)],
    "new": [(D("2026-01-05"), None, 300.0)],
    "returns": [(D("2025-01-01"), D("2025-06-01"), 400.0), (D("2026-01-20"), None, 450.0)],
    "in_and_out": [(D("2026-01-03"), D("2026-01-25"), 999.0)],
    "up_and_down": [(D("2025-01-01"), None, 700.0), (D("2026-01-05"), D("2026-01-20"), 100.0)],
    "ends_on_the_first": [(D("2025-01-01"), D("2026-01-01"), 100.0)],
}


def test_january_figures_by_hand() -> None:
    got = period_figures(HAND, D("2026-01-01"), D("2026-02-01"))
    # cohort: expands 1000 + churns 500 + contracts 800 + up_and_down 700 + ends_on_the_first 100
    assert got == {
        "start": 3100.0, "churn": 600.0, "contraction": 200.0, "expansion": 200.0, "new": 300.0,
        "reactivation": 450.0, "closing": 3250.0, "cohort": 5, "churned_logos": 2,
        "grr": round(2300 / 3100, 6), "nrr": round(2500 / 3100, 6), "logo_churn": 0.4,
        "expansion_rate": round(200 / 3100, 6),
    }
    assert got["grr"] == 0.741935 and got["nrr"] == 0.806452


def test_december_figures_and_the_month_rows() -> None:
    truth = revenue_truth(HAND, D("2026-02-10"), months=2)
    assert [m["month"] for m in truth["months"]] == ["2025-12", "2026-01"]
    december = truth["months"][0]
    assert (december["start"], december["closing"], december["cohort"]) == (3100.0, 3100.0, 5)
    assert (december["churn"], december["contraction"], december["expansion"], december["new"]) == (0, 0, 0, 0)
    assert (december["grr"], december["nrr"], december["logo_churn"]) == (1.0, 1.0, 0.0)
    assert truth["months"][1]["start"] == december["closing"]  # one month's closing opens the next
    assert truth["arr_now"] == 1200 + 600 + 300 + 450 + 700
    assert truth["unit"] == "arr"
    assert truth["accounts"]["returns"] == [["2025-01-01", "2025-06-01", 400.0], ["2026-01-20", None, 450.0]]


def test_ratios_are_none_without_a_cohort() -> None:
    got = period_figures({"new": HAND["new"]}, D("2026-01-01"), D("2026-02-01"))
    assert (got["start"], got["cohort"], got["new"]) == (0, 0, 300.0)
    assert got["grr"] is got["nrr"] is got["logo_churn"] is got["expansion_rate"] is None


def test_month_arithmetic() -> None:
    assert add_months(D("2026-11-30"), -24) == D("2024-11-01")
    assert add_months(D("2026-01-15"), -1) == D("2025-12-01")
    assert history_horizon(D("2026-11-30")) == D("2024-10-01")
    assert arr_on(HAND["up_and_down"], D("2026-01-19")) == 800.0
    assert arr_on(HAND["up_and_down"], D("2026-01-20")) == 700.0


def test_a_new_logo_has_no_past_and_a_chain_stops_at_onboarding() -> None:
    start = D("2026-03-01")
    assert plan_history(random.Random(1), current_start=start, current_arr=10_000, current_seats=20,
                        onboarding_start=start, horizon=D("2024-10-01")) == []
    for seed in range(40):
        planned = plan_history(random.Random(seed), current_start=start, current_arr=10_000, current_seats=20,
                               onboarding_start=start - timedelta(days=730), horizon=D("2024-10-01"))
        terms = [p for p in planned if p.kind == "term"]
        assert 1 <= len(terms) <= 2 and terms[0].start >= start - timedelta(days=730)
        assert [p.first for p in terms] == [True] + [False] * (len(terms) - 1)


# --------------------------------------------------------------------------- nothing else changed


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def test_every_earlier_record_is_unchanged() -> None:
    with_history, without = _world(150), _world(150, history=False)
    assert with_history.companies == without.companies
    assert with_history.people == without.people
    assert with_history.tickets == without.tickets
    assert with_history.surveys == without.surveys
    assert with_history.deals[: len(without.deals)] == without.deals
    assert len(_past(with_history)) == len(with_history.deals) - len(without.deals) > 0
    assert _past(without) == [] and without.revenue == {}
    truth, before = truth_dict(with_history), truth_dict(without)
    truth.pop("revenue"), before.pop("revenue")
    assert truth["counts"].pop("past_deals") == len(_past(with_history))
    assert before["counts"].pop("past_deals") == 0
    assert truth == before
    assert _digest(truth) == "2a767d3eab5c3f2d"  # truth.json of this world before the history existed


def test_same_seed_same_history() -> None:
    first, second = _world(150), _world(150)
    assert _past(first) == _past(second)
    assert first.revenue == second.revenue
    assert truth_dict(first)["revenue"] == truth_dict(second)["revenue"]
    other = generate_world(150, 8, WORLD_AS_OF)
    assert [(d.start_date, d.arr) for d in _past(other)] != [(d.start_date, d.arr) for d in _past(first)]


def test_the_current_deal_stays_each_companys_first_active_deal(world: World) -> None:
    first: dict[str, str] = {}
    for deal in world.deals:
        if deal.status == "active":
            first.setdefault(deal.company_key, deal.key)
    assert set(first.values()) == {f"{c.key}-D1" for c in world.companies}
    keys = [d.key for d in world.deals]
    assert keys.index(_past(world)[0].key) > max(i for i, k in enumerate(keys) if "-D" in k)


# --------------------------------------------------------------------------- the deals obey the rules


def _in_force(deals: list[Deal]) -> list[Segment]:
    """docs/analytics.md's in-force rule over one company's deals in one system (the test's own copy)."""
    decided = [d for d in deals if d.status != "pending"]
    spans: list[Segment] = []
    for s in decided:
        if s.status != "active":
            continue
        ended = any(o is not s and o.start_date >= s.renewal_date - timedelta(days=30) for o in decided)
        spans.append((s.start_date, s.renewal_date if ended else None, s.arr))
    return spans


def test_past_deals_obey_the_in_force_rule(world: World) -> None:
    by_company: dict[str, list[Deal]] = {}
    for deal in world.deals:
        by_company.setdefault(deal.company_key, []).append(deal)
    checked = {"renewal": 0, "expansion": 0, "lost": 0}
    for company in world.companies:
        crm = [s for s in ("salesforce", "hubspot") if s in company.presence]
        deals = by_company[company.key]
        d1, past = deals[0], [d for d in deals if "-H" in d.key]
        if not crm:
            assert past == [] and company.key not in world.revenue
            continue
        won_terms = [d for d in past if d.status == "active" and "expansion" not in d.name]
        for deal in past:
            assert list(deal.presence) == crm and deal.start_date < d1.start_date
            for where in deal.presence.values():
                assert where.created_at is not None and where.updated_at is not None
                assert where.created_at <= where.updated_at <= WORLD_NOW
                assert where.created_at.date() <= max(deal.start_date, WORLD_AS_OF - timedelta(days=1))
            if deal.status == "churned":  # a lost renewal on the end of the term it ends
                ended = [t for t in won_terms if t.renewal_date == deal.start_date]
                assert len(ended) == 1, deal.key
                riders = [e for e in past if "expansion" in e.name and e.renewal_date == deal.start_date]
                assert deal.arr == ended[0].arr + sum(e.arr for e in riders)
                assert 30 <= (d1.start_date - deal.start_date).days <= 183
                checked["lost"] += 1
            elif "expansion" in deal.name:  # co-terminous, booked more than 30 days before the end
                term = [t for t in won_terms if t.renewal_date == deal.renewal_date]
                assert len(term) == 1 and term[0].start_date < deal.start_date
                assert deal.start_date < deal.renewal_date - timedelta(days=30)
                checked["expansion"] += 1
            else:  # a term: renewed (won) or lost exactly on its renewal date
                following = [d for d in deals if d.start_date == deal.renewal_date and "expansion" not in d.name
                             and d.status != "pending"]
                assert len(following) == 1, deal.key
                checked["renewal"] += following[0].status == "active"
        for term in [*won_terms, d1]:  # nothing else won starts within 30 days before a term's end
            assert not [d for d in deals if d.status == "active" and
                        term.renewal_date - timedelta(days=30) <= d.start_date < term.renewal_date]
        rebuilt = _in_force(deals)
        intended = world.revenue[company.key]
        for month in range(-26, 1):
            day = add_months(WORLD_AS_OF, month) - timedelta(days=1)
            assert arr_on(rebuilt, day) == arr_on(intended, day), (company.key, day)
        assert arr_on(rebuilt, WORLD_AS_OF) == arr_on(intended, WORLD_AS_OF) == d1.arr
    assert min(checked.values()) >= 5, checked


def test_the_truth_of_seed_7_looks_like_a_business(world: World) -> None:
    revenue = truth_dict(world)["revenue"]
    months = revenue["months"]
    assert [m["month"] for m in (months[0], months[-1])] == ["2024-11", "2026-10"] and len(months) == 24
    assert all(0.95 <= m["grr"] <= 1 and 0.95 <= m["nrr"] <= 1.05 and m["logo_churn"] <= 0.03 for m in months)
    assert sum(m["churned_logos"] for m in months) >= 10 and sum(m["reactivation"] for m in months) > 0
    for before, after in itertools.pairwise(months):
        assert after["start"] == before["closing"]  # one month's closing opens the next
    # no deal starts in the month of as_of (the latest current terms start 31 days before it)
    assert revenue["arr_now"] == months[-1]["closing"] == sum(
        d.arr for d in world.deals if d.key.endswith("-D1") and d.presence)
    assert set(revenue["accounts"]) == {c.key for c in world.companies
                                        if {"salesforce", "hubspot"} & set(c.presence)}


# --------------------------------------------------------------------------- served to the real SDKs


@pytest.fixture(scope="module")
def small() -> World:
    return _world(60)


def _expected(world: World, system: str) -> set[tuple[str, str, float, str, str]]:
    stages = {"salesforce": {"active": "Closed Won", "churned": "Closed Lost"},
              "hubspot": {"active": "closedwon", "churned": "closedlost"}}[system]
    return {(d.name, stages[d.status], d.arr, d.start_date.isoformat(), d.renewal_date.isoformat())
            for d in _past(world) if system in d.presence}


def test_salesforce_serves_the_past_opportunities(small: World) -> None:
    expected = _expected(small, "salesforce")
    assert any(stage == "Closed Lost" for _, stage, *_ in expected)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    tls = make_self_signed_cert()
    emulator = SalesforceEmulator(clock=lambda: WORLD_NOW)
    emulator.seed(small)
    with LoopbackServer(emulator.wsgi_app, tls=tls) as server:
        session = requests.Session()
        session.verify, session.trust_env = tls.cert_path, False
        sf = Salesforce(instance_url=server.url, session_id=emulator.credentials["session_id"], session=session)
        rows = sf.query_all("SELECT Id, Name, StageName, Amount, CloseDate, Renewal_Date__c FROM Opportunity"
                            )["records"]
        lost = sf.query_all("SELECT Id, Name FROM Opportunity WHERE StageName = 'Closed Lost'")["records"]
    served = {(r["Name"], r["StageName"], r["Amount"], r["CloseDate"], r["Renewal_Date__c"]) for r in rows}
    assert expected <= served
    assert len(rows) == sum(1 for d in small.deals if "salesforce" in d.presence)
    assert sorted(r["Name"] for r in lost) == sorted(e[0] for e in expected if e[1] == "Closed Lost")


def test_hubspot_search_finds_the_lost_renewals(small: World) -> None:
    expected = {e for e in _expected(small, "hubspot") if e[1] == "closedlost"}
    assert expected
    emulator = HubSpotEmulator(clock=lambda: WORLD_NOW, search_requests_per_second=1000)
    emulator.seed(small)
    with LoopbackServer(emulator.wsgi_app) as server:
        client = HubSpot(access_token=emulator.access_token, host=server.url)
        request = PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=[Filter(property_name="dealstage", operator="EQ",
                                                       value="closedlost")])],
            properties=["dealname", "dealstage", "amount", "closedate", "renewal_date"], limit=100)
        page = client.crm.deals.search_api.do_search(public_object_search_request=request)
    served = {(r.properties["dealname"], r.properties["dealstage"], float(r.properties["amount"]),
               r.properties["closedate"][:10], r.properties["renewal_date"]) for r in page.results}
    assert page.total == len(expected) and served == expected
