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
from ..params import LINEAR_KINDS
from .linear import linear_applies, linear_refusal
from .local import starting_point
from .problem import REGULARIZATION_REMOVED, Problem
from .result import FitResult
from .targets import Sigmas, Targets

__all__ = ["fit", "fit_problem", "make_problem", "fit_methods", "methods_for", "auto_options",
           "METHODS", "method_function", "FitResult", "Problem", "Sigmas", "Targets",
           "starting_point"]

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
#: Random starts of least_squares under ``auto`` where no exact solve exists.
AUTO_N_STARTS = 8


def methods_for(model, methods="all", *, priors=None) -> list:
    """Expand a method list (``"auto"``, ``"all"``, a comma string or a sequence) for a
    model.

    ``auto`` (the command line's default): where the exact linear solve applies (per-site or
    per-pair, no fixed ε, no prior on ε or σ), ``linear`` and ``least_squares`` (its
    polish, honouring the bounds); otherwise ``least_squares`` with :data:`AUTO_N_STARTS`
    random starts (:func:`auto_options`) and one global search, ``dual_annealing``.
    ``all`` is every default method that applies (``linear`` only for a linear model
    without priors on ε or σ)."""
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    nonlinear_priors = _nonlinear_priors(model, priors)
    exact = linear_applies(model) and not nonlinear_priors
    out = []
    for m in methods:
        if m == "auto":
            out += ["linear", "least_squares"] if exact else ["least_squares", "dual_annealing"]
        elif m == "all":
            out += [d for d in DEFAULT_METHODS if d != "linear" or exact]
        elif m in METHODS:
            out.append(m)
        else:
            raise FitError(f"method: unknown {m!r}; choose from auto, all, "
                           f"{', '.join(METHODS)}")
    if "linear" in out and not linear_applies(model):
        raise FitError(f"method linear: {linear_refusal(model)}")
    if "linear" in out and nonlinear_priors:
        raise FitError(
            f"method linear: a Gaussian prior on {', '.join(nonlinear_priors)} is not linear "
            "in the coefficients (C_n, C_m) the linear method solves for; use least_squares "
            "(it starts from the linear solve) or a global method"
        )
    return list(dict.fromkeys(out))


def auto_options(model, methods="auto", *, priors=None) -> dict:
    """``{method: options}`` that ``auto`` adds: random starts for ``least_squares`` where
    no exact solve applies (the landscape may have several minima)."""
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    if "auto" in methods and not (linear_applies(model)
                                  and not _nonlinear_priors(model, priors)):
        return {"least_squares": {"n_starts": AUTO_N_STARTS}}
    return {}


def _nonlinear_priors(model, priors) -> list:
    """Names of priors on ε or σ (the linear method can take priors on offset/e0 only)."""
    return [n for n in (priors or {}) if n in model.spec
            and model.spec[n].kind not in LINEAR_KINDS]


def make_problem(model, dataset=None, *, energies=None, weights=None, sigmas=None,
                 regularization=None, prior=None, priors=None,
                 absolute_sigma: bool = False) -> Problem:
    """The :class:`Problem` of :func:`fit`: every observation of the model's rows from
    ``dataset`` with its sigma (:class:`~ljfit.fitting.targets.Sigmas`; default
    :meth:`Sigmas.default_for` the dataset), or bare ``energies`` (unit sigmas, eV²), with
    Gaussian ``priors`` ``{name: (value, width)}``."""
    if prior is not None or (regularization is not None and regularization != 0):
        raise FitError(REGULARIZATION_REMOVED)
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
        return Problem(model, targets=targets, priors=priors, absolute_sigma=absolute_sigma)
    return Problem(model, energies, weights, priors=priors, absolute_sigma=absolute_sigma)


def fit(model, dataset=None, method: str = "least_squares", *, energies=None, weights=None,
        sigmas=None, priors=None, absolute_sigma: bool = False, seed: int | None = 0,
        regularization=None, prior=None, **options) -> FitResult:
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
    priors : dict, optional
        Gaussian priors ``{name: (value, width)}`` on free parameters, value and width in the
        parameter's unit (eV for ε, offset, e0; Å for σ): each adds ½((p − value)/width)² to
        the cost (χ²/2) and its information to the covariance. Parameters without a prior
        are not pulled anywhere. The linear method takes priors on ``offset``/``e0`` only.
    absolute_sigma : bool
        The sigmas (weights) are true uncertainties: standard errors from (JᵀWJ)⁻¹ without
        rescaling by the reduced χ² (which is then a test of the model).
    regularization, prior
        Removed; a ``FitError`` explains the ``priors`` that replace them.
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
                           regularization=regularization, prior=prior, priors=priors,
                           absolute_sigma=absolute_sigma)
    return fit_problem(problem, method, seed=seed, **options)


def fit_problem(problem: Problem, method: str = "least_squares", *, seed: int | None = 0,
                **options) -> FitResult:
    """Fit a :class:`Problem` (see :func:`fit`)."""
    if method not in METHODS:
        raise FitError(f"method: unknown {method!r}; choose from {', '.join(METHODS)}")
    if method == "linear":
        # a clear FitError when it does not apply
        methods_for(problem.model, ["linear"], priors=problem.priors)
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
    """Run several methods (see :func:`methods_for`); ``{method: FitResult}`` in order."""
    priors = kwargs.get("priors")
    extra = auto_options(model, methods, priors=priors)
    return {m: fit(model, dataset, m, **{**extra.get(m, {}), **kwargs})
            for m in methods_for(model, methods, priors=priors)}
