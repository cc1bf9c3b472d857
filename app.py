"""Canary's application factory and the `canary` command line.

Configuration is layered, lowest first: built-in defaults, the instance file
(``instance/canary.toml``, or the file named by ``CANARY_CONFIG``), the environment
(``CANARY_*`` with the prefix dropped, and ``DATABASE_URL``), then the ``config``
argument. Nothing is read at import time.
"""

from __future__ import annotations

import importlib
import logging
import os
import secrets
import tomllib
from pathlib import Path
from typing import Any

import click
from flask import Flask, jsonify
from flask.cli import FlaskGroup, with_appcontext

import extensions
from cli.logs import register_secret, setup_logging
from integrations.replay import LedgerReplayGuard
from store.crypto import CredentialCipher
from store.db import Store, redacted
from store.replay import UsedSignatures

log = logging.getLogger("canary")

DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": None,  # None: SQLite file instance/canary.db
    "SECRET_KEY": None,  # None: read or create instance/secret.key
    "LOG_LEVEL": "INFO",
    "PUBLIC_URL": "http://127.0.0.1:5000",
    "SERVE_HOST": "127.0.0.1",
    "SERVE_PORT": 5000,
    "SERVE_WORKERS": 2,
    "MAX_CONTENT_LENGTH": 1024 * 1024,  # bytes; larger request bodies answer 413 before they are read
    "COLLECTOR_MAX_BATCH_MESSAGES": 2500,  # messages per /v1/batch; more answers 413
    "COLLECTOR_REJECTIONS_LISTED": 100,  # rejections named per answer; rejectedCount counts them all
    "COLLECTOR_RATE_PER_SECOND": 50,  # collector requests per write key per process; 0 turns the limit off
    "COLLECTOR_RATE_BURST": 500,
    "HEALTH_MODEL": None,  # None: the shipped model; its `signals:` name the milestones and key features
    "COOKIE_SECURE": None,  # None: Secure when PUBLIC_URL is https; false only for a plain-http local demo
    "SESSION_IDLE_MINUTES": 30,  # a console session unused this long ends
    "SESSION_MAX_HOURS": 12,  # and none lives longer
    "SIGN_IN_MAX_FAILURES": 9,  # failed sign-ins per account and per address within the window; the next is refused
    "SIGN_IN_WINDOW_SECONDS": 60,
    "PASSWORD_HASH": {},  # argon2id parameters: time_cost, memory_kib, parallelism (defaults 3, 65536, 4)
    "SMTP_HOST": None,  # None: no mail; `canary user reset-link EMAIL` prints reset links
    "SMTP_PORT": 25,
    "SMTP_FROM": "canary@localhost",
    "SMTP_USERNAME": None,
    "SMTP_PASSWORD": None,
    "SMTP_STARTTLS": False,
    "SMTP_TIMEOUT": 30,  # seconds per SMTP command
    "SMTP_CA_FILE": None,  # a CA bundle for the SMTP server's STARTTLS certificate (None: the system's)
    "MAIL_MAX_ATTEMPTS": 8,  # an e-mail failing temporarily (4xx, no connection) this often is dead
    "MAIL_PERMANENT_ATTEMPTS": 3,  # 5xx replies to a transaction before it fails (a refused recipient: at once)
    "MAIL_BACKOFF_SECONDS": 60,  # the first retry's wait, doubling at each failure (capped at 6 hours)
    "MAIL_LEASE_SECONDS": 600,  # a claim older than this is reconciled (see mail/outbox.py)
    "CELERY_BROKER_URL": None,  # e.g. redis://127.0.0.1:6379/0; None: background work runs inline, in-process
    "CELERY_VISIBILITY_TIMEOUT": 3600,  # seconds before a job a dead worker held is handed to another worker
    "CELERY_TRANSPORT_OPTIONS": {},  # more Redis transport options, e.g. {"unacked_restore_interval": 10}
    "JOB_PARTITIONS": 1,  # >1: each kind's queue split by workspace id (`canary worker --partitions`)
    "JOB_LOCK_SECONDS": 120,  # a sync/push lock's lease, renewed while the job runs; a crashed worker's expires
    "REALTIME_USAGE": True,  # a collector batch rescores the accounts it brought usage for (a background job)
    "REALTIME_COALESCE_SECONDS": 2.0,  # a workspace's changes arriving this close together make one rescoring
    "SLACK_API_URL": "https://slack.com/api",  # Slack's Web API (chat.postMessage); tests point it at a local receiver
    "SLACK_WEBHOOK_HOSTS": [],  # hosts besides hooks.slack.com an incoming-webhook URL may name (a local receiver)
    "HUBSPOT_APP_ID": None,  # Canary's HubSpot app; with the developer key, installs register its webhooks
    "HUBSPOT_DEVELOPER_API_KEY": None,  # the app's developer account key (hapikey), for webhook subscriptions only
    "INAPP_RATE_PER_SECOND": 100,  # in-app API requests per workspace per process (snippets of every end user)
    "INAPP_RATE_BURST": 1000,
    "INAPP_PUSH_ALLOW_LOOPBACK": False,  # tests only: accept push endpoints on 127.0.0.1/localhost over http
}


