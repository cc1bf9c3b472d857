import pytest

from scoring.benchmarks import benchmark
from scoring.model import default_model
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
