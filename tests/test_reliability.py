"""Reliability: faults, throttling, limits, staleness, paging drift, bad input, reload, shutdown.

Everything talks over real loopback sockets to the simulator: its fault injection, and the
test hooks set on it by method calls (``tests/simulated.py``): scripted answers (wrong JSON
types, 403, oversized or cut bodies, held requests), drift between pages, and request
statistics (requests in flight, listing arrival times).
No assertion depends on how fast the machine is: waits are bounded loops on an observable
condition, and the one assertion on time is a lower bound that slowness cannot break.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import gzip
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)

from drs_exporter import __version__
from drs_exporter.cloud.auth import StaticToken
from drs_exporter.cloud.client import DrsClient
from drs_exporter.cloud.limiter import Limiter
from drs_exporter.cloud.transport import MAX_BODY_BYTES, Transport
from drs_exporter.config import Config, Credentials, MetricsConfig, PollConfig, Project
from drs_exporter.drs.listing import list_jobs
from drs_exporter.drs.paging import PAGES_AT_ONCE
from drs_exporter.errors import ApiError
from drs_exporter.exporter import Exporter
from drs_exporter.list_apis import BY_NAME, NAMES
from drs_exporter.polling.counters import Counters
from drs_exporter.polling.plan import Clock
from drs_exporter.simulator.query import parse_job_query
from drs_exporter.web.server import bound_port, make_app, start_server

from .conftest import (
    EXE,
    Sample,
    StartSim,
    free_port,
    samples,
    select,
    sim_call,
    sim_config,
    start_serving,
    stop,
)
from .simulated import Simulated
from .test_exposition import promtool_check

TOKEN = "reliability-token"
REGION = "ap-southeast-1"
FAST = 1000.0  # max_requests_per_second where the rate limit is not what is tested

# --- Scripting the simulator ----------------------------------------------------------------


def drs_error(status: int, code: str, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A scripted DRS-style error answer."""
    body = {"error_code": code, "error_msg": "refused"}
    return {"status": status, "body": body, "headers": dict(headers or {})}


def job(job_id: str, status: str = "INCRE_TRANSFER_STARTED", **fields: Any) -> dict[str, Any]:
    return {
        "id": job_id,
        "name": f"job {job_id}",
        "status": status,
        "engine_type": "mysql-to-mysql",
        "net_type": "vpc",
        "create_time": "2024-01-02T03:04:05Z",
        **fields,
    }


# --- Configs and metrics --------------------------------------------------------------------


# Both list APIs go through the same client: what is retried, how, and how failures count
# must not depend on which one answered. Tests marked with EACH_API run once for each.
EACH_API = pytest.mark.parametrize("api", NAMES)
# The listing is what this suite is about: the batch calls and the quota are left out of it
# (their faults are tested in test_health_end_to_end.py).
LISTING_ONLY = MetricsConfig(health=False, dr=False, quotas=False)


def target(
    url: str, project: str = "p1", job_types: Sequence[str] = ("sync",), api: str = "v5"
) -> Project:
    return Project(
        project_id=project,
        region=REGION,
        endpoint=url,
        credentials=Credentials(token=TOKEN),
        job_types=tuple(job_types),
        apis=(api,),
    )


def config(*targets: Project, **poll: Any) -> Config:
    base = PollConfig(interval=1.0, timeout=5.0, retries=0, max_requests_per_second=FAST)
    return Config(targets=targets, poll=dataclasses.replace(base, **poll), metrics=LISTING_ONLY)


def one_type(cfg: Config, job_type: str = "sync", api: str = "v5") -> Config:
    """The config with every target polling only one job type through one list API."""
    targets = tuple(dataclasses.replace(t, job_types=(job_type,), apis=(api,)) for t in cfg.targets)
    return dataclasses.replace(cfg, targets=targets, metrics=LISTING_ONLY)


def listing(api: str) -> str:
    """How a list API's requests are named in drs_api_requests_total and the scripts."""
    return BY_NAME[api].api


def for_api(answer: dict[str, Any], api: str) -> dict[str, Any]:
    """A scripted v5 listing answer as the v3 API would word it (its total is total_record)."""
    body = answer.get("body")
    if api == "v3" and isinstance(body, dict) and "total_count" in body:
        body = {("total_record" if k == "total_count" else k): v for k, v in body.items()}
        return {**answer, "body": body}
    if api == "v3" and isinstance(body, str):
        return {**answer, "body": body.replace("total_count", "total_record")}
    return answer


def body_of(exporter: Exporter) -> bytes:
    return exporter.exposition().body(openmetrics=False, gzip=False)


async def poll(exporter: Exporter) -> list[Sample]:
    await exporter.poll_once()
    return samples(body_of(exporter))


def value(found: list[Sample], name: str, **labels: str) -> float:
    """The value of exactly one sample."""
    matching = select(found, name, **labels)
    assert len(matching) == 1, (name, labels, matching)
    return matching[0][2]


def requests_by_code(found: list[Sample]) -> dict[str, float]:
    return {labels["code"]: v for _, labels, v in select(found, "drs_api_requests_total")}


def errors_by_reason(found: list[Sample]) -> dict[str, float]:
    counts: Counter[str] = Counter()
    for _, labels, v in select(found, "drs_poll_errors_total"):
        counts[labels["reason"]] += int(v)
    return dict(counts)


def job_ids(found: list[Sample], **labels: str) -> Counter[str]:
    """How many drs_job_info series each job id has."""
    return Counter(lbl["job_id"] for _, lbl, _ in select(found, "drs_job_info", **labels))


class RecordingRandom(random.Random):
    """Records the bounds of each jitter draw and draws 0, so retries do not wait."""

    def __init__(self) -> None:
        super().__init__(0)
        self.bounds: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.bounds.append((a, b))
        return 0.0


# --- Retries: what is retried, how long it waits, how failures are counted ------------------


async def fetch_with(
    sim_url: str, project: str, poll_cfg: PollConfig, rng: random.Random, api: str = "v5"
) -> tuple[ApiError | None, Counters]:
    """One listing through a DrsClient of its own; the error it ended with, if any."""
    counters = Counters()
    async with aiohttp.ClientSession() as session:
        transport = Transport(session, Limiter(8, FAST), counters, poll_cfg.timeout)
        client = DrsClient(transport, poll_cfg.retries, rng=rng)
        try:
            await list_jobs(
                client,
                target(sim_url, project, api=api),
                StaticToken(TOKEN),
                "sync",
                poll_cfg.page_size,
            )
        except ApiError as exc:
            return exc, counters
    return None, counters


