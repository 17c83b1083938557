"""The simulated world: the jobs of every project, the clock they live by, and the answers of
each API about them (v5 and v3 listings, the batch calls, the quota).

A job's status is read off its Timeline at the world's elapsed whole seconds, so all
requests within one second agree and listings can be cached per second. Edits (pin a
status or a job's health, delete or add a job, move the clock) bump a version that
invalidates those caches. This file is long: it is the one place that holds the jobs, and
every answer about them reads them here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from ..model import JOB_TYPES, is_failed, label_value
from .bodies import Batch, V3Listing
from .detail import detail_result
from .dr import RELEASED_STATES, monitoring_result, objectives_result, quota_answer
from .engines import V3, V5, api_set
from .health import NO_PINS, HealthPins, Stay, change_pins, garble, progress_result
from .jobs import MISSING, SimJob, generate, raw_job, render
from .lifecycle import unit
from .options import SimulatorOptions
from .query import JobFilter, JobQuery, selects, sort_value
from .reasons import Reason, reason
from .summary import Summary
from .v3 import status_result, v3_child, v3_job

# What a job of a --compact world is listed with (and its children).
COMPACT_FIELDS = frozenset(
    {"id", "name", "status", "create_time", "engine_type", "net_type", "children"}
)


# What a listing says its total is, given the true one; None: it leaves the total out.
Told = Callable[[int], int | None]


def true_total(total: int) -> int | None:
    """A listing tells the truth."""
    return total


def _json_text(value: Any) -> str:
    """``value`` as compact JSON text: msgspec's, far faster than json.dumps, or json's for
    what msgspec refuses, such as integers beyond 64 bits. (msgspec writes NaN and the
    infinities as null, where json.dumps wrote its non-standard NaN: no answer the simulator
    makes holds one, though a job added as raw JSON could.)"""
    try:
        return msgspec.json.encode(value).decode()
    except (TypeError, OverflowError):
        return json.dumps(value, ensure_ascii=False)


def _results(results: list[Any]) -> str:
    """A batch call's answer: its results (records, or ``msgspec.Raw`` JSON text), counted."""
    return _json_text({"count": len(results), "results": results})


def _listing(total_key: str, total: int | None, jobs: str) -> str:
    said = "" if total is None else f'"{total_key}": {total}, '
    return f'{{{said}"jobs": [{jobs}]}}'


