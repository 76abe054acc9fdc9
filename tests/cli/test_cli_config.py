"""Settings: defaults, config files in order, environment, flags; unknown keys are errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.cli.config import Settings, load_settings, override
from dockyard.errors import InvalidArgument


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DOCKYARD_ROOT", "DOCKYARD_RUNROOT", "DOCKYARD_STORAGE_DRIVER"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_when_no_file(tmp_path: Path) -> None:
    assert load_settings((tmp_path / "missing.toml",)) == Settings()


def test_later_files_then_environment_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system, user = tmp_path / "system.toml", tmp_path / "user.toml"
    system.write_text('root = "/srv/a"\nstorage_driver = "native"\nlog_level = "info"\n')
    user.write_text('root = "/srv/b"\n')
    settings = load_settings((system, user))
    assert settings.root == Path("/srv/b")
    assert settings.storage_driver == "native"
    assert settings.log_level == "info"
    monkeypatch.setenv("DOCKYARD_ROOT", "/srv/c")
    assert load_settings((system, user)).root == Path("/srv/c")
    assert override(settings, root="/srv/d", storage_driver=None).root == Path("/srv/d")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('roots = "/x"\n', 'unknown key "roots"'),
        ("root = 5\n", '"root" must be a string'),
        ('storage_driver = "zfs"\n', 'storage driver "zfs" is not supported'),
        ('log_level = "loud"\n', 'log level "loud"'),
        ("root = \n", "config "),
    ],
)
def test_bad_files_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(InvalidArgument, match=message):
        load_settings((path,))
