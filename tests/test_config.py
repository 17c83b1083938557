"""The config file, as an operator writes it: every common mistake and the good shapes."""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from drs_exporter.config import (
    Config,
    Credentials,
    MetricsConfig,
    PollConfig,
    load_config,
    parse_config,
    parse_duration,
    parse_listen_address,
    schema,
)
from drs_exporter.errors import ConfigError
from drs_exporter.regions import KNOWN_REGIONS, drs_endpoint, iam_endpoint

REPO = Path(__file__).resolve().parent.parent

# Secret values that must never show up in an error message or a repr.
AK = "AKID4711ACCESSKEY"
SK = "sk-Zq9xV7-very-secret"
PASSWORD = "pw-Hunter2-secret"
TOKEN = "tok-MIIZ-secret-token"
SECRETS = (AK, SK, PASSWORD, TOKEN)

CREDS = f"""
credentials:
  access_key: {AK}
  secret_key: {SK}
"""
TARGET = """
targets:
  - project_id: p1
    region: ap-southeast-1
"""
GOOD = CREDS + TARGET
ENV_AKSK = {"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK}


def write(tmp_path: Path, text: str, files: Mapping[str, str] | None = None) -> str:
    """Write the config (and the files it refers to) into tmp_path; return its path."""
    for name, content in (files or {}).items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def load(
    tmp_path: Path,
    text: str,
    env: Mapping[str, str] | None = None,
    files: Mapping[str, str] | None = None,
) -> Config:
    return load_config(write(tmp_path, text, files), environ=env or {})


def error(
    tmp_path: Path,
    text: str,
    env: Mapping[str, str] | None = None,
    files: Mapping[str, str] | None = None,
) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, env, files)
    return info.value


def kind(credentials: Credentials) -> str:
    """Which of the three kinds of credentials these are: ``aksk``, ``iam`` or ``token``."""
    if credentials.iam is not None:
        return "iam"
    return "token" if credentials.token is not None else "aksk"


def assert_clean(exc: ConfigError) -> None:
    """One line, no secret."""
    text = str(exc)
    assert "\n" not in text
    for secret in SECRETS:
        assert secret not in text
        assert secret not in repr(exc)


def case(
    id: str,
    text: str,
    path: str,
    fragment: str,
    *,
    env: Mapping[str, str] | None = None,
    files: Mapping[str, str] | None = None,
) -> Any:
    return pytest.param(text, path, fragment, env, files, id=id)