@EACH_API
async def test_5xx_is_retried_with_exponential_backoff_and_full_jitter(
    start_sim: StartSim, api: str
) -> None:
    sim = await start_sim(seed=1, projects=1, jobs=3, error_rate=1.0)
    rng = RecordingRandom()
    poll_cfg = PollConfig(retries=3, timeout=5.0)
    error, counters = await fetch_with(sim.url, sim.project_ids[0], poll_cfg, rng, api)
    assert error is not None and error.reason == "http_5xx"
    # Full jitter: each wait is drawn from [0, base * 2^attempt].
    assert rng.bounds == [(0.0, 1.0), (0.0, 2.0), (0.0, 4.0)]
    sent = sum(n for (_, _, code), n in counters.api_requests.items() if code.startswith("5"))
    assert sent == 4


@pytest.mark.parametrize(
    ("retry_after", "expected_log", "jitter_draws"),
    [(0.05, "in 0.05s", 0), (None, "in 0.00s", 2)],
    ids=["retry-after", "no-retry-after"],
)
@EACH_API
async def test_429_waits_as_retry_after_says_or_backs_off_without_it(
    start_sim: StartSim,
    caplog: pytest.LogCaptureFixture,
    retry_after: float | None,
    expected_log: str,
    jitter_draws: int,
    api: str,
) -> None:
    sim = await start_sim(seed=1, projects=1, jobs=3, throttle_rate=1.0, retry_after=retry_after)
    caplog.set_level(logging.DEBUG, logger="drs_exporter.cloud.client")
    rng = RecordingRandom()
    error, counters = await fetch_with(sim.url, sim.project_ids[0], PollConfig(retries=2), rng, api)
    assert error is not None and error.reason == "throttled" and error.status == 429
    assert counters.api_requests[(REGION, listing(api), "429")] == 3
    assert len(rng.bounds) == jitter_draws
    retries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retry ")]
    assert len(retries) == 2 and all(expected_log in m for m in retries), retries


@EACH_API
async def test_throttled_polls_are_counted_as_throttled(start_sim: StartSim, api: str) -> None:
    sim = await start_sim(seed=1, projects=1, jobs=3, throttle_rate=1.0, retry_after=0)
    async with Exporter(one_type(sim_config(sim, retries=2), api=api)) as exporter:
        found = await poll(exporter)
    assert requests_by_code(found) == {"429": 3}
    assert errors_by_reason(found) == {"throttled": 1}
    assert value(found, "drs_up") == 0


@pytest.mark.parametrize("code", ["APIG.0308", "APIGW.0308"])
@EACH_API
async def test_both_spellings_of_the_gateways_throttling_code_count_as_throttled(
    start_sim: StartSim, code: str, api: str
) -> None:
    sim = await start_sim(seed=1, projects=1, jobs=3)
    sim.script([drs_error(429, code, {"Retry-After": "0"})] * 2, api=listing(api))
    cfg = config(target(sim.url, sim.project_ids[0], api=api), retries=1)
    async with Exporter(cfg) as exporter:
        found = await poll(exporter)
    assert requests_by_code(found) == {"429": 2}
    assert errors_by_reason(found) == {"throttled": 1}


@pytest.mark.parametrize("code", ["APIG.0308", "APIGW.0308"])
@EACH_API
async def test_a_throttled_request_is_retried_and_the_poll_then_succeeds(
    start_sim: StartSim, code: str, api: str
) -> None:
    sim = await start_sim(seed=1, projects=1, jobs=6, children_ratio=0, status_period=0)
    (project,) = sim.project_ids
    sim.script(
        [drs_error(500, "DRS.10000001"), drs_error(429, code, {"Retry-After": "0"})],
        api=listing(api),
    )
    # The 500 has no Retry-After: one backoff draw from [0, 1s], real but short.
    async with Exporter(config(target(sim.url, project, api=api), retries=3)) as exporter:
        found = await poll(exporter)
    assert requests_by_code(found) == {"500": 1, "429": 1, "200": 1}
    assert errors_by_reason(found) == {}
    assert value(found, "drs_up") == 1
    listed = await listed_ids(sim.url, project, api)
    assert len(listed) == 2
    assert job_ids(found) == Counter(listed)


@EACH_API
async def test_5xx_polls_are_counted_as_http_5xx_after_their_retries(
    start_sim: StartSim, api: str
) -> None:
    sim = await start_sim(seed=1, projects=1, jobs=3, error_rate=1.0)
    async with Exporter(one_type(sim_config(sim, retries=1), api=api)) as exporter:
        found = await poll(exporter)
    codes = requests_by_code(found)
    assert set(codes) <= {"500", "502", "503"} and sum(codes.values()) == 2
    assert errors_by_reason(found) == {"http_5xx": 1}
    assert value(found, "drs_up") == 0


@EACH_API
async def test_a_request_hanging_past_the_timeout_is_counted_as_timeout(
    start_sim: StartSim, api: str
) -> None:
    sim = await start_sim(seed=1, projects=1, jobs=3, hang_rate=1.0, hang=5.0)
    cfg = one_type(sim_config(sim, timeout=0.3, retries=1), api=api)
    async with Exporter(cfg) as exporter:
        found = await poll(exporter)
    assert requests_by_code(found) == {"timeout": 2}
    assert errors_by_reason(found) == {"timeout": 1}
    assert value(found, "drs_up") == 0


@EACH_API
async def test_a_refused_connection_is_retried_and_counted_as_network(api: str) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with Exporter(config(target(url, api=api), retries=1)) as exporter:
        found = await poll(exporter)
    assert requests_by_code(found) == {"network": 2}
    assert errors_by_reason(found) == {"network": 1}
    assert value(found, "drs_up") == 0


@EACH_API
async def test_a_connection_cut_mid_answer_is_retried_and_counted_as_network(
    start_sim: StartSim, api: str
) -> None:
    sim = await start_sim(seed=1, projects=1, jobs=3)
    sim.script([{"cut": True}], api=listing(api))  # half the listing, then the connection drops
    cfg = config(target(sim.url, sim.project_ids[0], api=api), retries=1)
    async with Exporter(cfg) as exporter:
        found = await poll(exporter)
    assert requests_by_code(found) == {"network": 1, "200": 1}
    assert value(found, "drs_up") == 1


@EACH_API
async def test_a_static_token_refused_with_401_is_not_retried(
    start_sim: StartSim, api: str
) -> None:
    sim = await start_sim(seed=1, projects=1, jobs=3, token="the-right-token")
    cfg = one_type(sim_config(sim, Credentials(token="a-wrong-token"), retries=3), api=api)
    async with Exporter(cfg) as exporter:
        found = await poll(exporter)
        found = await poll(exporter)
    assert requests_by_code(found) == {"401": 2}  # one per poll: no retry loop
    assert errors_by_reason(found) == {"auth": 2}
    assert value(found, "drs_up") == 0


