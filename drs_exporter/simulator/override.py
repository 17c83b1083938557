"""The simulator's extension point: what an answer override is given, and how it may sleep.

An override is awaited by each DRS API handler once a request has passed the gateway, and
either answers the request itself or returns None to let the simulator answer as usual.
Embedders (the test suite, to script answers and move jobs between pages) pass one to
``build_app()`` or ``start()``; the package itself never sets one.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .world import World


async def pause(stopping: asyncio.Event, seconds: float, until: Awaitable[object] | None) -> None:
    """Sleep ``seconds``, waking early once ``stopping`` is set (a hang must not hold up
    shutdown) or ``until`` is done."""
    if seconds <= 0 and until is None:
        return
    waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(stopping.wait())]
    if until is not None:
        waits.append(asyncio.ensure_future(until))
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()


def json_or_none(body: bytes) -> Any:
    """A request body decoded as JSON; None when it is empty or not JSON."""
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


@dataclass(frozen=True)
class ApiCall:
    """An API request that has passed the gateway, as an answer override sees it.

    ``api`` names the API as ``drs_api_requests_total`` does (``v5_jobs``, ``v3_jobs``,
    ``v3_batch_progress``, ``v3_batch_status``); ``query`` is the
    decoded query pairs in order, blanks and repeats kept; ``body`` the decoded JSON body,
    None when there is none or it is not JSON (``await request.read()`` has the bytes);
    ``world`` the simulated world, to read or to change before answering.
    """

    request: web.Request
    api: str
    project_id: str
    query: tuple[tuple[str, str], ...]
    body: Any
    world: World = field(repr=False)
    _normal: Callable[[], web.Response] = field(repr=False)
    _stopping: asyncio.Event = field(repr=False)

    def normal(self) -> web.Response:
        """The answer the API gives this request with no fault and no override (a new one
        each time: 200 and the API's answer, or DRS's 400 for a bad query or body)."""
        return self._normal()

    async def pause(self, seconds: float, until: Awaitable[object] | None = None) -> None:
        """Sleep ``seconds``, waking early when the simulator shuts down or ``until`` is done."""
        await pause(self._stopping, seconds, until)


# None lets the simulator answer as usual (its fault answers, then the normal one); a
# response is sent instead. The four fault draws come first either way, so a seed gives the
# same fault sequence whatever the override does; the latency and the hang fault, counted
# from the request's arrival, are waited out before the answer leaves.
Override = Callable[[ApiCall], Awaitable[web.StreamResponse | None]]
