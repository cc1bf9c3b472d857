"""Adoption and users: feature adoption, user leaderboards, users who need training, champions and sponsors,
upgrade-ready accounts.

Pure (no I/O, no clock). The caller pre-aggregates usage in SQL over one window (`GROUP BY account_id, user_key`
and `GROUP BY account_id, user_key, event`), so nothing here reads daily rows. The key features and the login
event are the scoring model's (`signals.key_features`, `signals.login_event`) and are passed in. Rules:
docs/analytics.md, "Adoption and users".
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PREMIUM_TIERS = ("enterprise",)
"""Tiers that count as premium (case-insensitive); every other tier, and none, is standard."""
SPONSOR_ROLES = ("champion", "executive_sponsor")
UPGRADE_SCORE = 80.0
UPGRADE_SEAT_USE = 0.85
UPGRADE_GROWTH = 0.20

DEFINITIONS: dict[str, str] = {
    "active_user": "A product user with at least one event of any kind in the window.",
    "account_adoption": "Accounts where some user used the key feature in the window ÷ accounts in the group.",
    "user_adoption": "Active users who used the key feature in the window ÷ active users in the group.",
    "tier_class": "Premium: tier 'enterprise'; standard: every other tier and accounts without one.",
    "cohort": "The calendar quarter of the account's first product activity (e.g. 2026-Q3); none: never active.",
    "engagement": "Active days + key-feature days (Σ over key features of the days each was used), in the window; "
                  "ties: more active days, then account id, then user key.",
    "needs_training": "Active in the last 30 days and no key feature used in them, or logins at most half of the "
                      "30 days before (which had at least 4).",
    "sponsor_activity": "Champions and executive sponsors with the last day they were seen: the latest of the "
                        "contact's last activity and the last_seen of product users with the same e-mail "
                        "(case-insensitive).",
    "upgrade_ready": "Health >= 80 on every snapshot of the last 30 days (scored in its first week) and either "
                     "seat use >= 85 % (active users ÷ seats purchased) or active users up >= 20 % on the 30 days "
                     "before.",
}


@dataclass(frozen=True, slots=True)
class AdoptionAccount:
    account_id: int
    tier: str | None = None
    first_active: dt.date | None = None
    """The account's first product activity (min `UsageDaily.day`, or min `ProductUser.first_seen`)."""


@dataclass(frozen=True, slots=True)
class EventUse:
    """One user's use of one event in the window (SQL: GROUP BY account_id, user_key, event)."""

    account_id: int
    user_key: str
    event: str
    days: int
    """Distinct days with the event."""
    count: int = 0


@dataclass(frozen=True, slots=True)
class UserActivity:
    """One user's activity in the window and in the equally long window before it (GROUP BY account_id, user_key)."""

    account_id: int
    user_key: str
    active_days: int
    """Distinct days with any event in the window."""
    logins: int = 0
    logins_before: int = 0
    name: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class AdoptionCount:
    """Pre-aggregated in SQL, per group (`feature` None: accounts in the group and its active users) and per group
    and key feature (accounts where some user used it, and those users: COUNT(DISTINCT ...))."""

    group: str
    feature: str | None
    accounts: int
    users: int


@dataclass(frozen=True, slots=True)
class FeatureAdoption:
    group: str
    feature: str
    accounts: int
    accounts_using: int
    account_share: float | None
    active_users: int
    users_using: int
    user_share: float | None


@dataclass(frozen=True, slots=True)
class RankedUser:
    rank: int
    account_id: int
    user_key: str
    engagement: int
    active_days: int
    key_feature_days: int
    name: str | None
    email: str | None


@dataclass(frozen=True, slots=True)
class TrainingNeed:
    account_id: int
    user_key: str
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ContactPerson:
    account_id: int | None
    email: str
    role: str
    name: str | None = None
    last_active_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class ProductPerson:
    account_id: int | None
    user_key: str
    email: str | None
    last_seen: dt.datetime | None


@dataclass(frozen=True, slots=True)
class SponsorActivity:
    account_id: int | None
    email: str
    name: str | None
    role: str
    user_keys: tuple[str, ...]
    last_activity: dt.datetime | None
    days_since: int | None


@dataclass(frozen=True, slots=True)
class UpgradeFacts:
    """Per account, over the 30 days up to `as_of` (SQL: MIN(score), MIN(day), COUNT(*) of its snapshots)."""

    account_id: int
    snapshots: int
    lowest_score: float | None
    first_day: dt.date | None
    seats_purchased: int | None
    """Σ seats of the active subscriptions; None when none names seats."""
    active_users: int
    """Users with any event in the 30 days up to as_of."""
    active_users_before: int
    """Users with any event in the 30 days before those."""


