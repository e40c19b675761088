"""Exception hierarchy of ljfit.

Every error a user can cause by giving bad input or a bad request is one of these, and
its message names the argument or file (and the line or frame) and what is wrong, so the
command line can print it as one line without a traceback.
"""

from __future__ import annotations

__all__ = ["LJFitError", "DataError", "FitError"]


class LJFitError(Exception):
    """Base class of every error ljfit raises on purpose."""


class DataError(LJFitError, ValueError):
    """Malformed or inconsistent input data (files, energies, groups, units).

    Parameters
    ----------
    message : str
        What is wrong.
    source : str, optional
        File (and ``:line`` or ``[frame]``) the problem was found in; prefixed to the message.
    """

    def __init__(self, message: str, source: str | None = None):
        self.source = source
        self.detail = message
        super().__init__(f"{source}: {message}" if source else message)


class FitError(LJFitError, ValueError):
    """A request to build a model or run a fitter that cannot be honoured
    (unknown method or scope, inconsistent bounds, a parameter name that does not exist)."""
