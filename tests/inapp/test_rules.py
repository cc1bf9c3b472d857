"""The pure in-app rules: the identity hash, origins, message fields, push endpoints."""

from __future__ import annotations

import datetime as dt

import pytest

from inapp.rules import InAppError, check_push_endpoint, hash_matches, is_pending, parse_origins, user_hash
from tests.shared import WORLD_NOW


def test_the_hash_is_hex_hmac_sha256_of_the_user_id() -> None:
    # The example every identity-verification guide uses: HMAC-SHA256("Message") keyed with "secret".
    assert user_hash("secret", "Message") == "aa747c502a898200f9e4fa21bac68136f886a0e27aec70ba06daf2e2a5cb5597"
    good = user_hash("s3cret", "u-42")
    assert hash_matches("s3cret", "u-42", good) is True
    assert hash_matches("s3cret", "u-42", good.upper()) is True
    assert hash_matches("s3cret", "u-43", good) is False
    assert hash_matches("s3cret", "u-42", good[:-1]) is False
    assert hash_matches(None, "u-42", good) is False
    assert hash_matches("s3cret", "u-42", None) is False


def test_origins_are_exact_and_deduplicated() -> None:
    assert parse_origins("https://App.example.com/\nhttps://app.example.com, http://localhost:3000") == [
        "https://app.example.com", "http://localhost:3000"]
    for bad in ("https://*.example.com", "app.example.com", "https://app.example.com/path", "ftp://x.example"):
        with pytest.raises(InAppError, match="is not an origin"):
            parse_origins(bad)


def test_pending_means_not_dismissed_clicked_or_expired() -> None:
    later = WORLD_NOW + dt.timedelta(days=1)
    assert is_pending(now=WORLD_NOW, expires_at=later, dismissed_at=None, clicked_at=None) is True
    assert is_pending(now=later, expires_at=later, dismissed_at=None, clicked_at=None) is False
    assert is_pending(now=WORLD_NOW, expires_at=None, dismissed_at=WORLD_NOW, clicked_at=None) is False
    assert is_pending(now=WORLD_NOW, expires_at=None, dismissed_at=None, clicked_at=WORLD_NOW) is False


def test_push_endpoints() -> None:
    ok = "https://fcm.googleapis.com/fcm/send/abc"
    assert check_push_endpoint(ok) == ok
    assert check_push_endpoint("http://127.0.0.1:9/x", allow_loopback=True) == "http://127.0.0.1:9/x"
    for bad in ("https://[::1]/x", "https://192.168.1.4/x", "https://app.localhost/x", "https://0.0.0.0/x", ""):
        with pytest.raises(InAppError, match="endpoint must be"):
            check_push_endpoint(bad)
