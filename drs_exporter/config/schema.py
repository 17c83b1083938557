"""The config as plain data: frozen dataclasses, and the keys of the file that follow from them.

Each key of ``poll`` and ``metrics`` is declared once, as its field: its default, and what
its value is and may be (a ``Key``: a duration, a count, a rate, a switch, with its bounds),
which is how ``sections`` reads it and how docs/configuration.md states it (checked by
tests/test_config.py). Nothing here reads the file; ``sections`` builds these from it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypeVar

from .. import list_apis
from ..list_apis import MAX_PER_PAGE
from ..model import JOB_TYPES
from .validators import boolean, integer, names, number_at_most, positive_duration

DAY = 86400.0  # seconds
MAX_TAG_KEYS = 64  # metrics.job_tags: a label each, so a bound on a series' labels
_KEY = "key"  # where a field's Key is, in its metadata
_D = TypeVar("_D", bound="float | None")


@dataclass(frozen=True, slots=True)
class Key:
    """What the value of one key is and may be: a ``duration`` (longer than 0, at most
    ``most`` seconds), a ``count`` (a whole number from ``least`` to ``most``), a ``rate``
    (above 0, at most ``most``), a ``switch`` (true or false) or ``names`` (a list of at
    most ``most`` distinct names, or ``["*"]``)."""

    kind: Literal["duration", "count", "rate", "switch", "names"]
    least: float = 0
    most: float = 0

    def read(self, value: object, path: str) -> Any:
        """The checked value; ConfigError naming ``path`` when it is not one."""
        if self.kind == "duration":
            return positive_duration(value, path, self.most)
        if self.kind == "count":
            return integer(value, path, int(self.least), int(self.most))
        if self.kind == "rate":
            return number_at_most(value, path, self.most)
        if self.kind == "names":
            return names(value, path, int(self.most))
        return boolean(value, path)


def duration(default: _D, most: float) -> _D:
    """A key whose value is a duration in seconds, at most ``most``."""
    key: _D = field(default=default, metadata={_KEY: Key("duration", most=most)})
    return key


def count(default: int, least: int, most: int) -> int:
    """A key whose value is a whole number from ``least`` to ``most``."""
    key: int = field(default=default, metadata={_KEY: Key("count", least, most)})
    return key


def rate(default: float, most: float) -> float:
    """A key whose value is a number above 0, at most ``most``."""
    key: float = field(default=default, metadata={_KEY: Key("rate", most=most)})
    return key


def switch(default: bool) -> bool:
    """A key that is true or false."""
    key: bool = field(default=default, metadata={_KEY: Key("switch")})
    return key


def name_list(most: int) -> tuple[str, ...]:
    """A key whose value is a list of at most ``most`` names (none by default), or
    ``["*"]``."""
    key: tuple[str, ...] = field(default=(), metadata={_KEY: Key("names", most=most)})
    return key


def keys_of(section: type) -> Mapping[str, Key]:
    """The keys of a section declared with ``duration``, ``count``, ``rate`` and ``switch``,
    by name, in order."""
    return {f.name: f.metadata[_KEY] for f in fields(section)}


@dataclass(frozen=True, slots=True)
class IamCredentials:
    """IAM password login, exchanged for a project-scoped token."""

    domain_name: str
    username: str
    password: str = field(repr=False)
    endpoint: str | None = None  # None: https://iam.{region}.myhuaweicloud.com


@dataclass(frozen=True, slots=True)
class Credentials:
    """Exactly one of: AK/SK (optionally with a security token), IAM login, static token."""

    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)
    iam: IamCredentials | None = None
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Project:
    """A project (which lives in one region), as a ``targets[]`` entry or discovery gives it:
    each of its job types is a target, polled and reported on (``drs_up``) on its own."""

    project_id: str
    region: str
    endpoint: str  # resolved: the explicit one, or the region's public endpoint
    credentials: Credentials
    job_types: tuple[str, ...] = JOB_TYPES
    # Query filters in the order given, as (name, value); instance_ids repeats its name.
    filters: tuple[tuple[str, str], ...] = ()
    apis: tuple[str, ...] = list_apis.NAMES  # the list APIs whose jobs are merged
    # ``apis: auto`` (the default): of ``apis``, use those the region publishes, learnt from
    # its answers. False: an explicit list, each of which must answer.
    auto_apis: bool = True


@dataclass(frozen=True, slots=True)
class PollConfig:
    """The ``poll`` section: each key with its default and how its value is read."""

    interval: float = duration(60.0, most=DAY)  # between the starts of a target's polls
    page_size: int = count(100, 1, 1000)  # jobs asked for per page
    timeout: float = duration(10.0, most=600.0)  # per HTTP request
    retries: int = count(3, 0, 10)
    max_concurrency: int = count(8, 1, 1000)
    max_requests_per_second: float = rate(10.0, most=10_000)
    stale_after: float = duration(600.0, most=30 * DAY)
    # The most job ids a v3 batch request carries; learned down where a region takes fewer.
    batch_size: int = count(MAX_PER_PAGE, 1, MAX_PER_PAGE)
    # The most jobs and subtasks one listing of a target (per list API) may hold: what bounds
    # its memory, whatever the API says or keeps sending.
    max_jobs: int = count(100_000, 1, 1_000_000)
    # The most requests a batch call asked in rotation (DR monitoring: 10 ids each) makes for
    # a target a poll; the jobs it wants beyond them are asked in later polls, each keeping
    # its last figures in between.
    rotation_requests: int = count(5, 1, 1000)
    # How long what batch-detail said of a job (subscription, alarm thresholds, tags) stands
    # before the job is asked again: each job is asked when first seen, then in rotation.
    detail_interval: float = duration(3600.0, most=30 * DAY)
    # Seconds a target's listing may take before its poll fails with reason ``deadline``;
    # None (the default): no bound, an account too large for the rate stretches the rounds.
    deadline: float | None = duration(None, most=DAY)


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """The ``metrics`` section: which series the exporter writes, and so which calls beyond
    the listings it makes."""

    per_job: bool = switch(True)
    dense_status: bool = switch(False)
    # Progress, delay and failure reason per job (v3 batch calls).
    health: bool = switch(True)
    # RPO/RTO, connections and instance capacity of DR jobs (v3 batch calls).
    dr: bool = switch(True)
    quotas: bool = switch(True)  # the project's DRS quota (v3)
    # Subscription expiry, the job's own alarm thresholds and its tags (v3 batch-detail).
    detail: bool = switch(True)
    # The tag keys exported as drs_job_tags labels (tag_<key>); ["*"]: every key.
    job_tags: tuple[str, ...] = name_list(most=MAX_TAG_KEYS)


@dataclass(frozen=True, slots=True)
class WebConfig:
    listen_address: str = ":9877"
    telemetry_path: str = "/metrics"
    config_file: str | None = None  # exporter-toolkit web-config file (TLS, basic auth)


@dataclass(frozen=True, slots=True)
class HttpConfig:
    proxy_url: str | None = field(default=None, repr=False)  # may carry user:password
    ca_file: str | None = None
    insecure_skip_verify: bool = False


@dataclass(frozen=True, slots=True)
class DiscoveryConfig:
    """Targets found from IAM's list of the projects the credentials can reach."""

    enabled: bool = False
    regions: tuple[str, ...] = ()  # empty: every region where DRS has an endpoint
    exclude_regions: tuple[str, ...] = ()
    exclude_projects: tuple[str, ...] = ()  # ids or names
    job_types: tuple[str, ...] = JOB_TYPES
    interval: float = 600.0  # seconds between two askings of the project list
    iam_endpoint: str = "https://iam.myhuaweicloud.com"
    endpoint: str = ""  # the DRS endpoint of every discovered project; {region} is replaced
    # The top-level credentials (or the environment's): IAM is asked with them, and every
    # discovered project is polled with them. None when discovery is off.
    credentials: Credentials | None = None


