"""Sharded replicas as an operator runs them: real processes against one simulator.

Three exporters with ``--total-shards 3`` poll every target exactly once between them; a
replica started as a StatefulSet pod (``--shard auto``) finds its shard in its host name;
a shard that owns no target still serves its own metrics and becomes ready; every bad flag
exits 2 with one line.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import aiohttp
import pytest

from drs_exporter.polling.sharding import Shard

from .conftest import EXE, Sample, StartSim, samples, select, sim_call, start_serving, wait_ready
from .test_cli import run, write_config

TOKEN = "cli-token"  # what test_cli.write_config writes
REGION = "ap-southeast-1"
JOB_TYPES = ("migration", "sync", "cloudDataGuard")

Target = tuple[str, str, str]


def all_targets(projects: Iterable[str]) -> set[Target]:
    return {(p, REGION, jt) for p in projects for jt in JOB_TYPES}


def owned(shard: Shard, projects: Iterable[str]) -> set[Target]:
    return {t for t in all_targets(projects) if shard.owns(*t)}


def up_targets(found: list[Sample]) -> set[Target]:
    """The targets a replica reports on: one drs_up series each."""
    return {
        (labels["project_id"], labels["region"], labels["job_type"])
        for _, labels, _ in select(found, "drs_up")
    }


def shard_labels(found: list[Sample]) -> list[dict[str, str]]:
    return [labels for _, labels, value in select(found, "drs_exporter_shard") if value == 1]


def job_counts(found: list[Sample]) -> Counter[tuple[str, str, str]]:
    counts: Counter[tuple[str, str, str]] = Counter()
    for _, labels, value in select(found, "drs_jobs"):
        counts[(labels["project_id"], labels["job_type"], labels["status"])] += int(value)
    return counts


def simulator_counts(summary: dict) -> Counter[tuple[str, str, str]]:
    return Counter(
        {
            (project, job_type, status): n
            for project, by_type in summary["counts"].items()
            for job_type, by_status in by_type.items()
            for status, n in by_status.items()
            if n
        }
    )


class Replica:
    """One ``drs-exporter`` serving process on a loopback port."""

    def __init__(self, proc: asyncio.subprocess.Process, base: str) -> None:
        self.proc = proc
        self.base = base
        self.log = ""

    async def scrape(self, session: aiohttp.ClientSession) -> list[Sample]:
        async with session.get(self.base + "/metrics") as resp:
            assert resp.status == 200
            return samples(await resp.text())

    async def stop(self) -> None:
        """SIGTERM, then keep the log; a second call does nothing."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(self.proc.communicate(), 20)
            self.log = err.decode()


@pytest.fixture
async def replicas() -> AsyncIterator[list[Replica]]:
    """Replicas the test starts (``start_replica``); all are stopped after it."""
    running: list[Replica] = []
    yield running
    for replica in running:
        await replica.stop()


async def start_replica(running: list[Replica], config: Path, *flags: str) -> Replica:
    proc, base = await start_serving(config, *flags)
    replica = Replica(proc, base)
    running.append(replica)
    return replica


async def test_three_shards_poll_every_target_exactly_once(
    start_sim: StartSim, tmp_path: Path, replicas: list[Replica]
) -> None:
    sim = await start_sim(seed=21, projects=6, jobs=180, token=TOKEN, status_period=0)
    config = write_config(tmp_path, sim.url, sim.project_ids)
    shards = [Shard(i, 3) for i in range(3)]
    expected = {shard: owned(shard, sim.project_ids) for shard in shards}
    assert all(expected.values()), "the simulator's projects should give every shard a target"

    started = [
        await start_replica(replicas, config, "--total-shards", "3", "--shard", str(s.index))
        for s in shards
    ]
    found: dict[Shard, list[Sample]] = {}
    async with aiohttp.ClientSession() as session:
        for shard, replica in zip(shards, started, strict=True):
            await wait_ready(session, replica.base)
            found[shard] = await replica.scrape(session)
    summary = await sim_call(sim, "GET", "/_sim/summary")

    polled = {shard: up_targets(found[shard]) for shard in shards}
    for shard in shards:
        assert polled[shard] == expected[shard], shard
        assert all(v == 1 for _, _, v in select(found[shard], "drs_up")), shard
        assert shard_labels(found[shard]) == [{"shard": str(shard.index), "total_shards": "3"}]
    # Every target once: the union is all of them and no two shards share one.
    assert set().union(*polled.values()) == all_targets(sim.project_ids)
    assert sum(len(p) for p in polled.values()) == len(all_targets(sim.project_ids)) == 18
    # Added up, the shards' drs_jobs are the simulator's jobs, status by status.
    total: Counter[tuple[str, str, str]] = Counter()
    for shard in shards:
        total.update(job_counts(found[shard]))
    assert total == simulator_counts(summary)
    assert sum(total.values()) == 180


async def test_a_shard_that_owns_no_target_says_so_and_serves_its_own_metrics(
    start_sim: StartSim, tmp_path: Path, replicas: list[Replica]
) -> None:
    sim = await start_sim(seed=21, projects=1, jobs=3, token=TOKEN, status_period=0)
    (project,) = sim.project_ids
    config = tmp_path / "config.yaml"
    config.write_text(
        f"credentials:\n  token: {TOKEN}\ntargets:\n  - project_id: {project}\n"
        f"    region: {REGION}\n    endpoint: {sim.url}\n    job_types: [sync]\n"
    )
    # One target, two shards: one of them owns nothing.
    idle = next(Shard(i, 2) for i in range(2) if not Shard(i, 2).owns(project, REGION, "sync"))
    replica = await start_replica(replicas, config, "--total-shards=2", f"--shard={idle.index}")
    async with aiohttp.ClientSession() as session:
        await wait_ready(session, replica.base)  # nothing to wait for: ready at once
        found = await replica.scrape(session)
    assert up_targets(found) == set() and not select(found, "drs_jobs")
    assert shard_labels(found) == [{"shard": str(idle.index), "total_shards": "2"}]
    assert select(found, "drs_exporter_build_info")
    await replica.stop()
    assert replica.proc.returncode == 0, replica.log
    assert f"shard {idle.index} of 2 owns none of the 1 configured targets" in replica.log
    assert "Traceback" not in replica.log


