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

from threadpoolctl import ThreadpoolController

from ..errors import FitError
from .global_ import fit_basinhopping, fit_differential_evolution, fit_dual_annealing
from .linear import fit_linear, linear_applies, linear_refusal
from .local import fit_least_squares, starting_point
from .problem import Problem
from .result import FitResult

__all__ = ["fit", "fit_methods", "methods_for", "METHODS", "FitResult", "Problem",
           "starting_point"]

METHODS = {
    "linear": fit_linear,
    "least_squares": fit_least_squares,
    "basinhopping": fit_basinhopping,
    "dual_annealing": fit_dual_annealing,
    "differential_evolution": fit_differential_evolution,
}
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


def _problem(model, dataset, energies, weights, regularization, prior):
    if energies is None:
        if dataset is None:
            raise FitError("fit: give a dataset (or energies=)")
        if len(dataset) != model.n_structures:
            raise FitError(
                f"dataset has {len(dataset)} structures but the model was built for "
                f"{model.n_structures}"
            )
        energies = dataset.energies
        if weights is None:
            weights = dataset.weights
    return Problem(model, energies, weights, regularization=regularization, prior=prior)


def fit(model, dataset=None, method: str = "least_squares", *, energies=None, weights=None,
        regularization: float = 0.0, prior=None, seed: int | None = 0, **options) -> FitResult:
    """Fit the model's free parameters to reference energies.

    Parameters
    ----------
    model : LJModel
    dataset : Dataset, optional
        Supplies the reference energies (eV) and weights; or give ``energies=``.
    method : str
        One of :data:`METHODS`.
    weights : ndarray, shape (n_structures,), optional
        Overrides the dataset's weights.
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
    if method not in METHODS:
        raise FitError(f"method: unknown {method!r}; choose from {', '.join(METHODS)}")
    if method == "linear":
        methods_for(model, ["linear"])  # raises a clear FitError when it does not apply
    problem = _problem(model, dataset, energies, weights, regularization, prior)
    # The fitters' linear algebra is on tiny matrices: BLAS threads only add spin-up and
    # contention (measured: basinhopping on the example 13x slower with 2 OpenBLAS threads
    # on a busy 2-core machine), so a fit runs single-threaded.
    with _blas_controller().limit(limits=1, user_api="blas"):
        return METHODS[method](problem, seed=seed, **options)


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
