"""Argument checks and refits shared by the bootstrap, cross-validation and profiles."""

from __future__ import annotations

import sys

import numpy as np

from ..dataset import Dataset
from ..errors import FitError
from ..fitting import (
    METHODS,
    FitResult,
    Problem,
    fit_problem,
    make_problem,
    methods_for,
)

#: keyword arguments that would contradict "the dataset holds the references"
_RESERVED = ("energies", "weights", "dataset", "model", "method")


def _ratio(a, b) -> float:
    if not (np.isfinite(a) and np.isfinite(b)):
        return float("nan")
    if b > 0:
        return float(a / b)
    return float("inf") if a > 0 else float("nan")


def _check_common(model, dataset, method, fit_options=None):
    if not isinstance(method, str) or method not in METHODS:
        raise FitError(f"method: unknown {method!r}; choose from {', '.join(METHODS)}")
    if method == "linear":
        # "method linear: needs …" for a non-linear model or priors on ε, σ
        methods_for(model, ["linear"], priors=(fit_options or {}).get("priors"))
    _check_dataset(model, dataset)
    for key in fit_options or ():
        if key in _RESERVED:
            raise FitError(
                f"{key}: not accepted here; the dataset's energies and weights are the "
                "references (build a dataset with the energies/weights you want)"
            )


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise FitError(f"seed: need a non-negative integer (for reproducibility), got {seed!r}")


def _check_dataset(model, dataset):
    if not isinstance(dataset, Dataset):
        raise FitError(f"dataset: expected a Dataset, got {type(dataset).__name__}")
    n = len(dataset)
    if n != model.n_structures:
        raise FitError(
            f"dataset: {n} structures but the model was built for {model.n_structures}"
        )


def _check_result(model, result, what="result"):
    if not isinstance(result, FitResult):
        raise FitError(f"{what}: expected a FitResult, got {type(result).__name__}")
    if list(result.names) != list(model.spec.free_names):
        raise FitError(
            f"{what}: its free parameters {result.names} are not the model's "
            f"{model.spec.free_names}"
        )


def _references(model, dataset, priors=None, sigmas=None, absolute_sigma=False,
                **removed) -> Problem:
    """The full problem (validates the references, weights, priors)."""
    return make_problem(model, dataset, sigmas=sigmas, priors=priors,
                        absolute_sigma=absolute_sigma, **removed)


def _progress_bar(total, desc, progress):
    from tqdm.auto import tqdm

    show = sys.stderr.isatty() if progress is None else bool(progress)
    return tqdm(total=total, desc=desc, disable=not show, leave=False, unit="fit")


def _split_fit_options(fit_options):
    """(options of each fit, options of the problem, x0)."""
    opts = dict(fit_options)
    problem_kw = {k: opts.pop(k) for k in ("priors", "sigmas", "absolute_sigma",
                                           "regularization", "prior") if k in opts}
    x0 = opts.pop("x0", None)
    return opts, problem_kw, x0


def _full_fit(problem, method, seed, x0, opts):
    kw = dict(opts)
    if x0 is not None:
        kw["x0"] = x0
    return fit_problem(problem, method, seed=seed, **kw)


def _refit(problem, rows, method, seed, opts):
    """Fit of the structures ``rows`` (all their observations) from the start a fresh fit
    of them would take (never the full fit's answer: where that fits every structure
    exactly, a refit started there does not move and the spread collapses to round-off);
    None when the request cannot be fitted."""
    kw = dict(opts)
    kw["progress"] = False
    try:
        return fit_problem(problem.subset(rows), method, seed=seed, **kw)
    except (FitError, np.linalg.LinAlgError):
        return None


def _undefined_reason(result) -> str | None:
    """Why resampling intervals of ``result`` would be numbers without meaning, or None."""
    if result is None:
        return None
    if result.underdetermined:
        which = result.undetermined or result.names
        return (f"the fit is underdetermined ({', '.join(which[:6])}"
                f"{', …' if len(which) > 6 else ''} not determined by the data): resampled "
                "refits land anywhere in what the data allow, so no interval is meaningful")
    if not result.defined:
        return "the full fit has undefined parameters"
    return None
