"""Consent write-back (issue 17): a one-click unsubscribe reaches the CRMs' people through the real SDKs against
the sandbox emulators — Salesforce ``HasOptedOutOfEmail`` on the Contact and the Lead, HubSpot's communication
preferences v3 — as a job after the POST, never inline; Zendesk is skipped saying why; the setting off sends no
call; a CRM that is down leaves the row queued with a backoff, and the next run writes it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from cli.demo import sandbox_connections
from extensions import canary_store, credential_cipher
from integrations.base import OptOutResult
from integrations.errors import RetriableError
from mail.consent import suppress
from mail.outbox import enqueue
from sandbox.server import Sandbox
from store.models import AuditEvent, ConsentWrite, Suppression
from sync.connections import save_connection
from sync.consent import ConsentPolicy, write_consent
from tests.console.conftest import CHEAP_ARGON2, csrf_of, seed_workspace, signed_in_client
from tests.mail.conftest import CAMPAIGN, PUBLIC_URL, SENDER, VARIABLES
from tests.shared import WORLD_AS_OF, WORLD_NOW, pinned_clock

CONSENT_CALLS = (("GET", "/communication-preferences/v3/definitions"),
                 ("POST", "/communication-preferences/v3/unsubscribe"))


def _connected(app: Any, box: Sandbox, tenant_id: int) -> None:
    from sqlalchemy import delete

    from store.models import Connection

    with canary_store(app).session(tenant_id) as s:
        s.execute(delete(Connection))  # the seeded workspace's placeholder connection: the sandbox's instead
        for system, (creds, base, ref) in sandbox_connections(box).items():
            save_connection(s, credential_cipher(app), system, creds, base_url=base, account_ref=ref, actor="test")


def _campaign_mail(app: Any, tenant_id: int, to: str) -> str:
    with canary_store(app).session(tenant_id) as s:
        row = enqueue(s, key=f"campaign:1:step:1:{to}", category="customer_success", to=to, sender=SENDER,
                      template=CAMPAIGN, variables=VARIABLES, public_url=PUBLIC_URL, now=WORLD_NOW)
        assert row.unsubscribe_token is not None
        return row.unsubscribe_token


def _sf_calls(box: Sandbox, method: str, fragment: str) -> int:
    calls = box.emulators["salesforce"].stats.snapshot()["calls"]
    return sum(c["count"] for c in calls if c["method"] == method and fragment in c["endpoint"])


def test_a_one_click_unsubscribe_opts_the_person_out_in_salesforce_and_hubspot(app_factory: Any) -> None:
    from jobs import queue_of

    app = app_factory(PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False, PUBLIC_URL=PUBLIC_URL)
    ws = seed_workspace(app, "alpha", "Alpha")
    with pinned_clock(), Sandbox(accounts=6, seed=5, as_of=WORLD_AS_OF) as box:
        _connected(app, box, ws.tenant_id)
        sf, hs = box.emulators["salesforce"], box.emulators["hubspot"]
        contact = sf.records("Contact")[0]
        address = str(contact["Email"])
        lead_id = sf.insert("Lead", {"LastName": "Prospect", "Company": "Acme", "Email": address.upper()})
        other = sf.records("Contact")[1]
        admin = signed_in_client(app, ws.emails["admin"])
        turned_on = admin.post("/admin/settings/consent",
                               data={"consent_writeback": "on", "csrf_token": csrf_of(admin)})
        assert turned_on.status_code == 302 and "written+to+the+CRMs" in turned_on.headers["Location"]
        token = _campaign_mail(app, ws.tenant_id, address)
        sf.stats.reset()
        hs.stats.reset()
        box.emulators["zendesk"].stats.reset()

        answer = app.test_client().post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
        assert answer.status_code == 200
        queue_of(app).drain()

        assert sf.record("Contact", contact["Id"])["HasOptedOutOfEmail"] is True
        assert sf.record("Lead", lead_id)["HasOptedOutOfEmail"] is True
        assert sf.record("Contact", other["Id"])["HasOptedOutOfEmail"] is False
        service = next(d["id"] for d in hs.preferences.definitions if d["name"] == "Customer Service Communication")
        assert list(hs.preferences.opted_out) == [(address.lower(), service)]
        # Counted calls: Salesforce one query per object and one PATCH; HubSpot the type list and one unsubscribe.
        assert (_sf_calls(box, "GET", "/query"), _sf_calls(box, "PATCH", "composite/sobjects")) == (2, 1)
        assert [hs.stats.calls(m, e) for m, e in CONSENT_CALLS] == [1, 1]
        assert box.emulators["zendesk"].stats.snapshot()["calls_total"] == 0
        with canary_store(app).session(ws.tenant_id) as s:
            rows = {r.system: (r.state, r.attempts, r.last_error) for r in s.scalars(select(ConsentWrite))}
            audit = [(e.action, e.detail) for e in s.scalars(select(AuditEvent).where(
                AuditEvent.action == "mail.consent_writeback"))]
        assert rows == {"salesforce": ("written", 1, None), "hubspot": ("written", 1, None),
                        "zendesk": ("skipped", 1, "Zendesk keeps no e-mail consent on its users (it sends no "
                                                  "campaign mail): an unsubscribe is not written there")}
        assert audit == [("mail.consent_writeback", {"enabled": True})]
        page = admin.get("/admin/settings").get_data(as_text=True)
        assert 'data-testid="consent-writes"' in page and page.count("<td>written</td>") == 2

        # The same unsubscribe posted again (mailbox providers retry): nothing new is queued, no call is made.
        assert app.test_client().post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"}).status_code == 200
        queue_of(app).drain()
        assert hs.stats.calls("POST", CONSENT_CALLS[1][1]) == 1 and _sf_calls(box, "PATCH", "composite") == 1


def test_with_the_setting_off_an_unsubscribe_stays_in_canary(app_factory: Any) -> None:
    from jobs import queue_of

    app = app_factory(PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False, PUBLIC_URL=PUBLIC_URL)
    ws = seed_workspace(app, "alpha", "Alpha")
    with pinned_clock(), Sandbox(accounts=4, seed=5, as_of=WORLD_AS_OF) as box:
        _connected(app, box, ws.tenant_id)
        sf, hs = box.emulators["salesforce"], box.emulators["hubspot"]
        contact = sf.records("Contact")[0]
        token = _campaign_mail(app, ws.tenant_id, str(contact["Email"]))
        sf.stats.reset()
        hs.stats.reset()
        assert app.test_client().post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"}).status_code == 200
        queue_of(app).drain()
        assert sf.stats.snapshot()["calls_total"] == 0 and hs.stats.snapshot()["calls_total"] == 0
        assert sf.record("Contact", contact["Id"])["HasOptedOutOfEmail"] is False
        with canary_store(app).session(ws.tenant_id) as s:
            assert s.scalars(select(ConsentWrite)).all() == []
            assert [x.address for x in s.scalars(select(Suppression))] == [str(contact["Email"]).lower()]


class FlakyCrm:
    """A CRM adapter down for the first ``down`` calls (a 503 after the adapter's own retries)."""

    system = "salesforce"

    def __init__(self, down: int) -> None:
        self.down, self.asked = down, 0

    def write_email_opt_outs(self, addresses: Any, category: str) -> OptOutResult:
        self.asked += 1
        if self.asked <= self.down:
            raise RetriableError("HTTP 503 Service Unavailable", status=503)
        return OptOutResult(written=[a for a in addresses if "known" in a],
                            not_found=[a for a in addresses if "known" not in a], calls=2)


def test_a_crm_that_is_down_keeps_the_write_queued_with_backoff_then_writes_it(mail_store: Any) -> None:
    from store.models import Connection, Tenant

    store, tenant_id = mail_store
    with store.session() as s:
        tenant = s.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.consent_writeback = True
    with store.session(tenant_id) as s:
        s.add(Connection(system="salesforce", account_ref="00D1", credentials_encrypted=b"x"))
    with store.session(tenant_id) as s:
        assert suppress(s, "Known@Alpha.example", "customer_success", "admin") is True
        assert suppress(s, "stranger@alpha.example", "customer_success", "admin") is True
    crm, policy = FlakyCrm(down=1), ConsentPolicy(backoff_seconds=60)
    with store.session(tenant_id) as s:  # queued at the suppressions' moment (the fixture's pinned clock)
        now = max(s.scalars(select(ConsentWrite.next_attempt_at)))
    assert WORLD_NOW <= now < WORLD_NOW + dt.timedelta(seconds=30)
    first = write_consent(store, tenant_id, {"salesforce": crm}, now=now, policy=policy)
    assert first.states == {"queued": 2} and first.retry_at == now + dt.timedelta(seconds=60)
    early = write_consent(store, tenant_id, {"salesforce": crm}, now=now + dt.timedelta(seconds=59), policy=policy)
    assert early.states == {} and crm.asked == 1  # not due yet: the CRM is not asked
    later = write_consent(store, tenant_id, {"salesforce": crm}, now=now + dt.timedelta(seconds=60), policy=policy)
    assert later.states == {"written": 1, "not_found": 1} and later.calls == {"salesforce": 2} and crm.asked == 2
    with store.session(tenant_id) as s:
        rows = sorted((r.address, r.state, r.attempts, r.last_error) for r in s.scalars(select(ConsentWrite)))
    assert rows == [("known@alpha.example", "written", 2, None), ("stranger@alpha.example", "not_found", 2, None)]


def test_an_admin_unsubscribes_an_address_by_hand_audited_and_only_an_admin(app_factory: Any) -> None:
    app = app_factory(PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False, PUBLIC_URL=PUBLIC_URL)
    ws = seed_workspace(app, "alpha", "Alpha")
    csm = signed_in_client(app, ws.emails["csm"])
    assert csm.post("/admin/settings/suppress", data={"address": "a@b.example", "category": "marketing",
                                                      "csrf_token": csrf_of(csm)}).status_code == 403
    assert csm.post("/admin/settings/consent", data={"consent_writeback": "on",
                                                     "csrf_token": csrf_of(csm)}).status_code == 403
    admin = signed_in_client(app, ws.emails["admin"])
    done = admin.post("/admin/settings/suppress", data={"address": " Person@Customer.example ",
                                                        "category": "marketing", "csrf_token": csrf_of(admin)})
    assert done.status_code == 302 and "person@customer.example+gets+no+more+marketing+e-mail" in done.headers[
        "Location"]
    again = admin.post("/admin/settings/suppress", data={"address": "person@customer.example",
                                                         "category": "marketing", "csrf_token": csrf_of(admin)})
    assert "was+already+unsubscribed" in again.headers["Location"]
    bad = admin.post("/admin/settings/suppress", data={"address": "nobody", "category": "marketing",
                                                       "csrf_token": csrf_of(admin)})
    assert bad.status_code == 400 and "is not an e-mail address" in bad.get_data(as_text=True)
    wrong = admin.post("/admin/settings/suppress", data={"address": "x@y.example", "category": "news",
                                                         "csrf_token": csrf_of(admin)})
    assert wrong.status_code == 400 and "category must be one of customer_success, marketing" in wrong.get_data(
        as_text=True)
    with canary_store(app).session(ws.tenant_id) as s:
        assert [(x.address, x.category, x.source) for x in s.scalars(select(Suppression))] == [
            ("person@customer.example", "marketing", "admin")]
        assert [(e.target, e.detail) for e in s.scalars(select(AuditEvent).where(
            AuditEvent.action == "mail.suppress"))] == [("person@customer.example", {"category": "marketing"})]
        assert s.scalars(select(ConsentWrite)).all() == []  # the write-back is off
    card = admin.get("/admin/settings").get_data(as_text=True).split('id="consent"')[1].split("</section>")[0]
    assert "<strong>HubSpot</strong>: the address is unsubscribed from the subscription type of its category" in card
    assert "Zendesk" not in card and 'data-testid="consent-writeback"' in card and "checked" not in card
