"""The emulator's answers against real Zendesk payloads, and the pure paging and seeding rules."""

from __future__ import annotations

import json
from typing import Any

import pytest
from werkzeug.test import Client

from sandbox.zendesk import ZendeskEmulator
from sandbox.zendesk.pages import (
    BadCursor,
    decode_export_cursor,
    decode_id_cursor,
    encode_export_cursor,
    export_cursor_page,
    list_page,
    time_export_page,
)
from sandbox.zendesk.seed import domain_name
from tests.sandbox.test_zendesk import NOW, ORG_ID0, TICKET_ID0, Clock, make_world
from tests.shared import vendor_payloads

PAYLOADS = vendor_payloads("zendesk")


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text())


@pytest.fixture
def zd() -> tuple[ZendeskEmulator, Client]:
    emulator = ZendeskEmulator(clock=Clock(NOW), incremental_requests_per_minute=None)
    emulator.seed(make_world(30))
    return emulator, Client(emulator.wsgi_app)


def call(client: Client, method: str, path: str, **kwargs: Any) -> Any:
    headers = {"Authorization": "Bearer zd-sandbox-oauth-token"}
    return client.open(f"/api/v2/{path}", method=method, headers=headers, **kwargs)


ALLOWED_EXTRA: frozenset[str] = frozenset(
    {
        # Tickets: the recorded ticket show (go-zendesk, older) lacks these two, which the recorded
        # exports carry; the recorded exports lack ``satisfaction_probability``, which the show carries.
        "from_messaging_channel",
        "generated_timestamp",
        "satisfaction_probability",
        # Satisfaction ratings: ``reason`` is documented for accounts that ask for reasons; the
        # documented example comes from one that does not.
        "reason",
    }
)
"""Keys ours may carry beyond a recorded record's, each because real payloads vary there."""


