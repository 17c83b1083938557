"""The /metrics body: a Snapshot rendered once per publish, served as is on every scrape.

The text is written by hand rather than through a prometheus_client registry: a scrape then
costs nothing per job. The Prometheus text format (0.0.4) and OpenMetrics (1.0) share every
sample line; they differ only in the counters' HELP/TYPE lines and OpenMetrics' final
``# EOF``. Which families there are, in which order, comes from ``families.FAMILIES``.

A body is a sequence of chunks: each family's header, then every target's lines of that
family. A chunk is kept compressed, as a segment of ``gzipjoin``: a gzip body is the
concatenation of the segments, a plain one their decompression, and a 10,000-job exposition
holds 1.5 MB instead of 13. ``render`` given the previous Exposition takes over the chunks
of every target whose state has the same versions and poll figures as then (see
``tracking``): a progress snapshot published after one target finished costs that target's
lines and a concatenation, not 10,000 jobs. Of a target whose batch answers changed, only
the families whose figures moved are written again (``TargetFamily.same_figures``).

A scrape adds lines of its own after these families (the process metrics, a few dozen lines
rendered per request): ``Exposition.parts`` gives the body as pieces to send in order, then
the scrape's lines and OpenMetrics' ``# EOF``. Gzipped, the pre-rendered part is joined once
per snapshot and never copied, and the pieces still make one gzip member; plain, it is
inflated piece by piece for each scrape, so that no plain body is ever held whole.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..config import MetricsConfig
from ..drs.batch_calls import switched_on
from ..polling.snapshot import Snapshot, TargetKey, TargetState
from .families import FAMILIES
from .family import Family, Reads, SnapshotFamily, TargetFamily
from .gzipjoin import OpenMember, Segment, close_member, inflate_pieces, open_member, segment
from .samples import SnapshotView, TargetView

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def shows(metrics: MetricsConfig, family: Family) -> bool:
    """Whether ``family`` is part of the exposition with the config's ``metrics:``."""
    return (
        (metrics.per_job or not family.per_job)
        and (family.call is None or family.call in switched_on(metrics))
        and (metrics.quotas or not family.quotas)
    )


def _chunk(text: str) -> Segment:
    # Label values are escaped already; "replace" turns lone surrogates (which a broken API
    # can smuggle in through JSON \ud800 escapes) into "?" instead of raising.
    return segment(text.encode("utf-8", "replace"))


@dataclass(frozen=True, slots=True)
class _Headers:
    """A family's HELP and TYPE lines, as each format writes them."""

    text: Segment
    openmetrics: Segment


def _headers(family: Family) -> _Headers:
    def lines(name: str) -> Segment:
        return _chunk(f"# HELP {name} {family.help}\n# TYPE {name} {family.kind}\n")

    text = lines(family.name)
    openmetrics = text if family.family_name == family.name else lines(family.family_name)
    return _Headers(text, openmetrics)


_HEADERS = {family: _headers(family) for family in FAMILIES}
_EOF = b"# EOF\n"

# A target's chunks by family; a family in which the target has no lines is absent.
_TargetChunks = Mapping[Family, Segment]


# A plain body is inflated this much at a time as it is sent: never the whole body at
# once, and little held for a scraper that stops reading (one piece, at most twice this).
_PIECE = 64 * 1024


@dataclass(frozen=True, slots=True)
class Body:
    """A body as the pieces to send in order, ``size`` bytes in all (a plain body's are
    inflated as they are taken)."""

    size: int
    pieces: Iterable[bytes]


class Exposition:
    """Rendered metrics of one snapshot, kept compressed: a gzip body is sent from the
    compressed pieces as they are, a plain body is inflated anew for each scrape.

    Bodies come in four variants: the text format or OpenMetrics, plain or gzipped.
    """

    def __init__(
        self,
        options: MetricsConfig,
        targets: Mapping[TargetKey, tuple[TargetState, _TargetChunks]],
        text: tuple[Segment, ...],
        openmetrics: tuple[Segment, ...],
    ) -> None:
        self._options = options
        self._targets = targets  # each target's state and its chunks, for the next render
        self._chunks = {False: text, True: openmetrics}  # OpenMetrics without its # EOF
        self._packed: dict[bool, OpenMember] = {}

    def parts_ready(self, *, openmetrics: bool, gzip: bool) -> bool:
        """Whether ``parts`` costs no more than its ``extra`` now: a gzip variant whose
        families are joined already, or a plain one (whose work is in taking its pieces)."""
        return not gzip or openmetrics in self._packed

    def parts(self, *, openmetrics: bool, gzip: bool, extra: bytes = b"") -> Body:
        """The body as pieces to send in order: the families, ``extra`` and OpenMetrics' EOF.

        ``extra`` is lines in the same format that follow the families (without a ``# EOF``).
        Gzipped, the pieces are the families' compressed segments themselves (the first call
        for a format combines their CRCs, which takes milliseconds at 10,000 jobs: best made
        off the event loop), then a small closing piece of the scrape's own. A plain body
        costs an inflate of its families as its pieces are taken: a scrape of it is a little
        slower, and no process holds a 10,000-job body of 13 MB for it.
        """
        tail = extra + _EOF if openmetrics else extra
        chunks = self._chunks[openmetrics]
        if gzip:
            member = self._packed.get(openmetrics)
            if member is None:
                member = self._packed[openmetrics] = open_member(chunks)
            closing = close_member(member, (segment(tail),))
            return Body(member.length + len(closing), (*member.start, closing))
        size = sum(c.size for c in chunks) + len(tail)
        return Body(size, itertools.chain(inflate_pieces(chunks, _PIECE), (tail,)))

    def body(self, *, openmetrics: bool, gzip: bool, extra: bytes = b"") -> bytes:
        """The body in the Prometheus text format or OpenMetrics, optionally gzipped, as one
        bytes object (for tests and ``once``, not for scrapes)."""
        return b"".join(self.parts(openmetrics=openmetrics, gzip=gzip, extra=extra).pieces)


