"""The HTTP server over real sockets: negotiation, endpoints, basic auth, TLS, odd requests."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import ssl
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import aiohttp
import bcrypt
import msgspec
import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from drs_exporter.config import MetricsConfig
from drs_exporter.errors import ConfigError
from drs_exporter.metrics.exposition import Exposition, render, shows
from drs_exporter.metrics.families import FAMILIES
from drs_exporter.model import Job
from drs_exporter.polling.snapshot import Snapshot, TargetKey, TargetState
from drs_exporter.web.limits import ServerLimits
from drs_exporter.web.negotiation import accepts_gzip, wants_openmetrics
from drs_exporter.web.server import base_url, bound_port, make_app, start_server
from drs_exporter.web.webconfig import TlsSettings, WebSecurity
from tests.conftest import ipv6_loopback
from tests.test_process import PROCESS_FAMILIES, PYTHON_FAMILIES
from tests.test_webconfig import TlsFiles, make_tls_files

VERSION = "9.8.7"


def snapshot() -> Snapshot:
    key = TargetKey("proj", "ap-southeast-1", "migration")
    job = Job(
        id="j1",
        name="orders",
        status="INCRE_TRANSFER_STARTED",
        engine_type="mysql-to-mysql",
        net_type="eip",
        job_direction="up",
        task_type="FULL_INCR_TRANS",
        job_mode="single",
        job_mode_role="",
        charging_mode="on_demand",
        enterprise_project_id="0",
        created=1_700_000_000.0,
    )
    target = TargetState(key, last_poll_duration=0.5, up=True, jobs=(job,), has_data=True)
    return Snapshot(targets=(target,), api_requests={("ap-southeast-1", "v5_jobs", "200"): 3})


@dataclass
class FakeSource:
    """A MetricsSource whose answers the test sets."""

    current: Exposition = field(
        default_factory=lambda: render(snapshot(), MetricsConfig(), VERSION)
    )
    is_ready: bool = True
    reload_error: str | None = None
    reloads: int = 0

    def exposition(self) -> Exposition:
        return self.current

    def ready(self) -> bool:
        return self.is_ready

    async def reload(self) -> str | None:
        self.reloads += 1
        return self.reload_error


@asynccontextmanager
async def serving(
    source: FakeSource,
    *,
    security: WebSecurity | None = None,
    telemetry_path: str = "/metrics",
    listen_address: str = "127.0.0.1:0",
    lifecycle: bool = False,
    limits: ServerLimits | None = None,
) -> AsyncIterator[str]:
    """Run the server on a free loopback port; yield its base URL."""
    app = make_app(
        source,
        telemetry_path=telemetry_path,
        version=VERSION,
        security=security,
        lifecycle=lifecycle,
        limits=limits,
    )
    runner = await start_server(app, listen_address, security, limits)
    try:
        yield base_url(runner, tls=security is not None and security.tls is not None)
    finally:
        await runner.cleanup()


@asynccontextmanager
async def client(**kwargs: object) -> AsyncIterator[aiohttp.ClientSession]:
    timeout = aiohttp.ClientTimeout(total=30)
    # No automatic Accept-Encoding: each test says what it accepts.
    async with aiohttp.ClientSession(
        timeout=timeout,
        auto_decompress=False,
        skip_auto_headers=["Accept-Encoding"],
        **kwargs,  # type: ignore[arg-type]
    ) as session:
        yield session


PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0;q=0.5,"
    "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
)
JOB_FAMILIES = {family.family_name for family in FAMILIES if shows(MetricsConfig(), family)}


def scraped(
    source: FakeSource, body: bytes, *, openmetrics: bool, use_gzip: bool
) -> dict[str, Metric]:
    """The families of a scrape, checked: the snapshot's families as pre-rendered, then the
    process's, in one gzip member when gzipped, with exactly one ``# EOF`` in OpenMetrics."""
    families = source.current.parts(openmetrics=openmetrics, gzip=use_gzip).pieces
    assert body.startswith(next(iter(families)))
    if use_gzip:
        reader = zlib.decompressobj(wbits=31)
        body = reader.decompress(body)
        assert reader.eof and reader.unused_data == b""
    text = body.decode()
    if openmetrics:
        assert text.endswith("\n# EOF\n") and text.count("# EOF") == 1
        families = parse_openmetrics(text)  # type: ignore[no-untyped-call]
    else:
        assert "# EOF" not in text
        families = parse_text(text)
    got = {family.name: family for family in families}
    assert set(got) >= JOB_FAMILIES | PROCESS_FAMILIES | PYTHON_FAMILIES
    return got


