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

A call whose answers change rarely (batch-detail: a job's subscription, alarm thresholds and
tags) is refreshed instead (``due``): each job is asked when first seen, then once its
answer is older than ``poll.detail_interval``, in whole requests that the time since the
last poll earns, each target at a phase of its own, so that a steady poll asks little. A
job keeps its last answer while it waits for its turn, and for ``keep_for`` when its
request fails; a job asked in vain rests a twelfth of the interval before it is asked
again, so a region that does not answer the call costs little.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from typing import Any

_NEVER = (-math.inf, None)  # the rank of a job never answered (or whose request failed)
RETRIES = 12  # a refreshed call's job asked in vain is asked again after refresh / RETRIES


def _phase(key: Hashable) -> float:
    """A number in [0, 1) of ``key``'s own, the same in every process."""
    return zlib.crc32(repr(key).encode()) / 2**32


class Rotation:
    """Per (target, call): when each wanted job was last answered, and its result.

    ``target`` is anything that names a polled target. Memory is bounded by the jobs the
    calls want now: a job that leaves the call's states, and a target no longer polled
    (``retain``), is forgotten.
    """

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._said: dict[tuple[Hashable, str], dict[str, tuple[float, Any]]] = {}
        self._recorded: dict[tuple[Hashable, str], float] = {}  # when each last recorded
        # Jobs earned by the time since the last poll, less those asked (``due``).
        self._credit: dict[tuple[Hashable, str], float] = {}
        # When each job of a refreshed call was last asked in vain.
        self._tried: dict[tuple[Hashable, str], dict[str, float]] = {}

    def choose(self, target: Hashable, api: str, wanted: Sequence[str], most: int) -> list[str]:
        """The at most ``most`` ids of ``wanted`` to ask ``api`` about this cycle: those
        answered longest ago, in the order of ``wanted`` among equals."""
        if len(wanted) <= most:
            return list(wanted)
        said = self._said.get((target, api), {})
        return sorted(wanted, key=lambda job_id: said.get(job_id, _NEVER)[0])[:most]

    def due(
        self, target: Hashable, api: str, wanted: Sequence[str], refresh: float, size: int
    ) -> list[str]:
        """The ids of ``wanted`` to ask ``api`` about this poll, for a call whose answers
        stand ``refresh`` seconds and whose requests carry ``size`` ids: every one never
        answered, and of those answered longer ago, the oldest first, in whole requests, as
        the time since the last poll earns them (so that over ``refresh`` each is asked about
        once, a request now and then rather than a few ids every poll)."""
        key = (target, api)
        said = self._said.get(key, {})
        now = self._monotonic()
        # A job asked in vain waits a twelfth of ``refresh`` before it is asked again: a region
        # where the call keeps failing costs a share of its jobs, not all of them every poll.
        tried = self._tried.get(key, {})
        resting = {job_id for job_id, at in tried.items() if now - at < refresh / RETRIES}
        new = [job_id for job_id in wanted if job_id not in said and job_id not in resting]
        last = self._recorded.get(key)
        if last is None:
            # A phase of its own, so that the targets' requests come at different polls.
            self._credit[key] = -min(size, len(wanted)) * _phase(key) / 2
            return new
        old = [
            job_id
            for job_id in wanted
            if job_id in said and job_id not in resting and now - said[job_id][0] >= refresh
        ]
        if not old:
            return new  # nothing is due: no credit is earned (it would come due all at once)
        credit = self._credit.get(key, 0.0) + len(wanted) * max(0.0, now - last) / refresh
        asked = 0 if credit <= 0 else min(len(old), math.ceil(credit / size) * size)
        self._credit[key] = credit - asked
        return new + sorted(old, key=lambda job_id: said[job_id][0])[:asked]

    def record(
        self,
        target: Hashable,
        api: str,
        wanted: Sequence[str],
        asked: Collection[str],
        answered: Mapping[str, Any],
        keep_for: float,
        refreshed: bool = False,
    ) -> dict[str, Any]:
        """Note this poll's answers; every wanted job's result, fresh or kept from when it
        was last answered, at most ``keep_for`` seconds ago. A job asked without an answer
        has none, but for a ``refreshed`` call (see ``due``), whose jobs not asked keep
        theirs whatever its age, and whose jobs asked without an answer keep it until
        ``keep_for``."""
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
            if kept is None:
                continue
            fresh = now - kept[0] <= keep_for
            if (fresh and refreshed) if job_id in asked_now else (fresh or refreshed):
                after[job_id] = kept
        self._said[key] = after
        self._recorded[key] = now
        if refreshed:
            before_tried = self._tried.get(key, {})
            wanted_now = set(wanted)
            self._tried[key] = {
                **{j: at for j, at in before_tried.items() if j in wanted_now},
                **{j: now for j in asked_now if j not in answered},
            }
        return {job_id: result for job_id, (_, result) in after.items()}

    def retain(self, targets: Collection[Hashable]) -> None:
        """Forget the targets no longer polled."""
        for key in [k for k in self._said if k[0] not in targets]:
            del self._said[key]
            self._recorded.pop(key, None)
            self._credit.pop(key, None)
            self._tried.pop(key, None)
