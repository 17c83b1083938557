"""Beyond lag, end to end over sockets: throughput, DR objectives, connections, instance
capacity and quota are what the simulator served, for every job it served one for, and
nothing else; the requests stay within their limits and switches.

As in test_health_end_to_end, the simulator runs on a frozen clock, so what it serves the
exporter during a poll is what it serves the test afterwards.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest

from drs_exporter.config import Config, MetricsConfig
from drs_exporter.drs.batch_calls import BATCH_PROGRESS
from drs_exporter.exporter import Exporter
from drs_exporter.metrics.families import FAMILIES

from .conftest import Sample, StartSim, fixed, samples, select, sim_call, sim_config
from .simulated import Simulated

DR = "cloudDataGuard"
OBJECTIVE_STATES = {"INCRE_TRANSFER_STARTED"}
INSTANCE_STATES = {"FULL_TRANSFER_STARTED", "INCRE_TRANSFER_STARTED"}
PROGRESS = {"FULL_TRANSFER_STARTED", "INCRE_TRANSFER_STARTED", "CHILD_TRANSFER_STARTED"}
# family -> (the result's key path, multiplier)
OBJECTIVES = {
    "drs_job_rpo_seconds": (("rpo_info", "delay"), 1 / 1000),
    "drs_job_rto_seconds": (("rto_info", "delay"), 1 / 1000),
}
INSTANCE = {
    "drs_job_instance_cpu_ratio": (("data_guard_minitor", "cpuUsed_percent"), 1 / 100),
    "drs_job_instance_memory_used_bytes": (("data_guard_minitor", "mem_used_inMB"), 2**20),
    "drs_job_instance_memory_bytes": (("data_guard_minitor", "node_mem_inMB"), 2**20),
    "drs_job_instance_disk_used_bytes": (("data_guard_minitor", "volume_used_inGB"), 2**30),
    "drs_job_instance_disk_bytes": (("data_guard_minitor", "node_volume_inGB"), 2**30),
}
CONNECTIONS = {
    "drs_job_source_connected": ("data_guard_minitor", "src_normal"),
    "drs_job_target_connected": ("data_guard_minitor", "dst_normal"),
}
THROUGHPUT = {
    "drs_job_apply_rows_per_second": "apply_rows_rate",
    "drs_job_apply_bytes_per_second": "apply_bytes_rate",
}
DR_FAMILIES = (*OBJECTIVES, *INSTANCE, *CONNECTIONS)
DR_APIS = ("v3_batch_rpo_rto", "v3_dr_monitoring")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


async def world(start_sim: StartSim, **options: Any) -> Simulated:
    defaults: dict[str, Any] = dict(seed=7, projects=2, jobs=300, children_ratio=0.2)
    return await start_sim(clock=fixed(), status_period=0, **{**defaults, **options})


async def poll(exporter: Exporter) -> list[Sample]:
    await exporter.poll_once()
    return samples(exporter.exposition().body(openmetrics=False, gzip=False))


def with_metrics(config: Config, **metrics: bool) -> Config:
    return dataclasses.replace(config, metrics=MetricsConfig(**metrics))


def by_job(found: list[Sample], name: str) -> dict[str, float]:
    return {labels["job_id"]: v for _, labels, v in select(found, name)}


def statuses(found: list[Sample]) -> dict[str, tuple[str, str]]:
    """job id -> (job type, status) as exported."""
    return {
        labels["job_id"]: (labels["job_type"], labels["status"])
        for _, labels, _ in select(found, "drs_job_status")
    }


def number(value: Any) -> float | None:
    """The test's own reading of a served figure: a number, or a number in text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return float(value)
    return None


def dig(result: dict[str, Any] | None, path: tuple[str, ...]) -> Any:
    for key in path:
        result = result.get(key) if isinstance(result, dict) else None
    return result


