"""The /metrics body: every metric of the contract, both formats, hostile input, promtool."""

from __future__ import annotations

import dataclasses
import gzip
import subprocess
import zlib
from collections.abc import Iterable

import msgspec
import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from drs_exporter.config import MetricsConfig
from drs_exporter.metrics.exposition import (
    OPENMETRICS_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    Exposition,
    render,
)
from drs_exporter.metrics.families import FAMILIES
from drs_exporter.model import STATUSES, Job, JobDetail, JobHealth
from drs_exporter.polling.sharding import Shard
from drs_exporter.polling.snapshot import (
    DiscoveryState,
    ReloadState,
    Snapshot,
    TargetKey,
    TargetState,
    Versions,
)

from .test_deploy import tool

MIGRATION = TargetKey("proj-a", "ap-southeast-1", "migration")
SYNC = TargetKey("proj-a", "ap-southeast-1", "sync")
DOWN = TargetKey("proj-b", "eu-west-101", "cloudDataGuard")
NEVER = TargetKey("proj-c", "cn-north-4", "migration")


def job(job_id: str, status: str = "INCRE_TRANSFER_STARTED", **fields: object) -> Job:
    values: dict[str, object] = {
        "id": job_id,
        "name": f"name-{job_id}",
        "status": status,
        "engine_type": "mysql-to-mysql",
        "net_type": "eip",
        "job_direction": "up",
        "task_type": "FULL_INCR_TRANS",
        "job_mode": "single",
        "job_mode_role": "",
        "charging_mode": "on_demand",
        "enterprise_project_id": "0",
        "created": 1_667_837_718.0,
        "parent_id": "",
    }
    values.update(fields)
    return Job(**values)  # type: ignore[arg-type]


def sample_snapshot() -> Snapshot:
    """Two healthy targets with data, one failing without data, one never polled."""
    migration_jobs = (
        job("m1"),
        job("m2", "FULL_TRANSFER_FAILED", net_type="vpc"),
        job("m3", "SOMETHING_NEW", created=None),
        job("m1-c1", "CHILD_TRANSFER_STARTED", parent_id="m1", job_mode_role="child"),
        job("m1-c2", "CHILD_TRANSFER_FAILED", parent_id="m1", job_mode_role="child"),
        job("m4"),
    )
    return Snapshot(
        targets=(
            TargetState(
                MIGRATION,
                up=True,
                jobs=migration_jobs,
                status_since={"m1": 1_700_000_000.0, "m1-c2": 1_700_000_100.5},
                health={
                    "m1": JobHealth(
                        progress=0.5,
                        delay=12.5,
                        remaining=600,
                        updated=1.7e9,
                        rows_rate=1500,
                        bytes_rate=250_000,
                        rpo=1.5,
                        rto=0.25,
                        source_connected=1,
                        target_connected=0,
                        cpu=0.125,
                        memory_used=512 * 2**20,
                        memory=4096 * 2**20,
                        disk_used=3 * 2**30,
                        disk=100 * 2**30,
                    ),
                    "m1-c1": JobHealth(progress=0.25),
                    "m2": JobHealth(error_code="DRS.M05004", error_message='say "no"\\'),
                },
                details={
                    "m1": JobDetail(
                        expires=1_702_000_000.0,
                        auto_renew=0,
                        alarm_delay=300,
                        alarm_rpo=60,
                        alarm_rto=120,
                        tags=(("tag_cost_center", 'cc "1"'), ("tag_env", "prod")),
                    ),
                    "m4": JobDetail(alarm_delay=600),
                },
                last_poll_duration=0.25,
                last_success=1_700_000_200.0,
                has_data=True,
            ),
            TargetState(
                SYNC,
                up=True,
                last_poll_duration=0.125,
                last_success=1_700_000_200.0,
                has_data=True,
            ),
            TargetState(DOWN, up=False, last_poll_duration=10.0),
            TargetState(NEVER),
        ),
        api_requests={
            ("ap-southeast-1", "v5_jobs", "200"): 7,
            ("eu-west-101", "v5_jobs", "timeout"): 3,
        },
        rate_limit_wait={"ap-southeast-1": 12.5},
        poll_errors={(DOWN, "timeout"): 3},
        poll_overruns={DOWN: 2},
        quotas={("p1", "ap-southeast-1", "instances"): (7, 50)},
        reload=ReloadState(success=True, timestamp=1_699_999_000.0),
        discovery=DiscoveryState(targets=6, last_success=1_700_000_100.0),
        discovery_errors={"http_5xx": 2},
        published={("ap-southeast-1", "v3_jobs"): True, ("ap-southeast-1", "v5_jobs"): False},
    )


