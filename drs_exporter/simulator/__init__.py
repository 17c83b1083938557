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
``POST /v3/{project_id}/jobs``
    Body (SDK ``QueryJobsReq``) ``{"db_use_type": "migration"|"sync"|"cloudDataGuard"``
    (mandatory, else 400 ``DRS.10000001``), ``"cur_page"`` (integer, default 1),
    ``"per_page"`` (integer 0-100, default 10; 0 with ``cur_page`` 0 or 1 asks for every
    job, another ``cur_page`` is a 400), and the filters of v5 with v3's engine names:
    ``name`` (up to 100 ids, or part of one name), ``status``, ``engine_type``,
    ``net_type``, ``enterprise_project_id`` (null or "" = all), ``instance_ids`` (an array
    of up to 10 strings), ``instance_ip``}; other keys (``service_name``, ``tags``) are
    ignored; a field of the wrong type or a body that is not a JSON object is a 400. Sorted
    by ``create_time``, newest first. Answer ``{"total_record": n, "jobs": [...]}``: page
    ``cur_page`` holds the jobs from ``(cur_page - 1) * per_page`` on, at most
    ``min(per_page, page_cap)`` of them (pages count in units of ``per_page``, whatever
    the cap). A job is the SDK's ``JobInfo``: ``id``, ``name``, ``status``,
    ``create_time``, ``description``, ``engine_type``, ``net_type``, ``billing_tag``,
    ``job_direction``, ``db_use_type``, ``task_type``, ``node_newFramework``,
    ``job_action``, ``children`` (each with ``error_msg``: its failure message, else "").
``POST /v3/{project_id}/jobs/batch-progress``
    Body ``{"jobs": [id, ...]}`` (a non-empty array of strings; more than ``batch_cap``
    ids, when that is above 0, is a 400 ``DRS.10000001``). Answer ``{"count": n,
    "results": [...]}``, one result per distinct id, in the order asked, for every job
    and subtask of the project whatever API lists it; an id the project does not have is
    left out (``count`` is the number of results). A result (SDK ``QueryProgressResp``):
    ``job_id``; ``progress`` (percent, "0"-"100"), ``incre_trans_delay`` (seconds),
    ``incre_trans_delay_millis`` (milliseconds), ``remaining_time`` (seconds),
    ``process_time`` (Unix milliseconds of the last progress update), all strings;
    ``task_mode`` (the task type), ``transfer_status`` (the status), ``progress_map``
    (``{"structure"|"data"|"index": {"completed": "94%", "remaining_time": "120"}}``),
    ``error_code`` and ``error_msg`` (a failed job's reason, else ""), and the integers
    ``apply_rows_rate`` and ``apply_bytes_rate`` (-1 outside the incremental phase). Which
    figures a status gets is in ``health``: progress, remaining time and a moving
    ``process_time`` in FULL_TRANSFER_STARTED and CHILD_TRANSFER_STARTED; a delay in
    INCRE_TRANSFER_STARTED and CHILD_TRANSFER_STARTED (progress "100" in the first); "100"
    in the ``*_COMPLETE`` of a transfer; elsewhere the figures are "", "-" or left out,
    the same way for a job every time. With ``garble_rate`` above 0, that share of the
    results is garbled (``progress_map`` as a list, figures as JSON numbers, "N/A",
    fractions, negative or over 100, a result sent twice), which the SDK's models may not
    parse.
``POST /v3/{project_id}/jobs/batch-status``
    Body ``{"jobs": [id, ...], "page_req": {"cur_page": 1, "per_page": 100}}`` (the ids as
    for batch-progress; ``page_req`` optional, ``per_page`` 0-100, default 5, 0 = all;
    a ``cur_page`` past the last page of the distinct ids is a 400). Answer ``{"count": n,
    "results": [{"id", "status", "error_code", "error_message"}]}`` for that page of the
    ids, unknown ones left out; a ``*_FAILED`` job carries its DRS error code and message
    (from ``reasons``: stable per job, some multi-line, some over 200 characters, some in
    Chinese), other jobs "" and "".
``POST /v3/{project_id}/jobs/batch-detail``
    Paged as batch-status (``page_req``, ``per_page`` 0-100, default 5, 0 = all). Answer
    ``{"count": n, "results": [...]}``, one SDK ``QueryJobResp`` per job or subtask of the
    page: the job's own fields as listed (``parent_id`` for a subtask), and for a top-level
    job ``period_order`` (a job billed by period: ``exp_time`` as ISO 8601, as
    ``yyyy-MM-dd HH:mm:ss`` or as Unix milliseconds; some ending within days),
    ``alarm_notify`` (the thresholds set on the job, some unset as absent, null or 0, and
    subscribers' e-mail addresses and phone numbers) and ``tags`` (some keys no label name
    can hold, some that collide once made one); see ``detail``.
``POST /v3/{project_id}/jobs/batch-rpo-and-rto``
    The ids as for batch-progress; answered with **202**, as Huawei documents.
    ``{"count", "results": [{"job_id", "rpo_info", "rto_info", "error_code",
    "error_msg"}]}``: a ``cloudDataGuard`` job in INCRE_TRANSFER_STARTED has
    ``{"delay" (milliseconds, as text), "time" ("yyyy-MM-dd HH:mm:ss"), "check_point",
    "gtid_set"}`` in both, moving over time; other jobs neither (see ``dr``).
``POST /v3/{project_id}/jobs/disaster-recovery-monitoring-data``
    The ids as for batch-progress, at most 10 (documented; more is a 400, as is more than
    ``batch_cap``). ``{"count", "results": [{"id", "data_guard_minitor": {...}}]}`` with
    DRS's keys (``src_normal``, ``dst_normal``, ``cpuUsed_percent``, ``mem_used_inMB``,
    ``node_mem_inMB``, ``volume_used_inGB``, ``node_volume_inGB``, ...) for a
    ``cloudDataGuard`` job in FULL_ or INCRE_TRANSFER_STARTED, ``{}`` for others: some
    connections drop for minutes of every hour, some disks fill, a quarter of the jobs send
    every number as text (see ``dr``).
