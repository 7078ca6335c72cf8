"""``fit``: one scaling law, or the evidence-weighted mixture, per group of a frame."""

from __future__ import annotations

import multiprocessing as mp
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd

from scalecmp.engine.options import FitOptions, fit_options
from scalecmp.engine.pooling import MIN_SERIES
from scalecmp.engine.results import FitResult, GroupFit, jsonable
from scalecmp.engine.schedule import run_all
from scalecmp.engine.series import (
    SeriesFit,
    corpus_pools,
    emit_warnings,
    fit_series_steps,
    series_pools,
)
from scalecmp.errors import DataError, ScalecmpWarning, UsageError
from scalecmp.format import group_label, join_some
from scalecmp.io import MAXIMIZE_HINT, looks_higher_is_better, prepare_measurements
from scalecmp.validate import (
    check_bootstrap_memory,
    check_flag,
    check_positive_values,
    resolve_workers,
)

__all__ = ["fit"]

#: groups whose series are fitted together as one batch (:mod:`scalecmp.engine.schedule`):
#: at most this many groups and, beyond the first group, this many rows (padded: every
#: group counted at the batch's largest; :mod:`scalecmp.engine.schedule`): enough to share
#: each solver iteration's Python work, few enough to report progress and to bound the
#: memory of a batch (a stacked bootstrap holds every replicate of every row of the batch)
SERIES_PER_BATCH = 256
ROWS_PER_BATCH = 2048


def fit(
    frame: pd.DataFrame,
    *,
    x: str,
    y: str,
    by: str | Sequence[str] | None = None,
    x2: str | None = None,
    where: Sequence[str] | None = None,
    maximize: bool = False,
    predict_at: Sequence[float] | None = None,
    predict_at2: Sequence[float] | None = None,
    options: FitOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
    **option_values: Any,
) -> FitResult:
    """Fit one scaling law, or the evidence-weighted mixture (``law="auto"``), per group.

    ``frame`` is a pandas DataFrame of measurements (or a dict of columns, a list of
    records); ``x`` the compute column (> 0), ``y`` the metric column, ``x2`` the second
    input of two-input laws, ``where`` filters as on the command line
    (``"model_type=clip"``, ``"gflops_total<=1e11"``). ``predict_at`` (and ``predict_at2``,
    the matching second inputs of two-input laws) are reported with prediction intervals.

    How to fit: ``options`` (a :class:`FitOptions`), or its fields as keywords
    (``law="saturating"``, ``n_bootstrap=200``, ``preset="laion2025"``, ...), which override
    those of ``options``. A group with too few frontier points for every law is skipped
    (``FitResult.skipped``, with a warning); if every group is, :class:`DataError`.
    ``progress(done, total)``, if given, is called after each batch of groups (fitted or
    skipped; the groups of a call are fitted up to :data:`SERIES_PER_BATCH` at a time,
    their solves stacked); with ``pooling="series"`` (and >= 3 groups) or ``"corpus"``
    every group is fitted twice, and ``total`` counts both passes.
    """
    maximize = check_flag(maximize, "maximize")
    options = fit_options(options, **option_values)
    return fit_frame(frame, x=x, y=y, by=by, x2=x2, where=where, maximize=maximize,
                     predict_at=predict_at, predict_at2=predict_at2, options=options,
                     progress=progress)