MISTAKES = [
    # The file as a whole.
    case("empty file", "", "", "empty"),
    case("comments only", "# nothing yet\n", "", "empty"),
    case("a list", "- project_id: p1\n", "", "must be a mapping"),
    case("a scalar", "targets\n", "", "must be a mapping"),
    case(
        "typo at top", CREDS + "target:\n  - {project_id: p1}\n", "target", "did you mean 'targets'"
    ),
    case("poll key at top", GOOD + "interval: 30s\n", "interval", "did you mean 'poll.interval'"),
    case("unknown top key", GOOD + "frobnicate: 1\n", "frobnicate", "unknown key 'frobnicate'"),
    # Targets.
    case("no targets", CREDS, "targets", "missing"),
    case("empty targets", CREDS + "targets: []\n", "targets", "at least one"),
    case("targets a mapping", CREDS + "targets:\n  project_id: p1\n", "targets", "must be a list"),
    case("target a string", CREDS + "targets: [p1]\n", "targets[0]", "must be a mapping"),
    case(
        "target typo",
        CREDS + "targets:\n  - {project_id: p1, region: ap-southeast-1, regoin: x}\n",
        "targets[0].regoin",
        "did you mean 'region'",
    ),
    case(
        "target key of credentials",
        CREDS + f"targets:\n  - {{project_id: p1, region: ap-southeast-1, token: {TOKEN}}}\n",
        "targets[0].token",
        "credentials.token",
    ),
    case(
        "no project_id",
        CREDS + "targets:\n  - region: ap-southeast-1\n",
        "targets[0].project_id",
        "missing",
    ),
    case(
        "numeric project_id",
        CREDS + "targets:\n  - {project_id: 12345, region: ap-southeast-1}\n",
        "targets[0].project_id",
        "quote it",
    ),
    case(
        "empty project_id",
        CREDS + "targets:\n  - {project_id: '', region: ap-southeast-1}\n",
        "targets[0].project_id",
        "must not be empty",
    ),
    case(
        "project_id with a slash",
        CREDS + "targets:\n  - {project_id: a/b, region: ap-southeast-1}\n",
        "targets[0].project_id",
        "invalid project ID",
    ),
    case("no region", CREDS + "targets:\n  - project_id: p1\n", "targets[0].region", "missing"),
    case(
        "unknown region",
        GOOD + "  - {project_id: p2, region: xx-nowhere-1}\n",
        "targets[1].region",
        "unknown region 'xx-nowhere-1'",
    ),
    case(
        "region typo",
        CREDS + "targets:\n  - {project_id: p1, region: ap-southeast1}\n",
        "targets[0].region",
        "did you mean 'ap-southeast-1'",
    ),
    case(
        "endpoint not a URL",
        CREDS + "targets:\n  - {project_id: p1, region: xx-1, endpoint: drs.example.com}\n",
        "targets[0].endpoint",
        "http:// or https://",
    ),
    case(
        "endpoint ftp",
        CREDS + "targets:\n  - {project_id: p1, region: xx-1, endpoint: 'ftp://drs.example.com'}\n",
        "targets[0].endpoint",
        "http:// or https://",
    ),
    case(
        "endpoint with a password",
        CREDS
        + f"targets:\n  - {{project_id: p1, region: xx-1, endpoint: 'https://u:{PASSWORD}@h'}}\n",
        "targets[0].endpoint",
        "user name or password",
    ),
    case(
        "endpoint bad port",
        CREDS + "targets:\n  - {project_id: p1, region: xx-1, endpoint: 'http://h:99999'}\n",
        "targets[0].endpoint",
        "not a valid URL",
    ),
    case(
        "same target twice",
        GOOD + "  - {project_id: p1, region: ap-southeast-1, job_types: [sync]}\n",
        "targets[1]",
        "same project_id and region as targets[0]",
    ),
    # Job types.
    case(
        "job_types empty", GOOD + "    job_types: []\n", "targets[0].job_types", "must not be empty"
    ),
    case("job_types a string", GOOD + "    job_types: sync\n", "targets[0].job_types", "a list"),
    case(
        "job type typo",
        GOOD + "    job_types: [sync, migraton]\n",
        "targets[0].job_types[1]",
        "did you mean 'migration'",
    ),
    case(
        "job type twice",
        GOOD + "    job_types: [sync, migration, sync]\n",
        "targets[0].job_types[2]",
        "listed twice",
    ),
    # List APIs.
    case("apis empty", GOOD + "    apis: []\n", "targets[0].apis", "must not be empty"),
    case("apis a string", GOOD + "    apis: v3\n", "targets[0].apis", "a list like [v5, v3]"),
    case("unknown api", GOOD + "    apis: [v5, v4]\n", "targets[0].apis[1]", "known: v5, v3"),
    case("api twice", GOOD + "    apis: [v3, v3]\n", "targets[0].apis[1]", "listed twice"),
    # Filters.
    case(
        "filter typo",
        GOOD + "    filters: {net_typ: vpc}\n",
        "targets[0].filters.net_typ",
        "did you mean 'net_type'",
    ),
    case(
        "net_type unknown",
        GOOD + "    filters: {net_type: lan}\n",
        "targets[0].filters.net_type",
        "eip, vpc, vpn",
    ),
    case(
        "numeric enterprise project",
        GOOD + "    filters: {enterprise_project_id: 0}\n",
        "targets[0].filters.enterprise_project_id",
        "quote it",
    ),
    case(
        "empty engine_type",
        GOOD + "    filters: {engine_type: ''}\n",
        "targets[0].filters.engine_type",
        "must not be empty",
    ),
    case(
        "status lower case",
        GOOD + "    filters: {status: create_failed}\n",
        "targets[0].filters.status",
        "upper case",
    ),
    case(
        "several statuses not all failed",
        GOOD + "    filters: {status: 'CREATE_FAILED,CREATING'}\n",
        "targets[0].filters.status",
        "_FAILED",
    ),
    case(
        "instance_ids a string",
        GOOD + "    filters: {instance_ids: abc}\n",
        "targets[0].filters.instance_ids",
        "must be a list",
    ),
    case(
        "eleven instance_ids",
        GOOD + f"    filters: {{instance_ids: [{', '.join(f'i{n}' for n in range(11))}]}}\n",
        "targets[0].filters.instance_ids",
        "1 to 10",
    ),
    case(
        "instance id a number",
        GOOD + "    filters: {instance_ids: [a, 7]}\n",
        "targets[0].filters.instance_ids[1]",
        "quote it",
    ),
    case(
        "filters a list", GOOD + "    filters: [vpc]\n", "targets[0].filters", "must be a mapping"
    ),
    # Credentials.
    case(
        "two kinds",
        f"credentials: {{access_key: {AK}, secret_key: {SK}, token: {TOKEN}}}\n" + TARGET,
        "credentials",
        "not access_key/secret_key and token",
    ),
    case("empty credentials", "credentials: {}\n" + TARGET, "credentials", "no credentials"),
    case(
        "access key alone",
        f"credentials: {{access_key: {AK}}}\n" + TARGET,
        "credentials.secret_key",
        "needs both",
    ),
    case(
        "secret key alone",
        f"credentials: {{secret_key: {SK}}}\n" + TARGET,
        "credentials.access_key",
        "needs both",
    ),
    case(
        "security token alone",
        f"credentials: {{security_token: {TOKEN}}}\n" + TARGET,
        "credentials.access_key",
        "needs both",
    ),
    case(
        "credentials typo",
        f"credentials: {{access_key: {AK}, secret: {SK}}}\n" + TARGET,
        "credentials.secret",
        "did you mean 'secret_key'",
    ),
    case(
        "numeric secret",
        f"credentials: {{access_key: {AK}, secret_key: 12345678}}\n" + TARGET,
        "credentials.secret_key",
        "quote it",
    ),
    case(
        "secret and secret file",
        f"credentials: {{access_key: {AK}, secret_key: {SK}, secret_key_file: sk.txt}}\n" + TARGET,
        "credentials.secret_key",
        "not both",
        files={"sk.txt": SK},
    ),
    case(
        "missing secret file",
        f"credentials: {{access_key: {AK}, secret_key_file: nope/sk.txt}}\n" + TARGET,
        "credentials.secret_key_file",
        "cannot read",
    ),
    case(
        "empty secret file",
        f"credentials: {{access_key: {AK}, secret_key_file: sk.txt}}\n" + TARGET,
        "credentials.secret_key_file",
        "is empty",
        files={"sk.txt": "\n"},
    ),
    case(
        "two-line secret file",
        f"credentials: {{access_key: {AK}, secret_key_file: sk.txt}}\n" + TARGET,
        "credentials.secret_key_file",
        "line break",
        files={"sk.txt": f"{SK}\n{SK}\n"},
    ),
    case(
        "secret file is a directory",
        f"credentials: {{access_key: {AK}, secret_key_file: .}}\n" + TARGET,
        "credentials.secret_key_file",
        "cannot read",
    ),
    case(
        "empty secret from env",
        "credentials: {access_key: '${AK}', secret_key: '${SK}'}\n" + TARGET,
        "credentials.secret_key",
        "is empty",
        env={"AK": AK, "SK": ""},
    ),
    case(
        "iam without password",
        "credentials:\n  iam: {domain_name: d, username: u}\n" + TARGET,
        "credentials.iam.password",
        "password_file",
    ),
    case(
        "iam without username",
        f"credentials:\n  iam: {{domain_name: d, password: {PASSWORD}}}\n" + TARGET,
        "credentials.iam.username",
        "missing",
    ),
    case(
        "iam a string",
        f"credentials:\n  iam: {PASSWORD}\n" + TARGET,
        "credentials.iam",
        "must be a mapping",
    ),
    case(
        "iam typo",
        f"credentials:\n  iam: {{domain: d, username: u, password: {PASSWORD}}}\n" + TARGET,
        "credentials.iam.domain",
        "did you mean 'domain_name'",
    ),
    case(
        "iam password and file",
        f"credentials:\n  iam: {{domain_name: d, username: u, password: {PASSWORD},"
        " password_file: pw}\n" + TARGET,
        "credentials.iam.password",
        "not both",
        files={"pw": PASSWORD},
    ),
    case(
        "iam for an unlisted region without an IAM endpoint",
        f"credentials:\n  iam: {{domain_name: d, username: u, password: {PASSWORD}}}\n"
        "targets:\n  - {project_id: p1, region: xx-1, endpoint: 'http://127.0.0.1:1'}\n",
        "credentials.iam.endpoint",
        "targets[0]",
    ),
    case(
        "target iam for an unlisted region",
        CREDS + "targets:\n  - project_id: p1\n    region: xx-1\n    endpoint: http://127.0.0.1:1\n"
        f"    credentials:\n      iam: {{domain_name: d, username: u, password: {PASSWORD}}}\n",
        "targets[0].credentials.iam.endpoint",
        "missing",
    ),
    case(
        "target credentials replace the default whole",
        CREDS + "targets:\n  - project_id: p1\n    region: ap-southeast-1\n"
        f"    credentials: {{access_key: {AK}}}\n",
        "targets[0].credentials.secret_key",
        "needs both",
    ),
    case("no credentials anywhere", TARGET, "targets[0].credentials", "HUAWEICLOUD_SDK_AK"),
    case(
        "only half the environment pair",
        TARGET,
        "targets[0].credentials",
        "HUAWEICLOUD_SDK_SK is not set",
        env={"HUAWEICLOUD_SDK_AK": AK},
    ),
    # ${VAR} substitution.
    case(
        "unset variable",
        "credentials: {access_key: '${MY_AK}', secret_key: '${MY_SK}'}\n" + TARGET,
        "credentials.secret_key",
        "MY_SK is not set",
        env={"MY_AK": AK},
    ),
    case(
        "unset variable in a list",
        GOOD + "    job_types: [sync, '${SECOND_TYPE}']\n",
        "targets[0].job_types[1]",
        "SECOND_TYPE",
    ),
    case(
        "unclosed reference",
        f"credentials: {{access_key: {AK}, secret_key: 'ab${{SK'}}\n" + TARGET,
        "credentials.secret_key",
        "closing",
    ),
    case(
        "bad variable name",
        f"credentials: {{access_key: {AK}, secret_key: 'a${{{PASSWORD}}}'}}\n" + TARGET,
        "credentials.secret_key",
        "variable name",
    ),
    # poll.
    case(
        "poll typo", GOOD + "poll: {intervall: 30s}\n", "poll.intervall", "did you mean 'interval'"
    ),
    case("poll a list", GOOD + "poll: [30s]\n", "poll", "must be a mapping"),
    case("zero interval", GOOD + "poll: {interval: 0s}\n", "poll.interval", "longer than 0"),
    case(
        "wordy interval",
        GOOD + "poll: {interval: 5 minutes}\n",
        "poll.interval",
        "invalid duration",
    ),
    case("negative timeout", GOOD + "poll: {timeout: -1}\n", "poll.timeout", "0 or more"),
    case("zero timeout", GOOD + "poll: {timeout: 0}\n", "poll.timeout", "longer than 0"),
    case("stale_after true", GOOD + "poll: {stale_after: true}\n", "poll.stale_after", "duration"),
    case("page_size 0", GOOD + "poll: {page_size: 0}\n", "poll.page_size", "from 1 to 1000"),
    case("page_size 1001", GOOD + "poll: {page_size: 1001}\n", "poll.page_size", "from 1 to 1000"),
    case(
        "page_size fraction", GOOD + "poll: {page_size: 10.5}\n", "poll.page_size", "whole number"
    ),
    case("page_size text", GOOD + "poll: {page_size: '100'}\n", "poll.page_size", "whole number"),
    case("batch_size 0", GOOD + "poll: {batch_size: 0}\n", "poll.batch_size", "from 1 to 100"),
    case("batch_size 101", GOOD + "poll: {batch_size: 101}\n", "poll.batch_size", "from 1 to 100"),
    case("max_jobs 0", GOOD + "poll: {max_jobs: 0}\n", "poll.max_jobs", "from 1 to 1000000"),
    case(
        "max_jobs past its bound",
        GOOD + "poll: {max_jobs: 1000001}\n",
        "poll.max_jobs",
        "from 1 to 1000000",
    ),
    case("max_jobs 1e5", GOOD + "poll: {max_jobs: 1e5}\n", "poll.max_jobs", "whole number"),
    case("max_jobs text", GOOD + "poll: {max_jobs: lots}\n", "poll.max_jobs", "whole number"),
    case(
        "max_jobs typo", GOOD + "poll: {max_job: 10}\n", "poll.max_job", "did you mean 'max_jobs'"
    ),
    case(
        "max_jobs at the top", GOOD + "max_jobs: 10\n", "max_jobs", "did you mean 'poll.max_jobs'"
    ),
    case("health text", GOOD + "metrics: {health: 'no'}\n", "metrics.health", "true or false"),
    case("page_size bool", GOOD + "poll: {page_size: true}\n", "poll.page_size", "whole number"),
    case("retries 11", GOOD + "poll: {retries: 11}\n", "poll.retries", "from 0 to 10"),
    case("retries negative", GOOD + "poll: {retries: -1}\n", "poll.retries", "from 0 to 10"),
    case(
        "no concurrency",
        GOOD + "poll: {max_concurrency: 0}\n",
        "poll.max_concurrency",
        "from 1 to 1000",
    ),
    case(
        "zero rate",
        GOOD + "poll: {max_requests_per_second: 0}\n",
        "poll.max_requests_per_second",
        "greater than 0",
    ),
    case(
        "rate a bool",
        GOOD + "poll: {max_requests_per_second: yes}\n",
        "poll.max_requests_per_second",
        "a number",
    ),
    case("interval no value", GOOD + "poll:\n  interval:\n", "poll.interval", "no value"),
    # metrics.
    case("per_job text", GOOD + "metrics: {per_job: 'yes'}\n", "metrics.per_job", "true or false"),
    case(
        "dense_status 1",
        GOOD + "metrics: {dense_status: 1}\n",
        "metrics.dense_status",
        "true or false",
    ),
    case(
        "metrics typo",
        GOOD + "metrics: {perjob: true}\n",
        "metrics.perjob",
        "did you mean 'per_job'",
    ),
    # web.
    case("listen number", GOOD + "web: {listen_address: 9877}\n", "web.listen_address", "quote it"),
    case(
        "listen no port",
        GOOD + "web: {listen_address: localhost}\n",
        "web.listen_address",
        "host:port",
    ),
    case(
        "listen big port",
        GOOD + "web: {listen_address: ':70000'}\n",
        "web.listen_address",
        "0 to 65535",
    ),
    case(
        "listen bare v6",
        GOOD + "web: {listen_address: '::1:9877'}\n",
        "web.listen_address",
        "brackets",
    ),
    case(
        "telemetry no slash",
        GOOD + "web: {telemetry_path: metrics}\n",
        "web.telemetry_path",
        "start with '/'",
    ),
    case("telemetry root", GOOD + "web: {telemetry_path: /}\n", "web.telemetry_path", "taken"),
    case(
        "telemetry ready", GOOD + "web: {telemetry_path: /-/ready}\n", "web.telemetry_path", "taken"
    ),
    case(
        "missing web config",
        GOOD + "web: {config_file: web-config.yml}\n",
        "web.config_file",
        "does not exist",
    ),
    case("web typo", GOOD + "web: {listen_adress: ':1'}\n", "web.listen_adress", "listen_address"),
    # http.
    case(
        "proxy not http",
        GOOD + f"http: {{proxy_url: 'socks5://user:{PASSWORD}@proxy:1080'}}\n",
        "http.proxy_url",
        "http:// or https://",
    ),
    case("missing CA file", GOOD + "http: {ca_file: ca.pem}\n", "http.ca_file", "does not exist"),
    case(
        "insecure as text",
        GOOD + "http: {insecure_skip_verify: 'false'}\n",
        "http.insecure_skip_verify",
        "true or false",
    ),
]


