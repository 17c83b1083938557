"""The v3 batch calls, one entry each: where a call goes, which jobs it is asked about, the
most ids one request may carry, how its answer is read and what a result tells of a job.

Every call is ``POST /v3/{project_id}/jobs/<path>`` with ``{"jobs": [id, ...]}``; success is
any 2xx with a JSON body (DRS documents 200 for most, 202 for batch-rpo-and-rto). A result
tells a job's figures as ``JobHealth`` field values (batch-detail's, which change rarely,
as ``JobDetail``'s); a figure that is missing or not a number tells nothing (never a
made-up 0). Adding a batch call is one entry here, its result
struct in ``decode``, and a family in ``families`` for each figure, naming the call.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from ..config import MetricsConfig
from ..config.schema import keys_of
from ..list_apis import MAX_PER_PAGE
from ..model import MAX_ERROR_MESSAGE, Job, is_failed, label_value, one_line, parse_time
from .decode import Detail, Monitoring, Progress, RpoRto, Status, read_results

# The statuses in which a job has progress, remaining time and an update time ...
PROGRESS_STATUSES = frozenset(
    {"FULL_TRANSFER_STARTED", "INCRE_TRANSFER_STARTED", "CHILD_TRANSFER_STARTED"}
)
# ... and those in which it also has a replication delay.
DELAY_STATUSES = frozenset({"INCRE_TRANSFER_STARTED", "CHILD_TRANSFER_STARTED"})
DR_JOB_TYPE = "cloudDataGuard"
# A DR job has recovery objectives while it replicates, an instance while it transfers.
OBJECTIVE_STATUSES = frozenset({"INCRE_TRANSFER_STARTED"})
INSTANCE_STATUSES = frozenset({"FULL_TRANSFER_STARTED", "INCRE_TRANSFER_STARTED"})
MIB = 2**20
GIB = 2**30
MAX_TAGS = 50  # a job's tags kept, at most (Huawei Cloud allows fewer on a resource)
_NOT_IN_LABEL = re.compile(r"[^a-zA-Z0-9_]")


@dataclass(frozen=True, slots=True)
class BatchCall:
    """One batch call of the v3 API."""

    api: str  # its name in drs_api_requests_total and in logs
    path: str  # after /v3/{project_id}/jobs/
    switch: str  # the ``metrics`` key that turns it on (with ``per_job``)
    # (job type, status): is a job in that status asked about? (Asked once per status of a
    # target's jobs, not once per job.)
    asks: Callable[[str, str], bool]
    max_ids: int  # the most ids one request may carry, as documented (or as pages allow)
    documented_status: int  # what Huawei documents for success (any 2xx is taken)
    read: Callable[[bytes, Sequence[str], str], Mapping[str, Any]]  # results by job id
    tell: Callable[[Job, Any], dict[str, Any]]  # JobHealth values a result gives of a job
    paged: bool = False  # its results come in pages: the body asks for one of max_ids
    # At most poll.rotation_requests requests a target and cycle, the jobs asked longest
    # ago first; the others keep what they last said (see ``rotation``).
    rotated: bool = False
    # What it tells changes rarely: each job is asked when first seen, then once what it
    # said is older than poll.detail_interval, in rotation; ``tell`` gives ``JobDetail``'s
    # fields, not ``JobHealth``'s.
    refreshed: bool = False
    top_level: bool = False  # only jobs that are not subtasks are asked about

    def __post_init__(self) -> None:
        key = keys_of(MetricsConfig).get(self.switch)
        if key is None or key.kind != "switch":
            raise ValueError(f"{self.api}: metrics.{self.switch} is not a switch")

    def wanted(self, job_type: str, job: Job) -> bool:
        """Whether ``job`` (of ``job_type``) is asked about."""
        return self.asks(job_type, job.status) and not (self.top_level and job.parent_id)

    def wanted_ids(
        self, job_type: str, jobs: Sequence[Job], statuses: Iterable[str] | None = None
    ) -> list[str]:
        """The ids of the ``jobs`` asked about, in their order; ``statuses``, if given, are
        every status among them."""
        found = {job.status for job in jobs} if statuses is None else statuses
        asked = {status for status in found if self.asks(job_type, status)}
        if self.top_level:
            return [job.id for job in jobs if job.status in asked and not job.parent_id]
        return [job.id for job in jobs if job.status in asked]

    @property
    def route(self) -> str:
        """Its path, with ``{project_id}``."""
        return f"/v3/{{project_id}}/jobs/{self.path}"

    def body(self, ids: Sequence[str]) -> bytes:
        """The request body asking about ``ids``."""
        if self.paged:
            page = {"cur_page": 1, "per_page": self.max_ids}
            return msgspec.json.encode({"jobs": ids, "page_req": page})
        return msgspec.json.encode({"jobs": ids})


def figure(value: Any) -> float | None:
    """A number the API sent, as a number or as text ("12.5", "94%"); None for anything else
    ("", "-", "N/A", "null", true, NaN, objects)."""
    if type(value) is str:  # the usual case: a number as text, read in one go
        try:
            number = float(value)
        except ValueError:
            text = value.strip().removesuffix("%").strip()
            if not text or (text[-1].isalpha() and text.lower() not in ("inf", "nan")):
                return None
            try:
                number = float(text)
            except ValueError:
                return None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        return None
    return number if math.isfinite(number) else None


def _ratio(value: Any) -> float | None:
    percent = figure(value)
    return percent / 100.0 if percent is not None and 0.0 <= percent <= 100.0 else None


def _non_negative(value: Any, scale: float = 1.0) -> float | None:
    number = figure(value)
    return number * scale if number is not None and number >= 0 else None


def _timestamp(value: Any) -> float | None:
    # Unix milliseconds, by the SDK's documentation; parse_time also takes seconds.
    number = figure(value)
    return parse_time(number) if number is not None and number > 0 else None


def _flag(value: Any) -> float | None:
    """A documented boolean as 1 or 0: true/false, or the same as text; else None."""
    if value is True or value is False:
        return float(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return float(value.strip().lower() == "true")
    return None


def tell_progress(job: Job, result: Progress) -> dict[str, Any]:
    """Progress, delay (of a replicating job), remaining time, update time, throughput."""
    millis = _non_negative(result.incre_trans_delay_millis)
    delay = millis / 1000.0 if millis is not None else _non_negative(result.incre_trans_delay)
    return {
        "progress": _ratio(result.progress),
        "delay": delay if job.status in DELAY_STATUSES else None,
        "remaining": _non_negative(result.remaining_time),
        "updated": _timestamp(result.process_time),
        # -1 before the incremental phase: no rate then
        "rows_rate": _non_negative(result.apply_rows_rate),
        "bytes_rate": _non_negative(result.apply_bytes_rate),
    }


def tell_status(job: Job, result: Status) -> dict[str, Any]:
    """A failed job's reason."""
    return {
        "error_code": one_line(result.error_code, 64),
        "error_message": one_line(result.error_message, MAX_ERROR_MESSAGE),
    }