@pytest.mark.parametrize(
    ("answer", "reason"),
    # A 404 APIGW.0101 says the region does not publish the API: asking again will not help.
    [(drs_error(403, "APIGW.0302"), "auth"), (drs_error(404, "APIGW.0101"), "unsupported")],
    ids=["403", "404"],
)
@EACH_API
async def test_other_4xx_answers_are_not_retried(
    start_sim: StartSim, answer: dict[str, Any], reason: str, api: str
) -> None:
    sim = await start_sim(seed=1, projects=1, jobs=3)
    sim.script([answer], api=listing(api))  # then normal answers: a retry would succeed
    cfg = config(target(sim.url, sim.project_ids[0], api=api), retries=3)
    async with Exporter(cfg) as exporter:
        found = await poll(exporter)
    assert len(sim.requests.of(listing(api))) == 1
    assert errors_by_reason(found) == {reason: 1}
    assert value(found, "drs_up") == 0


@EACH_API
async def test_a_400_for_the_request_is_not_retried(start_sim: StartSim, api: str) -> None:
    sim = await start_sim(seed=1, projects=1, jobs=3)
    # DRS refuses several statuses at once unless all are *_FAILED ones.
    bad = dataclasses.replace(
        target(sim.url, sim.project_ids[0], api=api),
        filters=(("status", "CREATING,CONFIGURATION"),),
    )
    async with Exporter(config(bad, retries=3)) as exporter:
        found = await poll(exporter)
    assert requests_by_code(found) == {"400": 1}
    assert errors_by_reason(found) == {"http_4xx": 1}


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_never_followed_and_says_where_it_leads(
    start_sim: StartSim, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    sim = await start_sim(seed=1, projects=1, jobs=3, redirect=status)
    cfg = config(target(sim.url, sim.project_ids[0]), retries=3)
    with caplog.at_level(logging.WARNING):
        async with Exporter(cfg) as exporter:
            found = await poll(exporter)
    assert requests_by_code(found) == {str(status): 1}  # not retried, not followed
    assert errors_by_reason(found) == {"http_3xx": 1}
    (line,) = [r.getMessage() for r in caplog.records if "poll failed" in r.getMessage()]
    where = sim.url.replace("http://", "https://") + f"/v5/{sim.project_ids[0]}/jobs"
    # The query is left out (what it holds is not the log's business).
    assert f"HTTP {status} redirected to {where}; redirects are never followed" in line


async def test_a_header_section_too_large_is_named_as_such(start_sim: StartSim) -> None:
    sim = await start_sim(seed=1, projects=1, jobs=3, header_padding=20_000)
    cfg = config(target(sim.url, sim.project_ids[0]), retries=3)
    async with Exporter(cfg) as exporter:
        found = await poll(exporter)
    assert errors_by_reason(found) == {"headers_too_large": 1}
    assert requests_by_code(found) == {"network": 1}  # no answer was read: not retried either


# --- Bad bodies -----------------------------------------------------------------------------

NOT_A_LISTING: dict[str, dict[str, Any]] = {
    "truncated-json": {"body": '{"total_count": 3, "jobs": [{"id": "a"'},
    "html": {
        "body": "<html><body>502 Bad Gateway</body></html>",
        "headers": {"Content-Type": "text/html"},
    },
    "empty": {"body": ""},
    "null": {"body": "null"},
    "array": {"body": "[]"},
    "not-utf8": {
        "body_base64": base64.b64encode(
            b'{"total_count": 1, "jobs": [{"id": "\xff\xfe"}]}'
        ).decode()
    },
    "total-as-string": {"body": {"total_count": "3", "jobs": []}},
    "total-negative": {"body": {"total_count": -1, "jobs": []}},
    "total-as-bool": {"body": {"total_count": True, "jobs": []}},
    "total-as-float": {"body": {"total_count": 2.5, "jobs": []}},
    "jobs-as-object": {"body": {"total_count": 1, "jobs": {"id": "a"}}},
    "jobs-as-string": {"body": {"total_count": 1, "jobs": "a"}},
    "jobs-missing": {"body": {"total_count": 2}},
    "neither-field": {"body": {"status": "ok"}},
    # Compressed, but not as it says, or in a compression that was not asked for.
    "broken-gzip": {"body": "not gzip at all", "headers": {"Content-Encoding": "gzip"}},
    "cut-gzip": {
        "body_base64": base64.b64encode(gzip.compress(b'{"total_count": 0}')[:-9]).decode(),
        "headers": {"Content-Encoding": "gzip"},
    },
    "brotli": {"body": "{}", "headers": {"Content-Encoding": "br"}},
}


def gzipped(data: bytes, **headers: str) -> dict[str, Any]:
    """A scripted answer of ``data``, gzip-compressed and saying so."""
    encoded = base64.b64encode(gzip.compress(data, compresslevel=9)).decode()
    return {"body_base64": encoded, "headers": {"Content-Encoding": "gzip", **headers}}


# More than the body cap: announced in Content-Length, streamed chunk by chunk, or inflated
# from a small body whose Content-Length is within the cap.
TOO_LARGE: dict[str, dict[str, Any]] = {
    "announced": {"body": " ", "repeat": MAX_BODY_BYTES + 1},
    "streamed": {"body": " ", "repeat": MAX_BODY_BYTES + 1, "chunked": True},
    "inflated": gzipped(b" " * (MAX_BODY_BYTES + 1)),
    "inflated-streamed": {**gzipped(b" " * (MAX_BODY_BYTES + 1)), "chunked": True},
}


# Every answer that must fail the poll for what it is, with the reason it fails for.
FAILING_ANSWERS = {
    **{name: (answer, "decode") for name, answer in NOT_A_LISTING.items()},
    **{f"too large, {name}": (answer, "too_large") for name, answer in TOO_LARGE.items()},
}


@EACH_API
@pytest.mark.parametrize("name", list(FAILING_ANSWERS))
async def test_an_answer_that_is_not_a_listing_fails_the_poll_for_what_it_is(
    start_sim: StartSim, name: str, api: str
) -> None:
    answer, reason = FAILING_ANSWERS[name]
    sim = await start_sim(seed=1, projects=1, jobs=6, children_ratio=0, status_period=0)
    cfg = config(target(sim.url, sim.project_ids[0], api=api), retries=3)
    async with Exporter(cfg) as exporter:
        first = await poll(exporter)
        # Then normal answers: a retry would pass.
        sim.script([for_api(answer, api)], api=listing(api))
        found = await poll(exporter)  # the same target, now answered badly
    assert value(first, "drs_up") == 1
    assert len(sim.requests.of(listing(api))) == 2  # a bad body is not retried
    assert requests_by_code(found) == {"200": 2}
    assert errors_by_reason(found) == {reason: 1}
    assert value(found, "drs_up") == 0
    # The last good jobs stay (stale_after is 10 minutes) in a body that still parses.
    assert len(job_ids(first)) == 2
    assert job_ids(found) == job_ids(first)


async def test_an_answer_of_exactly_the_cap_once_inflated_is_read(start_sim: StartSim) -> None:
    sim = await start_sim(seed=1, projects=1, jobs=6, children_ratio=0, status_period=0)
    (project,) = sim.project_ids
    text = sim.world.list_jobs(project, parse_job_query([("job_type", "sync")])).encode()
    sim.script([gzipped(b" " * (MAX_BODY_BYTES - len(text)) + text)])
    async with Exporter(config(target(sim.url, project))) as exporter:
        found = await poll(exporter)
    assert value(found, "drs_up") == 1 and len(job_ids(found)) == 2


def compressed(data: bytes, encoding: str) -> dict[str, Any]:
    """A scripted answer of ``data`` compressed as ``encoding`` says: ``gzip``, ``x-gzip``,
    ``deflate`` (zlib-wrapped, as the standard says), or ``raw deflate`` (as many send it)."""
    if encoding.endswith("gzip"):
        return gzipped(data, **{"Content-Encoding": encoding})
    packer = zlib.compressobj(9, zlib.DEFLATED, -15 if encoding == "raw deflate" else 15)
    packed = packer.compress(data) + packer.flush()
    return {
        "body_base64": base64.b64encode(packed).decode(),
        "headers": {"Content-Encoding": "deflate"},
    }


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "deflate", "raw deflate"])
async def test_a_compressed_answer_is_read_as_it_was_sent(
    start_sim: StartSim, encoding: str
) -> None:
    sim = await start_sim(seed=1, projects=1, jobs=6, children_ratio=0, status_period=0)
    (project,) = sim.project_ids
    text = sim.world.list_jobs(project, parse_job_query([("job_type", "sync")])).encode()
    sim.script([compressed(text, encoding)])
    async with Exporter(config(target(sim.url, project))) as exporter:
        found = await poll(exporter)
    assert value(found, "drs_up") == 1
    listed = {job["id"] for job in json.loads(text)["jobs"]}
    assert set(job_ids(found, parent_job_id="")) == listed and len(listed) == 2


