"""`fewer_collections`: rarer young collections inside, everything as it was after (also on error)."""

from __future__ import annotations

import gc

import pytest

from sync.collection import YOUNG, fewer_collections


def test_thresholds_and_frozen_objects_are_put_back() -> None:
    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    with fewer_collections():
        assert gc.get_threshold()[0] == max(YOUNG, before[0])
        assert gc.get_threshold()[1:] == before[1:]
        assert gc.get_freeze_count() > frozen
        with fewer_collections():  # nested: the outer block's settings hold
            assert gc.get_threshold()[0] == max(YOUNG, before[0])
        assert gc.get_threshold()[0] == max(YOUNG, before[0])
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen


def test_objects_frozen_before_stay_frozen() -> None:
    held = [[i] for i in range(1000)]  # a server worker's objects, frozen before its fork
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert frozen >= len(held)
        with fewer_collections():
            assert gc.get_threshold()[0] >= YOUNG
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_put_back_when_the_block_fails() -> None:
    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("boom")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen
    with fewer_collections():  # usable again: the depth went back to 0
        assert gc.get_threshold()[0] == max(YOUNG, before[0])
    assert gc.get_threshold() == before


def test_cycles_are_still_collected_after() -> None:
    class Node:
        other: object

    a, b = Node(), Node()
    a.other, b.other = b, a
    with fewer_collections():
        pass
    del a, b
    assert gc.collect() >= 2


def test_blocks_of_two_threads_share_the_settings_and_the_last_puts_them_back() -> None:
    import threading

    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, tuple[int, int, int]] = {}

    def first() -> None:
        with fewer_collections():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with fewer_collections():
            second_in.set()
            first_out.wait(5)  # the first block closed while this one is open: its settings still hold
            seen["inside"] = gc.get_threshold()
        seen["after"] = gc.get_threshold()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert first_out.is_set() and second_in.is_set()
    assert seen["inside"][0] == max(YOUNG, before[0])
    assert seen["after"] == before
    assert gc.get_freeze_count() == frozen
    with fewer_collections():  # usable again: the depth went back to 0
        assert gc.get_threshold()[0] == max(YOUNG, before[0])
    assert gc.get_threshold() == before


def test_a_request_block_freezes_nothing_and_never_counts_the_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    """`collected_rarely` (a report view, a stored copy read) only makes young collections rarer: in a `canary serve`
    worker, whose app was frozen before the fork, counting the frozen objects (`gc.get_freeze_count` walks them all,
    ~14 ms for a loaded app) would cost every request more than the view itself saves."""
    from sync.collection import collected_rarely

    frozen = gc.get_freeze_count()
    before = gc.get_threshold()
    inside: list[tuple[int, int]] = []

    @collected_rarely
    def view() -> str:
        inside.append((gc.get_threshold()[0], gc.get_freeze_count()))
        return "made"

    counted: list[int] = []
    real_count = gc.get_freeze_count

    def count() -> int:
        counted.append(1)
        return real_count()

    monkeypatch.setattr(gc, "get_freeze_count", count)
    assert view() == "made"
    monkeypatch.undo()
    assert counted == [1]  # the view's own count above, none by the block
    assert inside == [(max(YOUNG, before[0]), frozen)]  # rarer young collections; nothing more frozen
    assert gc.get_threshold() == before and gc.get_freeze_count() == frozen
