"""The execution defaults of an image: the ``config`` block of the image config.

Field names follow Docker's ``container.Config`` (a superset of the OCI ``ImageConfig``: it
adds ``Healthcheck``, ``OnBuild`` and ``Shell``). :meth:`ContainerConfig.to_json` writes the
compact form stored in image configs (empty fields omitted, Go's field order, map keys
sorted); :meth:`ContainerConfig.to_docker_inspect` writes the full block ``docker image
inspect`` shows, with every key Docker prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dockyard.errors import InvalidArgument
from dockyard.oci import _json
from dockyard.oci._json import JSONObject


@dataclass(frozen=True, slots=True)
class HealthConfig:
    """Docker's ``HealthConfig`` (durations in nanoseconds; 0 means inherit / default).

    Attributes:
        test: ``()`` inherit, ``("NONE",)`` disabled, ``("CMD", *argv)`` or
            ``("CMD-SHELL", command)``.
        interval, timeout, start_period, start_interval: nanoseconds.
        retries: consecutive failures before unhealthy (0 means the default).
    """

    test: tuple[str, ...] = ()
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0

    @classmethod
    def from_json(cls, obj: object, where: str = "Healthcheck") -> HealthConfig:
        """Parse Docker's ``Healthcheck`` object.

        Raises:
            InvalidArgument: a field has the wrong type or a duration is negative.
        """
        fields = _json.as_object(obj, where)
        keys = ("Interval", "Timeout", "StartPeriod", "StartInterval", "Retries")
        numbers = {key: _json.opt_int(fields, key, where) or 0 for key in keys}
        negative = [key for key, value in numbers.items() if value < 0]
        if negative:
            raise InvalidArgument(f'{where}: field "{negative[0]}" must not be negative')
        return cls(
            test=_json.opt_str_list(fields, "Test", where) or (),
            interval=numbers["Interval"],
            timeout=numbers["Timeout"],
            start_period=numbers["StartPeriod"],
            start_interval=numbers["StartInterval"],
            retries=numbers["Retries"],
        )

    def to_json(self) -> dict[str, object]:
        """Docker's ``Healthcheck`` object, omitting zero fields as Go does."""
        out: dict[str, object] = {}
        if self.test:
            out["Test"] = list(self.test)
        pairs = (
            ("Interval", self.interval),
            ("Timeout", self.timeout),
            ("StartPeriod", self.start_period),
            ("StartInterval", self.start_interval),
            ("Retries", self.retries),
        )
        out.update((key, value) for key, value in pairs if value)
        return out


Healthcheck = HealthConfig


def _opt_list(value: tuple[str, ...] | None) -> list[str] | None:
    return None if value is None else list(value)


def _set_or_null(keys: tuple[str, ...]) -> dict[str, object] | None:
    return _json.key_set(keys) if keys else None


