"""Result files: one JSON object per measurement, with the machine and the date, written atomically."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from srstream import __version__
from srstream.atomic import write_atomic
from srstream.bench.methods import MethodInfo

__all__ = ["load_results", "machine", "record", "write_json"]

_MACHINE: dict[str, object] | None = None


def machine() -> dict[str, object]:
    """This machine as :func:`srstream.sysinfo.collect` describes it (collected once per process)."""
    global _MACHINE
    if _MACHINE is None:
        from srstream.sysinfo import collect

        _MACHINE = collect().to_dict()
    return _MACHINE


def record(fields: dict[str, object], info: MethodInfo) -> dict[str, object]:
    """``fields`` followed by the method, the sr-stream version, the date and the machine."""
    return {**fields, "method": asdict(info), "srstream": __version__,
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine()}


def write_json(path: Path, obj: object) -> None:
    write_atomic(Path(path), (json.dumps(obj, indent=2) + "\n").encode())


def load_results(folder: Path) -> list[dict[str, object]]:
    """Every result object in ``folder``'s ``*.json`` files (recursively; lists are flattened)."""
    out: list[dict[str, object]] = []
    for path in sorted(Path(folder).rglob("*.json")):
        data = json.loads(path.read_text())
        items = data if isinstance(data, list) else [data]
        out += [dict(item, _file=str(path)) for item in items if isinstance(item, dict)]
    return out
