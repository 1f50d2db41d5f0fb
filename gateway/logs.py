"""Structured logs: one JSON object per line on stderr (docs/security.md §3.7).

Records carry an ``event`` name and fields passed in ``extra``. Secrets never reach a
record in the first place: handlers log ids and hashes, not tokens, keys, query
strings or payment contents; :func:`redact_path` keeps only the path segments that
name a route, so no part of a token is logged however its path is spelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import ssl
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

#: LogRecord attributes that are not "extra" fields.
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime"}
)
REDACTED = "[redacted]"


def route_words(rules: Iterable[str]) -> frozenset[str]:
    """The literal segments of route templates (``/api/session/<path:token>`` gives
    ``api`` and ``session``), lower-cased: the only segments a log may show."""
    return frozenset(
        part.lower()
        for rule in rules
        for part in rule.split("/")
        if part and not part.startswith("<")
    )


def redact_path(path: str, words: frozenset[str]) -> str:
    """``path`` with every segment that is not a route's word replaced by ``[redacted]``.

    A token may sit in any segment of a path spelled in ways no route matches
    (``/QR/<t>``, ``/qr//<t>``, ``/api/Session/<t>``, ``/qr/../qr/<t>``,
    ``/qr-assets/<t>``), and in pieces (``/qr/<t1>/<t2>``): an allow-list of the words
    routes are made of is the rule that holds for all of them (docs/security.md §5.2). Empty and
    dot segments are kept, so the shape of the path shows. The query string is dropped.
    """
    segments = path.split("?", 1)[0].split("/")
    return "/".join(
        s if not s or s in (".", "..") or s.lower() in words else REDACTED for s in segments
    )


class JSONFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        #: The formatted time up to the second, and the second it is for: most
        #: records of a busy second share it (two per publish).
        self._second: tuple[int, str] = (-1, "")

    def _time(self, created: float) -> str:
        second = int(created)
        if self._second[0] != second:
            stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = (second, stamp)
        millis = min(999, int((created - second) * 1000))
        return f"{self._second[1]}.{millis:03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, Any] = {
            "time": self._time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "event": getattr(record, "event", None) or message,
            "message": message,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key != "event":
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(
            f"{k}={v}" for k, v in record.__dict__.items() if k not in _STANDARD and k != "event"
        )
        line = f"{record.levelname:<7} {record.name}: {record.getMessage()} {fields}".rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


#: Exceptions that mean "the peer went away or spoke bad TLS": not the gateway's error.
PEER_ERRORS = (ConnectionError, TimeoutError, ssl.SSLError, asyncio.CancelledError)


class PeerErrorFilter(logging.Filter):
    """Demote Hypercorn's reports of peers that vanished or broke TLS to DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and is_peer_error(exc):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def is_peer_error(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return all(is_peer_error(e) for e in exc.exceptions)
    return isinstance(exc, PEER_ERRORS)


def loop_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """asyncio's last-resort handler, minus the noise of dropped and cancelled connections."""
    exc = context.get("exception")
    if exc is not None and is_peer_error(exc):
        logging.getLogger("gateway.connections").debug(
            "connection ended abruptly", extra={"event": "peer_error", "error": type(exc).__name__}
        )
        return
    loop.default_exception_handler(context)


class WorkerFilter(logging.Filter):
    """Tags every record with the worker that wrote it (``server.workers`` > 1)."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = self.index
        return True


#: The most a single write of log lines may hold: a pipe keeps a write of at most
#: PIPE_BUF bytes (4,096 on Linux, at least 512 by POSIX) whole, so the lines of
#: several workers sharing one stderr never cut into each other.
WRITE_BYTES = getattr(select, "PIPE_BUF", 512)


class TurnHandler(logging.StreamHandler[TextIO]):
    """Writes each record's line on stderr, all the lines of one turn of the event loop
    together (docs/security.md §3.7).

    A busy gateway writes two lines per publish: written one by one, each is a
    ``write`` system call, and logging cost the gateway about a sixth of its CPU
    (README, Performance). Lines logged from the loop's thread wait for the end of
    the turn that logged them (``call_soon``), then leave in as few writes as whole
    lines of at most :data:`WRITE_BYTES` allow; lines logged with no loop running
    (start-up, shutdown, other threads) are written at once, after any still waiting.
    ``logging.shutdown`` flushes what is left when the process exits.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._lines: list[str] = []
        #: The loop whose next turn writes the waiting lines.
        self._due: asyncio.AbstractEventLoop | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self._lines.append(line)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        if self._due is not loop:  # none pending, or on a loop that may never turn again
            self._due = loop
            loop.call_soon(self.flush)

    def flush(self) -> None:
        with self.lock or contextlib.nullcontext():
            self._due = None
            lines, self._lines = self._lines, []
            if not lines:
                return
            chunk: list[str] = []
            size = 0
            for line in lines:
                # Counted as written: stderr replaces what UTF-8 cannot encode (a lone
                # surrogate from a path decoded with surrogateescape) by backslashes.
                length = 1 + (
                    len(line) if line.isascii() else len(line.encode("utf-8", "backslashreplace"))
                )
                if chunk and size + length > WRITE_BYTES:
                    self._write(chunk)
                    chunk, size = [], 0
                chunk.append(line)
                size += length
            self._write(chunk)

    def _write(self, chunk: list[str]) -> None:
        """One write of whole lines; a failed one is reported, as StreamHandler.emit
        reports its own, and the other writes of the turn still go out."""
        try:
            self.stream.write("\n".join(chunk) + "\n")
            self.stream.flush()
        except Exception:
            self.handleError(logging.makeLogRecord({"msg": "log lines could not be written"}))


def configure(level: str = "INFO", fmt: str = "json", *, worker: int | None = None) -> None:
    handler = TurnHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else TextFormatter())
    if worker is not None:
        handler.addFilter(WorkerFilter(worker))
    # No line shows the caller's file, line, thread or process (a worker is tagged by
    # WorkerFilter): do not collect them for every record (the logging HOWTO's
    # "Optimization"; two records per publish).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Hypercorn's own loggers go through the same handler.
    for name in ("hypercorn.error", "hypercorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("hypercorn.error").filters[:] = [PeerErrorFilter()]
