"""Everything Canary's product code asks about Zendesk (see `integrations.registry`)."""

from __future__ import annotations

from integrations import hosts
from integrations.oauth import OAuthClient, TokenSet, get_json, installed_credentials
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
from integrations.zendesk import webhooks
from integrations.zendesk.fields import vendor_key
from integrations.zendesk.signatures import verify_zendesk_signed_url


def identify(client: OAuthClient, tokens: TokenSet, subdomain: str | None) -> Installation:
    """The account is the subdomain the install started with (checked again)."""
    subdomain = hosts.zendesk_subdomain(subdomain)
    return Installation(subdomain, subdomain, installed_credentials(client, tokens, subdomain=subdomain),
                        client.api_url)


STAFF_ROLES = ("agent", "admin")


def who(client: OAuthClient, tokens: TokenSet, subdomain: str | None) -> VendorIdentity:
    """``GET /api/v2/users/me`` on the subdomain the sign-in started with (the token is that account's):
    the user's ``id``, ``email``, ``verified``, ``role`` (an end-user is a customer, not the team),
    ``active`` and ``suspended``."""
    subdomain = hosts.zendesk_subdomain(subdomain)
    base = (client.api_url or f"https://{subdomain}.zendesk.com").rstrip("/")
    answer = get_json(client, f"{base}/api/v2/users/me", tokens.access_token, what="users/me")
    user = answer.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("id"), int) or isinstance(user.get("id"), bool):
        raise UntrustedAnswer("Zendesk's users/me answer names no signed-in user.")
    email, verified = user.get("email"), user.get("verified")
    return VendorIdentity(account_refs=(subdomain,), user_id=str(user["id"]),
                          email=email if isinstance(email, str) else None,
                          email_verified=verified if isinstance(verified, bool) else None,
                          active=user.get("active") is not False and user.get("suspended") is not True,
                          staff=user.get("role") in STAFF_ROLES)


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
        sign_in=SignInSpec(scopes=("read",), who=who),
    ),
    panel=PanelSpec(
        verify=verify_zendesk_signed_url,
        settings=(("app_public_key", "Zendesk app public key"),
                  ("installation_id", "Zendesk app installation id")),
        setup="run `canary connect zendesk --app-public-key FILE --app-installation-id ID`",
        place="in the ticket sidebar",
        frame_ancestors=("https://*.zendesk.com",),
    ),
    webhooks=WebhookSpec(
        channel=("organization and user event subscriptions, and ticket activity through a trigger, signed "
                 "X-Zendesk-Webhook-Signature"),
        accounts=webhooks.accounts, verify=webhooks.verify, parse=webhooks.parse,
        dedupe_ttl_s=webhooks.RETRY_HORIZON_S, secret_key="webhook_secret",  # noqa: S106 (a credential name, not a secret)
        setup="run `canary connect zendesk --webhook-secret-file FILE` (the webhook's signing secret)",
        answer=json_answer, refusal=json_refusal,
        account_in_path=True,
        manual_steps=(
            "Zendesk Admin Center > Webhooks: a webhook to {public}/webhooks/zendesk/{account} subscribed to the "
            "organization and user events, and a second one to the same endpoint connected to triggers.",
            "Admin Center > Triggers: ticket is created or updated, action Notify webhook (the second one) with the "
            "JSON body of integrations.zendesk.webhooks.TICKET_BODY.",
            "Store the signing secrets: canary connect zendesk --webhook-secret-file FILE.",
        ),
        user_key=webhooks.USER_KEY,
    ),
    field_name=vendor_key,
    record_url=lambda external_id, subdomain: (f"https://{subdomain}.zendesk.com/agent/organizations/{external_id}"
                                               if subdomain else None),
    helpdesk=True,
    tasks=False,  # Zendesk has no task object; a CSM's follow-up is not a support ticket (docs/architecture.md)
    email_consent=False,  # no e-mail consent field on Zendesk users: `ZendeskAdapter.write_email_opt_outs`
    consent_note=("nothing: Zendesk keeps no e-mail consent on its users"),
)
