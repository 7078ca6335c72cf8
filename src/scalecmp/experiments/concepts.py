"""A synthetic world of many independent concepts with Zipfian frequencies (numpy only).

Why: in the shape world (:mod:`scalecmp.experiments.synthetic`) every metric rests on a
handful of skills (a colour, a shape, where the object is), each learnt within one doubling
of samples, so the measured curves are staircases, not power laws (BENCHMARKS.md, 7b).
Smooth power laws arise when a metric averages many skills learnt at spread-out times
(Michaud et al. 2023, "The Quantization Model of Neural Scaling"; Hutter 2021, "Learning
Curve Theory"). Here each object is one of ``n_concepts`` *concepts*: a random glyph (a
4 x 4 binary pattern, drawn from the world's seed) with a made-up name ("beba"). Glyphs
share nothing, so recognising one teaches little about another: each concept is its own
skill. Concept ``k`` (0-based) occurs with the Zipf-Mandelbrot frequency

    p_k = (k + 1 + q) ** -a / sum_j (j + 1 + q) ** -a       (a = ``zipf_a``, q = ``zipf_offset``)

in training *and* evaluation (a validation set drawn like the training stream, as on web
data). If concept ``k`` is learnt once it has been seen about ``m`` times, after ``n``
samples the concepts with ``n p_k < m`` are not yet learnt, and the error (their share of
the evaluation set) is ``sum_{k > k*} p_k`` with ``k* ~ (n / m) ** (1 / a)``: about
``(n / m) ** (-(a - 1) / a)``, a power law in samples seen until the ``n_concepts``-th concept
is learnt. A scene holds 1 to ``max_objects`` glyphs (uniform; at most 4), one per slot of
a row, cells aligned to a 4-pixel grid on 32-pixel images; each glyph has a colour (uniform
among ``n_colours``, never named: a nuisance, not a shortcut: captions that name colours
let the models match pairs by colour and leave the concepts unlearnt, measured).
Captions name the concepts left to right ("a photo of a beba beside a kifo").

Tasks: zero-shot classification of the concept (``n_per_class * n_concepts`` single-glyph
images, concepts drawn from ``p``; class names are the concept names), retrieval (scenes
with ``max_objects`` glyphs, so that gallery captions rarely repeat) and segmentation
(``n_shapes`` concept groups plus background: pixels of concept
``k`` have label ``1 + k % n_shapes``, so a probe must tell concepts apart to segment).

Determinism is that of the shape world: every draw is a counter-based hash of
``(seed, split, index)``. This module must not import torch.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from scalecmp.experiments.synthetic import (
    _CLS_OFFSET,
    _SEG_TEST_OFFSET,
    _SEG_TRAIN_OFFSET,
    _SPLITS,
    ClassificationTask,
    RetrievalTask,
    SegmentationTask,
    SyntheticWorld,
    WorldConfig,
    _draws,
    _sample_keys,
    _Scenes,
    _uniform,
    _words,
)

__all__ = ["ConceptWorld", "concept_frequencies", "concept_names", "make_world"]

_GLYPH = 4  # glyphs are _GLYPH x _GLYPH cells
_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"
_SPLIT_EVAL = _SPLITS["eval"]
_GLYPH_NAMESPACE = 7

_TEMPLATES = (
    "a {k}",
    "a photo of a {k}",
    "a picture of a {k}",
    "there is a {k}",
    "an image of a {k}",
)
_JOIN = (" and ", ", ", " beside ")
#: zero-shot prompts: the training captions' own openings (the shape world's prompts add
#: words such as "drawing" that no concept caption contains)
_PROMPTS = ("a {}.", "a photo of a {}.", "a picture of a {}.", "there is a {}.",
            "an image of a {}.")


def concept_names(n: int) -> tuple[str, ...]:
    """``n`` (at most 4,900) distinct made-up words of two consonant-vowel syllables:
    concept ``k`` is named by its two digits in base 70 (14 consonants x 5 vowels), so
    "baba", "babe", ..., then "beba", ..."""
    syllables = [c + v for c in _CONSONANTS for v in _VOWELS]
    base = len(syllables)
    return tuple(syllables[k // base] + syllables[k % base] for k in range(n))


def concept_frequencies(n: int, a: float, q: float) -> np.ndarray:
    """Zipf-Mandelbrot frequencies ``p_k ~ (k + 1 + q) ** -a``, ``k = 0 .. n - 1``."""
    p = (np.arange(1, n + 1, dtype=np.float64) + q) ** -a
    return p / p.sum()


class ConceptWorld(SyntheticWorld):
    """The concept world of a :class:`~scalecmp.experiments.synthetic.WorldConfig` with
    ``n_concepts > 0`` (see the module docstring); the same public API as the shape world."""

    @cached_property
    def _cdf(self) -> np.ndarray:
        cfg = self.config
        return np.cumsum(concept_frequencies(cfg.n_concepts, cfg.zipf_a, cfg.zipf_offset))

    @cached_property
    def concept_names(self) -> tuple[str, ...]:
        """Names of the concepts (index = concept id)."""
        return concept_names(self.config.n_concepts)

    @cached_property
    def glyphs(self) -> np.ndarray:
        """(n_concepts, 4, 4) bool: each concept's pattern, 6-10 cells on, drawn from the
        world's seed; every pattern distinct."""
        k = self.config.n_concepts
        keys = _sample_keys(self._seed_key, _GLYPH_NAMESPACE, np.arange(k, dtype=np.int64))
        u = _uniform(_draws(keys, 2 * _GLYPH * _GLYPH + 1))
        n_on = 6 + (u[:, -1] * 5).astype(np.int64)
        rank = np.argsort(np.argsort(u[:, : _GLYPH * _GLYPH], axis=1), axis=1)
        glyphs = rank < n_on[:, None]
        seen: set[bytes] = set()
        for i in range(k):  # a repeated pattern (rare) is replaced deterministically
            j = 0
            while glyphs[i].tobytes() in seen:
                alt = np.argsort(u[i, _GLYPH * _GLYPH: 2 * _GLYPH * _GLYPH] + 0.37 * j)
                glyphs[i] = np.isin(np.arange(_GLYPH * _GLYPH), alt[: n_on[i]])
                j += 1
            seen.add(glyphs[i].tobytes())
        return glyphs.reshape(k, _GLYPH, _GLYPH)

    def _concepts(self, u: np.ndarray) -> np.ndarray:
        return np.minimum(np.searchsorted(self._cdf, u, side="right"),
                          self.config.n_concepts - 1)

    # -- public API -----------------------------------------------------------------

    def caption_words(self) -> list[str]:
        words: set[str] = set()
        for piece in (*_TEMPLATES, *_JOIN, *_PROMPTS, *self.concept_names):
            words |= _words(piece.replace("{k}", " ").replace("{}", " "))
        return sorted(words)

    def classification_task(self, n_per_class: int) -> ClassificationTask:
        """``n_per_class * n_concepts`` single-object images whose concepts are drawn
        from the training frequencies; labels are concept ids, class names their names."""
        n = n_per_class * self.config.n_concepts
        keys = _sample_keys(self._seed_key, _SPLIT_EVAL,
                            _CLS_OFFSET + np.arange(n, dtype=np.int64))
        scenes = self._scenes(keys, count=1)
        images, _ = self._render(scenes)
        return ClassificationTask(images=images, labels=scenes.shapes[:, 0].astype(np.int64),
                                  classnames=self.concept_names, templates=_PROMPTS)

    def retrieval_task(self, n: int, detailed: bool = True) -> RetrievalTask:
        keys = _sample_keys(self._seed_key, _SPLIT_EVAL, np.arange(n, dtype=np.int64))
        scenes = self._scenes(keys, count=self.config.max_objects)
        images, _ = self._render(scenes)
        return RetrievalTask(images=images,
                             captions=tuple(self._caption(scenes, i, detailed)
                                            for i in range(n)))

    def segmentation_task(self, n_train: int, n_test: int) -> SegmentationTask:
        """Masks of concept groups: label ``1 + k % n_shapes`` for concept ``k``."""
        parts = []
        for offset, n in ((_SEG_TRAIN_OFFSET, n_train), (_SEG_TEST_OFFSET, n_test)):
            idx = offset + np.arange(n, dtype=np.int64)
            parts.append(self._render(self._scenes(_sample_keys(self._seed_key, _SPLIT_EVAL,
                                                                idx))))
        (tr_img, tr_lab), (te_img, te_lab) = parts
        g = self.config.n_shapes
        return SegmentationTask(
            train_images=tr_img, train_masks=tr_lab.astype(np.int64),
            test_images=te_img, test_masks=te_lab.astype(np.int64), n_classes=g + 1,
            class_names=("background", *(f"group {i}" for i in range(g))),
        )

    # -- internals --------------------------------------------------------------------

    def _caption(self, sc: _Scenes, i: int, detailed: bool) -> str:
        """Every glyph's concept left to right, the first in a random template ("a photo of
        a beba"), the others as "a kifo", with a random joint (``detailed``: "a beba and a
        kifo", for retrieval galleries); ``shapes`` hold concept ids here."""
        u = sc.style[i]
        parts = []
        for j in range(int(sc.n_objects[i])):
            uj = (u[0] + 0.618 * j) % 1.0
            if detailed or j > 0:  # a template opens a caption; later objects: "a beba"
                tmpl = _TEMPLATES[0]
            else:
                tmpl = _TEMPLATES[int(uj * len(_TEMPLATES))]
            parts.append(tmpl.format(k=self.concept_names[sc.shapes[i, j]]))
        join = " and " if detailed else _JOIN[int(u[1] * len(_JOIN)) % len(_JOIN)]
        return join.join(parts)

    def _scenes(self, keys: np.ndarray, count: int | None = None) -> _Scenes:  # type: ignore[override]
        """Scene attributes (``shapes`` hold concept ids, ``positions`` slots): ``count``
        glyphs (None: uniform in 1..max_objects, the training stream), one per slot of the
        ``max_objects``-slot row (:meth:`_slot_boxes`), in random slots."""
        cfg = self.config
        m, b = cfg.max_objects, keys.size
        raw = _draws(keys, self._BASE_SLOTS + self._OBJ_SLOTS * m)
        u = _uniform(raw)
        obj = u[:, self._BASE_SLOTS:].reshape(b, m, self._OBJ_SLOTS)
        n_obj = (1 + np.minimum((u[:, 0] * m).astype(np.int64), m - 1) if count is None
                 else np.full(b, count, dtype=np.int64))
        concepts = self._concepts(obj[:, :, 0])
        colours = np.minimum((obj[:, :, 1] * cfg.n_colours).astype(np.int64),
                             cfg.n_colours - 1)
        slots = np.argsort(u[:, 2:2 + m], axis=1)  # distinct slots, random order
        absent = np.arange(m)[None, :] >= n_obj[:, None]
        slots = np.sort(np.where(absent, m, slots), axis=1)  # captions read left to right
        slots = np.where(absent, -1, slots)
        rgb = self._palette[colours] + 24.0 * (obj[:, :, 6:9] - 0.5)
        background = 45.0 + 60.0 * u[:, 11:14]
        for arr in (concepts, colours):
            arr[absent] = -1
        k_bank = self._noise_bank.shape[0]
        zeros = np.zeros((b, m), dtype=np.float32)
        return _Scenes(
            n_objects=n_obj, group=np.zeros(b, dtype=bool), shapes=concepts,
            colours=colours, sizes=np.where(absent, -1, 0), positions=slots, cx=zeros,
            cy=zeros, radius=zeros, rgb=rgb, background=background,
            bank=(raw[:, 14] % np.uint64(k_bank)).astype(np.int64), style=u[:, 15:19],
            noise_u=u[:, 19], partner=raw[:, 20] >> np.uint64(2),
        )

    def _slot_boxes(self) -> list[tuple[int, int, int]]:
        """(left, top, cell) of every slot: ``max_objects`` glyphs side by side, each a
        square of side ``image_size / max_objects`` cut into 4 x 4 cells, centred vertically
        (with 32-pixel images and 2 slots: 4-pixel cells, half a ViT patch of 8)."""
        s, m = self.config.image_size, self.config.max_objects
        side = s // m
        cell = max(side // _GLYPH, 1)
        top = (s - cell * _GLYPH) // 2
        return [(j * side + (side - cell * _GLYPH) // 2, top, cell) for j in range(m)]

    def _render_rows(self, sc: _Scenes, rows: slice) -> tuple[np.ndarray, np.ndarray]:
        """Each object paints its glyph's cells in its slot's box."""
        concepts, slots = sc.shapes[rows], sc.positions[rows]
        b, m = concepts.shape
        s = self.config.image_size
        slot = np.zeros((b, s, s), dtype=np.uint8)
        labels = np.zeros((b, s, s), dtype=np.uint8)
        g = self.config.n_shapes
        boxes = self._slot_boxes()
        for j in range(m):
            k = concepts[:, j]
            for q, (left, top, cell) in enumerate(boxes):
                sel = np.nonzero((slots[:, j] == q) & (k >= 0))[0]
                if not sel.size:
                    continue
                pix = np.repeat(np.repeat(self.glyphs[k[sel]], cell, axis=1), cell, axis=2)
                side = np.arange(cell * _GLYPH)
                box = (sel[:, None, None], (top + side)[None, :, None],
                       (left + side)[None, None, :])
                slot[box] = np.where(pix, np.uint8(j + 1), slot[box])
                group = (1 + k[sel] % g).astype(np.uint8)[:, None, None]
                labels[box] = np.where(pix, group, labels[box])
        return self._paint(sc, rows, slot), labels


def make_world(config: WorldConfig | None = None) -> SyntheticWorld:
    """The world of ``config``: :class:`ConceptWorld` when ``n_concepts > 0``, else the
    shape world."""
    config = config or WorldConfig()
    return ConceptWorld(config) if config.n_concepts > 0 else SyntheticWorld(config)
