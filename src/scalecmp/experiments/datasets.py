"""Real evaluation datasets given by path, as plain config: what a grid spec's ``eval.benchmarks``
and ``eval.segmentation_data`` entries become.

:class:`BenchmarkDataset` (a clip_benchmark webdataset folder) and
:class:`SegmentationDataset` (an ADE20K-layout folder) are frozen dataclasses validated on
construction, with the layout check that reads no image (``SegmentationDataset.check``).
Evaluating or loading them is :mod:`scalecmp.experiments.benchmark_eval` (torch), which also
describes the folder layouts. No torch here, so :mod:`scalecmp.experiments.spec` parses a
spec without it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scalecmp.errors import DataError, UsageError
from scalecmp.experiments.data import IMAGE_EXTENSIONS

__all__ = [
    "BENCHMARK_TASKS",
    "SEGMENTATION_TASK",
    "SEG_IMAGE_EXTENSIONS",
    "BenchmarkDataset",
    "SegmentationDataset",
]

#: the clip_benchmark tasks :mod:`scalecmp.experiments.benchmark_eval` runs
BENCHMARK_TASKS: tuple[str, ...] = ("zeroshot_classification", "zeroshot_retrieval")
SEGMENTATION_TASK = "segmentation"
#: image file extensions read by the segmentation loader (the image types of the data loaders)
SEG_IMAGE_EXTENSIONS: tuple[str, ...] = tuple(f".{e}" for e in IMAGE_EXTENSIONS)
_WDS_PREFIX = "wds/"
_BENCHMARK_KEYS = {"name", "task", "path", "split", "max_samples", "recall_k"}
_SEGMENTATION_KEYS = {"name", "path", "train_split", "test_split", "max_train", "max_test",
                      "n_classes", "ignore_label"}


# ----------------------------------------------------------------------------- specs

def _check_name(where: str, name: object) -> str:
    if not isinstance(name, str) or not name.strip() or "/" in name or name != name.strip():
        raise UsageError(f"{where}: name must be a non-empty string without '/' or spaces "
                         f"around it; got {name!r}")
    return name


def _check_limit(where: str, key: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"{where}: {key} must be a positive integer or null; got {value!r}")
    return value


def _resolve(path: object, base_dir: str | os.PathLike | None, where: str) -> str:
    if not isinstance(path, str | os.PathLike) or not os.fspath(path):
        raise UsageError(f"{where}: path must be a non-empty string; got {path!r}")
    p = Path(os.path.expanduser(os.fspath(path)))
    if base_dir is not None and not p.is_absolute():
        p = Path(base_dir) / p
    return os.fspath(p)


def _from_mapping(cls: type, keys: set[str], raw: object, where: str,
                  base_dir: str | os.PathLike | None) -> Any:
    if not isinstance(raw, Mapping):
        raise UsageError(f"{where}: expected a mapping like {{name: .., path: ..}}; got {raw!r}")
    unknown = sorted(set(map(str, raw)) - keys)
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(keys))})")
    missing = [k for k in ("name", "path") if k not in raw]
    if missing:
        raise UsageError(f"{where}: missing key(s) {', '.join(missing)}")
    values = dict(raw)
    values["path"] = _resolve(values["path"], base_dir, where)
    return cls(**values, where=where)


@dataclass(frozen=True)
class BenchmarkDataset:
    """One clip_benchmark evaluation dataset in webdataset layout, read from a local folder.

    ``name`` names the dataset in results ("imagenet1k", "mscoco_captions": the JSON record
    says ``wds/<name>``, the table task ``<task>/<name>``); ``task`` is
    ``"zeroshot_classification"`` or ``"zeroshot_retrieval"``; ``path`` the folder (see the
    module doc); ``split`` its sub-folder of shards; ``max_samples`` evaluates only the first
    that many samples (None: all); ``recall_k`` the k of the retrieval recalls. ``where``
    only prefixes error messages.
    """

    name: str
    task: str
    path: str
    split: str = "test"
    max_samples: int | None = None
    recall_k: tuple[int, ...] = (1, 5, 10)
    where: str = field(default="benchmark", compare=False, repr=False)

    def __post_init__(self) -> None:
        where = self.where
        _check_name(where, self.name)
        if self.task not in BENCHMARK_TASKS:
            raise UsageError(f"{where}: unknown task {self.task!r} "
                             f"(known: {', '.join(BENCHMARK_TASKS)})")
        object.__setattr__(self, "path", _resolve(self.path, None, where))
        if not isinstance(self.split, str) or not self.split or "/" in self.split:
            raise UsageError(f"{where}: split must be a folder name; got {self.split!r}")
        _check_limit(where, "max_samples", self.max_samples)
        ks = self.recall_k
        ks = (ks,) if isinstance(ks, int) else tuple(ks) if isinstance(ks, Sequence) else None
        if not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
            raise UsageError(f"{where}: recall_k must be positive integers; got "
                             f"{self.recall_k!r}")
        object.__setattr__(self, "recall_k", tuple(sorted(set(ks))))

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], where: str = "benchmark",
                     base_dir: str | os.PathLike | None = None) -> BenchmarkDataset:
        """From a spec entry ``{name, task, path, split?, max_samples?, recall_k?}``; a
        relative ``path`` is taken relative to ``base_dir``. Raises :class:`UsageError`."""
        if isinstance(raw, Mapping) and "task" not in raw:
            raise UsageError(f"{where}: missing key task ({' or '.join(BENCHMARK_TASKS)})")
        return _from_mapping(cls, _BENCHMARK_KEYS, raw, where, base_dir)

    @property
    def clip_benchmark_name(self) -> str:
        """The dataset name clip_benchmark is given: ``wds/<name>``."""
        return _WDS_PREFIX + self.name

    @property
    def table_task(self) -> str:
        """The measurement table's task value: ``<task>/<name>``."""
        return f"{self.task}/{self.name}"


