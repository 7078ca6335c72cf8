"""scalecmp: robust comparison of training procedures and datasets by scaling laws.

The analysis core (this package minus :mod:`scalecmp.experiments`) never imports torch.
The names below load on first use (PEP 562), so that ``import scalecmp.cli`` starts in a
few milliseconds and the command line can handle an interrupt from its first moment.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "fit": "scalecmp.engine",
    "FitResult": "scalecmp.engine",
    "GroupFit": "scalecmp.engine",
    "ScalingLawRegressor": "scalecmp.engine",
    "FitOptions": "scalecmp.engine",
    "load_measurements": "scalecmp.experiments.shards",
    "LAWS": "scalecmp.engine.laws",
    "Law": "scalecmp.engine.laws",
    "get_law": "scalecmp.engine.laws",
    "ScalecmpError": "scalecmp.errors",
    "DataError": "scalecmp.errors",
    "UsageError": "scalecmp.errors",
    "OutputError": "scalecmp.errors",
    "NotFittedError": "scalecmp.errors",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'scalecmp' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names (not this module's own imports)."""
    return sorted(__all__)
