"""scalecmp: robust comparison of training procedures and datasets by scaling laws.

The analysis core (this package minus :mod:`scalecmp.experiments`) never imports torch.
"""

from scalecmp.engine import FitResult, GroupFit, ScalingLawRegressor, fit
from scalecmp.errors import DataError, ScalecmpError, UsageError
from scalecmp.io import load_measurements
from scalecmp.laws import LAWS, Law, get_law

__version__ = "0.1.0"

__all__ = [
    "fit",
    "FitResult",
    "GroupFit",
    "ScalingLawRegressor",
    "load_measurements",
    "LAWS",
    "Law",
    "get_law",
    "ScalecmpError",
    "DataError",
    "UsageError",
    "__version__",
]
