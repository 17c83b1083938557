"""What the poller is told to poll, and how: the plan built from a config, and the clock.

``exporter`` builds a ``Plan`` for each config (and each change of the discovered targets);
the poller polls what it says until it is given another.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..cloud.auth import Authenticator
from ..cloud.client import DrsClient
from ..config import MetricsConfig, PollConfig, Project
from ..drs.batch_calls import BatchCall, switched_on
from ..list_apis import V3_JOBS
from .sharding import Shard
from .snapshot import TargetKey


@dataclass(frozen=True, slots=True)
class Clock:
    """Wall time for what is exported, monotonic time for intervals and staleness."""

    wall: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic


@dataclass(frozen=True, slots=True)
class PollTarget:
    key: TargetKey
    project: Project
    auth: Authenticator


@dataclass(frozen=True, slots=True)
class Plan:
    """What to poll and how: everything the poller takes from a config.

    ``targets`` are the targets of the config's projects that ``shard`` owns.
    """

    targets: tuple[PollTarget, ...]
    client: DrsClient
    poll: PollConfig
    shard: Shard = field(default_factory=Shard)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)  # which calls are asked
    _by_key: dict[TargetKey, PollTarget] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key", {polled.key: polled for polled in self.targets})

    def target(self, key: TargetKey) -> PollTarget | None:
        """The target polled as ``key``; None when this plan does not poll it."""
        return self._by_key.get(key)

    @property
    def batch_calls(self) -> tuple[BatchCall, ...]:
        """The batch calls switched on."""
        return switched_on(self.metrics)

    @property
    def quotas(self) -> bool:
        """Whether each project's DRS quota is asked for."""
        return self.metrics.quotas

    def asks_health(self, answered: Sequence[str]) -> bool:
        """Whether a poll asks any v3 call beyond the listing (the batch calls and the
        quota): they belong to the v3 API, so only when v3 listed the target's jobs in this
        poll (not where the region leaves v3 out, nor where ``apis`` does)."""
        return bool(self.batch_calls or self.quotas) and V3_JOBS.name in answered
