"""Precision and recall of each early-warning alert against truth.json, on 10,000 companies.

The three systems are synced through the real SDKs from the sandbox; product usage is folded
into the same daily aggregates the collector makes, but directly (the collector's own speed is
`bench_collector.py`'s figure: tens of millions of events over HTTP would only measure it again).
Then `sync.health.score_tenant` scores and raises alerts, and each story rule is compared with truth.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_pipeline import LIMITS

from cli.demo import SANDBOX_OPTIONS, sandbox_connections
from cli.truth import alert_quality
from sandbox.server import Sandbox
from sandbox.usage import iter_usage_events
from scoring import default_model
from store.db import Store
from store.migrate import upgrade
from store.models import ProductUser, SourceLink, SurveyResponse, UsageDaily
from store.tenants import create_tenant
from sync.connections import build_adapter
from sync.health import score_tenant
from sync.runner import sync

COMPANIES = int(os.environ.get("BENCH_ALERT_COMPANIES", "10000"))
FLUSH_EVERY = 200
"""Companies whose daily aggregates are written at once (keeps memory flat at 10,000 companies)."""


def fold_usage(store: Store, tenant_id: int, box: Sandbox, truth: dict[str, Any]) -> int:
    """Daily aggregates per account, user, event and day, as the collector would store them."""
    with store.session(tenant_id) as s:
        account_of_record = {(sys_, ext): acc for sys_, ext, acc in s.execute(
            SourceLink.__table__.select().with_only_columns(SourceLink.system, SourceLink.external_id,
                                                            SourceLink.account_id))}
    account_of: dict[str, int] = {}
    for company in truth["companies"]:
        for system, ext in company["ids"].items():
            if (system, ext) in account_of_record:
                account_of[company["key"]] = account_of_record[(system, ext)]
                break
    usage: dict[tuple[int, str, str, dt.date], list[float]] = defaultdict(lambda: [0, 0.0])
    users: dict[str, tuple[int, str | None, dt.datetime]] = {}
    nps: list[SurveyResponse] = []
    events = 0

    def flush() -> None:  # one company's events never span two flushes, so rows stay unique
        with store.session(tenant_id) as s:
            if usage:
                s.execute(UsageDaily.__table__.insert(), [
                    {"tenant_id": tenant_id, "account_id": a, "user_key": u, "event": e, "day": d,
                     "count": int(c), "minutes": m} for (a, u, e, d), (c, m) in usage.items()])
        usage.clear()

    for index, company in enumerate(box.world.companies, start=1):
        events += _fold_company(box, company, account_of, usage, users, nps)
        if index % FLUSH_EVERY == 0:
            flush()
    flush()
    with store.session(tenant_id) as s:
        for key, (account, email, last) in users.items():
            s.add(ProductUser(user_key=key, account_id=account, email=email, last_seen=last))
        s.add_all(nps)
        for key, account in account_of.items():
            s.add(SourceLink(system="product", external_id=key, account_id=account, method="external_id",
                             reason="product account id"))
    return events


def _fold_company(box: Sandbox, company: Any, account_of: dict[str, int],
                  usage: dict[tuple[int, str, str, dt.date], list[float]],
                  users: dict[str, tuple[int, str | None, dt.datetime]], nps: list[SurveyResponse]) -> int:
    events = 0
    account = account_of.get(company.key)
    if account is None:
        return 0
    for message in iter_usage_events(box.world, company):  # identify messages name no group: the company does
        when = dt.datetime.fromisoformat(message["timestamp"].replace("Z", "+00:00"))
        user = message["userId"]
        email = message.get("traits", {}).get("email")
        seen = users.get(user)
        if message["type"] == "track":
            events += 1
            entry = usage[(account, user, message["event"], when.date())]
            entry[0] += 1
            entry[1] += float(message.get("properties", {}).get("minutes", 0) or 0)
            if message["event"] == "NPS Survey Submitted":
                nps.append(SurveyResponse(account_id=account, kind="nps", score=int(message["properties"]["score"]),
                                          submitted_at=when, source="collector", source_ref=message["messageId"]))
            users[user] = (account, seen[1] if seen else None, max(when, seen[2]) if seen else when)
        elif seen is None or email:
            users[user] = (account, email or (seen[1] if seen else None),
                           seen[2] if seen else dt.datetime(1970, 1, 1, tzinfo=dt.UTC))
    return events


def main() -> None:
    print(f"alerts: {COMPANIES:,} synthetic companies, stories from truth.json")
    with Sandbox(accounts=COMPANIES, seed=7, **LIMITS) as box, tempfile.TemporaryDirectory() as tmp:
        truth = json.loads(Path(box.truth_path).read_text())
        url = f"sqlite:///{tmp}/alerts.db"
        upgrade(url)
        store = Store(url)
        with store.session() as s:
            tenant, _ = create_tenant(s, "bench", "Bench")
        adapters = {system: build_adapter(system, creds, base, **SANDBOX_OPTIONS.get(system, {}))
                    for system, (creds, base, _ref) in sandbox_connections(box).items()}
        started = time.perf_counter()
        sync(store, tenant.id, adapters)
        print(f"  synced in {time.perf_counter() - started:.0f} s")
        started = time.perf_counter()
        events = fold_usage(store, tenant.id, box, truth)
        print(f"  {events:,} product events folded into daily usage in {time.perf_counter() - started:.0f} s")
        started = time.perf_counter()
        summary = score_tenant(store, tenant.id, default_model(), box.world.as_of)
        print(f"  scored {summary.accounts:,} accounts in {time.perf_counter() - started:.0f} s, "
              f"{summary.alerts_raised:,} alerts")
        print(f"  {'rule':20} {'expected':>8} {'found':>6} {'false +':>7} {'precision':>9} {'recall':>7}")
        for rule, q in alert_quality(store, tenant.id, truth).items():
            print(f"  {rule:20} {q.expected:8} {q.found:6} {q.false_positives:7} {q.precision:9.3f} {q.recall:7.3f}")
        store.dispose()


if __name__ == "__main__":
    main()
