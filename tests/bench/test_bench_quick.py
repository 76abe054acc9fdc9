"""The benchmark suite's --quick smoke run (CI runs it to prove the suite works): every suite
runs and reports; the JSON holds every raw sample; the report, chart and summary are written.
No timing is asserted (figures from a smoke run mean nothing)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the benchmarks need root"),
]


def test_quick_run_measures_every_suite_and_writes_every_output(tmp_path: Path) -> None:
    out, doc = tmp_path / "out", tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nIntro.\n\n## Analysis\n\nKept.\n")
    proc = subprocess.run(
        [str(REPO / "bench" / "run"), "--quick", "--no-docker", "--no-podman", "--no-skopeo",
         "--out-dir", str(out), "--doc", str(doc), "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    measured = {s["name"]: s for s in results["suites"]}
    # a suite may only be left out for a missing tool, said so
    assert all(why.startswith("needs ") for why in results["failed"].values()), results["failed"]
    assert set(measured) | set(results["failed"]) == {
        "layers", "runtime", "containers", "builds", "network", "registry", "distribution",
        "compose",
    }  # fmt: skip
    assert {"containers", "builds", "distribution", "compose", "layers", "network"} <= set(measured)
    for name, suite in measured.items():
        for work in suite["workloads"]:
            samples = suite["samples"].get(work["key"], {}).get("dockyard", [])
            assert samples, f"{name}: no dockyard sample for {work['key']}"
        assert suite["meta"]["date"] and suite["meta"]["load_end"]
    skipped = measured["containers"]["missing"]
    assert skipped == {"docker": "skipped (--no-docker)", "podman": "skipped (--no-podman)"}
    report = (out / "report.md").read_text()
    assert "## Containers" in report and "## Builds" in report
    assert (out / "ratios.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = doc.read_text()
    assert "| containers | W1 `run --rm busybox /bin/true` |" in text
    assert "smoke run" in text and "![dockyard's speed against each peer](out/ratios.png)" in text
    assert text.endswith("## Analysis\n\nKept.\n")
