"""`canary demo --live`: the demo's first pass, then the sandbox keeps running with its webhooks wired
to the served app, so a person (or a script) can edit the emulated vendors with their SDKs and watch
Canary react.

Order: the emulators start with ``webhooks=`` the app's public URL, but stay silent during the first
pass (the world as it was before anyone subscribed; Canary's own first push would otherwise come back
as thousands of webhooks to a server not yet listening). After it, the sandbox plays the vendors'
admin: each connection gets the webhook secrets the receivers verify with (only those it lacks) and
the Zendesk connection a panel signing key (Zendesk's app key pair, the private half written to a file
so a script can sign the sidebar request as Zendesk does). Then the app is served by gunicorn; once it
listens, ONE JSON line ``{"live": {...}}`` goes to stdout (the human summary goes to stderr) with the
console, webhook and collector URLs, the write key, the tenant id, each vendor's base URL with Canary's
and a person's credentials, where the emulators' call counts are (``sandbox.stats_url``), the jobs mode
and how to stop.

Jobs: without ``CELERY_BROKER_URL`` changes run inline in the serving process. With it, the demo starts
``--workers`` `canary worker` subprocesses (``--pool solo`` each) and, unless ``--no-beat``, `canary
beat`, with the app's database, broker and secret key, logging to files named in the JSON; ``--workers
0`` expects workers run elsewhere. Ctrl-C (or SIGTERM) stops the server, the subprocesses and the
sandbox.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import click
from flask import Flask

LIVE_SECRETS = ("client_secret", "app_id", "webhook_secret", "api_user_id", "webhook_token", "integration_user_id")
"""Emulator credentials the webhook receivers and loop guards read from a connection (the vendor admin's
part of setting webhooks up: signing secrets, the integration user, the app id)."""
PANEL_INSTALLATION_ID = 4242
STOP_SECONDS = 20.0


def public_url(config: Any, host: str, port: int) -> str:
    """The app's public URL, on the port served when it is a loopback URL (a ``--port`` moves it)."""
    base = str(config["PUBLIC_URL"]).rstrip("/")
    parts = urlsplit(base)
    if parts.hostname in ("127.0.0.1", "localhost") and parts.port != port:
        return urlunsplit((parts.scheme, f"{parts.hostname}:{port}", parts.path, "", ""))
    return base


@contextlib.contextmanager
def silenced(box: Any) -> Iterator[None]:
    """No webhooks from any emulator while inside (the first pass)."""
    with contextlib.ExitStack() as stack:
        for emulator in box.emulators.values():
            stack.enter_context(emulator.webhooks.silenced())
        yield


def wire_connections(app: Flask, tenant_id: int, box: Any) -> dict[str, Any]:
    """The sandbox as the vendors' admin: webhook secrets and the Zendesk panel key on each connection.

    Only what a connection lacks is added (an install that registered webhooks keeps its own secret).
    Returns the Zendesk panel's signing material: ``installation_id`` and ``signing_key_path``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from sqlalchemy import select

    from extensions import canary_store, credential_cipher
    from integrations.registry import vendor as vendor_of
    from store.models import Connection

    assert box.workdir is not None
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_path = Path(box.workdir) / "zendesk-panel-signing-key.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    os.chmod(key_path, 0o600)
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    cipher = credential_cipher(app)
    used = False
    with canary_store(app).session(tenant_id) as session:
        for conn in session.scalars(select(Connection)):
            emulator = box.emulators.get(conn.system)
            if emulator is None:
                continue
            stored = dict(cipher.load(conn))
            extra = {k: v for k, v in emulator.credentials.items() if k in LIVE_SECRETS and not stored.get(k)}
            panel_keys = dict(vendor_of(conn.system).panel.settings)  # the panel that verifies a signed key pair
            if "app_public_key" in panel_keys and not stored.get("app_public_key"):
                extra.update(app_public_key=public_pem, installation_id=PANEL_INSTALLATION_ID)
                used = True
            if extra:
                cipher.store(conn, {**stored, **extra})
    if not used:
        key_path.unlink()
    return {"installation_id": PANEL_INSTALLATION_ID if used else None,
            "signing_key_path": str(key_path) if used else None}


def vendor_section(box: Any) -> dict[str, Any]:
    """Per vendor: where it is and both credentials (Canary's, a person's)."""
    c = box.credentials
    sf, zd, hs = c["salesforce"], c["zendesk"], c["hubspot"]
    return {
        "salesforce": {"base_url": sf["base_url"], "instance_url": sf["instance_url"], "cert_path": sf["cert_path"],
                       "canary": {"session_id": sf["session_id"]},
                       "person": {"session_id": sf.get("person_session_id")}},
        "zendesk": {"base_url": zd["base_url"], "subdomain": zd["subdomain"],
                    "canary": {"email": zd["email"], "token": zd["token"]},
                    "person": {"email": zd.get("person_email"), "token": zd.get("person_token")}},
        "hubspot": {"base_url": hs["base_url"], "portal_id": str(hs.get("portal_id", "")),
                    "canary": {"access_token": hs["access_token"]},
                    "person": {"access_token": hs.get("person_access_token")}},
    }


def stats_app(box: Any) -> Any:
    """A WSGI app answering ``GET /stats`` with every emulator's call counts (`Sandbox.stats`)."""
    def application(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ.get("PATH_INFO") != "/stats":
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"error": "GET /stats"}']
        body = json.dumps(box.stats(), sort_keys=True).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
    return application


