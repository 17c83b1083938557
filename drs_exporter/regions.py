"""Huawei Cloud regions where DRS has a public endpoint, how to reach DRS and IAM there, and
which list API Huawei documents in each.
"""

from __future__ import annotations

KNOWN_REGIONS: frozenset[str] = frozenset(
    {
        "cn-north-1",
        "cn-north-2",
        "cn-north-4",
        "cn-north-9",
        "cn-north-11",
        "cn-north-12",
        "cn-east-2",
        "cn-east-3",
        "cn-east-4",
        "cn-east-5",
        "cn-south-1",
        "cn-south-2",
        "cn-south-4",
        "cn-southwest-2",
        "cn-southwest-3",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "af-south-1",
        "af-north-1",
        "sa-brazil-1",
        "la-south-2",
        "la-north-2",
        "na-mexico-1",
        "tr-west-1",
        "eu-west-0",
        "eu-west-101",
        "ru-moscow-1",
        "ru-northwest-2",
        "ae-ad-1",
        "my-kualalumpur-1",
        "me-east-1",
    }
)

# Where Huawei's API reference ("Endpoints", 2025-02) documents each list API. A hint for
# messages and docs only, never a reason to skip asking: documentation lags the cloud, and
# what a region answers is the truth.
DOCUMENTED: dict[str, frozenset[str]] = {
    "v5": frozenset({"cn-south-2", "cn-south-4"}),
    "v3": frozenset(
        {
            "cn-north-1",
            "cn-north-2",
            "cn-north-4",
            "cn-north-9",
            "cn-east-2",
            "cn-east-3",
            "cn-south-1",
            "cn-south-2",
            "cn-southwest-2",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-southeast-3",
            "ap-southeast-4",
            "af-south-1",
            "la-south-2",
            "sa-brazil-1",
            "tr-west-1",
        }
    ),
}


def documented_apis(region: str) -> tuple[str, ...]:
    """The list APIs (``v5``, ``v3``) Huawei documents in ``region``, in that order."""
    return tuple(api for api, regions in DOCUMENTED.items() if region in regions)


def documented_hint(region: str) -> str:
    """What Huawei's documentation says of the region's list APIs, as a clause for a message."""
    apis = documented_apis(region)
    if not apis:
        return f"Huawei documents no DRS list API in {region}"
    return f"Huawei documents {' and '.join(apis)} in {region}"


# eu-west-101 (Dublin) is run from the European site, which has its own domain.
_DOMAINS: dict[str, str] = {"eu-west-101": "myhuaweicloud.eu"}
_DEFAULT_DOMAIN = "myhuaweicloud.com"


def _domain(region: str) -> str:
    return _DOMAINS.get(region, _DEFAULT_DOMAIN)


def drs_endpoint(region: str) -> str | None:
    """The public DRS endpoint of a known region, or None for a region not in the list."""
    if region not in KNOWN_REGIONS:
        return None
    return f"https://drs.{region}.{_domain(region)}"


def iam_endpoint(region: str) -> str:
    """The IAM endpoint that issues project-scoped tokens for ``region``."""
    return f"https://iam.{region}.{_domain(region)}"
