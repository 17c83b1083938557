"""Discovery: with only credentials and ``discovery.enabled``, every project IAM lists is polled.

Served exporters (real processes) against the simulator, whose IAM lists its projects in
several regions, a subproject, ``MOS`` and a disabled project: every job of every
discoverable project is exported, a project added at run time is polled and a removed one's
series go, MOS, disabled and excluded projects are never polled, an IAM failure keeps the
last list and is counted, and three shards poll each discovered target exactly once.
Huawei's official IAM SDK lists the simulator's projects with the same AK/SK signature.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.typedefs import Handler
from huaweicloudsdkcore.auth.credentials import GlobalCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.region.region import Region
from huaweicloudsdkiam.v3 import IamClient, KeystoneListAuthProjectsRequest

from drs_exporter import simulator
from drs_exporter.cloud.client import DrsClient
from drs_exporter.cloud.iam import IamProject, ProjectLister, decode_projects
from drs_exporter.cloud.limiter import Limiter
from drs_exporter.cloud.transport import Transport
from drs_exporter.config import Credentials, DiscoveryConfig, Project, parse_config
from drs_exporter.errors import ApiError, ConfigError
from drs_exporter.polling.counters import Counters
from drs_exporter.polling.discovered import projects, region_of, select
from drs_exporter.polling.sharding import Shard

from .conftest import Sample, StartSim, samples, sim_call, start_serving, stop, wait_ready
from .conftest import select as select_samples
from .simulated import Simulated
from .test_cli import run
from .test_reliability import scrape, wait_for

AK = "DISCOVERYAK000000001"
SK = "discovery-secret-key"
JOB_TYPES = ("migration", "sync", "cloudDataGuard")
CREDS = Credentials(access_key=AK, secret_key=SK)


# The rules that turn IAM's projects into targets.


def discovery(**fields: Any) -> DiscoveryConfig:
    return DiscoveryConfig(enabled=True, credentials=CREDS, **fields)


PROJECTS = [
    IamProject("p-hk", "ap-southeast-1"),
    IamProject("p-hk-team", "ap-southeast-1_team"),
    IamProject("p-bj", "cn-north-4"),
    IamProject("p-obs", "MOS"),
    IamProject("p-off", "cn-east-3", enabled=False),
    IamProject("p-mars", "mars-north-1"),  # a region DRS has no known endpoint in
]


def test_a_projects_region_is_its_name_up_to_the_first_underscore() -> None:
    assert region_of("ap-southeast-1") == "ap-southeast-1"
    assert region_of("ap-southeast-1_team_a") == "ap-southeast-1"


def test_mos_disabled_and_endpointless_projects_make_no_target() -> None:
    found = select(PROJECTS, discovery())
    assert [(f.project.id, f.region) for f in found] == [
        ("p-hk", "ap-southeast-1"),
        ("p-hk-team", "ap-southeast-1"),
        ("p-bj", "cn-north-4"),
    ]
    assert found[0].endpoint == "https://drs.ap-southeast-1.myhuaweicloud.com"


def test_discovery_endpoint_reaches_any_region_with_its_name_put_in() -> None:
    found = select(PROJECTS, discovery(endpoint="https://drs.{region}.example.com"))
    assert [f.project.id for f in found] == ["p-hk", "p-hk-team", "p-bj", "p-mars"]
    assert found[-1].endpoint == "https://drs.mars-north-1.example.com"


def test_regions_and_exclusions_narrow_what_is_found() -> None:
    only_hk = discovery(regions=("ap-southeast-1",))
    assert [f.project.id for f in select(PROJECTS, only_hk)] == ["p-hk", "p-hk-team"]
    no_hk = discovery(exclude_regions=("ap-southeast-1",))
    assert [f.project.id for f in select(PROJECTS, no_hk)] == ["p-bj"]
    by_id_and_name = discovery(exclude_projects=("p-hk", "cn-north-4"))
    assert [f.project.id for f in select(PROJECTS, by_id_and_name)] == ["p-hk-team"]


def test_one_target_per_project_and_explicit_targets_win() -> None:
    d = discovery(job_types=("sync", "migration"))
    explicit = Project("p-bj", "cn-north-4", "https://drs.example.com", CREDS, ("sync",))
    made = projects(select(PROJECTS, d), d, [explicit])
    assert [(t.project_id, t.job_types) for t in made] == [
        ("p-hk", ("sync", "migration")),
        ("p-hk-team", ("sync", "migration")),
    ]
    assert all(
        t.credentials == CREDS and t.apis == Project("p", "r", "e", CREDS).apis for t in made
    )


@pytest.mark.parametrize(
    "body",
    [b"<html>", b"[]", b'{"projects": 3}', b'{"links": {}}'],
)
def test_an_unreadable_project_list_is_a_decode_error(body: bytes) -> None:
    with pytest.raises(ApiError) as caught:
        decode_projects(body)
    assert caught.value.reason == "decode"


def test_odd_entries_are_left_out_and_unknown_enabled_counts_as_disabled() -> None:
    body = json.dumps(
        {
            "projects": [
                {"id": "a", "name": "cn-north-4", "enabled": True, "extra": 1},
                {"id": 7, "name": "cn-north-4"},
                "nonsense",
                {"id": "b", "name": "cn-north-4_x", "enabled": "yes"},
                {"id": "c", "name": "cn-north-4_y"},
            ],
            "links": {"self": "https://iam.example.com/v3/auth/projects", "next": None},
        }
    ).encode()
    projects, following = decode_projects(body)
    assert projects == [
        IamProject("a", "cn-north-4"),
        IamProject("b", "cn-north-4_x", enabled=False),
        IamProject("c", "cn-north-4_y"),
    ]
    assert following is None


# The config section.

BAD = [
    ("discovery: {enabled: true, enabld: true}", "discovery.enabld: unknown key 'enabld'"),
    ("discovery: {enabled: yes-please}", "discovery.enabled: "),
    ("discovery: {enabled: true, interval: 0s}", "discovery.interval: must be from 1s"),
    ("discovery: {enabled: true, regions: [xx-nowhere-1]}", "discovery.regions[0]: unknown"),
    ("discovery: {enabled: true, regions: cn-north-4}", "discovery.regions: must be a list"),
    ("discovery: {enabled: true, job_types: [copy]}", "discovery.job_types[0]: unknown job"),
    ("discovery: {enabled: true, iam_endpoint: iam}", "discovery.iam_endpoint: "),
    ("discovery: {enabled: true, endpoint: 'https://{zone}.x'}", "discovery.endpoint: the only"),
    ("discovery: {enabled: true, exclude_projects: ['']}", "discovery.exclude_projects[0]: "),
    ("enabled: true", "enabled: unknown key 'enabled' (did you mean 'discovery.enabled'?)"),
    ("discovery: {enabled: false}", "targets: missing: list targets, or set discovery.enabled"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_a_bad_discovery_section_is_one_line_naming_the_field(text: str, message: str) -> None:
    import yaml

    data = yaml.safe_load(f"credentials: {{access_key: a, secret_key: b}}\n{text}\n")
    with pytest.raises(ConfigError) as caught:
        parse_config(data, base_dir=".", environ={})
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value)


def test_discovery_takes_the_environments_credentials_and_needs_some() -> None:
    data = {"discovery": {"enabled": True}}
    env = {"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK}
    config = parse_config(data, base_dir=".", environ=env)
    assert config.targets == ()
    assert config.discovery.credentials == CREDS
    with pytest.raises(ConfigError, match=r"^credentials: no credentials"):
        parse_config(data, base_dir=".", environ={})


# Over real sockets: the simulator's IAM, served exporters.


async def iam_projects(sim: Simulated) -> list[dict[str, Any]]:
    listing = await sim_call(sim, "GET", "/_sim/projects")
    projects: list[dict[str, Any]] = listing["projects"]
    return projects


def write(
    tmp_path: Path, sim: Simulated, extra: str = "", interval: str = "10m", more: str = ""
) -> Path:
    """Only credentials and discovery (with the simulator as IAM and DRS endpoint); ``more``
    lines of discovery, ``extra`` sections."""
    path = tmp_path / "config.yaml"
    path.write_text(
        f"credentials: {{access_key: {AK}, secret_key: {SK}}}\n"
        "discovery:\n"
        "  enabled: true\n"
        f"  iam_endpoint: {sim.url}\n"
        f"  endpoint: {sim.url}\n"
        f"  interval: {interval}\n"
        + more
        + "poll: {interval: 1s, timeout: 5s, retries: 0}\n"
        + extra
    )
    return path


def polled(found: list[Sample]) -> set[tuple[str, str, str]]:
    return {
        (labels["project_id"], labels["region"], labels["job_type"])
        for _, labels, _ in select_samples(found, "drs_up")
    }


def job_counts(found: list[Sample]) -> Counter[tuple[str, str, str]]:
    counts: Counter[tuple[str, str, str]] = Counter()
    for _, labels, value in select_samples(found, "drs_jobs"):
        counts[(labels["project_id"], labels["job_type"], labels["status"])] += int(value)
    return +counts


def truth(summary: dict[str, Any]) -> Counter[tuple[str, str, str]]:
    return +Counter(
        {
            (project, job_type, status): n
            for project, by_type in summary["counts"].items()
            for job_type, by_status in by_type.items()
            for status, n in by_status.items()
        }
    )


def value(found: list[Sample], name: str, **labels: str) -> float:
    return sum(v for _, _, v in select_samples(found, name, **labels))


@pytest.fixture
async def sim(start_sim: StartSim) -> Simulated:
    return await start_sim(
        seed=19, projects=5, jobs=90, access_key=AK, secret_key=SK, status_period=0
    )


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_with_only_credentials_every_job_of_every_discovered_project_is_exported(
    sim: Simulated, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    listed = await iam_projects(sim)
    names = {p["name"] for p in listed}
    assert {"MOS", "cn-east-3", "ap-southeast-1_team"} <= names
    assert len({p["name"].split("_")[0] for p in listed}) >= 3  # several regions
    proc, base = await start_serving(write(tmp_path, sim))
    try:
        await wait_ready(session, base)
        found = await scrape(session, base + "/metrics")
    finally:
        log = await stop(proc)
    regions = {p["id"]: p["name"].split("_")[0] for p in listed}
    expected = {(p, regions[p], jt) for p in sim.project_ids for jt in JOB_TYPES}
    assert polled(found) == expected  # MOS and the disabled project never
    assert all(v == 1 for _, _, v in select_samples(found, "drs_up"))
    summary = await sim_call(sim, "GET", "/_sim/summary")
    assert job_counts(found) == truth(summary)
    assert value(found, "drs_jobs") == sum(truth(summary).values()) > 0
    assert value(found, "drs_discovery_targets") == len(expected)
    assert value(found, "drs_discovery_last_success_timestamp_seconds") > time.time() - 600
    assert value(found, "drs_api_requests_total", api="iam_projects", code="200") == 1
    assert SK not in log


async def test_projects_come_and_go_and_an_iam_failure_keeps_the_last_list(
    sim: Simulated, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    original = list(sim.project_ids)
    excluded = original[1]
    proc, base = await start_serving(
        write(tmp_path, sim, interval="1s", more=f"  exclude_projects: [{excluded}]\n")
    )
    try:
        await wait_ready(session, base)
        first = await scrape(session, base + "/metrics")
        assert excluded not in {p for p, _, _ in polled(first)}

        # A project created at run time, with a job: polled once discovery sees it.
        added = await sim_call(sim, "POST", "/_sim/projects", {"name": "cn-north-4_new"})
        job = {"name": "fresh", "status": "FULL_TRANSFER_STARTED"}
        await sim_call(
            sim,
            "POST",
            "/_sim/jobs",
            {"project_id": added["id"], "job_type": "sync", "job": job},
        )

        def has_new(found: list[Sample]) -> bool:
            return value(found, "drs_jobs", project_id=added["id"], job_type="sync") == 1

        await wait_for(session, base, has_new, "the added project's job")

        # IAM fails: counted, and every project known stays polled.
        await sim_call(sim, "POST", "/_sim/iam", {"fail_status": 503})

        def failed(found: list[Sample]) -> bool:
            return value(found, "drs_discovery_errors_total", reason="http_5xx") >= 2

        during = await wait_for(session, base, failed, "IAM failures counted")
        assert {p for p, _, _ in polled(during)} == {*original, added["id"]} - {excluded}
        assert value(during, "drs_api_requests_total", api="iam_projects", code="503") >= 2
        await sim_call(sim, "POST", "/_sim/iam", {"fail_status": None})

        # The project is deleted: its series go.
        await sim_call(sim, "DELETE", f"/_sim/projects/{added['id']}")

        def gone(found: list[Sample]) -> bool:
            return added["id"] not in {p for p, _, _ in polled(found)}

        after = await wait_for(session, base, gone, "the removed project's series gone")
        assert not [s for s in after if s[1].get("project_id") == added["id"]]
        assert {p for p, _, _ in polled(after)} == set(original) - {excluded}
    finally:
        log = await stop(proc)
    assert "discovery failed, keeping the last list" in log


async def test_a_reload_that_narrows_discovery_selects_from_the_list_it_has(
    sim: Simulated, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    dropped = sim.project_ids[0]
    config = write(tmp_path, sim)
    proc, base = await start_serving(config)
    try:
        await wait_ready(session, base)
        write(tmp_path, sim, more=f"  exclude_projects: [{dropped}]\n")
        proc.send_signal(signal.SIGHUP)

        def narrowed(found: list[Sample]) -> bool:
            return dropped not in {p for p, _, _ in polled(found)}

        found = await wait_for(session, base, narrowed, "the excluded project's series gone")
    finally:
        await stop(proc)
    assert {p for p, _, _ in polled(found)} == set(sim.project_ids) - {dropped}
    assert value(found, "drs_discovery_targets") == 3 * (len(sim.project_ids) - 1)
    # IAM is asked the same way as before: the list it gave is kept, not asked again.
    assert value(found, "drs_api_requests_total", api="iam_projects") == 1


async def test_a_region_without_a_list_api_is_left_out_of_discovery(
    sim: Simulated, start_sim: StartSim, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    """IAM lists a project in every region of an account; DRS lists jobs in fewer. A
    discovered project whose region answers 404 APIGW.0101 to both list APIs is left out
    rather than failing every cycle; a configured target is never left out."""
    bare = "0bare0000000000000000000000000000"
    await sim_call(sim, "POST", "/_sim/projects", {"name": "la-south-2", "id": bare})
    # The bare region's endpoint is another simulator (each region has its own endpoint);
    # the world's projects are configured targets on the first.
    elsewhere = await start_sim(seed=2, projects=1, jobs=3, access_key=AK, secret_key=SK)
    unpublished = {
        "status": 404,
        "body": {"error_code": "APIGW.0101", "error_msg": "The API does not exist"},
    }
    for api in ("v5_jobs", "v3_jobs"):
        elsewhere.script([unpublished] * 30, project_id=bare, api=api)
    targets = "".join(
        f"  - {{project_id: {p}, region: ap-southeast-1, endpoint: '{sim.url}'}}\n"
        for p in sim.project_ids
    )
    path = tmp_path / "config.yaml"
    path.write_text(
        f"credentials: {{access_key: {AK}, secret_key: {SK}}}\n"
        f"discovery: {{enabled: true, iam_endpoint: '{sim.url}', endpoint: '{elsewhere.url}'}}\n"
        f"targets:\n{targets}poll: {{interval: 1s, timeout: 5s, retries: 0}}\n"
    )
    proc, base = await start_serving(path)
    try:
        await wait_ready(session, base)

        def left_out(found: list[Sample]) -> bool:
            return bare not in {p for p, _, _ in polled(found)}

        found = await wait_for(session, base, left_out, "the bare region left out")
        await asyncio.sleep(2.5)  # two more cycles: the bare project is not asked again
        found = await scrape(session, base + "/metrics")
    finally:
        log = await stop(proc)
    assert {p for p, _, _ in polled(found)} == set(sim.project_ids)
    assert all(v == 1 for _, _, v in select_samples(found, "drs_up"))
    assert value(found, "drs_discovery_targets") == 0
    assert "no DRS list API answers in region la-south-2" in log
    # At most one poll of each job type, both APIs (the targets still polling when the first
    # found the region bare are stopped then), and no more.
    assert 60 - 6 <= elsewhere.script_left < 60
    code, out, _ = await run("check", "--config.file", str(path))
    assert "la-south-2" in out and code == 0, out  # a discovered project there is no failure


async def test_three_shards_poll_each_discovered_target_exactly_once(
    sim: Simulated, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    config = write(tmp_path, sim)
    procs = [
        await start_serving(config, "--total-shards", "3", "--shard", str(i)) for i in range(3)
    ]
    found: list[list[Sample]] = []
    try:
        for _, base in procs:
            await wait_ready(session, base)
            found.append(await scrape(session, base + "/metrics"))
    finally:
        for proc, _ in procs:
            await stop(proc)
    listed = {p["id"]: p["name"].split("_")[0] for p in await iam_projects(sim)}
    every = {(p, listed[p], jt) for p in sim.project_ids for jt in JOB_TYPES}
    shares = [polled(f) for f in found]
    for i, share in enumerate(shares):
        assert share == {t for t in every if Shard(i, 3).owns(*t)}
    assert sum(len(s) for s in shares) == len(every) == len(set().union(*shares))
    summary = await sim_call(sim, "GET", "/_sim/summary")
    assert sum((job_counts(f) for f in found), Counter()) == truth(summary)


async def test_an_explicit_target_wins_for_its_project(
    sim: Simulated, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    mine = sim.project_ids[0]
    extra = (
        f"targets:\n  - project_id: {mine}\n    region: eu-west-0\n"
        f"    endpoint: {sim.url}\n    job_types: [sync]\n"
    )
    result = await run("once", "--config.file", str(write(tmp_path, sim, extra)))
    code, out, _ = result
    assert code == 0
    found = samples(out)
    assert {(r, jt) for p, r, jt in polled(found) if p == mine} == {("eu-west-0", "sync")}
    others = {p for p, _, _ in polled(found)} - {mine}
    assert others == set(sim.project_ids) - {mine}  # once polls the discovered ones
    assert value(found, "drs_discovery_targets") == 3 * (len(sim.project_ids) - 1)


async def test_check_prints_what_discovery_found_before_the_targets(
    sim: Simulated, tmp_path: Path
) -> None:
    code, out, _ = await run("check", "--config.file", str(write(tmp_path, sim)))
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split() == [
        "DISCOVERED",
        "PROJECT",
        "NAME",
        "REGION",
        "DRS",
        "ENDPOINT",
        "APIS",
    ]
    listed = {p["id"]: p for p in await iam_projects(sim)}
    rows = lines[1 : 1 + len(sim.project_ids)]
    assert [r.split()[0] for r in rows] == sim.project_ids
    for row in rows:
        project_id, name, region, endpoint = row.split()[:4]
        assert listed[project_id]["name"] == name and name.startswith(region)
        assert endpoint == sim.url
    assert any(line.startswith("PROJECT ") for line in lines[len(rows) + 1 :])


async def test_once_and_check_fail_when_iam_fails(sim: Simulated, tmp_path: Path) -> None:
    await sim_call(sim, "POST", "/_sim/iam", {"fail_status": 503})
    config = str(write(tmp_path, sim))
    code, out, err = await run("once", "--config.file", config)
    assert code == 1
    assert value(samples(out), "drs_discovery_errors_total", reason="http_5xx") == 1
    assert "discovery failed, no project list yet: http_5xx" in err
    code, out, _ = await run("check", "--config.file", config)
    assert code == 1
    assert out.startswith("discovery failed: http_5xx: iam_domains: HTTP 503")


async def test_check_with_nothing_to_check_says_why_in_one_line(
    sim: Simulated, tmp_path: Path
) -> None:
    await sim_call(sim, "POST", "/_sim/iam", {"fail_status": 503})
    code, out, err = await run("check", "--config.file", str(write(tmp_path, sim)))
    assert code == 1
    assert "PROJECT" not in out  # no table without rows
    last = err.splitlines()[-1]
    assert last.startswith("nothing to check: discovery failed (http_5xx: iam_domains: HTTP 503")
    assert last.endswith(") and the config lists no targets")

    # IAM answers, but lists no project in the regions asked.
    await sim_call(sim, "POST", "/_sim/iam", {"fail_status": None})
    elsewhere = write(tmp_path, sim, more="  regions: [af-south-1]\n")
    code, out, err = await run("check", "--config.file", str(elsewhere))
    assert code == 1
    assert out.strip() == "discovery found 0 projects"
    assert err.splitlines()[-1].startswith("nothing to check: discovery found no project to poll")

    # A shard that none of the discovered targets falls to.
    targets = [
        (p["id"], region_of(p["name"]), job_type)
        for p in await iam_projects(sim)
        if p["enabled"] and p["name"] != "MOS"
        for job_type in JOB_TYPES
    ]
    empty = next(n for n in range(50) if not any(Shard(n, 50).owns(*t) for t in targets))
    config = str(write(tmp_path, sim))
    code, out, err = await run(
        "check", "--config.file", config, "--total-shards=50", f"--shard={empty}"
    )
    assert code == 1
    assert "PROJECT" not in out.split("discovery found", 1)[1]
    assert err.splitlines()[-1] == f"nothing to check: shard {empty} of 50 has none of the targets"


async def test_check_redacts_a_token_echoed_in_discoverys_failure(tmp_path: Path) -> None:
    echoed: list[str] = []

    @web.middleware
    async def echo(request: web.Request, handler: Handler) -> web.StreamResponse:
        token = request.headers.get("X-Auth-Token")
        if request.path != "/v3/auth/projects" or token is None:
            return await handler(request)
        echoed.append(token)
        error = {"code": "400", "title": "Bad Request", "message": f"bad token {token}"}
        return web.json_response({"error": error}, status=400)

    options = simulator.SimulatorOptions(
        seed=3, projects=2, jobs=6, iam_domain="acme", iam_user="ops", iam_password="pw-S3cret"
    )
    sim = await simulator.start(options, middlewares=[echo])
    try:
        path = tmp_path / "config.yaml"
        path.write_text(
            "credentials:\n"
            f"  iam: {{domain_name: acme, username: ops, password: pw-S3cret, endpoint: {sim.url}}}\n"
            f"discovery: {{enabled: true, iam_endpoint: {sim.url}, endpoint: {sim.url}}}\n"
            "poll: {timeout: 5s, retries: 0}\n"
        )
        code, out, err = await run("check", "--config.file", str(path))
    finally:
        await sim.close()
    assert code == 1
    (token,) = set(echoed)
    assert len(token) > 20 and token not in out + err and "pw-S3cret" not in out + err
    last = err.splitlines()[-1]
    assert last.startswith("nothing to check: discovery failed (") and "bad token <secret>" in last


async def test_iam_password_discovery_uses_a_token_scoped_to_the_account(
    start_sim: StartSim, tmp_path: Path
) -> None:
    sim = await start_sim(
        seed=3, projects=2, jobs=12, iam_domain="acme", iam_user="ops", iam_password="pw"
    )
    path = tmp_path / "config.yaml"
    path.write_text(
        "credentials:\n"
        f"  iam: {{domain_name: acme, username: ops, password: pw, endpoint: {sim.url}}}\n"
        f"discovery: {{enabled: true, iam_endpoint: {sim.url}, endpoint: {sim.url}}}\n"
        "poll: {timeout: 5s, retries: 0}\n"
    )
    code, out, err = await run("once", "--config.file", str(path))
    assert code == 0, err
    found = samples(out)
    assert {p for p, _, _ in polled(found)} == set(sim.project_ids)
    assert value(found, "drs_api_requests_total", api="iam_projects", code="200") == 1
    # One account-scoped login for IAM, one project-scoped login per project for DRS.
    logins = value(found, "drs_api_requests_total", api="iam_tokens", code="201")
    assert logins == 1 + len(sim.project_ids)


# Huawei's official IAM SDK against the simulator, and the exporter's lister beside it.


def sdk_client(sim: Simulated, sk: str = SK, domain_id: str | None = None) -> Any:
    """Huawei's IAM client as a user builds it for the simulator: AK/SK global credentials
    and a region whose endpoint is the simulator, so that the SDK looks the account id up
    from IAM itself (unless given) as it does for a real region."""
    config = HttpConfig.get_default_config()
    config.timeout = (5, 20)
    credentials = GlobalCredentials(AK, sk, domain_id)
    credentials.iam_endpoint = sim.url  # where the SDK asks for the account id
    return (
        IamClient.new_builder()
        .with_credentials(credentials)
        .with_region(Region("simulated", sim.url))
        .with_http_config(config)
        .build()
    )


async def test_the_official_iam_sdk_lists_the_simulators_projects_with_aksk(
    sim: Simulated,
) -> None:
    # Building it asks /v3/auth/domains (synchronously: in a thread, as every SDK call here).
    client = await asyncio.to_thread(sdk_client, sim)
    answer = await asyncio.to_thread(
        client.keystone_list_auth_projects, KeystoneListAuthProjectsRequest()
    )
    sdk = {(p.id, p.name, p.enabled) for p in answer.projects}
    assert sdk == {(p["id"], p["name"], p["enabled"]) for p in await iam_projects(sim)}

    async with aiohttp.ClientSession() as http:
        counters = Counters()
        transport = Transport(http, Limiter(4, 100.0), counters, 5.0)
        lister = ProjectLister(discovery(iam_endpoint=sim.url), time.time)
        ours = await lister.projects(DrsClient(transport, 0))
        again = await lister.projects(DrsClient(transport, 0))
    assert (
        {(p.id, p.name, p.enabled) for p in ours}
        == sdk
        == {(p.id, p.name, p.enabled) for p in again}
    )
    # The account id is asked once, as the SDK caches it.
    assert counters.api_requests == {
        ("global", "iam_domains", "200"): 1,
        ("global", "iam_projects", "200"): 2,
    }

    for sk, domain_id in ((SK + "-wrong", None), (SK, "f" * 32)):
        wrong = await asyncio.to_thread(sdk_client, sim, sk, domain_id)
        with pytest.raises(Exception, match=r"401|verify aksk|X-Domain-Id"):
            await asyncio.to_thread(
                wrong.keystone_list_auth_projects, KeystoneListAuthProjectsRequest()
            )


async def test_a_signature_that_names_no_account_is_refused(
    sim: Simulated, session: aiohttp.ClientSession
) -> None:
    """What a global service asks of AK/SK: the simulator refuses a signature without
    X-Domain-Id, so the exporter's lister must send it to pass (the test above)."""
    from drs_exporter.cloud.auth import AkSkSigner, Request

    url = sim.url + "/v3/auth/projects"
    headers = await AkSkSigner(AK, SK).headers(
        Request("GET", url, (), {"Content-Type": "application/json"}),
        None,  # type: ignore[arg-type]
    )
    async with session.get(url, headers=headers) as resp:
        assert resp.status == 401
        assert "X-Domain-Id" in (await resp.json())["error_msg"]


