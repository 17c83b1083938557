"""What the HTTP server does against clients that would make it spend without limit.

A cap on concurrent connections, kept below the process's file descriptor limit so that the
poller can always open its own; the time limits a client gets to send its request and to
read the answer; and logs that say once what a flood of connections does, instead of once
per connection.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ctypes.util
import logging
import resource
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from .. import NAME
from ..config import parse_duration
from ..errors import ConfigError

log = logging.getLogger(__name__)

MAX_CONNECTIONS_FLAG = "--web.max-connections"
READ_TIMEOUT_FLAG = "--web.read-timeout"
WRITE_TIMEOUT_FLAG = "--web.write-timeout"
# Connections the event loop accepts in one go, before the cap closes those beyond it: a
# listen backlog this short keeps that burst, and so the descriptors it takes, small.
BACKLOG = 32
# Descriptors kept for the poller (its HTTP client holds at most 100 connections, aiohttp's
# default), the config and certificate files, the log and a burst of accepted connections:
# a quarter of the limit, at least this many.
FD_RESERVE = 128 + BACKLOG
QUIET_FOR = 60.0  # seconds: one log line per kind of event in this time
_REFUSED = (
    "HTTP/1.1 503 Service Unavailable\r\n"
    f"Server: {NAME}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
).encode()


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """How much one client, and all of them together, may take of the server."""

    max_connections: int = 512
    read_timeout: float = 30.0  # to send a request's headers; and how long an idle one stays
    write_timeout: float = 60.0  # to read a whole answer


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of these limits, in Prometheus' style."""
    default = ServerLimits()
    p.add_argument(
        MAX_CONNECTIONS_FLAG,
        dest="max_connections",
        default=str(default.max_connections),
        metavar="N",
        help="most connections served at once; more are answered 503 and closed "
        f"(default: {default.max_connections}, lowered to leave the poller file descriptors)",
    )
    p.add_argument(
        READ_TIMEOUT_FLAG,
        dest="read_timeout",
        default=f"{default.read_timeout:g}s",
        metavar="DURATION",
        help="time a client has to send its request headers, and that an idle keep-alive "
        f"connection stays open (default: {default.read_timeout:g}s)",
    )
    p.add_argument(
        WRITE_TIMEOUT_FLAG,
        dest="write_timeout",
        default=f"{default.write_timeout:g}s",
        metavar="DURATION",
        help="time a client has to read a whole answer before the connection is closed "
        f"(default: {default.write_timeout:g}s)",
    )


def limits_from_args(ns: argparse.Namespace) -> ServerLimits:
    """The server limits the flags ask for; ConfigError naming the flag if one is wrong."""
    text = str(ns.max_connections).strip()
    if not text.isdigit() or not 1 <= int(text) <= 1_000_000:
        raise ConfigError(
            MAX_CONNECTIONS_FLAG, f"must be a whole number from 1 to 1000000, got {text!r}"
        )
    timeouts = []
    for flag, value in (
        (READ_TIMEOUT_FLAG, ns.read_timeout),
        (WRITE_TIMEOUT_FLAG, ns.write_timeout),
    ):
        seconds = parse_duration(value, flag)
        if not 0 < seconds <= 3600:
            raise ConfigError(flag, f"must be longer than 0 and at most 1h, got {value}")
        timeouts.append(seconds)
    return ServerLimits(int(text), timeouts[0], timeouts[1])


