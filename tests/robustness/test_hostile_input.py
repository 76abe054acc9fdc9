"""Hostile and malformed input, one table (issue 11; SECURITY.md section 2).

Every case feeds one hostile input to a public entry point: the CLI (``import``, ``load``,
``build``, ``compose config``, ``pull``, ``create`` flag parsing) against a state root of its
own, the layer apply API, or a running ``dockyard registry serve``. Each case asserts:

- a clear error: the dockyard error class (read from the ``-D`` traceback, or the exception the
  API raised) and a message that names the object (``expect``); for the few inputs that are
  legal but dangerous (``accepted``), that they are accepted and stay inside the store;
- bounded memory: the CLI, the API call and the registry server all run under ``RLIMIT_AS``
  (``bounded.LIMIT``), so an unbounded read fails the case with a MemoryError;
- nothing written outside the store: a sentinel tree next to the state root, which the
  hostile inputs aim at, is hashed before and after (metadata included), and nothing new
  appears beside it;
- ``dockyard system check`` (or ``registry check``) clean afterwards where a store was used.

The defences have unit tests in their own packages; this table crosses them.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dockyard.compose.diagnostics import ComposeError
from dockyard.errors import (
    DataCorrupted,
    DockyardError,
    InvalidArgument,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    Unsupported,
)
from tests.archive.helpers import Entry, device, dir_, file, hardlink, symlink, tar_bytes, tree_hash
from tests.conftest import DockyardRunner
from tests.distribution.server.test_serve import Server
from tests.robustness import inputs
from tests.robustness.bounded import LIMIT, Outcome, call_bounded, error_class_of, run_bounded

pytestmark = pytest.mark.root

Build = Callable[["World"], "Attempt"]


@dataclass
class World:
    """One case's directory: ``state`` (an engine store holding the tiny image ``base:1``),
    ``work`` (where inputs are written), and ``sentinel``, which no case may change."""

    tmp: Path
    engine: DockyardRunner
    registry: Callable[[], Server]

    @property
    def state(self) -> Path:
        return self.engine.root

    @property
    def work(self) -> Path:
        return self.tmp / "work"

    @property
    def sentinel(self) -> Path:
        return self.tmp / "sentinel"

    @property
    def s(self) -> str:
        """The sentinel's absolute path without its leading ``/`` (for member names)."""
        return str(self.sentinel).lstrip("/")

    @property
    def up(self) -> str:
        """Enough ``../`` to reach ``/`` from anywhere under the state root."""
        return "../" * 40

    def write(self, name: str, data: bytes | str) -> Path:
        path = self.work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path


@dataclass(frozen=True)
class Attempt:
    """What one case did: a CLI run (argv after ``dockyard --root STATE -D``), an API call
    (a function run bounded in a child), or an HTTP request to the registry."""

    argv: tuple[str, ...] = ()
    call: Callable[[], object] | None = None
    request: tuple[str, str, bytes | None, dict[str, str]] | None = None


@dataclass(frozen=True)
class Case:
    """One row: ``build`` makes the input and says how to feed it; ``error`` and ``match``
    are the expected class and message (None: accepted and contained); ``status`` and
    ``code`` for registry requests."""

    id: str
    build: Build
    error: type[BaseException] | None = DockyardError
    match: str = ""
    status: int = 0
    code: str = ""
    slow: bool = False
    accepted_check: Callable[[World], None] | None = field(default=None, repr=False)


def cli(*argv: str) -> Attempt:
    return Attempt(argv=argv)


def imported(entries: Callable[[World], list[Entry]]) -> Build:
    """``dockyard import LAYER evil:1`` of the tar the entries make."""

    def build(w: World) -> Attempt:
        path = w.write("layer.tar", tar_bytes(entries(w)))
        return cli("import", str(path), "evil:1")

    return build


def imported_raw(make: Callable[[World], bytes]) -> Build:
    def build(w: World) -> Attempt:
        return cli("import", str(w.write("layer.tar", make(w))), "evil:1")

    return build


def applied(make: Callable[[World], object], limits: dict[str, int] | None = None) -> Build:
    """The layer apply API on a fresh directory inside the state root; ``make`` returns the
    blob as bytes or a readable stream."""

    def build(w: World) -> Attempt:
        target = w.state / "apply-target"
        target.mkdir()

        def call() -> object:
            import io

            from dockyard.archive import Limits, WhiteoutMode, apply_layer

            blob = make(w)
            stream = io.BytesIO(blob) if isinstance(blob, bytes) else blob
            result = apply_layer(
                stream,  # type: ignore[arg-type]
                target,
                mode=WhiteoutMode.NATIVE,
                limits=Limits(**(limits or {})),
                label="layer evil",
            )
            return result.entries

        return Attempt(call=call)

    return build


