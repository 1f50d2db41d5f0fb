"""EMVCo merchant-presented QR payloads (VietQR, MoMo): a TLV walk and the CRC check.

A payload is a run of ``ID(2 digits) LEN(2 digits) VALUE`` fields. It starts with the
payload format indicator ``000201`` and ends with the CRC field ``6304XXXX``, whose
value is CRC-16/CCITT-FALSE over everything before it, ``6304`` included (EMV QRCPS
§4.7.3). Only the structure, the CRC and the amount/currency tags are checked here:
account templates differ between MoMo and the banks.
"""

from __future__ import annotations

import binascii
import re
from decimal import Decimal

MAX_LENGTH = 512
#: Tag 54 is digits with an optional "." decimal mark (EMV QRCPS, Transaction Amount).
#: Decimal() alone would also take "1e5", "1_000", "+5" and padding, which a wallet
#: app may read as another amount than the one the viewer shows.
AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]*)?")


class EMVError(ValueError):
    """Raised when a string is not a well-formed EMVCo payload."""


def crc16(data: str) -> str:
    """CRC-16/CCITT-FALSE of ``data`` as four uppercase hex digits (check: "123456789" → 29B1)."""
    return format(binascii.crc_hqx(data.encode("utf-8"), 0xFFFF), "04X")


def parse(payload: str) -> dict[str, str]:
    """Walk the top-level TLV fields of ``payload`` after checking its CRC; return tag → value."""
    if len(payload) > MAX_LENGTH:
        raise EMVError(f"EMVCo payload longer than {MAX_LENGTH} characters")
    if not payload.startswith("000201"):
        raise EMVError("EMVCo payload must start with the format indicator 000201")
    if len(payload) < 8 or payload[-8:-4] != "6304":
        raise EMVError("EMVCo payload must end with the CRC field 6304XXXX")
    if crc16(payload[:-4]) != payload[-4:].upper():
        raise EMVError("EMVCo payload CRC does not match")
    fields: dict[str, str] = {}
    pos = 0
    while pos < len(payload):
        tag, length = payload[pos : pos + 2], payload[pos + 2 : pos + 4]
        if (
            len(length) < 2
            or not (tag.isdigit() and tag.isascii())
            or not (length.isdigit() and length.isascii())
        ):
            raise EMVError(f"EMVCo payload has a malformed field at position {pos}")
        end = pos + 4 + int(length)
        if end > len(payload):
            raise EMVError(f"EMVCo field {tag} runs past the end of the payload")
        if tag in fields:
            raise EMVError(f"EMVCo field {tag} appears twice")
        fields[tag] = payload[pos + 4 : end]
        pos = end
    if list(fields)[-1] != "63" or len(fields["63"]) != 4:
        raise EMVError("EMVCo CRC field 63 must be the last field, 4 characters long")
    return fields


def amount_of(fields: dict[str, str]) -> Decimal | None:
    """The transaction amount of tag 54, or None when the payload carries none."""
    if "54" not in fields:
        return None
    if not AMOUNT.fullmatch(fields["54"]):
        raise EMVError("EMVCo amount (tag 54) is not a number")
    return Decimal(fields["54"])


def build(fields: list[tuple[str, str]]) -> str:
    """Assemble a payload from (tag, value) pairs and append its CRC (used by tests and tools)."""
    body = "".join(f"{tag}{len(value):02d}{value}" for tag, value in fields) + "6304"
    return body + crc16(body)
