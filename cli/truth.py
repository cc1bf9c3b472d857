"""How well a run found the sandbox's stories: alerts raised vs `truth.json`.

The product's own account id (the Segment ``groupId`` the sandbox sends) is the truth's
company key, so each canonical account is matched to its company through its ``product``
source link. A raised alert is a true positive when the company's story expects it, ignored
when the truth lists it as possible, and a false positive otherwise.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from store.db import Store
from store.models import Account, Alert, Contact, SourceLink, Subscription, SurveyResponse, Ticket
from store.queries import live_accounts

STORY_RULES = ("usage_drop", "onboarding_overdue", "champion_inactive", "sponsor_inactive", "seat_capacity",
               "ticket_spike", "nps_detractor")


@dataclass(frozen=True)
class RuleQuality:
    rule: str
    expected: int
    found: int
    false_positives: int

    @property
    def recall(self) -> float:
        return self.found / self.expected if self.expected else 1.0

    @property
    def precision(self) -> float:
        raised = self.found + self.false_positives
        return self.found / raised if raised else 1.0


def alert_quality(store: Store, tenant_id: int, truth: dict[str, Any]) -> dict[str, RuleQuality]:
    companies = {c["key"]: c for c in truth["companies"]}
    with store.session(tenant_id) as session:
        company_of = {account_id: ext for ext, account_id in session.execute(
            select(SourceLink.external_id, SourceLink.account_id).where(SourceLink.system == "product")).all()}
        raised: dict[str, set[str]] = defaultdict(set)
        for account_id, rule in session.execute(select(Alert.account_id, Alert.rule).where(Alert.status == "open")):
            key = company_of.get(account_id)
            if key is not None:
                raised[rule].add(key)
    out: dict[str, RuleQuality] = {}
    for rule in STORY_RULES:
        expected = {k for k, c in companies.items() if rule in c["expected_alerts"]}
        possible = {k for k, c in companies.items() if rule in c.get("possible_alerts", [])}
        got = raised.get(rule, set())
        out[rule] = RuleQuality(rule, len(expected), len(got & expected), len(got - expected - possible))
    return out


# --------------------------------------------------------------------------- store state

Key = tuple[str, str]
"""(system, external id) of a vendor record."""


def store_state(store: Store, tenant: int) -> dict[str, Any]:
    """The store as record sets: links grouped by account, and every record keyed by its vendor id."""
    with store.session(tenant) as s:
        live = set(s.scalars(select(Account.id).where(live_accounts())))
        groups: dict[int, set[Key]] = {}
        for system, ext, account in s.execute(select(SourceLink.system, SourceLink.external_id,
                                                     SourceLink.account_id)):
            if system != "product" and account is not None:
                groups.setdefault(account, set()).add((system, ext))
        return {
            "groups": {a: frozenset(g) for a, g in groups.items()},
            "dead_groups": {a for a in groups if a not in live},
            "contacts": {(c.email, c.role, tuple(sorted(c.source_ids.items())), c.account_id)
                         for c in s.scalars(select(Contact))},
            "subscriptions": {(x.system, x.external_id, str(x.arr), x.seats_purchased, x.status, x.account_id)
                              for x in s.scalars(select(Subscription))},
            "tickets": {(x.system, x.external_id, x.priority, x.status, x.account_id)
                        for x in s.scalars(select(Ticket))},
            "ratings": {(x.source, x.source_ref, x.score, x.account_id)
                        for x in s.scalars(select(SurveyResponse).where(SurveyResponse.source != "collector"))},
        }


def comparable(state: dict[str, Any], ignore: frozenset[Key]) -> dict[str, Any]:
    """Replace account ids by the set of vendor records on the account; accounts holding any record of
    ``ignore`` (the merges' survivors and the records that followed them) are left out with their rows."""
    name = {a: g for a, g in state["groups"].items() if not g & ignore}

    def rows(kind: str) -> set[tuple[Any, ...]]:
        return {(*row[:-1], name.get(row[-1])) for row in state[kind] if row[-1] is None or row[-1] in name}

    return {"groups": set(name.values()), **{k: rows(k) for k in ("contacts", "subscriptions", "tickets", "ratings")}}


def others_of(state: dict[str, Any], key: Key) -> frozenset[Key]:
    """The other vendor records on ``key``'s account."""
    for group in state["groups"].values():
        if key in group:
            return frozenset(group - {key})
    return frozenset()


def merge_followers(before: dict[str, Any], merges: Iterable[tuple[Key, Key]]) -> frozenset[Key]:
    """For vendor merges (merged-away record, survivor): the survivors and the records that stood with the
    merged-away one before: an incremental sync puts them together, a fresh sync cannot know to."""
    out: set[Key] = set()
    for loser, survivor in merges:
        out |= others_of(before, loser) | {survivor}
    return frozenset(out)
