"""Run from a source checkout: map the top-level folders to ``srstream.*`` sub-packages.

In a checkout, ``engine/``, ``trainer/``, ``export/`` and ``archs/`` sit beside ``srstream/``
rather than inside it; installs (editable or not) map them under ``srstream`` at build time.
When Python imports ``srstream`` straight from the checkout instead — the repository root is
on ``sys.path`` because it is the working directory of ``python -m ...`` or ``python -c ...`` —
the sub-packages would be missing. This finder, appended *last* to ``sys.meta_path`` and only
when ``srstream`` really is loaded from a checkout, supplies exactly those four names.
"""

from __future__ import annotations

import importlib.util
import sys
from importlib.machinery import ModuleSpec
from pathlib import Path

FOLDERS = ("archs", "trainer", "export", "engine")


class SourceTreeFinder:
    """Finds ``srstream.<folder>`` in ``root/<folder>`` for the folders in :data:`FOLDERS`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> ModuleSpec | None:
        package, _, folder = fullname.partition(".")
        if package != "srstream" or folder not in FOLDERS:
            return None
        init = self.root / folder / "__init__.py"
        if not init.is_file():
            return None
        return importlib.util.spec_from_file_location(
            fullname, init, submodule_search_locations=[str(init.parent)]
        )


def install(package_dir: Path) -> None:
    """Append the finder when ``package_dir`` (``srstream/``) lies in a source checkout."""
    root = package_dir.parent
    if not ((root / "pyproject.toml").is_file() and (root / "engine" / "__init__.py").is_file()):
        return
    if not any(isinstance(f, SourceTreeFinder) for f in sys.meta_path):
        sys.meta_path.append(SourceTreeFinder(root))