def tell_objectives(job: Job, result: RpoRto) -> dict[str, Any]:
    """RPO and RTO in seconds, from their ``delay`` in milliseconds."""
    rpo, rto = result.rpo_info, result.rto_info
    return {
        "rpo": None if rpo is None else _non_negative(rpo.delay, 1 / 1000),
        "rto": None if rto is None else _non_negative(rto.delay, 1 / 1000),
    }


def tell_instance(job: Job, result: Monitoring) -> dict[str, Any]:
    """Connections to source and target, and the replication instance's CPU, memory, disk."""
    m = result.data_guard_minitor
    if m is None:
        return {}
    return {
        "source_connected": _flag(m.src_normal),
        "target_connected": _flag(m.dst_normal),
        "cpu": _ratio(m.cpu_used_percent),
        "memory_used": _non_negative(m.mem_used_mb, MIB),
        "memory": _non_negative(m.node_mem_mb, MIB),
        "disk_used": _non_negative(m.volume_used_gb, GIB),
        "disk": _non_negative(m.node_volume_gb, GIB),
    }


def tell_detail(job: Job, result: Detail) -> dict[str, Any]:
    """When the job's subscription ends and whether it renews, the alarm thresholds set on
    it (a threshold of 0 is one not set), and its tags as (key, value) as DRS names them."""
    order, notify = result.period_order, result.alarm_notify
    return {
        # ISO 8601, yyyy-MM-dd HH:mm:ss (UTC), Unix seconds or milliseconds; else None.
        "expires": None if order is None else parse_time(order.exp_time),
        "auto_renew": None if order is None else _zero_or_one(order.is_auto_renew),
        "alarm_delay": None if notify is None else _positive(notify.delay_time),
        "alarm_rpo": None if notify is None else _positive(notify.rpo_delay),
        "alarm_rto": None if notify is None else _positive(notify.rto_delay),
        "tags": _tags(result.tags),
    }


