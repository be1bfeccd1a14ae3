"""The explicit, lazy registry."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from srstream.errors import DependencyError, RegistryError
from srstream.registry import Entry, Registry


def test_lookup_is_lazy_and_loads_the_target() -> None:
    sys.modules.pop("colorsys", None)
    reg: Registry[object] = Registry("thing", [Entry("hsv", "colorsys:rgb_to_hsv", "convert")])
    assert "colorsys" not in sys.modules  # building the table imports nothing
    assert reg.names() == ("hsv",) and "hsv" in reg and len(reg) == 1
    assert reg.load("hsv") is sys.modules["colorsys"].rgb_to_hsv


def test_duplicate_names_raise() -> None:
    with pytest.raises(RegistryError, match="duplicate thing name 'a'"):
        Registry("thing", [Entry("a", "os:path"), Entry("a", "os:sep")])


def test_unknown_name_lists_known_ones() -> None:
    reg: Registry[object] = Registry("backend", [Entry("ort", "os:sep"), Entry("trt", "os:sep")])
    with pytest.raises(RegistryError, match="unknown backend 'tvm'; known: ort, trt"):
        reg.entry("tvm")


def test_malformed_target_raises() -> None:
    with pytest.raises(RegistryError, match="package.module:attribute"):
        Entry("x", "os.path")


def test_missing_dependency_names_the_install_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "fake_backend_mod.py").write_text("import nosuchdep_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg: Registry[object] = Registry("backend", [
        Entry("trt", "fake_backend_mod:Backend", install_hint="pip install 'sr-stream[gpu]'"),
    ])
    with pytest.raises(DependencyError, match=r"'nosuchdep_xyz'.*pip install 'sr-stream\[gpu\]'"):
        reg.load("trt")


def test_stale_table_is_reported_as_such() -> None:
    reg: Registry[object] = Registry("thing", [
        Entry("gone", "srstream.no_such_module:X"), Entry("attr", "srstream.errors:NoSuchThing"),
    ])
    with pytest.raises(RegistryError, match="out of date"):
        reg.load("gone")
    with pytest.raises(RegistryError, match="out of date"):
        reg.load("attr")
