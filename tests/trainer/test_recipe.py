"""Recipes parse strictly into dataclasses; overrides use safe YAML scalars."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("yaml", reason="needs PyYAML (pip install 'sr-stream[train]')")

from srstream.errors import ConfigError  # noqa: E402
from srstream.trainer.recipe import bundled_recipes, load_recipe  # noqa: E402


def test_every_bundled_recipe_parses() -> None:
    names = bundled_recipes()
    assert {"tiny", "realtime_x2", "realtime_x4", "srresnet_x4", "srgan_x4", "esrgan_x4"} <= set(names)
    for name in names:
        recipe = load_recipe(name)
        assert recipe.total_steps > 0 and recipe.data.patch % recipe.model.scale == 0


def test_overrides_are_typed_and_nested() -> None:
    recipe = load_recipe("tiny", ["phases.0.steps=7", "data.batch=2", "ema=0", "phases.1.loss.adversarial=vanilla",
                                  "model.params.features=4"])
    assert recipe.phases[0].steps == 7 and recipe.data.batch == 2 and recipe.ema == 0.0
    assert recipe.phases[1].loss.adversarial == "vanilla" and recipe.model.params["features"] == 4


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.batchsize=3", "unknown keys"),
        ("phases.0.steps=many", "expected int"),
        ("phases.0.loss.pixel=l3", "expected l1, mse or charbonnier"),
        ("precision=fp8", "invalid precision"),
        ("data.patch=33", "multiple of scale"),
        ("nonsense", "KEY.PATH=VALUE"),
        ("phases.9.steps=1", "--set"),
        ("phases.0.optim.betas=[0.9]", "expected 2 items"),
        ("val_every=0", "val_every must be >= 1"),  # training crashed after its first step (modulo by zero)
        ("log_every=0", "log_every must be >= 1"),
        ("ckpt_every=-1", "ckpt_every must be >= 1"),  # a checkpoint every step
    ],
)
def test_bad_overrides_raise(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_recipe("tiny", [override])


def test_unknown_recipe_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown recipe 'nope'; bundled: "):
        load_recipe("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_recipe(str(bad))
    with pytest.raises(ConfigError, match="cannot read"):
        load_recipe(str(tmp_path / "missing.yaml"))


def test_yaml_is_never_executed(tmp_path: Path) -> None:
    evil = tmp_path / "evil.yaml"
    evil.write_text("model: !!python/object/apply:os.system ['echo pwned']\nphases: []\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_recipe(str(evil))


def test_temporal_loss_needs_clips_and_clips_exclude_a_teacher() -> None:
    recipe = load_recipe("tiny", ["data.clips={frames: 3, motion: 2}", "phases.0.loss.temporal_weight=0.5"])
    assert recipe.data.clips is not None and recipe.data.clips.motion == 2
    assert recipe.phases[0].loss.temporal_weight == 0.5
    with pytest.raises(ConfigError, match="needs data.clips"):
        load_recipe("tiny", ["phases.0.loss.temporal_weight=0.5"])
    with pytest.raises(ConfigError, match="teacher"):
        load_recipe("tiny", ["data.clips={}", "teacher={path: t.onnx, weight: 1.0}"])
    with pytest.raises(ConfigError, match="frames >= 2"):
        load_recipe("tiny", ["data.clips={frames: 1}"])
