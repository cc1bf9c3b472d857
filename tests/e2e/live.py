"""Drive `canary demo --live` from outside, as a person's script would: start it as a subprocess, read its
JSON line, change records with the vendor SDKs (a person's credentials) or through ``POST /v1/batch``,
and read each destination back — the store, Salesforce and HubSpot (SDKs, Canary's credentials) and the
Zendesk panel (a request signed as Zendesk signs it). Used by tests/e2e/test_live_demo.py and
bench/bench_freshness.py.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import requests
from sqlalchemy import func, select

from sandbox.server import LoopbackRedirect
from store.db import Store
from store.models import HealthSnapshot, SourceLink, UsageDaily

ROOT = Path(__file__).resolve().parents[2]
DESTINATIONS = ("store", "salesforce", "hubspot", "zendesk_panel")
PINNED = ("import time_machine, datetime as dt; time_machine.travel(dt.datetime.fromisoformat({at!r}), tick=True)"
          ".start(); from app import main; main()")
"""The demo process's clock starts at ``at`` and runs on (a test's pinned clock, in the subprocess)."""


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


@dataclass(frozen=True)
class Health:
    score: str | None
    """Rounded, as pushed and shown."""
    band: str | None


class LiveDemo:
    """A running ``canary demo --live`` subprocess and what its JSON line says."""

    def __init__(self, proc: subprocess.Popen[str], info: dict[str, Any], database_url: str, secret: str) -> None:
        self.proc = proc
        self.info = info
        self.store = Store(database_url)
        self.secret = secret
        self.http = _session()
        self.calls: dict[str, int] = {"salesforce": 0, "zendesk": 0, "hubspot": 0}
        """Calls this script made to each emulator (to tell Canary's own from the sandbox's totals)."""

    # --- start and stop ------------------------------------------------------------------------

    @classmethod
    def start(cls, *, folder: Path, port: int, accounts: int, seed: int, env: dict[str, str],
              extra_args: tuple[str, ...] = (), pinned_at: dt.datetime | None = None,
              timeout: float = 300.0) -> LiveDemo:
        database_url = env["DATABASE_URL"]
        code = PINNED.format(at=pinned_at.isoformat()) if pinned_at else "from app import main; main()"
        argv = [sys.executable, "-c", code, "demo", "--live", "--accounts", str(accounts), "--seed", str(seed),
                "--port", str(port), *extra_args]
        log = (folder / "live-demo.log").open("w")
        proc = subprocess.Popen(argv, cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                                stderr=log, text=True, start_new_session=True)
        log.close()
        found: list[dict[str, Any]] = []

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith('{"live"'):
                    found.append(json.loads(line)["live"])
        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not found:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_process(proc)
                raise AssertionError("canary demo --live printed no JSON line: "
                                     + (folder / "live-demo.log").read_text()[-3000:])
            time.sleep(0.2)
        demo = cls(proc, found[0], database_url, env["CANARY_SECRET_KEY"])
        demo.wait_until("the app answers", lambda: demo.http.get(demo.url("/healthz"), timeout=5).ok, timeout)
        return demo

    def stop(self) -> int:
        return stop_process(self.proc)

    # --- helpers -------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return self.info["console"].rsplit("/sign-in", 1)[0] + path

    @staticmethod
    def wait_until(what: str, check: Callable[[], Any], timeout: float, every: float = 0.25) -> Any:
        """Poll ``check`` until it is truthy (a generous bound, not a timed assertion)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                found = check()
            except requests.RequestException:
                found = None
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what}")
            time.sleep(every)

    def _count(self, vendor: str) -> Callable[..., None]:
        def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
            self.calls[vendor] += 1
        return hook

    def sandbox_stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.http.get(self.info["sandbox"]["stats_url"], timeout=10).json()
        return stats

    # --- the vendors' SDKs ---------------------------------------------------------------------

    def zendesk(self, who: str = "person") -> Any:
        from zenpy import Zenpy

        z = self.info["vendors"]["zendesk"]
        session = LoopbackRedirect(f"{z['subdomain']}.zendesk.com", z["base_url"]).mount_on(_session())
        session.hooks["response"].append(self._count("zendesk"))
        return Zenpy(subdomain=z["subdomain"], email=z[who]["email"], token=z[who]["token"], session=session)

    def salesforce(self, who: str = "canary") -> Any:
        from simple_salesforce import Salesforce

        s = self.info["vendors"]["salesforce"]
        session = _session()
        session.verify = s["cert_path"]
        session.hooks["response"].append(self._count("salesforce"))
        return Salesforce(instance_url=s["instance_url"], session_id=s[who]["session_id"], session=session)

    def hubspot(self, who: str = "canary") -> Any:
        from hubspot import HubSpot

        h = self.info["vendors"]["hubspot"]
        return HubSpot(access_token=h[who]["access_token"], host=h["base_url"])

    # --- the account's health at each destination ----------------------------------------------

    def links(self, account_id: int) -> dict[str, str]:
        with self.store.session(self.info["tenant_id"]) as s:
            return {system: ext for system, ext in s.execute(select(SourceLink.system, SourceLink.external_id).where(
                SourceLink.account_id == account_id))}

    def linked_accounts(self) -> list[int]:
        """Accounts known in the product and all three vendors, by id."""
        with self.store.session(self.info["tenant_id"]) as s:
            rows = s.execute(select(SourceLink.account_id, func.count(func.distinct(SourceLink.system)))
                             .where(SourceLink.account_id.is_not(None))
                             .group_by(SourceLink.account_id)).all()
        return sorted(a for a, n in rows if n >= 4)

    def movable(self, measure: str) -> list[int]:
        """`linked_accounts` whose newest score gives ``measure`` points (a change to it moves the score)."""
        linked = set(self.linked_accounts())
        out = []
        with self.store.session(self.info["tenant_id"]) as s:
            for snap in s.scalars(select(HealthSnapshot).where(HealthSnapshot.account_id.in_(sorted(linked)))
                                  .order_by(HealthSnapshot.account_id, HealthSnapshot.day.desc())):
                if snap.account_id in out or snap.account_id not in linked:
                    continue
                linked.discard(snap.account_id)  # the newest snapshot alone decides
                part = (snap.parts or {}).get("parts", snap.parts or {}).get(measure)
                if isinstance(part, dict) and (part.get("points") or 0) > 0 and (part.get("weight") or 0) > 0:
                    out.append(snap.account_id)
        return sorted(out)

    def in_store(self, account_id: int) -> Health:
        with self.store.session(self.info["tenant_id"]) as s:
            row = s.execute(select(HealthSnapshot.score, HealthSnapshot.band).where(
                HealthSnapshot.account_id == account_id).order_by(HealthSnapshot.day.desc()).limit(1)).first()
        return Health(None if row is None or row[0] is None else str(round(row[0])), row[1] if row else None)

    def in_salesforce(self, sf: Any, external_id: str) -> Health:
        record = sf.Account.get(external_id)
        score = record.get("Canary_Health_Score__c")
        return Health(None if score is None else str(round(float(score))), record.get("Canary_Health_Band__c"))

    def in_hubspot(self, external_id: str) -> Health:
        h = self.info["vendors"]["hubspot"]
        self.calls["hubspot"] += 1
        answer = self.http.get(f"{h['base_url']}/crm/v3/objects/companies/{external_id}",
                               params={"properties": "canary_health_score,canary_health_band"},
                               headers={"Authorization": f"Bearer {h['canary']['access_token']}"}, timeout=10)
        answer.raise_for_status()
        props = answer.json()["properties"]
        score = props.get("canary_health_score")
        band = props.get("canary_health_band") or None
        return Health(None if score in (None, "") else str(round(float(score))), band)

    def panel_session(self) -> str:
        """Open the Zendesk sidebar with a token signed as Zendesk signs it; the panel's session."""
        z = self.info["vendors"]["zendesk"]
        panel = self.info["zendesk_panel"]
        key = Path(panel["signing_key_path"]).read_bytes()
        now = int(time.time())
        claims = {"iss": f"{z['subdomain']}.zendesk.com", "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex,
                  "aud": f"https://{z['subdomain']}.zendesk.com/api/v2/apps/installations/"
                         f"{panel['installation_id']}.json",
                  "qsh": "x", "context": {"location": "ticket_sidebar"}}
        html = self.http.post(panel["url"], data={"token": jwt.encode(claims, key, algorithm="RS256")}, timeout=10)
        html.raise_for_status()
        match = re.search(r'name="canary-session" content="([^"]+)"', html.text)
        assert match, html.text[:500]
        return match.group(1)

    def in_panel(self, session: str, organization_id: str) -> Health:
        html = self.http.get(self.url("/widgets/zendesk/panel"), params={"organization_id": organization_id},
                             headers={"Authorization": f"Bearer {session}"}, timeout=10)
        html.raise_for_status()
        score = re.search(r'data-testid="score">([^<]*)<', html.text)
        band = re.search(r'data-testid="band">([^<]*)<', html.text)
        label = band.group(1).strip().lower() if band else None
        known = label if label in ("good", "average", "poor") else None
        return Health(score.group(1).strip() if score else None, known)

    # --- changes -------------------------------------------------------------------------------

    def open_urgent_tickets(self, organization_id: str, n: int = 5, who: str = "person") -> list[str]:
        from zenpy.lib.api_objects import Ticket

        zd = self.zendesk(who)
        made = []
        for i in range(n):
            audit = zd.tickets.create(Ticket(subject=f"Outage #{i + 1}: nothing loads", priority="urgent",
                                             organization_id=int(organization_id),
                                             description="Everything is down for our whole team."))
            made.append(str(audit.ticket.id))
        return made

    def cut_usage(self, account_id: int, now: dt.datetime) -> list[dict[str, Any]]:
        """Post `usage_cut_batch` for the account (its product group, its users active in the last 28 days,
        enough events that the last 14 days are under 5 % of the 14 before); the collector's answers."""
        today = now.date()
        with self.store.session(self.info["tenant_id"]) as s:
            group = s.scalar(select(SourceLink.external_id).where(SourceLink.account_id == account_id,
                                                                  SourceLink.system == "product"))
            users = sorted(set(s.scalars(select(UsageDaily.user_key).where(
                UsageDaily.account_id == account_id, UsageDaily.day > today - dt.timedelta(days=28)))))
            recent = s.scalar(select(func.coalesce(func.sum(UsageDaily.count), 0)).where(
                UsageDaily.account_id == account_id, UsageDaily.day > today - dt.timedelta(days=14))) or 0
        assert group and users, f"account {account_id} has no recent product usage"
        key = self.info["collector"]["write_key"]
        auth = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}
        answers = []
        for batch in usage_cut_batches(group, users, now, max(200, 20 * int(recent))):
            answer = self.http.post(self.info["collector"]["url"], json=batch, headers=auth, timeout=60)
            answer.raise_for_status()
            answers.append(answer.json())
        return answers


