"""Every input a host or URL is built from is checked whole: no trailing newline, no control characters."""

from __future__ import annotations

import pytest

from integrations import hosts
from integrations.oauth import ConfigurationError, client_from_config
from integrations.registry import vendor


@pytest.mark.parametrize(("value", "expected"), [
    ("acme", "acme"), ("ACME", "acme"), ("acme.zendesk.com", "acme"), ("a-1-b", "a-1-b"), ("x" * 63, "x" * 63),
])
def test_zendesk_subdomains_accepted(value: str, expected: str) -> None:
    assert hosts.zendesk_subdomain(value) == expected


@pytest.mark.parametrize("value", [
    "evil\n", "evil\n.zendesk.com", "\nevil", "ev\x00il", "evil\r", "a b", " acme", "acme ", "a.b", "-a", "a-",
    "x" * 64, "acme\u2028", "acme.zendesk.com.evil.com", "", None, 42, "ac/me", "acme:80", "acme@x",
])
def test_zendesk_subdomains_refused(value: object) -> None:
    with pytest.raises(hosts.InvalidHost):
        hosts.zendesk_subdomain(value)


@pytest.mark.parametrize(("value", "expected"), [
    ("https://acme.my.salesforce.com", "https://acme.my.salesforce.com"),
    ("https://acme.my.salesforce.com/", "https://acme.my.salesforce.com"),
    ("https://127.0.0.1:8443", "https://127.0.0.1:8443"),
])
def test_salesforce_instance_urls_accepted(value: str, expected: str) -> None:
    assert hosts.salesforce_instance_url(value) == expected


@pytest.mark.parametrize(("value", "says"), [
    ("http://acme.my.salesforce.com", "https"),
    ("http://127.0.0.1:8443", "https"),
    ("https://acme.my.salesforce.com\n", "control characters"),
    ("https://acme.my.salesforce.com%0a.evil.com", "valid host"),
    ("https://user:pw@acme.my.salesforce.com", "user name"),
    ("https://evil.com#@acme.my.salesforce.com", "query or fragment"),
    ("https://acme.my.salesforce.com?x=1", "query or fragment"),
    ("https://acme.my.salesforce.com/services", "path"),
    ("https://acme.my.salesforce.com:99999", "host or port"),
    ("https://[::1", "host or port"),
    ("javascript:alert(1)", "https"),
    ("https://under_score.example", "valid host"),
])
def test_salesforce_instance_urls_refused(value: str, says: str) -> None:
    with pytest.raises(hosts.InvalidHost, match=says):
        hosts.salesforce_instance_url(value)


@pytest.mark.parametrize(("value", "ok"), [
    ("http://127.0.0.1:5000", True), ("http://localhost:5000/api", True), ("https://api.hubapi.com", True),
    ("http://api.hubapi.com", False), ("https://api.hubapi.com?x", False), ("ftp://api.hubapi.com", False),
])
def test_base_urls(value: str, ok: bool) -> None:
    if ok:
        assert hosts.base_url(value) == value
    else:
        with pytest.raises(hosts.InvalidHost):
            hosts.base_url(value)


@pytest.mark.parametrize(("system", "value", "ok"), [
    ("salesforce", "00D5g000004CnryEAC", True), ("salesforce", "00D5g000004Cnry", True),
    ("salesforce", "00D5g000004CnryEAC\n", False), ("salesforce", "001000000000001", False),
    ("hubspot", "24681357", True), ("hubspot", 24681357, True), ("hubspot", "2468x", False),
    ("hubspot", "²", False), ("zendesk", "acme", True), ("zendesk", "acme\n", False),
])
def test_account_refs(system: str, value: object, ok: bool) -> None:
    if ok:
        assert vendor(system).account_ref(value) == str(value)
    else:
        with pytest.raises(hosts.InvalidHost):
            vendor(system).account_ref(value)


def test_the_oauth_client_refuses_a_malformed_subdomain_too() -> None:
    config = {"OAUTH_ZENDESK_CLIENT_ID": "id", "OAUTH_ZENDESK_CLIENT_SECRET": "secret"}
    assert client_from_config("zendesk", config, "Acme").token_url == "https://acme.zendesk.com/oauth/tokens"
    with pytest.raises(ConfigurationError, match="control characters"):
        client_from_config("zendesk", config, "evil\n")


def test_display_names_lose_control_characters() -> None:
    assert hosts.display_name("acme\n.hubspot.com\x00") == "acme .hubspot.com"
    assert hosts.display_name(None) == ""
