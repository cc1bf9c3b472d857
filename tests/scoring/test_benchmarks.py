import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.benchmarks import benchmark, benchmark_json
from scoring.model import default_model
from scoring.signals import Signals
from tests.scoring.build import signals

ACCOUNTS = [
    signals(account_id=1, segment="smb", csat=50.0, open_tickets=1.0),
    signals(account_id=2, segment="smb", csat=70.0, open_tickets=5.0),
    signals(account_id=3, segment="SMB", csat=90.0, open_tickets=5.0),
    signals(account_id=4, segment="enterprise", csat=70.0, open_tickets=9.0),
    signals(account_id=5, segment=None, csat=None, open_tickets=0.0),
]


@pytest.mark.parametrize(
    ("account", "measure", "segment", "base"),
    [
        (1, "csat", 100 / 6, 12.5),  # lowest of 3 in smb; of 4 in the base
        (3, "csat", 500 / 6, 87.5),
        (2, "csat", 50.0, 50.0),  # ties count half
        (4, "csat", 50.0, 50.0),  # alone in its segment
        (5, "open_tickets", None, 90.0),  # lower is better; no segment
        (2, "open_tickets", 100 / 3, 40.0),
    ],
)
def test_percentiles(account: int, measure: str, segment: float | None, base: float) -> None:
    result = benchmark(ACCOUNTS, default_model())[account][measure]
    assert result.segment_percentile == (pytest.approx(segment, abs=1e-3) if segment is not None else None)
    assert result.base_percentile == pytest.approx(base, abs=1e-3)


def test_missing_values_are_not_benchmarked() -> None:
    result = benchmark(ACCOUNTS, default_model())
    assert "csat" not in result[5]
    assert result[1]["csat"].base_size == 4
    assert result[1]["csat"].segment_size == 3


def _as_parts(signals: list[Signals]) -> list[str | None]:
    """What the snapshot's ``benchmarks`` part held when built from `benchmark`, one account at a time."""
    table = benchmark(signals, default_model())
    return [json.dumps({name: {"segment_percentile": b.segment_percentile, "base_percentile": b.base_percentile}
                       for name, b in table[s.account_id].items()}) if table[s.account_id] else None
            for s in signals]


def test_benchmark_json_is_the_benchmarks_part_as_text() -> None:
    found = benchmark_json(ACCOUNTS, default_model())
    assert found == _as_parts(ACCOUNTS)
    first = json.loads(found[0] or "")
    assert first["csat"] == {"segment_percentile": round(100 / 6, 4), "base_percentile": 12.5}
    assert list(first) == [name for name in default_model().measures if name in first]


_VALUE = st.one_of(st.none(), st.sampled_from([0.0, 1.0, 2.5, 50.0, 100.0, -3.0]),
                   st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
_SIGNAL_NAMES = sorted({m.signal for m in default_model().measures.values()})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from([None, "smb", "SMB", "enterprise", "mid_market"]),
                          st.lists(_VALUE, min_size=len(_SIGNAL_NAMES), max_size=len(_SIGNAL_NAMES))),
                min_size=1, max_size=40))
def test_benchmark_json_equals_benchmark_for_any_accounts(rows: list[tuple[str | None, list[float | None]]]) -> None:
    accounts = [signals(account_id=i + 1, segment=segment, **dict(zip(_SIGNAL_NAMES, values, strict=True)))
                for i, (segment, values) in enumerate(rows)]
    assert benchmark_json(accounts, default_model()) == _as_parts(accounts)


def test_a_nan_value_is_benchmarked_as_benchmark_does() -> None:
    accounts = [*ACCOUNTS, signals(account_id=6, segment="smb", csat=float("nan"))]
    assert benchmark_json(accounts, default_model()) == _as_parts(accounts)
