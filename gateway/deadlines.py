"""Timers that are set once and re-armed only when they fire.

:class:`Deadlines`: one timer for many bounded waits of the same length.
:class:`LazyTimer`: one timer for a wait that starts over and over (a connection's
read, its idle spells).

``asyncio.timeout`` sets a loop timer when it is entered and cancels it when it is
left: with uvloop that is a libuv timer created and closed, about 4 µs, and the
gateway bounded two or three waits per publish that way (sending the answer, a broker
call, on Redis). :class:`Deadlines` gives the same bound to every wait entered through
it, with the same semantics (the task is cancelled when its time is up, and the wait
raises :class:`TimeoutError`, unless the task was also cancelled from elsewhere), on
one timer per :class:`Deadlines` that is only re-armed when it fires. Its waits all
last ``seconds``, so the first one entered is the first one due.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType

#: How early a wait's time may be called up: uvloop's clock and timers count whole
#: milliseconds, so a re-arm for less would only come round again at once.
TIMER_SLACK = 0.001


class Deadlines:
    """Waits of ``seconds`` each, watched by one lazy timer."""

    __slots__ = ("_loop", "_pending", "_timer", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        #: The waits in progress, in the order they were entered (their deadlines' order).
        self._pending: dict[Within, float] = {}
        self._timer: asyncio.TimerHandle | None = None
        #: The loop the timer and the waits belong to.
        self._loop: asyncio.AbstractEventLoop | None = None

    def within(self) -> Within:
        """``async with deadlines.within():`` bounds its body by ``seconds``."""
        return Within(self)

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        self._timer = loop.call_at(when, self._fire, loop)

    def _enter(self, wait: Within, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is not loop:
            # Another loop's timer and waits (a test, a tool) are not this one's to keep.
            old = self._loop
            if self._timer is not None and old is not None and not old.is_closed():
                self._timer.cancel()
            self._timer, self._loop = None, loop
            self._pending.clear()
        due = loop.time() + self.seconds
        self._pending[wait] = due
        if self._timer is None:
            self._arm(loop, due)

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        pending = self._pending
        while pending:
            wait, due = next(iter(pending.items()))
            if due - now > TIMER_SLACK:
                self._arm(loop, due)
                return
            del pending[wait]
            wait.expire()


class Within:
    """One wait bounded by its :class:`Deadlines` (an async context manager)."""

    __slots__ = ("_cancelling", "_deadlines", "_expired", "_task")

    def __init__(self, deadlines: Deadlines) -> None:
        self._deadlines = deadlines
        self._expired = False
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0

    async def __aenter__(self) -> Within:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("Deadlines are for waits inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._deadlines._enter(self, asyncio.get_running_loop())
        return self

    def expire(self) -> None:
        if self._task is not None and not self._task.done():
            self._expired = True
            self._task.cancel()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._deadlines._pending.pop(self, None)
        task, self._task = self._task, None
        if not self._expired or task is None:
            return
        # As asyncio.timeout: our cancel is taken back, and becomes TimeoutError unless
        # someone else also cancelled the task, whose cancel then goes on.
        others = task.uncancel()
        if others <= self._cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc


class LazyTimer:
    """Calls ``expired()`` once ``seconds`` have passed since the last :meth:`start`
    with no :meth:`stop` after it.

    One loop timer, set when none is: a start or a stop only notes the time, and the
    timer, when it fires for a wait that started later, is re-armed for the rest of it.
    Setting and cancelling a timer for every read or request cost about 4 µs each
    with uvloop.
    """

    __slots__ = ("_expired", "_handle", "seconds", "since")

    def __init__(self, seconds: float, expired: Callable[[], None]) -> None:
        self.seconds = seconds
        self._expired = expired
        #: When the wait in progress started (the loop's clock); None while none is.
        self.since: float | None = None
        self._handle: asyncio.TimerHandle | None = None

    @property
    def armed(self) -> bool:
        return self._handle is not None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.since = loop.time()
        if self._handle is None:
            self._handle = loop.call_later(self.seconds, self._due)

    def stop(self) -> None:
        self.since = None

    def cancel(self) -> None:
        """No more waits: drop the loop's timer and ``expired``, which usually holds
        the owner of this timer (a cycle reference counting alone would not free)."""
        self.since = None
        self._expired = _nothing
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _due(self) -> None:
        self._handle = None
        if self.since is None:
            return  # no wait in progress: the next start arms the timer again
        loop = asyncio.get_running_loop()
        left = self.since + self.seconds - loop.time()
        if left > TIMER_SLACK:
            self._handle = loop.call_later(left, self._due)
        else:
            self.since = None
            self._expired()


def _nothing() -> None:
    return None
