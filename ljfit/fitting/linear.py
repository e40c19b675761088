r"""Exact solve of the linear problem in (C_n, C_m, free linear unknowns), under the bounds.

For per-site and per-pair scopes the model is :math:`E = Xc` (see
:meth:`ljfit.model.LJModel.design_matrix`), and ε ≥ 0, σ ≥ 0 is exactly
:math:`C_n, C_m \ge 0`. The weighted problem

.. math:: \min_{c \ge 0}\ \| W^{1/2}(Xc - y) \|^2

is a convex non-negative least-squares problem; its solution (Lawson–Hanson NNLS, with the
free unknowns — an offset, every column that is not ``Cn[…]``/``Cm[…]`` — split into two
non-negative columns) is the *certified global optimum* of the LJ fit without bounds on ε,
σ. It maps back by :math:`\sigma = (C_n/C_m)^{1/(n-m)}`, :math:`\varepsilon = C_m/(C\sigma^m)`
(LJ: :math:`\varepsilon = C_6^2/(4C_{12})`, :math:`\sigma = (C_{12}/C_6)^{1/6}`).

Bounds. When that optimum maps to parameters inside the bounds with every coefficient
positive, it is also the optimum under the bounds and is returned as it is (the NNLS path,
unchanged). Otherwise — a value outside its bounds, or a coefficient at 0 (ε or σ
undefined, infeasible when ε ≥ ε_lo > 0) — the bounds are honoured exactly by the cone
program of :mod:`ljfit.fitting.conic` (σ bounds linear, ε ≤ ε_hi a power / second-order
cone, ε ≥ ε_lo by branch and bound), which returns feasible parameters, a certified lower
bound and the relative gap.

A fixed σ_k keeps the problem linear: :math:`C_{n,k} = \sigma_k^{n-m} C_{m,k}`, so the slot
is one column :math:`C_{m,k}(X_{m,k} + \sigma_k^{n-m} X_{n,k})` and ε_k's bounds are bounds
on :math:`C_{m,k}`. A fixed ε is not linear (the nonlinear methods handle it).

Columns are scaled to unit norm first: r⁻¹² and r⁻⁶ sums differ by orders of magnitude.
Gaussian priors on ``offset`` or ``e0`` are rows on their own coefficient (the problem stays
a convex NNLS, certified for the cost with its prior terms); a prior on ε or σ is not linear
in (C_n, C_m) and is refused.
"""

from __future__ import annotations

import time

import numpy as np

# scipy's NNLS, whose round-off the results keep: the shipped example's parameters.csv is
# pinned to 15 digits, and a Lawson-Hanson solve of our own, tested against it to 1e-12 on
# random, rank-deficient and split-column problems, still moved the last digits of that
# file's standard errors (so did the exactly rounded solution on the same active set). It
# is loaded without ``import scipy.optimize`` (~0.45 s of its package __init__): _scipy_nnls.

from ..errors import FitError
from ..params import slot_parameter_names
from ._scipy_nnls import nnls
from .conic import relative_gap
from .problem import Problem
from .result import FitResult, diagnose

__all__ = ["fit_linear", "solve_linear", "LinearSystem", "scaled_nnls", "linear_applies",
           "linear_refusal"]


def linear_refusal(model) -> str | None:
    """Why the linear method cannot fit ``model`` (``None`` when it can): it needs the
    per-site or per-pair scope with every ε free (σ may be fixed)."""
    if model.scope == "per-element":
        return (f"needs the per-site or per-pair scope (this model is {model.scope}); use "
                "least_squares or a global method")
    fixed = [p.name for p in model.spec if p.kind == "epsilon" and not p.vary]
    if fixed:
        return (f"needs every epsilon free ({', '.join(fixed)} fixed: not linear in the "
                "coefficients); use least_squares or a global method")
    return None


def linear_applies(model) -> bool:
    """True when the linear method applies (see :func:`linear_refusal`)."""
    return linear_refusal(model) is None


