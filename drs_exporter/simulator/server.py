"""The simulator's aiohttp application: the DRS APIs (v5 and v3), IAM, control hooks.

Each DRS API is its normal answer, a function of the project, the query and the body,
served through the one request pipeline (``pipeline.serve``: faults, auth, the override);
``build_app()`` also takes extra aiohttp middlewares.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..drs.batch_calls import BATCH_PROGRESS, BATCH_RPO_RTO, BATCH_STATUS, DR_MONITORING
from ..drs.quotas import QUOTAS_API
from ..list_apis import V3_JOBS, V5_JOBS
from ..polling.counters import IAM_API_NAMES
from ..web.server import base_url
from .bodies import Batch, parse_batch, parse_listing
from .dr import MONITORING_CAP
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
from .query import parse_job_query
from .world import Told, World, true_total

if TYPE_CHECKING:
    from aiohttp.typedefs import Middleware

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Pairs = Sequence[tuple[str, str]]

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


def _v5_jobs(
    sim: Simulator, project_id: str, pairs: Sequence[tuple[str, str]], _: Any
) -> tuple[int, str]:
    """``GET /v5/{project_id}/jobs``."""
    query = parse_job_query(pairs)
    endless, told = _paging_faults(sim, V5_JOBS.api, project_id)
    if endless:
        query = dataclasses.replace(query, offset=0)
    return 200, sim.world.list_jobs(project_id, query, sim.options.page_cap, told)


def _v3_jobs(sim: Simulator, project_id: str, _: Pairs, body: Any) -> tuple[int, str]:
    """``POST /v3/{project_id}/jobs``."""
    listing = parse_listing(body)
    endless, told = _paging_faults(sim, V3_JOBS.api, project_id)
    if endless:
        listing = dataclasses.replace(listing, cur_page=1)
    return 200, sim.world.list_jobs_v3(project_id, listing, sim.options.page_cap, told)


def _paging_faults(sim: Simulator, api: str, project_id: str) -> tuple[bool, Told]:
    """Whether a listing answers its first page whatever is asked, and the total it says."""
    o = sim.options
    if not o.hits(api, project_id):
        return False, true_total
    if o.endless_pages:
        return True, lambda total: None
    lie = o.lying_total
    return False, true_total if lie is None else lambda total: lie


def _v3_batch_progress(sim: Simulator, project_id: str, _: Pairs, body: Any) -> tuple[int, str]:
    """``POST /v3/{project_id}/jobs/batch-progress``."""
    batch = _answered(sim, parse_batch(body, sim.options.batch_cap, paged=False))
    return 200, sim.world.batch_progress(project_id, batch, sim.options.garble_rate)


def _v3_batch_status(sim: Simulator, project_id: str, _: Pairs, body: Any) -> tuple[int, str]:
    """``POST /v3/{project_id}/jobs/batch-status``."""
    batch = _answered(sim, parse_batch(body, sim.options.batch_cap, paged=True))
    return 200, sim.world.batch_status(project_id, batch)


def _v3_batch_rpo_rto(sim: Simulator, project_id: str, _: Pairs, body: Any) -> tuple[int, str]:
    """``POST /v3/{project_id}/jobs/batch-rpo-and-rto``: 202 on success, as documented."""
    batch = _answered(sim, parse_batch(body, sim.options.batch_cap, paged=False))
    return 202, sim.world.batch_objectives(project_id, batch)


def _v3_dr_monitoring(sim: Simulator, project_id: str, _: Pairs, body: Any) -> tuple[int, str]:
    """``POST /v3/{project_id}/jobs/disaster-recovery-monitoring-data``: at most 10 ids."""
    cap = min(MONITORING_CAP, sim.options.batch_cap or MONITORING_CAP)
    batch = _answered(sim, parse_batch(body, cap, paged=False))
    return 200, sim.world.dr_monitoring(project_id, batch)


def _v3_quotas(sim: Simulator, project_id: str, _: Pairs, body: Any) -> tuple[int, str]:
    """``GET /v3/{project_id}/quotas``."""
    return 200, sim.world.quota(project_id)


def _answered(sim: Simulator, batch: Batch) -> Batch:
    """The ids a batch call answers for: with ``batch_answer_cap``, only the first ones, as a
    server that takes fewer ids than it was sent would."""
    cap = sim.options.batch_answer_cap
    return dataclasses.replace(batch, ids=batch.ids[:cap]) if cap else batch


def _api(name: str, answer: Answer, *, family: str) -> Handler:
    """The handler of one DRS API, which belongs to the v5 or the v3 ``family``; it answers
    as an unknown API in a region that does not publish that family."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if family not in request.app[SIMULATOR].world.published:
            return json_response(404, NOT_FOUND)
        return await serve(request, name, answer)

    return handle