@EACH_API
async def test_a_gzip_answer_padded_within_the_cap_is_read_whole(
    start_sim: StartSim, api: str
) -> None:
    # The simulator's gzip bomb, a mebibyte of spaces before each answer: far below the cap.
    sim = await start_sim(seed=1, projects=1, jobs=6, status_period=0, gzip_bomb_mib=1)
    plain = await start_sim(seed=1, projects=1, jobs=6, status_period=0)
    found = {}
    for name, each in (("bomb", sim), ("plain", plain)):
        async with Exporter(config(target(each.url, each.project_ids[0], api=api))) as exporter:
            found[name] = await poll(exporter)
    assert value(found["bomb"], "drs_up") == 1
    assert job_ids(found["bomb"]) == job_ids(found["plain"]) and job_ids(found["plain"])


async def test_the_simulators_malformed_answers_fail_as_decode(start_sim: StartSim) -> None:
    sim = await start_sim(seed=3, projects=2, jobs=12, malformed_rate=1.0)
    async with Exporter(sim_config(sim, retries=2)) as exporter:
        found = await poll(exporter)
    assert len(select(found, "drs_up")) == 6
    assert all(v == 0 for _, _, v in select(found, "drs_up"))
    assert errors_by_reason(found) == {"decode": 6}
    assert requests_by_code(found) == {"200": 6}


async def test_odd_but_readable_listings_are_taken_as_they_come(start_sim: StartSim) -> None:
    jobs: list[Any] = [
        "not an object",
        17,
        None,
        {"name": "no id"},
        job("plain"),
        {"id": 42, "name": {"nested": True}, "status": 7, "create_time": [1], "children": "x"},
        job("with-kids", children=[1, {"id": "kid", "status": "CHILD_TRANSFER_STARTED"}, {}]),
        {"id": "nulls", "name": None, "status": None, "engine_type": None, "children": None},
        job("plain"),  # listed twice: counted once
    ]
    sim = await start_sim(seed=1, projects=1, jobs=0)
    # No total_count: pages until an empty page says the listing is over.
    pages = [{"body": {"jobs": jobs[o : o + 2]}} for o in range(0, len(jobs), 2)]
    sim.script([*pages, {"body": {"jobs": []}}])
    async with Exporter(config(target(sim.url, sim.project_ids[0]), page_size=2)) as exporter:
        found = await poll(exporter)
    # Each page is asked for where the jobs that came back so far end.
    assert [a.offset for a in sim.requests.arrivals] == [0, 2, 4, 6, 8, 9]
    assert sim.script_left == 0
    assert value(found, "drs_up") == 1
    assert job_ids(found, parent_job_id="") == Counter(
        {"plain": 1, "42": 1, "with-kids": 1, "nulls": 1}
    )
    assert job_ids(found, parent_job_id="with-kids") == Counter({"kid": 1})
    assert sum(v for _, _, v in select(found, "drs_jobs")) == 4
    assert value(found, "drs_job_info", job_id="42")  # a number as an id is its text
    (info,) = select(found, "drs_job_info", job_id="nulls")
    assert info[1]["name"] == "" and info[1]["engine_type"] == ""


HOSTILE_NAMES = [
    'quote"d',
    "back\\slash",
    "new\nline",
    "x" * 10_000,
    '} 1\ndrs_up{project_id="evil",region="r",job_type="sync"} 1\n#',
    "迁移任务-🚀",
    "",
]


