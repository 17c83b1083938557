"""How a metric family is declared and written: its name, type, help and labels, when it is
shown, what a target's lines of it are written from, and the line writer compiled for it.

Which families there are is ``families``' table; the exposition renders each one through
``write``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

from ..drs.batch_calls import BatchCall
from .samples import Line, SnapshotView, TargetView, line_writer


class Reads(Enum):
    """What a target's lines of a family are written from: they are kept from one render to
    the next while that has not changed (see ``TargetState.versions``)."""

    JOBS = "jobs"  # the jobs and their statuses
    SINCE = "since"  # the jobs and when each entered its status
    HEALTH = "health"  # the jobs and what the batch calls told of them
    DETAIL = "detail"  # the jobs and what batch-detail told of them
    POLL = "poll"  # the last poll's outcome: up, duration, last success


@dataclass(frozen=True, slots=True, eq=False)
class Family:
    """One metric family: what Prometheus sees of it, and when it is shown."""

    name: str  # as its samples are named: a counter's ends in _total
    kind: Literal["gauge", "counter"]
    help: str
    labels: tuple[str, ...]
    per_job: bool = False  # only with metrics.per_job
    call: BatchCall | None = None  # shows that call's results: only while it is switched on
    quotas: bool = False  # only with metrics.quotas
    note: str = ""  # one or more sentences docs/metrics.md adds to the help text
    # The labels after the leading ones (see ``samples.leading``) are these attributes of the
    # one object each sample gives in their place; none: each sample gives their values.
    fields: tuple[str, ...] = ()
    # Beside ``labels``, each sample has labels of its own, whose names start with this (a
    # job's tags: ``tag_``); the line writer then takes their text, written and escaped.
    own_labels: str = ""
    line: Line = field(init=False, repr=False)  # writes one sample line, labels escaped

    def __post_init__(self) -> None:
        line = line_writer(self.name, self.labels, self.fields, own_labels=bool(self.own_labels))
        object.__setattr__(self, "line", line)

    @property
    def documented_labels(self) -> tuple[str, ...]:
        """Its labels as the metric table lists them (its own as ``tag_<key>``)."""
        return (*self.labels, f"{self.own_labels}<key>") if self.own_labels else self.labels

    @property
    def family_name(self) -> str:
        """The name in OpenMetrics' HELP and TYPE lines: a counter's without _total."""
        return self.name.removesuffix("_total") if self.kind == "counter" else self.name


TargetSamples = Callable[[Line, TargetView], str]
SnapshotSamples = Callable[[Line, SnapshotView], str]


@dataclass(frozen=True, slots=True, eq=False)
class TargetFamily(Family):
    """A family each target writes lines of, from what ``reads`` names."""

    reads: Reads = field(kw_only=True)
    samples: TargetSamples = field(kw_only=True)

    def write(self, target: TargetView) -> str:
        """The target's lines of this family."""
        return self.samples(self.line, target)


@dataclass(frozen=True, slots=True, eq=False)
class SnapshotFamily(Family):
    """A family written once from the whole snapshot (counters, build, shard, reload)."""

    samples: SnapshotSamples = field(kw_only=True)

    def write(self, snapshot: SnapshotView) -> str:
        """The family's lines."""
        return self.samples(self.line, snapshot)