@pytest.mark.parametrize(("text", "path", "fragment", "env", "files"), MISTAKES)
def test_mistake_names_the_field(
    tmp_path: Path,
    text: str,
    path: str,
    fragment: str,
    env: Mapping[str, str] | None,
    files: Mapping[str, str] | None,
) -> None:
    exc = error(tmp_path, text, env, files)
    assert exc.path == path, str(exc)
    assert fragment in exc.message, str(exc)
    assert str(exc) == (f"{path}: {exc.message}" if path else exc.message)
    assert_clean(exc)


def test_the_message_reads_as_in_the_contract(tmp_path: Path) -> None:
    exc = error(tmp_path, GOOD + "  - {project_id: p2, region: xx-nowhere-1}\n")
    assert str(exc).startswith("targets[1].region: unknown region 'xx-nowhere-1'")


def test_yaml_syntax_error_gives_file_and_line_without_the_line(tmp_path: Path) -> None:
    text = f'credentials:\n  access_key: {AK}\n  secret_key: "{SK}\n' + TARGET
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    message = str(info.value)
    assert re.match(rf"{re.escape(path)}:\d+:\d+: invalid YAML: ", message), message
    assert "line 3" in message  # where the unterminated string started
    assert_clean(info.value)


def test_yaml_bad_indentation_gives_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "poll:\n  interval: 30s\n   timeout: 5s\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert str(info.value).startswith(f"{path}:11:")
    assert_clean(info.value)


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "poll:\n  interval: 30s\n  interval: 5m\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert str(info.value) == f"{path}:11:3: invalid YAML: duplicate key 'interval'"


