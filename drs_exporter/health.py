"""Replication health from the v3 batch calls: progress and lag of transferring jobs, and
the failure reason of failed ones.

``POST /v3/{project_id}/jobs/batch-progress`` is asked for the jobs in a progress status,
``batch-status`` for the failed ones, at most ``batch_size`` ids a request, through the same
client (limits, retries, counting) as the listings. The answers are read defensively: a
figure that is missing or not a number gives no value (never a made-up 0), a result for an
id not asked for is ignored, and a failed or garbled answer leaves only its own jobs without
health. Nothing here can fail a poll.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Awaitable, Sequence
from typing import Any

from .auth import Authenticator
from .client import DrsClient
from .config import Target
from .decode import Progress, Status, read_progress, read_status
from .errors import ApiError
from .model import MAX_ERROR_MESSAGE, Job, JobHealth, is_failed, one_line, parse_time

log = logging.getLogger(__name__)

PROGRESS_API = "v3_batch_progress"  # how the calls are counted in drs_api_requests_total
STATUS_API = "v3_batch_status"
# The statuses in which a job has progress, remaining time and an update time (SPEC 6) ...
PROGRESS_STATUSES = frozenset(
    {"FULL_TRANSFER_STARTED", "INCRE_TRANSFER_STARTED", "CHILD_TRANSFER_STARTED"}
)
# ... and those in which it also has a replication delay.
DELAY_STATUSES = frozenset({"INCRE_TRANSFER_STARTED", "CHILD_TRANSFER_STARTED"})
MAX_PER_PAGE = 100  # batch-status pages its results; a batch never holds more ids than this


def needs_progress(job: Job) -> bool:
    return job.status in PROGRESS_STATUSES


def needs_status(job: Job) -> bool:
    return is_failed(job.status)


async def fetch_health(
    client: DrsClient,
    target: Target,
    auth: Authenticator,
    job_type: str,
    jobs: Sequence[Job],
    batch_size: int,
) -> dict[str, JobHealth]:
    """The health of every job (and subtask) that has some, by job id.

    Only jobs in the statuses SPEC 6 names are asked about. Failed requests are logged and
    leave their jobs out; a failed job without a batch-status answer keeps the reason its
    listing gave (a v3 subtask's ``error_msg``).
    """
    progress_ids = [job.id for job in jobs if needs_progress(job)]
    status_ids = [job.id for job in jobs if needs_status(job)]
    calls: list[Awaitable[dict[str, Progress] | dict[str, Status]]] = [
        *(_progress(client, target, auth, ids) for ids in _batches(progress_ids, batch_size)),
        *(_status(client, target, auth, ids) for ids in _batches(status_ids, batch_size)),
    ]
    progress: dict[str, Progress] = {}
    status: dict[str, Status] = {}
    failures: list[BaseException] = []
    for outcome in await asyncio.gather(*calls, return_exceptions=True):
        if isinstance(outcome, Exception):
            failures.append(outcome)
        elif isinstance(outcome, BaseException):
            raise outcome  # cancelled: the poll is being stopped
        else:
            for job_id, result in outcome.items():
                if isinstance(result, Progress):
                    progress[job_id] = result
                else:
                    status[job_id] = result
    if failures:
        _log_failures(target, job_type, failures, len(calls))
    health: dict[str, JobHealth] = {}
    for job in jobs:
        found = job_health(job, progress.get(job.id), status.get(job.id))
        if found is not None:
            health[job.id] = found
    return health


def job_health(job: Job, progress: Progress | None, status: Status | None) -> JobHealth | None:
    """What a job's batch results say of it, given its status; None when they say nothing."""
    if needs_progress(job) and progress is not None:
        found = JobHealth(
            progress=_ratio(progress.progress),
            delay=_delay(progress) if job.status in DELAY_STATUSES else None,
            remaining=_non_negative(progress.remaining_time),
            updated=_timestamp(progress.process_time),
        )
        figures = (found.progress, found.delay, found.remaining, found.updated)
        return found if any(f is not None for f in figures) else None
    if needs_status(job):
        code, message = "", ""
        if status is not None:
            code = one_line(status.error_code, 64)
            message = one_line(status.error_message, MAX_ERROR_MESSAGE)
        if not code and not message:
            message = job.error_message
        found = JobHealth(error_code=code, error_message=message)
        return found if found.has_reason else None
    return None


def figure(value: Any) -> float | None:
    """A number the API sent, as a number or as text ("12.5", "94%"); None for anything else
    ("", "-", "N/A", "null", true, NaN, objects)."""
    if type(value) is str:  # the usual case: a number as text, read in one go
        try:
            number = float(value)
        except ValueError:
            text = value.strip().removesuffix("%").strip()
            if not text or (text[-1].isalpha() and text.lower() not in ("inf", "nan")):
                return None
            try:
                number = float(text)
            except ValueError:
                return None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        return None
    return number if math.isfinite(number) else None


def _ratio(value: Any) -> float | None:
    percent = figure(value)
    return percent / 100.0 if percent is not None and 0.0 <= percent <= 100.0 else None


def _non_negative(value: Any) -> float | None:
    number = figure(value)
    return number if number is not None and number >= 0 else None


def _delay(result: Progress) -> float | None:
    millis = _non_negative(result.incre_trans_delay_millis)
    return millis / 1000.0 if millis is not None else _non_negative(result.incre_trans_delay)


def _timestamp(value: Any) -> float | None:
    # Unix milliseconds, by the SDK's documentation; parse_time also takes seconds.
    number = figure(value)
    return parse_time(number) if number is not None and number > 0 else None


def _batches(ids: Sequence[str], size: int) -> list[list[str]]:
    size = min(size, MAX_PER_PAGE)
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


async def _progress(
    client: DrsClient, target: Target, auth: Authenticator, ids: list[str]
) -> dict[str, Progress]:
    body = json.dumps({"jobs": ids}).encode()
    path = f"/v3/{target.project_id}/jobs/batch-progress"
    answer = await client.call(target, auth, PROGRESS_API, "POST", path, body=body)
    return read_progress(answer, ids, PROGRESS_API)


async def _status(
    client: DrsClient, target: Target, auth: Authenticator, ids: list[str]
) -> dict[str, Status]:
    page = {"cur_page": 1, "per_page": MAX_PER_PAGE}
    body = json.dumps({"jobs": ids, "page_req": page}).encode()
    path = f"/v3/{target.project_id}/jobs/batch-status"
    answer = await client.call(target, auth, STATUS_API, "POST", path, body=body)
    return read_status(answer, ids, STATUS_API)


def _log_failures(
    target: Target, job_type: str, failures: Sequence[BaseException], calls: int
) -> None:
    first = failures[0]
    what = str(first) if isinstance(first, ApiError) else f"unexpected {type(first).__name__}"
    log.warning(
        "health unknown for some jobs of project_id=%s region=%s job_type=%s this cycle: "
        "%d of %d batch requests failed, first: %s",
        target.project_id,
        target.region,
        job_type,
        len(failures),
        calls,
        what,
        exc_info=not isinstance(first, ApiError) and log.isEnabledFor(logging.DEBUG),
    )
