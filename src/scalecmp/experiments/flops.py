"""Compute and size of a procedure model: forward GFLOPs per sample and parameter counts.

Compute per sample follows the study: C = forward GFLOPs of one image-text pair x samples
seen. The forward is the whole training forward of the procedure (image encoder, text
side, and for the captioning procedures the decoder passes and the vocabulary projection,
plus the loss), counted by ``torch.utils.flop_counter.FlopCounterMode``, which counts a
multiply-add as 2 FLOPs (a (m, k) @ (k, n) matmul is 2mkn FLOPs). Element-wise work
(LayerNorm, softmax, GELU) is not counted; causal attention is counted as full attention.
A training step (forward + backward) costs about 3x the forward.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

__all__ = ["measure_gflops_per_sample", "param_counts"]


def _sdpa_flop(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _custom_mapping() -> dict:
    """On CPU, attention runs as ``_scaled_dot_product_flash_attention_for_cpu``, which the
    flop counter of this torch version does not know (it would count 0 for QK^T and AV);
    count it like the CUDA attention kernels so the numbers do not depend on the device."""
    op = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    return {op: _sdpa_flop} if op is not None else {}


def _probe_batch(
    model: nn.Module, image_size: int, context_length: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One image and one full-length token row (sot, filler, eot: no padding; padding does
    not change the compute of these models)."""
    param = next(model.parameters())
    vocab_size = int(getattr(model, "vocab_size", 4))
    images = torch.zeros(1, 3, image_size, image_size, dtype=param.dtype, device=param.device)
    tokens = torch.ones(1, context_length, dtype=torch.long, device=param.device)
    tokens[0, 0] = max(vocab_size - 2, 1)
    tokens[0, -1] = vocab_size - 1
    return images, tokens


def measure_gflops_per_sample(model: nn.Module, image_size: int, context_length: int) -> float:
    """Forward GFLOPs (1e9 FLOPs, multiply-add = 2) of ``model(images, tokens)`` on one
    image-text pair of ``image_size`` pixels and ``context_length`` tokens.

    The forward runs in training mode with autograd on (the path a training step takes; the
    module's mode is restored afterwards), under ``FlopCounterMode``, as in one process (the
    count does not depend on the number of ranks).
    """
    images, tokens = _probe_batch(model, image_size, context_length)
    was_training = model.training
    # the count of one process: under torch.distributed the loss would gather the other
    # ranks' features (a bigger logit matrix, and a collective every rank must join)
    was_single = getattr(model, "single_process", None)
    model.train()
    try:
        if was_single is not None:
            model.single_process = True
        counter = FlopCounterMode(display=False, custom_mapping=_custom_mapping())
        with torch.enable_grad(), counter:
            model(images, tokens)
    finally:
        model.train(was_training)
        if was_single is not None:
            model.single_process = was_single
    return counter.get_total_flops() / 1e9


def _numel(params) -> int:
    return int(sum(p.numel() for p in params))


def param_counts(model: nn.Module) -> dict[str, int]:
    """Raw parameter counts (ints, not millions).

    ``image_params``: the image encoder (``model.image_encoder``, else ``model.visual``);
    ``text_params``: everything else except the contrastive temperature / bias scalars
    (text encoder, decoders, vocabulary projections, image-to-decoder mappings);
    ``params``: all parameters (= image + text + the 1 or 2 logit scalars).
    """
    encoder = model.image_encoder if hasattr(model, "image_encoder") else model.visual
    total = _numel(model.parameters())
    image = _numel(encoder.parameters())
    scalar_names = ("logit_scale", "logit_bias")
    named = model.named_parameters()
    scalars = _numel(p for name, p in named if name.rsplit(".", 1)[-1] in scalar_names)
    return {"params": total, "image_params": image, "text_params": total - image - scalars}
