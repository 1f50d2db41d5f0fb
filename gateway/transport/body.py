"""Request bodies and headers as the API reads them, whichever front parsed the request.

I-JSON bodies (docs/protocol.md §9), their media type, the canonical form audit hashes
and idempotency compare, and the ``Idempotency-Key`` header's rule.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
from werkzeug.http import parse_options_header

from ..errors import BadRequest, InvalidJSON, UnsupportedMediaType

JSON = "application/json"
#: What :func:`decode_json` returns for an empty body (``null`` is a body).
NO_BODY: Any = object()
UTF8_BOM = b"\xef\xbb\xbf"


class DuplicateMember(ValueError):
    """Raised while parsing when one JSON object names a member twice."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise DuplicateMember
    return obj


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError("number out of range")
    return number


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes) -> Any:
    """Parse a request body as I-JSON (RFC 7493); raise a 400 error otherwise.

    Strict UTF-8 (no byte order mark, no encoded surrogates), no ``NaN``/``Infinity``,
    no number that overflows a double, and no object naming a member twice: which of
    two values would count is ambiguous, and two parsers may choose differently
    (docs/protocol.md §9). A lone surrogate *escape* (``"\\ud800"``) is JSON grammar and parses;
    the character rules of the field that holds it refuse it (422).
    """
    if raw.startswith(UTF8_BOM):
        raise InvalidJSON("the body starts with a byte order mark")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidJSON("the body is not valid UTF-8") from None
    try:
        return json.loads(
            text, object_pairs_hook=_object, parse_float=_finite, parse_constant=_no_constant
        )
    except DuplicateMember:
        raise BadRequest("a JSON object in the body names one member twice") from None
    except (ValueError, RecursionError):
        # JSONDecodeError, an integer of over 4300 digits, an overflowing float, or
        # nesting deeper than the parser's recursion limit.
        raise InvalidJSON("the body is not valid JSON") from None


def decode_json(raw: bytes, content_type: str | None, *, required: bool) -> Any:
    """``raw`` parsed: 415 unless it is sent as UTF-8 JSON, then 400 if it does not parse.

    An empty body is :data:`NO_BODY` when not ``required``. The media type is read as
    werkzeug reads it for Quart's ``request.mimetype``.
    """
    if not raw and not required:
        return NO_BODY
    mimetype, params = parse_options_header(content_type or "")
    charset = params.get("charset", "utf-8").lower()
    if mimetype.lower() != JSON or charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType("send the body as application/json (UTF-8)")
    return parse_json(raw)


def canonical_json(value: Any) -> bytes:
    """UTF-8, sorted keys, no whitespace: what audit hashes and idempotency compare."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def idempotency_key(value: str | None) -> str | None:
    """The ``Idempotency-Key`` header's value, if sent; 400 unless 1-128 printable ASCII."""
    if value is None:
        return None
    if not 1 <= len(value) <= 128 or not all(" " <= ch <= "~" for ch in value):
        raise BadRequest("Idempotency-Key must be 1-128 printable ASCII characters")
    return value
