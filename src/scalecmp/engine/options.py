"""Every option of a fit, its default, its preset values and its check, once.

:class:`FitOptions` is the one frozen object that travels from the command line (or the
caller) through ``fit``, ``compare``, ``optimal``, ``holdout_check`` and the report: no
function re-declares these options or repeats their defaults. Its constraints are declared
in :data:`FitOptions._constraints` (in the spirit of scikit-learn's
``_parameter_constraints``) and checked once, when the object is made.

Options that are not about fitting a law (the columns, ``maximize``, ``where``,
``predict_at``, the compute values to compare at) are arguments of the functions that use
them, not fields here.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from scalecmp.engine.bootstrap import BOOTSTRAPS
from scalecmp.engine.corpus_prior import check_corpus_exclude
from scalecmp.engine.frontier import DEFAULT_BINS, FRONTIERS, STUDY_BINS, check_bins
from scalecmp.engine.laws import Law, get_law
from scalecmp.engine.optimize import LOSSES
from scalecmp.engine.pooling import POOLINGS
from scalecmp.errors import UsageError
from scalecmp.validate import (
    check_flag,
    check_level,
    check_n_bootstrap,
    check_seed,
    check_workers,
)

__all__ = [
    "AUTO",
    "AUTO_CANDIDATES",
    "DEFAULT_FRONTIER",
    "Candidate",
    "FitOptions",
    "MIXTURES",
    "PRESETS",
    "STARTS",
    "WEIGHTINGS",
    "fit_options",
]

AUTO = "auto"
DEFAULT_FRONTIER = "binned"  # for laws of compute; two-input laws fit every run ("none")
WEIGHTINGS = ("compute", "none")
MIXTURES = ("inverse_mse", "stacking", "best", "uniform")
STARTS = ("grid", "laion2025", "laion2025-exact")


@dataclass(frozen=True)
class Candidate:
    """One candidate of ``law="auto"``: a law with its own loss, weighting, starts and
    whether the priors apply (``None``: the fit's setting). ``tier``: the mixture's pool is
    the fitted candidates of the lowest tier present (0, the primary ones, when the series
    has points for them; a higher tier serves only series too sparse for every lower one).
    ``min_points``: the fewest frontier points it is fitted on (``None``: ``p + 1`` for a
    law of ``p`` parameters, one degree of freedom); fitted with no degree of freedom, a
    candidate counts one tier higher."""

    name: str
    law: str | Law
    loss: str | None = None
    weighting: str | None = None
    starts: str = "grid"
    priors: bool = True
    tier: int = 0
    min_points: int | None = None

    @property
    def needs(self) -> int:
        """Frontier points this candidate needs."""
        return self.min_points or get_law(self.law).n_params + 1


AUTO_CANDIDATES: tuple[Candidate, ...] = (
    # laws that bend at small compute (a frontier starts near chance): used when they fit
    Candidate("saturating", "saturating"),
    Candidate("broken_power", "broken_power"),
    # the study's recipe: its law, raw least squares, no weights, its start grid, no priors;
    # like the study, also through 4 frontier points (its narrow start grid regularises
    # it), then beside power_floor in the pool of sparse series (BENCHMARKS.md, 13c)
    Candidate("recipe", "saturating", loss="ls", weighting="none", starts="laion2025",
              priors=False, min_points=4),
    # straight-line laws: only for series too sparse for any of the above
    Candidate("power_floor", "power_floor", tier=1),
    Candidate("power", "power", tier=2),
)

PRESETS: dict[str, dict[str, Any]] = {
    # exactly the study's recipe: binned frontier, least squares on raw error of
    # A (x + B)^alpha + E from its 3,200 curve_fit starts, no priors, no weights
    "laion2025": {
        "law": "saturating",
        "loss": "ls",
        "weighting": "none",
        "frontier": "binned",
        "frontier_bins": STUDY_BINS,
        "starts": "laion2025-exact",
        "min_slope_ratio": 0.0,
        "range_prior": False,
    },
}
#: preset values that conflict with a different value set explicitly (the others are
#: the preset's own choices, silently taken)
_PRESET_CONFLICTS = ("law", "loss", "weighting", "frontier", "frontier_bins")


def _one_of(known: tuple[str, ...], what: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if value not in known:
            raise UsageError(f"{what}: unknown {what} '{value}' (known: "
                             f"{', '.join(known)})")
    return check


def _check_candidates(value: Any) -> None:
    if not isinstance(value, tuple | list) or not value or not all(
            isinstance(c, Candidate) for c in value):
        raise UsageError("candidates must be a non-empty tuple of Candidate (e.g. "
                         f"AUTO_CANDIDATES with some replaced), got {value!r}"[:300])


def _flag(name: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        check_flag(value, name)
    return check


def _check_law(value: Any) -> None:
    if not (isinstance(value, str) and value == AUTO):
        get_law(value)


def _check_frontier(value: Any) -> None:
    if value is not None:
        _one_of(FRONTIERS, "frontier")(value)


def _check_delta(value: Any) -> None:
    try:
        ok = math.isfinite(value) and value > 0
    except TypeError:
        ok = False
    if not ok:
        raise UsageError(f"delta must be a finite number > 0, got {value}")


def _check_slope(value: Any) -> None:
    if not 0.0 <= value < 1.0:
        raise UsageError(f"min_slope_ratio must lie in [0, 1), got {value}")


def _check_starts(value: Any) -> None:
    if value not in STARTS:
        raise UsageError(f"unknown starts '{value}' ({', '.join(STARTS)})")


def _check_n_starts(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"n_starts must be an integer >= 1, got {value!r}")


def _check_preset(value: Any) -> None:
    if value is not None and value not in PRESETS:
        raise UsageError(f"unknown preset '{value}' (known: {', '.join(PRESETS)})")


@dataclass(frozen=True)
class FitOptions:
    """How a scaling law is fitted: one frozen, checked object.

    law : ``"auto"`` (candidates weighted by leave-future-out backtests inside each series,
        see :mod:`scalecmp.engine`), a name in :data:`scalecmp.engine.laws.LAWS` or a
        :class:`Law`.
    loss : ``huber_log`` (Huber on log error), ``log`` or ``ls`` (least squares on raw
        error, the study's). Candidates of ``auto`` that carry their own loss keep it.
    delta : Huber threshold on log residuals (0.05 = 5% relative error).
    frontier : ``binned``, ``naive`` or ``none`` (:mod:`scalecmp.engine.frontier`);
        ``None``: ``binned``, or ``none`` for two-input laws.
    frontier_bins : the binned frontier's bins per doubling of the measured compute range
        (unit-free; chosen by leave-one-family-out, BENCHMARKS.md section 13), or
        ``"study"``: the study's count ``log2(x_max / 1500)``, for compute in GFLOPs only
        (the ``laion2025`` preset).
    n_bootstrap : replicates for intervals (0: none; otherwise >= 20).
    bootstrap : ``pairs`` or ``residual``.
    level : interval level, in (0, 1).
    n_starts : starts polished by Levenberg-Marquardt on the full data.
    weighting : ``compute`` (point weights rise with log compute) or ``none``.
    min_slope_ratio : the slope prior's ``kappa`` in [0, 1) (:mod:`scalecmp.engine.priors`;
        0: off).
    range_prior : with ``maximize``, penalise error > 1 inside the data.
    extrapolation_error : add the backtested extrapolation error beyond the fitted range.
    pooling : ``none``; ``series``: the series of one call inform each other, an
        empirical-Bayes prior on the slope at the data's edge and its shrink beyond,
        learnt from the other series (:mod:`scalecmp.engine.pooling`; needs >= 3 series);
        or ``corpus``: the same prior learnt on the development corpus and shipped with
        the package (:mod:`scalecmp.engine.corpus_prior`).
    corpus_exclude : families of the development corpus left out of the corpus prior (a
        user's data that are one of them; ``pooling="corpus"`` only).
    candidates : the candidates of ``law="auto"``.
    mixture : how ``auto`` weighs them: ``inverse_mse``, ``stacking``, ``best``,
        ``uniform``.
    starts : ``grid``, ``laion2025`` (the study's start grid, scalecmp's optimiser) or
        ``laion2025-exact`` (the study's ``curve_fit`` from its 3,200 starts).
    preset : ``laion2025`` sets law, loss, weighting, frontier (with the study's bin
        count), starts and the priors to exactly the study's recipe; a different law, loss,
        weighting, frontier or frontier_bins set explicitly conflicts with it.
    random_state : seed of the bootstrap (``None`` or an integer >= 0).
    workers : processes that fit the batches of groups of one call side by side (an
        integer >= 1, or ``"auto"``: the usable CPU cores); used when a call has more than
        one batch (:func:`scalecmp.engine.api.fit`). The fits do not depend on it.
    """

    law: str | Law = AUTO
    loss: str = "huber_log"
    delta: float = 0.05
    frontier: str | None = None
    frontier_bins: float | str = DEFAULT_BINS
    n_bootstrap: int = 1000
    bootstrap: str = "pairs"
    level: float = 0.95
    n_starts: int = 32
    weighting: str = "compute"
    min_slope_ratio: float = 0.75
    range_prior: bool = True
    extrapolation_error: bool = True
    pooling: str = "none"
    corpus_exclude: tuple[str, ...] = ()
    candidates: tuple[Candidate, ...] = AUTO_CANDIDATES
    mixture: str = "inverse_mse"
    starts: str = "grid"
    preset: str | None = None
    random_state: int | None = 0
    workers: int | str = 1

    #: field -> check (raises UsageError); applied once, in this order, when made
    _constraints: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "law": _check_law,
        "loss": _one_of(LOSSES, "loss"),
        "weighting": _one_of(WEIGHTINGS, "weighting"),
        "frontier": _check_frontier,
        "frontier_bins": check_bins,
        "bootstrap": _one_of(BOOTSTRAPS, "bootstrap"),
        "level": check_level,
        "n_bootstrap": check_n_bootstrap,
        "random_state": check_seed,
        "delta": _check_delta,
        "min_slope_ratio": _check_slope,
        "mixture": _one_of(MIXTURES, "mixture"),
        "pooling": _one_of(POOLINGS, "pooling"),
        "corpus_exclude": check_corpus_exclude,
        "starts": _check_starts,
        "n_starts": _check_n_starts,
        "workers": check_workers,
        "range_prior": _flag("range_prior"),
        "extrapolation_error": _flag("extrapolation_error"),
        "candidates": _check_candidates,
    }

    def __post_init__(self) -> None:
        self._check()
        object.__setattr__(self, "corpus_exclude", tuple(self.corpus_exclude))
        if self.preset is not None:
            for name, value in self._preset_values().items():
                object.__setattr__(self, name, value)

    def _check(self) -> None:
        """Every constraint, once (the preset's conflicts included)."""
        _check_preset(self.preset)
        if self.preset is not None:
            self._preset_values()
        for name, check in self._constraints.items():
            check(getattr(self, name))
        if self.corpus_exclude and self.pooling != "corpus":
            raise UsageError(f"`corpus_exclude` applies only with `pooling` corpus (the "
                             f"pooling here is '{self.pooling}')")

    def _preset_values(self) -> dict[str, Any]:
        """The preset's values; a different value set explicitly for one of
        :data:`_PRESET_CONFLICTS` is a :class:`UsageError`."""
        defaults = _DEFAULTS
        values = PRESETS[self.preset]
        for name in _PRESET_CONFLICTS:
            mine = getattr(self, name)
            if mine is not None and mine != defaults[name] and mine != values[name]:
                shown = f"{mine:g}" if isinstance(mine, float) else mine
                raise UsageError(f"preset '{self.preset}' sets `{name}`={values[name]}; it "
                                 f"cannot be combined with `{name}`={shown}")
        return values

    # -- derived ---------------------------------------------------------------------
    @property
    def is_auto(self) -> bool:
        return isinstance(self.law, str) and self.law == AUTO

    @property
    def n_inputs(self) -> int | None:
        """Inputs of a pinned law (1 or 2); ``None`` for ``auto`` (decided by ``x2``)."""
        return None if self.is_auto else get_law(self.law).n_inputs

    @property
    def law_name(self) -> str:
        return AUTO if self.is_auto else get_law(self.law).name

    def with_values(self, **values: Any) -> FitOptions:
        """A copy with some fields changed; only the changed values are checked (the rest
        were checked when this object was made), and a preset still applies."""
        if not values:
            return self
        _check_names(values)
        new = copy.copy(self)
        for name, value in values.items():
            object.__setattr__(new, name, value)
        if "preset" in values:
            _check_preset(new.preset)
        if new.preset is not None:
            for name, value in new._preset_values().items():
                object.__setattr__(new, name, value)
        for name in values:
            check = self._constraints.get(name)
            if check is not None:
                check(getattr(new, name))
        return new


_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in dataclasses.fields(FitOptions)
}
FIELDS: tuple[str, ...] = tuple(_DEFAULTS)


def _check_names(values: Mapping[str, Any]) -> None:
    unknown = [k for k in values if k not in _DEFAULTS]
    if unknown:
        raise UsageError(f"unknown fit option '{unknown[0]}' (options: {', '.join(FIELDS)})")


def fit_options(options: FitOptions | None = None, /, **values: Any) -> FitOptions:
    """The options of a call: ``options`` (default :class:`FitOptions()`) with ``values``
    set (keywords named as the fields). An unknown name is a :class:`UsageError`."""
    if options is None:
        _check_names(values)
        return FitOptions(**values)
    if not isinstance(options, FitOptions):
        raise UsageError(f"options must be a FitOptions, got {type(options).__name__}")
    return options.with_values(**values)


def defaults() -> Mapping[str, Any]:
    """Every field's default (read-only view)."""
    return dict(_DEFAULTS)
