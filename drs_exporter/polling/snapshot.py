"""The immutable result of a poll cycle: the only thing the exposition reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ..model import Job, JobDetail, JobHealth
from .sharding import Shard

_NO_TIMES: Mapping[str, float] = MappingProxyType({})
_NO_HEALTH: Mapping[str, JobHealth] = MappingProxyType({})
NO_DETAILS: Mapping[str, JobDetail] = MappingProxyType({})


@dataclass(frozen=True, slots=True, order=True)
class TargetKey:
    """A target: one job type of a project in its region, the unit that is polled and
    reported on (``drs_up`` has a line per target)."""

    project_id: str
    region: str
    job_type: str


@dataclass(frozen=True, slots=True)
class Versions:
    """What a target's state holds, as versions: each grows exactly when its content changes
    (``tracking.advance`` says when), so that the exposition keeps the lines it rendered of
    content whose version it rendered before."""

    jobs: int = 0  # the jobs and their statuses
    since: int = 0  # status_since
    health: int = 0  # what the batch calls told
    detail: int = 0  # what batch-detail told


@dataclass(frozen=True, slots=True)
class TargetState:
    """What the exporter knows of one target after a cycle.

    ``jobs`` are the last good poll's jobs and subtasks (kept while the target fails, until
    ``stale_after``, then emptied); ``status_since`` maps a job id to the Unix time the
    exporter first saw it in its current status; ``health`` maps a job id to its progress,
    lag or failure reason, for the jobs the batch calls told about; ``details`` maps a
    top-level job's id to what batch-detail told of it (its subscription, the alarm
    thresholds set on it, its tags), which changes rarely.
    """

    key: TargetKey
    up: bool = False  # the last poll succeeded
    jobs: tuple[Job, ...] = ()
    status_since: Mapping[str, float] = field(default_factory=lambda: _NO_TIMES)
    health: Mapping[str, JobHealth] = field(default_factory=lambda: _NO_HEALTH)
    details: Mapping[str, JobDetail] = field(default_factory=lambda: NO_DETAILS)
    last_poll_duration: float | None = None  # seconds
    last_success: float | None = None  # Unix seconds
    # ``jobs`` holds a successful poll's result (possibly an empty one) that is not yet stale;
    # False before the first success and after stale_after, when the job series go.
    has_data: bool = False
    versions: Versions = field(default_factory=Versions)

    @property
    def polled(self) -> bool:
        """A poll has finished, successfully or not."""
        return self.last_poll_duration is not None


@dataclass(frozen=True, slots=True)
class ReloadState:
    """The outcome of the last config (re)load."""

    success: bool = True
    timestamp: float | None = None  # Unix seconds of the last successful load


@dataclass(frozen=True, slots=True)
class DiscoveryState:
    """What discovery last found: how many targets, and when IAM last answered."""

    targets: int = 0  # (project, job type) pairs found, over all shards
    last_success: float | None = None  # Unix seconds


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything /metrics shows, as of the end of one poll cycle."""

    targets: tuple[TargetState, ...] = ()
    # (region, api, code) -> requests sent so far; code is the HTTP status or timeout/network.
    api_requests: Mapping[tuple[str, str, str], int] = field(default_factory=dict)
    # region -> seconds requests waited for the limiter so far.
    rate_limit_wait: Mapping[str, float] = field(default_factory=dict)
    # (target, reason) -> failed polls so far.
    poll_errors: Mapping[tuple[TargetKey, str], int] = field(default_factory=dict)
    # target -> polls so far that took longer than the interval.
    poll_overruns: Mapping[TargetKey, int] = field(default_factory=dict)
    # (project_id, region, resource) -> (used, quota): each project's DRS quota as last read;
    # None where the answer gave no number.
    quotas: Mapping[tuple[str, str, str], tuple[float | None, float | None]] = field(
        default_factory=dict
    )
    reload: ReloadState = ReloadState()
    # Which share of the configured targets this replica polls: ``targets`` are that share.
    shard: Shard = field(default_factory=Shard)
    discovery: DiscoveryState | None = None  # None: discovery is off
    # reason -> failed askings of IAM's project list so far.
    discovery_errors: Mapping[str, int] = field(default_factory=dict)
    # (region, list API) -> whether the region was last found to publish it.
    published: Mapping[tuple[str, str], bool] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        """True once every target has finished its first poll (at once with no target)."""
        return all(t.polled for t in self.targets)
