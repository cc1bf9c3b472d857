"""`Sandbox`: the synthetic world served by the three vendor emulators on loopback.

::

    with Sandbox(accounts=200, seed=7) as sandbox:
        clients = sandbox.sdk_clients()
        clients.salesforce.query_all("SELECT Id, Name FROM Account")
        list(clients.zendesk.organizations())
        clients.hubspot.crm.companies.basic_api.get_page(limit=100)

``start()`` generates the world (`sandbox.generate`), writes ``truth.json`` into the work
directory, seeds each emulator, wraps it in a `FaultInjector` when ``faults > 0`` and serves
it on its own `LoopbackServer` (Salesforce over TLS with a throwaway certificate, since
simple-salesforce only speaks https). ``stop()`` shuts the servers down.

How the real SDKs are pointed at it (what `Sandbox.sdk_clients` does):

* Salesforce: ``Salesforce(instance_url=urls["salesforce"], session_id=..., session=s)`` where
  ``s`` is a ``requests.Session`` with ``verify`` set to the sandbox certificate and
  ``trust_env = False`` (otherwise ``REQUESTS_CA_BUNDLE``, when set, silently replaces
  ``verify`` and the self-signed certificate is refused).
* Zendesk: ``Zenpy(subdomain=..., email=..., token=..., session=s)`` where ``s`` carries a
  transport adapter (`LoopbackRedirect`) that sends ``<subdomain>.zendesk.com`` to the
  emulator's ``http://127.0.0.1:PORT``. zenpy's own switches, ``ZENPY_FORCE_NETLOC`` and
  ``ZENPY_FORCE_SCHEME``, are process-wide environment variables read on every request, so two
  sandboxes (or a sandbox and a real Zendesk) in one process would fight over them; the
  adapter keeps each client bound to its own sandbox. `Sandbox.zenpy_environment` sets and
  restores the variables for code that insists on them.
* HubSpot: ``HubSpot(access_token=..., host=urls["hubspot"])``.

Vendor limits and behaviour options are passed per vendor, e.g. ``Sandbox(salesforce={"daily_api_limit":
500, "field_level_security": True}, zendesk={"plan": "team", "export_deleted": True},
hubspot={"requests_per_10s": 190, "search_lag_seconds": 5})``; they reach the emulator's constructor
unchanged. Each emulator's docstring lists its real-vendor options; they are on by default (a test
switches one off to see the old behaviour).

`Sandbox.mutate` applies seeded record changes, deletions and merges across the running systems
and `Sandbox.world_state` reads back what a fresh full sync should find (`sandbox.mutate`).
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from sandbox.core import CallStats, LoopbackServer, TLSMaterial, make_self_signed_cert
from sandbox.faults import FAULT_KINDS, FaultInjector
from sandbox.generate import ProgressCallback, generate_world, write_truth
from sandbox.mutate import Mutation, TaskEdit, mutate, work_tasks, world_state
from sandbox.oauth import AuthorizationServer
from sandbox.world import World

VENDORS: tuple[str, ...] = ("salesforce", "zendesk", "hubspot")
EMULATOR_CLASSES: dict[str, tuple[str, str]] = {
    "salesforce": ("sandbox.salesforce", "SalesforceEmulator"),
    "zendesk": ("sandbox.zendesk", "ZendeskEmulator"),
    "hubspot": ("sandbox.hubspot", "HubSpotEmulator"),
}


class SandboxError(RuntimeError):
    """The sandbox cannot start as asked (an emulator missing, a port taken, a bad option)."""


@dataclass(frozen=True)
class SDKClients:
    """The three real vendor SDK clients, connected to one sandbox."""

    salesforce: Any
    """``simple_salesforce.Salesforce``"""
    zendesk: Any
    """``zenpy.Zenpy``"""
    hubspot: Any
    """``hubspot.HubSpot``"""


class LoopbackRedirect(HTTPAdapter):
    """Send requests for one vendor host (e.g. ``acme.zendesk.com``) to a local base URL.

    Only the wire changes: the ``Host`` header, ``response.url`` and ``response.request``
    keep the vendor's URL, so an SDK that checks where an answer came from (zenpy matches
    its response handlers on the request URL) and the links the emulator builds from
    ``Host`` all stay on the vendor host, and are redirected again when followed.
    """

    def __init__(self, host: str, target: str) -> None:
        super().__init__()
        self.host = host
        self.target = target.rstrip("/")

    def mount_on(self, session: requests.Session) -> requests.Session:
        for scheme in ("https", "http"):
            session.mount(f"{scheme}://{self.host}", self)
        return session

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        parts = urlsplit(request.url or "")
        if parts.hostname != self.host:
            return super().send(request, *args, **kwargs)
        wire = request.copy()
        wire.url = self.target + (request.url or "")[len(f"{parts.scheme}://{parts.netloc}") :]
        wire.headers["Host"] = parts.netloc
        response = super().send(wire, *args, **kwargs)
        response.request = request
        response.url = request.url or ""
        return response


def _loopback_session() -> requests.Session:
    """A session that ignores the environment: ``REQUESTS_CA_BUNDLE`` would override the
    session's ``verify`` (so the sandbox certificate), and an ``HTTP(S)_PROXY`` would route
    loopback calls through a proxy."""
    session = requests.Session()
    session.trust_env = False
    return session


def load_emulator_class(vendor: str) -> type:
    """The emulator class of ``vendor``; a `SandboxError` saying why when it cannot be imported."""
    if vendor not in EMULATOR_CLASSES:
        raise SandboxError(f"unknown vendor {vendor!r}; choose from {', '.join(VENDORS)}")
    module_name, class_name = EMULATOR_CLASSES[vendor]
    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, class_name)
    except (ImportError, AttributeError) as exc:
        raise SandboxError(f"the {vendor} emulator is not available ({module_name}.{class_name}): {exc}") from exc
    if not isinstance(cls, type):
        raise SandboxError(f"{module_name}.{class_name} is not a class")
    return cls


class Sandbox:
    """The embedded default: a synthetic world served by local Salesforce, Zendesk and HubSpot."""

    def __init__(
        self,
        accounts: int = 200,
        seed: int = 7,
        faults: float = 0.0,
        as_of: date | None = None,
        *,
        world: World | None = None,
        vendors: tuple[str, ...] = VENDORS,
        port_base: int | None = None,
        workdir: str | os.PathLike[str] | None = None,
        clock: Callable[[], datetime] | None = None,
        fault_kinds: tuple[str, ...] = FAULT_KINDS,
        slow_seconds: float = 1.0,
        progress: ProgressCallback | None = None,
        announce: Callable[[str], None] | None = None,
        webhooks: str | None = None,
        webhook_options: Mapping[str, Any] | None = None,
        **limits: Mapping[str, Any],
    ) -> None:
        unknown = sorted(set(limits) - set(VENDORS))
        if unknown:
            raise SandboxError(f"unknown limit groups {unknown}: pass limits as salesforce={{...}}, "
                               f"zendesk={{...}} or hubspot={{...}}")
        for vendor in vendors:
            if vendor not in VENDORS:
                raise SandboxError(f"unknown vendor {vendor!r}; choose from {', '.join(VENDORS)}")
        if not 0.0 <= faults <= 1.0:
            raise SandboxError(f"faults is a share of calls between 0 and 1, got {faults}")
        self.accounts = accounts
        self.seed = seed
        self.faults = faults
        self.as_of = as_of
        self.vendors = tuple(vendors)
        self.port_base = port_base
        self.clock = clock
        self.fault_kinds = fault_kinds
        self.slow_seconds = slow_seconds
        self.progress = progress
        self.announce: Callable[[str], None] = announce or (lambda message: None)
        self.limits = {vendor: dict(values) for vendor, values in limits.items()}
        self.webhooks = webhooks.rstrip("/") if webhooks else None
        """Canary's base URL: the sandbox subscribes each emulator to ``<base>/webhooks/<vendor>...`` at start, as the
        vendor's admin would (`play_webhook_admin`); None: nothing is sent until Canary registers (an install)."""
        self.webhook_options = dict(webhook_options or {})
        self._given_world = world
        self._given_workdir = Path(workdir) if workdir is not None else None
        self._owns_workdir = False
        self.workdir: Path | None = None
        self.world: World | None = None
        self.truth_path: Path | None = None
        self.tls: TLSMaterial | None = None
        self.emulators: dict[str, Any] = {}
        self.fault_injectors: dict[str, FaultInjector] = {}
        self.servers: dict[str, LoopbackServer] = {}
        self.oauth: dict[str, AuthorizationServer] = {}
        """Each vendor's OAuth server (`sandbox.oauth`), in front of its emulator."""

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Sandbox:
        if self.servers:
            raise SandboxError("the sandbox is already running")
        classes = {vendor: load_emulator_class(vendor) for vendor in self.vendors}
        if self._given_workdir is not None:
            self._given_workdir.mkdir(parents=True, exist_ok=True)
            self.workdir = self._given_workdir
        else:
            self.workdir = Path(tempfile.mkdtemp(prefix="canary-sandbox-"))
            self._owns_workdir = True
        try:
            if self._given_world is None:
                self.announce(f"generating {self.accounts:,} companies (seed {self.seed})")
            self.world = self._given_world or generate_world(
                self.accounts, self.seed, self.as_of, progress=self.progress
            )
            self.accounts = len(self.world.companies)
            self.truth_path = write_truth(self.world, self.workdir / "truth.json")
            if "salesforce" in self.vendors:
                self.tls = make_self_signed_cert(str(self.workdir))
            for offset, vendor in enumerate(self.vendors):
                self._start_vendor(vendor, classes[vendor], offset)
            if self.webhooks:
                self.play_webhook_admin(self.webhooks)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_vendor(self, vendor: str, cls: type, offset: int) -> None:
        assert self.world is not None
        options = {**self._webhook_settings(vendor), **self.limits.get(vendor, {})}
        try:
            emulator = cls(stats=CallStats(), clock=self.clock, **options)
        except TypeError as exc:
            raise SandboxError(f"bad {vendor} limits {self.limits.get(vendor)}: {exc}") from exc
        started = time.perf_counter()
        emulator.seed(self.world)
        self.announce(f"seeded {vendor} in {time.perf_counter() - started:.1f} s")
        self.oauth[vendor] = AuthorizationServer.for_emulator(vendor, emulator)
        app = self.oauth[vendor].wrap(emulator.wsgi_app)
        if self.faults > 0:
            injector = FaultInjector(
                app,
                rate=self.faults,
                seed=self.seed * 31 + offset,
                fault_response=emulator.fault_response,
                kinds=self.fault_kinds,
                slow_seconds=self.slow_seconds,
            )
            self.fault_injectors[vendor] = injector
            app = injector
        port = self.port_base + offset if self.port_base else 0
        try:
            server = LoopbackServer(app, port=port, tls=self.tls if vendor == "salesforce" else None)
        except OSError as exc:
            raise SandboxError(f"cannot serve {vendor} on 127.0.0.1:{port}: {exc.strerror or exc}") from exc
        except SystemExit as exc:  # werkzeug exits the process when the port is taken
            raise SandboxError(f"cannot serve {vendor} on 127.0.0.1:{port}: the port is in use") from exc
        self.emulators[vendor] = emulator
        self.servers[vendor] = server.start()

    def _webhook_settings(self, vendor: str) -> dict[str, Any]:
        """How ``vendor``'s emulator sends webhooks once something is subscribed (nothing is, at first)."""
        return {"webhook_options": self.webhook_options} if self.webhook_options else {}

    def play_webhook_admin(self, base_url: str) -> None:
        """Subscribe each running emulator to Canary at ``base_url`` as the vendor's admin would by hand, with
        the emulator's own secrets (``webhook_secret``, ``client_secret``, ``webhook_token``): Salesforce's
        outbound messages, Zendesk's two webhooks and ticket trigger, HubSpot's app settings with every event.
        ``Sandbox(webhooks=URL)`` does this at start; Canary's installs register through the vendors' APIs
        instead (`sync.subscriptions`), where the vendor has one."""
        base = base_url.rstrip("/")
        for vendor, emulator in self.emulators.items():
            creds = emulator.credentials
            if vendor == "salesforce":
                emulator.configure_outbound(f"{base}/webhooks/salesforce?token={creds['webhook_token']}")
            elif vendor == "zendesk":
                emulator.admin_subscribe(f"{base}/webhooks/zendesk/{creds['subdomain']}")
            else:
                emulator.admin_subscribe(f"{base}/webhooks/hubspot")

    def flush_webhooks(self, timeout: float = 30.0) -> None:
        """Wait until every change so far was delivered (or given up on) by every emulator."""
        for emulator in self.emulators.values():
            emulator.webhooks.flush(timeout)

    def stop(self) -> None:
        """Stop every server; a work directory the sandbox made itself is removed."""
        for emulator in self.emulators.values():
            emulator.webhooks.close()
        servers, self.servers = self.servers, {}
        for server in servers.values():
            server.stop()
        if self._owns_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self._owns_workdir = False

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ what clients need

    def _running(self) -> dict[str, LoopbackServer]:
        if not self.servers:
            raise SandboxError("the sandbox is not running: call start() first")
        return self.servers

    @property
    def urls(self) -> dict[str, str]:
        """Base URL of each vendor's emulator."""
        return {vendor: server.url for vendor, server in self._running().items()}

    @property
    def credentials(self) -> dict[str, dict[str, str]]:
        """Per vendor, what a client needs: the emulator's credentials plus where to connect."""
        out: dict[str, dict[str, str]] = {}
        for vendor, server in self._running().items():
            values = dict(self.emulators[vendor].credentials)
            values["base_url"] = server.url
            if vendor == "salesforce":
                assert self.tls is not None
                values["instance_url"] = server.url
                values["cert_path"] = self.tls.cert_path
            elif vendor == "hubspot":
                values["host"] = server.url
            out[vendor] = values
        return out

    def mutate(self, changes: int = 200, deletions: int = 30, merges: int = 5, seed: int | None = None) -> Mutation:
        """Seeded random edits, deletions and merges across the running emulators (``seed`` defaults
        to the sandbox's); the same seed on the same world always makes the same mutation."""
        self._running()
        return mutate(self.emulators, changes, deletions, merges, self.seed if seed is None else seed)

    def work_tasks(self, complete: int = 0, redate: int = 0, reassign: int = 0, seed: int | None = None,
                   systems: tuple[str, ...] | None = None,
                   task_of: Mapping[str, Hashable] | None = None) -> list[TaskEdit]:
        """A CRM user completing, re-dating and reassigning Canary's open tasks in the emulated CRMs
        (`sandbox.mutate.work_tasks`, where ``task_of`` is explained); seeded like `mutate`."""
        self._running()
        return work_tasks(self.emulators, complete, redate, reassign, self.seed if seed is None else seed, systems,
                          task_of)

    def world_state(self) -> dict[str, dict[str, Any]]:
        """Per system the live, deleted and merged ids: what a fresh full sync should reach now."""
        self._running()
        return world_state(self.emulators)

    def stats(self) -> dict[str, dict[str, Any]]:
        """Each emulator's call accounting (and injected faults when there are any)."""
        out: dict[str, dict[str, Any]] = {}
        for vendor, emulator in self.emulators.items():
            snapshot = emulator.stats.snapshot()
            if vendor in self.fault_injectors:
                snapshot["faults"] = self.fault_injectors[vendor].snapshot()
            out[vendor] = snapshot
        return out

    def salesforce_client(self, *, person: bool = False) -> Any:
        """simple_salesforce on Canary's session (the integration user), or with ``person`` the org user's."""
        from simple_salesforce import Salesforce

        creds = self.credentials["salesforce"]
        session = _loopback_session()
        session.verify = creds["cert_path"]
        session_id = creds["person_session_id" if person else "session_id"]
        return Salesforce(instance_url=creds["instance_url"], session_id=session_id, session=session)

    def zendesk_client(self, *, person: bool = False) -> Any:
        """zenpy with Canary's API credentials, or with ``person`` an agent's own e-mail and API token."""
        from zenpy import Zenpy

        creds = self.credentials["zendesk"]
        session = LoopbackRedirect(f"{creds['subdomain']}.zendesk.com", creds["base_url"]).mount_on(
            _loopback_session()
        )
        email, token = (creds["person_email"], creds["person_token"]) if person else (creds["email"], creds["token"])
        return Zenpy(subdomain=creds["subdomain"], email=email, token=token, session=session)

    def hubspot_client(self, *, person: bool = False) -> Any:
        """The HubSpot client with Canary's app token, or with ``person`` another private app's."""
        from hubspot import HubSpot

        creds = self.credentials["hubspot"]
        return HubSpot(access_token=creds["person_access_token" if person else "access_token"], host=creds["host"])

    def sdk_clients(self) -> SDKClients:
        """Ready real SDK clients for the three emulators (all three must be running)."""
        missing = [vendor for vendor in VENDORS if vendor not in self._running()]
        if missing:
            raise SandboxError(f"not running in this sandbox: {', '.join(missing)}")
        return SDKClients(self.salesforce_client(), self.zendesk_client(), self.hubspot_client())

    def person_clients(self) -> SDKClients:
        """Real SDK clients on each emulator's second, human credential (``person_session_id``,
        ``person_email`` + ``person_token``, ``person_access_token``): what they change is a person's
        doing (Salesforce `LastModifiedById` that user, Zendesk's trigger names that agent, HubSpot
        ``changeSource`` INTEGRATION with the other app's id), so Canary's loop guards hand it over."""
        missing = [vendor for vendor in VENDORS if vendor not in self._running()]
        if missing:
            raise SandboxError(f"not running in this sandbox: {', '.join(missing)}")
        return SDKClients(self.salesforce_client(person=True), self.zendesk_client(person=True),
                          self.hubspot_client(person=True))

    @contextmanager
    def zenpy_environment(self) -> Iterator[None]:
        """Set ``ZENPY_FORCE_NETLOC``/``ZENPY_FORCE_SCHEME`` for this sandbox, restoring them after."""
        url = urlsplit(self.urls["zendesk"])
        wanted = {"ZENPY_FORCE_NETLOC": url.netloc, "ZENPY_FORCE_SCHEME": url.scheme}
        saved = {key: os.environ.get(key) for key in wanted}
        os.environ.update(wanted)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
