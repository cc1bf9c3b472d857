import pytest

from scoring.model import default_model
from scoring.rollup import ChildHealth, roll_up

CHILDREN = [
    ChildHealth(1, 90.0, "Acme US", arr=300_000),
    ChildHealth(2, 30.0, "Acme EU", arr=100_000),
    ChildHealth(3, 60.0, "Acme APAC", arr=100_000),
    ChildHealth(4, None, "Acme Labs", arr=50_000),
    ChildHealth(5, 10.0, "Acme Trial", arr=None),
]


@pytest.mark.parametrize(
    ("weight_by", "score", "band", "counted", "left_out"),
    [
        ("count", (90 + 30 + 60 + 10) / 4, "average", (1, 2, 3, 5), (4,)),
        ("arr", (90 * 3 + 30 + 60) / 5, "good", (1, 2, 3), (4, 5)),
    ],
)
def test_weighted_parent_score(
    weight_by: str, score: float, band: str, counted: tuple[int, ...], left_out: tuple[int, ...]
) -> None:
    result = roll_up(100, CHILDREN, default_model(), weight_by=weight_by)  # type: ignore[arg-type]
    assert result.score == pytest.approx(score)
    assert (result.band, result.counted, result.left_out) == (band, counted, left_out)


def test_reasons_name_the_children_pulling_down() -> None:
    result = roll_up(100, CHILDREN, weight_by="arr")
    assert [r.text for r in result.reasons] == [
        "Acme EU (poor, 30, 20 % of ARR) pulls the score down by 8.4 points",
        "Acme APAC (average, 60, 20 % of ARR) pulls the score down by 2.4 points",
    ]
    by_count = roll_up(100, CHILDREN, weight_by="count", limit=1)
    assert [r.text for r in by_count.reasons] == ["Acme Trial (poor, 10) pulls the score down by 9.4 points"]


def test_model_setting_and_no_children() -> None:
    assert roll_up(1, CHILDREN, default_model()).weight_by == "arr"
    empty = roll_up(1, [ChildHealth(2, None)])
    assert (empty.score, empty.band, empty.left_out, empty.reasons) == (None, None, (2,), ())
    assert roll_up(1, list(reversed(CHILDREN)), weight_by="count") == roll_up(1, CHILDREN, weight_by="count")