def families(exposition: Exposition, *, openmetrics: bool = False) -> dict[str, Metric]:
    body = exposition.body(openmetrics=openmetrics, gzip=False)
    return families_of(body, openmetrics=openmetrics)


def values(family: Metric, *label_names: str) -> dict[tuple[str, ...], float]:
    """Samples of a family keyed by the given label values."""
    return {tuple(s.labels[n] for n in label_names): s.value for s in family.samples}


def target_labels(key: TargetKey) -> tuple[str, str, str]:
    return (key.project_id, key.region, key.job_type)


TARGET = ("project_id", "region", "job_type")


def test_job_counts_group_top_level_jobs_and_subtasks_separately() -> None:
    got = families(render(sample_snapshot(), MetricsConfig(), "1.2.3"))
    labels = (*TARGET, "engine_type", "net_type", "status")
    base = target_labels(MIGRATION)
    assert values(got["drs_jobs"], *labels) == {
        (*base, "mysql-to-mysql", "eip", "INCRE_TRANSFER_STARTED"): 2,
        (*base, "mysql-to-mysql", "vpc", "FULL_TRANSFER_FAILED"): 1,
        (*base, "mysql-to-mysql", "eip", "SOMETHING_NEW"): 1,
    }
    assert values(got["drs_subtasks"], *labels) == {
        (*base, "mysql-to-mysql", "eip", "CHILD_TRANSFER_STARTED"): 1,
        (*base, "mysql-to-mysql", "eip", "CHILD_TRANSFER_FAILED"): 1,
    }
    assert got["drs_jobs"].type == "gauge"


def test_failed_jobs_count_top_level_only_and_are_zero_for_every_target_with_data() -> None:
    got = families(render(sample_snapshot(), MetricsConfig(), "1.2.3"))
    assert values(got["drs_jobs_failed"], *TARGET) == {
        target_labels(MIGRATION): 1,  # the failed subtask does not count
        target_labels(SYNC): 0,
    }


def test_per_job_series_cover_jobs_and_subtasks() -> None:
    got = families(render(sample_snapshot(), MetricsConfig(), "1.2.3"))
    info = {s.labels["job_id"]: s for s in got["drs_job_info"].samples}
    assert sorted(info) == ["m1", "m1-c1", "m1-c2", "m2", "m3", "m4"]
    assert info["m1-c1"].value == 1
    assert info["m1-c1"].labels == {
        "project_id": "proj-a",
        "region": "ap-southeast-1",
        "job_type": "migration",
        "job_id": "m1-c1",
        "name": "name-m1-c1",
        "engine_type": "mysql-to-mysql",
        "net_type": "eip",
        "job_direction": "up",
        "task_type": "FULL_INCR_TRANS",
        "job_mode": "single",
        "job_mode_role": "child",
        "charging_mode": "on_demand",
        "enterprise_project_id": "0",
        "parent_job_id": "m1",
    }
    assert info["m1"].labels["parent_job_id"] == ""

    status = values(got["drs_job_status"], "job_id", "status")
    assert status == {
        ("m1", "INCRE_TRANSFER_STARTED"): 1,
        ("m2", "FULL_TRANSFER_FAILED"): 1,
        ("m3", "SOMETHING_NEW"): 1,  # unknown statuses are exported as they came
        ("m1-c1", "CHILD_TRANSFER_STARTED"): 1,
        ("m1-c2", "CHILD_TRANSFER_FAILED"): 1,
        ("m4", "INCRE_TRANSFER_STARTED"): 1,
    }
    created = values(got["drs_job_created_timestamp_seconds"], "job_id")
    assert ("m3",) not in created  # no create_time, no series
    assert created[("m1",)] == 1_667_837_718.0
    assert values(got["drs_job_status_since_timestamp_seconds"], "job_id") == {
        ("m1",): 1_700_000_000.0,
        ("m1-c2",): 1_700_000_100.5,
    }


