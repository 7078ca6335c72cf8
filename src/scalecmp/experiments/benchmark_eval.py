"""Evaluation of a checkpoint on real benchmark datasets given by path.

Zero-shot classification and image-text retrieval run through **clip_benchmark**'s own code
(``clip_benchmark.datasets.builder.build_dataset`` with a ``wds/<name>`` dataset read from a
local folder, ``clip_benchmark.metrics.zeroshot_classification.evaluate`` and
``zeroshot_retrieval.evaluate``), so the numbers are those the ``clip_benchmark eval`` CLI
gives for the same model, images and prompts; the result record is the JSON file that CLI
writes. The ADE20K-style segmentation probe reads a folder of images and PNG label maps
into the :class:`~scalecmp.experiments.synthetic.SegmentationTask` that
:func:`scalecmp.experiments.evaluate.segmentation_probe` consumes.

The dataset descriptors (:class:`BenchmarkDataset`, :class:`SegmentationDataset`) are plain
config in :mod:`scalecmp.experiments.datasets` (no torch; a grid spec parses into them);
they are re-exported here.

Folder layouts
--------------
clip_benchmark webdataset (``BenchmarkDataset.path``)::

    <path>/<split>/nshards.txt                  # number of shards n
    <path>/<split>/0.tar .. <n-1>.tar           # samples: image (webp/png/jpg/jpeg) +
                                                #   cls (int label)   for classification
                                                #   txt (captions, one per line) for retrieval
    <path>/classnames.txt                       # classification: one class name per line
    <path>/zeroshot_classification_templates.txt  # classification: one prompt per line, "{c}"
    <path>/dataset_type.txt                     # retrieval: "retrieval" (classification:
                                                #   absent, "classification" or "multilabel")

ADE20K release (``load_segmentation_task``)::

    <root>/images/{training,validation}/<stem>.{jpg,jpeg,png,webp}
    <root>/annotations/{training,validation}/<stem>.png   # 0 = other/ignore, 1..K = classes
    <root>/objectInfo150.{txt,csv}              # optional: class names (last column "Name")

Metrics (higher is better, fractions in [0, 1], but for the one loss):

* ``acc1`` / ``acc5``: share of images whose true class is among the 1 / 5 best-scored
  classes (``acc5`` is NaN when the dataset has fewer than 5 classes, clip_benchmark's rule);
* ``mean_per_class_recall``: balanced accuracy, the mean over classes present of the share of
  their images classified correctly (top-1);
* ``cross_entropy`` (single-label sets; nats, lower is better): the smooth counterpart of
  ``acc1``, the cross-entropy of the true class at the temperature that fits the set best,
  computed from clip_benchmark's own logits
  (:func:`scalecmp.experiments.evaluate.calibrated_cross_entropy`);
* ``mean_average_precision``: instead of the four above, for multi-label datasets;
* ``image_retrieval_recall@k``: share of captions whose image is among the k images most
  similar to the caption (text -> image);
* ``text_retrieval_recall@k``: share of images with at least one of their captions among
  the k most similar captions (image -> text);
* ``miou`` (segmentation probe): mean over classes of the per-class intersection over union.

Ranking ties are broken by ``torch.topk`` (clip_benchmark), not by the expected-value rule of
:mod:`scalecmp.experiments.evaluate`; the two agree whenever scores are distinct.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import math
import os
import random
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from scalecmp.errors import DataError, UsageError
from scalecmp.experiments.data import (
    images_to_tensor,
    resize_center_crop,
    resize_crop,
)
from scalecmp.experiments.datasets import (
    BENCHMARK_TASKS,
    BenchmarkDataset,
    SegmentationDataset,
    _seg_pairs,
)
from scalecmp.experiments.evaluate import (
    _device,
    _eval_mode,
    calibrated_cross_entropy,
    to_clip_benchmark_json,
)
from scalecmp.experiments.synthetic import SegmentationTask

__all__ = [
    "BENCHMARK_TASKS",
    "BenchmarkDataset",
    "GridImageTransform",
    "SegmentationDataset",
    "check_benchmark_dataset",
    "clip_benchmark_filename",
    "clip_benchmark_record",
    "evaluate_benchmark",
    "evaluate_benchmarks",
    "load_segmentation_task",
    "metric_rows",
]

Tokenizer = Callable[[list[str]], torch.Tensor]

_CLASSNAMES = "classnames.txt"
_TEMPLATES = "zeroshot_classification_templates.txt"
_DATASET_TYPE = "dataset_type.txt"


# ----------------------------------------------------------------------------- checks

def _read_lines(path: Path, what: str) -> list[str]:
    """Stripped lines of a UTF-8 text file (as clip_benchmark reads them); blank lines in
    the middle are an error, trailing ones are dropped."""
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {what} {path}: {exc}") from exc
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise DataError(f"{what} {path} is empty")
    if "" in lines:
        raise DataError(f"{what} {path} has a blank line (line {lines.index('') + 1})")
    return lines


def _check_templates(path: Path) -> None:
    for i, template in enumerate(_read_lines(path, "template file"), 1):
        try:
            ok = template.format(c="\0") != template
        except (KeyError, IndexError, ValueError):
            ok = False
        if not ok:
            raise DataError(f"template file {path} line {i} ({template!r}) is not a "
                            "clip_benchmark prompt: it needs '{c}' for the class name")


def _dataset_type(root: Path) -> str:
    path = root / _DATASET_TYPE
    return _read_lines(path, "dataset type file")[0].lower() if path.is_file() else ""


def check_benchmark_dataset(dataset: BenchmarkDataset) -> None:
    """Check that ``dataset.path`` is a local clip_benchmark webdataset folder for its task:
    ``<split>/nshards.txt`` and its shards, class names and ``{c}`` prompts for
    classification, ``dataset_type.txt`` = "retrieval" for retrieval. Raises
    :class:`DataError` with a one-line message naming the missing or bad file."""
    where = f"benchmark {dataset.name!r}"
    if "://" in dataset.path:
        raise DataError(f"{where}: path must be a local folder; got {dataset.path}")
    root = Path(dataset.path)
    if not root.is_dir():
        raise DataError(f"{where}: dataset folder not found: {root}")
    split = root / dataset.split
    nshards_file = split / "nshards.txt"
    if not nshards_file.is_file():
        raise DataError(f"{where}: {nshards_file} not found (clip_benchmark webdataset layout: "
                        f"<path>/{dataset.split}/nshards.txt and 0.tar ..)")
    text = _read_lines(nshards_file, "shard count file")[0]
    if not text.isdigit() or int(text) < 1:
        raise DataError(f"{where}: {nshards_file} must hold a positive integer; got {text!r}")
    for i in range(int(text)):
        shard = split / f"{i}.tar"
        if not shard.is_file() or shard.stat().st_size == 0:
            raise DataError(f"{where}: shard {shard} is missing or empty "
                            f"(nshards.txt says {text})")
    kind = _dataset_type(root)
    if dataset.task == "zeroshot_retrieval":
        if kind != "retrieval":
            raise DataError(f"{where}: a retrieval dataset needs {root / _DATASET_TYPE} "
                            f"containing 'retrieval' (found {kind or 'no file'!r})")
        return
    if kind not in ("", "classification", "multilabel"):
        raise DataError(f"{where}: {root / _DATASET_TYPE} says {kind!r}, not a "
                        "classification dataset")
    for name in (_CLASSNAMES, _TEMPLATES):
        if not (root / name).is_file():
            raise DataError(f"{where}: {root / name} not found (needed for zero-shot "
                            "classification)")
    _read_lines(root / _CLASSNAMES, "class name file")
    _check_templates(root / _TEMPLATES)


# ----------------------------------------------------------------------------- transform

class GridImageTransform:
    """PIL image -> normalised float32 tensor (3, S, S), exactly as the grid prepares
    training images: RGB, shorter side resized to ``image_size`` (bicubic), centre crop
    (:func:`~scalecmp.experiments.data.resize_center_crop`), then CLIP mean/std
    normalisation (:func:`~scalecmp.experiments.data.images_to_tensor`). Picklable, so
    DataLoader workers can use it."""

    def __init__(self, image_size: int) -> None:
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
            raise UsageError(f"image_size must be a positive integer; got {image_size!r}")
        self.image_size = image_size

    def __call__(self, image: Any) -> torch.Tensor:
        pixels = np.array(resize_center_crop(image, self.image_size)[None])  # writable copy
        return images_to_tensor(pixels)[0]

    def __repr__(self) -> str:
        return f"GridImageTransform(image_size={self.image_size})"


# ----------------------------------------------------------------------------- evaluation

class _CappedLoader:
    """Iterates a DataLoader's batches, truncated to ``cap`` samples, counting them; exposes
    ``dataset`` (clip_benchmark reads ``dataloader.dataset.classes``)."""

    def __init__(self, loader: torch.utils.data.DataLoader, cap: int | None) -> None:
        self.loader, self.cap, self.count = loader, cap, 0
        self.dataset = loader.dataset

    def __iter__(self) -> Iterator[Any]:
        self.count = 0
        for images, targets in self.loader:
            if self.cap is not None and self.count + len(images) > self.cap:
                keep = self.cap - self.count
                images, targets = images[:keep], targets[:keep]
            if len(images):
                self.count += len(images)
                yield images, targets
            if self.cap is not None and self.count >= self.cap:
                return


def _accuracy(output: torch.Tensor, target: torch.Tensor,
              topk: Sequence[int] = (1,)) -> list[float]:
    """clip_benchmark's ``zeroshot_classification.accuracy``, same formula, with the count
    converted by ``float(tensor)``: its ``float(np.array([x]))`` raises TypeError under
    NumPy >= 2.4 (clip_benchmark 1.6.2, LAION-AI/CLIP_benchmark issue #147)."""
    pred = output.topk(max(topk), 1, True, True)[1].t()
    correct = pred.eq(target.view(1, -1).expand_as(pred))
    return [float(correct[:k].reshape(-1).float().sum()) / len(target) for k in topk]


@functools.cache
def _accuracy_is_broken(accuracy: Callable[..., list[float]]) -> bool:
    try:
        accuracy(torch.ones(1, 1), torch.zeros(1, dtype=torch.long))
    except TypeError:
        return True
    return False


@contextlib.contextmanager
def _clip_benchmark_patched() -> Iterator[dict[str, torch.Tensor]]:
    """While inside: clip_benchmark's metric loops without tqdm bars, where the installed
    ``accuracy`` fails under this NumPy :func:`_accuracy` in its place, and its
    classification logits and targets recorded in the yielded dict (for the smooth
    ``cross_entropy``). Restored after."""
    from clip_benchmark.metrics import zeroshot_classification as zc
    from clip_benchmark.metrics import zeroshot_retrieval as zr

    saved = [(m, "tqdm", m.tqdm) for m in (zc, zr)] + [(zc, "accuracy", zc.accuracy),
                                                       (zc, "run_classification",
                                                        zc.run_classification)]
    try:
        for m, _, bar in saved[:2]:
            m.tqdm = functools.partial(bar, disable=True)
        if _accuracy_is_broken(zc.accuracy):
            zc.accuracy = _accuracy
        run = zc.run_classification
        captured: dict[str, torch.Tensor] = {}

        def recording(*args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
            logits, target = run(*args, **kwargs)
            captured["logits"], captured["target"] = logits, target
            return logits, target

        zc.run_classification = recording
        yield captured
    finally:
        for m, attr, value in saved:
            setattr(m, attr, value)


def _build_loader(dataset: BenchmarkDataset, transform: GridImageTransform, batch_size: int,
                  num_workers: int) -> _CappedLoader:
    """clip_benchmark's wds dataset and the DataLoader its CLI builds for it."""
    from clip_benchmark.datasets.builder import build_dataset

    state = random.getstate()  # WebDataset draws a seed from the global RNG
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"WebDataset\(shardshuffle")
            ds = build_dataset(dataset.clip_benchmark_name, root=dataset.path,
                               transform=transform, split=dataset.split, download=False,
                               task=dataset.task)
    finally:
        random.setstate(state)
    loader = torch.utils.data.DataLoader(ds.batched(batch_size), batch_size=None,
                                         shuffle=False, num_workers=num_workers)
    return _CappedLoader(loader, dataset.max_samples)


#: clip_benchmark's classification logits are ``100 * cos`` (its ``run_classification``)
CLIP_BENCHMARK_LOGIT_SCALE = 100.0
#: metrics scalecmp adds to clip_benchmark's (left out of its JSON record)
SCALECMP_METRICS = ("cross_entropy",)


def _run_metrics(model: nn.Module, tok: Tokenizer, dataset: BenchmarkDataset,
                 loader: _CappedLoader, amp: bool) -> dict[str, float]:
    from clip_benchmark.metrics import zeroshot_classification, zeroshot_retrieval

    device = _device(model)
    cuda = torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()
    with cuda, _eval_mode(model), _clip_benchmark_patched() as captured, \
            warnings.catch_warnings():
        # sklearn's balanced accuracy warns when a class is predicted but absent (harmless)
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        if dataset.task == "zeroshot_classification":
            ds = loader.dataset
            metrics = zeroshot_classification.evaluate(
                model, loader, tok, ds.classes, ds.templates, device=device.type, amp=amp)
            target = captured.get("target")
            if target is not None and target.dim() == 1:  # single-label: the smooth loss
                cosines = captured["logits"].float().cpu() / CLIP_BENCHMARK_LOGIT_SCALE
                metrics["cross_entropy"] = calibrated_cross_entropy(cosines, target.cpu())
            return metrics
        return zeroshot_retrieval.evaluate(model, loader, tok, device=device.type, amp=amp,
                                           recall_k_list=list(dataset.recall_k))


def evaluate_benchmark(
    model: nn.Module,
    tokenizer: Tokenizer,
    dataset: BenchmarkDataset,
    *,
    image_size: int | None = None,
    batch_size: int = 64,
    num_workers: int = 0,
    amp: bool = False,
    output: str | os.PathLike | None = None,
    model_name: str | None = None,
    pretrained: str = "",
) -> dict[str, float]:
    """Zero-shot classification or retrieval of ``model`` on ``dataset`` by clip_benchmark.

    ``model`` needs ``encode_image(images)`` and ``encode_text(tokens)`` (every
    :class:`~scalecmp.experiments.models.ProcedureModel` has them); it runs in eval mode on
    its own device (its previous mode is restored). ``tokenizer(list_of_str)`` returns the
    token ids (``CompactTokenizer``). Images go through :class:`GridImageTransform` at
    ``image_size`` (default ``model.image_size``). ``amp`` turns on clip_benchmark's autocast
    (its CLI default; off here for exact float32). The first ``dataset.max_samples``
    samples of the stream are used: shards in order with ``num_workers`` 0 or 1; with more
    workers, DataLoader interleaves the workers' shards batch by batch (deterministic, but a
    different subset).

    Returns clip_benchmark's metric dict: ``{"acc1", "acc5", "mean_per_class_recall"}``
    (or ``{"mean_average_precision"}`` for a multi-label set) for classification,
    ``{"image_retrieval_recall@k", "text_retrieval_recall@k"}`` per ``k`` of
    ``dataset.recall_k`` for retrieval; all in [0, 1], higher is better (module doc). With
    ``output``, writes the JSON record of the ``clip_benchmark eval`` CLI there
    (:func:`clip_benchmark_record`). Raises :class:`DataError` for a bad folder or unreadable
    samples, :class:`UsageError` for bad arguments.
    """
    if batch_size < 1 or num_workers < 0:
        raise UsageError(f"batch_size must be >= 1 and num_workers >= 0; got {batch_size}, "
                         f"{num_workers}")
    built = getattr(model, "image_size", None)
    size = image_size if image_size is not None else built
    if size is None:
        raise UsageError("image_size is needed (the model has no image_size attribute)")
    if built is not None and int(size) != int(built):
        raise UsageError(f"image_size {size} differs from the model's {built}")
    check_benchmark_dataset(dataset)
    loader = _build_loader(dataset, GridImageTransform(int(size)), batch_size, num_workers)
    try:
        metrics = _run_metrics(model, tokenizer, dataset, loader, amp)
    except DataError:
        raise
    except (ValueError, RuntimeError) as exc:
        error = _read_error(dataset, loader.count, exc)
        if error is exc:
            raise
        raise error from exc
    metrics = {k: float(v) for k, v in metrics.items()}
    if output is not None:  # the CLI's record: its metrics only (not the smooth loss)
        theirs = {k: v for k, v in metrics.items() if k not in SCALECMP_METRICS}
        record = clip_benchmark_record(dataset, theirs, model_name=_model_name(model, model_name),
                                       pretrained=pretrained)
        _write_json(Path(output), record)
    return metrics


def _read_error(dataset: BenchmarkDataset, count: int, exc: Exception) -> Exception:
    """A DataError for what went wrong while reading ``dataset``; other RuntimeErrors
    (out of memory, device errors) are returned unchanged."""
    where = f"benchmark {dataset.name!r} ({dataset.path})"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if count == 0:
        return DataError(f"{where}: no usable samples in split {dataset.split!r} ({first})")
    if dataset.task == "zeroshot_retrieval" and count < max(dataset.recall_k):
        return DataError(f"{where}: recall@{max(dataset.recall_k)} needs at least "
                         f"{max(dataset.recall_k)} images; the set has {count}")
    if isinstance(exc, ValueError):
        return DataError(f"{where}: cannot read samples: {first}")
    return exc


def evaluate_benchmarks(
    model: nn.Module,
    tokenizer: Tokenizer,
    datasets: Sequence[BenchmarkDataset],
    *,
    out_dir: str | os.PathLike | None = None,
    model_name: str | None = None,
    pretrained: str = "",
    **kwargs: Any,
) -> dict[str, dict[str, float]]:
    """:func:`evaluate_benchmark` on each of ``datasets`` (names must be unique).

    Returns ``{dataset.name: metrics}`` in the given order. With ``out_dir``, each record
    is written to ``out_dir / clip_benchmark_filename(...)`` (the CLI's default file name).
    ``kwargs`` go to :func:`evaluate_benchmark` (image_size, batch_size, num_workers, amp).
    """
    names = [d.name for d in datasets]
    if len(set(names)) != len(names):
        raise UsageError(f"benchmark names must be unique; got {', '.join(names)}")
    name = _model_name(model, model_name)
    results: dict[str, dict[str, float]] = {}
    for dataset in datasets:
        output = None
        if out_dir is not None:
            output = Path(out_dir) / clip_benchmark_filename(dataset, name, pretrained)
        results[dataset.name] = evaluate_benchmark(
            model, tokenizer, dataset, output=output, model_name=name, pretrained=pretrained,
            **kwargs)
    return results


# ----------------------------------------------------------------------------- records

def _model_name(model: nn.Module, name: str | None) -> str:
    """``name``, else ``<procedure>-<size>`` of a ProcedureModel, else the class name."""
    if name:
        return name
    procedure, size = getattr(model, "procedure", None), getattr(model, "size", None)
    return f"{procedure}-{size}" if procedure and size else type(model).__name__


def clip_benchmark_record(
    dataset: BenchmarkDataset, metrics: Mapping[str, float], *, model_name: str,
    pretrained: str, language: str = "en",
) -> dict[str, Any]:
    """The record ``clip_benchmark eval`` dumps: ``{"dataset": "wds/<name>", "model",
    "pretrained", "task", "metrics", "language"}`` (its keys, in its order)."""
    return to_clip_benchmark_json(dataset.clip_benchmark_name, model_name, pretrained,
                                  dataset.task, metrics, language=language)


def clip_benchmark_filename(dataset: BenchmarkDataset, model_name: str, pretrained: str,
                            language: str = "en") -> str:
    """The CLI's default output name ``{dataset}_{pretrained}_{model}_{language}_{task}.json``
    (dataset without its ``wds/`` prefix; any "/" in a part becomes "_")."""
    parts = [dataset.name, pretrained, model_name, language, dataset.task]
    return "_".join(p.replace("/", "_").replace(os.sep, "_") for p in parts) + ".json"


def _write_json(path: Path, record: Mapping[str, Any]) -> None:
    """``json.dump(record)`` as the CLI does (NaN written as ``NaN``), parents created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(record, f)


def metric_rows(task: str, metrics: Mapping[str, float]) -> list[dict[str, Any]]:
    """Tidy rows ``{"task", "metric", "value"}`` for the measurement table; non-finite
    values (``acc5`` of a set with fewer than 5 classes) are left out. ``task`` is e.g.
    ``BenchmarkDataset.table_task`` ("zeroshot_classification/imagenet1k")."""
    return [{"task": task, "metric": k, "value": float(v)} for k, v in metrics.items()
            if math.isfinite(float(v))]


# ----------------------------------------------------------------------------- segmentation

def _resize_crop_mask(mask: Any, image_size: int) -> np.ndarray:
    """The geometry of :func:`resize_center_crop` (shorter side to ``image_size``, centre
    crop) applied to a label map with nearest-neighbour resampling; int64 (S, S)."""
    from PIL import Image

    return np.asarray(resize_crop(mask, image_size, Image.Resampling.NEAREST), dtype=np.int64)


def _load_pair(image_path: Path, ann_path: Path, image_size: int) -> tuple[np.ndarray,
                                                                         np.ndarray]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(image_path) as img, Image.open(ann_path) as ann:
            if img.size != ann.size:
                raise DataError(f"segmentation data: {ann_path} is {ann.size[0]}x{ann.size[1]}"
                                f" but its image is {img.size[0]}x{img.size[1]}")
            if ann.mode not in ("L", "P", "I", "I;16", "1"):
                raise DataError(f"segmentation data: {ann_path} must be a single-channel "
                                f"label map (PNG mode L/P/I); got mode {ann.mode}")
            return resize_center_crop(img, image_size), _resize_crop_mask(ann, image_size)
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(f"segmentation data: cannot read {image_path} / {ann_path}: "
                        f"{exc}") from exc


def _load_split(root: Path, split: str, image_size: int,
                cap: int | None) -> tuple[np.ndarray, np.ndarray]:
    pairs = [_load_pair(i, a, image_size) for i, a in _seg_pairs(root, split, cap)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def _class_names(root: Path) -> tuple[str, ...]:
    """("other", name_1, ..) from ADE20K's objectInfo150.txt (tab-separated) or .csv (last
    column "Name", first synonym); () when neither file exists."""
    for fname in ("objectInfo150.txt", "objectInfo150.csv"):
        path = root / fname
        if path.is_file():
            text = path.read_text(encoding="utf-8").splitlines()
            rows = list(csv.reader(text, delimiter="\t" if fname.endswith(".txt") else ","))
            names = [r[-1].split(";")[0].strip() for r in rows[1:] if r]
            return ("other", *names)
    return ()


def load_segmentation(entry: SegmentationDataset, image_size: int) -> SegmentationTask:
    """:func:`load_segmentation_task` with a spec entry's settings."""
    return load_segmentation_task(
        entry.path, image_size, train_split=entry.train_split, test_split=entry.test_split,
        max_train=entry.max_train, max_test=entry.max_test, n_classes=entry.n_classes,
        ignore_label=entry.ignore_label)