async def test_metrics_default_to_the_text_format() -> None:
    source = FakeSource()
    async with serving(source) as url, client() as http, http.get(f"{url}/metrics") as resp:
        body = await resp.read()
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert "Content-Encoding" not in resp.headers
        assert {v.strip() for v in resp.headers["Vary"].split(",")} == {
            "Accept",
            "Accept-Encoding",
        }
    got = scraped(source, body, openmetrics=False, use_gzip=False)
    assert got["drs_job_info"].samples and got["process_resident_memory_bytes"].samples


async def test_prometheus_gets_openmetrics_when_it_asks() -> None:
    source = FakeSource()
    headers = {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}
    async with (
        serving(source) as url,
        client() as http,
        http.get(f"{url}/metrics", headers=headers) as resp,
    ):
        packed = await resp.read()
        assert resp.headers["Content-Type"].startswith(
            "application/openmetrics-text; version=1.0.0"
        )
        assert resp.headers["Content-Encoding"] == "gzip"
    got = scraped(source, packed, openmetrics=True, use_gzip=True)
    assert got["drs_api_requests"].samples and got["process_cpu_seconds"].samples


@pytest.mark.parametrize(
    ("accept", "openmetrics"),
    [
        ("", False),
        ("*/*", False),
        ("text/plain", False),
        ("application/openmetrics-text", True),
        ("application/openmetrics-text; version=0.0.1,text/plain;version=0.0.4;q=0.5", True),
        (PROMETHEUS_ACCEPT, True),
        ("text/plain;q=0.9, application/openmetrics-text;q=0.5", False),
        ("application/openmetrics-text;q=0, */*", False),
        ("application/openmetrics-text;q=bogus, text/plain;q=0.1", False),
        ("APPLICATION/OpenMetrics-Text; Q=0.8, text/plain; q=0.2", True),
        (",,;;=,", False),
    ],
)
def test_accept_negotiation(accept: str, openmetrics: bool) -> None:
    assert wants_openmetrics(accept) is openmetrics


@pytest.mark.parametrize(
    ("accept_encoding", "use_gzip"),
    [
        ("", False),
        ("gzip", True),
        ("deflate, gzip;q=0.5, br", True),
        ("gzip;q=0", False),
        ("*", True),
        ("*;q=0.1, gzip;q=0", False),
        ("identity", False),
        ("x-gzip", True),
    ],
)
def test_accept_encoding_negotiation(accept_encoding: str, use_gzip: bool) -> None:
    assert accepts_gzip(accept_encoding) is use_gzip


@pytest.mark.parametrize(
    ("headers", "content_type", "encoding"),
    [
        ({"Accept": "text/plain;q=0.9, application/openmetrics-text;q=0.5"}, "text/plain", None),
        ({"Accept": "application/openmetrics-text"}, "application/openmetrics-text", None),
        ({"Accept-Encoding": "gzip;q=0, identity"}, "text/plain", None),
        ({"Accept-Encoding": "br, gzip"}, "text/plain", "gzip"),
    ],
)
async def test_negotiation_over_http(
    headers: dict[str, str], content_type: str, encoding: str | None
) -> None:
    source = FakeSource()
    async with (
        serving(source) as url,
        client() as http,
        http.get(f"{url}/metrics", headers=headers) as resp,
    ):
        body = await resp.read()
        assert resp.headers["Content-Type"].split(";")[0] == content_type
        assert resp.headers.get("Content-Encoding") == encoding
    scraped(source, body, openmetrics=content_type != "text/plain", use_gzip=bool(encoding))


