"""Strict checks for every input a host name or URL is built from.

Each function takes the whole value (``fullmatch``; no stripping that could hide a trailing
newline), refuses control characters and whitespace anywhere, and returns the normalised value
or raises `InvalidHost` with a message that says what is expected.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

_ZENDESK_SUBDOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_SALESFORCE_ORG_ID = re.compile(r"00D[A-Za-z0-9]{12,15}")
_HUBSPOT_PORTAL_ID = re.compile(r"[0-9]{1,20}")
_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029]")
LOOPBACK_NAMES = frozenset({"localhost"})


class InvalidHost(ValueError):
    """A host-forming input is malformed; the message says what is expected."""


def _printable(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidHost(f"{what} is missing")
    if _UNSAFE.search(value):
        raise InvalidHost(f"{what} contains spaces or control characters")
    return value


def zendesk_subdomain(value: object) -> str:
    """``acme`` (or ``acme.zendesk.com``) -> ``acme``; letters, digits and inner hyphens only."""
    text = _printable(value, "the Zendesk subdomain").lower()
    text = text.removesuffix(".zendesk.com")
    if not _ZENDESK_SUBDOMAIN.fullmatch(text):
        raise InvalidHost("the Zendesk subdomain must be letters, digits and hyphens (the part before "
                          ".zendesk.com)")
    return text


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.split(".")
    return len(host) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels)


def base_url(value: object, what: str = "the URL", *, https_only: bool = False) -> str:
    """An ``https://host[:port][/path]`` URL (``http`` only for loopback hosts), without a trailing slash.

    Refused: user info, a query or fragment, a malformed host or port.
    """
    text = _printable(value, what)
    try:
        parts = urlsplit(text)
        host, port = (parts.hostname or ""), parts.port
    except ValueError:
        raise InvalidHost(f"{what} is not a valid URL (host or port)") from None
    if parts.scheme not in ("https", "http") or not host or not _valid_host(host):
        raise InvalidHost(f"{what} must be an https:// URL with a valid host name")
    if parts.scheme == "http" and (https_only or not _is_loopback(host)):
        raise InvalidHost(f"{what} must use https://" + ("" if https_only else
                                                          " (plain http is allowed only for this machine)"))
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise InvalidHost(f"{what} must not contain a user name or password")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise InvalidHost(f"{what} must not have a query or fragment")
    if port == 0:
        raise InvalidHost(f"{what} has an invalid port")
    return text.rstrip("/")


def salesforce_instance_url(value: object) -> str:
    """A Salesforce instance URL: https, a plain host (``https://acme.my.salesforce.com``), no path."""
    url = base_url(value, "the Salesforce instance URL", https_only=True)
    if urlsplit(url).path:
        raise InvalidHost("the Salesforce instance URL must not have a path")
    return url


def salesforce_org_id(value: object) -> str:
    text = _printable(value, "the Salesforce org id")
    if not _SALESFORCE_ORG_ID.fullmatch(text):
        raise InvalidHost("the Salesforce org id starts with 00D followed by 12 or 15 letters and digits")
    return text


def hubspot_portal_id(value: object) -> str:
    text = _printable(str(value) if isinstance(value, int) and not isinstance(value, bool) else value,
                      "the HubSpot portal id")
    if not _HUBSPOT_PORTAL_ID.fullmatch(text):
        raise InvalidHost("the HubSpot portal (hub) id is a number")
    return text


def display_name(value: object, limit: int = 200) -> str:
    """A vendor-supplied name for display: control characters dropped, trimmed to ``limit``."""
    text = value if isinstance(value, str) else ""
    return _UNSAFE.sub(" ", text).strip()[:limit]
