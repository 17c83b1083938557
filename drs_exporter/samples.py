"""The sample lines of every family, written by hand: label values escaped, numbers spelled
as both the Prometheus text format and OpenMetrics spell them.

Each function writes the lines one target (or the snapshot) contributes to some families,
by family name; ``exposition`` compresses them and puts them in the order of the table.
"""

from __future__ import annotations

import math
import platform
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import attrgetter
from typing import Any

import msgspec

from .model import INFO_FIELDS, STATUSES, TEXT_FIELDS, Job, JobHealth
from .snapshot import Snapshot, TargetKey, TargetState

# `metrics.dense_status` writes these for every job; another status gets a line of its own.
_DENSE_STATUSES = frozenset(STATUSES)


def escape(value: str) -> str:
    """A label value escaped for both formats: backslash, double quote and newline."""
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if '"' in value:
        value = value.replace('"', '\\"')
    if "\n" in value:
        value = value.replace("\n", "\\n")
    return value


def number(value: float) -> str:
    """A sample value as both formats spell it (integers without a fraction)."""
    if abs(value) < 1e15:  # false for NaN and the infinities
        whole = int(value)
        return str(whole) if whole == value else repr(float(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def target_labels(key: TargetKey) -> str:
    return (
        f'project_id="{escape(key.project_id)}",region="{escape(key.region)}",'
        f'job_type="{escape(key.job_type)}"'
    )


def count_lines(name: str, base: str, jobs: Iterable[Job], subtasks: bool) -> str:
    """drs_jobs or drs_subtasks of one target: jobs grouped by engine, network and status."""
    groups = Counter(
        (job.engine_type, job.net_type, job.status)
        for job in jobs
        if bool(job.parent_id) == subtasks
    )
    return "".join(
        f'{name}{{{base},engine_type="{escape(engine)}",net_type="{escape(net)}",'
        f'status="{escape(status)}"}} {count}\n'
        for (engine, net, status), count in sorted(groups.items())
    )


def _written_out(name: str, source: str) -> Any:
    """The function ``name`` that ``source`` defines: a function of a job written out from
    the table of job fields once, at import, where a loop over the fields for each job would
    cost more than all the rest of job_lines."""
    scope = {"escape": escape, "replace": msgspec.structs.replace}
    exec(compile(source, f"<samples.{name}>", "exec"), scope)
    return scope[name]


# The job with its text fields escaped: the job itself when none needs it (nearly all).
_escaped: Callable[[Job], Job] = _written_out(
    "escaped",
    "def escaped(job):\n"
    f"    text = ''.join(({', '.join(f'job.{f}' for f in TEXT_FIELDS)},))\n"
    "    if '\\\\' in text or '\"' in text or '\\n' in text:\n"
    f"        return replace(job, {', '.join(f'{f}=escape(job.{f})' for f in TEXT_FIELDS)})\n"
    "    return job\n",
)
# drs_job_info's sample of an escaped job, after its identity (its labels in every per-job
# family: the target's and job_id).
_info_line: Callable[[str, Job], str] = _written_out(
    "info_line",
    "def info_line(ident, e):\n"
    "    return f'drs_job_info{{{ident}"
    + "".join(f',{label}="{{e.{field}}}"' for label, field in INFO_FIELDS if field != "id")
    + "}} 1\\n'\n",
)


def job_lines(
    base: str, jobs: Iterable[Job], status_since: Mapping[str, float], dense_status: bool
) -> dict[str, str]:
    """The per-job families of one target, by family name."""
    info: list[str] = []
    status: list[str] = []
    created: list[str] = []
    since: list[str] = []
    numbers: dict[float, str] = {}  # most jobs of a target were first seen at the same time
    for job in jobs:
        e = _escaped(job)  # for the text; ``job`` for comparisons and lookups
        ident = f'{base},job_id="{e.id}"'
        info.append(_info_line(ident, e))
        prefix = f"drs_job_status{{{ident},status="
        if dense_status:
            for known in STATUSES:  # known statuses need no escaping
                status.append(f'{prefix}"{known}"}} {1 if known == job.status else 0}\n')
        if not dense_status or job.status not in _DENSE_STATUSES:
            status.append(f'{prefix}"{e.status}"}} 1\n')
        if job.created is not None:
            created.append(f"drs_job_created_timestamp_seconds{{{ident}}} {number(job.created)}\n")
        first_seen = status_since.get(job.id)
        if first_seen is not None:
            text = numbers.get(first_seen)
            if text is None:
                text = numbers[first_seen] = number(first_seen)
            since.append(f"drs_job_status_since_timestamp_seconds{{{ident}}} {text}\n")
    return {
        "drs_job_info": "".join(info),
        "drs_job_status": "".join(status),
        "drs_job_created_timestamp_seconds": "".join(created),
        "drs_job_status_since_timestamp_seconds": "".join(since),
    }


def health_lines(
    base: str,
    jobs: Iterable[Job],
    health: Mapping[str, JobHealth],
    figures: Sequence[tuple[str, str]],
) -> dict[str, str]:
    """The families fed by the batch calls, of one target, by family name: each of
    ``figures`` (family name, JobHealth field) with one sample per job that has the figure,
    and drs_job_error_info."""
    # Rendered anew every cycle (the figures move): one pass per family over the jobs that
    # have health, each with its labels written once.
    told: list[tuple[str, JobHealth]] = []
    for job in jobs:
        found = health.get(job.id)
        if found is not None:
            told.append((f'{base},job_id="{escape(job.id)}"', found))
    texts: dict[str, str] = {}
    for name, field in figures:
        value_of = attrgetter(field)
        texts[name] = "".join(
            [
                f"{name}{{{ident}}} {number(value)}\n"
                for ident, found in told
                if (value := value_of(found)) is not None
            ]
        )
    texts["drs_job_error_info"] = "".join(
        [
            f'drs_job_error_info{{{ident},error_code="{escape(found.error_code)}",'
            f'error_message="{escape(found.error_message)}"}} 1\n'
            for ident, found in told
            if found.error_code or found.error_message
        ]
    )
    return texts


def poll_lines(base: str, state: TargetState) -> dict[str, str]:
    """drs_up, drs_last_poll_duration_seconds, drs_last_poll_success_timestamp_seconds."""
    lines = {"drs_up": f"drs_up{{{base}}} {1 if state.up else 0}\n"}
    if state.last_poll_duration is not None:
        lines["drs_last_poll_duration_seconds"] = (
            f"drs_last_poll_duration_seconds{{{base}}} {number(state.last_poll_duration)}\n"
        )
    if state.last_success is not None:
        lines["drs_last_poll_success_timestamp_seconds"] = (
            f"drs_last_poll_success_timestamp_seconds{{{base}}} {number(state.last_success)}\n"
        )
    return lines


def snapshot_lines(snapshot: Snapshot, version: str) -> dict[str, str]:
    """The families that are not per target: counters, build info, shard, reload state."""
    requests = "".join(
        f'drs_api_requests_total{{region="{escape(region)}",api="{escape(api)}",'
        f'code="{escape(code)}"}} {number(count)}\n'
        for (region, api, code), count in sorted(snapshot.api_requests.items())
    )
    errors = "".join(
        f'drs_poll_errors_total{{{target_labels(key)},reason="{escape(reason)}"}} {number(count)}\n'
        for (key, reason), count in sorted(snapshot.poll_errors.items())
    )
    discovery_errors = "".join(
        f'drs_discovery_errors_total{{reason="{escape(reason)}"}} {number(count)}\n'
        for reason, count in sorted(snapshot.discovery_errors.items())
    )
    used: list[str] = []
    limit: list[str] = []
    for (project_id, region, resource), (in_use, most) in sorted(snapshot.quotas.items()):
        labels = (
            f'project_id="{escape(project_id)}",region="{escape(region)}",'
            f'resource="{escape(resource)}"'
        )
        if in_use is not None:
            used.append(f"drs_quota_used{{{labels}}} {number(in_use)}\n")
        if most is not None:
            limit.append(f"drs_quota_limit{{{labels}}} {number(most)}\n")
    build = f'version="{escape(version)}",python_version="{escape(platform.python_version())}"'
    reload = snapshot.reload
    shard = f'shard="{snapshot.shard.index}",total_shards="{snapshot.shard.total}"'
    published = "".join(
        f'drs_api_published{{region="{escape(region)}",api="{escape(api)}"}} {int(found)}\n'
        for (region, api), found in sorted(snapshot.published.items())
    )
    texts = {
        "drs_api_published": published,
        "drs_api_requests_total": requests,
        "drs_poll_errors_total": errors,
        "drs_quota_used": "".join(used),
        "drs_quota_limit": "".join(limit),
        "drs_exporter_build_info": f"drs_exporter_build_info{{{build}}} 1\n",
        "drs_discovery_errors_total": discovery_errors,
        "drs_exporter_shard": f"drs_exporter_shard{{{shard}}} 1\n",
        "drs_exporter_config_last_reload_successful": unlabelled(
            "drs_exporter_config_last_reload_successful", int(reload.success)
        ),
        "drs_exporter_config_last_reload_success_timestamp_seconds": unlabelled(
            "drs_exporter_config_last_reload_success_timestamp_seconds", reload.timestamp
        ),
    }
    if snapshot.discovery is not None:
        found = snapshot.discovery
        texts["drs_discovery_targets"] = unlabelled("drs_discovery_targets", found.targets)
        texts["drs_discovery_last_success_timestamp_seconds"] = unlabelled(
            "drs_discovery_last_success_timestamp_seconds", found.last_success
        )
    return texts


def unlabelled(name: str, value: float | None) -> str:
    """The one sample of a family without labels; nothing when there is no value."""
    return "" if value is None else f"{name} {number(value)}\n"
