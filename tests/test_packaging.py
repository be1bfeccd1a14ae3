"""The installed distribution puts everything under the srstream namespace."""

from __future__ import annotations

import importlib
from importlib import metadata

import pytest

from tests.conftest import REPO

SUBPACKAGES = {"archs": "archs", "trainer": "trainer", "export": "export", "engine": "engine"}


def test_no_bare_top_level_packages_are_installed() -> None:
    files = metadata.files("sr-stream") or []
    tops = {f.parts[0] for f in files if len(f.parts) > 1 and not f.parts[0].endswith(".dist-info")}
    assert not tops & {"engine", "trainer", "export", "archs"}, sorted(tops)
    for name in ("engine", "trainer", "export"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        assert "sr-stream" not in str(getattr(module, "__file__", "")), f"bare '{name}' is importable"


@pytest.mark.parametrize(("sub", "folder"), SUBPACKAGES.items())
def test_top_level_folders_install_under_srstream(sub: str, folder: str) -> None:
    module = importlib.import_module(f"srstream.{sub}")
    source = (REPO / folder / "__init__.py").read_text()
    assert module.__doc__ and module.__doc__.strip() in source


def test_console_script_is_declared() -> None:
    scripts = [e for e in metadata.entry_points(group="console_scripts") if e.name == "sr-stream"]
    assert [e.value for e in scripts] == ["srstream.cli:main"]
