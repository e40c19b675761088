r"""What a fit compares the model with: reference observations and their expected errors.

Every observable o — an energy, a force component, a stress component — enters the cost as
its residual divided by the error expected of its reference,

.. math:: F = \tfrac12 \sum_o w_{s(o)} \left(\frac{\hat o - o}{\sigma_o}\right)^2,

with :math:`w_s` the weight of the observable's structure (1 unless the data give one).
The defaults (:data:`DEFAULT_SIGMAS`) are typical errors of DFT references: 1 meV per atom
for total energies (1 meV per structure for interaction energies), 50 meV/Å for forces,
0.1 GPa (6.24·10⁻⁴ eV/Å³) for stress. Only their ratios matter for the fitted parameters
(with standard errors scaled by the reduced χ²); their size matters where the sigmas are
taken as true uncertainties (absolute χ²).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from ..errors import FitError

__all__ = ["Sigmas", "Targets", "parse_energy_sigma", "parse_stress_sigma", "GPA",
           "DEFAULT_SIGMAS"]

#: 1 GPa in eV/Å³.
GPA = 1.0 / 160.21766208


@dataclass(frozen=True)
class Sigmas:
    """Expected errors of the reference observations.

    Attributes
    ----------
    energy : float
        eV per structure, or per atom when ``energy_per_atom``.
    energy_per_atom : bool
        The energy sigma of a structure is ``energy`` times its number of atoms.
    forces : float
        eV/Å, per force component.
    stress : float
        eV/Å³, per stress component.
    """

    energy: float = 1e-3
    energy_per_atom: bool = False
    forces: float = 0.05
    stress: float = 0.1 * GPA

    def __post_init__(self):
        for name in ("energy", "forces", "stress"):
            v = float(getattr(self, name))
            if not (math.isfinite(v) and v > 0):
                raise FitError(f"{name} sigma must be a positive number, got {v!r}")
            object.__setattr__(self, name, v)

    @classmethod
    def default_for(cls, dataset) -> "Sigmas":
        """The defaults for a dataset: per atom for total energies, per structure for
        interaction energies."""
        return cls(energy_per_atom=not dataset.interaction)

    def describe(self) -> dict:
        """Plain data for reports: the sigmas with their units."""
        return {
            "energy": self.energy,
            "energy_unit": "eV/atom" if self.energy_per_atom else "eV",
            "forces": self.forces,
            "forces_unit": "eV/Å",
            "stress": self.stress,
            "stress_unit": "eV/Å³",
            "stress_GPa": self.stress / GPA,
        }

    def text(self) -> str:
        e = f"{self.energy:g} eV{'/atom' if self.energy_per_atom else ''}"
        return (f"energy {e}, forces {self.forces:g} eV/Å, stress {self.stress:.3g} eV/Å³ "
                f"({self.stress / GPA:.3g} GPa)")


DEFAULT_SIGMAS = Sigmas()


def _number(text, what):
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise FitError(f"{what}: expected a number, got {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise FitError(f"{what}: expected a positive number, got {text!r}")
    return v


def parse_energy_sigma(text) -> tuple:
    """``"0.002"`` → (0.002, False) eV per structure; ``"0.001/atom"`` → (0.001, True)."""
    s = str(text).strip().lower().replace(" ", "")
    per_atom = False
    for suffix in ("/atom", "peratom", "ev/atom"):
        if s.endswith(suffix):
            s, per_atom = s[: -len(suffix)], True
            break
    s = re.sub(r"ev$", "", s)
    return _number(s, "energy sigma"), per_atom


def parse_stress_sigma(text) -> float:
    """eV/Å³ (a plain number, or with ``eV/A3``), or with a ``GPa`` suffix."""
    s = str(text).strip().lower().replace(" ", "")
    if s.endswith("gpa"):
        return _number(s[:-3], "stress sigma") * GPA
    s = re.sub(r"(ev/a\^?3|ev/å\^?3|ev/å³|ev/a³)$", "", s)
    return _number(s, "stress sigma")


@dataclass(frozen=True, eq=False)
class Targets:
    """Reference observations stacked like a model's rows (energies, force rows, stress
    rows), with the expected error and the structure weight of each.

    Attributes
    ----------
    values : ndarray, shape (n_observations,)
        eV, eV/Å, eV/Å³.
    sigma : ndarray, shape (n_observations,)
        Expected errors, same units.
    weight : ndarray, shape (n_observations,)
        Weight of each row's structure.
    """

    values: np.ndarray
    sigma: np.ndarray
    weight: np.ndarray

    @classmethod
    def energies_only(cls, energies, weights=None) -> "Targets":
        """Energies with unit sigma (the weights as given): a cost in eV²."""
        y = np.asarray(energies, dtype=float)
        w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float)
        return cls(y, np.ones_like(y), w)

    @classmethod
    def from_dataset(cls, dataset, model, sigmas: Sigmas | None = None) -> "Targets":
        """The references of ``dataset`` for the rows ``model`` has (its force and stress
        rows are those of the structures it featurised).

        Raises
        ------
        FitError
            A structure with force (stress) rows in the model but no reference forces
            (stress) in the dataset.
        """
        sigmas = Sigmas.default_for(dataset) if sigmas is None else sigmas
        f = model.features
        if len(dataset) != f.n_structures:
            raise FitError(f"dataset has {len(dataset)} structures but the model was built "
                           f"for {f.n_structures}")
        w_s = dataset.weights
        values = [dataset.energies]
        e_sigma = np.full(len(dataset), sigmas.energy)
        if sigmas.energy_per_atom:
            e_sigma = e_sigma * dataset.n_atoms
        sig = [e_sigma]
        wt = [w_s]
        for rows, attr, size, s in ((f.force_rows, "forces", 3, sigmas.forces),
                                    (f.stress_rows, "stress", 6, sigmas.stress)):
            have = np.flatnonzero(rows)
            if not len(have):
                continue
            parts = []
            for k in have:
                ref = getattr(dataset[int(k)], attr)
                if ref is None:
                    raise FitError(f"{attr}: structure {dataset[int(k)].name} has no "
                                   f"reference {attr} but the model has {attr} rows for it")
                parts.append(np.asarray(ref, dtype=float).ravel())
            v = np.concatenate(parts)
            values.append(v)
            sig.append(np.full(len(v), s))
            wt.append(np.repeat(w_s[have], rows[have]))
        return cls(np.concatenate(values), np.concatenate(sig), np.concatenate(wt))

    def take(self, rows) -> "Targets":
        rows = np.asarray(rows, dtype=np.int64)
        return Targets(self.values[rows], self.sigma[rows], self.weight[rows])
