"""The simulator's aiohttp application: every route (``ROUTES``: the DRS APIs, IAM, the
control hooks), and the server.

Each DRS API is its normal answer (``answers``), served through the one request pipeline
(``pipeline.serve``: faults, auth, the override); ``build_app()`` also takes extra aiohttp
middlewares.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..drs.batch_calls import (
    BATCH_DETAIL,
    BATCH_PROGRESS,
    BATCH_RPO_RTO,
    BATCH_STATUS,
    DR_MONITORING,
)
from ..drs.quotas import QUOTAS_API, QUOTAS_PATH
from ..list_apis import V3_JOBS, V5_JOBS
from ..polling.counters import IAM_API_NAMES
from ..web.server import base_url
from . import answers
from .engines import V3, V5
from .gateway import Issued
from .hooks import (
    HookError,
    sim_add_job,
    sim_add_project,
    sim_advance,
    sim_delete_job,
    sim_delete_project,
    sim_faults,
    sim_iam,
    sim_projects,
    sim_set_health,
    sim_set_published,
    sim_set_status,
    sim_summary,
)
from .iam import DOMAIN_ID
from .options import SimulatorOptions
from .override import Override
from .pipeline import (
    NOT_FOUND,
    SIMULATOR,
    Answer,
    Clock,
    Simulator,
    error_response,
    json_response,
    serve,
)
from .world import World

if TYPE_CHECKING:
    from aiohttp.typedefs import Middleware

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_BODY = 1024 * 1024


@web.middleware
async def _request_id(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every answer carries an X-Request-Id; unknown routes answer as the gateway does."""
    request_id = uuid.uuid4().hex
    try:
        response = await handler(request)
    except HookError as e:
        response = json_response(e.status, {"error": e.message})
    except web.HTTPException as e:
        if e.status == 404:
            response = json_response(404, NOT_FOUND)
        elif e.status == 405:
            response = error_response(405, "APIGW.0101", "The method is not allowed for this API.")
        else:
            e.headers["X-Request-Id"] = request_id
            raise
    if not response.prepared:  # a streamed answer has sent its headers, id included
        response.headers["X-Request-Id"] = request_id
    return response


def _api(name: str, answer: Answer, *, family: str) -> Handler:
    """The handler of one DRS API, which belongs to the v5 or the v3 ``family``; it answers
    as an unknown API in a region that does not publish that family."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if family not in request.app[SIMULATOR].world.published:
            return json_response(404, NOT_FOUND)
        return await serve(request, name, answer)

    return handle


async def issue_token(request: web.Request) -> web.StreamResponse:
    """IAM password login (when ``iam_*`` are set; else 404): 201 with ``X-Subject-Token``."""
    sim = request.app[SIMULATOR]
    return await sim.answer_after(sim.options.latency, _issue_token(sim, request))


async def _issue_token(sim: Simulator, request: web.Request) -> web.StreamResponse:
    if not sim.options.iam:
        return json_response(404, NOT_FOUND)
    result = sim.gateway.issue(await request.read())
    if isinstance(result, Issued):
        return json_response(201, result.body, {"X-Subject-Token": result.token})
    return json_response(result.status, result.body)


def _iam_api(answer: Callable[[Simulator, str], Any], domain_header: bool) -> Handler:
    """A handler of IAM (a global service): the signature or token is checked without a
    project; with ``domain_header``, an AK/SK signature must name the account too."""

    async def handle(request: web.Request) -> web.StreamResponse:
        sim = request.app[SIMULATOR]
        return await sim.answer_after(sim.options.latency, answering(sim, request))

    async def answering(sim: Simulator, request: web.Request) -> web.StreamResponse:
        raw_path, _, raw_query = request.raw_path.partition("?")
        denied = sim.gateway.check_global(
            request.method,
            raw_path,
            raw_query,
            request.headers,
            await request.read(),
            DOMAIN_ID if domain_header else None,
        )
        if denied is not None:
            return json_response(denied.status, denied.body)
        status = sim.projects.fail_status
        if status is not None:
            message = {"code": str(status), "title": "Error", "message": "IAM is failing."}
            return json_response(status, {"error": message})
        return json_response(200, answer(sim, f"{request.scheme}://{request.host}"))

    return handle


def _projects(sim: Simulator, base: str) -> Any:
    """The projects IAM says the caller can reach."""
    return sim.projects.listing(base)


def _domains(sim: Simulator, base: str) -> Any:
    """The caller's account."""
    return sim.projects.domains(base, sim.options.iam_domain or "simulated-account")


@dataclass(frozen=True)
class Route:
    """One route of the simulator: what it is for, in a line of ``simulate --help``, and its
    handler (whose docstring, or its answer's, says how it answers)."""

    method: str
    path: str
    handler: Handler
    does: str  # its line in ``simulate --help`` (a line break continues it below)
    name: str | None = None  # a DRS or IAM API's route is named for the API
    query: str = ""  # the query ``simulate --help`` shows after the path


def _drs(api: str, method: str, path: str, answer: Answer, family: str, does: str) -> Route:
    return Route(method, path, _api(api, answer, family=family), does, api)


