"""The synthetic world, its truth file and its usage stream."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sandbox.generate import (
    SALESFORCE_PREFIXES,
    STORY_ALERTS,
    bulk_stamps,
    case_safe_suffix,
    generate_world,
    salesforce_id,
    to_case_safe,
    truth_dict,
    write_truth,
)
from sandbox.usage import (
    KEY_FEATURES,
    LOGIN_EVENT,
    NPS_EVENT,
    ONBOARDING_MILESTONES,
    iter_usage_batches,
    iter_usage_events,
    product_users,
    seats,
)
from sandbox.world import STORIES, SYSTEMS, World
from scoring.alerts import drop_chance

AS_OF = date(2026, 11, 23)
MIDNIGHT = datetime(2026, 11, 23, tzinfo=UTC)


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(400, seed=7, as_of=AS_OF)


@pytest.fixture(scope="module")
def usage_world() -> World:
    return generate_world(60, seed=11, as_of=AS_OF)


@pytest.fixture(scope="module")
def events(usage_world: World) -> list[dict[str, Any]]:
    return list(iter_usage_events(usage_world))


# ----------------------------------------------------------------------------- Salesforce ids


@pytest.mark.parametrize(
    ("id15", "id18"),
    [
        ("001D000000IqhSL", "001D000000IqhSLIAZ"),
        ("001D000000IRFma", "001D000000IRFmaIAH"),
        ("001D000000Iomaz", "001D000000IomazIAB"),
        ("003RO0000035WQg", "003RO0000035WQgYAM"),
        ("001RM000003oCpr", "001RM000003oCprYAE"),
        ("0056g000005HQPy", "0056g000005HQPyAAO"),
        ("7506g00000DhRA2", "7506g00000DhRA2AAN"),
        ("a00E0000004D5ls", "a00E0000004D5lsIAC"),
        ("012000000000000", "012000000000000AAA"),
    ],
)
def test_case_safe_suffix_matches_real_ids(id15: str, id18: str) -> None:
    assert id15 + case_safe_suffix(id15) == id18
    assert to_case_safe(id15) == id18
    assert to_case_safe(id18) == id18


@pytest.mark.parametrize("bad", ["001D000000IqhSLIAA", "7505fEXAMPLE4C2AAM", "001D00000", "001D000000Iqh-L"])
def test_wrong_or_malformed_ids_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        to_case_safe(bad)


def test_generated_salesforce_ids_carry_prefix_and_checksum(world: World) -> None:
    kinds = (
        ("Account", [c.presence for c in world.companies]),
        ("Contact", [p.presence for p in world.people]),
        ("Opportunity", [d.presence for d in world.deals]),
        ("Case", [t.presence for t in world.tickets]),
    )
    for kind, presences in kinds:
        ids = [p["salesforce"].external_id for p in presences if "salesforce" in p]
        assert ids, kind
        assert len(set(ids)) == len(ids)
        for record_id in ids:
            assert len(record_id) == 18
            assert record_id.startswith(SALESFORCE_PREFIXES[kind])
            assert to_case_safe(record_id) == record_id
    assert salesforce_id("001", 1) != salesforce_id("001", 2)


@pytest.mark.parametrize("system", ["zendesk", "hubspot"])
def test_zendesk_and_hubspot_ids_are_unique_numbers(world: World, system: str) -> None:
    groups_with_ids = 0
    for group in (world.companies, world.people, world.deals, world.tickets):
        ids = [r.presence[system].external_id for r in group if system in r.presence]
        assert len(set(ids)) == len(ids)
        assert all(i.isdigit() and not i.startswith("0") for i in ids)
        groups_with_ids += bool(ids)
    assert groups_with_ids == (3 if system == "zendesk" else 4)  # Zendesk holds no deals


# ----------------------------------------------------------------------------- determinism and size


def test_same_arguments_same_world_and_truth(tmp_path: Path) -> None:
    first = write_truth(generate_world(150, seed=3, as_of=AS_OF), tmp_path / "a" / "truth.json")
    second = write_truth(generate_world(150, seed=3, as_of=AS_OF), tmp_path / "b" / "truth.json")
    assert first.read_bytes() == second.read_bytes()
    assert json.loads(first.read_text())["counts"]["companies"] == 150


@pytest.mark.parametrize(("seed", "as_of"), [(4, AS_OF), (3, AS_OF + timedelta(days=1))])
def test_other_seed_or_day_gives_another_world(seed: int, as_of: date) -> None:
    base = truth_dict(generate_world(80, seed=3, as_of=AS_OF))
    other = truth_dict(generate_world(80, seed=seed, as_of=as_of))
    assert [c["name"] for c in base["companies"]] != [c["name"] for c in other["companies"]]


@pytest.mark.parametrize("accounts", [1, 7, 50, 333])
def test_world_has_the_requested_number_of_companies(accounts: int) -> None:
    generated = generate_world(accounts, seed=1, as_of=AS_OF)
    assert len(generated.companies) == accounts
    assert len({c.key for c in generated.companies}) == accounts
    assert len({c.name for c in generated.companies}) == accounts
    if accounts >= len(STORIES):
        assert {c.story for c in generated.companies} == set(STORIES)


def test_zero_accounts_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        generate_world(0)


# ----------------------------------------------------------------------------- invariants


def test_every_company_is_in_one_to_three_systems_in_the_designed_mix(world: World) -> None:
    sizes = Counter(len(c.presence) for c in world.companies)
    assert sizes[0] == 0
    total = len(world.companies)
    assert 0.37 <= sizes[3] / total <= 0.53
    assert 0.27 <= sizes[2] / total <= 0.43
    assert 0.12 <= sizes[1] / total <= 0.28


def test_cross_refs_point_at_the_same_company_and_cover_only_part(world: World) -> None:
    with_ref = shared = 0
    for company in world.companies:
        for holder, where in company.presence.items():
            for target, ref in where.cross_refs.items():
                assert target != holder
                assert company.presence[target].external_id == ref  # type: ignore[index]
            others = [s for s in company.presence if s != holder]
            shared += len(others)
            with_ref += len(where.cross_refs)
    assert 0.2 < with_ref / shared < 0.6


def test_names_and_domains_vary_between_systems(world: World) -> None:
    presences = [(c, s, p) for c in world.companies for s, p in c.presence.items()]
    renamed = [p for c, _, p in presences if p.name != c.name]
    assert 0.3 < len(renamed) / len(presences) < 0.7
    assert any(p.name and p.name.isupper() for _, _, p in presences)
    websites = [p.domain for c, s, p in presences if s == "salesforce"]
    assert any(w and w.startswith("https://www.") for w in websites)
    assert any(w is None for w in websites)
    other_tld = [p for c, _, p in presences
                 if p.domain and c.domain and "://" not in p.domain
                 and p.domain.removeprefix("www.") != c.domain]
    assert other_tld


def test_parents_and_subsidiaries_are_consistent(world: World) -> None:
    by_key = {c.key: c for c in world.companies}
    children = [c for c in world.companies if c.parent_key]
    assert len(children) >= 10
    for child in children:
        parent = by_key[child.parent_key]  # type: ignore[index]
        assert parent.parent_key is None
        assert parent.key < child.key
        assert child.name != parent.name
    assert any(c.domain == by_key[c.parent_key].domain for c in children)  # type: ignore[index]
    assert any(c.domain != by_key[c.parent_key].domain for c in children)  # type: ignore[index]
    # Apart from subsidiaries sharing their parent's, every domain is unique.
    roots = [c.domain for c in world.companies if not c.parent_key]
    assert len(roots) == len(set(roots))


def test_contacts_have_roles_emails_and_the_company_systems(world: World) -> None:
    by_company = defaultdict(list)
    for person in world.people:
        by_company[person.company_key].append(person)
    assert len(world.companies) == 400
    for company in world.companies:
        people = by_company[company.key]
        roles = Counter(p.role for p in people)
        assert roles["executive_sponsor"] == 1
        assert 1 <= roles["champion"] <= 2
        assert roles["admin"] >= 1 and roles["user"] >= 1
        emails = [p.email for p in people]
        assert len(set(emails)) == len(emails)
        assert all(e.endswith("@" + company.domain) for e in emails)  # type: ignore[operator]
        for person in people:
            assert set(person.presence) == set(company.presence)


def test_deals_renew_within_18_months_and_start_before_as_of(world: World) -> None:
    active = [d for d in world.deals if d.status == "active" and "-H" not in d.key]  # current terms
    past = [d for d in world.deals if "-H" in d.key]  # the subscription history (test_revenue_history.py)
    assert past and all(d.start_date < AS_OF and d.renewal_date <= AS_OF for d in past if d.status == "active")
    assert len(active) == len(world.companies)
    for deal in active:
        assert AS_OF < deal.renewal_date <= AS_OF + timedelta(days=548)
        assert deal.start_date < AS_OF
        assert deal.arr > 0 and deal.seats >= 8
    months = {(d.renewal_date - AS_OF).days // 30 for d in active}
    assert len(months) >= 15


def test_stamps_are_before_as_of_and_many_share_one(world: World) -> None:
    presences = [p for group in (world.companies, world.people, world.deals, world.tickets)
                 for record in group for p in record.presence.values()]
    for presence in presences:
        assert presence.created_at is not None and presence.updated_at is not None
        assert presence.created_at <= presence.updated_at < MIDNIGHT
    shared = Counter(p.updated_at for p in presences)
    stamps = bulk_stamps(AS_OF)
    on_bulk = sum(shared[s] for s in stamps)
    assert on_bulk / len(presences) > 0.2
    assert max(shared[s] for s in stamps) > 500


def test_story_shapes_in_the_records(world: World) -> None:
    tickets = defaultdict(list)
    for ticket in world.tickets:
        tickets[ticket.company_key].append(ticket)
    people = defaultdict(list)
    for person in world.people:
        people[person.company_key].append(person)
    assert len(world.companies) == 400 and {c.story for c in world.companies} == set(STORIES)
    for company in world.companies:
        recent = [t for t in tickets[company.key] if t.created_at >= MIDNIGHT - timedelta(days=14)]
        started = (AS_OF - company.onboarding_start).days
        leaders = [p for p in people[company.key] if p.role in ("champion", "executive_sponsor")]
        assert leaders, company.key
        if company.story == "ticket_storm":
            assert sum(t.priority in ("high", "urgent") for t in recent) >= 8
        else:
            assert len(recent) <= 1
        if company.story == "onboarding_stalled":
            assert 35 <= started <= 90
        else:
            assert started >= 120
        if company.story == "champion_quiet":
            assert all((AS_OF - p.last_active).days >= 31 for p in leaders)  # type: ignore[operator]
        else:
            assert all(p.last_active and (AS_OF - p.last_active).days < 30 for p in leaders)


def test_tickets_live_in_one_system_preferring_zendesk(world: World) -> None:
    by_key = {c.key: c for c in world.companies}
    assert len(world.tickets) >= len(world.companies)
    for ticket in world.tickets:
        (system,) = ticket.presence
        company = by_key[ticket.company_key]
        assert system == ("zendesk" if "zendesk" in company.presence else next(
            s for s in ("salesforce", "hubspot") if s in company.presence))


def test_truth_lists_ids_groups_and_expected_alerts(world: World) -> None:
    truth = truth_dict(world)
    by_key = {c.key: c for c in world.companies}
    assert len(truth["companies"]) == len(world.companies)
    for row, group in zip(truth["companies"], truth["same_customer_groups"], strict=True):
        company = by_key[row["key"]]
        assert row["ids"] == {s: p.external_id for s, p in company.presence.items()}
        assert group["key"] == row["key"]
        assert {(r["system"], r["id"]) for r in group["records"]} == set(row["ids"].items())
        observable = [a for a in STORY_ALERTS[company.story]
                      if a != "seat_capacity" or any(d.presence for d in world.deals
                                                     if d.company_key == company.key and d.status == "active")]
        assert set(observable) <= set(row["expected_alerts"])
        assert row["parent_key"] == company.parent_key
        if company.story in ("healthy", "power_users", "at_capacity"):
            assert row["possible_alerts"] == []
            assert row["expected_alerts"] == observable
        if "renewal_risk" in row["possible_alerts"]:
            assert date.fromisoformat(row["renewal_date"]) <= AS_OF + timedelta(days=90)
    assert any("renewal_risk" in row["possible_alerts"] for row in truth["companies"])
    assert set(SYSTEMS) == {s for row in truth["companies"] for s in row["ids"]}


def test_a_detractor_is_expected_within_the_rules_30_days(world: World) -> None:
    """Truth counts "the last 30 days" as the nps_detractor rule does: ``as_of`` and the 29 days before."""
    expected = {row["key"] for row in truth_dict(world)["companies"] if "nps_detractor" in row["expected_alerts"]}
    recent = {s.company_key for s in world.surveys
              if s.kind == "nps" and s.score <= 6 and (AS_OF - s.submitted_at.date()).days < 30}
    assert expected and expected == recent


# ----------------------------------------------------------------------------- usage stream


@pytest.fixture(scope="module")
def tracks(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Track calls by group id."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        if event["type"] == "track":
            out[event["context"]["groupId"]].append(event)
    return out


def _window(tracks: list[dict[str, Any]], first: int, last: int) -> tuple[set[str], int]:
    """Active users and track events between ``first`` and ``last`` days before as_of."""
    start, end = str(AS_OF - timedelta(days=first)), str(AS_OF - timedelta(days=last))
    inside = [e for e in tracks if start <= e["timestamp"][:10] < end]
    return {e["userId"] for e in inside}, len(inside)


def _user_days(tracks: list[dict[str, Any]], first: int, last: int) -> int:
    start, end = str(AS_OF - timedelta(days=first)), str(AS_OF - timedelta(days=last))
    return len({(e["userId"], e["timestamp"][:10]) for e in tracks if start <= e["timestamp"][:10] < end})


def test_usage_stream_is_deterministic_and_well_formed(usage_world: World, events: list[dict[str, Any]]) -> None:
    again = list(iter_usage_events(generate_world(60, seed=11, as_of=AS_OF), company="C000003"))
    assert again == [e for e in events if e["messageId"].startswith("sbx11-C000003-")]
    assert len(again) > 100
    ids = [e["messageId"] for e in events]
    assert len(set(ids)) == len(ids)
    assert all(e["timestamp"][:10] < str(AS_OF) for e in events)
    kinds = Counter(e["type"] for e in events)
    assert kinds["identify"] == kinds["group"] > 0
    for event in events:
        assert event["timestamp"].endswith("Z") and event["userId"]
        if event["type"] == "group":
            assert event["groupId"] and {"name", "website", "plan", "employees"} <= set(event["traits"])
        if event["type"] == "identify":
            assert "@" in event["traits"]["email"]
        if event["type"] == "track":
            assert event["context"]["groupId"]
            assert event["event"] in (LOGIN_EVENT, NPS_EVENT, *KEY_FEATURES, *ONBOARDING_MILESTONES)
    logins = [e for e in events if e.get("event") == LOGIN_EVENT]
    assert logins and all(isinstance(e["properties"]["minutes"], int) for e in logins)
    per_user_day = Counter((e["userId"], e["timestamp"][:10]) for e in events if e["type"] == "track")
    assert 1.0 <= sum(per_user_day.values()) / len(per_user_day) <= 3.0


def test_every_user_is_introduced_before_tracking(events: list[dict[str, Any]]) -> None:
    introduced: set[str] = set()
    tracked = 0
    for event in events:
        if event["type"] in ("identify", "group"):
            introduced.add(event["userId"])
        else:
            assert event["userId"] in introduced
            tracked += 1
    assert introduced and tracked > 0


@pytest.mark.parametrize("story", STORIES)
def test_each_story_shows_in_the_stream(
    story: str, usage_world: World, tracks: dict[str, list[dict[str, Any]]]
) -> None:
    companies = [c for c in usage_world.companies if c.story == story]
    assert companies
    for company in companies:
        late_users, late_events = _window(tracks[company.key], 14, 0)
        prev_users, prev_events = _window(tracks[company.key], 28, 14)
        month_users, _ = _window(tracks[company.key], 30, 0)
        bought = seats(usage_world, company)
        chance = drop_chance(_user_days(tracks[company.key], 14, 0), _user_days(tracks[company.key], 28, 14))
        if story == "declining_usage":
            assert len(late_users) <= 0.5 * len(prev_users)
            assert late_events <= 0.5 * prev_events
            assert chance < 0.01  # far beyond what chance does to a steady team
        elif story in ("healthy", "power_users", "at_capacity", "ticket_storm", "champion_quiet"):
            # Steady: no drop chance cannot explain (a small team's fortnights still differ a little).
            assert late_events > 0.7 * prev_events or chance > 0.01, (late_events, prev_events, chance)
        if story == "at_capacity":
            assert len(_window(tracks[company.key], 7, 0)[0]) >= 0.9 * bought
        else:
            assert len(month_users) < 0.9 * bought
        milestones = {e["event"] for e in tracks[company.key] if e["event"] in ONBOARDING_MILESTONES}
        if story == "onboarding_stalled":
            assert 1 <= len(milestones) <= 2
        else:
            assert milestones == set(ONBOARDING_MILESTONES)
        if story == "champion_quiet":
            leaders = {p.key for p in usage_world.people
                       if p.company_key == company.key and p.role in ("champion", "executive_sponsor")}
            assert not leaders & month_users
        if story == "power_users":
            users = product_users(usage_world, company)
            assert users and all(len(u.features) >= 6 for u in users)


def test_nps_answers_are_in_the_stream(usage_world: World, events: list[dict[str, Any]]) -> None:
    window_start = MIDNIGHT - timedelta(days=180)
    expected = sorted((s.person_key, s.score) for s in usage_world.surveys if s.submitted_at >= window_start)
    found = sorted((e["userId"], e["properties"]["score"]) for e in events if e.get("event") == NPS_EVENT)
    assert expected and found == expected


def test_batches_stay_under_the_size_limit_and_keep_every_message(usage_world: World) -> None:
    stream = list(iter_usage_events(usage_world, company="C000001"))
    batches = list(iter_usage_batches(usage_world, max_bytes=20_000, events=stream))
    assert len(batches) > 1
    assert all(len(json.dumps(b)) <= 20_000 for b in batches)
    assert [m for b in batches for m in b["batch"]] == stream


def test_every_person_has_an_address_of_their_own() -> None:
    """Subsidiaries often share their parent's domain; two people never share an address."""
    big = generate_world(2000, seed=21, as_of=date(2026, 11, 28))
    shared_domains = {c.domain for c in big.companies if c.parent_key} & {c.domain for c in big.companies
                                                                           if not c.parent_key}
    assert len(shared_domains) > 20
    emails = [p.email for p in big.people]
    assert len(set(emails)) == len(emails)
