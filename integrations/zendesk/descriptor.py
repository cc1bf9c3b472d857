"""Everything Canary's product code asks about Zendesk (see `integrations.registry`)."""

from __future__ import annotations

from integrations import hosts
from integrations.oauth import OAuthClient, TokenSet, installed_credentials
from integrations.registry import Installation, OAuthSpec, PanelSpec, VendorDescriptor
from integrations.zendesk.fields import vendor_key
from integrations.zendesk.signatures import verify_zendesk_signed_url


def identify(client: OAuthClient, tokens: TokenSet, subdomain: str | None) -> Installation:
    """The account is the subdomain the install started with (checked again)."""
    subdomain = hosts.zendesk_subdomain(subdomain)
    return Installation(subdomain, subdomain, installed_credentials(client, tokens, subdomain=subdomain),
                        client.api_url)


DESCRIPTOR = VendorDescriptor(
    name="zendesk",
    label="Zendesk",
    adapter_class="integrations.zendesk.adapter:ZendeskAdapter",
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
        settings=(("app_public_key", "Zendesk app public key"),
                  ("installation_id", "Zendesk app installation id")),
        setup="run `canary connect zendesk --app-public-key FILE --app-installation-id ID`",
        place="in the ticket sidebar",
        frame_ancestors=("https://*.zendesk.com",),
    ),
    field_name=vendor_key,
    record_url=lambda external_id, subdomain: (f"https://{subdomain}.zendesk.com/agent/organizations/{external_id}"
                                               if subdomain else None),
    helpdesk=True,
)
