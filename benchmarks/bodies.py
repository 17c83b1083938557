"""The bodies one poll cycle reads, fetched by the benchmark itself, and json.loads' time on them.

The benchmark compares the exporter's CPU per cycle with what the standard library's
``json.loads`` alone needs for the same answers: the requests are the exporter's own (each
target's v5 and v3 listing, page by page at the size the first page shows, then every batch
call of the exporter's table for the jobs it wants, ``batch_size`` ids each (at most the
call's documented maximum; a call asked in turns, the default turn's share; batch-detail,
asked again only after an hour, none), and each project's quota once), made here with
http.client
against the same simulator, whose world is frozen.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from drs_exporter.config import PollConfig
from drs_exporter.drs.batch_calls import BATCH_CALLS
from drs_exporter.list_apis import MAX_PER_PAGE
from drs_exporter.model import JOB_TYPES, parse_jobs, unique_jobs


class _Api:
    def __init__(self, base_url: str, token: str) -> None:
        parts = urlsplit(base_url)
        self._conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=300)
        self._headers = {"X-Auth-Token": token, "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: Any = None) -> bytes:
        data = None if body is None else json.dumps(body).encode()
        self._conn.request(method, path, body=data, headers=self._headers)
        resp = self._conn.getresponse()
        answer = resp.read()
        if not 200 <= resp.status < 300:
            raise RuntimeError(f"{method} {path}: HTTP {resp.status}: {answer[:200]!r}")
        return answer

    def close(self) -> None:
        self._conn.close()


def _pages(api: _Api, project: str, job_type: str, page_size: int) -> Iterator[bytes]:
    """The v5 then the v3 pages of one target, as the exporter asks for them."""
    offset, step, total = 0, 0, 1
    while offset < total:
        query = f"job_type={job_type}&offset={offset}&limit={page_size}"
        body = api.call("GET", f"/v5/{project}/jobs?{query}&sort_key=create_time&sort_dir=asc")
        yield body
        data = json.loads(body)
        step = step or len(data["jobs"])
        total = data["total_count"] if step else 0
        offset += step
    page, per_page, seen, total = 1, min(page_size, MAX_PER_PAGE), 0, 1
    while seen < total:
        ask = {"db_use_type": job_type, "cur_page": page, "per_page": per_page}
        body = api.call("POST", f"/v3/{project}/jobs", ask)
        yield body
        data = json.loads(body)
        if page == 1:
            per_page = len(data["jobs"]) or per_page
            total = data["total_record"] if data["jobs"] else 0
        seen += len(data["jobs"])
        page += 1


def cycle_bodies(
    base_url: str,
    token: str,
    projects: list[str],
    page_size: int,
    batch_size: int,
    health: bool,
    first: bool = False,
) -> list[bytes]:
    """Every answer a poll cycle of these projects reads (``health``: with every batch call
    and the quota, as by default; else the listings alone). ``first``: the first cycle's,
    which also asks batch-detail about every job."""
    api = _Api(base_url, token)
    bodies: list[bytes] = []
    try:
        for project in projects:
            for job_type in JOB_TYPES:
                listing = list(_pages(api, project, job_type, page_size))
                bodies += listing
                if not health:
                    continue
                pages = [json.loads(body)["jobs"] for body in listing]
                jobs = unique_jobs(parse_jobs(job for page in pages for job in page))
                for call in BATCH_CALLS:
                    if call.refreshed and not first:  # asked when first seen, then once
                        continue  # poll.detail_interval (an hour) has passed: in no steady cycle
                    ids = call.wanted_ids(job_type, jobs)
                    size = min(batch_size, call.max_ids)
                    if call.rotated:  # a cycle asks about the share of one turn
                        ids = ids[: PollConfig().rotation_requests * size]
                    for start in range(0, len(ids), size):
                        body = json.loads(call.body(ids[start : start + size]))
                        path = f"/v3/{project}/jobs/{call.path}"
                        bodies.append(api.call("POST", path, body))
            if health:
                bodies.append(api.call("GET", f"/v3/{project}/quotas"))
    finally:
        api.close()
    return bodies


def loads_seconds(bodies: list[bytes], repeat: int = 5) -> float:
    """The least CPU time json.loads needs to decode every body, over ``repeat`` tries."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for body in bodies:
            json.loads(body)
        best = min(best, time.process_time() - started)
    return best
