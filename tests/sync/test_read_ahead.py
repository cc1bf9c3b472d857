"""A pull's read-ahead (`sync.runner._ReadAhead`): which fetched pages are written together, and the pull's
error reaching the writer after every page before it."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest

from integrations.base import AccountRecord, Page, Removal
from integrations.errors import FatalError
from sync.runner import READ_AHEAD, READ_AHEAD_RECORDS, _merged, _ReadAhead

T0 = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)


def _page(first: int, n: int, removed: tuple[Removal, ...] = ()) -> Page:
    records = [AccountRecord("hubspot", str(i), f"Company {i}", T0) for i in range(first, first + n)]
    return Page("accounts", records, str(first + n), removed)


def _all_fetched(pages: list[Page], error: BaseException | None = None) -> tuple[_ReadAhead, threading.Event]:
    """A reader whose pull has fetched every page (and raised ``error``) before the first group is asked for."""
    done = threading.Event()

    def pull() -> Iterator[Page]:
        yield from pages
        done.set()
        if error is not None:
            raise error

    reader = _ReadAhead(pull())
    assert done.wait(5)
    return reader, done


def test_pages_fetched_already_are_grouped_up_to_the_limit_and_a_removal_ends_a_group() -> None:
    gone = (Removal("9"),)
    pages = [_page(0, 2), _page(2, 2, gone), _page(4, 1)]
    reader, _ = _all_fetched(pages)
    try:
        assert reader.next_group(limit=10) == pages[:2]  # the page with removals ends the group
        assert reader.next_group(limit=10) == pages[2:]
        assert reader.next_group(limit=10) is None
        assert reader.next_group(limit=10) is None
    finally:
        reader.close()


def test_a_group_never_passes_the_limit_but_a_bigger_page_is_written_alone() -> None:
    pages = [_page(0, 3), _page(3, 3), _page(6, 5), _page(11, 1)]
    reader, _ = _all_fetched(pages)
    try:
        assert [len(g) for g in iter(lambda: reader.next_group(limit=4), None)] == [1, 1, 1, 1]
    finally:
        reader.close()
    reader, _ = _all_fetched(pages)
    try:
        groups = list(iter(lambda: reader.next_group(limit=6), None))
        assert [[p.cursor for p in g] for g in groups] == [["3", "6"], ["11", "12"]]
    finally:
        reader.close()


def test_the_pulls_error_comes_after_every_page_fetched_before_it() -> None:
    pages = [_page(0, 2), _page(2, 2)]
    reader, _ = _all_fetched(pages, FatalError("quota used up"))
    try:
        assert reader.next_group(limit=10) == pages
        with pytest.raises(FatalError, match="quota used up"):
            reader.next_group(limit=10)
    finally:
        reader.close()


def test_merged_pages_keep_the_order_the_last_cursor_and_the_last_pages_removals() -> None:
    gone = (Removal("7", merged_into="1"),)
    merged = _merged([_page(0, 2), Page("accounts", [], None), _page(2, 1, gone)])
    assert [r.external_id for r in merged.records] == ["0", "1", "2"]
    assert merged.cursor == "3"
    assert merged.removed == gone
    lone = _page(0, 1)
    assert _merged([lone]) is lone
    assert _merged([_page(0, 1), Page("accounts", [], None)]).cursor == "1"


def test_closing_early_stops_the_reader() -> None:
    served: list[int] = []

    def endless() -> Iterator[Page]:
        i = 0
        while True:
            served.append(i)
            yield _page(i, 1)
            i += 1

    reader = _ReadAhead(endless())
    assert reader.next_group(limit=1) is not None
    reader.close()
    assert not reader._thread.is_alive()
    stopped = len(served)
    assert stopped <= READ_AHEAD + 2  # it held at most `READ_AHEAD` pages ahead of the writer


def test_the_reader_holds_at_most_read_ahead_records_but_always_one_page() -> None:
    served: list[int] = []

    def big_pages() -> Iterator[Page]:
        i = 0
        while True:
            served.append(i)
            yield _page(i, READ_AHEAD_RECORDS // 2 + 1)  # two never fit together
            i += 1

    reader = _ReadAhead(big_pages())
    try:
        first = reader.next_group(limit=1)
        assert first is not None and len(first) == 1  # a page bigger than the limit comes alone
        for _ in range(50):  # the reader's thread fetches what room allows, then waits
            if len(served) >= 3:
                break
            threading.Event().wait(0.02)
        threading.Event().wait(0.1)
        assert len(served) <= 3  # the page taken, one held, one waiting for room: never more
    finally:
        reader.close()
    assert not reader._thread.is_alive()
