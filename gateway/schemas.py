"""Wire models: the payment payload (docs/protocol.md §3) and the request and response bodies (§2).

Validation is strict (no coercion: ``"1000"``, ``1000.0`` and ``true`` are not
amounts) and limits come from the ``payload`` settings passed as validation context,
so one model serves every configuration. The OpenAPI document is generated from
these models.
"""

from __future__ import annotations

import binascii
import re
import unicodedata
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from . import emvco, vietqr
from .config import PayloadSettings
from .errors import ValidationFailed
from .wire import format_time

PNG_PREFIX = "data:image/png;base64,"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ISO_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]{1,9})?)?"
    r"([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)?"
)
ORDER_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
#: Unicode categories refused in text fields (docs/protocol.md §3.1): controls, format characters
#: (bidi overrides, zero-width), surrogates, private use, unassigned.
FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
KNOWN_FIELDS = frozenset(
    {"qrCode", "merchant", "amount", "currency", "orderId", "description", "expiresAt", "deeplink"}
)


def _payload_settings(info: ValidationInfo) -> PayloadSettings:
    ctx = info.context
    if isinstance(ctx, dict) and isinstance(ctx.get("payload"), PayloadSettings):
        found: PayloadSettings = ctx["payload"]
        return found
    return PayloadSettings()


def clean_text(value: str, *, max_length: int) -> str:
    """NFC-normalize and trim ``value``; refuse empty, too long, or forbidden characters."""
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        raise ValueError("must not be empty")
    if len(text) > max_length:
        raise ValueError(f"must be at most {max_length} characters")
    for ch in text:
        if unicodedata.category(ch) in FORBIDDEN_CATEGORIES:
            raise ValueError(
                f"contains a forbidden character U+{ord(ch):04X} "
                f"(category {unicodedata.category(ch)})"
            )
    return text


