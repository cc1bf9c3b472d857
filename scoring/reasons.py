"""Reasons in plain words: why a score is what it is, and what changed since last time.

Ordering is deterministic: largest impact (points of score) first, then measure name.
"""

from __future__ import annotations

from collections.abc import Callable

from scoring.results import HealthScore, MeasurePart, Reason
from scoring.signals import SIGNALS, Signals

MINUS = "\u2212"


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def signed_percent(value: float) -> str:
    return f"{MINUS if value < 0 else '+'}{abs(value):.0f} %"


def _moved(before: float, now: float) -> str:
    return "fell" if now < before else "rose"


def _active_users_trend(s: Signals, v: float) -> str:
    before, now = s.weekly_active_users_before or 0, int(s.weekly_active_users or 0)
    if before == now:
        return f"Weekly active users steady at {now:,} over 14 days"
    moved = _moved(before, now)
    return f"Weekly active users {moved} from {before:,} to {now:,} ({signed_percent(v)}) over 14 days"


def _usage_trend(s: Signals, v: float) -> str:
    before, now = s.events_prev_14d or 0, s.events_14d or 0
    if before == now:
        return f"Usage steady at {plural(now, 'event')} over 14 days"
    moved = _moved(before, now)
    return f"Usage {moved} from {before:,} to {plural(now, 'event')} ({signed_percent(v)}) over 14 days"


def _ticket_trend(s: Signals, v: float) -> str:
    before, now = s.tickets_created_prev_30d or 0, s.tickets_created_30d or 0
    if before == now:
        return f"Tickets steady at {plural(now, 'new ticket')} over 30 days"
    change = f" ({signed_percent(v)})" if before else ""
    return f"New tickets {_moved(before, now)} from {before:,} to {now:,}{change} over 30 days"


def _days_since_last_login(s: Signals, v: float) -> str:
    days = int(v)
    if days == 0:
        return "Last login today"
    return "Last login yesterday" if days == 1 else f"No one has logged in for {days:,} days"


def _license_utilisation(s: Signals, v: float) -> str:
    seats = plural(s.seats_purchased or 0, "seat")
    return f"{s.active_users_28d or 0:,} of {seats} used in the last 28 days ({v:.0f} %)"


def _urgent(s: Signals, v: float) -> str:
    count = int(v)
    if count == 0:
        return "No urgent tickets open"
    age = s.oldest_urgent_open_days or 0
    since = "since today" if age == 0 else f"for {plural(age, 'day')}"
    return f"{plural(count, 'urgent ticket')} open {since}"


def _person(role: str, name: str | None, v: float) -> str:
    who = f"{role} {name}" if name else role
    days = int(v)
    return f"{who} active today" if days == 0 else f"{who} inactive for {plural(days, 'day')}"


def _onboarding(s: Signals, v: float) -> str:
    reached, total = len(s.milestones_reached), len(s.milestones_reached) + len(s.milestones_missing)
    text = f"{reached} of {total} onboarding milestones reached"
    if s.days_since_onboarding_start is not None:
        text += f" after {plural(int(s.days_since_onboarding_start), 'day')}"
    if s.milestones_missing:
        text += f"; next: {s.milestones_missing[0]}"
    return text


def _renewal(s: Signals, v: float) -> str:
    days = int(v)
    if days < 0:
        return f"Renewal date passed {plural(-days, 'day')} ago"
    return "Renewal today" if days == 0 else f"Renewal in {plural(days, 'day')}"


TEMPLATES: dict[str, Callable[[Signals, float], str]] = {
    "active_users_trend": _active_users_trend,
    "usage_trend": _usage_trend,
    "ticket_trend": _ticket_trend,
    "logins_per_user_week": lambda s, v: f"Active users log in {v:.1f} times a week on average",
    "days_since_last_login": _days_since_last_login,
    "weekly_active_users": lambda s, v: plural(int(v), "weekly active user"),
    "license_utilisation": _license_utilisation,
    "feature_breadth": lambda s, v: f"Using {len(s.key_features_used)} of {s.key_features_total} key features",
    "feature_depth": lambda s, v: f"Active users use key features {v:.1f} times a week on average",
    "open_tickets": lambda s, v: f"{plural(int(v), 'ticket')} open",
    "urgent_open_tickets": _urgent,
    "escalated_open_tickets": lambda s, v: f"{plural(int(v), 'escalated ticket')} open",
    "csat": lambda s, v: f"CSAT {v:.0f} % ({plural(s.csat_responses, 'response')})",
    "nps": lambda s, v: f"NPS {round(v):+d} ({plural(s.nps_responses, 'response')})".replace("-", MINUS),
    "sponsor_days_inactive": lambda s, v: _person("Executive sponsor", s.sponsor_name, v),
    "champion_days_inactive": lambda s, v: _person("Champion", s.champion_name, v),
    "days_since_onboarding_start": lambda s, v: f"Onboarding started {plural(int(v), 'day')} ago",
    "onboarding_progress": _onboarding,
    "days_to_renewal": _renewal,
    "arr": lambda s, v: f"ARR {v:,.0f}",
}


