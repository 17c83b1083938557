"""What a DRS job is, to the exporter: the documented vocabulary, the records and the
table of job fields, a tolerant parser.

``Job``, ``JobHealth`` and ``JobDetail`` are msgspec structs rather than dataclasses: a
large tenant builds one per job and subtask every cycle, and a struct is built faster than a
dataclass and is never tracked by the garbage collector (``gc=False``: they hold only
strings and numbers, and tuples of them).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, get_type_hints

import msgspec

JOB_TYPES: tuple[str, ...] = ("migration", "sync", "cloudDataGuard")

# The 22 statuses of the v5 "Querying Tasks" API, in its order: the ones that
# `metrics.dense_status` writes for every job.
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
# The statuses the v3 API documents beyond those 22 (its job listing and batch status query
# list 29): a paused job, fault recovery, a deleted job, a node upgrade.
V3_ONLY_STATUSES: tuple[str, ...] = (
    "PAUSING",
    "REBUILD_NODE_STARTED",
    "REBUILD_NODE_FAILED",
    "DELETED",
    "NODE_UPGRADE_START",
    "NODE_UPGRADE_COMPLETE",
    "NODE_UPGRADE_FAILED",
)
# Every documented status; any other is exported as it comes and logged once.
KNOWN_STATUSES = frozenset((*STATUSES, *V3_ONLY_STATUSES))

# Label values longer than this are cut: a hostile or broken API must not blow up a scrape.
MAX_LABEL_LENGTH = 256
# A failure reason as a label: one line of at most this many characters.
MAX_ERROR_MESSAGE = 200


def is_failed(status: str) -> bool:
    """DRS calls a job failed when its status ends in ``_FAILED``."""
    return status.endswith("_FAILED")


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


class JobDetail(msgspec.Struct, frozen=True, gc=False):
    """What batch-detail said of a top-level job (None: it did not say, or said no number):
    when its yearly/monthly subscription ends (Unix seconds) and whether it renews (1 or 0),
    the replication delay, RPO and RTO thresholds its owner set for the job's DRS alarms (in
    seconds), and the tags kept of it as (label name, value), sorted by name."""

    expires: float | None = None
    auto_renew: float | None = None
    alarm_delay: float | None = None
    alarm_rpo: float | None = None
    alarm_rto: float | None = None
    tags: tuple[tuple[str, str], ...] = ()


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
    if isinstance(value, str):  # the common case first: one check
        text = value.strip()
        # A date has a "-", so it is not asked to match _EPOCH (a cost on every job).
        if "-" not in text and _EPOCH.fullmatch(text):
            return parse_time(float(text))
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            when = dt.datetime.fromisoformat(text)  # any one character may separate date and time
        except ValueError:  # "" too
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        return when.timestamp()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    seconds = value / 1000.0 if value > 1e11 else float(value)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def few_value(value: Any) -> str:
    """``label_value``, one string for every job that has the value (``sys.intern``): the
    same few statuses and engines on every job then cost their memory once."""
    if type(value) is str and len(value) <= MAX_LABEL_LENGTH:  # the common case, one call
        return sys.intern(value)
    return sys.intern(label_value(value))


def error_line(value: Any) -> str:
    """A failure reason the API sent, as a label value: ``one_line`` cut to MAX_ERROR_MESSAGE."""
    return one_line(value, MAX_ERROR_MESSAGE)


_Text = str | None


@dataclass(frozen=True, slots=True)
class JobField:
    """Where one field of ``Job`` comes from and where it goes: one row of the table of job
    fields, which is ``Job`` itself (each field carries its row as ``Annotated`` metadata).
    Make rows with ``text``, ``few``, ``timestamp``, ``message`` and ``parent``."""

    key: str | None  # the key in an API job object; None: not read from it
    parse: Callable[[Any], Any]  # a JSON value (None when absent) to the field's value
    json_type: Any  # what the fast reader (msgspec) takes: other types go the tolerant way
    value_type: Any  # the type of the field in Job
    label: str | None = None  # the label of drs_job_info it feeds; None: none there


def text(key: str, label: str | None = None) -> JobField:
    """Text of many values (ids, names): ``label_value``."""
    return JobField(key, label_value, _Text, str, label)


def few(key: str, label: str | None = None) -> JobField:
    """Text of a few values shared by many jobs (statuses, engines): ``few_value``, interned."""
    return JobField(key, few_value, _Text, str, label)


def timestamp(key: str) -> JobField:
    """A point in time as Unix seconds, None when absent or unparsable: ``parse_time``."""
    return JobField(key, parse_time, str | int | float | None, float | None)


def message(key: str) -> JobField:
    """Server text on one line, cut short: ``error_line``."""
    return JobField(key, error_line, _Text, str)


def parent(label: str) -> JobField:
    """The parent's id, "" for a top-level job: from where the job sits, not from a key."""
    return JobField(None, label_value, None, str, label)


