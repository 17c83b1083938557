"""What a job says of itself, end to end over sockets: its subscription, the alarm thresholds
set on it and its tags, from batch-detail, with Huawei's SDK as a second reader of the same
answers.

The simulator runs on a frozen clock, so what it serves the exporter is what it serves the
SDK afterwards. The rotation of batch-detail is followed on an exporter clock the test moves.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from huaweicloudsdkdrs import v3

from drs_exporter.config import Config, Credentials, MetricsConfig
from drs_exporter.exporter import Exporter
from drs_exporter.logs import LogfmtFormatter
from drs_exporter.model import JOB_TYPES
from drs_exporter.polling.plan import Clock

from .conftest import EXE, Sample, StartSim, samples, select, sim_config
from .simulated import Simulated
from .test_sdk_fidelity import AK, SK, Exchanges, client
from .test_simulator_detail import expiry, top_level

DETAIL_API = "v3_batch_detail"
DETAIL_FAMILIES = (
    "drs_job_subscription_expiry_timestamp_seconds",
    "drs_job_subscription_auto_renew",
    "drs_job_alarm_delay_threshold_seconds",
    "drs_job_alarm_rpo_threshold_seconds",
    "drs_job_alarm_rto_threshold_seconds",
    "drs_job_tags",
)
ALLOWED = ("env", "cost-center", "cost_center", "app.kubernetes.io/name")
# The v3 client's methods warn that they are deprecated (in favour of newer names).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
# The personal data an alarm's subscriptions hold in the simulator's world.
SUBSCRIBER_MARKS = ("@example.com", "+86138")


async def world(start_sim: StartSim, **options: Any) -> Simulated:
    started = time.time()
    defaults: dict[str, Any] = dict(seed=9, projects=1, jobs=240, children_ratio=0.2)
    return await start_sim(
        clock=lambda: started,
        status_period=0,
        access_key=AK,
        secret_key=SK,
        **{**defaults, **options},
    )


def config(sim: Simulated, **metrics: Any) -> Config:
    base = sim_config(sim, credentials=Credentials(access_key=AK, secret_key=SK))
    return dataclasses.replace(base, metrics=MetricsConfig(**metrics))


async def poll(exporter: Exporter) -> list[Sample]:
    await exporter.poll_once()
    return samples(exporter.exposition().body(openmetrics=False, gzip=False))


def top_level_ids(sim: Simulated) -> list[str]:
    return [job["id"] for job in top_level(sim.world)]


async def sdk_details(sim: Simulated, ids: list[str]) -> dict[str, Any]:
    """What Huawei's SDK reads of batch-detail for these jobs, by job id."""
    drs = client(v3.DrsClient, sim, Exchanges())
    found: dict[str, Any] = {}
    for k in range(0, len(ids), 100):
        page = v3.BatchQueryJobReqPage(
            jobs=ids[k : k + 100], page_req=v3.PageReq(cur_page=1, per_page=100)
        )
        answer = await asyncio.to_thread(
            drs.batch_list_job_details, v3.BatchListJobDetailsRequest(body=page)
        )
        found.update({result.id: result for result in answer.results})
    return found


def label_name(key: str) -> str:
    return "tag_" + "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in key)


def by_job(found: list[Sample], name: str) -> dict[str, float]:
    return {labels["job_id"]: v for _, labels, v in select(found, name)}


async def test_every_figure_is_what_batch_detail_served(start_sim: StartSim) -> None:
    sim = await world(start_sim)
    async with Exporter(config(sim, job_tags=ALLOWED)) as exporter:
        found = await poll(exporter)
    ids = top_level_ids(sim)
    read = await sdk_details(sim, ids)
    assert set(read) == set(ids)
    expected: dict[str, dict[str, float]] = {name: {} for name in DETAIL_FAMILIES[:-1]}
    tags: dict[str, dict[str, str]] = {}
    for job_id, result in read.items():
        order, notify = result.period_order, result.alarm_notify
        if order is not None:
            expected["drs_job_subscription_expiry_timestamp_seconds"][job_id] = expiry(
                order.exp_time
            )
            expected["drs_job_subscription_auto_renew"][job_id] = order.is_auto_renew
        for name, value in (
            ("drs_job_alarm_delay_threshold_seconds", notify and notify.delay_time),
            ("drs_job_alarm_rpo_threshold_seconds", notify and notify.rpo_delay),
            ("drs_job_alarm_rto_threshold_seconds", notify and notify.rto_delay),
        ):
            if value:  # absent, null or 0: not set
                expected[name][job_id] = value
        kept: dict[str, str] = {}
        for tag in result.tags or []:
            if tag.key in ALLOWED:
                kept.setdefault(label_name(tag.key), tag.value)
        if kept:
            tags[job_id] = kept
    for name, values in expected.items():
        assert values, f"the world should give some job a {name}"
        assert by_job(found, name) == pytest.approx(values), name
    exported_tags = {
        labels["job_id"]: {k: v for k, v in labels.items() if k.startswith("tag_")}
        for _, labels, _ in select(found, "drs_job_tags")
    }
    assert exported_tags == tags
    # A collision kept the first of the two keys; a key no label name holds was made one.
    assert any(t.get("tag_cost_center") == "cc-2002" for t in tags.values())
    assert any("tag_app_kubernetes_io_name" in t for t in tags.values())
    # Only top-level jobs are asked, and no subscriber's address or number is shown.
    asked = {i for call in sim.requests.of(DETAIL_API) for i in call.ids}
    assert asked == set(ids)
    body = "\n".join(f"{name} {labels}" for name, labels, _ in found)
    assert not any(mark in body for mark in SUBSCRIBER_MARKS)


