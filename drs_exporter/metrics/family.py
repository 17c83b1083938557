"""How a metric family is declared and written: its name, type, help and labels, when it is
shown, what a target's lines of it are written from, and the line writer compiled for it.

Which families there are is ``families``' table; the exposition renders each one through
``write``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

import msgspec

from ..drs.batch_calls import BatchCall
from ..model import JobDetail, JobHealth
from .samples import (
    Line,
    SnapshotView,
    TargetView,
    Told,
    figure_lines,
    leading,
    line_writer,
    numbers,
)


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
_Told = Callable[[TargetView], Told[Any]]
_ToldBefore = Callable[[TargetView], "Told[Any] | None"]

# What the batch calls told, by what a family reads: the record, and where a target's view
# holds it now and as it was at the last render.
_TOLD: dict[Reads, tuple[type[msgspec.Struct], _Told, _ToldBefore]] = {
    Reads.HEALTH: (JobHealth, operator.attrgetter("told"), operator.attrgetter("told_before")),
    Reads.DETAIL: (
        JobDetail,
        operator.attrgetter("detailed"),
        operator.attrgetter("detailed_before"),
    ),
}


@dataclass(frozen=True, slots=True, eq=False)
class TargetFamily(Family):
    """A family each target writes lines of, from what ``reads`` names.

    A family of what the batch calls told (``Reads.HEALTH`` or ``Reads.DETAIL``) names the
    fields of the record it shows (``figures``): while they are what they were at the last
    render for the same jobs, its lines are kept, even though other figures of the target
    moved. Without ``samples``, its lines are its one figure of each job told of it.
    """

    reads: Reads = field(kw_only=True)
    samples: TargetSamples | None = field(kw_only=True, default=None)
    figures: tuple[str, ...] = field(kw_only=True, default=())
    writes: TargetSamples = field(init=False, repr=False)

    def __post_init__(self) -> None:
        Family.__post_init__(self)
        if self.figures:
            if self.reads not in _TOLD:
                raise ValueError(f"{self.name}: figures are of what the batch calls told")
            record = _TOLD[self.reads][0]
            unknown = set(self.figures) - set(record.__struct_fields__)
            if unknown:
                raise ValueError(f"{self.name}: {record.__name__} has no field {min(unknown)!r}")
        writes = self.samples
        if writes is None:
            if len(self.figures) != 1 or leading(self.labels) != self.labels:
                raise ValueError(f"{self.name}: samples, or one figure of a job's labels")
            writes = _one_figure(self.name, self.figures[0], _TOLD[self.reads][1])
        object.__setattr__(self, "writes", writes)

    def write(self, target: TargetView) -> str:
        """The target's lines of this family."""
        return self.writes(self.line, target)

    def same_figures(self, target: TargetView) -> bool:
        """Whether the figures it shows are what they were at the last render, for the same
        jobs (and so are its lines)."""
        if not self.figures:
            return False
        _, now, before = _TOLD[self.reads]
        was = before(target)
        if was is None:
            return False
        told = now(target)
        return all(told.column(f) == was.column(f) for f in self.figures)


def _one_figure(name: str, figure: str, told: _Told) -> TargetSamples:
    """The lines of family ``name``: one figure the batch calls told of each job, for the
    jobs told of it."""

    def samples(line: Line, t: TargetView) -> str:
        told_of = told(t)
        idents, values = told_of.idents, told_of.column(figure)
        if None in values:
            idents = [i for i, v in zip(idents, values, strict=True) if v is not None]
            values = tuple(v for v in values if v is not None)
        return figure_lines(name, idents, numbers(values)) if values else ""

    return samples


@dataclass(frozen=True, slots=True, eq=False)
class SnapshotFamily(Family):
    """A family written once from the whole snapshot (counters, build, shard, reload)."""

    samples: SnapshotSamples = field(kw_only=True)

    def write(self, snapshot: SnapshotView) -> str:
        """The family's lines."""
        return self.samples(self.line, snapshot)