async def test_hostile_label_values_never_corrupt_the_exposition(start_sim: StartSim) -> None:
    sim = await start_sim(seed=2, projects=1, jobs=0, status_period=0)
    project = sim.project_ids[0]
    for i, name in enumerate(HOSTILE_NAMES):
        hostile = {
            "id": f'id-{i}-"q"\\',
            "name": name,
            "status": f'ODD"STATUS\n{i}',
            "engine_type": name[:50],
            "net_type": "vpc\n",
            "create_time": "not a time",
        }
        await sim_call(
            sim, "POST", "/_sim/jobs", {"project_id": project, "job_type": "sync", "job": hostile}
        )
    async with Exporter(one_type(sim_config(sim))) as exporter:
        found = await poll(exporter)
        body = body_of(exporter)
        openmetrics = exporter.exposition().body(openmetrics=True, gzip=False)

    assert value(found, "drs_up", project_id=project) == 1
    assert not select(found, "drs_up", project_id="evil")
    names = {labels["job_id"]: labels["name"] for _, labels, _ in select(found, "drs_job_info")}
    assert names == {f'id-{i}-"q"\\': name[:256] for i, name in enumerate(HOSTILE_NAMES)}
    statuses = {labels["status"] for _, labels, _ in select(found, "drs_jobs")}
    assert statuses == {f'ODD"STATUS\n{i}' for i in range(len(HOSTILE_NAMES))}
    assert max(len(line) for line in body.splitlines()) < 4096  # long names are cut
    om_names = {
        s.labels["name"]
        for family in openmetrics_families(openmetrics.decode())  # type: ignore[no-untyped-call]
        for s in family.samples
        if s.name == "drs_job_info"
    }
    assert om_names == set(names.values())
    result = promtool_check(body)
    assert result.returncode == 0, result.stdout + result.stderr


async def test_a_lone_surrogate_in_the_json_does_not_break_the_exposition(
    start_sim: StartSim,
) -> None:
    sim = await start_sim(seed=1, projects=1, jobs=0)
    raw = '{"total_count": 1, "jobs": [{"id": "s1", "name": "half \\ud800 pair"}]}'
    sim.script([{"body": raw}])
    async with Exporter(config(target(sim.url, sim.project_ids[0]))) as exporter:
        found = await poll(exporter)
    assert value(found, "drs_up") == 1
    (info,) = select(found, "drs_job_info", job_id="s1")
    assert info[1]["name"].startswith("half ") and info[1]["name"].endswith(" pair")


# --- The global limits ----------------------------------------------------------------------


async def test_requests_in_flight_never_exceed_max_concurrency_across_targets(
    start_sim: StartSim,
) -> None:
    limit = 3
    sim = await start_sim(seed=1, projects=2, jobs=6)  # one job per target: one page each
    # Each request is held until `limit` are in flight (at most 10 s, so that a broken
    # limiter fails on `most_in_flight` rather than hanging): more would show, as would less.
    sim.script([{"hang": 10, "until_in_flight": limit}] * 6)
    p1, p2 = sim.project_ids
    types = ("migration", "sync", "cloudDataGuard")
    cfg = config(target(sim.url, p1, types), target(sim.url, p2, types), max_concurrency=limit)
    async with Exporter(cfg) as exporter:
        found = await poll(exporter)
    assert len(sim.requests.arrivals) == 6
    assert sim.requests.most_in_flight == limit
    assert all(v == 1 for _, _, v in select(found, "drs_up"))


async def test_request_starts_are_spaced_by_max_requests_per_second(
    start_sim: StartSim,
) -> None:
    rate = 20.0
    # Three jobs per target, all listed by v5 (which the configs here list through).
    sim = await start_sim(seed=1, projects=2, jobs=18, v5_lists="all")
    p1, p2 = sim.project_ids
    types = ("migration", "sync", "cloudDataGuard")
    cfg = config(
        target(sim.url, p1, types),
        target(sim.url, p2, types),
        page_size=2,
        max_requests_per_second=rate,
        max_concurrency=8,
    )
    async with Exporter(cfg) as exporter:
        started = time.monotonic()  # the simulator runs in this process, on this clock
        found = await poll(exporter)
    arrivals = sorted(a.at for a in sim.requests.arrivals)
    assert len(arrivals) == 12  # six targets, two pages each
    # The limiter lets the k-th request start no sooner than k/rate after the first: a
    # lower bound, which a slow machine only widens.
    for k, at in enumerate(arrivals):
        assert at - started >= k / rate - 0.01, (k, at - started)
    assert all(v == 1 for _, _, v in select(found, "drs_up"))


# --- Isolation ------------------------------------------------------------------------------


async def scrape(session: aiohttp.ClientSession, url: str) -> list[Sample]:
    async with session.get(url) as resp:
        assert resp.status == 200
        return samples(await resp.text())


async def test_a_hanging_target_never_hides_the_healthy_ones(start_sim: StartSim) -> None:
    good = await start_sim(seed=4, projects=1, jobs=9)
    bad = await start_sim(seed=5, projects=1, jobs=9, hang_rate=1.0, hang=60.0)
    cfg = config(*sim_config(good).targets, *sim_config(bad).targets, timeout=30.0)
    (good_project,) = good.project_ids
    (bad_project,) = bad.project_ids
    async with Exporter(cfg) as exporter:
        runner = await start_server(
            make_app(exporter, version=__version__), "127.0.0.1:0", security=None
        )
        base = f"http://127.0.0.1:{bound_port(runner)}"
        try:
            exporter.start()
            async with aiohttp.ClientSession() as session:
                for _ in range(400):
                    found = await scrape(session, base + "/metrics")
                    if len(select(found, "drs_up", project_id=good_project)) == 3:
                        break
                    await asyncio.sleep(0.05)
                else:
                    pytest.fail("the healthy target's series never appeared")
                async with session.get(base + "/-/ready") as resp:
                    ready = resp.status
        finally:
            await exporter.stop()
            await runner.cleanup()
    assert all(v == 1 for _, _, v in select(found, "drs_up", project_id=good_project))
    assert sum(v for _, _, v in select(found, "drs_jobs", project_id=good_project)) == 9
    # The bad target's requests are still hanging: it has not finished its first poll.
    assert not select(found, "drs_up", project_id=bad_project)
    assert ready == 503


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"error_rate": 1.0}, "http_5xx"),
        ({"malformed_rate": 1.0}, "decode"),
        ({"throttle_rate": 1.0, "retry_after": 0}, "throttled"),
        ({"hang_rate": 1.0, "hang": 5.0}, "timeout"),
        ({"redirect": 302}, "http_3xx"),
        ({"header_padding": 20_000}, "headers_too_large"),
        ({"gzip_bomb_mib": 64}, "too_large"),
        ({"lying_total": 10**8}, "too_many_jobs"),
        ({"endless_pages": True}, "decode"),
    ],
    ids=[
        "errors",
        "malformed",
        "throttled",
        "hangs",
        "redirect",
        "header",
        "bomb",
        "lie",
        "endless",
    ],
)
async def test_a_failing_target_never_hides_the_healthy_ones(
    start_sim: StartSim, fault: dict[str, Any], reason: str
) -> None:
    good = await start_sim(seed=4, projects=1, jobs=9)
    bad = await start_sim(seed=5, projects=1, jobs=9, **fault)
    cfg = config(*sim_config(good).targets, *sim_config(bad).targets, timeout=0.5, retries=1)
    (good_project,) = good.project_ids
    (bad_project,) = bad.project_ids
    async with Exporter(cfg) as exporter:
        found = await poll(exporter)
    summary = await sim_call(good, "GET", "/_sim/summary")
    expected = sum(
        n for by_type in summary["counts"][good_project].values() for n in by_type.values()
    )
    assert all(v == 1 for _, _, v in select(found, "drs_up", project_id=good_project))
    assert sum(v for _, _, v in select(found, "drs_jobs", project_id=good_project)) == expected
    assert [v for _, _, v in select(found, "drs_up", project_id=bad_project)] == [0, 0, 0]
    bad_errors = {
        labels["reason"]
        for _, labels, _ in select(found, "drs_poll_errors_total", project_id=bad_project)
    }
    assert bad_errors == {reason}
    assert not select(found, "drs_poll_errors_total", project_id=good_project)


