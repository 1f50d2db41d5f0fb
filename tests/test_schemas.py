"""The payment payload of SPEC §3 and the request bodies of §2, as validate_body sees them."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from typing import Any

import orjson
import pytest

from gateway import emvco
from gateway.config import PayloadSettings
from gateway.errors import ValidationFailed
from gateway.schemas import (
    ClearRequest,
    PaymentData,
    PaymentRequest,
    Strict,
    TokenRequest,
    printable_loc,
    validate_body,
)
from gateway.wire import payment_data

TOKEN = "header.claims.signature"


def png_bytes(extra: int = 0) -> bytes:
    """A real 1x1 grayscale PNG, optionally padded with an ancillary chunk of ``extra`` bytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00\x00")
    pad = chunk(b"teXt", b"x" * (extra - 12)) if extra else b""
    assert not extra or extra >= 12
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + pad
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )


def png_uri(raw: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(raw).decode("ascii")


def vietqr(amount: str | None = "150000", currency: str | None = "704") -> str:
    """A CRC-valid VietQR payload, with tag 54/53 only when given."""
    fields = [
        ("00", "01"),
        ("01", "12"),
        ("38", "0010A00000072701240006970422011001234567890208QRIBFTTA"),
    ]
    if currency is not None:
        fields.append(("53", currency))
    if amount is not None:
        fields.append(("54", amount))
    fields += [("58", "VN"), ("59", "CUA HANG AN")]
    return emvco.build(fields)


def payment(**changes: Any) -> dict[str, Any]:
    """A valid ``data`` object with ``changes`` applied (a value of ``...`` drops the field)."""
    data: dict[str, Any] = {"qrCode": vietqr(), "merchant": "Cửa hàng An", "amount": 150000}
    for name, value in changes.items():
        if value is ...:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def validate(data: Any, **settings: Any) -> PaymentData:
    """Validate ``{"token", "data"}`` under PayloadSettings(**settings); return the data."""
    request = validate_body(
        PaymentRequest, {"token": TOKEN, "data": data}, PayloadSettings(**settings)
    )
    assert isinstance(request, PaymentRequest)
    return request.data


def refusal(data: Any, **settings: Any) -> list[dict[str, Any]]:
    """The ``errors`` of the ValidationFailed that ``data`` must raise."""
    with pytest.raises(ValidationFailed) as info:
        validate(data, **settings)
    errors = info.value.errors
    assert errors, "ValidationFailed must name at least one field"
    for err in errors:
        assert set(err) == {"loc", "msg"}
        assert isinstance(err["msg"], str)
        assert err["msg"]
    return errors


def locs(errors: list[dict[str, Any]]) -> list[list[Any]]:
    return [err["loc"] for err in errors]


def refused_at(data: Any, field: str, **settings: Any) -> str:
    """Assert that exactly ``data.<field>`` is refused; return its message."""
    errors = refusal(data, **settings)
    assert locs(errors) == [["data", field]]
    msg: str = errors[0]["msg"]
    return msg


# --- a valid payment --------------------------------------------------------------


def test_a_minimal_payment_is_accepted_with_currency_defaulting_to_vnd() -> None:
    """qrCode, merchant and amount suffice; currency defaults to VND, the options to unset."""
    data = validate(payment())
    assert data.amount == 150000
    assert data.currency == "VND"
    assert data.orderId is None
    assert data.description is None
    assert data.expiresAt is None
    assert data.deeplink is None


def test_wire_puts_seq_first_and_drops_unset_options() -> None:
    """What viewers receive is the validated object, seq first, without null fields, and
    the payee the EMVCo code names (SPEC §11.3)."""
    data = validate(payment(orderId="A-1024"))
    wire = orjson.loads(payment_data(data.broadcast(), 0).data(7) or "")
    assert next(iter(wire)) == "seq"
    assert wire == {
        "seq": 7,
        "qrCode": vietqr(),
        "merchant": "Cửa hàng An",
        "amount": 150000,
        "currency": "VND",
        "orderId": "A-1024",
        "payee": {
            "provider": "VIETQR",
            "bankBin": "970422",
            "bankName": "MB",
            "account": "••••6789",
            "merchantName": "CUA HANG AN",
        },
    }


def test_a_png_qr_has_no_payee() -> None:
    """Who a PNG pays is not read by the gateway: no payee."""
    assert "payee" not in validate(payment(qrCode=png_uri(png_bytes()))).broadcast()


def test_a_payee_field_in_the_request_is_refused_even_with_extra_fields() -> None:
    """payee comes from the QR only; a request naming it is refused at that field."""
    refused_at(payment(payee={"provider": "MOMO"}), "payee")
    with pytest.raises(ValidationFailed) as info:
        validate(payment(payee="MOMO"), allow_extra_fields=True)
    assert ["data", "payee"] in [error["loc"] for error in info.value.errors]


def test_a_full_payment_is_accepted() -> None:
    """Every optional field of §3 may be given together."""
    data = validate(
        payment(
            currency="VND",
            orderId="A-1024",
            description="Đơn hàng A-1024",
            expiresAt="2026-11-24T10:10:00Z",
            deeplink="momo://app?action=pay&id=1",
        )
    )
    assert data.description == "Đơn hàng A-1024"
    assert data.expiresAt == "2026-11-24T10:10:00.000Z"


# --- qrCode: PNG data URI ---------------------------------------------------------


def test_a_png_data_uri_is_accepted() -> None:
    """A data:image/png;base64 URI holding a real PNG is a qrCode, unchanged."""
    uri = png_uri(png_bytes())
    assert validate(payment(qrCode=uri)).qrCode == uri


def test_a_png_data_uri_of_exactly_max_qr_bytes_is_accepted() -> None:
    """A PNG of exactly payload.max_qr_bytes decoded bytes is accepted."""
    raw = png_bytes(extra=100)
    assert validate(payment(qrCode=png_uri(raw)), max_qr_bytes=len(raw)).qrCode


def test_a_png_one_byte_over_max_qr_bytes_is_refused() -> None:
    """A PNG one byte larger than payload.max_qr_bytes is refused on qrCode."""
    raw = png_bytes(extra=100)
    msg = refused_at(payment(qrCode=png_uri(raw)), "qrCode", max_qr_bytes=len(raw) - 1)
    assert "larger than" in msg


def test_a_png_far_over_max_qr_bytes_is_refused_by_its_length() -> None:
    """A data URI much longer than max_qr_bytes allows is refused (before decoding)."""
    raw = png_bytes(extra=5000)
    refused_at(payment(qrCode=png_uri(raw)), "qrCode", max_qr_bytes=1000)


def test_a_data_uri_without_the_png_signature_is_refused() -> None:
    """Decoded bytes must start with the PNG signature."""
    gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
    msg = refused_at(payment(qrCode=png_uri(gif)), "qrCode")
    assert "signature" in msg


def test_an_empty_png_data_uri_is_refused() -> None:
    """A data URI with no bytes holds no PNG."""
    refused_at(payment(qrCode="data:image/png;base64,"), "qrCode")


@pytest.mark.parametrize(
    "encoded",
    ["!!!!", "iVBORw0KGgo", "iVBORw0K\nGgo=", "iVBO Rw0KGgo="],
    ids=["bad-alphabet", "bad-padding", "newline", "space"],
)
def test_a_png_data_uri_that_is_not_strict_base64_is_refused(encoded: str) -> None:
    """The base64 part is decoded strictly: no stray characters, whitespace or bad padding."""
    msg = refused_at(payment(qrCode="data:image/png;base64," + encoded), "qrCode")
    assert "base64" in msg


@pytest.mark.parametrize(
    "qr",
    [
        "data:image/svg+xml;base64,"
        + base64.b64encode(b"<svg xmlns='http://www.w3.org/2000/svg'/>").decode(),
        "data:image/svg+xml,<svg onload=alert(1)>",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "data:image/png," + "x" * 10,
        "DATA:image/png;base64," + base64.b64encode(png_bytes()).decode(),
        "javascript:alert(1)",
        "JavaScript:alert(document.cookie)",
        "http://example.com/qr.png",
        "https://example.com/qr.png",
        "",
        "hello",
    ],
    ids=[
        "svg-base64",
        "svg-plain",
        "html",
        "png-not-base64",
        "uppercase-scheme",
        "javascript",
        "javascript-mixed-case",
        "http",
        "https",
        "empty",
        "text",
    ],
)
def test_anything_but_a_png_data_uri_or_an_emvco_payload_is_refused(qr: str) -> None:
    """No SVG, no other data URI, no javascript: or http(s): URL, no free text."""
    refused_at(payment(qrCode=qr), "qrCode")


def test_a_qr_code_that_is_not_a_string_is_refused() -> None:
    """qrCode must be a string."""
    refused_at(payment(qrCode=12345), "qrCode")


# --- qrCode: EMVCo ----------------------------------------------------------------


def test_an_emvco_payload_with_the_right_crc_is_accepted() -> None:
    """A CRC-valid VietQR payload whose tag 54 equals amount is accepted unchanged."""
    assert validate(payment(qrCode=vietqr("150000"), amount=150000)).qrCode == vietqr("150000")


def test_an_emvco_payload_with_a_wrong_crc_is_refused() -> None:
    """One wrong CRC digit makes the payload invalid."""
    qr = vietqr()
    bad = qr[:-1] + ("0" if qr[-1] != "0" else "1")
    msg = refused_at(payment(qrCode=bad), "qrCode")
    assert "CRC" in msg


def test_an_emvco_payload_over_512_characters_is_refused() -> None:
    """An EMVCo payload is at most 512 characters."""
    fields = [("00", "01")] + [(str(80 + i), "X" * 99) for i in range(5)]
    qr = emvco.build(fields)
    assert len(qr) > 512
    refused_at(payment(qrCode=qr), "qrCode")


def test_an_emvco_amount_that_differs_from_amount_is_refused() -> None:
    """Tag 54 must equal amount, else 422 on qrCode."""
    msg = refused_at(payment(qrCode=vietqr("150000"), amount=150001), "qrCode")
    assert "tag 54" in msg


@pytest.mark.parametrize("tag54", ["150000", "150000.00", "150000.0", "0150000"])
def test_an_emvco_amount_equal_as_a_number_is_accepted(tag54: str) -> None:
    """150000 and 150000.00 both equal the amount 150000."""
    assert validate(payment(qrCode=vietqr(tag54), amount=150000)).amount == 150000


def test_an_emvco_amount_with_a_fraction_never_equals_an_integer_amount() -> None:
    """150000.50 is not 150000 (nor 150001)."""
    refused_at(payment(qrCode=vietqr("150000.50"), amount=150000), "qrCode")


@pytest.mark.parametrize("tag54", ["1.5e5", "150_000", "+150000"])
def test_an_emvco_amount_in_another_notation_is_refused(tag54: str) -> None:
    """Tag 54 is plain digits, so a wallet cannot read another amount than the one shown."""
    refused_at(payment(qrCode=vietqr(tag54), amount=150000), "qrCode")


def test_an_emvco_payload_without_an_amount_accepts_any_amount() -> None:
    """A static QR (no tag 54) agrees with every amount."""
    assert validate(payment(qrCode=vietqr(None), amount=42)).amount == 42


def test_an_emvco_currency_other_than_704_is_refused() -> None:
    """Tag 53, when present, must be 704 (VND)."""
    msg = refused_at(payment(qrCode=vietqr(currency="840")), "qrCode")
    assert "704" in msg


def test_an_emvco_payload_without_a_currency_is_accepted() -> None:
    """Tag 53 is optional."""
    assert validate(payment(qrCode=vietqr(currency=None))).qrCode


def test_an_emvco_payload_with_a_bidi_override_is_refused() -> None:
    """Control and format characters are refused in an EMVCo payload too, even with a valid CRC."""
    qr = emvco.build([("00", "01"), ("54", "150000"), ("59", "AN\u202eTEXT")])
    refused_at(payment(qrCode=qr), "qrCode")


# --- merchant ---------------------------------------------------------------------


def test_merchant_is_nfc_normalized_and_trimmed() -> None:
    """A decomposed, padded name is stored composed (NFC) and trimmed."""
    decomposed = "  Cu\u031b\u0309a ha\u0300ng An \t"
    data = validate(payment(merchant=decomposed))
    assert data.merchant == "Cửa hàng An"


def test_merchant_length_counts_characters_after_nfc() -> None:
    """120 characters after NFC is the limit, however many code points came in."""
    decomposed = "e\u0301" * 120  # 240 code points, 120 after NFC
    assert validate(payment(merchant=decomposed)).merchant == "é" * 120


def test_a_merchant_of_120_characters_is_accepted() -> None:
    """120 characters is the longest merchant."""
    assert validate(payment(merchant="M" * 120)).merchant == "M" * 120


def test_a_merchant_of_121_characters_is_refused() -> None:
    """121 characters is one too many."""
    msg = refused_at(payment(merchant="M" * 121), "merchant")
    assert "120" in msg


def test_padding_does_not_count_towards_the_merchant_length() -> None:
    """Trimming happens before the length check."""
    assert validate(payment(merchant="  " + "M" * 120 + "  ")).merchant == "M" * 120


@pytest.mark.parametrize("merchant", ["", "   ", "\u3000", "\t\n"])
def test_an_empty_merchant_is_refused(merchant: str) -> None:
    """A merchant that is empty after trimming is refused."""
    refused_at(payment(merchant=merchant), "merchant")


def test_a_missing_merchant_is_refused() -> None:
    """merchant is required."""
    refused_at(payment(merchant=...), "merchant")


@pytest.mark.parametrize(
    ("char", "category"),
    [
        ("\x07", "Cc"),
        ("\x1b", "Cc"),
        ("\x7f", "Cc"),
        ("\u0085", "Cc"),
        ("\u202e", "Cf"),
        ("\u200b", "Cf"),
        ("\u2066", "Cf"),
        ("\ufeff", "Cf"),
        ("\ud800", "Cs"),
        ("\ue000", "Co"),
        ("\U000f0000", "Co"),
        ("\u0378", "Cn"),
        ("\U000e0080", "Cn"),
    ],
    ids=[
        "bell",
        "escape",
        "delete",
        "next-line",
        "rlo",
        "zwsp",
        "lri",
        "bom",
        "surrogate",
        "private-use",
        "plane-15",
        "unassigned",
        "unassigned-tag",
    ],
)
def test_a_merchant_with_a_forbidden_character_is_refused(char: str, category: str) -> None:
    """No character of category Cc, Cf, Cs, Co or Cn may appear in merchant."""
    import unicodedata

    assert unicodedata.category(char) == category
    msg = refused_at(payment(merchant=f"Shop{char}An"), "merchant")
    assert category in msg


def test_a_tab_inside_the_merchant_is_refused() -> None:
    """Inner controls are refused; only the ends are trimmed."""
    refused_at(payment(merchant="Shop\tAn"), "merchant")


def test_a_merchant_that_is_not_a_string_is_refused() -> None:
    """merchant must be a string."""
    refused_at(payment(merchant=123), "merchant")


# --- amount -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount",
    [1000.0, "1000", True, False, None, 0, -1, 1.5, [1000]],
    ids=["float", "string", "true", "false", "null", "zero", "negative", "fraction", "list"],
)
def test_an_amount_that_is_not_a_positive_integer_is_refused(amount: Any) -> None:
    """Floats (even 1000.0), strings, booleans and non-positive integers are not amounts."""
    refused_at(payment(qrCode=vietqr(None), amount=amount), "amount")


