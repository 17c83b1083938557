"""One DRS API request's way through the simulator, the same for every API, and the run-time
state it reads.

``serve()`` takes a request and the API's normal answer (a function of the project, the
query pairs and the JSON body) and does, in order: the four fault draws, the ``redirect``
fault (a proxy in front of the gateway), the gateway's auth check (over the body bytes as
received), the answer override (the extension point), the throttle and server-error faults,
the normal answer (a bad query or body: DRS's 400), the malformed-body fault or the gzip
bomb on a 2xx, and the header padding on any answer. The answer leaves once the latency,
and the ``hang`` fault if drawn, have passed since the request came: the simulator works on
it meanwhile, as a cloud API's servers work on requests side by side (``answer_after``).
With ``fault_apis`` or ``fault_projects`` set, the faults hit only the APIs and projects
they name (the draws are made all the same).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

from aiohttp import web

from ..metrics.gzipjoin import OpenMember, close_member, open_member, segment
from .gateway import Gateway
from .iam import Projects
from .options import SimulatorOptions
from .override import ApiCall, Override, json_or_none, pause
from .query import QueryError, parse_pairs
from .world import World

Clock = Callable[[], float]
T = TypeVar("T")
# The normal answer of an API: (simulator, project id, query pairs, decoded JSON body or
# None) -> (HTTP status, JSON text); a QueryError is DRS's 400.
Answer = Callable[["Simulator", str, Sequence[tuple[str, str]], Any], tuple[int, str]]

BAD_REQUEST = "DRS.10000001"
NOT_FOUND = {
    "error_code": "APIGW.0101",
    "error_msg": "The API does not exist or has not been published in the environment",
}
THROTTLED_MSG = "The request is throttled."
# Server errors in each of the three error shapes DRS has been seen to use.
SERVER_ERRORS: tuple[tuple[int, Mapping[str, str]], ...] = (
    (500, {"error_code": "DRS.10000001", "error_msg": "Internal server error."}),
    (502, {"errorCode": "DRS.10000502", "errorMsg": "Bad gateway."}),
    (503, {"code": "DRS.10000503", "message": "Service temporarily unavailable."}),
)
HTML_PAGE = (
    "<html><head><title>502 Bad Gateway</title></head>"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)


class Simulator:
    """The run-time state of one simulator: the world, the gateway, the current faults."""

    def __init__(
        self, options: SimulatorOptions, clock: Clock, override: Override | None = None
    ) -> None:
        self.options = options  # faults change at run time: replaced, never mutated
        self.world = World(options, clock)
        self.projects = Projects(self.world.project_ids)  # what IAM lists
        self.gateway = Gateway(options, clock, self.world.now)
        self.random = random.Random(f"faults-{options.seed}")
        self.stopping = asyncio.Event()
        self.override = override
        self._bomb: tuple[int, OpenMember, bytes] | None = None  # the padding of a gzip bomb

    async def pause(self, seconds: float) -> None:
        """Sleep, but wake at once when the server shuts down (a hang must not hold it)."""
        await pause(self.stopping, seconds, None)

    async def answer_after(self, seconds: float, answering: Awaitable[T]) -> T:
        """What ``answering`` gives, once ``seconds`` have passed since the request came
        (now). The simulator works on the answer within that time, not after it: a cloud
        API's servers work on requests side by side, so an answer takes its latency however
        many requests came with it. With ``one_worker`` it works on the answer only after
        that time, as one server working through its queue: the answers to a burst of
        requests then wait for each other's work, which adds the simulator's CPU to every
        client's round trips."""
        if self.options.one_worker:
            await self.pause(seconds)
            return await answering
        loop = asyncio.get_running_loop()
        due = loop.time() + seconds
        answered = await answering
        await self.pause(due - loop.time())
        return answered

    def bomb(self, answer: bytes) -> bytes:
        """``answer`` gzip-compressed after ``gzip_bomb_mib`` MiB of spaces: the padding is
        compressed once, and each answer joined to it without compressing it again."""
        mib = self.options.gzip_bomb_mib
        if self._bomb is None or self._bomb[0] != mib:
            padding = open_member([segment(b" " * (1 << 20))] * mib)
            self._bomb = (mib, padding, b"".join(padding.start))
        _, padding, start = self._bomb
        return start + close_member(padding, [segment(answer)])