def test_dense_status_carries_every_known_status() -> None:
    got = families(render(sample_snapshot(), MetricsConfig(dense_status=True), "1.2.3"))
    status = values(got["drs_job_status"], "job_id", "status")
    m1 = {s: v for (j, s), v in status.items() if j == "m1"}
    assert set(m1) == set(STATUSES)
    assert [s for s, v in m1.items() if v == 1] == ["INCRE_TRANSFER_STARTED"]
    m3 = {s: v for (j, s), v in status.items() if j == "m3"}
    assert set(m3) == {*STATUSES, "SOMETHING_NEW"}
    assert [s for s, v in m3.items() if v == 1] == ["SOMETHING_NEW"]


def test_per_job_off_drops_every_job_series_but_keeps_the_counts() -> None:
    got = families(render(sample_snapshot(), MetricsConfig(per_job=False), "1.2.3"))
    assert not [name for name in got if name.startswith("drs_job_")]
    assert got["drs_jobs"].samples


def test_target_health_for_polled_targets_only() -> None:
    got = families(render(sample_snapshot(), MetricsConfig(), "1.2.3"))
    assert values(got["drs_up"], *TARGET) == {
        target_labels(MIGRATION): 1,
        target_labels(SYNC): 1,
        target_labels(DOWN): 0,
    }
    assert values(got["drs_last_poll_duration_seconds"], *TARGET) == {
        target_labels(MIGRATION): 0.25,
        target_labels(SYNC): 0.125,
        target_labels(DOWN): 10.0,
    }
    assert values(got["drs_last_poll_success_timestamp_seconds"], *TARGET) == {
        target_labels(MIGRATION): 1_700_000_200.0,
        target_labels(SYNC): 1_700_000_200.0,
    }
    # A target without data has no job series at all, not even drs_jobs_failed 0.
    for name in ("drs_jobs", "drs_jobs_failed", "drs_job_info"):
        assert {s.labels["project_id"] for s in got[name].samples} == {"proj-a"}


def test_counters_build_info_and_reload_state() -> None:
    text = families(render(sample_snapshot(), MetricsConfig(), "1.2.3"))
    openmetrics = families(render(sample_snapshot(), MetricsConfig(), "1.2.3"), openmetrics=True)
    for got in (text, openmetrics):
        requests = got["drs_api_requests"]
        assert requests.type == "counter"
        assert {s.name for s in requests.samples} == {"drs_api_requests_total"}
        assert values(requests, "region", "code") == {
            ("ap-southeast-1", "200"): 7,
            ("eu-west-101", "timeout"): 3,
        }
        assert values(got["drs_poll_errors"], *TARGET, "reason") == {
            (*target_labels(DOWN), "timeout"): 3
        }
        assert values(got["drs_api_published"], "region", "api") == {
            ("ap-southeast-1", "v3_jobs"): 1,
            ("ap-southeast-1", "v5_jobs"): 0,
        }
        build = got["drs_exporter_build_info"].samples
        assert len(build) == 1 and build[0].value == 1
        assert build[0].labels["version"] == "1.2.3"
        assert build[0].labels["python_version"].count(".") == 2
        assert got["drs_exporter_config_last_reload_successful"].samples[0].value == 1
        reload_ts = got["drs_exporter_config_last_reload_success_timestamp_seconds"]
        assert reload_ts.samples[0].value == 1_699_999_000.0


def test_empty_snapshot_still_shows_the_exporter_itself() -> None:
    got = families(render(Snapshot(), MetricsConfig(), "1.2.3"))
    with_samples = {name for name, family in got.items() if family.samples}
    assert with_samples == {
        "drs_exporter_build_info",
        "drs_exporter_shard",
        "drs_exporter_config_last_reload_successful",
    }
    assert "drs_jobs" in got  # HELP and TYPE even without samples, for discoverability


