"""The simulated world: the jobs of every project, the clock they live by, and listings.

A job's status is read off its Timeline at the world's elapsed whole seconds, so all
requests within one second agree and listings can be cached per second. Edits (pin a
status, delete or add a job, move the clock) bump a version that invalidates those caches.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from ..model import JOB_TYPES, label_value
from .jobs import MISSING, SimJob, generate, raw_job, render
from .options import SimulatorOptions
from .query import JobFilter, JobQuery


def _sort_value(job: SimJob, status: str, sort_key: str) -> Any:
    if sort_key == "create_time":
        return job.created
    if sort_key == "status":
        return status
    if sort_key == "pay_mode":
        return job.charging_mode
    value: str = getattr(job, sort_key)
    return value


def _selects(f: JobFilter, job: SimJob, status: str) -> bool:
    # One value may also be (part of) a name; several values are ids only.
    if f.names and job.id not in f.names and (len(f.names) > 1 or f.names[0] not in job.name):
        return False
    if f.statuses and status not in f.statuses:
        return False
    if f.engine_type is not None and job.engine_type != f.engine_type:
        return False
    if f.net_type is not None and job.net_type != f.net_type:
        return False
    if f.enterprise_project_id is not None and job.enterprise_project_id != (
        f.enterprise_project_id
    ):
        return False
    return job.selected_by_instance(f.instance_ids, f.instance_ip)


class World:
    """The jobs of every project, and the simulated clock they live by."""

    def __init__(self, options: SimulatorOptions, clock: Callable[[], float]) -> None:
        self._seed = options.seed
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
        self._pins: dict[str, str] = {}
        self._status_cache: dict[tuple[str, str], tuple[tuple[int, int], dict[str, str]]] = {}
        self._match_cache: dict[tuple[str, str, JobFilter], list[SimJob]] = {}
        self._match_stamp = (-1, -1)
        self._json_cache: dict[str, tuple[tuple[Any, ...], str]] = {}
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

    def list_jobs(self, project_id: str, query: JobQuery, page_cap: int = 0) -> str:
        """The JSON body answering one listing request: total_count and the page's jobs."""
        elapsed = self.elapsed()
        matched = self._matched(project_id, query.job_type, query.filter, elapsed)
        limit = min(query.limit, page_cap) if page_cap > 0 else query.limit
        page = matched[query.offset : query.offset + limit]
        jobs = ",".join(self._json(job, elapsed) for job in page)
        return f'{{"total_count": {len(matched)}, "jobs": [{jobs}]}}'

    def jobs(self, project_id: str, job_type: str) -> list[dict[str, Any]]:
        """Every top-level job object of one project and type, in creation order."""
        elapsed = self.elapsed()
        ids = self._buckets.get((project_id, job_type), [])
        return [self._render(self._jobs[i], elapsed) for i in ids]

    def find(self, job_id: str) -> dict[str, Any] | None:
        """The job or subtask object with this id as listed now, or None."""
        job = self._lookup(job_id)
        return None if job is None else self._render(job, self.elapsed())

    def summary(self) -> dict[str, Any]:
        """Counts by project, job type and status, of jobs and of subtasks, as of now."""
        elapsed = self.elapsed()
        counts: dict[str, dict[str, dict[str, int]]] = {}
        subtasks: dict[str, dict[str, dict[str, int]]] = {}
        for (project_id, job_type), ids in self._buckets.items():
            jobs_here = counts.setdefault(project_id, {}).setdefault(job_type, {})
            subs_here = subtasks.setdefault(project_id, {}).setdefault(job_type, {})
            for job_id in ids:
                job = self._jobs[job_id]
                status = self._status_text(job, elapsed)
                jobs_here[status] = jobs_here.get(status, 0) + 1
                for child in job.children:
                    status = self._status_text(child, elapsed)
                    subs_here[status] = subs_here.get(status, 0) + 1
        return {"projects": self.project_ids, "counts": counts, "subtasks": subtasks}

    # --- test hooks ---

    def set_status(self, job_id: str, status: str | None) -> bool:
        """Pin a job's or subtask's status (None: let it move again); False if unknown."""
        if self._lookup(job_id) is None:
            return False
        if status is None:
            self._pins.pop(job_id, None)
        else:
            self._pins[job_id] = status
        self._version += 1
        return True

    def delete(self, job_id: str) -> bool:
        """Remove a job (with its subtasks) or a subtask; False if unknown."""
        if job_id in self._jobs:
            job = self._jobs.pop(job_id)
            self._buckets[(job.project_id, job.job_type)].remove(job_id)
            for child in job.children:
                del self._parent[child.id]
                self._pins.pop(child.id, None)
        elif job_id in self._parent:
            parent = self._jobs[self._parent.pop(job_id)]
            children = tuple(c for c in parent.children if c.id != job_id)
            self._jobs[parent.id] = parent._replace(children=children)
        else:
            return False
        self._pins.pop(job_id, None)
        self._version += 1
        return True

    def add_job(self, project_id: str, job_type: str, raw: Mapping[str, Any]) -> str:
        """Add a top-level job listed exactly as given (status included); return its id.

        A missing id is generated; ValueError when the id or a subtask id is taken.
        """
        if job_type not in JOB_TYPES:
            raise ValueError(f"job_type must be one of {', '.join(JOB_TYPES)}")
        raw_children = raw.get("children")
        children = tuple(
            raw_job(self._take_key(), project_id, job_type, c, ())
            for c in (raw_children if isinstance(raw_children, list) else ())
            if isinstance(c, Mapping)
        )
        job = raw_job(self._take_key(), project_id, job_type, raw, children)
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

    def _status(self, job: SimJob, elapsed: int) -> Any:
        pinned = self._pins.get(job.id)
        if pinned is not None:
            return pinned
        if job.timeline is not None:
            return job.timeline.status_at(elapsed)
        return job.fixed_status

    def _status_text(self, job: SimJob, elapsed: int) -> str:
        status = self._status(job, elapsed)
        return "" if status is MISSING else label_value(status)

    def _json(self, job: SimJob, elapsed: int) -> str:
        # Rendering is most of a listing's cost, and a job's text changes only with its own
        # and its subtasks' statuses, or when the world is edited.
        if self._json_version != self._version:
            self._json_cache.clear()
            self._json_version = self._version
        key = (self._status(job, elapsed), *(self._status(c, elapsed) for c in job.children))
        cached = self._json_cache.get(job.id)
        if cached is not None and cached[0] == key:
            return cached[1]
        text = json.dumps(self._render(job, elapsed), ensure_ascii=False)
        self._json_cache[job.id] = (key, text)
        return text

    def _render(self, job: SimJob, elapsed: int) -> dict[str, Any]:
        status = self._status(job, elapsed)
        if job.raw is not None:
            obj = dict(job.raw)
            if status is not MISSING:
                obj["status"] = status
        else:
            obj = render(job, self._seed, status)
        if job.children:
            obj["children"] = [self._render(child, elapsed) for child in job.children]
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
        selected = [
            (self._jobs[i], s) for i, s in statuses.items() if _selects(f, self._jobs[i], s)
        ]
        selected.sort(
            key=lambda js: (_sort_value(js[0], js[1], f.sort_key), js[0].id),
            reverse=f.sort_dir == "desc",
        )
        matched = [job for job, _ in selected]
        self._match_cache[key] = matched
        return matched