@dataclass(frozen=True, slots=True)
class ContainerConfig:
    """How a container of the image runs unless ``docker run`` overrides it.

    Attributes (JSON names in parentheses):
        user (User), exposed_ports (ExposedPorts: ``"80/tcp"``, kept sorted), env (Env),
        entrypoint (Entrypoint; None = unset, ``()`` = explicitly empty), cmd (Cmd; likewise),
        volumes (Volumes: paths, kept sorted), working_dir (WorkingDir), labels (Labels),
        stop_signal (StopSignal), args_escaped (ArgsEscaped), healthcheck (Healthcheck),
        shell (Shell; None = unset), on_build (OnBuild: triggers), image (Image: what classic
        ``docker build`` recorded as the parent image; usually empty).
    """

    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    volumes: tuple[str, ...] = ()
    working_dir: str = ""
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    stop_signal: str = ""
    args_escaped: bool | None = None
    healthcheck: HealthConfig | None = None
    shell: tuple[str, ...] | None = None
    on_build: tuple[str, ...] = ()
    image: str = ""

    def __post_init__(self) -> None:
        # Go maps have no order: keep the sets sorted and unique so equal configs compare equal.
        object.__setattr__(self, "exposed_ports", tuple(sorted(set(self.exposed_ports))))
        object.__setattr__(self, "volumes", tuple(sorted(set(self.volumes))))

    @classmethod
    def from_json(cls, obj: object, where: str = "image config: config") -> ContainerConfig:
        """Parse the ``config`` block; null means all defaults. Unknown keys are ignored
        (old Docker configs carry ``Hostname``, ``AttachStdin`` and the like).

        Raises:
            InvalidArgument: a known field has the wrong type, naming the field.
        """
        if obj is None:
            return cls()
        f = _json.as_object(obj, where)
        health = f.get("Healthcheck")
        return cls(
            user=_json.opt_str(f, "User", where) or "",
            exposed_ports=_json.opt_key_set(f, "ExposedPorts", where),
            env=_json.opt_str_list(f, "Env", where) or (),
            entrypoint=_json.opt_str_list(f, "Entrypoint", where),
            cmd=_json.opt_str_list(f, "Cmd", where),
            volumes=_json.opt_key_set(f, "Volumes", where),
            working_dir=_json.opt_str(f, "WorkingDir", where) or "",
            labels=_json.opt_str_map(f, "Labels", where) or {},
            stop_signal=_json.opt_str(f, "StopSignal", where) or "",
            args_escaped=_json.opt_bool(f, "ArgsEscaped", where),
            healthcheck=None if health is None else HealthConfig.from_json(health, where),
            shell=_json.opt_str_list(f, "Shell", where),
            on_build=_json.opt_str_list(f, "OnBuild", where) or (),
            image=_json.opt_str(f, "Image", where) or "",
        )

    def to_json(self) -> dict[str, object]:
        """The compact block stored in an image config (empty fields omitted)."""
        candidates: tuple[tuple[str, object], ...] = (
            ("User", self.user or None),
            ("ExposedPorts", _set_or_null(self.exposed_ports)),
            ("Env", list(self.env) or None),
            ("Entrypoint", _opt_list(self.entrypoint)),
            ("Cmd", _opt_list(self.cmd)),
            ("Volumes", _set_or_null(self.volumes)),
            ("WorkingDir", self.working_dir or None),
            ("Labels", _json.sorted_map(self.labels) or None),
            ("StopSignal", self.stop_signal or None),
            ("ArgsEscaped", self.args_escaped),
            ("Healthcheck", None if self.healthcheck is None else self.healthcheck.to_json()),
            ("OnBuild", list(self.on_build) or None),
            ("Shell", _opt_list(self.shell)),
            ("Image", self.image or None),
        )
        return {key: value for key, value in candidates if value is not None}

    def to_docker_inspect(self, image: str | None = None) -> dict[str, object]:
        """The full ``Config`` block of ``docker image inspect``, keys in Docker's order.

        Args:
            image: the value to show as ``Image``; None shows :attr:`image`.
        """
        out: dict[str, object] = {
            "Hostname": "",
            "Domainname": "",
            "User": self.user,
            "AttachStdin": False,
            "AttachStdout": False,
            "AttachStderr": False,
        }
        if self.exposed_ports:
            out["ExposedPorts"] = _json.key_set(self.exposed_ports)
        out.update(Tty=False, OpenStdin=False, StdinOnce=False)
        out["Env"] = list(self.env) or None
        out["Cmd"] = _opt_list(self.cmd)
        if self.healthcheck is not None:
            out["Healthcheck"] = self.healthcheck.to_json()
        if self.args_escaped:
            out["ArgsEscaped"] = True
        out["Image"] = self.image if image is None else image
        out["Volumes"] = _set_or_null(self.volumes)
        out["WorkingDir"] = self.working_dir
        out["Entrypoint"] = _opt_list(self.entrypoint)
        out["OnBuild"] = list(self.on_build) or None
        out["Labels"] = _json.sorted_map(self.labels) or None
        if self.stop_signal:
            out["StopSignal"] = self.stop_signal
        if self.shell:
            out["Shell"] = list(self.shell)
        return out

    def env_value(self, name: str) -> str | None:
        """The value of the last ``name=...`` entry of :attr:`env`, or None."""
        prefix = f"{name}="
        for entry in reversed(self.env):
            if entry.startswith(prefix):
                return entry[len(prefix) :]
        return None


def container_config_field(obj: JSONObject, where: str) -> ContainerConfig:
    """The ``config`` field of an image config object (absent or null: defaults)."""
    return ContainerConfig.from_json(obj.get("config"), f"{where}: config")