def tag_label(key: str) -> str:
    """The label name of a tag key: ``tag_`` and the key, what a label name cannot hold made
    ``_`` (``cost-center`` is ``tag_cost_center``)."""
    return "tag_" + _NOT_IN_LABEL.sub("_", key)


def _zero_or_one(value: Any) -> float | None:
    number = figure(value)
    return number if number in (0.0, 1.0) else None


def _positive(value: Any) -> float | None:
    number = figure(value)
    return number if number is not None and number > 0 else None


def _tags(value: Any) -> tuple[tuple[str, str], ...]:
    """The tags DRS sent, each (key, value) with a key; odd entries left out, at most
    MAX_TAGS."""
    if not isinstance(value, list):
        return ()
    found: list[tuple[str, str]] = []
    for entry in value[:MAX_TAGS]:
        if isinstance(entry, Mapping):
            key = label_value(entry.get("key"))
            if key:
                found.append((key, label_value(entry.get("value"))))
    return tuple(found)


def _in_progress(job_type: str, status: str) -> bool:
    return status in PROGRESS_STATUSES


def _failed(job_type: str, status: str) -> bool:
    return is_failed(status)


def _replicating_dr(job_type: str, status: str) -> bool:
    return job_type == DR_JOB_TYPE and status in OBJECTIVE_STATUSES


def _transferring_dr(job_type: str, status: str) -> bool:
    return job_type == DR_JOB_TYPE and status in INSTANCE_STATUSES


def _any(job_type: str, status: str) -> bool:
    return True


BATCH_PROGRESS = BatchCall(
    api="v3_batch_progress",
    path="batch-progress",
    switch="health",
    asks=_in_progress,
    max_ids=MAX_PER_PAGE,  # no limit documented; kept within what batch-status pages allow
    documented_status=200,
    read=lambda body, ids, api: read_results(body, ids, api, Progress, "job_id"),
    tell=tell_progress,
)
BATCH_STATUS = BatchCall(
    api="v3_batch_status",
    path="batch-status",
    switch="health",
    asks=_failed,
    max_ids=MAX_PER_PAGE,  # page_req.per_page (5 when page_req is left out)
    documented_status=200,
    read=lambda body, ids, api: read_results(body, ids, api, Status, "id"),
    tell=tell_status,
    paged=True,
)
BATCH_RPO_RTO = BatchCall(
    api="v3_batch_rpo_rto",
    path="batch-rpo-and-rto",
    switch="dr",
    asks=_replicating_dr,
    max_ids=MAX_PER_PAGE,  # no limit documented; as batch-progress
    documented_status=202,
    read=lambda body, ids, api: read_results(body, ids, api, RpoRto, "job_id"),
    tell=tell_objectives,
)
DR_MONITORING = BatchCall(
    api="v3_dr_monitoring",
    path="disaster-recovery-monitoring-data",
    switch="dr",
    asks=_transferring_dr,
    max_ids=10,  # documented: at most 10 jobs a call
    documented_status=200,
    rotated=True,  # slow-moving figures, and 10 ids a request: the largest share otherwise
    read=lambda body, ids, api: read_results(body, ids, api, Monitoring, "id"),
    tell=tell_instance,
)

BATCH_DETAIL = BatchCall(
    api="v3_batch_detail",
    path="batch-detail",
    switch="detail",
    asks=_any,
    top_level=True,  # a subtask is billed, alarmed and tagged with its parent
    max_ids=MAX_PER_PAGE,  # page_req.per_page, as batch-status
    documented_status=200,
    read=lambda body, ids, api: read_results(body, ids, api, Detail, "id"),
    tell=tell_detail,
    paged=True,
    refreshed=True,
)

BATCH_CALLS: tuple[BatchCall, ...] = (
    BATCH_PROGRESS,
    BATCH_STATUS,
    BATCH_RPO_RTO,
    DR_MONITORING,
    BATCH_DETAIL,
)


def switched_on(metrics: MetricsConfig) -> tuple[BatchCall, ...]:
    """The batch calls ``metrics`` switches on: what they tell is a figure per job, so none
    without ``per_job``."""
    if not metrics.per_job:
        return ()
    return tuple(call for call in BATCH_CALLS if getattr(metrics, call.switch))