def scaled_nnls(A, b, unbounded) -> np.ndarray:
    """min ‖A c − b‖ with c ≥ 0 except in the ``unbounded`` columns (split as c⁺ − c⁻),
    columns scaled to unit norm first.

    Parameters
    ----------
    A : ndarray, shape (n_rows, n_columns)
    b : ndarray, shape (n_rows,)
    unbounded : ndarray of bool, shape (n_columns,)
    """
    norms = np.linalg.norm(A, axis=0)
    norms = np.where(norms > 0, norms, 1.0)
    As = A / norms
    n_col = As.shape[1]
    if unbounded.any():
        As = np.hstack([As, -As[:, unbounded]])
    cs, _ = nnls(As, b, maxiter=50 * As.shape[1])
    c = cs[:n_col].copy()
    if unbounded.any():
        c[unbounded] -= cs[n_col:]
    return c / norms


def _full_design_matrix(model):
    """The design matrix with a C_n and a C_m column for every slot, also when some σ are
    fixed (the model's own ``design_matrix`` refuses fixed parameters: it describes the
    model with every ε, σ free, which is the matrix wanted here)."""
    fixed = [p.name for p in model.spec if p.kind in ("epsilon", "sigma") and not p.vary]
    if fixed:
        model = model.with_spec(model.spec.with_free(fixed))
    return model.design_matrix()


