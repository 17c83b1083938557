"""Every metric family the exporter writes, as one table: a family's name, type, help, label
names and the function that writes its samples (or the batch figure it shows), together.

The table gives the order of the families in the exposition and their HELP and TYPE lines.
Each family (``family``) is written by the one writer compiled from its label names
(``samples.line_writer``), from what its sample function reads: a target's jobs, status
times, batch answers or poll outcome (``Reads``, which also says when a target's lines can
be kept), or the snapshot. A family of batch figures names the fields it shows
(``figures``): its lines are kept while they do not move, and one figure a job needs no
sample function. A family shown only with some ``metrics`` switch says which: per
job, the batch call whose results it shows, the quota. The metric table of docs/metrics.md
and the tests that list metric names are checked against this table, so a family cannot be
added, renamed or relabelled in one place only. This file is long: it is that one table, an
entry per family, and splitting it would split the one place.
"""

from __future__ import annotations

import platform
from collections import Counter
from collections.abc import Callable, Iterable

from ..cloud.transport import MAX_BODY_BYTES
from ..drs.batch_calls import (
    BATCH_DETAIL,
    BATCH_PROGRESS,
    BATCH_RPO_RTO,
    BATCH_STATUS,
    DR_MONITORING,
)
from ..errors import REASONS
from ..list_apis import LIST_APIS
from ..model import INFO_FIELDS, MAX_ERROR_MESSAGE, STATUSES, is_failed
from ..polling.counters import DRS_API_NAMES, IAM_API_NAMES
from ..polling.snapshot import DiscoveryState, Snapshot, TargetState
from .family import Family, Reads, SnapshotFamily, SnapshotSamples, TargetFamily, TargetSamples
from .samples import (
    JOB_LABELS,
    TARGET_LABELS,
    Line,
    SnapshotView,
    TargetView,
    own_labels_text,
    target_text,
)

COUNT_LABELS = (*TARGET_LABELS, "engine_type", "net_type", "status")
INFO_LABELS = (*TARGET_LABELS, *(label for label, _ in INFO_FIELDS))  # job_id first
# The Job fields of drs_job_info's labels after job_id, in their order.
INFO_VALUES = tuple(name for label, name in INFO_FIELDS if label not in JOB_LABELS)


def _names(names: Iterable[str]) -> str:
    """```a`, `b` and `c``: API names as a note lists them."""
    quoted = [f"`{name}`" for name in names]
    return ", ".join(quoted[:-1]) + f" and {quoted[-1]}" if len(quoted) > 1 else "".join(quoted)


def _reasons() -> str:
    """The poll-error reasons, each with what it means, as a note lists them."""
    body_cap = f"{MAX_BODY_BYTES >> 20} MiB"
    return ", ".join(
        f"`{reason}` ({meaning.format(body_cap=body_cap)})" if meaning else f"`{reason}`"
        for reason, meaning in REASONS.items()
    )


# The sample functions of the families below: (the family's line writer, what it reads).


def _counts(subtasks: bool) -> TargetSamples:
    """Jobs (or subtasks) grouped by engine, network and status."""

    def samples(line: Line, t: TargetView) -> str:
        groups = Counter(
            (job.engine_type, job.net_type, job.status)
            for job in t.jobs
            if bool(job.parent_id) == subtasks
        )
        return "".join([line(t.base, *group, n) for group, n in sorted(groups.items())])

    return samples


def _failed(line: Line, t: TargetView) -> str:
    return line(t.base, sum(1 for job in t.jobs if not job.parent_id and is_failed(job.status)))


def _info(line: Line, t: TargetView) -> str:
    return "".join([line(ident, job, 1) for ident, job in t.named])


_KNOWN_STATUSES = frozenset(STATUSES)


def _status(line: Line, t: TargetView) -> str:
    """1 for a job's status; with dense_status also 0 for every other known status."""
    if not t.dense_status:
        return "".join([line(ident, job.status, 1) for ident, job in t.named])
    lines: list[str] = []
    for ident, job in t.named:
        lines.extend([line(ident, known, 1 if known == job.status else 0) for known in STATUSES])
        if job.status not in _KNOWN_STATUSES:
            lines.append(line(ident, job.status, 1))
    return "".join(lines)


