"""Everything Canary's product code asks about HubSpot (see `integrations.registry`)."""

from __future__ import annotations

from integrations import hosts
from integrations.hubspot import webhooks
from integrations.hubspot.fields import property_name
from integrations.hubspot.signatures import verify_hubspot_v3
from integrations.oauth import OAuthClient, TokenSet, installed_credentials
from integrations.registry import (
    Installation,
    OAuthSpec,
    PanelSpec,
    SignInSpec,
    UntrustedAnswer,
    VendorDescriptor,
    VendorIdentity,
    WebhookSpec,
)
from integrations.webhooks import json_answer, json_refusal

SCOPES = ("oauth", "crm.objects.companies.read", "crm.objects.companies.write", "crm.schemas.companies.read",
          "crm.schemas.companies.write", "crm.objects.contacts.read", "crm.objects.deals.read",
          "crm.objects.owners.read", "tickets", "communication_preferences.read_write")


def identify(client: OAuthClient, tokens: TokenSet, subdomain: str | None) -> Installation:
    """The portal (``hub_id``) and its domain from the token-information endpoint."""
    from integrations.hubspot.wire import token_info  # loads the HubSpot SDK: only when an install runs

    info = token_info(client, tokens.access_token)
    hub_id = hosts.hubspot_portal_id(info.get("hub_id"))
    return Installation(hub_id, hosts.display_name(info.get("hub_domain")) or f"HubSpot {hub_id}",
                        installed_credentials(client, tokens, hub_id=hub_id), client.api_url)


def who(client: OAuthClient, tokens: TokenSet, subdomain: str | None) -> VendorIdentity:
    """HubSpot has no OpenID Connect: the token-information endpoint names the user who authorized
    (``user``: their e-mail, ``user_id``) and the portal (``hub_id``). HubSpot does not say whether the
    address is verified (a HubSpot login is an e-mail address HubSpot confirmed)."""
    from integrations.hubspot.wire import token_info  # loads the HubSpot SDK: only when a sign-in runs

    info = token_info(client, tokens.access_token)
    hub_id = hosts.hubspot_portal_id(info.get("hub_id"))
    user_id, email = info.get("user_id"), info.get("user")
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise UntrustedAnswer("HubSpot's token information names no user.")
    return VendorIdentity(account_refs=(hub_id,), user_id=str(user_id),
                          email=email if isinstance(email, str) else None, email_verified=None)


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
        scopes=SCOPES,
        identify=identify,
        slug_prefix="hub-",
        # HubSpot refuses an authorize URL without every scope the app requires: sign-in asks for the same
        sign_in=SignInSpec(scopes=SCOPES, who=who),
    ),
    panel=PanelSpec(
        verify=verify_hubspot_v3,
        settings=(("client_secret", "HubSpot client secret"),),
        setup="run `canary connect hubspot --client-secret-file FILE` (or set HUBSPOT_CLIENT_SECRET)",
        place="on company records",
        frame_ancestors=("https://app.hubspot.com", "https://app-eu1.hubspot.com", "https://app-na2.hubspot.com",
                         "https://app-ap1.hubspot.com"),
    ),
    webhooks=WebhookSpec(
        channel="batched JSON events to the app's target URL (webhooks.json), signed X-HubSpot-Signature-v3",
        accounts=webhooks.accounts, verify=webhooks.verify, parse=webhooks.parse,
        dedupe_ttl_s=webhooks.RETRY_HORIZON_S, secret_key="client_secret",  # noqa: S106 (a credential name, not a secret)
        setup="run `canary connect hubspot --client-secret-file FILE` (or set HUBSPOT_CLIENT_SECRET)",
        answer=json_answer, refusal=json_refusal,
        manual_steps=(
            "Canary's HubSpot app: webhooks target URL {public}/webhooks/hubspot, subscribed to company, contact, "
            "deal and ticket creation, deletion, merge, restore, association and property changes.",
        ),
        app_secret_config="HUBSPOT_CLIENT_SECRET",  # noqa: S106 (a setting name)
        user_key=None,  # the loop guard reads the app id (``app_id``), no user
    ),
    field_name=property_name,
    tasks=True,
    email_consent=True,
    consent_note=("the address is unsubscribed from the subscription type of its category (Customer Service "
                  "Communication or Marketing Information)"),
    record_url=lambda external_id, portal: (f"https://app.hubspot.com/contacts/{portal}/company/{external_id}"
                                            if portal else None),
)
