"""One response policy for every answer Canary gives, and JSON refusals for oversized requests.

`init_app` registers an ``after_request`` hook that runs for every response, Flask's own 404/405
pages, ``/healthz``, the collector's ``/v1/*`` answers and errors included:

- ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer`` everywhere (callback
  and full-view URLs carry one-time codes and tokens);
- framing: a response that already chose its ``Content-Security-Policy`` keeps it (the embedded
  panels allow their vendor's domains in ``frame-ancestors``); every other answer gets
  ``frame-ancestors 'none'`` (and ``X-Frame-Options: DENY`` for old browsers), console and install
  pages with a ``script-src`` policy, the rest with ``default-src 'none'``;
- ``Cache-Control: no-store`` on everything but static files.

Panel requests (``/widgets/...``) never open the console's cookie session (`PanelFreeSessions`).

Request bodies are capped by Flask's ``MAX_CONTENT_LENGTH`` (``CANARY_MAX_CONTENT_LENGTH``,
1 MiB by default) before any view runs; a larger body answers 413 with a JSON reason.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request, Response, current_app, jsonify, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.exceptions import RequestEntityTooLarge

PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
"""Canary's own HTML pages (the console, the install pages): only Canary's own scripts and styles."""
API_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
"""Everything else (JSON, errors, health): nothing to load, nothing to frame."""
PAGE_BLUEPRINTS = frozenset({"console", "install"})


def _is_static() -> bool:
    endpoint = request.endpoint or ""
    return endpoint == "static" or endpoint.endswith(".static")


def apply_policy(response: Response) -> Response:
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    headers.setdefault("Referrer-Policy", "no-referrer")
    if "Content-Security-Policy" not in headers:
        page = request.blueprint in PAGE_BLUEPRINTS and response.mimetype == "text/html"
        headers["Content-Security-Policy"] = PAGE_CSP if page else API_CSP
    if "frame-ancestors 'none'" in headers["Content-Security-Policy"]:
        headers.setdefault("X-Frame-Options", "DENY")
    if not _is_static():
        headers["Cache-Control"] = "no-store"
    return response


def refuse_oversized_bodies() -> None:
    """Before any view (and any authentication): a declared body over the cap is refused unread.

    A body without a declared length (chunked) is cut off by Werkzeug at the same cap when read.
    """
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit and (request.content_length or 0) > limit:
        raise RequestEntityTooLarge()


def _too_large(_error: Any) -> tuple[Response, int]:
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    return jsonify({"error": f"request body larger than {limit // 1024} KB: refused before reading it"}), 413


class PanelFreeSessions(SecureCookieSessionInterface):
    """The console's cookie session, never opened for the embedded panels (``/widgets/...``).

    Panels are framed by the vendors and authenticate by signature or panel token only: their requests
    neither read nor write the console's session cookie (and skip the cost of opening it)."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith("/widgets/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    if type(app.session_interface) is SecureCookieSessionInterface:
        app.session_interface = PanelFreeSessions()
    app.before_request(refuse_oversized_bodies)
    app.after_request(apply_policy)
    app.register_error_handler(RequestEntityTooLarge, _too_large)