# --- Staleness ------------------------------------------------------------------------------


async def test_a_failing_target_keeps_its_series_until_stale_after_then_they_go(
    start_sim: StartSim,
) -> None:
    wall = [1_700_000_000.0]
    skew = [0.0]  # moves the exporter's monotonic clock forward
    clock = Clock(wall=lambda: wall[0], monotonic=lambda: time.monotonic() + skew[0])
    sim = await start_sim(seed=6, projects=1, jobs=5, status_period=0, v5_lists="all")
    cfg = one_type(sim_config(sim, stale_after=60.0), "migration")
    async with Exporter(cfg, clock=clock) as exporter:
        first = await poll(exporter)
        ids = job_ids(first)
        victim = next(iter(job_ids(first, parent_job_id="")))
        await sim_call(sim, "DELETE", f"/_sim/jobs/{victim}")
        wall[0] += 10
        skew[0] += 10
        second = await poll(exporter)  # a job that vanishes goes at once

        await sim_call(sim, "POST", "/_sim/faults", {"error_rate": 1.0})
        wall[0] += 30
        skew[0] += 30
        failing = await poll(exporter)  # 30s after the last success: kept

        wall[0] += 25
        skew[0] += 25
        still = await poll(exporter)  # 55s: kept

        wall[0] += 10
        skew[0] += 10
        stale = await poll(exporter)  # 65s > stale_after: gone

        await sim_call(sim, "POST", "/_sim/faults", {"error_rate": 0.0})
        wall[0] += 5
        skew[0] += 5
        back = await poll(exporter)

    assert len(ids) >= 2
    assert victim not in job_ids(second)
    assert job_ids(second) and set(job_ids(second)) < set(ids)
    for found in (failing, still):
        assert value(found, "drs_up") == 0
        assert job_ids(found) == job_ids(second)
        assert select(found, "drs_jobs") == select(second, "drs_jobs")
        assert value(found, "drs_last_poll_success_timestamp_seconds") == 1_700_000_010.0
    assert errors_by_reason(still) == {"http_5xx": 2}
    assert value(stale, "drs_up") == 0
    for name in ("drs_jobs", "drs_jobs_failed", "drs_job_info", "drs_job_status"):
        assert not select(stale, name), name
    assert value(stale, "drs_last_poll_success_timestamp_seconds") == 1_700_000_010.0
    assert value(back, "drs_up") == 1
    assert job_ids(back) == job_ids(second)


async def test_polling_runs_on_the_monotonic_clock_whatever_the_wall_clock_does(
    start_sim: StartSim,
) -> None:
    t0 = time.monotonic()
    # A wall clock running backwards an hour per second: intervals must not follow it.
    clock = Clock(wall=lambda: 1_700_000_000.0 - (time.monotonic() - t0) * 3600)
    sim = await start_sim(seed=1, projects=1, jobs=3)
    cfg = one_type(sim_config(sim, interval=0.1))
    async with Exporter(cfg, clock=clock) as exporter:
        exporter.start()
        for _ in range(400):
            found = samples(body_of(exporter))
            if requests_by_code(found).get("200", 0) >= 3:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("polling stalled")
    assert value(found, "drs_up") == 1


# --- Paging drift ---------------------------------------------------------------------------


async def listed_ids(sim_url: str, project: str, api: str = "v5") -> list[str]:
    """The simulator's sync jobs as one API lists them in one big page (v5: oldest first)."""
    async with aiohttp.ClientSession() as session:
        if api == "v5":
            url = f"{sim_url}/v5/{project}/jobs?job_type=sync&sort_dir=asc&limit=1000"
            answer = session.get(url)
        else:  # per_page 0: every job at once
            body = {"db_use_type": "sync", "cur_page": 1, "per_page": 0}
            answer = session.post(f"{sim_url}/v3/{project}/jobs", json=body)
        async with answer as resp:
            data = await resp.json()
    return [j["id"] for j in data["jobs"]]


@pytest.mark.parametrize("change", ["delete-first", "insert-first", "append"])
async def test_jobs_changing_between_pages_are_neither_lost_nor_counted_twice(
    start_sim: StartSim, change: str
) -> None:
    sim = await start_sim(
        seed=8, projects=1, jobs=60, status_period=0, children_ratio=0, v5_lists="all"
    )
    (project,) = sim.project_ids
    before = await listed_ids(sim.url, project)
    assert len(before) == 20

    # The change lands just before the first page past the first is answered.
    if change == "delete-first":
        sim.drift(project, "sync", delete=[before[0]])
    else:
        when = "2001-01-01T00:00:00Z" if change == "insert-first" else "2099-01-01T00:00:00Z"
        sim.drift(project, "sync", add=[job(f"new-{change}", create_time=when)])
    async with Exporter(config(target(sim.url, project), page_size=5)) as exporter:
        found = await poll(exporter)
    after = await listed_ids(sim.url, project)

    assert sim.drifts_left == 0
    assert after != before
    exported = job_ids(found, parent_job_id="")
    assert all(n == 1 for n in exported.values()), "a job was counted twice"
    assert set(exported) == set(after), set(exported) ^ set(after)
    assert sum(v for _, _, v in select(found, "drs_jobs")) == len(after)


# --- What a listing may hold: poll.max_jobs, totals that lie, pages that repeat -------------


