r"""Uncertainty and validation of a fit: bootstrap, cross-validation, profiles.

Every function takes the model (:class:`ljfit.model.LJModel`) and the dataset
(:class:`ljfit.dataset.Dataset`) whose energies (eV) and weights are the references; nothing
recomputes pair features: a subset of the structures is ``model.take(indices)``.

Bootstrap (:func:`bootstrap`)
    Resample the structures with replacement (``np.random.default_rng(seed)``; all ``n``
    resamples are drawn up front, so the resamples depend on ``seed`` and ``n`` only), refit
    each resample, and report the mean, standard deviation and *percentile* interval of every
    free parameter. A refit that fails or leaves a parameter undefined (the linear solve with
    a coefficient at zero) is counted in ``n_failed`` and excluded. With ``method="linear"``
    a refit is one column-scaled NNLS solve on rows of the precomputed design matrix (about
    0.1 ms for the 40-structure example: 1000 resamples in < 0.1 s); iterative methods start
    each refit where a fresh fit of the resample would start (its own linear solve or
    mapped start, plus ``n_starts`` random starts if asked), never from the full fit's
    answer. When the full fit is underdetermined the intervals are undefined (``reason``)
    instead of numbers: refits then scatter over what the data allow, or — started from an
    exact fit — do not move at all.

Cross-validation (:func:`cross_validate`)
    K-fold on seeded shuffled folds (fold sizes differ by at most one) or leave-one-out.
    Each structure is predicted by the fit on the other folds (each fold fit starts where a
    fresh fit of its training structures would start); the held-out RMSE and MAE
    (unweighted, eV, over all structures, like :attr:`FitResult.rmse`) are compared with the
    training RMSE of the full fit. A held-out RMSE more than :data:`OVERFIT_RATIO` (2) times
    the training RMSE is reported as over-fitting. For linear least squares with a correct
    model, noise of variance s² and structures of similar leverage, the expected training
    MSE is s²(m − n)/m and the expected leave-one-out MSE about s²(1 + n/m), for m
    structures and n free parameters: a ratio of RMSEs near :math:`\sqrt{(m+n)/(m-n)}`
    (1.29 for m = 24, n = 6; K-fold with small K trains on fewer structures and comes out a
    little higher). A factor above 2 means that the parameters follow the noise (too many
    parameters for the data) or that a few structures are unlike the rest (high leverage,
    extrapolated when held out); the warning names the structures with the largest
    held-out errors.

Closed-form leave-one-out (:func:`loo_residuals_linear`)
    For the weighted linear least-squares problem :math:`\min\|W^{1/2}(Xc-y)\|^2` the
    prediction error of structure i by the fit without it is :math:`e_i/(1-h_{ii})`, with
    :math:`e = Xc - y` and the diagonal of the hat matrix
    :math:`H = X_w(X_w^\top X_w)^{+}X_w^\top`, :math:`X_w = W^{1/2}X`. It equals the
    leave-one-out of the linear method when no NNLS bound is active (every coefficient of
    every leave-one-out fit positive).

Profiles (:func:`profile`, :func:`profiles`)
    The cost :math:`F = \tfrac12\sum_o w_o (\hat o - o)^2` (χ²/2) with one parameter fixed on a
    grid and every other free parameter re-optimised. For a result of the linear method and a
    σ (or the offset) of a linear model the problem with that value fixed is still linear
    (each slot of that σ contributes :math:`\varepsilon_k\,C(\sigma^n A^{(n)}_k -
    \sigma^m A^{(m)}_k)`), so each point is one exact NNLS solve; otherwise each point is a
    bounded ``least_squares`` fit warm-started from the neighbouring grid point. Profiles are
    of the plain squared-error cost (no robust loss), plus the Gaussian prior terms when the
    fit had priors (``priors=``: what the fit minimised).
"""

from __future__ import annotations

import sys
import time
import warnings as _warnings
from dataclasses import dataclass, field

import numpy as np

from .dataset import Dataset
from .errors import FitError
from .fitting import METHODS, FitResult, Problem, fit_problem, make_problem, methods_for
from .fitting.linear import LinearSystem, scaled_nnls
from .params import LINEAR_KINDS, slot_parameter_names

__all__ = [
    "BootstrapResult",
    "CVResult",
    "Profile",
    "bootstrap",
    "cross_validate",
    "loo_residuals_linear",
    "profile",
    "profiles",
    "bootstrap_spans",
    "OVERFIT_RATIO",
    "PROFILE_SPAN_STDERR",
]

