"""The VietQR parser: who an EMVCo payment QR pays, table-driven over real-format payloads."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway import vietqr
from gateway.emvco import EMVError, build
from gateway.vietqr import PaymentQR, bank_names, describe, mask, payee


def tlv(*fields: tuple[str, str]) -> str:
    """A nested template: the TLV of ``fields`` without a CRC."""
    return "".join(f"{tag}{len(value):02d}{value}" for tag, value in fields)


def napas(bank_bin: str, account: str, service: str = "QRIBFTTA") -> str:
    """Tag 38 of a VietQR code: NAPAS GUID, then the beneficiary (BIN, account), service."""
    return tlv(
        ("00", "A000000727"), ("01", tlv(("00", bank_bin), ("01", account))), ("02", service)
    )


def code(*fields: tuple[str, str], dynamic: bool = True) -> str:
    """A whole payload: format indicator, initiation method, ``fields``, country, CRC."""
    head = [("00", "01"), ("01", "12" if dynamic else "11")]
    return build([*head, *fields, ("58", "VN")])


BANK_DYNAMIC = code(
    ("38", napas("970436", "0011004455")),
    ("52", "5812"),
    ("53", "704"),
    ("54", "150000"),
    ("59", "CUA HANG AN"),
    ("60", "HA NOI"),
    ("62", tlv(("01", "HD-1024"), ("08", "Thanh toan don A-1024"))),
)
BANK_STATIC = code(("38", napas("970415", "108004455123")), ("53", "704"), dynamic=False)
BANK_CARD = code(("38", napas("970418", "9704180012344321", "QRIBFTTC")), ("53", "704"))
MOMO_MULTI = code(
    ("38", napas("970454", "99MM24011M34875080")),
    ("53", "704"),
    ("54", "300000"),
    ("62", tlv(("08", "Thanh toan MoMo"))),
)
ZALOPAY_MULTI = code(("38", napas("970454", "99ZP24123A56781234")), ("53", "704"))
BVBANK_PLAIN = code(("38", napas("970454", "1234567895080")), ("53", "704"))
VNPAY = code(
    ("26", tlv(("00", "A000000775"), ("01", "0104000125678"))),
    ("52", "5411"),
    ("53", "704"),
    ("54", "89000.00"),
    ("59", "SIEU THI MINH"),
    ("62", tlv(("01", "INV778"), ("07", "POS01"))),
)
FOREIGN = code(("29", tlv(("00", "D840000000000001"), ("01", "MERCHANT-1"))), ("53", "704"))
TWO_TEMPLATES = code(
    ("26", tlv(("00", "A000000775"), ("01", "0104000125678"))),
    ("38", napas("970436", "0011004455")),
    ("53", "704"),
)

CASES = {
    "dynamic VietQR to a Vietcombank account": (
        BANK_DYNAMIC,
        PaymentQR(
            "VIETQR", "970436", "0011004455", Decimal(150000), "704", "CUA HANG AN",
            "HD-1024", "Thanh toan don A-1024",
        ),
    ),
    "static VietQR without amount": (
        BANK_STATIC,
        PaymentQR("VIETQR", "970415", "108004455123", None, "704", None, None, None),
    ),
    "VietQR to a card": (
        BANK_CARD,
        PaymentQR("VIETQR", "970418", "9704180012344321", None, "704", None, None, None),
    ),
    "MoMo QR đa năng (BVBank 99MM…)": (
        MOMO_MULTI,
        PaymentQR(
            "MOMO", "970454", "99MM24011M34875080", Decimal(300000), "704", None, None,
            "Thanh toan MoMo",
        ),
    ),
    "ZaloPay QR đa năng (BVBank 99ZP…)": (
        ZALOPAY_MULTI,
        PaymentQR("ZALOPAY", "970454", "99ZP24123A56781234", None, "704", None, None, None),
    ),
    "a plain BVBank account is the bank": (
        BVBANK_PLAIN,
        PaymentQR("VIETQR", "970454", "1234567895080", None, "704", None, None, None),
    ),
    "VNPay-QR": (
        VNPAY,
        PaymentQR(
            "VNPAY", None, "0104000125678", Decimal("89000.00"), "704", "SIEU THI MINH",
            "INV778", None,
        ),
    ),
    "an unknown scheme is plain EMVCo": (
        FOREIGN,
        PaymentQR("EMVCO", None, None, None, "704", None, None, None),
    ),
    "the first known template names the beneficiary": (
        TWO_TEMPLATES,
        PaymentQR("VNPAY", None, "0104000125678", None, "704", None, None, None),
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_describe_reads_the_beneficiary_and_extras(case: str) -> None:
    """Provider, BIN, account, amount, currency, merchant name, bill number and purpose."""
    payload, expected = CASES[case]
    assert describe(payload) == expected


def corrupt_crc(payload: str) -> str:
    last = payload[-1]
    return payload[:-1] + ("0" if last != "0" else "1")


BROKEN = {
    "a wrong CRC": corrupt_crc(BANK_DYNAMIC),
    "a truncated top-level field": BANK_DYNAMIC[:-12] + "6304",
    "tag 38 with a truncated sub-field": code(("38", tlv(("00", "A000000727")) + "0130000697")),
    "tag 38 beneficiary not TLV": code(("38", tlv(("00", "A000000727"), ("01", "970436X")))),
    "tag 62 not TLV": code(("38", napas("970436", "0011004455")), ("62", "0708A-1024")),
    "tag 62 with a field twice": code(("62", tlv(("01", "A")) + tlv(("01", "B")))),
    "a later template malformed": code(("38", napas("970436", "1")), ("40", "99")),
    "a sub-tag that is not digits": code(("38", "0A10A000000727")),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_payload_whose_templates_cannot_be_read_is_refused(case: str) -> None:
    """A wrong CRC, a truncated field, or a nested template that is not TLV: EMVError."""
    payload = BROKEN[case]
    if case == "a truncated top-level field":
        payload = payload[:-4] + vietqr.emvco.crc16(payload[:-4])
    with pytest.raises(EMVError):
        describe(payload)


def test_payee_masks_the_account_and_names_the_bank() -> None:
    """payee is SPEC §11.3's object: the account's last 4 characters, the BIN's bank name."""
    assert payee(describe(MOMO_MULTI)) == {
        "provider": "MOMO",
        "bankBin": "970454",
        "bankName": "BVBank",
        "account": "••••5080",
        "merchantName": None,
    }
    assert payee(describe(BANK_DYNAMIC))["bankName"] == "Vietcombank"
    assert payee(describe(BANK_DYNAMIC))["account"] == "••••4455"
    assert payee(describe(VNPAY))["bankName"] is None
    assert payee(describe(FOREIGN))["account"] is None


def test_an_unknown_bin_has_no_bank_name() -> None:
    """A BIN outside the bundled table keeps its number and a null name."""
    unknown = code(("38", napas("123456", "0011004455")), ("53", "704"))
    assert payee(describe(unknown))["bankName"] is None
    assert payee(describe(unknown))["bankBin"] == "123456"


def test_mask_keeps_only_the_last_four_characters() -> None:
    assert mask("0011004455") == "••••4455"
    assert mask("12") == "••••12"
    assert mask(None) is None
    assert mask("") is None


def test_the_bundled_bin_table_is_well_formed() -> None:
    """Six-digit BINs, unique names, the banks the tests and the README name."""
    table = bank_names()
    assert len(table) >= 60
    assert all(len(b) == 6 and b.isdigit() for b in table)
    assert len(set(table.values())) == len(table)
    assert table["970436"] == "Vietcombank"
    assert table["970454"] == "BVBank"