async def list_sync(
    sim: Simulated, api: str = "v5", **poll: Any
) -> tuple[list[str] | ApiError, int]:
    """One listing of the first project's sync jobs by ``api`` under ``poll``: the top-level
    ids it found or the error it ended with, and the listing requests it took."""
    cfg = config(target(sim.url, sim.project_ids[0], api=api), **poll).poll
    asked = len(sim.requests.of(listing(api)))
    async with aiohttp.ClientSession() as session:
        transport = Transport(session, Limiter(8, FAST), Counters(), cfg.timeout)
        try:
            found = await list_jobs(
                DrsClient(transport, cfg.retries),
                target(sim.url, sim.project_ids[0], api=api),
                StaticToken(TOKEN),
                "sync",
                cfg.page_size,
                max_jobs=cfg.max_jobs,
            )
            result: list[str] | ApiError = [j.id for j in found.jobs if not j.parent_id]
        except ApiError as exc:
            result = exc
    return result, len(sim.requests.of(listing(api))) - asked


async def twenty_sync_jobs(start_sim: StartSim, **options: Any) -> Simulated:
    """A simulator whose one project has 20 sync jobs listed by v5 and v3, no subtasks."""
    sim = await start_sim(
        seed=8,
        projects=1,
        jobs=60,
        status_period=0,
        children_ratio=0,
        v5_lists="all",
        v3_lists="all",
        **options,
    )
    for api in NAMES:
        assert len(sync_ids(sim, api)) == 20
    return sim


def sync_ids(sim: Simulated, api: str = "v5") -> set[str]:
    """The ids of the top-level sync jobs ``api`` lists, as the simulator knows them."""
    return {j["id"] for j in sim.world.jobs(sim.project_ids[0], "sync", api)}


@EACH_API
async def test_a_listing_of_max_jobs_jobs_one_a_page_is_listed_whole(
    start_sim: StartSim, api: str
) -> None:
    sim = await twenty_sync_jobs(start_sim, page_cap=1)
    listed, requests = await list_sync(sim, api, max_jobs=20)
    assert isinstance(listed, list) and len(set(listed)) == 20
    assert requests == 20


@EACH_API
async def test_a_total_past_max_jobs_fails_the_listing_at_once(
    start_sim: StartSim, api: str
) -> None:
    sim = await twenty_sync_jobs(start_sim)
    failed, requests = await list_sync(sim, api, max_jobs=19)
    assert isinstance(failed, ApiError) and failed.reason == "too_many_jobs"
    assert "the API says it has 20 jobs, more than poll.max_jobs (19)" in str(failed)
    assert requests == 1


async def test_poll_max_jobs_bounds_every_listing_of_the_exporter(start_sim: StartSim) -> None:
    sim = await twenty_sync_jobs(start_sim)
    async with Exporter(config(target(sim.url, sim.project_ids[0]), max_jobs=19)) as exporter:
        found = await poll(exporter)
    assert errors_by_reason(found) == {"too_many_jobs": 1}


async def test_pages_without_a_total_stop_one_past_max_jobs(start_sim: StartSim) -> None:
    sim = await start_sim(seed=1, projects=1, jobs=3)
    # A server that pages without end, each page a new job, and never says a total.
    sim.script([{"body": {"jobs": [job(f"job-{i}")]}} for i in range(100)])
    failed, requests = await list_sync(sim, max_jobs=20)
    assert isinstance(failed, ApiError) and failed.reason == "too_many_jobs"
    assert "the listing holds more than 20 jobs and subtasks" in str(failed)
    assert requests == 21


@EACH_API
async def test_a_total_that_lies_costs_at_most_the_pages_asked_at_once(
    start_sim: StartSim, api: str
) -> None:
    sim = await twenty_sync_jobs(start_sim, page_cap=1, lying_total=5000)
    listed, requests = await list_sync(sim, api)
    # Pages past the 20th come back empty, which ends the listing whatever the total said;
    # it is listed twice (the total was not met), each time asking at most PAGES_AT_ONCE.
    assert isinstance(listed, list) and len(set(listed)) == 20
    assert requests == 2 * (1 + PAGES_AT_ONCE)


@EACH_API
async def test_pages_that_repeat_fail_the_listing_as_decode(start_sim: StartSim, api: str) -> None:
    sim = await twenty_sync_jobs(start_sim, page_cap=5, endless_pages=True)
    failed, requests = await list_sync(sim, api)
    assert isinstance(failed, ApiError) and failed.reason == "decode"
    assert "pages repeat: the one at offset 5 held only jobs that earlier pages had" in str(failed)
    assert requests == 4  # two pages, listed twice


async def test_a_job_moving_between_pages_of_one_is_not_taken_for_repeated_pages(
    start_sim: StartSim,
) -> None:
    sim = await twenty_sync_jobs(start_sim, page_cap=1)
    (project,) = sim.project_ids
    # Created before the others: from the second page on, every job is one page later,
    # and the page at offset 1 holds the job the first page held.
    sim.drift(project, "sync", add=[job("new", create_time="2001-01-01T00:00:00Z")])
    listed, requests = await list_sync(sim)
    assert sim.drifts_left == 0
    assert isinstance(listed, list) and set(listed) == sync_ids(sim) and len(set(listed)) == 21
    assert requests == 20 + 21  # stopped at the page that repeated, then listed again whole


# --- The real process: reload, shutdown, time zones -----------------------------------------


def write_config(
    path: Path, sim_url: str, targets: Sequence[tuple[str, Sequence[str]]], timeout: str = "5s"
) -> None:
    lines = [f"credentials:\n  token: {TOKEN}\ntargets:"]
    for project, types in targets:
        lines.append(
            f"  - project_id: {project}\n    region: {REGION}\n    endpoint: {sim_url}\n"
            f"    job_types: [{', '.join(types)}]"
        )
    # At the default request rate a poll outlasts this short interval: it overruns.
    lines.append(f"poll:\n  interval: 500ms\n  timeout: {timeout}\n  retries: 0")
    path.write_text("\n".join(lines) + "\n")


async def wait_for(
    session: aiohttp.ClientSession,
    base: str,
    condition: Callable[[list[Sample]], bool],
    what: str,
) -> list[Sample]:
    """Scrape until the condition holds (bounded: a stuck exporter fails the test)."""
    for _ in range(400):
        try:
            found = await scrape(session, base + "/metrics")
        except aiohttp.ClientConnectionError:
            found = []
        if found and condition(found):
            return found
        await asyncio.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def since_by_job(found: list[Sample]) -> dict[str, float]:
    return {
        labels["job_id"]: v
        for _, labels, v in select(found, "drs_job_status_since_timestamp_seconds")
    }


