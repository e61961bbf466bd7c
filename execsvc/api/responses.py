"""JSON responses rendered by orjson (fast for the large band arrays of a map), and answers
kept as JSON bytes with one field added per request.

`json_head` renders an object as `FastJSONResponse` would, without its closing brace;
`with_last_field` closes it with one more field (`{**content, name: value}` in the same
bytes). A memo of answers held this way keeps one bytes object per answer, which the garbage
collector never walks, instead of a tree of dicts, lists and floats (bots asking for stops
with their own entries fill a memo with answers that are rarely asked for again), and a
repeated answer is not encoded again.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


class FastJSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=JSON_OPTIONS)


def json_head(content: dict[str, Any]) -> bytes:
    """`content` as `FastJSONResponse` renders it, without the closing brace."""
    return orjson.dumps(content, option=JSON_OPTIONS)[:-1]


def with_last_field(head: bytes, name: str, value: Any) -> Response:
    """The object `head` (from `json_head`) with `name: value` added last: the bytes of
    `FastJSONResponse({**content, name: value})` when `name` is not a key of `content`."""
    tail = orjson.dumps({name: value}, option=JSON_OPTIONS)[1:]
    return Response(head + (b"," if len(head) > 1 else b"") + tail,
                    media_type=FastJSONResponse.media_type)
