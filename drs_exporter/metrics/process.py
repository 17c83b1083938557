"""The exporter's own process on /metrics: prometheus_client's process, platform and GC collectors;
its heap's free memory given back to the system after each render; and how its cyclic
garbage collector is set once the exporter has started.

Every exporter built on a Prometheus client library has these families (CPU seconds,
resident memory, file descriptors, start time, ``python_info``, ``python_gc_*``), and the
usual exporter-health panels and alerts rely on them. They live in a registry of our own
(prometheus_client's global one is not touched) and are rendered on every scrape by
prometheus_client's own exposition functions: a few dozen lines, current to the scrape,
where the job families are rendered once per poll cycle.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
from collections.abc import Callable

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.exposition import generate_latest as generate_text
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

_EOF = b"# EOF\n"


class ProcessMetrics:
    """The process, platform and GC collectors of this process, in a registry of their own."""

    def __init__(self) -> None:
        self._registry = CollectorRegistry()
        ProcessCollector(registry=self._registry)
        PlatformCollector(registry=self._registry)
        GCCollector(registry=self._registry)

    def render(self, *, openmetrics: bool) -> bytes:
        """The families as they are now, in the text format or OpenMetrics.

        Without OpenMetrics' ``# EOF``: these lines go before the end of a larger body.
        """
        if not openmetrics:
            return generate_text(self._registry)
        body: bytes = generate_openmetrics(self._registry)  # type: ignore[no-untyped-call]
        return body.removesuffix(_EOF)


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, where the C library is glibc."""
    try:
        trim: Callable[[int], int] = ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
    except (OSError, AttributeError, TypeError):  # no C library found, or not glibc
        return None
    return trim


_TRIM = _malloc_trim()

# New containers (lists, dicts, tuples, tasks) between two collections of the youngest
# generation; Python's default is 700. A round of 10,000 jobs makes tens of thousands at a
# time, nearly all freed as they go by reference counting: at 700, the collector ran about
# twenty times a round, for about a twentieth of the exporter's CPU.
YOUNG_COLLECTION_THRESHOLD = 10_000


def settle_garbage_collector() -> None:
    """Once the exporter has started: what exists by now (modules, classes, the server, the
    first config) is left out of every later collection (``gc.freeze``), which no longer
    goes through its tens of thousands of objects; and the youngest generation is collected
    every ``YOUNG_COLLECTION_THRESHOLD`` new containers. Only containers in reference cycles
    wait for a collection: the others are freed at once, frozen or not, so freezing can
    keep only what a reload replaces of the objects made at start and that sits in a
    reference cycle, and that at most once."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, oldest)


def return_free_memory() -> None:
    """Give the heap's free pages back to the system. A render and a round of answers, or
    an uncompressed scrape's inflating, churn megabytes of short-lived buffers among
    long-lived records; glibc keeps the pages they freed, so without this the resident
    memory stays at the highest it ever was (a call takes about a millisecond at 10,000
    jobs)."""
    if _TRIM is not None:
        _TRIM(0)


class FreeMemoryLater:
    """``return_free_memory`` a second after the first call since it last ran: work that
    frees megabytes on the scrape path (an uncompressed body) costs at most one trim a
    second however often it comes, and none while its request is being answered."""

    def __init__(self, after: float = 1.0) -> None:
        self._after = after
        self._pending: asyncio.TimerHandle | None = None

    def __call__(self) -> None:
        if _TRIM is not None and self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(self._after, self._run)

    def _run(self) -> None:
        self._pending = None
        return_free_memory()