def loaded(make: Callable[[World, Path], Path]) -> Build:
    def build(w: World) -> Attempt:
        return cli("load", "-q", "-i", str(make(w, w.work / "image.tar")))

    return build


def built(
    dockerfile: str, files: dict[str, bytes | Callable[[World], bytes]] | None = None
) -> Build:
    """``dockyard build`` of a context holding ``Dockerfile`` (``{S}`` is the sentinel's
    absolute path) and ``files``, plus a symlink ``out -> SENTINEL``."""

    def build(w: World) -> Attempt:
        ctx = w.work / "ctx"
        ctx.mkdir(parents=True)
        (ctx / "Dockerfile").write_text(dockerfile.replace("{S}", str(w.sentinel)))
        for name, data in (files or {}).items():
            (ctx / name).write_bytes(data(w) if callable(data) else data)
        (ctx / "out").symlink_to(w.sentinel)
        return cli("build", "-t", "evil:1", str(ctx))

    return build


def composed(text: str | Callable[[World], str]) -> Build:
    def build(w: World) -> Attempt:
        body = text(w) if callable(text) else text
        path = w.write("compose.yaml", body.replace("{S}", str(w.sentinel)))
        return cli("compose", "-f", str(path), "config")

    return build


def created(*flags: str | Callable[[World], str]) -> Build:
    """``dockyard create FLAGS base:1 /bin/true``: run's flag parsing (shared with run)."""

    def build(w: World) -> Attempt:
        return cli("create", *(f(w) if callable(f) else f for f in flags), "base:1", "/bin/true")

    return build


def http(method: str, path: str, body: bytes | None = None, **headers: str) -> Build:
    def build(w: World) -> Attempt:
        return Attempt(request=(method, path.replace("{S}", str(w.sentinel)), body, dict(headers)))

    return build


def _bomb(w: World) -> object:
    return inputs.zero_bomb(w.tmp.parent / "bomb.tar.gz", 1 << 30).open("rb")


def _pax_chain(w: World) -> object:
    record = inputs.pax_record("SCHILY.xattr.user.x", b"a" * (1 << 19))
    return inputs.StreamedTar(4096, lambda i: inputs.pax_header(record))


def _many_entries(w: World) -> object:
    return inputs.StreamedTar(10**6, lambda i: inputs.ustar_header(f"f{i}"))


def _deep_dirs_stream() -> object:
    def member(i: int) -> bytes:
        name = "/".join(["d"] * (i + 1))
        records = inputs.pax_record("path", name.encode())
        return inputs.pax_header(records) + inputs.ustar_header("d", kind=tarfile.DIRTYPE)

    return inputs.StreamedTar(4096, member)


def _as_nobody(make: Callable[[World], bytes]) -> Build:
    """The apply API without privilege: a device node must be refused, not faked."""

    def build(w: World) -> Attempt:
        target = w.state / "apply-target"
        target.mkdir()
        os.chown(target, 65534, 65534)

        def call() -> object:
            import io

            from dockyard.archive import WhiteoutMode, apply_layer

            # pytest's directories are 0700: enter the target before giving up root
            os.chdir(target)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            return apply_layer(
                io.BytesIO(make(w)), Path("."), mode=WhiteoutMode.NATIVE, label="layer evil"
            ).entries

        return Attempt(call=call)

    return build


def _tamper(fn: Callable[[inputs.ImageParts], None]) -> Callable[[World, Path], Path]:
    return lambda w, out: inputs.oci_archive(out, fn)


def _set(path: str, value: object) -> Callable[[inputs.ImageParts], None]:
    """Set ``part.key.key...`` (``layers``/``manifests`` lists use their first item)."""

    def tamper(parts: inputs.ImageParts) -> None:
        part, *keys = path.split(".")
        node = getattr(parts, part)
        for key in keys[:-1]:
            node = node[key][0] if key in ("layers", "manifests") else node[key]
        node[keys[-1]] = value

    return tamper


def _json_bomb(depth: int) -> bytes:
    return b'{"schemaVersion":2,"manifests":' + b"[" * depth + b"]" * depth + b"}"


