"""The generic value readers that the config file and the web-config file share."""

from __future__ import annotations

import pytest

from drs_exporter.config.validators import join_path, mapping, nested_in, one_of
from drs_exporter.errors import ConfigError


def test_join_path() -> None:
    assert join_path("", "poll") == "poll"
    assert join_path("poll", "interval") == "poll.interval"


def test_a_mapping_with_known_keys() -> None:
    assert mapping(None, "poll", ("interval",)) == {}
    assert mapping({"interval": "30s"}, "poll", ("interval",)) == {"interval": "30s"}
    with pytest.raises(ConfigError) as caught:
        mapping({"intervall": "30s"}, "poll", ("interval",))
    assert str(caught.value) == "poll.intervall: unknown key 'intervall' (did you mean 'interval'?)"
    with pytest.raises(
        ConfigError, match=r"^poll: must be a mapping of keys to values, got a list"
    ):
        mapping(["30s"], "poll", ("interval",))
    with pytest.raises(ConfigError, match=r"^poll: keys must be text, got a number 1"):
        mapping({1: "30s"}, "poll", ("interval",))


def test_a_key_that_belongs_elsewhere_says_where() -> None:
    with pytest.raises(ConfigError) as caught:
        mapping({"interval": "30s"}, "", ("poll",), belongs_under={"interval": "poll.interval"})
    assert str(caught.value) == "interval: unknown key 'interval' (did you mean 'poll.interval'?)"


def test_without_keys_any_text_key_is_taken() -> None:
    assert mapping({"alice": "x", "bob": "y"}, "users") == {"alice": "x", "bob": "y"}
    with pytest.raises(ConfigError, match=r"^users: keys must be text"):
        mapping({None: "x"}, "users")


@pytest.mark.parametrize("empty", [None, [], ""])
def test_an_unsupported_key_with_an_empty_value_asks_for_nothing(empty: object) -> None:
    block = {"cipher_suites": empty}
    assert mapping(block, "tls", ("cert_file",), unsupported=("cipher_suites",)) == block


def test_an_unsupported_key_is_refused_by_name() -> None:
    with pytest.raises(ConfigError) as caught:
        mapping({"cipher_suites": ["X"]}, "tls", ("cert_file",), unsupported=("cipher_suites",))
    assert str(caught.value) == "tls.cipher_suites: is not supported by drs-exporter"


def test_one_of() -> None:
    assert one_of("sync", "job_types[0]", ("migration", "sync"), "job type") == "sync"
    with pytest.raises(ConfigError) as caught:
        one_of("snyc", "job_types[0]", ("migration", "sync"), "job type")
    assert str(caught.value) == (
        "job_types[0]: unknown job type 'snyc' (did you mean 'sync'?); known: migration, sync"
    )
    with pytest.raises(ConfigError, match=r"^job_types\[0\]: must be text, got a number"):
        one_of(1, "job_types[0]", ("migration", "sync"), "job type")


def test_nested_in_puts_the_path_inside_the_file_into_the_message() -> None:
    with pytest.raises(ConfigError) as caught, nested_in("web.config_file"):
        mapping({"bogus": 1}, "tls_server_config", ("cert_file",))
    assert caught.value.path == "web.config_file"
    assert caught.value.message == "tls_server_config.bogus: unknown key 'bogus'"
    with pytest.raises(ConfigError) as caught, nested_in("web.config_file"):
        mapping([], "", ())
    assert str(caught.value) == "web.config_file: must be a mapping of keys to values, got a list"
