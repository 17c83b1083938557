"""Listing a target's jobs through ``GET /v5/{project_id}/jobs``: every page, each job once.

The first page shows the server's real page size and ``total_count``; the remaining pages
are then fetched concurrently (within the shared limits), any gap left by short pages is
filled, and a listing that changed while it was paged is fetched once more. What to ask
next is decided by ``paging``; how each request is sent, signed and retried by ``client``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from .auth import Authenticator
from .client import DrsClient
from .config import Target
from .errors import ApiError
from .model import Job, parse_jobs, unique_jobs
from .paging import MAX_PAGES, listing_settled, next_offsets

log = logging.getLogger(__name__)

V5_API = "v5_jobs"  # how the listing is counted in drs_api_requests_total

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page:
    """One answer of the job listing, parsed as soon as it arrives."""

    total: int | None  # total_count as the server said it, None when it left it out
    count: int  # entries in the page's jobs list, whatever they held: paging counts these
    jobs: list[Job]  # the jobs and their subtasks


def parse_page(body: bytes) -> Page:
    """Read a 200 answer of ``GET /v5/{project_id}/jobs``; ApiError(decode) if it is not one."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError("decode", "answer is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError("decode", "answer is not a JSON object")
    total = data.get("total_count")
    if total is not None and (isinstance(total, bool) or not isinstance(total, int) or total < 0):
        raise ApiError("decode", "total_count is not a non-negative integer")
    jobs = data.get("jobs")
    if jobs is None and total is None:
        # Some other JSON object (a proxy's status page, say): taking it for an empty
        # listing would make every job vanish with drs_up still 1.
        raise ApiError("decode", "answer has neither jobs nor total_count")
    if jobs is None:
        if total != 0:
            raise ApiError("decode", "answer has no jobs list")
        jobs = []
    if not isinstance(jobs, list):
        raise ApiError("decode", "jobs is not a list")
    return Page(total, len(jobs), parse_jobs(jobs))


async def fetch_page(
    client: DrsClient, target: Target, auth: Authenticator, job_type: str, offset: int, limit: int
) -> Page:
    """One page of a (project, job type) listing."""
    query = [
        ("job_type", job_type),
        *target.filters,
        ("offset", str(offset)),
        ("limit", str(limit)),
        # Oldest first: a job created while we page lands on the last page instead of
        # shifting every page after it.
        ("sort_key", "create_time"),
        ("sort_dir", "asc"),
    ]
    path = f"/v5/{target.project_id}/jobs"
    return parse_page(await client.call(target, auth, V5_API, "GET", path, query))


async def list_jobs(
    client: DrsClient, target: Target, auth: Authenticator, job_type: str, page_size: int
) -> list[Job]:
    """Every job (and subtask) of one (project, job type), each once, parents first."""
    for attempt in (1, 2):
        pages = await _pages(client, target, auth, job_type, page_size)
        jobs = unique_jobs(job for _, page in sorted(pages.items()) for job in page.jobs)
        listed = sum(1 for job in jobs if not job.parent_id)
        totals = {p.total for p in pages.values() if p.total is not None}
        if attempt == 2 or listing_settled(listed, totals):
            break
        log.debug(
            "%s %s: listed %d jobs, total_count said %s; listing again",
            target.project_id,
            job_type,
            listed,
            "/".join(str(t) for t in sorted(totals)),
        )
    return jobs


async def _pages(
    client: DrsClient, target: Target, auth: Authenticator, job_type: str, page_size: int
) -> dict[int, Page]:
    def fetch(offset: int) -> Awaitable[Page]:
        return fetch_page(client, target, auth, job_type, offset, page_size)

    first = await fetch(0)
    pages = {0: first}
    step = first.count or page_size
    # Without total_count, page until an empty page says the listing is over.
    total: int | None = first.total
    while True:
        offsets = next_offsets({o: p.count for o, p in pages.items()}, total, step)
        if not offsets:
            return pages
        if len(pages) + len(offsets) > MAX_PAGES:
            raise ApiError("decode", f"listing needs more than {MAX_PAGES} pages")
        for offset, page in zip(offsets, await _all_or_nothing(map(fetch, offsets)), strict=True):
            pages[offset] = page
            if page.total is not None and total is not None:
                total = max(total, page.total)


async def _all_or_nothing(aws: Iterable[Awaitable[T]]) -> list[T]:
    """Await all; on the first failure cancel the rest and raise it."""
    tasks = [asyncio.ensure_future(aw) for aw in aws]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