``GET /v3/{project_id}/quotas``
    ``{"quotas": {"resource": {"type": "instances", "min", "max", "quota", "used"}}}``.
``POST /v3/auth/tokens``
    IAM password login (when ``iam_*`` are set; else 404): 201 with ``X-Subject-Token``.

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

Faults (every DRS API call, v5 and v3 alike; latency also delays IAM): ``latency`` delays
every request, ``hang_rate`` waits ``hang`` seconds then answers, ``throttle_rate``
answers 429 ``APIG.0308``/``APIGW.0308`` with ``Retry-After`` unless ``retry_after`` is
None (a fractional value is sent as is, so tests need not wait whole seconds),
``error_rate`` answers 500/502/503 (one per DRS error-body shape), ``malformed_rate``
answers 200 with truncated JSON or an HTML page. Draws come from a Random seeded by the
world seed: four per API request, in the order requests arrive.

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
answer ``{"error": "..."}``:

``GET /_sim/summary``
    The truth as of now: ``{"projects": [...], "counts": {project: {job_type: {status:
    n}}}, "subtasks": ...}`` over every job, each once (every project and job type
    present, possibly empty); ``"apis": {"v5": {"counts", "subtasks"}, "v3": {...}}``, the
    same over the jobs each API lists; ``"listed_by": {"v5_only", "v3_only", "both",
    "none"}``, top-level jobs by the APIs listing them. ``?ids=true`` adds ``"ids": {api:
    {project: {job_type: [id, ...]}}}``, the top-level ids each API lists.
``POST /_sim/faults``
    A JSON object changing any of latency, error_rate, throttle_rate, hang_rate,
    malformed_rate, garble_rate, retry_after, hang, gzip_bomb_mib, lying_total (null: the
    truth), endless_pages, redirect, header_padding, fault_apis and fault_projects (lists
    of names); answers with all of them.
``POST /_sim/jobs/{id}/status``
    ``{"status": "..."}`` pins a job's or subtask's status; ``{"status": null}`` unpins.