@dataclass(frozen=True)
class SegmentationDataset:
    """A real segmentation dataset in ADE20K layout for the linear probe (see the module
    doc): ``name`` ("ade20k"), ``path`` (the folder holding ``images/`` and
    ``annotations/``), the two split folders, caps on the images read from each (None: all)
    and the number of classes including 0 (None: from ``objectInfo150`` or the labels);
    ``ignore_label``: the label neither trained on nor scored (ADE20K's official 0, "other";
    None: none)."""

    name: str
    path: str
    train_split: str = "training"
    test_split: str = "validation"
    max_train: int | None = None
    max_test: int | None = None
    n_classes: int | None = None
    ignore_label: int | None = 0
    where: str = field(default="segmentation", compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_name(self.where, self.name)
        object.__setattr__(self, "path", _resolve(self.path, None, self.where))
        for key in ("max_train", "max_test", "n_classes"):
            _check_limit(self.where, key, getattr(self, key))
        il = self.ignore_label
        if il is not None and (isinstance(il, bool) or not isinstance(il, int) or il < 0):
            raise UsageError(f"{self.where}: ignore_label must be a label >= 0 or null; "
                             f"got {il!r}")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], where: str = "segmentation",
                     base_dir: str | os.PathLike | None = None) -> SegmentationDataset:
        """From a spec entry ``{name, path, train_split?, test_split?, max_train?, max_test?,
        n_classes?}``; a relative ``path`` is relative to ``base_dir``."""
        return _from_mapping(cls, _SEGMENTATION_KEYS, raw, where, base_dir)

    @property
    def table_task(self) -> str:
        """The measurement table's task value: ``segmentation/<name>``."""
        return f"{SEGMENTATION_TASK}/{self.name}"

    def check(self) -> None:
        """Check the folder's layout without reading images (the loader's own checks:
        both splits' folders, their images, an annotation per image); :class:`DataError`."""
        base = Path(self.path)
        if not base.is_dir():
            raise DataError(f"segmentation data: folder not found: {base}")
        for split, cap in ((self.train_split, self.max_train), (self.test_split, self.max_test)):
            _seg_pairs(base, split, cap)


# ----------------------------------------------------------------------------- layout

def _seg_pairs(root: Path, split: str, cap: int | None) -> list[tuple[Path, Path]]:
    """(image, annotation) paths of a split, sorted by file name, the first ``cap``."""
    images_dir, ann_dir = root / "images" / split, root / "annotations" / split
    for folder in (images_dir, ann_dir):
        if not folder.is_dir():
            raise DataError(f"segmentation data: folder not found: {folder} (expected "
                            f"<root>/images/{split} and <root>/annotations/{split})")
    images = sorted(p for p in images_dir.iterdir()
                    if p.is_file() and p.suffix.lower() in SEG_IMAGE_EXTENSIONS)
    if not images:
        raise DataError(f"segmentation data: no images ({', '.join(SEG_IMAGE_EXTENSIONS)}) "
                        f"in {images_dir}")
    pairs = []
    for image in images[:cap]:
        ann = ann_dir / f"{image.stem}.png"
        if not ann.is_file():
            raise DataError(f"segmentation data: no annotation {ann} for image {image}")
        pairs.append((image, ann))
    return pairs