async def test_head_on_metrics_sends_headers_only() -> None:
    async with (
        serving(FakeSource()) as url,
        client() as http,
        http.head(f"{url}/metrics") as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        assert await resp.read() == b""


def large_snapshot(jobs: int = 4000) -> Snapshot:
    """Enough jobs that every body variant is several slices long."""
    (target,) = snapshot().targets
    (job,) = target.jobs
    many = tuple(
        msgspec.structs.replace(job, id=f"job-{i}", name=f"orders {i}") for i in range(jobs)
    )
    return Snapshot(targets=(dataclasses.replace(target, jobs=many),))


ALL_VARIANTS = [(False, False), (False, True), (True, False), (True, True)]


@pytest.mark.parametrize("jobs", [1, 4000], ids=["small", "large"])
@pytest.mark.parametrize(("openmetrics", "use_gzip"), ALL_VARIANTS)
async def test_every_variant_carries_the_job_and_the_process_families(
    openmetrics: bool, use_gzip: bool, jobs: int
) -> None:
    source = FakeSource(current=render(large_snapshot(jobs), MetricsConfig(), VERSION))
    families = source.current.body(openmetrics=openmetrics, gzip=use_gzip)
    assert len(families) > 3 * 256 * 1024 or use_gzip or jobs == 1  # several slices
    headers = {
        "Accept": PROMETHEUS_ACCEPT if openmetrics else "text/plain",
        "Accept-Encoding": "gzip" if use_gzip else "identity",
    }
    async with serving(source) as url, client() as http:
        async with http.get(f"{url}/metrics", headers=headers) as resp:
            assert resp.status == 200
            body = await resp.read()
            assert int(resp.headers["Content-Length"]) == len(body) > len(families)
        got = scraped(source, body, openmetrics=openmetrics, use_gzip=use_gzip)
        assert len(got["drs_job_info"].samples) == jobs
        assert got["process_resident_memory_bytes"].samples[0].value > 0
        async with http.head(f"{url}/metrics", headers=headers) as resp:
            assert resp.status == 200 and await resp.read() == b""
            # The same size, give or take the process figures' digits since the GET.
            assert abs(int(resp.headers["Content-Length"]) - len(body)) < 200


async def test_a_new_snapshot_is_served_on_the_next_scrape() -> None:
    source = FakeSource()
    async with serving(source) as url, client() as http:
        async with http.get(f"{url}/metrics") as resp:
            assert b"drs_job_info{" in await resp.read()
        source.current = render(Snapshot(), MetricsConfig(), VERSION)
        async with http.get(f"{url}/metrics") as resp:
            assert b"drs_job_info{" not in await resp.read()


async def test_landing_page_links_the_endpoints_and_names_the_version() -> None:
    source = FakeSource()
    async with serving(source, telemetry_path="/custom/metrics") as url, client() as http:
        async with http.get(f"{url}/") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/html")
            page = await resp.text()
        async with http.get(f"{url}/custom/metrics") as resp:
            assert resp.status == 200
        async with http.get(f"{url}/metrics") as resp:
            assert resp.status == 404
    assert 'href="./custom/metrics"' in page
    assert 'href="./-/healthy"' in page and 'href="./-/ready"' in page
    assert VERSION in page


async def test_the_landing_page_escapes_what_it_shows() -> None:
    app = make_app(FakeSource(), telemetry_path="/a&b", version="<b>1</b>")
    runner = await start_server(app, "127.0.0.1:0", None)
    try:
        async with client() as http, http.get(f"http://127.0.0.1:{bound_port(runner)}/") as resp:
            page = await resp.text()
    finally:
        await runner.cleanup()
    assert "&lt;b&gt;1&lt;/b&gt;" in page and "<b>1</b>" not in page
    assert 'href="./a&amp;b"' in page


async def test_health_and_readiness() -> None:
    source = FakeSource(is_ready=False)
    async with serving(source) as url, client() as http:
        async with http.get(f"{url}/-/healthy") as resp:
            assert resp.status == 200
        async with http.get(f"{url}/-/ready") as resp:
            assert resp.status == 503
        source.is_ready = True
        async with http.get(f"{url}/-/ready") as resp:
            assert resp.status == 200


async def test_reload_is_post_only_and_reports_the_error_line() -> None:
    source = FakeSource()
    async with serving(source, lifecycle=True) as url, client() as http:
        async with http.get(f"{url}/-/reload") as resp:
            assert resp.status == 405
        assert source.reloads == 0
        async with http.post(f"{url}/-/reload") as resp:
            assert resp.status == 200
        source.reload_error = "targets[0].region: unknown region 'xx-nowhere-1'\nsecond line"
        async with http.post(f"{url}/-/reload") as resp:
            assert resp.status == 500
            text = await resp.text()
    assert source.reloads == 2
    assert text == "targets[0].region: unknown region 'xx-nowhere-1' second line\n"


async def test_without_the_lifecycle_flag_there_is_no_reload_endpoint() -> None:
    source = FakeSource()
    async with serving(source) as url, client() as http:
        for method in ("POST", "GET", "PUT"):
            async with http.request(method, f"{url}/-/reload") as resp:
                assert resp.status == 404, method
        async with http.get(f"{url}/-/healthy") as resp:
            assert resp.status == 200
    assert source.reloads == 0


@pytest.mark.parametrize("lifecycle", [False, True])
async def test_the_landing_page_says_how_to_reload(lifecycle: bool) -> None:
    async with (
        serving(FakeSource(), lifecycle=lifecycle) as url,
        client() as http,
        http.get(f"{url}/") as resp,
    ):
        page = await resp.text()
    if lifecycle:
        assert "POST <code>/-/reload</code> or SIGHUP re-reads the configuration." in page
    else:
        assert "SIGHUP re-reads the configuration" in page
        assert "POST <code>/-/reload</code> is off" in page
        assert "<code>--web.enable-lifecycle</code> to allow it" in page


class BrokenSource(FakeSource):
    async def reload(self) -> str | None:
        raise RuntimeError("a bug, with details that stay out of the log")


async def test_a_failing_handler_answers_500_and_logs_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with (
        serving(BrokenSource(), lifecycle=True) as url,
        client() as http,
        http.post(f"{url}/-/reload") as resp,
    ):
        assert resp.status == 500
        assert b"details" not in await resp.read()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is None
    assert "RuntimeError" in errors[0].getMessage()
    assert "details" not in errors[0].getMessage()


async def test_unknown_paths_and_methods() -> None:
    async with serving(FakeSource()) as url, client() as http:
        async with http.get(f"{url}/nope") as resp:
            assert resp.status == 404
        async with http.post(f"{url}/metrics") as resp:
            assert resp.status == 405
        async with http.request("BREW", f"{url}/metrics") as resp:
            assert resp.status in (400, 405)  # aiohttp's parser knows the standard methods


@pytest.mark.parametrize("path", ["", "metrics", "/", "/-/healthy", "/-/ready", "/-/reload"])
def test_a_telemetry_path_that_collides_is_refused(path: str) -> None:
    with pytest.raises(ConfigError, match=r"^web\.telemetry_path: "):
        make_app(FakeSource(), telemetry_path=path, version=VERSION)


async def raw_exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), timeout=30)
    except ConnectionResetError:
        return b""
    finally:
        writer.close()


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Huge: " + b"a" * 100_000 + b"\r\n\r\n",
        b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"G\x00T /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS hello
        b"hello\r\n\r\n",
        b"GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n",
        b"POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    ],
    ids=[
        "huge-header",
        "huge-url",
        "nul-method",
        "bad-header",
        "tls",
        "garbage",
        "http99",
        "neg-cl",
    ],
)
async def test_odd_requests_get_a_4xx_and_no_traceback(
    request_bytes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    source = FakeSource()
    async with serving(source) as url, client() as http:
        port = int(url.rsplit(":", 1)[1])
        answer = await raw_exchange(port, request_bytes)
        assert answer == b"" or answer.split(b" ", 2)[1][:1] == b"4", answer[:200]
        async with http.get(f"{url}/metrics") as resp:  # still serving
            assert resp.status == 200
    assert source.reloads == 0
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


ALICE_HASH = bcrypt.hashpw(b"wonderland", bcrypt.gensalt(4)).decode()


def auth_header(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def secured(**kwargs: object) -> WebSecurity:
    users = MappingProxyType({"alice": ALICE_HASH})
    return WebSecurity(basic_auth_users=users, **kwargs)  # type: ignore[arg-type]


async def test_basic_auth_protects_every_endpoint() -> None:
    source = FakeSource()
    good = auth_header("alice", "wonderland")
    bad = auth_header("alice", "guess")
    async with serving(source, security=secured(), lifecycle=True) as url, client() as http:
        for method, path, ok_status in [
            ("GET", "/metrics", 200),
            ("GET", "/", 200),
            ("GET", "/-/healthy", 200),
            ("GET", "/-/ready", 200),
            ("POST", "/-/reload", 200),
            ("GET", "/nope", 404),
        ]:
            for headers in ({}, bad, auth_header("bob", "wonderland")):
                async with http.request(method, f"{url}{path}", headers=headers) as resp:
                    assert resp.status == 401, (method, path, headers)
                    assert resp.headers["WWW-Authenticate"].startswith("Basic ")
                    assert b"drs_" not in await resp.read()
            async with http.request(method, f"{url}{path}", headers=good) as resp:
                assert resp.status == ok_status, (method, path)
    assert source.reloads == 1  # only the authenticated reload went through


async def test_extra_headers_are_on_every_response() -> None:
    security = secured(headers=(("X-Frame-Options", "deny"), ("X-Content-Type-Options", "nosniff")))
    good = auth_header("alice", "wonderland")
    async with serving(FakeSource(), security=security) as url, client() as http:
        for path, headers, status in [
            ("/metrics", good, 200),
            ("/metrics", {}, 401),
            ("/nope", good, 404),
            ("/", good, 200),
        ]:
            async with http.get(f"{url}{path}", headers=headers) as resp:
                assert resp.status == status
                assert resp.headers["X-Frame-Options"] == "deny"
                assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_every_answer_names_the_product_and_no_version() -> None:
    """Anyone who reaches the port learns what runs there, not which versions to try."""
    good = auth_header("alice", "wonderland")
    security = secured()
    limits = ServerLimits(max_connections=8)
    async with serving(FakeSource(), security=security, limits=limits) as url, client() as http:
        port = int(url.rsplit(":", 1)[1])
        answers: list[tuple[int, str]] = []
        for method, path, headers in [
            ("GET", "/metrics", good),
            ("GET", "/", good),
            ("GET", "/nope", good),
            ("POST", "/metrics", good),
            ("GET", "/metrics", {}),
        ]:
            async with http.request(method, url + path, headers=headers) as resp:
                answers.append((resp.status, resp.headers.getone("Server", "")))
        # Answers aiohttp makes itself, before the application sees a request.
        for request in (
            b"hello\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Huge: " + b"a" * 100_000 + b"\r\n\r\n",
        ):
            answers.append(head(await raw_exchange(port, request)))
        # Beyond the connection cap: the limits' own answer.
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(9)]
        try:
            answers.append(head(await asyncio.wait_for(held[-1][0].read(), 30)))
        finally:
            for _, writer in held:
                writer.close()
    assert [status for status, _ in answers] == [200, 200, 404, 405, 401, 400, 400, 503]
    assert {server for _, server in answers} == {"drs-exporter"}


def head(answer: bytes) -> tuple[int, str]:
    """The status and Server header of a raw HTTP answer."""
    lines = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), fields.get("Server", "")


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def tls_security(files: TlsFiles, client_auth_type: str = "NoClientCert") -> WebSecurity:
    verifying = client_auth_type != "NoClientCert"
    return WebSecurity(
        tls=TlsSettings(
            cert_file=str(files.server_cert),
            key_file=str(files.server_key),
            client_ca_file=str(files.ca_cert) if verifying else None,
            client_auth_type=client_auth_type,
        )
    )


