"""The emulator's answers carry the same keys, types and nesting as recorded Salesforce payloads."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from sandbox.salesforce import make_id
from tests.sandbox.test_salesforce_api import Sandbox, connect, make_sandbox, tls  # noqa: F401
from tests.shared import vendor_payloads

SF = vendor_payloads("salesforce")



def payload(name: str) -> Any:
    return json.loads((SF / name).read_text())


ALLOWED_EXTRA: frozenset[str] = frozenset(
    {
        # describe ``urls``: the recorded describe is a v23.0 custom object; a v50+ Account describe
        # also links its layouts, so the recorded excerpt legitimately lacks these three.
        "approvalLayouts",
        "compactLayouts",
        "layouts",
    }
)
"""Keys ours may carry beyond a recorded payload's, each because real payloads vary there."""


def assert_same_shape(ours: Any, theirs: Any, path: str = "$") -> None:
    """Exactly the keys the vendor sent (bar `ALLOWED_EXTRA`), each with the same JSON type, recursively.

    ``null`` in the vendor's payload matches anything; lists compare their first items.
    """
    if theirs is None:
        return
    if isinstance(theirs, bool) or isinstance(ours, bool):
        assert isinstance(ours, bool) and isinstance(theirs, bool), f"{path}: {ours!r} vs {theirs!r}"
    elif isinstance(theirs, int | float):
        assert isinstance(ours, int | float), f"{path}: {ours!r} is not a number"
        assert isinstance(ours, float) == isinstance(theirs, float), f"{path}: {ours!r} vs {theirs!r}"
    elif isinstance(theirs, dict):
        assert isinstance(ours, dict), f"{path}: {type(ours).__name__} is not an object"
        missing = set(theirs) - set(ours)
        assert not missing, f"{path}: missing keys {sorted(missing)}"
        extra = set(ours) - set(theirs) - ALLOWED_EXTRA
        assert not extra, f"{path}: keys the vendor does not send {sorted(extra)}"
        for key, value in theirs.items():
            assert_same_shape(ours[key], value, f"{path}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list), f"{path}: {type(ours).__name__} is not an array"
        if theirs and ours:
            assert_same_shape(ours[0], theirs[0], f"{path}[0]")
    else:
        assert type(ours) is type(theirs), f"{path}: {ours!r} vs {theirs!r}"


@pytest.fixture
def box(make_sandbox: Any) -> Sandbox:  # noqa: F811
    return make_sandbox(450)


def test_query_pages(box: Sandbox) -> None:
    first = box.sf.query("SELECT Id, Name FROM Account", headers={"Sforce-Query-Options": "batchSize=200"})
    assert_same_shape(first, payload("query_page_not_done.json"))
    assert_same_shape(first, payload("query_page_first_restforce.json") | {"records": []})
    assert re.fullmatch(r"/services/data/v59\.0/query/01g\w{15}-200", first["nextRecordsUrl"])
    last = box.sf.query("SELECT Name FROM Account WHERE NumberOfEmployees < 12")
    assert_same_shape(last, payload("query_final_page.json"))
    assert "nextRecordsUrl" not in last and last["totalSize"] == 2


def test_composite_results(box: Sandbox) -> None:
    good = make_id("001", 1)
    records = [
        {"attributes": {"type": "Account"}, "id": good, "Industry": "Media"},
        {"attributes": {"type": "Contact"}, "id": "001xx000003DGb2999", "LastName": "X"},
    ]
    partial = box.sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": records})
    expected = payload("composite_sobjects_patch_partial_failure.json")
    assert_same_shape(partial, expected)
    assert [sorted(r) for r in partial] == [sorted(r) for r in expected]
    assert partial[1]["errors"][0]["statusCode"] == "MALFORMED_ID"
    assert partial[1]["errors"][0]["message"] == "Contact ID: id value of incorrect type: 001xx000003DGb2999"
    rolled = box.sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": True, "records": records})
    assert rolled == [
        {**payload("composite_sobjects_patch_all_or_none_rolled_back.json")[0], "id": good},
        partial[1],
    ]


def test_bulk_job_infos(box: Sandbox) -> None:
    sf = box.sf
    created = sf.restful("jobs/ingest", method="POST", json={"object": "Account", "operation": "update"})
    assert_same_shape(created, payload("bulk2_ingest_job_created.json"))
    assert set(created) == set(payload("bulk2_ingest_job_created.json"))
    info_open = sf.restful(f"jobs/ingest/{created['id']}")
    assert_same_shape(info_open, payload("bulk2_ingest_job_info_open.json"))
    assert set(info_open) == set(payload("bulk2_ingest_job_info_open.json"))
    sf.session.put(f"{box.server.url}/{created['contentUrl']}", data=f"Id,Industry\n{make_id('001', 1)},Media\n",
                   headers={**sf.headers, "Content-Type": "text/csv"})  # fmt: skip
    sf.restful(f"jobs/ingest/{created['id']}", method="PATCH", json={"state": "UploadComplete"})
    complete = sf.restful(f"jobs/ingest/{created['id']}")
    assert_same_shape(complete, payload("bulk2_ingest_job_info_complete.json"))
    assert set(complete) == set(payload("bulk2_ingest_job_info_complete.json"))
    missing = sf.session.get(f"{sf.bulk2_url}ingest/750000000000000AAA", headers=sf.headers)
    assert (missing.status_code, missing.json()) == (404, payload("bulk2_error_job_not_found.json"))


def test_describe_matches_recorded_describe(box: Sandbox) -> None:
    ours = box.sf.Account.describe()
    theirs = payload("describe_custom_object_excerpt_restforce.json")
    object_level = {k: v for k, v in theirs.items() if k not in ("fields",)}
    assert_same_shape({k: ours[k] for k in object_level}, object_level)
    field_keys = set().union(*(f.keys() for f in theirs["fields"]))
    for field in ours["fields"]:
        assert field_keys <= set(field), field["name"]
    by_name = {f["name"]: f for f in ours["fields"]}
    assert_same_shape(by_name["Id"], theirs["fields"][0])
    assert_same_shape(by_name["Industry"], theirs["fields"][1])
    # The recorded text field has a default ("Yes!"); ours have none, which is nullable there too.
    assert_same_shape(by_name["Zendesk_Organization_Id__c"], theirs["fields"][2] | {"defaultValue": None})
    # The recorded reference field is trimmed: it lacks the five size keys every other recorded field
    # (and every real describe field) carries, so ours is compared with those keys taken out.
    sizes = ("byteLength", "caseSensitive", "length", "precision", "scale")
    assert set(sizes) <= set(theirs["fields"][0]) and not set(sizes) & set(theirs["fields"][3])
    assert_same_shape({k: v for k, v in by_name["ParentId"].items() if k not in sizes}, theirs["fields"][3])
    customs = [f["name"] for f in ours["fields"] if f["custom"]]
    assert customs and all(name.endswith("__c") for name in customs)


@pytest.mark.parametrize(
    ("call", "file", "status"),
    [
        ("malformed", "error_malformed_query.json", 400),
        ("session", "error_invalid_session_id_restforce.json", 401),
        ("email", "error_invalid_email_with_fields.json", 400),
    ],
)
def test_error_bodies_equal_recorded_ones(
    box: Sandbox,
    tls: Any,  # noqa: F811
    call: str,
    file: str,
    status: int,
) -> None:
    sf = box.sf
    if call == "malformed":
        response = sf.session.get(f"{sf.base_url}query/", params={"q": "invalid"}, headers=sf.headers)
    elif call == "session":
        other = connect(box.server, tls, "expired")
        response = other.session.get(f"{sf.base_url}limits/", headers=other.headers)
    else:
        response = sf.session.patch(
            f"{sf.base_url}sobjects/Contact/{make_id('003', 1)}", json={"Email": "not an email"}, headers=sf.headers
        )
    assert response.status_code == status
    assert response.json() == payload(file)


def test_limit_header_and_exhausted_allocation(make_sandbox: Any) -> None:  # noqa: F811
    sb = make_sandbox(3, daily_api_limit=1)
    sf = sb.sf
    ok = sf.session.get(f"{sf.base_url}limits/", headers=sf.headers)
    refused = sf.session.get(f"{sf.base_url}limits/", headers=sf.headers)
    example = payload("sforce_limit_info_header.json")["examples"][0]
    assert re.fullmatch(r"api-usage=\d+/\d+", example["value"])
    assert ok.headers["Sforce-Limit-Info"] == "api-usage=1/1"
    assert sf.parse_api_usage(ok.headers["Sforce-Limit-Info"])["api-usage"] == (1, 1)
    assert (refused.status_code, refused.json()) == (403, payload("error_request_limit_exceeded.json"))
