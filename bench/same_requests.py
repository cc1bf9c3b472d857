"""A floor that asks exactly what the adapters asked: every HTTP request of a pull recorded (method, URL, headers,
body: the same endpoints, fields, properties, associations and page sizes, the owner look-ups too) and
sent again with plain `requests`, each answer's JSON decoded and its records counted, nothing mapped or stored.

All three SDKs reach the wire through urllib3 (simple_salesforce and zenpy through requests, hubspot-api-client
directly), so the recording wraps `urllib3.connectionpool.HTTPConnectionPool.urlopen` while it is on.

    with Recorded() as recorded:
        sync(...)
    answers, records, seconds, cpu = replay(recorded.requests, verify=cert_path)

The emulators keep no state a replay changes: Salesforce's query locators stay open (the most recent 256),
HubSpot's ``after`` and Zendesk's cursors are positions. Every answer's status is checked: a replay that is not
answered as the pull was is reported, not counted as a floor.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import requests
from urllib3.connectionpool import HTTPConnectionPool

MAX_WAITS = 1000
"""Rate-limited answers (429) waited out in one replay at most."""

LIST_KEYS = ("records", "results", "organizations", "users", "tickets", "satisfaction_ratings")
"""The keys of the lists of records in the vendors' answers."""


@dataclass(frozen=True)
class Request:
    scheme: str
    host: str
    port: int | None
    method: str
    url: str
    headers: dict[str, str]
    body: Any
    status: list[int] = field(default_factory=list, compare=False)
    """The status the pull was answered with (filled when the answer came)."""


@dataclass
class Recorded:
    """Records every request urllib3 sends while the block runs, from any thread and from any process forked
    meanwhile (a pull read apart, `sync.runner.READ_APART`): each answered request is appended, pickled, to a
    file of the block's own, read back in the order written when the block ends."""

    requests: list[Request] = field(default_factory=list)

    def __enter__(self) -> Recorded:
        original = HTTPConnectionPool.urlopen
        self._original = original
        handle, path = tempfile.mkstemp(prefix="canary-recorded-")
        os.close(handle)
        self._path = path
        fd = self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)

        def urlopen(pool: HTTPConnectionPool, method: str, url: str, body: Any = None, headers: Any = None,
                    *args: Any, **kwargs: Any) -> Any:
            request = Request(pool.scheme, pool.host, pool.port, method, url,
                              {str(k): str(v) for k, v in (headers or {}).items()}, body)
            answer = original(pool, method, url, body, headers, *args, **kwargs)
            request.status.append(answer.status)
            blob = pickle.dumps(request)
            os.write(fd, len(blob).to_bytes(4, "big") + blob)  # one appending write a request, whole
            return answer

        HTTPConnectionPool.urlopen = urlopen  # type: ignore[method-assign]
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        HTTPConnectionPool.urlopen = self._original  # type: ignore[method-assign]
        os.close(self._fd)
        with open(self._path, "rb") as written:
            data = written.read()
        os.unlink(self._path)
        at = 0
        while at < len(data):
            size = int.from_bytes(data[at:at + 4], "big")
            self.requests.append(pickle.loads(data[at + 4:at + 4 + size]))
            at += 4 + size


def records_in(body: Any) -> int:
    """Records in one answer: the length of its list of records (0 for an answer that lists none)."""
    if isinstance(body, list):
        return len(body)
    if isinstance(body, dict):
        for key in LIST_KEYS:
            value = body.get(key)
            if isinstance(value, list):
                return len(value)
    return 0


def replay(recorded: list[Request], verify: str | bool = True
           ) -> tuple[int, int, float, float, Counter[tuple[int | None, int]]]:
    """Send every recorded request again, in order, with one plain `requests.Session` per server; returns
    (answers, records in them, seconds, this process's CPU seconds, the statuses answered otherwise than in the
    pull: (pull's, replay's) → count; (429, 429): the rate-limited answers waited out and sent again)."""
    sessions: dict[tuple[str, str, int | None], requests.Session] = {}
    statuses: Counter[tuple[int | None, int]] = Counter()
    records = waits = 0
    started, cpu = time.perf_counter(), time.process_time()
    for r in recorded:
        key = (r.scheme, r.host, r.port)
        session = sessions.get(key)
        if session is None:
            session = sessions[key] = requests.Session()
            session.trust_env = False
            session.verify = verify
        host = f"[{r.host}]" if ":" in r.host else r.host
        url = f"{r.scheme}://{host}{f':{r.port}' if r.port else ''}{r.url}"
        answer = session.request(r.method, url, data=r.body, headers=r.headers, timeout=60)
        while answer.status_code == 429 and (not r.status or r.status[-1] != 429) and waits < MAX_WAITS:
            # The vendor's limit (HubSpot's searches per second): waited out, as the adapters do; the time counts.
            waits += 1
            time.sleep(min(float(answer.headers.get("Retry-After") or 0.25), 2.0))
            answer = session.request(r.method, url, data=r.body, headers=r.headers, timeout=60)
        if answer.status_code != (r.status[-1] if r.status else None):
            statuses[(r.status[-1] if r.status else None, answer.status_code)] += 1
        if answer.content and answer.headers.get("Content-Type", "").startswith("application/json"):
            records += records_in(answer.json())
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    for session in sessions.values():
        session.close()
    if waits:
        statuses[(429, 429)] += waits  # answers "too many requests" waited out (not in the pull: it paces itself)
    return len(recorded), records, seconds, cpu, statuses
