"""Signing in to the console with Salesforce, HubSpot or Zendesk: ``POST /sign-in/<vendor>`` → the vendor →
``GET /sign-in/<vendor>/callback``.

The flow is the marketplace installs' (`widgets.install`), with the vendor's sign-in scopes
(`integrations.oauth.sign_in_client`): a PKCE verifier and a random ``state`` kept in a signed,
HttpOnly, ``SameSite=Lax`` cookie (path ``/sign-in/``) that lives `FLOW_MAX_AGE` seconds, and the
state spent once in the app's replay guard (the ``used_signatures`` ledger every worker shares).
The callback trades the code for tokens, asks the vendor who signed in (the descriptor's
`SignInSpec.who`: Salesforce's UserInfo endpoint checked against its signed token answer, HubSpot's
token information, Zendesk's ``users/me``), finds the workspace whose connection is that vendor
account (`sync.connections.account_owner`) and, in that workspace only, the Canary user: first the
`VendorUserLink` of that vendor user, else the vendor's e-mail (refused when the vendor says it is not
verified) matched to an active user by `console.people.link_vendor_user`, which records the link.

The vendor's tokens are used for that one identity call and then dropped: nothing of them is stored,
put in the session or logged; Canary's connection to the vendor keeps its own tokens. A refusal says
what went wrong on the sign-in page; it counts as a failed sign-in of the client address in the
sign-in rate limiter (not of an account: a vendor's e-mail is not proof of a Canary account).
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from console.auth import SignedIn, SignInLimiter, SignInRefused, record_sign_in
from console.people import link_vendor_user
from integrations import hosts
from integrations.errors import SignatureError
from integrations.oauth import (
    ConfigurationError,
    OAuthClient,
    OAuthError,
    authorize_origin,
    authorize_url,
    configured,
    exchange_code,
    new_pkce,
    new_state,
    sign_in_client,
)
from integrations.registry import VENDOR_NAMES, UntrustedAnswer, VendorIdentity, vendors
from integrations.registry import vendor as vendor_of
from integrations.replay import ReplayGuard
from store.db import Store
from store.models import Tenant, User, VendorUserLink
from sync.connections import account_owner

log = logging.getLogger("canary.sign_in")

FLOW_COOKIE = "canary_sign_in"
FLOW_PATH = "/sign-in/"
FLOW_SALT = "canary-vendor-sign-in"
FLOW_MAX_AGE = 600
"""Seconds between starting a vendor sign-in and its callback."""
clock: Callable[[], float] = time.time
"""The flow's clock (tests pin it)."""


class VendorSignInRefused(SignInRefused):
    """Why a vendor sign-in did not succeed, in words for the person (never a token or secret)."""

    def __init__(self, message: str, status: int = 403, *, counts: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.counts = counts
        """Whether it counts as a failed sign-in of the address (not when the vendor or config failed)."""


@dataclass(frozen=True)
class Offer:
    """A vendor sign-in button: shown when the vendor offers sign-in and its OAuth client is configured."""

    name: str
    label: str
    needs_subdomain: bool


def offers(config: Mapping[str, Any]) -> list[Offer]:
    return [Offer(d.name, d.label, d.oauth.subdomain is not None) for d in vendors()
            if d.oauth.sign_in is not None and configured(d.name, config)]


def page_policy(config: Mapping[str, Any]) -> str:
    """The sign-in page's Content-Security-Policy: Canary's page policy, with the offered vendors' consent
    origins in ``form-action`` (a browser applies it to the redirect a sign-in form answers with)."""
    from widgets.security import PAGE_CSP

    origins = " ".join(sorted({authorize_origin(o.name, config) for o in offers(config)}))
    return PAGE_CSP.replace("form-action 'self'", f"form-action 'self' {origins}".rstrip())


def redirect_uri(public_url: str, vendor: str) -> str:
    return f"{public_url.rstrip('/')}/sign-in/{vendor}/callback"


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=FLOW_SALT)


def _known(vendor: str) -> str:
    if vendor not in VENDOR_NAMES or vendor_of(vendor).oauth.sign_in is None:
        raise VendorSignInRefused("Canary offers sign-in with " + ", ".join(o.label for o in vendors()
                                                                              if o.oauth.sign_in) + ".", 404,
                                  counts=False)
    return vendor_of(vendor).label


