"""The early-warning rules, evaluated after each scoring run.

Each rule looks at today's score, the score history and the signals, and raises an
`AlertCandidate` while its condition holds. The `dedupe_key` stays the same while the
condition persists, so the caller keeps one open alert per key: `evaluate_alerts` sorts
today's candidates into new ones, ones already open, and open keys to resolve.

Keys are `rule:account_id` plus, where a new occurrence deserves a new alert, what makes
it new (the band dropped to, the detractor's answer day, the renewal date).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from scoring.batch import BANDS, SignalTable
from scoring.model import BAND_ORDER, AlertRule, HealthModel
from scoring.reasons import TEMPLATES, plural
from scoring.results import HealthScore
from scoring.signals import Signals
from scoring.trend import DayScore


@dataclass(frozen=True, slots=True)
class AlertCandidate:
    rule: str
    dedupe_key: str
    severity: str
    title: str
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AlertOutcome:
    new: tuple[AlertCandidate, ...]
    """Conditions that hold and have no open alert: raise these."""
    still_open: tuple[AlertCandidate, ...]
    """Conditions that hold and are already open: leave them (maybe refresh their reasons)."""
    resolved: tuple[str, ...]
    """Open keys of this account whose condition no longer holds: close them."""


@dataclass(frozen=True, slots=True)
class _Context:
    score: HealthScore
    history: Sequence[DayScore]
    """Earlier days only, oldest first."""
    signals: Signals


def _text(signal: str, s: Signals) -> str:
    value = getattr(s, signal)
    return TEMPLATES[signal](s, value) if value is not None else ""


def _band_dropped(rule: AlertRule, c: _Context) -> AlertCandidate | None:
    band = c.score.band
    if band is None:
        return None
    today = c.score.day.toordinal()
    earlier = [h.band for h in c.history if h.band in BAND_ORDER and today - h.day.toordinal() <= rule["lookback_days"]]
    if not earlier:
        return None
    best = max(earlier, key=lambda b: BAND_ORDER[b or "poor"])
    if best is None or BAND_ORDER[best] <= BAND_ORDER[band]:
        return None
    title = f"Health dropped from {best} to {band}"
    return _alert(rule, c, band, title, tuple(r.text for r in c.score.reasons))


def _score_drop(rule: AlertRule, c: _Context) -> AlertCandidate | None:
    if c.score.score is None:
        return None
    today = c.score.day.toordinal()
    window = [h for h in c.history if h.score is not None and 0 < today - h.day.toordinal() <= rule["days"]]
    if not window:
        return None
    peak = max(window, key=lambda h: (h.score, h.day.toordinal()))
    assert peak.score is not None
    drop = peak.score - c.score.score
    if drop < rule["points"]:
        return None
    days = today - peak.day.toordinal()
    title = f"Health score fell {drop:.0f} points in {plural(days, 'day')} ({peak.score:.0f} → {c.score.score:.0f})"
    return _alert(rule, c, None, title, tuple(r.text for r in c.score.reasons))


def drop_chance(recent: int, before: int) -> float:
    """How likely a split at least as lopsided as ``recent`` vs ``before`` is when nothing changed.

    Under "same activity in both fortnights" each active user-day falls in either half with even
    odds, so the chance is the binomial tail P(X <= recent) for X ~ Binomial(recent + before, 1/2):
    exact up to 1,000 user-days, the normal approximation (with continuity correction) beyond.
    """
    n = recent + before
    if n == 0:
        return 1.0
    if n <= 1000:
        return sum(math.comb(n, k) for k in range(recent + 1)) / 2**n
    z = (recent + 0.5 - n / 2) / math.sqrt(n / 4)
    return 0.5 * math.erfc(-z / math.sqrt(2))


def _usage_drop(rule: AlertRule, c: _Context) -> AlertCandidate | None:
    s = c.signals
    trend = s.usage_trend
    if trend is None or -trend < rule["drop_percent"]:
        return None
    # A small team's fortnights differ by chance: 6 events instead of 15 is not a trend. Raise only
    # when the active user-days fell by more than chance explains (see `drop_chance`).
    if s.active_days_14d is not None and s.active_days_prev_14d is not None and \
            drop_chance(s.active_days_14d, s.active_days_prev_14d) * 100.0 > rule["max_chance_percent"]:
        return None
    reasons = [_text("usage_trend", c.signals)]
    if c.signals.active_users_trend is not None:
        reasons.append(_text("active_users_trend", c.signals))
    return _alert(rule, c, None, f"Usage dropped {-trend:.0f} % over two weeks", tuple(reasons))


def _onboarding_overdue(rule: AlertRule, c: _Context) -> AlertCandidate | None:
    s = c.signals
    days = s.days_since_onboarding_start
    # Past `max_days` an account is not onboarding any more, whatever the milestone data says.
    if s.onboarding_complete is not False or days is None or not rule["days"] <= days <= rule["max_days"]:
        return None
    reasons = (_text("onboarding_progress", s), "Missing: " + ", ".join(s.milestones_missing))
    return _alert(rule, c, None, f"Onboarding not completed {plural(int(days), 'day')} after start", reasons)


def _inactive(signal: str) -> Callable[[AlertRule, _Context], AlertCandidate | None]:
    def check(rule: AlertRule, c: _Context) -> AlertCandidate | None:
        days = getattr(c.signals, signal)
        if days is None or days < rule["days"]:
            return None
        text = _text(signal, c.signals)
        return _alert(rule, c, None, text, (text,))

    return check


def _training_needed(rule: AlertRule, c: _Context) -> AlertCandidate | None:
    s = c.signals
    if not s.key_features_total:
        return None
    share = rule["feature_share"]
    needing = sum(1 for n in s.user_key_feature_counts if n / s.key_features_total * 100.0 < share)
    if needing == 0 or needing < rule["min_users"]:
        return None
    title = f"{plural(needing, 'active user')} use fewer than {share:.0f} % of the key features"
    reasons = (f"{needing} of {s.active_users_28d or 0} active users in the last 28 days", _text("feature_breadth", s))
    return _alert(rule, c, None, title, reasons)


def _seat_capacity(rule: AlertRule, c: _Context) -> AlertCandidate | None:
    s = c.signals
    if s.license_utilisation is None or s.license_utilisation < rule["utilisation_percent"]:
        return None
    full = s.seats_purchased is not None and (s.active_users_28d or 0) >= s.seats_purchased
    title = "Seat capacity reached" if full else f"Active users at {s.license_utilisation:.0f} % of seats"
    return _alert(rule, c, None, title + " (upsell)", (_text("license_utilisation", s),))


def _ticket_spike(rule: AlertRule, c: _Context) -> AlertCandidate | None:
    s = c.signals
    new, usual = s.tickets_created_7d, s.tickets_weekly_before
    if new is None or usual is None or new < rule["min_tickets"] or new < rule["factor"] * usual:
        return None
    title = f"Ticket spike: {plural(new, 'new ticket')} in 7 days"
    reasons = [f"Usually {usual:.1f} a week (the 4 weeks before the last 2)"]
    if s.urgent_open_tickets:
        reasons.append(_text("urgent_open_tickets", s))
    return _alert(rule, c, None, title, tuple(reasons))


def _nps_detractor(rule: AlertRule, c: _Context) -> AlertCandidate | None:
    s = c.signals
    if s.last_detractor_day is None or (c.score.day - s.last_detractor_day).days >= rule["days"]:
        return None
    title = f"NPS detractor: scored {s.last_detractor_score} on {s.last_detractor_day.isoformat()}"
    reasons = (_text("nps", s),) if s.nps is not None else ()
    return _alert(rule, c, s.last_detractor_day.isoformat(), title, reasons)


def _renewal_risk(rule: AlertRule, c: _Context) -> AlertCandidate | None:
    s = c.signals
    days = s.days_to_renewal
    if days is None or not 0 <= days <= rule["days"] or c.score.band not in ("average", "poor"):
        return None
    assert s.renewal_date is not None
    title = f"Renewal in {plural(int(days), 'day')} while health is {c.score.band}"
    return _alert(rule, c, s.renewal_date.isoformat(), title, tuple(r.text for r in c.score.reasons))


def _alert(rule: AlertRule, c: _Context, qualifier: str | None, title: str, reasons: tuple[str, ...]) -> AlertCandidate:
    key = f"{rule.name}:{c.score.account_id}" + (f":{qualifier}" if qualifier else "")
    return AlertCandidate(rule.name, key, rule.severity, title, tuple(r for r in reasons if r))


RULES: dict[str, Callable[[AlertRule, _Context], AlertCandidate | None]] = {
    "band_dropped": _band_dropped,
    "score_drop": _score_drop,
    "usage_drop": _usage_drop,
    "onboarding_overdue": _onboarding_overdue,
    "sponsor_inactive": _inactive("sponsor_days_inactive"),
    "champion_inactive": _inactive("champion_days_inactive"),
    "training_needed": _training_needed,
    "seat_capacity": _seat_capacity,
    "ticket_spike": _ticket_spike,
    "nps_detractor": _nps_detractor,
    "renewal_risk": _renewal_risk,
}


def raised_alerts(
    current: HealthScore, history: Iterable[DayScore], signals: Signals, model: HealthModel
) -> tuple[AlertCandidate, ...]:
    """Every enabled rule whose condition holds today, in the model's rule order."""
    if not isinstance(history, Sequence) or history:
        earlier: Sequence[DayScore] = sorted((h for h in history if h.day < current.day), key=_DAY)
    else:
        earlier = ()  # no history: nothing to sort (a workspace's first day)
    context = _Context(current, earlier, signals)
    found = []
    for rule, check in _enabled(model):
        if (candidate := check(rule, context)) is not None:
            found.append(candidate)
    return tuple(found)


