"""The running exporter: config in, poller in the background, exposition out; reloadable."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator

import aiohttp

from . import __version__
from .cloud.auth import Authenticator, authenticator
from .cloud.client import DrsClient
from .cloud.iam import IamProject, ProjectLister
from .cloud.limiter import Limiter
from .cloud.transport import Transport, ssl_context
from .config import Config, Credentials, Project, load_config, secrets_of
from .drs.decode import Page
from .drs.listing import first_page
from .errors import ApiError, ConfigError
from .list_apis import LIST_APIS
from .logs import SecretFilter, counted
from .metrics.exposition import Exposition, render
from .metrics.process import return_free_memory
from .polling import discovered
from .polling.counters import Counters
from .polling.discovered import Found
from .polling.plan import Clock, Plan, PollTarget
from .polling.poller import Poller
from .polling.sharding import Shard
from .polling.snapshot import DiscoveryState, ReloadState, Snapshot, TargetKey
from .web.server import Protection
from .web.webconfig import WebSecurity, load_web_config

log = logging.getLogger(__name__)

BARE_REGION_RECHECK = 3600.0  # seconds a region without a DRS list API is left out of discovery


class Exporter:
    """Polls DRS for one config at a time and keeps the latest rendered exposition.

    ``shard`` says which of the config's targets this replica polls; reloads keep it.
    With discovery on, the targets are the config's and those of the projects IAM last
    listed: each successful discovery that changes them hands the poller a new plan
    (``discover``).
    """

    def __init__(
        self,
        config: Config,
        *,
        shard: Shard | None = None,
        config_path: str | None = None,
        secret_filter: SecretFilter | None = None,
        clock: Clock | None = None,
        protection: Protection | None = None,
    ) -> None:
        self.config = config
        # The web-config in force, read again on each reload (None: not serving HTTP).
        self.protection = protection
        self.shard = shard or Shard()
        self._config_path = config_path
        self._secret_filter = secret_filter
        self._clock = clock or Clock()
        self._counters = Counters()
        self._auths: dict[tuple[str, str, Credentials], Authenticator] = {}
        self._session: aiohttp.ClientSession | None = None
        self._poller: Poller | None = None
        self._task: asyncio.Task[None] | None = None  # the poller's
        self._discovery_task: asyncio.Task[None] | None = None
        self._exposition: Exposition | None = None
        self._snapshot = Snapshot()
        self._reload_lock = asyncio.Lock()
        self._lister: ProjectLister | None = None
        self._projects: list[IamProject] | None = None  # as IAM last listed them; None: not yet
        self._discovery_tried = False  # the first discovery has finished, well or not
        self._bare_regions: dict[str, float] = {}  # region -> when found without a list API
        self._planned: tuple[Project, ...] = ()  # the discovered projects of the last plan

    async def __aenter__(self) -> Exporter:
        # The transport honours HTTPS_PROXY / NO_PROXY itself (see Transport).
        self._session = aiohttp.ClientSession()
        self._note_secrets(self.config)
        self._set_discovery(self.config)
        self._poller = Poller(self._plan(self.config), self._counters, self._publish, self._clock)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        if self._session is not None:
            await self._session.close()

    def start(self) -> None:
        """Start polling in the background: every target at once, and discovery's targets
        as soon as the first discovery (when it is on) has found them."""
        assert self._poller is not None, "use Exporter as an async context manager"
        self._task = asyncio.create_task(self._poller.run(), name="drs-poller")
        self._start_discovery()

    def _start_discovery(self) -> None:
        """Ask IAM for the projects in the background, every ``discovery.interval`` (at
        once when no list is known yet), while discovery is on."""
        if self._discovery_task is not None:
            self._discovery_task.cancel()
            self._discovery_task = None
        if self._lister is not None:
            self._discovery_task = asyncio.create_task(self._rediscover(), name="drs-discovery")

    async def _rediscover(self) -> None:
        if self._projects is None:
            await self.discover()
        while self._lister is not None:
            await asyncio.sleep(self._lister.discovery.interval)
            await self.discover()

    async def discover(self) -> list[Found] | ApiError:
        """Ask IAM for the projects now; new targets are polled at once, gone ones stop.

        Returns what was found, or why IAM's answer failed: then the last list stays,
        the failure is counted in drs_discovery_errors_total and logged.
        """
        assert self._poller is not None, "use Exporter as an async context manager"
        lister = self._lister
        assert lister is not None, "discovery is off"
        try:
            projects = await lister.projects(self._poller.plan.client)
        except Exception as exc:  # a bug must not stop polling what is known
            error = exc if isinstance(exc, ApiError) else ApiError("internal", type(exc).__name__)
            self._counters.count_discovery_error(error.reason)
            if self._projects is None:
                log.warning("discovery failed, no project list yet: %s", error)
            else:
                count = len(self._projects)
                log.warning(
                    "discovery failed, keeping the last list (%d projects): %s", count, error
                )
            return error
        finally:
            self._discovery_tried = True
        self._projects = projects
        found = discovered.select(projects, lister.discovery)
        after = self._discovered_projects(self.config)
        self._counters.discovery = DiscoveryState(count_targets(after), self._clock.wall())
        if after != self._planned:  # new or gone projects, or a region's leave ended
            log.info("discovery found %d projects: %d targets", len(found), count_targets(after))
            self._poller.replace_plan(self._plan(self.config, self._poller.plan.client))
        else:
            self._poller.publish()
        return found

    async def stop(self) -> None:
        """Stop polling and discovery, cancelling requests in flight."""
        for task in (self._task, self._discovery_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._discovery_task = None

    async def poll_once(self) -> Snapshot:
        """Poll every target once now (after a first discovery, when it is on) and return the
        snapshot."""
        assert self._poller is not None, "use Exporter as an async context manager"
        if self._lister is not None and self._projects is None:
            await self.discover()
        await self._poller.cycle()
        return self._snapshot

    def probes(self) -> Iterator[tuple[PollTarget, str, Callable[[], Awaitable[Page]]]]:
        """One first-page request per target and list API, for ``check``: each returns the
        page, or raises ApiError (``unpublished`` where the region does not publish it)."""
        assert self._poller is not None, "use Exporter as an async context manager"
        plan = self._poller.plan
        for polled in plan.targets:
            for api in polled.project.apis:
                ask = (plan.client, polled.project, polled.auth, polled.key.job_type, api)
                yield polled, api, functools.partial(first_page, *ask, plan.poll.page_size)

    # The web server's view (web.MetricsSource).

    def exposition(self) -> Exposition:
        if self._exposition is None:
            self._exposition = self._render(self._snapshot)
        return self._exposition

    def ready(self) -> bool:
        discovery_done = self._lister is None or self._discovery_tried
        return self._poller is not None and discovery_done and self._snapshot.ready

    async def reload(self) -> str | None:
        """Re-read the config file; keep the running config if the new one is bad."""
        if self._config_path is None:
            return "no config file to reload"
        assert self._poller is not None
        async with self._reload_lock:
            try:
                # Off the event loop: a big or hostile file must not stop the scrapes.
                config, security = await asyncio.to_thread(self._read, self._config_path)
                # Unchanged: nothing to do.
                plan = None if config == self.config else self._plan(config)
                if self.protection is not None:
                    self.protection.replace(security)
            except ConfigError as exc:
                log.error("config reload rejected, keeping the running config: %s", exc)
                self._poller.set_reload(ReloadState(False, self._snapshot.reload.timestamp))
                return str(exc)
            if plan is None:
                self._poller.set_reload(ReloadState(True, self._clock.wall()))
                log.info("config reloaded: unchanged")
                return None
            if dataclasses.replace(config.web, config_file=None) != dataclasses.replace(
                self.config.web, config_file=None
            ):
                log.warning("web settings changed; they take effect after a restart")
            # The same limits and connections: the client (its limiter) stays.
            same_client = (config.poll, config.http) == (self.config.poll, self.config.http)
            self.config = config
            self._note_secrets(config)
            discovery_changed = self._set_discovery(config)
            state = self._counters.discovery
            if state is not None and self._projects is not None:  # selected anew from the list
                count = count_targets(self._discovered_projects(config))
                self._counters.discovery = dataclasses.replace(state, targets=count)
            client = self._poller.plan.client if same_client else None
            # Polls in progress finish under the old plan; each target's next one follows
            # the new (new targets start at once, removed ones stop).
            self._poller.replace_plan(self._plan(config, client))
            self._poller.set_reload(ReloadState(True, self._clock.wall()))
            if discovery_changed and self._task is not None:
                self._start_discovery()
            log.info("config reloaded: %s", counted(count_targets(config.targets), "target"))
            return None

    # Internals.

    def _read(self, path: str) -> tuple[Config, WebSecurity | None]:
        """The config file and, when serving, the web-config file it names, both checked."""
        config = load_config(path)
        security = None
        if self.protection is not None and config.web.config_file:
            security = load_web_config(config.web.config_file)
        return config, security

    def _publish(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self._exposition = self._render(snapshot)
        return_free_memory()
        if self._projects is not None and snapshot.published:
            self._leave_out_bare_regions(snapshot)

    def _leave_out_bare_regions(self, snapshot: Snapshot) -> None:
        """Leave out, for an hour, the discovered projects of a region found to publish no
        list API: IAM lists a project in every region of the account, and DRS lists jobs in
        fewer. A configured target there keeps failing (reason unsupported), as asked."""
        published = snapshot.published
        bare = {
            region
            for region, _ in published
            if not any(published.get((region, a.api), True) for a in LIST_APIS)
        }
        new = bare & {t.region for t in self._discovered_projects(self.config)}
        if not new:
            return
        now = self._clock.monotonic()
        for region in sorted(new):
            self._bare_regions[region] = now
            log.info(
                "no DRS list API answers in region %s: its discovered projects are left out, "
                "and tried again in %gs",
                region,
                BARE_REGION_RECHECK,
            )
        asyncio.get_running_loop().call_soon(self._replan)

    def _replan(self) -> None:
        """Poll the discovered targets as they now are."""
        if self._poller is None:
            return
        state = self._counters.discovery
        if state is not None:
            count = count_targets(self._discovered_projects(self.config))
            self._counters.discovery = dataclasses.replace(state, targets=count)
        self._poller.replace_plan(self._plan(self.config, self._poller.plan.client))

    def _render(self, snapshot: Snapshot) -> Exposition:
        # Reuse the lines of targets whose state did not change since the last render.
        return render(snapshot, self.config.metrics, __version__, previous=self._exposition)

    def _note_secrets(self, config: Config) -> None:
        if self._secret_filter is not None:
            self._secret_filter.set_secrets(secrets_of(config))

    def _note_issued(self, token: str) -> None:
        if self._secret_filter is not None:
            self._secret_filter.add_issued(token)

    def redact(self, text: str) -> str:
        """``text`` with every secret the exporter holds replaced (for output beside logs)."""
        return text if self._secret_filter is None else self._secret_filter.redact(text)

    def _set_discovery(self, config: Config) -> bool:
        """Keep the IAM client (and its token) while discovery's settings stay the same, and
        the last list while IAM is asked the same way (the other settings only select from
        it); start over when they change. Whether they changed."""
        d = config.discovery
        old = self._lister
        if not d.enabled:
            self._lister, self._projects = None, None
            self._counters.discovery = None
            return old is not None
        if old is None or old.discovery != d:
            self._lister = ProjectLister(d, self._clock.wall, self._note_issued)
            asked_alike = old is not None and (
                (old.discovery.credentials, old.discovery.iam_endpoint)
                == (d.credentials, d.iam_endpoint)
            )
            if not asked_alike:
                self._projects = None
                self._discovery_tried = False
                self._counters.discovery = DiscoveryState()
            return True
        return False

    def _discovered_projects(self, config: Config) -> tuple[Project, ...]:
        """The projects IAM listed, but those of regions left out for now."""
        if self._projects is None or not config.discovery.enabled:
            return ()
        now = self._clock.monotonic()
        bare = {r for r, at in self._bare_regions.items() if now - at < BARE_REGION_RECHECK}
        found = [
            f for f in discovered.select(self._projects, config.discovery) if f.region not in bare
        ]
        return discovered.projects(found, config.discovery, config.targets)

    def _plan(self, config: Config, client: DrsClient | None = None) -> Plan:
        """What to poll for ``config``; ``client`` (its limits and counters) is kept when a
        discovery changes only the targets."""
        assert self._session is not None
        poll = config.poll
        if client is None:
            transport = Transport(
                self._session,
                Limiter(poll.max_concurrency, poll.max_requests_per_second),
                self._counters,
                poll.timeout,
                proxy=config.http.proxy_url,
                ssl=ssl_context(config.http),
            )
            client = DrsClient(transport, poll.retries)
        auths: dict[tuple[str, str, Credentials], Authenticator] = {}
        targets: list[PollTarget] = []
        configured = 0
        self._planned = self._discovered_projects(config)
        for t in (*config.targets, *self._planned):
            configured += len(t.job_types)
            job_types = [jt for jt in t.job_types if self.shard.owns(t.project_id, t.region, jt)]
            if not job_types:
                continue  # another shard's: no authenticator, so no IAM login for it
            # Reuse an unchanged project's authenticator so a reload keeps its IAM token.
            ident = (t.project_id, t.region, t.credentials)
            auth = self._auths.get(ident) or authenticator(
                t.credentials, t.project_id, t.region, self._clock.wall, self._note_issued
            )
            auths[ident] = auth
            targets.extend(
                PollTarget(TargetKey(t.project_id, t.region, jt), t, auth) for jt in job_types
            )
        self._auths = auths
        if not (config.discovery.enabled and self._projects is None):  # else: nothing known yet
            _log_share(self.shard, len(targets), configured)
        return Plan(tuple(targets), client, poll, self.shard, config.metrics)


def count_targets(projects: Iterable[Project]) -> int:
    """Targets as ``drs_up`` counts them: one per (project, region, job type)."""
    return sum(len(p.job_types) for p in projects)


def _log_share(shard: Shard, owned: int, configured: int) -> None:
    """Say which share of the targets this replica polls; loudly when it is none."""
    if owned == 0:
        log.warning(
            "shard %d of %d owns none of the %d configured targets: "
            "serving only the exporter's own metrics",
            shard.index,
            shard.total,
            configured,
        )
    elif shard.total > 1:
        log.info(
            "shard %d of %d polls %d of the %d configured targets",
            shard.index,
            shard.total,
            owned,
            configured,
        )
