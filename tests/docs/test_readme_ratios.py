"""The README's "Why pick it" figures are the generated summary's: each row of its table names a
workload as ``docs/benchmarks.md``'s summary does (suite and workload), and quotes that row's
peer, ratio, target and verdict. When a benchmark run regenerates the summary, this fails until
the README quotes the new figures."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SUMMARY_START = "<!-- bench:summary:start"
SUMMARY_END = "<!-- bench:summary:end -->"
RATIO = re.compile(r"\b\d+(?:\.\d+)?x\b")
PEER = re.compile(r"\(([^)]+)\)$")  # the summary's peer cell ends with the peer's name


def table_rows(text: str) -> list[list[str]]:
    """The cells of each body row of the Markdown tables in ``text`` (headers and rules left
    out)."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("| ") or line.startswith("| ---"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if cells[0] != "suite":
            rows.append(cells)
    return rows


def summary(benchmarks: str) -> dict[tuple[str, str], tuple[str, str, str, str]]:
    """The generated summary's rows: (suite, workload) -> (peer, ratio, target, verdict)."""
    block = benchmarks.split(SUMMARY_START, 1)[1].split(SUMMARY_END, 1)[0]
    found = {}
    for suite, workload, _, peer, ratio, target, verdict in table_rows(block):
        name = PEER.search(peer)
        found[suite, workload] = (name.group(1) if name else peer, ratio, target, verdict)
    return found


def why_pick_it(readme: str) -> str:
    """The README's text from "Why pick it:" to the next heading."""
    return readme.split("Why pick it:", 1)[1].split("\n## ", 1)[0]


def quoted(readme: str) -> dict[tuple[str, str], tuple[str, str, str, str]]:
    """The README's table: (suite, workload) -> (peer, ratio, target, verdict)."""
    rows = table_rows(why_pick_it(readme))
    assert all(len(row) == 6 for row in rows), rows
    return {(row[0], row[1]): (row[2], row[3], row[4], row[5]) for row in rows}


def test_every_quoted_ratio_is_the_summarys() -> None:
    readme = (REPO / "README.md").read_text()
    table = summary((REPO / "docs" / "benchmarks.md").read_text())
    rows = quoted(readme)
    assert len(rows) >= 10, rows
    for workload, figures in rows.items():
        assert workload in table, f"{workload}: not a workload of the summary"
        assert figures == table[workload], (
            f"{workload}: README {figures}, summary {table[workload]}"
        )
    # the misses are quoted along with the rest
    missed = {w for w, figures in table.items() if figures[3] == "**missed**"}
    assert missed <= rows.keys(), missed - rows.keys()


def test_no_ratio_is_quoted_outside_the_table() -> None:
    text = why_pick_it((REPO / "README.md").read_text())
    prose = "\n".join(line for line in text.splitlines() if not line.startswith("| "))
    assert not RATIO.findall(prose), "quote ratios in the table, where the test checks them"


SUMMARY = f"""{SUMMARY_START} -->
| suite | workload | dockyard | peer | ratio | target | verdict |
| --- | --- | ---: | ---: | ---: | --- | --- |
| containers | W1 `run` | 0.183 s | 0.272 s (docker) | 0.67x | <= 0.35x docker | **missed** |
| layers | create a gzip layer | 381 MB/s | 19 MB/s (gzip) | 19.71x | >= 2x gzip | met |
{SUMMARY_END}
"""


@pytest.mark.parametrize(
    ("row", "agrees"),
    [
        ("| containers | W1 `run` | docker | 0.67x | <= 0.35x docker | **missed** |", True),
        ("| containers | W1 `run` | docker | 0.64x | <= 0.35x docker | **missed** |", False),
        ("| containers | W1 `run` | docker | 0.67x | <= 0.35x docker | met |", False),
        ("| containers | W1 `run` | podman | 0.67x | <= 0.35x docker | **missed** |", False),
        ("| compose | W1 `run` | docker | 0.67x | <= 0.35x docker | **missed** |", False),
    ],
)
def test_the_check_catches_a_changed_figure(row: str, agrees: bool) -> None:
    readme = (
        f"Why pick it: text.\n\n| suite | workload | peer | ratio | target | verdict |\n{row}\n"
    )
    table = summary(SUMMARY)
    assert table["layers", "create a gzip layer"] == ("gzip", "19.71x", ">= 2x gzip", "met")
    assert all(table.get(w) == f for w, f in quoted(readme).items()) is agrees


def test_the_prose_check_finds_a_ratio() -> None:
    assert RATIO.findall("`ps` in 0.89-1.08x and `rm` in 0.16x Docker's time") == ["1.08x", "0.16x"]
