"""The /metrics body: a Snapshot rendered once per publish, served as is on every scrape.

The text is written by hand rather than through a prometheus_client registry: a scrape then
costs nothing per job. The Prometheus text format (0.0.4) and OpenMetrics (1.0) share every
sample line; they differ only in the counters' HELP/TYPE lines and OpenMetrics' final
``# EOF``.

A body is a sequence of chunks: each family's header, then every target's lines of that
family. A chunk is kept compressed, as a self-contained deflate segment: a gzip body is the
concatenation of the segments, a plain one their decompression, and a 10,000-job exposition
holds 1.5 MB instead of 13. ``render`` given the previous Exposition takes over the chunks
of every target whose TargetState is the very same object (the poller keeps an unchanged
target's state): a progress snapshot published after one target finished costs that
target's lines and a concatenation, not 10,000 jobs.
"""

from __future__ import annotations

import math
import platform
import struct
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .model import KNOWN_STATUSES, STATUSES, Job, is_failed, unique_jobs
from .snapshot import Snapshot, TargetKey, TargetState

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"

# Chunks are compressed on the event loop, once per change of their target. Level 3 (zlib's
# fast strategy) takes half the time of level 6 for 14% more bytes: a 10,000-job body of
# 12 MB compresses to 1.5 MB instead of 1.3.
_GZIP_LEVEL = 3
_GZIP_HEADER = bytes((0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF))  # deflate, no name, mtime 0
_FINAL_BLOCK = b"\x03\x00"  # an empty, final deflate block (fixed Huffman codes)
_CRC_POLYNOMIAL = 0xEDB88320  # CRC-32 as gzip computes it, in its reflected bit order


@dataclass(frozen=True, slots=True)
class ExpositionOptions:
    """The ``metrics:`` section of the config, as far as rendering is concerned."""

    per_job: bool = True  # the drs_job_* series
    dense_status: bool = False  # drs_job_status also 0 for every other known status


def _crc_multiply(a: int, b: int) -> int:
    """a * b modulo the CRC-32 polynomial (zlib's multmodp)."""
    product = 0
    bit = 1 << 31
    while bit:
        if a & bit:
            product ^= b
        b = (b >> 1) ^ _CRC_POLYNOMIAL if b & 1 else b >> 1
        bit >>= 1
    return product


def _x_to_the_powers_of_two() -> tuple[int, ...]:
    powers = [1 << 30]  # x^1
    for _ in range(63):
        powers.append(_crc_multiply(powers[-1], powers[-1]))
    return tuple(powers)


_X_POW_2K = _x_to_the_powers_of_two()  # x^(2^k) modulo the polynomial, k = 0..63


def _crc_shift(size: int) -> int:
    """x^(8 * size) modulo the polynomial: times a CRC, it is the CRC with size zero bytes after."""
    shift = 1 << 31  # x^0
    k = 3  # 8 * size = size * 2^3
    while size:
        if size & 1:
            shift = _crc_multiply(_X_POW_2K[k], shift)
        size >>= 1
        k += 1
    return shift


@dataclass(frozen=True, slots=True)
class _Chunk:
    """Complete lines of a body, kept only compressed: a raw deflate segment of their bytes.

    With the CRC-32 and length of those bytes (and ``shift``, to combine the CRC with the
    chunks before it), a gzip body is assembled without ever holding the lines uncompressed.
    """

    packed: bytes
    crc: int
    size: int
    shift: int


def _chunk(text: str) -> _Chunk:
    # Label values are escaped already; "replace" turns lone surrogates (which a broken API
    # can smuggle in through JSON \ud800 escapes) into "?" instead of raising.
    plain = text.encode("utf-8", "replace")
    packer = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    # A sync flush ends the segment on a byte boundary, and the next segment, compressed on
    # its own, never refers back into it: segments concatenate into one deflate stream.
    packed = packer.compress(plain) + packer.flush(zlib.Z_SYNC_FLUSH)
    return _Chunk(packed, zlib.crc32(plain), len(plain), _crc_shift(len(plain)))


def _gzip(chunks: Sequence[_Chunk]) -> bytes:
    """One gzip member of the chunks: their deflate segments between header and trailer."""
    crc = 0
    size = 0
    for chunk in chunks:
        crc = _crc_multiply(chunk.shift, crc) ^ chunk.crc  # zlib's crc32_combine
        size += chunk.size
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    return b"".join((_GZIP_HEADER, *(c.packed for c in chunks), _FINAL_BLOCK, trailer))