def test_the_shard_series_says_which_shard_of_how_many() -> None:
    unsharded = families(render(Snapshot(), MetricsConfig(), "1.2.3"))["drs_exporter_shard"]
    assert [(s.labels, s.value) for s in unsharded.samples] == [
        ({"shard": "0", "total_shards": "1"}, 1)
    ]
    sharded = families(render(Snapshot(shard=Shard(2, 5)), MetricsConfig(), "1.2.3"))
    assert [(s.labels, s.value) for s in sharded["drs_exporter_shard"].samples] == [
        ({"shard": "2", "total_shards": "5"}, 1)
    ]


def test_failed_reload_is_visible() -> None:
    snapshot = Snapshot(reload=ReloadState(success=False, timestamp=5.0))
    got = families(render(snapshot, MetricsConfig(), "1.2.3"))
    assert got["drs_exporter_config_last_reload_successful"].samples[0].value == 0


def sample_lines(body: bytes) -> list[str]:
    return [line for line in body.decode("utf-8").split("\n") if line and line[0] != "#"]


def test_formats_share_samples_and_differ_in_counter_headers_and_eof() -> None:
    exposition = render(sample_snapshot(), MetricsConfig(), "1.2.3")
    text = exposition.body(openmetrics=False, gzip=False)
    openmetrics = exposition.body(openmetrics=True, gzip=False)
    assert sample_lines(text) == sample_lines(openmetrics)
    assert b"# TYPE drs_api_requests_total counter\n" in text
    assert b"# TYPE drs_api_requests counter\n" in openmetrics
    assert openmetrics.endswith(b"\n# EOF\n")
    assert b"# EOF" not in text
    assert TEXT_CONTENT_TYPE.startswith("text/plain; version=0.0.4")
    assert OPENMETRICS_CONTENT_TYPE.startswith("application/openmetrics-text; version=1.0.0")


def test_samples_carry_no_timestamps() -> None:
    body = render(sample_snapshot(), MetricsConfig(dense_status=True), "1.2.3").body(
        openmetrics=False, gzip=False
    )
    for line in sample_lines(body):
        after_labels = line.rsplit("}", 1)[-1] if "}" in line else line.split(" ", 1)[1]
        assert len(after_labels.split()) == 1, line


def test_gzip_bodies_decompress_to_the_plain_ones() -> None:
    exposition = render(sample_snapshot(), MetricsConfig(), "1.2.3")
    for openmetrics in (False, True):
        plain = exposition.body(openmetrics=openmetrics, gzip=False)
        packed = exposition.body(openmetrics=openmetrics, gzip=True)
        assert gzip.decompress(packed) == plain


HOSTILE = [
    'say "hi"',
    "C:\\path\\",
    "two\nlines",
    "trailing backslash \\",
    "x" * 10_000,
    "lone \ud800 surrogate",
    "carriage\rreturn",
    "\u2028line separator",
    "nul\x00byte",
    '"} 1\n# EOF\n',
    "名前 ümlaut",
    "",
]


def hostile_snapshot() -> Snapshot:
    key = TargetKey('proj "x"\n', "region\\", "migration")
    jobs = tuple(
        job(
            f"id-{i}-{value}",
            value,
            name=value,
            engine_type=value,
            enterprise_project_id=value,
        )
        for i, value in enumerate(HOSTILE)
    )
    return Snapshot(
        targets=(
            TargetState(
                key,
                last_poll_duration=0.5,
                up=True,
                jobs=jobs,
                has_data=True,
                status_since={j.id: 1.0 for j in jobs},
            ),
        ),
        api_requests={("region\\", 'a"pi', 'co"de'): 1},
        poll_errors={(key, "x\ny"): 1},
    )


def expected(value: str) -> str:
    """What survives the trip: everything, except that lone surrogates become '?'."""
    return value.encode("utf-8", "replace").decode("utf-8")


