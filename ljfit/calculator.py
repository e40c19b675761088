r"""An ASE calculator with fitted LJ / Mie parameters.

For the interacting pairs (i, j) of an Atoms (group A × group B, or every pair once), with
:math:`\mathbf d_{ij} = \mathbf r_j - \mathbf r_i` (periodic image included) and
:math:`r = |\mathbf d_{ij}|`,

.. math::

    E = \sum_{(i,j)} w_{ij}\,\phi_c(r_{ij}) + E_0,\qquad
    \mathbf F_j = -\sum_i w_{ij}\,\phi'(r_{ij})\,\frac{\mathbf d_{ij}}{r_{ij}},\quad
    \mathbf F_i = +\sum_j w_{ij}\,\phi'(r_{ij})\,\frac{\mathbf d_{ij}}{r_{ij}},

    \sigma_{\alpha\beta} = \frac{1}{V}\sum_{(i,j)} w_{ij}\,\phi'(r_{ij})
        \frac{d_{ij,\alpha}\,d_{ij,\beta}}{r_{ij}},

where :math:`\phi_c` is the (cut, optionally shifted) pair potential with the slot's (ε, σ),
:math:`w_{ij}` is 1 (or 1/2 for a periodic pair listed in both directions) and :math:`E_0`
the fitted offset; with per-element reference energies ``e0[El]`` each atom adds its
element's. Per-atom energies split each pair half and half, the offset evenly, and carry
their own e0.
By default this reproduces the fitted model exactly: same pair selection, cutoff and shift.
"""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from .errors import FitError
from .features import pair_list
from .features.slots import site_index as _site_index
from .params import normalize_mixing, normalize_scope, resolve_pair
from .potentials import cut, parse_potential

__all__ = ["LJCalculator"]


