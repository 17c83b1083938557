"""The simulator's aiohttp application: the DRS listing API, IAM tokens, faults, control hooks.

The DRS API handlers consult the extension point (``override``) once a request has passed
the gateway; ``build_app()`` also takes extra aiohttp middlewares.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..errors import ConfigError
from .gateway import Denied, Gateway, Issued
from .options import FAULT_FIELDS, SimulatorOptions
from .override import ApiCall, Override, json_or_none, pause
from .query import QueryError, parse_job_query, parse_pairs
from .world import World

if TYPE_CHECKING:
    from aiohttp.typedefs import Middleware

Clock = Callable[[], float]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_BODY = 1024 * 1024
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
        self.gateway = Gateway(options, clock, self.world.now)
        self.random = random.Random(f"faults-{options.seed}")
        self.stopping = asyncio.Event()
        self.override = override

    async def pause(self, seconds: float) -> None:
        """Sleep, but wake at once when the server shuts down (a hang must not hold it)."""
        await pause(self.stopping, seconds, None)

    async def overridden(
        self,
        request: web.Request,
        api: str,
        project_id: str,
        query: Iterable[tuple[str, str]],
        body: bytes,
        normal: Callable[[], web.Response],
    ) -> web.StreamResponse | None:
        """The override's answer to an API request that has passed the gateway, if any."""
        if self.override is None:
            return None
        decoded = json_or_none(body)
        call = ApiCall(
            request, api, project_id, tuple(query), decoded, self.world, normal, self.stopping
        )
        return await self.override(call)


SIMULATOR = web.AppKey("simulator", Simulator)


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(body, ensure_ascii=False),
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def _error(status: int, code: str, message: str) -> web.Response:
    return _json(status, {"error_code": code, "error_msg": message})


def _denied(denied: Denied) -> web.Response:
    return _json(denied.status, denied.body)


class HookError(Exception):
    """A control-hook request that cannot be done: answered as {"error": message}."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@web.middleware
async def _request_id(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every answer carries an X-Request-Id; unknown routes answer as the gateway does."""
    request_id = uuid.uuid4().hex
    try:
        response = await handler(request)
    except HookError as e:
        response = _json(e.status, {"error": e.message})
    except web.HTTPException as e:
        if e.status == 404:
            response = _json(404, NOT_FOUND)
        elif e.status == 405:
            response = _error(405, "APIGW.0101", "The method is not allowed for this API.")
        else:
            e.headers["X-Request-Id"] = request_id
            raise
    if not response.prepared:  # a streamed answer has sent its headers, id included
        response.headers["X-Request-Id"] = request_id
    return response


