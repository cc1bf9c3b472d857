"""Normalised company names and domains: the keys identity resolution matches on.

Pure functions, shared by the sync (linking vendor records) and the usage collector
(linking the product's own account ids to synced accounts).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from urllib.parse import urlsplit

_LEGAL_SUFFIXES = {
    "inc", "incorporated", "corp", "corporation", "co", "company", "llc", "ltd", "limited", "plc",
    "gmbh", "ag", "sa", "sas", "srl", "bv", "nv", "oy", "ab", "as", "pty", "kk", "kg", "group",
    "the",
}
_CO_KG = re.compile(r"&\s*co\.?\s*kg\b")
_DOTTED = re.compile(r"\b(?:[a-z]\.){2,}")
_GENERIC_HOSTS = {
    "gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com", "icloud.com",
    "aol.com", "proton.me", "protonmail.com", "example.com",
}


@lru_cache(maxsize=1 << 16)  # identity resolution asks for the same records' keys several times a run
def normalise_domain(value: str | None) -> str | None:
    """``https://www.Acme.com/about`` → ``acme.com``; e-mail addresses give their domain.

    Free-mail and placeholder hosts give None: they identify nobody.
    """
    if not value:
        return None
    text = value.strip().lower()
    if not text:
        return None
    if "@" in text and "://" not in text:
        text = text.rsplit("@", 1)[1]
    if "://" not in text:
        text = "//" + text
    host = urlsplit(text).hostname or ""
    host = host.strip(".")
    if host.startswith("www."):
        host = host[4:]
    if "." not in host or host in _GENERIC_HOSTS:
        return None
    return host


@lru_cache(maxsize=1 << 16)
def normalise_name(value: str | None) -> str | None:
    """``ACME Corporation, Inc.`` → ``acme``: case, accents, punctuation and legal suffixes dropped."""
    if not value:
        return None
    text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().lower()
    text = _CO_KG.sub(" ", text)  # "GmbH & Co. KG" is one legal form
    text = _DOTTED.sub(lambda m: m.group(0).replace(".", ""), text)  # "L.L.C." -> "llc"
    text = text.replace("&", " and ")
    words = re.findall(r"[a-z0-9]+", text)
    while words and words[-1] in _LEGAL_SUFFIXES:
        words.pop()
    while words and words[0] == "the":
        words.pop(0)
    return " ".join(words) or None
