r"""The weighted least-squares problem every fitter solves.

.. math::

    F(x) = \tfrac12 \sum_o w_o \left(\hat o(x) - o\right)^2
         + \tfrac12 \lambda s \sum_j \left(\frac{x_j - x^\mathrm{prior}_j}{p_j}\right)^2,
    \qquad w_o = \frac{w_{s(o)}}{\sigma_o^2},

over every observation o (energies, force components, stress components; see
:mod:`ljfit.fitting.targets`), with an optional ridge term toward prior values (scale
:math:`p_j = |x^\mathrm{prior}_j|`, or 1 where the prior is 0, so that λ is dimensionless).

Numerically the fitters see the weights *relative* to the largest energy 1/σ²,
:math:`w_o = s\,\tilde w_o` with :math:`s = \max_{\text{energy rows}} \sigma_o^{-2}`:
residuals are
:math:`r = [\sqrt{\tilde w}(\hat o - o);\ \sqrt\lambda (x - x^\mathrm{prior})/p]` and
``least_squares`` and the scalar minimisers see :math:`\tilde F = \tfrac12 r\cdot r`
(:math:`\nabla\tilde F = J_r^\top r`), of the order of the energy residuals in eV², whatever
the sigmas. :meth:`Problem.cost` reports the true :math:`F = s\tilde F` (χ²/2, dimensionless
when the sigmas are errors). With one sigma for all energies, the structure weights reach
the fitters exactly as given (bit for bit as in ljfit 0.1.0).

Global searches work in *internal* coordinates :math:`u`: :math:`u = \log x` for ε (always
positive, spanning decades), :math:`u = x` otherwise; :meth:`Problem.to_x` maps back and the
chain rule :math:`\partial F/\partial u = x\,\partial F/\partial x` gives the gradient.
"""

from __future__ import annotations

import numpy as np

from ..errors import FitError
from .targets import Targets

__all__ = ["Problem"]


