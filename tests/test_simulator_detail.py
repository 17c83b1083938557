"""The simulator's batch-detail: the subscription, the alarm thresholds and the tags of each
job, in every form the exporter must read, paged as batch-status, over real sockets."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from typing import Any

import aiohttp

from drs_exporter.model import JOB_TYPES
from drs_exporter.simulator import SimulatorOptions, World

from .conftest import T0, StartSim, sim_call
from .simulated import Simulated

DETAIL = "/jobs/batch-detail"
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def world() -> World:
    return World(SimulatorOptions(seed=9, projects=1, jobs=600, status_period=0), lambda: T0)


def top_level(w: World) -> list[dict[str, Any]]:
    (project,) = w.project_ids
    found = {
        job["id"]: job
        for job_type in JOB_TYPES
        for api in ("v5", "v3")
        for job in w.jobs(project, job_type, api)
    }
    return list(found.values())


def details(w: World) -> list[dict[str, Any]]:
    out = []
    for job in top_level(w):
        result = w.detail(job["id"])
        assert result is not None
        out.append(result)
    return out


def expiry(text: str) -> float:
    """When a subscription ends, from any of the three forms the simulator writes."""
    if text.isdigit():
        return int(text) / 1000
    form = "%Y-%m-%dT%H:%M:%SZ" if text.endswith("Z") else "%Y-%m-%d %H:%M:%S"
    return dt.datetime.strptime(text, form).replace(tzinfo=dt.timezone.utc).timestamp()


def test_jobs_billed_by_period_have_a_subscription_in_each_time_form() -> None:
    w = world()
    forms: Counter[str] = Counter()
    days: list[float] = []
    for result in details(w):
        order = result.get("period_order")
        as_v5 = w.find(result["id"], "v5")  # a v3 listing does not show charging_mode
        if as_v5 is None or as_v5.get("charging_mode") != "period":
            assert order is None
            continue
        assert order is not None and order["is_auto_renew"] in (0, 1)
        text = order["exp_time"]
        forms["millis" if text.isdigit() else "iso" if text.endswith("Z") else "space"] += 1
        days.append((expiry(text) - T0) / 86400)
    assert set(forms) == {"millis", "iso", "space"}
    assert any(d < 3 for d in days) and any(3 < d < 14 for d in days) and max(days) > 30
    assert min(days) > 0


def test_thresholds_are_set_on_some_jobs_and_unset_in_every_way_on_others() -> None:
    results = details(world())
    notified = [r["alarm_notify"] for r in results if r.get("alarm_notify")]
    assert 0.3 < len(notified) / len(results) < 0.7
    delays = [n.get("delay_time", "absent") for n in notified]
    assert {"absent", None} <= set(delays) and any(isinstance(d, int) and d > 0 for d in delays)
    assert any(n.get("rpo_delay") == 0 for n in notified)
    assert any((n.get("rpo_delay") or 0) > 0 and (n.get("rto_delay") or 0) > 0 for n in notified)
    endpoints = [e for n in notified for s in n["subscriptions"] for e in s["endpoints"]]
    assert any("@" in e for e in endpoints) and any(e.startswith("+") for e in endpoints)


def test_tags_hold_keys_that_are_no_label_names_and_keys_that_collide_as_one() -> None:
    keys = [[t["key"] for t in r.get("tags") or []] for r in details(world())]
    flat = {k for ks in keys for k in ks}
    assert {"cost-center", "app.kubernetes.io/name", "环境"} <= flat
    assert any(not LABEL_NAME.fullmatch(k) for k in flat)
    assert any("cost-center" in ks and "cost_center" in ks for ks in keys)
    assert any(not ks for ks in keys)


def test_a_subtask_has_its_parent_and_no_subscription() -> None:
    w = world()
    parent = next(j for j in top_level(w) if j.get("children"))
    child = parent["children"][0]["id"]
    result = w.detail(child)
    assert result is not None and result["parent_id"] == parent["id"]
    assert not {"period_order", "alarm_notify", "tags"} & set(result)


async def post_detail(sim: Simulated, ids: list[str], page: dict[str, int] | None) -> Any:
    body: dict[str, Any] = {"jobs": ids}
    if page is not None:
        body["page_req"] = page
    url = f"{sim.url}/v3/{sim.project_ids[0]}{DETAIL}"
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as resp:
        return resp.status, await resp.json()


async def test_batch_detail_is_paged_as_batch_status_and_leaves_unknown_ids_out(
    start_sim: StartSim,
) -> None:
    sim = await start_sim(seed=9, projects=1, jobs=60, status_period=0)
    ids = [j["id"] for j in top_level(sim.world)][:12]
    status, default = await post_detail(sim, [*ids, "no-such-job"], None)
    assert status == 200 and default["count"] == 5  # page_req absent: 5 a page
    status, whole = await post_detail(sim, [*ids, "no-such-job"], {"cur_page": 1, "per_page": 100})
    assert status == 200 and [r["id"] for r in whole["results"]] == ids
    assert whole["results"] == [sim.world.detail(i) for i in ids]
    status, second = await post_detail(sim, ids, {"cur_page": 2, "per_page": 10})
    assert [r["id"] for r in second["results"]] == ids[10:]
    status, _ = await post_detail(sim, ids, {"cur_page": 3, "per_page": 10})
    assert status == 400


async def test_a_job_added_as_json_answers_its_detail_as_given(start_sim: StartSim) -> None:
    sim = await start_sim(seed=9, projects=1, jobs=3)
    given = {
        "period_order": {"exp_time": "2026-12-31 23:59:59", "is_auto_renew": 0},
        "alarm_notify": {"delay_time": "not a number"},
        "tags": [{"key": "env", "value": "prod"}, "not a tag"],
    }
    job = {"id": "given-1", "name": "given", "status": "INCRE_TRANSFER_STARTED", **given}
    added = await sim_call(
        sim,
        "POST",
        "/_sim/jobs",
        {"project_id": sim.project_ids[0], "job_type": "sync", "job": job},
    )
    assert added["id"] == "given-1"
    status, answer = await post_detail(sim, ["given-1"], {"cur_page": 1, "per_page": 10})
    (result,) = answer["results"]
    assert status == 200 and {k: result[k] for k in given} == given


async def test_a_region_without_v3_has_no_batch_detail(start_sim: StartSim) -> None:
    sim = await start_sim(seed=9, projects=1, jobs=3, apis=("v5",))
    status, body = await post_detail(sim, ["x"], None)
    assert status == 404 and body["error_code"] == "APIGW.0101"
