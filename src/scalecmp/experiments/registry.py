"""The plain tables of the measurement harness: the training procedures and the size ladder.

What a grid spec is checked against (:mod:`scalecmp.experiments.spec`) without building a
model: :data:`PROCEDURES`, :data:`SIZE_LADDER` of :class:`ModelSize` rungs, :data:`CPU_SIZES`
and :func:`get_size`. :mod:`scalecmp.experiments.models` builds the models from them.
Standard library only (no torch).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CPU_SIZES", "PROCEDURES", "SIZE_LADDER", "ModelSize", "get_size"]

PROCEDURES = ("clip", "siglip", "coca", "mammut")


@dataclass(frozen=True)
class ModelSize:
    """One rung of the size ladder: a ViT image tower and a text tower (the text encoder
    for clip/siglip, the unimodal text encoder and the multimodal decoder for coca, the
    shared decoder for mammut), embedding width ``embed_dim``."""

    name: str
    vision_width: int
    vision_layers: int
    vision_heads: int
    patch_size: int
    text_width: int
    text_layers: int
    text_heads: int
    embed_dim: int
    mlp_ratio: float = 4.0


def _ladder(*sizes: ModelSize) -> dict[str, ModelSize]:
    return {s.name: s for s in sizes}


# Forward GFLOPs per sample (flop counter, multiply-add = 2; 32x32 images, 32 tokens,
# vocabulary 64), about 2-3.5x per rung, 135x from "xxs" to "xl" (clip):
#   xxs 0.0025 (mammut 0.0052)   xs 0.0062 (0.0120)   s 0.0222 (0.0336)
#   m   0.0636 (0.0884)          l  0.164  (0.248)    xl 0.338 (0.468)
# "xxs" trains about 4,000 samples/s (clip, batch 128) on one CPU core. The two smallest
# use patch 8 (16 patch tokens), "s" to "xl" patch 4 (64 patch tokens). "s8" and "m8" are
# wider, deeper patch-8 rungs between "xs" and "m" (clip 0.0107 and 0.0233 GFLOPs per
# sample with the concept world's 24-token captions and ~280-word vocabulary, where xxs is
# 0.0020, xs 0.0052, s 0.0204; mammut 0.0187 and 0.0405): CPU_SIZES lists every rung in
# order of compute. ``embed_dim ==
# text_width`` at every size (CoCa's decoder needs it; MaMMUT then needs no projection).
SIZE_LADDER: dict[str, ModelSize] = _ladder(
    ModelSize("xxs", 32, 1, 2, 8, 32, 2, 2, 32),
    ModelSize("xs", 48, 2, 3, 8, 48, 2, 3, 48),
    ModelSize("s8", 64, 3, 4, 8, 64, 2, 4, 64),
    ModelSize("m8", 96, 3, 4, 8, 96, 2, 4, 96),
    ModelSize("s", 64, 2, 4, 4, 64, 2, 4, 64),
    ModelSize("m", 96, 3, 4, 4, 96, 2, 4, 96),
    ModelSize("l", 128, 4, 4, 4, 128, 4, 4, 128),
    ModelSize("xl", 160, 6, 5, 4, 160, 4, 5, 160),
    # the study's real sizes (open_clip's ViT-S-16, ViT-B-16 and ViT-L-14 towers, for
    # 224 x 224 images on GPUs; text width = embedding width as above)
    ModelSize("vit-s-16", 384, 12, 6, 16, 384, 12, 6, 384),
    ModelSize("vit-b-16", 768, 12, 12, 16, 512, 12, 8, 512),
    ModelSize("vit-l-14", 1024, 24, 16, 14, 768, 12, 12, 768),
)


#: the rungs sized for CPUs and 32 x 32 images (the synthetic world); the others are the
#: study's ViTs for real data on GPUs
CPU_SIZES: tuple[str, ...] = ("xxs", "xs", "s8", "s", "m8", "m", "l", "xl")


def get_size(size: str | ModelSize) -> ModelSize:
    """A ladder entry by name (or a ``ModelSize`` passed through)."""
    if isinstance(size, ModelSize):
        return size
    try:
        return SIZE_LADDER[size]
    except KeyError:
        raise ValueError(f"unknown size {size!r}; known: {', '.join(SIZE_LADDER)}") from None
