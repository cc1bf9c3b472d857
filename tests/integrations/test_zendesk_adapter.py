"""`ZendeskAdapter` with the real zenpy against `ZendeskEmulator` on a loopback server."""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests
import requests.adapters
from zenpy.lib import api as zenpy_api

from integrations.base import AccountRecord, FieldUpdate, ObjectName, Page, TicketRecord
from integrations.errors import AuthError, FatalError
from integrations.http import QuotaExhausted, RetryPolicy
from integrations.registry import adapter_for
from integrations.zendesk import ZendeskAdapter
from integrations.zendesk.cursor import AfterCursor, TimeCursor
from integrations.zendesk.wire import ZendeskSession
from sandbox.core import LoopbackServer, make_self_signed_cert
from sandbox.faults import FaultInjector
from sandbox.generate import generate_world
from sandbox.world import World
from sandbox.zendesk import ZendeskEmulator
from sync.push import HEALTH_FIELDS
from tests.shared import WORLD_AS_OF, WORLD_NOW, pinned_clock

NATIVE: dict[ObjectName, str] = {
    "accounts": "organizations",
    "contacts": "users",
    "tickets": "tickets",
    "satisfaction": "satisfaction_ratings",
}
PULLED: tuple[ObjectName, ...] = ("accounts", "contacts", "tickets", "satisfaction")
UPDATE_MANY = "/api/v2/organizations/update_many.json"
JOB_STATUS = "/api/v2/job_statuses/{id}.json"
JOB_STATUSES = "/api/v2/job_statuses/show_many.json"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Slot:
    """The WSGI app behind one shared loopback server; each test plugs in its own emulator."""

    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)


@dataclass
class Box:
    emulator: ZendeskEmulator
    clock: Clock
    server: LoopbackServer
    slot: Slot
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        """The fake sleep of the retry policy and job polling: time passes on the emulator's clock."""
        self.sleeps.append(seconds)
        self.clock.advance(seconds)

    def adapter(self, **options: Any) -> ZendeskAdapter:
        options.setdefault("policy", RetryPolicy(sleep=self.sleep, rng=random.Random(1)))
        return ZendeskAdapter.from_sandbox(self.server.url, self.emulator.credentials, sleep=self.sleep, **options)

    def calls(self) -> int:
        return int(self.emulator.stats.snapshot()["calls_total"])

    def ids(self, native: str) -> list[str]:
        rows = self.emulator.records(native)
        if native == "users":
            rows = [r for r in rows if r["role"] == "end-user"]
        if native == "satisfaction_ratings":
            rows = [r for r in rows if r["score"] in ("good", "bad")]
        return sorted(str(r["id"]) for r in rows)

    def inject(self, **options: Any) -> FaultInjector:
        injector = FaultInjector(self.emulator.wsgi_app, fault_response=self.emulator.fault_response, **options)
        self.slot.app = injector
        return injector


@pytest.fixture(scope="module")
def loopback() -> Iterator[tuple[LoopbackServer, Slot]]:
    slot = Slot()
    with LoopbackServer(slot) as server:
        yield server, slot


@pytest.fixture(scope="module", autouse=True)
def _pinned_clock() -> Iterator[None]:
    """zenpy's own rule for time-based walks looks at the wall clock: it starts at `WORLD_NOW` here."""
    with pinned_clock():
        yield


def now() -> datetime:
    """The emulator's start: the pinned wall clock's, so zenpy's rule and the emulator agree."""
    return WORLD_NOW


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(accounts=40, seed=3, as_of=WORLD_AS_OF)


@pytest.fixture
def boot(loopback: tuple[LoopbackServer, Slot], world: World) -> Callable[..., Box]:
    server, slot = loopback

    def make(seed_world: World | None = None, **limits: Any) -> Box:
        limits.setdefault("incremental_requests_per_minute", None)
        clock = Clock(now())
        emulator = ZendeskEmulator(clock=clock, **limits)
        emulator.seed(seed_world or world)
        slot.app = emulator.wsgi_app
        return Box(emulator, clock, server, slot)

    return make


@pytest.fixture
def box(boot: Callable[..., Box]) -> Box:
    return boot()


def drain(adapter: ZendeskAdapter, obj: ObjectName, cursor: str | None = None) -> tuple[list[Page], str | None]:
    pages = list(adapter.pull(obj, cursor))
    return pages, (pages[-1].cursor if pages else cursor)


