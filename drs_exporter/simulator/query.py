"""The query string of ``GET /v5/{project_id}/jobs``, parsed and checked as DRS does; the
job filter both listings share."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..model import JOB_TYPES, is_failed
from .jobs import SimJob

SORT_KEYS = ("name", "status", "create_time", "net_type", "job_direction", "pay_mode")
MAX_IDS = 10  # name and instance_ids take at most ten ids
DEFAULT_LIMIT = 10
_INTEGER = re.compile(r"-?[0-9]{1,12}")


class QueryError(ValueError):
    """A query parameter DRS would answer with 400."""


@dataclass(frozen=True)
class JobFilter:
    """Which jobs a listing selects and in what order; paging aside, so it can be cached.

    ``None`` (or an empty set) means the filter is not applied; DRS treats an empty
    parameter (``name=&status=``, as in its own examples) as absent. ``api`` is the listing
    (``v5`` or ``v3``): it lists only its own jobs, and names engines its own way.
    """

    api: str = "v5"

    names: tuple[str, ...] = ()
    statuses: frozenset[str] = frozenset()
    engine_type: str | None = None
    net_type: str | None = None
    enterprise_project_id: str | None = None
    instance_ids: frozenset[str] = frozenset()
    instance_ip: str | None = None
    sort_key: str = "create_time"
    sort_dir: str = "desc"


@dataclass(frozen=True)
class JobQuery:
    job_type: str
    filter: JobFilter
    offset: int = 0
    limit: int = DEFAULT_LIMIT


def parse_pairs(raw_query: str) -> list[tuple[str, str]]:
    """Split a raw query string into decoded pairs, keeping blanks and repeats.

    ``+`` stays a plus: signed requests encode a space as ``%20``, and the signature is
    computed over exactly these pairs.
    """
    pairs = []
    for part in raw_query.split("&"):
        if part:
            key, _, value = part.partition("=")
            pairs.append((urllib.parse.unquote(key), urllib.parse.unquote(value)))
    return pairs


def parse_job_query(pairs: Sequence[tuple[str, str]]) -> JobQuery:
    """Check the listing parameters; raise QueryError with DRS's kind of message."""
    single: dict[str, str] = {}
    instance_ids: list[str] = []
    for key, value in pairs:
        if key == "instance_ids":
            instance_ids.extend(v.strip() for v in value.split(",") if v.strip())
        else:
            single.setdefault(key, value)  # the first of a repeated parameter wins

    job_type = single.get("job_type", "")
    if job_type not in JOB_TYPES:
        raise QueryError("The parameter job_type is missing or invalid.")
    if len(instance_ids) > MAX_IDS:
        raise QueryError(f"At most {MAX_IDS} instance_ids are allowed.")

    sort_key = single.get("sort_key") or "create_time"
    if sort_key not in SORT_KEYS:
        raise QueryError("The parameter sort_key is invalid.")
    sort_dir = (single.get("sort_dir") or "desc").lower()
    if sort_dir not in ("asc", "desc"):
        raise QueryError("The parameter sort_dir is invalid.")

    job_filter = JobFilter(
        names=names(single.get("name", ""), MAX_IDS),
        statuses=statuses(single.get("status", "")),
        engine_type=single.get("engine_type") or None,
        net_type=single.get("net_type") or None,
        enterprise_project_id=single.get("enterprise_project_id") or None,
        instance_ids=frozenset(instance_ids),
        instance_ip=single.get("instance_ip") or None,
        sort_key=sort_key,
        sort_dir=sort_dir,
    )
    offset = _integer(single, "offset", 0, minimum=0)
    limit = _integer(single, "limit", DEFAULT_LIMIT, minimum=1)
    return JobQuery(job_type, job_filter, offset, limit)


def names(value: str, most: int) -> tuple[str, ...]:
    """The ids (or the one name) of a ``name`` filter; QueryError beyond ``most`` ids."""
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    if len(items) > most:
        raise QueryError(f"At most {most} task IDs are allowed in name.")
    return items


def statuses(value: str) -> frozenset[str]:
    """The statuses of a ``status`` filter: one, or several ``*_FAILED`` ones."""
    items = [v.strip() for v in value.split(",") if v.strip()]
    # Several statuses are allowed only to ask for all the failed ones at once.
    if len(items) > 1 and not all(is_failed(s) for s in items):
        raise QueryError("Only *_FAILED statuses may be combined in status.")
    return frozenset(items)


def _integer(single: dict[str, str], name: str, default: int, *, minimum: int) -> int:
    text = single.get(name, "").strip()
    if not text:
        return default
    if not _INTEGER.fullmatch(text):
        raise QueryError(f"The parameter {name} is invalid.")
    value = int(text)
    if value < minimum or value > 2**31 - 1:
        raise QueryError(f"The parameter {name} is invalid.")
    return value


def sort_value(job: SimJob, status: str, sort_key: str) -> Any:
    """What a job sorts by under ``sort_key``."""
    if sort_key == "create_time":
        return job.created
    if sort_key == "status":
        return status
    if sort_key == "pay_mode":
        return job.charging_mode
    value: str = getattr(job, sort_key)
    return value


def selects(f: JobFilter, job: SimJob, status: str) -> bool:
    """Whether the filter selects the job, whose status is ``status`` now."""
    if f.api not in job.apis:
        return False
    # One value may also be (part of) a name; several values are ids only.
    if f.names and job.id not in f.names and (len(f.names) > 1 or f.names[0] not in job.name):
        return False
    if f.statuses and status not in f.statuses:
        return False
    engine_type = job.engine_type if f.api == "v5" else job.v3_engine_type
    if f.engine_type is not None and engine_type != f.engine_type:
        return False
    if f.net_type is not None and job.net_type != f.net_type:
        return False
    if f.enterprise_project_id is not None and job.enterprise_project_id != (
        f.enterprise_project_id
    ):
        return False
    return job.selected_by_instance(f.instance_ids, f.instance_ip)
