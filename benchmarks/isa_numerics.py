"""Quality of every backend x precision on this CPU and on emulated older ones (QEMU).

    python benchmarks/isa_numerics.py --data ../shared/data/val --out benchmarks/results/isa \
        [--cpu native --cpu EPYC-Milan] [--model realtime-x2 ...] [--set Set5 ...]

The same INT8 graph can be exact on one CPU and wrong on another (see srstream.export.int8 and
srstream.engine.accuracy). This scores each bundled model's graphs on the benchmark sets (the
``sr-stream bench quality`` protocol) with each backend and precision:

* ``native``: on this machine's CPU, as it is;
* any QEMU CPU model (``--cpu EPYC-Milan``: AMD Zen 3, AVX2 + FMA, no AVX-512, no VNNI;
  ``--cpu Haswell``...): the script re-runs itself under ``qemu-x86_64 -cpu MODEL``, so ONNX
  Runtime and OpenVINO pick the kernels they would pick on that CPU. Emulation is slow (about
  15-40x) and says nothing about speed: it is for numerics only.

One variable per run: the CPU the runtimes see. fp32 is scored natively only (it is the
reference), lower precisions on every CPU. Writes ``isa_numerics.json`` (one record per score,
with the machine and the emulated CPU) and ``isa_numerics.md`` (cost against native fp32).

An emulated run takes hours, so the study resumes: each score is appended to
``OUT/isa_numerics.jsonl`` as soon as it is measured (also from inside QEMU), and a later run
with the same ``--out`` skips the (cpu, model, set) combinations already there (``--fresh``
starts over). The two files are rebuilt from the journal after each combination.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODELS = {"realtime-x2": 2, "realtime-x2-compressed": 2, "realtime-x2-screen": 2, "realtime-x4": 4, "tiny-x2": 2,
          "tiny-x2-deep": 2, "realtime-x4-compressed": 4}
SETS = ("Set5", "Set14", "BSD100")
JOURNAL = "isa_numerics.jsonl"
#: What the emulated CPU models lack, for the table.
CPU_NOTES = {"native": "this machine", "EPYC-Milan": "AMD Zen 3: AVX2, FMA; no AVX-512, no VNNI",
             "Haswell": "Intel Haswell: AVX2, FMA; no AVX-512, no VNNI"}


def _candidates(native: bool) -> list[tuple[str, str]]:
    import importlib.util

    from srstream.engine.backends.ov_backend import cpu_has_bf16
    from srstream.sysinfo import collect

    out = [("ort", "fp32")] if native else []
    out.append(("ort", "int8"))
    if importlib.util.find_spec("openvino"):
        out.append(("ov", "int8"))
        if native and cpu_has_bf16(collect()):
            out.append(("ov", "bf16"))
    return out


def _score(args: argparse.Namespace, cpu: str) -> list[dict[str, object]]:
    """Score in this process (which may be running under QEMU)."""
    from srstream.bench.methods import open_method
    from srstream.bench.quality import evaluate
    from srstream.bench.results import record
    from srstream.evalset import BenchmarkSet

    rows = []
    for model in args.model:
        scale = MODELS[model]
        for dataset in args.set:
            bench = BenchmarkSet(args.data / dataset, scale)
            for backend, precision in _candidates(cpu == "native"):
                started = time.perf_counter()
                with open_method(model, backend=backend, precision=precision, tile=0) as method:
                    result = evaluate(method, bench)
                    fields = {"cpu": cpu, "cpu_note": CPU_NOTES.get(cpu, "QEMU CPU model"), "model": model,
                              "dataset": dataset, "scale": scale, "backend": backend, "precision": precision,
                              "psnr_y": round(result.summary()["psnr_y"], 4),
                              "seconds": round(time.perf_counter() - started, 1)}
                    row = record(fields, method.info)
                    rows.append(row)
                with (args.out / JOURNAL).open("a") as journal:  # one line per score, kept if killed
                    journal.write(json.dumps(row) + "\n")
                print(json.dumps({k: fields[k] for k in ("cpu", "model", "dataset", "backend", "precision", "psnr_y")}),
                      file=sys.stderr, flush=True)
    return rows


def _emulated(args: argparse.Namespace, cpu: str) -> list[dict[str, object]]:
    qemu = shutil.which("qemu-x86_64")
    if qemu is None:
        raise SystemExit("qemu-x86_64 is not installed (Debian: apt install qemu-user)")
    cmd = [qemu, "-cpu", cpu, sys.executable, __file__, "--inner", cpu, "--data", str(args.data), "--out", str(args.out)]
    for m in args.model:
        cmd += ["--model", m]
    for s in args.set:
        cmd += ["--set", s]
    # its own cache: /proc/cpuinfo under qemu-user is the host's, so measurements made on the
    # emulated CPU must not land in the host's cache under the host's fingerprint
    with tempfile.TemporaryDirectory(prefix="srstream-qemu-cache-") as cache:
        subprocess.run(cmd, check=True, env={**os.environ, "PYTHONWARNINGS": "ignore", "SRSTREAM_CACHE": cache})
    return []  # the inner run appended its rows to the journal


def _journal(out: Path) -> list[dict[str, Any]]:
    path = out / JOURNAL
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short by a kill
            continue
    return rows


def _table(rows: list[dict[str, object]]) -> str:
    ref = {(r["model"], r["dataset"]): r["psnr_y"] for r in rows if r["cpu"] == "native" and r["precision"] == "fp32"}
    machine = next((r["machine"] for r in rows if r["cpu"] == "native"), {})
    cpu = machine.get("cpu", {}) if isinstance(machine, dict) else {}
    flags = ", ".join(f for f, ok in cpu.get("features", {}).items() if ok)
    lines = [f"Host: {cpu.get('model', '?')} ({flags}). Y-PSNR (dB, benchmark protocol) and the cost against native "
             "fp32 ONNX Runtime; emulated CPUs are QEMU TCG (numerics only).", "",
             "| model | set | cpu | backend | precision | Y-PSNR | cost vs fp32 |", "|---|---|---|---|---|---:|---:|"]
    for r in rows:
        base = ref.get((r["model"], r["dataset"]))
        cost = f"{base - r['psnr_y']:+.3f}" if base is not None else "-"
        lines.append(f"| {r['model']} | {r['dataset']} | {r['cpu']} ({r['cpu_note']}) | {r['backend']} | "
                     f"{r['precision']} | {r['psnr_y']:.3f} | {cost} |")
    recovered = sum(1 for r in rows if r.get("recovered"))
    if recovered:
        lines += ["", f"{recovered} score(s) marked `recovered` in the JSON were read back from the log of a run "
                      "that a machine restart cut short (the scores as printed, without timings)."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder holding Set5/, Set14/, BSD100/")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cpu", action="append", help="native or a QEMU CPU model (repeatable; default both "
                                                       "native and EPYC-Milan)")
    parser.add_argument("--model", action="append", choices=sorted(MODELS))
    parser.add_argument("--set", action="append", choices=SETS)
    parser.add_argument("--fresh", action="store_true", help="drop the journal of an earlier run and start over")
    parser.add_argument("--inner", help=argparse.SUPPRESS)  # set when re-run under QEMU
    args = parser.parse_args()
    models = args.model or list(MODELS)
    sets = args.set or list(SETS)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.inner:
        args.model, args.set = models, sets
        _score(args, args.inner)
        return 0
    from srstream.bench.results import write_json

    if args.fresh:
        (args.out / JOURNAL).unlink(missing_ok=True)
    for cpu in args.cpu or ["native", "EPYC-Milan"]:
        for model in models:
            for dataset in sets:
                wanted = {(b, p) for b, p in _candidates(cpu == "native")}
                have = {(r["backend"], r["precision"]) for r in _journal(args.out)
                        if (r["cpu"], r["model"], r["dataset"]) == (cpu, model, dataset)}
                if wanted <= have:
                    print(f"{cpu} {model} {dataset}: in the journal, skipped", file=sys.stderr)
                    continue
                one = argparse.Namespace(**{**vars(args), "model": [model], "set": [dataset]})
                _score(one, cpu) if cpu == "native" else _emulated(one, cpu)
                rows = _rows(_journal(args.out))
                write_json(args.out / "isa_numerics.json", rows)
                (args.out / "isa_numerics.md").write_text(_table(rows))
    rows = _rows(_journal(args.out))
    write_json(args.out / "isa_numerics.json", rows)
    (args.out / "isa_numerics.md").write_text(_table(rows))
    print(_table(rows))
    return 0


def _rows(journal: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The latest score of each (cpu, model, set, backend, precision), in a stable order."""
    latest = {(r["cpu"], r["model"], r["dataset"], r["backend"], r["precision"]): r for r in journal}
    cpus = list(dict.fromkeys(k[0] for k in latest))
    order = {"native": -1, **{c: i for i, c in enumerate(cpus)}}
    return [latest[k] for k in sorted(latest, key=lambda k: (order[k[0]], list(MODELS).index(k[1]),
                                                             SETS.index(k[2])))]


if __name__ == "__main__":
    sys.exit(main())
