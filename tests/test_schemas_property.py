"""Property-based tests of the payment payload of SPEC §3, as validate_body sees it."""

from __future__ import annotations

import base64
import binascii
import inspect
import string
import unicodedata
from base64 import b64encode
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from gateway import emvco, schemas, vietqr
from gateway.config import PayloadSettings
from gateway.errors import ValidationFailed
from gateway.schemas import (
    KNOWN_FIELDS,
    PNG_SIGNATURE,
    ClearRequest,
    PaymentData,
    PaymentRequest,
    Problem,
    Strict,
    TokenRequest,
    validate_body,
)
from gateway.wire import payment_data

TOKEN = "header.claims.signature"
DEFAULTS = PayloadSettings()
#: SPEC §3: controls, format characters, surrogates, private use, unassigned.
FORBIDDEN = ("Cc", "Cf", "Cs", "Co", "Cn")
DEEPLINK_HOST = "pay.example.vn"
ABSENT: Any = object()

#: Deterministic and fast: the same 200 examples on every run, no example database.
PROPERTY = settings(max_examples=200, deadline=None, derandomize=True)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def validate(data: Any, payload: PayloadSettings = DEFAULTS) -> PaymentData:
    """Validate ``{"token", "data"}``; return the validated data."""
    request = validate_body(PaymentRequest, {"token": TOKEN, "data": data}, payload)
    assert isinstance(request, PaymentRequest)
    return request.data


def refused_at(data: Any, field: str, payload: PayloadSettings = DEFAULTS) -> str:
    """Assert that ``data`` is refused at ``data.<field>`` and nowhere else; return the msg."""
    with pytest.raises(ValidationFailed) as info:
        validate(data, payload)
    errors = info.value.errors
    assert [err["loc"] for err in errors] == [["data", field]], errors
    msg: str = errors[0]["msg"]
    return msg


# --- strategies ---------------------------------------------------------------------

ALLOWED_CHARS = st.characters(exclude_categories=FORBIDDEN)
PADDING = st.text(st.sampled_from(" \u00a0\u2003\u3000"), max_size=3)
PRINTABLE_ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


def clean_texts(max_length: int) -> st.SearchStrategy[str]:
    """Text free of the forbidden categories, padded with spaces, possibly decomposed (NFD),
    and 1..max_length characters once NFC-normalized and trimmed."""
    core = st.text(ALLOWED_CHARS, min_size=1, max_size=max_length)
    form = st.sampled_from(["NFC", "NFD"])
    built = st.builds(
        lambda pre, text, post, how: pre + unicodedata.normalize(how, text) + post,
        PADDING,
        core,
        PADDING,
        form,
    )
    return built.filter(lambda text: 1 <= len(nfc(text).strip()) <= max_length)


#: Top-level EMVCo tags a random payload may carry: not 00 (the format indicator, always
#: first), 53/54 (currency and amount, drawn on purpose) nor 63 (the CRC, always last).
FREE_TAGS = [
    f"{tag:02d}" for tag in range(1, 100) if tag not in (53, 54, 63, 62) and not 26 <= tag <= 51
]
#: Merchant account templates and additional data (26-51, 62) are nested TLV: a random
#: payload carries well-formed ones, built like a NAPAS beneficiary or a tag 62.
TEMPLATE_TAGS = [f"{tag:02d}" for tag in (*range(26, 52), 62)]


def tlv(fields: dict[str, str]) -> str:
    return "".join(f"{tag}{len(value):02d}{value}" for tag, value in fields.items())


@st.composite
def emvco_payloads(draw: st.DrawFn, amount: int) -> str:
    """A CRC-valid EMVCo payload of random printable tags agreeing with ``amount`` (and VND)."""
    tags = draw(
        st.dictionaries(
            st.sampled_from(FREE_TAGS),
            st.text(PRINTABLE_ASCII, min_size=1, max_size=40),
            max_size=8,
        )
    )
    templates = draw(
        st.dictionaries(
            st.sampled_from(TEMPLATE_TAGS),
            st.dictionaries(
                st.sampled_from(["00", "01", "02", "08"]),
                st.text(PRINTABLE_ASCII, min_size=1, max_size=16),
                max_size=3,
            ).map(tlv),
            max_size=2,
        )
    )
    fields = [("00", "01"), *tags.items(), *templates.items()]
    if draw(st.booleans()):
        fields.append(("53", "704"))
    tag54 = draw(
        st.sampled_from(
            [None, str(amount), f"{amount}.00", f"{amount}.0", f"{amount}.", f"000{amount}"]
        )
    )
    if tag54 is not None:
        fields.append(("54", tag54))
    order = draw(st.permutations(fields[1:]))
    payload = emvco.build([fields[0], *order])
    assert len(payload) <= emvco.MAX_LENGTH
    return payload