def polled_targets(found: list[Sample]) -> set[tuple[str, str]]:
    return {(lbl["project_id"], lbl["job_type"]) for _, lbl, _ in select(found, "drs_up")}


@pytest.fixture
async def two_projects(start_sim: StartSim) -> Simulated:
    """The reload tests' simulator: two projects whose jobs keep their status."""
    return await start_sim(seed=10, projects=2, jobs=18, status_period=0, token=TOKEN)


async def test_reload_applies_a_good_config_and_rejects_a_bad_one(
    two_projects: Simulated, tmp_path: Path
) -> None:
    sim = two_projects
    p0, p1 = sim.project_ids
    path = tmp_path / "config.yaml"
    write_config(path, sim.url, [(p0, ["sync", "migration"])])
    proc, base = await start_serving(path, "--web.enable-lifecycle")
    try:
        async with aiohttp.ClientSession() as session:
            first = await wait_for(
                session, base, lambda f: len(polled_targets(f)) == 2, "the first poll"
            )
            since = since_by_job(first)
            assert since

            # A valid new config, on SIGHUP: a new project and job type, same process.
            write_config(
                path, sim.url, [(p0, ["sync", "migration", "cloudDataGuard"]), (p1, ["sync"])]
            )
            proc.send_signal(signal.SIGHUP)
            reloaded = await wait_for(
                session, base, lambda f: len(polled_targets(f)) == 4, "the reloaded targets"
            )
            assert polled_targets(reloaded) == {
                (p0, "sync"),
                (p0, "migration"),
                (p0, "cloudDataGuard"),
                (p1, "sync"),
            }
            assert value(reloaded, "drs_exporter_config_last_reload_successful") == 1
            kept = since_by_job(reloaded)
            assert {k: kept[k] for k in since} == since  # status_since survived the reload

            # An invalid one, by POST /-/reload: refused, and the old config keeps running.
            path.write_text(path.read_text().replace("interval:", "intervall:"))
            async with session.post(base + "/-/reload") as resp:
                status, text = resp.status, await resp.text()
            assert status == 500 and "poll.intervall" in text
            requests_then = requests_by_code(reloaded)["200"]
            rejected = await wait_for(
                session,
                base,
                lambda f: requests_by_code(f)["200"] > requests_then + 8,
                "polling to go on after a rejected reload",
            )
            assert value(rejected, "drs_exporter_config_last_reload_successful") == 0
            assert polled_targets(rejected) == polled_targets(reloaded)
            assert all(v == 1 for _, _, v in select(rejected, "drs_up"))

            # SIGHUP with the same bad file: rejected too, the process lives on.
            proc.send_signal(signal.SIGHUP)
            await asyncio.sleep(0.3)
            async with session.get(base + "/-/healthy") as resp:
                assert resp.status == 200
    finally:
        log = await stop(proc)
    assert proc.returncode == 0, log
    assert "Traceback" not in log
    assert log.count("config reload rejected") == 2, log
    assert "config reloaded" in log


async def test_without_the_lifecycle_flag_post_reload_is_404_and_sighup_still_reloads(
    two_projects: Simulated, tmp_path: Path
) -> None:
    sim = two_projects
    p0, p1 = sim.project_ids
    path = tmp_path / "config.yaml"
    write_config(path, sim.url, [(p0, ["sync"])])
    proc, base = await start_serving(path)
    reloaded_at = "drs_exporter_config_last_reload_success_timestamp_seconds"
    try:
        async with aiohttp.ClientSession() as session:
            first = await wait_for(
                session, base, lambda f: polled_targets(f) == {(p0, "sync")}, "the first poll"
            )
            write_config(path, sim.url, [(p0, ["sync"]), (p1, ["sync"])])
            async with session.post(base + "/-/reload") as resp:
                assert resp.status == 404
            # Not re-read: cycles go on with the old targets, and no reload is recorded.
            requests_then = requests_by_code(first)["200"]
            later = await wait_for(
                session,
                base,
                lambda f: requests_by_code(f)["200"] > requests_then + 8,
                "more cycles after the refused POST",
            )
            assert polled_targets(later) == {(p0, "sync")}
            assert value(later, reloaded_at) == value(first, reloaded_at)

            proc.send_signal(signal.SIGHUP)
            await wait_for(
                session,
                base,
                lambda f: polled_targets(f) == {(p0, "sync"), (p1, "sync")},
                "the targets of the file, on SIGHUP",
            )
    finally:
        log = await stop(proc)
    assert proc.returncode == 0, log
    assert log.count("config reloaded") == 1, log


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_during_a_hanging_poll_stops_the_process_cleanly(
    start_sim: StartSim, tmp_path: Path, sig: signal.Signals
) -> None:
    sim = await start_sim(seed=1, projects=1, jobs=6, hang_rate=1.0, hang=60.0)
    path = tmp_path / "config.yaml"
    write_config(path, sim.url, [(sim.project_ids[0], ["sync", "migration"])], timeout="60s")
    proc, _ = await start_serving(path)
    try:
        await sim.wait_in_flight()  # a poll is in flight, hanging
    finally:
        log = await stop(proc, sig)
    assert proc.returncode == 0, log
    assert "Traceback" not in log
    assert "shutting down" in log


@pytest.mark.parametrize("tz", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
async def test_signing_uses_utc_whatever_the_local_time_zone(
    start_sim: StartSim, tmp_path: Path, tz: str
) -> None:
    env = {**os.environ, "TZ": tz}
    offset = subprocess.run(
        [sys.executable, "-c", "import time; print(time.strftime('%z'))"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if offset in ("+0000", "-0000"):
        pytest.skip(f"the time zone database does not know {tz}")
    assert abs(int(offset)) >= 1100  # at least eleven hours from UTC

    ak, sk = "TZTESTACCESSKEY01", "tz-test-secret-key-value"
    sim = await start_sim(seed=1, projects=1, jobs=6, access_key=ak, secret_key=sk)
    path = tmp_path / "config.yaml"
    (project,) = sim.project_ids
    path.write_text(
        f"credentials:\n  access_key: {ak}\n  secret_key: {sk}\ntargets:\n"
        f"  - project_id: {project}\n    region: {REGION}\n    endpoint: {sim.url}\n"
        "poll:\n  timeout: 5s\n  retries: 0\n"
    )
    proc = await asyncio.create_subprocess_exec(
        EXE,
        "once",
        "--config.file",
        str(path),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    found = samples(out)
    assert [v for _, _, v in select(found, "drs_up")] == [1, 1, 1]
    assert not select(found, "drs_api_requests_total", code="401")
