"""Which jobs a batch call that is asked in turns asks about this cycle, and what the others
last said.

DRS's DR monitoring data takes at most 10 job ids a request, and a tenant with hundreds of
DR jobs would spend most of its cycle's requests on it, for figures (connections, instance
CPU, memory and disk) that move slowly. Such a call gets at most ``poll.dr_monitoring_requests``
requests a target and cycle: when its jobs need more, each cycle asks about those asked
longest ago (never-asked and failed ones first), and a job not asked this cycle keeps the
result it last had, for as long as the call still wants it. A job whose request failed
keeps nothing: its series are left out until it is answered again, never shown stale as if
fresh. With few enough jobs every job is asked every cycle, as for any other call.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping, Sequence
from typing import Any

_NEVER = (-1, None)  # the rank of a job never answered (or whose last request failed)


class Turns:
    """Per (target, call): the cycle each wanted job was last answered in, and its result.

    ``target`` is anything that names a polled target. Memory is bounded by the jobs the
    calls want now: a job that leaves the call's states, and a target no longer polled
    (``retain``), is forgotten.
    """

    def __init__(self) -> None:
        self._cycles: dict[tuple[Hashable, str], int] = {}
        self._said: dict[tuple[Hashable, str], dict[str, tuple[int, Any]]] = {}

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
    ) -> dict[str, Any]:
        """Note this cycle's answers; every wanted job's result, fresh or kept from the
        cycle it was last answered in (a job asked without an answer has none)."""
        key = (target, api)
        cycle = self._cycles.get(key, 0) + 1
        self._cycles[key] = cycle
        before = self._said.get(key, {})
        asked_now = set(asked)
        after: dict[str, tuple[int, Any]] = {}
        for job_id in wanted:
            if job_id in answered:
                after[job_id] = (cycle, answered[job_id])
            elif job_id not in asked_now and job_id in before:
                after[job_id] = before[job_id]
        self._said[key] = after
        return {job_id: result for job_id, (_, result) in after.items()}

    def retain(self, targets: Collection[Hashable]) -> None:
        """Forget the targets no longer polled."""
        for key in [k for k in self._said if k[0] not in targets]:
            del self._said[key]
            self._cycles.pop(key, None)