# (method, path, route and API name, normal answer, the API version it belongs to)
APIS: tuple[tuple[str, str, str, Answer, str], ...] = (
    (V5_JOBS.method, V5_JOBS.path, V5_JOBS.api, _v5_jobs, V5),
    (V3_JOBS.method, V3_JOBS.path, V3_JOBS.api, _v3_jobs, V3),
    ("POST", "/v3/{project_id}/jobs/batch-progress", BATCH_PROGRESS.api, _v3_batch_progress, V3),
    ("POST", "/v3/{project_id}/jobs/batch-status", BATCH_STATUS.api, _v3_batch_status, V3),
    ("POST", "/v3/{project_id}/jobs/batch-rpo-and-rto", BATCH_RPO_RTO.api, _v3_batch_rpo_rto, V3),
    (
        "POST",
        "/v3/{project_id}/jobs/disaster-recovery-monitoring-data",
        DR_MONITORING.api,
        _v3_dr_monitoring,
        V3,
    ),
    ("GET", "/v3/{project_id}/quotas", QUOTAS_API, _v3_quotas, V3),
)


async def issue_token(request: web.Request) -> web.StreamResponse:
    """``POST /v3/auth/tokens``: IAM password login, answered with X-Subject-Token."""
    sim = request.app[SIMULATOR]
    await sim.pause(sim.options.latency)
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
        await sim.pause(sim.options.latency)
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
    """``GET /v3/auth/projects``: the projects IAM says the caller can reach."""
    return sim.projects.listing(base)


def _domains(sim: Simulator, base: str) -> Any:
    """``GET /v3/auth/domains``: the caller's account."""
    return sim.projects.domains(base, sim.options.iam_domain or "simulated-account")


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
    routes are named for their API (``v5_jobs``, ``v3_jobs``, ``v3_batch_progress``,
    ``v3_batch_status``, ``v3_batch_rpo_rto``, ``v3_dr_monitoring``, ``v3_quotas``,
    ``iam_tokens``, ``iam_projects``, ``iam_domains``), as ``ApiCall.api`` is.
    ``override`` is consulted by the API handlers (see ``ApiCall``).
    """
    app = web.Application(middlewares=[_request_id, *middlewares], client_max_size=MAX_BODY)
    app[SIMULATOR] = Simulator(options, clock, override)
    for method, path, name, answer, family in APIS:
        app.router.add_route(method, path, _api(name, answer, family=family), name=name)
    tokens, projects, domains = IAM_API_NAMES
    app.router.add_post("/v3/auth/tokens", issue_token, name=tokens)
    app.router.add_get("/v3/auth/projects", _iam_api(_projects, True), name=projects)
    app.router.add_get("/v3/auth/domains", _iam_api(_domains, False), name=domains)
    app.router.add_get("/_sim/projects", sim_projects)
    app.router.add_post("/_sim/projects", sim_add_project)
    app.router.add_delete("/_sim/projects/{project_id}", sim_delete_project)
    app.router.add_post("/_sim/iam", sim_iam)
    app.router.add_get("/_sim/summary", sim_summary)
    app.router.add_post("/_sim/faults", sim_faults)
    app.router.add_post("/_sim/jobs", sim_add_job)
    app.router.add_post("/_sim/jobs/{job_id}/status", sim_set_status)
    app.router.add_post("/_sim/jobs/{job_id}/health", sim_set_health)
    app.router.add_delete("/_sim/jobs/{job_id}", sim_delete_job)
    app.router.add_post("/_sim/advance", sim_advance)
    app.router.add_post("/_sim/apis", sim_set_published)
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
