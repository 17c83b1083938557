"""What the v3 batch calls switched on say of a target's jobs: progress, lag and throughput,
failure reasons, recovery objectives, connections and instance capacity.

Each batch call switched on (``batch_calls.switched_on``) is asked about the jobs it wants,
as many ids a request as ``BatchSizes`` allows, through the same client (limits, retries,
counting) as the listings. A request refused with HTTP 400, or answered for fewer ids than
it carried when asking again about the missing ones at half the size brings some of them,
makes the size for that call and endpoint half as large, and the ids are asked again that
way. A call asked in rotation (DR monitoring: see ``rotation``) asks at most
``poll.rotation_requests`` requests' worth of its jobs a cycle, and the others keep what
they last said. Answers are read defensively (see ``batch_calls``), a result for an id not
asked for is ignored, and a failed or garbled answer leaves out only its own jobs' figures.
Nothing here can fail a poll.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from ..cloud.auth import Authenticator
from ..cloud.client import DrsClient
from ..config import PollConfig, Project
from ..errors import ApiError
from ..logs import Once
from ..model import Job, JobDetail, JobHealth, one_line
from .batch_calls import BATCH_DETAIL, BATCH_PROGRESS, BATCH_STATUS, BatchCall, tag_label
from .batch_sizes import BatchSizes
from .decode import Detail, Progress, Status
from .rotation import Rotation

log = logging.getLogger(__name__)

NOTHING = JobHealth()  # what a job the answers said nothing of has


@dataclass(frozen=True, slots=True)
class Asking:
    """One target's batch calls of one poll: who asks, for which job type, with which poll
    settings, and where the batch sizes are learned."""

    client: DrsClient
    project: Project
    auth: Authenticator
    job_type: str
    poll: PollConfig
    sizes: BatchSizes  # learned across polls

    @property
    def whose(self) -> tuple[str, str, str]:
        """The target, as the rotation and the log name it."""
        return (self.project.project_id, self.project.region, self.job_type)

    def size(self, call: BatchCall) -> int:
        """How many ids a request of ``call`` carries now."""
        largest = min(self.poll.batch_size, call.max_ids)
        return self.sizes.size(call.api, self.project.endpoint, largest)


async def fetch_health(
    asking: Asking,
    jobs: Sequence[Job],
    calls: Collection[BatchCall] = (),
    rotation: Rotation | None = None,
) -> dict[str, JobHealth]:
    """What the batch calls switched on (``calls``, as ``switched_on`` gives them) say of every
    job (and subtask), by job id; jobs they say nothing of are left out.

    Failed requests are logged and leave their jobs out; a failed job without a batch-status
    answer keeps the reason its listing gave (a v3 subtask's ``error_msg``). ``poll`` gives
    the batch size, the requests of a rotation's share and how long an answer in rotation is
    kept; ``rotation`` remembers, across cycles, what the calls asked in rotation last said
    (without it, they ask about every job each time).
    """
    poll, job_type, whose = asking.poll, asking.job_type, asking.whose
    statuses = {job.status for job in jobs}
    wanted = [
        (call, call.wanted_ids(job_type, jobs, statuses))
        for call in calls
        if not call.refreshed  # what they tell is a job's detail: see fetch_details
    ]
    asked = [
        (
            call,
            ids,
            _chosen(rotation, whose, call, ids, poll.rotation_requests * asking.size(call)),
        )
        for call, ids in wanted
        if ids or (rotation is not None and call.rotated)  # in rotation: to forget what left
    ]
    outcomes = await asyncio.gather(
        *(_ask(asking, call, chosen) for call, _, chosen in asked if chosen)
    )
    # Keyed by the job's own id: the answer's copy of it would otherwise live as long.
    by_id = {job.id: job for job in jobs}
    told: dict[str, dict[str, Any]] = {}  # JobHealth's values by job id, of every call
    failures: list[BaseException] = []
    requests = 0
    answers = iter(outcomes)
    for call, ids, chosen in asked:
        answered, failed, sent = next(answers) if chosen else ({}, [], 0)
        failures.extend(failed)
        requests += sent
        tell = call.tell
        said = {
            job.id: tell(job, result)
            for job_id, result in answered.items()
            if (job := by_id.get(job_id)) is not None
        }
        if rotation is not None and call.rotated:
            # With what the jobs not asked this cycle were told when they last were.
            said = rotation.record(whose, call.api, ids, chosen, said, poll.stale_after)
        for job_id, values in said.items():
            earlier = told.get(job_id)
            told[job_id] = values if earlier is None else {**earlier, **values}
    if failures:
        _log_failures(asking, failures, requests)
    health = {job_id: JobHealth(**values) for job_id, values in told.items()}
    if BATCH_STATUS in calls:
        for job in jobs:
            if job.error_message and job.failed:
                before = health.get(job.id)
                if before is None or not before.has_reason:
                    health[job.id] = msgspec.structs.replace(
                        before or NOTHING, error_message=job.error_message
                    )
    return {job_id: h for job_id, h in health.items() if h != NOTHING}


async def fetch_details(
    asking: Asking,
    jobs: Sequence[Job],
    rotation: Rotation,
    said: Once,
    tag_keys: Collection[str] = (),
) -> dict[str, JobDetail]:
    """What batch-detail says of the target's top-level jobs, by job id: asked of each job
    when first seen and then once per ``poll.detail_interval`` (``rotation`` remembers the
    rest), jobs it said nothing of left out. Only the tags whose keys ``tag_keys`` names
    (``*``: every one) are kept, as labels (``batch_calls.tag_label``); what is odd (a time
    that cannot be read, two keys that make one label) is logged once (``said``)."""
    poll, whose = asking.poll, asking.whose
    ids = BATCH_DETAIL.wanted_ids(asking.job_type, jobs)
    chosen = rotation.due(
        whose, BATCH_DETAIL.api, ids, poll.detail_interval, asking.size(BATCH_DETAIL)
    )
    answered, failed, sent = await _ask(asking, BATCH_DETAIL, chosen) if chosen else ({}, [], 0)
    if failed:
        _log_failures(asking, failed, sent)
    by_id = {job.id: job for job in jobs} if answered else {}  # none in most polls
    told = {
        job_id: _detail(by_id[job_id], result, tag_keys, whose, said)
        for job_id, result in answered.items()
        if job_id in by_id
    }
    kept = rotation.record(
        whose,
        BATCH_DETAIL.api,
        ids,
        chosen,
        told,
        poll.detail_interval + poll.stale_after,
        refreshed=True,
    )
    return {job_id: detail for job_id, detail in kept.items() if detail != NO_DETAIL}


def _detail(
    job: Job, result: Detail, tag_keys: Collection[str], whose: tuple[str, str, str], said: Once
) -> JobDetail:
    """What a batch-detail result tells of a job, with the tags ``tag_keys`` allows as labels
    (the first of two keys that make the same label kept)."""
    values = BATCH_DETAIL.tell(job, result)
    sent = None if result.period_order is None else result.period_order.exp_time
    unread = values["expires"] is None and sent not in (None, "")
    # Said once, whatever the value: an unknown form would differ in every job's value.
    if unread and said.first("exp_time"):
        log.warning(
            "job %s: batch-detail's exp_time %r is not a time DRS is known to send (ISO "
            "8601, yyyy-MM-dd HH:mm:ss, Unix seconds or milliseconds); no expiry series "
            "for it, nor for any other job whose exp_time cannot be read (said only once)",
            job.id,
            one_line(str(sent), 64),
        )
    every = "*" in tag_keys
    labels: dict[str, str] = {}
    for key, value in values.pop("tags") if tag_keys else ():
        if not (every or key in tag_keys):
            continue
        label = tag_label(key)
        if label not in labels:
            labels[label] = value
        elif said.first(("tag", whose, label)):
            log.warning(
                "tags of project_id=%s region=%s job_type=%s: two tag keys make the label "
                "%s; the first is kept, %r is left out",
                *whose,
                label,
                key,
            )
    values["tags"] = tuple(sorted(labels.items()))
    detail = JobDetail(**values)
    return NO_DETAIL if detail == NO_DETAIL else detail  # one object for every job told nothing


NO_DETAIL = JobDetail()  # what a job batch-detail said nothing of has


def job_health(job: Job, progress: Progress | None, status: Status | None) -> JobHealth | None:
    """What a batch-progress and a batch-status result say of a job; None when nothing."""
    values: dict[str, Any] = {}
    if progress is not None and BATCH_PROGRESS.wanted("", job):
        values.update(BATCH_PROGRESS.tell(job, progress))
    if BATCH_STATUS.wanted("", job):
        if status is not None:
            values.update(BATCH_STATUS.tell(job, status))
        if not (values.get("error_code") or values.get("error_message")):
            values["error_message"] = job.error_message
    return _health(values)


def _health(values: dict[str, Any]) -> JobHealth | None:
    if not any(v is not None and v != "" for v in values.values()):
        return None
    return JobHealth(**{k: v for k, v in values.items() if v is not None})


def batches(ids: Sequence[str], size: int) -> list[list[str]]:
    """``ids`` in order, ``size`` at a time."""
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


# (results by job id, failures, requests sent)
_Outcome = tuple[dict[str, Any], list[BaseException], int]


def _chosen(
    rotation: Rotation | None, whose: tuple[str, ...], call: BatchCall, ids: list[str], most: int
) -> list[str]:
    """The ids asked this cycle: all of them, or the share of a call asked in rotation."""
    return (
        rotation.choose(whose, call.api, ids, most)
        if rotation is not None and call.rotated
        else ids
    )


async def _ask(asking: Asking, call: BatchCall, ids: Sequence[str]) -> _Outcome:
    return await _ask_in(asking, call, ids, asking.size(call), short_again=True)


async def _ask_in(
    asking: Asking, call: BatchCall, ids: Sequence[str], size: int, short_again: bool
) -> _Outcome:
    outcomes = await asyncio.gather(
        *(_ask_one(asking, call, chunk, short_again) for chunk in batches(ids, size))
    )
    results: dict[str, Any] = {}
    failures: list[BaseException] = []
    sent = 0
    for found, failed, requests in outcomes:
        results.update(found)
        failures.extend(failed)
        sent += requests
    return results, failures, sent


async def _ask_one(asking: Asking, call: BatchCall, ids: list[str], short_again: bool) -> _Outcome:
    project = asking.project
    path = call.route.format(project_id=project.project_id)
    try:
        answer = await asking.client.call(
            project, asking.auth, call.api, "POST", path, body=call.body(ids)
        )
        results = dict(call.read(answer, ids, call.api))
    except ApiError as exc:
        if exc.status == 400 and len(ids) > 1:
            smaller = asking.sizes.too_large(call.api, project.endpoint, len(ids))
            log.info(
                "%s refused %d ids in one request (HTTP 400): asking %d at a time",
                call.api,
                len(ids),
                smaller,
            )
            found, failed, sent = await _ask_in(asking, call, ids, smaller, short_again)
            return found, failed, sent + 1
        return {}, [exc], 1
    except Exception as exc:  # a bug reading one answer must not cost the other calls
        return {}, [exc], 1
    missing = [i for i in ids if i not in results]
    if not (short_again and results and missing and len(ids) > 1):
        return results, [], 1
    # A short answer: a server that takes fewer ids than sent, or ids it does not know.
    # Asking again about the missing ones at half the size tells which.
    half = max(1, len(ids) // 2)
    again, failed, sent = await _ask_in(asking, call, missing, half, short_again=False)
    if again:
        smaller = asking.sizes.too_large(call.api, project.endpoint, len(ids))
        log.info(
            "%s answered %d of %d ids: asking %d at a time",
            call.api,
            len(results),
            len(ids),
            smaller,
        )
        rest = [i for i in missing if i not in again]
        if rest and len(rest) < len(missing):
            more, failed_more, sent_more = await _ask_in(
                asking, call, rest, max(1, half // 2), True
            )
            again.update(more)
            failed += failed_more
            sent += sent_more
    results.update(again)
    return results, failed, sent + 1


def _log_failures(asking: Asking, failures: Sequence[BaseException], requests: int) -> None:
    first = failures[0]
    what = str(first) if isinstance(first, ApiError) else f"unexpected {type(first).__name__}"
    log.warning(
        "batch figures unknown for some jobs of project_id=%s region=%s job_type=%s this "
        "cycle: %d of %d batch requests failed, first: %s",
        *asking.whose,
        len(failures),
        requests,
        what,
        exc_info=not isinstance(first, ApiError) and log.isEnabledFor(logging.DEBUG),
    )
