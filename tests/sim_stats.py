"""What the simulator has been asked: API requests in flight, and when each listing arrived.

A middleware of the simulator in tests (``simulated.Simulated`` installs it), so that tests
check concurrency and rate limits by structure (how many at once, how far apart) rather
than by how long a poll took.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

from drs_exporter.simulator.query import parse_pairs

_INTEGER = re.compile(r"-?[0-9]{1,12}")
MAX_ARRIVALS = 10_000  # the most recent ones kept
LISTING_API = "v5_jobs"  # the simulator's name for the listing route

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Arrival:
    """One listing request as it arrived, before latency, faults or auth."""

    at: float  # the monotonic clock RequestStats was given
    path: str
    project_id: str
    job_type: str | None
    offset: int | None  # 0 when absent; None when not an integer
    limit: int | None  # 10 when absent; None when not an integer


def first(pairs: Sequence[tuple[str, str]], key: str) -> str | None:
    """The value of a query parameter; the first of a repeated one wins, as in the listing."""
    return next((v for k, v in pairs if k == key), None)


def integer(pairs: Sequence[tuple[str, str]], key: str, default: int) -> int | None:
    """A whole-number parameter: ``default`` when absent or blank, None when not a number."""
    text = (first(pairs, key) or "").strip()
    if not text:
        return default
    return int(text) if _INTEGER.fullmatch(text) else None


def arrival(at: float, path: str, project_id: str, pairs: Sequence[tuple[str, str]]) -> Arrival:
    """The Arrival of a listing request with these decoded query pairs."""
    return Arrival(
        at=at,
        path=path,
        project_id=project_id,
        job_type=first(pairs, "job_type"),
        offset=integer(pairs, "offset", 0),
        limit=integer(pairs, "limit", 10),
    )


class RequestStats:
    """API requests (not the ``/_sim/`` hooks) in flight now and at most, and listing
    arrivals, since the last reset.

    A request whose client has gone counts as in flight until its hang or latency is over.
    """

    def __init__(self, monotonic: Callable[[], float]) -> None:
        self.monotonic = monotonic
        self.in_flight = 0
        self.most_in_flight = 0
        self._arrivals: deque[Arrival] = deque(maxlen=MAX_ARRIVALS)
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    @property
    def arrivals(self) -> list[Arrival]:
        """Each listing request in the order it arrived (the last MAX_ARRIVALS)."""
        return list(self._arrivals)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Note each listing's arrival and count every API request while it is answered."""
        if request.path.startswith("/_sim/"):
            return await handler(request)
        if request.match_info.route.name == LISTING_API:
            path, _, query = request.raw_path.partition("?")
            project_id = request.match_info["project_id"]
            self._arrivals.append(arrival(self.monotonic(), path, project_id, parse_pairs(query)))
        self._enter()
        try:
            return await handler(request)
        finally:
            self.in_flight -= 1

    def _enter(self) -> None:
        # Wake those waiting for this many in flight.
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        waiting = []
        for n, future in self._waiters:
            if future.done():
                continue  # given up (timed out or cancelled)
            if n <= self.in_flight:
                future.set_result(None)
            else:
                waiting.append((n, future))
        self._waiters = waiting

    def reached(self, n: int) -> asyncio.Future[None]:
        """A future done once ``n`` API requests are in flight at once (at once if so now).

        Waiters are woken when the count reaches ``n``, so they all go even if one of them
        answers, and the count drops, before the others have run.
        """
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.in_flight >= n:
            future.set_result(None)
        else:
            self._waiters.append((n, future))
        return future

    def reset(self) -> None:
        """Forget the arrivals; the most in flight starts again from those in flight now."""
        self._arrivals.clear()
        self.most_in_flight = self.in_flight