class LinearSystem:
    """The weighted (and prior-augmented) linear problem of a :class:`Problem`, assembled
    once, solvable on any set of rows (repeats allowed): what the linear fit, the bootstrap
    and the cross-validation share.

    Rows are the model's stacked observations (energies, then force and stress rows);
    :meth:`rows_of` turns structure indices into them.

    :meth:`solve` honours the spec's bounds: the NNLS solution when it is inside them, else
    the certified cone program (:meth:`solve_bounded`).

    Raises
    ------
    FitError
        When the model is not linear (see :func:`linear_refusal`).
    """

    def __init__(self, problem: Problem):
        model = problem.model
        why = linear_refusal(model)
        if why:
            raise FitError(f"the linear solve {why}")
        X, columns = _full_design_matrix(model)
        self.model = model
        self.X = X
        self.columns = columns
        self.fixed = model.fixed_linear()  # fixed offset / e0 on the energy rows
        # every column that is not a pair coefficient (offset, e0) takes either sign
        self.unbounded = np.array([not c.startswith(("Cn[", "Cm[")) for c in columns],
                                  dtype=bool)
        self.Xw = problem.sw[:, None] * X
        self.yw = problem.sw * (problem.y - self.fixed)
        self.data_rows = np.flatnonzero(problem.w > 0)
        self.prior_rows = None
        if problem.priors:
            bad = [n for n in problem.priors if n not in columns]
            if bad:
                raise FitError(f"method linear: a Gaussian prior on {', '.join(bad)} is not "
                               "linear in the coefficients; use least_squares")
            # the prior residual (c_j − μ)/(δ √s) on its own column, as Problem.residuals
            rows = np.zeros((problem.n_priors, len(columns)))
            k = [columns.index(n) for n in problem.priors]
            rows[np.arange(problem.n_priors), k] = problem._prior_scale
            self.prior_rows = (rows, problem.prior_value * problem._prior_scale)
        self._slots()

    def rows_of(self, structures) -> np.ndarray:
        """Row indices of the structures ``structures`` (every observable)."""
        return self.model.rows_of(structures)

    # ----------------------------------------------------------------------------------
    def _slots(self):
        """Slot columns, bounds and fixed σ from the spec."""
        model, spec = self.model, self.model.spec
        labels = model.features.labels
        index = {c: j for j, c in enumerate(self.columns)}
        self.labels = list(labels)
        self.cn_columns = np.array([index[f"Cn[{s}]"] for s in labels], dtype=int)
        self.cm_columns = np.array([index[f"Cm[{s}]"] for s in labels], dtype=int)
        names = [slot_parameter_names(model.scope, slot) for slot in model.features.slots]
        self.eps_names = [e for e, _ in names]
        self.sig_names = [s for _, s in names]
        eps = [spec[n] for n in self.eps_names]
        sig = [spec[n] for n in self.sig_names]
        self.eps_lo = np.array([p.lower for p in eps])
        self.eps_hi = np.array([p.upper for p in eps])
        self.sig_lo = np.array([p.lower for p in sig])
        self.sig_hi = np.array([p.upper for p in sig])
        self.sig_fixed = np.array([np.nan if p.vary else p.value for p in sig])
        fixed = np.isfinite(self.sig_fixed)
        # expansion c = T c_reduced: a fixed-σ slot has one column (C_m; C_n = σ^p C_m)
        n_col = len(self.columns)
        keep = np.ones(n_col, dtype=bool)
        keep[self.cn_columns[fixed]] = False
        T = np.eye(n_col)[:, keep]
        p = model.potential.n - model.potential.m
        kept = {j: i for i, j in enumerate(np.flatnonzero(keep))}
        for k in np.flatnonzero(fixed):
            T[self.cn_columns[k], kept[self.cm_columns[k]]] = self.sig_fixed[k] ** p
        self.T = T if fixed.any() else None
        self.unbounded_reduced = self.unbounded[keep]

    def rows_matrix(self, rows=None):
        """(A, b): the weighted rows (all, or ``rows``) and the prior rows, if any."""
        A, b = (self.Xw, self.yw) if rows is None else (self.Xw[rows], self.yw[rows])
        if self.prior_rows is not None:
            A, b = np.vstack([A, self.prior_rows[0]]), np.concatenate([b, self.prior_rows[1]])
        return A, b

    def empty_slots(self, A) -> np.ndarray:
        """Slots without any pair in the rows of ``A`` (both columns zero): the data say
        nothing about their ε, σ, which stay undefined (``nan``)."""
        return ~(np.any(A[:, self.cn_columns] != 0, axis=0)
                 | np.any(A[:, self.cm_columns] != 0, axis=0))

    def solve_nnls(self, rows=None) -> np.ndarray:
        """NNLS coefficients, shape (n_columns,): ε, σ ≥ 0 only (no other bounds)."""
        A, b = self.rows_matrix(rows)
        if self.T is None:
            return scaled_nnls(A, b, self.unbounded)
        return self.T @ scaled_nnls(A @ self.T, b, self.unbounded_reduced)

    def slot_parameters(self, c):
        """(ε, σ) per slot from coefficients (``nan`` where a coefficient is not positive;
        a fixed σ is kept exactly)."""
        k = len(self.labels)
        pot = self.model.potential
        eps, sig = pot.from_coefficients(c[self.cn_columns], c[self.cm_columns])
        fixed = np.isfinite(self.sig_fixed)
        if fixed.any():
            cm = c[self.cm_columns]
            s = self.sig_fixed
            with np.errstate(divide="ignore", invalid="ignore"):
                e_fixed = np.where(cm > 0, cm / (pot.prefactor * s**pot.m), np.nan)
            eps = np.where(fixed, e_fixed, eps)
            sig = np.where(fixed, s, sig)
        return eps.reshape(k), sig.reshape(k)

    def classify(self, c, empty=None) -> str:
        """Where NNLS coefficients lie with respect to the bounds, over the non-empty slots:

        ``"inside"``: every coefficient positive, every ε, σ inside its bounds — the NNLS
        optimum is the bounded optimum. ``"closure"``: some coefficient is 0 but the point is
        a limit of parameters inside the bounds (a = b = 0 with ε_lo = 0 or σ_lo = 0;
        a = 0 < b with σ_lo = 0 and ε_hi = ∞; b = 0 < a with σ_hi = ∞ and ε_lo = 0): the
        cost is the bounded infimum, not attained by any parameters. ``"outside"``: the
        bounds exclude it — the cone program is needed.
        """
        eps, sig = self.slot_parameters(c)
        empty = np.zeros(len(eps), bool) if empty is None else empty
        a, b = c[self.cn_columns], c[self.cm_columns]
        fixed = np.isfinite(self.sig_fixed)
        a = np.where(fixed, np.where(b > 0, 1.0, 0.0), a)  # a fixed σ: only b matters
        state = "inside"
        for k in np.flatnonzero(~empty):
            if a[k] > 0 and b[k] > 0:
                if not (self.eps_lo[k] <= eps[k] <= self.eps_hi[k]
                        and self.sig_lo[k] <= sig[k] <= self.sig_hi[k]):
                    return "outside"
                continue
            el, eh, sl, sh = self.eps_lo[k], self.eps_hi[k], self.sig_lo[k], self.sig_hi[k]
            if not (a[k] > 0) and not (b[k] > 0):
                ok = el == 0 or (sl == 0 and not fixed[k])
            elif not (a[k] > 0):
                ok = sl == 0 and eh == np.inf and not fixed[k]
            else:
                ok = sh == np.inf and el == 0 and not fixed[k]
            if not ok:
                return "outside"
            state = "closure"
        return state

    def inside(self, c) -> bool:
        """True when every slot's coefficients are positive and map inside the bounds."""
        return self.classify(c) == "inside"

    def cone_program(self, rows=None):
        """The :class:`~ljfit.fitting.conic.ConeProgram` of these rows, and the slots it
        leaves out (empty ones: no pair in these rows).

        Returns
        -------
        program : ConeProgram
        keep : ndarray of bool, shape (n_slots,)
            Slots in the program.
        columns : ndarray of int
            Columns of the full coefficient vector the program's columns are.
        """
        from .conic import ConeProgram, SlotBounds

        A, b = self.rows_matrix(rows)
        keep = ~self.empty_slots(A)
        drop = np.zeros(len(self.columns), dtype=bool)
        drop[self.cn_columns[~keep]] = True
        drop[self.cm_columns[~keep]] = True
        columns = np.flatnonzero(~drop)
        new = {j: i for i, j in enumerate(columns)}
        bounds = SlotBounds(self.eps_lo[keep], self.eps_hi[keep], self.sig_lo[keep],
                            self.sig_hi[keep], self.sig_fixed[keep],
                            [lab for lab, k in zip(self.labels, keep) if k])
        program = ConeProgram(A[:, columns], b,
                              [new[j] for j in self.cn_columns[keep]],
                              [new[j] for j in self.cm_columns[keep]],
                              bounds, self.model.potential)
        return program, keep, columns

    def solve_bounded(self, rows=None, **options):
        """The certified bounded optimum (``options``: ``gap_tol``, ``max_nodes``,
        ``time_limit`` of :meth:`~ljfit.fitting.conic.ConeProgram.solve`).

        Returns
        -------
        BoundedSolution
            With ``coefficients`` of every column (0 for an empty slot) and ``epsilon``,
            ``sigma`` of every slot (``nan`` for an empty one).
        """
        program, keep, columns = self.cone_program(rows)
        sol = program.solve(**options)
        c = np.zeros(len(self.columns))
        c[columns] = sol.coefficients
        eps = np.full(len(self.labels), np.nan)
        sig = np.full(len(self.labels), np.nan)
        eps[keep], sig[keep] = sol.epsilon, sol.sigma
        sol.coefficients, sol.epsilon, sol.sigma = c, eps, sig
        return sol

    def solve(self, rows=None) -> np.ndarray:
        """Coefficients, shape (n_columns,), of the fit to ``rows`` (default: all) under
        the bounds: NNLS when its solution is inside them (or at a limit of them), else the
        cone program."""
        c = self.solve_nnls(rows)
        if self.classify(c, self.empty_slots(self.rows_matrix(rows)[0])) != "outside":
            return c
        return self.solve_bounded(rows).coefficients

    def predict(self, c, rows=None) -> np.ndarray:
        """X c (+ the fixed linear terms): stacked predictions of ``rows`` (default all)."""
        if rows is None:
            return self.X @ c + self.fixed
        return self.X[rows] @ c + self.fixed[rows]

    def parameters(self, c, eps=None, sig=None) -> np.ndarray:
        """Full parameter vector from coefficients; ``eps``, ``sig`` (per slot), when given,
        replace the values mapped back from ``c`` (exact values of a bounded solve, which
        the round trip through C_n/C_m could move by an ulp past a bound)."""
        model = self.model
        if self.T is None:
            full = model.from_coefficients(c)
        else:  # the model's mapping with every ε, σ free, then the fixed values restored
            free = model.with_spec(model.spec.with_free(
                [n for n in self.sig_names if not model.spec[n].vary]))
            full = free.from_coefficients(c)
        spec = model.spec
        if eps is None:
            eps, sig = self.slot_parameters(c)
        for k in range(len(self.labels)):
            full[spec.index(self.eps_names[k])] = eps[k]
            full[spec.index(self.sig_names[k])] = sig[k]
        for p in spec:
            if not p.vary:
                full[spec.index(p.name)] = p.value
        return full

    def free_parameters(self, c) -> np.ndarray:
        """Free parameter vector (``nan`` where a coefficient is not positive)."""
        return self.parameters(c)[self.model.spec.free]

    def rank(self) -> int:
        """Rank of the column-scaled weighted design matrix (rows with non-zero weight)."""
        A = self.Xw[self.data_rows]
        if self.T is not None:
            A = A @ self.T
        norms = np.linalg.norm(A, axis=0)
        return int(np.linalg.matrix_rank(A / np.where(norms > 0, norms, 1.0)))