def load_segmentation_task(
    root: str | os.PathLike,
    image_size: int,
    *,
    train_split: str = "training",
    test_split: str = "validation",
    max_train: int | None = None,
    max_test: int | None = None,
    n_classes: int | None = None,
    ignore_label: int | None = 0,
) -> SegmentationTask:
    """A :class:`SegmentationTask` from a folder in ADE20K's release layout (module doc).

    Images are resized and centre-cropped to ``image_size`` like training images (bicubic,
    :func:`~scalecmp.experiments.data.resize_center_crop`); each label map gets the same
    geometry with nearest-neighbour resampling, so labels stay labels and stay aligned.
    Files are taken in name order, the first ``max_train`` / ``max_test`` of each split.
    ``n_classes`` (label values 0..n_classes-1) defaults to 1 + the number of names in
    ``objectInfo150`` when present (151 for ADE20K), else to 1 + the largest label found.

    ``ignore_label`` (default 0, "other" in ADE20K) is ADE20K's official protocol: the
    probe neither trains on nor scores its pixels, so the mIoU is over the real classes
    (None: label 0 counts as a class, like the synthetic tasks' background). Raises
    :class:`DataError` for missing folders, images without annotation, size mismatches, RGB
    label maps or labels >= ``n_classes``.
    """
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise UsageError(f"image_size must be a positive integer; got {image_size!r}")
    base = Path(root)
    if not base.is_dir():
        raise DataError(f"segmentation data: folder not found: {base}")
    tr_img, tr_mask = _load_split(base, train_split, image_size, max_train)
    te_img, te_mask = _load_split(base, test_split, image_size, max_test)
    names = _class_names(base)
    top = int(max(tr_mask.max(), te_mask.max()))
    n = n_classes if n_classes is not None else (len(names) if names else top + 1)
    if top >= n:
        raise DataError(f"segmentation data: label {top} found in {base}, but there are "
                        f"{n} classes (labels 0..{n - 1})")
    return SegmentationTask(
        train_images=tr_img, train_masks=tr_mask, test_images=te_img, test_masks=te_mask,
        n_classes=n, class_names=names if len(names) == n else (), ignore_index=ignore_label,
    )
