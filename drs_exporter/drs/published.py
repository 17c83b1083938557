"""Which list APIs each DRS endpoint publishes, as learnt from its answers.

Huawei publishes the v5 list API in a few regions and v3 in most, and an API a region lacks
answers like any unknown path (404 ``APIGW.0101``). A project with ``apis: auto`` asks each
list API; one found unpublished at an endpoint is not asked there again until
``RECHECK_AFTER`` has passed, since the cloud may publish it later. What was found is kept
per (endpoint, API) and exported per (region, API).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ..config import Project
from ..list_apis import BY_NAME

RECHECK_AFTER = 3600.0  # seconds before an API found unpublished is asked again


@dataclass(frozen=True, slots=True)
class Finding:
    """What one endpoint last answered for one list API."""

    region: str
    published: bool
    at: float  # monotonic seconds


class PublishedApis:
    """The list APIs each endpoint was found to publish (or not), across poll cycles."""

    def __init__(self) -> None:
        self._found: dict[tuple[str, str], Finding] = {}

    def to_ask(self, project: Project, now: float) -> tuple[str, ...]:
        """The list APIs to ask for ``project`` now: an explicit list as it is; with ``auto``,
        all but those found unpublished at its endpoint within the last RECHECK_AFTER."""
        if not project.auto_apis:
            return project.apis
        return tuple(api for api in project.apis if self._due(project.endpoint, api, now))

    def known_absent(self, project: Project, api: str) -> bool:
        """Whether ``api`` was last found unpublished at the project's endpoint."""
        found = self._found.get((project.endpoint, api))
        return found is not None and not found.published

    def record(self, project: Project, api: str, published: bool, now: float) -> bool:
        """Note what the project's endpoint answered for ``api``; True when that is news (the
        first finding, or the opposite of the last one)."""
        key = (project.endpoint, api)
        before = self._found.get(key)
        self._found[key] = Finding(project.region, published, now)
        return before is None or before.published != published

    def by_region(self) -> Mapping[tuple[str, str], bool]:
        """(region, API as exported, ``v5_jobs``) -> published, for ``drs_api_published``:
        published when any endpoint of the region publishes it."""
        found: dict[tuple[str, str], bool] = {}
        for (_, api), finding in sorted(self._found.items()):
            key = (finding.region, BY_NAME[api].api)
            found[key] = found.get(key, False) or finding.published
        return MappingProxyType(found)

    def retain(self, projects: Iterable[Project]) -> None:
        """Forget endpoints and regions no project uses any more."""
        keep = {(t.endpoint, t.region) for t in projects}
        self._found = {
            key: finding for key, finding in self._found.items() if (key[0], finding.region) in keep
        }

    def _due(self, endpoint: str, api: str, now: float) -> bool:
        found = self._found.get((endpoint, api))
        return found is None or found.published or now - found.at >= RECHECK_AFTER
