"""The one writer of sample lines, and what the families' sample functions read.

A family's lines are written by a function compiled once from its name and label names
(``line_writer``): label values escaped for both formats (backslash, double quote, newline),
numbers spelled as the Prometheus text format and OpenMetrics both spell them. Leading labels
shared by many families (a target's, a job's) come as one text written once per target or
job; a family of one figure per job, whose labels are all leading ones, has its lines of a
target joined at once (``figure_lines``), as its writer would write them one by one.
``TargetView`` and ``SnapshotView`` are what ``families``' sample functions are given: a
target's jobs, their labels and what the batch calls told of them (now, and at the last
render), each worked out once per render and only if a family asks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import chain, repeat
from typing import Any, Generic, TypeVar

import msgspec

from ..model import Job, JobDetail, JobHealth, unique_jobs
from ..polling.snapshot import Snapshot, TargetKey, TargetState

TARGET_LABELS = ("project_id", "region", "job_type")
JOB_LABELS = (*TARGET_LABELS, "job_id")
_R = TypeVar("_R", bound=msgspec.Struct)  # a record of what a batch call told

# A family's line writer: (leading labels' text if any, the other label values, value) -> line.
Line = Callable[..., str]


def escape(value: str) -> str:
    """A label value escaped for both formats: backslash, double quote and newline."""
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if '"' in value:
        value = value.replace('"', '\\"')
    if "\n" in value:
        value = value.replace("\n", "\\n")
    return value


def number(value: float) -> str:
    """A sample value as both formats spell it (integers without a fraction)."""
    if value.__class__ is int:  # exact, at any size
        return str(value)
    if value.__class__ is not float:  # a bool
        value = float(value)
    text = repr(value)  # the shortest that reads back as the same float
    if text[-2:] == ".0":  # a whole number: without its fraction below 1e15, -0 as 0
        if not value:
            return "0"
        return text[:-2] if -1e15 < value < 1e15 else text
    if text[-1] in "nf":  # nan, inf, -inf
        return "NaN" if value != value else "+Inf" if value > 0 else "-Inf"
    return text


def numbers(values: Sequence[float]) -> list[str]:
    """``[number(v) for v in values]``, made faster for many: msgspec writes them all in one
    go, with the same shortest digits as ``repr``."""
    try:
        text = msgspec.json.encode(values).decode()[1:-1]
    except (OverflowError, TypeError):  # an int beyond 64 bits, something not a number
        return [number(v) for v in values]
    # What msgspec spells unlike ``number``: exponents, true and false (each has an e),
    # null for NaN and the infinities, numbers below 1e-4 written without an exponent, and
    # whole numbers from 1e15 (a float keeps its ".0" there). Substrings and min/max are
    # tested in C: a regular expression over the text took most of the time.
    if (
        not text
        or "e" in text
        or "n" in text
        or "0.0000" in text
        or max(values) >= 1e15
        or min(values) <= -1e15
    ):
        return [number(v) for v in values]
    # Whole numbers lose their ".0", and -0 is 0, as ``number`` spells them.
    return f"{text},".replace(".0,", ",").replace("-0,", "0,")[:-1].split(",")


def figure_lines(name: str, leads: Sequence[str], values: Sequence[str]) -> str:
    """The lines of family ``name`` whose labels are all leading ones: ``leads`` the text of
    each sample's labels, ``values`` each value as ``numbers`` spells it. What a line
    writer would write, joined in one pass in C: a call of the writer for each sample costs
    more than joining the lines does."""
    pieces = zip(repeat(f"{name}{{"), leads, repeat("} "), values, repeat("\n"), strict=False)
    return "".join(chain.from_iterable(pieces))


def leading(labels: Sequence[str]) -> tuple[str, ...]:
    """The labels a family's lines take as one text written beforehand: a job's, a
    target's, or none."""
    for shared in (JOB_LABELS, TARGET_LABELS):
        if tuple(labels[: len(shared)]) == shared:
            return shared
    return ()


