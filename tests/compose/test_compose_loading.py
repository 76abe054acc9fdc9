"""Loading projects: file lookup, several files merged, the project name and directory, ``.env``
and ``--env-file``, ``extends``, ``include``, profiles, YAML anchors and merge keys, ``x-``
extensions, ``!reset``/``!override``, the obsolete ``version`` key, and the normalised model."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dockyard.compose.diagnostics import ComposeError
from dockyard.compose.files import Options, normalize_project_name
from dockyard.compose.loader import Loaded, load
from dockyard.compose.model import Condition, MountType
from dockyard.network.model import PortBinding, Proto


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def loaded(cwd: Path, *, environ: dict[str, str] | None = None, **options: object) -> Loaded:
    return load(Options(**options), cwd=cwd, environ=environ or {})  # type: ignore[arg-type]


BASE = """
    services:
      web:
        image: busybox
"""


def test_lookup_searches_parent_directories_and_prefers_compose_yaml(tmp_path: Path) -> None:
    write(tmp_path / "proj", {"compose.yaml": BASE, "docker-compose.yml": "services: {}"})
    deep = tmp_path / "proj" / "a" / "b"
    deep.mkdir(parents=True)
    got = loaded(deep)
    assert got.project.name == "proj"
    assert got.project.working_dir == str(tmp_path / "proj")
    assert list(got.project.services) == ["web"]


def test_no_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ComposeError, match="no configuration file provided"):
        loaded(tmp_path)


def test_override_file_is_merged(tmp_path: Path) -> None:
    write(tmp_path, {
        "docker-compose.yml": """
            services:
              web:
                image: busybox
                environment: {A: "1", B: "2"}
                ports: ["80"]
                command: ["a", "b"]
        """,
        "docker-compose.override.yml": """
            services:
              web:
                environment: [B=3, C=4]
                ports: ["81"]
                command: c
        """,
    })  # fmt: skip
    web = loaded(tmp_path).project.services["web"]
    assert dict(web.environment) == {"A": "1", "B": "3", "C": "4"}
    assert [p.container_port for p in web.ports] == [80, 81]
    assert web.command == ("c",)


def test_files_merge_by_the_specification_rules(tmp_path: Path) -> None:
    write(tmp_path, {
        "a.yaml": """
            services:
              web:
                image: busybox
                volumes: ["./one:/data", "/x:/x"]
                healthcheck: {test: ["CMD", "a"], interval: 5s}
                labels: {keep: "1"}
                dns: [1.1.1.1]
            volumes: {v: {}}
        """,
        "b.yaml": """
            services:
              web:
                volumes: ["./two:/data"]
                healthcheck: {test: ["CMD", "b"]}
                labels: [more=2]
                dns: [1.1.1.1, 8.8.8.8]
              db:
                image: busybox
            volumes: {v: {labels: {a: b}}}
        """,
    })  # fmt: skip
    project = loaded(tmp_path, files=("a.yaml", "b.yaml")).project
    web = project.services["web"]
    assert [(m.source, m.target) for m in web.volumes] == [
        (str(tmp_path / "two"), "/data"),
        ("/x", "/x"),
    ]
    assert web.healthcheck is not None
    assert web.healthcheck.test == ("CMD", "b")
    assert web.healthcheck.interval == 5_000_000_000
    assert dict(web.labels) == {"keep": "1", "more": "2"}
    assert web.dns == ("1.1.1.1", "8.8.8.8")
    assert list(project.services) == ["web", "db"]
    assert dict(project.volumes["v"].labels) == {"a": "b"}


def test_reset_and_override_tags(tmp_path: Path) -> None:
    write(tmp_path, {
        "a.yaml": """
            services:
              web:
                image: busybox
                ports: ["80", "81"]
                environment: {A: "1", B: "2"}
        """,
        "b.yaml": """
            services:
              web:
                ports: !reset []
                environment: !override {C: "3"}
        """,
    })  # fmt: skip
    web = loaded(tmp_path, files=("a.yaml", "b.yaml")).project.services["web"]
    assert web.ports == ()
    assert dict(web.environment) == {"C": "3"}


def test_stdin_file(tmp_path: Path) -> None:
    got = load(Options(files=("-",)), cwd=tmp_path, environ={}, stdin=lambda: BASE)
    assert got.project.name == normalize_project_name(tmp_path.name)
    assert list(got.project.services) == ["web"]


@pytest.mark.parametrize(
    ("options", "environ", "declared", "expected"),
    [
        ({"project_name": "flag"}, {"COMPOSE_PROJECT_NAME": "env"}, "file", "flag"),
        ({}, {"COMPOSE_PROJECT_NAME": "env"}, "file", "env"),
        ({}, {}, "file", "file"),
        ({}, {}, "", "my_appv2"),
    ],
)
def test_project_name_precedence(
    tmp_path: Path, options: dict[str, str], environ: dict[str, str], declared: str, expected: str
) -> None:
    root = tmp_path / "My_App.v2"
    name = f"name: {declared}\n" if declared else ""
    write(root, {"compose.yaml": name + textwrap.dedent(BASE)})
    assert loaded(root, environ=environ, **options).project.name == expected


def test_env_file_interpolation_and_precedence(tmp_path: Path) -> None:
    write(tmp_path, {
        "compose.yaml": """
            services:
              web:
                image: "busybox:${TAG}"
                environment:
                  - FROM_DOTENV=${DOTENV}
                  - PASSED
        """,
        ".env": "TAG=1.36\nDOTENV=dot\nPASSED=from-dotenv\n",
        "other.env": "TAG=other\n",
    })  # fmt: skip
    web = loaded(tmp_path, environ={"DOTENV": "shell"}).project.services["web"]
    assert web.image == "busybox:1.36"
    assert dict(web.environment) == {"FROM_DOTENV": "shell", "PASSED": "from-dotenv"}
    other = loaded(tmp_path, env_files=("other.env",)).project.services["web"]
    assert other.image == "busybox:other"


def test_service_env_file(tmp_path: Path) -> None:
    write(tmp_path, {
        "compose.yaml": """
            services:
              web:
                image: busybox
                env_file: [web.env, {path: missing.env, required: false}]
                environment: {B: mine}
        """,
        "web.env": "A=1\nB=theirs\n",
    })  # fmt: skip
    assert dict(loaded(tmp_path).project.services["web"].environment) == {"A": "1", "B": "mine"}


def test_anchors_merge_keys_extensions_and_version(tmp_path: Path) -> None:
    write(tmp_path, {"compose.yaml": """
        version: '3'
        x-common: &common
          image: busybox
          restart: always
          labels: {tier: app}
        services:
          one:
            <<: *common
          two:
            <<: *common
            restart: "no"
    """})  # fmt: skip
    got = loaded(tmp_path)
    one, two = got.project.services["one"], got.project.services["two"]
    assert (one.image, one.restart, dict(one.labels)) == ("busybox", "always", {"tier": "app"})
    assert two.restart == "no"
    assert any("`version` is obsolete" in w for w in got.warnings)
    assert got.document["x-common"]["image"] == "busybox"


def test_extends_same_file_and_other_file(tmp_path: Path) -> None:
    write(tmp_path, {
        "compose.yaml": """
            services:
              base:
                image: busybox
                environment: {A: "1"}
              web:
                extends: base
                environment: {B: "2"}
              api:
                extends: {file: common/base.yaml, service: app}
                command: serve
        """,
        "common/base.yaml": """
            services:
              app:
                image: busybox
                volumes: ["./data:/data"]
                command: idle
        """,
    })  # fmt: skip
    project = loaded(tmp_path).project
    assert dict(project.services["web"].environment) == {"A": "1", "B": "2"}
    api = project.services["api"]
    assert api.command == ("serve",)
    assert api.volumes[0].source == str(tmp_path / "common" / "data")


def test_circular_extends(tmp_path: Path) -> None:
    write(tmp_path, {"compose.yaml": """
        services:
          a: {image: busybox, extends: b}
          b: {image: busybox, extends: a}
    """})  # fmt: skip
    with pytest.raises(ComposeError, match="circular extends"):
        loaded(tmp_path)


def test_include(tmp_path: Path) -> None:
    write(tmp_path, {
        "compose.yaml": """
            include:
              - db/compose.yaml
            services:
              web:
                image: busybox
                depends_on: [db]
        """,
        "db/compose.yaml": """
            services:
              db:
                image: "busybox:${DB_TAG}"
                volumes: ["./init:/init"]
        """,
        "db/.env": "DB_TAG=db\n",
    })  # fmt: skip
    project = loaded(tmp_path).project
    db = project.services["db"]
    assert db.image == "busybox:db"
    assert db.volumes[0].source == str(tmp_path / "db" / "init")


def test_include_conflict(tmp_path: Path) -> None:
    write(tmp_path, {
        "compose.yaml": "include: [other.yaml]\n" + textwrap.dedent(BASE),
        "other.yaml": BASE,
    })  # fmt: skip
    with pytest.raises(ComposeError, match=r"services\.web is defined both here and in the incl"):
        loaded(tmp_path)


PROFILES = """
    services:
      web:
        image: busybox
      debug:
        image: busybox
        profiles: [debug]
      tools:
        image: busybox
        profiles: [tools]
        depends_on: [debug]
