"""The blkio flags of ``run``/``create``: ``DEVICE:VALUE`` parsing (a block device node made
with mknod, so any machine has one) and the weight's range."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dockyard.cli.runflags import parse_blkio
from dockyard.engine.blkio import blkio_weight
from dockyard.engine.options import BlkioDevice
from dockyard.errors import InvalidArgument

pytestmark = [pytest.mark.root]


@pytest.fixture
def node(tmp_path: Path) -> str:
    path = tmp_path / "disk"
    os.mknod(path, 0o600 | stat.S_IFBLK, os.makedev(8, 16))
    return str(path)


def test_values(node: str) -> None:
    assert parse_blkio(f"{node}:1mb", "--device-write-bps", "bps") == BlkioDevice(
        path=node, major=8, minor=16, value=1 << 20
    )
    assert parse_blkio(f"{node}:4096", "--device-read-bps", "bps").value == 4096
    assert parse_blkio(f"{node}:100", "--device-read-iops", "iops").value == 100
    assert parse_blkio(f"{node}:500", "--blkio-weight-device", "weight").value == 500


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        ("", "bps", "invalid value"), ("-1", "bps", "invalid value"), ("0", "iops", "invalid"),
        ("1.5", "iops", "invalid value"), ("9", "weight", "10 to 1000"),
        ("1001", "weight", "10 to 1000"), ("lots", "bps", "invalid value"),
    ],
)  # fmt: skip
def test_bad_values(node: str, value: str, kind: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_blkio(f"{node}:{value}", "--flag", kind)


def test_bad_devices(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="bad format"):
        parse_blkio("/dev/sda", "--device-write-bps", "bps")
    with pytest.raises(InvalidArgument, match="No such file"):
        parse_blkio(f"{tmp_path}/none:1", "--device-write-bps", "bps")
    (tmp_path / "file").write_text("")
    with pytest.raises(InvalidArgument, match="not a block device"):
        parse_blkio(f"{tmp_path}/file:1", "--device-write-bps", "bps")


def test_weight_range() -> None:
    assert blkio_weight(None) == 0 and blkio_weight(0) == 0 and blkio_weight(10) == 10
    for bad in (5, 1001):
        with pytest.raises(InvalidArgument, match="from 10 to 1000"):
            blkio_weight(bad)
