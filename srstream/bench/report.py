"""A results folder -> ``report.md`` (tables) and plots, regenerated from the JSON files alone.

Quality files are the JSON of ``sr-stream bench quality`` (they have ``dataset``), speed files
those of ``sr-stream bench speed`` (they have ``fps``). Plots need matplotlib
(``pip install 'sr-stream[bench]'``).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from srstream.atomic import write_atomic
from srstream.bench.results import load_results
from srstream.errors import DependencyError, InputError

__all__ = ["PUBLISHED_BICUBIC", "PARETO_INPUT", "write_report"]

#: Published bicubic Y-PSNR / Y-SSIM (MATLAB imresize, border = scale): Set5/Set14/BSD100 x4 and
#: Set5 x2 from the shared data README; Set14 and BSD100 x2 from VDSR (Kim et al. 2016, Table 2).
PUBLISHED_BICUBIC = {("Set5", 2): (33.66, 0.9299), ("Set5", 4): (28.42, 0.8104),
                     ("Set14", 2): (30.24, 0.8688), ("Set14", 4): (26.00, 0.7027),
                     ("BSD100", 2): (29.56, 0.8431), ("BSD100", 4): (25.96, 0.6675)}
#: The input size each scale's quality/speed plot uses.
PARETO_INPUT = {2: "640x360", 4: "320x180"}
DATASETS = ("Set5", "Set14", "BSD100")


def _quality_tables(quality: list[dict]) -> list[str]:
    lines = ["## Bicubic: protocol check against published numbers", "",
             "| set | scale | ours Y-PSNR | published | diff | ours Y-SSIM | published | holds (0.02 dB) |",
             "|---|---:|---:|---:|---:|---:|---:|:-:|"]
    bic = {(q["dataset"], q["scale"]): q for q in quality if q["model"] == "bicubic"}
    for key, (p_ref, s_ref) in PUBLISHED_BICUBIC.items():
        if key in bic:
            q = bic[key]
            diff = q["psnr_y"] - p_ref
            lines.append(f"| {key[0]} | x{key[1]} | {q['psnr_y']:.3f} | {p_ref:.2f} | {diff:+.3f} | {q['ssim_y']:.4f} "
                         f"| {s_ref:.4f} | {'yes' if abs(diff) <= 0.02 else '**no**'} |")
    for scale in sorted({q["scale"] for q in quality}):
        rows = defaultdict(dict)
        for q in quality:
            if q["scale"] == scale:
                rows[(q["model"], q["method"]["precision"])][q["dataset"]] = q
        measured = {d for r in rows.values() for d in r}
        sets = [d for d in DATASETS if d in measured] + sorted(measured - set(DATASETS))
        lines += ["", f"## Quality x{scale} (Y-PSNR dB / Y-SSIM / VIF-p; mean over images)", "",
                  "| model | kind | precision | " + " | ".join(sets) + " | runtime |",
                  "|---|---|---|" + "---:|" * len(sets) + "---|"]
        rank = "BSD100" if "BSD100" in sets else sets[0]  # best first, by the largest set measured

        def best_first(item: tuple) -> float:
            return -item[1].get(rank, {}).get("psnr_y", 0.0)

        for (model, precision), by_set in sorted(rows.items(), key=best_first):
            any_q = next(iter(by_set.values()))
            cells = [f"{by_set[d]['psnr_y']:.2f} / {by_set[d]['ssim_y']:.4f} / {by_set[d]['vifp_y']:.3f}"
                     if d in by_set else "" for d in sets]
            lines.append(f"| {model} | {any_q['method']['kind']} | {precision} | " + " | ".join(cells)
                         + f" | {any_q['method']['runtime']} |")
    return lines


def _speed_tables(speed: list[dict]) -> list[str]:
    lines = []
    by_input = defaultdict(list)
    for s in _per_frame(speed):
        by_input[(s["input"], s["scale"])].append(s)
    for (size, scale), rows in sorted(by_input.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        lines += ["", f"## Speed {size} -> x{scale} (per frame, uint8 RGB in and out)", "",
                  "| model | backend | precision | threads | fps | p50 ms | p95 ms | p99 ms | output MP/s | peak RSS MiB |",
                  "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for s in sorted(rows, key=lambda r: -r["fps"]):
            lat = s["latency_ms"]
            lines.append(f"| {s['model']} | {s['backend']} | {s['precision']} | {s['threads']} | {s['fps']:.1f} | "
                         f"{lat['p50']:.1f} | {lat['p95']:.1f} | {lat['p99']:.1f} | {s['output_mpix_per_s']:.1f} | "
                         f"{s.get('peak_rss_mib') or ''} |")
    e2e = [s for s in speed if "end_to_end" in s]
    if e2e:
        lines += ["", "## End to end (decode + upscale + encode, the file pipeline)", "",
                  "| model | backend | precision | clip | frames | seconds | fps | upscale p50 ms | encoder |",
                  "|---|---|---|---|---:|---:|---:|---:|---|"]
        for s in e2e:
            e = s["end_to_end"]
            lines.append(f"| {s['model']} | {s['backend']} | {s['precision']} | {Path(e['clip']).name} | "
                         f"{e['frames_out']} | {e['seconds']} | {e['fps']:.1f} | {e['latency_ms']['p50']:.1f} | "
                         f"{e['encoder']} |")
    return lines


def _per_frame(speed: list[dict]) -> list[dict]:
    """Per-frame runs (an end-to-end run's own per-frame timing is shown in its table only)."""
    return [s for s in speed if "end_to_end" not in s]


def _quality_for(quality: list[dict], model: str, precision: str, scale: int, dataset: str) -> dict | None:
    hits = [q for q in quality if q["model"] == model and q["scale"] == scale and q["dataset"] == dataset]
    exact = [q for q in hits if q["method"]["precision"] == precision]
    return (exact or hits or [None])[0]


def _plots(folder: Path, quality: list[dict], speed: list[dict]) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ModuleNotFoundError as exc:
        raise DependencyError("the report's plots need matplotlib: pip install 'sr-stream[bench]'") from exc
    written = []
    speed = _per_frame(speed)
    threads = max((s["threads"] for s in speed), default=0)  # the plots show the all-cores runs
    scales = [s for s in sorted(PARETO_INPUT) if any(r["scale"] == s and r["input"] == PARETO_INPUT[s] for r in speed)]
    if scales:
        fig, axes = plt.subplots(1, len(scales), figsize=(7 * len(scales), 5.5), squeeze=False)
        for ax, scale in zip(axes[0], scales, strict=True):
            points = []
            for s in speed:
                if s["scale"] != scale or s["input"] != PARETO_INPUT[scale] or s["threads"] != threads:
                    continue
                q = _quality_for(quality, s["model"], s["precision"], scale, "BSD100")
                if q:
                    points.append((s["fps"], q["psnr_y"], f"{s['model']} {s['backend']} {s['precision']}",
                                   s["method"]["kind"]))
            colours = {"sr-stream": "tab:red", "peer": "tab:blue", "interpolation": "tab:gray"}
            front, best = set(), -1.0
            for fps, psnr_y, label, _ in sorted(points, key=lambda p: -p[0]):
                if psnr_y > best:
                    front.add(label)
                    best = psnr_y
            for fps, psnr_y, label, kind in points:
                ax.scatter(fps, psnr_y, c=colours.get(kind, "k"), marker="*" if label in front else "o",
                           s=110 if label in front else 40)
                ax.annotate(label, (fps, psnr_y), fontsize=7, xytext=(4, 3 - 10 * (len(ax.texts) % 3)),
                            textcoords="offset points")
            ax.set_xscale("log")
            ax.set_xlabel(f"fps at {PARETO_INPUT[scale]} -> x{scale} (log; this machine)")
            ax.set_ylabel(f"BSD100 x{scale} Y-PSNR (dB)")
            ax.set_title(f"x{scale}: quality vs speed (stars: Pareto front; red ours, blue peers, grey interpolation)",
                         fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        written.append(_save(fig, folder / "pareto.png"))
        plt.close(fig)
    groups = sorted({(s["input"], s["scale"]) for s in speed}, key=lambda g: (g[1], g[0]))
    if groups:
        fig, axes = plt.subplots(len(groups), 1, figsize=(9, 2.2 + 0.32 * max(len(speed) // len(groups), 4) * len(groups)),
                                 squeeze=False)
        for ax, (size, scale) in zip(axes[:, 0], groups, strict=True):
            rows = sorted((s for s in speed if s["input"] == size and s["scale"] == scale),
                          key=lambda r: r["latency_ms"]["p50"], reverse=True)
            labels = [f"{r['model']} [{r['backend']} {r['precision']}, {r['threads']}t]" for r in rows]
            p50 = [r["latency_ms"]["p50"] for r in rows]
            p99 = [r["latency_ms"]["p99"] - r["latency_ms"]["p50"] for r in rows]
            ax.barh(labels, p50, xerr=[[0] * len(rows), p99], color="tab:blue", alpha=0.8, capsize=2)
            ax.set_xscale("log")
            ax.set_title(f"{size} -> x{scale}: latency per frame, p50 (bar) to p99 (whisker), ms", fontsize=9)
            ax.tick_params(axis="y", labelsize=7)
            ax.grid(True, axis="x", which="both", alpha=0.3)
        fig.tight_layout()
        written.append(_save(fig, folder / "latency.png"))
        plt.close(fig)
    return written


def _save(fig, path: Path) -> Path:  # noqa: ANN001 - matplotlib Figure
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    write_atomic(path, buf.getvalue())
    return path


def write_report(folder: Path) -> list[Path]:
    """Write ``folder/report.md``, ``pareto.png`` and ``latency.png``; returns the paths written.

    Raises:
        InputError: the folder holds no result files.
    """
    results = load_results(folder)
    quality = [r for r in results if "dataset" in r and "psnr_y" in r]
    speed = [r for r in results if "fps" in r and "latency_ms" in r]
    if not quality and not speed:
        raise InputError(f"{folder} holds no sr-stream bench result files (*.json)")
    machines = {(r["machine"]["cpu"]["model"], r["machine"]["cpu"]["usable_cores"]) for r in quality + speed
                if "machine" in r}
    lines = ["# sr-stream benchmark report", "",
             "Generated by `sr-stream bench report` from the JSON files in this folder; every number below "
             "comes from them.", "",
             "Machines: " + "; ".join(f"{m} ({c} usable cores)" for m, c in sorted(machines)), ""]
    lines += _quality_tables(quality) + _speed_tables(speed)
    report = folder / "report.md"
    write_atomic(report, ("\n".join(lines) + "\n").encode())
    return [report, *_plots(folder, quality, speed)]
