"""The canonical domain, multi-tenant from the start.

Every row but `Tenant` itself belongs to a tenant (`TenantScoped`); `store.scoping`
guarantees that a session opened for one tenant can neither read nor write another's.
Product usage is kept as daily aggregates (`UsageDaily`), never as raw events.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship, validates

from store.types import UTCDateTime, utcnow

SYSTEMS = ("salesforce", "zendesk", "hubspot")
LINK_SOURCES = (*SYSTEMS, "product")
"""Where an account can be known from: the three vendors, or the product's own account id."""
BANDS = ("good", "average", "poor")
CONTACT_ROLES = ("executive_sponsor", "champion", "admin", "user")
USER_ROLES = ("admin", "manager", "csm", "viewer")
TASK_REASSIGN = ("none", "automatic", "all")
MOVEMENT_KINDS = ("new", "reactivation", "expansion", "contraction", "churn", "renewal")
FORECAST_CALLS = ("commit", "likely", "monitor", "at_risk", "lost")
"""`Tenant.task_reassign`: which open tasks of an account follow it to a new owner."""
"""What a Canary user may do: admin (connections, models, users), manager (sees the team), CSM (own
portfolio first, may see all), viewer (read only)."""

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}  # noqa: RUF012


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Tenant(Base):
    __tablename__ = "tenants"
    __table_args__ = (CheckConstraint(_in("task_reassign", TASK_REASSIGN), name="task_reassign"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    write_key_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    """SHA-256 of the usage collector's write key (the key itself is never stored)."""
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    task_reassign: Mapped[str] = mapped_column(String(20), default="automatic", server_default="automatic")
    """Owner-change policy: what happens to an account's open tasks when sync sees a new owner
    (`TASK_REASSIGN`: none, automatic — the tasks alerts and plays made —, or all)."""
    gross_margin: Mapped[float] = mapped_column(Float, default=0.8, server_default="0.8")
    """The gross margin CLTV is computed with (0–1), a workspace setting."""
    renewal_probabilities: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The workspace's own starting p(band) of the renewal forecast (band → 0–1); None: Canary's defaults."""
    bi_role: Mapped[str | None] = mapped_column(String(63), unique=True)
    """The PostgreSQL role whose sessions see this workspace's rows in the read-only ``bi`` views."""
    panel_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Bumped when a change to the workspace's data names no accounts (`store.panel_views`): every panel view
    built under an earlier epoch is stale."""
    consent_writeback: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Write each suppression (unsubscribe) back to the CRMs' contacts (`sync.consent`), a workspace setting."""

    def __repr__(self) -> str:
        return f"<Tenant {self.id} {self.slug!r}>"


class TenantScoped:
    """Mixin: the row belongs to a tenant. `store.scoping` filters every query on it."""

    @declared_attr
    def tenant_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)


class Connection(TenantScoped, Base):
    """A tenant's link to one vendor system. Credentials are Fernet-encrypted at rest.

    Read and write them only through `store.crypto.CredentialCipher`; they never appear
    in `repr()`, logs or any API answer.
    """

    __tablename__ = "connections"
    __table_args__ = (
        UniqueConstraint("tenant_id", "system"),
        UniqueConstraint("system", "account_ref"),
        CheckConstraint(_in("system", SYSTEMS), name="system"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    system: Mapped[str] = mapped_column(String(20))
    base_url: Mapped[str | None] = mapped_column(String(500))
    account_ref: Mapped[str | None] = mapped_column(String(255))
    """The vendor account this connection is: Zendesk subdomain, Salesforce org id, HubSpot portal id.
    Embedded requests name it, and it tells which tenant they are for (after their signature verifies),
    so one vendor account belongs to one tenant (unique with ``system``; unset is allowed many times)."""
    credentials_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<Connection {self.id} tenant={self.tenant_id} system={self.system} credentials=[redacted]>"


NO_SCORE = -1.0
"""`Account.score_key` of an account without a score on the workspace's latest scored day (below every score)."""
NO_TREND = -1000.0
"""`Account.trend_key` of an account without a trend (below every possible slope of a 0-100 score)."""
NO_RENEWAL = dt.date(9999, 12, 31)
"""`Account.renewal_key` of an account whose active subscriptions name no renewal date (after every date)."""


class Account(TenantScoped, Base):
    """One customer, whatever systems it appears in (see `SourceLink`).

    The ``*_key`` columns and ``health_band``/``arr`` are the portfolio's sort and filter values, kept on
    the row so a portfolio page is an index range (`store.portfolio_keys`: written by every path that
    writes snapshots or subscriptions). Never NULL where they sort, so keyset paging is a plain row-value
    comparison; the values shown on a page are still read from the snapshots and subscriptions.
    """

    __tablename__ = "accounts"
    __table_args__ = (
        Index("ix_accounts_portfolio_csm_score", "tenant_id", "csm_user_id", "score_key", "id"),
        Index("ix_accounts_portfolio_band_score", "tenant_id", "health_band", "score_key", "id"),
        Index("ix_accounts_portfolio_score", "tenant_id", "score_key", "id"),
        Index("ix_accounts_portfolio_trend", "tenant_id", "trend_key", "id"),
        Index("ix_accounts_portfolio_arr", "tenant_id", "arr_key", "id"),
        Index("ix_accounts_portfolio_renewal", "tenant_id", "renewal_key", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    domain: Mapped[str | None] = mapped_column(String(255), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), index=True)
    segment: Mapped[str | None] = mapped_column(String(50))
    lifecycle_stage: Mapped[str | None] = mapped_column(String(50))
    owner: Mapped[str | None] = mapped_column(String(255))
    """The account owner's e-mail as its systems name it, the CRM's before the help desk's (`sync.owners`)."""
    csm_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    """The account's CSM as an active Canary user, mapped from `owner` by e-mail (`console.people.assign_csms`);
    None when the owner is no active user (unassigned, or a CSM who left)."""
    tier: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    health_band: Mapped[str | None] = mapped_column(String(10))
    """Band on the workspace's latest scored day (None: not scored that day)."""
    score_key: Mapped[float] = mapped_column(Float, default=NO_SCORE, server_default="-1.0")
    """Score on the latest scored day, or `NO_SCORE`."""
    trend_key: Mapped[float] = mapped_column(Float, default=NO_TREND, server_default="-1000.0")
    """30-day trend (points per day) on the latest scored day, or `NO_TREND`."""
    arr: Mapped[float | None] = mapped_column(Float)
    """ARR of the active subscriptions in the system of record (`store.queries.subscription_facts`);
    None without an active subscription, or when none names an amount."""
    arr_key: Mapped[float | None] = mapped_column(Float)
    """``arr`` or 0 for an account with an active subscription; None without one (not in ARR or renewal sorts)."""
    renewal_key: Mapped[dt.date | None] = mapped_column(Date)
    """Next renewal on or after the latest scored day (else the last one), `NO_RENEWAL` when the active
    subscriptions name none; None without an active subscription."""

    parent: Mapped[Account | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Account]] = relationship(back_populates="parent")
    links: Mapped[list[SourceLink]] = relationship(back_populates="account", cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"<Account {self.id} {self.name!r}>"


class SourceLink(TenantScoped, Base):
    """Which vendor record (system + external id) is which canonical Account, and why.

    ``system`` is a vendor, or ``product`` for the product's own account id as sent to
    the usage collector (Segment ``groupId``).
    """

    __tablename__ = "source_links"
    __table_args__ = (
        UniqueConstraint("tenant_id", "system", "external_id"),
        CheckConstraint(_in("system", LINK_SOURCES), name="system"),
    )

    # No index of its own (migration 0044): the table's unique (tenant, system, external id) key starts with the tenant.
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    """None until identity resolution has placed a freshly pulled record."""
    system: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(255))
    """A vendor record id, or a Segment ``groupId`` (up to 255 characters)."""
    method: Mapped[str] = mapped_column(String(20))
    """How the link was made: external_id | domain | name | manual | new | pending."""
    reason: Mapped[str] = mapped_column(Text)
    """The why, in words: 'Zendesk 11 names Salesforce 001A in its external id field'."""
    manual: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The record as the vendor holds it: what identity resolution matches on.
    name: Mapped[str | None] = mapped_column(String(300))
    domain: Mapped[str | None] = mapped_column(String(255))
    parent_external_id: Mapped[str | None] = mapped_column(String(64))
    cross_refs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source_updated_at: Mapped[dt.datetime | None] = mapped_column()
    # The record's owner as the vendor names it (`sync.owners` picks the account's owner among its records).
    owner: Mapped[str | None] = mapped_column(String(320))
    """The owner's e-mail (or, when it could not be read, the vendor's user id)."""
    owner_ref: Mapped[str | None] = mapped_column(String(255))
    """The owner's user id in the vendor (Salesforce User, HubSpot owner, Zendesk agent)."""
    owner_active: Mapped[bool | None] = mapped_column(Boolean)
    """Whether the vendor still counts the owner as an active user (None: not known)."""
    segment: Mapped[str | None] = mapped_column(String(50))
    tier: Mapped[str | None] = mapped_column(String(50))
    employees: Mapped[int | None] = mapped_column(Integer)
    """The record's segment, tier and employee count: the account takes its segment and tier from its
    records (`sync.writer.account_attributes`)."""

    account: Mapped[Account | None] = relationship(back_populates="links")


class Contact(TenantScoped, Base):
    """A person at a customer, matched across systems by e-mail."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "email"),
        CheckConstraint(_in("role", CONTACT_ROLES), name="role"),
    )

    # No index of its own (migration 0044): the table's unique (tenant, e-mail) key starts with the tenant.
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(300))
    title: Mapped[str | None] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(30), default="user")
    source_ids: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """system -> external id of this person in that system."""
    last_active_at: Mapped[dt.datetime | None] = mapped_column()
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Subscription(TenantScoped, Base):
    """A deal or subscription: what the customer pays for and when it renews."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("tenant_id", "system", "external_id"),)

    # No index of its own (migration 0044): the table's unique (tenant, system, external id) key starts with the tenant.
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    system: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(300))
    arr: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    mrr: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    start_date: Mapped[dt.date | None] = mapped_column(Date)
    renewal_date: Mapped[dt.date | None] = mapped_column(Date, index=True)
    seats_purchased: Mapped[int | None] = mapped_column(Integer)
    product_tier: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20), default="active")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    term_end: Mapped[dt.date | None] = mapped_column(Date)
    """Derived (`sync.revenue`): the day a won term stopped being in force — its renewal date once the renewal
    was decided (renewed or lost) — or None while it runs (docs/analytics.md, "In force")."""


