"""The DRS API simulator, spoken to over real sockets as the exporter would.

Also its extension point, and the test hooks plugged into it (``tests/simulated.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import gzip
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from drs_exporter import simulator
from drs_exporter.cloud import signer
from drs_exporter.errors import ConfigError
from drs_exporter.model import STATUSES, is_failed, parse_time
from drs_exporter.simulator.lifecycle import CHAINS
from drs_exporter.simulator.query import parse_job_query

from .conftest import T0, StartSim, fixed
from .sim_script import ScriptError
from .simulated import Simulated

TASK_TYPES = ("FULL_TRANS", "FULL_INCR_TRANS", "INCR_TRANS")
AK = "SIMACCESSKEY0001"
SK = "sim-secret-key-value-9"
IAM = {"iam_domain": "acme", "iam_user": "ops", "iam_password": "pa55-W0rd"}


class Answer:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str | URL,
    *,
    headers: dict[str, str] | None = None,
    body: Any = None,
    timeout: float | None = None,
) -> Answer:
    data = None if body is None else json.dumps(body).encode()
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with http.request(
        method, url, headers=headers, data=data, timeout=client_timeout
    ) as resp:
        return Answer(resp.status, resp.headers, await resp.read())


async def list_jobs(
    http: aiohttp.ClientSession,
    sim: Simulated,
    pairs: Iterable[tuple[str, str]],
    project: str | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """GET the listing with exactly these query pairs (encoded as the signer does)."""
    project = project or sim.project_ids[0]
    url = URL(f"{sim.url}/v5/{project}/jobs?{signer.canonical_query(pairs)}", encoded=True)
    return await call(http, "GET", url, headers=headers)


async def all_jobs(
    http: aiohttp.ClientSession,
    sim: Simulated,
    job_type: str,
    project: str | None = None,
    extra: Iterable[tuple[str, str]] = (),
) -> list[dict[str, Any]]:
    """Every job of one listing, in one page."""
    pairs = [("job_type", job_type), ("limit", "100000"), *extra]
    answer = await list_jobs(http, sim, pairs, project)
    assert answer.status == 200, answer.body
    body = answer.json()
    assert body["total_count"] == len(body["jobs"])
    jobs: list[dict[str, Any]] = body["jobs"]
    return jobs


def ids(jobs: Iterable[dict[str, Any]]) -> list[str]:
    return [j["id"] for j in jobs]


async def hook(
    http: aiohttp.ClientSession, sim: Simulated, method: str, path: str,
    body: Any = None,
) -> Any:  # fmt: skip
    answer = await call(http, method, sim.url + path, body=body)
    assert answer.status < 300, answer.body
    return answer.json() if answer.body else None


# --- AK/SK signatures ---


def signed_get(
    sim: Simulated,
    pairs: list[tuple[str, str]],
    *,
    ak: str = AK,
    sk: str = SK,
    now: dt.datetime | None = None,
) -> tuple[URL, dict[str, str]]:
    url = URL(sim.url)
    host = f"{url.host}:{url.port}"
    path = f"/v5/{sim.project_ids[0]}/jobs"
    base = {"Content-Type": "application/json", "X-Project-Id": sim.project_ids[0]}
    when = now or dt.datetime.fromtimestamp(T0, dt.timezone.utc)
    headers = signer.sign("GET", host, path, pairs, base, b"", ak, sk, when)
    full = URL(f"{sim.url}{path}?{signer.canonical_query(pairs)}", encoded=True)
    return full, headers


ODD_QUERY = [
    ("job_type", "sync"),
    ("limit", "5"),
    ("name", ""),
    ("instance_ids", "b"),
    ("instance_ids", "a"),
    ("instance_ip", "10.0.0.1 (x)"),
]


async def test_a_signed_request_is_accepted(start: StartSim, http: aiohttp.ClientSession) -> None:
    sim = await start(access_key=AK, secret_key=SK, jobs=9, projects=1)
    for pairs in ([("job_type", "sync"), ("limit", "5")], ODD_QUERY):
        url, headers = signed_get(sim, pairs)
        answer = await call(http, "GET", url, headers=headers)
        assert answer.status == 200, answer.body
    # A date 14 minutes off is still within the gateway's tolerance.
    late = dt.datetime.fromtimestamp(T0 + 14 * 60, dt.timezone.utc)
    url, headers = signed_get(sim, [("job_type", "sync")], now=late)
    assert (await call(http, "GET", url, headers=headers)).status == 200


def _tampered_query(sim: Simulated) -> tuple[URL, dict[str, str]]:
    url, headers = signed_get(sim, [("job_type", "sync"), ("limit", "10")])
    return URL(str(url).replace("limit=10", "limit=11"), encoded=True), headers


def _tampered_header(sim: Simulated) -> tuple[URL, dict[str, str]]:
    url, headers = signed_get(sim, [("job_type", "sync")])
    return url, {**headers, "X-Project-Id": "0" * 32}


def _without(name: str) -> Callable[[Simulated], tuple[URL, dict[str, str]]]:
    def make(sim: Simulated) -> tuple[URL, dict[str, str]]:
        url, headers = signed_get(sim, [("job_type", "sync")])
        return url, {k: v for k, v in headers.items() if k != name}

    return make


def _garbled(sim: Simulated) -> tuple[URL, dict[str, str]]:
    url, headers = signed_get(sim, [("job_type", "sync")])
    return url, {**headers, "Authorization": headers["Authorization"].replace(", ", " ")}


def _unsigned_date(sim: Simulated) -> tuple[URL, dict[str, str]]:
    url, headers = signed_get(sim, [("job_type", "sync")])
    auth = headers["Authorization"].replace(";x-sdk-date", "")
    return url, {**headers, "Authorization": auth}


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(_tampered_query, id="changed-query"),
        pytest.param(_tampered_header, id="changed-signed-header"),
        pytest.param(lambda s: signed_get(s, [("job_type", "sync")], sk=SK + "x"), id="wrong-sk"),
        pytest.param(lambda s: signed_get(s, [("job_type", "sync")], ak="OTHERAK"), id="wrong-ak"),
        pytest.param(
            lambda s: signed_get(
                s,
                [("job_type", "sync")],
                now=dt.datetime.fromtimestamp(T0 - 16 * 60, dt.timezone.utc),
            ),
            id="stale-date",
        ),
        pytest.param(_without("X-Sdk-Date"), id="missing-date"),
        pytest.param(_without("Authorization"), id="missing-authorization"),
        pytest.param(_garbled, id="malformed-authorization"),
        pytest.param(_unsigned_date, id="date-not-signed"),
    ],
)
async def test_a_tampered_or_stale_signature_is_refused(
    start: StartSim,
    http: aiohttp.ClientSession,
    make: Callable[[Simulated], tuple[URL, dict[str, str]]],
) -> None:
    sim = await start(access_key=AK, secret_key=SK, jobs=9, projects=1)
    url, headers = make(sim)
    answer = await call(http, "GET", url, headers=headers)
    assert answer.status == 401
    body = answer.json()
    assert body["error_code"] == "APIGW.0301"
    assert body["error_msg"].startswith("Incorrect IAM authentication information")
    assert answer.headers["X-Request-Id"]
    for secret in (AK, SK):
        assert secret not in answer.body.decode()


# --- tokens and IAM ---


async def test_a_static_token_is_checked(start: StartSim, http: aiohttp.ClientSession) -> None:
    sim = await start(token="static-t0ken", jobs=9, projects=1)
    good = await list_jobs(
        http, sim, [("job_type", "sync")], headers={"X-Auth-Token": "static-t0ken"}
    )
    assert good.status == 200
    for headers in ({"X-Auth-Token": "static-t0ken-not"}, {}):
        bad = await list_jobs(http, sim, [("job_type", "sync")], headers=headers)
        assert bad.status == 401
        assert bad.json()["error_code"] == "APIGW.0301"
        assert "static-t0ken" not in bad.body.decode()


def login_body(project: str, password: str = IAM["iam_password"]) -> dict[str, Any]:
    user = {"domain": {"name": IAM["iam_domain"]}, "name": IAM["iam_user"], "password": password}
    return {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": user}},
            "scope": {"project": {"id": project}},
        }
    }


async def login(http: aiohttp.ClientSession, sim: Simulated, body: Any) -> Answer:
    return await call(http, "POST", f"{sim.url}/v3/auth/tokens?nocatalog=true", body=body)


async def test_iam_issues_project_scoped_tokens_that_expire(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(token_ttl=3600, jobs=9, projects=2, **IAM)
    first, second = sim.project_ids
    issued = await login(http, sim, login_body(first))
    assert issued.status == 201
    token = issued.headers["X-Subject-Token"]
    assert issued.headers["X-Request-Id"]
    body = issued.json()["token"]
    assert body["project"]["id"] == first
    assert body["expires_at"] == "2023-11-14T23:13:20.000000Z"  # T0 + 3600 s
    assert body["issued_at"] == "2023-11-14T22:13:20.000000Z"
    assert token not in issued.body.decode()

    use = {"X-Auth-Token": token}
    assert (await list_jobs(http, sim, [("job_type", "sync")], first, use)).status == 200
    # Scoped to the first project: refused for the second.
    assert (await list_jobs(http, sim, [("job_type", "sync")], second, use)).status == 401

    await hook(http, sim, "POST", "/_sim/advance", {"seconds": 3599})
    assert (await list_jobs(http, sim, [("job_type", "sync")], first, use)).status == 200
    await hook(http, sim, "POST", "/_sim/advance", {"seconds": 1})
    expired = await list_jobs(http, sim, [("job_type", "sync")], first, use)
    assert expired.status == 401
    assert "expired" in expired.json()["error_msg"]

    renewed = await login(http, sim, login_body(first))
    fresh = {"X-Auth-Token": renewed.headers["X-Subject-Token"]}
    assert (await list_jobs(http, sim, [("job_type", "sync")], first, fresh)).status == 200


async def test_iam_refuses_bad_logins(start: StartSim, http: aiohttp.ClientSession) -> None:
    sim = await start(jobs=0, projects=1, **IAM)
    project = sim.project_ids[0]
    wrong_password = await login(http, sim, login_body(project, password="guess"))
    assert wrong_password.status == 401
    assert "X-Subject-Token" not in wrong_password.headers
    assert "guess" not in wrong_password.body.decode()
    wrong_user = login_body(project)
    wrong_user["auth"]["identity"]["password"]["user"]["name"] = "intruder"
    assert (await login(http, sim, wrong_user)).status == 401
    malformed: list[Any] = [{"auth": {}}, [], "x", login_body("")]
    for bad in malformed:
        assert (await login(http, sim, bad)).status == 400
    assert (await list_jobs(http, sim, [("job_type", "sync")], headers={})).status == 401


async def test_without_auth_options_anything_goes_and_iam_is_absent(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=9, projects=1)
    answer = await list_jobs(http, sim, [("job_type", "sync")], headers={"X-Auth-Token": "x"})
    assert answer.status == 200
    assert (await login(http, sim, login_body(sim.project_ids[0]))).status == 404


# --- listing ---


async def test_paging_under_a_page_cap_returns_every_job_once(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=90, projects=1, page_cap=7)
    listed = ids(sim.world.jobs(sim.project_ids[0], "migration"))  # those v5 lists
    assert len(listed) > 2 * 7
    seen: list[str] = []
    offset, total = 0, None
    while total is None or offset < total:
        pairs = [("job_type", "migration"), ("offset", str(offset)), ("limit", "10")]
        body = (await list_jobs(http, sim, pairs)).json()
        assert len(body["jobs"]) <= 7
        total = body["total_count"]
        seen += ids(body["jobs"])
        offset += len(body["jobs"])
    assert total == len(listed)
    assert len(seen) == len(set(seen)) == total
    assert sorted(seen) == sorted(listed)
    pairs = [("job_type", "migration"), ("offset", str(total))]
    beyond = (await list_jobs(http, sim, pairs)).json()
    assert beyond == {"total_count": total, "jobs": []}


async def test_defaults_sort_by_create_time_descending(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=60, projects=1)
    jobs = await all_jobs(http, sim, "sync")
    times = [parse_time(j.get("create_time")) or 0.0 for j in jobs]
    assert times == sorted(times, reverse=True)
    default_page = (await list_jobs(http, sim, [("job_type", "sync")])).json()
    assert ids(default_page["jobs"]) == ids(jobs)[:10]  # limit defaults to 10


@pytest.mark.parametrize("sort_key", ["name", "status", "net_type", "job_direction", "pay_mode"])
async def test_every_sort_key_sorts_both_ways(
    start: StartSim, http: aiohttp.ClientSession, sort_key: str
) -> None:
    sim = await start(jobs=60, projects=1)
    field = "charging_mode" if sort_key == "pay_mode" else sort_key
    for direction in ("asc", "desc"):
        extra = [("sort_key", sort_key), ("sort_dir", direction)]
        jobs = await all_jobs(http, sim, "sync", extra=extra)
        values = [j.get(field) or "" for j in jobs]
        assert values == sorted(values, reverse=direction == "desc")
        assert len(set(values)) > 1


async def test_each_filter_selects_what_it_says(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=300, projects=1, status_period=0)
    everything = await all_jobs(http, sim, "migration")
    assert len(everything) == len(sim.world.jobs(sim.project_ids[0], "migration")) > 40

    async def only(*pairs: tuple[str, str]) -> list[str]:
        return sorted(ids(await all_jobs(http, sim, "migration", extra=pairs)))

    def where(test: Callable[[dict[str, Any]], bool]) -> list[str]:
        return sorted(j["id"] for j in everything if test(j))

    a, b, c = everything[0], everything[1], everything[2]
    assert await only(("name", f"{a['id']},{b['id']}")) == sorted([a["id"], b["id"]])
    assert await only(("name", "DRS-1")) == where(lambda j: "DRS-1" in (j.get("name") or ""))
    assert await only(("status", c["status"])) == where(lambda j: j.get("status") == c["status"])
    failed = ",".join(s for s in STATUSES if is_failed(s))
    assert await only(("status", failed)) == where(lambda j: is_failed(j.get("status") or "x"))
    for key in ("engine_type", "net_type", "enterprise_project_id"):
        values = {str(j[key]) for j in everything if j.get(key)}
        assert len(values) > 1, key
        for value in values:
            expected = sorted(j["id"] for j in everything if j.get(key) == value)
            assert await only((key, value)) == expected
    assert await only(("enterprise_project_id", "")) == sorted(ids(everything))
    assert await only(("engine_type", "no-such-engine")) == []

    def instance(job: dict[str, Any], side: str, part: str) -> str:
        return str(job["instance_info"][side][part])

    two = [instance(a, "source", "id"), instance(b, "target", "id")]
    expected = sorted([a["id"], b["id"]])
    assert await only(("instance_ids", two[0]), ("instance_ids", two[1])) == expected
    assert await only(("instance_ids", ",".join(two))) == expected
    assert await only(("instance_ip", instance(c, "target", "ip"))) == where(
        lambda j: (
            instance(c, "target", "ip")
            in (instance(j, "source", "ip"), instance(j, "target", "ip"))
        )
    )
    # Empty parameters, as in DRS's own examples, filter nothing.
    blanks = [(k, "") for k in ("name", "status", "engine_type", "net_type", "instance_ip")]
    assert await only(*blanks) == sorted(ids(everything))


@pytest.mark.parametrize(
    "pairs",
    [
        [],
        [("job_type", "")],
        [("job_type", "backup")],
        [("job_type", "sync"), ("offset", "-1")],
        [("job_type", "sync"), ("offset", "x")],
        [("job_type", "sync"), ("limit", "0")],
        [("job_type", "sync"), ("limit", "1.5")],
        [("job_type", "sync"), ("sort_key", "id")],
        [("job_type", "sync"), ("sort_dir", "up")],
        [("job_type", "sync"), ("status", "CREATING,CREATE_FAILED")],
        [("job_type", "sync"), ("name", ",".join(f"id{i}" for i in range(11)))],
        [("job_type", "sync"), *[("instance_ids", f"i{i}") for i in range(11)]],
    ],
)
async def test_bad_parameters_get_a_drs_400(
    start: StartSim, http: aiohttp.ClientSession, pairs: list[tuple[str, str]]
) -> None:
    sim = await start(jobs=9, projects=1)
    answer = await list_jobs(http, sim, pairs)
    assert answer.status == 400
    body = answer.json()
    assert len(body["error_code"]) == 12 and body["error_code"].startswith("DRS.")
    assert 1 <= len(body["error_msg"]) <= 512
    assert answer.headers["X-Request-Id"]


async def test_unknown_projects_and_paths(start: StartSim, http: aiohttp.ClientSession) -> None:
    sim = await start(jobs=9, projects=1)
    empty = await list_jobs(http, sim, [("job_type", "sync")], project="f" * 32)
    assert (empty.status, empty.json()) == (200, {"total_count": 0, "jobs": []})
    missing = await call(http, "GET", f"{sim.url}/v5/{sim.project_ids[0]}/nothing")
    assert missing.status == 404
    assert missing.json()["error_code"] == "APIGW.0101"
    assert missing.headers["X-Request-Id"]


# --- the world ---


async def test_a_seed_and_a_clock_give_the_same_world(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    one = await start(seed=5, jobs=40, projects=2, children_ratio=0.5)
    two = await start(seed=5, jobs=40, projects=2, children_ratio=0.5)
    other = await start(seed=6, jobs=40, projects=2, children_ratio=0.5)
    assert one.project_ids == two.project_ids != other.project_ids
    for a, b in zip(one.project_ids, two.project_ids, strict=True):
        for job_type in ("migration", "sync", "cloudDataGuard"):
            assert await all_jobs(http, one, job_type, a) == await all_jobs(http, two, job_type, b)
    summaries = [await hook(http, s, "GET", "/_sim/summary") for s in (one, two)]
    assert summaries[0] == summaries[1]
    assert summaries[0]["projects"] == one.project_ids


async def test_jobs_are_spread_evenly_with_subtasks(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=20, projects=2, children_ratio=1.0)
    summary = await hook(http, sim, "GET", "/_sim/summary")
    sizes = [
        sum(summary["counts"][p][t].values())
        for p in sim.project_ids
        for t in ("migration", "sync", "cloudDataGuard")
    ]
    assert sum(sizes) == 20 and max(sizes) - min(sizes) <= 1
    subtask_statuses = {s for p in summary["subtasks"].values() for t in p.values() for s in t}
    assert subtask_statuses and all(
        s.startswith(("CHILD_", "RELEASE_CHILD_")) for s in subtask_statuses
    )
    jobs = await all_jobs(http, sim, "sync")
    parents = [j for j in jobs if j.get("children")]
    assert parents
    for parent in parents:
        for child in parent["children"]:
            assert "children" not in child
            assert child["job_mode_role"] == "child"


async def test_the_world_looks_like_real_drs_answers(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=900, projects=1, children_ratio=0.3)
    jobs = [
        j for t in ("migration", "sync", "cloudDataGuard") for j in await all_jobs(http, sim, t)
    ]
    statuses = {j.get("status") for j in jobs}
    assert statuses - set(STATUSES), "an undocumented status"
    assert any(is_failed(s or "") for s in statuses)
    times = [j["create_time"] for j in jobs if j.get("create_time")]
    assert any(t.endswith("Z") for t in times) and any(" " in t for t in times)
    assert all(parse_time(t) is not None for t in times)
    engines = {j.get("engine_type") for j in jobs}
    assert {"oracle-to-gaussdbv5", "redis-to-gaussredis", "mysql-to-mysql"} <= engines
    assert {j.get("net_type") for j in jobs} >= {"eip", "vpc", "vpn"}
    names = "".join(j.get("name") or "" for j in jobs)
    assert '"' in names and "\\" in names and "迁" in names
    documented = {"id", "name", "status", "description", "create_time", "engine_type",
                  "net_type", "charging_mode", "billing_tag", "job_direction", "job_type",
                  "task_type", "enterprise_project_id", "job_mode", "job_mode_role",
                  "is_multi_az", "node_role", "node_new_framework", "job_action", "children"}  # fmt: skip
    assert any(set(j) - documented for j in jobs), "unknown extra fields"
    assert any(documented - {"children"} - set(j) for j in jobs), "missing fields"
    assert any(None in j.values() for j in jobs), "null fields"
    assert {type(j.get("children")) for j in jobs} >= {list, type(None)}
    assert all(j.get("id") for j in jobs)
    assert len(set(ids(jobs))) == len(jobs)


async def test_statuses_move_along_the_life_cycle(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=60, projects=1, status_period=2)
    before = await hook(http, sim, "GET", "/_sim/summary")
    history: dict[str, list[str]] = {}
    task_type: dict[str, str] = {}
    for _ in range(60):
        for job in await all_jobs(http, sim, "migration"):
            task_type[job["id"]] = job.get("task_type") or ""
            seen = history.setdefault(job["id"], [])
            if not seen or seen[-1] != job["status"]:
                seen.append(job["status"])
        await hook(http, sim, "POST", "/_sim/advance", {"seconds": 1})
    moves = [(h[i], h[i + 1], task_type[j]) for j, h in history.items() for i in range(len(h) - 1)]
    assert len(moves) > 10
    for old, new, task in moves:
        # A job whose task_type the API left out may follow any of the three chains.
        chains = [CHAINS[task]] if task in CHAINS else [CHAINS[t] for t in TASK_TYPES]
        allowed = {to for chain in chains for _, to in chain[old].moves}
        assert new in allowed, (old, new, task)
    after = await hook(http, sim, "GET", "/_sim/summary")
    assert after["counts"] != before["counts"]


async def test_frozen_statuses_do_not_move(start: StartSim, http: aiohttp.ClientSession) -> None:
    sim = await start(jobs=30, projects=1, status_period=0)
    before = await all_jobs(http, sim, "sync")
    await hook(http, sim, "POST", "/_sim/advance", {"seconds": 86400})
    assert await all_jobs(http, sim, "sync") == before


async def test_the_clock_moves_statuses_by_itself(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    now = [T0]
    sim = await start(clock=lambda: now[0], jobs=60, projects=1, status_period=2)
    before = await all_jobs(http, sim, "sync")
    now[0] += 600
    after = await all_jobs(http, sim, "sync")
    assert [j["status"] for j in before] != [j["status"] for j in after]


# --- test hooks ---


async def test_hooks_pin_delete_and_add_jobs(start: StartSim, http: aiohttp.ClientSession) -> None:
    sim = await start(jobs=30, projects=1, children_ratio=1.0)
    project = sim.project_ids[0]
    jobs = await all_jobs(http, sim, "sync")
    victim, pinned = jobs[0]["id"], jobs[1]["id"]

    await hook(http, sim, "POST", f"/_sim/jobs/{pinned}/status", {"status": "CHANGE_JOB_FAILED"})
    await hook(http, sim, "POST", "/_sim/advance", {"seconds": 10_000})
    assert sim.world.find(pinned)["status"] == "CHANGE_JOB_FAILED"  # type: ignore[index]
    await hook(http, sim, "POST", f"/_sim/jobs/{pinned}/status", {"status": None})

    parent = next(j for j in jobs if j["id"] not in (victim, pinned) and j.get("children"))
    child = parent["children"][0]["id"]
    await hook(http, sim, "DELETE", f"/_sim/jobs/{child}")
    await hook(http, sim, "DELETE", f"/_sim/jobs/{victim}")
    left = await all_jobs(http, sim, "sync")
    assert victim not in ids(left) and len(left) == len(jobs) - 1
    assert child not in ids(next(j for j in left if j["id"] == parent["id"])["children"])
    gone = await call(http, "DELETE", f"{sim.url}/_sim/jobs/{victim}")
    assert gone.status == 404

    job = {"id": "added-1", "name": "x", "status": "ODD_STATUS", "create_time": "2020-12-21 10:57:49",
           "children": [{"id": "added-1-c", "status": "CHILD_TRANSFER_FAILED"}]}  # fmt: skip
    new_project = "a" * 32
    added = await hook(
        http, sim, "POST", "/_sim/jobs", {"project_id": new_project, "job_type": "sync", "job": job}
    )
    assert added == {"id": "added-1"}
    assert await all_jobs(http, sim, "sync", new_project) == [job]
    summary = await hook(http, sim, "GET", "/_sim/summary")
    assert summary["projects"] == [project, new_project]
    assert summary["counts"][new_project]["sync"] == {"ODD_STATUS": 1}
    assert summary["subtasks"][new_project]["sync"] == {"CHILD_TRANSFER_FAILED": 1}
    await hook(
        http, sim, "POST", "/_sim/jobs/added-1-c/status", {"status": "CHILD_TRANSFER_COMPLETE"}
    )
    listed = await all_jobs(http, sim, "sync", new_project)
    assert listed[0]["children"][0]["status"] == "CHILD_TRANSFER_COMPLETE"

    again = await call(
        http,
        "POST",
        f"{sim.url}/_sim/jobs",
        body={"project_id": project, "job_type": "sync", "job": job},
    )
    assert again.status == 400
    bad_status = await call(
        http, "POST", f"{sim.url}/_sim/jobs/{pinned}/status", body={"status": 3}
    )
    assert bad_status.status == 400
    unknown = await call(http, "POST", f"{sim.url}/_sim/jobs/nope/status", body={"status": "X"})
    assert unknown.status == 404
    for bad_advance in ({"seconds": -1}, {"seconds": "1"}, {}):
        assert (await call(http, "POST", f"{sim.url}/_sim/advance", body=bad_advance)).status == 400


# --- faults ---


async def set_faults(http: aiohttp.ClientSession, sim: Simulated, **faults: Any) -> Any:
    return await hook(http, sim, "POST", "/_sim/faults", faults)


async def test_error_rate_answers_server_errors_in_every_shape(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=9, projects=1, error_rate=1.0)
    seen: dict[int, dict[str, Any]] = {}
    for _ in range(40):
        answer = await list_jobs(http, sim, [("job_type", "sync")])
        seen[answer.status] = answer.json()
        assert answer.headers["X-Request-Id"]
    assert set(seen) == {500, 502, 503}
    assert {"error_code", "error_msg"} <= set(seen[500])
    assert {"errorCode", "errorMsg"} <= set(seen[502])
    assert {"code", "message"} <= set(seen[503])
    await set_faults(http, sim, error_rate=0)
    assert (await list_jobs(http, sim, [("job_type", "sync")])).status == 200


async def test_throttling_answers_429_with_retry_after(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=9, projects=1, throttle_rate=1.0, retry_after=2)
    codes = set()
    for _ in range(20):
        answer = await list_jobs(http, sim, [("job_type", "sync")])
        assert answer.status == 429
        assert answer.headers["Retry-After"] == "2"
        assert answer.json()["error_msg"] == "The request is throttled."
        codes.add(answer.json()["error_code"])
    assert codes == {"APIG.0308", "APIGW.0308"}
    await set_faults(http, sim, retry_after=None)
    answer = await list_jobs(http, sim, [("job_type", "sync")])
    assert answer.status == 429 and "Retry-After" not in answer.headers


async def test_malformed_answers_are_not_json(start: StartSim, http: aiohttp.ClientSession) -> None:
    sim = await start(jobs=9, projects=1, malformed_rate=1.0)
    kinds = set()
    for _ in range(20):
        answer = await list_jobs(http, sim, [("job_type", "sync")])
        assert answer.status == 200
        with pytest.raises(ValueError):
            answer.json()
        kinds.add(answer.headers["Content-Type"].split(";")[0])
    assert kinds == {"application/json", "text/html"}


async def test_a_hanging_or_slow_server_times_the_client_out(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=9, projects=1, hang_rate=1.0, hang=60)
    with pytest.raises(asyncio.TimeoutError):
        await list_jobs_with_timeout(http, sim, 0.3)
    await set_faults(http, sim, hang_rate=0, latency=60)
    with pytest.raises(asyncio.TimeoutError):
        await list_jobs_with_timeout(http, sim, 0.3)
    await set_faults(http, sim, latency=0)
    assert (await list_jobs_with_timeout(http, sim, 30)).status == 200
    # close() (in the fixture) must not wait out the sleeping requests.


async def list_jobs_with_timeout(
    http: aiohttp.ClientSession, sim: Simulated, timeout: float
) -> Answer:
    url = f"{sim.url}/v5/{sim.project_ids[0]}/jobs?job_type=sync"
    return await call(http, "GET", url, timeout=timeout)


async def test_faults_follow_the_seed(start: StartSim, http: aiohttp.ClientSession) -> None:
    runs = []
    for _ in range(2):
        sim = await start(seed=3, jobs=9, projects=1, error_rate=0.3, throttle_rate=0.3)
        runs.append(
            [(await list_jobs(http, sim, [("job_type", "sync")])).status for _ in range(30)]
        )
    assert runs[0] == runs[1]
    assert {200, 429} <= set(runs[0]) and set(runs[0]) & {500, 502, 503}


async def test_fault_changes_are_checked(start: StartSim, http: aiohttp.ClientSession) -> None:
    sim = await start(jobs=0, projects=1)
    now = await set_faults(http, sim, error_rate=0.5)
    assert now["error_rate"] == 0.5 and now["retry_after"] == 1.0
    for bad in (
        {"error_rate": 2},
        {"latency": -1},
        {"nonsense": 1},
        {"hang": "x"},
        {"error_rate": True},
    ):
        answer = await call(http, "POST", f"{sim.url}/_sim/faults", body=bad)
        assert answer.status == 400
        assert "error" in answer.json()
    assert (await call(http, "POST", f"{sim.url}/_sim/faults", body=[1])).status == 400


# --- a hostile or broken server ---


async def raw_get(url: str | URL, **kw: Any) -> tuple[int, Any, bytes]:
    """A GET as it comes over the wire: nothing inflated, headers of any size taken."""
    async with (
        aiohttp.ClientSession(auto_decompress=False, max_field_size=1 << 21) as session,
        session.get(url, allow_redirects=False, **kw) as resp,
    ):
        return resp.status, resp.headers, await resp.read()


async def test_a_gzip_bomb_is_small_on_the_wire_and_valid_json_inflated(start: StartSim) -> None:
    sim = await start(jobs=9, projects=1, gzip_bomb_mib=64)
    url = f"{sim.url}/v5/{sim.project_ids[0]}/jobs?job_type=sync"
    status, headers, body = await raw_get(url)
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert int(headers["Content-Length"]) == len(body) < 256 * 1024
    inflated = gzip.decompress(body)
    assert len(inflated) > 64 << 20 and inflated[: 64 << 20].strip() == b""
    normal = sim.world.list_jobs(sim.project_ids[0], parse_job_query([("job_type", "sync")]))
    assert json.loads(inflated) == json.loads(normal)


async def test_a_lying_total_is_said_by_both_list_apis(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=9, projects=1, lying_total=10**18)
    v5 = (await list_jobs(http, sim, [("job_type", "sync")])).json()
    assert v5["total_count"] == 10**18 and v5["jobs"]
    url = f"{sim.url}/v3/{sim.project_ids[0]}/jobs"
    v3 = (await call(http, "POST", url, body={"db_use_type": "sync"})).json()
    assert v3["total_record"] == 10**18 and v3["jobs"]


async def test_endless_pages_answer_the_first_page_whatever_is_asked(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=30, projects=1, endless_pages=True, v5_lists="all", v3_lists="all")
    pages = [
        (
            await list_jobs(http, sim, [("job_type", "sync"), ("offset", str(o)), ("limit", "2")])
        ).json()
        for o in (0, 2, 1000)
    ]
    assert all(page == {"jobs": pages[0]["jobs"]} for page in pages) and len(pages[0]["jobs"]) == 2
    url = f"{sim.url}/v3/{sim.project_ids[0]}/jobs"
    v3 = [
        (
            await call(
                http, "POST", url, body={"db_use_type": "sync", "cur_page": n, "per_page": 2}
            )
        ).json()
        for n in (1, 5)
    ]
    assert v3[0] == v3[1] and "total_record" not in v3[0] and len(v3[0]["jobs"]) == 2


async def test_a_redirect_leads_to_the_same_url_on_https_before_auth(start: StartSim) -> None:
    sim = await start(jobs=9, projects=1, token="needed-but-not-sent", redirect=307)
    url = f"{sim.url}/v5/{sim.project_ids[0]}/jobs?job_type=sync&limit=5"
    status, headers, _ = await raw_get(url)
    assert status == 307
    assert headers["Location"] == url.replace("http://", "https://")


async def test_header_padding_pads_every_answer_errors_too(start: StartSim) -> None:
    sim = await start(jobs=9, projects=1, header_padding=100_000)
    for query in ("job_type=sync", "job_type=nope"):
        url = f"{sim.url}/v5/{sim.project_ids[0]}/jobs?{query}"
        status, headers, _ = await raw_get(url)
        assert status in (200, 400) and headers["X-Padding"] == "x" * 100_000


async def test_faults_hit_only_the_projects_named(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=18, projects=2, error_rate=1.0)
    hit, spared = sim.project_ids
    await set_faults(http, sim, fault_projects=[hit])
    for _ in range(5):
        assert (await list_jobs(http, sim, [("job_type", "sync")], hit)).status >= 500
        assert (await list_jobs(http, sim, [("job_type", "sync")], spared)).status == 200
    now = await set_faults(http, sim, fault_projects=[])
    assert now["fault_projects"] == []
    assert (await list_jobs(http, sim, [("job_type", "sync")], spared)).status >= 500


async def test_hostile_fault_changes_are_checked(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=0, projects=1)
    now = await set_faults(
        http,
        sim,
        gzip_bomb_mib=2,
        lying_total=10**8,
        endless_pages=True,
        redirect=308,
        header_padding=10,
        fault_projects=["p"],
    )
    assert now["lying_total"] == 10**8 and now["endless_pages"] is True
    assert (await set_faults(http, sim, lying_total=None))["lying_total"] is None
    for bad in (
        {"redirect": 200},
        {"redirect": 302.5},
        {"gzip_bomb_mib": -1},
        {"gzip_bomb_mib": 10**9},
        {"header_padding": "big"},
        {"endless_pages": 1},
        {"fault_projects": "p"},
        {"fault_projects": [""]},
    ):
        answer = await call(http, "POST", f"{sim.url}/_sim/faults", body=bad)
        assert answer.status == 400, bad
        assert "error" in answer.json()


# --- the extension point: middlewares and the answer override ---


async def test_the_override_sees_each_call_after_auth_and_the_fault_draws_stay(
    http: aiohttp.ClientSession,
) -> None:
    seen: list[tuple[str, str, tuple[tuple[str, str], ...], Any]] = []
    routes: list[str | None] = []
    woke: list[bool] = []

    async def override(call: simulator.ApiCall) -> web.StreamResponse | None:
        seen.append((call.api, call.project_id, call.query, call.body))
        if ("answer", "teapot") in call.query:
            return web.Response(status=418)
        if ("answer", "normal") in call.query:
            return call.normal()
        if ("answer", "hang") in call.query:
            await call.pause(60)
            woke.append(True)
        return None

    @web.middleware
    async def route_names(request: web.Request, handler: Any) -> web.StreamResponse:
        routes.append(request.match_info.route.name)
        return await handler(request)

    options = simulator.SimulatorOptions(seed=3, jobs=9, projects=1, token="t0k", error_rate=0.5)
    plain = await simulator.start(options, clock=fixed())
    sim = await simulator.start(
        options, clock=fixed(), middlewares=[route_names], override=override
    )
    try:
        project = sim.project_ids[0]
        auth = {"X-Auth-Token": "t0k"}
        assert (await list_jobs(http, sim, [("job_type", "sync")])).status == 401
        assert seen == []  # refused at the gateway: the override is not asked
        odd = "job_type=sync&name=&instance_ids=b&instance_ids=a%2Cc"  # as sent, in order
        await call(
            http, "GET", URL(f"{sim.url}/v5/{project}/jobs?{odd}", encoded=True), headers=auth
        )
        decoded = (
            ("job_type", "sync"),
            ("name", ""),
            ("instance_ids", "b"),
            ("instance_ids", "a,c"),
        )
        assert seen == [("v5_jobs", project, decoded, None)]

        # Answered by the override or not, each request makes its fault draws: the requests
        # it leaves alone get what the same seed gives without an override.
        sync = [("job_type", "sync")]
        expected = [(await list_jobs(http, plain, sync, headers=auth)).status for _ in range(22)]
        statuses = []
        for i in range(20):
            pairs = [*sync, ("answer", "teapot")] if i % 2 else sync
            statuses.append((await list_jobs(http, sim, pairs, headers=auth)).status)
        assert statuses[1::2] == [418] * 10
        assert statuses[::2] == expected[2:22:2] and {200, 500, 502, 503} & set(statuses)
        normal = await list_jobs(http, sim, [*sync, ("answer", "normal")], headers=auth)
        assert normal.json() == json.loads(sim.world.list_jobs(project, parse_job_query(sync)))
        assert normal.headers["X-Request-Id"]

        await hook(http, sim, "GET", "/_sim/summary")
        assert set(routes) == {"v5_jobs", None}  # the control hooks are not named for an API
        hanging = asyncio.ensure_future(
            list_jobs(http, sim, [*sync, ("answer", "hang")], headers=auth)
        )
        for _ in range(400):
            if ("answer", "hang") in seen[-1][2]:
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the hanging request never reached the override")
    finally:
        await plain.close()
        await sim.close()  # wakes the override's pause: it must not be cut off
    assert woke == [True]
    with contextlib.suppress(aiohttp.ClientError):
        await hanging


async def test_the_simulators_work_on_an_answer_is_done_within_its_latency(
    http: aiohttp.ClientSession,
) -> None:
    """The latency is the time from a request to its answer, the simulator's work included,
    as a cloud API's servers answer side by side: an answer that takes the simulator 0.6 s
    of work (here an override that blocks its process) leaves 1 s after its request, not
    1.6 s; one that takes longer than the latency leaves when it is made. With one worker,
    the work starts once the latency is over."""
    latency, work = 1.0, 0.6

    async def override(call: simulator.ApiCall) -> web.StreamResponse | None:
        time.sleep(1.5 if ("work", "long") in call.query else work)  # the process is busy
        return None

    async def answer_times(one_worker: bool) -> list[float]:
        options = simulator.SimulatorOptions(
            jobs=9, projects=1, latency=latency, one_worker=one_worker
        )
        sim = await simulator.start(options, clock=fixed(), override=override)
        took = []
        try:
            for pairs in ([("job_type", "sync")], [("job_type", "sync"), ("work", "long")]):
                sent = time.monotonic()
                assert (await list_jobs(http, sim, pairs)).status == 200
                took.append(time.monotonic() - sent)
        finally:
            await sim.close()
        return took

    side_by_side = await answer_times(one_worker=False)
    assert latency <= side_by_side[0] < latency + work / 2
    assert 1.5 <= side_by_side[1] < 1.5 + work / 2  # work outlasting the latency: no more
    queued = await answer_times(one_worker=True)
    assert queued[0] >= latency + work and queued[1] >= latency + 1.5


# --- the test hooks on it: scripted answers, request statistics and drift between pages ---


async def test_scripted_answers_come_in_order_after_auth_then_normal_ones_resume(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=9, projects=1, token="t0k", error_rate=1.0)
    auth = {"X-Auth-Token": "t0k"}
    sync = [("job_type", "sync")]
    raw = b'{"total_count": 1, "jobs": [{"id": "\xff\xfe"}]}'
    left = sim.script(
        [
            {"status": 403, "body": {"error_code": "APIGW.0302"}, "headers": {"Retry-After": "7"}},
            {"body": "<html>502</html>", "headers": {"content-type": "text/html"}},
            {"body_base64": base64.b64encode(raw).decode()},
            {"body": {"total_count": "3", "jobs": {}}},
            {"status": 502},
            {"headers": {"X-Extra": "yes"}},
        ],
    )
    assert left == 6
    refused = await list_jobs(http, sim, sync)  # no token: refused, and no answer used up
    assert refused.status == 401

    answers = [await list_jobs(http, sim, sync, headers=auth) for _ in range(7)]
    assert (answers[0].status, answers[0].json()) == (403, {"error_code": "APIGW.0302"})
    assert answers[0].headers["Retry-After"] == "7"
    assert answers[0].headers["Content-Type"] == "application/json"
    assert answers[1].body == b"<html>502</html>"
    assert answers[1].headers["Content-Type"] == "text/html"
    assert answers[2].body == raw
    assert answers[3].json() == {"total_count": "3", "jobs": {}}
    assert (answers[4].status, answers[4].body) == (502, b"")
    # No status and no body: the normal listing, free of the error_rate fault.
    assert answers[5].status == 200 and answers[5].headers["X-Extra"] == "yes"
    expected = json.loads(sim.world.list_jobs(sim.project_ids[0], parse_job_query(sync)))
    assert answers[5].json() == expected
    assert answers[6].status in (500, 502, 503)  # the script is used up: faults are back
    assert all(a.headers["X-Request-Id"] for a in answers)
    assert sim.script_left == 0


async def test_a_script_for_one_project_leaves_the_others_alone(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=18, projects=2)
    one, two = sim.project_ids
    sim.script([{"status": 503}])
    sim.script([{"status": 418}, {"status": 429}], project_id=two)
    sync = [("job_type", "sync")]
    assert (await list_jobs(http, sim, sync, project=two)).status == 418
    assert (await list_jobs(http, sim, sync, project=one)).status == 503
    assert (await list_jobs(http, sim, sync, project=one)).status == 200
    assert (await list_jobs(http, sim, sync, project=two)).status == 429
    assert (await list_jobs(http, sim, sync, project=two)).status == 200
    # Setting again replaces what was left; an empty list clears it.
    sim.script([{"status": 500}, {"status": 500}])
    assert sim.script([]) == 0
    assert (await list_jobs(http, sim, sync, project=one)).status == 200


async def test_scripted_bodies_can_be_cut_chunked_or_oversized(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=9, projects=1)
    url = f"{sim.url}/v5/{sim.project_ids[0]}/jobs?job_type=sync"
    normal = await call(http, "GET", url)
    sim.script(
        [
            {"cut": True},
            {"body": '{"total_count": 3, "jobs": []}', "cut": True, "chunked": True},
            {"body": "ab", "repeat": 100_000},
            {"body": "xyz", "repeat": 50_000, "chunked": True},
        ],
    )
    for _ in range(2):
        with pytest.raises(aiohttp.ClientPayloadError):
            await call(http, "GET", url)
    announced = await call(http, "GET", url)
    assert announced.headers["Content-Length"] == "200000"
    assert announced.body == b"ab" * 100_000
    streamed = await call(http, "GET", url)
    assert "Content-Length" not in streamed.headers
    assert streamed.headers["Transfer-Encoding"] == "chunked"
    assert streamed.body == b"xyz" * 50_000
    again = await call(http, "GET", url)  # the cut connections left nothing behind
    assert (again.status, again.body) == (200, normal.body)


async def test_a_scripted_hang_ends_early_once_enough_requests_are_in_flight(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=9, projects=1)
    url = f"{sim.url}/v5/{sim.project_ids[0]}/jobs?job_type=sync"
    sim.script([{"hang": 60, "until_in_flight": 3}] * 3 + [{"hang": 60}])
    first = [asyncio.ensure_future(call(http, "GET", url)) for _ in range(2)]
    await sim.wait_in_flight(2)
    assert sim.requests.in_flight == 2
    assert not any(task.done() for task in first)  # two in flight: both still held
    third = await call(http, "GET", url, timeout=30)
    answers = [third, *await asyncio.gather(*first)]
    assert [a.status for a in answers] == [200, 200, 200]
    assert (sim.requests.in_flight, sim.requests.most_in_flight) == (0, 3)
    with pytest.raises(asyncio.TimeoutError):  # a plain hang waits it out
        await call(http, "GET", url, timeout=0.3)


async def test_stats_show_requests_in_flight_and_each_listings_arrival(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=9, projects=1, token="t0k")
    project = sim.project_ids[0]
    auth = {"X-Auth-Token": "t0k"}
    before = time.monotonic()
    queries = [
        [("job_type", "sync")],
        [("job_type", "migration"), ("offset", "20"), ("limit", "5")],
        [("offset", "x"), ("limit", "")],
    ]
    for pairs in queries:
        await list_jobs(http, sim, pairs, headers=auth)
    await list_jobs(http, sim, [("job_type", "sync"), ("offset", "3")])  # refused: still seen
    await hook(http, sim, "GET", "/_sim/summary")  # hooks are not API requests
    after = time.monotonic()
    listings = sim.requests.arrivals
    assert [(a.job_type, a.offset, a.limit) for a in listings] == [
        ("sync", 0, 10),
        ("migration", 20, 5),
        (None, None, 10),
        ("sync", 3, 10),
    ]
    assert {(a.path, a.project_id) for a in listings} == {(f"/v5/{project}/jobs", project)}
    times = [a.at for a in listings]
    assert before <= times[0] and times == sorted(times) and times[-1] <= after
    assert (sim.requests.in_flight, sim.requests.most_in_flight) == (0, 1)

    sim.script([{"hang": 60}])
    hanging = asyncio.ensure_future(list_jobs(http, sim, [("job_type", "sync")], headers=auth))
    await sim.wait_in_flight(1)
    sim.requests.reset()
    reset = sim.requests
    assert (reset.in_flight, reset.most_in_flight, reset.arrivals) == (1, 1, [])
    hanging.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await hanging


async def test_a_drift_changes_the_jobs_before_the_first_page_past_the_first(
    start: StartSim, http: aiohttp.ClientSession
) -> None:
    sim = await start(jobs=120, projects=1, status_period=0, children_ratio=0)
    project = sim.project_ids[0]
    before = await all_jobs(http, sim, "sync")
    assert len(before) > 10
    new = {"id": "drifted-in", "status": "CREATING", "create_time": "2099-01-01T00:00:00Z"}
    assert sim.drift(project, "sync", delete=[before[0]["id"]]) == 1
    assert sim.drift(project, "sync", add=[new]) == 2

    def page(offset: int, job_type: str = "sync") -> list[tuple[str, str]]:
        return [("job_type", job_type), ("offset", str(offset)), ("limit", "5")]

    first_page = (await list_jobs(http, sim, page(0))).json()
    assert first_page["total_count"] == len(before)
    assert (await list_jobs(http, sim, page(5, "migration"))).status == 200  # another type
    assert sim.drifts_left == 2

    second_page = (await list_jobs(http, sim, page(5))).json()
    assert second_page["total_count"] == len(before) - 1  # deleted just before this page
    assert ids(second_page["jobs"]) == ids(before[6:11])  # the rest shifted up by one
    third_page = (await list_jobs(http, sim, page(10))).json()
    assert third_page["total_count"] == len(before)  # the next drift, before the next page
    assert ids(await all_jobs(http, sim, "sync")) == ["drifted-in", *ids(before[1:])]
    assert sim.drifts_left == 0


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("script", {"answers": {"status": 500}}),
        ("script", {"answers": [{"status": 99}]}),
        ("script", {"answers": [{"status": True}]}),
        ("script", {"answers": [{"stauts": 500}]}),
        ("script", {"answers": [{"body": "", "body_base64": ""}]}),
        ("script", {"answers": [{"body_base64": "not base64!"}]}),
        ("script", {"answers": [{"body": "x", "repeat": 0}]}),
        ("script", {"answers": [{"repeat": 3}]}),
        ("script", {"answers": [{"body": "x", "repeat": 2**40}]}),
        ("script", {"answers": [{"headers": {"X": 1}}]}),
        ("script", {"answers": [{"headers": {"Content-Length": "9"}}]}),
        ("script", {"answers": [{"headers": {"X": "a\r\nY: b"}}]}),
        ("script", {"answers": [{"cut": "yes"}]}),
        ("script", {"answers": [{"hang": -1}]}),
        ("script", {"answers": [{"until_in_flight": 2}]}),
        ("script", {"answers": [{"hang": 1, "until_in_flight": 0}]}),
        ("script", {"answers": [], "project_id": 7}),
        ("script", {"answers": [], "projects": "p"}),
        ("script", {"answers": "status=500"}),  # a string is a sequence, but not of answers
        ("drift", {"job_type": "sync", "delete": ["x"]}),
        ("drift", {"project_id": "p", "job_type": "nope", "add": [{}]}),
        ("drift", {"project_id": "p", "job_type": "sync"}),
        ("drift", {"project_id": "p", "job_type": "sync", "add": ["x"]}),
        ("drift", {"project_id": "p", "job_type": "sync", "delete": "x"}),
        ("drift", {"project_id": "p", "job_type": "sync", "delete": ["no-such-job"]}),
        ("drift", {"project_id": "p", "job_type": "sync", "add": [{"id": "taken"}]}),
        ("drift", {"project_id": "p", "job_type": "sync", "add": [{}], "when": 1}),
    ],
)
async def test_script_and_drift_mistakes_are_refused(
    start: StartSim, http: aiohttp.ClientSession, method: str, args: dict[str, Any]
) -> None:
    sim = await start(jobs=0, projects=1)
    await hook(http, sim, "POST", "/_sim/jobs", {"project_id": "p", "job_type": "sync",
                                                 "job": {"id": "taken"}})  # fmt: skip
    with pytest.raises((ScriptError, TypeError)) as refused:
        getattr(sim, method)(**args)
    assert str(refused.value)
    assert (sim.script_left, sim.drifts_left) == (0, 0)


# --- options and flags ---


def parse(*argv: str) -> simulator.SimulatorOptions:
    parser = argparse.ArgumentParser()
    simulator.add_arguments(parser)
    return simulator.options_from_args(parser.parse_args(argv))


def test_flags_build_options() -> None:
    assert parse() == simulator.SimulatorOptions()
    o = parse(
        "--seed", "4", "--projects", "2", "--jobs", "7", "--children-ratio", "0.5",
        "--page-cap", "3", "--latency", "0.1", "--access-key", "a", "--secret-key", "SK-S3CRET",
        "--token", "TOKEN-S3CRET", "--iam-domain", "d", "--iam-user", "u", "--iam-password",
        "PW-S3CRET",
        "--token-ttl", "60", "--status-period", "0", "--error-rate", "0.1",
        "--throttle-rate", "0.2", "--retry-after", "none", "--hang-rate", "0.3",
        "--hang", "5", "--malformed-rate", "0.4", "--gzip-bomb-mib", "2048",
        "--lying-total", "1e8", "--endless-pages", "--redirect", "302",
        "--header-padding", "9000", "--fault-projects", "p1, p2", "--fault-apis", "v5_jobs",
        "--one-worker",
    )  # fmt: skip
    assert o == simulator.SimulatorOptions(
        seed=4, projects=2, jobs=7, children_ratio=0.5, page_cap=3, latency=0.1,
        access_key="a", secret_key="SK-S3CRET", token="TOKEN-S3CRET", iam_domain="d",
        iam_user="u", iam_password="PW-S3CRET", token_ttl=60, status_period=0, error_rate=0.1, throttle_rate=0.2,
        retry_after=None, hang_rate=0.3, hang=5, malformed_rate=0.4, gzip_bomb_mib=2048,
        lying_total=10**8, endless_pages=True, redirect=302, header_padding=9000,
        fault_projects=("p1", "p2"), fault_apis=("v5_jobs",), one_worker=True,
    )  # fmt: skip
    assert "S3CRET" not in repr(o)


@pytest.mark.parametrize(
    "argv",
    [["--jobs", "-1"], ["--error-rate", "1.5"], ["--latency", "x"], ["--projects", "0"],
     ["--retry-after", "-2"], ["--secret-key", ""], ["--lying-total", "many"],
     ["--gzip-bomb-mib", "-1"], ["--header-padding", "1.5"]],
)  # fmt: skip
def test_bad_flags_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse(*argv)
    assert info.value.code == 2


def test_credentials_that_come_in_pairs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError) as info:
        parse(
            "--access-key",
            "AK-VISIBLE",
        )
    assert "--secret-key" in str(info.value) and "AK-VISIBLE" not in str(info.value)
    with pytest.raises(ConfigError):
        parse("--iam-domain", "d", "--iam-user", "u")


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--redirect", "200"], "--redirect"),
        (["--gzip-bomb-mib", "100000"], "--gzip-bomb-mib"),
        (["--header-padding", "99999999"], "--header-padding"),
    ],
)
def test_hostile_options_out_of_range_name_their_flag(argv: list[str], flag: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(*argv)
    assert info.value.path == flag


def test_help_shows_no_secret(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("--secret-key", "SK-HIDDEN-1", "--help")
    assert "SK-HIDDEN-1" not in capsys.readouterr().out
