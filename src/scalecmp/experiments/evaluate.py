"""Evaluation of a checkpoint on the synthetic world's held-out tasks (model-agnostic).

The model contract (see docs/architecture.md)::

    model.encode_image(images, normalize=True) -> (B, D)   # images from images_to_tensor
    model.encode_text(tokens, normalize=True)  -> (B, D)   # tokens = tok(list_of_str)
    model.image_tokens(images) -> (B, T, W)                # patch tokens (segmentation probe)

Every metric is "higher is better" in [0, 1], except the two smooth losses (nats, lower is
better; Schaeffer et al. 2023: a thresholded metric such as top-1 can jump where the
model's probabilities improve smoothly): the zero-shot classification ``cross_entropy`` and
the retrieval pairs' ``contrastive_loss``, both at the temperature that fits the set best
(:func:`calibrated_cross_entropy`). Ranking metrics treat ties as a random tie break and report
its expectation (a model with constant embeddings scores chance, not 1).
Results can be written in clip_benchmark's JSON format (:func:`to_clip_benchmark_json`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from scalecmp.errors import DataError, UsageError
from scalecmp.experiments.data import images_to_tensor
from scalecmp.experiments.synthetic import (
    ClassificationTask,
    RetrievalTask,
    SegmentationTask,
    SyntheticWorld,
)

__all__ = [
    "calibrated_cross_entropy",
    "class_iou",
    "evaluate_checkpoint",
    "expected_hits_at_k",
    "retrieval",
    "segmentation_probe",
    "to_clip_benchmark_json",
    "write_clip_benchmark_json",
    "zero_shot_classification",
]

Tokenizer = Callable[[list[str]], torch.Tensor]
_TIE_TOL = 1e-6


# ----------------------------------------------------------------------------- helpers

def _device(model: nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode and no_grad inside; the previous train/eval mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _map_images(model: nn.Module, images: np.ndarray, batch_size: int,
                fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Float32 CPU outputs of ``fn`` over normalised uint8 images, in batches."""
    device, outs = _device(model), []
    for i in range(0, len(images), batch_size):
        outs.append(fn(images_to_tensor(images[i:i + batch_size], device=device)).float().cpu())
    return torch.cat(outs)


def _encode_images(model: nn.Module, images: np.ndarray, batch_size: int) -> torch.Tensor:
    """L2-normalised float32 CPU image embeddings (N, D), in batches."""
    return _map_images(model, images, batch_size, lambda x: model.encode_image(x, normalize=True))


def _encode_texts(model: nn.Module, tok: Tokenizer, texts: Sequence[str],
                  batch_size: int) -> torch.Tensor:
    """L2-normalised float32 CPU text embeddings (N, D), in batches."""
    device, outs = _device(model), []
    for i in range(0, len(texts), batch_size):
        tokens = tok(list(texts[i:i + batch_size])).to(device)
        outs.append(model.encode_text(tokens, normalize=True).float().cpu())
    return torch.cat(outs)


def expected_hits_at_k(scores: torch.Tensor, target: torch.Tensor, k: int) -> torch.Tensor:
    """Per query, the probability that ``target`` is among the ``k`` best-scored candidates
    under a uniformly random tie break.

    ``scores`` (Q, N), ``target`` (Q,) long. With ``g`` candidates scoring above the target
    and ``e`` others tied with it (within 1e-6), the target's rank is ``g + U{0..e}`` and the
    hit probability ``clip((k - g) / (e + 1), 0, 1)``.
    """
    true = scores.gather(1, target[:, None])
    greater = (scores > true + _TIE_TOL).sum(1)
    ties = ((scores - true).abs() <= _TIE_TOL).sum(1) - 1
    return ((k - greater).clamp(min=0).float() / (ties + 1).float()).clamp(max=1.0)


