"""`canary demo`: the whole pipeline on the embedded sandbox, from a fresh demo workspace.

Starts the three emulators in-process with a deterministic synthetic world, connects them,
sends the product-usage stream through ``POST /v1/batch``, syncs, scores, pushes, prints a
human summary and one line of JSON, then (unless ``--no-serve``) serves the console and widgets.
The same seed gives the same result on every run.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from cli.pipeline import note_model
from cli.progress import progress
from extensions import canary_store, credential_cipher
from scoring import default_model
from store.db import Store
from store.models import Account, SourceLink, Task, Tenant
from store.queries import live_accounts
from store.tenants import create_tenant
from sync.connections import build_adapter, save_connection
from sync.subscriptions import app_settings, subscribe

DEMO_SLUG = "demo"
log = logging.getLogger("canary.demo")


@dataclass
class DemoResult:
    tenant_id: int
    accounts: int = 0
    linked_accounts: int = 0
    bands: dict[str, int] = field(default_factory=dict)
    alerts_raised: int = 0
    alerts_by_rule: dict[str, int] = field(default_factory=dict)
    api_calls: dict[str, dict[str, int]] = field(default_factory=dict)
    pushed_records: dict[str, int] = field(default_factory=dict)
    usage_events: int = 0
    usage_rejected: int = 0
    as_of: str = ""
    history_days: int = 0
    sign_ins: list[tuple[str, str, str]] = field(default_factory=list)
    """(role, e-mail, password) of the demo users, printed once."""
    tasks_created: int = 0
    """Canary tasks made by this run (one per raised alert)."""
    tasks_pushed: dict[str, int] = field(default_factory=dict)
    """Per CRM that keeps tasks: the tasks created there."""
    tasks_by_source: dict[str, int] = field(default_factory=dict)
    """Canary tasks by what made them (alert, play)."""
    plays_started: dict[str, int] = field(default_factory=dict)
    """Per play (the ready-made ones, published in the demo workspace): runs started."""
    mail: dict[str, Any] = field(default_factory=dict)
    """The send job's answer, run inline: e-mails sent, retried... or why nothing was sent."""
    notifications: dict[str, Any] = field(default_factory=dict)
    """The notification round's answer, run inline: events found, deliveries stored, e-mails queued."""

    def as_json(self) -> dict[str, Any]:
        return {"accounts": self.accounts, "linked_accounts": self.linked_accounts, "bands": self.bands,
                "alerts_raised": self.alerts_raised, "alerts_by_rule": self.alerts_by_rule,
                "api_calls": self.api_calls, "pushed_records": self.pushed_records,
                "usage_events": self.usage_events, "as_of": self.as_of, "history_days": self.history_days,
                "users": len(self.sign_ins),
                "tasks": {"created": self.tasks_created, "pushed": self.tasks_pushed,
                          "by_source": self.tasks_by_source},
                "plays": {"runs_started": self.plays_started}, "mail": self.mail,
                "notifications": self.notifications}


SANDBOX_OPTIONS: dict[str, dict[str, Any]] = {"zendesk": {"poll_interval": 0.05},
                                               "salesforce": {"bulk_poll_interval": 0.05}}
"""The emulators finish jobs at once: no need to wait a vendor's polling interval."""


def sandbox_connections(box: Any) -> dict[str, tuple[dict[str, Any], str | None, str]]:
    """Per system: the credentials to store, the base URL (None for Salesforce: the instance URL is
    in the credentials) and the vendor account ref, for a started `sandbox.server.Sandbox`. The user the
    credentials act as is stored too, as ``canary connect`` stores it (`sync.connections.with_connected_user`)."""
    c = box.credentials
    return {
        "salesforce": ({"instance_url": c["salesforce"]["instance_url"], "access_token": c["salesforce"]["session_id"],
                        "cert_path": c["salesforce"]["cert_path"],
                        "integration_user_id": c["salesforce"]["integration_user_id"]},
                       None, box.oauth["salesforce"].account),
        "zendesk": ({"subdomain": c["zendesk"]["subdomain"], "email": c["zendesk"]["email"],
                     "token": c["zendesk"]["token"], "api_user_id": c["zendesk"]["api_user_id"]},
                    c["zendesk"]["base_url"], c["zendesk"]["subdomain"]),
        "hubspot": ({"access_token": c["hubspot"]["access_token"]}, c["hubspot"]["base_url"],
                    str(c["hubspot"].get("portal_id", ""))),
    }


def sandbox_app_config(config: Any, box: Any) -> dict[str, Any]:
    """The app-wide webhook settings, with the sandbox HubSpot app's id and developer key when none are set."""
    out = app_settings(config)
    hubspot = getattr(box, "emulators", {}).get("hubspot")
    if hubspot is not None and not out.get("HUBSPOT_APP_ID"):
        out.update(HUBSPOT_APP_ID=str(hubspot.app_id), HUBSPOT_DEVELOPER_API_KEY=hubspot.developer_api_key)
    return out


