"""`analytics.team.team_performance` over NumPy columns of the accounts: the same figures, without an object per
account or week-end row (100,000 accounts: the Team report computed in a request). Pure: no I/O, no clock."""

from __future__ import annotations

import dataclasses
import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping

import numpy as np

from analytics.team import AlertFacts, Figures, Person, TaskTally, TeamReport, roll_up, tally_tasks

NO_CSM = -1
"""`csm` of an account without a CSM."""
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_DAY_US = 86_400_000_000


@dataclasses.dataclass(frozen=True)
class AlertColumns:
    """Alerts as columns: `AlertFacts`' id, account and ``raised_at`` as whole microseconds since `EPOCH` (UTC)."""

    alert_ids: np.ndarray
    account_ids: np.ndarray
    raised_us: np.ndarray


def microseconds(moment: dt.datetime) -> int:
    """An aware datetime as whole microseconds since `EPOCH` (exact)."""
    return (moment - EPOCH) // dt.timedelta(microseconds=1)


def team_performance_arrays(people: Iterable[Person], account_ids: np.ndarray, csm: np.ndarray, arr: np.ndarray,
                            first: np.ndarray, last: np.ndarray, tally: TaskTally,
                            alerts: Iterable[AlertFacts] | AlertColumns, as_of: dt.date, days: int = 30) -> TeamReport:
    """Equal to `team_performance` of the accounts ``(account_ids[i], csm[i] or None for NO_CSM, arr[i])``
    (distinct ids; ARR 0 for none), per account its week-end score in the window's first and last ISO weeks
    (``first[i]``, ``last[i]``; NaN: no scored week-end row), in the same order (sums are taken in it), and the
    tasks' and touches' `tally` (`tally_tasks`). `alerts`: `AlertFacts`, or the same as `AlertColumns`."""
    if days < 1:
        raise ValueError(f"a window is at least 1 day, not {days}")
    n = len(account_ids)
    if not (len(csm) == len(arr) == len(first) == len(last) == n):
        raise ValueError("one value per account in every column")
    start = as_of - dt.timedelta(days=days - 1)
    staff = {p.user_id: p for p in people}
    on_time, late, overdue, acted_at = tally.on_time, tally.late, tally.overdue, tally.acted_at

    raised: dict[int, int] = defaultdict(int)
    waits: dict[int, list[float]] = defaultdict(list)
    if isinstance(alerts, AlertColumns):
        _alert_columns(alerts, account_ids, csm, acted_at, start, as_of, raised, waits)
    else:
        owner = dict(zip(account_ids.tolist(), csm.tolist(), strict=True))
        for al in alerts:
            who = owner.get(al.account_id, NO_CSM)
            if who == NO_CSM or not start <= al.raised_at.date() <= as_of:
                continue
            raised[who] += 1
            acted = acted_at.get(al.alert_id)
            if acted is not None:
                waits[who].append(max((acted - al.raised_at).total_seconds(), 0.0) / 3600)

    touched = np.isin(account_ids, np.fromiter(tally.touched, dtype=np.int64, count=len(tally.touched)))
    # the rows of each CSM, in the accounts' order (the order `team_performance` sums them in)
    order = np.argsort(csm, kind="stable")
    ordered = csm[order]
    bounds = np.flatnonzero(np.diff(ordered)) + 1
    owned = {int(csm[rows[0]]): rows for rows in np.split(order, bounds) if len(rows)}
    owned.pop(NO_CSM, None)
    empty = np.zeros(0, dtype=np.int64)

    def figures(members: list[int]) -> Figures:
        rows = np.concatenate([owned.get(m, empty) for m in members])
        h_first, h_last = _mean(first[rows]), _mean(last[rows])
        ok, bad = sum(on_time.get(m, 0) for m in members), sum(late.get(m, 0) for m in members)
        w = [x for m in members for x in waits.get(m, ())]
        return Figures(
            accounts=len(rows), arr=sum(arr[rows].tolist()), health_first=h_first, health_last=h_last,
            health_change=None if h_first is None or h_last is None else h_last - h_first,
            on_time=ok, late=bad, on_time_rate=ok / (ok + bad) if ok + bad else None,
            overdue=sum(overdue.get(m, 0) for m in members),
            untouched=tuple(np.sort(account_ids[rows][~touched[rows]]).tolist()),
            alerts=sum(raised.get(m, 0) for m in members), acted=len(w),
            hours_to_act=statistics.median(w) if w else None)

    return roll_up(days, staff.values(), set(owned) | set(on_time) | set(late) | set(overdue), figures)


def _alert_columns(alerts: AlertColumns, account_ids: np.ndarray, csm: np.ndarray, acted_at: Mapping[int, dt.datetime],
                   start: dt.date, as_of: dt.date, raised: dict[int, int], waits: dict[int, list[float]]) -> None:
    """The loop over `AlertFacts` with NumPy: each alert's CSM (its account's), raised on a day of the window, counted
    for them; the hours to act of those acted on (whole microseconds over 10**6: `timedelta.total_seconds`' value),
    in the alerts' order."""
    n = len(alerts.alert_ids)
    if not (len(alerts.account_ids) == len(alerts.raised_us) == n):
        raise ValueError("one value per alert in every column")
    if not n:
        return
    order = np.argsort(account_ids, kind="stable")
    known_ids = account_ids[order]
    at = np.minimum(np.searchsorted(known_ids, alerts.account_ids), max(len(known_ids) - 1, 0))
    who = (np.where(known_ids[at] == alerts.account_ids, csm[order][at], NO_CSM) if len(known_ids)
           else np.full(n, NO_CSM, dtype=np.int64))
    day = alerts.raised_us // _DAY_US
    epoch_day = EPOCH.date()
    keep = np.flatnonzero((who != NO_CSM) & (day >= (start - epoch_day).days) & (day <= (as_of - epoch_day).days))
    people, counts = np.unique(who[keep], return_counts=True)
    for person, count in zip(people.tolist(), counts.tolist(), strict=True):
        raised[person] += count
    if not acted_at:
        return
    acted_us = {a: microseconds(t) for a, t in acted_at.items()}
    # only the alerts acted on are looked at one by one (in the alerts' order)
    hit = keep[np.isin(alerts.alert_ids[keep], np.fromiter(acted_us, dtype=np.int64, count=len(acted_us)))]
    for alert, person, at_us in zip(alerts.alert_ids[hit].tolist(), who[hit].tolist(), alerts.raised_us[hit].tolist(),
                                    strict=True):
        waits[person].append(max((acted_us[alert] - at_us) / 10**6, 0.0) / 3600)


def _mean(scores: np.ndarray) -> float | None:
    """`team_performance`'s mean of the scores present (not NaN), summed in order."""
    xs = scores[~np.isnan(scores)].tolist()
    return sum(xs) / len(xs) if xs else None


__all__ = ["EPOCH", "NO_CSM", "AlertColumns", "TaskTally", "microseconds", "tally_tasks", "team_performance_arrays"]
