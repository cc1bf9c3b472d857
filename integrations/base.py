"""Canonical records and the adapter protocol (the vendors' registry is `integrations.registry`).

Adapters return these records; nothing above `integrations/` sees a vendor payload.
Every record carries ``(system, external_id)`` and ``updated_at``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol, TypeVar

ObjectName = Literal["accounts", "contacts", "deals", "tickets", "satisfaction", "tasks"]
OBJECTS: tuple[ObjectName, ...] = ("accounts", "contacts", "deals", "tickets", "satisfaction", "tasks")
HEALTH_KEYS: tuple[str, ...] = ("score", "band", "trend", "reasons", "scored_at")
"""Canonical keys of the health fields Canary writes onto accounts (`sync.push.HEALTH_FIELDS`)."""


def health_values(fields: Mapping[str, Any], name: Callable[[str], str]) -> dict[str, Any] | None:
    """Canary's health fields as a vendor record holds them: canonical key -> the value as sent, for each field
    the payload ``fields`` carries (``name``: canonical key -> the vendor's field name); None when it carries
    none (the pull did not ask for them, or they do not exist yet). The same rule in every vendor's mapping."""
    found = {key: fields[name(key)] for key in HEALTH_KEYS if name(key) in fields}
    return found or None


@dataclass(frozen=True)
class AccountRecord:
    system: str
    external_id: str
    name: str
    updated_at: dt.datetime
    domain: str | None = None
    parent_external_id: str | None = None
    cross_refs: Mapping[str, str] = field(default_factory=dict)
    """Explicit external-id fields: other system -> that system's id of the same customer."""
    industry: str | None = None
    employees: int | None = None
    owner: str | None = None
    """The account owner's e-mail as the system names it (its user id when the e-mail cannot be read)."""
    owner_ref: str | None = None
    """The owner's user id in this system (Salesforce User, HubSpot owner, Zendesk agent)."""
    owner_active: bool | None = None
    """Whether this system still counts the owner as an active user (None: not known)."""
    segment: str | None = None
    tier: str | None = None
    health: Mapping[str, Any] | None = None
    """Canary's own health fields as the record holds them (`health_values`), when the pull read them: the sync
    recognises Canary's write-back coming back as a change (`sync.own_writes`)."""

    def with_owner(self, owner: VendorUser | None) -> AccountRecord:
        """This record with its owner filled in from the system's user."""
        if owner is None:
            return self
        # What `dataclasses.replace` makes (every field is an ``__init__`` argument and there is no
        # ``__post_init__``), without its per-call walk of the fields: a pull does this for every account.
        made = object.__new__(type(self))
        made.__dict__.update(self.__dict__, owner=owner.label, owner_ref=owner.external_id, owner_active=owner.active)
        return made


@dataclass(frozen=True)
class VendorUser:
    """A user of a vendor system who owns accounts: a Salesforce User, HubSpot owner or Zendesk agent."""

    external_id: str
    email: str | None = None
    name: str | None = None
    active: bool | None = None
    """False: deactivated, archived or suspended there; None: not known (the user could not be read)."""

    @property
    def label(self) -> str:
        """How an account names its owner: the e-mail, else the name, else the user id."""
        return self.email or self.name or self.external_id


@dataclass(frozen=True)
class ContactRecord:
    system: str
    external_id: str
    email: str | None
    updated_at: dt.datetime
    account_external_id: str | None = None
    name: str | None = None
    title: str | None = None
    role: str = "user"
    """executive_sponsor | champion | admin | user."""
    last_active_at: dt.datetime | None = None


@dataclass(frozen=True)
class DealRecord:
    system: str
    external_id: str
    updated_at: dt.datetime
    account_external_id: str | None = None
    name: str | None = None
    arr: Decimal | None = None
    seats: int | None = None
    tier: str | None = None
    start_date: dt.date | None = None
    renewal_date: dt.date | None = None
    status: str = "active"


@dataclass(frozen=True)
class TicketRecord:
    system: str
    external_id: str
    updated_at: dt.datetime
    created_at: dt.datetime
    account_external_id: str | None = None
    subject: str | None = None
    priority: str = "normal"
    """low | normal | high | urgent."""
    status: str = "open"
    escalated: bool = False
    solved_at: dt.datetime | None = None
    satisfaction: str | None = None
    """good | bad | None."""
    requester_external_id: str | None = None


@dataclass(frozen=True)
class SatisfactionRecord:
    system: str
    external_id: str
    updated_at: dt.datetime
    score: str
    """good | bad."""
    ticket_external_id: str | None = None
    account_external_id: str | None = None
    comment: str | None = None


@dataclass(frozen=True)
class TaskRecord:
    """A task in a CRM that Canary made (its record carries Canary's task key), as the CRM holds it now."""

    system: str
    external_id: str
    updated_at: dt.datetime
    key: str
    """Canary's task key (`TaskWrite.key`) from the record's Canary task key field."""
    account_external_id: str | None = None
    status: str = "open"
    """open | done."""
    due_date: dt.date | None = None
    owner_ref: str | None = None
    """The assignee's user id in the CRM (Salesforce User, HubSpot owner)."""
    completed_at: dt.datetime | None = None


Record = AccountRecord | ContactRecord | DealRecord | TicketRecord | SatisfactionRecord | TaskRecord
R = TypeVar("R", bound=Record)


@dataclass(frozen=True)
class Removal:
    """A vendor record that is gone: deleted (the recycle bin, archived, status ``deleted``) or merged
    into another record of the same system (``merged_into``, the surviving record's id)."""

    external_id: str
    merged_into: str | None = None


@dataclass(frozen=True)
class Page:
    """One page of a pull, in ascending cursor order.

    ``cursor`` is opaque to the caller: save it only after the page's records are stored,
    and pass it back to resume exactly after this page. ``removed`` names the page's records
    that were deleted or merged away since the cursor.
    """

    object: ObjectName
    records: Sequence[Record]
    cursor: str | None
    removed: Sequence[Removal] = ()
    own_writes: Sequence[str] = ()
    """Ids of records the page read back that the adapter recognised as only Canary's own write-back (told
    before mapping them, see `sync.own_writes.OwnWrites`): not records, no change, and no call spent on them."""


class OwnWriteCheck(Protocol):
    """What the sync hands an adapter before it pulls accounts (`sync.own_writes.OwnWrites`): asked about each
    record of a raw page, mapped before any lookup, whether it is only Canary's own write-back coming back."""

    def recognised(self, record: AccountRecord, unresolved: Iterable[str] = ()) -> bool: ...


class OwnWriteAware(Protocol):
    """An adapter that tells Canary's own writes on a raw page (optional: the sync asks with ``getattr``)."""

    def expect_own_writes(self, own: OwnWriteCheck | None) -> None:
        """Use ``own`` in the next ``pull("accounts", ...)`` (only there): recognised records are named in
        `Page.own_writes`, never mapped further, looked up or delivered."""
        ...


def distinct_ids(ids: Sequence[str]) -> list[str]:
    """``ids`` as text, each once, in the order first given (what `Adapter.fetch` asks the vendor for)."""
    return list(dict.fromkeys(str(i).strip() for i in ids if str(i).strip()))


@dataclass(frozen=True)
class FieldSpec:
    """A Canary field to create in a vendor system (one place for the write-back fields)."""

    key: str
    """Canonical key: score | band | trend | reasons | scored_at."""
    label: str
    kind: Literal["number", "text", "long_text", "datetime"]
    help: str


@dataclass(frozen=True)
class FieldUpdate:
    external_id: str
    values: Mapping[str, Any]
    """Canonical key -> value."""


@dataclass
class PushResult:
    succeeded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    """external id -> error message."""
    calls: int = 0


@dataclass(frozen=True)
class TaskWrite:
    """One Canary task to create in a CRM (``external_id`` None) or to bring up to date there."""

    key: str
    """Canary's idempotency key, written into the CRM record so a create whose answer was lost is found."""
    account_external_id: str
    subject: str
    body: str | None = None
    due_date: dt.date | None = None
    priority: str = "normal"
    """low | normal | high."""
    status: str = "open"
    """open | done."""
    owner_ref: str | None = None
    """The assignee's CRM user id; None leaves the CRM's default (the connected user) on a create."""
    external_id: str | None = None


@dataclass
class TaskPushResult:
    created: dict[str, str] = field(default_factory=dict)
    """key -> the CRM's id of the task created (or found there: created by an earlier, interrupted push)."""
    updated: list[str] = field(default_factory=list)
    """keys of the tasks brought up to date."""
    failed: dict[str, str] = field(default_factory=dict)
    """key -> why the CRM refused it (not created or not updated)."""
    gone: list[str] = field(default_factory=list)
    """keys of tasks deleted in the CRM (an update found no record)."""
    calls: int = 0
    create_calls: int = 0
    """Calls that carried creates (resending after a lost answer included)."""
    update_calls: int = 0
    lookups: int = 0
    """Calls spent finding tasks whose create answer was lost."""


@dataclass
class Subscribed:
    """What `WebhookSubscriber.subscribe_webhooks` left at the vendor."""

    registered: list[str] = field(default_factory=list)
    """What now sends Canary webhooks, in words with the vendor's ids (e.g. "webhook 01H... (organization and
    user events)"), found or made by this call."""
    manual_steps: list[str] = field(default_factory=list)
    """What an admin must still do by hand (empty when everything was registered)."""
    credentials: dict[str, Any] = field(default_factory=dict)
    """Secrets and ids to keep with the connection, encrypted (Zendesk's signing secrets, HubSpot's app id)."""
    created: int = 0
    """Registrations made or changed by this call: 0 when everything was found as wanted (a re-run)."""


class WebhookSubscriber(Protocol):
    """An adapter that registers Canary's webhook subscriptions at its vendor (every vendor adapter)."""

    system: str

    def subscribe_webhooks(self, target_base_url: str, app_config: Mapping[str, Any] | None = None) -> Subscribed:
        """Make the vendor send its webhooks to ``target_base_url`` (Canary's public URL), finding what an
        earlier call registered rather than adding it twice; what cannot be registered through the vendor's API
        comes back as ``manual_steps``. ``app_config`` holds app-wide settings (HubSpot's developer key)."""
        ...


class TaskTarget(Protocol):
    """An adapter of a CRM that keeps tasks (`VendorDescriptor.tasks`)."""

    system: str

    def ensure_task_fields(self) -> bool:
        """Make the Canary task key field exist and be writable; True when it was created now."""
        ...

    def push_tasks(self, creates: Sequence[TaskWrite], updates: Sequence[TaskWrite]) -> TaskPushResult:
        """Create and update tasks in the fewest calls; a create whose answer is lost is looked up by its key
        before anything is sent again, so no task is created twice."""
        ...

    def find_tasks(self, writes: Sequence[TaskWrite]) -> dict[str, str]:
        """key -> CRM id of those of ``writes`` that exist in the CRM (looked up by their keys)."""
        ...


@dataclass
class OptOutResult:
    """What `ConsentTarget.write_email_opt_outs` did with each address (lower case)."""

    written: list[str] = field(default_factory=list)
    """Addresses now opted out in the vendor (written by this call, or found already opted out)."""
    not_found: list[str] = field(default_factory=list)
    """Addresses with no record there to mark (Salesforce: no Contact or Lead with that e-mail)."""
    failed: dict[str, str] = field(default_factory=dict)
    """address -> why the vendor refused it."""
    unsupported: str | None = None
    """Set when the vendor keeps no e-mail consent at all (Zendesk): nothing was sent, this says why."""
    calls: int = 0


class ConsentTarget(Protocol):
    """Every vendor adapter: writes an unsubscribe (a suppression in Canary) to the people it names there."""

    system: str

    def write_email_opt_outs(self, addresses: Sequence[str], category: str) -> OptOutResult:
        """Mark each address as opted out of e-mail of ``category`` (``customer_success`` | ``marketing``) in
        the vendor's own consent field, in the fewest calls; an address already opted out counts as written."""
        ...


class PullState:
    """What a pull changes on its adapter that the caller reads or relies on afterwards, named in one place per
    adapter (``PULL_STATE``): the calls counted, the quota as last reported, the run's quota guard and pacing,
    the caches of owners and field shapes. A pull read by another process (`sync.runner`: a forked child reads
    the pages) sends `pull_state` back when it ends, and the sync's adapter takes it (`adopt_pull_state`), so
    the adapter stands as if it had pulled itself: the summary's calls and quota, a push after it under the same
    run's guard, owners not asked for twice.

    A path is an attribute of the adapter, dotted for an attribute's attribute (``connection.calls``). A
    dataclass instance (a guard, a pacer) is taken field by field and its fields set on the object the adapter
    holds, so objects shared with the connection stay shared; its callables (injected clocks) are left alone.
    Anything else is replaced. Every value must pickle."""

    PULL_STATE: tuple[str, ...] = ()

    def pull_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {}
        for path in self.PULL_STATE:
            value = _resolve(self, path)
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                state[path] = ("fields", {f.name: getattr(value, f.name) for f in dataclasses.fields(value)
                                          if not callable(getattr(value, f.name))})
            else:
                state[path] = ("value", value)
        return state

    def adopt_pull_state(self, state: Mapping[str, tuple[str, Any]]) -> None:
        for path, (kind, value) in state.items():
            owner_path, _, name = path.rpartition(".")
            owner = _resolve(self, owner_path) if owner_path else self
            if kind == "fields":
                target = getattr(owner, name)
                for field_name, field_value in value.items():
                    setattr(target, field_name, field_value)
            else:
                setattr(owner, name, value)


def _resolve(obj: Any, path: str) -> Any:
    for name in path.split("."):
        obj = getattr(obj, name)
    return obj


class Adapter(Protocol):
    system: str

    def check_connection(self) -> None: ...

    def connected_user(self) -> str | None:
        """The vendor's id of the user these credentials act as (Canary's own writes are that user's), in one
        call; None where the vendor's webhooks name Canary otherwise (HubSpot: its app id, no call). The
        webhook receivers' loop guards read it from the connection (`WebhookSpec.user_key`)."""
        ...

    def pull(self, object: ObjectName, cursor: str | None) -> Iterator[Page]: ...

    def fetch(self, object: ObjectName, ids: Sequence[str]) -> Page:
        """The records ``ids`` name, as they are now, in one `Page` whose ``cursor`` is None (a fetch is no
        position in any pull): ``records`` mapped exactly as `pull` maps them (the same mapping and owner
        lookups), ``removed`` a `Removal` for each id that is deleted, archived or merged away (with the
        survivor, as `pull` reports it) and for each id the vendor does not know. In the fewest calls: the
        vendor's read by ids, as many ids a call as it takes."""
        ...

    def ensure_fields(self, specs: Sequence[FieldSpec]) -> list[str]: ...

    def push_fields(self, updates: Sequence[FieldUpdate]) -> PushResult: ...

    def write_email_opt_outs(self, addresses: Sequence[str], category: str) -> OptOutResult:
        """See `ConsentTarget` (every adapter has it; Zendesk's answers ``unsupported`` without a call)."""
        ...
