"""Build a deterministic synthetic `World` and the ground truth (`truth.json`) that goes with it.

`generate_world(accounts, seed, as_of)` returns the same world for the same arguments. Every
company appears in one, two or all three systems under a different id and with the mismatches
identity resolution has to cope with:

* names typed differently per system ("Acme Corp" / "ACME CORPORATION" / "Acme, Inc.");
* domains recorded as ``www.`` forms, full URLs, another TLD, or not at all;
* explicit cross-reference ids (``Presence.cross_refs``) on only part of the shared records;
* parent companies whose subsidiaries often share the parent's domain, so that only the
  name or a cross reference tells them apart.

Each company has a story (`sandbox.world.STORIES`); its people, deals, tickets and surveys are
drawn to fit it, and `sandbox.usage` derives a product-usage stream that shows it. Modification
stamps are all before ``as_of`` and many records share exactly one of a few "bulk import"
stamps, so cursor boundaries get exercised.

Only plain dataclasses are built (usage events are produced lazily by `sandbox.usage`):
100,000 companies take a few seconds (``bench/bench_sandbox.py`` measures it).
"""

from __future__ import annotations

import gc
import json
import os
import random
import string
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sandbox.revenue import Segment, history_horizon, plan_history, revenue_truth, segments_of
from sandbox.world import (
    SYSTEMS,
    Company,
    Deal,
    Person,
    Presence,
    Story,
    SurveyResponse,
    System,
    TeamMember,
    Ticket,
    World,
)

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done, total)`` with companies generated so far."""

# --------------------------------------------------------------------------- Salesforce ids

_SUFFIX_ALPHABET = string.ascii_uppercase + "012345"
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_BASE62_PAIRS = tuple(a + b for a in _BASE62 for b in _BASE62)
_UPPER_AS_BITS = {ord(c): "1" if c in string.ascii_uppercase else "0" for c in _BASE62}
SALESFORCE_PREFIXES: dict[str, str] = {"Account": "001", "Contact": "003", "Opportunity": "006", "Case": "500"}


def case_safe_suffix(id15: str) -> str:
    """The 3-character suffix that makes a 15-character Salesforce id case-insensitively unique.

    Each 5-character chunk gives a 5-bit number (bit *i* set when character *i* is an
    upper-case letter), looked up in ``A..Z0..5``.
    """
    if len(id15) != 15 or not (id15.isascii() and id15.isalnum()):
        raise ValueError(f"a 15-character alphanumeric Salesforce id is needed, got {id15!r}")
    bits = id15.translate(_UPPER_AS_BITS)
    return (
        _SUFFIX_ALPHABET[int(bits[4::-1], 2)]
        + _SUFFIX_ALPHABET[int(bits[9:4:-1], 2)]
        + _SUFFIX_ALPHABET[int(bits[14:9:-1], 2)]
    )


def to_case_safe(record_id: str) -> str:
    """A 15- or 18-character id as its 18-character form (an 18-char id's suffix is checked)."""
    if len(record_id) == 18:
        if case_safe_suffix(record_id[:15]) != record_id[15:]:
            raise ValueError(f"{record_id!r} has a wrong case-safe suffix")
        return record_id
    return record_id + case_safe_suffix(record_id)


def salesforce_id(prefix: str, number: int, instance: str = "5g") -> str:
    """A deterministic 18-char id: 3-char key prefix, 2-char instance, base-62 counter, checksum."""
    if number < 0:
        raise ValueError("Salesforce id numbers are not negative")
    pairs = []
    n = number
    while n:
        n, rem = divmod(n, 3844)
        pairs.append(_BASE62_PAIRS[rem])
    body = "".join(reversed(pairs)).lstrip("0").rjust(10, "0")
    id15 = prefix + instance + body
    return id15 + case_safe_suffix(id15)


# --------------------------------------------------------------------------- pools

_NAME_HEADS = (
    "North", "South", "East", "West", "Blue", "Red", "Green", "Silver", "Golden", "Iron", "Stone", "River",
    "Lake", "Pine", "Oak", "Maple", "Cedar", "Bright", "Clear", "Swift", "True", "High", "Deep", "Far",
    "Star", "Sun", "Moon", "Sky", "Cloud", "Storm", "Frost", "Ember", "Nova", "Terra", "Aqua", "Astra",
    "Vertex", "Apex", "Summit", "Harbor", "Bay", "Coast", "Ridge", "Valley", "Prairie", "Canyon", "Mesa",
    "Arc", "Bold", "Quick", "Keen", "Prime", "Open", "Pure", "Wild", "Quiet", "Lumen", "Helio", "Zen",
    "Acme", "Globex", "Initech", "Hooli", "Vandel", "Stark", "Wayne", "Tyrell", "Cyber", "Quantum",
)
_NAME_TAILS = (
    "wind", "peak", "stone", "field", "bridge", "gate", "works", "point", "line", "path", "forge", "wave",
    "light", "leaf", "crest", "haven", "wood", "brook", "view", "mark", "scape", "spring", "rock", "port",
    "ward", "stream", "shore", "vale", "hill", "dale", "core", "grid", "loop", "sync", "flow", "base",
    "hub", "nest", "spark", "bloom", "trail", "ridge", "fall", "beam", "gear", "yard", "bank", "way",
)
_NAME_WORDS = (
    "Analytics", "Logistics", "Health", "Energy", "Foods", "Robotics", "Systems", "Software", "Labs",
    "Media", "Capital", "Insurance", "Retail", "Motors", "Pharma", "Networks", "Security", "Freight",
    "Solutions", "Partners", "Dynamics", "Holdings", "Studios", "Biotech", "Aerospace", "Clinics",
    "Telecom", "Materials", "Devices", "Outfitters",
)
# Canonical suffix -> variants the same company is typed as elsewhere.
_SUFFIXES: dict[str, tuple[str, ...]] = {
    "Inc.": ("Inc", ", Inc.", "Incorporated", ""),
    "Corp": ("Corporation", "Corp.", ", Inc.", ""),
    "LLC": ("L.L.C.", ", LLC", ""),
    "Ltd": ("Limited", "Ltd.", ""),
    "GmbH": ("", " GmbH & Co. KG"),
    "Group": ("Group Inc.", ""),
    "": ("Inc.", "Corp", ", Inc."),
}
_SUFFIX_KEYS = tuple(_SUFFIXES)


def _slug(base: str) -> str:
    """What a base name looks like in a domain: "Cyber Nest" and "Cybernest" are the same slug, and
    "Acme Group" is "Acme" ("Group" is also a legal suffix the same company is typed with or without)."""
    words = base.lower().split()
    while len(words) > 1 and words[-1] == "group":
        words.pop()
    return "".join(ch for ch in "".join(words) if ch.isalnum())
_DIVISIONS = (
    "Europe", "EMEA", "APAC", "Americas", "Japan", "Canada", "UK", "Germany", "France", "Health",
    "Financial Services", "Labs", "Digital", "Government", "Retail", "Logistics",
)
_TLDS = ("com", "com", "com", "com", "io", "co", "net", "ai")
_OTHER_TLDS = ("co.uk", "de", "io", "net", "eu", "com.au")
INDUSTRIES = (
    "Technology", "Healthcare", "Financial Services", "Manufacturing", "Retail", "Education",
    "Media", "Transportation", "Energy", "Hospitality", "Professional Services", "Telecommunications",
)
_FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Oliver", "Sophia", "Elijah", "Isabella", "James", "Mia",
    "William", "Amelia", "Benjamin", "Harper", "Lucas", "Evelyn", "Henry", "Abigail", "Alexander",
    "Emily", "Daniel", "Ella", "Matthew", "Grace", "Samuel", "Chloe", "David", "Nora", "Joseph", "Lily",
    "Priya", "Arjun", "Mei", "Wei", "Yuki", "Hiroshi", "Fatima", "Omar", "Sofia", "Mateo", "Camila",
    "Diego", "Aisha", "Kwame", "Ingrid", "Lars", "Chiara", "Luca", "Zoe", "Ethan", "Hannah", "Ryan",
)
_LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson",
    "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis", "Walker", "Young", "Allen",
    "King", "Wright", "Scott", "Green", "Baker", "Adams", "Nelson", "Hill", "Campbell", "Mitchell",
    "Patel", "Shah", "Chen", "Wang", "Kim", "Nguyen", "Tanaka", "Sato", "Müller", "Schmidt", "Rossi",
    "Novak", "Okafor", "Mensah", "Haddad", "Larsen", "Silva", "Costa", "O'Brien", "Dubois",
)
_FIRST_LOCAL = tuple(name.lower() for name in _FIRST_NAMES)
_LAST_LOCAL = tuple(name.lower().replace("'", "").replace("ü", "u") for name in _LAST_NAMES)
_TITLES: dict[str, tuple[str, ...]] = {
    "executive_sponsor": ("VP Customer Operations", "Chief Operating Officer", "VP Engineering", "CTO",
                          "Head of Revenue Operations", "VP Support"),
    "champion": ("Operations Manager", "Director of Analytics", "Support Operations Lead",
                 "Revenue Operations Manager", "Product Operations Lead"),
    "admin": ("Systems Administrator", "IT Manager", "Business Systems Analyst", "Platform Admin"),
    "user": ("Analyst", "Support Agent", "Account Executive", "Data Analyst", "Team Lead",
             "Customer Success Associate", "Operations Specialist"),
}
CSM_OWNERS = (
    "dana.whitfield@canary.example", "marcus.ng@canary.example", "leila.haddad@canary.example",
    "tomas.berg@canary.example", "grace.okoye@canary.example", "ravi.menon@canary.example",
    "sophie.laurent@canary.example", "jon.ortega@canary.example",
)
MANAGERS = ("priya.shah@canary.example", "owen.clarke@canary.example")
"""The team's two managers; each leads four of `CSM_OWNERS` and owns a few strategic accounts too."""
FORMER_CSM = "noah.fischer@canary.example"
"""The CSM who left the company with accounts still assigned: inactive in every system."""
MANAGER_ACCOUNTS = 3
"""Strategic accounts (the largest top-level enterprise customers) each manager owns."""
FORMER_CSM_SHARE = 0.05
"""Share of the other accounts still assigned to `FORMER_CSM` (at least one in a world of ten or more)."""
HELPDESK_OWNER_MISSING = 0.1
HELPDESK_OWNER_STALE = 0.1
"""Of companies in the help desk and a CRM: shares whose help-desk owner field is empty, or names
an earlier CSM never updated there."""
_TICKET_SUBJECTS = (
    "Cannot export report to CSV", "SSO login fails for new users", "Dashboard loads slowly",
    "Question about invoice", "Integration sync stopped", "How do I add a teammate?",
    "API rate limit errors", "Automation did not trigger", "Data missing after import",
    "Mobile app crashes on launch", "Request to change plan", "Alert emails not received",
    "Permission error on shared dashboard", "Webhook delivery failures", "Timezone wrong in reports",
)
_STORM_SUBJECTS = (
    "URGENT: platform down for our team", "Data sync broken since the update", "Reports show wrong numbers",
    "Outage: cannot log in", "Critical: automations failing", "Escalation: API errors blocking release",
)
_CSAT_GOOD = ("Quick and helpful, thanks!", "Solved on the first reply.", "Great support.", None)
_CSAT_BAD = ("Took far too long.", "Issue is still not fixed.", "Had to explain it three times.", None)
_NPS_GOOD = ("Love the dashboards.", "Saves our team hours every week.", "Great product.", None)
_NPS_BAD = ("Too slow lately.", "Too many outages.", "Hard to get value from it.", "Support is slow.", None)