def test_yaml_alias_loop_is_an_error(tmp_path: Path) -> None:
    exc = error(tmp_path, GOOD + "poll: &loop\n  - *loop\n")
    assert exc.path == "poll[0]"
    assert "loop" in exc.message


def test_missing_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(str(tmp_path / "nope.yaml"), environ={})
    assert str(info.value) == f"{tmp_path / 'nope.yaml'}: cannot read the config file: " + (
        "No such file or directory"
    )
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"targets: [\xe9]\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(str(bad), environ={})


def test_parse_config_takes_what_safe_load_gives() -> None:
    data = {"targets": [{"project_id": "p1", "region": "cn-north-4"}], "poll": {"interval": 5}}
    config = parse_config(data, base_dir="/nonexistent", environ=ENV_AKSK)
    assert config.targets[0].endpoint == "https://drs.cn-north-4.myhuaweicloud.com"
    assert config.poll.interval == 5.0
    with pytest.raises(ConfigError) as info:
        parse_config({"targets": [{"project_id": "p1"}]}, base_dir="/", environ=ENV_AKSK)
    assert info.value.path == "targets[0].region"


# --- Good configs ----------------------------------------------------------------------------


def test_minimal_config_gets_the_documented_defaults(tmp_path: Path) -> None:
    config = load(tmp_path, TARGET, env=ENV_AKSK)
    (target,) = config.targets
    assert target.project_id == "p1"
    assert target.region == "ap-southeast-1"
    assert target.endpoint == "https://drs.ap-southeast-1.myhuaweicloud.com"
    assert target.job_types == ("migration", "sync", "cloudDataGuard")
    assert target.filters == ()
    assert target.apis == ("v5", "v3")
    poll = config.poll
    assert (poll.interval, poll.page_size, poll.timeout, poll.retries) == (60.0, 100, 10.0, 3)
    assert (poll.max_concurrency, poll.max_requests_per_second, poll.stale_after) == (
        8,
        10.0,
        600.0,
    )
    assert poll.batch_size == 100
    assert poll.max_jobs == 100_000
    assert (config.metrics.per_job, config.metrics.dense_status) == (True, False)
    assert (config.metrics.health, config.metrics.dr, config.metrics.quotas) == (True, True, True)
    assert (config.web.listen_address, config.web.telemetry_path) == (":9877", "/metrics")
    assert config.web.config_file is None
    assert config.http.proxy_url is None
    assert config.http.ca_file is None
    assert config.http.insecure_skip_verify is False


