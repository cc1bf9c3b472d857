"""`HubSpotAdapter` with the real hubspot-api-client against the HubSpot emulator on loopback."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from integrations.base import (
    ContactRecord,
    DealRecord,
    FieldUpdate,
    ObjectName,
    Page,
    TicketRecord,
)
from integrations.errors import AuthError, FatalError, RetriableError, VendorRefused
from integrations.http import QuotaExhausted, RetryPolicy
from integrations.hubspot import HubSpotAdapter
from integrations.hubspot.adapter import OBJECT_TYPES
from integrations.hubspot.fields import PROPERTY_NAMES
from integrations.hubspot.wire import translate
from integrations.registry import adapter_for
from sandbox.core import LoopbackServer
from sandbox.faults import FaultInjector
from sandbox.hubspot import HubSpotEmulator
from sandbox.world import Company, Deal, Person, Presence, Ticket, World
from sync.push import HEALTH_FIELDS

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
OBJECTS: tuple[ObjectName, ...] = ("accounts", "contacts", "deals", "tickets")
UPDATE = "/crm/v3/objects/<object_type>/batch/update"
SEARCH = "/crm/v3/objects/<object_type>/search"
LIST = "/crm/v3/objects/<object_type>"


def make_world(n: int, *, stamp_block: int = 7) -> World:
    """``n`` companies (ids 1000+) sharing stamps in blocks of 7; the first 10 have people, deals, tickets.

    Companies 1 and 2 are children of company 0.
    """
    companies = [_company(i, stamp_block) for i in range(n)]
    people = [_person(i, j) for i in range(min(n, 10)) for j in range(2)]
    deals = [_deal(i) for i in range(min(n, 10))]
    tickets = [_ticket(i) for i in range(min(n, 10))]
    return World(
        seed=7,
        as_of=date(2026, 11, 20),
        companies=companies,
        people=people,
        deals=deals,
        tickets=tickets,
        surveys=[],
    )


def _company(i: int, stamp_block: int) -> Company:
    refs = {"salesforce": f"001{i:015d}"} if i % 2 == 0 else {}
    return Company(
        key=f"C{i}",
        name=f"Company {i}",
        domain=f"company{i}.example",
        industry="Software",
        employees=10 + i,
        segment="smb",
        tier="growth",
        csm_owner="csm@canary.example",
        story="healthy",
        onboarding_start=date(2026, 1, 1),
        parent_key="C0" if i in (1, 2) else None,
        presence={
            "hubspot": Presence(
                str(1000 + i),
                cross_refs=refs,
                created_at=T0,
                updated_at=T0 + timedelta(minutes=i // stamp_block),
            )
        },
    )


def _person(i: int, j: int) -> Person:
    return Person(
        key=f"P{i}-{j}",
        company_key=f"C{i}",
        first_name=f"Ada{j}",
        last_name=f"Lovelace{i}",
        email=f"ada{j}@company{i}.example",
        role="champion" if j == 0 else "user",
        title="Head of Ops",
        presence={
            "hubspot": Presence(
                str(50_000 + i * 10 + j), created_at=T0, updated_at=T0 + timedelta(minutes=i // 3)
            )
        },
    )


def _deal(i: int) -> Deal:
    return Deal(
        key=f"D{i}",
        company_key=f"C{i}",
        name=f"Company {i} renewal",
        arr=12_000.0 + i,
        seats=25,
        tier="growth",
        start_date=date(2026, 1, 1),
        renewal_date=date(2027, 1, 1),
        status="active" if i % 3 else "churned",
        presence={"hubspot": Presence(str(70_000 + i), created_at=T0)},
    )


def _ticket(i: int) -> Ticket:
    return Ticket(
        key=f"T{i}",
        company_key=f"C{i}",
        requester_key=f"P{i}-0",
        subject=f"Export broken {i}",
        priority="urgent" if i == 0 else "normal",
        status="open",
        escalated=i == 0,
        created_at=T0,
        updated_at=T0 + timedelta(hours=i),
        solved_at=None,
        satisfaction=None,
        satisfaction_comment=None,
        presence={"hubspot": Presence(str(90_000 + i))},
    )


class Dispatch:
    """One loopback server for the module; each test points it at its own app."""

    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def loopback() -> Iterator[tuple[Dispatch, LoopbackServer]]:
    dispatch = Dispatch()
    with LoopbackServer(dispatch) as server:
        yield dispatch, server


@dataclass
class Portal:
    emulator: HubSpotEmulator
    url: str
    clock: list[datetime]
    sleeps: list[float] = field(default_factory=list)

    def adapter(self, **options: Any) -> HubSpotAdapter:
        options.setdefault("search_per_second", 0)
        options.setdefault("sleep", self.sleeps.append)
        options.setdefault("policy", RetryPolicy(sleep=self.sleeps.append, rng=random.Random(1)))
        return HubSpotAdapter.from_sandbox(self.url, self.emulator.access_token, **options)

    def calls(self, method: str | None = None, endpoint: str | None = None) -> int:
        return self.emulator.stats.calls(method, endpoint)

    def ids(self, object_type: str) -> set[str]:
        return {r["id"] for r in self.emulator.records(object_type)}

    def advance(self, **delta: float) -> None:
        self.clock[0] += timedelta(**delta)

    def indexed(self) -> None:
        """Let the search index catch up with the writes so far and settle in order: records indexed
        within the last lag come back shuffled (`test_hubspot_behaviours` pulls through that)."""
        self.advance(seconds=2 * self.emulator.search_lag_seconds)


@pytest.fixture
def make_portal(loopback: tuple[Dispatch, LoopbackServer]) -> Callable[..., Portal]:
    dispatch, server = loopback

    def build(n: int = 30, *, wrap: Callable[[HubSpotEmulator], Any] | None = None, **limits: Any) -> Portal:
        clock = [T0 + timedelta(days=2)]
        limits.setdefault("requests_per_10s", 100_000)
        limits.setdefault("search_requests_per_second", 100_000)
        emu = HubSpotEmulator(clock=lambda: clock[0], **limits)
        emu.seed(make_world(n))
        dispatch.app = wrap(emu) if wrap else emu.wsgi_app
        return Portal(emu, server.url, clock)

    return build


def drain(adapter: HubSpotAdapter, obj: ObjectName, cursor: str | None = None) -> list[Page]:
    return list(adapter.pull(obj, cursor))


def ids_of(pages: list[Page]) -> list[str]:
    return [r.external_id for p in pages for r in p.records]


# --- pull -----------------------------------------------------------------------------------


@pytest.mark.parametrize("obj", OBJECTS)
def test_full_pull_returns_every_record_once_with_its_company(
    make_portal: Callable[..., Portal], obj: ObjectName
) -> None:
    portal = make_portal(250)
    adapter = portal.adapter(list_limit=40)
    pages = drain(adapter, obj)
    ids = ids_of(pages)
    object_type = OBJECT_TYPES[obj]
    assert len(ids) == len(set(ids)) == len(portal.ids(object_type))
    assert set(ids) == portal.ids(object_type)
    # the newest stamp, the list pages, one search after the walk and one page of archived records; for
    # companies also the owners, once per run: one page of owners and one of archived owners
    assert adapter.calls == portal.calls() == (1 + math.ceil(len(ids) / 40) + 1 + 2 if obj == "accounts" else 3) + 1
    assert portal.calls("GET", LIST) == math.ceil(len(ids) / 40) + 1
    records: dict[str, Any] = {r.external_id: r for p in pages for r in p.records}
    if obj == "accounts":
        assert records["1001"].parent_external_id == records["1002"].parent_external_id == "1000"
        assert records["1000"].parent_external_id is None
        assert records["1004"].cross_refs == {"salesforce": "001000000000000004"}
        assert records["1005"].cross_refs == {}
    else:
        assert records
        for rid, record in records.items():
            assert (
                record.account_external_id == portal.emulator.associations(object_type, rid, "companies")[0]
            )


def test_second_pull_with_nothing_new_spends_one_call_per_object(make_portal: Callable[..., Portal]) -> None:
    portal = make_portal(60)
    adapter = portal.adapter()
    cursors = {obj: drain(adapter, obj)[-1].cursor for obj in OBJECTS}
    before, stats_before = adapter.calls, portal.calls()
    for obj in OBJECTS:
        assert drain(adapter, obj, cursors[obj]) == []
    assert adapter.calls - before == portal.calls() - stats_before == len(OBJECTS)
    assert portal.calls("POST", SEARCH) - 4 * 2 == len(OBJECTS)  # 2 searches per object in the first pull


@pytest.mark.parametrize("obj", OBJECTS)
def test_touching_five_records_pulls_exactly_those_five(
    make_portal: Callable[..., Portal], obj: ObjectName
) -> None:
    portal = make_portal(60)
    adapter = portal.adapter()
    cursor = drain(adapter, obj)[-1].cursor
    object_type = OBJECT_TYPES[obj]
    touched = sorted(portal.ids(object_type))[2:7]
    portal.advance(hours=1)
    assert portal.emulator.touch(object_type, touched) == 5
    portal.indexed()
    pages = drain(adapter, obj, cursor)
    assert sorted(ids_of(pages)) == touched
    if obj != "accounts":
        for record in (
            r for p in pages for r in p.records if isinstance(r, ContactRecord | DealRecord | TicketRecord)
        ):
            assert (
                record.account_external_id
                == portal.emulator.associations(object_type, record.external_id, "companies")[0]
            )
    assert drain(adapter, obj, pages[-1].cursor) == []


def test_many_records_sharing_one_stamp_across_page_boundaries(make_portal: Callable[..., Portal]) -> None:
    portal = make_portal(200)
    adapter = portal.adapter(search_limit=25)
    cursor = drain(adapter, "accounts")[-1].cursor
    ids = sorted(portal.ids("companies"), key=int)
    portal.advance(minutes=1)
    portal.emulator.touch("companies", ids[100:110])  # 10 alone at t1
    portal.advance(minutes=1)
    portal.emulator.touch("companies", ids[:90])  # 90 share t2: several pages of 25
    portal.advance(minutes=1)
    portal.emulator.touch("companies", ids[150:153])
    portal.indexed()
    before = adapter.calls
    pages = drain(adapter, "accounts", cursor)
    got = ids_of(pages)
    assert len(got) == len(set(got)) == 103
    assert set(got) == set(ids[100:110]) | set(ids[:90]) | set(ids[150:153])
    stamps = [r.updated_at for p in pages for r in p.records]
    assert stamps == sorted(stamps)
    # search: 1 newest-first (a full page of changes: page forward from the look-back window)
    # + 1 (11 already seen in the window, 10 at t1, 4 held back) + 1 (full page at t2 -> id order)
    # + 4 (90 by id) + 1 (3 at t3); association reads: one per page that delivered records
    # (t1, 4 x t2, t3); one page of archived records (a change this big is checked for removals).
    assert adapter.calls - before == 1 + 7 + 6 + 1
    assert drain(adapter, "accounts", pages[-1].cursor) == []


def test_resume_from_the_cursor_of_an_interrupted_walk(make_portal: Callable[..., Portal]) -> None:
    portal = make_portal(95)
    first = portal.adapter(list_limit=20)
    stream: Any = first.pull("accounts", None)
    taken = [next(stream), next(stream)]
    stream.close()
    resumed = drain(portal.adapter(list_limit=20), "accounts", taken[-1].cursor)
    got = ids_of(taken) + ids_of(resumed)
    assert len(got) == len(set(got)) == 95


def test_resume_inside_a_group_of_equal_stamps(make_portal: Callable[..., Portal]) -> None:
    portal = make_portal(120)
    adapter = portal.adapter(search_limit=20)
    cursor = drain(adapter, "accounts")[-1].cursor
    portal.advance(minutes=5)
    portal.emulator.touch("companies", portal.ids("companies"))
    portal.indexed()
    stream: Any = adapter.pull("accounts", cursor)
    taken = []
    for page in stream:
        taken.append(page)
        if '"tie"' in (page.cursor or "") and page.records:
            break
    stream.close()
    assert ids_of(taken)
    rest = drain(portal.adapter(search_limit=20), "accounts", taken[-1].cursor)
    got = ids_of(taken) + ids_of(rest)
    assert len(got) == len(set(got)) == 120


def test_more_changes_than_the_threshold_switch_to_a_list_walk(make_portal: Callable[..., Portal]) -> None:
    portal = make_portal(80)
    adapter = portal.adapter(walk_threshold=30, search_limit=20)  # 40 changes do not fit one search page
    cursor = drain(adapter, "accounts")[-1].cursor
    portal.advance(minutes=1)
    portal.emulator.touch("companies", sorted(portal.ids("companies"))[:40])
    portal.indexed()
    lists_before = portal.calls("GET", LIST)
    pages = drain(adapter, "accounts", cursor)
    assert sorted(ids_of(pages)) == sorted(portal.ids("companies"))
    assert portal.calls("GET", LIST) - lists_before == 2  # the walk's one page, one page of archived records
    assert drain(adapter, "accounts", pages[-1].cursor) == []


def test_records_changed_during_the_walk_are_pulled_after_it(make_portal: Callable[..., Portal]) -> None:
    portal = make_portal(60)
    adapter = portal.adapter(list_limit=20)
    stream = adapter.pull("accounts", None)
    pages = [next(stream)]
    portal.advance(minutes=1)
    portal.emulator.touch("companies", ["1003"])  # already walked past
    portal.indexed()
    pages.extend(stream)
    got = ids_of(pages)
    assert got.count("1003") == 2
    assert len(set(got)) == 60


# --- fields and push ------------------------------------------------------------------------


def test_ensure_fields_creates_group_and_properties_once(make_portal: Callable[..., Portal]) -> None:
    portal = make_portal(3)
    adapter = portal.adapter()
    assert adapter.ensure_fields(HEALTH_FIELDS) == ["score", "band", "trend", "reasons", "scored_at"]
    table = portal.emulator.store.table("companies")
    assert table.groups["canary_health"].label == "Canary health"
    props = {name: table.properties[name] for name in PROPERTY_NAMES.values()}
    assert {n: (p.type, p.field_type, p.group_name) for n, p in props.items()} == {
        "canary_health_score": ("number", "number", "canary_health"),
        "canary_health_band": ("enumeration", "select", "canary_health"),
        "canary_health_trend": ("number", "number", "canary_health"),
        "canary_health_reasons": ("string", "textarea", "canary_health"),
        "canary_scored_at": ("datetime", "date", "canary_health"),
    }
    assert [o["value"] for o in props["canary_health_band"].options] == ["good", "average", "poor"]
    before = adapter.calls
    assert portal.adapter().ensure_fields(HEALTH_FIELDS) == []
    assert portal.calls() - before == 1


def _values(i: int, **override: str | None) -> dict[str, str | None]:
    values: dict[str, str | None] = {
        "score": str(40 + i % 50),
        "band": "average",
        "trend": "-0.5",
        "reasons": "Usage fell 40 %",
        "scored_at": "2026-11-20T06:00:00Z",
    }
    values.update(override)
    return values


@pytest.mark.parametrize("n", [1, 100, 101, 250])
def test_push_spends_ceil_n_over_100_calls_and_reports_the_unknown_id(
    make_portal: Callable[..., Portal], n: int
) -> None:
    portal = make_portal(250)
    adapter = portal.adapter()
    adapter.ensure_fields(HEALTH_FIELDS)
    updates = [FieldUpdate(str(1000 + i), _values(i)) for i in range(n - 1)] + [
        FieldUpdate("424242", _values(0))
    ]
    before = portal.calls("POST", UPDATE)
    result = adapter.push_fields(updates)
    assert portal.calls("POST", UPDATE) - before == result.calls == math.ceil(n / 100)
    assert list(result.failed) == ["424242"]
    assert "OBJECT_NOT_FOUND" in result.failed["424242"]
    assert sorted(result.succeeded) == sorted(u.external_id for u in updates[:-1])
    stored = {r["id"]: r["properties"] for r in portal.emulator.records("companies")}
    for i in range(n - 1):
        assert stored[str(1000 + i)]["canary_health_score"] == str(40 + i % 50)
        assert stored[str(1000 + i)]["canary_health_band"] == "average"
        assert stored[str(1000 + i)]["canary_scored_at"] == "2026-11-20T06:00:00.000Z"


def test_bad_values_are_reported_without_a_call(make_portal: Callable[..., Portal]) -> None:
    portal = make_portal(120)
    adapter = portal.adapter()
    adapter.ensure_fields(HEALTH_FIELDS)
    updates = [FieldUpdate(str(1000 + i), _values(i)) for i in range(100)]
    updates += [
        FieldUpdate("1100", _values(0, score="high")),
        FieldUpdate("1101", _values(0, band="amber")),
        FieldUpdate("abc", _values(0)),
    ]
    result = adapter.push_fields(updates)
    assert result.calls == portal.calls("POST", UPDATE) == 1
    assert set(result.failed) == {"1100", "1101", "abc"}
    assert "not a number" in result.failed["1100"] and "good, average, poor" in result.failed["1101"]
    assert len(result.succeeded) == 100


def test_a_400_for_one_value_drops_that_record_and_resends_the_rest(
    make_portal: Callable[..., Portal],
) -> None:
    portal = make_portal(10)
    store = portal.emulator.store
    store.create_group("companies", {"name": "canary_health", "label": "Canary health"})
    for name in ("canary_health_score", "canary_health_trend"):
        store.create_property(
            "companies",
            {
                "name": name,
                "label": name,
                "type": "number",
                "fieldType": "number",
                "groupName": "canary_health",
            },
        )
    store.create_property(
        "companies",
        {
            "name": "canary_health_band",
            "label": "Band",
            "type": "enumeration",
            "fieldType": "select",
            "groupName": "canary_health",
            "options": [{"label": "Good", "value": "good"}, {"label": "Average", "value": "average"}],
        },
    )
    adapter = portal.adapter()  # no ensure_fields: it does not know the admin's narrower options
    updates = [
        FieldUpdate(str(1000 + i), {"score": "50", "band": "poor" if i == 3 else "good"}) for i in range(6)
    ]
    result = adapter.push_fields(updates)
    assert result.calls == portal.calls("POST", UPDATE) == 2
    assert list(result.failed) == ["1003"] and "poor" in result.failed["1003"]
    missing = adapter.push_fields([FieldUpdate("1000", {"reasons": "Usage fell"})])
    assert "PROPERTY_DOESNT_EXIST" in missing.failed["1000"] or "does not exist" in missing.failed["1000"]
    assert sorted(result.succeeded) == ["1000", "1001", "1002", "1004", "1005"]
    stored = {r["id"]: r["properties"] for r in portal.emulator.records("companies")}
    assert stored["1005"]["canary_health_band"] == "good"
    assert stored["1003"].get("canary_health_band") is None


class VagueRejection:
    """In front of the emulator: a batch update holding id 1007 fails whole with a 400 naming nothing."""

    def __init__(self, emu: HubSpotEmulator) -> None:
        self.emu = emu
        self.app = emu.wsgi_app

    def __call__(self, environ: Any, start_response: Any) -> Any:
        if environ["PATH_INFO"].endswith("/batch/update"):
            size = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(size)
            import io

            environ["wsgi.input"] = io.BytesIO(raw)
            if any(i.get("id") == "1007" for i in json.loads(raw)["inputs"]):
                self.emu.stats.record_call("POST", UPDATE)
                body = json.dumps(
                    {
                        "status": "error",
                        "message": "Invalid input",
                        "category": "VALIDATION_ERROR",
                        "correlationId": "x",
                    }
                ).encode()
                start_response(
                    "400 BAD REQUEST",
                    [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
                )
                return [body]
        return self.app(environ, start_response)


def test_an_unattributable_400_halves_the_batch_until_the_bad_record_is_alone(
    make_portal: Callable[..., Portal],
) -> None:
    portal = make_portal(10, wrap=VagueRejection)
    adapter = portal.adapter()
    adapter.ensure_fields(HEALTH_FIELDS)
    result = adapter.push_fields([FieldUpdate(str(1000 + i), _values(i)) for i in range(8)])
    assert list(result.failed) == ["1007"]
    assert sorted(result.succeeded) == [str(1000 + i) for i in range(7)]
    assert result.calls == portal.calls("POST", UPDATE) == 1 + 2 + 2 + 2  # 8 -> 4+4 -> 2+2 -> 1+1


# --- limits, faults, auth -------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "retry_after"), [("429", 3), ("503", 2), ("500", None), ("drop", None)])
def test_faults_are_retried_by_the_policy_honouring_retry_after(
    make_portal: Callable[..., Portal], kind: str, retry_after: int | None
) -> None:
    faults: list[FaultInjector] = []

    def wrap(emu: HubSpotEmulator) -> FaultInjector:
        faults.append(
            FaultInjector(
                emu.wsgi_app,
                rate=0.3,
                seed=11,
                kinds=(kind,),
                retry_after=retry_after or 1,
                fault_response=emu.fault_response,
            )
        )
        return faults[0]

    portal = make_portal(90, wrap=wrap)
    adapter = portal.adapter(list_limit=10)
    pages = drain(adapter, "accounts")
    assert sorted(ids_of(pages)) == sorted(portal.ids("companies"))
    injected = faults[0].snapshot()["injected_total"]
    assert injected >= 2
    assert adapter.calls == portal.calls() + injected
    assert adapter.policy.retries == injected
    if retry_after is not None:
        assert portal.sleeps == [float(retry_after)] * injected
    else:
        assert len(portal.sleeps) == injected and all(0 <= s <= 30 for s in portal.sleeps)


def test_the_10_second_window_is_respected_without_a_429(make_portal: Callable[..., Portal]) -> None:
    now = [1000.0]
    portal = make_portal(60, requests_per_10s=4, monotonic=lambda: now[0])

    def sleep(seconds: float) -> None:
        portal.sleeps.append(seconds)
        now[0] += seconds

    adapter = portal.adapter(
        list_limit=5, sleep=sleep, monotonic=lambda: now[0], policy=RetryPolicy(sleep=sleep, max_attempts=1)
    )
    pages = drain(adapter, "accounts")
    assert len(ids_of(pages)) == 60
    assert adapter.policy.retries == 0
    assert adapter.pacer.waited >= 10 * (12 // 4 - 1)  # 12 list pages, 4 per 10 s


def test_searches_are_spaced_under_the_per_second_limit(make_portal: Callable[..., Portal]) -> None:
    now = [50.0]
    portal = make_portal(60, search_requests_per_second=2, monotonic=lambda: now[0])

    def sleep(seconds: float) -> None:
        portal.sleeps.append(seconds)
        now[0] += seconds

    adapter = portal.adapter(
        search_limit=10,
        search_per_second=2,
        sleep=sleep,
        monotonic=lambda: now[0],
        policy=RetryPolicy(sleep=sleep, max_attempts=1),
    )
    cursor = drain(adapter, "accounts")[-1].cursor
    portal.advance(minutes=1)
    portal.emulator.touch("companies", sorted(portal.ids("companies"))[:35])
    portal.indexed()
    assert len(ids_of(drain(adapter, "accounts", cursor))) == 35
    assert portal.sleeps and all(s == pytest.approx(0.5) for s in portal.sleeps)


def test_the_quota_guard_stops_a_run_with_a_clear_message(make_portal: Callable[..., Portal]) -> None:
    portal = make_portal(60, daily_api_limit=1000)
    adapter = portal.adapter(list_limit=5, run_share=0.004)
    with pytest.raises(QuotaExhausted, match="hubspot: this run has used 4 API calls"):
        drain(adapter, "accounts")
    assert adapter.calls == portal.calls() == 4  # int(1000 * 0.004)
    assert adapter.quota_left() == 996


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "retry_after"),
    [
        (429, {"category": "RATE_LIMITS", "policyName": "DAILY", "message": "daily"}, {}, FatalError, None),
        (429, {"category": "RATE_LIMITS", "policyName": "TEN_SECONDLY_ROLLING"}, {}, RetriableError, None),
        (429, {"category": "RATE_LIMITS"}, {"Retry-After": "7"}, RetriableError, 7.0),
        (502, b"<html>bad gateway</html>", {}, RetriableError, None),
        (401, {"category": "INVALID_AUTHENTICATION"}, {}, AuthError, None),
        (403, {"category": "MISSING_SCOPES"}, {}, AuthError, None),
        (400, {"category": "VALIDATION_ERROR", "message": "nope"}, {}, VendorRefused, None),
        (0, "SSLError certificate verify failed", {}, FatalError, None),
    ],
)
def test_error_translation(
    status: int, body: Any, headers: dict[str, str], kind: type[Exception], retry_after: float | None
) -> None:
    raw = json.dumps(body) if isinstance(body, dict) else body
    error = translate("list companies", status, raw, headers)
    assert type(error) is kind
    assert getattr(error, "retry_after", None) == retry_after


@pytest.mark.parametrize("token", ["wrong-token", "pat-na1-0000-secret"])
def test_a_wrong_token_is_an_auth_error_that_does_not_echo_it(
    make_portal: Callable[..., Portal], token: str
) -> None:
    portal = make_portal(3)
    adapter = HubSpotAdapter(token, base_url=portal.url)
    with pytest.raises(AuthError) as info:
        adapter.check_connection()
    assert "rejected the access token" in str(info.value)
    assert token not in str(info.value)
    assert adapter.calls == portal.calls() == 1


def test_check_connection_costs_one_call_and_an_empty_token_is_refused(
    make_portal: Callable[..., Portal],
) -> None:
    portal = make_portal(3)
    adapter = portal.adapter()
    adapter.check_connection()
    assert adapter.calls == portal.calls() == 1
    with pytest.raises(AuthError, match="no access token"):
        HubSpotAdapter("", base_url=portal.url)


def test_registry_and_bad_arguments(make_portal: Callable[..., Portal]) -> None:
    portal = make_portal(3)
    adapter = adapter_for("hubspot", access_token=portal.emulator.access_token, base_url=portal.url)
    assert isinstance(adapter, HubSpotAdapter)
    with pytest.raises(ValueError, match="hubspot has no satisfaction"):
        adapter.pull("satisfaction", None)
    with pytest.raises(ValueError, match="push_batch_size"):
        HubSpotAdapter("t", push_batch_size=101)
    with pytest.raises(FatalError, match="full sync"):
        drain(adapter, "accounts", "17")
