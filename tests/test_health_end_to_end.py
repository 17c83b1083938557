"""Every DRS job whatever its engine, and its replication health, end to end over sockets.

The simulator runs on a frozen clock, so what it serves to the exporter during a poll is what
it serves to the test afterwards: the test compares the exported series with the simulator's
own answers, read with a small oracle of its own.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from typing import Any

import pytest

from drs_exporter.config import Config, MetricsConfig
from drs_exporter.exporter import Exporter
from drs_exporter.metrics.families import FAMILIES

from .conftest import Sample, StartSim, fixed, samples, select, sim_call, sim_config
from .simulated import Simulated

HEALTH_FAMILIES = (
    "drs_job_progress_ratio",
    "drs_job_replication_delay_seconds",
    "drs_job_remaining_seconds",
    "drs_job_progress_update_timestamp_seconds",
    "drs_job_error_info",
)
PROGRESS = {"FULL_TRANSFER_STARTED", "INCRE_TRANSFER_STARTED", "CHILD_TRANSFER_STARTED"}
DELAY = {"INCRE_TRANSFER_STARTED", "CHILD_TRANSFER_STARTED"}
BATCH_APIS = ("v3_batch_progress", "v3_batch_status")


async def poll(exporter: Exporter) -> list[Sample]:
    await exporter.poll_once()
    return samples(exporter.exposition().body(openmetrics=False, gzip=False))


async def world(start_sim: StartSim, **options: Any) -> Simulated:
    """A frozen world with every kind of job: v5-only, v3-only, doubly listed; transferring,
    lagging and failed ones, with subtasks."""
    defaults: dict[str, Any] = dict(seed=5, projects=2, jobs=150, children_ratio=0.3)
    return await start_sim(clock=fixed(), status_period=0, **{**defaults, **options})


def with_metrics(config: Config, **metrics: bool) -> Config:
    return dataclasses.replace(config, metrics=MetricsConfig(**metrics))


def statuses(found: list[Sample]) -> dict[str, str]:
    """job id -> its exported status."""
    return {labels["job_id"]: labels["status"] for _, labels, _ in select(found, "drs_job_status")}


def by_job(found: list[Sample], name: str) -> dict[str, float]:
    return {labels["job_id"]: v for _, labels, v in select(found, name)}


# The test's own reading of what the simulator serves: numbers in text, nothing else.
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def served(result: dict[str, Any], key: str) -> float | None:
    text = result.get(key)
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    return float(text) if isinstance(text, str) and _NUMBER.fullmatch(text.strip()) else None


def expected_health(sim: Simulated, status: dict[str, str]) -> dict[str, dict[str, float]]:
    """family -> job id -> value, as the simulator serves the jobs' health right now."""
    out: dict[str, dict[str, float]] = {name: {} for name in HEALTH_FAMILIES}
    for job_id, job_status in status.items():
        if job_status not in PROGRESS:
            continue
        result = sim.world.progress(job_id)
        assert result is not None, job_id
        progress = served(result, "progress")
        if progress is not None and 0 <= progress <= 100:
            out["drs_job_progress_ratio"][job_id] = progress / 100
        remaining = served(result, "remaining_time")
        if remaining is not None and remaining >= 0:
            out["drs_job_remaining_seconds"][job_id] = remaining
        updated = served(result, "process_time")
        if updated is not None and updated > 0:
            out["drs_job_progress_update_timestamp_seconds"][job_id] = updated / 1000
        millis, seconds = (
            served(result, "incre_trans_delay_millis"),
            served(result, "incre_trans_delay"),
        )
        delay = millis / 1000 if millis is not None and millis >= 0 else seconds
        if job_status in DELAY and delay is not None and delay >= 0:
            out["drs_job_replication_delay_seconds"][job_id] = delay
    return out


def one_line(text: str) -> str:
    return " ".join(text.split())[:200]


def test_these_tests_know_every_family_of_the_health_calls_but_throughput() -> None:
    health = {f.name for f in FAMILIES if f.call is not None and f.call.switch == "health"}
    rates = {"drs_job_apply_rows_per_second", "drs_job_apply_bytes_per_second"}
    assert set(HEALTH_FAMILIES) == health - rates  # the rates are test_dr_end_to_end's


