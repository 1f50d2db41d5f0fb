"""EMVCo merchant-presented payloads: the TLV walk, the CRC and the amount tag."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway import emvco
from gateway.emvco import EMVError, amount_of, build, crc16, parse

VIETQR_FIELDS = [
    ("00", "01"),
    ("01", "12"),
    ("38", "0010A000000727012700069704220113012345678900208QRIBFTTA"),
    ("53", "704"),
    ("54", "150000"),
    ("58", "VN"),
    ("59", "CUA HANG AN"),
    ("62", "0708A-1024"),
]


def with_crc(body: str) -> str:
    """``body`` (which must end in "6304") with its correct CRC appended."""
    assert body.endswith("6304")
    return body + crc16(body)


def test_crc16_matches_the_ccitt_false_check_value() -> None:
    """CRC-16/CCITT-FALSE of "123456789" is 29B1, as four uppercase hex digits."""
    assert crc16("123456789") == "29B1"


def test_crc16_of_the_empty_string_is_the_initial_value() -> None:
    """The CRC of nothing is the initial register value FFFF."""
    assert crc16("") == "FFFF"


def test_build_appends_a_crc_field_that_covers_its_own_tag() -> None:
    """A built payload ends with 6304 and the CRC of everything before the four digits."""
    payload = build(VIETQR_FIELDS)
    assert payload.startswith("000201")
    assert payload[-8:-4] == "6304"
    assert payload[-4:] == crc16(payload[:-4])


def test_a_built_payload_parses_back_to_its_fields() -> None:
    """Parsing a built payload returns every tag with its value, in order, CRC last."""
    payload = build(VIETQR_FIELDS)
    fields = parse(payload)
    assert list(fields.items())[:-1] == VIETQR_FIELDS
    assert list(fields)[-1] == "63"
    assert fields["63"] == payload[-4:]


def test_a_lowercase_crc_is_accepted() -> None:
    """The CRC's hex digits are compared case-insensitively."""
    payload = build(VIETQR_FIELDS)
    assert parse(payload[:-4] + payload[-4:].lower())["00"] == "01"


def test_a_wrong_crc_is_refused() -> None:
    """A payload whose last four digits are not its CRC is refused."""
    payload = build(VIETQR_FIELDS)
    wrong = "0000" if payload[-4:] != "0000" else "FFFF"
    with pytest.raises(EMVError, match="CRC does not match"):
        parse(payload[:-4] + wrong)


def test_a_changed_byte_breaks_the_crc() -> None:
    """Changing one character of the body (here the amount) invalidates the CRC."""
    payload = build(VIETQR_FIELDS)
    tampered = payload.replace("5406150000", "5406950000")
    assert tampered != payload
    with pytest.raises(EMVError, match="CRC"):
        parse(tampered)


def test_a_payload_without_the_format_indicator_is_refused() -> None:
    """A payload that does not start with 000201 is refused, even with a valid CRC."""
    payload = with_crc("000202" + "5802VN" + "6304")
    with pytest.raises(EMVError, match="000201"):
        parse(payload)


def test_a_payload_without_a_crc_field_at_the_end_is_refused() -> None:
    """A payload whose last eight characters are not 6304XXXX is refused."""
    with pytest.raises(EMVError, match="6304"):
        parse("000201" + "5802VN")


def test_a_too_short_payload_is_refused() -> None:
    """The bare format indicator is not a payload."""
    with pytest.raises(EMVError):
        parse("000201")


def test_a_truncated_field_is_refused() -> None:
    """A field whose length runs past the end of the payload is refused."""
    payload = with_crc("000201" + "5920SHOP" + "6304")
    with pytest.raises(EMVError, match="runs past the end"):
        parse(payload)


def test_a_field_with_a_non_numeric_length_is_refused() -> None:
    """Field lengths are two ASCII digits."""
    payload = with_crc("000201" + "59AASHOP" + "6304")
    with pytest.raises(EMVError, match="malformed field"):
        parse(payload)


def test_a_field_with_a_non_numeric_tag_is_refused() -> None:
    """Field tags are two ASCII digits."""
    payload = with_crc("000201" + "X902VN" + "6304")
    with pytest.raises(EMVError, match="malformed field"):
        parse(payload)


def test_a_non_ascii_digit_is_not_a_length() -> None:
    """Unicode digits (here Arabic-Indic) are not accepted as a field length."""
    payload = with_crc("000201" + "58\u0660\u0662VN" + "6304")
    with pytest.raises(EMVError, match="malformed field"):
        parse(payload)


def test_a_duplicate_tag_is_refused() -> None:
    """A tag that appears twice at the top level is refused."""
    payload = with_crc("000201" + "5802VN" + "5802VN" + "6304")
    with pytest.raises(EMVError, match="appears twice"):
        parse(payload)


def test_a_crc_field_that_is_not_the_last_field_is_refused() -> None:
    """The trailing 6304XXXX must be the CRC field itself, not the tail of another field."""
    body = "000201" + "5908" + "6304"
    payload = body + crc16(body)  # field 59 swallows "6304XXXX"
    assert payload[-8:-4] == "6304"
    with pytest.raises(EMVError, match="must be the last field"):
        parse(payload)


def test_a_crc_field_longer_than_four_characters_is_refused() -> None:
    """Tag 63 holds exactly the four CRC digits."""
    body = "000201" + "6310" + "ab6304"
    payload = body + crc16(body)
    with pytest.raises(EMVError, match="63"):
        parse(payload)


def payload_of_length(total: int) -> str:
    """A valid payload of exactly ``total`` characters, padded with fields 80, 81, ..."""
    fields = [("00", "01")]
    room = total - len(build(fields))
    tag = 80
    while room > 0:
        # Each field costs 4 characters of tag and length; values hold at most 99.
        value = "X" * min(99, room - 4)
        fields.append((str(tag), value))
        room -= 4 + len(value)
        tag += 1
    payload = build(fields)
    assert len(payload) == total
    return payload


def test_a_payload_of_512_characters_is_accepted() -> None:
    """512 characters is the longest payload."""
    payload = payload_of_length(512)
    assert emvco.MAX_LENGTH == 512
    assert parse(payload)["00"] == "01"


def test_a_payload_over_512_characters_is_refused() -> None:
    """A payload of 513 characters is refused, even with a valid CRC."""
    with pytest.raises(EMVError, match="longer than 512"):
        parse(payload_of_length(513))


def test_amount_of_reads_tag_54_as_a_decimal() -> None:
    """Tag 54 is the amount; 150000 and 150000.00 are the same number."""
    assert amount_of({"54": "150000"}) == Decimal(150000)
    assert amount_of({"54": "150000.00"}) == 150000
    assert amount_of({"54": "98.73"}) == Decimal("98.73")


def test_amount_of_is_none_without_tag_54() -> None:
    """A static QR without an amount has no amount."""
    assert amount_of({"00": "01", "63": "ABCD"}) is None


@pytest.mark.parametrize(
    "value", ["", "abc", "NaN", "Infinity", "-1", "+5", "1e5", "1_000", " 100", "1,000", "0x10"]
)
def test_amount_of_refuses_anything_but_digits_and_a_decimal_point(value: str) -> None:
    """Tag 54 must be digits with an optional "." (no sign, exponent, separators or padding)."""
    with pytest.raises(EMVError, match="tag 54"):
        amount_of({"54": value})


def test_emv_errors_are_value_errors() -> None:
    """EMVError is a ValueError, so pydantic validators report it as a field error."""
    assert issubclass(EMVError, ValueError)
