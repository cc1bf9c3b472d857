"""Vendor answers' JSON bodies, decoded by msgspec: several times faster than the standard library's decoder on
the pages a pull reads (a tenth of the reading threads' CPU at 10,000 companies went to ``json.loads``).

For any text msgspec decodes, the value is the one ``json.loads`` gives (the same dicts, in the same key order, the
last of a repeated key kept, the same ints and floats); what it refuses — an integer beyond 64 bits, a lone
surrogate escape, anything not JSON — goes to the standard library, so the value, or the error, is as before."""

from __future__ import annotations

from typing import Any

import msgspec
import requests

_decode = msgspec.json.Decoder().decode


def loads(data: bytes | str) -> Any:
    """``json.loads(data)``, faster."""
    try:
        return _decode(data)
    except msgspec.DecodeError:
        import json

        return json.loads(data)


def response_json(response: requests.Response, **kwargs: Any) -> Any:
    """``response.json(**kwargs)``, faster when the body is UTF-8 (what requests reads an ``application/json``
    answer as when it names no charset) and no hook is given (``kwargs`` only ``object_pairs_hook=dict``: a plain
    dict, as msgspec makes)."""
    encoding = (response.encoding or "utf-8").lower().replace("_", "-")
    plain = all((key == "object_pairs_hook" and value is dict) or (key == "parse_float" and value is None)
                for key, value in kwargs.items())
    if plain and encoding in ("utf-8", "utf8"):
        content = response.content
        if content:
            try:
                return _decode(content)
            except msgspec.DecodeError:
                pass
    return response.json(**kwargs)