def test_amount_bounds_are_one_and_max_amount() -> None:
    """1 and payload.max_amount are both accepted."""
    assert validate(payment(qrCode=vietqr(None), amount=1)).amount == 1
    assert validate(payment(qrCode=vietqr(None), amount=50_000_000)).amount == 50_000_000


def test_an_amount_over_max_amount_is_refused() -> None:
    """payload.max_amount + 1 is refused (default 50000000)."""
    refused_at(payment(qrCode=vietqr(None), amount=50_000_001), "amount")


def test_max_amount_comes_from_the_settings() -> None:
    """A lower payload.max_amount lowers the limit."""
    assert validate(payment(qrCode=vietqr(None), amount=1000), max_amount=1000).amount == 1000
    refused_at(payment(qrCode=vietqr(None), amount=1001), "amount", max_amount=1000)


def test_a_missing_amount_is_refused() -> None:
    """amount is required."""
    refused_at(payment(qrCode=vietqr(None), amount=...), "amount")


# --- currency ---------------------------------------------------------------------


def test_a_currency_outside_payload_currencies_is_refused() -> None:
    """By default only VND is accepted."""
    refused_at(payment(currency="USD"), "currency")
    refused_at(payment(currency="vnd"), "currency")


def test_payload_currencies_widens_the_accepted_currencies() -> None:
    """Every currency listed in payload.currencies is accepted."""
    data = validate(payment(currency="USD"), currencies=["VND", "USD"])
    assert data.currency == "USD"