def ids_of(pages: list[Page]) -> list[str]:
    return [r.external_id for p in pages for r in p.records]


# ---------------------------------------------------------------- pulls


@pytest.mark.parametrize("obj", PULLED)
@pytest.mark.parametrize("page_size", [5, 1000])
def test_full_pull_returns_every_record_once_and_counts_every_call(box: Box, obj: ObjectName, page_size: int) -> None:
    adapter = box.adapter(export_page_size=page_size, list_page_size=min(page_size, 100))
    pages, _ = drain(adapter, obj)
    ids = ids_of(pages)
    assert sorted(ids) == box.ids(NATIVE[obj])
    assert len(ids) == len(set(ids))
    assert adapter.calls == box.calls() >= 1
    if page_size == 5:
        assert len(pages) > 3
    if obj != "satisfaction":  # exports come in modification order
        stamps = [r.updated_at for p in pages for r in p.records]
        assert stamps == sorted(stamps)


def test_pull_mapped_values_come_from_the_emulator(box: Box) -> None:
    adapter = box.adapter()
    accounts = {r.external_id: r for p in adapter.pull("accounts", None) for r in p.records
                if isinstance(r, AccountRecord)}
    organizations = box.emulator.records("organizations")
    assert organizations and len(accounts) == len(organizations)
    for org in organizations:
        record = accounts[str(org["id"])]
        assert record.name == org["name"].strip()
        assert record.cross_refs.get("salesforce") == org["external_id"]
        assert record.cross_refs.get("hubspot") == org["organization_fields"]["hubspot_company_id"]
        assert record.domain == (org["domain_names"][0] if org["domain_names"] else None)
    tickets = {r.external_id: r for p in adapter.pull("tickets", None) for r in p.records
               if isinstance(r, TicketRecord)}
    rows = box.emulator.records("tickets")
    assert rows
    for row in rows:
        ticket = tickets[str(row["id"])]
        assert ticket.escalated is ("escalated" in row["tags"])
        assert ticket.priority == row["priority"]
        assert ticket.satisfaction == (row["satisfaction_rating"]["score"]
                                       if row["satisfaction_rating"]["score"] in ("good", "bad") else None)