@pytest.mark.parametrize(
    ("job_tags", "labels"),
    [
        ((), None),
        (("env",), {"tag_env"}),
        (("*",), {"tag_env", "tag_team", "tag_cost_center", "tag___", "tag_Owner"}),
    ],
)
async def test_tags_follow_the_allowlist(
    start_sim: StartSim, job_tags: tuple[str, ...], labels: set[str] | None
) -> None:
    sim = await world(start_sim)
    async with Exporter(config(sim, job_tags=job_tags)) as exporter:
        found = await poll(exporter)
    exported = {k for _, ls, _ in select(found, "drs_job_tags") for k in ls if k.startswith("tag_")}
    if labels is None:
        assert not select(found, "drs_job_tags")
    else:
        assert labels <= exported and exported <= {label_name(k) for k in _every_key(sim)}
        if job_tags == ("env",):
            assert exported == {"tag_env"}


def _every_key(sim: Simulated) -> set[str]:
    return {
        tag["key"]
        for job_id in top_level_ids(sim)
        for tag in (sim.world.detail(job_id) or {}).get("tags") or []
    }


async def test_detail_off_sends_no_request_and_writes_no_series(start_sim: StartSim) -> None:
    sim = await world(start_sim)
    async with Exporter(config(sim, detail=False)) as exporter:
        found = await poll(exporter)
    assert not sim.requests.of(DETAIL_API)
    assert not {name for name, _, _ in found} & set(DETAIL_FAMILIES)


async def test_each_job_is_asked_once_an_interval_a_request_now_and_then(
    start_sim: StartSim,
) -> None:
    """Every job when first seen; then, polled every minute with an interval of an hour, each
    job once an interval, in whole requests spread over the polls: a steady poll asks a
    sixtieth of the jobs on average, and most polls none."""
    sim = await world(start_sim, jobs=600)
    offset = [0.0]
    clock = Clock(wall=time.time, monotonic=lambda: 1_000_000.0 + offset[0])
    cfg = config(sim, job_tags=("env",))
    cfg = dataclasses.replace(
        cfg, poll=dataclasses.replace(cfg.poll, interval=60.0, max_requests_per_second=1000)
    )
    async with Exporter(cfg, clock=clock) as exporter:
        first = await poll(exporter)
        jobs = top_level_ids(sim)
        assert len({i for c in sim.requests.of(DETAIL_API) for i in c.ids}) == len(jobs)
        asked: dict[int, list[str]] = {}
        requests: dict[int, int] = {}
        # A poll a minute (what is earned is of the time since the last poll), through the
        # hour in which every job is due again and some more.
        for minute in (30, *range(59, 150)):
            offset[0] = 60.0 * minute
            sim.requests.reset()
            found = await poll(exporter)
            calls = sim.requests.of(DETAIL_API)
            asked[minute] = [i for c in calls for i in c.ids]
            requests[minute] = len(calls)
            # Figures stand between a job's turns.
            name = "drs_job_subscription_auto_renew"
            assert by_job(found, name) == by_job(first, name)
    print(f"\n[detail] {len(jobs)} top-level jobs, batch-detail requests a poll: {requests}")
    assert not asked[30] and not asked[59]  # nothing is due within the first hour
    when: dict[str, list[int]] = {}
    for minute, ids in asked.items():
        for job_id in ids:
            when.setdefault(job_id, []).append(minute)
    assert set(when) == set(jobs)  # every job had its turn ...
    assert all(len(m) == 1 or m[1] - m[0] >= 60 for m in when.values())  # ... once an hour
    steady = [requests[m] for m in range(60, 120)]
    assert sum(len(asked[m]) for m in range(60, 150)) <= len(jobs) + 300
    assert steady.count(0) > len(steady) / 2 and max(steady) <= len(per_target(sim))


def per_target(sim: Simulated) -> dict[str, int]:
    (project,) = sim.project_ids
    return {
        job_type: len(
            {j["id"] for api in ("v5", "v3") for j in sim.world.jobs(project, job_type, api)}
        )
        for job_type in JOB_TYPES
    }


