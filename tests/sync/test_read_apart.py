"""A pull read by a forked child (`sync.runner._ReadApart`, `READ_APART`): the same rows, counts, calls and adapter
state as read by a thread; the pull's error after every page before it, with its attributes; a child that dies
or a writer that stops leaves no process behind."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, select

from bench.bench_pipeline import DUMPED, LIMITS
from bench.workspace import sandbox_workspace
from integrations.base import AccountRecord, Page, PullState
from integrations.errors import AuthError, FatalError, VendorRefused
from sandbox.process import SandboxProcess
from sync import runner
from sync.runner import _ReadAhead, _ReadApart, sync
from tests.shared import WORLD_AS_OF

T0 = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)


def _page(first: int, n: int) -> Page:
    records = [AccountRecord("fake", str(i), f"Company {i}", T0) for i in range(first, first + n)]
    return Page("accounts", records, str(first + n))


class _Fake(PullState):
    """An adapter whose pull yields ``pages`` then does ``then``; it counts its calls as the real ones do."""

    PULL_STATE = ("calls", "_seen")
    system = "fake"

    def __init__(self, pages: list[Page], then: Any = None) -> None:
        self.pages, self.then, self.calls, self._seen = pages, then, 0, {"pages": 0}

    def pull(self, obj: str, cursor: str | None) -> Iterator[Page]:
        for page in self.pages:
            self.calls += 1
            self._seen = {"pages": self._seen["pages"] + 1, "pid": os.getpid()}
            yield page
        if self.then is not None:
            self.then()


def _everything(reader: _ReadAhead) -> list[Page]:
    pages: list[Page] = []
    try:
        while (group := reader.next_group(limit=10**9)) is not None:
            pages.extend(group)
    finally:
        reader.close()
    return pages


def test_the_pages_the_calls_and_the_adapters_state_come_back_from_the_child() -> None:
    pages = [_page(0, 3), _page(3, 2), _page(5, 4)]
    adapter = _Fake(pages)
    reader = _ReadApart(adapter, "accounts", None)
    got = _everything(reader)
    assert got == pages and got[0] is not pages[0]  # equal, but unpickled: read in another process
    assert adapter.calls == 3
    assert adapter._seen["pages"] == 3 and adapter._seen["pid"] != os.getpid()
    assert not reader._process.is_alive() and reader._process.exitcode == 0


@pytest.mark.parametrize("error", [
    VendorRefused("hubspot: list companies: not allowed", status=403, code="MISSING_SCOPES", body={"x": 1}),
    AuthError("zendesk: the token was revoked"),
])
def test_the_pulls_error_arrives_after_every_page_with_its_attributes(error: Exception) -> None:
    def fail() -> None:
        raise error

    pages = [_page(0, 2), _page(2, 2)]
    adapter = _Fake(pages, then=fail)
    reader = _ReadApart(adapter, "accounts", None)
    got: list[Page] = []
    with pytest.raises(type(error)) as raised:
        while (group := reader.next_group(limit=1)) is not None:
            got.extend(group)
    reader.close()
    assert got == pages
    assert str(raised.value) == str(error)
    assert vars(raised.value) == vars(error)  # status, code, body: what the sync's handling reads
    assert adapter.calls == 2  # the state came back before the error


def test_an_error_that_does_not_pickle_arrives_as_a_fatal_error_naming_it() -> None:
    class Odd(Exception):
        def __init__(self) -> None:
            super().__init__("odd")
            self.lock = threading.Lock()  # a lock does not pickle

    def fail() -> None:
        raise Odd()

    reader = _ReadApart(_Fake([_page(0, 1)], then=fail), "accounts", None)
    with pytest.raises(FatalError, match="Odd: odd") as raised:
        _everything(reader)
    assert any("raise Odd()" in note for note in getattr(raised.value, "__notes__", []))


def test_a_child_that_dies_is_a_fatal_error_with_its_exit_code() -> None:
    reader = _ReadApart(_Fake([_page(0, 1)], then=lambda: os._exit(7)), "accounts", None)
    with pytest.raises(FatalError, match=r"ended before the pull did \(exit code 7\)"):
        _everything(reader)


def test_a_writer_that_stops_early_leaves_no_child_behind() -> None:
    endless = (_page(i * 100, 100) for i in range(10**6))

    class Endless(_Fake):
        def pull(self, obj: str, cursor: str | None) -> Iterator[Page]:
            yield from endless

    reader = _ReadApart(Endless([]), "accounts", None)
    other = _ReadApart(Endless([]), "contacts", None)  # forked after: it must not keep the first one's pipe open
    assert reader.next_group(limit=100) is not None
    started = time.monotonic()
    reader.close()  # the writer failed: the child is stopped though it has more to send
    assert not reader._process.is_alive() and time.monotonic() - started < 5
    other.close()
    assert not other._process.is_alive()


def _rows(store: Any, tenant_id: int) -> dict[str, list[list[Any]]]:
    meta = MetaData()
    out: dict[str, list[list[Any]]] = {}
    with store.session(tenant_id) as s:
        for name, (key, skipped) in DUMPED.items():
            table = Table(name, meta, autoload_with=s.get_bind())
            columns = [c for c in table.columns if c.name not in skipped and c.name != "tenant_id"]
            rows = s.execute(select(*columns).where(table.c.tenant_id == tenant_id)
                             .order_by(*(table.c[k] for k in key))).all()
            out[name] = [json.loads(json.dumps(list(row), default=str)) for row in rows]
    return out


SIMPLE = (int, float, str, bool, type(None), dict, list, tuple, set, frozenset)


def _data(value: Any) -> bool:
    """Plain data all the way down (records and other dataclasses count): not a connection pool or a client."""
    if isinstance(value, dict):
        return all(_data(k) and _data(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return all(_data(v) for v in value)
    return isinstance(value, SIMPLE) or (dataclasses.is_dataclass(value) and not isinstance(value, type))


def _plain(obj: Any) -> dict[str, Any]:
    """The plain values an adapter holds, and those of its parts (its connection, session, guard, pacer: objects
    of `integrations`) as ``part.attribute``: what a pull may change on it."""
    out: dict[str, Any] = {}
    for name, value in vars(obj).items():
        if isinstance(value, SIMPLE) and _data(value):
            out[name] = copy.deepcopy(value)  # as it is now: a dict the pull fills later is another
        elif hasattr(value, "__dict__") and not callable(value) and type(value).__module__.startswith("integrations"):
            out |= {f"{name}.{k}": copy.deepcopy(v) for k, v in vars(value).items()
                    if isinstance(v, SIMPLE) and _data(v)}
    return out


def _changed(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {name for name in set(before) | set(after) if before.get(name) != after.get(name)}


def test_a_whole_sync_read_apart_stores_and_counts_what_the_threads_do(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The same world pulled into two stores: read by threads, then by forked children. Every
    stored row, every count, the calls and what each adapter holds afterwards (`PullState`, and any other plain
    value a pull changes: one missing from ``PULL_STATE`` shows here) are the same."""
    forked: list[str] = []
    original = runner._ReadApart.__init__

    def counting(self: _ReadApart, adapter: Any, obj: Any, cursor: str | None) -> None:
        forked.append(f"{adapter.system} {obj}")
        original(self, adapter, obj, cursor)

    monkeypatch.setattr(runner._ReadApart, "__init__", counting)
    results = {}
    adapters: dict[str, Any] = {}
    for apart in (False, True):  # a world each: the vendors' rate-limit windows count every request served
        with SandboxProcess(accounts=60, seed=7, as_of=WORLD_AS_OF, **LIMITS) as box:
            # This test process may run threads of its own (the test runner's): the check is the rule's to make
            # in production; here reading apart is decided by the parameter alone.
            monkeypatch.setattr(runner, "_apart", lambda adapter, apart=apart: apart)
            store, tenant, adapters = sandbox_workspace(tmp_path, f"apart{int(apart)}", box)
            before = {system: _plain(a) for system, a in adapters.items()}
            summary = sync(store, tenant.id, adapters)
            results[apart] = (_rows(store, tenant.id), summary.as_dict(),
                              {s: (_changed(before[s], _plain(a)), a.pull_state()) for s, a in adapters.items()})
            store.dispose()
    threads, apart = results[False], results[True]
    assert sum(len(rows) for rows in threads[0].values()) > 500
    assert apart[0] == threads[0]
    assert apart[1] == threads[1]
    assert all(apart[1][system]["calls"] > 0 for system in ("salesforce", "zendesk", "hubspot"))
    for system, (changed, state) in threads[2].items():
        # Whatever a pull read by threads changed on the adapter is named in PULL_STATE (itself, or the part it is
        # a field of): a new attribute a pull changes and nobody listed fails here.
        paths = type(adapters[system]).PULL_STATE
        assert changed and {c for c in changed if c not in paths and c.split(".")[0] not in paths} == set(), system
        changed_apart, state_apart = apart[2][system]
        assert changed_apart == changed, system
        # The same values came back, but for clock readings (the pacer's, the rate-limit window's reset).
        clocked = {"pacer", "_reset_seconds"}
        assert {k: v for k, v in state_apart.items() if k not in clocked} == \
            {k: v for k, v in state.items() if k not in clocked}, system
    assert len(forked) >= 12 and {"salesforce accounts", "zendesk satisfaction", "hubspot contacts"} <= set(forked)


