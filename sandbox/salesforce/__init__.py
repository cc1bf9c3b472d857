"""Salesforce emulator: REST API v52+ (query/queryMore, sObjects, sObject Collections,
describe, Tooling ``CustomField``, Bulk API 2.0 ingest, limits) for the real, unmodified
``simple_salesforce`` client.

How the SDK is pointed at it (verified by ``tests/sandbox/test_salesforce_sdk.py``)::

    from simple_salesforce import Salesforce
    from sandbox.core import LoopbackServer, make_self_signed_cert
    from sandbox.salesforce import SalesforceEmulator

    emulator = SalesforceEmulator()
    emulator.seed(world)
    tls = make_self_signed_cert()
    with LoopbackServer(emulator.wsgi_app, tls=tls) as server:
        session = requests.Session()
        session.verify = tls.cert_path          # simple-salesforce always speaks https
        session.trust_env = False               # else REQUESTS_CA_BUNDLE overrides .verify
        sf = Salesforce(instance_url=server.url,
                        session_id=emulator.credentials["session_id"], session=session)
        sf.query_all("SELECT Id, Name FROM Account ORDER BY SystemModstamp, Id")

Query pages honour ``Sforce-Query-Options: batchSize=N`` (200–2,000, default 2,000); the
ordered result of a query is kept per query locator, so later pages are slices. Records
sharing a ``SystemModstamp`` come out in Id order. In-process helpers for tests: ``records``,
``record``, ``touch``, ``fail_writes``, ``insert``, ``reset_allocation``. Injected 429s use the
sandbox's own ``TOO_MANY_REQUESTS`` code (Salesforce itself rarely sends 429), never the
daily allocation's ``REQUEST_LIMIT_EXCEEDED``.
"""

from .emulator import DEFAULT_SESSION_ID, SalesforceEmulator
from .ids import case_safe_suffix, make_id, to_18

__all__ = ["DEFAULT_SESSION_ID", "SalesforceEmulator", "case_safe_suffix", "make_id", "to_18"]
