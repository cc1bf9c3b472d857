"""Tenant scoping: a session opened for one tenant cannot see or write another's rows.

`tenant_session(factory, tenant_id)` returns a Session whose every ORM ``SELECT`` gets
``tenant_id = :tenant`` added for all tenant-scoped models (also in joins, relationship
loads and subqueries, through SQLAlchemy's ``with_loader_criteria``), and whose flush
refuses a row of another tenant and fills in the tenant for new rows. Every module above
the store reads and writes through such a session.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker, with_loader_criteria

from store.models import TenantScoped

_TENANT_KEY = "canary_tenant_id"


class TenantViolation(Exception):
    """A write would touch another tenant's row."""


def tenant_session(factory: sessionmaker[Session], tenant_id: int) -> Session:
    session = factory()
    session.info[_TENANT_KEY] = tenant_id
    return session


def current_tenant(session: Session) -> int | None:
    value = session.info.get(_TENANT_KEY)
    return int(value) if value is not None else None


def scoped_core(session: Session, statement: Any, *models: Any, what: str = "a workspace's rows") -> Any:
    """`statement` limited to the session's workspace for a Core execution on its connection: the tenant criteria
    above apply to ORM executions only, so each tenant-scoped model the statement reads (`models`) gets
    ``model.tenant_id = <the session's tenant>`` here. A session without a tenant is refused (`what`: what the
    caller reads, for the error)."""
    tenant = current_tenant(session)
    if tenant is None:
        raise ValueError(f"{what} are read in a workspace's session")
    return statement.where(*(model.tenant_id == tenant for model in models))


@event.listens_for(Session, "do_orm_execute")
def _scope_selects(state: ORMExecuteState) -> None:
    tenant_id = state.session.info.get(_TENANT_KEY)
    if tenant_id is None or not (state.is_select or state.is_update or state.is_delete):
        return
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantScoped,
            lambda cls: cls.tenant_id == tenant_id,
            include_aliases=True,
            track_closure_variables=True,
        )
    )


@event.listens_for(Session, "before_flush")
def _guard_writes(session: Session, flush_context: Any, instances: Any) -> None:
    tenant_id = session.info.get(_TENANT_KEY)
    if tenant_id is None:
        return
    for obj in session.new:
        if isinstance(obj, TenantScoped):
            if obj.tenant_id is None:
                obj.tenant_id = tenant_id
            elif obj.tenant_id != tenant_id:
                raise TenantViolation(
                    f"refusing to add a {type(obj).__name__} of tenant {obj.tenant_id} "
                    f"in a session of tenant {tenant_id}"
                )
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, TenantScoped) and obj.tenant_id != tenant_id:
            raise TenantViolation(
                f"refusing to change a {type(obj).__name__} of tenant {obj.tenant_id} "
                f"in a session of tenant {tenant_id}"
            )
