"""Training runs: the loss falls, resume is exact, checkpoints carry the spec, DDP works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs torch (pip install 'sr-stream[train]')")

from srstream.archs import build_generator  # noqa: E402
from srstream.cli import main  # noqa: E402
from srstream.errors import ConfigError  # noqa: E402
from srstream.trainer import checkpoint as ckpt  # noqa: E402
from srstream.trainer.loop import RunPaths, Trainer  # noqa: E402
from srstream.trainer.recipe import load_recipe  # noqa: E402


def _trainer(hr: Path, out: Path, overrides: list[str] = (), val: Path | None = None, resume: bool = False) -> Trainer:
    recipe = load_recipe("tiny", list(overrides))
    return Trainer(recipe, RunPaths(data=(hr,), out=out, val=val, cache=out.parent / "cache"), resume=resume)


def test_tiny_recipe_learns(hr_folder: Path, val_folder: Path, tmp_path: Path) -> None:
    t = _trainer(hr_folder, tmp_path / "run", ["phases.0.steps=80", "phases.1.steps=4", "val_every=80"], val_folder)
    before = t.val.evaluate_model(t.generator, t.rt.device)[0]
    result = t.run()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    pixel = [r["pixel"] for r in rows if r.get("phase") == "psnr"]
    assert np.mean(pixel[-10:]) < 0.8 * np.mean(pixel[:10])
    assert result["val_psnr_y"] > before + 1.0
    assert rows[0]["event"] == "start" and any("val_psnr_y" in r for r in rows)
    assert any(r.get("phase") == "gan" and "disc" in r for r in rows)
    assert len(list((tmp_path / "run" / "samples").glob("*.png"))) >= 2
    assert (tmp_path / "run" / "recipe.yaml").is_file()


@pytest.mark.parametrize("stop", [12, 25])  # inside the pixel phase / inside the GAN phase
def test_resume_gives_the_same_weights_as_training_straight(hr_folder: Path, tmp_path: Path, stop: int) -> None:
    straight = _trainer(hr_folder, tmp_path / "a")
    straight.run()
    interrupted = _trainer(hr_folder, tmp_path / "b")
    interrupted.run(stop_at=stop)
    assert interrupted.step == stop
    resumed = _trainer(hr_folder, tmp_path / "b", resume=True)
    assert resumed.step == stop
    resumed.run()
    for a, b in [(straight.generator, resumed.generator), (straight.ema.module, resumed.ema.module)]:
        for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
            assert torch.equal(x, y), name
    da, db = straight.phase.disc, resumed.phase.disc
    for x, y in zip(da.state_dict().values(), db.state_dict().values()):
        assert torch.equal(x, y)


def test_pruned_checkpoints_keep_the_weights_of_every_nth_step(hr_folder: Path, tmp_path: Path) -> None:
    t = _trainer(hr_folder, tmp_path / "run", ["ckpt_every=5", "keep_weights_every=10"])
    t.run()
    root = tmp_path / "run" / "checkpoints"
    full = sorted(p.name for p in root.glob("step_*") if (p / "state.pt").is_file())
    weights_only = sorted(p.name for p in root.glob("step_*") if not (p / "state.pt").is_file())
    assert full == ["step_0000020", "step_0000025", "step_0000030"]
    assert weights_only == ["step_0000010"]
    spec, _ = ckpt.load_model_weights(root / "step_0000010")
    assert spec.name == "smoke-x2"
    assert ckpt.latest(tmp_path / "run") == root / "step_0000030"


def test_data_workers_give_the_same_weights_as_one_thread(hr_folder: Path, tmp_path: Path) -> None:
    """``data.workers: N`` makes batches in N forked processes; a batch
    depends only on its step, so the run is the same as with the one prefetch thread."""
    one = _trainer(hr_folder, tmp_path / "a")
    one.run()
    many = _trainer(hr_folder, tmp_path / "b", ["data.workers=2"])
    many.run()
    assert many.step == one.step == load_recipe("tiny").total_steps
    for (name, x), (_, y) in zip(one.ema.module.state_dict().items(), many.ema.module.state_dict().items()):
        assert torch.equal(x, y), name


def test_checkpoint_ships_ema_weights_with_the_spec(hr_folder: Path, tmp_path: Path) -> None:
    t = _trainer(hr_folder, tmp_path / "run")
    t.run()
    last = ckpt.latest(tmp_path / "run")
    assert last is not None and last.name == "step_0000030"
    spec, state = ckpt.load_model_weights(last)
    assert spec.arch == "compact" and spec.scale == 2 and spec.name == "smoke-x2"
    model = build_generator(spec)
    model.load_state_dict(state)
    shipped = t.ema.module.state_dict()
    for name, value in model.state_dict().items():
        assert torch.equal(value, shipped[name].float()), name
    assert len(list((tmp_path / "run" / "checkpoints").glob("step_*"))) == 3


def test_existing_run_needs_resume_and_init_must_match(hr_folder: Path, tmp_path: Path) -> None:
    t = _trainer(hr_folder, tmp_path / "run", ["phases.0.steps=2", "phases.1.steps=1"])
    t.run()
    with pytest.raises(ConfigError, match="--resume"):
        _trainer(hr_folder, tmp_path / "run")
    # resumed with another network: refused before its record (recipe.yaml) is touched; it crashed
    # loading the checkpoint, after overwriting the record with the other recipe
    record = (tmp_path / "run" / "recipe.yaml").read_text()
    with pytest.raises(ConfigError,
                       match="holds a run of smoke-x2 .*'features': 8.*another .*'features': 4.*its own recipe"):
        _trainer(hr_folder, tmp_path / "run", ["model.params.features=4"], resume=True)
    assert (tmp_path / "run" / "recipe.yaml").read_text() == record
    weights = ckpt.latest(tmp_path / "run") / "model.safetensors"
    recipe = load_recipe("tiny", ["model.params.features=4"])
    with pytest.raises(ConfigError, match="does not match"):
        Trainer(recipe, RunPaths(data=(hr_folder,), out=tmp_path / "other", init=weights))
    ok = Trainer(load_recipe("tiny"), RunPaths(data=(hr_folder,), out=tmp_path / "third", init=weights))
    loaded = ckpt.load_model_weights(weights)[1]
    for name, value in ok.generator.state_dict().items():
        assert torch.equal(value, loaded[name]), name


def test_init_takes_a_community_model_of_the_recipes_network(hr_folder: Path, tmp_path: Path) -> None:
    """Fine-tuning a Real-ESRGAN compact model on one's own pictures: ``--init model.pth`` was refused
    ("carries no sr-stream spec"). A file the exporter imports starts the recipe's net where its shape is
    the recipe's (parameters left at their defaults count as given), computing what the original does."""
    from tests.export.peer_reference import SRVGGNetCompact

    torch.manual_seed(3)
    original = SRVGGNetCompact(num_feat=8, num_conv=2, upscale=2).eval()
    torch.save({"params": original.state_dict()}, tmp_path / "realesr-small.pth")
    trainer = Trainer(load_recipe("tiny"), RunPaths(data=(hr_folder,), out=tmp_path / "run",
                                                    init=tmp_path / "realesr-small.pth"))
    x = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        assert float((trainer.generator.eval()(x) - original(x)).abs().max()) < 1e-6
    torch.save({"params": SRVGGNetCompact(num_feat=8, num_conv=3, upscale=2).state_dict()}, tmp_path / "deeper4.pth")
    with pytest.raises(ConfigError, match="does not match the recipe's compact x2"):
        Trainer(load_recipe("tiny"), RunPaths(data=(hr_folder,), out=tmp_path / "run2", init=tmp_path / "deeper4.pth"))


