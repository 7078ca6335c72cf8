"""Grid specs: validation, expansion into cells and training jobs, status, and the runner.

A spec (YAML) names procedures x sizes x samples seen (x learning rates) x schedules::

    name: my-grid
    procedures: [clip, mammut]
    sizes: [xxs, xs, s, m]
    samples_seen: [2048, 4096, 8192, 16384]   # multiples of batch_size
    lr: 0.002                 # or a list (a sweep), or per size: {xxs: 3e-3, m: 1e-3}
    schedules: [const, cooldown]              # any of cosine, const, cooldown
    cooldown_fraction: 0.2                    # cooldown: linear decay over the last 20%
    cosine_check: true                        # + one cosine run at the largest samples_seen
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
one ``cosine`` run per (procedure, size, lr) to the *largest* samples-seen target only,
measured and stored with ``schedule="cosine"`` like any cosine cell: the check that the
constant-LR + cooldown measurements trace the frontier a cosine run reaches (nothing is
added when ``cosine`` is already among the schedules).

Data: ``{type: synthetic, name, <WorldConfig knobs>}``, ``{type: webdataset, urls, name,
image_size, shuffle}`` or ``{type: csv, path, name, image_col, caption_col, image_size}``.
Evaluation runs on the synthetic world's held-out tasks (the data world, or ``eval.world``
for real data); without an eval world, real-data runs record only their training loss.

Every measured checkpoint gives rows (task, metric, value) with the training loss as
``task="train", metric="loss"`` (lower is better), appended to ``DIR/measurements.parquet``
by :mod:`scalecmp.experiments.store`; checkpoints live under ``DIR/checkpoints/``, the
clip_benchmark-style JSON of every evaluation under ``DIR/evals/``. A cell is done when its
rows are in the table; a finished checkpoint without rows is evaluated from disk; only the
rest is trained (resuming from the latest checkpoint).

Spec parsing needs only pyyaml; :func:`run_grid` imports torch and the models.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scalecmp.errors import DataError, UsageError

__all__ = [
    "EVAL_TASKS",
    "Cell",
    "GridSpec",
    "Job",
    "expand_cells",
    "grid_status",
    "load_spec",
    "parse_spec",
    "plan_jobs",
    "run_grid",
    "spec_rows",
]

#: spec task name -> task name in the table (the evaluation module's names)
EVAL_TASKS = {
    "classification": "zeroshot_classification",
    "retrieval": "zeroshot_retrieval",
    "segmentation": "segmentation",
}
TRAIN_TASK = "train"
#: table task -> the evaluation dataset named in the clip_benchmark JSON
_EVAL_DATASETS = {
    "zeroshot_classification": "synthetic_classification",
    "zeroshot_retrieval": "synthetic_retrieval",
    "segmentation": "synthetic_segmentation",
}
SCHEDULE_KINDS = ("cosine", "const", "cooldown")

_TOP_KEYS = {
    "name", "procedures", "sizes", "samples_seen", "lr", "schedules", "cooldown_fraction",
    "cosine_check", "batch_size", "warmup", "seed", "data", "eval", "train",
}
_WORLD_KEYS = {
    "image_size", "n_shapes", "n_colours", "max_objects", "caption_noise", "n_unique", "seed",
    "zipf_a", "p_group", "pixel_noise", "illumination",
}
_DATA_KEYS = {
    "synthetic": {"type", "name"} | _WORLD_KEYS,
    "webdataset": {"type", "name", "urls", "image_size", "shuffle", "seed"},
    "csv": {"type", "name", "path", "image_col", "caption_col", "sep", "image_size"},
}
_EVAL_KEYS = {
    "tasks", "n_per_class", "n_retrieval", "n_seg_train", "n_seg_test", "seg_epochs",
    "batch_size", "world",
}
_TRAIN_KEYS = {
    "context_length", "caption_loss_weight", "weight_decay", "grad_clip", "eps", "precision",
    "checkpoint_every", "device", "slim_checkpoints", "workers",
}


# --------------------------------------------------------------------------- the spec
@dataclass(frozen=True)
class EvalSpec:
    """Which synthetic tasks to evaluate, on which world, at which sizes."""

    tasks: tuple[str, ...] = ("classification", "retrieval", "segmentation")
    world: Mapping[str, Any] | None = None
    n_per_class: int = 8
    n_retrieval: int = 256
    n_seg_train: int = 200
    n_seg_test: int = 100
    seg_epochs: int = 100
    batch_size: int = 256


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
class GridSpec:
    """A validated grid spec (see the module docstring for the YAML format)."""

    procedures: tuple[str, ...]
    sizes: tuple[str, ...]
    samples_seen: tuple[int, ...]
    lrs: tuple[float, ...] = (1e-3,)
    lr_by_size: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    schedules: tuple[str, ...] = ("cosine",)
    cooldown_fraction: float = 0.2
    cosine_check: bool = False
    batch_size: int = 64
    warmup: int = 0
    seed: int = 0
    data: Mapping[str, Any] = field(default_factory=lambda: {"type": "synthetic"})
    eval: EvalSpec = field(default_factory=EvalSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    name: str = "grid"
    base_dir: Path = Path(".")

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
            return {k: v for k, v in self.data.items() if k in _WORLD_KEYS}
        return None

    @property
    def table_tasks(self) -> tuple[str, ...]:
        """Tasks every measured checkpoint has rows for."""
        tasks = [EVAL_TASKS[t] for t in self.eval.tasks] if self.eval_world is not None else []
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


def _fail(where: str, message: str) -> UsageError:
    return UsageError(f"{where}: {message}")


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
        WorldConfig(**{k: v for k, v in world.items() if k in _WORLD_KEYS})
    except (UsageError, TypeError, ValueError) as exc:
        raise _fail(where, f"{section}: {exc}") from None


def load_spec(path: str | Path) -> GridSpec:
    """Read and validate a YAML spec; every problem is one :class:`UsageError` line."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"spec file not found: {p}")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(f"{p}: bad YAML{at}: {problem}") from None
    return parse_spec(raw, where=str(p), base_dir=p.resolve().parent)


