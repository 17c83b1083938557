"""The web-config file: every mistake an operator makes, and basic-auth checking."""

from __future__ import annotations

import asyncio
import base64
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest

from drs_exporter.errors import ConfigError
from drs_exporter.web.basicauth import BasicAuth
from drs_exporter.web.webconfig import load_web_config


@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca_cert: Path  # an unrelated CA, with a client certificate of its own
    other_client_cert: Path
    other_client_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _ca(directory: Path, name: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-days", "2", "-subj", f"/CN={name}",
        "-keyout", f"{name}.key", "-out", f"{name}.crt",
        cwd=directory,
    )  # fmt: skip


def _leaf(directory: Path, name: str, ca: str, extensions: str) -> None:
    (directory / f"{name}.ext").write_text(
        "basicConstraints=CA:FALSE\nsubjectKeyIdentifier=hash\n"
        f"authorityKeyIdentifier=keyid,issuer\n{extensions}\n"
    )
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.csr",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
        "-set_serial", str(secrets.randbelow(2**62) + 1), "-days", "2",
        "-extfile", f"{name}.ext", "-out", f"{name}.crt",
        cwd=directory,
    )  # fmt: skip


def make_tls_files(directory: Path) -> TlsFiles:
    """Generate certificates with the openssl command line tool (skip the test without it)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    directory.mkdir(parents=True, exist_ok=True)
    _ca(directory, "ca")
    _ca(directory, "other-ca")
    san = "subjectAltName=IP:127.0.0.1,DNS:localhost"
    _leaf(directory, "server", "ca", f"{san}\nextendedKeyUsage=serverAuth")
    _leaf(directory, "client", "ca", "extendedKeyUsage=clientAuth")
    _leaf(directory, "other-client", "other-ca", "extendedKeyUsage=clientAuth")
    return TlsFiles(
        ca_cert=directory / "ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
        other_ca_cert=directory / "other-ca.crt",
        other_client_cert=directory / "other-client.crt",
        other_client_key=directory / "other-client.key",
    )


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()  # cheap cost: tests


ALICE_HASH = hash_password("wonderland")


def write(directory: Path, text: str) -> str:
    path = directory / "web-config.yml"
    path.write_text(text)
    return str(path)


def test_an_empty_file_asks_for_nothing(tmp_path: Path) -> None:
    security = load_web_config(write(tmp_path, "# nothing yet\n"))
    assert security.tls is None
    assert not security.basic_auth_users
    assert security.headers == ()
    assert security.ssl_context() is None


def test_a_complete_file_with_paths_relative_to_it(tmp_path: Path, tls_files: TlsFiles) -> None:
    conf_dir = tmp_path / "conf"
    (conf_dir / "certs").mkdir(parents=True)
    for source, name in (
        (tls_files.server_cert, "server.crt"),
        (tls_files.server_key, "server.key"),
        (tls_files.ca_cert, "ca.crt"),
    ):
        shutil.copy(source, conf_dir / "certs" / name)
    path = write(
        conf_dir,
        f"""
tls_server_config:
  cert_file: certs/server.crt
  key_file: certs/server.key
  client_ca_file: certs/ca.crt
  client_auth_type: RequireAndVerifyClientCert
  min_version: TLS13
http_server_config:
  http2: false
  headers:
    x-frame-options: deny
    Strict-Transport-Security: max-age=31536000
    Content-Security-Policy: ""
basic_auth_users:
  alice: {ALICE_HASH}
  1234: {ALICE_HASH}
