"""Container start-to-exit: ``dockyard-runtime run`` against ``runc run``, interleaved.

Usage: python benchmarks/runtime.py [--runs 20] [--out FILE] [--runtime CMD | --venv DIR]

Builds one busybox bundle (Debian's busybox-static, ``tests/support/rootfs.py``) whose process
is ``/bin/true``, ``runc spec``'s defaults otherwise (no terminal), then alternates
``runc run`` and ``dockyard-runtime run`` on it, ``--runs`` times each, every run with a fresh
container id and its own cgroup. Prints the medians and the ratio as a Markdown table (and
writes it to --out). Target (issue 3): dockyard <= 1.5x runc's median. Needs root and runc.

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
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

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
    start = time.perf_counter()
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=_ENV)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode()}")
    return elapsed


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


def _measure(
    commands: dict[str, list[str]], bundle: Path, runs: int, python: str
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in commands}
    floors = _interpreter_cmds(python)
    times.update({name: [] for name in floors})
    for base in commands.values():  # warm up caches, untimed
        _time([*base, "run", "--bundle", str(bundle), f"warm-{uuid.uuid4().hex[:8]}"])
    for _ in range(runs):
        for name, base in commands.items():
            cid = f"bench-{uuid.uuid4().hex[:12]}"
            times[name].append(_time([*base, "run", "--bundle", str(bundle), cid]))
        for name, argv in floors.items():
            times[name].append(_time(argv))
    return times


def _table(times: dict[str, list[float]], runs: int, venv: Path | None) -> str:
    med = {name: statistics.median(v) for name, v in times.items()}
    ours, runc, floor = med["dockyard-runtime"], med["runc"], med["python -c pass"]
    env = os.environ if _ENV is None else _ENV
    bytecode = "set" if env.get("PYTHONDONTWRITEBYTECODE") else "unset"
    where = f"clean venv {venv}, pip-installed" if venv else "dockyard byte-compiled"
    return "\n".join(
        [
            f"`run` of a busybox bundle running /bin/true, {runs} interleaved runs each "
            f"({where}; PYTHONDONTWRITEBYTECODE {bytecode})",
            "",
            "| command | median | min | max |",
            "| --- | --- | --- | --- |",
            *(
                f"| {name} | {med[name] * 1000:.1f} ms | {min(v) * 1000:.1f} ms "
                f"| {max(v) * 1000:.1f} ms |"
                for name, v in times.items()
            ),
            "",
            f"ratio dockyard-runtime / runc: **{ours / runc:.2f}x** (target <= 1.5x)",
            f"excluding interpreter start (dockyard - `python -c pass`) / runc: "
            f"**{(ours - floor) / runc:.2f}x**",
            f"environment share of `python -c pass` (site-packages .pth hooks; "
            f"`python -c pass` - `python -S -c pass`): "
            f"{(floor - med['python -S -c pass']) * 1000:.1f} ms",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path)
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
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-") as tmp:
        work = Path(tmp)
        bundle = _bundle(work)
        commands = {
            "runc": ["runc", "--root", str(work / "runc")],
            "dockyard-runtime": [*ours, "--root", str(work / "dy")],
        }
        times = _measure(commands, bundle, args.runs, python)
    table = _table(times, args.runs, venv)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
