"""Progress of a grid run that a person can follow: a live bar on a terminal, plain lines
(one per finished run, with an ETA weighted by cost) in a pipe or a log.

No torch at import time.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

from scalecmp.experiments.plan import Job
from scalecmp.format import clock

__all__ = ["CostModel", "PlainProgress", "describe", "is_terminal", "make_progress",
           "null_context"]


def describe(job: Job) -> str:
    what = {"cosine": f"cosine to {job.total}", "const": f"const to {job.total}",
            "cooldown": f"cooldown {job.branch_from}->{job.total}"}[job.kind]
    return f"{job.procedure} {job.size} lr={job.lr:g} {what}"


def is_terminal(console: Any = None) -> bool:
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


#: per-sample training cost of a model in "work" units: its forward GFLOPs per sample plus
#: this overhead (the tiny models spend a fixed share per sample outside matrix products;
#: measured on one CPU core: 0.16 ms/sample for clip xxs, 2.6 ms for clip m)
_SAMPLE_OVERHEAD_GFLOPS = 0.002


class CostModel:
    """Relative cost of a run (for ETAs and for scheduling runs on workers): steps x batch x
    (GFLOPs per sample + a per-sample overhead), plus its evaluations (a forward pass per
    evaluation image, about 1/3 of a training sample, and the segmentation probe)."""

    def __init__(self, runner: Any) -> None:
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


class PlainProgress:
    """Progress as plain lines on stdout, for pipes and logs: a header, then one line per
    finished run with its steps, evaluations and time, the elapsed time and an ETA.

    The ETA weighs the remaining runs by their cost (:class:`CostModel`), not by their
    count: the runs of a grid differ in cost by 100x."""

    def __init__(self, runner: Any, jobs: Sequence[Job], steps: Sequence[int]) -> None:
        self.runner, self.jobs, self.steps = runner, list(jobs), list(steps)
        model = CostModel(runner)
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
        self._print(f"[{self.count:>{width}}/{len(self.jobs)}] {describe(job)}: {status} "
                    f"in {took:.1f} s | elapsed {clock(elapsed)}, ETA {clock(eta)}")
        self.t_last = now




class null_context:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def make_progress(console: Any = None):  # noqa: ANN202 - rich Progress
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


