"""Bootstrap, K-fold / leave-one-out cross-validation and the closed-form leave-one-out
of the linear method (see :mod:`ljfit.uncertainty`)."""

from __future__ import annotations

import time
import warnings as _warnings

import numpy as np

from ..errors import FitError
from ..fitting import FitResult
from ..fitting.linear import LinearSystem
from ._common import (
    _check_common,
    _check_result,
    _check_seed,
    _full_fit,
    _progress_bar,
    _ratio,
    _references,
    _refit,
    _split_fit_options,
    _undefined_reason,
)
from .results import OVERFIT_RATIO, BootstrapResult, CVResult


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
