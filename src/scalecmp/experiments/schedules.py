"""Learning-rate schedules as pure functions of the optimiser step.

Three shapes, all with the same linear warmup (open_clip's: ``lr * (step + 1) / warmup``):

* ``cosine``: cosine decay from the base rate to ``min_lr`` at ``total_steps``;
* ``const``: the base rate forever after warmup;
* ``cooldown``: ``const`` up to ``cooldown_start``, then a linear decay that reaches ``min_lr``
  (zero by default) at ``total_steps`` (open_clip's ``const-cooldown`` with power 1).
  A cooldown branch started from a ``const`` checkpoint at step ``cooldown_start``
  therefore sees exactly the rates the constant run would have used up to the branch point.

Because a schedule is a pure function of the step, resuming only needs the step count.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from scalecmp.errors import UsageError

__all__ = ["SCHEDULES", "Schedule", "apply_lr"]

SCHEDULES = ("cosine", "const", "cooldown")


@dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule over optimiser steps.

    ``total_steps`` is the last step of the run for ``cosine`` and ``cooldown`` (unused by
    ``const``); ``cooldown_start`` is the first step of the linear decay (``cooldown`` only).
    """

    kind: str
    base_lr: float
    warmup_steps: int = 0
    total_steps: int | None = None
    cooldown_start: int | None = None
    min_lr: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise UsageError(f"unknown schedule '{self.kind}' (known: {', '.join(SCHEDULES)})")
        if not self.base_lr > 0:
            raise UsageError(f"learning rate must be > 0, got {self.base_lr}")
        if self.warmup_steps < 0:
            raise UsageError(f"warmup must be >= 0 steps, got {self.warmup_steps}")
        if self.kind in ("cosine", "cooldown") and (self.total_steps or 0) <= 0:
            raise UsageError(f"schedule '{self.kind}' needs total_steps > 0")
        if self.kind == "cooldown":
            if self.cooldown_start is None or not (
                0 <= self.cooldown_start < (self.total_steps or 0)
            ):
                raise UsageError(
                    f"cooldown needs 0 <= cooldown_start < total_steps, got "
                    f"{self.cooldown_start} and {self.total_steps}"
                )

    def lr(self, step: int) -> float:
        """Learning rate used for optimiser step ``step`` (0-based)."""
        if step < self.warmup_steps:
            return self.base_lr * (step + 1) / self.warmup_steps
        if self.kind == "const":
            return self.base_lr
        total = int(self.total_steps or 0)
        if self.kind == "cosine":
            span = max(total - self.warmup_steps, 1)
            progress = min(max(step - self.warmup_steps, 0) / span, 1.0)
            return self.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (
                self.base_lr - self.min_lr
            )
        start = max(int(self.cooldown_start or 0), self.warmup_steps)
        if step < start:
            return self.base_lr
        span = max(total - start, 1)
        progress = min((step - start) / span, 1.0)
        return self.min_lr + (1.0 - progress) * (self.base_lr - self.min_lr)

    def to_dict(self) -> dict:
        """Plain dict (stored in checkpoints)."""
        return asdict(self)


def apply_lr(optimizer, lr: float) -> None:  # noqa: ANN001 - torch optimiser, imported lazily
    """Set ``lr`` on every parameter group of ``optimizer``."""
    for group in optimizer.param_groups:
        group["lr"] = lr
