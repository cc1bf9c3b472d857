"""Identity resolution: which Salesforce Account, Zendesk Organization and HubSpot Company are one customer.

Pure: records and what is already known in, clusters with a reason for every link out.
Evidence is used strongest first:

1. **manual** overrides (a record pinned to an account) and links made in earlier runs;
2. **external_id**: explicit cross-reference fields (a Zendesk organization's
   ``external_id`` holding a Salesforce id, HubSpot's ``salesforceaccountid``, …);
3. **domain**: the same normalised domain in different systems, when it is unambiguous —
   a domain shared by a parent and its subsidiaries in one system is settled by name
   within that domain;
4. **name**: the same normalised name in different systems, unambiguous, and with domains
   that do not contradict each other.

A cluster never holds two records of one system, nor two different pinned accounts; a
union that would break that is refused, so evidence can only add links it cannot
contradict. Parent/child comes from each system's own parent field.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

from integrations.base import AccountRecord
from sync.normalise import normalise_domain, normalise_name

Key = tuple[str, str]
"""(system, external id)."""

SYSTEM_LABELS = {"salesforce": "Salesforce", "zendesk": "Zendesk", "hubspot": "HubSpot", "product": "product"}


@dataclass(frozen=True)
class KnownLink:
    account_id: int
    manual: bool = False
    method: str = "earlier"
    reason: str = "linked in an earlier run"


@dataclass(frozen=True)
class LinkDecision:
    method: str
    """manual | earlier | external_id | domain | name | new."""
    reason: str


@dataclass
class Cluster:
    keys: list[Key]
    decisions: dict[Key, LinkDecision]
    account_id: int | None
    """The existing canonical account this cluster is, if any (the lowest id when evidence joined two)."""
    merged_account_ids: list[int] = field(default_factory=list)
    """Other existing accounts that new evidence shows are the same customer."""
    parent_keys: list[Key] = field(default_factory=list)
    """Records (in any system) named as this customer's parent."""


def _label(key: Key) -> str:
    return f"{SYSTEM_LABELS.get(key[0], key[0])} {key[1]}"


def _cross_reference(a: Key, b: Key) -> str:
    return f"{_label(a)} names {_label(b)} in its external id field"


def _share_domain(a: Key, b: Key, domain: str) -> str:
    return f"{_label(a)} and {_label(b)} share the domain {domain}"


def _share_domain_and_name(a: Key, b: Key, domain: str, name: str) -> str:
    return f"{_label(a)} and {_label(b)} share the domain {domain} and the name {name!r}"


def _same_name(a: Key, b: Key, name: str) -> str:
    return f"{_label(a)} and {_label(b)} have the same name {name!r}"


def _looks_like_division(na: str | None, nb: str | None) -> bool:
    """Different names (normalised) that start alike ("Acme" / "Acme Europe", "Acme Japan" / "Acme Health"):
    a parent and its subsidiary, or two subsidiaries, that may well share one domain."""
    if not na or not nb or na == nb:
        return False
    return na.split()[0] == nb.split()[0]


def _first_label(domain: str) -> str:
    return domain.split(".", 1)[0]


