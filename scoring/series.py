"""Signals of one account for every day of a range, in one pass: `compute_signals` for consecutive days.

`signal_series(inputs, first, last, model)` returns exactly
``[compute_signals(inputs, day, model) for day in first..last]`` — the same `Signals`, field for field —
without recounting each day's windows from scratch. The facts are sorted once into day-indexed counts;
each window (7, 14, 28 days of usage; 7, 28, 30 and 60 days of tickets; the CSAT and NPS windows) then
slides forward a day at a time: a day's counts are added as it enters the window and taken away as it
leaves, and the distinct users of a window are kept as counts of their active days in it. Sums are of
whole numbers, so the floats built from them are the ones `compute_signals` builds.

One case keeps the day-by-day computation: usage keys that differ only in letter case (the contacts'
last activity is matched case-insensitively, and which of two such keys wins depends on the order of the
facts), where the account's days are computed by `compute_signals` one by one.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Iterable
from typing import TYPE_CHECKING

from scoring.inputs import CLOSED_TICKET_STATUSES, AccountInputs
from scoring.signals import (
    USUAL_TICKETS_FROM,
    Signals,
    SignalSettings,
    _change,
    _contact_signals,
    _day,
    _onboarding_signals,
    _settings,
    compute_signals,
)

if TYPE_CHECKING:
    from scoring.model import HealthModel


def signal_series(
    inputs: AccountInputs, first: dt.date, last: dt.date, model: SignalSettings | HealthModel | None = None
) -> list[Signals]:
    """`compute_signals(inputs, day, model)` for every day from `first` to `last` (both included), oldest first."""
    settings = _settings(model)
    t0, t1 = first.toordinal(), last.toordinal()
    if t1 < t0:
        return []
    usage = _UsageSeries(inputs, settings, t0) if inputs.usage is not None else None
    if usage is not None and usage.ambiguous:
        return [compute_signals(inputs, dt.date.fromordinal(t), settings) for t in range(t0, t1 + 1)]
    tickets = _TicketSeries(inputs, t0, t1) if inputs.tickets is not None else None
    surveys = _SurveySeries(inputs, settings, t0, t1)
    renewal = _day(inputs.renewal_date) if inputs.renewal_date is not None else None
    renewal_ordinal = renewal.toordinal() if renewal is not None else 0
    arr = float(inputs.arr) if inputs.arr is not None else None
    fixed = {"account_id": inputs.account_id, "name": inputs.name, "segment": inputs.segment, "tier": inputs.tier,
             "lifecycle_stage": inputs.lifecycle_stage, "parent_id": inputs.parent_id,
             "seats_purchased": inputs.seats_purchased}
    out: list[Signals] = []
    for t in range(t0, t1 + 1):
        values: dict[str, object] = {}
        last_seen: dict[str, int] = {}
        milestone_events: Iterable[str] = ()
        if usage is not None:
            values.update(usage.at(t))
            last_seen = usage.last_seen(t)
            milestone_events = usage.milestones(t)
        if tickets is not None:
            values.update(tickets.at(t))
        values.update(surveys.at(t))
        values.update(_contact_signals(inputs, t, last_seen))
        values.update(_onboarding_signals(inputs, t, settings, milestone_events))
        if renewal is not None:
            values["renewal_date"] = renewal
            values["days_to_renewal"] = float(renewal_ordinal - t)
        if arr is not None:
            values["arr"] = arr
        out.append(Signals(day=dt.date.fromordinal(t), **fixed, **values))  # type: ignore[arg-type]
    return out


def _prefix(counts: dict[int, int], base: int, top: int) -> list[int]:
    """Running sums of `counts` over the days `base`..`top`: entry i is the sum of the days before base + i."""
    sums = [0]
    running = 0
    for day in range(base, top + 1):
        running += counts.get(day, 0)
        sums.append(running)
    return sums


def _window(sums: list[int], base: int, lo: int, hi: int) -> int:
    """The sum over days `lo`..`hi` of a `_prefix` list that starts at `base` (days outside it count 0)."""
    lo = max(lo, base)
    hi = min(hi, base + len(sums) - 2)
    if hi < lo:
        return 0
    return sums[hi - base + 1] - sums[lo - base]


class _Distinct:
    """The distinct keys among the days of a sliding window, kept as counts of days per key."""

    __slots__ = ("days",)

    def __init__(self) -> None:
        self.days: dict[str, int] = {}

    def add(self, keys: Iterable[str]) -> None:
        days = self.days
        for key in keys:
            days[key] = days.get(key, 0) + 1

    def remove(self, keys: Iterable[str]) -> None:
        days = self.days
        for key in keys:
            left = days[key] - 1
            if left:
                days[key] = left
            else:
                del days[key]


class _UsageSeries:
    """`_usage_signals` day after day (plus the last-seen days and milestones the other signals read)."""

    def __init__(self, inputs: AccountInputs, settings: SignalSettings, t0: int) -> None:
        self.settings = settings
        self.seats = inputs.seats_purchased
        key_features = frozenset(settings.key_features)
        milestone_names = frozenset(settings.milestones)
        login_event = settings.login_event
        self.base = base = t0 - 27
        total: dict[int, int] = {}
        logins: dict[int, int] = {}
        key_uses: dict[int, int] = {}
        users_on: dict[int, set[str]] = {}
        features_on: dict[int, set[tuple[str, str]]] = {}
        login_days: set[int] = set()
        first_milestone: dict[str, int] = {}
        user_days: dict[str, set[int]] = {}
        for row in inputs.usage or ():
            if row.count <= 0:
                continue
            day = _day(row.day).toordinal()
            user, event, count = row.user_key, row.event, row.count
            user_days.setdefault(user, set()).add(day)
            if event == login_event:
                login_days.add(day)
            if event in milestone_names and day < first_milestone.get(event, day + 1):
                first_milestone[event] = day
            if day < base:
                continue
            total[day] = total.get(day, 0) + count
            users_on.setdefault(day, set()).add(user)
            if event == login_event:
                logins[day] = logins.get(day, 0) + count
            if event in key_features:
                key_uses[day] = key_uses.get(day, 0) + count
                features_on.setdefault(day, set()).add((user, event))
        self.ambiguous = len({user.casefold() for user in user_days}) != len(user_days)
        top = max(total, default=t0)
        self.total = _prefix(total, base, top)
        self.logins = _prefix(logins, base, top)
        self.key_uses = _prefix(key_uses, base, top)
        self.user_days_count = _prefix({d: len(u) for d, u in users_on.items()}, base, top)
        self.users_on = users_on
        self.features_on = features_on
        self.login_days = sorted(login_days)
        self.first_milestone = first_milestone
        # Only the people the contact signals look up (sponsors and champions) need their last-seen day.
        wanted = {c.user_key.casefold() for c in inputs.contacts if c.role in ("executive_sponsor", "champion")}
        self.user_days = {user: sorted(days) for user, days in user_days.items() if user.casefold() in wanted}
        self.users_7 = _Distinct()
        self.users_before = _Distinct()
        self.users_28 = _Distinct()
        self.feature_days: dict[tuple[str, str], int] = {}
        """Per (user, key feature): the days it was used in the 28-day window."""
        self.features_per_user: dict[str, int] = {}
        self.users_per_feature: dict[str, int] = {}
        self.today: int | None = None

    def _enter_features(self, day: int) -> None:
        pairs = self.features_on.get(day)
        if not pairs:
            return
        days, per_user, per_feature = self.feature_days, self.features_per_user, self.users_per_feature
        for key in pairs:
            user, event = key
            held = days.get(key, 0)
            days[key] = held + 1
            if not held:
                per_user[user] = per_user.get(user, 0) + 1
                per_feature[event] = per_feature.get(event, 0) + 1

    def _leave_features(self, day: int) -> None:
        pairs = self.features_on.get(day)
        if not pairs:
            return
        days, per_user, per_feature = self.feature_days, self.features_per_user, self.users_per_feature
        for key in pairs:
            user, event = key
            left = days[key] - 1
            if left:
                days[key] = left
                continue
            del days[key]
            n = per_user[user] - 1
            if n:
                per_user[user] = n
            else:
                del per_user[user]
            n = per_feature[event] - 1
            if n:
                per_feature[event] = n
            else:
                del per_feature[event]

    def _advance(self, t: int) -> None:
        users_on = self.users_on
        none: frozenset[str] = frozenset()
        if self.today is None:
            # The first day: fill each window with all of its days.
            for day in range(t - 27, t + 1):
                self.users_28.add(users_on.get(day, none))
                self._enter_features(day)
            for day in range(t - 6, t + 1):
                self.users_7.add(users_on.get(day, none))
            for day in range(t - 20, t - 13):
                self.users_before.add(users_on.get(day, none))
        else:
            assert t == self.today + 1, "days must be asked for one after the other"
            self.users_28.add(users_on.get(t, none))
            self._enter_features(t)
            self.users_28.remove(users_on.get(t - 28, none))
            self._leave_features(t - 28)
            self.users_7.add(users_on.get(t, none))
            self.users_7.remove(users_on.get(t - 7, none))
            self.users_before.add(users_on.get(t - 14, none))
            self.users_before.remove(users_on.get(t - 21, none))
        self.today = t

    def at(self, t: int) -> dict[str, object]:
        self._advance(t)
        settings, base = self.settings, self.base
        active_users = self.users_28.days
        active = len(active_users)
        logins_28 = _window(self.logins, base, t - 27, t)
        key_uses_28 = _window(self.key_uses, base, t - 27, t)
        events_14 = _window(self.total, base, t - 13, t)
        events_prev_14 = _window(self.total, base, t - 27, t - 14)
        week, before = len(self.users_7.days), len(self.users_before.days)
        k = bisect_right(self.login_days, t)
        last_login = self.login_days[k - 1] if k else -1
        per_feature, per_user = self.users_per_feature, self.features_per_user
        total_features = len(settings.key_features)
        seats = self.seats
        return {
            "logins_per_user_week": logins_28 / active / 4.0 if active else 0.0,
            "days_since_last_login": float(t - last_login) if last_login >= 0 else None,
            "weekly_active_users": float(week),
            "weekly_active_users_before": before,
            "active_users_trend": _change(week, before),
            "events_14d": events_14,
            "events_prev_14d": events_prev_14,
            "usage_trend": _change(events_14, events_prev_14),
            "active_days_14d": _window(self.user_days_count, base, t - 13, t),
            "active_days_prev_14d": _window(self.user_days_count, base, t - 27, t - 14),
            "active_users_28d": active,
            "license_utilisation": active / seats * 100.0 if seats else None,
            "key_features_used": tuple(f for f in settings.key_features if f in per_feature),
            "key_features_total": total_features,
            "feature_breadth": len(per_feature) / total_features * 100.0 if total_features else None,
            "feature_depth": key_uses_28 / active / 4.0 if active else 0.0,
            "user_key_feature_counts": tuple(sorted(per_user.get(u, 0) for u in active_users)),
        }

    def last_seen(self, t: int) -> dict[str, int]:
        """The last active day up to `t` of each user a sponsor or champion may be (users not active by then
        left out): all `_contact_signals` reads of the last-seen days."""
        seen: dict[str, int] = {}
        for user, days in self.user_days.items():
            k = bisect_right(days, t)
            if k:
                seen[user] = days[k - 1]
        return seen

    def milestones(self, t: int) -> set[str]:
        return {event for event, day in self.first_milestone.items() if day <= t}


class _TicketSeries:
    """`_ticket_signals` day after day."""

    def __init__(self, inputs: AccountInputs, t0: int, t1: int) -> None:
        self.base = base = t0 - 59
        self.t0 = t0
        created: dict[int, int] = {}
        span = t1 - t0 + 2
        open_ = [0] * span
        urgent = [0] * span
        escalated = [0] * span
        self.urgent_tickets: list[tuple[int, int]] = []
        for ticket in inputs.tickets or ():
            born = _day(ticket.created_at).toordinal()
            created[born] = created.get(born, 0) + 1
            if ticket.solved_at is not None:
                until = _day(ticket.solved_at).toordinal()  # solved from that day on
            elif ticket.status in CLOSED_TICKET_STATUSES:
                continue  # closed without a solve date: never counted open
            else:
                until = t1 + 1
            start, stop = max(born, t0), min(until, t1 + 1)
            if stop <= start:
                continue
            open_[start - t0] += 1
            open_[stop - t0] -= 1
            escalated[start - t0] += ticket.escalated
            escalated[stop - t0] -= ticket.escalated
            if ticket.priority == "urgent":
                urgent[start - t0] += 1
                urgent[stop - t0] -= 1
                self.urgent_tickets.append((born, until))
        self.created = _prefix(created, base, t1)
        self.open = self._running(open_)
        self.urgent = self._running(urgent)
        self.escalated = self._running(escalated)

    @staticmethod
    def _running(deltas: list[int]) -> list[int]:
        out, running = [], 0
        for delta in deltas:
            running += delta
            out.append(running)
        return out

    def at(self, t: int) -> dict[str, object]:
        i, created, base = t - self.t0, self.created, self.base
        created_7 = _window(created, base, t - 6, t)
        created_usual = _window(created, base, t - USUAL_TICKETS_FROM - 27, t - USUAL_TICKETS_FROM)
        created_30 = _window(created, base, t - 29, t)
        created_prev_30 = _window(created, base, t - 59, t - 30)
        oldest_urgent = max((t - born for born, until in self.urgent_tickets if born <= t < until), default=-1)
        return {
            "open_tickets": float(self.open[i]),
            "urgent_open_tickets": float(self.urgent[i]),
            "escalated_open_tickets": float(self.escalated[i]),
            "oldest_urgent_open_days": oldest_urgent if oldest_urgent >= 0 else None,
            "tickets_created_7d": created_7,
            "tickets_weekly_before": created_usual / 4.0,
            "tickets_created_30d": created_30,
            "tickets_created_prev_30d": created_prev_30,
            "ticket_trend": (created_30 - created_prev_30) / max(created_prev_30, 1) * 100.0,
        }


class _SurveySeries:
    """`_survey_signals` day after day."""

    def __init__(self, inputs: AccountInputs, settings: SignalSettings, t0: int, t1: int) -> None:
        self.csat_days, self.nps_days = settings.csat_days, settings.nps_days
        self.csat_base = t0 - max(self.csat_days, 1) + 1
        self.nps_base = t0 - max(self.nps_days, 1) + 1
        answered: dict[int, int] = {}
        good: dict[int, int] = {}
        for answer in inputs.csat:
            day = _day(answer.day).toordinal()
            answered[day] = answered.get(day, 0) + 1
            good[day] = good.get(day, 0) + answer.good
        self.answered = _prefix(answered, self.csat_base, t1)
        self.good = _prefix(good, self.csat_base, t1)
        responses: dict[int, int] = {}
        promoters: dict[int, int] = {}
        detractors: dict[int, int] = {}
        lowest: dict[int, int] = {}
        for nps in inputs.nps:
            day = _day(nps.day).toordinal()
            responses[day] = responses.get(day, 0) + 1
            if nps.score >= 9:
                promoters[day] = promoters.get(day, 0) + 1
            elif nps.score <= 6:
                detractors[day] = detractors.get(day, 0) + 1
                lowest[day] = min(lowest.get(day, nps.score), nps.score)
        self.responses = _prefix(responses, self.nps_base, t1)
        self.promoters = _prefix(promoters, self.nps_base, t1)
        self.detractors = _prefix(detractors, self.nps_base, t1)
        self.detractor_days = sorted(lowest)
        self.lowest = lowest

    def at(self, t: int) -> dict[str, object]:
        values: dict[str, object] = {}
        lo = t - self.csat_days + 1
        answered = _window(self.answered, self.csat_base, lo, t)
        values["csat_responses"] = answered
        if answered:
            values["csat"] = _window(self.good, self.csat_base, lo, t) / answered * 100.0
        lo = t - self.nps_days + 1
        responses = _window(self.responses, self.nps_base, lo, t)
        values["nps_responses"] = responses
        if responses:
            promoters = _window(self.promoters, self.nps_base, lo, t)
            detractors = _window(self.detractors, self.nps_base, lo, t)
            values["nps"] = (promoters - detractors) / responses * 100.0
        k = bisect_right(self.detractor_days, t)
        if k and self.detractor_days[k - 1] >= lo:
            day = self.detractor_days[k - 1]
            values["last_detractor_day"] = dt.date.fromordinal(day)
            values["last_detractor_score"] = self.lowest[day]
        return values
