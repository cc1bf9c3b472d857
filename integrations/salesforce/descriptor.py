"""Everything Canary's product code asks about Salesforce (see `integrations.registry`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

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
from integrations.salesforce import webhooks
from integrations.salesforce.fields import field_name
from integrations.salesforce.signatures import token_answer_signature_ok, verify_canvas_signed_request


def org_id_in(answer: Mapping[str, Any]) -> str | None:
    """The org id in a token answer's identity URL ``.../id/<org id>/<user id>``."""
    parts = urlsplit(str(answer.get("id") or "")).path.strip("/").split("/")
    if len(parts) >= 3 and parts[-3] == "id" and parts[-2].startswith("00D"):
        return parts[-2]
    return None


def user_id_in(answer: Mapping[str, Any]) -> str | None:
    """The user id in a token answer's identity URL ``.../id/<org id>/<user id>``."""
    last = urlsplit(str(answer.get("id") or "")).path.rstrip("/").rsplit("/", 1)[-1]
    return last if re.fullmatch(r"005[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?", last) else None


USERINFO_PATH = "/services/oauth2/userinfo"


def who(client: OAuthClient, tokens: TokenSet, subdomain: str | None) -> VendorIdentity:
    """OpenID Connect: the signed token answer's identity URL names org and user; the UserInfo endpoint
    (on the login host that issued the token) must name the same ones and gives the e-mail and whether
    it is verified. The ``id_token`` is not relied on: the answer's signature already binds the identity."""
    answer = tokens.raw
    org_id, user_id = org_id_in(answer), user_id_in(answer)
    if not org_id or not user_id or not token_answer_signature_ok(client.client_secret, answer):
        raise UntrustedAnswer("Salesforce's answer could not be verified (identity or signature).")
    org_id = hosts.salesforce_org_id(org_id)
    login = urlsplit(client.token_url)
    info = get_json(client, f"{login.scheme}://{login.netloc}{USERINFO_PATH}", tokens.access_token,
                    what="userinfo")
    if info.get("organization_id") != org_id or info.get("user_id") != user_id:
        raise UntrustedAnswer("Salesforce's userinfo names another user or org than its signed answer.")
    verified = info.get("email_verified")
    email = info.get("email")
    return VendorIdentity(account_refs=(org_id, org_id[:15]) if len(org_id) == 18 else (org_id,),
                          user_id=user_id, email=email if isinstance(email, str) else None,
                          email_verified=verified if isinstance(verified, bool) else None,
                          active=info.get("active") is not False)


def identify(client: OAuthClient, tokens: TokenSet, subdomain: str | None) -> Installation:
    """The org from the identity URL, once the answer's signature verifies; the instance URL checked."""
    answer = tokens.raw
    org_id = org_id_in(answer)
    if not org_id or not token_answer_signature_ok(client.client_secret, answer):
        raise UntrustedAnswer("Salesforce's answer could not be verified (identity or signature).")
    org_id = hosts.salesforce_org_id(org_id)
    hosts.salesforce_instance_url(answer.get("instance_url"))
    credentials = installed_credentials(client, tokens, org_id=org_id)
    credentials["issued_at"] = answer.get("issued_at")
    return Installation(org_id, f"Salesforce org {org_id}", credentials, None)


DESCRIPTOR = VendorDescriptor(
    name="salesforce",
    label="Salesforce",
    adapter_class="integrations.salesforce.adapter:SalesforceAdapter",
    credentials=("instance_url", "access_token"),
    access_key="access_token",
    account_ref=hosts.salesforce_org_id,
    address_credential="instance_url",
    oauth=OAuthSpec(
        authorize_url="https://login.salesforce.com/services/oauth2/authorize",
        token_url="https://login.salesforce.com/services/oauth2/token",  # noqa: S106 (an address, not a secret)
        scopes=("api", "refresh_token"),
        identify=identify,
        token_answer_keys=("instance_url",),
        slug_prefix="sf-",
        sign_in=SignInSpec(scopes=("openid", "email", "profile"), who=who),
    ),
    panel=PanelSpec(
        verify=verify_canvas_signed_request,
        settings=(("consumer_secret", "Canvas consumer secret"),),
        setup="run `canary connect salesforce --canvas-consumer-secret-file FILE`",
        place="on Account record pages",
        frame_ancestors=("https://*.force.com", "https://*.lightning.force.com", "https://*.salesforce.com",
                         "https://*.visualforce.com"),
    ),
    webhooks=WebhookSpec(
        channel="outbound messages (SOAP) from a record-triggered flow, to an endpoint URL holding a secret token",
        accounts=webhooks.accounts, verify=webhooks.verify, parse=webhooks.parse,
        dedupe_ttl_s=webhooks.RETRY_HORIZON_S, secret_key="webhook_token",  # noqa: S106 (a credential name, not a secret)
        setup=("run `canary connect salesforce --webhook-secret-file FILE` and put the token in the outbound "
               "message's endpoint URL"),
        answer=webhooks.answer, refusal=webhooks.refusal,
        manual_steps=(
            "Salesforce Setup > Outbound Messages, for Account, Contact, Opportunity, Case and Task: fields Id, "
            "LastModifiedById, SystemModstamp to {public}/webhooks/salesforce?token=<the connection's webhook "
            "token>, sent by a record-triggered flow on create and update.",
        ),
        user_key=webhooks.USER_KEY,
    ),
    field_name=field_name,
    tasks=True,
    email_consent=True,
    consent_note=("Email Opt Out (HasOptedOutOfEmail) is set on every Contact and Lead with the address (one "
                  "flag for every category)"),
    record_url=lambda external_id, _org: f"https://login.salesforce.com/{external_id}",  # opens in the user's org
)
