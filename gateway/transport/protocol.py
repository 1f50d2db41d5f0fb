"""The viewer side of the WebSocket protocol (docs/protocol.md §4), without I/O.

Like python-websockets' ``Protocol``, a :class:`ViewerProtocol` holds no socket and
runs no task: the connection (``transport/ws.py``) feeds it what the client sent and
what the hub queued, and it answers what to send, or how the connection ends. Every
rule of the conversation lives here, so each is tested in process
(``tests/test_protocol.py``):

- the first messages: ``SESSION_INFO``, then the late-join ``PAYMENT_DATA`` when the
  session holds data; a queued message whose ``seq`` that data already covers is
  skipped (a publish racing with the join is sent once, in order);
- ``PING`` → ``PONG``; anything else that is text → ``ERROR`` (never echoing the input),
  the connection staying open;
- a binary frame ends the connection with 1003;
- a message over ``websocket.max_message_bytes`` characters ends it with 1009 (the
  transport closes such a message as it arrives, before it gets here: this is the
  same rule, kept where the rules are);
- a message over the client's quota (``ws_messages_per_connection``, counted by the
  connection's limiter) ends it with 4429 before it is answered;
- the client gone, or the transport's own close (1002, 1007, 1009), ends it without a
  close frame of ours.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from .. import wire
from ..hub import Farewell, Outgoing

CLOSE_PROTOCOL_ERROR = 1002
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_INVALID_DATA = 1007
CLOSE_TOO_BIG = 1009
CLOSE_RATE_LIMITED = 4429
#: The viewer went away: nothing is left to send, not even a close frame.
CLIENT_GONE = Farewell(1006, "client went away")
#: Closes the transport sends itself (gateway/hypercorn_patches.py) and then reports.
TRANSPORT_CLOSES = frozenset({CLOSE_PROTOCOL_ERROR, CLOSE_INVALID_DATA, CLOSE_TOO_BIG})


class ViewerProtocol:
    """One viewer's conversation: what to answer, what to send, when to stop."""

    __slots__ = ("_clock", "_covered", "max_chars", "session_id")

    def __init__(self, session_id: str, *, max_chars: int, clock: Callable[[], float]) -> None:
        self.session_id = session_id
        self.max_chars = max_chars
        self._clock = clock
        #: The highest seq the viewer has (late-join data or a sent message).
        self._covered = 0

    def opening(
        self, *, connected_at: float, expires_at: float, seq: int, data: str | None
    ) -> list[str]:
        """The first messages: SESSION_INFO, and the session's data when it holds some.

        ``seq`` is the session's at the moment ``data`` was read: queued messages up to
        it are already covered.
        """
        now = self._clock()
        first = wire.session_info(self.session_id, connected_at, expires_at, data is not None, now)
        self._covered = seq
        return [first] if data is None else [first, wire.late_join(data, now)]

    def outgoing(self, item: Outgoing) -> str | None:
        """The text to send for a queued message, or None when the viewer has it already."""
        if self.covers(item):
            return None
        self.sent(item)
        return item.text

    def covers(self, item: Outgoing) -> bool:
        """The viewer has this message already (late-join data, or sent before)."""
        return item.seq is not None and item.seq <= self._covered

    def sent(self, item: Outgoing) -> None:
        """``item`` has gone out: messages up to its ``seq`` are covered."""
        if item.seq is not None:
            self._covered = item.seq

    def receive_text(self, text: str, *, within_quota: bool) -> Outgoing | Farewell:
        """The reply to a text message, or how the connection ends because of it."""
        if len(text) > self.max_chars:  # characters, as the transport counts them
            return Farewell(CLOSE_TOO_BIG, "message too big")
        if not within_quota:
            return Farewell(CLOSE_RATE_LIMITED, "rate limit: messages per connection")
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            return _error("invalid_json", "messages must be JSON objects")
        kind = parsed.get("type") if isinstance(parsed, dict) else None
        if kind == "PING":
            return Outgoing(wire.pong(self._clock()))
        if not isinstance(kind, str):
            return _error("invalid_message", 'messages need a string "type"')
        return _error("unknown_type", "the only client message is PING")

    @staticmethod
    def receive_bytes() -> Farewell:
        return Farewell(CLOSE_UNSUPPORTED_DATA, "binary frames are not accepted")

    @staticmethod
    def disconnected(code: int | None) -> Farewell:
        """The connection ended under us: the client left, or the transport closed it."""
        if code in TRANSPORT_CLOSES:
            return Farewell(code, "closed by the transport")
        return CLIENT_GONE


def _error(code: str, text: str) -> Outgoing:
    return Outgoing(wire.error(code, text))