async def test_a_failed_request_keeps_the_last_figures_and_fails_no_poll(
    start_sim: StartSim,
) -> None:
    sim = await world(start_sim)
    offset = [0.0]
    clock = Clock(wall=time.time, monotonic=lambda: 2_000_000.0 + offset[0])
    async with Exporter(config(sim), clock=clock) as exporter:
        first = await poll(exporter)
        bad = {"status": 500, "body": {"error_code": "DRS.10000001", "error_msg": "boom"}}
        sim.script([bad] * 200, api=DETAIL_API)
        offset[0] = 3600.0 + 60.0  # every job due again
        during = await poll(exporter)
        # Past detail_interval + stale_after, and long enough since the last poll for every
        # job's turn to come: each is asked, fails, and its figures go.
        offset[0] = 2 * 3600.0 + 800.0
        after = await poll(exporter)
    name = "drs_job_alarm_delay_threshold_seconds"
    assert by_job(first, name) and by_job(during, name) == by_job(first, name)
    assert not by_job(after, name)
    assert {v for _, _, v in select(after, "drs_up")} == {1.0}
    assert not select(after, "drs_poll_errors_total")


async def test_a_time_that_cannot_be_read_gives_no_series_and_one_log_line(
    start_sim: StartSim, caplog: pytest.LogCaptureFixture
) -> None:
    sim = await world(start_sim, jobs=3)
    odd = {
        "id": "odd-1",
        "name": "odd",
        "status": "INCRE_TRANSFER_STARTED",
        "period_order": {"exp_time": "next Tuesday", "is_auto_renew": 1},
        "alarm_notify": {"delay_time": "300", "rpo_delay": "soon"},
        "tags": [{"key": "env", "value": "prod"}, "not a tag", {"value": "no key"}],
    }
    sim.world.add_job(sim.project_ids[0], "sync", odd, ["v3"])
    caplog.set_level(logging.WARNING)
    async with Exporter(config(sim, job_tags=("env",))) as exporter:
        found = await poll(exporter)
        await exporter.poll_once()
    assert "odd-1" not in by_job(found, "drs_job_subscription_expiry_timestamp_seconds")
    assert by_job(found, "drs_job_subscription_auto_renew")["odd-1"] == 1
    assert by_job(found, "drs_job_alarm_delay_threshold_seconds")["odd-1"] == 300
    assert "odd-1" not in by_job(found, "drs_job_alarm_rpo_threshold_seconds")
    tags = [labels for _, labels, _ in select(found, "drs_job_tags") if labels["job_id"] == "odd-1"]
    assert [t["tag_env"] for t in tags] == ["prod"]
    said = [r.getMessage() for r in caplog.records if "next Tuesday" in r.getMessage()]
    assert len(said) == 1 and "odd-1" in said[0]
    assert {v for _, _, v in select(found, "drs_up")} == {1.0}


async def test_times_of_a_form_not_read_are_said_once_however_many_jobs_have_them(
    start_sim: StartSim, caplog: pytest.LogCaptureFixture
) -> None:
    """A form DRS might send and the exporter does not read would differ in every job's
    value: one line says so, not one a job."""
    sim = await world(start_sim, jobs=3)
    for n in range(5):
        odd = {
            "id": f"odd-{n}",
            "name": "odd",
            "status": "INCRE_TRANSFER_STARTED",
            "period_order": {"exp_time": f"2027/01/0{n + 1} 10:00", "is_auto_renew": 0},
        }
        sim.world.add_job(sim.project_ids[0], "sync", odd, ["v3"])
    caplog.set_level(logging.WARNING)
    async with Exporter(config(sim)) as exporter:
        found = await poll(exporter)
    expiring = by_job(found, "drs_job_subscription_expiry_timestamp_seconds")
    assert not {f"odd-{n}" for n in range(5)} & set(expiring)
    assert by_job(found, "drs_job_subscription_auto_renew")["odd-4"] == 0
    said = [r.getMessage() for r in caplog.records if "exp_time" in r.getMessage()]
    assert len(said) == 1, said


async def test_no_subscriber_reaches_the_log_or_check(start_sim: StartSim, tmp_path: Path) -> None:
    sim = await world(start_sim)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        async with Exporter(config(sim, job_tags=("*",))) as exporter:
            await exporter.poll_once()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    path = tmp_path / "config.yaml"
    path.write_text(
        f"credentials: {{access_key: {AK}, secret_key: {SK}}}\n"
        f"targets:\n  - {{project_id: {sim.project_ids[0]}, region: ap-southeast-1, "
        f"endpoint: '{sim.url}'}}\n"
    )
    proc = await asyncio.create_subprocess_exec(
        EXE,
        "check",
        "--config.file",
        str(path),
        "--log.level",
        "debug",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    text = stream.getvalue() + out.decode() + err.decode()
    assert sim.requests.of(DETAIL_API) and "answered" in out.decode()
    assert not any(mark in text for mark in SUBSCRIBER_MARKS)
