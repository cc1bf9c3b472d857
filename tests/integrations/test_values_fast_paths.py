"""The shared scalar readers' fast paths (a UTC stamp parsed once, roles remembered) give what the general paths
give: the same instant, always the UTC zone object, None for what is not a stamp, the same role twice."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from integrations.hubspot.records import parse_instant
from integrations.values import canonical_role, iso_datetime

U = dt.UTC
STAMPS: list[tuple[Any, dt.datetime | None]] = [
    ("2026-11-20T10:11:12.345Z", dt.datetime(2026, 11, 20, 10, 11, 12, 345000, U)),  # HubSpot, Zendesk
    ("2026-11-20T10:11:12.345+0000", dt.datetime(2026, 11, 20, 10, 11, 12, 345000, U)),  # Salesforce
    ("2026-11-20T10:11:12+00:00", dt.datetime(2026, 11, 20, 10, 11, 12, tzinfo=U)),
    ("2026-11-20T10:11:12", dt.datetime(2026, 11, 20, 10, 11, 12, tzinfo=U)),  # naive means UTC
    ("2026-11-20T10:11:12.345-0500", dt.datetime(2026, 11, 20, 15, 11, 12, 345000, U)),
    (" 2026-11-20T10:11:12Z ", dt.datetime(2026, 11, 20, 10, 11, 12, tzinfo=U)),
    ("2026-11-20T10:11:12.5z", dt.datetime(2026, 11, 20, 10, 11, 12, 500000, U)),
    ("2026-02-30T00:00:00Z", None),
    ("2026-11-20T25:00:00Z", None),
    ("Z", None),
    ("", None),
    ("   ", None),
    (None, None),
    (1700000000, None),
]


@pytest.mark.parametrize(("value", "expected"), STAMPS)
def test_iso_datetime_reads_each_form_as_aware_utc(value: Any, expected: dt.datetime | None) -> None:
    found = iso_datetime(value)
    assert found == expected
    assert found is None or found.tzinfo is dt.UTC


@pytest.mark.parametrize(("value", "expected"), [*STAMPS[:-1], ("1700000000000", dt.datetime(2023, 11, 14, 22, 13, 20,
                                                                                                tzinfo=U))])
def test_hubspot_instants_read_as_the_shared_reader_reads_them(value: Any, expected: dt.datetime | None) -> None:
    found = parse_instant(value)
    assert found == expected
    assert found is None or found.tzinfo is dt.UTC


@pytest.mark.parametrize(("written", "role"), [
    ("Executive Sponsor", "executive_sponsor"), ("exec-sponsor", "executive_sponsor"), (" Champion ", "champion"),
    ("ADMIN", "admin"), ("end/user", "user"), ("Head of Ops", "user"), ("", "user"), (None, "user"), (3, "user"),
])
def test_a_role_reads_the_same_the_second_time(written: Any, role: str) -> None:
    assert canonical_role(written) == role
    assert canonical_role(written) == role  # now from what was remembered


def test_an_account_with_its_owner_is_what_dataclasses_replace_makes() -> None:
    import dataclasses

    from integrations.base import AccountRecord, VendorUser

    plain = AccountRecord("hubspot", "7", "Acme", dt.datetime(2026, 11, 20, tzinfo=U), domain="acme.io",
                          cross_refs={"salesforce": "001"}, employees=40, owner_ref="u9", health={"score": 1})
    for owner in (VendorUser("u9", "ana@acme.io", "Ana", True), VendorUser("u8"), VendorUser("u7", active=False)):
        made = plain.with_owner(owner)
        want = dataclasses.replace(plain, owner=owner.label, owner_ref=owner.external_id, owner_active=owner.active)
        assert made == want and repr(made) == repr(want)
        assert type(made) is AccountRecord and made is not plain and plain.owner is None  # the record left as it was
        assert (made.owner, made.owner_ref, made.owner_active) == (owner.label, owner.external_id, owner.active)
        with pytest.raises(dataclasses.FrozenInstanceError):
            made.owner = "x"  # type: ignore[misc]
    assert plain.with_owner(None) is plain
