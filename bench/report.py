"""What every benchmark script records, and how the suite reports it.

A script measures one *suite* (containers, builds, ...): for each workload, raw samples per
tool (dockyard and its peers), interleaved. It describes its workloads with :class:`Workload`
(unit, the peer and target ratio of ``../shared/design/PERFORMANCE.md``), collects samples in
a :class:`Suite`, writes the Markdown table that :func:`table` renders, and with ``--json FILE``
the suite itself (every raw sample, versions, the peers it could not measure and why). The
suite's entry point (``bench/suite.py``) reads those files back to write the summary table in
``docs/benchmarks.md``, one JSON file of all samples and the ratio charts.

Ratios are dockyard's median over the peer's median for times and sizes ("lower is better"),
and dockyard's over the peer's for throughputs ("higher is better"); a target is met when the
ratio is on the right side of it. Only the standard library here: the scripts import this
module inside their private namespaces.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

US = "dockyard"

Samples = dict[str, dict[str, list[float]]]  # workload key -> tool -> samples (base units)


@dataclasses.dataclass(frozen=True)
class Workload:
    """One measured quantity. ``unit`` is how samples are stored and shown: "s" (seconds,
    shown as s), "ms" (seconds, shown as ms), "bytes" (shown as MiB), "+bytes" (a growth),
    "kB" (shown as MiB), "MB/s" or "count". ``peer`` is whose median the ratio is taken
    against ("fastest": the best peer measured); ``target`` the ratio to meet (None: the ratio
    is shown for information), or ``limit`` an absolute bound on dockyard's median (in the
    unit's base)."""

    key: str
    label: str
    unit: str = "s"
    peer: str | None = None
    target: float | None = None
    higher_is_better: bool = False
    limit: float | None = None
    goal: str | None = None  # the target as the table says it, when not "<= 0.35x docker"

    def goal_text(self) -> str:
        if self.goal:
            return self.goal
        if self.limit is not None:
            return f"<= {fmt(self.limit, self.unit)}"
        if self.target is None or self.peer is None:
            return "-"
        sign = ">=" if self.higher_is_better else "<="
        return f"{sign} {self.target:g}x {self.peer}"


@dataclasses.dataclass(frozen=True)
class Verdict:
    ratio: float | None  # dockyard over the peer (None: no ratio)
    peer: str | None  # the peer it was taken against
    met: bool | None  # None: no target, or not measurable
    why: str = ""  # why there is no ratio ("podman not measured")


@dataclasses.dataclass
class Suite:
    """One script's run: workloads in table order, samples, and what it could not measure."""

    name: str
    title: str
    tools: list[str]  # the columns, dockyard first
    workloads: list[Workload]
    samples: Samples = dataclasses.field(default_factory=dict)
    meta: dict[str, str] = dataclasses.field(default_factory=dict)
    versions: dict[str, str] = dataclasses.field(default_factory=dict)
    missing: dict[str, str] = dataclasses.field(default_factory=dict)  # tool -> why
    notes: list[str] = dataclasses.field(default_factory=list)

    def add(self, key: str, tool: str, value: float) -> None:
        self.samples.setdefault(key, {}).setdefault(tool, []).append(value)

    def begin(self, **meta: str) -> None:
        """Record the date, machine and load at the start (and ``meta``)."""
        self.meta.update(date=time.strftime("%Y-%m-%d %H:%M"), machine=machine(), load=load())
        self.meta.update(meta)

    def end(self) -> None:
        self.meta["load_end"] = load()

    def median(self, key: str, tool: str) -> float | None:
        samples = self.samples.get(key, {}).get(tool)
        return statistics.median(samples) if samples else None

    def verdict(self, work: Workload) -> Verdict:
        ours = self.median(work.key, US)
        if work.limit is not None:
            return Verdict(None, None, None if ours is None else ours <= work.limit)
        if work.peer is None:
            return Verdict(None, None, None)
        peer = work.peer
        if peer == "fastest":
            measured = {t: m for t in self.tools[1:] if (m := self.median(work.key, t)) is not None}
            if not measured:
                return Verdict(None, None, None, "no peer measured")
            pick = max if work.higher_is_better else min
            peer = pick(measured, key=lambda t: measured[t])
        theirs = self.median(work.key, peer)
        if ours is None or theirs is None:
            return Verdict(None, peer, None, f"{peer} not measured")
        if theirs <= 0:
            return Verdict(None, peer, None, f"{peer} measured {theirs:g}")
        ratio = ours / theirs
        if work.target is None:  # shown for information
            return Verdict(ratio, peer, None)
        met = ratio >= work.target if work.higher_is_better else ratio <= work.target
        return Verdict(ratio, peer, met)

    def to_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, object]) -> Suite:
        fields = dict(doc)
        raw = fields.pop("workloads")
        assert isinstance(raw, list)
        return cls(workloads=[Workload(**w) for w in raw], **fields)  # type: ignore[arg-type]

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")


