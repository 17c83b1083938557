"""How a simulated job's status moves over time: a seeded walk through DRS's life cycle.

A job's status is a pure function of (seed, job key, elapsed whole seconds): every random
draw comes from a hash of those, so the walk needs no random state and can be extended
lazily, one step at a time, only as far as someone asks.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass

_MASK = (1 << 64) - 1
MAX_STEPS = 2000  # a job that has walked this far stays where it is: bounds the work


def _mix(x: int) -> int:
    """splitmix64's finaliser: a cheap, well-spread 64-bit hash."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


@functools.lru_cache(maxsize=64)
def _seeded(seed: int) -> int:
    # A world draws with a few seeds (one per kind of draw) for thousands of draws each.
    return _mix(seed & _MASK)


def hash64(seed: int, key: int) -> int:
    """64 well-mixed bits determined by (seed, key) alone."""
    return _mix(_seeded(seed) ^ key)


def unit(seed: int, key: int, n: int) -> float:
    """A uniform draw in [0, 1) determined by (seed, key, n) alone."""
    return _mix(_mix(_seeded(seed) ^ key) ^ n) / 2.0**64


@dataclass(frozen=True)
class Step:
    """One status of the chain: mean stay (in status periods) and where it goes next.

    ``moves`` are (weight, next status); a next status of None means the job stays in this
    status for good (a failure nobody retries). No moves at all: a final status.
    """

    stay: float
    moves: tuple[tuple[float, str | None], ...] = ()


def _retry(to: str, chance: float) -> Step:
    # A failed job waits for its operator, who retries it or leaves it failed.
    return Step(10, ((chance, to), (1 - chance, None)))


# Top-level jobs. PAUSING and REBUILD_NODE_* are documented by the v3 API only, not among
# v5's 22 statuses: they exercise the statuses that have no dense_status line.
JOB_CHAIN: Mapping[str, Step] = {
    "CREATING": Step(1, ((0.93, "CONFIGURATION"), (0.07, "CREATE_FAILED"))),
    "CREATE_FAILED": _retry("CREATING", 0.3),
    "CONFIGURATION": Step(2, ((0.8, "STARTJOBING"), (0.2, "WAITING_FOR_START"))),
    "WAITING_FOR_START": Step(3, ((1, "STARTJOBING"),)),
    "STARTJOBING": Step(1, ((0.9, "FULL_TRANSFER_STARTED"), (0.1, "START_JOB_FAILED"))),
    "START_JOB_FAILED": _retry("STARTJOBING", 0.5),
    "FULL_TRANSFER_STARTED": Step(
        4, ((0.92, "FULL_TRANSFER_COMPLETE"), (0.08, "FULL_TRANSFER_FAILED"))
    ),
    "FULL_TRANSFER_FAILED": _retry("FULL_TRANSFER_STARTED", 0.5),
    "FULL_TRANSFER_COMPLETE": Step(1, ((1, "INCRE_TRANSFER_STARTED"),)),
    "INCRE_TRANSFER_STARTED": Step(
        20,
        (
            (0.5, "INCRE_TRANSFER_STARTED"),
            (0.1, "INCRE_TRANSFER_FAILED"),
            (0.2, "CHANGE_JOB_STARTED"),
            (0.15, "RELEASE_RESOURCE_STARTED"),
            (0.03, "PAUSING"),
            (0.02, "REBUILD_NODE_STARTED"),
        ),
    ),
    "INCRE_TRANSFER_FAILED": _retry("INCRE_TRANSFER_STARTED", 0.7),
    "CHANGE_JOB_STARTED": Step(1, ((0.9, "INCRE_TRANSFER_STARTED"), (0.1, "CHANGE_JOB_FAILED"))),
    "CHANGE_JOB_FAILED": _retry("INCRE_TRANSFER_STARTED", 0.6),
    "PAUSING": Step(2, ((1, "INCRE_TRANSFER_STARTED"),)),
    "REBUILD_NODE_STARTED": Step(
        2, ((0.8, "INCRE_TRANSFER_STARTED"), (0.2, "REBUILD_NODE_FAILED"))
    ),
    "REBUILD_NODE_FAILED": _retry("INCRE_TRANSFER_STARTED", 0.5),
    "RELEASE_RESOURCE_STARTED": Step(
        1, ((0.95, "RELEASE_RESOURCE_COMPLETE"), (0.05, "RELEASE_RESOURCE_FAILED"))
    ),
    "RELEASE_RESOURCE_FAILED": _retry("RELEASE_RESOURCE_STARTED", 0.5),
    "RELEASE_RESOURCE_COMPLETE": Step(1),
}