class _Clusters:
    def __init__(self, keys: Iterable[Key], pinned: Mapping[Key, int]) -> None:
        self.parent: dict[Key, Key] = {k: k for k in keys}
        self.systems: dict[Key, dict[str, Key]] = {k: {k[0]: k} for k in self.parent}
        self.pins: dict[Key, set[int]] = {k: ({pinned[k]} if k in pinned else set()) for k in self.parent}

    def find(self, key: Key) -> Key:
        root = key
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[key] != root:
            self.parent[key], key = root, self.parent[key]
        return root

    def can_union(self, a: Key, b: Key) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        if set(self.systems[ra]) & set(self.systems[rb]):
            return False
        pins = self.pins[ra] | self.pins[rb]
        return len(pins) <= 1

    def union(self, a: Key, b: Key) -> bool:
        if not self.can_union(a, b):
            return False
        ra, rb = self.find(a), self.find(b)
        if len(self.systems[ra]) < len(self.systems[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.systems[ra].update(self.systems.pop(rb))
        self.pins[ra] |= self.pins.pop(rb)
        return True


def resolve(records: Sequence[AccountRecord], known: Mapping[Key, KnownLink] | None = None) -> list[Cluster]:
    """Group account records from all systems into customers.

    ``known`` holds links from earlier runs and manual overrides, keyed by record.
    The result is deterministic and does not depend on the order of ``records``.
    """
    known = known or {}
    by_key: dict[Key, AccountRecord] = {}
    for r in sorted(records, key=lambda r: (r.system, r.external_id)):
        by_key[(r.system, r.external_id)] = r
    keys = sorted(by_key)
    pinned = {k: link.account_id for k, link in known.items() if link.manual and k in by_key}
    linker = _Linker(_Clusters(keys, pinned), by_key)
    linker.keep_known(keys, known)
    linker.by_cross_reference(keys)
    linker.by_domain(keys)
    linker.by_name(keys)
    return _gather(keys, by_key, known, linker)


class _Linker:
    """Applies the evidence, strongest first, to one set of clusters; remembers why each record joined."""

    def __init__(self, clusters: _Clusters, by_key: Mapping[Key, AccountRecord]) -> None:
        self.clusters = clusters
        self.by_key = by_key
        self.decisions: dict[Key, LinkDecision] = {}
        # Each record's name and domain normalised once (every rule below reads them, some once per pair).
        self.name = {k: normalise_name(r.name) for k, r in by_key.items()}
        self.domain = {k: normalise_domain(r.domain) for k, r in by_key.items()}

    def link(self, a: Key, b: Key, method: str, reason: Callable[[], str]) -> None:
        """Join ``a`` and ``b`` if the clusters allow it; ``reason`` is worded only when a record takes it."""
        if self.clusters.union(a, b) and (a not in self.decisions or b not in self.decisions):
            decision = LinkDecision(method, reason())
            for k in (a, b):
                self.decisions.setdefault(k, decision)

    def keep_known(self, keys: Sequence[Key], known: Mapping[Key, KnownLink]) -> None:
        """1. manual pins and earlier links: records that share an account stay together."""
        by_account: dict[int, list[Key]] = defaultdict(list)
        for k in keys:
            if k in known:
                by_account[known[k].account_id].append(k)
                self.decisions[k] = LinkDecision("manual" if known[k].manual else known[k].method, known[k].reason)
        for members in by_account.values():
            for other in members[1:]:
                self.clusters.union(members[0], other)

    def by_cross_reference(self, keys: Sequence[Key]) -> None:
        """2. explicit cross references."""
        for k in keys:
            for system, ext in sorted(self.by_key[k].cross_refs.items()):
                target = (system, str(ext))
                if target in self.by_key:
                    self.link(k, target, "external_id", partial(_cross_reference, k, target))

    def by_domain(self, keys: Sequence[Key]) -> None:
        """3. normalised domain, unambiguous per system; shared domains are settled by name."""
        domains: dict[str, list[Key]] = defaultdict(list)
        for k in keys:
            d = self.domain[k]
            if d:
                domains[d].append(k)
        for domain, members in sorted(domains.items()):
            systems = defaultdict(list)
            for k in members:
                systems[k[0]].append(k)
            if len(systems) < 2:
                continue
            if all(len(v) == 1 for v in systems.values()):
                self._one_per_system(domain, members)
            else:
                self._settle_by_name(domain, members)

    def _one_per_system(self, domain: str, members: list[Key]) -> None:
        for i, anchor in enumerate(members):
            for other in members[i + 1 :]:
                if _looks_like_division(self.name[anchor], self.name[other]):
                    continue  # "Acme" and "Acme Europe" on acme.com: a parent and its subsidiary
                self.link(anchor, other, "domain", partial(_share_domain, anchor, other, domain))

    def _settle_by_name(self, domain: str, members: list[Key]) -> None:
        names: dict[str | None, list[Key]] = defaultdict(list)
        for k in members:
            names[self.name[k]].append(k)
        for name, same in sorted(names.items(), key=lambda item: item[0] or ""):
            if name is None or len({k[0] for k in same}) != len(same) or len(same) < 2:
                continue
            for other in same[1:]:
                self.link(same[0], other, "domain", partial(_share_domain_and_name, same[0], other, domain, name))

    def by_name(self, keys: Sequence[Key]) -> None:
        """4. normalised name, unambiguous per system, domains not contradicting."""
        names_all: dict[str, list[Key]] = defaultdict(list)
        for k in keys:
            n = self.name[k]
            if n:
                names_all[n].append(k)
        for name, members in sorted(names_all.items()):
            per_system = defaultdict(list)
            for k in members:
                per_system[k[0]].append(k)
            if len(per_system) < 2 or any(len(v) > 1 for v in per_system.values()):
                continue
            for i, a in enumerate(members):
                for b in members[i + 1 :]:
                    da, db = self.domain[a], self.domain[b]
                    if da and db and da != db and _first_label(da) != _first_label(db):
                        continue
                    self.link(a, b, "name", partial(_same_name, a, b, name))


def _gather(keys: Sequence[Key], by_key: Mapping[Key, AccountRecord], known: Mapping[Key, KnownLink],
            linker: _Linker) -> list[Cluster]:
    groups: dict[Key, list[Key]] = defaultdict(list)
    for k in keys:
        groups[linker.clusters.find(k)].append(k)
    out: list[Cluster] = []
    for members in sorted(groups.values()):
        existing = sorted({known[k].account_id for k in members if k in known})
        out.append(Cluster(
            keys=members,
            decisions={k: linker.decisions.get(k) or LinkDecision("new", f"{_label(k)} matches no other record")
                       for k in members},
            account_id=existing[0] if existing else None,
            merged_account_ids=existing[1:],
        ))
    for cluster in out:
        parents: list[Key] = []
        for k in cluster.keys:
            parent_ext = by_key[k].parent_external_id
            if parent_ext and (k[0], parent_ext) in by_key and (k[0], parent_ext) not in cluster.keys:
                parents.append((k[0], parent_ext))
        cluster.parent_keys = parents
    return out


def parent_index(clusters: Sequence[Cluster]) -> dict[int, int]:
    """Cluster index -> index of its parent cluster (the first parent named wins)."""
    where = {k: i for i, c in enumerate(clusters) for k in c.keys}
    result: dict[int, int] = {}
    for i, c in enumerate(clusters):
        for p in c.parent_keys:
            j = where.get(p)
            if j is not None and j != i:
                result[i] = j
                break
    return result


def pairwise_quality(predicted: Iterable[Iterable[Key]], truth: Iterable[Iterable[Key]]) -> tuple[float, float]:
    """(precision, recall) of record pairs linked together, against the true customers.

    A pair is two records in one group; precision counts false merges, recall missed links.
    With no pairs on a side, that side's measure is 1.0.
    """

    def pairs(groups: Iterable[Iterable[Key]]) -> set[tuple[Key, Key]]:
        out: set[tuple[Key, Key]] = set()
        for group in groups:
            members = sorted(set(group))
            out.update((a, b) for i, a in enumerate(members) for b in members[i + 1 :])
        return out

    found, true = pairs(predicted), pairs(truth)
    hit = len(found & true)
    return (hit / len(found) if found else 1.0, hit / len(true) if true else 1.0)