CUT_EVENT = "Page Viewed"
"""Neither the login event nor a key feature nor a milestone: it moves only the usage volume."""
BATCH_MESSAGES = 2000


def usage_cut_batches(group_id: str, users: list[str], now: dt.datetime, events: int) -> list[dict[str, Any]]:
    """Segment batches that make the account's usage of the last 14 days fall to (nearly) zero against the
    14 days before.

    The collector only ever adds activity (daily counts per user and event), so a cut cannot be sent as
    a zero; what a product's stream says when an account stops is activity up to the cut and none after.
    These batches report that activity: ``events`` events by the account's recent users 15–20 days ago,
    none since. Scored today, the account's usage trend (last 14 days vs the 14 before) falls below
    −90 % and its weekly-active-users trend falls too; logins, features and recency are untouched."""
    messages = []
    for i in range(events):
        when = now - dt.timedelta(days=15 + i % 6, minutes=1 + i // 6)
        messages.append({"type": "track", "messageId": f"cut-{group_id}-{uuid.uuid4().hex}",
                         "userId": users[i % len(users)], "event": CUT_EVENT,
                         "timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "properties": {},
                         "context": {"groupId": group_id}})
    return [{"batch": messages[i:i + BATCH_MESSAGES]} for i in range(0, len(messages), BATCH_MESSAGES)]


def stop_process(proc: subprocess.Popen[Any], timeout: float = 60.0) -> int:
    """SIGINT (Ctrl-C) to the demo; SIGKILL to its group if it does not stop in time."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    return int(proc.returncode)