async def test_every_job_of_every_engine_is_exported_once_with_v5s_record(
    start_sim: StartSim,
) -> None:
    sim = await world(start_sim)
    async with Exporter(sim_config(sim)) as exporter:
        found = await poll(exporter)
    summary = await sim_call(sim, "GET", "/_sim/summary?ids=true")
    kinds = summary["listed_by"]
    assert kinds["v5_only"] and kinds["v3_only"] and kinds["both"]
    listed = {
        job_id
        for api in ("v5", "v3")
        for by_type in summary["ids"][api].values()
        for ids in by_type.values()
        for job_id in ids
    }
    top = Counter(
        labels["job_id"] for _, labels, _ in select(found, "drs_job_info", parent_job_id="")
    )
    assert set(top) == listed and set(top.values()) == {1}
    truth = sum(
        n for by_type in summary["counts"].values() for c in by_type.values() for n in c.values()
    )
    assert sum(v for _, _, v in select(found, "drs_jobs")) == truth == len(listed)
    subtasks = sum(
        n for by_type in summary["subtasks"].values() for c in by_type.values() for n in c.values()
    )
    assert sum(v for _, _, v in select(found, "drs_subtasks")) == subtasks
    # A job both APIs list keeps v5's record: v5's engine name, not v3's "mysql".
    both = [j for j in top if sim.world.listed_by(j) == {"v5", "v3"}]
    assert both
    for job_id in both:
        (info,) = select(found, "drs_job_info", job_id=job_id)
        assert info[1]["engine_type"] == sim.world.find(job_id, "v5")["engine_type"]
    assert all(v == 1 for _, _, v in select(found, "drs_up"))


async def test_every_health_figure_is_what_the_simulator_served_and_nothing_else(
    start_sim: StartSim,
) -> None:
    sim = await world(start_sim)
    async with Exporter(sim_config(sim)) as exporter:
        found = await poll(exporter)
    status = statuses(found)
    expected = expected_health(sim, status)
    for name in HEALTH_FAMILIES[:4]:
        assert by_job(found, name) == pytest.approx(expected[name]), name
    assert expected["drs_job_replication_delay_seconds"], "the world should have syncing jobs"
    assert expected["drs_job_progress_ratio"], "and transferring ones"
    lagging = [d for d in expected["drs_job_replication_delay_seconds"].values() if d > 300]
    assert lagging, "and some more than five minutes behind"

    reasons = {
        labels["job_id"]: (labels["error_code"], labels["error_message"])
        for _, labels, _ in select(found, "drs_job_error_info")
    }
    failed = [j for j, s in status.items() if s.endswith("_FAILED")]
    assert failed and set(reasons) <= set(failed)
    for job_id in failed:
        result = sim.world.status(job_id)
        assert result is not None
        code, message = result["error_code"], one_line(result["error_message"])
        if code or message:
            assert reasons[job_id] == (code, message)
        else:
            assert job_id not in reasons
    assert any(len(m) == 200 for _, m in reasons.values()), "a long message, cut"
    assert any(re.search("[\u4e00-\u9fff]", m) for _, m in reasons.values()), "a Chinese one"


async def test_batch_requests_ask_only_for_jobs_that_carry_health_and_at_most_batch_size(
    start_sim: StartSim,
) -> None:
    sim = await world(start_sim)
    async with Exporter(sim_config(sim, batch_size=7)) as exporter:
        found = await poll(exporter)
    status = statuses(found)
    progress = sim.requests.of("v3_batch_progress")
    batch_status = sim.requests.of("v3_batch_status")
    assert progress and batch_status
    for calls, wanted in ((progress, PROGRESS), (batch_status, None)):
        asked = [job_id for call in calls for job_id in call.ids]
        assert all(1 <= len(call.ids) <= 7 for call in calls)
        assert len(asked) == len(set(asked))  # each job asked about once
        for job_id in asked:
            assert status[job_id] in wanted if wanted else status[job_id].endswith("_FAILED")
    assert {j for c in progress for j in c.ids} == {j for j, s in status.items() if s in PROGRESS}
    requests = {
        labels["api"]: v for _, labels, v in select(found, "drs_api_requests_total", code="200")
    }
    assert requests["v3_batch_progress"] == len(progress)
    assert requests["v3_batch_status"] == len(batch_status)