# The simulator's IAM.


async def test_the_simulators_iam_lists_regions_a_subproject_mos_and_a_disabled_project(
    sim: Simulated,
) -> None:
    listed = {p["name"]: p for p in await iam_projects(sim)}
    assert listed["MOS"]["enabled"] and not listed["cn-east-3"]["enabled"]
    team = listed["ap-southeast-1_team"]
    assert team["parent_id"] == listed["ap-southeast-1"]["id"]  # a subproject's parent
    assert {p["id"] for p in listed.values()} >= set(sim.project_ids)
    assert all(p["domain_id"] == listed["MOS"]["domain_id"] for p in listed.values())


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("POST", "/_sim/projects", {}, 400, "name (a string) is required"),
        ("POST", "/_sim/projects", {"name": "x", "enabled": "no"}, 400, "enabled must be"),
        ("POST", "/_sim/projects", {"name": "x", "id": 5}, 400, "id must be"),
        ("DELETE", "/_sim/projects/nope", None, 404, "no such project"),
        ("POST", "/_sim/iam", {"fail_status": 200}, 400, "fail_status must be"),
        ("POST", "/_sim/iam", {"fail_status": True}, 400, "fail_status must be"),
    ],
)
async def test_the_project_hooks_refuse_what_they_cannot_do(
    sim: Simulated,
    session: aiohttp.ClientSession,
    method: str,
    path: str,
    body: Any,
    status: int,
    error: str,
) -> None:
    async with session.request(method, sim.url + path, json=body) as resp:
        assert resp.status == status
        assert (await resp.json())["error"].startswith(error)


async def test_an_account_scoped_token_lists_projects_but_drs_refuses_it(
    start_sim: StartSim, session: aiohttp.ClientSession
) -> None:
    sim = await start_sim(projects=1, jobs=3, iam_domain="acme", iam_user="ops", iam_password="pw")
    login = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"domain": {"name": "acme"}, "name": "ops", "password": "pw"}},
            },
            "scope": {"domain": {"name": "acme"}},
        }
    }
    async with session.post(sim.url + "/v3/auth/tokens", json=login) as resp:
        assert resp.status == 201
        assert "project" not in (await resp.json())["token"]
        token = resp.headers["X-Subject-Token"]
    headers = {"X-Auth-Token": token}
    async with session.get(sim.url + "/v3/auth/projects", headers=headers) as resp:
        assert resp.status == 200
    project = sim.project_ids[0]
    url = f"{sim.url}/v5/{project}/jobs?job_type=sync"
    async with session.get(url, headers=headers) as resp:
        assert resp.status == 401
