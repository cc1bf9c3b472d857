"""How well a run found the sandbox's stories: alerts raised vs `truth.json`.

The product's own account id (the Segment ``groupId`` the sandbox sends) is the truth's
company key, so each canonical account is matched to its company through its ``product``
source link. A raised alert is a true positive when the company's story expects it, ignored
when the truth lists it as possible, and a false positive otherwise.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from store.db import Store
from store.models import Alert, SourceLink

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
