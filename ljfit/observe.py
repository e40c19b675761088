"""What a fit observes: which energies, forces and stress of the data it fits, with which
sigmas, and whether per-element reference energies are part of the model.

The rules (:func:`plan`), which the command line follows and the API offers:

* **Forces and stress** present in the data are fitted for *total* energies (every pair
  counts): there the model's forces are the reference's. For *interaction* energies between
  two groups the model has only the A–B pairs, while the forces an MD or DFT code writes
  hold the intra-group terms too: they are not fitted, and asking for them is an error —
  unless the forces are interaction forces stored under a key named explicitly
  (``interaction_forces=True``, ``--force-key KEY``).
* **Reference energies** ``e0[El]`` (eV per atom) are fitted for total energies whose
  structures differ in size or composition (``"auto"``); never for interaction energies (the
  atoms' own energies cancel in them). Where the compositions cannot tell e0 apart from one
  another or from the offset (one composition only, fixed ratios), fitting them is refused
  with the combination that *is* determined, rather than returning noisy numbers.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataError, FitError
from .fitting.targets import Sigmas

__all__ = ["FitPlan", "plan", "read_reference_energies", "fragment_hint", "REFERENCE_CHOICES"]

REFERENCE_CHOICES = ("auto", "fit", "none")


@dataclass
class FitPlan:
    """The observables and reference energies of a fit.

    Attributes
    ----------
    forces, stress : ndarray of bool, shape (n_structures,)
        Structures whose forces / stress are fitted.
    reference_energies : {"fit", "none", "file"}
    e0 : dict
        Fixed reference energies by element (eV per atom), for ``"file"``.
    sigmas : Sigmas
    notes : list of str
        What was decided and why, for the console and the report.
    """

    forces: np.ndarray
    stress: np.ndarray
    reference_energies: str
    e0: dict = field(default_factory=dict)
    sigmas: Sigmas = field(default_factory=Sigmas)
    notes: list = field(default_factory=list)

    @property
    def fits_e0(self) -> bool:
        return self.reference_energies in ("fit", "file")

    def counts(self, dataset) -> dict:
        """Numbers of energies, force components and stress components fitted."""
        n_atoms = dataset.n_atoms
        return {
            "energies": len(dataset),
            "force_components": int(3 * n_atoms[self.forces].sum()),
            "stress_components": int(6 * self.stress.sum()),
        }

    def describe(self, dataset) -> dict:
        """Plain data for metrics.json."""
        return {**self.counts(dataset), "sigmas": self.sigmas.describe(),
                "reference_energies": self.reference_energies,
                "e0_fixed": dict(self.e0), "notes": list(self.notes)}


def read_reference_energies(path) -> dict:
    """Per-element reference energies (eV per atom) from a JSON object ``{"Ar": -0.1, …}``
    (or ``{"e0": {…}}``) or a CSV file with columns ``element,e0``."""
    p = Path(path)
    display = str(path)
    if not p.is_file():
        raise DataError("reference-energies file not found", display)
    text = p.read_text(encoding="utf-8-sig", errors="replace")
    values: dict = {}
    if p.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"not a JSON object of reference energies ({exc.msg}, line "
                            f"{exc.lineno})", display) from None
        if isinstance(doc, dict) and isinstance(doc.get("e0"), dict):
            doc = doc["e0"]
        if not isinstance(doc, dict):
            raise DataError("expected a JSON object {\"Ar\": -0.05, ...} (eV per atom)",
                            display)
        items = list(doc.items())
        where = [display] * len(items)
    else:
        import csv

        rows = list(csv.reader(text.splitlines()))
        if not rows or [c.strip().lower() for c in rows[0][:2]] != ["element", "e0"]:
            raise DataError("expected a CSV header 'element,e0'", f"{display}:1")
        items = [(r[0].strip(), r[1].strip() if len(r) > 1 else "") for r in rows[1:]
                 if any(c.strip() for c in r)]
        where = [f"{display}:{k + 2}" for k in range(len(items))]
    from ase.data import chemical_symbols

    for (element, value), loc in zip(items, where):
        element = str(element).strip()
        if element not in chemical_symbols[1:]:
            raise DataError(f"unknown element {element!r}", loc)
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise DataError(f"e0 of {element} is not a number: {value!r}", loc) from None
        if not math.isfinite(v):
            raise DataError(f"e0 of {element} is {value}, not a finite number", loc)
        values[element] = v
    if not values:
        raise DataError("no reference energies in the file", display)
    return values


def _mask(flag, have, what, dataset, notes, interaction, explicit_key):
    """Which structures' ``what`` (forces/stress) are fitted."""
    none = np.zeros(len(dataset), dtype=bool)
    if flag is False:
        if have.any():
            notes.append(f"{what} in the data not fitted (--no-{what})")
        return none
    if not have.any():
        if flag is True:
            raise FitError(f"--{what}: no structure in the data has reference {what}"
                           + (" (see --force-key)" if what == "forces" else
                              " (see --stress-key)"))
        return none
    if interaction and not explicit_key:
        why = (f"these are interaction energies between two groups, but the {what} in the "
               f"file are the total {what} of each structure (they include the terms inside "
               "each group, which the interaction model does not have)")
        if flag is True:
            key = "--force-key" if what == "forces" else "--stress-key"
            raise FitError(f"--{what}: {why}; name a key that holds interaction {what} with "
                           f"{key} KEY, or drop --{what}")
        notes.append(f"{what} in the data not fitted: {why}")
        return none
    return have.copy()