def test_a_currency_that_is_not_a_string_is_refused() -> None:
    """currency is a string code, not the numeric 704."""
    refused_at(payment(currency=704), "currency")


# --- orderId ----------------------------------------------------------------------


@pytest.mark.parametrize("order_id", ["A-1024", "a_b.c:d-9", "X" * 64, "0"])
def test_an_order_id_of_the_allowed_characters_is_accepted(order_id: str) -> None:
    """orderId is 1-64 characters of [A-Za-z0-9_.:-]."""
    assert validate(payment(orderId=order_id)).orderId == order_id


@pytest.mark.parametrize(
    "order_id",
    ["", "X" * 65, "A 1024", "A/1024", "A-1024\n", "Đơn-1", "A\u202e1", "<script>"],
    ids=["empty", "65", "space", "slash", "newline", "non-ascii", "bidi", "markup"],
)
def test_an_order_id_outside_the_pattern_is_refused(order_id: str) -> None:
    """Anything else (including a trailing newline) is refused."""
    refused_at(payment(orderId=order_id), "orderId")


# --- description ------------------------------------------------------------------


def test_a_description_of_255_characters_is_accepted() -> None:
    """255 characters is the longest description."""
    assert validate(payment(description="d" * 255)).description == "d" * 255


def test_a_description_of_256_characters_is_refused() -> None:
    """256 characters is one too many."""
    refused_at(payment(description="d" * 256), "description")


