"""One job per workspace and system at a time: leases that a crashed worker cannot keep forever.

`RedisLocks` (with a broker): a Redis key per lock, set with NX and a lease (``JOB_LOCK_SECONDS``)
that a heartbeat thread renews while the job runs — a worker killed mid-job stops renewing, the
lease runs out and another worker may take the job. The token in the key makes sure only the holder
renews or releases it. `LocalLocks` (inline): the same promise inside one process.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Locked(RuntimeError):
    """Another job holds the lock (the job is tried again later, or skipped)."""


class LocalLocks:
    def __init__(self) -> None:
        self._held: set[str] = set()
        self._guard = threading.Lock()

    @contextmanager
    def hold(self, name: str) -> Iterator[None]:
        with self._guard:
            if name in self._held:
                raise Locked(f"{name} is running")
            self._held.add(name)
        try:
            yield
        finally:
            with self._guard:
                self._held.discard(name)


_RENEW = ("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) "
          "else return 0 end")
_RELEASE = """if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"""


class RedisLocks:
    def __init__(self, client: Any, lease_seconds: float = 120.0, prefix: str = "canary:lock:") -> None:
        self.client, self.lease_ms, self.prefix = client, int(lease_seconds * 1000), prefix
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def holder(self, name: str) -> str | None:
        value = self.client.get(self.prefix + name)
        return value.decode() if isinstance(value, bytes) else value

    @contextmanager
    def hold(self, name: str) -> Iterator[None]:
        key, token = self.prefix + name, uuid.uuid4().hex
        if not self.client.set(key, token, nx=True, px=self.lease_ms):
            raise Locked(f"{name} is running elsewhere")
        stop = threading.Event()

        def heartbeat() -> None:
            while not stop.wait(self.lease_ms / 3000):
                if not self._renew(keys=[key], args=[token, self.lease_ms]):
                    return  # lost it (expired while this process stalled): nothing more to renew

        beat = threading.Thread(target=heartbeat, name=f"lease {name}", daemon=True)
        beat.start()
        try:
            yield
        finally:
            stop.set()
            beat.join(timeout=5)
            self._release(keys=[key], args=[token])