def client_context(
    files: TlsFiles, cert: Path | None = None, key: Path | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(files.ca_cert))
    if cert is not None and key is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


FAILED_TLS = (aiohttp.ClientError, ssl.SSLError, ConnectionError, asyncio.TimeoutError)


async def test_tls_serves_https_with_the_configured_certificate(tls_files: TlsFiles) -> None:
    async with serving(FakeSource(), security=tls_security(tls_files)) as url, client() as http:
        assert url.startswith("https://")
        async with http.get(f"{url}/metrics", ssl=client_context(tls_files)) as resp:
            assert resp.status == 200
        # A client that does not trust our CA refuses the server.
        with pytest.raises(FAILED_TLS):
            async with http.get(f"{url}/metrics", ssl=ssl.create_default_context()) as resp:
                await resp.read()
        # Plain HTTP to the TLS port does not get the metrics.
        plain = url.replace("https://", "http://")
        with pytest.raises(FAILED_TLS):
            async with http.get(f"{plain}/metrics") as resp:
                await resp.read()


async def test_client_certificates_required_and_verified(tls_files: TlsFiles) -> None:
    security = tls_security(tls_files, "RequireAndVerifyClientCert")
    async with serving(FakeSource(), security=security) as url, client() as http:
        trusted = client_context(tls_files, tls_files.client_cert, tls_files.client_key)
        async with http.get(f"{url}/metrics", ssl=trusted) as resp:
            assert resp.status == 200
        strangers = [
            client_context(tls_files),  # no certificate at all
            client_context(tls_files, tls_files.other_client_cert, tls_files.other_client_key),
        ]
        for context in strangers:
            with pytest.raises(FAILED_TLS):
                async with http.get(f"{url}/metrics", ssl=context) as resp:
                    await resp.read()