@pytest.mark.parametrize("openmetrics", [False, True])
def test_hostile_label_values_round_trip(openmetrics: bool) -> None:
    exposition = render(hostile_snapshot(), MetricsConfig(dense_status=True), 'v"\n')
    got = families(exposition, openmetrics=openmetrics)
    names = [s.labels["name"] for s in got["drs_job_info"].samples]
    assert names == [expected(v) for v in HOSTILE]
    statuses = {s.labels["status"] for s in got["drs_job_status"].samples if s.value == 1}
    assert statuses == {expected(v) for v in HOSTILE}
    up = got["drs_up"].samples[0].labels
    assert (up["project_id"], up["region"]) == ('proj "x"\n', "region\\")
    assert got["drs_exporter_build_info"].samples[0].labels["version"] == 'v"\n'


def promtool_check(body: bytes) -> subprocess.CompletedProcess[bytes]:
    """``promtool check metrics`` on an exposition (skipped without promtool, but in CI)."""
    return subprocess.run(
        [tool("promtool"), "check", "metrics"],
        input=body,
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("snapshot", "options"),
    [
        (sample_snapshot(), MetricsConfig()),
        (sample_snapshot(), MetricsConfig(dense_status=True)),
        (sample_snapshot(), MetricsConfig(per_job=False)),
        (hostile_snapshot(), MetricsConfig(dense_status=True)),
        (Snapshot(), MetricsConfig()),
    ],
    ids=["sparse", "dense", "counts-only", "hostile", "empty"],
)
def test_promtool_accepts_the_text_format(snapshot: Snapshot, options: MetricsConfig) -> None:
    result = promtool_check(render(snapshot, options, "1.2.3").body(openmetrics=False, gzip=False))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == b"" and result.stderr.strip() == b""


def test_promtool_notices_a_broken_body() -> None:
    """The promtool check above is able to fail."""
    body = render(sample_snapshot(), MetricsConfig(), "1.2.3").body(openmetrics=False, gzip=False)
    result = promtool_check(body + body.split(b"\n# HELP")[0] + b"\n")
    assert result.returncode != 0


def many_jobs(targets: int, per_target: int) -> Iterable[TargetState]:
    for t in range(targets):
        jobs: list[Job] = []
        for i in range(per_target):
            parent = f"{t}-{i}"
            jobs.append(job(parent, "INCRE_TRANSFER_FAILED" if i % 9 == 0 else "CONFIGURATION"))
            if i % 10 == 0:
                jobs.append(job(f"{parent}-child", "CHILD_TRANSFER_STARTED", parent_id=parent))
        key = TargetKey(f"project-{t}", "ap-southeast-1", "migration")
        since = {j.id: 1_700_000_000.0 for j in jobs}
        yield TargetState(
            key,
            last_poll_duration=0.5,
            up=True,
            jobs=tuple(jobs),
            status_since=since,
            has_data=True,
        )


def count_samples(body: bytes, name: str) -> int:
    return body.count(b"\n" + name.encode() + b"{")


def sum_samples(body: bytes, name: str) -> float:
    prefix = name + "{"
    lines = body.decode("utf-8").split("\n")
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(prefix))


def test_ten_thousand_jobs_with_subtasks_render_completely() -> None:
    snapshot = Snapshot(targets=tuple(many_jobs(10, 1000)))
    dense = render(snapshot, MetricsConfig(dense_status=True), "1.2.3")
    body = dense.body(openmetrics=False, gzip=False)
    assert count_samples(body, "drs_job_info") == 11_000
    assert count_samples(body, "drs_job_status") == 11_000 * len(STATUSES)
    assert count_samples(body, "drs_job_status_since_timestamp_seconds") == 11_000

    sparse = render(snapshot, MetricsConfig(), "1.2.3").body(openmetrics=False, gzip=False)
    assert sum_samples(sparse, "drs_jobs") == 10_000
    assert sum_samples(sparse, "drs_jobs_failed") == 10 * 112
    assert count_samples(sparse, "drs_subtasks") == 10  # one group per target
    assert count_samples(sparse, "drs_job_status") == 11_000
    result = promtool_check(sparse)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_repeated_job_id_is_exported_once() -> None:
    target = TargetState(
        MIGRATION,
        last_poll_duration=0.5,
        up=True,
        jobs=(job("dup"), job("dup", "CREATING")),
        has_data=True,
    )
    got = families(render(Snapshot(targets=(target,)), MetricsConfig(), "1.2.3"))
    assert values(got["drs_job_status"], "job_id", "status") == {
        ("dup", "INCRE_TRANSFER_STARTED"): 1
    }
    assert len(got["drs_job_info"].samples) == 1


