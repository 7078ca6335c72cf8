"""Figures: each analysis result drawn, apart from the analysis that computes it.

:func:`plot_fit` (:mod:`scalecmp.plots.fit`), :func:`plot_comparison`
(:mod:`scalecmp.plots.compare`), :func:`plot_optimal` (:mod:`scalecmp.plots.optimal`),
:func:`holdout_figure` (:mod:`scalecmp.plots.holdout`) and :func:`plot_next`
(:mod:`scalecmp.plots.next`, the candidates of ``scalecmp next``) follow the conventions of
:mod:`scalecmp.plots.style`. The analysis modules never import this package; it needs
matplotlib (loaded when a figure is drawn).
"""

from __future__ import annotations

from scalecmp.plots.compare import plot_comparison
from scalecmp.plots.fit import plot_fit
from scalecmp.plots.holdout import holdout_figure
from scalecmp.plots.next import plot_next
from scalecmp.plots.optimal import plot_optimal

__all__ = ["holdout_figure", "plot_comparison", "plot_fit", "plot_next", "plot_optimal"]
