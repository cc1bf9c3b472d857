"""A campaign worker killed while handing a campaign's e-mail to SMTP, then restarted, sends no duplicate:
the killed process (a real subprocess, SIGKILL) ran the campaign and was mid-send; the restarted one runs the
campaign again and sends what was never handed, once."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import select

from store.models import CampaignStepRun, OutboxMessage
from tests.campaigns.conftest import STEP_ONE, STEP_TWO, active_campaign, per_address
from tests.shared import WORLD_NOW
from tests.smtp_server import Inbox, smtp_server

REPOSITORY = Path(__file__).resolve().parents[2]
T0 = WORLD_NOW + dt.timedelta(hours=4)

WORKER = """
import datetime as dt, sys
from campaigns.runner import run_due
from mail.outbox import OutboxPolicy, deliver
from mail.smtp import SmtpSettings
from store.db import Store
from tests.campaigns.conftest import MAIL, SENDER

url, tenant_id, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
run_at, send_at = dt.datetime.fromisoformat(sys.argv[4]), dt.datetime.fromisoformat(sys.argv[5])
store = Store(url)
print("campaigns", run_due(store, tenant_id, run_at, mail=MAIL, queue_message=None).as_dict(), flush=True)
settings = SmtpSettings(host="127.0.0.1", port=port, starttls=False, from_address=SENDER, timeout=60)
print("mail", deliver(store, tenant_id, settings, policy=OutboxPolicy(batch=10), clock=lambda: send_at).as_dict(),
      flush=True)
"""


def worker(url: str, tenant_id: int, port: int, run_at: dt.datetime, send_at: dt.datetime) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    return subprocess.Popen([sys.executable, "-c", WORKER, url, str(tenant_id), str(port), run_at.isoformat(),
                             send_at.isoformat()], cwd=REPOSITORY, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_a_worker_killed_mid_send_then_restarted_sends_no_duplicate(world: Any) -> None:
    app, store, seg = world
    t = seg.tenant_id
    url = str(app.config["DATABASE_URL"])
    active_campaign(store, t, [STEP_ONE, {"kind": "wait", "days": 2}, STEP_TWO])
    inbox = Inbox(hold=threading.Event())  # the server takes the first message and holds its answer
    with smtp_server(inbox) as (_, port):
        killed = worker(url, t, port, T0, T0)
        try:
            assert inbox.got_one.wait(60), "the worker never handed a message over"
            os.kill(killed.pid, signal.SIGKILL)
            out, err = killed.communicate(timeout=30)
        finally:
            if killed.poll() is None:
                killed.kill()
                killed.wait(timeout=30)
        assert killed.returncode == -signal.SIGKILL, err
        assert "campaigns {'enrolled': 3, 'sent': 3" in out
        assert inbox.hold is not None
        inbox.hold.set()

        restarted = worker(url, t, port, T0 + dt.timedelta(seconds=601), T0 + dt.timedelta(seconds=601))
        out, err = restarted.communicate(timeout=120)
        assert restarted.returncode == 0, err
        assert "campaigns {'enrolled': 0, 'sent': 0" in out  # nobody new, nobody due again
        assert "'sent': 2" in out and "'requeued': 2" in out and "'unknown': 1" in out
    assert inbox.count == 3
    assert per_address(inbox) == {"ann@acme.test": 1, "bob@acme.test": 1, "cy@globex.test": 1}
    with store.session(t) as s:
        states = sorted(s.scalars(select(OutboxMessage.state)))
        runs = sorted(s.scalars(select(CampaignStepRun.outcome).where(CampaignStepRun.position == 1)))
    assert states == ["sent", "sent", "unknown"]
    assert runs == ["sent", "sent", "sent"]
