"""The shared limiter: targets served in turn, nothing spent by a cancelled waiter, the rate
and the concurrency never exceeded.

These run the limiter on the real event loop. The order of grants is what they assert; the
only assertions on time are lower bounds, which a slow machine cannot break.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from drs_exporter.cloud.limiter import (
    OWN,
    WAKE_EVERY,
    Limiter,
    Party,
    acting_for,
    current_party,
)

FAST = 100_000.0  # requests per second that never bind


async def _request(limiter: Limiter, party: Party, log: list[str], hold: float = 0.0) -> None:
    async with limiter.slot(party):
        log.append(party.name)
        await asyncio.sleep(hold)


async def test_a_burst_of_one_target_never_queues_ahead_of_anothers_next_request() -> None:
    limiter = Limiter(1, FAST)
    hog, other, third = Party("hog"), Party("other"), Party("third")
    granted: list[str] = []
    burst = [asyncio.create_task(_request(limiter, hog, granted, 0.001)) for _ in range(20)]
    await asyncio.sleep(0)  # the hog's twenty wait, its first granted
    late = [
        asyncio.create_task(_request(limiter, party, granted, 0.001))
        for party in (other, other, third)
    ]
    await asyncio.gather(*burst, *late)
    # In turn: hog, other, third, then each one more, and the hog's rest at the end.
    assert granted[:7] == ["hog", "hog", "other", "third", "hog", "other", "hog"]
    assert granted.count("hog") == 20 and hog.requests == 20 and other.requests == 2


async def test_cancelled_waiters_spend_neither_ticks_nor_slots() -> None:
    rate = 4.0  # a tick every 250 ms
    limiter = Limiter(1, rate)
    granted: list[str] = []
    await _request(limiter, Party("first"), granted)  # takes the first tick
    gone = [asyncio.create_task(_request(limiter, Party("gone"), granted)) for _ in range(8)]
    await asyncio.sleep(0)
    for task in gone:
        task.cancel()
    await asyncio.gather(*gone, return_exceptions=True)
    assert limiter.waiting == 0
    kept = Party("kept")
    await _request(limiter, kept, granted)
    assert granted == ["first", "kept"]
    # "kept" has the second tick, a quarter of a second away. Had each cancelled waiter
    # kept the tick it was promised, "kept" would have had the tenth, over two seconds away.
    assert kept.waited < 1.5


async def test_the_rate_and_the_concurrency_are_never_exceeded() -> None:
    rate, capacity = 200.0, 3
    limiter = Limiter(capacity, rate)
    in_flight = 0
    most = 0
    times: list[float] = []

    async def request(party: Party) -> None:
        nonlocal in_flight, most
        async with limiter.slot(party):
            times.append(time.monotonic())
            in_flight += 1
            most = max(most, in_flight)
            await asyncio.sleep(0.005)
            in_flight -= 1

    parties = [Party(f"t{i}") for i in range(5)]
    await asyncio.gather(*(request(parties[i % 5]) for i in range(60)))
    assert most <= capacity
    assert len(times) == 60
    # 60 grants at 200 a second take at least 59 ticks; a late timer may bring one tick a
    # little early, never one more than the rate allows over the run.
    assert times[-1] - times[0] >= 58 / rate
    assert sum(p.requests for p in parties) == 60 and all(p.requests == 12 for p in parties)


async def test_at_a_high_rate_one_wake_up_grants_several_ticks() -> None:
    # At 1,000 requests a second the ticks are a millisecond apart: the limiter wakes up for
    # them at most every WAKE_EVERY (4 ms), not for each, and the rate still holds.
    rate, requests = 1000.0, 200
    assert WAKE_EVERY * rate > 1  # this test's rate is one the limiter groups
    limiter = Limiter(requests, rate)
    parties = [Party(f"t{i}") for i in range(5)]
    loop = asyncio.get_running_loop()
    call_at = loop.call_at
    wakes = 0

    def counted(when: float, callback: Any, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        nonlocal wakes
        wakes += 1
        return call_at(when, callback, *args, **kwargs)

    granted: list[str] = []
    loop.call_at = counted  # type: ignore[method-assign]
    try:
        started = time.monotonic()
        await asyncio.gather(*(_request(limiter, parties[i % 5], granted) for i in range(requests)))
        took = time.monotonic() - started
    finally:
        del loop.call_at
    assert len(granted) == requests
    assert took >= (requests - 1) / rate  # no tick is granted before it comes
    # About one wake-up for every four ticks; one for each would be 199. A wake-up that
    # comes late grants the ticks it missed as well.
    assert wakes <= requests / 2, wakes


async def test_below_the_grouped_rates_grants_keep_their_spacing_after_a_pause() -> None:
    rate = 50.0  # a tick every 20 ms: no grouping
    assert WAKE_EVERY * rate < 1
    limiter = Limiter(10, rate)
    await _request(limiter, Party("a"), [])  # the next tick comes 20 ms later
    # Back a little over a tick after that one: it is dropped, not granted with the next.
    await asyncio.sleep(2 / rate + WAKE_EVERY / 2)
    times: list[float] = []

    async def timed() -> None:
        async with limiter.slot(Party("b")):
            times.append(time.monotonic())

    await asyncio.gather(timed(), timed())
    assert times[1] - times[0] >= 0.9 / rate


async def test_an_idle_limiter_saves_up_no_burst() -> None:
    rate = 50.0
    limiter = Limiter(10, rate)
    granted: list[str] = []
    await _request(limiter, Party("a"), granted)
    await asyncio.sleep(0.3)  # idle for many ticks
    started = time.monotonic()
    await asyncio.gather(*(_request(limiter, Party("b"), granted) for _ in range(5)))
    assert time.monotonic() - started >= 4 / rate * 0.9


async def test_requests_count_for_the_party_their_task_acts_for() -> None:
    limiter = Limiter(2, FAST)
    target = Party("target")
    granted: list[str] = []

    async def poll() -> None:
        with acting_for(target):
            assert current_party() is target
            # Tasks the poll starts (its pages, its batch chunks) act for it too.
            await asyncio.gather(*(_via_context(limiter, granted) for _ in range(3)))

    await poll()
    assert current_party() is OWN
    await _via_context(limiter, granted)
    assert target.requests == 3 and granted == ["target"] * 3 + ["exporter"]


async def _via_context(limiter: Limiter, log: list[str]) -> None:
    async with limiter.slot() as waited:
        assert waited >= 0
        log.append(current_party().name)