"""


def test_profiles(tmp_path: Path) -> None:
    write(tmp_path, {"compose.yaml": PROFILES})
    assert list(loaded(tmp_path).project.services) == ["web"]
    assert list(loaded(tmp_path, profiles=("debug",)).project.services) == ["web", "debug"]
    env = {"COMPOSE_PROFILES": "debug,tools"}
    assert list(loaded(tmp_path, environ=env).project.services) == ["web", "debug", "tools"]
    named = load(Options(), services=("tools",), cwd=tmp_path, environ={}).project
    assert list(named.services) == ["web", "debug", "tools"]
    with pytest.raises(ComposeError, match="depends on service 'debug', which is disabled"):
        loaded(tmp_path, profiles=("tools",))


def test_model_of_a_full_service(tmp_path: Path) -> None:
    write(tmp_path, {"compose.yaml": """
        services:
          web:
            build: {context: ./app, args: {V: "1"}, target: final}
            image: web:dev
            ports:
              - "127.0.0.1:8080:80"
              - {target: 53, published: "5353", protocol: udp}
            volumes:
              - data:/data:ro
              - type: tmpfs
                target: /tmp
                tmpfs: {size: 1m}
              - type: volume
                source: data
                target: /cache
                volume: {nocopy: true}
            networks:
              front: {aliases: [www], ipv4_address: 10.9.0.5}
              back:
            depends_on:
              db: {condition: service_healthy, restart: true}
            healthcheck: {test: "wget -q localhost", interval: 1m30s, retries: 3}
            deploy: {replicas: 2, resources: {limits: {cpus: "0.5", memory: 64m, pids: 50}}}
            stop_grace_period: 1500ms
            ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 64}
            extra_hosts: {gw: 10.0.0.1}
            secrets: [token]
            user: 1000
          db:
            image: busybox
        networks:
          front:
            ipam: {config: [{subnet: 10.9.0.0/24}]}
          back:
            external: true
            name: shared
        volumes:
          data:
        secrets:
          token:
            file: ./token.txt
    """})  # fmt: skip
    project = loaded(tmp_path).project
    web = project.services["web"]
    assert web.build is not None and web.build.context == str(tmp_path / "app")
    assert dict(web.build.args) == {"V": "1"} and web.build.target == "final"
    assert web.ports == (
        PortBinding(container_port=80, host_ip="127.0.0.1", host_port=8080),
        PortBinding(container_port=53, proto=Proto.UDP, host_port=5353),
    )
    kinds = [(m.type, m.target, m.read_only, m.nocopy, m.tmpfs_size) for m in web.volumes]
    assert kinds == [
        (MountType.VOLUME, "/data", True, False, 0),
        (MountType.TMPFS, "/tmp", False, False, 1 << 20),
        (MountType.VOLUME, "/cache", False, True, 0),
    ]
    assert [(n.key, n.aliases, n.ipv4_address) for n in web.networks] == [
        ("front", ("www",), "10.9.0.5"),
        ("back", (), ""),
    ]
    dep = web.depends_on[0]
    assert (dep.service, dep.condition, dep.restart) == ("db", Condition.HEALTHY, True)
    assert web.healthcheck is not None
    assert web.healthcheck.test == ("CMD-SHELL", "wget -q localhost")
    assert web.healthcheck.interval == 90 * 10**9 and web.healthcheck.retries == 3
    assert (web.scale, web.cpus, web.memory, web.pids_limit) == (2, 0.5, 64 << 20, 50)
    assert web.stop_grace_period == 2
    assert [(u.name, u.soft, u.hard) for u in web.ulimits] == [
        ("nofile", 1024, 2048),
        ("nproc", 64, 64),
    ]
    assert web.extra_hosts == ("gw:10.0.0.1",)
    assert web.secrets[0].target == "/run/secrets/token"
    assert web.secrets[0].file == str(tmp_path / "token.txt")
    assert web.user == "1000"
    assert project.networks["front"].subnet == "10.9.0.0/24"
    assert project.networks["front"].name == f"{project.name}_front"
    assert (project.networks["back"].name, project.networks["back"].external) == ("shared", True)
    assert project.volumes["data"].name == f"{project.name}_data"


def test_config_hash_changes_only_with_what_shapes_containers(tmp_path: Path) -> None:
    def hash_of(extra: str) -> str:
        write(tmp_path, {"compose.yaml": BASE + textwrap.indent(extra, " " * 8)})
        return loaded(tmp_path).project.services["web"].config_hash

    base = hash_of("")
    assert hash_of("") == base
    assert hash_of("scale: 3\n") == base
    assert hash_of("pull_policy: always\n") == base
    assert hash_of("environment: {A: '1'}\n") != base
    assert hash_of("command: sleep 1\n") != base


def test_normalised_document(tmp_path: Path) -> None:
    write(tmp_path, {"compose.yaml": """
        name: demo
        services:
          web:
            image: busybox
            ports: ["8080:80"]
    """})  # fmt: skip
    doc = loaded(tmp_path).document
    assert doc["name"] == "demo"
    assert doc["services"]["web"]["ports"] == [
        {"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"}
    ]
    assert doc["services"]["web"]["networks"] == {"default": None}
    assert doc["networks"] == {"default": {"name": "demo_default"}}


def test_compose_file_variable(tmp_path: Path) -> None:
    write(tmp_path, {"a.yaml": BASE, "b.yaml": "services:\n  web:\n    command: b\n"})
    env = {"COMPOSE_FILE": "a.yaml:b.yaml"}
    web = loaded(tmp_path, environ=env).project.services["web"]
    assert (web.image, web.command) == ("busybox", ("b",))