def test_empty_sections_mean_defaults(tmp_path: Path) -> None:
    config = load(tmp_path, GOOD + "poll:\nmetrics:\nweb:\nhttp:\n")
    assert config.poll.interval == 60.0
    assert config.web.telemetry_path == "/metrics"


def test_a_key_by_its_old_name_is_read_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = load(tmp_path, GOOD + "poll: {dr_monitoring_requests: 7}\n")
    assert config.poll.rotation_requests == 7
    assert "poll.dr_monitoring_requests is deprecated: it is poll.rotation_requests now" in (
        caplog.text
    )
    with pytest.raises(ConfigError) as both:
        load(tmp_path, GOOD + "poll: {dr_monitoring_requests: 7, rotation_requests: 8}\n")
    assert str(both.value) == (
        "poll.dr_monitoring_requests: is the old name of rotation_requests: give only "
        "rotation_requests"
    )
    with pytest.raises(ConfigError) as bad:
        load(tmp_path, GOOD + "poll: {dr_monitoring_requests: 0}\n")
    assert bad.value.path == "poll.dr_monitoring_requests"  # as the file says


def test_every_key_set(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    text = CREDS + textwrap.dedent("""
        targets:
          - project_id: 054ba152d480d55b2f5dc0069e7ddef0
            region: my-private-1
            endpoint: http://127.0.0.1:8443/drs/
            job_types: [cloudDataGuard, sync]
            apis: [v3]
            filters:
              net_type: vpc
              status: "INCRE_TRANSFER_FAILED, FULL_TRANSFER_FAILED"
              instance_ids: [inst-a, inst-b]
              enterprise_project_id: ""
              engine_type: mysql-to-mysql
              name: nightly
              instance_ip: 192.168.0.10
        poll:
          interval: 1h30m
          page_size: 1000
          timeout: 500ms
          retries: 0
          max_concurrency: 1
          max_requests_per_second: 0.5
          stale_after: 90
          batch_size: 100
          max_jobs: 5000
        metrics: {per_job: false, dense_status: true, health: false}
        web:
          listen_address: "[::1]:0"
          telemetry_path: /drs/metrics
          config_file: web-config.yml
        http:
          proxy_url: http://proxy.internal:3128/
          ca_file: certs/ca.pem
          insecure_skip_verify: true
        """)
    files = {"web-config.yml": "basic_auth_users: {}\n", "certs/ca.pem": "pem\n"}
    config = load(tmp_path, text, files=files)
    (target,) = config.targets
    assert target.region == "my-private-1"
    assert target.endpoint == "http://127.0.0.1:8443/drs"
    assert target.job_types == ("cloudDataGuard", "sync")
    assert target.filters == (
        ("net_type", "vpc"),
        ("status", "INCRE_TRANSFER_FAILED,FULL_TRANSFER_FAILED"),
        ("instance_ids", "inst-a"),
        ("instance_ids", "inst-b"),
        ("enterprise_project_id", ""),
        ("engine_type", "mysql-to-mysql"),
        ("name", "nightly"),
        ("instance_ip", "192.168.0.10"),
    )
    poll = config.poll
    assert (poll.interval, poll.page_size, poll.timeout, poll.retries) == (5400.0, 1000, 0.5, 0)
    assert (poll.max_concurrency, poll.max_requests_per_second, poll.stale_after) == (1, 0.5, 90.0)
    assert poll.batch_size == 100
    assert poll.max_jobs == 5000
    assert (config.metrics.per_job, config.metrics.dense_status) == (False, True)
    assert config.metrics.health is False
    assert target.apis == ("v3",)
    assert config.web.listen_address == "[::1]:0"
    assert config.web.telemetry_path == "/drs/metrics"
    assert config.web.config_file == str(tmp_path / "web-config.yml")
    assert config.http.proxy_url == "http://proxy.internal:3128"
    assert config.http.ca_file == str(tmp_path / "certs" / "ca.pem")
    assert config.http.insecure_skip_verify is True


def test_relative_files_resolve_next_to_the_config_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    (conf_dir / "sk").write_text(SK + "\n")
    (conf_dir / "web.yml").write_text("{}\n")
    path = conf_dir / "config.yaml"
    path.write_text(
        f"credentials: {{access_key: {AK}, secret_key_file: sk}}\n"
        + TARGET
        + "web: {config_file: web.yml}\n"
    )
    monkeypatch.chdir(tmp_path)
    config = load_config(os.path.join("etc", "config.yaml"), environ={})
    assert config.targets[0].credentials.secret_key == SK
    assert config.web.config_file == str(conf_dir / "web.yml")


def test_region_endpoints(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        targets:
          - {project_id: p1, region: eu-west-101}
          - {project_id: p1, region: cn-north-4}
          - {project_id: p1, region: cn-north-9, endpoint: "https://drs.proxy.example/"}
        """,
        env=ENV_AKSK,
    )
    assert [t.endpoint for t in config.targets] == [
        "https://drs.eu-west-101.myhuaweicloud.eu",
        "https://drs.cn-north-4.myhuaweicloud.com",
        "https://drs.proxy.example",  # an explicit endpoint wins over the region's
    ]


def test_same_project_in_two_regions_is_fine(tmp_path: Path) -> None:
    config = load(tmp_path, GOOD + "  - {project_id: p1, region: cn-north-4}\n")
    assert [(t.project_id, t.region) for t in config.targets] == [
        ("p1", "ap-southeast-1"),
        ("p1", "cn-north-4"),
    ]


def test_single_status_and_the_default_enterprise_project(tmp_path: Path) -> None:
    text = GOOD + "    filters: {status: CHILD_TRANSFER_STARTED, enterprise_project_id: '0'}\n"
    config = load(tmp_path, text)
    assert config.targets[0].filters == (
        ("status", "CHILD_TRANSFER_STARTED"),
        ("enterprise_project_id", "0"),
    )


def test_unknown_engine_type_and_status_pass(tmp_path: Path) -> None:
    text = GOOD + "    filters: {engine_type: postgresql-to-kafka, status: SOME_NEW_STATUS}\n"
    config = load(tmp_path, text)
    assert ("engine_type", "postgresql-to-kafka") in config.targets[0].filters
    assert ("status", "SOME_NEW_STATUS") in config.targets[0].filters


# --- ${VAR} substitution ----------------------------------------------------------------------


def test_environment_substitution(tmp_path: Path) -> None:
    text = """
    credentials:
      access_key: ${MY_AK}
      secret_key: "${MY_SK}"
    targets:
      - project_id: ${PROJECT}
        region: ${REGION:-ap-southeast-3}
        job_types: ["${JOB_TYPE}"]
        filters: {name: "job-${SUFFIX:-x}-${SUFFIX2:-}", engine_type: "$${NOT_A_VAR}"}
    poll:
      interval: ${INTERVAL:-30s}
    web:
      telemetry_path: /m/${EMPTY:-fallback}
    """
    env = {
        "MY_AK": AK,
        "MY_SK": SK,
        "PROJECT": "p9",
        "JOB_TYPE": "sync",
        "INTERVAL": "2m",
        "EMPTY": "",
    }
    config = load(tmp_path, text, env=env)
    target = config.targets[0]
    assert (target.credentials.access_key, target.credentials.secret_key) == (AK, SK)
    assert (target.project_id, target.region) == ("p9", "ap-southeast-3")
    assert target.job_types == ("sync",)
    assert target.filters == (("name", "job-x-"), ("engine_type", "${NOT_A_VAR}"))
    assert config.poll.interval == 120.0
    assert config.web.telemetry_path == "/m/fallback"


def test_substitution_is_single_pass_and_leaves_lone_dollars(tmp_path: Path) -> None:
    text = "credentials: {access_key: '${MY_AK}', secret_key: 'a$b$$c${X}'}\n" + TARGET
    config = load(tmp_path, text, env={"MY_AK": "${X}", "X": "x"})
    assert config.targets[0].credentials.access_key == "${X}"
    assert config.targets[0].credentials.secret_key == "a$b$$cx"


def test_keys_are_not_substituted(tmp_path: Path) -> None:
    exc = error(tmp_path, GOOD + "poll: {'${KEY}': 30s}\n", env={"KEY": "interval"})
    assert exc.path == "poll.${KEY}"


# --- Secrets from files -----------------------------------------------------------------------


def test_every_secret_can_come_from_a_file(tmp_path: Path) -> None:
    files = {"ak": AK + "\n", "sk": SK, "st": TOKEN + "\r\n", "tok": TOKEN, "pw": PASSWORD + "\n"}
    text = """
    credentials:
      access_key_file: ak
      secret_key_file: ${SECRETS_DIR}/sk
      security_token_file: st
    targets:
      - {project_id: p1, region: ap-southeast-1}
      - project_id: p2
        region: ap-southeast-1
        credentials: {token_file: tok}
      - project_id: p3
        region: ap-southeast-1
        credentials:
          iam: {domain_name: acme, username: bob, password_file: pw}
    """
    config = load(tmp_path, text, env={"SECRETS_DIR": str(tmp_path)}, files=files)
    aksk, token, iam = (t.credentials for t in config.targets)
    assert (kind(aksk), aksk.access_key, aksk.secret_key, aksk.security_token) == (
        "aksk",
        AK,
        SK,
        TOKEN,
    )
    assert (kind(token), token.token) == ("token", TOKEN)
    assert kind(iam) == "iam"
    assert iam.iam is not None
    assert (iam.iam.domain_name, iam.iam.username, iam.iam.password) == ("acme", "bob", PASSWORD)
    assert iam.iam.endpoint is None


def test_file_content_is_not_substituted(tmp_path: Path) -> None:
    text = f"credentials: {{access_key: {AK}, secret_key_file: sk}}\n" + TARGET
    config = load(tmp_path, text, files={"sk": "pa${HOME}ss\n"})
    assert config.targets[0].credentials.secret_key == "pa${HOME}ss"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "sk"
    secret.write_text(SK)
    secret.chmod(0)
    exc = error(tmp_path, f"credentials: {{access_key: {AK}, secret_key_file: sk}}\n" + TARGET)
    assert exc.path == "credentials.secret_key_file"
    assert "Permission denied" in exc.message
    assert_clean(exc)


# --- Where credentials come from --------------------------------------------------------------


def test_environment_fallback(tmp_path: Path) -> None:
    config = load(tmp_path, TARGET, env=ENV_AKSK)
    creds = config.targets[0].credentials
    assert (kind(creds), creds.access_key, creds.secret_key, creds.security_token) == (
        "aksk",
        AK,
        SK,
        None,
    )
    env = {**ENV_AKSK, "HUAWEICLOUD_SDK_SECURITY_TOKEN": TOKEN}
    assert load(tmp_path, TARGET, env=env).targets[0].credentials.security_token == TOKEN


def test_environment_is_not_used_when_credentials_are_configured(tmp_path: Path) -> None:
    env = {"HUAWEICLOUD_SDK_AK": "other-ak", "HUAWEICLOUD_SDK_SK": "other-sk"}
    config = load(tmp_path, f"credentials: {{token: {TOKEN}}}\n" + TARGET, env=env)
    assert config.targets[0].credentials == Credentials(token=TOKEN)


def test_load_config_reads_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", AK)
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", SK)
    config = load_config(write(tmp_path, TARGET))
    assert config.targets[0].credentials.access_key == AK


def test_target_credentials_replace_the_default(tmp_path: Path) -> None:
    text = CREDS + textwrap.dedent(f"""
        targets:
          - {{project_id: p1, region: ap-southeast-1}}
          - project_id: p2
            region: eu-west-101
            credentials:
              iam: {{domain_name: acme, username: bob, password: {PASSWORD}}}
          - project_id: p3
            region: xx-lab-1
            endpoint: http://127.0.0.1:9
            credentials:
              iam:
                domain_name: acme
                username: bob
                password: {PASSWORD}
                endpoint: http://127.0.0.1:9/
          - project_id: p4
            region: ap-southeast-1
            credentials:
        """)
    config = load(tmp_path, text)
    first, second, third, fourth = (t.credentials for t in config.targets)
    assert first == Credentials(access_key=AK, secret_key=SK)
    assert kind(second) == "iam"
    assert second.access_key is None  # replaced whole, not merged
    assert third.iam is not None
    assert third.iam.endpoint == "http://127.0.0.1:9"
    assert fourth == first  # `credentials:` with no value inherits the default


def test_no_secret_in_the_repr_of_a_config(tmp_path: Path) -> None:
    text = (
        f"credentials: {{access_key: {AK}, secret_key: {SK}, security_token: {TOKEN}}}\n"
        + "targets:\n  - {project_id: p1, region: ap-southeast-1}\n"
        + "  - project_id: p2\n    region: ap-southeast-1\n"
        + f"    credentials: {{iam: {{domain_name: d, username: u, password: {PASSWORD}}}}}\n"
        + f"http: {{proxy_url: 'http://user:{PASSWORD}@proxy:3128'}}\n"
    )
    config = load(tmp_path, text)
    for secret in SECRETS:
        assert secret not in repr(config)
        assert secret not in str(config)


# --- The example file -------------------------------------------------------------------------


def test_example_config_is_valid() -> None:
    config = load_config(str(REPO / "config.example.yaml"), environ=ENV_AKSK)
    assert config.targets[0].credentials == Credentials(access_key=AK, secret_key=SK)
    assert config.targets[0].filters == (("enterprise_project_id", ""),)


def schema_keys() -> set[str]:
    """Every key the config file takes, from the schema's key tuples (``*_KEYS``)."""
    return {
        key
        for name, keys in vars(schema).items()
        if name.endswith("_KEYS") and isinstance(keys, tuple)
        for key in keys
    }


def test_example_config_documents_every_key() -> None:
    text = (REPO / "config.example.yaml").read_text()
    keys = schema_keys()
    # A key of each section: the tuples were found.
    assert {"targets", "project_id", "token_file", "domain_name", "instance_ip"} <= keys
    assert {"interval", "per_job", "listen_address", "proxy_url"} <= keys
    written = set(re.findall(r"([a-z_]+):", text))
    assert keys - written == set()


def test_the_configuration_page_documents_every_key_and_no_other() -> None:
    """docs/configuration.md's tables: their first column names keys (``poll.interval``,
    ``targets[].apis``); every key of the schema is named there or in a row's text (the
    credential keys are), and every key a first column names is one of the schema's."""
    text = (REPO / "docs" / "configuration.md").read_text()
    keys = schema_keys()
    named: set[str] = set()
    for row in re.findall(r"^\| (`[^|]+) \|", text, re.M):
        for path in re.findall(r"`([\w.\[\]]+)`", row):
            named |= {part for part in re.split(r"[.\[\]]+", path) if part}
    assert named, "no key table found"
    assert named - keys == set(), "named but not in the schema"
    words = set(re.findall(r"[a-z_]+", text))
    assert keys - words == set(), "in the schema but not documented"
    assert "rotation_requests" in named and "exclude_projects" in named


def documented_value(cell: str) -> tuple[object, ...]:
    """A default cell of docs/configuration.md's table as values: ``60s`` (at most ``1d``) is
    (60.0, 86400.0), ``100`` (1 to 1000) is (100, 1, 1000), none (at most ``1d``) is (None,
    86400.0), ``true`` is (True,), ``[]`` (at most 64) is ((), 64)."""
    match = re.fullmatch(
        r"(?:`([^`]+)`|none)(?: \((?:at most `?([^`)]+)`?|(\d+) to (\d+))\))?", cell
    )
    assert match, f"not a default and bound: {cell!r}"
    default, most, low, high = match.groups()

    def value(text: str | None) -> object:
        if text is None or text in ("true", "false"):
            return None if text is None else text == "true"
        if text == "[]":  # a list of names, none by default
            return ()
        return int(text) if text.isdigit() else parse_duration(text, "")

    if low is not None:
        return (value(default), int(low), int(high))
    return (value(default),) if most is None else (value(default), value(most))


def declared_value(section: type, name: str) -> tuple[object, ...]:
    """A key's default and bounds as its declaration in the schema gives them."""
    default = getattr(section(), name)
    key = schema.keys_of(section)[name]
    if key.kind == "switch":
        return (default,)
    if key.kind == "count":
        return (default, key.least, key.most)
    return (default, key.most)


def test_the_configuration_page_gives_each_poll_and_metrics_default_and_bound() -> None:
    """The defaults and bounds that docs/configuration.md states are the schema's values."""
    text = (REPO / "docs" / "configuration.md").read_text()
    cells = dict(re.findall(r"^\| `((?:poll|metrics)\.\w+)` \| ([^|]+) \|", text, re.M))
    documented = {key: documented_value(cell) for key, cell in cells.items()}
    declared = {
        f"{name}.{key}": declared_value(section, key)
        for name, section in (("poll", PollConfig), ("metrics", MetricsConfig))
        for key in schema.keys_of(section)
    }
    assert documented == declared
    assert documented["poll.batch_size"] == (100, 1, 100)  # values, read from the page
    assert documented["poll.stale_after"] == (600.0, 30 * 86400.0)


# --- Durations, listen addresses, regions -----------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("1m30s", 90.0),
        ("2d", 172800.0),
        ("1.5m", 90.0),
        ("45", 45.0),
        (45, 45.0),
        (0.25, 0.25),
        ("0s", 0.0),
    ],
)
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value, "poll.interval") == seconds


