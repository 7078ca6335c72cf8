"""Training loop with checkpoints, exact resume, mixed precision and torch.distributed.

The study's optimiser settings: AdamW with betas (0.9, 0.95), weight decay 0.2 on the weight
matrices only (open_clip's rule: parameters with fewer than two dimensions, norms, biases and
``logit_scale`` are not decayed), gradient clipping at 1.0, a linear warmup, and one of the
schedules of :mod:`scalecmp.experiments.schedules`.

Data come from a :class:`BatchSource` indexed by *sample position*: the global batch of step
``s`` is positions ``[s * B, (s + 1) * B)``, and rank ``r`` of ``W`` processes the
``r``-th contiguous slice of it. Batches are therefore a pure function of the step, and a
checkpoint only needs the step (plus model, optimiser and RNG state) to continue exactly
where it left off: a run killed and resumed from its latest checkpoint ends with the same
weights, bit for bit on CPU, as one that was never interrupted.

Checkpoints are written at chosen samples-seen values as ``ckpt-<samples>.pt`` (temporary
file, fsync, ``os.replace``). Evaluation is not part of the trainer: :class:`Callback`
objects receive ``on_checkpoint`` after each save (with the model in eval mode and the RNG
state restored afterwards, so that callbacks can never change the training trajectory).
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from scalecmp.errors import DataError, UsageError
from scalecmp.experiments.checkpoints import checkpoint_path, list_checkpoints
from scalecmp.experiments.schedules import Schedule, apply_lr
from scalecmp.files import atomic_write

__all__ = [
    "BatchSource",
    "Callback",
    "DistInfo",
    "TrainConfig",
    "TrainState",
    "barrier",
    "Trainer",
    "build_optimizer",
    "checkpoint_path",
    "dist_info",
    "init_distributed",
    "list_checkpoints",
    "load_checkpoint",
    "slim_checkpoint",
    "shard_range",
]

# --------------------------------------------------------------------------- data sources
class BatchSource(Protocol):
    """Training pairs by sample position: ``batch(start, size)`` -> (uint8 BHWC, captions).

    The sources of :mod:`scalecmp.experiments.data` (synthetic, webdataset, CSV) follow it.
    """

    def batch(self, start: int, size: int) -> tuple[np.ndarray, list[str]]: ...


# --------------------------------------------------------------------------- distributed
@dataclass(frozen=True)
class DistInfo:
    """Rank, world size and local rank of this process (0, 1, 0 without torch.distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def dist_info() -> DistInfo:
    """Rank information from an initialised process group, or from torchrun's environment."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(
            dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))
        )
    return DistInfo(
        int(os.environ.get("RANK", 0)),
        int(os.environ.get("WORLD_SIZE", 1)),
        int(os.environ.get("LOCAL_RANK", 0)),
    )


def init_distributed(device: str | torch.device | None = None) -> DistInfo:
    """Initialise the default process group when launched by torchrun (``WORLD_SIZE`` > 1).

    NCCL on CUDA, gloo on CPU. A no-op in a single process or when already initialised.
    """
    info = dist_info()
    if info.world_size > 1 and not dist.is_initialized():
        use_cuda = torch.cuda.is_available() and (device is None or "cuda" in str(device))
        if use_cuda:
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        info = dist_info()
    return info


def barrier() -> None:
    """``dist.barrier()`` when a process group is initialised."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def shard_range(start: int, global_batch: int, rank: int, world_size: int) -> tuple[int, int]:
    """(first position, count) of rank ``rank``'s slice of the global batch at ``start``."""
    if global_batch % world_size:
        raise UsageError(
            f"batch size {global_batch} is not divisible by the number of processes {world_size}"
        )
    local = global_batch // world_size
    return start + rank * local, local


# --------------------------------------------------------------------------- config
@dataclass(frozen=True)
class TrainConfig:
    """What a run trains with. Sample counts must be multiples of ``batch_size`` (global).

    ``schedule``: ``cosine`` (decays to zero at ``total_samples``), ``const``, or
    ``cooldown`` (constant, then linear decay to zero between ``cooldown_start`` samples and
    ``total_samples``). ``checkpoints``: samples-seen values at which to save (the end of
    the run is always saved).
    """

    lr: float
    batch_size: int
    total_samples: int
    schedule: str = "cosine"
    warmup_steps: int = 0
    cooldown_start: int | None = None
    checkpoints: tuple[int, ...] = ()
    weight_decay: float = 0.2
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-6
    grad_clip: float | None = 1.0
    seed: int = 0
    precision: str = "auto"
    loss_window: int = 20

    def __post_init__(self) -> None:
        if self.batch_size <= 0:
            raise UsageError(f"batch_size must be > 0, got {self.batch_size}")
        counts = [("total_samples", self.total_samples)]
        counts += [("checkpoint", c) for c in self.checkpoints]
        if self.cooldown_start is not None:
            counts.append(("cooldown_start", self.cooldown_start))
        for name, value in counts:
            if value < 0 or (value == 0 and name != "cooldown_start"):
                raise UsageError(f"{name} must be > 0 samples, got {value}")
            if value % self.batch_size:
                raise UsageError(
                    f"{name} {value} is not a multiple of the batch size {self.batch_size}"
                )
        if any(c > self.total_samples for c in self.checkpoints):
            raise UsageError("checkpoints beyond total_samples")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise UsageError(f"precision must be auto, fp32 or bf16, got {self.precision!r}")
        self.make_schedule()  # validates the schedule parameters

    @property
    def total_steps(self) -> int:
        return self.total_samples // self.batch_size

    def make_schedule(self) -> Schedule:
        """The learning-rate schedule over steps."""
        start = None if self.cooldown_start is None else self.cooldown_start // self.batch_size
        return Schedule(
            kind=self.schedule,
            base_lr=self.lr,
            warmup_steps=self.warmup_steps,
            total_steps=self.total_steps,
            cooldown_start=start,
        )

    def save_points(self) -> list[int]:
        """Sorted samples-seen values at which a checkpoint is written."""
        return sorted({*self.checkpoints, self.total_samples})


# --------------------------------------------------------------------------- optimiser
def _no_decay(name: str, param: nn.Parameter) -> bool:
    """open_clip's exclusion rule for weight decay."""
    return (
        param.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name
    )


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with open_clip's two parameter groups (decayed weights, undecayed gains/biases)."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in named if not _no_decay(n, p)]
    no_decay = [p for n, p in named if _no_decay(n, p)]
    groups = [
        {"params": no_decay, "weight_decay": 0.0},
        {"params": decay, "weight_decay": config.weight_decay},
    ]
    kwargs = {"lr": config.lr, "betas": config.betas, "eps": config.eps}
    try:  # the fused kernel is several times faster for many small tensors (CPU and CUDA)
        return torch.optim.AdamW(groups, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(groups, **kwargs)


# --------------------------------------------------------------------------- checkpoints
def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint written by :class:`Trainer` (our own files: full unpickling). A file
    that cannot be read (truncated or damaged after it was written: the writes are atomic)
    is a one-line :class:`DataError` that names it; nothing is deleted for the user."""
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=False)
    except (RuntimeError, EOFError, pickle.UnpicklingError, ValueError) as exc:
        reason = str(exc).split(". ")[0].splitlines()[0][:120]
        raise DataError(f"checkpoint {path} cannot be read ({reason}): it is damaged; "
                        "delete it and run the grid again to redo that run") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise DataError(f"checkpoint {path} is not a scalecmp checkpoint (no model state)")
    return ckpt


def slim_checkpoint(path: str | Path) -> bool:
    """Drop the optimiser state of a finished checkpoint (about 2/3 of its size; the model can
    still be evaluated, training can no longer resume from it). Returns whether it changed."""
    p = Path(path)
    ckpt = load_checkpoint(p)
    if ckpt.get("optimizer") is None:
        return False
    ckpt["optimizer"] = None
    _atomic_torch_save(ckpt, p)
    return True


def _atomic_torch_save(obj: Any, path: Path) -> None:
    atomic_write(path, lambda fh: torch.save(obj, fh))


def _rng_state() -> dict:
    state = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),  # noqa: NPY002 - global state, saved as is
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])  # noqa: NPY002
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------- callbacks
class Callback:
    """Hooks called by :class:`Trainer` (override what you need; rank 0 only by default)."""

    all_ranks = False

    def on_start(self, trainer: Trainer) -> None:
        """Before the first step (after any resume)."""

    def on_step(self, trainer: Trainer, step: int, loss: float) -> None:
        """After optimiser step ``step`` (0-based); ``trainer.samples_seen`` is updated."""

    def on_checkpoint(self, trainer: Trainer, samples_seen: int, path: Path) -> None:
        """After the checkpoint at ``samples_seen`` was written (model in eval mode)."""

    def on_end(self, trainer: Trainer) -> None:
        """After the last step."""


@dataclass
class TrainState:
    """Progress of a run: step, samples seen, recent losses, cumulative training seconds."""

    step: int = 0
    samples_seen: int = 0
    losses: deque = field(default_factory=deque)
    wall_s: float = 0.0

    @property
    def recent_loss(self) -> float:
        return float(np.mean(self.losses)) if self.losses else float("nan")


# --------------------------------------------------------------------------- trainer
class Trainer:
    """Train ``model`` on ``source`` following ``config``, saving checkpoints in ``run_dir``.

    ``prepare(images_uint8_bhwc, captions) -> (image_tensor, token_tensor)`` turns raw pairs
    into model inputs. ``model(images, tokens)`` must return a dict with a scalar ``"loss"``.
    ``init_from``: a checkpoint of another run to start from when ``run_dir`` has none of its
    own (the branch point of a cooldown: model, optimiser, RNG and step are taken over).
    ``resume_max``: resume from the latest own checkpoint at or below this many samples
    (default: the latest one), e.g. to re-create a deleted earlier checkpoint.
    ``prefetch``: prepare the next batch in a background thread while this one trains
    (batches are a function of the step, so this changes nothing but speed).
    """

    def __init__(
        self,
        model: nn.Module,
        source: BatchSource,
        prepare: Callable[[np.ndarray, list[str]], tuple[torch.Tensor, torch.Tensor]],
        config: TrainConfig,
        run_dir: str | Path,
        *,
        callbacks: Sequence[Callback] = (),
        device: str | torch.device | None = None,
        init_from: str | Path | None = None,
        meta: dict | None = None,
        resume_max: int | None = None,
        prefetch: bool = True,
    ) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.source = source
        self.prepare = prepare
        self.callbacks = list(callbacks)
        self.init_from = Path(init_from) if init_from is not None else None
        self.meta = dict(meta or {})
        self.resume_max = resume_max
        self.prefetch = prefetch
        self.device = torch.device(
            device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
        )
        self.dist = init_distributed(self.device)
        if self.device.type == "cuda" and self.device.index is None and self.dist.world_size > 1:
            self.device = torch.device("cuda", self.dist.local_rank)
        self.schedule = config.make_schedule()
        torch.manual_seed(config.seed)
        self.model = model.to(self.device)
        self.optimizer = build_optimizer(self.model, config)
        self.state = TrainState(losses=deque(maxlen=config.loss_window))
        self._ddp: nn.Module | None = None
        if self.dist.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self._ddp = DistributedDataParallel(self.model, device_ids=ids)

    # -- properties ---------------------------------------------------------------------
    @property
    def samples_seen(self) -> int:
        return self.state.samples_seen

    @property
    def step(self) -> int:
        return self.state.step

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """bf16 on CUDA unless ``precision='fp32'``; full precision on CPU unless ``'bf16'``."""
        p = self.config.precision
        if p == "bf16" or (p == "auto" and self.device.type == "cuda"):
            return torch.bfloat16
        return None

    # -- checkpoints ----------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to continue the run exactly."""
        return {
            "format": 1,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.to_dict(),
            "step": self.state.step,
            "samples_seen": self.state.samples_seen,
            "losses": list(self.state.losses),
            "wall_s": self.state.wall_s,
            "rng": _rng_state(),
            "config": asdict(self.config),
            "meta": self.meta,
        }

    def load_state_dict(self, ckpt: dict, *, optimizer: bool = True) -> None:
        """Restore model, optimiser, position, losses and RNG from a checkpoint dict."""
        self.model.load_state_dict(ckpt["model"])
        if optimizer:
            self.optimizer.load_state_dict(ckpt["optimizer"])
        self.state.step = int(ckpt["step"])
        self.state.samples_seen = int(ckpt["samples_seen"])
        self.state.losses.clear()
        self.state.losses.extend(ckpt.get("losses", []))
        self.state.wall_s = float(ckpt.get("wall_s", 0.0))
        _set_rng_state(ckpt["rng"])

    def save(self, samples_seen: int) -> Path:
        """Write ``ckpt-<samples_seen>.pt`` atomically (rank 0) and wait for every rank."""
        path = checkpoint_path(self.run_dir, samples_seen)
        if self.dist.is_main:
            _atomic_torch_save(self.state_dict(), path)
        barrier()
        return path

    def resume(self) -> int | None:
        """Load the latest own checkpoint (or ``init_from``); returns its samples seen."""
        limit = self.config.total_samples
        if self.resume_max is not None:
            limit = min(limit, self.resume_max)
        own = [p for s, p in list_checkpoints(self.run_dir).items() if s <= limit]
        ckpt = None
        for path in reversed(own):  # the latest checkpoint that still has its optimiser state
            candidate = load_checkpoint(path, map_location=self.device)
            if candidate.get("optimizer") is not None:
                ckpt = candidate
                break
        if ckpt is None:
            if self.init_from is None:
                return None
            path = self.init_from
            ckpt = load_checkpoint(path, map_location=self.device)
            if ckpt.get("optimizer") is None:
                raise UsageError(f"cannot branch from {path}: its optimiser state was dropped "
                                 "(slim checkpoint); delete it to retrain it")
        if ckpt["samples_seen"] % self.config.batch_size:
            raise UsageError(f"{path}: samples seen not a multiple of the batch size")
        self.load_state_dict(ckpt)
        # the step counter follows the samples (a branch may use another batch size)
        self.state.step = self.state.samples_seen // self.config.batch_size
        return self.state.samples_seen

    # -- training -------------------------------------------------------------------------
    def _callbacks(self) -> Iterable[Callback]:
        return (cb for cb in self.callbacks if cb.all_ranks or self.dist.is_main)

    def _checkpoint_hooks(self, samples: int, path: Path) -> None:
        rng = _rng_state()
        self.model.eval()
        try:
            with torch.no_grad():
                for cb in self._callbacks():
                    cb.on_checkpoint(self, samples, path)
        finally:
            self.model.train()
            _set_rng_state(rng)
        barrier()

    def run(self) -> TrainState:
        """Train from the latest checkpoint (or from scratch) to ``total_samples``."""
        cfg = self.config
        self.resume()
        save_points = [s for s in cfg.save_points() if s > self.state.samples_seen]
        for cb in self._callbacks():
            cb.on_start(self)
        net = self._ddp or self.model
        self.model.train()
        dtype = self.autocast_dtype
        params = [p for p in self.model.parameters() if p.requires_grad]
        logit_scale = getattr(self.model, "logit_scale", None)
        pool = ThreadPoolExecutor(1, thread_name_prefix="prefetch") if self.prefetch else None
        try:
            self._train_loop(pool, net, dtype, params, logit_scale, save_points)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        for cb in self._callbacks():
            cb.on_end(self)
        return self.state

    def _load(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        first, count = shard_range(
            step * self.config.batch_size, self.config.batch_size, self.dist.rank,
            self.dist.world_size,
        )
        images, captions = self.source.batch(first, count)
        return self.prepare(images, captions)

    def _train_loop(self, pool: ThreadPoolExecutor | None, net: nn.Module,
                    dtype: torch.dtype | None, params: list, logit_scale: Any,
                    save_points: list[int]) -> None:
        cfg = self.config
        B = cfg.batch_size
        total = cfg.total_steps
        pending: Future | None = None
        for step in range(self.state.step, total):
            t0 = time.perf_counter()
            apply_lr(self.optimizer, self.schedule.lr(step))
            if pool is None:
                x, tokens = self._load(step)
            else:
                x, tokens = (pending.result() if pending is not None else self._load(step))
                pending = pool.submit(self._load, step + 1) if step + 1 < total else None
            x = x.to(self.device, non_blocking=True)
            tokens = tokens.to(self.device, non_blocking=True)
            ctx = (
                torch.autocast(self.device.type, dtype=dtype)
                if dtype is not None
                else contextlib.nullcontext()
            )
            with ctx:
                out = net(x, tokens)
            loss = out["loss"] if isinstance(out, dict) else out
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            self.optimizer.step()
            if isinstance(logit_scale, torch.Tensor):
                with torch.no_grad():  # open_clip clamps the temperature at 100
                    logit_scale.clamp_(0, math.log(100))
            value = float(loss.detach())
            if not math.isfinite(value):
                raise FloatingPointError(f"loss is {value} at step {step} (lr too high?)")
            self.state.step = step + 1
            self.state.samples_seen = (step + 1) * B
            self.state.losses.append(value)
            self.state.wall_s += time.perf_counter() - t0
            for cb in self._callbacks():
                cb.on_step(self, step, value)
            if save_points and self.state.samples_seen == save_points[0]:
                save_points.pop(0)
                path = self.save(self.state.samples_seen)
                self._checkpoint_hooks(self.state.samples_seen, path)