PNG_URIS = st.binary(max_size=64).map(
    lambda tail: "data:image/png;base64," + b64encode(PNG_SIGNATURE + tail).decode("ascii")
)

OFFSETS = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
MOMENTS = st.datetimes(
    min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=OFFSETS
)
URL_CHARS = string.ascii_letters + string.digits + "-._~:/?#@!$&'()*+,;=%"
DEEPLINKS = st.one_of(
    st.text(st.sampled_from(URL_CHARS), max_size=80).map(lambda rest: "momo://" + rest),
    st.tuples(
        st.sampled_from([DEEPLINK_HOST, DEEPLINK_HOST.upper(), "Pay.Example.VN"]),
        st.text(st.sampled_from(URL_CHARS), max_size=80),
    ).map(lambda parts: f"https://{parts[0]}/{parts[1]}"),
)
ORDER_IDS = st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True)


def utc_text(moment: datetime) -> str:
    """SPEC §2 time format, spelled out field by field: 2025-01-03T10:00:00.000Z."""
    u = moment.astimezone(UTC)
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
        f".{u.microsecond // 1000:03d}Z"
    )


def optional(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Absent, JSON null, or a value."""
    return st.one_of(st.just(ABSENT), st.none(), values)


@st.composite
def valid_payments(draw: st.DrawFn) -> tuple[PayloadSettings, dict[str, Any], dict[str, Any]]:
    """(settings, data, the expected wire object without seq) for a valid payment."""
    max_amount = draw(st.sampled_from([DEFAULTS.max_amount, 1, 10**12]) | st.integers(1, 10**9))
    payload = PayloadSettings(max_amount=max_amount, deeplink_hosts=(DEEPLINK_HOST,))
    amount = draw(st.integers(1, max_amount))
    qr = draw(emvco_payloads(amount) | PNG_URIS)
    merchant = draw(clean_texts(120))
    data: dict[str, Any] = {"qrCode": qr, "merchant": merchant, "amount": amount}
    expected: dict[str, Any] = {
        "qrCode": qr,
        "merchant": nfc(merchant).strip(),
        "amount": amount,
        "currency": "VND",
    }
    if draw(st.booleans()):
        data["currency"] = "VND"
    order_id = draw(optional(ORDER_IDS))
    description = draw(optional(clean_texts(255)))
    moment = draw(optional(MOMENTS))
    deeplink = draw(optional(DEEPLINKS))
    if order_id is not ABSENT:
        data["orderId"] = order_id
        if order_id is not None:
            expected["orderId"] = order_id
    if description is not ABSENT:
        data["description"] = description
        if description is not None:
            expected["description"] = nfc(description).strip()
    if moment is not ABSENT:
        if moment is None:
            data["expiresAt"] = None
        else:
            spelled = moment.isoformat()
            data["expiresAt"] = draw(st.sampled_from([spelled, spelled.replace("+00:00", "Z")]))
            expected["expiresAt"] = utc_text(moment)
    if deeplink is not ABSENT:
        data["deeplink"] = deeplink
        if deeplink is not None:
            expected["deeplink"] = deeplink
    return payload, data, expected


# --- a valid payment ------------------------------------------------------------------


@PROPERTY
@given(case=valid_payments(), seq=st.integers(1, 2**53))
def test_any_valid_payment_validates_and_round_trips(
    case: tuple[PayloadSettings, dict[str, Any], dict[str, Any]], seq: int
) -> None:
    """A valid payment validates to its normalized form; wire/model_dump re-validate unchanged."""
    payload, data, expected = case
    model = validate(data, payload)
    wire = orjson.loads(payment_data(model.broadcast(), 0).data(seq) or "")
    assert next(iter(wire)) == "seq"
    if not data["qrCode"].startswith("data:"):
        expected = {**expected, "payee": vietqr.payee(vietqr.describe(data["qrCode"]))}
    assert wire == {"seq": seq, **expected}
    assert model.merchant == nfc(data["merchant"]).strip()
    assert unicodedata.is_normalized("NFC", model.merchant)
    assert model.merchant == model.merchant.strip()
    # What is broadcast is valid input itself: through JSON and back it validates unchanged.
    again = validate(orjson.loads(orjson.dumps(model.model_dump(exclude_none=True))), payload)
    assert again == model
    assert orjson.loads(payment_data(again.broadcast(), 0).data(seq) or "") == wire


# --- forbidden characters -------------------------------------------------------------

FORBIDDEN_CHARS = st.one_of(
    st.sampled_from(["\u202e", "\u200b", "\x00", "\ue000", "\ud800", "\u0378", "\x07", "\t"]),
    st.characters(categories=FORBIDDEN),
)


@PROPERTY
@given(
    field=st.sampled_from(["merchant", "description"]),
    base=clean_texts(100),
    inserts=st.lists(st.tuples(FORBIDDEN_CHARS, st.integers(0, 300)), min_size=1, max_size=3),
)
def test_a_forbidden_character_anywhere_in_a_text_field_is_refused(
    field: str, base: str, inserts: list[tuple[str, int]]
) -> None:
    """Cc/Cf/Cs/Co/Cn characters inserted anywhere in merchant or description are refused there."""
    value = base
    for char, position in inserts:
        at = position % (len(value) + 1)
        value = value[:at] + char + value[at:]
    if any(char.isspace() for char, _ in inserts):
        # Whitespace controls (TAB, LF, NEL...) at the very ends are trimmed away before
        # the check, as test_schemas' "  Cu...An \t" example relies on; inside, they count.
        value = "A" + value + "Z"
    note(f"value={value!r}")
    data = {"qrCode": emvco.build([("00", "01")]), "merchant": "Shop", "amount": 1, field: value}
    msg = refused_at(data, field)
    assert "forbidden character" in msg
    named = {f"U+{ord(char):04X}" for char, _ in inserts}
    assert any(code in msg for code in named), msg


# --- amount -----------------------------------------------------------------------------

NON_INT_AMOUNTS = st.one_of(
    st.floats(),
    st.integers(-(10**9), 10**9).map(float),  # integral floats: 1000.0 is not an amount
    st.text(string.digits, min_size=1, max_size=12),
    st.integers(1, DEFAULTS.max_amount).map(str),
    st.booleans(),
    st.none(),
    st.lists(st.integers(1, 1000), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@PROPERTY
@given(amount=NON_INT_AMOUNTS)
def test_an_amount_that_is_not_an_int_is_refused(amount: Any) -> None:
    """Floats (integral ones too), digit strings, booleans, null, lists and objects are refused."""
    refused_at(
        {"qrCode": emvco.build([("00", "01")]), "merchant": "Shop", "amount": amount}, "amount"
    )


@PROPERTY
@given(
    max_amount=st.integers(1, 10**12),
    amount=st.integers(-(10**13), 10**13) | st.integers(-2, 2) | st.integers(10**15, 10**30),
)
def test_an_int_amount_is_accepted_exactly_from_one_to_max_amount(
    max_amount: int, amount: int
) -> None:
    """Integers 1..payload.max_amount are amounts; any other integer is refused at amount."""
    payload = PayloadSettings(max_amount=max_amount)
    data = {"qrCode": emvco.build([("00", "01")]), "merchant": "Shop", "amount": amount}
    if 1 <= amount <= max_amount:
        assert validate(data, payload).amount == amount
    else:
        refused_at(data, "amount", payload)


# --- EMVCo payloads ---------------------------------------------------------------------


def emv_acceptable(qr: str, amount: int) -> bool:
    """Whether ``qr`` is a payload §3 accepts for ``amount``, decided by gateway.emvco
    (structure, CRC) and gateway.vietqr (the nested templates) themselves."""
    if any(unicodedata.category(ch) in FORBIDDEN for ch in qr):
        return False
    try:
        described = vietqr.describe(qr)
    except emvco.EMVError:
        return False
    return described.amount in (None, amount) and (described.currency or "704") == "704"


@st.composite
def emvco_payments(draw: st.DrawFn) -> tuple[int, str]:
    amount = draw(st.integers(1, DEFAULTS.max_amount))
    return amount, draw(emvco_payloads(amount))


@PROPERTY
@given(case=emvco_payments(), data=st.data())
def test_an_emvco_payload_validates_iff_its_crc_is_intact(
    case: tuple[int, str], data: st.DataObject
) -> None:
    """Built payloads validate; any one-character change is refused at qrCode unless it is valid."""
    amount, qr = case
    payment = {"qrCode": qr, "merchant": "Shop", "amount": amount}
    assert validate(payment).qrCode == qr

    at = data.draw(st.integers(0, len(qr) - 1), label="position")
    ascii_only = data.draw(st.booleans(), label="ascii_only")
    alphabet = PRINTABLE_ASCII if ascii_only else st.characters(exclude_categories=["Cs"])
    char = data.draw(alphabet.filter(lambda c: c != qr[at]), label="replacement")
    mutated = qr[:at] + char + qr[at + 1 :]

    if emv_acceptable(mutated, amount):
        assert validate({**payment, "qrCode": mutated}).qrCode == mutated
    else:
        msg = refused_at({**payment, "qrCode": mutated}, "qrCode")
        assert "EMVCo" in msg
    if ascii_only:
        # One byte changed is a burst CRC-16 always detects: the only single ASCII
        # substitution still accepted is a hex letter of the CRC itself in lowercase.
        crc_case_only = mutated[:-4] == qr[:-4] and mutated[-4:].upper() == qr[-4:]
        assert emv_acceptable(mutated, amount) == crc_case_only


# --- arbitrary JSON never crashes validation ---------------------------------------------

FIELD_NAMES = sorted(KNOWN_FIELDS | {"seq", "token", "data", "reason"})
KEYS = st.sampled_from(FIELD_NAMES) | st.text(max_size=12)
#: Values at the edges of each §3 rule, so that every branch of every validator is reached.
EDGES: dict[str, list[Any]] = {
    "qrCode": [
        emvco.build([("00", "01"), ("54", "1000")]),
        emvco.build([("00", "01"), ("53", "840")]),
        emvco.build([("00", "01"), ("54", "1e3")]),
        emvco.build([("00", "01"), ("54", "")]),
        emvco.build([("00", "01"), ("59", "\u202e")]),
        emvco.build([("00", "01"), ("59", "x" * 99), ("60", "x" * 99)]) + "0" * 300,
        emvco.build([("00", "01")]).lower(),
        "000201" + "6304ABCD",
        "000201",
        "data:image/png;base64,iVBORw0KGgo=",
        "data:image/png;base64,!!!!",
        "data:image/png;base64,\u00e9",
        "data:image/png;base64," + "A" * 400,
        "data:image/svg+xml,<svg/>",
        "javascript:alert(1)",
    ],
    "merchant": ["", " ", "\u3000", "\u202e", "e\u0301" * 121, "M" * 121, "Shop\tAn"],
    "amount": [0, -1, 1, 50_000_000, 50_000_001, 2**64, 1.0, "1000", True, None],
    "currency": ["VND", "USD", "vnd", ""],
    "orderId": ["A-1024", "", "x" * 65, "a b", "\u00fc"],
    "description": ["", "d" * 256, "\u200b"],
    "expiresAt": [
        "2026-11-24T10:00:00Z",
        "2026-11-24 10:00:00+07",
        "2026-11-24T10:00:00.123456789Z",
        "2026-11-24T10:00:00",
        "2026-13-01T00:00:00Z",
        "2026-11-24T10:00:00\x00+07:00",
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00+01:00",
    ],
    "deeplink": [
        "momo://pay",
        "momo:pay",
        "https://pay.example.vn/x",
        "https://PAY.example.vn:99999/x",
        "https://user:pw@pay.example.vn/x",
        "https://[::1",
        "https://[::1]/x",
        "https://evil.example/x",
        "http://pay.example.vn/x",
        "momo://" + "x" * 2042,
    ],
    "reason": ["paid", "cancelled", "replaced", "PAID"],
    "seq": [1],
}
INTERESTING = st.sampled_from([value for values in EDGES.values() for value in values])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=40), INTERESTING
)


def json_containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=6)


JSON_VALUES = st.recursive(SCALARS, json_containers, max_leaves=20)
#: Deferred, so that one_of does not flatten it: a field's own edges get half the draws.
ANY_VALUE = st.deferred(lambda: JSON_VALUES)


def field_values(name: str) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(EDGES[name]), ANY_VALUE)


#: Objects shaped like a payment: any of the §3 fields (and seq), each with an edge value
#: or any JSON value, plus a few other fields.
PAYMENT_SHAPED = st.builds(
    lambda fields, extras: {**extras, **fields},
    st.fixed_dictionaries(
        {}, optional={name: field_values(name) for name in [*sorted(KNOWN_FIELDS), "seq"]}
    ),
    st.dictionaries(KEYS, JSON_VALUES, max_size=3),
)
#: Bodies shaped like a request: token, data and reason, plus a few other fields.
BODY_SHAPED = st.builds(
    lambda fields, extras: {**extras, **fields},
    st.fixed_dictionaries(
        {},
        optional={
            "token": st.text(max_size=20) | ANY_VALUE,
            "data": PAYMENT_SHAPED | ANY_VALUE,
            "reason": field_values("reason"),
        },
    ),
    st.dictionaries(KEYS, JSON_VALUES, max_size=2),
)
SETTINGS = st.sampled_from(
    [
        DEFAULTS,
        PayloadSettings(
            allow_extra_fields=True, currencies=("VND", "USD"), deeplink_hosts=(DEEPLINK_HOST,)
        ),
    ]
)
#: An echo is any run of more than 8 characters of an input string found in a message...
ECHO_WINDOW = 9
#: ...unless the gateway's own source spells that run out: then it is the gateway's wording
#: (a message such as "...like 2026-11-24T10:10:00.000Z", a Literal's "cancelled"), which an
#: input may happen to share.
GATEWAY_WORDING = inspect.getsource(schemas) + inspect.getsource(emvco)


def strings_in(value: Any) -> set[str]:
    """Every string value (not key) anywhere in ``value``."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return set().union(*(strings_in(item) for item in value))
    if isinstance(value, dict):
        return set().union(*(strings_in(item) for item in value.values()))
    return set()


def echoes(body: Any, messages: list[str]) -> set[str]:
    """Runs of ECHO_WINDOW characters of the input's strings that appear in ``messages``."""
    found = set()
    for text in strings_in(body):
        for start in range(len(text) - ECHO_WINDOW + 1):
            window = text[start : start + ECHO_WINDOW]
            if window not in GATEWAY_WORDING and any(window in msg for msg in messages):
                found.add(window)
    return found


def validate_anything(model: type[Strict], body: Any, payload: PayloadSettings) -> None:
    """validate_body accepts ``body`` or raises ValidationFailed with a well-formed problem."""
    try:
        result = validate_body(model, body, payload)
    except ValidationFailed as exc:
        refusal = exc
    else:
        assert isinstance(result, model)
        orjson.dumps(result.model_dump())
        return
    errors = refusal.errors
    assert errors, "ValidationFailed must name at least one field"
    for err in errors:
        assert set(err) == {"loc", "msg"}
        assert isinstance(err["loc"], list)
        assert all(isinstance(part, str | int) for part in err["loc"])
        assert isinstance(err["msg"], str)
        assert err["msg"]
    assert refusal.detail == "; ".join(
        f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in errors
    )
    problem = refusal.problem()
    assert problem["status"] == 422
    Problem.model_validate(problem)
    orjson.dumps(problem)  # what the transport renders must serialize
    assert not echoes(body, [err["msg"] for err in errors])


@PROPERTY
@given(data=PAYMENT_SHAPED | ANY_VALUE, token=st.text(max_size=20) | ANY_VALUE, payload=SETTINGS)
def test_arbitrary_json_as_data_is_accepted_or_refused_never_crashes(
    data: Any, token: Any, payload: PayloadSettings
) -> None:
    """Any JSON value as data (and as token) yields a result or a ValidationFailed, nothing else."""
    validate_anything(PaymentRequest, {"token": token, "data": data}, payload)


@PROPERTY
@given(
    model=st.sampled_from([PaymentRequest, ClearRequest, TokenRequest]),
    body=BODY_SHAPED | ANY_VALUE,
    payload=SETTINGS,
)
def test_arbitrary_json_as_the_body_is_accepted_or_refused_never_crashes(
    model: type[Strict], body: Any, payload: PayloadSettings
) -> None:
    """Any JSON value as a whole request body yields a result or a ValidationFailed."""
    validate_anything(model, body, payload)


def _b64decode_validated(text: str) -> bytes | None:
    """The rule check_png_data_uri used to apply: base64.b64decode(validate=True)."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


@PROPERTY
@given(
    st.one_of(
        st.binary(max_size=64).map(lambda raw: b64encode(PNG_SIGNATURE + raw).decode("ascii")),
        st.text(alphabet="ABCDiVBORw0KGgo+/=\n -_é", max_size=40),
        st.binary(max_size=48)
        .map(lambda raw: b64encode(raw).decode("ascii"))
        .flatmap(
            lambda good: st.integers(0, len(good)).map(lambda cut: good[:cut] + "=" + good[cut:])
        ),
    )
)
def test_the_png_check_reads_base64_as_strictly_as_b64decode_validate(encoded: str) -> None:
    """check_png_data_uri decodes in C (binascii strict mode) what b64decode(validate=True)
    accepted: the same texts pass, the same are refused."""
    decoded = _b64decode_validated(encoded)
    expected_ok = decoded is not None and decoded.startswith(PNG_SIGNATURE)
    try:
        schemas.check_png_data_uri(schemas.PNG_PREFIX + encoded, max_bytes=400_000)
    except ValueError:
        ok = False
    else:
        ok = True
    assert ok == expected_ok
