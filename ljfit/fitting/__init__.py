"""Fitters: one entry point, :func:`fit`, and one result type, :class:`FitResult`.

=========================  ================================================================
method                     what it does
=========================  ================================================================
``linear``                 exact solve in (C_n, C_m, offset): certified global optimum
                           under the bounds (NNLS, or a cone program with an ε_lo branch
                           and bound when bounds are active); per-site / per-pair scopes
                           with every ε free (σ may be fixed)
``least_squares``          scipy trf with bounds, robust loss, weights, analytic Jacobian,
                           optional seeded multistart; starts from the linear solution
``basinhopping``           seeded global search, L-BFGS-B + analytic gradient, bounded steps
``dual_annealing``         seeded generalised simulated annealing, gradient local search
``differential_evolution`` seeded evolutionary search (optional, not part of ``all``)
=========================  ================================================================
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import ThreadpoolController

from ..errors import FitError
from .linear import linear_applies, linear_refusal
from .local import starting_point
from .problem import Problem
from .result import FitResult
from .targets import Sigmas, Targets

__all__ = ["fit", "fit_problem", "make_problem", "fit_methods", "methods_for", "METHODS",
           "method_function", "FitResult", "Problem", "Sigmas", "Targets", "starting_point"]

#: method name → "module:function" of this package; the global searches (and with them
#: scipy's basinhopping, dual_annealing, differential_evolution) load only when asked for
METHODS = {
    "linear": "linear:fit_linear",
    "least_squares": "local:fit_least_squares",
    "basinhopping": "global_:fit_basinhopping",
    "dual_annealing": "global_:fit_dual_annealing",
    "differential_evolution": "global_:fit_differential_evolution",
}


def method_function(method: str):
    """The fitter of a method name (see :data:`METHODS`)."""
    import importlib

    module, name = METHODS[method].split(":")
    return getattr(importlib.import_module(f".{module}", __name__), name)
#: what ``all`` means (differential_evolution is available by name)
DEFAULT_METHODS = ("linear", "least_squares", "basinhopping", "dual_annealing")


def methods_for(model, methods="all") -> list:
    """Expand a method list (``"all"``, a comma string or a sequence) for a model: ``all``
    is every default method that applies (``linear`` only for a linear model)."""
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    out = []
    for m in methods:
        if m == "all":
            out += [d for d in DEFAULT_METHODS if d != "linear" or linear_applies(model)]
        elif m in METHODS:
            out.append(m)
        else:
            raise FitError(f"method: unknown {m!r}; choose from all, {', '.join(METHODS)}")
    if "linear" in out and not linear_applies(model):
        raise FitError(f"method linear: {linear_refusal(model)}")
    return list(dict.fromkeys(out))


def make_problem(model, dataset=None, *, energies=None, weights=None, sigmas=None,
                 regularization=0.0, prior=None) -> Problem:
    """The :class:`Problem` of :func:`fit`: every observation of the model's rows from
    ``dataset`` with its sigma (:class:`~ljfit.fitting.targets.Sigmas`; default
    :meth:`Sigmas.default_for` the dataset), or bare ``energies`` (unit sigmas, eV²)."""
    if energies is None:
        if dataset is None:
            raise FitError("fit: give a dataset (or energies=)")
        if len(dataset) != model.n_structures:
            raise FitError(
                f"dataset has {len(dataset)} structures but the model was built for "
                f"{model.n_structures}"
            )
        targets = Targets.from_dataset(dataset, model, sigmas)
        if weights is not None:
            w = np.asarray(weights, dtype=float)
            if w.shape != (len(dataset),):
                raise FitError("weights: need one finite, non-negative weight per structure")
            targets = Targets(targets.values, targets.sigma, w[model.row_structures()])
        return Problem(model, regularization=regularization, prior=prior, targets=targets)
    return Problem(model, energies, weights, regularization=regularization, prior=prior)


def fit(model, dataset=None, method: str = "least_squares", *, energies=None, weights=None,
        sigmas=None, regularization: float = 0.0, prior=None, seed: int | None = 0,
        **options) -> FitResult:
    """Fit the model's free parameters to reference energies (forces, stress).

    Parameters
    ----------
    model : LJModel
    dataset : Dataset, optional
        Supplies the reference observations of the model's rows (energies, and forces and
        stress where the model has those rows) and the structure weights; or give
        ``energies=``.
    method : str
        One of :data:`METHODS`.
    energies : ndarray, shape (n_structures,), optional
        Reference energies (eV) without a dataset: unit sigmas, a cost in eV².
    weights : ndarray, shape (n_structures,), optional
        Overrides the dataset's weights.
    sigmas : Sigmas, optional
        Expected errors of energies, forces and stress (default
        :meth:`Sigmas.default_for` the dataset).
    regularization : float
        Ridge strength λ toward ``prior`` (see :class:`Problem`).
    prior : dict, optional
        Prior values by name (default: the spec's values).
    seed : int
        Seed of every random choice (global methods, multistarts).
    **options
        Passed to the method: ``loss``, ``f_scale``, ``n_starts``, ``max_nfev``
        (least_squares); ``niter``, ``T``, ``stepsize`` (basinhopping); ``maxiter``
        (dual_annealing, differential_evolution); ``x0``; ``progress``.

    Returns
    -------
    FitResult
        Also when the fit did not converge (``success`` is False, ``message`` says why).
    """
    problem = make_problem(model, dataset, energies=energies, weights=weights, sigmas=sigmas,
                           regularization=regularization, prior=prior)
    return fit_problem(problem, method, seed=seed, **options)


def fit_problem(problem: Problem, method: str = "least_squares", *, seed: int | None = 0,
                **options) -> FitResult:
    """Fit a :class:`Problem` (see :func:`fit`)."""
    if method not in METHODS:
        raise FitError(f"method: unknown {method!r}; choose from {', '.join(METHODS)}")
    if method == "linear":
        methods_for(problem.model, ["linear"])  # a clear FitError when it does not apply
    # The fitters' linear algebra is on tiny matrices: BLAS threads only add spin-up and
    # contention (measured: basinhopping on the example 13x slower with 2 OpenBLAS threads
    # on a busy 2-core machine), so a fit runs single-threaded.
    with _blas_controller().limit(limits=1, user_api="blas"):
        return method_function(method)(problem, seed=seed, **options)


_CONTROLLER = []


def _blas_controller():
    """One ThreadpoolController (finding the loaded BLAS libraries costs ~10 ms; a bootstrap
    or a profile makes hundreds of fits)."""
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


def fit_methods(model, dataset=None, methods="all", **kwargs) -> dict:
    """Run several methods; ``{method: FitResult}`` in order."""
    return {m: fit(model, dataset, m, **kwargs) for m in methods_for(model, methods)}
