"""The exporter's own counters: API requests sent, polls and discoveries failed, for the snapshot.

They only grow, for the life of the process (across config reloads). The transport counts
requests here through its ``RequestCounter`` protocol; the poller counts failed polls; every
snapshot carries a copy.
"""

from __future__ import annotations

from collections import Counter

from .snapshot import DiscoveryState, TargetKey


class Telemetry:
    """Requests by (region, api, code) and failed polls by (target, reason)."""

    def __init__(self) -> None:
        self.api_requests: Counter[tuple[str, str, str]] = Counter()
        self.poll_errors: Counter[tuple[TargetKey, str]] = Counter()
        self.discovery_errors: Counter[str] = Counter()
        self.discovery: DiscoveryState | None = None  # set while discovery is on

    def count_request(self, region: str, api: str, code: str) -> None:
        """One request sent; ``code`` is the HTTP status, or ``timeout`` / ``network``."""
        self.api_requests[(region, api, code)] += 1

    def count_poll_error(self, key: TargetKey, reason: str) -> None:
        """One failed poll of a target, for one of errors.REASONS."""
        self.poll_errors[(key, reason)] += 1

    def count_discovery_error(self, reason: str) -> None:
        """One failed asking of IAM's project list, for one of errors.REASONS."""
        self.discovery_errors[reason] += 1
