"""The simulator's truth, as ``GET /_sim/summary`` tells it: how many jobs and subtasks are in
each status, over every job (each once) and per list API, and which API lists which job."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .engines import APIS

Counts = dict[str, dict[str, dict[str, int]]]  # project -> job type -> status -> n


def _count(counts: Counts, project_id: str, job_type: str, statuses: Iterable[str]) -> None:
    here = counts.setdefault(project_id, {}).setdefault(job_type, {})
    for status in statuses:
        here[status] = here.get(status, 0) + 1


def kind(apis: frozenset[str]) -> str:
    """``v5_only``, ``v3_only``, ``both`` or ``none``: which APIs list a job."""
    if len(apis) == len(APIS):
        return "both"
    return f"{next(iter(apis))}_only" if apis else "none"


class Summary:
    """Counts gathered one job at a time; every (project, job type) met is present, even
    when it holds no job."""

    def __init__(self) -> None:
        self.counts: Counts = {}
        self.subtasks: Counts = {}
        self.per_api: dict[str, dict[str, Counts]] = {
            api: {"counts": {}, "subtasks": {}} for api in APIS
        }
        self.ids: dict[str, dict[str, dict[str, list[str]]]] = {api: {} for api in APIS}
        self.kinds = dict.fromkeys(("v5_only", "v3_only", "both", "none"), 0)

    def bucket(self, project_id: str, job_type: str) -> None:
        """Make (project, job type) present everywhere."""
        for counts in (self.counts, self.subtasks, *self._api_counts()):
            counts.setdefault(project_id, {}).setdefault(job_type, {})
        for api in APIS:
            self.ids[api].setdefault(project_id, {}).setdefault(job_type, [])

    def job(
        self,
        project_id: str,
        job_type: str,
        job_id: str,
        status: str,
        subtasks: list[str],
        apis: frozenset[str],
    ) -> None:
        """Count one top-level job, the statuses of its subtasks, and the APIs listing it."""
        self.kinds[kind(apis)] += 1
        _count(self.counts, project_id, job_type, [status])
        _count(self.subtasks, project_id, job_type, subtasks)
        for api in apis:
            _count(self.per_api[api]["counts"], project_id, job_type, [status])
            _count(self.per_api[api]["subtasks"], project_id, job_type, subtasks)
            self.ids[api][project_id][job_type].append(job_id)

    def result(self, projects: list[str], ids: bool) -> dict[str, Any]:
        """The summary's JSON object; the ids each API lists only when asked for."""
        out: dict[str, Any] = {
            "projects": projects,
            "counts": self.counts,
            "subtasks": self.subtasks,
            "apis": self.per_api,
            "listed_by": self.kinds,
        }
        if ids:
            out["ids"] = self.ids
        return out

    def _api_counts(self) -> list[Counts]:
        return [c for per in self.per_api.values() for c in per.values()]