@pytest.mark.parametrize(
    "value", ["", "5 minutes", "m", "1s1h", "30S", "-5s", "1.2.3s", -1, True, None, [30], "nan"]
)
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(ConfigError) as info:
        parse_duration(value, "poll.timeout")
    assert info.value.path == "poll.timeout"


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        (":9877", ("", 9877)),
        ("0.0.0.0:9877", ("0.0.0.0", 9877)),
        ("localhost:0", ("localhost", 0)),
        ("[::1]:65535", ("::1", 65535)),
        ("[::]:80", ("::", 80)),
    ],
)
def test_parse_listen_address(value: str, parsed: tuple[str, int]) -> None:
    assert parse_listen_address(value) == parsed


@pytest.mark.parametrize(
    "value", ["9877", ":", ":-1", ":65536", "host:port", "::1:80", "[::1]80", "[x]:80", "a b:1"]
)
def test_parse_listen_address_rejects(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_listen_address(value, "--web.listen-address")
    assert info.value.path == "--web.listen-address"


def test_regions() -> None:
    assert len(KNOWN_REGIONS) == 34
    assert {"ap-southeast-5", "cn-north-12", "my-kualalumpur-1", "la-north-2"} <= KNOWN_REGIONS
    assert drs_endpoint("ap-southeast-1") == "https://drs.ap-southeast-1.myhuaweicloud.com"
    assert drs_endpoint("eu-west-101") == "https://drs.eu-west-101.myhuaweicloud.eu"
    assert drs_endpoint("xx-nowhere-1") is None
    assert iam_endpoint("cn-north-4") == "https://iam.cn-north-4.myhuaweicloud.com"
    assert iam_endpoint("eu-west-101") == "https://iam.eu-west-101.myhuaweicloud.eu"
