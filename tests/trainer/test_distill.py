"""Distillation: the teacher's targets are computed once per image, aligned with every patch
(crop, flips, rotation), and the trainer adds their loss."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs torch (pip install 'sr-stream[train]')")

from srstream.errors import ConfigError  # noqa: E402
from srstream.trainer.data import ImageBank, PairDataset  # noqa: E402
from srstream.trainer.distill import TeacherBank  # noqa: E402
from srstream.trainer.loop import RunPaths, Trainer  # noqa: E402
from srstream.trainer.recipe import load_recipe  # noqa: E402
from tests.onnx_models import nearest_x2_spec, write_nearest_x2  # noqa: E402


@pytest.fixture
def nearest_teacher(tmp_path: Path) -> Path:
    """A real ONNX x2 'teacher' whose output is known: nearest-neighbour upscaling."""
    return write_nearest_x2(tmp_path / "nearest.onnx", nearest_x2_spec())


def test_teacher_targets_line_up_with_every_patch(hr_folder: Path, tmp_path: Path, nearest_teacher: Path) -> None:
    bank = ImageBank([hr_folder], tmp_path / "cache")
    teacher = TeacherBank(bank, nearest_teacher, 2, tmp_path / "cache", log=lambda _: None)
    assert teacher.image(0).shape == bank.image(0).shape
    data = PairDataset(bank, scale=2, patch=24, channels=3, teacher=teacher, seed=3)
    for i in range(12):  # flips and rotations are drawn at random per sample
        lr, hr, target = data[i]
        assert target.shape == hr.shape
        nearest = np.repeat(np.repeat(lr, 2, axis=1), 2, axis=2)
        # the patch's LR (made from the crop) and the teacher's (made from the whole image) agree
        assert np.abs(nearest - target).max() <= 1.5 / 255, i
    lr, hr, target = data.batch(0, 5)
    assert lr.shape == (5, 3, 12, 12) and target.shape == hr.shape == (5, 3, 24, 24)
    again = TeacherBank(bank, nearest_teacher, 2, tmp_path / "cache", log=lambda _: pytest.fail("rebuilt"))
    assert np.array_equal(again.image(1), teacher.image(1))  # cached


def test_the_ensemble_of_an_equivariant_teacher_changes_nothing(hr_folder: Path, tmp_path: Path,
                                                                 nearest_teacher: Path) -> None:
    bank = ImageBank([hr_folder], tmp_path / "cache")
    plain = TeacherBank(bank, nearest_teacher, 2, tmp_path / "cache", log=lambda _: None)
    ensemble = TeacherBank(bank, nearest_teacher, 2, tmp_path / "cache", ensemble=True, log=lambda _: None)
    assert plain.path != ensemble.path and np.array_equal(plain.image(2), ensemble.image(2))


def test_trainer_adds_the_distillation_loss(hr_folder: Path, tmp_path: Path, nearest_teacher: Path) -> None:
    recipe = load_recipe("tiny", ["phases.0.steps=6", "phases.1.steps=2", f"teacher.path={nearest_teacher}",
                                  "teacher.weight=0.5"])
    Trainer(recipe, RunPaths(data=(hr_folder,), out=tmp_path / "run", cache=tmp_path / "cache")).run()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "loss" in r]
    assert steps and all("distill" in r for r in steps)
    first = steps[0]
    assert first["loss"] == pytest.approx(first["pixel"] + 0.5 * first["distill"], rel=1e-4)


def test_teacher_of_another_scale_is_refused(hr_folder: Path, tmp_path: Path, nearest_teacher: Path) -> None:
    bank = ImageBank([hr_folder], tmp_path / "cache")
    with pytest.raises(ConfigError, match="teacher .* upscales x2; the student is x4"):
        TeacherBank(bank, nearest_teacher, 4, tmp_path / "cache", log=lambda _: None)
    with pytest.raises(ConfigError, match="unknown keys"):
        load_recipe("tiny", ["teacher={path: a, strength: 1}"])