def calibrated_cross_entropy(cosines: torch.Tensor, target: torch.Tensor) -> float:
    """``min_s mean_i -log softmax(s * cos_i)[target_i]`` (nats) over the temperature
    ``s`` in [0.1, 1000]: the cross-entropy of the similarities at the temperature that
    fits this set best (temperature scaling; Guo et al. 2017).

    Why not the model's learnt temperature: early in training it is far from calibrated
    (zero-shot cross-entropies above ``log n_classes``, the value at chance, were measured
    at the model's own scale), so the loss then measures the temperature, not the
    embedding. The loss is convex in ``s``: a grid of 49 log-spaced values, then a
    golden-section search in the best bracket. At chance (constant cosines) it is
    ``log n`` for every ``s``."""
    cos = cosines.double()
    tgt = torch.as_tensor(target, dtype=torch.long)

    def loss(s: float) -> float:
        return float(F.cross_entropy(s * cos, tgt))

    grid = np.geomspace(0.1, 1000.0, 49)
    values = [loss(float(s)) for s in grid]
    i = int(np.argmin(values))
    lo, hi = np.log(grid[max(i - 1, 0)]), np.log(grid[min(i + 1, len(grid) - 1)])
    golden = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = hi - golden * (hi - lo), lo + golden * (hi - lo)
    fa, fb = loss(float(np.exp(a))), loss(float(np.exp(b)))
    for _ in range(30):
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - golden * (hi - lo)
            fa = loss(float(np.exp(a)))
        else:
            lo, a, fa = a, b, fb
            b = lo + golden * (hi - lo)
            fb = loss(float(np.exp(b)))
    return float(min(values[i], fa, fb))


# ----------------------------------------------------------------------------- classification

def zero_shot_classification(
    model: nn.Module, tok: Tokenizer, task: ClassificationTask, batch_size: int = 256
) -> dict[str, float]:
    """Zero-shot top-1/top-5 accuracy with a prompt ensemble.

    The class embedding is the mean over ``task.templates`` of the normalised text embeddings
    of ``template.format(classname)``, renormalised; an image's logits are the dot products
    with its normalised embedding. Returns ``{"acc1", "acc5", "mean_per_class_recall",
    "cross_entropy"}`` (top-5 is top-min(5, n_classes)); ``cross_entropy`` (nats, lower is
    better; ``log n_classes`` at chance) is the mean of ``-log softmax(s * cos)`` of the
    true class at the best temperature ``s`` (:func:`calibrated_cross_entropy`).
    """
    n_classes = len(task.classnames)
    with _eval_mode(model):
        prompts = [t.format(c) for c in task.classnames for t in task.templates]
        text = _encode_texts(model, tok, prompts, batch_size)
        weights = F.normalize(text.view(n_classes, len(task.templates), -1).mean(1), dim=-1)
        image = _encode_images(model, task.images, batch_size)
    logits = image @ weights.T
    target = torch.as_tensor(np.asarray(task.labels), dtype=torch.long)
    top1 = expected_hits_at_k(logits, target, 1)
    top5 = expected_hits_at_k(logits, target, min(5, n_classes))
    per_class = torch.zeros(n_classes).index_add_(0, target, top1)
    counts = torch.bincount(target, minlength=n_classes).float()
    present = counts > 0
    return {
        "acc1": float(top1.mean()),
        "acc5": float(top5.mean()),
        "mean_per_class_recall": float((per_class[present] / counts[present]).mean()),
        "cross_entropy": calibrated_cross_entropy(logits, target),
    }


# ----------------------------------------------------------------------------- retrieval

def retrieval(
    model: nn.Module, tok: Tokenizer, task: RetrievalTask, batch_size: int = 256,
    ks: Sequence[int] = (1, 5, 10),
) -> dict[str, float]:
    """Image-text retrieval recall@k (clip_benchmark convention).

    ``image_retrieval_recall@k``: share of captions whose own image is among the k images
    most similar to it (text -> image); ``text_retrieval_recall@k``: share of images whose own
    caption is among the k most similar captions (image -> text). Cosine similarities.
    """
    if len(task.captions) != len(task.images):
        raise DataError("retrieval task needs one caption per image")
    with _eval_mode(model):
        image = _encode_images(model, task.images, batch_size)
        text = _encode_texts(model, tok, list(task.captions), batch_size)
    sim = text @ image.T  # (texts, images)
    target = torch.arange(len(task.images))
    out: dict[str, float] = {}
    for k in ks:
        out[f"image_retrieval_recall@{k}"] = float(expected_hits_at_k(sim, target, k).mean())
    for k in ks:
        out[f"text_retrieval_recall@{k}"] = float(expected_hits_at_k(sim.T, target, k).mean())
    both = torch.cat([sim, sim.T])  # text -> image rows, then image -> text rows
    out["contrastive_loss"] = calibrated_cross_entropy(both, torch.cat([target, target]))
    return out


# ----------------------------------------------------------------------------- segmentation

#: the largest number of outputs per token (classes x pixels of a patch) for which
#: ``segmentation_probe(decoder="auto")`` uses the per-patch pixel decoder
PATCH_DECODER_MAX = 4096


