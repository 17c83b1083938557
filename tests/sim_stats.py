"""What the simulator has been asked: API requests in flight, and every API call as it arrived.

A middleware of the simulator in tests (``simulated.Simulated`` installs it), so that tests
check concurrency and rate limits by structure (how many at once, how far apart) rather
than by how long a poll took, and what each call asked for (the page of a listing, the ids
of a batch) rather than trusting the exporter's account of it.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from drs_exporter.simulator.override import json_or_none
from drs_exporter.simulator.query import parse_pairs

_INTEGER = re.compile(r"-?[0-9]{1,12}")
MAX_ARRIVALS = 10_000  # the most recent ones kept
LISTING_API = "v5_jobs"  # the simulator's name for the v5 listing route
V3_LISTING_API = "v3_jobs"
BATCH_APIS = (
    "v3_batch_progress",
    "v3_batch_status",
    "v3_batch_detail",
    "v3_batch_rpo_rto",
    "v3_dr_monitoring",
)
PAGED_BATCH_APIS = ("v3_batch_status", "v3_batch_detail")  # with a page_req

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Arrival:
    """One API call as it arrived, before latency, faults or auth.

    ``job_type`` is a listing's ``job_type`` (v5) or ``db_use_type`` (v3); ``offset`` and
    ``limit`` a v5 listing's, ``cur_page`` and ``per_page`` a v3 listing's (or a
    batch-status call's ``page_req``), ``ids`` the ``jobs`` of a batch call, as sent.
    A figure that is absent takes the API's default; one that is not an integer is None.
    """

    at: float  # the monotonic clock RequestStats was given
    path: str
    project_id: str
    job_type: str | None
    offset: int | None = None
    limit: int | None = None
    api: str = LISTING_API
    cur_page: int | None = None
    per_page: int | None = None
    ids: tuple[str, ...] = ()


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
    """The Arrival of a v5 listing request with these decoded query pairs."""
    return Arrival(
        at=at,
        path=path,
        project_id=project_id,
        job_type=first(pairs, "job_type"),
        offset=integer(pairs, "offset", 0),
        limit=integer(pairs, "limit", 10),
    )


def _whole(body: Mapping[str, Any], key: str, default: int) -> int | None:
    value = body.get(key, default)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def body_arrival(at: float, path: str, project_id: str, api: str, body: Any) -> Arrival:
    """The Arrival of a v3 call (or IAM's) with this decoded JSON body."""
    body = body if isinstance(body, Mapping) else {}
    page = body.get("page_req") if api in PAGED_BATCH_APIS else body
    page = page if isinstance(page, Mapping) else {}
    jobs = body.get("jobs")
    job_type = body.get("db_use_type")
    paged = api in (V3_LISTING_API, *PAGED_BATCH_APIS)
    per_page = 10 if api == V3_LISTING_API else 5  # each call's default
    return Arrival(
        at=at,
        path=path,
        project_id=project_id,
        job_type=job_type if isinstance(job_type, str) else None,
        api=api,
        cur_page=_whole(page, "cur_page", 1) if paged else None,
        per_page=_whole(page, "per_page", per_page) if paged else None,
        ids=tuple(str(i) for i in jobs) if isinstance(jobs, list) else (),
    )


class RequestStats:
    """API requests (not the ``/_sim/`` hooks) in flight now and at most, and every API
    call's arrival, since the last reset.

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
        """Each v5 listing request in the order it arrived (of the last MAX_ARRIVALS calls)."""
        return self.of(LISTING_API)

    @property
    def calls(self) -> list[Arrival]:
        """Every API call (v5, v3, IAM) in the order it arrived (the last MAX_ARRIVALS)."""
        return list(self._arrivals)

    def of(self, *apis: str) -> list[Arrival]:
        """The calls to these APIs (``v5_jobs``, ``v3_jobs``, ``v3_batch_progress``,
        ``v3_batch_status``, ``iam_tokens``), in the order they arrived."""
        return [a for a in self._arrivals if a.api in apis]

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Note each API call's arrival and count it while it is answered."""
        if request.path.startswith("/_sim/"):
            return await handler(request)
        api = request.match_info.route.name
        if api is not None:
            path, _, query = request.raw_path.partition("?")
            project_id = request.match_info.get("project_id", "")
            at = self.monotonic()
            if api == LISTING_API:
                self._arrivals.append(arrival(at, path, project_id, parse_pairs(query)))
            else:
                body = json_or_none(await request.read())  # cached: the handler reads it too
                self._arrivals.append(body_arrival(at, path, project_id, api, body))
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
