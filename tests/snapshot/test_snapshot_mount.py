"""Mount values and their JSON form."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.errors import InvalidArgument
from dockyard.snapshot import Mount


def test_mount_json_is_containerds_shape() -> None:
    mount = Mount(type="overlay", source="overlay", options=("lowerdir=/a:/b", "ro"))
    assert mount.to_json() == {
        "type": "overlay",
        "source": "overlay",
        "options": ["lowerdir=/a:/b", "ro"],
    }


@given(
    st.text(min_size=1),
    st.text(),
    st.lists(st.text()).map(tuple),
)
def test_mount_json_round_trips(kind: str, source: str, options: tuple[str, ...]) -> None:
    mount = Mount(type=kind, source=source, options=options)
    assert Mount.from_json(json.loads(json.dumps(mount.to_json()))) == mount


def test_options_default_to_empty() -> None:
    assert Mount.from_json({"type": "tmpfs", "source": "tmpfs"}).options == ()


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"source": "/x"}, "type None"),
        ({"type": "", "source": "/x"}, "type ''"),
        ({"type": "bind"}, "mount bind: source None"),
        ({"type": "bind", "source": 3}, "source 3"),
        ({"type": "bind", "source": "/x", "options": "ro"}, "options 'ro'"),
        ({"type": "bind", "source": "/x", "options": ["ro", 1]}, r"options \['ro', 1\]"),
    ],
)
def test_from_json_rejects_malformed(doc: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        Mount.from_json(doc)


def test_mount_is_frozen() -> None:
    mount = Mount(type="bind", source="/x")
    with pytest.raises(AttributeError):
        mount.source = "/y"  # type: ignore[misc]
