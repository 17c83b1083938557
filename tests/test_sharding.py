"""Sharding: the stable hash, which shard owns a target, and the --shard/--total-shards flags."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from drs_exporter.errors import ConfigError
from drs_exporter.polling.sharding import Shard, host_ordinal, parse_shard, target_hash

# Computed once and written down: a change of the hash would move targets between the
# replicas of every running deployment, so it must never happen silently.
# (project_id, region, job_type) -> (shard of 3, shard of 5)
PINNED = {
    ("054ba152d480d55b2f5dc0069e7ddef0", "ap-southeast-1", "migration"): (1, 4),
    ("054ba152d480d55b2f5dc0069e7ddef0", "ap-southeast-1", "sync"): (1, 3),
    ("054ba152d480d55b2f5dc0069e7ddef0", "ap-southeast-1", "cloudDataGuard"): (0, 3),
    ("0a1b2c3d4e5f60718293a4b5c6d7e8f9", "cn-north-4", "migration"): (2, 3),
    ("0a1b2c3d4e5f60718293a4b5c6d7e8f9", "cn-north-4", "sync"): (0, 4),
    ("0a1b2c3d4e5f60718293a4b5c6d7e8f9", "cn-north-4", "cloudDataGuard"): (0, 1),
    ("f00dfeedf00dfeedf00dfeedf00dfeed", "eu-west-101", "migration"): (1, 2),
    ("f00dfeedf00dfeedf00dfeedf00dfeed", "eu-west-101", "sync"): (2, 3),
    ("project-a", "ap-southeast-1", "sync"): (2, 0),
    ("project-b", "cn-north-4", "sync"): (0, 0),
    ("project-b", "la-south-2", "cloudDataGuard"): (2, 2),
    ("project-c", "cn-east-3", "sync"): (2, 1),
}


def test_the_hash_is_the_first_8_bytes_of_sha256_big_endian() -> None:
    # The same as `printf %s 054b.../ap-southeast-1/migration | sha256sum | cut -c1-16`.
    assert target_hash("054ba152d480d55b2f5dc0069e7ddef0", "ap-southeast-1", "migration") == (
        0xB594800DFDF9E602
    )
    for project_id, region, job_type in PINNED:
        digest = hashlib.sha256(f"{project_id}/{region}/{job_type}".encode()).digest()
        assert target_hash(project_id, region, job_type) == int.from_bytes(digest[:8], "big")


@pytest.mark.parametrize(("target", "shards"), PINNED.items())
def test_the_pinned_targets_stay_on_their_shards(
    target: tuple[str, str, str], shards: tuple[int, int]
) -> None:
    for total, expected in zip((3, 5), shards, strict=True):
        owners = [index for index in range(total) if Shard(index, total).owns(*target)]
        assert owners == [expected], (target, total)


def test_every_target_has_exactly_one_owner_and_the_shares_are_even() -> None:
    targets = [
        (f"project-{p}", region, job_type)
        for p in range(200)
        for region in ("ap-southeast-1", "cn-north-4")
        for job_type in ("migration", "sync", "cloudDataGuard")
    ]
    for total in (1, 2, 3, 5, 7):
        owners = Counter()
        for target in targets:
            (owner,) = [i for i in range(total) if Shard(i, total).owns(*target)]
            owners[owner] += 1
        assert sorted(owners) == list(range(total))
        # 1200 targets: every share within 20% of the even one.
        for count in owners.values():
            assert abs(count - len(targets) / total) < 0.2 * len(targets) / total, owners


def test_one_shard_owns_everything() -> None:
    assert all(Shard().owns(*target) for target in PINNED)


@pytest.mark.parametrize(
    ("hostname", "ordinal"),
    [
        ("drs-exporter-2", 2),
        ("drs-exporter-0", 0),
        ("drs-exporter-12", 12),
        ("drs-exporter-2.drs-exporter-shards.monitoring.svc.cluster.local", 2),
        ("shard-a-3", 3),
        ("drs-exporter", None),
        ("drs-exporter-", None),
        ("drs-exporter-2a", None),
        ("host2", None),
        ("", None),
        ("drs-exporter.2", None),
    ],
)
def test_the_ordinal_is_the_number_after_the_last_dash(hostname: str, ordinal: int | None) -> None:
    assert host_ordinal(hostname) == ordinal


@pytest.mark.parametrize(
    ("shard", "total", "hostname", "expected"),
    [
        ("0", "1", "any", Shard(0, 1)),
        ("2", "3", "any", Shard(2, 3)),
        ("auto", "3", "drs-exporter-2", Shard(2, 3)),
        ("auto", "1", "drs-exporter-0", Shard(0, 1)),
        (" 4 ", "5", "any", Shard(4, 5)),
    ],
)
def test_good_flags_give_the_shard(shard: str, total: str, hostname: str, expected: Shard) -> None:
    assert parse_shard(shard, total, hostname) == expected


BAD_FLAGS = [
    ("3", "3", "h", "--shard: 3 is not below --total-shards 3"),
    ("1", "1", "h", "--shard: 1 is not below --total-shards 1"),
    ("0", "0", "h", "--total-shards: must be at least 1, got 0"),
    ("0", "-2", "h", "--total-shards: expected a non-negative integer, got '-2'"),
    ("0", "three", "h", "--total-shards: expected a non-negative integer, got 'three'"),
    ("0", "2.5", "h", "--total-shards: expected a non-negative integer, got '2.5'"),
    ("0", "", "h", "--total-shards: expected a non-negative integer, got ''"),
    ("-1", "3", "h", "--shard: expected a non-negative integer or 'auto', got '-1'"),
    ("one", "3", "h", "--shard: expected a non-negative integer or 'auto', got 'one'"),
    ("1e3", "3", "h", "--shard: expected a non-negative integer or 'auto', got '1e3'"),
    ("AUTO", "3", "h", "--shard: expected a non-negative integer or 'auto', got 'AUTO'"),
    (
        "auto",
        "3",
        "drs-exporter",
        "--shard auto: the host name 'drs-exporter' does not end in an ordinal such as '-2'",
    ),
    (
        "auto",
        "3",
        "drs-exporter-3",
        "--shard auto: the host name 'drs-exporter-3' gives shard 3, "
        "which is not below --total-shards 3",
    ),
]


@pytest.mark.parametrize(("shard", "total", "hostname", "message"), BAD_FLAGS)
def test_bad_flags_are_config_errors_naming_the_flag(
    shard: str, total: str, hostname: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_shard(shard, total, hostname)
    assert str(caught.value) == message


def test_a_shard_outside_its_total_cannot_be_made() -> None:
    for index, total in ((3, 3), (-1, 3), (0, 0)):
        with pytest.raises(ValueError):
            Shard(index, total)