def test_description_follows_the_merchant_character_rules() -> None:
    """description is trimmed and NFC-normalized, and refuses bidi overrides."""
    assert validate(payment(description="  Cu\u031b\u0309a ")).description == "Cửa"
    refused_at(payment(description="abc\u202edef"), "description")
    refused_at(payment(description="   "), "description")


# --- expiresAt --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("2026-11-24T10:10:00Z", "2026-11-24T10:10:00.000Z"),
        ("2026-11-24T10:10:00z", "2026-11-24T10:10:00.000Z"),
        ("2026-11-24T17:10:00+07:00", "2026-11-24T10:10:00.000Z"),
        ("2026-11-24T10:10:00.123456+00:00", "2026-11-24T10:10:00.123Z"),
        ("2026-11-24T10:10:00.5Z", "2026-11-24T10:10:00.500Z"),
        ("2026-11-25T01:00:00+14:00", "2026-11-24T11:00:00.000Z"),
        ("0500-01-01T00:00:00Z", "0500-01-01T00:00:00.000Z"),
    ],
)
def test_expires_at_is_normalized_to_utc_with_milliseconds(given: str, normalized: str) -> None:
    """Any ISO 8601 time with an offset becomes YYYY-MM-DDTHH:MM:SS.mmmZ in UTC."""
    assert validate(payment(expiresAt=given)).expiresAt == normalized