#: Held-out RMSE / training RMSE above which :func:`cross_validate` warns of over-fitting.
OVERFIT_RATIO = 2.0

#: keyword arguments that would contradict "the dataset holds the references"
_RESERVED = ("energies", "weights", "dataset", "model", "method")


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


# ======================================================================================
# helpers
# ======================================================================================


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


# ======================================================================================
# bootstrap
# ======================================================================================


def bootstrap(model, dataset, method: str = "linear", n: int = 1000, *, seed: int = 0,
              level: float = 0.95, result: FitResult | None = None, progress=None,
              **fit_options) -> BootstrapResult:
    """Bootstrap the free parameters by resampling structures with replacement.

    Parameters
    ----------
    model : LJModel
    dataset : Dataset
        Reference energies (eV) and weights; ``len(dataset) == model.n_structures``.
    method : str
        Fitting method of each refit (see :data:`ljfit.fitting.METHODS`).
    n : int
        Number of resamples, ≥ 2.
    seed : int
        Seed of ``np.random.default_rng`` drawing the resamples (and of each refit).
    level : float
        Confidence level of the percentile intervals, 0 < level < 1.
    result : FitResult, optional
        The fit to every structure (whether it is determined; never a refit's start).
        Computed when not given.
    progress : bool, optional
        tqdm bar over the refits; default: shown when stderr is a terminal.
    **fit_options
        Passed to every :func:`ljfit.fit` (``priors``, ``absolute_sigma``, ``loss``,
        ``max_nfev``, …; ``x0`` is used for the full fit only).

    Returns
    -------
    BootstrapResult
        ``samples`` has shape (n − n_failed, n_free).

    Raises
    ------
    FitError
        Unknown method, ``n`` < 2, ``level`` outside (0, 1), a dataset that does not match the
        model, ``result`` of another model, a linear method for a non-linear model.
    """
    _check_common(model, dataset, method, fit_options)
    _check_seed(seed)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise FitError(f"n: need an integer number of resamples >= 2, got {n!r}")
    if not (isinstance(level, (int, float)) and 0.0 < level < 1.0):
        raise FitError(f"level: need 0 < level < 1, got {level!r}")
    if result is not None:
        _check_result(model, result)
    opts, problem_kw, x0 = _split_fit_options(fit_options)
    problem = _references(model, dataset, **problem_kw)
    names = list(model.spec.free_names)
    n, m = int(n), model.n_structures
    if result is None:
        result = _full_fit(problem, method, seed, x0, opts)
    reason = _undefined_reason(result)
    if reason is not None:
        nan = dict.fromkeys(names, float("nan"))
        return BootstrapResult(method=method, n=n, seed=int(seed), names=names,
                               samples=np.empty((0, len(names))), mean=dict(nan),
                               std=dict(nan), ci_low=dict(nan), ci_high=dict(nan),
                               level=float(level), n_failed=0, wall_time=0.0, reason=reason)

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, m, size=(n, m))
    samples = []
    bar = _progress_bar(n, f"bootstrap ({method})", progress)
    try:
        if method == "linear":
            solver = LinearSystem(problem)
            for rows in draws:
                samples.append(solver.free_parameters(solver.solve(solver.rows_of(rows))))
                bar.update(1)
        else:
            for rows in draws:
                r = _refit(problem, rows, method, seed, opts)
                ok = r is not None and r.success
                samples.append(r.x if ok else np.full(len(names), np.nan))
                bar.update(1)
    finally:
        bar.close()
    samples = np.array(samples, dtype=float).reshape(n, len(names))
    good = np.all(np.isfinite(samples), axis=1)
    samples = samples[good]
    wall = time.perf_counter() - t0

    q = 100.0 * np.array([(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    if len(samples):
        lo, hi = np.percentile(samples, q, axis=0)
        mean = samples.mean(axis=0)
    else:
        lo = hi = mean = np.full(len(names), np.nan)
    std = samples.std(axis=0, ddof=1) if len(samples) > 1 else np.full(len(names), np.nan)
    as_dict = lambda a: dict(zip(names, map(float, a)))  # noqa: E731
    return BootstrapResult(
        method=method,
        n=n,
        seed=int(seed),
        names=names,
        samples=samples,
        mean=as_dict(mean),
        std=as_dict(std),
        ci_low=as_dict(lo),
        ci_high=as_dict(hi),
        level=float(level),
        n_failed=int(n - good.sum()),
        wall_time=wall,
    )


# ======================================================================================
# cross-validation
# ======================================================================================


def _folds(m: int, k, seed) -> tuple:
    """(k normalised, folds) for m structures."""
    if isinstance(k, str):
        if k.strip().lower() not in ("loo", "leave-one-out"):
            raise FitError(f"k: expected an integer number of folds or 'loo', got {k!r}")
        if m < 2:
            raise FitError(f"k: leave-one-out needs at least 2 structures, got {m}")
        return "loo", np.arange(m)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise FitError(f"k: expected an integer number of folds or 'loo', got {k!r}")
    if k < 2 or k > m:
        raise FitError(f"k: need 2 <= k <= {m} (the number of structures), got {k}")
    folds = np.empty(m, dtype=int)
    folds[np.random.default_rng(seed).permutation(m)] = np.arange(m) % k
    return int(k), folds


def cross_validate(model, dataset, method: str = "linear", k=5, *, seed: int = 0,
                   result: FitResult | None = None, **fit_options) -> CVResult:
    """K-fold or leave-one-out cross-validation of a fitting method.

    Parameters
    ----------
    model : LJModel
    dataset : Dataset
        Reference energies (eV) and weights; ``len(dataset) == model.n_structures``.
    method : str
        Fitting method (see :data:`ljfit.fitting.METHODS`).
    k : int or "loo"
        Number of folds (2 ≤ k ≤ n_structures; structures shuffled by ``seed``, fold sizes
        differ by at most one) or ``"loo"`` (fold i is structure i).
    seed : int
        Seed of the fold assignment and of each fit.
    result : FitResult, optional
        The fit to every structure (training errors); computed when not given.
    **fit_options
        Passed to every :func:`ljfit.fit` (``priors``, ``absolute_sigma``, ``loss``, …).

    Returns
    -------
    CVResult
        A fold whose training set has fewer structures than free parameters is still fitted
        (underdetermined; a warning says so).

    Raises
    ------
    FitError
        Unknown method, bad ``k``, a dataset that does not match the model, ``result`` of
        another model.
    """
    _check_common(model, dataset, method, fit_options)
    _check_seed(seed)
    m = model.n_structures
    k, folds = _folds(m, k, seed)
    if result is not None:
        _check_result(model, result)
    opts, problem_kw, x0 = _split_fit_options(fit_options)
    problem = _references(model, dataset, **problem_kw)
    if result is None:
        result = _full_fit(problem, method, seed, x0, opts)
    y = problem.energies
    n_free = model.n_free
    solver = LinearSystem(problem) if method == "linear" else None

    pred = np.full(m, np.nan)
    warn, small, failed = [], [], []
    for f in range(int(folds.max()) + 1):
        test = np.flatnonzero(folds == f)
        train = np.flatnonzero(folds != f)
        n_train = int(np.count_nonzero(problem.w[model.rows_of(train)] > 0))
        if n_train < n_free:
            small.append(f)
        if n_train == 0:
            failed.append(f)
            continue
        if solver is not None:  # energy rows are the first n_structures rows
            pred[test] = solver.predict(solver.solve(solver.rows_of(train)), test)
            continue
        r = _refit(problem, train, method, seed, opts)
        if r is None or not np.all(np.isfinite(r.x)):
            failed.append(f)
            continue
        pred[test] = model.take(test).energies(r.x)

    ok = np.isfinite(pred)
    err = pred[ok] - y[ok]
    rmse = float(np.sqrt(np.mean(err**2))) if ok.any() else float("nan")
    mae = float(np.mean(np.abs(err))) if ok.any() else float("nan")
    train_rmse, train_mae = float(result.rmse), float(result.mae)
    ratio = _ratio(rmse, train_rmse)
    worst = ""
    if ok.any():
        names = list(getattr(dataset, "names", [])) or [str(i) for i in range(m)]
        idx = np.flatnonzero(ok)[np.argsort(-np.abs(err))[:3]]
        worst = "; largest held-out errors: " + ", ".join(
            f"{names[i]} {abs(pred[i] - y[i]) * 1e3:.3g} meV" for i in idx
        )
    # a training error at round-off level (more parameters than structures): an exact fit
    exact = train_rmse <= 1e-9 * float(np.sqrt(np.mean(y**2))) and rmse > train_rmse
    if exact:
        warn.append(
            f"over-fitting: held-out RMSE {rmse * 1e3:.3g} meV but the training fit is exact "
            f"(RMSE {train_rmse:.2g} eV, round-off): too many parameters for the data{worst}"
        )
    elif np.isfinite(ratio) and ratio > OVERFIT_RATIO:
        warn.append(
            f"over-fitting: held-out RMSE {rmse * 1e3:.3g} meV is {ratio:.3g}x the training "
            f"RMSE {train_rmse * 1e3:.3g} meV (threshold {OVERFIT_RATIO:g}x): too many "
            f"parameters for the data, or structures unlike the others{worst}"
        )
    if small:
        warn.append(
            f"{len(small)} of {int(folds.max()) + 1} folds have fewer training "
            f"{'structures' if model.n_observations == m else 'observations'} than "
            f"the {n_free} free parameters; their fits are underdetermined"
        )
    if failed:
        warn.append(
            f"{len(failed)} folds could not be fitted (folds {failed[:10]}); their "
            f"{int(np.count_nonzero(~ok))} structures have no held-out prediction"
        )
    return CVResult(
        method=method,
        k=k,
        seed=int(seed),
        folds=folds,
        predictions=pred,
        rmse=rmse,
        mae=mae,
        train_rmse=train_rmse,
        train_mae=train_mae,
        warnings=warn,
    )


def loo_residuals_linear(model, dataset) -> np.ndarray:
    r"""Closed-form leave-one-out residuals of the weighted linear least-squares fit.

    .. math:: \hat E_{(-i)} - y_i = \frac{e_i}{1 - h_{ii}},\qquad e = Xc - y,\quad
              H = X_w (X_w^\top X_w)^{+} X_w^\top,\ X_w = W^{1/2} X,

    with c the *unconstrained* weighted least-squares solution on the design matrix
    (:meth:`ljfit.model.LJModel.design_matrix`). Equal to the leave-one-out of the linear
    method when no NNLS bound is active; a ``UserWarning`` says when the full solution
    has a non-positive C_n or C_m (then they differ).

    Parameters
    ----------
    model : LJModel
        A linear model (per-site or per-pair scope, every ε and σ free).
    dataset : Dataset
        Reference energies (eV) and weights.

    Returns
    -------
    ndarray, shape (n_structures,)
        Held-out prediction minus reference, eV (sign as :attr:`FitResult.residuals`);
        ``inf``/``nan`` where h_ii = 1 (a structure that alone determines a direction of
        the coefficients).
    """
    _check_common(model, dataset, "linear")
    if model.n_observations != model.n_structures:
        raise FitError("the closed-form leave-one-out takes one row per structure: this "
                       "model also has force or stress rows (use cross_validate(k='loo'))")
    problem = _references(model, dataset)
    X, columns = model.design_matrix()
    fixed = model.fixed_linear()
    sw = problem.sw
    Xw = sw[:, None] * X
    yw = sw * (problem.y - fixed)
    norms = np.linalg.norm(Xw, axis=0)
    norms = np.where(norms > 0, norms, 1.0)
    u, s, vt = np.linalg.svd(Xw / norms, full_matrices=False)
    tol = s.max() * max(Xw.shape) * np.finfo(float).eps if s.size else 0.0
    r = int(np.sum(s > tol))
    u, s, vt = u[:, :r], s[:r], vt[:r]
    c = (vt.T @ ((u.T @ yw) / s)) / norms
    bounded = np.array([col.startswith(("Cn[", "Cm[")) for col in columns])
    if np.any(c[bounded] <= 0):
        bad = [col for col, v, b in zip(columns, c, bounded) if b and v <= 0]
        _warnings.warn(
            f"the unconstrained solution has {', '.join(bad)} <= 0: the NNLS bound is active "
            "and the linear method's leave-one-out differs from this formula",
            stacklevel=2,
        )
    h = np.sum(u**2, axis=1)
    e = X @ c + fixed - problem.y
    with np.errstate(divide="ignore", invalid="ignore"):
        return e / (1.0 - h)


# ======================================================================================
# profiles
# ======================================================================================


#: Default half-width of a profile, in standard errors: the cost rises by 4.5 (χ²/2) there
#: against 0.5 at one standard error, so both the minimum and the 1-stderr level show.
PROFILE_SPAN_STDERR = 3.0


def _profile_grid(value, stderr, lower, upper, n_points, span):
    if span is None:
        se = stderr if np.isfinite(stderr) else 0.0
        # a few standard errors; 10 % of the value where there is no usable standard error
        # (at a bound, undetermined, or an exact fit at round-off)
        span = PROFILE_SPAN_STDERR * se
        if not span > 1e-9 * max(abs(value), 1e-3):
            span = 0.1 * abs(value)
        if not span > 0:
            span = 1e-3  # a parameter at 0 (an offset) without a standard error
    lo = max(value - span, lower)
    hi = min(value + span, upper)
    grid = np.linspace(lo, hi, n_points)
    near = int(np.argmin(np.abs(grid - value)))
    step = (hi - lo) / (n_points - 1) if hi > lo else 1.0
    if abs(grid[near] - value) <= 1e-6 * step:
        grid[near] = value  # the centre of a symmetric grid, up to round-off
    else:  # an asymmetric (clipped) grid: add the fitted value
        grid = np.unique(np.concatenate([grid, [value]]))
    return grid, int(np.flatnonzero(grid == value)[0])


def _linear_profile(model, problem, name, grid):
    """Costs with ``name`` (a σ, the offset or an e0 of a linear model) fixed: one NNLS
    each. A fixed σ_k turns slot k's two columns into one, ε_k·C(σ^n X_n − σ^m X_m); a fixed
    linear parameter moves its column to the right-hand side."""
    X, columns = model.design_matrix()
    fixed = model.fixed_linear()
    k = model.features.n_slots
    pot = model.potential
    kind = model.spec[name].kind
    sigma_slots, moved = [], None
    if kind == "sigma":
        sigma_slots = [s for s, slot in enumerate(model.features.slots)
                       if slot_parameter_names(model.scope, slot)[1] == name]
        drop = set(sigma_slots) | {k + s for s in sigma_slots}
    else:  # offset or e0: its column moves to the right-hand side
        moved = columns.index(name)
        drop = {moved}
    keep = [j for j in range(len(columns)) if j not in drop]
    base = X[:, keep]
    unbounded = np.array([not columns[j].startswith(("Cn[", "Cm[")) for j in keep]
                         + [False] * len(sigma_slots))
    sw, y = problem.sw, problem.y
    costs = np.empty(len(grid))
    for i, v in enumerate(grid):
        rhs = fixed if moved is None else fixed + v * X[:, moved]
        extra = []
        for s in sigma_slots:  # C (σ^n X_n − σ^m X_m), X's Cm column being −X_m
            cn1, cm1 = pot.coefficients(1.0, v)
            extra.append(X[:, s] * cn1 + X[:, k + s] * cm1)
        Xv = np.column_stack([base] + extra) if extra else base
        if Xv.shape[1]:
            c = scaled_nnls(sw[:, None] * Xv, sw * (y - rhs), unbounded)
            pred = Xv @ c + rhs
        else:
            pred = rhs
        costs[i] = problem.data_cost_of(pred)
    return costs


def _ls_profile(model, problem, result, name, grid, centre):
    """Costs with ``name`` fixed, others by bounded least_squares from the neighbour (with
    the problem's priors: the prior term of ``name`` at each grid value is added)."""
    prior = problem.priors.get(name)
    spec = model.spec
    if result.method == "linear" and not result.extra.get("bounds_active", False):
        # the linear method's feasible set: ε, σ >= 0 without the spec's bounds (where they
        # were active, the linear method honoured them: then the spec's bounds)
        spec = spec.with_bounds(
            {p.name: (0.0, np.inf) for p in spec if p.vary and p.kind not in LINEAR_KINDS}
        )
    others = [nm for nm in spec.free_names if nm != name]
    x_fit = np.array([result.params[nm] for nm in others])
    costs = np.full(len(grid), np.nan)
    for order in (range(centre, len(grid)), range(centre - 1, -1, -1)):
        x = x_fit
        for i in order:
            sub = model.with_spec(spec.with_fixed({name: grid[i]}))
            own = 0.0 if prior is None else 0.5 * ((grid[i] - prior[0]) / prior[1]) ** 2
            if sub.n_free == 0:
                costs[i] = problem.data_cost_of(sub.predict()) + own
                continue
            r = fit_problem(problem.with_model(sub, keep_prior=True), "least_squares",
                            x0=sub.spec.clip(x))
            if np.all(np.isfinite(r.x)):
                costs[i] = r.objective + own
                x = r.x
    return costs


def profile(model, dataset, result: FitResult, name: str, *, n_points: int = 21,
            span: float | None = None, sigmas=None, priors=None) -> Profile:
    """Profile of the cost along one free parameter.

    Parameters
    ----------
    model : LJModel
        The model ``result`` was fitted with.
    dataset : Dataset
        Reference energies (eV) and weights.
    result : FitResult
        The fit; the grid is centred on ``result.params[name]``.
    name : str
        A free parameter of ``result``.
    n_points : int
        Grid points (≥ 3); the fitted value is added when it is not one of them.
    span : float, optional
        Half-width of the grid (eV or Å); default :data:`PROFILE_SPAN_STDERR` (3) standard
        errors of the fit, or 10 % of the value where it has none. The grid is clipped to
        the parameter's bounds.
    sigmas : Sigmas, optional
        The expected errors the fit used (default: as :func:`ljfit.fit`).
    priors : dict, optional
        The Gaussian priors the fit used: the profile is then of the cost plus the prior
        terms (what the fit minimised), by ``least_squares`` at every point.

    Returns
    -------
    Profile

    Notes
    -----
    With a result of the linear method, a σ or the offset of a linear model is profiled by
    exact NNLS solves (global minimum at each point); anything else by bounded
    ``least_squares`` fits warm-started from the neighbouring grid point, outward from the
    fitted value (for a linear result with ε, σ ≥ 0 as the only bounds on the others, as in
    the linear method). Costs are those of :attr:`FitResult.cost` (with priors:
    :attr:`FitResult.objective`).

    Raises
    ------
    FitError
        Unknown parameter name, ``n_points`` < 3, a bad ``span``, a result of another model
        or with undefined parameters.
    """
    _check_result(model, result)
    _check_dataset(model, dataset)
    if name not in result.names:
        raise FitError(
            f"name: {name!r} is not a free parameter of the fit; choose from "
            f"{', '.join(result.names)}"
        )
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 3:
        raise FitError(f"n_points: need an integer >= 3, got {n_points!r}")
    if span is not None and not (np.isfinite(span) and span > 0):
        raise FitError(f"span: need a finite half-width > 0, got {span!r}")
    if not np.all(np.isfinite(result.x)):
        raise FitError("result: some fitted parameters are undefined (nan); nothing to profile")
    problem = _references(model, dataset, sigmas=sigmas, priors=priors)
    value = float(result.params[name])
    p = model.spec[name]
    lower, upper = p.lower, p.upper
    lower, upper = min(lower, value), max(upper, value)
    grid, centre = _profile_grid(value, result.stderr.get(name, np.nan), lower, upper,
                                 int(n_points), span)
    if (result.method == "linear" and model.linear and p.kind in ("sigma", *LINEAR_KINDS)
            and not result.extra.get("bounds_active", False) and not problem.priors):
        costs = _linear_profile(model, problem, name, grid)
    else:
        costs = _ls_profile(model, problem, result, name, grid, centre)
    if np.any(np.isfinite(costs)):
        best = int(np.nanargmin(costs))
        best_value, best_cost = float(grid[best]), float(costs[best])
    else:
        best_value, best_cost = float("nan"), float("nan")
    return Profile(name=name, values=grid, cost=costs, best_value=best_value,
                   best_cost=best_cost)


def profiles(model, dataset, result: FitResult, *, n_points: int = 21, sigmas=None,
             priors=None, spans=None) -> dict:
    """:func:`profile` of every free parameter: ``{name: Profile}`` in ``result.names``
    order (``spans``: half-widths by name, e.g. from a bootstrap; default per
    :func:`profile`)."""
    _check_result(model, result)
    _check_dataset(model, dataset)
    spans = spans or {}
    return {nm: profile(model, dataset, result, nm, n_points=n_points, sigmas=sigmas,
                        priors=priors, span=spans.get(nm))
            for nm in result.names}


def bootstrap_spans(result: FitResult, boot) -> dict:
    """Profile half-widths that show a bootstrap interval of ``result``'s method: 1.25 times
    the larger distance from the fitted value to either end, and at least
    :data:`PROFILE_SPAN_STDERR` standard errors ({} when the intervals are undefined)."""
    if boot is None or getattr(boot, "reason", None) or boot.method != result.method:
        return {}
    out = {}
    for nm in result.names:
        v, lo, hi = result.params[nm], boot.ci_low.get(nm), boot.ci_high.get(nm)
        if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
            continue
        half = 1.25 * max(v - lo, hi - v)
        se = result.stderr.get(nm, np.nan)
        if np.isfinite(se):
            half = max(half, PROFILE_SPAN_STDERR * se)
        if half > 0:
            out[nm] = float(half)
    return out
