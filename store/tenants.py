"""Tenants and their usage-collector write keys (only a hash of each key is stored)."""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import Tenant

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


def hash_write_key(write_key: str) -> str:
    return hashlib.sha256(write_key.encode()).hexdigest()


def new_write_key() -> str:
    return "wk_" + secrets.token_urlsafe(24)


def create_tenant(session: Session, slug: str, name: str, write_key: str | None = None) -> tuple[Tenant, str]:
    """Create a tenant; returns it with its collector write key (shown once, stored hashed)."""
    if not _SLUG.match(slug):
        raise ValueError(f"tenant slug {slug!r} must be 2-63 lowercase letters, digits or dashes")
    if session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
        raise ValueError(f"tenant {slug!r} exists already")
    key = write_key or new_write_key()
    tenant = Tenant(slug=slug, name=name, write_key_hash=hash_write_key(key))
    session.add(tenant)
    session.flush()
    return tenant, key


def rotate_write_key(session: Session, tenant: Tenant, write_key: str | None = None) -> str:
    key = write_key or new_write_key()
    tenant.write_key_hash = hash_write_key(key)
    return key


def tenant_for_write_key(session: Session, write_key: str) -> Tenant | None:
    if not write_key:
        return None
    return session.scalar(select(Tenant).where(Tenant.write_key_hash == hash_write_key(write_key)))
