"""Every metric family the exporter writes, as one table of plain data.

The table is the exporter's metrics in one place: it gives the order of the families in
the exposition, their HELP and TYPE lines, the labels each sample carries and the snapshot
field that feeds it. The metric table of docs/metrics.md and the tests that list metric names are
checked against it, so a family cannot be added, renamed or relabelled in one place only.
This file is long: it is that one table, an entry per family, and splitting it would split
the one place.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from .model import INFO_FIELDS, LIST_API_NAMES, MAX_ERROR_MESSAGE
from .telemetry import DRS_API_NAMES, IAM_API_NAMES

TARGET_LABELS = ("project_id", "region", "job_type")
JOB_LABELS = (*TARGET_LABELS, "job_id")
COUNT_LABELS = (*TARGET_LABELS, "engine_type", "net_type", "status")
INFO_LABELS = (*TARGET_LABELS, *(label for label, _ in INFO_FIELDS))  # job_id first


def _names(names: Iterable[str]) -> str:
    """```a`, `b` and `c``: API names as a note lists them."""
    quoted = [f"`{name}`" for name in names]
    return ", ".join(quoted[:-1]) + f" and {quoted[-1]}" if len(quoted) > 1 else "".join(quoted)


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family: what Prometheus sees of it, and where its values come from."""

    name: str  # as its samples are named: a counter's ends in _total
    kind: Literal["gauge", "counter"]
    help: str
    labels: tuple[str, ...]
    source: str  # the snapshot field that feeds it
    per_target: bool  # rendered from each TargetState, else once from the Snapshot
    per_job: bool = False  # only with metrics.per_job
    health: bool = False  # only with metrics.health too
    dr: bool = False  # only with metrics.dr too
    quotas: bool = False  # only with metrics.quotas
    note: str = ""  # one or more sentences docs/metrics.md adds to the help text
    figure: str = ""  # the JobHealth field each job's one sample shows, if it is that simple

    @property
    def from_batch(self) -> bool:
        """Rendered from what the batch calls said of the jobs (TargetState.health)."""
        return self.health or self.dr

    @property
    def family_name(self) -> str:
        """The name in OpenMetrics' HELP and TYPE lines: a counter's without _total."""
        return self.name.removesuffix("_total") if self.kind == "counter" else self.name


FAMILIES: tuple[Family, ...] = (
    Family(
        "drs_jobs",
        "gauge",
        "Top-level DRS jobs by engine type, network type and status.",
        COUNT_LABELS,
        "TargetState.jobs (top level)",
        per_target=True,
    ),
    Family(
        "drs_subtasks",
        "gauge",
        "DRS child tasks by engine type, network type and status.",
        COUNT_LABELS,
        "TargetState.jobs (subtasks)",
        per_target=True,
    ),
    Family(
        "drs_jobs_failed",
        "gauge",
        "Top-level DRS jobs whose status ends in _FAILED.",
        TARGET_LABELS,
        "TargetState.jobs (top level)",
        per_target=True,
        note="0 for every target with data.",
    ),
    Family(
        "drs_job_info",
        "gauge",
        "Static properties of a DRS job or subtask (always 1).",
        INFO_LABELS,
        "TargetState.jobs",
        per_target=True,
        per_job=True,
        note='`parent_job_id` is `""` for a top-level job.',
    ),
    Family(
        "drs_job_status",
        "gauge",
        "Current status of a DRS job or subtask (1 for the current status).",
        (*JOB_LABELS, "status"),
        "Job.status",
        per_target=True,
        per_job=True,
        note="With `dense_status`, also 0 for every other of v5's 22 statuses.",
    ),
    Family(
        "drs_job_created_timestamp_seconds",
        "gauge",
        "When the DRS job or subtask was created, in Unix seconds.",
        JOB_LABELS,
        "Job.created",
        per_target=True,
        per_job=True,
        note="From `create_time`; no series when the API gives none.",
    ),
    Family(
        "drs_job_status_since_timestamp_seconds",
        "gauge",
        "When the exporter first saw the job in its current status, in Unix seconds.",
        JOB_LABELS,
        "TargetState.status_since",
        per_target=True,
        per_job=True,
        note="First seen in this status by this process: kept across reloads, not restarts.",
    ),
    Family(
        "drs_job_progress_ratio",
        "gauge",
        "Progress of a DRS job's or subtask's transfer, from 0 to 1.",
        JOB_LABELS,
        "TargetState.health (progress)",
        per_target=True,
        per_job=True,
        health=True,
        figure="progress",
        note="For jobs in `FULL_TRANSFER_STARTED`, `INCRE_TRANSFER_STARTED` or "
        "`CHILD_TRANSFER_STARTED`: `progress` of batch-progress, divided by 100.",
    ),
    Family(
        "drs_job_replication_delay_seconds",
        "gauge",
        "How far a DRS job's or subtask's incremental replication is behind its source.",
        JOB_LABELS,
        "TargetState.health (delay)",
        per_target=True,
        per_job=True,
        health=True,
        figure="delay",
        note="For jobs in `INCRE_TRANSFER_STARTED` or `CHILD_TRANSFER_STARTED`: "
        "`incre_trans_delay_millis` / 1000, else `incre_trans_delay`.",
    ),
    Family(
        "drs_job_remaining_seconds",
        "gauge",
        "How long a DRS job's or subtask's transfer still needs, as DRS estimates it.",
        JOB_LABELS,
        "TargetState.health (remaining)",
        per_target=True,
        per_job=True,
        health=True,
        figure="remaining",
        note="The jobs of `drs_job_progress_ratio`: `remaining_time`.",
    ),
    Family(
        "drs_job_progress_update_timestamp_seconds",
        "gauge",
        "When DRS last updated a job's or subtask's progress, in Unix seconds.",
        JOB_LABELS,
        "TargetState.health (updated)",
        per_target=True,
        per_job=True,
        health=True,
        figure="updated",
        note="The jobs of `drs_job_progress_ratio`: `process_time` / 1000. A value that "
        "stops moving while the job transfers means a stalled transfer.",
    ),
    Family(
        "drs_job_error_info",
        "gauge",
        "Why a DRS job or subtask failed, as DRS says it (always 1).",
        (*JOB_LABELS, "error_code", "error_message"),
        "TargetState.health (error_code, error_message)",
        per_target=True,
        per_job=True,
        health=True,
        note="For jobs in a `*_FAILED` status: `error_code` and `error_message` of "
        "batch-status, or a v3 subtask's `error_msg`; the message on one line, at most "
        f"{MAX_ERROR_MESSAGE} characters.",
    ),
    Family(
        "drs_job_apply_rows_per_second",
        "gauge",
        "Rows per second a DRS job or subtask applies to its target.",
        JOB_LABELS,
        "TargetState.health (rows_rate)",
        per_target=True,
        per_job=True,
        health=True,
        figure="rows_rate",
        note="`apply_rows_rate` of batch-progress; no series before the incremental phase (DRS "
        "sends -1 then).",
    ),
    Family(
        "drs_job_apply_bytes_per_second",
        "gauge",
        "Bytes per second a DRS job or subtask applies to its target.",
        JOB_LABELS,
        "TargetState.health (bytes_rate)",
        per_target=True,
        per_job=True,
        health=True,
        figure="bytes_rate",
        note="`apply_bytes_rate` of batch-progress; no series before the incremental phase (DRS "
        "sends -1 then).",
    ),
    Family(
        "drs_job_rpo_seconds",
        "gauge",
        "Recovery point objective of a DR job: the data a failover now would lose, in seconds.",
        JOB_LABELS,
        "TargetState.health (rpo)",
        per_target=True,
        per_job=True,
        dr=True,
        figure="rpo",
        note="For `cloudDataGuard` jobs in `INCRE_TRANSFER_STARTED`: `rpo_info.delay` of "
        "batch-rpo-and-rto / 1000.",
    ),
    Family(
        "drs_job_rto_seconds",
        "gauge",
        "Recovery time objective of a DR job: how long a failover now would take, in seconds.",
        JOB_LABELS,
        "TargetState.health (rto)",
        per_target=True,
        per_job=True,
        dr=True,
        figure="rto",
        note="For `cloudDataGuard` jobs in `INCRE_TRANSFER_STARTED`: `rto_info.delay` of "
        "batch-rpo-and-rto / 1000.",
    ),
    Family(
        "drs_job_source_connected",
        "gauge",
        "1 if the DR job's replication instance reaches its source database, else 0.",
        JOB_LABELS,
        "TargetState.health (source_connected)",
        per_target=True,
        per_job=True,
        dr=True,
        figure="source_connected",
        note="For `cloudDataGuard` jobs in `FULL_TRANSFER_STARTED` or `INCRE_TRANSFER_STARTED`: "
        "`src_normal` of the DR monitoring data.",
    ),
    Family(
        "drs_job_target_connected",
        "gauge",
        "1 if the DR job's replication instance reaches its target database, else 0.",
        JOB_LABELS,
        "TargetState.health (target_connected)",
        per_target=True,
        per_job=True,
        dr=True,
        figure="target_connected",
        note="The jobs of `drs_job_source_connected`: `dst_normal`.",
    ),
    Family(
        "drs_job_instance_cpu_ratio",
        "gauge",
        "CPU use of a DR job's replication instance, from 0 to 1.",
        JOB_LABELS,
        "TargetState.health (cpu)",
        per_target=True,
        per_job=True,
        dr=True,
        figure="cpu",
        note="The jobs of `drs_job_source_connected`: `cpuUsed_percent` / 100.",
    ),
    Family(
        "drs_job_instance_memory_used_bytes",
        "gauge",
        "Memory used on a DR job's replication instance.",
        JOB_LABELS,
        "TargetState.health (memory_used)",
        per_target=True,
        per_job=True,
        dr=True,
        figure="memory_used",
        note="The jobs of `drs_job_source_connected`: `mem_used_inMB` x 2^20.",
    ),
    Family(
        "drs_job_instance_memory_bytes",
        "gauge",
        "Memory of a DR job's replication instance.",
        JOB_LABELS,
        "TargetState.health (memory)",
        per_target=True,
        per_job=True,
        dr=True,
        figure="memory",
        note="The jobs of `drs_job_source_connected`: `node_mem_inMB` x 2^20.",
    ),
    Family(
        "drs_job_instance_disk_used_bytes",
        "gauge",
        "Disk used on a DR job's replication instance.",
        JOB_LABELS,
        "TargetState.health (disk_used)",
        per_target=True,
        per_job=True,
        dr=True,
        figure="disk_used",
        note="The jobs of `drs_job_source_connected`: `volume_used_inGB` x 2^30.",
    ),
    Family(
        "drs_job_instance_disk_bytes",
        "gauge",
        "Disk size of a DR job's replication instance.",
        JOB_LABELS,
        "TargetState.health (disk)",
        per_target=True,
        per_job=True,
        dr=True,
        figure="disk",
        note="The jobs of `drs_job_source_connected`: `node_volume_inGB` x 2^30.",
    ),
    Family(
        "drs_up",
        "gauge",
        "1 if the last poll of this target succeeded.",
        TARGET_LABELS,
        "TargetState.up",
        per_target=True,
    ),
    Family(
        "drs_last_poll_duration_seconds",
        "gauge",
        "Wall time of the last poll of this target.",
        TARGET_LABELS,
        "TargetState.last_poll_duration",
        per_target=True,
    ),
    Family(
        "drs_last_poll_success_timestamp_seconds",
        "gauge",
        "When the last successful poll of this target finished, in Unix seconds.",
        TARGET_LABELS,
        "TargetState.last_success",
        per_target=True,
    ),
    Family(
        "drs_quota_used",
        "gauge",
        "DRS resources of a project in use, by resource type.",
        ("project_id", "region", "resource"),
        "Snapshot.quotas",
        per_target=False,
        quotas=True,
        note="`used` of the project's DRS quota (`GET /v3/{project_id}/quotas`), asked once "
        "per project a cycle.",
    ),
    Family(
        "drs_quota_limit",
        "gauge",
        "The most DRS resources of that type a project may have.",
        ("project_id", "region", "resource"),
        "Snapshot.quotas",
        per_target=False,
        quotas=True,
        note="`quota` of the project's DRS quota.",
    ),
    Family(
        "drs_api_published",
        "gauge",
        "1 if the region publishes this DRS list API, 0 if it answered that it does not.",
        ("region", "api"),
        "Snapshot.published",
        per_target=False,
        note=f"`api`: {_names(LIST_API_NAMES.values())}. As last found by asking: Huawei "
        "publishes v5 in a few regions and v3 in most. An API found unpublished is asked again "
        "hourly.",
    ),
    Family(
        "drs_api_requests_total",
        "counter",
        "DRS and IAM API requests by API and HTTP status code (or timeout, network, cancelled).",
        ("region", "api", "code"),
        "Snapshot.api_requests",
        per_target=False,
        note=f"`api`: {_names((*DRS_API_NAMES, *IAM_API_NAMES))} (discovery; `region` is "
        '`"global"`).',
    ),
    Family(
        "drs_poll_errors_total",
        "counter",
        "Failed polls of a target by reason.",
        (*TARGET_LABELS, "reason"),
        "Snapshot.poll_errors",
        per_target=False,
        note="Reasons: `auth`, `throttled`, `http_4xx`, `http_5xx`, `timeout`, `deadline` "
        "(the poll outlasted `poll.deadline`), `network`, `decode` (an answer that is not "
        "the documented JSON), `unsupported` (the region publishes no list API the target may "
        "use), `internal` (a bug of the exporter: please report it).",
    ),
    Family(
        "drs_discovery_targets",
        "gauge",
        "Targets (project and job type) that discovery found, over all shards.",
        (),
        "Snapshot.discovery",
        per_target=False,
        note="As of the last successful asking of IAM; targets configured explicitly for "
        "the same project are not counted. No sample while discovery is off.",
    ),
    Family(
        "drs_discovery_last_success_timestamp_seconds",
        "gauge",
        "When IAM last answered discovery's project list, in Unix seconds.",
        (),
        "Snapshot.discovery",
        per_target=False,
    ),
    Family(
        "drs_discovery_errors_total",
        "counter",
        "Failed askings of IAM's project list by reason.",
        ("reason",),
        "Snapshot.discovery_errors",
        per_target=False,
        note="Reasons as for `drs_poll_errors_total`. A failed asking keeps the last list.",
    ),
    Family(
        "drs_exporter_build_info",
        "gauge",
        "The exporter's version and Python version (always 1).",
        ("version", "python_version"),
        "the running program",
        per_target=False,
    ),
    Family(
        "drs_exporter_shard",
        "gauge",
        "Which shard of the targets this replica polls, out of total_shards (always 1).",
        ("shard", "total_shards"),
        "Snapshot.shard",
        per_target=False,
        note="From `--shard` and `--total-shards`; `0` of `1` when not sharded.",
    ),
    Family(
        "drs_exporter_config_last_reload_successful",
        "gauge",
        "1 if the last config (re)load succeeded.",
        (),
        "Snapshot.reload",
        per_target=False,
    ),
    Family(
        "drs_exporter_config_last_reload_success_timestamp_seconds",
        "gauge",
        "When the config was last loaded successfully, in Unix seconds.",
        (),
        "Snapshot.reload",
        per_target=False,
    ),
)
