"""Discovery: which of the projects IAM lists are polled, in which region, at which endpoint.

A project's region is its name up to the first ``_``: a region's system project is named
after it (``ap-southeast-1``), subprojects ``{region}_{anything}``. ``MOS`` (an OBS project),
disabled projects, excluded ones and regions where DRS has no endpoint (unless
``discovery.endpoint`` gives one) make no target; explicitly configured targets win for
their project.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..cloud.iam import PROJECT_ID, IamProject
from ..config import DiscoveryConfig, Project
from ..config.discovery import endpoint_for
from ..config.validators import REGION
from ..regions import drs_endpoint

log = logging.getLogger(__name__)

OBS_PROJECT = "MOS"  # OBS's own project: never one with DRS jobs


@dataclass(frozen=True, slots=True)
class Found:
    """A project discovery polls: where its region and DRS endpoint are."""

    project: IamProject
    region: str
    endpoint: str


def region_of(name: str) -> str:
    """The region a project belongs to, from its name: ``cn-north-4_team`` -> ``cn-north-4``."""
    return name.split("_", 1)[0]


def select(projects: Iterable[IamProject], discovery: DiscoveryConfig) -> list[Found]:
    """The projects that make targets, each once, in IAM's order, with why others do not."""
    found: list[Found] = []
    seen: set[str] = set()
    for project in projects:
        skipped = _skipped(project, discovery)
        if skipped is None and project.id in seen:
            skipped = "listed twice"
        if skipped is not None:
            log.debug("discovery skips project %s (%s): %s", project.id, project.name, skipped)
            continue
        region = region_of(project.name)
        endpoint = endpoint_for(discovery, region) or drs_endpoint(region)
        assert endpoint is not None  # _skipped checked it
        seen.add(project.id)
        found.append(Found(project, region, endpoint))
    return found


def _skipped(project: IamProject, discovery: DiscoveryConfig) -> str | None:
    """Why a project makes no target, or None."""
    region = region_of(project.name)
    if project.name == OBS_PROJECT:
        return "OBS's project"
    if not project.enabled:
        return "disabled"
    if not PROJECT_ID.fullmatch(project.id):
        return "an id that is not a project id"
    if not REGION.fullmatch(region):
        return "a name that is not a region"
    if project.id in discovery.exclude_projects or project.name in discovery.exclude_projects:
        return "discovery.exclude_projects"
    if region in discovery.exclude_regions:
        return "discovery.exclude_regions"
    if discovery.regions and region not in discovery.regions:
        return "not in discovery.regions"
    if not discovery.endpoint and drs_endpoint(region) is None:
        return f"DRS has no known endpoint in {region} (discovery.endpoint gives one)"
    return None


def projects(
    found: Iterable[Found], discovery: DiscoveryConfig, configured: Sequence[Project]
) -> tuple[Project, ...]:
    """The discovered projects to poll (for the job types discovery.job_types says), with the
    discovery credentials; a project that ``configured`` names is left to that one."""
    credentials = discovery.credentials
    assert credentials is not None, "discovery is enabled only with credentials"
    explicit = {t.project_id for t in configured}
    return tuple(
        Project(
            f.project.id,
            f.region,
            f.endpoint,
            credentials,
            job_types=discovery.job_types,
        )
        for f in found
        if f.project.id not in explicit
    )
