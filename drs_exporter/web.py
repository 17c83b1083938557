"""The HTTP server: /metrics, the landing page, health, readiness and reload endpoints.

A scrape picks the pre-rendered body that fits the request's Accept and Accept-Encoding
headers and adds the process metrics, rendered for it; nothing is computed per job.
``POST /-/reload`` exists only when the lifecycle endpoint is enabled, as in Prometheus.
"""

from __future__ import annotations

import asyncio
import html
import logging
import math
from collections.abc import Iterator
from typing import Protocol

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler, Middleware

from .config import check_telemetry_path, parse_listen_address
from .errors import ConfigError
from .exposition import OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, Body, Exposition
from .process import ProcessMetrics
from .webconfig import BasicAuth, WebSecurity

log = logging.getLogger(__name__)
_SLICE = 256 * 1024  # bytes of a large /metrics body written at a time
LIFECYCLE_FLAG = "--web.enable-lifecycle"


class MetricsSource(Protocol):
    """What the server needs from the rest of the exporter."""

    def exposition(self) -> Exposition:
        """The current rendered snapshot (before the first cycle: an empty snapshot's)."""
        ...

    def ready(self) -> bool:
        """True once every target has finished its first poll."""
        ...

    async def reload(self) -> str | None:
        """Re-read the config: None on success, else a one-line error."""
        ...


def _weighted(header: str) -> Iterator[tuple[str, float]]:
    """(value, q) pairs of an Accept-style header, values lower-cased, q in [0, 1]."""
    for part in header.split(","):
        value, *params = (field.strip() for field in part.split(";"))
        if not value:
            continue
        q = 1.0
        for param in params:
            name, _, raw = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(raw.strip())
                except ValueError:
                    q = 0.0  # a malformed weight asks for nothing
                q = min(max(q, 0.0), 1.0) if math.isfinite(q) else 0.0
        yield value.lower(), q


def wants_openmetrics(accept: str) -> bool:
    """True when the Accept header prefers OpenMetrics to the text format (ties: OpenMetrics)."""
    openmetrics = text = 0.0
    for media, q in _weighted(accept):
        if media == "application/openmetrics-text":
            openmetrics = max(openmetrics, q)
        elif media in ("text/plain", "text/*", "*/*"):
            text = max(text, q)
    return openmetrics > 0 and openmetrics >= text


def accepts_gzip(accept_encoding: str) -> bool:
    """True when the Accept-Encoding header allows gzip (directly or through ``*``)."""
    explicit: float | None = None
    wildcard: float | None = None
    for coding, q in _weighted(accept_encoding):
        if coding in ("gzip", "x-gzip"):
            explicit = q if explicit is None else max(explicit, q)
        elif coding == "*":
            wildcard = q
    chosen = explicit if explicit is not None else wildcard
    return chosen is not None and chosen > 0


def _landing_page(telemetry_path: str, version: str, lifecycle: bool, reloadable: bool) -> str:
    # Relative links keep working behind a reverse proxy that adds a path prefix.
    links = [
        (telemetry_path, "Metrics"),
        ("/-/healthy", "Health"),
        ("/-/ready", "Readiness"),
    ]
    items = "\n".join(
        f'<li><a href=".{html.escape(path)}">{html.escape(text)}</a> '
        f"<code>{html.escape(path)}</code></li>"
        for path, text in links
    )
    if not reloadable:
        reload = "Running without a config file (the demo): there is nothing to reload."
    elif lifecycle:
        reload = "POST <code>/-/reload</code> or SIGHUP re-reads the configuration."
    else:
        reload = (
            "SIGHUP re-reads the configuration; POST <code>/-/reload</code> is off: start "
            f"with <code>{LIFECYCLE_FLAG}</code> to allow it."
        )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8">'
        "<title>DRS Exporter</title></head>\n<body>\n<h1>DRS Exporter</h1>\n"
        "<p>Prometheus exporter for Huawei Cloud Data Replication Service job state. "
        f"Version {html.escape(version)}.</p>\n<ul>\n{items}\n</ul>\n"
        f"<p>{reload}</p>\n</body>\n</html>\n"
    )


def _auth_middleware(auth: BasicAuth) -> Middleware:
    @web.middleware
    async def require_basic_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if await auth.check(request.headers.get("Authorization")):
            return await handler(request)
        log.debug("unauthorized request from %s for %s", request.remote, request.path)
        return web.Response(
            status=401,
            text="Unauthorized\n",
            headers={"WWW-Authenticate": 'Basic realm="drs-exporter", charset="UTF-8"'},
        )

    return require_basic_auth


