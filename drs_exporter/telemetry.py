"""The exporter's own counters: API requests sent, polls and discoveries failed, for the snapshot;
and the names of the APIs whose requests are counted.

They only grow, for the life of the process (across config reloads). The transport counts
requests here through its ``RequestCounter`` protocol; the poller counts failed polls; every
snapshot carries a copy.
"""

from __future__ import annotations

from collections import Counter

from .batch import BATCH_CALLS
from .client import IAM_API
from .discovery import API as IAM_PROJECTS_API
from .discovery import DOMAINS_API as IAM_DOMAINS_API
from .model import LIST_API_NAMES
from .quotas import QUOTAS_API
from .snapshot import DiscoveryState, TargetKey

# Every API the exporter calls, by the name drs_api_requests_total and the logs give it. Each
# name is declared once, where its calls are made; these are their lists, in a fixed order.
DRS_API_NAMES = (*LIST_API_NAMES.values(), *(call.api for call in BATCH_CALLS), QUOTAS_API)
IAM_API_NAMES = (IAM_API, IAM_PROJECTS_API, IAM_DOMAINS_API)


class Telemetry:
    """Requests by (region, api, code) and failed polls by (target, reason)."""

    def __init__(self) -> None:
        self.api_requests: Counter[tuple[str, str, str]] = Counter()
        self.poll_errors: Counter[tuple[TargetKey, str]] = Counter()
        self.discovery_errors: Counter[str] = Counter()
        self.discovery: DiscoveryState | None = None  # set while discovery is on

    def count_request(self, region: str, api: str, code: str) -> None:
        """One request sent; ``code``: the HTTP status, ``timeout``, ``network``, ``cancelled``."""
        self.api_requests[(region, api, code)] += 1

    def count_poll_error(self, key: TargetKey, reason: str) -> None:
        """One failed poll of a target, for one of errors.REASONS."""
        self.poll_errors[(key, reason)] += 1

    def count_discovery_error(self, reason: str) -> None:
        """One failed asking of IAM's project list, for one of errors.REASONS."""
        self.discovery_errors[reason] += 1
