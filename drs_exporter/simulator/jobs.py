"""The simulated jobs: what a job is made of, how a world's jobs are generated, their JSON.

Everything is determined by the seed. A job is generated once as a compact record of what
listings filter and sort on; its JSON object is built only when it is listed, the fields
nobody filters on taken from a hash of the job's key.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import uuid
from collections.abc import Mapping
from typing import Any, NamedTuple

from ..model import JOB_TYPES, label_value, parse_time
from .engines import V5, Catalogue, listed_by
from .lifecycle import CHAINS, START, Timeline, Weighted, hash64
from .options import SimulatorOptions

MISSING: Any = object()  # a job whose JSON has no status at all

NET_TYPES: Mapping[str, Weighted] = {
    "migration": Weighted.of({"eip": 3, "vpc": 5, "vpn": 2}),
    "sync": Weighted.of({"eip": 3, "vpc": 5, "vpn": 2}),
    "cloudDataGuard": Weighted.of({"eip": 3, "vpn": 2}),  # DR cannot use a VPC network
}
TASK_TYPES: Mapping[str, Weighted] = {
    "migration": Weighted.of({"FULL_INCR_TRANS": 6, "FULL_TRANS": 3, "INCR_TRANS": 1}),
    "sync": Weighted.of({"FULL_INCR_TRANS": 6, "FULL_TRANS": 1, "INCR_TRANS": 3}),
    "cloudDataGuard": Weighted.of({"FULL_INCR_TRANS": 9, "INCR_TRANS": 1}),
}
DIRECTIONS = Weighted.of({"up": 6, "down": 2.5, "non-dbs": 1.5})
DESCRIPTIONS = ("", "nightly replication", "迁移到云", "owner: dba-team", 'tag "blue"')
# Names that have broken exporters before: quotes, backslashes, unicode, braces, newlines.
ODD_NAMES = (
    'quote"d-{n}',
    "back\\slash-{n}",
    "迁移任务-{n}",
    "émoji-🚀-{n}",
    "with space {n}",
    "apostrophe's-{n}",
    'brace{{x="1"}}-{n}',
    "trailing-newline-{n}\n",
)
ACTIONS = (
    "CHANGE", "CLONE", "DELETE", "FREE_RESOURCE", "MODIFY_CONFIGURATION", "PAUSE",
    "PRE_CHECK", "QUERY_PRE_CHECK", "RESET", "RETRY", "START", "STOP_JOB", "SWITCH_OVER",
)  # fmt: skip
# Optional fields that a job may lack, or carry as null.
OPTIONAL = (
    "description", "create_time", "engine_type", "net_type", "charging_mode", "billing_tag",
    "job_direction", "task_type", "enterprise_project_id", "job_mode", "job_mode_role",
    "is_multi_az", "node_role", "node_new_framework", "job_action",
)  # fmt: skip
ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
SPACE_FORMAT = "%Y-%m-%d %H:%M:%S"
# How a job without subtasks shows it: "children": [], "children": null, or no key.
CHILDREN_LIST, CHILDREN_NULL, CHILDREN_ABSENT = 0, 1, 2


class SimJob(NamedTuple):
    """One job or subtask: what listings filter and sort on, and how to build its JSON.

    A NamedTuple rather than a frozen dataclass: a world builds tens of thousands of
    these at start, and a tuple is several times cheaper to construct.

    A blanked field (absent from the JSON, or null) reads "" here. A job added by a test
    carries its JSON in ``raw`` and its status in ``fixed_status`` (no timeline).
    ``engine_type`` is the engine's name in v5 answers, ``v3_engine_type`` in v3 ones;
    ``apis`` the list APIs that list the job (a subtask is listed with its parent).
    """

    key: int  # unique in the world; seeds the job's timeline and its rendered extras
    id: str
    project_id: str
    job_type: str
    timeline: Timeline | None
    children: tuple[SimJob, ...] = ()
    name: str = ""
    created: float = 0.0  # Unix seconds; 0 when unknown
    iso_time: bool = True  # create_time as 2022-11-07T16:15:18Z, else 2020-12-21 10:57:49
    engine_type: str = ""
    net_type: str = ""
    charging_mode: str = ""
    job_direction: str = ""
    task_type: str = ""
    enterprise_project_id: str = ""
    job_mode: str = ""
    job_mode_role: str = ""
    source: tuple[str, str] = ("", "")  # source database instance (id, ip)
    target: tuple[str, str] = ("", "")
    absent: frozenset[str] = frozenset()
    nulled: frozenset[str] = frozenset()
    children_form: int = CHILDREN_LIST
    raw: Mapping[str, Any] | None = None
    fixed_status: Any = MISSING
    v3_engine_type: str = ""
    apis: frozenset[str] = frozenset({V5})

    def selected_by_instance(self, ids: frozenset[str], ip: str | None) -> bool:
        if ids and self.source[0] not in ids and self.target[0] not in ids:
            return False
        return ip is None or ip in (self.source[1], self.target[1])


def _modes(record: dict[str, Any], mode: str, role: str) -> dict[str, Any]:
    blank = record["absent"] | record["nulled"]
    record["job_mode"] = "" if "job_mode" in blank else mode
    record["job_mode_role"] = "" if "job_mode_role" in blank else role
    return record


class _Generator:
    """Builds the initial jobs from one seeded random.Random, in a fixed order."""

    def __init__(self, options: SimulatorOptions, start: float) -> None:
        self.options = options
        self.start = start
        self.rng = random.Random(options.seed)
        self.key = 0
        self.ids: set[str] = set()
        self.enterprise_projects = ("0", "0", "0", self._uuid(), self._uuid())
        self.engines = Catalogue(options.apis, options.v3_lists, options.v5_lists)

    def hex(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def _uuid(self) -> str:
        h = self.hex(32)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def job_id(self) -> str:
        # DRS ids look like c7debc9c-8e09-4a5d-8dd6-cc44f78jb20r.
        while True:
            job_id = f"{self._uuid()[:-5]}jb20{'r12'[int(self.rng.random() * 3)]}"
            if job_id not in self.ids:
                self.ids.add(job_id)
                return job_id

    def instance(self) -> tuple[str, str]:
        ip = self.rng.getrandbits(16)
        return self.hex(32) + "in01", f"192.168.{ip >> 8}.{(ip & 0xFF) or 1}"

    def name(self, n: int) -> str:
        r = self.rng.random()
        if r < 0.08:
            return ODD_NAMES[int(r / 0.01)].format(n=n)
        if r < 0.085:
            return "long-name-" + "x" * 300  # beyond any sane label length
        if r < 0.7:
            return f"DRS-{n}"
        return f"{('mysql', 'redis', 'ora')[int(r * 1000) % 3]}-{n}"

    def blanks(self) -> tuple[frozenset[str], frozenset[str]]:
        """Which optional fields this job lacks, and which it sends as null."""
        r = self.rng.random
        if r() >= 0.1:
            return frozenset(), frozenset()
        absent: set[str] = set()
        nulled: set[str] = set()
        for _ in range(1 + int(r() * 2)):
            field = OPTIONAL[int(r() * len(OPTIONAL))]
            (absent if r() < 0.5 else nulled).add(field)
        return frozenset(absent), frozenset(nulled - absent)

    def next_key(self) -> int:
        self.key += 1
        return self.key - 1

    def record(
        self, n: int, project_id: str, job_type: str, task_type: str, created: float
    ) -> dict[str, Any]:
        """The filterable fields of one job, blanks applied."""
        r = self.rng.random
        absent, nulled = self.blanks()
        blank = absent | nulled
        engine = self.engines.pick(job_type, r())
        values = {
            "engine_type": engine.v5_name,
            "v3_engine_type": engine.v3_name,
            "net_type": NET_TYPES[job_type].pick(r()),
            "charging_mode": "period" if r() < 0.2 else "on_demand",
            "job_direction": DIRECTIONS.pick(r()),
            "task_type": task_type,
            "enterprise_project_id": self.enterprise_projects[int(r() * 5)],
        }
        for name in blank.intersection(values):
            values[name] = ""
        if "engine_type" in blank:
            values["v3_engine_type"] = ""
        return {
            "id": self.job_id(),
            "project_id": project_id,
            "job_type": job_type,
            "name": self.name(n),
            "created": 0.0 if "create_time" in blank else created,
            "iso_time": r() < 0.5,
            "source": self.instance(),
            "target": self.instance(),
            "absent": absent,
            "nulled": nulled,
            "apis": listed_by(engine, self.options.v3_lists, self.options.v5_lists),
            **values,
        }

    def job(self, n: int, project_id: str, job_type: str) -> SimJob:
        r = self.rng.random
        task_type = TASK_TYPES[job_type].pick(r())
        # Only many-to-one migrations and syncs have subtasks; DR pairs a master and a slave.
        with_children = r() < self.options.children_ratio and job_type != "cloudDataGuard"
        if job_type == "cloudDataGuard":
            mode, role = "single", ("master", "slave")[int(r() * 2)]
        elif with_children:
            mode, role = "multi_to_single", "parent"
        else:
            mode, role = "single", ("parent", "parent", "")[int(r() * 3)]
        created = float(math.floor(self.start - 60 - r() * 90 * 86400))
        record = self.record(n, project_id, job_type, task_type, created)
        key = self.next_key()
        # The first job starts failed, so a demo shows a failed job at once.
        start = "START_JOB_FAILED" if n == 0 else START[task_type].pick(r())
        children: tuple[SimJob, ...] = ()
        form = CHILDREN_LIST
        if with_children:
            children = tuple(
                self.child(n, i, record, task_type, created) for i in range(1 + int(r() * 4))
            )
        else:
            u = r()
            form = CHILDREN_LIST if u < 0.6 else CHILDREN_NULL if u < 0.8 else CHILDREN_ABSENT
        return SimJob(
            key=key,
            timeline=self.timeline(key, task_type, start),
            children=children,
            children_form=form,
            **_modes(record, mode, role),
        )

    def child(
        self, n: int, i: int, parent: Mapping[str, Any], task_type: str, parent_created: float
    ) -> SimJob:
        created = parent_created + math.floor(self.rng.random() * 3600)
        record = self.record(n, parent["project_id"], parent["job_type"], task_type, created)
        record["name"] = f"{parent['name'] or 'DRS'}-sub{i}"
        # A subtask runs its parent's engine and is listed with it.
        for name in ("engine_type", "v3_engine_type", "apis"):
            record[name] = parent[name]
        key = self.next_key()
        start = START["child"].pick(self.rng.random())
        return SimJob(
            key=key,
            timeline=self.timeline(key, "child", start),
            children_form=CHILDREN_ABSENT,  # subtasks have no subtasks of their own
            **_modes(record, "multi_to_single", "child"),
        )

    def timeline(self, key: int, chain: str, start: str) -> Timeline:
        return Timeline(self.options.seed, key, CHAINS[chain], start, self.options.status_period)


def generate(options: SimulatorOptions, start: float) -> tuple[list[str], list[SimJob]]:
    """The projects and top-level jobs of a fresh world, spread evenly over them (over the
    job types that an API the region publishes can list)."""
    gen = _Generator(options, start)
    projects = [gen.hex(32) for _ in range(options.projects)]
    buckets = [(p, t) for p in projects for t in JOB_TYPES if gen.engines.has(t)]
    base, extra = divmod(options.jobs, max(1, len(buckets)))
    jobs: list[SimJob] = []
    for i, (project_id, job_type) in enumerate(buckets):
        for _ in range(base + (1 if i < extra else 0)):
            jobs.append(gen.job(len(jobs), project_id, job_type))
    return projects, jobs


def _job_action(rng: random.Random) -> dict[str, Any]:
    available = sorted(rng.sample(ACTIONS, rng.randrange(1, 5)))
    return {
        "available_actions": available,
        "unavailable_actions": [a for a in ACTIONS if a not in available],
        "current_action": rng.choice((None, None, "START", "CHANGE")),
    }


def _job_actions() -> tuple[dict[str, Any], ...]:
    rng = random.Random(0)
    return tuple(_job_action(rng) for _ in range(16))


# A few job_action objects to share: building one per listed job would dominate listing.
JOB_ACTIONS = _job_actions()


def render(job: SimJob, seed: int, status: Any) -> dict[str, Any]:
    """The JSON object of a generated job (children aside), as DRS would send it."""
    # Fields nobody filters on come from bits of one hash of the job: the same every time.
    bits = hash64(seed, job.key)
    created = dt.datetime.fromtimestamp(job.created, dt.timezone.utc)
    obj: dict[str, Any] = {
        "id": job.id,
        "name": job.name,
        "status": status,
        "description": DESCRIPTIONS[(bits & 0xFF) % len(DESCRIPTIONS)],
        "create_time": created.strftime(ISO_FORMAT if job.iso_time else SPACE_FORMAT),
        "engine_type": job.engine_type,
        "net_type": job.net_type,
        "charging_mode": job.charging_mode,
        "billing_tag": bool(bits >> 8 & 1),
        "job_direction": job.job_direction,
        "job_type": job.job_type,
        "task_type": job.task_type,
        "enterprise_project_id": job.enterprise_project_id,
        "job_mode": job.job_mode,
        "job_mode_role": job.job_mode_role or None,
        "is_multi_az": (bits >> 9 & 7) == 0,
        "node_role": ("master", "slave", "", "master")[bits >> 12 & 3],
        "node_new_framework": (bits >> 14 & 3) != 0,
        "job_action": JOB_ACTIONS[bits >> 16 & 15],
        # Not in the documented schema: real answers carry extra fields like these.
        "instance_info": {
            "source": {"id": job.source[0], "ip": job.source[1]},
            "target": {"id": job.target[0], "ip": job.target[1]},
        },
        "db_use_type": job.job_type,
    }
    for name in job.absent:
        del obj[name]
    for name in job.nulled:
        obj[name] = None
    if status is MISSING:
        del obj["status"]
    if job.children or job.children_form == CHILDREN_LIST:
        obj["children"] = []
    elif job.children_form == CHILDREN_NULL:
        obj["children"] = None
    return obj


def _raw_instance(raw: Mapping[str, Any], side: str) -> tuple[str, str]:
    info = raw.get("instance_info")
    part = info.get(side) if isinstance(info, Mapping) else None
    if not isinstance(part, Mapping):
        return "", ""
    return label_value(part.get("id")), label_value(part.get("ip"))


def raw_job(
    key: int,
    project_id: str,
    job_type: str,
    raw: Mapping[str, Any],
    children: tuple[SimJob, ...],
    apis: frozenset[str] = frozenset({V5}),
) -> SimJob:
    """A job given as JSON by a test: listed as given by ``apis``, its status fixed unless
    pinned."""
    fields = dict(raw)
    if not label_value(fields.get("id")):
        fields["id"] = str(uuid.uuid4())
    if isinstance(fields.get("children"), list):
        fields["children"] = []  # the subtasks are listed from ``children``
    return SimJob(
        key=key,
        id=label_value(fields["id"]),
        project_id=project_id,
        job_type=job_type,
        timeline=None,
        children=children,
        name=label_value(fields.get("name")),
        created=parse_time(fields.get("create_time")) or 0.0,
        engine_type=label_value(fields.get("engine_type")),
        net_type=label_value(fields.get("net_type")),
        charging_mode=label_value(fields.get("charging_mode")),
        job_direction=label_value(fields.get("job_direction")),
        task_type=label_value(fields.get("task_type")),
        enterprise_project_id=label_value(fields.get("enterprise_project_id")),
        job_mode=label_value(fields.get("job_mode")),
        job_mode_role=label_value(fields.get("job_mode_role")),
        source=_raw_instance(fields, "source"),
        target=_raw_instance(fields, "target"),
        raw=fields,
        fixed_status=fields.get("status", MISSING),
        v3_engine_type=label_value(fields.get("engine_type")),
        apis=apis,
    )