def load_config(app: Flask, config: dict[str, Any] | None) -> None:
    app.config.from_mapping(DEFAULTS)
    config_file = os.environ.get("CANARY_CONFIG") or os.path.join(app.instance_path, "canary.toml")
    app.config.from_file(config_file, load=tomllib.load, text=False, silent=True)
    app.config.from_prefixed_env(prefix="CANARY")
    for name in ("DATABASE_URL", "CELERY_BROKER_URL"):
        if os.environ.get(name):
            app.config[name] = os.environ[name]
    if config:
        app.config.from_mapping(config)
    app.config.pop("CONFIG", None)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = "sqlite:///" + os.path.join(app.instance_path, "canary.db")
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _instance_secret_key(Path(app.instance_path))
    register_secret(app.config["SECRET_KEY"])
    if app.config.get("SMTP_PASSWORD"):
        register_secret(str(app.config["SMTP_PASSWORD"]))


def _instance_secret_key(instance: Path) -> str:
    """A per-installation key kept in ``instance/secret.key`` (0600), made on first start."""
    path = instance / "secret.key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    load_config(app, config)
    if not app.config.get("TESTING"):
        setup_logging(app.config["LOG_LEVEL"])

    store = Store(app.config["DATABASE_URL"])
    extensions.init_app(app, extensions.CanaryWiring(
        store=store, cipher=CredentialCipher(app.config["SECRET_KEY"]),
        replay_guard=LedgerReplayGuard(UsedSignatures(store))))  # in the database: shared by all workers

    import api
    import console
    from campaigns.web import tracking
    from collector.api import collector
    from inapp.web import inapp_web
    from mail.web import mail_pages
    from webhooks import webhooks
    from widgets import security
    from widgets.assets import widget_assets
    from widgets.embed import embed
    from widgets.install import install

    app.register_blueprint(embed)
    app.register_blueprint(widget_assets)
    console.init_app(app)
    api.init_app(app)
    app.register_blueprint(collector)
    app.register_blueprint(install)
    app.register_blueprint(webhooks)
    app.register_blueprint(mail_pages)
    from mail.consent import AFTER_SUPPRESS_KEY

    def _after_suppress(tenant_id: int) -> None:
        from jobs import submit

        submit(app, "consent", tenant_id)

    app.extensions[AFTER_SUPPRESS_KEY] = _after_suppress
    app.register_blueprint(tracking)
    app.register_blueprint(inapp_web)
    security.init_app(app)
    from widgets import fastpath

    fastpath.install(app)  # the Zendesk panel's repeat requests answered in front of Flask

    @app.get("/healthz")
    def healthz() -> Any:
        reachable = store.ping()
        body: dict[str, Any] = {"status": "ok" if reachable else "unavailable",
                                "database": "reachable" if reachable else "unreachable"}
        if reachable:
            from store.migrate import pending

            body["migrations"] = "pending" if pending(store.url) else "current"
        return jsonify(body), 200 if reachable else 503

    return app