``POST /_sim/jobs/{id}/health``
    Pins parts of a job's or subtask's batch answers: ``delay_seconds`` (a number >= 0:
    ``incre_trans_delay`` and ``_millis`` read it, whatever the status), ``frozen`` (true:
    progress, ``remaining_time`` and ``process_time`` stop where they are, the delay grows
    with every second, the rates drop to 0; false: it moves again), ``progress`` (0-100:
    the progress figure, whatever the status), ``error_code`` and ``error_message``
    (strings: batch-status and batch-progress give them, whatever the status). A null
    value unpins that part; a null body unpins all. Answers ``{"id": ..., "health":
    {the pins}}``; 404 for an unknown job.
``DELETE /_sim/jobs/{id}``
    Removes a job (with its subtasks) or a subtask: 204, or 404.
``POST /_sim/jobs``
    ``{"project_id": ..., "job_type": ..., "job": {...}, "apis": ["v5"]}`` adds a job
    listed exactly as given by the APIs in ``apis`` (default v5 only; its ``children``
    become subtasks; a missing id is generated): 201 ``{"id": ...}``.
``POST /_sim/advance``
    ``{"seconds": n}`` moves simulated time forward: job statuses, progress, delays and
    issued tokens' lives run on it; the X-Sdk-Date check stays on the real clock.
``POST /_sim/apis``
    ``{"apis": ["v3"]}`` makes the region publish only these list APIs from now on (the
    other's calls answer 404 ``APIGW.0101``); the jobs stay, listed by what is published.

The same changes are methods of ``World`` for those who embed the simulator:
``set_status``, ``set_health``, ``delete``, ``add_job``, ``advance``, ``set_published``,
``summary``; and the truth of each answer: ``jobs(project, job_type, api)``, ``find(id, api)``,
``progress(id)``, ``status(id)``, ``detail(id)``, ``objectives(id)``, ``monitoring(id)``,
``quota(project)``, ``listed_by(id)``.

The extension point, for those who embed the simulator (the test suite does, to script
answers, move jobs between pages and record requests): ``build_app()`` and ``start()``
take

``middlewares``
    aiohttp middlewares run around every request, inside the one that gives each answer
    its ``X-Request-Id``. Routes are named for their API (``v5_jobs``, ``v3_jobs``,
    ``v3_batch_progress``, ``v3_batch_status``, ``v3_batch_detail``, ``v3_batch_rpo_rto``,
    ``v3_dr_monitoring``,
    ``v3_quotas``, ``iam_tokens``).
``override``
    An ``async (ApiCall) -> web.StreamResponse | None``, which each DRS API call (v5 and
    v3; not IAM) awaits once it has passed the gateway's auth check, before the fault
    answers. It sees the request, the API called (as ``drs_api_requests_total`` names
    it), the project id, the decoded query pairs and the decoded JSON body; it may read
    or change the world, build the normal answer (``call.normal()``, free of faults) and
    sleep (``call.pause(seconds, until)``, which wakes when the server shuts down). None
    lets the request be answered as usual; a response is sent instead (one it has
    prepared itself must carry its own ``X-Request-Id``). Latency, the ``hang`` fault and
    the four fault draws come first either way, so a seed gives the same fault sequence.

Statuses and health figures are a pure function of (seed, job, elapsed whole seconds), so
a seed and a clock give the same world every time; ``status_period`` 0 freezes every job's
status where it started (progress and delays still move).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .options import ENDPOINTS_HELP, SimulatorOptions, add_arguments, options_from_args

if TYPE_CHECKING:
    from .override import ApiCall, Override
    from .server import RunningSimulator, build_app, start
    from .world import World

# The server and its world are loaded when first used. The exporter's command line names the
# simulator's flags (``simulate --help``) but an exporter never runs it, and so never holds
# its code (about 2 MB resident).
_LOADED_LATER = {
    "ApiCall": ".override",
    "Override": ".override",
    "RunningSimulator": ".server",
    "build_app": ".server",
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
    "ENDPOINTS_HELP",
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
