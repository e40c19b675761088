"""Local fits: ``scipy.optimize.least_squares`` (trf) and the starting-point heuristics.

Starting point, never a silent unphysical default: the exact linear solve where the scope
allows it (per-site, per-pair); for per-element with a mixing rule, a per-pair linear solve on
the same features, then per-element values from the pair values by least squares on the
mixing rule (log ε_ab = ½(log ε_a + log ε_b); σ_ab = (σ_a + σ_b)/2 or its log for the
geometric rule). Anything undefined falls back to the spec's values; the result is moved
inside the bounds.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.optimize import least_squares

from ..errors import FitError
from ..params import LINEAR_KINDS, ParamSpec
from .problem import Problem
from .result import FitResult, diagnose

__all__ = ["fit_least_squares", "starting_point", "random_starts", "robust_scale", "LOSSES"]

LOSSES = ("linear", "soft_l1", "huber", "cauchy", "arctan")


def _inside(problem: Problem, x) -> np.ndarray:
    """Move x strictly inside the bounds (least_squares needs a feasible start)."""
    lo, hi = problem.lower, problem.upper
    width = np.where(np.isfinite(hi - lo), hi - lo, np.maximum(1.0, np.abs(x)))
    pad = 1e-10 * width
    return np.clip(x, lo + pad, hi - pad)


def _per_element_from_pairs(problem: Problem) -> np.ndarray | None:
    from ..model import LJModel
    from .linear import solve_linear

    model = problem.model
    try:
        pair_model = LJModel(model.features, scope="per-pair", offset=model.offset,
                             reference_energies=model.reference_energies)
    except FitError:
        return None
    linear = {p.name: p for p in model.spec if p.kind in LINEAR_KINDS}
    pair_model = pair_model.with_spec(ParamSpec(
        [linear.get(p.name, p) for p in pair_model.spec]))  # the same fixed offset / e0
    pp = problem.with_model(pair_model)
    c, _, _, _ = solve_linear(pp)
    full = pair_model.from_coefficients(c)
    pair_eps, pair_sig = pair_model.slot_parameters(full[pair_model.spec.free])
    ok = np.isfinite(pair_eps) & np.isfinite(pair_sig) & (pair_eps > 0) & (pair_sig > 0)
    if not ok.any():
        return None
    elements = model.elements
    col = {e: k for k, e in enumerate(elements)}
    rows = np.zeros((int(ok.sum()), len(elements)))
    for r, slot in enumerate(s for s, good in zip(model.features.slots, ok) if good):
        rows[r, col[slot[0]]] += 0.5
        rows[r, col[slot[1]]] += 0.5
    log_eps = np.linalg.lstsq(rows, np.log(pair_eps[ok]), rcond=None)[0]
    if model.mixing == "lorentz-berthelot":
        sig = np.linalg.lstsq(rows, pair_sig[ok], rcond=None)[0]
    else:
        sig = np.exp(np.linalg.lstsq(rows, np.log(pair_sig[ok]), rcond=None)[0])
    values = {}
    for e, k in col.items():
        values[f"epsilon[{e}]"] = float(np.exp(log_eps[k]))
        if sig[k] > 0:
            values[f"sigma[{e}]"] = float(sig[k])
    for name, p in linear.items():
        if p.vary:
            values[name] = float(full[pair_model.spec.index(name)])
    spec = model.spec
    return np.array([values.get(n, spec[n].value) for n in spec.free_names])


def starting_point(problem: Problem) -> tuple:
    """(x0, how): a physical starting point inside the bounds and where it came from."""
    from .linear import solve_linear

    model = problem.model
    x0, how = None, "spec values"
    if model.linear:
        c, _, _, _ = solve_linear(problem.with_model(model))
        x = model.from_coefficients(c)[model.spec.free]
        spec_x = model.spec.x0
        x0 = np.where(np.isfinite(x), x, spec_x)
        how = "linear solve"
    elif model.scope == "per-element":
        x0 = _per_element_from_pairs(problem)
        how = "per-pair linear solve mapped to elements"
    if x0 is None or not np.all(np.isfinite(x0)):
        x0, how = model.spec.x0, "spec values"
    return _inside(problem, x0), how


def random_starts(problem: Problem, n: int, rng: np.random.Generator) -> np.ndarray:
    """n points drawn in the (finite search) bounds, ε log-uniform: shape (n, n_free)."""
    lo, hi = problem.search_bounds()
    u = rng.uniform(lo, hi, size=(n, len(lo)))
    return np.array([_inside(problem, problem.to_x(row)) for row in u])


def _run_ls(problem: Problem, x0, loss, f_scale, max_nfev):
    return least_squares(
        problem.residuals,
        x0,
        jac=problem.jac,
        bounds=(problem.lower, problem.upper),
        method="trf",
        loss=loss,
        f_scale=f_scale,
        x_scale="jac",
        max_nfev=max_nfev,
        xtol=1e-14,
        ftol=1e-14,
        gtol=1e-14,
    )


#: Normal-consistent MAD factor: 1.4826·median|r| estimates the standard deviation of
#: Gaussian residuals, robustly (outliers barely move a median).
MAD_TO_SIGMA = 1.4826


def robust_scale(problem: Problem, x) -> float:
    """A data-driven residual scale for a robust loss: 1.4826·median |r| of the weighted data
    residuals r = √w̃ (ô − o) at ``x`` (the units the minimiser sees: eV for energies at the
    largest energy weight), floored at 1e-6 of the weighted references' RMS so that an
    exact fit does not give a zero scale."""
    keep = problem.w > 0
    r = (problem.sw * (problem.model.predict(x) - problem.y))[keep]
    ref = float(np.sqrt(np.mean((problem.sw * problem.y)[keep] ** 2)))
    floor = 1e-6 * ref if ref > 0 else 1e-12
    return max(MAD_TO_SIGMA * float(np.median(np.abs(r))), floor)


def fit_least_squares(
    problem: Problem,
    *,
    x0=None,
    loss: str = "linear",
    f_scale: float | None = None,
    n_starts: int = 0,
    seed: int | None = 0,
    max_nfev: int | None = None,
    **_ignored,
) -> FitResult:
    """Bounded trust-region-reflective least squares with the analytic Jacobian.

    Parameters
    ----------
    problem : Problem
    x0 : ndarray, shape (n_free,), optional
        Start; default :func:`starting_point`.
    loss : {"linear", "soft_l1", "huber", "cauchy", "arctan"}
        Robust loss of scipy's least_squares.
    f_scale : float, optional
        Residual scale of a robust loss, in the units of the weighted residuals (eV for
        energies at the largest energy weight): residuals beyond it are down-weighted.
        Default: data-driven, 1.4826·median |r| of a plain (``loss="linear"``) fit from
        the same start (:func:`robust_scale`), which the robust fit then starts from; the
        value and its source are in ``extra["f_scale"]``, ``extra["f_scale_source"]``.
    n_starts : int
        Additional seeded random starts in the bounds; the lowest cost wins.
    seed : int
        Seed of the random starts.
    """
    if loss not in LOSSES:
        raise FitError(f"loss: expected one of {', '.join(LOSSES)}, got {loss!r}")
    if f_scale is not None and not (np.isfinite(f_scale) and f_scale > 0):
        raise FitError(f"f_scale must be > 0 (eV), got {f_scale}")
    t0 = time.perf_counter()
    if x0 is None:
        x0, how = starting_point(problem)
    else:
        x0, how = _inside(problem, np.asarray(x0, dtype=float)), "given"
    best, nfev, njev = None, 0, 0
    source = "given"
    if f_scale is None and loss != "linear":
        # a scale of the data's own residuals: 1 eV (scipy's default) makes a robust loss
        # on meV residuals the plain squared error
        try:
            plain = _run_ls(problem, x0, "linear", 1.0, max_nfev)
            nfev, njev = plain.nfev, plain.njev or 0
            x0 = _inside(problem, plain.x)
        except (ValueError, np.linalg.LinAlgError):
            pass
        f_scale = robust_scale(problem, x0)
        source = "1.4826·median |residual| of the plain fit"
    elif f_scale is None:
        f_scale, source = 1.0, "not used by the plain squared error"
    starts = [x0]
    if n_starts:
        starts += list(random_starts(problem, int(n_starts), np.random.default_rng(seed)))
    for start in starts:
        try:
            sol = _run_ls(problem, start, loss, f_scale, max_nfev)
        except (ValueError, np.linalg.LinAlgError) as exc:  # a start the solver rejects
            sol = None
            message = str(exc)
            continue
        nfev += sol.nfev
        njev += sol.njev or 0
        if best is None or sol.cost < best.cost:
            best = sol
    wall = time.perf_counter() - t0
    if best is None:
        return diagnose(problem, x0, method="least_squares", success=False,
                        message=f"least_squares failed from every start: {message}",
                        wall_time=wall, seed=seed)
    return diagnose(
        problem,
        best.x,
        method="least_squares",
        nfev=nfev,
        njev=njev,
        wall_time=wall,
        success=bool(best.success),
        message=best.message,
        seed=seed if n_starts else None,
        extra={"start": how, "n_starts": 1 + int(n_starts), "loss": loss, "f_scale": f_scale,
               "f_scale_source": source, "optimality": float(best.optimality)},
    )
