"""The opaque pull cursor of the HubSpot adapter: where a pull of one object stopped.

Three phases (see `integrations.hubspot.adapter` for the walk itself):

* ``walk``: a full list walk in id order; ``after`` is HubSpot's list paging token and
  ``mark`` the newest modification stamp (epoch ms) seen before the walk began, from
  which the incremental search takes over once the walk ends;
* ``forward``: incremental; every record modified *after* ``ts`` is still to come (all
  records at ``ts`` or before have been delivered);
* ``tie``: draining the records that share the one stamp ``ts`` in id order; ``after`` is
  the last id delivered (None: none yet). Needed when more records share one stamp than
  fit on a search page.

Encoded as compact JSON so a stored cursor can be read by a person.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal

from integrations.errors import BadCursor

Phase = Literal["walk", "forward", "tie"]
VERSION = 1


@dataclass(frozen=True)
class PullCursor:
    phase: Phase
    ts: int | None = None
    after: str | None = None
    mark: int | None = None

    def dump(self) -> str:
        data = {"v": VERSION, **{k: v for k, v in asdict(self).items() if v is not None}}
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def load(cls, text: str | None) -> PullCursor | None:
        if text is None:
            return None
        try:
            data = json.loads(text)
            if (
                not isinstance(data, dict)
                or data.get("v") != VERSION
                or data.get("phase") not in ("walk", "forward", "tie")
            ):
                raise ValueError("not a HubSpot pull cursor")
            cursor = cls(
                phase=data["phase"],
                ts=_opt_int(data.get("ts")),
                after=_opt_str(data.get("after")),
                mark=_opt_int(data.get("mark")),
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
