"""Decoding collector bodies: a value too deep or a number too long spoils its message, not the body."""

from __future__ import annotations

import json

import pytest

from collector.jsonbody import HUGE_NUMBER, NOT_A_NUMBER, TOO_DEEP, decode, splice_deep_values
from collector.messages import unstorable_value


def test_a_plain_body_decodes_as_json_does() -> None:
    body = {"batch": [{"type": "track", "properties": {"a": [1, 2.5, "x]}{"], "b": None}}]}
    assert decode(json.dumps(body).encode()) == body


def test_a_body_nested_past_the_parser_keeps_its_shallow_messages() -> None:
    deep = "[" * 5000 + "]" * 5000
    body = ('{"batch":[{"n":1},{"n":2,"p":{"q":' + deep + '}},{"n":3,"s":"[[[\\"{{{"}]}').encode()
    with pytest.raises(RecursionError):
        json.loads(body)
    batch = decode(body)["batch"]
    assert [m["n"] for m in batch] == [1, 2, 3]
    assert batch[2]["s"] == '[[[\"{{{'
    assert unstorable_value(batch[0]) is None
    assert unstorable_value(batch[1]) == ("p", TOO_DEEP.reason)


def test_splicing_replaces_only_what_opens_below_the_depth() -> None:
    text = '{"a":[1,{"b":[2]}],"c":"[{"}'
    assert splice_deep_values(text, depth=2) == '{"a":[1,' + splice_deep_values("{}", depth=0) + '],"c":"[{"}'
    marker = splice_deep_values("{}", depth=0)
    assert splice_deep_values(text, depth=3) == '{"a":[1,{"b":' + marker + '}],"c":"[{"}'
    assert splice_deep_values(text, depth=4) == text


@pytest.mark.parametrize("text", ['{"a":[}', '{"a":1]', '{"a":[1]', '{"a":"open]}', "]"])
def test_malformed_bodies_stay_malformed(text: str) -> None:
    with pytest.raises(ValueError):
        decode(text.encode())


def test_huge_numbers_and_non_numbers_become_markers() -> None:
    body = ('{"batch":[{"n":' + "9" * 5000 + '},{"n":NaN},{"n":-Infinity},{"n":1e999},{"n":12}]}').encode()
    batch = decode(body)["batch"]
    assert [m["n"] for m in batch[:3]] == [HUGE_NUMBER, NOT_A_NUMBER, NOT_A_NUMBER]
    assert [unstorable_value(m) for m in batch] == [("n", HUGE_NUMBER.reason), ("n", NOT_A_NUMBER.reason),
                                                    ("n", NOT_A_NUMBER.reason), ("n", NOT_A_NUMBER.reason), None]


def test_nesting_is_counted_from_the_message() -> None:
    def nested(levels: int) -> dict[str, object]:
        value: object = {}
        for _ in range(levels - 2):
            value = [value]
        return {"p": value}

    assert unstorable_value(nested(32)) is None
    assert unstorable_value(nested(33)) == ("p", TOO_DEEP.reason)
