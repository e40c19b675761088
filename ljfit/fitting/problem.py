r"""The weighted least-squares problem every fitter solves.

.. math::

    F(x) = \tfrac12 \sum_s w_s \left(E_s(x) - y_s\right)^2
         + \tfrac12 \lambda \sum_j \left(\frac{x_j - x^\mathrm{prior}_j}{s_j}\right)^2,

with reference energies :math:`y_s` (eV), weights :math:`w_s`, and an optional ridge term
toward prior values (scale :math:`s_j = |x^\mathrm{prior}_j|`, or 1 where the prior is 0,
so that λ is dimensionless). Written as residuals
:math:`r = [\sqrt{w}(E - y);\ \sqrt\lambda (x - x^\mathrm{prior})/s]` so that
``least_squares`` sees the same objective as the scalar minimisers
(:math:`F = \tfrac12 r\cdot r`, :math:`\nabla F = J_r^\top r`).

Global searches work in *internal* coordinates :math:`u`: :math:`u = \log x` for ε (always
positive, spanning decades), :math:`u = x` otherwise; :meth:`Problem.to_x` maps back and the
chain rule :math:`\partial F/\partial u = x\,\partial F/\partial x` gives the gradient.
"""

from __future__ import annotations

import numpy as np

from ..errors import FitError

__all__ = ["Problem"]


class Problem:
    """Residuals, cost and derivatives of a model against reference energies.

    Parameters
    ----------
    model : LJModel
    energies : ndarray, shape (n_structures,)
        Reference energies, eV.
    weights : ndarray, shape (n_structures,), optional
        Non-negative weights (default 1).
    regularization : float
        Ridge strength λ ≥ 0 (dimensionless, see module docstring).
    prior : dict, optional
        Prior values by parameter name; free parameters not named use the spec's values.
    """

    def __init__(self, model, energies, weights=None, regularization=0.0, prior=None):
        y = np.asarray(energies, dtype=float)
        if y.shape != (model.n_structures,):
            raise FitError(
                f"energies: expected {model.n_structures} values (one per structure), "
                f"got shape {y.shape}"
            )
        if not np.all(np.isfinite(y)):
            bad = np.flatnonzero(~np.isfinite(y))
            names = [model.features.names[i] for i in bad[:5]] if model.features.names else bad
            raise FitError(f"energies: no finite reference energy for {list(names)}")
        w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float)
        if w.shape != y.shape or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise FitError("weights: need one finite, non-negative weight per structure")
        if not np.any(w > 0):
            raise FitError("weights: every weight is zero")
        lam = float(regularization)
        if not (np.isfinite(lam) and lam >= 0):
            raise FitError(f"regularization must be a finite number >= 0, got {regularization}")
        if model.n_free == 0:
            raise FitError("every parameter is fixed: nothing to fit")
        self.model = model
        self.y = y
        self.w = w
        self.sw = np.sqrt(w)
        self.lam = lam
        spec = model.spec
        prior = dict(prior or {})
        for name in prior:
            spec.index(name)  # FitError naming an unknown parameter
        self.prior = np.array([prior.get(n, spec[n].value) for n in spec.free_names], float)
        self.prior_scale = np.where(self.prior != 0, np.abs(self.prior), 1.0)
        self.lower = spec.lower
        self.upper = spec.upper
        self.log = np.array([k == "epsilon" and lo > 0 for k, lo in zip(spec.kinds, self.lower)])
        self.n_data = int(np.count_nonzero(w > 0))

    # ----------------------------------------------------------------------------------
    @property
    def n_free(self) -> int:
        return self.model.n_free

    def residuals(self, x) -> np.ndarray:
        """r(x): weighted energy residuals (eV) followed by the ridge residuals."""
        r = self.sw * (self.model.energies(x) - self.y)
        if self.lam > 0:
            r = np.concatenate([r, np.sqrt(self.lam) * (x - self.prior) / self.prior_scale])
        return r

    def jac(self, x) -> np.ndarray:
        """∂r/∂x, shape (n_residuals, n_free)."""
        j = self.sw[:, None] * self.model.jacobian(x)
        if self.lam > 0:
            j = np.vstack([j, np.diag(np.sqrt(self.lam) / self.prior_scale)])
        return j

    def cost(self, x) -> float:
        """F(x) = ½ r·r (eV², plus the ridge term)."""
        r = self.residuals(x)
        return 0.5 * float(r @ r)

    def data_cost(self, x) -> float:
        """½ Σ w (E − y)², eV², without the ridge term."""
        r = self.sw * (self.model.energies(x) - self.y)
        return 0.5 * float(r @ r)

    def cost_and_grad(self, x):
        """(F, ∇F) for the scalar minimisers."""
        r = self.residuals(x)
        return 0.5 * float(r @ r), self.jac(x).T @ r

    # -- internal coordinates (global searches) -----------------------------------------
    def to_u(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return np.where(self.log, np.log(np.where(self.log, x, 1.0)), x)

    def to_x(self, u) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        return np.where(self.log, np.exp(np.where(self.log, u, 0.0)), u)

    def search_bounds(self):
        """Finite bounds in internal coordinates (infinite bounds replaced by a data-based
        range: offset within the span of the reference energies, others ×/÷ 10 around
        the prior)."""
        lo, hi = self.lower.copy(), self.upper.copy()
        span = float(np.ptp(self.y)) + float(np.max(np.abs(self.y))) + 1.0
        for k, kind in enumerate(self.model.spec.kinds):
            if kind == "offset":
                if not np.isfinite(lo[k]):
                    lo[k] = float(self.y.min()) - span
                if not np.isfinite(hi[k]):
                    hi[k] = float(self.y.max()) + span
            else:
                ref = max(abs(self.prior[k]), 1e-3)
                if not np.isfinite(lo[k]):
                    lo[k] = ref / 10
                if not np.isfinite(hi[k]):
                    hi[k] = ref * 10
        return self.to_u(lo), self.to_u(hi)

    def cost_and_grad_u(self, u):
        x = self.to_x(u)
        f, g = self.cost_and_grad(x)
        return f, np.where(self.log, g * x, g)

    def clip(self, x) -> np.ndarray:
        return np.clip(x, self.lower, self.upper)
