r"""The weighted least-squares problem every fitter solves.

.. math::

    F(x) = \tfrac12 \sum_o w_o \left(\hat o(x) - o\right)^2
         + \tfrac12 \sum_{j \in \text{priors}} \left(\frac{x_j - \mu_j}{\delta_j}\right)^2,
    \qquad w_o = \frac{w_{s(o)}}{\sigma_o^2},

over every observation o (energies, force components, stress components; see
:mod:`ljfit.fitting.targets`), plus one term for each *Gaussian prior* a user states,
:math:`x_j \sim \mathcal N(\mu_j, \delta_j^2)` (value and width in the parameter's unit, eV
or Å). Only named parameters have a prior; the prior residual :math:`(x_j-\mu_j)/\delta_j`
is dimensionless like the data residuals :math:`(\hat o - o)/\sigma_o`, so that F is
χ²/2 of data and priors together (the negative log posterior).

Numerically the fitters see the weights *relative* to the largest energy 1/σ²,
:math:`w_o = s\,\tilde w_o` with :math:`s = \max_{\text{energy rows}} \sigma_o^{-2}`:
residuals are
:math:`r = [\sqrt{\tilde w}(\hat o - o);\ (x_j - \mu_j)/(\delta_j\sqrt s)]` and
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

__all__ = ["Problem", "parse_priors", "REGULARIZATION_REMOVED"]

#: Why the old ridge keywords are refused (they pulled every unnamed parameter toward the
#: spec defaults with a dimensionless strength against a cost in eV²).
REGULARIZATION_REMOVED = (
    "regularization/prior were replaced by Gaussian priors on named parameters: "
    "priors={'sigma[Au-O]': (3.0, 0.1)} (value and width in the parameter's unit; on the "
    "command line --prior 'sigma[Au-O]=3.0±0.1'); parameters without a prior are not pulled "
    "anywhere"
)


def parse_priors(priors, spec) -> dict:
    """Validate Gaussian priors against a parameter spec.

    Parameters
    ----------
    priors : dict, optional
        ``{name: (value, width)}``: the prior mean and standard deviation of a free
        parameter, in its unit (eV for ε, offset and e0, Å for σ).
    spec : ParamSpec

    Returns
    -------
    dict
        ``{name: (value, width)}`` as floats, in the spec's order of free parameters.

    Raises
    ------
    FitError
        An unknown or fixed parameter, a value that is not finite, a width that is not a
        finite positive number (each message names the parameter).
    """
    out = {}
    for name, item in dict(priors or {}).items():
        p = spec[name]  # FitError naming an unknown parameter
        if not p.vary:
            raise FitError(f"prior on {name}: the parameter is fixed; a prior on it has no "
                           "effect (drop the prior or the --fix)")
        try:
            value, width = (float(v) for v in item)
        except (TypeError, ValueError):
            raise FitError(f"prior on {name}: expected (value, width) in {p.unit}, e.g. "
                           f"{name}=3.0±0.1, got {item!r}") from None
        if not np.isfinite(value):
            raise FitError(f"prior on {name}: the value must be finite, got {value}")
        if not (np.isfinite(width) and width > 0):
            raise FitError(f"prior on {name}: the width must be a finite number > 0 "
                           f"({p.unit}), got {width}")
        out[name] = (value, width)
    return {n: out[n] for n in spec.free_names if n in out}


class Problem:
    """Residuals, cost and derivatives of a model against reference observations.

    Parameters
    ----------
    model : LJModel
    energies : ndarray, shape (n_structures,), optional
        Reference energies, eV (an energies-only model; unit sigma: the cost is in eV²).
    weights : ndarray, shape (n_structures,), optional
        Non-negative weights of the energies (default 1).
    regularization, prior
        Removed (a ``FitError`` says what replaced them): use ``priors``.
    targets : Targets, optional
        Instead of ``energies``/``weights``: every reference observation of the model's
        rows with its sigma and weight (:meth:`Targets.from_dataset`).
    priors : dict, optional
        Gaussian priors ``{name: (value, width)}`` on free parameters (value and width in
        the parameter's unit); see the module docstring and :func:`parse_priors`.
    absolute_sigma : bool
        Take the sigmas (and weights) as true uncertainties: the covariance of the
        parameters is :math:`(J^\top W J)^{-1}` as it stands, not rescaled by the reduced
        χ² (``curve_fit(absolute_sigma=True)``).
    """

    def __init__(self, model, energies=None, weights=None, regularization=None, prior=None,
                 *, targets: Targets | None = None, priors=None, absolute_sigma: bool = False):
        if prior is not None or (regularization is not None and regularization != 0):
            raise FitError(REGULARIZATION_REMOVED)
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
        self.slices = slices
        spec = model.spec
        self.absolute_sigma = bool(absolute_sigma)
        self._set_priors(parse_priors(priors, spec))
        self.lower = spec.lower
        self.upper = spec.upper
        self.log = np.array([k == "epsilon" and lo > 0 for k, lo in zip(spec.kinds, self.lower)])
        self.n_data = int(np.count_nonzero(w > 0))

    def _set_priors(self, priors: dict) -> None:
        spec = self.model.spec
        free = spec.free_names
        self.priors = dict(priors)
        self.prior_index = np.array([free.index(n) for n in priors], dtype=int)
        self.prior_value = np.array([v for v, _ in priors.values()], dtype=float)
        self.prior_width = np.array([w for _, w in priors.values()], dtype=float)
        # residual (x − μ)/(δ √s): the data residuals are √w̃ (ô − o) with w̃ = w/s
        self._prior_scale = 1.0 / (self.prior_width * np.sqrt(self.scale))
        # centres of the search ranges of unbounded parameters: a prior's value, else the
        # spec's value
        centre = spec.x0
        centre[self.prior_index] = self.prior_value
        self.centre = centre

    @property
    def n_priors(self) -> int:
        return len(self.priors)

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
        model of per-element features, or another spec), with the same sigma mode; the
        priors only with ``keep_prior`` (those on parameters the new model has free)."""
        priors = None
        if keep_prior:
            free = set(model.spec.free_names)
            priors = {n: p for n, p in self.priors.items() if n in free}
        return Problem(model, targets=self.targets, priors=priors,
                       absolute_sigma=self.absolute_sigma)

    def subset(self, indices) -> "Problem":
        """The problem of the structures ``indices`` (their rows of every observable; repeats
        allowed), same weights scale, priors and sigma mode."""
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
        docstring) followed by the prior residuals."""
        r = self.sw * (self.model.predict(x) - self.y)
        if self.priors:
            x = np.asarray(x, dtype=float)
            r = np.concatenate([r, (x[self.prior_index] - self.prior_value)
                                * self._prior_scale])
        return r

    def jac(self, x) -> np.ndarray:
        """∂r/∂x, shape (n_residuals, n_free)."""
        j = self.sw[:, None] * self.model.jacobian(x)
        if self.priors:
            j = np.vstack([j, self.prior_jac()])
        return j

    def prior_jac(self) -> np.ndarray:
        """∂r/∂x of the prior residuals, shape (n_priors, n_free) (constant)."""
        jp = np.zeros((self.n_priors, self.n_free))
        jp[np.arange(self.n_priors), self.prior_index] = self._prior_scale
        return jp

    def prior_cost(self, x) -> float:
        """½ Σ ((x_j − μ_j)/δ_j)² over the priors (dimensionless)."""
        if not self.priors:
            return 0.0
        z = (np.asarray(x, dtype=float)[self.prior_index] - self.prior_value) / self.prior_width
        return 0.5 * float(z @ z)

    def cost(self, x) -> float:
        """F(x) = s·½ r·r: the weighted χ²/2 plus the prior terms."""
        r = self.residuals(x)
        return self.scale * 0.5 * float(r @ r)

    def data_cost(self, x) -> float:
        """½ Σ w_o (ô − o)² (χ²/2), without the prior terms."""
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
        the prior's value or the spec's value)."""
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
                ref = max(abs(self.centre[k]), 1e-3)
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
