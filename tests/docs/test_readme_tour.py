"""The README's tour runs exactly as written: its commands are parsed from the README's
``console`` block (``$ `` lines; a here-document's body up to its delimiter) and run in order in
one shell with a terminal (``run -it`` needs one), against a private state root, bridge and
address pool (through the environment only: the commands are not changed)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.conftest import DockyardRunner

REPO = Path(__file__).resolve().parents[2]
HEREDOC = re.compile(r"<<-?\s*'?(\w+)'?")


def tour_commands(readme: str) -> list[str]:
    """The commands of the ``console`` block under "## A short tour", here-documents whole."""
    section = readme.split("## A short tour", 1)[1].split("\n## ", 1)[0]
    block = section.split("```console\n", 1)[1].split("\n```", 1)[0]
    commands: list[str] = []
    lines = iter(block.splitlines())
    for line in lines:
        if not line.startswith("$ "):
            continue  # output
        command = line[2:]
        heredoc = HEREDOC.search(command)
        if heredoc:
            body = []
            for more in lines:
                body.append(more)
                if more == heredoc.group(1):
                    break
            command += "\n" + "\n".join(body)
        commands.append(command)
    return commands


def test_the_parser_keeps_here_documents_whole() -> None:
    text = (
        "## A short tour\n\n```console\n$ echo a\na\n$ cat > f <<'EOF'\nx\n$ not a command\n"
        "EOF\n$ cat f\nx\n```\n\n## Next\n"
    )
    assert tour_commands(text) == ["echo a", "cat > f <<'EOF'\nx\n$ not a command\nEOF", "cat f"]


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("script") is None,
                    reason="needs root and script(1)")  # fmt: skip
def test_the_readme_tour_runs_as_written(tmp_path: Path) -> None:
    commands = tour_commands((REPO / "README.md").read_text())
    assert len(commands) > 30
    script = tmp_path / "tour.sh"
    script.write_text("set -eu\n" + "\n".join(commands) + "\n")
    runner = DockyardRunner(tmp_path / "state")
    env = {**runner.env(), "DOCKYARD_ROOT": str(tmp_path / "state"), "TMPDIR": str(tmp_path)}
    try:
        proc = subprocess.run(
            ["script", "-qefc", f"sh -x {script}", "/dev/null"], cwd=REPO, env=env,
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
    finally:
        subprocess.run(["sh", "-c", "dockyard rm -f $(dockyard ps -aq) 2>/dev/null; "
                        "dockyard network prune -f"], env=env, capture_output=True,
                       check=False)  # fmt: skip
        Path("/tmp/busybox.tar").unlink(missing_ok=True)
    out = proc.stdout.replace("\r", "")
    assert proc.returncode == 0, out[-4000:]
    lines = shown(out)
    for line in ("hello from my image", "with -it, an interactive shell would start here",
                 "Untagged: my-image:2.0", "Deleted Containers:",
                 "Status: Downloaded newer image for 127.0.0.1:5000/me/my-image:1.0"):  # fmt: skip
        assert line in lines, out[-4000:]
    assert lines.count("hello from my image") == 2, lines  # built here, then pulled back
    assert any(line.startswith("/dev/pts/") for line in lines), lines  # run -it has a terminal
    cached = [line for line in lines if line.endswith("CACHED")]
    assert len(cached) == 3, lines  # the rebuild: every step after FROM from the cache
    assert any(re.fullmatch(r"\S*-checker-1\s*\| served by compose", line) for line in lines), lines
    web = next(line for line in lines if re.fullmatch("[0-9a-f]{64}", line))  # run -d's id
    assert web[:12] in lines, lines  # the published port reached httpd, which served hostname
    assert any("Exited (0)" in line and line.endswith(" worker") for line in lines), lines


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def shown(out: str) -> list[str]:
    """What the commands printed: the lines of ``out`` without their terminal escapes (colour,
    cursor moves) and without the trace lines of ``sh -x`` (``+ command``), which repeat the
    commands' own text."""
    lines = (ANSI.sub("", line).rstrip() for line in out.splitlines())
    return [line for line in lines if not line.startswith("+ ")]


def test_shown_leaves_out_trace_lines_and_escapes() -> None:
    out = (
        "+ echo hi\nhi\n\x1b[?25h+ dockyard rmi x\n"
        "\x1b[1m[0 2/4]\x1b[0m WORKDIR /app \x1b[2mCACHED\x1b[0m\n"
    )
    assert shown(out) == ["hi", "[0 2/4] WORKDIR /app CACHED"]
