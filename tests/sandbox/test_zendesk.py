"""The real zenpy client against `ZendeskEmulator` on a loopback server."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import requests
from zenpy import Zenpy
from zenpy.lib.api_objects import JobStatus, Organization, OrganizationField, SatisfactionRating, Ticket, User
from zenpy.lib.exception import (
    APIException,
    RatelimitBudgetExceeded,
    RecordNotFoundException,
    TooManyValuesException,
)

from sandbox.core import LoopbackServer
from sandbox.server import LoopbackRedirect
from sandbox.world import Person, Presence, World
from sandbox.zendesk import ZendeskEmulator
from tests.sandbox.worlds import company, ticket
from tests.shared import WORLD_NOW, pinned_clock

# A day before the (pinned) wall clock: zenpy stops time-based exports whose end_time is within 5 minutes
# of its own wall clock, so the emulator's "now" must not run ahead of it.
NOW = WORLD_NOW - timedelta(days=1)


@pytest.fixture(scope="module", autouse=True)
def _pinned_clock() -> Iterator[None]:
    with pinned_clock():
        yield

BASE = NOW - timedelta(days=30)
ORG_ID0 = 360_000_100_000
USER_ID0 = 380_000_200_000
TICKET_ID0 = 1_000
HOST = "canary-sandbox.zendesk.com"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_world(orgs: int = 250, share: int = 7, rated_every: int = 3) -> World:
    """``orgs`` companies in Zendesk (plus one that is not), one user and one ticket each.

    Every ``share`` consecutive records carry the same ``updated_at``, as bulk imports do.
    """
    companies, people, tickets = [], [], []
    for i in range(orgs):
        stamp = BASE + timedelta(minutes=i // share)
        refs = {"salesforce": f"001Ax0000{i:09d}"} if i % 2 == 0 else {}
        if i % 5 == 0:
            refs["hubspot"] = str(9_000 + i)
        key = f"C{i:06d}"
        companies.append(
            company(
                key=key,
                name=f"Company {i}",
                domain=f"company{i}.com",
                industry="Software",
                employees=100 + i,
                tier="growth",
                csm_owner="csm@canary.test",
                presence={
                    "zendesk": Presence(
                        external_id=str(ORG_ID0 + i),
                        name=f"Company {i} Inc",
                        domain=f"https://www.company{i}.com/" if i % 3 == 0 else f"company{i}.com",
                        cross_refs=refs,
                        created_at=stamp - timedelta(days=100),
                        updated_at=stamp,
                    )
                },
            )
        )
        people.append(
            Person(
                key=f"P{i:06d}",
                company_key=key,
                first_name="Ada",
                last_name=f"Lovelace{i}",
                email=f"ada{i}@company{i}.com",
                role="champion" if i % 2 else "executive_sponsor",
                title="VP",
                presence={"zendesk": Presence(external_id=str(USER_ID0 + i), created_at=stamp, updated_at=stamp)},
                last_active=date(2026, 11, 1),
            )
        )
        rated = i % rated_every == 0
        tickets.append(
            ticket(
                key=f"T{i:06d}",
                company_key=key,
                requester_key=f"P{i:06d}",
                subject=f"Help {i}",
                priority="high" if i % 4 == 0 else "normal",
                status="solved" if rated else "open",
                escalated=i % 10 == 0,
                created_at=stamp - timedelta(days=2),
                updated_at=stamp,
                solved_at=stamp if rated else None,
                satisfaction=("good" if i % 2 else "bad") if rated else None,
                satisfaction_comment="thanks" if rated else None,
                presence={"zendesk": Presence(external_id=str(TICKET_ID0 + i))},
            )
        )
    companies.append(
        company(
            key="CNOZD",
            name="Only In Salesforce",
            domain="only.example",
            industry="Retail",
            employees=5,
            tier="starter",
            csm_owner="csm@canary.test",
            presence={"salesforce": Presence(external_id="001Ax0000999999999")},
        )
    )
    return World(seed=1, as_of=NOW.date(), companies=companies, people=people, deals=[], tickets=tickets, surveys=[])


@dataclass
class Sandbox:
    emulator: ZendeskEmulator
    server: LoopbackServer
    clock: Clock

    @property
    def api(self) -> str:
        return f"{self.server.url}/api/v2"

    def session(self) -> requests.Session:
        """zenpy's session: the vendor host, on either scheme, reaches the emulator, so its ``https://``
        links lead back to it (zenpy follows links as they are, whatever ``ZENPY_FORCE_SCHEME`` says)."""
        return LoopbackRedirect(HOST, self.server.url).mount_on(requests.Session())

    def zenpy(self, credentials: dict[str, str] | None = None, **extra: Any) -> Zenpy:
        return Zenpy(subdomain="canary-sandbox", disable_cache=True, session=self.session(),
                     **(credentials or self.emulator.zenpy_credentials), **extra)

    def auth(self) -> tuple[str, str]:
        return (f"{self.emulator.credentials['email']}/token", self.emulator.credentials["token"])

    def get(self, path: str, **params: Any) -> requests.Response:
        """A GET as the vendor host (links in the answer lead back here through `follow`)."""
        return self.follow(f"https://{HOST}/api/v2/{path}", **params)

    def follow(self, url: str, **params: Any) -> requests.Response:
        return self.session().get(url, params=params, auth=self.auth(), timeout=10)


class Slot:
    """The WSGI app of one shared loopback server; each test plugs in its own emulator.

    Stopping a werkzeug server waits out its 0.5 s poll, so the server lives for the module.
    """

    def __init__(self) -> None:
        self.emulator: ZendeskEmulator | None = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        assert self.emulator is not None
        return self.emulator.wsgi_app(environ, start_response)


@pytest.fixture(scope="module")
def loopback() -> Iterator[tuple[LoopbackServer, Slot]]:
    slot = Slot()
    with LoopbackServer(slot) as server:
        yield server, slot


@pytest.fixture
def boot(loopback: tuple[LoopbackServer, Slot]) -> Callable[..., Sandbox]:
    """Seed a fresh emulator (with the given limits) behind the shared server."""
    server, slot = loopback

    def make(world: World | None = None, **limits: Any) -> Sandbox:
        clock = Clock(NOW)
        emulator = ZendeskEmulator(clock=clock, **limits)
        emulator.seed(world or make_world())
        slot.emulator = emulator
        return Sandbox(emulator, server, clock)

    return make


@pytest.fixture
def sandbox(boot: Callable[..., Sandbox]) -> Sandbox:
    return boot(incremental_requests_per_minute=None)


# ---------------------------------------------------------------- lists


def test_organizations_walk_every_page_once(sandbox: Sandbox) -> None:
    orgs = list(sandbox.zenpy().organizations())
    ids = [o.id for o in orgs]
    assert len(ids) == 250
    assert len(set(ids)) == 250
    assert ids == sorted(ids)
    assert all(isinstance(o, Organization) for o in orgs)
    assert sandbox.emulator.stats.calls("GET", "/api/v2/organizations.json") == 3
    first = orgs[0]
    assert first.external_id == "001Ax0000000000000"
    assert first.domain_names == ["www.company0.com"]
    assert first.organization_fields == {"hubspot_company_id": "9000", "success_manager": None}


def test_tickets_and_users_walk_every_page_once(sandbox: Sandbox) -> None:
    client = sandbox.zenpy()
    tickets = list(client.tickets())
    assert len({t.id for t in tickets}) == len(tickets) == 250
    assert all(isinstance(t, Ticket) for t in tickets)
    by_id = {t.id: t for t in tickets}
    assert by_id[TICKET_ID0].tags == ["escalated"]
    assert by_id[TICKET_ID0].priority == "high"
    assert by_id[TICKET_ID0].organization_id == ORG_ID0
    assert by_id[TICKET_ID0 + 3].satisfaction_rating.score == "good"
    users = list(client.users())
    assert len({u.id for u in users}) == 250
    assert all(isinstance(u, User) for u in users)
    assert users[0].user_fields == {"customer_role": "executive_sponsor"}
    assert users[0].organization_id == ORG_ID0


def test_cursor_pages_forward_and_back(sandbox: Sandbox) -> None:
    first = sandbox.get("organizations.json", **{"page[size]": 40}).json()
    assert first["links"]["next"].startswith(f"https://{HOST}/api/v2/organizations.json?")
    second = sandbox.follow(first["links"]["next"]).json()
    back = sandbox.follow(second["links"]["prev"]).json()
    assert [o["id"] for o in first["organizations"]] == [ORG_ID0 + i for i in range(40)]
    assert [o["id"] for o in second["organizations"]] == [ORG_ID0 + i for i in range(40, 80)]
    assert back["organizations"] == first["organizations"]
    assert back["meta"]["has_more"] is False
    last = sandbox.get("organizations.json", **{"page[size]": 100, "page[after]": second["meta"]["after_cursor"]})
    body = last.json()
    assert len(body["organizations"]) == 100
    assert body["meta"]["has_more"] is True


def test_offset_pagination_without_page_size(sandbox: Sandbox) -> None:
    body = sandbox.get("tickets.json", page=3, per_page=100).json()
    assert body["count"] == 250
    assert len(body["tickets"]) == 50
    assert body["next_page"] is None
    assert "page=2" in body["previous_page"]


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"page[size]": 101}, "InvalidPaginationParameter"),
        ({"page[size]": 0}, "InvalidPaginationParameter"),
        ({"page[size]": 10, "page[after]": "not-a-cursor"}, "InvalidPaginationParameter"),
        ({"page": "x"}, "InvalidPaginationParameter"),
    ],
)
def test_bad_paging_gets_vendor_error(sandbox: Sandbox, params: dict[str, Any], error: str) -> None:
    response = sandbox.get("organizations.json", **params)
    assert response.status_code == 400
    assert response.json()["error"] == error


def test_show_and_not_found(sandbox: Sandbox) -> None:
    client = sandbox.zenpy()
    org = client.organizations(id=ORG_ID0 + 7)
    assert isinstance(org, Organization)
    assert org.name == "Company 7 Inc"
    assert isinstance(client.users(id=USER_ID0 + 7), User)
    assert client.tickets(id=TICKET_ID0 + 7).subject == "Help 7"
    with pytest.raises(RecordNotFoundException):
        client.organizations(id=1)
    assert sandbox.get("nothing/here.json").json() == {"error": "InvalidEndpoint", "description": "Not found"}


def test_show_many_tickets_in_one_request(sandbox: Sandbox) -> None:
    sandbox.emulator.delete("tickets", [TICKET_ID0 + 2])
    wanted = [TICKET_ID0 + 9, TICKET_ID0 + 2, TICKET_ID0 + 4, 1]  # a deleted ticket and an unknown id are left out
    tickets = list(sandbox.zenpy().tickets(ids=wanted))
    assert [(t.id, t.organization_id) for t in tickets] == [(TICKET_ID0 + 4, ORG_ID0 + 4),
                                                            (TICKET_ID0 + 9, ORG_ID0 + 9)]
    assert all(isinstance(t, Ticket) for t in tickets)
    assert sandbox.emulator.stats.calls("GET", "/api/v2/tickets/show_many.json") == 1
    body = sandbox.get("tickets/show_many.json", ids=",".join(str(TICKET_ID0 + i) for i in range(101)))
    assert (body.status_code, body.json()["error"]) == (400, "TooManyValues")


def test_satisfaction_ratings_listed_with_cursor_paging(sandbox: Sandbox) -> None:
    ratings = list(sandbox.zenpy().satisfaction_ratings())
    assert len(ratings) == 84  # tickets 0, 3, ..., 249
    assert all(isinstance(r, SatisfactionRating) for r in ratings)
    assert {r.score for r in ratings} == {"good", "bad"}
    one = next(r for r in ratings if r.ticket_id == TICKET_ID0 + 3)
    assert (one.requester_id, one.comment) == (USER_ID0 + 3, "thanks")
    assert "organization_id" not in one.to_dict()  # the documented rating: its account is its ticket's
    assert sandbox.zenpy().tickets(id=one.ticket_id).organization_id == ORG_ID0 + 3
    good = sandbox.get("satisfaction_ratings.json", score="good", **{"page[size]": 100}).json()
    assert len(good["satisfaction_ratings"]) == 42


# ---------------------------------------------------------------- incremental exports


def test_ticket_cursor_export_to_end_of_stream_then_resume(sandbox: Sandbox) -> None:
    client = sandbox.zenpy()
    export = client.tickets.incremental(start_time=0, per_page=60)
    ids = [t.id for t in export]
    assert len(ids) == len(set(ids)) == 250
    fresh = list(client.tickets.incremental(start_time=0))
    assert len(fresh) == 250 and all(isinstance(t, Ticket) for t in fresh)
    assert export.end_of_stream is True
    cursor = export.after_cursor
    assert sandbox.emulator.stats.calls("GET", "/api/v2/incremental/tickets/cursor.json") == 5 + 1

    touched = [TICKET_ID0 + i for i in (3, 50, 100, 150, 249)]
    sandbox.emulator.touch("tickets", touched)
    assert [t.id for t in client.tickets.incremental(cursor=cursor)] == []  # changed within the last minute
    sandbox.clock.advance(61)
    again = client.tickets.incremental(cursor=cursor)
    assert sorted(t.id for t in again) == touched
    assert again.end_of_stream is True


def test_user_cursor_export_to_end_of_stream(sandbox: Sandbox) -> None:
    export = sandbox.zenpy().users.incremental(start_time=0, per_page=100)
    users = list(export)
    assert len({u.id for u in users}) == len(users) == 250
    assert all(isinstance(u, User) for u in users)
    assert export.end_of_stream is True


def test_user_export_start_time_filters(sandbox: Sandbox) -> None:
    since = int((BASE + timedelta(minutes=30)).timestamp())
    body = sandbox.get("incremental/users/cursor.json", start_time=since).json()
    assert len(body["users"]) == 250 - 30 * 7
    assert body["before_cursor"] is None
    assert body["end_of_stream"] is True


def test_organization_time_export_repeats_boundary_items(sandbox: Sandbox) -> None:
    export = sandbox.zenpy().organizations.incremental(start_time=0, per_page=50)
    ids = [o.id for o in export]
    fresh = list(sandbox.zenpy().organizations.incremental(start_time=0))
    assert len({o.id for o in fresh}) == 250 and all(isinstance(o, Organization) for o in fresh)
    assert len(ids) > 250  # items sharing a page's end_time come again on the next page
    assert len(set(ids)) == 250
    assert export.end_of_stream is True


@pytest.mark.parametrize("path", ["incremental/organizations.json", "incremental/tickets/cursor.json"])
@pytest.mark.parametrize("ago", [30, 0, -3600])
def test_too_recent_start_time_refused(sandbox: Sandbox, path: str, ago: int) -> None:
    response = sandbox.get(path, start_time=int(NOW.timestamp()) - ago)
    assert response.status_code == 422
    assert response.json() == {
        "error": "InvalidValue",
        "description": "Too recent start_time. Use a start_time older than 1 minute",
    }


def test_incremental_export_limit_is_ten_per_minute(boot: Callable[..., Sandbox]) -> None:
    box = boot()
    for _ in range(10):
        assert box.get("incremental/organizations.json", start_time=0).status_code == 200
    refused = box.get("incremental/organizations.json", start_time=0)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["Content-Type"].startswith("text/html")
    assert box.get("organizations.json").status_code == 200  # other endpoints unaffected
    box.clock.advance(60)
    assert box.get("incremental/organizations.json", start_time=0).status_code == 200


# ---------------------------------------------------------------- writes


def test_update_many_job_with_one_failing_item(sandbox: Sandbox) -> None:
    client = sandbox.zenpy()
    sandbox.clock.advance(120)
    batch = [
        Organization(id=ORG_ID0 + 1, notes="health 80"),
        Organization(id=ORG_ID0 + 2, name="Company 3 Inc"),  # taken by another organization
        Organization(id=ORG_ID0 + 4, organization_fields={"hubspot_company_id": "77"}),
        Organization(id=123, notes="nobody"),
    ]
    queued = client.organizations.update(batch)
    assert isinstance(queued, JobStatus)
    assert queued.status == "queued"
    done = client.job_status(id=queued.id)
    assert isinstance(done, JobStatus)
    assert done.status == "completed"
    assert done.total == 4
    results = {r.id: {k: v for k, v in r.to_dict().items() if v is not None} for r in done.results}
    assert results[ORG_ID0 + 1] == {"action": "update", "id": ORG_ID0 + 1, "status": "Updated", "success": True}
    assert results[ORG_ID0 + 2]["error"] == "OrganizationUpdateFailed"
    assert results[ORG_ID0 + 2]["index"] == 1
    assert results[123]["error"] == "OrganizationUpdateFailed"
    assert results[ORG_ID0 + 4]["success"] is True

    assert client.organizations(id=ORG_ID0 + 1).notes == "health 80"
    assert client.organizations(id=ORG_ID0 + 1).updated_at == sandbox.clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert client.organizations(id=ORG_ID0 + 2).name == "Company 2 Inc"
    assert client.organizations(id=ORG_ID0 + 4).organization_fields["hubspot_company_id"] == "77"
    assert sandbox.emulator.stats.snapshot()["records_written"] == 2


def test_job_can_report_working_before_completed(boot: Callable[..., Sandbox]) -> None:
    box = boot(job_polls_before_completed=1)
    client = box.zenpy()
    queued = client.organizations.update([Organization(id=ORG_ID0, notes="x")])
    assert client.job_status(id=queued.id).status == "working"
    assert client.job_status(id=queued.id).status == "completed"


def test_update_many_over_one_hundred_refused(sandbox: Sandbox) -> None:
    batch = [Organization(id=ORG_ID0 + i, notes="n") for i in range(101)]
    with pytest.raises(TooManyValuesException) as caught:
        sandbox.zenpy().organizations.update(batch)
    assert caught.value.response.status_code == 400
    assert caught.value.response.json()["max_count"] == 100


def test_organization_field_created_then_values_round_trip(sandbox: Sandbox) -> None:
    client = sandbox.zenpy()
    created = client.organization_fields.create(
        OrganizationField(key="canary_health_score", type="integer", title="Canary health score")
    )
    assert isinstance(created, OrganizationField)
    assert created.key == "canary_health_score"
    assert [f.key for f in client.organization_fields()] == ["hubspot_company_id", "success_manager",
                                                              "canary_health_score"]
    with pytest.raises(APIException) as caught:
        client.organization_fields.create(OrganizationField(key="canary_health_score", type="text", title="Again"))
    assert caught.value.response.status_code == 422
    assert caught.value.response.json()["error"] == "RecordInvalid"

    untouched = client.organizations(id=ORG_ID0 + 9)
    assert untouched.organization_fields["canary_health_score"] is None
    org = client.organizations(id=ORG_ID0 + 8)
    org.organization_fields = {"canary_health_score": 72, "not_a_field": "x"}
    updated = client.organizations.update(org)
    assert updated.organization_fields["canary_health_score"] == 72
    again = client.organizations(id=ORG_ID0 + 8).organization_fields
    assert again == {"hubspot_company_id": None, "success_manager": None, "canary_health_score": 72}


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"type": "text", "title": "No key"}, "key"),
        ({"key": "k1", "type": "spreadsheet", "title": "Bad type"}, "type"),
        ({"key": "k2", "type": "text"}, "title"),
    ],
)
def test_organization_field_validation(sandbox: Sandbox, spec: dict[str, str], field: str) -> None:
    response = requests.post(
        f"{sandbox.api}/organization_fields.json", json={"organization_field": spec}, auth=sandbox.auth(), timeout=10
    )
    assert response.status_code == 422
    assert list(response.json()["details"]) == [field]


def test_writes_bump_the_incremental_stamp(sandbox: Sandbox) -> None:
    sandbox.clock.advance(3600)
    cutoff = int(sandbox.clock.now.timestamp()) - 120
    org = sandbox.zenpy().organizations(id=ORG_ID0 + 5)
    org.details = "edited"
    sandbox.zenpy().organizations.update(org)
    sandbox.clock.advance(61)
    body = sandbox.get("incremental/organizations.json", start_time=cutoff).json()
    assert [o["id"] for o in body["organizations"]] == [ORG_ID0 + 5]
    assert body["organizations"][0]["details"] == "edited"


# ---------------------------------------------------------------- limits and auth


@pytest.mark.parametrize(
    ("plan", "limit"), [("team", 200), ("professional", 400), ("enterprise", 700), ("enterprise_plus", 2500)]
)
def test_plan_sets_the_rate_limit_headers(boot: Callable[..., Sandbox], plan: str, limit: int) -> None:
    box = boot(make_world(3), plan=plan)
    response = box.get("organizations.json")
    assert response.headers["X-Rate-Limit"] == str(limit)
    assert response.headers["X-Rate-Limit-Remaining"] == str(limit - 1)
    assert 1 <= int(response.headers["ratelimit-reset"]) <= 60


def test_rate_limit_answers_429_with_retry_after(boot: Callable[..., Sandbox]) -> None:
    box = boot(make_world(3), requests_per_minute=3)
    box.clock.now = box.clock.now.replace(second=15)
    for remaining in (2, 1, 0):
        assert box.get("organizations.json").headers["X-Rate-Limit-Remaining"] == str(remaining)
    refused = box.get("organizations.json")
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "45"
    assert refused.text == "Number of allowed API requests per minute exceeded"
    with pytest.raises(RatelimitBudgetExceeded):
        list(box.zenpy(ratelimit_budget=1).organizations())
    box.clock.advance(45)
    assert box.get("organizations.json").status_code == 200


def test_wrong_token_gets_vendor_401(sandbox: Sandbox) -> None:
    client = sandbox.zenpy({"email": sandbox.emulator.credentials["email"], "token": "wrong"})
    with pytest.raises(APIException) as caught:
        list(client.organizations())
    response = caught.value.response
    assert response.status_code == 401
    assert response.json() == {"error": "Couldn't authenticate you"}
    assert response.headers["WWW-Authenticate"] == 'Basic realm="Web Password"'


def test_oauth_bearer_token_accepted(sandbox: Sandbox) -> None:
    client = sandbox.zenpy({"oauth_token": sandbox.emulator.credentials["oauth_token"]})
    assert len(list(client.organizations())) == 250


def _basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer nope",
        _basic("sandbox-admin@canary.test:zd-sandbox-api-token"),  # password form, not token form
        _basic("someone@else.test/token:zd-sandbox-api-token"),
        "Basic !!!",
    ],
)
def test_bad_credentials_refused(sandbox: Sandbox, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = requests.get(f"{sandbox.api}/organizations.json", headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json() == {"error": "Couldn't authenticate you"}


def test_stats_endpoint_is_not_counted(sandbox: Sandbox) -> None:
    sandbox.get("organizations.json")
    sandbox.get("tickets/1000.json")
    snap = requests.get(f"{sandbox.server.url}/_sandbox/stats", timeout=10).json()
    assert snap["calls_total"] == 2
    assert {(c["method"], c["endpoint"]) for c in snap["calls"]} == {
        ("GET", "/api/v2/organizations.json"),
        ("GET", "/api/v2/tickets/{id}.json"),
    }
    assert snap["records_returned"] == 101
