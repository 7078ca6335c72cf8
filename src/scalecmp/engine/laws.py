"""The registry of scaling laws.

Every law maps compute ``x`` (> 0; two columns ``(N, D)`` for ``chinchilla``) to an *error*
(lower is better, > 0). Parameters are reported in the original units of ``x``.

Fitting happens in an internal parameterisation that is well conditioned: ``x`` is divided by
a scale ``s`` (the geometric mean of the fitted ``x``), multiplicative constants are fitted as
logarithms and break points as log-positions. :meth:`Law.to_internal` and
:meth:`Law.from_internal` convert between the two; :meth:`Law.evaluate` works on original
parameters, :meth:`Law.f` on internal ones. All evaluations broadcast over a leading batch of
parameter vectors, which is what lets the optimiser run many starts (and many bootstrap
replicates) as one array computation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from scalecmp.errors import UsageError

__all__ = ["Law", "LAWS", "get_law", "law_table"]

_LOG_CAP = 700.0  # exp overflow guard


def _exp(z: np.ndarray) -> np.ndarray:
    # np.minimum(np.maximum(.)) is np.clip without its Python-level dispatch (a hot path)
    return np.exp(np.minimum(np.maximum(z, -_LOG_CAP), _LOG_CAP))


def _amplitude_floor(
    g: np.ndarray, y: np.ndarray, floor_max: float
) -> tuple[np.ndarray, np.ndarray]:
    """Least squares of ``y ~ c * g + E`` with ``c > 0`` and ``0 <= E <= floor_max``, batched.

    ``g`` is (S, n), ``y`` is (n,). Returns ``(c, E)``, each (S,). This is the linear half of
    a variable-projection start: given the nonlinear parameters, the amplitude and the floor
    have a closed form.
    """
    n = y.shape[-1]
    gm = g.mean(axis=-1)
    ym = y.mean()
    var = ((g - gm[:, None]) ** 2).sum(axis=-1)
    cov = ((g - gm[:, None]) * (y - ym)).sum(axis=-1)
    c = cov / np.maximum(var, 1e-300)
    e = ym - c * gm
    e = np.clip(e, 0.0, floor_max)
    # re-solve c for the clipped floor (1-D least squares through the clipped intercept)
    c = ((y - e[:, None]) * g).sum(axis=-1) / np.maximum((g * g).sum(axis=-1), 1e-300)
    c = np.maximum(c, 1e-12 * max(float(np.abs(y).max()), 1e-12))
    del n
    return c, e


@dataclass(frozen=True)
class Law:
    """A scaling law: a formula, named parameters, bounds and multi-start initialisation."""

    name: ClassVar[str]
    formula: ClassVar[str]
    param_names: ClassVar[tuple[str, ...]]
    #: the parameters in the error's own unit (amplitudes, floors): multiplied by ``k`` when
    #: the error is (``y -> k y``); the others (exponents, break positions) are unitless
    #: or in compute units
    y_params: ClassVar[tuple[str, ...]] = ()
    n_inputs: ClassVar[int] = 1
    description: ClassVar[str] = ""

    # -- original-units API -------------------------------------------------------------
    def evaluate(self, x: np.ndarray, params: np.ndarray) -> np.ndarray:
        """Error predicted at ``x`` by parameters ``params`` in original units.

        ``x``: (n,) (or (n, 2) for two-input laws); ``params``: (p,) or (..., p).
        Returns (n,) or (..., n).
        """
        params = np.asarray(params, dtype=float)
        scale = self.default_scale(x)
        theta = self.to_internal(params, scale)
        return self.f(self.normalise(x, scale), theta)

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    def scale_params(self, params: np.ndarray, k: float) -> np.ndarray:
        """Parameters (..., p) of the same law for the error in units ``k`` times larger:
        ``err(x; scale_params(p, k)) = k err(x; p)``."""
        params = np.array(params, dtype=float)
        if k != 1.0:
            for name in self.y_params:
                params[..., self.param_names.index(name)] *= k
        return params

    def default_scale(self, x: np.ndarray) -> np.ndarray:
        """Scale(s) used to normalise ``x``: geometric mean of each input column."""
        x = np.asarray(x, dtype=float)
        if self.n_inputs == 1:
            return np.asarray(np.exp(np.mean(np.log(x.reshape(-1)))))
        return np.exp(np.mean(np.log(x.reshape(-1, self.n_inputs)), axis=0))

    def normalise(self, x: np.ndarray, scale: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if self.n_inputs == 1:
            return x.reshape(-1) / scale
        return x.reshape(-1, self.n_inputs) / scale

    # -- internal API (implemented per law) ---------------------------------------------
    def f(self, xn: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """Error at normalised ``xn`` for internal parameters ``theta`` (..., p) -> (..., n)."""
        raise NotImplementedError

    def f_jac(self, xn: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predictions (S, n) and their derivatives d f / d theta (S, n, p).

        Laws override this with the analytic derivative; the default is central differences.
        """
        theta = np.asarray(theta, dtype=float)
        p = theta.shape[-1]
        h = 1e-6 * np.maximum(1.0, np.abs(theta))
        cols = []
        for j in range(p):
            step = np.zeros_like(theta)
            step[..., j] = h[..., j]
            cols.append(
                (self.f(xn, theta + step) - self.f(xn, theta - step)) / (2 * h[..., j : j + 1])
            )
        return self.f(xn, theta), np.stack(cols, axis=-1)

    def to_internal(self, params: np.ndarray, scale: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def from_internal(self, theta: np.ndarray, scale: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def bounds(self, xn: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Box bounds (lower, upper) of the internal parameters for data ``(xn, y)``."""
        raise NotImplementedError

    def starts(self, xn: np.ndarray, y: np.ndarray) -> np.ndarray:
        """A grid of internal start vectors (S, p) for data ``(xn, y)``."""
        raise NotImplementedError

    def exponent(self, params: np.ndarray) -> np.ndarray:
        """Log-log slope of ``err - E`` at large x (the scaling exponent; negative = improving).

        ``params`` (..., p) in original units; NaN where the law has no single exponent.
        """
        params = np.asarray(params, dtype=float)
        if "alpha" in self.param_names and self.n_inputs == 1:
            return params[..., self.param_names.index("alpha")]
        return np.full(params.shape[:-1], np.nan)

    def describe(self) -> dict:
        return {
            "name": self.name,
            "formula": self.formula,
            "params": list(self.param_names),
            "inputs": self.n_inputs,
            "description": self.description,
        }

    def format(self, params: dict[str, float]) -> str:
        """The formula with fitted numbers, for legends and reports."""
        raise NotImplementedError


def _floor_max(y: np.ndarray) -> float:
    return float(np.min(y)) * 0.999


def _log_amp_bounds() -> tuple[float, float]:
    return -40.0, 40.0


ALPHA_MIN = -3.0
SLOPE_MAX = 2.0  # steepest log-log slope a broken power law may take
BREAK_MARGIN = 0.25  # share of the fitted log-compute range kept free of breaks at the top


class PowerLaw(Law):
    name = "power"
    formula = "y = A * x^alpha"
    param_names = ("A", "alpha")
    y_params = ("A",)
    description = "Pure power law; no floor. Straight line on log-log axes."

    def f(self, xn, theta):
        theta = np.asarray(theta, dtype=float)
        a, alpha = theta[..., 0:1], theta[..., 1:2]
        return _exp(a + alpha * np.log(xn))

    def f_jac(self, xn, theta):
        lx = np.log(xn)
        P = self.f(xn, theta)
        return P, np.stack([P, P * lx], axis=-1)

    def to_internal(self, params, scale):
        p = np.asarray(params, dtype=float)
        a = np.log(np.maximum(p[..., 0], 1e-300)) + p[..., 1] * np.log(scale)
        return np.stack([a, p[..., 1]], axis=-1)

    def from_internal(self, theta, scale):
        t = np.asarray(theta, dtype=float)
        return np.stack([_exp(t[..., 0] - t[..., 1] * np.log(scale)), t[..., 1]], axis=-1)

    def bounds(self, xn, y):
        lo_a, hi_a = _log_amp_bounds()
        return np.array([lo_a, ALPHA_MIN]), np.array([hi_a, 0.0])

    def starts(self, xn, y):
        lx, ly = np.log(xn), np.log(y)
        slope = np.polyfit(lx, ly, 1)[0] if len(xn) > 1 else -0.1
        alphas = np.unique(np.clip(np.r_[np.linspace(-1.0, -0.01, 24), slope], ALPHA_MIN, 0.0))
        a = np.array([np.mean(ly - al * lx) for al in alphas])
        return np.stack([a, alphas], axis=-1)

    def format(self, p):
        return f"{p['A']:.3g} x^{p['alpha']:.3f}"


class PowerFloorLaw(Law):
    name = "power_floor"
    formula = "y = A * x^alpha + E"
    param_names = ("A", "alpha", "E")
    y_params = ("A", "E")
    description = "Power law with an irreducible error E (the error floor)."

    def f(self, xn, theta):
        theta = np.asarray(theta, dtype=float)
        a, alpha, e = theta[..., 0:1], theta[..., 1:2], theta[..., 2:3]
        return _exp(a + alpha * np.log(xn)) + e

    def f_jac(self, xn, theta):
        theta = np.asarray(theta, dtype=float)
        lx = np.log(xn)
        P = _exp(theta[..., 0:1] + theta[..., 1:2] * lx)
        return P + theta[..., 2:3], np.stack([P, P * lx, np.ones_like(P)], axis=-1)

    def to_internal(self, params, scale):
        p = np.asarray(params, dtype=float)
        a = np.log(np.maximum(p[..., 0], 1e-300)) + p[..., 1] * np.log(scale)
        return np.stack([a, p[..., 1], p[..., 2]], axis=-1)

    def from_internal(self, theta, scale):
        t = np.asarray(theta, dtype=float)
        A = _exp(t[..., 0] - t[..., 1] * np.log(scale))
        return np.stack([A, t[..., 1], t[..., 2]], axis=-1)

    def bounds(self, xn, y):
        lo_a, hi_a = _log_amp_bounds()
        return np.array([lo_a, ALPHA_MIN, 0.0]), np.array([hi_a, 0.0, _floor_max(y)])

    def starts(self, xn, y):
        alphas = np.concatenate([-np.geomspace(0.005, 2.0, 40)])
        g = _exp(alphas[:, None] * np.log(xn)[None, :])
        c, e = _amplitude_floor(g, y, _floor_max(y))
        return np.stack([np.log(c), alphas, e], axis=-1)

    def format(self, p):
        return f"{p['A']:.3g} x^{p['alpha']:.3f} + {p['E']:.3g}"


class SaturatingLaw(Law):
    name = "saturating"
    formula = "y = A * (x + B)^alpha + E"
    param_names = ("A", "B", "alpha", "E")
    y_params = ("A", "E")
    description = (
        "The study's law: a power law in x + B (B bends the curve at small compute, where "
        "error saturates near chance) with a floor E."
    )

    def f(self, xn, theta):
        theta = np.asarray(theta, dtype=float)
        a, b, alpha, e = (theta[..., i : i + 1] for i in range(4))
        return _exp(a + alpha * np.log(xn + _exp(b))) + e

    def f_jac(self, xn, theta):
        theta = np.asarray(theta, dtype=float)
        a, b, alpha, e = (theta[..., i : i + 1] for i in range(4))
        eb = _exp(b)
        xb = xn + eb
        lxb = np.log(xb)
        P = _exp(a + alpha * lxb)
        jac = np.stack([P, P * alpha * eb / xb, P * lxb, np.ones_like(P)], axis=-1)
        return P + e, jac

    def to_internal(self, params, scale):
        p = np.asarray(params, dtype=float)
        ls = np.log(scale)
        a = np.log(np.maximum(p[..., 0], 1e-300)) + p[..., 2] * ls
        b = np.log(np.maximum(p[..., 1], 1e-300)) - ls
        return np.stack([a, b, p[..., 2], p[..., 3]], axis=-1)

    def from_internal(self, theta, scale):
        t = np.asarray(theta, dtype=float)
        ls = np.log(scale)
        A = _exp(t[..., 0] - t[..., 2] * ls)
        B = _exp(t[..., 1] + ls)
        return np.stack([A, B, t[..., 2], t[..., 3]], axis=-1)

    def bounds(self, xn, y):
        lo_a, hi_a = _log_amp_bounds()
        lo_b = float(np.log(np.min(xn))) - 12.0  # B far below the smallest x: no bend
        hi_b = float(np.log(np.max(xn))) + 5.0
        return (
            np.array([lo_a, lo_b, ALPHA_MIN, 0.0]),
            np.array([hi_a, hi_b, 0.0, _floor_max(y)]),
        )

    def starts(self, xn, y):
        lmin, lmax = float(np.log(np.min(xn))), float(np.log(np.max(xn)))
        bs = np.r_[lmin - 10.0, np.linspace(lmin - 2.0, lmax, 11)]
        alphas = -np.geomspace(0.01, 2.0, 30)
        B, AL = np.meshgrid(bs, alphas, indexing="ij")
        b, al = B.reshape(-1), AL.reshape(-1)
        g = _exp(al[:, None] * np.log(xn[None, :] + _exp(b)[:, None]))
        c, e = _amplitude_floor(g, y, _floor_max(y))
        return np.stack([np.log(c), b, al, e], axis=-1)

    def format(self, p):
        return f"{p['A']:.3g} (x + {p['B']:.3g})^{p['alpha']:.3f} + {p['E']:.3g}"


class BrokenPowerLaw(Law):
    name = "broken_power"
    formula = "y = E + A * x^(-c0) * (1 + (x / d)^(1/f))^(-c1 * f)"
    param_names = ("A", "c0", "c1", "d", "f", "E")
    y_params = ("A", "E")
    description = (
        "Smoothly broken power law with one break (Caballero et al. 2022): log-log slope "
        "-c0 below the break at x = d, -(c0 + c1) above it, f the break's sharpness. "
        "Both slopes are kept <= 0: the error of a compute frontier never rises."
    )

    # internal: (log A', c0, s1 = c0 + c1, log d', log f, E); s1 is the slope above the break

    def f(self, xn, theta):
        theta = np.asarray(theta, dtype=float)
        a, c0, s1, ld, lf, e = (theta[..., i : i + 1] for i in range(6))
        lx = np.log(xn)
        fs = _exp(lf)
        z = np.logaddexp(0.0, (lx - ld) / fs)
        return _exp(a - c0 * lx - (s1 - c0) * fs * z) + e

    def f_jac(self, xn, theta):
        theta = np.asarray(theta, dtype=float)
        a, c0, s1, ld, lf, e = (theta[..., i : i + 1] for i in range(6))
        c1 = s1 - c0
        lx = np.log(xn)
        fs = _exp(lf)
        u = (lx - ld) / fs
        z = np.logaddexp(0.0, u)
        sig = 0.5 * (1.0 + np.tanh(0.5 * u))
        P = _exp(a - c0 * lx - c1 * fs * z)
        jac = np.stack(
            [
                P,
                P * (fs * z - lx),
                -P * fs * z,
                P * c1 * sig,
                -P * c1 * fs * (z - u * sig),
                np.ones_like(P),
            ],
            axis=-1,
        )
        return P + e, jac

    def to_internal(self, params, scale):
        p = np.asarray(params, dtype=float)
        ls = np.log(scale)
        a = np.log(np.maximum(p[..., 0], 1e-300)) - p[..., 1] * ls
        ld = np.log(np.maximum(p[..., 3], 1e-300)) - ls
        lf = np.log(np.maximum(p[..., 4], 1e-300))
        return np.stack([a, p[..., 1], p[..., 1] + p[..., 2], ld, lf, p[..., 5]], axis=-1)

    def from_internal(self, theta, scale):
        t = np.asarray(theta, dtype=float)
        ls = np.log(scale)
        A = _exp(t[..., 0] + t[..., 1] * ls)
        d = _exp(t[..., 3] + ls)
        c1 = t[..., 2] - t[..., 1]
        return np.stack([A, t[..., 1], c1, d, _exp(t[..., 4]), t[..., 5]], axis=-1)

    def bounds(self, xn, y):
        lo_a, hi_a = _log_amp_bounds()
        lmin, lmax = float(np.log(np.min(xn))), float(np.log(np.max(xn)))
        # the break must be supported by data on both sides: it may not sit in the top
        # quarter of the fitted range, where a few points would set the slope extrapolated
        top = lmax - BREAK_MARGIN * (lmax - lmin)
        return (
            np.array([lo_a, 0.0, 0.0, lmin - 1.0, np.log(0.05), 0.0]),
            np.array([hi_a, SLOPE_MAX, SLOPE_MAX, top, np.log(20.0), _floor_max(y)]),
        )

    def starts(self, xn, y):
        lx = np.log(xn)
        lmin, lmax = float(lx.min()), float(lx.max())
        c0s = np.array([0.0, 0.05, 0.2, 0.5])
        s1s = np.array([0.05, 0.15, 0.3, 0.6, 1.0])
        lds = np.linspace(lmin, lmax - BREAK_MARGIN * (lmax - lmin), 5)
        lfs = np.log(np.array([0.3, 1.0, 3.0]))
        grid = np.array(np.meshgrid(c0s, s1s, lds, lfs, indexing="ij")).reshape(4, -1).T
        c0, s1, ld, lf = grid.T
        z = np.logaddexp(0.0, (lx[None, :] - ld[:, None]) / np.exp(lf)[:, None])
        g = _exp(-c0[:, None] * lx[None, :] - (s1 - c0)[:, None] * np.exp(lf)[:, None] * z)
        c, e = _amplitude_floor(g, y, _floor_max(y))
        return np.stack([np.log(c), c0, s1, ld, lf, e], axis=-1)

    def exponent(self, params):
        params = np.asarray(params, dtype=float)
        return -(params[..., 1] + params[..., 2])

    def format(self, p):
        return (
            f"{p['E']:.3g} + {p['A']:.3g} x^{-p['c0']:.3f} "
            f"(1 + (x/{p['d']:.3g})^(1/{p['f']:.3g}))^({-p['c1'] * p['f']:.3f})"
        )


class ChinchillaLaw(Law):
    name = "chinchilla"
    formula = "y = E + A / N^alpha + B / D^beta"
    param_names = ("A", "alpha", "B", "beta", "E")
    y_params = ("A", "B", "E")
    n_inputs = 2
    description = (
        "Hoffmann et al. 2022: error as a function of model size N (--x) and samples seen "
        "D (--x2), each term a power law, plus a floor E."
    )

    def f(self, xn, theta):
        theta = np.asarray(theta, dtype=float)
        a, alpha, b, beta, e = (theta[..., i : i + 1] for i in range(5))
        ln, ld = np.log(xn[:, 0]), np.log(xn[:, 1])
        return _exp(a - alpha * ln) + _exp(b - beta * ld) + e

    def f_jac(self, xn, theta):
        theta = np.asarray(theta, dtype=float)
        a, alpha, b, beta, e = (theta[..., i : i + 1] for i in range(5))
        ln, ld = np.log(xn[:, 0]), np.log(xn[:, 1])
        P1 = _exp(a - alpha * ln)
        P2 = _exp(b - beta * ld)
        jac = np.stack([P1, -P1 * ln, P2, -P2 * ld, np.ones_like(P1)], axis=-1)
        return P1 + P2 + e, jac

    def to_internal(self, params, scale):
        p = np.asarray(params, dtype=float)
        lsn, lsd = np.log(scale[0]), np.log(scale[1])
        a = np.log(np.maximum(p[..., 0], 1e-300)) - p[..., 1] * lsn
        b = np.log(np.maximum(p[..., 2], 1e-300)) - p[..., 3] * lsd
        return np.stack([a, p[..., 1], b, p[..., 3], p[..., 4]], axis=-1)

    def from_internal(self, theta, scale):
        t = np.asarray(theta, dtype=float)
        lsn, lsd = np.log(scale[0]), np.log(scale[1])
        A = _exp(t[..., 0] + t[..., 1] * lsn)
        B = _exp(t[..., 2] + t[..., 3] * lsd)
        return np.stack([A, t[..., 1], B, t[..., 3], t[..., 4]], axis=-1)

    def bounds(self, xn, y):
        lo_a, hi_a = _log_amp_bounds()
        return (
            np.array([lo_a, 0.0, lo_a, 0.0, 0.0]),
            np.array([hi_a, 3.0, hi_a, 3.0, _floor_max(y)]),
        )

    def starts(self, xn, y):
        alphas = np.geomspace(0.02, 2.0, 12)
        betas = np.geomspace(0.02, 2.0, 12)
        al, be = (g.reshape(-1) for g in np.meshgrid(alphas, betas, indexing="ij"))
        ln, ld = np.log(xn[:, 0]), np.log(xn[:, 1])
        g1 = _exp(-al[:, None] * ln[None, :])
        g2 = _exp(-be[:, None] * ld[None, :])
        # least squares of y ~ c1 g1 + c2 g2 + E, batched 3x3 normal equations
        ones = np.ones_like(g1)
        X = np.stack([g1, g2, ones], axis=-1)  # (S, n, 3)
        XtX = np.einsum("sni,snj->sij", X, X) + 1e-9 * np.eye(3)
        Xty = np.einsum("sni,n->si", X, y)
        coef = np.linalg.solve(XtX, Xty[..., None])[..., 0]
        c1 = np.maximum(coef[:, 0], 1e-8)
        c2 = np.maximum(coef[:, 1], 1e-8)
        e = np.clip(coef[:, 2], 0.0, _floor_max(y))
        return np.stack([np.log(c1), al, np.log(c2), be, e], axis=-1)

    def format(self, p):
        return (
            f"{p['E']:.3g} + {p['A']:.3g} / N^{p['alpha']:.3f} + {p['B']:.3g} / D^{p['beta']:.3f}"
        )


LAWS: dict[str, Law] = {
    law.name: law
    for law in (PowerLaw(), PowerFloorLaw(), SaturatingLaw(), BrokenPowerLaw(), ChinchillaLaw())
}


def get_law(name: str | Law) -> Law:
    """The law registered under ``name`` (a :class:`Law` instance passes through)."""
    if isinstance(name, Law):
        return name
    try:
        return LAWS[name]
    except KeyError:
        raise UsageError(f"unknown law '{name}' (known: {', '.join(LAWS)})") from None


def law_table() -> list[dict]:
    """One row per registered law: name, formula, parameters, inputs, description."""
    return [law.describe() for law in LAWS.values()]
