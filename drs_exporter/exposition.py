"""The /metrics body: a Snapshot rendered once per publish, served as is on every scrape.

The text is written by hand rather than through a prometheus_client registry: a scrape then
costs nothing per job. The Prometheus text format (0.0.4) and OpenMetrics (1.0) share every
sample line; they differ only in the counters' HELP/TYPE lines and OpenMetrics' final
``# EOF``. Which families there are, in which order, comes from ``families.FAMILIES``.

A body is a sequence of chunks: each family's header, then every target's lines of that
family. A chunk is kept compressed, as a segment of ``gzipjoin``: a gzip body is the
concatenation of the segments, a plain one their decompression, and a 10,000-job exposition
holds 1.5 MB instead of 13. ``render`` given the previous Exposition takes over the chunks
of every target whose TargetState is the very same object as then (the poller keeps an
unchanged target's state): a progress snapshot published after one target finished costs
that target's lines and a concatenation, not 10,000 jobs.

A scrape adds lines of its own after these families (the process metrics, a few dozen lines
rendered per request): ``Exposition.parts`` gives the body as pieces to send in order, the
pre-rendered part joined once per snapshot and never copied, then the scrape's lines and
OpenMetrics' ``# EOF``; gzipped, the pieces still make one gzip member.
"""

from __future__ import annotations

import math
import platform
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from .families import FAMILIES, Family
from .gzipjoin import OpenMember, Segment, close_member, inflate, open_member, segment
from .model import KNOWN_STATUSES, STATUSES, Job, JobHealth, is_failed, unique_jobs
from .snapshot import Snapshot, TargetKey, TargetState

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@dataclass(frozen=True, slots=True)
class ExpositionOptions:
    """The ``metrics:`` section of the config, as far as rendering is concerned."""

    per_job: bool = True  # the drs_job_* series
    dense_status: bool = False  # drs_job_status also 0 for every other known status
    health: bool = True  # the replication health series (with per_job)

    def shows(self, family: Family) -> bool:
        """Whether ``family`` is part of the exposition with these options."""
        return (self.per_job or not family.per_job) and (self.health or not family.health)


def _chunk(text: str) -> Segment:
    # Label values are escaped already; "replace" turns lone surrogates (which a broken API
    # can smuggle in through JSON \ud800 escapes) into "?" instead of raising.
    return segment(text.encode("utf-8", "replace"))


@dataclass(frozen=True, slots=True)
class _Headers:
    """A family's HELP and TYPE lines, as each format writes them."""

    text: Segment
    openmetrics: Segment


def _headers(family: Family) -> _Headers:
    def lines(name: str) -> Segment:
        return _chunk(f"# HELP {name} {family.help}\n# TYPE {name} {family.kind}\n")

    text = lines(family.name)
    openmetrics = text if family.family_name == family.name else lines(family.family_name)
    return _Headers(text, openmetrics)


_HEADERS = {family.name: _headers(family) for family in FAMILIES}
_EOF = b"# EOF\n"

# A target's chunks by family name; a family in which the target has no lines is absent.
_TargetChunks = Mapping[str, Segment]


class Exposition:
    """Rendered metrics of one snapshot; each format's families joined once, when first asked.

    Bodies come in four variants: the text format or OpenMetrics, plain or gzipped.
    """

    def __init__(
        self,
        options: ExpositionOptions,
        targets: Mapping[TargetKey, tuple[TargetState, _TargetChunks]],
        text: tuple[Segment, ...],
        openmetrics: tuple[Segment, ...],
    ) -> None:
        self._options = options
        self._targets = targets  # each target's state and its chunks, for the next render
        self._chunks = {False: text, True: openmetrics}  # OpenMetrics without its # EOF
        self._plain: dict[bool, bytes] = {}
        self._packed: dict[bool, OpenMember] = {}

    def joined(self, *, openmetrics: bool, gzip: bool) -> bool:
        """Whether the variant's families are joined already, so ``parts`` costs no more
        than its ``extra``."""
        return openmetrics in (self._packed if gzip else self._plain)

    def parts(self, *, openmetrics: bool, gzip: bool, extra: bytes = b"") -> tuple[bytes, ...]:
        """The body as pieces to send in order: the families, ``extra`` and OpenMetrics' EOF.

        ``extra`` is lines in the same format that follow the families (without a ``# EOF``).
        The first call for a variant joins megabytes (best made off the event loop); later
        ones return the very same bytes for the families and build only the small rest.
        """
        tail = extra + _EOF if openmetrics else extra
        chunks = self._chunks[openmetrics]
        if gzip:
            member = self._packed.get(openmetrics)
            if member is None:
                member = self._packed[openmetrics] = open_member(chunks)
            return member.start, close_member(member, (segment(tail),))
        plain = self._plain.get(openmetrics)
        if plain is None:
            plain = self._plain[openmetrics] = inflate(chunks)
        return plain, tail

    def body(self, *, openmetrics: bool, gzip: bool, extra: bytes = b"") -> bytes:
        """The body in the Prometheus text format or OpenMetrics, optionally gzipped, as one
        bytes object (a copy of ``parts``: for tests and ``once``, not for scrapes)."""
        return b"".join(self.parts(openmetrics=openmetrics, gzip=gzip, extra=extra))


