"""Layering: the core and the engine never import torch, archs, trainer or export.

Two checks: a static one over the source (no such import anywhere in the core or the engine)
and a behavioural one: a subprocess with a booby-trapped ``torch`` on its path imports
``srstream`` and ``srstream.engine``, runs ``sr-stream --help``, ``info`` and the default action
(in-process and as the real console script), and the trap must never go off.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import REPO, write_video

FORBIDDEN = ("torch", "srstream.archs", "srstream.trainer", "srstream.export")
TORCH_FREE_DIRS = (REPO / "srstream", REPO / "engine")
#: Modules that may import FORBIDDEN names lazily, inside a function, because that is their
#: job: the subcommands that hand over to the trainer/exporter/benchmarks, and the optional
#: torch reference backend. Nobody in the core or the engine may import them at module level.
LAZY_ALLOWED = {
    REPO / "srstream" / "commands" / "train.py",
    REPO / "srstream" / "commands" / "export.py",
    REPO / "srstream" / "commands" / "bench.py",
    REPO / "srstream" / "commands" / "upscale.py",  # --adapt fine-tunes the model with the trainer first
    REPO / "srstream" / "imported.py",  # imports third-party PyTorch weights with the exporter (upscale, bench)
    REPO / "engine" / "backends" / "torch_backend.py",
    REPO / "engine" / "backends" / "trt_backend.py",  # builds missing engines with export's (torch-free) builder
}


def _imports(tree: ast.Module) -> list[tuple[int, str, bool]]:
    """(line, module, at module level) of every absolute import in ``tree``."""
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module, id(node) in top))
    return found


def test_core_and_engine_sources_never_import_torch_or_training_code() -> None:
    offenders = []
    for folder in TORCH_FREE_DIRS:
        for path in sorted(folder.rglob("*.py")):
            for line, name, module_level in _imports(ast.parse(path.read_text(), str(path))):
                if not any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
                    continue
                if module_level or path not in LAZY_ALLOWED:
                    offenders.append(f"{path.relative_to(REPO)}:{line} imports {name}")
    assert not offenders, "\n".join(offenders)


TRAP = "raise ImportError('TRAP: torch was imported')\n"

PROBE = textwrap.dedent("""
    import contextlib, io, json, sys
    import srstream, srstream.engine
    from srstream.cli import main
    codes = {}
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        for argv in (["--help"], ["info"], ["info", "--json"], ["upscale", "--help"], ["train", "--help"],
                     [sys.argv[1]]):
            codes[" ".join(argv)] = main(argv)
    loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith(("torch.",
        "srstream.archs", "srstream.trainer", "srstream.export")))
    print(json.dumps({"codes": codes, "loaded": loaded}))
""")


def _env_with_trap(tmp_path: Path) -> dict[str, str]:
    trap = tmp_path / "trap" / "torch"
    trap.mkdir(parents=True)
    (trap / "__init__.py").write_text(TRAP)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(trap.parent), env.get("PYTHONPATH")]))
    return env


def test_cli_and_engine_run_without_importing_torch(tmp_path: Path) -> None:
    """The default action upscales a real clip with the bundled default model, torch-free."""
    env = _env_with_trap(tmp_path)
    clip = write_video(tmp_path / "clip.mp4", frames=4, audio=True)
    proc = subprocess.run([sys.executable, "-c", PROBE, str(clip)], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "TRAP" not in proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["loaded"] == []
    assert result["codes"]["--help"] == 0 and result["codes"]["info"] == 0
    assert result["codes"]["info --json"] == 0 and result["codes"]["upscale --help"] == 0
    assert result["codes"][str(clip)] == 0 and (tmp_path / "clip_x2.mp4").is_file()


def test_console_script_help_and_info_without_torch(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("sr-stream")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "srstream"]
    env = _env_with_trap(tmp_path)
    for argv in (["--help"], ["info"], ["info", "--json"]):
        proc = subprocess.run(command + argv, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "TRAP" not in proc.stdout + proc.stderr


def test_the_gpu_runtime_and_the_pieces_of_export_it_uses_need_no_torch(tmp_path: Path) -> None:
    """TensorRT on a GPU machine without torch: the runtime builds missing engines with export's
    builder and fp16 converter, which must not pull torch in (they once did, through a logging
    helper in the torch exporter)."""
    probe = ("import json, sys; import srstream.engine.backends.trt_backend, srstream.export.trt_build, "
             "srstream.export.fp16; print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'torch')))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=_env_with_trap(tmp_path), cwd=tmp_path, timeout=120)
    assert proc.returncode == 0 and "TRAP" not in proc.stderr, proc.stderr
    assert json.loads(proc.stdout) == []
