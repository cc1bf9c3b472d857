"""Pure health scoring: signals in, scores, bands, reasons, trends and alerts out. No I/O, no clock.

Typical use, for one account as of one day::

    model = default_model()                      # or load_model("health.yaml")
    signals = compute_signals(inputs, as_of, model)
    score = score_account(signals, model, previous=yesterday)
    trend = score_trend(history + [score], as_of)
    alerts = evaluate_alerts(score, history, signals, model, open_keys)

For a run of consecutive days (a history backfill), `signal_series`, `score_series` and `slopes_by_day`
give the same results as the above day by day, in one pass per account. For many accounts on one day,
`compute_signal_table` and `score_many` (or `score_table`) give the same results over arrays.
"""

from scoring.alerts import AlertCandidate, AlertOutcome, evaluate_alerts, raised_alerts
from scoring.batch import BANDS, ScoreBatch, SignalTable, score_table
from scoring.benchmarks import MeasureBenchmark, benchmark, benchmark_json, benchmark_json_columns
from scoring.engine import choose_profile, measure_points, score_account, score_many, score_series
from scoring.inputs import AccountInputs, ContactFact, CsatAnswer, NpsAnswer, TicketFact, UsageDay
from scoring.model import HealthModel, ModelError, default_model, load_model, model_fingerprint, model_legend
from scoring.reasons import explain
from scoring.results import HealthScore, Legend, MeasurePart, Reason, part_descriptors, reasons_json
from scoring.rollup import ChildHealth, RollupScore, roll_up
from scoring.series import signal_series
from scoring.signal_table import UsageColumns, compute_signal_table
from scoring.signals import SIGNALS, Signals, SignalSettings, compute_signals
from scoring.trend import DayScore, Trend, score_trend, slopes_by_day

__all__ = [
    "BANDS",
    "SIGNALS",
    "AccountInputs",
    "AlertCandidate",
    "AlertOutcome",
    "ChildHealth",
    "ContactFact",
    "CsatAnswer",
    "DayScore",
    "HealthModel",
    "HealthScore",
    "Legend",
    "MeasureBenchmark",
    "MeasurePart",
    "ModelError",
    "NpsAnswer",
    "Reason",
    "RollupScore",
    "ScoreBatch",
    "SignalSettings",
    "SignalTable",
    "Signals",
    "TicketFact",
    "Trend",
    "UsageColumns",
    "UsageDay",
    "benchmark",
    "benchmark_json",
    "benchmark_json_columns",
    "choose_profile",
    "compute_signal_table",
    "compute_signals",
    "default_model",
    "evaluate_alerts",
    "explain",
    "load_model",
    "measure_points",
    "model_fingerprint",
    "model_legend",
    "part_descriptors",
    "raised_alerts",
    "reasons_json",
    "roll_up",
    "score_account",
    "score_many",
    "score_series",
    "score_table",
    "score_trend",
    "signal_series",
    "slopes_by_day",
]