def test_init_deepens_a_compact_net_without_changing_its_output(hr_folder: Path, tmp_path: Path) -> None:
    t = _trainer(hr_folder, tmp_path / "run", ["phases.0.steps=2", "phases.1.steps=1"])
    t.run()
    weights = ckpt.latest(tmp_path / "run") / "model.safetensors"
    shallow = build_generator(ckpt.read_spec(weights))
    shallow.load_state_dict(ckpt.load_model_weights(weights)[1])
    deep = Trainer(load_recipe("tiny", ["model.params.convs=5"]), RunPaths(data=(hr_folder,), out=tmp_path / "deep",
                                                                          init=weights))
    x = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        torch.testing.assert_close(deep.generator(x), shallow(x), rtol=0, atol=1e-6)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in deep.generator.modules()) == 7
    # deeper and into re-parameterisable blocks at once (a shipped plain net into an ECB recipe)
    deep_ecb = Trainer(load_recipe("tiny", ["model.params.convs=5", "model.params.block=ecb"]),
                       RunPaths(data=(hr_folder,), out=tmp_path / "deep_ecb", init=weights))
    with torch.no_grad():
        torch.testing.assert_close(deep_ecb.generator(x), shallow(x), rtol=0, atol=1e-5)
    # deeper, into blocks and with a linear skip (a zero filter beside the nearest skip) at once
    wider = ["model.params.convs=5", "model.params.block=ecb", "model.params.skip=linear"]
    linear = Trainer(load_recipe("tiny", wider), RunPaths(data=(hr_folder,), out=tmp_path / "linear", init=weights))
    with torch.no_grad():
        torch.testing.assert_close(linear.generator(x), shallow(x), rtol=0, atol=1e-5)
    with pytest.raises(ConfigError, match="does not match"):  # shallower is no deepening
        Trainer(load_recipe("tiny", ["model.params.convs=1"]), RunPaths(data=(hr_folder,), out=tmp_path / "x", init=weights))
    # an ECB checkpoint deeper still (its blocks collapsed, deepened, expanded again): the same output
    deep_ecb.run(stop_at=1)
    ecb_weights = ckpt.latest(tmp_path / "deep_ecb") / "model.safetensors"
    trained = build_generator(ckpt.read_spec(ecb_weights))
    trained.load_state_dict(ckpt.load_model_weights(ecb_weights)[1])
    deeper = Trainer(load_recipe("tiny", ["model.params.convs=7", "model.params.block=ecb"]),
                     RunPaths(data=(hr_folder,), out=tmp_path / "deeper_ecb", init=ecb_weights))
    with torch.no_grad():
        torch.testing.assert_close(deeper.generator(x), trained(x), rtol=0, atol=1e-5)


