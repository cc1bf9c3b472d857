"""The emulators' webhooks: at-least-once delivery of record changes to a target URL, as the vendors do.

An emulator built with ``webhook_url`` gets a `WebhookSender`: each record change (through the emulator's
API or in-process, e.g. `Sandbox.mutate`) becomes an item the vendor would send; a background thread
batches what is pending (HubSpot and Salesforce up to 100 a request, Zendesk one), signs each attempt
afresh as the vendor does, and POSTs it. A failed attempt (connection error, a status the vendor
retries, or an answer the vendor does not take as accepted) is retried with exponential backoff through
the injectable ``sleep``, up to ``retries`` times, then dropped (and counted). Off by default, and with
``webhook_options``: ``duplicates`` (share of batches delivered twice), ``shuffle`` (pending items sent in
a seeded random order), ``seed``, ``retries``, ``backoff_s``, ``sleep``, ``timeout_s``.

Who made a change: each emulator marks its API handling by the credential that authenticated the call:
`as_api()` for Canary's own (the integration user or app), `as_person(user_id)` for the second, human
credential every emulator also accepts (a person, or another integration, scripting the vendor with the
SDKs: `Sandbox.person_clients`); everything in-process (`Sandbox.mutate`) is a person's edit too. Each
emulator flags its events as its vendor does.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import requests

_ACTOR: ContextVar[str] = ContextVar("sandbox_actor", default="user")
OPTIONS = ("duplicates", "shuffle", "seed", "retries", "backoff_s", "sleep", "timeout_s")
Render = Callable[[list[Any]], tuple[bytes, dict[str, str]] | tuple[bytes, dict[str, str], str]]
"""A batch -> (body, headers), or (body, headers, url) when each item names its own endpoint (Zendesk)."""


@contextmanager
def as_api() -> Iterator[None]:
    """Changes made inside are the API client's (Canary's), not a person's."""
    token = _ACTOR.set("api")
    try:
        yield
    finally:
        _ACTOR.reset(token)


@contextmanager
def as_person(user_id: str) -> Iterator[None]:
    """Changes made inside are the API calls of a person's credential (vendor user or app ``user_id``)."""
    token = _ACTOR.set(f"person:{user_id}")
    try:
        yield
    finally:
        _ACTOR.reset(token)


def by_api() -> bool:
    """Canary's own API credential is acting."""
    return _ACTOR.get() == "api"


def acting_person() -> str | None:
    """The vendor user (or app) id of the person's credential acting through the API, else None."""
    actor = _ACTOR.get()
    return actor[len("person:"):] if actor.startswith("person:") else None


@dataclass
class Attempt:
    body: bytes
    headers: dict[str, str]
    status: int | None
    """None: the connection failed."""
    duplicate: bool = False


@dataclass
class SenderStats:
    attempts: list[Attempt] = field(default_factory=list)
    delivered: int = 0
    """Batches accepted by the receiver (duplicates included)."""
    dropped: int = 0
    """Batches given up on after the last retry, or refused with a status the vendor does not retry."""
    waits: list[float] = field(default_factory=list)