def _token_grid(tokens: torch.Tensor) -> torch.Tensor:
    """(B, T, W) patch tokens -> (B, W, g, g); a leading class token (T = g*g + 1) is dropped."""
    b, t, w = tokens.shape
    g = math.isqrt(t)
    if g * g != t:
        g = math.isqrt(t - 1)
        if g * g != t - 1:
            raise DataError(f"cannot arrange {t} image tokens on a square grid")
        tokens = tokens[:, 1:]
    return tokens.transpose(1, 2).reshape(b, w, g, g)


def class_iou(pred: torch.Tensor, target: torch.Tensor, n_classes: int,
              ignore_index: int | None = None) -> torch.Tensor:
    """IoU per class over the whole set: ``|pred = c and target = c| / |pred = c or
    target = c|``; NaN for classes absent from ``target`` (mIoU = nanmean, ADE20K style).
    Pixels labelled ``ignore_index`` are left out and that class's IoU is NaN."""
    pred, target = pred.reshape(-1), target.reshape(-1)
    if ignore_index is not None:
        keep = target != ignore_index
        pred, target = pred[keep], target[keep]
    inter = torch.bincount(target[pred == target], minlength=n_classes).double()
    area_p = torch.bincount(pred, minlength=n_classes).double()
    area_t = torch.bincount(target, minlength=n_classes).double()
    iou = inter / (area_p + area_t - inter).clamp(min=1)
    iou[area_t == 0] = float("nan")  # absent classes, the ignored label among them
    return iou