# --- start -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    location: str
    cookie: str


def start(vendor: str, config: Mapping[str, Any], subdomain: str | None, next_path: str) -> Started:
    """The vendor's authorize URL and the flow cookie, or `VendorSignInRefused`."""
    label = _known(vendor)
    spec = vendor_of(vendor).oauth
    checked = None
    if spec.subdomain is not None:
        try:
            checked = spec.subdomain(subdomain)
        except hosts.InvalidHost as exc:
            raise VendorSignInRefused(f"Give your {label} subdomain (the part before .zendesk.com): {exc}.",
                                      400, counts=False) from None
    try:
        client = sign_in_client(vendor, config, checked)
    except ConfigurationError:
        raise VendorSignInRefused(f"Signing in with {label} is not set up here: use your e-mail and password.",
                                  503, counts=False) from None
    verifier, challenge = new_pkce()
    state = new_state()
    cookie = _serializer(str(config["SECRET_KEY"])).dumps(
        {"v": vendor, "s": state, "p": verifier, "d": checked, "n": next_path, "t": clock()})
    return Started(authorize_url(client, redirect_uri=redirect_uri(config["PUBLIC_URL"], vendor), state=state,
                                 code_challenge=challenge), cookie)


# --- callback ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finished:
    signed: SignedIn
    next_path: str


def finish(vendor: str, config: Mapping[str, Any], args: Mapping[str, str], cookie: str | None, *,
           store: Store, limiter: SignInLimiter, guard: ReplayGuard, address: str) -> Finished:
    """Check the flow, sign in with the vendor and map the vendor user; `VendorSignInRefused` otherwise."""
    label = _known(vendor)
    if limiter.blocked("", address):
        raise VendorSignInRefused("Too many failed sign-ins from here: wait a minute, then try again.", 429,
                                  counts=False)
    flow = _checked_flow(vendor, label, str(config["SECRET_KEY"]), args, cookie, guard)
    try:
        client = sign_in_client(vendor, config, flow.get("d"))
    except ConfigurationError:
        raise VendorSignInRefused(f"Signing in with {label} is not set up here: use your e-mail and password.",
                                  503, counts=False) from None
    provider = VendorSignIn(store, vendor, client)
    signed = provider.authenticate({"code": args["code"], "code_verifier": str(flow["p"]),
                                    "redirect_uri": redirect_uri(config["PUBLIC_URL"], vendor),
                                    "subdomain": str(flow.get("d") or "")}, address)
    return Finished(signed, str(flow.get("n") or ""))


def _checked_flow(vendor: str, label: str, secret_key: str, args: Mapping[str, str], cookie: str | None,
                  guard: ReplayGuard) -> dict[str, Any]:
    if args.get("error"):
        error = re.sub(r"[^A-Za-z0-9_.-]", "", args["error"])[:64]
        raise VendorSignInRefused(f"{label} did not let you sign in ({error}). Nothing changed: start again "
                                  "and choose Allow, or sign in with your e-mail and password.", 400)
    if not cookie:
        raise VendorSignInRefused(f"This {label} sign-in was not started from this browser, or it was already "
                                  "finished. Start it again.", 400)
    try:
        flow: dict[str, Any] = _serializer(secret_key).loads(cookie)
    except BadSignature:
        raise VendorSignInRefused(f"This {label} sign-in could not be verified. Start it again.", 400) from None
    started = flow.get("t")
    if not isinstance(started, int | float) or not 0 <= clock() - started <= FLOW_MAX_AGE:
        raise VendorSignInRefused(f"This {label} sign-in took longer than {FLOW_MAX_AGE // 60} minutes and "
                                  "expired. Start it again.", 400)
    state = args.get("state", "")
    if flow.get("v") != vendor or not state or not hmac.compare_digest(state.encode(),
                                                                      str(flow.get("s", "")).encode()):
        raise VendorSignInRefused(f"The answer does not belong to the {label} sign-in started in this browser "
                                  "(state mismatch). Start it again.", 400)
    if not args.get("code"):
        raise VendorSignInRefused(f"{label} sent no authorization code. Start the sign-in again.", 400)
    try:
        # remembered for a whole flow's life on the guard's own (wall) clock: longer than the cookie is accepted
        guard.check_and_remember(f"sign-in:{state}", time.time() + FLOW_MAX_AGE)
    except SignatureError:
        raise VendorSignInRefused(f"This {label} sign-in answer was already used. Start it again.", 400) from None
    return flow