""",
    )
    security = load_web_config(path)
    assert security.tls is not None
    assert security.tls.cert_file == str(conf_dir / "certs" / "server.crt")
    assert security.tls.client_ca_file == str(conf_dir / "certs" / "ca.crt")
    assert security.tls.client_auth_type == "RequireAndVerifyClientCert"
    assert security.tls.min_version == "TLS13"
    assert dict(security.basic_auth_users) == {"alice": ALICE_HASH, "1234": ALICE_HASH}
    assert security.headers == (
        ("X-Frame-Options", "deny"),
        ("Strict-Transport-Security", "max-age=31536000"),
    )
    context = security.ssl_context()
    assert context is not None
    assert context.verify_mode.name == "CERT_REQUIRED"
    assert ALICE_HASH not in repr(security)


MISTAKES = [
    ("[]\n", "web.config_file: must be a mapping"),
    ("nonsense: 1\n", "web.config_file: nonsense: unknown key"),
    ("rate_limit: {interval: 1s, burst: 2}\n", "web.config_file: rate_limit: is not supported"),
    ("tls_server_config: [cert_file]\n", "web.config_file: tls_server_config: must be a mapping"),
    (
        "tls_server_config: {cert_file: server.crt, key_file: server.key, bogus: 1}\n",
        "web.config_file: tls_server_config.bogus: unknown key",
    ),
    (
        "tls_server_config: {cert_file: server.crt, key_file: server.key, cipher_suites: [X]}\n",
        "web.config_file: tls_server_config.cipher_suites: is not supported",
    ),
    (
        "tls_server_config: {cert: '-----BEGIN', key_file: server.key}\n",
        "web.config_file: tls_server_config.cert: is not supported",
    ),
    (
        "tls_server_config: {cert_file: server.crt}\n",
        "web.config_file: tls_server_config.key_file: required",
    ),
    (
        "tls_server_config: {key_file: server.key}\n",
        "web.config_file: tls_server_config.cert_file: required",
    ),
    (
        "tls_server_config: {client_auth_type: RequireAndVerifyClientCert}\n",
        "web.config_file: tls_server_config.cert_file: required",
    ),
    (
        "tls_server_config: {cert_file: missing.crt, key_file: server.key}\n",
        "web.config_file: tls_server_config.cert_file: cannot read",
    ),
    (
        "tls_server_config: {cert_file: 42, key_file: server.key}\n",
        "web.config_file: tls_server_config.cert_file: must be a string",
    ),
    (
        "tls_server_config: {cert_file: server.crt, key_file: server.key,"
        " client_auth_type: VerifyEverything}\n",
        "web.config_file: tls_server_config.client_auth_type: unknown value 'VerifyEverything'",
    ),
    (
        "tls_server_config: {cert_file: server.crt, key_file: server.key,"
        " client_auth_type: RequireAnyClientCert}\n",
        "web.config_file: tls_server_config.client_auth_type: RequireAnyClientCert is not",
    ),
    (
        "tls_server_config: {cert_file: server.crt, key_file: server.key, client_ca_file: ca.crt}\n",
        "web.config_file: tls_server_config.client_ca_file: client certificates are not verified",
    ),
    (
        "tls_server_config: {cert_file: server.crt, key_file: server.key,"
        " client_auth_type: RequireAndVerifyClientCert, client_ca_file: nope.crt}\n",
        "web.config_file: tls_server_config.client_ca_file: cannot read",
    ),
    (
        "tls_server_config: {cert_file: server.crt, key_file: server.key, min_version: TLS14}\n",
        "web.config_file: tls_server_config.min_version: unknown value 'TLS14'",
    ),
    (
        "tls_server_config: {cert_file: server.crt, key_file: server.key,"
        " min_version: TLS13, max_version: TLS12}\n",
        "web.config_file: tls_server_config.min_version: is above max_version",
    ),
    (
        "tls_server_config: {cert_file: server.key, key_file: server.key}\n",
        "web.config_file: tls_server_config.cert_file: ",
    ),
    (
        "tls_server_config: {cert_file: server.crt, key_file: client.key}\n",
        "web.config_file: tls_server_config.key_file: ",
    ),
    (
        "tls_server_config: {cert_file: server.crt, key_file: server.key,"
        " prefer_server_cipher_suites: maybe}\n",
        "web.config_file: tls_server_config.prefer_server_cipher_suites: must be true or false",
    ),
    (
        "http_server_config: {headers: {Content-Type: text/html}}\n",
        "web.config_file: http_server_config.headers.Content-Type: cannot be configured",
    ),
    (
        "http_server_config: {headers: {X-Frame-Options: allow-all}}\n",
        "web.config_file: http_server_config.headers.X-Frame-Options: must be one of deny",
    ),
    (
        'http_server_config: {headers: {X-XSS-Protection: "1\\r\\nSet-Cookie: a=b"}}\n',
        "web.config_file: http_server_config.headers.X-XSS-Protection: must be a single-line",
    ),
    (
        "http_server_config: {http2: sometimes}\n",
        "web.config_file: http_server_config.http2: must be true or false",
    ),
    ("http_server_config: {gzip: true}\n", "web.config_file: http_server_config.gzip: unknown"),
    ("basic_auth_users: [alice]\n", "web.config_file: basic_auth_users: must be a mapping"),
    ("basic_auth_users: {alice: hunter2}\n", "web.config_file: basic_auth_users.alice: not a"),
    ("basic_auth_users: {alice: 1234}\n", "web.config_file: basic_auth_users.alice: must be a"),
    ("basic_auth_users: {alice: ~}\n", "web.config_file: basic_auth_users.alice: must be a"),
    (
        f"basic_auth_users: {{'al:ice': '{ALICE_HASH}'}}\n",
        "web.config_file: basic_auth_users.al:ice: a user name must be non-empty",
    ),
    (
        "basic_auth_users: {alice: $2y$99$" + "a" * 53 + "}\n",
        "web.config_file: basic_auth_users.alice: bcrypt cost must be between 4 and 31",
    ),
]


@pytest.mark.parametrize(("text", "message"), MISTAKES)
def test_every_mistake_names_its_field(
    tmp_path: Path, tls_files: TlsFiles, text: str, message: str
) -> None:
    for source in (tls_files.server_cert, tls_files.server_key, tls_files.ca_cert):
        shutil.copy(source, tmp_path / source.name)
    shutil.copy(tls_files.client_key, tmp_path / "client.key")
    with pytest.raises(ConfigError) as caught:
        load_web_config(write(tmp_path, text))
    assert str(caught.value).startswith(message), str(caught.value)
    assert caught.value.path == "web.config_file"
    assert "\n" not in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^web.config_file: .*nope.yml: cannot read"):
        load_web_config(str(tmp_path / "nope.yml"))


def test_broken_yaml_is_reported_without_quoting_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, f"basic_auth_users:\n  alice: {ALICE_HASH}\n  bob: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_web_config(path)
    message = str(caught.value)
    assert message.startswith("web.config_file: ") and "web-config.yml:4:1: invalid YAML" in message
    assert ALICE_HASH not in message


def test_an_encrypted_key_fails_the_load_instead_of_prompting(
    tmp_path: Path, tls_files: TlsFiles
) -> None:
    subprocess.run(
        ["openssl", "pkey", "-in", str(tls_files.server_key), "-aes256", "-passout",
         "pass:secret", "-out", str(tmp_path / "encrypted.key")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    path = write(
        tmp_path,
        f"tls_server_config: {{cert_file: {tls_files.server_cert}, key_file: encrypted.key}}\n",
    )
    with pytest.raises(ConfigError, match=r"^web.config_file: tls_server_config.key_file: "):
        load_web_config(path)


def basic(user: str | bytes, password: str | bytes) -> str:
    raw = (user.encode() if isinstance(user, str) else user) + b":"
    raw += password.encode() if isinstance(password, str) else password
    return "Basic " + base64.b64encode(raw).decode()


@pytest.fixture
def bcrypt_calls(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Counts the (slow) bcrypt checks made."""
    calls: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        calls.append(password)
        return bool(real(password, hashed))

    monkeypatch.setattr(bcrypt, "checkpw", counting)  # what webconfig calls
    return calls


