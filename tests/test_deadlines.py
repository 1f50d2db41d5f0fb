"""gateway/deadlines.py: asyncio.timeout's semantics, on one lazy timer."""

from __future__ import annotations

import asyncio

import pytest

from gateway.deadlines import Deadlines, LazyTimer, Within


async def test_a_wait_past_its_time_raises_timeout_error_and_the_task_carries_on() -> None:
    deadlines = Deadlines(0.05)
    with pytest.raises(TimeoutError):
        async with deadlines.within():
            await asyncio.Event().wait()
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0  # our cancel was taken back
    await asyncio.sleep(0)  # and nothing is left to cancel the task later
    assert not deadlines._pending


async def test_a_wait_done_in_time_is_left_alone_when_the_timer_fires() -> None:
    deadlines = Deadlines(0.05)
    async with deadlines.within():
        await asyncio.sleep(0)
    assert not deadlines._pending
    await asyncio.sleep(0.1)  # the timer fires for a wait that is over: nothing happens
    async with deadlines.within():
        value = await asyncio.sleep(0, "done")
    assert value == "done"


async def test_waits_entered_later_get_their_own_time() -> None:
    """One timer, re-armed for the next wait when it fires: the first wait times out
    while the one entered after it still runs, and that one times out in turn."""
    deadlines = Deadlines(0.3)
    order: list[str] = []

    async def wait(name: str) -> None:
        try:
            async with deadlines.within():
                await asyncio.Event().wait()
        except TimeoutError:
            order.append(name)

    first = asyncio.create_task(wait("first"))
    await asyncio.sleep(0.15)
    second = asyncio.create_task(wait("second"))
    await first
    assert order == ["first"]
    assert not second.done()
    await second
    assert order == ["first", "second"]


async def waiting(deadlines: Deadlines) -> tuple[asyncio.Task[None], Within]:
    """A task inside ``deadlines.within()``, waiting for ever, and its wait."""
    entered: asyncio.Future[Within] = asyncio.get_running_loop().create_future()

    async def wait() -> None:
        async with deadlines.within() as within:
            entered.set_result(within)
            await asyncio.Event().wait()

    task = asyncio.create_task(wait())
    return task, await entered


async def test_a_cancel_from_elsewhere_is_a_cancel_even_when_the_time_is_up_too() -> None:
    deadlines = Deadlines(60)
    task, within = await waiting(deadlines)
    within.expire()  # the deadline and another canceller, in the same turn
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not deadlines._pending


async def test_a_cancel_from_elsewhere_alone_goes_on_and_leaves_nothing_behind() -> None:
    deadlines = Deadlines(60)
    task, _ = await waiting(deadlines)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not deadlines._pending


async def test_an_error_inside_the_wait_is_raised_as_it_is() -> None:
    deadlines = Deadlines(60)
    with pytest.raises(ValueError, match="inside"):
        async with deadlines.within():
            raise ValueError("inside")
    assert not deadlines._pending


def test_one_deadlines_serves_a_second_loop_after_the_first_is_gone() -> None:
    """A Deadlines whose timer belonged to a loop that closed still bounds waits on the
    next loop (tests and tools run several loops in one process)."""
    deadlines = Deadlines(0.05)

    async def wait_forever() -> None:
        async with deadlines.within():
            await asyncio.Event().wait()

    async def left_pending() -> None:
        task = asyncio.create_task(wait_forever())
        await asyncio.sleep(0)  # entered: the timer is armed on this loop

        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(left_pending())
    with pytest.raises(TimeoutError):
        asyncio.run(wait_forever())


async def test_a_lazy_timer_expires_once_a_wait_outlasts_it_and_not_for_stopped_ones() -> None:
    """LazyTimer: a wait stopped in time never expires, however often it starts over;
    one left running expires once, after ``seconds``; cancel drops it for good."""
    expired = asyncio.Event()
    timer = LazyTimer(0.5, expired.set)
    for _ in range(40):  # waits of 0.02 s, each stopped well in time
        timer.start()
        await asyncio.sleep(0.02)
        timer.stop()
    assert not expired.is_set()
    timer.start()
    await asyncio.wait_for(expired.wait(), 10)
    assert timer.since is None
    timer.start()
    timer.cancel()
    assert not timer.armed
