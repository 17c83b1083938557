"""A project's DRS quota: ``GET /v3/{project_id}/quotas``, read defensively, and kept per
project, asked once a round for all the project's job types.

Huawei's SDK models the answer as ``{"quotas": {"resource": {"type", "min", "max", "quota",
"used"}}}``: one resource object. Other Huawei services answer with a ``resources`` list, and
DRS may too: both are read. A resource without a type, or a figure that is not a number,
gives nothing for it (never a made-up 0); an answer without ``quotas`` is ApiError(decode).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Collection, Mapping
from typing import Any

from ..cloud.auth import Authenticator
from ..cloud.client import DrsClient
from ..config import Project
from ..errors import ApiError
from ..model import label_value
from .batch_calls import figure

log = logging.getLogger(__name__)

QUOTAS_API = "v3_quotas"  # how the call is counted in drs_api_requests_total
QUOTAS_PATH = "/v3/{project_id}/quotas"
MAX_RESOURCES = 100  # a hostile answer must not make a series per entry of a huge list

# resource type -> (used, quota)
Quota = Mapping[str, tuple[float | None, float | None]]


async def fetch_quota(client: DrsClient, project: Project, auth: Authenticator) -> Quota:
    """The project's quota by resource type; ApiError when the request or its answer fails."""
    path = QUOTAS_PATH.format(project_id=project.project_id)
    return read_quota(await client.call(project, auth, QUOTAS_API, "GET", path), QUOTAS_API)


class ProjectQuotas:
    """Each project's quota as last read, by (project_id, region).

    The job types of a project are polled as targets of their own, started together: a
    target shares the request of another of the project's targets that is under way or
    began after its own poll did, so that the quota is asked once a round.
    """

    def __init__(self) -> None:
        self._read: dict[tuple[str, str], Quota] = {}
        # The last request by (project_id, endpoint), with the time it was made.
        self._asks: dict[tuple[str, str], tuple[float, asyncio.Future[Quota | None]]] = {}

    async def refresh(
        self, client: DrsClient, project: Project, auth: Authenticator, started: float, now: float
    ) -> None:
        """Read the quota of ``project`` for a poll that ``started`` (``now`` is the
        same clock's time); a failed answer leaves the project out until one succeeds."""
        ask = (project.project_id, project.endpoint)
        last = self._asks.get(ask)
        if last is None or (last[1].done() and last[0] < started):
            reading = asyncio.ensure_future(_read_or_none(client, project, auth))
            last = self._asks[ask] = (now, reading)
        quota = await asyncio.shield(last[1])
        key = (project.project_id, project.region)
        if quota is None:
            self._read.pop(key, None)
        elif ask in self._asks:  # not dropped by ``retain`` meanwhile
            self._read[key] = quota

    def retain(self, projects: Collection[tuple[str, str]]) -> None:
        """Forget the projects, by (project_id, region), no longer polled."""
        self._read = {p: q for p, q in self._read.items() if p in projects}
        ids = {project_id for project_id, _ in projects}
        self._asks = {a: f for a, f in self._asks.items() if a[0] in ids}

    def of(
        self, projects: Collection[tuple[str, str]]
    ) -> dict[tuple[str, str, str], tuple[float | None, float | None]]:
        """The figures of these projects, by (project_id, region, resource type)."""
        return {
            (project_id, region, resource): figures
            for (project_id, region), quota in self._read.items()
            if (project_id, region) in projects
            for resource, figures in quota.items()
        }


async def _read_or_none(client: DrsClient, project: Project, auth: Authenticator) -> Quota | None:
    """The project's quota; None when it cannot be had (logged), which fails no poll."""
    try:
        return await fetch_quota(client, project, auth)
    except Exception as exc:
        what = str(exc) if isinstance(exc, ApiError) else f"unexpected {type(exc).__name__}"
        log.warning(
            "quota unknown for project_id=%s region=%s this round: %s",
            project.project_id,
            project.region,
            what,
        )
        return None


def read_quota(body: bytes, api: str) -> Quota:
    """A quotas answer's figures by resource type."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError("decode", "answer is not valid JSON", api=api) from None
    quotas = data.get("quotas") if isinstance(data, dict) else None
    if not isinstance(quotas, dict):
        raise ApiError("decode", "answer has no quotas object", api=api)
    found: dict[str, tuple[float | None, float | None]] = {}
    for resource in _resources(quotas)[:MAX_RESOURCES]:
        kind = label_value(resource.get("type"))
        if kind and kind not in found:
            found[kind] = (_count(resource.get("used")), _count(resource.get("quota")))
    return found


def _resources(quotas: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items: list[Any] = []
    for key in ("resource", "resources"):
        value = quotas.get(key)
        items.extend(value if isinstance(value, list) else [value])
    return [item for item in items if isinstance(item, Mapping)]


def _count(value: Any) -> float | None:
    number = figure(value)
    return number if number is not None and number >= 0 else None