def return_freed_buffers() -> None:
    """Have glibc give the buffers of clients that stopped reading back to the system when
    they are freed.

    A client that stops reading leaves up to a slice or two of its answer in the
    connection's buffer. Freed, such blocks stay in glibc's heap (its threshold for mapping
    them separately grows as they come and go), so a flood of slow clients would leave its
    peak behind for good. A fixed threshold maps every block from 64 KiB up on its own.
    Elsewhere (musl, macOS) this does nothing.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, 64 * 1024)


_M_MMAP_THRESHOLD = -3  # glibc's malloc.h


def connection_cap(wanted: int, fd_limit: int | None = None) -> int:
    """``wanted``, lowered to leave the poller its descriptors under the process's limit."""
    if fd_limit is None:
        fd_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if fd_limit == resource.RLIM_INFINITY or fd_limit <= 0:
        return wanted
    return max(1, min(wanted, fd_limit - max(FD_RESERVE, fd_limit // 4)))


class LogThrottle:
    """Says whether an event of a kind should be logged now: once every QUIET_FOR seconds,
    with the number of events that were not."""

    def __init__(self, quiet_for: float = QUIET_FOR) -> None:
        self._quiet_for = quiet_for
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def due(self, kind: str) -> int | None:
        """None: do not log; else the number of events of this kind not logged before."""
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self._quiet_for:
            self._skipped[kind] = self._skipped.get(kind, 0) + 1
            return None
        self._last[kind] = now
        return self._skipped.pop(kind, 0)


def _also(skipped: int) -> str:
    return f" ({skipped} more since the last such line)" if skipped else ""


def cap_connections(server: web.Server, cap: int, throttle: LogThrottle) -> None:
    """Answer 503 and close every connection beyond ``cap`` at once.

    aiohttp has no such cap; its server learns of each connection before reading from it.
    """
    admit = server.connection_made

    def connection_made(handler: web.RequestHandler, transport: asyncio.Transport) -> None:
        admit(handler, transport)
        if len(server.connections) > cap:
            # Once the handler has started: closed before, it would fail on its first step.
            asyncio.get_running_loop().call_soon(_refuse, handler, transport)
            skipped = throttle.due("cap")
            if skipped is not None:
                log.warning(
                    "%d connections open: closing new ones (%s %d)%s",
                    cap,
                    MAX_CONNECTIONS_FLAG,
                    cap,
                    _also(skipped),
                )

    server.connection_made = connection_made  # type: ignore[method-assign]


def _refuse(handler: web.RequestHandler, transport: asyncio.Transport) -> None:
    # The answer first: the handler's force_close closes the transport (after sending
    # what was written to it).
    if not transport.is_closing():
        transport.write(_REFUSED)
    handler.force_close()


def quiet_loop_errors(loop: asyncio.AbstractEventLoop, throttle: LogThrottle) -> None:
    """Log the event loop's errors about sockets (``accept`` out of file descriptors, most
    of all) in one line per kind and minute; others as the loop would."""

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if not isinstance(exc, OSError):
            loop.default_exception_handler(context)
            return
        message = str(context.get("message", "socket error"))
        kind = f"{message}: {exc.strerror or type(exc).__name__}"
        skipped = throttle.due(kind)
        if skipped is not None:
            log.error("%s%s", kind, _also(skipped))

    loop.set_exception_handler(handler)


class _OneLineLogger(logging.Logger):
    """aiohttp's server logger, minus tracebacks.

    aiohttp logs a malformed request (oversized headers, a bad method) with a full
    traceback at ERROR; that is the client's mistake, so it goes to DEBUG as one line.
    Errors of our own keep their traceback only when DEBUG logging is on.
    """

    throttle = LogThrottle()

    def handle(self, record: logging.LogRecord) -> None:
        if self.throttle.due(f"{record.levelno} {record.msg}") is None:
            return  # said already this minute: a flood of one mistake is one line
        if record.exc_info:
            exc = record.exc_info[1]
            client_error = isinstance(exc, HttpProcessingError)
            # getEffectiveLevel, not isEnabledFor: this logger is unknown to logging's manager,
            # which would not clear its level cache when the configuration changes.
            debugging = self.getEffectiveLevel() <= logging.DEBUG
            if client_error:
                if not debugging:
                    return  # handlers do not filter by level themselves, usually
                record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            if client_error or not debugging:
                record.msg = f"{record.getMessage()}: {type(exc).__name__}"
                record.args = ()
                record.exc_info = None
                record.exc_text = None
        super().handle(record)


def server_logger(parent: logging.Logger) -> logging.Logger:
    """aiohttp's server logger for one runner, handing its records to ``parent``."""
    # Not registered with logging's manager: it exists for one runner and hands its records
    # to the parent, so the CLI's logging setup applies to them.
    logger = _OneLineLogger(f"{parent.name}.server")
    logger.parent = parent
    return logger