@pytest.mark.parametrize(
    "given",
    [
        "2026-11-24T10:10:00",
        "2026-11-24",
        "tomorrow",
        "",
        "2026-13-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
    ],
    ids=["naive", "date-only", "words", "empty", "month-13", "before-year-1", "after-9999"],
)
def test_an_expires_at_that_is_not_an_aware_iso_time_is_refused(given: str) -> None:
    """A naive time (no offset), a non-time, or one outside years 1-9999 in UTC is refused."""
    refused_at(payment(expiresAt=given), "expiresAt")


def test_an_expires_at_given_as_a_number_is_refused() -> None:
    """expiresAt is an ISO 8601 string, not an epoch number."""
    refused_at(payment(expiresAt=1_790_000_000), "expiresAt")


# --- deeplink ---------------------------------------------------------------------


def test_a_momo_deeplink_is_accepted() -> None:
    """momo:// URLs are always accepted."""
    link = "momo://app?action=payWithApp&amount=150000"
    assert validate(payment(deeplink=link)).deeplink == link


def test_an_https_deeplink_is_refused_when_its_host_is_not_listed() -> None:
    """With payload.deeplink_hosts empty (the default), https:// links are refused."""
    refused_at(payment(deeplink="https://pay.example.com/checkout"), "deeplink")