def assert_like(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """Exactly the keys of the real record (bar `ALLOWED_EXTRA`), with the same JSON type where both are set."""
    assert set(theirs) <= set(ours), sorted(set(theirs) - set(ours))
    assert set(ours) - set(theirs) <= ALLOWED_EXTRA, sorted(set(ours) - set(theirs) - ALLOWED_EXTRA)
    for key, value in theirs.items():
        if value is not None and ours[key] is not None:
            assert type(ours[key]) is type(value), key


def test_organization_list_page_shape(zd: tuple[ZendeskEmulator, Client]) -> None:
    real = payload("organizations_list_cursor_page.json")
    ours = call(zd[1], "GET", "organizations.json?page[size]=1").json
    assert set(ours) == set(real)
    assert set(ours["meta"]) == set(real["meta"])
    assert set(ours["links"]) == set(real["links"])
    assert ours["links"]["next"].split("?")[0].endswith("/api/v2/organizations.json")
    assert "page%5Bafter%5D=" in ours["links"]["next"]
    assert_like(ours["organizations"][0], real["organizations"][0])


def test_organization_time_export_shape(zd: tuple[ZendeskEmulator, Client]) -> None:
    real = payload("organizations_incremental_time_based.json")
    ours = call(zd[1], "GET", "incremental/organizations.json?start_time=0").json
    assert set(ours) == set(real)
    assert_like(ours["organizations"][0], real["organizations"][0])
    assert ours["count"] == 30
    assert ours["end_time"] == max(
        int(NOW.timestamp()) - 86_400 * 30 + 60 * (i // 7) for i in range(30)
    )  # the last stamp of the page


def test_ticket_show_shape(zd: tuple[ZendeskEmulator, Client]) -> None:
    real = payload("ticket_show.json")
    ours = call(zd[1], "GET", f"tickets/{TICKET_ID0}.json").json
    assert set(ours) == {"ticket"}
    assert_like(ours["ticket"], real["ticket"])


@pytest.mark.parametrize(
    ("path", "files"),
    [
        (
            "incremental/tickets/cursor.json?start_time=0&per_page=1",
            ["tickets_incremental_cursor_page.json", "tickets_incremental_cursor_final_page.json"],
        ),
        (
            "incremental/users/cursor.json?start_time=0&per_page=1",
            ["users_incremental_cursor_page.json", "users_incremental_cursor_end_of_stream_docs.json"],
        ),
        ("incremental/tickets.json?start_time=0", ["tickets_incremental_time_based.json"]),
    ],
)
def test_export_page_shapes(zd: tuple[ZendeskEmulator, Client], path: str, files: list[str]) -> None:
    ours = call(zd[1], "GET", path).json
    plural = path.split("/")[1].split(".")[0]
    for name in files:
        real = payload(name)
        assert set(ours) == set(real)
        if name != "users_incremental_cursor_end_of_stream_docs.json":  # an agent, ours are end users
            assert_like(ours[plural][0], real[plural][0])


def test_cursor_export_cursor_looks_like_zendesk(zd: tuple[ZendeskEmulator, Client]) -> None:
    ours = call(zd[1], "GET", "incremental/tickets/cursor.json?start_time=0&per_page=1").json
    real = payload("tickets_incremental_cursor_page.json")
    assert ours["before_cursor"] is real["before_cursor"] is None
    assert ours["end_of_stream"] is real["end_of_stream"] is False
    assert "cursor=" in ours["after_url"]
    assert "per_page=1" in ours["after_url"]


def test_job_status_shapes(zd: tuple[ZendeskEmulator, Client]) -> None:
    body = {"organizations": [{"id": ORG_ID0, "notes": "a"}, {"id": ORG_ID0 + 1, "name": "Company 0 Inc"}]}
    queued = call(zd[1], "PUT", "organizations/update_many.json", json=body).json
    real_queued = payload("organizations_update_many_job_status.json")
    assert set(queued) == {"job_status"}
    assert queued["job_status"]["status"] == "queued"
    assert set(queued["job_status"]) == set(real_queued["job_status"])
    done = call(zd[1], "GET", f"job_statuses/{queued['job_status']['id']}.json").json["job_status"]
    real_done = payload("job_status_completed_update_many_partial_failure.json")["job_status"]
    assert set(done) == set(real_done)
    success, failure = done["results"]
    assert set(success) == set(real_done["results"][0])
    assert set(failure) == set(real_done["results"][1])
    assert failure["details"] == "Name:  Company 0 Inc has already been taken"
    many = call(zd[1], "GET", "job_statuses/show_many.json", query_string={
        "ids": f"{queued['job_status']['id']},V3-unknown"}).json
    assert set(many) == {"job_statuses"}  # the documented show_many answer: a list of job statuses
    assert [set(j) for j in many["job_statuses"]] == [set(real_done)]  # each as the single poll; unknown left out
    assert many["job_statuses"][0]["results"] == done["results"]


def test_satisfaction_rating_shape(zd: tuple[ZendeskEmulator, Client]) -> None:
    """By default the documented rating: no organization_id (its account is its ticket's)."""
    real = payload("satisfaction_ratings_list.json")["satisfaction_ratings"][0]
    ours = call(zd[1], "GET", "satisfaction_ratings.json?page[size]=5").json
    assert {"satisfaction_ratings", "meta", "links"} == set(ours)
    assert_like(ours["satisfaction_ratings"][0], real)


def test_satisfaction_rating_carries_organization_id_only_when_asked() -> None:
    real = payload("satisfaction_ratings_list.json")["satisfaction_ratings"][0]
    emulator = ZendeskEmulator(clock=Clock(NOW), satisfaction_organization_id=True)
    emulator.seed(make_world(30))
    ours = call(Client(emulator.wsgi_app), "GET", "satisfaction_ratings.json?page[size]=5").json
    rating = ours["satisfaction_ratings"][0]
    with pytest.raises(AssertionError, match="organization_id"):
        assert_like(rating, real)
    assert_like({k: v for k, v in rating.items() if k != "organization_id"}, real)


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "file"),
    [
        ("GET", "organizations/42.json", None, 404, "error_404_record_not_found.json"),
        (
            "PUT",
            "organizations/update_many.json",
            {"organizations": [{"id": ORG_ID0 + i} for i in range(101)]},
            400,
            "error_400_too_many_values.json",
        ),
    ],
)
def test_error_bodies_match_recorded(
    zd: tuple[ZendeskEmulator, Client], method: str, path: str, body: Any, status: int, file: str
) -> None:
    response = call(zd[1], method, path, json=body)
    assert response.status_code == status
    assert response.json == payload(file)