def segmentation_probe(
    model: nn.Module,
    task: SegmentationTask,
    seed: int = 0,
    epochs: int = 300,
    lr: float = 0.05,
    batch_size: int | None = None,
    weight_decay: float = 1e-4,
    embed_batch_size: int = 256,
    decoder: str = "auto",
    image_embedding: bool = True,
) -> dict[str, float]:
    """mIoU of a linear probe on frozen patch tokens.

    Features: the tokens of ``model.image_tokens`` on their square grid, with the model's
    (normalised) image embedding ``model.encode_image`` appended to every token when
    ``image_embedding`` (DINOv2's "lin. 1" linear probe: the class token concatenated to
    each patch token), standardised per channel (train statistics). The probe is linear
    and zero initialised; ``decoder`` maps it to pixels:

    * ``"patch"``: each token's linear map gives the class logits of every pixel of its
      own patch (a 1x1 convolution to ``n_classes * p * p`` channels rearranged by pixel
      shuffle, ``p`` = image side / grid side), so a probe is not limited to the token
      grid's resolution: with patch-8 tokens on 32-pixel images the bilinear decoder
      cannot outline an object a few pixels wide, whatever the features;
    * ``"bilinear"``: class logits per token, upsampled bilinearly to pixel resolution
      (Segmenter's linear decoder);
    * ``"auto"`` (default): ``"patch"`` while it needs at most :data:`PATCH_DECODER_MAX`
      outputs per token (the synthetic world: 4 classes x 8 x 8 pixels), else
      ``"bilinear"`` (ADE20K's 150 classes x 16 x 16 pixels would be 38,400).

    Trained with pixel-wise cross-entropy by ``epochs`` Adam passes over the train split
    (full batch when ``batch_size`` is None, else shuffled minibatches drawn from a
    generator seeded by ``seed``). Returns ``{"miou"}``: the mean over classes present in the
    test masks of the per-class IoU on the test split (background counts as a class; pixels
    labelled ``task.ignore_index`` are neither trained on nor scored).
    """
    if decoder not in ("auto", "patch", "bilinear"):
        raise UsageError(f"decoder must be 'auto', 'patch' or 'bilinear', got {decoder!r}")
    with _eval_mode(model):
        feats = []
        for images in (task.train_images, task.test_images):
            grid = _token_grid(_map_images(model, images, embed_batch_size, model.image_tokens))
            if image_embedding:
                emb = _encode_images(model, images, embed_batch_size)
                grid = torch.cat([grid, emb[:, :, None, None].expand(-1, -1, *grid.shape[-2:])],
                                 dim=1)
            feats.append(grid)
    train, test = feats
    mean = train.mean(dim=(0, 2, 3), keepdim=True)
    std = train.std(dim=(0, 2, 3), keepdim=True)
    live = std > 1e-6  # a constant channel carries nothing: zero, not amplified rounding
    train, test = ((torch.where(live, (x - mean) / std.clamp(min=1e-6), 0.0))
                   for x in (train, test))
    y_train = torch.as_tensor(np.asarray(task.train_masks), dtype=torch.long)
    y_test = torch.as_tensor(np.asarray(task.test_masks), dtype=torch.long)
    size = tuple(y_train.shape[-2:])
    g = train.shape[-1]
    p = max(1, -(-max(size) // g))
    if decoder == "bilinear" or (decoder == "auto"
                                 and task.n_classes * p * p > PATCH_DECODER_MAX):
        p = 1

    probe = nn.Conv2d(train.shape[1], task.n_classes * p * p, kernel_size=1)
    nn.init.zeros_(probe.weight)
    nn.init.zeros_(probe.bias)
    opt = torch.optim.Adam(probe.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(int(seed))
    ignore = -100 if task.ignore_index is None else int(task.ignore_index)
    n = train.shape[0]
    bs = n if batch_size is None else min(batch_size, n)

    def logits(x: torch.Tensor) -> torch.Tensor:
        out = probe(x)
        if p > 1:
            out = F.pixel_shuffle(out, p)
            if tuple(out.shape[-2:]) == size:
                return out
        return F.interpolate(out, size=size, mode="bilinear", align_corners=False)

    with torch.enable_grad():
        for _ in range(epochs):
            order = torch.randperm(n, generator=gen) if bs < n else torch.arange(n)
            for i in range(0, n, bs):
                idx = order[i:i + bs]
                loss = F.cross_entropy(logits(train[idx]), y_train[idx], ignore_index=ignore)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    with torch.no_grad():
        pred = torch.cat([logits(test[i:i + 256]).argmax(1) for i in range(0, len(test), 256)])
    iou = class_iou(pred, y_test, task.n_classes, task.ignore_index)
    return {"miou": float(torch.nanmean(iou))}


# ----------------------------------------------------------------------------- checkpoint

def evaluate_checkpoint(
    model: nn.Module,
    tok: Tokenizer,
    world: SyntheticWorld,
    *,
    n_per_class: int = 10,
    n_retrieval: int = 1000,
    n_seg_train: int = 500,
    n_seg_test: int = 200,
    seed: int = 0,
    batch_size: int = 256,
    seg_epochs: int = 300,
) -> list[dict[str, Any]]:
    """All synthetic evaluations of one model as tidy rows.

    Returns ``[{"task", "dataset", "metric", "value"}, ...]``: zero-shot classification
    ("zeroshot_classification" on "synthetic_classification": acc1, acc5,
    mean_per_class_recall), retrieval ("zeroshot_retrieval" on "synthetic_retrieval":
    image/text recall@1/5/10) and the segmentation probe ("segmentation" on
    "synthetic_segmentation": miou). Tasks come from the world's held-out eval split; a task
    whose size is 0 is skipped.
    """
    rows: list[dict[str, Any]] = []

    def add(task: str, dataset: str, metrics: dict[str, float]) -> None:
        rows.extend({"task": task, "dataset": dataset, "metric": k, "value": float(v)}
                    for k, v in metrics.items())

    if n_per_class > 0:
        cls = world.classification_task(n_per_class)
        add("zeroshot_classification", "synthetic_classification",
            zero_shot_classification(model, tok, cls, batch_size))
    if n_retrieval > 0:
        ret = world.retrieval_task(n_retrieval)
        add("zeroshot_retrieval", "synthetic_retrieval", retrieval(model, tok, ret, batch_size))
    if n_seg_train > 0 and n_seg_test > 0:
        seg = world.segmentation_task(n_seg_train, n_seg_test)
        add("segmentation", "synthetic_segmentation",
            segmentation_probe(model, seg, seed=seed, epochs=seg_epochs))
    return rows


def to_clip_benchmark_json(
    dataset: str, model_name: str, pretrained: str, task: str, metrics: Mapping[str, float],
    language: str | None = None,
) -> dict[str, Any]:
    """clip_benchmark's result record: ``{"dataset", "model", "pretrained", "task",
    "metrics": {name: value}}``, then ``"language"`` when given (the ``clip_benchmark
    eval`` CLI writes it)."""
    record: dict[str, Any] = {
        "dataset": dataset,
        "model": model_name,
        "pretrained": pretrained,
        "task": task,
        "metrics": {k: float(v) for k, v in metrics.items()},
    }
    if language is not None:
        record["language"] = language
    return record


def write_clip_benchmark_json(
    path: str | os.PathLike, dataset: str, model_name: str, pretrained: str, task: str,
    metrics: dict[str, float],
) -> Path:
    """Write :func:`to_clip_benchmark_json` to ``path`` (parent folders created)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    record = to_clip_benchmark_json(dataset, model_name, pretrained, task, metrics)
    out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return out
