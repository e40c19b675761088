"""Local fits: ``scipy.optimize.least_squares`` (trf) and the starting-point heuristics.

Starting point, never a silent unphysical default: for per-site and per-pair scopes the
exact linear solve *under the bounds* (the NNLS optimum when it lies inside them, else the
certified optimum of the cone program, :mod:`ljfit.fitting.conic`), which is also a
certified lower bound of the cost that every method reports (``lower_bound``, ``gap``); for
per-element with a mixing rule, the certified per-pair optimum on the same features under
the pair bounds the element bounds imply (ε_ab ∈ [√(ε_lo,a ε_lo,b), √(ε_hi,a ε_hi,b)],
σ_ab between the mixed lower and upper bounds), then per-element values from the pair values
by least squares on the mixing rule (log ε_ab = ½(log ε_a + log ε_b); σ_ab = (σ_a + σ_b)/2
or its log for the geometric rule). That per-pair optimum is a lower bound of any mixing-rule
fit (``extra["per_pair_lower_bound"]``): the difference is what the mixing rule costs.
Anything undefined falls back to the spec's values; the result is moved inside the bounds.
"""

from __future__ import annotations

import time

import numpy as np

from ..errors import FitError
from ..params import LINEAR_KINDS, ParamSpec
from .conic import GAP_TOL, relative_gap
from .problem import Problem
from .result import FitResult, diagnose

__all__ = ["fit_least_squares", "starting_point", "start_and_bound", "per_pair_bound",
           "with_bound", "random_starts", "robust_scale", "LOSSES"]

LOSSES = ("linear", "soft_l1", "huber", "cauchy", "arctan")


def _inside(problem: Problem, x) -> np.ndarray:
    """Move x strictly inside the bounds (least_squares needs a feasible start)."""
    lo, hi = problem.lower, problem.upper
    width = np.where(np.isfinite(hi - lo), hi - lo, np.maximum(1.0, np.abs(x)))
    pad = 1e-10 * width
    return np.clip(x, lo + pad, hi - pad)


def _pair_spec(model, pair_model):
    """The per-pair spec whose bounds the per-element bounds imply (fixed values count as
    their own bounds; a σ_ab fixed by two fixed σ stays fixed)."""
    spec = model.spec
    bounds, fixed = {}, {}

    def rng(name):
        p = spec[name]
        return (p.value, p.value) if not p.vary else (p.lower, p.upper)

    for slot, label in zip(model.features.slots, model.features.labels):
        a, b = slot
        (ea_lo, ea_hi), (eb_lo, eb_hi) = rng(f"epsilon[{a}]"), rng(f"epsilon[{b}]")
        (sa_lo, sa_hi), (sb_lo, sb_hi) = rng(f"sigma[{a}]"), rng(f"sigma[{b}]")
        e_lo, e_hi = np.sqrt(ea_lo * eb_lo), np.sqrt(ea_hi * eb_hi)
        if model.mixing == "lorentz-berthelot":
            s_lo, s_hi = 0.5 * (sa_lo + sb_lo), 0.5 * (sa_hi + sb_hi)
        else:
            s_lo, s_hi = np.sqrt(sa_lo * sb_lo), np.sqrt(sa_hi * sb_hi)
        if not e_lo < e_hi:  # both ε fixed: not linear; relax to the elements' bounds
            pa, pb = spec[f"epsilon[{a}]"], spec[f"epsilon[{b}]"]
            e_lo, e_hi = np.sqrt(pa.lower * pb.lower), np.sqrt(pa.upper * pb.upper)
        bounds[f"epsilon[{label}]"] = (float(e_lo), float(e_hi))
        if s_lo < s_hi:
            bounds[f"sigma[{label}]"] = (float(s_lo), float(s_hi))
        else:
            fixed[f"sigma[{label}]"] = float(s_lo)
    pair = pair_model.spec.with_bounds(bounds).with_fixed(fixed)
    # every other parameter (offset, reference energies) as the element model has it
    return ParamSpec([spec[p.name] if p.kind not in ("epsilon", "sigma") and p.name in spec
                      else p for p in pair])


def _same_rows(problem: Problem, model) -> Problem:
    """The problem's observations (without its priors) for another model on the same
    features."""
    return problem.with_model(model)


def per_pair_bound(problem: Problem):
    """The certified per-pair optimum of a per-element model's data under the implied
    bounds: ``(pair_model, x_pair, info)`` with ``info`` = {"per_pair_lower_bound",
    "per_pair_cost", "per_pair_gap"} (costs as :meth:`Problem.cost`, gap relative), or
    None when it cannot be built."""
    from ..model import LJModel
    from .linear import LinearSystem

    model = problem.model
    try:
        pair_model = LJModel(model.features, scope="per-pair", offset=model.offset,
                             reference_energies=model.reference_energies)
        pair_model = pair_model.with_spec(_pair_spec(model, pair_model))
        system = LinearSystem(_same_rows(problem, pair_model))
    except FitError:
        return None
    x, cost, lower, _ = _certified_linear(system, problem.scale)
    gap = relative_gap(cost, lower, _floor(problem))
    info = {"per_pair_lower_bound": float(lower), "per_pair_cost": float(cost),
            "per_pair_gap": float(gap)}
    return pair_model, x, info


