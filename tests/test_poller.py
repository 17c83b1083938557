"""Each target on its own schedule: overruns counted and said once, never overlapping polls,
reloads that start new targets at once, the opt-in deadline; and an account that needs more
requests than the rate allows in an interval, served whole, every target up.

Everything runs against the simulator over loopback sockets. Assertions on time compare
targets with each other, or bound counts from the side a slow machine cannot cross.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import aiohttp
import pytest

from drs_exporter.cloud.auth import StaticToken
from drs_exporter.cloud.client import DrsClient
from drs_exporter.cloud.limiter import Limiter
from drs_exporter.cloud.transport import Transport
from drs_exporter.config import Config, MetricsConfig, load_config
from drs_exporter.exporter import Exporter
from drs_exporter.model import JOB_TYPES
from drs_exporter.polling.counters import Counters
from drs_exporter.polling.plan import Plan, PollTarget
from drs_exporter.polling.poller import Poller
from drs_exporter.polling.snapshot import Snapshot, TargetKey

from .conftest import Sample, StartSim, samples, select, sim_call, sim_config
from .simulated import Simulated

LISTING_ONLY = MetricsConfig(health=False, dr=False, quotas=False)


def listing_only(config: Config, *, job_types: tuple[str, ...] = ("sync",)) -> Config:
    """One job type per project through v5 alone, no batch calls: one request a poll."""
    targets = tuple(
        dataclasses.replace(t, job_types=job_types, apis=("v5",)) for t in config.targets
    )
    return dataclasses.replace(config, targets=targets, metrics=LISTING_ONLY)


def scrape(exporter: Exporter) -> list[Sample]:
    return samples(exporter.exposition().body(openmetrics=False, gzip=False))


def by_project(found: list[Sample], name: str) -> dict[str, float]:
    return {labels["project_id"]: v for _, labels, v in select(found, name)}


async def watch(
    exporter: Exporter, seconds: float, each: Callable[[list[Sample]], None]
) -> list[Sample]:
    """Scrape every 100 ms for ``seconds``, handing each scrape to ``each``; the last one."""
    end = time.monotonic() + seconds
    found = scrape(exporter)
    while time.monotonic() < end:
        await asyncio.sleep(0.1)
        found = scrape(exporter)
        each(found)
    return found


def listings_of(sim: Simulated, project_id: str) -> int:
    return sum(1 for a in sim.requests.of("v5_jobs") if a.project_id == project_id)


async def test_a_target_that_overruns_delays_no_other_and_never_overlaps_itself(
    start_sim: StartSim, caplog: pytest.LogCaptureFixture
) -> None:
    sim = await start_sim(seed=3, projects=2, jobs=20)
    slow, quick = sim.project_ids
    hang = 1.5  # each of the slow project's listings: three times the interval
    sim.script([{"hang": hang}] * 100, project_id=slow)
    config = listing_only(sim_config(sim, interval=0.5, max_requests_per_second=1000))
    caplog.set_level(logging.WARNING, logger="drs_exporter.polling.poller")
    async with Exporter(config) as exporter:
        exporter.start()
        started = time.monotonic()
        found = await watch(exporter, 5.0, lambda _: None)
        elapsed = time.monotonic() - started
    overruns = by_project(found, "drs_poll_overruns_total")
    slow_polls, quick_polls = listings_of(sim, slow), listings_of(sim, quick)
    # The slow target's polls follow each other (never one per interval on top of a
    # running one), and the quick target is polled at its own interval meanwhile.
    assert 2 <= slow_polls <= elapsed / hang + 1
    assert quick_polls >= 2 * slow_polls
    assert overruns.get(slow, 0) >= 1 and quick not in overruns
    assert by_project(found, "drs_up") == {slow: 1, quick: 1}
    said = [r.getMessage() for r in caplog.records if "longer than poll.interval" in r.message]
    assert len(said) == 1 and slow in said[0] and "max_requests_per_second" in said[0]


async def test_the_opt_in_deadline_fails_a_slow_listing_and_no_other_target(
    start_sim: StartSim,
) -> None:
    sim = await start_sim(seed=3, projects=2, jobs=20)
    slow, quick = sim.project_ids
    sim.script([{"hang": 5.0}] * 10, project_id=slow)
    config = listing_only(sim_config(sim, interval=0.5, deadline=0.3))
    async with Exporter(config) as exporter:
        exporter.start()
        seen_up: dict[str, set[float]] = defaultdict(set)

        def note(found: list[Sample]) -> None:
            for project, up in by_project(found, "drs_up").items():
                seen_up[project].add(up)

        found = await watch(exporter, 2.0, note)
    errors = {
        labels["project_id"]: labels["reason"]
        for _, labels, _ in select(found, "drs_poll_errors_total")
    }
    assert errors == {slow: "deadline"}
    assert seen_up[quick] == {1.0} and seen_up[slow] == {0.0}
    codes = {labels["code"] for _, labels, _ in select(found, "drs_api_requests_total")}
    assert "cancelled" in codes  # the hanging request, given up at the deadline


async def test_a_reload_polls_new_targets_at_once_and_the_others_at_their_time(
    start_sim: StartSim, tmp_path: Path
) -> None:
    sim = await start_sim(seed=4, projects=3, jobs=30)
    first, second, added = sim.project_ids
    path = tmp_path / "config.yaml"

    def write(projects: list[str], interval: str) -> None:
        targets = "".join(
            f"  - {{project_id: {p}, region: ap-southeast-1, endpoint: '{sim.url}', "
            "job_types: [sync], apis: [v5]}\n"
            for p in projects
        )
        path.write_text(
            f"credentials: {{token: test-token}}\ntargets:\n{targets}"
            f"poll: {{interval: {interval}, timeout: 5s, retries: 0}}\n"
            "metrics: {health: false, dr: false, quotas: false}\n"
        )

    write([first, second], "1h")
    async with Exporter(load_config(str(path)), config_path=str(path)) as exporter:
        exporter.start()
        while not exporter.ready():
            await asyncio.sleep(0.05)
        polled_before = {p: listings_of(sim, p) for p in (first, second)}
        write([first, added], "1h")  # second goes, added comes
        assert await exporter.reload() is None
        while added not in by_project(scrape(exporter), "drs_up"):
            await asyncio.sleep(0.05)
        found = scrape(exporter)
        # Within the hour: the remaining target was not polled again, the new one at once.
        assert listings_of(sim, first) == polled_before[first]
        assert set(by_project(found, "drs_up")) == {first, added}
        assert second not in {labels.get("project_id") for _, labels, _ in found}
        # A shorter interval applies to the wait in progress: polling resumes.
        write([first, added], "200ms")
        assert await exporter.reload() is None
        await asyncio.sleep(1.0)
        assert listings_of(sim, first) >= polled_before[first] + 2


async def test_the_last_first_poll_makes_the_exporter_ready_at_once(start_sim: StartSim) -> None:
    """Progress reaches the exposition at most once a second, but the poll that completes the
    first round publishes itself: readiness and the first full view do not wait for the
    next second (the other publications come from a timer, outside every poll)."""
    sim = await start_sim(seed=6, projects=3, jobs=12)
    slow = sim.project_ids[0]
    sim.script([{"hang": 0.3}], project_id=slow)  # the first rounds end apart
    config = listing_only(sim_config(sim, interval=3600.0, max_requests_per_second=1000))
    counters = Counters()
    ready = asyncio.Event()
    publishers: list[str | None] = []

    def publish(snapshot: Snapshot) -> None:
        if snapshot.ready and snapshot.targets and not ready.is_set():
            task = asyncio.current_task()
            publishers.append(None if task is None else task.get_name())
            ready.set()

    async with aiohttp.ClientSession() as session:
        transport = Transport(session, Limiter(8, 1000.0), counters, 5.0)
        targets = tuple(
            PollTarget(TargetKey(t.project_id, t.region, "sync"), t, StaticToken("test-token"))
            for t in config.targets
        )
        plan = Plan(targets, DrsClient(transport, retries=0), config.poll, metrics=LISTING_ONLY)
        poller = asyncio.create_task(Poller(plan, counters, publish).run())
        try:
            await asyncio.wait_for(ready.wait(), 10)
        finally:
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)
    assert publishers == [f"drs-poll {slow}/ap-southeast-1/sync"]


@pytest.mark.parametrize("pager", [False, True], ids=["healthy", "with an endless pager"])
async def test_an_account_three_times_over_the_rate_stays_up_and_served_whole(
    start_sim: StartSim, pager: bool
) -> None:
    """Nine targets whose rounds need several times what the rate allows in an interval:
    each round stretches, every target stays up at every scrape with every job, and the
    targets are served in turn (no target waits much longer than the others). With one
    project's pages repeating without end, its targets fail for it, and the others go on
    as before within bounded memory."""
    sim = await start_sim(seed=5, projects=3, jobs=150, page_cap=7, status_period=0)
    hostile = sim.project_ids[0] if pager else None
    if hostile is not None:
        await sim_call(
            sim, "POST", "/_sim/faults", {"endless_pages": True, "fault_projects": [hostile]}
        )
    healthy = [p for p in sim.project_ids if p != hostile]
    rate, interval = 25.0, 0.5
    config = sim_config(sim, interval=interval, max_requests_per_second=rate, page_size=7)
    truth = {
        listed["id"]
        for p in healthy
        for job_type in JOB_TYPES
        for api in ("v5", "v3")
        for job in sim.world.jobs(p, job_type, api)
        for listed in (job, *(job.get("children") or ()))
    }
    successes: dict[tuple[str, str], list[float]] = defaultdict(list)
    downs: list[tuple[str, str]] = []
    rss = [resident_mib()]

    def note(found: list[Sample]) -> None:
        rss.append(resident_mib())
        for _, labels, value in select(found, "drs_up"):
            if value != 1 and labels["project_id"] != hostile:
                downs.append((labels["project_id"], labels["job_type"]))
        for _, labels, at in select(found, "drs_last_poll_success_timestamp_seconds"):
            times = successes[(labels["project_id"], labels["job_type"])]
            if not times or times[-1] != at:
                times.append(at)

    async with Exporter(config) as exporter:
        exporter.start()
        while not exporter.ready():
            await asyncio.sleep(0.05)
        found = await watch(exporter, 12.0, note)
        requests = sum(v for _, _, v in select(found, "drs_api_requests_total"))
    served = {labels["job_id"] for _, labels, _ in select(found, "drs_job_info")}
    rounds = min(len(times) for times in successes.values())
    round_seconds = statistics.median(
        statistics.fmean(b - a for a, b in pairwise(times)) for times in successes.values()
    )
    overruns = sum(v for _, _, v in select(found, "drs_poll_overruns_total"))
    waited = sum(v for _, _, v in select(found, "drs_api_rate_limit_wait_seconds_total"))
    errors = {
        (labels["project_id"], labels["reason"])
        for _, labels, _ in select(found, "drs_poll_errors_total")
    }
    print(
        f"\n[poller] {len(successes)} targets up, {len(truth)} jobs and subtasks, "
        f"{requests:.0f} requests at {rate:g}/s: rounds of {round_seconds:.2f}s against an "
        f"interval of {interval}s, {overruns:.0f} overruns, {waited:.1f}s waited for the "
        f"limiter; resident memory {rss[0]:.0f} to {max(rss):.0f} MiB"
    )
    assert set(successes) == {(p, t) for p in healthy for t in JOB_TYPES} and not downs
    assert served == truth
    assert rounds >= 2
    # The rate, not the interval, sets the pace: at least three intervals a round.
    assert round_seconds >= 3 * interval
    assert overruns >= len(successes) and waited > 0
    gaps = [b - a for times in successes.values() for a, b in pairwise(times)]
    assert max(gaps) <= 2.5 * round_seconds
    assert errors == (set() if hostile is None else {(hostile, "decode")})
    assert max(rss) - rss[0] < 100  # MiB: the pager's pages are not piled up


def resident_mib() -> float:
    """This process's resident memory now (the exporter runs in it)."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024
