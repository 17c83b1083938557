"""DR monitoring asked in rotation: a tenant with more DR jobs than
``poll.rotation_requests`` requests carry asks about a share of them each cycle, the
longest unasked first, and every job keeps the figures it was last answered with; a failed
job keeps none. And batch-detail, refreshed: every job when first seen, then each once an
interval, a share a poll.

First ``Rotation`` alone (it is pure bookkeeping), then end to end over sockets.
"""

from __future__ import annotations

from drs_exporter.drs.rotation import Rotation
from drs_exporter.exporter import Exporter

from .conftest import StartSim, select, sim_config
from .test_dr_end_to_end import (
    CONNECTIONS,
    DR,
    INSTANCE,
    INSTANCE_STATES,
    assert_exported_as_served,
    by_job,
    poll,
    statuses,
    world,
)

API = "v3_dr_monitoring"
KEEP = 600.0  # seconds a result is kept (stale_after)
TARGET = ("p", "r", "cloudDataGuard")
IDS = [f"job-{i:02}" for i in range(25)]


class Clock:
    """Monotonic time that moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def cycles() -> tuple[Rotation, Clock]:
    clock = Clock()
    return Rotation(clock), clock


def test_with_few_jobs_every_job_is_asked_every_cycle() -> None:
    rotation, _ = cycles()
    for _ in range(3):
        assert rotation.choose(TARGET, API, IDS[:8], 10) == IDS[:8]
        said = rotation.record(TARGET, API, IDS[:8], IDS[:8], {i: i.upper() for i in IDS[:8]}, KEEP)
        assert said == {i: i.upper() for i in IDS[:8]}


def test_more_jobs_are_asked_in_turns_and_keep_what_they_last_said() -> None:
    rotation, clock = cycles()
    asked_in: list[list[str]] = []
    for cycle in range(4):
        clock.now += 60
        chosen = rotation.choose(TARGET, API, IDS, 10)
        asked_in.append(chosen)
        said = rotation.record(TARGET, API, IDS, chosen, {i: (i, cycle) for i in chosen}, KEEP)
        told = sorted({i for ids in asked_in for i in ids})
        assert sorted(said) == told  # every job answered once is still told
        assert all(said[i] == (i, cycle) for i in chosen)  # the fresh answer wins
    assert asked_in[0] == IDS[:10]
    assert asked_in[1] == IDS[10:20]
    assert asked_in[2] == IDS[20:] + IDS[:5]  # never asked first, then the oldest
    assert asked_in[3] == IDS[5:15]


def test_a_job_whose_request_failed_keeps_nothing_and_is_asked_first() -> None:
    rotation, clock = cycles()
    first = rotation.choose(TARGET, API, IDS, 10)
    rotation.record(TARGET, API, IDS, first, {i: "old" for i in first}, KEEP)
    clock.now += 60
    second = rotation.choose(TARGET, API, IDS, 10)
    said = rotation.record(TARGET, API, IDS, second, {}, KEEP)  # the request failed
    assert not set(said) & set(second)  # left out, never shown stale as if fresh
    assert set(said) == set(first)
    clock.now += 60
    assert rotation.choose(TARGET, API, IDS, 10) == second  # the failed ones again, first


def test_a_result_older_than_keep_for_is_not_told() -> None:
    rotation, clock = cycles()
    rotation.record(TARGET, API, IDS[:2], IDS[:2], {i: 1 for i in IDS[:2]}, KEEP)
    clock.now += KEEP  # e.g. a target whose listing failed all that time
    assert set(rotation.record(TARGET, API, IDS[:2], [], {}, KEEP)) == set(IDS[:2])
    clock.now += 1
    assert rotation.record(TARGET, API, IDS[:2], [], {}, KEEP) == {}


def test_a_job_that_leaves_the_wanted_states_is_forgotten() -> None:
    rotation, _ = cycles()
    rotation.record(TARGET, API, IDS[:3], IDS[:3], {i: 1 for i in IDS[:3]}, KEEP)
    said = rotation.record(TARGET, API, IDS[1:3], [], {}, KEEP)
    assert set(said) == set(IDS[1:3])
    said = rotation.record(TARGET, API, IDS[:3], [], {}, KEEP)
    assert set(said) == set(IDS[1:3])  # job-00 came back: nothing known of it


def test_targets_no_longer_polled_are_forgotten() -> None:
    rotation, _ = cycles()
    other = ("q", "r", "cloudDataGuard")
    for target in (TARGET, other):
        rotation.record(target, API, IDS[:2], IDS[:2], {i: 1 for i in IDS[:2]}, KEEP)
    rotation.retain({other})
    assert rotation.record(TARGET, API, IDS[:2], [], {}, KEEP) == {}
    assert set(rotation.record(other, API, IDS[:2], [], {}, KEEP)) == set(IDS[:2])


async def test_many_dr_jobs_are_asked_in_turns_within_the_request_limit(
    start_sim: StartSim,
) -> None:
    sim = await world(start_sim, projects=1, jobs=600)
    limit = 2  # requests a cycle
    async with Exporter(sim_config(sim, rotation_requests=limit)) as exporter:
        found = await poll(exporter)
        transferring = {
            job_id
            for job_id, (job_type, status) in statuses(found).items()
            if job_type == DR and status in INSTANCE_STATES
        }
        turns = -(-len(transferring) // (10 * limit))
        assert turns >= 3, "the world needs DR jobs for several turns"
        for cycle in range(1, turns + 1):
            if cycle > 1:
                found = await poll(exporter)
            calls = sim.requests.of(API)
            assert len(calls) == cycle * limit  # one DR target: `limit` requests a cycle
            assert all(len(call.ids) == 10 for call in calls)
            asked = [job_id for call in calls for job_id in call.ids]
            first_round = asked[: len(transferring)]
            assert len(first_round) == len(set(first_round))  # nobody twice before all once
            assert set(asked) <= transferring
            told = {job_id for name in (*INSTANCE, *CONNECTIONS) for job_id in by_job(found, name)}
            assert told <= set(asked)  # a job never answered has no series
            assert len(told) > (cycle - 1) * 10 * limit  # earlier answers are still told
    assert set(asked) == transferring
    assert_exported_as_served(sim, found)  # every job as it was served, after one round
    assert all(v == 1 for _, _, v in select(found, "drs_up"))


# --- A call refreshed once an interval (batch-detail) ----------------------------------------

REFRESH = 3600.0  # poll.detail_interval
DETAIL = "v3_batch_detail"
MANY = [f"job-{i:03}" for i in range(120)]
SIZE = 10  # ids a request


def refresh_poll(
    rotation: Rotation, clock: Clock, at: float, fail: bool = False
) -> tuple[list[str], dict[str, object]]:
    """One poll at ``at``: the ids asked, and every job's kept answer (the time it was made)."""
    clock.now = at
    asked = rotation.due(TARGET, DETAIL, MANY, REFRESH, SIZE)
    answered = {} if fail else {job_id: at for job_id in asked}
    kept = rotation.record(TARGET, DETAIL, MANY, asked, answered, REFRESH + KEEP, refreshed=True)
    return asked, kept