def solve_linear(problem: Problem):
    """Solve the linear problem under the bounds (see :meth:`LinearSystem.solve`).

    Returns
    -------
    c : ndarray, shape (n_columns,)
        Coefficients in the order of ``design_matrix`` (free unknowns after the slots).
    columns : list of str
    rank : int
        Rank of the column-scaled weighted design matrix (data rows only).
    predictions : ndarray, shape (n_observations,)
        X c plus the fixed linear terms: every observation, stacked.
    """
    system = LinearSystem(problem)
    c = system.solve()
    return c, system.columns, system.rank(), system.predict(c)


def fit_linear(problem: Problem, **_ignored) -> FitResult:
    """Exact (weighted, optionally with priors on offset/e0) fit under the bounds: NNLS when its
    optimum is inside the bounds, else the certified cone program; see module docstring."""
    t0 = time.perf_counter()
    system = LinearSystem(problem)
    c = system.solve_nnls()
    empty = system.empty_slots(system.rows_matrix(None)[0])
    if system.classify(c, empty) != "outside":
        return _nnls_result(problem, system, c, t0)
    return _bounded_result(problem, system, c, empty, t0)


def _boundary_warnings(system, c, slots) -> tuple:
    """(names of zero coefficients, warnings) for the slots whose C_n or C_m is not > 0."""
    columns = system.columns
    fixed = np.isfinite(system.sig_fixed)
    zero, warnings = [], []
    for s in slots:
        jn, jm = system.cn_columns[s], system.cm_columns[s]
        pairs = [(columns[jm], c[jm])] if fixed[s] else [(columns[jn], c[jn]),
                                                          (columns[jm], c[jm])]
        for name, value in pairs:
            if not value > 0:
                zero.append(name)
        if not all(v > 0 for _, v in pairs):
            warnings.append(
                f"{columns[jn]} = {c[jn]:.3g}, {columns[jm]} = {c[jm]:.3g}: the optimum lies "
                f"on the boundary C = 0, so {system.eps_names[s]} and {system.sig_names[s]} "
                "are undefined (the data want no repulsion or no attraction for this pair "
                "type)"
            )
    return zero, warnings