def escape(value: str) -> str:
    """A label value escaped for both formats: backslash, double quote and newline."""
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if '"' in value:
        value = value.replace('"', '\\"')
    if "\n" in value:
        value = value.replace("\n", "\\n")
    return value


def _number(value: float) -> str:
    """A sample value as both formats spell it (integers without a fraction)."""
    if abs(value) < 1e15:  # false for NaN and the infinities
        whole = int(value)
        return str(whole) if whole == value else repr(float(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _target_labels(key: TargetKey) -> str:
    return (
        f'project_id="{escape(key.project_id)}",region="{escape(key.region)}",'
        f'job_type="{escape(key.job_type)}"'
    )


def _count_lines(name: str, base: str, jobs: Iterable[Job], subtasks: bool) -> str:
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


def _escaped(job: Job) -> Job:
    """The job with its text fields escaped: the job itself when none needs it (nearly all)."""
    text = "".join(
        (
            job.id,
            job.name,
            job.status,
            job.engine_type,
            job.net_type,
            job.job_direction,
            job.task_type,
            job.job_mode,
            job.job_mode_role,
            job.charging_mode,
            job.enterprise_project_id,
            job.parent_id,
        )
    )
    if "\\" not in text and '"' not in text and "\n" not in text:
        return job
    return Job(
        id=escape(job.id),
        name=escape(job.name),
        status=escape(job.status),
        engine_type=escape(job.engine_type),
        net_type=escape(job.net_type),
        job_direction=escape(job.job_direction),
        task_type=escape(job.task_type),
        job_mode=escape(job.job_mode),
        job_mode_role=escape(job.job_mode_role),
        charging_mode=escape(job.charging_mode),
        enterprise_project_id=escape(job.enterprise_project_id),
        created=job.created,
        parent_id=escape(job.parent_id),
    )


def _job_lines(
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
        info.append(
            f'drs_job_info{{{ident},name="{e.name}",engine_type="{e.engine_type}",'
            f'net_type="{e.net_type}",job_direction="{e.job_direction}",'
            f'task_type="{e.task_type}",job_mode="{e.job_mode}",'
            f'job_mode_role="{e.job_mode_role}",charging_mode="{e.charging_mode}",'
            f'enterprise_project_id="{e.enterprise_project_id}",'
            f'parent_job_id="{e.parent_id}"}} 1\n'
        )
        prefix = f"drs_job_status{{{ident},status="
        if dense_status:
            for known in STATUSES:  # known statuses need no escaping
                status.append(f'{prefix}"{known}"}} {1 if known == job.status else 0}\n')
        if not dense_status or job.status not in KNOWN_STATUSES:
            status.append(f'{prefix}"{e.status}"}} 1\n')
        if job.created is not None:
            created.append(f"drs_job_created_timestamp_seconds{{{ident}}} {_number(job.created)}\n")
        first_seen = status_since.get(job.id)
        if first_seen is not None:
            text = numbers.get(first_seen)
            if text is None:
                text = numbers[first_seen] = _number(first_seen)
            since.append(f"drs_job_status_since_timestamp_seconds{{{ident}}} {text}\n")
    return {
        "drs_job_info": "".join(info),
        "drs_job_status": "".join(status),
        "drs_job_created_timestamp_seconds": "".join(created),
        "drs_job_status_since_timestamp_seconds": "".join(since),
    }


# The health figures, by the family that shows each.
_FIGURES: tuple[tuple[str, Callable[[JobHealth], float | None]], ...] = (
    ("drs_job_progress_ratio", lambda h: h.progress),
    ("drs_job_replication_delay_seconds", lambda h: h.delay),
    ("drs_job_remaining_seconds", lambda h: h.remaining),
    ("drs_job_progress_update_timestamp_seconds", lambda h: h.updated),
)


def _health_lines(
    base: str, jobs: Iterable[Job], health: Mapping[str, JobHealth]
) -> dict[str, str]:
    """The replication health families of one target, by family name."""
    lines: dict[str, list[str]] = {name: [] for name, _ in _FIGURES}
    errors: list[str] = []
    for job in jobs:
        found = health.get(job.id)
        if found is None:
            continue
        ident = f'{base},job_id="{escape(job.id)}"'
        for name, value_of in _FIGURES:
            value = value_of(found)
            if value is not None:
                lines[name].append(f"{name}{{{ident}}} {_number(value)}\n")
        if found.has_reason:
            errors.append(
                f'drs_job_error_info{{{ident},error_code="{escape(found.error_code)}",'
                f'error_message="{escape(found.error_message)}"}} 1\n'
            )
    texts = {name: "".join(text) for name, text in lines.items()}
    texts["drs_job_error_info"] = "".join(errors)
    return texts


def _poll_lines(base: str, state: TargetState) -> dict[str, str]:
    """drs_up, drs_last_poll_duration_seconds, drs_last_poll_success_timestamp_seconds."""
    lines = {"drs_up": f"drs_up{{{base}}} {1 if state.up else 0}\n"}
    if state.last_poll_duration is not None:
        lines["drs_last_poll_duration_seconds"] = (
            f"drs_last_poll_duration_seconds{{{base}}} {_number(state.last_poll_duration)}\n"
        )
    if state.last_success is not None:
        lines["drs_last_poll_success_timestamp_seconds"] = (
            f"drs_last_poll_success_timestamp_seconds{{{base}}} {_number(state.last_success)}\n"
        )
    return lines


def _target_chunks(state: TargetState, options: ExpositionOptions) -> _TargetChunks:
    """Every line one target contributes, rendered and compressed, by family name."""
    base = _target_labels(state.key)
    texts: dict[str, str] = {}
    if state.has_data:
        jobs = unique_jobs(state.jobs)
        failed = sum(1 for job in jobs if not job.parent_id and is_failed(job.status))
        texts["drs_jobs"] = _count_lines("drs_jobs", base, jobs, subtasks=False)
        texts["drs_subtasks"] = _count_lines("drs_subtasks", base, jobs, subtasks=True)
        texts["drs_jobs_failed"] = f"drs_jobs_failed{{{base}}} {failed}\n"
        if options.per_job:
            texts.update(_job_lines(base, jobs, state.status_since, options.dense_status))
        if options.per_job and options.health and state.health:
            texts.update(_health_lines(base, jobs, state.health))
    if state.polled:
        texts.update(_poll_lines(base, state))
    return {name: _chunk(text) for name, text in texts.items() if text}


def _snapshot_chunks(snapshot: Snapshot, version: str) -> dict[str, Segment]:
    """The families that are not per target: counters, build info, shard, reload state."""
    requests = "".join(
        f'drs_api_requests_total{{region="{escape(region)}",api="{escape(api)}",'
        f'code="{escape(code)}"}} {_number(count)}\n'
        for (region, api, code), count in sorted(snapshot.api_requests.items())
    )
    errors = "".join(
        f'drs_poll_errors_total{{{_target_labels(key)},reason="{escape(reason)}"}} '
        f"{_number(count)}\n"
        for (key, reason), count in sorted(snapshot.poll_errors.items())
    )
    build = f'version="{escape(version)}",python_version="{escape(platform.python_version())}"'
    reload = snapshot.reload
    shard = f'shard="{snapshot.shard.index}",total_shards="{snapshot.shard.total}"'
    texts = {
        "drs_api_requests_total": requests,
        "drs_poll_errors_total": errors,
        "drs_exporter_build_info": f"drs_exporter_build_info{{{build}}} 1\n",
        "drs_exporter_shard": f"drs_exporter_shard{{{shard}}} 1\n",
        "drs_exporter_config_last_reload_successful": _unlabelled(
            "drs_exporter_config_last_reload_successful", int(reload.success)
        ),
        "drs_exporter_config_last_reload_success_timestamp_seconds": _unlabelled(
            "drs_exporter_config_last_reload_success_timestamp_seconds", reload.timestamp
        ),
    }
    return {name: _chunk(text) for name, text in texts.items() if text}


def _unlabelled(name: str, value: float | None) -> str:
    """The one sample of a family without labels; nothing when there is no value."""
    return "" if value is None else f"{name} {_number(value)}\n"


def render(
    snapshot: Snapshot,
    options: ExpositionOptions,
    version: str,
    previous: Exposition | None = None,
) -> Exposition:
    """Render every metric of the snapshot; the result is served unchanged until the next.

    With ``previous``, the exposition of an earlier snapshot, a target whose TargetState is
    the same object as then is not rendered again: its lines are reused as they were.
    """
    reusable: Mapping[TargetKey, tuple[TargetState, _TargetChunks]] = {}
    if previous is not None and previous._options == options:
        reusable = previous._targets
    targets: dict[TargetKey, tuple[TargetState, _TargetChunks]] = {}
    for state in snapshot.targets:
        known = reusable.get(state.key)
        chunks = known[1] if known is not None and known[0] is state else None
        if chunks is None:
            chunks = _target_chunks(state, options)
        targets[state.key] = (state, chunks)
    own = _snapshot_chunks(snapshot, version)

    text: list[Segment] = []
    openmetrics: list[Segment] = []
    for family in FAMILIES:
        if not options.shows(family):
            continue
        headers = _HEADERS[family.name]
        text.append(headers.text)
        openmetrics.append(headers.openmetrics)
        sources: Iterable[_TargetChunks] = (
            (chunks for _, chunks in targets.values()) if family.per_target else (own,)
        )
        for chunks in sources:
            chunk = chunks.get(family.name)
            if chunk is not None:
                text.append(chunk)
                openmetrics.append(chunk)
    return Exposition(options, targets, tuple(text), tuple(openmetrics))