def parse_spec(raw: Any, *, where: str = "spec", base_dir: str | Path = ".") -> GridSpec:
    """Validate a spec mapping (as loaded from YAML) into a :class:`GridSpec`."""
    from scalecmp.experiments.models import PROCEDURES, SIZE_LADDER

    if not isinstance(raw, Mapping):
        raise _fail(where, "a grid spec must be a YAML mapping (procedures:, sizes:, ...)")
    _check_keys(where, "", raw, _TOP_KEYS)
    for key in ("procedures", "sizes", "samples_seen"):
        if key not in raw or raw[key] in (None, [], ""):
            raise _fail(where, f"missing required key '{key}'")

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
    if not isinstance(cosine_check, bool):
        raise _fail(where, f"'cosine_check' must be true or false, got {cosine_check!r}")
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
        _check_keys(where, "eval.world", world, _WORLD_KEYS)
        _check_world(where, "eval.world", world)
        world = dict(world)
    sizes_kw = {k: _int(where, f"eval.{k}", v, minimum=0) for k, v in ev_raw.items()}
    ev = EvalSpec(tasks=tasks, world=world, **sizes_kw)

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
        kw["device"] = str(tr_raw["device"])
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
        schedules=schedules, cooldown_fraction=fraction, cosine_check=cosine_check,
        batch_size=batch, warmup=warmup,
        seed=seed, data=data, eval=ev, train=tr, name=str(raw.get("name", "grid")),
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


# --------------------------------------------------------------------------- cells and jobs
@dataclass(frozen=True)
class Cell:
    """One measurement point: a training configuration evaluated at ``samples_seen``."""

    procedure: str
    size: str
    lr: float
    schedule: str
    samples_seen: int


@dataclass
class Job:
    """One training run: ``cosine`` (to ``total``), ``const`` (to the largest target with
    checkpoints at every point), or a ``cooldown`` branch (from ``branch_from``)."""

    kind: str
    procedure: str
    size: str
    lr: float
    total: int
    run_dir: Path
    measure: list[int] = field(default_factory=list)
    save: list[int] = field(default_factory=list)
    branch_from: int | None = None
    parent_dir: Path | None = None


def expand_cells(spec: GridSpec) -> list[Cell]:
    """Every measurement point of the grid, in run order (with ``cosine_check``, one cosine
    cell per (procedure, size, lr) at the largest samples seen after its other cells)."""
    check = spec.cosine_check and "cosine" not in spec.schedules
    cells = []
    for p in spec.procedures:
        for s in spec.sizes:
            for lr in spec.lrs_for(s):
                cells += [Cell(p, s, lr, sched, n) for sched in spec.schedules
                          for n in spec.samples_seen]
                if check:
                    cells.append(Cell(p, s, lr, "cosine", spec.samples_seen[-1]))
    return cells


def _lr_tag(lr: float) -> str:
    return f"{lr:.3g}".replace("+", "")


def run_root(spec: GridSpec, out_dir: Path, procedure: str, size: str, lr: float) -> Path:
    """Folder of the runs of one (procedure, size, lr) under ``out_dir/checkpoints``."""
    tag = (
        f"{procedure}-{size}-lr{_lr_tag(lr)}-b{spec.batch_size}-w{spec.warmup}-s{spec.seed}"
    )
    return Path(out_dir) / "checkpoints" / f"{spec.dataset}-{spec.fingerprint()}" / tag


def run_dir(spec: GridSpec, out_dir: Path, cell: Cell) -> Path:
    """Folder holding the checkpoint that measures ``cell``."""
    root = run_root(spec, out_dir, cell.procedure, cell.size, cell.lr)
    if cell.schedule == "cosine":
        return root / f"cosine-{cell.samples_seen}"
    if cell.schedule == "const":
        return root / "const"
    return root / "const" / f"cooldown{spec.cooldown_fraction:g}-{cell.samples_seen}"


def _row_key(spec: GridSpec, cell: Cell) -> tuple:
    cooldown = spec.cooldown_fraction if cell.schedule == "cooldown" else 0.0
    return (cell.procedure, cell.size, spec.dataset, cell.schedule, float(cell.lr),
            spec.batch_size, spec.warmup, float(cooldown), spec.seed, cell.samples_seen)


_CELL_COLS = ["procedure", "model", "dataset", "schedule", "lr", "batch_size", "warmup",
              "cooldown", "seed", "samples_seen"]


def done_cells(spec: GridSpec, table) -> set[Cell]:  # noqa: ANN001 - pandas frame
    """Cells of ``spec`` whose rows for every expected task are in ``table``."""
    if table is None or len(table) == 0:
        return set()
    need = set(spec.table_tasks)
    have: dict[tuple, set[str]] = {}
    cols = table[_CELL_COLS + ["task"]].itertuples(index=False, name=None)
    for *key, task in cols:
        k = tuple(float(v) if i in (4, 7) else v for i, v in enumerate(key))
        have.setdefault(k, set()).add(task)
    return {c for c in expand_cells(spec) if need <= have.get(_row_key(spec, c), set())}


