"""The vendor registry: one `VendorDescriptor` per vendor, everything production code asks about a vendor.

Production code never branches on a vendor's name; it asks the vendor's descriptor:
``vendor("zendesk").label``, ``vendor(system).adapter(credentials, base_url)``,
``vendor(system).oauth.scopes``, ``vendor(system).panel.frame_ancestors`` ... Each vendor
package declares its descriptor in ``integrations/<vendor>/descriptor.py`` as ``DESCRIPTOR``;
`VENDOR_NAMES` is the one list of vendors. Descriptors are cheap to load: a vendor's SDK is
imported only when one of its adapters is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from integrations.base import Adapter

if TYPE_CHECKING:
    from integrations.oauth import OAuthClient, TokenSet

VENDOR_NAMES: tuple[str, ...] = ("salesforce", "zendesk", "hubspot")
"""Every vendor Canary speaks to, in the order they are shown and synced; ``integrations/<name>/descriptor.py``."""


class UnknownVendor(ValueError):
    """A name that is not one of `VENDOR_NAMES`; the message lists the known ones."""


class UntrustedAnswer(Exception):
    """The vendor's answer to an install could not be verified; the message is for the admin (no secret)."""


@dataclass(frozen=True)
class Installation:
    """What an OAuth install learnt about the vendor account that consented."""

    account_ref: str
    name: str
    credentials: dict[str, Any]
    base_url: str | None


@dataclass(frozen=True)
class VendorIdentity:
    """Who signed in at the vendor, as the vendor's identity call answered (`SignInSpec.who`)."""

    account_refs: tuple[str, ...]
    """The vendor account (org, portal, subdomain) the user belongs to, as a connection's ``account_ref``
    may hold it, most specific first (Salesforce: the 18- then the 15-character org id)."""
    user_id: str
    """The vendor's id of the user (Salesforce User id, HubSpot user id, Zendesk user id)."""
    email: str | None
    email_verified: bool | None
    """False when the vendor says the address is unverified; None when the vendor does not say."""
    active: bool = True
    """False when the vendor says the user is deactivated or suspended."""
    staff: bool = True
    """False for a vendor user who is not on the vendor account's team (a Zendesk end-user: a customer)."""


@dataclass(frozen=True)
class SignInSpec:
    """Signing in to Canary with the vendor: the authorization-code flow asks for ``scopes``, then ``who``."""

    scopes: tuple[str, ...]
    who: Callable[[OAuthClient, TokenSet, str | None], VendorIdentity]
    """(client, the token answer, the checked subdomain) -> who signed in and in which vendor account; one
    identity call to the vendor. Raises `UntrustedAnswer` or `hosts.InvalidHost` when the answer cannot be
    trusted, `integrations.oauth.OAuthError` when the call fails."""


@dataclass(frozen=True)
class OAuthSpec:
    """The vendor's OAuth 2.0 authorization-code flow (``{subdomain}`` in a URL is filled in per install)."""

    authorize_url: str
    token_url: str
    scopes: tuple[str, ...]
    identify: Callable[[OAuthClient, TokenSet, str | None], Installation]
    """(client, the token answer, the checked subdomain) -> the vendor account; raises `hosts.InvalidHost`
    or `UntrustedAnswer` when the answer cannot be trusted, `integrations.oauth.OAuthError` when a
    further call to the vendor fails."""
    json_token_requests: bool = False
    """The token endpoint takes a JSON body (else a form)."""
    scope_in_code_exchange: bool = False
    subdomain: Callable[[object], str] | None = None
    """The strict check of the subdomain an install starts with, for vendors whose URLs need one."""
    install_params: tuple[tuple[str, str], ...] = ()
    """(name, what it is) of digits-only query parameters of ``/install/<vendor>`` kept in the credentials
    (the Zendesk app's ``installation_id``)."""
    token_answer_keys: tuple[str, ...] = ()
    """Keys of the token answer stored with the tokens (Salesforce's ``instance_url``)."""
    slug_prefix: str = ""
    """Start of the workspace slug an install creates (``sf-00D...``)."""
    sign_in: SignInSpec | None = None
    """Signing in to the console with this vendor (None: the vendor offers no sign-in)."""


@dataclass(frozen=True)
class PanelSpec:
    """The embedded panel: its request-signature check, the settings it needs and where it may be framed."""

    verify: Callable[..., Any]
    """The vendor's request-signature verifier (`integrations.<vendor>.signatures`)."""
    settings: tuple[tuple[str, str], ...]
    """(credential key, what it is) of the panel's settings (public key, consumer or client secret)."""
    setup: str
    """The command that stores those settings, for the 401 a panel without them answers."""
    frame_ancestors: tuple[str, ...]
    """The vendor's origins allowed to frame the panel (``Content-Security-Policy: frame-ancestors``)."""
    place: str
    """Where the panel shows in the vendor's app, in words ("in the ticket sidebar")."""


