"""Property tests for every parser of untrusted text (issue 11): references, digests, Dockerfile
shell words and substitution, ``.dockerignore`` patterns, compose interpolation, port and volume
specs, and tar member names.

The common property: a parser given anything either returns or raises the project's error
class (``DockyardError``: ``InvalidArgument`` or ``Unsupported``), never a stray ``ValueError``,
``IndexError`` or ``RecursionError``. Where a parser has a formatter, its output parses back to
the same value; and a normalised member name can never leave the root.
"""

from __future__ import annotations

import os
import string
from collections.abc import Callable
from typing import TypeVar

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dockyard._util.numbers import is_uint
from dockyard.archive.paths import member_path, whiteout_target
from dockyard.build.dockerfile.dockerignore import Matcher, parse_dockerignore
from dockyard.build.dockerfile.shellwords import expand, expand_words, used_variables
from dockyard.cli.runflags import parse_mount, parse_volume
from dockyard.compose.diagnostics import Where
from dockyard.compose.interpolation import substitute
from dockyard.errors import DockyardError, InvalidArgument
from dockyard.network.ports import parse_expose, parse_publish
from dockyard.oci.digest import Digest
from dockyard.oci.reference import parse_reference

T = TypeVar("T")
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text biased towards each grammar's special characters, plus anything at all.
SHELLISH = st.text(alphabet=st.sampled_from("ab_1 ${}:-+?#%/\\'\"*\t\n"), max_size=40)
REFISH = st.text(
    alphabet=st.sampled_from(string.ascii_lowercase + "AZ09.-_/:@" + "é\n"), max_size=80
)
PORTISH = st.text(alphabet=st.sampled_from("0123456789:.-/tcpudsx[]"), max_size=30)
PATHISH = st.text(alphabet=st.sampled_from("ab./\\*?[]!^-\x00 "), max_size=30)


def refuses_cleanly(parse: Callable[[str], T], text: str) -> T | None:
    """``parse(text)``, or None when it raised the project's error class (anything else fails
    the property)."""
    try:
        return parse(text)
    except DockyardError:
        return None


@FAST
@given(st.one_of(REFISH, st.text(max_size=60)))
@example("docker.io/library/busybox:latest@sha256:" + "a" * 64)
@example("a" * 300)
@example("busybox@sha256:../../x")
def test_reference_parse_round_trips(text: str) -> None:
    ref = refuses_cleanly(parse_reference, text)
    if ref is not None:
        assert parse_reference(str(ref)) == ref
        assert parse_reference(ref.familiar()) == ref


@FAST
@given(
    st.one_of(
        st.text(max_size=80),
        st.builds(lambda a, h: f"{a}:{h}", st.sampled_from(["sha256", "sha512", "md5", "SHA256"]),
                  st.text(alphabet="0123456789abcdefABCDEF./", max_size=130)),
    )
)  # fmt: skip
@example("sha256:" + "a" * 64)
@example("sha256:../../etc/passwd")
def test_digest_parse_round_trips_and_never_names_a_path(text: str) -> None:
    digest = refuses_cleanly(Digest.parse, text)
    if digest is not None:
        assert str(digest) == text and Digest.parse(str(digest)) == digest
        assert "/" not in digest.encoded and "." not in digest.encoded  # safe as a file name


@FAST
@given(SHELLISH, st.dictionaries(st.sampled_from(["a", "b", "_1"]), st.text(max_size=5)))
@example("${a:-" * 300 + "}" * 300, {})
def test_shell_words_expand_or_refuse(text: str, env: dict[str, str]) -> None:
    words = refuses_cleanly(lambda t: expand_words(t, env), text)
    refuses_cleanly(lambda t: expand(t, env), text)
    refuses_cleanly(used_variables, text)
    if words is not None:
        assert all(words)  # splitting drops empty words


@FAST
@given(st.text(alphabet=st.sampled_from("abc_ "), max_size=20))
def test_shell_words_plain_text_is_itself(text: str) -> None:
    # no quotes, escapes or $: expansion is the identity and splitting is str.split
    assert expand(text, {}) == text
    assert expand_words(text, {}) == text.split()


