"""Container start-to-exit: ``dockyard-runtime run`` against ``runc run``, interleaved.

Usage: python benchmarks/runtime.py [--runs 20] [--out FILE] [--runtime CMD]

Builds one busybox bundle (Debian's busybox-static, ``tests/support/rootfs.py``) whose process
is ``/bin/true``, ``runc spec``'s defaults otherwise (no terminal), then alternates
``runc run`` and ``dockyard-runtime run`` on it, ``--runs`` times each, every run with a fresh
container id and its own cgroup. Prints the medians and the ratio as a Markdown table (and
writes it to --out). Target (issue 3): dockyard <= 1.5x runc's median. Needs root and runc.

``--runtime`` is the command for dockyard-runtime (default: the ``dockyard-runtime`` console
script if installed, else ``python -m dockyard.cli.runtime_main``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

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


def _time(argv: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--runtime")
    args = parser.parse_args()
    if shutil.which("runc") is None:
        raise SystemExit("needs runc (apt-get install runc)")
    ours = _runtime_cmd(args.runtime)
    times: dict[str, list[float]] = {"runc": [], "dockyard-runtime": []}
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-") as tmp:
        work = Path(tmp)
        bundle = _bundle(work)
        commands = {
            "runc": ["runc", "--root", str(work / "runc")],
            "dockyard-runtime": [*ours, "--root", str(work / "dy")],
        }
        for base in commands.values():  # warm up caches, untimed
            _time([*base, "run", "--bundle", str(bundle), f"warm-{uuid.uuid4().hex[:8]}"])
        for _ in range(args.runs):
            for name, base in commands.items():
                cid = f"bench-{uuid.uuid4().hex[:12]}"
                times[name].append(_time([*base, "run", "--bundle", str(bundle), cid]))
    runc_median = statistics.median(times["runc"])
    ours_median = statistics.median(times["dockyard-runtime"])
    table = "\n".join(
        [
            f"`run` of a busybox bundle running /bin/true, {args.runs} interleaved runs each",
            "",
            "| runtime | median | min | max |",
            "| --- | --- | --- | --- |",
            *(
                f"| {name} | {statistics.median(v) * 1000:.1f} ms | {min(v) * 1000:.1f} ms "
                f"| {max(v) * 1000:.1f} ms |"
                for name, v in times.items()
            ),
            "",
            f"ratio dockyard-runtime / runc: **{ours_median / runc_median:.2f}x** (target <= 1.5x)",
        ]
    )
    print(table)
    if args.out:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
