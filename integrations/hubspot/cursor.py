"""The opaque pull cursor of the HubSpot adapter: where a pull of one object stopped.

Three phases (see `integrations.hubspot.adapter` for the walk itself):

* ``walk``: a full list walk in id order; ``after`` is HubSpot's list paging token and
  ``mark`` the newest modification stamp (epoch ms) seen before the walk began, from
  which the incremental search takes over once the walk ends;
* ``forward``: incremental; every record modified *after* ``ts`` is still to come, and so is
  any record at ``ts`` or up to the look-back window before it that search had not yet
  indexed (HubSpot's search is eventually consistent);
* ``tie``: draining the records that share the one stamp ``ts`` in id order; ``after`` is
  the last id delivered (None: none yet). Needed when more records share one stamp than
  fit on a search page.

Besides the position, every phase carries what the look-back needs to deliver nothing twice:

* ``seen``: id -> stamp of the records delivered whose stamp lies within the look-back window
  of the newest one (a record re-read at the same stamp is skipped; a newer stamp is a change);
* ``gone``: id -> archivedAt (epoch ms) of the records reported removed within the window of
  ``gone_ts``, the newest archivedAt reported (None: none yet; a stale search answer that
  still shows one of them is ignored);
* ``count``: how many live records search held at the end of the last pull (None: unknown),
  and ``idx`` the ids it held that were created within the look-back window of its newest
  stamp; a count that the records new to the index since do not explain means something was
  archived or merged;
* ``at``: when (this machine's clock, epoch ms) the pull that last moved ``ts`` ended, and
  ``settled`` a stamp at or before which everything has been delivered: once the look-back has
  passed since ``at``, the next pull's re-read settles everything up to ``ts``, and later pulls
  look back no further than ``settled`` (so a burst of changes is re-read for one window of
  time, not on every quiet pull after it).

Encoded as compact JSON so a stored cursor can be read by a person. Version 1 cursors
(before the look-back) are read as they stand, with nothing seen and the count unknown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from integrations.errors import BadCursor

Phase = Literal["walk", "forward", "tie"]
VERSION = 2


@dataclass(frozen=True)
class PullCursor:
    phase: Phase
    ts: int | None = None
    after: str | None = None
    mark: int | None = None
    seen: dict[str, int] = field(default_factory=dict)
    gone: dict[str, int] = field(default_factory=dict)
    gone_ts: int | None = None
    count: int | None = None
    idx: tuple[str, ...] = ()
    at: int | None = None
    settled: int | None = None

    def dump(self) -> str:
        data: dict[str, Any] = {"v": VERSION, "phase": self.phase}
        for key in ("ts", "after", "mark", "gone_ts", "count", "at", "settled"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.seen:
            data["seen"] = self.seen
        if self.gone:
            data["gone"] = self.gone
        if self.idx:
            data["idx"] = list(self.idx)
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    def moved(self, phase: Phase, *, ts: int | None = None, after: str | None = None,
              mark: int | None = None) -> PullCursor:
        """The same memory (seen, gone, count) at another position."""
        return replace(self, phase=phase, ts=ts, after=after, mark=mark)

    def pruned(self, window_ms: int) -> PullCursor:
        """Forget what lies more than the look-back window before the newest stamp seen."""
        newest = max([self.ts or 0, *self.seen.values()])
        seen = {i: s for i, s in self.seen.items() if s > newest - window_ms}
        gone = self.gone
        if self.gone_ts is not None:
            gone = {i: s for i, s in self.gone.items() if s > self.gone_ts - window_ms}
        return replace(self, seen=seen, gone=gone)

    @classmethod
    def load(cls, text: str | None) -> PullCursor | None:
        if text is None:
            return None
        try:
            data = json.loads(text)
            if (
                not isinstance(data, dict)
                or data.get("v") not in (1, VERSION)
                or data.get("phase") not in ("walk", "forward", "tie")
            ):
                raise ValueError("not a HubSpot pull cursor")
            cursor = cls(
                phase=data["phase"],
                ts=_opt_int(data.get("ts")),
                after=_opt_str(data.get("after")),
                mark=_opt_int(data.get("mark")),
                seen=_stamps(data.get("seen")),
                gone=_stamps(data.get("gone")),
                gone_ts=_opt_int(data.get("gone_ts")),
                count=_opt_int(data.get("count")),
                idx=tuple(sorted(str(i) for i in data.get("idx") or ())),
                at=_opt_int(data.get("at")),
                settled=_opt_int(data.get("settled")),
            )
        except (ValueError, TypeError) as exc:
            raise BadCursor(
                f"hubspot: the saved pull cursor {text[:80]!r} was not written by this adapter ({exc}); "
                "run a full sync to start over"
            ) from None
        if cursor.phase == "tie" and cursor.ts is None:
            raise BadCursor("hubspot: the saved pull cursor has no timestamp; run a full sync to start over")
        return cursor


def _opt_int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"expected an integer, got {value!r}")
    return int(value)


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def _stamps(value: object) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"expected an object of id to stamp, got {value!r}")
    out: dict[str, int] = {}
    for key, stamp in value.items():
        number = _opt_int(stamp)
        if number is None:
            raise ValueError(f"no stamp for {key!r}")
        out[str(key)] = number
    return out