_DAY = attrgetter("day")
_ENABLED: dict[int, tuple[HealthModel, tuple[tuple[AlertRule, Callable[[AlertRule, _Context], AlertCandidate | None]],
                                             ...]]] = {}


def _enabled(model: HealthModel) -> tuple[tuple[AlertRule, Callable[[AlertRule, _Context], AlertCandidate | None]],
                                          ...]:
    """The model's enabled rules with their checks, in `RULES` order (made once per model: a score run asks for
    them once per account)."""
    hit = _ENABLED.get(id(model))
    if hit is not None and hit[0] is model:
        return hit[1]
    enabled = tuple((model.alerts[name], check) for name, check in RULES.items() if model.alerts[name].enabled)
    if len(_ENABLED) > 16:
        _ENABLED.clear()
    _ENABLED[id(model)] = (model, enabled)
    return enabled


HISTORY_RULES = ("band_dropped", "score_drop")
"""The rules that read the score history: `may_raise` leaves them to the caller (`history_may_raise`)."""


def may_raise(model: HealthModel, table: SignalTable, band_codes: npt.NDArray[np.int8], day: dt.date
              ) -> npt.NDArray[np.bool_]:
    """Which accounts of `table` (today's bands: `band_codes`, as `scoring.batch.BANDS` codes them, −1: none) an
    enabled rule that reads no history may raise an alert for: every account left out raises none of them. Each
    rule's condition is the negation of its check's first returns, on the columns, with the same comparisons (a
    NaN compares as in Python), so no account is left out that the rule would raise for (a test compares them);
    the usage rule's chance check is not applied (an account it would stop is kept). A rule with no condition here
    keeps every account."""
    n = len(table)
    out = np.zeros(n, dtype=bool)
    for rule, _check in _enabled(model):
        if rule.name in HISTORY_RULES:
            continue
        found = _MAY.get(rule.name)
        out |= found(rule, table, band_codes, day) if found is not None else np.ones(n, dtype=bool)
    return out