def make_app(
    source: MetricsSource,
    *,
    telemetry_path: str = "/metrics",
    version: str,
    security: WebSecurity | None = None,
    lifecycle: bool = False,
    reloadable: bool = True,
) -> web.Application:
    """The exporter's aiohttp application; basic auth and extra headers from ``security``.

    ``lifecycle`` (``--web.enable-lifecycle``) adds ``POST /-/reload``; ``reloadable`` is
    false when there is no config file to re-read (the demo), and the landing page says so.
    """
    check_telemetry_path(telemetry_path)
    middlewares: list[Middleware] = []
    if security is not None and security.basic_auth_users:
        middlewares.append(_auth_middleware(BasicAuth(security.basic_auth_users)))
    app = web.Application(middlewares=middlewares)

    if security is not None and security.headers:
        extra = security.headers

        async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
            for name, value in extra:
                response.headers[name] = value

        app.on_response_prepare.append(add_headers)

    landing = _landing_page(telemetry_path, version, lifecycle, reloadable)
    process = ProcessMetrics()

    async def metrics(request: web.Request) -> web.StreamResponse:
        openmetrics = wants_openmetrics(request.headers.get("Accept", ""))
        use_gzip = accepts_gzip(request.headers.get("Accept-Encoding", ""))
        exposition = source.exposition()
        own = process.render(openmetrics=openmetrics)
        if exposition.parts_ready(openmetrics=openmetrics, gzip=use_gzip):
            body = exposition.parts(openmetrics=openmetrics, gzip=use_gzip, extra=own)
        else:  # the first gzip request of this snapshot joins megabytes: not on the loop
            body = await asyncio.to_thread(
                exposition.parts, openmetrics=openmetrics, gzip=use_gzip, extra=own
            )
        headers = {
            "Content-Type": OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE,
            "Vary": "Accept, Accept-Encoding",
        }
        if use_gzip:
            headers["Content-Encoding"] = "gzip"
        if body.size <= _SLICE:  # small: joined (and inflated) at once
            return web.Response(body=b"".join(body.pieces), headers=headers)
        # Sent in slices, the pre-rendered part straight from the snapshot's bytes: handing a
        # transport megabytes at once makes asyncio copy what it could not send yet, a copy
        # per scrape that shows up as resident memory.
        response = web.StreamResponse(headers=headers)
        response.content_length = body.size
        await response.prepare(request)
        if request.method != "HEAD":
            try:
                await _write(response, body)
            except ConnectionResetError:  # the scraper went away: nothing more to send
                log.debug("scrape from %s ended before its body was sent", request.remote)
                return response
        await response.write_eof()
        return response

    async def index(request: web.Request) -> web.StreamResponse:
        return web.Response(text=landing, content_type="text/html")

    async def healthy(request: web.Request) -> web.StreamResponse:
        return web.Response(text="Healthy\n")

    async def ready(request: web.Request) -> web.StreamResponse:
        if source.ready():
            return web.Response(text="Ready\n")
        return web.Response(
            status=503, text="Not ready: waiting for the first poll of every target\n"
        )

    async def reload(request: web.Request) -> web.StreamResponse:
        error = await source.reload()  # the source runs one reload at a time
        if error is None:
            return web.Response(text="Configuration reloaded\n")
        return web.Response(status=500, text=" ".join(error.splitlines()) + "\n")

    app.router.add_get(telemetry_path, metrics)
    app.router.add_get("/", index)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    if lifecycle:
        app.router.add_post("/-/reload", reload)
    return app


async def _write(response: web.StreamResponse, body: Body) -> None:
    """The body's pieces, in writes of about ``_SLICE`` bytes (small pieces gathered)."""
    gathered: list[bytes] = []
    size = 0
    for part in body.pieces:
        if gathered and size + len(part) > _SLICE:
            await response.write(b"".join(gathered))
            gathered, size = [], 0
        if len(part) < _SLICE:
            gathered.append(part)
            size += len(part)
            continue
        view = memoryview(part)
        for start in range(0, len(part), _SLICE):
            await response.write(view[start : start + _SLICE])
    if gathered:
        await response.write(b"".join(gathered))


class _OneLineLogger(logging.Logger):
    """aiohttp's server logger, minus tracebacks.

    aiohttp logs a malformed request (oversized headers, a bad method) with a full
    traceback at ERROR; that is the client's mistake, so it goes to DEBUG as one line.
    Errors of our own keep their traceback only when DEBUG logging is on.
    """

    def handle(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            exc = record.exc_info[1]
            client_error = isinstance(exc, HttpProcessingError)
            # getEffectiveLevel, not isEnabledFor: this logger is unknown to logging's manager,
            # which would not clear its level cache when the configuration changes.
            debugging = self.getEffectiveLevel() <= logging.DEBUG
            if client_error:
                if not debugging:
                    return  # handlers do not filter by level themselves, usually
                record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            if client_error or not debugging:
                record.msg = f"{record.getMessage()}: {type(exc).__name__}"
                record.args = ()
                record.exc_info = None
                record.exc_text = None
        super().handle(record)


def _server_logger() -> logging.Logger:
    # Not registered with logging's manager: it exists for one runner and hands its records
    # to this module's logger, so the CLI's logging setup applies to them.
    logger = _OneLineLogger(f"{__name__}.server")
    logger.parent = log
    return logger


async def start_server(
    app: web.Application, listen_address: str, security: WebSecurity | None
) -> web.AppRunner:
    """Serve ``app`` (over TLS when ``security`` says so); stop it with ``runner.cleanup()``."""
    host, port = parse_listen_address(listen_address)
    try:
        ssl_context = security.ssl_context() if security is not None else None
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise ConfigError("web.config_file", f"cannot set up TLS: {exc}") from None
    # No access log: a line per scrape is noise, and 401s are logged at DEBUG instead.
    runner = web.AppRunner(app, access_log=None, logger=_server_logger())
    await runner.setup()
    site = web.TCPSite(runner, host or None, port, ssl_context=ssl_context)  # "": all
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        reason = exc.strerror or str(exc)
        raise ConfigError(
            "web.listen_address", f"cannot listen on {listen_address}: {reason}"
        ) from None
    return runner


def bound_port(runner: web.AppRunner) -> int:
    """The TCP port the server listens on (useful with port 0).

    With ``:0`` the IPv4 and IPv6 sockets get different ports; this is the IPv4 one.
    """
    ports = [
        (len(address) != 2, int(address[1]))  # IPv4 socknames are (host, port)
        for address in runner.addresses
        if isinstance(address, tuple) and len(address) >= 2
    ]
    if not ports:
        raise RuntimeError("the server is not listening")
    return min(ports)[1]