def test_an_https_deeplink_on_a_listed_host_is_accepted() -> None:
    """An https:// link whose host is in payload.deeplink_hosts is accepted."""
    link = "https://pay.example.com/checkout?id=1"
    assert validate(payment(deeplink=link), deeplink_hosts=["pay.example.com"]).deeplink == link


def test_deeplink_host_matching_ignores_case_in_the_link() -> None:
    """Hosts are case-insensitive: PAY.example.com is pay.example.com."""
    link = "https://PAY.example.com/checkout"
    assert validate(payment(deeplink=link), deeplink_hosts=["pay.example.com"]).deeplink


def test_deeplink_host_matching_ignores_case_in_the_settings() -> None:
    """A host configured as Pay.Example.com matches links to pay.example.com."""
    link = "https://pay.example.com/checkout"
    assert validate(payment(deeplink=link), deeplink_hosts=["Pay.Example.com"]).deeplink


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.example.net/",
        "https://pay.example.com.evil.example.net/",
        "https://evil.example.net/?pay.example.com",
        "http://pay.example.com/checkout",
        "https://user:pw@pay.example.com/",
        "https://pay.example.com@evil.example.net/",
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "momo:pay?amount=1",
        "//pay.example.com/",
        "https://pay.example.com/a b",
        "https://pay.example.com/\u202e",
        "momo://x" + "a" * 2041,
    ],
    ids=[
        "other-host",
        "suffix-host",
        "host-in-query",
        "http",
        "credentials",
        "userinfo-trick",
        "javascript",
        "data",
        "momo-without-slashes",
        "scheme-relative",
        "space",
        "bidi",
        "2049-chars",
    ],
)
def test_any_other_deeplink_is_refused(link: str) -> None:
    """Other hosts, other schemes, credentials, spaces and over-long links are refused."""
    refused_at(payment(deeplink=link), "deeplink", deeplink_hosts=["pay.example.com"])


def test_a_deeplink_of_2048_characters_is_accepted() -> None:
    """2048 characters is the longest deeplink."""
    link = "momo://x" + "a" * 2040
    assert len(link) == 2048
    assert validate(payment(deeplink=link)).deeplink == link


# --- fields outside §3 ------------------------------------------------------------


def test_an_unknown_field_is_refused_by_default() -> None:
    """With payload.allow_extra_fields false, an unknown field is named and refused."""
    refused_at(payment(note="hello"), "note")


def test_field_names_are_case_sensitive() -> None:
    """A field named Amount is not amount: it is an unknown field."""
    refused_at(payment(Amount=150000), "Amount")


@pytest.mark.parametrize("value", ["n" * 255, 42, 1.5, -3, True, False, ""])
def test_extra_scalars_are_kept_when_allowed(value: Any) -> None:
    """With allow_extra_fields, strings up to 255 chars, numbers and booleans are kept."""
    data = validate(payment(note=value), allow_extra_fields=True)
    assert data.broadcast()["note"] == value


@pytest.mark.parametrize(
    "value",
    ["n" * 256, {"a": 1}, [1, 2], None],
    ids=["string-256", "object", "array", "null"],
)
def test_extra_fields_other_than_short_scalars_are_refused_even_when_allowed(value: Any) -> None:
    """Long strings, objects, arrays and null are refused under allow_extra_fields."""
    refused_at(payment(note=value), "note", allow_extra_fields=True)


@pytest.mark.parametrize("allow", [False, True])
def test_seq_is_always_refused(allow: bool) -> None:
    """seq is reserved for the gateway, whatever allow_extra_fields says."""
    msg = refused_at(payment(seq=1), "seq", allow_extra_fields=allow)
    assert "reserved" in msg


def test_unknown_fields_are_named_along_with_field_errors() -> None:
    """An unknown field is reported in the same answer as a bad known field."""
    errors = refusal(payment(merchant="", note="x"))
    assert sorted(locs(errors)) == [["data", "merchant"], ["data", "note"]]


# --- several errors, and never echoing input -------------------------------------


