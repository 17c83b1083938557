"""What the simulator is told: its world, its credentials and its faults, and their flags.

This file is long because each option is declared, checked and given its flag here, in one
place, so that the command line, ``POST /_sim/faults`` and embedders agree.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field, fields

from ..errors import ConfigError
from ..polling.counters import DRS_API_NAMES
from .engines import APIS, LISTS

RATE_FIELDS = ("error_rate", "throttle_rate", "hang_rate", "malformed_rate", "garble_rate")
# The faults of a hostile or broken server in between, on every request they hit: what an
# exporter must survive without the memory or the time it is given running out.
HOSTILE_FIELDS = ("gzip_bomb_mib", "lying_total", "endless_pages", "redirect", "header_padding")
# Options that POST /_sim/faults may change while the simulator runs.
FAULT_FIELDS = (
    *RATE_FIELDS,
    "latency",
    "retry_after",
    "hang",
    *HOSTILE_FIELDS,
    "fault_apis",
    "fault_projects",
)
MAX_BOMB_MIB = 16 * 1024  # 16 GiB inflated, about 16 MiB on the wire
MAX_HEADER_PADDING = 1 << 20


@dataclass(frozen=True)
class SimulatorOptions:
    """Everything the simulator can be asked for; defaults give a small, healthy world."""

    seed: int = 1
    projects: int = 3
    jobs: int = 60  # top-level jobs, spread evenly over projects x the three job types
    children_ratio: float = 0.1  # share of migration and sync jobs that have subtasks
    page_cap: int = 0  # 0: no cap; else at most this many jobs per page, whatever limit says
    latency: float = 0.0  # seconds from each API request to its answer, at the least
    # Work on each answer only once its latency is over, in turn, as one server working
    # through its queue: the answers to a burst then wait for each other's work.
    one_worker: bool = False
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    iam_domain: str | None = None
    iam_user: str | None = None
    iam_password: str | None = field(default=None, repr=False)
    token_ttl: float = 86400.0  # seconds an issued IAM token lives
    status_period: float = 30.0  # mean seconds in a transient status; 0 freezes statuses
    error_rate: float = 0.0
    throttle_rate: float = 0.0
    hang_rate: float = 0.0
    malformed_rate: float = 0.0
    retry_after: float | None = 1.0  # Retry-After on 429, seconds; None: no header
    hang: float = 60.0  # seconds a hanging request waits before it answers
    garble_rate: float = 0.0  # share of batch-progress results in shapes the SDK cannot parse
    v3_lists: str = "own"  # "all": the v3 listing lists the v5-only engines' jobs too
    v5_lists: str = "own"  # "all": the v5 listing lists every job (beyond what is documented)
    # The list APIs the simulated region publishes; the calls of another answer 404
    # APIGW.0101, as Huawei's gateway answers an API it does not publish.
    apis: tuple[str, ...] = APIS
    batch_cap: int = 0  # most job ids in one batch request; 0: no cap
    batch_answer_cap: int = 0  # most results a batch answer holds, silently; 0: no cap
    compact: bool = False  # jobs with only id, name, status, create_time, engine and net type
    # Hostile answers. A gzip bomb: every answer compressed, after this many MiB of spaces
    # (valid JSON for whoever inflates it all); 0: off.
    gzip_bomb_mib: int = 0
    lying_total: int | None = None  # the total every listing says, whatever it holds
    endless_pages: bool = False  # listings answer their first page for every page, no total
    redirect: int = 0  # answer with this 3xx status, to the same URL on https; 0: off
    header_padding: int = 0  # bytes of an extra header on every answer; 0: off
    fault_apis: tuple[str, ...] = ()  # the APIs the faults hit; empty: every one
    fault_projects: tuple[str, ...] = ()  # the projects the faults hit; empty: every one

    def __post_init__(self) -> None:
        check_options(self)

    @property
    def aksk(self) -> bool:
        return self.access_key is not None

    @property
    def iam(self) -> bool:
        return self.iam_domain is not None

    @property
    def needs_auth(self) -> bool:
        """With no credential option at all, the simulator accepts every request."""
        return self.aksk or self.iam or self.token is not None

    def hits(self, api: str, project_id: str) -> bool:
        """Whether the faults hit a request to ``api`` of this project."""
        return (not self.fault_apis or api in self.fault_apis) and (
            not self.fault_projects or project_id in self.fault_projects
        )


def check_options(o: SimulatorOptions) -> None:
    """Raise ConfigError naming the flag of the first bad option; never quotes a secret."""
    if o.projects < 1:
        raise ConfigError("--projects", "must be at least 1")
    if o.jobs < 0:
        raise ConfigError("--jobs", "must not be negative")
    if o.page_cap < 0:
        raise ConfigError("--page-cap", "must not be negative")
    if o.batch_answer_cap < 0:
        raise ConfigError("--batch-answer-cap", "must not be negative")
    if o.batch_cap < 0:
        raise ConfigError("--batch-cap", "must not be negative")
    if not o.apis or not set(o.apis) <= set(APIS) or len(set(o.apis)) != len(o.apis):
        raise ConfigError("--apis", f"must be one or both of {', '.join(APIS)}, comma-separated")
    for name in ("v3_lists", "v5_lists"):
        if getattr(o, name) not in LISTS:
            raise ConfigError(_flag(name), f"must be one of {', '.join(LISTS)}")
    if not 0.0 <= o.children_ratio <= 1.0:
        raise ConfigError("--children-ratio", "must be between 0 and 1")
    unknown = sorted(set(o.fault_apis) - set(DRS_API_NAMES))
    if unknown:
        raise ConfigError(
            "--fault-apis", f"unknown API {unknown[0]!r}: one of {', '.join(DRS_API_NAMES)}"
        )
    if not all(o.fault_projects):
        raise ConfigError("--fault-projects", "project ids must not be empty")
    for name in RATE_FIELDS:
        if not 0.0 <= getattr(o, name) <= 1.0:
            raise ConfigError(_flag(name), "must be between 0 and 1")
    if not 0 <= o.gzip_bomb_mib <= MAX_BOMB_MIB:
        raise ConfigError("--gzip-bomb-mib", f"must be from 0 to {MAX_BOMB_MIB}")
    if o.redirect != 0 and not 300 <= o.redirect <= 399:
        raise ConfigError("--redirect", "must be a 3xx status (301, 302, 307, 308) or 0")
    if not 0 <= o.header_padding <= MAX_HEADER_PADDING:
        raise ConfigError("--header-padding", f"must be from 0 to {MAX_HEADER_PADDING} bytes")
    for name in ("latency", "hang", "status_period"):
        if not _finite_non_negative(getattr(o, name)):
            raise ConfigError(_flag(name), "must be a non-negative number of seconds")
    if not _finite_non_negative(o.token_ttl) or o.token_ttl == 0:
        raise ConfigError("--token-ttl", "must be a positive number of seconds")
    if o.retry_after is not None and not _finite_non_negative(o.retry_after):
        raise ConfigError("--retry-after", "must be a non-negative number of seconds or 'none'")
    if (o.access_key is None) != (o.secret_key is None):
        raise ConfigError("--access-key", "--access-key and --secret-key go together")
    iam = (o.iam_domain, o.iam_user, o.iam_password)
    if any(v is not None for v in iam) and not all(v is not None for v in iam):
        raise ConfigError("--iam-domain", "--iam-domain, --iam-user and --iam-password go together")
    for name in ("access_key", "secret_key", "token", "iam_domain", "iam_user", "iam_password"):
        if getattr(o, name) == "":
            raise ConfigError(_flag(name), "must not be empty")


def _finite_non_negative(value: float) -> bool:
    return math.isfinite(value) and value >= 0


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not _finite_non_negative(value):
        raise argparse.ArgumentTypeError(f"must be a non-negative number: {text!r}")
    return value


def _rate(text: str) -> float:
    value = _non_negative_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {text!r}")
    return value


def _retry_after(text: str) -> float | None:
    return None if text.strip().lower() == "none" else _non_negative_float(text)


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _total(text: str) -> int:
    try:
        return int(float(text)) if "e" in text.lower() else int(text)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _apis(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(","))
    if not names or not set(names) <= set(APIS) or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"one or both of {', '.join(APIS)}: {text!r}")
    return names


def _secret(text: str) -> str:
    # The error never quotes the value: it is a credential.
    if not text:
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every simulator flag to ``parser``; the defaults are SimulatorOptions'."""
    d = SimulatorOptions()
    world = parser.add_argument_group("simulated world")
    world.add_argument(
        "--seed", metavar="N", type=int, default=d.seed, help="world seed (default %(default)s)"
    )
    world.add_argument(
        "--projects",
        metavar="N",
        type=_positive_int,
        default=d.projects,
        help="projects (default %(default)s)",
    )
    world.add_argument(
        "--jobs",
        metavar="N",
        type=_non_negative_int,
        default=d.jobs,
        help="top-level jobs over all projects and job types (default %(default)s)",
    )
    world.add_argument(
        "--compact",
        action="store_true",
        help="list each job with only id, name, status, create_time, engine_type, net_type "
        "and children, as a lean server might",
    )
    world.add_argument(
        "--children-ratio",
        metavar="RATIO",
        type=_rate,
        default=d.children_ratio,
        help="share of migration and sync jobs with subtasks (default %(default)s)",
    )
    world.add_argument(
        "--status-period",
        metavar="SECONDS",
        type=_non_negative_float,
        default=d.status_period,
        help="mean seconds a job spends in a transient status; 0 freezes statuses "
        "(default %(default)s)",
    )
    world.add_argument(
        "--page-cap",
        metavar="N",
        type=_non_negative_int,
        default=d.page_cap,
        help="most jobs per page whatever limit (v5) or per_page (v3) asked; 0 = no cap "
        "(default %(default)s)",
    )

    v3 = parser.add_argument_group("which API lists which job; the v3 API")
    v3.add_argument(
        "--v3-lists",
        choices=LISTS,
        default=d.v3_lists,
        help="own: v3 lists MySQL-to-MySQL sync and the engines v5 does not list; all: the "
        "v5-only engines' jobs too (default %(default)s)",
    )
    v3.add_argument(
        "--v5-lists",
        choices=LISTS,
        default=d.v5_lists,
        help="own: v5 lists only its four engines, as documented; all: every job, in case "
        "the real API lists more than it says (default %(default)s)",
    )
    v3.add_argument(
        "--apis",
        metavar="LIST",
        type=_apis,
        default=d.apis,
        help="the list APIs the region publishes: v5,v3 (as cn-south-2), v3 (as Hong Kong, "
        "Singapore and most regions) or v5 (as cn-south-4); the calls of an API it does not "
        "publish answer 404 APIGW.0101, and its jobs run only engines a published API lists "
        f"(default {','.join(d.apis)})",
    )
    v3.add_argument(
        "--batch-cap",
        metavar="N",
        type=_non_negative_int,
        default=d.batch_cap,
        help="most job ids per batch request, more answer 400 (DR monitoring: 10 at most); "
        "0 = no cap (default %(default)s)",
    )
    v3.add_argument(
        "--batch-answer-cap",
        metavar="N",
        type=_non_negative_int,
        default=d.batch_answer_cap,
        help="answer batch calls for at most N of the ids sent, silently (0: all; default 0)",
    )
    v3.add_argument(
        "--garble-rate",
        metavar="RATE",
        type=_rate,
        default=d.garble_rate,
        help="share of batch-progress results garbled (progress_map as a list, figures as "
        "numbers, 'N/A', out of range) to exercise defensive parsing (default %(default)s)",
    )

    auth = parser.add_argument_group(
        "authentication (none given: every request is accepted)",
        "Credential values are never printed.",
    )
    auth.add_argument("--access-key", type=_secret, metavar="AK", help="verify AK/SK signatures")
    auth.add_argument(
        "--secret-key", type=_secret, metavar="SK", help="secret key for --access-key"
    )
    auth.add_argument("--token", type=_secret, metavar="TOKEN", help="accept this X-Auth-Token")
    auth.add_argument("--iam-domain", type=_secret, metavar="NAME", help="IAM account name")
    auth.add_argument("--iam-user", type=_secret, metavar="NAME", help="IAM user name")
    auth.add_argument("--iam-password", type=_secret, metavar="PASSWORD", help="IAM password")
    auth.add_argument(
        "--token-ttl",
        metavar="SECONDS",
        type=_non_negative_float,
        default=d.token_ttl,
        help="seconds an issued token lives (default %(default)s)",
    )

    faults = parser.add_argument_group(
        "faults (on every DRS API call, v5 and v3; rates are per request, 0 to 1)"
    )
    faults.add_argument(
        "--latency",
        metavar="SECONDS",
        type=_non_negative_float,
        default=d.latency,
        help="seconds from each request to its answer, at the least: the simulator works on "
        "the answer meanwhile, as servers answering side by side (default %(default)s)",
    )
    faults.add_argument(
        "--one-worker",
        action="store_true",
        help="work on each answer only once its latency is over, in turn, as one server "
        "working through its queue: the answers to a burst of requests wait for each "
        "other's work",
    )
    faults.add_argument(
        "--error-rate", metavar="RATE", type=_rate, default=d.error_rate, help="answer 500/502/503"
    )
    faults.add_argument(
        "--throttle-rate",
        metavar="RATE",
        type=_rate,
        default=d.throttle_rate,
        help="answer 429 APIG.0308",
    )
    faults.add_argument(
        "--retry-after",
        metavar="SECONDS",
        type=_retry_after,
        default=d.retry_after,
        help="Retry-After seconds on 429, or 'none' (default %(default)s)",
    )
    faults.add_argument(
        "--hang-rate",
        metavar="RATE",
        type=_rate,
        default=d.hang_rate,
        help="wait --hang seconds, then answer",
    )
    faults.add_argument(
        "--hang",
        metavar="SECONDS",
        type=_non_negative_float,
        default=d.hang,
        help="seconds a hanging request waits (default %(default)s)",
    )
    faults.add_argument(
        "--malformed-rate",
        metavar="RATE",
        type=_rate,
        default=d.malformed_rate,
        help="answer with truncated JSON or an HTML page",
    )
    faults.add_argument(
        "--fault-apis",
        metavar="API,...",
        type=_names,
        default=d.fault_apis,
        help=f"only these APIs get the faults (default: all; names: {', '.join(DRS_API_NAMES)})",
    )
    faults.add_argument(
        "--fault-projects",
        metavar="ID,...",
        type=_names,
        default=d.fault_projects,
        help="only these projects get the faults, the others answer as usual (default: all; "
        "GET /_sim/projects lists the ids)",
    )

    hostile = parser.add_argument_group(
        "a hostile or broken server (on every request the faults hit)",
        "What a proxy, a compromised endpoint or a broken gateway might answer, to try the "
        "exporter's bounds and your alerts on drs_poll_errors_total.",
    )
    hostile.add_argument(
        "--gzip-bomb-mib",
        metavar="MIB",
        type=_non_negative_int,
        default=d.gzip_bomb_mib,
        help="answer gzip-compressed, after MIB mebibytes of spaces: valid JSON once inflated, "
        "about a thousandth of that on the wire (0: off; at most "
        f"{MAX_BOMB_MIB})",
    )
    hostile.add_argument(
        "--lying-total",
        metavar="N",
        type=_total,
        default=d.lying_total,
        help="listings say total_count / total_record N (1e8 is fine), whatever they hold",
    )
    hostile.add_argument(
        "--endless-pages",
        action="store_true",
        help="listings answer their first page whatever offset or page is asked, without a "
        "total, as a proxy that ignores the query might",
    )
    hostile.add_argument(
        "--redirect",
        metavar="STATUS",
        type=_non_negative_int,
        default=d.redirect,
        help="answer with this 3xx status, to the same URL on https (0: off)",
    )
    hostile.add_argument(
        "--header-padding",
        metavar="BYTES",
        type=_non_negative_int,
        default=d.header_padding,
        help="answers carry a header of BYTES bytes, as a load balancer's cookie might (0: off)",
    )


def options_from_args(ns: argparse.Namespace) -> SimulatorOptions:
    """Build SimulatorOptions from parsed flags; raise ConfigError naming a bad flag."""
    names = {f.name for f in fields(SimulatorOptions)}
    return SimulatorOptions(**{k: v for k, v in vars(ns).items() if k in names})
