"""Everything Canary's product code asks about HubSpot (see `integrations.registry`)."""

from __future__ import annotations

from integrations import hosts
from integrations.hubspot.fields import property_name
from integrations.hubspot.signatures import verify_hubspot_v3
from integrations.oauth import OAuthClient, TokenSet, installed_credentials
from integrations.registry import Installation, OAuthSpec, PanelSpec, VendorDescriptor


def identify(client: OAuthClient, tokens: TokenSet, subdomain: str | None) -> Installation:
    """The portal (``hub_id``) and its domain from the token-information endpoint."""
    from integrations.hubspot.wire import token_info  # loads the HubSpot SDK: only when an install runs

    info = token_info(client, tokens.access_token)
    hub_id = hosts.hubspot_portal_id(info.get("hub_id"))
    return Installation(hub_id, hosts.display_name(info.get("hub_domain")) or f"HubSpot {hub_id}",
                        installed_credentials(client, tokens, hub_id=hub_id), client.api_url)


DESCRIPTOR = VendorDescriptor(
    name="hubspot",
    label="HubSpot",
    adapter_class="integrations.hubspot.adapter:HubSpotAdapter",
    credentials=("access_token",),
    access_key="access_token",
    account_ref=hosts.hubspot_portal_id,
    oauth=OAuthSpec(
        authorize_url="https://app.hubspot.com/oauth/authorize",
        token_url="https://api.hubapi.com/oauth/v1/token",  # noqa: S106 (an address, not a secret)
        scopes=("oauth", "crm.objects.companies.read", "crm.objects.companies.write",
                "crm.schemas.companies.read", "crm.schemas.companies.write", "crm.objects.contacts.read",
                "crm.objects.deals.read", "crm.objects.owners.read", "tickets"),
        identify=identify,
        slug_prefix="hub-",
    ),
    panel=PanelSpec(
        verify=verify_hubspot_v3,
        settings=(("client_secret", "HubSpot client secret"),),
        setup="run `canary connect hubspot --client-secret-file FILE` (or set HUBSPOT_CLIENT_SECRET)",
        place="on company records",
        frame_ancestors=("https://app.hubspot.com", "https://app-eu1.hubspot.com", "https://app-na2.hubspot.com",
                         "https://app-ap1.hubspot.com"),
    ),
    field_name=property_name,
    record_url=lambda external_id, portal: (f"https://app.hubspot.com/contacts/{portal}/company/{external_id}"
                                            if portal else None),
)
