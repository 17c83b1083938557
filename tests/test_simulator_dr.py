"""The simulator's DR figures over time: they move, a connection drops and comes back, a
disk fills; the quota counts the project's jobs."""

from __future__ import annotations

import json
from typing import Any

from drs_exporter.simulator import SimulatorOptions, World

from .conftest import T0

HOUR = 3600


def dr_world() -> World:
    return World(SimulatorOptions(seed=3, projects=1, jobs=600, status_period=0), lambda: T0)


def replicating_dr_jobs(world: World) -> list[str]:
    (project,) = world.project_ids
    return [
        job["id"]
        for api in ("v5", "v3")
        for job in world.jobs(project, "cloudDataGuard", api)
        if job.get("status") == "INCRE_TRANSFER_STARTED"
    ]


def over_an_hour(world: World, job_id: str, what: str) -> list[dict[str, Any]]:
    """The job's DR monitoring figures (or RPO/RTO result), once a minute for an hour."""
    seen = []
    for _ in range(60):
        result = world.monitoring(job_id) if what == "monitoring" else world.objectives(job_id)
        assert result is not None
        seen.append(result)
        world.advance(60)
    return seen


def test_rpo_and_dr_figures_move_over_time() -> None:
    world = dr_world()
    ids = replicating_dr_jobs(world)
    assert ids
    rpo = {r["rpo_info"]["delay"] for r in over_an_hour(world, ids[0], "objectives")}
    cpu = {
        m["data_guard_minitor"]["cpuUsed_percent"]
        for m in over_an_hour(world, ids[0], "monitoring")
    }
    assert len(rpo) > 10 and len(cpu) > 10


def test_some_connection_drops_and_comes_back_within_an_hour() -> None:
    world = dr_world()
    flaky = 0
    for job_id in replicating_dr_jobs(world):
        seen = over_an_hour(world, job_id, "monitoring")
        states = [m["data_guard_minitor"]["src_normal"] for m in seen]
        states += [m["data_guard_minitor"]["dst_normal"] for m in seen]
        if False in states:
            flaky += 1
            source = [m["data_guard_minitor"]["src_normal"] for m in seen]
            target = [m["data_guard_minitor"]["dst_normal"] for m in seen]
            assert True in source and True in target  # down for minutes, not for good
    assert flaky


def test_some_disk_fills_up_and_stays_within_its_size() -> None:
    world = dr_world()
    ids = replicating_dr_jobs(world)
    used: dict[str, list[float]] = {job_id: [] for job_id in ids}
    size: dict[str, float] = {}
    for _ in range(10):
        for job_id in ids:
            result = world.monitoring(job_id)
            assert result is not None
            figures = result["data_guard_minitor"]
            used[job_id].append(float(figures["volume_used_inGB"]))
            size[job_id] = float(figures["node_volume_inGB"])
            assert 0 <= used[job_id][-1] <= size[job_id]
        world.advance(HOUR)
    filling = [
        job_id
        for job_id, seen in used.items()
        if seen == sorted(seen) and seen[0] < seen[-1] == size[job_id]
    ]
    assert filling


def test_the_quota_counts_the_projects_jobs() -> None:
    world = dr_world()
    (project,) = world.project_ids
    resource = json.loads(world.quota(project))["quotas"]["resource"]
    assert resource["type"] == "instances"
    assert 0 < resource["used"] <= 600 < resource["quota"]
