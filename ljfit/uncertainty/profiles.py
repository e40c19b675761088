"""Cost profiles: one parameter fixed on a grid, the others re-optimised (see
:mod:`ljfit.uncertainty`)."""

from __future__ import annotations

import numpy as np

from ..errors import FitError
from ..fitting import FitResult, fit_problem
from ..fitting.linear import scaled_nnls
from ..params import LINEAR_KINDS, slot_parameter_names
from ._common import _check_dataset, _check_result, _references
from .results import Profile

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
