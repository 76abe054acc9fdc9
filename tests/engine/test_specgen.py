"""specgen's rules one at a time: capabilities, args, env, user, security options, mounts,
and the seccomp filtering of moby's ``setupSeccomp``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.engine.specgen_cases import GENERATE

from dockyard.engine.options import BindMount, IpcMode, RunOptions
from dockyard.engine.seccompgen import build_seccomp, default_profile_text
from dockyard.engine.specdefaults import DEFAULT_CAPABILITIES, capabilities
from dockyard.engine.specgen import generate
from dockyard.errors import InvalidArgument, Unsupported
from dockyard.oci.image import ImageConfig
from dockyard.oci.runtime import Capability, Spec


def image(**config: Any) -> ImageConfig:
    return ImageConfig.from_json(
        {"architecture": "amd64", "os": "linux", "config": config, "rootfs": {"type": "layers"}}
    )


def spec(options: RunOptions, img: ImageConfig | None = None) -> Spec:
    return generate(img or image(Cmd=["sh"]), options, **GENERATE)


def test_default_caps_mask_is_dockers() -> None:
    assert sum(1 << c.number for c in DEFAULT_CAPABILITIES) == 0xA80425FB


@pytest.mark.parametrize(
    ("add", "drop", "want"),
    [
        ((), ("ALL",), ()),
        (("net_admin",), ("all",), (Capability.NET_ADMIN,)),
        (("CAP_SYS_ADMIN",), ("chown", "CAP_KILL"), "defaults-chown-kill+sys_admin"),
        (("ALL",), ("NET_RAW",), "all-but-net_raw"),
    ],
)
def test_capability_tweaks(add: tuple[str, ...], drop: tuple[str, ...], want: object) -> None:
    got = capabilities(False, add, drop)
    if want == "defaults-chown-kill+sys_admin":
        gone = {Capability.CHOWN, Capability.KILL}
        want = (*(c for c in DEFAULT_CAPABILITIES if c not in gone), Capability.SYS_ADMIN)
    elif want == "all-but-net_raw":
        want = tuple(c for c in Capability if c is not Capability.NET_RAW)
    assert got == want


def test_unknown_capability_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="unknown capability"):
        capabilities(False, ("bogus",), ())


@pytest.mark.parametrize(
    ("config", "options", "want"),
    [
        ({"Entrypoint": ["/e"], "Cmd": ["c"]}, RunOptions(), ("/e", "c")),
        ({"Entrypoint": ["/e"], "Cmd": ["c"]}, RunOptions(cmd=("x",)), ("/e", "x")),
        ({"Entrypoint": ["/e"], "Cmd": ["c"]}, RunOptions(entrypoint=("/n",)), ("/n",)),
        ({"Cmd": ["c"]}, RunOptions(entrypoint=(), cmd=("y",)), ("y",)),
    ],
)
def test_args_follow_docker_override_rules(
    config: dict[str, Any], options: RunOptions, want: tuple[str, ...]
) -> None:
    process = spec(options, image(**config)).process
    assert process is not None and process.args == want


def test_no_command_is_an_error() -> None:
    with pytest.raises(InvalidArgument, match="no command"):
        spec(RunOptions(), image())


def test_env_precedence() -> None:
    img = image(Cmd=["sh"], Env=["A=image", "B=image"])
    process = spec(RunOptions(env=("B=user", "C=user")), img).process
    assert process is not None
    assert process.env[0].startswith("PATH=/usr/local/sbin")
    assert process.env[1:] == ("HOSTNAME=3f4e8a1b2c9d", "A=image", "B=user", "C=user")


@pytest.mark.parametrize(("user", "uid", "gid"), [("", 0, 0), ("1000", 1000, 0), ("5:6", 5, 6)])
def test_numeric_user(user: str, uid: int, gid: int) -> None:
    process = spec(RunOptions(user=user)).process
    assert process is not None and (process.user.uid, process.user.gid) == (uid, gid)


@pytest.mark.parametrize("user", ["nobody", "1000:staff"])
def test_user_names_are_not_resolved_yet(user: str) -> None:
    with pytest.raises(Unsupported):
        spec(RunOptions(user=user))


@pytest.mark.parametrize(
    ("opt", "nnp", "confined"),
    [
        ("no-new-privileges", True, True),
        ("no-new-privileges:false", False, True),
        ("no-new-privileges=true", True, True),
        ("seccomp=unconfined", True, False),
    ],
)
def test_security_options(opt: str, nnp: bool, confined: bool) -> None:
    s = spec(RunOptions(security_opt=(opt,)))
    assert s.process is not None and s.process.no_new_privileges is nnp
    assert s.linux is not None and (s.linux.seccomp is not None) is confined


@pytest.mark.parametrize("opt", ["apparmor=unconfined", "seccomp=", "no-new-privileges:maybe"])
def test_bad_security_options(opt: str) -> None:
    with pytest.raises(InvalidArgument):
        spec(RunOptions(security_opt=(opt,)))


def test_privileged_with_explicit_profile_keeps_it() -> None:
    profile = json.dumps({"defaultAction": "SCMP_ACT_LOG"})
    s = spec(RunOptions(privileged=True, security_opt=(f"seccomp={profile}",)))
    assert s.linux is not None and s.linux.seccomp is not None
    assert s.linux.seccomp.default_action == "SCMP_ACT_LOG"


def test_bad_profile_names_the_problem() -> None:
    with pytest.raises(InvalidArgument, match="seccomp profile"):
        spec(RunOptions(security_opt=('seccomp={"defaultAction": "SCMP_ACT_NOPE"}',)))


def _names(caps: tuple[Capability, ...], goarch: str = "amd64") -> set[str]:
    seccomp = build_seccomp(default_profile_text(), goarch=goarch, capabilities=caps, kernel=(6, 1))
    return {n for rule in seccomp.syscalls if not rule.args for n in rule.names}


def test_seccomp_caps_unlock_syscalls() -> None:
    plain = _names(DEFAULT_CAPABILITIES)
    admin = _names((*DEFAULT_CAPABILITIES, Capability.SYS_ADMIN))
    assert {"mount", "unshare", "setns"} & plain == set()
    assert {"mount", "unshare", "setns", "clone"} <= admin
    assert "chroot" in plain and "chroot" not in _names(())
    assert {"keyctl", "userfaultfd", "io_uring_setup", "open_by_handle_at"} & admin == set()


def test_seccomp_follows_architecture() -> None:
    assert "arch_prctl" in _names(()) and "arch_prctl" not in _names((), "arm64")
    arm = build_seccomp(default_profile_text(), goarch="arm64", capabilities=(), kernel=(6, 1))
    assert arm.architectures == ("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM")


def test_seccomp_min_kernel() -> None:
    old = build_seccomp(default_profile_text(), goarch="amd64", capabilities=(), kernel=(4, 4))
    assert "ptrace" not in {n for r in old.syscalls for n in r.names}
    assert "ptrace" in _names(())


def test_mount_rules() -> None:
    s = spec(
        RunOptions(
            binds=(BindMount(source="/h", destination="/dev/shm"),),
            ipc=IpcMode.NONE,
            tmpfs={"/x": "exec"},
        )
    )
    by_dest = {m.destination: m for m in s.mounts}
    assert by_dest["/dev/shm"].type == "bind"
    assert by_dest["/x"].options == ("nosuid", "nodev", "exec")
    assert [m.destination for m in s.mounts].count("/dev/shm") == 1


def test_relative_mount_destination_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="absolute"):
        spec(RunOptions(binds=(BindMount(source="/h", destination="rel"),)))


def test_default_rlimits_are_capped_by_the_callers_hard_limit() -> None:
    from dockyard.engine.options import RunOptions
    from dockyard.engine.specgen import generate
    from dockyard.oci.image import ImageConfig
    from dockyard.oci.runtime import RlimitType

    image = ImageConfig.from_json(
        {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
         "rootfs": {"type": "layers", "diff_ids": []}}
    )  # fmt: skip
    kwargs = {"container_id": "a" * 64, "rootfs": "rootfs", "hosts_files": None,
              "cgroup_v2": False, "cgroups_path": "/x"}  # fmt: skip

    def nofile(**extra: object) -> tuple[int, int]:
        spec = generate(image, RunOptions(), **kwargs, **extra)  # type: ignore[arg-type]
        assert spec.process is not None
        [limit] = [r for r in spec.process.rlimits if r.type is RlimitType.NOFILE]
        return limit.soft, limit.hard

    assert nofile() == (1024, 524288)
    assert nofile(rlimit_ceilings={RlimitType.NOFILE: 20000}) == (1024, 20000)
    assert nofile(rlimit_ceilings={RlimitType.NOFILE: 512}) == (512, 512)


def test_block_io_options() -> None:
    from dockyard.engine.options import BlkioDevice
    from dockyard.oci.runtime_resources import BlockIO, BlockIODevice

    def dev(value: int) -> BlkioDevice:
        return BlkioDevice(path="/dev/sdz", major=8, minor=16, value=value)

    assert spec(RunOptions()).linux.resources.block_io is None  # type: ignore[union-attr]
    options = RunOptions(
        blkio_weight=300,
        blkio_weight_device=(dev(50),),
        device_write_bps=(dev(1 << 20),),
        device_read_iops=(dev(100),),
    )
    s = spec(options)
    assert s.linux is not None and s.linux.resources is not None
    assert s.linux.resources.block_io == BlockIO(
        weight=300,
        weight_device=(BlockIODevice(major=8, minor=16, weight=50),),
        throttle={
            "throttleWriteBpsDevice": (BlockIODevice(major=8, minor=16, rate=1 << 20),),
            "throttleReadIOPSDevice": (BlockIODevice(major=8, minor=16, rate=100),),
        },
    )
