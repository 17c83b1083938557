"""The ``check`` command: what discovery found, then one request per target and list API.

It prints two tables: the projects discovery found (when it is on), with the region, DRS
endpoint and list APIs of each, then one row per (project, job type, list API) with what
the API answered. It exits non-zero when discovery or a target failed, and when there was
no target to ask (then a line says why, instead of a table without rows).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Sequence

from .config import Config
from .errors import ApiError
from .exporter import Exporter
from .list_apis import documented_apis, documented_hint
from .logs import SecretFilter
from .polling import discovered
from .polling.discovered import Found
from .polling.sharding import Shard
from .polling.snapshot import TargetKey


def _print_discovery(found: list[Found], config: Config) -> None:
    """What discovery found, before the per-target rows."""
    made = {p.project_id: p for p in discovered.projects(found, config.discovery, ())}
    explicit = {t.project_id for t in config.targets}
    rows = [("DISCOVERED PROJECT", "NAME", "REGION", "DRS ENDPOINT", "APIS")]
    for f in found:
        project = made[f.project.id]
        if f.project.id in explicit:
            apis = "as its configured target says"
        elif project.auto_apis:
            # Which ones answer shows in the rows below; this is what the documentation says.
            documented = ", ".join(documented_apis(f.region)) or "none"
            apis = f"auto (documented here: {documented})"
        else:
            apis = ", ".join(project.apis)
        rows.append((f.project.id, f.project.name, f.region, f.endpoint, apis))
    if found:
        _print_rows(rows)
    print(f"discovery found {len(found)} projects\n")


def _nothing_to_check(config: Config, shard: Shard, discovery_failed: str | None) -> str:
    """Why no request was made, in a line."""
    if discovery_failed is not None and not config.targets:
        return f"discovery failed ({discovery_failed}) and the config lists no targets"
    if shard.total > 1:
        return f"shard {shard.index} of {shard.total} has none of the targets"
    # The config lists targets, or discovery is on: so discovery found nothing to poll.
    return (
        "discovery found no project to poll: IAM lists only the projects where the user "
        "holds a permission, and discovery's regions and exclusions leave some out "
        "(--log.level debug says why for each)"
    )


def _print_rows(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])


async def check(config: Config, shard: Shard, secret_filter: SecretFilter) -> int:
    """Validate, then one request per target and list API; print the table; 0 if all answered."""
    rows: list[tuple[str, ...]] = [
        ("PROJECT", "REGION", "JOB TYPE", "API", "RESULT", "JOBS", "TIME")
    ]
    keys: set[TargetKey] = set()
    listed: set[TargetKey] = set()  # targets with a list API that answered
    failed: set[TargetKey] = set()  # targets with a list API that failed
    # One request per target and list API, as the command promises: no retries.
    config = dataclasses.replace(config, poll=dataclasses.replace(config.poll, retries=0))
    async with Exporter(config, shard=shard, secret_filter=secret_filter) as exp:
        discovery_failed = None  # why, redacted: a server may echo a token
        if config.discovery.enabled:
            found = await exp.discover()
            if isinstance(found, ApiError):
                discovery_failed = exp.redact(str(found))
                print(f"discovery failed: {discovery_failed}")
            else:
                _print_discovery(found, config)
        for polled, api, probe in exp.probes():
            key = polled.key
            keys.add(key)
            started = time.monotonic()
            try:
                total = (await probe()).total
                result, jobs = "answered", str(total)
                listed.add(key)
            except ApiError as exc:
                jobs = "-"
                if exc.unpublished:
                    result = f"not published in this region ({documented_hint(key.region)})"
                    if not polled.project.auto_apis:
                        result += "; targets[].apis requires it"
                        failed.add(key)
                else:
                    result = exp.redact(str(exc))  # a server may echo a token
                    failed.add(key)
            elapsed = f"{time.monotonic() - started:.2f}s"
            rows.append((key.project_id, key.region, key.job_type, api, result, jobs, elapsed))
    if not keys:  # a table without rows would say nothing
        why = _nothing_to_check(config, shard, discovery_failed)
        print(f"nothing to check: {why}", file=sys.stderr)
        return 1
    _print_rows(rows)
    # A discovered project in a region without a list API is left out when served, not
    # failed; a configured target must have one.
    configured = {t.project_id for t in config.targets}
    ok = not failed and all(k in listed for k in keys if k.project_id in configured)
    verdict = "every target answered" if ok else "some targets failed"
    if discovery_failed is not None:
        verdict = f"discovery failed; {verdict}"
        ok = False
    print(verdict, file=sys.stderr)
    return 0 if ok else 1