ALL_BODIES = [(False, False), (False, True), (True, False), (True, True)]


def bodies(exposition: Exposition) -> dict[tuple[bool, bool], bytes]:
    return {(om, gz): exposition.body(openmetrics=om, gzip=gz) for om, gz in ALL_BODIES}


def test_gzip_bodies_are_one_gzip_member_for_any_client() -> None:
    for snapshot in (sample_snapshot(), hostile_snapshot(), Snapshot()):
        exposition = render(snapshot, MetricsConfig(dense_status=True), "1.2.3")
        for openmetrics in (False, True):
            packed = exposition.body(openmetrics=openmetrics, gzip=True)
            reader = zlib.decompressobj(wbits=31)  # gzip framing, exactly one member
            plain = reader.decompress(packed)
            assert reader.eof and reader.unused_data == b""
            assert plain == exposition.body(openmetrics=openmetrics, gzip=False)


def test_render_with_the_previous_exposition_equals_a_fresh_render() -> None:
    before = sample_snapshot()
    migration, sync, down, never = before.targets
    changed_jobs = tuple(
        msgspec.structs.replace(j, status="INCRE_TRANSFER_STARTED") if j.id == "m2" else j
        for j in migration.jobs
        if j.id != "m4"
    )
    after = Snapshot(
        targets=(
            dataclasses.replace(
                migration,
                jobs=changed_jobs,
                last_success=1_700_000_300.0,
                versions=Versions(jobs=migration.versions.jobs + 1),
            ),
            sync,  # the same versions: its lines are taken over
            dataclasses.replace(
                down, up=True, has_data=True, jobs=(job("d1"),), versions=Versions(jobs=1)
            ),
            never,
            TargetState(
                TargetKey("proj-new", "cn-north-4", "sync"), last_poll_duration=0.5, up=True
            ),
        ),
        api_requests={("ap-southeast-1", "v5_jobs", "200"): 12},
        reload=before.reload,
    )
    options = MetricsConfig()
    reused = render(after, options, "1.2.3", previous=render(before, options, "1.2.3"))
    assert bodies(reused) == bodies(render(after, options, "1.2.3"))

    got = families(reused)
    status = values(got["drs_job_status"], "project_id", "job_id", "status")
    assert status[("proj-a", "m2", "INCRE_TRANSFER_STARTED")] == 1
    assert not [key for key in status if key[1] == "m4"]  # gone with its job
    assert ("proj-b", "d1", "INCRE_TRANSFER_STARTED") in status
    assert values(got["drs_up"], "project_id", "job_type")[("proj-new", "sync")] == 1
    assert values(got["drs_api_requests"], "code") == {("200",): 12}


def test_previous_rendered_with_other_options_is_not_reused() -> None:
    snapshot = sample_snapshot()
    sparse = render(snapshot, MetricsConfig(), "1.2.3")
    for options in (MetricsConfig(dense_status=True), MetricsConfig(per_job=False)):
        reused = render(snapshot, options, "1.2.3", previous=sparse)
        assert bodies(reused) == bodies(render(snapshot, options, "1.2.3"))


def test_reuse_goes_by_version_not_by_content() -> None:
    """What makes a target's lines reusable is its versions (tracking.advance bumps them
    with every change): content changed without a new version keeps the lines rendered
    before, and the same content with a new version is rendered anew."""
    snapshot = sample_snapshot()
    first = render(snapshot, MetricsConfig(), "1.2.3")
    target = snapshot.targets[0]
    sneaked = dataclasses.replace(target, jobs=(job("sneaked-in"),))
    others = snapshot.targets[1:]
    again = render(
        dataclasses.replace(snapshot, targets=(sneaked, *others)), MetricsConfig(), "1.2.3", first
    )
    assert bodies(again) == bodies(first)
    bumped = dataclasses.replace(sneaked, versions=Versions(jobs=target.versions.jobs + 1))
    fresh = render(
        dataclasses.replace(snapshot, targets=(bumped, *others)), MetricsConfig(), "1.2.3", first
    )
    info = families(fresh)["drs_job_info"].samples
    mine = {s.labels["job_id"] for s in info if s.labels["job_type"] == target.key.job_type}
    assert mine == {"sneaked-in"}


