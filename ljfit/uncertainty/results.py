"""What the uncertainty functions return: BootstrapResult, CVResult, Profile."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._common import _ratio

#: Held-out RMSE / training RMSE above which :func:`cross_validate` warns of over-fitting.
OVERFIT_RATIO = 2.0

# ======================================================================================
# result types
# ======================================================================================


def _num(v) -> float | None:
    """A JSON-ready float (``None`` for nan/inf)."""
    v = float(v)
    return v if np.isfinite(v) else None


@dataclass
class BootstrapResult:
    """Bootstrap distribution of the free parameters.

    Attributes
    ----------
    method : str
        Fitting method of every refit.
    n : int
        Number of resamples drawn (successful + failed).
    seed : int
        Seed of the resampling generator.
    names : list of str
        Free parameter names, the columns of ``samples``.
    samples : ndarray, shape (n_ok, n_free)
        Refitted parameters of the successful resamples (eV for ε and offset, Å for σ),
        ``n_ok = n - n_failed``.
    mean, std : dict
        By name: mean and standard deviation (ddof = 1) of the samples; ``nan`` when fewer
        than 2 refits succeeded.
    ci_low, ci_high : dict
        By name: the ``(1 - level)/2`` and ``(1 + level)/2`` percentiles of the samples.
    level : float
        Confidence level of the percentile interval (0.95).
    n_failed : int
        Refits that failed or gave an undefined parameter (excluded from ``samples``).
    wall_time : float
        s, resampling and refits (not the full fit).
    reason : str or None
        Why the intervals are undefined (``nan``, no refits made): the full fit is
        underdetermined or has undefined parameters. None when they are defined.
    """

    method: str
    n: int
    seed: int
    names: list
    samples: np.ndarray
    mean: dict
    std: dict
    ci_low: dict
    ci_high: dict
    level: float = 0.95
    n_failed: int = 0
    wall_time: float = 0.0
    reason: str | None = None

    @property
    def n_ok(self) -> int:
        """Number of successful refits (rows of ``samples``)."""
        return int(len(self.samples))

    def to_dict(self) -> dict:
        """JSON-ready summary (no samples): ``{"method", "n", "seed", "level", "n_failed",
        "wall_time_s", "reason", "parameters": {name: {"mean", "std", "ci_low",
        "ci_high"}}}``; undefined numbers are ``None`` (with the ``reason`` when every
        interval is undefined)."""
        return {
            "reason": self.reason,
            "method": self.method,
            "n": int(self.n),
            "seed": int(self.seed),
            "level": float(self.level),
            "n_failed": int(self.n_failed),
            "wall_time_s": float(self.wall_time),
            "parameters": {
                nm: {
                    "mean": _num(self.mean[nm]),
                    "std": _num(self.std[nm]),
                    "ci_low": _num(self.ci_low[nm]),
                    "ci_high": _num(self.ci_high[nm]),
                }
                for nm in self.names
            },
        }


@dataclass
class CVResult:
    """Cross-validation of a fitting method.

    Attributes
    ----------
    method : str
    k : int or "loo"
        Number of folds, or ``"loo"`` (leave-one-out: one structure per fold).
    seed : int
        Seed of the fold assignment (unused for ``"loo"``, whose fold i is structure i).
    folds : ndarray of int, shape (n_structures,)
        Fold id (0 … k−1) of each structure.
    predictions : ndarray, shape (n_structures,)
        Energy of each structure predicted by the fit without its fold, eV (``nan`` where
        that fit could not be made).
    rmse, mae : float
        Held-out errors, eV, unweighted over the structures with a prediction.
    train_rmse, train_mae : float
        Errors of the fit to every structure, eV.
    warnings : list of str
        Over-fitting (held-out RMSE > :data:`OVERFIT_RATIO` × training RMSE), underdetermined
        folds, failed folds.
    """

    method: str
    k: int | str
    seed: int
    folds: np.ndarray
    predictions: np.ndarray
    rmse: float
    mae: float
    train_rmse: float
    train_mae: float
    warnings: list = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """Held-out RMSE / training RMSE (``inf`` when the training RMSE is exactly 0)."""
        return _ratio(self.rmse, self.train_rmse)

    def to_dict(self) -> dict:
        """JSON-ready: ``{"method", "k", "seed", "rmse", "mae", "train_rmse", "train_mae",
        "ratio", "warnings"}`` (eV; undefined numbers are ``None``)."""
        return {
            "method": self.method,
            "k": self.k if isinstance(self.k, str) else int(self.k),
            "seed": int(self.seed),
            "rmse": _num(self.rmse),
            "mae": _num(self.mae),
            "train_rmse": _num(self.train_rmse),
            "train_mae": _num(self.train_mae),
            "ratio": _num(self.ratio),
            "warnings": list(self.warnings),
        }


@dataclass
class Profile:
    """Profile of the cost along one parameter.

    Attributes
    ----------
    name : str
        The profiled parameter.
    values : ndarray, shape (n_values,)
        Grid of fixed values (eV or Å), increasing; it contains the fitted value.
    cost : ndarray, shape (n_values,)
        The fit's cost (χ²/2 over every observation, see :attr:`FitResult.cost`) with
        ``name`` fixed at each value and every other free parameter re-optimised (``nan``
        where that fit failed); with priors, plus the prior terms.
    best_value, best_cost : float
        The grid point with the lowest cost and that cost.
    """

    name: str
    values: np.ndarray
    cost: np.ndarray
    best_value: float
    best_cost: float

    def to_dict(self) -> dict:
        """JSON-ready: ``{"name", "values", "cost", "best_value", "best_cost"}``."""
        return {
            "name": self.name,
            "values": [_num(v) for v in self.values],
            "cost": [_num(c) for c in self.cost],
            "best_value": _num(self.best_value),
            "best_cost": _num(self.best_cost),
        }
