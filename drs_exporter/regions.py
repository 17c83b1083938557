"""Huawei Cloud regions where DRS has a public endpoint, and how to reach DRS and IAM there."""

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