def _nnls_result(problem, system, c, t0) -> FitResult:
    """The NNLS optimum, inside the bounds (or at a limit of them): the result of the linear
    method as it always was, with the certificate (bound = cost, gap 0)."""
    model = problem.model
    columns = system.columns
    rank = system.rank()
    pred = system.predict(c)
    if system.T is None:  # exactly the mapping the linear method always used
        x = model.from_coefficients(c)[model.spec.free]
    else:
        x = system.free_parameters(c)
    zero, warnings = _boundary_warnings(system, c, range(len(system.labels)))
    warnings += _rank_warning(rank, system)
    certified = not problem.priors  # with priors: of the cost plus their terms
    message = "exact NNLS solve: certified global optimum of the unbounded problem" + (
        f" with Gaussian priors on {', '.join(problem.priors)}" if problem.priors else "")
    success = not zero
    if zero:
        message += f"; on the boundary ({', '.join(zero)} = 0), parameters undefined"
    wall = time.perf_counter() - t0
    res = diagnose(
        problem,
        x,
        method="linear",
        nfev=1,
        wall_time=wall,
        success=success,
        message=message,
        predictions=pred,
        warnings=warnings,
        extra={
            "coefficients": dict(zip(columns, map(float, c))),
            "design_rank": rank,
            "certified_global_optimum": bool(certified),
            "unbounded_parameters": dict(zip(model.spec.free_names, map(float, x))),
            "bounds_active": False,
        },
    )
    if certified:
        res.lower_bound, res.gap, res.certified = res.cost, 0.0, True
    return res


