"""Logging that never shows a secret.

`RedactingFilter` masks credential-looking values (bearer tokens, passwords, API
tokens, session ids, client secrets, connection-URL passwords, and the values of URL query
parameters that carry one: OAuth ``code`` and ``state``, ``token``, ``signed_request``, ...) in
every record, and any exact secret value registered with `register_secret` (e.g.
``CANARY_SECRET_KEY``). `canary serve` puts gunicorn's own logs through it too (`cli.serve`).
"""

from __future__ import annotations

import logging
import re
import threading

MASK = "[redacted]"
QUERY_SECRET_PARAMS = ("code", "state", "token", "signed_request", "jwt", "session", "access_token",
                       "refresh_token", "id_token", "client_secret", "key", "signature", "sig")
"""URL query parameters whose values are masked wherever a URL is logged."""

_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=!-]{6,}"),
    re.compile(
        r"""(?ix)
        (["']?(?:password|passwd|secret|client_secret|consumer_secret|token|access_token|
        refresh_token|api_key|apikey|session_id|sessionid|authorization|credentials?)["']?
        \s*[:=]\s*["']?)
        (?!\[redacted\])([^"'\s,&}<>)\]]+)
        """
    ),
    re.compile(r"(?i)(://[^:/@\s]+:)([^@\s]+)(@)"),
    re.compile(r"(?i)([?&;](?:" + "|".join(QUERY_SECRET_PARAMS) + r")=)(?!\[redacted\])[^&;#\s\"'<>]+"),
]

_registered: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask this exact value wherever it would appear in a log line."""
    if value and len(value) >= 6:
        with _lock:
            _registered.add(value)


def redact(text: str) -> str:
    for value in list(_registered):
        if value in text:
            text = text.replace(value, MASK)
    text = _PATTERNS[0].sub(lambda m: m.group(1) + MASK, text)
    text = _PATTERNS[1].sub(lambda m: m.group(1) + MASK, text)
    text = _PATTERNS[2].sub(lambda m: m.group(1) + MASK + m.group(3), text)
    text = _PATTERNS[3].sub(lambda m: m.group(1) + MASK, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


def setup_logging(level: str = "INFO") -> None:
    """Root handler to stderr with the redacting filter; idempotent."""
    root = logging.getLogger()
    if not any(getattr(h, "_canary", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler._canary = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the sandbox's per-request lines
