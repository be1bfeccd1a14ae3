"""Summarise a training run: validation PSNR against wall time, as a Markdown table and a plot.

    python benchmarks/training_report.py RUN_DIR OUT_DIR [--label NAME]

Reads RUN_DIR/metrics.jsonl (written by `sr-stream train`) and writes OUT_DIR/curve.md,
OUT_DIR/curve.png (needs matplotlib) and OUT_DIR/curve.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def load(run: Path) -> tuple[list[dict], list[dict], dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    start = next((r for r in rows if r.get("event") == "start"), {})
    val = [r for r in rows if "val_psnr_y" in r]
    train = [r for r in rows if "it_s" in r]
    return train, val, start


def _file_elapsed(run: Path, step: int) -> float | None:
    """Runs logged before metrics rows carried a time: minutes from the run's recipe.yaml to
    the sample strip written at that validation (both are written by the trainer)."""
    sample = run / "samples" / f"step_{step:07d}.png"
    if not sample.is_file():
        return None
    return round((sample.stat().st_mtime - (run / "recipe.yaml").stat().st_mtime) / 60, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--label", default=None)
    args = parser.parse_args()
    train, val, start = load(args.run)
    label = args.label or args.run.name
    args.out.mkdir(parents=True, exist_ok=True)
    its = sorted(r["it_s"] for r in train)
    t0 = start.get("time")
    for r in val:  # elapsed time includes validation and checkpoints
        r["elapsed_min"] = round((r["time"] - t0) / 60, 2) if t0 and "time" in r else _file_elapsed(args.run, r["step"])
    summary = {
        "run": label, "precision": start.get("precision"), "threads": start.get("threads"),
        "precision_probe_s_per_step": start.get("precision_timings_s"),
        "median_it_s": its[len(its) // 2] if its else None,
        "curve": [{"step": r["step"], "wall_min": round(r["wall_s"] / 60, 2), "elapsed_min": r["elapsed_min"],
                   "psnr_y": r["val_psnr_y"], "ssim_y": r["val_ssim_y"]} for r in val],
        "bicubic_psnr_y": val[0]["bicubic_psnr_y"] if val else None,
    }
    (args.out / "curve.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [f"# {label}: validation Y-PSNR against training wall time", "",
             f"precision {summary['precision']}, {summary['threads']} threads, median {summary['median_it_s']} it/s; "
             f"bicubic {summary['bicubic_psnr_y']} dB", "",
             "wall: time in training steps; elapsed: since the run started, validation and checkpoints included", "",
             "| step | wall (min) | elapsed (min) | Y-PSNR (dB) | Y-SSIM |", "|---:|---:|---:|---:|---:|"]
    lines += [f"| {c['step']} | {c['wall_min']} | {c['elapsed_min'] if c['elapsed_min'] is not None else '-'} | "
              f"{c['psnr_y']:.3f} | {c['ssim_y']:.4f} |" for c in summary["curve"]]
    (args.out / "curve.md").write_text("\n".join(lines) + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: wrote the table only")
        return
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.plot([c["wall_min"] for c in summary["curve"]], [c["psnr_y"] for c in summary["curve"]], marker="o", label=label)
    if summary["bicubic_psnr_y"]:
        ax.axhline(summary["bicubic_psnr_y"], color="gray", linestyle="--", label="bicubic")
    ax.set_xlabel("training wall time (min)")
    ax.set_ylabel("validation Y-PSNR (dB)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out / "curve.png")
    print(f"wrote {args.out}/curve.md, curve.json, curve.png")


if __name__ == "__main__":
    main()
