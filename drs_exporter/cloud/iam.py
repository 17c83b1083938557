"""IAM's list of the projects the credentials can reach: asked as Huawei's SDK asks a global
service, and its answer read.

IAM answers ``GET {iam_endpoint}/v3/auth/projects`` ("Querying the List of Projects
Accessible to an IAM User", ``KeystoneListAuthProjects`` in Huawei's SDK) with every
project of the account the caller may use. IAM is a global service: the request carries no
project (no ``X-Project-Id``). Signed with AK/SK, a global service's request names the
account in ``X-Domain-Id``; as Huawei's SDK does, the account id is first asked of IAM
(``GET /v3/auth/domains``, ``KeystoneListAuthDomains``, signed without it) and kept. A
password login asks for a token scoped to the account (domain), the scope Huawei's global
services take.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from ..config import DiscoveryConfig
from ..errors import ApiError
from .auth import AkSkSigner, OnIssued, authenticator
from .client import DrsClient

log = logging.getLogger(__name__)

API = "iam_projects"  # how the project list is counted in drs_api_requests_total
DOMAINS_API = "iam_domains"  # how the account id lookup is counted
DOMAIN_HEADER = "X-Domain-Id"
IAM_REGION = "global"  # the region label of those requests: IAM is one global service
MAX_PAGES = 20  # IAM answers in one page; a runaway "next" link stops here
MAX_PROJECTS = 10_000  # far above any real account
PROJECT_ID = re.compile(r"[A-Za-z0-9_-]+")  # it goes into URL paths as is


@dataclass(frozen=True, slots=True)
class IamProject:
    """A project as IAM lists it."""

    id: str
    name: str
    enabled: bool = True


def decode_projects(body: bytes) -> tuple[list[IamProject], str | None]:
    """The projects of one answer and the ``links.next`` URL, if any; ApiError if unreadable.

    An entry without a text ``id`` and ``name`` is left out; ``enabled`` missing counts as
    enabled (IAM always sends it), anything but ``true`` or ``false`` as disabled.
    """
    try:
        data = json.loads(body)
    except ValueError:
        raise ApiError("decode", "IAM's project list is not JSON", api=API) from None
    if not isinstance(data, dict) or not isinstance(data.get("projects"), list):
        raise ApiError("decode", "IAM's answer has no 'projects' list", api=API)
    projects: list[IamProject] = []
    for item in data["projects"]:
        if not isinstance(item, dict):
            continue
        pid, name, enabled = item.get("id"), item.get("name"), item.get("enabled", True)
        if not isinstance(pid, str) or not isinstance(name, str) or item.get("is_domain") is True:
            continue
        projects.append(IamProject(pid, name, enabled is True))
    links = data.get("links")
    following = links.get("next") if isinstance(links, dict) else None
    return projects, following if isinstance(following, str) and following else None


def decode_domain_id(body: bytes) -> str:
    """The account id from IAM's answer to ``GET /v3/auth/domains``; ApiError if none."""
    try:
        data = json.loads(body)
        domain_id = data["domains"][0]["id"]
    except (ValueError, KeyError, IndexError, TypeError):
        domain_id = None
    if not isinstance(domain_id, str) or not PROJECT_ID.fullmatch(domain_id):
        raise ApiError("decode", "IAM's answer names no account id", api=DOMAINS_API)
    return domain_id


class ProjectLister:
    """Asks IAM for the projects the credentials can reach (one discovery config's worth)."""

    def __init__(
        self,
        discovery: DiscoveryConfig,
        clock: Callable[[], float],
        on_issued: OnIssued | None = None,
    ) -> None:
        assert discovery.credentials is not None, "discovery is enabled only with credentials"
        self.discovery = discovery
        # An account-scoped token where IAM logs in: a project's would not list them all.
        self._auth = authenticator(
            discovery.credentials, None, "", clock, on_issued, discovery.iam_endpoint
        )
        self._base = discovery.iam_endpoint.rstrip("/")
        self._url = self._base + "/v3/auth/projects"
        self._signs = isinstance(self._auth, AkSkSigner)
        self._domain_id: str | None = None  # the account's id, once IAM told it

    async def _headers(self, client: DrsClient) -> dict[str, str]:
        headers = {"Content-Type": "application/json;charset=utf8"}
        if self._signs:
            if self._domain_id is None:
                body = await client.request(
                    IAM_REGION,
                    self._auth,
                    DOMAINS_API,
                    "GET",
                    self._base + "/v3/auth/domains",
                    {"Content-Type": "application/json;charset=utf8"},
                )
                self._domain_id = decode_domain_id(body)
            headers[DOMAIN_HEADER] = self._domain_id
        return headers

    async def projects(self, client: DrsClient) -> list[IamProject]:
        """Every project IAM lists, following ``links.next`` on IAM's own host only."""
        headers = await self._headers(client)
        origin = urlsplit(self._url)[:2]
        following: str | None = self._url
        visited: set[str] = set()
        projects: list[IamProject] = []
        while following is not None and following not in visited:
            if len(visited) == MAX_PAGES:
                raise ApiError("decode", f"IAM's project list runs over {MAX_PAGES} pages", api=API)
            visited.add(following)
            parts = urlsplit(following)
            if parts[:2] != origin:
                log.warning("IAM's next link leads to another host: not followed")
                break
            body = await client.request(
                IAM_REGION,
                self._auth,
                API,
                "GET",
                f"{parts.scheme}://{parts.netloc}{parts.path}",
                headers,
                parse_qsl(parts.query, keep_blank_values=True),
            )
            page, following = decode_projects(body)
            projects.extend(page)
            if len(projects) > MAX_PROJECTS:
                raise ApiError("decode", f"IAM lists over {MAX_PROJECTS} projects", api=API)
        return projects