def enable_vendor_sign_in(app: Flask, box: Any) -> list[str]:
    """Point the app's OAuth clients at the sandbox (installs and "Sign in with ..."), and have each
    vendor's sign-in page ask which of its users you are (the demo CSMs among them). Returns the labels."""
    from integrations.registry import vendor
    from sandbox.oauth import install_config

    app.config.update(install_config(box, app.config["PUBLIC_URL"]))
    for server in box.oauth.values():
        server.login_page = True
    return [vendor(name).label for name in box.oauth]


def fresh_demo_tenant(store: Store, write_key: str) -> int:
    with store.session() as session:
        old = session.scalar(select(Tenant).where(Tenant.slug == DEMO_SLUG))
        if old is not None:
            session.delete(old)
            session.flush()
        tenant, _ = create_tenant(session, DEMO_SLUG, "Canary demo", write_key=write_key)
        return tenant.id


DEMO_ADMIN = "admin@canary.example"
DEMO_VIEWER = "viewer@canary.example"


def _name(email: str) -> str:
    return " ".join(part.capitalize() for part in email.split("@")[0].split("."))


def create_demo_users(app: Flask, tenant_id: int, team: Any) -> list[tuple[str, str, str]]:
    """The sandbox's customer-success team as users — its managers, and its CSMs on their managers'
    teams — plus an admin and a viewer, each with a fresh random password. A team member who left
    the company gets no user: their accounts show as unassigned until someone takes them over.

    Made before the first sync, as a workspace invites its team: sync then links each vendor user
    who owns accounts to the user with the same e-mail and sets the accounts' CSMs (`sync.owners`)."""
    from cli.users import demo_password
    from console.auth import passwords
    from console.people import add_user

    store = canary_store(app)
    hasher = passwords(app)
    made: list[tuple[str, str, str]] = []
    with store.session(tenant_id) as session:
        def add(email: str, role: str, name: str | None = None, manager: Any = None) -> Any:
            password = demo_password()
            user = add_user(session, email, role, name=name or _name(email), manager=manager, password=password,
                            hasher=hasher, actor="canary demo")
            made.append((role, email, password))
            return user

        add(DEMO_ADMIN, "admin")
        managers = {m.email: add(m.email, "manager", m.name) for m in team if m.role == "manager" and m.active}
        for member in team:
            if member.role == "csm" and member.active:
                add(member.email, "csm", member.name, managers.get(member.manager_email or ""))
        add(DEMO_VIEWER, "viewer")
    return made


def send_usage(app: Flask, world: Any, write_key: str) -> tuple[int, int]:
    from sandbox.usage import iter_usage_batches

    client = app.test_client()
    auth = {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode(),
            "Content-Type": "application/json"}
    accepted = rejected = 0
    with progress("Sending product usage to POST /v1/batch") as bar:
        for batch in iter_usage_batches(world):
            data = json.dumps(batch)
            response = client.post("/v1/batch", data=data, headers=auth)
            while response.status_code == 429:  # the per-key rate limit: wait as told, as a Segment library does
                time.sleep(float(response.headers.get("Retry-After", "1")))
                response = client.post("/v1/batch", data=data, headers=auth)
            body = response.get_json(silent=True) or {}
            if response.status_code not in (200, 400):
                raise click.ClickException(f"the collector answered {response.status_code}: {body}")
            accepted += int(body.get("accepted", 0))
            rejected += int(body.get("rejectedCount", len(body.get("rejected", []))))
            bar.advance(len(batch["batch"]))
    return accepted, rejected