def _plain(chunks: Sequence[_Chunk]) -> bytes:
    """The chunks' lines, uncompressed: their segments make one deflate stream."""
    stream = b"".join((*(c.packed for c in chunks), _FINAL_BLOCK))
    # Told the exact size, zlib writes the body into a single buffer and returns it as is:
    # a 10,000-job body is 13 MB, and it is not allocated twice.
    size = sum(c.size for c in chunks)
    return zlib.decompress(stream, wbits=-zlib.MAX_WBITS, bufsize=max(size, 1))


@dataclass(frozen=True, slots=True)
class _Family:
    """One metric family's name (counters end in _total) and header chunks per format."""

    name: str
    text_header: _Chunk
    openmetrics_header: _Chunk


def _family(name: str, kind: str, help_text: str) -> _Family:
    # OpenMetrics names a counter family without its samples' _total suffix.
    bare = name.removesuffix("_total") if kind == "counter" else name
    text = _chunk(f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n")
    openmetrics = (
        text if bare == name else _chunk(f"# HELP {bare} {help_text}\n# TYPE {bare} {kind}\n")
    )
    return _Family(name, text, openmetrics)


_JOBS = _family("drs_jobs", "gauge", "Top-level DRS jobs by engine type, network type and status.")
_SUBTASKS = _family(
    "drs_subtasks", "gauge", "DRS child tasks by engine type, network type and status."
)
_JOBS_FAILED = _family(
    "drs_jobs_failed", "gauge", "Top-level DRS jobs whose status ends in _FAILED."
)
_JOB_INFO = _family(
    "drs_job_info", "gauge", "Static properties of a DRS job or subtask (always 1)."
)
_JOB_STATUS = _family(
    "drs_job_status",
    "gauge",
    "Current status of a DRS job or subtask (1 for the current status).",
)
_JOB_CREATED = _family(
    "drs_job_created_timestamp_seconds",
    "gauge",
    "When the DRS job or subtask was created, in Unix seconds.",
)
_JOB_STATUS_SINCE = _family(
    "drs_job_status_since_timestamp_seconds",
    "gauge",
    "When the exporter first saw the job in its current status, in Unix seconds.",
)
_UP = _family("drs_up", "gauge", "1 if the last poll of this target succeeded.")
_POLL_DURATION = _family(
    "drs_last_poll_duration_seconds", "gauge", "Wall time of the last poll of this target."
)
_POLL_SUCCESS = _family(
    "drs_last_poll_success_timestamp_seconds",
    "gauge",
    "When the last successful poll of this target finished, in Unix seconds.",
)
_API_REQUESTS = _family(
    "drs_api_requests_total",
    "counter",
    "DRS and IAM API requests by API and HTTP status code (or timeout, network).",
)
_POLL_ERRORS = _family("drs_poll_errors_total", "counter", "Failed polls of a target by reason.")
_BUILD_INFO = _family(
    "drs_exporter_build_info", "gauge", "The exporter's version and Python version (always 1)."
)
_RELOAD_OK = _family(
    "drs_exporter_config_last_reload_successful",
    "gauge",
    "1 if the last config (re)load succeeded.",
)
_RELOAD_TIME = _family(
    "drs_exporter_config_last_reload_success_timestamp_seconds",
    "gauge",
    "When the config was last loaded successfully, in Unix seconds.",
)
_EOF = _chunk("# EOF\n")

# A target's chunks by family name; a family in which the target has no lines is absent.
_TargetChunks = Mapping[str, _Chunk]


class Exposition:
    """Rendered metrics of one snapshot; each of the four bodies joined once, when first asked."""

    def __init__(
        self,
        options: ExpositionOptions,
        targets: Mapping[int, tuple[TargetState, _TargetChunks]],
        text: tuple[_Chunk, ...],
        openmetrics: tuple[_Chunk, ...],
    ) -> None:
        self._options = options
        self._targets = targets  # id(state) -> (state, its chunks), for the next render
        self._chunks = {False: text, True: openmetrics}
        self._bodies: dict[tuple[bool, bool], bytes] = {}

    def joined(self, *, openmetrics: bool, gzip: bool) -> bytes | None:
        """The body if an earlier ``body`` call joined it already, else None (no work)."""
        return self._bodies.get((openmetrics, gzip))

    def body(self, *, openmetrics: bool, gzip: bool) -> bytes:
        """The body in the Prometheus text format or OpenMetrics, optionally gzipped."""
        key = (openmetrics, gzip)
        cached = self._bodies.get(key)
        if cached is None:
            chunks = self._chunks[openmetrics]
            cached = _gzip(chunks) if gzip else _plain(chunks)
            self._bodies[key] = cached
        return cached


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
        _JOB_INFO.name: "".join(info),
        _JOB_STATUS.name: "".join(status),
        _JOB_CREATED.name: "".join(created),
        _JOB_STATUS_SINCE.name: "".join(since),
    }