def format_value(signal: str, value: float) -> str:
    unit = SIGNALS[signal].unit if signal in SIGNALS else "count"
    if unit in ("percent",):
        return f"{value:.0f} %"
    if unit == "change":
        return signed_percent(value)
    if unit == "days":
        return plural(int(value), "day")
    if unit == "per_week":
        return f"{value:.1f} a week"
    if unit == "nps":
        return f"{round(value):+d}".replace("-", MINUS)
    return f"{value:,.0f}"


def describe(part: MeasurePart, signals: Signals) -> str:
    """The plain-words state of one measure, quoting the raw numbers behind it."""
    assert part.value is not None
    template = TEMPLATES.get(part.signal)
    if template is None:
        return f"{part.label}: {format_value(part.signal, part.value)}"
    return template(signals, part.value)


def weak_reasons(score: HealthScore, signals: Signals, limit: int = 3) -> tuple[Reason, ...]:
    """The measures costing the most points (poor or average), largest cost first."""
    total = sum(p.weight for p in score.parts if p.points is not None)
    if not total:
        return ()
    costs = [
        (p.weight * (100.0 - p.points) / total, p)
        for p in score.parts
        if p.points is not None and p.status != "good" and p.points < 100.0
    ]
    costs.sort(key=lambda item: (-item[0], item[1].measure))
    return tuple(Reason(describe(p, signals), p.measure, cost, "weak") for cost, p in costs[:limit])


def change_reasons(score: HealthScore, previous: HealthScore, signals: Signals, limit: int = 3) -> tuple[Reason, ...]:
    """What moved the score since `previous`, in the direction it moved, largest move first."""
    if score.score is None or previous.score is None:
        return ()
    falling = score.score <= previous.score
    reasons: list[Reason] = []
    if score.profile != previous.profile and previous.profile:
        reasons.append(
            Reason(
                f"Now scored as {score.profile} (was {previous.profile})",
                None,
                abs(score.score - previous.score),
                "change",
            )
        )
    before = {p.measure: p for p in previous.parts if p.points is not None}
    total_now = sum(p.weight for p in score.parts if p.points is not None)
    total_before = sum(p.weight for p in before.values())
    moves: list[tuple[float, MeasurePart, MeasurePart]] = []
    for part in score.parts:
        old = before.get(part.measure)
        if part.points is None or old is None:
            continue
        delta = old.weight * old.points / total_before - part.weight * part.points / total_now  # type: ignore[operator]
        impact = delta if falling else -delta
        if impact > 0.005:
            moves.append((impact, part, old))
    moves.sort(key=lambda item: (-item[0], item[1].measure))
    for impact, part, old in moves[: max(limit - len(reasons), 0)]:
        text = describe(part, signals)
        if SIGNALS.get(part.signal) is None or SIGNALS[part.signal].unit != "change":
            assert old.value is not None
            text += f" (was {format_value(part.signal, old.value)})"
        reasons.append(Reason(text, part.measure, impact, "change"))
    return tuple(reasons[:limit])


def needs_change_reasons(score: HealthScore, previous: HealthScore | None, drop_points: float) -> bool:
    """A band change, or a drop of at least `drop_points`, must be explained."""
    if previous is None or previous.score is None or score.score is None:
        return False
    return score.band != previous.band or previous.score - score.score >= drop_points


def explain(
    score: HealthScore,
    signals: Signals,
    previous: HealthScore | None = None,
    limit: int = 3,
    drop_points: float = 10.0,
) -> tuple[Reason, ...]:
    """Change reasons when the band changed or the score dropped enough, else the weakest measures."""
    if needs_change_reasons(score, previous, drop_points):
        assert previous is not None
        found = change_reasons(score, previous, signals, limit)
        if found:
            return found
    return weak_reasons(score, signals, limit)