async def test_client_certificates_verified_if_given(tls_files: TlsFiles) -> None:
    security = tls_security(tls_files, "VerifyClientCertIfGiven")
    async with serving(FakeSource(), security=security) as url, client() as http:
        async with http.get(f"{url}/-/healthy", ssl=client_context(tls_files)) as resp:
            assert resp.status == 200
        stranger = client_context(
            tls_files, tls_files.other_client_cert, tls_files.other_client_key
        )
        with pytest.raises(FAILED_TLS):
            async with http.get(f"{url}/-/healthy", ssl=stranger) as resp:
                await resp.read()


async def test_tls_and_basic_auth_together(tls_files: TlsFiles) -> None:
    security = WebSecurity(
        tls=tls_security(tls_files).tls, basic_auth_users=MappingProxyType({"alice": ALICE_HASH})
    )
    async with serving(FakeSource(), security=security) as url, client() as http:
        context = client_context(tls_files)
        async with http.get(f"{url}/metrics", ssl=context) as resp:
            assert resp.status == 401
        good = auth_header("alice", "wonderland")
        async with http.get(f"{url}/metrics", ssl=context, headers=good) as resp:
            assert resp.status == 200


@pytest.mark.parametrize(
    ("address", "host"),
    [
        # Two sockets, IPv4 and IPv6, each with a port of its own: the IPv4 one's address.
        ("localhost:0", "127.0.0.1"),
        (":0", "127.0.0.1"),
        # Every interface of one family: its loopback.
        ("0.0.0.0:0", "127.0.0.1"),
        ("[::]:0", "[::1]"),
        ("[::1]:0", "[::1]"),
    ],
)
async def test_listening_on_other_address_forms_and_the_url_it_gives(
    address: str, host: str
) -> None:
    if address.startswith("[") and not ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    async with serving(FakeSource(), listen_address=address) as url, client() as http:
        assert url.startswith(f"http://{host}:"), url
        async with http.get(f"{url}/-/healthy") as resp:
            assert resp.status == 200


async def test_a_busy_port_is_a_clear_error() -> None:
    async with serving(FakeSource()) as url:
        address = "127.0.0.1:" + url.rsplit(":", 1)[1]
        app = make_app(FakeSource(), version=VERSION)
        with pytest.raises(ConfigError, match=r"^web.listen_address: cannot listen on 127\.0\.0"):
            await start_server(app, address, None)
