"""Where many small series spend their Levenberg-Marquardt iterations, and whether
``broken_power`` is converged at its caps (issue 17, item 5; BENCHMARKS.md section 2b).

    .venv/bin/python benchmarks/lm_convergence.py [--groups 16] [--save FILE]
    .venv/bin/python benchmarks/lm_convergence.py --against FILE

``--save`` keeps the recorded requests and results (a pickle); ``--against`` solves every
request of such a file with this checkout's optimiser and counts those whose solutions,
losses or iteration counts differ in any bit (a change meant to leave the fits alone, checked
against a recording made before it).

Fits ``--groups`` simulated 8-row series (``many_groups.simulated``, 200 replicates, every
default) one group at a time, recording every batch of least-squares problems the fit
solves; prints the problem-iterations per law and cap and how many problems end at the cap.
Then solves ``broken_power``'s recorded problems again (a) with 3x the iteration cap, and
(b) with geodesic acceleration (Transtrum and Sethna 2012: each step ``v`` corrected by
``a / 2``, ``a`` from the second directional derivative of the residuals along ``v`` by a
finite difference, accepted when ``|a| <= 0.75 |v|``), and reports time, iterations and the
final losses relative to the shipped optimiser's (per problem, and of each request's best
start: what the fit keeps).
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import many_groups  # noqa: E402
import scalecmp  # noqa: E402
from scalecmp.engine import api, schedule  # noqa: E402
from scalecmp.engine.optimize import (  # noqa: E402
    _residual_jacobian,
    minimize_batch,
    objective,
    residuals,
)


def record(groups: int) -> list[tuple[schedule.SolveRequest, object]]:
    """Every request of a fit of ``groups`` simulated series, with its result."""
    recs = []
    original = schedule.SolveRequest.solve

    def recorded(self: schedule.SolveRequest):  # noqa: ANN202
        res = original(self)
        recs.append((self, res))
        return res

    per_batch = api.SERIES_PER_BATCH
    schedule.SolveRequest.solve = recorded
    api.SERIES_PER_BATCH = 1  # every request solved on its own, as it comes
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scalecmp.fit(many_groups.simulated(groups), x="x", y="y", by="g",
                         n_bootstrap=200)
    finally:
        schedule.SolveRequest.solve = original
        api.SERIES_PER_BATCH = per_batch
    return recs


def solve(q: schedule.SolveRequest, max_iter: int | None = None):  # noqa: ANN201
    """The shipped optimiser on request ``q`` (``max_iter``: another iteration cap)."""
    return minimize_batch(q.model.f, q.model.f_jac, q.theta0, q.y, q.w, q.lower, q.upper,
                          loss=q.loss, delta=q.delta,
                          max_iter=q.max_iter if max_iter is None else max_iter,
                          rtol=q.rtol)


def geodesic_lm(q: schedule.SolveRequest) -> tuple[np.ndarray, np.ndarray]:
    """``minimize_batch``'s bounded LM on request ``q`` with geodesic acceleration; the
    final losses and iterations."""
    f, f_jac, loss, delta = q.model.f, q.model.f_jac, q.loss, q.delta
    theta = np.asarray(q.theta0, float)
    s, p = theta.shape
    lower = np.broadcast_to(q.lower, theta.shape)
    upper = np.broadcast_to(q.upper, theta.shape)
    theta = np.clip(theta, lower, upper)
    y = np.broadcast_to(q.y, (s, np.shape(q.y)[-1]))
    w = np.broadcast_to(q.w, y.shape)
    r = residuals(f(theta), y, loss)
    obj = np.where(np.isfinite(o := objective(r, w, loss, delta)), o, np.inf)
    lam, iters = np.full(s, 1e-2), np.zeros(s, int)
    done, need = np.zeros(s, bool), np.ones(s, bool)
    jac, eye = np.zeros((s, y.shape[1], p)), np.eye(p)
    for _ in range(q.max_iter):
        act = np.flatnonzero(~done)
        if act.size == 0:
            break
        upd = act[need[act]]
        if upd.size:
            pu, du = f_jac(theta[upd])
            jac[upd], need[upd] = _residual_jacobian(pu, du, loss), False
        J, R, T = jac[act], r[act], theta[act]
        lo, hi = lower[act], upper[act]
        wa = w[act] * np.minimum(1.0, delta / np.maximum(np.abs(R), 1e-12)) \
            if loss == "huber_log" else w[act]
        JWt = (J * wa[:, :, None]).transpose(0, 2, 1)
        g = (JWt @ R[:, :, None])[:, :, 0]
        frozen = ((T <= lo + 1e-12) & (g > 0)) | ((T >= hi - 1e-12) & (g < 0))
        keep = ~frozen
        A = (JWt @ J) * keep[:, :, None] * keep[:, None, :] + eye * frozen[:, :, None]
        g = g * keep
        M = A + eye * (lam[act, None] * np.maximum(np.diagonal(A, axis1=1, axis2=2),
                                                   1e-12))[:, :, None]
        v = np.nan_to_num(-np.linalg.solve(M, g[..., None])[..., 0])
        h = 0.1
        rh = residuals(f(T + h * v), y[act], loss)
        rpp = np.nan_to_num(2.0 / h * ((rh - R) / h - np.einsum("snp,sp->sn", J, v)))
        a = np.nan_to_num(-np.linalg.solve(M, ((JWt @ rpp[:, :, None])[:, :, 0]
                                               * keep)[..., None])[..., 0])
        ok = np.linalg.norm(a, axis=1) <= 0.75 * np.linalg.norm(v, axis=1)
        new = np.clip(T + v + 0.5 * a * ok[:, None], lo, hi)
        rn = residuals(f(new), y[act], loss)
        on = np.where(np.isfinite(o := objective(rn, w[act], loss, delta)), o, np.inf)
        accept = on < obj[act]
        gain = obj[act] - on
        ai = act[accept]
        theta[ai], r[ai], obj[ai], need[ai] = new[accept], rn[accept], on[accept], True
        lam[act] = np.where(accept, np.maximum(lam[act] * 0.3, 1e-9), lam[act] * 8.0)
        iters[act] += 1
        done[act] = ((accept & (gain <= q.rtol * np.maximum(obj[act], 1e-30)))
                     | (np.abs(new - T).max(axis=1) < 1e-12) | (lam[act] > 1e12))
    return obj, iters


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--groups", type=int, default=16)
    ap.add_argument("--save", metavar="FILE", help="keep the recorded requests (pickle)")
    ap.add_argument("--against", metavar="FILE", help="re-solve a recording, count changes")
    args = ap.parse_args()
    if args.against:
        with open(args.against, "rb") as fh:
            recs = pickle.load(fh)
        changed = 0
        for q, r in recs:
            res = solve(q)
            changed += not (np.array_equal(res.theta, r.theta, equal_nan=True)
                            and np.array_equal(res.loss, r.loss, equal_nan=True)
                            and np.array_equal(res.iterations, r.iterations))
        print(f"{len(recs)} recorded requests solved again: {changed} differ in any bit")
        return
    recs = record(args.groups)
    if args.save:
        with open(args.save, "wb") as fh:
            pickle.dump(recs, fh)
    agg: dict = defaultdict(lambda: np.zeros(4, int))
    for q, r in recs:
        agg[(q.model.law.name, q.max_iter)] += [1, len(r.iterations), r.iterations.sum(),
                                                (r.iterations >= q.max_iter).sum()]
    total = sum(a[2] for a in agg.values())
    print(f"{args.groups} groups x 8 rows, 200 replicates: {total} problem-iterations")
    print("law, cap: requests, problems, problem-iterations (share), at the cap")
    for (law, cap), (n, probs, its, at_cap) in sorted(agg.items()):
        print(f"  {law:13s} {cap:4d}: {n:4d} {probs:6d} {its:8d} ({its / total:5.1%}) {at_cap:5d}")
    for cap in (500, 200, 100):
        sel = [(q, r) for q, r in recs if q.model.law.name == "broken_power"
               and q.max_iter == cap]
        if not sel:
            continue
        print(f"broken_power, cap {cap} ({len(sel)} requests):")
        for name in ("shipped", "3x the cap", "geodesic"):
            t0 = time.perf_counter()
            its, per_problem, best = 0, [], []
            for q, r in sel:
                if name == "geodesic":
                    ob, it = geodesic_lm(q)
                else:
                    res = solve(q, 3 * q.max_iter if name == "3x the cap" else None)
                    ob, it = res.loss, res.iterations
                its += int(it.sum())
                ratio = ob / r.loss
                per_problem.append(ratio)
                # the full fit keeps its best start; a bootstrap keeps every replicate
                best.append([ob.min() / r.loss.min()] if cap == 500 else ratio)
            per_problem, best = np.concatenate(per_problem), np.concatenate(best)
            q10, q50, q90 = np.nanquantile(per_problem, [0.1, 0.5, 0.9])
            print(f"  {name:11s} {time.perf_counter() - t0:6.2f} s, {its:7d} iterations; "
                  f"loss / shipped per problem: p10 {q10:.3f}, median {q50:.3f}, p90 "
                  f"{q90:.3f}; kept: min {np.nanmin(best):.3f}, median "
                  f"{np.nanmedian(best):.3f}")


if __name__ == "__main__":
    main()
