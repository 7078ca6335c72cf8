"""Tests of the synthetic image-caption world (numpy only)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import pytest

from scalecmp.errors import UsageError
from scalecmp.experiments.synthetic import (
    CLASSIFICATION_TEMPLATES,
    COLOURS,
    SHAPES,
    SyntheticWorld,
    WorldConfig,
)

PALETTE = np.array([rgb for _, rgb in COLOURS], dtype=np.float64)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+|[,.]", text)


def _nearest_colour(pixels: np.ndarray, n_colours: int) -> np.ndarray:
    d = np.abs(pixels[:, None, :].astype(np.float64) - PALETTE[None, :n_colours]).sum(-1)
    return d.argmin(1)


@pytest.fixture(scope="module")
def world() -> SyntheticWorld:
    return SyntheticWorld(WorldConfig(seed=3))


def test_shapes_and_dtypes(world: SyntheticWorld) -> None:
    b = world.train_batch(0, 17)
    assert b.images.shape == (17, 32, 32, 3) and b.images.dtype == np.uint8
    assert b.masks.shape == (17, 32, 32) and b.masks.dtype == np.int64
    assert len(b.captions) == 17 and all(isinstance(c, str) and c for c in b.captions)
    big = SyntheticWorld(WorldConfig(image_size=48)).train_batch(5, 3)
    assert big.images.shape == (3, 48, 48, 3) and big.masks.shape == (3, 48, 48)


def test_same_seed_same_bytes_different_seed_differs() -> None:
    a = SyntheticWorld(WorldConfig(seed=7)).train_batch(100, 40)
    b = SyntheticWorld(WorldConfig(seed=7)).train_batch(100, 40)
    c = SyntheticWorld(WorldConfig(seed=8)).train_batch(100, 40)
    assert a.images.tobytes() == b.images.tobytes()
    assert a.captions == b.captions
    assert np.array_equal(a.masks, b.masks)
    assert not np.array_equal(a.images, c.images)
    assert a.captions != c.captions
    assert all(not np.array_equal(x, y) for x, y in zip(a.images, c.images, strict=True))


def test_stream_positions_are_batch_invariant(world: SyntheticWorld) -> None:
    whole = world.train_batch(1000, 64)
    parts = [world.train_batch(1000, 10), world.train_batch(1010, 30), world.train_batch(1040, 24)]
    assert np.array_equal(whole.images, np.concatenate([p.images for p in parts]))
    assert np.array_equal(whole.masks, np.concatenate([p.masks for p in parts]))
    assert whole.captions == sum((p.captions for p in parts), [])
    perm = np.random.default_rng(0).permutation(64)
    shuffled = world.batch(1000 + perm, split="train")
    assert np.array_equal(shuffled.images, whole.images[perm])
    assert shuffled.captions == [whole.captions[i] for i in perm]


def test_n_unique_repeats_the_stream() -> None:
    w = SyntheticWorld(WorldConfig(n_unique=50, caption_noise=0.3, seed=1))
    b = w.train_batch(0, 150)
    for k in (1, 2):
        assert np.array_equal(b.images[:50], b.images[50 * k:50 * (k + 1)])
        assert b.captions[:50] == b.captions[50 * k:50 * (k + 1)]
    assert np.array_equal(w.train_batch(1234, 5).images, b.images[34:39])
    fresh = SyntheticWorld(WorldConfig(seed=1)).train_batch(0, 150)
    assert len({img.tobytes() for img in fresh.images}) == 150
    assert len({img.tobytes() for img in b.images}) == 50


def _mentions_scene(caption: str, colours: np.ndarray, shapes: np.ndarray) -> bool:
    words = set(_words(caption))
    for c, s in zip(colours, shapes, strict=True):
        if s < 0:
            continue
        plural = "crosses" if SHAPES[s] == "cross" else SHAPES[s] + "s"
        if COLOURS[c][0] not in words or not ({SHAPES[s], plural} & words):
            return False
    return True


def test_clean_captions_describe_the_scene(world: SyntheticWorld) -> None:
    b = world.train_batch(0, 1000)
    assert not b.noisy.any()
    for cap, col, shp, n in zip(b.captions, b.colours, b.shapes, b.n_objects, strict=True):
        assert _mentions_scene(cap, col, shp), cap
        assert (shp >= 0).sum() == n
        if n > 1 and len(set(zip(col[:n], shp[:n], strict=True))) == 1 and "and" not in cap:
            assert ("two" if n == 2 else "three") in cap.split()


def test_caption_noise_share_and_mismatch() -> None:
    clean = SyntheticWorld(WorldConfig(seed=5)).train_batch(0, 4000)
    noisy = SyntheticWorld(WorldConfig(seed=5, caption_noise=0.3)).train_batch(0, 4000)
    assert np.array_equal(clean.images, noisy.images)
    share = noisy.noisy.mean()
    assert 0.27 < share < 0.33
    same = np.array([a == b for a, b in zip(clean.captions, noisy.captions, strict=True)])
    assert same[~noisy.noisy].all()
    assert (~same[noisy.noisy]).mean() > 0.9
    mentions = np.array([_mentions_scene(c, col, shp) for c, col, shp
                         in zip(noisy.captions, noisy.colours, noisy.shapes, strict=True)])
    assert mentions[~noisy.noisy].all()
    assert mentions[noisy.noisy].mean() < 0.2
    # eval scenes never get caption noise
    w = SyntheticWorld(WorldConfig(seed=5, caption_noise=1.0))
    assert not w.batch(np.arange(100), split="eval").noisy.any()


def test_masks_match_image_colours() -> None:
    w = SyntheticWorld(WorldConfig(seed=2, n_colours=6))
    b = w.train_batch(0, 600)
    single = np.nonzero(b.n_objects == 1)[0]
    assert len(single) > 100
    agree, total, err = 0, 0, []
    for i in single:
        obj = b.masks[i] > 0
        assert np.unique(b.masks[i]).tolist() == [0, b.shapes[i, 0] + 1]
        px = b.images[i][obj]
        agree += (_nearest_colour(px, 6) == b.colours[i, 0]).sum()
        total += len(px)
        err.append(np.abs(px - PALETTE[b.colours[i, 0]]).mean())
        bg = b.images[i][~obj].astype(float)
        assert np.abs(bg.mean(0) - px.mean(0)).sum() > 40  # object stands out
    assert agree / total > 0.97
    assert np.mean(err) < 20
    # mask ids only of objects in the scene; the last object is never occluded
    for i in np.nonzero(b.n_objects > 1)[0]:
        ids = set(np.unique(b.masks[i]).tolist()) - {0}
        n = b.n_objects[i]
        assert ids <= {int(s) + 1 for s in b.shapes[i, :n]}
        assert int(b.shapes[i, n - 1]) + 1 in ids


def test_occlusion_later_objects_paint_over_earlier() -> None:
    w = SyntheticWorld(WorldConfig(seed=4, n_colours=6, p_group=0.0))
    b = w.train_batch(0, 3000)
    checked, share_first = 0, []
    for i in np.nonzero(b.n_objects == 2)[0]:
        (s0, s1), (c0, c1) = b.shapes[i, :2], b.colours[i, :2]
        if s0 == s1 or c0 == c1:
            continue
        m = b.masks[i]
        assert (m == s1 + 1).sum() > 0  # the last object is never hidden
        nearest = _nearest_colour(b.images[i][m == s1 + 1], 6)
        assert (nearest == c1).mean() > 0.9
        if (m == s0 + 1).sum() > 0:  # what is left of the first object has its colour
            share_first.append((_nearest_colour(b.images[i][m == s0 + 1], 6) == c0).mean())
        checked += 1
    assert checked > 50
    assert min(share_first) > 0.8


def test_eval_split_is_disjoint_from_train(world: SyntheticWorld) -> None:
    train = world.train_batch(0, 3000)
    train_keys = {img.tobytes() for img in train.images}
    ev = world.batch(np.arange(3000), split="eval")
    assert not train_keys & {img.tobytes() for img in ev.images}
    tasks = [world.retrieval_task(200).images, world.classification_task(2).images]
    seg = world.segmentation_task(100, 100)
    tasks += [seg.train_images, seg.test_images]
    for images in tasks:
        assert not train_keys & {img.tobytes() for img in images}
    assert not {i.tobytes() for i in seg.train_images} & {i.tobytes() for i in seg.test_images}
    with pytest.raises(UsageError):
        world.batch([0, 1], split="test")


def test_generation_speed() -> None:
    w = SyntheticWorld(WorldConfig(seed=0))
    w.train_batch(0, 100)  # warm-up (noise bank)
    t0 = time.perf_counter()
    for k in range(10):
        w.train_batch(k * 2000, 2000)
    elapsed = time.perf_counter() - t0
    assert elapsed < 5.0, f"20,000 images took {elapsed:.2f} s"


def test_captions_vary() -> None:
    b = SyntheticWorld(WorldConfig(seed=0)).train_batch(0, 2000)
    assert len(set(b.captions)) > 300
    vocab = {name for name, _ in COLOURS} | set(SHAPES) | {s + "s" for s in SHAPES} | {
        "crosses", "small", "little", "medium", "large", "big", "one", "two", "three"}
    skeletons = {" ".join("X" if w in vocab else w for w in _words(c)) for c in b.captions}
    assert len(skeletons) > 30
    single = [c for c, n in zip(b.captions, b.n_objects, strict=True) if n == 1]
    starts = Counter(c.split()[0] for c in single)
    assert len(starts) >= 4  # word order varies (position first, "a photo of", ...)
    assert not [c for c in b.captions if re.search(r"\ba [aeiou]|\ban [^aeiou]", c)]


def test_attributes_have_a_long_tail() -> None:
    cfg = WorldConfig(seed=0, n_shapes=6, n_colours=6)
    b = SyntheticWorld(cfg).train_batch(0, 20000)
    present = b.shapes >= 0
    combos = Counter(zip(b.colours[present].tolist(), b.shapes[present].tolist(), strict=True))
    assert len(combos) == 36
    counts = sorted(combos.values())
    assert counts[-1] > 10 * counts[0]
    flat = SyntheticWorld(WorldConfig(seed=0, n_shapes=6, n_colours=6, zipf_a=0.0))
    fb = flat.train_batch(0, 20000)
    shape_counts = np.bincount(fb.shapes[fb.shapes >= 0], minlength=6)
    assert shape_counts.max() < 1.15 * shape_counts.min()
    assert np.bincount(b.n_objects)[1] > np.bincount(b.n_objects)[3]


def test_caption_words_cover_everything() -> None:
    w = SyntheticWorld(WorldConfig(seed=0, n_shapes=12, n_colours=12, caption_noise=0.5))
    words = set(w.caption_words())
    texts = w.train_batch(0, 3000).captions + list(w.retrieval_task(500).captions)
    task = w.classification_task(1)
    texts += [t.format(c) for c in task.classnames for t in task.templates]
    used = set().union(*(_words(t) for t in texts))
    assert used <= words, used - words
    assert {"circle", "hexagon", "black", "crosses"} <= words
    small = set(SyntheticWorld(WorldConfig(n_shapes=2, n_colours=2)).caption_words())
    assert "hexagon" not in small and "black" not in small


def test_classification_task_consistent() -> None:
    cfg = WorldConfig(seed=1, n_shapes=5, n_colours=6)
    w = SyntheticWorld(cfg)
    task = w.classification_task(4)
    assert len(task.classnames) == 30 and task.images.shape == (120, 32, 32, 3)
    assert np.array_equal(np.bincount(task.labels), np.full(30, 4))
    assert all("{}" in t for t in task.templates) and task.templates == CLASSIFICATION_TEMPLATES
    for label, name in enumerate(task.classnames):
        colour, shape = name.split()
        assert colour == COLOURS[label // 5][0] and shape == SHAPES[label % 5]
    hits = 0
    for img, label in zip(task.images, task.labels, strict=True):
        px = img.reshape(-1, 3).astype(float)
        far = np.abs(px - np.median(px, axis=0)).sum(1) > 90
        colour = Counter(_nearest_colour(px[far], 6).tolist()).most_common(1)[0][0]
        hits += colour == label // 5
    assert hits / len(task.labels) > 0.9
    again = SyntheticWorld(cfg).classification_task(4)
    assert np.array_equal(task.images, again.images)


def test_retrieval_and_segmentation_tasks() -> None:
    w = SyntheticWorld(WorldConfig(seed=2, caption_noise=0.9))
    ret = w.retrieval_task(300)
    ev = w.batch(np.arange(300), split="eval")
    assert np.array_equal(ret.images, ev.images)
    assert len(ret.captions) == 300 and len(set(ret.captions)) > 200
    for cap, col, shp in zip(ret.captions, ev.colours, ev.shapes, strict=True):
        assert _mentions_scene(cap, col, shp), cap
    seg = w.segmentation_task(40, 30)
    assert seg.train_images.shape == (40, 32, 32, 3) and seg.test_masks.shape == (30, 32, 32)
    assert seg.train_masks.dtype == np.int64 and seg.n_classes == 9
    assert seg.class_names[0] == "background" and len(seg.class_names) == 9
    assert seg.train_masks.max() < 9 and seg.train_masks.min() == 0
    assert (seg.test_masks > 0).mean() > 0.05


def test_captions_without_positions() -> None:
    """caption_positions=False: the same scenes and pixels, captions without position
    phrases, and the rest of each caption as before."""
    from scalecmp.experiments.synthetic import POSITIONS

    on = SyntheticWorld(WorldConfig(seed=4, max_objects=3))
    off = SyntheticWorld(WorldConfig(seed=4, max_objects=3, caption_positions=False))
    b_on, b_off = on.train_batch(0, 400), off.train_batch(0, 400)
    assert np.array_equal(b_on.images, b_off.images)
    assert np.array_equal(b_on.masks, b_off.masks)
    phrase = re.compile("|".join(r"\b" + p + r"\b" for p in ("corner", "centre", "top",
                                                            "bottom", "left", "right")))
    assert sum(bool(phrase.search(c)) for c in b_on.captions) > 100
    ret = off.retrieval_task(200).captions
    for cap in [*b_off.captions, *ret]:
        assert not phrase.search(cap), cap
        assert cap == " ".join(cap.split()) and not cap.startswith(","), cap
    for cap, col, shp in zip(b_off.captions, b_off.colours, b_off.shapes, strict=True):
        assert _mentions_scene(cap, col, shp), cap
    assert len(POSITIONS) == 9


def test_config_validation() -> None:
    for bad in ({"n_shapes": 0}, {"n_colours": 13}, {"max_objects": 10},
                {"caption_noise": 1.5}, {"n_unique": 0}, {"image_size": 4},
                {"caption_positions": "no"}):
        with pytest.raises(UsageError):
            WorldConfig(**bad)
    with pytest.raises(UsageError):
        SyntheticWorld().batch([-1])


def test_module_does_not_import_torch() -> None:
    code = ("import sys, scalecmp.experiments.synthetic as s; "
            "s.SyntheticWorld().train_batch(0, 4); assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
