"""Serve the Flask app with gunicorn, the production WSGI server, from the `canary` CLI."""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


class CanaryServer(BaseApplication):
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def _post_fork(_server: Any, worker: Any) -> None:
    """Each worker opens its own database connections (never share a pool across fork)."""
    store = worker.app.application.extensions.get("canary.store")
    if store is not None:
        store.engine.dispose(close=False)


def serve_app(app: Flask, *, host: str, port: int, workers: int, threads: int = 4) -> None:
    print(f"Canary is serving on http://{host}:{port}/  (Ctrl-C to stop)", flush=True)
    CanaryServer(
        app,
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "post_fork": _post_fork,
            "accesslog": "-",
            "errorlog": "-",
            "loglevel": "info",
        },
    ).run()
