"""The JSON bodies of the v3 calls (list jobs, batch progress, batch status), checked as DRS does.

Field names and ranges are those of Huawei's SDK models (``QueryJobsReq``,
``BatchQueryProgressReq``, ``BatchQueryJobReqPage`` with its ``PageReq``). Numbers must be
JSON integers; a field of the wrong type, a missing ``db_use_type`` or ``jobs``, or a page
out of range raise QueryError, which the API answers with a DRS 400. Keys DRS knows but the
simulator does not filter on (``service_name``, ``tags``) and unknown keys are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..list_apis import MAX_PER_PAGE
from ..model import JOB_TYPES
from .engines import V3
from .query import MAX_IDS, JobFilter, QueryError, names, statuses

MAX_NAME_IDS = 100  # v3 takes up to 100 ids in name (v5: 10)
DEFAULT_PER_PAGE = 10  # the listing's default; batch-status pages by 5 unless told
DEFAULT_STATUS_PER_PAGE = 5


@dataclass(frozen=True)
class V3Listing:
    """One ``POST /v3/{project_id}/jobs``: which jobs, and which page of them.

    ``per_page`` 0 asks for every job at once (``cur_page`` then 0 or 1).
    """

    job_type: str
    filter: JobFilter
    cur_page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    @property
    def offset(self) -> int:
        """Pages count in units of ``per_page``, whatever the server's page cap."""
        return 0 if self.per_page == 0 else (max(1, self.cur_page) - 1) * self.per_page


@dataclass(frozen=True)
class Batch:
    """The job ids of a batch request, each once, in the order asked, and the page of the
    results wanted (batch-status only; ``per_page`` 0: all of them)."""

    ids: tuple[str, ...]
    cur_page: int = 1
    per_page: int = 0

    @property
    def page(self) -> tuple[str, ...]:
        """The ids whose results this request gets."""
        if self.per_page == 0:
            return self.ids
        offset = (max(1, self.cur_page) - 1) * self.per_page
        return self.ids[offset : offset + self.per_page]


def _object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise QueryError("The request body must be a JSON object.")
    return body


def _text(body: Mapping[str, Any], name: str) -> str:
    """A string field; "" when absent or null (DRS takes an empty filter as none)."""
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise QueryError(f"The parameter {name} is invalid.")
    return value.strip()


def _whole(body: Mapping[str, Any], name: str, default: int, top: int) -> int:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        raise QueryError(f"The parameter {name} is invalid.")
    return value


def _page(body: Mapping[str, Any], default_per_page: int) -> tuple[int, int]:
    cur_page = _whole(body, "cur_page", 1, 2**31 - 1)
    per_page = _whole(body, "per_page", default_per_page, MAX_PER_PAGE)
    if per_page == 0 and cur_page > 1:
        raise QueryError("The parameter cur_page must be 0 or 1 when per_page is 0.")
    return cur_page, per_page


def _strings(value: Any, name: str, most: int, joined: bool = False) -> tuple[str, ...]:
    if joined and isinstance(value, str):  # a comma-joined list, as some clients send it
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise QueryError(f"The parameter {name} must be an array of strings.")
    items = tuple(v.strip() for v in value if v.strip())
    if len(items) > most:
        raise QueryError(f"At most {most} {name} are allowed.")
    return items


def parse_listing(body: Any) -> V3Listing:
    """Check a v3 listing body; raise QueryError with DRS's kind of message."""
    body = _object(body)
    job_type = body.get("db_use_type")
    if job_type not in JOB_TYPES:
        raise QueryError("The parameter db_use_type is missing or invalid.")
    instance_ids = body.get("instance_ids")
    job_filter = JobFilter(
        api=V3,
        names=names(_text(body, "name"), MAX_NAME_IDS),
        statuses=statuses(_text(body, "status")),
        engine_type=_text(body, "engine_type") or None,
        net_type=_text(body, "net_type") or None,
        enterprise_project_id=_text(body, "enterprise_project_id") or None,
        instance_ids=frozenset(
            ()
            if instance_ids is None
            else _strings(instance_ids, "instance_ids", MAX_IDS, joined=True)
        ),
        instance_ip=_text(body, "instance_ip") or None,
    )
    cur_page, per_page = _page(body, DEFAULT_PER_PAGE)
    return V3Listing(str(job_type), job_filter, cur_page, per_page)


def parse_batch(body: Any, cap: int, *, paged: bool) -> Batch:
    """Check a batch body (``jobs``, and ``page_req`` when ``paged``); ``cap`` > 0 is the most
    ids one request may carry."""
    body = _object(body)
    if "jobs" not in body:
        raise QueryError("The parameter jobs is missing.")
    ids = _strings(body["jobs"], "jobs", 2**31)
    if not ids:
        raise QueryError("The parameter jobs must not be empty.")
    if cap and len(ids) > cap:
        raise QueryError(f"At most {cap} jobs can be queried in one request.")
    unique = tuple(dict.fromkeys(ids))
    if not paged:
        return Batch(unique)
    page_req = body.get("page_req") or {}
    if not isinstance(page_req, Mapping):
        raise QueryError("The parameter page_req is invalid.")
    cur_page, per_page = _page(page_req, DEFAULT_STATUS_PER_PAGE)
    if per_page and max(1, cur_page) > max(1, -(-len(unique) // per_page)):
        raise QueryError("The parameter cur_page exceeds the number of pages.")
    return Batch(unique, cur_page, per_page)