def test_unauthorized_matches_recorded(zd: tuple[ZendeskEmulator, Client]) -> None:
    real = payload("error_401_unauthorized.json")
    response = zd[1].get("/api/v2/organizations.json", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == real["status"]
    assert response.json == real["body"]
    assert response.headers["WWW-Authenticate"] == real["headers"]["WWW-Authenticate"]


def test_rate_limit_header_names_match_recorded(zd: tuple[ZendeskEmulator, Client]) -> None:
    real = payload("response_headers_rate_limit_sample.json")["headers"]
    response = call(zd[1], "GET", "organizations.json?page[size]=1")
    ours = {k.lower() for k in response.headers.keys()}  # noqa: SIM118 - werkzeug Headers
    assert {k for k in real if "rate-limit" in k} <= ours
    assert "ratelimit-reset" in ours
    assert response.headers["x-rate-limit"] == "700"


@pytest.mark.parametrize(
    ("kind", "status", "content_type"),
    [("429", 429, "text/html"), ("500", 500, "application/json"), ("503", 503, "application/json")],
)
def test_fault_responses(kind: str, status: int, content_type: str) -> None:
    response = ZendeskEmulator().fault_response(kind, retry_after=93)
    assert response.status_code == status
    assert response.content_type.startswith(content_type)
    if kind == "429":
        real = payload("error_429_rate_limited.json")
        assert response.get_data(as_text=True) == real["body_text"]
        assert response.headers["Retry-After"] == real["headers"]["Retry-After"]
        assert response.headers["Content-Length"] == real["headers"]["Content-Length"]
    elif kind == "503":
        assert response.headers["Retry-After"] == "93"
    with pytest.raises(ValueError, match="unknown fault"):
        ZendeskEmulator().fault_response("418", retry_after=1)


def test_stats_route_pattern_counts(zd: tuple[ZendeskEmulator, Client]) -> None:
    emulator, client = zd
    call(client, "GET", f"organizations/{ORG_ID0}")
    call(client, "GET", f"organizations/{ORG_ID0}.json")
    assert emulator.stats.calls("GET", "/api/v2/organizations/{id}.json") == 2


# ---------------------------------------------------------------- pure rules


def test_time_page_widens_when_one_stamp_fills_it() -> None:
    keys = [(100, i) for i in range(25)] + [(200, 99)]
    page = time_export_page(keys, newest_stamp=1_000, per_page=10, start_time=0)
    assert len(page.keys) == 25
    assert page.end_time == 101
    assert page.end_of_stream is False
    rest = time_export_page(keys, newest_stamp=1_000, per_page=10, start_time=page.end_time)
    assert rest.keys == [(200, 99)]
    assert rest.end_of_stream is True


def test_time_page_repeats_the_boundary_stamp() -> None:
    keys = [(100, 1), (100, 2), (200, 3), (200, 4), (300, 5)]
    first = time_export_page(keys, newest_stamp=1_000, per_page=3, start_time=0)
    second = time_export_page(keys, newest_stamp=1_000, per_page=3, start_time=first.end_time)
    assert first.keys == [(100, 1), (100, 2), (200, 3)]
    assert first.end_time == 200
    assert second.keys == [(200, 3), (200, 4), (300, 5)]


def test_time_page_leaves_out_the_newest_stamps() -> None:
    page = time_export_page([(100, 1), (500, 2)], newest_stamp=400, per_page=10, start_time=0)
    assert page.keys == [(100, 1)]
    assert page.end_of_stream is True


def test_export_cursor_walks_forward_and_back() -> None:
    keys = [(s, i) for i, s in enumerate([5, 5, 5, 6, 7, 7, 9])]
    first = export_cursor_page(keys, 100, 3, start_time=0)
    second = export_cursor_page(keys, 100, 3, cursor=first.after_cursor)
    third = export_cursor_page(keys, 100, 3, cursor=second.after_cursor)
    assert first.keys + second.keys + third.keys == keys
    assert (first.before_cursor, first.end_of_stream, third.end_of_stream) == (None, False, True)
    assert second.before_cursor is not None
    back = export_cursor_page(keys, 100, 3, cursor=second.before_cursor)
    assert back.keys == first.keys
    empty = export_cursor_page(keys, 100, 3, cursor=third.after_cursor)
    assert (empty.keys, empty.after_cursor, empty.end_of_stream) == ([], third.after_cursor, True)


def test_list_page_backwards_and_empty() -> None:
    ids = list(range(1, 11))
    assert list_page(ids, 3, before=5).ids == [2, 3, 4]
    assert list_page(ids, 3, before=3).has_more is False
    assert list_page(ids, 3, after=10) == list_page([], 3)
    assert list_page(ids, 3, after=10).after_cursor is None


@pytest.mark.parametrize("cursor", ["", "@@@", "aGVsbG8=", encode_export_cursor((1, 2))])
def test_foreign_list_cursors_refused(cursor: str) -> None:
    with pytest.raises(BadCursor):
        decode_id_cursor(cursor)


def test_export_cursor_round_trip() -> None:
    assert decode_export_cursor(encode_export_cursor((1695052663, 28))) == ((1695052663, 28), False)
    assert encode_export_cursor((1695052663, 28)) == "MTY5NTA1MjY2My4wfHwyOHw="  # as Zendesk's
    with pytest.raises(BadCursor):
        decode_export_cursor("bm90IGEgY3Vyc29y")


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("acme.com", "acme.com"),
        ("https://www.Acme.com/", "www.acme.com"),
        ("http://acme.com/about", "acme.com"),
        ("www.acme.com/path", "www.acme.com"),
        ("", None),
        (None, None),
    ],
)
def test_domain_as_zendesk_stores_it(raw: str | None, stored: str | None) -> None:
    assert domain_name(raw) == stored