def test_every_bad_field_is_reported_together() -> None:
    """One answer names each bad field, each once."""
    errors = refusal(
        {
            "qrCode": "javascript:alert(1)",
            "merchant": "",
            "amount": "1000",
            "currency": "USD",
            "orderId": "no spaces",
            "description": "x" * 300,
            "expiresAt": "2026-11-24T10:10:00",
            "deeplink": "http://example.com",
            "seq": 3,
            "extra": 1,
        }
    )
    assert sorted(map(tuple, locs(errors))) == sorted(
        ("data", name)
        for name in (
            "qrCode",
            "merchant",
            "amount",
            "currency",
            "orderId",
            "description",
            "expiresAt",
            "deeplink",
            "seq",
            "extra",
        )
    )


def test_missing_required_fields_are_each_named() -> None:
    """An empty data object names qrCode, merchant and amount."""
    assert sorted(locs(refusal({}))) == [
        ["data", "amount"],
        ["data", "merchant"],
        ["data", "qrCode"],
    ]


def test_data_that_is_not_an_object_is_refused_at_data() -> None:
    """data must be a JSON object."""
    assert locs(refusal(["not", "an", "object"])) == [["data"]]


MARK = "S3CR3T-VALUE-7f3a"


@pytest.mark.parametrize(
    "changes",
    [
        {"qrCode": "javascript:" + MARK},
        {"qrCode": "data:image/png;base64," + MARK},
        {"qrCode": "data:image/svg+xml," + MARK},
        {"qrCode": "000201" + MARK},
        {"merchant": MARK + "\u202e"},
        {"merchant": MARK * 20},
        {"amount": MARK},
        {"currency": MARK},
        {"orderId": MARK + " !"},
        {"description": MARK * 20},
        {"expiresAt": MARK},
        {"deeplink": "javascript:" + MARK},
        {"note": MARK},
        {"seq": MARK},
    ],
    ids=lambda changes: next(iter(changes)),
)
def test_error_messages_never_echo_the_input(changes: dict[str, Any]) -> None:
    """Neither msg, nor detail, nor the problem body repeats the refused value."""
    with pytest.raises(ValidationFailed) as info:
        validate(payment(**changes))
    assert MARK not in repr(info.value.errors)
    assert MARK not in info.value.detail
    assert MARK not in repr(info.value.problem())


def test_the_problem_body_carries_the_errors() -> None:
    """ValidationFailed renders as a 422 problem with errors [{loc, msg}]."""
    with pytest.raises(ValidationFailed) as info:
        validate(payment(amount=0))
    problem = info.value.problem()
    assert problem["status"] == 422
    assert problem["errors"] == info.value.errors
    assert "data.amount" in problem["detail"]


# --- the request bodies -----------------------------------------------------------


def test_payment_request_requires_a_token() -> None:
    """POST /api/payment without token names token."""
    with pytest.raises(ValidationFailed) as info:
        validate_body(PaymentRequest, {"data": payment()}, PayloadSettings())
    assert locs(info.value.errors) == [["token"]]


@pytest.mark.parametrize("model", [PaymentRequest, ClearRequest])
def test_a_token_of_any_length_or_content_passes_the_schema(model: type[Strict]) -> None:
    """A 4097-character or non-ASCII token is a string to verify (401), not a schema error
    (SPEC §11.1: never 422 for a token)."""
    for token in ("t" * 4097, "\ud800.a.b", "é"):
        body: dict[str, Any] = {"token": token}
        if model is PaymentRequest:
            body["data"] = payment()
        assert validate_body(model, body, PayloadSettings()).token == token


def test_payment_request_refuses_unknown_top_level_fields() -> None:
    """Fields beside token and data are refused, whatever allow_extra_fields says."""
    body = {"token": TOKEN, "data": payment(), "sessionId": "x"}
    with pytest.raises(ValidationFailed) as info:
        validate_body(PaymentRequest, body, PayloadSettings(allow_extra_fields=True))
    assert locs(info.value.errors) == [["sessionId"]]


@pytest.mark.parametrize("body", [[], "x", 1, None])
def test_a_body_that_is_not_an_object_is_refused(body: Any) -> None:
    """A JSON body that is not an object is a schema violation at the top level."""
    with pytest.raises(ValidationFailed) as info:
        validate_body(PaymentRequest, body, PayloadSettings())
    assert locs(info.value.errors) == [[]]