async def test_basic_auth_accepts_only_the_right_password() -> None:
    auth = BasicAuth({"alice": ALICE_HASH})
    assert await auth.check(basic("alice", "wonderland"))
    assert not await auth.check(basic("alice", "Wonderland"))
    assert not await auth.check(basic("bob", "wonderland"))
    assert not await auth.check(basic("alice", ""))
    assert not await auth.check(None)


async def test_htpasswd_style_2y_hashes_work() -> None:
    hashed = "$2y$" + hash_password("pw")[4:]
    assert await BasicAuth({"u": hashed}).check(basic("u", "pw"))


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Basic",
        "Basic ",
        "Bearer abc",
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"alice-wonderland").decode(),  # no colon
        "Basic " + base64.b64encode(b"\xff\xfe:wonderland").decode(),  # not UTF-8
        "Basic ümlaut",
        "Basic " + "A" * 100_000,
    ],
)
async def test_malformed_headers_are_refused(header: str) -> None:
    assert not await BasicAuth({"alice": ALICE_HASH}).check(header)


async def test_the_scheme_is_case_insensitive() -> None:
    header = basic("alice", "wonderland").replace("Basic", "bAsIc")
    assert await BasicAuth({"alice": ALICE_HASH}).check(header)


async def test_repeated_scrapes_cost_one_bcrypt_check(bcrypt_calls: list[bytes]) -> None:
    auth = BasicAuth({"alice": ALICE_HASH})
    for _ in range(5):
        assert await auth.check(basic("alice", "wonderland"))
    assert len(bcrypt_calls) == 1
    # Concurrent first requests wait for one check instead of each running their own.
    fresh = BasicAuth({"alice": ALICE_HASH})
    results = await asyncio.gather(*(fresh.check(basic("alice", "wonderland")) for _ in range(8)))
    assert all(results) and len(bcrypt_calls) == 2


async def test_failures_are_never_remembered(bcrypt_calls: list[bytes]) -> None:
    auth = BasicAuth({"alice": ALICE_HASH})
    assert await auth.check(basic("alice", "wonderland"))
    for _ in range(3):
        assert not await auth.check(basic("alice", "guess"))
    assert len(bcrypt_calls) == 4
    # Unknown users still cost a bcrypt check, so timing does not reveal who exists.
    assert not await auth.check(basic("mallory", "wonderland"))
    assert len(bcrypt_calls) == 5


async def test_long_passwords_are_checked_like_go_and_htpasswd_do() -> None:
    long_password = "p" * 72
    auth = BasicAuth({"carol": hash_password(long_password)})
    assert await auth.check(basic("carol", long_password))
    assert await auth.check(basic("carol", long_password + "ignored-by-bcrypt"))
    assert not await auth.check(basic("carol", "p" * 71))