# --------------------------------------------------------------------------- shares

STORY_WEIGHTS: dict[Story, float] = {
    "healthy": 0.44,
    "declining_usage": 0.12,
    "onboarding_stalled": 0.08,
    "champion_quiet": 0.10,
    "power_users": 0.10,
    "at_capacity": 0.08,
    "ticket_storm": 0.08,
}
STORY_ALERTS: dict[Story, tuple[str, ...]] = {
    "healthy": (),
    "declining_usage": ("usage_drop",),
    "onboarding_stalled": ("onboarding_overdue",),
    "champion_quiet": ("champion_inactive", "sponsor_inactive"),
    "power_users": (),
    "at_capacity": ("seat_capacity",),
    "ticket_storm": ("ticket_spike",),
}
"""Alert rules (names of `scoring.model.ALERT_RULES`) each story must raise."""

# Which systems a company appears in, with weights: 45 % in all three, 35 % in two, 20 % in one.
SYSTEM_MIX: tuple[tuple[tuple[System, ...], float], ...] = (
    (("salesforce", "zendesk", "hubspot"), 0.45),
    (("salesforce", "zendesk"), 0.15),
    (("zendesk", "hubspot"), 0.12),
    (("salesforce", "hubspot"), 0.08),
    (("salesforce",), 0.09),
    (("hubspot",), 0.08),
    (("zendesk",), 0.03),
)
# Share of shared records carrying each explicit cross reference: (holder, target) -> share.
CROSS_REF_SHARE: dict[tuple[System, System], float] = {
    ("zendesk", "salesforce"): 0.60,
    ("hubspot", "salesforce"): 0.50,
    ("zendesk", "hubspot"): 0.35,
    ("hubspot", "zendesk"): 0.25,
    ("salesforce", "zendesk"): 0.25,
    ("salesforce", "hubspot"): 0.30,
}
PARENT_SHARE = 0.07
"""Share of companies that are parents; each has 1-4 subsidiaries."""
CHILD_SHARES_DOMAIN = 0.5
"""Share of subsidiaries that use the parent's domain."""
STORM_DAYS = 6
"""A ticket storm's tickets are all created within this many days before ``as_of``."""
DECLINE_STOP_DAYS = (15, 21)
"""A declining customer's team stops using the product between these many days before ``as_of``
(the executive sponsor and about a quarter of the other users stay, at half their usual rate):
the two weeks before ``as_of`` show a fraction of the two weeks before them."""
BULK_STAMP_SHARE = 0.35
"""Share of records whose modification stamp is one of the shared "bulk import" stamps."""

