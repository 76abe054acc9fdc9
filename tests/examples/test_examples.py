"""The projects of ``examples/`` built and run end to end with the commands their READMEs give,
each on a state root of its own with ``debian:bookworm`` imported as the examples' README says.

The builds' ``RUN apt-get`` and ``RUN pip install`` are the only traffic off the host (Debian's
mirror and PyPI, through the default network's NAT); everything else goes to loopback and to
the containers made here. ``ml-model``'s build gets the host's CA bundle as the secret its
Dockerfile mounts for pip, so it also works behind a proxy that re-signs TLS.
"""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import DockyardRunner
from tests.e2e.compose.test_compose_features import free_port
from tests.engine.containers_harness import Box, boxed, wait_until

pytestmark = [pytest.mark.root, pytest.mark.overlay, pytest.mark.netns, pytest.mark.slow]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# the config of Docker Hub's debian:bookworm, as examples/README.md imports it
DEBIAN_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    'CMD ["bash"]',
)


@pytest.fixture
def box(dockyard: DockyardRunner, busybox_tar: Path, debian_tar: Path) -> Iterator[Box]:
    changes = [arg for change in DEBIAN_CHANGES for arg in ("-c", change)]
    dockyard("import", *changes, str(debian_tar), "debian:bookworm")
    yield from boxed(dockyard, busybox_tar)


def example(name: str, tmp_path: Path) -> Path:
    """A copy of ``examples/NAME`` (builds and runs never touch the checkout)."""
    return Path(shutil.copytree(EXAMPLES / name, tmp_path / name))


