"""DR monitoring asked in turns: a tenant with more DR jobs than ``poll.dr_monitoring_requests``
requests carry asks about a share of them each cycle, the longest unasked first, and every
job keeps the figures it was last answered with; a failed job keeps none.

First ``Turns`` alone (it is pure bookkeeping), then end to end over sockets.
"""

from __future__ import annotations

from drs_exporter.service import Exporter
from drs_exporter.turns import Turns

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
TARGET = ("p", "r", "cloudDataGuard")
IDS = [f"job-{i:02}" for i in range(25)]


def test_with_few_jobs_every_job_is_asked_every_cycle() -> None:
    turns = Turns()
    for _ in range(3):
        assert turns.choose(TARGET, API, IDS[:8], 10) == IDS[:8]
        said = turns.record(TARGET, API, IDS[:8], IDS[:8], {i: i.upper() for i in IDS[:8]})
        assert said == {i: i.upper() for i in IDS[:8]}


def test_more_jobs_are_asked_in_turns_and_keep_what_they_last_said() -> None:
    turns = Turns()
    asked_in: list[list[str]] = []
    for cycle in range(4):
        chosen = turns.choose(TARGET, API, IDS, 10)
        asked_in.append(chosen)
        said = turns.record(TARGET, API, IDS, chosen, {i: (i, cycle) for i in chosen})
        told = sorted({i for ids in asked_in for i in ids})
        assert sorted(said) == told  # every job answered once is still told
        assert all(said[i] == (i, cycle) for i in chosen)  # the fresh answer wins
    assert asked_in[0] == IDS[:10]
    assert asked_in[1] == IDS[10:20]
    assert asked_in[2] == IDS[20:] + IDS[:5]  # never asked first, then the oldest
    assert asked_in[3] == IDS[5:15]


def test_a_job_whose_request_failed_keeps_nothing_and_is_asked_first() -> None:
    turns = Turns()
    first = turns.choose(TARGET, API, IDS, 10)
    turns.record(TARGET, API, IDS, first, {i: "old" for i in first})
    second = turns.choose(TARGET, API, IDS, 10)
    said = turns.record(TARGET, API, IDS, second, {})  # the request failed
    assert not set(said) & set(second)  # left out, never shown stale as if fresh
    assert set(said) == set(first)
    third = turns.choose(TARGET, API, IDS, 10)
    assert third == second  # the failed ones again, before the rest


def test_a_job_that_leaves_the_wanted_states_is_forgotten() -> None:
    turns = Turns()
    turns.record(TARGET, API, IDS[:3], IDS[:3], {i: 1 for i in IDS[:3]})
    said = turns.record(TARGET, API, IDS[1:3], [], {})
    assert set(said) == set(IDS[1:3])
    said = turns.record(TARGET, API, IDS[:3], [], {})
    assert set(said) == set(IDS[1:3])  # job-00 came back: nothing known of it


def test_targets_no_longer_polled_are_forgotten() -> None:
    turns = Turns()
    other = ("q", "r", "cloudDataGuard")
    for target in (TARGET, other):
        turns.record(target, API, IDS[:2], IDS[:2], {i: 1 for i in IDS[:2]})
    turns.retain({other})
    assert turns.record(TARGET, API, IDS[:2], [], {}) == {}
    assert set(turns.record(other, API, IDS[:2], [], {})) == set(IDS[:2])


async def test_many_dr_jobs_are_asked_in_turns_within_the_request_limit(
    start_sim: StartSim,
) -> None:
    sim = await world(start_sim, projects=1, jobs=600)
    limit = 2  # requests a cycle
    async with Exporter(sim_config(sim, dr_monitoring_requests=limit)) as exporter:
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
