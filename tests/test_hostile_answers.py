"""A hostile or broken server: what it sends cannot take the exporter's memory.

Each test runs the exporter as an operator would (its own process, over loopback) against
the simulator with one of its hostile faults on one project, beside healthy ones, and checks
what a user would: the exporter's peak resident memory (the kernel's high-water mark of its
process, sampled along the way for the report), every job of the healthy targets, and the
hostile target down with its reason. The figures are printed for ``pytest -s``. One test
looks inside instead: a refused answer leaves nothing behind even with the collector off.
"""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from drs_exporter.cloud.transport import INFLATE_STEP, MAX_BODY_BYTES, Limiter, Transport
from drs_exporter.errors import ApiError
from drs_exporter.polling.counters import Counters

from .conftest import Served, StartSim, samples, select, sim_call
from .test_hostile import REGION, TOKEN, report

HEALTHY = 3  # healthy projects beside the hostile ones
MIB = 1 << 20
# What the exporter holds beyond what it needs anyway, at most: one answer at the cap per
# request in flight, and what Python and the allocator keep around it.
SLACK_MIB = 40


@dataclass
class Outcome:
    """What a run against hostile targets left: memory, and what the exporter said."""

    idle_mib: float  # resident once serving, before the first poll's answers
    peak_mib: float  # the process's high-water mark (VmHWM)
    sampled_mib: float  # the highest VmRSS seen while sampling
    reasons: dict[str, str]  # project id -> the reason its polls failed
    healthy_jobs: bool  # every healthy target up, with every job the simulator has
    hostile_up: list[float]  # drs_up of each hostile target
    log: str


async def against_hostile(
    start_sim: StartSim,
    serve: Callable[..., Awaitable[Served]],
    tmp_path: Path,
    *,
    hostile: int = 1,
    max_concurrency: int = 8,
    **fault: Any,
) -> Outcome:
    """Serve an exporter polling HEALTHY healthy projects and ``hostile`` ones hit by
    ``fault``, until every hostile target has failed and every healthy one is up with all
    its jobs (bounded), sampling the exporter's memory meanwhile."""
    sim = await start_sim(
        seed=3, projects=HEALTHY + hostile, jobs=60 * (HEALTHY + hostile), status_period=0,
        token=TOKEN, page_cap=7, **fault,
    )  # fmt: skip
    healthy, bad = sim.project_ids[:HEALTHY], sim.project_ids[HEALTHY:]
    await sim_call(sim, "POST", "/_sim/faults", {"fault_projects": bad})
    summary = (await sim_call(sim, "GET", "/_sim/summary"))["apis"]["v5"]["counts"]
    expected = {p: sum(summary[p]["sync"].values()) for p in healthy}
    path = tmp_path / "config.yaml"
    targets = "".join(
        f"  - project_id: {p}\n    region: {REGION}\n    endpoint: {sim.url}\n"
        "    job_types: [sync]\n    apis: [v5]\n"
        for p in sim.project_ids
    )
    path.write_text(
        f"credentials:\n  token: {TOKEN}\ntargets:\n{targets}"
        "poll:\n  interval: 2s\n  timeout: 20s\n  retries: 0\n"
        f"  max_requests_per_second: 1000\n  max_concurrency: {max_concurrency}\n"
        "metrics:\n  health: false\n"
    )
    served = await serve(path)
    idle = served.rss_mib()
    sampled = idle
    found: list[Any] = []
    done = False
    async with aiohttp.ClientSession() as session:
        deadline = time.monotonic() + 60
        while not done and time.monotonic() < deadline:
            for _ in range(25):  # 0.5 s of samples between two scrapes
                sampled = max(sampled, served.rss_mib())
                await asyncio.sleep(0.02)
            async with session.get(served.base + "/metrics") as resp:
                found = samples(await resp.text())
            reasons = {
                labels["project_id"]: labels["reason"]
                for _, labels, _ in select(found, "drs_poll_errors_total")
            }
            jobs = {
                p: sum(v for _, _, v in select(found, "drs_jobs", project_id=p)) for p in healthy
            }
            up = {p: [v for _, _, v in select(found, "drs_up", project_id=p)] for p in healthy}
            healthy_jobs = jobs == expected and all(v == [1] for v in up.values())
            done = set(reasons) >= set(bad) and healthy_jobs
    peak = served.memory_mib("VmHWM")
    log = await served.stop()
    hostile_up = [v for p in bad for _, _, v in select(found, "drs_up", project_id=p)]
    return Outcome(idle, peak, max(sampled, idle), reasons, healthy_jobs, hostile_up, log)


