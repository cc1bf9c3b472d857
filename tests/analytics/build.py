"""Subscription terms for the analytics tests, dated around the fixed world day (`tests.shared.WORLD_AS_OF`)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from analytics.timeline import SubscriptionTerm
from tests.shared import WORLD_AS_OF

AS_OF = WORLD_AS_OF  # 2026-11-30
OCT = dt.date(2026, 10, 1)
NOV = dt.date(2026, 11, 1)


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def term(key: str, account: int, arr: str | int, start: str | None, renewal: str | None = None,
         status: str = "active", system: str = "salesforce",
         versions: tuple[tuple[str, str], ...] = ()) -> SubscriptionTerm:
    return SubscriptionTerm(
        key=key, account=account, system=system, arr=Decimal(str(arr)),
        start=d(start) if start else None, renewal=d(renewal) if renewal else None, status=status,
        versions=tuple((d(day), Decimal(value)) for day, value in versions))


def book() -> list[SubscriptionTerm]:
    """Fifteen accounts, each one case of October 2026 (the arithmetic is in tests/analytics/test_retention.py)."""
    return [
        # 1 flat all along
        term("s1", 1, 1200, "2025-01-01", "2027-01-01"),
        # 2 co-terminous expansion booked mid-term, in force from its own start
        term("s2", 2, 1000, "2025-06-01", "2027-06-01"),
        term("s2x", 2, 500, "2026-10-15", "2027-06-01"),
        # 3 renewed down on the period's first day (2000 -> 1500 on 10-01)
        term("s3", 3, 2000, "2025-10-01", "2026-10-01"),
        term("s3r", 3, 1500, "2026-10-01", "2027-10-01"),
        # 4 renewal lost: the lost deal (closed 10-18, >= 10-20 - 30 days) decides the end 10-20
        term("s4", 4, 800, "2025-10-20", "2026-10-20"),
        term("s4l", 4, 800, "2026-10-18", "2027-10-20", status="churned"),
        # 5 a new logo on 10-05
        term("s5", 5, 3000, "2026-10-05", "2027-10-05"),
        # 6 reactivation: paid in 2024, lost, back on 10-10
        term("s6", 6, 600, "2024-01-01", "2025-01-01"),
        term("s6l", 6, 600, "2024-12-20", "2026-01-01", status="churned"),
        term("s6b", 6, 900, "2026-10-10", "2027-10-10"),
        # 7 starts and churns inside October: counts nowhere (but its decided end is a renewal up)
        term("s7", 7, 500, "2026-10-02", "2026-10-20"),
        term("s7l", 7, 500, "2026-10-19", "2027-10-20", status="churned"),
        # 8 a three-year deal carries its ARR per year
        term("s8", 8, 1000, "2024-03-01", "2027-03-01"),
        # 9 in-place ARR edits: 1000, 1400 from 10-05, 1100 from 10-25 (net +100 for October)
        term("s9", 9, 1100, "2025-01-01", "2027-01-01",
             versions=(("2025-01-01", "1000"), ("2026-10-05", "1400"), ("2026-10-25", "1100"))),
        # 10 downgraded to zero at renewal (a won renewal with ARR 0 on 10-12)
        term("s10", 10, 700, "2025-10-12", "2026-10-12"),
        term("s10r", 10, 0, "2026-10-12", "2027-10-12"),
        # 11 the same deal in Salesforce and HubSpot: Salesforce is the system of record; HubSpot's extra is ignored
        term("s11", 11, 2000, "2025-05-01", "2027-05-01"),
        term("h11", 11, 2000, "2025-05-01", "2027-05-01", system="hubspot"),
        term("h11x", 11, 500, "2026-10-03", "2027-05-01", system="hubspot"),
        # 12 upsell at renewal: 1000 -> 1300 on 10-15
        term("s12", 12, 1000, "2025-10-15", "2026-10-15"),
        term("s12r", 12, 1300, "2026-10-15", "2027-10-15"),
        # 13 renewed flat while an add-on runs on
        term("s13", 13, 1000, "2025-10-08", "2026-10-08"),
        term("s13a", 13, 400, "2026-01-01", "2027-01-01"),
        term("s13r", 13, 1000, "2026-10-08", "2027-10-08"),
        # 14 undecided: renewal date 10-10 passed with no deal booked or lost; the ARR stays
        term("s14", 14, 900, "2025-10-10", "2026-10-10"),
        # 15 cents, no currency; and a pending deal that never counts
        term("s15", 15, "1234.56", "2025-02-01", "2027-02-01"),
        term("s15p", 15, 5000, "2026-10-01", "2027-10-01", status="pending"),
    ]
