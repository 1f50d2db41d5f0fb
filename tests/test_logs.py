"""The log handler: every line written, in order, whole, in few writes (gateway/logs.py);
the access log's paths, redacted once (gateway/transport/exchange.py)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from collections.abc import Iterator
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.logs import (
    WRITE_BYTES,
    JSONFormatter,
    TextFormatter,
    TurnHandler,
    redact_path,
    route_words,
)
from gateway.metrics import Metrics
from gateway.transport.exchange import REMEMBERED_PATH_LENGTH, REMEMBERED_PATHS, AccessLog


class Recorder(io.StringIO):
    """A stream that keeps each write it is asked for, as stderr would get them."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


@pytest.fixture
def stream() -> Iterator[Recorder]:
    return Recorder()


@pytest.fixture
def log(stream: Recorder) -> Iterator[logging.Logger]:
    handler = TurnHandler(stream)
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("test.turn_handler")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger
    logger.handlers[:] = []


def messages(stream: Recorder) -> list[str]:
    return [json.loads(line)["message"] for line in stream.getvalue().splitlines()]


async def test_the_lines_of_one_turn_leave_together_after_it(
    log: logging.Logger, stream: Recorder
) -> None:
    for n in range(3):
        log.info("line %d", n)
    assert stream.writes == []  # the turn that logged them is not over
    await asyncio.sleep(0)
    assert len(stream.writes) == 1
    assert messages(stream) == ["line 0", "line 1", "line 2"]


async def test_each_write_is_whole_lines_a_pipe_keeps_whole(
    log: logging.Logger, stream: Recorder
) -> None:
    """Workers share one stderr: a write of at most PIPE_BUF bytes is never cut into by
    another's, so no write may be larger, nor end inside a line. Non-ASCII lines count
    in bytes; a line longer than the limit goes on its own."""
    sent = [f"{n} " + ("é" if n % 7 == 0 else "x") * 290 for n in range(60)]
    sent.insert(30, "long " + "y" * (2 * WRITE_BYTES))
    for text in sent:
        log.info(text)
    await asyncio.sleep(0)
    assert messages(stream) == sent
    assert len(stream.writes) > 1
    for write in stream.writes:
        assert write.endswith("\n")
        if "long " not in write:
            assert len(write.encode()) <= WRITE_BYTES
        else:
            assert write.count("\n") == 1
    assert len(stream.writes) < len(sent) / 3  # lines of ~700 bytes: five or so a write


def test_with_no_loop_running_a_line_is_written_at_once(
    log: logging.Logger, stream: Recorder
) -> None:
    log.info("at start-up")
    assert messages(stream) == ["at start-up"]


async def test_a_line_from_another_thread_follows_the_lines_still_waiting(
    log: logging.Logger, stream: Recorder
) -> None:
    log.info("from the loop")
    thread = threading.Thread(target=log.info, args=("from a thread",))
    thread.start()
    thread.join()
    assert messages(stream) == ["from the loop", "from a thread"]
    await asyncio.sleep(0)
    assert messages(stream) == ["from the loop", "from a thread"]


def test_lines_left_by_a_loop_that_stopped_are_not_lost(
    log: logging.Logger, stream: Recorder
) -> None:
    """A loop closed before the turn that would write its lines: the next loop's line
    brings them out, in order, and a flush (logging.shutdown at exit) writes the rest."""

    def say_and_stop(text: str) -> None:
        log.info(text)
        asyncio.get_running_loop().stop()  # before the turn that would write the line

    loop = asyncio.new_event_loop()
    loop.call_soon(say_and_stop, "first loop")
    loop.run_forever()
    loop.close()  # its ready callbacks, the flush among them, are dropped
    assert messages(stream) == []

    async def say_and_wait(text: str) -> None:
        log.info(text)
        await asyncio.sleep(0)

    asyncio.run(say_and_wait("second loop"))
    assert messages(stream) == ["first loop", "second loop"]

    loop = asyncio.new_event_loop()
    loop.call_soon(say_and_stop, "third loop")
    loop.run_forever()
    loop.close()
    log.handlers[0].flush()
    assert messages(stream) == ["first loop", "second loop", "third loop"]


ROUTES = ["/api/payment", "/api/session/<path:token>", "/qr/<path:token>", "/health"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="/.%?aApPiIqQrR-_x0é", max_size=90), min_size=1, max_size=40))
def test_the_access_log_shows_each_path_as_redact_path_does(paths: list[str]) -> None:
    """AccessLog.logged_path remembers what it redacted; the answer is redact_path's
    whatever was asked before, and what it remembers stays small and holds no token."""
    access_log = AccessLog(cast(Metrics, None))
    access_log.learn_routes(ROUTES)
    words = route_words(ROUTES)
    for path in paths * 2:
        assert access_log.logged_path(path) == redact_path(path, words)
    remembered = access_log._route_paths
    assert len(remembered) <= REMEMBERED_PATHS
    assert all(len(path) <= REMEMBERED_PATH_LENGTH for path in remembered)
    # Only paths of route words alone: nothing a client made up is kept.
    assert all(redact_path(path, words) == path for path in remembered)


def test_a_client_spraying_paths_cannot_grow_what_the_access_log_remembers() -> None:
    access_log = AccessLog(cast(Metrics, None))
    access_log.learn_routes(ROUTES)
    for n in range(10 * REMEMBERED_PATHS):
        assert access_log.logged_path(f"/api/{n}") == "/api/[redacted]"
        assert len(access_log._route_paths) <= REMEMBERED_PATHS
    for secret in ("/qr/" + "t" * 200, "/api/session/" + "s" * 43, "/api/gw_" + "k" * 43):
        assert "[redacted]" in access_log.logged_path(secret)
        assert secret not in access_log._route_paths
    assert access_log.logged_path("/api/payment") == "/api/payment"
    assert "/api/payment" in access_log._route_paths


async def test_a_line_utf8_cannot_encode_loses_no_other_line() -> None:
    """A lone surrogate (a path or setting decoded with surrogateescape) is written as
    stderr writes it, backslashed, and the turn's other lines go out with it."""
    raw = io.BytesIO()
    text = io.TextIOWrapper(raw, encoding="utf-8", errors="backslashreplace", line_buffering=True)
    handler = TurnHandler(text)
    handler.setFormatter(TextFormatter())
    logger = logging.getLogger("test.turn_handler.surrogate")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.warning("first")
    logger.warning("cannot read %s", "/etc/gw/cert-\udce9.pem")
    logger.warning("third")
    await asyncio.sleep(0)
    lines = raw.getvalue().decode().splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        "first",
        "cannot read /etc/gw/cert-\\udce9.pem",
        "third",
    ]