def test_a_refreshed_call_asks_every_new_job_then_each_once_an_interval() -> None:
    clock = Clock()
    rotation = Rotation(clock)
    asked, _ = refresh_poll(rotation, clock, 0.0)
    assert asked == MANY  # first seen: every one
    polls = [refresh_poll(rotation, clock, 60.0 * m)[0] for m in range(1, 181)]
    per_minute = [len(ids) for ids in polls]
    assert per_minute[:59] == [0] * 59  # nothing is due within the interval
    # From then on in whole requests, a sixtieth of the jobs a poll on average ...
    assert {n % SIZE for n in per_minute} == {0}
    hour = [job_id for ids in polls[59:119] for job_id in ids]
    assert len(hour) == len(MANY) - SIZE or sorted(hour) == MANY
    # ... each job once an interval, never twice.
    second = [job_id for ids in polls[119:179] for job_id in ids]
    assert len(set(second)) == len(second) and len(set(hour)) == len(hour)
    assert set(hour) | set(second) == set(MANY)


def test_a_refreshed_job_keeps_its_answer_while_it_waits_and_loses_it_when_asked_too_late() -> None:
    clock = Clock()
    rotation = Rotation(clock)
    refresh_poll(rotation, clock, 0.0)
    # Every request fails from now on, a poll a minute: a job keeps what it was told while
    # it waits for its turn, and when asked in vain within keep_for ...
    asked: list[str] = []
    for minute in range(60, 70):
        ids, kept = refresh_poll(rotation, clock, 60.0 * minute, fail=True)
        asked += ids
        assert kept == dict.fromkeys(MANY, 0.0)
    assert asked
    # ... and a job asked in vain once its answer is older than keep_for loses it.
    ids, kept = refresh_poll(rotation, clock, REFRESH + KEEP + 3600.0, fail=True)
    assert ids and not set(ids) & set(kept) and len(kept) == len(MANY) - len(ids)


def test_a_new_job_is_asked_at_once_and_a_gone_one_is_forgotten() -> None:
    clock = Clock()
    rotation = Rotation(clock)
    refresh_poll(rotation, clock, 0.0)
    clock.now = 60.0
    asked = rotation.due(TARGET, DETAIL, [*MANY[1:], "new-job"], REFRESH, SIZE)
    assert asked == ["new-job"]
    kept = rotation.record(TARGET, DETAIL, MANY[1:], [], {}, REFRESH + KEEP, refreshed=True)
    assert MANY[0] not in kept


def test_a_job_asked_in_vain_rests_before_it_is_asked_again() -> None:
    """A region that does not answer the call (unpublished there, say) costs its jobs a
    twelfth of an interval, not every poll."""
    clock = Clock()
    rotation = Rotation(clock)
    asked, kept = refresh_poll(rotation, clock, 0.0, fail=True)
    assert asked == MANY and not kept
    assert refresh_poll(rotation, clock, 60.0, fail=True)[0] == []
    assert refresh_poll(rotation, clock, REFRESH / 12 + 60.0)[0] == MANY
