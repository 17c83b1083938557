"""The AK/SK signer against Huawei's published vectors, and the Authorization parser."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from drs_exporter.cloud import signer

UTC = dt.timezone.utc

# Vector 1: the APIG signing guide's VPC example.
V1_AK = "QTWAOYTTINDUT2QVKYUC"
V1_SK = "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc"
V1_HOST = "service.region.example.com"
V1_PATH = "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs"
V1_QUERY = [("limit", "2"), ("marker", "13551d6b-755d-4757-b956-536f674975c0")]
V1_HASH = "b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a"
V1_SIGNATURE = "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
V1_NOW = dt.datetime(2019, 11, 15, 3, 36, 55, tzinfo=UTC)

# Vector 2: the Python SDK's own test, with a header that must not be signed. The published
# values are the signatures (keyed by "SecretKey"), not hashes of the canonical request.
V2_HOST = "service.endpoint.myhuaweicloud.com"
V2_HEADERS = {"Host": V2_HOST, "X-Sdk-Date": "20200608T023900Z", "TEST_UNDERSCORE": "x"}
V2_GET_SIGNATURE = "cfb4171acec81de07d50e53d57eb77edd537414d66ddb1d7d780f128e12cd842"
V2_POST_SIGNATURE = "436b1ac0a1ae03705934bb70ef2f2e09f7bfed2117d731a38235053199323a1f"


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_vector_1_hashed_canonical_request_and_signature() -> None:
    headers = {
        "Content-Type": "application/json",
        "Host": V1_HOST,
        "X-Sdk-Date": "20191115T033655Z",
    }
    canonical = signer.canonical_request(
        "GET",
        V1_PATH,
        signer.canonical_query(V1_QUERY),
        headers,
        ["content-type", "host", "x-sdk-date"],
        b"",
    )
    assert sha256_hex(canonical) == V1_HASH
    to_sign = signer.string_to_sign(canonical, "20191115T033655Z")
    assert signer.signature(V1_SK, to_sign) == V1_SIGNATURE


def test_vector_1_through_sign() -> None:
    headers = signer.sign(
        "GET",
        V1_HOST,
        V1_PATH,
        V1_QUERY,
        {"Content-Type": "application/json"},
        b"",
        V1_AK,
        V1_SK,
        V1_NOW,
    )
    assert headers["X-Sdk-Date"] == "20191115T033655Z"
    assert headers["Host"] == V1_HOST
    assert headers["Content-Type"] == "application/json"
    assert headers["Authorization"] == (
        f"SDK-HMAC-SHA256 Access={V1_AK}, SignedHeaders=content-type;host;x-sdk-date, "
        f"Signature={V1_SIGNATURE}"
    )


def test_sign_converts_an_aware_time_to_utc_and_takes_naive_as_utc() -> None:
    plus8 = dt.timezone(dt.timedelta(hours=8))
    local = dt.datetime(2019, 11, 15, 11, 36, 55, tzinfo=plus8)
    naive = dt.datetime(2019, 11, 15, 3, 36, 55)
    args = ("GET", V1_HOST, V1_PATH, V1_QUERY, {"Content-Type": "application/json"}, b"")
    for now in (local, naive):
        headers = signer.sign(*args, V1_AK, V1_SK, now)
        assert headers["Authorization"].endswith(f"Signature={V1_SIGNATURE}")


V2_BODIES = {"GET": b"", "POST": b'{"name":"test","id":1}'}
V2_SIGNATURES = {"GET": V2_GET_SIGNATURE, "POST": V2_POST_SIGNATURE}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_vector_2_underscore_header_is_not_signed(method: str) -> None:
    query = signer.canonical_query([("size", "1")])
    canonical = signer.canonical_request(
        method, "/resources", query, V2_HEADERS, ["host", "x-sdk-date"], V2_BODIES[method]
    )
    to_sign = signer.string_to_sign(canonical, "20200608T023900Z")
    assert signer.signature("SecretKey", to_sign) == V2_SIGNATURES[method]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_vector_2_through_sign(method: str) -> None:
    headers = signer.sign(
        method,
        V2_HOST,
        "/resources",
        [("size", "1")],
        {"TEST_UNDERSCORE": "TEST_VALUE"},
        V2_BODIES[method],
        "AccessKey",
        "SecretKey",
        dt.datetime(2020, 6, 8, 2, 39, 0, tzinfo=UTC),
    )
    assert headers["TEST_UNDERSCORE"] == "TEST_VALUE"
    assert headers["Authorization"] == (
        "SDK-HMAC-SHA256 Access=AccessKey, SignedHeaders=host;x-sdk-date, "
        f"Signature={V2_SIGNATURES[method]}"
    )


def test_query_encoding_vector() -> None:
    pairs = [
        ("test", "一 (&=?!#%.*)"),
        ("path", "/tmp/123"),
        ("multi", "3"),
        ("limit", "1"),
        ("multi", "1"),
        ("enable", "true"),
        ("multi", "2"),
    ]
    assert signer.canonical_query(pairs) == (
        "enable=true&limit=1&multi=1&multi=2&multi=3&path=%2Ftmp%2F123"
        "&test=%E4%B8%80%20%28%26%3D%3F%21%23%25.%2A%29"
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v5/p/jobs", "/v5/p/jobs/"),
        ("/v5/p/jobs/", "/v5/p/jobs/"),
        ("/a%20b/c d", "/a%20b/c%20d/"),
        ("/x%2Fy", "/x/y/"),  # decoded first, so an encoded slash becomes a separator
        ("/é~", "/%C3%A9~/"),
        ("", "/"),
    ],
)
def test_canonical_uri(path: str, expected: str) -> None:
    assert signer.canonical_uri(path) == expected


def test_quote_keeps_only_unreserved_characters() -> None:
    assert signer.quote("a-b_c.d~e f/g+h") == "a-b_c.d~e%20f%2Fg%2Bh"


def test_header_values_are_trimmed_and_names_case_folded() -> None:
    plain = signer.canonical_request("get", "/p", "", {"host": "h"}, ["host"], b"")
    padded = signer.canonical_request("GET", "/p", "", {"HOST": "  h \t"}, ["Host"], b"")
    assert plain == padded


def test_a_signed_header_that_is_missing_is_an_error() -> None:
    with pytest.raises(ValueError, match="x-project-id"):
        signer.canonical_request("GET", "/", "", {"Host": "h"}, ["host", "x-project-id"], b"")


def test_sign_replaces_stale_host_date_and_authorization_headers() -> None:
    old = {"host": "old", "x-sdk-date": "19700101T000000Z", "authorization": "x"}
    headers = signer.sign("GET", "h:8080", "/", [], old, b"", "AK", "SK", V1_NOW)
    assert {k.lower() for k in headers} == {"host", "x-sdk-date", "authorization"}
    assert headers["Host"] == "h:8080"
    assert headers["X-Sdk-Date"] == "20191115T033655Z"


def test_sign_does_not_change_the_given_headers() -> None:
    given = {"Content-Type": "application/json"}
    signer.sign("GET", "h", "/", [], given, b"", "AK", "SK", V1_NOW)
    assert given == {"Content-Type": "application/json"}


def test_parse_authorization_round_trip() -> None:
    value = f"SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host;x-sdk-date, Signature={'a' * 64}"
    assert signer.parse_authorization(value) == signer.Authorization(
        "AK1", ("host", "x-sdk-date"), "a" * 64
    )


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Bearer abc",
        f"SDK-HMAC-SHA1 Access=AK, SignedHeaders=host, Signature={'a' * 64}",
        "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host",
        f"SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature={'a' * 63}",
        f"SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature={'g' * 64}",
        f"SDK-HMAC-SHA256 Access=, SignedHeaders=host, Signature={'a' * 64}",
        f"SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;;date, Signature={'a' * 64}",
        f"SDK-HMAC-SHA256 Access=AK, Access=AK, SignedHeaders=host, Signature={'a' * 64}",
        f"SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature={'a' * 64}, Extra=1",
        f"SDK-HMAC-SHA256 Access=AK SignedHeaders=host Signature={'a' * 64}",
    ],
)
def test_parse_authorization_rejects_malformed(value: str) -> None:
    with pytest.raises(ValueError):
        signer.parse_authorization(value)


def test_parse_authorization_error_does_not_echo_the_access_key() -> None:
    with pytest.raises(ValueError) as info:
        signer.parse_authorization("SDK-HMAC-SHA256 Access=SECRETAK, Signature=zz")
    assert "SECRETAK" not in str(info.value)
