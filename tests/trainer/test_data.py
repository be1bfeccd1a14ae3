"""The data pipeline: cache, seeded samples, MATLAB-bicubic LR, degradations."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs torch (pip install 'sr-stream[train]')")

from srstream.errors import InputError  # noqa: E402
from srstream.imresize import imresize  # noqa: E402
from srstream.trainer.data import ImageBank, PairDataset  # noqa: E402
from srstream.trainer.degrade import Degradation, build_degradations  # noqa: E402
from srstream.trainer.losses import pair_motion  # noqa: E402
from srstream.trainer.recipe import CONTENT_KIND_NAMES, ClipConfig, DegradationConfig  # noqa: E402


def test_bank_is_built_once_and_reused(hr_folder: Path, tmp_path: Path) -> None:
    bank = ImageBank([hr_folder], tmp_path)
    assert len(bank) == 6 and bank.image(0).shape == (80, 96, 3)
    built = bank.path.stat().st_mtime_ns
    again = ImageBank([hr_folder], tmp_path)
    assert again.path == bank.path and again.path.stat().st_mtime_ns == built
    np.testing.assert_array_equal(again.image(3), bank.image(3))
    assert len(ImageBank([hr_folder], tmp_path, max_side=64).entries) == 6  # another key, rebuilt
    assert len(list(tmp_path.glob("bank-*.u8"))) == 2


def test_missing_or_empty_folders(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        ImageBank([tmp_path / "nope"], tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        ImageBank([tmp_path / "empty"], tmp_path)
    (tmp_path / "one.png").write_bytes(b"")  # a picture given for the folder: said, not "does not exist"
    with pytest.raises(InputError, match="one.png is a file: pass the folder that holds the images"):
        ImageBank([tmp_path / "one.png"], tmp_path)


def test_a_damaged_file_among_the_training_images_is_left_out_and_said(hr_folder: Path, tmp_path: Path) -> None:
    """One file that did not decode (a truncated download in a scraped set) ended the whole run
    ("is not a readable image"). It is left out, named, on the first run and on runs that reuse the
    cache; only a folder where nothing decodes is refused."""
    import shutil

    folder = tmp_path / "set"
    shutil.copytree(hr_folder, folder)
    (folder / "zz_cut.png").write_bytes((folder / sorted(p.name for p in folder.iterdir())[0]).read_bytes()[:40])
    (folder / "notes.jpg").write_text("not a picture")
    for _ in range(2):  # built, then reused
        said: list[str] = []
        bank = ImageBank([folder], tmp_path / "cache", log=said.append)
        assert len(bank) == 6 and sorted(Path(p).name for p in bank.unreadable) == ["notes.jpg", "zz_cut.png"]
        assert any("2 of 8 files did not decode and are left out (notes.jpg, zz_cut.png)" in line for line in said)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"\x89PNG")
    with pytest.raises(InputError, match="none of the 1 training images decodes"):
        ImageBank([broken], tmp_path / "cache")


@pytest.mark.parametrize("channels", [1, 3])
def test_samples_are_deterministic_per_seed_and_index(hr_folder: Path, tmp_path: Path, channels: int) -> None:
    bank = ImageBank([hr_folder], tmp_path)
    data = PairDataset(bank, scale=2, patch=32, channels=channels, seed=5)
    lr, hr = data[17]
    assert lr.shape == (channels, 16, 16) and hr.shape == (channels, 32, 32) and lr.dtype == np.float32
    assert 0.0 <= lr.min() and lr.max() <= 1.0
    lr2, hr2 = PairDataset(bank, scale=2, patch=32, channels=channels, seed=5)[17]
    np.testing.assert_array_equal(lr, lr2)
    np.testing.assert_array_equal(hr, hr2)
    other = PairDataset(bank, scale=2, patch=32, channels=channels, seed=6)[17][1]
    assert not np.array_equal(hr, other)
    lr_b, hr_b = data.batch(3, 4, rank=1, world=2)
    np.testing.assert_array_equal(hr_b[0], data[(3 * 2 + 1) * 4][1])  # disjoint slice per rank


def test_lr_is_matlab_bicubic_of_the_hr_patch(hr_folder: Path, tmp_path: Path) -> None:
    """Away from the patch border the LR equals MATLAB-bicubic of the HR with context."""
    data = PairDataset(ImageBank([hr_folder], tmp_path), scale=2, patch=32, flips=False, rot90=False, seed=1)
    lr, hr = data[0]
    hr_u8 = np.round(hr.transpose(1, 2, 0) * 255)
    expected = np.floor(np.clip(imresize(hr_u8, 0.5), 0, 255) + 0.5) / 255
    np.testing.assert_allclose(lr.transpose(1, 2, 0)[4:-4, 4:-4], expected[4:-4, 4:-4], atol=1e-6)


@pytest.mark.parametrize("scale", [2, 4])
def test_clean_pairs_cut_from_cached_lr_equal_pairs_downscaled_per_crop(hr_folder: Path, tmp_path: Path,
                                                                      scale: int) -> None:
    """The clean-bicubic path cuts each patch's LR from its image's LR, made once per sampling
    phase; with flips, turns and odd offsets it gives the very batches downscaling each crop did."""
    bank = ImageBank([hr_folder], tmp_path)
    data = PairDataset(bank, scale=scale, patch=8 * scale, channels=3, seed=9)
    assert data.low_res is not None
    cached = [data.batch(step, 8) for step in range(6)]
    assert len(data.low_res.made) > 4  # several images and phases were made
    kept = sorted(data.low_res.folder.glob("*.npy"))
    assert len(kept) == len(data.low_res.made) and not list(data.low_res.folder.glob("*.tmp*"))
    again = PairDataset(ImageBank([hr_folder], tmp_path), scale=scale, patch=8 * scale, channels=3, seed=9)
    reread = [again.batch(step, 8) for step in range(6)]  # a later run maps the kept files instead
    assert all(isinstance(a, np.memmap) for a in again.low_res.made.values())
    data.low_res = None
    for got, kept_got, want in zip(cached, reread, (data.batch(step, 8) for step in range(6))):
        for k in (0, 1):
            np.testing.assert_array_equal(got[k], want[k])
            np.testing.assert_array_equal(kept_got[k], want[k])


def test_cached_lr_works_where_its_folder_cannot_be_written(hr_folder: Path, tmp_path: Path) -> None:
    bank = ImageBank([hr_folder], tmp_path)
    data = PairDataset(bank, scale=2, patch=16, channels=3, seed=3)
    data.low_res.folder.write_text("a file where the folder should be")
    first = data.batch(0, 4)
    assert data.low_res.made and data.low_res.folder.is_file()
    data.low_res = None
    np.testing.assert_array_equal(first[0], data.batch(0, 4)[0])


def test_degraded_or_clip_samples_downscale_each_crop(hr_folder: Path, tmp_path: Path) -> None:
    bank = ImageBank([hr_folder], tmp_path)
    noisy = [Degradation(DegradationConfig("noise", (1, 2)))]
    assert PairDataset(bank, scale=2, patch=16, degradations=noisy).low_res is None
    assert PairDataset(bank, scale=2, patch=16, clips=ClipConfig(frames=2, motion=1)).low_res is None


def test_patch_too_large_for_every_image(hr_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="at least"):
        PairDataset(ImageBank([hr_folder], tmp_path), scale=4, patch=128)


@pytest.mark.parametrize(("kind", "strength"), [("blur", 1.5), ("noise", 10.0), ("jpeg", 20.0), ("codec", 40.0),
                                               ("video", 40.0)])
def test_each_degradation_changes_the_image_deterministically(kind: str, strength: float) -> None:
    step = Degradation(DegradationConfig(kind, (strength, strength)))
    image = (np.indices((24, 30)).sum(0) % 7 * 36).astype(np.uint8)[..., None].repeat(3, 2)
    out = step.apply(image, step.make_params(np.random.default_rng(0)), rng_seed=3)
    assert out.shape == image.shape and out.dtype == np.uint8 and not np.array_equal(out, image)
    np.testing.assert_array_equal(out, step.apply(image, strength, rng_seed=3))


def test_degradation_probability_and_stage() -> None:
    never = Degradation(DegradationConfig("noise", (1, 5), prob=0.0))
    assert never.make_params(np.random.default_rng(0)) is None
    assert [d.stage for d in build_degradations([DegradationConfig("blur", (1, 2)),
                                                 DegradationConfig("jpeg", (30, 90))])] == ["hr", "lr"]


def test_degraded_pipeline_is_reproducible(hr_folder: Path, tmp_path: Path) -> None:
    steps = build_degradations([DegradationConfig("blur", (0.5, 1.5)), DegradationConfig("noise", (2, 8)),
                                DegradationConfig("jpeg", (40, 90), prob=0.5)])
    bank = ImageBank([hr_folder], tmp_path)
    a = PairDataset(bank, scale=2, patch=32, degradations=steps, seed=2)
    clean = PairDataset(bank, scale=2, patch=32, seed=2)
    np.testing.assert_array_equal(a[9][0], PairDataset(bank, scale=2, patch=32, degradations=steps, seed=2)[9][0])
    np.testing.assert_array_equal(a[9][1], clean[9][1])  # HR is never degraded
    assert not np.array_equal(a[9][0], clean[9][0])


def test_a_video_frame_is_coded_from_moved_references() -> None:
    """The ``video`` degradation's frame is the P frame of a moving sequence: at the same CRF it
    differs from one intra frame, and its motion follows the seed."""
    rng = np.random.default_rng(1)
    image = cv2.GaussianBlur(rng.integers(0, 255, (32, 40, 3)).astype(np.uint8), (5, 5), 1.5)
    intra = Degradation(DegradationConfig("codec", (30, 30))).apply(image, 30.0)
    step = Degradation(DegradationConfig("video", (30, 30)))
    a, b = step.apply(image, 30.0, rng_seed=1), step.apply(image, 30.0, rng_seed=2)
    assert not np.array_equal(a, intra) and not np.array_equal(a, b)
    assert np.abs(a.astype(int) - image).mean() < 20  # still the same picture


def _clip_data(bank: ImageBank, **kwargs: object) -> PairDataset:
    return PairDataset(bank, scale=2, patch=32, seed=4, clips=ClipConfig(frames=3, motion=3, still=0.0), **kwargs)


def test_clip_samples_are_two_frames_of_one_moving_picture(hr_folder: Path, tmp_path: Path) -> None:
    """Each HR frame is the exact truth of its LR frame (MATLAB bicubic of it, away from the
    border), and the second is the first moved by whole pixels: the temporal loss's premise."""
    bank = ImageBank([hr_folder], tmp_path)
    data = _clip_data(bank)
    moved = 0
    for index in range(12):
        lr, hr = data[index]
        assert lr.shape == (2, 3, 16, 16) and hr.shape == (2, 3, 32, 32)
        for frame in range(2):
            hr_u8 = np.round(hr[frame].transpose(1, 2, 0) * 255)
            expected = np.floor(np.clip(imresize(hr_u8, 0.5), 0, 255) + 0.5) / 255
            np.testing.assert_allclose(lr[frame].transpose(1, 2, 0)[4:-4, 4:-4], expected[4:-4, 4:-4], atol=1e-6)
        shifts = [(dy, dx) for dy in range(-3, 4) for dx in range(-3, 4)
                  if np.array_equal(hr[1][:, max(0, -dy):32 - max(0, dy), max(0, -dx):32 - max(0, dx)],
                                    hr[0][:, max(0, dy):32 - max(0, -dy), max(0, dx):32 - max(0, -dx)])]
        assert shifts, f"sample {index}: the second HR frame is not the first one moved"
        assert pair_motion(torch.from_numpy(hr), 3)[0] in shifts  # what the aligned temporal loss finds
        moved += shifts != [(0, 0)]
        np.testing.assert_array_equal(lr, data[index][0])  # deterministic
    assert moved >= 6  # still=0: nearly every clip moves (a draw of (0, 0) is allowed)
    lr_b, hr_b = data.batch(2, 3)
    assert lr_b.shape == (6, 3, 16, 16) and hr_b.shape == (6, 3, 32, 32)
    np.testing.assert_array_equal(hr_b[2:4], data[2 * 3 + 1][1])  # pairs stay adjacent


