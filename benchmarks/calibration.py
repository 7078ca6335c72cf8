"""Calibration of scalecmp's intervals and comparison verdicts on simulated scaling grids.

Each simulated series is a training grid like the study's: model sizes (GFLOPs per sample)
x samples seen, compute ``C = GFLOPs/sample x samples``. The best run of a small learning-rate
sweep per cell has error

    err = law(C / m) * (1 + kappa * ln(N / N_opt(C))^2) * (1 + min_k |eps_k|) * exp(eta)

with ``law(C) = A (C + B)^alpha + E`` (parameters drawn in the range the real data show),
``m`` the arm's compute multiplier (1: reference; 1.5: needs 1.5x the compute), a size
inefficiency for a too small / too large model for its budget (``N_opt(C) ~ C^0.28``), the
best-of-3 learning-rate penalty ``eps_k ~ N(0, s_lr)`` and measurement noise ``eta``.
The metric is ``1 - err`` (higher is better), fitted with ``--maximize``.

The truth the laws are judged against is the envelope a well-tuned, compute-optimal run
reaches: ``law(C / m) * (1 + E[min_k |eps_k|])``.

Checks:
1. coverage: the fit's 95% interval at 3x and 10x the largest fitted compute covers the
   truth (curve interval) and a new best-of-sweep measurement (prediction interval);
   target 90-98%;
2. false positives: two arms with the same law; ``compare`` declares a winner anywhere on its
   grid (simultaneous band, 95%) in <= 5% of series; also the pointwise rate at one
   pre-specified compute (the largest measured);
3. power: arm b needs 1.5x the compute of arm a (``m = 1.5``); the share of series in which
   ``compare`` declares a better (and never b).

Usage: ``python benchmarks/calibration.py --n-series 200 --seed 0 [--n-bootstrap 1000]``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd

from scalecmp.errors import ScalecmpError

SIZES = np.geomspace(4.0, 300.0, 12)  # forward GFLOPs per sample (ViT-S/32 ... ViT-H/14)
SAMPLES = np.array([1.28e6, 3.07e6, 6.4e6, 12.8e6, 30.7e6, 64e6, 128e6, 307e6, 640e6,
                    1.28e9, 3.07e9])
KAPPA = 0.02  # error inflation per squared log-factor off the optimal size
S_LR = 0.02  # spread of the learning-rate penalty
N_LR = 3  # runs in the sweep
SIGMA = 0.01  # measurement noise (log error)


def draw_law(rng: np.random.Generator) -> dict[str, float]:
    """Saturating-law parameters in the range fitted on the public CLIP/MaMMUT data.

    ``A`` is set so that the error at tiny compute, ``A B^alpha + E``, is near chance
    (0.93-0.99), as on the real series."""
    b = float(np.exp(rng.uniform(np.log(4e7), np.log(2e8))))
    alpha = float(rng.uniform(-0.26, -0.18))
    e = float(rng.uniform(0.08, 0.25))
    start = float(rng.uniform(0.93, 0.99))
    return {"A": (start - e) / b**alpha, "B": b, "alpha": alpha, "E": e}


def law_error(c: np.ndarray, p: dict[str, float]) -> np.ndarray:
    return p["A"] * (c + p["B"]) ** p["alpha"] + p["E"]


def lr_penalty_mean(n_mc: int = 200_000, seed: int = 123) -> float:
    rng = np.random.default_rng(seed)
    return float(np.abs(rng.normal(0.0, S_LR, size=(n_mc, N_LR))).min(axis=1).mean())


LR_MEAN = lr_penalty_mean()


def truth(c: np.ndarray, p: dict[str, float], multiplier: float = 1.0) -> np.ndarray:
    """Expected error of a well-tuned compute-optimal run (error units)."""
    return law_error(np.asarray(c, float) / multiplier, p) * (1.0 + LR_MEAN)


def simulate_series(
    rng: np.random.Generator, p: dict[str, float], multiplier: float = 1.0, arm: str = "a"
) -> pd.DataFrame:
    """One training grid (sizes x samples) of best-of-sweep runs; metric = 1 - error."""
    g, s = np.meshgrid(SIZES, SAMPLES, indexing="ij")
    g, s = g.ravel(), s.ravel()
    c = g * s
    n_opt = 0.039 * c**0.28
    ineff = KAPPA * np.log(g / n_opt) ** 2
    lr = np.abs(rng.normal(0.0, S_LR, size=(len(c), N_LR))).min(axis=1)
    err = law_error(c / multiplier, p) * (1 + ineff) * (1 + lr) * np.exp(rng.normal(0, SIGMA,
                                                                                     len(c)))
    return pd.DataFrame(
        {"arm": arm, "gflops_per_sample": g, "samples_seen": s, "gflops_total": c,
         "value": np.clip(1.0 - err, 0.0, 1.0)}
    )


def new_measurement(rng: np.random.Generator, c: np.ndarray, p: dict, m: float = 1.0):
    lr = np.abs(rng.normal(0.0, S_LR, size=(len(c), N_LR))).min(axis=1)
    return law_error(c / m, p) * (1 + lr) * np.exp(rng.normal(0, SIGMA, len(c)))


def run(n_series: int, seed: int, n_bootstrap: int, progress: bool = True,
        law: str | None = None) -> dict[str, float]:
    """Run the three checks; return the rates (series whose fit fails are skipped)."""
    rng = np.random.default_rng(seed)
    c_max = float(SIZES.max() * SAMPLES.max())
    at = np.array([3.0 * c_max, 10.0 * c_max])
    cov_curve = np.zeros((n_series, 2))
    cov_pred = np.zeros((n_series, 2))
    fp_any, fp_point, pw_any, pw_wrong, pw_point = (np.zeros(n_series) for _ in range(5))
    t0 = time.perf_counter()
    warnings.simplefilter("ignore")
    skipped = 0
    for i in range(n_series):
        try:
            _one_series(rng, i, n_bootstrap, c_max, at, cov_curve, cov_pred, fp_any, fp_point,
                        pw_any, pw_wrong, pw_point, law)
        except ScalecmpError:
            skipped += 1
            for arr in (cov_curve, cov_pred, fp_any, fp_point, pw_any, pw_wrong, pw_point):
                arr[i] = np.nan
        if progress and (i + 1) % 10 == 0:
            el = time.perf_counter() - t0
            print(f"  {i + 1}/{n_series} series, {el:.0f} s", file=sys.stderr)
    return {
        "n_series": n_series - skipped,
        "skipped": skipped,
        "coverage_curve_3x": float(np.nanmean(cov_curve[:, 0])),
        "coverage_curve_10x": float(np.nanmean(cov_curve[:, 1])),
        "coverage_pred_3x": float(np.nanmean(cov_pred[:, 0])),
        "coverage_pred_10x": float(np.nanmean(cov_pred[:, 1])),
        "false_positive_any": float(np.nanmean(fp_any)),
        "false_positive_at_cmax": float(np.nanmean(fp_point)),
        "power_1p5x_any": float(np.nanmean(pw_any)),
        "power_1p5x_at_cmax": float(np.nanmean(pw_point)),
        "wrong_direction_1p5x": float(np.nanmean(pw_wrong)),
        "seconds": time.perf_counter() - t0,
    }


def _one_series(rng, i, n_bootstrap, c_max, at, cov_curve, cov_pred, fp_any,  # noqa: ANN001
                fp_point, pw_any, pw_wrong, pw_point, law) -> None:
    from scalecmp import fit
    from scalecmp.compare import compare

    kw = {} if law is None else {"law": law}
    p = draw_law(rng)
    seed_i = int(rng.integers(0, 2**31 - 1))
    a = simulate_series(rng, p, 1.0, "a")
    # 1. coverage of one arm
    res = fit(a, x="gflops_total", y="value", maximize=True, n_bootstrap=n_bootstrap,
              random_state=seed_i, **kw)
    g = res.groups[0]
    t_metric = 1.0 - truth(at, p)
    lo, hi = g.interval(at, kind="curve")
    cov_curve[i] = (t_metric >= lo) & (t_metric <= hi)
    new = 1.0 - new_measurement(rng, at, p)
    lo, hi = g.interval(at)
    cov_pred[i] = (new >= lo) & (new <= hi)
    # 2. same law in both arms
    b = simulate_series(rng, p, 1.0, "b")
    cmp = compare(pd.concat([a, b]), x="gflops_total", y="value", by="arm", maximize=True,
                  at=[c_max], n_bootstrap=n_bootstrap, random_state=seed_i, **kw)[0]
    fp_any[i] = bool((cmp.sig != 0).any())
    fp_point[i] = cmp.at[0]["better"] is not None
    # 3. b needs 1.5x the compute
    b15 = simulate_series(rng, p, 1.5, "b")
    cmp = compare(pd.concat([a, b15]), x="gflops_total", y="value", by="arm",
                  maximize=True, at=[c_max], n_bootstrap=n_bootstrap,
                  random_state=seed_i, **kw)[0]
    pw_any[i] = bool((cmp.sig > 0).any())
    pw_wrong[i] = bool((cmp.sig < 0).any())
    pw_point[i] = cmp.at[0]["better"] == {"arm": "a"}


def binom_se(p: float, n: int) -> float:
    return float(np.sqrt(max(p * (1 - p), 1e-12) / n))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-series", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument("--law", default=None, help="Law to fit (default: the engine's default).")
    args = ap.parse_args(argv)
    r = run(args.n_series, args.seed, args.n_bootstrap, law=args.law)
    n = r["n_series"]
    rows = [
        ("95% curve interval covers truth at 3x C_max", r["coverage_curve_3x"], "0.90-0.98"),
        ("95% curve interval covers truth at 10x C_max", r["coverage_curve_10x"], "0.90-0.98"),
        ("95% prediction interval covers a new run, 3x", r["coverage_pred_3x"], "0.90-0.98"),
        ("95% prediction interval covers a new run, 10x", r["coverage_pred_10x"], "0.90-0.98"),
        ("same law: winner declared anywhere (verdict)", r["false_positive_any"], "<= 0.05"),
        ("same law: winner at C_max (pointwise)", r["false_positive_at_cmax"], "<= 0.05"),
        ("b needs 1.5x compute: a declared better (verdict)", r["power_1p5x_any"], "power"),
        ("b needs 1.5x compute: a better at C_max (pointwise)", r["power_1p5x_at_cmax"], "power"),
        ("b needs 1.5x compute: b declared better (wrong)", r["wrong_direction_1p5x"], "~0"),
    ]
    print(f"\nscalecmp calibration: {n} simulated series per check ({r['skipped']} skipped), "
          f"{args.n_bootstrap} "
          f"bootstrap replicates, seed {args.seed} ({r['seconds']:.0f} s)\n")
    print(f"| {'check':<52} | {'rate':>6} | {'+-se':>6} | {'target':>9} |")
    print(f"|{'-' * 54}|{'-' * 8}|{'-' * 8}|{'-' * 11}|")
    for name, v, target in rows:
        print(f"| {name:<52} | {v:6.3f} | {binom_se(v, n):6.3f} | {target:>9} |")
    law_arg = f" --law {args.law}" if args.law else ""
    print(f"\nreproduce: python benchmarks/calibration.py --n-series {args.n_series} "
          f"--seed {args.seed} --n-bootstrap {args.n_bootstrap}{law_arg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
