"""One timer for many bounded waits of the same length.

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
            if self._timer is not None and not self._loop.is_closed():  # type: ignore[union-attr]
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