def spec_rows(spec: GridSpec, table):  # noqa: ANN001, ANN201 - pandas in and out
    """The rows of ``table`` that belong to cells of ``spec`` (a table may hold other grids)."""
    if table is None or len(table) == 0:
        return table
    keys = {_row_key(spec, c) for c in expand_cells(spec)}
    cols = table[_CELL_COLS].itertuples(index=False, name=None)
    mask = [tuple(float(v) if i in (4, 7) else v for i, v in enumerate(k)) in keys for k in cols]
    return table.loc[mask].reset_index(drop=True)


def _save_points(spec: GridSpec, points: Sequence[int], total: int) -> list[int]:
    every = spec.train.checkpoint_every
    extra = range(every, total, every) if every else ()
    return sorted({*points, *extra, total})


def plan_jobs(spec: GridSpec, out_dir: str | Path, done: set[Cell] | None = None) -> list[Job]:
    """Training jobs of the missing cells, in run order (a const run before its branches).

    A cell is missing when it is not in ``done``; a missing cell whose checkpoint already
    exists still gets a job (its evaluation from disk), with nothing to train.
    """
    from scalecmp.experiments.trainer import list_checkpoints

    out = Path(out_dir)
    done = done or set()
    jobs: list[Job] = []
    for proc in spec.procedures:
        for size in spec.sizes:
            for lr in spec.lrs_for(size):
                root = run_root(spec, out, proc, size, lr)
                cells = [c for c in expand_cells(spec)
                         if (c.procedure, c.size, c.lr) == (proc, size, lr) and c not in done]
                cosine = [Job("cosine", proc, size, lr, c.samples_seen, run_dir(spec, out, c),
                              measure=[c.samples_seen],
                              save=_save_points(spec, [], c.samples_seen))
                          for c in cells if c.schedule == "cosine"]
                if "cosine" in spec.schedules:
                    jobs += cosine  # a measured schedule: in the order of the cells
                    cosine = []
                const_measure = [c.samples_seen for c in cells if c.schedule == "const"]
                branches = [c for c in cells if c.schedule == "cooldown"]
                const_dir = root / "const"
                have_branch = {c for c in branches
                               if c.samples_seen in list_checkpoints(run_dir(spec, out, c))}
                branch_points = [spec.cooldown_start(c.samples_seen) for c in branches
                                 if c not in have_branch]
                if const_measure or branch_points:
                    # save at every target and branch point, so the run's checkpoints do not
                    # depend on which cells happen to be missing
                    points = [*spec.samples_seen]
                    if "cooldown" in spec.schedules:
                        points += [spec.cooldown_start(n) for n in spec.samples_seen]
                    total = max([*const_measure, *branch_points])
                    jobs.append(Job("const", proc, size, lr, total, const_dir,
                                    measure=sorted(const_measure),
                                    save=_save_points(spec, [p for p in points if p <= total],
                                                      total)))
                for c in branches:
                    start = spec.cooldown_start(c.samples_seen)
                    jobs.append(Job("cooldown", proc, size, lr, c.samples_seen,
                                    run_dir(spec, out, c), measure=[c.samples_seen],
                                    save=_save_points(spec, [], c.samples_seen),
                                    branch_from=start, parent_dir=const_dir))
                jobs += cosine  # the cosine check runs after the measurements it checks
    return jobs


def steps_to_train(spec: GridSpec, job: Job) -> int:
    """Optimiser steps a job still has to take (0 when its checkpoints exist)."""
    from scalecmp.experiments.trainer import list_checkpoints

    have = list_checkpoints(job.run_dir)
    needed = [p for p in job.save if p in job.measure or job.kind == "const"]
    missing = [p for p in needed if p not in have]
    if job.kind == "const":
        missing = [p for p in missing if p <= job.total]
    if not missing:
        return 0
    start = max([s for s in have if s < min(missing)], default=job.branch_from or 0)
    return (max(missing) - start) // spec.batch_size


# --------------------------------------------------------------------------- status
def grid_status(spec: GridSpec, out_dir: str | Path):  # noqa: ANN201 - pandas frame
    """Per (procedure, size): cells done and missing, and checkpoints on disk."""
    import pandas as pd

    from scalecmp.experiments.store import read_measurements
    from scalecmp.experiments.trainer import list_checkpoints

    out = Path(out_dir)
    done = done_cells(spec, read_measurements(out))
    rows = []
    for proc in spec.procedures:
        for size in spec.sizes:
            cells = [c for c in expand_cells(spec) if (c.procedure, c.size) == (proc, size)]
            n_done = sum(c in done for c in cells)
            ckpts = 0
            for lr in spec.lrs_for(size):
                root = run_root(spec, out, proc, size, lr)
                if root.is_dir():
                    ckpts += sum(len(list_checkpoints(d)) for d in [root, *root.rglob("*")]
                                 if d.is_dir())
            rows.append({"procedure": proc, "size": size, "cells": len(cells), "done": n_done,
                         "missing": len(cells) - n_done, "checkpoints": ckpts})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- runner
