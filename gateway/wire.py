"""Every server → viewer message of the WebSocket protocol, in one place (docs/protocol.md §4).

A message is one JSON object per text frame: ``{"type", "ts", "payload"}``, ``ts`` an
ISO 8601 UTC time with milliseconds and ``Z``. The functions here are the only code
that spells a message; the hub, the brokers and the Redis scripts take their text, or
the pieces to assemble it, from them.

PAYMENT_DATA and PAYMENT_CLEARED carry a ``seq`` that the broker assigns when it
publishes (one Lua script with Redis, so every instance sees a session's messages in
``seq`` order). Their text is therefore built as a :class:`Numbered` — a head and a
tail around the ``seq`` — serialized once per publish and completed by the broker;
the late-join copy kept for the session is numbered the same way, and spliced into a
PAYMENT_DATA when a viewer joins, without parsing it again.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

SESSION_INFO = "SESSION_INFO"
PAYMENT_DATA = "PAYMENT_DATA"
PAYMENT_CLEARED = "PAYMENT_CLEARED"
PONG = "PONG"
ERROR = "ERROR"
SESSION_EXPIRED = "SESSION_EXPIRED"
#: How the late-join payload kept for a session starts: its ``seq`` follows.
DATA_HEAD = '{"seq":'


def format_time(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds and ``Z``: ``2025-01-03T10:00:00.000Z``."""
    # isoformat, not strftime: glibc's %Y does not pad years before 1000 to four digits.
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="milliseconds") + "Z"


def format_epoch(seconds: float) -> str:
    """:func:`format_time` of UNIX seconds."""
    return format_time(datetime.fromtimestamp(seconds, UTC))


def message(kind: str, payload: dict[str, Any], now: float | None = None) -> str:
    """A whole server message, serialized once."""
    ts = format_epoch(time.time() if now is None else now)
    return orjson.dumps({"type": kind, "ts": ts, "payload": payload}).decode()


def session_info(
    session_id: str, connected_at: float, expires_at: float, has_data: bool, now: float
) -> str:
    """The first message of every connection (never the token)."""
    info = {
        "sessionId": session_id,
        "connectedAt": format_epoch(connected_at),
        "expiresAt": format_epoch(expires_at),
        "hasData": has_data,
    }
    return message(SESSION_INFO, info, now)


def pong(now: float | None = None) -> str:
    return message(PONG, {}, now)


def error(code: str, text: str, now: float | None = None) -> str:
    """A refusal of a client message; ``text`` is ours, never the client's input."""
    return message(ERROR, {"code": code, "message": text}, now)


def session_expired(session_id: str, expired_at: float, now: float | None = None) -> str:
    return message(
        SESSION_EXPIRED, {"sessionId": session_id, "expiredAt": format_epoch(expired_at)}, now
    )


@dataclass(frozen=True, slots=True)
class Numbered:
    """A message whose ``seq`` is not known yet: ``head + str(seq) + tail``.

    ``data_tail`` completes the late-join payload the session keeps,
    ``DATA_HEAD + str(seq) + data_tail``; None for a message that keeps none (a clear).
    """

    head: str
    tail: str
    data_tail: str | None

    def text(self, seq: int) -> str:
        return f"{self.head}{seq}{self.tail}"

    def data(self, seq: int) -> str | None:
        return None if self.data_tail is None else f"{DATA_HEAD}{seq}{self.data_tail}"


def payment_data(payload: dict[str, Any], now: float) -> Numbered:
    """PAYMENT_DATA for a validated payload: ``{"seq": N, ...payload}``, serialized once."""
    body = orjson.dumps(payload).decode()
    data_tail = "," + body[1:] if body != "{}" else "}"
    head = f'{{"type":"{PAYMENT_DATA}","ts":"{format_epoch(now)}","payload":{DATA_HEAD}'
    return Numbered(head, data_tail + "}", data_tail)


def payment_cleared(reason: str, now: float) -> Numbered:
    """PAYMENT_CLEARED: ``{"seq": N, "reason": ...}``; the session's data is dropped."""
    head = f'{{"type":"{PAYMENT_CLEARED}","ts":"{format_epoch(now)}","payload":{DATA_HEAD}'
    return Numbered(head, f',"reason":{orjson.dumps(reason).decode()}}}}}', None)


def late_join(data: str, now: float) -> str:
    """PAYMENT_DATA for a joining viewer: the session's kept payload, spliced in as it is."""
    return f'{{"type":"{PAYMENT_DATA}","ts":"{format_epoch(now)}","payload":{data}}}'


def seq_of(data: str) -> int:
    """The ``seq`` of a kept late-join payload (it starts with :data:`DATA_HEAD`)."""
    if not data.startswith(DATA_HEAD):
        raise ValueError("not a late-join payload")
    end = len(DATA_HEAD)
    while end < len(data) and data[end].isdigit():
        end += 1
    return int(data[len(DATA_HEAD) : end])


def text_frame(text: str) -> bytes:
    """``text`` as one unfragmented, unmasked WebSocket text frame (RFC 6455 §5.2).

    A server's frames are not masked and the gateway declines every extension, so a
    message's frame is the same bytes for every viewer: a broadcast is framed once and
    written as it is to each viewer's transport (``Outgoing.frame``). Byte for byte
    what wsproto writes for a text message (``tests/test_wire.py`` holds them equal).
    """
    payload = text.encode()
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 0x10000:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload
