"""`SandboxProcess` serves from a child process the same world `Sandbox` serves in process, with what clients need."""

from __future__ import annotations

import pytest
import requests

from bench.bench_pipeline import LIMITS, RAW
from cli.demo import sandbox_connections
from sandbox.process import SandboxProcess
from sandbox.server import Sandbox, SandboxError
from tests.shared import WORLD_AS_OF


def test_served_apart_the_same_pages_as_in_process() -> None:
    with Sandbox(accounts=40, seed=5, as_of=WORLD_AS_OF, **LIMITS) as here:
        expected = {system: walk(here.credentials[system]) for system, walk in RAW.items()}
        truth = here.truth_path.read_text() if here.truth_path else ""
    apart = SandboxProcess(accounts=40, seed=5, as_of=WORLD_AS_OF, **LIMITS).start()
    try:
        assert apart.process is not None and apart.process.pid is not None
        walked = {system: walk(apart.credentials[system]) for system, walk in RAW.items()}
        assert walked == expected
        assert all(n > 0 for n in walked.values())
        assert apart.truth_path is not None and apart.truth_path.read_text() == truth
        connections = sandbox_connections(apart)  # what the bench builds its adapters from
        assert set(connections) == {"salesforce", "zendesk", "hubspot"}
        assert connections["salesforce"][2] and connections["zendesk"][2] == apart.credentials["zendesk"]["subdomain"]
        assert apart.cpu_seconds() > 0.0  # the child served the walks (and built the world)
        url = apart.urls["hubspot"]
    finally:
        apart.stop()
    assert apart.process is None
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/crm/v3/objects/companies", timeout=5)


def test_a_sandbox_that_cannot_start_says_why() -> None:
    with pytest.raises(SandboxError, match=r"could not start.*unknown vendor"):
        SandboxProcess(accounts=5, vendors=("nosuch",)).start()
