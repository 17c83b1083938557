"""Which engines a simulated world's jobs run, and which list API (v5, v3 or both) lists each.

As in the real cloud: the v5 listing covers only synchronization from MySQL to MySQL,
migration from Redis (or Redis Cluster) to GeminiDB Redis and synchronization from Oracle to
GaussDB Distributed; the v3 listing covers the other engines, and also MySQL-to-MySQL sync,
which the two APIs name differently (``mysql-to-mysql`` in v5, ``mysql`` in v3). Whether v3
also lists the other three v5 engines is not documented: ``v3_lists`` says (``own``: no,
``all``: yes, under the same names). Nor is it certain that v5 refuses other engines' jobs
rather than listing them too: ``v5_lists`` ``all`` makes it list every job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from ..list_apis import V3_JOBS, V5_JOBS
from .lifecycle import Weighted

V5, V3 = V5_JOBS.name, V3_JOBS.name
APIS = (V5, V3)
LISTS = ("own", "all")  # the values of v3_lists and v5_lists


class Engine(NamedTuple):
    """One engine: its name in each API's answers, and the APIs that list its jobs natively."""

    v5_name: str
    v3_name: str
    apis: frozenset[str]


def _v5(name: str) -> Engine:
    return Engine(name, name, frozenset({V5}))


def _v3(name: str) -> Engine:
    return Engine(name, name, frozenset({V3}))


MYSQL_SYNC = Engine("mysql-to-mysql", "mysql", frozenset(APIS))

# Per job type, the engines with their weights in a generated world: every job type has
# v3-only jobs, migration and sync have v5-only ones, and sync has doubly listed ones.
ENGINES: Mapping[str, tuple[tuple[Engine, float], ...]] = {
    "migration": (
        (_v5("redis-to-gaussredis"), 3),
        (_v5("rediscluster-to-gaussredis"), 2),
        (_v3("mysql"), 3),
        (_v3("mongodb"), 1),
    ),
    "sync": (
        (_v5("oracle-to-gaussdbv5"), 3),
        (MYSQL_SYNC, 3),
        (_v3("mysql-to-kafka"), 1),
        (_v3("postgresql"), 1),
        (_v3("gaussdbv5"), 1),
        (_v3("mongodb"), 0.5),
        (_v3("taurus-to-kafka"), 0.5),
    ),
    "cloudDataGuard": (
        (_v3("cloudDataGuard-mysql"), 4),
        (_v3("cloudDataGuard-mysql-to-taurus"), 1),
        (_v3("cloudDataGuard-taurus-to-mysql"), 0.5),
    ),
}


def listed_by(engine: Engine, v3_lists: str, v5_lists: str = "own") -> frozenset[str]:
    """The APIs that list a job of this engine: its own, plus each API whose ``*_lists`` is
    ``all``."""
    extra = {api for api, lists in ((V3, v3_lists), (V5, v5_lists)) if lists == "all"}
    return engine.apis | extra


def api_set(apis: Any) -> frozenset[str]:
    """A set of list API names from a test's JSON; ValueError unless a non-empty list."""
    if not isinstance(apis, (list, tuple)) or not apis or not set(apis) <= set(APIS):
        raise ValueError(f"apis must be a non-empty list of {', '.join(APIS)}")
    return frozenset(apis)


class Catalogue:
    """The engines of one region's jobs: those listed by an API the region publishes."""

    def __init__(
        self, published: Iterable[str], v3_lists: str = "own", v5_lists: str = "own"
    ) -> None:
        self._published = frozenset(published)
        self._lists = (v3_lists, v5_lists)
        self._by_key: dict[str, dict[str, Engine]] = {}
        self._picks: dict[str, Weighted] = {}
        for job_type, engines in ENGINES.items():
            kept = {f"{e.v5_name}/{e.v3_name}": (e, w) for e, w in engines if self.listed_by(e)}
            if kept:
                self._by_key[job_type] = {key: e for key, (e, _) in kept.items()}
                self._picks[job_type] = Weighted.of({key: w for key, (_, w) in kept.items()})

    def listed_by(self, engine: Engine) -> frozenset[str]:
        """The APIs of this region that list a job of this engine."""
        return listed_by(engine, *self._lists) & self._published

    def has(self, job_type: str) -> bool:
        """Whether jobs of this type can be listed in this region at all."""
        return job_type in self._picks

    def pick(self, job_type: str, u: float) -> Engine:
        """The engine that the uniform draw ``u`` falls on, for a job of ``job_type``."""
        return self._by_key[job_type][self._picks[job_type].pick(u)]