def fit_frame(frame: Any, *, x: str, y: str, by: str | Sequence[str] | None,
              x2: str | None, where: Sequence[str] | None, maximize: bool,
              predict_at: Sequence[float] | None, predict_at2: Sequence[float] | None,
              options: FitOptions,
              progress: Callable[[int, int], None] | None = None) -> FitResult:
    """:func:`fit` with options already checked (what ``compare``, ``optimal``, the report
    and the command line call: their options were checked once, where they were made)."""
    by = [by] if isinstance(by, str) else list(by or [])
    if progress is not None and not callable(progress):
        raise UsageError(f"progress must be a function progress(done, total) or None, got "
                         f"{type(progress).__name__}")
    if predict_at2 is not None and x2 is None:
        raise UsageError("predict_at2 is the second input of two-input laws: it needs x2")
    n_inputs = options.n_inputs or (2 if x2 is not None else 1)
    if n_inputs == 2 and x2 is None:
        raise UsageError(f"law '{options.law_name}' needs two inputs: pass x2 (samples seen)")
    if n_inputs == 1 and x2 is not None:
        raise UsageError("x2 is only used by two-input laws such as chinchilla")
    at = check_positive_values(predict_at, "predict_at", "")
    at2 = check_positive_values(predict_at2, "predict_at2", "")
    data = prepare_measurements(frame, x, y, x2=x2, by=by, where=where, maximize=maximize)
    check_bootstrap_memory(options.n_bootstrap, len(data))
    if n_inputs == 2 and at:
        if predict_at2 is None or len(at2) != len(at):
            raise UsageError("predict_at: a two-input law predicts at (N, D) pairs: give "
                             "`predict_at2` with one D per N")
        at = [v for pair in zip(at, at2, strict=True) for v in pair]
    grouped = list(data.groupby(by, sort=True, dropna=False)) if by else [((), data)]
    keys = [key if isinstance(key, tuple) else (key,) for key, _ in grouped]
    key_dicts = [{b: jsonable(k) for b, k in zip(by, key, strict=True)} for key in keys]
    labels = [f"group {group_label(k)}" if by else "" for k in key_dicts]
    total = len(grouped)
    # the series prior needs others to learn from; the corpus prior is there for one series
    pooled = options.pooling == "corpus" or (options.pooling == "series" and total >= MIN_SERIES)
    steps = 2 * total if pooled else total
    done = 0
    fatal = not by or not options.is_auto  # a group that cannot be fitted fails the call

    def hinted(i: int, exc: DataError) -> DataError:
        """A group's error, with a hint at ``maximize`` where its metric looks
        higher-is-better."""
        rows = grouped[i][1]
        if not maximize and looks_higher_is_better(rows[x], rows[y]):
            return DataError(f"{exc} ({MAXIMIZE_HINT})")
        return exc

    def named(i: int, exc: DataError) -> str:
        return f"{labels[i]}: {exc}" if labels[i] else str(exc)

    batches = _batches([len(rows) for _, rows in grouped])

    def fit_pass(pools: list) -> list[SeriesFit | DataError]:
        """Every group's series fitted, a batch of groups at a time (:func:`_batches`,
        :func:`~scalecmp.engine.schedule.run_all`), the batches side by side in
        ``options.workers`` processes; progress after each batch, in order."""
        nonlocal done
        series = [[(grouped[i][1][x].to_numpy(), grouped[i][1][y].to_numpy(),
                    None if x2 is None else grouped[i][1][x2].to_numpy()) for i in chunk]
                  for chunk in batches]
        priors = [[pools[i] for i in chunk] for chunk in batches]
        out: list[SeriesFit | DataError] = []
        with _batch_map(min(resolve_workers(options.workers), len(batches))) as map_batches:
            fitted = map_batches(_fit_batch, repeat(options), repeat(maximize), series, priors)
            for chunk, fits in zip(batches, fitted, strict=True):
                for i, res in zip(chunk, fits, strict=True):
                    if isinstance(res, np.linalg.LinAlgError):
                        res = DataError("the points are degenerate for this law (a "
                                        "singular system: inputs collinear or constant)")
                    elif isinstance(res, Exception) and not isinstance(res, DataError):
                        raise res
                    if isinstance(res, DataError) and fatal:
                        raise DataError(named(i, hinted(i, res))) from None
                    out.append(res)
                done += len(chunk)
                if progress is not None:
                    progress(done, steps)
        return out

    pools: list = [None] * total
    if pooled:  # first pass: every series alone, quietly; then the priors they give
        first = fit_pass(pools)
        pools = (corpus_pools(first, options.corpus_exclude) if options.pooling == "corpus"
                 else series_pools(first))
    if options.pooling == "series" and not any(pools):
        why = (f"{total} group{'s' * (total != 1)}" if total < MIN_SERIES
               else "no group has a one-input law fitted by the first pass")
        warnings.warn(f"pooling: every group is fitted alone (it needs >= {MIN_SERIES} "
                      f"groups with a law of compute; here {why})", ScalecmpWarning,
                      stacklevel=3)
    elif options.pooling == "corpus" and not any(pools):
        warnings.warn("pooling: every group is fitted alone (the corpus prior is on the slope "
                      "of a law of compute; no group has one)", ScalecmpWarning, stacklevel=3)
    final = fit_pass(pools)
    groups: list[GroupFit] = []
    skipped: list[dict] = []
    for i, (_, rows) in enumerate(grouped):
        # every warning and error of a group names it (on stderr, away from its table)
        key_dict, label = key_dicts[i], labels[i]
        series = final[i]
        if isinstance(series, DataError):
            exc = hinted(i, series)
            skipped.append({"key": key_dict, "reason": str(exc)})
            warnings.warn(f"{label}: skipped: {exc}", ScalecmpWarning, stacklevel=2)
            continue
        emit_warnings(series, label)
        groups.append(
            GroupFit(
                key=key_dict,
                data=rows.reset_index(drop=True),
                x=x,
                y=y,
                x2=x2,
                fit=series.mixture,
                frontier_mask=series.frontier_mask,
                err=series.err,
                predictions_at=tuple(at),
                pooled_prior=pools[i],
            )
        )
    if not groups:
        reasons = join_some([f"{group_label(s['key'])}: {s['reason']}" for s in skipped],
                            "groups")
        raise DataError(f"no group could be fitted ({reasons})")
    return FitResult(groups=tuple(groups), x=x, y=y, maximize=maximize, by=tuple(by),
                     options=options, x2=x2, skipped=tuple(skipped))


def _batches(sizes: list[int]) -> list[range]:
    """Consecutive groups (their row counts ``sizes``) cut into batches of at most
    :data:`SERIES_PER_BATCH` groups and :data:`ROWS_PER_BATCH` rows once padded (every
    group counted at the batch's largest size; a group larger than that is a batch of its
    own)."""
    out, lo, most = [], 0, 0
    for i, n in enumerate(sizes):
        if i > lo and (i - lo >= SERIES_PER_BATCH
                       or (i - lo + 1) * max(most, n) > ROWS_PER_BATCH):
            out.append(range(lo, i))
            lo, most = i, 0
        most = max(most, n)
    if sizes:
        out.append(range(lo, len(sizes)))
    return out


def _fit_batch(options: FitOptions, maximize: bool, series: list[tuple], pools: list
               ) -> list:
    """One batch of series ``(x, y, x2)`` with their pooled priors, fitted together:
    each one's :class:`SeriesFit` or the exception it raised (in a worker process too)."""
    return run_all([fit_series_steps(sx, sy, sx2, options=options, maximize=maximize,
                                     pool=pool)
                    for (sx, sy, sx2), pool in zip(series, pools, strict=True)])


@contextmanager
def _batch_map(workers: int) -> Iterator[Callable]:
    """A ``map`` for the batches, results in order: the built-in one (one after another),
    or ``workers`` processes side by side (forked where the system can, so a script needs
    no ``__main__`` guard), ended with the context."""
    if workers <= 1:
        yield map
        return
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(workers, mp_context=mp.get_context(method)) as pool:
        yield pool.map
