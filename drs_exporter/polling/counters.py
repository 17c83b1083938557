"""The exporter's own counters: requests sent and their wait for the limiter, failed and
overrunning polls, failed discoveries; and the names of the APIs whose requests are counted.

They only grow, for the life of the process (across config reloads), but for a target's,
which go when it is no longer polled. The transport counts requests and waits here through
its ``RequestCounter`` protocol; the poller counts failed and overrunning polls; every
snapshot carries a copy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection

from ..cloud.client import IAM_API
from ..cloud.iam import API as IAM_PROJECTS_API
from ..cloud.iam import DOMAINS_API as IAM_DOMAINS_API
from ..drs.batch_calls import BATCH_CALLS
from ..drs.quotas import QUOTAS_API
from ..list_apis import LIST_APIS
from .snapshot import DiscoveryState, TargetKey

# Every API the exporter calls, by the name drs_api_requests_total and the logs give it. Each
# name is declared once, where its calls are made; these are their lists, in a fixed order.
DRS_API_NAMES = (*(a.api for a in LIST_APIS), *(call.api for call in BATCH_CALLS), QUOTAS_API)
IAM_API_NAMES = (IAM_API, IAM_PROJECTS_API, IAM_DOMAINS_API)


class Counters:
    """Requests by (region, api, code), their wait by region, failed polls by (target,
    reason), overrunning polls by target."""

    def __init__(self) -> None:
        self.api_requests: Counter[tuple[str, str, str]] = Counter()
        self.rate_limit_wait: dict[str, float] = {}  # seconds, by region
        self.poll_errors: Counter[tuple[TargetKey, str]] = Counter()
        self.poll_overruns: Counter[TargetKey] = Counter()
        self.discovery_errors: Counter[str] = Counter()
        self.discovery: DiscoveryState | None = None  # set while discovery is on

    def count_request(self, region: str, api: str, code: str) -> None:
        """One request sent; ``code``: the HTTP status, ``timeout``, ``network``, ``cancelled``."""
        self.api_requests[(region, api, code)] += 1

    def count_wait(self, region: str, seconds: float) -> None:
        """A request waited ``seconds`` for the limiter (for its turn, a slot and a tick)."""
        self.rate_limit_wait[region] = self.rate_limit_wait.get(region, 0.0) + seconds

    def count_poll_error(self, key: TargetKey, reason: str) -> None:
        """One failed poll of a target, for one of errors.REASONS."""
        self.poll_errors[(key, reason)] += 1

    def count_overrun(self, key: TargetKey) -> None:
        """One poll of a target that took longer than the interval."""
        self.poll_overruns[key] += 1

    def retain(self, keys: Collection[TargetKey]) -> None:
        """Forget the poll counters of targets no longer polled (a project gone from
        discovery, a target removed from the config): their series go with their jobs'."""
        for key, reason in [k for k in self.poll_errors if k[0] not in keys]:
            del self.poll_errors[(key, reason)]
        for key in [k for k in self.poll_overruns if k not in keys]:
            del self.poll_overruns[key]

    def count_discovery_error(self, reason: str) -> None:
        """One failed asking of IAM's project list, for one of errors.REASONS."""
        self.discovery_errors[reason] += 1