def test_the_child_fetches_ahead_up_to_its_own_bound_while_the_writer_reads_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing

    fetched = multiprocessing.get_context("fork").Value("i", 0)

    class Counting(_Fake):
        def pull(self, obj: str, cursor: str | None) -> Iterator[Page]:
            for i in range(10**6):
                with fetched.get_lock():
                    fetched.value += 1
                yield _page(i * 100, 100)

    monkeypatch.setattr(runner, "READ_APART_AHEAD", (1_000, 5_000))  # 50 pages of 100 records
    reader = _ReadApart(Counting([]), "accounts", None)
    try:
        seen, still = -1, 0
        deadline = time.monotonic() + 30
        while still < 5 and time.monotonic() < deadline:  # until the child stops fetching
            time.sleep(0.1)
            still = still + 1 if fetched.value == seen else 0
            seen = fetched.value
        # 50 held by the child's reader, and the few in the pipe and in its hand: the writer took none yet.
        assert 50 <= seen <= 50 + 40
        group = reader.next_group(limit=10**9)
        # The first page, and those already in the pipe with it, in one group.
        assert group is not None and len(group) >= 2 and group[0].records[0].external_id == "0"
        assert [p.records[0].external_id for p in group] == [str(i * 100) for i in range(len(group))]
    finally:
        reader.close()
    assert not reader._process.is_alive()


def test_the_rule_forks_only_from_a_process_running_no_other_thread() -> None:
    """`_apart` in a fresh interpreter (this test's own process runs the test runner's threads): a real adapter
    is read apart while the process runs one thread, not once another thread runs, nor for an adapter that cannot
    hand back its pull's state, nor with `READ_APART` off."""
    import subprocess
    import sys

    script = """
import threading, time
from integrations.hubspot.adapter import HubSpotAdapter
from sync import runner
adapter = HubSpotAdapter("token", base_url="http://127.0.0.1:9")
print(runner._apart(adapter), runner._apart(object()))
runner.READ_APART = False
print(runner._apart(adapter))
runner.READ_APART = True
stop = threading.Event()
threading.Thread(target=stop.wait, daemon=True).start()
print(runner._apart(adapter))
stop.set()
"""
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(root)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False", "False", "False"]
