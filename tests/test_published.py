"""What the exporter remembers of the list APIs each endpoint publishes (pure, no sockets)."""

from __future__ import annotations

import dataclasses

from drs_exporter.config import Credentials, Project
from drs_exporter.drs.published import RECHECK_AFTER, PublishedApis

HK = Project("p1", "ap-southeast-1", "https://drs.hk.example", Credentials(token="t"))


def test_auto_asks_every_api_until_one_is_found_unpublished_then_hourly() -> None:
    found = PublishedApis()
    assert found.to_ask(HK, 0.0) == ("v5", "v3")
    assert found.record(HK, "v5", False, 0.0) is True  # news: logged once
    assert found.record(HK, "v3", True, 0.0) is True
    assert found.to_ask(HK, 10.0) == ("v3",)
    assert found.to_ask(HK, RECHECK_AFTER - 1) == ("v3",)
    assert found.to_ask(HK, RECHECK_AFTER) == ("v5", "v3")
    assert found.record(HK, "v5", False, RECHECK_AFTER) is False  # the same again: no news
    assert found.to_ask(HK, RECHECK_AFTER + 10) == ("v3",)
    assert found.by_region() == {
        ("ap-southeast-1", "v3_jobs"): True,
        ("ap-southeast-1", "v5_jobs"): False,
    }


def test_an_explicit_list_is_always_asked_whole() -> None:
    strict = dataclasses.replace(HK, apis=("v5", "v3"), auto_apis=False)
    found = PublishedApis()
    found.record(strict, "v5", False, 0.0)
    assert found.to_ask(strict, 1.0) == ("v5", "v3")


def test_the_finding_is_per_endpoint_and_a_region_publishes_what_any_endpoint_does() -> None:
    proxy = dataclasses.replace(HK, endpoint="https://proxy.example")
    found = PublishedApis()
    found.record(HK, "v5", False, 0.0)
    found.record(proxy, "v5", True, 0.0)
    assert found.to_ask(proxy, 1.0) == ("v5", "v3")
    assert found.to_ask(HK, 1.0) == ("v3",)
    assert found.by_region() == {("ap-southeast-1", "v5_jobs"): True}
    found.retain([HK])
    assert found.by_region() == {("ap-southeast-1", "v5_jobs"): False}