@pytest.mark.parametrize("metrics", [{"health": False}, {"per_job": False}])
async def test_health_off_sends_no_batch_request(
    start_sim: StartSim, metrics: dict[str, bool]
) -> None:
    sim = await world(start_sim)
    async with Exporter(with_metrics(sim_config(sim), **metrics)) as exporter:
        found = await poll(exporter)
    assert not sim.requests.of(*BATCH_APIS)
    assert not [s for s in found if s[0] in HEALTH_FAMILIES]
    assert sum(v for _, _, v in select(found, "drs_jobs")) == 150


async def test_a_target_listing_v5_only_sends_no_batch_request(start_sim: StartSim) -> None:
    sim = await world(start_sim)
    config = sim_config(sim)
    config = dataclasses.replace(
        config, targets=tuple(dataclasses.replace(t, apis=("v5",)) for t in config.targets)
    )
    async with Exporter(config) as exporter:
        await poll(exporter)
    assert sim.requests.of("v5_jobs") and not sim.requests.of("v3_jobs", *BATCH_APIS)


BAD_ANSWERS = {
    "500": {"status": 500, "body": {"error_code": "DRS.10000001", "error_msg": "boom"}},
    "html": {"status": 200, "body": "<html>502</html>", "headers": {"Content-Type": "text/html"}},
    "no-results": {"status": 200, "body": {"count": 3}},
    "results-object": {"status": 200, "body": {"count": 1, "results": {"job_id": "x"}}},
}


@pytest.mark.parametrize("bad", list(BAD_ANSWERS))
async def test_a_failing_batch_progress_leaves_only_its_jobs_without_health(
    start_sim: StartSim, bad: str
) -> None:
    sim = await world(start_sim, projects=1, jobs=60)
    config = sim_config(sim, batch_size=100)  # one batch-progress request per target
    async with Exporter(config) as exporter:
        healthy = await poll(exporter)
        sim.script([BAD_ANSWERS[bad]] * 3, api="v3_batch_progress")
        found = await poll(exporter)
    assert all(v == 1 for _, _, v in select(found, "drs_up"))
    assert not select(found, "drs_poll_errors_total")
    for name in ("drs_jobs", "drs_subtasks", "drs_jobs_failed", "drs_job_info"):
        assert select(found, name) == select(healthy, name), name
    # Three targets, each with one batch-progress request: every one of them failed.
    assert by_job(healthy, "drs_job_progress_ratio")
    assert not by_job(found, "drs_job_progress_ratio")
    assert not by_job(found, "drs_job_replication_delay_seconds")
    # The failure reasons come from batch-status, which still answered.
    assert by_job(found, "drs_job_error_info") == by_job(healthy, "drs_job_error_info")


async def test_a_lagging_job_shows_its_delay_and_a_stalled_one_stops_moving(
    start_sim: StartSim,
) -> None:
    sim = await start_sim(seed=5, projects=1, jobs=30, status_period=0)  # real clock
    async with Exporter(sim_config(sim)) as exporter:
        first = await poll(exporter)
        syncing = [j for j, s in statuses(first).items() if s == "INCRE_TRANSFER_STARTED"]
        full = [j for j, s in statuses(first).items() if s == "FULL_TRANSFER_STARTED"]
        assert syncing and full
        await sim_call(sim, "POST", f"/_sim/jobs/{syncing[0]}/health", {"delay_seconds": 2400})
        await sim_call(sim, "POST", f"/_sim/jobs/{full[0]}/health", {"frozen": True})
        stalled_at = by_job(await poll(exporter), "drs_job_progress_update_timestamp_seconds")
        await sim_call(sim, "POST", "/_sim/advance", {"seconds": 600})
        later = await poll(exporter)
    assert by_job(later, "drs_job_replication_delay_seconds")[syncing[0]] == 2400
    updated = by_job(later, "drs_job_progress_update_timestamp_seconds")
    assert updated[full[0]] == stalled_at[full[0]]  # frozen: no update in ten minutes
    moving = [j for j in full[1:] if j in updated and j in stalled_at]
    assert all(updated[j] > stalled_at[j] for j in moving)
