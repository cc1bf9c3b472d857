"""The vendor registry: every vendor has a complete descriptor, and production code finds vendors only there."""

from __future__ import annotations

import dataclasses
import inspect
import re
from typing import Any

import pytest

from integrations import registry
from integrations.base import Adapter
from integrations.registry import (
    VENDOR_NAMES,
    OAuthSpec,
    PanelSpec,
    UnknownVendor,
    VendorDescriptor,
    adapter_for,
    vendor,
    vendors,
)
from sync.connections import ConnectionError_, build_adapter, check_credentials
from sync.push import HEALTH_FIELDS

ADAPTER_METHODS = ("check_connection", "pull", "ensure_fields", "push_fields")


def test_every_vendor_has_its_descriptor() -> None:
    assert VENDOR_NAMES == ("salesforce", "zendesk", "hubspot")
    assert [d.name for d in vendors()] == list(VENDOR_NAMES)
    for name in VENDOR_NAMES:
        descriptor = vendor(name)
        assert isinstance(descriptor, VendorDescriptor) and descriptor.name == name
        assert vendor(name) is descriptor  # loaded once


@pytest.mark.parametrize("name", VENDOR_NAMES)
def test_descriptor_fields_are_complete(name: str) -> None:
    descriptor = vendor(name)
    required = [f.name for f in dataclasses.fields(VendorDescriptor)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    assert len(required) >= 9
    for field_name in required:
        value = getattr(descriptor, field_name)
        assert value not in (None, "", ()), f"{name}.{field_name} is empty"
    assert descriptor.label[0].isupper() and descriptor.label.lower() == name
    assert descriptor.access_key in ("access_token", "oauth_token")
    assert isinstance(descriptor.oauth, OAuthSpec) and isinstance(descriptor.panel, PanelSpec)
    assert descriptor.oauth.authorize_url.startswith("https://")
    assert descriptor.oauth.token_url.startswith("https://")
    assert descriptor.oauth.scopes and all(descriptor.oauth.scopes)
    assert callable(descriptor.oauth.identify) and callable(descriptor.panel.verify)
    assert descriptor.panel.settings and descriptor.panel.setup.startswith("run `canary connect " + name)
    assert descriptor.panel.frame_ancestors and all(o.startswith("https://") for o in descriptor.panel.frame_ancestors)
    assert "replay_guard" in inspect.signature(descriptor.panel.verify).parameters
    adapter_type = descriptor.adapter_type()
    assert adapter_type.system == name and callable(adapter_type.from_credentials)


@pytest.mark.parametrize("name", VENDOR_NAMES)
def test_every_health_field_has_a_vendor_name(name: str) -> None:
    names = [vendor(name).field_name(spec.key) for spec in HEALTH_FIELDS]
    assert len(HEALTH_FIELDS) == 5
    assert len(set(names)) == len(names) and all("canary" in n.lower() for n in names)


@pytest.mark.parametrize(("name", "credentials", "missing"), [
    ("salesforce", {"instance_url": "https://acme.my.salesforce.com"}, "access_token"),
    ("zendesk", {"subdomain": "acme"}, "email and token (or oauth_token)"),
    ("zendesk", {"subdomain": "acme", "email": "a@acme.test"}, "email and token (or oauth_token)"),
    ("hubspot", {}, "access_token"),
])
def test_missing_credentials_are_named(name: str, credentials: dict[str, Any], missing: str) -> None:
    assert vendor(name).missing_credentials(credentials) == [missing]
    with pytest.raises(ConnectionError_, match=re.escape(f"{name}: missing {missing}")):
        check_credentials(name, credentials)


@pytest.mark.parametrize(("name", "credentials", "base_url", "adapter_class"), [
    ("salesforce", {"instance_url": "https://acme.my.salesforce.com", "access_token": "t"}, None,
     "SalesforceAdapter"),
    ("zendesk", {"subdomain": "acme", "oauth_token": "t"}, "http://127.0.0.1:9", "ZendeskAdapter"),
    ("hubspot", {"access_token": "t"}, "http://127.0.0.1:9", "HubSpotAdapter"),
])
def test_adapters_are_built_from_the_descriptor(name: str, credentials: dict[str, Any], base_url: str | None,
                                                adapter_class: str) -> None:
    adapter: Adapter = build_adapter(name, credentials, base_url)
    assert type(adapter).__name__ == adapter_class and adapter.system == name
    assert all(callable(getattr(adapter, method)) for method in ADAPTER_METHODS)


@pytest.mark.parametrize("call", [
    lambda: vendor("pipedrive"),
    lambda: adapter_for("pipedrive"),
])
def test_an_unknown_vendor_is_a_clear_error(call: Any) -> None:
    with pytest.raises(UnknownVendor, match=r"unknown vendor 'pipedrive'; choose salesforce, zendesk or hubspot"):
        call()


def test_an_unknown_system_is_a_clear_connection_error() -> None:
    with pytest.raises(ConnectionError_, match=r"unknown system 'pipedrive'; choose salesforce, zendesk or hubspot"):
        build_adapter("pipedrive", {})


def test_a_descriptor_module_must_describe_its_own_vendor(monkeypatch: pytest.MonkeyPatch) -> None:
    zendesk = vendor("zendesk")
    monkeypatch.setattr(registry, "_loaded", {})
    import integrations.zendesk.descriptor as module

    monkeypatch.setattr(module, "DESCRIPTOR", dataclasses.replace(zendesk, name="hubspot"))
    with pytest.raises(TypeError, match="not the descriptor of 'zendesk'"):
        vendor("zendesk")


@pytest.mark.parametrize(("name", "account_ref", "expected"), [
    ("salesforce", "00D5g000000Acme", "https://login.salesforce.com/0015g00000AbCdE"),
    ("hubspot", "4711", "https://app.hubspot.com/contacts/4711/company/0015g00000AbCdE"),
    ("zendesk", "acme", "https://acme.zendesk.com/agent/organizations/0015g00000AbCdE"),
])
def test_each_vendor_says_where_a_person_opens_an_account_record(name: str, account_ref: str, expected: str) -> None:
    assert vendor(name).record_url("0015g00000AbCdE", account_ref) == expected


@pytest.mark.parametrize("name", ["hubspot", "zendesk"])
def test_no_record_url_without_the_vendor_account(name: str) -> None:
    assert vendor(name).record_url("42", None) is None
