"""The ``drs-exporter`` command: serve (default), check, once, simulate, demo."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from . import NAME, __version__, simulator
from .check import check
from .config import (
    Config,
    Credentials,
    MetricsConfig,
    PollConfig,
    Project,
    WebConfig,
    load_config,
    parse_listen_address,
)
from .errors import ConfigError
from .exporter import Exporter, count_targets
from .logs import FORMATS, LEVELS, SecretFilter, counted, setup
from .metrics.process import settle_garbage_collector
from .polling.sharding import AUTO, SHARD_FLAG, TOTAL_FLAG, Shard, parse_shard
from .web import limits
from .web.limits import ServerLimits
from .web.server import LIFECYCLE_FLAG, Protection, base_url, make_app, start_server
from .web.webconfig import WebSecurity, load_web_config

log = logging.getLogger("drs_exporter")

COMMANDS = ("serve", "check", "once", "simulate", "demo")
EXIT_USAGE = 2
LISTEN_FLAG = "--web.listen-address"
CONFIG_LISTEN_KEY = "web.listen_address"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line, Prometheus style."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


class _SimulatorParser(_Parser):
    """The ``simulate`` parser: its help ends with the simulator's routes, which load with
    its server, so only when the help is asked for."""

    def format_help(self) -> str:
        if self.epilog is None:
            self.epilog = simulator.endpoints_help()
        return super().format_help()


def _add_logging(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--log.level",
        dest="log_level",
        choices=LEVELS,
        default="info",
        help="only log messages of this severity or above (default: info)",
    )
    p.add_argument(
        "--log.format",
        dest="log_format",
        choices=FORMATS,
        default="logfmt",
        help="log line format (default: logfmt)",
    )


def _add_config(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument(
        "--config.file",
        dest="config_file",
        required=required,
        metavar="FILE",
        help="path to the YAML config file",
    )


def _add_sharding(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        TOTAL_FLAG,
        dest="total_shards",
        default="1",
        metavar="M",
        help="split the targets over M replicas by a stable hash (default: 1, no sharding)",
    )
    p.add_argument(
        SHARD_FLAG,
        dest="shard",
        default="0",
        metavar=f"N|{AUTO}",
        help=f"poll only shard N of {TOTAL_FLAG}, 0 <= N < M; '{AUTO}': the ordinal at "
        "the end of the host name, as a StatefulSet names its pods (default: 0)",
    )


def _add_listen(p: argparse.ArgumentParser, default: str | None, what: str) -> None:
    p.add_argument(
        LISTEN_FLAG,
        dest="listen_address",
        default=default,
        metavar="HOST:PORT",
        help=f"address to listen on for {what}"
        + (f" (default: {default})" if default else " (default: from the config)"),
    )


def build_parsers() -> dict[str, argparse.ArgumentParser]:
    """One parser per command."""
    prog = NAME
    serve = _Parser(
        prog=prog,
        description="Prometheus exporter for Huawei Cloud DRS job state. "
        f"Commands: {', '.join(COMMANDS)} (default: serve).",
    )
    serve.add_argument("--version", action="version", version=f"drs-exporter {__version__}")
    _add_config(serve)
    _add_listen(serve, None, "/metrics and the other endpoints")
    serve.add_argument(
        LIFECYCLE_FLAG,
        dest="enable_lifecycle",
        action="store_true",
        help="allow POST /-/reload to re-read the config (SIGHUP always does)",
    )
    limits.add_arguments(serve)
    _add_sharding(serve)
    _add_logging(serve)

    check = _Parser(
        prog=f"{prog} check",
        description="Validate the config, then make one request per target and "
        "print a table of results; exit non-zero on any failure.",
    )
    _add_config(check)
    _add_sharding(check)
    _add_logging(check)

    once = _Parser(
        prog=f"{prog} once",
        description="Poll every target once, print the exposition to stdout, exit.",
    )
    _add_config(once)
    _add_sharding(once)
    _add_logging(once)

    sim = _SimulatorParser(
        prog=f"{prog} simulate",
        description="Run the built-in DRS API simulator (for demos and tests).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_listen(sim, "127.0.0.1:8080", "the simulated DRS and IAM API")
    simulator.add_arguments(sim)
    _add_logging(sim)

    demo = _Parser(
        prog=f"{prog} demo",
        description="Run the simulator and the exporter together, with no config.",
    )
    _add_listen(demo, "127.0.0.1:9877", "the exporter")
    _add_logging(demo)
    return {"serve": serve, "check": check, "once": once, "simulate": sim, "demo": demo}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = args.pop(0) if args and args[0] in COMMANDS else "serve"
    ns = build_parsers()[command].parse_args(args)
    secret_filter = setup(ns.log_level, ns.log_format)
    try:
        if getattr(ns, "listen_address", None) is not None:
            parse_listen_address(ns.listen_address, LISTEN_FLAG)  # a bad flag fails at once
        if command == "simulate":
            return asyncio.run(_simulate(ns))
        if command == "demo":
            return asyncio.run(_demo(ns, secret_filter))
        shard = parse_shard(ns.shard, ns.total_shards, socket.gethostname())
        config = load_config(ns.config_file)
        if command == "check":
            return asyncio.run(check(config, shard, secret_filter))
        if command == "once":
            return asyncio.run(_once(config, shard, secret_filter))
        server_limits = limits.limits_from_args(ns)
        security = load_web_config(config.web.config_file) if config.web.config_file else None
        from_flag = ns.listen_address is not None
        listen = ns.listen_address if from_flag else config.web.listen_address
        return asyncio.run(
            _serve(
                config,
                shard,
                ns.config_file,
                listen,
                security,
                secret_filter,
                lifecycle=ns.enable_lifecycle,
                limits=server_limits,
                listen_from=LISTEN_FLAG if from_flag else CONFIG_LISTEN_KEY,
            )
        )
    except ConfigError as exc:
        print(f"drs-exporter: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # the system refused something at start (files, sockets)
        print(f"drs-exporter: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


async def _until_stopped(exporter: Exporter | None = None) -> None:
    """Wait for SIGTERM/SIGINT; SIGHUP reloads the exporter's config."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reloads: set[asyncio.Task[str | None]] = set()  # the loop keeps only weak references

    def reload() -> None:
        assert exporter is not None
        task = asyncio.create_task(exporter.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    if exporter is not None:
        loop.add_signal_handler(signal.SIGHUP, reload)
    await stop.wait()
    log.info("shutting down")


async def _serve(
    config: Config,
    shard: Shard,
    config_path: str | None,
    listen: str,
    security: WebSecurity | None,
    secret_filter: SecretFilter | None,
    *,
    lifecycle: bool = False,
    limits: ServerLimits | None = None,
    listen_from: str = CONFIG_LISTEN_KEY,
    announce: Callable[[str], None] | None = None,
) -> int:
    """Serve until stopped; ``listen_from`` names where ``listen`` came from, for errors;
    ``announce`` is given the server's URL once it listens."""
    protection = Protection(security)
    async with Exporter(
        config,
        shard=shard,
        config_path=config_path,
        secret_filter=secret_filter,
        protection=protection,
    ) as exp:
        app = make_app(
            exp,
            telemetry_path=config.web.telemetry_path,
            version=__version__,
            security=protection,
            lifecycle=lifecycle,
            limits=limits,
            reloadable=config_path is not None,
        )
        try:
            runner = await start_server(app, listen, protection, limits)
        except ConfigError as exc:
            if exc.path != CONFIG_LISTEN_KEY:
                raise
            raise ConfigError(listen_from, exc.message) from None
        try:
            settle_garbage_collector()
            exp.start()
            url = base_url(runner, tls=protection.ssl_context is not None) + "/"
            log.info(
                "drs-exporter %s listening on %s with %s, shard %d of %d",
                __version__,
                url,
                counted(count_targets(config.targets), "target"),
                shard.index,
                shard.total,
            )
            if announce is not None:
                announce(url)
            await _until_stopped(exp)
        finally:
            await exp.stop()
            await runner.cleanup()
            protection.close()
    return 0


async def _once(config: Config, shard: Shard, secret_filter: SecretFilter) -> int:
    async with Exporter(config, shard=shard, secret_filter=secret_filter) as exp:
        snapshot = await exp.poll_once()
        sys.stdout.buffer.write(exp.exposition().body(openmetrics=False, gzip=False))
        sys.stdout.flush()
    # A discovery that failed is a failure too, though it leaves no target to be down.
    ok = all(t.up for t in snapshot.targets) and not snapshot.discovery_errors
    return 0 if ok else 1


async def _simulate(ns: argparse.Namespace) -> int:
    host, port = parse_listen_address(ns.listen_address, LISTEN_FLAG)
    try:
        sim = await simulator.start(simulator.options_from_args(ns), host=host, port=port)
    except OSError as exc:  # the port is taken, or the address is not this host's
        reason = exc.strerror or str(exc)
        raise ConfigError(LISTEN_FLAG, f"cannot listen on {ns.listen_address}: {reason}") from None
    try:
        print(f"DRS simulator listening on {sim.url}", flush=True)
        print(f"projects: {' '.join(sim.project_ids)}", flush=True)
        print(_listed_by(sim.world), flush=True)
        await _until_stopped()
    finally:
        await sim.close()
    return 0


DEMO_TOKEN = "demo-token-not-a-secret"
DEMO_TAGS = ("env", "team", "cost-center")  # the simulated jobs' tags shown as labels


def _listed_by(world: simulator.World) -> str:
    """Which list API lists how many of the simulated jobs."""
    n = world.summary()["listed_by"]
    return (
        f"jobs: {n['both']} listed by v5 and v3, {n['v5_only']} by v5 only, "
        f"{n['v3_only']} by v3 only, {n['none']} by neither"
    )


# The demo's regions, as Huawei documents their list APIs: Hong Kong publishes only v3 (as
# most regions do), cn-south-2 both; so a first look shows drs_api_published 0 and 1.
DEMO_REGIONS: tuple[tuple[str, tuple[str, ...], int, int], ...] = (
    ("ap-southeast-1", ("v3",), 2, 40),  # region, its list APIs, projects, jobs
    ("cn-south-2", ("v5", "v3"), 1, 30),
)


async def _demo(ns: argparse.Namespace, secret_filter: SecretFilter) -> int:
    sims: list[simulator.RunningSimulator] = []
    try:
        targets: list[Project] = []
        for seed, (region, apis, projects, jobs) in enumerate(DEMO_REGIONS, start=1):
            options = simulator.SimulatorOptions(
                token=DEMO_TOKEN, apis=apis, projects=projects, jobs=jobs, seed=seed
            )
            sim = await simulator.start(options, host="127.0.0.1", port=0)
            sims.append(sim)
            targets.extend(
                Project(project_id, region, sim.url, Credentials(token=DEMO_TOKEN))
                for project_id in sim.project_ids
            )
            print(
                f"simulated {region} ({'+'.join(apis)}): {sim.url}, "
                f"{counted(len(sim.project_ids), 'project')}; {_listed_by(sim.world)}",
                flush=True,
            )
        config = Config(
            targets=tuple(targets),
            # A local simulator: a round of every call fits in its few seconds at this rate.
            poll=PollConfig(interval=5.0, max_requests_per_second=50),
            metrics=MetricsConfig(job_tags=DEMO_TAGS),
            web=WebConfig(listen_address=ns.listen_address),
        )

        def banner(url: str) -> None:  # once the port is bound: the links work when shown
            metrics = url.rstrip("/") + config.web.telemetry_path
            print(f"exporter:  {url}", flush=True)
            print(f"metrics:   {metrics}   (Ctrl-C to stop)", flush=True)

        return await _serve(
            config,
            Shard(),
            None,
            ns.listen_address,
            None,
            secret_filter,
            listen_from=LISTEN_FLAG,
            announce=banner,
        )
    finally:
        for sim in sims:
            await sim.close()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
