"""`canary user …` and `canary token …`: the team's users, reset links and API tokens.

Every change is written to the workspace's audit log as done from the command line.
"""

from __future__ import annotations

import datetime as dt
import secrets
import sys

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from cli.pipeline import app_store, resolve_tenant
from console.auth import Passwords, issue_api_token, passwords
from console.people import PeopleError, add_user, audit, find_user, issue_reset_token
from store.audit import COMMAND_LINE
from store.models import USER_ROLES, ApiToken, User


def _hasher() -> Passwords:
    return passwords()


def reset_link(token: str) -> str:
    return str(current_app.config["PUBLIC_URL"]).rstrip("/") + f"/reset/new?token={token}"


@click.group("user", help="Users of a workspace: add them, list them, give them a password-reset link.")
def user_cli() -> None:
    pass


@user_cli.command("add", help="Add a user with a role (admin, manager, csm, viewer).")
@click.argument("email")
@click.option("--role", type=click.Choice(USER_ROLES), required=True)
@click.option("--name", default=None, help="Full name as the console shows it.")
@click.option("--manager", "manager_email", default=None, help="E-mail of the manager this user reports to.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (else: a reset link).")
@click.option("--tenant", "tenant_slug", help="Workspace slug (default: the only one).")
@with_appcontext
def user_add(email: str, role: str, name: str | None, manager_email: str | None, password_stdin: bool,
             tenant_slug: str | None) -> None:
    store = app_store()
    tenant = resolve_tenant(store, tenant_slug)
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    try:
        with store.session(tenant.id) as s:
            manager = find_user(s, manager_email) if manager_email else None
            if manager_email and manager is None:
                raise PeopleError(f"no user {manager_email} in {tenant.slug}")
            user = add_user(s, email, role, name=name, manager=manager, password=password, hasher=_hasher())
            token = None if password else issue_reset_token(s, user, dt.datetime.now(dt.UTC), minutes=24 * 60)
    except PeopleError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Added {user.email} ({role}) to {tenant.slug}.")
    if token:
        click.echo(f"They set their password with this link (once, within 24 hours): {reset_link(token)}")


@user_cli.command("list", help="List the workspace's users.")
@click.option("--tenant", "tenant_slug", help="Workspace slug (default: the only one).")
@with_appcontext
def user_list(tenant_slug: str | None) -> None:
    store = app_store()
    tenant = resolve_tenant(store, tenant_slug)
    with store.session(tenant.id) as s:
        for u in s.scalars(select(User).order_by(User.role, User.email)):
            click.echo(f"{u.id:>5}  {u.role:8} {u.email}{'' if u.active else '  (disabled)'}")


@user_cli.command("reset-link", help="Print a one-time password-reset link for a user (when no SMTP is set up).")
@click.argument("email")
@click.option("--tenant", "tenant_slug", help="Workspace slug (default: the only one).")
@click.option("--minutes", default=60, show_default=True, type=click.IntRange(5, 7 * 24 * 60))
@with_appcontext
def user_reset_link(email: str, tenant_slug: str | None, minutes: int) -> None:
    store = app_store()
    tenant = resolve_tenant(store, tenant_slug)
    try:
        with store.session(tenant.id) as s:
            user = find_user(s, email)
            if user is None:
                raise PeopleError(f"no user {email} in {tenant.slug}")
            token = issue_reset_token(s, user, dt.datetime.now(dt.UTC), minutes=minutes)
            audit(s, COMMAND_LINE, "user.reset_link", user.email, channel="printed")
    except PeopleError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Reset link for {user.email} (works once, within {minutes} minutes):")
    click.echo(reset_link(token))


@click.group("token", help="Per-user REST API tokens: create (shown once), list, revoke.")
def token_cli() -> None:
    pass


@token_cli.command("create", help="Make an API token for a user; it is shown once and stored hashed.")
@click.option("--user", "email", required=True, help="The user's e-mail; the token has that user's role.")
@click.option("--name", default="api", show_default=True, help="What the token is for.")
@click.option("--tenant", "tenant_slug", help="Workspace slug (default: the only one).")
@with_appcontext
def token_create(email: str, name: str, tenant_slug: str | None) -> None:
    store = app_store()
    tenant = resolve_tenant(store, tenant_slug)
    with store.session(tenant.id) as s:
        user = find_user(s, email)
        if user is None:
            raise click.ClickException(f"no user {email} in {tenant.slug}: add them with `canary user add`")
        row, token = issue_api_token(s, user, name[:100])
        audit(s, COMMAND_LINE, "token.create", user.email, token_id=row.id, name=row.name)
        token_id = row.id
    click.echo(f"Token {token_id} for {email} ({user.role}); copy it now, it is not shown again:")
    click.echo(token)


@token_cli.command("list", help="List tokens (their ids and first characters, never the tokens).")
@click.option("--tenant", "tenant_slug", help="Workspace slug (default: the only one).")
@with_appcontext
def token_list(tenant_slug: str | None) -> None:
    store = app_store()
    tenant = resolve_tenant(store, tenant_slug)
    with store.session(tenant.id) as s:
        for t, email in s.execute(select(ApiToken, User.email).join(User, User.id == ApiToken.user_id)
                                  .order_by(ApiToken.id)):
            state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
            click.echo(f"{t.id:>5}  {t.prefix}…  {email}  {t.name}  {state}")


@token_cli.command("revoke", help="Revoke a token by its id (see `canary token list`).")
@click.argument("token_id", type=int)
@click.option("--tenant", "tenant_slug", help="Workspace slug (default: the only one).")
@with_appcontext
def token_revoke(token_id: int, tenant_slug: str | None) -> None:
    store = app_store()
    tenant = resolve_tenant(store, tenant_slug)
    with store.session(tenant.id) as s:
        row = s.get(ApiToken, token_id)
        if row is None:
            raise click.ClickException(f"no token {token_id} in {tenant.slug}")
        if row.revoked_at is None:
            row.revoked_at = dt.datetime.now(dt.UTC)
            audit(s, COMMAND_LINE, "token.revoke", f"token {row.id}", name=row.name)
    click.echo(f"Token {token_id} revoked.")


def demo_password() -> str:
    """A fresh random password for a demo user (printed once by `canary demo`)."""
    return "-".join(secrets.token_urlsafe(4) for _ in range(4))
