"""Listing a target's jobs through the list APIs: every page, each job once.

Each list API (``list_apis``) lists only some engines, and a job both list is one job, with
v5's record. Not every region publishes both: an API that answers as unpublished is left
out (``apis: auto``, the default) or fails the poll (an explicit ``apis`` list), and
``published`` remembers it. Per API, the first page shows the server's real page size and
total; the remaining pages are then fetched concurrently (within the shared limits, a
bounded number at a time), any gap left by short pages is filled, and a listing that
changed while it was paged, or whose pages repeat, is fetched once more. A listing holds at
most ``poll.max_jobs`` jobs and subtasks: past it, or when its total says more, it fails
with reason ``too_many_jobs``; pages that repeat again fail it with reason ``decode``. What
to ask next is decided by ``paging``; how each request is sent, signed and retried by
``client``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NoReturn, TypeVar

import msgspec

from ..cloud.auth import Authenticator
from ..cloud.client import DrsClient
from ..config import PollConfig, Project
from ..errors import ApiError
from ..list_apis import BY_NAME, MAX_PER_PAGE, NAMES, ListApi, documented_hint
from ..model import Job, unique_jobs
from .decode import AnswerCache, Page, read_page
from .paging import PAGES_AT_ONCE, listing_settled, next_offsets, pages_allowed
from .published import RECHECK_AFTER, PublishedApis

log = logging.getLogger(__name__)

MAX_JOBS = PollConfig().max_jobs  # poll.max_jobs unless the caller says otherwise

T = TypeVar("T")
# One page of a listing: (offset, step) -> the page, where step is the page size the first
# page showed (for the first page itself, the most a page may hold).
FetchPage = Callable[[int, int], Awaitable["Page"]]


def page_fetcher(
    client: DrsClient,
    project: Project,
    auth: Authenticator,
    job_type: str,
    page_size: int,
    cache: AnswerCache[Page],
    list_api: ListApi,
) -> FetchPage:
    """The pages of one list API's listing of the project's jobs of ``job_type``, as the API
    asks for them (``ListApi.ask``), each decoded once for as long as it comes back the same."""
    path = list_api.path.format(project_id=project.project_id)
    api = list_api.api

    def decode(body: bytes) -> Page:
        return read_page(body, list_api.total_key, api)

    async def fetch(offset: int, step: int) -> Page:
        ask = list_api.ask(job_type, project.filters, offset, step, page_size)
        answer = await client.call(project, auth, api, list_api.method, path, ask.query, ask.body)
        return cache.read((api, *ask.key), answer, decode)

    return fetch


@dataclass(frozen=True, slots=True)
class Listing:
    """A target's jobs, and what each list API that was asked answered."""

    jobs: list[Job]  # each job once, parents before their children
    answered: tuple[str, ...]  # the APIs that listed (``v5``, ``v3``)
    unpublished: tuple[str, ...]  # the APIs the endpoint does not publish


async def list_jobs(
    client: DrsClient,
    project: Project,
    auth: Authenticator,
    job_type: str,
    page_size: int,
    apis: Sequence[str] | None = None,
    cache: AnswerCache[Page] | None = None,
    max_jobs: int = MAX_JOBS,
) -> Listing:
    """Every job (and subtask) of one (project, job type) from each of ``apis`` (default: the
    project's) that the endpoint publishes, at most ``max_jobs`` from each.

    ApiError if an API's listing failed for any other reason. With the ``cache`` of the
    target's last listing, pages that come back the same are not decoded again.
    """
    cache = AnswerCache[Page]() if cache is None else cache
    asked = project.apis if apis is None else tuple(apis)
    found = await _all_or_nothing(
        _published_listing(
            page_fetcher(client, project, auth, job_type, page_size, cache, BY_NAME[api]),
            _Scope(project, job_type, api, max_jobs),
            cache,
        )
        for api in asked
    )
    listings = [jobs for jobs in found if jobs is not None]
    # The same pages make the same jobs: made once, then handed on as they are.
    merged = cache.derive("merged", listings, functools.partial(merge_listings, listings))
    cache.prune()
    return Listing(
        merged,
        answered=tuple(api for api, jobs in zip(asked, found, strict=True) if jobs is not None),
        unpublished=tuple(api for api, jobs in zip(asked, found, strict=True) if jobs is None),
    )


