"""The simulated IAM project list: ``GET /v3/auth/projects``, and the projects it knows.

The account (``GET /v3/auth/domains``) is one, whose id an AK/SK caller of a global service
names in ``X-Domain-Id``.

Every project of the world is listed, named after a region as IAM names them: a region's
system project carries the region's name, a subproject ``{region}_{name}``. Beside them
IAM lists what a real account has too and DRS must never be asked about: ``MOS`` (OBS's
own project) and a disabled project. Projects can be added and removed at run time
(``/_sim/projects``), and the list made to fail (``/_sim/iam``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

REGIONS = ("ap-southeast-1", "cn-north-4", "cn-south-2")
# The names of the world's projects, in order: regions and subprojects mixed.
NAMES = (
    "ap-southeast-1",
    "cn-north-4",
    "ap-southeast-1_team",
    "cn-south-2",
    "cn-north-4_team",
)
DOMAIN_ID = "0" * 32  # the account, as the simulated IAM's tokens name it too
DISABLED_REGION = "cn-east-3"


@dataclass(frozen=True, slots=True)
class IamProject:
    """A project as IAM lists it."""

    id: str
    name: str
    enabled: bool = True


def _project_id(name: str) -> str:
    """A stable 32-hex-digit id for a project that has no jobs."""
    return hashlib.sha256(f"iam-project/{name}".encode()).hexdigest()[:32]


def world_name(index: int) -> str:
    """The IAM name of the world's ``index``-th project."""
    if index < len(NAMES):
        return NAMES[index]
    return f"{REGIONS[index % len(REGIONS)]}_team{index}"


class Projects:
    """The projects IAM lists, and whether listing them fails for now."""

    def __init__(self, world_project_ids: list[str]) -> None:
        self._projects: dict[str, IamProject] = {}
        for i, pid in enumerate(world_project_ids):
            self._projects[pid] = IamProject(pid, world_name(i))
        for extra in (
            IamProject(_project_id("MOS"), "MOS"),
            IamProject(_project_id(DISABLED_REGION), DISABLED_REGION, enabled=False),
        ):
            self._projects[extra.id] = extra
        self.fail_status: int | None = None  # the status IAM answers with for now

    def all(self) -> list[IamProject]:
        return list(self._projects.values())

    def add(self, name: str, project_id: str | None = None, enabled: bool = True) -> IamProject:
        """Add (or replace) a project; without an id, one is made from the name."""
        project = IamProject(project_id or _project_id(name), name, enabled)
        self._projects[project.id] = project
        return project

    def remove(self, project_id: str) -> bool:
        return self._projects.pop(project_id, None) is not None

    def listing(self, base_url: str) -> dict[str, Any]:
        """The body of ``GET /v3/auth/projects``, as IAM's reference shows it."""
        by_name = {p.name: p.id for p in self._projects.values()}
        url = f"{base_url}/v3/auth/projects"
        projects = []
        for p in self._projects.values():
            # A subproject's parent is its region's project; a region's, the account.
            region, sub, _ = p.name.partition("_")
            parent = by_name.get(region, DOMAIN_ID) if sub else DOMAIN_ID
            projects.append(
                {
                    "is_domain": False,
                    "description": "",
                    "links": {"self": f"{base_url}/v3/projects/{p.id}"},
                    "enabled": p.enabled,
                    "id": p.id,
                    "parent_id": parent,
                    "domain_id": DOMAIN_ID,
                    "name": p.name,
                }
            )
        return {"links": {"self": url, "previous": None, "next": None}, "projects": projects}

    def domains(self, base_url: str, name: str) -> dict[str, Any]:
        """The body of ``GET /v3/auth/domains``: the one account."""
        return {
            "domains": [
                {
                    "id": DOMAIN_ID,
                    "name": name,
                    "enabled": True,
                    "description": "",
                    "links": {"self": f"{base_url}/v3/domains/{DOMAIN_ID}"},
                }
            ],
            "links": {"self": f"{base_url}/v3/auth/domains"},
        }