def test_pulls_and_fetches_build_no_zenpy_objects(box: Box, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads keep zenpy's raw answers (its endpoint, URL and ``_get``): its model deserialisation never runs."""
    built: list[str] = []

    def refuse(api: Any, response: Any, object_mapping: Any = None) -> None:
        built.append(response.request.path_url)
        raise AssertionError("zenpy built objects from a pull's answer")

    monkeypatch.setattr(zenpy_api.BaseApi, "_process_response", refuse)
    adapter = box.adapter(export_page_size=7, list_page_size=5)
    pulled = {obj: ids_of(drain(adapter, obj)[0]) for obj in PULLED}
    assert {obj: sorted(ids) for obj, ids in pulled.items()} == {obj: box.ids(NATIVE[obj]) for obj in PULLED}
    fetched = adapter.fetch("accounts", pulled["accounts"][:3])
    assert sorted(r.external_id for r in fetched.records) == sorted(pulled["accounts"][:3])
    assert built == []
    assert adapter.calls == box.calls()


@pytest.mark.parametrize("page_size", [5, 1000])
def test_nothing_new_costs_one_call_per_object(box: Box, page_size: int) -> None:
    adapter = box.adapter(export_page_size=page_size, list_page_size=min(page_size, 100))
    cursors = {obj: drain(adapter, obj)[1] for obj in PULLED}
    box.clock.advance(120)
    for obj in PULLED:
        before, api_before = adapter.calls, box.calls()
        pages, _ = drain(adapter, obj, cursors[obj])
        assert ids_of(pages) == []
        assert adapter.calls - before == 1 == box.calls() - api_before, obj


@pytest.mark.parametrize("obj", ["accounts", "contacts", "tickets"])
def test_five_changes_come_back_exactly_once_a_minute_later(box: Box, obj: ObjectName) -> None:
    adapter = box.adapter(export_page_size=5)
    _, cursor = drain(adapter, obj)
    box.clock.advance(300)
    touched = box.ids(NATIVE[obj])[3:30:6]
    assert len(touched) == 5
    box.emulator.touch(NATIVE[obj], touched)
    pages, still = drain(adapter, obj, cursor)
    assert ids_of(pages) == []  # exports leave out the last minute...
    box.clock.advance(61)
    pages, after = drain(adapter, obj, still)
    assert sorted(ids_of(pages)) == touched  # ...and deliver it once it is a minute old
    before = adapter.calls
    assert ids_of(drain(adapter, obj, after)[0]) == []
    assert adapter.calls - before == 1


@pytest.mark.parametrize("obj", ["accounts", "contacts", "tickets"])
def test_many_records_sharing_one_second_across_page_boundaries(box: Box, obj: ObjectName) -> None:
    adapter = box.adapter(export_page_size=4)
    _, cursor = drain(adapter, obj)
    second = box.clock.now - timedelta(seconds=90)
    ids = box.ids(NATIVE[obj])
    before, shared, after = ids[:1], ids[1:12], ids[12:14]
    box.emulator.touch(NATIVE[obj], before, at=second - timedelta(seconds=1))
    box.emulator.touch(NATIVE[obj], shared, at=second)  # the first page ends inside this second
    box.emulator.touch(NATIVE[obj], after, at=second + timedelta(seconds=1))
    returned_before = box.emulator.stats.snapshot()["records_returned"]
    pages, _ = drain(adapter, obj, cursor)
    got = ids_of(pages)
    assert sorted(got) == sorted(before + shared + after)
    assert len(got) == len(set(got))
    assert len(pages) >= 3
    served = box.emulator.stats.snapshot()["records_returned"] - returned_before
    if obj == "accounts":  # the time-based export served the boundary items twice; the adapter dropped them
        assert served > len(got)
    else:
        assert served == len(got)


def test_organization_walk_is_not_cut_short_near_the_wall_clock(box: Box) -> None:
    """zenpy's own generator stops a time-based walk whose end_time is within 5 minutes of now."""
    adapter = box.adapter(export_page_size=3)
    _, cursor = drain(adapter, "accounts")
    recent = box.ids("organizations")[:10]
    for n, org_id in enumerate(recent):
        box.emulator.touch("organizations", [org_id], at=box.clock.now - timedelta(seconds=200 - n * 10))
    pages, _ = drain(adapter, "accounts", cursor)
    assert sorted(ids_of(pages)) == recent
    assert len(pages) >= 4


@pytest.mark.parametrize("obj", PULLED)
def test_resume_after_an_interrupted_walk(box: Box, obj: ObjectName) -> None:
    adapter = box.adapter(export_page_size=5, list_page_size=10)
    walk = adapter.pull(obj, None)
    first = [next(walk), next(walk)]
    del walk  # the run died here; the runner saved the second page's cursor
    resumed, _ = drain(box.adapter(export_page_size=5, list_page_size=10), obj, first[-1].cursor)
    ids = ids_of(first) + ids_of(resumed)
    assert sorted(ids) == box.ids(NATIVE[obj])
    assert len(ids) == len(set(ids))


def test_export_limit_of_ten_per_minute_is_waited_out(boot: Callable[..., Box]) -> None:
    box = boot(incremental_requests_per_minute=10)
    box.clock.now = box.clock.now.replace(second=20)
    adapter = box.adapter(export_page_size=10)
    pages, _ = drain(adapter, "contacts")
    assert sorted(ids_of(pages)) == box.ids("users")
    assert len(pages) > 10
    assert box.sleeps and all(0 < s <= 60 for s in box.sleeps)
    assert box.sleeps[0] == 40  # the emulator's Retry-After: the rest of its minute
    assert adapter.policy.retries == len(box.sleeps)
    assert adapter.calls == box.calls() == len(pages) + len(box.sleeps)


def test_429_and_server_faults_retried_with_retry_after(box: Box) -> None:
    injector = box.inject(rate=0.3, seed=7, kinds=("429", "503", "500", "drop"), retry_after=7)
    adapter = box.adapter(export_page_size=10)
    pages, _ = drain(adapter, "tickets")
    assert sorted(ids_of(pages)) == box.ids("tickets")
    faults = [kind for _, _, kind in injector.log]
    assert {"429", "503", "drop"} <= set(faults)
    # Retry-After is honoured exactly (429 and 503 carry it); the others back off with jitter.
    waits = [s for s, kind in zip(box.sleeps, faults, strict=True) if kind in ("429", "503")]
    assert waits == [7.0] * len(waits)
    assert adapter.calls == box.calls() + len(faults)


def test_pause_when_the_minute_share_is_spent_then_stop(boot: Callable[..., Box]) -> None:
    box = boot(requests_per_minute=20)
    box.clock.now = box.clock.now.replace(second=50)
    adapter = box.adapter(export_page_size=20, run_share=0.25)
    pages, _ = drain(adapter, "contacts")
    assert sorted(ids_of(pages)) == box.ids("users")
    assert adapter.quota_pauses == 1  # 5 calls (a quarter of 20), a pause, then the other 4
    assert box.sleeps == [10]  # until the emulator's minute window resets
    assert adapter.calls == box.calls() == len(pages) == 9
    assert adapter.quota_left() == 20 - 4

    box.clock.advance(60 - box.clock.now.second)  # a fresh minute
    stopping = box.adapter(export_page_size=5, run_share=0.25, max_quota_pauses=0)
    with pytest.raises(QuotaExhausted, match=r"5 of the account's 20 requests of this minute .* next run resumes"):
        drain(stopping, "tickets")
    assert stopping.calls == 5


def test_refused_cursor_is_fatal_with_the_vendor_message(box: Box) -> None:
    adapter = box.adapter()
    with pytest.raises(FatalError, match=r"export tickets refused \(400 InvalidValue: The cursor is not valid\)"):
        drain(adapter, "tickets", AfterCursor("bm90LWEtY3Vyc29y").dump())
    assert adapter.calls == 1 == box.calls()
    assert box.sleeps == []


def test_start_time_younger_than_a_minute_is_nothing_new(box: Box) -> None:
    adapter = box.adapter()
    recent = TimeCursor(int(box.clock.now.timestamp()) - 20).dump()
    assert drain(adapter, "accounts", recent) == ([], recent)
    assert adapter.calls == 1 == box.calls()


def test_sandbox_over_tls_with_its_certificate(world: World, tmp_path: Any) -> None:
    emulator = ZendeskEmulator(clock=Clock(now()), incremental_requests_per_minute=None)
    emulator.seed(world)
    tls = make_self_signed_cert(str(tmp_path))
    with LoopbackServer(emulator.wsgi_app, tls=tls) as server:
        assert server.url.startswith("https://")
        trusting = ZendeskAdapter.from_sandbox(server.url, emulator.credentials, verify=tls.cert_path)
        assert len(ids_of(drain(trusting, "accounts")[0])) == len(emulator.records("organizations"))
        wary = ZendeskAdapter.from_sandbox(server.url, emulator.credentials, policy=RetryPolicy(sleep=lambda s: None))
        with pytest.raises(FatalError, match="TLS certificate is not trusted"):
            wary.check_connection()
        assert wary.calls == 1


def test_bad_token_is_an_auth_error_without_retries(box: Box) -> None:
    credentials = box.emulator.credentials | {"token": "wrong-token-value"}
    adapter = ZendeskAdapter.from_sandbox(box.server.url, credentials,
                                          policy=RetryPolicy(sleep=box.sleep))
    with pytest.raises(AuthError) as caught:
        adapter.check_connection()
    message = str(caught.value)
    assert "401" in message and "Couldn't authenticate you" in message and "canary-sandbox" in message
    assert "wrong-token-value" not in message
    with pytest.raises(AuthError):
        drain(adapter, "accounts")
    assert adapter.calls == 2 == box.calls()
    assert box.sleeps == []


def test_check_connection_is_one_call(box: Box) -> None:
    adapter = box.adapter()
    adapter.check_connection()
    assert adapter.calls == 1 == box.calls()
    assert adapter.quota_left() == 699


def test_registered_and_built_by_name(box: Box) -> None:
    adapter = adapter_for("zendesk", subdomain="canary-sandbox", email="a@b.test", token="t", url=box.server.url)
    assert isinstance(adapter, ZendeskAdapter)
    assert adapter.objects == ("accounts", "contacts", "tickets", "satisfaction")
    with pytest.raises(ValueError, match="no deals"):
        adapter.pull("deals", None)


def test_each_adapter_reaches_its_own_instance_and_the_environment_is_never_touched(
        boot: Callable[..., Box], world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two instances side by side (two tenants): each adapter's requests reach its own emulator, and
    the process environment is not written (not even for a moment)."""
    box = boot()
    other_emulator = ZendeskEmulator(clock=Clock(now()), incremental_requests_per_minute=None)
    other_emulator.seed(generate_world(accounts=12, seed=9, as_of=WORLD_AS_OF))
    monkeypatch.delenv("ZENPY_FORCE_NETLOC", raising=False)
    monkeypatch.delenv("ZENPY_FORCE_SCHEME", raising=False)
    before = dict(os.environ)
    writes: list[str] = []
    monkeypatch.setattr(os, "environ", _WatchedEnviron(os.environ, writes))
    with LoopbackServer(other_emulator.wsgi_app) as other_server:
        mine = box.adapter(export_page_size=5)
        theirs = ZendeskAdapter.from_sandbox(other_server.url, other_emulator.credentials, export_page_size=5)
        a, b = mine.pull("accounts", None), theirs.pull("accounts", None)
        got: dict[str, list[str]] = {"mine": [], "theirs": []}
        for name, walk in (("mine", a), ("theirs", b)) * 50:
            page = next(walk, None)
            if page:
                got[name] += [r.external_id for r in page.records]
            assert dict(os.environ) == before
    assert writes == []
    assert sorted(got["mine"]) == box.ids("organizations")
    assert sorted(got["theirs"]) == sorted(str(o["id"]) for o in other_emulator.records("organizations"))
    assert mine.calls == box.calls()
    assert theirs.calls == other_emulator.stats.snapshot()["calls_total"]


class _WatchedEnviron(dict[str, str]):
    """A stand-in for ``os.environ`` that records every write."""

    def __init__(self, environ: Any, writes: list[str]) -> None:
        super().__init__(environ)
        self._writes = writes

    def __setitem__(self, key: str, value: str) -> None:
        self._writes.append(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self._writes.append(key)
        super().__delitem__(key)

    def pop(self, key: str, *default: Any) -> Any:
        self._writes.append(key)
        return super().pop(key, *default)


# ---------------------------------------------------------------- write-back


def test_ensure_fields_creates_once(box: Box) -> None:
    adapter = box.adapter()
    assert adapter.ensure_fields(HEALTH_FIELDS) == ["score", "band", "trend", "reasons", "scored_at"]
    fields = {f["key"]: f["type"] for f in box.emulator.records("organization_fields")}
    assert {k: v for k, v in fields.items() if k.startswith("canary")} == {
        "canary_health_score": "decimal", "canary_health_band": "text", "canary_health_trend": "decimal",
        "canary_health_reasons": "textarea", "canary_scored_at": "text"}
    assert adapter.calls == 1 + 5
    assert box.adapter().ensure_fields(HEALTH_FIELDS) == []
    assert adapter.calls + 1 == box.calls()


def _values(n: int) -> dict[str, str | None]:
    return {"score": str(n), "band": "good", "trend": "1.5", "reasons": f"reason {n}",
            "scored_at": "2026-11-01T00:00:00Z"}


@pytest.fixture(scope="module")
def big_world() -> World:
    return generate_world(accounts=300, seed=5, as_of=WORLD_AS_OF)


@pytest.mark.parametrize("n", [1, 100, 101, 201])
def test_push_spends_one_update_and_one_poll_per_hundred(boot: Callable[..., Box], big_world: World, n: int) -> None:
    box = boot(big_world)
    adapter = box.adapter()
    adapter.ensure_fields(HEALTH_FIELDS)
    org_ids = box.ids("organizations")[: n - 1]
    assert len(org_ids) == n - 1
    missing = "999999999"  # an organization deleted in Zendesk meanwhile
    updates = [FieldUpdate(i, _values(k)) for k, i in enumerate(org_ids)] + [FieldUpdate(missing, _values(0))]
    updates.append(FieldUpdate("not-a-number", _values(0)))
    stats = box.emulator.stats
    stats.reset()
    result = adapter.push_fields(updates)
    batches = math.ceil(n / 100)
    assert stats.calls("PUT", UPDATE_MANY) == batches
    assert stats.calls("GET", JOB_STATUSES) == 1  # every job's status in one show_many
    assert stats.calls("GET", JOB_STATUS) == 0
    assert result.calls == batches + 1 == box.calls() == adapter.minimum_push_calls(n)
    assert sorted(result.succeeded) == sorted(org_ids)
    assert set(result.failed) == {missing, "not-a-number"}
    assert "Not found" in result.failed[missing]
    assert "not a Zendesk organization id" in result.failed["not-a-number"]
    written = {str(o["id"]): o["organization_fields"] for o in box.emulator.records("organizations")}
    for k, org_id in enumerate(org_ids):
        assert written[org_id]["canary_health_score"] == k  # a decimal field takes a number
        assert written[org_id]["canary_health_trend"] == 1.5
        assert written[org_id]["canary_health_reasons"] == f"reason {k}"
        assert written[org_id]["canary_scored_at"] == "2026-11-01T00:00:00Z"
    assert box.sleeps == [1.0]  # one wait before the one round of polls
    assert list(box.emulator.job_polls().values()) == [1] * batches


def test_push_polls_only_the_unfinished_jobs_again(boot: Callable[..., Box], big_world: World) -> None:
    """250 organizations in 3 jobs, the second still working at the first poll: 3 updates, one show_many
    of the 3 jobs, one more of that job alone; every organization's outcome as the jobs report it."""
    box = boot(big_world, slow_jobs={2: 1})
    adapter = box.adapter(poll_interval=2.0)
    adapter.ensure_fields(HEALTH_FIELDS)
    org_ids = box.ids("organizations")[:249]
    missing = "999999999"
    updates = [FieldUpdate(i, _values(k)) for k, i in enumerate(org_ids)] + [FieldUpdate(missing, _values(0))]
    stats = box.emulator.stats
    stats.reset()
    result = adapter.push_fields(updates)
    assert stats.calls("PUT", UPDATE_MANY) == 3
    assert stats.calls("GET", JOB_STATUSES) == 2
    assert result.calls == 5 == box.calls() == adapter.minimum_push_calls(250) + 1  # one counted re-poll
    assert sorted(box.emulator.job_polls().values()) == [1, 1, 2]  # only the working job was asked again
    assert box.sleeps == [2.0, 2.0]
    assert sorted(result.succeeded) == sorted(org_ids)
    assert set(result.failed) == {missing} and "Not found" in result.failed[missing]


def test_push_polls_a_hundred_jobs_a_request(boot: Callable[..., Box], big_world: World) -> None:
    box = boot(big_world)
    adapter = box.adapter(batch_size=1)
    adapter.ensure_fields(HEALTH_FIELDS)
    org_ids = box.ids("organizations")[:201]
    stats = box.emulator.stats
    stats.reset()
    result = adapter.push_fields([FieldUpdate(i, _values(k)) for k, i in enumerate(org_ids)])
    assert stats.calls("PUT", UPDATE_MANY) == 201
    assert stats.calls("GET", JOB_STATUSES) == 3  # 100 + 100 + 1 job ids
    assert result.calls == 204 == adapter.minimum_push_calls(201)
    assert sorted(result.succeeded) == sorted(org_ids)


def test_a_refused_poll_waits_out_retry_after_and_asks_again(boot: Callable[..., Box], big_world: World) -> None:
    box = boot(big_world)
    adapter = box.adapter()
    adapter.ensure_fields(HEALTH_FIELDS)
    refused: list[str] = []

    def busy_once(environ: Any, start_response: Any) -> Any:  # Zendesk's 429 on the first show_many
        if "job_statuses/show_many" in environ["PATH_INFO"] and not refused:
            refused.append(environ["QUERY_STRING"])
            return box.emulator.fault_response("429", 7)(environ, start_response)
        return box.emulator.wsgi_app(environ, start_response)

    box.slot.app = busy_once
    org_ids = box.ids("organizations")[:150]
    result = adapter.push_fields([FieldUpdate(i, _values(k)) for k, i in enumerate(org_ids)])
    assert sorted(result.succeeded) == sorted(org_ids)
    assert len(refused) == 1 and refused[0].count("%2C") + refused[0].count(",") == 1  # both jobs, one request
    assert box.sleeps == [1.0, 7.0]  # the poll interval, then Retry-After exactly
    assert result.calls == 2 + 1 + 1  # two updates, the refused poll, the poll again
    assert box.emulator.stats.calls("GET", JOB_STATUSES) == 1  # the refusal never reached the emulator


def test_push_reports_a_job_the_poll_does_not_show(boot: Callable[..., Box]) -> None:
    box = boot()
    adapter = box.adapter()
    adapter.ensure_fields(HEALTH_FIELDS)
    org_ids = box.ids("organizations")[:2]
    original = box.emulator._on_show_many_job_statuses

    def forgetful(request: Any) -> Any:  # Zendesk keeps job statuses for a day only
        box.emulator._jobs.clear()
        return original(request)

    box.emulator._on_show_many_job_statuses = forgetful  # type: ignore[method-assign]
    result = adapter.push_fields([FieldUpdate(i, _values(1)) for i in org_ids])
    assert result.succeeded == []
    assert set(result.failed) == set(org_ids)
    assert "was not found when polled" in result.failed[org_ids[0]]
    assert result.calls == 2  # the update and one poll: a vanished job is not asked again


def test_show_many_job_statuses_refuses_more_than_a_hundred_ids(box: Box) -> None:
    auth = (f"{box.emulator.credentials['email']}/token", box.emulator.credentials["token"])
    url = f"{box.server.url}/api/v2/job_statuses/show_many.json"
    answer = requests.get(url, params={"ids": ",".join(f"V3-{i}" for i in range(101))}, auth=auth, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error"] == "TooManyValues"
    unknown = requests.get(url, params={"ids": "V3-nothing"}, auth=auth, timeout=10)
    assert (unknown.status_code, unknown.json()) == (200, {"job_statuses": []})


def test_push_polls_a_working_job_until_completed(boot: Callable[..., Box]) -> None:
    box = boot(job_polls_before_completed=2)
    adapter = box.adapter(poll_interval=2.5)
    adapter.ensure_fields(HEALTH_FIELDS)
    org_id = box.ids("organizations")[0]
    result = adapter.push_fields([FieldUpdate(org_id, {"score": "55", "band": None})])
    assert result.succeeded == [org_id]
    assert result.calls == 1 + 3
    assert box.sleeps == [2.5, 2.5, 2.5]
    fields = next(o for o in box.emulator.records("organizations") if str(o["id"]) == org_id)["organization_fields"]
    assert fields["canary_health_score"] == 55
    assert fields["canary_health_band"] is None


def test_push_gives_up_polling_with_a_clear_message(boot: Callable[..., Box]) -> None:
    box = boot(job_polls_before_completed=10)
    adapter = box.adapter(max_polls=2)
    org_ids = box.ids("organizations")[:3]
    result = adapter.push_fields([FieldUpdate(i, {"score": "1"}) for i in org_ids])
    assert result.succeeded == []
    assert set(result.failed) == set(org_ids)
    assert "still 'working' after 2 polls" in result.failed[org_ids[0]]
    assert result.calls == 1 + 1 + 2  # the field list (for the fields' types), the update, two polls
    assert box.emulator.stats.calls("GET", JOB_STATUSES) == 2


def test_push_of_nothing_spends_nothing(box: Box) -> None:
    result = box.adapter().push_fields([])
    assert (result.calls, result.succeeded, result.failed) == (0, [], {})
    assert box.calls() == 0


@pytest.mark.parametrize(("base_url", "sent", "reached"), [
    ("http://127.0.0.1:9", "https://acme.zendesk.com/api/v2/organizations.json?page=2",
     "http://127.0.0.1:9/api/v2/organizations.json?page=2"),
    (None, "http://elsewhere.invalid:1/api/v2/tickets.json", "https://acme.zendesk.com/api/v2/tickets.json"),
])
def test_the_session_sends_every_request_to_its_own_instance(base_url: str | None, sent: str,
                                                            reached: str) -> None:
    seen: list[str] = []

    class Recorder(requests.adapters.BaseAdapter):
        def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
            seen.append(str(request.url))
            response = requests.Response()
            response.status_code, response.request = 200, request
            return response

        def close(self) -> None:
            pass

    session = ZendeskSession(subdomain="acme", before_request=lambda: None, on_response=lambda r: None,
                             base_url=base_url)
    for prefix in ("https://", "http://"):
        session.mount(prefix, Recorder())
    assert session.get(sent).status_code == 200
    assert seen == [reached]
    assert "ZENPY_FORCE_NETLOC" not in os.environ
