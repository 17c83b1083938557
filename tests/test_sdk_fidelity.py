"""The simulator against Huawei's official Python SDK (``huaweicloudsdkdrs``): its signer's
requests are accepted, and its models parse every answer, field for field.

The SDK is synchronous (``requests``): each call runs in a thread while the in-process
simulator answers on the event loop. It is configured as a user configures it for a private
endpoint: ``BasicCredentials(ak, sk, project_id)`` (which sends ``X-Project-Id``), the
simulator's ``http://127.0.0.1:PORT`` as the endpoint (the SDK keeps an explicit scheme),
no region (so it never asks IAM for a project id). The world's clock is frozen at the
real time the test starts, so the SDK's X-Sdk-Date passes the gateway's skew check and the
answers can be compared with the world's truth of the same instant.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.http.http_handler import HttpHandler
from huaweicloudsdkdrs import v3, v5

from drs_exporter.cloud import signer
from drs_exporter.model import JOB_TYPES

from .conftest import StartSim
from .simulated import Simulated

AK = "SDKFIDELITYAK0000001"
SK = "sdk-fidelity-secret-key"
V3_MODELS = importlib.import_module("huaweicloudsdkdrs.v3.model")
V5_MODELS = importlib.import_module("huaweicloudsdkdrs.v5.model")
PRIMITIVES: dict[str, Callable[[Any], bool]] = {
    "str": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "object": lambda v: True,
}

# The v3 client's methods warn that they are deprecated (in favour of newer names).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@dataclass
class Exchanges:
    """What the SDK sent and got back, as the wire carried it."""

    sent: list[Any] = field(default_factory=list)  # requests.PreparedRequest
    bodies: list[Any] = field(default_factory=list)  # the decoded JSON answers

    def handler(self) -> HttpHandler:
        def record(**kwargs: Any) -> None:
            response = kwargs["response"]
            self.sent.append(response.request)
            self.bodies.append(json.loads(response.text))

        return HttpHandler().add_response_handler(record)


def client(kind: Any, sim: Simulated, exchanges: Exchanges, sk: str = SK) -> Any:
    """A DRS client of the SDK (``kind``: v3 or v5 DrsClient) for the simulator's project."""
    config = HttpConfig.get_default_config()
    config.timeout = (5, 20)
    credentials = BasicCredentials(AK, sk, sim.project_ids[0])
    return (
        kind.new_builder()
        .with_credentials(credentials)
        .with_endpoints([sim.url])
        .with_http_config(config)
        .with_http_handler(exchanges.handler())
        .build()
    )


def conforms(value: Any, kind: str, models: Any, where: str = "$") -> list[str]:
    """Where a decoded JSON value does not have the type the SDK's model declares (null
    and absent fields are allowed; fields the model does not know are ignored)."""
    if value is None:
        return []
    if kind.startswith("list["):
        if not isinstance(value, list):
            return [f"{where}: not a list"]
        inner = kind[5:-1]
        return [p for i, v in enumerate(value) for p in conforms(v, inner, models, f"{where}[{i}]")]
    if kind.startswith("dict("):
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        inner = kind.split(", ", 1)[1][:-1]
        return [p for k, v in value.items() for p in conforms(v, inner, models, f"{where}.{k}")]
    if kind in PRIMITIVES:
        return [] if PRIMITIVES[kind](value) else [f"{where}: {value!r} is not {kind}"]
    model = getattr(models, kind)
    if not isinstance(value, dict):
        return [f"{where}: not a {kind} object"]
    problems = []
    for attr, attr_kind in model.openapi_types.items():
        key = model.attribute_map[attr]
        problems += conforms(value.get(key), attr_kind, models, f"{where}.{key}")
    return problems


@pytest.fixture
async def sim(start_sim: StartSim) -> Simulated:
    started = time.time()
    return await start_sim(
        clock=lambda: started,
        v5_lists="own",
        jobs=300,
        projects=1,
        children_ratio=0.3,
        access_key=AK,
        secret_key=SK,
    )