async def test_check_and_once_see_only_their_shard(start_sim: StartSim, tmp_path: Path) -> None:
    sim = await start_sim(seed=21, projects=3, jobs=27, token=TOKEN, status_period=0)
    config = write_config(tmp_path, sim.url, sim.project_ids)
    shard = Shard(1, 3)
    mine = owned(shard, sim.project_ids)
    assert mine

    code, out, err = await run(
        "once", "--config.file", str(config), "--total-shards=3", "--shard=1"
    )
    assert code == 0, err
    found = samples(out)
    assert up_targets(found) == mine
    assert shard_labels(found) == [{"shard": "1", "total_shards": "3"}]

    code, out, err = await run(
        "check", "--config.file", str(config), "--total-shards", "3", "--shard", "1"
    )
    assert code == 0, err
    rows = [line.split() for line in out.splitlines()[1:]]
    assert {(row[0], row[1], row[2]) for row in rows} == mine
    assert all(row[4] == "answered" for row in rows)
    assert sorted(row[3] for row in rows) == sorted(["v5", "v3"] * len(mine))  # a row per API


# --- --shard auto: the ordinal of the host name, in a UTS namespace of the test's own -------


def _can_set_hostname() -> bool:
    """Root, with unshare(1) able to make a UTS namespace here (not in every container)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--uts", "hostname", "drs-exporter-probe-0"],
        capture_output=True,
        timeout=20,
        check=False,
    )
    return probe.returncode == 0


needs_uts = pytest.mark.skipif(
    not _can_set_hostname(), reason="needs root and unshare --uts to set a host name"
)


async def run_as_host(hostname: str, *args: str) -> tuple[int, str, str]:
    """Run drs-exporter with ``hostname`` as the host name, in a UTS namespace of its own."""
    return await run_command(
        "unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', hostname, EXE, *args
    )


async def run_command(*argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@needs_uts
async def test_shard_auto_takes_the_ordinal_of_a_statefulset_pods_host_name(
    start_sim: StartSim, tmp_path: Path
) -> None:
    sim = await start_sim(seed=21, projects=4, jobs=36, token=TOKEN, status_period=0)
    config = write_config(tmp_path, sim.url, sim.project_ids)
    expected = owned(Shard(2, 3), sim.project_ids)
    assert expected

    code, out, err = await run_as_host(
        "drs-exporter-2", "once", f"--config.file={config}", "--total-shards=3", "--shard=auto"
    )
    assert code == 0, err
    found = samples(out)
    assert up_targets(found) == expected
    assert shard_labels(found) == [{"shard": "2", "total_shards": "3"}]


@needs_uts
@pytest.mark.parametrize(
    ("hostname", "message"),
    [
        ("drs-exporter", "--shard auto: the host name 'drs-exporter' does not end in an ordinal"),
        ("drs-exporter-3", "--shard auto: the host name 'drs-exporter-3' gives shard 3"),
    ],
)
async def test_shard_auto_without_a_usable_ordinal_exits_2_in_one_line(
    tmp_path: Path, hostname: str, message: str
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", ["p1"])
    for command in ([], ["once"], ["check"]):
        code, _, err = await run_as_host(
            hostname, *command, f"--config.file={config}", "--total-shards=3", "--shard=auto"
        )
        assert code == 2, (command, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        assert err.startswith(f"drs-exporter: {message}"), err


# --- bad values --------------------------------------------------------------------------

BAD_FLAGS = [
    (["--total-shards", "0"], "--total-shards: must be at least 1"),
    (["--total-shards", "-3"], "--total-shards: expected a non-negative integer"),
    (["--total-shards", "2.5"], "--total-shards: expected a non-negative integer"),
    (["--total-shards", "many"], "--total-shards: expected a non-negative integer"),
    (["--shard", "3", "--total-shards", "3"], "--shard: 3 is not below --total-shards 3"),
    (["--shard", "1"], "--shard: 1 is not below --total-shards 1"),
    (
        ["--shard", "-1", "--total-shards", "2"],
        "--shard: expected a non-negative integer or 'auto'",
    ),
    (["--shard=x", "--total-shards=2"], "--shard: expected a non-negative integer or 'auto'"),
    (
        ["--shard", "1.0", "--total-shards", "2"],
        "--shard: expected a non-negative integer or 'auto'",
    ),
]


@pytest.mark.parametrize(("flags", "message"), BAD_FLAGS)
async def test_a_bad_shard_flag_exits_2_with_one_line_naming_it(
    tmp_path: Path, flags: list[str], message: str
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", ["p1"])
    for command in ([], ["once"], ["check"]):
        code, out, err = await run(*command, "--config.file", str(config), *flags)
        assert code == 2, (command, flags, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        assert err.startswith(f"drs-exporter: {message}"), err
        assert out == ""


async def test_every_command_that_polls_documents_the_shard_flags() -> None:
    for command in ([], ["once"], ["check"]):
        code, out, _ = await run(*command, "--help")
        assert code == 0
        assert "--total-shards M" in out and "--shard N|auto" in out, out
