"""A faithful fake of the Huawei Cloud DRS API (v5 and v3), for demos, tests and benchmarks.

Which API lists which job, as in the real cloud: v5 lists only sync MySQL-to-MySQL
(``mysql-to-mysql``), migration Redis-to-GeminiDB Redis (``redis-to-gaussredis``),
migration Redis Cluster-to-GeminiDB Redis (``rediscluster-to-gaussredis``) and sync
Oracle-to-GaussDB Distributed (``oracle-to-gaussdbv5``); v3 lists every other engine
(``mysql`` migration, ``mongodb``, ``postgresql``, ``gaussdbv5``, ``mysql-to-kafka``,
``taurus-to-kafka``, ``cloudDataGuard-mysql``, ...) and MySQL-to-MySQL sync as well (under
the name ``mysql``): one job with one id, listed by both. ``v3_lists`` ``all``
(``--v3-lists all``) makes v3 list the other three v5 engines' jobs too (under their v5
names). ``apis`` (``--apis``) is the set of list APIs the region publishes: both (the
default, as cn-south-2), v3 only (as Hong Kong, Singapore and most regions) or v5 only (as
cn-south-4); a region's jobs run only engines that a published API lists. A default world holds
v5-only and v3-only migration jobs, v5-only, v3-only and doubly listed sync jobs, and
v3-only disaster-recovery jobs. A subtask is listed with its parent. With ``compact``
(``--compact``), every generated job is listed with only ``id``, ``name``, ``status``,
``create_time``, ``engine_type``, ``net_type`` and its ``children``, as a lean server might.

Its routes are ``server.ROUTES``, which ``simulate --help`` lists a line each: the DRS and
IAM APIs, answered as DRS and its gateway answer them, and the control hooks. How each route
answers, its handler's docstring says (``server`` for the APIs, ``hooks`` for the hooks).

In a region that does not publish v3 (or v5), that version's calls answer 404
``APIGW.0101`` as the gateway answers an unknown API, before auth, faults or latency. With
``fault_apis``, the fault rates apply to the APIs it names only; with ``batch_answer_cap``,
every batch call answers for the first that many ids only, silently (a server that takes
fewer than sent).

Auth: with an AK/SK, requests must carry a valid ``SDK-HMAC-SHA256`` signature whose
X-Sdk-Date is within 15 minutes of the simulator's clock, over the body bytes as
received; with a token or IAM, an ``X-Auth-Token`` that is the static token or an issued,
unexpired token of the same project. Failures are 401 ``APIGW.0301``. With no credential
option, anything goes. Every answer carries ``X-Request-Id``.

Faults (every DRS API call, v5 and v3 alike; latency also delays IAM): ``latency`` is the
least time from a request to its answer (the simulator works on the answer meanwhile, so
the answers to a burst of requests are not queued behind each other's work, as a cloud
API's servers answer side by side; with ``one_worker``, it works on each answer only once
its latency is over, as one server working through its queue), ``hang_rate`` waits
``hang`` seconds more then answers, ``throttle_rate`` answers 429
``APIG.0308``/``APIGW.0308`` with ``Retry-After`` unless ``retry_after`` is None (a
fractional value is sent as is, so tests need not wait whole seconds), ``error_rate``
answers 500/502/503 (one per DRS error-body shape), ``malformed_rate`` answers 200 with
truncated JSON or an HTML page. Draws come from a Random seeded by the world seed: four per
API request, in the order requests arrive.

A hostile or broken server in between, on every request the faults hit: ``gzip_bomb_mib``
answers gzip-compressed after that many MiB of spaces (valid JSON once inflated whole, a
thousandth of it on the wire, with a ``Content-Length`` of what is sent); ``lying_total``
makes every listing say that total (``total_count``, ``total_record``) whatever it holds;
``endless_pages`` makes listings answer their first page whatever offset or page is asked,
with no total; ``redirect`` answers with that 3xx status and a ``Location`` of the same URL
on https, before the gateway's auth check, as a proxy in front would; ``header_padding``
adds an ``X-Padding`` header of that many bytes to every answer. ``fault_projects`` limits
every fault to the projects it names, the others answering as usual, as ``fault_apis``
limits them to some APIs.

Control hooks under ``/_sim/``, to look at and change a running simulator from outside (the
soak script and the compose stack's integration test do); no auth, no faults; errors
answer ``{"error": "..."}``.

The same changes are methods of ``World`` for those who embed the simulator:
``set_status``, ``set_health``, ``delete``, ``add_job``, ``advance``, ``set_published``,
``summary``; and the truth of each answer: ``jobs(project, job_type, api)``, ``find(id, api)``,
``progress(id)``, ``status(id)``, ``objectives(id)``, ``monitoring(id)``,
``quota(project)``, ``listed_by(id)``.

The extension point, for those who embed the simulator (the test suite does, to script
answers, move jobs between pages and record requests): ``build_app()`` and ``start()``
take

``middlewares``
    aiohttp middlewares run around every request, inside the one that gives each answer
    its ``X-Request-Id``. The route of a DRS or IAM API is named for the API, as
    ``drs_api_requests_total`` names it (``Route.name``: ``v5_jobs``, ``iam_tokens``, ...).
``override``
    An ``async (ApiCall) -> web.StreamResponse | None``, which each DRS API call (v5 and
    v3; not IAM) awaits once it has passed the gateway's auth check, before the fault
    answers. It sees the request, the API called (as ``drs_api_requests_total`` names
    it), the project id, the decoded query pairs and the decoded JSON body; it may read
    or change the world, build the normal answer (``call.normal()``, free of faults) and
    sleep (``call.pause(seconds, until)``, which wakes when the server shuts down). None
    lets the request be answered as usual; a response is sent instead (one it has
    prepared itself must carry its own ``X-Request-Id``). The four fault draws come first
    either way, so a seed gives the same fault sequence; the latency and the ``hang`` fault
    are counted from the request's arrival and waited out before the answer leaves,
    whatever gave it.

Statuses and health figures are a pure function of (seed, job, elapsed whole seconds), so
a seed and a clock give the same world every time; ``status_period`` 0 freezes every job's
status where it started (progress and delays still move).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .options import SimulatorOptions, add_arguments, options_from_args

if TYPE_CHECKING:
    from .override import ApiCall, Override
    from .server import RunningSimulator, build_app, endpoints_help, start
    from .world import World

# The server and its world are loaded when first used. The exporter's command line names the
# simulator's flags (``simulate --help``) but an exporter never runs it, and so never holds
# its code (about 2 MB resident).
_LOADED_LATER = {
    "ApiCall": ".override",
    "Override": ".override",
    "RunningSimulator": ".server",
    "build_app": ".server",
    "endpoints_help": ".server",
    "start": ".server",
    "World": ".world",
}


def __getattr__(name: str) -> Any:
    module = _LOADED_LATER.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "ApiCall",
    "Override",
    "RunningSimulator",
    "SimulatorOptions",
    "World",
    "add_arguments",
    "build_app",
    "endpoints_help",
    "options_from_args",
    "start",
]