def every_id(sim: Simulated) -> list[str]:
    """Every job and subtask id of the project, whatever API lists it."""
    out: list[str] = []
    for job_type in JOB_TYPES:
        for api in ("v5", "v3"):
            for job in sim.world.jobs(sim.project_ids[0], job_type, api):
                out += [job["id"], *(c["id"] for c in job.get("children") or [])]
    return list(dict.fromkeys(out))


def assert_signed_as_we_sign(request: Any) -> None:
    """The SDK's signature is the one our signer computes over the same request, body
    included: the simulator's gateway verifies what the SDK signs."""
    auth = signer.parse_authorization(request.headers["Authorization"])
    url = urlsplit(request.url)
    headers = {name: request.headers[name] for name in auth.signed_headers}
    body = request.body or b""
    body = body.encode() if isinstance(body, str) else body
    pairs = [tuple(p.split("=", 1)) for p in url.query.split("&") if p]
    decoded = [(unquote(k), unquote(v)) for k, v in pairs]
    canonical = signer.canonical_request(
        request.method,
        url.path,
        signer.canonical_query(decoded),
        headers,
        auth.signed_headers,
        body,
    )
    expected = signer.signature(SK, signer.string_to_sign(canonical, headers["x-sdk-date"]))
    assert auth.signature == expected


async def test_the_sdk_lists_v5_jobs_and_parses_them(sim: Simulated) -> None:
    exchanges = Exchanges()
    drs = client(v5.DrsClient, sim, exchanges)
    listed = 0
    for job_type in JOB_TYPES:
        request = v5.ListJobsRequest(job_type=job_type, limit=1000, offset=0)
        response = await asyncio.to_thread(drs.list_jobs, request)
        truth = sorted(sim.world.jobs(sim.project_ids[0], job_type), key=lambda j: j["id"])
        assert response.total_count == len(truth)
        got = sorted(response.jobs or [], key=lambda j: j.id)
        assert [j.id for j in got] == [j["id"] for j in truth]
        for parsed, job in zip(got, truth, strict=True):
            assert (parsed.status, parsed.engine_type) == (
                job.get("status"),
                job.get("engine_type"),
            )
            assert parsed.node_new_framework == job.get("node_new_framework")
            assert [c.id for c in parsed.children or []] == [
                c["id"] for c in job.get("children") or []
            ]
        assert conforms(exchanges.bodies[-1], "ListJobsResponse", V5_MODELS) == []
        listed += len(got)
    assert listed > 50
    assert_signed_as_we_sign(exchanges.sent[-1])