class WebhookSender:
    def __init__(self, url: str, render: Render, *,
                 batch_size: int = 1, accepted: Callable[[requests.Response], bool] | None = None,
                 no_retry: tuple[int, ...] = (), options: Mapping[str, Any] | None = None) -> None:
        options = dict(options or {})
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise ValueError(f"unknown webhook options {unknown}; known: {', '.join(OPTIONS)}")
        self.url = url
        self.render = render
        self.batch_size = batch_size
        self.accepted = accepted or (lambda response: 200 <= response.status_code < 300)
        self.no_retry = no_retry
        self.duplicates = float(options.get("duplicates", 0.0))
        self.shuffle = bool(options.get("shuffle", False))
        self.retries = int(options.get("retries", 8))
        self.backoff_s = float(options.get("backoff_s", 1.0))
        self.sleep: Callable[[float], None] = options.get("sleep", time.sleep)
        self.timeout_s = float(options.get("timeout_s", 10.0))
        self.random = random.Random(options.get("seed", 0))
        self.stats = SenderStats()
        self._pending: list[Any] = []
        self._busy = False
        self._closed = False
        self._cond = threading.Condition()
        self._session = requests.Session()
        self._session.trust_env = False
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
        self._thread.start()

    def emit(self, item: Any) -> None:
        with self._cond:
            self._pending.append(item)
            self._cond.notify_all()

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until everything emitted so far was delivered or dropped."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("webhook deliveries still pending")
                self._cond.wait(left)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=5)
        self._session.close()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                items, self._pending = self._pending, []
                self._busy = True
            try:
                if self.shuffle:
                    self.random.shuffle(items)
                for start in range(0, len(items), self.batch_size):
                    batch = items[start:start + self.batch_size]
                    if self._deliver(batch) and self.duplicates and self.random.random() < self.duplicates:
                        self._deliver(batch, duplicate=True)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _deliver(self, batch: list[Any], duplicate: bool = False) -> bool:
        for attempt in range(self.retries + 1):
            if self._closed:
                return False
            rendered = self.render(batch)  # signed afresh for every attempt
            body, headers = rendered[0], rendered[1]
            url = rendered[2] if len(rendered) > 2 else self.url  # a per-item endpoint (Zendesk)
            try:
                response = self._session.post(url, data=body, headers=headers, timeout=self.timeout_s)
                status: int | None = response.status_code
                ok = self.accepted(response)
            except requests.RequestException:
                status, ok = None, False
            self.stats.attempts.append(Attempt(body, headers, status, duplicate))
            if ok:
                self.stats.delivered += 1
                return True
            if status in self.no_retry or attempt == self.retries:
                break
            wait = self.backoff_s * 2 ** attempt
            self.stats.waits.append(wait)
            self.sleep(wait)
        self.stats.dropped += 1
        return False


class Webhooks:
    """What an emulator keeps: its sender once something is subscribed (the emulator's ``webhook_url``, a
    registration through its API, or `Sandbox` playing the admin), else nothing happens."""

    def __init__(self) -> None:
        self.sender: WebhookSender | None = None
        self.quiet = False
        self._render: Render | None = None
        self._options: Mapping[str, Any] | None = None
        self._kwargs: dict[str, Any] = {}

    def start(self, url: str | None, render: Render, options: Mapping[str, Any] | None, **kwargs: Any) -> None:
        """Keep how to send (``render``, ``options``, the sender's settings); send to ``url`` now if given."""
        self._render, self._options, self._kwargs = render, options, kwargs
        if options:
            unknown = sorted(set(options) - set(OPTIONS))
            if unknown:
                raise ValueError(f"unknown webhook options {unknown}; known: {', '.join(OPTIONS)}")
        if url:
            self.point(url)

    def point(self, url: str) -> None:
        """Send to ``url`` from now on (the sender starts on the first subscription)."""
        if self.sender is not None:
            self.sender.url = url
            return
        if self._render is None:
            raise RuntimeError("the emulator's webhooks were not set up (Webhooks.start)")
        self.sender = WebhookSender(url, self._render, options=self._options, **self._kwargs)

    @property
    def on(self) -> bool:
        return self.sender is not None and not self.quiet

    def emit(self, item: Any) -> None:
        if self.sender is not None and not self.quiet:
            self.sender.emit(item)

    @contextmanager
    def silenced(self) -> Iterator[None]:
        """Seeding: the world as it was before anyone subscribed."""
        before, self.quiet = self.quiet, True
        try:
            yield
        finally:
            self.quiet = before

    def flush(self, timeout: float = 30.0) -> None:
        if self.sender is not None:
            self.sender.flush(timeout)

    def close(self) -> None:
        if self.sender is not None:
            self.sender.close()
