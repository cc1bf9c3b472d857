"""Issue 11, finding 6: batches racing to introduce the same new account and users all succeed.

Real races: a threaded WSGI server on loopback, 40 clients released together by a barrier, each
request in its own database session, on SQLite and on PostgreSQL; the batches folded after the answers (the
collector's default: the fold job takes them one after another) or each in its own request (``COLLECTOR_FOLD =
"request"``: forty folds racing).
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

import jobs
from extensions import canary_store
from sandbox.core import LoopbackServer
from store.models import Account, CollectedMessage, ProductUser, SourceLink, UsageDaily
from tests.collector.conftest import auth, group, post, track

RACERS = 40
USERS = [f"racer-{n}" for n in range(8)]


def _race(app: Any, bodies: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Send every body at once, each from its own thread; the answers in the same order."""
    barrier = threading.Barrier(len(bodies))
    answers: dict[int, tuple[int, dict[str, Any]]] = {}
    headers = {**auth(), "Content-Type": "application/json"}

    def send(n: int, url: str) -> None:
        with requests.Session() as http:
            barrier.wait(timeout=60)
            response = http.post(f"{url}/v1/batch", data=json.dumps(bodies[n]), headers=headers, timeout=120)
        answers[n] = (response.status_code, response.json())

    with LoopbackServer(app) as server:
        threads = [threading.Thread(target=send, args=(n, server.url)) for n in range(len(bodies))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=180)
        jobs.queue_of(app).drain()
    assert sorted(answers) == list(range(len(bodies)))
    return [answers[n] for n in range(len(bodies))]


def _account_batch(racer: int) -> dict[str, Any]:
    """A group call introducing the account for one user, then one event of every user (all new)."""
    first = group("acct-race", USERS[racer % len(USERS)], name="Race Condition Inc")
    first["messageId"] = f"g-{racer}"
    events = [track(f"t-{racer}-{user}", user, "Report Created", "acct-race", minutes=2) for user in USERS]
    return {"batch": [first, *events]}


FOLDS = pytest.mark.parametrize("fold", ["background", "request"])


@FOLDS
def test_forty_concurrent_batches_introducing_the_same_account_and_users_all_succeed(collector_app: Any,
                                                                                     fold: str) -> None:
    collector_app.config["COLLECTOR_FOLD"] = fold
    answers = _race(collector_app, [_account_batch(n) for n in range(RACERS)])
    assert {status for status, _ in answers} == {200}
    assert {body["accepted"] for _, body in answers} == {1 + len(USERS)}
    store = canary_store(collector_app)
    with store.session(collector_app.config["TEST_TENANT"]) as s:
        account_ids = s.scalars(select(Account.id).where(Account.name == "Race Condition Inc")).all()
        assert len(account_ids) == 1
        links = s.execute(select(SourceLink.external_id, SourceLink.account_id, SourceLink.method)
                          .where(SourceLink.system == "product")).all()
        assert links == [("acct-race", account_ids[0], "new")]
        users = s.execute(select(ProductUser.user_key, ProductUser.account_id)).all()
        assert sorted(users) == sorted((user, account_ids[0]) for user in USERS)
        assert s.scalar(select(func.count()).select_from(CollectedMessage)) == RACERS * (1 + len(USERS))
        usage = s.execute(select(UsageDaily.user_key, UsageDaily.count, UsageDaily.minutes)).all()
        assert sorted(usage) == [(user, RACERS, 2.0 * RACERS) for user in USERS]


@FOLDS
def test_forty_concurrent_batches_introducing_the_same_users_of_a_known_account_all_succeed(
        collector_app: Any, fold: str) -> None:
    collector_app.config["COLLECTOR_FOLD"] = fold
    client = collector_app.test_client()
    assert post(client, "/v1/batch", {"batch": [group("acct-known", "founder", name="Known Ltd")]}).status_code == 200
    newcomers = [f"newcomer-{n}" for n in range(12)]
    bodies = [{"batch": [track(f"n-{racer}-{user}", user, "Logged In", "acct-known") for user in newcomers]}
              for racer in range(RACERS)]
    answers = _race(collector_app, bodies)
    assert {status for status, _ in answers} == {200}
    assert {body["accepted"] for _, body in answers} == {len(newcomers)}
    with canary_store(collector_app).session(collector_app.config["TEST_TENANT"]) as s:
        account_id = s.scalars(select(Account.id).where(Account.name == "Known Ltd")).one()
        users = s.execute(select(ProductUser.user_key, ProductUser.account_id)).all()
        assert sorted(users) == sorted((user, account_id) for user in ["founder", *newcomers])
        assert s.scalar(select(func.count()).select_from(CollectedMessage)) == 1 + RACERS * len(newcomers)
        usage = s.execute(select(UsageDaily.user_key, UsageDaily.count)).all()
        assert sorted(usage) == sorted((user, RACERS) for user in newcomers)