@dataclass(frozen=True, slots=True)
class UpgradeReady:
    account_id: int
    reason: str


def tier_class(tier: str | None, premium: Sequence[str] = PREMIUM_TIERS) -> str:
    return "premium" if tier is not None and tier.strip().lower() in {p.lower() for p in premium} else "standard"


def quarter(day: dt.date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def group_of(account: AdoptionAccount, by: str, premium: Sequence[str]) -> str:
    """The adoption group an account falls in: "all", its tier class, or its start cohort."""
    if by == "all":
        return "all"
    if by == "tier":
        return tier_class(account.tier, premium)
    if by == "cohort":
        return quarter(account.first_active) if account.first_active is not None else "never active"
    raise ValueError(f"feature adoption is grouped by 'all', 'tier' or 'cohort', not {by!r}")


def adoption_counts(accounts: Iterable[AdoptionAccount], uses: Iterable[EventUse], key_features: Sequence[str],
                    by: str = "all", premium: Sequence[str] = PREMIUM_TIERS) -> list[AdoptionCount]:
    """Accounts and uses reduced to `AdoptionCount` rows, as the caller's SQL would return them."""
    groups = {a.account_id: group_of(a, by, premium) for a in accounts}
    n_accounts: dict[str, int] = defaultdict(int)
    for g in groups.values():
        n_accounts[g] += 1
    features = set(key_features)
    active: dict[str, set[tuple[int, str]]] = defaultdict(set)
    users: dict[tuple[str, str], set[tuple[int, str]]] = defaultdict(set)
    for u in uses:
        group = groups.get(u.account_id)
        if group is None or u.days <= 0:
            continue
        who = (u.account_id, u.user_key)
        active[group].add(who)
        if u.event in features:
            users[(group, u.event)].add(who)
    out = [AdoptionCount(g, None, n, len(active[g])) for g, n in n_accounts.items()]
    out += [AdoptionCount(g, f, len({a for a, _u in who}), len(who)) for (g, f), who in users.items()]
    return out


def feature_adoption_of(counts: Iterable[AdoptionCount], key_features: Sequence[str]) -> list[FeatureAdoption]:
    """`feature_adoption` from pre-aggregated `AdoptionCount` rows (the caller's SQL at 100,000 accounts)."""
    if not key_features:
        raise ValueError("feature adoption needs at least one key feature")
    totals: dict[str, tuple[int, int]] = {}
    used: dict[tuple[str, str], tuple[int, int]] = {}
    for c in counts:
        if c.feature is None:
            totals[c.group] = (c.accounts, c.users)
        else:
            used[(c.group, c.feature)] = (c.accounts, c.users)
    out = []
    for g in sorted(totals):
        n_accounts, n_active = totals[g]
        for f in key_features:
            a, n_users = used.get((g, f), (0, 0))
            out.append(FeatureAdoption(g, f, n_accounts, a, _ratio(a, n_accounts), n_active, n_users,
                                       _ratio(n_users, n_active)))
    return out


def feature_adoption(accounts: Iterable[AdoptionAccount], uses: Iterable[EventUse], key_features: Sequence[str],
                     by: str = "all", premium: Sequence[str] = PREMIUM_TIERS) -> list[FeatureAdoption]:
    """For each group and key feature: accounts and active users that used it in the window the uses cover."""
    if not key_features:
        raise ValueError("feature adoption needs at least one key feature")
    return feature_adoption_of(adoption_counts(accounts, uses, key_features, by, premium), key_features)


def adoption_by_month(accounts: Iterable[AdoptionAccount], monthly: Iterable[tuple[dt.date, EventUse]],
                      key_features: Sequence[str]) -> dict[dt.date, list[FeatureAdoption]]:
    """`feature_adoption` per calendar month: `monthly` pairs each use with its month's first day
    (SQL: GROUP BY date_trunc('month', day), account_id, user_key, event). Accounts are the current ones."""
    listed = list(accounts)
    per: dict[dt.date, list[EventUse]] = defaultdict(list)
    for month, use in monthly:
        if month.day != 1:
            raise ValueError(f"a month is named by its first day, not {month.isoformat()}")
        per[month].append(use)
    return {m: feature_adoption(listed, per[m], key_features) for m in sorted(per)}


def _key_feature_days(uses: Iterable[EventUse], key_features: Sequence[str]) -> dict[tuple[int, str], int]:
    features = set(key_features)
    days: dict[tuple[int, str], int] = defaultdict(int)
    for u in uses:
        if u.event in features and u.days > 0:
            days[(u.account_id, u.user_key)] += u.days
    return days


def leaderboard(users: Iterable[UserActivity], uses: Iterable[EventUse], key_features: Sequence[str],
                limit: int = 20, account_id: int | None = None) -> list[RankedUser]:
    """The most engaged users across the base (or of one account); a user of two accounts ranks once per account.

    Order: engagement, then active days (both highest first), then account id and user key (lowest first).
    """
    if limit < 1:
        raise ValueError(f"a leaderboard shows at least 1 user, not {limit}")
    kf = _key_feature_days((u for u in uses if account_id is None or u.account_id == account_id), key_features)
    rows = []
    for u in users:
        if (account_id is not None and u.account_id != account_id) or u.active_days <= 0:
            continue
        k = kf.get((u.account_id, u.user_key), 0)
        rows.append((-(u.active_days + k), -u.active_days, u.account_id, u.user_key, k, u))
    top = heapq.nsmallest(limit, rows, key=lambda r: r[:4])
    return [RankedUser(i + 1, r[2], r[3], -r[0], -r[1], r[4], r[5].name, r[5].email) for i, r in enumerate(top)]


def needs_training(users: Iterable[UserActivity], uses: Iterable[EventUse], key_features: Sequence[str],
                   min_logins_before: int = 4) -> list[TrainingNeed]:
    """Active users of the window (30 days) who used no key feature, or whose logins fell to half or less of the
    window before (which had at least `min_logins_before`). By account id, then user key."""
    kf = _key_feature_days(uses, key_features)
    out = []
    for u in users:
        reasons = []
        if u.active_days > 0 and not kf.get((u.account_id, u.user_key)):
            reasons.append(f"active on {u.active_days} day(s) but used no key feature")
        if u.logins_before >= min_logins_before and 2 * u.logins <= u.logins_before:
            reasons.append(f"logins fell from {u.logins_before} to {u.logins}")
        if reasons:
            out.append(TrainingNeed(u.account_id, u.user_key, tuple(reasons)))
    out.sort(key=lambda t: (t.account_id, t.user_key))
    return out


def _latest(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def sponsors(contacts: Iterable[ContactPerson], people: Iterable[ProductPerson], as_of: dt.date,
             roles: Sequence[str] = SPONSOR_ROLES) -> list[SponsorActivity]:
    """Champions and sponsors with their last activity; the longest silent (never seen) first, then account, e-mail.

    A contact matches every product user with its e-mail (trimmed, case-insensitive), in any account.
    """
    seen: dict[str, tuple[dt.datetime | None, tuple[str, ...]]] = {}
    for p in people:
        if not p.email:
            continue
        key = p.email.strip().lower()
        held = seen.get(key)
        seen[key] = (p.last_seen, (p.user_key,)) if held is None else \
            (_latest(held[0], p.last_seen), (*held[1], p.user_key))
    wanted = frozenset(roles)
    out = []
    for c in contacts:
        if c.role not in wanted:
            continue
        last: dt.datetime | None = c.last_active_at
        keys: tuple[str, ...] = ()
        match = seen.get(c.email.strip().lower())
        if match is not None:
            last, keys = _latest(last, match[0]), match[1] if len(match[1]) == 1 else tuple(sorted(set(match[1])))
        out.append(SponsorActivity(c.account_id, c.email, c.name, c.role, keys, last,
                                   None if last is None else (as_of - last.date()).days))
    out.sort(key=lambda s: (s.days_since is not None, -(s.days_since or 0), s.account_id or 0, s.email.lower()))
    return out


def upgrade_ready(facts: Iterable[UpgradeFacts], as_of: dt.date, min_score: float = UPGRADE_SCORE,
                  seat_use: float = UPGRADE_SEAT_USE, growth: float = UPGRADE_GROWTH) -> list[UpgradeReady]:
    """Accounts that meet the upgrade rule, each with the reason in words; by account id."""
    window_start = as_of - dt.timedelta(days=29)
    out = []
    for f in sorted(facts, key=lambda f: f.account_id):
        if (not f.snapshots or f.lowest_score is None or f.first_day is None or f.lowest_score < min_score
                or f.first_day > window_start + dt.timedelta(days=6)):
            continue
        health = (f"health >= {min_score:g} on all {f.snapshots} snapshot(s) since {f.first_day.isoformat()} "
                  f"(lowest {round(f.lowest_score, 1):g})")
        why = []
        if f.seats_purchased and f.active_users >= seat_use * f.seats_purchased:
            why.append(f"seat use {100 * f.active_users / f.seats_purchased:.0f} % "
                       f"({f.active_users} of {f.seats_purchased} seats)")
        if f.active_users_before and f.active_users - f.active_users_before >= growth * f.active_users_before:
            why.append(f"active users up {100 * (f.active_users - f.active_users_before) / f.active_users_before:.0f} %"
                       f" ({f.active_users_before} → {f.active_users}) on the 30 days before")
        if why:
            out.append(UpgradeReady(f.account_id, health + "; " + " and ".join(why)))
    return out
