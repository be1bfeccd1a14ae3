"""The training loop: phases, optimisers, EMA, mixed precision, DDP, validation, checkpoints.

One :class:`Trainer` runs a :class:`~srstream.trainer.recipe.Recipe` into a run folder::

    RUN/recipe.yaml          the resolved recipe (after --set overrides)
    RUN/metrics.jsonl        one JSON object per log line and per validation
    RUN/samples/*.png        LR | bicubic | SR | HR strips at every validation
    RUN/checkpoints/...      see srstream.trainer.checkpoint

Steps are global across phases. Sample ``i`` of the data depends on ``(seed, i)`` only and
every piece of state is checkpointed, so stopping at step N and resuming gives the same weights
as never stopping.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn
from torch.optim.swa_utils import AveragedModel

from srstream.archs import DISCRIMINATORS, GENERATORS, build_generator, generator_spec
from srstream.errors import ConfigError, Interrupted, note_signal
from srstream.spec import ModelSpec
from srstream.trainer import checkpoint as ckpt
from srstream.trainer import losses
from srstream.trainer.data import ImageBank, PairDataset, prefetched
from srstream.trainer.degrade import build_degradations
from srstream.trainer.recipe import OptimConfig, PhaseConfig, Recipe
from srstream.trainer.runtime import Runtime
from srstream.trainer.validate import ValidationSet, comparison_strip, write_png

__all__ = ["RunPaths", "Trainer", "build_optimizer"]


def _init_weights(weights: Path) -> tuple[ModelSpec, dict[str, torch.Tensor]]:
    """``--init``'s spec and weights: an sr-stream checkpoint's, or a model from elsewhere that the
    exporter imports (a Real-ESRGAN compact or ESRGAN ``.pth``, SPAN, RealPLKSR: the same network in
    sr-stream's architecture, to fine-tune on one's own pictures).

    Raises:
        ModelError: neither (the importer's message lists the formats it knows).
    """
    from srstream.errors import ModelError

    try:
        return ckpt.load_model_weights(weights)
    except ModelError:
        if weights.is_dir() or weights.suffix.lower() not in (".pth", ".pt", ".safetensors"):
            raise
    from srstream.export.sources import load_generator

    loaded = load_generator(weights)
    return loaded.spec, {k: v.detach().clone() for k, v in loaded.module.state_dict().items()}


@dataclass(frozen=True)
class RunPaths:
    data: tuple[Path, ...]
    out: Path
    val: Path | None = None
    cache: Path | None = None
    vgg_weights: Path | None = None
    init: Path | None = None
    teacher: Path | None = None  # overrides the recipe's teacher.path


def build_optimizer(params: Any, cfg: OptimConfig, steps: int) -> tuple[torch.optim.Optimizer, Any]:
    """Adam and its schedule over ``steps`` (warm-up, then cosine / step / constant).

    Adam is torch's fused kernel: the compact nets have hundreds of small tensors (216 for a
    16 x 10 edge-oriented net), over which the default per-tensor loop took 9.4 ms a step on a
    2-core Zen 3 and the fused kernel 1.7 ms (4% of a tiny-x2-deeper step), with the same updates
    to float rounding (2e-8)."""
    opt = torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay, fused=True)
    milestones = [int(m * steps) for m in cfg.milestones]

    def factor(step: int) -> float:
        if cfg.warmup and step < cfg.warmup:
            return (step + 1) / cfg.warmup
        if cfg.schedule == "cosine":
            t = min(1.0, (step - cfg.warmup) / max(1, steps - cfg.warmup))
            low = cfg.min_lr / cfg.lr
            return low + (1 - low) * 0.5 * (1 + math.cos(math.pi * t))
        if cfg.schedule == "step":
            return cfg.gamma ** sum(step >= m for m in milestones)
        return 1.0

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


class _Phase:
    """Optimisers, schedulers and (for GAN phases) the discriminator of one phase."""

    def __init__(self, cfg: PhaseConfig, generator: nn.Module, spec: ModelSpec, patch: int, rt: Runtime) -> None:
        self.cfg = cfg
        self.rt = rt
        self.opt, self.sched = build_optimizer(generator.parameters(), cfg.optim, cfg.steps)
        self.disc: nn.Module | None = None
        if cfg.loss.adversarial != "none":
            disc = DISCRIMINATORS.load(cfg.discriminator)(
                spec.in_channels, patch, features=cfg.discriminator_features, norm=cfg.discriminator_norm)
            self.disc = rt.wrap(rt.lay_out(disc.to(rt.device)))  # in the generator's layout
            self.opt_d, self.sched_d = build_optimizer(self.disc.parameters(), cfg.discriminator_optim, cfg.steps)

    def state_dict(self) -> dict[str, Any]:
        state = {"opt": self.opt.state_dict(), "sched": self.sched.state_dict()}
        if self.disc is not None:
            state |= {"disc": _unwrap(self.disc).state_dict(), "opt_d": self.opt_d.state_dict(),
                      "sched_d": self.sched_d.state_dict()}
        for key, opt in self._optimisers():  # fp16's loss scales, so a resumed run skips the steps it would have
            if (scaler := self.rt.scalers.get(id(opt))) is not None:
                state[key] = scaler.state_dict()
        return state

    def _optimisers(self) -> list[tuple[str, torch.optim.Optimizer]]:
        """Each optimiser with the key of its gradient scaler's state in a checkpoint."""
        return [("scaler", self.opt)] + ([("scaler_d", self.opt_d)] if self.disc is not None else [])

    def load_state_dict(self, state: dict[str, Any]) -> None:
        # the saved param groups carry their Adam flags: a run begun before Adam was fused resumes unfused
        self.opt.load_state_dict(state["opt"])
        self.sched.load_state_dict(state["sched"])
        if self.disc is not None:
            _unwrap(self.disc).load_state_dict(state["disc"])
            self.opt_d.load_state_dict(state["opt_d"])
            self.sched_d.load_state_dict(state["sched_d"])
        for key, opt in self._optimisers():
            if key in state and (scaler := self.rt.scaler(opt)) is not None:
                scaler.load_state_dict(state[key])


