"""The hub in process, on the memory broker, with an injected clock: expiry, linger, sweep,
joins racing with publishes, slow consumers, caps and the drain, without a gateway
process and without waiting for real time to pass."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from gateway.broker.memory import MemoryBroker
from gateway.config import Settings
from gateway.errors import SessionExpired, SessionFull, SessionNotFound, ShuttingDown
from gateway.hub import Hub, Outgoing, Viewer

START = 1_790_000_000.0


@dataclass
class Clock:
    """Time that moves only when a test says so."""

    now: float = START

    def __call__(self) -> float:
        return self.now


def settings(**sessions: float) -> Settings:
    values = {"ttl_seconds": 600, "data_linger_seconds": 30, **sessions}
    return Settings.model_validate(
        {"sessions": values, "websocket": {"send_queue_size": 4}}, strict=False
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def hub(clock: Clock) -> AsyncIterator[Hub]:
    started = Hub(settings(max_viewers_per_session=3), MemoryBroker(), clock=clock)
    await started.start()
    yield started
    await started.stop()


def pending(viewer: Viewer) -> list[dict[str, object]]:
    """What is queued for ``viewer``, parsed, without waiting."""
    items = []
    while viewer._pending:
        items.append(json.loads(viewer._pending.popleft().text))
    return items


async def test_a_publish_is_queued_once_for_every_viewer_of_its_session(hub: Hub) -> None:
    """One serialized text per publish, offered to each local viewer; others get nothing."""
    record = await hub.create_session("k")
    other = await hub.create_session("k")
    (a, _), (b, _) = await hub.join(record.session_id), await hub.join(record.session_id)
    (c, _) = await hub.join(other.session_id)
    outcome = await hub.publish(record.session_id, record.key_id, {"amount": 5})
    assert (outcome.seq, outcome.delivered) == (1, 2)
    assert [m["payload"] for m in pending(a)] == [{"seq": 1, "amount": 5}]
    assert pending(b)[0]["type"] == "PAYMENT_DATA"
    assert pending(c) == []


async def test_a_join_during_a_publish_gets_it_once(hub: Hub) -> None:
    """The viewer is registered before the record is read: the publish is in the record
    (late join) or in the queue, and the queue item carries its seq to skip."""
    record = await hub.create_session("k")
    joining = asyncio.ensure_future(hub.join(record.session_id))
    publishing = asyncio.ensure_future(hub.publish(record.session_id, record.key_id, {"amount": 5}))
    (viewer, seen), outcome = await joining, await publishing
    queued = [item.seq for item in viewer._pending or ()]
    assert (seen.seq == outcome.seq) or (queued == [outcome.seq])


async def test_expiry_is_exact_and_reaches_connected_viewers(hub: Hub, clock: Clock) -> None:
    """At expires_at the session is gone for lookups (410) and each viewer's farewell is
    SESSION_EXPIRED then 4410; the sweeper only frees memory later."""
    record = await hub.create_session("k")
    clock.now = record.expires_at - 0.01  # the viewer's timer is armed for 10 ms
    viewer, _ = await hub.join(record.session_id)
    assert (await hub.session(record.session_id)).session_id == record.session_id
    clock.now = record.expires_at
    with pytest.raises(SessionExpired):
        await hub.session(record.session_id)
    with pytest.raises(SessionExpired):
        await hub.join(record.session_id)
    farewell = await asyncio.wait_for(viewer.done, 5)
    assert farewell.code == 4410
    assert farewell.final is not None
    assert json.loads(farewell.final)["type"] == "SESSION_EXPIRED"


async def test_data_lingers_after_the_last_viewer_then_is_swept(hub: Hub, clock: Clock) -> None:
    """Kept while watched; dropped data_linger_seconds after the later of the last publish
    and the last viewer leaving, at the next sweep."""
    record = await hub.create_session("k")
    viewer, _ = await hub.join(record.session_id)
    await hub.publish(record.session_id, record.key_id, {"amount": 5})
    clock.now += 45  # longer than the linger, but a viewer watches
    await hub.sweep()
    assert (await hub.session(record.session_id)).data is not None
    await hub.leave(viewer)  # the linger starts now
    clock.now += 29
    await hub.sweep()
    assert (await hub.session(record.session_id)).data is not None
    clock.now += 2
    await hub.sweep()
    assert (await hub.session(record.session_id)).data is None


async def test_a_clear_drops_the_data_at_once(hub: Hub) -> None:
    record = await hub.create_session("k")
    await hub.publish(record.session_id, record.key_id, {"amount": 5})
    outcome = await hub.publish(record.session_id, record.key_id, None, "paid")
    assert outcome.seq == 2
    assert (await hub.session(record.session_id)).data is None


async def test_a_slow_consumer_is_closed_4408_and_the_others_carry_on(hub: Hub) -> None:
    """Four broadcasts fill a queue of 4; the fifth closes that viewer only."""
    record = await hub.create_session("k")
    slow, _ = await hub.join(record.session_id)
    reader, _ = await hub.join(record.session_id)
    for n in range(5):
        await hub.publish(record.session_id, record.key_id, {"n": n})
        await reader.next()
    assert slow.done.done()
    assert slow.done.result().code == 4408
    assert not reader.done.done()
    assert hub.slow_consumers == 1


async def test_replies_do_not_count_against_the_queue(hub: Hub) -> None:
    """A viewer with a full queue of broadcasts may still be answered, up to its quota."""
    record = await hub.create_session("k")
    viewer, _ = await hub.join(record.session_id)
    for n in range(4):
        await hub.publish(record.session_id, record.key_id, {"n": n})
    for _ in range(20):
        viewer.reply(Outgoing("PONG"))
    assert not viewer.done.done()
    viewer.reply(Outgoing("PONG"))  # the 21st unsent reply: it is not reading at all
    assert viewer.done.result().code == 4408


async def test_the_viewer_cap_is_enforced_at_join(hub: Hub) -> None:
    """max_viewers_per_session (3) joins; the next is SessionFull (4403); a leave frees one."""
    record = await hub.create_session("k")
    viewers = [(await hub.join(record.session_id))[0] for _ in range(3)]
    with pytest.raises(SessionFull):
        await hub.join(record.session_id)
    await hub.leave(viewers[0])
    await hub.join(record.session_id)


async def test_an_unknown_session_is_not_found(hub: Hub) -> None:
    with pytest.raises(SessionNotFound):
        await hub.join("no-such-session")


async def test_the_drain_closes_every_viewer_1001_and_refuses_new_ones(hub: Hub) -> None:
    record = await hub.create_session("k")
    viewers = [(await hub.join(record.session_id))[0] for _ in range(2)]
    hub.drain()
    assert [v.done.result().code for v in viewers] == [1001, 1001]
    with pytest.raises(ShuttingDown):
        await hub.join(record.session_id)
    for viewer in viewers:
        await hub.leave(viewer)
    assert await hub.wait_empty(0.1)


class Transport:
    """A viewer's direct send, as the connection gives it (``Viewer.direct``): it takes a
    message while ``open``, and says whether it did."""

    def __init__(self) -> None:
        self.open = True
        self.sent: list[str] = []

    def __call__(self, item: Outgoing) -> bool:
        if self.open:
            self.sent.append(item.text)
        return self.open


async def waiting_writer(viewer: Viewer) -> asyncio.Task[Outgoing]:
    """A writer task parked in ``viewer.next()`` on an empty queue, as in a connection."""
    task = asyncio.create_task(viewer.next())
    await asyncio.sleep(0)  # let it reach its wait
    assert viewer._waiter is not None
    return task


async def test_a_broadcast_goes_straight_out_while_the_writer_waits_on_an_empty_queue() -> None:
    viewer = Viewer("s", limit=4, connected_at=START)
    viewer.direct = transport = Transport()
    writer = await waiting_writer(viewer)
    assert viewer.offer(Outgoing("one", 1))
    assert viewer.offer(Outgoing("two", 2))
    assert transport.sent == ["one", "two"]
    assert viewer._pending is None  # an idle viewer holds no queue at all
    assert not writer.done()  # the writer was not woken for them
    writer.cancel()


async def test_a_broadcast_the_transport_cannot_take_now_is_queued_for_the_writer() -> None:
    viewer = Viewer("s", limit=4, connected_at=START)
    viewer.direct = transport = Transport()
    writer = await waiting_writer(viewer)
    transport.open = False
    assert viewer.offer(Outgoing("one", 1))
    transport.open = True
    assert viewer.offer(Outgoing("two", 2))  # behind "one": queued too, in order
    assert transport.sent == []
    assert (await writer).text == "one"
    assert (await viewer.next()).text == "two"


async def test_nothing_overtakes_a_queued_reply_or_a_writer_that_is_busy() -> None:
    """A reply queued first, or a writer that is sending (not waiting), keeps the order:
    the broadcast is queued behind, never written past them."""
    viewer = Viewer("s", limit=4, connected_at=START)
    viewer.direct = transport = Transport()
    viewer.reply(Outgoing("PONG"))
    assert viewer.offer(Outgoing("one", 1))
    assert transport.sent == []
    assert [item.text for item in viewer._pending or ()] == ["PONG", "one"]
    viewer._pending = None
    viewer._replies = 0
    assert viewer.offer(Outgoing("two", 2))  # no writer waiting: it may be mid-send
    assert transport.sent == []


class LazyWriter:
    """A connection's ``start_writer``: counts its calls and starts a real writer task
    parked in ``viewer.next()``, as gateway/transport/ws.py does."""

    def __init__(self, viewer: Viewer) -> None:
        self.viewer = viewer
        self.started = 0
        self.received: list[str] = []
        #: Cleared, the writer holds each message it took as if its send were waiting.
        self.sending = asyncio.Event()
        self.sending.set()

    def __call__(self) -> None:
        self.started += 1
        asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        while True:
            self.received.append((await self.viewer.next()).text)
            await self.sending.wait()


async def test_no_writer_is_started_while_every_message_goes_straight_out() -> None:
    """Broadcasts and replies to an idle viewer are written directly, and its writer
    task is never made; the first message that has to wait starts it, once, and what
    follows queues behind that message until the writer has sent it."""
    viewer = Viewer("s", limit=4, connected_at=START)
    viewer.direct = transport = Transport()
    viewer.start_writer_lazily(writer := LazyWriter(viewer))
    assert viewer.offer(Outgoing("one", 1))
    viewer.reply(Outgoing("PONG"))
    assert transport.sent == ["one", "PONG"]
    assert writer.started == 0
    assert viewer._pending is None
    transport.open = False
    assert viewer.offer(Outgoing("two", 2))
    assert writer.started == 1
    transport.open = True
    viewer.reply(Outgoing("PONG 2"))  # "two" is still queued: the reply waits behind it
    assert viewer.offer(Outgoing("three", 3))
    assert transport.sent == ["one", "PONG"]
    for _ in range(3):
        await asyncio.sleep(0)
    assert writer.received == ["two", "PONG 2", "three"]
    assert viewer._waiter is not None  # parked again: the next one goes straight out
    assert viewer.offer(Outgoing("four", 4))
    assert transport.sent == ["one", "PONG", "four"]
    writer.sending.clear()
    transport.open = False
    assert viewer.offer(Outgoing("five", 5))
    await asyncio.sleep(0)
    assert writer.received[-1] == "five"  # taken, and its send is still waiting
    transport.open = True
    assert viewer.offer(Outgoing("six", 6))  # so this one may not pass it
    viewer.reply(Outgoing("PONG 3"))
    assert transport.sent == ["one", "PONG", "four"]
    writer.sending.set()
    for _ in range(3):
        await asyncio.sleep(0)
    assert writer.received[-3:] == ["five", "six", "PONG 3"]
    assert writer.started == 1


async def test_messages_queued_while_the_connection_opened_start_the_writer_at_once() -> None:
    """Broadcasts offered before the connection set up its direct path are queued; they
    start the writer as soon as it is made lazy, and nothing overtakes them."""
    viewer = Viewer("s", limit=4, connected_at=START)
    assert viewer.offer(Outgoing("early", 1))
    viewer.direct = transport = Transport()
    viewer.start_writer_lazily(writer := LazyWriter(viewer))
    assert writer.started == 1
    assert viewer.offer(Outgoing("next", 2))
    assert transport.sent == []
    await asyncio.sleep(0)
    assert writer.received == ["early", "next"]


async def test_replies_are_bounded_by_the_quota_when_the_transport_is_busy() -> None:
    """A viewer that does not read, asking for replies, is still closed 4408 once more
    replies are unsent than its quota: the direct path changes nothing there."""
    viewer = Viewer("s", limit=2, connected_at=START, reply_limit=2)
    viewer.direct = transport = Transport()
    viewer.start_writer_lazily(LazyWriter(viewer))
    transport.open = False
    viewer.reply(Outgoing("PONG"))
    viewer.reply(Outgoing("PONG"))
    assert not viewer.done.done()
    viewer.reply(Outgoing("PONG"))
    assert viewer.done.result().code == 4408


async def test_a_full_queue_still_ends_a_viewer_the_transport_refuses() -> None:
    """When the transport stays busy (the peer does not read), broadcasts queue up to
    send_queue_size and the next one is 4408, as without the direct path."""
    viewer = Viewer("s", limit=2, connected_at=START)
    viewer.direct = transport = Transport()
    writer = await waiting_writer(viewer)
    transport.open = False
    for n in (1, 2):
        assert viewer.offer(Outgoing(str(n), n))
    await asyncio.sleep(0)
    assert viewer.offer(Outgoing("3", 3))  # the writer took "1": room for one more
    assert not viewer.offer(Outgoing("4", 4))
    assert viewer.done.result().code == 4408
    assert (await writer).text == "1"


def test_a_broadcast_is_framed_once_for_every_viewer() -> None:
    item = Outgoing('{"type":"PAYMENT_DATA"}', 1)
    assert item.frame is item.frame
    assert item.frame == b"\x81\x17" + item.text.encode()
