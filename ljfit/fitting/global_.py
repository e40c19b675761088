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

from .local import _inside, _run_ls, start_and_bound, with_bound
from .problem import Problem
from .result import FitResult, diagnose

__all__ = ["fit_basinhopping", "fit_dual_annealing", "fit_differential_evolution"]


#: Relative cost improvement by which least_squares from the start must beat a search
#: to replace its answer.
_KEEP_RTOL = 1e-9


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


class _Search:
    """What every global search shares: finite bounds and a start in internal coordinates,
    the objective with its gradient (counted, and cached for the last point since scipy
    asks for the value and the gradient separately), a progress bar, and the final polish.
    """

    def __init__(self, problem: Problem, x0, desc: str, total: int, progress):
        self.t0 = time.perf_counter()
        self.problem = problem
        self.lo, self.hi = problem.search_bounds()
        self.bounds = list(zip(self.lo, self.hi))
        self.bound_info = {}
        if x0 is None:
            # for a linear model the certified bounded linear optimum (and its bound)
            self.x_start, _, self.bound_info = start_and_bound(problem)
        else:
            self.x_start = _inside(problem, np.asarray(x0, dtype=float))
        self.u0 = np.clip(problem.to_u(self.x_start), self.lo, self.hi)
        self.nfev = 0
        self._last = None
        self.bar = _Bar(total, desc, progress)

    def fg(self, u):
        """(F, ∇F) in internal coordinates."""
        if self._last is not None and np.array_equal(u, self._last[0]):
            return self._last[1]
        self.nfev += 1
        value = self.problem.cost_and_grad_u(u)
        self._last = (np.array(u, dtype=float), value)
        return value

    def f(self, u):
        return self.fg(u)[0]

    def grad(self, u):
        return self.fg(u)[1]

    def finish(self, u_best, method, seed, extra, success, message) -> FitResult:
        """Close the bar, polish the best point with least_squares, diagnose.

        A global search must never end above what a local fit from its own start reaches
        (basinhopping, dual_annealing and differential_evolution sometimes did, in another
        basin): the start is polished too and the lower of the two is returned
        (``extra["returned"]`` says which)."""
        self.bar.close()
        problem = self.problem
        x = _inside(problem, problem.to_x(u_best))
        sol = _run_ls(problem, x, "linear", 1.0, None)
        if sol.cost <= problem.internal_cost(x):  # (least_squares' cost is ½ r·r)
            x = sol.x
        nfev, njev = self.nfev + sol.nfev, self.nfev + (sol.njev or 0)
        extra = dict(extra, returned="search")
        try:
            local = _run_ls(problem, self.x_start, "linear", 1.0, None)
        except (ValueError, np.linalg.LinAlgError):
            local = None
        if local is not None:
            nfev, njev = nfev + local.nfev, njev + (local.njev or 0)
            # only a real improvement replaces the search's answer (ties keep it)
            if local.cost < problem.internal_cost(x) * (1 - _KEEP_RTOL):
                x = local.x
                extra["returned"] = "least_squares from the start (lower than the search)"
        return with_bound(diagnose(
            problem, x, method=method, nfev=nfev, njev=njev,
            wall_time=time.perf_counter() - self.t0,
            success=success, message=message, seed=seed, extra=extra,
        ), self.bound_info)


def fit_basinhopping(problem: Problem, *, seed: int | None = 0, niter: int = 100,
                     T: float | None = None, stepsize: float = 0.5, x0=None,
                     progress=None, **_ignored) -> FitResult:
    """Basin hopping with L-BFGS-B local minimisations (analytic gradient, bounds).

    ``T`` defaults to the (relative) cost at the start, so that uphill hops of the order of the
    problem's own cost scale are accepted. ``stepsize`` is a fraction of each parameter's
    (internal) range: LJ costs have wide flat plateaus (σ or ε so small that every energy
    vanishes) from which short hops never escape, so hops are wide by default.
    """
    search = _Search(problem, x0, "basinhopping", niter, progress)
    lo, hi = search.lo, search.hi
    rng = np.random.default_rng(seed)
    temperature = float(T) if T is not None else max(problem.cost(search.x_start), 1e-12)

    def accept(f_new, x_new, f_old, x_old):  # noqa: ARG001 (scipy's signature)
        return bool(np.all(x_new >= lo) and np.all(x_new <= hi))

    try:
        res = basinhopping(
            search.fg,
            search.u0,
            niter=niter,
            T=temperature,
            minimizer_kwargs={"method": "L-BFGS-B", "jac": True, "bounds": search.bounds},
            take_step=_BoundedStep(lo, hi, np.random.default_rng(rng.integers(2**63)), stepsize),
            accept_test=accept,
            callback=lambda u, f, accepted: search.bar.step(f),
            rng=rng,
        )
    except BaseException:
        search.bar.close()
        raise
    msg = f"basinhopping ({niter} hops): " + "; ".join(map(str, res.message))
    return search.finish(res.x, "basinhopping", seed, {"niter": niter, "T": temperature},
                         bool(res.lowest_optimization_result.success), msg)


def fit_dual_annealing(problem: Problem, *, seed: int | None = 0, maxiter: int = 300,
                       x0=None, progress=None, **_ignored) -> FitResult:
    """Generalised simulated annealing (scipy's dual_annealing) with an L-BFGS-B local
    search that uses the analytic gradient."""
    search = _Search(problem, x0, "dual_annealing", maxiter, progress)
    try:
        res = dual_annealing(
            search.f,
            bounds=search.bounds,
            maxiter=maxiter,
            # scipy adds the bounds to the local search only when no minimizer_kwargs are
            # given: without them L-BFGS-B leaves the box (exp overflow in log ε)
            minimizer_kwargs={"method": "L-BFGS-B", "jac": search.grad,
                              "bounds": search.bounds},
            rng=np.random.default_rng(seed),
            x0=search.u0,
            callback=lambda u, f, context: search.bar.step(f),
        )
    except BaseException:
        search.bar.close()
        raise
    msg = "dual_annealing: " + "; ".join(map(str, np.atleast_1d(res.message)))
    return search.finish(res.x, "dual_annealing", seed, {"maxiter": maxiter},
                         bool(res.success), msg)


def fit_differential_evolution(problem: Problem, *, seed: int | None = 0, maxiter: int = 300,
                               popsize: int = 15, x0=None, progress=None,
                               **_ignored) -> FitResult:
    """Differential evolution in the bounds, polished by least_squares."""
    search = _Search(problem, x0, "differential_evolution", maxiter, progress)

    def callback(intermediate_result):  # scipy passes an OptimizeResult to this name
        search.bar.step(intermediate_result.fun)

    try:
        res = differential_evolution(
            search.f,
            bounds=search.bounds,
            maxiter=maxiter,
            popsize=popsize,
            rng=np.random.default_rng(seed),
            x0=search.u0,
            polish=False,
            callback=callback,
            tol=1e-8,
        )
    except BaseException:
        search.bar.close()
        raise
    return search.finish(res.x, "differential_evolution", seed,
                         {"maxiter": maxiter, "popsize": popsize}, bool(res.success),
                         f"differential_evolution: {res.message}")
