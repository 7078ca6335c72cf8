"""``fit``: one scaling law, or the evidence-weighted mixture, per group of a frame."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from scalecmp.engine.options import FitOptions, fit_options
from scalecmp.engine.pooling import MIN_SERIES
from scalecmp.engine.results import FitResult, GroupFit, jsonable
from scalecmp.engine.series import fit_series, series_pools
from scalecmp.errors import DataError, ScalecmpWarning, UsageError
from scalecmp.format import group_label, join_some
from scalecmp.io import MAXIMIZE_HINT, looks_higher_is_better, prepare_measurements
from scalecmp.validate import check_bootstrap_memory, check_flag, check_positive_values

__all__ = ["fit"]


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
    ``progress(done, total)``, if given, is called after each group (fitted or skipped);
    with ``pooling="series"`` (and >= 3 groups) every group is fitted twice, and ``total``
    counts both passes.
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
    pools: list = [None] * total
    pooled = options.pooling != "none" and total >= MIN_SERIES
    steps = 2 * total if pooled else total

    def fit_one(i: int, pool: Any, warn: bool) -> Any:
        rows = grouped[i][1]
        try:
            return fit_series(rows[x].to_numpy(), rows[y].to_numpy(),
                              None if x2 is None else rows[x2], options=options,
                              maximize=maximize, label=labels[i], pool=pool, warn=warn)
        except np.linalg.LinAlgError:
            return DataError("the points are degenerate for this law (a singular system: "
                             "inputs collinear or constant)")
        except DataError as exc:
            return exc

    if pooled:  # first pass: every series alone, quietly; then the priors they give
        first = []
        for i in range(total):
            if progress is not None and i:
                progress(i, steps)
            first.append(fit_one(i, None, warn=False))
        pools = series_pools(first)
    if options.pooling != "none" and not any(pools):
        why = (f"{total} group{'s' * (total != 1)}" if total < MIN_SERIES
               else "no group has a one-input law fitted by the first pass")
        warnings.warn(f"pooling: every group is fitted alone (it needs >= {MIN_SERIES} "
                      f"groups with a law of compute; here {why})", ScalecmpWarning,
                      stacklevel=3)
    groups: list[GroupFit] = []
    skipped: list[dict] = []
    for i, (_, rows) in enumerate(grouped):
        done = i + 1 + (total if pooled else 0)
        if progress is not None and done > 1:
            progress(done - 1, steps)
        key_dict, label = key_dicts[i], labels[i]
        # every warning and error of a group names it (on stderr, away from its table)
        where_txt = f"{label}: " if label else ""
        series = fit_one(i, pools[i], warn=True)
        if isinstance(series, DataError):
            exc = series
            if not maximize and looks_higher_is_better(rows[x], rows[y]):
                exc = DataError(f"{exc} ({MAXIMIZE_HINT})")
            if not by or not options.is_auto:
                raise DataError(f"{where_txt}{exc}") from None
            skipped.append({"key": key_dict, "reason": str(exc)})
            warnings.warn(f"{where_txt}skipped: {exc}", ScalecmpWarning, stacklevel=2)
            continue
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
    if progress is not None:
        progress(steps, steps)
    if not groups:
        reasons = join_some([f"{group_label(s['key'])}: {s['reason']}" for s in skipped],
                            "groups")
        raise DataError(f"no group could be fitted ({reasons})")
    return FitResult(groups=tuple(groups), x=x, y=y, maximize=maximize, by=tuple(by),
                     options=options, x2=x2, skipped=tuple(skipped))

