r"""The bounded linear fit as a convex cone program, with a certified global optimum.

Problem
-------
For per-site and per-pair scopes the energies are linear in the coefficients
:math:`a_k = C_{n,k} = C\varepsilon_k\sigma_k^n` and :math:`b_k = C_{m,k} = C\varepsilon_k
\sigma_k^m` of each slot k and in the *free* linear unknowns z (an offset, reference
energies: every design-matrix column that is not ``Cn[…]``/``Cm[…]``, of either sign). With
the weighted rows :math:`A = [A_s\ F]` (energies, forces and stress, plus prior rows)
and targets y, the fit is

.. math:: \min\ \tfrac12\|A_s c + F z - y\|^2 \quad (\text{eV}^2)

over the slot coefficients c restricted to the set :math:`S_k` that the bounds
:math:`\varepsilon_k\in[\varepsilon_{lo},\varepsilon_{hi}]` (eV),
:math:`\sigma_k\in[\sigma_{lo},\sigma_{hi}]` (Å) allow. With :math:`p = n - m`,
:math:`\sigma = (a/b)^{1/p}` and :math:`\varepsilon = C^{-1} b^{n/p} a^{-m/p}`, so

* :math:`\sigma_{lo}\le\sigma\le\sigma_{hi} \iff \sigma_{lo}^p\,b \le a \le \sigma_{hi}^p\,b`
  — two linear inequalities (a wedge);
* :math:`\varepsilon\le\varepsilon_{hi} \iff b^n \le (C\varepsilon_{hi})^p a^m \iff
  (a,\ C\varepsilon_{hi},\ b) \in \mathcal K_{\rm pow}(m/n)`, the 3-D power cone
  :math:`\{(x, y, w): x^\alpha y^{1-\alpha} \ge |w|,\ x, y \ge 0\}`; for n = 2m (LJ 12-6)
  it is :math:`b^2 \le C\varepsilon_{hi}\,a`, a rotated second-order cone;
* :math:`\varepsilon\ge\varepsilon_{lo} \iff b \ge (C\varepsilon_{lo})^{p/n} a^{m/n}`: the
  region *above* a concave curve — the only non-convex bound.

The free unknowns are projected out exactly (:math:`F z` is the least-squares fit of the
residual), leaving a convex quadratic in c.

Relaxation and branch and bound
-------------------------------
On a σ interval :math:`[s_1, s_2]` of a slot, the feasible set is bounded by the two rays
σ = s₁, s₂, the ε_hi curve (convex side) and the ε_lo curve
:math:`\Gamma = \{C\varepsilon_{lo}(\sigma^n, \sigma^m)\}` (concave side). Its convex hull
replaces :math:`\Gamma` by the chord through :math:`\Gamma(s_1)` and :math:`\Gamma(s_2)`: one
more linear inequality. The relaxation (wedge + cone + chord + the box
:math:`C\varepsilon_{lo}s_1^{n} \le a \le C\varepsilon_{hi}s_2^{n}`, likewise for b with m)
is a convex cone program, solved by the interior-point solver Clarabel. Where its solution
has :math:`\varepsilon_k < \varepsilon_{lo}` (it lies between the chord and Γ), the σ
interval of that slot is split at the solution's σ (or at the log-midpoint when that is
near an end): each child's chord lies closer to Γ (the chord error falls with the square of
the interval) and both cut the parent's solution off. Nodes are explored best-first and
pruned when their bound reaches the best feasible cost.

Certificate
-----------
*Upper bound*: every node's solution is moved onto Γ where it is below ε_lo (to the point of
Γ that raises the objective least), mapped to (ε, σ), clipped into the bounds, and its exact
cost (free unknowns re-solved) evaluated; the root's point and the start are polished by a
bounded local least-squares fit in (ε, σ) with an active-set step. The returned parameters
are inside the bounds by construction.

*Lower bound*: never the solver's primal objective, but the best of two Lagrangian bounds,
each valid whatever the solver's tolerances:

1. the dual value of the node's dual vector z, first repaired into the dual cone
   :math:`K^*`: for :math:`Gx + s = h`, :math:`s\in K` and :math:`z \in K^*`, every
   node-feasible x has :math:`z^\top(Gx - h) \le 0`, hence

   .. math:: f(x) \ge \min_{x\in B}\ \tfrac12\|Rx - g\|^2 + (G^\top z)^\top x - h^\top z
             \ge c_0 + g^\top u - \tfrac12\|u\|^2 - h^\top z + \min_{x\in B}\rho^\top x,

   with :math:`G^\top z = R^\top u + \rho` (u by least squares) and B the variables' box;
2. the bound of a residual :math:`u = R\hat x - g`: since
   :math:`\tfrac12\|r\|^2 \ge u^\top r - \tfrac12\|u\|^2` for every u,

   .. math:: f \ge c_0 - u^\top g - \tfrac12\|u\|^2 + \sum_k \min_{\varepsilon,\sigma}
             C\varepsilon\,(c_{a,k}\sigma^n + c_{b,k}\sigma^m), \qquad c = R^\top u,

   each minimum over ε ∈ [ε_lo, ε_hi] and the node's σ interval in closed form. It bounds
   the node's true (non-convex) set directly, needs no dual and no box; at the residual of
   the best feasible point it is the Frank–Wolfe bound, exact at the optimum.

The bound of the problem is the least bound over the leaves; the relative gap is
(cost − bound)/max(cost, 1e-15·½‖y‖²), and the optimum is *certified* when it is at most
:data:`GAP_TOL`. The search aims at a tenth of that.

Scaling: columns are scaled to unit norm and the targets so that the cost of a polished
feasible start is O(1), and the solver's variables are measured from that start; the
quadratic is reduced by a QR factorisation (the solver never sees AᵀA, whose condition is
the square of A's); every linear row is normalised. A node whose first solve does not end
"Solved" is retried with looser settings (:data:`SOLVER_ATTEMPTS`); every attempt's bound is
valid and the best counts.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import FitError

__all__ = ["SlotBounds", "BoundedSolution", "ConeProgram", "GAP_TOL"]

#: Relative gap (cost − lower bound)/cost at or below which the optimum is certified.
GAP_TOL = 1e-9
#: Default node budget of the ε_lo branch and bound (a node costs a few ms). There is no
#: default time budget: a result must not depend on the machine's speed.
MAX_NODES = 2000


#: Clarabel settings of the first attempt at a node, then of the retries when the first
#: does not end "Solved" (every attempt gives a valid bound; the best one counts).
SOLVER_ATTEMPTS = (
    {"tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_feas": 1e-11, "tol_ktratio": 1e-9},
    {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10, "tol_ktratio": 1e-8},
    {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10, "tol_ktratio": 1e-8,
     "equilibrate_max_iter": 50, "max_iter": 400},
)


def _clarabel():
    """The solver module, imported on first use (never at ``import ljfit``)."""
    try:
        import clarabel
    except ImportError as exc:  # a broken install: clarabel is a dependency of ljfit
        raise FitError(
            "the bounded linear fit needs the 'clarabel' package (pip install clarabel): "
            f"{exc}"
        ) from None
    return clarabel


def _solver_settings(options: dict):
    clarabel = _clarabel()
    s = clarabel.DefaultSettings()
    s.verbose = False
    for key, value in options.items():
        setattr(s, key, value)
    return s


@dataclass(frozen=True)
class SlotBounds:
    """Bounds of every slot's ε (eV) and σ (Å), and fixed σ values.

    Attributes
    ----------
    eps_lo, eps_hi, sig_lo, sig_hi : ndarray, shape (n_slots,)
        ``0 <= lo < hi <= inf``.
    sig_fixed : ndarray, shape (n_slots,)
        A fixed σ (Å), or ``nan`` where σ is free.
    labels : list of str
        Slot labels (for messages).
    """

    eps_lo: np.ndarray
    eps_hi: np.ndarray
    sig_lo: np.ndarray
    sig_hi: np.ndarray
    sig_fixed: np.ndarray
    labels: list

    @property
    def fixed(self) -> np.ndarray:
        return np.isfinite(self.sig_fixed)


@dataclass
class BoundedSolution:
    """Result of :meth:`ConeProgram.solve`.

    Attributes
    ----------
    coefficients : ndarray, shape (n_columns,)
        C_n, C_m of every slot (computed from ``epsilon``, ``sigma``) and the free unknowns,
        in the column order of the problem's matrix.
    epsilon, sigma : ndarray, shape (n_slots,)
        Parameters of the best feasible point (eV, Å), inside the bounds.
    cost : float
        ½‖A c − y‖² at ``coefficients``, eV² (exact, not the solver's value).
    lower_bound : float
        Certified lower bound of the bounded optimum, eV².
    gap : float
        (cost − lower_bound)/cost (≥ 0).
    certified : bool
        ``gap <= GAP_TOL``.
    relaxed_bound : float
        Lower bound of the root relaxation (before any branching), eV².
    root_status : str
        Clarabel's status at the root (``"Solved"`` when the scaling works; attempts with
        looser settings follow a first one that is not, separated by ``/``).
    nodes : int
        Cone programs solved.
    branched : list of str
        Slots whose ε_lo bound needed branching.
    status : str
        How the search ended.
    solver_status : list of str
        Clarabel's status of every node (counts by status).
    wall_time : float
        s.
    floor : float
        Smallest cost the relative gap is measured against: 1e-15 × ½‖y‖² (eV²), so that
        an exact fit (cost ~ 0) can still be certified.
    """

    coefficients: np.ndarray
    epsilon: np.ndarray
    sigma: np.ndarray
    cost: float
    lower_bound: float
    gap: float
    certified: bool
    relaxed_bound: float = float("nan")
    root_status: str = ""
    nodes: int = 0
    branched: list = field(default_factory=list)
    status: str = ""
    solver_status: dict = field(default_factory=dict)
    wall_time: float = 0.0
    floor: float = 0.0


def relative_gap(cost: float, lower_bound: float, floor: float = 0.0) -> float:
    """(cost − lower_bound)/max(cost, floor), never negative; ``inf`` without a bound."""
    if not np.isfinite(lower_bound):
        return float("inf")
    den = max(float(cost), float(floor), np.finfo(float).tiny)
    return max(0.0, (float(cost) - float(lower_bound)) / den)


@dataclass
class _Node:
    s1: np.ndarray  # σ interval of every slot (free σ slots; fixed ones unused)
    s2: np.ndarray
    depth: int = 0


class ConeProgram:
    """The bounded least-squares problem of a linear model, ready for node relaxations.

    Parameters
    ----------
    A : ndarray, shape (n_rows, n_columns)
        Weighted design matrix (rows: energies, forces, stress, prior rows; any number).
    y : ndarray, shape (n_rows,)
        Weighted targets.
    cn_columns, cm_columns : ndarray of int, shape (n_slots,)
        Column of C_n and of C_m of each slot (the C_m column holds −A_m: E = A c).
    bounds : SlotBounds
    potential : Mie
        Exponents n > m and prefactor C.

    Every other column is a free linear unknown (any sign).
    """

    def __init__(self, A, y, cn_columns, cm_columns, bounds: SlotBounds, potential):
        A = np.asarray(A, dtype=float)
        y = np.asarray(y, dtype=float)
        self.A, self.y = A, y
        self.n_rows, self.n_columns = A.shape
        self.cn = np.asarray(cn_columns, dtype=int)
        self.cm = np.asarray(cm_columns, dtype=int)
        self.bounds = bounds
        self.pot = potential
        self.n, self.m = float(potential.n), float(potential.m)
        self.p = self.n - self.m
        self.alpha = self.m / self.n
        self.C = float(potential.prefactor)
        self.K = len(self.cn)
        b = bounds
        for name, arr in (("eps_lo", b.eps_lo), ("eps_hi", b.eps_hi), ("sig_lo", b.sig_lo),
                          ("sig_hi", b.sig_hi)):
            if np.shape(arr) != (self.K,):
                raise FitError(f"bounds.{name}: expected {self.K} values, got {np.shape(arr)}")
        for k in range(self.K):
            if not (0 <= b.eps_lo[k] < b.eps_hi[k] and 0 <= b.sig_lo[k] < b.sig_hi[k]):
                raise FitError(
                    f"bounds of slot {b.labels[k]}: need 0 <= lower < upper for epsilon and "
                    f"sigma, got epsilon [{b.eps_lo[k]}, {b.eps_hi[k]}], "
                    f"sigma [{b.sig_lo[k]}, {b.sig_hi[k]}]"
                )
        self.fixed = bounds.fixed
        slot_cols = np.zeros(self.n_columns, dtype=bool)
        slot_cols[self.cn] = True
        slot_cols[self.cm] = True
        self.free_cols = np.flatnonzero(~slot_cols)
        self._build_reduced()

    # ----------------------------------------------------------------------------------
    # reduced, scaled least squares
    # ----------------------------------------------------------------------------------
    def _build_reduced(self):
        """Slot variables (a, b per free-σ slot; b per fixed-σ slot), the free columns
        projected out, columns scaled, QR-reduced."""
        A, y = self.A, self.y
        cols, kind, slot = [], [], []
        for k in range(self.K):
            if self.fixed[k]:
                s = self.bounds.sig_fixed[k]
                # a = s^p b: the slot is one column b·(A_m-column + s^p·A_n-column)
                cols.append(A[:, self.cm[k]] + s**self.p * A[:, self.cn[k]])
                kind.append("b")
                slot.append(k)
            else:
                cols.append(A[:, self.cn[k]])
                kind.append("a")
                slot.append(k)
                cols.append(A[:, self.cm[k]])
                kind.append("b")
                slot.append(k)
        As = np.column_stack(cols) if cols else np.zeros((self.n_rows, 0))
        self.ia = np.full(self.K, -1)
        self.ib = np.full(self.K, -1)
        for j, (kd, k) in enumerate(zip(kind, slot)):
            (self.ia if kd == "a" else self.ib)[k] = j
        # orthonormal basis of the free columns: P⊥ = I − U Uᵀ removes them exactly
        F = A[:, self.free_cols]
        if F.shape[1]:
            u, s, _ = np.linalg.svd(F, full_matrices=False)
            tol = s.max() * max(F.shape) * np.finfo(float).eps if s.size and s.max() > 0 else 0
            self.U = u[:, s > tol]
        else:
            self.U = np.zeros((self.n_rows, 0))
        M = self._perp(As)
        yp = self._perp(y)
        norms = np.linalg.norm(M, axis=0)
        self.norms = np.where(norms > 0, norms, 1.0)
        Mn = M / self.norms
        d = Mn.shape[1]
        self.d = d
        self.Q, self.R = np.linalg.qr(Mn, mode="reduced")
        self.yp = yp
        self.floor = 1e-15 * 0.5 * float(y @ y)
        # a feasible start: the NNLS optimum (ε, σ ≥ 0 only) clipped into the bounds and
        # polished; its cost sets the scale (the solver then sees an O(1) objective however
        # well or badly the bounded model fits) and the point the variables are measured from
        from ._scipy_nnls import nnls

        x_nnls = nnls(Mn, yp, maxiter=50 * max(d, 1))[0] if d else np.zeros(0)
        eps, sig = self._parameters_of(x_nnls / self.norms, self.bounds.sig_lo,
                                       self.bounds.sig_hi)
        self.start = self.polish(eps, sig, snap=False)
        cost0 = self.evaluate(*self.start)[0]
        scale2 = max(2.0 * cost0, 1e-12 * float(yp @ yp), np.finfo(float).tiny)
        self.ys = float(np.sqrt(scale2))
        self.unit = self.ys / self.norms  # coefficient per unit of scaled variable
        g = self.Q.T @ (yp / self.ys)
        rest = yp / self.ys - self.Q @ g
        self.g = g
        self.c0 = 0.5 * float(rest @ rest)  # part of the cost no slot variable can explain
        self.x0 = self._slot_values(*self.start) / self.unit  # scaled: x̂ = c·norm/ys
        self.g0 = g - self.R @ self.x0  # objective ½‖R δ − g0‖² + c0 with x̂ = x0 + δ

    def _slot_values(self, eps, sig):
        """Slot variables (a, b per free-σ slot; b per fixed-σ slot) of (ε, σ)."""
        sig = np.where(self.fixed, self.bounds.sig_fixed, sig)
        cn, cm = self.pot.coefficients(eps, sig)
        v = np.empty(self.d)
        free = ~self.fixed
        v[self.ia[free]] = cn[free]
        v[self.ib] = cm
        return v

    def _perp(self, v):
        """Remove the component in the span of the free columns."""
        if self.U.shape[1] == 0:
            return v
        return v - self.U @ (self.U.T @ v)

    # ----------------------------------------------------------------------------------
    # exact evaluation, mapping, local polish
    # ----------------------------------------------------------------------------------
    def evaluate(self, eps, sig):
        """(cost eV², full coefficient vector) at (ε, σ) with the free unknowns optimal."""
        sig = np.where(self.fixed, self.bounds.sig_fixed, sig)
        cn, cm = self.pot.coefficients(eps, sig)
        c = np.zeros(self.n_columns)
        c[self.cn] = cn
        c[self.cm] = cm
        r = self.y - self.A @ c
        if len(self.free_cols):
            z, *_ = np.linalg.lstsq(self.A[:, self.free_cols], r, rcond=None)
            c[self.free_cols] = z
            r = r - self.A[:, self.free_cols] @ z
        return 0.5 * float(r @ r), c

    def to_parameters(self, xhat, s1, s2):
        """(ε, σ) of scaled slot variables, clipped into the bounds and the node's σ
        intervals (a slot at a = b = 0 gets ε_lo and the interval's log-midpoint)."""
        return self._parameters_of(np.maximum(xhat, 0.0) * self.unit, s1, s2)

    def _parameters_of(self, v, s1, s2):
        """(ε, σ) of slot variables (a, b), clipped as :meth:`to_parameters` says."""
        b = self.bounds
        v = np.maximum(v, 0.0)
        eps = np.empty(self.K)
        sig = np.empty(self.K)
        for k in range(self.K):
            bk = v[self.ib[k]]
            if self.fixed[k]:
                s = b.sig_fixed[k]
                sig[k] = s
                eps[k] = bk / (self.C * s**self.m) if bk > 0 else b.eps_lo[k]
            else:
                ak = v[self.ia[k]]
                lo, hi = s1[k], s2[k]
                if ak > 0 and bk > 0:
                    s = (ak / bk) ** (1.0 / self.p)
                    sig[k] = min(max(s, lo), hi)
                    eps[k] = bk / (self.C * s**self.m)
                else:
                    sig[k] = _log_mid(lo, hi)
                    eps[k] = b.eps_lo[k]
            eps[k] = min(max(eps[k], b.eps_lo[k]), b.eps_hi[k])
        sig = np.where(self.fixed, sig, np.clip(sig, b.sig_lo, b.sig_hi))
        return eps, sig

    def polish(self, eps, sig, snap: bool = True):
        """Bounded local least squares in (ε, σ) from a feasible point (free unknowns
        projected out), then (``snap``) an active-set step: values that ended within 1e-4
        (relative to the bound's range) of a bound are put on it and the others re-fitted
        (trf only creeps toward a bound). (ε, σ) of the better end point, inside the
        bounds."""
        from scipy.optimize import least_squares

        b = self.bounds
        kf = np.flatnonzero(~self.fixed)
        n_eps = self.K
        lo = np.concatenate([b.eps_lo, b.sig_lo[kf]])
        hi = np.concatenate([b.eps_hi, b.sig_hi[kf]])
        Ap = self._perp(self.A)
        yp = self._perp(self.y)
        An, Am = Ap[:, self.cn], Ap[:, self.cm]

        def unpack(x):
            s = self.bounds.sig_fixed.copy()
            s[kf] = x[n_eps:]
            return x[:n_eps], s

        def residuals(x):
            e, s = unpack(x)
            cn, cm = self.pot.coefficients(e, s)
            return An @ cn + Am @ cm - yp

        def jac(x):
            e, s = unpack(x)
            dcn_de, dcn_ds, dcm_de, dcm_ds = self.pot.coefficient_derivatives(e, s)
            return np.hstack([An * dcn_de + Am * dcm_de, (An * dcn_ds + Am * dcm_ds)[:, kf]])

        def run(x0, free):
            """least_squares over the ``free`` entries of x, the others held."""
            if not free.any():
                return x0
            def res(xf):
                x = x0.copy()
                x[free] = xf
                return residuals(x)

            def jf(xf):
                x = x0.copy()
                x[free] = xf
                return jac(x)[:, free]

            try:
                sol = least_squares(res, x0[free], jac=jf, bounds=(lo[free], hi[free]),
                                    method="trf", x_scale="jac", xtol=1e-15, ftol=1e-15,
                                    gtol=1e-15, max_nfev=100)
            except (ValueError, np.linalg.LinAlgError):
                return x0
            x = x0.copy()
            x[free] = np.clip(sol.x, lo[free], hi[free])
            return x

        def cost(x):
            r = residuals(x)
            return float(r @ r)

        x = run(np.clip(np.concatenate([eps, sig[kf]]), lo, hi), np.ones(len(lo), bool))
        width = np.where(np.isfinite(hi - lo), hi - lo, np.maximum(np.abs(x), 1.0))
        near_lo, near_hi = x - lo <= 1e-4 * width, hi - x <= 1e-4 * width
        if snap and (near_lo.any() or near_hi.any()):
            snapped = np.where(near_lo, lo, np.where(near_hi, hi, x))
            x2 = run(snapped, ~(near_lo | near_hi))
            x2 = run(x2, np.ones(len(lo), bool))  # let a bound go again if the data want
            if cost(x2) < cost(x):
                x = x2
        return unpack(x)

    # ----------------------------------------------------------------------------------
    # node relaxation
    # ----------------------------------------------------------------------------------
    def _node_rows(self, node: _Node):
        """Constraints of a node in the scaled variables x̂: linear rows ``G x̂ <= h`` and
        cone blocks ``(−G_c x̂ + h_c) ∈ cone``; also the box of x̂ (for the dual bound)."""
        bnd = self.bounds
        n, m, p, C = self.n, self.m, self.p, self.C
        d = self.d
        lin_G, lin_h = [], []
        lo = np.zeros(d)
        hi = np.full(d, np.inf)

        def add(coef: dict, rhs: float):
            row = np.zeros(d)
            for j, v in coef.items():
                row[j] += v
            scale = np.max(np.abs(row))
            if not (scale > 0 and np.isfinite(scale) and np.isfinite(rhs)):
                return
            lin_G.append(row / scale)
            lin_h.append(rhs / scale)

        cones = []
        for k in range(self.K):
            jb = self.ib[k]
            ub = self.unit[jb]
            if self.fixed[k]:
                s = bnd.sig_fixed[k]
                lo[jb] = C * bnd.eps_lo[k] * s**m / ub
                hi[jb] = C * bnd.eps_hi[k] * s**m / ub
                continue
            ja = self.ia[k]
            ua = self.unit[ja]
            s1, s2 = node.s1[k], node.s2[k]
            el, eh = bnd.eps_lo[k], bnd.eps_hi[k]
            lo[ja] = C * el * s1**n / ua
            lo[jb] = C * el * s1**m / ub
            hi[ja] = C * eh * s2**n / ua if np.isfinite(s2) else np.inf
            hi[jb] = C * eh * s2**m / ub if np.isfinite(s2) else np.inf
            # wedge s1^p b <= a <= s2^p b
            if s1 > 0:
                add({jb: s1**p * ub, ja: -ua}, 0.0)
            if np.isfinite(s2):
                add({ja: ua, jb: -(s2**p) * ub}, 0.0)
            # chord of the ε_lo curve between σ = s1 and s2: the feasible side
            if el > 0 and np.isfinite(s2):
                p1 = C * el * np.array([s1**n, s1**m])
                p2 = C * el * np.array([s2**n, s2**m])
                da, db = p2 - p1
                sm = _log_mid(s1, s2)
                t = C * el * np.array([sm**n, sm**m])

                def phi(q):
                    return db * (q[0] - p1[0]) - da * (q[1] - p1[1])

                sgn = np.sign(phi(t))
                if sgn != 0:
                    # sgn·phi(a, b) >= 0  ⇔  −sgn·(db a − da b) <= −sgn·(db a1 − da b1)
                    add({ja: -sgn * db * ua, jb: sgn * da * ub},
                        -sgn * (db * p1[0] - da * p1[1]))
            # ε <= ε_hi: (a, C ε_hi, b) in the power cone of α = m/n
            if np.isfinite(eh):
                cones.append((k, C * eh))
        # the lower side of the box (a, b >= 0 and more) as rows; the upper side, implied by
        # the wedge and the cone, only enters the dual bound (as rows its large right-hand
        # sides would spoil the solver's scaling)
        for j in range(d):
            row = np.zeros(d)
            row[j] = -1.0
            lin_G.append(row)
            lin_h.append(-lo[j])
        for k in range(self.K):  # a fixed-σ slot's ε <= ε_hi is a plain upper bound on b
            if self.fixed[k] and np.isfinite(hi[self.ib[k]]):
                row = np.zeros(d)
                row[self.ib[k]] = 1.0
                lin_G.append(row)
                lin_h.append(hi[self.ib[k]])
        G = np.array(lin_G).reshape(-1, d)
        h = np.array(lin_h, dtype=float)
        return G, h, cones, lo, hi

    def _cone_block(self, k, Keh):
        """(G_c, h_c, kind) with s = h_c − G_c x̂ in the cone: rotated SOC for n = 2m,
        else the power cone (x̂_a, K̂, x̂_b) with the constant K̂ absorbing the scaling."""
        ja, jb = self.ia[k], self.ib[k]
        ua, ub = self.unit[ja], self.unit[jb]
        al = self.alpha
        # (ua x̂_a)^α K^(1−α) >= ub x̂_b  ⇔  x̂_a^α K̂^(1−α) >= x̂_b,
        # K̂ = K · (ua^α / ub)^(1/(1−α))
        log_kh = np.log(Keh) + (al * np.log(ua) - np.log(ub)) / (1.0 - al)
        kh = float(np.exp(log_kh))
        d = self.d
        if self.n == 2 * self.m:
            # x̂_b² <= K̂ x̂_a  ⇔  ((x̂_a + K̂)/2, (x̂_a − K̂)/2, x̂_b) ∈ SOC
            Gc = np.zeros((3, d))
            Gc[0, ja] = -0.5
            Gc[1, ja] = -0.5
            Gc[2, jb] = -1.0
            hc = np.array([0.5 * kh, -0.5 * kh, 0.0])
            return Gc, hc, "soc"
        Gc = np.zeros((3, d))
        Gc[0, ja] = -1.0
        Gc[2, jb] = -1.0
        hc = np.array([0.0, kh, 0.0])
        return Gc, hc, "pow"

    def relax(self, node: _Node, points=()):
        """Solve a node's relaxation: (lower bound eV², x̂, solver status). The bound is the
        best of the dual bound and the residual bounds at the solver's point and at the
        scaled ``points`` given (feasible points found so far)."""
        from scipy import sparse

        clarabel = _clarabel()

        G, h, cones, lo, hi = self._node_rows(node)
        d = self.d
        k_r = self.R.shape[0]
        blocks_G, blocks_h, kinds = [G], [h], []
        for k, Keh in cones:
            Gc, hc, kind = self._cone_block(k, Keh)
            blocks_G.append(Gc)
            blocks_h.append(hc)
            kinds.append(kind)
        Gall = np.vstack(blocks_G)
        hall = np.concatenate(blocks_h)
        # variables v = (δ, r), x̂ = x0 + δ; zero cone: R δ − r = g0; objective ½‖r‖²
        nv = d + k_r
        Aeq = np.hstack([self.R, -np.eye(k_r)])
        Acon = np.hstack([Gall, np.zeros((len(hall), k_r))])
        hshift = hall - Gall @ self.x0
        Amat = sparse.csc_matrix(np.vstack([Aeq, Acon]))
        bvec = np.concatenate([self.g0, hshift])
        P = sparse.csc_matrix(
            (np.ones(k_r), (np.arange(d, nv), np.arange(d, nv))), shape=(nv, nv))
        q = np.zeros(nv)
        cone_list = [clarabel.ZeroConeT(k_r), clarabel.NonnegativeConeT(len(h))]
        for kind in kinds:
            cone_list.append(clarabel.SecondOrderConeT(3) if kind == "soc"
                             else clarabel.PowerConeT(self.alpha))
        best_lb, best_x, statuses = -np.inf, None, []
        for options in SOLVER_ATTEMPTS:
            solver = clarabel.DefaultSolver(P, q, Amat, bvec, cone_list,
                                            _solver_settings(options))
            sol = solver.solve()
            status = str(sol.status)
            statuses.append(status)
            v = np.asarray(sol.x, dtype=float)
            z = np.asarray(sol.z, dtype=float)[k_r:]
            if v.size == nv and np.all(np.isfinite(v)) and np.all(np.isfinite(z)):
                lb = max(self._dual_bound(z, Gall, hshift, len(h), kinds, lo - self.x0,
                                          hi - self.x0),
                         self._residual_bound(self.x0 + v[:d], node))
                if best_x is None or lb > best_lb:
                    best_lb, best_x = lb, self.x0 + v[:d]
            if status == "Solved":
                break
        for x in points:
            best_lb = max(best_lb, self._residual_bound(x, node))
        return best_lb, best_x, "/".join(statuses)

    def _residual_bound(self, xhat, node: _Node) -> float:
        r"""Lagrangian bound (eV²) of the node's *true* feasible set from the residual
        :math:`u = R\hat x - g` of a point (any u gives a valid bound; the solver's point
        makes it tight):

        .. math:: f \ge c_0 - u^\top g - \tfrac12\|u\|^2
                  + \sum_k \min_{\varepsilon, \sigma} C\varepsilon
                  \left(c_{a,k}\sigma^n + c_{b,k}\sigma^m\right),
                  \qquad c = R^\top u / \text{unit},

        the minimum over ε ∈ [ε_lo, ε_hi] and σ in the node's interval taken in closed form
        (linear in ε; in σ at an end or at σ^p = −m c_b/(n c_a)). It needs no dual vector
        and no box, so it stays tight where the design is rank deficient."""
        u = self.R @ xhat - self.g
        w = (self.R.T @ u) / self.unit
        total = self.c0 - float(u @ self.g) - 0.5 * float(u @ u)
        b = self.bounds
        n, m, p, C = self.n, self.m, self.p, self.C
        for k in range(self.K):
            cb = w[self.ib[k]]
            el, eh = b.eps_lo[k], b.eps_hi[k]
            if self.fixed[k]:
                s = b.sig_fixed[k]
                cands = [cb * s**m]
            else:
                ca = w[self.ia[k]]
                s1, s2 = node.s1[k], node.s2[k]
                if not np.isfinite(s2):
                    if ca < 0 or (ca == 0 and cb < 0):
                        return -np.inf
                    s2 = s1  # the end at infinity is +inf: the stationary point or s1
                cands = [ca * s1**n + cb * s1**m, ca * s2**n + cb * s2**m]
                if ca != 0 and -m * cb / (n * ca) > 0:
                    st = (-m * cb / (n * ca)) ** (1.0 / p)
                    if node.s1[k] <= st <= node.s2[k]:
                        cands.append(ca * st**n + cb * st**m)
            phi = min(cands)
            if phi >= 0:
                total += C * el * phi
            elif np.isfinite(eh):
                total += C * eh * phi
            else:
                return -np.inf
        return self.ys**2 * total

    def _dual_bound(self, z, G, h, n_lin, kinds, lo, hi):
        """Lagrangian dual value (eV²) of z repaired into K*; valid for any z."""
        z = z.copy()
        z[:n_lin] = np.maximum(z[:n_lin], 0.0)
        for i, kind in enumerate(kinds):
            blk = slice(n_lin + 3 * i, n_lin + 3 * i + 3)
            z[blk] = _dual_cone_repair(z[blk], kind, self.alpha)
        w = G.T @ z
        if self.d == 0:
            val = self.c0 + 0.5 * float(self.g0 @ self.g0) - float(h @ z)
            return self.ys**2 * val
        # w = Rᵀu + ρ
        u, *_ = np.linalg.lstsq(self.R.T, w, rcond=None)
        rho = w - self.R.T @ u
        small = np.abs(rho) <= 1e-13 * max(1.0, float(np.max(np.abs(w))))
        rho = np.where(small, 0.0, rho)
        with np.errstate(invalid="ignore"):
            box = np.where(rho > 0, rho * lo, rho * hi)
        box = np.where(rho == 0, 0.0, box)
        if not np.all(np.isfinite(box)):
            return -np.inf
        val = self.c0 + float(self.g0 @ u) - 0.5 * float(u @ u) - float(h @ z) + float(box.sum())
        return self.ys**2 * val

    # ----------------------------------------------------------------------------------
    # branch and bound
    # ----------------------------------------------------------------------------------
    def _project(self, xhat, node: _Node, n_grid: int = 24):
        """Move every slot of a relaxed point whose ε is below ε_lo onto the curve
        Γ = {C ε_lo (σ^n, σ^m): σ in the node's interval}, to the point of Γ that raises the
        (scaled) objective least, one slot after the other.

        Returns
        -------
        x : ndarray
            The projected scaled point (feasible up to the solver's tolerance).
        score : ndarray, shape (n_slots,)
            Rise of the scaled objective each slot's move alone causes (0 for slots that
            did not move): what branching on that slot can gain.
        """
        x = np.maximum(xhat, 0.0).copy()
        v = x * self.unit
        score = np.zeros(self.K)
        r = self.R @ x - self.g
        n, m, C = self.n, self.m, self.C
        for k in range(self.K):
            el = self.bounds.eps_lo[k]
            if self.fixed[k] or el <= 0:
                continue
            ja, jb = self.ia[k], self.ib[k]
            a, b = v[ja], v[jb]
            if a > 0 and b > 0:
                s = (a / b) ** (1.0 / self.p)
                if b / (C * s**m) >= el * (1 - 1e-12):
                    continue
            else:
                s = _log_mid(node.s1[k], node.s2[k])
            s1, s2 = node.s1[k], node.s2[k]
            hi = s2 if np.isfinite(s2) else max(2 * s1, 2 * s, 1.0)
            lo = s1 if s1 > 0 else hi * 1e-3
            grid = np.unique(np.concatenate([np.geomspace(lo, hi, n_grid),
                                             [min(max(s, lo), hi)]]))
            da = C * el * grid**n / self.unit[ja] - x[ja]
            db = C * el * grid**m / self.unit[jb] - x[jb]
            step = np.outer(self.R[:, ja], da) + np.outer(self.R[:, jb], db)
            rise = r @ step + 0.5 * np.sum(step * step, axis=0)
            j = int(np.argmin(rise))
            score[k] = max(float(rise[j]), 0.0)
            x[ja] += da[j]
            x[jb] += db[j]
            r = r + step[:, j]
        return x, score

    def solve(self, gap_tol: float = GAP_TOL, max_nodes: int = MAX_NODES,
              time_limit: float | None = None) -> BoundedSolution:
        """Branch and bound to a certified optimum, or to the budget (see the module
        docstring); never raises on a solver failure (the bound is then ``-inf``).

        The search aims at a tenth of ``gap_tol`` (so that a certificate does not hang on
        the last digit the solver resolves) and stops there, or when no node can improve
        the bound by more than that (what is left is the solver's accuracy).
        """
        t0 = time.perf_counter()
        target = 0.1 * gap_tol
        b = self.bounds
        statuses: dict = {}
        best = {"cost": np.inf, "eps": None, "sig": None}

        def consider(eps, sig):
            cost, _ = self.evaluate(eps, sig)
            if cost < best["cost"]:
                best.update(cost=cost, eps=np.asarray(eps, float), sig=np.asarray(sig, float))

        def solve_node(node):
            """(bound, relaxed point, candidate cost, branching scores) of a node."""
            lb, xhat, status = self.relax(node, [self._slot_values(best["eps"],
                                                                   best["sig"]) / self.unit])
            statuses[status] = statuses.get(status, 0) + 1
            statuses.setdefault("root", status)
            if xhat is None:
                return lb, None, np.inf, None
            x, score = self._project(xhat, node)
            eps, sig = self.to_parameters(x, node.s1, node.s2)
            cand = self.evaluate(eps, sig)[0]
            if cand < best["cost"]:
                best.update(cost=cand, eps=eps, sig=sig)
            return lb, xhat, cand, score

        consider(*self.start)  # the polished, clipped NNLS point
        root = _Node(b.sig_lo.astype(float).copy(), b.sig_hi.astype(float).copy())
        lb0, x_root, cand, score = solve_node(root)
        n_nodes = 1
        # local polishes from the root's feasible point and from the best so far: usually
        # the optimum itself, which leaves the search only the bound to raise; at the
        # optimum of the relaxation the residual bound of that point closes the gap at once
        if x_root is not None:
            x_proj, _ = self._project(x_root, root)
            consider(*self.polish(*self.to_parameters(x_proj, root.s1, root.s2)))
        if best["cost"] >= self.evaluate(*self.start)[0]:  # the root did not help
            consider(*self.polish(*self.start))
        polished_at = best["cost"]
        lb0 = max(lb0, self._residual_bound(
            self._slot_values(best["eps"], best["sig"]) / self.unit, root))

        heap = []
        counter = 0
        closed_lb = np.inf  # least bound of the leaves closed so far
        branched = set()

        def settle(node, lb, xhat, cand, score):
            """Close a node (its bound then counts among the leaves') or queue it."""
            nonlocal counter, closed_lb
            gain = 0.0 if score is None else float(np.max(score, initial=0.0)) * self.ys**2
            if (xhat is None or gain <= target * max(best["cost"], self.floor)
                    or relative_gap(best["cost"], lb, self.floor) <= target
                    or relative_gap(cand, lb, self.floor) <= target):
                # pruned, or its own feasible point attains its bound, or nothing to branch
                # on (the bound stands as it is)
                closed_lb = min(closed_lb, lb)
                return
            counter += 1
            heapq.heappush(heap, (lb, counter, node, xhat, score))

        settle(root, lb0, x_root, cand, score)
        status = "certified"
        while heap:
            lb = heap[0][0]
            if relative_gap(best["cost"], min(lb, closed_lb), self.floor) <= target:
                break
            if n_nodes >= max_nodes:
                status = f"node budget ({max_nodes}) reached"
                break
            if time_limit is not None and time.perf_counter() - t0 > time_limit:
                status = f"time budget ({time_limit:g} s) reached"
                break
            lb, _, node, xhat, score = heapq.heappop(heap)
            if relative_gap(best["cost"], lb, self.floor) <= target:
                closed_lb = min(closed_lb, lb)
                continue
            k = int(np.argmax(score))  # the slot whose ε_lo curve costs the most
            branched.add(b.labels[k])
            split = _split_point(xhat, self, k, node.s1[k], node.s2[k])
            for s_lo, s_hi in ((node.s1[k], split), (split, node.s2[k])):
                child = _Node(node.s1.copy(), node.s2.copy(), node.depth + 1)
                child.s1[k], child.s2[k] = s_lo, s_hi
                clb, cx, ccand, cscore = solve_node(child)
                n_nodes += 1
                # a child's feasible set lies in its parent's: its bound is at least the
                # parent's
                settle(child, max(clb, lb), cx, ccand, cscore)
            if best["cost"] < polished_at * (1 - 1e-12):
                consider(*self.polish(best["eps"], best["sig"]))
                polished_at = best["cost"]
        open_lb = min((item[0] for item in heap), default=np.inf)
        cost = best["cost"]
        lower = max(min(open_lb, closed_lb, cost), 0.0)
        gap = relative_gap(cost, lower, self.floor)
        if gap > gap_tol and status == "certified":
            status = "bound not closed (solver accuracy)"
        _, c = self.evaluate(best["eps"], best["sig"])
        root_status = statuses.pop("root")
        return BoundedSolution(
            coefficients=c,
            epsilon=best["eps"].copy(),
            sigma=np.where(self.fixed, b.sig_fixed, best["sig"]),
            cost=float(cost),
            lower_bound=float(lower),
            gap=float(gap),
            certified=bool(gap <= gap_tol),
            relaxed_bound=float(max(lb0, 0.0)) if np.isfinite(lb0) else float("-inf"),
            root_status=root_status,
            nodes=n_nodes,
            branched=sorted(branched),
            status=status,
            solver_status=statuses,
            wall_time=time.perf_counter() - t0,
            floor=self.floor,
        )


def _log_mid(lo, hi):
    """Geometric midpoint of [lo, hi] (arithmetic when lo = 0; 2·lo when hi is inf)."""
    if not np.isfinite(hi):
        return 2.0 * lo if lo > 0 else 1.0
    if lo <= 0:
        return 0.5 * hi
    return float(np.sqrt(lo * hi))


def _split_point(xhat, prog: ConeProgram, k, s1, s2):
    """σ at which to split slot k's interval: the relaxed point's σ when it lies in the
    middle 80 % (log scale) of the interval, else the log-midpoint."""
    v = np.maximum(xhat, 0.0) * prog.unit
    a, b = v[prog.ia[k]], v[prog.ib[k]]
    mid = _log_mid(s1, s2)
    if a > 0 and b > 0 and np.isfinite(s2) and s1 > 0:
        s = (a / b) ** (1.0 / prog.p)
        t = (np.log(s) - np.log(s1)) / (np.log(s2) - np.log(s1))
        if 0.1 <= t <= 0.9:
            return float(s)
    return mid


def _dual_cone_repair(v, kind, alpha):
    """A point of the dual cone near v (SOC is self-dual; the dual power cone is
    {(u, v, w): (u/α)^α (v/(1−α))^(1−α) >= |w|, u, v >= 0})."""
    v = v.copy()
    if kind == "soc":
        v[0] = max(v[0], float(np.hypot(v[1], v[2])))
        return v
    tiny = 1e-300
    u0, v0 = max(v[0], tiny), max(v[1], tiny)
    lhs = (u0 / alpha) ** alpha * (v0 / (1 - alpha)) ** (1 - alpha)
    if lhs < abs(v[2]):
        t = abs(v[2]) / lhs
        u0, v0 = u0 * t, v0 * t
    v[0], v[1] = u0, v0
    return v