def _bounded_result(problem, system, c_nnls, empty, t0) -> FitResult:
    """The NNLS optimum leaves the bounds (or has a coefficient at 0 that they exclude):
    the certified cone program gives the bounded optimum."""
    model = problem.model
    spec = model.spec
    columns = system.columns
    x_nnls = system.free_parameters(c_nnls)
    unbounded = dict(zip(spec.free_names, map(float, x_nnls)))
    zero, _ = _boundary_warnings(system, c_nnls, np.flatnonzero(~empty))
    why = [f"{', '.join(zero)} = 0"] if zero else []
    for nm, v in unbounded.items():
        p = spec[nm]
        if np.isfinite(v) and not p.lower <= v <= p.upper:
            why.append(f"{nm} = {v:.6g} {p.unit} outside [{p.lower:g}, {p.upper:g}]")
    sol = system.solve_bounded()
    full = system.parameters(sol.coefficients, sol.epsilon, sol.sigma)
    x = full[spec.free]
    rank = system.rank()
    warnings = []
    if np.any(empty):
        _, w = _boundary_warnings(system, sol.coefficients, np.flatnonzero(empty))
        warnings += w
    warnings.append("the unbounded optimum is outside the bounds (" + "; ".join(why)
                    + "): the bounded optimum was solved as a cone program")
    warnings += _rank_warning(rank, system)
    n_cone = f"{sol.nodes} cone program{'s' if sol.nodes != 1 else ''}"
    with_priors = bool(problem.priors)  # the program's cost then holds the prior terms
    if sol.certified:
        message = (f"cone program under the bounds: certified global optimum "
                   f"{'of the cost with its Gaussian priors ' if with_priors else ''}"
                   f"(relative gap {sol.gap:.2g}, {n_cone})")
    else:
        message = (f"cone program under the bounds: best feasible point, NOT certified: "
                   f"relative gap {sol.gap:.3g} to the lower bound ({sol.status}, {n_cone})")
        warnings.append(
            f"the bounded optimum is not certified: its cost is within {sol.gap:.3g} "
            f"(relative) of the lower bound {problem.scale * sol.lower_bound:.10g} "
            f"({sol.status})")
    if np.any(empty):
        message += "; parameters of pair types without data undefined"
    wall = time.perf_counter() - t0
    res = diagnose(
        problem,
        x,
        method="linear",
        nfev=sol.nodes,
        wall_time=wall,
        success=not np.any(empty),
        message=message,
        predictions=system.predict(sol.coefficients) if np.any(empty) else None,
        warnings=warnings,
        extra={
            "coefficients": dict(zip(columns, map(float, sol.coefficients))),
            "design_rank": rank,
            "certified_global_optimum": bool(sol.certified and not with_priors),
            "unbounded_parameters": unbounded,
            "bounds_active": True,
            "cone": {  # costs in the units of FitResult.cost
                "objective": problem.scale * sol.cost,
                "lower_bound": problem.scale * sol.lower_bound,
                "gap": sol.gap,
                "relaxed_bound": problem.scale * sol.relaxed_bound,
                "root_status": sol.root_status,
                "nodes": sol.nodes,
                "branched": list(sol.branched),
                "status": sol.status,
                "solver_status": dict(sol.solver_status),
                "wall_time_s": sol.wall_time,
            },
        },
    )
    if not with_priors:
        # the program's cost and the result's are the same sum in another order: keep
        # the bound at or below the cost reported
        # (the program works in the problem's relative weights: scale to the result's)
        lower = min(problem.scale * sol.lower_bound, res.cost)
        res.lower_bound = float(lower)
        res.gap = relative_gap(res.cost, lower, problem.scale * sol.floor)
        res.certified = bool(sol.certified)
    return res


def _rank_warning(rank, system) -> list:
    n_cols = system.Xw.shape[1] if system.T is None else system.T.shape[1]
    if rank < n_cols:
        return [f"the linear problem is rank deficient (rank {rank} < {n_cols} coefficients): "
                "the optimum is not unique"]
    return []
