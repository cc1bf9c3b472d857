"""Fewer cyclic garbage collections while a bulk run makes and drops millions of short-lived objects.

A score run reads tens of millions of driver tuples (usage rows) and keeps a score and signals per
account; with CPython's default thresholds (a young collection every 700 allocations, an old one as the
heap grows by a quarter) the collector spends seconds traversing objects that reference counting frees
anyway, and the whole heap — every imported module and the run's own results — again and again.
`fewer_collections` moves what exists when the run starts out of the collector's sight (`gc.freeze`)
and makes young collections rarer for the run's duration. It changes when cycles are found, never
whether: the thresholds and the frozen objects are put back as they were afterwards.

A report view built in a request is the same on a smaller scale (`collected_rarely`): the whole base's Health view
makes ~50,000 short-lived objects (the persistent poor accounts' rows), so CPython's defaults run ~75 young
collections and, every other view, a full one over the whole process heap — about half the view's CPU.
"""

from __future__ import annotations

import functools
import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

YOUNG = 50_000
"""Allocations between two young collections during a bulk run (CPython's default: 700)."""

_P = ParamSpec("_P")
_R = TypeVar("_R")

_lock = threading.Lock()
_depth = 0
_saved: tuple[tuple[int, ...], bool] | None = None
"""The thresholds to put back and whether the outermost block froze, while any block is open."""


@contextmanager
def fewer_collections(*, freeze: bool = True) -> Iterator[None]:
    """Rarer collections inside the block. Re-entrant and shared by threads (a threaded server's requests build
    report views at once): the first block to open sets, the last to close puts back, under one lock.

    ``freeze``: the outermost block also freezes what exists, when nothing is frozen yet. Telling that costs a walk
    over every frozen object (``gc.get_freeze_count`` counts them one by one: ~20 ms in a `canary serve` worker,
    whose app was frozen before the fork), which a bulk run pays once but a request must not: `collected_rarely`
    passes False, and only makes young collections rarer."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            thresholds = gc.get_threshold()
            # Objects frozen already (a `canary serve` worker's, frozen before the fork) must stay frozen:
            # `unfreeze` cannot tell them apart, so the block freezes and unfreezes only when nothing was frozen.
            freezing = freeze and gc.get_freeze_count() == 0
            if freezing:
                gc.freeze()
            gc.set_threshold(max(YOUNG, thresholds[0]), *thresholds[1:])
            _saved = (thresholds, freezing)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                put_back, unfreezing = _saved
                _saved = None
                gc.set_threshold(*put_back)
                if unfreezing:
                    gc.unfreeze()


def collected_rarely(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """`fn` run inside `fewer_collections`, freezing nothing (a request's work: see its ``freeze``)."""
    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with fewer_collections(freeze=False):
            return fn(*args, **kwargs)

    return wrapper
