"""Signals of one account for every day of a range, in one pass: `compute_signals` for consecutive days.

`signal_series(inputs, first, last, model)` returns exactly
``[compute_signals(inputs, day, model) for day in first..last]`` — the same `Signals`, field for field —
without recounting each day's windows from scratch. The facts are sorted once into day-indexed counts
and running sums over the range (and the days its windows reach back to); a window's count is then the
difference of two running sums, and the distinct users of a window are kept as counts of their active
days in it, updated as a day enters the window and another leaves it. Sums are of whole numbers, so the
floats built from them are the ones `compute_signals` builds.

One case keeps the day-by-day computation: usage keys that differ only in letter case (the contacts'
last activity is matched case-insensitively, and which of two such keys wins depends on the order of the
facts), where the account's days are computed by `compute_signals` one by one.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Iterable
from itertools import accumulate
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

SPONSOR_ROLES = ("executive_sponsor", "champion")
"""The contact roles whose last activity the signals read (`_contact_signals`)."""


def signal_series(
    inputs: AccountInputs, first: dt.date, last: dt.date, model: SignalSettings | HealthModel | None = None
) -> list[Signals]:
    """`compute_signals(inputs, day, model)` for every day from `first` to `last` (both included), oldest first."""
    settings = _settings(model)
    t0, t1 = first.toordinal(), last.toordinal()
    if t1 < t0:
        return []
    usage = _UsageSeries(inputs, settings, t0, t1) if inputs.usage is not None else None
    if usage is not None and usage.ambiguous:
        return [compute_signals(inputs, dt.date.fromordinal(t), settings) for t in range(t0, t1 + 1)]
    tickets = _TicketSeries(inputs, t0, t1) if inputs.tickets is not None else None
    surveys = _SurveySeries(inputs, settings, t0, t1)
    onboarding = _OnboardingSeries(inputs, settings, usage.first_milestone if usage is not None else {})
    has_contacts = any(c.role in SPONSOR_ROLES for c in inputs.contacts)
    renewal = _day(inputs.renewal_date) if inputs.renewal_date is not None else None
    renewal_ordinal = renewal.toordinal() if renewal is not None else 0
    arr = float(inputs.arr) if inputs.arr is not None else None
    fixed = {"account_id": inputs.account_id, "name": inputs.name, "segment": inputs.segment, "tier": inputs.tier,
             "lifecycle_stage": inputs.lifecycle_stage, "parent_id": inputs.parent_id,
             "seats_purchased": inputs.seats_purchased}
    out: list[Signals] = []
    append = out.append
    for t in range(t0, t1 + 1):
        values = usage.at(t) if usage is not None else {}
        if tickets is not None:
            tickets.into(values, t)
        surveys.into(values, t)
        if has_contacts:
            values.update(_contact_signals(inputs, t, usage.last_seen(t) if usage is not None else {}))
        onboarding.into(values, t)
        if renewal is not None:
            values["renewal_date"] = renewal
            values["days_to_renewal"] = float(renewal_ordinal - t)
        if arr is not None:
            values["arr"] = arr
        append(Signals(day=dt.date.fromordinal(t), **fixed, **values))  # type: ignore[arg-type]
    return out


def _sums(counts: list[int]) -> list[int]:
    """Running sums: entry i is the sum of the first i counts."""
    return list(accumulate(counts, initial=0))


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
    """`_usage_signals` day after day (plus the last-seen days and milestones the other signals read).

    Day-indexed lists cover the days `base` (27 days before the first day: the oldest any window reaches)
    to the last day, so every window of every day is a difference of running sums."""

    def __init__(self, inputs: AccountInputs, settings: SignalSettings, t0: int, t1: int) -> None:
        self.settings = settings
        self.seats = inputs.seats_purchased
        self.key_feature_names = settings.key_features
        self.total_features = len(settings.key_features)
        key_features = frozenset(settings.key_features)
        milestone_names = frozenset(settings.milestones)
        login_event = settings.login_event
        self.base = base = t0 - 27
        span = t1 - base + 1
        total = [0] * span
        logins = [0] * span
        key_uses = [0] * span
        users_on: list[set[str] | None] = [None] * span
        features_on: list[set[tuple[str, str]] | None] = [None] * span
        login_days: set[int] = set()
        first_milestone: dict[str, int] = {}
        # Only the people a sponsor or champion may be need their active days (their last-seen day).
        wanted = {c.user_key.casefold() for c in inputs.contacts if c.role in SPONSOR_ROLES}
        watched: dict[str, bool] = {}
        user_days: dict[str, set[int]] = {}
        ordinals: dict[dt.date, int] = {}
        for row in inputs.usage or ():
            count = row.count
            if count <= 0:
                continue
            day = ordinals.get(row.day)
            if day is None:
                day = ordinals[row.day] = _day(row.day).toordinal()
            user, event = row.user_key, row.event
            watch = watched.get(user)
            if watch is None:
                watch = watched[user] = user.casefold() in wanted
            if watch:
                user_days.setdefault(user, set()).add(day)
            if event == login_event:
                login_days.add(day)
            if event in milestone_names and day < first_milestone.get(event, day + 1):
                first_milestone[event] = day
            i = day - base
            if i < 0 or i >= span:
                continue  # older than every window, or after the range
            total[i] += count
            on = users_on[i]
            if on is None:
                on = users_on[i] = set()
            on.add(user)
            if event == login_event:
                logins[i] += count
            if event in key_features:
                key_uses[i] += count
                pairs = features_on[i]
                if pairs is None:
                    pairs = features_on[i] = set()
                pairs.add((user, event))
        self.ambiguous = len({user.casefold() for user in watched}) != len(watched)
        self.total = _sums(total)
        self.logins = _sums(logins)
        self.key_uses = _sums(key_uses)
        self.user_days_count = _sums([len(on) if on else 0 for on in users_on])
        self.users_on = users_on
        self.features_on = features_on
        self.login_days = sorted(login_days)
        self.first_milestone = first_milestone
        self.user_days = {user: sorted(days) for user, days in user_days.items()}
        self.users_7 = _Distinct()
        self.users_before = _Distinct()
        self.users_28 = _Distinct()
        self.feature_days: dict[tuple[str, str], int] = {}
        """Per (user, key feature): the days it was used in the 28-day window."""
        self.features_per_user: dict[str, int] = {}
        self.users_per_feature: dict[str, int] = {}
        self.today: int | None = None

    def _enter_features(self, i: int) -> None:
        pairs = self.features_on[i] if i >= 0 else None
        if not pairs:
            return
        days, per_user, per_feature = self.feature_days, self.features_per_user, self.users_per_feature
        for key in pairs:
            held = days.get(key, 0)
            days[key] = held + 1
            if not held:
                user, event = key
                per_user[user] = per_user.get(user, 0) + 1
                per_feature[event] = per_feature.get(event, 0) + 1

    def _leave_features(self, i: int) -> None:
        pairs = self.features_on[i] if i >= 0 else None
        if not pairs:
            return
        days, per_user, per_feature = self.feature_days, self.features_per_user, self.users_per_feature
        for key in pairs:
            left = days[key] - 1
            if left:
                days[key] = left
                continue
            del days[key]
            user, event = key
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

    def _users(self, i: int) -> Iterable[str]:
        return (self.users_on[i] or ()) if i >= 0 else ()

    def _advance(self, t: int) -> int:
        """Slide the windows to day `t`; its index in the day-indexed lists."""
        i = t - self.base
        users = self._users
        if self.today is None:
            # The first day: fill each window with all of its days.
            for k in range(i - 27, i + 1):
                self.users_28.add(users(k))
                self._enter_features(k)
            for k in range(i - 6, i + 1):
                self.users_7.add(users(k))
            for k in range(i - 20, i - 13):
                self.users_before.add(users(k))
            self.today = t
            return i
        assert t == self.today + 1, "days must be asked for one after the other"
        self.today = t
        users_on = self.users_on  # the next day: one day enters each window and one leaves it
        entering, leaving = users_on[i], users_on[i - 28]
        if entering:
            self.users_28.add(entering)
            self.users_7.add(entering)
            if self.features_on[i]:
                self._enter_features(i)
        if leaving:
            self.users_28.remove(leaving)
            if self.features_on[i - 28]:
                self._leave_features(i - 28)
        leaving = users_on[i - 7]
        if leaving:
            self.users_7.remove(leaving)
        entering, leaving = users_on[i - 14], users_on[i - 21]
        if entering:
            self.users_before.add(entering)
        if leaving:
            self.users_before.remove(leaving)
        return i

    def at(self, t: int) -> dict[str, object]:
        i = self._advance(t) + 1  # running sums: entry i + 1 closes day t
        active_users = self.users_28.days
        active = len(active_users)
        total, key_uses = self.total, self.key_uses
        logins_28 = self.logins[i] - self.logins[i - 28]
        key_uses_28 = key_uses[i] - key_uses[i - 28]
        events_14 = total[i] - total[i - 14]
        events_prev_14 = total[i - 14] - total[i - 28]
        week, before = len(self.users_7.days), len(self.users_before.days)
        k = bisect_right(self.login_days, t)
        last_login = self.login_days[k - 1] if k else -1
        per_feature, per_user = self.users_per_feature, self.features_per_user
        total_features, seats = self.total_features, self.seats
        user_days = self.user_days_count
        return {
            "logins_per_user_week": logins_28 / active / 4.0 if active else 0.0,
            "days_since_last_login": float(t - last_login) if last_login >= 0 else None,
            "weekly_active_users": float(week),
            "weekly_active_users_before": before,
            "active_users_trend": _change(week, before),
            "events_14d": events_14,
            "events_prev_14d": events_prev_14,
            "usage_trend": _change(events_14, events_prev_14),
            "active_days_14d": user_days[i] - user_days[i - 14],
            "active_days_prev_14d": user_days[i - 14] - user_days[i - 28],
            "active_users_28d": active,
            "license_utilisation": active / seats * 100.0 if seats else None,
            "key_features_used": tuple(f for f in self.key_feature_names if f in per_feature),
            "key_features_total": total_features,
            "feature_breadth": len(per_feature) / total_features * 100.0 if total_features else None,
            "feature_depth": key_uses_28 / active / 4.0 if active else 0.0,
            "user_key_feature_counts": tuple(sorted([per_user.get(u, 0) for u in active_users])),
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


class _OnboardingSeries:
    """`_onboarding_signals` day after day: the milestones part is worked out again only on the days a
    milestone is first reached."""

    def __init__(self, inputs: AccountInputs, settings: SignalSettings, first_milestone: dict[str, int]) -> None:
        self.inputs, self.settings = inputs, settings
        self.start = _day(inputs.onboarding_start).toordinal() if inputs.onboarding_start is not None else None
        reached = sorted((day, event) for event, day in first_milestone.items())
        self.reached_days = [day for day, _ in reached]
        self.reached_events = [event for _, event in reached]
        self.cache: dict[tuple[int, bool], dict[str, object]] = {}

    def into(self, values: dict[str, object], t: int) -> None:
        started = self.start is not None and self.start <= t
        if started:
            assert self.start is not None
            values["days_since_onboarding_start"] = float(t - self.start)
        key = (bisect_right(self.reached_days, t), started)  # the milestones reached by `t` are the first ones
        found = self.cache.get(key)
        if found is None:
            found = _onboarding_signals(self.inputs, t, self.settings, self.reached_events[: key[0]])
            found.pop("days_since_onboarding_start", None)
            self.cache[key] = found
        values.update(found)


class _TicketSeries:
    """`_ticket_signals` day after day. Day-indexed lists cover the days `base` (59 days before the first
    day: the oldest any window reaches) to the last day."""

    def __init__(self, inputs: AccountInputs, t0: int, t1: int) -> None:
        self.base = base = t0 - 59
        span = t1 - base + 1
        created = [0] * span
        open_ = [0] * (span + 1)
        urgent = [0] * (span + 1)
        escalated = [0] * (span + 1)
        self.urgent_tickets: list[tuple[int, int]] = []
        for ticket in inputs.tickets or ():
            born = _day(ticket.created_at).toordinal()
            if base <= born <= t1:
                created[born - base] += 1
            if ticket.solved_at is not None:
                until = _day(ticket.solved_at).toordinal()  # solved from that day on
            elif ticket.status in CLOSED_TICKET_STATUSES:
                continue  # closed without a solve date: never counted open
            else:
                until = t1 + 1
            start, stop = max(born, t0), min(until, t1 + 1)
            if stop <= start:
                continue
            open_[start - base] += 1
            open_[stop - base] -= 1
            escalated[start - base] += ticket.escalated
            escalated[stop - base] -= ticket.escalated
            if ticket.priority == "urgent":
                urgent[start - base] += 1
                urgent[stop - base] -= 1
                self.urgent_tickets.append((born, until))
        self.created = _sums(created)
        self.open = list(accumulate(open_))
        self.urgent = list(accumulate(urgent))
        self.escalated = list(accumulate(escalated))

    def into(self, values: dict[str, object], t: int) -> None:
        i = t - self.base
        created = self.created
        end = i + 1  # running sums: entry i + 1 closes day t
        created_7 = created[end] - created[end - 7]
        created_usual = created[end - USUAL_TICKETS_FROM] - created[end - USUAL_TICKETS_FROM - 28]
        created_30 = created[end] - created[end - 30]
        created_prev_30 = created[end - 30] - created[end - 60]
        oldest_urgent = (max((t - born for born, until in self.urgent_tickets if born <= t < until), default=-1)
                         if self.urgent_tickets else -1)
        values["open_tickets"] = float(self.open[i])
        values["urgent_open_tickets"] = float(self.urgent[i])
        values["escalated_open_tickets"] = float(self.escalated[i])
        values["oldest_urgent_open_days"] = oldest_urgent if oldest_urgent >= 0 else None
        values["tickets_created_7d"] = created_7
        values["tickets_weekly_before"] = created_usual / 4.0
        values["tickets_created_30d"] = created_30
        values["tickets_created_prev_30d"] = created_prev_30
        values["ticket_trend"] = (created_30 - created_prev_30) / max(created_prev_30, 1) * 100.0


class _SurveySeries:
    """`_survey_signals` day after day. Day-indexed lists cover the days from the oldest the CSAT and NPS
    windows reach back to, to the last day."""

    def __init__(self, inputs: AccountInputs, settings: SignalSettings, t0: int, t1: int) -> None:
        self.csat_days, self.nps_days = max(settings.csat_days, 0), max(settings.nps_days, 0)
        self.base = base = t0 - max(self.csat_days, self.nps_days, 1) + 1
        span = t1 - base + 1
        answered = [0] * span
        good = [0] * span
        for answer in inputs.csat:
            i = _day(answer.day).toordinal() - base
            if 0 <= i < span:
                answered[i] += 1
                good[i] += answer.good
        responses = [0] * span
        promoters = [0] * span
        detractors = [0] * span
        lowest: dict[int, int] = {}
        for nps in inputs.nps:
            day = _day(nps.day).toordinal()
            if nps.score <= 6:
                lowest[day] = min(lowest.get(day, nps.score), nps.score)
            i = day - base
            if not 0 <= i < span:
                continue
            responses[i] += 1
            if nps.score >= 9:
                promoters[i] += 1
            elif nps.score <= 6:
                detractors[i] += 1
        self.answered, self.good = _sums(answered), _sums(good)
        self.responses, self.promoters, self.detractors = _sums(responses), _sums(promoters), _sums(detractors)
        self.detractor_days = sorted(lowest)
        self.lowest = lowest
        self.any_csat = any(answered)
        self.any_nps = any(responses)

    def into(self, values: dict[str, object], t: int) -> None:
        end = t - self.base + 1  # running sums: entry end closes day t
        answered = self.answered[end] - self.answered[end - self.csat_days] if self.any_csat else 0
        values["csat_responses"] = answered
        if answered:
            values["csat"] = (self.good[end] - self.good[end - self.csat_days]) / answered * 100.0
        n = self.nps_days
        responses = self.responses[end] - self.responses[end - n] if self.any_nps else 0
        values["nps_responses"] = responses
        if responses:
            promoters = self.promoters[end] - self.promoters[end - n]
            detractors = self.detractors[end] - self.detractors[end - n]
            values["nps"] = (promoters - detractors) / responses * 100.0
        k = bisect_right(self.detractor_days, t)
        if k and t - self.detractor_days[k - 1] < n:
            day = self.detractor_days[k - 1]
            values["last_detractor_day"] = dt.date.fromordinal(day)
            values["last_detractor_score"] = self.lowest[day]
