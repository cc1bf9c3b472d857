"""Who a task is for when an account changes hands, and people moving tasks between them.

* **The owner-change policy** (`Tenant.task_reassign`, set by an admin): when a sync gives an account
  a new CSM (`sync.owners.apply_owners`), `follow_owner_changes` moves its open tasks that were the
  old CSM's (or nobody's) to the new one — ``automatic``: the tasks alerts and plays made; ``all``:
  manual ones too; ``none``: none. A task given to someone else is never moved. When the new owner
  is no active Canary user, the tasks become unassigned with the owner's e-mail, and the CRMs put
  them on the account's owner there (`sync.tasks.assign_task`). One audit event per sync that moved
  tasks (actor ``sync``).
* **People reassigning** (console, API): `reassign` checks who may move which task
  (`may_reassign`), refuses an inactive or unknown target, moves them through
  `sync.tasks.assign_task` and records one audit event for the whole action.

Every function takes a tenant-scoped session.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.audit import record_audit
from store.models import TASK_REASSIGN, TASK_SOURCES, Account, Task, Tenant, User
from store.scoping import current_tenant
from sync.tasks import AssignError, assign_task

SYNC_ACTOR = "sync"
"""The audit actor of the owner-change policy."""
POLICY_SOURCES: dict[str, tuple[str, ...]] = {"none": (), "automatic": ("alert", "play"), "all": TASK_SOURCES}
"""Which tasks (by source) follow an account to its new CSM under each policy."""
POLICY_TEXT: dict[str, str] = {
    "none": "Tasks stay with whoever they were given to; nothing moves when an account changes owner.",
    "automatic": "Open tasks that alerts and plays made for the old CSM (or for nobody) move to the new "
                 "CSM; tasks people created stay where they are.",
    "all": "Every open task of the old CSM (or of nobody) on the account moves to the new CSM, tasks "
           "people created included.",
}
"""What each policy does, as the settings page and the README say it."""
AUDIT_IDS = 500
"""At most this many task ids in one audit event (the count is always whole)."""


class ReassignError(ValueError):
    """A reassignment that cannot be made; the message says why. ``status``: 400 bad input, 403 not
    allowed, 404 no such task."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class OwnerChange:
    account_id: int
    old_user_id: int | None
    new_user_id: int | None
    new_owner: str | None
    """The account's owner e-mail now (kept on a task given to nobody)."""


def task_policy(session: Session) -> str:
    tenant = session.get(Tenant, current_tenant(session))
    return tenant.task_reassign if tenant is not None else "automatic"


def set_task_policy(session: Session, policy: str, actor: str, actor_user_id: int | None = None) -> bool:
    """Set the workspace's owner-change policy (audited with before and after). Returns whether it changed."""
    if policy not in TASK_REASSIGN:
        raise ReassignError(f"the owner-change policy must be one of {', '.join(TASK_REASSIGN)}, not {policy!r}")
    tenant = session.get(Tenant, current_tenant(session))
    if tenant is None:
        raise ReassignError("no such workspace", 404)
    if tenant.task_reassign == policy:
        return False
    record_audit(session, actor, "workspace.task_reassign", tenant.slug, actor_user_id,
                 before=tenant.task_reassign, after=policy)
    tenant.task_reassign = policy
    return True


def follow_owner_changes(session: Session, changes: Sequence[OwnerChange], policy: str | None = None) -> list[int]:
    """Apply the owner-change policy to accounts whose CSM changed; returns the ids of the tasks moved."""
    policy = policy or task_policy(session)
    sources = POLICY_SOURCES[policy]
    if not sources or not changes:
        return []
    by_account = {c.account_id: c for c in changes}
    ids = sorted(by_account)
    users = {u.id: u for u in session.scalars(select(User).where(User.active.is_(True), User.id.in_(
        {c.new_user_id for c in changes if c.new_user_id is not None})))}
    moved: list[int] = []
    accounts: set[int] = set()
    for start in range(0, len(ids), 500):
        tasks = session.scalars(select(Task).where(
            Task.account_id.in_(ids[start:start + 500]), Task.status == "open", Task.source.in_(sources))
            .order_by(Task.id))
        for task in tasks:
            change = by_account[task.account_id]
            if task.assignee_user_id is not None and task.assignee_user_id != change.old_user_id:
                continue  # given to someone else: never moved
            target = users.get(change.new_user_id) if change.new_user_id is not None else None
            if assign_task(task, target, owner=None if target else change.new_owner):
                moved.append(task.id)
                accounts.add(task.account_id)
    if moved:
        record_audit(session, SYNC_ACTOR, "task.reassign.owner_change", f"{len(moved)} tasks", None,
                     policy=policy, tasks=len(moved), accounts=len(accounts), task_ids=moved[:AUDIT_IDS])
    return moved


