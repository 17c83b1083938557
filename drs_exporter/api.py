"""The DRS API client: one request, with limits, retries and error parsing; and job listing.

Every HTTP request of the exporter (DRS pages and IAM logins) goes through ``DrsClient.send``,
which holds a slot of the shared ``Limiter``, applies the per-request timeout and the body
size cap, and counts the request in ``Telemetry``.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from yarl import URL

from .auth import Authenticator, Request, Transport
from .config import PollConfig, Target
from .errors import ApiError, reason_for_status
from .model import Job, parse_jobs
from .signer import canonical_query
from .snapshot import TargetKey

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 32 * 1024 * 1024  # far above any real page; stops a runaway answer
MAX_PAGES = 10_000  # per listing: a hostile total_count must not make us page forever
BACKOFF_BASE = 1.0  # seconds; full jitter, doubled per attempt
BACKOFF_CAP = 30.0  # seconds; also caps a server's Retry-After

T = TypeVar("T")


class Telemetry:
    """Counters that only grow, kept for the life of the process (across reloads)."""

    def __init__(self) -> None:
        self.api_requests: Counter[tuple[str, str]] = Counter()
        self.poll_errors: Counter[tuple[TargetKey, str]] = Counter()


class Limiter:
    """The global budget shared by all targets: requests in flight and requests per second."""

    def __init__(
        self,
        max_concurrency: int,
        max_requests_per_second: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._slots = asyncio.Semaphore(max_concurrency)
        self._interval = 1.0 / max_requests_per_second
        self._next = 0.0
        self._monotonic = monotonic

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the concurrent slots, entered no sooner than the rate allows."""
        async with self._slots:
            now = self._monotonic()
            start = max(now, self._next)
            self._next = start + self._interval  # reserve our turn before sleeping
            if start > now:
                await asyncio.sleep(start - now)
            yield


@dataclass(frozen=True, slots=True)
class Page:
    """One answer of the job listing, parsed as soon as it arrives."""

    total: int | None  # total_count as the server said it, None when it left it out
    count: int  # entries in the page's jobs list, whatever they held: paging counts these
    jobs: list[Job]  # the jobs and their subtasks


def api_error(status: int, headers: Mapping[str, str], body: bytes) -> ApiError:
    """Turn a non-2xx answer into an ApiError with the DRS/APIG error code and request id."""
    code, message = _error_fields(body)
    retry_after = _retry_after(headers.get("Retry-After"))
    return ApiError(
        reason_for_status(status, code),
        message or "request failed",
        status=status,
        code=code,
        request_id=headers.get("X-Request-Id", ""),
        retry_after=retry_after,
    )


def _error_fields(body: bytes) -> tuple[str, str]:
    try:
        data = json.loads(body)
    except ValueError:
        return "", ""
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        data = data["error"]  # IAM's {"error": {"code": ..., "message": ...}}
    if not isinstance(data, dict):
        return "", ""
    code = next((data[k] for k in ("error_code", "errorCode", "code") if k in data), "")
    msg = next((data[k] for k in ("error_msg", "errorMsg", "message") if k in data), "")
    # Server text ends up in logs: keep it on one line and short.
    return _one_line(code, 64), _one_line(msg, 300)


def _one_line(value: object, limit: int) -> str:
    if value is None:
        return ""
    return " ".join(str(value).split())[:limit]


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), BACKOFF_CAP)


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


async def _all_or_nothing(aws: Iterable[Awaitable[T]]) -> list[T]:
    """Await all; on the first failure cancel the rest and raise it."""
    tasks = [asyncio.ensure_future(aw) for aw in aws]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()