# Every route, in the order ``simulate --help`` lists them: the DRS and IAM APIs, as DRS and
# its gateway answer them, then the control hooks under /_sim/ (no auth, no faults).
ROUTES: tuple[Route, ...] = (
    _drs(
        V5_JOBS.api,
        V5_JOBS.method,
        V5_JOBS.path,
        answers.v5_jobs,
        V5,
        "list jobs (v5: its four engines)",
    ),
    _drs(
        V3_JOBS.api,
        V3_JOBS.method,
        V3_JOBS.path,
        answers.v3_jobs,
        V3,
        "list jobs (v3: the other engines, MySQL sync)",
    ),
    _drs(
        BATCH_PROGRESS.api,
        "POST",
        BATCH_PROGRESS.route,
        answers.batch_progress,
        V3,
        "progress, delay, remaining time of jobs",
    ),
    _drs(
        BATCH_STATUS.api,
        "POST",
        BATCH_STATUS.route,
        answers.batch_status,
        V3,
        "status and failure reason of jobs",
    ),
    _drs(
        BATCH_DETAIL.api,
        "POST",
        BATCH_DETAIL.route,
        answers.batch_detail,
        V3,
        "subscription, alarm thresholds, tags of jobs",
    ),
    _drs(
        BATCH_RPO_RTO.api,
        "POST",
        BATCH_RPO_RTO.route,
        answers.batch_rpo_rto,
        V3,
        "RPO and RTO of DR jobs (answers 202)",
    ),
    _drs(
        DR_MONITORING.api,
        "POST",
        DR_MONITORING.route,
        answers.dr_monitoring,
        V3,
        "connections, CPU, memory, disk of DR jobs\n(at most 10 ids a request)",
    ),
    _drs(QUOTAS_API, "GET", QUOTAS_PATH, answers.quotas, V3, "the project's DRS quota"),
    Route(
        "POST",
        "/v3/auth/tokens",
        issue_token,
        "IAM password login (with --iam-*)",
        IAM_API_NAMES[0],
    ),
    Route(
        "GET",
        "/v3/auth/projects",
        _iam_api(_projects, True),
        "IAM: the projects the caller can reach",
        IAM_API_NAMES[1],
    ),
    Route(
        "GET",
        "/v3/auth/domains",
        _iam_api(_domains, False),
        "IAM: the caller's account (its id)",
        IAM_API_NAMES[2],
    ),
    Route(
        "GET",
        "/_sim/summary",
        sim_summary,
        "the truth: jobs per status, overall and per API",
        query="[?ids=true]",
    ),
    Route(
        "POST",
        "/_sim/faults",
        sim_faults,
        'change latency and fault rates {"error_rate": 0.1, ...}',
    ),
    Route(
        "POST",
        "/_sim/jobs",
        sim_add_job,
        'add a job {"project_id", "job_type", "job", "apis"}',
    ),
    Route(
        "POST",
        "/_sim/jobs/{job_id}/status",
        sim_set_status,
        'pin a status {"status": "..."}, null unpins',
    ),
    Route(
        "POST",
        "/_sim/jobs/{job_id}/health",
        sim_set_health,
        'pin {"delay_seconds", "frozen", "progress",\n"error_code", "error_message"}, null unpins',
    ),
    Route("DELETE", "/_sim/jobs/{job_id}", sim_delete_job, "remove a job or subtask"),
    Route("POST", "/_sim/advance", sim_advance, 'move simulated time {"seconds": n}'),
    Route("GET", "/_sim/projects", sim_projects, "the projects IAM lists, without auth"),
    Route(
        "POST",
        "/_sim/projects",
        sim_add_project,
        'add a project to IAM\'s list {"name", "id", "enabled"}',
    ),
    Route(
        "DELETE",
        "/_sim/projects/{project_id}",
        sim_delete_project,
        "remove a project from IAM's list",
    ),
    Route(
        "POST",
        "/_sim/iam",
        sim_iam,
        'make IAM\'s project list fail {"fail_status": 503}, null heals',
    ),
    Route("POST", "/_sim/apis", sim_set_published, 'publish only these list APIs {"apis": ["v3"]}'),
)


def endpoints_help() -> str:
    """What ``drs-exporter simulate --help`` says the simulator serves: a line per route."""
    apis = ["endpoints (as DRS and its gateway answer them):"]
    hooks = ["control hooks (no auth, no faults; answers are JSON):"]
    for route in ROUTES:
        hook = route.path.startswith("/_sim/")
        width = 27 if hook else 37  # the path column
        path = route.path + route.query
        first, *more = route.does.split("\n")
        lines = hooks if hook else apis
        if len(path) > width:
            lines.append(f"  {route.method:<6} {path}")
            more = [first, *more]
        else:
            lines.append(f"  {route.method:<6} {path:<{width}} {first}")
        lines.extend(" " * (width + 10) + line for line in more)
    return "\n".join([*apis, *hooks]) + "\n"


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
    an API's route is named for the API (``Route.name``), as ``ApiCall.api`` is.
    ``override`` is consulted by the API handlers (see ``ApiCall``).
    """
    app = web.Application(middlewares=[_request_id, *middlewares], client_max_size=MAX_BODY)
    app[SIMULATOR] = Simulator(options, clock, override)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler, name=route.name)
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
    return RunningSimulator(runner, app, base_url(runner))
