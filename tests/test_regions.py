"""Every region as Huawei publishes it: a default config finds the list APIs a region has.

Huawei publishes the v5 list API in a few regions and v3 in most; an API a region lacks
answers 404 APIGW.0101. With the default ``apis: auto``, every job of a region that
publishes one API is exported through it, the missing API is asked again only hourly, and
an API that disappears while the exporter runs costs no failed poll.
"""

from __future__ import annotations

import dataclasses
import logging
import time

import pytest

from drs_exporter.drs.published import RECHECK_AFTER
from drs_exporter.exporter import Exporter
from drs_exporter.polling.plan import Clock

from .conftest import Sample, StartSim, fixed, samples, select, sim_call, sim_config
from .simulated import Simulated

HEALTH = ("drs_job_progress_ratio", "drs_job_replication_delay_seconds", "drs_job_error_info")


async def poll(exporter: Exporter) -> list[Sample]:
    await exporter.poll_once()
    return samples(exporter.exposition().body(openmetrics=False, gzip=False))


def truth(sim: Simulated, api: str = "") -> int:
    """Every top-level job of the simulated region, each once (or those ``api`` lists)."""
    summary = sim.world.summary()
    counts = summary["apis"][api]["counts"] if api else summary["counts"]
    return sum(n for by_type in counts.values() for c in by_type.values() for n in c.values())


def total(found: list[Sample], name: str, **labels: str) -> float:
    return sum(v for _, _, v in select(found, name, **labels))


def requests(found: list[Sample], api: str) -> float:
    return total(found, "drs_api_requests_total", api=api)


class SkewedClock:
    """Monotonic time that a test can move an hour ahead."""

    def __init__(self) -> None:
        self.skew = 0.0

    def clock(self) -> Clock:
        return Clock(monotonic=lambda: time.monotonic() + self.skew)


@pytest.mark.parametrize(("published", "missing"), [("v3", "v5"), ("v5", "v3")])
async def test_a_region_with_one_list_api_exports_every_job_with_the_default_config(
    start_sim: StartSim, published: str, missing: str
) -> None:
    sim = await start_sim(
        clock=fixed(), status_period=0, seed=5, projects=2, jobs=90, apis=(published,)
    )
    config = sim_config(sim)  # no apis: auto
    targets = len(config.targets) * 3
    skewed = SkewedClock()
    async with Exporter(config, clock=skewed.clock()) as exporter:
        for _ in range(3):
            found = await poll(exporter)
            assert [v for _, _, v in select(found, "drs_up")] == [1] * targets
            assert total(found, "drs_jobs") == truth(sim) == 90
            assert not select(found, "drs_poll_errors_total")
        # The missing API was asked once per target, in the first cycle only.
        assert requests(found, f"{missing}_jobs") == targets
        assert requests(found, f"{published}_jobs") >= 3 * targets
        by_api = {labels["api"]: v for _, labels, v in select(found, "drs_api_published")}
        assert by_api == {f"{missing}_jobs": 0, f"{published}_jobs": 1}
        health = sum(len(select(found, name)) for name in HEALTH)
        batch = sum(
            requests(found, api)
            for api in (
                "v3_batch_progress",
                "v3_batch_status",
                "v3_batch_rpo_rto",
                "v3_dr_monitoring",
                "v3_quotas",
            )
        )
        if published == "v3":
            assert health > 0 and batch > 0
        else:  # no v3: no batch request at all, no health series, and no failure for it
            assert health == 0 and batch == 0

        # An hour later, the missing API is asked once more (the cloud may publish it).
        skewed.skew = RECHECK_AFTER + 1
        found = await poll(exporter)
        assert requests(found, f"{missing}_jobs") == 2 * targets
        found = await poll(exporter)
        assert requests(found, f"{missing}_jobs") == 2 * targets
        assert [v for _, _, v in select(found, "drs_up")] == [1] * targets


async def test_an_api_that_stops_being_published_is_dropped_without_a_failed_poll(
    start_sim: StartSim,
) -> None:
    sim = await start_sim(clock=fixed(), status_period=0, seed=7, projects=1, jobs=60)
    config = sim_config(sim)
    async with Exporter(config) as exporter:
        found = await poll(exporter)
        assert total(found, "drs_jobs") == truth(sim) == 60
        await sim_call(sim, "POST", "/_sim/apis", {"apis": ["v3"]})
        for _ in range(2):
            found = await poll(exporter)
            assert [v for _, _, v in select(found, "drs_up")] == [1, 1, 1]
            assert not select(found, "drs_poll_errors_total")
            assert total(found, "drs_jobs") == truth(sim, "v3") < 60
        published = {labels["api"]: v for _, labels, v in select(found, "drs_api_published")}
        assert published == {"v5_jobs": 0, "v3_jobs": 1}
        # ... and is used again once it is back and an hour has passed.
        await sim_call(sim, "POST", "/_sim/apis", {"apis": ["v5", "v3"]})
        found = await poll(exporter)
        assert requests(found, "v5_jobs") == 2 * 3  # not asked again within the hour


async def test_a_region_that_publishes_no_list_api_fails_as_unsupported_once_asked(
    start_sim: StartSim, caplog: pytest.LogCaptureFixture
) -> None:
    sim = await start_sim(clock=fixed(), projects=1, jobs=9)
    config = sim_config(sim)
    # Every path under this endpoint answers as the gateway answers an unknown API.
    nowhere = dataclasses.replace(config.targets[0], endpoint=sim.url + "/nowhere")
    config = dataclasses.replace(config, targets=(nowhere,))
    caplog.set_level(logging.WARNING)
    async with Exporter(config) as exporter:
        for _ in range(2):
            found = await poll(exporter)
        assert [v for _, _, v in select(found, "drs_up")] == [0, 0, 0]
        reasons = {labels["reason"] for _, labels, _ in select(found, "drs_poll_errors_total")}
        assert reasons == {"unsupported"}
        assert total(found, "drs_poll_errors_total") == 6  # 3 targets x 2 cycles
        # Both APIs asked once per target; the second cycle sends nothing.
        assert requests(found, "v5_jobs") == requests(found, "v3_jobs") == 3
    lines = [
        r.getMessage() for r in caplog.records if "publishes no DRS list API" in r.getMessage()
    ]
    assert lines and "ap-southeast-1" in lines[0] and "/nowhere" in lines[0]
    assert "Check the target's region and endpoint" in lines[0]
