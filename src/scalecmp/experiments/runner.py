"""The runner of one training unit: builds models, trains its jobs, evaluates the measured
checkpoints and writes their rows to the unit's shard.

:class:`GridRunner` holds what the runs of a grid share (tokenizer, training pairs, evaluation
sets, measured GFLOPs per sample) and runs training jobs; an
executor (:mod:`scalecmp.experiments.executors`) decides where each unit runs. Every row goes
to ``DIR/shards/<unit-id>.parquet`` (:mod:`scalecmp.experiments.shards`), the clip_benchmark
JSON of every evaluation to ``DIR/evals/``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from scalecmp.errors import DataError, UsageError
from scalecmp.experiments.plan import Job, Unit
from scalecmp.experiments.progress import describe
from scalecmp.experiments.spec import (
    EVAL_TASKS,
    TRAIN_TASK,
    WORLD_KEYS,
    GridSpec,
    check_device_name,
)
from scalecmp.experiments.tokenizer import CachedTokenizer

__all__ = ["EVAL_DATASETS", "GridRunner", "JobReport", "start_runner", "training_source",
           "world_of"]

#: table task -> the evaluation dataset named in the clip_benchmark JSON
EVAL_DATASETS = {
    "zeroshot_classification": "synthetic_classification",
    "zeroshot_retrieval": "synthetic_retrieval",
    "segmentation": "synthetic_segmentation",
}

#: what a finished job reports: job (its description), unit, steps trained, evaluations
#: written, failed (the error, or None), seconds
JobReport = dict[str, Any]


def resolve_device(wanted: str | None, name: str = "device", *, present: bool = True) -> str:
    """The torch device this process trains on: ``auto`` (or None) is ``cuda`` when CUDA is
    available, else ``cpu``; with ``present``, ``cuda`` and ``cuda:N`` must exist on this
    machine (checked where the training runs: on a Slurm node, not the login node; a plan
    needs no device). Raises a one-line :class:`UsageError` naming ``name`` otherwise."""
    import torch

    wanted = check_device_name(wanted or "auto", name)
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted.startswith("cuda") and present:
        if not torch.cuda.is_available():
            raise UsageError(f"{name} {wanted!r}: CUDA is not available on this machine "
                             "(use cpu or auto)")
        index = int(wanted.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise UsageError(f"{name} {wanted!r}: this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s)")
    return wanted


def world_of(knobs: Mapping[str, Any]):  # noqa: ANN201 - SyntheticWorld
    """The synthetic world of a spec's ``data`` or ``eval.world`` knobs."""
    from scalecmp.experiments.concepts import make_world
    from scalecmp.experiments.synthetic import WorldConfig

    return make_world(WorldConfig(**{k: v for k, v in knobs.items() if k in WORLD_KEYS}))


def training_source(spec: GridSpec):  # noqa: ANN201 - a PairSource
    """The training pairs of ``spec``'s data section. Making one checks the real data
    without reading it (every local webdataset shard exists and is not empty; a CSV has its
    image and caption columns and a row): one-line :class:`DataError` otherwise."""
    from scalecmp.experiments import data as D

    d = spec.data
    if d["type"] == "synthetic":
        return D.SyntheticPairSource(world_of(d))
    if d["type"] == "webdataset":
        return D.WebDatasetPairSource(d["urls"], spec.image_size,
                                      shuffle=int(d.get("shuffle", 0)),
                                      seed=int(d.get("seed", 0)))
    return D.CsvPairSource(d["path"], spec.image_size, image_col=d.get("image_col", "filepath"),
                           caption_col=d.get("caption_col", "caption"), sep=d.get("sep", ","))