def _compiled(name: str, source: str) -> Line:
    """The function ``name`` that ``source`` defines, compiled once at import: a loop over
    the labels for each line would cost more than the rest of writing it."""
    scope: dict[str, Any] = {"escape": escape, "number": number}
    exec(compile(source, f"<samples.{name}>", "exec"), scope)
    written: Line = scope[name]
    return written


def _labels_code(labels: Sequence[str], first: str) -> tuple[list[str], str, str]:
    """The parameters, the escaping statements and the label text of a writer of
    ``labels`` (after the leading text ``first``, if any)."""
    params = [f"v{i}" for i in range(len(labels))]
    text = ",".join(
        [first] * bool(first)
        + [f'{label}="{{{p}}}"' for label, p in zip(labels, params, strict=True)]
    )
    if not params:
        return params, "", text
    joined = params[0] if len(params) == 1 else f"''.join(({', '.join(params)},))"
    escapes = "; ".join(f"{p} = escape({p})" for p in params)
    # Nearly no value needs escaping: one test of all of them, then escape them all.
    check = f"    t = {joined}\n    if '\\\\' in t or '\"' in t or '\\n' in t:\n        {escapes}\n"
    return params, check, text


def labels_writer(labels: Sequence[str]) -> Callable[..., str]:
    """A function writing ``labels``' values, escaped, as the text between a line's braces."""
    params, check, text = _labels_code(labels, "")
    return _compiled("labels", f"def labels({', '.join(params)}):\n{check}    return f'{text}'\n")


def line_writer(
    name: str, labels: Sequence[str], fields: Sequence[str] = (), own_labels: bool = False
) -> Line:
    """The function writing one sample line of family ``name``: given the text of its
    leading labels (see ``leading``) if it has any, the values of the others, and the value.

    With ``fields``, the values of the others are those attributes of one object, given in
    their place (a job's, for its many info labels). With ``own_labels``, the text of the
    sample's own labels (``own_labels_text``) comes before the value. The value is a number,
    or its text as ``numbers`` spells it.
    """
    first = leading(labels)
    params, check, text = _labels_code(labels[len(first) :], "{lead}" if first else "")
    if fields:
        reads = "".join(f"    {p} = o.{f}\n" for p, f in zip(params, fields, strict=True))
        check, params = reads + check, ["o"]
    if own_labels:
        params, text = [*params, "own"], f"{text}{{own}}"
    args = ", ".join(["lead"] * bool(first) + params + ["value"])
    braces = f"{{{{{text}}}}}" if text else ""
    # A whole number (a count, a 0 or 1) is its own spelling, and text is spelled already.
    spelled = "{value if value.__class__ is int or value.__class__ is str else number(value)}"
    return _compiled(
        "line", f"def line({args}):\n{check}    return f'{name}{braces} {spelled}\\n'\n"
    )


target_labels: Callable[..., str] = labels_writer(TARGET_LABELS)  # (project, region, job type)


def own_labels_text(pairs: Sequence[tuple[str, str]]) -> str:
    """A sample's own labels, (name, value) each, as the text that follows the others'."""
    return "".join([f',{name}="{escape(value)}"' for name, value in pairs])


def target_text(key: TargetKey) -> str:
    """A target's labels as the text between a line's braces."""
    return target_labels(key.project_id, key.region, key.job_type)