def check(outcome: Outcome, reason: str, hostile: int, bound_mib: float, what: str) -> None:
    """The healthy targets served whole, each hostile one failed for ``reason`` (one log line
    each, no traceback), and the peak within ``bound_mib`` of the idle exporter."""
    report(
        what,
        idle_mib=f"{outcome.idle_mib:.0f}",
        peak_mib=f"{outcome.peak_mib:.0f}",
        sampled_peak_mib=f"{outcome.sampled_mib:.0f}",
        reasons=sorted(set(outcome.reasons.values())),
        hostile_up=outcome.hostile_up,
    )
    assert outcome.healthy_jobs, "a healthy target was not served whole"
    assert outcome.hostile_up == [0] * hostile, outcome.hostile_up
    assert len(outcome.reasons) == hostile, outcome.reasons
    assert set(outcome.reasons.values()) == {reason}, outcome.reasons
    assert outcome.peak_mib < outcome.idle_mib + bound_mib, outcome
    lines = [line for line in outcome.log.splitlines() if "poll failed" in line]
    assert lines and all(f": {reason}: v5_jobs: " in line for line in lines), lines[:2]
    assert "Traceback" not in outcome.log


@pytest.mark.parametrize(
    ("fault", "reason", "what"),
    [
        ({"gzip_bomb_mib": 2048}, "too_large", "a 2 GiB gzip bomb (2 MiB on the wire)"),
        ({"lying_total": 10**8}, "too_many_jobs", "a total of 1e8 with 7 jobs a page"),
        ({"lying_total": 10**18}, "too_many_jobs", "a total of 1e18 with 7 jobs a page"),
        ({"endless_pages": True}, "decode", "the same page whatever the offset, no total"),
        ({"redirect": 302}, "http_3xx", "a redirect to https"),
        ({"header_padding": 64 * 1024}, "headers_too_large", "a header of 64 KiB"),
    ],
    ids=["gzip-bomb", "total-1e8", "total-1e18", "endless-pages", "redirect", "big-header"],
)
async def test_a_hostile_target_fails_alone_and_costs_bounded_memory(
    start_sim: StartSim,
    serve: Callable[..., Awaitable[Served]],
    tmp_path: Path,
    fault: dict[str, Any],
    reason: str,
    what: str,
) -> None:
    outcome = await against_hostile(start_sim, serve, tmp_path, **fault)
    # At most one answer at the cap (a bomb), whatever it claimed or would inflate to.
    check(outcome, reason, 1, MAX_BODY_BYTES / MIB + SLACK_MIB, what)


async def test_refused_answers_do_not_pile_up(
    start_sim: StartSim, serve: Callable[..., Awaitable[Served]], tmp_path: Path
) -> None:
    # Eight bombs one after the other: each refused answer is freed before the next is read,
    # not when the cyclic collector gets to it.
    outcome = await against_hostile(
        start_sim, serve, tmp_path, hostile=8, max_concurrency=1, gzip_bomb_mib=2048
    )
    check(outcome, "too_large", 8, MAX_BODY_BYTES / MIB + SLACK_MIB, "8 gzip bombs in turn")


async def test_bombs_at_once_hold_one_capped_answer_per_request_in_flight(
    start_sim: StartSim, serve: Callable[..., Awaitable[Served]], tmp_path: Path
) -> None:
    outcome = await against_hostile(
        start_sim, serve, tmp_path, hostile=8, max_concurrency=4, gzip_bomb_mib=2048
    )
    bound = 4 * MAX_BODY_BYTES / MIB + SLACK_MIB
    check(outcome, "too_large", 8, bound, "8 gzip bombs, 4 requests in flight")


# A refused answer, looked at from inside.


@pytest.mark.parametrize("fault", ["gzip-bomb", "streamed"])
async def test_a_refused_answer_is_freed_at_once_with_the_collector_off(
    start_sim: StartSim, fault: str
) -> None:
    sim = await start_sim(seed=1, projects=1, jobs=3, gzip_bomb_mib=2048)
    if fault == "streamed":  # plain bytes past the cap, without a Content-Length
        sim.script([{"body": " ", "repeat": MAX_BODY_BYTES + 1, "chunked": True}])
    url = f"{sim.url}/v5/{sim.project_ids[0]}/jobs?job_type=sync"
    async with aiohttp.ClientSession() as session:
        transport = Transport(session, Limiter(1, 1000.0), Counters(), 30.0)
        gc.collect()
        gc.disable()
        tracemalloc.start(64)
        try:
            before = tracemalloc.take_snapshot()
            with pytest.raises(ApiError) as caught:
                await transport.send(REGION, "v5_jobs", "GET", url, {})
            # The error and its traceback are alive here, as a caller holding it would keep
            # them; what they reach must not include the answer.
            left = client_side(tracemalloc.take_snapshot()) - client_side(before)
        finally:
            tracemalloc.stop()
            gc.enable()
    report(f"a refused answer ({fault}), the collector off", left_kib=f"{left / 1024:.0f}")
    assert caught.value.reason == "too_large"
    assert caught.value.__traceback__ is not None
    assert left < INFLATE_STEP


def client_side(snapshot: tracemalloc.Snapshot) -> int:
    """Bytes allocated and still held, but by the simulator serving in this process."""
    server = [
        tracemalloc.Filter(False, pattern, all_frames=True)
        for pattern in ("*/drs_exporter/simulator/*", "*/aiohttp/web*", "*/tests/sim_*")
    ]
    return sum(stat.size for stat in snapshot.filter_traces(server).statistics("filename"))