async def list_published(
    client: DrsClient,
    project: Project,
    auth: Authenticator,
    job_type: str,
    page_size: int,
    published: PublishedApis,
    now: float,
    cache: AnswerCache[Page] | None = None,
    max_jobs: int = MAX_JOBS,
) -> Listing:
    """The target's jobs from the list APIs its endpoint publishes, noting in
    ``published`` what each API answered (``now`` in monotonic seconds).

    With ``apis: auto``, an API found unpublished is left out, and the poll fails with
    reason ``unsupported`` only when no API lists; with an explicit list, every API in it
    must answer. Each API's listing holds at most ``max_jobs`` jobs and subtasks.
    """
    apis = published.to_ask(project, now)
    listing = Listing([], (), ())
    if apis:
        listing = await list_jobs(client, project, auth, job_type, page_size, apis, cache, max_jobs)
    for api in listing.answered:
        if published.known_absent(project, api):
            log.info(
                "region %s (%s) now publishes the %s list API",
                project.region,
                project.endpoint,
                api,
            )
        published.record(project, api, True, now)
    for api in listing.unpublished:
        if published.record(project, api, False, now) and project.auto_apis:
            log.info(
                "region %s (%s) does not publish the %s list API (HTTP 404); listing with "
                "the others and asking again in %d minutes. %s",
                project.region,
                project.endpoint,
                api,
                RECHECK_AFTER // 60,
                documented_hint(project.region),
            )
    if listing.unpublished and not project.auto_apis:
        missing = " and ".join(listing.unpublished)
        raise ApiError(
            "unsupported",
            f"region {project.region} ({project.endpoint}) does not publish the {missing} "
            f"list API that targets[].apis names (HTTP 404); {documented_hint(project.region)}. "
            "Leave targets[].apis out to use the list APIs the region publishes",
            status=404,
        )
    if not listing.answered:
        raise ApiError(
            "unsupported",
            f"region {project.region} ({project.endpoint}) publishes no DRS list API "
            f"({' and '.join(NAMES)} answer HTTP 404); {documented_hint(project.region)}. "
            "Check the target's region and endpoint",
        )
    return listing


async def first_page(
    client: DrsClient,
    project: Project,
    auth: Authenticator,
    job_type: str,
    api: str,
    page_size: int,
) -> Page:
    """The first page of one list API (``v5`` or ``v3``), as ``check`` asks for it."""
    cache = AnswerCache[Page]()
    fetch = page_fetcher(client, project, auth, job_type, page_size, cache, BY_NAME[api])
    return await fetch(0, MAX_PER_PAGE)


def merge_listings(listings: Sequence[Sequence[Job]]) -> list[Job]:
    """The jobs of several listings, each id once, the first listing's record winning.

    A subtask's failure reason (v3's ``error_msg``) is kept when the winning record has none.
    """
    reasons = {j.id: j.error_message for jobs in listings for j in jobs if j.error_message}
    merged = unique_jobs(job for jobs in listings for job in jobs)
    return [
        msgspec.structs.replace(j, error_message=reasons[j.id])
        if not j.error_message and j.id in reasons
        else j
        for j in merged
    ]


@dataclass(frozen=True, slots=True)
class _Scope:
    """Whose listing through which API, and the most jobs it may hold: what a listing's
    messages name and what bounds it."""

    project: Project
    job_type: str
    api: str  # ``v5`` or ``v3``
    max_jobs: int

    @property
    def api_name(self) -> str:
        return BY_NAME[self.api].api


async def _published_listing(
    fetch: FetchPage, scope: _Scope, cache: AnswerCache[Page]
) -> list[Job] | None:
    """One API's listing, or None when the endpoint does not publish that API."""
    try:
        return await _one_listing(fetch, scope, cache)
    except ApiError as exc:
        if exc.unpublished:
            return None
        raise