def expected(sim: Simulated, jobs: dict[str, tuple[str, str]]) -> dict[str, dict[str, float]]:
    """family -> job id -> value, as the simulator serves them now."""
    out: dict[str, dict[str, float]] = {name: {} for name in (*DR_FAMILIES, *THROUGHPUT)}
    for job_id, (job_type, status) in jobs.items():
        if status in PROGRESS:
            progress = sim.world.progress(job_id)
            for name, key in THROUGHPUT.items():
                value = number(dig(progress, (key,)))
                if value is not None and value >= 0:
                    out[name][job_id] = value
        if job_type != DR:
            continue
        if status in OBJECTIVE_STATES:
            for name, (path, scale) in OBJECTIVES.items():
                value = number(dig(sim.world.objectives(job_id), path))
                if value is not None and value >= 0:
                    out[name][job_id] = value * scale
        if status in INSTANCE_STATES:
            served = sim.world.monitoring(job_id)
            for name, (path, scale) in INSTANCE.items():
                value = number(dig(served, path))
                if value is not None and value >= 0:
                    out[name][job_id] = value * scale
            for name, path in CONNECTIONS.items():
                flag = dig(served, path)
                if isinstance(flag, bool):
                    out[name][job_id] = float(flag)
    return out


def assert_exported_as_served(sim: Simulated, found: list[Sample]) -> None:
    truth = expected(sim, statuses(found))
    for name, values in truth.items():
        assert by_job(found, name) == pytest.approx(values), name
        assert values, f"the world should give {name} some series"
    connected = truth["drs_job_source_connected"].values()
    assert 0.0 in connected or 0.0 in truth["drs_job_target_connected"].values(), "a drop"


def test_these_tests_know_every_family_of_the_dr_calls_and_of_throughput() -> None:
    dr = {f.name for f in FAMILIES if f.call is not None and f.call.switch == "dr"}
    assert set(DR_FAMILIES) == dr
    assert set(THROUGHPUT) <= {f.name for f in FAMILIES if f.call is BATCH_PROGRESS}


@pytest.mark.parametrize("cap", [0, 20])
async def test_every_new_figure_is_what_the_simulator_served(start_sim: StartSim, cap: int) -> None:
    sim = await world(start_sim, batch_cap=cap)
    async with Exporter(sim_config(sim)) as exporter:
        found = await poll(exporter)
        assert_exported_as_served(sim, found)
        again = await poll(exporter)
    assert_exported_as_served(sim, again)
    assert all(v == 1 for _, _, v in select(again, "drs_up"))
    limit = cap or 100
    for api in ("v3_batch_progress", "v3_batch_status", "v3_batch_rpo_rto"):
        calls = sim.requests.of(api)
        assert calls, api
        accepted = [c for c in calls if len(c.ids) <= limit]
        assert accepted, api
    # Refused requests (a DRS 400) happen on the first poll only: the size is remembered.
    refused = {
        labels["api"]: v for _, labels, v in select(again, "drs_api_requests_total", code="400")
    }
    first = {
        labels["api"]: v for _, labels, v in select(found, "drs_api_requests_total", code="400")
    }
    assert refused == first
    assert bool(refused) == bool(cap)


async def test_a_server_answering_for_fewer_ids_than_sent_makes_the_batches_smaller(
    start_sim: StartSim,
) -> None:
    sim = await world(start_sim, batch_answer_cap=20)
    async with Exporter(sim_config(sim)) as exporter:
        found = await poll(exporter)
        assert_exported_as_served(sim, found)
        first = len(sim.requests.of("v3_batch_progress"))
        again = await poll(exporter)
    assert_exported_as_served(sim, again)
    progress = sim.requests.of("v3_batch_progress")
    later = progress[first:]
    # Learned on the first poll (the size halved until answers were whole): the second poll
    # asks at most 20 ids a request, and each id once.
    assert max(len(c.ids) for c in progress[:first]) > 20
    assert max(len(c.ids) for c in later) <= 20
    asked = [job_id for call in later for job_id in call.ids]
    assert len(asked) == len(set(asked))