def test_a_video_clip_is_encoded_as_one_sequence(hr_folder: Path, tmp_path: Path) -> None:
    """With ``video``, the LR frames are one H.264 clip: deterministic, the same picture, and
    not the frames coded one by one as intra frames."""
    steps = build_degradations([DegradationConfig("video", (34, 34))])
    bank = ImageBank([hr_folder], tmp_path)
    data, clean = _clip_data(bank, degradations=steps), _clip_data(bank)
    lr, hr = data[5]
    np.testing.assert_array_equal(hr, clean[5][1])
    assert not np.array_equal(lr, clean[5][0])
    assert np.corrcoef(lr.ravel(), clean[5][0].ravel())[0, 1] > 0.8  # still the same picture
    np.testing.assert_array_equal(lr, data[5][0])
    frames = [(np.indices((24, 30)).sum(0) * 9 % 255).astype(np.uint8)[..., None].repeat(3, 2) for _ in range(3)]
    coded = Degradation(DegradationConfig("video", (34, 34))).apply_clip(frames, 34.0)
    intra = Degradation(DegradationConfig("codec", (34, 34))).apply_clip(frames, 34.0)
    assert len(coded) == 3 and all(f.shape == frames[0].shape and f.dtype == np.uint8 for f in coded)
    assert not np.array_equal(coded[2], intra[2])


