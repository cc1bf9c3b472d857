"""The MIME message of one e-mail (pure: the caller passes the Message-ID, the date and the addresses).

A rendered template becomes ``multipart/alternative`` with the plain-text part first and the HTML part
last (readers show the last part they understand). Campaign e-mail carries the RFC 8058 headers:
``List-Unsubscribe: <https://…/u/TOKEN>, <mailto:…>`` and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``.
"""

from __future__ import annotations

import binascii
import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from email.header import Header
from email.utils import format_datetime

from mail.templates import Rendered

ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                     r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
ONE_CLICK = "List-Unsubscribe=One-Click"


class AddressError(ValueError):
    """Not an e-mail address Canary sends to or from."""


def check_address(address: str, what: str = "address") -> str:
    """The address stripped, or `AddressError` (no display names, no line breaks, one ``@``, a dotted domain)."""
    value = (address or "").strip()
    if len(value) > 254 or not ADDRESS.match(value):
        raise AddressError(f"{what} {value[:80]!r} is not an e-mail address like name@example.com")
    return value


def domain_of(address: str) -> str:
    return address.rsplit("@", 1)[1].lower()


@dataclass(frozen=True)
class Unsubscribe:
    """Where a recipient unsubscribes: the one-click HTTPS URL and the mailto address."""

    url: str
    mailto: str
    """The mailto URI's address and query, e.g. ``list@example.com?subject=unsubscribe%20TOKEN``."""

    def header(self) -> str:
        return f"<{self.url}>, <mailto:{self.mailto}>"


def _header(name: str, value: str) -> bytes:
    """One header line; a non-ASCII value as RFC 2047 encoded words. Line breaks in a value are refused:
    no header can be smuggled in (subjects are rendered on one line, addresses checked, URLs ours)."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"the {name} header would contain a line break")
    text = value if value.isascii() else Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    return f"{name}: {text}\r\n".encode("ascii")


def _part(subtype: str, text: str) -> bytes:
    """A UTF-8 text part, quoted-printable (7-bit safe, lines of at most 76 characters), CRLF line ends."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n")
    body = binascii.b2a_qp(lines.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")
    return (f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n'
            f"\r\n").encode("ascii") + body + b"\r\n"  # the CRLF before a boundary is the boundary's


def build_message(rendered: Rendered, *, to: str, sender: str, message_id: str, date: dt.datetime,
                  unsubscribe: Unsubscribe | None = None) -> bytes:
    """The e-mail as it is stored in the outbox and handed to SMTP, byte for byte the same at every try:
    ``multipart/alternative``, the plain-text part then the HTML part, both quoted-printable UTF-8.

    Written directly rather than through `email.message.EmailMessage`, whose header objects cost ~5 times the
    template's rendering; the tests read every message back with Python's standard parser. The MIME boundary
    is derived from the Message-ID (``=_`` cannot occur in quoted-printable text)."""
    boundary = "=_canary_" + hashlib.sha256(message_id.encode()).hexdigest()[:32]
    head = [_header("From", check_address(sender, "from address")), _header("To", check_address(to, "recipient")),
            _header("Subject", rendered.subject), _header("Date", format_datetime(date.astimezone(dt.UTC))),
            _header("Message-ID", message_id), b"MIME-Version: 1.0\r\n"]
    if unsubscribe is not None:
        head += [_header("List-Unsubscribe", unsubscribe.header()), _header("List-Unsubscribe-Post", ONE_CLICK)]
    head.append(f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'.encode("ascii"))
    delimiter = f"--{boundary}\r\n".encode("ascii")
    return b"".join([*head, delimiter, _part("plain", rendered.text), delimiter, _part("html", rendered.html),
                     f"--{boundary}--\r\n".encode("ascii")])
