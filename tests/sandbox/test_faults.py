"""Fault injection over real HTTP: reproducible by seed, each kind behaving as documented."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from werkzeug.wrappers import Request, Response

from sandbox.core import LoopbackServer, TLSMaterial, make_self_signed_cert
from sandbox.faults import FAULT_KINDS, FaultInjector


class EchoApp:
    """A stand-in emulator: answers 200 with the path and counts what reached it."""

    def __init__(self) -> None:
        self.reached: list[str] = []
        self.fault_calls: list[tuple[str, int]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.reached.append(request.path)
        return Response(f"ok {request.path}", status=200)(environ, start_response)

    def fault_response(self, kind: str, retry_after: int) -> Response:
        self.fault_calls.append((kind, retry_after))
        headers = {"Retry-After": str(retry_after)} if kind == "429" else {}
        return Response(f'{{"error": "vendor {kind}"}}', status=int(kind), headers=headers,
                        content_type="application/json")


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


@pytest.fixture(scope="module")
def tls() -> TLSMaterial:
    return make_self_signed_cert()


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[LoopbackServer] = []

    def start(app: Any, tls: TLSMaterial | None = None) -> str:
        server = LoopbackServer(app, tls=tls).start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.stop()


def _outcomes(url: str, calls: int, verify: Any = True) -> list[str]:
    session = _session()
    out = []
    for number in range(calls):
        try:
            response = session.get(f"{url}/api/{number}", timeout=5, verify=verify)
            out.append(str(response.status_code))
        except requests.exceptions.ConnectionError:
            out.append("dropped")
    return out


def test_same_seed_same_faults_other_seed_other_faults(serve: Any) -> None:
    kinds = ("429", "500", "503", "drop")
    runs = []
    for seed in (5, 5, 6):
        app = EchoApp()
        injector = FaultInjector(app, rate=0.3, seed=seed, fault_response=app.fault_response, kinds=kinds)
        runs.append((_outcomes(serve(injector), 40), injector))
    (first, one), (second, two), (third, _) = runs
    assert first == second
    assert first != third
    assert one.log == two.log
    faulted = [o for o in first if o != "200"]
    assert 4 <= len(faulted) <= 22
    assert one.snapshot()["injected_total"] == len(faulted)


def test_decisions_follow_the_seeded_sequence_and_use_every_kind() -> None:
    app = EchoApp()
    first, second = (FaultInjector(app, rate=0.5, seed=9, fault_response=app.fault_response) for _ in range(2))
    decisions = [first.decide() for _ in range(300)]
    assert decisions == [second.decide() for _ in range(300)]
    assert {d for d in decisions if d is not None} == set(FAULT_KINDS)


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 1.0])
def test_rate_is_the_share_of_faulted_calls(rate: float) -> None:
    app = EchoApp()
    injector = FaultInjector(app, rate=rate, seed=1, fault_response=app.fault_response)
    faulted = sum(injector.decide() is not None for _ in range(2000))
    assert abs(faulted / 2000 - rate) <= 0.03


@pytest.mark.parametrize(("kind", "status", "retry_after"), [("429", 429, "3"), ("500", 500, None), ("503", 503, None)])
def test_status_faults_use_the_vendor_shape(serve: Any, kind: str, status: int, retry_after: str | None) -> None:
    app = EchoApp()
    injector = FaultInjector(app, rate=1.0, seed=1, fault_response=app.fault_response, kinds=(kind,),
                             retry_after=3)
    response = _session().get(serve(injector) + "/api/x", timeout=5)
    assert response.status_code == status
    assert response.json() == {"error": f"vendor {kind}"}
    assert response.headers.get("Retry-After") == retry_after
    assert app.fault_calls == [(kind, 3)]
    assert app.reached == []


@pytest.mark.parametrize("over_tls", [False, True])
def test_dropped_connection_is_a_client_connection_error(serve: Any, tls: TLSMaterial, over_tls: bool) -> None:
    app = EchoApp()
    injector = FaultInjector(app, rate=1.0, seed=1, fault_response=app.fault_response, kinds=("drop",))
    url = serve(injector, tls if over_tls else None)
    verify = tls.cert_path if over_tls else True
    for _ in range(3):  # the server survives and keeps dropping
        with pytest.raises(requests.exceptions.ConnectionError):
            _session().get(url + "/api/x", timeout=5, verify=verify)
    assert app.reached == [] and app.fault_calls == []
    assert injector.injected["drop"] == 3
    ok = _session().get(url + "/_sandbox/stats", timeout=5, verify=verify)
    assert ok.status_code == 200 and ok.text == "ok /_sandbox/stats"


def test_slow_answers_pass_through_after_the_delay(serve: Any) -> None:
    app = EchoApp()
    injector = FaultInjector(app, rate=1.0, seed=1, fault_response=app.fault_response, kinds=("slow",),
                             slow_seconds=0.3)
    started = time.monotonic()
    response = _session().get(serve(injector) + "/api/slow", timeout=5)
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200 and response.text == "ok /api/slow"
    assert app.reached == ["/api/slow"]


def test_sandbox_routes_are_never_faulted(serve: Any) -> None:
    app = EchoApp()
    injector = FaultInjector(app, rate=1.0, seed=1, fault_response=app.fault_response, kinds=FAULT_KINDS)
    url = serve(injector)
    for _ in range(10):
        assert _session().get(url + "/_sandbox/stats", timeout=5).status_code == 200
    faults = _session().get(url + "/_sandbox/faults", timeout=5).json()
    assert faults == {"rate": 1.0, "seed": 1, "calls": 0, "injected": {}, "injected_total": 0}
    assert app.reached == ["/_sandbox/stats"] * 10


@pytest.mark.parametrize(
    ("options", "message"),
    [({"rate": 1.5}, "between 0 and 1"), ({"rate": 0.1, "kinds": ("418",)}, "unknown fault kinds"),
     ({"rate": 0.1, "kinds": ()}, "unknown fault kinds")],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    app = EchoApp()
    with pytest.raises(ValueError, match=message):
        FaultInjector(app, seed=1, fault_response=app.fault_response, **options)
