"""Report charts: the time to draw a report page's charts (SVG + table + CSV + the macro), beside floors from the
same run.

A page like the revenue report: GRR/NRR over 12 months (line), expected renewal ARR vs revenue at risk per month
(grouped bars), health bands for 50 CSMs (stacked), the 25 most engaged users (horizontal bars) and the score
distribution of every account (histogram of 10,000 and 100,000 scores, seeded). Floors: ``json.dumps`` of the
numbers the charts show (the least any page must do to send them), and one ``max()`` pass over the scores (the least a
histogram must read). Prints the best of 5 runs; asserts nothing.

    python bench/bench_charts.py
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jinja2 import Environment, FileSystemLoader, Template

from console.charts import Chart, Series, histogram

MONTHS = [f"M{i:02d}" for i in range(1, 13)]
RUNS = 5


def best(work: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times) * 1000


def page_charts(rng: random.Random, scores: list[float]) -> list[Chart]:
    csms = [f"CSM {i} <&>" for i in range(50)]
    return [
        Chart("retention", "line", "GRR and NRR", MONTHS,
              [Series("GRR", [rng.uniform(85, 95) for _ in MONTHS]),
               Series("NRR", [rng.uniform(98, 112) for _ in MONTHS])],
              unit="percent", reference=100),
        Chart("forecast", "bar", "Renewals", MONTHS,
              [Series("Expected", [rng.uniform(1e5, 2e6) for _ in MONTHS]),
               Series("At risk", [rng.uniform(1e4, 5e5) for _ in MONTHS])], unit="money"),
        Chart("bands", "stacked", "Bands per CSM", csms,
              [Series(b.title(), [rng.randint(0, 60) for _ in csms], band=b) for b in ("good", "average", "poor")]),
        Chart("leaders", "hbar", "Most engaged users", [f"user{i}@example.com" for i in range(25)],
              [Series("Active days", sorted((rng.randint(1, 30) for _ in range(25)), reverse=True))]),
        histogram("scores", "Health scores", scores, start=0, stop=100, step=10, poor_below=40, good_from=70),
    ]


def measure(accounts: int, macro: Template) -> None:
    rng = random.Random(16)
    scores = [rng.uniform(0, 100) for _ in range(accounts)]
    numbers = [[list(s.values) for s in f.series] for f in page_charts(random.Random(16), scores)]
    floor_read = best(lambda: max(scores))
    floor_json = best(lambda: json.dumps(numbers))
    hist = best(lambda: histogram("s", "S", scores, start=0, stop=100, step=10, poor_below=40, good_from=70))

    def page() -> None:
        charts = page_charts(random.Random(16), scores)
        macro.render(figures=charts)
        for c in charts:
            c.csv()

    print(f"{accounts:>9,} {floor_read:>10.1f} ms {floor_json:>9.1f} ms {hist:>7.1f} ms {best(page):>19.1f} ms")


def main() -> None:
    env = Environment(loader=FileSystemLoader(Path(__file__).resolve().parents[1] / "console" / "templates"),
                      autoescape=True)
    macro = env.from_string('{% from "console/_chart.html" import chart %}'
                            '{% for f in figures %}{{ chart(f, "/x.csv") }}{% endfor %}')
    print(f"{'accounts':>9} {'floor: max()':>13} {'floor: json':>12} {'histogram':>10} {'5 charts + html + csv':>22}")
    for accounts in (10_000, 100_000):
        measure(accounts, macro)


if __name__ == "__main__":
    main()