def request(port: int, method: str, path: str, body: str | None = None) -> tuple[int, str]:
    """An HTTP request to 127.0.0.1:PORT (never through a proxy); the status and the body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body)
        reply = conn.getresponse()
        return reply.status, reply.read().decode()
    finally:
        conn.close()


def get_json(port: int, path: str, method: str = "GET", body: str | None = None) -> object:
    status, text = request(port, method, path, body)
    assert status in (200, 201), f"{method} {path}: {status} {text}"
    return json.loads(text)


def answers(port: int) -> bool:
    try:
        return request(port, "GET", "/health") == (200, "ok\n")
    except OSError:
        return False


@pytest.mark.timeout(900)
def test_hello_world_is_one_static_binary_from_scratch(box: Box, tmp_path: Path) -> None:
    built = box("build", "-t", "hello-world", str(example("hello-world", tmp_path)))
    assert "COPY --from=build /src/hello /hello" in built.stderr.decode()  # the progress
    out = box.out("run", "--rm", "hello-world")
    assert out.startswith("Hello from dockyard!\n")
    assert "It runs as process 1 in container " in out
    assert box.inspect("hello-world", "{{json .Config.Cmd}} {{len .RootFS.Layers}}") == (
        '["/hello"] 1'
    )
    exported = tmp_path / "hello.tar"
    box("create", "--name", "hello", "hello-world")
    box("export", "-o", str(exported), "hello")
    box("rm", "hello")
    files = subprocess.run(["tar", "-tf", str(exported)], check=True, capture_output=True,
                           text=True).stdout.split()  # fmt: skip
    # the binary, and what every container gets (mount points, /etc/hosts ...), nothing else
    assert "hello" in files
    assert not [f for f in files if f.startswith(("bin/", "usr/", "lib"))], files


@pytest.mark.timeout(900)
def test_ml_model_serves_predictions(box: Box, tmp_path: Path) -> None:
    secret = ["--secret", f"id=ca-certificates,src={CA_BUNDLE}"] if CA_BUNDLE.exists() else []
    box("build", "-t", "ml-model", *secret, str(example("ml-model", tmp_path)))
    port = free_port()
    box.run_d("--name", "ml-model", "-p", f"127.0.0.1:{port}:8000", "ml-model")
    wait_until(lambda: answers(port), "the model's server", timeout=60, step=0.2)
    info = get_json(port, "/")
    assert isinstance(info, dict)
    assert info["classes"] == ["setosa", "versicolor", "virginica"]
    assert info["accuracy"] >= 0.9
    one = get_json(port, "/predict?sepal_length=6.7&sepal_width=3.0&petal_length=5.2"
                         "&petal_width=2.3")  # fmt: skip
    assert isinstance(one, dict)
    assert one["class"] == "virginica"
    assert one["probabilities"]["virginica"] > 0.5
    body = json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2], [6.0, 2.7, 4.1, 1.0]]})
    many = get_json(port, "/predict", "POST", body)
    assert isinstance(many, dict)
    assert [p["class"] for p in many["predictions"]] == ["setosa", "versicolor"]
    status, text = request(port, "POST", "/predict", json.dumps({"instances": [[1, 2]]}))
    assert status == 400
    assert "needs 4 numbers" in text
    assert "model trained: accuracy" in box.out("logs", "ml-model")
    box("stop", "-t", "5", "ml-model")
    assert box.inspect("ml-model", "{{.State.ExitCode}}") == "0"  # SIGTERM handled
    box("rm", "ml-model")


@pytest.mark.timeout(900)
def test_compose_app_goes_through_database_and_cache(box: Box, tmp_path: Path) -> None:
    port = free_port()
    project = example("compose-app", tmp_path)
    (project / ".env").write_text(f"WEB_PORT={port}\n")

    def compose(*args: str) -> str:
        return box.out("compose", "--project-directory", str(project), "-p", "notes", *args)

    try:
        compose("up", "-d", "--wait", "--wait-timeout", "180")
        wait_until(lambda: answers(port), "the web service", timeout=30, step=0.2)
        assert get_json(port, "/") == {"notes": [], "source": "database", "views": 1}
        assert get_json(port, "/notes", "POST", "buy milk") == {"id": 1, "text": "buy milk"}
        listed = {"notes": [{"id": 1, "text": "buy milk"}], "source": "database", "views": 2}
        assert get_json(port, "/") == listed
        assert get_json(port, "/") == {**listed, "source": "cache", "views": 3}
        stored = compose("exec", "-T", "db", "mariadb", "-N", "-e", "SELECT text FROM notes.notes")
        assert stored.strip() == "buy milk"
        assert compose("exec", "-T", "cache", "redis-cli", "get", "views").strip() == "3"
        compose("down", "-t", "5")  # the notes live in the named volume: back after up
        compose("up", "-d", "--wait", "--wait-timeout", "180")
        wait_until(lambda: answers(port), "the web service", timeout=30, step=0.2)
        kept = get_json(port, "/")
        assert isinstance(kept, dict)
        assert kept["notes"] == [{"id": 1, "text": "buy milk"}]
        assert (kept["source"], kept["views"]) == ("database", 1)  # Redis kept nothing
    finally:
        compose("down", "-v", "-t", "5")
    assert compose("ps", "-a", "-q") == ""
    assert not [n for n in box.out("network", "ls", "--format", "{{.Name}}").split()
                if n.startswith("notes_")]  # fmt: skip
    assert not [v for v in box.out("volume", "ls", "--format", "{{.Name}}").split()
                if v.startswith("notes_")]  # fmt: skip


@pytest.mark.timeout(300)
def test_private_registry_refuses_anonymous_pulls(box: Box, tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**box.runner.env(), "DOCKYARD_ROOT": str(box.root), "TMPDIR": str(scratch)}
    done = subprocess.run([str(EXAMPLES / "private-registry" / "run.sh")], env=env,
                          capture_output=True, text=True, timeout=240)  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "Login Succeeded" in out
    assert "pull access denied" in out
    assert "(refused, as it should be)" in out
    assert "hello from the image alice pulled" in out
    assert list(scratch.iterdir()) == []  # its registry, logins and log are gone
    servers = [p for p in Path("/proc").glob("[0-9]*/cmdline")
               if str(scratch).encode() in _read(p)]  # fmt: skip
    assert servers == [], "the registry server is still running"
    assert "127.0.0.1" not in box.out("images", "--format", "{{.Repository}}")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # the process ended meanwhile
        return b""
