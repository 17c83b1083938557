"""What a DRS job is, to the exporter: the documented vocabulary, the records, a tolerant
parser.

``Job`` and ``JobHealth`` are msgspec structs rather than dataclasses: a 10,000-job tenant
builds 12,000 of them a cycle, and a struct is built in half the time and is never tracked
by the garbage collector (``gc=False``: they hold only strings and numbers).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

JOB_TYPES: tuple[str, ...] = ("migration", "sync", "cloudDataGuard")

# The two APIs that list jobs: v5 covers four engine families, v3 the others.
LIST_APIS: tuple[str, ...] = ("v5", "v3")
AUTO_APIS = "auto"  # targets[].apis: every list API the region publishes
# Each list API's name in drs_api_requests_total and drs_api_published.
LIST_API_NAMES: Mapping[str, str] = {"v5": "v5_jobs", "v3": "v3_jobs"}

# The 22 statuses of the DRS "Querying Tasks" API, in its order.
STATUSES: tuple[str, ...] = (
    "CREATING",
    "CREATE_FAILED",
    "CONFIGURATION",
    "STARTJOBING",
    "WAITING_FOR_START",
    "START_JOB_FAILED",
    "FULL_TRANSFER_STARTED",
    "FULL_TRANSFER_FAILED",
    "FULL_TRANSFER_COMPLETE",
    "INCRE_TRANSFER_STARTED",
    "INCRE_TRANSFER_FAILED",
    "RELEASE_RESOURCE_STARTED",
    "RELEASE_RESOURCE_FAILED",
    "RELEASE_RESOURCE_COMPLETE",
    "CHANGE_JOB_STARTED",
    "CHANGE_JOB_FAILED",
    "CHILD_TRANSFER_STARTING",
    "CHILD_TRANSFER_STARTED",
    "CHILD_TRANSFER_COMPLETE",
    "CHILD_TRANSFER_FAILED",
    "RELEASE_CHILD_TRANSFER_STARTED",
    "RELEASE_CHILD_TRANSFER_COMPLETE",
)
KNOWN_STATUSES = frozenset(STATUSES)

# Label values longer than this are cut: a hostile or broken API must not blow up a scrape.
MAX_LABEL_LENGTH = 256
# A failure reason as a label: one line of at most this many characters (SPEC 6).
MAX_ERROR_MESSAGE = 200


def is_failed(status: str) -> bool:
    """DRS calls a job failed when its status ends in ``_FAILED``."""
    return status.endswith("_FAILED")


class Job(msgspec.Struct, frozen=True, gc=False):
    """One DRS job or subtask, reduced to what the metrics need.

    Every text field is a string ("" when the API left it out or sent null);
    ``parent_id`` is "" for a top-level job and the parent's id for a subtask.
    """

    id: str
    name: str
    status: str
    engine_type: str
    net_type: str
    job_direction: str
    task_type: str
    job_mode: str
    job_mode_role: str
    charging_mode: str
    enterprise_project_id: str
    created: float | None  # Unix seconds from create_time, None when absent or unparsable
    parent_id: str = ""
    error_message: str = ""  # a v3 subtask's error_msg, one line (see one_line)

    @property
    def failed(self) -> bool:
        return is_failed(self.status)


class JobHealth(msgspec.Struct, frozen=True, gc=False):
    """What the batch calls said of a job (None: they did not say, or said no number).

    Figures are what the metrics export: ``progress`` as a ratio from 0 to 1, ``delay``,
    ``remaining``, ``rpo`` and ``rto`` in seconds, ``updated`` (the last progress update) in
    Unix seconds, rates per second, ``source_connected`` and ``target_connected`` 1 or 0,
    ``cpu`` as a ratio, memory and disk in bytes. A failed job's reason is ``error_code``
    and ``error_message`` (one line), "" when not given.
    """

    progress: float | None = None
    delay: float | None = None
    remaining: float | None = None
    updated: float | None = None
    error_code: str = ""
    error_message: str = ""
    rows_rate: float | None = None
    bytes_rate: float | None = None
    rpo: float | None = None
    rto: float | None = None
    source_connected: float | None = None
    target_connected: float | None = None
    cpu: float | None = None
    memory_used: float | None = None
    memory: float | None = None
    disk_used: float | None = None
    disk: float | None = None

    @property
    def has_reason(self) -> bool:
        return bool(self.error_code or self.error_message)


def label_value(value: Any) -> str:
    """A label value from whatever JSON gave us: null is "", numbers and bools as text."""
    if type(value) is str:  # by far the common case: one check, no conversion
        return value if len(value) <= MAX_LABEL_LENGTH else value[:MAX_LABEL_LENGTH]
    if value is None:
        return ""
    if isinstance(value, bool):
        s = "true" if value else "false"
    elif isinstance(value, (str, int, float)):
        s = str(value)
    else:
        return ""  # objects and lists are not label values
    return s if len(s) <= MAX_LABEL_LENGTH else s[:MAX_LABEL_LENGTH]


def one_line(value: Any, limit: int) -> str:
    """Server text on one line (every run of white space a single space), cut to ``limit``."""
    if value is None or isinstance(value, (dict, list)):
        return ""
    return " ".join(str(value).split())[:limit]


_EPOCH = re.compile(r"[0-9]{9,13}(\.[0-9]+)?")  # seconds or milliseconds since 1970


def parse_time(value: Any) -> float | None:
    """A DRS ``create_time`` or IAM ``expires_at`` as Unix seconds (UTC unless it says).

    Seen: ``2022-11-07T16:15:18Z``, ``2020-12-21 10:57:49``, ``2020-01-04T09:05:22.701000Z``;
    epoch milliseconds and seconds are accepted too, as numbers or as text (the v3 API may
    send ``"1667837718000"``). Anything else gives None, never raises.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        seconds = value / 1000.0 if value > 1e11 else float(value)
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    if not isinstance(value, str) or not value.strip():
        return None
    s = value.strip()
    if _EPOCH.fullmatch(s):
        return parse_time(float(s))
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        when = dt.datetime.fromisoformat(s)  # any one character may separate date and time
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.timestamp()


