"""Container start-to-exit: ``dockyard-runtime run`` against ``runc run``, interleaved.

Usage: python bench/runtime.py [--runs 20] [--out FILE] [--json FILE]
                               [--runtime CMD | --venv DIR]

Usually run by the suite's entry point, ``bench/run`` (every workload, one report).

Builds one busybox bundle (Debian's busybox-static, ``tests/support/rootfs.py``) whose process
is ``/bin/true``, ``runc spec``'s defaults otherwise (no terminal), then alternates
``runc run`` and ``dockyard-runtime run`` on it, ``--runs`` times each, every run with a fresh
container id and its own cgroup, after one untimed warm-up run each. Prints
``bench/report.py``'s table (medians, the ratio, min-max; writes it to --out, every raw sample
to --json). Target (issue 3): dockyard <= 1.5x runc's median. Needs root and runc.

``--runtime`` is the command for dockyard-runtime (default: the ``dockyard-runtime`` console
script beside this interpreter, never a pyenv shim, else ``python -m
dockyard.cli.runtime_main``).

The interpreter's own start is measured in the same interleaved loop and reported apart, so
the numbers stay honest about what the project controls: ``python -c pass`` (what every
Python program pays here, including this environment's site-packages ``.pth`` hooks) and
``python -S -c pass`` (the bare interpreter). The table gives the plain ratio and the ratio
with ``python -c pass`` taken off dockyard's median ("excluding interpreter start").

Like an installed package (pip byte-compiles on install), the dockyard sources are
byte-compiled first (``compileall``): with ``PYTHONDONTWRITEBYTECODE`` set, as it is in some
sandboxes, an editable install would otherwise recompile every module on every run. The table
says whether that variable was set.

``--venv DIR`` measures what a user gets on a clean machine instead: it creates ``DIR`` (or
reuses it) as a venv WITHOUT the system site-packages (so none of this environment's ``.pth``
hooks), ``pip install``s this checkout into it (not editable; pip byte-compiles; on reuse the
project alone is reinstalled), and times ``DIR/bin/dockyard-runtime`` and ``DIR/bin/python``'s
floors with ``PYTHONDONTWRITEBYTECODE`` removed from their environment.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from report import Suite, Workload, emit, output_options
from timing import run_timed

import dockyard
from dockyard.oci.runtime import default_spec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.support.rootfs


def _bundle(work: Path) -> Path:
    from tests.support.rootfs import cached

    bundle = work / "bundle"
    (bundle / "rootfs").mkdir(parents=True)
    subprocess.run(["tar", "-xf", str(cached("busybox")), "-C", str(bundle / "rootfs")], check=True)
    config = default_spec(["/bin/true"], terminal=False).to_json()
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


_REPO = Path(__file__).resolve().parent.parent
_ENV: dict[str, str] | None = None  # the children's environment; None: ours


def _time(argv: list[str]) -> float:
    done = run_timed(argv, env=_ENV)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr}")
    return done.elapsed


def _runtime_cmd(given: str | None) -> list[str]:
    if given:
        return given.split()
    # The script beside our interpreter, not a pyenv shim (a bash wrapper costing ~50 ms).
    script = Path(sys.executable).parent / "dockyard-runtime"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "dockyard.cli.runtime_main"]


def _venv(venv: Path) -> list[str]:
    """Create (or reuse) a clean venv holding this checkout; its dockyard-runtime command."""
    global _ENV
    _ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=_ENV)
        subprocess.run([*pip, str(_REPO)], check=True, env=_ENV)
    else:  # reuse: pick up source changes, keep the dependencies
        subprocess.run([*pip, "--no-deps", "--force-reinstall", str(_REPO)], check=True, env=_ENV)
    return [str(venv / "bin" / "dockyard-runtime")]


def _interpreter_cmds(python: str) -> dict[str, list[str]]:
    return {
        "python -c pass": [python, "-c", "pass"],
        "python -S -c pass": [python, "-S", "-c", "pass"],
    }


WORKLOADS = [
    Workload("run", "`run` of a busybox bundle running /bin/true", "ms", "runc", 1.5),
    Workload("python -c pass", "`python -c pass` (the interpreter floor)", "ms"),
    Workload("python -S -c pass", "`python -S -c pass` (without site-packages)", "ms"),
]


def _measure(commands: dict[str, list[str]], bundle: Path, python: str, suite: Suite) -> None:
    runs = int(suite.meta["runs"])
    floors = _interpreter_cmds(python)
    for base in commands.values():  # warm up caches, untimed
        _time([*base, "run", "--bundle", str(bundle), f"warm-{uuid.uuid4().hex[:8]}"])
    for _ in range(runs):
        for name, base in commands.items():
            cid = f"bench-{uuid.uuid4().hex[:12]}"
            suite.add("run", name, _time([*base, "run", "--bundle", str(bundle), cid]))
        for name, argv in floors.items():
            suite.add(name, "dockyard", _time(argv))


def _notes(suite: Suite, venv: Path | None) -> None:
    ours, runc = suite.median("run", "dockyard"), suite.median("run", "runc")
    floor, bare = (
        suite.median("python -c pass", "dockyard"),
        suite.median("python -S -c pass", "dockyard"),
    )
    assert ours is not None and runc is not None and floor is not None and bare is not None
    env = os.environ if _ENV is None else _ENV
    bytecode = "set" if env.get("PYTHONDONTWRITEBYTECODE") else "unset"
    where = f"clean venv {venv}, pip-installed" if venv else "dockyard byte-compiled"
    suite.notes += [
        f"Set-up: {where}; PYTHONDONTWRITEBYTECODE {bytecode}.",
        f"Excluding interpreter start (dockyard - `python -c pass`) / runc: "
        f"**{(ours - floor) / runc:.2f}x**.",
        f"Environment share of `python -c pass` (site-packages .pth hooks; "
        f"`python -c pass` - `python -S -c pass`): {(floor - bare) * 1000:.1f} ms.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    output_options(parser)
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument("--runtime")
    chosen.add_argument("--venv", type=Path, help="benchmark a clean venv's install (created)")
    args = parser.parse_args()
    if shutil.which("runc") is None:
        raise SystemExit("needs runc (apt-get install runc)")
    if args.venv:
        venv = args.venv.absolute()
        ours, python = _venv(venv), str(venv / "bin" / "python")
    else:
        ours, python, venv = _runtime_cmd(args.runtime), sys.executable, None
        compileall.compile_dir(str(Path(dockyard.__file__).parent), quiet=1)
    suite = Suite("runtime", "Runtime: container start to exit", ["dockyard", "runc"], WORKLOADS)
    runc_version = subprocess.run(["runc", "--version"], capture_output=True, text=True).stdout
    suite.versions = {"runc": (runc_version.splitlines() or ["runc"])[0]}
    suite.begin(runs=str(args.runs))
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-") as tmp:
        work = Path(tmp)
        bundle = _bundle(work)
        commands = {
            "runc": ["runc", "--root", str(work / "runc")],
            "dockyard": [*ours, "--root", str(work / "dy")],
        }
        _measure(commands, bundle, python, suite)
    suite.end()
    _notes(suite, venv)
    emit(suite, args)


if __name__ == "__main__":
    main()