def fmt(value: float | None, unit: str) -> str:
    """``value`` (in the unit's base) as a table cell."""
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "ms":
        return f"{value * 1000:.1f} ms"
    if unit == "bytes":
        return f"{value / 2**20:.1f} MiB"
    if unit == "+bytes":
        return f"{value / 2**20:+.2f} MiB"
    if unit == "kB":
        return f"{value / 1024:.1f} MiB"
    if unit == "MB/s":
        return f"{value:.0f} MB/s"
    return f"{value:g}"


def verdict_text(work: Workload, verdict: Verdict) -> tuple[str, str]:
    """The ratio cell and the target cell ("<= 0.35x docker: met")."""
    ratio = "-"
    if verdict.ratio is not None:
        ratio = f"{verdict.ratio:.2f}x {verdict.peer}"
    elif verdict.why:
        ratio = f"n/a ({verdict.why})"
    goal = work.goal_text()
    if verdict.met is not None:
        goal += ": met" if verdict.met else ": **missed**"
    return ratio, goal


def table(suite: Suite) -> str:
    """The suite's Markdown report: medians, ratios and targets; then the spread (min - max)
    of every workload with more than one sample; versions; what was not measured."""
    tools = suite.tools
    meta = suite.meta
    lines = [
        f"{suite.title}, {meta.get('date', '?')}: {meta.get('machine', '?')}; "
        + "".join(f"{k} {v}; " for k, v in meta.items() if k not in _META_SHOWN)
        + f"load average at start {meta.get('load', '?')}, at end {meta.get('load_end', '?')}",
        "",
        "| workload | " + " | ".join(tools) + " | ratio | target |",
        "| --- | " + " | ".join("---:" for _ in tools) + " | ---: | --- |",
    ]
    for work in suite.workloads:
        cells = [fmt(suite.median(work.key, t), work.unit) for t in tools]
        ratio, goal = verdict_text(work, suite.verdict(work))
        lines.append(f"| {work.label} | {' | '.join(cells)} | {ratio} | {goal} |")
    spread = [
        w for w in suite.workloads if any(len(v) > 1 for v in suite.samples.get(w.key, {}).values())
    ]
    if spread:
        lines += ["", "Spread (min - max):", ""]
        lines += ["| workload | " + " | ".join(tools) + " |", "| --- |" + " ---: |" * len(tools)]
        for work in spread:
            cells = []
            for tool in tools:
                v = suite.samples.get(work.key, {}).get(tool)
                cells.append(f"{fmt(min(v), work.unit)} - {fmt(max(v), work.unit)}" if v else "-")
            lines.append(f"| {work.key} | {' | '.join(cells)} |")
    lines.append("")
    if suite.versions:
        lines.append("Measured: " + "; ".join(suite.versions.values()) + ".")
    lines += suite.notes
    lines += [f"Not measured: {tool}: {why}." for tool, why in suite.missing.items()]
    return "\n".join(lines)


_META_SHOWN = {"date", "machine", "load", "load_end"}


def machine() -> str:
    return f"{os.cpu_count()} cores, Linux {platform.release()}"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def rows(suites: Iterable[Suite]) -> list[tuple[Suite, Workload, Verdict]]:
    """Every workload with a target, across suites, for the summary and the charts."""
    return [
        (s, w, s.verdict(w))
        for s in suites
        for w in s.workloads
        if w.target is not None or w.limit is not None
    ]


def output_options(parser: argparse.ArgumentParser) -> None:
    """``--out`` and ``--json``, which every suite's script takes."""
    parser.add_argument("--out", type=Path, help="write the Markdown table here too")
    parser.add_argument("--json", type=Path, help="write every raw sample here (bench/report.py)")


def engine_options(parser: argparse.ArgumentParser, peers: Sequence[str]) -> None:
    """``--workdir`` and ``--no-PEER``, which the scripts that run engines take."""
    parser.add_argument("--workdir", type=Path, help="where the state roots go (default /tmp)")
    for peer in peers:
        parser.add_argument(f"--no-{peer}", action="store_true", help=f"leave {peer} out")


def emit(suite: Suite, args: argparse.Namespace) -> None:
    """Print the suite's table; write it to ``--out`` and the suite to ``--json``."""
    text = table(suite) + "\n"
    print(text, end="")
    if args.out:
        args.out.write_text(text)
    if args.json:
        suite.write(args.json)