def _certified_linear(system, scale=1.0):
    """(free parameters, cost, certified lower bound, whether the bounds were active) of a
    linear system's bounded optimum; costs in the units of :meth:`Problem.cost` (the
    system's relative cost times the problem's ``scale``)."""
    c = system.solve_nnls()
    A, b = system.rows_matrix(None)
    if system.classify(c, system.empty_slots(A)) != "outside":
        r = A @ c - b
        cost = scale * 0.5 * float(r @ r)
        return system.free_parameters(c), cost, cost, False
    sol = system.solve_bounded()
    full = system.parameters(sol.coefficients, sol.epsilon, sol.sigma)
    return (full[system.model.spec.free], scale * sol.cost,
            scale * min(sol.lower_bound, sol.cost), True)


def _per_element_from_pairs(problem: Problem):
    """(start, info) for a per-element model from the certified per-pair optimum."""
    model = problem.model
    found = per_pair_bound(problem)
    if found is None:
        return None, {}
    pair_model, x_pair, info = found
    linear = {p.name: p for p in model.spec if p.kind in LINEAR_KINDS}
    full = pair_model.spec.full(np.where(np.isfinite(x_pair), x_pair, pair_model.spec.x0))
    pair_eps, pair_sig = pair_model.slot_parameters(full[pair_model.spec.free])
    ok = np.isfinite(pair_eps) & np.isfinite(pair_sig) & (pair_eps > 0) & (pair_sig > 0)
    if not ok.any():
        return None, info
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
    return np.array([values.get(n, spec[n].value) for n in spec.free_names]), info


def _floor(problem: Problem) -> float:
    """The cost below which gaps are measured against it instead (as in the cone
    program): 1e-15 × ½ Σ w y², in the units of :meth:`Problem.cost`."""
    return problem.scale * 1e-15 * 0.5 * float(np.sum(problem.w * problem.y**2))


def start_and_bound(problem: Problem) -> tuple:
    """(x0, how, info): the starting point of :func:`starting_point` and what its solve
    certifies: ``{"lower_bound": cost}`` for a linear model (a lower bound of the cost of any
    parameters in the bounds), ``{"per_pair_lower_bound", …}`` for a mixing rule."""
    from .linear import LinearSystem, linear_applies

    model = problem.model
    x0, how, info = None, "spec values", {}
    if linear_applies(model):
        system = LinearSystem(_same_rows(problem, model))
        x, _, lower, bounded = _certified_linear(system, problem.scale)
        x0 = np.where(np.isfinite(x), x, model.spec.x0)
        how = "certified bounded linear solve" if bounded else "linear solve"
        info = {"lower_bound": float(lower), "floor": _floor(problem)}
    elif model.scope == "per-element":
        x0, info = _per_element_from_pairs(problem)
        how = "per-pair linear solve mapped to elements"
    if x0 is None or not np.all(np.isfinite(x0)):
        x0, how = model.spec.x0, "spec values"
    return _inside(problem, x0), how, info


def starting_point(problem: Problem) -> tuple:
    """(x0, how): a physical starting point inside the bounds and where it came from."""
    x0, how, _ = start_and_bound(problem)
    return x0, how


def with_bound(result: FitResult, info: dict) -> FitResult:
    """Attach what the starting solve certifies to a result: its ``lower_bound``, ``gap``
    and ``certified`` (linear models), or ``extra["per_pair_lower_bound"]`` (mixing
    rules)."""
    lower = info.get("lower_bound")
    if lower is not None and np.isfinite(lower):
        cost = float(result.cost)
        lower = min(float(lower), cost)
        result.lower_bound = lower
        result.gap = relative_gap(cost, lower, info.get("floor", 0.0))
        result.certified = bool(result.gap <= GAP_TOL)
    for key in ("per_pair_lower_bound", "per_pair_cost", "per_pair_gap"):
        if key in info:
            result.extra[key] = info[key]
    return result


def random_starts(problem: Problem, n: int, rng: np.random.Generator) -> np.ndarray:
    """n points drawn in the (finite search) bounds, ε log-uniform: shape (n, n_free)."""
    lo, hi = problem.search_bounds()
    u = rng.uniform(lo, hi, size=(n, len(lo)))
    return np.array([_inside(problem, problem.to_x(row)) for row in u])


def _run_ls(problem: Problem, x0, loss, f_scale, max_nfev):
    # imported here: scipy.optimize (~0.45 s) is not needed by a linear fit
    from scipy.optimize import least_squares

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
    info = {}
    if x0 is None:
        x0, how, info = start_and_bound(problem)
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
    return with_bound(diagnose(
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
    ), info)
