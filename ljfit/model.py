r"""The energy model: pair features + a parameter spec → energies, forces, stress and their
analytic Jacobian.

Derivation
----------
Each interacting pair belongs to a *slot* k (its element pair, or its group-A site) whose
parameters are :math:`(\varepsilon_k, \sigma_k)`. Every observable o (an energy, a force
component, a stress component) is linear in the slot coefficients
:math:`C_{n,k} = C\varepsilon_k\sigma_k^n,\ C_{m,k} = C\varepsilon_k\sigma_k^m`:

.. math::

    o(p) = \sum_k \left[ X^{(n)}_{ok} C_{n,k} - X^{(m)}_{ok} C_{m,k} \right]
           + [\text{energy}]\Bigl(E_0 + \sum_e N_{oe}\, e_{0,e}\Bigr),

with the feature rows :math:`X^{(n)}, X^{(m)}` of :mod:`ljfit.features` (for energies the
per-slot sums of :math:`r^{-n}`, :math:`r^{-m}`, shifted if asked; for forces and stress
the sums in :mod:`ljfit.features.accumulate`), the optional constant offset :math:`E_0` and
the optional per-element reference energies :math:`e_{0,e}` (eV per atom; :math:`N_{oe}`
atoms of element e in the structure), which enter energies only. The slot parameters are
functions of the parameter vector p: the identity for per-site and per-pair scopes, a mixing
rule for per-element (:math:`\varepsilon_{ab} = \sqrt{\varepsilon_a\varepsilon_b}` and
:math:`\sigma_{ab} = (\sigma_a+\sigma_b)/2` or :math:`\sqrt{\sigma_a\sigma_b}`). By the
chain rule the Jacobian is

.. math::

    \frac{\partial o}{\partial p_j} = \sum_k G^{\varepsilon}_{ok} D^{\varepsilon}_{kj}
        + G^{\sigma}_{ok} D^{\sigma}_{kj}\ (+\text{the linear columns}),

    G^{\varepsilon}_{ok} = X^{(n)}_{ok} C\sigma_k^n - X^{(m)}_{ok} C\sigma_k^m,\quad
    G^{\sigma}_{ok} = C\varepsilon_k\left(n X^{(n)}_{ok}\sigma_k^{n-1}
                      - m X^{(m)}_{ok}\sigma_k^{m-1}\right),

where :math:`D^{\varepsilon}_{kj} = \partial\varepsilon_k/\partial p_j` and
:math:`D^{\sigma}_{kj} = \partial\sigma_k/\partial p_j` are small (n_slots × n_params)
matrices: for Lorentz–Berthelot :math:`\partial\sigma_{ab}/\partial\sigma_a = 1/2`, for the
geometric means :math:`\partial\sqrt{xy}/\partial x = \sqrt{xy}/(2x)` (accumulated, so that
a like pair a = b gets 1). Each evaluation is a few (rows × n_slots) array operations;
nothing is mutated.

Rows are stacked in a fixed order: the energies of every structure, then the force rows
(x, y, z of every atom of the structures whose forces were featurised), then the stress rows
(Voigt xx, yy, zz, yz, xz, xy). For per-site and per-pair scopes every row is linear in
:math:`(C_{n,k}, C_{m,k}, E_0, e_0)`: :meth:`LJModel.design_matrix` gives the matrix the
linear fitter solves exactly.
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
    LINEAR_KINDS,
    Parameter,
    ParamSpec,
    normalize_mixing,
    normalize_scope,
    slot_parameter_names,
)
from .potentials import Mie, parse_potential

__all__ = ["LJModel", "OBSERVABLES"]

#: Row kinds, in stacking order.
OBSERVABLES = ("energy", "forces", "stress")


class LJModel:
    """Pairwise LJ / Mie model of a dataset's energies (and forces, stress), with analytic
    derivatives.

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
    reference_energies : bool
        Add one free reference energy per element, ``e0[Ar]`` (eV per atom), to every energy
        (total energies of structures of different size or composition need them).
    forces, stress : bool or array_like of bool
        With a Dataset: also model the forces (stress) of the structures that carry
        reference forces (stress) — ``True`` — or of the structures flagged. Ignored for
        PairFeatures (their force/stress rows are used as they are).
    spec : ParamSpec, optional
        Parameters (values, bounds, fixed); default: one ε, σ per scope key with
        ε ∈ [1e-6, 1] eV, σ ∈ [1, 6] Å.
    chunk_pairs : int, optional
        Memory bound of the featuriser (candidate pairs per chunk).

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
        reference_energies: bool = False,
        forces=False,
        stress=False,
        spec: ParamSpec | None = None,
        chunk_pairs: int | None = None,
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
            if forces is True:
                forces = data.has_forces
            if stress is True:
                stress = data.has_stress
            kw = {} if chunk_pairs is None else {"chunk_pairs": chunk_pairs}
            features = compute_features(
                data,
                kind=kind,
                potential=parse_potential(potential),
                cutoff=cutoff,
                shift=shift,
                forces=forces,
                stress=stress,
                **kw,
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
        self.reference_energies = bool(reference_energies)
        if features.n_slots == 0:
            raise FitError("no interacting pairs in any structure (check the groups and cutoff)")
        if self.reference_energies and not features.elements:
            raise FitError("reference_energies: the features carry no composition")
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
        self._e0 = (np.array([self.spec.index(f"e0[{e}]") for e in features.elements])
                    if self.reference_energies else None)

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
        if self.reference_energies:
            for e in self.features.elements:
                params.append(Parameter(f"e0[{e}]", DEFAULT_VALUES["e0"], *DEFAULT_BOUNDS["e0"]))
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
        """The model of a subset of the structures (their rows of every observable; no
        recomputation)."""
        return self._clone(self.features.take(indices), self.spec)

    def observing(self, forces: bool = True, stress: bool = True) -> "LJModel":
        """The same model with its force and/or stress rows dropped (``False``)."""
        return self._clone(self.features.without_forces(forces, stress), self.spec)

    def _clone(self, features, spec):
        new = LJModel(features, scope=self.scope, mixing=self.mixing, offset=self.offset,
                      reference_energies=self.reference_energies, spec=spec)
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
    def n_rows(self) -> dict:
        """Rows of each observable: ``{"energy": S, "forces": 3·atoms, "stress": 6·S'}``."""
        f = self.features
        return {"energy": f.n_structures, "forces": f.n_force_rows, "stress": f.n_stress_rows}

    @property
    def observables(self) -> tuple:
        """The observables with rows, in stacking order."""
        return tuple(k for k, n in self.n_rows.items() if n or k == "energy")

    @property
    def n_observations(self) -> int:
        return sum(self.n_rows.values())

    def row_slices(self) -> dict:
        """``{kind: slice}`` of each observable in the stacked rows."""
        out, start = {}, 0
        for kind, n in self.n_rows.items():
            out[kind] = slice(start, start + n)
            start += n
        return out

    def row_structures(self) -> np.ndarray:
        """Structure index of every stacked row, int (n_observations,)."""
        f = self.features
        S = np.arange(f.n_structures)
        return np.concatenate([S, np.repeat(S, f.force_rows), np.repeat(S, f.stress_rows)])

    def rows_of(self, indices) -> np.ndarray:
        """Stacked row indices of the structures ``indices`` (energy rows, then force rows,
        then stress rows, each in the order of ``indices``; repeats allowed)."""
        idx = np.asarray(indices, dtype=np.int64)
        f = self.features
        n = self.n_rows
        return np.concatenate([idx, n["energy"] + f.force_index(idx),
                               n["energy"] + n["forces"] + f.stress_index(idx)])

    @property
    def linear(self) -> bool:
        """True when every row is linear in (C_n, C_m, offset, e0) slot by slot:
        per-site / per-pair scopes with every ε and σ free."""
        if self.scope == "per-element":
            return False
        return all(p.vary for p in self.spec if p.kind not in LINEAR_KINDS)

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
            "reference_energies": self.reference_energies,
            "energy": self.energy,
            "groups": self.group_mode,
            "slots": self.features.labels,
            "observables": list(self.observables),
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

    def _blocks(self):
        """(X_n, X_m, linear?) of each observable with rows, in stacking order."""
        f = self.features
        an, am = f.effective
        out = [("energy", an, am)]
        if f.fn is not None:
            out.append(("forces", f.fn, f.fm))
        if f.vn is not None:
            out.append(("stress", f.vn, f.vm))
        return out

    def _linear_energy(self, p) -> np.ndarray | float:
        """Offset + Σ N e0 of each structure (eV), or 0."""
        e = 0.0
        if self._off is not None:
            e = e + p[self._off]
        if self._e0 is not None:
            e = e + self.features.composition @ p[self._e0]
        return e

    def predict(self, x=None) -> np.ndarray:
        """Every observable, stacked: energies (eV), force rows (eV/Å), stress rows (eV/Å³);
        shape (n_observations,)."""
        p = self._full(x)
        cn, cm = self.potential.coefficients(*self._slot_params_full(p))
        parts = []
        for kind, xn, xm in self._blocks():
            v = xn @ cn - xm @ cm
            if kind == "energy":
                v = v + self._linear_energy(p)
            parts.append(v)
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def energies(self, x=None) -> np.ndarray:
        """Model energies, shape (n_structures,), eV.

        Parameters
        ----------
        x : ndarray, shape (n_free,), or dict, optional
            Free parameters in spec order (or a name → value mapping); default: spec values.
        """
        p = self._full(x)
        an, am = self.features.effective
        cn, cm = self.potential.coefficients(*self._slot_params_full(p))
        return an @ cn - am @ cm + self._linear_energy(p)

    def forces(self, x=None) -> np.ndarray:
        """Force rows, shape (n_force_rows,), eV/Å: x, y, z of each featurised atom."""
        return self.predict(x)[self.row_slices()["forces"]]

    def stress(self, x=None) -> np.ndarray:
        """Stress rows, shape (n_stress_rows,), eV/Å³, Voigt order per structure."""
        return self.predict(x)[self.row_slices()["stress"]]

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
        """∂o/∂p_j of every stacked observable for every parameter, free or fixed: shape
        (n_observations, n_params)."""
        p = self._full(x)
        eps, sig = self._slot_params_full(p)
        dcn_de, dcn_ds, dcm_de, dcm_ds = self.potential.coefficient_derivatives(eps, sig)
        d_eps, d_sig = self._mixing_derivatives(p)
        parts = []
        for kind, xn, xm in self._blocks():
            jac = (xn * dcn_de - xm * dcm_de) @ d_eps + (xn * dcn_ds - xm * dcm_ds) @ d_sig
            if kind == "energy":
                if self._off is not None:
                    jac[:, self._off] = 1.0
                if self._e0 is not None:
                    jac[:, self._e0] = self.features.composition
            parts.append(jac)
        return np.vstack(parts) if len(parts) > 1 else parts[0]

    def jacobian(self, x=None) -> np.ndarray:
        """∂o/∂x_j of every stacked observable with respect to the free parameters: shape
        (n_observations, n_free) — (n_structures, n_free) for an energies-only model. Units:
        the observable's per unit of each parameter (eV/eV for ε, e0 and offset, eV/Å for σ;
        forces and stress rows likewise per eV/Å and eV/Å³)."""
        return self.full_jacobian(x)[:, self.spec.free]

    # ----------------------------------------------------------------------------------
    # the linear structure
    # ----------------------------------------------------------------------------------
    def design_matrix(self):
        """Design matrix of the linear problem o = X c (+ fixed linear terms).

        Returns
        -------
        X : ndarray, shape (n_observations, n_columns)
            Columns ``X_n[:, k]`` for every slot, then ``−X_m[:, k]``, then ones (energy rows)
            for a free offset, then the composition (energy rows) for each free ``e0``.
        columns : list of str
            ``Cn[<slot>]``, ``Cm[<slot>]``, ``offset``, ``e0[<element>]``.

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
        labels = self.features.labels
        blocks = self._blocks()
        xn = np.vstack([b[1] for b in blocks]) if len(blocks) > 1 else blocks[0][1]
        xm = np.vstack([b[2] for b in blocks]) if len(blocks) > 1 else blocks[0][2]
        cols = [xn, -xm]
        names = [f"Cn[{s}]" for s in labels] + [f"Cm[{s}]" for s in labels]
        n_obs, S = self.n_observations, self.n_structures
        if self.offset and self.spec["offset"].vary:
            one = np.zeros((n_obs, 1))
            one[:S] = 1.0
            cols.append(one)
            names.append("offset")
        if self._e0 is not None:
            free = [k for k, e in enumerate(self.features.elements)
                    if self.spec[f"e0[{e}]"].vary]
            if free:
                comp = np.zeros((n_obs, len(free)))
                comp[:S] = self.features.composition[:, free]
                cols.append(comp)
                names += [f"e0[{self.features.elements[k]}]" for k in free]
        return np.hstack(cols), names

    def fixed_linear(self) -> np.ndarray:
        """The stacked contribution of fixed offset / e0 parameters (eV on energy rows, 0
        elsewhere): what :meth:`design_matrix` leaves out, shape (n_observations,)."""
        out = np.zeros(self.n_observations)
        p = self.spec.values
        S = self.n_structures
        if self._off is not None and not self.spec["offset"].vary:
            out[:S] += p[self._off]
        if self._e0 is not None:
            fixed = [k for k, e in enumerate(self.features.elements)
                     if not self.spec[f"e0[{e}]"].vary]
            if fixed:
                out[:S] += self.features.composition[:, fixed] @ p[self._e0[fixed]]
        return out

    def from_coefficients(self, c) -> np.ndarray:
        """Full parameter vector from linear coefficients ``c`` (as in :meth:`design_matrix`):
        ε_k, σ_k from (C_n,k, C_m,k); ``nan`` where a coefficient is not positive."""
        k = self.features.n_slots
        c = np.asarray(c, dtype=float)
        eps, sig = self.potential.from_coefficients(c[:k], c[k : 2 * k])
        p = self.spec.values
        p[self._eps_map] = eps
        p[self._sig_map] = sig
        for j, name in enumerate(self._linear_columns()):
            p[self.spec.index(name)] = c[2 * k + j]
        return p

    def _linear_columns(self) -> list:
        """Names of the free linear columns after the slot columns."""
        names = []
        if self.offset and self.spec["offset"].vary:
            names.append("offset")
        if self._e0 is not None:
            names += [f"e0[{e}]" for e in self.features.elements if self.spec[f"e0[{e}]"].vary]
        return names

    def coefficients(self, x=None) -> np.ndarray:
        """Linear coefficients (C_n,k…, C_m,k… [, offset] [, e0…]) of the parameters ``x``."""
        p = self._full(x)
        cn, cm = self.potential.coefficients(*self._slot_params_full(p))
        names = self._linear_columns()
        return np.concatenate([cn, cm, [p[self.spec.index(n)] for n in names]])