def test_a_quant_int8_phase_trains_through_fake_int8_and_resumes_exactly(hr_folder: Path, tmp_path: Path) -> None:
    """The pixel phase trains with fake INT8 (srstream.archs.quant) and the GAN phase in float:
    the roundings change the weights learnt, come off with the phase, and a run resumed inside
    the quantised phase (running activation ranges restored) ends with the same weights."""
    quant = ["phases.0.quant=int8"]
    float_run = _trainer(hr_folder, tmp_path / "float")
    float_run.run()
    straight = _trainer(hr_folder, tmp_path / "a", quant)
    straight.run()
    assert straight._detach_quant is None  # the last phase is float
    assert any(not torch.equal(x, y) for x, y in zip(float_run.generator.state_dict().values(),
                                                   straight.generator.state_dict().values()))
    interrupted = _trainer(hr_folder, tmp_path / "b", quant)
    interrupted.run(stop_at=12)
    resumed = _trainer(hr_folder, tmp_path / "b", quant, resume=True)
    assert resumed._detach_quant is not None and all(r.hi is not None for r in resumed._quant_ranges)
    resumed.run()
    for (name, x), (_, y) in zip(straight.ema.module.state_dict().items(), resumed.ema.module.state_dict().items()):
        assert torch.equal(x, y), name
    with pytest.raises(ConfigError, match="quant"):
        load_recipe("tiny", ["phases.0.quant=int4"])
    with pytest.raises(ConfigError, match="quant_keep_float"):
        load_recipe("tiny", ["phases.0.quant_keep_float=[middle]"])


