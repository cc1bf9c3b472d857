"""Latency and throughput of the Zendesk panel endpoint under 50 concurrent connections.

Three servers, all gunicorn (gthread, 2 workers x 4 threads) on loopback, each run as `canary serve`
runs Canary (the app loaded in the master, workers forked from it, `cli.serve.server_options`; no access
log for any of the three), loaded by wrk
(Debian package) for the same duration in the same run: Canary's panel for a seeded account
with 90 days of history; a Flask app with one "hello" route (the framework's own cost, the
goal being panel req/s >= 0.5 x hello); and a trivial WSGI app answering one static byte.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from extensions import canary_store  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from store.models import Account, Alert, HealthSnapshot, SourceLink, Subscription, UsageDaily  # noqa: E402
from store.tenants import create_tenant  # noqa: E402

DURATION = os.environ.get("BENCH_WIDGETS_DURATION", "10s")
CONNECTIONS = 50
WORKERS, THREADS = 2, 4
SECRET = "bench-widgets-secret-key-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed(url: str) -> int:
    upgrade(url)
    app = create_app({"TESTING": True, "SECRET_KEY": SECRET, "DATABASE_URL": url})
    store = canary_store(app)
    with store.session() as s:
        tenant, _ = create_tenant(s, "bench", "Bench")
    today = dt.datetime.now(dt.UTC).date()
    with store.session(tenant.id) as s:
        account = Account(name="Bench Industries", domain="bench.example", owner="Casey CSM")
        s.add(account)
        s.flush()
        s.add(SourceLink(account_id=account.id, system="zendesk", external_id="100", method="new", reason="bench"))
        s.add(Subscription(account_id=account.id, system="salesforce", external_id="006B", arr=Decimal("90000"),
                           renewal_date=today + dt.timedelta(days=120), status="active"))
        s.add(Alert(account_id=account.id, rule="usage_drop", dedupe_key="usage_drop:1", severity="critical",
                    title="Usage dropped 55 % in two weeks"))
        for i in range(90):
            s.add(HealthSnapshot(account_id=account.id, day=today - dt.timedelta(days=i), score=40 + i % 30,
                                 band="average", trend=-0.3, reasons=[{"text": "Weekly active users fell"}]))
        for u in range(8):
            for d in range(30):
                s.add(UsageDaily(account_id=account.id, user_key=f"u{u}", event="Logged In",
                                 day=today - dt.timedelta(days=d), count=1, minutes=10))
    with app.test_request_context():
        from itsdangerous import URLSafeTimedSerializer

        token = URLSafeTimedSerializer(SECRET, salt="canary-widget-session").dumps({"t": tenant.id, "v": "zendesk"})
    store.dispose()
    return_token[0] = token
    return tenant.id


return_token = [""]


def serve(app_spec: str, port: int) -> None:
    """This process as the gunicorn master (`python bench_widgets.py --serve SPEC PORT`): the app loaded
    here, then served exactly as `canary serve` serves Canary (`cli.serve.CanaryServer` with its
    `server_options`: gthread 2 workers x 4 threads, the workers forked from this loaded process), except
    that no server writes an access log."""
    from gunicorn.util import import_app

    from cli.serve import CanaryServer, server_options

    sys.path.insert(0, os.getcwd())
    app = import_app(app_spec)
    options = {**server_options(host="127.0.0.1", port=port, workers=WORKERS, threads=THREADS),
               "accesslog": None, "loglevel": "warning"}
    CanaryServer(app, options).run()


def workers_of(pid: int) -> int:
    try:
        return len(Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
    except OSError:
        return 0


def gunicorn(app_spec: str, port: int, env: dict[str, str], cwd: str) -> subprocess.Popen[bytes]:
    """Start a server and wait until it listens and all its workers are forked: a worker that boots late
    would find every keep-alive connection of the run already taken by the other, and the run would
    measure one worker instead of two."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", app_spec, str(port)]
    proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **env})
    deadline = time.time() + 60
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0 and workers_of(proc.pid) >= WORKERS:
                return proc
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"gunicorn did not start for {app_spec}")


def warm(url: str, headers: list[str], requests: int = 20) -> None:
    """Wait until the server's workers answer ``url`` (gunicorn binds its port before they have booted),
    then send a few more requests, so the run measures the steady state of every server alike."""
    import urllib.request

    deadline = time.time() + 120
    answered = 0
    while answered < requests:
        request = urllib.request.Request(url, headers=dict(h.split(": ", 1) for h in headers))
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
            answered += 1
        except OSError:
            if time.time() > deadline:
                raise SystemExit(f"{url} did not answer within 120 s") from None
            time.sleep(0.2)


def wrk(url: str, headers: list[str]) -> dict[str, float]:
    warm(url, headers)
    cmd = ["wrk", "-t", "2", "-c", str(CONNECTIONS), "-d", DURATION, "--latency"]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    units = {"us": 1e-3, "ms": 1.0, "s": 1e3}

    def latency(p: str) -> float:
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(m.group(1)) * units[m.group(2)] if m else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"p50": latency("50"), "p99": latency("99"), "rps": float(rps.group(1)) if rps else float("nan"),
            "errors": float(non2xx.group(1)) if non2xx else 0.0}


def main() -> None:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: `make bench` installs the Debian package")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        seed(url)
        static = Path(tmp) / "static_app.py"
        static.write_text(textwrap.dedent("""
            def app(environ, start_response):
                start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "1")])
                return [b"x"]
        """))
        (Path(tmp) / "hello_app.py").write_text(textwrap.dedent("""
            from flask import Flask

            app = Flask(__name__)

            @app.get("/")
            def hello():
                return "hello"
        """))
        env = {"DATABASE_URL": url, "CANARY_SECRET_KEY": SECRET, "PYTHONPATH": str(ROOT)}
        canary_port, hello_port, static_port = free_port(), free_port(), free_port()
        servers = [gunicorn("app:create_app()", canary_port, env, str(ROOT)),
                   gunicorn("hello_app:app", hello_port, {}, tmp),
                   gunicorn("static_app:app", static_port, {}, tmp)]
        try:
            panel = wrk(f"http://127.0.0.1:{canary_port}/widgets/zendesk/panel?organization_id=100",
                        [f"Authorization: Bearer {return_token[0]}"])
            hello = wrk(f"http://127.0.0.1:{hello_port}/", [])
            one_byte = wrk(f"http://127.0.0.1:{static_port}/", [])
        finally:
            for proc in servers:
                proc.terminate()
                proc.wait(timeout=10)
    print(f"widgets: gunicorn gthread 2x4 on loopback, wrk {CONNECTIONS} connections for {DURATION}")
    for name, r in (("Zendesk panel (HTML, 90-day sparkline)", panel), ("Flask hello route (floor)", hello),
                    ("static 1-byte response (floor)", one_byte)):
        print(f"  {name:40s} p50 {r['p50']:7.2f} ms   p99 {r['p99']:7.2f} ms   {r['rps']:9.0f} req/s"
              f"   non-2xx {int(r['errors'])}")
    ratio = panel["rps"] / hello["rps"] if hello["rps"] else float("nan")
    met = ratio >= 0.5 and panel["p99"] < 50
    print(f"  panel / hello req/s: {ratio:.2f} (goal >= 0.5), panel p99 {panel['p99']:.1f} ms (goal < 50): "
          f"{'met' if met else 'NOT met'}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        main()
