"""The background poll cycle: list every target's jobs and publish immutable snapshots.

A cycle polls all targets concurrently (the shared Limiter bounds the requests). Each target's
result replaces its TargetState; snapshots are published as targets finish (at most once a
second, so a hanging target never hides the others beyond that) and once when the cycle ends.
Cycles never overlap: the next starts ``interval`` after the previous one started, or at once
if it ran longer. A target has ``poll.deadline`` (by default the interval) to finish; past it,
it fails the cycle with reason ``deadline``, so one slow target cannot stretch the cycles.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from .batchsize import BatchSizes
from .decode import AnswerCache, Page
from .errors import ApiError
from .health import fetch_health
from .listing import Listing, list_published
from .model import KNOWN_STATUSES, Job, JobHealth
from .plan import Clock, Plan, PollTarget
from .publication import Publication
from .quotas import Quota, fetch_quota
from .snapshot import ReloadState, Snapshot, TargetKey
from .telemetry import Telemetry
from .tracking import Failed, Listed, Now, Tracked, advance
from .turns import Turns

log = logging.getLogger(__name__)

PUBLISH_EVERY = 1.0  # seconds between progress snapshots within a cycle
MAX_UNKNOWN_STATUSES_LOGGED = 100  # bounds the memory of which unknown statuses were logged


class Poller:
    """Owns the per-target state across cycles and config reloads."""

    def __init__(
        self,
        plan: Plan,
        telemetry: Telemetry,
        publish: Callable[[Snapshot], None],
        clock: Clock | None = None,
    ) -> None:
        self._plan = plan
        self._telemetry = telemetry
        self._publish_cb = publish
        self._clock = clock or Clock()
        self._sizes = BatchSizes(self._clock.monotonic)  # learned across cycles and reloads
        self._turns = Turns(
            self._clock.monotonic
        )  # what the calls asked in turns last said, across cycles
        self._pages: dict[TargetKey, AnswerCache[Page]] = {}  # the last listing's pages
        self._tracked: dict[TargetKey, Tracked] = {}  # each target's state across polls
        self._reload = ReloadState(success=True, timestamp=self._clock.wall())
        self._unknown_logged: set[str] = set()
        # Each project's quota as last read, by (project_id, region); the requests of this
        # cycle by (project_id, endpoint), so that a project's job types share one.
        self._quotas: dict[tuple[str, str], Quota] = {}
        self._quota_asks: dict[tuple[str, str], asyncio.Future[Quota | None]] = {}
        self._publication = Publication()  # which list APIs each endpoint publishes
        self._last_publish = float("-inf")
        self._pending: asyncio.TimerHandle | None = None
        self.replace_plan(plan)

    @property
    def plan(self) -> Plan:
        return self._plan

    def replace_plan(self, plan: Plan) -> None:
        """Poll these targets from now on, keeping what is known of those that remain."""
        self._plan = plan
        keys = [polled.key for polled in plan.targets]
        self._tracked = {k: self._tracked.get(k) or Tracked.new(k) for k in keys}
        self._pages = {k: self._pages.get(k) or AnswerCache() for k in keys}
        self._sizes.retain({polled.target.endpoint for polled in plan.targets})
        self._turns.retain({(k.project_id, k.region, k.job_type) for k in keys})
        projects = {(k.project_id, k.region) for k in keys}
        self._quotas = {p: q for p, q in self._quotas.items() if p in projects}
        self._publication.retain(polled.target for polled in plan.targets)
        self.publish()

    def set_reload(self, reload: ReloadState) -> None:
        """Record the outcome of a config reload, for the exposition."""
        self._reload = reload
        self.publish()

    def snapshot(self) -> Snapshot:
        """The current state as an immutable snapshot."""
        return Snapshot(
            targets=tuple(tracked.state for tracked in self._tracked.values()),
            api_requests=MappingProxyType(dict(self._telemetry.api_requests)),
            quotas=MappingProxyType(self._live_quotas()),
            poll_errors=MappingProxyType(dict(self._telemetry.poll_errors)),
            reload=self._reload,
            shard=self._plan.shard,
            discovery=self._telemetry.discovery,
            discovery_errors=MappingProxyType(dict(self._telemetry.discovery_errors)),
            published=self._publication.by_region(),
        )

    def _live_quotas(self) -> dict[tuple[str, str, str], tuple[float | None, float | None]]:
        """The quotas of the projects with data: a project whose every target has gone
        stale (``stale_after``) loses its quota series with its job series."""
        live = {
            (t.state.key.project_id, t.state.key.region)
            for t in self._tracked.values()
            if t.state.has_data
        }
        return {
            (project_id, region, resource): figures
            for (project_id, region), quota in self._quotas.items()
            if (project_id, region) in live
            for resource, figures in quota.items()
        }

    def publish(self) -> None:
        """Hand the current snapshot to the exposition now."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self._last_publish = self._clock.monotonic()
        self._publish_cb(self.snapshot())

    def _publish_soon(self) -> None:
        """Publish progress within a cycle, at most once every PUBLISH_EVERY seconds."""
        if self._pending is not None:
            return
        wait = self._last_publish + PUBLISH_EVERY - self._clock.monotonic()
        if wait <= 0:
            self.publish()
        else:
            self._pending = asyncio.get_running_loop().call_later(wait, self.publish)

    async def run(self) -> None:
        """Poll forever: the first cycle at once, then one every ``interval``."""
        while True:
            started = self._clock.monotonic()
            await self.cycle()
            interval = self._plan.poll.interval
            await asyncio.sleep(max(0.0, started + interval - self._clock.monotonic()))

    async def cycle(self) -> None:
        """Poll every target once, concurrently, and publish the result."""
        plan = self._plan
        self._quota_asks = {}
        try:
            await asyncio.gather(*(self._poll(plan, polled) for polled in plan.targets))
        finally:
            self._quota_asks = {}
            self.publish()

    async def _poll(self, plan: Plan, polled: PollTarget) -> None:
        key = polled.key
        started = self._clock.monotonic()
        jobs: list[Job] | None = None
        health: Mapping[str, JobHealth] = {}
        answered: Sequence[str] = ()
        budget = plan.poll.budget
        try:
            # The target's time budget: past it, this target fails the cycle, and no other
            # target (nor the next cycle) waits for it.
            listing = await asyncio.wait_for(self._list(plan, polled, started), budget)
            jobs, answered = listing.jobs, listing.answered
        except (asyncio.TimeoutError, TimeoutError):
            late = f"not finished within {budget:g}s (poll.deadline, by default poll.interval)"
            self._fail(key, ApiError("deadline", late))
        except ApiError as exc:
            self._fail(key, exc)
        except Exception as exc:  # a bug must not stop the other targets or later cycles
            self._telemetry.count_poll_error(key, "internal")
            log.error(
                "poll failed project_id=%s region=%s job_type=%s: unexpected %s",
                key.project_id,
                key.region,
                key.job_type,
                type(exc).__name__,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
        if jobs is not None and plan.asks_health(answered):
            if plan.switches:
                left = budget - (self._clock.monotonic() - started)
                health = await _health(plan, polled, jobs, self._sizes, self._turns, left)
            if plan.quotas:
                left = budget - (self._clock.monotonic() - started)
                with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                    await asyncio.wait_for(self._quota(plan, polled), max(left, 0.0))
        duration = self._clock.monotonic() - started
        prev = self._tracked.get(key)
        if prev is None:  # dropped by a reload while we polled
            return
        outcome = Failed(duration) if jobs is None else Listed(tuple(jobs), health, duration)
        now = Now(self._clock.wall(), self._clock.monotonic())
        tracked = advance(prev, outcome, now, plan.poll.stale_after)
        state = tracked.state
        if state.versions.jobs != prev.state.versions.jobs and state.has_data:
            self._note_unknown_statuses(state.jobs)
        if prev.state.has_data and not state.has_data:
            log.warning(
                "dropping the job series of project_id=%s region=%s job_type=%s: "
                "no successful poll for %gs (stale_after)",
                key.project_id,
                key.region,
                key.job_type,
                plan.poll.stale_after,
            )
        self._tracked[key] = tracked
        self._publish_soon()

    async def _list(self, plan: Plan, polled: PollTarget, started: float) -> Listing:
        return await list_published(
            plan.client,
            polled.target,
            polled.auth,
            polled.key.job_type,
            plan.poll.page_size,
            self._publication,
            started,
            self._pages.get(polled.key),
        )

    def _fail(self, key: TargetKey, exc: ApiError) -> None:
        self._telemetry.count_poll_error(key, exc.reason)
        log.warning(
            "poll failed project_id=%s region=%s job_type=%s: %s",
            key.project_id,
            key.region,
            key.job_type,
            exc,
        )

    async def _quota(self, plan: Plan, polled: PollTarget) -> None:
        """Read the target's project quota, once a cycle for all its job types."""
        ask = (polled.key.project_id, polled.target.endpoint)
        future = self._quota_asks.get(ask)
        if future is None:
            future = self._quota_asks[ask] = asyncio.ensure_future(_read_quota(plan, polled))
        quota = await asyncio.shield(future)
        project = (polled.key.project_id, polled.key.region)
        if quota is None:
            self._quotas.pop(project, None)  # a failed answer leaves out its own series
        elif project in {(t.key.project_id, t.key.region) for t in plan.targets}:
            self._quotas[project] = quota

    def _note_unknown_statuses(self, jobs: Sequence[Job]) -> None:
        for job in jobs:
            status = job.status
            if status in KNOWN_STATUSES or status in self._unknown_logged:
                continue
            if len(self._unknown_logged) >= MAX_UNKNOWN_STATUSES_LOGGED:
                return
            self._unknown_logged.add(status)
            log.warning("job %s has a status the DRS API does not document: %r", job.id, status)


async def _health(
    plan: Plan,
    polled: PollTarget,
    jobs: Sequence[Job],
    sizes: BatchSizes,
    turns: Turns,
    budget: float,
) -> Mapping[str, JobHealth]:
    """What the batch calls say within what is left of the target's budget; nothing when
    that runs out or on a bug, neither of which must fail a poll whose listing worked."""
    try:
        return await asyncio.wait_for(
            fetch_health(
                plan.client,
                polled.target,
                polled.auth,
                polled.key.job_type,
                jobs,
                plan.poll,
                sizes,
                plan.switches,
                turns,
            ),
            max(budget, 0.0),
        )
    except (asyncio.TimeoutError, TimeoutError):
        log.warning(
            "health not fetched project_id=%s region=%s job_type=%s: deadline: the listing "
            "left too little of the target's %gs",
            polled.key.project_id,
            polled.key.region,
            polled.key.job_type,
            plan.poll.budget,
        )
        return {}
    except Exception as exc:
        log.error(
            "health failed project_id=%s region=%s job_type=%s: unexpected %s",
            polled.key.project_id,
            polled.key.region,
            polled.key.job_type,
            type(exc).__name__,
            exc_info=log.isEnabledFor(logging.DEBUG),
        )
        return {}


async def _read_quota(plan: Plan, polled: PollTarget) -> Quota | None:
    """The project's quota; None when it cannot be had (logged), which fails no poll."""
    try:
        return await fetch_quota(plan.client, polled.target, polled.auth)
    except Exception as exc:
        what = str(exc) if isinstance(exc, ApiError) else f"unexpected {type(exc).__name__}"
        log.warning(
            "quota unknown for project_id=%s region=%s this cycle: %s",
            polled.key.project_id,
            polled.key.region,
            what,
        )
        return None
