"""The straightforward exporter that the benchmark measures drs-exporter against.

It lists the same jobs from the same DRS API (v5, then v3, then the health of the jobs that
have some), sets one prometheus_client Gauge child per
series with ``.labels(...).set(...)`` (the same metric names and labels as drs-exporter),
and answers every scrape with ``generate_latest()``: the usual way to write a Python
exporter, and exactly the per-scrape, per-series work that drs-exporter's pre-rendered
bodies avoid. It polls once, at start, then serves until SIGTERM or SIGINT:

    python benchmarks/baseline.py --endpoint http://127.0.0.1:8080 --token T \\
        --project 0a1b... --project 2c3d... [--listen 127.0.0.1:0]

Once the jobs are loaded it prints ``baseline listening on http://HOST:PORT`` on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from prometheus_client import Counter as PromCounter

from drs_exporter import __version__
from drs_exporter.drs.batch_calls import BATCH_PROGRESS, BATCH_STATUS
from drs_exporter.drs.batch_figures import job_health
from drs_exporter.drs.decode import Progress, Status
from drs_exporter.metrics.families import COUNT_LABELS, INFO_LABELS, JOB_LABELS, TARGET_LABELS
from drs_exporter.model import (
    INFO_FIELDS,
    JOB_TYPES,
    Job,
    JobHealth,
    is_failed,
    parse_jobs,
    unique_jobs,
)


@dataclass(frozen=True)
class Listing:
    """One (project, job type) as listed: its jobs and how the poll went."""

    project_id: str
    job_type: str
    jobs: list[Job]
    health: dict[str, JobHealth]
    duration: float
    finished: float  # Unix seconds


class Metrics:
    """The Gauges of drs-exporter's metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.jobs = Gauge("drs_jobs", "Top-level DRS jobs.", COUNT_LABELS, registry=r)
        self.subtasks = Gauge("drs_subtasks", "DRS child tasks.", COUNT_LABELS, registry=r)
        self.failed = Gauge(
            "drs_jobs_failed", "Failed top-level DRS jobs.", TARGET_LABELS, registry=r
        )
        self.info = Gauge(
            "drs_job_info", "Static properties of a DRS job.", INFO_LABELS, registry=r
        )
        self.status = Gauge(
            "drs_job_status", "Current status of a DRS job.", (*JOB_LABELS, "status"), registry=r
        )
        self.created = Gauge(
            "drs_job_created_timestamp_seconds", "When the job was created.", JOB_LABELS, registry=r
        )
        self.since = Gauge(
            "drs_job_status_since_timestamp_seconds",
            "When the job was first seen in its status.",
            JOB_LABELS,
            registry=r,
        )
        self.up = Gauge("drs_up", "1 if the last poll succeeded.", TARGET_LABELS, registry=r)
        self.duration = Gauge(
            "drs_last_poll_duration_seconds",
            "Wall time of the last poll.",
            TARGET_LABELS,
            registry=r,
        )
        self.success = Gauge(
            "drs_last_poll_success_timestamp_seconds",
            "When the last poll succeeded.",
            TARGET_LABELS,
            registry=r,
        )
        self.requests = PromCounter(
            "drs_api_requests_total", "DRS API requests.", ("region", "code"), registry=r
        )
        self.progress = Gauge("drs_job_progress_ratio", "Progress.", JOB_LABELS, registry=r)
        self.delay = Gauge(
            "drs_job_replication_delay_seconds", "Replication delay.", JOB_LABELS, registry=r
        )
        self.remaining = Gauge("drs_job_remaining_seconds", "Remaining.", JOB_LABELS, registry=r)
        self.updated = Gauge(
            "drs_job_progress_update_timestamp_seconds", "Progress update.", JOB_LABELS, registry=r
        )
        self.error = Gauge(
            "drs_job_error_info",
            "Failure reason.",
            (*JOB_LABELS, "error_code", "error_message"),
            registry=r,
        )
        self.build = Gauge(
            "drs_exporter_build_info", "Build info.", ("version", "python_version"), registry=r
        )
        self.build.labels(__version__, platform.python_version()).set(1)

    def update(self, region: str, listing: Listing) -> None:
        """Set every series of one listing, the plain prometheus_client way."""
        base = (listing.project_id, region, listing.job_type)
        groups = Counter(
            (bool(j.parent_id), j.engine_type, j.net_type, j.status) for j in listing.jobs
        )
        for (is_subtask, engine, net, status), count in groups.items():
            gauge = self.subtasks if is_subtask else self.jobs
            gauge.labels(*base, engine, net, status).set(count)
        failed = sum(1 for j in listing.jobs if not j.parent_id and is_failed(j.status))
        self.failed.labels(*base).set(failed)
        for j in listing.jobs:
            ident = (*base, j.id)
            self.info.labels(*base, *(getattr(j, field) for _, field in INFO_FIELDS)).set(1)
            self.status.labels(*ident, j.status).set(1)
            if j.created is not None:
                self.created.labels(*ident).set(j.created)
            self.since.labels(*ident).set(listing.finished)  # first seen: this poll
            health = listing.health.get(j.id)
            if health is not None:
                for gauge, value in (
                    (self.progress, health.progress),
                    (self.delay, health.delay),
                    (self.remaining, health.remaining),
                    (self.updated, health.updated),
                ):
                    if value is not None:
                        gauge.labels(*ident).set(value)
                if health.has_reason:
                    self.error.labels(*ident, health.error_code, health.error_message).set(1)
        self.up.labels(*base).set(1)
        self.duration.labels(*base).set(listing.duration)
        self.success.labels(*base).set(listing.finished)


