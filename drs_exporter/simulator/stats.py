"""What the simulator has been asked: API requests in flight, and when each listing arrived.

Tests read these through ``GET /_sim/stats`` to check concurrency and rate limits by
structure (how many at once, how far apart) rather than by how long a poll took.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

_INTEGER = re.compile(r"-?[0-9]{1,12}")
MAX_ARRIVALS = 10_000  # the most recent ones kept: a long-running demo must not grow


@dataclass(frozen=True)
class Arrival:
    """One listing request as it arrived, before latency, faults or auth."""

    at: float  # the simulator's monotonic clock
    path: str
    project_id: str
    job_type: str | None
    offset: int | None  # 0 when absent; None when not an integer
    limit: int | None  # 10 when absent; None when not an integer


def _first(pairs: Sequence[tuple[str, str]], key: str) -> str | None:
    # The first of a repeated parameter wins, as in the listing itself.
    return next((v for k, v in pairs if k == key), None)


def _integer(pairs: Sequence[tuple[str, str]], key: str, default: int) -> int | None:
    text = (_first(pairs, key) or "").strip()
    if not text:
        return default
    return int(text) if _INTEGER.fullmatch(text) else None


def arrival(at: float, path: str, project_id: str, pairs: Sequence[tuple[str, str]]) -> Arrival:
    """The Arrival of a listing request with these decoded query pairs."""
    return Arrival(
        at=at,
        path=path,
        project_id=project_id,
        job_type=_first(pairs, "job_type"),
        offset=_integer(pairs, "offset", 0),
        limit=_integer(pairs, "limit", 10),
    )


class RequestStats:
    """API requests in flight now and at most, and listing arrivals, since the last reset."""

    def __init__(self, monotonic: Callable[[], float]) -> None:
        self.monotonic = monotonic
        self.in_flight = 0
        self.most_in_flight = 0
        self._arrivals: deque[Arrival] = deque(maxlen=MAX_ARRIVALS)
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def enter(self) -> None:
        """An API request has arrived; wake those waiting for this many in flight."""
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

    def leave(self) -> None:
        """An API request has been answered (or given up)."""
        self.in_flight -= 1

    def listed(self, arrival: Arrival) -> None:
        """A listing request has arrived (the oldest beyond MAX_ARRIVALS is forgotten)."""
        self._arrivals.append(arrival)

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

    def as_json(self) -> dict[str, Any]:
        return {
            "in_flight": self.in_flight,
            "most_in_flight": self.most_in_flight,
            "listings": [asdict(a) for a in self._arrivals],
        }
