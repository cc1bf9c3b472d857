"""gunicorn's access and error lines under `canary serve`: path only, no user name, referrer or secrets."""

from __future__ import annotations

import base64
import datetime as dt
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from gunicorn.config import Config

from cli.serve import ACCESS_LOG_FORMAT, RedactedGunicornLogger, server_options


@pytest.fixture
def logger() -> RedactedGunicornLogger:
    cfg = Config()
    for key, value in server_options(host="127.0.0.1", port=5000, workers=1).items():
        cfg.set(key, value)
    return RedactedGunicornLogger(cfg)


def _environ(path: str, query: str, **headers: str) -> dict[str, Any]:
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"{path}?{query}", "PATH_INFO": path, "QUERY_STRING": query,
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.0.0.7"}
    environ.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    return environ


def test_server_options_use_the_redacting_logger() -> None:
    options = server_options(host="0.0.0.0", port=8000, workers=3)
    assert options["logger_class"] is RedactedGunicornLogger
    assert options["access_log_format"] == ACCESS_LOG_FORMAT
    assert "%(q)s" not in ACCESS_LOG_FORMAT and "%(u)s" not in ACCESS_LOG_FORMAT and "%(f)s" not in ACCESS_LOG_FORMAT


def test_access_line_has_the_path_but_no_query_user_or_referrer(logger: RedactedGunicornLogger,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    basic = base64.b64encode(b"wk_secret_write_key_123:").decode()
    environ = _environ("/install/hubspot/callback", "code=oauth-code-123&state=state-456",
                       authorization=f"Basic {basic}", referer="https://vendor/authorize?state=state-456")
    response = SimpleNamespace(status="200 OK", sent=12, headers=[("Set-Cookie", "canary_install=flow-cookie")])
    request = SimpleNamespace(headers=[("AUTHORIZATION", f"Basic {basic}")])
    logger.access_log.propagate = True
    with caplog.at_level(logging.INFO, logger="gunicorn.access"):
        logger.access(response, request, environ, dt.timedelta(seconds=0, microseconds=1500))
    (line,) = {r.getMessage() for r in caplog.records if r.name == "gunicorn.access"}
    assert '"GET /install/hubspot/callback HTTP/1.1" 200 12 0.001500' in line
    for secret in ("oauth-code-123", "state-456", "wk_secret_write_key_123", basic, "flow-cookie", "authorize"):
        assert secret not in line


def test_format_fields_naming_headers_or_the_query_print_a_dash(logger: RedactedGunicornLogger) -> None:
    environ = _environ("/widgets/hubspot/full", "token=full-view-token-1", authorization="Bearer abc.def")
    atoms = logger.atoms(SimpleNamespace(status="200 OK", sent=1, headers=[]),
                         SimpleNamespace(headers=[("AUTHORIZATION", "Bearer abc.def")]), environ,
                         dt.timedelta(seconds=1))
    assert atoms["r"] == "GET /widgets/hubspot/full HTTP/1.1" and atoms["q"] == "-" and atoms["u"] == "-"
    assert "{authorization}i" not in atoms and "{query_string}e" not in atoms
    assert not [v for v in atoms.values() if "full-view-token-1" in str(v) or "abc.def" in str(v)]


def test_error_lines_are_redacted(logger: RedactedGunicornLogger, caplog: pytest.LogCaptureFixture) -> None:
    logger.error_log.propagate = True
    with caplog.at_level(logging.INFO, logger="gunicorn.error"):
        logger.error("Error handling request %s", "/widgets/hubspot/full?token=full-view-token-2&x=1")
    assert "full-view-token-2" not in caplog.text
    assert "/widgets/hubspot/full?token=[redacted]&x=1" in caplog.text


def test_workers_are_forked_with_the_loaded_app_out_of_the_cyclic_collectors_reach() -> None:
    """`canary serve` freezes what loading the app made before each fork (a worker's full collection would
    otherwise walk it all, stalling its threads), and a fork of any other WSGI app is served too."""
    import gc

    from flask import Flask

    options = server_options(host="127.0.0.1", port=5000, workers=2)
    gc.unfreeze()
    loaded = [["an object the loaded app holds"]]  # a list: tracked by the cyclic collector
    try:
        assert any(o is loaded for o in gc.get_objects())
        options["pre_fork"](None, None)
        assert not any(o is loaded for o in gc.get_objects())  # frozen: out of every generation
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    assert any(o is loaded for o in gc.get_objects())
    plain = Flask("plain")
    options["post_fork"](None, SimpleNamespace(app=SimpleNamespace(application=plain)))  # no Canary store: no error
