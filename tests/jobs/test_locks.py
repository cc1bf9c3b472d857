"""Job locks on a real Redis: one holder at a time, renewed while held, released after, and a crashed
holder's lease runs out so another worker may take the job."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import redis

from jobs.locks import LocalLocks, Locked, RedisLocks
from tests.redis_server import redis_server


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


def test_one_holder_at_a_time_and_renewed_past_its_lease(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    locks = RedisLocks(client, lease_seconds=0.6)
    with locks.hold("sync:1:salesforce"):
        with pytest.raises(Locked, match="sync:1:salesforce is running elsewhere"), \
                RedisLocks(client).hold("sync:1:salesforce"):
            pass
        time.sleep(1.5)  # past the lease: the heartbeat keeps it
        assert locks.holder("sync:1:salesforce") is not None
        with RedisLocks(client).hold("sync:1:hubspot"):  # another system is another lock
            pass
    assert locks.holder("sync:1:salesforce") is None
    with locks.hold("sync:1:salesforce"):
        pass


def test_a_killed_holders_lease_runs_out(redis_url: str) -> None:
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time, redis\n"
        "from jobs.locks import RedisLocks\n"
        f"locks = RedisLocks(redis.Redis.from_url({redis_url!r}), lease_seconds=1.0)\n"
        "with locks.hold('sync:2:zendesk'):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        client = redis.Redis.from_url(redis_url)
        with pytest.raises(Locked), RedisLocks(client).hold("sync:2:zendesk"):
            pass
        holder.kill()
        holder.wait(timeout=10)
        deadline = time.monotonic() + 5
        while RedisLocks(client).holder("sync:2:zendesk") is not None:
            assert time.monotonic() < deadline, "the dead holder's lease never ran out"
            time.sleep(0.1)
        with RedisLocks(client).hold("sync:2:zendesk"):
            pass
    finally:
        holder.kill()


def test_local_locks_in_one_process() -> None:
    locks = LocalLocks()
    with locks.hold("push:1:hubspot"), pytest.raises(Locked), locks.hold("push:1:hubspot"):
        pass
    with locks.hold("push:1:hubspot"):
        pass