def test_a_gzip_body_is_joined_once_and_a_plain_one_inflated_for_each_scrape() -> None:
    exposition = render(sample_snapshot(), MetricsConfig(), "1.0.0")
    for openmetrics in (False, True):
        assert not exposition.parts_ready(openmetrics=openmetrics, gzip=True)
        first = list(exposition.parts(openmetrics=openmetrics, gzip=True).pieces)
        assert exposition.parts_ready(openmetrics=openmetrics, gzip=True)
        again = exposition.parts(openmetrics=openmetrics, gzip=True, extra=b"x 1\n")
        pieces = list(again.pieces)
        # The families' compressed bytes themselves, not a copy; and a small tail of its own.
        assert len(pieces) == len(first)
        assert all(a is b for a, b in zip(pieces[:-1], first[:-1], strict=True))
        assert len(pieces[-1]) < 100
        assert again.size == sum(len(part) for part in pieces)
        # Plain: nothing held, a fresh inflate for each body, of the announced size.
        assert exposition.parts_ready(openmetrics=openmetrics, gzip=False)
        plain = exposition.parts(openmetrics=openmetrics, gzip=False, extra=b"x 1\n")
        assert plain.size == len(b"".join(plain.pieces))


def test_a_large_plain_body_comes_in_pieces_of_about_a_megabyte() -> None:
    snapshot = Snapshot(targets=tuple(many_jobs(10, 1000)))
    exposition = render(snapshot, MetricsConfig(dense_status=True), "1.2.3")
    body = exposition.parts(openmetrics=False, gzip=False)
    pieces = list(body.pieces)
    assert len(pieces) > 3 and max(len(p) for p in pieces) < 2 << 20
    assert b"".join(pieces) == gzip.decompress(exposition.body(openmetrics=False, gzip=True))
    assert body.size == sum(len(p) for p in pieces)


# A gauge is written alike in both formats.
EXTRA = b"# HELP x_seconds An extra family.\n# TYPE x_seconds gauge\nx_seconds 1.5\n"


@pytest.mark.parametrize(("openmetrics", "use_gzip"), ALL_BODIES)
def test_extra_lines_follow_the_families_and_precede_the_one_eof(
    openmetrics: bool, use_gzip: bool
) -> None:
    exposition = render(sample_snapshot(), MetricsConfig(), "1.2.3")
    without = exposition.body(openmetrics=openmetrics, gzip=False)
    body = exposition.body(openmetrics=openmetrics, gzip=use_gzip, extra=EXTRA)
    if use_gzip:
        reader = zlib.decompressobj(wbits=31)  # still exactly one gzip member
        body, packed = reader.decompress(body), body
        assert reader.eof and reader.unused_data == b""
        first = next(iter(exposition.parts(openmetrics=openmetrics, gzip=True).pieces))
        assert packed.startswith(first)
    if openmetrics:
        assert body == without.removesuffix(b"# EOF\n") + EXTRA + b"# EOF\n"
        assert body.count(b"# EOF") == 1
    else:
        assert body == without + EXTRA
    got = families_of(body, openmetrics=openmetrics)
    assert got["x_seconds"].samples[0].value == 1.5
    assert set(got) == set(families_of(without, openmetrics=openmetrics)) | {"x_seconds"}


def families_of(body: bytes, *, openmetrics: bool) -> dict[str, Metric]:
    parse = parse_openmetrics if openmetrics else parse_text
    return {family.name: family for family in parse(body.decode("utf-8"))}


