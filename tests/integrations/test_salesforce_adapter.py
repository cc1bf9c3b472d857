"""The Salesforce adapter against the sandbox emulator, through the real simple-salesforce over TLS."""

from __future__ import annotations

import datetime as dt
import logging
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from integrations.base import AccountRecord, FieldUpdate, Page
from integrations.errors import AuthError, FatalError
from integrations.http import QuotaExhausted, RetryPolicy
from integrations.registry import adapter_for
from integrations.salesforce import SalesforceAdapter
from integrations.salesforce.adapter import minimum_push_calls
from sandbox.core import LoopbackServer, TLSMaterial, make_self_signed_cert
from sandbox.faults import FaultInjector
from sandbox.salesforce import SalesforceEmulator, make_id
from sandbox.world import Company, Deal, Person, Presence, Ticket, World
from sync.push import HEALTH_FIELDS
from tests.dbtemplate import Templates

BASE = datetime(2026, 1, 1, tzinfo=UTC)
SOBJECTS = {"accounts": "Account", "contacts": "Contact", "deals": "Opportunity", "tickets": "Case"}
QUERY = "/services/data/v<version>/query"
QUERY_MORE = "/services/data/v<version>/query/<locator>"
COLLECTION = "/services/data/v<version>/composite/sobjects"
JOBS = "/services/data/v<version>/jobs/ingest"
JOB = "/services/data/v<version>/jobs/ingest/<job_id>"
VALUES = {"score": "72", "band": "good", "trend": "-0.5", "reasons": "Usage is up; Champion active",
          "scored_at": "2026-01-31T10:00:00Z"}


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def make_world(n_accounts: int, *, share: int = 1, people: int = 12) -> World:
    """Accounts with Salesforce presence; every ``share`` consecutive accounts have one SystemModstamp."""
    companies, persons, deals, tickets = [], [], [], []
    for i in range(n_accounts):
        refs = {"zendesk": str(9000 + i)} if i % 2 == 0 else {}
        companies.append(Company(
            key=f"C{i:06d}", name=f"Company {i}", domain=f"company{i}.example", industry="Software", employees=10 + i,
            segment="smb", tier="growth", csm_owner=f"csm{i % 3}@canary.test", story="healthy",
            onboarding_start=date(2025, 1, 1), parent_key="C000000" if i in (1, 2) else None,
            presence={"salesforce": Presence(make_id("001", i + 1), domain=f"www.company{i}.example",
                                             cross_refs=refs, created_at=BASE,
                                             updated_at=BASE + timedelta(minutes=i // share))},
        ))  # fmt: skip
    for i in range(min(n_accounts, people)):
        stamp = BASE + timedelta(minutes=i // 4)
        persons.append(Person(
            key=f"P{i}", company_key=f"C{i:06d}", first_name="Ada", last_name=f"Lovelace{i}",
            email=f"ada{i}@company{i}.example", role="executive_sponsor" if i == 0 else "champion", title="CTO",
            presence={"salesforce": Presence(make_id("003", i + 1), updated_at=stamp)},
        ))  # fmt: skip
        deals.append(Deal(
            key=f"D{i}", company_key=f"C{i:06d}", name=f"Company {i} renewal", arr=12000.0 + i, seats=25,
            tier="enterprise", start_date=date(2025, 6, 1), renewal_date=date(2026, 6, 1),
            status="churned" if i == 3 else "active",
            presence={"salesforce": Presence(make_id("006", i + 1), updated_at=stamp)},
        ))  # fmt: skip
        tickets.append(Ticket(
            key=f"T{i}", company_key=f"C{i:06d}", requester_key=f"P{i}", subject=f"Login broken {i}",
            priority="urgent" if i == 0 else "normal", status="solved" if i == 1 else "open", escalated=i == 0,
            created_at=BASE - timedelta(days=3), updated_at=BASE - timedelta(days=1),
            solved_at=BASE - timedelta(days=1) if i == 1 else None, satisfaction=None, satisfaction_comment=None,
            presence={"salesforce": Presence(make_id("500", i + 1))},
        ))  # fmt: skip
    return World(seed=7, as_of=date(2026, 1, 1), companies=companies, people=persons, deals=deals,
                 tickets=tickets, surveys=[])  # fmt: skip


@pytest.fixture(scope="module")
def tls() -> TLSMaterial:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    return make_self_signed_cert()


@dataclass
class Box:
    emulator: SalesforceEmulator
    server: LoopbackServer
    tls: TLSMaterial
    slept: list[float] = field(default_factory=list)
    injector: FaultInjector | None = None

    @property
    def clock(self) -> FakeClock:
        assert isinstance(self.emulator.clock, FakeClock)
        return self.emulator.clock

    def credentials(self, **override: str) -> dict[str, str]:
        return {"instance_url": self.server.url, "session_id": self.emulator.credentials["session_id"],
                "cert_path": self.tls.cert_path, **override}

    def adapter(self, *, token: str | None = None, **options: Any) -> SalesforceAdapter:
        policy = RetryPolicy(sleep=self.slept.append, rng=random.Random(1))
        creds = self.credentials(session_id=token) if token else self.credentials()
        options.setdefault("sleep", self.slept.append)
        return SalesforceAdapter.from_sandbox(creds, policy=policy, **options)

    def calls(self, method: str | None = None, endpoint: str | None = None) -> int:
        return self.emulator.stats.calls(method, endpoint)


@pytest.fixture
def make_box(tls: TLSMaterial) -> Iterator[Callable[..., Box]]:
    servers: list[LoopbackServer] = []

    def build(n_accounts: int = 30, *, share: int = 1, wrap: Callable[[SalesforceEmulator], Any] | None = None,
              **emulator_options: Any) -> Box:
        emulator = SalesforceEmulator(clock=FakeClock(BASE + timedelta(days=30)), **emulator_options)
        emulator.seed(make_world(n_accounts, share=share))
        app = wrap(emulator) if wrap else emulator.wsgi_app
        server = LoopbackServer(app, tls=tls).start()
        servers.append(server)
        return Box(emulator, server, tls, injector=app if isinstance(app, FaultInjector) else None)

    yield build
    for server in servers:
        server.stop()


def walk(adapter: SalesforceAdapter, obj: Any, cursor: str | None) -> tuple[list[Page], str | None]:
    pages = list(adapter.pull(obj, cursor))
    return pages, (pages[-1].cursor if pages else cursor)


def ids_of(pages: list[Page]) -> list[str]:
    return [r.external_id for p in pages for r in p.records]


# ------------------------------------------------------------------ pull


def test_full_pull_then_nothing_new_costs_one_call_per_object(make_box: Callable[..., Box]) -> None:
    box = make_box(30)
    adapter = box.adapter()
    cursors: dict[str, str | None] = {}
    for obj, sobject in SOBJECTS.items():
        pages, cursors[obj] = walk(adapter, obj, None)
        ids = ids_of(pages)
        assert sorted(ids) == sorted(r["Id"] for r in box.emulator.records(sobject))
        assert len(ids) == len(set(ids))
        stamps = [r.updated_at for p in pages for r in p.records]
        assert stamps == sorted(stamps)
    # accounts: 1 query + 1 User lookup for the 3 owners; the others: 1 query each
    assert adapter.calls == box.calls() == 5
    accounts = {r.external_id: r for r in walk(box.adapter(), "accounts", None)[0][0].records
                if isinstance(r, AccountRecord)}
    first = accounts[make_id("001", 1)]
    assert (first.owner, first.cross_refs, first.domain) == ("csm0@canary.test", {"zendesk": "9000"},
                                                            "www.company0.example")
    assert accounts[make_id("001", 2)].parent_external_id == make_id("001", 1)

    before_adapter, before_server = adapter.calls, box.calls()
    for obj in SOBJECTS:
        pages, _ = walk(adapter, obj, cursors[obj])
        assert pages == []
    assert adapter.calls - before_adapter == 4
    assert box.calls() - before_server == 4
    assert box.calls("GET", QUERY_MORE) == 0


def test_five_touched_records_come_back_exactly(make_box: Callable[..., Box]) -> None:
    box = make_box(40)
    adapter = box.adapter(resolve_owners=False)
    _, cursor = walk(adapter, "accounts", None)
    changed = [make_id("001", n) for n in (3, 9, 17, 25, 33)]
    box.clock.now += timedelta(hours=1)
    box.emulator.touch("Account", changed)
    before = adapter.calls
    pages, cursor_after = walk(adapter, "accounts", cursor)
    assert sorted(ids_of(pages)) == sorted(changed)
    assert adapter.calls - before == 1
    assert walk(adapter, "accounts", cursor_after)[0] == []


def test_the_integration_users_own_writes_do_not_come_back(make_box: Callable[..., Box],
                                                          caplog: pytest.LogCaptureFixture) -> None:
    box = make_box(30)
    own = box.emulator.credentials["integration_user_id"]
    adapter = box.adapter(resolve_owners=False, integration_user_id=own)
    first, cursor = walk(adapter, "accounts", None)
    assert len(ids_of(first)) == 30  # the first pull reads every record, the integration user's (the seed's) too
    adapter.ensure_fields(HEALTH_FIELDS)
    written = [make_id("001", n) for n in range(1, 11)]
    box.clock.now += timedelta(hours=1)
    assert len(adapter.push_fields([FieldUpdate(i, {"score": "50"}) for i in written]).succeeded) == 10
    box.clock.now += timedelta(seconds=5)
    box.emulator.touch("Account", written[:2])  # a person edits two of them after Canary's write
    before = box.calls()
    pages, _ = walk(adapter, "accounts", cursor)
    assert sorted(ids_of(pages)) == sorted(written[:2])
    assert box.calls() - before == 1
    # Not knowing the integration user, the same pull reads Canary's ten writes back.
    assert sorted(ids_of(walk(box.adapter(resolve_owners=False), "accounts", cursor)[0])) == sorted(written)
    with caplog.at_level(logging.WARNING, logger="canary.salesforce"):
        unusable = box.adapter(resolve_owners=False, integration_user_id="stale-user")
    assert "integration_user_id is not a User Id" in caplog.text
    assert sorted(ids_of(walk(unusable, "accounts", cursor)[0])) == sorted(written)


def test_shared_stamp_across_page_boundaries_and_resume_after_interruption(make_box: Callable[..., Box]) -> None:
    """2,500 accounts with one SystemModstamp, pages of 200: stop after 3 pages, resume, then nothing new."""
    box = make_box(2500, share=10_000)
    assert len({r["SystemModstamp"] for r in box.emulator.records("Account")}) == 1
    adapter = box.adapter(query_batch_size=200, resolve_owners=False)
    first_walk = adapter.pull("accounts", None)
    taken = [next(first_walk) for _ in range(3)]  # interrupted: the runner saved the third page's cursor
    del first_walk
    assert [len(p.records) for p in taken] == [200, 200, 200]
    rest, final_cursor = walk(adapter, "accounts", taken[-1].cursor)
    delivered = ids_of(taken) + ids_of(rest)
    assert len(delivered) == len(set(delivered)) == 2500
    assert sorted(delivered) == sorted(r["Id"] for r in box.emulator.records("Account"))
    assert [len(p.records) for p in rest] == [200] * 9 + [100]
    before = adapter.calls
    assert walk(adapter, "accounts", final_cursor)[0] == []
    assert adapter.calls - before == 1  # the 2,500 records at the boundary stamp are not read again


def test_records_touched_during_a_walk_at_the_boundary_stamp_are_not_lost(make_box: Callable[..., Box]) -> None:
    box = make_box(30, share=10)  # stamps BASE, +1 min, +2 min
    adapter = box.adapter(resolve_owners=False)
    _, cursor = walk(adapter, "accounts", None)
    box.clock.now = BASE + timedelta(minutes=2)  # a later edit lands on the boundary stamp itself
    box.emulator.touch("Account", [make_id("001", 1)])
    again, _ = walk(adapter, "accounts", cursor)
    assert ids_of(again) == [make_id("001", 1)]


def test_unknown_object_and_foreign_cursor_are_clear_errors(make_box: Callable[..., Box]) -> None:
    adapter = make_box(3).adapter()
    with pytest.raises(ValueError, match="salesforce has no 'satisfaction'"):
        list(adapter.pull("satisfaction", None))
    with pytest.raises(FatalError, match="full sync"):
        list(adapter.pull("accounts", "1234"))
    assert adapter.calls == 0


# ------------------------------------------------------------------ fields


def test_ensure_fields_creates_the_missing_ones_once(make_box: Callable[..., Box]) -> None:
    box = make_box(3)
    adapter = box.adapter()
    assert adapter.ensure_fields(HEALTH_FIELDS) == ["score", "band", "trend", "reasons", "scored_at"]
    # describe, 5 Tooling creates, describe (hidden: field-level security), the grant (identity, permission
    # set read + create, assignment read + create, field permissions read + create), a last describe
    assert adapter.calls == 1 + 5 + 1 + 7 + 1
    assert box.calls("POST", "/services/data/v<version>/tooling/sobjects/CustomField") == 5
    describe = adapter.connection.sf.restful("sobjects/Account/describe")
    assert describe is not None
    fields = {f["name"]: f for f in describe["fields"]}
    score = fields["Canary_Health_Score__c"]
    assert (score["type"], score["precision"], score["scale"]) == ("double", 5, 1)
    assert score["inlineHelpText"] == HEALTH_FIELDS[0].help
    assert (fields["Canary_Health_Reasons__c"]["type"], fields["Canary_Health_Reasons__c"]["length"]) == (
        "textarea", 4000)
    assert fields["Canary_Scored_At__c"]["type"] == "datetime"
    band = fields["Canary_Health_Band__c"]
    assert (band["type"], band["restrictedPicklist"]) == ("picklist", True)
    assert [v["value"] for v in band["picklistValues"]] == ["good", "average", "poor"]
    before = adapter.calls
    assert adapter.ensure_fields(HEALTH_FIELDS) == []
    assert adapter.calls - before == 1


# ------------------------------------------------------------------ push


@pytest.mark.parametrize("n", [2, 200, 201, 450])
def test_push_spends_ceil_n_over_200_calls_and_reports_the_failing_record(make_box: Callable[..., Box],
                                                                          n: int) -> None:
    box = make_box(n)
    adapter = box.adapter()
    adapter.ensure_fields(HEALTH_FIELDS)
    ids = [make_id("001", i + 1) for i in range(n)]
    bad = ids[n // 2 - 1]
    box.emulator.fail_writes([bad], "Health score is locked")
    values = [dict(VALUES, reasons=None) if i == 0 else VALUES for i in range(n)]
    before_server = box.calls("PATCH", COLLECTION)
    result = adapter.push_fields([FieldUpdate(i, v) for i, v in zip(ids, values, strict=True)])
    assert result.calls == math.ceil(n / 200) == minimum_push_calls(n)
    assert box.calls("PATCH", COLLECTION) - before_server == result.calls
    assert result.failed == {bad: "FIELD_CUSTOM_VALIDATION_EXCEPTION: Health score is locked"}
    assert sorted(result.succeeded) == sorted(set(ids) - {bad})
    stored = box.emulator.record("Account", ids[-1])
    assert stored is not None and stored["Canary_Health_Band__c"] == "good"
    assert stored["Canary_Health_Score__c"] == 72.0 and stored["Canary_Scored_At__c"] == "2026-01-31T10:00:00.000+0000"
    assert box.emulator.record("Account", bad)["Canary_Health_Score__c"] is None  # type: ignore[index]


def test_push_stopped_midway_keeps_the_written_batches(make_box: Callable[..., Box]) -> None:
    box = make_box(450)
    box.adapter().ensure_fields(HEALTH_FIELDS)
    box.emulator.reset_allocation()
    box.emulator.daily_api_limit = 1  # the org has one call left today
    adapter = box.adapter(run_share=1.0, daily_ceiling=1.0)
    ids = [make_id("001", i + 1) for i in range(450)]
    result = adapter.push_fields([FieldUpdate(i, VALUES) for i in ids])
    assert result.calls == 1
    assert sorted(result.succeeded) == sorted(ids[:200])
    assert set(result.failed) == set(ids[200:])
    assert all(m.startswith("not sent: salesforce: this run has used 1 API calls") for m in result.failed.values())
    with pytest.raises(QuotaExhausted):  # nothing written yet: the stop itself is raised for the caller
        adapter.push_fields([FieldUpdate(ids[0], VALUES)])


def test_push_clears_a_field_with_none_and_refuses_bad_values_locally(make_box: Callable[..., Box]) -> None:
    box = make_box(3)
    adapter = box.adapter()
    adapter.ensure_fields(HEALTH_FIELDS)
    ids = [make_id("001", i) for i in (1, 2, 3)]
    adapter.push_fields([FieldUpdate(i, VALUES) for i in ids])
    result = adapter.push_fields([FieldUpdate(ids[0], dict(VALUES, reasons=None, trend=None)),
                                  FieldUpdate(ids[1], dict(VALUES, score="very high")),
                                  FieldUpdate("001NOTANID", VALUES)])
    assert result.calls == 1
    assert result.succeeded == [ids[0]]
    assert result.failed[ids[1]] == "not sent: score: 'very high' is not a number"
    assert result.failed["001NOTANID"].startswith("MALFORMED_ID: ")
    cleared = box.emulator.record("Account", ids[0])
    assert cleared is not None
    assert (cleared["Canary_Health_Reasons__c"], cleared["Canary_Health_Trend__c"]) == (None, None)


def test_push_above_threshold_is_one_bulk_job(make_box: Callable[..., Box]) -> None:
    box = make_box(250)
    adapter = box.adapter(bulk_threshold=100, bulk_poll_interval=3.0)
    adapter.ensure_fields(HEALTH_FIELDS)
    ids = [make_id("001", i + 1) for i in range(250)]
    adapter.push_fields([FieldUpdate(ids[0], VALUES)])  # a value to clear afterwards
    bad = ids[7]
    box.emulator.fail_writes([bad], "Record is locked")
    box.slept.clear()
    result = adapter.push_fields([FieldUpdate(i, dict(VALUES, reasons=None)) for i in ids])
    # create, upload, UploadComplete, one poll (after one sleep), failed results: one job, not one per 200
    assert result.calls == 5 == minimum_push_calls(250, bulk_threshold=100) + 1
    assert box.calls("POST", JOBS) == 1 and box.calls("PATCH", JOB) == 1 and box.calls("GET", JOB) == 1
    assert box.calls("PATCH", COLLECTION) == 1  # only the single-record push before
    assert box.slept == [3.0]
    assert result.failed == {bad: "FIELD_CUSTOM_VALIDATION_EXCEPTION: Record is locked"}
    assert len(result.succeeded) == 249
    first = box.emulator.record("Account", ids[0])
    assert first is not None
    assert (first["Canary_Health_Score__c"], first["Canary_Health_Reasons__c"]) == (72.0, None)  # #N/A cleared it


def test_bulk_job_is_polled_with_the_injected_sleep_and_a_bounded_wait(make_box: Callable[..., Box]) -> None:
    box = make_box(20, bulk_processing_seconds=3600)
    adapter = box.adapter(bulk_threshold=5, bulk_poll_interval=2.0, bulk_max_wait=20.0)
    adapter.ensure_fields(HEALTH_FIELDS)
    before = adapter.calls
    result = adapter.push_fields([FieldUpdate(make_id("001", i + 1), VALUES) for i in range(20)])
    assert box.slept == [2.0, 4.0, 8.0, 16.0]
    assert result.calls == adapter.calls - before == 3 + 4
    assert result.succeeded == [] and len(result.failed) == 20
    assert all("still InProgress after 30 s" in m for m in result.failed.values())


# ------------------------------------------------------------------ errors, retries and quota


def _first_call_faulted(kind: str) -> Callable[[SalesforceEmulator], FaultInjector]:
    """A FaultInjector whose seeded sequence faults the first call with ``kind`` and passes the second."""
    def probe(seed: int) -> list[str | None]:
        fi = FaultInjector(lambda e, s: [], rate=0.5, seed=seed, fault_response=lambda k, r: None,  # type: ignore[arg-type, return-value]
                           kinds=(kind,))
        return [fi.decide(), fi.decide()]

    seed = next(s for s in range(1000) if probe(s) == [kind, None])

    def wrap(emulator: SalesforceEmulator) -> FaultInjector:
        return FaultInjector(emulator.wsgi_app, rate=0.5, seed=seed, fault_response=emulator.fault_response,
                             kinds=(kind,), retry_after=7)

    return wrap


@pytest.mark.parametrize(("kind", "honours_retry_after"), [("429", True), ("503", True), ("500", False),
                                                           ("drop", False)])
def test_a_fault_is_retried_once_through_the_policy(make_box: Callable[..., Box], kind: str,
                                                    honours_retry_after: bool) -> None:
    box = make_box(5, wrap=_first_call_faulted(kind))
    adapter = box.adapter()
    pages, _ = walk(adapter, "contacts", None)
    assert len(ids_of(pages)) == 5
    assert box.injector is not None and dict(box.injector.injected) == {kind: 1}
    assert adapter.calls == 2 and box.calls() == 1  # the faulted call never reached the emulator
    assert len(box.slept) == 1
    if honours_retry_after:
        assert box.slept == [7.0]
    else:
        assert box.slept[0] <= 1.0  # a jittered backoff, not the 7 s the header would have said


def test_bad_token_is_a_clear_auth_error_and_not_retried(make_box: Callable[..., Box]) -> None:
    box = make_box(3)
    adapter = box.adapter(token="00Dwrong!token")
    with pytest.raises(AuthError, match=r"rejected the access token \(INVALID_SESSION_ID: Session expired") as caught:
        adapter.check_connection()
    assert adapter.calls == 1 and box.slept == []
    assert "00Dwrong" not in str(caught.value)


def test_good_token_check_connection_is_one_call(make_box: Callable[..., Box]) -> None:
    box = make_box(3)
    adapter = adapter_for("salesforce", **{"instance_url": box.server.url, "access_token":
                                          box.emulator.credentials["session_id"], "ca_cert": box.tls.cert_path})
    adapter.check_connection()
    assert isinstance(adapter, SalesforceAdapter) and adapter.calls == 1
    assert adapter.quota_left() == box.emulator.daily_api_limit - box.emulator.api_usage


def test_request_limit_exceeded_stops_without_retrying(make_box: Callable[..., Box]) -> None:
    box = make_box(3, daily_api_limit=100)
    adapter = box.adapter(run_share=1.0, daily_ceiling=1.0)
    adapter.check_connection()
    box.emulator.api_usage = 100  # other integrations spent the rest of the org's allocation
    with pytest.raises(FatalError, match="daily API allocation is used up") as caught:
        adapter.check_connection()
    assert not isinstance(caught.value, QuotaExhausted)
    assert adapter.calls == 2 and box.slept == []


def test_quota_guard_stops_the_run_at_its_share_and_the_pages_so_far_are_kept(make_box: Callable[..., Box]) -> None:
    box = make_box(2500, daily_api_limit=40)
    adapter = box.adapter(query_batch_size=200, resolve_owners=False)  # 25 % of ~40 left: 10 calls
    walked: list[Page] = []
    with pytest.raises(QuotaExhausted, match="share of 25%"):
        for page in adapter.pull("accounts", None):
            walked.append(page)
    assert adapter.calls == 10 and len(walked) == 10
    fresh = box.adapter(query_batch_size=200, resolve_owners=False, run_share=1.0, daily_ceiling=1.0)
    rest, _ = walk(fresh, "accounts", walked[-1].cursor)
    assert len(ids_of(walked)) + len(ids_of(rest)) == 2500


def test_daily_ceiling_stops_before_the_org_runs_dry(make_box: Callable[..., Box]) -> None:
    box = make_box(3, daily_api_limit=100)
    box.emulator.api_usage = 79
    adapter = box.adapter(run_share=1.0)
    adapter.check_connection()  # usage 80 of 100: the ceiling
    with pytest.raises(QuotaExhausted, match="80 of the 100 daily API calls"):
        adapter.check_connection()
    assert adapter.calls == 1 and adapter.quota_left() == 20


# ------------------------------------------------------------------ end to end


@pytest.fixture
def sqlite_store(tmp_path: Path, db_templates: Templates) -> Iterator[Any]:
    from store.db import Store

    url = f"sqlite:///{tmp_path / 'canary.db'}"
    db_templates.migrate(url)
    store = Store(url)
    yield store
    store.dispose()


def test_sync_and_push_end_to_end(make_box: Callable[..., Box], sqlite_store: Any) -> None:
    from sqlalchemy import func, select

    from store.models import Account, Contact, HealthSnapshot, Subscription, Ticket
    from store.tenants import create_tenant
    from sync.push import push
    from sync.runner import sync

    box = make_box(230)
    with sqlite_store.session() as s:
        tenant, _ = create_tenant(s, "acme", "Acme CS")
        tenant_id = tenant.id
    adapter = box.adapter()
    summary = sync(sqlite_store, tenant_id, {"salesforce": adapter})
    objects = summary.systems["salesforce"].objects
    assert {o: objects[o].pulled for o in SOBJECTS} == {o: len(box.emulator.records(s)) for o, s in SOBJECTS.items()}
    assert summary.systems["salesforce"].stopped is None
    assert summary.systems["salesforce"].calls == adapter.calls == box.calls()
    with sqlite_store.session(tenant_id) as s:
        accounts = list(s.scalars(select(Account).where(Account.lifecycle_stage == "customer")))
        assert len(accounts) == 230
        assert s.scalar(select(func.count()).select_from(Contact)) == 12
        assert s.scalar(select(func.count()).select_from(Subscription).where(Subscription.status == "churned")) == 1
        assert s.scalar(select(func.count()).select_from(Ticket).where(Ticket.priority == "urgent")) == 1
        for a in accounts:
            s.add(HealthSnapshot(tenant_id=tenant_id, account_id=a.id, day=dt.date(2026, 1, 31), score=64.4,
                                 band="average", trend=-1.25, reasons=[{"text": "Usage fell 30 %"}],
                                 computed_at=datetime(2026, 1, 31, 10, tzinfo=UTC)))
    bad = make_id("001", 100)
    box.emulator.fail_writes([bad], "Record is locked")
    again = sync(sqlite_store, tenant_id, {"salesforce": box.adapter()})
    assert sum(o.pulled for o in again.systems["salesforce"].objects.values()) == 0

    before = adapter.calls
    result = push(sqlite_store, tenant_id, "salesforce", adapter)
    assert result.stopped is None
    assert result.fields_created == ["score", "band", "trend", "reasons", "scored_at"]
    assert (result.pushed, list(result.failed)) == (229, [bad])
    assert result.calls == adapter.calls - before == 15 + math.ceil(230 / 200)  # fields made and granted, then 2
    stored = box.emulator.record("Account", make_id("001", 1))
    assert stored is not None
    assert (stored["Canary_Health_Score__c"], stored["Canary_Health_Band__c"], stored["Canary_Health_Trend__c"],
            stored["Canary_Health_Reasons__c"]) == (64.0, "average", -1.2, "Usage fell 30 %")

    retry = push(sqlite_store, tenant_id, "salesforce", adapter)
    assert (retry.considered, retry.pushed, list(retry.failed), retry.calls) == (1, 0, [bad], 1)  # only the failed one
