"""The benchmark suite's bookkeeping (bench/report.py, bench/suite.py): ratios against the
right peer in the right direction, verdicts, and the generated section of the docs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import report
import suite as entry
from report import Suite, Workload


def _suite(*workloads: Workload, **samples: dict[str, list[float]]) -> Suite:
    s = Suite("t", "Test", ["dockyard", "docker", "podman"], list(workloads))
    for key, by_tool in samples.items():
        for tool, values in by_tool.items():
            for v in values:
                s.add(key, tool, v)
    return s


def test_a_time_ratio_is_ours_over_the_named_peer_and_lower_meets() -> None:
    w = Workload("W1", "w1", "s", "docker", 0.35)
    s = _suite(w, W1={"dockyard": [1.0, 3.0, 2.0], "docker": [10.0], "podman": [1.0]})
    v = s.verdict(w)
    assert (v.ratio, v.peer, v.met) == (0.2, "docker", True)
    s.add("W1", "dockyard", 9.0)
    s.add("W1", "dockyard", 9.0)  # median now 3.0: 0.3x
    assert s.verdict(w).met is True
    s.add("W1", "dockyard", 9.0)  # median 6.0 / 10.0: missed
    assert s.verdict(w).met is False


def test_a_throughput_ratio_must_reach_the_target_from_below() -> None:
    w = Workload("pull", "pull", "MB/s", "docker", 0.8, higher_is_better=True)
    assert _suite(w, pull={"dockyard": [90.0], "docker": [100.0]}).verdict(w).met is True
    assert _suite(w, pull={"dockyard": [70.0], "docker": [100.0]}).verdict(w).met is False


def test_fastest_picks_the_best_peer_measured() -> None:
    w = Workload("up", "up", "s", "fastest", 0.3)
    v = _suite(w, up={"dockyard": [1.0], "docker": [4.0], "podman": [2.0]}).verdict(w)
    assert (v.peer, v.ratio, v.met) == ("podman", 0.5, False)
    none = _suite(w, up={"dockyard": [1.0]}).verdict(w)
    assert (none.ratio, none.met, none.why) == (None, None, "no peer measured")


def test_a_missing_peer_is_not_measured_never_met() -> None:
    w = Workload("W4", "w4", "s", "podman", 0.4)
    v = _suite(w, W4={"dockyard": [1.0], "docker": [5.0]}).verdict(w)
    assert (v.ratio, v.met, v.why) == (None, None, "podman not measured")
    ratio, goal = report.verdict_text(w, v)
    assert (ratio, goal) == ("n/a (podman not measured)", "<= 0.4x podman")


def test_an_absolute_limit() -> None:
    w = Workload("RSS", "rss", "kB", limit=10 * 1024)
    assert _suite(w, RSS={"dockyard": [9000.0]}).verdict(w).met is True
    assert _suite(w, RSS={"dockyard": [11000.0]}).verdict(w).met is False
    assert w.goal_text() == "<= 10.0 MiB"


def test_the_suite_round_trips_through_json_with_every_sample() -> None:
    w = Workload("W1", "w1", "s", "docker", 0.35)
    s = _suite(w, W1={"dockyard": [1.0, 2.0], "docker": [3.0]})
    s.missing["podman"] = "not installed"
    back = Suite.from_json(s.to_json())
    assert back == s
    assert "| w1 | 1.500 s | 3.000 s | - | 0.50x docker | <= 0.35x docker: **missed** |" in (
        report.table(back)
    )
    assert "Not measured: podman: not installed." in report.table(back)


def test_the_chart_speed_up_turns_time_ratios_around() -> None:
    time_ = Workload("W1", "w1", "s", "docker", 0.25)
    assert entry.speedup(time_, report.Verdict(0.5, "docker", False)) == (2.0, 4.0)
    rate = Workload("p", "p", "MB/s", "docker", 0.8, higher_is_better=True)
    assert entry.speedup(rate, report.Verdict(1.2, "docker", True)) == (1.2, 0.8)
    assert entry.speedup(time_, report.Verdict(None, "docker", None)) is None


def test_the_generated_section_is_replaced_and_the_rest_kept(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nIntro.\n\n## Layers\n\nAnalysis.\n")
    entry.write_doc(doc, f"{entry.MARK_START}\nfirst\n{entry.MARK_END}")
    entry.write_doc(doc, f"{entry.MARK_START}\nsecond\n{entry.MARK_END}")
    text = doc.read_text()
    assert text.count(entry.MARK_START) == 1
    assert "second" in text and "first" not in text
    assert text.index("Intro.") < text.index("second") < text.index("## Layers")
    assert text.endswith("Analysis.\n")


@pytest.mark.parametrize("quick", [True, False])
def test_the_plan_runs_every_suite_and_runs_overrides(quick: bool) -> None:
    args = entry.argparse.Namespace(quick=quick, no_docker=True, no_podman=False,
                                    no_skopeo=True, workdir=None, runs=7)  # fmt: skip
    plan = entry._suites(args)
    assert list(plan) == ["layers", "runtime", "containers", "builds", "network", "registry",
                          "distribution", "compose"]  # fmt: skip
    for argv in plan.values():
        assert argv[argv.index("--runs") + 1] == "7"
    assert "--no-docker" in plan["containers"] and "--no-podman" not in plan["compose"]
    assert "--no-skopeo" in plan["distribution"]
    assert ("--quick" in plan["builds"]) is quick