async def test_dr_requests_ask_only_dr_jobs_in_their_states_and_at_most_ten_ids(
    start_sim: StartSim,
) -> None:
    sim = await world(start_sim)
    async with Exporter(sim_config(sim)) as exporter:
        found = await poll(exporter)
    jobs = statuses(found)
    monitoring = sim.requests.of("v3_dr_monitoring")
    objectives = sim.requests.of("v3_batch_rpo_rto")
    assert monitoring and objectives
    assert all(1 <= len(call.ids) <= 10 for call in monitoring)
    assert max(len(call.ids) for call in monitoring) == 10
    for calls, states in ((monitoring, INSTANCE_STATES), (objectives, OBJECTIVE_STATES)):
        asked = [job_id for call in calls for job_id in call.ids]
        assert len(asked) == len(set(asked))
        assert {jobs[j] for j in asked} <= {(DR, s) for s in states}
        assert set(asked) == {j for j, (t, s) in jobs.items() if t == DR and s in states}
    requests = {
        labels["api"]: v for _, labels, v in select(found, "drs_api_requests_total", code="200")
    }
    assert requests["v3_dr_monitoring"] == len(monitoring)
    answered = {
        labels["api"]: v for _, labels, v in select(found, "drs_api_requests_total", code="202")
    }
    assert answered == {"v3_batch_rpo_rto": len(objectives)}  # read as a success


async def test_the_quota_is_asked_once_per_project_and_exported(start_sim: StartSim) -> None:
    sim = await world(start_sim)
    async with Exporter(sim_config(sim)) as exporter:
        found = await poll(exporter)
    calls = sim.requests.of("v3_quotas")
    assert sorted(c.project_id for c in calls) == sorted(sim.project_ids)
    for project_id in sim.project_ids:
        served = json.loads(sim.world.quota(project_id))["quotas"]["resource"]
        (used,) = select(found, "drs_quota_used", project_id=project_id)
        (limit,) = select(found, "drs_quota_limit", project_id=project_id)
        assert used[1]["resource"] == limit[1]["resource"] == "instances"
        assert (used[2], limit[2]) == (served["used"], served["quota"])


async def test_the_quota_is_asked_alongside_the_batch_calls_not_after_them(
    start_sim: StartSim,
) -> None:
    # Each answer takes LATENCY: a quota asked after the batch calls would arrive at least
    # that long after the first of them; asked alongside, it arrives with them.
    latency = 0.5
    sim = await world(start_sim, projects=1, jobs=60, latency=latency)
    async with Exporter(sim_config(sim)) as exporter:
        await exporter.poll_once()
    listed = max(c.at for c in sim.requests.of("v5_jobs", "v3_jobs"))
    batch = [c.at for c in sim.requests.calls if c.api.startswith("v3_batch") and c.at > listed]
    (quota,) = sim.requests.of("v3_quotas")
    assert batch and quota.at < min(batch) + latency


@pytest.mark.parametrize(
    ("switch", "apis", "families"),
    [
        ("dr", DR_APIS, DR_FAMILIES),
        ("quotas", ("v3_quotas",), ("drs_quota_used", "drs_quota_limit")),
    ],
)
async def test_a_switch_off_sends_none_of_its_requests(
    start_sim: StartSim, switch: str, apis: tuple[str, ...], families: tuple[str, ...]
) -> None:
    sim = await world(start_sim)
    async with Exporter(with_metrics(sim_config(sim), **{switch: False})) as exporter:
        found = await poll(exporter)
    assert not sim.requests.of(*apis)
    assert not [s for s in found if s[0] in families]
    assert sim.requests.of("v3_batch_progress")  # the others still ask


