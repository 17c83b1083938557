"""A faithful fake of the Huawei Cloud DRS job listing API, for demos, tests and benchmarks.

The API (answered as DRS and its gateway do):

``GET /v5/{project_id}/jobs``
    Every query parameter of "Querying Tasks": ``job_type`` (mandatory, else 400
    ``DRS.10000001``), ``name`` (up to 10 comma-separated ids; a single value also matches
    part of a name), ``status`` (one, or several ``*_FAILED`` ones), ``engine_type``,
    ``net_type``, ``enterprise_project_id``, ``instance_ids`` (repeated or comma-joined, up
    to 10), ``instance_ip``, ``offset``, ``limit`` (default 10), ``sort_key`` and
    ``sort_dir`` (default ``create_time``, ``desc``). An empty parameter counts as absent.
    ``total_count`` ignores paging; ``page_cap`` silently caps the page size. An unknown
    project answers 200 with no jobs. A ``+`` in the query is a plus, not a space.
``POST /v3/auth/tokens``
    IAM password login (when ``iam_*`` are set; else 404): 201 with ``X-Subject-Token``.

Auth: with an AK/SK, requests must carry a valid ``SDK-HMAC-SHA256`` signature whose
X-Sdk-Date is within 15 minutes of the simulator's clock; with a token or IAM, an
``X-Auth-Token`` that is the static token or an issued, unexpired token of the same
project. Failures are 401 ``APIGW.0301``. With no credential option, anything goes.
Every answer carries ``X-Request-Id``.

Faults (listing only; latency also delays IAM): ``latency`` delays every request,
``hang_rate`` waits ``hang`` seconds then answers, ``throttle_rate`` answers 429
``APIG.0308``/``APIGW.0308`` with ``Retry-After`` unless ``retry_after`` is None (a
fractional value is sent as is, so tests need not wait whole seconds),
``error_rate`` answers 500/502/503 (one per DRS error-body shape), ``malformed_rate``
answers 200 with truncated JSON or an HTML page. Draws come from a Random seeded by the
world seed: four per listing request.

Control hooks under ``/_sim/``, to look at and change a running simulator from outside (the
soak script and the compose stack's integration test do); no auth, no faults; errors
answer ``{"error": "..."}``:

``GET /_sim/summary``
    ``{"projects": [...], "counts": {project: {job_type: {status: n}}}, "subtasks": ...}``
    as of now (every project and job type present, possibly empty).
``POST /_sim/faults``
    A JSON object changing any of latency, error_rate, throttle_rate, hang_rate,
    malformed_rate, retry_after, hang; answers with all of them.
``POST /_sim/jobs/{id}/status``
    ``{"status": "..."}`` pins a job's or subtask's status; ``{"status": null}`` unpins.
``DELETE /_sim/jobs/{id}``
    Removes a job (with its subtasks) or a subtask: 204, or 404.
``POST /_sim/jobs``
    ``{"project_id": ..., "job_type": ..., "job": {...}}`` adds a job listed exactly as
    given (its ``children`` become subtasks; a missing id is generated): 201 ``{"id": ...}``.
``POST /_sim/advance``
    ``{"seconds": n}`` moves simulated time forward: job statuses and issued tokens' lives
    run on it; the X-Sdk-Date check stays on the real clock.

The extension point, for those who embed the simulator (the test suite does, to script
answers, move jobs between pages and count requests in flight): ``build_app()`` and
``start()`` take

``middlewares``
    aiohttp middlewares run around every request, inside the one that gives each answer
    its ``X-Request-Id``. Routes are named for their API (``v5_jobs``, ``iam_tokens``).
``override``
    An ``async (ApiCall) -> web.StreamResponse | None``, which each DRS API handler (the
    v5 listing; not IAM) awaits once a request has passed the gateway's auth check,
    before the fault answers. It sees
    the request, the API called (``v5_jobs``, as ``drs_api_requests_total`` names it), the
    project id, the decoded query pairs and the decoded JSON body; it may read or change
    the world, build the normal answer (``call.normal()``, free of faults) and sleep
    (``call.pause(seconds, until)``, which wakes when the server shuts down). None lets
    the request be answered as usual; a response is sent instead (one it has prepared
    itself must carry its own ``X-Request-Id``). Latency, the ``hang`` fault and the four
    fault draws come first either way, so a seed gives the same fault sequence.

Statuses are a pure function of (seed, job, elapsed whole seconds), so a seed and a clock
give the same world every time; ``status_period`` 0 freezes every job where it started.
"""

from __future__ import annotations

from .options import SimulatorOptions, add_arguments, options_from_args
from .override import ApiCall, Override
from .server import RunningSimulator, build_app, start
from .world import World

__all__ = [
    "ApiCall",
    "Override",
    "RunningSimulator",
    "SimulatorOptions",
    "World",
    "add_arguments",
    "build_app",
    "options_from_args",
    "start",
]