def allowed_to_reassign(user_id: int, role: str, assignee_user_id: int | None, account_csm_id: int | None) -> bool:
    """Admins and managers may reassign any task; a CSM the tasks given to them and the unassigned tasks
    of their own accounts; a viewer none."""
    if role in ("admin", "manager"):
        return True
    if role != "csm":
        return False
    if assignee_user_id is not None:
        return assignee_user_id == user_id
    return account_csm_id == user_id


def may_reassign(session: Session, user_id: int, role: str, task: Task) -> bool:
    """`allowed_to_reassign` for a stored task."""
    csm = None
    if role == "csm" and task.assignee_user_id is None:
        csm = session.scalar(select(Account.csm_user_id).where(Account.id == task.account_id))
    return allowed_to_reassign(user_id, role, task.assignee_user_id, csm)


def target_user(session: Session, user_id: int | None = None, email: str | None = None) -> User:
    """The active user of this workspace a task is to be given to (by id or e-mail), or a clear refusal."""
    if user_id is not None:
        user = session.get(User, user_id)
        named = f"user {user_id}"
    else:
        address = (email or "").strip().lower()
        if not address:
            raise ReassignError("say who to give the tasks to")
        user = session.scalar(select(User).where(User.email == address))
        named = address
    if user is None:
        raise ReassignError(f"{named} is not a user of this workspace")
    if not user.active:
        raise ReassignError(f"{user.email} is disabled: tasks can only be given to active users")
    return user


def reassign(session: Session, task_ids: Iterable[int], target: User | None, *, user_id: int, role: str,
             actor: str, how: str = "console") -> list[int]:
    """Give the tasks ``task_ids`` to ``target`` (None: the account's owner) as the user ``user_id`` with
    ``role``; all or nothing, one audit event. Returns the ids of the tasks that changed.

    Refused: an id of no open task of this workspace (404), a task the user may not move (403), a
    disabled target (400)."""
    wanted = sorted(set(task_ids))
    if not wanted:
        raise ReassignError("choose at least one task")
    if role == "viewer":
        raise ReassignError("a viewer cannot reassign tasks", 403)
    if target is not None and not target.active:
        raise ReassignError(f"{target.email} is disabled: tasks can only be given to active users")
    tasks: list[Task] = []
    for start in range(0, len(wanted), 500):
        tasks += session.scalars(select(Task).where(Task.id.in_(wanted[start:start + 500])).order_by(Task.id))
    missing = sorted(set(wanted) - {t.id for t in tasks})
    if missing:
        raise ReassignError(f"no task {', '.join(map(str, missing[:10]))} in this workspace", 404)
    closed = [t.id for t in tasks if t.status != "open"]
    if closed:
        raise ReassignError(f"task {', '.join(map(str, closed[:10]))} is done already: only open tasks move")
    refused = [t.id for t in tasks if not may_reassign(session, user_id, role, t)]
    if refused:
        raise ReassignError(f"you may reassign only tasks given to you or unassigned tasks of your accounts "
                            f"(not task {', '.join(map(str, refused[:10]))})", 403)
    try:
        moved = [t.id for t in tasks if assign_task(t, target)]
    except AssignError as exc:
        raise ReassignError(str(exc)) from None
    if moved:
        record_audit(session, actor, "task.reassign", f"{len(moved)} tasks", user_id,
                     to=target.email if target else "account owner", tasks=len(moved),
                     task_ids=moved[:AUDIT_IDS], via=how)
    return moved


def open_task_ids_of(session: Session, user_id: int) -> list[int]:
    """Every open task given to ``user_id`` (to move them all when a CSM leaves)."""
    return list(session.scalars(select(Task.id).where(Task.assignee_user_id == user_id, Task.status == "open")
                                .order_by(Task.id)))
