"""The DRS list APIs, one record each: its names, how a page of it is asked, where its answer
gives the total, and the regions where Huawei documents it.

``GET /v5/{project_id}/jobs`` pages by offset, ``POST /v3/{project_id}/jobs`` by page number
in units of the page size; each lists only some engines. The records sit below the config,
which names the APIs (``targets[].apis``); ``drs.listing`` pages through them and
``drs.decode`` reads their pages.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# The most entries one v3 page holds: ``per_page``, of a listing and of batch-status's
# ``page_req``, is documented from 0 to 100.
MAX_PER_PAGE = 100

Filters = Sequence[tuple[str, str]]  # a project's filters, in the order given


@dataclass(frozen=True, slots=True)
class PageAsk:
    """How one page of a listing is asked for."""

    key: tuple[int, int]  # tells this page's answer from the others': (offset or page, size)
    query: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class ListApi:
    """One API that lists the jobs of one job type of a project."""

    name: str  # in targets[].apis, in messages and in the simulator
    api: str  # in drs_api_requests_total, drs_api_published and logs
    method: str
    path: str  # with ``{project_id}``
    total_key: str  # where an answer gives the total
    # (job type, filters, offset, step, page size) -> how the page at that offset is asked;
    # ``step`` is the page size the first page showed.
    ask: Callable[[str, Filters, int, int, int], PageAsk]
    # Where Huawei's API reference ("Endpoints", 2025-02) documents it: a hint for messages
    # and docs only, never a reason to skip asking (documentation lags the cloud, and what a
    # region answers is the truth).
    documented: frozenset[str]


def _v5_page(job_type: str, filters: Filters, offset: int, step: int, page_size: int) -> PageAsk:
    """By offset, each page asking for ``page_size``."""
    query = (
        ("job_type", job_type),
        *filters,
        ("offset", str(offset)),
        ("limit", str(page_size)),  # a server that pages by less says so by answering less
        # Oldest first: a job created while we page lands on the last page instead of
        # shifting every page after it.
        ("sort_key", "create_time"),
        ("sort_dir", "asc"),
    )
    return PageAsk((offset, page_size), query)


def page_at(offset: int, step: int) -> tuple[int, int]:
    """The (page number from 1, page size) that starts at ``offset``, for an API that pages
    by number in units of the page size (v3): ``step`` when the offset is a multiple of it,
    else the largest size that divides both (a gap after a short page), never above step.
    """
    size = step if offset % step == 0 else math.gcd(offset, step)
    return offset // size + 1, size


def v3_body(job_type: str, filters: Filters, cur_page: int, per_page: int) -> dict[str, Any]:
    """The body of ``POST /v3/{project_id}/jobs``: the filters mapped into it."""
    body: dict[str, Any] = {"db_use_type": job_type, "cur_page": cur_page, "per_page": per_page}
    for name, value in filters:
        if name == "instance_ids":
            body.setdefault(name, []).append(value)
        else:
            body[name] = value
    return body


def _v3_page(job_type: str, filters: Filters, offset: int, step: int, page_size: int) -> PageAsk:
    """By page number in units of the page size, so every page after the first asks for the
    size the first one showed (at most MAX_PER_PAGE)."""
    cur_page, per_page = page_at(offset, min(step, page_size, MAX_PER_PAGE))
    body = json.dumps(v3_body(job_type, filters, cur_page, per_page)).encode()
    return PageAsk((cur_page, per_page), body=body)


V5_JOBS = ListApi(
    name="v5",
    api="v5_jobs",
    method="GET",
    path="/v5/{project_id}/jobs",
    total_key="total_count",
    ask=_v5_page,
    documented=frozenset({"cn-south-2", "cn-south-4"}),
)
V3_JOBS = ListApi(
    name="v3",
    api="v3_jobs",
    method="POST",
    path="/v3/{project_id}/jobs",
    total_key="total_record",
    ask=_v3_page,
    documented=frozenset(
        {
            "cn-north-1",
            "cn-north-2",
            "cn-north-4",
            "cn-north-9",
            "cn-east-2",
            "cn-east-3",
            "cn-south-1",
            "cn-south-2",
            "cn-southwest-2",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-southeast-3",
            "ap-southeast-4",
            "af-south-1",
            "la-south-2",
            "sa-brazil-1",
            "tr-west-1",
        }
    ),
)

# In the order a job both list keeps its record from: v5's first.
LIST_APIS: tuple[ListApi, ...] = (V5_JOBS, V3_JOBS)
BY_NAME: Mapping[str, ListApi] = {api.name: api for api in LIST_APIS}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def documented_apis(region: str) -> tuple[str, ...]:
    """The names of the list APIs Huawei documents in ``region``, in their order."""
    return tuple(api.name for api in LIST_APIS if region in api.documented)


def documented_hint(region: str) -> str:
    """What Huawei's documentation says of the region's list APIs, as a clause for a message."""
    apis = documented_apis(region)
    if not apis:
        return f"Huawei documents no DRS list API in {region}"
    return f"Huawei documents {' and '.join(apis)} in {region}"
