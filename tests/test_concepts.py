"""The concept world: many independent glyph concepts with Zipf-Mandelbrot frequencies."""

from __future__ import annotations

import re

import numpy as np
import pytest

from scalecmp.errors import UsageError
from scalecmp.experiments.concepts import (
    ConceptWorld,
    concept_frequencies,
    concept_names,
    make_world,
)
from scalecmp.experiments.synthetic import SyntheticWorld, WorldConfig

CFG = WorldConfig(n_concepts=64, zipf_a=1.5, zipf_offset=2.0, max_objects=2, n_shapes=4,
                  seed=3)


def test_make_world_picks_the_world() -> None:
    assert type(make_world(WorldConfig())) is SyntheticWorld
    assert isinstance(make_world(CFG), ConceptWorld)


def test_bad_knobs_are_one_line_errors() -> None:
    with pytest.raises(UsageError, match="n_concepts"):
        WorldConfig(n_concepts=-1)
    with pytest.raises(UsageError, match="zipf_offset"):
        WorldConfig(n_concepts=8, zipf_offset=-1.0)
    with pytest.raises(UsageError, match="max_objects"):
        WorldConfig(n_concepts=8, max_objects=5)


def test_names_are_distinct_words() -> None:
    names = concept_names(4900)
    assert len(set(names)) == 4900 and all(n.isalpha() and len(n) >= 4 for n in names)


def test_frequencies_follow_zipf_mandelbrot() -> None:
    p = concept_frequencies(100, 1.5, 2.0)
    assert p.sum() == pytest.approx(1.0)
    k = np.arange(100)
    assert p[k] / p[0] == pytest.approx(((k + 3.0) / 3.0) ** -1.5)


def test_training_stream_draws_concepts_at_their_frequencies() -> None:
    world = make_world(CFG)
    batch = world.train_batch(0, 20000)
    ids = batch.shapes[batch.shapes >= 0]
    counts = np.bincount(ids, minlength=64) / ids.size
    p = concept_frequencies(64, 1.5, 2.0)
    assert np.abs(counts - p).max() < 0.01
    assert set(np.unique(batch.n_objects)) == {1, 2}


def test_glyphs_are_distinct_and_drawn_from_the_seed() -> None:
    a, b = make_world(CFG), make_world(WorldConfig(**{**CFG.__dict__, "seed": 4}))
    g = a.glyphs
    assert g.shape == (64, 4, 4)
    assert len({x.tobytes() for x in g}) == 64
    assert ((g.sum(axis=(1, 2)) >= 6) & (g.sum(axis=(1, 2)) <= 10)).all()
    assert not np.array_equal(g, b.glyphs)


def test_same_position_same_sample_however_batched() -> None:
    world = make_world(CFG)
    whole = world.train_batch(0, 64)
    parts = [world.train_batch(i, 16) for i in range(0, 64, 16)]
    assert np.array_equal(whole.images, np.concatenate([p.images for p in parts]))
    assert whole.captions == [c for p in parts for c in p.captions]


def test_captions_name_the_concepts_drawn_and_nothing_else() -> None:
    world = make_world(CFG)
    batch = world.train_batch(0, 200)
    names = world.concept_names
    words = set(world.caption_words())
    for i, caption in enumerate(batch.captions):
        drawn = [names[k] for k in batch.shapes[i] if k >= 0]
        tokens = re.findall(r"[a-z]+|,", caption)
        assert all(n in tokens for n in drawn)
        assert set(tokens) <= words


def test_glyph_pixels_carry_the_concept_group() -> None:
    world = make_world(CFG)
    batch = world.train_batch(0, 50)
    for i in range(50):
        groups = {1 + int(k) % CFG.n_shapes for k in batch.shapes[i] if k >= 0}
        assert set(np.unique(batch.labels[i])) - {0} == groups


def test_tasks() -> None:
    world = make_world(CFG)
    cls = world.classification_task(4)
    assert cls.images.shape == (256, 32, 32, 3) and cls.classnames == world.concept_names
    seen = np.bincount(cls.labels, minlength=64)
    assert seen[0] > seen[10] > 0  # the evaluation follows the training frequencies
    ret = world.retrieval_task(128)
    assert all(" and " in c for c in ret.captions)  # every gallery scene holds two glyphs
    seg = world.segmentation_task(16, 8)
    assert seg.n_classes == CFG.n_shapes + 1 and seg.train_masks.max() <= CFG.n_shapes