def test_clips_need_room_for_the_motion_and_no_teacher(hr_folder: Path, tmp_path: Path) -> None:
    from srstream.trainer.recipe import ClipConfig

    bank = ImageBank([hr_folder], tmp_path)  # 80x96 images
    with pytest.raises(InputError, match="at least"):
        PairDataset(bank, scale=2, patch=64, clips=ClipConfig(frames=3, motion=5))  # 64 + 2 * 4 + 2 * 5 > 80
    PairDataset(bank, scale=2, patch=64, clips=ClipConfig(frames=3, motion=4))  # 80: just fits
    with pytest.raises(ValueError, match="teacher"):
        PairDataset(bank, scale=2, patch=32, clips=ClipConfig(), teacher=object())


def test_samples_carry_the_strength_their_decoder_saw(hr_folder: Path, tmp_path: Path) -> None:
    """With ``strength``, every sample ends with the strength of the quantiser the H.264 decoder
    reported for it (:func:`srstream.strength.from_qp`): 0 without an H.264 step, higher for a
    higher CRF, the same for both frames of a pair; the images are those made without it."""
    from srstream.strength import from_qp

    bank = ImageBank([hr_folder], tmp_path)
    clean = _clip_data(bank, strength=True)
    lr, hr, s = clean[3]
    assert s.dtype == np.float32 and s.shape == (2,) and np.all(s == 0)
    np.testing.assert_array_equal(lr, _clip_data(bank)[3][0])
    means = []
    for crf in (20, 44):
        data = _clip_data(bank, strength=True, degradations=build_degradations([DegradationConfig("video", (crf, crf))]))
        strengths = np.stack([data[i][2] for i in range(6)])
        assert np.all(strengths[:, 0] == strengths[:, 1]) and np.all((strengths > 0) & (strengths <= 1))
        means.append(strengths.mean())
        lr_b, hr_b, s_b = data.batch(1, 3)
        assert s_b.reshape(-1).shape == (6,)
    assert means[1] > means[0] + 0.3
    qps: list[float] = []
    image = cv2.GaussianBlur(np.random.default_rng(2).integers(0, 255, (48, 48, 3)).astype(np.uint8), (5, 5), 1.5)
    Degradation(DegradationConfig("video", (30, 30))).apply(image, 30.0, rng_seed=1, qps=qps)
    assert len(qps) == 1 and 0.0 < from_qp(qps[0]) < 1.0
    single = PairDataset(bank, scale=2, patch=32, seed=4, strength=True,
                         degradations=build_degradations([DegradationConfig("codec", (30, 30))]))
    assert single[0][2].shape == (1,) and 0.0 < single[0][2][0] < 1.0