_SEGMENT_MIX = (("smb", 0.5), ("mid_market", 0.35), ("enterprise", 0.15))
_SEATS = {"smb": (8, 20), "mid_market": (15, 50), "enterprise": (40, 120)}
_EMPLOYEES = {"smb": (10, 200), "mid_market": (200, 2000), "enterprise": (2000, 50000)}
_TIER_MIX = {
    "smb": (("starter", 0.6), ("growth", 0.4)),
    "mid_market": (("starter", 0.15), ("growth", 0.7), ("enterprise", 0.15)),
    "enterprise": (("growth", 0.25), ("enterprise", 0.75)),
}
_SEAT_PRICE = {"starter": 240.0, "growth": 540.0, "enterprise": 1080.0}
_CRM_USERS = {"smb": (1, 2), "mid_market": (1, 3), "enterprise": (2, 4)}
"""Plain users kept as CRM contacts; most product users are only in the usage stream."""


def bulk_stamps(as_of: date) -> tuple[datetime, ...]:
    """The few modification stamps many records share on purpose (all before ``as_of``)."""
    midnight = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)
    return (
        midnight - timedelta(days=41) + timedelta(hours=6, minutes=30),
        midnight - timedelta(days=9) + timedelta(hours=2),
        midnight - timedelta(days=3) + timedelta(hours=2),
    )


_DAY = 86_400
_ZENDESK_ID_BASE = {"Account": 360_000_000_000, "Contact": 361_000_000_000}
_HUBSPOT_ID_BASE = {"Account": 5_000_000_000, "Contact": 1_000, "Opportunity": 9_000_000_000, "Case": 2_000_000_000}


def _at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _weighted(rng: random.Random, table: tuple[tuple[Any, float], ...]) -> Any:
    pick = rng.random() * sum(w for _, w in table)
    for value, weight in table:
        pick -= weight
        if pick < 0:
            return value
    return table[-1][0]


