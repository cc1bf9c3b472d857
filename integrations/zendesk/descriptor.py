"""Everything Canary's product code asks about Zendesk (see `integrations.registry`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from integrations import hosts
from integrations.base import Adapter
from integrations.registry import Installation, OAuthSpec, PanelSpec, VendorDescriptor
from integrations.zendesk.fields import vendor_key
from integrations.zendesk.signatures import verify_zendesk_signed_url

if TYPE_CHECKING:
    from integrations.oauth import OAuthClient, TokenSet


def new_adapter(**kwargs: Any) -> Adapter:
    from integrations.zendesk.adapter import ZendeskAdapter

    return ZendeskAdapter(**kwargs)


def adapter_from_credentials(credentials: Mapping[str, Any], base_url: str | None = None, **options: Any) -> Adapter:
    return new_adapter(subdomain=credentials["subdomain"], email=credentials.get("email"),
                       token=credentials.get("token"), oauth_token=credentials.get("oauth_token"),
                       url=base_url, verify=credentials.get("cert_path") or True, **options)


def identify(client: OAuthClient, tokens: TokenSet, subdomain: str | None) -> Installation:
    """The account is the subdomain the install started with (checked again)."""
    from integrations.oauth import credentials_with

    subdomain = hosts.zendesk_subdomain(subdomain)
    base: dict[str, Any] = {"cert_path": client.ca_cert} if client.ca_cert else {}
    return Installation(subdomain, subdomain, credentials_with("zendesk", {**base, "subdomain": subdomain}, tokens),
                        client.api_url)


DESCRIPTOR = VendorDescriptor(
    name="zendesk",
    label="Zendesk",
    new_adapter=new_adapter,
    adapter_from_credentials=adapter_from_credentials,
    credentials=("subdomain",),
    credential_choices=(("email", "token"), ("oauth_token",)),
    access_key="oauth_token",
    account_ref=hosts.zendesk_subdomain,
    oauth=OAuthSpec(
        authorize_url="https://{subdomain}.zendesk.com/oauth/authorizations/new",
        token_url="https://{subdomain}.zendesk.com/oauth/tokens",  # noqa: S106 (an address, not a secret)
        scopes=("read", "write"),
        identify=identify,
        json_token_requests=True,
        scope_in_code_exchange=True,
        subdomain=hosts.zendesk_subdomain,
        install_params=(("installation_id", "the Zendesk app's installation number"),),
    ),
    panel=PanelSpec(
        verify=verify_zendesk_signed_url,
        settings=("app_public_key", "installation_id"),
        setup="run `canary connect zendesk --app-public-key FILE --app-installation-id ID`",
        place="in the ticket sidebar",
        frame_ancestors=("https://*.zendesk.com",),
    ),
    field_name=vendor_key,
    helpdesk=True,
)
