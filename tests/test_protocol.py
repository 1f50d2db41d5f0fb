"""The viewer protocol in process, rule by rule: no socket, no task, no gateway process."""

from __future__ import annotations

import json

import pytest

from gateway import wire
from gateway.hub import Farewell, Outgoing
from gateway.transport.protocol import CLIENT_GONE, ViewerProtocol
from gateway.transport.socket import DirectSend

NOW = 1_790_000_000.0


def protocol(max_chars: int = 4096) -> ViewerProtocol:
    return ViewerProtocol("s-1", max_chars=max_chars, clock=lambda: NOW)


def kind(reply: Outgoing | Farewell) -> str:
    assert isinstance(reply, Outgoing), reply
    assert reply.seq is None  # a reply, bounded by the quota rather than the queue
    message = json.loads(reply.text)
    return f"{message['type']} {message['payload'].get('code', '')}".strip()


# --- what the client sends --------------------------------------------------------------

TEXTS = {
    '{"type":"PING"}': "PONG",
    '{"type": "PING", "extra": 1}': "PONG",
    "not json": "ERROR invalid_json",
    '{"type":"PING"': "ERROR invalid_json",
    "[]": "ERROR invalid_message",
    '"PING"': "ERROR invalid_message",
    "{}": "ERROR invalid_message",
    '{"type": 1}': "ERROR invalid_message",
    '{"type": "ping"}': "ERROR unknown_type",
    '{"type": "SUBSCRIBE"}': "ERROR unknown_type",
    "": "ERROR invalid_json",
}


@pytest.mark.parametrize("text", sorted(TEXTS))
def test_text_messages_get_pong_or_an_error_and_the_connection_stays(text: str) -> None:
    """PING gets PONG; anything else gets ERROR with a code, and no farewell."""
    assert kind(protocol().receive_text(text, within_quota=True)) == TEXTS[text]


def test_an_error_never_echoes_the_client_input() -> None:
    reply = protocol().receive_text('{"type": "<script>SECRET</script>"}', within_quota=True)
    assert isinstance(reply, Outgoing)
    assert "SECRET" not in reply.text


FAREWELLS = {
    "over the quota": ('{"type":"PING"}', False, 4096, 4429),
    "one character over the limit": ("x" * 4097, True, 4096, 1009),
    "over the limit and the quota": ("x" * 4097, False, 4096, 1009),
    "multi-byte characters count once": ("é" * 4097, True, 4096, 1009),
}


@pytest.mark.parametrize("case", sorted(FAREWELLS))
def test_a_message_over_a_limit_ends_the_connection_before_it_is_answered(case: str) -> None:
    """The quota (4429) and the size in characters (1009) are checked before the JSON."""
    text, within_quota, max_chars, code = FAREWELLS[case]
    farewell = protocol(max_chars).receive_text(text, within_quota=within_quota)
    assert isinstance(farewell, Farewell)
    assert farewell.code == code


def test_a_message_of_exactly_the_limit_is_answered() -> None:
    frame = '{"type":"PING","pad":"' + '"}'
    text = frame[:-2] + "é" * (100 - len(frame)) + frame[-2:]
    assert len(text) == 100
    assert kind(protocol(100).receive_text(text, within_quota=True)) == "PONG"


def test_a_binary_frame_ends_the_connection_with_1003() -> None:
    assert ViewerProtocol.receive_bytes().code == 1003


@pytest.mark.parametrize(
    ("code", "expected"),
    [(None, 1006), (1000, 1006), (1001, 1006), (1005, 1006), (1002, 1002), (1007, 1007),
     (1009, 1009)],
)  # fmt: skip
def test_a_disconnect_is_the_client_gone_or_the_transports_close(
    code: int | None, expected: int
) -> None:
    """The transport's own closes keep their code (it sent the frame); others: gone."""
    farewell = ViewerProtocol.disconnected(code)
    assert farewell.code == expected
    assert (farewell is CLIENT_GONE) == (expected == 1006)


# --- what the gateway sends ------------------------------------------------------------------


def test_the_opening_is_session_info_alone_without_data() -> None:
    [info] = protocol().opening(connected_at=NOW, expires_at=NOW + 60, seq=0, data=None)
    message = json.loads(info)
    assert message["type"] == "SESSION_INFO"
    assert message["payload"]["hasData"] is False


def test_the_opening_adds_the_late_join_payment_when_the_session_has_data() -> None:
    data = wire.payment_data({"amount": 5}, NOW).data(3)
    info, late = protocol().opening(connected_at=NOW, expires_at=NOW + 60, seq=3, data=data)
    assert json.loads(info)["payload"]["hasData"] is True
    assert json.loads(late) == {
        "type": "PAYMENT_DATA",
        "ts": wire.format_epoch(NOW),
        "payload": {"seq": 3, "amount": 5},
    }


def numbered(seq: int) -> Outgoing:
    return Outgoing(wire.payment_data({"n": seq}, NOW).text(seq), seq)


def test_queued_messages_the_late_join_covered_are_skipped() -> None:
    """A publish racing with the join is either in the late-join data or sent: once."""
    p = protocol()
    p.opening(connected_at=NOW, expires_at=NOW + 60, seq=2, data="{}")
    sent = [p.outgoing(numbered(seq)) for seq in (1, 2, 3, 4)]
    assert [json.loads(t)["payload"]["seq"] for t in sent if t is not None] == [3, 4]


def test_a_seq_is_never_sent_twice_nor_backwards() -> None:
    """After a resubscribe catch-up (the same seq again, or an older one), no repeats."""
    p = protocol()
    p.opening(connected_at=NOW, expires_at=NOW + 60, seq=0, data=None)
    order = [1, 2, 2, 1, 3, 5, 4]
    sent = [seq for seq in order if p.outgoing(numbered(seq)) is not None]
    assert sent == [1, 2, 3, 5]


def test_replies_are_sent_whatever_the_seq() -> None:
    p = protocol()
    p.opening(connected_at=NOW, expires_at=NOW + 60, seq=9, data="{}")
    pong = Outgoing(wire.pong(NOW))
    assert p.outgoing(pong) == pong.text


# --- a broadcast written at once (transport/socket.py DirectSend) ----------------------------


class Frames:
    """The server's write_frame: takes frames while ``open``."""

    def __init__(self) -> None:
        self.open = True
        self.frames: list[bytes] = []

    def __call__(self, frame: bytes) -> bool:
        if self.open:
            self.frames.append(frame)
        return self.open


def test_a_direct_send_skips_what_the_late_join_covered_and_records_what_it_wrote() -> None:
    viewer = protocol()
    viewer.opening(connected_at=NOW, expires_at=NOW + 60, seq=3, data='{"seq":3}')
    frames = Frames()
    send = DirectSend(viewer, frames)
    assert send(Outgoing("three", 3))  # the viewer has it: done, nothing written
    assert frames.frames == []
    assert send(Outgoing("four", 4))
    assert frames.frames == [wire.text_frame("four")]
    assert viewer.covers(Outgoing("four", 4))


def test_a_direct_send_the_transport_refuses_records_nothing() -> None:
    """Refused, the item goes to the writer, which must still send it."""
    viewer = protocol()
    viewer.opening(connected_at=NOW, expires_at=NOW + 60, seq=0, data=None)
    frames = Frames()
    frames.open = False
    item = Outgoing("one", 1)
    assert not DirectSend(viewer, frames)(item)
    assert viewer.outgoing(item) == "one"
