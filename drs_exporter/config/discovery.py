"""The ``discovery`` section: which of the projects IAM lists become targets, and how often.

The rules that turn a project into targets are ``drs_exporter.polling.discovered``'s;
this reads and checks the section, and resolves the credentials discovery uses: the
top-level ones, else the environment's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from ..errors import ConfigError
from ..model import JOB_TYPES
from ..regions import KNOWN_REGIONS
from .loading import environment_credentials
from .schema import DISCOVERY_KEYS, Credentials, DiscoveryConfig
from .validators import (
    REGION,
    as_text,
    boolean,
    endpoint_url,
    kind_of,
    mapping,
    nonempty,
    one_of,
    parse_duration,
    show,
    suggest,
)

REGION_PLACEHOLDER = "{region}"
MIN_INTERVAL = 1.0  # seconds: IAM is asked at most this often
MAX_INTERVAL = 86400.0  # seconds: a day


class HasCredentials(Protocol):
    """Where the top-level credentials were read."""

    @property
    def credentials(self) -> Credentials: ...


def discovery_section(
    value: object, top: HasCredentials | None, environ: Mapping[str, str]
) -> DiscoveryConfig:
    """The checked ``discovery`` section; ``top`` holds the top-level credentials, if any."""
    block = mapping(value, "discovery", DISCOVERY_KEYS)
    enabled = boolean(block["enabled"], "discovery.enabled") if "enabled" in block else False
    default = DiscoveryConfig()
    endpoint = _endpoint(block.get("endpoint"))
    regions = _regions(block.get("regions"), "discovery.regions", known=not endpoint)
    exclude_regions = _regions(block.get("exclude_regions"), "discovery.exclude_regions")
    exclude_projects = _names(block.get("exclude_projects"), "discovery.exclude_projects")
    job_types = default.job_types
    if "job_types" in block:
        job_types = _job_types(block["job_types"], "discovery.job_types")
    interval = default.interval
    if "interval" in block:
        interval = _interval(block["interval"], "discovery.interval")
    iam_endpoint = default.iam_endpoint
    if "iam_endpoint" in block:
        iam_endpoint = endpoint_url(
            block["iam_endpoint"], "discovery.iam_endpoint", default.iam_endpoint
        )
    return DiscoveryConfig(
        enabled=enabled,
        regions=regions,
        exclude_regions=exclude_regions,
        exclude_projects=exclude_projects,
        job_types=job_types,
        interval=interval,
        iam_endpoint=iam_endpoint,
        endpoint=endpoint,
        credentials=(top.credentials if top else environment_credentials(environ, "credentials"))
        if enabled
        else None,
    )


def _list(value: object, path: str, example: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(path, f"must be a list like [{example}], got {kind_of(value)}")
    return value


def _regions(value: object, path: str, known: bool = False) -> tuple[str, ...]:
    """Region names; with ``known``, each must be one where DRS has a known endpoint."""
    result: list[str] = []
    for i, item in enumerate(_list(value, path, "ap-southeast-1, cn-north-4")):
        item_path = f"{path}[{i}]"
        region = nonempty(item, item_path).strip()
        if not REGION.fullmatch(region):
            raise ConfigError(item_path, f"invalid region {show(region)}")
        if known and region not in KNOWN_REGIONS:
            raise ConfigError(
                item_path,
                f"unknown region {show(region)}{suggest(region, KNOWN_REGIONS)}; "
                "a region outside the known list needs discovery.endpoint",
            )
        if region in result:
            raise ConfigError(item_path, f"{show(region)} is listed twice")
        result.append(region)
    return tuple(result)


def _names(value: object, path: str) -> tuple[str, ...]:
    items = _list(value, path, "0123456789abcdef0123456789abcdef, cn-north-4_test")
    return tuple(nonempty(item, f"{path}[{i}]").strip() for i, item in enumerate(items))


def _job_types(value: object, path: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(path, f"must be a list like [migration, sync], got {kind_of(value)}")
    if not value:
        raise ConfigError(path, "must not be empty; leave the key out to use every job type")
    result: list[str] = []
    for i, item in enumerate(value):
        choice = one_of(item, f"{path}[{i}]", JOB_TYPES, "job type")
        if choice in result:
            raise ConfigError(f"{path}[{i}]", f"{show(choice)} is listed twice")
        result.append(choice)
    return tuple(result)


def _interval(value: object, path: str) -> float:
    seconds = parse_duration(value, path)
    if not MIN_INTERVAL <= seconds <= MAX_INTERVAL:
        raise ConfigError(path, f"must be from {MIN_INTERVAL:g}s to 24h, got {value}")
    return seconds


def _endpoint(value: object) -> str:
    """ "" or an http(s) URL in which ``{region}`` stands for each project's region."""
    path = "discovery.endpoint"
    if value is None:
        return ""
    text = as_text(value, path).strip()
    if not text:
        return ""
    # Checked with a region in place of the placeholder: what will really be requested.
    endpoint_url(
        text.replace(REGION_PLACEHOLDER, "ap-southeast-1"),
        path,
        "https://drs.{region}.myhuaweicloud.com",
    )
    if "{" in text.replace(REGION_PLACEHOLDER, "") or "}" in text.replace(REGION_PLACEHOLDER, ""):
        raise ConfigError(path, "the only placeholder it may hold is {region}")
    return text.rstrip("/")


def endpoint_for(discovery: DiscoveryConfig, region: str) -> str:
    """The DRS endpoint discovery.endpoint gives for ``region`` ("" when it is not set)."""
    return discovery.endpoint.replace(REGION_PLACEHOLDER, region)
