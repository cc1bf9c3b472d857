"""`Sandbox`: three emulators on loopback answering the real SDKs; the ``sandbox serve`` CLI."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from sandbox import cli as sandbox_cli_module
from sandbox.cli import sandbox_cli
from sandbox.server import EMULATOR_CLASSES, Sandbox, SandboxError

AS_OF = date(2026, 11, 23)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(accounts=40, seed=5, as_of=AS_OF) as running:
        yield running


def _in(sandbox: Sandbox, system: str) -> set[str]:
    assert sandbox.world is not None
    return {c.presence[system].external_id for c in sandbox.world.companies if system in c.presence}


def test_the_three_sdks_read_the_seeded_companies(sandbox: Sandbox) -> None:
    clients = sandbox.sdk_clients()
    before = {vendor: stats["calls_total"] for vendor, stats in sandbox.stats().items()}

    accounts = clients.salesforce.query_all("SELECT Id, Name FROM Account")["records"]
    organizations = list(clients.zendesk.organizations())
    companies = clients.hubspot.crm.companies.get_all()

    assert {a["Id"] for a in accounts} == _in(sandbox, "salesforce")
    assert {str(o.id) for o in organizations} == _in(sandbox, "zendesk")
    assert {c.id for c in companies} == _in(sandbox, "hubspot")
    after = sandbox.stats()
    for vendor in ("salesforce", "zendesk", "hubspot"):
        assert after[vendor]["calls_total"] > before[vendor]
    assert "ZENPY_FORCE_NETLOC" not in os.environ


def test_truth_file_matches_the_world(sandbox: Sandbox) -> None:
    assert sandbox.truth_path is not None and sandbox.world is not None
    truth = json.loads(sandbox.truth_path.read_text())
    assert truth["as_of"] == AS_OF.isoformat() and truth["seed"] == 5
    assert [c["key"] for c in truth["companies"]] == [c.key for c in sandbox.world.companies]


def test_credentials_say_how_to_connect(sandbox: Sandbox) -> None:
    creds = sandbox.credentials
    assert creds["salesforce"]["instance_url"].startswith("https://127.0.0.1:")
    assert os.path.exists(creds["salesforce"]["cert_path"])
    assert creds["zendesk"]["base_url"] == sandbox.urls["zendesk"]
    assert creds["hubspot"]["host"] == sandbox.urls["hubspot"]
    stats = requests.get(sandbox.urls["hubspot"] + "/_sandbox/stats", timeout=5)
    assert stats.status_code == 200 and "calls_total" in stats.json()


def test_wrong_credentials_get_the_vendor_401(sandbox: Sandbox) -> None:
    response = requests.get(sandbox.urls["hubspot"] + "/crm/v3/objects/companies",
                            headers={"Authorization": "Bearer wrong"}, timeout=5)
    assert response.status_code == 401


def test_two_sandboxes_keep_their_zendesk_clients_apart(sandbox: Sandbox) -> None:
    with Sandbox(accounts=12, seed=99, as_of=AS_OF, vendors=("zendesk",)) as other:
        mine = {o.name for o in sandbox.zendesk_client().organizations()}
        theirs = {o.name for o in other.zendesk_client().organizations()}
        assert other.world is not None
        assert theirs == {c.presence["zendesk"].name for c in other.world.companies if "zendesk" in c.presence}
        assert mine.isdisjoint(theirs)
        with other.zenpy_environment():
            assert os.environ["ZENPY_FORCE_NETLOC"] == other.urls["zendesk"].removeprefix("http://")
        assert "ZENPY_FORCE_NETLOC" not in os.environ


def test_faults_wrap_every_emulator_and_are_reported() -> None:
    with Sandbox(accounts=8, seed=2, faults=1.0, as_of=AS_OF, fault_kinds=("503",),
                 vendors=("zendesk", "hubspot")) as faulty:
        for vendor in ("zendesk", "hubspot"):
            response = requests.get(faulty.urls[vendor] + "/api/v2/organizations.json", timeout=5)
            assert response.status_code == 503
            assert faulty.stats()[vendor]["faults"]["injected"] == {"503": 1}
            assert faulty.stats()[vendor]["calls_total"] == 0


def test_limits_reach_the_emulator_constructor() -> None:
    with Sandbox(accounts=3, as_of=AS_OF, vendors=("zendesk",), zendesk={"plan": "team"}) as limited:
        assert limited.emulators["zendesk"].plan == "team"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"salesforce_limit": 5}, "unknown limit groups"),
        ({"vendors": ("pipedrive",)}, "unknown vendor"),
        ({"faults": 2.0}, "between 0 and 1"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(SandboxError, match=message):
        Sandbox(accounts=3, **options)


def test_a_missing_emulator_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setitem(EMULATOR_CLASSES, "hubspot", ("sandbox.nowhere", "HubSpotEmulator"))
    with pytest.raises(SandboxError, match="the hubspot emulator is not available"):
        Sandbox(accounts=3, workdir=tmp_path).start()
    result = CliRunner().invoke(sandbox_cli, ["serve", "--accounts", "3"])
    assert result.exit_code == 1
    assert "hubspot emulator is not available" in result.output


def test_stopped_sandbox_refuses_connections() -> None:
    running = Sandbox(accounts=3, as_of=AS_OF, vendors=("hubspot",)).start()
    url = running.urls["hubspot"]
    workdir = running.workdir
    running.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url + "/_sandbox/stats", timeout=2)
    assert workdir is not None and not workdir.exists()
    with pytest.raises(SandboxError, match="not running"):
        _ = running.urls


def test_cli_serve_prints_urls_credentials_and_truth(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    seen: dict[str, Any] = {}

    def interrupt() -> None:
        seen["stats"] = requests.get(seen["url"] + "/_sandbox/stats", timeout=5).status_code
        raise KeyboardInterrupt

    original = sandbox_cli_module.describe

    def describe(sandbox: Sandbox) -> str:
        seen["url"] = sandbox.urls["zendesk"]
        return original(sandbox)

    monkeypatch.setattr(sandbox_cli_module, "_wait_forever", interrupt)
    monkeypatch.setattr(sandbox_cli_module, "describe", describe)
    result = CliRunner().invoke(sandbox_cli, ["serve", "--accounts", "20", "--seed", "3", "--as-of", "2026-11-23",
                                              "--workdir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert seen["stats"] == 200
    for text in ("salesforce: https://127.0.0.1:", "zendesk: http://127.0.0.1:", "hubspot: http://127.0.0.1:",
                 "session_id:", "cert_path:", "access_token:", f"truth.json: {tmp_path / 'truth.json'}",
                 "generating companies: 20/20"):
        assert text in result.output
    assert (tmp_path / "truth.json").exists()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(seen["url"] + "/_sandbox/stats", timeout=2)


def test_a_taken_port_is_a_clear_error_and_leaves_nothing_behind() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        sandbox = Sandbox(accounts=3, as_of=AS_OF, vendors=("hubspot",), port_base=port)
        with pytest.raises(SandboxError, match=f"cannot serve hubspot on 127.0.0.1:{port}"):
            sandbox.start()
    assert sandbox.servers == {}
    assert sandbox.workdir is not None and not sandbox.workdir.exists()
