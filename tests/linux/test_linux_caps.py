"""Capabilities: the name table, the status parser, and capset/bounding/ambient in a child."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.linux.forked import in_child
from tests.support.docker_defaults import DOCKER_CAPS, DOCKER_CAPS_MASK

from dockyard.errors import DataCorrupted, InvalidArgument
from dockyard.linux import caps
from dockyard.linux.proc import set_keep_caps

STATUS = """Name:\tcat
Umask:\t0022
CapInh:\t0000000000000000
CapPrm:\t000001ffffffffff
CapEff:\t00000000a80425fb
CapBnd:\t000001ffffffffff
CapAmb:\t0000000000000400
NoNewPrivs:\t0
"""


def _status_caps() -> caps.StatusCaps:
    return caps.read_status_caps(Path("/proc/self/status").read_text())


def test_numbers_follow_the_kernel_header() -> None:
    assert len(caps.CAPABILITIES) == 41
    assert caps.cap_number("CAP_CHOWN") == 0
    assert caps.cap_number("CAP_SYS_ADMIN") == 21
    assert caps.cap_number("CAP_AUDIT_WRITE") == 29
    assert caps.cap_number("CAP_CHECKPOINT_RESTORE") == 40


def test_docker_default_mask() -> None:
    assert caps.caps_mask(DOCKER_CAPS) == DOCKER_CAPS_MASK
    assert sorted(caps.mask_names(DOCKER_CAPS_MASK)) == sorted(DOCKER_CAPS)


@pytest.mark.parametrize("name", ["CAP_NET_ADMIN", "net_admin", "NET_ADMIN", "cap_net_admin"])
def test_cap_number_spellings(name: str) -> None:
    assert caps.cap_number(name) == 12


def test_unknown_capability_is_named() -> None:
    with pytest.raises(InvalidArgument, match="capability 'CAP_FLY': unknown"):
        caps.caps_mask(["CAP_KILL", "CAP_FLY"])


def test_split_known_skips_unknown_and_too_new() -> None:
    mask, skipped = caps.split_known(["CAP_KILL", "CAP_BPF", "CAP_FLY"], last=37)
    assert mask == 1 << 5
    assert skipped == ("CAP_BPF", "CAP_FLY")


def test_mask_names_marks_unknown_bits() -> None:
    assert caps.mask_names(1 << 5 | 1 << 45) == ["CAP_KILL", "CAP_45"]


@given(st.sets(st.sampled_from(caps.CAPABILITIES)))
def test_mask_round_trip(names: set[str]) -> None:
    assert set(caps.mask_names(caps.caps_mask(names))) == names


def test_read_status_caps() -> None:
    assert caps.read_status_caps(STATUS) == caps.StatusCaps(
        inheritable=0,
        permitted=0x1FFFFFFFFFF,
        effective=DOCKER_CAPS_MASK,
        bounding=0x1FFFFFFFFFF,
        ambient=0x400,
    )


def test_read_status_caps_without_ambient_line() -> None:
    text = STATUS.replace("CapAmb:\t0000000000000400\n", "")
    assert caps.read_status_caps(text).ambient == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (STATUS.replace("CapBnd", "CapXyz"), "no CapBnd line"),
        (STATUS.replace("a80425fb", "zz"), "not hexadecimal"),
        ("", "no CapInh line"),
    ],
)
def test_read_status_caps_rejects(text: str, message: str) -> None:
    with pytest.raises(DataCorrupted, match=message):
        caps.read_status_caps(text)


def test_last_cap_matches_the_kernel(tmp_path: Path) -> None:
    assert caps.last_cap() == int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    (tmp_path / "sys/kernel").mkdir(parents=True)
    (tmp_path / "sys/kernel/cap_last_cap").write_text("37\n")
    assert caps.last_cap(tmp_path) == 37
    # Without the file, the bounding-set probe finds the same answer as the kernel's file.
    assert caps.last_cap(tmp_path / "missing") == caps.last_cap()


def test_capget_agrees_with_status() -> None:
    sets = caps.capget()
    status = _status_caps()
    assert (sets.effective, sets.permitted, sets.inheritable) == (
        status.effective,
        status.permitted,
        status.inheritable,
    )


@pytest.mark.root
def test_capset_drops_caps_in_the_child_only() -> None:
    before = _status_caps()

    def child() -> caps.StatusCaps:
        caps.capset(DOCKER_CAPS_MASK, DOCKER_CAPS_MASK, 0)
        return _status_caps()

    after = in_child(child)
    assert after.effective == after.permitted == DOCKER_CAPS_MASK & before.permitted
    assert after.inheritable == 0
    assert _status_caps() == before


@pytest.mark.root
def test_capset_cannot_regain_a_dropped_cap() -> None:
    def child() -> None:
        caps.capset(DOCKER_CAPS_MASK, DOCKER_CAPS_MASK, 0)
        caps.capset(DOCKER_CAPS_MASK | 1 << 21, DOCKER_CAPS_MASK | 1 << 21, 0)

    with pytest.raises(OSError, match="capset") as info:
        in_child(child)
    assert info.value.errno == errno.EPERM


@pytest.mark.root
def test_drop_bounding_keeps_only_the_mask() -> None:
    def child() -> int:
        caps.drop_bounding(DOCKER_CAPS_MASK)
        return _status_caps().bounding

    assert in_child(child) == DOCKER_CAPS_MASK & _status_caps().bounding


@pytest.mark.root
def test_apply_capabilities_docker_defaults_and_ambient() -> None:
    keep = DOCKER_CAPS_MASK & _status_caps().permitted
    kill = 1 << caps.cap_number("CAP_KILL")

    def child() -> tuple[caps.StatusCaps, OSError | None]:
        err = caps.apply_capabilities(
            bounding=keep, effective=keep, permitted=keep, inheritable=kill, ambient=kill
        )
        return _status_caps(), err

    status, err = in_child(child)
    assert err is None
    assert status == caps.StatusCaps(
        inheritable=kill, permitted=keep, effective=keep, bounding=keep, ambient=kill
    )


@pytest.mark.root
def test_ambient_needs_inheritable_and_reports_like_runc() -> None:
    keep = DOCKER_CAPS_MASK & _status_caps().permitted
    kill, chown = (1 << caps.cap_number(n) for n in ("CAP_KILL", "CAP_CHOWN"))

    def child() -> tuple[int, str]:
        err = caps.apply_capabilities(
            bounding=keep, effective=keep, permitted=keep, inheritable=chown, ambient=chown | kill
        )
        assert err is not None
        return _status_caps().ambient, f"{err.errno} {err.strerror}"

    ambient, err = in_child(child)
    assert ambient == chown  # raised before CAP_KILL failed
    assert err == f"{errno.EPERM} raise ambient CAP_KILL: Operation not permitted"


@pytest.mark.root
def test_keep_caps_across_a_uid_switch() -> None:
    def child() -> caps.StatusCaps:
        caps.drop_bounding(DOCKER_CAPS_MASK)
        set_keep_caps(True)
        os.setresgid(1000, 1000, 1000)
        os.setresuid(1000, 1000, 1000)
        set_keep_caps(False)
        keep = DOCKER_CAPS_MASK & caps.capget().permitted
        caps.capset(keep, keep, 0)
        return _status_caps()

    status = in_child(child)
    assert status.effective == status.permitted == DOCKER_CAPS_MASK & _status_caps().permitted
