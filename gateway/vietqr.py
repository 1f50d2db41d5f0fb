"""What an EMVCo payment QR says about who will be paid: the one VietQR parser of the gateway.

The QR code is the ground truth of a payment: whatever the page around it claims, the
customer's app pays the account the code names. :func:`describe` reads that from a
payload :func:`gateway.emvco.parse` has already accepted (structure and CRC), walking
the nested templates it interprets:

- Merchant account templates (tags 26–51), each a TLV whose sub-tag ``00`` is a GUID.
  ``A000000727`` is NAPAS VietQR: sub-tag ``01`` holds ``00`` the acquirer BIN and
  ``01`` the account or card number (``02`` is the service, ``QRIBFTTA`` to an
  account, ``QRIBFTTC`` to a card). ``A000000775`` is VNPay-QR: sub-tag ``01`` is the
  merchant id. The first template with a known GUID names the provider; a payload
  with none is plain ``EMVCO``.
- A VietQR template must name its beneficiary: a 6-digit BIN and an account.
- MoMo's and ZaloPay's "QR đa năng" are VietQR codes to a wallet's account at BVBank
  (BIN 970454): the account number shows which wallet (``99MM…`` MoMo, ``99ZP…``
  ZaloPay), so the provider says the wallet rather than the bank.
- Tag 62 (additional data): ``01`` the bill number, ``08`` the purpose.

A template that is not well-formed TLV makes the payload invalid
(:class:`gateway.emvco.EMVError`): a code whose beneficiary cannot be read must not be
shown to a customer as payable. The extension applies the same rules in TypeScript
(``extension/src/shared/vietqr.ts``), with the same BIN table
(``gateway/data/napas_bins.json``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cache, lru_cache
from importlib import resources
from typing import Any, Literal

from . import emvco
from .emvco import EMVError

Provider = Literal["VIETQR", "VNPAY", "MOMO", "ZALOPAY", "EMVCO"]

NAPAS_GUID = "A000000727"
VNPAY_GUID = "A000000775"
#: Merchant account information templates (EMV QRCPS §4.6.1).
ACCOUNT_TEMPLATES = tuple(f"{tag:02d}" for tag in range(26, 52))
ADDITIONAL_DATA = "62"
#: (acquirer BIN, account prefix) → the wallet whose account it is.
WALLETS: dict[tuple[str, str], Provider] = {
    ("970454", "99MM"): "MOMO",
    ("970454", "99ZP"): "ZALOPAY",
}
MASK = "••••"
BIN = re.compile(r"[0-9]{6}")


@dataclass(frozen=True, slots=True)
class PaymentQR:
    """The parts of an EMVCo payment QR that say who is paid, how much and what for."""

    provider: Provider
    bank_bin: str | None
    account: str | None
    amount: Decimal | None
    currency: str | None
    merchant_name: str | None
    bill_number: str | None
    purpose: str | None


def parse_template(value: str, tag: str) -> dict[str, str]:
    """A nested TLV template; raise EMVError naming ``tag`` when it is malformed."""
    fields: dict[str, str] = {}
    pos = 0
    while pos < len(value):
        sub, length = value[pos : pos + 2], value[pos + 2 : pos + 4]
        if len(length) < 2 or not (sub + length).isascii() or not (sub + length).isdigit():
            raise EMVError(f"EMVCo template {tag} is malformed at position {pos}")
        end = pos + 4 + int(length)
        if end > len(value):
            raise EMVError(f"EMVCo template {tag}: field {sub} runs past its end")
        if sub in fields:
            raise EMVError(f"EMVCo template {tag}: field {sub} appears twice")
        fields[sub] = value[pos + 4 : end]
        pos = end
    return fields


@lru_cache(maxsize=1024)
def describe(payload: str) -> PaymentQR:
    """Parse ``payload`` (CRC and structure checked) and read its beneficiary and extras.

    Cached (payloads are at most 512 characters): validation asks for a payload's
    fields and its payee in two steps, and a publisher re-sends the same code.
    """
    fields = emvco.parse(payload)
    provider: Provider = "EMVCO"
    bank_bin = account = None
    for tag in ACCOUNT_TEMPLATES:
        if tag not in fields:
            continue
        template = parse_template(fields[tag], tag)
        if provider != "EMVCO":
            continue  # the first known template names the beneficiary; later ones are checked
        guid = template.get("00", "").upper()
        if guid == NAPAS_GUID:
            beneficiary = parse_template(template.get("01", ""), f"{tag}.01")
            bank_bin, account = beneficiary.get("00"), beneficiary.get("01")
            if not (bank_bin and BIN.fullmatch(bank_bin) and account):
                # Nobody can pay it: a customer's app would refuse it, so must we.
                raise EMVError(
                    f"EMVCo template {tag}: a VietQR code names a 6-digit BIN and an account"
                )
            provider = "VIETQR"
            for (wallet_bin, prefix), wallet in WALLETS.items():
                if bank_bin == wallet_bin and (account or "").upper().startswith(prefix):
                    provider = wallet
        elif guid == VNPAY_GUID:
            provider, account = "VNPAY", template.get("01")
    extra = parse_template(fields[ADDITIONAL_DATA], ADDITIONAL_DATA) if "62" in fields else {}
    return PaymentQR(
        provider=provider,
        bank_bin=bank_bin or None,
        account=account or None,
        amount=emvco.amount_of(fields),
        currency=fields.get("53"),
        merchant_name=fields.get("59") or None,
        bill_number=extra.get("01") or None,
        purpose=extra.get("08") or None,
    )


@cache
def bank_names() -> dict[str, str]:
    """BIN → the bank's short name (``gateway/data/napas_bins.json``)."""
    text = resources.files("gateway").joinpath("data/napas_bins.json").read_text("utf-8")
    table: dict[str, str] = {k: v for k, v in json.loads(text).items() if not k.startswith("_")}
    return table


def mask(account: str | None) -> str | None:
    """Only the last four characters of an account number leave the gateway."""
    return None if not account else MASK + account[-4:]


def payee(qr: PaymentQR) -> dict[str, Any]:
    """The ``payee`` of PAYMENT_DATA for an EMVCo ``qrCode`` (docs/protocol.md §3.5)."""
    return {
        "provider": qr.provider,
        "bankBin": qr.bank_bin,
        "bankName": bank_names().get(qr.bank_bin) if qr.bank_bin else None,
        "account": mask(qr.account),
        "merchantName": qr.merchant_name,
    }
