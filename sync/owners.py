"""Account owners: which record of an account names its owner, and which Canary user that is.

Every vendor record of an account may name an owner — the Salesforce Account's ``OwnerId`` (a
``User``), the HubSpot company's ``hubspot_owner_id`` (an owner), the Zendesk organization's owner
field (an agent) — and the page writer keeps it on the record's `SourceLink`. After each sync's
accounts are placed, `apply_owners`:

1. gives each account the owner its record of highest precedence names (`owner_precedence`: the
   CRMs before the help desk, since accounts are assigned in the CRM and a help-desk field is often
   empty or stale); an account none of whose records names an owner keeps the one it had;
2. links each vendor user seen as an owner to the active Canary user with the same e-mail
   (`console.people.link_vendor_user`, the one place vendor users are linked; vendor sign-in reads
   these links too);
3. sets each account's CSM (`console.people.assign_csms`): the active Canary user whose e-mail is
   the owner's, or none — an owner who is no active user (a CSM who left, someone not invited yet)
   leaves the account unassigned, where a manager finds it (the portfolio's "unassigned" scope);
4. applies the workspace's owner-change policy (`Tenant.task_reassign`) to the open tasks of each
   account whose CSM changed (`sync.reassign.follow_owner_changes`): ``automatic`` moves the tasks
   alerts and plays made for the old CSM (or nobody) to the new one, ``all`` every such task,
   ``none`` nothing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from console.people import assign_csms, link_vendor_user
from integrations.registry import vendors
from store.models import Account, SourceLink, VendorUserLink
from store.panel_views import touches
from sync.reassign import OwnerChange, follow_owner_changes


def owner_precedence() -> tuple[str, ...]:
    """Systems in the order their owner wins: the CRMs in registry order, then the help desks."""
    return tuple(d.name for d in sorted(vendors(), key=lambda d: d.helpdesk))


def choose_owner(named: dict[str, str], precedence: tuple[str, ...] | None = None) -> str | None:
    """The owner of an account whose records name ``named`` (system -> owner), by ``precedence`` (by default
    `owner_precedence`: a caller choosing for many accounts passes it, read once)."""
    return next((named[system] for system in precedence or owner_precedence() if named.get(system)), None)


@dataclass
class OwnerCounts:
    accounts_changed: int = 0
    """Accounts whose owner changed."""
    vendor_users_linked: int = 0
    """Vendor users newly linked to a Canary user."""
    csms_changed: int = 0
    """Accounts whose CSM (a Canary user, or none) changed."""
    without_active_csm: int = 0
    """Accounts with an owner who is no active Canary user."""
    tasks_reassigned: int = 0
    """Open tasks moved to an account's new CSM by the workspace's owner-change policy."""


def apply_owners(session: Session) -> OwnerCounts:
    """Owners, vendor-user links and CSMs from the stored records (see the module docstring)."""
    counts = OwnerCounts()
    csm_before = dict(session.execute(select(Account.id, Account.csm_user_id)).all())
    named: dict[int, dict[str, str]] = defaultdict(dict)
    vendor_users: dict[tuple[str, str], str] = {}
    for account_id, system, owner, owner_ref in session.execute(
            select(SourceLink.account_id, SourceLink.system, SourceLink.owner, SourceLink.owner_ref)
            .where(SourceLink.account_id.is_not(None), SourceLink.owner.is_not(None))
            .order_by(SourceLink.system, SourceLink.external_id)):
        if account_id is None or owner is None:
            continue
        named[account_id].setdefault(system, owner)
        if owner_ref and "@" in owner:
            vendor_users.setdefault((system, owner_ref), owner)
    current = dict(session.execute(select(Account.id, Account.owner)).all())
    by_owner: dict[str, list[int]] = defaultdict(list)
    precedence = owner_precedence()
    for account_id, systems in named.items():
        owner = choose_owner(systems, precedence)
        if owner is not None and account_id in current and current[account_id] != owner:
            by_owner[owner].append(account_id)
    for owner, ids in by_owner.items():
        for start in range(0, len(ids), 500):
            session.execute(update(Account).where(Account.id.in_(ids[start:start + 500])).values(owner=owner),
                            execution_options={"synchronize_session": False, **touches(ids[start:start + 500])})
        counts.accounts_changed += len(ids)
    linked = set(session.execute(select(VendorUserLink.system, VendorUserLink.external_id)).all())
    for (system, external_id), email in sorted(vendor_users.items()):
        if (system, external_id) not in linked and link_vendor_user(session, system, external_id, email):
            counts.vendor_users_linked += 1
    counts.csms_changed = assign_csms(session)
    if counts.csms_changed:
        changes = [OwnerChange(account_id, csm_before.get(account_id), csm, owner)
                   for account_id, csm, owner in session.execute(select(Account.id, Account.csm_user_id, Account.owner))
                   if account_id in csm_before and csm_before[account_id] != csm]
        counts.tasks_reassigned = len(follow_owner_changes(session, changes))
    counts.without_active_csm = session.scalar(select(func.count()).select_from(Account).where(
        Account.owner.is_not(None), Account.csm_user_id.is_(None))) or 0
    return counts