def _column(table: SignalTable, name: str) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    return table.values[name], table.present[name]


def _may_usage_drop(rule: AlertRule, table: SignalTable, bands: Any, day: dt.date) -> npt.NDArray[np.bool_]:
    trend, given = _column(table, "usage_trend")
    with np.errstate(invalid="ignore"):
        return given & ~(-trend < rule["drop_percent"])


def _may_onboarding_overdue(rule: AlertRule, table: SignalTable, bands: Any, day: dt.date) -> npt.NDArray[np.bool_]:
    days, given = _column(table, "days_since_onboarding_start")
    with np.errstate(invalid="ignore"):
        return (table.onboarding_complete == 0) & given & (rule["days"] <= days) & (days <= rule["max_days"])


def _may_inactive(signal: str) -> Callable[[AlertRule, SignalTable, Any, dt.date], npt.NDArray[np.bool_]]:
    def may(rule: AlertRule, table: SignalTable, bands: Any, day: dt.date) -> npt.NDArray[np.bool_]:
        days, given = _column(table, signal)
        with np.errstate(invalid="ignore"):
            return given & ~(days < rule["days"])

    return may


def _may_training_needed(rule: AlertRule, table: SignalTable, bands: Any, day: dt.date) -> npt.NDArray[np.bool_]:
    needing = table.users_below(rule["feature_share"])
    return (needing != 0) & ~(needing < rule["min_users"])