def test_a_changed_target_renders_again_only_what_changed_and_equals_a_fresh_render() -> None:
    before = sample_snapshot()
    migration = before.targets[0]
    first = render(before, MetricsConfig(), "1.2.3")
    # A new poll of the same jobs: new health and poll figures, the same jobs and status times.
    health = {"m1": JobHealth(progress=0.75, delay=99.0)}
    after = Snapshot(
        targets=(
            dataclasses.replace(
                migration,
                health=health,
                last_success=1_700_000_900.0,
                versions=dataclasses.replace(
                    migration.versions, health=migration.versions.health + 1
                ),
            ),
            *before.targets[1:],
        ),
        reload=before.reload,
    )
    again = render(after, MetricsConfig(), "1.2.3", previous=first)
    assert bodies(again) == bodies(render(after, MetricsConfig(), "1.2.3"))
    by_name = {family.name: family for family in FAMILIES}
    old = first._targets[migration.key][1]
    new = again._targets[migration.key][1]
    for name in ("drs_jobs", "drs_job_info", "drs_job_status_since_timestamp_seconds"):
        family = by_name[name]
        assert new[family] is old[family], name  # taken over, not rendered again
    for name in ("drs_job_progress_ratio", "drs_last_poll_success_timestamp_seconds"):
        family = by_name[name]
        assert new[family] is not old[family], name
    got = families(again)
    assert values(got["drs_job_progress_ratio"], "job_id") == {("m1",): 0.75}
    assert "drs_job_error_info" not in {s.name for f in got.values() for s in f.samples}


def _with_health(state: TargetState, health: dict[str, JobHealth]) -> TargetState:
    """The target after a poll that told ``health`` of the same jobs."""
    versions = dataclasses.replace(state.versions, health=state.versions.health + 1)
    return dataclasses.replace(state, health=health, versions=versions)


def test_a_figure_that_did_not_move_keeps_its_lines_while_the_others_are_written_again() -> None:
    before = sample_snapshot()
    migration = before.targets[0]
    first = render(before, MetricsConfig(), "1.2.3")
    # The next poll: m1's lag and progress moved, nothing else the batch calls told.
    health = dict(migration.health)
    health["m1"] = msgspec.structs.replace(health["m1"], delay=14.0, progress=0.625)
    moved = _with_health(migration, health)
    after = dataclasses.replace(before, targets=(moved, *before.targets[1:]))
    again = render(after, MetricsConfig(), "1.2.3", previous=first)
    assert bodies(again) == bodies(render(after, MetricsConfig(), "1.2.3"))
    got = families(again)
    assert values(got["drs_job_replication_delay_seconds"], "job_id") == {("m1",): 14.0}
    assert values(got["drs_job_progress_ratio"], "job_id") == {("m1",): 0.625, ("m1-c1",): 0.25}
    by_name = {family.name: family for family in FAMILIES}
    old = first._targets[migration.key][1]
    new = again._targets[migration.key][1]
    for name in ("drs_job_replication_delay_seconds", "drs_job_progress_ratio"):
        assert new[by_name[name]] is not old[by_name[name]], name
    for name in ("drs_job_remaining_seconds", "drs_job_error_info", "drs_job_rpo_seconds"):
        assert new[by_name[name]] is old[by_name[name]], name  # taken over, not written again


def test_a_figure_is_written_again_when_it_is_told_of_other_jobs_with_the_same_values() -> None:
    """m1-c1's progress leaves and m4 comes with the same value: the column of values is the
    same, the jobs are not, and the lines follow the jobs."""
    before = sample_snapshot()
    migration = before.targets[0]
    first = render(before, MetricsConfig(), "1.2.3")
    health = {k: v for k, v in migration.health.items() if k != "m1-c1"}
    health["m4"] = JobHealth(progress=0.25)
    after = dataclasses.replace(
        before, targets=(_with_health(migration, health), *before.targets[1:])
    )
    again = render(after, MetricsConfig(), "1.2.3", previous=first)
    assert bodies(again) == bodies(render(after, MetricsConfig(), "1.2.3"))
    progress = values(families(again)["drs_job_progress_ratio"], "job_id")
    assert progress == {("m1",): 0.5, ("m4",): 0.25}