class World:
    """The jobs of every project, and the simulated clock they live by."""

    def __init__(self, options: SimulatorOptions, clock: Callable[[], float]) -> None:
        self._seed = options.seed
        self.published = frozenset(options.apis)  # the list APIs the region publishes now
        self._compact = options.compact
        self._clock = clock
        self._start = clock()
        self._offset = 0.0
        self._version = 0
        projects, jobs = generate(options, self._start)
        self._projects = projects
        self._next_key = sum(1 + len(j.children) for j in jobs)
        self._buckets: dict[tuple[str, str], list[str]] = {
            (p, t): [] for p in projects for t in JOB_TYPES
        }
        self._jobs: dict[str, SimJob] = {}
        self._parent: dict[str, str] = {}  # subtask id -> parent id
        for job in jobs:
            self._insert(job)
        self._pins: dict[str, tuple[str, int]] = {}  # job id -> (status, second pinned)
        self._health: dict[str, HealthPins] = {}
        self._status_cache: dict[tuple[str, str], tuple[tuple[int, int], dict[str, str]]] = {}
        self._match_cache: dict[tuple[str, str, JobFilter], list[SimJob]] = {}
        self._match_stamp = (-1, -1)
        self._json_cache: dict[tuple[str, str], tuple[tuple[Any, ...], str]] = {}
        self._json_version = 0

    # --- time ---

    def now(self) -> float:
        """Simulated Unix time: the clock plus every advance so far."""
        return self._clock() + self._offset

    def elapsed(self) -> int:
        """Whole seconds since the world started: the instant all statuses are read at."""
        return math.floor(self.now() - self._start)

    def advance(self, seconds: float) -> None:
        """Move simulated time forward (job statuses and issued token lifetimes)."""
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("seconds must be a non-negative number")
        self._offset += seconds

    # --- reading ---

    @property
    def project_ids(self) -> list[str]:
        return list(self._projects)

    def list_jobs(
        self, project_id: str, query: JobQuery, page_cap: int = 0, told: Told = true_total
    ) -> str:
        """The JSON body answering one v5 listing: total_count and the page's jobs.

        ``told`` is the total the answer says, of the true one (None: it says none).
        """
        limit = min(query.limit, page_cap) if page_cap > 0 else query.limit
        total, jobs = self._page(project_id, query.job_type, query.filter, query.offset, limit)
        return _listing("total_count", told(total), jobs)

    def list_jobs_v3(
        self, project_id: str, listing: V3Listing, page_cap: int = 0, told: Told = true_total
    ) -> str:
        """The JSON body answering one v3 listing: total_record and the page's jobs."""
        size = listing.per_page or 2**31
        limit = min(size, page_cap) if page_cap > 0 else size
        total, jobs = self._page(
            project_id, listing.job_type, listing.filter, listing.offset, limit
        )
        return _listing("total_record", told(total), jobs)

    def batch_progress(self, project_id: str, batch: Batch, garble_rate: float = 0.0) -> str:
        """The JSON body answering one batch-progress request (ids not in the project are
        left out); ``garble_rate`` of the results come garbled (health.GARBLES)."""
        elapsed = self.elapsed()
        results = []
        for job in self._batch_jobs(project_id, batch.ids):
            result = self._progress(job, elapsed)
            if garble_rate and unit(self._seed ^ 0x6A4B, job.key, elapsed) < garble_rate:
                result, twice = garble(result, self._seed, job.key, elapsed)
                results.extend([result] * twice)
            results.append(result)
        return _results(results)

    def batch_status(self, project_id: str, batch: Batch) -> str:
        """The JSON body answering one batch-status request: the page of the ids asked,
        those not in the project left out."""
        elapsed = self.elapsed()
        results = [
            self._status_result(j, elapsed) for j in self._batch_jobs(project_id, batch.page)
        ]
        return _results(results)

    def batch_detail(self, project_id: str, batch: Batch) -> str:
        """The JSON body answering one batch-detail request: the page of the ids asked,
        those not in the project left out."""
        elapsed = self.elapsed()
        jobs = self._batch_jobs(project_id, batch.page)
        return _results([msgspec.Raw(self._detail_json(j, elapsed)) for j in jobs])

    def batch_objectives(self, project_id: str, batch: Batch) -> str:
        """The JSON body answering one batch-rpo-and-rto request."""
        elapsed = self.elapsed()
        results = [self._objectives(j, elapsed) for j in self._batch_jobs(project_id, batch.ids)]
        return _results(results)

    def dr_monitoring(self, project_id: str, batch: Batch) -> str:
        """The JSON body answering one DR monitoring request."""
        elapsed = self.elapsed()
        results = [self._monitoring(j, elapsed) for j in self._batch_jobs(project_id, batch.ids)]
        return _results(results)

    def quota(self, project_id: str) -> str:
        """The JSON body answering the project's quota request."""
        elapsed = self.elapsed()
        ids = [i for t in JOB_TYPES for i in self._buckets.get((project_id, t), [])]
        released = (self._status_text(self._jobs[i], elapsed) in RELEASED_STATES for i in ids)
        return _json_text(quota_answer(len(ids) - sum(released), len(ids)))

    def detail(self, job_id: str) -> dict[str, Any] | None:
        """The batch-detail result of a job or subtask now, or None."""
        job = self._lookup(job_id)
        return None if job is None else self._detail(job, self.elapsed())

    def objectives(self, job_id: str) -> dict[str, Any] | None:
        """The batch-rpo-and-rto result of a job now, or None."""
        job = self._lookup(job_id)
        return None if job is None else self._objectives(job, self.elapsed())

    def monitoring(self, job_id: str) -> dict[str, Any] | None:
        """The DR monitoring result of a job now, or None."""
        job = self._lookup(job_id)
        return None if job is None else self._monitoring(job, self.elapsed())

    def jobs(self, project_id: str, job_type: str, api: str = V5) -> list[dict[str, Any]]:
        """Every top-level job object that ``api`` lists of one project and type, in its
        shape, in creation order."""
        elapsed = self.elapsed()
        ids = self._buckets.get((project_id, job_type), [])
        return [
            self._render(self._jobs[i], elapsed, api)
            for i in ids
            if api in self._listed_by(self._jobs[i])
        ]

    def find(self, job_id: str, api: str = V5) -> dict[str, Any] | None:
        """The job or subtask object with this id as ``api`` would show it now, or None."""
        job = self._lookup(job_id)
        return None if job is None else self._render(job, self.elapsed(), api)

    def progress(self, job_id: str) -> dict[str, Any] | None:
        """The batch-progress result of a job or subtask now (ungarbled), or None."""
        job = self._lookup(job_id)
        return None if job is None else self._progress(job, self.elapsed())

    def status(self, job_id: str) -> dict[str, Any] | None:
        """The batch-status result of a job or subtask now, or None."""
        job = self._lookup(job_id)
        return None if job is None else self._status_result(job, self.elapsed())

    def listed_by(self, job_id: str) -> frozenset[str]:
        """The list APIs that list this job or subtask (none for an unknown id)."""
        job = self._lookup(job_id)
        return frozenset() if job is None else self._listed_by(job)

    def summary(self, ids: bool = False) -> dict[str, Any]:
        """The truth as of now (see ``summary.Summary``); with ``ids``, the top-level ids
        each API lists."""
        elapsed = self.elapsed()
        summary = Summary()
        for (project_id, job_type), bucket in self._buckets.items():
            summary.bucket(project_id, job_type)
            for job_id in bucket:
                job = self._jobs[job_id]
                status = self._status_text(job, elapsed)
                subtasks = [self._status_text(c, elapsed) for c in job.children]
                apis = self._listed_by(job)
                summary.job(project_id, job_type, job_id, status, subtasks, apis)
        return summary.result(self.project_ids, ids)

    # --- test hooks ---

    def set_published(self, apis: Any) -> None:
        """Publish these list APIs from now on; the jobs stay, listed by what is published.
        ValueError unless ``apis`` is a non-empty list of API names."""
        self.published = api_set(apis)
        self._version += 1

    def set_status(self, job_id: str, status: str | None) -> bool:
        """Pin a job's or subtask's status (None: let it move again); False if unknown."""
        if self._lookup(job_id) is None:
            return False
        if status is None:
            self._pins.pop(job_id, None)
        else:
            self._pins[job_id] = (status, self.elapsed())
        self._version += 1
        return True

    def set_health(self, job_id: str, changes: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """Pin parts of a job's or subtask's health (see ``health.PIN_KEYS``; a null value
        unpins that part, ``changes`` None unpins all); the pins now, or None if unknown.

        ValueError names a bad key or value.
        """
        if self._lookup(job_id) is None:
            return None
        pins = NO_PINS
        if changes is not None:
            pins = change_pins(self._health.get(job_id, NO_PINS), dict(changes), self.elapsed())
        if pins.empty:
            self._health.pop(job_id, None)
        else:
            self._health[job_id] = pins
        self._version += 1
        return pins.public()

    def delete(self, job_id: str) -> bool:
        """Remove a job (with its subtasks) or a subtask; False if unknown."""
        if job_id in self._jobs:
            job = self._jobs.pop(job_id)
            self._buckets[(job.project_id, job.job_type)].remove(job_id)
            for child in job.children:
                del self._parent[child.id]
                self._pins.pop(child.id, None)
                self._health.pop(child.id, None)
        elif job_id in self._parent:
            parent = self._jobs[self._parent.pop(job_id)]
            children = tuple(c for c in parent.children if c.id != job_id)
            self._jobs[parent.id] = parent._replace(children=children)
        else:
            return False
        self._pins.pop(job_id, None)
        self._health.pop(job_id, None)
        self._version += 1
        return True

    def add_job(
        self, project_id: str, job_type: str, raw: Mapping[str, Any], apis: Any = (V5,)
    ) -> str:
        """Add a top-level job listed exactly as given (status included) by ``apis`` (v5,
        v3 or both); return its id.

        A missing id is generated; ValueError when the id or a subtask id is taken, or
        ``apis`` is not a non-empty list of API names.
        """
        if job_type not in JOB_TYPES:
            raise ValueError(f"job_type must be one of {', '.join(JOB_TYPES)}")
        listed = api_set(apis)
        raw_children = raw.get("children")
        children = tuple(
            raw_job(self._take_key(), project_id, job_type, c, (), listed)
            for c in (raw_children if isinstance(raw_children, list) else ())
            if isinstance(c, Mapping)
        )
        job = raw_job(self._take_key(), project_id, job_type, raw, children, listed)
        ids = [j.id for j in (job, *children)]
        if len(set(ids)) != len(ids) or any(self._lookup(i) is not None for i in ids):
            raise ValueError("a job with this id exists already")
        if project_id not in self._projects:
            self._projects.append(project_id)
            for t in JOB_TYPES:
                self._buckets[(project_id, t)] = []
        self._insert(job)
        self._version += 1
        return job.id

    # --- internals ---

    def _take_key(self) -> int:
        self._next_key += 1
        return self._next_key - 1

    def _insert(self, job: SimJob) -> None:
        self._jobs[job.id] = job
        self._buckets[(job.project_id, job.job_type)].append(job.id)
        for child in job.children:
            self._parent[child.id] = job.id

    def _lookup(self, job_id: str) -> SimJob | None:
        if job_id in self._jobs:
            return self._jobs[job_id]
        parent_id = self._parent.get(job_id)
        if parent_id is None:
            return None
        return next(c for c in self._jobs[parent_id].children if c.id == job_id)

    def _listed_by(self, job: SimJob) -> frozenset[str]:
        return job.apis & self.published

    def _status(self, job: SimJob, elapsed: int) -> Any:
        pinned = self._pins.get(job.id)
        if pinned is not None:
            return pinned[0]
        if job.timeline is not None:
            return job.timeline.status_at(elapsed)
        return job.fixed_status

    def _stay(self, job: SimJob, elapsed: int) -> Stay:
        pinned = self._pins.get(job.id)
        if pinned is not None:
            return Stay(pinned[0], pinned[1], None, head_start=True)
        if job.timeline is None:
            return Stay(self._status_text(job, elapsed), 0, None, head_start=True)
        status, since, until = job.timeline.stay_at(elapsed)
        return Stay(status, since, until, head_start=since == 0)

    def _reason(self, job: SimJob, status: str) -> Reason | None:
        return reason(self._seed, job.key, status) if is_failed(status) else None

    def _progress(self, job: SimJob, elapsed: int) -> dict[str, Any]:
        stay = self._stay(job, elapsed)
        pins = self._health.get(job.id, NO_PINS)
        failure = self._reason(job, stay.status)
        return progress_result(
            job.id, job.task_type, stay, elapsed, self._start, self._seed, job.key, failure, pins
        )

    def _objectives(self, job: SimJob, elapsed: int) -> dict[str, Any]:
        status = self._status_text(job, elapsed)
        return objectives_result(
            job.id, job.job_type, status, elapsed, self._start, self._seed, job.key
        )

    def _monitoring(self, job: SimJob, elapsed: int) -> dict[str, Any]:
        status = self._status_text(job, elapsed)
        return monitoring_result(job.id, job.job_type, status, elapsed, self._seed, job.key)

    def _status_result(self, job: SimJob, elapsed: int) -> dict[str, Any]:
        status = self._status(job, elapsed)
        text = "" if status is MISSING else label_value(status)
        code, message = self._reason(job, text) or ("", "")
        pins = self._health.get(job.id, NO_PINS)
        return status_result(
            job.id,
            None if status is MISSING else status,
            code if pins.error_code is None else pins.error_code,
            message if pins.error_message is None else pins.error_message,
        )

    def _detail(self, job: SimJob, elapsed: int) -> dict[str, Any]:
        return detail_result(
            self._render(job, elapsed),
            job_type=job.job_type,
            period=job.charging_mode == "period",
            seed=self._seed,
            key=job.key,
            start=self._start,
            created=job.created,
            parent_id=self._parent.get(job.id, ""),
            given=job.raw,
        )

    def _batch_jobs(self, project_id: str, ids: tuple[str, ...]) -> list[SimJob]:
        found = (self._lookup(i) for i in ids)
        return [j for j in found if j is not None and j.project_id == project_id]

    def _page(
        self, project_id: str, job_type: str, f: JobFilter, offset: int, limit: int
    ) -> tuple[int, str]:
        elapsed = self.elapsed()
        matched = self._matched(project_id, job_type, f, elapsed)
        page = matched[offset : offset + limit]
        return len(matched), ",".join(self._json(job, elapsed, f.api) for job in page)

    def _status_text(self, job: SimJob, elapsed: int) -> str:
        status = self._status(job, elapsed)
        return "" if status is MISSING else label_value(status)

    def _json(self, job: SimJob, elapsed: int, api: str) -> str:
        """The job as ``api`` lists it, as JSON text."""
        return self._cached_json(job, elapsed, api, lambda: self._render(job, elapsed, api))

    def _detail_json(self, job: SimJob, elapsed: int) -> str:
        """The job's batch-detail result, as JSON text."""
        return self._cached_json(job, elapsed, "detail", lambda: self._detail(job, elapsed))

    def _cached_json(
        self, job: SimJob, elapsed: int, kind: str, make: Callable[[], dict[str, Any]]
    ) -> str:
        # Rendering is most of an answer's cost, and a job's text (as listed, or its detail)
        # changes only with its own and its subtasks' statuses, or when the world is edited.
        if self._json_version != self._version:
            self._json_cache.clear()
            self._json_version = self._version
        key = (self._status(job, elapsed), *(self._status(c, elapsed) for c in job.children))
        cached = self._json_cache.get((kind, job.id))
        if cached is not None and cached[0] == key:
            return cached[1]
        text = _json_text(make())
        self._json_cache[(kind, job.id)] = (key, text)
        return text

    def _render(
        self, job: SimJob, elapsed: int, api: str = V5, child: bool = False
    ) -> dict[str, Any]:
        status = self._status(job, elapsed)
        if job.raw is not None:
            obj = dict(job.raw)
            if status is not MISSING:
                obj["status"] = status
        else:
            obj = render(job, self._seed, status)
            if api == V3 and child:
                failure = self._reason(job, self._status_text(job, elapsed))
                obj = v3_child(obj, job.v3_engine_type, "" if failure is None else failure[1])
            elif api == V3:
                obj = v3_job(obj, job.v3_engine_type)
        if self._compact and job.raw is None:
            obj = {k: v for k, v in obj.items() if k in COMPACT_FIELDS}
        if job.children:
            obj["children"] = [self._render(c, elapsed, api, child=True) for c in job.children]
        return obj

    def _bucket_statuses(self, project_id: str, job_type: str, elapsed: int) -> dict[str, str]:
        stamp = (elapsed, self._version)
        cached = self._status_cache.get((project_id, job_type))
        if cached is not None and cached[0] == stamp:
            return cached[1]
        ids = self._buckets.get((project_id, job_type), [])
        statuses = {i: self._status_text(self._jobs[i], elapsed) for i in ids}
        self._status_cache[(project_id, job_type)] = (stamp, statuses)
        return statuses

    def _matched(self, project_id: str, job_type: str, f: JobFilter, elapsed: int) -> list[SimJob]:
        stamp = (elapsed, self._version)
        if stamp != self._match_stamp:
            self._match_cache.clear()
            self._match_stamp = stamp
        key = (project_id, job_type, f)
        cached = self._match_cache.get(key)
        if cached is not None:
            return cached
        statuses = self._bucket_statuses(project_id, job_type, elapsed)
        selected = [(self._jobs[i], s) for i, s in statuses.items() if selects(f, self._jobs[i], s)]
        selected.sort(
            key=lambda js: (sort_value(js[0], js[1], f.sort_key), js[0].id),
            reverse=f.sort_dir == "desc",
        )
        matched = [job for job, _ in selected]
        self._match_cache[key] = matched
        return matched
