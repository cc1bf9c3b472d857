"""The send job on a real Celery worker (`canary worker`, pool solo) over a real Redis: what `submit` queues
is sent once through the workspace's own SMTP settings (password decrypted in the worker)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import select

from extensions import canary_store, credential_cipher
from jobs import submit
from jobs.worker import configure
from mail.outbox import enqueue
from mail.settings import save_settings
from store.models import OutboxMessage
from store.tenants import create_tenant
from tests.jobs.test_celery_workers import start_worker, stop, wait_for
from tests.mail.conftest import CAMPAIGN, PUBLIC_URL, SENDER, VARIABLES
from tests.redis_server import redis_server
from tests.shared import WORLD_NOW, pinned_clock
from tests.smtp_server import self_signed, smtp_server

SECRET = "send-job-test-secret-key-0123456789abcdef"


def test_a_worker_sends_the_queued_e_mail_once_through_the_workspace_settings(tmp_path: Path) -> None:
    from app import create_app
    from tests.dbtemplate import migrate_new

    url = f"sqlite:///{tmp_path / 'send.db'}"
    migrate_new(url)
    cert, key = self_signed(tmp_path)
    with pinned_clock(), redis_server() as broker, \
            smtp_server(tls=(cert, key), login=("mailer", "worker pass")) as (inbox, port):
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET, "CELERY_BROKER_URL": broker, "TESTING": True,
                          "PUBLIC_URL": PUBLIC_URL})
        store = canary_store(app)
        with store.session() as s:
            tenant, _ = create_tenant(s, "alpha", "Alpha")
        with store.session(tenant.id) as s:
            save_settings(s, credential_cipher(app), {"host": "127.0.0.1", "port": str(port), "starttls": "on",
                                                      "username": "mailer", "password": "worker pass",
                                                      "from_address": SENDER}, "test", None)
            row = enqueue(s, key="campaign:1:step:1:person:1", category="customer_success", to="ann@acme.test",
                          sender=SENDER, template=CAMPAIGN, variables=VARIABLES, public_url=PUBLIC_URL,
                          now=WORLD_NOW)
            s.flush()
            message_id = row.message_id
        configure(app)
        assert submit(app, "send", tenant.id) is not None
        env = {**os.environ, "DATABASE_URL": url, "CANARY_SECRET_KEY": SECRET, "CELERY_BROKER_URL": broker,
               "CANARY_SMTP_CA_FILE": str(cert), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        worker: Any = start_worker("send", {**env}, tmp_path / "worker.log")
        try:
            wait_for("the worker to send the e-mail", lambda: inbox.count >= 1)

            def marked_sent() -> bool:
                with store.session(tenant.id) as s:
                    return s.scalars(select(OutboxMessage.state)).one() == "sent"

            wait_for("the outbox row to be marked sent", marked_sent)
        finally:
            stop(worker)
    assert inbox.count == 1 and inbox.tls_sessions == 1
    assert inbox.messages()[0]["Message-ID"] == message_id
    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert "canary.send" in log and "worker pass" not in log