def _health_lines(base: str, state: TargetState) -> dict[str, str]:
    """drs_up, drs_last_poll_duration_seconds, drs_last_poll_success_timestamp_seconds."""
    lines = {_UP.name: f"drs_up{{{base}}} {1 if state.up else 0}\n"}
    if state.last_poll_duration is not None:
        lines[_POLL_DURATION.name] = (
            f"drs_last_poll_duration_seconds{{{base}}} {_number(state.last_poll_duration)}\n"
        )
    if state.last_success is not None:
        lines[_POLL_SUCCESS.name] = (
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
        texts[_JOBS.name] = _count_lines(_JOBS.name, base, jobs, subtasks=False)
        texts[_SUBTASKS.name] = _count_lines(_SUBTASKS.name, base, jobs, subtasks=True)
        texts[_JOBS_FAILED.name] = f"drs_jobs_failed{{{base}}} {failed}\n"
        if options.per_job:
            texts.update(_job_lines(base, jobs, state.status_since, options.dense_status))
    if state.polled:
        texts.update(_health_lines(base, state))
    return {name: _chunk(text) for name, text in texts.items() if text}


def _snapshot_chunks(snapshot: Snapshot, version: str) -> dict[str, _Chunk]:
    """The families that are not per target: counters, build info, reload state."""
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
    reload = snapshot.reload
    texts = {
        _API_REQUESTS.name: requests,
        _POLL_ERRORS.name: errors,
        _BUILD_INFO.name: f'drs_exporter_build_info{{version="{escape(version)}",'
        f'python_version="{escape(platform.python_version())}"}} 1\n',
        _RELOAD_OK.name: f"drs_exporter_config_last_reload_successful {int(reload.success)}\n",
        _RELOAD_TIME.name: ""
        if reload.timestamp is None
        else "drs_exporter_config_last_reload_success_timestamp_seconds "
        f"{_number(reload.timestamp)}\n",
    }
    return {name: _chunk(text) for name, text in texts.items() if text}


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
    reusable: Mapping[int, tuple[TargetState, _TargetChunks]] = {}
    if previous is not None and previous._options == options:
        reusable = previous._targets
    targets: dict[int, tuple[TargetState, _TargetChunks]] = {}
    per_target: list[_TargetChunks] = []
    for state in snapshot.targets:
        known = reusable.get(id(state))
        # The entry holds its state alive, so an equal id is the same object; "is" says so.
        chunks = known[1] if known is not None and known[0] is state else None
        if chunks is None:
            chunks = _target_chunks(state, options)
        targets[id(state)] = (state, chunks)
        per_target.append(chunks)

    families = [_JOBS, _SUBTASKS, _JOBS_FAILED]
    if options.per_job:
        families += [_JOB_INFO, _JOB_STATUS, _JOB_CREATED, _JOB_STATUS_SINCE]
    families += [_UP, _POLL_DURATION, _POLL_SUCCESS]
    text: list[_Chunk] = []
    openmetrics: list[_Chunk] = []
    for family in families:
        text.append(family.text_header)
        openmetrics.append(family.openmetrics_header)
        for chunks in per_target:
            chunk = chunks.get(family.name)
            if chunk is not None:
                text.append(chunk)
                openmetrics.append(chunk)
    own = _snapshot_chunks(snapshot, version)
    for family in (_API_REQUESTS, _POLL_ERRORS, _BUILD_INFO, _RELOAD_OK, _RELOAD_TIME):
        text.append(family.text_header)
        openmetrics.append(family.openmetrics_header)
        chunk = own.get(family.name)
        if chunk is not None:
            text.append(chunk)
            openmetrics.append(chunk)
    openmetrics.append(_EOF)
    return Exposition(options, targets, tuple(text), tuple(openmetrics))