def _job(raw: Mapping[str, Any], parent_id: str) -> Job | None:
    job_id = label_value(raw.get("id"))
    if not job_id:
        return None  # a job without an id can be neither counted twice nor told apart
    return Job(
        id=job_id,
        name=label_value(raw.get("name")),
        status=label_value(raw.get("status")),
        engine_type=label_value(raw.get("engine_type")),
        net_type=label_value(raw.get("net_type")),
        job_direction=label_value(raw.get("job_direction")),
        task_type=label_value(raw.get("task_type")),
        job_mode=label_value(raw.get("job_mode")),
        job_mode_role=label_value(raw.get("job_mode_role")),
        charging_mode=label_value(raw.get("charging_mode")),
        enterprise_project_id=label_value(raw.get("enterprise_project_id")),
        created=parse_time(raw.get("create_time")),
        parent_id=parent_id,
        error_message=one_line(raw.get("error_msg"), MAX_ERROR_MESSAGE),
    )


def parse_jobs(items: Iterable[Any]) -> list[Job]:
    """Flatten API job objects and their ``children`` into Jobs, skipping what is not a job.

    Parents come before their children. Entries that are not objects or lack an id are
    dropped; duplicates are the caller's to remove with ``unique_jobs`` (they span pages).
    """
    jobs: list[Job] = []
    for raw in items:
        if not isinstance(raw, Mapping):
            continue
        job = _job(raw, "")
        if job is None:
            continue
        jobs.append(job)
        children = raw.get("children")
        if isinstance(children, list):
            for child_raw in children:
                if isinstance(child_raw, Mapping):
                    child = _job(child_raw, job.id)
                    if child is not None:
                        jobs.append(child)
    return jobs


def unique_jobs(jobs: Iterable[Job]) -> list[Job]:
    """Jobs with distinct ids, the first of each id kept, in their order.

    A job's id is its identity everywhere: the same id twice (on two pages, from two list
    APIs, or as a subtask of two parents) is one job, exported once.
    """
    seen: set[str] = set()
    unique: list[Job] = []
    for job in jobs:
        if job.id not in seen:
            seen.add(job.id)
            unique.append(job)
    return unique
