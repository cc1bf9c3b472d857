"""Terms in force, system of record, ARR versions and movements (docs/analytics.md, first two sections)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from analytics.movements import decided_renewals, kind_of, movements, renewals, undecided
from analytics.timeline import SubscriptionTerm, build_timeline, system_of_record, term_ends
from tests.analytics.build import AS_OF, NOV, OCT, book, d, term

D = Decimal
TIMELINE = build_timeline(book())


def test_term_ends_follow_the_thirty_day_rule() -> None:
    ends = term_ends([
        term("a", 1, 100, "2025-01-01", "2026-01-01"),
        term("a2", 1, 100, "2025-12-02", "2027-01-01"),  # 2026-01-01 - 30 days = 2025-12-02: decides "a"
        term("b", 2, 100, "2025-01-01", "2026-01-01"),
        term("b2", 2, 100, "2025-12-01", "2026-06-01"),  # one day earlier: a co-terminous add-on, decides nothing
        term("c", 3, 100, "2025-01-01", "2026-01-01"),
        term("c2", 3, 100, "2026-02-01", "2027-02-01", system="hubspot"),  # another system decides nothing
        term("e", 4, 100, "2025-01-01", None),  # no renewal date: open
        term("f", 5, 100, "2025-01-01", "2026-01-01"),
        term("f2", 5, 100, "2026-01-05", "2027-01-01", status="pending"),  # an open deal decides nothing
    ])
    assert ends == {"a": d("2026-01-01"), "a2": None, "b": None, "b2": None, "c": None, "c2": None, "e": None,
                    "f": None, "f2": None}


def test_in_force_days_are_start_to_end_exclusive() -> None:
    t = build_timeline([term("a", 1, 100, "2025-01-01", "2026-01-01"),
                        term("l", 1, 100, "2025-12-15", "2027-01-01", status="churned")])
    assert [t.arr_on(1, d(x)) for x in ("2024-12-31", "2025-01-01", "2025-12-31", "2026-01-01")] == [0, 100, 100, 0]
    assert (t.ever_before(1, d("2025-01-01")), t.ever_before(1, d("2025-01-02"))) == (False, True)
    assert t.arr_on(99, AS_OF) == 0 and not t.ever_before(99, AS_OF)


def test_undecided_terms_keep_their_arr() -> None:
    assert TIMELINE.arr_on(14, AS_OF) == 900  # renewal date 2026-10-10 passed, nothing booked or lost
    assert [x.key for x in undecided(TIMELINE, AS_OF)] == ["s14"]
    assert undecided(TIMELINE, d("2026-10-09")) == []


def test_versions_edit_the_arr_in_place() -> None:
    # s9: 1000 (first version, counted from start), 1400 from 10-05, 1100 from 10-25
    assert [TIMELINE.arr_on(9, d(x)) for x in ("2025-01-01", "2026-10-04", "2026-10-05", "2026-10-25")] == [
        1000, 1000, 1400, 1100]
    # a first version dated after the start counts from the start
    late = build_timeline([term("v", 1, 300, "2026-01-01", None, versions=(("2026-02-01", "200"),
                                                                           ("2026-03-01", "300")))])
    assert [late.arr_on(1, d(x)) for x in ("2026-01-01", "2026-02-28", "2026-03-01")] == [200, 200, 300]


def test_system_of_record_order() -> None:
    assert system_of_record(["zendesk", "hubspot", "salesforce"]) == "salesforce"
    assert system_of_record(["zendesk", "hubspot"]) == "hubspot"
    assert system_of_record(["zendesk", "chargebee"]) == "zendesk"
    assert system_of_record(["stripe", "chargebee"]) == "chargebee"
    # a pending Salesforce deal alone already makes Salesforce the account's system of record
    t = build_timeline([term("s", 1, 10, "2026-01-01", status="pending"),
                        term("h", 1, 500, "2025-01-01", None, system="hubspot")])
    assert (t.system_of_record[1], t.arr_on(1, AS_OF)) == ("salesforce", 0)


def test_october_movements() -> None:
    got = [(m.account, m.day.isoformat()[5:], m.kind, m.delta) for m in movements(TIMELINE, OCT, NOV)]
    assert got == [
        (3, "10-01", "contraction", -500),
        (7, "10-02", "new", 500),
        (5, "10-05", "new", 3000),
        (9, "10-05", "expansion", 400),
        (6, "10-10", "reactivation", 900),
        (10, "10-12", "churn", -700),
        (2, "10-15", "expansion", 500),
        (12, "10-15", "expansion", 300),
        (4, "10-20", "churn", -800),
        (7, "10-20", "churn", -500),
        (9, "10-25", "contraction", -300),
    ]
    assert [m.account for m in movements(TIMELINE, OCT, NOV, accounts=[4, 9])] == [9, 4, 9]


def test_renewal_movements_keep_arr_and_decided_ends_include_losses() -> None:
    kept = [(r.account, r.delta) for r in renewals(TIMELINE, OCT, NOV)]
    assert kept == [(3, -500), (13, 0), (12, 300)]
    assert [r.account for r in decided_renewals(TIMELINE, OCT, NOV)] == [3, 13, 10, 12, 4, 7]


def test_kind_of() -> None:
    assert [kind_of(0, 5, False), kind_of(0, 5, True), kind_of(5, 7, True), kind_of(7, 5, True),
            kind_of(5, 0, True)] == ["new", "reactivation", "expansion", "contraction", "churn"]
    with pytest.raises(ValueError, match="did not change"):
        kind_of(5, 5, True)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"status": "won"}, "status must be one of"),
    ({"arr": D("-1")}, "finite amount >= 0"),
    ({"arr": D("1.005")}, "more than two decimals"),
    ({"arr": 1.5}, "must be a Decimal or an int"),
    ({"account": None}, "account must be an account id"),
    ({"versions": ((d("2026-02-01"), D(1)), (d("2026-01-01"), D(1)))}, "sorted by effective day"),
    ({"versions": ((d("2026-02-01"), D(1)),)}, "must be the current ARR"),
])
def test_bad_terms_are_refused_clearly(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"key": "k", "account": 1, "system": "salesforce", "arr": D(10),
                                 "start": d("2026-01-01"), "renewal": None, "status": "active"}
    with pytest.raises(ValueError, match=message):
        SubscriptionTerm(**{**fields, **kwargs})  # type: ignore[arg-type]


def test_repeated_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="repeated: a"):
        build_timeline([term("a", 1, 1, "2026-01-01"), term("a", 2, 1, "2026-01-01")])


def test_an_add_on_booked_in_the_last_30_days_decides_the_term() -> None:
    # The rule reads any won deal starting on or after renewal - 30 days as the renewal booked: a late add-on
    # (2025-12-10, co-terminous) therefore ends the main term on its renewal date even with nothing renewed.
    ends = term_ends([term("main", 1, 1000, "2025-01-01", "2026-01-01"),
                      term("addon", 1, 100, "2025-12-10", "2026-01-01")])
    assert ends == {"main": d("2026-01-01"), "addon": None}


def test_a_timeline_read_back_from_bytes_answers_as_the_one_built() -> None:
    """`dumps`/`loads`: what a worker stores after a sync and a web process reads instead of rebuilding."""
    from analytics.timeline import ArrTimeline, TermColumns

    for built in (TIMELINE, build_timeline(TermColumns.from_terms(book())), build_timeline([])):
        back = ArrTimeline.loads(built.dumps())
        for day in (d("2024-12-31"), d("2025-06-01"), d("2026-01-01"), d("2026-10-15")):
            assert back.cents_all(day).tolist() == built.cents_all(day).tolist()
        assert back.account_ids.tolist() == built.account_ids.tolist()
        assert back.renewals == built.renewals
        assert back.open_terms == built.open_terms
        assert back.ends == built.ends
        assert back.system_of_record == built.system_of_record
        assert back.changes(d("2000-01-01"), d("2100-01-01"), back.mask(None)) == built.changes(
            d("2000-01-01"), d("2100-01-01"), built.mask(None))
    assert TIMELINE.renewals and TIMELINE.open_terms and any(t.versions for t in book())
    with pytest.raises(ValueError, match="not a stored ARR timeline"):
        ArrTimeline.loads(b"PK\x03\x04 not a zip")


def test_every_accounts_arr_on_a_day_is_kept_read_only_for_the_last_days_asked() -> None:
    """`cents_all`: a revenue page asks for the same month ends on every request; the timeline keeps the last
    `CENTS_DAYS_KEPT` days' arrays (read-only, equal to a fresh search), the oldest dropped first."""
    import datetime as dt

    from analytics import timeline as tl

    fresh = build_timeline(tl.TermColumns.from_terms(book()))
    kept = build_timeline(tl.TermColumns.from_terms(book()))
    days = [d("2024-12-31") + dt.timedelta(days=45 * i) for i in range(tl.CENTS_DAYS_KEPT + 3)]
    first = kept.cents_all(days[0])
    assert kept.cents_all(days[0]) is first and not first.flags.writeable
    with pytest.raises(ValueError):
        first[0] = 1
    for day in days:
        assert kept.cents_all(day).tolist() == fresh._cents_at(fresh._base | day.toordinal()).tolist()
    assert len(kept._cents_days) == tl.CENTS_DAYS_KEPT
    assert days[0].toordinal() not in kept._cents_days and days[-1].toordinal() in kept._cents_days
    assert kept.cents_all(days[0]) is not first and kept.cents_all(days[0]).tolist() == first.tolist()
