"""Grid specs: the YAML format and its validation into a frozen :class:`GridSpec`.

A spec (YAML) names procedures x sizes x samples seen (x learning rates) x schedules::

    name: my-grid
    procedures: [clip, mammut]
    sizes: [xxs, xs, s, m]
    samples_seen: [2048, 4096, 8192, 16384]   # multiples of batch_size
    lr: 0.002                 # or a list (a sweep), or per size: {xxs: 3e-3, m: 1e-3}
    schedules: [const, cooldown]              # any of cosine, const, cooldown
    cooldown_fraction: 0.2                    # cooldown: linear decay over the last 20%
    cosine_check: true                        # + one cosine run at the largest samples_seen
                                              #   (or a list of the sizes that get one)
    batch_size: 64
    warmup: 8                                 # steps
    seed: 0
    data: {type: synthetic, caption_noise: 0.1}     # or webdataset / csv, see below
    eval: {tasks: [classification, retrieval, segmentation], n_per_class: 8}
    train: {context_length: 24, caption_loss_weight: 1.0, precision: auto}

Schedules: ``cosine`` trains one run per samples-seen target, measured at its end; ``const``
trains one run per (procedure, size, lr) to the largest target with a checkpoint at every
target, each measured; ``cooldown`` branches from that constant run at ``(1 - fraction) x
target`` and decays the rate linearly to zero at the target (the const run is trained for
the branch points even when ``const`` itself is not measured). ``cosine_check: true`` adds
one ``cosine`` run per (procedure, size, lr) to the *largest* samples-seen target only
(``cosine_check: [xs, s8]``: for those sizes only),
measured and stored with ``schedule="cosine"`` like any cosine cell: the check that the
constant-LR + cooldown measurements trace the frontier a cosine run reaches (nothing is
added when ``cosine`` is already among the schedules).

Data: ``{type: synthetic, name, <WorldConfig knobs>}``, ``{type: webdataset, urls, name,
image_size, shuffle}`` or ``{type: csv, path, name, image_col, caption_col, image_size}``.
Evaluation runs on the synthetic world's held-out tasks (the data world, or ``eval.world``
for real data), and on real benchmark datasets given by path, through clip_benchmark
(:mod:`scalecmp.experiments.benchmark_eval`)::

    eval:
      tasks: []                     # no synthetic tasks for a real-data grid
      benchmarks:                   # clip_benchmark's webdataset layout, local folders
        - {name: imagenet1k, task: zeroshot_classification, path: /data/wds_imagenet1k}
        - {name: mscoco_captions, task: zeroshot_retrieval, path: /data/wds_mscoco_captions}
      segmentation_data: {name: ade20k, path: /data/ADEChallengeData2016, max_train: 2000}

with rows of task ``zeroshot_classification/imagenet1k`` (acc1, acc5, mean_per_class_recall),
``zeroshot_retrieval/mscoco_captions`` (image_retrieval_recall@k, text_retrieval_recall@k),
``segmentation/ade20k`` (miou). Without any of these, a real-data run records only its
training loss.

Every measured checkpoint gives rows (task, metric, value) with the training loss as
``task="train", metric="loss"`` (lower is better), written to the unit's result shard
by :mod:`scalecmp.experiments.shards`; checkpoints live under ``DIR/checkpoints/``, the
clip_benchmark-style JSON of every evaluation under ``DIR/evals/``. A cell is done when its
rows are in the table; a finished checkpoint without rows is evaluated from disk; only the
rest is trained (resuming from the latest checkpoint).

Cluster (used by ``scalecmp grid run --executor slurm``; ignored by the local executor)::

    cluster:
      partition: gpu          # sbatch --partition
      account: my-project     # --account
      qos: normal             # --qos
      nodes: 1                # nodes per training unit
      gpus_per_node: 4        # also the tasks per node (one rank per GPU) unless set
      tasks_per_node: 4
      cpus_per_task: 8
      mem_gb: 64
      timeout_min: 240        # per job; a unit that reaches it requeues itself and resumes
      array_parallelism: 16   # at most this many units run at once
      signal_delay_s: 120     # USR2 this long before the time limit (checkpoint + requeue)
      setup: ["module load cuda"]           # shell lines run before the unit
      sbatch: {constraint: a100, reservation: x}   # any other sbatch option

Spec parsing needs only pyyaml and the torch-free tables of
:mod:`~scalecmp.experiments.registry` and :mod:`~scalecmp.experiments.datasets`; training
imports torch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scalecmp.errors import DataError, UsageError
from scalecmp.experiments.registry import PROCEDURES, SIZE_LADDER

__all__ = [
    "EVAL_TASKS",
    "SCHEDULE_KINDS",
    "TRAIN_TASK",
    "ClusterSpec",
    "EvalSpec",
    "GridSpec",
    "TrainSpec",
    "load_spec",
    "parse_spec",
]

#: spec task name -> task name in the table (the evaluation module's names)
EVAL_TASKS = {
    "classification": "zeroshot_classification",
    "retrieval": "zeroshot_retrieval",
    "segmentation": "segmentation",
}
TRAIN_TASK = "train"
SCHEDULE_KINDS = ("cosine", "const", "cooldown")

_TOP_KEYS = {
    "name", "procedures", "sizes", "samples_seen", "lr", "schedules", "cooldown_fraction",
    "cosine_check", "batch_size", "warmup", "seed", "data", "eval", "train", "cluster",
}
WORLD_KEYS = {
    "image_size", "n_shapes", "n_colours", "max_objects", "caption_noise", "n_unique", "seed",
    "zipf_a", "p_group", "pixel_noise", "illumination", "caption_positions", "n_concepts",
    "zipf_offset",
}
_DATA_KEYS = {
    "synthetic": {"type", "name"} | WORLD_KEYS,
    "webdataset": {"type", "name", "urls", "image_size", "shuffle", "seed"},
    "csv": {"type", "name", "path", "image_col", "caption_col", "sep", "image_size"},
}
_EVAL_KEYS = {
    "tasks", "n_per_class", "n_retrieval", "n_seg_train", "n_seg_test", "seg_epochs",
    "batch_size", "world", "benchmarks", "segmentation_data",
}
_TRAIN_KEYS = {
    "context_length", "caption_loss_weight", "weight_decay", "grad_clip", "eps", "precision",
    "checkpoint_every", "device", "slim_checkpoints", "workers",
}


# --------------------------------------------------------------------------- the spec
@dataclass(frozen=True)
class EvalSpec:
    """Which synthetic tasks to evaluate, on which world, at which sizes; which real
    benchmark datasets (by path)."""

    tasks: tuple[str, ...] = ("classification", "retrieval", "segmentation")
    world: Mapping[str, Any] | None = None
    n_per_class: int = 8
    n_retrieval: int = 256
    n_seg_train: int = 200
    n_seg_test: int = 100
    seg_epochs: int = 100
    batch_size: int = 256
    #: clip_benchmark datasets given by path (``BenchmarkDataset``), evaluated at every
    #: measured checkpoint; rows with task ``<task>/<name>``
    benchmarks: tuple[Any, ...] = ()
    #: a real segmentation dataset (``SegmentationDataset``, ADE20K layout) for the probe;
    #: rows with task ``segmentation/<name>``
    segmentation_data: Any = None


@dataclass(frozen=True)
class TrainSpec:
    """Model and optimiser settings shared by every run of a grid."""

    context_length: int = 24
    caption_loss_weight: float = 1.0
    weight_decay: float = 0.2
    grad_clip: float | None = 1.0
    eps: float = 1e-6
    precision: str = "auto"
    checkpoint_every: int | None = None
    device: str = "auto"
    slim_checkpoints: bool = True
    workers: int | str = 1


@dataclass(frozen=True)
class ClusterSpec:
    """Slurm resources of one training unit (see the module docstring); ``None`` fields are
    left to the cluster's defaults. ``tasks_per_node`` defaults to ``gpus_per_node`` (one
    rank per GPU) or 1."""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    nodes: int = 1
    gpus_per_node: int = 0
    tasks_per_node: int | None = None
    cpus_per_task: int = 1
    mem_gb: float | None = None
    timeout_min: int = 60
    array_parallelism: int = 64
    signal_delay_s: int = 90
    setup: tuple[str, ...] = ()
    sbatch: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ntasks_per_node(self) -> int:
        """Ranks per node: ``tasks_per_node``, else one per GPU, else 1."""
        if self.tasks_per_node is not None:
            return self.tasks_per_node
        return max(1, self.gpus_per_node)

    @property
    def world_size(self) -> int:
        """Ranks of one unit: nodes x tasks per node."""
        return self.nodes * self.ntasks_per_node


_CLUSTER_INTS = {"nodes": 1, "gpus_per_node": 0, "tasks_per_node": 1, "cpus_per_task": 1,
                 "timeout_min": 1, "array_parallelism": 1, "signal_delay_s": 0}
_CLUSTER_KEYS = set(_CLUSTER_INTS) | {"partition", "account", "qos", "mem_gb", "setup",
                                      "sbatch"}


def _parse_cluster(where: str, raw: Any) -> ClusterSpec:
    if raw is None:
        return ClusterSpec()
    if not isinstance(raw, Mapping):
        raise _fail(where, "cluster must be a mapping (partition:, gpus_per_node:, ...)")
    _check_keys(where, "cluster", raw, _CLUSTER_KEYS)
    kw: dict[str, Any] = {}
    for key, minimum in _CLUSTER_INTS.items():
        if key in raw:
            kw[key] = _int(where, f"cluster.{key}", raw[key], minimum)
    for key in ("partition", "account", "qos"):
        if raw.get(key) is not None:
            kw[key] = str(raw[key])
    if raw.get("mem_gb") is not None:
        kw["mem_gb"] = _float(where, "cluster.mem_gb", raw["mem_gb"])
    if raw.get("setup") is not None:
        kw["setup"] = tuple(str(x) for x in _as_list(raw["setup"]))
    if raw.get("sbatch") is not None:
        if not isinstance(raw["sbatch"], Mapping):
            raise _fail(where, "cluster.sbatch must be a mapping of sbatch options "
                        "(e.g. {constraint: a100})")
        kw["sbatch"] = {str(k): v for k, v in raw["sbatch"].items()}
    return ClusterSpec(**kw)


@dataclass(frozen=True)
class GridSpec:
    """A validated grid spec (see the module docstring for the YAML format)."""

    procedures: tuple[str, ...]
    sizes: tuple[str, ...]
    samples_seen: tuple[int, ...]
    lrs: tuple[float, ...] = (1e-3,)
    lr_by_size: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    schedules: tuple[str, ...] = ("cosine",)
    cooldown_fraction: float = 0.2
    #: the sizes that get the cosine check's run (all of ``sizes`` for ``cosine_check: true``)
    cosine_sizes: tuple[str, ...] = ()
    batch_size: int = 64
    warmup: int = 0
    seed: int = 0
    data: Mapping[str, Any] = field(default_factory=lambda: {"type": "synthetic"})
    eval: EvalSpec = field(default_factory=EvalSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    cluster: ClusterSpec = field(default_factory=ClusterSpec)
    name: str = "grid"
    base_dir: Path = Path(".")

    @property
    def cosine_check(self) -> bool:
        """Whether the grid adds the cosine check's runs (for the sizes of
        ``cosine_sizes``)."""
        return bool(self.cosine_sizes)

    def lrs_for(self, size: str) -> tuple[float, ...]:
        """Learning rates of ``size`` (a per-size ``lr`` mapping, else the shared ones)."""
        return tuple(self.lr_by_size.get(size, self.lrs))

    @property
    def dataset(self) -> str:
        """The ``dataset`` column: ``data.name``, else the data type."""
        return str(self.data.get("name") or self.data["type"])

    @property
    def image_size(self) -> int:
        return int(self.data.get("image_size", 32))

    @property
    def eval_world(self) -> Mapping[str, Any] | None:
        """WorldConfig knobs of the evaluation world (None: no evaluation)."""
        if not self.eval.tasks:
            return None
        if self.eval.world is not None:
            return self.eval.world
        if self.data["type"] == "synthetic":
            return {k: v for k, v in self.data.items() if k in WORLD_KEYS}
        return None

    @property
    def table_tasks(self) -> tuple[str, ...]:
        """Tasks every measured checkpoint has rows for."""
        tasks = [EVAL_TASKS[t] for t in self.eval.tasks] if self.eval_world is not None else []
        tasks += [b.table_task for b in self.eval.benchmarks]
        if self.eval.segmentation_data is not None:
            tasks.append(self.eval.segmentation_data.table_task)
        return (TRAIN_TASK, *tasks)

    def cooldown_start(self, target: int) -> int:
        """Branch point of the cooldown to ``target``: ``(1 - fraction) x target`` rounded
        down to a whole batch."""
        b = self.batch_size
        return int(math.floor((1.0 - self.cooldown_fraction) * target / b)) * b

    def fingerprint(self) -> str:
        """Hash of everything that shapes a training trajectory besides the run's own
        coordinates (data, model and optimiser settings); part of checkpoint paths."""
        train = dataclasses.asdict(self.train)
        for key in ("device", "checkpoint_every", "slim_checkpoints", "workers"):
            train.pop(key)
        blob = json.dumps({"data": dict(self.data), "train": train}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:8]


#: the device names a grid accepts: ``auto`` (cuda when there is one, else cpu), ``cpu``,
#: ``cuda`` and ``cuda:N``
DEVICE_NAME = re.compile(r"auto|cpu|cuda(:[0-9]+)?")


def check_device_name(device: str, name: str = "device", where: str | None = None) -> str:
    """``device`` if it is a name a grid accepts (:data:`DEVICE_NAME`), else a one-line
    :class:`UsageError` naming ``name`` (and the spec, ``where``)."""
    if not DEVICE_NAME.fullmatch(device):
        message = f"{name} must be auto, cpu, cuda or cuda:N, got {device!r}"
        raise _fail(where, message) if where else UsageError(message)
    return device


def _fail(where: str, message: str) -> UsageError:
    return UsageError(f"{where}: {message}")


def _check_unique(where: str, key: str, value: Any) -> None:
    """A list in the spec names each value once (a repeat would train the same runs
    twice); per-size ``lr`` lists too."""
    lists = value.values() if isinstance(value, Mapping) else [value]
    for items in lists:
        seen: set[Any] = set()
        for item in _as_list(items) if items is not None else []:
            try:  # numbers by value: 0.001 and 1e-3 are one learning rate
                same: Any = float(item) if key in ("lr", "samples_seen") else str(item)
            except (TypeError, ValueError):
                same = str(item)  # not a number: the value check says so
            if same in seen:
                raise _fail(where, f"{key}: {str(item)!r} is listed twice")
            seen.add(same)


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, list | tuple) else [value]


def _int(where: str, key: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise _fail(where, f"'{key}' must be an integer, got {value!r}")
    if int(value) < minimum:
        raise _fail(where, f"'{key}' must be >= {minimum}, got {value!r}")
    return int(value)


def _float(where: str, key: str, value: Any, *, positive: bool = True) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise _fail(where, f"'{key}' must be a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(where, f"'{key}' must be a number, got {value!r}")
    if positive and value <= 0:
        raise _fail(where, f"'{key}' must be > 0, got {value!r}")
    return float(value)


def _check_keys(where: str, section: str, got: Mapping, known: set[str]) -> None:
    if not isinstance(got, Mapping):
        raise _fail(where, f"'{section}' must be a mapping, got {type(got).__name__}")
    unknown = sorted(set(map(str, got)) - known)
    if unknown:
        prefix = f"{section}." if section else ""
        raise _fail(
            where,
            f"unknown key '{prefix}{unknown[0]}' (known: {', '.join(sorted(known))})",
        )


def _check_world(where: str, section: str, world: Mapping[str, Any]) -> None:
    from scalecmp.experiments.synthetic import WorldConfig

    try:
        WorldConfig(**{k: v for k, v in world.items() if k in WORLD_KEYS})
    except (UsageError, TypeError, ValueError) as exc:
        raise _fail(where, f"{section}: {exc}") from None


def _parse_real_eval(where: str, benchmarks: Any, seg: Any,
                     base_dir: str | Path) -> tuple[tuple[Any, ...], Any]:
    """``eval.benchmarks`` (clip_benchmark datasets by path) and ``eval.segmentation_data``
    (an ADE20K-layout folder), as the plain descriptors of :mod:`scalecmp.experiments.datasets`."""
    if not benchmarks and not seg:
        return (), None
    from scalecmp.experiments.datasets import BenchmarkDataset, SegmentationDataset

    entries = []
    if benchmarks:
        if not isinstance(benchmarks, list):
            raise _fail(where, "eval.benchmarks must be a list of {name, task, path} entries")
        for i, raw in enumerate(benchmarks):
            entries.append(BenchmarkDataset.from_mapping(
                raw, where=f"{where}: eval.benchmarks[{i}]", base_dir=base_dir))
        names = [e.table_task for e in entries]
        if len(set(names)) != len(names):
            raise _fail(where, f"eval.benchmarks: duplicate entries ({', '.join(names)})")
    seg_data = None
    if seg:
        seg_data = SegmentationDataset.from_mapping(
            seg, where=f"{where}: eval.segmentation_data", base_dir=base_dir)
    return tuple(entries), seg_data


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader that refuses a key given twice in one mapping (plain YAML keeps
    the last, so ``name:`` twice would silently drop the first)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str | int | float | bool):
                continue  # other keys (null, a date, a list): left to the base class
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' given twice (first at line "
                    f"{seen[key].line + 1})", key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """Parse a YAML document as :func:`yaml.safe_load` does, refusing repeated keys."""
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass


def load_spec(path: str | Path) -> GridSpec:
    """Read and validate a YAML spec; every problem is one :class:`UsageError` line."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"spec file not found: {p}")
    if not p.is_file():
        raise DataError(f"spec must be a YAML file, got a directory: {p}" if p.is_dir()
                        else f"spec must be a YAML file: {p}")
    try:
        raw = load_yaml(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise DataError(f"{p}: not UTF-8 text (a grid spec is YAML)") from None
    except OSError as exc:
        raise DataError(f"cannot read spec {p}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(f"{p}: bad YAML{at}: {problem}") from None
    return parse_spec(raw, where=str(p), base_dir=p.resolve().parent)


def parse_spec(raw: Any, *, where: str = "spec", base_dir: str | Path = ".") -> GridSpec:
    """Validate a spec mapping (as loaded from YAML) into a :class:`GridSpec`."""
    if not isinstance(raw, Mapping):
        raise _fail(where, "a grid spec must be a YAML mapping (procedures:, sizes:, ...)")
    _check_keys(where, "", raw, _TOP_KEYS)
    for key in ("procedures", "sizes", "samples_seen"):
        if key not in raw or raw[key] in (None, [], ""):
            raise _fail(where, f"missing required key '{key}'")

    for key in ("procedures", "sizes", "samples_seen", "lr", "schedules"):
        _check_unique(where, key, raw.get(key))
    procedures = tuple(str(x) for x in _as_list(raw["procedures"]))
    for proc in procedures:
        if proc not in PROCEDURES:
            raise _fail(where, f"unknown procedure '{proc}' (known: {', '.join(PROCEDURES)})")
    sizes = tuple(str(x) for x in _as_list(raw["sizes"]))
    for size in sizes:
        if size not in SIZE_LADDER:
            raise _fail(where, f"unknown size '{size}' (known: {', '.join(SIZE_LADDER)})")
    samples = tuple(sorted({_int(where, "samples_seen", s) for s in _as_list(raw["samples_seen"])}))
    lr_raw = raw.get("lr", 1e-3)
    lr_by_size: dict[str, tuple[float, ...]] = {}
    if isinstance(lr_raw, Mapping):  # per size: {xxs: 3e-3, m: [1e-3, 2e-3], ...}
        for size in map(str, lr_raw):
            if size not in sizes:
                raise _fail(where, f"lr: size '{size}' is not in sizes ({', '.join(sizes)})")
        missing = [size for size in sizes if size not in lr_raw]
        if missing:
            raise _fail(where, f"lr: no learning rate for size '{missing[0]}'")
        lr_by_size = {str(k): tuple(_float(where, "lr", v) for v in _as_list(x))
                      for k, x in lr_raw.items()}
        lrs = tuple(sorted({v for x in lr_by_size.values() for v in x}))
    else:
        lrs = tuple(_float(where, "lr", v) for v in _as_list(lr_raw))
    schedules = tuple(str(s) for s in _as_list(raw.get("schedules", "cosine")))
    for s in schedules:
        if s not in SCHEDULE_KINDS:
            raise _fail(where, f"unknown schedule '{s}' (known: {', '.join(SCHEDULE_KINDS)})")
    fraction = _float(where, "cooldown_fraction", raw.get("cooldown_fraction", 0.2))
    if not fraction < 1:
        raise _fail(where, f"'cooldown_fraction' must be in (0, 1), got {fraction}")
    cosine_check = raw.get("cosine_check", False)
    if isinstance(cosine_check, bool):
        cosine_sizes = sizes if cosine_check else ()
    elif isinstance(cosine_check, list) and cosine_check and all(
            isinstance(c, str) for c in cosine_check):
        unknown = [c for c in cosine_check if c not in sizes]
        if unknown:
            raise _fail(where, f"cosine_check: size '{unknown[0]}' is not in sizes "
                        f"({', '.join(sizes)})")
        cosine_sizes = tuple(c for c in sizes if c in cosine_check)
    else:
        raise _fail(where, "'cosine_check' must be true, false or a list of sizes, got "
                    f"{cosine_check!r}")
    batch = _int(where, "batch_size", raw.get("batch_size", 64))
    warmup = _int(where, "warmup", raw.get("warmup", 0), minimum=0)
    seed = _int(where, "seed", raw.get("seed", 0), minimum=0)
    for s in samples:
        if s % batch:
            raise _fail(where, f"samples_seen {s} is not a multiple of batch_size {batch}")
    if warmup * batch >= samples[0]:
        raise _fail(
            where, f"warmup ({warmup} steps = {warmup * batch} samples) must end before the "
            f"smallest samples_seen ({samples[0]})"
        )

    data = dict(raw.get("data") or {"type": "synthetic"})
    dtype = data.get("type", "synthetic")
    if dtype not in _DATA_KEYS:
        raise _fail(where, f"unknown data type '{dtype}' (known: {', '.join(_DATA_KEYS)})")
    data["type"] = dtype
    _check_keys(where, "data", data, _DATA_KEYS[dtype])
    if dtype == "synthetic":
        _check_world(where, "data", data)
    elif dtype == "webdataset":
        if not data.get("urls"):
            raise _fail(where, "data.urls is required for webdataset data")
    else:
        if not data.get("path"):
            raise _fail(where, "data.path is required for csv data")
        path = Path(str(data["path"]))
        path = path if path.is_absolute() else Path(base_dir) / path
        if not path.exists():
            raise DataError(f"{where}: data.path not found: {path}")
        data["path"] = str(path)

    ev_raw = dict(raw.get("eval") or {})
    _check_keys(where, "eval", ev_raw, _EVAL_KEYS)
    tasks = tuple(str(t) for t in _as_list(ev_raw.pop("tasks", list(EVAL_TASKS))) if t)
    for t in tasks:
        if t not in EVAL_TASKS:
            raise _fail(where, f"unknown eval task '{t}' (known: {', '.join(EVAL_TASKS)})")
    world = ev_raw.pop("world", None)
    if world is not None:
        _check_keys(where, "eval.world", world, WORLD_KEYS)
        _check_world(where, "eval.world", world)
        world = dict(world)
    benchmarks, seg_data = _parse_real_eval(where, ev_raw.pop("benchmarks", None),
                                            ev_raw.pop("segmentation_data", None), base_dir)
    sizes_kw = {k: _int(where, f"eval.{k}", v, minimum=0) for k, v in ev_raw.items()}
    ev = EvalSpec(tasks=tasks, world=world, benchmarks=benchmarks,
                  segmentation_data=seg_data, **sizes_kw)

    tr_raw = dict(raw.get("train") or {})
    _check_keys(where, "train", tr_raw, _TRAIN_KEYS)
    tr = TrainSpec()
    kw: dict[str, Any] = {}
    if "context_length" in tr_raw:
        kw["context_length"] = _int(where, "train.context_length", tr_raw["context_length"], 2)
    for key in ("caption_loss_weight", "weight_decay"):
        if key in tr_raw:
            kw[key] = _float(where, f"train.{key}", tr_raw[key], positive=False)
    if "eps" in tr_raw:
        kw["eps"] = _float(where, "train.eps", tr_raw["eps"])
    if "grad_clip" in tr_raw:
        kw["grad_clip"] = (
            None if tr_raw["grad_clip"] in (None, 0)
            else _float(where, "train.grad_clip", tr_raw["grad_clip"])
        )
    if "checkpoint_every" in tr_raw and tr_raw["checkpoint_every"] is not None:
        every = _int(where, "train.checkpoint_every", tr_raw["checkpoint_every"])
        if every % batch:
            raise _fail(where, f"train.checkpoint_every {every} is not a multiple of batch_size")
        kw["checkpoint_every"] = every
    if "precision" in tr_raw:
        if tr_raw["precision"] not in ("auto", "fp32", "bf16"):
            raise _fail(where, "train.precision must be auto, fp32 or bf16")
        kw["precision"] = tr_raw["precision"]
    if "device" in tr_raw:
        kw["device"] = check_device_name(str(tr_raw["device"]), "train.device", where)
    if "slim_checkpoints" in tr_raw:
        if not isinstance(tr_raw["slim_checkpoints"], bool):
            raise _fail(where, "train.slim_checkpoints must be true or false")
        kw["slim_checkpoints"] = tr_raw["slim_checkpoints"]
    if "workers" in tr_raw:
        w = tr_raw["workers"]
        kw["workers"] = "auto" if w == "auto" else _int(where, "train.workers", w)
    tr = dataclasses.replace(tr, **kw)

    spec = GridSpec(
        procedures=procedures, sizes=sizes, samples_seen=samples, lrs=lrs,
        lr_by_size=lr_by_size,
        schedules=schedules, cooldown_fraction=fraction,
        cosine_sizes=cosine_sizes, batch_size=batch, warmup=warmup,
        seed=seed, data=data, eval=ev, train=tr, cluster=_parse_cluster(where, raw.get("cluster")),
        name=str(raw.get("name", "grid")),
        base_dir=Path(base_dir),
    )
    if "cooldown" in schedules:
        first = spec.cooldown_start(samples[0])
        if first < warmup * batch or first <= 0:
            raise _fail(
                where, f"the cooldown of samples_seen {samples[0]} would start at {first} "
                f"samples, before warmup ends ({warmup * batch}); use larger samples_seen, "
                "a shorter warmup or a smaller cooldown_fraction"
            )
    return spec

