"""A synthetic image-caption world for dense, cheap scaling measurements (numpy only).

Every scene holds one to ``max_objects`` coloured shapes on a tinted, lightly noisy
background. Attributes (shape, colour, size, position, count) are drawn from Zipf-like
distributions, so a few combinations are frequent and many are rare: a long tail, as in
web data. Captions are written from the scene with varied templates and word orders; a
share ``caption_noise`` of training pairs get the caption of an unrelated scene instead.

Determinism: all randomness of a sample is a counter-based hash (splitmix64) of
``(seed, split, index)``, evaluated vectorised over the batch. The sample at a stream
position is therefore identical however the stream is batched, and resuming a training
run at position ``p`` reproduces exactly the pairs it would have seen.

Splits: ``"train"`` is the training stream; ``"eval"`` is a separate hash namespace from
which every evaluation set is drawn (retrieval at eval indices ``[0, n)``, segmentation and
classification at disjoint high offsets), so no evaluation sample is a training sample.

This module must not import torch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from scalecmp.errors import UsageError

__all__ = [
    "COLOURS",
    "POSITIONS",
    "SHAPES",
    "SIZES",
    "ClassificationTask",
    "RetrievalTask",
    "SceneBatch",
    "SegmentationTask",
    "SyntheticWorld",
    "WorldConfig",
]

# ----------------------------------------------------------------------------- vocabulary

SHAPES: tuple[str, ...] = (
    "circle", "square", "triangle", "cross", "ring", "diamond",
    "bar", "column", "frame", "ellipse", "crescent", "hexagon",
)
_PLURAL = {"cross": "crosses"}

#: colour name -> base RGB; object pixels get this colour up to jitter, light and noise
COLOURS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("red", (220, 40, 40)),
    ("blue", (40, 80, 235)),
    ("green", (40, 185, 70)),
    ("yellow", (240, 225, 40)),
    ("white", (245, 245, 245)),
    ("purple", (150, 60, 205)),
    ("orange", (250, 140, 20)),
    ("cyan", (40, 215, 225)),
    ("pink", (250, 135, 195)),
    ("brown", (145, 85, 35)),
    ("gray", (165, 165, 165)),
    ("black", (10, 10, 10)),
)

SIZES: tuple[str, ...] = ("small", "medium", "large")
#: radius bands (fraction of the image side) of the three sizes
_SIZE_RADIUS = np.array([[0.10, 0.13], [0.14, 0.18], [0.20, 0.25]])
_SIZE_WORDS = (("small", "little"), ("medium",), ("large", "big"))

#: 3x3 anchor grid, row-major: position p sits at row p // 3, column p % 3
POSITIONS: tuple[str, ...] = (
    "top left", "top", "top right", "left", "centre", "right",
    "bottom left", "bottom", "bottom right",
)
_POS_PHRASE = (
    "in the top left corner", "at the top", "in the top right corner",
    "on the left", "in the centre", "on the right",
    "in the bottom left corner", "at the bottom", "in the bottom right corner",
)
_ANCHOR = np.array([0.22, 0.5, 0.78])
_NUMBERS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# caption templates: {a} article, {z} size word, {c} colour, {s} shape, {P} position phrase,
# {N} number word, {S} plural shape
_SINGLE_TEMPLATES = (
    "{a} {c} {s}",
    "{a} {z} {c} {s}",
    "{a} {c} {s} {P}",
    "{a} {z} {c} {s} {P}",
    "{P}, {a} {c} {s}",
    "a photo of {a} {c} {s}",
    "a picture of {a} {z} {c} {s} {P}",
    "{a} {s} in {c} {P}",
    "there is {a} {c} {s} {P}",
    "an image of {a} {z} {s} in {c}",
)
_GROUP_TEMPLATES = (
    "{N} {c} {S}",
    "{N} {z} {c} {S}",
    "a photo of {N} {c} {S}",
    "{N} {S} in {c}",
    "there are {N} {z} {c} {S}",
)
_OBJECT_TEMPLATES = (
    "{a} {c} {s}",
    "{a} {z} {c} {s}",
    "{a} {c} {s} {P}",
    "{a} {z} {c} {s} {P}",
)
_MULTI_PREFIXES = ("", "", "a photo of ", "a picture with ", "there is ")
_DETAILED_SINGLE = "{a} {z} {c} {s} {P}"
_DETAILED_GROUP = "{N} {z} {c} {S}"

#: prompt templates of the zero-shot classification task ("{}" is the class name)
CLASSIFICATION_TEMPLATES: tuple[str, ...] = (
    "a photo of a {}.",
    "a {}.",
    "a picture of a {}.",
    "a drawing of a {}.",
    "a rendering of a {}.",
    "there is a {} in the image.",
)

_SPLITS = {"train": 1, "eval": 2}
_NOISE_NAMESPACE = 3
# eval-split offsets of the evaluation tasks (retrieval uses [0, n))
_SEG_TRAIN_OFFSET = 1 << 40
_SEG_TEST_OFFSET = 1 << 41
_CLS_OFFSET = 1 << 42

# ----------------------------------------------------------------------------- hashing

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SLOT = np.uint64(0xD1B54A32D192ED03)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, elementwise on a uint64 array (wrap-around arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def _sample_keys(seed_key: np.uint64, namespace: int, indices: np.ndarray) -> np.ndarray:
    """One 64-bit key per index: a hash of (seed, namespace, index)."""
    base = _mix((np.array([namespace], dtype=np.uint64) * _SLOT) ^ seed_key)
    return _mix(base + indices.astype(np.uint64) * _GOLDEN)


def _draws(keys: np.ndarray, n_slots: int) -> np.ndarray:
    """(B, n_slots) raw uint64 draws; draw j of a sample depends only on its key and j."""
    slots = (np.arange(1, n_slots + 1, dtype=np.uint64) * _SLOT)[None, :]
    return _mix(keys[:, None] ^ slots)


def _uniform(raw: np.ndarray) -> np.ndarray:
    """Uniform floats in [0, 1) from the top 53 bits of uint64 draws."""
    return (raw >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def _zipf_index(u: np.ndarray, n: int, a: float) -> np.ndarray:
    """Map uniforms to {0..n-1} with P(i) proportional to (i + 1) ** -a (a = 0: uniform)."""
    p = np.arange(1, n + 1, dtype=np.float64) ** -a
    cdf = np.cumsum(p / p.sum())
    return np.minimum(np.searchsorted(cdf, u, side="right"), n - 1)


# ----------------------------------------------------------------------------- config

@dataclass(frozen=True)
class WorldConfig:
    """Knobs of the synthetic world.

    Parameters
    ----------
    image_size : side of the square RGB images in pixels (geometry scales with it).
    n_shapes : number of shape categories used (1..12, the first of ``SHAPES``); sets the
        segmentation classes (``n_shapes + 1`` with background) and, with ``n_colours``,
        the ``n_shapes * n_colours`` zero-shot classes.
    n_colours : number of colour categories used (1..12, the first of ``COLOURS``).
    max_objects : most objects per scene (1..9); the count is Zipf-distributed, 1 commonest.
    caption_noise : share (0..1) of training pairs whose caption is replaced by the caption
        of an unrelated scene (web-like misalignment). Evaluation captions are always clean.
    n_unique : number of unique training samples; stream position ``p`` shows unique sample
        ``p % n_unique`` (repetition studies). ``None``: an infinite stream of fresh samples.
    seed : the world's seed; every image, caption and mask is a function of it.
    zipf_a : exponent of the Zipf-like distributions of shape, colour and object count
        (``P(rank i) ~ (i + 1) ** -zipf_a``); 0 gives uniform attributes, larger a longer tail.
    p_group : probability that a scene with several objects is a group of identical objects
        ("two small blue squares") rather than distinct ones.
    pixel_noise : standard deviation (grey levels) of the per-pixel Gaussian noise.
    illumination : largest amplitude (grey levels) of the random linear light gradient.
    caption_positions : whether captions name where objects are ("in the top left
        corner"). Objects are placed on the 3 x 3 anchor grid either way (segmentation
        masks are unchanged); without position words no caption needs the model to locate
        objects.
    n_concepts : 0 (default): the shape world. ``> 0``: the concept world of
        :mod:`scalecmp.experiments.concepts` (objects are that many random glyphs with
        made-up names, Zipf-Mandelbrot frequent; ``n_shapes`` concept groups are the
        segmentation classes; captions never name positions).
    zipf_offset : ``q`` of the concept world's frequencies ``p_k ~ (k + 1 + q) ** -zipf_a``
        (0: a pure Zipf law; larger flattens the head).
    """

    image_size: int = 32
    n_shapes: int = 8
    n_colours: int = 8
    max_objects: int = 3
    caption_noise: float = 0.0
    n_unique: int | None = None
    seed: int = 0
    zipf_a: float = 1.0
    p_group: float = 0.35
    pixel_noise: float = 6.0
    illumination: float = 14.0
    caption_positions: bool = True
    n_concepts: int = 0
    zipf_offset: float = 0.0

    def __post_init__(self) -> None:
        checks = [
            (self.image_size >= 8, "image_size must be >= 8"),
            (1 <= self.n_shapes <= len(SHAPES), f"n_shapes must be in 1..{len(SHAPES)}"),
            (1 <= self.n_colours <= len(COLOURS), f"n_colours must be in 1..{len(COLOURS)}"),
            (1 <= self.max_objects <= 9, "max_objects must be in 1..9"),
            (0.0 <= self.caption_noise <= 1.0, "caption_noise must be in [0, 1]"),
            (self.n_unique is None or self.n_unique >= 1, "n_unique must be >= 1 or None"),
            (self.zipf_a >= 0.0, "zipf_a must be >= 0"),
            (0.0 <= self.p_group <= 1.0, "p_group must be in [0, 1]"),
            (self.pixel_noise >= 0.0 and self.illumination >= 0.0,
             "pixel_noise and illumination must be >= 0"),
            (isinstance(self.caption_positions, bool), "caption_positions must be true or false"),
            (isinstance(self.n_concepts, int) and 0 <= self.n_concepts <= 4900,
             "n_concepts must be an integer in 0..4900"),
            (self.zipf_offset >= 0.0, "zipf_offset must be >= 0"),
            (self.n_concepts == 0 or self.max_objects <= 4,
             "the concept world has at most 4 objects per scene (max_objects <= 4)"),
        ]
        for ok, message in checks:
            if not ok:
                raise UsageError(f"WorldConfig: {message}")


# ----------------------------------------------------------------------------- containers

@dataclass(frozen=True)
class SceneBatch:
    """A batch of scenes.

    ``images`` uint8 (B, H, W, 3); ``captions`` list of B strings; ``labels`` uint8 (B, H, W)
    per-pixel class (shape index + 1, 0 = background; later objects occlude earlier ones);
    ``masks`` the same as int64. ``indices`` are the (unique) sample indices within the
    split, ``noisy`` marks captions replaced by caption noise. ``shapes``, ``colours``,
    ``sizes``, ``positions`` (B, max_objects) are the scene attributes, -1 where a scene has
    fewer objects; ``n_objects`` (B,) counts objects.
    """

    images: np.ndarray
    captions: list[str]
    labels: np.ndarray
    indices: np.ndarray
    noisy: np.ndarray
    shapes: np.ndarray
    colours: np.ndarray
    sizes: np.ndarray
    positions: np.ndarray
    n_objects: np.ndarray

    @property
    def masks(self) -> np.ndarray:
        """Per-pixel class ids, int64 (B, H, W): shape index + 1, 0 = background."""
        return self.labels.astype(np.int64)

    def __len__(self) -> int:
        return len(self.captions)


@dataclass(frozen=True)
class ClassificationTask:
    """Zero-shot classification: one object per image, class = colour x shape.

    ``labels[i]`` indexes ``classnames`` (``label = colour * n_shapes + shape``, classname
    "red circle"); ``templates`` contain a "{}" slot for the class name. Classes are balanced.
    """

    images: np.ndarray
    labels: np.ndarray
    classnames: tuple[str, ...]
    templates: tuple[str, ...] = CLASSIFICATION_TEMPLATES


@dataclass(frozen=True)
class RetrievalTask:
    """Image-text retrieval on held-out pairs: ``captions[i]`` describes ``images[i]``."""

    images: np.ndarray
    captions: tuple[str, ...]


@dataclass(frozen=True)
class SegmentationTask:
    """Semantic segmentation for a linear probe: masks int64, class 0 = background.
    ``ignore_index``: a label whose pixels are neither trained on nor scored (ADE20K's 0,
    "other"); None: every label is a class."""

    train_images: np.ndarray
    train_masks: np.ndarray
    test_images: np.ndarray
    test_masks: np.ndarray
    n_classes: int
    class_names: tuple[str, ...] = field(default=())
    ignore_index: int | None = None


@dataclass
class _Scenes:
    """Attributes of a batch of scenes (internal)."""

    n_objects: np.ndarray  # (B,)
    group: np.ndarray  # (B,) bool
    shapes: np.ndarray  # (B, M), -1 absent
    colours: np.ndarray
    sizes: np.ndarray
    positions: np.ndarray
    cx: np.ndarray  # (B, M) pixels
    cy: np.ndarray
    radius: np.ndarray
    rgb: np.ndarray  # (B, M, 3) object colours after jitter
    background: np.ndarray  # (B, 3)
    bank: np.ndarray  # (B,) index into the noise bank
    style: np.ndarray  # (B, 4) uniforms for caption choices
    noise_u: np.ndarray  # (B,) uniform deciding caption noise
    partner: np.ndarray  # (B,) uint64 index of the scene whose caption noise borrows


# ----------------------------------------------------------------------------- shapes
# Each takes u (n, 1, S) and v (n, S, 1): pixel offsets from the centre in radii (x right,
# y down) and returns a bool (n, S, S) mask.

def _circle(u, v):
    return u * u + v * v <= 1.0


def _square(u, v):
    return (np.abs(u) <= 0.82) & (np.abs(v) <= 0.82)


def _triangle(u, v):
    return (np.abs(u) <= (v + 0.95) * 0.55) & (v <= 0.8)


def _cross(u, v):
    au, av = np.abs(u), np.abs(v)
    return ((au <= 0.3) & (av <= 0.95)) | ((av <= 0.3) & (au <= 0.95))


def _ring(u, v):
    r2 = u * u + v * v
    return (r2 <= 1.0) & (r2 >= 0.36)


def _diamond(u, v):
    return np.abs(u) + np.abs(v) <= 1.0


def _bar(u, v):
    return (np.abs(u) <= 1.0) & (np.abs(v) <= 0.38)


def _column(u, v):
    return (np.abs(u) <= 0.38) & (np.abs(v) <= 1.0)


def _frame(u, v):
    au, av = np.abs(u), np.abs(v)
    return ((au <= 0.88) & (av <= 0.88)) & ~((au <= 0.5) & (av <= 0.5))


def _ellipse(u, v):
    return u * u + (v * (1.0 / 0.55)) ** 2 <= 1.0


def _crescent(u, v):
    w = u - 0.5
    return (u * u + v * v <= 1.0) & (w * w + v * v > 0.64)


def _hexagon(u, v):
    av = np.abs(v)
    return (av <= 0.866) & (np.abs(u) * 1.732 + av <= 1.732)


_SHAPE_FNS = (_circle, _square, _triangle, _cross, _ring, _diamond,
              _bar, _column, _frame, _ellipse, _crescent, _hexagon)


# ----------------------------------------------------------------------------- captions

_AN = re.compile(r"\ba (?=[aeiou])")  # "a orange circle" -> "an orange circle"


def _plural(shape: str) -> str:
    return _PLURAL.get(shape, shape + "s")


def _pick(options: Sequence[str], u: float) -> str:
    return options[min(int(u * len(options)), len(options) - 1)]


def _fill(template: str, shape: int, colour: int, size: int, pos: int, u: float,
          count: int = 1, position: bool = True) -> str:
    """Fill one template for an object (or a group of ``count`` identical objects);
    ``position=False`` leaves the position phrase out."""
    shape_word, colour_word = SHAPES[shape], COLOURS[colour][0]
    text = template.format(
        a="a", z=_pick(_SIZE_WORDS[size], u), c=colour_word, s=shape_word,
        P=_POS_PHRASE[pos] if position else "", N=_NUMBERS[count - 1],
        S=_plural(shape_word),
    )
    if not position:
        text = " ".join(text.split()).removeprefix(", ")
    return _AN.sub("an ", text)


def _scene_caption(sc: _Scenes, i: int, detailed: bool, position: bool = True) -> str:
    """Caption of scene ``i``: a template chosen by the scene's style draws (without
    position phrases when ``position`` is False)."""
    n = int(sc.n_objects[i])
    u = sc.style[i]
    sh, co, si, po = sc.shapes[i], sc.colours[i], sc.sizes[i], sc.positions[i]
    if n == 1 or sc.group[i]:
        if n == 1:
            tmpl = _DETAILED_SINGLE if detailed else _pick(_SINGLE_TEMPLATES, u[0])
        else:
            tmpl = _DETAILED_GROUP if detailed else _pick(_GROUP_TEMPLATES, u[0])
        return _fill(tmpl, sh[0], co[0], si[0], po[0], u[1], count=n, position=position)
    order = range(n - 1, -1, -1) if (u[2] < 0.5 and not detailed) else range(n)
    parts = []
    for k, j in enumerate(order):
        uj = (u[3] * (k + 1) * 7.31) % 1.0
        tmpl = _DETAILED_SINGLE if detailed else _pick(_OBJECT_TEMPLATES, uj)
        parts.append(_fill(tmpl, sh[j], co[j], si[j], po[j], u[1], position=position))
    body = ", ".join(parts[:-1]) + " and " + parts[-1]
    prefix = "" if detailed else _pick(_MULTI_PREFIXES, u[0])
    return prefix + body


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+|[,.]", text.lower()))


# ----------------------------------------------------------------------------- world

class SyntheticWorld:
    """Generator of scenes, training streams and evaluation tasks of one ``WorldConfig``.

    Parameters
    ----------
    config : the world's knobs (``WorldConfig()`` if omitted).
    """

    _BASE_SLOTS = 24
    _OBJ_SLOTS = 9

    def __init__(self, config: WorldConfig | None = None) -> None:
        self.config = config or WorldConfig()
        self._seed_key = np.uint64(
            np.random.SeedSequence(self.config.seed).generate_state(1, dtype=np.uint64)[0])
        s = self.config.image_size
        self._coords = np.arange(s, dtype=np.float32) + np.float32(0.5)
        self._palette = np.array([rgb for _, rgb in COLOURS], dtype=np.float64)

    # -- public API ---------------------------------------------------------------

    @property
    def shape_names(self) -> tuple[str, ...]:
        """Names of the shapes in use (index = class id - 1)."""
        return SHAPES[: self.config.n_shapes]

    @property
    def colour_names(self) -> tuple[str, ...]:
        """Names of the colours in use."""
        return tuple(name for name, _ in COLOURS[: self.config.n_colours])

    def train_batch(self, start: int, size: int) -> SceneBatch:
        """The training pairs at stream positions ``start .. start + size - 1``.

        Identical to ``batch(np.arange(start, start + size), "train")``: deterministic by
        position, independent of how the stream is cut into batches.
        """
        return self.batch(np.arange(start, start + size, dtype=np.int64), split="train")

    def batch(self, indices: Sequence[int] | np.ndarray, split: str = "train") -> SceneBatch:
        """Scenes at ``indices`` of ``split`` ("train": stream positions, mapped to unique
        samples ``p % n_unique``, with caption noise; "eval": held-out scenes, clean captions).
        """
        if split not in _SPLITS:
            raise UsageError(f"unknown split {split!r}; expected 'train' or 'eval'")
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and idx.min() < 0:
            raise UsageError("sample indices must be >= 0")
        if split == "train" and self.config.n_unique is not None:
            idx = idx % self.config.n_unique
        noise = self.config.caption_noise if split == "train" else 0.0
        return self._make(_SPLITS[split], idx, caption_noise=noise)

    def caption_words(self) -> list[str]:
        """Every word (and the punctuation "," and ".") that a caption, class name or
        classification prompt of this world can contain, sorted (for tokenizer compaction)."""
        words: set[str] = set()
        pieces = [*_SINGLE_TEMPLATES, *_GROUP_TEMPLATES, *_OBJECT_TEMPLATES, *_MULTI_PREFIXES,
                  *CLASSIFICATION_TEMPLATES, "and", *_POS_PHRASE,
                  *_NUMBERS[: self.config.max_objects], *self.colour_names,
                  *self.shape_names, *(_plural(s) for s in self.shape_names),
                  *(w for ws in _SIZE_WORDS for w in ws), "a an"]
        for piece in pieces:
            words |= _words(re.sub(r"\{[A-Za-z]*\}", " ", piece))
        return sorted(words)

    def classification_task(self, n_per_class: int) -> ClassificationTask:
        """Balanced zero-shot classification set from the eval split.

        ``n_per_class`` single-object images per colour x shape class (``n_colours *
        n_shapes`` classes, label ``colour * n_shapes + shape``); size and position random.
        """
        cfg = self.config
        n_classes = cfg.n_shapes * cfg.n_colours
        labels = np.repeat(np.arange(n_classes, dtype=np.int64), n_per_class)
        idx = _CLS_OFFSET + np.arange(labels.size, dtype=np.int64)
        keys = _sample_keys(self._seed_key, _SPLITS["eval"], idx)
        scenes = self._scenes(keys, force=(labels % cfg.n_shapes, labels // cfg.n_shapes))
        images, _ = self._render(scenes)
        names = tuple(f"{c} {s}" for c in self.colour_names for s in self.shape_names)
        return ClassificationTask(images=images, labels=labels, classnames=names)

    def retrieval_task(self, n: int, detailed: bool = True) -> RetrievalTask:
        """``n`` held-out image-caption pairs (eval indices ``0 .. n-1``), clean captions.

        ``detailed=True`` writes every attribute (size, colour, shape, position, count) so
        that captions identify their scene as well as the world allows; ``False`` uses the
        training templates.
        """
        keys = _sample_keys(self._seed_key, _SPLITS["eval"], np.arange(n, dtype=np.int64))
        scenes = self._scenes(keys)
        images, _ = self._render(scenes)
        captions = tuple(self._caption(scenes, i, detailed)
                         for i in range(n))
        return RetrievalTask(images=images, captions=captions)

    def segmentation_task(self, n_train: int, n_test: int) -> SegmentationTask:
        """Images and exact masks from two disjoint ranges of the eval split.

        Classes: 0 = background, ``k + 1`` = shape ``k`` (``n_shapes + 1`` classes).
        """
        parts = []
        for offset, n in ((_SEG_TRAIN_OFFSET, n_train), (_SEG_TEST_OFFSET, n_test)):
            idx = offset + np.arange(n, dtype=np.int64)
            scenes = self._scenes(_sample_keys(self._seed_key, _SPLITS["eval"], idx))
            parts.append(self._render(scenes))
        (tr_img, tr_lab), (te_img, te_lab) = parts
        return SegmentationTask(
            train_images=tr_img, train_masks=tr_lab.astype(np.int64),
            test_images=te_img, test_masks=te_lab.astype(np.int64),
            n_classes=self.config.n_shapes + 1,
            class_names=("background", *self.shape_names),
        )

    # -- internals ----------------------------------------------------------------

    def _caption(self, sc: _Scenes, i: int, detailed: bool) -> str:
        """The caption of scene ``i`` (:func:`_scene_caption`, with or without positions as
        the config says); ``detailed``: every attribute, for retrieval galleries."""
        return _scene_caption(sc, i, detailed, self.config.caption_positions)

    def _make(self, namespace: int, idx: np.ndarray, caption_noise: float) -> SceneBatch:
        scenes = self._scenes(_sample_keys(self._seed_key, namespace, idx))
        images, labels = self._render(scenes)
        captions = [self._caption(scenes, i, False) for i in range(idx.size)]
        noisy = scenes.noise_u < caption_noise
        if noisy.any():
            where = np.nonzero(noisy)[0]
            partner_keys = _sample_keys(self._seed_key, _NOISE_NAMESPACE, scenes.partner[where])
            partners = self._scenes(partner_keys)
            for k, i in enumerate(where):
                captions[i] = self._caption(partners, k, False)
        return SceneBatch(
            images=images, captions=captions, labels=labels, indices=idx, noisy=noisy,
            shapes=scenes.shapes, colours=scenes.colours, sizes=scenes.sizes,
            positions=scenes.positions, n_objects=scenes.n_objects,
        )

    @cached_property
    def _noise_bank(self) -> np.ndarray:
        """(K, S, S, 3) int16 light gradients + pixel noise, drawn once from the seed."""
        cfg = self.config
        s = cfg.image_size
        k = int(np.clip(2**21 // (s * s * 3), 16, 512))
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0x5EED]))
        grid = (self._coords / s) * 2.0 - 1.0
        g = rng.uniform(-1.0, 1.0, size=(k, 2)) * cfg.illumination
        light = (g[:, 0, None, None] * grid[None, None, :]
                 + g[:, 1, None, None] * grid[None, :, None])
        noise = rng.normal(0.0, cfg.pixel_noise, size=(k, s, s, 3))
        return np.rint(light[..., None] + noise).astype(np.int16)

    def _scenes(self, keys: np.ndarray,
                force: tuple[np.ndarray, np.ndarray] | None = None) -> _Scenes:
        """Scene attributes from sample keys; ``force=(shapes, colours)`` makes single-object
        scenes with the given shape and colour (classification)."""
        cfg = self.config
        m, b, s = cfg.max_objects, keys.size, cfg.image_size
        raw = _draws(keys, self._BASE_SLOTS + self._OBJ_SLOTS * m)
        u = _uniform(raw)
        obj = u[:, self._BASE_SLOTS:].reshape(b, m, self._OBJ_SLOTS)

        n_obj = _zipf_index(u[:, 0], m, cfg.zipf_a) + 1
        group = (u[:, 1] < cfg.p_group) & (n_obj > 1)
        shapes = _zipf_index(obj[:, :, 0], cfg.n_shapes, cfg.zipf_a)
        colours = _zipf_index(obj[:, :, 1], cfg.n_colours, cfg.zipf_a)
        sizes = np.minimum((obj[:, :, 2] * 3).astype(np.int64), 2)
        if force is not None:
            n_obj = np.ones(b, dtype=np.int64)
            group = np.zeros(b, dtype=bool)
            shapes[:, 0], colours[:, 0] = force
        for arr in (shapes, colours, sizes):  # groups copy the first object's attributes
            arr[group] = arr[group][:, :1]
        positions = np.argsort(u[:, 2:11], axis=1)[:, :m]  # distinct anchors per scene

        band = _SIZE_RADIUS[sizes]
        radius = s * (band[..., 0] + (band[..., 1] - band[..., 0]) * obj[:, :, 3])
        cx = s * (_ANCHOR[positions % 3] + 0.1 * (obj[:, :, 4] - 0.5))
        cy = s * (_ANCHOR[positions // 3] + 0.1 * (obj[:, :, 5] - 0.5))
        rgb = self._palette[colours] + 24.0 * (obj[:, :, 6:9] - 0.5)
        background = 45.0 + 60.0 * u[:, 11:14]

        absent = np.arange(m)[None, :] >= n_obj[:, None]
        for arr in (shapes, colours, sizes, positions):
            arr[absent] = -1
        k_bank = self._noise_bank.shape[0]
        return _Scenes(
            n_objects=n_obj, group=group, shapes=shapes, colours=colours, sizes=sizes,
            positions=positions, cx=cx.astype(np.float32), cy=cy.astype(np.float32),
            radius=radius.astype(np.float32), rgb=rgb, background=background,
            bank=(raw[:, 14] % np.uint64(k_bank)).astype(np.int64), style=u[:, 15:19],
            noise_u=u[:, 19], partner=raw[:, 20] >> np.uint64(2),
        )

    def _render(self, sc: _Scenes, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
        """Images uint8 (B, S, S, 3) and labels uint8 (B, S, S); slot j paints over j - 1.

        Rendered ``chunk`` scenes at a time to bound the size of the temporaries.
        """
        b, s = sc.shapes.shape[0], self.config.image_size
        images = np.empty((b, s, s, 3), dtype=np.uint8)
        labels = np.empty((b, s, s), dtype=np.uint8)
        for lo in range(0, b, chunk):
            rows = slice(lo, min(lo + chunk, b))
            images[rows], labels[rows] = self._render_rows(sc, rows)
        return images, labels

    def _render_rows(self, sc: _Scenes, rows: slice) -> tuple[np.ndarray, np.ndarray]:
        shapes, cx, cy, radius = sc.shapes[rows], sc.cx[rows], sc.cy[rows], sc.radius[rows]
        b, m = shapes.shape
        s = self.config.image_size
        slot = np.zeros((b, s, s), dtype=np.uint8)  # 0 background, j + 1 object slot j
        labels = np.zeros((b, s, s), dtype=np.uint8)
        xs, ys = self._coords[None, None, :], self._coords[None, :, None]
        for j in range(m):
            for shape in np.unique(shapes[:, j]):
                if shape < 0:
                    continue
                sel = np.nonzero(shapes[:, j] == shape)[0]
                inv_r = (1.0 / radius[sel, j])[:, None, None]
                u = (xs - cx[sel, j][:, None, None]) * inv_r
                v = (ys - cy[sel, j][:, None, None]) * inv_r
                hit = _SHAPE_FNS[shape](u, v)
                slot[sel] = np.where(hit, np.uint8(j + 1), slot[sel])
                labels[sel] = np.where(hit, np.uint8(shape + 1), labels[sel])
        return self._paint(sc, rows, slot), labels

    def _paint(self, sc: _Scenes, rows: slice, slot: np.ndarray) -> np.ndarray:
        """uint8 images (B, S, S, 3) from ``slot`` (B, S, S): 0 the background's colour,
        ``j + 1`` object ``j``'s, plus the scene's light gradient and pixel noise."""
        b, m = sc.shapes[rows].shape
        palette = np.concatenate([sc.background[rows, None, :], sc.rgb[rows]], axis=1)
        palette = np.rint(palette).astype(np.int16).reshape(-1, 3)  # (B * (M + 1), 3)
        flat = slot.astype(np.int32) + np.int32(m + 1) * np.arange(b, dtype=np.int32)[:, None, None]
        img = np.take(palette, flat, axis=0)
        img += np.take(self._noise_bank, sc.bank[rows], axis=0)
        np.clip(img, 0, 255, out=img)
        return img.astype(np.uint8)
