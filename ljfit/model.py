r"""The energy model: pair features + a parameter spec → energies and their analytic Jacobian.

Derivation
----------
Each interacting pair belongs to a *slot* k (its element pair, or its substrate site) whose
parameters are :math:`(\varepsilon_k, \sigma_k)`. With the features
:math:`A^{(n)}_{sk}, A^{(m)}_{sk}` of :mod:`ljfit.features` (per-slot sums of
:math:`r^{-n}`, :math:`r^{-m}`, shifted if asked) the energy of structure s is

.. math::

    E_s(p) = \sum_k \left[ A^{(n)}_{sk} C_{n,k} - A^{(m)}_{sk} C_{m,k} \right] + E_0,
    \qquad C_{n,k} = C\varepsilon_k\sigma_k^n,\ C_{m,k} = C\varepsilon_k\sigma_k^m,

with the optional offset :math:`E_0`. The slot parameters are functions of the parameter
vector p: the identity for per-site and per-pair scopes, a mixing rule for per-element
(:math:`\varepsilon_{ab} = \sqrt{\varepsilon_a\varepsilon_b}` and
:math:`\sigma_{ab} = (\sigma_a+\sigma_b)/2` or :math:`\sqrt{\sigma_a\sigma_b}`). By the
chain rule the Jacobian is

.. math::

    \frac{\partial E_s}{\partial p_j} = \sum_k G^{\varepsilon}_{sk} D^{\varepsilon}_{kj}
        + G^{\sigma}_{sk} D^{\sigma}_{kj} \;(+1 \text{ for } p_j = E_0),

    G^{\varepsilon}_{sk} = A^{(n)}_{sk} C\sigma_k^n - A^{(m)}_{sk} C\sigma_k^m,\quad
    G^{\sigma}_{sk} = C\varepsilon_k\left(n A^{(n)}_{sk}\sigma_k^{n-1}
                      - m A^{(m)}_{sk}\sigma_k^{m-1}\right),

where :math:`D^{\varepsilon}_{kj} = \partial\varepsilon_k/\partial p_j` and
:math:`D^{\sigma}_{kj} = \partial\sigma_k/\partial p_j` are small (n_slots × n_params)
matrices: for Lorentz–Berthelot :math:`\partial\sigma_{ab}/\partial\sigma_a = 1/2`, for the
geometric means :math:`\partial\sqrt{xy}/\partial x = \sqrt{xy}/(2x)` (accumulated, so that
a like pair a = b gets 1). Each evaluation is a few (n_structures × n_slots) array
operations; nothing is mutated.

For per-site and per-pair scopes E is linear in :math:`(C_{n,k}, C_{m,k}, E_0)`:
:meth:`LJModel.design_matrix` gives the matrix the linear fitter solves exactly.
"""

from __future__ import annotations

import warnings

import numpy as np

from .dataset import Dataset
from .errors import FitError
from .features import PairFeatures, compute_features, slot_label
from .params import (
    DEFAULT_BOUNDS,
    DEFAULT_VALUES,
    Parameter,
    ParamSpec,
    normalize_mixing,
    normalize_scope,
    slot_parameter_names,
)
from .potentials import Mie, parse_potential

__all__ = ["LJModel"]


