"""A prior learnt on the development corpus and shipped with the package
(``pooling="corpus"``).

:mod:`scalecmp.engine.pooling` learns a prior on two law-free summaries of a series from
the *other series of the same command*: ``u1 = log(-s(x_e))``, the log of the error's
log-log slope at the last frontier compute ``x_e``, and ``u2 = log(s(x_e 10) / s(x_e))``,
how much that slope shrinks over the next decade (0 for a pure power law, very negative
when a floor takes over). Both are unit-free: neither the unit of compute nor the
metric's changes them.

``pooling="corpus"`` takes the prior from the development corpus instead (the six real
families of ``../shared/data``: language-model learning curves of a published
extrapolation benchmark, final and per-checkpoint losses of a scaling-law survey, Pythia
checkpoint evaluations, observational scaling of base LLMs, and the study's own
vision-language measurements). For every family :mod:`scalecmp.engine.corpus_prior_data`
holds the random-effects summary of its series (:func:`family_summary`, written by
``benchmarks/corpus_prior.py``): the family's mean ``m_f`` of ``(u1, u2)``, the variance of
that mean ``w_f`` and the spread of its series around it ``t2_f`` (DerSimonian-Laird, the
series' own sampling variances from their bootstrap replicates).

A new series comes from a family nobody has measured, so the prior is two-level, every
family counting once (``k`` families): the corpus mean ``mu = mean_f(m_f)``, the spread
between families ``T2 = max(0, var_f(m_f) - mean_f(w_f))`` (the sample variance of the
families' means less their own sampling variance) and ``var(mu) = (T2 + mean_f(w_f)) /
k``; the prior of a new series is

    N(mu, T2 + median_f(t2_f) + var(mu)),

per summary: wide where families disagree. (Weighting the families by precision, as
DerSimonian-Laird would, lets a family whose series were all fitted by the pure power law,
``u2 = 0`` with no spread, set the corpus mean alone.) ``corpus_exclude`` leaves families out (a
user's data that are one of them, and the leave-one-family-out benchmark).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scalecmp.engine.corpus_prior_data import FAMILIES, PROVENANCE
from scalecmp.engine.pooling import random_effects
from scalecmp.errors import UsageError

__all__ = ["CORPUS_FAMILIES", "check_corpus_exclude", "corpus_prior", "describe",
           "family_summary"]

#: the families the shipped prior was learnt from, in order
CORPUS_FAMILIES: tuple[str, ...] = tuple(FAMILIES)
#: the fewest families a prior is learnt from (two give a mean and a spread)
MIN_FAMILIES = 2


def family_summary(u: np.ndarray, v: np.ndarray) -> dict:
    """One family's entry of :mod:`scalecmp.engine.corpus_prior_data` from its series'
    summaries ``u`` (k, 2) and their variances ``v`` (k, 2) (rows with a non-finite value
    left out): ``n_series``, ``mean``, ``var_mean`` and ``t2``."""
    u, v = np.asarray(u, float), np.asarray(v, float)
    ok = np.isfinite(u).all(axis=1) & np.isfinite(v).all(axis=1)
    if ok.sum() < 2:
        raise ValueError("a family's summary needs >= 2 series with finite summaries")
    mu, var_mu, t2 = random_effects(u[ok], np.maximum(v[ok], 1e-12))
    return {"n_series": int(ok.sum()), "mean": [float(a) for a in mu],
            "var_mean": [float(a) for a in var_mu], "t2": [float(a) for a in t2]}


def check_corpus_exclude(exclude: object) -> None:
    """``corpus_exclude``: a sequence of names of :data:`CORPUS_FAMILIES` that leaves at
    least :data:`MIN_FAMILIES` of them; else :class:`UsageError`."""
    if isinstance(exclude, str) or not isinstance(exclude, Sequence):
        raise UsageError(f"corpus_exclude must be a list of family names (known: "
                         f"{', '.join(CORPUS_FAMILIES)}), got {exclude!r}")
    unknown = [f for f in exclude if f not in CORPUS_FAMILIES]
    if unknown:
        raise UsageError(f"corpus_exclude: unknown family {unknown[0]!r} (known: "
                         f"{', '.join(CORPUS_FAMILIES)})")
    if exclude and len(set(CORPUS_FAMILIES) - set(exclude)) < MIN_FAMILIES:
        raise UsageError(f"corpus_exclude leaves fewer than {MIN_FAMILIES} families of the "
                         f"corpus to learn the prior from")


def corpus_prior(exclude: Sequence[str] = ()) -> tuple[tuple[float, float],
                                                       tuple[float, float]]:
    """``(mean, sd)`` of ``(u1, u2)`` for a new series from a new family, learnt from the
    corpus's families but those in ``exclude`` (see the module docstring)."""
    check_corpus_exclude(exclude)
    use = [FAMILIES[f] for f in CORPUS_FAMILIES if f not in exclude]
    if len(use) < MIN_FAMILIES:
        raise UsageError(f"the corpus prior needs >= {MIN_FAMILIES} families; this package "
                         f"ships {len(CORPUS_FAMILIES)}")
    m = np.array([f["mean"] for f in use])
    w = np.array([f["var_mean"] for f in use]).mean(axis=0)
    t2_within = np.median(np.array([f["t2"] for f in use]), axis=0)
    t2_between = np.maximum(0.0, m.var(axis=0, ddof=1) - w)
    mu = m.mean(axis=0)
    sd = np.sqrt(t2_between + t2_within + (t2_between + w) / len(use))
    return (float(mu[0]), float(mu[1])), (float(sd[0]), float(sd[1]))


def describe() -> str:
    """Where the shipped prior comes from, in one line."""
    return PROVENANCE