def worker_env(app: Flask) -> dict[str, str]:
    """What a worker subprocess needs to run this app's jobs: its database, broker and secret key."""
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "DATABASE_URL": str(app.config["DATABASE_URL"]),
           "CELERY_BROKER_URL": str(app.config["CELERY_BROKER_URL"]),
           "CANARY_SECRET_KEY": str(app.config["SECRET_KEY"]), "CANARY_PUBLIC_URL": str(app.config["PUBLIC_URL"]),
           "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    return env


Processes = list[tuple[str, "subprocess.Popen[bytes]"]]


def start_job_processes(app: Flask, workers: int, beat: bool, log_dir: Path) -> Processes:
    env = worker_env(app)
    started: Processes = []
    base = [sys.executable, "-c", "from app import main; main()"]
    commands = [(f"worker-{i + 1}", [*base, "worker", "--pool", "solo", "--name", f"live{i + 1}@%h",
                                    "--loglevel", "INFO"]) for i in range(workers)]
    if beat:
        commands.append(("beat", [*base, "beat", "--loglevel", "INFO"]))
    try:
        for name, argv in commands:
            log = (log_dir / f"{name}.log").open("wb")
            proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,  # noqa: S603 our own argv
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            started.append((name, proc))
            log.close()
    except BaseException:
        stop_processes(started)
        raise
    return started


def stop_processes(processes: Processes) -> None:
    """SIGTERM each (its process group: a worker's pool children too), then SIGKILL what is left."""
    for _name, proc in processes:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    for _name, proc in processes:
        try:
            proc.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def check_broker(url: str) -> None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        raise click.ClickException(f"CELERY_BROKER_URL is set but Redis does not answer: {exc}") from None


def run_live(app: Flask, *, accounts: int, seed: int, faults: float, port: int | None, workers: int,
             beat: bool) -> None:
    from cli.demo import enable_vendor_sign_in, print_summary, run_demo
    from cli.serve import CanaryServer, server_options
    from jobs import uses_celery
    from sandbox.core import LoopbackServer
    from sandbox.server import Sandbox
    from store.db import redacted

    host = str(app.config["SERVE_HOST"])
    port = port or int(app.config["SERVE_PORT"])
    public = public_url(app.config, host, port)
    app.config["PUBLIC_URL"] = public
    celery = uses_celery(app)
    if celery:
        check_broker(str(app.config["CELERY_BROKER_URL"]))
    box = Sandbox(accounts=accounts, seed=seed, faults=faults, webhooks=public)
    owner = os.getpid()
    box.start()
    processes: Processes = []
    stats_server: Any = None
    try:
        with contextlib.redirect_stdout(sys.stderr), silenced(box):
            result = run_demo(app, accounts=accounts, seed=seed, faults=faults, sandbox=box)
            print_summary(result)
        panel = wire_connections(app, result.tenant_id, box)
        enable_vendor_sign_in(app, box)
        stats_server = LoopbackServer(stats_app(box)).start()
        assert box.workdir is not None and box.world is not None
        jobs: dict[str, Any] = {"mode": "celery" if celery else "inline"}
        if celery:
            jobs["broker"] = redacted(str(app.config["CELERY_BROKER_URL"]))
            if workers:
                processes = start_job_processes(app, workers, beat, Path(box.workdir))
                jobs["started"] = {name: proc.pid for name, proc in processes}
                jobs["logs"] = str(box.workdir)
            else:
                jobs["started"] = {}
                jobs["expects"] = "`canary worker` (and `canary beat`) run elsewhere with this database and broker"
        admin = next(((email, password) for role, email, password in result.sign_ins if role == "admin"), None)
        line = {"live": {
            "console": f"{public}/sign-in",
            "admin": {"email": admin[0], "password": admin[1]} if admin else None,
            "tenant_id": result.tenant_id,
            "webhooks": f"{public}/webhooks",
            "collector": {"url": f"{public}/v1/batch", "write_key": box.world.write_key},
            "vendors": vendor_section(box),
            "zendesk_panel": {"url": f"{public}/widgets/zendesk/sidebar", **panel},
            "sandbox": {"stats_url": f"{stats_server.url}/stats", "workdir": str(box.workdir)},
            "jobs": jobs,
            "pid": os.getpid(),
            "stop": "Ctrl-C (or SIGTERM to pid) stops the server, the workers it started and the sandbox",
        }}

        def when_ready(_server: Any) -> None:
            print(json.dumps(line, sort_keys=True), flush=True)

        options = {**server_options(host=host, port=port, workers=1), "when_ready": when_ready,
                   "accesslog": "/dev/stderr", "control_socket_disable": True}
        print(f"Canary is serving on http://{host}:{port}/  (Ctrl-C to stop)", file=sys.stderr, flush=True)
        CanaryServer(app, options).run()
    finally:
        # A gunicorn worker leaves through here too (a fork of this process, without its threads): only the
        # process that started the sandbox and the subprocesses stops them (a worker would wait forever
        # for server threads it does not have).
        if os.getpid() == owner:
            stop_processes(processes)
            if stats_server is not None:
                stats_server.stop()
            box.stop()
