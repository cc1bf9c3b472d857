"""Health legends: a scoring model's descriptors of its measures (signal, dimension, label), stored once per
workspace and model (`HealthLegend`, migration 0045) and named by the snapshots' parts (``parts["legend"]``), which
keep per measure only what varies per account.

`legend_id(session, model)` gets or creates the workspace's legend of a model; `Legends` reads legends by id, each
once (a score run keeps one for all its sessions; `legends(session)` is a session's own), and gives the
`scoring.Legend` a snapshot's parts name, for `scoring.HealthScore.from_dict`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scoring import HealthModel, Legend, model_fingerprint, model_legend
from store.models import HealthLegend
from store.scoping import current_tenant
from store.types import utcnow
from store.upsert import insert_for

_IDS = "canary_legend_ids"
"""Where a session keeps the legend ids it got (`legend_id`), by model fingerprint."""
_READ = "canary_legends"
"""Where a session keeps its `Legends` (`legends`)."""


def legend_id(session: Session, model: HealthModel) -> int:
    """The id of the workspace's legend of `model` (by `scoring.model_fingerprint`), created if there is none — by
    ``INSERT … ON CONFLICT DO NOTHING``, so two runs creating it at once make one row; remembered by the session."""
    tenant = current_tenant(session)
    if tenant is None:
        raise ValueError("a legend is stored in a workspace's session")
    fingerprint = model_fingerprint(model)
    known: dict[str, int] = session.info.setdefault(_IDS, {})
    found = known.get(fingerprint)
    if found is not None:
        return found
    query = select(HealthLegend.id).where(HealthLegend.fingerprint == fingerprint)
    found = session.scalar(query)
    if found is None:
        session.execute(insert_for(session, HealthLegend.__table__).values(
            tenant_id=tenant, fingerprint=fingerprint, legend=model_legend(model),
            created_at=utcnow()
        ).on_conflict_do_nothing(index_elements=["tenant_id", "fingerprint"]))
        found = session.scalar(query)
        assert found is not None
    known[fingerprint] = found
    return found


def as_legend(data: Mapping[str, Any]) -> dict[str, tuple[str, str, str]]:
    """A stored legend's JSON as a `scoring.Legend`: measure → (signal, dimension, label)."""
    return {str(measure): (str(d.get("signal") or measure), str(d.get("dimension") or ""),
                           str(d.get("label") or measure))
            for measure, d in data.items() if isinstance(d, Mapping)}


class Legends:
    """Legends by id, each read once (`read`: those not read yet, in one query of the session's workspace)."""

    __slots__ = ("_known",)

    def __init__(self) -> None:
        self._known: dict[int, Legend | None] = {}

    def read(self, session: Session, ids: Iterable[int]) -> None:
        wanted = sorted({i for i in ids if i not in self._known})
        if not wanted:
            return
        found = {i: as_legend(data) for i, data in session.execute(
            select(HealthLegend.id, HealthLegend.legend).where(HealthLegend.id.in_(wanted)))}
        for i in wanted:
            self._known[i] = found.get(i)  # another workspace's, or gone: None

    def get(self, session: Session, legend: int | None) -> Legend | None:
        """The legend of this id (None: no id, or no such legend in the workspace)."""
        if legend is None:
            return None
        if legend not in self._known:
            self.read(session, (legend,))
        return self._known[legend]

    def of(self, session: Session, parts: Mapping[str, Any] | None) -> Legend | None:
        """The legend a snapshot's parts name (None for parts that name none: written before the legends)."""
        named = (parts or {}).get("legend")
        return self.get(session, named) if isinstance(named, int) and not isinstance(named, bool) else None


def legends(session: Session) -> Legends:
    """The session's `Legends` (each legend read once per session)."""
    found: Legends | None = session.info.get(_READ)
    if found is None:
        found = session.info[_READ] = Legends()
    return found