def plan(dataset, *, forces=None, stress=None, force_key_explicit: bool = False,
         stress_key_explicit: bool = False, reference_energies="auto", offset: bool = False,
         sigmas: Sigmas | None = None) -> FitPlan:
    """Decide the observables and the reference energies of a fit (module docstring).

    Parameters
    ----------
    dataset : Dataset
    forces, stress : bool or None
        ``None``: fit them where the data have them (and they mean what the model means);
        ``True``: required (an error when they cannot be fitted); ``False``: not fitted.
    force_key_explicit, stress_key_explicit : bool
        The key was named by the user: for interaction energies the file's forces
        (stress) are then taken to be interaction forces (stress).
    reference_energies : {"auto", "fit", "none"} or path
        A path: fixed per-element values from :func:`read_reference_energies`.
    offset : bool
        Whether the model also has a constant offset (for the identifiability check).
    sigmas : Sigmas, optional
        Default :meth:`Sigmas.default_for` the dataset.
    """
    notes: list = []
    interaction = dataset.interaction
    f = _mask(forces, dataset.has_forces, "forces", dataset, notes, interaction,
              force_key_explicit)
    s = _mask(stress, dataset.has_stress, "stress", dataset, notes, interaction,
              stress_key_explicit)
    sigmas = Sigmas.default_for(dataset) if sigmas is None else sigmas
    choice = reference_energies if reference_energies is not None else "auto"
    e0: dict = {}
    elements, counts = dataset.compositions()
    text = str(choice).strip()
    if text.lower() in REFERENCE_CHOICES:
        choice = text.lower()
    else:
        e0 = read_reference_energies(text)
        missing = [e for e in elements if e not in e0]
        if missing:
            raise DataError(f"no reference energy for {', '.join(missing)} (the data's "
                            f"elements: {', '.join(elements)})", text)
        e0 = {e: e0[e] for e in elements}
        choice = "file"
    if choice in ("fit", "file") and interaction:
        raise FitError("reference energies: these are interaction energies between two "
                       "groups, in which each atom's own energy cancels; use them with total "
                       "energies (--groups all)")
    if choice == "auto":
        # rows against the first, in numpy: a set of 32 000 row tuples cost 25 ms
        varies = len(counts) > 1 and bool((counts != counts[0]).any())
        choice = "fit" if (not interaction and varies) else "none"
        if choice == "fit":
            notes.append("per-element reference energies e0 fitted: the structures differ "
                         "in size or composition (--reference-energies none to leave them "
                         "out)")
    if choice == "fit":
        _check_identifiable(elements, counts, offset)
    if not interaction:
        notes.extend(fragment_hint(dataset))
    return FitPlan(forces=f, stress=s, reference_energies=choice, e0=e0, sigmas=sigmas,
                   notes=notes)


def fragment_hint(dataset, limit: int = 20) -> list:
    """A note when total energies are fitted for structures made of several covalent
    fragments (e.g. dimers read without tags): every pair counts, the bonded pairs inside
    each fragment too, which is rarely what dimer energies mean. Looks at the first
    ``limit`` non-periodic structures (covalent-radius bonds, as ``--groups fragments``)."""
    from ase import Atoms

    from .io.groups import _fragments

    for structure in itertools.islice((s for s in dataset if not np.any(s.pbc)), limit):
        count = int(_fragments(Atoms(structure.symbols, positions=structure.positions))[0])
        if count >= 2:
            return [
                f"total energies: every pair counts, the bonded pairs inside each molecule "
                f"too; structure {structure.name} holds {count} covalent fragments — if the "
                "energies are interaction (binding) energies between fragments, read with "
                "--groups fragments (or tags)"]
    return []


def _check_identifiable(elements, counts, offset):
    """FitError when the compositions cannot tell the reference energies apart."""
    columns = counts.astype(float)
    if offset:
        columns = np.hstack([columns, np.ones((len(counts), 1))])
    rank = np.linalg.matrix_rank(columns)
    if rank == columns.shape[1]:
        return
    distinct = np.unique(counts, axis=0)
    if len(distinct) == 1:
        formula = "".join(f"{e}{n if n > 1 else ''}" for e, n in zip(elements, distinct[0])
                          if n)
        determined = " + ".join(f"{n}·e0[{e}]" for e, n in zip(elements, distinct[0]) if n)
        raise FitError(
            f"reference energies: every structure has the same composition ({formula}), so "
            f"only {determined} is determined — the same as a constant offset; use "
            "--offset, or --reference-energies none, or fix them with "
            "--reference-energies FILE")
    raise FitError(
        f"reference energies: the compositions determine only {rank} combinations of "
        f"{columns.shape[1]} unknowns ({', '.join(f'e0[{e}]' for e in elements)}"
        f"{' and the offset' if offset else ''}): fix some with --reference-energies FILE, "
        "or drop --offset")
