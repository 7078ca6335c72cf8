"""How much of the demo's held-out error is training-seed noise, and how much is the law.

Reads demo grid folders trained with different ``seed:`` values (the same grid otherwise)
and prints, per (series, procedure):

1. **the seed-noise floor**: at the held-out scales (constant-LR and cooldown points with
   ``samples_seen >= largest / HOLDOUT_FACTOR``), the mean absolute deviation of one seed's
   value from the seeds' mean, times sqrt(n / (n - 1)) (n seeds), in pp. No predictor that
   sees only a seed's small scales can beat this on average unless those scales tell
   which way the seed will go; a mean absolute error target below it is met by luck;
2. **the held-out check of the seeds' mean table** (each row averaged over the seeds, then
   :func:`scalecmp.experiments.demo.holdout`): what the demo's law does when the seed noise
   is averaged away; what is left is the law's bias on this grid.

    .venv/bin/python benchmarks/demo_seed_noise.py DIR_SEED0 DIR_SEED1 [DIR_SEED2 ...]
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from demo_protocol import SHORT  # noqa: E402
from demo_protocol import load as load_seed  # noqa: E402

KEYS = ["procedure", "model", "schedule", "samples_seen", "cooldown_from", "task", "metric"]


def load(folders: list[str]) -> pd.DataFrame:
    from scalecmp.experiments import demo

    frames = []
    for i, folder in enumerate(folders):
        t = demo.measurement_frame(load_seed(folder))
        frames.append(t.assign(run=i, cooldown_from=t["cooldown_from"].fillna(-1)))
    return pd.concat(frames, ignore_index=True)


def seed_noise(table: pd.DataFrame, factor: float) -> pd.DataFrame:
    """Per (series, procedure): the seed-noise floor at the held-out scales, pp."""
    n = table["run"].nunique()
    late = table.loc[table["samples_seen"] >= table["samples_seen"].max() / factor]
    wide = late.pivot_table(index=KEYS, columns="run", values="value")
    dev = wide.sub(wide.mean(axis=1), axis=0).abs().mean(axis=1) * math.sqrt(n / (n - 1))
    out = (100 * dev).groupby(level=["metric", "procedure"]).mean().rename("seed_noise_pp")
    return out.reset_index().assign(series=lambda d: d["metric"].map(SHORT))


def mean_table(table: pd.DataFrame) -> pd.DataFrame:
    """Every row averaged over the seeds (compute is the same in every seed)."""
    m = (table.groupby(KEYS, dropna=False)
         .agg(value=("value", "mean"), gflops_total=("gflops_total", "first"))
         .reset_index())
    return m.assign(cooldown_from=m["cooldown_from"].where(m["cooldown_from"] >= 0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+", help="demo grid folders, one per seed")
    args = ap.parse_args()
    if len(args.folders) < 2:
        raise SystemExit("give at least two grid folders (seeds)")
    from scalecmp.experiments import demo

    pd.set_option("display.width", 200)
    table = load(args.folders)
    noise = seed_noise(table, demo.HOLDOUT_FACTOR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check = demo.holdout(mean_table(table), n_bootstrap=200)
    groups = check.groups[["metric", "procedure", "mae", "coverage"]].assign(
        mae_of_mean_pp=lambda d: 100 * d["mae"])
    out = noise.merge(groups[["metric", "procedure", "mae_of_mean_pp", "coverage"]],
                      on=["metric", "procedure"], how="left")
    print(f"{table['run'].nunique()} seeds; held-out scales: samples_seen >= largest / "
          f"{demo.HOLDOUT_FACTOR:g}")
    print(out[["series", "procedure", "seed_noise_pp", "mae_of_mean_pp", "coverage"]]
          .round(2).to_string(index=False))
    cr = out.loc[out["series"] != "mIoU"]
    print(f"classification + retrieval: seed-noise floor {cr['seed_noise_pp'].mean():.1f} pp "
          f"(mean over series); the seeds' mean table: held-out check "
          f"{'PASSED' if check.passed else 'FAILED'}, {100 * check.mae:.1f} pp, "
          f"{check.n_inside}/{check.n} inside")


if __name__ == "__main__":
    main()