def _created(line: Line, t: TargetView) -> str:
    return "".join([line(ident, job.created) for ident, job in t.named if job.created is not None])


def _since(line: Line, t: TargetView) -> str:
    since = t.state.status_since
    return "".join(
        [line(ident, first) for ident, job in t.named if (first := since.get(job.id)) is not None]
    )


def _tags(line: Line, t: TargetView) -> str:
    """A job's kept tags as labels of its own, for the jobs that have any."""
    return "".join([line(ident, own_labels_text(d.tags), 1) for ident, d in t.detailed if d.tags])


def _error_info(line: Line, t: TargetView) -> str:
    return "".join(
        [
            line(ident, h.error_code, h.error_message, 1)
            for ident, h in t.told
            if h.error_code or h.error_message
        ]
    )


def _of_target(value_of: Callable[[TargetState], float | None]) -> TargetSamples:
    """One figure of the target's poll, if it has one."""

    def samples(line: Line, t: TargetView) -> str:
        value = value_of(t.state)
        return "" if value is None else line(t.base, value)

    return samples


def _quota(used: bool) -> SnapshotSamples:
    """What each project uses of each resource, or the most it may use."""

    def samples(line: Line, s: SnapshotView) -> str:
        return "".join(
            [
                line(project_id, region, resource, value)
                for (project_id, region, resource), figures in sorted(s.snapshot.quotas.items())
                if (value := figures[0 if used else 1]) is not None
            ]
        )

    return samples


def _published(line: Line, s: SnapshotView) -> str:
    found = sorted(s.snapshot.published.items())
    return "".join([line(region, api, int(yes)) for (region, api), yes in found])


def _api_requests(line: Line, s: SnapshotView) -> str:
    counts = sorted(s.snapshot.api_requests.items())
    return "".join([line(region, api, code, n) for (region, api, code), n in counts])


def _poll_errors(line: Line, s: SnapshotView) -> str:
    counts = sorted(s.snapshot.poll_errors.items())
    return "".join([line(target_text(key), reason, n) for (key, reason), n in counts])


def _poll_overruns(line: Line, s: SnapshotView) -> str:
    counts = sorted(s.snapshot.poll_overruns.items())
    return "".join([line(target_text(key), n) for key, n in counts])


def _rate_limit_wait(line: Line, s: SnapshotView) -> str:
    waits = sorted(s.snapshot.rate_limit_wait.items())
    return "".join([line(region, seconds) for region, seconds in waits])


def _discovery_errors(line: Line, s: SnapshotView) -> str:
    counts = sorted(s.snapshot.discovery_errors.items())
    return "".join([line(reason, n) for reason, n in counts])


def _build_info(line: Line, s: SnapshotView) -> str:
    return line(s.version, platform.python_version(), 1)


def _of_snapshot(value_of: Callable[[Snapshot], float | None]) -> SnapshotSamples:
    """One unlabelled figure of the snapshot, if it has one."""

    def samples(line: Line, s: SnapshotView) -> str:
        value = value_of(s.snapshot)
        return "" if value is None else line(value)

    return samples


def _of_discovery(value_of: Callable[[DiscoveryState], float | None]) -> SnapshotSamples:
    """One figure of what discovery found, while discovery is on."""
    return _of_snapshot(lambda s: None if s.discovery is None else value_of(s.discovery))