def test_seed_projects_only_zendesk_records(zd: tuple[ZendeskEmulator, Client]) -> None:
    emulator = zd[0]
    orgs = emulator.records("organizations")
    assert len(orgs) == 30
    assert all(o["name"] != "Only In Salesforce" for o in orgs)
    assert orgs[0]["external_id"] == "001Ax0000000000000"
    assert orgs[1]["external_id"] is None
    assert [o["organization_fields"]["hubspot_company_id"] for o in orgs[:6]] == ["9000", *[None] * 4, "9005"]
    tickets = emulator.records("tickets")
    assert tickets[0]["satisfaction_rating"]["score"] == "bad"
    assert tickets[1]["satisfaction_rating"] == {"score": "unoffered"}
    assert len(emulator.records("satisfaction_ratings")) == 10
    with pytest.raises(KeyError):
        emulator.records("deals")


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("GET", "incremental/tickets/cursor.json", None, 400, "InvalidValue"),  # neither start_time nor cursor
        ("GET", "incremental/users/cursor.json?start_time=0&cursor=abc", None, 400, "InvalidValue"),
        ("GET", "incremental/users/cursor.json?cursor=bm90IGEgY3Vyc29y", None, 400, "InvalidValue"),
        ("GET", "incremental/organizations.json", None, 400, "InvalidValue"),
        ("GET", "incremental/organizations.json?start_time=0&per_page=1001", None, 400, "InvalidValue"),
        ("GET", "incremental/organizations.json?start_time=yesterday", None, 400, "InvalidValue"),
        ("PUT", f"organizations/{ORG_ID0}.json", "{not json", 400, "InvalidValue"),
        ("PUT", f"organizations/{ORG_ID0}.json", '{"name": "x"}', 400, "InvalidValue"),
        ("PUT", "organizations/update_many.json", '{"organizations": {}}', 400, "InvalidValue"),
        ("PUT", f"organizations/{ORG_ID0}.json", '{"organization": {"name": "Company 1 Inc"}}', 422, "RecordInvalid"),
        ("PUT", "organizations/1.json", '{"organization": {"notes": "x"}}', 404, "RecordNotFound"),
        ("GET", "job_statuses/V3-nope.json", None, 404, "RecordNotFound"),
        ("DELETE", f"organizations/{ORG_ID0}.json", None, 405, "MethodNotAllowed"),
    ],
)
def test_bad_requests_get_vendor_errors(
    zd: tuple[ZendeskEmulator, Client], method: str, path: str, body: str | None, status: int, error: str
) -> None:
    response = call(zd[1], method, path, data=body, content_type="application/json")
    assert response.status_code == status
    assert response.json["error"] == error
    assert zd[0].records("organizations")[0]["name"] == "Company 0 Inc"  # nothing written


def test_deleted_organization_in_the_export_is_the_real_record_plus_deleted_at() -> None:
    real = payload("organizations_incremental_time_based.json")["organizations"][0]
    clock = Clock(NOW)
    emulator = ZendeskEmulator(clock=clock, incremental_requests_per_minute=None, export_deleted=True)
    emulator.seed(make_world(30))
    emulator.delete("organizations", [ORG_ID0 + 3])
    clock.advance(61)
    rows = call(Client(emulator.wsgi_app), "GET", "incremental/organizations.json?start_time=0").json["organizations"]
    deleted = next(o for o in rows if o["id"] == ORG_ID0 + 3)
    assert isinstance(deleted.pop("deleted_at"), str)
    assert_like(deleted, real)