class TargetView:
    """One target's state as its families' sample functions read it; each part worked out
    once, when a family first asks for it.

    ``before`` is the target's state at the last render, if there was one: what the batch
    calls told then is read from it (``told_before``, ``detailed_before``), so that a family
    whose figures did not change keeps its lines.
    """

    def __init__(
        self, state: TargetState, dense_status: bool, before: TargetState | None = None
    ) -> None:
        self.state = state
        self.dense_status = dense_status  # metrics.dense_status
        self.before = before

    @cached_property
    def base(self) -> str:
        """The target's labels."""
        return target_text(self.state.key)

    @cached_property
    def jobs(self) -> Sequence[Job]:
        """The target's jobs and subtasks, each once."""
        return unique_jobs(self.state.jobs)

    @cached_property
    def named(self) -> list[tuple[str, Job]]:
        """Every job with its labels (the target's and its job_id)."""
        return list(zip(self._idents(self.jobs), self.jobs, strict=True))

    @cached_property
    def told(self) -> Told[JobHealth]:
        """Every job the batch calls told about, in the order of ``jobs``."""
        return self._each(self.state.health)

    @cached_property
    def detailed(self) -> Told[JobDetail]:
        """Every job batch-detail told about, in the order of ``jobs``."""
        return self._each(self.state.details)

    @cached_property
    def told_before(self) -> Told[JobHealth] | None:
        """What the batch calls told at the last render of the jobs of ``told``, in the same
        order; None if they told of other jobs then (or the jobs changed)."""
        before = self.before
        return self._again(self.told, before.health) if before is not None else None

    @cached_property
    def detailed_before(self) -> Told[JobDetail] | None:
        """What batch-detail told at the last render of the jobs of ``detailed``, as
        ``told_before``."""
        before = self.before
        return self._again(self.detailed, before.details) if before is not None else None

    def _each(self, found: Mapping[str, _R]) -> Told[_R]:
        if not found:
            return Told([], [], [])
        jobs = [job for job in self.jobs if job.id in found]
        ids = [job.id for job in jobs]
        return Told(ids, self._idents(jobs), list(map(found.__getitem__, ids)))

    def _again(self, told: Told[_R], found: Mapping[str, _R]) -> Told[_R] | None:
        """``told`` with what ``found`` (the last render's) says of the same jobs, if it says
        something of exactly those, and the jobs are the same as then."""
        before = self.before
        if not (
            before is not None
            and before.has_data
            and before.versions.jobs == self.state.versions.jobs
            and len(found) == len(told.ids)
            and all(map(found.__contains__, told.ids))
        ):
            return None
        return Told(told.ids, told.idents, list(map(found.__getitem__, told.ids)))

    def _idents(self, jobs: Sequence[Job]) -> list[str]:
        """The labels of each job (the target's and its job_id)."""
        ids = [job.id for job in jobs]
        joined = "".join(ids)
        if "\\" in joined or '"' in joined or "\n" in joined:  # nearly never
            ids = [escape(i) for i in ids]
        base = self.base
        return [f'{base},job_id="{i}"' for i in ids]


class Told(Generic[_R]):
    """What a batch call told of some jobs: the jobs' ids and labels, and what it told of
    each (a record, ``JobHealth`` or ``JobDetail``), in the same order."""

    __slots__ = ("_columns", "found", "idents", "ids")

    def __init__(self, ids: list[str], idents: list[str], found: list[_R]) -> None:
        self.ids = ids
        self.idents = idents
        self.found = found
        self._columns: dict[str, tuple[Any, ...]] | None = None

    def __iter__(self) -> Iterator[tuple[str, _R]]:
        """(labels, what was told) of each job."""
        return zip(self.idents, self.found, strict=True)

    def column(self, field: str) -> tuple[Any, ...]:
        """One field of every record, in order. The first call reads every field at once:
        one pass over the records, in C, costs less than a pass for each field."""
        if self._columns is None:
            found = self.found
            rows = map(msgspec.structs.astuple, found)
            fields = type(found[0]).__struct_fields__ if found else ()
            self._columns = dict(zip(fields, zip(*rows, strict=True), strict=True))
        return self._columns.get(field, ())


@dataclass(frozen=True, slots=True)
class SnapshotView:
    """What the families that are not per target are written from."""

    snapshot: Snapshot
    version: str  # the exporter's
