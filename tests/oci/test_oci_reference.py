"""Docker reference normalisation, with distribution/reference's own test vectors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.errors import InvalidArgument
from dockyard.oci.digest import Digest
from dockyard.oci.reference import Reference, is_reference, parse_reference

D = "sha256:" + "f" * 64
D2 = "sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582"
D512 = "sha512:" + "f" * 128
HEX_ID = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"

# input -> (domain, path, tag, digest); normalize_test.go / reference_test.go via
# ParseNormalizedNamed.
PARSE = [
    ("busybox", ("docker.io", "library/busybox", None, None)),
    ("busybox:latest", ("docker.io", "library/busybox", "latest", None)),
    ("library/busybox", ("docker.io", "library/busybox", None, None)),
    ("docker.io/busybox", ("docker.io", "library/busybox", None, None)),
    ("index.docker.io/busybox", ("docker.io", "library/busybox", None, None)),
    ("index.docker.io/docker/docker", ("docker.io", "docker/docker", None, None)),
    ("docker.io/library/foo/bar", ("docker.io", "library/foo/bar", None, None)),
    ("localhost:5000/a/b:1.0", ("localhost:5000", "a/b", "1.0", None)),
    ("localhost/foo", ("localhost", "foo", None, None)),
    ("test_com", ("docker.io", "library/test_com", None, None)),
    ("test.com:tag", ("docker.io", "library/test.com", "tag", None)),
    ("test.com:5000", ("docker.io", "library/test.com", "5000", None)),
    ("test.com/repo:tag", ("test.com", "repo", "tag", None)),
    ("test:5000/repo", ("test:5000", "repo", None, None)),
    ("test:5000/repo:tag", ("test:5000", "repo", "tag", None)),
    (f"test:5000/repo@{D}", ("test:5000", "repo", None, D)),
    (f"test:5000/repo:tag@{D}", ("test:5000", "repo", "tag", D)),
    (f"busybox@{D2}", ("docker.io", "library/busybox", None, D2)),
    (f"busybox:latest@{D2}", ("docker.io", "library/busybox", "latest", D2)),
    ("lowercase:Uppercase", ("docker.io", "library/lowercase", "Uppercase", None)),
    ("sub-dom1.foo.com/bar/baz/quux", ("sub-dom1.foo.com", "bar/baz/quux", None, None)),
    (
        "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
        ("sub-dom1.foo.com", "bar/baz/quux", "some-long-tag", None),
    ),
    (
        "b.gcr.io/test.example.com/my-app:test.example.com",
        ("b.gcr.io", "test.example.com/my-app", "test.example.com", None),
    ),
    ("xn--n3h.com/myimage:xn--n3h.com", ("xn--n3h.com", "myimage", "xn--n3h.com", None)),
    (
        f"xn--7o8h.com/myimage:xn--7o8h.com@{D512}",
        ("xn--7o8h.com", "myimage", "xn--7o8h.com", D512),
    ),
    ("foo_bar.com:8080", ("docker.io", "library/foo_bar.com", "8080", None)),
    ("foo/foo_bar.com:8080", ("docker.io", "foo/foo_bar.com", "8080", None)),
    ("192.168.1.1", ("docker.io", "library/192.168.1.1", None, None)),
    ("192.168.1.1:5000", ("docker.io", "library/192.168.1.1", "5000", None)),
    ("192.168.1.1/repo", ("192.168.1.1", "repo", None, None)),
    ("192.168.1.1:5000/repo", ("192.168.1.1:5000", "repo", None, None)),
    ("[2001:db8::1]/repo", ("[2001:db8::1]", "repo", None, None)),
    ("[2001:db8:1:2:3:4:5:6]/repo:tag", ("[2001:db8:1:2:3:4:5:6]", "repo", "tag", None)),
    ("[2001:db8::1]:5000/repo", ("[2001:db8::1]:5000", "repo", None, None)),
    ("[2001:db8::1]:5000/repo:tag", ("[2001:db8::1]:5000", "repo", "tag", None)),
    (f"[2001:db8::1]:5000/repo@{D}", ("[2001:db8::1]:5000", "repo", None, D)),
    (f"[2001:db8::1]:5000/repo:tag@{D}", ("[2001:db8::1]:5000", "repo", "tag", D)),
    ("[2001:db8::]:5000/repo", ("[2001:db8::]:5000", "repo", None, None)),
    ("[::1]:5000/repo", ("[::1]:5000", "repo", None, None)),
    ("Foo/bar", ("Foo", "bar", None, None)),  # an uppercase first part is a domain
    ("FOO/bar", ("FOO", "bar", None, None)),
    ("Docker/docker", ("Docker", "docker", None, None)),
    ("foo__bar", ("docker.io", "library/foo__bar", None, None)),
    ("foo--bar", ("docker.io", "library/foo--bar", None, None)),
    ("foo.bar_baz-qux", ("docker.io", "library/foo.bar_baz-qux", None, None)),
    (
        "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
        ("docker.io", "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev"),
    ),
    (
        "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
        (
            "docker.io",
            "library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
        ),
    ),
    ("a:" + "t" * 128, ("docker.io", "library/a", "t" * 128, None)),
]


@pytest.mark.parametrize(("text", "expected"), PARSE)
def test_parse(text: str, expected: tuple[str | None, ...]) -> None:
    domain, path, tag, digest = (*expected, None, None)[:4]
    ref = parse_reference(text)
    assert (ref.domain, ref.path, ref.tag) == (domain, path, tag)
    assert ref.digest == (None if digest is None else Digest.parse(digest))
    assert is_reference(text)
    assert parse_reference(str(ref)) == ref
    if len(ref.familiar()) != 64:  # a familiar 64-hex name reads as an image ID, as in Docker
        assert parse_reference(ref.familiar()) == ref


# (input, message): Docker's error text for each.
INVALID = [
    ("", "invalid reference format"),
    (":justtag", "invalid reference format"),
    (f"@{D}", "invalid reference format"),
    ("https://github.com/docker/docker", "invalid reference format"),
    ("-docker", "invalid reference format"),
    ("-docker/docker", "invalid reference format"),
    ("-docker.io/docker/docker", "invalid reference format"),
    ("docker///docker", "invalid reference format"),
    ("docker.io/docker///docker", "invalid reference format"),
    ("[fc00::1]", "invalid reference format"),
    ("[fc00::1]:5000", "invalid reference format"),
    ("fc00::1:5000/debian", "invalid reference format"),
    ("[2001:db8::1]:tag", "invalid reference format"),
    ("[fe80::1%eth0]:5000/repo", "invalid reference format"),
    ("[fe80::1%@invalidzone]:5000/repo", "invalid reference format"),
    ("aa/asdf$$^/aa", "invalid reference format"),
    ("foo___bar", "invalid reference format"),
    ("foo..bar", "invalid reference format"),
    ("foo-", "invalid reference format"),
    ("foo/", "invalid reference format"),
    ("foo:", "invalid reference format"),
    ("foo@", "invalid reference format"),
    ("foo:-tag", "invalid reference format"),
    ("a:" + "t" * 129, "invalid reference format"),
    ("busybox latest", "invalid reference format"),
    ("a_b.c/foo", "invalid reference format"),
    (
        "Busybox",
        "invalid reference format: repository name (library/Busybox) must be lowercase",
    ),
    (
        "Uppercase:tag",
        "invalid reference format: repository name (library/Uppercase) must be lowercase",
    ),
    (
        "docker/Docker",
        "invalid reference format: repository name (docker/Docker) must be lowercase",
    ),
    (
        "docker.io/docker/Docker",
        "invalid reference format: repository name (docker/Docker) must be lowercase",
    ),
    (
        "test:5000/Uppercase/lowercase:tag",
        "invalid reference format: repository name (Uppercase/lowercase) must be lowercase",
    ),
    (
        HEX_ID,
        f"invalid repository name ({HEX_ID}), cannot specify 64-byte hexadecimal strings",
    ),
    (
        "a/" * 128 + "a:tag",
        "invalid reference format: repository name must not be more than 255 characters",
    ),
    (
        "a/" * 127 + "a:tag-puts-this-over-max",
        "invalid reference format: repository name must not be more than 255 characters",
    ),
    (f"validname@invaliddigest:{'f' * 64}", "invalid reference format: invalid digest"),
    (f"validname@sha256:{'f' * 48}", "invalid reference format: invalid digest"),
    (f"validname@sha256:{'F' * 64}", "invalid reference format: invalid digest"),
]


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_parse_invalid(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_reference(text)
    assert str(info.value).startswith(message)
    assert not is_reference(text)


# ParseRepositoryInfo: every spelling of one repository gives the same names.
REPOSITORY_INFO = [
    # (familiar name, full name, other spellings, domain, path)
    ("fooo/bar", "docker.io/fooo/bar", ["index.docker.io/fooo/bar"], "docker.io", "fooo/bar"),
    ("ubuntu", "docker.io/library/ubuntu", ["library/ubuntu"], "docker.io", "library/ubuntu"),
    ("nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu", [], "docker.io", "nonlibrary/ubuntu"),
    ("other/library", "docker.io/other/library", [], "docker.io", "other/library"),
    (
        "127.0.0.1:8000/private/moonbase",
        "127.0.0.1:8000/private/moonbase",
        [],
        "127.0.0.1:8000",
        "private/moonbase",
    ),
    ("example.com/privatebase", "example.com/privatebase", [], "example.com", "privatebase"),
    (
        "example.com:8000/private/moonbase",
        "example.com:8000/private/moonbase",
        [],
        "example.com:8000",
        "private/moonbase",
    ),
    (
        "ubuntu-12.04-base",
        "docker.io/library/ubuntu-12.04-base",
        ["index.docker.io/library/ubuntu-12.04-base"],
        "docker.io",
        "library/ubuntu-12.04-base",
    ),
    ("foo", "docker.io/library/foo", ["docker.io/foo"], "docker.io", "library/foo"),
    ("library/foo/bar", "docker.io/library/foo/bar", [], "docker.io", "library/foo/bar"),
    ("store/foo/bar", "docker.io/store/foo/bar", [], "docker.io", "store/foo/bar"),
    ("Foo/bar", "Foo/bar", [], "Foo", "bar"),
    ("FOO/bar", "FOO/bar", [], "FOO", "bar"),
]


@pytest.mark.parametrize(("familiar", "full", "others", "domain", "path"), REPOSITORY_INFO)
def test_repository_info(
    familiar: str, full: str, others: list[str], domain: str, path: str
) -> None:
    for spelling in [familiar, full, *others]:
        ref = parse_reference(spelling)
        assert (ref.domain, ref.path) == (domain, path)
        assert ref.name == full
        assert ref.familiar_name == familiar
        assert ref.familiar() == familiar


# ParseDockerRef
DOCKER_REF = [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:latest", "docker.io/library/busybox:latest"),
    (f"busybox@{D2}", f"docker.io/library/busybox@{D2}"),
    ("library/busybox", "docker.io/library/busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest"),
    ("docker.io/library/busybox", "docker.io/library/busybox:latest"),
    ("docker.io/busybox:latest", "docker.io/library/busybox:latest"),
    ("library/busybox:latest", "docker.io/library/busybox:latest"),
    ("docker.io/library/busybox:latest", "docker.io/library/busybox:latest"),
    ("gcr.io/library/busybox", "gcr.io/library/busybox:latest"),
    (f"gcr.io/library/busybox:latest@{D2}", f"gcr.io/library/busybox@{D2}"),
]


@pytest.mark.parametrize(("text", "expected"), DOCKER_REF)
def test_docker_ref(text: str, expected: str) -> None:
    assert str(parse_reference(text).docker_ref()) == expected


def test_names_and_defaults() -> None:
    ref = parse_reference("busybox")
    assert ref.name == "docker.io/library/busybox"
    assert ref.familiar_name == "busybox"
    assert str(ref) == "docker.io/library/busybox"
    tagged = ref.with_default_tag()
    assert str(tagged) == "docker.io/library/busybox:latest"
    assert tagged.familiar() == "busybox:latest"
    assert tagged.tagged_name == "docker.io/library/busybox:latest"
    assert ref.tagged_name == "docker.io/library/busybox:latest"
    assert parse_reference("busybox:1.36").tagged_name == "docker.io/library/busybox:1.36"
    digested = parse_reference(f"busybox@{D2}")
    assert digested.with_default_tag() is digested
    assert digested.familiar() == f"busybox@{D2}"
    both = parse_reference(f"busybox:latest@{D2}")
    assert both.familiar() == f"busybox:latest@{D2}"
    assert str(both) == f"docker.io/library/busybox:latest@{D2}"
    assert both.repository() == ref
    assert both.with_tag("1") == parse_reference("busybox:1")
    assert ref.with_digest(Digest.parse(D2)) == digested


def test_constructor_validates() -> None:
    with pytest.raises(InvalidArgument):
        Reference("docker.io", "Library/busybox")
    with pytest.raises(InvalidArgument):
        Reference("bad domain", "busybox")
    with pytest.raises(InvalidArgument):
        Reference("docker.io", "library/busybox", tag="-bad")
    with pytest.raises(InvalidArgument):
        parse_reference("busybox").with_tag("a" * 129)


# Hypothesis: references built from the grammar's parts survive str() and familiar().
_alnum = st.from_regex(r"[a-z0-9]{1,6}", fullmatch=True)
_separator = st.sampled_from([".", "_", "__", "-", "--"])
_component = st.builds(
    lambda first, rest: first + "".join(s + a for s, a in rest),
    _alnum,
    st.lists(st.tuples(_separator, _alnum), max_size=2),
)
_path = st.lists(_component, min_size=1, max_size=3).map("/".join)
_domain = st.one_of(
    st.sampled_from(["docker.io", "localhost", "localhost:5000", "[::1]:5000", "ghcr.io"]),
    st.from_regex(r"[a-z0-9]{1,8}\.[a-z]{2,4}(:[0-9]{1,5})?", fullmatch=True),
)
_tag = st.none() | st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
_digest = st.none() | st.binary(max_size=8).map(Digest.from_bytes)


def _normalise_path(domain: str, path: str) -> str:
    return f"library/{path}" if domain == "docker.io" and "/" not in path else path


@given(_domain, _path, _tag, _digest)
def test_round_trip(domain: str, path: str, tag: str | None, digest: Digest | None) -> None:
    ref = Reference(domain, _normalise_path(domain, path), tag, digest)
    assert parse_reference(str(ref)) == ref
    first = ref.familiar_name.split("/")[0]
    if not any(c in first for c in ".:") and first != "localhost":
        # Docker's familiar form is ambiguous when a docker.io path starts like a domain
        # (docker.io/0.0/x -> "0.0/x" -> domain 0.0); the full form is not.
        assert parse_reference(ref.familiar()) == ref
    assert parse_reference(str(ref.with_default_tag())).tag == (
        "latest" if tag is None and digest is None else tag
    )


@given(st.text(max_size=80))
def test_parse_is_total(text: str) -> None:
    try:
        ref = parse_reference(text)
    except InvalidArgument:
        return
    assert parse_reference(str(ref)) == ref
