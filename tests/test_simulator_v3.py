"""The simulator's v3 API (list jobs, batch progress, batch status) and which API lists which
job, spoken to over real sockets; its health model over simulated time; the health hook."""

from __future__ import annotations

import datetime as dt
import json
import statistics
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from yarl import URL

from drs_exporter import simulator
from drs_exporter.cloud import signer
from drs_exporter.errors import ConfigError
from drs_exporter.model import JOB_TYPES, is_failed
from drs_exporter.simulator.bodies import parse_listing
from drs_exporter.simulator.v3 import V3_FIELDS

from .conftest import T0, StartSim, fixed
from .simulated import Simulated
from .test_simulator import AK, SK, Answer, call, hook

V3_KEYS = {key for key, _ in V3_FIELDS} | {"children"}
FIGURES = ("progress", "incre_trans_delay", "incre_trans_delay_millis", "remaining_time")


async def post(
    http: aiohttp.ClientSession,
    sim: Simulated,
    what: str,
    body: Any,
    project: str | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """POST a JSON body to /v3/{project}/jobs{what}."""
    url = f"{sim.url}/v3/{project or sim.project_ids[0]}/jobs{what}"
    return await call(http, "POST", url, body=body, headers=headers)


async def v3_all(
    http: aiohttp.ClientSession, sim: Simulated, job_type: str, **filters: Any
) -> list[dict[str, Any]]:
    """Every job of one v3 listing, asked for in one go (per_page 0)."""
    answer = await post(http, sim, "", {"db_use_type": job_type, "per_page": 0, **filters})
    assert answer.status == 200, answer.body
    body = answer.json()
    assert body["total_record"] == len(body["jobs"])
    jobs: list[dict[str, Any]] = body["jobs"]
    return jobs


def every_id(sim: Simulated, api: str) -> list[str]:
    """The top-level ids ``api`` lists, over every project and job type."""
    return [j["id"] for p in sim.project_ids for t in JOB_TYPES for j in sim.world.jobs(p, t, api)]


def progress(sim: Simulated, job_id: str) -> dict[str, Any]:
    result = sim.world.progress(job_id)
    assert result is not None
    return result


# --- which API lists which job ---


async def test_a_default_world_has_v5_only_v3_only_and_doubly_listed_jobs(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start()
    summary = await hook(http, sim, "GET", "/_sim/summary?ids=true")
    kinds = summary["listed_by"]
    assert kinds["v5_only"] and kinds["v3_only"] and kinds["both"] and not kinds["none"]
    assert sum(kinds.values()) == 60
    total = sum(n for p in summary["counts"].values() for t in p.values() for n in t.values())
    assert total == 60  # each job once, however many APIs list it
    by_type: dict[str, Counter[str]] = {t: Counter() for t in JOB_TYPES}
    for project in sim.project_ids:
        for job_type in JOB_TYPES:
            v5 = set(summary["ids"]["v5"][project][job_type])
            v3 = set(summary["ids"]["v3"][project][job_type])
            assert v5 == {j["id"] for j in await all_v5(http, sim, project, job_type)}
            assert v3 == {j["id"] for j in await v3_all_of(http, sim, project, job_type)}
            by_type[job_type].update(v5_only=len(v5 - v3), v3_only=len(v3 - v5), both=len(v5 & v3))
    assert all(by_type["sync"].values()) and len(+by_type["sync"]) == 3
    assert set(+by_type["migration"]) == {"v5_only", "v3_only"}  # v5 has no MySQL migration
    assert set(+by_type["cloudDataGuard"]) == {"v3_only"}  # nor any disaster recovery
    per_api = summary["apis"]
    for api in ("v5", "v3"):
        listed = sum(len(t) for p in summary["ids"][api].values() for t in p.values())
        counted = sum(
            n for p in per_api[api]["counts"].values() for t in p.values() for n in t.values()
        )
        assert listed == counted


async def all_v5(
    http: aiohttp.ClientSession, sim: Simulated, project: str, job_type: str
) -> list[dict[str, Any]]:
    url = f"{sim.url}/v5/{project}/jobs?job_type={job_type}&limit=100000"
    answer = await call(http, "GET", url)
    jobs: list[dict[str, Any]] = answer.json()["jobs"]
    return jobs


async def v3_all_of(
    http: aiohttp.ClientSession, sim: Simulated, project: str, job_type: str
) -> list[dict[str, Any]]:
    answer = await post(http, sim, "", {"db_use_type": job_type, "per_page": 0}, project)
    jobs: list[dict[str, Any]] = answer.json()["jobs"]
    return jobs


async def test_a_doubly_listed_job_is_one_job_named_each_apis_way(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=120, projects=1)
    v5 = {j["id"]: j for j in sim.world.jobs(sim.project_ids[0], "sync", "v5")}
    v3 = {j["id"]: j for j in await v3_all(http, sim, "sync")}
    both = set(v5) & set(v3)
    assert both
    for job_id in both:
        assert v5[job_id].get("engine_type") in ("mysql-to-mysql", "", None)
        assert v3[job_id].get("engine_type") in ("mysql", "", None)
        assert v5[job_id]["status"] == v3[job_id]["status"]
        assert v5[job_id].get("name") == v3[job_id].get("name")
    engines = {j.get("engine_type") for j in v3.values()} - {"", None}
    assert {"mysql", "mysql-to-kafka", "postgresql", "gaussdbv5"} <= engines
    assert not engines & {"oracle-to-gaussdbv5", "mysql-to-mysql"}


async def test_v3_lists_all_lists_the_v5_engines_jobs_too(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(v3_lists="all")
    summary = sim.world.summary()
    assert summary["listed_by"]["v5_only"] == 0 and summary["listed_by"]["both"] > 0
    assert len(every_id(sim, "v3")) == 60  # every job
    assert len(every_id(sim, "v5")) == summary["listed_by"]["both"]  # v5 as before
    v3_engines = {j.get("engine_type") for j in await v3_all(http, sim, "migration")}
    assert "redis-to-gaussredis" in v3_engines


async def test_a_region_without_v3_answers_its_calls_as_unknown_apis(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(apis=("v5",), token="t0k3n")
    for what, body in (
        ("", {"db_use_type": "sync"}),
        ("/batch-progress", {"jobs": ["x"]}),
        ("/batch-status", {"jobs": ["x"]}),
    ):
        answer = await post(http, sim, what, body)  # no credentials: 404 comes first
        assert answer.status == 404, what
        assert answer.json() == {
            "error_code": "APIGW.0101",
            "error_msg": "The API does not exist or has not been published in the environment",
        }
        assert answer.headers["X-Request-Id"]
    summary = sim.world.summary()
    assert summary["listed_by"]["v3_only"] == 0 and summary["listed_by"]["both"] == 0
    # The region's jobs run only engines v5 lists: every one of them can be listed.
    assert summary["listed_by"]["none"] == 0 and summary["listed_by"]["v5_only"] > 0
    assert not any(
        n for p in summary["apis"]["v3"]["counts"].values() for t in p.values() for n in t.values()
    )
    assert not any(summary["counts"][p]["cloudDataGuard"] for p in summary["counts"])


async def test_a_region_without_v5_answers_it_as_an_unknown_api_and_has_no_v5_engines(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(apis=("v3",), token="t0k3n")
    project = sim.project_ids[0]
    async with http.get(f"{sim.url}/v5/{project}/jobs", params={"job_type": "sync"}) as resp:
        assert resp.status == 404
        assert (await resp.json())["error_code"] == "APIGW.0101"
    summary = sim.world.summary()
    assert summary["listed_by"]["v5_only"] == 0 and summary["listed_by"]["none"] == 0
    assert summary["listed_by"]["v3_only"] == 60  # every job, MySQL sync included
    v5_engines = {"redis-to-gaussredis", "rediscluster-to-gaussredis", "oracle-to-gaussdbv5"}
    for job_type in ("migration", "sync"):
        engines = {j.get("engine_type") for j in sim.world.jobs(project, job_type, "v3")}
        assert engines and not engines & v5_engines, engines


async def test_the_simulator_refuses_an_unknown_api_set() -> None:
    for bad in ((), ("v4",), ("v3", "v3")):
        with pytest.raises(ConfigError, match="--apis"):
            simulator.SimulatorOptions(apis=bad)


async def test_a_job_added_for_v3_is_listed_by_v3_only(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=0, projects=1)
    project = sim.project_ids[0]
    job = {"id": "v3-added", "status": "CREATING", "engine_type": "mongodb"}
    body = {"project_id": project, "job_type": "sync", "job": job, "apis": ["v3"]}
    assert (await hook(http, sim, "POST", "/_sim/jobs", body)) == {"id": "v3-added"}
    assert [j["id"] for j in await v3_all(http, sim, "sync")] == ["v3-added"]
    assert sim.world.jobs(project, "sync") == []
    assert sim.world.listed_by("v3-added") == {"v3"}
    bad = await call(
        http, "POST", f"{sim.url}/_sim/jobs", body={**body, "apis": ["v4"], "job": {"id": "y"}}
    )
    assert bad.status == 400 and "apis" in bad.json()["error"]


# --- the v3 listing ---


async def test_a_v3_job_has_the_sdks_fields_and_subtasks_their_error_msg(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=120, projects=1, children_ratio=0.5, status_period=0)
    jobs = await v3_all(http, sim, "migration") + await v3_all(http, sim, "sync")
    assert all(set(j) <= V3_KEYS for j in jobs)
    assert Counter(frozenset(j) for j in jobs).most_common(1)[0][0] == V3_KEYS
    assert all(j["db_use_type"] in ("migration", "sync") for j in jobs if "db_use_type" in j)
    parent = next(j for j in jobs if j.get("children"))
    child = parent["children"][0]
    assert child["error_msg"] == "" or is_failed(child["status"])
    assert sim.world.set_status(child["id"], "CHILD_TRANSFER_FAILED")
    again = next(
        j for j in await v3_all(http, sim, parent["db_use_type"]) if j["id"] == parent["id"]
    )
    failed = next(c for c in again["children"] if c["id"] == child["id"])
    assert (
        failed["error_msg"]
        and failed["error_msg"] == sim.world.status(child["id"])["error_message"]
    )  # type: ignore[index]
    v5 = sim.world.find(child["id"])
    assert v5 is not None and "error_msg" not in v5 and "node_new_framework" in v5


async def test_v3_pages_count_in_units_of_per_page_under_a_page_cap(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=240, projects=1, page_cap=7, status_period=0)
    everything = in_order(sim, "sync")
    assert len(everything) > 40
    first = (
        await post(http, sim, "", {"db_use_type": "sync", "cur_page": 1, "per_page": 20})
    ).json()
    assert first["total_record"] == len(everything) and len(first["jobs"]) == 7
    second = (
        await post(http, sim, "", {"db_use_type": "sync", "cur_page": 2, "per_page": 20})
    ).json()
    assert ids_of(second["jobs"]) == everything[20:27]  # page 2 starts at 20, not at 7
    # Paging as the v3 API documents it: on a short page, go on with per_page set to what came back.
    seen, page, per_page = ids_of(first["jobs"]), 2, len(first["jobs"])
    while len(seen) < first["total_record"]:
        body = {"db_use_type": "sync", "cur_page": page, "per_page": per_page}
        got = (await post(http, sim, "", body)).json()["jobs"]
        assert got
        seen += ids_of(got)
        page += 1
    assert seen == everything
    capped = await post(http, sim, "", {"db_use_type": "sync", "per_page": 0})
    assert len(capped.json()["jobs"]) == 7  # "everything" is capped too
    beyond = await post(http, sim, "", {"db_use_type": "sync", "cur_page": 999, "per_page": 100})
    assert beyond.json() == {"total_record": len(everything), "jobs": []}


def ids_of(jobs: list[dict[str, Any]]) -> list[str]:
    return [j["id"] for j in jobs]


def in_order(sim: Simulated, job_type: str) -> list[str]:
    """The ids v3 lists, in its order (newest first), as the world answers with no cap."""
    listing = parse_listing({"db_use_type": job_type, "per_page": 0})
    return ids_of(json.loads(sim.world.list_jobs_v3(sim.project_ids[0], listing))["jobs"])


async def test_v3_defaults_and_asking_for_everything(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=120, projects=1)
    everything = in_order(sim, "cloudDataGuard")
    assert len(everything) > 10
    default = (await post(http, sim, "", {"db_use_type": "cloudDataGuard"})).json()
    assert ids_of(default["jobs"]) == everything[:10]  # per_page defaults to 10
    for cur_page in (0, 1):
        body = {"db_use_type": "cloudDataGuard", "cur_page": cur_page, "per_page": 0}
        assert ids_of((await post(http, sim, "", body)).json()["jobs"]) == everything
    times = [
        j.get("create_time") or ""
        for j in sim.world.jobs(sim.project_ids[0], "cloudDataGuard", "v3")
    ]
    assert len(set(times)) > 1


async def test_each_v3_filter_selects_what_it_says(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=300, projects=1, status_period=0)
    everything = await v3_all(http, sim, "sync")
    assert len(everything) > 40

    async def only(**filters: Any) -> list[str]:
        return sorted(ids_of(await v3_all(http, sim, "sync", **filters)))

    def where(test: Callable[[dict[str, Any]], bool]) -> list[str]:
        return sorted(j["id"] for j in everything if test(j))

    a, b, c = everything[0], everything[1], everything[2]
    assert await only(name=f"{a['id']},{b['id']}") == sorted([a["id"], b["id"]])
    assert await only(name=",".join(ids_of(everything[:100]))) == sorted(ids_of(everything[:100]))
    assert await only(status=c["status"]) == where(lambda j: j.get("status") == c["status"])
    for key in ("engine_type", "net_type"):
        values = {str(j[key]) for j in everything if j.get(key)}
        assert len(values) > 1, key
        for value in values:
            assert await only(**{key: value}) == where(lambda j, k=key, v=value: j.get(k) == v)
    for blank in ("", None):
        assert await only(enterprise_project_id=blank, name=blank) == sorted(ids_of(everything))
    source = sim.world.find(a["id"])
    assert source is not None
    assert await only(instance_ids=[source["instance_info"]["source"]["id"]]) == [a["id"]]
    ip = source["instance_info"]["target"]["ip"]
    assert a["id"] in await only(instance_ip=ip)
    assert await only(engine_type="oracle-to-gaussdbv5") == []  # v5's name, a v5-only engine


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        [],
        {},
        {"db_use_type": "backup"},
        {"db_use_type": "sync", "per_page": 101},
        {"db_use_type": "sync", "per_page": "10"},
        {"db_use_type": "sync", "cur_page": -1},
        {"db_use_type": "sync", "cur_page": True},
        {"db_use_type": "sync", "cur_page": 2, "per_page": 0},
        {"db_use_type": "sync", "engine_type": 5},
        {"db_use_type": "sync", "status": "CREATING,CREATE_FAILED"},
        {"db_use_type": "sync", "name": ",".join(f"id{i}" for i in range(101))},
        {"db_use_type": "sync", "instance_ids": [f"i{i}" for i in range(11)]},
        {"db_use_type": "sync", "instance_ids": [1]},
    ],
)
async def test_a_bad_v3_listing_gets_a_drs_400(
    start: StartSim, http: aiohttp.ClientSession, body: Any
) -> None:
    sim = await start(jobs=9, projects=1)
    answer = await raw_post(http, sim, "", body)
    assert answer.status == 400, body
    error = answer.json()
    assert error["error_code"] == "DRS.10000001" and error["error_msg"]


async def raw_post(http: aiohttp.ClientSession, sim: Simulated, what: str, body: Any) -> Answer:
    """POST ``body`` as it is when it is a string, else as JSON."""
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    url = f"{sim.url}/v3/{sim.project_ids[0]}/jobs{what}"
    async with http.post(url, data=data, headers={"Content-Type": "application/json"}) as r:
        return Answer(r.status, r.headers, await r.read())


# --- batch progress and status ---


async def test_batch_progress_answers_each_known_id_once_in_order_and_leaves_out_the_rest(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=60, projects=2, children_ratio=0.5)
    here, there = sim.project_ids
    mine = project_ids(sim, here)
    v5_only = next(i for i in mine if sim.world.listed_by(i) == {"v5"})
    v3_only = next(i for i in mine if sim.world.listed_by(i) == {"v3"})
    other = project_ids(sim, there)[0]
    asked = [v3_only, "no-such-job", v5_only, other, v3_only, mine[0]]
    answer = await post(http, sim, "/batch-progress", {"jobs": asked}, project=here)
    assert answer.status == 200
    body = answer.json()
    # Whatever API lists a job; each id once, in the order asked; others' ids left out.
    expected = list(dict.fromkeys([v3_only, v5_only, mine[0]]))
    assert [r["job_id"] for r in body["results"]] == expected
    assert body["count"] == len(body["results"])
    for result in body["results"]:
        assert result == progress(sim, result["job_id"])


def in_status(sim: Simulated, test: Callable[[str], bool]) -> list[str]:
    """The ids of the first project's jobs and subtasks whose status passes ``test``."""
    jobs = (sim.world.find(i) or {} for i in project_ids(sim, sim.project_ids[0]))
    return [j["id"] for j in jobs if test(j.get("status") or "")]


def project_ids(sim: Simulated, project: str) -> list[str]:
    """Every job and subtask id of one project, whatever API lists it."""
    out: list[str] = []
    for t in JOB_TYPES:
        for api in ("v5", "v3"):
            for job in sim.world.jobs(project, t, api):
                out += [job["id"], *(c["id"] for c in job.get("children") or [])]
    return list(dict.fromkeys(out))


async def test_figures_are_strings_and_rates_integers_in_every_status(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=600, projects=1, children_ratio=0.3)
    project = sim.project_ids[0]
    ids = project_ids(sim, project)
    results = []
    for k in range(0, len(ids), 100):
        answer = await post(http, sim, "/batch-progress", {"jobs": ids[k : k + 100]})
        results += answer.json()["results"]
    assert len(results) == len(set(ids))
    styles = Counter()
    for r in results:
        for name in (
            *FIGURES,
            "process_time",
            "task_mode",
            "transfer_status",
            "error_code",
            "error_msg",
        ):
            assert name not in r or isinstance(r[name], str), (name, r)
        for name in ("apply_rows_rate", "apply_bytes_rate"):
            assert isinstance(r[name], int) and not isinstance(r[name], bool)
        assert isinstance(r.get("progress_map", {}), dict)
        status = r["transfer_status"]
        if status in ("FULL_TRANSFER_STARTED", "CHILD_TRANSFER_STARTED", "INCRE_TRANSFER_STARTED"):
            assert 0 <= int(r["progress"]) <= 100 and int(r["remaining_time"]) >= 0
            assert int(r["process_time"]) <= T0 * 1000
        if status in ("INCRE_TRANSFER_STARTED", "CHILD_TRANSFER_STARTED"):
            assert int(r["incre_trans_delay_millis"]) // 1000 == int(r["incre_trans_delay"])
            assert r["apply_rows_rate"] > 0 and r["apply_bytes_rate"] > 0
        else:
            assert r["apply_rows_rate"] == r["apply_bytes_rate"] == -1
            styles[r.get("incre_trans_delay", "absent")] += 1
        if status == "INCRE_TRANSFER_STARTED":
            assert r["progress"] == "100" and r["remaining_time"] == "0"
        assert bool(r["error_code"]) == is_failed(status)
    assert {"", "-", "absent"} <= set(styles)  # the ways DRS leaves a figure out


async def test_progress_advances_while_a_full_transfer_runs(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=600, projects=1, status_period=3600)
    running = in_status(sim, lambda s: s == "FULL_TRANSFER_STARTED")
    assert len(running) > 5
    before = {i: progress(sim, i) for i in running}
    await hook(http, sim, "POST", "/_sim/advance", {"seconds": 120})
    moved = 0
    for job_id, was in before.items():
        now = progress(sim, job_id)
        if now["transfer_status"] != "FULL_TRANSFER_STARTED":
            continue  # it moved on: completed or failed
        assert int(now["progress"]) >= int(was["progress"])
        assert int(now["remaining_time"]) <= int(was["remaining_time"])
        assert int(now["process_time"]) > int(was["process_time"])
        moved += int(now["progress"]) > int(was["progress"])
    assert moved > 2


async def test_a_pinned_transfer_progresses_from_its_pin_and_stops_short_of_100(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=30, projects=1, status_period=0)
    job_id = every_id(sim, "v3")[0]
    await hook(
        http, sim, "POST", f"/_sim/jobs/{job_id}/status", {"status": "FULL_TRANSFER_STARTED"}
    )
    first = progress(sim, job_id)
    await hook(http, sim, "POST", "/_sim/advance", {"seconds": 300})
    later = progress(sim, job_id)
    assert int(later["progress"]) > int(first["progress"])
    assert int(later["process_time"]) - int(first["process_time"]) == 300_000
    await hook(http, sim, "POST", "/_sim/advance", {"seconds": 10 * 86400})
    assert progress(sim, job_id)["progress"] == "99"  # 100 % is the next status's


async def test_delays_wander_over_time_most_small_some_minutes(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=900, projects=1, status_period=0)
    replicating = in_status(sim, lambda s: s == "INCRE_TRANSFER_STARTED")
    assert len(replicating) > 100

    def delays() -> dict[str, int]:
        return {i: int(progress(sim, i)["incre_trans_delay_millis"]) for i in replicating}

    before = delays()
    assert statistics.median(before.values()) < 5_000
    assert max(before.values()) > 120_000  # some jobs lag minutes
    await hook(http, sim, "POST", "/_sim/advance", {"seconds": 600})
    after = delays()
    assert sum(after[i] != before[i] for i in replicating) > len(replicating) * 0.9


async def test_failed_jobs_carry_stable_drs_reasons_of_every_kind(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=900, projects=1, status_period=0, children_ratio=0.3)
    failed = in_status(sim, is_failed)
    assert len(failed) > 20
    results = []
    for k in range(0, len(failed), 100):
        body = {"jobs": failed[k : k + 100], "page_req": {"cur_page": 1, "per_page": 100}}
        answer = await post(http, sim, "/batch-status", body)
        assert answer.status == 200
        results += answer.json()["results"]
    assert [r["id"] for r in results] == failed
    for r in results:
        assert r["error_code"].startswith("DRS.") and r["error_message"]
        assert (r["error_code"], r["error_message"]) == (
            progress(sim, r["id"])["error_code"],
            progress(sim, r["id"])["error_msg"],
        )
    messages = [r["error_message"] for r in results]
    assert any("\n" in m for m in messages)
    assert any(len(m) > 200 for m in messages)
    assert any(not m.isascii() for m in messages)
    await hook(http, sim, "POST", "/_sim/advance", {"seconds": 3600})
    assert [sim.world.status(i) for i in failed] == results  # frozen statuses, same reasons
    healthy = in_status(sim, lambda s: s == "INCRE_TRANSFER_STARTED")[0]
    assert sim.world.status(healthy) == {
        "id": healthy,
        "status": "INCRE_TRANSFER_STARTED",
        "error_code": "",
        "error_message": "",
    }


async def test_batch_status_pages_over_the_ids_asked(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=60, projects=1)
    project = sim.project_ids[0]
    ids = [j["id"] for t in JOB_TYPES for j in sim.world.jobs(project, t, "v3")][:12]

    async def page(page_req: Any) -> Answer:
        body = {"jobs": ids} if page_req is None else {"jobs": ids, "page_req": page_req}
        return await post(http, sim, "/batch-status", body)

    default = (await page(None)).json()
    assert [r["id"] for r in default["results"]] == ids[:5]  # the SDK's default page of 5
    third = (await page({"cur_page": 3, "per_page": 5})).json()
    assert [r["id"] for r in third["results"]] == ids[10:] and third["count"] == 2
    everything = (await page({"cur_page": 1, "per_page": 0})).json()
    assert everything["count"] == 12
    assert (await page({"cur_page": 4, "per_page": 5})).status == 400
    assert (await page({"per_page": 101})).status == 400
    assert (await page([1])).status == 400


@pytest.mark.parametrize(
    "body",
    ["nope", [], {}, {"jobs": []}, {"jobs": "a,"}, {"jobs": [1, 2]}, {"jobs": {"a": 1}}],
)
@pytest.mark.parametrize("what", ["/batch-progress", "/batch-status"])
async def test_a_bad_batch_gets_a_drs_400(
    start: StartSim, http: aiohttp.ClientSession, body: Any, what: str
) -> None:
    sim = await start(jobs=9, projects=1)
    answer = await raw_post(http, sim, what, body)
    assert answer.status == 400, body
    assert answer.json()["error_code"] == "DRS.10000001"


@pytest.mark.parametrize("what", ["/batch-progress", "/batch-status"])
async def test_the_batch_cap_refuses_more_ids_and_no_cap_takes_many(
    start: StartSim, http: aiohttp.ClientSession, what: str
) -> None:
    capped = await start(jobs=30, projects=1, batch_cap=10)
    ids = [f"id-{i}" for i in range(11)]
    assert (await post(http, capped, what, {"jobs": ids[:10]})).status == 200
    refused = await post(http, capped, what, {"jobs": ids})
    assert refused.status == 400
    assert "10" in refused.json()["error_msg"]
    free = await start(jobs=30, projects=1)
    many = [f"id-{i}" for i in range(500)]
    assert (await post(http, free, what, {"jobs": many, "page_req": {"per_page": 0}})).status == 200


async def test_garbled_results_take_every_sloppy_shape_and_none_by_default(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=300, projects=1, garble_rate=1.0, status_period=0)
    project = sim.project_ids[0]
    ids = project_ids(sim, project)
    results = (await post(http, sim, "/batch-progress", {"jobs": ids[:100]})).json()["results"]
    assert len(results) > 100  # some sent twice
    assert any(isinstance(r.get("progress_map"), list) for r in results)
    assert any(isinstance(r.get("progress"), int) for r in results)
    assert any(r.get("progress") in ("N/A", "12.5", "130") for r in results)
    await hook(http, sim, "POST", "/_sim/faults", {"garble_rate": 0})
    clean = (await post(http, sim, "/batch-progress", {"jobs": ids[:100]})).json()["results"]
    assert len(clean) == 100 and all(isinstance(r.get("progress_map", {}), dict) for r in clean)


# --- the health hook ---


async def test_the_health_hook_pins_delay_freezes_progress_and_sets_a_reason(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=60, projects=1, status_period=0)
    job_id = every_id(sim, "v3")[0]
    path = f"/_sim/jobs/{job_id}/health"
    await hook(
        http, sim, "POST", f"/_sim/jobs/{job_id}/status", {"status": "INCRE_TRANSFER_STARTED"}
    )
    pinned = await hook(http, sim, "POST", path, {"delay_seconds": 900})
    assert pinned == {
        "id": job_id,
        "health": {
            "delay_seconds": 900.0,
            "frozen": False,
            "progress": None,
            "error_code": None,
            "error_message": None,
        },
    }
    got = progress(sim, job_id)
    assert (got["incre_trans_delay"], got["incre_trans_delay_millis"]) == ("900", "900000")

    await hook(http, sim, "POST", path, {"delay_seconds": None, "frozen": True, "progress": 93})
    frozen = progress(sim, job_id)
    await hook(http, sim, "POST", "/_sim/advance", {"seconds": 600})
    later = progress(sim, job_id)
    assert later["progress"] == frozen["progress"] == "93"
    assert later["process_time"] == frozen["process_time"]
    lag = int(later["incre_trans_delay_millis"]) - int(frozen["incre_trans_delay_millis"])
    assert lag == 600_000  # a stalled job falls behind by the second
    assert later["apply_rows_rate"] == 0

    reason = {"error_code": "DRS.M05004", "error_message": "Failed to connect\nto the source"}
    await hook(http, sim, "POST", path, reason)
    answer = await post(http, sim, "/batch-status", {"jobs": [job_id]})
    assert answer.json()["results"][0] == {
        "id": job_id,
        "status": "INCRE_TRANSFER_STARTED",
        **reason,
    }

    async with http.post(sim.url + path, data=b"null") as answer:
        cleared = await answer.json()
    assert cleared["health"]["frozen"] is False and cleared["health"]["error_code"] is None
    assert sim.world.status(job_id)["error_code"] == ""  # type: ignore[index]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"delay_seconds": -1}, 400),
        ({"delay_seconds": "9"}, 400),
        ({"progress": 101}, 400),
        ({"frozen": "yes"}, 400),
        ({"error_code": 5}, 400),
        ({"lag": 5}, 400),
        ([1], 400),
    ],
)
async def test_a_bad_health_change_is_refused(
    start: StartSim, http: aiohttp.ClientSession, body: Any, status: int
) -> None:
    sim = await start(jobs=9, projects=1)
    job_id = every_id(sim, "v3")[0]
    answer = await call(http, "POST", f"{sim.url}/_sim/jobs/{job_id}/health", body=body)
    assert answer.status == status
    assert answer.json()["error"]
    unknown = await call(http, "POST", f"{sim.url}/_sim/jobs/nope/health", body={"frozen": True})
    assert unknown.status == 404


async def test_the_world_pins_health_for_tests_in_process(start: StartSim) -> None:
    sim = await start(jobs=9, projects=1, status_period=0)
    job_id = every_id(sim, "v3")[0]
    assert sim.world.set_health(job_id, {"progress": 50})["progress"] == 50.0  # type: ignore[index]
    assert progress(sim, job_id)["progress"] == "50"
    assert sim.world.set_health("nope", {"progress": 50}) is None
    with pytest.raises(ValueError, match="progress"):
        sim.world.set_health(job_id, {"progress": -1})
    sim.world.set_health(job_id, None)
    assert sim.world.set_health(job_id, {}) == sim.world.set_health(job_id, None)


# --- faults, auth, determinism ---


@pytest.mark.parametrize("what", ["", "/batch-progress", "/batch-status"])
async def test_faults_apply_to_the_v3_calls(
    start: StartSim, http: aiohttp.ClientSession, what: str
) -> None:
    body = {"db_use_type": "sync"} if what == "" else {"jobs": ["a"]}
    throttled = await start(jobs=9, projects=1, throttle_rate=1.0, retry_after=0.5)
    answer = await post(http, throttled, what, body)
    assert answer.status == 429 and answer.headers["Retry-After"] == "0.5"
    assert answer.json()["error_code"] in ("APIG.0308", "APIGW.0308")
    failing = await start(jobs=9, projects=1, error_rate=1.0)
    assert (await post(http, failing, what, body)).status in (500, 502, 503)
    malformed = await start(jobs=9, projects=1, malformed_rate=1.0)
    broken = await post(http, malformed, what, body)
    assert broken.status == 200
    with pytest.raises(ValueError):
        json.loads(broken.body)
    hanging = await start(jobs=9, projects=1, hang_rate=1.0, hang=0.01)
    assert (await post(http, hanging, what, body)).status == 200  # late, but answered
    assert hanging.requests.most_in_flight == 1


def signed_post(
    sim: Simulated, what: str, body: bytes, *, sent: bytes | None = None
) -> tuple[str, dict[str, str], bytes]:
    """A POST to /v3/{project}/jobs{what} signed over ``body``, sending ``sent`` (default:
    the same body)."""
    url = URL(sim.url)
    path = f"/v3/{sim.project_ids[0]}/jobs{what}"
    base = {"Content-Type": "application/json", "X-Project-Id": sim.project_ids[0]}
    when = dt.datetime.fromtimestamp(T0, dt.timezone.utc)
    headers = signer.sign("POST", f"{url.host}:{url.port}", path, [], base, body, AK, SK, when)
    return f"{sim.url}{path}", headers, body if sent is None else sent


@pytest.mark.parametrize("what", ["", "/batch-progress", "/batch-status"])
async def test_aksk_signatures_cover_the_post_body(
    start: StartSim, http: aiohttp.ClientSession, what: str
) -> None:
    sim = await start(jobs=9, projects=1, access_key=AK, secret_key=SK)
    body = json.dumps({"db_use_type": "sync"} if what == "" else {"jobs": ["a"]}).encode()
    url, headers, data = signed_post(sim, what, body)
    async with http.post(url, data=data, headers=headers) as good:
        assert good.status == 200, await good.text()
    other = json.dumps({"db_use_type": "migration"} if what == "" else {"jobs": ["b"]}).encode()
    url, headers, data = signed_post(sim, what, body, sent=other)
    async with http.post(url, data=data, headers=headers) as tampered:
        assert tampered.status == 401
        assert (await tampered.json())["error_code"] == "APIGW.0301"
    async with http.post(url, data=other) as unsigned:
        assert unsigned.status == 401


async def test_a_token_is_checked_on_the_v3_calls(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=9, projects=1, token="t0k3n")
    body = {"db_use_type": "sync"}
    assert (await post(http, sim, "", body, headers={"X-Auth-Token": "t0k3n"})).status == 200
    assert (await post(http, sim, "", body, headers={"X-Auth-Token": "wrong"})).status == 401


async def test_a_seed_gives_the_same_v3_answers_every_time(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    def clock() -> Callable[[], float]:
        return fixed(T0 + 1234)

    one, two, other = [
        await start(clock=clock(), seed=s, jobs=120, children_ratio=0.3) for s in (5, 5, 6)
    ]

    async def answers(sim: Simulated) -> list[Any]:
        ids = every_id(sim, "v3") + every_id(sim, "v5")
        out = [(await v3_all(http, sim, t)) for t in JOB_TYPES]
        for what in ("/batch-progress", "/batch-status"):
            body = {"jobs": ids[:100], "page_req": {"cur_page": 1, "per_page": 100}}
            out.append((await post(http, sim, what, body)).json())
        return out

    assert await answers(one) == await answers(two)
    assert await answers(one) != await answers(other)


# --- the test side: recording and scripting the v3 calls ---


async def test_every_api_call_is_recorded_with_what_it_asked(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=9, projects=1)
    await post(http, sim, "", {"db_use_type": "sync", "cur_page": 2, "per_page": 3})
    await post(http, sim, "/batch-progress", {"jobs": ["a", "b"]})
    await post(
        http, sim, "/batch-status", {"jobs": ["c"], "page_req": {"cur_page": 1, "per_page": 100}}
    )
    await call(http, "GET", f"{sim.url}/v5/{sim.project_ids[0]}/jobs?job_type=sync")
    calls = sim.requests.calls
    assert [c.api for c in calls] == ["v3_jobs", "v3_batch_progress", "v3_batch_status", "v5_jobs"]
    listing, progress_call, status_call, v5 = calls
    assert (listing.job_type, listing.cur_page, listing.per_page) == ("sync", 2, 3)
    assert progress_call.ids == ("a", "b") and progress_call.cur_page is None
    assert (status_call.ids, status_call.per_page) == (("c",), 100)
    assert all(c.project_id == sim.project_ids[0] for c in calls)
    assert sim.requests.arrivals == [v5]  # the v5 listings, as before
    assert sim.requests.of("v3_batch_progress", "v3_batch_status") == [progress_call, status_call]


async def test_scripted_answers_and_drifts_for_the_v3_calls(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=120, projects=1, status_period=0)
    garbled = {"count": 1, "results": [{"job_id": "x", "progress_map": [1, 2]}]}
    assert sim.script([{"body": garbled}, {"status": 503}], api="v3_batch_progress") == 2
    assert (await post(http, sim, "/batch-progress", {"jobs": ["x"]})).json() == garbled
    assert (await post(http, sim, "/batch-progress", {"jobs": ["x"]})).status == 503
    assert (await post(http, sim, "/batch-progress", {"jobs": ["x"]})).json() == {
        "count": 0,
        "results": [],
    }
    before = ids_of(sim.world.jobs(sim.project_ids[0], "sync", "v3"))
    sim.drift(sim.project_ids[0], "sync", delete=[before[0]], api="v3_jobs")
    page1 = (await post(http, sim, "", {"db_use_type": "sync", "per_page": 5})).json()
    assert page1["total_record"] == len(before)
    page2 = (
        await post(http, sim, "", {"db_use_type": "sync", "cur_page": 2, "per_page": 5})
    ).json()
    assert page2["total_record"] == len(before) - 1 and sim.drifts_left == 0


def test_simulate_help_names_every_endpoint_and_hook() -> None:
    app = simulator.build_app(simulator.SimulatorOptions(jobs=0))
    paths = {r.canonical for r in app.router.resources()}
    assert paths and all(path in simulator.endpoints_help() for path in paths)


async def test_a_compact_world_lists_jobs_with_only_the_fields_a_lean_server_sends(
    start: Callable[..., Any],
) -> None:
    sim = await start(seed=4, projects=1, jobs=60, children_ratio=0.5, compact=True)
    async with aiohttp.ClientSession() as http:
        jobs = [j for t in JOB_TYPES for j in await v3_all(http, sim, t)]
        v5 = [j for t in JOB_TYPES for j in sim.world.jobs(sim.project_ids[0], t, "v5")]
    allowed = {"id", "name", "status", "create_time", "engine_type", "net_type", "children"}
    assert jobs and v5
    assert any(j.get("children") for j in jobs)
    for job in [*jobs, *v5, *(c for j in jobs for c in j.get("children") or ())]:
        assert set(job) <= allowed and {"id", "status"} <= set(job), job