def _may_seat_capacity(rule: AlertRule, table: SignalTable, bands: Any, day: dt.date) -> npt.NDArray[np.bool_]:
    used, given = _column(table, "license_utilisation")
    with np.errstate(invalid="ignore"):
        return given & ~(used < rule["utilisation_percent"])


def _may_ticket_spike(rule: AlertRule, table: SignalTable, bands: Any, day: dt.date) -> npt.NDArray[np.bool_]:
    new, has_new = table.field_column("tickets_created_7d")
    usual, has_usual = table.field_column("tickets_weekly_before")
    with np.errstate(invalid="ignore"):
        return has_new & has_usual & ~(new < rule["min_tickets"]) & ~(new < rule["factor"] * usual)


def _may_nps_detractor(rule: AlertRule, table: SignalTable, bands: Any, day: dt.date) -> npt.NDArray[np.bool_]:
    last, given = table.field_column("last_detractor_day")
    with np.errstate(invalid="ignore"):
        return given & ~(day.toordinal() - last >= rule["days"])


def _may_renewal_risk(rule: AlertRule, table: SignalTable, bands: Any, day: dt.date) -> npt.NDArray[np.bool_]:
    days, given = _column(table, "days_to_renewal")
    weak = np.isin(bands, [BANDS.index("average"), BANDS.index("poor")])
    with np.errstate(invalid="ignore"):
        return given & (days >= 0) & (days <= rule["days"]) & weak


_MAY: dict[str, Callable[[AlertRule, SignalTable, Any, dt.date], npt.NDArray[np.bool_]]] = {
    "usage_drop": _may_usage_drop,
    "onboarding_overdue": _may_onboarding_overdue,
    "sponsor_inactive": _may_inactive("sponsor_days_inactive"),
    "champion_inactive": _may_inactive("champion_days_inactive"),
    "training_needed": _may_training_needed,
    "seat_capacity": _may_seat_capacity,
    "ticket_spike": _may_ticket_spike,
    "nps_detractor": _may_nps_detractor,
    "renewal_risk": _may_renewal_risk,
}


def history_may_raise(model: HealthModel, band: str | None, score: float | None, best_band: str | None,
                      peak: float | None) -> bool:
    """Whether a history rule may raise for an account whose band and score today are `band` and `score`, the
    best band of its days in the band rule's look-back `best_band` and the highest score of its days in the drop
    rule's window `peak` (`history_windows`; None: no such day)."""
    rules = model.alerts
    if rules["band_dropped"].enabled and band is not None and best_band is not None \
            and BAND_ORDER[best_band] > BAND_ORDER[band]:
        return True
    return bool(rules["score_drop"].enabled and score is not None and peak is not None
                and not peak - score < rules["score_drop"]["points"])


def history_windows(model: HealthModel) -> tuple[int, int]:
    """How many days back the band rule looks (a day counts when today − day ≤ this) and the drop rule's window
    (0 < today − day ≤ this), as whole days: `history_may_raise`'s inputs are read over these."""
    rules = model.alerts
    return math.floor(rules["band_dropped"]["lookback_days"]), math.floor(rules["score_drop"]["days"])


_NOTHING = AlertOutcome((), (), ())


def evaluate_alerts(
    current: HealthScore,
    history: Iterable[DayScore],
    signals: Signals,
    model: HealthModel,
    open_keys: Collection[str] = (),
) -> AlertOutcome:
    """Sort today's alerts against the open ones. `open_keys` may hold other accounts' keys:
    only this account's are resolved."""
    raised = raised_alerts(current, history, signals, model)
    if not open_keys:  # nothing open: every alert raised is new (most accounts of a score run: nothing either)
        return AlertOutcome(raised, (), ()) if raised else _NOTHING
    keys = {a.dedupe_key for a in raised}
    account = str(current.account_id)
    resolved = sorted(k for k in open_keys if k not in keys and k.split(":")[1:2] == [account])
    return AlertOutcome(
        new=tuple(a for a in raised if a.dedupe_key not in open_keys),
        still_open=tuple(a for a in raised if a.dedupe_key in open_keys),
        resolved=tuple(resolved),
    )