class Job(msgspec.Struct, frozen=True, gc=False):
    """One DRS job or subtask, reduced to what the metrics need: the table of job fields.

    A field's ``Annotated`` row says which key of the API's job object it is read from, how
    (see ``JobField``), and which label of drs_job_info it feeds. Both readers of a listing
    (``JOB_FROM_MAPPING``, ``JOB_FROM_STRUCT``), the fast reader's schema, drs_job_info's
    labels and the escaping of the samples follow from the rows: a new field is one line.
    """

    id: Annotated[str, text("id", label="job_id")]
    name: Annotated[str, text("name", label="name")] = ""
    status: Annotated[str, few("status")] = ""  # drs_job_status has it, drs_job_info not
    engine_type: Annotated[str, few("engine_type", label="engine_type")] = ""
    net_type: Annotated[str, few("net_type", label="net_type")] = ""
    job_direction: Annotated[str, few("job_direction", label="job_direction")] = ""
    task_type: Annotated[str, few("task_type", label="task_type")] = ""
    job_mode: Annotated[str, few("job_mode", label="job_mode")] = ""
    job_mode_role: Annotated[str, few("job_mode_role", label="job_mode_role")] = ""
    charging_mode: Annotated[str, few("charging_mode", label="charging_mode")] = ""
    enterprise_project_id: Annotated[
        str, few("enterprise_project_id", label="enterprise_project_id")
    ] = ""
    created: Annotated[float | None, timestamp("create_time")] = None
    parent_id: Annotated[str, parent(label="parent_job_id")] = ""
    error_message: Annotated[str, message("error_msg")] = ""  # a v3 subtask's error_msg

    @property
    def failed(self) -> bool:
        return is_failed(self.status)


def fields_of(record: type) -> dict[str, JobField]:
    """The rows of a record's fields by field name, in order; TypeError if a field has no row
    or another type than its row gives, or a key or label could not be written into code."""
    rows: dict[str, JobField] = {}
    for name, hint in get_type_hints(record, include_extras=True).items():
        row = next((m for m in getattr(hint, "__metadata__", ()) if isinstance(m, JobField)), None)
        if row is None:
            raise TypeError(f"{record.__name__}.{name} has no JobField row")
        if hint.__origin__ != row.value_type:
            raise TypeError(f"{record.__name__}.{name} is {hint.__origin__}, not {row.value_type}")
        for word in (row.key, row.label):  # both are written into the code of _reader, samples
            if word is not None and not (word.isidentifier() and word.isascii()):
                raise TypeError(f"{record.__name__}.{name}: {word!r} is not a plain name")
        rows[name] = row
    labels = [row.label for row in rows.values() if row.label is not None]
    if len(labels) != len(set(labels)):
        raise TypeError(f"{record.__name__}: two fields feed the same label")
    return rows


JOB_FIELDS: Mapping[str, JobField] = fields_of(Job)  # Job's fields by name, in Job's order
# drs_job_info's labels of a job, in order: (label name, Job field).
INFO_FIELDS: tuple[tuple[str, str], ...] = tuple(
    (row.label, name) for name, row in JOB_FIELDS.items() if row.label is not None
)
# The fields that are label values (escaped before they are written).
TEXT_FIELDS: tuple[str, ...] = tuple(n for n, row in JOB_FIELDS.items() if row.value_type is str)


def _reader(name: str, read: str) -> Callable[[Any, str], Job]:
    """A function ``(raw, parent_id) -> Job`` that builds a Job keyword by keyword from one
    API job object, each field parsed as its row says; ``read`` is the expression that reads
    a key of ``raw``, with ``{key}`` where the key goes.

    It is written out from JOB_FIELDS once, at import, rather than looping over the rows
    for each job: a listing has thousands of jobs, and the loop would cost more than the
    reading.
    """
    scope: dict[str, Any] = {"Job": Job}
    values = []
    for field, row in JOB_FIELDS.items():
        if row.key is None:
            values.append(f"        {field}=parent_id,")
        else:
            scope[f"parse_{field}"] = row.parse
            values.append(f"        {field}=parse_{field}({read.format(key=row.key)}),")
    source = "\n".join((f"def {name}(raw, parent_id):", "    return Job(", *values, "    )\n"))
    exec(compile(source, f"<{name}>", "exec"), scope)
    reader: Callable[[Any, str], Job] = scope[name]
    return reader


# A Job from a job object as json.loads gives it (any Mapping, any values) ...
JOB_FROM_MAPPING = _reader("job_from_mapping", "raw.get({key!r})")
# ... and from the struct the fast reader decodes it into (decode.py: a key an attribute).
JOB_FROM_STRUCT = _reader("job_from_struct", "raw.{key}")


def parse_jobs(items: Iterable[Any]) -> list[Job]:
    """Flatten API job objects and their ``children`` into Jobs, skipping what is not a job.

    Parents come before their children. Entries that are not objects or lack an id are
    dropped (a job without an id can be neither counted twice nor told apart); duplicates
    are the caller's to remove with ``unique_jobs`` (they span pages).
    """
    jobs: list[Job] = []
    for raw in items:
        if not isinstance(raw, Mapping):
            continue
        job = JOB_FROM_MAPPING(raw, "")
        if not job.id:
            continue
        jobs.append(job)
        children = raw.get("children")
        if isinstance(children, list):
            for child_raw in children:
                if isinstance(child_raw, Mapping):
                    child = JOB_FROM_MAPPING(child_raw, job.id)
                    if child.id:
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