class SubscriptionVersion(TenantScoped, Base):
    """A subscription's earlier values, kept when sync sees it change in place: its ARR history."""

    __tablename__ = "subscription_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True)
    seen_on: Mapped[dt.date] = mapped_column(Date)
    """The day the vendor says the change was made (the record's modification time)."""
    arr_before: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    arr_after: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    status_before: Mapped[str] = mapped_column(String(20))
    status_after: Mapped[str] = mapped_column(String(20))
    renewal_before: Mapped[dt.date | None] = mapped_column(Date)
    renewal_after: Mapped[dt.date | None] = mapped_column(Date)


class SubscriptionMovement(TenantScoped, Base):
    """A dated change of an account's ARR (new, expansion, ...) or a decided renewal, derived from its
    subscriptions and their versions (`sync.revenue`); rebuilt for an account whenever those change."""

    __tablename__ = "subscription_movements"
    __table_args__ = (
        UniqueConstraint("tenant_id", "account_id", "day", "kind"),
        Index("ix_subscription_movements_tenant_day", "tenant_id", "day"),
        CheckConstraint(_in("kind", MOVEMENT_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    day: Mapped[dt.date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(20))
    arr_before: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    arr_after: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    delta: Mapped[Decimal] = mapped_column(Numeric(14, 2))


class RevenueTimeline(TenantScoped, Base):
    """A workspace's ARR timeline as built from its subscriptions (`analytics.timeline.ArrTimeline.dumps`), kept
    so every web process reads it instead of rebuilding it: written after a sync that changed subscriptions, and
    by the first report that found it stale. `fingerprint` says which subscriptions it was built from."""

    __tablename__ = "revenue_timelines"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(200))
    subscriptions: Mapped[int] = mapped_column(Integer)
    built_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    payload: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)  # MBs: read only by `sync.reports`
    calibration: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The renewal forecast's p(band) for the day the reports open on, with what it was computed from (`key`)."""


class RenewalCall(TenantScoped, Base):
    """A CSM's forecast call on a renewal at its 6- or 3-month checkpoint, shown beside Canary's forecast."""

    __tablename__ = "renewal_calls"
    __table_args__ = (
        UniqueConstraint("tenant_id", "account_id", "renewal_date", "checkpoint"),
        CheckConstraint("checkpoint IN (6, 3)", name="checkpoint"),
        CheckConstraint(_in("call", FORECAST_CALLS), name="call"),
        CheckConstraint("checkpoint = 6 OR call != 'monitor'", name="no_monitor_at_3"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    renewal_date: Mapped[dt.date] = mapped_column(Date)
    checkpoint: Mapped[int] = mapped_column(Integer)
    """Months before the renewal: 6 or 3."""
    call: Mapped[str] = mapped_column(String(20))
    expected_arr: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    note: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    made_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Ticket(TenantScoped, Base):
    __tablename__ = "tickets"
    __table_args__ = (UniqueConstraint("tenant_id", "system", "external_id"),)

    # No index of its own (migration 0044): the table's unique (tenant, system, external id) key starts with the tenant.
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    system: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(500))
    priority: Mapped[str] = mapped_column(String(20), default="normal")
    """low | normal | high | urgent (vendor values mapped onto these)."""
    status: Mapped[str] = mapped_column(String(20), default="open")
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    requester_email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[dt.datetime] = mapped_column()
    solved_at: Mapped[dt.datetime | None] = mapped_column()
    satisfaction: Mapped[str | None] = mapped_column(String(10))
    """good | bad | None."""
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SurveyResponse(TenantScoped, Base):
    __tablename__ = "survey_responses"
    __table_args__ = (CheckConstraint("kind IN ('nps', 'csat')", name="kind"),
                      Index("ix_survey_responses_tenant_source_ref", "tenant_id", "source", "source_ref"),
                      # Ratings stored before their ticket, by ticket: placed when it comes (migration 0046).
                      Index("ix_survey_responses_unplaced_ticket", "tenant_id", "source", "ticket_ref",
                            sqlite_where=text("account_id IS NULL"), postgresql_where=text("account_id IS NULL")))

    # No index of its own (migration 0044): the table's (tenant, source, source_ref) index starts with the tenant.
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(10))
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[dt.datetime] = mapped_column()
    source: Mapped[str | None] = mapped_column(String(64))
    """Where it came from: a system name, or 'collector'; with `source_ref` it is unique."""
    source_ref: Mapped[str | None] = mapped_column(String(255))
    """The vendor's id of the answer, or the collector's ``messageId``."""
    ticket_ref: Mapped[str | None] = mapped_column(String(64))
    """The rated ticket's id in ``source`` (satisfaction ratings only)."""


class UsageDaily(TenantScoped, Base):
    """Product usage folded into one row per account, user, event and day."""

    __tablename__ = "usage_daily"
    __table_args__ = (
        UniqueConstraint("tenant_id", "account_id", "user_key", "event", "day"),
        # A window of an account's usage read from the index alone (the score run's series read; 0034).
        Index("ix_usage_daily_account_day_series", "account_id", "day", "user_key", "event", "count"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    user_key: Mapped[str] = mapped_column(String(260))
    """Segment ``userId``, or ``anon:`` + ``anonymousId`` (each up to 255 characters)."""
    event: Mapped[str] = mapped_column(String(200))
    day: Mapped[dt.date] = mapped_column(Date)
    count: Mapped[int] = mapped_column(Integer, default=0)
    minutes: Mapped[float] = mapped_column(Float, default=0.0)


class UsageMonthly(TenantScoped, Base):
    """`UsageDaily` rolled up per account, user, event and calendar month, kept by database triggers on
    ``usage_daily`` (migration 0019) in the same transaction as every write to it, whoever writes.

    ``days`` has bit d − 1 set for each day d of the month with a row; ``count`` sums the rows' counts. The row of
    event ``''`` (no event name: the collector refuses empty ones) is the user's any-event row: the days with
    any event, and all events' counts. The reports' rolling windows read these masks (docs/analytics.md).
    """

    __tablename__ = "usage_monthly"
    __table_args__ = (
        UniqueConstraint("tenant_id", "account_id", "user_key", "event", "month"),
        Index("ix_usage_monthly_tenant_month_event", "tenant_id", "month", "event"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    user_key: Mapped[str] = mapped_column(String(260))
    event: Mapped[str] = mapped_column(String(200))
    month: Mapped[dt.date] = mapped_column(Date)
    """The month's first day."""
    days: Mapped[int] = mapped_column(Integer, default=0)
    count: Mapped[int] = mapped_column(Integer, default=0)


class ProductUser(TenantScoped, Base):
    """A user of the customer's product as the usage collector knows them (Segment ``userId``)."""

    __tablename__ = "product_users"
    __table_args__ = (
        UniqueConstraint("tenant_id", "user_key"),
        Index("ix_product_users_tenant_email", "tenant_id", "email"),  # contacts are matched to users by e-mail
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_key: Mapped[str] = mapped_column(String(260))
    """Segment ``userId``, or ``anon:`` + ``anonymousId`` (each up to 255 characters)."""
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), index=True)
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(300))
    first_seen: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[dt.datetime | None] = mapped_column()
    time_zone: Mapped[str | None] = mapped_column(String(64))
    """IANA time zone from the collector's ``context.timezone`` (campaign quiet hours); None if unknown."""


class EventType(TenantScoped, Base):
    """An event name seen by the collector, created on first sight and classified automatically.

    ``kind`` is login | feature | milestone | survey | other; it can be edited later.
    """

    __tablename__ = "event_types"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="other")
    first_seen: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CollectedMessage(TenantScoped, Base):
    """Segment ``messageId``s already folded in, so a resent message counts once."""

    __tablename__ = "collected_messages"
    __table_args__ = (UniqueConstraint("tenant_id", "message_id"),)

    # No index of its own (migration 0042): the unique (tenant, message id) key finds a workspace's rows.
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)  # kept, not indexed: nothing reads by it


class CollectorInbox(TenantScoped, Base):
    """Batches the collector accepted and has not folded yet (accept, then fold: `collector.inbox`).

    One row per accepted batch: its messages (message ids already claimed in ``collected_messages``, so each is
    here once) as one msgpack blob. The fold job turns the rows of a workspace into accounts, users, event types
    and usage, oldest first, and deletes them in the same transaction (migration 0041)."""

    __tablename__ = "collector_inbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    messages: Mapped[int] = mapped_column(Integer)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class HealthSnapshot(TenantScoped, Base):
    __tablename__ = "health_snapshots"
    __table_args__ = (
        UniqueConstraint("tenant_id", "account_id", "day"),
        Index("ix_health_snapshots_tenant_day_score", "tenant_id", "day", "score", "account_id"),  # portfolios
        CheckConstraint("band IS NULL OR " + _in("band", BANDS), name="band"),
        CheckConstraint("score IS NULL OR (score >= 0 AND score <= 100)", name="score_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    day: Mapped[dt.date] = mapped_column(Date)
    score: Mapped[float | None] = mapped_column(Float)
    band: Mapped[str | None] = mapped_column(String(10))
    profile: Mapped[str | None] = mapped_column(String(100))
    parts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    trend: Mapped[float | None] = mapped_column(Float)
    """Slope of the score over the last 30 days, points per day."""
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class HealthLegend(TenantScoped, Base):
    """A scoring model's descriptors of its measures, stored once per workspace and model (`store.legends`): a
    snapshot's parts name it (``parts["legend"]``) and keep per measure only what varies per account (value, status,
    points, weight). Snapshots written before it (migration 0045) describe their measures themselves."""

    __tablename__ = "health_legends"
    __table_args__ = (UniqueConstraint("tenant_id", "fingerprint"),)

    # No index of its own: the table's unique (tenant, fingerprint) key starts with the tenant.
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    """`scoring.model_fingerprint` of the model."""
    legend: Mapped[dict[str, Any]] = mapped_column()
    """``{measure: {"signal", "dimension", "label"}}`` of every measure of the model (`scoring.model_legend`)."""
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PanelView(TenantScoped, Base):
    """What an account's embedded panel shows, prepared (`store.panel_views`): one indexed read per panel.

    ``payload`` is the view model as JSON text, built for ``as_of`` under the workspace's ``epoch``; NULL once
    something it shows changed. ``version`` goes up at every such change, and a view is only stored over the
    version it was built from, so a build that read older data never overwrites a newer change's mark."""

    __tablename__ = "panel_views"
    __table_args__ = (UniqueConstraint("tenant_id", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    as_of: Mapped[dt.date | None] = mapped_column(Date)
    payload: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class HealthWeek(TenantScoped, Base):
    """Per account and ISO week (its Monday): the week's last `HealthSnapshot` (day, score, band), kept by
    database triggers on ``health_snapshots`` (migration 0019) in the same transaction as every write to them."""

    __tablename__ = "health_weeks"
    __table_args__ = (
        UniqueConstraint("tenant_id", "account_id", "week"),
        Index("ix_health_weeks_tenant_week_band", "tenant_id", "week", "band"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    week: Mapped[dt.date] = mapped_column(Date)
    day: Mapped[dt.date] = mapped_column(Date)
    score: Mapped[float | None] = mapped_column(Float)
    band: Mapped[str | None] = mapped_column(String(10))


class Alert(TenantScoped, Base):
    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_tenant_dedupe_status", "tenant_id", "dedupe_key", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    rule: Mapped[str] = mapped_column(String(100))
    dedupe_key: Mapped[str] = mapped_column(String(300))
    severity: Mapped[str] = mapped_column(String(20), default="warning")
    title: Mapped[str] = mapped_column(String(500))
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(20), default="open")
    raised_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column()


TASK_SOURCES = ("alert", "play", "manual")
"""What made a task: an alert rule, a play, or a person."""
TASK_PRIORITIES = ("low", "normal", "high")
TASK_LINK_STATES = ("pending", "created", "failed", "deleted")


class Task(TenantScoped, Base):
    """A piece of work for a CSM on an account; created through `sync.tasks.create_task`.

    Where the account is linked to a CRM that keeps tasks, the task is also there (one `TaskLink` per
    system); completion, due date and owner flow both ways (`sync.tasks`). ``system``/``external_id`` are
    the columns of before `TaskLink`, left unused."""

    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint(_in("source", TASK_SOURCES), name="source"),
        CheckConstraint(_in("priority", TASK_PRIORITIES), name="priority"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(500))
    body: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(255))
    """The assignee's e-mail (else the account owner's when the task was made)."""
    due_date: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="open")
    """open | done."""
    system: Mapped[str | None] = mapped_column(String(20))
    external_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    assignee_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    """The Canary user the task is for (None: the account's owner in each CRM)."""
    priority: Mapped[str] = mapped_column(String(10), default="normal", server_default="normal")
    source: Mapped[str] = mapped_column(String(20), default="alert", server_default="alert")
    source_ref: Mapped[str | None] = mapped_column(String(100))
    """The play (or other origin) that made it, in the source's own words; alerts use ``alert_id``."""
    completed_at: Mapped[dt.datetime | None] = mapped_column()
    updated_at: Mapped[dt.datetime | None] = mapped_column(default=utcnow, onupdate=utcnow)
    play_run_id: Mapped[int | None] = mapped_column(ForeignKey("play_runs.id", ondelete="SET NULL"), index=True)
    """The play run whose step made it (`sync.plays`)."""
    closed_reason: Mapped[str | None] = mapped_column(Text)
    """Why it was closed without anyone doing it (its play's trigger cleared, its play was turned off)."""

    links: Mapped[list[TaskLink]] = relationship(back_populates="task", cascade="all, delete-orphan")

    @validates("status")
    def _completion(self, _key: str, status: str) -> str:
        """Marking a task done stamps ``completed_at`` (whoever marks it: console, API, a CRM pull)."""
        if status == "done" and self.completed_at is None:
            self.completed_at = utcnow()
        elif status != "done":
            self.completed_at = None
        return status


class TaskLink(TenantScoped, Base):
    """One task in one CRM: Canary's key for it (written here before the create call and into the CRM
    record, so an interrupted push finds it there), the CRM's id once known, and what the CRM holds.

    ``state``: pending (the key is written, the create's outcome is not known yet), created, failed (the
    CRM refused it; sent again next push), deleted (deleted in the CRM: never created again).
    ``sent`` is the last state both sides agree on (``status``, ``due``, ``owner``): a push sends only
    differences from it, and a pull that reads it back (Canary's own write) is no change.
    """

    __tablename__ = "task_links"
    __table_args__ = (
        UniqueConstraint("tenant_id", "system", "key"),
        UniqueConstraint("tenant_id", "task_id", "system"),
        Index("ix_task_links_tenant_system_external", "tenant_id", "system", "external_id"),
        CheckConstraint(_in("system", SYSTEMS), name="system"),
        CheckConstraint(_in("state", TASK_LINK_STATES), name="state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    system: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(64))
    """Canary's idempotency key, kept in the CRM record's Canary task key field."""
    external_id: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20), default="pending")
    sent: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_error: Mapped[str | None] = mapped_column(Text)
    attempted_at: Mapped[dt.datetime | None] = mapped_column()
    synced_at: Mapped[dt.datetime | None] = mapped_column()

    task: Mapped[Task] = relationship(back_populates="links")


class SyncCursor(TenantScoped, Base):
    """Where the last incremental pull of one object from one system stopped."""

    __tablename__ = "sync_cursors"
    __table_args__ = (UniqueConstraint("tenant_id", "system", "object"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    system: Mapped[str] = mapped_column(String(20))
    object: Mapped[str] = mapped_column(String(50))
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PushLedger(TenantScoped, Base):
    """The last value Canary wrote to each field of each vendor record.

    A push sends only values that differ from here; a failed write keeps its error and
    is retried next run.
    """

    __tablename__ = "push_ledger"
    __table_args__ = (UniqueConstraint("tenant_id", "system", "external_id", "field"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    system: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(100))
    value: Mapped[str | None] = mapped_column(Text)
    written_at: Mapped[dt.datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)


class UsedSignature(Base):
    """A signed request already accepted (an embed's JWT, signed request or v3 signature; an install state).

    Not tenant-scoped: it is checked before the tenant is known. Shared by every process serving
    Canary, so a request replayed to another worker is refused too (`integrations.replay`). Only a
    hash of the signature is kept, until the request would have expired anyway.
    """

    __tablename__ = "used_signatures"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
    """Seconds since the epoch."""


class User(TenantScoped, Base):
    """A person of the customer-success team who signs in to Canary, in one workspace with one role."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("tenant_id", "email"),
        CheckConstraint(_in("role", USER_ROLES), name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    """Lower case; the sign-in name and what vendor users and account owners are matched on."""
    name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="csm")
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    """The manager this user reports to: a manager's team is the users naming them here."""
    password_hash: Mapped[str | None] = mapped_column(String(255))
    """argon2id; None: the user cannot sign in with a password (a reset link sets one)."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    """Bumped when the password changes or the user is disabled: every older session stops working."""
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column()

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email!r} {self.role}>"


class VendorUserLink(TenantScoped, Base):
    """Which vendor user (Salesforce User, HubSpot owner, Zendesk agent) a Canary user is.

    Filled by matching e-mails when owners are synced, or by hand; vendor sign-in maps the vendor's
    user to a Canary user through this table.
    """

    __tablename__ = "vendor_user_links"
    __table_args__ = (
        UniqueConstraint("tenant_id", "system", "external_id"),
        CheckConstraint(_in("system", SYSTEMS), name="system"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    system: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    matched_by: Mapped[str] = mapped_column(String(20), default="email")
    """email | manual."""
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PasswordResetToken(TenantScoped, Base):
    """A password-reset link: only a SHA-256 of its token is kept; single use and short-lived."""

    __tablename__ = "password_reset_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[dt.datetime] = mapped_column()
    used_at: Mapped[dt.datetime | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ApiToken(TenantScoped, Base):
    """A user's REST API token: shown once when made; only its SHA-256 is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    """The token's first characters, to tell tokens apart in lists (not enough to use it)."""
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column()
    revoked_at: Mapped[dt.datetime | None] = mapped_column()


class AuditEvent(TenantScoped, Base):
    """Who changed what: users, roles, tokens, connections, models, syncs started from the console."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_tenant_at", "tenant_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(320))
    """Who, in words that survive the user's deletion: an e-mail, or 'command line'."""
    action: Mapped[str] = mapped_column(String(50))
    target: Mapped[str] = mapped_column(String(320))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class SyncRun(TenantScoped, Base):
    """One system's part of a sync or push: what the Connections page shows."""

    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_tenant_system_started", "tenant_id", "system", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    system: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(10), default="pull")
    """pull | push."""
    trigger: Mapped[str] = mapped_column(String(20), default="cli")
    """cli | console | demo."""
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column()
    records: Mapped[int] = mapped_column(Integer, default=0)
    """Records pulled, or pushed."""
    changed: Mapped[int] = mapped_column(Integer, default=0)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    quota_left: Mapped[int | None] = mapped_column(Integer)
    failure: Mapped[str | None] = mapped_column(Text)


class SignInFailure(Base):
    """A failed sign-in, kept a short while to rate-limit by account and by address.

    Not tenant-scoped: it is checked before anyone is known. Keys are SHA-256 of ``account:EMAIL``
    or ``address:IP``; the address and e-mail themselves are not stored.
    """

    __tablename__ = "sign_in_failures"
    __table_args__ = (Index("ix_sign_in_failures_key_at", "key_hash", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[float] = mapped_column(Float, index=True)
    """Seconds since the epoch."""


class PortfolioList(TenantScoped, Base):
    """A saved, shareable account segment (`worklists`): its current definition is its latest version."""

    __tablename__ = "portfolio_lists"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str | None] = mapped_column(String(64))
    """The shipped list this is (``renewal-90``...); None for a list a user made."""
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    """The current version (`PortfolioListVersion.version`)."""
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    evaluated_on: Mapped[dt.date | None] = mapped_column(Date)
    """The day its memberships were last evaluated as of."""


class PortfolioListVersion(TenantScoped, Base):
    """Every saved definition of a list: editing makes a new version; none is ever changed."""

    __tablename__ = "portfolio_list_versions"
    __table_args__ = (UniqueConstraint("list_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("portfolio_lists.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column()
    """The validated document (`worklists.ListDefinition.as_dict`)."""
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    author: Mapped[str] = mapped_column(String(320))
    """Who, in words that survive the user's deletion: an e-mail, or 'Canary' for a shipped list."""
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PortfolioListMember(TenantScoped, Base):
    """An account in a list now, since when, and why (the reasons of its latest evaluation)."""

    __tablename__ = "portfolio_list_members"
    __table_args__ = (
        UniqueConstraint("list_id", "account_id"),
        Index("ix_portfolio_list_members_page", "tenant_id", "list_id", "entered_on", "account_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("portfolio_lists.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    entered_on: Mapped[dt.date] = mapped_column(Date)
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    version: Mapped[int] = mapped_column(Integer)
    """The list version whose evaluation gave these reasons."""


class PortfolioListEvent(TenantScoped, Base):
    """Membership history: an account entered or left a list on a day, with the reasons then.

    Append-only and ordered by ``id``: what a play engine reads as events (account, list, entered/left,
    day, reasons). A ``left`` event keeps the reasons the account was in for.
    """

    __tablename__ = "portfolio_list_events"
    __table_args__ = (
        CheckConstraint("kind IN ('entered', 'left')", name="kind"),
        Index("ix_portfolio_list_events_list_day", "tenant_id", "list_id", "day"),
        Index("ix_portfolio_list_events_day", "tenant_id", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("portfolio_lists.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    day: Mapped[dt.date] = mapped_column(Date)
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PortfolioListFollow(TenantScoped, Base):
    """A user follows a list: it is on their weekly *My lists* page."""

    __tablename__ = "portfolio_list_follows"
    __table_args__ = (UniqueConstraint("list_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("portfolio_lists.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class JobFailure(TenantScoped, Base):
    """A background job that failed after its retries (the dead letters the Connections page lists)."""

    __tablename__ = "job_failures"
    __table_args__ = (Index("ix_job_failures_tenant_failed", "tenant_id", "failed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    """sync | push | score | changes | refresh ..."""
    system: Mapped[str | None] = mapped_column(String(20))
    arguments: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    job_id: Mapped[str | None] = mapped_column(String(64))
    failed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    retried_at: Mapped[dt.datetime | None] = mapped_column()
    """When someone sent it again from the Connections page."""


PLAY_STATES = ("draft", "live", "paused", "off")
RUN_STATES = ("queued", "running", "done", "closed", "skipped", "failed")


class Play(TenantScoped, Base):
    """A play (`plays`): a trigger and steps. Edits are a draft until published as a new version; runs
    keep the version they started on."""

    __tablename__ = "plays"
    __table_args__ = (
        UniqueConstraint("tenant_id", "key"),
        CheckConstraint(_in("state", PLAY_STATES), name="state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str | None] = mapped_column(String(64))
    """The template it was made from when that is the workspace's only copy of it; None otherwise."""
    template: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(120))
    state: Mapped[str] = mapped_column(String(10), default="draft")
    """draft (never published) | live | paused (runs wait, nothing starts) | off (turned off: runs closed)."""
    draft: Mapped[dict[str, Any] | None] = mapped_column()
    """Unpublished edits (`plays.PlayDefinition.as_dict`); None when the published version is current."""
    version: Mapped[int | None] = mapped_column(Integer)
    """The published version new runs start on (None: never published)."""
    published_on: Mapped[dt.date | None] = mapped_column(Date)
    """The day it was first published: list and date triggers count from it."""
    evaluated_on: Mapped[dt.date | None] = mapped_column(Date)
    assign_state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Round-robin positions (team -> the user last given a task)."""
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PlayVersion(TenantScoped, Base):
    """Every published definition of a play; none is ever changed."""

    __tablename__ = "play_versions"
    __table_args__ = (UniqueConstraint("play_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    play_id: Mapped[int] = mapped_column(ForeignKey("plays.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column()
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    author: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PlayRun(TenantScoped, Base):
    """One play on one account for one reason (the trigger's: a list, an alert rule, a date...).

    ``active_key`` is set while the run is queued or running and unique: never two running copies of
    one play on one account for one reason. ``episode`` tells firings of one reason apart (the day the
    account entered the list, the alert, the renewal date): each is handled once, started or skipped.
    ``log`` is the run's history, oldest first: ``{"at", "day", "state", "message"}``.
    """

    __tablename__ = "play_runs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "active_key"),
        UniqueConstraint("tenant_id", "play_id", "account_id", "reason", "episode"),
        CheckConstraint(_in("state", RUN_STATES), name="state"),
        Index("ix_play_runs_play_state", "tenant_id", "play_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    play_id: Mapped[int] = mapped_column(ForeignKey("plays.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(120))
    episode: Mapped[str] = mapped_column(String(64))
    active_key: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(10), default="queued")
    why: Mapped[str] = mapped_column(Text, default="")
    """The latest state's reason, in words (waiting until..., skipped: already running since...)."""
    trigger_reasons: Mapped[list[Any]] = mapped_column(default=list)
    step: Mapped[int] = mapped_column(Integer, default=0)
    """The next step to run (0-based)."""
    resume_on: Mapped[dt.date | None] = mapped_column(Date)
    wait_task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", ondelete="SET NULL"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    """Failed attempts of the current step (an e-mail or webhook that did not go through)."""
    started_on: Mapped[dt.date] = mapped_column(Date)
    started_by: Mapped[str | None] = mapped_column(String(320))
    ended_at: Mapped[dt.datetime | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    log: Mapped[list[Any]] = mapped_column(default=list)


MAIL_STATES = ("queued", "sending", "sent", "failed", "dead", "unknown", "suppressed")
"""`OutboxMessage.state`: queued (waiting, maybe for a retry), sending (claimed by a sender), sent (the SMTP
server accepted it), failed (refused for good: 5xx), dead (out of retries after temporary failures), unknown
(a sender stopped while handing it to SMTP: maybe delivered, never re-sent), suppressed (the address
unsubscribed from its category)."""
MAIL_CATEGORIES = ("customer_success", "marketing", "transactional")
"""What an e-mail is, for consent: the first two carry the unsubscribe headers and honour suppressions;
transactional mail (a test send, a password reset) does neither."""
SUPPRESSION_CATEGORIES = ("customer_success", "marketing")


class MailSettings(TenantScoped, Base):
    """A workspace's SMTP server. The password is Fernet-encrypted by `store.crypto.CredentialCipher`
    (the connections' one mechanism) and never appears in `repr()`, logs, audit rows or pages."""

    __tablename__ = "mail_settings"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer, default=587)
    starttls: Mapped[bool] = mapped_column(Boolean, default=True)
    username: Mapped[str | None] = mapped_column(String(320))
    password_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    from_address: Mapped[str] = mapped_column(String(320))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<MailSettings tenant={self.tenant_id} {self.host}:{self.port} password=[redacted]>"


class OutboxMessage(TenantScoped, Base):
    """One e-mail, rendered and stored before it is sent (`mail.outbox`): the MIME bytes in ``raw`` (with
    the Message-ID made once, so a retry sends the same message), its state, attempts and next try."""

    __tablename__ = "mail_outbox"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        UniqueConstraint("unsubscribe_token"),
        CheckConstraint(_in("state", MAIL_STATES), name="state"),
        CheckConstraint(_in("category", MAIL_CATEGORIES), name="category"),
        Index("ix_mail_outbox_due", "tenant_id", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    """Who asked for this e-mail, once: e.g. ``campaign:3:step:2:person:41``; the same key again is the same row."""
    category: Mapped[str] = mapped_column(String(20))
    to_address: Mapped[str] = mapped_column(String(320))
    from_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(998))
    message_id: Mapped[str] = mapped_column(String(255))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    unsubscribe_token: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(12), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    permanent_failures: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    claim: Mapped[str | None] = mapped_column(String(32))
    """The sender holding the row while ``sending``: its claim token (a compare-and-set key)."""
    claimed_at: Mapped[dt.datetime | None] = mapped_column()
    handed_at: Mapped[dt.datetime | None] = mapped_column()
    """Set, in its own commit, just before the message is handed to SMTP: a row left ``sending`` with it set
    may have been delivered (never re-sent); without it, it was not (queued again)."""
    last_error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column()

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.state} key={self.idempotency_key!r}>"


class Suppression(TenantScoped, Base):
    """An address that must get no more mail of one category in this workspace (an unsubscribe)."""

    __tablename__ = "mail_suppressions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "address", "category"),
        CheckConstraint(_in("category", SUPPRESSION_CATEGORIES), name="category"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(320))
    """Lower case."""
    category: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(40))
    """How: ``one-click`` (RFC 8058 POST), ``page`` (the button), ``admin``..."""
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("mail_outbox.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


CONSENT_WRITE_STATES = ("queued", "written", "not_found", "failed", "skipped")


class ConsentWrite(TenantScoped, Base):
    """One suppression to write to one connected CRM (`sync.consent`): queued, then written (the CRM's people
    with that address are opted out), not_found (it has none), failed (refused, or out of retries: the error
    says why) or skipped (the vendor keeps no e-mail consent: Zendesk). A queued row whose attempt failed for a
    passing reason waits for ``next_attempt_at``."""

    __tablename__ = "crm_consent_writes"
    __table_args__ = (
        UniqueConstraint("suppression_id", "system"),
        CheckConstraint(_in("state", CONSENT_WRITE_STATES), name="state"),
        Index("ix_crm_consent_writes_due", "tenant_id", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    suppression_id: Mapped[int] = mapped_column(ForeignKey("mail_suppressions.id", ondelete="CASCADE"))
    system: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(320))
    category: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    done_at: Mapped[dt.datetime | None] = mapped_column()


class SavedAudience(TenantScoped, Base):
    """A named audience (a validated `campaigns.definition.Audience` document) kept for campaigns to use: the
    console's audience editor. A campaign copies the document when it takes the audience."""

    __tablename__ = "campaign_audiences"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


CAMPAIGN_STATUSES = ("draft", "active", "paused", "finished")
"""`Campaign.status`: a draft sends nothing; active enrolls and advances; paused advances nobody (enrollments
wait); finished enrolls nobody and exits everyone still in with reason ``finished``."""
CAMPAIGN_STEP_KINDS = ("send_email", "send_in_app", "wait", "branch", "create_task")
ENROLLMENT_EXIT_REASONS = ("completed", "goal", "unsubscribed", "left_audience", "finished", "suppressed")
MAIL_EVENT_KINDS = ("delivered", "bounced", "opened", "clicked", "unsubscribed", "complained")


class CampaignSettings(TenantScoped, Base):
    """A workspace's campaign rules (`campaigns.runner`): at most ``weekly_cap`` campaign e-mails per person
    per ISO week, and no campaign e-mail between ``quiet_start`` and ``quiet_end`` (minutes after local
    midnight) in the recipient's time zone (``time_zone`` when the person's is unknown). No row: the defaults."""

    __tablename__ = "campaign_settings"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    weekly_cap: Mapped[int] = mapped_column(Integer, default=3)
    quiet_start: Mapped[int] = mapped_column(Integer, default=21 * 60)
    quiet_end: Mapped[int] = mapped_column(Integer, default=8 * 60)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Campaign(TenantScoped, Base):
    """A nurture track (`campaigns`): who (``audience``, a validated `campaigns.audience.Audience` document),
    what (its ordered `CampaignStep` rows), and why (``goal``, reached within ``conversion_days`` of enrolling
    counts a conversion). One person (a lower-cased e-mail) is enrolled once per campaign."""

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint(_in("status", CAMPAIGN_STATUSES), name="status"),
        CheckConstraint(_in("category", SUPPRESSION_CATEGORIES), name="category"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(10), default="draft")
    category: Mapped[str] = mapped_column(String(20), default="customer_success")
    """The consent category of its e-mail (`SUPPRESSION_CATEGORIES`)."""
    audience: Mapped[dict[str, Any]] = mapped_column(default=dict)
    goal: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """None, or a validated `campaigns.model.Goal` document (event, list entered/left, field value)."""
    conversion_days: Mapped[int] = mapped_column(Integer, default=30)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    activated_at: Mapped[dt.datetime | None] = mapped_column()
    finished_at: Mapped[dt.datetime | None] = mapped_column()

    steps: Mapped[list[CampaignStep]] = relationship(back_populates="campaign", order_by="CampaignStep.position",
                                                     cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"<Campaign {self.id} {self.name!r} {self.status}>"


class CampaignStep(TenantScoped, Base):
    """One step of a campaign, in ``position`` order (1, 2, ...). ``config`` by kind (`campaigns.model`):
    send_email {subject, html, text}; send_in_app {title, body, cta_label, cta_url, kind}; wait {days};
    branch {on: opened|clicked|goal|list, step (for opened/clicked), list_id (for list), then, else (positions;
    0 ends the track)}; create_task {title, due_days}."""

    __tablename__ = "campaign_steps"
    __table_args__ = (
        UniqueConstraint("campaign_id", "position"),
        CheckConstraint(_in("kind", CAMPAIGN_STEP_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)

    campaign: Mapped[Campaign] = relationship(back_populates="steps")


class CampaignEnrollment(TenantScoped, Base):
    """One person in one campaign: the step they are at (``position``; due at ``next_at``), and how they left."""

    __tablename__ = "campaign_enrollments"
    __table_args__ = (
        UniqueConstraint("campaign_id", "email"),
        Index("ix_campaign_enrollments_due", "tenant_id", "exited_at", "next_at"),
        Index("ix_campaign_enrollments_email", "tenant_id", "email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    """Lower case: the person (one e-mail, one enrollment, whatever accounts it appears in)."""
    user_key: Mapped[str | None] = mapped_column(String(260))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=1)
    next_at: Mapped[dt.datetime | None] = mapped_column()
    enrolled_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    exited_at: Mapped[dt.datetime | None] = mapped_column()
    exit_reason: Mapped[str | None] = mapped_column(String(20))
    """`ENROLLMENT_EXIT_REASONS`."""
    converted_at: Mapped[dt.datetime | None] = mapped_column()
    """When the goal was reached within the conversion window (a conversion); None otherwise."""
    goal_reached_at: Mapped[dt.datetime | None] = mapped_column()


class CampaignStepRun(TenantScoped, Base):
    """History: what one step did for one enrollment, once per (enrollment, step, attempt). ``outcome``:
    sent, suppressed, pending (in-app without a package), queued (in-app), capped, quiet, waited, branched,
    task, skipped. ``outbox_id`` ties a sent e-mail to its tracking events."""

    __tablename__ = "campaign_step_runs"
    __table_args__ = (
        Index("ix_campaign_step_runs_campaign", "tenant_id", "campaign_id", "position"),
        Index("ix_campaign_step_runs_enrollment", "enrollment_id", "position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    enrollment_id: Mapped[int] = mapped_column(ForeignKey("campaign_enrollments.id", ondelete="CASCADE"))
    step_id: Mapped[int | None] = mapped_column(ForeignKey("campaign_steps.id", ondelete="SET NULL"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(20))
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("mail_outbox.id", ondelete="SET NULL"), index=True)
    detail: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MailEvent(TenantScoped, Base):
    """What happened to one sent e-mail: delivered/bounced (from the outbox's outcome), opened/clicked (the
    signed tracking pixel and links, `campaigns.tracking`), unsubscribed (the consent route), complained."""

    __tablename__ = "mail_events"
    __table_args__ = (
        CheckConstraint(_in("kind", MAIL_EVENT_KINDS), name="kind"),
        Index("ix_mail_events_outbox", "tenant_id", "outbox_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("mail_outbox.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    url: Mapped[str | None] = mapped_column(String(2000))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
INAPP_KINDS = ("banner", "modal")
"""`InAppMessage.kind`: a bar across the top of the customer's product, or a dialog over it."""


class InAppSettings(TenantScoped, Base):
    """A workspace's in-app settings: the identity-verification secret (the customer's server signs each end
    user's id with it), the origins allowed to call the in-app API (CORS), and the Web Push VAPID key pair.
    Secrets are Fernet-encrypted by `store.crypto.CredentialCipher` and never appear in `repr()` or logs."""

    __tablename__ = "inapp_settings"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    secret_rotated_at: Mapped[dt.datetime | None] = mapped_column()
    allowed_origins: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """Exact origins (``https://app.example.com``) the snippet may call from; no wildcard."""
    vapid_private_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    vapid_public_key: Mapped[str | None] = mapped_column(String(100))
    """The application server key browsers subscribe with (uncompressed P-256 point, base64url)."""
    vapid_subject: Mapped[str | None] = mapped_column(String(320))
    """``mailto:`` or ``https:`` contact the push services may reach the sender at (the JWT ``sub``)."""
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<InAppSettings tenant={self.tenant_id} secret=[redacted]>"


class InAppMessage(TenantScoped, Base):
    """One message for one end user of the customer's product (Segment ``userId``), shown by the snippet."""

    __tablename__ = "inapp_messages"
    __table_args__ = (
        UniqueConstraint("tenant_id", "user_key", "ref"),
        CheckConstraint(_in("kind", INAPP_KINDS), name="kind"),
        Index("ix_inapp_messages_pending", "tenant_id", "user_key", "dismissed_at"),
        Index("ix_inapp_messages_push_due", "tenant_id", "push_wanted", "pushed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    user_key: Mapped[str] = mapped_column(String(260))
    kind: Mapped[str] = mapped_column(String(10))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    cta_label: Mapped[str | None] = mapped_column(String(80))
    cta_url: Mapped[str | None] = mapped_column(String(2000))
    ref: Mapped[str] = mapped_column(String(200))
    """Who asked for it, once: e.g. ``campaign:3:step:2``; the same (user, ref) again is the same row."""
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column()
    shown_at: Mapped[dt.datetime | None] = mapped_column()
    dismissed_at: Mapped[dt.datetime | None] = mapped_column()
    clicked_at: Mapped[dt.datetime | None] = mapped_column()
    push_wanted: Mapped[bool] = mapped_column(Boolean, default=False)
    """Also send it as a Web Push notification (a campaign step's ``push``), once, by the send job."""
    pushed_at: Mapped[dt.datetime | None] = mapped_column()
    """When a sender claimed the push (committed before any HTTP call): set once, never pushed again."""
    push_outcome: Mapped[str | None] = mapped_column(String(20))
    """sent, failed, no_keys, no_subscription or expired (`inapp.push.send_due_pushes`); None while claimed."""


class PushSubscription(TenantScoped, Base):
    """One browser's Web Push subscription for one end user (the PushSubscription the browser made)."""

    __tablename__ = "push_subscriptions"
    __table_args__ = (UniqueConstraint("tenant_id", "endpoint_hash"), Index("ix_push_subscriptions_user",
                                                                               "tenant_id", "user_key"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_key: Mapped[str] = mapped_column(String(260))
    endpoint: Mapped[str] = mapped_column(String(2000))
    endpoint_hash: Mapped[str] = mapped_column(String(64))
    """SHA-256 of ``endpoint`` (unique per workspace; endpoints are too long to index everywhere)."""
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    not_before: Mapped[dt.datetime | None] = mapped_column()
    """The push service answered 429: nothing is sent to it before this (its ``Retry-After``)."""
    last_sent_at: Mapped[dt.datetime | None] = mapped_column()
NOTIFY_KINDS = ("alert", "task_assigned", "task_overdue", "band_changed", "play_step_due", "escalation")
"""What a team notification is about (`notify.rules`)."""
NOTIFY_CHANNELS = ("bell", "email", "digest", "slack")
DELIVERY_STATES = ("pending", "sending", "sent", "failed", "unknown")
"""`NotifyDelivery.state`: sending is a Slack message claimed by one sender; unknown, one whose sender stopped
mid-post (maybe posted: never posted again)."""
SLACK_MODES = ("bot", "webhook")


class NotifySettings(TenantScoped, Base):
    """A workspace's notification settings: its Slack (a bot token or an incoming webhook URL, Fernet-encrypted
    by `store.crypto.CredentialCipher` as ``{"secret": …}``, never shown back), routes by alert reason to a
    Slack channel, and the business hours escalation counts in."""

    __tablename__ = "notify_settings"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slack_mode: Mapped[str | None] = mapped_column(String(10))
    """bot | webhook | None (no Slack)."""
    slack_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    slack_channel: Mapped[str | None] = mapped_column(String(80))
    """The default channel (bot mode) when no route matches."""
    slack_routes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Alert reason (rule) → Slack channel."""
    escalation_hours: Mapped[int] = mapped_column(Integer, default=8)
    """Business hours an alert may stay unacknowledged before its CSM's manager hears of it (0: never)."""
    business_start: Mapped[int] = mapped_column(Integer, default=9)
    business_end: Mapped[int] = mapped_column(Integer, default=17)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    bands_checked_at: Mapped[dt.datetime | None] = mapped_column()
    """The newest snapshot ``computed_at`` the band-change scan has seen: the next scan reads only newer ones."""
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<NotifySettings tenant={self.tenant_id} slack={self.slack_mode} secret=[redacted]>"


class NotifyPreference(TenantScoped, Base):
    """One user's notification choices: per kind a scope and channels (`notify.rules.validate_rules`), their
    time zone (the digest goes at 08:00 there), their Slack member id, and the day of their last digest."""

    __tablename__ = "notify_preferences"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    slack_user: Mapped[str | None] = mapped_column(String(40))
    rules: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_digest_on: Mapped[dt.date | None] = mapped_column(Date)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class NotifyEvent(TenantScoped, Base):
    """Something the team may hear of, once per ``key`` (``alert:12``, ``task-overdue:7:2026-12-01``)."""

    __tablename__ = "notify_events"
    __table_args__ = (
        UniqueConstraint("tenant_id", "key"),
        CheckConstraint(_in("kind", NOTIFY_KINDS), name="kind"),
        Index("ix_notify_events_fanout", "tenant_id", "fanned_out_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    """The user the event is about (a task's assignee, an escalation's manager)."""
    severity: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(500))
    occurred_at: Mapped[dt.datetime] = mapped_column()
    fanned_out_at: Mapped[dt.datetime | None] = mapped_column()
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column()
    acknowledged_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    escalated_at: Mapped[dt.datetime | None] = mapped_column()


class NotifyDelivery(TenantScoped, Base):
    """One event to one user on one channel, once (unique): the bell item, the e-mail, the digest line, the
    Slack message. ``deliver_after`` holds it while snoozed; a Slack 429 sets ``next_attempt_at``."""

    __tablename__ = "notify_deliveries"
    __table_args__ = (
        UniqueConstraint("tenant_id", "event_id", "user_id", "channel"),
        CheckConstraint(_in("channel", NOTIFY_CHANNELS), name="channel"),
        CheckConstraint(_in("state", DELIVERY_STATES), name="state"),
        Index("ix_notify_deliveries_due", "tenant_id", "channel", "state", "next_attempt_at"),
        Index("ix_notify_deliveries_user", "tenant_id", "user_id", "channel", "read_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("notify_events.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(10), default="pending")
    slack_channel: Mapped[str | None] = mapped_column(String(80))
    deliver_after: Mapped[dt.datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    claimed_at: Mapped[dt.datetime | None] = mapped_column()
    """When a Slack sender claimed it (state sending)."""
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column()
    read_at: Mapped[dt.datetime | None] = mapped_column()


class NotifySnooze(TenantScoped, Base):
    """A user snoozed one alert (``alert_id``) or everything (None) until ``until``."""

    __tablename__ = "notify_snoozes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    until: Mapped[dt.datetime] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
class ReportCopy(TenantScoped, Base):
    """A prepared copy of one Health, Adoption, Users or Team report (`sync.base_reports`): the report as its page
    shows it (JSON, zlib-compressed), for the parameters hashed in `key`, built from the data `fingerprint` names.
    Written by the worker after a sync or score run (the default views) and by the first request of other
    parameters; read while the fingerprint holds. Team copies carry the visibility scope in their key."""

    __tablename__ = "report_copies"
    __table_args__ = (UniqueConstraint("tenant_id", "report", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(64))
    """SHA-256 (hex) of the report's parameters (its day resolved, the team report's scope)."""
    fingerprint: Mapped[str] = mapped_column(String(400))
    built_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class AccountFact(TenantScoped, Base):
    """Per account, its health as the Health and Team reports read it on the latest scored day (migration 0029,
    `sync.base_reports.refresh_account_facts`): the latest snapshot's day, score, band and measure values (float64,
    NaN for none, in `ReportFactsState.measures`' order), and its week-end score (float64, NaN: none) and band
    (one letter: good, average, poor, n(one); '-': no snapshot that week) of each of the `ReportFactsState.weeks`
    ISO weeks up to `ReportFactsState.last_week`. Rebuilt set-based by the worker after every sync and full score
    run; read only while `ReportFactsState.fingerprint` holds."""

    __tablename__ = "account_facts"
    __table_args__ = (UniqueConstraint("tenant_id", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    day: Mapped[dt.date | None] = mapped_column(Date)
    score: Mapped[float | None] = mapped_column(Float)
    band: Mapped[str | None] = mapped_column(String(10))
    measures: Mapped[bytes | None] = mapped_column(LargeBinary)
    week_scores: Mapped[bytes] = mapped_column(LargeBinary)
    week_bands: Mapped[str] = mapped_column(String(64))


class ReportFactsState(TenantScoped, Base):
    """What a workspace's `AccountFact` rows were built from: the day, the snapshots' fingerprint, the measures and
    the weeks they hold (migration 0029). No row: no facts (the reports compute from the snapshots)."""

    __tablename__ = "report_facts_state"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date)
    fingerprint: Mapped[str] = mapped_column(String(64))
    measures: Mapped[str] = mapped_column(Text)
    """The measures' names, a JSON list."""
    last_week: Mapped[dt.date] = mapped_column(Date)
    weeks: Mapped[int] = mapped_column(Integer)
    built_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ReportFactPack(TenantScoped, Base):
    """Per workspace, what the Health and Team views of the whole base read from its account facts, packed in a
    blob per report (migration 0037, `sync.base_reports`: the distribution's and trend's cells per group of each
    `by`, the benchmarks, the live accounts' poor weeks; the Team report's per-account columns). Read only while
    ``fingerprint`` (the facts' and the accounts') holds."""

    __tablename__ = "report_fact_packs"
    __table_args__ = (UniqueConstraint("tenant_id", "part"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    part: Mapped[str] = mapped_column(String(10))
    """"health" (the Health views' cells, benchmarks, poor weeks), "team" (the Team report's columns) or "adoption"
    (the whole base's Adoption counts: `sync.base_reports._adoption_pack`)."""
    fingerprint: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    built_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class UsageAccountFact(TenantScoped, Base):
    """Per account, its usage as the Adoption report reads it on the latest scored day (migration 0030,
    `sync.usage_facts.refresh_usage_facts`): its first day of use, its active subscriptions' product tier (a premium
    one, another) and seats, its health over the 30 days (snapshots, scored, lowest score, first day: the
    upgrade rule), its users active in the 30 days and the 30 before, and ``usage``: counts (1, 2 or 4 bytes
    each: `sync.usage_facts.usage_blobs`), the window's distinct users of any event and of each key feature
    (`UsageFactsState.key_features`' order), then per month of
    the last `UsageFactsState.months` the users of any event and of each key feature. Read only while
    `UsageFactsState.fingerprint` holds. ``id`` is the account's id (read by primary key, SQLite's rowid)."""

    __tablename__ = "usage_account_facts"
    __table_args__ = (UniqueConstraint("tenant_id", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    first_active: Mapped[dt.date | None] = mapped_column(Date)
    premium_tier: Mapped[str | None] = mapped_column(String(50))
    other_tier: Mapped[str | None] = mapped_column(String(50))
    seats: Mapped[int | None] = mapped_column(Integer)
    snapshots: Mapped[int] = mapped_column(Integer, default=0)
    scored: Mapped[int] = mapped_column(Integer, default=0)
    lowest_score: Mapped[float | None] = mapped_column(Float)
    first_day: Mapped[dt.date | None] = mapped_column(Date)
    users_now: Mapped[int] = mapped_column(Integer, default=0)
    users_before: Mapped[int] = mapped_column(Integer, default=0)
    usage: Mapped[bytes] = mapped_column(LargeBinary)


class UsageUserFact(TenantScoped, Base):
    """Per product user (account, user key) active in the 60 days up to the latest scored day (migration 0030): its
    active and key-feature days of the 30 days, engagement (their sum), logins in the 30 days and the 30 before,
    and whether it needs training (the rule of `analytics.adoption.needs_training`) — the Users leaderboard and
    the Adoption report's training list, a filter and ORDER BY … LIMIT over these rows."""

    __tablename__ = "usage_user_facts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "account_id", "user_key"),
        Index("ix_usage_user_facts_tenant_training", "tenant_id", "training", "account_id", "user_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    user_key: Mapped[str] = mapped_column(String(260))
    active: Mapped[int] = mapped_column(Integer)
    key_days: Mapped[int] = mapped_column(Integer)
    engagement: Mapped[int] = mapped_column(Integer)
    logins: Mapped[int] = mapped_column(Integer)
    logins_before: Mapped[int] = mapped_column(Integer)
    training: Mapped[bool] = mapped_column(Boolean)


class UsageFactsState(TenantScoped, Base):
    """What a workspace's usage facts were built from: the day, the sources' fingerprint, the key features, login
    event and months they hold (migration 0030). No row: no facts (the reports read the monthly rows)."""

    __tablename__ = "usage_facts_state"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date)
    fingerprint: Mapped[str] = mapped_column(String(64))
    key_features: Mapped[str] = mapped_column(Text)
    """The key features' names, a JSON list."""
    login_event: Mapped[str] = mapped_column(String(200))
    months: Mapped[int] = mapped_column(Integer)
    built_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# A workspace's newest snapshot and usage row, and newest change of the tables of a row per account or user, each
# in one index read: `ReportCopy`'s fingerprint (`sync.base_reports._sources`).
Index("ix_health_snapshots_tenant_id_id", HealthSnapshot.tenant_id, HealthSnapshot.id)
Index("ix_usage_daily_tenant_id_id", UsageDaily.tenant_id, UsageDaily.id)
Index("ix_accounts_tenant_id_updated_at", Account.tenant_id, Account.updated_at)
Index("ix_subscriptions_tenant_id_updated_at", Subscription.tenant_id, Subscription.updated_at)
Index("ix_tasks_tenant_id_updated_at", Task.tenant_id, Task.updated_at)
# The tasks done on an alert (the Team report's "alerts acted on": each alert's first completion), one index range
# (0039): not a pass over every task of the workspace.
Index("ix_tasks_tenant_alert_completed", Task.tenant_id, Task.alert_id, Task.completed_at)
Index("ix_contacts_tenant_id_updated_at", Contact.tenant_id, Contact.updated_at)
Index("ix_product_users_tenant_id_last_seen", ProductUser.tenant_id, ProductUser.last_seen)
# The Users leaderboard's order (engagement, active days: highest first; account, user key), one index walk.
Index("ix_usage_user_facts_tenant_rank", UsageUserFact.tenant_id, UsageUserFact.engagement.desc(),
      UsageUserFact.active.desc(), UsageUserFact.account_id, UsageUserFact.user_key)


TENANT_SCOPED_MODELS: tuple[type[Base], ...] = (
    Connection,
    Account,
    SourceLink,
    Contact,
    Subscription,
    Ticket,
    SurveyResponse,
    UsageDaily,
    ProductUser,
    EventType,
    CollectedMessage,
    HealthSnapshot,
    Alert,
    Task,
    TaskLink,
    SyncCursor,
    PushLedger,
    User,
    VendorUserLink,
    PasswordResetToken,
    ApiToken,
    AuditEvent,
    SyncRun,
    PortfolioList,
    PortfolioListVersion,
    PortfolioListMember,
    PortfolioListEvent,
    PortfolioListFollow,
    Play,
    PlayVersion,
    PlayRun,
    JobFailure,
    MailSettings,
    OutboxMessage,
    Suppression,
    ConsentWrite,
    SavedAudience,
    CampaignSettings,
    Campaign,
    CampaignStep,
    CampaignEnrollment,
    CampaignStepRun,
    MailEvent,
    InAppSettings,
    InAppMessage,
    PushSubscription,
    NotifySettings,
    NotifyPreference,
    NotifyEvent,
    NotifyDelivery,
    NotifySnooze,
    ReportCopy,
    AccountFact,
    ReportFactsState,
    UsageAccountFact,
    UsageUserFact,
    UsageFactsState,
)