class VendorSignIn:
    """A `console.auth.SignInProvider`: the vendor's authorization code → who → the Canary user."""

    def __init__(self, store: Store, system: str, client: OAuthClient) -> None:
        self.store, self.name, self.client = store, system, client

    def authenticate(self, credentials: dict[str, str], address: str) -> SignedIn:
        label = _known(self.name)
        spec = vendor_of(self.name).oauth.sign_in
        if spec is None:  # `_known` refused it already
            raise VendorSignInRefused(f"Canary offers no sign-in with {label}.", 404, counts=False)
        try:
            tokens = exchange_code(self.client, code=credentials["code"], redirect_uri=credentials["redirect_uri"],
                                   code_verifier=credentials["code_verifier"])
            identity = spec.who(self.client, tokens, credentials.get("subdomain") or None)
        except OAuthError as exc:
            log.warning("vendor sign-in failed: %s: %s", self.name, exc.error)
            if exc.status and exc.status < 500:
                raise VendorSignInRefused(f"{label} did not accept the sign-in ({exc.error}). Start it again.",
                                          400) from None
            raise VendorSignInRefused(f"{label} could not be reached to sign you in. Try again in a moment.", 502,
                                      counts=False) from None
        except (UntrustedAnswer, hosts.InvalidHost):
            log.warning("vendor sign-in failed: %s: untrusted answer", self.name)
            raise VendorSignInRefused(f"{label}'s answer could not be verified. Start the sign-in again.",
                                      502, counts=False) from None
        # the tokens end here: sign-in needs only who this is (nothing of them is stored or logged)
        del tokens
        return map_identity(self.store, self.name, identity)


def map_identity(store: Store, system: str, identity: VendorIdentity) -> SignedIn:
    """The Canary user the vendor user is, in the workspace connected to the vendor account, or a refusal."""
    label = vendor_of(system).label
    if not identity.active:
        raise VendorSignInRefused(f"{label} says this user is deactivated or suspended.")
    if not identity.staff:
        raise VendorSignInRefused(f"Only the {label} account's own team can sign in to Canary; this {label} "
                                  "user is a customer (end-user).")
    owner = next((found for ref in identity.account_refs if (found := account_owner(store, system, ref))), None)
    if owner is None:
        log.info("vendor sign-in refused: %s account %s is connected to no workspace", system,
                 identity.account_refs[0])
        raise VendorSignInRefused(f"Your {label} account ({identity.account_refs[0]}) is not connected to any "
                                  "Canary workspace. Ask your Canary admin to connect it, or sign in with your "
                                  "e-mail and password.")
    tenant_id, slug = owner
    with store.session(tenant_id) as s:
        tenant = s.get_one(Tenant, tenant_id)
        link = s.scalar(select(VendorUserLink).where(VendorUserLink.system == system,
                                                     VendorUserLink.external_id == identity.user_id))
        if link is None:
            email = (identity.email or "").strip().lower()
            if email and identity.email_verified is False:
                raise VendorSignInRefused(f"{label} says your e-mail address {email} is not verified. Verify it "
                                          f"in {label}, then sign in again.")
            existing = s.scalar(select(User).where(User.email == email)) if email else None
            if existing is not None and not existing.active:
                raise VendorSignInRefused(f"Your Canary user in the {tenant.name} workspace is disabled. Ask an "
                                          "admin of the workspace.")
            link = link_vendor_user(s, system, identity.user_id, email or None)
            if link is None:
                raise VendorSignInRefused(f"No user of the {tenant.name} workspace matches your {label} user"
                                          f"{f' ({email})' if email else ''}. Ask an admin of the workspace to "
                                          "add you with that address.")
        user = s.get(User, link.user_id)
        if user is None or not user.active:
            raise VendorSignInRefused(f"Your Canary user in the {tenant.name} workspace is disabled. Ask an admin "
                                      "of the workspace.")
        signed = record_sign_in(s, user, tenant, system)
    log.info("signed in with %s: user %s of workspace %s", system, signed.user_id, slug)
    return signed