@pytest.mark.parametrize("api", [*DR_APIS, "v3_quotas", "v3_batch_progress"])
async def test_a_500_on_one_call_leaves_every_other_series_as_it_was(
    start_sim: StartSim, api: str
) -> None:
    sim = await world(start_sim, projects=1)
    # Every DR job asked each cycle (not in turns): the healthy poll's series are all there is.
    config = sim_config(sim, retries=0, rotation_requests=100)
    async with Exporter(config) as exporter:
        healthy = await poll(exporter)
        bad = {"status": 500, "body": {"error_code": "DRS.10000001", "error_msg": "boom"}}
        sim.script([bad] * 50, api=api)
        found = await poll(exporter)
    failed = {labels["api"] for _, labels, _ in select(found, "drs_api_requests_total", code="500")}
    assert failed == {api}
    assert all(v == 1 for _, _, v in select(found, "drs_up"))
    assert not select(found, "drs_poll_errors_total")
    mine = {
        "v3_batch_rpo_rto": tuple(OBJECTIVES),
        "v3_dr_monitoring": (*INSTANCE, *CONNECTIONS),
        "v3_quotas": ("drs_quota_used", "drs_quota_limit"),
        "v3_batch_progress": (
            *THROUGHPUT,
            "drs_job_progress_ratio",
            "drs_job_replication_delay_seconds",
            "drs_job_remaining_seconds",
            "drs_job_progress_update_timestamp_seconds",
        ),
    }[api]
    counters = {"drs_api_requests_total", "drs_api_rate_limit_wait_seconds_total"}
    names = {name for name, _, _ in healthy} - counters
    for name in names:
        if name in mine:
            assert select(healthy, name) and not select(found, name), name
        elif name.startswith("drs_") and "poll" not in name:
            assert select(found, name) == select(healthy, name), name


async def test_a_garbled_dr_answer_gives_no_series_never_a_zero(start_sim: StartSim) -> None:
    sim = await world(start_sim, projects=1)
    # Every DR job asked each cycle: none keeps figures from an earlier turn.
    async with Exporter(sim_config(sim, rotation_requests=100)) as exporter:
        healthy = await poll(exporter)
        ids = list(by_job(healthy, "drs_job_instance_cpu_ratio"))
        assert ids
        junk = {
            "count": len(ids),
            "results": [
                {"id": ids[0], "data_guard_minitor": {"cpuUsed_percent": "N/A", "src_normal": 1}},
                {"id": ids[-1], "data_guard_minitor": "junk"},
                {"id": "not-asked", "data_guard_minitor": {"cpuUsed_percent": "50"}},
                [1, 2],
            ],
        }
        sim.script([{"status": 200, "body": junk}] * 50, api="v3_dr_monitoring")
        found = await poll(exporter)
    for name in (*INSTANCE, *CONNECTIONS):
        assert not by_job(found, name), name
    assert by_job(found, "drs_job_rpo_seconds") == by_job(healthy, "drs_job_rpo_seconds")


async def test_faults_on_one_call_only_leave_the_rest_alone(start_sim: StartSim) -> None:
    sim = await world(start_sim, projects=1, error_rate=1.0, fault_apis=("v3_dr_monitoring",))
    async with Exporter(sim_config(sim, retries=0)) as exporter:
        found = await poll(exporter)
    codes = {
        (labels["api"], labels["code"]) for _, labels, _ in select(found, "drs_api_requests_total")
    }
    assert {api for api, code in codes if code.startswith("5")} == {"v3_dr_monitoring"}
    assert all(v == 1 for _, _, v in select(found, "drs_up"))
    assert by_job(found, "drs_job_rpo_seconds") and by_job(found, "drs_job_progress_ratio")
    assert not by_job(found, "drs_job_instance_cpu_ratio")


async def test_the_quota_goes_stale_with_its_projects_job_series(start_sim: StartSim) -> None:
    sim = await world(start_sim, projects=1)
    async with Exporter(sim_config(sim, stale_after=0.001)) as exporter:
        healthy = await poll(exporter)
        assert select(healthy, "drs_quota_used")
        faults = {"error_rate": 1.0, "fault_apis": ["v5_jobs", "v3_jobs"]}
        await sim_call(sim, "POST", "/_sim/faults", faults)
        found = await poll(exporter)
    assert all(v == 0 for _, _, v in select(found, "drs_up"))
    assert not select(found, "drs_job_info")
    assert not select(found, "drs_quota_used") and not select(found, "drs_quota_limit")