async def list_jobs(request: web.Request) -> web.StreamResponse:
    """``GET /v5/{project_id}/jobs``."""
    sim = request.app[SIMULATOR]
    o = sim.options
    raw_path, _, raw_query = request.raw_path.partition("?")
    project_id = request.match_info["project_id"]
    # Four draws per request whatever happens, so a seed gives the same fault sequence.
    hang, throttle, error, malformed = (sim.random.random() for _ in range(4))
    await sim.pause(o.latency)
    if hang < o.hang_rate:
        await sim.pause(o.hang)
    body = await request.read()
    denied = sim.gateway.check(
        request.method, raw_path, raw_query, request.headers, body, project_id
    )
    if denied is not None:
        return _denied(denied)
    pairs = parse_pairs(raw_query)
    overridden = await sim.overridden(
        request,
        "v5_jobs",
        project_id,
        pairs,
        body,
        lambda: _answer(*_listing(sim, project_id, pairs)),
    )
    if overridden is not None:
        return overridden
    if throttle < o.throttle_rate:
        return _throttled(o, throttle)
    if error < o.error_rate:
        status, error_body = SERVER_ERRORS[min(2, int(error / o.error_rate * 3))]
        return _json(status, error_body)
    status, text = _listing(sim, project_id, pairs)
    if status == 200 and malformed < o.malformed_rate:
        if malformed < o.malformed_rate / 2:
            return web.Response(text=text[: len(text) // 2], content_type="application/json")
        return web.Response(text=HTML_PAGE, content_type="text/html")
    return _answer(status, text)


def _listing(sim: Simulator, project_id: str, pairs: Sequence[tuple[str, str]]) -> tuple[int, str]:
    """The normal answer to a listing: 200 and the page, or a DRS 400 for a bad query."""
    try:
        query = parse_job_query(pairs)
    except QueryError as e:
        return 400, json.dumps({"error_code": "DRS.10000001", "error_msg": str(e)})
    return 200, sim.world.list_jobs(project_id, query, sim.options.page_cap)


def _answer(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="application/json", charset="utf-8")


def _throttled(o: SimulatorOptions, draw: float) -> web.Response:
    # Both spellings of the code are seen in the wild.
    code = "APIG.0308" if draw < o.throttle_rate / 2 else "APIGW.0308"
    headers = {}
    if o.retry_after is not None:
        seconds = o.retry_after
        headers["Retry-After"] = str(int(seconds)) if seconds == int(seconds) else str(seconds)
    return _json(429, {"error_code": code, "error_msg": THROTTLED_MSG}, headers)


async def issue_token(request: web.Request) -> web.StreamResponse:
    """``POST /v3/auth/tokens``: IAM password login, answered with X-Subject-Token."""
    sim = request.app[SIMULATOR]
    await sim.pause(sim.options.latency)
    if not sim.options.iam:
        return _json(404, NOT_FOUND)
    result = sim.gateway.issue(await request.read())
    if isinstance(result, Issued):
        return _json(201, result.body, {"X-Subject-Token": result.token})
    return _denied(result)


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read())
    except ValueError:
        raise HookError(400, "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise HookError(400, "the body must be a JSON object")
    return body


async def sim_summary(request: web.Request) -> web.StreamResponse:
    """``GET /_sim/summary``."""
    return _json(200, request.app[SIMULATOR].world.summary())


async def sim_faults(request: web.Request) -> web.StreamResponse:
    """``POST /_sim/faults``: change fault options; answers with all of them."""
    sim = request.app[SIMULATOR]
    changes = await _json_body(request)
    unknown = sorted(set(changes) - set(FAULT_FIELDS))
    if unknown:
        raise HookError(400, f"unknown fault option(s): {', '.join(unknown)}")
    for name, value in changes.items():
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (number or (value is None and name == "retry_after")):
            raise HookError(400, f"{name} must be a number")
    try:
        sim.options = dataclasses.replace(sim.options, **changes)
    except ConfigError as e:
        raise HookError(400, str(e)) from None
    return _json(200, {name: getattr(sim.options, name) for name in FAULT_FIELDS})


async def sim_set_status(request: web.Request) -> web.StreamResponse:
    """``POST /_sim/jobs/{id}/status`` with ``{"status": "..."}`` (null: unpin)."""
    status = (await _json_body(request)).get("status")
    if status is not None and not isinstance(status, str):
        raise HookError(400, "status must be a string or null")
    job_id = request.match_info["job_id"]
    if not request.app[SIMULATOR].world.set_status(job_id, status):
        raise HookError(404, "no such job")
    return _json(200, {"id": job_id, "status": status})


async def sim_delete_job(request: web.Request) -> web.StreamResponse:
    """``DELETE /_sim/jobs/{id}``."""
    if not request.app[SIMULATOR].world.delete(request.match_info["job_id"]):
        raise HookError(404, "no such job")
    return web.Response(status=204)


async def sim_add_job(request: web.Request) -> web.StreamResponse:
    """``POST /_sim/jobs`` with ``{"project_id": ..., "job_type": ..., "job": {...}}``."""
    body = await _json_body(request)
    project_id, job_type, job = body.get("project_id"), body.get("job_type"), body.get("job")
    if not isinstance(project_id, str) or not project_id or not isinstance(job, dict):
        raise HookError(400, "project_id (a string) and job (an object) are required")
    try:
        job_id = request.app[SIMULATOR].world.add_job(project_id, str(job_type), job)
    except ValueError as e:
        raise HookError(400, str(e)) from None
    return _json(201, {"id": job_id})


async def sim_advance(request: web.Request) -> web.StreamResponse:
    """``POST /_sim/advance`` with ``{"seconds": n}``: move simulated time forward."""
    world = request.app[SIMULATOR].world
    seconds = (await _json_body(request)).get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise HookError(400, "seconds must be a number")
    try:
        world.advance(float(seconds))
    except ValueError as e:
        raise HookError(400, str(e)) from None
    return _json(200, {"now": world.now()})


async def _on_shutdown(app: web.Application) -> None:
    app[SIMULATOR].stopping.set()


def build_app(
    options: SimulatorOptions,
    clock: Clock = time.time,
    *,
    middlewares: Iterable[Middleware] = (),
    override: Override | None = None,
) -> web.Application:
    """The simulator as an aiohttp application (serve it with web.run_app or start()).

    ``clock`` is the wall clock the world and signatures run on. ``middlewares`` run inside
    the simulator's own (which gives every answer its X-Request-Id), around every request;
    routes are named for their API (``v5_jobs``, ``iam_tokens``), as ``ApiCall.api`` is.
    ``override`` is consulted by the API handlers (see ``ApiCall``).
    """
    app = web.Application(middlewares=[_request_id, *middlewares], client_max_size=MAX_BODY)
    app[SIMULATOR] = Simulator(options, clock, override)
    app.router.add_get("/v5/{project_id}/jobs", list_jobs, name="v5_jobs")
    app.router.add_post("/v3/auth/tokens", issue_token, name="iam_tokens")
    app.router.add_get("/_sim/summary", sim_summary)
    app.router.add_post("/_sim/faults", sim_faults)
    app.router.add_post("/_sim/jobs", sim_add_job)
    app.router.add_post("/_sim/jobs/{job_id}/status", sim_set_status)
    app.router.add_delete("/_sim/jobs/{job_id}", sim_delete_job)
    app.router.add_post("/_sim/advance", sim_advance)
    app.on_shutdown.append(_on_shutdown)
    return app


class RunningSimulator:
    """A simulator serving on a real socket; ``close()`` stops it."""

    def __init__(self, runner: web.AppRunner, app: web.Application, url: str) -> None:
        self._runner = runner
        self._app = app
        self.url = url

    @property
    def world(self) -> World:
        return self._app[SIMULATOR].world

    @property
    def project_ids(self) -> list[str]:
        return self.world.project_ids

    async def close(self) -> None:
        self._app[SIMULATOR].stopping.set()
        await self._runner.cleanup()


async def start(
    options: SimulatorOptions,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Clock = time.time,
    *,
    middlewares: Iterable[Middleware] = (),
    override: Override | None = None,
) -> RunningSimulator:
    """Serve a simulator on host:port (0: any free port) until ``close()``; ``middlewares``
    and ``override`` are as for build_app()."""
    app = build_app(options, clock, middlewares=middlewares, override=override)
    runner = web.AppRunner(app, shutdown_timeout=5.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_host, bound_port = runner.addresses[0][:2]
    url_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    return RunningSimulator(runner, app, f"http://{url_host}:{bound_port}")
