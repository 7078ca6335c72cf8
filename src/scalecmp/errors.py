"""Exceptions that the CLI turns into one-line messages and exit code 2, and the warning
category of recoverable problems (:class:`ScalecmpWarning`)."""

from __future__ import annotations


class ScalecmpWarning(UserWarning):
    """A recoverable problem with the data or the fit (rows dropped, degenerate fit, ...)."""


class ScalecmpError(Exception):
    """Base class of every error scalecmp reports to the user (exit code 2 in the CLI)."""


class DataError(ScalecmpError, ValueError):
    """The measurements cannot be used as asked (missing file or column, bad values, too few
    points)."""


class UsageError(ScalecmpError, ValueError):
    """An option or argument is invalid (unknown law, bad filter expression, bad spec)."""



class NotFittedError(UsageError, AttributeError):
    """An estimator used before ``fit`` (as scikit-learn's ``NotFittedError``, a
    ``ValueError`` and an ``AttributeError``)."""


class OutputError(ScalecmpError):
    """An output cannot be written (disk full, file too large, read-only or vanished
    folder, a file that appeared at the path meanwhile, ...); nothing of the command's
    outputs was written."""