def run_demo(app: Flask, *, accounts: int, seed: int, faults: float = 0.0, sandbox: Any = None) -> DemoResult:
    """Run the pipeline against a started `sandbox.server.Sandbox`."""
    from jobs.work import campaigns_job, notify_job, send_job
    from sync.health import HISTORY_DAYS, first_score
    from sync.lists import evaluate_lists
    from sync.push import push
    from sync.runner import sync

    store = canary_store(app)
    world = sandbox.world
    tenant_id = fresh_demo_tenant(store, world.write_key)
    result = DemoResult(tenant_id=tenant_id, as_of=world.as_of.isoformat())
    cipher = credential_cipher(app)
    adapters: dict[str, Any] = {}
    with store.session(tenant_id) as session:
        for system, (stored, base_url, ref) in sandbox_connections(sandbox).items():
            save_connection(session, cipher, system, stored, base_url=base_url, account_ref=ref,
                            actor="canary demo")
            adapters[system] = build_adapter(system, stored, base_url, **SANDBOX_OPTIONS.get(system, {}))
    for system, adapter in adapters.items():  # registered as any install registers them (`sync.subscriptions`)
        subscribe(store, cipher, tenant_id, system, adapter, public_url=app.config.get("PUBLIC_URL"),
                  app_config=sandbox_app_config(app.config, sandbox), actor="canary demo",
                  account_ref=sandbox_connections(sandbox)[system][2])

    realtime, app.config["REALTIME_USAGE"] = app.config.get("REALTIME_USAGE"), False  # the first pass scores all
    try:
        result.usage_events, result.usage_rejected = send_usage(app, world, world.write_key)
    finally:
        app.config["REALTIME_USAGE"] = realtime
    result.sign_ins = create_demo_users(app, tenant_id, world.team)

    with progress("Pulling from Salesforce, Zendesk and HubSpot") as bar:
        summary = sync(store, tenant_id, adapters, progress=lambda _s, _o, n: bar.advance(n))
    pull_calls = {system: a.calls for system, a in adapters.items()}
    for system, s in summary.systems.items():
        if s.stopped:
            click.echo(f"  {system} sync stopped: {s.stopped}", err=True)

    with store.session(tenant_id) as session:
        total = session.scalar(select(func.count()).select_from(Account)) or 0
    with progress(f"Scoring health, with {HISTORY_DAYS} days of history", total=total) as bar:
        note_model(store, tenant_id, default_model(), None, actor="canary demo")
        scored = first_score(store, tenant_id, default_model(), world.as_of, progress=bar.advance)
    evaluate_lists(store, tenant_id, world.as_of)  # the portfolio lists, as after every score run
    result.plays_started = start_demo_plays(app, store, tenant_id, world.as_of)
    campaigns_job(app, tenant_id)  # active campaigns, inline (none in a fresh demo; the job runs them by schedule)
    result.notifications = notify_job(app, tenant_id)  # alerts to the team: bell, digest lines, e-mail, Slack
    result.mail = send_job(app, tenant_id)  # the outbox, inline (a `canary worker` runs it with a broker)
    result.history_days = scored.days

    push_calls: dict[str, int] = {}
    for system, adapter in adapters.items():
        pushed = push(store, tenant_id, system, adapter)
        push_calls[system] = pushed.calls + (pushed.tasks.calls if pushed.tasks else 0)
        result.pushed_records[system] = pushed.pushed
        if pushed.tasks is not None:
            result.tasks_pushed[system] = pushed.tasks.created
            if pushed.tasks.stopped:
                click.echo(f"  {system} task push stopped: {pushed.tasks.stopped}", err=True)
        if pushed.stopped:
            click.echo(f"  {system} push stopped: {pushed.stopped}", err=True)

    with store.session(tenant_id) as session:
        result.accounts = session.scalar(select(func.count()).select_from(Account).where(
            live_accounts())) or 0
        per_account = session.execute(
            select(SourceLink.account_id, func.count(func.distinct(SourceLink.system)))
            .where(SourceLink.system != "product", SourceLink.account_id.is_not(None))
            .group_by(SourceLink.account_id)).all()
        result.linked_accounts = sum(1 for _, n in per_account if n >= 2)
        result.tasks_created = session.scalar(select(func.count()).select_from(Task)) or 0
        result.tasks_by_source = {source: n for source, n in session.execute(
            select(Task.source, func.count()).group_by(Task.source).order_by(Task.source))}
    result.bands = {b: scored.bands.get(b, 0) for b in ("good", "average", "poor")}
    result.alerts_raised = scored.alerts_raised
    result.alerts_by_rule = dict(Counter(scored.alerts_by_rule))
    result.api_calls = {system: {"pull": pull_calls[system], "push": push_calls[system]} for system in adapters}
    return result


def start_demo_plays(app: Flask, store: Any, tenant_id: int, as_of: dt.date) -> dict[str, int]:
    """Publish every ready-made play in the demo workspace and run them once, as a team would on day one."""
    from console.mail import play_effects
    from plays import templates
    from sync.plays import create_from_template, evaluate_plays, publish

    with store.session(tenant_id) as session:
        for t in templates():
            assert t.key is not None
            publish(session, create_from_template(session, t.key, "canary demo"), "canary demo", None, as_of)
    summary = evaluate_plays(store, tenant_id, as_of, effects=play_effects(app.config))
    for problem in summary.problems:
        click.echo(f"  play not run: {problem}", err=True)
    return {t.name: summary.started.get(t.name, 0) for t in templates()}


