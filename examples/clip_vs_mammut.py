"""CLIP vs MaMMUT on the study's ImageNet measurements, from Python.

    .venv/bin/python examples/clip_vs_mammut.py [PATH_TO_datacomp_cosine_best.csv]

Fits one law per procedure, predicts at 1e12 and 1e13 GFLOPs with 95% intervals, compares
the two (crossover, who is better where, compute multiplier) and the compute-optimal
samples seen, printing tidy pandas frames.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pandas as pd

import scalecmp
from scalecmp.compare import compare
from scalecmp.errors import ScalecmpWarning
from scalecmp.optimal import optimal_allocation

DEFAULT = Path(__file__).resolve().parents[2] / "shared/data/laion2025/datacomp_cosine_best.csv"


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    frame = pd.read_csv(path)
    rows = frame.query(
        "downstream_dataset == 'imagenet1k' and model_type in ['clip', 'mammut']"
    )
    warnings.simplefilter("ignore", ScalecmpWarning)
    fits = scalecmp.fit(rows, x="gflops_total", y="value", by="model_type", maximize=True)
    print(fits.to_frame().round(4).to_string(index=False))
    print(fits.predictions_frame([1e12, 1e13]).round(4).to_string(index=False))

    cmp = compare(fits, at=[1e10, 1e11, 1e12])
    print(cmp.to_frame().round(4).to_string(index=False))
    for c in cmp.comparisons:
        print(c.to_dict()["verdict"])

    opt = optimal_allocation(rows, x="gflops_total", y="value", samples="samples_seen",
                             by="model_type", maximize=True, predict_at=[1e12])
    print(opt.to_frame().round(4).to_string(index=False))


if __name__ == "__main__":
    main()
