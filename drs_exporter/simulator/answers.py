"""Each DRS API's normal answer, as its docstring says: a function of the simulator, the
project, the query pairs and the JSON body, to an HTTP status and a JSON text.

The route and the request pipeline around an answer (faults, auth, the override) are
``server``'s and ``pipeline``'s.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from ..list_apis import V3_JOBS, V5_JOBS
from .bodies import Batch, parse_batch, parse_listing
from .dr import MONITORING_CAP
from .pipeline import Simulator
from .query import parse_job_query
from .world import Told, true_total

Pairs = Sequence[tuple[str, str]]


def v5_jobs(
    sim: Simulator, project_id: str, pairs: Sequence[tuple[str, str]], _: Any
) -> tuple[int, str]:
    """Every query parameter of "Querying Tasks": ``job_type`` (mandatory, else 400
    ``DRS.10000001``), ``name`` (up to 10 comma-separated ids; a single value also matches
    part of a name), ``status`` (one, or several ``*_FAILED`` ones), ``engine_type``,
    ``net_type``, ``enterprise_project_id``, ``instance_ids`` (repeated or comma-joined, up
    to 10), ``instance_ip``, ``offset``, ``limit`` (default 10), ``sort_key`` and
    ``sort_dir`` (default ``create_time``, ``desc``). An empty parameter counts as absent.
    ``total_count`` ignores paging; ``page_cap`` silently caps the page size. An unknown
    project answers 200 with no jobs. A ``+`` in the query is a plus, not a space.
    """
    query = parse_job_query(pairs)
    endless, told = _paging_faults(sim, V5_JOBS.api, project_id)
    if endless:
        query = dataclasses.replace(query, offset=0)
    return 200, sim.world.list_jobs(project_id, query, sim.options.page_cap, told)


def v3_jobs(sim: Simulator, project_id: str, _: Pairs, body: Any) -> tuple[int, str]:
    """Body (SDK ``QueryJobsReq``) ``{"db_use_type": "migration"|"sync"|"cloudDataGuard"``
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
    """
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


def batch_progress(sim: Simulator, project_id: str, _: Pairs, body: Any) -> tuple[int, str]:
    """Body ``{"jobs": [id, ...]}`` (a non-empty array of strings; more than ``batch_cap``
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
    """
    batch = _answered(sim, parse_batch(body, sim.options.batch_cap, paged=False))
    return 200, sim.world.batch_progress(project_id, batch, sim.options.garble_rate)


def batch_status(sim: Simulator, project_id: str, _: Pairs, body: Any) -> tuple[int, str]:
    """Body ``{"jobs": [id, ...], "page_req": {"cur_page": 1, "per_page": 100}}`` (the ids as
    for batch-progress; ``page_req`` optional, ``per_page`` 0-100, default 5, 0 = all;
    a ``cur_page`` past the last page of the distinct ids is a 400). Answer ``{"count": n,
    "results": [{"id", "status", "error_code", "error_message"}]}`` for that page of the
    ids, unknown ones left out; a ``*_FAILED`` job carries its DRS error code and message
    (from ``reasons``: stable per job, some multi-line, some over 200 characters, some in
    Chinese), other jobs "" and "".
    """
    batch = _answered(sim, parse_batch(body, sim.options.batch_cap, paged=True))
    return 200, sim.world.batch_status(project_id, batch)


def batch_detail(sim: Simulator, project_id: str, _: Pairs, body: Any) -> tuple[int, str]:
    """Paged as batch-status (``page_req``, ``per_page`` 0-100, default 5, 0 = all). Answer
    ``{"count": n, "results": [...]}``, one SDK ``QueryJobResp`` per job or subtask of the
    page: the job's own fields as listed (``parent_id`` for a subtask), and for a top-level
    job ``period_order`` (a job billed by period: ``exp_time`` as ISO 8601, as
    ``yyyy-MM-dd HH:mm:ss`` or as Unix milliseconds; some ending within days),
    ``alarm_notify`` (the thresholds set on the job, some unset as absent, null or 0, and the
    subscribers' e-mail addresses and phone numbers) and ``tags`` (some keys no label name
    can hold, some that collide once made one); see ``detail``.
    """
    batch = _answered(sim, parse_batch(body, sim.options.batch_cap, paged=True))
    return 200, sim.world.batch_detail(project_id, batch)


def batch_rpo_rto(sim: Simulator, project_id: str, _: Pairs, body: Any) -> tuple[int, str]:
    """The ids as for batch-progress; answered with **202**, as Huawei documents.
    ``{"count", "results": [{"job_id", "rpo_info", "rto_info", "error_code",
    "error_msg"}]}``: a ``cloudDataGuard`` job in INCRE_TRANSFER_STARTED has
    ``{"delay" (milliseconds, as text), "time" ("yyyy-MM-dd HH:mm:ss"), "check_point",
    "gtid_set"}`` in both, moving over time; other jobs neither (see ``dr``).
    """
    batch = _answered(sim, parse_batch(body, sim.options.batch_cap, paged=False))
    return 202, sim.world.batch_objectives(project_id, batch)


def dr_monitoring(sim: Simulator, project_id: str, _: Pairs, body: Any) -> tuple[int, str]:
    """The ids as for batch-progress, at most 10 (documented; more is a 400, as is more than
    ``batch_cap``). ``{"count", "results": [{"id", "data_guard_minitor": {...}}]}`` with
    DRS's keys (``src_normal``, ``dst_normal``, ``cpuUsed_percent``, ``mem_used_inMB``,
    ``node_mem_inMB``, ``volume_used_inGB``, ``node_volume_inGB``, ...) for a
    ``cloudDataGuard`` job in FULL_ or INCRE_TRANSFER_STARTED, ``{}`` for others: some
    connections drop for minutes of every hour, some disks fill, a quarter of the jobs send
    every number as text (see ``dr``).
    """
    cap = min(MONITORING_CAP, sim.options.batch_cap or MONITORING_CAP)
    batch = _answered(sim, parse_batch(body, cap, paged=False))
    return 200, sim.world.dr_monitoring(project_id, batch)


def quotas(sim: Simulator, project_id: str, _: Pairs, body: Any) -> tuple[int, str]:
    """``{"quotas": {"resource": {"type": "instances", "min", "max", "quota", "used"}}}``."""
    return 200, sim.world.quota(project_id)


def _answered(sim: Simulator, batch: Batch) -> Batch:
    """The ids a batch call answers for: with ``batch_answer_cap``, only the first ones, as a
    server that takes fewer ids than it was sent would."""
    cap = sim.options.batch_answer_cap
    return dataclasses.replace(batch, ids=batch.ids[:cap]) if cap else batch