def test_clear_request_reason_defaults_to_cancelled() -> None:
    """Without reason, a clear is a cancellation."""
    request = validate_body(ClearRequest, {"token": TOKEN}, PayloadSettings())
    assert request.reason == "cancelled"


@pytest.mark.parametrize("reason", ["paid", "cancelled", "replaced"])
def test_clear_request_accepts_each_reason(reason: str) -> None:
    """reason is one of paid, cancelled, replaced."""
    assert validate_body(ClearRequest, {"token": TOKEN, "reason": reason}, PayloadSettings())


@pytest.mark.parametrize("reason", ["refunded", "PAID", "", None, 1])
def test_clear_request_refuses_any_other_reason(reason: Any) -> None:
    """Any other reason is refused at reason."""
    with pytest.raises(ValidationFailed) as info:
        validate_body(ClearRequest, {"token": TOKEN, "reason": reason}, PayloadSettings())
    assert locs(info.value.errors) == [["reason"]]


def test_clear_request_refuses_unknown_fields_and_a_missing_token() -> None:
    """A clear body needs token and takes nothing beside token and reason."""
    with pytest.raises(ValidationFailed) as info:
        validate_body(ClearRequest, {"reason": "paid", "data": {}}, PayloadSettings())
    assert sorted(locs(info.value.errors)) == [["data"], ["token"]]


def test_token_request_accepts_an_empty_object() -> None:
    """POST /api/token/generate takes an empty JSON object."""
    assert isinstance(validate_body(TokenRequest, {}, PayloadSettings()), TokenRequest)


def test_token_request_refuses_unknown_fields() -> None:
    """Every field is unknown to the token request today, and named."""
    with pytest.raises(ValidationFailed) as info:
        validate_body(TokenRequest, {"ttl": 60, "sessionId": "x"}, PayloadSettings())
    assert sorted(locs(info.value.errors)) == [["sessionId"], ["ttl"]]


# --- kept extra fields and what a 422 echoes (SPEC §11.2) ------------------------------

EXTRAS = PayloadSettings(allow_extra_fields=True)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("note", "bàn\u202e7"),
        ("note", "\ud800"),
        ("note\ud800", "x"),
        ("n\x00", "x"),
        ("x" * 65, "x"),
        ("big", 2**53),
        ("small", -(2**53)),
        ("payee", "MOMO"),
        ("seq", 1),
    ],
    ids=repr,
)
def test_kept_extra_fields_follow_the_text_rules(name: str, value: Any) -> None:
    """With allow_extra_fields, a kept field is broadcast as is: its name and text obey
    merchant's character rules, its integers I-JSON's range; payee and seq are reserved."""
    body = {"token": TOKEN, "data": {**payment(), name: value}}
    with pytest.raises(ValidationFailed) as info:
        validate_body(PaymentRequest, body, EXTRAS)
    assert all(error["loc"][0] == "data" for error in info.value.errors)
    printable = name.encode("utf-8", "backslashreplace").decode()[:64]
    assert ["data", printable if len(name) <= 64 else printable + "…"] in [
        error["loc"] for error in info.value.errors
    ]
    json.dumps(info.value.problem(), ensure_ascii=False).encode("utf-8")  # renderable


def test_kept_extra_fields_within_the_rules_are_kept() -> None:
    """Strings, floats, booleans and integers up to 2^53 - 1 are kept as sent."""
    extra = {"note": "Bàn 7", "ratio": 0.5, "vip": True, "points": 2**53 - 1}
    data = validate_body(PaymentRequest, {"token": TOKEN, "data": {**payment(), **extra}}, EXTRAS)
    assert {k: data.data.model_extra[k] for k in extra} == extra


def test_an_unknown_field_with_a_lone_surrogate_is_named_in_a_renderable_form() -> None:
    """The 422 names the field with the surrogate escaped, so the answer can be encoded."""
    body = {"token": TOKEN, "data": {**payment(), "x\ud800": 1}}
    with pytest.raises(ValidationFailed) as info:
        validate_body(PaymentRequest, body, PayloadSettings())
    assert ["data", "x\\ud800"] in [error["loc"] for error in info.value.errors]


def test_echoed_field_names_are_cut_to_64_characters() -> None:
    """A 300 KB field name is not sent back whole."""
    assert printable_loc("k" * 300_000) == "k" * 64 + "…"
    assert printable_loc(3) == 3
