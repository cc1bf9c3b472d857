"""Serve the Flask app with gunicorn, the production WSGI server, from the `canary` CLI.

gunicorn's access log would record what Canary's own logging never does: the query string
(OAuth ``code`` and ``state`` on install callbacks, the HubSpot full view's ``token``), the
referrer (which repeats those URLs) and the HTTP Basic user name (the collector's write key).
`RedactedGunicornLogger` logs requests by path only, without a user name or header values, and
puts every gunicorn log line (access and error) through the same redacting filter as the app.
"""

from __future__ import annotations

import gc
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from cli.logs import RedactingFilter, redact
from extensions import KEY, canary_store

ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(L)s "%(a)s"'
"""Client, time, request line (path only), status, bytes, seconds, user agent."""
_SAFE_ATOMS = ("h", "l", "t", "s", "m", "U", "H", "b", "B", "a", "T", "D", "M", "L", "p")


class RedactedGunicornLogger(Logger):
    """gunicorn's logger without query strings, referrers, user names or headers, and redacted."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, RedactingFilter) for f in log.filters):
                log.addFilter(RedactingFilter())

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        every = super().atoms(resp, req, environ, request_time)
        atoms = {key: every[key] for key in _SAFE_ATOMS if key in every}
        atoms["a"] = redact(str(atoms.get("a", "-")))
        atoms["u"] = "-"
        atoms["q"] = "-"
        atoms["f"] = "-"
        atoms["r"] = f"{environ.get('REQUEST_METHOD', '-')} {environ.get('PATH_INFO', '-')} " \
                     f"{environ.get('SERVER_PROTOCOL', '-')}"
        return atoms


class CanaryServer(BaseApplication):
    """gunicorn serving an app already loaded in this process (the master): each worker is a fork of it,
    ready as soon as it is forked, and shares the loaded code and data copy-on-write."""

    def __init__(self, app: Any, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Any:
        return self.application


def _pre_fork(_server: Any, _worker: Any) -> None:
    """Move what loading the app made (modules, models, templates: ~170,000 objects) out of the cyclic
    collector's reach before forking. A worker's full collection otherwise walks all of them — 100 ms
    measured under load, every thread of the worker stalled meanwhile, which was the panel's p99 — and
    touching their headers un-shares the pages copy-on-write gave the workers. Safe: those objects live as
    long as the process anyway; what requests create is still collected."""
    gc.collect()
    gc.freeze()


def _post_fork(_server: Any, worker: Any) -> None:
    """Each worker opens its own database connections (never share a pool across fork). Another WSGI app
    served the same way (the benchmark's floors) has none."""
    application = worker.app.application
    if isinstance(application, Flask) and KEY in application.extensions:
        canary_store(application).engine.dispose(close=False)


def server_options(*, host: str, port: int, workers: int, threads: int = 4) -> dict[str, Any]:
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "pre_fork": _pre_fork,
        "post_fork": _post_fork,
        "accesslog": "-",
        "errorlog": "-",
        "loglevel": "info",
        "logger_class": RedactedGunicornLogger,
        "access_log_format": ACCESS_LOG_FORMAT,
    }


def serve_app(app: Flask, *, host: str, port: int, workers: int, threads: int = 4) -> None:
    print(f"Canary is serving on http://{host}:{port}/  (Ctrl-C to stop)", flush=True)
    CanaryServer(app, server_options(host=host, port=port, workers=workers, threads=threads)).run()
