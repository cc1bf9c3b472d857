"""Identity resolution across Salesforce, Zendesk and HubSpot (pure)."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from integrations.base import AccountRecord
from sync.identity import Cluster, KnownLink, parent_index, resolve

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def rec(system: str, ext: str, name: str, domain: str | None = None, parent: str | None = None,
        **refs: str) -> AccountRecord:
    return AccountRecord(system=system, external_id=ext, name=name, updated_at=T0, domain=domain,
                         parent_external_id=parent, cross_refs=refs)


def groups(clusters: list[Cluster]) -> set[frozenset[str]]:
    return {frozenset(f"{s}:{e}" for s, e in c.keys) for c in clusters}


def method_of(clusters: list[Cluster], system: str, ext: str) -> str:
    for c in clusters:
        if (system, ext) in c.decisions:
            return c.decisions[(system, ext)].method
    raise KeyError(ext)


def test_explicit_cross_reference_wins_over_different_names() -> None:
    clusters = resolve([
        rec("salesforce", "001A", "Initech LLC", "initech.com"),
        rec("zendesk", "11", "Totally Different Name", None, salesforce="001A"),
    ])
    assert groups(clusters) == {frozenset({"salesforce:001A", "zendesk:11"})}
    assert method_of(clusters, "zendesk", "11") == "external_id"
    assert "Zendesk 11 names Salesforce 001A" in clusters[0].decisions[("zendesk", "11")].reason


def test_domain_variants_link() -> None:
    clusters = resolve([
        rec("salesforce", "001A", "Acme Corp", "https://www.acme.com/"),
        rec("hubspot", "5", "Something Else", "acme.com"),
        rec("zendesk", "9", "ACME", "www.acme.com"),
    ])
    assert len(clusters) == 1
    assert {c.method for c in clusters[0].decisions.values()} == {"domain"}
    assert "share the domain acme.com" in clusters[0].decisions[("hubspot", "5")].reason


def test_name_variants_link_when_domain_missing() -> None:
    clusters = resolve([
        rec("salesforce", "001A", "ACME Corporation", None),
        rec("zendesk", "9", "Acme, Inc.", "acme.com"),
    ])
    assert len(clusters) == 1
    assert method_of(clusters, "zendesk", "9") == "name"


def test_same_name_with_contradicting_domains_is_not_merged() -> None:
    clusters = resolve([
        rec("salesforce", "001A", "Apex", "apex-logistics.com"),
        rec("zendesk", "9", "Apex", "apexsoftware.io"),
    ])
    assert len(clusters) == 2


def test_same_name_different_tld_is_merged() -> None:
    clusters = resolve([rec("salesforce", "001A", "Apex", "apex.com"), rec("hubspot", "3", "Apex Inc", "apex.io")])
    assert len(clusters) == 1


def test_subsidiaries_sharing_the_parent_domain_are_settled_by_name() -> None:
    clusters = resolve([
        rec("salesforce", "001P", "Umbrella Holdings", "umbrella.com"),
        rec("salesforce", "001C", "Umbrella Europe", "umbrella.com", parent="001P"),
        rec("zendesk", "20", "Umbrella Europe GmbH", "umbrella.com"),
        rec("zendesk", "21", "Umbrella Holdings", "umbrella.com"),
    ])
    assert groups(clusters) == {
        frozenset({"salesforce:001P", "zendesk:21"}),
        frozenset({"salesforce:001C", "zendesk:20"}),
    }
    parents = parent_index(clusters)
    child = next(i for i, c in enumerate(clusters) if ("salesforce", "001C") in c.keys)
    parent = next(i for i, c in enumerate(clusters) if ("salesforce", "001P") in c.keys)
    assert parents == {child: parent}


def test_never_two_records_of_one_system_in_a_cluster() -> None:
    clusters = resolve([
        rec("salesforce", "001A", "Acme", "acme.com"),
        rec("salesforce", "001B", "Acme", "acme.com"),
        rec("zendesk", "1", "Acme", "acme.com"),
    ])
    assert sorted(k for c in clusters for k in c.keys) == [("salesforce", "001A"), ("salesforce", "001B"),
                                                            ("zendesk", "1")]
    for c in clusters:
        systems = [s for s, _ in c.keys]
        assert len(systems) == len(set(systems))


def test_manual_override_is_respected() -> None:
    records = [rec("salesforce", "001A", "Acme", "acme.com"), rec("zendesk", "1", "Acme", "acme.com")]
    known = {("salesforce", "001A"): KnownLink(10, manual=True, reason="split by Dana"),
             ("zendesk", "1"): KnownLink(11, manual=True, reason="split by Dana")}
    clusters = resolve(records, known)
    assert len(clusters) == 2
    assert {c.account_id for c in clusters} == {10, 11}
    assert method_of(clusters, "zendesk", "1") == "manual"


def test_earlier_links_keep_their_account_and_new_records_join() -> None:
    known = {("salesforce", "001A"): KnownLink(7)}
    clusters = resolve([rec("salesforce", "001A", "Acme", "acme.com"), rec("hubspot", "2", "Acme", "acme.com")],
                       known)
    assert len(clusters) == 1 and clusters[0].account_id == 7
    assert method_of(clusters, "hubspot", "2") == "domain"
    assert method_of(clusters, "salesforce", "001A") == "earlier"


def test_unmatched_records_say_so() -> None:
    clusters = resolve([rec("hubspot", "2", "Lonely Ltd", "lonely.io")])
    assert clusters[0].decisions[("hubspot", "2")].method == "new"
    assert clusters[0].account_id is None


def test_result_does_not_depend_on_input_order() -> None:
    records = [
        rec("salesforce", "001A", "Acme Corp", "acme.com"), rec("zendesk", "1", "ACME", None),
        rec("hubspot", "7", "Acme Inc", "www.acme.com"), rec("salesforce", "001B", "Beta", "beta.io"),
        rec("zendesk", "2", "Beta GmbH", "beta.io", salesforce="001B"), rec("hubspot", "8", "Gamma", None),
    ]
    expected = groups(resolve(records))
    rng = random.Random(3)
    for _ in range(10):
        shuffled = records[:]
        rng.shuffle(shuffled)
        assert groups(resolve(shuffled)) == expected


@pytest.mark.parametrize("n", [0, 1])
def test_tiny_inputs(n: int) -> None:
    records = [rec("zendesk", "1", "Solo")][:n]
    assert len(resolve(records)) == n


def test_pairwise_quality() -> None:
    from sync.identity import pairwise_quality

    truth = [[("salesforce", "1"), ("zendesk", "1"), ("hubspot", "1")], [("salesforce", "2"), ("zendesk", "2")]]
    assert pairwise_quality(truth, truth) == (1.0, 1.0)
    merged_wrong = [[("salesforce", "1"), ("zendesk", "1"), ("hubspot", "1"), ("salesforce", "2")],
                    [("zendesk", "2")]]
    precision, recall = pairwise_quality(merged_wrong, truth)
    assert precision == pytest.approx(3 / 6) and recall == pytest.approx(3 / 4)
    assert pairwise_quality([], truth) == (1.0, 0.0)


def test_subsidiary_sharing_parent_domain_in_another_system_is_not_merged() -> None:
    clusters = resolve([
        rec("salesforce", "001P", "Ironnest LLC", "ironnest.co"),
        rec("hubspot", "9", "Ironnest Logistics Ltd.", "ironnest.co"),
    ])
    assert len(clusters) == 2
