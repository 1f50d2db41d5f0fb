"""Request bodies are I-JSON (RFC 7493): what `parse_json` accepts and refuses (SPEC §11.2)."""

from __future__ import annotations

import pytest

from gateway.errors import BadRequest, InvalidJSON
from gateway.transport.body import parse_json


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": 1, "a": 2}',
        b'{"token": "t", "token": "u", "data": {}}',
        b'{"data": {"amount": 1, "amount": 2}}',
        b'[{"x": 1}, {"y": 1, "y": 1}]',
        b'{"a": {"b": {"c": 1, "c": 1}}}',
    ],
    ids=repr,
)
def test_a_member_named_twice_anywhere_is_400(raw: bytes) -> None:
    """Duplicate member names are ambiguous at any depth: 400, before validation."""
    with pytest.raises(BadRequest) as info:
        parse_json(raw)
    assert "twice" in info.value.detail


@pytest.mark.parametrize(
    "raw",
    [
        b"\xef\xbb\xbf{}",
        b'{"a": "\xff"}',
        b'{"a": "\xed\xa0\x80"}',  # a surrogate encoded as UTF-8 bytes (CESU)
        b"{",
        b"",
        b"NaN",
        b'{"a": Infinity}',
        b'{"a": -Infinity}',
        b"1e999999",
        b'{"a": ' + b"9" * 5000 + b"}",
        b"[" * 100_000 + b"]" * 100_000,
        b"{'a': 1}",
    ],
    ids=lambda raw: repr(raw[:24]),
)
def test_what_is_not_i_json_is_400(raw: bytes) -> None:
    """BOM, bad UTF-8, encoded surrogates, NaN/Infinity, overflowing and 5000-digit
    numbers, deep nesting and syntax errors are each InvalidJSON (400)."""
    with pytest.raises(InvalidJSON):
        parse_json(raw)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"null", None),
        (b"0", 0),
        (b"[]", []),
        (b'"x"', "x"),
        (b'{"merchant": "\\ud800"}', {"merchant": "\ud800"}),
        (b'{"a": 1e308, "b": -0.0}', {"a": 1e308, "b": -0.0}),
        (b'{"a": {"a": 1}}', {"a": {"a": 1}}),
        ('{"m": "Cửa hàng"}'.encode(), {"m": "Cửa hàng"}),
    ],
    ids=repr,
)
def test_json_grammar_parses(raw: bytes, value: object) -> None:
    """Any JSON value parses (what it must be is the schema's business), and a lone
    surrogate escape is grammar: the field's character rules refuse it later, with 422."""
    assert parse_json(raw) == value