@pytest.mark.parametrize("kind", CONTENT_KIND_NAMES)
def test_content_samples_are_exact_pairs_of_made_content(hr_folder: Path, tmp_path: Path, kind: str) -> None:
    """``content`` changes the HR itself (the LR stays MATLAB bicubic of it), in its own way per
    kind, deterministically, and leaves the other draws (crop, flips, degradations) as without it;
    a clip's frames are windows of one made picture, moved by whole pixels."""
    from srstream.trainer.content import make_content
    from srstream.trainer.recipe import ContentConfig

    bank = ImageBank([hr_folder], tmp_path)
    made = PairDataset(bank, scale=2, patch=32, seed=3, flips=False, rot90=False, content=[ContentConfig(kind, 1.0)])
    plain = PairDataset(bank, scale=2, patch=32, seed=3, flips=False, rot90=False)
    changed = 0
    for index in range(6):
        lr, hr = made[index]
        hr_u8 = np.round(hr.transpose(1, 2, 0) * 255)
        expected = np.floor(np.clip(imresize(hr_u8, 0.5), 0, 255) + 0.5) / 255
        np.testing.assert_allclose(lr.transpose(1, 2, 0)[4:-4, 4:-4], expected[4:-4, 4:-4], atol=1e-6)
        changed += not np.array_equal(hr, plain[index][1])
        np.testing.assert_array_equal(hr, made[index][1])
    assert changed >= 5
    region = bank.image(0)[:60, :60]
    out = make_content(kind, region, np.random.default_rng(1))
    assert out.shape == region.shape and out.dtype == np.uint8 and not np.array_equal(out, region)
    if kind == "desktop":  # what the engine takes for a screen recording, at a video's size
        import cv2

        from srstream.engine.screen import look

        photo = np.ascontiguousarray(cv2.resize(bank.image(0), (640, 360)))
        seen = [look(cv2.cvtColor(make_content(kind, photo, np.random.default_rng(i)), cv2.COLOR_RGB2GRAY))
                for i in range(10)]
        assert sum(s.screen for s in seen) >= 7 and not look(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)).screen
    if kind == "pixelart":  # blocks: far fewer distinct rows than the photo's
        assert len(np.unique(out.reshape(60, -1), axis=0)) < 0.6 * len(np.unique(region.reshape(60, -1), axis=0))
    clip = _clip_data(bank, content=[ContentConfig(kind, 1.0)])
    lr, hr = clip[4]
    shifts = [(dy, dx) for dy in range(-3, 4) for dx in range(-3, 4)
              if np.array_equal(hr[1][:, max(0, -dy):32 - max(0, dy), max(0, -dx):32 - max(0, dx)],
                                hr[0][:, max(0, dy):32 - max(0, -dy), max(0, dx):32 - max(0, -dx)])]
    assert shifts and not np.array_equal(hr, _clip_data(bank)[4][1])