FAMILIES: tuple[Family, ...] = (
    TargetFamily(
        "drs_jobs",
        "gauge",
        "Top-level DRS jobs by engine type, network type and status.",
        COUNT_LABELS,
        reads=Reads.JOBS,
        samples=_counts(subtasks=False),
    ),
    TargetFamily(
        "drs_subtasks",
        "gauge",
        "DRS child tasks by engine type, network type and status.",
        COUNT_LABELS,
        reads=Reads.JOBS,
        samples=_counts(subtasks=True),
    ),
    TargetFamily(
        "drs_jobs_failed",
        "gauge",
        "Top-level DRS jobs whose status ends in _FAILED.",
        TARGET_LABELS,
        reads=Reads.JOBS,
        samples=_failed,
        note="0 for every target with data.",
    ),
    TargetFamily(
        "drs_job_info",
        "gauge",
        "Static properties of a DRS job or subtask (always 1).",
        INFO_LABELS,
        fields=INFO_VALUES,
        reads=Reads.JOBS,
        samples=_info,
        per_job=True,
        note='`parent_job_id` is `""` for a top-level job.',
    ),
    TargetFamily(
        "drs_job_status",
        "gauge",
        "Current status of a DRS job or subtask (1 for the current status).",
        (*JOB_LABELS, "status"),
        reads=Reads.JOBS,
        samples=_status,
        per_job=True,
        note="With `dense_status`, also 0 for every other of v5's 22 statuses.",
    ),
    TargetFamily(
        "drs_job_created_timestamp_seconds",
        "gauge",
        "When the DRS job or subtask was created, in Unix seconds.",
        JOB_LABELS,
        reads=Reads.JOBS,
        samples=_created,
        per_job=True,
        note="From `create_time`; no series when the API gives none.",
    ),
    TargetFamily(
        "drs_job_status_since_timestamp_seconds",
        "gauge",
        "When the exporter first saw the job in its current status, in Unix seconds.",
        JOB_LABELS,
        reads=Reads.SINCE,
        samples=_since,
        per_job=True,
        note="First seen in this status by this process: kept across reloads, not restarts.",
    ),
    TargetFamily(
        "drs_job_progress_ratio",
        "gauge",
        "Progress of a DRS job's or subtask's transfer, from 0 to 1.",
        JOB_LABELS,
        reads=Reads.HEALTH,
        figures=("progress",),
        per_job=True,
        call=BATCH_PROGRESS,
        note="For jobs in `FULL_TRANSFER_STARTED`, `INCRE_TRANSFER_STARTED` or "
        "`CHILD_TRANSFER_STARTED`: `progress` of batch-progress, divided by 100.",
    ),
    TargetFamily(
        "drs_job_replication_delay_seconds",
        "gauge",
        "How far a DRS job's or subtask's incremental replication is behind its source.",
        JOB_LABELS,
        reads=Reads.HEALTH,
        figures=("delay",),
        per_job=True,
        call=BATCH_PROGRESS,
        note="For jobs in `INCRE_TRANSFER_STARTED` or `CHILD_TRANSFER_STARTED`: "
        "`incre_trans_delay_millis` / 1000, else `incre_trans_delay`.",
    ),
    TargetFamily(
        "drs_job_remaining_seconds",
        "gauge",
        "How long a DRS job's or subtask's transfer still needs, as DRS estimates it.",
        JOB_LABELS,
        reads=Reads.HEALTH,
        figures=("remaining",),
        per_job=True,
        call=BATCH_PROGRESS,
        note="The jobs of `drs_job_progress_ratio`: `remaining_time`.",
    ),
    TargetFamily(
        "drs_job_progress_update_timestamp_seconds",
        "gauge",
        "When DRS last updated a job's or subtask's progress, in Unix seconds.",
        JOB_LABELS,
        reads=Reads.HEALTH,
        figures=("updated",),
        per_job=True,
        call=BATCH_PROGRESS,
        note="The jobs of `drs_job_progress_ratio`: `process_time` / 1000. A value that stops "
        "moving while the job transfers means a stalled transfer.",
    ),
    TargetFamily(
        "drs_job_error_info",
        "gauge",
        "Why a DRS job or subtask failed, as DRS says it (always 1).",
        (*JOB_LABELS, "error_code", "error_message"),
        reads=Reads.HEALTH,
        samples=_error_info,
        figures=("error_code", "error_message"),
        per_job=True,
        call=BATCH_STATUS,
        note="For jobs in a `*_FAILED` status: `error_code` and `error_message` of "
        "batch-status, or a v3 subtask's `error_msg`; the message on one line, at most "
        f"{MAX_ERROR_MESSAGE} characters.",
    ),
    TargetFamily(
        "drs_job_apply_rows_per_second",
        "gauge",
        "Rows per second a DRS job or subtask applies to its target.",
        JOB_LABELS,
        reads=Reads.HEALTH,
        figures=("rows_rate",),
        per_job=True,
        call=BATCH_PROGRESS,
        note="`apply_rows_rate` of batch-progress; no series before the incremental phase (DRS "
        "sends -1 then).",
    ),
    TargetFamily(
        "drs_job_apply_bytes_per_second",
        "gauge",
        "Bytes per second a DRS job or subtask applies to its target.",
        JOB_LABELS,
        reads=Reads.HEALTH,
        figures=("bytes_rate",),
        per_job=True,
        call=BATCH_PROGRESS,
        note="`apply_bytes_rate` of batch-progress; no series before the incremental phase (DRS "
        "sends -1 then).",
    ),
    TargetFamily(
        "drs_job_rpo_seconds",
        "gauge",
        "Recovery point objective of a DR job: the data a failover now would lose, in seconds.",
        JOB_LABELS,
        reads=Reads.HEALTH,
        figures=("rpo",),
        per_job=True,
        call=BATCH_RPO_RTO,
        note="For `cloudDataGuard` jobs in `INCRE_TRANSFER_STARTED`: `rpo_info.delay` of "
        "batch-rpo-and-rto / 1000.",
    ),
    TargetFamily(
        "drs_job_rto_seconds",
        "gauge",
        "Recovery time objective of a DR job: how long a failover now would take, in seconds.",
        JOB_LABELS,
        reads=Reads.HEALTH,
        figures=("rto",),
        per_job=True,
        call=BATCH_RPO_RTO,
        note="For `cloudDataGuard` jobs in `INCRE_TRANSFER_STARTED`: `rto_info.delay` of "
        "batch-rpo-and-rto / 1000.",
    ),
    TargetFamily(
        "drs_job_source_connected",
        "gauge",
        "1 if the DR job's replication instance reaches its source database, else 0.",
        JOB_LABELS,
        reads=Reads.HEALTH,
        figures=("source_connected",),
        per_job=True,
        call=DR_MONITORING,
        note="For `cloudDataGuard` jobs in `FULL_TRANSFER_STARTED` or `INCRE_TRANSFER_STARTED`: "
        "`src_normal` of the DR monitoring data.",
    ),
    TargetFamily(
        "drs_job_target_connected",
        "gauge",
        "1 if the DR job's replication instance reaches its target database, else 0.",
        JOB_LABELS,
        reads=Reads.HEALTH,
        figures=("target_connected",),
        per_job=True,
        call=DR_MONITORING,
        note="The jobs of `drs_job_source_connected`: `dst_normal`.",
    ),
    TargetFamily(
        "drs_job_instance_cpu_ratio",
        "gauge",
        "CPU use of a DR job's replication instance, from 0 to 1.",
        JOB_LABELS,
        reads=Reads.HEALTH,
        figures=("cpu",),
        per_job=True,
        call=DR_MONITORING,
        note="The jobs of `drs_job_source_connected`: `cpuUsed_percent` / 100.",
    ),
    TargetFamily(
        "drs_job_instance_memory_used_bytes",
        "gauge",
        "Memory used on a DR job's replication instance.",
        JOB_LABELS,
        reads=Reads.HEALTH,
        figures=("memory_used",),
        per_job=True,
        call=DR_MONITORING,
        note="The jobs of `drs_job_source_connected`: `mem_used_inMB` x 2^20.",
    ),
    TargetFamily(
        "drs_job_instance_memory_bytes",
        "gauge",
        "Memory of a DR job's replication instance.",
        JOB_LABELS,
        reads=Reads.HEALTH,
        figures=("memory",),
        per_job=True,
        call=DR_MONITORING,
        note="The jobs of `drs_job_source_connected`: `node_mem_inMB` x 2^20.",
    ),
    TargetFamily(
        "drs_job_instance_disk_used_bytes",
        "gauge",
        "Disk used on a DR job's replication instance.",
        JOB_LABELS,
        reads=Reads.HEALTH,
        figures=("disk_used",),
        per_job=True,
        call=DR_MONITORING,
        note="The jobs of `drs_job_source_connected`: `volume_used_inGB` x 2^30.",
    ),
    TargetFamily(
        "drs_job_instance_disk_bytes",
        "gauge",
        "Disk size of a DR job's replication instance.",
        JOB_LABELS,
        reads=Reads.HEALTH,
        figures=("disk",),
        per_job=True,
        call=DR_MONITORING,
        note="The jobs of `drs_job_source_connected`: `node_volume_inGB` x 2^30.",
    ),
    TargetFamily(
        "drs_job_subscription_expiry_timestamp_seconds",
        "gauge",
        "When the yearly/monthly subscription of a DRS job ends, in Unix seconds.",
        JOB_LABELS,
        reads=Reads.DETAIL,
        figures=("expires",),
        per_job=True,
        call=BATCH_DETAIL,
        note="For top-level jobs billed by period: `period_order.exp_time` of batch-detail (ISO "
        "8601, `yyyy-MM-dd HH:mm:ss` in UTC, or Unix seconds or milliseconds). When it ends, "
        "the job stops; none for a job billed on demand.",
    ),
    TargetFamily(
        "drs_job_subscription_auto_renew",
        "gauge",
        "1 if the subscription of a DRS job renews automatically, else 0.",
        JOB_LABELS,
        reads=Reads.DETAIL,
        figures=("auto_renew",),
        per_job=True,
        call=BATCH_DETAIL,
        note="The jobs of `drs_job_subscription_expiry_timestamp_seconds`: "
        "`period_order.is_auto_renew`.",
    ),
    TargetFamily(
        "drs_job_alarm_delay_threshold_seconds",
        "gauge",
        "The replication delay past which the DRS alarm set on the job fires, in seconds.",
        JOB_LABELS,
        reads=Reads.DETAIL,
        figures=("alarm_delay",),
        per_job=True,
        call=BATCH_DETAIL,
        note="`alarm_notify.delay_time` of batch-detail, where the job's owner set one (0 is "
        "taken as not set). Compare with `drs_job_replication_delay_seconds`; the alarm's "
        "subscribers are never read.",
    ),
    TargetFamily(
        "drs_job_alarm_rpo_threshold_seconds",
        "gauge",
        "The RPO past which the DRS alarm set on a DR job fires, in seconds.",
        JOB_LABELS,
        reads=Reads.DETAIL,
        figures=("alarm_rpo",),
        per_job=True,
        call=BATCH_DETAIL,
        note="`alarm_notify.rpo_delay`, where set. Compare with `drs_job_rpo_seconds`.",
    ),
    TargetFamily(
        "drs_job_alarm_rto_threshold_seconds",
        "gauge",
        "The RTO past which the DRS alarm set on a DR job fires, in seconds.",
        JOB_LABELS,
        reads=Reads.DETAIL,
        figures=("alarm_rto",),
        per_job=True,
        call=BATCH_DETAIL,
        note="`alarm_notify.rto_delay`, where set. Compare with `drs_job_rto_seconds`.",
    ),
    TargetFamily(
        "drs_job_tags",
        "gauge",
        "The tags of a DRS job, as labels (always 1).",
        JOB_LABELS,
        own_labels="tag_",
        reads=Reads.DETAIL,
        samples=_tags,
        figures=("tags",),
        per_job=True,
        call=BATCH_DETAIL,
        note="A label `tag_<key>` for each tag whose key `metrics.job_tags` names (none by "
        'default; `["*"]`: every key), the key made a label name (`cost-center` is '
        "`tag_cost_center`; of two keys that make one name, the first is kept). For joins: "
        "`drs_job_rpo_seconds * on(job_id) group_left(tag_env) drs_job_tags`.",
    ),
    TargetFamily(
        "drs_up",
        "gauge",
        "1 if the last poll of this target succeeded.",
        TARGET_LABELS,
        reads=Reads.POLL,
        samples=lambda line, t: line(t.base, 1 if t.state.up else 0),
    ),
    TargetFamily(
        "drs_last_poll_duration_seconds",
        "gauge",
        "Wall time of the last poll of this target.",
        TARGET_LABELS,
        reads=Reads.POLL,
        samples=_of_target(lambda state: state.last_poll_duration),
    ),
    TargetFamily(
        "drs_last_poll_success_timestamp_seconds",
        "gauge",
        "When the last successful poll of this target finished, in Unix seconds.",
        TARGET_LABELS,
        reads=Reads.POLL,
        samples=_of_target(lambda state: state.last_success),
    ),
    SnapshotFamily(
        "drs_quota_used",
        "gauge",
        "DRS resources of a project in use, by resource type.",
        ("project_id", "region", "resource"),
        samples=_quota(used=True),
        quotas=True,
        note="`used` of the project's DRS quota (`GET /v3/{project_id}/quotas`), asked once per "
        "project a round.",
    ),
    SnapshotFamily(
        "drs_quota_limit",
        "gauge",
        "The most DRS resources of that type a project may have.",
        ("project_id", "region", "resource"),
        samples=_quota(used=False),
        quotas=True,
        note="`quota` of the project's DRS quota.",
    ),
    SnapshotFamily(
        "drs_api_published",
        "gauge",
        "1 if the region publishes this DRS list API, 0 if it answered that it does not.",
        ("region", "api"),
        samples=_published,
        note=f"`api`: {_names(a.api for a in LIST_APIS)}. As last found by asking: Huawei "
        "publishes v5 in a few regions and v3 in most. An API found unpublished is asked again "
        "hourly.",
    ),
    SnapshotFamily(
        "drs_api_requests_total",
        "counter",
        "DRS and IAM API requests by API and HTTP status code (or timeout, network, cancelled).",
        ("region", "api", "code"),
        samples=_api_requests,
        note=f"`api`: {_names((*DRS_API_NAMES, *IAM_API_NAMES))} (discovery; `region` is "
        '`"global"`).',
    ),
    SnapshotFamily(
        "drs_poll_errors_total",
        "counter",
        "Failed polls of a target by reason.",
        (*TARGET_LABELS, "reason"),
        samples=_poll_errors,
        note=f"Reasons: {_reasons()}.",
    ),
    SnapshotFamily(
        "drs_poll_overruns_total",
        "counter",
        "Polls of a target that took longer than poll.interval.",
        TARGET_LABELS,
        samples=_poll_overruns,
        note="The next poll then starts at once: the target is polled less often than the "
        "interval says, because its rounds need more requests than `poll.max_requests_per_second` "
        "allows in one interval (or the API answers slowly). Nothing fails for it.",
    ),
    SnapshotFamily(
        "drs_api_rate_limit_wait_seconds_total",
        "counter",
        "Seconds DRS and IAM API requests waited for the exporter's own request limiter.",
        ("region",),
        samples=_rate_limit_wait,
        note="The wait for a turn, a slot of `poll.max_concurrency` and a tick of "
        "`poll.max_requests_per_second`; `rate()` of it is the requests waiting on average.",
    ),
    SnapshotFamily(
        "drs_discovery_targets",
        "gauge",
        "Targets (project and job type) that discovery found, over all shards.",
        (),
        samples=_of_discovery(lambda found: found.targets),
        note="As of the last successful asking of IAM; targets configured explicitly for the same "
        "project are not counted. No sample while discovery is off.",
    ),
    SnapshotFamily(
        "drs_discovery_last_success_timestamp_seconds",
        "gauge",
        "When IAM last answered discovery's project list, in Unix seconds.",
        (),
        samples=_of_discovery(lambda found: found.last_success),
    ),
    SnapshotFamily(
        "drs_discovery_errors_total",
        "counter",
        "Failed askings of IAM's project list by reason.",
        ("reason",),
        samples=_discovery_errors,
        note="Reasons as for `drs_poll_errors_total`. A failed asking keeps the last list.",
    ),
    SnapshotFamily(
        "drs_exporter_build_info",
        "gauge",
        "The exporter's version and Python version (always 1).",
        ("version", "python_version"),
        samples=_build_info,
    ),
    SnapshotFamily(
        "drs_exporter_shard",
        "gauge",
        "Which shard of the targets this replica polls, out of total_shards (always 1).",
        ("shard", "total_shards"),
        samples=lambda line, s: line(str(s.snapshot.shard.index), str(s.snapshot.shard.total), 1),
        note="From `--shard` and `--total-shards`; `0` of `1` when not sharded.",
    ),
    SnapshotFamily(
        "drs_exporter_config_last_reload_successful",
        "gauge",
        "1 if the last config (re)load succeeded.",
        (),
        samples=_of_snapshot(lambda s: int(s.reload.success)),
    ),
    SnapshotFamily(
        "drs_exporter_config_last_reload_success_timestamp_seconds",
        "gauge",
        "When the config was last loaded successfully, in Unix seconds.",
        (),
        samples=_of_snapshot(lambda s: s.reload.timestamp),
    ),
)
