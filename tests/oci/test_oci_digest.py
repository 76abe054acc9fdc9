"""Digest grammar: what parses, what is refused, and the string round trip."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.errors import InvalidArgument
from dockyard.oci.digest import Digest, is_digest

HEX64 = "a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"
HEX128 = "f" * 128

VALID = [
    (f"sha256:{HEX64}", "sha256", HEX64),
    (f"sha512:{HEX128}", "sha512", HEX128),
    ("sha256:" + "0" * 64, "sha256", "0" * 64),
]

INVALID = [
    "",
    ":",
    "sha256",
    "sha256:",
    f"sha256:{HEX64.upper()}",  # uppercase hex
    f"sha256:{HEX64[:-1]}",  # too short
    f"sha256:{HEX64}0",  # too long
    "sha256:../x",
    "sha256:../../../../etc/passwd",
    f"sha256:{HEX64[:-1]}/",
    f"SHA256:{HEX64}",
    f"md5:{'a' * 32}",  # unknown algorithm
    f"sha384:{'a' * 96}",
    f"sha512:{HEX64}",  # sha512 with a sha256 length
    f"sha256:{HEX64} ",
    f" sha256:{HEX64}",
    f"sha256:{HEX64}\n",
    f"sha256+b64u:{HEX64}",
    f"sha256:{'g' * 64}",
    HEX64,  # bare hex
]


@pytest.mark.parametrize(("text", "algorithm", "encoded"), VALID)
def test_parse_valid(text: str, algorithm: str, encoded: str) -> None:
    digest = Digest.parse(text)
    assert (digest.algorithm, digest.encoded) == (algorithm, encoded)
    assert str(digest) == text
    assert digest.hex == encoded
    assert digest.short == encoded[:12]
    assert is_digest(text)


@pytest.mark.parametrize("text", INVALID)
def test_parse_invalid(text: str) -> None:
    with pytest.raises(InvalidArgument, match=r'^invalid digest "'):
        Digest.parse(text)
    assert not is_digest(text)


def test_message_names_the_input() -> None:
    with pytest.raises(InvalidArgument) as info:
        Digest.parse("sha256:../x")
    assert str(info.value).startswith('invalid digest "sha256:../x": ')


@pytest.mark.parametrize(("algorithm", "encoded"), [("sha256", "abc"), ("nope", HEX64)])
def test_constructor_validates(algorithm: str, encoded: str) -> None:
    with pytest.raises(InvalidArgument):
        Digest(algorithm, encoded)


def test_is_digest_rejects_non_strings() -> None:
    assert not is_digest(None)
    assert not is_digest(123)


def test_from_bytes() -> None:
    assert str(Digest.from_bytes(b"")) == (
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    d512 = Digest.from_bytes(b"x", "sha512")
    assert d512 == Digest("sha512", hashlib.sha512(b"x").hexdigest())
    assert d512.matches(b"x")
    assert not d512.matches(b"y")
    with pytest.raises(InvalidArgument):
        Digest.from_bytes(b"", "md5")


def test_from_hex() -> None:
    assert Digest.from_hex(HEX64) == Digest.parse(f"sha256:{HEX64}")
    with pytest.raises(InvalidArgument):
        Digest.from_hex(HEX64.upper())


def test_new_hash_streams() -> None:
    digest = Digest.from_bytes(b"hello world")
    h = digest.new_hash()
    h.update(b"hello ")
    h.update(b"world")
    assert h.hexdigest() == digest.encoded


def test_hashable_and_ordered() -> None:
    a, b = Digest.from_hex("0" * 64), Digest.from_hex("1" * 64)
    assert {a, b, Digest.from_hex("0" * 64)} == {a, b}
    assert sorted([b, a]) == [a, b]


@given(st.binary())
def test_round_trip_from_bytes(data: bytes) -> None:
    digest = Digest.from_bytes(data)
    assert Digest.parse(str(digest)) == digest
    assert digest.encoded == hashlib.sha256(data).hexdigest()


@given(st.text(max_size=140))
def test_parse_never_crashes_and_round_trips(text: str) -> None:
    try:
        digest = Digest.parse(text)
    except InvalidArgument:
        return
    assert str(digest) == text