def test_a_quant_int8_phase_also_scores_the_ema_weights_through_its_roundings(hr_folder: Path, val_folder: Path,
                                                                              tmp_path: Path) -> None:
    """Validation in a quant: int8 phase logs the float EMA net's score and, beside it, the same
    weights' score through the phase's roundings at the trained net's activation ranges; a float
    phase logs the float score only, and the EMA net is left float."""
    from srstream.archs.quant import rounded_as

    t = _trainer(hr_folder, tmp_path / "q", ["phases.0.quant=int8"], val_folder)
    result = t.run(stop_at=20)  # the end of the quantised phase
    assert result["val_psnr_y_int8"] != result["val_psnr_y"]
    # its checkpoints hold the ranges and where they sit, which the INT8 export then takes
    from srstream.export.sources import load_generator

    trained = load_generator(tmp_path / "q" / "checkpoints" / "step_0000010").trained_ranges
    assert list(trained) == [r.site for r in t._quant_ranges] == [("input", 1), ("input", 2), ("input", 3)]
    assert all(lo <= 0.0 < hi for lo, hi in trained.values())  # every range holds 0, as int8's does
    ema = t.ema.module
    assert t.val.evaluate_model(ema, t.rt.device)[0] == pytest.approx(result["val_psnr_y"], abs=1e-4)
    with rounded_as(ema, t._quant_ranges) as net:
        assert t.val.evaluate_model(net, t.rt.device)[0] == pytest.approx(result["val_psnr_y_int8"], abs=1e-4)
    with pytest.raises(ValueError, match="activation ranges"):
        with rounded_as(ema, t._quant_ranges[:-1]):
            pass
    assert t.val.evaluate_model(ema, t.rt.device)[0] == pytest.approx(result["val_psnr_y"], abs=1e-4)  # float again
    t.run()  # the float GAN phase
    rows = [json.loads(line) for line in (tmp_path / "q" / "metrics.jsonl").read_text().splitlines()]
    scored = {r["step"]: r for r in rows if "val_psnr_y" in r}
    assert sorted(scored) == [10, 20, 30]
    assert "val_psnr_y_int8" in scored[10] and "val_psnr_y_int8" in scored[20] and "val_psnr_y_int8" not in scored[30]


