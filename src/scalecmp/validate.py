"""Validation of the options every analysis function shares, in one place.

``fit``, ``compare``, ``optimal_allocation``, the report and the CLI all call these, so that
an option means the same thing, is checked the same way and fails with the same message
everywhere. Messages name the library's own parameters (``level``, ``predict_at``,
``n_bootstrap``, ``random_state``); the CLI translates them into its flags in one place
(:data:`scalecmp.cli.flags.PARAM_FLAGS`): a parameter name at the start of a message, or one
quoted in backticks anywhere in it (``pass `force` to replace it``).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from scalecmp.errors import UsageError

__all__ = [
    "MIN_REPLICATES",
    "check_flag",
    "check_level",
    "check_positive",
    "check_positive_values",
    "check_seed",
    "check_n_bootstrap",
    "check_bootstrap_memory",
    "check_series_by",
    "available_memory",
    "check_factor",
    "parse_numbers",
    "parse_pairs",
    "split_names",
    "no_intervals_warning",
]

MIN_REPLICATES = 20  # fewer replicates give no usable percentile interval


def _num(value: Any, name: str) -> float:
    if isinstance(value, str | bytes):  # "0.9" is text: a number is given as a number
        raise UsageError(f"{name} must be a number, got the text {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{name} must be a number, got {value!r}") from None
    return out


def check_flag(value: Any, name: str) -> bool:
    """A yes/no argument (``maximize``): ``True`` or ``False`` (numpy's booleans too), never
    a string or a number read by its truth (``"no"`` is true in Python)."""
    import numpy as np

    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise UsageError(f"{name} must be True or False, got {value!r}")


def check_level(level: Any, name: str = "level") -> float:
    """``level`` as a float in the open interval (0, 1)."""
    v = _num(level, name)
    if not 0.0 < v < 1.0:
        raise UsageError(f"{name} must lie in (0, 1), got {v:g}")
    return v


def check_share(value: Any, name: str) -> float:
    """A share in the closed interval [0, 1]."""
    v = _num(value, name)
    if not 0.0 <= v <= 1.0:
        raise UsageError(f"{name} must lie in [0, 1], got {v:g}")
    return v


def check_positive(value: Any, name: str, what: str = "") -> float:
    """One finite number > 0."""
    v = _num(value, name)
    if not (math.isfinite(v) and v > 0):
        raise UsageError(f"{name} must be > 0 and finite{what}, got {v:g}")
    return v


def check_positive_values(
    values: Iterable[Any] | None, name: str, what: str = " (compute)"
) -> list[float]:
    """Finite numbers > 0 (compute values to predict or compare at); ``None`` -> ``[]``;
    one number is a list of one."""
    import numpy as np

    if isinstance(values, str | bytes):  # iterating it would read '1', 'e', '1', '2'
        raise UsageError(f"{name} must be numbers, got the text {values!r}")
    if isinstance(values, int | float | np.number) and not isinstance(values, bool):
        values = [values]
    out = []
    for raw in values or []:
        v = _num(raw, name)
        if not (math.isfinite(v) and v > 0):
            raise UsageError(f"{name} values must be > 0 and finite{what}, got {v:g}")
        out.append(v)
    return out


def check_factor(value: Any, name: str, minimum: float = 1.0) -> float:
    """A finite factor >= ``minimum`` (``extrapolate``)."""
    v = _num(value, name)
    if not (math.isfinite(v) and v >= minimum):
        raise UsageError(f"{name} must be a finite number >= {minimum:g}, got {v:g}")
    return v


def _integer(value: Any, name: str, what: str) -> int:
    import numpy as np

    if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
        return int(value)
    raise UsageError(f"{name} must be {what}, got {value!r}")


def check_integer(value: Any, name: str, minimum: int, what: str = "") -> int:
    """An integer (numpy's too, not a bool or a float) >= ``minimum``."""
    v = _integer(value, name, f"an integer >= {minimum}{what}")
    if v < minimum:
        raise UsageError(f"{name} must be an integer >= {minimum}{what}, got {v}")
    return v


def check_seed(seed: Any, name: str = "random_state") -> int | None:
    """A seed: ``None`` or an integer >= 0 (numpy's generators accept nothing else)."""
    if seed is None:
        return None
    seed = _integer(seed, name, "an integer >= 0")
    if seed < 0:
        raise UsageError(f"{name} must be an integer >= 0, got {seed}")
    return seed


def check_n_bootstrap(n: Any, *, minimum: int = 0, name: str = "n_bootstrap",
                      purpose: str = "") -> int:
    """A replicate count: 0 (no intervals, where ``minimum`` is 0) or >= ``MIN_REPLICATES``.

    ``minimum`` > 0 for the analyses that are made of intervals (compare, report)."""
    n = _integer(n, name, f"an integer (0: no intervals, or >= {MIN_REPLICATES})")
    if n < 0:
        raise UsageError(f"{name} must be 0 (no intervals) or >= {MIN_REPLICATES}, got {n}")
    if minimum > 0 and n < minimum:
        why = f" ({purpose})" if purpose else ""
        raise UsageError(f"{name} must be >= {minimum}{why}, got {n}; 1000 recommended")
    if 0 < n < MIN_REPLICATES:
        raise UsageError(
            f"{name} must be 0 (no intervals) or >= {MIN_REPLICATES}, got {n}; "
            "1000 recommended"
        )
    return n


def check_series_by(series: Sequence[str], by: Sequence[str]) -> None:
    """A column either splits the data into series (report sections, held-out series) or
    groups the fits inside them, not both."""
    both = [c for c in series if c in set(by)]
    if both:
        raise UsageError(f"series: column '{both[0]}' is also in `by`: a column either "
                         "splits the data into series (sections) or groups the fits inside "
                         "them, not both")


def usable_cpus() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def check_workers(value: Any) -> int | str:
    """``workers``: an integer >= 1 or ``"auto"`` (the usable CPU cores), the same syntax
    wherever processes are asked for (a fit, a grid spec's ``train.workers``); returns the
    value as given, ``"2"`` read as 2."""
    if value == "auto":
        return "auto"
    try:
        w = int(value)
        ok = w >= 1 and not isinstance(value, bool) and float(value) == w
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise UsageError(f"workers must be an integer >= 1 or 'auto', got {value!r}")
    return w


def resolve_workers(value: int | str) -> int:
    """The number of processes ``workers`` (checked) asks for: ``auto`` = usable cores."""
    return usable_cpus() if value == "auto" else int(value)


def available_memory() -> int:
    """Bytes of memory available to a new allocation (``MemAvailable``; else physical)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


# Measured peaks (fit and compare on 30 and 300 frontier points, 2,000-8,000 replicates):
# a fit keeps about 25 floats per point and replicate while its replicates are solved
# together, plus ~8 KiB; a comparison adds its difference grid and the compute-multiplier
# inversion grid, ~128 KiB per replicate.
_BYTES_PER_POINT = 8 * 25
_BYTES_FIT = 8 * 1024
_BYTES_COMPARE = 128 * 1024


def bootstrap_bytes(n_bootstrap: int, n_points: int, *, compare: bool = False) -> int:
    """Estimated peak memory of ``n_bootstrap`` replicates of a fit to ``n_points`` points
    (and of a comparison of two such fits)."""
    per = _BYTES_PER_POINT * max(int(n_points), 1) + _BYTES_FIT
    if compare:
        per += _BYTES_COMPARE
    return int(n_bootstrap) * per


def _gib(b: float) -> str:
    return f"{b / 2**30:.1f} GiB" if b >= 2**30 else f"{b / 2**20:.0f} MiB"


def check_bootstrap_memory(n_bootstrap: int, n_points: int, *, compare: bool = False,
                           name: str = "n_bootstrap", available: int | None = None) -> None:
    """Refuse a replicate count whose estimated memory exceeds what is available, before
    anything is fitted (instead of a MemoryError minutes later)."""
    if n_bootstrap <= 0:
        return
    need = bootstrap_bytes(n_bootstrap, n_points, compare=compare)
    have = available_memory() if available is None else int(available)
    if need > have:
        per = max(bootstrap_bytes(1, n_points, compare=compare), 1)
        most = max(int(have // per), 0)
        raise UsageError(
            f"{name} {n_bootstrap} would need about {_gib(need)} of memory for {n_points} "
            f"points, more than the {_gib(have)} available; at most about {most} fit "
            "(1000 is the default)"
        )


def no_intervals_warning(n_bootstrap: int, name: str = "n_bootstrap") -> None:
    """The one warning line of ``n_bootstrap = 0``: no intervals anywhere."""
    if n_bootstrap == 0:
        from scalecmp.errors import ScalecmpWarning

        warnings.warn(
            f"{name} is 0: no bootstrap, so no intervals (every interval is null)",
            ScalecmpWarning,
            stacklevel=2,
        )


def _list_parts(values: Sequence[Any] | str | None) -> Iterator[str]:
    """The items of a list option, repeated and/or comma-separated, stripped, blanks
    dropped, in order."""
    if values is None:
        return
    if isinstance(values, str):
        values = [values]
    for v in values:
        for part in str(v).split(","):
            part = part.strip()
            if part:
                yield part


def split_names(values: Sequence[str] | str | None) -> list[str]:
    """Column names from a list option: repeated and/or comma-separated
    (``by=["a", "b"]``, ``"a,b"``); blanks dropped, order kept, duplicates removed."""
    return list(dict.fromkeys(_list_parts(values)))


def parse_numbers(values: Sequence[Any] | None, name: str, what: str = " (compute)"
                  ) -> list[float]:
    """Numbers from a list option, repeated and/or comma-separated (``["1e11,1e12",
    "1e13"]``); each finite and > 0."""
    out: list[float] = []
    for part in _list_parts(values or []):
        if ":" in part:
            raise UsageError(
                f"{name}: '{part}' is an N:D pair; pairs are for two-input laws "
                "(chinchilla), this fit takes compute values"
            )
        try:
            num = float(part)
        except ValueError:
            raise UsageError(f"{name}: '{part}' is not a number") from None
        out += check_positive_values([num], name, what)
    return out


def parse_pairs(values: Sequence[Any] | None, name: str) -> tuple[list[float], list[float]]:
    """``N:D`` pairs (two-input laws) from a list option, repeated and/or comma-separated."""
    ns: list[float] = []
    ds: list[float] = []
    for part in _list_parts(values or []):
        if part.count(":") != 1:
            raise UsageError(f"{name}: a two-input law predicts at N:D pairs, got '{part}'")
        a, b = part.split(":")
        for s in (a, b):
            try:
                float(s)
            except ValueError:
                raise UsageError(f"{name}: '{s.strip()}' in '{part}' is not a number"
                                 ) from None
        ns += check_positive_values([float(a)], name, "")
        ds += check_positive_values([float(b)], name, "")
    return ns, ds