def test_content_kinds_share_the_samples(hr_folder: Path, tmp_path: Path) -> None:
    from srstream.errors import ConfigError
    from srstream.trainer.content import CONTENT_KINDS, choose
    from srstream.trainer.recipe import ContentConfig, DataConfig

    kinds = [choose([ContentConfig("cartoon", 0.3), ContentConfig("screen", 0.2)], np.random.default_rng(i))
             for i in range(2000)]
    assert abs(kinds.count("cartoon") / 2000 - 0.3) < 0.04 and abs(kinds.count("screen") / 2000 - 0.2) < 0.04
    assert abs(kinds.count(None) / 2000 - 0.5) < 0.04
    with pytest.raises(ConfigError, match="add up"):
        DataConfig(content=(ContentConfig("cartoon", 0.7), ContentConfig("screen", 0.4)))
    with pytest.raises(ConfigError, match="kind"):
        ContentConfig("anime", 0.5)
    assert sorted(CONTENT_KINDS) == sorted(CONTENT_KIND_NAMES)  # every kind a recipe may name is made
    with pytest.raises(ValueError, match="teacher"):
        PairDataset(ImageBank([hr_folder], tmp_path), scale=2, patch=32, content=[ContentConfig("screen", 1.0)],
                    teacher=object())


def test_channel_order_permutes_both_crops_alike_and_leaves_other_runs_as_they_were(hr_folder: Path,
                                                                                  tmp_path: Path) -> None:
    """``channel_order`` reorders a sample's colour channels, the LR's as the HR's (the pair stays a
    bicubic pair); off, it draws nothing, so a run without it gets the samples it got before."""
    bank = ImageBank([hr_folder], tmp_path)
    plain = PairDataset(bank, scale=2, patch=16, seed=4, flips=False, rot90=False)
    always = PairDataset(bank, scale=2, patch=16, seed=4, flips=False, rot90=False, channel_order=1.0)
    moved = 0
    for i in range(12):
        (lr, hr), (lr_p, hr_p) = plain[i], always[i]
        # the same crop (its position is drawn before the order): each channel is one of the plain run's
        for a, b in ((lr, lr_p), (hr, hr_p)):
            assert sorted(map(tuple, b.reshape(3, -1).round(6))) == sorted(map(tuple, a.reshape(3, -1).round(6)))
        order = [next(k for k in range(3) if np.array_equal(hr_p[c], hr[k])) for c in range(3)]
        np.testing.assert_array_equal(lr_p, lr[order])
        moved += order != [0, 1, 2]
    assert moved >= 6
    off = PairDataset(bank, scale=2, patch=16, seed=4, flips=False, rot90=False, channel_order=0.0)
    np.testing.assert_array_equal(off[5][1], plain[5][1])
    with pytest.raises(ValueError, match="probability"):
        PairDataset(bank, scale=2, patch=16, channel_order=1.5)