def _ema_with_warmup(decay: float) -> Any:
    """EMA update whose decay ramps up as ``min(decay, (1 + n) / (10 + n))`` over the first
    updates, so a short run's averaged weights are not dominated by the random initialisation
    (with a fixed 0.999, 45% of the average is still the init after 800 steps). One fused
    ``lerp`` over all tensors per step, like torch's own ``get_ema_multi_avg_fn``."""

    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], n: torch.Tensor | int) -> None:
        steps = float(n)
        torch._foreach_lerp_(averaged, current, 1.0 - min(decay, (1.0 + steps) / (10.0 + steps)))

    return update


def _unwrap(module: nn.Module) -> nn.Module:
    return module.module if hasattr(module, "module") and isinstance(module.module, nn.Module) else module


class Trainer:
    """Runs ``recipe`` into ``paths.out`` (see the module docstring)."""

    def __init__(self, recipe: Recipe, paths: RunPaths, *, resume: bool = False, rt: Runtime | None = None) -> None:
        self.recipe, self.paths = recipe, paths
        self.rt = rt or Runtime.create(recipe.device, recipe.precision, recipe.memory_format)
        m = recipe.model
        self.spec = generator_spec(m.name, m.arch, m.scale, in_channels=m.in_channels, params=m.params,
                                   source=f"sr-stream train (recipe {m.name})")
        torch.manual_seed(recipe.seed)
        self.generator = build_generator(self.spec).to(self.rt.device)
        if paths.init is not None:
            self._init_from(paths.init)
        self.ema = (AveragedModel(self.generator, multi_avg_fn=_ema_with_warmup(recipe.ema), use_buffers=True)
                    if recipe.ema else None)
        self.step = 0
        self.wall = 0.0
        self._prepare_run_dir(resume)
        bank = ImageBank(paths.data, paths.cache or paths.out / "cache", max_side=recipe.data.max_side,
                         log=self._say if self.rt.is_main else None)
        self.data = PairDataset(bank, scale=m.scale, patch=recipe.data.patch, channels=m.in_channels,
                                flips=recipe.data.flips, rot90=recipe.data.rot90,
                                degradations=build_degradations(recipe.data.degradations), seed=recipe.seed,
                                teacher=self._teacher_bank(bank), clips=recipe.data.clips,
                                strength=bool(m.params.get("strength", False)), content=recipe.data.content,
                                channel_order=recipe.data.channel_order)
        self.val = ValidationSet(paths.val, m.scale, m.in_channels) if paths.val and self.rt.is_main else None
        self.perceptual: nn.Module | None = None
        self.phase: _Phase | None = None
        self._detach_quant: Callable[[], None] | None = None  # set in a quant: int8 phase
        self._quant_ranges: list[Any] = []  # that phase's activation roundings (srstream.archs.quant)
        self.phase_index = -1
        self._probe_batch: list[torch.Tensor] | None = None
        state = ckpt.load_state(last) if resume and (last := ckpt.latest(paths.out)) is not None else None
        if state is not None and self.rt.precision == "auto":
            self.rt.precision = str(state.get("precision", "auto"))  # a resumed run keeps its precision
        if state is not None and self.rt.memory_format == "auto":  # and its layout (runs before it: NCHW)
            self.rt.memory_format = str(state.get("memory_format", "contiguous"))
        timings = self.rt.pick(self._probe_step)
        for module in (self.generator, self.ema):
            if module is not None:
                self.rt.lay_out(module)
        self.model = self.rt.wrap(self.generator)  # after the layout: DDP's buckets follow the parameters' strides
        # what auto chose (a run resumed in its fp32 tail was bf16 before it): see _precision_at
        self._auto_choice: str | None = None
        if recipe.precision == "auto":
            self._auto_choice = self.rt.precision if state is None else \
                str(state.get("auto_precision", state.get("precision")))
        if state is not None:
            self._restore(state)
        self._header(timings)

    @staticmethod
    def _say(text: str) -> None:
        print(f"sr-stream train: {text}", file=sys.stderr, flush=True)

    def _teacher_bank(self, bank: ImageBank) -> Any:
        """The teacher's targets for ``bank`` (built once, by the main process), or None."""
        cfg = self.recipe.teacher
        if cfg is None:
            return None
        from srstream.trainer.distill import TeacherBank

        path = self.paths.teacher or Path(cfg.path)
        cache = self.paths.cache or self.paths.out / "cache"
        if self.rt.is_main:
            TeacherBank(bank, path, self.recipe.model.scale, cache, ensemble=cfg.ensemble)
        self.rt.barrier()
        return TeacherBank(bank, path, self.recipe.model.scale, cache, ensemble=cfg.ensemble)

    def _probe_step(self) -> None:
        """One forward/backward pass on a real batch (for timing), leaving no gradients.

        The batch is made once and reused, so the timing is the model's, not the data's."""
        if self._probe_batch is None:
            self._probe_batch = [torch.from_numpy(a).to(self.rt.device)
                                 for a in self.data.batch(0, self.recipe.data.batch)]
        self.rt.lay_out(self.generator)
        lr, hr = (self.rt.laid_out(t) for t in self._probe_batch[:2])
        with self.rt.autocast():
            loss = losses.pixel_loss("l1", self.generator(lr).float(), hr)
        loss.backward()
        self.generator.zero_grad(set_to_none=True)

    def _header(self, timings: dict[str, float]) -> None:
        if not self.rt.is_main:
            return
        chosen = f"precision {self.rt.precision}, {self.rt.memory_format.replace('_', '-')}"
        if timings:
            chosen += " (auto: " + ", ".join(f"{k} {v * 1000:.0f} ms/step" for k, v in timings.items()) + ")"
        print(f"sr-stream train: {self.spec.name} ({self.spec.arch} x{self.spec.scale}) on {self.rt.device}, "
              f"{chosen}, {torch.get_num_threads()} threads, {self.rt.world} process(es), "
              f"{len(self.data.bank)} images, starting at step {self.step}/{self.recipe.total_steps}",
              file=sys.stderr)
        self._log({"event": "start", "step": self.step, "device": str(self.rt.device), "precision": self.rt.precision,
                   "memory_format": self.rt.memory_format, "precision_timings_s": timings,
                   "threads": torch.get_num_threads(), "world": self.rt.world, "torch": torch.__version__})

    # -- setup ------------------------------------------------------------------------------

    def _prepare_run_dir(self, resume: bool) -> None:
        out = self.paths.out
        if self.rt.is_main:
            if (out / "recipe.yaml").exists() and not resume:
                raise ConfigError(f"run folder {out} already holds a run; pass --resume or choose another --out")
            if resume and (out / "recipe.yaml").exists():
                # the network is the run's: another recipe's would not load its checkpoints, and its
                # recipe.yaml (the run's record) was overwritten before that failed
                held = (yaml.safe_load((out / "recipe.yaml").read_text()) or {}).get("model")
                net = ("arch", "scale", "in_channels", "params")
                wanted = self.recipe.to_dict()["model"]
                if isinstance(held, dict) and any(held.get(k, wanted[k]) != wanted[k] for k in net):
                    raise ConfigError(f"run folder {out} holds a run of {held.get('name')} ({held.get('arch')} "
                                      f"x{held.get('scale')} {held.get('params')}), and this recipe's network is "
                                      f"another ({wanted['arch']} x{wanted['scale']} {wanted['params']}): resume it "
                                      f"with its own recipe (sr-stream train {out / 'recipe.yaml'} --resume ...), "
                                      "or choose another --out")
            elif resume and ckpt.latest(out) is None:
                self._say(f"--resume: {out} holds no run yet; starting it")
            out.mkdir(parents=True, exist_ok=True)
            (out / "recipe.yaml").write_text(yaml.safe_dump(self.recipe.to_dict(), sort_keys=False))
        self.rt.barrier()

    def _init_from(self, weights: Path) -> None:
        spec, state = _init_weights(weights)
        have, want = dict(spec.arch_params), dict(self.spec.arch_params)
        if spec.arch == self.spec.arch:  # a parameter left at its default is that default (an imported spec names all)
            import inspect

            defaults = {k: p.default for k, p in inspect.signature(GENERATORS.load(spec.arch)).parameters.items()
                        if p.default is not inspect.Parameter.empty and k not in ("in_channels", "out_channels", "scale")}
            have, want = {**defaults, **have}, {**defaults, **want}

        def differ(*keys: str) -> bool:
            return {k: v for k, v in have.items() if k not in keys} != {k: v for k, v in want.items() if k not in keys}

        if (spec.arch in ("compact", "compact_y") and want.get("skip") == "linear"
                and have.get("skip", "nearest") == "nearest" and not differ("skip", "block", "convs")):
            # a nearest-skip net into a linear-skip one: the filter starts as the nearest skip, the same output
            state = {**state, **{k: v for k, v in self.generator.state_dict().items() if "skip_conv." in k}}
            have = {**have, "skip": "linear"}
        if (spec.arch in ("compact", "compact_y") and spec.arch == self.spec.arch and spec.scale == self.spec.scale
                and not differ("convs", "block") and have.get("block", "conv") in ("conv", want.get("block", "conv"))
                and int(want.get("convs", 8)) > int(have.get("convs", 8))):
            from srstream.archs.compact import deepen_state

            if have.get("block") == "ecb":  # blocks collapsed first: deepening works on plain convs,
                from srstream.archs.reparam import collapse_state  # and they are expanded again below

                trained = build_generator(spec)
                trained.load_state_dict(state)
                state, have = collapse_state(trained), {**have, "block": "conv"}
            try:  # a deeper copy of a trained compact net: identity convs inserted, same output
                state = deepen_state(state, int(have.get("convs", 8)), int(want["convs"]), str(want.get("act", "prelu")))
            except ValueError as exc:
                raise ConfigError(f"--init {weights}: {exc}") from exc
            have = {**have, "convs": want["convs"]}  # a plain net stays plain: expanded next if the recipe wants ECB
        if (spec.arch == self.spec.arch and spec.scale == self.spec.scale and have.get("block", "conv") == "conv"
                and want.get("block") == "ecb" and not differ("block")):
            from srstream.archs.reparam import expand_state

            # a plain net into re-parameterisable blocks: each block collapses to the plain conv
            state, have = expand_state(self.generator, state), want
        if want.get("strength") and not have.get("strength") and not differ("strength"):
            # an unconditioned net into a strength-conditioned one: zero offsets, the same output
            state = {**state, **{k: v for k, v in self.generator.state_dict().items() if "strength_offsets." in k}}
            have = want
        if (spec.arch, spec.scale, have) != (self.spec.arch, self.spec.scale, want):
            raise ConfigError(f"--init {weights}: model {spec.arch} x{spec.scale} {dict(spec.arch_params)} does not "
                              f"match the recipe's {self.spec.arch} x{self.spec.scale} {dict(self.spec.arch_params)}")
        self.generator.load_state_dict(state)

    def _enter_phase(self, index: int) -> None:
        cfg = self.recipe.phases[index]
        self.phase_index = index
        self._set_quant(cfg)
        self.phase = _Phase(cfg, self.model, self.spec, self.recipe.data.patch, self.rt)
        self.perceptual = None
        if cfg.loss.perceptual_weight:
            if self.paths.vgg_weights is None:
                raise ConfigError(f"phase {cfg.name!r} uses a perceptual loss: pass --vgg-weights PATH "
                                  "(a local torchvision-format VGG19 file; nothing is downloaded)")
            self.perceptual = losses.PerceptualLoss(self.paths.vgg_weights, cfg.loss.perceptual_layers).to(self.rt.device)

    def _set_quant(self, cfg: PhaseConfig) -> None:
        """Fake INT8 on the trained generator for a ``quant: int8`` phase, float otherwise. The
        EMA weights (shipped) stay a float net: the export quantises them, and validation scores them
        both as they are and through these roundings (:meth:`_validate`)."""
        if self._detach_quant is not None:
            self._detach_quant()
            self._detach_quant, self._quant_ranges = None, []
        if cfg.quant == "int8":
            from srstream.archs.quant import attach_fake_int8

            try:
                self._detach_quant, self._quant_ranges = attach_fake_int8(self.generator, tuple(cfg.quant_keep_float))
            except TypeError as exc:
                raise ConfigError(f"phase {cfg.name!r}: quant: int8: {exc}") from exc

    def _precision_at(self, index: int, within: int) -> str:
        """The precision of step ``within`` of phase ``index``: the run's, except that where ``precision: auto``
        chose bf16 (CPU autocast), the last ``fp32_tail`` of each phase runs in fp32.

        Why: tiny-x2-deep with the linear skip (16 x 8, 60,000-step cosine, 2-core AMD EPYC Zen 4)
        trained in bf16 sat at 37.185-37.187 dB on Set5 from step 32,500 to 40,000; resumed at
        40,000 in fp32 (lr 1.3e-4) it reached 37.235 by 42,500. bf16 is 1.6-3x faster per step
        there, so it does the bulk, and fp32 the end. Three nets that had finished their bf16
        schedules at lr 1e-6 gained at most 0.02 dB from a further fp32 stage
        (``benchmarks/results/training/fp32_stage/``), so the tail is cheap insurance, not a
        gain every run shows."""
        if self._auto_choice != "bf16" or self.rt.device.type != "cpu":
            return self.rt.precision
        steps = self.recipe.phases[index].steps
        return "fp32" if within >= steps - round(steps * self.recipe.fp32_tail) else "bf16"

    def _phase_at(self, step: int) -> tuple[int, int]:
        """(phase index, step within that phase) of global ``step``."""
        start = 0
        for i, p in enumerate(self.recipe.phases):
            if step < start + p.steps:
                return i, step - start
            start += p.steps
        return len(self.recipe.phases) - 1, self.recipe.phases[-1].steps

    # -- state ------------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        assert self.phase is not None
        return {
            "step": self.step, "phase": self.phase_index, "wall": self.wall, "precision": self.rt.precision,
            "memory_format": self.rt.memory_format,
            "auto_precision": self._auto_choice,
            "generator": self.generator.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else {},
            "phase_state": self.phase.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            # a quant: int8 phase's running activation ranges, so a resumed run rounds alike, and
            # where each sits (srstream.archs.quant.rounding_sites), so the exporter quantises at them
            "quant_ranges": [torch.stack((r.lo, r.hi)) for r in self._quant_ranges if r.hi is not None],
            "quant_sites": [[r.site[0], r.site[1]] for r in self._quant_ranges if r.hi is not None],
        }

    def _restore(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.step, self.wall = int(state["step"]), float(state["wall"])
        self._enter_phase(int(state["phase"]))
        assert self.phase is not None
        self.phase.load_state_dict(state["phase_state"])
        for rounding, saved in zip(self._quant_ranges, state.get("quant_ranges", [])):
            rounding.lo, rounding.hi = saved[0], saved[1]
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"]:
            torch.cuda.set_rng_state_all(state["cuda_rng"])

    def shipped_state(self) -> dict[str, torch.Tensor]:
        """The generator weights to ship: the EMA's when enabled."""
        if self.ema is not None:
            return {k: v for k, v in self.ema.module.state_dict().items()}
        return self.generator.state_dict()

    def _shipped_model(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.generator

    # -- the loop ---------------------------------------------------------------------------

    def _train_step(self, lr: torch.Tensor, hr: torch.Tensor, *extra: torch.Tensor) -> dict[str, float]:
        """One step on a batch laid out as :meth:`PairDataset.batch` makes it: ``extra`` is the
        teacher's target with a teacher, then the strengths for a strength-conditioned net."""
        assert self.phase is not None
        cfg, ph = self.phase.cfg.loss, self.phase
        target = extra[0] if self.data.teacher is not None else None
        strength = extra[-1].reshape(-1) if self.data.strength else None
        logs: dict[str, float] = {}
        with self.rt.autocast():
            sr = self.model(lr) if strength is None else self.model(lr, strength)
            loss = cfg.pixel_weight * losses.pixel_loss(cfg.pixel, sr.float(), hr)
            logs["pixel"] = float(loss.detach())
            if cfg.temporal_weight:
                clips = self.recipe.data.clips
                shift = clips.motion if cfg.temporal_align and clips is not None else 0
                temporal = losses.temporal_loss(sr.float(), hr, shift)
                logs["temporal"] = float(temporal.detach())
                loss = loss + cfg.temporal_weight * temporal
            if target is not None and self.recipe.teacher is not None:
                distill = losses.pixel_loss(cfg.pixel, sr.float(), target)
                logs["distill"] = float(distill.detach())
                loss = loss + self.recipe.teacher.weight * distill
            if self.perceptual is not None:
                perc = self.perceptual(sr.float(), hr)
                logs["perceptual"] = float(perc.detach())
                loss = loss + cfg.perceptual_weight * perc
            if ph.disc is not None:
                disc = _unwrap(ph.disc).requires_grad_(False)  # no DDP hooks for the G step
                fake_logits, fake_maps = disc.forward_with_features(sr)
                with torch.no_grad():
                    real_logits, real_maps = disc.forward_with_features(hr)
                adv = losses.generator_adversarial_loss(cfg.adversarial, fake_logits.float(), real_logits.float())
                logs["adversarial"] = float(adv.detach())
                loss = loss + cfg.adversarial_weight * adv
                if cfg.feature_matching_weight:
                    fm = losses.feature_matching(fake_maps, real_maps)
                    logs["feature_matching"] = float(fm.detach())
                    loss = loss + cfg.feature_matching_weight * fm
        if self.rt.backward_step(loss, ph.opt, self.model.parameters(), self.phase.cfg.optim.grad_clip):
            ph.sched.step()
        logs["loss"] = float(loss.detach())
        if ph.disc is not None:
            ph.disc.requires_grad_(True)
            with self.rt.autocast():
                d_loss = losses.discriminator_loss(cfg.adversarial, ph.disc(sr.detach()).float(), ph.disc(hr).float())
            if self.rt.backward_step(d_loss, ph.opt_d, ph.disc.parameters(),
                                     self.phase.cfg.discriminator_optim.grad_clip):
                ph.sched_d.step()
            logs["disc"] = float(d_loss.detach())
        if self.ema is not None:
            self.ema.update_parameters(self.generator)
        return logs

    def run(self, stop_at: int | None = None) -> dict[str, Any]:
        """Train to the end of the last phase (or until global step ``stop_at``, checkpointing
        there so ``--resume`` continues exactly); returns the last validation figures."""
        from tqdm import tqdm

        total = self.recipe.total_steps if stop_at is None else min(stop_at, self.recipe.total_steps)
        bar = tqdm(total=total, initial=self.step, disable=not self.rt.is_main, dynamic_ncols=True,
                   mininterval=1.0 if os.isatty(2) else 30.0, desc=self.spec.name)
        window_time, window_steps = 0.0, 0
        first = self.step + 1  # the step whose end is announced when progress is not on a terminal
        result: dict[str, Any] = {}
        fetch = partial(self.data.batch, batch=self.recipe.data.batch, rank=self.rt.rank, world=self.rt.world)
        batches = prefetched(fetch, self.step, total, workers=self.recipe.data.workers, log=self._say)
        stop, previous = self._deferred_stop()
        try:
            while self.step < total:
                index, within = self._phase_at(self.step)
                if index != self.phase_index:
                    self._enter_phase(index)
                if (precision := self._precision_at(index, within)) != self.rt.precision:
                    self.rt.precision = precision
                    self._log({"event": "precision", "step": self.step, "precision": precision})
                    if self.rt.is_main:
                        self._say(f"step {self.step}: {precision} from here (precision auto, fp32_tail "
                                  f"{self.recipe.fp32_tail})")
                started = time.perf_counter()
                tensors = next(batches)
                logs = self._train_step(*(self.rt.laid_out(t.to(self.rt.device, non_blocking=True))
                                          for t in tensors))
                self.step += 1
                elapsed = time.perf_counter() - started
                self.wall += elapsed
                window_time, window_steps = window_time + elapsed, window_steps + 1
                bar.update(1)
                if self.step == first and self.rt.is_main and not os.isatty(2) and self.step < total:
                    self._say(f"step {self.step} done in {elapsed:.2f} s; a line every {self.recipe.log_every} steps "
                              f"in {self.paths.out / 'metrics.jsonl'}")
                if self.step % self.recipe.log_every == 0 or self.step == total:
                    it_s = window_steps / max(window_time, 1e-9)  # training steps only, not validation
                    window_time, window_steps = 0.0, 0
                    assert self.phase is not None
                    row = {"step": self.step, "phase": self.phase.cfg.name, "wall_s": round(self.wall, 2),
                           "it_s": round(it_s, 3), "lr": self.phase.opt.param_groups[0]["lr"],
                           **{k: round(v, 6) for k, v in logs.items()}}
                    bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()})
                    self._log(row)
                if self.step % self.recipe.val_every == 0 or self.step == total:
                    result = self._validate()
                if self.step % self.recipe.ckpt_every == 0 or self.step == total:
                    self._checkpoint(result)
                elif stop:  # Ctrl-C, SIGTERM or SIGHUP during the step: its end kept, then stopped
                    self._checkpoint(result)
                if stop and self.step < total:
                    bar.close()
                    self._say(f"stopped at step {self.step} of {total}, checkpoint kept in "
                              f"{self.paths.out / 'checkpoints'}: the same command with --resume continues from there")
                    raise Interrupted(stop[0])
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            batches.close()  # stops the batch thread or worker processes, on Ctrl-C too
        bar.close()
        return result

    def _deferred_stop(self) -> tuple[list[int], dict[int, Any]]:
        """Ctrl-C, SIGTERM or SIGHUP in a one-process run stops it at the end of the step in flight,
        with a checkpoint there (a step cut in half would leave the weights half-updated), where they
        lost every step since the last checkpoint (up to ``ckpt_every``); a second signal stops it at
        once. Returns the list the signal is put in and the handlers replaced (none in a DDP run,
        whose processes must stop at one step, or off the main thread)."""
        stop: list[int] = []
        if self.rt.world != 1 or threading.current_thread() is not threading.main_thread():
            return stop, {}

        def defer(signum: int, frame: object) -> None:
            note_signal(signum)
            if stop:
                raise Interrupted(signum)
            stop.append(signum)
            self._say("stopping when the step in flight ends, to keep a checkpoint there (again to stop at once, "
                      "without it)")

        previous = {}
        for name in ("SIGINT", "SIGTERM", "SIGHUP"):
            if (signum := getattr(signal, name, None)) is not None:
                previous[signum] = signal.signal(signum, defer)
        return stop, previous

    def _log(self, row: dict[str, Any]) -> None:
        """Append ``row`` (plus the Unix time, so elapsed time including validation is known)."""
        if self.rt.is_main:
            with open(self.paths.out / "metrics.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps({**row, "time": round(time.time(), 3)}) + "\n")

    def _validate(self) -> dict[str, Any]:
        if self.val is None:
            return {}
        model = self._shipped_model()
        psnr, ssim, outputs = self.val.evaluate_model(model, self.rt.device)
        row = {"step": self.step, "wall_s": round(self.wall, 2), "val_psnr_y": round(psnr, 4),
               "val_ssim_y": round(ssim, 5), "bicubic_psnr_y": round(self.val.bicubic[0], 4)}
        if self._quant_ranges and self.ema is not None and all(r.hi is not None for r in self._quant_ranges):
            # a quant: int8 phase: the EMA weights through the same roundings, at the trained
            # net's activation ranges, i.e. about what the INT8 graph will score (the float score
            # falls as QAT goes on; this one is what ships, and it can peak early)
            from srstream.archs.quant import rounded_as

            assert self.phase is not None
            with rounded_as(model, self._quant_ranges, tuple(self.phase.cfg.quant_keep_float)) as net:
                psnr8, ssim8, _ = self.val.evaluate_model(net, self.rt.device)
            row.update(val_psnr_y_int8=round(psnr8, 4), val_ssim_y_int8=round(ssim8, 5))
        self._log(row)
        pair = self.val.pairs[0]
        write_png(self.paths.out / "samples" / f"step_{self.step:07d}.png",
                  comparison_strip(pair.lr, pair.hr, outputs[0], self.spec.scale))
        return row

    def _checkpoint(self, result: dict[str, Any]) -> None:
        if not self.rt.is_main:
            self.rt.barrier()
            return
        metrics = {}
        if "val_psnr_y" in result and self.paths.val is not None:
            tag = f"{self.paths.val.name.lower()}_x{self.spec.scale}"
            metrics = {f"{tag}_psnr_y": result["val_psnr_y"], f"{tag}_ssim_y": result["val_ssim_y"]}
        spec = ModelSpec.from_dict({**self.spec.to_dict(), "metrics": metrics})
        ckpt.save_checkpoint(self.paths.out, self.step, spec, self.shipped_state(), self._state(),
                             keep_weights_every=self.recipe.keep_weights_every)
        self.rt.barrier()