def _nested_manifest(parts: inputs.ImageParts) -> None:
    parts.manifest["annotations"] = {"x": "y"}
    parts.manifest["x"] = [
        [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
    ]


def _laughs(w: World) -> str:
    lines = ['x-a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"x-a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    lines.append("services:\n  s:\n    image: busybox\n    command: *a8")
    return "\n".join(lines) + "\n"


def _in_store(w: World, name: str) -> None:
    """An accepted member was created inside the state root (the sentinel is checked apart)."""
    assert list(w.state.rglob(name)), f"{name} is not in the store"


# Member names aimed at the sentinel: ``x`` there is a file, ``d/`` a directory.
CASES: list[Case] = [
    # -- layer tars through `dockyard import` (SECURITY.md 2: traversal, links, whiteouts) --
    Case(
        "layer-dotdot",
        imported(lambda w: [file(w.up + w.s + "/x", b"pwned")]),
        InvalidArgument,
        r"'\.\.' component",
    ),
    Case(
        "layer-dotdot-inside",
        imported(lambda w: [dir_("a"), file("a/" + w.up + w.s + "/x")]),
        InvalidArgument,
        r"\.\.",
    ),
    Case(
        "layer-absolute",
        imported(lambda w: [file(str(w.sentinel / "x"), b"pwned")]),
        InvalidArgument,
        "absolute",
    ),
    Case(
        "layer-absolute-dir",
        imported(lambda w: [dir_(str(w.sentinel / "new"))]),
        InvalidArgument,
        "absolute",
    ),
    Case(
        "layer-symlink-root-then-file",
        imported(lambda w: [symlink("a", "/"), file(f"a/{w.s}/x", b"pwned")]),
        InvalidArgument,
        r"a/.*/x",
    ),
    Case(
        "layer-symlink-sentinel-then-file",
        imported(lambda w: [symlink("l", str(w.sentinel)), file("l/x", b"pwned")]),
        InvalidArgument,
        "l/x",
    ),
    Case(
        "layer-symlink-dotdot-chain",
        imported(
            lambda w: [
                symlink("a", "."),
                symlink("b", "a/" + w.up.rstrip("/")),
                file(f"b/{w.s}/x", b"pwned"),
            ]
        ),
        InvalidArgument,
        "b/",
    ),
    Case(
        "layer-symlink-then-dir",
        imported(lambda w: [symlink("l", str(w.sentinel)), dir_("l/new")]),
        InvalidArgument,
        "l/new",
    ),
    Case(
        "layer-symlink-then-symlink",
        imported(lambda w: [symlink("l", str(w.sentinel)), symlink("l/evil", "/")]),
        InvalidArgument,
        "l/evil",
    ),
    Case(
        "layer-symlink-then-fifo",
        imported(
            lambda w: [
                symlink("l", str(w.sentinel)),
                Entry(name="l/fifo", type=tarfile.FIFOTYPE),
            ]
        ),
        InvalidArgument,
        "l/fifo",
    ),
    Case(
        "layer-hardlink-absolute",
        imported(lambda w: [hardlink("h", str(w.sentinel / "x"))]),
        InvalidArgument,
        "h",
    ),
    Case(
        "layer-hardlink-dotdot",
        imported(lambda w: [hardlink("h", w.up + w.s + "/x")]),
        InvalidArgument,
        "h",
    ),
    Case(
        "layer-hardlink-through-symlink",
        imported(lambda w: [symlink("l", str(w.sentinel)), hardlink("h", "l/x")]),
        InvalidArgument,
        "h",
    ),
    Case(
        "layer-hardlink-to-outside-symlink",
        imported(
            lambda w: [symlink("l", str(w.sentinel / "x")), hardlink("h", "l"), file("h", b"pwned")]
        ),
        None,
        accepted_check=lambda w: _in_store(w, "h"),
    ),
    Case(
        "layer-whiteout-dotdot", imported(lambda w: [file(".wh...")]), InvalidArgument, r"whiteout"
    ),
    Case(
        "layer-whiteout-nested-dotdot",
        imported(lambda w: [dir_("a"), file("a/.wh...")]),
        InvalidArgument,
        "whiteout",
    ),
    Case(
        "layer-whiteout-through-symlink",
        imported(lambda w: [symlink("l", str(w.sentinel)), file("l/.wh.x")]),
        InvalidArgument,
        r"l/\.wh\.x",
    ),
    Case(
        "layer-opaque-through-symlink",
        imported(lambda w: [symlink("l", str(w.sentinel / "d")), file("l/.wh..wh..opq")]),
        InvalidArgument,
        "opq",
    ),
    Case(
        "layer-whiteout-name-traversal",
        imported(lambda w: [file(".wh." + w.up + w.s + "/x")]),
        InvalidArgument,
        r"\.\.",
    ),
    Case(
        "layer-metadata-on-outside-symlink",  # chmod/chown/utime must not follow the link
        imported(lambda w: [symlink("l", str(w.sentinel / "x"), mode=0o777, uid=7, mtime=5)]),
        None,
        accepted_check=lambda w: _in_store(w, "l"),
    ),
    Case(
        "layer-dir-over-outside-symlink",
        imported(lambda w: [symlink("l", str(w.sentinel / "d")), dir_("l", mode=0o700)]),
        None,
        accepted_check=lambda w: _in_store(w, "l"),
    ),
    Case(
        "layer-device-node-root",  # as root a node is legal in an image; it stays inside
        imported(lambda w: [device("sda", 8, 0)]),
        None,
        accepted_check=lambda w: _in_store(w, "sda"),
    ),
    Case(
        "layer-device-node-unprivileged",
        _as_nobody(lambda w: tar_bytes([device("sda", 8, 0)])),
        PermissionDenied,
        "sda",
    ),
    Case(
        "layer-nul-in-name",
        imported(lambda w: [file("a", pax={"path": "a\x00b"})]),
        InvalidArgument,
        "NUL",
    ),
    Case(
        "layer-long-symlink-target",
        imported(lambda w: [symlink("l", "a/" * 3000)]),
        LimitExceeded,
        "l",
    ),
    Case(
        "layer-name-4096-deep",
        imported(lambda w: [file("a/" * 4096 + "x")]),
        LimitExceeded,
        r"layer",
    ),
    Case(
        "layer-300-deep", imported(lambda w: [file("d/" * 300 + "x")]), LimitExceeded, "deeper than"
    ),
    Case("layer-garbage", imported_raw(lambda w: b"not a tar at all " * 64), DataCorrupted, "tar"),
    Case(
        "layer-truncated-gzip",
        imported_raw(lambda w: inputs.gzipped(tar_bytes([file("a", b"x" * 100_000)]))[:500]),
        DataCorrupted,
        "gzip",
    ),
    Case(
        "layer-size-field-lies",
        imported_raw(lambda w: inputs.ustar_header("big", size=(1 << 33) - 1) + b"x" * 512),
        DataCorrupted,
        "end",
    ),
    Case(
        "layer-pax-header-huge",
        imported_raw(
            lambda w: inputs.ustar_header("././@PaxHeader", size=1 << 31, kind=tarfile.XHDTYPE)
        ),
        LimitExceeded,
        "extended header",
    ),
    Case(
        "layer-uid-out-of-range",
        imported(lambda w: [file("a", pax={"uid": str(1 << 40)})]),
        InvalidArgument,
        "a",
    ),
    # -- the apply API: bombs and floods against explicit limits, streamed in --
    Case("apply-pax-header-chain", applied(_pax_chain), LimitExceeded, "PAX headers"),
    Case(
        "apply-gzip-bomb-1GiB", applied(_bomb, {"max_bytes": 64 << 20}), LimitExceeded, "layer evil"
    ),
    Case(
        "apply-10e6-entries",
        applied(_many_entries, {"max_entries": 20_000}),
        LimitExceeded,
        "more than 20000 entries",
        slow=True,
    ),
    Case(
        "apply-4096-deep-dirs",
        applied(lambda w: _deep_dirs_stream()),
        LimitExceeded,
        "deeper than 256",
    ),
    # -- image archives through `dockyard load` --
    Case(
        "load-blob-digest-mismatch",
        loaded(
            lambda w, out: inputs.oci_archive(
                out, _set("manifest.layers.digest", "sha256:" + "a" * 64)
            )
        ),
        NotFound,
        r"blobs/sha256/a{12}.* not found",
    ),
    Case(
        "load-layer-size-lies-small",
        loaded(_tamper(_set("manifest.layers.size", 10))),
        DataCorrupted,
        r"blobs/sha256/.*descriptor says 10$",
    ),
    Case(
        "load-layer-size-lies-large",
        loaded(_tamper(_set("manifest.layers.size", 1 << 40))),
        DataCorrupted,
        r"blobs/sha256/.*descriptor says",
    ),
    Case(
        "load-config-size-lies",
        loaded(_tamper(_set("manifest.config.size", 3))),
        DataCorrupted,
        r"blobs/sha256/.*descriptor says 3$",
    ),
    Case(
        "load-manifest-digest-traversal",
        loaded(_tamper(_set("index.manifests.digest", "sha256:../../../../etc/passwd"))),
        InvalidArgument,
        "digest",
    ),
    Case(
        "load-unknown-manifest-type",
        loaded(_tamper(_set("index.manifests.mediaType", "application/x-evil"))),
        Unsupported,
        "application/x-evil",
    ),
    Case(
        "load-unknown-layer-type",
        loaded(_tamper(_set("manifest.layers.mediaType", "application/x-evil"))),
        Unsupported,
        "layer sha256:.*application/x-evil",
    ),
    Case(
        "load-wrong-diff-id",
        loaded(
            _tamper(_set("config.rootfs", {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}))
        ),
        DataCorrupted,
        "diff_id",
    ),
    Case(
        "load-index-json-64MiB",
        loaded(lambda w, out: _written(out, inputs.tar_of({"index.json": b" " * (64 << 20)}))),
        LimitExceeded,
        "index.json",
    ),
    Case(
        "load-index-json-nested-100k",
        loaded(
            lambda w, out: _written(
                out,
                inputs.tar_of(
                    {
                        "oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
                        "index.json": _json_bomb(100_000),
                    }
                ),
            )
        ),
        InvalidArgument,
        "index: malformed JSON",
    ),
    Case(
        "load-manifest-nested",
        loaded(_tamper(_nested_manifest)),
        None,
        accepted_check=lambda w: None,
    ),
    Case(
        "load-config-not-object",
        loaded(_tamper(lambda p: setattr(p, "config", [1]))),
        InvalidArgument,
        "config",
    ),
    Case(
        "load-docker-layer-traversal",
        loaded(
            lambda w, out: inputs.docker_archive(
                out,
                manifest=[
                    {
                        "Config": "../../etc/passwd",
                        "RepoTags": ["evil:1"],
                        "Layers": [w.up + w.s + "/x"],
                    }
                ],
            )
        ),
        NotFound,
        r"load .*image\.tar: member \.\./\.\./etc/passwd not found",
    ),
    Case(
        "load-docker-bad-repotag",
        loaded(lambda w, out: _retag(inputs.docker_archive(out), "UPPER/Case:1")),
        InvalidArgument,
        r"repository name \(Case\) must be lowercase",
    ),
    Case(
        "load-docker-wrong-diff-id",
        loaded(lambda w, out: inputs.docker_archive(out, diff_id="sha256:" + "1" * 64)),
        DataCorrupted,
        "diff_id",
    ),
    Case(
        "load-member-symlink-outside",
        loaded(lambda w, out: _symlinked_index(w, out)),
        NotFound,
        "index.json not found",
    ),
    Case(
        "load-gzip-bomb-index",
        loaded(lambda w, out: _gz_index_bomb(w, out)),
        LimitExceeded,
        "index.json",
        slow=True,
    ),
    # -- references --
    Case(
        "ref-uppercase",
        lambda w: cli("pull", "Evil/Image"),
        InvalidArgument,
        r"repository name \(Image\) must be lowercase",
    ),
    Case(
        "ref-traversal",
        lambda w: cli("pull", "../../etc/passwd"),
        InvalidArgument,
        "invalid reference format",
    ),
    Case(
        "ref-bad-digest",
        lambda w: cli("pull", "busybox@sha256:../../x"),
        InvalidArgument,
        "invalid reference format",
    ),
    Case(
        "ref-too-long",
        lambda w: cli("pull", "a" * 300),
        InvalidArgument,
        "more than 255 characters",
    ),
    Case(
        "ref-huge",
        lambda w: cli("pull", "a/" * 30000 + "b"),
        InvalidArgument,
        "more than 255 characters",
    ),
    Case(
        "ref-newline",
        lambda w: cli("tag", "base:1", "evil\n:1"),
        InvalidArgument,
        "invalid reference format",
    ),
    Case(
        "ref-tag-too-long",
        lambda w: cli("tag", "base:1", "evil:" + "t" * 200),
        InvalidArgument,
        "invalid reference format",
    ),
    Case("ref-empty", lambda w: cli("tag", "base:1", ""), InvalidArgument, "reference"),
    # -- Dockerfiles --
    Case(
        "build-copy-dotdot",
        built("FROM base:1\nCOPY ../../../../../..{S}/x /x\n"),
        DockyardError,
        "outside the build context",
    ),
    Case(
        "build-copy-through-symlink",
        built("FROM base:1\nCOPY out/x /x\n"),
        DockyardError,
        "outside the build context",
    ),
    Case(
        "build-copy-absolute", built("FROM base:1\nCOPY {S}/x /x\n"), DockyardError, "no such file"
    ),
    Case(
        "build-add-hostile-tar",
        built(
            "FROM base:1\nADD evil.tar /\n",
            {"evil.tar": lambda w: tar_bytes([symlink("l", "/"), file(f"l/{w.s}/x", b"pwned")])},
        ),
        InvalidArgument,
        "crosses a symlink at l",
    ),
    Case(
        "build-nested-substitution",
        built("FROM base:1\nARG X=" + "${a:-" * 5000 + "x" + "}" * 5000 + "\n"),
        InvalidArgument,
        "nested more than",
    ),
    Case(
        "build-unset-required",
        built('FROM base:1\nARG X\nENV Y="${X:?must be set}"\n'),
        InvalidArgument,
        "must be set",
    ),
    Case(
        "build-unknown-instruction", built("FROM base:1\nEXPLODE now\n"), InvalidArgument, "EXPLODE"
    ),
    Case("build-bad-from", built("FROM ../../etc\n"), DockyardError, r"\.\./\.\./etc"),
    Case(
        "build-dockerignore-invalid",
        built("FROM base:1\nCOPY . /\n", {".dockerignore": b"[\n"}),
        InvalidArgument,
        r"\.dockerignore",
    ),
    Case(
        "build-1MiB-word",
        built("FROM base:1\nLABEL a=" + "x" * (1 << 20) + "\n"),
        None,
        accepted_check=lambda w: None,
    ),
    Case(
        "build-unterminated-heredoc",
        built("FROM base:1\nRUN <<EOF\necho hi\n"),
        InvalidArgument,
        "EOF",
    ),
    # -- compose files --
    Case("compose-billion-laughs", composed(_laughs), ComposeError, "alias"),
    Case(
        "compose-recursive-alias",
        composed("services:\n  s:\n    image: busybox\n    labels: &a {a: *a}\n"),
        ComposeError,
        "alias",
    ),
    Case(
        "compose-deep-nesting",
        composed("services:\n  s:\n    image: busybox\n    x-d: " + "[" * 990 + "]" * 990 + "\n"),
        ComposeError,
        "nested",
    ),
    Case(
        "compose-libyaml-depth",
        composed("services: " + "[" * 100_000 + "]" * 100_000),
        ComposeError,
        "nesting depth",
    ),
    Case(
        "compose-python-tag",
        composed("services:\n  s:\n    image: !!python/object/apply:os.system [touch {S}/y]\n"),
        ComposeError,
        "python",
    ),
    Case(
        "compose-bad-interpolation",
        composed("services:\n  s:\n    image: ${\n"),
        ComposeError,
        "interpolation",
    ),
    Case(
        "compose-required-variable",
        composed("services:\n  s:\n    image: ${EVIL_UNSET:?set it please}\n"),
        ComposeError,
        "set it please",
    ),
    Case(
        "compose-bad-port",
        composed("services:\n  s:\n    image: b\n    ports: ['99999:80']\n"),
        ComposeError,
        "99999",
    ),
    Case(
        "compose-bad-volume",
        composed("services:\n  s:\n    image: b\n    volumes: ['a:b:c:d:e']\n"),
        ComposeError,
        "a:b:c:d:e",
    ),
    Case("compose-not-a-mapping", composed("- just\n- a list\n"), ComposeError, "mapping"),
    # -- run/create flags --
    Case("flag-p-out-of-range", created("-p", "99999:80"), InvalidArgument, "99999"),
    Case("flag-p-too-many-fields", created("-p", "1:2:3:4"), InvalidArgument, "1:2:3:4"),
    Case("flag-p-garbage", created("-p", "eighty"), InvalidArgument, "eighty"),
    Case(
        "flag-p-range-mismatch",
        created("-p", "1000-1002:80-90"),
        InvalidArgument,
        "different lengths",
    ),
    Case("flag-p-sctp", created("-p", "80/sctp"), DockyardError, "sctp"),
    Case("flag-v-too-many-fields", created("-v", "a:/b:ro:extra"), InvalidArgument, "a:/b"),
    Case("flag-v-relative-target", created("-v", "vol:relative"), InvalidArgument, "absolute"),
    Case("flag-v-bad-mode", created("-v", "vol:/x:rwx"), InvalidArgument, "rwx"),
    Case("flag-v-bad-volume-name", created("-v", "-evil:/x"), InvalidArgument, "-evil"),
    Case(
        "flag-mount-volume-traversal",
        created("--mount", "type=volume,source=../../etc,target=/x"),
        InvalidArgument,
        r"\.\./\.\./etc",
    ),
    Case(
        "flag-mount-missing-bind",
        created("--mount", lambda w: f"type=bind,source={w.sentinel}/nope,target=/x"),
        InvalidArgument,
        "nope",
    ),
    Case(
        "flag-mount-relative-target",
        created("--mount", "type=tmpfs,target=x"),
        InvalidArgument,
        "absolute",
    ),
    Case(
        "flag-mount-unknown-type", created("--mount", "type=npipe,target=/x"), Unsupported, "npipe"
    ),
    Case(
        "flag-mount-unknown-option",
        created("--mount", "type=volume,target=/x,evil=1"),
        Unsupported,
        "evil",
    ),
    Case("flag-mount-empty", created("--mount", ""), InvalidArgument, "--mount"),
    # -- registry requests against `dockyard registry serve` --
    Case(
        "reg-blob-digest-traversal",
        http("GET", "/v2/r/blobs/sha256:../../../..{S}/x"),
        status=400,
        code="DIGEST_INVALID",
    ),
    Case(
        "reg-blob-wrong-digest",
        http("POST", "/v2/r/blobs/uploads/?digest=sha256:" + "a" * 64, b"payload"),
        status=400,
        code="DIGEST_INVALID",
    ),
    Case("reg-blob-unknown-algorithm", http("HEAD", "/v2/r/blobs/md5:" + "a" * 32), status=400),
    Case(
        "reg-name-traversal",
        http("GET", "/v2/../../etc/tags/list"),
        status=400,
        code="NAME_INVALID",
    ),
    Case("reg-name-uppercase", http("GET", "/v2/Evil/tags/list"), status=400, code="NAME_INVALID"),
    Case(
        "reg-manifest-5MiB",
        http(
            "PUT",
            "/v2/r/manifests/t",
            b" " * (5 << 20),
            **{"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        ),
        status=413,
    ),
    Case(
        "reg-manifest-nested",
        http(
            "PUT",
            "/v2/r/manifests/t",
            b"[" * 100_000 + b"]" * 100_000,
            **{"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        ),
        status=400,
        code="MANIFEST_INVALID",
    ),
    Case(
        "reg-manifest-unknown-type",
        http(
            "PUT",
            "/v2/r/manifests/t",
            b'{"schemaVersion":2}',
            **{"Content-Type": "application/x-evil"},
        ),
        status=400,
    ),
    Case("reg-catalog-huge-n", http("GET", "/v2/_catalog?n=1000000000000"), status=200),
    Case("reg-tags-negative-n", http("GET", "/v2/r/tags/list?n=-1"), status=400),
    Case(
        "reg-content-length-lies",
        http("PUT", "/v2/r/manifests/t", b"{}", **{"Content-Length": "100000000000"}),
        status=413,
        slow=True,
    ),
]


def _written(out: Path, data: bytes) -> Path:
    out.write_bytes(data)
    return out


def _retag(out: Path, tag: str) -> Path:
    import json

    with tarfile.open(out) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]
    manifest = json.loads(members["manifest.json"])
    manifest[0]["RepoTags"] = [tag]
    members["manifest.json"] = json.dumps(manifest).encode()
    out.write_bytes(inputs.tar_of(members))
    return out


def _symlinked_index(w: World, out: Path) -> Path:
    out.write_bytes(
        tar_bytes(
            [
                symlink("index.json", str(w.sentinel / "x")),
                file("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
            ]
        )
    )
    return out


def _gz_index_bomb(w: World, out: Path) -> Path:
    import zlib

    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    chunk = b" " * (1 << 20)
    with out.open("wb") as f:
        f.write(compressor.compress(inputs.ustar_header("index.json", size=1 << 30)))
        for _ in range(1024):
            f.write(compressor.compress(chunk))
        f.write(compressor.compress(bytes(1024)) + compressor.flush())
    return out


# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state root holding ``base:1`` (one tiny layer), copied for every case."""
    root = tmp_path_factory.mktemp("template") / "state"
    root.mkdir()
    tiny = root.parent / "tiny.tar"
    tiny.write_bytes(tar_bytes([dir_("etc"), file("etc/passwd", b"root:x:0:0::/:/bin/sh\n")]))
    DockyardRunner(root, driver="native")("import", str(tiny), "base:1")
    return root


@pytest.fixture(scope="module")
def registry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("registry") / "root", "--auth", "none",
                    memory_limit=LIMIT)  # fmt: skip
    yield server
    if server.proc is not None and server.proc.poll() is None:
        server.stop()


def _sentinel(root: Path) -> None:
    (root / "d").mkdir(parents=True)
    (root / "d" / "keep").write_text("keep\n")
    (root / "x").write_text("sentinel\n")
    os.chmod(root / "x", 0o600)
    os.utime(root / "x", (1_000_000, 1_000_000))
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")


def _params() -> list[object]:
    return [pytest.param(c, id=c.id, marks=[pytest.mark.slow] if c.slow else []) for c in CASES]


@pytest.mark.parametrize("case", _params())
def test_hostile_input(
    case: Case, tmp_path: Path, template: Path, request: pytest.FixtureRequest
) -> None:
    state = tmp_path / "state"
    shutil.copytree(template, state, symlinks=True)
    world = World(
        tmp=tmp_path,
        engine=DockyardRunner(state, driver="native"),
        registry=lambda: request.getfixturevalue("registry_server"),
    )
    _sentinel(world.sentinel)
    world.work.mkdir()
    fingerprint = tree_hash(world.sentinel)
    attempt = case.build(world)
    beside = sorted(p.name for p in tmp_path.iterdir())
    if attempt.request is not None:
        _check_registry(case, world.registry(), attempt)
    elif attempt.call is not None:
        _check_outcome(case, call_bounded(attempt.call))
    else:
        _check_cli(case, world, attempt.argv)
    assert tree_hash(world.sentinel) == fingerprint, "the sentinel tree changed"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "run") == [
        n for n in beside if n != "run"
    ], "something was written beside the store"
    if case.error is None and case.accepted_check is not None:
        case.accepted_check(world)
    if attempt.request is None:
        shutil.rmtree(state / "apply-target", ignore_errors=True)
        check = world.engine("system", "check", check=False)
        assert check.returncode == 0 and b"no problems" in check.stdout, check


def _check_outcome(case: Case, outcome: Outcome) -> None:
    assert outcome.signal is None, f"the child died of signal {outcome.signal}: {outcome.message}"
    raised = outcome.raised()
    if case.error is None:
        assert raised is None, f"{outcome.error}: {outcome.message[:500]}"
        return
    assert raised is not None, f"accepted: returned {outcome.value!r}"
    assert issubclass(raised, case.error), f"{outcome.error}: {outcome.message[:500]}"
    assert re.search(case.match, outcome.message), outcome.message[:500]


def _check_cli(case: Case, world: World, argv: tuple[str, ...]) -> None:
    proc = run_bounded(world.engine.argv("-D", *argv), env=world.engine.env(), cwd=str(world.work))
    stderr = proc.stderr.decode(errors="replace")
    raised = error_class_of(stderr)
    tail = "\n".join(line[:300] for line in stderr.splitlines()[-4:])
    summary = f"rc={proc.returncode} raised={raised and raised.__name__}\n{tail}"
    if case.error is None:
        assert proc.returncode == 0, summary
        return
    assert proc.returncode in (1, 125), summary
    lines = [line for line in stderr.splitlines() if line.startswith("Error: ")]
    assert lines, f"no 'Error:' line\n{summary}"
    if raised is None:
        # `create`/`run` (exit 125, docker's code) and `build` (exit 1) report a DockyardError
        # themselves, without a traceback; anything else would have left one
        assert issubclass(case.error, DockyardError), summary
    else:
        assert issubclass(raised, case.error), f"raised {raised.__name__}\n{summary}"
    assert re.search(case.match, lines[-1]), summary


def _check_registry(case: Case, server: Server, attempt: Attempt) -> None:
    import json

    assert attempt.request is not None
    method, path, body, headers = attempt.request
    reply = _raw_request(server, method, path, body, headers)
    assert reply[0] == case.status, reply
    if case.code:
        codes = [e["code"] for e in json.loads(reply[1])["errors"]]
        assert case.code in codes, reply
    assert server.proc is not None and server.proc.poll() is None, "the registry server died"
    assert server.request("GET", "/v2/").status == 200
    check = _registry_check(server.root)
    assert check.returncode == 0, check


def _raw_request(
    server: Server, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, bytes]:
    """Send the request as written (http.client would fix a lying Content-Length)."""
    import socket

    host, port = server.host.rsplit(":", 1)
    head = f"{method} {path} HTTP/1.1\r\nHost: {server.host}\r\nConnection: close\r\n"
    if "Content-Length" not in headers:
        headers = {**headers, "Content-Length": str(len(body or b""))}
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(head.encode())
        if body:
            # the server may answer early (413) and close
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(body)
        data = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 "), data[:200]
    _, _, payload = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), payload


def _registry_check(root: Path) -> subprocess.CompletedProcess[str]:
    from tests.distribution.server.test_serve import registry

    return registry(root, "check")


def test_the_table_is_big_enough() -> None:
    """The issue asks for at least 60 cases, across every input class."""
    assert len(CASES) >= 60
    prefixes = {c.id.split("-")[0] for c in CASES}
    assert prefixes == {"layer", "apply", "load", "ref", "build", "compose", "flag", "reg"}
