"""Global searches: basinhopping, dual_annealing, differential_evolution.

All three search in internal coordinates (log ε, σ, offset; see
:class:`ljfit.fitting.problem.Problem`) inside finite bounds, use the analytic gradient in
their local minimiser (L-BFGS-B), are seeded (``rng=``), and finish with a bounded
``least_squares`` polish from the best point found, so that their optimum is as tight as a
local fit's. basinhopping honours bounds in its local minimiser only; its random steps are
scaled to each parameter's range and an accept test rejects any step outside the bounds.

A tqdm progress bar (iterations, best cost) is shown when stderr is a terminal, unless
``progress=False``.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from scipy.optimize import basinhopping, differential_evolution, dual_annealing

from .local import _inside, _run_ls, starting_point
from .problem import Problem
from .result import FitResult, diagnose

__all__ = ["fit_basinhopping", "fit_dual_annealing", "fit_differential_evolution"]


class _Bar:
    """tqdm bar that shows the best cost; silent when not interactive or disabled."""

    def __init__(self, total, desc, progress):
        from tqdm.auto import tqdm

        show = sys.stderr.isatty() if progress is None else bool(progress)
        self.bar = tqdm(total=total, desc=desc, disable=not show, leave=False, unit="it")
        self.best = np.inf

    def step(self, f):
        if f < self.best:
            self.best = float(f)
            self.bar.set_postfix(best_cost=f"{self.best:.4g}")
        self.bar.update(1)

    def close(self):
        self.bar.close()


class _BoundedStep:
    """Random displacement scaled to each parameter's range (basinhopping adapts
    ``stepsize``), kept inside the bounds."""

    def __init__(self, lo, hi, rng, stepsize=0.5):
        self.lo, self.hi, self.rng = lo, hi, rng
        self.stepsize = stepsize

    def __call__(self, u):
        width = self.hi - self.lo
        u = u + self.rng.uniform(-1.0, 1.0, size=u.shape) * self.stepsize * width
        return np.clip(u, self.lo, self.hi)


def _polish(problem: Problem, u_best, t0, method, nfev, njev, seed, extra, success, message):
    x = _inside(problem, problem.to_x(u_best))
    sol = _run_ls(problem, x, "linear", 1.0, None)
    if sol.cost <= problem.cost(x):
        x = sol.x
    nfev += sol.nfev
    njev += sol.njev or 0
    return diagnose(
        problem, x, method=method, nfev=nfev, njev=njev,
        wall_time=time.perf_counter() - t0, success=success, message=message, seed=seed,
        extra=extra,
    )


def _counted(problem):
    counter = {"nfev": 0}

    def fg(u):
        counter["nfev"] += 1
        return problem.cost_and_grad_u(u)

    return fg, counter


def fit_basinhopping(problem: Problem, *, seed: int | None = 0, niter: int = 100,
                     T: float | None = None, stepsize: float = 0.5, x0=None,
                     progress=None, **_ignored) -> FitResult:
    """Basin hopping with L-BFGS-B local minimisations (analytic gradient, bounds).

    ``T`` (eV²) defaults to the cost at the start, so that uphill hops of the order of the
    problem's own cost scale are accepted. ``stepsize`` is a fraction of each parameter's
    (internal) range: LJ costs have wide flat plateaus (σ or ε so small that every energy
    vanishes) from which short hops never escape, so hops are wide by default.
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    lo, hi = problem.search_bounds()
    x_start = starting_point(problem)[0] if x0 is None else _inside(problem, np.asarray(x0, float))
    u0 = np.clip(problem.to_u(x_start), lo, hi)
    fg, counter = _counted(problem)
    temperature = float(T) if T is not None else max(problem.cost(x_start), 1e-12)
    bar = _Bar(niter, "basinhopping", progress)

    def accept(f_new, x_new, f_old, x_old):  # noqa: ARG001 (scipy's signature)
        return bool(np.all(x_new >= lo) and np.all(x_new <= hi))

    def callback(u, f, accepted):  # noqa: ARG001
        bar.step(f)

    try:
        res = basinhopping(
            fg,
            u0,
            niter=niter,
            T=temperature,
            minimizer_kwargs={"method": "L-BFGS-B", "jac": True, "bounds": list(zip(lo, hi))},
            take_step=_BoundedStep(lo, hi, np.random.default_rng(rng.integers(2**63)), stepsize),
            accept_test=accept,
            callback=callback,
            rng=rng,
        )
    finally:
        bar.close()
    success = bool(res.lowest_optimization_result.success)
    msg = f"basinhopping ({niter} hops): " + "; ".join(map(str, res.message))
    return _polish(problem, res.x, t0, "basinhopping", counter["nfev"], counter["nfev"], seed,
                   {"niter": niter, "T": temperature}, success, msg)


def fit_dual_annealing(problem: Problem, *, seed: int | None = 0, maxiter: int = 300,
                       x0=None, progress=None, **_ignored) -> FitResult:
    """Generalised simulated annealing (scipy's dual_annealing) with an L-BFGS-B local
    search that uses the analytic gradient."""
    t0 = time.perf_counter()
    lo, hi = problem.search_bounds()
    x_start = starting_point(problem)[0] if x0 is None else _inside(problem, np.asarray(x0, float))
    u0 = np.clip(problem.to_u(x_start), lo, hi)
    fg, counter = _counted(problem)
    bar = _Bar(maxiter, "dual_annealing", progress)

    def f_only(u):
        return fg(u)[0]

    def callback(u, f, context):  # noqa: ARG001
        bar.step(f)

    try:
        res = dual_annealing(
            f_only,
            bounds=list(zip(lo, hi)),
            maxiter=maxiter,
            # scipy adds the bounds to the local search only when no minimizer_kwargs are
            # given: without them L-BFGS-B leaves the box (exp overflow in log ε)
            minimizer_kwargs={"method": "L-BFGS-B", "jac": lambda u: fg(u)[1],
                              "bounds": list(zip(lo, hi))},
            rng=np.random.default_rng(seed),
            x0=u0,
            callback=callback,
        )
    finally:
        bar.close()
    msg = "dual_annealing: " + "; ".join(map(str, np.atleast_1d(res.message)))
    return _polish(problem, res.x, t0, "dual_annealing", counter["nfev"], counter["nfev"], seed,
                   {"maxiter": maxiter}, bool(res.success), msg)


def fit_differential_evolution(problem: Problem, *, seed: int | None = 0, maxiter: int = 300,
                               popsize: int = 15, x0=None, progress=None,
                               **_ignored) -> FitResult:
    """Differential evolution in the bounds, polished by least_squares."""
    t0 = time.perf_counter()
    lo, hi = problem.search_bounds()
    x_start = starting_point(problem)[0] if x0 is None else _inside(problem, np.asarray(x0, float))
    u0 = np.clip(problem.to_u(x_start), lo, hi)
    fg, counter = _counted(problem)
    bar = _Bar(maxiter, "differential_evolution", progress)

    def callback(intermediate_result):
        bar.step(intermediate_result.fun)

    try:
        res = differential_evolution(
            lambda u: fg(u)[0],
            bounds=list(zip(lo, hi)),
            maxiter=maxiter,
            popsize=popsize,
            rng=np.random.default_rng(seed),
            x0=u0,
            polish=False,
            callback=callback,
            tol=1e-8,
        )
    finally:
        bar.close()
    return _polish(problem, res.x, t0, "differential_evolution", counter["nfev"], 0, seed,
                   {"maxiter": maxiter, "popsize": popsize}, bool(res.success),
                   f"differential_evolution: {res.message}")