def check_png_data_uri(value: str, max_bytes: int) -> None:
    encoded = value[len(PNG_PREFIX) :]
    # Refuse by length before decoding anything large.
    if len(encoded) > (max_bytes + 2) // 3 * 4:
        raise ValueError(f"PNG is larger than {max_bytes} bytes")
    try:
        # Strict: only the base64 alphabet, padding only at the end and correct (as
        # b64decode(validate=True), checked in C rather than by a regex over the text).
        raw = binascii.a2b_base64(encoded.encode("ascii"), strict_mode=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise ValueError("PNG data URI is not valid base64") from None
    if len(raw) > max_bytes:
        raise ValueError(f"PNG is larger than {max_bytes} bytes")
    if not raw.startswith(PNG_SIGNATURE):
        raise ValueError("data URI does not hold a PNG image (bad signature)")


class PaymentData(BaseModel):
    """The payment shown to the customer (docs/protocol.md §3); see ``allow_extra_fields``."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    qrCode: str = Field(
        description="PNG data URI (data:image/png;base64,...) or an EMVCo QR payload with CRC",
        max_length=400_000,
    )
    merchant: str = Field(description="1-120 characters after NFC and trimming")
    amount: int = Field(description="integer VND, 1..payload.max_amount")
    currency: str = Field(default="VND", description="one of payload.currencies")
    orderId: str | None = Field(default=None, description="up to 64 of [A-Za-z0-9_.:-]")
    description: str | None = Field(default=None, description="up to 255 characters")
    expiresAt: str | None = Field(
        default=None, description="ISO 8601 time when the QR stops being payable"
    )
    deeplink: str | None = Field(
        default=None, description="momo:// URL or https:// URL on payload.deeplink_hosts"
    )
    #: Who the EMVCo code pays, read from the code itself (never from the request).
    _payee: dict[str, Any] | None = PrivateAttr(default=None)

    @field_validator("merchant")
    @classmethod
    def _merchant(cls, value: str) -> str:
        return clean_text(value, max_length=120)

    @field_validator("description")
    @classmethod
    def _description(cls, value: str | None) -> str | None:
        return None if value is None else clean_text(value, max_length=255)

    @field_validator("amount")
    @classmethod
    def _amount(cls, value: int, info: ValidationInfo) -> int:
        maximum = _payload_settings(info).max_amount
        if not 1 <= value <= maximum:
            raise ValueError(f"must be an integer from 1 to {maximum}")
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str, info: ValidationInfo) -> str:
        allowed = _payload_settings(info).currencies
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    @field_validator("orderId")
    @classmethod
    def _order_id(cls, value: str | None) -> str | None:
        if value is not None and not ORDER_ID.fullmatch(value):
            raise ValueError("must be 1-64 characters of [A-Za-z0-9_.:-]")
        return value

    @field_validator("expiresAt")
    @classmethod
    def _expires_at(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # fromisoformat alone also takes odd forms (and a NUL before the offset).
        if not ISO_TIME.fullmatch(value):
            raise ValueError("must be an ISO 8601 time like 2026-11-24T10:10:00.000Z")
        try:
            moment = datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError:
            raise ValueError("must be an ISO 8601 time") from None
        if moment.tzinfo is None:
            raise ValueError("must carry a UTC offset or Z")
        try:
            return format_time(moment)
        except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
            raise ValueError("must be an ISO 8601 time between the years 1 and 9999") from None

    @field_validator("deeplink")
    @classmethod
    def _deeplink(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if len(value) > 2048:
            raise ValueError("must be at most 2048 characters")
        if any(unicodedata.category(ch) in FORBIDDEN_CATEGORIES or ch.isspace() for ch in value):
            raise ValueError("contains a control, format or space character")
        parts = urlsplit(value)
        if parts.scheme == "momo" and value[len("momo:") :].startswith("//"):
            return value
        # Host names are case-insensitive on both sides (RFC 3986 §3.2.2).
        hosts = {host.lower() for host in _payload_settings(info).deeplink_hosts}
        if parts.scheme == "https" and parts.hostname and parts.hostname.lower() in hosts:
            if parts.username is not None or parts.password is not None:
                raise ValueError("must not carry credentials")
            return value
        raise ValueError("must be a momo:// URL or an https:// URL on payload.deeplink_hosts")

    @field_validator("qrCode")
    @classmethod
    def _qr_code(cls, value: str, info: ValidationInfo) -> str:
        check_qr(value, _payload_settings(info).max_qr_bytes)
        return value

    @model_validator(mode="after")
    def _qr_agrees_and_extras(self, info: ValidationInfo) -> PaymentData:
        if not self.qrCode.startswith("data:"):
            qr = vietqr.describe(self.qrCode)  # parsed by the field check already: cached
            if qr.amount not in (None, self.amount):
                raise _field_error("qrCode", "the EMVCo amount (tag 54) differs from amount")
            if (qr.currency or "704") != "704":
                raise _field_error("qrCode", "the EMVCo currency (tag 53) is not 704 (VND)")
            self._payee = vietqr.payee(qr)
        errors = extra_field_errors(self.model_extra or {}, info)
        if errors:
            raise ValidationError.from_exception_data("PaymentData", errors)
        return self

    def broadcast(self) -> dict[str, Any]:
        """What viewers receive besides ``seq``: the validated fields, unset options
        dropped, and the ``payee`` an EMVCo code names (docs/protocol.md §3)."""
        out = self.model_dump(exclude_none=True)
        if self._payee is not None:
            out["payee"] = self._payee
        return out


def _line_error(name: str, msg: str) -> Any:
    return {"type": "value_error", "loc": (name,), "input": None, "ctx": {"error": msg}}


def _field_error(name: str, msg: str) -> ValidationError:
    return ValidationError.from_exception_data("PaymentData", [_line_error(name, msg)])


def check_qr(qr: str, max_bytes: int) -> None:
    """Accept a PNG data URI or a CRC-valid EMVCo payload; raise ValueError otherwise."""
    if qr.startswith("data:"):
        if not qr.startswith(PNG_PREFIX):
            raise ValueError("only data:image/png;base64 data URIs are accepted")
        check_png_data_uri(qr, max_bytes)
        return
    try:
        if any(unicodedata.category(ch) in FORBIDDEN_CATEGORIES for ch in qr):
            raise emvco.EMVError("EMVCo payload contains a control or format character")
        vietqr.describe(qr)  # the CRC, the amount's form and every template it reads
    except emvco.EMVError as exc:
        raise ValueError(f"neither a PNG data URI nor a valid EMVCo payload: {exc}") from None


#: Extra integers must survive every JSON reader: I-JSON's exact range (RFC 7493 §2.2).
MAX_SAFE_INTEGER = 2**53 - 1


def has_forbidden_character(text: str) -> bool:
    return any(unicodedata.category(ch) in FORBIDDEN_CATEGORIES for ch in text)


def extra_field_errors(extras: dict[str, Any], info: ValidationInfo | None) -> list[Any]:
    """Line errors for fields outside docs/protocol.md §3 under the ``allow_extra_fields`` policy.

    A kept field is broadcast as it came, so its name and value follow the character
    rules of ``merchant`` (no controls, format characters, surrogates, private use or
    unassigned code points) and its integers stay within I-JSON's exact range.
    """
    allowed = _payload_settings(info).allow_extra_fields if info else False
    errors = []
    for name, value in extras.items():
        if name == "seq":
            errors.append(_line_error(name, "seq is reserved for the gateway"))
        elif name == "payee":
            errors.append(_line_error(name, "payee is derived by the gateway from the QR"))
        elif not allowed:
            errors.append(_line_error(name, "unknown field (payload.allow_extra_fields is false)"))
        elif len(name) > 64 or has_forbidden_character(name):
            errors.append(_line_error(name, "extra field names are 1-64 printable characters"))
        elif isinstance(value, str) and len(value) > 255:
            errors.append(_line_error(name, "extra string fields may hold at most 255 characters"))
        elif isinstance(value, str) and has_forbidden_character(value):
            errors.append(_line_error(name, "contains a forbidden character"))
        elif isinstance(value, int) and abs(value) > MAX_SAFE_INTEGER:
            errors.append(_line_error(name, "extra integers must be within ±(2^53 - 1)"))
        elif not isinstance(value, str | bool | int | float):
            errors.append(_line_error(name, "extra fields must be a string, a number or a boolean"))
    return errors


#: A field name echoed in a 422 is cut to this many characters.
MAX_LOC_CHARS = 64


def printable_loc(part: str | int) -> str | int:
    """A location part as it can be sent back: UTF-8 encodable and short.

    Unknown field names come from the client; one may hold a lone surrogate (which no
    JSON encoder writes) or be 300 KB long.
    """
    if isinstance(part, int):
        return part
    safe = part.encode("utf-8", "backslashreplace").decode("utf-8")
    return safe if len(safe) <= MAX_LOC_CHARS else safe[:MAX_LOC_CHARS] + "…"


def problem_errors(exc: ValidationError, prefix: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """``[{loc, msg}]`` from a pydantic error, never echoing the input back."""
    out = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        msg = err["msg"].removeprefix("Value error, ")
        out.append({"loc": [printable_loc(p) for p in (*prefix, *err["loc"])], "msg": msg})
    return out


# --- request and response bodies --------------------------------------------


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class TokenRequest(Strict):
    """Body of ``POST /api/token/generate``: optional, an empty JSON object today."""


class PaymentRequest(Strict):
    # No length rule here: a token of any length or content is a credential that
    # fails verification (401), never a schema violation (docs/protocol.md §8).
    token: str = Field(description="the session token from /api/token/generate")
    data: PaymentData


class ClearRequest(Strict):
    token: str = Field(description="the session token from /api/token/generate")
    reason: Literal["paid", "cancelled", "replaced"] = "cancelled"


class TokenResponse(Strict):
    token: str
    url: str
    wsUrl: str
    sessionId: str
    expiresAt: str


class PublishResponse(Strict):
    ok: Literal[True] = True
    sessionId: str
    delivered: int
    seq: int


class SessionResponse(Strict):
    sessionId: str
    createdAt: str
    expiresAt: str
    hasData: bool
    viewers: int
    lastPublishedAt: str | None


class StatsResponse(Strict):
    sessions: int
    connections: int
    published: int
    delivered: int
    uptimeSeconds: float


class Payee(Strict):
    """Who an EMVCo ``qrCode`` pays, read from the code itself (docs/protocol.md §3.5)."""

    provider: Literal["VIETQR", "VNPAY", "MOMO", "ZALOPAY", "EMVCO"] = Field(
        description="the scheme (NAPAS VietQR, VNPay-QR), or the wallet whose bank account "
        "it is (MoMo, ZaloPay via BVBank), or EMVCO for any other"
    )
    bankBin: str | None = Field(description="the NAPAS acquirer BIN (tag 38)")
    bankName: str | None = Field(description="the BIN's bank, from the bundled NAPAS table")
    account: str | None = Field(description="the account or card, only its last 4 characters")
    merchantName: str | None = Field(description="tag 59 of the code")


class PaymentDataPayload(Strict):
    """The ``payload`` of a PAYMENT_DATA WebSocket message: the validated ``data``, ``seq``
    first, and ``payee`` when ``qrCode`` is an EMVCo payload (never for a PNG)."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    seq: int
    qrCode: str
    merchant: str
    amount: int
    currency: str
    orderId: str | None = None
    description: str | None = None
    expiresAt: str | None = None
    deeplink: str | None = None
    payee: Payee | None = None


class HealthResponse(Strict):
    status: Literal["ok", "unavailable"]
    broker: str | None = None
    detail: str | None = None


class ProblemError(Strict):
    loc: list[str | int]
    msg: str


class Problem(Strict):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemError] | None = None


def validate_body(model: type[Strict], data: Any, payload: PayloadSettings) -> Any:
    """Validate a parsed JSON body; raise :class:`ValidationFailed` naming each bad field."""
    try:
        return model.model_validate(data, context={"payload": payload})
    except ValidationError as exc:
        errors = problem_errors(exc)
    # Field errors stop the model's own extra-field check; run it so that every bad
    # field is named in one answer.
    inner = data.get("data") if model is PaymentRequest and isinstance(data, dict) else None
    if isinstance(inner, dict):
        extras = {k: v for k, v in inner.items() if k not in KNOWN_FIELDS}
        info = _Context(payload)
        for err in extra_field_errors(extras, info):  # type: ignore[arg-type]
            entry = {
                "loc": ["data", *(printable_loc(p) for p in err["loc"])],
                "msg": err["ctx"]["error"],
            }
            if entry not in errors:
                errors.append(entry)
    raise ValidationFailed(errors)


class _Context:
    """The slice of ValidationInfo that :func:`_payload_settings` reads."""

    def __init__(self, payload: PayloadSettings) -> None:
        self.context = {"payload": payload}
