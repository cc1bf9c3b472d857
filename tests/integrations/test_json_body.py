"""`integrations.json_body`: the vendors' answers decoded by msgspec give exactly what the standard library gives,
and what msgspec refuses is decoded (or refused) by the standard library as before."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import pytest
import requests

from integrations.json_body import loads, response_json

BODIES = [
    b'{"results": [{"id": "1", "properties": {"name": "Acme", "amount": "12.50"}}], "paging": {"next": {}}}',
    b'{"a": 1, "a": 2, "b": [-0, -0.0, 1e5, 1E-7, 0.1, 9223372036854775807, -9223372036854775808]}',
    b'{"big": 123456789012345678901234567890, "huge": 1.5e400}',  # beyond msgspec: the standard library's
    b'"lone \\ud800 surrogate"',
    b'{"accent": "\\u00e9\xc3\xa9", "nul": "\\u0000", "nested": {"x": [true, false, null]}}',
    b"  [1, 2]  ",
]


@pytest.mark.parametrize("body", BODIES)
def test_loads_gives_what_json_loads_gives(body: bytes) -> None:
    got, want = loads(body), json.loads(body)
    assert got == want and repr(got) == repr(want)
    assert loads(body.decode("utf-8", "surrogatepass")) == want


@pytest.mark.parametrize("body", [b"", b"{", b"NaN-ish", b'{"a": }'])
def test_loads_refuses_what_json_loads_refuses(body: bytes) -> None:
    with pytest.raises(json.JSONDecodeError):
        loads(body)


def _response(body: bytes, content_type: str = "application/json") -> requests.Response:
    response = requests.Response()
    response._content = body
    response.status_code = 200
    response.headers["Content-Type"] = content_type
    response.encoding = requests.utils.get_encoding_from_headers(response.headers)
    return response


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("options", [{}, {"object_pairs_hook": dict}, {"object_pairs_hook": dict, "parse_float": None}])
def test_response_json_gives_what_requests_gives(body: bytes, options: dict[str, Any]) -> None:
    got, want = response_json(_response(body), **options), _response(body).json(**options)
    assert got == want and repr(got) == repr(want)


def test_a_hook_or_another_charset_is_left_to_requests() -> None:
    ordered = response_json(_response(b'{"b": 1, "a": 2}'), object_pairs_hook=OrderedDict)
    assert type(ordered) is OrderedDict and list(ordered) == ["b", "a"]
    latin = _response('{"name": "Ã©"}'.encode("latin-1"), "application/json; charset=ISO-8859-1")
    assert response_json(latin) == {"name": "Ã©"}  # read as Latin-1, not as the UTF-8 "é" those bytes also are
    assert response_json(_response(b'{"x": 1.25}'), parse_float=str) == {"x": "1.25"}
    with pytest.raises(requests.exceptions.JSONDecodeError):
        response_json(_response(b"<html>busy</html>"))