class Problem:
    """Residuals, cost and derivatives of a model against reference observations.

    Parameters
    ----------
    model : LJModel
    energies : ndarray, shape (n_structures,), optional
        Reference energies, eV (an energies-only model; unit sigma: the cost is in eV²).
    weights : ndarray, shape (n_structures,), optional
        Non-negative weights of the energies (default 1).
    regularization : float
        Ridge strength λ ≥ 0 (dimensionless, see module docstring).
    prior : dict, optional
        Prior values by parameter name; free parameters not named use the spec's values.
    targets : Targets, optional
        Instead of ``energies``/``weights``: every reference observation of the model's
        rows with its sigma and weight (:meth:`Targets.from_dataset`).
    """

    def __init__(self, model, energies=None, weights=None, regularization=0.0, prior=None,
                 *, targets: Targets | None = None):
        if targets is None:
            if energies is None:
                raise FitError("give the reference energies (or targets=)")
            y0 = np.asarray(energies, dtype=float)
            if y0.shape != (model.n_structures,):
                raise FitError(
                    f"energies: expected {model.n_structures} values (one per structure), "
                    f"got shape {y0.shape}"
                )
            if model.n_observations != model.n_structures:
                raise FitError("the model has force or stress rows: give targets= with "
                               "their references (Targets.from_dataset)")
            if weights is not None:
                w0 = np.asarray(weights, dtype=float)
                if w0.shape != y0.shape:
                    raise FitError("weights: need one finite, non-negative weight per "
                                   "structure")
            targets = Targets.energies_only(y0, weights)
        y = np.asarray(targets.values, dtype=float)
        if y.shape != (model.n_observations,):
            raise FitError(f"targets: expected {model.n_observations} observations (the "
                           f"model's rows), got shape {y.shape}")
        slices = model.row_slices()
        if not np.all(np.isfinite(y)):
            bad = np.flatnonzero(~np.isfinite(y))
            names = model.features.names
            structures = model.row_structures()[bad[:5]]
            which = [names[i] for i in structures] if names else list(structures)
            kind = next(k for k, s in slices.items() if s.start <= bad[0] < s.stop)
            what = "energy" if kind == "energy" else kind
            raise FitError(f"{what}: no finite reference {what} for {which}")
        wt = np.asarray(targets.weight, dtype=float)
        sigma = np.asarray(targets.sigma, dtype=float)
        if wt.shape != y.shape or not np.all(np.isfinite(wt)) or np.any(wt < 0):
            raise FitError("weights: need one finite, non-negative weight per structure")
        if sigma.shape != y.shape or not np.all(np.isfinite(sigma)) or np.any(sigma <= 0):
            raise FitError("sigmas: need a finite, positive expected error per observation")
        if not np.any(wt > 0):
            raise FitError("weights: every weight is zero")
        lam = float(regularization)
        if not (np.isfinite(lam) and lam >= 0):
            raise FitError(f"regularization must be a finite number >= 0, got {regularization}")
        if model.n_free == 0:
            raise FitError("every parameter is fixed: nothing to fit")
        # relative to the largest 1/σ² of the energies (of any row, without energies):
        # with one energy sigma the structure weights are used exactly as given
        inv2 = 1.0 / sigma**2
        energy_inv2 = inv2[slices["energy"]]
        self.scale = float(energy_inv2.max() if energy_inv2.size else inv2.max())
        rel = inv2 / self.scale
        w = wt * rel
        self.model = model
        self.targets = targets
        self.y = y
        self.w = w
        self.sw = np.sqrt(w)
        self.lam = lam
        self.slices = slices
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
    def energies(self) -> np.ndarray:
        """Reference energies (eV), shape (n_structures,)."""
        return self.y[self.slices["energy"]]

    @property
    def energy_weights(self) -> np.ndarray:
        return self.w[self.slices["energy"]]

    def with_model(self, model, *, keep_prior: bool = False) -> "Problem":
        """The same observations for another model with the same rows (e.g. the per-pair
        model of per-element features, or another spec), without the ridge term unless
        ``keep_prior``."""
        if keep_prior:
            prior = dict(zip(self.model.spec.free_names, self.prior))
            return Problem(model, regularization=self.lam, prior=prior, targets=self.targets)
        return Problem(model, targets=self.targets)

    def subset(self, indices) -> "Problem":
        """The problem of the structures ``indices`` (their rows of every observable; repeats
        allowed), same weights scale, prior and regularization."""
        model = self.model.take(indices)
        rows = self.model.rows_of(indices)
        sub = Problem.__new__(Problem)
        sub.__dict__.update(self.__dict__)
        sub.model = model
        sub.targets = self.targets.take(rows)
        sub.y, sub.w, sub.sw = self.y[rows], self.w[rows], self.sw[rows]
        sub.slices = model.row_slices()
        sub.n_data = int(np.count_nonzero(sub.w > 0))
        return sub

    # ----------------------------------------------------------------------------------
    @property
    def n_free(self) -> int:
        return self.model.n_free

    def residuals(self, x) -> np.ndarray:
        """r(x): weighted residuals of every observation (relative weights, see the module
        docstring) followed by the ridge residuals."""
        r = self.sw * (self.model.predict(x) - self.y)
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
        """F(x) = s·½ r·r: the weighted χ²/2 plus the ridge term."""
        r = self.residuals(x)
        return self.scale * 0.5 * float(r @ r)

    def data_cost(self, x) -> float:
        """½ Σ w_o (ô − o)² (χ²/2), without the ridge term."""
        return self.data_cost_of(self.model.predict(x))

    def data_cost_of(self, predictions, relative: bool = False) -> float:
        """½ Σ w_o (ô − o)² of stacked predictions (``relative``: ½ Σ w̃_o (ô − o)², the
        cost the minimisers see)."""
        res = np.asarray(predictions, dtype=float) - self.y
        cost = 0.5 * float(np.sum(self.w * res**2))
        return cost if relative else self.scale * cost

    def internal_cost(self, x) -> float:
        """½ r·r, the relative cost the minimisers see (:meth:`cost` / scale)."""
        r = self.residuals(x)
        return 0.5 * float(r @ r)

    def cost_and_grad(self, x):
        """(F̃, ∇F̃) of the relative cost, for the scalar minimisers."""
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
        e = self.energies
        span = float(np.ptp(e)) + float(np.max(np.abs(e))) + 1.0
        for k, kind in enumerate(self.model.spec.kinds):
            if kind in ("offset", "e0"):
                if not np.isfinite(lo[k]):
                    lo[k] = float(e.min()) - span
                if not np.isfinite(hi[k]):
                    hi[k] = float(e.max()) + span
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