class LJModel:
    """Pairwise LJ / Mie energy model of a dataset, with analytic derivatives.

    Parameters
    ----------
    data : Dataset or PairFeatures
        The structures (featurised once, here) or features already computed.
    scope : {"per-pair", "per-element", "per-site"}
        What one (ε, σ) applies to (see :mod:`ljfit.params`).
    mixing : {"lorentz-berthelot", "geometric"}
        Mixing rule of the per-element scope.
    potential : str or Mie
        ``"lj"`` (12-6) or ``"mie:N:M"``.
    cutoff : float, optional
        Å; pairs beyond it do not count. Required for periodic structures.
    shift : bool
        Shift each pair energy by −φ(r_c) (needs ``cutoff``).
    offset : bool
        Add a free constant energy offset ``offset`` (eV).
    spec : ParamSpec, optional
        Parameters (values, bounds, fixed); default: one ε, σ per scope key with
        ε ∈ [1e-6, 1] eV, σ ∈ [1, 6] Å.
    chunk_pairs : int
        Memory bound of the featuriser (pairs per chunk).

    Examples
    --------
    >>> model = LJModel(dataset, scope="per-pair")          # doctest: +SKIP
    >>> e = model.energies({"epsilon[Au-C]": 0.01, ...})    # doctest: +SKIP
    """

    def __init__(
        self,
        data,
        *,
        scope: str = "per-pair",
        mixing: str = "lorentz-berthelot",
        potential="lj",
        cutoff: float | None = None,
        shift: bool = False,
        offset: bool = False,
        spec: ParamSpec | None = None,
        chunk_pairs: int = 1 << 21,
    ):
        self.scope = normalize_scope(scope)
        self.mixing = normalize_mixing(mixing)
        kind = "site" if self.scope == "per-site" else "pair"
        if isinstance(data, PairFeatures):
            features = data
            if features.kind != kind:
                raise FitError(f"scope {self.scope} needs '{kind}' features, got '{features.kind}'")
            self.group_mode = ""
            self.energy = ""
        elif isinstance(data, Dataset):
            features = compute_features(
                data,
                kind=kind,
                potential=parse_potential(potential),
                cutoff=cutoff,
                shift=shift,
                chunk_pairs=chunk_pairs,
            )
            self.group_mode = data.group_mode
            self.energy = "interaction" if data.interaction else "total"
        else:
            raise FitError(f"data: expected a Dataset or PairFeatures, got {type(data).__name__}")
        self.features = features
        self.potential: Mie = features.potential
        self.cutoff = features.cutoff
        self.shift = features.shift
        self.offset = bool(offset)
        if features.n_slots == 0:
            raise FitError("no interacting pairs in any structure (check the groups and cutoff)")
        if self.scope == "per-site" and features.site_elements:
            mixed = [f"{s}: {e}" for s, e in zip(features.slots, features.site_elements) if "/" in e]
            if mixed:
                warnings.warn(
                    "per-site scope, but these sites hold different elements in different "
                    f"structures: {'; '.join(mixed)}",
                    stacklevel=2,
                )
        self._default_spec = self._build_default_spec()
        self.spec = self._default_spec if spec is None else self._check_spec(spec)
        self._eps_map, self._sig_map = self._mapping_indices()
        self._off = self.spec.index("offset") if self.offset else None

    # ----------------------------------------------------------------------------------
    # construction helpers
    # ----------------------------------------------------------------------------------
    @property
    def elements(self) -> list:
        if self.features.kind == "site":
            return sorted({e for x in self.features.site_elements for e in x.split("/")})
        return sorted({e for slot in self.features.slots for e in slot})

    def _keys(self) -> list:
        if self.scope == "per-element":
            return self.elements
        return [slot_label(s) for s in self.features.slots]

    def _build_default_spec(self) -> ParamSpec:
        params = []
        for kind in ("epsilon", "sigma"):
            lo, hi = DEFAULT_BOUNDS[kind]
            for key in self._keys():
                params.append(Parameter(f"{kind}[{key}]", DEFAULT_VALUES[kind], lo, hi))
        if self.offset:
            params.append(Parameter("offset", 0.0, *DEFAULT_BOUNDS["offset"]))
        return ParamSpec(params)

    def _check_spec(self, spec: ParamSpec) -> ParamSpec:
        want, got = set(self._default_spec.names), set(spec.names)
        if want != got:
            missing, extra = sorted(want - got), sorted(got - want)
            raise FitError(
                f"spec does not match the model ({self.scope}): "
                f"missing {missing or 'none'}, unexpected {extra or 'none'}"
            )
        # keep the model's order so vectors mean the same thing everywhere
        return ParamSpec([spec[n] for n in self._default_spec.names])

    def _mapping_indices(self):
        """Index arrays from slots to parameters: (K,) for direct scopes, (K, 2) for mixing."""
        idx = self.spec.index
        eps, sig = [], []
        for slot in self.features.slots:
            e, s = slot_parameter_names(self.scope, slot)
            if self.scope == "per-element":
                eps.append([idx(e[0]), idx(e[1])])
                sig.append([idx(s[0]), idx(s[1])])
            else:
                eps.append(idx(e))
                sig.append(idx(s))
        return np.array(eps, dtype=int), np.array(sig, dtype=int)

    def with_spec(self, spec: ParamSpec) -> "LJModel":
        """The same model (same features, no recomputation) with another parameter spec."""
        return self._clone(self.features, spec)

    def take(self, indices) -> "LJModel":
        """The model of a subset of the structures (rows of the features; no recomputation)."""
        return self._clone(self.features.take(indices), self.spec)

    def _clone(self, features, spec):
        new = LJModel(features, scope=self.scope, mixing=self.mixing, offset=self.offset, spec=spec)
        new.group_mode, new.energy = self.group_mode, self.energy
        return new

    # ----------------------------------------------------------------------------------
    # shapes and descriptions
    # ----------------------------------------------------------------------------------
    @property
    def n_structures(self) -> int:
        return self.features.n_structures

    @property
    def n_free(self) -> int:
        return self.spec.n_free

    @property
    def linear(self) -> bool:
        """True when E is linear in (C_n, C_m, offset) slot by slot: per-site / per-pair
        scopes with every ε and σ free."""
        if self.scope == "per-element":
            return False
        return all(p.vary for p in self.spec if p.kind != "offset")

    def describe(self) -> dict:
        """The model as plain data (what ``params.json`` records to rebuild it)."""
        return {
            "scope": self.scope,
            "mixing": self.mixing if self.scope == "per-element" else None,
            "potential": self.potential.name,
            "n": self.potential.n,
            "m": self.potential.m,
            "cutoff": self.cutoff,
            "shift": self.shift,
            "offset": self.offset,
            "energy": self.energy,
            "groups": self.group_mode,
            "slots": self.features.labels,
        }

    def __repr__(self):
        return (
            f"<LJModel {self.scope} {self.potential.name}, {self.n_structures} structures, "
            f"{len(self.spec)} parameters ({self.n_free} free)>"
        )

    # ----------------------------------------------------------------------------------
    # evaluation (pure functions of the parameters)
    # ----------------------------------------------------------------------------------
    def _full(self, x) -> np.ndarray:
        if x is None:
            return self.spec.values
        if isinstance(x, dict):
            return self.spec.with_values(x).values
        return self.spec.full(x)

    def slot_parameters(self, x=None):
        """(ε_k, σ_k), each shape (n_slots,), from the free vector ``x`` (or a name→value
        dict; default: the spec's values)."""
        return self._slot_params_full(self._full(x))

    def _slot_params_full(self, p):
        if self.scope == "per-element":
            e, s = p[self._eps_map], p[self._sig_map]
            eps = np.sqrt(e[:, 0] * e[:, 1])
            if self.mixing == "lorentz-berthelot":
                sig = 0.5 * (s[:, 0] + s[:, 1])
            else:
                sig = np.sqrt(s[:, 0] * s[:, 1])
            return eps, sig
        return p[self._eps_map], p[self._sig_map]

    def pair_parameters(self, x=None) -> dict:
        """``{slot label: (ε, σ)}``: the parameters each pair type or site actually uses."""
        eps, sig = self.slot_parameters(x)
        return {lab: (float(e), float(s)) for lab, e, s in zip(self.features.labels, eps, sig)}

    def energies(self, x=None) -> np.ndarray:
        """Model energies, shape (n_structures,), eV.

        Parameters
        ----------
        x : ndarray, shape (n_free,), or dict, optional
            Free parameters in spec order (or a name → value mapping); default: spec values.
        """
        p = self._full(x)
        eps, sig = self._slot_params_full(p)
        an, am = self.features.effective
        cn, cm = self.potential.coefficients(eps, sig)
        e = an @ cn - am @ cm
        if self._off is not None:
            e = e + p[self._off]
        return e

    def _mixing_derivatives(self, p):
        """D^ε, D^σ: ∂ε_k/∂p_j and ∂σ_k/∂p_j, each (n_slots, n_params)."""
        k = np.arange(self.features.n_slots)
        d_eps = np.zeros((len(k), len(p)))
        d_sig = np.zeros((len(k), len(p)))
        if self.scope != "per-element":
            d_eps[k, self._eps_map] = 1.0
            d_sig[k, self._sig_map] = 1.0
            return d_eps, d_sig
        ia, ib = self._eps_map[:, 0], self._eps_map[:, 1]
        eps_ab = np.sqrt(p[ia] * p[ib])
        # ∂√(ab)/∂a = √(ab)/(2a); accumulate so that a like pair (ia == ib) gets 1
        np.add.at(d_eps, (k, ia), eps_ab / (2 * p[ia]))
        np.add.at(d_eps, (k, ib), eps_ab / (2 * p[ib]))
        sa, sb = self._sig_map[:, 0], self._sig_map[:, 1]
        if self.mixing == "lorentz-berthelot":
            np.add.at(d_sig, (k, sa), 0.5)
            np.add.at(d_sig, (k, sb), 0.5)
        else:
            sig_ab = np.sqrt(p[sa] * p[sb])
            np.add.at(d_sig, (k, sa), sig_ab / (2 * p[sa]))
            np.add.at(d_sig, (k, sb), sig_ab / (2 * p[sb]))
        return d_eps, d_sig

    def full_jacobian(self, x=None) -> np.ndarray:
        """∂E_s/∂p_j for every parameter, free or fixed: shape (n_structures, n_params)."""
        p = self._full(x)
        eps, sig = self._slot_params_full(p)
        an, am = self.features.effective
        dcn_de, dcn_ds, dcm_de, dcm_ds = self.potential.coefficient_derivatives(eps, sig)
        g_eps = an * dcn_de - am * dcm_de
        g_sig = an * dcn_ds - am * dcm_ds
        d_eps, d_sig = self._mixing_derivatives(p)
        jac = g_eps @ d_eps + g_sig @ d_sig
        if self._off is not None:
            jac[:, self._off] = 1.0
        return jac

    def jacobian(self, x=None) -> np.ndarray:
        """∂E_s/∂x_j with respect to the free parameters: shape (n_structures, n_free), eV per
        unit of each parameter (eV/eV for ε and offset, eV/Å for σ)."""
        return self.full_jacobian(x)[:, self.spec.free]

    # ----------------------------------------------------------------------------------
    # the linear structure
    # ----------------------------------------------------------------------------------
    def design_matrix(self):
        """Design matrix of the linear problem E = X c.

        Returns
        -------
        X : ndarray, shape (n_structures, 2·n_slots [+ 1])
            Columns ``A_n[:, k]`` for every slot, then ``−A_m[:, k]``, then ones for the offset
            when the model has a free offset.
        columns : list of str
            ``Cn[<slot>]``, ``Cm[<slot>]``, ``offset``.

        Raises
        ------
        FitError
            When the model is not linear in these coefficients (per-element scope, or a
            fixed ε or σ).
        """
        if not self.linear:
            raise FitError(
                "the linear solve needs the per-site or per-pair scope with every epsilon and "
                f"sigma free (this model: {self.scope}"
                f"{', some fixed' if self.scope != 'per-element' else ''})"
            )
        an, am = self.features.effective
        labels = self.features.labels
        cols = [an, -am]
        names = [f"Cn[{s}]" for s in labels] + [f"Cm[{s}]" for s in labels]
        if self.offset and self.spec["offset"].vary:
            cols.append(np.ones((self.n_structures, 1)))
            names.append("offset")
        return np.hstack(cols), names

    def from_coefficients(self, c) -> np.ndarray:
        """Full parameter vector from linear coefficients ``c`` (as in :meth:`design_matrix`):
        ε_k, σ_k from (C_n,k, C_m,k); ``nan`` where a coefficient is not positive."""
        k = self.features.n_slots
        c = np.asarray(c, dtype=float)
        eps, sig = self.potential.from_coefficients(c[:k], c[k : 2 * k])
        p = self.spec.values
        p[self._eps_map] = eps
        p[self._sig_map] = sig
        if self.offset and self.spec["offset"].vary:
            p[self._off] = c[2 * k]
        return p

    def coefficients(self, x=None) -> np.ndarray:
        """Linear coefficients (C_n,k…, C_m,k… [, offset]) of the parameters ``x``."""
        eps, sig = self.slot_parameters(x)
        cn, cm = self.potential.coefficients(eps, sig)
        out = [cn, cm]
        if self.offset and self.spec["offset"].vary:
            out.append([self._full(x)[self._off]])
        return np.concatenate(out)
