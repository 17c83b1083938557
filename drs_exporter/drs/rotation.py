"""Which jobs a batch call asked in rotation asks about this cycle, and what the others last
said.

DRS's DR monitoring data takes at most 10 job ids a request, and a tenant with hundreds of
DR jobs would spend most of its cycle's requests on it, for figures (connections, instance
CPU, memory and disk) that move slowly. Such a call is asked in rotation: at most
``poll.rotation_requests`` requests a target and cycle; when its jobs need more, each
cycle asks about those answered longest ago (never-answered and failed ones first), and a
job not asked this cycle keeps the result it last had while the call still wants it, for at
most ``keep_for`` seconds (the config's ``stale_after``: no older figure is shown as if
current, after an outage of the target for instance). A job whose request failed keeps
nothing: its series are left out until it is answered again. With few enough jobs every job
is asked every cycle, as for any other call.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from typing import Any

_NEVER = (-math.inf, None)  # the rank of a job never answered (or whose request failed)


class Rotation:
    """Per (target, call): when each wanted job was last answered, and its result.

    ``target`` is anything that names a polled target. Memory is bounded by the jobs the
    calls want now: a job that leaves the call's states, and a target no longer polled
    (``retain``), is forgotten.
    """

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._said: dict[tuple[Hashable, str], dict[str, tuple[float, Any]]] = {}

    def choose(self, target: Hashable, api: str, wanted: Sequence[str], most: int) -> list[str]:
        """The at most ``most`` ids of ``wanted`` to ask ``api`` about this cycle: those
        answered longest ago, in the order of ``wanted`` among equals."""
        if len(wanted) <= most:
            return list(wanted)
        said = self._said.get((target, api), {})
        return sorted(wanted, key=lambda job_id: said.get(job_id, _NEVER)[0])[:most]

    def record(
        self,
        target: Hashable,
        api: str,
        wanted: Sequence[str],
        asked: Collection[str],
        answered: Mapping[str, Any],
        keep_for: float,
    ) -> dict[str, Any]:
        """Note this cycle's answers; every wanted job's result, fresh or kept from when it
        was last answered, at most ``keep_for`` seconds ago (a job asked without an answer
        has none)."""
        key = (target, api)
        now = self._monotonic()
        before = self._said.get(key, {})
        asked_now = set(asked)
        after: dict[str, tuple[float, Any]] = {}
        for job_id in wanted:
            if job_id in answered:
                after[job_id] = (now, answered[job_id])
                continue
            kept = before.get(job_id)
            if kept is not None and job_id not in asked_now and now - kept[0] <= keep_for:
                after[job_id] = kept
        self._said[key] = after
        return {job_id: result for job_id, (_, result) in after.items()}

    def retain(self, targets: Collection[Hashable]) -> None:
        """Forget the targets no longer polled."""
        for key in [k for k in self._said if k[0] not in targets]:
            del self._said[key]