# A full-only task has no incremental phase: once the full transfer is done it is released.
FULL_ONLY_CHAIN: Mapping[str, Step] = {
    **JOB_CHAIN,
    "FULL_TRANSFER_COMPLETE": Step(10, ((0.5, "RELEASE_RESOURCE_STARTED"), (0.5, None))),
}

# An incremental-only task skips the full transfer.
INCR_ONLY_CHAIN: Mapping[str, Step] = {
    **JOB_CHAIN,
    "STARTJOBING": Step(1, ((0.9, "INCRE_TRANSFER_STARTED"), (0.1, "START_JOB_FAILED"))),
}

CHILD_CHAIN: Mapping[str, Step] = {
    "CHILD_TRANSFER_STARTING": Step(
        1, ((0.95, "CHILD_TRANSFER_STARTED"), (0.05, "CHILD_TRANSFER_FAILED"))
    ),
    "CHILD_TRANSFER_STARTED": Step(
        20,
        (
            (0.6, "CHILD_TRANSFER_STARTED"),
            (0.1, "CHILD_TRANSFER_FAILED"),
            (0.2, "CHILD_TRANSFER_COMPLETE"),
            (0.1, "RELEASE_CHILD_TRANSFER_STARTED"),
        ),
    ),
    "CHILD_TRANSFER_FAILED": _retry("CHILD_TRANSFER_STARTED", 0.6),
    "CHILD_TRANSFER_COMPLETE": Step(
        20, ((0.5, "CHILD_TRANSFER_COMPLETE"), (0.5, "RELEASE_CHILD_TRANSFER_STARTED"))
    ),
    "RELEASE_CHILD_TRANSFER_STARTED": Step(1, ((1, "RELEASE_CHILD_TRANSFER_COMPLETE"),)),
    "RELEASE_CHILD_TRANSFER_COMPLETE": Step(1),
}

CHAINS: Mapping[str, Mapping[str, Step]] = {
    "FULL_TRANS": FULL_ONLY_CHAIN,
    "FULL_INCR_TRANS": JOB_CHAIN,
    "INCR_TRANS": INCR_ONLY_CHAIN,
    "child": CHILD_CHAIN,
}

# Where jobs are when the world starts, as weights: most are replicating, some are on
# their way, some done, a few failed (so a demo shows a failure at once).
_START_WEIGHTS: Mapping[str, Mapping[str, float]] = {
    "FULL_INCR_TRANS": {
        "CREATING": 2,
        "CONFIGURATION": 4,
        "WAITING_FOR_START": 2,
        "STARTJOBING": 2,
        "FULL_TRANSFER_STARTED": 8,
        "FULL_TRANSFER_COMPLETE": 2,
        "INCRE_TRANSFER_STARTED": 55,
        "CHANGE_JOB_STARTED": 2,
        "RELEASE_RESOURCE_STARTED": 1,
        "RELEASE_RESOURCE_COMPLETE": 8,
        "CREATE_FAILED": 1,
        "START_JOB_FAILED": 1,
        "FULL_TRANSFER_FAILED": 2,
        "INCRE_TRANSFER_FAILED": 3,
        "CHANGE_JOB_FAILED": 0.5,
        "RELEASE_RESOURCE_FAILED": 0.5,
        "PAUSING": 0.5,
        "REBUILD_NODE_STARTED": 0.5,
    },
    "FULL_TRANS": {
        "CREATING": 2,
        "CONFIGURATION": 4,
        "STARTJOBING": 2,
        "FULL_TRANSFER_STARTED": 30,
        "FULL_TRANSFER_COMPLETE": 40,
        "RELEASE_RESOURCE_COMPLETE": 15,
        "FULL_TRANSFER_FAILED": 4,
        "CREATE_FAILED": 1,
        "START_JOB_FAILED": 2,
    },
    "INCR_TRANS": {
        "CONFIGURATION": 4,
        "WAITING_FOR_START": 3,
        "STARTJOBING": 3,
        "INCRE_TRANSFER_STARTED": 70,
        "CHANGE_JOB_STARTED": 2,
        "RELEASE_RESOURCE_COMPLETE": 8,
        "INCRE_TRANSFER_FAILED": 5,
        "START_JOB_FAILED": 1,
        "REBUILD_NODE_FAILED": 0.5,
    },
    "child": {
        "CHILD_TRANSFER_STARTING": 5,
        "CHILD_TRANSFER_STARTED": 70,
        "CHILD_TRANSFER_COMPLETE": 15,
        "CHILD_TRANSFER_FAILED": 5,
        "RELEASE_CHILD_TRANSFER_STARTED": 2,
        "RELEASE_CHILD_TRANSFER_COMPLETE": 3,
    },
}


