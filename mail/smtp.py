"""Handing messages to an SMTP server: one connection kept open for a batch, STARTTLS, login, and each
failure sorted by what the outbox should do with it (`SendFailure.permanent`).

SMTP's own rule sorts them: a 4xx reply, a dropped connection or a timeout is temporary (try again later);
a 5xx reply is permanent. A 5xx refusing the recipient (``RCPT TO``) is about that address: the message
fails at once. A 5xx to the whole transaction (``MAIL FROM``, ``DATA``, ``AUTH``) is more often the
server's configuration, which an admin fixes: the outbox tries such a message a few times before it fails.
Error texts never carry the password or user name (`scrub`).
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from dataclasses import dataclass, field
from types import TracebackType

DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    starttls: bool = True
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    from_address: str = "canary@localhost"
    timeout: float = DEFAULT_TIMEOUT
    ca_file: str | None = None
    """A CA bundle to verify the server's STARTTLS certificate with (None: the system's)."""

    def __repr__(self) -> str:
        return (f"SmtpSettings(host={self.host!r}, port={self.port}, starttls={self.starttls}, "
                f"username={'set' if self.username else None}, password=[redacted])")


class SendFailure(Exception):
    """One message did not go. ``permanent``: a 5xx reply; ``recipient``: the recipient was refused."""

    def __init__(self, reason: str, permanent: bool, recipient: bool = False, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.permanent, self.recipient, self.code = reason, permanent, recipient, code


def scrub(text: str, settings: SmtpSettings) -> str:
    for secret in (settings.password, settings.username):
        if secret:
            text = text.replace(secret, "[redacted]")
    return text[:900]


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def classify(exc: BaseException, settings: SmtpSettings) -> SendFailure:
    """What an exception from smtplib (or the socket under it) means for the outbox."""
    if isinstance(exc, SendFailure):
        return exc
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(exc.recipients.values()), (0, b""))
        return SendFailure(scrub(f"recipient refused: {code} {_text(reply)}", settings), permanent=code >= 500,
                           recipient=code >= 500, code=code)
    if isinstance(exc, smtplib.SMTPResponseException):
        stage = {smtplib.SMTPSenderRefused: "sender refused", smtplib.SMTPDataError: "message refused",
                 smtplib.SMTPAuthenticationError: "login refused", smtplib.SMTPHeloError: "greeting refused"
                 }.get(type(exc), "server refused")
        return SendFailure(scrub(f"{stage}: {exc.smtp_code} {_text(exc.smtp_error)}", settings),
                           permanent=exc.smtp_code >= 500, code=exc.smtp_code)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return SendFailure(scrub(f"server does not support it: {exc}", settings), permanent=True)
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return SendFailure(scrub(f"TLS failed: {type(exc).__name__}: {exc}", settings), permanent=False)
    return SendFailure(scrub(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, settings),
                       permanent=False)


class SmtpSender:
    """Sends raw messages over one SMTP connection, opened on first use and again after a drop.

    Use as a context manager; `send` raises `SendFailure` and leaves the sender usable for the next message.
    """

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def connect(self) -> None:
        """Open, greet, STARTTLS when asked (refusing a server without it), log in. Raises `SendFailure`."""
        if self._smtp is not None:
            return
        s = self.settings
        try:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        except Exception as exc:
            raise classify(exc, s) from None
        try:
            smtp.ehlo()
            if s.starttls:
                if not smtp.has_extn("starttls"):
                    raise SendFailure("the server does not offer STARTTLS, and these settings require it",
                                      permanent=True)
                smtp.starttls(context=ssl.create_default_context(cafile=s.ca_file))
                smtp.ehlo()
            if s.username:
                _login(smtp, s.username, s.password or "")
        except Exception as exc:
            _quietly_close(smtp)
            raise classify(exc, s) from None
        self._smtp = smtp

    def send(self, sender: str, to: str, raw: bytes) -> None:
        """Hand one message over (the server answered 250 to its data) or raise `SendFailure`."""
        self.connect()
        assert self._smtp is not None
        try:
            self._smtp.sendmail(sender, [to], raw)
        except Exception as exc:
            failure = classify(exc, self.settings)
            if not isinstance(exc, smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused):
                self.close()  # the connection is in an unknown state: a fresh one for the next message
            raise failure from None

    def close(self) -> None:
        if self._smtp is not None:
            smtp, self._smtp = self._smtp, None
            try:
                smtp.quit()
            except Exception:
                _quietly_close(smtp)


def _login(smtp: smtplib.SMTP, username: str, password: str) -> None:
    """AUTH PLAIN (else LOGIN) once: unlike `smtplib.SMTP.login`, no second mechanism after a 535 — the
    credentials are wrong whatever the mechanism."""
    advertised = smtp.esmtp_features.get("auth", "").upper().split()
    for mechanism in ("PLAIN", "LOGIN"):
        if mechanism in advertised:
            smtp.user, smtp.password = username, password
            smtp.auth(mechanism, getattr(smtp, f"auth_{mechanism.lower()}"), initial_response_ok=True)
            return
    smtp.login(username, password)  # another mechanism (CRAM-MD5), or SMTPNotSupportedError


def _quietly_close(smtp: smtplib.SMTP) -> None:
    with contextlib.suppress(Exception):  # closing a broken connection: nothing more to do
        smtp.close()