@dataclass(frozen=True, slots=True)
class Config:
    targets: tuple[Project, ...]  # the ``targets[]`` entries: the projects they name
    poll: PollConfig = PollConfig()
    metrics: MetricsConfig = MetricsConfig()
    web: WebConfig = WebConfig()
    http: HttpConfig = HttpConfig()
    discovery: DiscoveryConfig = DiscoveryConfig()


def secrets_of(config: Config) -> Iterator[str | None]:
    """Every secret value in a config, for the log filter."""
    credentials = [project.credentials for project in config.targets]
    if config.discovery.credentials is not None:
        credentials.append(config.discovery.credentials)
    for c in credentials:
        yield from (c.access_key, c.secret_key, c.security_token, c.token)
        if c.iam is not None:
            yield c.iam.password
    yield config.http.proxy_url


# The vocabulary of the file: the keys each section takes.

AUTO_APIS = "auto"  # targets[].apis: every list API the region publishes

TOP_KEYS = ("credentials", "targets", "poll", "metrics", "web", "http", "discovery")
TARGET_KEYS = (
    "project_id",
    "region",
    "endpoint",
    "job_types",
    "filters",
    "apis",
    "credentials",
)
_SECRET_KEYS = ("access_key", "secret_key", "security_token", "token")
CREDENTIAL_KEYS = ("iam", *_SECRET_KEYS, *(f"{key}_file" for key in _SECRET_KEYS))
AKSK_KEYS = tuple(
    f"{key}{suffix}"
    for key in ("access_key", "secret_key", "security_token")
    for suffix in ("", "_file")
)
IAM_KEYS = ("domain_name", "username", "password", "password_file", "endpoint")
FILTER_KEYS = (
    "enterprise_project_id",
    "engine_type",
    "net_type",
    "status",
    "name",
    "instance_ids",
    "instance_ip",
)
POLL_KEYS = tuple(f.name for f in fields(PollConfig))
# Old names of keys, still read (with a warning) as the keys they are now, by section.
RENAMED: Mapping[str, Mapping[str, str]] = {"poll": {"dr_monitoring_requests": "rotation_requests"}}
METRICS_KEYS = tuple(f.name for f in fields(MetricsConfig))
WEB_KEYS = tuple(f.name for f in fields(WebConfig))
HTTP_KEYS = tuple(f.name for f in fields(HttpConfig))
DISCOVERY_KEYS = tuple(f.name for f in fields(DiscoveryConfig) if f.name != "credentials")

# A key written one level too high is a common slip; say where it belongs.
BELONGS_UNDER: dict[str, str] = {
    **{k: f"poll.{k}" for k in POLL_KEYS},
    **{k: f"metrics.{k}" for k in METRICS_KEYS},
    **{k: f"web.{k}" for k in WEB_KEYS},
    **{k: f"http.{k}" for k in HTTP_KEYS},
    # Keys that other sections share (interval, endpoint, job_types) point there.
    **{
        k: f"discovery.{k}"
        for k in DISCOVERY_KEYS
        if k not in ("interval", "endpoint", "job_types")
    },
    **{k: f"targets[].{k}" for k in TARGET_KEYS if k != "credentials"},
    **{k: f"credentials.{k}" for k in CREDENTIAL_KEYS},
}