# --- command line -----------------------------------------------------------------


LAZY_COMMANDS = {"sandbox": ("sandbox.cli", "sandbox_cli")}
"""Verbs whose code is loaded only when they run: the product never imports the emulators to start."""


class CanaryGroup(FlaskGroup):
    """The ``canary`` group: `LAZY_COMMANDS` are imported when asked for, not when the app is."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS:
            module, attribute = LAZY_COMMANDS[name]
            command: click.Command = getattr(importlib.import_module(module), attribute)
            return command
        return super().get_command(ctx, name)


@click.group(cls=CanaryGroup, create_app=create_app, add_default_commands=False,
             help="Canary: customer-success health inside Salesforce, Zendesk and HubSpot.")
def cli() -> None:
    pass


@cli.group("db", help="Create and migrate the database.")
def db_group() -> None:
    pass


@db_group.command("upgrade", help="Apply migrations up to REVISION (default: the newest).")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade(revision: str) -> None:
    from flask import current_app

    from store.migrate import MigrationRefused, current_revision, upgrade

    url = current_app.config["DATABASE_URL"]
    click.echo(f"Migrating {redacted(url)} to {revision} ...")
    try:
        upgrade(url, revision)
    except MigrationRefused as exc:
        raise click.ClickException(f"{exc} (the database stays at revision {current_revision(url)})") from None
    click.echo(f"Database at revision {current_revision(url)}.")


@db_group.command("downgrade", help="Revert migrations down to REVISION ('base' empties the database).")
@click.argument("revision")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def db_downgrade(revision: str, yes: bool) -> None:
    from flask import current_app

    from store.migrate import current_revision, downgrade

    url = current_app.config["DATABASE_URL"]
    if not yes:
        click.confirm(f"Downgrade {redacted(url)} to {revision}? Data in dropped tables is lost", abort=True)
    downgrade(url, revision)
    click.echo(f"Database at revision {current_revision(url) or 'base'}.")


@db_group.command("current", help="Show the database's migration revision.")
@with_appcontext
def db_current() -> None:
    from flask import current_app

    from store.migrate import current_revision, head_revision

    url = current_app.config["DATABASE_URL"]
    rev = current_revision(url)
    click.echo(f"{redacted(url)}: {rev or 'empty (run: canary db upgrade)'} (newest: {head_revision()})")


@cli.command("serve", help="Serve the console, widgets and APIs with gunicorn.")
@click.option("--host", default=None, help="Interface to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 5000).")
@click.option("--workers", type=int, default=None, help="Worker processes (default 2).")
@with_appcontext
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    from flask import current_app

    from cli.serve import serve_app
    from store.migrate import pending

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if pending(app.config["DATABASE_URL"]):
        raise click.ClickException("the database is not migrated yet: run `canary db upgrade` first")
    serve_app(
        app,
        host=host or app.config["SERVE_HOST"],
        port=port or int(app.config["SERVE_PORT"]),
        workers=workers or int(app.config["SERVE_WORKERS"]),
    )


def _register_commands() -> None:
    from cli.bi import bi_cli, revenue_cli
    from cli.campaigns import campaigns_cli
    from cli.connect import connect
    from cli.demo import demo
    from cli.jobs import beat, worker
    from cli.mail import mail_cli
    from cli.notify import notify_cli
    from cli.pipeline import score
    from cli.plays import plays_cli
    from cli.sync_verbs import push_command, sync_command
    from cli.tenants import tenant_cli
    from cli.users import token_cli, user_cli
    from marketplace.cli import manifests_cli

    for command in (tenant_cli, connect, sync_command, score, push_command, demo, manifests_cli, user_cli, token_cli,
                    plays_cli, worker, beat, bi_cli, revenue_cli, mail_cli, campaigns_cli,
                    notify_cli):
        cli.add_command(command)


_register_commands()


def main() -> None:
    cli(prog_name="canary")


if __name__ == "__main__":
    main()