@dataclass(frozen=True)
class WebhookSpec:
    """The vendor's webhooks into Canary (``integrations/<vendor>/webhooks.py``; see `integrations.webhooks`)."""

    channel: str
    """What the vendor sends, in words (for docs and messages)."""
    accounts: Callable[..., tuple[str, ...]]
    verify: Callable[..., Any]
    parse: Callable[..., list[Any]]
    dedupe_ttl_s: float
    """How long an event id is remembered: the vendor's retry horizon (a later resend is impossible)."""
    secret_key: str
    """The credential holding the webhook secret (signing secret, client secret, endpoint token)."""
    setup: str
    """The command that stores the secret, for the 401 a workspace without one answers."""
    answer: Callable[[Any], tuple[bytes, str]]
    refusal: Callable[[int, str], tuple[bytes, str]]
    account_in_path: bool = False
    """The endpoint names the vendor account (``/webhooks/<vendor>/<account>``): one endpoint per account."""
    app_secret_config: str | None = None
    """App-wide configuration key that serves a workspace without its own secret (HubSpot's client secret)."""
    manual_steps: tuple[str, ...] = ()
    """What an admin sets up by hand when the install could not register the webhooks (``{public}``: Canary's
    public URL, ``{account}``: the vendor account); `sync.subscriptions` records them with the problem."""
    user_key: str | None = None
    """The credential holding the vendor user Canary connects as, which the loop guard reads (Salesforce
    ``integration_user_id``, Zendesk ``api_user_id``); `Adapter.connected_user` fills it in when a connection's
    API credentials are stored (``canary connect``, installs). None: the guard needs no user (HubSpot)."""


@dataclass(frozen=True)
class VendorDescriptor:
    name: str
    label: str
    adapter_class: str
    """``module:Class`` of the adapter; imported (with the vendor's SDK) only when an adapter is built. The
    class has ``from_credentials(credentials, base_url, **options)`` for a stored connection."""
    credentials: tuple[str, ...]
    """Credential keys every connection needs."""
    access_key: str
    """Where the access token is kept in the credentials."""
    account_ref: Callable[[object], str]
    """The strict check of the vendor account id a connection is for (`integrations.hosts`)."""
    oauth: OAuthSpec
    panel: PanelSpec
    field_name: Callable[[str], str]
    """Canonical health key (``score``) -> the vendor's field or property name."""
    credential_choices: tuple[tuple[str, ...], ...] = ()
    """Groups of keys of which one must be complete (Zendesk: e-mail and API token, or an OAuth token)."""
    address_credential: str | None = None
    """The credential holding the API address (Salesforce's ``instance_url``); None: the connection's base URL."""
    helpdesk: bool = False
    """Its tickets are the support desk's (a workspace connected to it has a help desk)."""
    tasks: bool = False
    """It keeps tasks: Canary's tasks are created there for linked accounts and read back (the adapter is a
    `integrations.base.TaskTarget`)."""
    email_consent: bool = False
    """It keeps a person's e-mail consent (Salesforce ``HasOptedOutOfEmail``, HubSpot subscription types): a
    suppression is written there when the workspace enables it. Every adapter has `write_email_opt_outs`
    (`integrations.base.ConsentTarget`); a vendor without consent answers ``unsupported`` and is not asked."""
    consent_note: str = ""
    """What an unsubscribe becomes there, in words for the Settings page (or why nothing does)."""
    webhooks: WebhookSpec | None = None
    """Its webhooks into Canary (``/webhooks/<vendor>``)."""
    record_url: Callable[[str, str | None], str | None] = lambda _external_id, _account_ref: None
    """Where a person opens an account record in the vendor's own app: ``(record id, vendor account id)``
    -> URL, None when it cannot be told."""

    def missing_credentials(self, credentials: Mapping[str, Any]) -> list[str]:
        """What ``credentials`` lack for a connection, in words for the person connecting."""
        missing = [key for key in self.credentials if not credentials.get(key)]
        if self.credential_choices and not any(all(credentials.get(k) for k in group)
                                               for group in self.credential_choices):
            first, *others = (" and ".join(group) for group in self.credential_choices)
            missing.append(f"{first} (or {' or '.join(others)})" if others else first)
        return missing

    def adapter_type(self) -> Any:
        module, _, name = self.adapter_class.partition(":")
        return getattr(importlib.import_module(module), name)

    def new_adapter(self, **kwargs: Any) -> Adapter:
        """An adapter from its constructor's keyword arguments."""
        adapter: Adapter = self.adapter_type()(**kwargs)
        return adapter

    def adapter(self, credentials: Mapping[str, Any], base_url: str | None = None, **options: Any) -> Adapter:
        """An adapter for a stored connection (its credentials and the connection's base URL)."""
        adapter: Adapter = self.adapter_type().from_credentials(credentials, base_url, **options)
        return adapter


_loaded: dict[str, VendorDescriptor] = {}


def vendor(name: str) -> VendorDescriptor:
    """The descriptor of ``name``, or `UnknownVendor` naming the known vendors."""
    if name not in VENDOR_NAMES:
        raise UnknownVendor(f"unknown vendor {name!r}; choose {_choices()}")
    if name not in _loaded:
        descriptor = importlib.import_module(f"integrations.{name}.descriptor").DESCRIPTOR
        if not isinstance(descriptor, VendorDescriptor) or descriptor.name != name:
            raise TypeError(f"integrations.{name}.descriptor.DESCRIPTOR is not the descriptor of {name!r}")
        _loaded[name] = descriptor
    return _loaded[name]


def vendors() -> tuple[VendorDescriptor, ...]:
    return tuple(vendor(name) for name in VENDOR_NAMES)


def adapter_for(name: str, **kwargs: Any) -> Adapter:
    """A new adapter of vendor ``name`` from its constructor's keyword arguments."""
    return vendor(name).new_adapter(**kwargs)


def _choices() -> str:
    *first, last = VENDOR_NAMES
    return f"{', '.join(first)} or {last}"
