"""The exporter end to end, in process, against the simulator over real sockets."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path

import aiohttp
import pytest

from drs_exporter.cloud.auth import Request, Send, StaticToken
from drs_exporter.cloud.client import DrsClient
from drs_exporter.cloud.limiter import Limiter
from drs_exporter.cloud.transport import Transport
from drs_exporter.config import Config, Credentials, IamCredentials, MetricsConfig, load_config
from drs_exporter.drs.batch_calls import BATCH_CALLS
from drs_exporter.exporter import Exporter
from drs_exporter.metrics.families import FAMILIES
from drs_exporter.model import STATUSES
from drs_exporter.polling.counters import Counters
from drs_exporter.polling.plan import Clock, Plan, PollTarget
from drs_exporter.polling.poller import Poller
from drs_exporter.polling.sharding import Shard
from drs_exporter.polling.snapshot import Snapshot, TargetKey

from .conftest import StartSim, samples, select, sim_call, sim_config

PER_JOB = [family.name for family in FAMILIES if family.per_job]


async def poll(exporter: Exporter) -> list[tuple[str, dict[str, str], float]]:
    await exporter.poll_once()
    return samples(exporter.exposition().body(openmetrics=False, gzip=False))


def job_counts(found: list, name: str) -> Counter[tuple[str, str, str]]:
    counts: Counter[tuple[str, str, str]] = Counter()
    for _, labels, value in select(found, name):
        counts[(labels["project_id"], labels["job_type"], labels["status"])] += int(value)
    return counts


def sim_counts(summary: dict, key: str) -> Counter[tuple[str, str, str]]:
    return Counter(
        {
            (project, job_type, status): n
            for project, by_type in summary[key].items()
            for job_type, by_status in by_type.items()
            for status, n in by_status.items()
            if n
        }
    )


async def test_drs_jobs_equal_the_simulators_jobs_across_a_page_cap(start_sim: StartSim) -> None:
    sim = await start_sim(
        seed=7, projects=2, jobs=90, page_cap=7, token="t0k3n-value", status_period=0
    )
    config = sim_config(sim, Credentials(token="t0k3n-value"), page_size=20)
    async with Exporter(config) as exporter:
        found = await poll(exporter)
    summary = await sim_call(sim, "GET", "/_sim/summary")

    assert job_counts(found, "drs_jobs") == sim_counts(summary, "counts")
    assert job_counts(found, "drs_subtasks") == sim_counts(summary, "subtasks")
    assert sum(job_counts(found, "drs_jobs").values()) == 90
    for _, labels, value in select(found, "drs_up"):
        assert value == 1, labels
    # The server returns 7 a page whatever we ask: paging must follow what came back, with
    # no request wasted on an empty page when the total is known. Each list API pages the
    # jobs it lists.
    for api in ("v5", "v3"):
        per_target = Counter()
        for (project, job_type, _), n in sim_counts(summary["apis"][api], "counts").items():
            per_target[(project, job_type)] += n
        expected_pages = sum(max(1, math.ceil(n / 7)) for n in per_target.values())
        expected_pages += 6 - len(per_target)  # targets with no job at all: one request each
        (requests,) = select(found, "drs_api_requests_total", code="200", api=f"{api}_jobs")
        assert requests[2] == expected_pages, api


async def test_every_documented_status_and_an_unknown_one_is_exported(start_sim: StartSim) -> None:
    sim = await start_sim(seed=3, projects=1, jobs=0, status_period=0)
    project = sim.project_ids[0]
    statuses = [*STATUSES, "SOMETHING_NEW_FROM_HUAWEI"]
    for i, status in enumerate(statuses):
        job = {
            "id": f"job-{i}",
            "name": f"status {status}",
            "status": status,
            "engine_type": "mysql-to-mysql",
        }
        await sim_call(
            sim, "POST", "/_sim/jobs", {"project_id": project, "job_type": "sync", "job": job}
        )
    async with Exporter(sim_config(sim)) as exporter:
        found = await poll(exporter)

    exported = {
        labels["status"] for _, labels, v in select(found, "drs_jobs", job_type="sync") if v
    }
    assert exported == set(statuses)
    for i, status in enumerate(statuses):
        (sample,) = select(found, "drs_job_status", job_id=f"job-{i}")
        assert sample[1]["status"] == status and sample[2] == 1
    (failed,) = select(found, "drs_jobs_failed", job_type="sync")
    assert failed[2] == sum(s.endswith("_FAILED") for s in statuses) == 7
    # Targets polled successfully report 0 failed rather than nothing.
    (none_failed,) = select(found, "drs_jobs_failed", job_type="migration")
    assert none_failed[2] == 0


async def test_dense_status_mode_exports_every_known_status(start_sim: StartSim) -> None:
    sim = await start_sim(seed=3, projects=1, jobs=0, status_period=0)
    job = {"id": "only", "status": "INCRE_TRANSFER_STARTED"}
    await sim_call(
        sim,
        "POST",
        "/_sim/jobs",
        {"project_id": sim.project_ids[0], "job_type": "migration", "job": job},
    )
    config = sim_config(sim)
    config = dataclasses.replace(config, metrics=MetricsConfig(dense_status=True))
    async with Exporter(config) as exporter:
        found = await poll(exporter)
    series = select(found, "drs_job_status", job_id="only")
    assert len(series) == 22
    assert {s[1]["status"] for s in series if s[2] == 1} == {"INCRE_TRANSFER_STARTED"}


async def test_children_are_counted_as_subtasks_and_listed_with_their_parent(
    start_sim: StartSim,
) -> None:
    sim = await start_sim(seed=11, projects=1, jobs=30, children_ratio=0.5)
    async with Exporter(sim_config(sim)) as exporter:
        found = await poll(exporter)
    info = select(found, "drs_job_info")
    parents = {labels["job_id"] for _, labels, _ in info if labels["parent_job_id"] == ""}
    children = [labels for _, labels, _ in info if labels["parent_job_id"] != ""]
    assert children, "the simulator was asked for jobs with children"
    assert all(c["parent_job_id"] in parents for c in children)
    assert sum(v for _, _, v in select(found, "drs_subtasks")) == len(children)
    assert sum(v for _, _, v in select(found, "drs_jobs")) == len(parents)


async def test_a_job_removed_from_the_api_is_gone_from_the_next_scrape(start_sim: StartSim) -> None:
    sim = await start_sim(seed=5, projects=1, jobs=12)
    async with Exporter(sim_config(sim)) as exporter:
        before = await poll(exporter)
        victim = select(before, "drs_job_info", parent_job_id="")[0][1]["job_id"]
        await sim_call(sim, "DELETE", f"/_sim/jobs/{victim}")
        after = await poll(exporter)
    assert select(before, "drs_job_status", job_id=victim)
    for name in PER_JOB:
        assert not select(after, name, job_id=victim), name
    assert sum(v for _, _, v in select(after, "drs_jobs")) == 11


async def test_per_job_off_keeps_only_the_aggregates(start_sim: StartSim) -> None:
    sim = await start_sim(seed=5, projects=1, jobs=12)
    config = sim_config(sim)
    config = dataclasses.replace(config, metrics=MetricsConfig(per_job=False))
    async with Exporter(config) as exporter:
        found = await poll(exporter)
    assert not any(name.startswith("drs_job_") for name, _, _ in found)
    assert sum(v for _, _, v in select(found, "drs_jobs")) == 12
    # Their figures would be per job: the batch calls are not asked (the quota still is).
    batch = [call.api for call in BATCH_CALLS]
    assert not sim.requests.of(*batch)
    assert sim.requests.of("v3_quotas")


async def test_status_since_is_kept_while_the_status_holds(start_sim: StartSim) -> None:
    now = [1_700_000_000.0]
    sim = await start_sim(seed=2, projects=1, jobs=0, status_period=0)
    project = sim.project_ids[0]
    job = {"id": "steady", "status": "FULL_TRANSFER_STARTED"}
    await sim_call(
        sim, "POST", "/_sim/jobs", {"project_id": project, "job_type": "sync", "job": job}
    )
    async with Exporter(sim_config(sim), clock=Clock(wall=lambda: now[0])) as exporter:
        first = await poll(exporter)
        now[0] += 120
        second = await poll(exporter)
        await sim_call(sim, "POST", "/_sim/jobs/steady/status", {"status": "FULL_TRANSFER_FAILED"})
        now[0] += 60
        third = await poll(exporter)

    def since(found: list) -> float:
        (s,) = select(found, "drs_job_status_since_timestamp_seconds", job_id="steady")
        return s[2]

    assert since(first) == since(second) == 1_700_000_000.0
    assert since(third) == 1_700_000_180.0


async def iam_config(start_sim: StartSim, clock: Callable[[], float], token_ttl: float) -> Config:
    """A simulator issuing IAM tokens on ``clock``, and a config logging in to it."""
    sim = await start_sim(
        clock=clock,
        seed=1,
        projects=1,
        jobs=6,
        iam_domain="acme",
        iam_user="ops",
        iam_password="iam-pass-W0rd",
        token_ttl=token_ttl,
    )
    iam = IamCredentials(
        domain_name="acme", username="ops", password="iam-pass-W0rd", endpoint=sim.url
    )
    return sim_config(sim, Credentials(iam=iam))


async def test_iam_token_is_cached_and_refreshed_before_it_expires(start_sim: StartSim) -> None:
    now = [1_700_000_000.0]
    config = await iam_config(start_sim, lambda: now[0], token_ttl=1000)
    async with Exporter(config, clock=Clock(wall=lambda: now[0])) as exporter:
        await poll(exporter)
        now[0] += 500  # well within the token's life: no new login
        await poll(exporter)
        now[0] += 450  # less than a tenth of the lifetime left: log in again before it dies
        found = await poll(exporter)
        now[0] += 60  # the first token has now expired; the second is used
        found = await poll(exporter)
    (logins,) = select(found, "drs_api_requests_total", code="201")
    assert logins[2] == 2
    assert not select(found, "drs_api_requests_total", code="401")
    assert all(v == 1 for _, _, v in select(found, "drs_up"))


async def test_a_token_refused_with_401_is_renewed_once_and_the_poll_succeeds(
    start_sim: StartSim,
) -> None:
    sim_now = [1_700_000_000.0]
    config = await iam_config(start_sim, lambda: sim_now[0], token_ttl=3600)
    # One request at a time (one job type, one list API): every request in flight when the
    # token dies is refused once.
    one = dataclasses.replace(config.targets[0], job_types=("sync",), apis=("v5",))
    config = dataclasses.replace(config, targets=(one,))
    async with Exporter(config, clock=Clock(wall=lambda: 1_700_000_000.0)) as exporter:
        await poll(exporter)
        sim_now[0] += 7200  # the server considers the token dead; our clock does not know
        found = await poll(exporter)
    assert all(v == 1 for _, _, v in select(found, "drs_up"))
    (refused,) = select(found, "drs_api_requests_total", code="401")
    assert refused[2] == 1  # one 401, then a new login, then success for every job type
    (logins,) = select(found, "drs_api_requests_total", code="201")
    assert logins[2] == 2


async def test_no_secret_reaches_the_logs_or_the_metrics(
    start_sim: StartSim, caplog: pytest.LogCaptureFixture
) -> None:
    ak, sk = "AKIDSECRETACCESS01", "sk-very-secret-value-42"
    sim = await start_sim(seed=4, projects=1, jobs=9, access_key=ak, secret_key=sk, error_rate=0.3)
    caplog.set_level(logging.DEBUG)
    config = sim_config(sim, Credentials(access_key=ak, secret_key=sk), retries=2)
    async with Exporter(config) as exporter:
        found = await poll(exporter)
        body = exporter.exposition().body(openmetrics=True, gzip=False).decode()
    assert select(found, "drs_up")
    wrong = sim_config(sim, Credentials(access_key=ak, secret_key="wrong-" + sk))
    async with Exporter(wrong) as exporter:
        refused = await poll(exporter)
    assert all(v == 0 for _, _, v in select(refused, "drs_up"))
    assert select(refused, "drs_poll_errors_total", reason="auth")
    text = caplog.text + body + repr(config)
    assert "poll failed" in caplog.text
    for secret in (sk, "wrong-" + sk):
        assert secret not in text


async def test_a_reload_whose_ca_file_is_not_pem_is_rejected_and_polling_goes_on(
    start_sim: StartSim, tmp_path: Path
) -> None:
    sim = await start_sim(seed=5, projects=1, jobs=6, status_period=0)
    path = tmp_path / "config.yaml"
    target = f"targets:\n  - {{project_id: {sim.project_ids[0]}, region: cn-north-4, endpoint: '{sim.url}'}}\n"
    path.write_text("credentials: {token: t}\n" + target)
    (tmp_path / "ca.pem").write_text("this is not a certificate\n")
    async with Exporter(load_config(str(path)), config_path=str(path)) as exporter:
        path.write_text("credentials: {token: t}\nhttp: {ca_file: ca.pem}\n" + target)
        error = await exporter.reload()
        found = await poll(exporter)
    assert error is not None and error.startswith("http.ca_file: cannot load CA certificates")
    (ok,) = select(found, "drs_exporter_config_last_reload_successful")
    assert ok[2] == 0
    assert sum(v for _, _, v in select(found, "drs_jobs")) == 6
    assert all(v == 1 for _, _, v in select(found, "drs_up"))


class BrokenAuthenticator:
    """An authenticator with a bug in it: the exporter's own code raising unexpectedly."""

    async def headers(self, request: Request, send: Send) -> dict[str, str]:
        return {"X-Auth-Token": str(1 // 0)}

    def invalidate(self, sent: Mapping[str, str]) -> bool:
        return False


async def test_a_bug_in_the_exporter_counts_as_internal_and_spares_the_other_targets(
    start_sim: StartSim, caplog: pytest.LogCaptureFixture
) -> None:
    sim = await start_sim(seed=4, projects=2, jobs=12, status_period=0)
    broken, healthy = sim.project_ids
    config = sim_config(sim)
    counters = Counters()
    published: list[Snapshot] = []
    async with aiohttp.ClientSession() as session:
        transport = Transport(session, Limiter(4, 1000.0), counters, 5.0)
        targets = tuple(
            PollTarget(
                TargetKey(t.project_id, t.region, "sync"),
                t,
                BrokenAuthenticator() if t.project_id == broken else StaticToken("test-token"),
            )
            for t in config.targets
        )
        plan = Plan(targets, DrsClient(transport, retries=2), config.poll)
        await Poller(plan, counters, published.append).cycle()
    by_project = {state.key.project_id: state for state in published[-1].targets}
    assert not by_project[broken].up and by_project[healthy].up
    assert by_project[healthy].jobs
    assert dict(published[-1].poll_errors) == {(targets[0].key, "internal"): 1}
    assert "unexpected ZeroDivisionError" in caplog.text


def sharded_config_text(sim_url: str, projects: list[str]) -> str:
    targets = "".join(
        f"  - {{project_id: {p}, region: ap-southeast-1, endpoint: '{sim_url}'}}\n"
        for p in projects
    )
    return "credentials: {token: test-token}\ntargets:\n" + targets


async def test_a_shard_polls_only_its_targets_and_a_reload_keeps_the_shard(
    start_sim: StartSim, tmp_path: Path
) -> None:
    sim = await start_sim(seed=21, projects=4, jobs=36, status_period=0)
    shard = Shard(0, 2)

    def mine(projects: list[str]) -> set[TargetKey]:
        keys = {
            TargetKey(p, "ap-southeast-1", jt)
            for p in projects
            for jt in ("migration", "sync", "cloudDataGuard")
        }
        return {k for k in keys if shard.owns(k.project_id, k.region, k.job_type)}

    first, everything = sim.project_ids[:2], sim.project_ids
    assert mine(first) and mine(everything) != mine(first)
    path = tmp_path / "config.yaml"
    path.write_text(sharded_config_text(sim.url, first))
    async with Exporter(load_config(str(path)), shard=shard, config_path=str(path)) as exporter:
        before = await exporter.poll_once()
        path.write_text(sharded_config_text(sim.url, everything))
        assert await exporter.reload() is None
        after = await exporter.poll_once()
    assert {t.key for t in before.targets} == mine(first)
    assert {t.key for t in after.targets} == mine(everything)
    assert before.shard == after.shard == shard
    assert all(t.up for t in after.targets)


async def test_a_shard_without_targets_is_ready_at_once_and_says_so(
    start_sim: StartSim, caplog: pytest.LogCaptureFixture
) -> None:
    sim = await start_sim(seed=21, projects=1, jobs=3, status_period=0)
    (project,) = sim.project_ids
    config = dataclasses.replace(
        sim_config(sim),
        targets=tuple(dataclasses.replace(t, job_types=("sync",)) for t in sim_config(sim).targets),
    )
    idle = next(
        Shard(i, 2) for i in range(2) if not Shard(i, 2).owns(project, "ap-southeast-1", "sync")
    )
    async with Exporter(config, shard=idle) as exporter:
        assert exporter.ready()  # nothing to wait for
        found = await poll(exporter)
    assert not select(found, "drs_up")
    (shard,) = select(found, "drs_exporter_shard")
    assert shard[1] == {"shard": str(idle.index), "total_shards": "2"}
    assert f"shard {idle.index} of 2 owns none of the 1 configured targets" in caplog.text


async def test_the_proxy_from_the_environment_is_used_unless_no_proxy_says_otherwise(
    start_sim: StartSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The simulator answers a request in the absolute form a proxy is sent, so it stands in
    # for a proxy that reaches a DRS endpoint no resolver knows.
    sim = await start_sim(seed=2, projects=1, jobs=6, status_period=0)
    config = sim_config(sim)
    unknown = tuple(
        dataclasses.replace(t, endpoint="http://drs.unknown.invalid") for t in config.targets
    )
    monkeypatch.setenv("HTTP_PROXY", sim.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with Exporter(dataclasses.replace(config, targets=unknown)) as exporter:
        found = await poll(exporter)
    assert all(v == 1 for _, _, v in select(found, "drs_up"))
    assert sum(v for _, _, v in select(found, "drs_jobs")) == 6

    monkeypatch.setenv("NO_PROXY", "drs.unknown.invalid")
    async with Exporter(dataclasses.replace(config, targets=unknown)) as exporter:
        found = await poll(exporter)
    assert all(v == 0 for _, _, v in select(found, "drs_up"))
    assert select(found, "drs_poll_errors_total", reason="network")