async def test_the_sdk_lists_v3_jobs_and_parses_them(sim: Simulated) -> None:
    exchanges = Exchanges()
    drs = client(v3.DrsClient, sim, exchanges)
    children = 0
    for job_type in JOB_TYPES:
        truth = {j["id"]: j for j in sim.world.jobs(sim.project_ids[0], job_type, "v3")}
        jobs: list[Any] = []
        while len(jobs) < len(truth):
            query = v3.QueryJobsReq(db_use_type=job_type, cur_page=len(jobs) // 50 + 1, per_page=50)
            response = await asyncio.to_thread(drs.show_job_list, v3.ShowJobListRequest(body=query))
            assert response.total_record == len(truth)
            assert conforms(exchanges.bodies[-1], "ShowJobListResponse", V3_MODELS) == []
            assert response.jobs
            jobs += response.jobs
        assert sorted(j.id for j in jobs) == sorted(truth)
        for parsed in jobs:
            job = truth[parsed.id]
            assert (parsed.status, parsed.engine_type) == (
                job.get("status"),
                job.get("engine_type"),
            )
            assert parsed.db_use_type == job.get("db_use_type")
            assert parsed.node_new_framework == job.get("node_newFramework")  # v3's spelling
            for parsed_child, child in zip(
                parsed.children or [], job.get("children") or [], strict=True
            ):
                assert (parsed_child.id, parsed_child.error_msg) == (
                    child["id"],
                    child["error_msg"],
                )
                children += 1
    assert children
    request = exchanges.sent[-1]
    assert request.method == "POST" and json.loads(request.body)["db_use_type"] == "cloudDataGuard"
    assert_signed_as_we_sign(request)  # a POST: the body is part of the signature


async def test_the_sdk_makes_both_batch_calls_and_parses_every_figure(sim: Simulated) -> None:
    exchanges = Exchanges()
    drs = client(v3.DrsClient, sim, exchanges)
    ids = every_id(sim)
    assert len(ids) > 300
    progress_seen = status_seen = 0
    for k in range(0, len(ids), 100):
        batch = ids[k : k + 100]
        body = v3.BatchQueryProgressReq(jobs=batch)
        progress = await asyncio.to_thread(
            drs.batch_list_progresses, v3.BatchListProgressesRequest(body=body)
        )
        assert conforms(exchanges.bodies[-1], "BatchListProgressesResponse", V3_MODELS) == []
        assert progress.count == len(progress.results) == len(batch)
        for parsed in progress.results:
            truth = sim.world.progress(parsed.job_id)
            assert truth is not None
            for name in (
                "progress", "incre_trans_delay", "incre_trans_delay_millis", "task_mode",
                "transfer_status", "process_time", "remaining_time", "error_code",
                "error_msg", "apply_rows_rate", "apply_bytes_rate",
            ):  # fmt: skip
                assert getattr(parsed, name) == truth.get(name), name
            expected_map = truth.get("progress_map")
            got_map = {k: v.to_dict() for k, v in (parsed.progress_map or {}).items()}
            assert got_map == (expected_map or {}) or (expected_map is None and not got_map)
            progress_seen += 1
        assert_signed_as_we_sign(exchanges.sent[-1])

        page = v3.BatchQueryJobReqPage(jobs=batch, page_req=v3.PageReq(cur_page=1, per_page=100))
        statuses = await asyncio.to_thread(
            drs.batch_list_job_status, v3.BatchListJobStatusRequest(body=page)
        )
        assert conforms(exchanges.bodies[-1], "BatchListJobStatusResponse", V3_MODELS) == []
        assert statuses.count == len(statuses.results) == len(batch)
        for parsed in statuses.results:
            assert parsed.to_dict() == sim.world.status(parsed.id)
            status_seen += 1
    assert progress_seen == status_seen == len(ids)


async def test_a_wrong_secret_key_is_refused_as_the_gateway_does(sim: Simulated) -> None:
    drs = client(v3.DrsClient, sim, Exchanges(), sk="not-the-secret")
    query = v3.QueryJobsReq(db_use_type="sync")
    with pytest.raises(ClientRequestException) as refused:
        await asyncio.to_thread(drs.show_job_list, v3.ShowJobListRequest(body=query))
    assert refused.value.status_code == 401
    assert refused.value.error_code == "APIGW.0301"
    assert refused.value.request_id  # the simulator's X-Request-Id, as the SDK reads it


async def test_a_drs_400_reaches_the_sdk_as_a_client_error(sim: Simulated) -> None:
    drs = client(v3.DrsClient, sim, Exchanges())
    body = v3.BatchQueryJobReqPage(jobs=["a"], page_req=v3.PageReq(cur_page=9, per_page=5))
    with pytest.raises(ClientRequestException) as refused:
        await asyncio.to_thread(drs.batch_list_job_status, v3.BatchListJobStatusRequest(body=body))
    assert (refused.value.status_code, refused.value.error_code) == (400, "DRS.10000001")


def test_the_type_check_sees_what_the_sdk_models_would_not_take() -> None:
    """So that the checks above can fail: a figure as a number, a map as a list."""
    good = {"count": 1, "results": [{"job_id": "j", "progress": "5", "apply_rows_rate": -1}]}
    assert conforms(good, "BatchListProgressesResponse", V3_MODELS) == []
    bad = {
        "count": "1",
        "results": [{"job_id": "j", "progress": 5, "progress_map": [], "apply_rows_rate": True}],
    }
    assert conforms(bad, "BatchListProgressesResponse", V3_MODELS) == [
        "$.count: '1' is not int",
        "$.results[0].progress: 5 is not str",
        "$.results[0].progress_map: not an object",
        "$.results[0].apply_rows_rate: True is not int",
    ]


def dr_ids(sim: Simulated) -> list[str]:
    """The project's DR job ids (DR jobs have no subtasks)."""
    return [
        job["id"]
        for api in ("v5", "v3")
        for job in sim.world.jobs(sim.project_ids[0], "cloudDataGuard", api)
    ]


async def test_the_sdk_reads_rpo_and_rto_answered_with_202(sim: Simulated) -> None:
    exchanges = Exchanges()
    drs = client(v3.DrsClient, sim, exchanges)
    ids = list(dict.fromkeys(dr_ids(sim)))
    seen = 0
    for k in range(0, len(ids), 50):
        batch = ids[k : k + 50]
        body = v3.BatchQueryRpoAndRtoReq(jobs=batch)
        answer = await asyncio.to_thread(
            drs.batch_list_rpos_and_rtos, v3.BatchListRposAndRtosRequest(body=body)
        )
        assert answer.status_code == 202
        assert conforms(exchanges.bodies[-1], "BatchListRposAndRtosResponse", V3_MODELS) == []
        assert answer.count == len(answer.results) == len(batch)
        for parsed in answer.results:
            truth = sim.world.objectives(parsed.job_id)
            assert truth is not None
            assert parsed.to_dict() == {
                "job_id": truth["job_id"],
                "rpo_info": truth.get("rpo_info"),
                "rto_info": truth.get("rto_info"),
                "error_code": truth["error_code"],
                "error_msg": truth["error_msg"],
            }
            seen += parsed.rpo_info is not None
        assert_signed_as_we_sign(exchanges.sent[-1])
    assert seen, "some DR job should be replicating"


# Documented as integers; the simulator sends a share of them as text, which the SDK reads
# as the same integer.
MONITOR_INTEGERS = (
    "dst_delay",
    "node_mem_inMB",
    "node_volume_inGB",
    "sr_delay",
    "migration_bytes_per_second",
)


async def test_the_sdk_reads_dr_monitoring_data_ten_ids_at_a_time(sim: Simulated) -> None:
    exchanges = Exchanges()
    drs = client(v3.DrsClient, sim, exchanges)
    ids = list(dict.fromkeys(dr_ids(sim)))
    model = V3_MODELS.QueryDataGuardMonitorResponse
    figures = 0
    for k in range(0, len(ids), 10):
        batch = ids[k : k + 10]
        answer = await asyncio.to_thread(
            drs.show_monitoring_data,
            v3.ShowMonitoringDataRequest(body=v3.BatchQueryJobReq(jobs=batch)),
        )
        assert answer.count == len(answer.results) == len(batch)
        for parsed, raw in zip(answer.results, exchanges.bodies[-1]["results"], strict=True):
            truth = sim.world.monitoring(parsed.id)
            assert truth == raw
            sent = truth["data_guard_minitor"]
            integers = {k: v for k, v in sent.items() if k in MONITOR_INTEGERS}
            typed = {k: v for k, v in sent.items() if k not in MONITOR_INTEGERS}
            assert conforms(typed, "QueryDataGuardMonitorResponse", V3_MODELS) == []
            got = parsed.data_guard_minitor
            for attr, key in model.attribute_map.items():
                if key in sent:
                    expected = int(integers[key]) if key in integers else sent[key]
                    assert getattr(got, attr) == expected, key
                    figures += 1
    assert figures
    # An eleventh id is refused as DRS refuses a bad request.
    with pytest.raises(ClientRequestException) as refused:
        await asyncio.to_thread(
            drs.show_monitoring_data,
            v3.ShowMonitoringDataRequest(body=v3.BatchQueryJobReq(jobs=every_id(sim)[:11])),
        )
    assert refused.value.status_code == 400
    assert refused.value.error_code == "DRS.10000001"


def present(value: Any) -> Any:
    """``value`` without its null fields, at any depth: the SDK's ``to_dict`` names every
    field of a model, null where the answer left it out."""
    if isinstance(value, dict):
        return {k: present(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [present(v) for v in value]
    return value


async def test_the_sdk_reads_batch_detail_subscriptions_thresholds_and_tags(
    sim: Simulated,
) -> None:
    exchanges = Exchanges()
    drs = client(v3.DrsClient, sim, exchanges)
    ids = every_id(sim)
    seen = {"period_order": 0, "alarm_notify": 0, "tags": 0}
    for k in range(0, len(ids), 100):
        batch = ids[k : k + 100]
        page = v3.BatchQueryJobReqPage(jobs=batch, page_req=v3.PageReq(cur_page=1, per_page=100))
        answer = await asyncio.to_thread(
            drs.batch_list_job_details, v3.BatchListJobDetailsRequest(body=page)
        )
        assert conforms(exchanges.bodies[-1], "BatchListJobDetailsResponse", V3_MODELS) == []
        assert answer.count == len(answer.results) == len(batch)
        for parsed, sent in zip(answer.results, exchanges.bodies[-1]["results"], strict=True):
            truth = sim.world.detail(parsed.id)
            assert truth == sent
            for name in seen:
                value = getattr(parsed, name)
                got = [v.to_dict() for v in value] if isinstance(value, list) else value
                got = present(got.to_dict() if hasattr(got, "to_dict") else got)
                assert got == present(truth.get(name)), name
                seen[name] += bool(got)
        assert_signed_as_we_sign(exchanges.sent[-1])
    assert all(seen.values()), seen


async def test_the_sdk_reads_the_quota(sim: Simulated) -> None:
    exchanges = Exchanges()
    drs = client(v3.DrsClient, sim, exchanges)
    answer = await asyncio.to_thread(drs.show_quotas, v3.ShowQuotasRequest())
    assert conforms(exchanges.bodies[-1], "ShowQuotasResponse", V3_MODELS) == []
    resource = answer.quotas.resource
    assert resource.type == "instances"
    assert 0 < resource.used <= resource.quota
    assert exchanges.bodies[-1] == json.loads(sim.world.quota(sim.project_ids[0]))


@pytest.mark.parametrize(("published", "missing"), [("v3", "v5"), ("v5", "v3")])
async def test_the_sdk_gets_apigw_0101_for_the_api_a_region_lacks_and_lists_through_the_other(
    start_sim: StartSim, published: str, missing: str
) -> None:
    started = time.time()
    sim = await start_sim(
        clock=lambda: started, jobs=90, projects=1, apis=(published,), access_key=AK, secret_key=SK
    )
    exchanges = Exchanges()
    lacking = client(v5.DrsClient if missing == "v5" else v3.DrsClient, sim, exchanges)
    with pytest.raises(ClientRequestException) as refused:
        if missing == "v5":
            await asyncio.to_thread(lacking.list_jobs, v5.ListJobsRequest(job_type="sync"))
        else:
            query = v3.QueryJobsReq(db_use_type="sync", cur_page=1, per_page=10)
            await asyncio.to_thread(lacking.show_job_list, v3.ShowJobListRequest(body=query))
    assert refused.value.status_code == 404
    assert refused.value.error_code == "APIGW.0101"

    having = client(v5.DrsClient if published == "v5" else v3.DrsClient, sim, exchanges)
    listed: list[str] = []
    for job_type in JOB_TYPES:
        if published == "v5":
            request = v5.ListJobsRequest(job_type=job_type, limit=1000, offset=0)
            jobs = (await asyncio.to_thread(having.list_jobs, request)).jobs or []
        else:
            query = v3.QueryJobsReq(db_use_type=job_type, cur_page=1, per_page=100)
            request = v3.ShowJobListRequest(body=query)
            jobs = (await asyncio.to_thread(having.show_job_list, request)).jobs or []
        listed += [job.id for job in jobs]
    counts = sim.world.summary()["counts"]
    every = sum(n for by_type in counts.values() for c in by_type.values() for n in c.values())
    assert len(set(listed)) == len(listed) == every == 90