SIMULATOR = web.AppKey("simulator", Simulator)


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    """A JSON answer (non-ASCII characters as they are, in UTF-8)."""
    return web.Response(
        status=status,
        text=json.dumps(body, ensure_ascii=False),
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def error_response(status: int, code: str, message: str) -> web.Response:
    """A DRS error answer."""
    return json_response(status, {"error_code": code, "error_msg": message})


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="application/json", charset="utf-8")


def _normal(
    sim: Simulator, answer: Answer, project_id: str, pairs: Sequence[tuple[str, str]], body: Any
) -> web.Response:
    try:
        return _text(*answer(sim, project_id, pairs, body))
    except QueryError as e:
        return error_response(400, BAD_REQUEST, str(e))


async def serve(request: web.Request, api: str, answer: Answer) -> web.StreamResponse:
    """Answer a request to the DRS API named ``api`` whose normal answer is ``answer``."""
    sim = request.app[SIMULATOR]
    o = sim.options
    project_id = request.match_info.get("project_id", "")
    hit = o.hits(api, project_id)
    # Four draws per request whatever happens, so a seed gives the same fault sequence.
    draws = _Draws(*(sim.random.random() for _ in range(4)))
    if not hit:
        draws = _Draws(1.0, 1.0, 1.0, 1.0)  # drawn all the same: the sequence holds
    # The body as it arrives, as a gateway reads it: a client that gives up during the
    # latency or a hang has sent it whole already.
    raw_body = await request.read()
    wait = o.latency + (o.hang if draws.hang < o.hang_rate else 0.0)
    serving = _serve(request, sim, api, answer, project_id, hit, draws, raw_body)
    response = await sim.answer_after(wait, serving)
    padding = o.header_padding
    if hit and padding and not response.prepared:
        response.headers["X-Padding"] = "x" * padding
    return response


class _Draws(NamedTuple):
    """A request's four fault draws, each uniform in [0, 1): a fault hits below its rate."""

    hang: float
    throttle: float
    error: float
    malformed: float


async def _serve(
    request: web.Request,
    sim: Simulator,
    api: str,
    answer: Answer,
    project_id: str,
    hit: bool,
    draws: _Draws,
    raw_body: bytes,
) -> web.StreamResponse:
    o = sim.options
    raw_path, _, raw_query = request.raw_path.partition("?")
    if hit and o.redirect:
        https = request.url.with_scheme("https")
        return web.Response(status=o.redirect, headers={"Location": str(https)})
    denied = sim.gateway.check(
        request.method, raw_path, raw_query, request.headers, raw_body, project_id
    )
    if denied is not None:
        return json_response(denied.status, denied.body)
    pairs = parse_pairs(raw_query)
    body = json_or_none(raw_body)
    if sim.override is not None:
        call = ApiCall(
            request,
            api,
            project_id,
            tuple(pairs),
            body,
            sim.world,
            lambda: _normal(sim, answer, project_id, pairs, body),
            sim.stopping,
        )
        overridden = await sim.override(call)
        if overridden is not None:
            return overridden
    if draws.throttle < o.throttle_rate:
        return _throttled(o, draws.throttle)
    if draws.error < o.error_rate:
        status, error_body = SERVER_ERRORS[min(2, int(draws.error / o.error_rate * 3))]
        return json_response(status, error_body)
    response = _normal(sim, answer, project_id, pairs, body)
    if 200 <= response.status < 300 and draws.malformed < o.malformed_rate:
        if draws.malformed < o.malformed_rate / 2:
            text = response.text or ""
            return web.Response(text=text[: len(text) // 2], content_type="application/json")
        return web.Response(text=HTML_PAGE, content_type="text/html")
    if 200 <= response.status < 300 and hit and o.gzip_bomb_mib:
        assert isinstance(response.body, bytes)
        return web.Response(
            status=response.status,
            body=sim.bomb(response.body),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )
    return response


def _throttled(o: SimulatorOptions, draw: float) -> web.Response:
    # Both spellings of the code are seen in the wild.
    code = "APIG.0308" if draw < o.throttle_rate / 2 else "APIGW.0308"
    headers = {}
    if o.retry_after is not None:
        seconds = o.retry_after
        headers["Retry-After"] = str(int(seconds)) if seconds == int(seconds) else str(seconds)
    return json_response(429, {"error_code": code, "error_msg": THROTTLED_MSG}, headers)
