"""``scalecmp demo``: a CLIP vs MaMMUT grid on the synthetic world, laws, comparison, report.

The demo is the built-in spec ``examples/demo_grid.yaml`` (a copy is embedded here, used
when the examples folder is not next to the package) run through the ordinary grid code
(:func:`scalecmp.experiments.grid.run_grid`), so ``runs/demo`` has the layout of any
``scalecmp grid run --out DIR``. The fit and the comparison use the main metric of each
task family (zero-shot top-1, retrieval recall@5 both ways, segmentation mIoU); the report
is written by :func:`scalecmp.report.write_report`. Re-running reuses every finished cell
and regenerates the report.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from scalecmp.errors import DataError

__all__ = ["DEMO_SPEC", "TINY_OVERRIDES", "REPORT_METRICS", "demo_spec", "run_demo"]

#: the built-in demo grid (identical to examples/demo_grid.yaml; a test checks it)
DEMO_SPEC = """\
# The `make demo` grid: CLIP vs MaMMUT on the synthetic world, CPU-sized.
# One constant-LR run per (procedure, size) with a checkpoint at every samples-seen target
# (measured), plus a short cooldown branch to each target (the last 20%, also measured).
name: demo
procedures: [clip, mammut]
sizes: [xxs, xs, s, m]
samples_seen: [256, 512, 1024, 2048, 4096, 8192]
lr: {xxs: 0.003, xs: 0.003, s: 0.002, m: 0.001}   # per size (larger: lower)
schedules: [const, cooldown]
cooldown_fraction: 0.2
batch_size: 32
warmup: 4
seed: 0
data:
  type: synthetic
  name: synthetic
  n_shapes: 6
  n_colours: 6
  caption_noise: 0.05
eval:
  tasks: [classification, retrieval, segmentation]
  n_per_class: 6
  n_retrieval: 256
  n_seg_train: 128
  n_seg_test: 64
  seg_epochs: 30
train:
  context_length: 24
  caption_loss_weight: 1.0
"""

#: what ``--tiny`` changes: 2 sizes x 3 scales, small evaluation sets
TINY_OVERRIDES: dict[str, Any] = {
    "name": "demo-tiny",
    "sizes": ["xxs", "xs"],
    "samples_seen": [128, 256, 512],
    "warmup": 2,
    "eval": {"tasks": ["classification", "retrieval", "segmentation"], "n_per_class": 2,
             "n_retrieval": 64, "n_seg_train": 32, "n_seg_test": 16, "seg_epochs": 10},
}

#: (task, metric) pairs the demo fits and compares
REPORT_METRICS = (
    ("zeroshot_classification", "acc1"),
    ("zeroshot_retrieval", "image_retrieval_recall@5"),
    ("zeroshot_retrieval", "text_retrieval_recall@5"),
    ("segmentation", "miou"),
)


#: the law and frontier of the demo's fits. The CPU grid's frontier has only 6-10 points
#: per series: the plain non-dominated frontier keeps all of them, and A * C^alpha + E
#: (3 parameters) is steadier on so few noisy points than the 6-parameter default law or
#: the 4-parameter saturating law.
LAW = "power_floor"
FRONTIER = "naive"


def _examples_spec() -> Path | None:
    here = Path(__file__).resolve()
    for parent in here.parents[:5]:
        candidate = parent / "examples" / "demo_grid.yaml"
        if candidate.is_file():
            return candidate
    return None


def demo_spec(tiny: bool = False) -> dict[str, Any]:
    """The demo grid as a spec mapping (``examples/demo_grid.yaml`` when present)."""
    path = _examples_spec()
    raw = yaml.safe_load(path.read_text(encoding="utf-8") if path else DEMO_SPEC)
    if tiny:
        raw.update(TINY_OVERRIDES)
        if isinstance(raw.get("lr"), dict):
            raw["lr"] = {k: v for k, v in raw["lr"].items() if k in raw["sizes"]}
    return raw


def report_frame(table):  # noqa: ANN001, ANN201 - pandas in and out
    """The rows the demo's report fits: the main metric of each task family."""
    import pandas as pd

    keep = pd.Series(False, index=table.index)
    for task, metric in REPORT_METRICS:
        keep |= (table["task"] == task) & (table["metric"] == metric)
    return table.loc[keep].reset_index(drop=True)


def summarise_laws(frame, n_bootstrap: int = 0) -> list[str]:  # noqa: ANN001
    """One line per (task, metric, procedure): the measured compute frontier (first and
    last point) and the fitted law's exponent and floor."""
    import scalecmp

    lines = []
    for (task, metric), rows in frame.groupby(["task", "metric"], sort=False):
        try:
            res = scalecmp.fit(rows, x="gflops_total", y="value", by=["procedure"],
                               maximize=True, n_bootstrap=n_bootstrap, random_state=0,
                               law=LAW, frontier=FRONTIER)
        except Exception as exc:  # a summary line must never stop the demo
            lines.append(f"{task}/{metric}: no fit ({exc})")
            continue
        for g in res.groups:
            p = g.params
            front = g.frontier.sort_values("gflops_total")
            err = 1.0 - front["value"].to_numpy(float)
            c = front["gflops_total"].to_numpy(float)
            lines.append(
                f"{task}/{metric} {g.key['procedure']}: frontier error {err[0]:.3f} -> "
                f"{err[-1]:.3f} over {c[0]:.3g}..{c[-1]:.3g} GFLOPs ({len(c)} points); law "
                f"A*C^alpha+E: alpha={p.get('alpha', float('nan')):.3f} E={p.get('E', 0.0):.3f}"
            )
    return lines


def run_demo(
    out_dir: str | Path = "runs/demo",
    *,
    spec: str | Path | None = None,
    tiny: bool = False,
    n_bootstrap: int = 200,
    progress: bool = True,
    console: Any = None,
) -> dict[str, Any]:
    """Run the demo grid into ``out_dir``, fit, compare and write ``out_dir/report.html``."""
    from scalecmp.experiments.grid import load_spec, parse_spec, run_grid, spec_rows
    from scalecmp.experiments.store import read_measurements
    from scalecmp.report import write_report

    t0 = time.perf_counter()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out must be a directory, got a file: {out}")
    if spec is not None:
        parsed = load_spec(spec)
    else:
        parsed = parse_spec(demo_spec(tiny), where="built-in demo spec",
                            base_dir=Path.cwd())
    summary = run_grid(parsed, out, progress=progress, console=console)
    t_grid = time.perf_counter() - t0
    if summary.get("rank", 0) != 0:  # under torchrun, rank 0 fits and reports
        return {"report": None, "table": out / "measurements.parquet", "grid": summary,
                "laws": [], "grid_s": t_grid, "wall_s": t_grid}
    frame = report_frame(spec_rows(parsed, read_measurements(out)))
    if frame.empty:
        raise DataError(f"no evaluation rows in {out / 'measurements.parquet'} to report on")
    lines = summarise_laws(frame)
    for line in lines:
        print(line, flush=True)
    report = write_report(
        frame, out, x="gflops_total", y="value", by="procedure", series=("task", "metric"),
        maximize=True, n_bootstrap=n_bootstrap, random_state=0, force=True, law=LAW,
        frontier=FRONTIER,
        title=f"scalecmp demo: {' vs '.join(parsed.procedures)} on the synthetic world",
    )
    return {
        "report": report,
        "table": out / "measurements.parquet",
        "grid": summary,
        "laws": lines,
        "grid_s": t_grid,
        "wall_s": time.perf_counter() - t0,
    }