class LJCalculator(Calculator):
    """ASE calculator for a pairwise LJ / Mie model with named parameters.

    Parameters
    ----------
    values : dict
        Parameter values by name (``epsilon[Au-C]``, ``sigma[3]``, ``epsilon[C]``, ``offset``),
        eV and Å.
    scope : {"per-pair", "per-element", "per-site"}
    mixing : {"lorentz-berthelot", "geometric"}
        Used by the per-element scope.
    potential : str
        ``"lj"`` or ``"mie:N:M"``.
    cutoff : float, optional
        Å; required for periodic Atoms.
    shift : bool
    groups : str
        How to split an Atoms into groups A and B, as when reading: ``"all"`` (every pair,
        total energy), ``"tags"``, ``"auto"``, ``"fragments"``, ``"first:N"``, ``"array:NAME"``.
    include_offset : bool
        Add the fitted ``offset`` and reference energies ``e0[El]`` to the energy (default
        True, to reproduce the fit).
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]
    default_parameters = {
        "values": {},
        "scope": "per-pair",
        "mixing": "lorentz-berthelot",
        "potential": "lj",
        "cutoff": None,
        "shift": False,
        "groups": "all",
        "include_offset": True,
    }
    nolabel = True

    def __init__(self, values=None, **kwargs):
        super().__init__(values=dict(values or {}), **kwargs)
        self._configure()

    def _configure(self):
        """Validate the settings and build the (cut) kernel from ``self.parameters``."""
        p = self.parameters
        self._scope = normalize_scope(p.scope)
        self._mixing = normalize_mixing(p.mixing)
        self._potential = parse_potential(p.potential)
        self._energy, self._denergy = cut(self._potential, p.cutoff, bool(p.shift))

    def set(self, **kwargs):
        """Change settings; any change discards cached results and rebuilds the kernel."""
        changed = super().set(**kwargs)
        if changed:
            self.reset()
            self._configure()
        return changed

    @classmethod
    def from_file(cls, path, **overrides) -> "LJCalculator":
        """Build from the ``params.json`` a fit writes (model description + best parameters).

        The document is validated first (:func:`ljfit.paramsfile.load_params`): a
        missing key, a wrong type, a NaN or out-of-range value, an unknown scope or
        potential raise :class:`~ljfit.errors.DataError` naming the file and the key.
        Keyword arguments override the recorded settings (``cutoff=``, ``groups=`` ...).
        """
        from .paramsfile import load_params

        doc = load_params(path)
        model = doc["model"]
        kwargs = dict(
            scope=model["scope"],
            mixing=model.get("mixing") or "lorentz-berthelot",
            potential=model["potential"],
            cutoff=model["cutoff"],
            shift=model["shift"],
            groups=model.get("groups") or "all",
        )
        kwargs.update(overrides)
        return cls(doc["parameters"], **kwargs)

    # ----------------------------------------------------------------------------------
    def _reference_energies(self, atoms) -> np.ndarray:
        """e0 of every atom's element (eV), zeros when the parameters have none."""
        values = self.parameters["values"]
        table = {k[3:-1]: float(v) for k, v in values.items()
                 if k.startswith("e0[") and k.endswith("]")}
        symbols = atoms.get_chemical_symbols()
        if not table:
            return np.zeros(len(symbols))
        missing = sorted(set(symbols) - set(table))
        if missing:
            raise FitError(f"no reference energy e0[{missing[0]}] for the element "
                           f"{missing[0]} (the parameters have e0 for "
                           f"{', '.join(sorted(table))})")
        return np.array([table[s] for s in symbols])

    def _slot_parameters(self, atoms, groups, i, j):
        """(ε, σ) per pair, resolved once per distinct slot."""
        values = self.parameters["values"]
        if self._scope == "per-site":
            if groups is None:
                raise FitError("per-site parameters need two groups (set groups=...)")
            keys = _site_index(groups)[i]
            uniq, inverse = np.unique(keys, return_inverse=True)
            slots = [int(u) for u in uniq]
        else:
            sym = np.asarray(atoms.get_chemical_symbols())
            elements, code = np.unique(sym, return_inverse=True)
            ci, cj = code[i], code[j]
            pc = np.minimum(ci, cj) * len(elements) + np.maximum(ci, cj)
            uniq, inverse = np.unique(pc, return_inverse=True)
            slots = [(str(elements[u // len(elements)]), str(elements[u % len(elements)]))
                     for u in uniq]
        table = np.array([resolve_pair(self._scope, self._mixing, values, s) for s in slots])
        table = table.reshape(-1, 2)
        return table[inverse, 0], table[inverse, 1]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        p = self.parameters
        from .io import groups_for_atoms  # the reader decides groups the same way

        groups = groups_for_atoms(atoms, p.groups)
        i, j, vec, w = pair_list(
            atoms.positions, cell=atoms.cell.array, pbc=atoms.pbc, groups=groups,
            cutoff=p.cutoff,
        )
        n = len(atoms)
        eps, sig = self._slot_parameters(atoms, groups, i, j)
        r = np.sqrt(np.einsum("pk,pk->p", vec, vec))
        e_pair = w * self._energy(r, eps, sig)
        offset = float(p["values"].get("offset", 0.0)) if p.include_offset else 0.0
        energies = 0.5 * (np.bincount(i, e_pair, n) + np.bincount(j, e_pair, n)) + offset / n
        if p.include_offset:
            energies = energies + self._reference_energies(atoms)
        # dE/dd_ij = w φ'(r) d/r acts on j with +, on i with −; F = −dE/dr
        g = (w * self._denergy(r, eps, sig) / np.where(r > 0, r, 1.0))[:, None] * vec
        forces = np.zeros((n, 3))
        for ax in range(3):
            forces[:, ax] = np.bincount(i, g[:, ax], n) - np.bincount(j, g[:, ax], n)
        energy = float(e_pair.sum() + offset)
        if p.include_offset:
            energy += float(self._reference_energies(atoms).sum())
        self.results["energy"] = energy
        self.results["free_energy"] = energy
        self.results["energies"] = energies
        self.results["forces"] = forces
        if atoms.cell.rank == 3 and atoms.pbc.all():
            virial = np.einsum("pa,pb->ab", g, vec)
            stress = virial / atoms.get_volume()
            self.results["stress"] = stress.flat[[0, 4, 8, 5, 2, 1]]
        elif "stress" in properties:
            from ase.calculators.calculator import PropertyNotImplementedError

            raise PropertyNotImplementedError("stress needs a 3D-periodic cell")
