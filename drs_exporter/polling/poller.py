"""Polling every target on its own schedule, and publishing immutable snapshots.

Each target (a project's job type in a region) has a loop of its own, as Prometheus scrapes
each target on its own: its first poll starts at once, and each next one ``poll.interval``
after the last one started, or at once when that one took longer (an *overrun*, counted in
``drs_poll_overruns_total`` and logged once per target). Polls of one target never overlap.
An account that needs more requests a round than ``poll.max_requests_per_second`` allows in
an interval so stretches each target's rounds; none fails for being slow, since the shared
limiter serves the targets in turn (``limiter``). ``poll.deadline``, off by default, bounds a
listing for whoever wants that instead (reason ``deadline``).

Each poll's result replaces its target's state (``tracking.advance``); snapshots are
published as polls finish, at most once a second, and at once when the first round ends. A
new plan (a reload, a discovery) starts loops for new targets, stops those of removed ones,
and reaches the others at their next poll. ``cycle`` polls every target once,
concurrently, for ``once`` and ``check``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TypeVar

from ..cloud.limiter import Party, acting_for
from ..drs.batch_calls import BATCH_DETAIL
from ..drs.batch_figures import Asking, fetch_details, fetch_health
from ..drs.batch_sizes import BatchSizes
from ..drs.decode import AnswerCache, Page
from ..drs.listing import Listing, list_published
from ..drs.published import PublishedApis
from ..drs.quotas import ProjectQuotas
from ..drs.rotation import Rotation
from ..errors import ApiError
from ..logs import Once, counted
from ..model import KNOWN_STATUSES, Job, JobDetail, JobHealth
from .counters import Counters
from .plan import Clock, Plan, PollTarget
from .snapshot import ReloadState, Snapshot, TargetKey
from .tracking import Failed, Listed, Now, Tracked, advance

log = logging.getLogger(__name__)
_F = TypeVar("_F")

PUBLISH_EVERY = 1.0  # seconds between progress snapshots


class Poller:
    """Owns the per-target state and loops across polls and plans (reloads, discoveries)."""

    def __init__(
        self,
        plan: Plan,
        counters: Counters,
        publish: Callable[[Snapshot], None],
        clock: Clock | None = None,
    ) -> None:
        self._plan = plan
        self._counters = counters
        self._publish_cb = publish
        self._clock = clock or Clock()
        self._sizes = BatchSizes(self._clock.monotonic)  # learned across polls and reloads
        self._rotation = Rotation(self._clock.monotonic)  # what the calls in rotation last said
        self._pages: dict[TargetKey, AnswerCache[Page]] = {}  # the last listing's pages
        self._tracked: dict[TargetKey, Tracked] = {}  # each target's state across polls
        self._reload = ReloadState(success=True, timestamp=self._clock.wall())
        self._said = Once()  # what the log said once: unknown statuses, odd details
        self._quotas = ProjectQuotas()
        self._published_apis = PublishedApis()  # which list APIs each endpoint publishes
        self._last_publish = float("-inf")
        self._pending: asyncio.TimerHandle | None = None
        self._loops: dict[TargetKey, asyncio.Task[None]] = {}  # while ``run`` runs
        self._running = False
        self._replanned = asyncio.Event()  # set (and replaced) when a new plan arrives
        self._requests: dict[TargetKey, int] = {}  # requests each target's last poll made
        self._overran: set[TargetKey] = set()  # targets whose overrun was logged
        self.replace_plan(plan)

    @property
    def plan(self) -> Plan:
        return self._plan

    def replace_plan(self, plan: Plan) -> None:
        """Poll these targets from now on, keeping what is known of those that remain: new
        targets are polled at once, removed ones are stopped, and the others follow the new
        plan from their next poll (whose time follows its interval)."""
        self._plan = plan
        keys = [polled.key for polled in plan.targets]
        self._tracked = {k: self._tracked.get(k) or Tracked.new(k) for k in keys}
        self._pages = {k: self._pages.get(k) or AnswerCache() for k in keys}
        self._requests = {k: n for k, n in self._requests.items() if k in self._tracked}
        self._overran &= self._tracked.keys()
        self._counters.retain(self._tracked.keys())
        self._sizes.retain({polled.project.endpoint for polled in plan.targets})
        self._rotation.retain({(k.project_id, k.region, k.job_type) for k in keys})
        self._quotas.retain({(k.project_id, k.region) for k in keys})
        self._published_apis.retain(polled.project for polled in plan.targets)
        if self._running:
            self._follow_plan()
        self._replanned.set()  # wake the loops waiting for their next poll
        self._replanned = asyncio.Event()
        self.publish()

    def set_reload(self, reload: ReloadState) -> None:
        """Record the outcome of a config reload, for the exposition."""
        self._reload = reload
        self.publish()

    def snapshot(self) -> Snapshot:
        """The current state as an immutable snapshot."""
        return Snapshot(
            targets=tuple(tracked.state for tracked in self._tracked.values()),
            api_requests=MappingProxyType(dict(self._counters.api_requests)),
            rate_limit_wait=MappingProxyType(dict(self._counters.rate_limit_wait)),
            quotas=MappingProxyType(self._live_quotas()),
            poll_errors=MappingProxyType(dict(self._counters.poll_errors)),
            poll_overruns=MappingProxyType(dict(self._counters.poll_overruns)),
            reload=self._reload,
            shard=self._plan.shard,
            discovery=self._counters.discovery,
            discovery_errors=MappingProxyType(dict(self._counters.discovery_errors)),
            published=self._published_apis.by_region(),
        )

    def _live_quotas(self) -> dict[tuple[str, str, str], tuple[float | None, float | None]]:
        """The quotas of the projects with data: a project whose every target has gone
        stale (``stale_after``) loses its quota series with its job series."""
        live = {
            (t.state.key.project_id, t.state.key.region)
            for t in self._tracked.values()
            if t.state.has_data
        }
        return self._quotas.of(live)

    def publish(self) -> None:
        """Hand the current snapshot to the exposition now."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self._last_publish = self._clock.monotonic()
        self._publish_cb(self.snapshot())

    def _publish_soon(self) -> None:
        """Publish progress at most once every PUBLISH_EVERY seconds."""
        if self._pending is not None:
            return
        wait = self._last_publish + PUBLISH_EVERY - self._clock.monotonic()
        if wait <= 0:
            self.publish()
        else:
            self._pending = asyncio.get_running_loop().call_later(wait, self.publish)

    async def run(self) -> None:
        """Poll every target on its own schedule until cancelled."""
        self._running = True
        try:
            self._follow_plan()
            await asyncio.Future()  # the loops do the work; this waits to be cancelled
        finally:
            self._running = False
            loops = list(self._loops.values())
            self._loops = {}
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)

    async def cycle(self) -> None:
        """Poll every target once, concurrently, and publish the result."""
        plan = self._plan
        try:
            await asyncio.gather(*(self._poll_once(plan, polled) for polled in plan.targets))
        finally:
            self.publish()

    def _follow_plan(self) -> None:
        """A loop for each target of the plan, and none for any other."""
        for key in [k for k in self._loops if self._plan.target(k) is None]:
            self._loops.pop(key).cancel()
        for polled in self._plan.targets:
            if polled.key not in self._loops:
                self._loops[polled.key] = asyncio.create_task(
                    self._loop(polled.key), name=f"drs-poll {_target_text(polled.key)}"
                )

    async def _loop(self, key: TargetKey) -> None:
        """Poll one target while the plan has it: at once, then every interval."""
        while True:
            plan = self._plan
            polled = plan.target(key)
            if polled is None:
                return
            started = self._clock.monotonic()
            await self._poll_once(plan, polled)
            took = self._clock.monotonic() - started
            interval = self._plan.poll.interval
            if took > interval:
                self._overrun(key, took, interval)
            await self._until(started)

    async def _until(self, started: float) -> None:
        """Wait until ``poll.interval`` after ``started``, the interval of the plan in force
        (a new plan's interval applies to the wait in progress)."""
        while True:
            replanned = self._replanned
            wait = started + self._plan.poll.interval - self._clock.monotonic()
            if wait <= 0:
                return
            try:
                await asyncio.wait_for(replanned.wait(), wait)
            except (asyncio.TimeoutError, TimeoutError):
                return

    def _overrun(self, key: TargetKey, took: float, interval: float) -> None:
        """Count a poll that took longer than the interval; say so once per target, with
        what the targets' rounds need of the limiter."""
        self._counters.count_overrun(key)
        if key in self._overran:
            return
        self._overran.add(key)
        poll = self._plan.poll
        needed = sum(self._requests.values())
        log.warning(
            "polls of project_id=%s region=%s job_type=%s take longer than poll.interval "
            "(%.1fs > %gs), so each starts as the last one ends. The last polls of the %s "
            "needed %s, %.0fs at poll.max_requests_per_second %g: raise it or poll.interval, "
            "or shard the targets. Counted from now on in drs_poll_overruns_total, without "
            "another line",
            key.project_id,
            key.region,
            key.job_type,
            took,
            interval,
            counted(len(self._tracked), "target"),
            counted(needed, "request"),
            needed / poll.max_requests_per_second,
            poll.max_requests_per_second,
        )

    async def _poll_once(self, plan: Plan, polled: PollTarget) -> None:
        """One poll of one target, its requests waiting for the limiter as its own."""
        party = Party(_target_text(polled.key))
        with acting_for(party):
            await self._poll(plan, polled)
        if polled.key in self._tracked:
            self._requests[polled.key] = party.requests

    async def _poll(self, plan: Plan, polled: PollTarget) -> None:
        key = polled.key
        started = self._clock.monotonic()
        jobs: list[Job] | None = None
        health: Mapping[str, JobHealth] = {}
        details: Mapping[str, JobDetail] = {}
        answered: Sequence[str] = ()
        deadline = plan.poll.deadline
        try:
            listing = await asyncio.wait_for(self._list(plan, polled, started), deadline)
            jobs, answered = listing.jobs, listing.answered
        except (asyncio.TimeoutError, TimeoutError):
            late = f"the listing did not finish within poll.deadline ({deadline:g}s)"
            self._fail(key, ApiError("deadline", late))
        except ApiError as exc:
            self._fail(key, exc)
        except Exception as exc:  # a bug must not stop the other targets or later polls
            self._counters.count_poll_error(key, "internal")
            log.error(
                "poll failed project_id=%s region=%s job_type=%s: unexpected %s",
                key.project_id,
                key.region,
                key.job_type,
                type(exc).__name__,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
        if jobs is not None and plan.asks_health(answered):
            # Asked together: the quota is not one more round trip after the batch calls.
            asking = Asking(
                plan.client, polled.project, polled.auth, key.job_type, plan.poll, self._sizes
            )
            health, details, _ = await asyncio.gather(
                self._health(plan, polled, asking, jobs),
                self._details(plan, polled, asking, jobs),
                self._quota(plan, polled, started),
            )
        duration = self._clock.monotonic() - started
        prev = self._tracked.get(key)
        if prev is None:  # dropped by a new plan while we polled
            return
        outcome = (
            Failed(duration) if jobs is None else Listed(tuple(jobs), health, duration, details)
        )
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
        if not prev.state.polled and all(t.state.polled for t in self._tracked.values()):
            self.publish()  # the first round is done: ready, every target in view, at once
        else:
            self._publish_soon()

    def _health(
        self, plan: Plan, polled: PollTarget, asking: Asking, jobs: Sequence[Job]
    ) -> Awaitable[Mapping[str, JobHealth]]:
        """What the batch calls switched on say of the target's jobs."""
        if not plan.batch_calls:
            return asyncio.sleep(0, {})  # switched off: nothing to ask
        health = functools.partial(fetch_health, asking, jobs, plan.batch_calls, self._rotation)
        return _unless_a_bug("health", polled, health)

    def _details(
        self, plan: Plan, polled: PollTarget, asking: Asking, jobs: Sequence[Job]
    ) -> Awaitable[Mapping[str, JobDetail]]:
        """What batch-detail says of the target's jobs, when it is switched on."""
        if BATCH_DETAIL not in plan.batch_calls:
            return asyncio.sleep(0, {})  # switched off: nothing to ask
        details = functools.partial(
            fetch_details, asking, jobs, self._rotation, self._said, plan.metrics.job_tags
        )
        return _unless_a_bug("batch-detail", polled, details)

    def _quota(self, plan: Plan, polled: PollTarget, started: float) -> Awaitable[None]:
        """The project's quota read again, when ``metrics.quotas`` is on."""
        if not plan.quotas:
            return asyncio.sleep(0)
        project, now = polled.project, self._clock.monotonic()
        return self._quotas.refresh(plan.client, project, polled.auth, started, now)

    async def _list(self, plan: Plan, polled: PollTarget, started: float) -> Listing:
        return await list_published(
            plan.client,
            polled.project,
            polled.auth,
            polled.key.job_type,
            plan.poll.page_size,
            self._published_apis,
            started,
            self._pages.get(polled.key),
            plan.poll.max_jobs,
        )

    def _fail(self, key: TargetKey, exc: ApiError) -> None:
        self._counters.count_poll_error(key, exc.reason)
        log.warning(
            "poll failed project_id=%s region=%s job_type=%s: %s",
            key.project_id,
            key.region,
            key.job_type,
            exc,
        )

    def _note_unknown_statuses(self, jobs: Sequence[Job]) -> None:
        for job in jobs:
            status = job.status
            if status not in KNOWN_STATUSES and self._said.first(("status", status)):
                log.warning("job %s has a status the DRS API does not document: %r", job.id, status)


def _target_text(key: TargetKey) -> str:
    return f"{key.project_id}/{key.region}/{key.job_type}"


async def _unless_a_bug(
    what: str, polled: PollTarget, figures: Callable[[], Awaitable[Mapping[str, _F]]]
) -> Mapping[str, _F]:
    """The figures ``figures()`` fetches; none on a bug (logged), which must not fail a poll
    that listed. They are asked only once this runs: a poll cancelled before (a reload, a
    stop) leaves no coroutine behind that was never awaited."""
    try:
        return await figures()
    except Exception as exc:
        log.error(
            "%s failed project_id=%s region=%s job_type=%s: unexpected %s",
            what,
            polled.key.project_id,
            polled.key.region,
            polled.key.job_type,
            type(exc).__name__,
            exc_info=log.isEnabledFor(logging.DEBUG),
        )
        return {}
