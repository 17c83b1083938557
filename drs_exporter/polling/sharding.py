"""Sharding: which replica polls which target, by a hash that never changes.

A target (project_id, region, job_type) belongs to shard ``h % total``, where ``h`` is the
first 8 bytes of the SHA-256 of ``project_id/region/job_type`` (UTF-8), read as an unsigned
big-endian integer. SHA-256 gives the same answer in every process, machine and Python
version (the built-in ``hash`` of a string does not), so M replicas with shards 0..M-1 poll
every target exactly once. ``--shard auto`` takes the shard from the ordinal at the end of
the host name, as a Kubernetes StatefulSet names its pods (``drs-exporter-2`` is shard 2).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ..errors import ConfigError

SHARD_FLAG = "--shard"
TOTAL_FLAG = "--total-shards"
AUTO = "auto"

_ORDINAL = re.compile(r"-(\d+)$")
_INTEGER = re.compile(r"[0-9]+")


def target_hash(project_id: str, region: str, job_type: str) -> int:
    """The stable 64-bit hash of a target: the first 8 bytes of SHA-256, big-endian."""
    digest = hashlib.sha256(f"{project_id}/{region}/{job_type}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass(frozen=True, slots=True)
class Shard:
    """This replica's share of the targets: shard ``index`` of ``total`` (0 of 1: all)."""

    index: int = 0
    total: int = 1

    def __post_init__(self) -> None:
        if self.total < 1 or not 0 <= self.index < self.total:
            raise ValueError(f"shard {self.index} of {self.total}")

    def owns(self, project_id: str, region: str, job_type: str) -> bool:
        """Whether this replica polls the target."""
        return target_hash(project_id, region, job_type) % self.total == self.index


def host_ordinal(hostname: str) -> int | None:
    """The ordinal at the end of a host name (``drs-exporter-2`` -> 2), or None.

    Only the first label of a fully qualified name counts: a pod's host name is its name.
    """
    match = _ORDINAL.search(hostname.split(".", 1)[0])
    return int(match.group(1)) if match else None


def _count(flag: str, value: str) -> int:
    if not _INTEGER.fullmatch(value.strip()):
        raise ConfigError(flag, f"expected a non-negative integer, got {value!r}")
    return int(value)


def parse_shard(shard: str, total_shards: str, hostname: str) -> Shard:
    """The Shard that the ``--shard`` and ``--total-shards`` flags ask for.

    ``hostname`` is read only for ``--shard auto``. Raises ConfigError naming the flag.
    """
    total = _count(TOTAL_FLAG, total_shards)
    if total < 1:
        raise ConfigError(TOTAL_FLAG, f"must be at least 1, got {total}")
    if shard.strip() == AUTO:
        index = host_ordinal(hostname)
        if index is None:
            raise ConfigError(
                f"{SHARD_FLAG} {AUTO}",
                f"the host name {hostname!r} does not end in an ordinal such as '-2'",
            )
        if index >= total:
            raise ConfigError(
                f"{SHARD_FLAG} {AUTO}",
                f"the host name {hostname!r} gives shard {index}, "
                f"which is not below {TOTAL_FLAG} {total}",
            )
        return Shard(index, total)
    if not _INTEGER.fullmatch(shard.strip()):
        raise ConfigError(SHARD_FLAG, f"expected a non-negative integer or 'auto', got {shard!r}")
    index = int(shard)
    if index >= total:
        raise ConfigError(SHARD_FLAG, f"{index} is not below {TOTAL_FLAG} {total}")
    return Shard(index, total)
