"""The simulator as tests run it: on a loopback port, with hooks that only tests need.

``Simulated`` starts the shipped simulator with two extras plugged into its extension
point: the request statistics (``sim_stats``, a middleware) and the scripted answers and
drifts (``sim_script``, the answer override). Tests drive them by method calls; what the
simulator offers everyone else (the world, ``/_sim/`` over HTTP) is there as usual.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from drs_exporter import simulator

from .sim_script import SCRIPTABLE_APIS, Scripted, ScriptError, check_drift, parse_answers
from .sim_stats import RequestStats

Clock = Callable[[], float]


class Simulated:
    """A running simulator with set answers, drift between pages and request statistics."""

    def __init__(
        self, running: simulator.RunningSimulator, requests: RequestStats, scripted: Scripted
    ) -> None:
        self.running = running
        self.requests = requests  # in flight now and at most, and each API call's arrival
        self._scripted = scripted

    @classmethod
    async def start(
        cls,
        options: simulator.SimulatorOptions,
        *,
        clock: Clock = time.time,
        monotonic: Clock = time.monotonic,
    ) -> Simulated:
        """Serve a simulator with ``options`` on a free loopback port until ``close()``.

        ``clock`` is the world's wall clock; ``monotonic`` stamps the API calls' arrivals.
        """
        requests = RequestStats(monotonic)
        scripted = Scripted(requests)
        running = await simulator.start(
            options, clock=clock, middlewares=[requests.middleware], override=scripted
        )
        return cls(running, requests, scripted)

    @property
    def url(self) -> str:
        return self.running.url

    @property
    def project_ids(self) -> list[str]:
        return self.running.project_ids

    @property
    def world(self) -> simulator.World:
        return self.running.world

    async def close(self) -> None:
        await self.running.close()

    def script(
        self, answers: Sequence[Mapping[str, Any]], project_id: str = "", api: str = "v5_jobs"
    ) -> int:
        """Replace the set answers the next calls to ``api`` (``v5_jobs``, ``v3_jobs``,
        ``v3_batch_progress``, ``v3_batch_status``) get, one each, in order, once they pass
        auth; then normal answers resume. Answers set left, over all projects and APIs.

        A request takes from its own project's script first, then from the one set without
        a project. A set answer replaces the fault draws' answers (latency still applies);
        ``sim_script.parse_answer`` says what an answer may hold.
        """
        if not isinstance(project_id, str):
            raise ScriptError("project_id: must be a string")
        if api not in SCRIPTABLE_APIS:
            raise ScriptError(f"api: must be one of {', '.join(SCRIPTABLE_APIS)}")
        self._scripted.script.replace(project_id, parse_answers(answers), api)
        return self.script_left

    @property
    def script_left(self) -> int:
        """Set answers not yet given, over all projects."""
        return self._scripted.script.left()

    def drift(
        self,
        project_id: str,
        job_type: str,
        *,
        add: Sequence[Mapping[str, Any]] = (),
        delete: Sequence[str] = (),
        api: str = "v5_jobs",
    ) -> int:
        """Jobs changing while a listing (``api``: ``v5_jobs`` or ``v3_jobs``) is paged;
        drifts left.

        Applied (deletions, then additions as ``POST /_sim/jobs`` adds them, listed by that
        API) just before the next listing request of that API, project and job type past
        the first page (v5: offset above 0; v3: cur_page above 1), once it passes auth;
        several drifts go one per such request, in order. Each id to delete must exist,
        and each given id to add must not, now.
        """
        drift = check_drift(project_id, job_type, add, delete, api)
        missing = [i for i in drift.delete if self.world.find(i) is None]
        if missing:
            raise ScriptError(f"delete: no such job: {missing[0]}")
        taken = [
            j["id"] for j in drift.add if isinstance(j.get("id"), str) and self.world.find(j["id"])
        ]
        if taken:
            raise ScriptError(f"add: a job with id {taken[0]} exists already")
        self._scripted.drifts.add(drift)
        return self.drifts_left

    @property
    def drifts_left(self) -> int:
        """Drifts not yet applied."""
        return self._scripted.drifts.left()

    async def wait_in_flight(self, n: int = 1, timeout: float = 20.0) -> None:
        """Until ``n`` API requests are being answered at once (bounded: a stuck client
        fails the test)."""
        try:
            await asyncio.wait_for(self.requests.reached(n), timeout)
        except asyncio.TimeoutError:
            pytest.fail(f"{n} requests were never in flight at once")
