"""One target's state across polls, and the one pure function that advances it.

The poller keeps a ``Tracked`` per target. After each poll, ``advance`` makes the next from
the previous one, what the poll brought (``Listed`` or ``Failed``) and the time; nothing else
changes it. Everything that is derived over polls is derived there:

- the status history: when the exporter first saw each job in its current status (kept
  across reloads and outages, forgotten for a job that is no longer listed);
- the last success, and staleness: a target without a successful poll for ``stale_after``
  loses its job series (its history stays, for when it comes back);
- the versions of what the exposition renders (``TargetState.versions``): each is bumped
  exactly when its content changes (the jobs or their statuses, the status times, what the
  batch calls told, what batch-detail told), so that the exposition keeps the lines of
  whatever kept its version.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ..model import Job, JobDetail, JobHealth
from .snapshot import NO_DETAILS, TargetKey, TargetState, Versions

_NOTHING_SEEN: Mapping[str, tuple[str, float]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Listed:
    """A poll whose listing worked: its jobs (and subtasks), and what the batch calls said
    (batch-detail's apart: ``details``)."""

    jobs: tuple[Job, ...]
    health: Mapping[str, JobHealth]
    duration: float  # seconds the poll took
    details: Mapping[str, JobDetail] = field(default_factory=lambda: NO_DETAILS)


@dataclass(frozen=True, slots=True)
class Failed:
    """A poll whose listing failed."""

    duration: float


@dataclass(frozen=True, slots=True)
class Now:
    """When a poll ended: wall time for what is exported, monotonic time for staleness."""

    wall: float
    monotonic: float


@dataclass(frozen=True, slots=True)
class Tracked:
    """What the poller knows of one target: the state the snapshot shows, and what it is
    derived from over polls."""

    state: TargetState
    # job id -> (status, wall time first seen in it), of the last successful listing
    seen: Mapping[str, tuple[str, float]] = field(default_factory=lambda: _NOTHING_SEEN)
    success_at: float | None = None  # monotonic time of the last successful poll

    @classmethod
    def new(cls, key: TargetKey) -> Tracked:
        """A target not polled yet: no jobs, every version 0."""
        return cls(TargetState(key=key))


def advance(prev: Tracked, outcome: Listed | Failed, now: Now, stale_after: float) -> Tracked:
    """The target's next state after a poll."""
    if isinstance(outcome, Failed):
        return _failed(prev, outcome, now, stale_after)
    state = prev.state
    versions = state.versions
    if state.has_data and state.jobs == outcome.jobs:  # the same jobs in the same statuses
        jobs, seen, since = state.jobs, prev.seen, state.status_since
    else:
        jobs = outcome.jobs
        seen = _seen(prev.seen, jobs, now.wall)
        versions = dataclasses.replace(versions, jobs=versions.jobs + 1)
        if state.has_data and seen == prev.seen:
            since = state.status_since
        else:
            since = MappingProxyType({job_id: at for job_id, (_, at) in seen.items()})
            versions = dataclasses.replace(versions, since=versions.since + 1)
    health = state.health
    if outcome.health != health:
        health = MappingProxyType(dict(outcome.health))
        versions = dataclasses.replace(versions, health=versions.health + 1)
    details = state.details
    if outcome.details != details:
        details = MappingProxyType(dict(outcome.details))
        versions = dataclasses.replace(versions, detail=versions.detail + 1)
    next_state = TargetState(
        key=state.key,
        up=True,
        jobs=jobs,
        status_since=since,
        health=health,
        details=details,
        last_poll_duration=outcome.duration,
        last_success=now.wall,
        has_data=True,
        versions=versions,
    )
    return Tracked(next_state, seen, now.monotonic)


def is_stale(tracked: Tracked, now: Now, stale_after: float) -> bool:
    """Whether the target has had no successful poll for ``stale_after`` seconds (or none)."""
    at = tracked.success_at
    return at is None or now.monotonic - at >= stale_after


def _failed(prev: Tracked, outcome: Failed, now: Now, stale_after: float) -> Tracked:
    state = dataclasses.replace(prev.state, up=False, last_poll_duration=outcome.duration)
    if state.has_data and is_stale(prev, now, stale_after):
        versions = state.versions
        state = TargetState(  # no jobs, status times, health or details: the defaults
            key=state.key,
            last_poll_duration=outcome.duration,
            last_success=state.last_success,
            versions=Versions(
                versions.jobs + 1, versions.since + 1, versions.health + 1, versions.detail + 1
            ),
        )
    return Tracked(state, prev.seen, prev.success_at)


def _seen(
    before: Mapping[str, tuple[str, float]], jobs: tuple[Job, ...], wall: float
) -> Mapping[str, tuple[str, float]]:
    """Each listed job's status and when it was first seen in it; vanished jobs forgotten.

    Jobs first seen in the same status at this poll share one pair (at start, nearly all
    of them).
    """
    after: dict[str, tuple[str, float]] = {}
    new: dict[str, tuple[str, float]] = {}
    for job in jobs:
        known = before.get(job.id)
        if known is None or known[0] != job.status:
            known = new.setdefault(job.status, (job.status, wall))
        after[job.id] = known
    return MappingProxyType(after)
