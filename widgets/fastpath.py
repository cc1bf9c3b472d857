"""The Zendesk panel's repeat requests answered in front of Flask: one indexed read, no request machinery.

A support agent's sidebar asks ``GET /widgets/zendesk/panel`` on every ticket it shows, with the panel
session the signed sidebar handed out. Most such requests find what the process answered a moment ago:
a session whose signature was already checked, and an account whose stored view has not changed. For
those, Flask's request context, routing, hooks and response object cost more than the answer itself.

`PanelFastPath` wraps the app's WSGI callable. For a panel request it checks, in this order and with
the same rules as `widgets.embed` (whose functions it calls):

1. the session: a bearer token this process verified before under the app's current key, not expired,
   issued for the Zendesk panel (`embed.known_session`, `embed._session_for`);
2. the organization id: ASCII digits, as the view requires;
3. the account's view: `store.panel_views.lookup` — the same single statement over three unique indexes
   the view runs, scoped to the session's workspace — current for today;
4. the answer: the exact status, headers and body Flask gave for this view key, variant and framing
   policy, kept when Flask answered it (`embed.PANEL_ANSWER`).

Anything else — a first request, a new or changed view, an expired or unknown session, a bad id, a body
— goes to Flask unchanged, which answers (and refuses) as before. So every answer is byte for byte one
Flask gave, for a session checked and a view read in this request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from itsdangerous import SignatureExpired

from extensions import canary_store
from store import panel_views
from widgets import embed

PATH = "/widgets/zendesk/panel"
VENDOR = "zendesk"

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class PanelFastPath:
    """WSGI middleware in front of the Flask app (see the module's docstring)."""

    def __init__(self, app: Any, wsgi_app: WSGIApp) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.served = 0
        """Answers given here, without Flask (for tests and benchmarks)."""

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "GET":
            return self.wsgi_app(environ, start_response)
        if environ.get("CONTENT_LENGTH") not in (None, "", "0"):
            return self.wsgi_app(environ, start_response)
        answer = self._answer(environ)
        if answer is not None:
            status, headers, body = answer
            start_response(status, list(headers))
            self.served += 1
            return [body]
        return self._through_flask(environ, start_response)

    def _extras(self) -> tuple[str, ...]:
        """The configuration the panel's framing policy depends on, beside the view (part of the key)."""
        return tuple(self.app.config.get("WIDGET_FRAME_ANCESTORS_EXTRA", []))

    def _answer(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes] | None:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        if not auth.startswith("Bearer ") or len(auth) == 7:
            return None
        try:
            known = embed.known_session(self.app, auth[7:])
        except SignatureExpired:
            return None
        if known is None or not embed._session_for(known[0], VENDOR):
            return None
        tenant = int(known[0]["t"])
        args = dict(reversed(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)))
        organization_id = args.get("organization_id", "").strip()
        if not (organization_id.isascii() and organization_id.isdigit()):
            return None
        variant = "full" if args.get("variant") == "full" else "compact"
        found = panel_views.lookup(canary_store(self.app).engine, tenant, VENDOR, organization_id,
                                   embed._today(self.app))
        if found is None or found.payload is None:
            return None
        entry = embed._panel_cache(self.app).get(found.key)
        if entry is None:
            return None
        kept: tuple[str, list[tuple[str, str]], bytes] | None = entry.get(("answer", variant, self._extras()))
        return kept

    def _through_flask(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Flask answers; a 200 from a current view is kept whole for the next request that finds it."""
        seen: dict[str, Any] = {}

        def keep_start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen["status"], seen["headers"] = status, list(headers)
            if exc_info is not None:
                return start_response(status, headers, exc_info)
            return start_response(status, headers)

        chunks = self.wsgi_app(environ, keep_start)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        marked = environ.get(embed.PANEL_ANSWER)
        if marked is not None and str(seen.get("status", "")).startswith("200 "):
            key, variant, vendor = marked
            entry = embed._panel_cache(self.app).get(key)
            if entry is not None and vendor == VENDOR:
                entry[("answer", variant, self._extras())] = (seen["status"], seen["headers"], body)
        return [body]


def install(app: Any) -> None:
    """Put the fast path in front of ``app``'s WSGI callable (once)."""
    if not isinstance(app.wsgi_app, PanelFastPath):
        app.wsgi_app = PanelFastPath(app, app.wsgi_app)


__all__ = ["PATH", "PanelFastPath", "install"]
