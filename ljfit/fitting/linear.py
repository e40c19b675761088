r"""Exact solve of the linear problem in (C_n, C_m, offset).

For per-site and per-pair scopes the model is :math:`E = Xc` (see
:meth:`ljfit.model.LJModel.design_matrix`), and ε ≥ 0, σ ≥ 0 is exactly
:math:`C_n, C_m \ge 0`. The weighted problem

.. math:: \min_{c \ge 0}\ \| W^{1/2}(Xc - y) \|^2

is a convex non-negative least-squares problem; its solution (Lawson–Hanson NNLS, with the
free offset split into two non-negative columns) is the *certified global optimum* of the LJ
fit without bounds on ε, σ. It maps back by :math:`\sigma = (C_n/C_m)^{1/(n-m)}`,
:math:`\varepsilon = C_m/(C\sigma^m)` (LJ: :math:`\varepsilon = C_6^2/(4C_{12})`,
:math:`\sigma = (C_{12}/C_6)^{1/6}`). When a coefficient ends at 0 the optimum lies on the
boundary and that slot's ε or σ is undefined; when X is rank deficient the optimum is not
unique. When the optimum maps to values outside the parameter bounds, the result keeps its
cost and predictions (a certified lower bound for any bounded fit) but no parameters
(``nan``, ``success=False``): the values are in ``extra["unbounded_parameters"]``.
Columns are scaled to unit norm first: r⁻¹² and r⁻⁶ sums differ by orders of
magnitude. Gaussian priors on ``offset`` or ``e0`` are rows on their own coefficient (the
problem stays a convex NNLS); a prior on ε or σ is not linear in (C_n, C_m) and is refused.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.optimize import nnls

from ..errors import FitError
from .problem import Problem
from .result import FitResult, diagnose

__all__ = ["fit_linear", "solve_linear", "LinearSystem", "scaled_nnls"]


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


class LinearSystem:
    """The weighted (and ridge-augmented) linear problem of a :class:`Problem`, assembled
    once, solvable on any set of rows (repeats allowed): what the linear fit, the bootstrap
    and the cross-validation share.

    Rows are the model's stacked observations (energies, then force and stress rows);
    :meth:`rows_of` turns structure indices into them.

    Raises
    ------
    FitError
        When the model is not linear (see :meth:`ljfit.model.LJModel.design_matrix`).
    """

    def __init__(self, problem: Problem):
        model = problem.model
        X, columns = model.design_matrix()
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
        self.ridge = None
        if problem.priors:
            bad = [n for n in problem.priors if n not in columns]
            if bad:
                raise FitError(f"method linear: a Gaussian prior on {', '.join(bad)} is not "
                               "linear in the coefficients; use least_squares")
            # the prior residual (c_j − μ)/(δ √s) on its own column, as Problem.residuals
            rows = np.zeros((problem.n_priors, len(columns)))
            k = [columns.index(n) for n in problem.priors]
            rows[np.arange(problem.n_priors), k] = problem._prior_scale
            self.ridge = (rows, problem.prior_value * problem._prior_scale)

    def rows_of(self, structures) -> np.ndarray:
        """Row indices of the structures ``structures`` (every observable)."""
        return self.model.rows_of(structures)

    def solve(self, rows=None) -> np.ndarray:
        """Coefficients, shape (n_columns,), of the fit to ``rows`` (default: all)."""
        A, b = (self.Xw, self.yw) if rows is None else (self.Xw[rows], self.yw[rows])
        if self.ridge is not None:
            A, b = np.vstack([A, self.ridge[0]]), np.concatenate([b, self.ridge[1]])
        return scaled_nnls(A, b, self.unbounded)

    def predict(self, c, rows=None) -> np.ndarray:
        """X c (+ the fixed linear terms): stacked predictions of ``rows`` (default all)."""
        if rows is None:
            return self.X @ c + self.fixed
        return self.X[rows] @ c + self.fixed[rows]

    def free_parameters(self, c) -> np.ndarray:
        """Free parameter vector (``nan`` where a coefficient is not positive)."""
        return self.model.from_coefficients(c)[self.model.spec.free]

    def rank(self) -> int:
        """Rank of the column-scaled weighted design matrix (rows with non-zero weight)."""
        A = self.Xw[self.data_rows]
        norms = np.linalg.norm(A, axis=0)
        return int(np.linalg.matrix_rank(A / np.where(norms > 0, norms, 1.0)))


def solve_linear(problem: Problem):
    """Solve the NNLS problem.

    Returns
    -------
    c : ndarray, shape (n_columns,)
        Coefficients in the order of ``design_matrix`` (offset and e0 after the slots).
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
    """Exact (weighted, optionally ridge-regularised) NNLS fit; see module docstring."""
    t0 = time.perf_counter()
    model = problem.model
    c, columns, rank, pred = solve_linear(problem)
    full = model.from_coefficients(c)
    x = full[model.spec.free]
    k = model.features.n_slots
    labels = model.features.labels
    warnings, zero = [], []
    for s in range(k):
        for name, value in ((columns[s], c[s]), (columns[k + s], c[k + s])):
            if not value > 0:
                zero.append(name)
        if not (c[s] > 0 and c[k + s] > 0):
            warnings.append(
                f"{columns[s]} = {c[s]:.3g}, {columns[k + s]} = {c[k + s]:.3g}: the optimum lies "
                f"on the boundary C = 0, so epsilon[{labels[s]}] and sigma[{labels[s]}] are "
                "undefined (the data want no repulsion or no attraction for this pair type)"
            )
    n_cols = len(columns)
    if rank < n_cols:
        warnings.append(
            f"the linear problem is rank deficient (rank {rank} < {n_cols} coefficients): "
            "the optimum is not unique"
        )
    outside = []
    for nm, v in zip(model.spec.free_names, x):
        p = model.spec[nm]
        if np.isfinite(v) and not p.lower <= v <= p.upper:
            outside.append(nm)
            warnings.append(
                f"the unbounded optimum has {nm} = {v:.6g} {p.unit}, outside the bounds "
                f"[{p.lower:g}, {p.upper:g}]; bounded methods will find a different answer"
            )
    unbounded = dict(zip(model.spec.free_names, map(float, x)))
    if outside:
        # never hand out values outside the bounds: the solve is a certified lower bound on
        # the cost (kept, with its predictions), but it has no feasible parameters to give
        x = np.full_like(x, np.nan)
    certified = True  # priors on offset / e0 keep the problem a convex NNLS
    message = "exact NNLS solve: certified global optimum of the unbounded problem" + (
        f" with Gaussian priors on {', '.join(problem.priors)}" if problem.priors else "")
    success = not zero and not outside
    if zero:
        message += f"; on the boundary ({', '.join(zero)} = 0), parameters undefined"
    if outside:
        message += f"; optimum outside the bounds ({', '.join(outside)}), parameters not given"
    wall = time.perf_counter() - t0
    return diagnose(
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
            "unbounded_parameters": unbounded,
        },
    )
