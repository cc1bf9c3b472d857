"""The MIME message of one e-mail (pure: the caller passes the Message-ID, the date and the addresses).

A rendered template becomes ``multipart/alternative`` with the plain-text part first and the HTML part
last (readers show the last part they understand). Campaign e-mail carries the RFC 8058 headers:
``List-Unsubscribe: <https://…/u/TOKEN>, <mailto:…>`` and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from mail.templates import Rendered

ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                     r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
ONE_CLICK = "List-Unsubscribe=One-Click"
POLICY = SMTP.clone(max_line_length=998)
"""CRLF line ends; headers folded only past RFC 5322's hard limit, so ``List-Unsubscribe`` (two URLs with a
43-character token) stays on one line for the simple parsers some mailbox providers use."""


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


def build_message(rendered: Rendered, *, to: str, sender: str, message_id: str, date: dt.datetime,
                  unsubscribe: Unsubscribe | None = None) -> EmailMessage:
    """The e-mail as it is stored in the outbox and handed to SMTP, byte for byte the same at every try."""
    message = EmailMessage(policy=POLICY)
    message["From"] = check_address(sender, "from address")
    message["To"] = check_address(to, "recipient")
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(date.astimezone(dt.UTC))
    message["Message-ID"] = message_id
    if unsubscribe is not None:
        message["List-Unsubscribe"] = unsubscribe.header()
        message["List-Unsubscribe-Post"] = ONE_CLICK
    message.set_content(rendered.text, subtype="plain", charset="utf-8")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8")
    return message
