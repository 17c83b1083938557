"""A project's DRS quota: ``GET /v3/{project_id}/quotas``, read defensively.

Huawei's SDK models the answer as ``{"quotas": {"resource": {"type", "min", "max", "quota",
"used"}}}``: one resource object. Other Huawei services answer with a ``resources`` list, and
DRS may too: both are read. A resource without a type, or a figure that is not a number,
gives nothing for it (never a made-up 0); an answer without ``quotas`` is ApiError(decode).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .auth import Authenticator
from .batch import figure
from .client import DrsClient
from .config import Target
from .errors import ApiError
from .model import label_value

QUOTAS_API = "v3_quotas"  # how the call is counted in drs_api_requests_total
MAX_RESOURCES = 100  # a hostile answer must not make a series per entry of a huge list

# resource type -> (used, quota)
Quota = Mapping[str, tuple[float | None, float | None]]


async def fetch_quota(client: DrsClient, target: Target, auth: Authenticator) -> Quota:
    """The project's quota by resource type; ApiError when the request or its answer fails."""
    path = f"/v3/{target.project_id}/quotas"
    return read_quota(await client.call(target, auth, QUOTAS_API, "GET", path), QUOTAS_API)


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
