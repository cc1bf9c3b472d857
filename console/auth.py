"""Authentication in one place: passwords, sign-in rate limits, sessions, CSRF, API tokens, roles.

- **Passwords** are argon2id hashes (`PasswordHasher` of argon2-cffi, parameters from config).
- **Rate limits**: a failed sign-in is recorded under the account's e-mail and under the client
  address (hashed keys, `SignInFailure`); when either already holds `SIGN_IN_MAX_FAILURES` (9)
  failures within `SIGN_IN_WINDOW_SECONDS` (60), the attempt is refused *before* the password is
  looked at, so a guesser cannot even spend our CPU. Kept in the database: every worker agrees.
- **Sessions** are Flask's signed cookies (`HttpOnly`, `SameSite=Lax`, `Secure` unless configured
  off, on by default when ``PUBLIC_URL`` is https). Signing in clears the old session and starts a
  new one with a fresh session id and CSRF token (rotation); a session unused for
  `SESSION_IDLE_MINUTES` ends; the user's `session_epoch` ends every session at once (password
  change, reset, disabling).
- **CSRF**: every state-changing console request must carry the session's token (form field
  ``csrf_token`` or header ``X-CSRF-Token``), compared in constant time.
- **API tokens** are random, shown once, stored as SHA-256; the API reads only the bearer header.

Sign-in providers sit side by side behind `SignInProvider`: e-mail + password (`PasswordSignIn`) and
the vendors' OAuth / OpenID Connect (`console.vendor_sign_in.VendorSignIn`, which maps the vendor user
to a `User` through `VendorUserLink`). Every successful sign-in goes through `record_sign_in`
(``last_sign_in_at`` and a ``sign_in`` audit event naming the method) and then `start_session`.
A failed vendor sign-in counts against the client address only: the e-mail a vendor sends is not
proof of the account, so it must not lock anyone's password sign-in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import Flask, current_app, session
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from extensions import canary_store
from store.audit import record_audit
from store.db import Store
from store.models import ApiToken, SignInFailure, Tenant, User

ROLE_RANK = {"viewer": 0, "csm": 1, "manager": 2, "admin": 3}
MIN_PASSWORD_LENGTH = 12
DUMMY_HASH_PASSWORD = "canary-timing-equaliser"  # noqa: S105 - not a credential: hashed once to equalise timing


@dataclass(frozen=True)
class SignedIn:
    """Who is making this request: the user, their workspace and role (plain values, no ORM row)."""

    user_id: int
    tenant_id: int
    tenant_name: str
    email: str
    name: str | None
    role: str

    @property
    def can_change(self) -> bool:
        return self.role != "viewer"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def label(self) -> str:
        return self.name or self.email


# --- passwords ---------------------------------------------------------------------------------


class Passwords:
    """argon2id hashing; `verify` is the one place a password is checked (tests count its calls)."""

    def __init__(self, time_cost: int = 3, memory_kib: int = 65536, parallelism: int = 4) -> None:
        self.hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        if not stored:
            # Same work as for a real user, so timing does not tell which addresses exist.
            self._dummy = self._dummy or self.hasher.hash(DUMMY_HASH_PASSWORD)
            stored = self._dummy
            password = password + "\x00unknown"
        try:
            return self.hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self.hasher.check_needs_rehash(stored)


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"use at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > 512:
        return "use at most 512 characters"
    return None


@dataclass(frozen=True)
class SignInWiring:
    """What `init_app` sets up for signing in, read back through `passwords` and `sign_in_limiter`."""

    passwords: Passwords
    limiter: SignInLimiter


_SIGN_IN = "canary.sign_in"


def _sign_in(app: Flask | None = None) -> SignInWiring:
    found = (app if app is not None else current_app).extensions.get(_SIGN_IN)
    if not isinstance(found, SignInWiring):
        raise RuntimeError("the console is not set up: create the app with app.create_app")
    return found


def passwords(app: Flask | None = None) -> Passwords:
    return _sign_in(app).passwords


def sign_in_limiter(app: Flask | None = None) -> SignInLimiter:
    return _sign_in(app).limiter


# --- rate limits -------------------------------------------------------------------------------


def _key(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


class SignInLimiter:
    """Failed sign-ins per account and per address within a sliding window, in the database."""

    def __init__(self, store: Store, max_failures: int = 9, window_seconds: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.max_failures, self.window, self.clock = store, max_failures, window_seconds, clock

    def keys(self, email: str, address: str) -> list[str]:
        """The account's key (when an e-mail is given) and the address's key."""
        account = email.strip().lower()
        return ([_key("account", account)] if account else []) + [_key("address", address)]

    def blocked(self, email: str, address: str) -> bool:
        since = self.clock() - self.window
        with self.store.session() as s:
            for key in self.keys(email, address):
                count = s.scalar(select(func.count()).select_from(SignInFailure).where(
                    SignInFailure.key_hash == key, SignInFailure.at > since)) or 0
                if count >= self.max_failures:
                    return True
        return False

    def failed(self, email: str, address: str) -> None:
        now = self.clock()
        with self.store.session() as s:
            s.execute(delete(SignInFailure).where(SignInFailure.at < now - max(self.window, 3600)))
            s.add_all(SignInFailure(key_hash=key, at=now) for key in self.keys(email, address))


# --- sign-in providers -------------------------------------------------------------------------


class SignInRefused(Exception):
    """Sign-in did not succeed; the message is safe to show (it never says which part was wrong)."""


class SignInProvider(Protocol):
    name: str

    def authenticate(self, credentials: dict[str, str], address: str) -> SignedIn: ...


class PasswordSignIn:
    """E-mail + password. The optional workspace slug chooses among workspaces sharing an address."""

    name = "password"

    def __init__(self, store: Store, hasher: Passwords, limiter: SignInLimiter) -> None:
        self.store, self.hasher, self.limiter = store, hasher, limiter

    def authenticate(self, credentials: dict[str, str], address: str) -> SignedIn:
        email = credentials.get("email", "").strip().lower()
        password = credentials.get("password", "")
        slug = credentials.get("workspace", "").strip()
        if not email or not password:
            raise SignInRefused("enter your e-mail address and password")
        if self.limiter.blocked(email, address):
            raise SignInRefused("too many failed sign-ins: wait a minute, then try again")
        with self.store.session() as s:
            query = select(User, Tenant).join(Tenant, Tenant.id == User.tenant_id).where(
                User.email == email, User.active.is_(True))
            if slug:
                query = query.where(Tenant.slug == slug)
            rows = s.execute(query).all()
            user, tenant = rows[0] if len(rows) == 1 else (None, None)
            ok = self.hasher.verify(user.password_hash if user else None, password)
            if not ok or user is None or tenant is None:
                self.limiter.failed(email, address)
                if len(rows) > 1:
                    raise SignInRefused("this address is in several workspaces: name the workspace too")
                raise SignInRefused("the e-mail address or password is not right")
            if user.password_hash and self.hasher.needs_rehash(user.password_hash):
                user.password_hash = self.hasher.hash(password)
            return record_sign_in(s, user, tenant, self.name)


def record_sign_in(s: Session, user: User, tenant: Tenant, method: str,
                   now: dt.datetime | None = None) -> SignedIn:
    """What every successful sign-in leaves behind: ``last_sign_in_at`` and a ``sign_in`` audit event with
    the method (``password``, ``salesforce``, ``hubspot``, ``zendesk``)."""
    user.last_sign_in_at = now or dt.datetime.now(dt.UTC)
    record_audit(s, user.email, "sign_in", user.email, user.id, tenant_id=tenant.id, method=method)
    return SignedIn(user.id, tenant.id, tenant.name, user.email, user.name, user.role)


# --- sessions ----------------------------------------------------------------------------------


def start_session(who: SignedIn, epoch: int, now: float | None = None) -> None:
    """Rotate: forget everything of the old session, then a new id and CSRF token."""
    session.clear()
    session.permanent = True
    session["uid"], session["tid"], session["epoch"] = who.user_id, who.tenant_id, epoch
    session["sid"] = secrets.token_urlsafe(16)
    session["csrf"] = secrets.token_urlsafe(32)
    session["seen"] = int(now if now is not None else time.time())


def end_session() -> None:
    session.clear()


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def csrf_ok(sent: str | None) -> bool:
    expected = session.get("csrf")
    return bool(expected and sent and hmac.compare_digest(str(expected), sent))


def load_signed_in(store: Store, idle_seconds: float, now: float | None = None) -> SignedIn | None:
    """The session's user if the session is live: not idle too long, user active, epoch current."""
    uid, tid = session.get("uid"), session.get("tid")
    if uid is None or tid is None:
        return None
    now = now if now is not None else time.time()
    if now - float(session.get("seen", 0)) > idle_seconds:
        end_session()
        return None
    with store.session(int(tid)) as s:
        row = s.execute(select(User, Tenant.name).join(Tenant, Tenant.id == User.tenant_id)
                        .where(User.id == int(uid))).first()
        if row is None or not row[0].active or row[0].session_epoch != session.get("epoch"):
            end_session()
            return None
        user, tenant_name = row
        who = SignedIn(user.id, user.tenant_id, tenant_name, user.email, user.name, user.role)
    if now - float(session.get("seen", 0)) > 60:
        session["seen"] = int(now)  # refresh at most once a minute: fewer cookie rewrites
    return who


