"""``alias docker=dockyard`` works for the commands docs/moving-from-docker.md lists: they run,
as Docker users type them, in one bash script with ``expand_aliases``, under a terminal
(``run -it``), against a private state root, run root, bridge and address pool, with a
dockyard registry on loopback for ``push``/``pull``. Each command's output is checked for what
Docker would print. A command the page lists that the script does not run fails the check of
the list, so the page and this test cannot drift apart.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.conftest import DockyardRunner
from tests.e2e.compose.test_compose_features import free_port

pytestmark = [pytest.mark.root, pytest.mark.overlay, pytest.mark.netns]

REPO = Path(__file__).resolve().parents[2]
MARK = re.compile(r"@@command (\d+)@@$")  # printed before each command's output

# (command, a line its output must hold, or None); {reg} is the registry's address.
COMMANDS: list[tuple[str, str | None]] = [
    ("docker version --format '{{.Server.Version}}'", "0.1.0"),
    ("docker info --format '{{.Driver}}'", "overlayfs"),
    ("docker images", "busybox      latest"),
    ("docker image ls --format '{{.Repository}}:{{.Tag}}'", "busybox:latest"),
    ("docker run --rm -e GREETING=hi busybox sh -c 'echo $GREETING from run'", "hi from run"),
    ("docker container run --rm busybox echo container run", "container run"),
    ("docker run -it --rm busybox sh -c 'tty'", "/dev/pts/0"),
    ("docker run --rm --init busybox sh -c 'cat /proc/1/comm'", "docker-init"),
    ("docker run --rm -v data:/data busybox sh -c 'echo kept > /data/f'", None),
    ("docker run --rm -v data:/data busybox cat /data/f", "kept"),
    ("docker run -d --name web -p 127.0.0.1:{port}:80 busybox httpd -f -p 80 -h /etc", None),
    (
        "docker run -d --name worker busybox sh -c 'echo started; trap exit TERM; "
        "while true; do sleep 1; done'",
        None,
    ),
    ("docker ps -a --format '{{.Names}} {{.Status}}'", None),
    ("docker container ls", "web"),
    ("docker exec -e WHO=exec worker sh -c 'echo hello from $WHO'", "hello from exec"),
    ("docker logs --since 10m worker", "started"),
    ("docker inspect --format '{{.NetworkSettings.IPAddress}}' web", None),
    ("docker top worker", "PID"),
    ("docker container stats --no-stream", "CONTAINER ID"),
    ("docker cp worker:/etc/hostname ./hostname && cat hostname", None),
    ("docker stop worker", "worker"),
    ("docker wait worker", "0"),
    ("docker rm -f $(docker ps -aq)", None),
    ('mkdir -p app && printf \'FROM busybox\\nCMD ["echo", "built"]\\n\' > app/Dockerfile', None),
    ("docker build -t app:1 app", "Successfully tagged app:1"),
    ("docker tag app:1 {reg}/me/app:1", None),
    ("docker image inspect --format '{{.Config.Cmd}}' app:1", "[echo built]"),
    ("docker image history app:1", "IMAGE"),
    ("docker push {reg}/me/app:1", None),
    ("docker rmi {reg}/me/app:1", "Untagged: {reg}/me/app:1"),
    ("docker pull {reg}/me/app:1", "Status: Downloaded newer image for {reg}/me/app:1"),
    ("docker save app:1 | wc -c", None),
    ("docker image save -o app.tar app:1 && docker load -i app.tar", "Loaded image: app:1"),
    ("docker volume ls -q", "data"),
    ("docker network ls", "bridge"),
    ("docker system df", "TYPE"),
    ("docker compose version", None),
    (
        "printf 'services:\\n  one:\\n    image: busybox\\n    command: echo from compose\\n'"
        " > compose.yaml",
        None,
    ),
    ("docker compose up -d", None),
    ("docker compose ps -a", "one"),
    ("docker compose logs -f one", "from compose"),
    ("docker compose down", None),
    ("docker system prune -f", None),
    ("docker image prune -f", None),
    ("docker volume prune -f", None),
    ("docker-compose version", None),
]


def listed(page: str) -> list[str]:
    """The ``docker …`` code spans of the page's "run as written" paragraph, a trailing ``…``
    dropped (``docker image ls --format …``: any format)."""
    paragraph = page.split("these run as written", 1)[1].split("\n\n", 1)[0]
    spans = re.findall(r"`([^`]+)`", paragraph)
    return [" ".join(s.split()).removesuffix(" …") for s in spans if s.startswith("docker ")]


def runs(command: str, span: str) -> bool:
    """Whether ``command`` is what the page's ``span`` says: its words, in order, with others
    (names, arguments) between them (``docker save | wc -c``: ``docker save app:1 | wc -c``)."""
    words = iter(command.split())
    return all(word in words for word in span.split())


def test_runs_matches_words_in_order() -> None:
    assert runs("docker save app:1 | wc -c", "docker save | wc -c")
    assert not runs("docker wc -c | save", "docker save | wc -c")
    assert not runs("docker image ls", "docker image ls -q")


def test_the_page_lists_only_what_the_test_runs() -> None:
    names = listed((REPO / "docs" / "moving-from-docker.md").read_text())
    assert len(names) > 30, names
    run = [command for command, _ in COMMANDS]
    missing = [n for n in names if not any(runs(c, n) for c in run)]
    assert not missing, f"listed in moving-from-docker.md, not run here: {missing}"
    flags = ("-d", "-it", "--rm", "-e", "-v", "-p", "--name", "--init")  # docker run's, listed
    assert all(any(f" {flag} " in c for c in run if c.startswith("docker run")) for flag in flags)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(shutil.which("script") is None, reason="needs script(1)")
def test_alias_docker_runs_the_listed_commands(tmp_path: Path, busybox_tar: Path) -> None:
    runner = DockyardRunner(tmp_path / "state")
    runner("import", "-c", 'CMD ["sh"]', str(busybox_tar), "busybox:latest")
    port, reg = free_port(), f"127.0.0.1:{free_port()}"
    env = {**runner.env(), "DOCKYARD_ROOT": str(runner.root)}
    work = tmp_path / "work"
    work.mkdir()
    registry = subprocess.Popen(
        ["dockyard", "registry", "serve", "--root", str(tmp_path / "registry"), "--auth", "none",
         "--addr", reg], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    lines = ["set -eu", "alias docker=dockyard", "alias docker-compose='dockyard compose'"]
    for n, (command, _) in enumerate(COMMANDS):
        lines += [f"echo '@@command {n}@@'", fill(command, port, reg)]
    script = tmp_path / "alias.sh"
    script.write_text("\n".join(lines) + "\n")
    try:
        proc = subprocess.run(
            ["script", "-qefc", f"bash -O expand_aliases {script}", "/dev/null"], cwd=work,
            env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=500,
            check=False,
        )  # fmt: skip
    finally:
        registry.terminate()
        registry.wait(timeout=30)
        subprocess.run(["sh", "-c", "dockyard rm -f $(dockyard ps -aq) 2>/dev/null"], env=env,
                       capture_output=True, check=False)  # fmt: skip
    out = proc.stdout.replace("\r", "")
    assert proc.returncode == 0, out[-4000:]
    outputs = outputs_by_command(out)
    assert sorted(outputs) == list(range(len(COMMANDS))), out[-4000:]
    for n, (command, expected) in enumerate(COMMANDS):
        if expected is not None:
            want = fill(expected, port, reg)
            assert want in outputs[n], f"{command}: {want!r} not in {outputs[n]!r}"


def fill(text: str, port: int, reg: str) -> str:
    """``text`` with ``{port}`` and ``{reg}`` replaced (Go templates keep their braces)."""
    return text.replace("{port}", str(port)).replace("{reg}", reg)


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def outputs_by_command(out: str) -> dict[int, str]:
    """Each command's output (terminal escapes removed), by its number in COMMANDS."""
    found: dict[int, str] = {}
    current = None
    for line in ANSI.sub("", out).splitlines():
        # at the end of a line: the terminal may have echoed something first (``^@`` after
        # ``run -it``, whose standard input is at its end)
        mark = MARK.search(line)
        if mark:
            current = int(mark.group(1))
            found[current] = ""
        elif current is not None:
            found[current] += line + "\n"
    return found
