"""The shared request limiter: requests in flight and requests per second, granted to the
parties waiting for it in turn.

Every request of the exporter waits here for a concurrency slot and a tick of the rate. A
*party* is whoever a request is made for: one target's poll (the poller names it with
``acting_for``), or the exporter's own business (IAM logins and discovery), which is one
party more. The parties with requests waiting are served round-robin, one request each, so
a target that queues a burst of pages or batch chunks gets its share and no more: the next
request of every other target is granted before its second. A slot and a tick are taken
only when a request is granted, so a waiter that is cancelled (a reload, shutdown, an
opt-in deadline) costs nothing; the ticks are spaced ``1 / rate`` apart, so the rate is
never exceeded.

At a high rate the ticks come closer together than is worth a turn of the event loop each:
the limiter wakes up for them at most every ``WAKE_EVERY`` seconds, and a wake grants every
tick that came since. At 1,000 requests a second the requests go out by fours, 4 ms apart,
not one every millisecond: the same rate, a quarter of the wake-ups, and their answers come
back together too, so the loop turns fewer times for them as well. Below
``1 / WAKE_EVERY`` requests a second (250), it wakes up for each tick.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(eq=False, slots=True)
class Party:
    """Whom requests are made for, and what they cost it so far (compared by identity)."""

    name: str
    requests: int = 0  # granted
    waited: float = 0.0  # seconds its requests waited for the limiter


OWN = Party("exporter")  # IAM logins and discovery: the exporter's own requests
# The least time between two wake-ups for the rate, when its ticks are closer than that.
WAKE_EVERY = 0.004
_acting_for: ContextVar[Party] = ContextVar("drs_exporter_party", default=OWN)


@contextlib.contextmanager
def acting_for(party: Party) -> Iterator[Party]:
    """Make the requests of this task (and of the tasks it starts) count as ``party``'s."""
    token = _acting_for.set(party)
    try:
        yield party
    finally:
        _acting_for.reset(token)


def current_party() -> Party:
    """Whom a request made now is for."""
    return _acting_for.get()


def _now() -> float:
    """The event loop's clock: the rate is real time, whatever clock the rest is told."""
    return asyncio.get_running_loop().time()


class Limiter:
    """At most ``max_concurrency`` requests in flight and ``max_requests_per_second`` begun,
    granted round-robin between the parties waiting."""

    def __init__(self, max_concurrency: int, max_requests_per_second: float) -> None:
        self._capacity = max_concurrency
        self._interval = 1.0 / max_requests_per_second
        # How late a tick may be granted: one tick's time, as a timer may fire late, and where
        # wake-ups are grouped also the WAKE_EVERY the limiter itself waited; older ticks are
        # dropped, so an idle limiter saves up no burst. Below 1 / WAKE_EVERY requests a
        # second the grants are spaced as ever.
        grouped = self._interval < WAKE_EVERY
        self._latest = self._interval + (WAKE_EVERY if grouped else 0.0)
        self._in_flight = 0
        self._next_tick = -float("inf")  # the loop's time from which the next grant may come
        # Parties with waiters, in the order they are served: the first is served next, and
        # goes to the back while it has more.
        self._waiting: OrderedDict[Party, deque[asyncio.Future[None]]] = OrderedDict()
        self._timer: asyncio.TimerHandle | None = None
        self._woke = -float("inf")  # when the timer last woke the limiter up

    @contextlib.asynccontextmanager
    async def slot(self, party: Party | None = None) -> AsyncIterator[float]:
        """Hold a slot for one request of ``party`` (by default: ``current_party()``);
        yields the seconds it waited to be granted."""
        who = current_party() if party is None else party
        asked = _now()
        granted = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(who, deque()).append(granted)
        self._dispatch()
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._release()  # granted just as it was cancelled: give the slot back
            else:
                self._forget(who, granted)
            raise
        waited = _now() - asked
        who.requests += 1
        who.waited += waited
        try:
            yield waited
        finally:
            self._release()

    @property
    def waiting(self) -> int:
        """Requests waiting to be granted."""
        return sum(len(queue) for queue in self._waiting.values())

    def _release(self) -> None:
        self._in_flight -= 1
        self._dispatch()

    def _forget(self, party: Party, waiter: asyncio.Future[None]) -> None:
        queue = self._waiting.get(party)
        if queue is None:
            return
        with contextlib.suppress(ValueError):
            queue.remove(waiter)
        if not queue:
            del self._waiting[party]

    def _dispatch(self) -> None:
        """Grant what the slots and the rate allow now, and wake up for the next tick."""
        while self._waiting and self._in_flight < self._capacity:
            now = _now()
            if now < self._next_tick:
                if self._timer is None:
                    # Not sooner than WAKE_EVERY after the last wake: the ticks until then
                    # are granted together. Grants on a slot freed need no wake-up at all.
                    wake = max(self._next_tick, self._woke + WAKE_EVERY)
                    self._timer = asyncio.get_running_loop().call_at(wake, self._on_timer)
                return
            party, queue = next(iter(self._waiting.items()))
            waiter = queue.popleft()
            if queue:
                self._waiting.move_to_end(party)
            else:
                del self._waiting[party]
            if waiter.done():  # cancelled, its task not yet resumed to say so: skip it
                continue
            # The ticks that came while the limiter waited for its timer are granted now, each
            # spaced from the last (``_latest``).
            kept = now - self._next_tick < self._latest
            self._next_tick = (self._next_tick if kept else now) + self._interval
            self._in_flight += 1
            waiter.set_result(None)

    def _on_timer(self) -> None:
        self._timer = None
        self._woke = _now()
        self._dispatch()