class DrsClient:
    """Lists DRS jobs over one aiohttp session, within the shared limits."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        limiter: Limiter,
        telemetry: Telemetry,
        poll: PollConfig,
        *,
        proxy: str | None = None,
        ssl: Any = None,
        rng: random.Random | None = None,
    ) -> None:
        self._session = session
        self._limiter = limiter
        self._telemetry = telemetry
        self._poll = poll
        self._proxy = proxy
        self._ssl = ssl
        self._rng = rng or random.Random()

    async def send(
        self, region: str, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Mapping[str, str], bytes]:
        """One HTTP request, counted in drs_api_requests_total; ApiError on no answer."""
        code = "network"  # what drs_api_requests_total counts this request under
        async with self._limiter.slot():
            try:
                async with self._session.request(
                    method,
                    URL(url, encoded=True),  # the signed query must go out byte for byte
                    headers=dict(headers),
                    data=body or None,
                    proxy=self._proxy,
                    ssl=self._ssl,
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=self._poll.timeout),
                ) as resp:
                    status = resp.status
                    resp_headers: Mapping[str, str] = resp.headers
                    code = str(status)  # answered: even an over-long body counts as such
                    data = await _read_capped(resp)
            except (asyncio.TimeoutError, TimeoutError):
                code = "timeout"
                raise ApiError("timeout", f"no answer within {self._poll.timeout:g}s") from None
            except aiohttp.ClientPayloadError:
                code = "network"
                raise ApiError("network", "connection broke while reading the answer") from None
            except aiohttp.ClientError as exc:
                code = "network"
                raise ApiError("network", _describe(exc, url)) from None
            finally:
                self._telemetry.api_requests[(region, code)] += 1
        return status, resp_headers, data

    def transport(self, region: str) -> Transport:
        """``send`` bound to a region, for authenticators that make requests of their own."""

        async def send(
            method: str, url: str, headers: Mapping[str, str], body: bytes
        ) -> tuple[int, Mapping[str, str], bytes]:
            return await self.send(region, method, url, headers, body)

        return send

    async def fetch_page(
        self, target: Target, auth: Authenticator, job_type: str, offset: int
    ) -> Page:
        """One page of a job listing, retried on throttling, 5xx and network errors."""
        url = f"{target.endpoint}/v5/{target.project_id}/jobs"
        query = [
            ("job_type", job_type),
            *target.filters,
            ("offset", str(offset)),
            ("limit", str(self._poll.page_size)),
            # Oldest first: a job created while we page lands on the last page instead of
            # shifting every page after it.
            ("sort_key", "create_time"),
            ("sort_dir", "asc"),
        ]
        full_url = f"{url}?{canonical_query(query)}"
        base_headers = {
            "Content-Type": "application/json",
            "X-Project-Id": target.project_id,
            "X-Language": "en-us",
        }
        transport = self.transport(target.region)
        reauthenticated = False
        attempt = 0
        while True:
            headers: Mapping[str, str] = {}  # stays empty if authenticating itself fails
            try:
                headers = await auth.headers(Request("GET", url, query, base_headers), transport)
                status, resp_headers, body = await self.send(
                    target.region, "GET", full_url, headers, b""
                )
                if status != 200:
                    raise api_error(status, resp_headers, body)
                return parse_page(body)
            except ApiError as exc:
                if exc.reason == "auth" and exc.status == 401 and not reauthenticated:
                    reauthenticated = True
                    if auth.invalidate(headers):
                        log.info("token refused (HTTP 401), logging in again")
                        continue
                if not exc.retryable or attempt >= self._poll.retries:
                    raise
                delay = exc.retry_after
                if delay is None:
                    delay = self._rng.uniform(0.0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))
                attempt += 1
                log.debug(
                    "retry %d/%d of %s %s in %.2fs: %s",
                    attempt,
                    self._poll.retries,
                    target.project_id,
                    job_type,
                    delay,
                    exc,
                )
                await asyncio.sleep(delay)

    async def list_jobs(self, target: Target, auth: Authenticator, job_type: str) -> list[Job]:
        """Every job (and subtask) of one (project, job type), each once.

        Pages on what the server actually returned, never assuming a full page: after the
        first page shows the server's page size and total_count, the rest are fetched
        concurrently, then any gap left by short pages is filled. A listing that changed
        while it was paged is fetched once more.
        """
        for attempt in (1, 2):
            pages = await self._pages(target, auth, job_type)
            jobs = _dedupe([job for _, page in sorted(pages.items()) for job in page.jobs])
            listed = sum(1 for job in jobs if not job.parent_id)
            totals = {p.total for p in pages.values() if p.total is not None}
            if attempt == 2 or not totals or (len(totals) == 1 and listed >= min(totals)):
                break
            # total_count changed between pages, or fewer distinct jobs came than it says:
            # jobs were created or deleted while we paged and the rest shifted under our
            # offsets, so one job may be missed while a deleted one is kept, at the same
            # count. One fresh pass usually settles it.
            log.debug(
                "%s %s: listed %d jobs, total_count said %s; listing again",
                target.project_id,
                job_type,
                listed,
                "/".join(str(t) for t in sorted(totals)),
            )
        return jobs

    async def _pages(self, target: Target, auth: Authenticator, job_type: str) -> dict[int, Page]:
        def fetch(offset: int) -> Awaitable[Page]:
            return self.fetch_page(target, auth, job_type, offset)

        first = await fetch(0)
        pages = {0: first}
        step = first.count or self._poll.page_size
        # Without total_count, page until an empty page says the listing is over.
        total: int | None = first.total
        while True:
            offsets = _missing_offsets(pages, total, step)
            if not offsets:
                return pages
            if len(pages) + len(offsets) > MAX_PAGES:
                raise ApiError("decode", f"listing needs more than {MAX_PAGES} pages")
            for offset, page in zip(
                offsets, await _all_or_nothing(map(fetch, offsets)), strict=True
            ):
                pages[offset] = page
                if page.total is not None and total is not None:
                    total = max(total, page.total)


def _missing_offsets(pages: Mapping[int, Page], total: int | None, step: int) -> list[int]:
    """Offsets still to fetch, given the pages so far (offset -> page) and total_count."""
    end = total
    cursor = 0
    missing: list[int] = []
    for offset in sorted(pages):
        if offset > cursor:
            missing.extend(range(cursor, offset, step))
        count = pages[offset].count
        if count == 0:
            # Nothing at this offset: the listing ends here, whatever total_count said.
            end = offset if end is None else min(end, offset)
            break
        cursor = max(cursor, offset + count)
    else:
        if end is None:
            end = cursor + 1  # no total_count: one more page, until one comes back empty
    missing.extend(range(cursor, end, step))
    return [o for o in missing if o < end and o not in pages]


def _dedupe(jobs: list[Job]) -> list[Job]:
    seen: set[tuple[str, str]] = set()
    unique: list[Job] = []
    for job in jobs:
        key = (job.parent_id, job.id)
        if key not in seen:
            seen.add(key)
            unique.append(job)
    return unique


async def _read_capped(resp: aiohttp.ClientResponse) -> bytes:
    length = resp.content_length
    if length is not None:
        if length > MAX_BODY_BYTES:
            raise ApiError("decode", f"answer of {length} bytes exceeds {MAX_BODY_BYTES}")
        return await resp.read()  # the size is known and bounded: read it in one go
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError("decode", f"answer exceeds {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _describe(exc: aiohttp.ClientError, url: str) -> str:
    """A network error's kind and host, never its text (which may quote a proxy's password)."""
    parsed = URL(url, encoded=True)
    where = f"{parsed.host}:{parsed.port}"
    if isinstance(exc, aiohttp.ClientConnectorError) and exc.os_error.strerror:
        return f"cannot connect to {where}: {exc.os_error.strerror}"
    return f"{type(exc).__name__} talking to {where}"
