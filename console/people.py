"""The team: users, roles, managers' teams, account CSMs, password resets and the audit log.

Every function takes a tenant-scoped session, so a workspace only ever sees its own people.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from console.auth import Passwords, password_problem
from store.audit import COMMAND_LINE, record_audit
from store.models import USER_ROLES, Account, PasswordResetToken, User, VendorUserLink
from store.panel_views import touches

RESET_MINUTES = 60


class PeopleError(ValueError):
    """A change to the team that cannot be made; the message says why."""


def normalise_email(email: str) -> str:
    value = email.strip().lower()
    local, _, domain = value.partition("@")
    if not local or "." not in domain or len(value) > 320 or any(c.isspace() or ord(c) < 32 for c in value):
        raise PeopleError(f"{email!r} is not an e-mail address")
    return value


def audit(s: Session, actor: str, action: str, target: str, actor_user_id: int | None = None,
          **detail: Any) -> None:
    """Record who changed what (`store.audit.record_audit`). Never pass a secret in `detail`."""
    record_audit(s, actor, action, target, actor_user_id, **detail)


def find_user(s: Session, email: str) -> User | None:
    return s.scalar(select(User).where(User.email == normalise_email(email)))


def add_user(s: Session, email: str, role: str, *, name: str | None = None, manager: User | None = None,
             password: str | None = None, hasher: Passwords | None = None, actor: str = COMMAND_LINE,
             actor_user_id: int | None = None) -> User:
    if role not in USER_ROLES:
        raise PeopleError(f"role must be one of {', '.join(USER_ROLES)}")
    address = normalise_email(email)
    if find_user(s, address) is not None:
        raise PeopleError(f"{address} is already a user of this workspace")
    if manager is not None and manager.role not in ("manager", "admin"):
        raise PeopleError(f"{manager.email} is not a manager")
    user = User(email=address, name=name, role=role, manager_id=manager.id if manager else None)
    if password is not None:
        problem = password_problem(password)
        if problem:
            raise PeopleError(f"password refused: {problem}")
        if hasher is None:
            raise PeopleError("no password hasher")
        user.password_hash = hasher.hash(password)
    s.add(user)
    s.flush()
    audit(s, actor, "user.add", address, actor_user_id, role=role,
          manager=manager.email if manager else None)
    moved = _reassign_csms(s)
    if moved:  # the report pages' sources patched for the accounts whose CSM moved, so their packs still hold
        from sync.base_reports import patch_base_reports

        patch_base_reports(s, None, moved)
    return user


def change_role(s: Session, user: User, role: str, actor: str, actor_user_id: int | None = None) -> None:
    if role not in USER_ROLES:
        raise PeopleError(f"role must be one of {', '.join(USER_ROLES)}")
    if user.role == role:
        return
    if user.role == "admin" and role != "admin":
        admins = s.scalar(select(func.count()).select_from(User).where(User.role == "admin", User.active.is_(True)))
        if (admins or 0) <= 1:
            raise PeopleError("a workspace keeps at least one admin")
    audit(s, actor, "user.role", user.email, actor_user_id, before=user.role, after=role)
    user.role = role


def assign_csms(s: Session) -> int:
    """Map every account's owner e-mail to the active Canary user with that address (owner stays as it is).

    Returns how many accounts changed CSM. Accounts whose owner is no active user (not invited, or
    disabled: a CSM who left) get no CSM, so they show as unassigned.
    """
    return len(_reassign_csms(s))


def _reassign_csms(s: Session) -> list[int]:
    """`assign_csms`, returning the accounts that changed CSM."""
    users = dict(s.execute(select(User.email, User.id).where(User.active.is_(True))).all())
    changed: list[int] = []
    rows = s.execute(select(Account.id, Account.owner, Account.csm_user_id)).all()
    by_target: dict[int | None, list[int]] = {}
    for account_id, owner, current in rows:
        target = users.get((owner or "").strip().lower())
        if target != current:
            by_target.setdefault(target, []).append(account_id)
    for target, ids in by_target.items():
        for start in range(0, len(ids), 500):
            s.execute(update(Account).where(Account.id.in_(ids[start:start + 500])).values(csm_user_id=target),
                      execution_options=touches(()))  # the panels show the owner, not the CSM user
        changed += ids
    return changed


def link_vendor_user(s: Session, system: str, external_id: str, email: str | None,
                     matched_by: str = "email") -> VendorUserLink | None:
    """Record which Canary user a vendor user (Salesforce User, HubSpot owner, Zendesk agent) is.

    The one place vendor users are linked, for owner sync and vendor sign-in alike. An existing link
    for (system, external_id) is kept (a manual link is never replaced by an e-mail match); otherwise
    the vendor user's e-mail is matched to an active user of this workspace. Returns the link, or None
    when no Canary user has that address.
    """
    link = s.scalar(select(VendorUserLink).where(VendorUserLink.system == system,
                                                 VendorUserLink.external_id == external_id))
    if link is not None:
        return link
    address = (email or "").strip().lower()
    if not address:
        return None
    user = s.scalar(select(User).where(User.email == address, User.active.is_(True)))
    if user is None:
        return None
    link = VendorUserLink(user_id=user.id, system=system, external_id=external_id, email=address,
                          matched_by=matched_by)
    s.add(link)
    s.flush()
    return link


def team_ids(s: Session, manager_id: int) -> list[int]:
    """A manager and everyone reporting to them (one level, and their reports' reports)."""
    team = {manager_id}
    frontier = [manager_id]
    while frontier:
        frontier = [uid for uid in s.scalars(select(User.id).where(User.manager_id.in_(frontier)))
                    if uid not in team]
        team.update(frontier)
    return sorted(team)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_reset_token(s: Session, user: User, now: dt.datetime, minutes: int = RESET_MINUTES) -> str:
    """A single-use reset token for `user`; only its hash is stored. Earlier unused ones stop working."""
    s.execute(update(PasswordResetToken).where(PasswordResetToken.user_id == user.id,
                                               PasswordResetToken.used_at.is_(None)).values(used_at=now))
    token = secrets.token_urlsafe(32)
    s.add(PasswordResetToken(user_id=user.id, token_hash=_hash(token),
                             expires_at=now + dt.timedelta(minutes=minutes)))
    return token


def redeem_reset_token(s: Session, token: str, password: str, hasher: Passwords, now: dt.datetime) -> User:
    """Set a new password with a live token; the token is spent and every session of the user ends."""
    row = s.scalar(select(PasswordResetToken).where(PasswordResetToken.token_hash == _hash(token)))
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise PeopleError("this reset link has expired or was already used: ask for a new one")
    problem = password_problem(password)
    if problem:
        raise PeopleError(f"password refused: {problem}")
    user = s.get(User, row.user_id)
    if user is None or not user.active:
        raise PeopleError("this reset link has expired or was already used: ask for a new one")
    row.used_at = now
    user.password_hash = hasher.hash(password)
    user.session_epoch += 1
    audit(s, user.email, "user.password_reset", user.email, user.id)
    return user


def reset_tenant_of_token(s: Session, token: str) -> int | None:
    """The workspace a reset token belongs to (looked up outside any tenant, by hash only)."""
    return s.scalar(select(PasswordResetToken.tenant_id).where(PasswordResetToken.token_hash == _hash(token)))
