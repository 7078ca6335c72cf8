"""The training procedures of the measurement harness, built on open-clip-torch.

``build_model(procedure, size, vocab_size=.., context_length=..)`` returns a
:class:`ProcedureModel` with one contract for every procedure::

    m(images, tokens) -> {"loss", "contrastive_loss", "caption_loss"}   # scalars
    m.encode_image(images, normalize=True) -> (B, D)
    m.encode_text(tokens, normalize=True)  -> (B, D)
    m.image_tokens(images) -> (B, T, W)    # unpooled patch tokens, class token left out

Procedures (``PROCEDURES``):

* ``clip``: open_clip ``CLIP`` + ``ClipLoss``:
  ``L = (CE(s * I T^T, diag) + CE(s * T I^T, diag)) / 2`` with L2-normalised features and
  learnt temperature ``s = exp(logit_scale)`` (init 1/0.07).
* ``siglip``: the same ``CLIP`` with a learnt logit bias + ``SigLipLoss``:
  ``L = -sum_ij log sigmoid(z_ij (s I_i.T_j + b)) / B``, ``z_ij = 1`` if ``i == j`` else
  ``-1``; initial ``s = 10``, ``b = -10`` (the SigLIP paper's initialisation).
* ``coca``: open_clip ``CoCa`` (unimodal text encoder with a class token, attentional
  pooler on the image, multimodal decoder with cross-attention in every layer) +
  ``CoCaLoss``: ``L = ClipLoss + w * CE(captions)``.
* ``mammut``: :class:`scalecmp.experiments.mammut.MaMMUT` (one text decoder used for a
  contrastive and a captioning pass) + ``CoCaLoss``: ``L = ClipLoss + w * CE(captions)``.

``w`` is ``caption_loss_weight`` (default 1.0; open_clip's CoCa default is 2.0, the study's
weights are not stated). ``caption_loss`` in the output is the unweighted mean next-token
cross-entropy over non-padding targets (0 for the contrastive-only procedures);
``contrastive_loss`` is the unweighted contrastive term.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from open_clip import CLIP, CoCa
from open_clip.coca_model import MultimodalCfg
from open_clip.loss import ClipLoss, CoCaLoss, SigLipLoss
from open_clip.model import CLIPTextCfg, CLIPVisionCfg
from torch import nn

from .flops import measure_gflops_per_sample, param_counts
from .mammut import MaMMUT, init_residual_block
from .registry import CPU_SIZES, PROCEDURES, SIZE_LADDER, ModelSize, get_size
from .tokenizer import CompactTokenizer

__all__ = [
    "PROCEDURES",
    "CPU_SIZES",
    "SIZE_LADDER",
    "CompactTokenizer",
    "ModelSize",
    "ProcedureModel",
    "build_model",
    "get_size",
    "measure_gflops_per_sample",
    "param_counts",
    "text_config",
    "vision_config",
]

PAD_ID = 0


def vision_config(size: ModelSize, image_size: int = 32) -> CLIPVisionCfg:
    """open_clip vision config of a ladder size (ViT, class-token pooling)."""
    if size.vision_width % size.vision_heads or image_size % size.patch_size:
        raise ValueError(f"size {size.name}: width/heads or image/patch not divisible")
    return CLIPVisionCfg(
        layers=size.vision_layers,
        width=size.vision_width,
        head_width=size.vision_width // size.vision_heads,
        mlp_ratio=size.mlp_ratio,
        patch_size=size.patch_size,
        image_size=image_size,
    )


def text_config(size: ModelSize, vocab_size: int, context_length: int) -> CLIPTextCfg:
    """open_clip text config of a ladder size (causal, pooled at the eot = largest id)."""
    if size.text_width % size.text_heads:
        raise ValueError(f"size {size.name}: text width not divisible by heads")
    return CLIPTextCfg(
        context_length=context_length,
        vocab_size=vocab_size,
        width=size.text_width,
        heads=size.text_heads,
        layers=size.text_layers,
        mlp_ratio=size.mlp_ratio,
        pad_id=PAD_ID,
    )


class ProcedureModel(nn.Module):
    """Common wrapper: the open_clip (or MaMMUT) model in ``self.model`` and its loss in
    ``self.loss_fn``. Attributes: ``procedure``, ``size`` (ladder name), ``model_size``,
    ``vocab_size``, ``context_length``, ``image_size``, ``pad_id``."""

    def __init__(
        self,
        procedure: str,
        size: ModelSize,
        model: nn.Module,
        loss_fn: nn.Module,
        *,
        vocab_size: int,
        context_length: int,
        image_size: int,
    ) -> None:
        super().__init__()
        self.procedure = procedure
        self.size = size.name
        self.model_size = size
        self.model = model
        self.loss_fn = loss_fn
        self._loss_world = (0, 1)
        #: True: compute the loss of this process's batch alone even under torch.distributed
        #: (the FLOP count of one sample uses it)
        self.single_process = False
        self.vocab_size = vocab_size
        self.context_length = context_length
        self.image_size = image_size
        self.pad_id = PAD_ID

    @property
    def image_encoder(self) -> nn.Module:
        """The ViT image tower (what ``param_counts`` reports as ``image_params``)."""
        return self.model.visual

    def encode_image(self, images: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """Pooled, projected image embedding (B, D), L2-normalised when ``normalize``."""
        return self.model.encode_image(images, normalize=normalize)

    def encode_text(self, tokens: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """Text embedding (B, D) used by the contrastive loss, L2-normalised when asked."""
        return self.model.encode_text(tokens, normalize=normalize)

    def image_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Unpooled patch tokens (B, T, W) of the ViT's last block, class token left out,
        passed through the ViT's final LayerNorm where that norm has the token width
        (clip/siglip/mammut; coca's norm sits after its attentional pooler and is skipped)."""
        visual = self.image_encoder
        x = visual.transformer(visual._embeds(images))[:, 1:]
        return visual.ln_post(x) if visual.attn_pool is None else x

    @property
    def logit_scale(self) -> nn.Parameter:
        """The learnt log-temperature of the contrastive loss (``exp`` of it scales logits)."""
        return self.model.logit_scale

    @property
    def logit_bias(self) -> nn.Parameter | None:
        """The learnt logit bias (siglip only, else None)."""
        return self.model.logit_bias

    @torch.no_grad()
    def clamp_logit_scale(self, max_scale: float = 100.0) -> None:
        """Clamp the learnt temperature to ``[1, max_scale]`` (open_clip's training loop does
        this after every optimiser step)."""
        self.model.logit_scale.clamp_(0.0, math.log(max_scale))

    def forward(self, images: torch.Tensor, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def contrastive_loss_fn(self) -> nn.Module:
        """The loss for the current process group: under torch.distributed the features of
        every rank are gathered (with gradients), so the contrastive loss sees the global
        batch exactly as a single process would."""
        world = (0, 1) if self.single_process else _world()
        if world != self._loss_world:
            self.loss_fn = _make_loss(self.procedure, *world)
            self._loss_world = world
        return self.loss_fn


class ContrastiveProcedure(ProcedureModel):
    """clip / siglip: open_clip ``CLIP`` with ``ClipLoss`` or ``SigLipLoss``."""

    def forward(self, images: torch.Tensor, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"loss": L, "contrastive_loss": L, "caption_loss": 0}`` (formulas: module doc)."""
        out = self.model(images, tokens)
        loss = self.contrastive_loss_fn()(*out)
        return {"loss": loss, "contrastive_loss": loss, "caption_loss": loss.new_zeros(())}


class CaptioningProcedure(ProcedureModel):
    """coca / mammut: contrastive + ``caption_loss_weight`` x captioning loss (``CoCaLoss``
    with unit weights gives both unweighted terms)."""

    def __init__(self, *args, caption_loss_weight: float = 1.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.caption_loss_weight = float(caption_loss_weight)

    def forward(self, images: torch.Tensor, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        """``loss = contrastive_loss + caption_loss_weight * caption_loss``."""
        out = self.model(images, tokens)
        contrastive, caption = self.contrastive_loss_fn()(
            out["image_features"],
            out["text_features"],
            out["logits"],
            out["labels"],
            out["logit_scale"],
        )
        loss = contrastive + self.caption_loss_weight * caption
        return {"loss": loss, "contrastive_loss": contrastive, "caption_loss": caption}


def _world() -> tuple[int, int]:
    """(rank, world size) of the default process group, (0, 1) without one."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _make_loss(procedure: str, rank: int = 0, world_size: int = 1) -> nn.Module:
    """open_clip's loss of ``procedure`` for a process group of ``world_size`` ranks."""
    dist = {"rank": rank, "world_size": world_size}
    if procedure == "siglip":
        return SigLipLoss(**dist)
    gather = {"gather_with_grad": world_size > 1, **dist}
    if procedure == "clip":
        return ClipLoss(**gather)
    return CoCaLoss(caption_loss_weight=1.0, clip_loss_weight=1.0, pad_id=PAD_ID, **gather)


def _build_clip(
    size: ModelSize, vocab_size: int, context_length: int, image_size: int, siglip: bool
) -> CLIP:
    kwargs = {"init_logit_scale": float(np.log(10.0)), "init_logit_bias": -10.0} if siglip else {}
    return CLIP(
        size.embed_dim,
        vision_config(size, image_size),
        text_config(size, vocab_size, context_length),
        **kwargs,
    )


def _build_coca(size: ModelSize, vocab_size: int, context_length: int, image_size: int) -> CoCa:
    if size.embed_dim != size.text_width:
        raise ValueError("coca needs embed_dim == text_width (image tokens feed its decoder)")
    n_patches = (image_size // size.patch_size) ** 2
    vision = vision_config(size, image_size)
    vision.attentional_pool = True
    vision.attn_pooler_queries = n_patches + 1  # 1 contrastive query + one per patch
    vision.attn_pooler_heads = size.text_heads
    vision.output_tokens = True
    text = text_config(size, vocab_size, context_length)
    text.embed_cls = True
    text.output_tokens = True
    multimodal = MultimodalCfg(
        context_length=context_length,
        vocab_size=vocab_size,
        width=size.text_width,
        heads=size.text_heads,
        layers=size.text_layers,
        mlp_ratio=size.mlp_ratio,
    )
    model = CoCa(size.embed_dim, multimodal, text, vision, pad_id=PAD_ID)
    # open_clip 3.x leaves two things of CoCa unfinished; fix them here:
    # the pad mask of the text encoder puts the class token at the wrong end by default,
    model.text.correct_cls_mask = True
    # and MultimodalTransformer.init_parameters is never called (its vocabulary projection is
    # torch.empty memory): apply the initialisation it intends.
    decoder = model.text_decoder
    for block in [*decoder.resblocks, *decoder.cross_attn]:
        init_residual_block(block, decoder.width, decoder.layers)
    nn.init.normal_(decoder.text_projection, std=decoder.width**-0.5)
    return model


def build_model(
    procedure: str,
    size: str | ModelSize,
    *,
    vocab_size: int,
    context_length: int,
    image_size: int = 32,
    seed: int = 0,
    caption_loss_weight: float = 1.0,
) -> ProcedureModel:
    """Build ``procedure`` at ``size``; parameters are a deterministic function of ``seed``
    (the global torch RNG state is left untouched). ``vocab_size`` must include pad (0) and
    have the eot as its largest id (``CompactTokenizer`` does)."""
    if procedure not in PROCEDURES:
        raise ValueError(f"unknown procedure {procedure!r}; known: {', '.join(PROCEDURES)}")
    spec = get_size(size)
    common = {"vocab_size": vocab_size, "context_length": context_length, "image_size": image_size}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if procedure in ("clip", "siglip"):
            siglip = procedure == "siglip"
            model = _build_clip(spec, vocab_size, context_length, image_size, siglip)
            return ContrastiveProcedure(procedure, spec, model, _make_loss(procedure), **common)
        if procedure == "coca":
            model = _build_coca(spec, vocab_size, context_length, image_size)
        else:
            model = MaMMUT(
                spec.embed_dim,
                vision_config(spec, image_size),
                vocab_size=vocab_size,
                context_length=context_length,
                text_width=spec.text_width,
                text_layers=spec.text_layers,
                text_heads=spec.text_heads,
                mlp_ratio=spec.mlp_ratio,
                pad_id=PAD_ID,
            )
        return CaptioningProcedure(
            procedure,
            spec,
            model,
            _make_loss(procedure),
            caption_loss_weight=caption_loss_weight,
            **common,
        )