@FAST
@given(st.lists(PATHISH, max_size=5), PATHISH)
def test_dockerignore_patterns_compile_or_refuse(lines: list[str], path: str) -> None:
    patterns = parse_dockerignore("\n".join(lines))
    matcher = refuses_cleanly(Matcher, patterns)  # type: ignore[arg-type]
    if matcher is not None:
        assert matcher.excluded(".") is False  # the context root is never excluded
        matcher.excluded(path)
        matcher.should_descend(path)


@FAST
@given(SHELLISH, st.dictionaries(st.sampled_from(["a", "b", "X"]), st.text(max_size=5)))
@example("${a:-" * 300 + "}" * 300, {})
def test_compose_interpolation_substitutes_or_refuses(text: str, env: dict[str, str]) -> None:
    warnings: list[str] = []
    out = refuses_cleanly(
        lambda t: substitute(t, env, Where("compose.yaml", "x"), warnings.append), text
    )
    if out is not None and "$" not in text:
        assert out == text


@FAST
@given(st.text(alphabet=st.sampled_from("abc_"), max_size=10))
def test_compose_dollar_dollar_is_a_literal_dollar(text: str) -> None:
    assert substitute("$$" + text, {}, Where("f", "x"), lambda _: None) == "$" + text


@FAST
@given(st.one_of(PORTISH, st.text(max_size=20)))
@example("1-65535")
@example("99999:80")
@example("¹")  # str.isdigit() is true for superscripts; int() refuses them (CI, stop 15)
@example("8080:²")
def test_port_specs_parse_or_refuse(spec: str) -> None:
    bindings = refuses_cleanly(parse_publish, spec)
    for b in bindings or []:
        assert 1 <= b.container_port <= 65535 and 0 <= b.host_port <= 65535
    for port, _ in refuses_cleanly(parse_expose, spec) or []:
        assert 1 <= port <= 65535


@FAST
@given(st.integers(1, 65535), st.integers(0, 65535), st.sampled_from(["tcp", "udp"]))
def test_port_spec_round_trips(container: int, host: int, proto: str) -> None:
    spec = f"127.0.0.1:{host}:{container}/{proto}" if host else f"{container}/{proto}"
    [binding] = parse_publish(spec)
    assert (binding.container_port, binding.host_port, str(binding.proto)) == (
        container, host, proto
    )  # fmt: skip
    assert (
        parse_publish(binding.publish().replace("->", ":").replace("0.0.0.0:0:", "")) == [binding]
        or host == 0
    )


@FAST
@given(st.text(alphabet=st.sampled_from("abv:/,=.-_ro"), max_size=30))
def test_volume_and_mount_specs_parse_or_refuse(spec: str) -> None:
    # only named volumes and absolute in-container paths: a spec naming a host path would
    # make parse_volume create it, so those are left to the table suite
    if spec.startswith(("/", ".")) or "/" in spec.partition(":")[0]:
        return
    volume = refuses_cleanly(parse_volume, spec)
    if volume is not None:
        assert volume.destination.startswith("/")
    if "bind" not in spec:
        mounted = refuses_cleanly(parse_mount, spec)
        if mounted is not None and mounted[0] != "tmpfs":
            assert mounted[1].destination.startswith("/")  # type: ignore[union-attr]


@FAST
@given(
    st.binary(max_size=60).map(lambda b: b.replace(b"\0", b""))
    | st.lists(st.sampled_from([b"a", b"..", b".", b"", b"b.c", b"..."]), max_size=8).map(b"/".join)
)
@example(b"a/../../etc/passwd")
@example(b"./././..")
def test_member_paths_never_escape_the_root(name: bytes) -> None:
    try:
        parts = member_path(name)
    except InvalidArgument:
        return
    assert all(p not in (b"", b".", b"..") and b"/" not in p for p in parts)
    joined = os.path.normpath(os.path.join(b"/root", *parts)) if parts else b"/root"
    assert joined == b"/root" or joined.startswith(b"/root/")
    for part in parts:
        if part.startswith(b".wh."):
            hidden = refuses_cleanly(lambda p: whiteout_target(p), part)  # type: ignore[arg-type]
            assert hidden is None or hidden not in (b"", b".", b"..")


@FAST
@given(st.text(max_size=8))
@example("¹")
@example("٣")
def test_is_uint_accepts_exactly_ascii_digits(text: str) -> None:
    # Every parser of numbers checks with is_uint before int(): a yes must never make int() fail.
    assert is_uint(text) == (text != "" and all(c in string.digits for c in text))
    if is_uint(text):
        assert int(text) >= 0