class GridRunner:
    """Runs training jobs of a spec, evaluates their measured checkpoints and writes the
    rows to each job's unit shard."""

    def __init__(self, spec: GridSpec, out_dir: Path, *, device: str | None = None,
                 plan_only: bool = False) -> None:
        self.spec = spec
        self.out = Path(out_dir)
        self.device = resolve_device(*((device, "device") if device else
                                       (spec.train.device, "train.device")),
                                     present=not plan_only)
        self._models: dict[tuple[str, str], dict[str, float]] = {}
        self._tok: CachedTokenizer | None = None
        self._tasks: dict[str, Any] | None = None
        self._seg_data: Any = None
        self.summary: dict[str, Any] = {"trained_steps": 0, "evaluated": 0, "failed": []}
        #: called after every optimiser step (a progress bar's advance), or None
        self.on_step: Callable[[], None] | None = None

    # -- shared resources ---------------------------------------------------------------
    def _world(self, knobs: Mapping[str, Any]):  # noqa: ANN202 - SyntheticWorld
        return world_of(knobs)

    @property
    def tok(self) -> CachedTokenizer:
        if self._tok is None:
            from scalecmp.experiments.tokenizer import CompactTokenizer

            words: set[str] | None = None
            if self.spec.data["type"] == "synthetic":
                words = set(self._world(self.spec.data).caption_words())
                if self.spec.eval_world is not None:
                    words |= set(self._world(self.spec.eval_world).caption_words())
            base = CompactTokenizer(sorted(words) if words is not None else None,
                                    context_length=self.spec.train.context_length)
            self._tok = CachedTokenizer(base)
        return self._tok

    def source(self):  # noqa: ANN201 - a PairSource
        """The training pairs of the spec's data section (:func:`training_source`)."""
        return training_source(self.spec)

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
        from scalecmp.experiments.shards import write_shard_rows

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
        eval_dir = self.out / "evals" / _relative(job.run_dir, self.out / "checkpoints")
        pretrained = f"{spec.dataset}:{job.kind}:{samples}"
        results += self._real_benchmarks(job, model, eval_dir / f"{samples:012d}", pretrained)
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
        for task, metrics in results[1:]:
            if task not in EVAL_DATASETS:
                continue  # real benchmarks wrote clip_benchmark's own records
            E.write_clip_benchmark_json(
                eval_dir / f"{samples:012d}" / f"{task}.json", EVAL_DATASETS[task],
                f"{job.procedure}-{job.size}", pretrained, task, metrics)
        write_shard_rows(self.out, job.unit, rows)
        self.summary["evaluated"] += 1
        return len(rows)

    def _real_benchmarks(self, job: Job, model: Any, eval_dir: Path,
                         pretrained: str) -> list[tuple[str, dict[str, float]]]:
        """clip_benchmark on ``eval.benchmarks`` and the probe on ``eval.segmentation_data``
        (records under ``eval_dir``); (table task, metrics) pairs, finite metrics only."""
        ev = self.spec.eval
        if not ev.benchmarks and ev.segmentation_data is None:
            return []
        from scalecmp.experiments import benchmark_eval as B
        from scalecmp.experiments import evaluate as E

        name = f"{job.procedure}-{job.size}"
        amp = self.device.startswith("cuda") and self.spec.train.precision != "fp32"
        out: list[tuple[str, dict[str, float]]] = []
        for ds in ev.benchmarks:
            metrics = B.evaluate_benchmark(
                model, self.tok, ds, batch_size=ev.batch_size, amp=amp,
                output=eval_dir / B.clip_benchmark_filename(ds, name, pretrained),
                model_name=name, pretrained=pretrained)
            out.append((ds.table_task, {k: v for k, v in metrics.items()
                                        if math.isfinite(v)}))
        seg = ev.segmentation_data
        if seg is not None:
            if self._seg_data is None:
                self._seg_data = B.load_segmentation(seg, self.spec.image_size)
            metrics = E.segmentation_probe(model, self._seg_data, seed=self.spec.seed,
                                           epochs=ev.seg_epochs)
            E.write_clip_benchmark_json(eval_dir / f"{seg.table_task.replace('/', '_')}.json",
                                        seg.name, name, pretrained, "segmentation", metrics)
            out.append((seg.table_task, metrics))
        return out

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
        config = TrainConfig(
            lr=job.lr, batch_size=spec.batch_size, total_samples=job.total, schedule=job.kind,
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

    def run_job(self, job: Job) -> None:
        """Train ``job`` where its checkpoints are missing (resuming from the latest one) and
        evaluate its measured checkpoints that have no rows yet."""
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
                if runner.on_step is not None:
                    runner.on_step()

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

    def run_unit(self, unit: Unit,
                 on_job: Callable[[JobReport], None] | None = None) -> list[JobReport]:
        """Run the jobs of ``unit`` in order; a job whose loss turns non-finite is reported
        as failed (its cells stay missing) and the unit goes on. Returns one report per job
        (also passed to ``on_job`` as each job ends)."""
        reports = []
        for job in unit.jobs:
            t0 = time.perf_counter()
            steps0, evals0 = self.summary["trained_steps"], self.summary["evaluated"]
            failed = None
            try:
                self.run_job(job)
            except FloatingPointError as exc:
                failed = str(exc)
                self.summary["failed"].append(describe(job))
            report = {"job": describe(job), "unit": unit.id,
                      "steps": self.summary["trained_steps"] - steps0,
                      "evaluated": self.summary["evaluated"] - evals0, "failed": failed,
                      "seconds": time.perf_counter() - t0}
            reports.append(report)
            if on_job is not None:
                on_job(report)
        return reports


def start_runner(spec: GridSpec, out_dir: Path, *, device: str | None = None,
                 plan_only: bool = False) -> tuple[GridRunner, Any]:
    """A :class:`GridRunner` for this process, with torch.distributed initialised from the
    environment (torchrun, Slurm tasks; :func:`~scalecmp.experiments.trainer.init_distributed`):
    under several ranks a ``cuda`` device becomes ``cuda:<local rank>``. Returns the runner
    and the process's rank information."""
    from scalecmp.experiments.trainer import init_distributed

    runner = GridRunner(spec, out_dir, device=device, plan_only=plan_only)
    info = init_distributed(runner.device)
    if info.world_size > 1 and runner.device == "cuda":
        runner.device = f"cuda:{info.local_rank}"
    return runner, info


def _relative(path: Path, root: Path) -> Path:
    try:
        return Path(path).resolve().relative_to(Path(root).resolve())
    except ValueError:
        return Path(path)