@dataclass(frozen=True)
class Weighted:
    """Names with weights, to draw from with one uniform number (cheaply: bisect)."""

    names: tuple[str, ...]
    bounds: tuple[float, ...]  # cumulative share, the last one 1.0

    @classmethod
    def of(cls, weights: Mapping[str, float]) -> Weighted:
        total = sum(weights.values())
        bounds, acc = [], 0.0
        for weight in weights.values():
            acc += weight / total
            bounds.append(acc)
        bounds[-1] = 1.0
        return cls(tuple(weights), tuple(bounds))

    def pick(self, u: float) -> str:
        """The name that the uniform draw ``u`` in [0, 1) falls on."""
        return self.names[min(bisect.bisect_right(self.bounds, u), len(self.names) - 1)]


START: Mapping[str, Weighted] = {k: Weighted.of(v) for k, v in _START_WEIGHTS.items()}


def _choose(moves: tuple[tuple[float, str | None], ...], u: float) -> str | None:
    point = u * sum(weight for weight, _ in moves)
    for weight, status in moves:
        point -= weight
        if point < 0:
            return status
    return moves[-1][1]


class Timeline:
    """One job's status over elapsed whole seconds, computed on demand and remembered.

    ``period`` is the mean stay of a one-period status; 0 freezes the job in ``start``.
    """

    __slots__ = (
        "_chain",
        "_current",
        "_final",
        "_horizon",
        "_key",
        "_period",
        "_seed",
        "_starts",
        "_statuses",
        "_steps",
    )

    def __init__(
        self, seed: int, key: int, chain: Mapping[str, Step], start: str, period: float
    ) -> None:
        self._seed = seed
        self._key = key
        self._chain = chain
        self._period = period
        self._starts = [0]
        self._statuses = [start]
        self._current = start
        self._steps = 0
        self._final = period <= 0 or not chain[start].moves
        self._horizon = 0 if self._final else self._stay(start)

    def status_at(self, elapsed: int) -> str:
        """The status ``elapsed`` seconds after the world started (negative: the first)."""
        while not self._final and self._horizon <= elapsed:
            self._walk()
        statuses = self._statuses
        if len(statuses) == 1:  # a job that never moved (frozen worlds: every job)
            return statuses[0]
        return statuses[self._index(elapsed)]

    def stay_at(self, elapsed: int) -> tuple[str, int, int | None]:
        """The status at ``elapsed``, the second it was entered (0 for the status the world
        started in) and the second it ends as far as is known now (None: it never ends).

        A status that may follow itself (a job going on replicating) is extended step by
        step, so its known end moves later as time passes; its start never moves.
        """
        status = self.status_at(elapsed)
        i = self._index(elapsed)
        if i + 1 < len(self._starts):
            return status, self._starts[i], self._starts[i + 1]
        return status, self._starts[i], None if self._final else self._horizon

    def _index(self, elapsed: int) -> int:
        return max(0, bisect.bisect_right(self._starts, elapsed) - 1)

    def _stay(self, status: str) -> int:
        # Exponential stays, rounded up to whole seconds: the world ticks once a second.
        mean = self._chain[status].stay * self._period
        u = unit(self._seed, self._key, 2 * self._steps)
        return max(1, math.ceil(-mean * math.log1p(-u)))

    def _walk(self) -> None:
        self._steps += 1
        if self._steps >= MAX_STEPS:
            self._final = True
            return
        moves = self._chain[self._current].moves
        status = _choose(moves, unit(self._seed, self._key, 2 * self._steps + 1))
        if status is None:
            self._final = True
            return
        if status != self._current:
            self._starts.append(self._horizon)
            self._statuses.append(status)
            self._current = status
        if not self._chain[status].moves:
            self._final = True
            return
        self._horizon += self._stay(status)