def _target_chunks(
    state: TargetState,
    families: Iterable[TargetFamily],
    dense_status: bool,
    before: tuple[TargetState, _TargetChunks] | None = None,
) -> _TargetChunks:
    """Every line one target contributes to ``families``, rendered and compressed.

    ``before`` is the target's state and chunks at the last render (with these options):
    a family's chunk is taken over as it is while what it reads (``Family.reads``) is the
    same as then, by the versions of ``TargetState.versions``, or while the figures it
    shows of what the batch calls told are (``TargetFamily.same_figures``).
    """
    if before is not None and _unchanged(before[0], state):
        return before[1]
    prev, old = before if before is not None else (None, {})
    view = TargetView(state, dense_status, prev)
    chunks: dict[Family, Segment] = {}
    for family in families:
        if not (state.polled if family.reads is Reads.POLL else state.has_data):
            continue
        if prev is not None and (_same(family.reads, prev, state) or family.same_figures(view)):
            if (kept := old.get(family)) is not None:  # absent: it had no lines then either
                chunks[family] = kept
        elif text := family.write(view):
            chunks[family] = _chunk(text)
    return chunks


def _same(reads: Reads, before: TargetState, state: TargetState) -> bool:
    """Whether what a family reads of the target is what it was at ``before``."""
    if reads is Reads.POLL:
        return _poll_figures(before) == _poll_figures(state)
    was, now = before.versions, state.versions
    if not (before.has_data and was.jobs == now.jobs):
        return False
    if reads is Reads.SINCE:
        return was.since == now.since
    if reads is Reads.DETAIL:
        return was.detail == now.detail
    return reads is Reads.JOBS or was.health == now.health


def _poll_figures(state: TargetState) -> tuple[bool, float | None, float | None]:
    return state.up, state.last_poll_duration, state.last_success


def _unchanged(before: TargetState, state: TargetState) -> bool:
    """Whether every line of the target is the same as when ``before`` was rendered."""
    return (
        before.versions == state.versions
        and before.has_data == state.has_data
        and _poll_figures(before) == _poll_figures(state)
    )


def render(
    snapshot: Snapshot,
    options: MetricsConfig,
    version: str,
    previous: Exposition | None = None,
) -> Exposition:
    """Render every metric of the snapshot; the result is served unchanged until the next.

    With ``previous``, the exposition of an earlier snapshot, a target whose state has the
    same versions and poll figures as then is not rendered again: its lines are reused as
    they were; of a changed one, only the families whose inputs changed (its jobs, status
    times, health, poll figures) are rendered again. (A target dropped by a reload is
    rendered without before it can come back, so its versions start again safely.)
    """
    shown = [family for family in FAMILIES if shows(options, family)]
    per_target = [family for family in shown if isinstance(family, TargetFamily)]
    reusable: Mapping[TargetKey, tuple[TargetState, _TargetChunks]] = {}
    if previous is not None and previous._options == options:
        reusable = previous._targets
    targets: dict[TargetKey, tuple[TargetState, _TargetChunks]] = {}
    for state in snapshot.targets:
        before = reusable.get(state.key)
        chunks = _target_chunks(state, per_target, options.dense_status, before)
        targets[state.key] = (state, chunks)
    whole = SnapshotView(snapshot, version)
    once: dict[Family, Segment] = {
        family: _chunk(lines)
        for family in shown
        if isinstance(family, SnapshotFamily)
        if (lines := family.write(whole))
    }

    text: list[Segment] = []
    openmetrics: list[Segment] = []
    for family in shown:
        headers = _HEADERS[family]
        text.append(headers.text)
        openmetrics.append(headers.openmetrics)
        sources: Iterable[Mapping[Family, Segment]] = (
            (chunks for _, chunks in targets.values())
            if isinstance(family, TargetFamily)
            else (once,)
        )
        for chunks in sources:
            chunk = chunks.get(family)
            if chunk is not None:
                text.append(chunk)
                openmetrics.append(chunk)
    return Exposition(options, targets, tuple(text), tuple(openmetrics))