class _CachedTokenizer:
    """Fast, exact tokenisation of many captions: ids are cached per whitespace-separated
    chunk (BPE works per regex token, so a caption's ids are the concatenation of its
    chunks' ids for plain lower-case ASCII text). The first captions of every run are
    also tokenised the slow way and compared; any mismatch turns the fast path off."""

    _CHECK = 256

    def __init__(self, tok: Any, max_items: int = 500_000) -> None:
        self.tok = tok
        self.vocab_size = tok.vocab_size
        self.context_length = tok.context_length
        self.sot_id, self.eot_id, self.pad_id = tok.sot_id, tok.eot_id, tok.pad_id
        self._chunks: dict[str, list[int]] = {}
        self.max_items = max_items
        self.fast = hasattr(tok, "encode")
        self._checked = 0

    def _ids(self, text: str) -> list[int]:
        ids: list[int] = []
        for chunk in text.split():
            got = self._chunks.get(chunk)
            if got is None:
                if len(self._chunks) >= self.max_items:
                    self._chunks.clear()
                got = self._chunks[chunk] = list(self.tok.encode(chunk))
            ids.extend(got)
        return ids

    def __call__(self, texts: str | Sequence[str]):  # noqa: ANN204 - LongTensor
        import torch

        texts = [texts] if isinstance(texts, str) else list(texts)
        if not self.fast:
            return self.tok(texts)
        length = self.context_length
        out = torch.full((len(texts), length), self.pad_id, dtype=torch.long)
        for i, text in enumerate(texts):
            ids = [self.sot_id, *self._ids(text), self.eot_id]
            if len(ids) > length:
                ids = ids[:length]
                ids[-1] = self.eot_id
            out[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        if self._checked < self._CHECK:
            n = min(len(texts), self._CHECK - self._checked)
            self._checked += n
            slow = self.tok(texts[:n])
            if not torch.equal(slow, out[:n]):
                self.fast = False
                return self.tok(texts)
        return out


class GridRunner:
    """Runs the missing cells of a spec: training jobs, evaluations, table appends."""

    def __init__(self, spec: GridSpec, out_dir: Path, *, device: str | None = None,
                 progress: bool = True, console: Any = None,
                 workers: int | str | None = None) -> None:
        import torch

        self.workers = spec.train.workers if workers is None else workers
        self.spec = spec
        self.out = Path(out_dir)
        wanted = device or spec.train.device
        if wanted in (None, "auto"):
            wanted = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = str(wanted)
        self.show_progress = progress
        self.console = console
        self._models: dict[tuple[str, str], dict[str, float]] = {}
        self._tok: _CachedTokenizer | None = None
        self._tasks: dict[str, Any] | None = None
        self.summary: dict[str, Any] = {"trained_steps": 0, "evaluated": 0, "failed": []}

    # -- shared resources ---------------------------------------------------------------
    def _world(self, knobs: Mapping[str, Any]):  # noqa: ANN202 - SyntheticWorld
        from scalecmp.experiments.synthetic import SyntheticWorld, WorldConfig

        config = {k: v for k, v in knobs.items() if k in _WORLD_KEYS}
        return SyntheticWorld(WorldConfig(**config))

    @property
    def tok(self) -> _CachedTokenizer:
        if self._tok is None:
            from scalecmp.experiments.tokenizer import CompactTokenizer

            words: set[str] | None = None
            if self.spec.data["type"] == "synthetic":
                words = set(self._world(self.spec.data).caption_words())
                if self.spec.eval_world is not None:
                    words |= set(self._world(self.spec.eval_world).caption_words())
            base = CompactTokenizer(sorted(words) if words is not None else None,
                                    context_length=self.spec.train.context_length)
            self._tok = _CachedTokenizer(base)
        return self._tok

    def source(self):  # noqa: ANN201 - a PairSource
        """The training pairs of the spec's data section."""
        from scalecmp.experiments import data as D

        d = self.spec.data
        size = self.spec.image_size
        if d["type"] == "synthetic":
            return D.SyntheticPairSource(self._world(d))
        if d["type"] == "webdataset":
            return D.WebDatasetPairSource(d["urls"], size, shuffle=int(d.get("shuffle", 0)),
                                          seed=int(d.get("seed", 0)))
        return D.CsvPairSource(d["path"], size, image_col=d.get("image_col", "filepath"),
                               caption_col=d.get("caption_col", "caption"),
                               sep=d.get("sep", ","))

    def prepare(self, images, captions):  # noqa: ANN001, ANN201 - arrays in, tensors out
        from scalecmp.experiments.data import images_to_tensor

        return images_to_tensor(images), self.tok(captions)

    @property
    def tasks(self) -> dict[str, Any]:
        """Evaluation sets, built once per grid run."""
        if self._tasks is None:
            self._tasks = {}
            ev, knobs = self.spec.eval, self.spec.eval_world
            if knobs is not None:
                world = self._world(knobs)
                if "classification" in ev.tasks and ev.n_per_class > 0:
                    self._tasks["classification"] = world.classification_task(ev.n_per_class)
                if "retrieval" in ev.tasks and ev.n_retrieval > 0:
                    self._tasks["retrieval"] = world.retrieval_task(ev.n_retrieval)
                if "segmentation" in ev.tasks and min(ev.n_seg_train, ev.n_seg_test) > 0:
                    self._tasks["segmentation"] = world.segmentation_task(
                        ev.n_seg_train, ev.n_seg_test)
        return self._tasks

    def build_model(self, procedure: str, size: str):  # noqa: ANN201 - ProcedureModel
        """A fresh model; its GFLOPs per sample and parameters are measured once."""
        from scalecmp.experiments.models import build_model, measure_gflops_per_sample
        from scalecmp.experiments.models import param_counts as count

        spec = self.spec
        model = build_model(procedure, size, vocab_size=self.tok.vocab_size,
                            context_length=spec.train.context_length,
                            image_size=spec.image_size, seed=spec.seed,
                            caption_loss_weight=spec.train.caption_loss_weight)
        if (procedure, size) not in self._models:
            self._models[(procedure, size)] = {
                "gflops_per_sample": float(measure_gflops_per_sample(
                    model, spec.image_size, spec.train.context_length)),
                "params": int(count(model)["params"]),
            }
        return model

    # -- evaluation -----------------------------------------------------------------------
    def measure(self, job: Job, model: Any, samples: int, ckpt: Path, loss: float,
                wall_s: float) -> int:
        """Evaluate ``model`` (the checkpoint at ``samples``) and append its rows."""
        from scalecmp.experiments import evaluate as E
        from scalecmp.experiments.store import append_measurements

        spec = self.spec
        results: list[tuple[str, dict[str, float]]] = [(TRAIN_TASK, {"loss": float(loss)})]
        tasks, ev = self.tasks, spec.eval
        if "classification" in tasks:
            results.append((EVAL_TASKS["classification"], E.zero_shot_classification(
                model, self.tok, tasks["classification"], ev.batch_size)))
        if "retrieval" in tasks:
            results.append((EVAL_TASKS["retrieval"], E.retrieval(
                model, self.tok, tasks["retrieval"], ev.batch_size)))
        if "segmentation" in tasks:
            results.append((EVAL_TASKS["segmentation"], E.segmentation_probe(
                model, tasks["segmentation"], seed=spec.seed, epochs=ev.seg_epochs)))
        profile = self._models[(job.procedure, job.size)]
        schedule = job.kind
        base = {
            "procedure": job.procedure, "model": job.size, "dataset": spec.dataset,
            "schedule": schedule, "lr": float(job.lr), "batch_size": spec.batch_size,
            "warmup": spec.warmup,
            "cooldown": spec.cooldown_fraction if schedule == "cooldown" else 0.0,
            "cooldown_from": job.branch_from if schedule == "cooldown" else -1,
            "seed": spec.seed, "samples_seen": int(samples),
            "gflops_per_sample": profile["gflops_per_sample"],
            "gflops_total": profile["gflops_per_sample"] * samples,
            "params": profile["params"], "checkpoint": str(_relative(ckpt, self.out)),
            "wall_s": float(wall_s),
        }
        rows = [{**base, "task": task, "metric": k, "value": float(v)}
                for task, metrics in results for k, v in metrics.items()]
        eval_dir = self.out / "evals" / _relative(job.run_dir, self.out / "checkpoints")
        pretrained = f"{spec.dataset}:{schedule}:{samples}"
        for task, metrics in results[1:]:
            E.write_clip_benchmark_json(
                eval_dir / f"{samples:012d}" / f"{task}.json", _EVAL_DATASETS[task],
                f"{job.procedure}-{job.size}", pretrained, task, metrics)
        append_measurements(self.out, rows)
        self.summary["evaluated"] += 1
        return len(rows)

    def measure_from_disk(self, job: Job, samples: int, path: Path) -> None:
        """Evaluate a finished checkpoint that has no rows yet."""
        import numpy as np

        from scalecmp.experiments.trainer import load_checkpoint

        ckpt = load_checkpoint(path, map_location=self.device)
        model = self.build_model(job.procedure, job.size).to(self.device)
        model.load_state_dict(ckpt["model"])
        model.eval()
        losses = ckpt.get("losses") or [float("nan")]
        self.measure(job, model, samples, path, float(np.mean(losses)), ckpt.get("wall_s", 0.0))

    # -- jobs -------------------------------------------------------------------------------
    def trainer_for(self, job: Job, callbacks: Sequence[Any], resume_max: int | None):  # noqa: ANN201
        from scalecmp.experiments.trainer import TrainConfig, Trainer, checkpoint_path

        spec = self.spec
        schedule = {"cosine": "cosine", "const": "const", "cooldown": "cooldown"}[job.kind]
        config = TrainConfig(
            lr=job.lr, batch_size=spec.batch_size, total_samples=job.total, schedule=schedule,
            warmup_steps=spec.warmup,
            cooldown_start=job.branch_from if job.kind == "cooldown" else None,
            checkpoints=tuple(job.save), weight_decay=spec.train.weight_decay,
            eps=spec.train.eps, grad_clip=spec.train.grad_clip, seed=spec.seed,
            precision=spec.train.precision,
        )
        init_from = None
        if job.kind == "cooldown":
            assert job.parent_dir is not None and job.branch_from is not None
            init_from = checkpoint_path(job.parent_dir, job.branch_from)
        meta = {"procedure": job.procedure, "size": job.size, "dataset": spec.dataset,
                "schedule": job.kind, "spec": spec.name}
        return Trainer(self.build_model(job.procedure, job.size), self.source(), self.prepare,
                       config, job.run_dir, callbacks=callbacks, device=self.device,
                       init_from=init_from, meta=meta, resume_max=resume_max)

    def run_job(self, job: Job, progress: Any = None, task_id: Any = None) -> None:
        from scalecmp.experiments.trainer import Callback, barrier, dist_info, list_checkpoints

        have = list_checkpoints(job.run_dir)
        is_main = dist_info().is_main
        for samples in job.measure:
            if samples in have and is_main:
                self.measure_from_disk(job, samples, have[samples])
        pending = [p for p in job.measure if p not in have]
        if job.kind == "const":
            missing = [p for p in job.save if p not in have]
        else:
            missing = [job.total] if job.total not in have else []
        if not missing:
            barrier()
            return
        runner = self

        class _Hooks(Callback):
            def on_step(self, trainer, step, loss):  # noqa: ANN001
                runner.summary["trained_steps"] += 1
                if progress is not None:
                    progress.advance(task_id)

            def on_checkpoint(self, trainer, samples_seen, path):  # noqa: ANN001
                if samples_seen in pending:
                    runner.measure(job, trainer.model, samples_seen, path,
                                   trainer.state.recent_loss, trainer.state.wall_s)

        if job.kind == "cooldown":
            from scalecmp.experiments.trainer import checkpoint_path

            assert job.parent_dir is not None and job.branch_from is not None
            if not checkpoint_path(job.parent_dir, job.branch_from).exists():
                raise DataError(f"cooldown branch point missing: "
                                f"{checkpoint_path(job.parent_dir, job.branch_from)}")
        trainer = self.trainer_for(job, [_Hooks()], resume_max=min(missing) - 1)
        trainer.run()

    # -- parallel runs --------------------------------------------------------------------
    def _n_workers(self, jobs: Sequence[Job], info: Any) -> int:
        """Worker processes for ``jobs``: ``workers`` (``auto``: the usable CPU cores), at
        most the number of independent chains; 1 under torchrun or off the CPU."""
        if info.world_size > 1 or not str(self.device).startswith("cpu"):
            return 1
        w = self.workers
        if w == "auto":
            w = _usable_cpus()
        try:
            w = int(w)
        except (TypeError, ValueError):
            raise UsageError(f"workers must be an integer >= 1 or 'auto', got {w!r}") from None
        if w < 1:
            raise UsageError(f"workers must be an integer >= 1 or 'auto', got {w!r}")
        return max(1, min(w, len(_chains(jobs))))

    def _run_parallel(self, jobs: Sequence[Job], steps: Sequence[int], n_workers: int,
                      plain: _PlainProgress | None, progress: Any, task_id: Any) -> None:
        """Run the independent chains of ``jobs`` (a constant-LR run and its cooldown
        branches; each cosine run) in ``n_workers`` processes, the most expensive first.

        Every run is a pure function of the spec, so the values do not depend on which
        process ran it; the rows are put in the order of :func:`expand_cells` at the end."""
        import multiprocessing
        import queue as queue_mod
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        import torch

        cost = _CostModel(self)
        n_steps = {id(j): n for j, n in zip(jobs, steps, strict=True)}
        chains = sorted(_chains(jobs),
                        key=lambda c: -sum(cost.job(j, n_steps[id(j)]) for j in c))
        threads = max(1, torch.get_num_threads() // n_workers)
        ctx = multiprocessing.get_context("spawn")
        messages = ctx.Queue()
        expected = len(jobs)
        received = 0
        by_desc = {_describe(j): j for j in jobs}

        def handle(msg: dict[str, Any]) -> None:
            job = by_desc[msg["job"]]
            self.summary["trained_steps"] += msg["steps"]
            self.summary["evaluated"] += msg["evaluated"]
            if msg["failed"]:
                warnings.warn(f"{msg['job']}: {msg['failed']}; cell(s) left missing",
                              stacklevel=3)
                self.summary["failed"].append(msg["job"])
            if progress is not None:
                progress.update(task_id, advance=msg["steps"],
                                description=f"{n_workers} workers, done: {msg['job']}")
            if plain is not None:
                plain.finished(job, msg["evaluated"], bool(msg["failed"]),
                               seconds=msg["seconds"])

        def drain(block: float = 0.0) -> int:
            n = 0
            while True:
                try:
                    msg = messages.get(timeout=block) if block else messages.get_nowait()
                except queue_mod.Empty:
                    return n
                handle(msg)
                n += 1

        pool = ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=_worker_init,
                                   initargs=(threads, messages))
        ok = False
        try:
            futures = [pool.submit(_worker_run, self.spec, str(self.out), self.device, chain)
                       for chain in chains]
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
                received += drain()
                for f in done:
                    f.result()  # a worker's error is this process's error
            while received < expected:
                got = drain(block=10.0)
                if not got:
                    break
                received += got
            ok = True
        finally:
            if not ok:  # interrupted or failed: stop the workers now
                procs = list((getattr(pool, "_processes", None) or {}).values())
                pool.shutdown(wait=False, cancel_futures=True)
                for proc in procs:
                    proc.terminate()
            pool.shutdown(wait=True)
            messages.close()
        _canonical_order(self.spec, self.out)

    def run(self) -> dict[str, Any]:
        """Plan, train and evaluate; returns a summary dict."""
        import torch

        from scalecmp.experiments.store import read_measurements
        from scalecmp.experiments.trainer import barrier, init_distributed

        t0 = time.perf_counter()
        info = init_distributed(self.device)
        if info.world_size > 1 and self.device == "cuda":
            self.device = f"cuda:{info.local_rank}"
        self.out.mkdir(parents=True, exist_ok=True)
        spec = self.spec
        done = done_cells(spec, read_measurements(self.out))
        jobs = plan_jobs(spec, self.out, done)
        barrier()
        n_cells = len(expand_cells(spec))
        self.summary.update(cells=n_cells, done_before=len(done), jobs=len(jobs))
        steps = [steps_to_train(spec, j) for j in jobs]
        total_steps = sum(steps)
        show = self.show_progress and info.is_main and jobs
        plain = None
        if show and not _is_terminal(self.console):
            plain = _PlainProgress(self, jobs, steps)
        progress = _make_progress(self.console) if show and plain is None else None
        with progress or _null():
            task_id = None
            if progress is not None:
                task_id = progress.add_task("grid", total=max(total_steps, 1))
            if plain is not None:
                plain.start()
            n_workers = self._n_workers(jobs, info)
            self.summary["workers"] = n_workers
            if n_workers > 1:
                self._run_parallel(jobs, steps, n_workers, plain, progress, task_id)
            for job in jobs if n_workers == 1 else ():
                if progress is not None:
                    progress.update(task_id, description=_describe(job))
                evaluated = self.summary["evaluated"]
                failed = False
                try:
                    self.run_job(job, progress, task_id)
                except FloatingPointError as exc:
                    warnings.warn(f"{_describe(job)}: {exc}; cell(s) left missing",
                                  stacklevel=2)
                    self.summary["failed"].append(_describe(job))
                    failed = True
                if plain is not None:
                    plain.finished(job, self.summary["evaluated"] - evaluated, failed)
            if progress is not None:
                progress.update(task_id, completed=max(total_steps, 1), description="done")
        torch.set_grad_enabled(True)
        after = done_cells(spec, read_measurements(self.out)) if info.is_main else set()
        if info.is_main and spec.train.slim_checkpoints:
            touched = {(j.procedure, j.size, j.lr) for j in jobs}
            self.summary["slimmed"] = slim_finished_runs(spec, self.out, after, touched)
        self.summary.update(done_after=len(after), wall_s=time.perf_counter() - t0,
                            rank=info.rank, world_size=info.world_size)
        return self.summary


def slim_finished_runs(spec: GridSpec, out_dir: Path, done: set[Cell],
                       only: set[tuple[str, str, float]] | None = None) -> int:
    """Drop the optimiser state of the checkpoints of every (procedure, size, lr) (in
    ``only``, when given) whose cells are all done, except the latest checkpoint of each
    constant-LR run (which a grid with larger targets would continue). Returns the number of
    checkpoints slimmed."""
    from scalecmp.experiments.trainer import list_checkpoints, slim_checkpoint

    n = 0
    for proc in spec.procedures:
        for size in spec.sizes:
            for lr in spec.lrs_for(size):
                if only is not None and (proc, size, lr) not in only:
                    continue
                cells = [c for c in expand_cells(spec)
                         if (c.procedure, c.size, c.lr) == (proc, size, lr)]
                if not all(c in done for c in cells):
                    continue
                root = run_root(spec, out_dir, proc, size, lr)
                dirs = {run_dir(spec, out_dir, c) for c in cells}
                if "cooldown" in spec.schedules:
                    dirs.add(root / "const")
                for d in dirs:
                    ckpts = list_checkpoints(d)
                    keep = max(ckpts) if d.name == "const" and ckpts else None
                    n += sum(slim_checkpoint(p) for s, p in ckpts.items() if s != keep)
    return n


def _relative(path: Path, root: Path) -> Path:
    try:
        return Path(path).resolve().relative_to(Path(root).resolve())
    except ValueError:
        return Path(path)


def _describe(job: Job) -> str:
    what = {"cosine": f"cosine to {job.total}", "const": f"const to {job.total}",
            "cooldown": f"cooldown {job.branch_from}->{job.total}"}[job.kind]
    return f"{job.procedure} {job.size} lr={job.lr:g} {what}"


def _is_terminal(console: Any = None) -> bool:
    """Whether a live progress bar can be shown: stdout and the progress console (stderr
    by default) are both terminals. Otherwise (a pipe, a log file, ``make demo | tee``)
    progress is written as plain lines."""
    try:
        if not sys.stdout.isatty():
            return False
    except (AttributeError, ValueError):
        return False
    if console is not None:
        return bool(getattr(console, "is_terminal", False))
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


#: per-sample training cost of a model in "work" units: its forward GFLOPs per sample plus
#: this overhead (the tiny models spend a fixed share per sample outside matrix products;
#: measured on one CPU core: 0.16 ms/sample for clip xxs, 2.6 ms for clip m)
_SAMPLE_OVERHEAD_GFLOPS = 0.002


class _CostModel:
    """Relative cost of a run (for ETAs and for scheduling runs on workers): steps x batch x
    (GFLOPs per sample + a per-sample overhead), plus its evaluations (a forward pass per
    evaluation image, about 1/3 of a training sample, and the segmentation probe)."""

    def __init__(self, runner: GridRunner) -> None:
        self.runner = runner
        spec = runner.spec
        ev = spec.eval
        n_eval = 0
        if spec.eval_world is not None:
            world = spec.eval_world
            n_classes = int(world.get("n_shapes", 8)) * int(world.get("n_colours", 8))
            n_eval = (n_classes * ev.n_per_class * ("classification" in ev.tasks)
                      + ev.n_retrieval * ("retrieval" in ev.tasks)
                      + (ev.n_seg_train + ev.n_seg_test) * ("segmentation" in ev.tasks))
        self.eval_samples = n_eval / 3.0 + ev.seg_epochs * ev.n_seg_train / 50.0

    def per_sample(self, job: Job) -> float:
        profile = self.runner._models.get((job.procedure, job.size))
        if profile is None:
            try:
                self.runner.build_model(job.procedure, job.size)
                profile = self.runner._models[(job.procedure, job.size)]
            except Exception:  # noqa: BLE001 - an estimate only
                profile = {"gflops_per_sample": 0.01}
        return float(profile["gflops_per_sample"]) + _SAMPLE_OVERHEAD_GFLOPS

    def job(self, job: Job, steps: int) -> float:
        return self.per_sample(job) * (steps * self.runner.spec.batch_size
                                       + len(job.measure) * self.eval_samples)


class _PlainProgress:
    """Progress as plain lines on stdout, for pipes and logs: a header, then one line per
    finished run with its steps, evaluations and time, the elapsed time and an ETA.

    The ETA weighs the remaining runs by their cost (:class:`_CostModel`), not by their
    count: the runs of a grid differ in cost by 100x."""

    def __init__(self, runner: GridRunner, jobs: Sequence[Job], steps: Sequence[int]) -> None:
        self.runner, self.jobs, self.steps = runner, list(jobs), list(steps)
        model = _CostModel(runner)
        self.costs = {id(j): model.job(j, n) for j, n in zip(self.jobs, self.steps, strict=True)}
        self.n_steps = {id(j): n for j, n in zip(self.jobs, self.steps, strict=True)}
        self.total = sum(self.costs.values()) or 1.0
        self.done = 0.0
        self.count = 0
        self.t0 = self.t_last = time.perf_counter()

    def _print(self, text: str) -> None:
        print(text, file=sys.stdout, flush=True)

    def start(self) -> None:
        s = self.runner.summary
        self.t0 = self.t_last = time.perf_counter()
        self._print(f"grid '{self.runner.spec.name}': {len(self.jobs)} runs to train and "
                    f"evaluate ({sum(self.steps)} steps of batch {self.runner.spec.batch_size}, "
                    f"{s.get('cells', 0) - s.get('done_before', 0)} of {s.get('cells', 0)} "
                    "cells missing)")

    def finished(self, job: Job, evaluated: int, failed: bool = False,
                 seconds: float | None = None) -> None:
        now = time.perf_counter()
        self.count += 1
        self.done += self.costs.get(id(job), 0.0)
        elapsed = now - self.t0
        left = self.total - self.done
        eta = 0.0 if left <= 0 else (elapsed * left / self.done if self.done > 0
                                     else float("nan"))
        status = "FAILED (non-finite loss)" if failed else (
            f"{self.n_steps.get(id(job), 0)} steps, {evaluated} "
            f"evaluation{'s' * (evaluated != 1)}")
        took = now - self.t_last if seconds is None else seconds
        width = len(str(len(self.jobs)))
        self._print(f"[{self.count:>{width}}/{len(self.jobs)}] {_describe(job)}: {status} "
                    f"in {took:.1f} s | elapsed {_clock(elapsed)}, ETA {_clock(eta)}")
        self.t_last = now


# --------------------------------------------------------------------------- workers
def _usable_cpus() -> int:
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _chains(jobs: Sequence[Job]) -> list[list[Job]]:
    """``jobs`` split into independent chains, each in run order: the constant-LR run of a
    (procedure, size, lr) with its cooldown branches (which start from its checkpoints);
    every cosine run alone."""
    chains: dict[tuple, list[Job]] = {}
    for j in jobs:
        key = (j.procedure, j.size, j.lr) + ((j.kind, j.total) if j.kind == "cosine" else ())
        chains.setdefault(key, []).append(j)
    return list(chains.values())


_WORKER: dict[str, Any] = {}


def _worker_init(threads: int, messages: Any) -> None:
    """Initialiser of a worker process: torch threads and the message queue."""
    import torch

    torch.set_num_threads(threads)
    _WORKER["messages"] = messages


def _worker_run(spec: GridSpec, out_dir: str, device: str, jobs: Sequence[Job]) -> None:
    """Run one chain of jobs in a worker process (the runner, with its tokenizer and
    evaluation sets, is kept for the next chain); one message per finished job."""
    runner = _WORKER.get("runner")
    if runner is None or runner.spec != spec or runner.out != Path(out_dir):
        runner = _WORKER["runner"] = GridRunner(spec, Path(out_dir), device=device,
                                                progress=False, workers=1)
    for job in jobs:
        t0 = time.perf_counter()
        steps0, evals0 = runner.summary["trained_steps"], runner.summary["evaluated"]
        failed = None
        try:
            runner.run_job(job)
        except FloatingPointError as exc:
            failed = str(exc)
        _WORKER["messages"].put({
            "job": _describe(job), "steps": runner.summary["trained_steps"] - steps0,
            "evaluated": runner.summary["evaluated"] - evals0, "failed": failed,
            "seconds": time.perf_counter() - t0,
        })


def _canonical_order(spec: GridSpec, out_dir: Path) -> None:
    """Rewrite the table with the rows of ``spec`` in the order of :func:`expand_cells`
    (other rows first, as they were), so that a parallel run writes the same table as a
    serial one whatever order its runs finished in."""
    import numpy as np

    from scalecmp.experiments.store import _locked, measurements_path, read_measurements
    from scalecmp.io import atomic_write

    out = Path(out_dir)
    if not measurements_path(out).exists():
        return
    rank = {_row_key(spec, c): i for i, c in enumerate(expand_cells(spec))}
    with _locked(out):
        table = read_measurements(out)
        if table.empty:
            return
        cols = table[_CELL_COLS].itertuples(index=False, name=None)
        keys = [rank.get(tuple(float(v) if i in (4, 7) else v for i, v in enumerate(k)), -1)
                for k in cols]
        order = np.argsort(np.asarray(keys), kind="stable")
        if np.array_equal(order, np.arange(len(order))):
            return
        table = table.iloc[order].reset_index(drop=True)
        atomic_write(measurements_path(out), lambda fh: table.to_parquet(fh, index=False))


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _make_progress(console: Any = None):  # noqa: ANN202 - rich Progress
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("steps"), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console or Console(stderr=True), transient=False,
    )


def run_grid(
    spec: GridSpec,
    out_dir: str | Path,
    *,
    device: str | None = None,
    progress: bool = True,
    console: Any = None,
    workers: int | str | None = None,
) -> dict[str, Any]:
    """Run the missing cells of ``spec`` into ``out_dir``; returns a summary dict
    (cells, done_before, done_after, jobs, trained_steps, evaluated, failed, wall_s, rank,
    world_size; ``done_after`` is only counted on rank 0).

    Works in one process or under torchrun (every rank trains its shard of each batch;
    rank 0 evaluates and writes the table). On the CPU, ``workers`` (default: the spec's
    ``train.workers``, 1; ``"auto"``: the usable cores) processes run independent chains of
    runs side by side (each constant-LR run with its cooldown branches, each cosine run),
    with ``torch.get_num_threads() // workers`` threads each; the values are the same as in
    one process. Workers are started with ``spawn``: a script that calls this with
    ``workers > 1`` needs the usual ``if __name__ == "__main__":`` guard.
    """
    return GridRunner(spec, Path(out_dir), device=device, progress=progress,
                      console=console, workers=workers).run()
