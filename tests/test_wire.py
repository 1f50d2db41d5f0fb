"""Every server message's shape, from gateway/wire.py, the one module that spells them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wsproto.frame_protocol import FrameProtocol

from gateway import wire

NOW = datetime(2026, 11, 24, 10, 0, 0, 120_000, tzinfo=UTC).timestamp()
TS = "2026-11-24T10:00:00.120Z"


def parsed(text: str) -> dict[str, object]:
    message = json.loads(text)
    assert isinstance(message, dict)
    assert list(message) == ["type", "ts", "payload"]
    return message


def test_times_are_iso_utc_with_milliseconds_and_z() -> None:
    """2025-01-03T10:00:00.000Z, whatever the offset; years before 1000 keep four digits."""
    plus7 = datetime(2025, 1, 3, 17, 0, tzinfo=timezone(timedelta(hours=7)))
    assert wire.format_time(plus7) == "2025-01-03T10:00:00.000Z"
    assert wire.format_time(datetime(999, 1, 1, tzinfo=UTC)) == "0999-01-01T00:00:00.000Z"
    assert wire.format_epoch(NOW) == TS


def test_session_info_carries_the_session_and_never_a_token() -> None:
    info = parsed(wire.session_info("s-1", NOW, NOW + 60, False, NOW))
    assert info == {
        "type": "SESSION_INFO",
        "ts": TS,
        "payload": {
            "sessionId": "s-1",
            "connectedAt": TS,
            "expiresAt": "2026-11-24T10:01:00.120Z",
            "hasData": False,
        },
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (wire.pong(NOW), {"type": "PONG", "ts": TS, "payload": {}}),
        (
            wire.error("unknown_type", "the only client message is PING", NOW),
            {
                "type": "ERROR",
                "ts": TS,
                "payload": {"code": "unknown_type", "message": "the only client message is PING"},
            },
        ),
        (
            wire.session_expired("s-1", NOW, NOW),
            {"type": "SESSION_EXPIRED", "ts": TS, "payload": {"sessionId": "s-1", "expiredAt": TS}},
        ),
    ],
    ids=["PONG", "ERROR", "SESSION_EXPIRED"],
)
def test_each_plain_message_has_its_payload(text: str, expected: dict[str, object]) -> None:
    assert parsed(text) == expected


def test_payment_data_is_serialized_once_and_numbered_by_the_broker() -> None:
    """The broker puts seq between head and tail; the kept payload is numbered alike."""
    numbered = wire.payment_data({"qrCode": "q", "amount": 5, "merchant": "Cửa hàng"}, NOW)
    assert parsed(numbered.text(42)) == {
        "type": "PAYMENT_DATA",
        "ts": TS,
        "payload": {"seq": 42, "qrCode": "q", "amount": 5, "merchant": "Cửa hàng"},
    }
    kept = numbered.data(42)
    assert kept is not None
    assert json.loads(kept) == {"seq": 42, "qrCode": "q", "amount": 5, "merchant": "Cửa hàng"}
    assert kept.startswith(wire.DATA_HEAD)
    assert wire.seq_of(kept) == 42


def test_a_late_joiner_gets_the_kept_payload_spliced_in() -> None:
    kept = wire.payment_data({"amount": 5}, NOW).data(7)
    assert kept is not None
    assert parsed(wire.late_join(kept, NOW + 1)) == {
        "type": "PAYMENT_DATA",
        "ts": "2026-11-24T10:00:01.120Z",
        "payload": {"seq": 7, "amount": 5},
    }


def test_payment_cleared_keeps_no_data() -> None:
    numbered = wire.payment_cleared("paid", NOW)
    assert parsed(numbered.text(3)) == {
        "type": "PAYMENT_CLEARED",
        "ts": TS,
        "payload": {"seq": 3, "reason": "paid"},
    }
    assert numbered.data(3) is None


def test_an_empty_payload_is_still_an_object() -> None:
    assert json.loads(wire.payment_data({}, NOW).text(1))["payload"] == {"seq": 1}


@pytest.mark.parametrize("bad", ["", '{"amount":5}', '{"seq":}', "[1]"])
def test_seq_of_refuses_what_is_not_a_kept_payload(bad: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (any refusal)
        wire.seq_of(bad)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_text_frame_is_the_frame_wsproto_writes(size: int) -> None:
    """The prepared broadcast frame is byte for byte a server's text frame.

    Sizes at each boundary of the three length encodings (7 bits, 16, 64).
    """
    text = "x" * size
    assert wire.text_frame(text) == bytes(
        FrameProtocol(client=False, extensions=[]).send_data(text)
    )


@given(st.text(max_size=300))
def test_text_frame_encodes_any_text_as_wsproto_does(text: str) -> None:
    assert wire.text_frame(text) == bytes(
        FrameProtocol(client=False, extensions=[]).send_data(text)
    )


def wsproto_frame(text: str) -> bytes:
    return bytes(FrameProtocol(client=False, extensions=[]).send_data(text))