def test_auto_bf16_runs_the_end_of_each_phase_in_fp32_and_resumes_there(hr_folder: Path, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Where `precision: auto` takes bf16 (made so here, whatever this CPU), the last fp32_tail of
    each phase trains in fp32; a run resumed inside a tail continues in fp32 and ends as one
    that ran straight."""
    from srstream.trainer.runtime import Runtime

    def pick(rt: Runtime, step) -> dict[str, float]:  # noqa: ANN001
        if rt.precision == "auto":
            rt.precision = "bf16"
        if rt.memory_format == "auto":
            rt.memory_format = "contiguous"
        return {}

    monkeypatch.setattr(Runtime, "pick", pick)
    auto = ["precision=auto", "fp32_tail=0.25"]  # phases of 20 and 10 steps: fp32 from 15 and from 28

    def switches(run: Path) -> list[tuple[int, str]]:
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        return [(r["step"], r["precision"]) for r in rows if r.get("event") == "precision"]

    straight = _trainer(hr_folder, tmp_path / "a", auto)
    straight.run()
    assert switches(tmp_path / "a") == [(15, "fp32"), (20, "bf16"), (28, "fp32")]
    interrupted = _trainer(hr_folder, tmp_path / "b", auto)
    interrupted.run(stop_at=17)
    resumed = _trainer(hr_folder, tmp_path / "b", auto, resume=True)
    assert (resumed.rt.precision, resumed._auto_choice) == ("fp32", "bf16")
    resumed.run()
    assert switches(tmp_path / "b") == [(15, "fp32"), (20, "bf16"), (28, "fp32")]
    for (name, x), (_, y) in zip(straight.ema.module.state_dict().items(), resumed.ema.module.state_dict().items()):
        assert torch.equal(x, y), name
    untouched = _trainer(hr_folder, tmp_path / "c", ["precision=auto", "fp32_tail=0", "phases.0.steps=4",
                                                     "phases.1.steps=2"])
    untouched.run()
    assert switches(tmp_path / "c") == [] and untouched.rt.precision == "bf16"
    with pytest.raises(ConfigError, match="fp32_tail"):
        load_recipe("tiny", ["fp32_tail=1.5"])


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_fp16_skips_overflowing_steps_without_stepping_the_schedule_and_resumes_exactly(
        hr_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, device: str) -> None:
    """fp16 AMP, as `precision: auto` trains on CUDA (and here on the CPU too, where torch has the
    same autocast and gradient scaler): a step whose gradients overflow is skipped and halves the
    scale, and its schedule waits (torch warns, an error in this suite, where a schedule steps
    before its optimiser has). The scales are in the checkpoints: a run resumed among the
    skips ends as one that ran straight (it restarted at the first scale and skipped again; on
    the CPU, where training is deterministic, bit for bit)."""
    from srstream.trainer.runtime import Runtime

    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA GPU")
    first = 2.0**24  # high enough that the first steps overflow

    def pick(rt: Runtime, step) -> dict[str, float]:  # noqa: ANN001
        if rt.precision in ("auto", "fp16") and rt.init_scale != first:  # CUDA: fp16 already
            rt.precision, rt.init_scale = "fp16", first
        if rt.memory_format == "auto":
            rt.memory_format = "contiguous"
        return {}

    monkeypatch.setattr(Runtime, "pick", pick)
    fp16 = ["precision=auto", f"device={device}"]
    straight = _trainer(hr_folder, tmp_path / "a", fp16)
    straight.run()
    gan = straight.phase  # steps 20-29
    skipped = [round(np.log2(first / straight.rt.scaler(opt).get_scale())) for opt in (gan.opt, gan.opt_d)]
    assert all(0 < n < 10 for n in skipped), skipped
    assert [gan.sched.last_epoch, gan.sched_d.last_epoch] == [10 - n for n in skipped]
    if device == "cuda":
        return
    interrupted = _trainer(hr_folder, tmp_path / "b", fp16)
    interrupted.run(stop_at=22)  # after the first skips (here: the generator skips 4 steps, the discriminator 8)
    resumed = _trainer(hr_folder, tmp_path / "b", fp16, resume=True)
    assert resumed.rt.precision == "fp16"
    resumed.run()
    for a, b in [(straight.generator, resumed.generator), (gan.disc, resumed.phase.disc)]:
        for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
            assert torch.equal(x, y), name


def test_perceptual_phase_without_vgg_weights_is_a_clear_error(hr_folder: Path, tmp_path: Path) -> None:
    t = _trainer(hr_folder, tmp_path / "run", ["phases.0.loss.perceptual_weight=1.0"])
    with pytest.raises(ConfigError, match="--vgg-weights"):
        t.run()


def test_cli_train_and_list(hr_folder: Path, val_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--list"]) == 0
    assert "realtime_x2" in capsys.readouterr().out
    assert main(["train", "tiny"]) == 2
    assert "needs RECIPE, --data" in capsys.readouterr().err
    code = main(["train", "tiny", "--data", str(hr_folder), "--val", str(val_folder), "--out", str(tmp_path / "r"),
                 "--set", "phases.0.steps=3", "--set", "phases.1.steps=2"])
    out = capsys.readouterr().out
    assert code == 0 and "final: Y-PSNR" in out and ckpt.latest(tmp_path / "r") is not None


@pytest.mark.parametrize("signum", [2, 15])  # Ctrl-C, and SIGTERM (kill, a batch system's stop)
def test_a_stopped_run_keeps_a_checkpoint_at_its_last_step(hr_folder: Path, tmp_path: Path, signum: int) -> None:
    """Ctrl-C or SIGTERM lost every step since the last checkpoint (``ckpt_every``: 2000 for
    realtime-x2, minutes of a CPU's work). The run now stops at the end of the step in flight with a
    checkpoint there (exit 128 + the signal), and ``--resume`` continues from it exactly."""
    import time

    out = tmp_path / "run"
    command = [sys.executable, "-m", "srstream", "train", "tiny", "--data", str(hr_folder), "--out", str(out),
               "--set", "phases.0.steps=100000", "--set", "ckpt_every=100000", "--set", "val_every=100000"]
    with subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}) as proc:
        for line in proc.stderr:  # once training runs (not a terminal: the first step is announced)
            if "step 1 done" in line:
                break
        time.sleep(1.0)
        proc.send_signal(signum)
        rest = proc.stderr.read()
        assert proc.wait(timeout=120) == 128 + signum, rest
    kept = ckpt.latest(out)
    assert kept is not None and "stopped at step" in rest and "--resume continues" in rest, rest
    step = int(kept.name.split("_")[1])
    assert step > 1 and f"stopped at step {step} of 100010" in rest
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert max(r.get("step", 0) for r in rows) == step  # logged every step: none after the checkpoint's
    resumed = _trainer(hr_folder, out, ["phases.0.steps=100000", "ckpt_every=100000", "val_every=100000"],
                       resume=True)
    assert resumed.step == step


@pytest.mark.slow
def test_ddp_with_two_cpu_processes(hr_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", "-m", "srstream",
         "train", "tiny", "--data", str(hr_folder), "--out", str(out), "--set", "phases.0.steps=6",
         "--set", "phases.1.steps=4", "--set", "val_every=5", "--set", "ckpt_every=5",
         "--set", "memory_format=auto"],  # timed by each process, the first one's choice broadcast
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["world"] == 2 and rows[-1]["step"] == 10
    assert rows[0]["memory_format"] in ("contiguous", "channels_last")
    assert ckpt.latest(out).name == "step_0000010"


def test_clips_train_with_the_temporal_loss(hr_folder: Path, tmp_path: Path) -> None:
    t = _trainer(hr_folder, tmp_path / "run", ["phases.0.steps=6", "phases.1.steps=2", "data.clips={motion: 2}",
                                               "data.degradations=[{kind: video, range: [30, 36], prob: 0.5}]",
                                               "phases.0.loss.temporal_weight=1.0", "phases.1.loss.temporal_weight=1.0"])
    t.run()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    temporal = [r["temporal"] for r in rows if "temporal" in r]
    assert len(temporal) == 8 and all(np.isfinite(temporal)) and max(temporal) > 0


def test_a_strength_conditioned_net_trains_from_an_unconditioned_one(hr_folder: Path, tmp_path: Path) -> None:
    """``--init`` of a plain compact net into a ``strength: true`` recipe starts from the same
    function (zero offsets), and training on compressed clips moves the offsets."""
    t = _trainer(hr_folder, tmp_path / "run", ["phases.0.steps=2", "phases.1.steps=1"])
    t.run()
    weights = ckpt.latest(tmp_path / "run") / "model.safetensors"
    plain = build_generator(ckpt.read_spec(weights))
    plain.load_state_dict(ckpt.load_model_weights(weights)[1])
    overrides = ["model.params.strength=true", "phases.0.steps=3", "phases.1.steps=1", "data.clips={motion: 2}",
                 "data.degradations=[{kind: video, range: [30, 40], prob: 1.0}]"]
    conditioned = Trainer(load_recipe("tiny", overrides), RunPaths(data=(hr_folder,), out=tmp_path / "s", init=weights,
                                                                  cache=tmp_path / "cache"))
    x = torch.rand(2, 3, 12, 10)
    with torch.no_grad():
        torch.testing.assert_close(conditioned.generator(x, torch.tensor([0.2, 0.9])), plain(x), rtol=0, atol=1e-6)
    conditioned.run()
    offsets = [p for k, p in conditioned.generator.named_parameters() if "strength_offsets" in k]
    assert offsets and any(float(p.detach().abs().max()) > 0 for p in offsets)


def test_channels_last_trains_like_nchw_and_a_resumed_run_keeps_its_layout(hr_folder: Path, tmp_path: Path) -> None:
    """Both layouts compute the same function (to float rounding); `memory_format: auto` times the
    two on the real model, and a run resumed under `auto` keeps the layout it started with."""
    nchw = _trainer(hr_folder, tmp_path / "a", ["phases.0.steps=12", "phases.1.steps=4"])
    nchw.run()
    nhwc = _trainer(hr_folder, tmp_path / "b", ["phases.0.steps=12", "phases.1.steps=4", "memory_format=channels_last"])
    conv = next(p for p in nhwc.generator.parameters() if p.dim() == 4)
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    nhwc.run(stop_at=6)
    resumed = _trainer(hr_folder, tmp_path / "b", ["phases.0.steps=12", "phases.1.steps=4", "memory_format=auto"],
                       resume=True)
    assert resumed.rt.memory_format == "channels_last"
    resumed.run()
    for (name, x), (_, y) in zip(nchw.ema.module.state_dict().items(), resumed.ema.module.state_dict().items()):
        torch.testing.assert_close(x, y, atol=1e-4, rtol=1e-3, msg=name)
    auto = _trainer(hr_folder, tmp_path / "c", ["phases.0.steps=2", "phases.1.steps=1", "memory_format=auto"])
    start = json.loads((tmp_path / "c" / "metrics.jsonl").read_text().splitlines()[0])
    assert auto.rt.memory_format in ("contiguous", "channels_last") and auto.rt.memory_format == start["memory_format"]
    assert {k.split()[1] for k in start["precision_timings_s"]} == {"contiguous", "channels_last"}
    conv = next(p for p in auto.generator.parameters() if p.dim() == 4)
    assert conv.is_contiguous(memory_format=auto.rt.torch_memory_format)
    with pytest.raises(ConfigError, match="memory_format"):
        load_recipe("tiny", ["memory_format=nhwc"])