# --- API tokens --------------------------------------------------------------------------------

TOKEN_PREFIX = "cny_"  # noqa: S105 - the visible prefix of every token, not a secret


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_api_token(s: Session, user: User, name: str) -> tuple[ApiToken, str]:
    """A new token for `user`; the plain token is returned once and never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(tenant_id=user.tenant_id, user_id=user.id, name=name, token_hash=token_hash(token),
                   prefix=token[:10])
    s.add(row)
    s.flush()
    return row, token


def signed_in_by_token(store: Store, token: str) -> SignedIn | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    with store.session() as s:
        row = s.execute(select(ApiToken, User, Tenant.name).join(User, User.id == ApiToken.user_id)
                        .join(Tenant, Tenant.id == User.tenant_id)
                        .where(ApiToken.token_hash == token_hash(token), ApiToken.revoked_at.is_(None))).first()
        if row is None or not row[1].active:
            return None
        api_token, user, tenant_name = row
        now = dt.datetime.now(dt.UTC)
        if api_token.last_used_at is None or (now - api_token.last_used_at).total_seconds() > 60:
            api_token.last_used_at = now
        return SignedIn(user.id, user.tenant_id, tenant_name, user.email, user.name, user.role)


# --- wiring ------------------------------------------------------------------------------------


def configure(app: Flask) -> None:
    """Cookie flags and the password hasher, from config (see README, Configuration)."""
    cfg = app.config
    secure = cfg.get("COOKIE_SECURE")
    if secure is None:
        secure = str(cfg.get("PUBLIC_URL", "")).startswith("https://")
    cfg["SESSION_COOKIE_SECURE"] = bool(secure)
    cfg["SESSION_COOKIE_HTTPONLY"] = True
    cfg["SESSION_COOKIE_SAMESITE"] = "Lax"
    cfg["SESSION_COOKIE_NAME"] = "canary_session"
    cfg["PERMANENT_SESSION_LIFETIME"] = dt.timedelta(hours=float(cfg.get("SESSION_MAX_HOURS", 12)))
    argon: dict[str, Any] = dict(cfg.get("PASSWORD_HASH") or {})
    hasher = Passwords(time_cost=int(argon.get("time_cost", 3)), memory_kib=int(argon.get("memory_kib", 65536)),
                       parallelism=int(argon.get("parallelism", 4)))
    limiter = SignInLimiter(canary_store(app), int(cfg.get("SIGN_IN_MAX_FAILURES", 9)),
                            float(cfg.get("SIGN_IN_WINDOW_SECONDS", 60)))
    app.extensions[_SIGN_IN] = SignInWiring(hasher, limiter)