def print_summary(result: DemoResult) -> None:
    click.echo("")
    click.echo(f"Canary demo — {result.accounts} customer accounts as of {result.as_of}")
    click.echo(f"  {result.linked_accounts} accounts linked across two or three systems")
    click.echo(f"  {result.usage_events} product events collected"
               + (f" ({result.usage_rejected} rejected)" if result.usage_rejected else ""))
    b = result.bands
    click.echo(f"  health: {b.get('good', 0)} good, {b.get('average', 0)} average, {b.get('poor', 0)} poor")
    click.echo(f"  {result.alerts_raised} early-warning alerts raised: "
               + ", ".join(f"{k} {v}" for k, v in sorted(result.alerts_by_rule.items())))
    for system, calls in result.api_calls.items():
        tasks = f" and {result.tasks_pushed[system]} tasks" if system in result.tasks_pushed else ""
        click.echo(f"  {system:10} {calls['pull']} API calls to pull, {calls['push']} to write back "
                   f"{result.pushed_records.get(system, 0)} health records{tasks}")
    click.echo(f"  {result.tasks_created} tasks for the CSMs, in the CRMs too: "
               + (", ".join(f"{n} in {system}" for system, n in sorted(result.tasks_pushed.items())) or "none"))
    click.echo(f"  {sum(result.plays_started.values())} play runs started: "
               + ", ".join(f"{name} {n}" for name, n in result.plays_started.items() if n))
    click.echo(f"  {result.history_days} days of health history scored (trends and history charts from day one)")
    mail = result.mail
    click.echo("  e-mail outbox: " + (f"not sent, {mail['skipped']} (Settings → E-mail, or CANARY_SMTP_HOST)"
                                      if "skipped" in mail else
                                      ", ".join(f"{n} {state}" for state, n in mail.items() if n) or "nothing due"))
    click.echo(json.dumps(result.as_json(), sort_keys=True))
    print_sign_ins(result)


def print_sign_ins(result: DemoResult) -> None:
    """Working sign-in lines (the passwords are fresh for this run and shown only here)."""
    by_role: dict[str, list[tuple[str, str]]] = {}
    for role, email, password in result.sign_ins:
        by_role.setdefault(role, []).append((email, password))
    click.echo("")
    click.echo("Sign in to the console with (passwords are new on every run):")
    for role, label in (("csm", "CSM"), ("manager", "manager"), ("admin", "admin"), ("viewer", "viewer")):
        for email, password in by_role.get(role, [])[:1]:
            click.echo(f"  {label:8} {email}  password {password}")


@click.command("demo", help="Run the whole pipeline on the embedded sandbox, then serve the console and widgets.")
@click.option("--accounts", default=100, show_default=True, type=click.IntRange(1, 100_000),
              help="Synthetic companies in the sandbox.")
@click.option("--seed", default=7, show_default=True, help="Seed of the synthetic world.")
@click.option("--faults", default=0.0, type=click.FloatRange(0, 0.9), help="Share of sandbox calls that fail.")
@click.option("--no-serve", is_flag=True, help="Stop after the summary instead of serving.")
@click.option("--port", default=None, type=int, help="Port for the console (default 5000).")
@click.option("--live", is_flag=True, help="Keep the sandbox running with webhooks wired to the served app and "
              "print one JSON line with its URLs and credentials (see README).")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(0, 32),
              help="With --live and CELERY_BROKER_URL: `canary worker` subprocesses to start (0: run your own).")
@click.option("--no-beat", is_flag=True, help="With --live and CELERY_BROKER_URL: do not start `canary beat`.")
@with_appcontext
def demo(accounts: int, seed: int, faults: float, no_serve: bool, port: int | None, live: bool, workers: int,
         no_beat: bool) -> None:
    from sandbox.server import Sandbox
    from store.migrate import upgrade

    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    upgrade(app.config["DATABASE_URL"])
    if live:
        if no_serve:
            raise click.UsageError("--live serves the app: drop --no-serve")
        from cli.live import run_live

        run_live(app, accounts=accounts, seed=seed, faults=faults, port=port, workers=workers, beat=not no_beat)
        return
    box = Sandbox(accounts=accounts, seed=seed, faults=faults)
    box.start()
    owner = os.getpid()
    try:
        result = run_demo(app, accounts=accounts, seed=seed, faults=faults, sandbox=box)
        print_summary(result)
        if no_serve:
            return
        from cli.serve import serve_app

        labels = enable_vendor_sign_in(app, box)
        click.echo(f"Console: {app.config['PUBLIC_URL'].rstrip('/')}/sign-in")
        click.echo(f"  or sign in with {', '.join(labels)} as a demo CSM (Zendesk subdomain: "
                   f"{box.credentials['zendesk']['subdomain']}; the sandbox's Salesforce has a self-signed "
                   "certificate your browser asks about)")
        serve_app(app, host=app.config["SERVE_HOST"], port=port or int(app.config["SERVE_PORT"]), workers=1)
    finally:
        # A gunicorn worker (a fork of this process, without the sandbox's server threads) leaves through
        # here too: only the process that started the sandbox stops it.
        if os.getpid() == owner:
            box.stop()
