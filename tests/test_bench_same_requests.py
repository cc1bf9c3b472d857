"""bench.same_requests: every request of a walk recorded on the wire, and replayed with the same answers."""

from __future__ import annotations

from urllib3.connectionpool import HTTPConnectionPool

from bench.bench_pipeline import LIMITS, RAW
from bench.same_requests import Recorded, records_in, replay
from sandbox.server import Sandbox
from tests.shared import WORLD_AS_OF


def test_a_walk_is_recorded_and_replayed_with_the_same_records() -> None:
    original = HTTPConnectionPool.urlopen
    with Sandbox(accounts=30, seed=3, as_of=WORLD_AS_OF, **LIMITS) as box:
        with Recorded() as recorded:
            walked = sum(walk(box.credentials[system]) for system, walk in RAW.items())
        assert HTTPConnectionPool.urlopen is original  # the wire is left as it was
        assert walked > 0 and recorded.requests
        assert all(r.status == [200] for r in recorded.requests)
        assert {r.scheme for r in recorded.requests} == {"http", "https"}  # Salesforce over TLS
        cert = box.credentials["salesforce"]["cert_path"]
        answers, records, _seconds, _cpu, otherwise = replay(recorded.requests, cert)
    assert (answers, records, dict(otherwise)) == (len(recorded.requests), walked, {})


def test_records_are_counted_in_each_vendors_list() -> None:
    assert records_in({"records": [1, 2], "totalSize": 2}) == 2
    assert records_in({"results": [1], "paging": {}}) == 1
    assert records_in({"organizations": [1, 2, 3], "end_of_stream": True}) == 3
    assert records_in({"id": 5}) == 0 and records_in([1, 2]) == 2
