"""Fewer cyclic garbage collections while a bulk run makes and drops millions of short-lived objects.

A score run reads tens of millions of driver tuples (usage rows) and keeps a score and signals per
account; with CPython's default thresholds (a young collection every 700 allocations, an old one as the
heap grows by a quarter) the collector spends seconds traversing objects that reference counting frees
anyway, and the whole heap — every imported module and the run's own results — again and again.
`fewer_collections` moves what exists when the run starts out of the collector's sight (`gc.freeze`)
and makes young collections rarer for the run's duration. It changes when cycles are found, never
whether: the thresholds and the frozen objects are put back as they were afterwards.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG = 50_000
"""Allocations between two young collections during a bulk run (CPython's default: 700)."""

_depth = 0


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Rarer collections inside the block (re-entrant: the outermost block sets and restores)."""
    global _depth
    if _depth:
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
        return
    thresholds = gc.get_threshold()
    # Objects frozen already (a `canary serve` worker's, frozen before the fork) must stay frozen: `unfreeze`
    # cannot tell them apart, so the block freezes and unfreezes only when nothing was frozen before.
    freezing = gc.get_freeze_count() == 0
    if freezing:
        gc.freeze()
    gc.set_threshold(max(YOUNG, thresholds[0]), *thresholds[1:])
    _depth = 1
    try:
        yield
    finally:
        _depth = 0
        gc.set_threshold(*thresholds)
        if freezing:
            gc.unfreeze()