async def _one_listing(fetch: FetchPage, scope: _Scope, cache: AnswerCache[Page]) -> list[Job]:
    """One API's listing, fetched once more if it changed while it was paged, or if its
    pages repeated: one job that moved between pages can make a page of one job look
    repeated, a server that ignores the offset does it every time."""
    for attempt in (1, 2):
        pages, repeated = await _pages(fetch, scope)
        if repeated is not None:
            if attempt == 2:
                raise ApiError(
                    "decode",
                    f"pages repeat: the one at offset {repeated} held only jobs that earlier "
                    "pages had listed, in two listings in a row; the server (or a proxy) "
                    "seems to answer the same page whatever offset is asked",
                    api=scope.api_name,
                )
            log.debug(
                "%s %s: the %s page at offset %d repeats earlier ones; listing again",
                scope.project.project_id,
                scope.job_type,
                scope.api_name,
                repeated,
            )
            continue
        ordered = [page for _, page in sorted(pages.items())]
        jobs = cache.derive(scope.api, ordered, functools.partial(_jobs_of, ordered))
        listed = sum(1 for job in jobs if not job.parent_id)
        totals = {p.total for p in pages.values() if p.total is not None}
        if attempt == 2 or listing_settled(listed, totals):
            break
        log.debug(
            "%s %s: listed %d jobs, the total said %s; listing again",
            scope.project.project_id,
            scope.job_type,
            listed,
            "/".join(str(t) for t in sorted(totals)),
        )
    return jobs


def _jobs_of(pages: Sequence[Page]) -> list[Job]:
    return unique_jobs(job for page in pages for job in page.jobs)


async def _pages(fetch: FetchPage, scope: _Scope) -> tuple[dict[int, Page], int | None]:
    """Every page of one listing by offset, and the offset of a page that repeated earlier
    ones, where paging stopped (None: it ran to its end)."""
    held = _Held(scope)
    first = await fetch(0, MAX_PER_PAGE)
    pages = {0: first}
    step = first.count or MAX_PER_PAGE
    held.add(first, step)  # a first page repeats nothing
    # Without a total, page until an empty page says the listing is over.
    total: int | None = first.total
    while True:
        most = min(PAGES_AT_ONCE, pages_allowed(scope.max_jobs, held.entries, step))
        offsets = next_offsets({o: p.count for o, p in pages.items()}, total, step, most)
        if not offsets:
            return pages, None
        fetched = await _all_or_nothing(fetch(offset, step) for offset in offsets)
        for offset, page in zip(offsets, fetched, strict=True):
            pages[offset] = page
            if page.total is not None and total is not None:
                total = max(total, page.total)
            if held.add(page, step):
                return pages, offset


class _Held:
    """What the pages of one listing held so far, against ``max_jobs``: entries (jobs with
    or without an id, and subtasks) and the ids of the top-level jobs."""

    def __init__(self, scope: _Scope) -> None:
        self._scope = scope
        self.entries = 0
        self._ids: set[str] = set()

    def add(self, page: Page, step: int) -> bool:
        """Count a page in; whether it repeats: a full page (``step`` entries, as the first
        page showed) of only jobs that earlier pages held. A short page may well be the
        last one holding a job a server lists twice.

        ApiError(too_many_jobs) when the listing holds more than ``max_jobs``, or its total
        says it has: paging on would take the memory and the requests of as many.
        """
        most = self._scope.max_jobs
        if page.total is not None and page.total > most:
            self._too_many(f"the API says it has {page.total} jobs")
        ids = [job.id for job in page.jobs if not job.parent_id]
        self.entries += page.count + len(page.jobs) - len(ids)
        if self.entries > most:
            self._too_many(f"the listing holds more than {most} jobs and subtasks")
        repeats = page.count >= step and bool(ids) and all(i in self._ids for i in ids)
        self._ids.update(ids)
        return repeats

    def _too_many(self, what: str) -> NoReturn:
        raise ApiError(
            "too_many_jobs",
            f"{what}, more than poll.max_jobs ({self._scope.max_jobs}) allows; raise it if "
            "the project really has that many",
            api=self._scope.api_name,
        )


async def _all_or_nothing(aws: Iterable[Awaitable[T]]) -> list[T]:
    """Await all; on the first failure cancel the rest and raise it."""
    tasks = [asyncio.ensure_future(aw) for aw in aws]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