class _WorldBuilder:
    """Draws one world; all randomness comes from one seeded generator, in a fixed order."""

    def __init__(self, accounts: int, seed: int, as_of: date, history: bool = True) -> None:
        self.rng = random.Random(f"canary-sandbox:{seed}:{accounts}:{as_of.isoformat()}")
        self.accounts = accounts
        self.seed = seed
        self.as_of = as_of
        self.now = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)
        self.now_ts = int(self.now.timestamp())
        self.stamps = bulk_stamps(as_of)
        self.stamps_ts = tuple(int(stamp.timestamp()) for stamp in self.stamps)
        self.stamp_at = dict(zip(self.stamps_ts, self.stamps, strict=True))
        self.companies: list[Company] = []
        self.people: list[Person] = []
        self.deals: list[Deal] = []
        self.tickets: list[Ticket] = []
        self.surveys: list[SurveyResponse] = []
        self.names: set[str] = set()
        self.bases: set[str] = set()
        self.base_of: dict[str, str] = {}
        self.domains: set[str] = set()
        self.mailboxes: dict[str, set[str]] = {}
        """E-mail local parts taken, per domain."""
        self.counters: dict[tuple[str, str], int] = {}
        self.ticket_number = 0
        self.history = history
        self.revenue: dict[str, list[Segment]] = {}

    # ---------------------------------------------------------------- ids

    def external_id(self, system: System, kind: str) -> str:
        """The next id of ``kind`` in ``system``: ids grow with creation order, with gaps."""
        number = self.counters.get((system, kind), 0) + 1
        self.counters[(system, kind)] = number
        spread = number * 4 + (number * 7) % 3  # increasing, with irregular gaps as deletions leave
        if system == "salesforce":
            return salesforce_id(SALESFORCE_PREFIXES[kind], 1_000_000 + spread * 11)
        if system == "zendesk":
            if kind == "Case":  # Zendesk ticket ids are small and sequential per account
                return str(number)
            return str(_ZENDESK_ID_BASE[kind] + spread)
        return str(_HUBSPOT_ID_BASE[kind] + spread)

    # ---------------------------------------------------------------- stamps

    def stamp_between(self, start: datetime, end: datetime) -> datetime:
        """A second-precise instant in [start, end)."""
        span = int((end - start).total_seconds())
        if span <= 1:
            return start
        return start + timedelta(seconds=int(self.rng.random() * span))

    def presence(self, system: System, kind: str, created_ts: int) -> Presence:
        """A record in one system created at ``created_ts`` (Unix seconds, clamped before ``as_of``)."""
        rng = self.rng
        latest = self.now_ts - 3600
        if created_ts > latest:
            created_ts = latest
        updated: datetime | None = None
        if rng.random() < BULK_STAMP_SHARE:
            stamp_ts = self.stamps_ts[int(rng.random() * 3)]
            if stamp_ts >= created_ts:
                updated = self.stamp_at[stamp_ts]
        if updated is None:
            updated = _at(created_ts + int(rng.random() * (latest - created_ts)))
        return Presence(
            external_id=self.external_id(system, kind), created_at=_at(created_ts), updated_at=updated
        )

    # ---------------------------------------------------------------- names

    def company_name(self) -> tuple[str, str, str]:
        """(canonical name, base used for domains, canonical suffix)."""
        rng = self.rng
        for attempt in range(20):
            head = _NAME_HEADS[int(rng.random() * len(_NAME_HEADS))]
            tail = _NAME_TAILS[int(rng.random() * len(_NAME_TAILS))]
            base = head + tail if rng.random() < 0.7 else f"{head} {tail.capitalize()}"
            if rng.random() < 0.45 or attempt > 5:
                base = f"{base} {_NAME_WORDS[int(rng.random() * len(_NAME_WORDS))]}"
            if attempt > 12:
                base = f"{base} {attempt}"
            suffix = _SUFFIX_KEYS[int(rng.random() * len(_SUFFIX_KEYS))]
            name = f"{base} {suffix}" if suffix else base
            # Distinct customers never share a base name: otherwise no one, human or program,
            # could tell "Eastridge Corp" from "Eastridge LLC" when their domains differ too.
            if name not in self.names and _slug(base) not in self.bases:
                self.names.add(name)
                self.bases.add(_slug(base))
                return name, base, suffix
        raise RuntimeError("could not draw a unique company name")  # pragma: no cover

    def domain_for(self, base: str) -> str:
        slug = "".join(ch for ch in base.lower() if ch.isalnum() or ch == " ").replace(" ", "")
        rng = self.rng
        for attempt in range(50):
            tld = _TLDS[int(rng.random() * len(_TLDS))]
            candidate = f"{slug}.{tld}" if attempt < 3 else f"{slug}{attempt}.{tld}"
            if attempt == 1 and " " in base:
                candidate = f"{base.lower().replace(' ', '-')}.{tld}"
            if candidate not in self.domains:
                self.domains.add(candidate)
                return candidate
        raise RuntimeError("could not draw a unique domain")  # pragma: no cover

    def name_variant(self, name: str, base: str, suffix: str) -> str:
        """How one system spells the company: usually as is, often not."""
        rng = self.rng
        pick = rng.random()
        if pick < 0.5:
            return name
        alt = _SUFFIXES[suffix][int(rng.random() * len(_SUFFIXES[suffix]))]
        variant = base + alt if alt.startswith(",") else (f"{base} {alt}" if alt else base)
        if pick < 0.62:
            return variant.upper()
        if pick < 0.67:
            return variant + " "  # a stray trailing space, as typed
        return variant

    def domain_variant(self, system: System, domain: str | None) -> str | None:
        if domain is None:
            return None
        rng = self.rng
        pick = rng.random()
        stem = domain.split(".", 1)[0]
        if system == "salesforce":  # Website field: URLs are common
            if pick < 0.30:
                return f"https://www.{domain}"
            if pick < 0.55:
                return f"www.{domain}"
            if pick < 0.60:
                return f"http://{domain}/"
            if pick < 0.70:
                return None
            if pick < 0.75:
                return f"{stem}.{_OTHER_TLDS[int(rng.random() * len(_OTHER_TLDS))]}"
            return domain
        if system == "zendesk":
            if pick < 0.25:
                return None
            if pick < 0.35:
                return f"{stem}.{_OTHER_TLDS[int(rng.random() * len(_OTHER_TLDS))]}"
            return domain
        if pick < 0.10:
            return None
        if pick < 0.20:
            return f"www.{domain}"
        if pick < 0.30:
            return f"{stem}.{_OTHER_TLDS[int(rng.random() * len(_OTHER_TLDS))]}"
        return domain

    # ---------------------------------------------------------------- companies

    def draw_story(self) -> Story:
        story: Story = _weighted(self.rng, tuple(STORY_WEIGHTS.items()))
        return story

    def build(self, progress: ProgressCallback | None) -> World:
        rng = self.rng
        stories = [self.draw_story() for _ in range(self.accounts)]
        # Every story appears at least once when the world is big enough.
        if self.accounts >= len(STORY_WEIGHTS):
            slots = rng.sample(range(self.accounts), len(STORY_WEIGHTS))
            for slot, story in zip(slots, STORY_WEIGHTS, strict=True):
                stories[slot] = story
        # Parents come first in key order; their subsidiaries follow them.
        plan: list[int | None] = []  # per company: index of its parent, or None
        while len(plan) < self.accounts:
            index = len(plan)
            plan.append(None)
            if rng.random() < PARENT_SHARE:
                for _ in range(1 + int(rng.random() * 4)):
                    if len(plan) < self.accounts:
                        plan.append(index)
        step = max(1, self.accounts // 100)
        for index, parent_index in enumerate(plan):
            parent = self.companies[parent_index] if parent_index is not None else None
            self.add_company(index, stories[index], parent)
            if progress is not None and (index + 1) % step == 0:
                progress(index + 1, self.accounts)
        if progress is not None:
            progress(self.accounts, self.accounts)
        assign_owners(self.companies, random.Random(f"canary-team:{self.seed}:{self.accounts}:{self.as_of}"))
        if self.history:
            self.add_history()
        return World(
            seed=self.seed,
            as_of=self.as_of,
            companies=self.companies,
            people=self.people,
            deals=self.deals,
            tickets=self.tickets,
            surveys=self.surveys,
            team=team(),
            revenue=self.revenue,
        )

    def draw_identity(self, index: int, parent: Company | None
                      ) -> tuple[str, str, str, str | None, tuple[System, ...]]:
        """(name, base, suffix, domain, systems): a subsidiary is named after its parent, often shares
        its domain and mostly appears in the same systems."""
        rng = self.rng
        if parent is not None:
            parent_base = self.base_of[parent.key]
            base = ""
            for _ in range(len(_DIVISIONS)):
                division = _DIVISIONS[int(rng.random() * len(_DIVISIONS))]
                base = f"{parent_base} {division}"
                if _slug(base) not in self.bases:
                    break
            else:
                base = f"{base} {index}"
            self.bases.add(_slug(base))
            suffix = _SUFFIX_KEYS[int(rng.random() * len(_SUFFIX_KEYS))]
            name = f"{base} {suffix}" if suffix else base
            while name in self.names:
                name = f"{name} {index}"
            self.names.add(name)
            domain = parent.domain if rng.random() < CHILD_SHARES_DOMAIN else self.domain_for(base)
            systems = (
                tuple(parent.presence) if rng.random() < 0.7 else _weighted(rng, SYSTEM_MIX)
            )
        else:
            name, base, suffix = self.company_name()
            domain = self.domain_for(base)
            systems = _weighted(rng, SYSTEM_MIX)
        return name, base, suffix, domain, systems

    def contract_dates(self, story: Story) -> tuple[date, date, date]:
        """(onboarding start, contract start, renewal): the current term renews within 18 months;
        onboarding started earlier (a stalled onboarding started 35-90 days ago)."""
        rng = self.rng
        if story == "onboarding_stalled":
            onboarding_start = self.as_of - timedelta(days=35 + int(rng.random() * 56))
            start_date = onboarding_start
            renewal = start_date + timedelta(days=365)
        else:
            ahead = 1 + int(rng.random() * 547)
            renewal = self.as_of + timedelta(days=ahead)
            start_date = renewal - timedelta(days=365 if ahead < 335 else 730)
            onboarding_start = start_date
            while onboarding_start > self.as_of - timedelta(days=120):
                onboarding_start -= timedelta(days=365)
            if rng.random() < 0.5:
                onboarding_start -= timedelta(days=365 * (1 + int(rng.random() * 3)))
        return onboarding_start, start_date, renewal

    def add_company(self, index: int, story: Story, parent: Company | None) -> None:
        rng = self.rng
        key = f"C{index + 1:06d}"
        segment = _weighted(rng, _SEGMENT_MIX)
        tier = _weighted(rng, _TIER_MIX[segment])
        low, high = _EMPLOYEES[segment]
        employees = low + int(rng.random() * (high - low))
        name, base, suffix, domain, systems = self.draw_identity(index, parent)
        industry = parent.industry if parent is not None else INDUSTRIES[int(rng.random() * len(INDUSTRIES))]

        onboarding_start, start_date, renewal = self.contract_dates(story)

        self.base_of[key] = base
        company = Company(
            key=key,
            name=name,
            domain=domain,
            industry=industry,
            employees=employees,
            segment=segment,
            tier=tier,
            csm_owner=CSM_OWNERS[int(rng.random() * len(CSM_OWNERS))],
            story=story,
            onboarding_start=onboarding_start,
            parent_key=parent.key if parent is not None else None,
        )
        first_seen = self.now_ts - (self.as_of - onboarding_start).days * _DAY
        for system in SYSTEMS:
            if system not in systems:
                continue
            if system == "zendesk":  # the help desk comes after the deal
                created = first_seen + int(rng.random() * 20 * _DAY)
            else:
                created = first_seen - int(rng.random() * 90 * _DAY)
            where = self.presence(system, "Account", min(created, self.now_ts - _DAY))
            where.name = self.name_variant(name, base, suffix)
            where.domain = self.domain_variant(system, domain)
            company.presence[system] = where
        for holder, target in CROSS_REF_SHARE:
            if holder in company.presence and target in company.presence:  # noqa: SIM102
                if rng.random() < CROSS_REF_SHARE[(holder, target)]:
                    company.presence[holder].cross_refs[target] = company.presence[target].external_id
        self.companies.append(company)

        seat_low, seat_high = _SEATS[segment]
        seats = seat_low + int(rng.random() * (seat_high - seat_low + 1))
        people = self.add_people(company, story)
        self.add_deals(company, seats, start_date, renewal)
        self.add_tickets(company, story, people)
        self.add_surveys(company, story, people)

    # ---------------------------------------------------------------- people

    def add_people(self, company: Company, story: Story) -> list[Person]:
        rng = self.rng
        low, high = _CRM_USERS[company.segment]
        roles: list[str] = ["executive_sponsor", "champion"]
        if rng.random() < 0.4:
            roles.append("champion")
        roles.append("admin")
        if company.segment != "smb" and rng.random() < 0.5:
            roles.append("admin")
        roles.extend(["user"] * (low + int(rng.random() * (high - low + 1))))
        email_domain = company.domain or f"{company.key.lower()}.example"
        # An address is one person's: a subsidiary on its parent's domain never repeats one of the parent's.
        used = self.mailboxes.setdefault(email_domain, set())
        people: list[Person] = []
        company_created = [
            (system, int(where.created_at.timestamp()) if where.created_at else self.now_ts)
            for system, where in company.presence.items()
        ]
        for number, role in enumerate(roles):
            pick_first = int(rng.random() * len(_FIRST_NAMES))
            pick_last = int(rng.random() * len(_LAST_NAMES))
            first, last = _FIRST_NAMES[pick_first], _LAST_NAMES[pick_last]
            local = f"{_FIRST_LOCAL[pick_first]}.{_LAST_LOCAL[pick_last]}"
            if local in used:
                local = f"{local}{number}"
            while local in used:
                local = f"{local}.{company.key[1:].lstrip('0')}"
            used.add(local)
            last_active = self.last_active(story, role, company.onboarding_start)
            person = Person(
                key=f"{company.key}-P{number + 1:02d}",
                company_key=company.key,
                first_name=first,
                last_name=last,
                email=f"{local}@{email_domain}",
                role=role,  # type: ignore[arg-type]
                title=_TITLES[role][int(rng.random() * len(_TITLES[role]))],
                last_active=last_active,
            )
            for system, ts in company_created:
                person.presence[system] = self.presence(system, "Contact", ts + int(rng.random() * 30 * _DAY))
            people.append(person)
        self.people.extend(people)
        return people

    def last_active(self, story: Story, role: str, onboarding_start: date) -> date | None:
        """The last product-use day of a CRM contact, fitting the company's story."""
        rng = self.rng
        as_of = self.as_of
        if story == "champion_quiet" and role in ("champion", "executive_sponsor"):
            return as_of - timedelta(days=31 + int(rng.random() * 30))
        if story == "declining_usage" and role != "executive_sponsor":
            low, high = DECLINE_STOP_DAYS
            return as_of - timedelta(days=low + int(rng.random() * (high - low + 1)))
        if story == "onboarding_stalled":
            if role == "user" and rng.random() < 0.6:
                return None  # invited, never logged in
            earliest = max(onboarding_start, as_of - timedelta(days=10))
            return earliest + timedelta(days=int(rng.random() * max(1, (as_of - earliest).days - 1)))
        if role == "executive_sponsor" and story != "at_capacity":
            return as_of - timedelta(days=1 + int(rng.random() * 10))
        return as_of - timedelta(days=1 + int(rng.random() * 5))

    # ---------------------------------------------------------------- deals

    def add_deals(self, company: Company, seats: int, start: date, renewal: date) -> None:
        rng = self.rng
        price = _SEAT_PRICE[company.tier] * (0.8 + rng.random() * 0.3)
        arr = round(seats * price / 100) * 100.0
        crm: list[System] = [s for s in ("salesforce", "hubspot") if s in company.presence]
        deal = Deal(
            key=f"{company.key}-D1",
            company_key=company.key,
            name=f"{company.name} — {company.tier.capitalize()} {start.year}",
            arr=arr,
            seats=seats,
            tier=company.tier,
            start_date=start,
            renewal_date=renewal,
            status="active",
        )
        self._deal_presence(deal, crm, start)
        self.deals.append(deal)
        if rng.random() < 0.15:
            extra_seats = 5 + int(rng.random() * 20)
            expansion = Deal(
                key=f"{company.key}-D2",
                company_key=company.key,
                name=f"{company.name} — expansion +{extra_seats} seats",
                arr=round(extra_seats * price / 100) * 100.0,
                seats=extra_seats,
                tier=company.tier,
                start_date=renewal,
                renewal_date=renewal,
                status="pending",
            )
            self._deal_presence(expansion, crm, self.as_of - timedelta(days=20))
            self.deals.append(expansion)

    def add_history(self) -> None:
        """Two years of past deals per company in a CRM (`sandbox.revenue.plan_history`), appended after
        every other deal, and the intended ARR timeline beside them (``self.revenue``).

        Draws only from its own generator, after everything else, so every other record is as before;
        the deal ids come after all the others'. The current deal (D1) stays each company's first."""
        rng = random.Random(f"canary-revenue:{self.seed}:{self.accounts}:{self.as_of.isoformat()}")
        current = {d.company_key: d for d in self.deals if d.key.endswith("-D1")}
        horizon = history_horizon(self.as_of)
        for company in self.companies:
            crm: list[System] = [s for s in ("salesforce", "hubspot") if s in company.presence]
            d1 = current.get(company.key)
            if not crm or d1 is None:
                continue  # no CRM: no deal Canary could read, no revenue
            planned = plan_history(rng, current_start=d1.start_date, current_arr=d1.arr,
                                   current_seats=d1.seats, onboarding_start=company.onboarding_start,
                                   horizon=horizon)
            for number, past in enumerate(planned, start=1):
                tier = company.tier.capitalize()
                if past.kind == "expansion":
                    name = f"{company.name} — expansion +{past.seats} seats"
                elif past.first:
                    name = f"{company.name} — {tier} {past.start.year}"
                else:
                    name = f"{company.name} — {tier} {past.start.year} renewal"
                deal = Deal(key=f"{company.key}-H{number:02d}", company_key=company.key, name=name,
                            arr=past.arr, seats=past.seats, tier=company.tier, start_date=past.start,
                            renewal_date=past.renewal,
                            status="churned" if past.kind == "lost" else "active")
                for system in crm:
                    deal.presence[system] = self._past_presence(rng, system, past.start)
                self.deals.append(deal)
            self.revenue[company.key] = segments_of(planned, d1.start_date, d1.arr)

    def _past_presence(self, rng: random.Random, system: System, closed: date) -> Presence:
        """A past deal's record: opened 10-30 days before its close date, last modified since."""
        latest = self.now_ts - 3600
        created = min(self.now_ts - ((self.as_of - closed).days + 30) * _DAY + int(rng.random() * 20 * _DAY),
                      self.now_ts - _DAY)
        updated = created + int(rng.random() * (latest - created))
        return Presence(external_id=self.external_id(system, "Opportunity"), created_at=_at(created),
                        updated_at=_at(updated))

    def _deal_presence(self, deal: Deal, systems: list[System], opened: date) -> None:
        rng = self.rng
        base = self.now_ts - ((self.as_of - opened).days + 30) * _DAY
        for system in systems:
            created = min(base + int(rng.random() * 20 * _DAY), self.now_ts - _DAY)
            deal.presence[system] = self.presence(system, "Opportunity", created)

    # ---------------------------------------------------------------- tickets

    def add_tickets(self, company: Company, story: Story, people: list[Person]) -> None:
        rng = self.rng
        if "zendesk" in company.presence:
            home: System = "zendesk"
        elif "salesforce" in company.presence:
            home = "salesforce"
        else:
            home = "hubspot"
        count = int(rng.random() * 5)  # 0-4 tickets spread over the past 180 days
        for _ in range(count):
            created = self.now - timedelta(days=20 + int(rng.random() * 160), seconds=int(rng.random() * 86_400))
            priority = ("low", "normal", "normal", "normal", "high")[int(rng.random() * 5)]
            self.add_ticket(company, story, people, home, created, priority, storm=False)
        if story == "ticket_storm":  # an outage-like burst: 8-15 urgent/high tickets over the last 6 days
            for _ in range(8 + int(rng.random() * 8)):
                created = self.now - timedelta(seconds=60 + int(rng.random() * (STORM_DAYS * 86_400 - 60)))
                priority = "urgent" if rng.random() < 0.5 else "high"
                self.add_ticket(company, story, people, home, created, priority, storm=True)
        elif rng.random() < 0.3:  # at most one recent ticket elsewhere: no spike
            created = self.now - timedelta(days=1 + int(rng.random() * 18), seconds=int(rng.random() * 86_400))
            self.add_ticket(company, story, people, home, created, "normal", storm=False)

    def add_ticket(
        self,
        company: Company,
        story: Story,
        people: list[Person],
        home: System,
        created: datetime,
        priority: str,
        *,
        storm: bool,
    ) -> None:
        rng = self.rng
        requester = people[int(rng.random() * len(people))]
        age = self.now - created
        if storm:
            status = ("open", "open", "pending", "new", "solved")[int(rng.random() * 5)]
            escalated = rng.random() < 0.5
            subject = _STORM_SUBJECTS[int(rng.random() * len(_STORM_SUBJECTS))]
        else:
            status = "solved" if age > timedelta(days=14) or rng.random() < 0.5 else "open"
            if status == "solved" and rng.random() < 0.4:
                status = "closed"
            escalated = priority == "high" and rng.random() < 0.2
            subject = _TICKET_SUBJECTS[int(rng.random() * len(_TICKET_SUBJECTS))]
        solved_at = None
        satisfaction = None
        comment = None
        if status in ("solved", "closed"):
            hours = 1 + int(rng.random() * (24 * 6))
            solved_at = min(created + timedelta(hours=hours), self.now - timedelta(minutes=30))
            if rng.random() < 0.6:
                bad_share = {"ticket_storm": 0.7, "declining_usage": 0.4}.get(story, 0.12)
                satisfaction = "bad" if rng.random() < bad_share else "good"
                pool = _CSAT_BAD if satisfaction == "bad" else _CSAT_GOOD
                comment = pool[int(rng.random() * len(pool))]
        updated = solved_at or self.stamp_between(created, self.now - timedelta(minutes=10))
        if rng.random() < BULK_STAMP_SHARE / 2:
            stamp = self.stamps[int(rng.random() * len(self.stamps))]
            if stamp >= updated:
                updated = stamp
        kind = "Case"
        ticket = Ticket(
            key=f"{company.key}-T{self.ticket_number + 1:07d}",
            company_key=company.key,
            requester_key=requester.key,
            subject=subject,
            priority=priority,  # type: ignore[arg-type]
            status=status,  # type: ignore[arg-type]
            escalated=escalated,
            created_at=created,
            updated_at=updated,
            solved_at=solved_at,
            satisfaction=satisfaction,  # type: ignore[arg-type]
            satisfaction_comment=comment,
        )
        self.ticket_number += 1
        ticket.presence[home] = Presence(
            external_id=self.external_id(home, kind), created_at=created, updated_at=updated
        )
        self.tickets.append(ticket)

    # ---------------------------------------------------------------- surveys

    def add_surveys(self, company: Company, story: Story, people: list[Person]) -> None:
        rng = self.rng
        users = [p for p in people if p.last_active is not None]
        if not users:
            return
        for number in range(int(rng.random() * 3)):
            person = users[int(rng.random() * len(users))]
            assert person.last_active is not None
            latest = datetime(person.last_active.year, person.last_active.month, person.last_active.day,
                              tzinfo=UTC)
            submitted = latest - timedelta(days=int(rng.random() * 150)) + timedelta(hours=9 + rng.random() * 8)
            if story in ("healthy", "power_users", "at_capacity"):
                score = 8 + int(rng.random() * 3)
            elif story in ("declining_usage", "ticket_storm"):
                score = int(rng.random() * 7)
            else:
                score = 5 + int(rng.random() * 5)
            pool = _NPS_GOOD if score >= 7 else _NPS_BAD
            self.surveys.append(
                SurveyResponse(
                    key=f"{company.key}-S{number + 1}",
                    company_key=company.key,
                    person_key=person.key,
                    kind="nps",
                    score=score,
                    comment=pool[int(rng.random() * len(pool))],
                    submitted_at=submitted.replace(microsecond=0),
                )
            )


def generate_world(
    accounts: int,
    seed: int = 7,
    as_of: date | None = None,
    *,
    progress: ProgressCallback | None = None,
    _history: bool = True,
) -> World:
    """A deterministic synthetic world of ``accounts`` companies (same arguments → same world).

    ``as_of`` is the synthetic "today" (default: today, UTC); every stamp is before it.
    """
    if accounts < 1:
        raise ValueError("accounts must be at least 1")
    day = as_of or datetime.now(UTC).date()
    # Millions of small acyclic objects: the cyclic collector would only rescan them over and over.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _WorldBuilder(accounts, seed, day, _history).build(progress)
    finally:
        if collecting:
            gc.enable()


# --------------------------------------------------------------------------- the team


def _person_name(email: str) -> str:
    return " ".join(part.capitalize() for part in email.split("@", 1)[0].split("."))


def team() -> list[TeamMember]:
    """The customer-success team: two managers, the eight CSMs (four per manager), and the CSM who left."""
    members = [TeamMember(email, _person_name(email), "manager") for email in MANAGERS]
    for i, email in enumerate(CSM_OWNERS):
        lead = MANAGERS[i * len(MANAGERS) // len(CSM_OWNERS)]
        members.append(TeamMember(email, _person_name(email), "csm", lead))
    members.append(TeamMember(FORMER_CSM, _person_name(FORMER_CSM), "csm", MANAGERS[-1], active=False))
    return members


def assign_owners(companies: list[Company], rng: random.Random) -> None:
    """Owners beyond the CSM each company drew: managers take the largest top-level enterprise accounts,
    the CSM who left keeps a few, and the help desk's owner field is set (sometimes empty or stale).

    Draws only from ``rng``, its own generator, so the world's main random stream (and with it every
    story, name and number) is the same as before the team was modelled.
    """
    strategic = sorted((c for c in companies if c.segment == "enterprise" and c.parent_key is None),
                       key=lambda c: (-c.employees, c.key))[: MANAGER_ACCOUNTS * len(MANAGERS)]
    for i, company in enumerate(strategic):
        company.csm_owner = MANAGERS[i % len(MANAGERS)]
    taken = {c.key for c in strategic}
    rest = [c for c in companies if c.key not in taken]
    count = round(len(rest) * FORMER_CSM_SHARE)
    if len(rest) >= 10:
        count = max(1, count)
    for company in rng.sample(rest, min(count, len(rest))):
        company.csm_owner = FORMER_CSM
    for company in companies:
        if "zendesk" not in company.presence:
            continue
        company.helpdesk_owner = company.csm_owner
        if not any(system in company.presence for system in ("salesforce", "hubspot")):
            continue  # the help desk is this company's only system: its field is all there is
        pick = rng.random()
        if pick < HELPDESK_OWNER_MISSING:
            company.helpdesk_owner = None
        elif pick < HELPDESK_OWNER_MISSING + HELPDESK_OWNER_STALE:
            others = [email for email in CSM_OWNERS if email != company.csm_owner]
            company.helpdesk_owner = others[int(rng.random() * len(others))]


# --------------------------------------------------------------------------- truth


_AT_RISK_STORIES = frozenset({"declining_usage", "ticket_storm", "champion_quiet", "onboarding_stalled"})


def _possible_alerts(company: Company, deal: Deal | None, as_of: date) -> list[str]:
    """Alerts that may fairly fire besides the expected ones (not false positives, not required)."""
    possible = []
    if company.story in _AT_RISK_STORIES:
        possible += ["band_dropped", "score_drop"]
        if deal is not None and (deal.renewal_date - as_of).days <= 90:
            possible.append("renewal_risk")
    return possible


DETRACTOR_DAYS = 30
"""A detractor (NPS 0-6) answered within this many days, ``as_of`` included, is expected to raise an alert."""


def _observable(alert: str, company: Company, deal: Deal | None) -> bool:
    """Whether the data Canary can read shows the story: seats bought live on a CRM deal, so an
    at-capacity customer known only to the help desk cannot be seen to be at capacity."""
    if alert == "seat_capacity":
        return deal is not None and bool(deal.presence)
    return True


def _is_past(deal: Deal) -> bool:
    """A deal of the subscription history (`_WorldBuilder.add_history`), not a current one."""
    return "-H" in deal.key


def truth_dict(world: World) -> dict[str, Any]:
    """The ground truth of a world: per company what Canary should find, and which records are one customer.

    ``expected_alerts`` holds the alert rules the story must raise (`STORY_ALERTS`), plus
    ``nps_detractor`` when the company had an NPS score of 6 or less in the last 30 days;
    ``possible_alerts`` those that may fairly fire too (score drops, renewal risk of an
    at-risk story renewing within 90 days), so they are not counted as false positives.
    """
    # "In the last 30 days" counts ``as_of`` itself as the first of them, as the alert rule does.
    cutoff = datetime(world.as_of.year, world.as_of.month, world.as_of.day, tzinfo=UTC) - timedelta(
        days=DETRACTOR_DAYS - 1)
    detractors = {s.company_key for s in world.surveys if s.kind == "nps" and s.score <= 6
                  and s.submitted_at >= cutoff}
    deals: dict[str, Deal] = {}
    for each in world.deals:
        if each.status == "active":
            deals.setdefault(each.company_key, each)
    companies = []
    groups = []
    for company in world.companies:
        ids = {system: p.external_id for system, p in company.presence.items()}
        deal = deals.get(company.key)
        alerts = [a for a in STORY_ALERTS[company.story] if _observable(a, company, deal)]
        if company.key in detractors:
            alerts.append("nps_detractor")
        companies.append(
            {
                "key": company.key,
                "name": company.name,
                "domain": company.domain,
                "parent_key": company.parent_key,
                "story": company.story,
                "segment": company.segment,
                "tier": company.tier,
                "arr": deal.arr if deal else None,
                "seats": deal.seats if deal else None,
                "renewal_date": deal.renewal_date.isoformat() if deal else None,
                "onboarding_start": company.onboarding_start.isoformat(),
                "owner": company.csm_owner,
                "ids": ids,
                "names": {system: p.name for system, p in company.presence.items()},
                "domains": {system: p.domain for system, p in company.presence.items()},
                "cross_refs": {system: dict(p.cross_refs) for system, p in company.presence.items() if p.cross_refs},
                "expected_alerts": alerts,
                "possible_alerts": _possible_alerts(company, deal, world.as_of),
            }
        )
        groups.append({"key": company.key, "records": [{"system": s, "id": i} for s, i in ids.items()]})
    return {
        "seed": world.seed,
        "as_of": world.as_of.isoformat(),
        "counts": {
            "companies": len(world.companies),
            "people": len(world.people),
            "deals": sum(1 for d in world.deals if not _is_past(d)),
            "past_deals": sum(1 for d in world.deals if _is_past(d)),
            "tickets": len(world.tickets),
            "surveys": len(world.surveys),
        },
        "companies": companies,
        "same_customer_groups": groups,
        "revenue": revenue_truth(world.revenue, world.as_of),
        "team": [{"email": m.email, "name": m.name, "role": m.role, "manager": m.manager_email,
                  "active": m.active} for m in world.team],
    }


def write_truth(world: World, path: str | os.PathLike[str]) -> Path:
    """Write `truth_dict` as JSON (sorted keys, so equal worlds give byte-equal files)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8") as fh:
        json.dump(truth_dict(world), fh, sort_keys=True, indent=1, ensure_ascii=False)
        fh.write("\n")
    return target