async def _call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    token: str,
    codes: Counter[str],
    body: Any = None,
    params: dict[str, str] | None = None,
) -> Any:
    async with session.request(
        method,
        url,
        params=params,
        json=body,
        headers={"X-Auth-Token": token, "Content-Type": "application/json"},
    ) as resp:
        codes[str(resp.status)] += 1
        resp.raise_for_status()
        return json.loads(await resp.read())


async def list_target(
    session: aiohttp.ClientSession,
    endpoint: str,
    token: str,
    project_id: str,
    job_type: str,
    page_size: int,
    codes: Counter[str],
) -> Listing:
    """Every job of one (project, job type) from v5 then v3, page after page, then the
    health of the jobs that have some, ten ids a request."""
    started = time.monotonic()
    items: list[Any] = []
    offset = 0
    while True:
        params = {"job_type": job_type, "offset": str(offset), "limit": str(page_size)}
        page = await _call(
            session, "GET", f"{endpoint}/v5/{project_id}/jobs", token, codes, params=params
        )
        jobs = page.get("jobs") or []
        items.extend(jobs)
        offset += len(jobs)
        if not jobs or offset >= int(page.get("total_count") or 0):
            break
    number, seen, per_page = 1, 0, 100
    while True:
        body = {"db_use_type": job_type, "cur_page": number, "per_page": per_page}
        page = await _call(session, "POST", f"{endpoint}/v3/{project_id}/jobs", token, codes, body)
        jobs = page.get("jobs") or []
        items.extend(jobs)
        seen += len(jobs)
        number += 1
        if not jobs or seen >= int(page.get("total_record") or 0):
            break
        per_page = min(per_page, len(jobs))  # pages are numbered in units of what came back
    listed = unique_jobs(parse_jobs(items))
    by_id = {j.id: j for j in listed}
    health: dict[str, JobHealth] = {}
    for api, wanted, key in (
        ("batch-progress", BATCH_PROGRESS.wanted, "job_id"),
        ("batch-status", BATCH_STATUS.wanted, "id"),
    ):
        ids = [j.id for j in listed if wanted("", j)]
        url = f"{endpoint}/v3/{project_id}/jobs/{api}"
        for i in range(0, len(ids), 10):
            body = {"jobs": ids[i : i + 10], "page_req": {"cur_page": 1, "per_page": 100}}
            answer = await _call(session, "POST", url, token, codes, body)
            for result in answer.get("results") or []:
                job = by_id.get(result.get(key))
                if job is None:
                    continue
                if key == "job_id":
                    found = job_health(job, msgspec.convert(result, Progress), None)
                else:
                    found = job_health(job, None, msgspec.convert(result, Status))
                if found is not None:
                    health[job.id] = found
    duration = time.monotonic() - started
    return Listing(project_id, job_type, listed, health, duration, time.time())


async def serve(args: argparse.Namespace) -> None:
    metrics = Metrics()
    codes: Counter[str] = Counter()
    async with aiohttp.ClientSession() as session:
        listings = await asyncio.gather(
            *(
                list_target(session, args.endpoint, args.token, p, jt, args.page_size, codes)
                for p in args.project
                for jt in JOB_TYPES
            )
        )
    for listing in listings:
        metrics.update(args.region, listing)
    for code, count in codes.items():
        metrics.requests.labels(args.region, code).inc(count)

    async def scrape(request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host, _, port = args.listen.rpartition(":")
    site = web.TCPSite(runner, host, int(port))
    await site.start()
    bound = runner.addresses[0]
    print(f"baseline listening on http://{bound[0]}:{bound[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True, help="DRS API base URL")
    parser.add_argument("--token", required=True, help="X-Auth-Token to send")
    parser.add_argument("--project", action="append", required=True, help="project id")
    parser.add_argument("--region", default="ap-southeast-1")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT to serve on")
    args = parser.parse_args()
    try:
        asyncio.run(serve(args))
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        print(f"baseline: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
