"""Plain, validated data: one :class:`Structure` per reference energy, and a :class:`Dataset`.

Nothing here imports ASE: the readers in :mod:`ljfit.io` turn files into these objects, and
everything downstream (features, model, fitters) works on them alone. Units are eV and Å.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterator, Sequence

import numpy as np

from .errors import DataError

__all__ = ["Structure", "Dataset", "GROUP_A", "GROUP_B", "VOIGT"]

GROUP_A = 0  #: group id of the "substrate" / first fragment (its atoms are the per-site sites)
GROUP_B = 1  #: group id of the "surface" / second fragment

#: Two atoms closer than this (Å) are taken to be the same atom written twice.
MIN_DISTANCE = 1e-3


_NO_PBC = np.zeros(3, bool)
_NO_PBC.setflags(write=False)
_NO_CELL = np.zeros((3, 3))
_NO_CELL.setflags(write=False)


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a)  # own copy: a Structure never aliases the caller's arrays
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Structure:
    """One atomic structure with its reference energy.

    Parameters
    ----------
    name : str
        Identifier (file stem, or ``file[frame]``), unique within a dataset.
    symbols : sequence of str, length n_atoms
        Chemical symbols.
    positions : array_like, shape (n_atoms, 3)
        Cartesian positions in Å.
    energy : float
        Reference energy in eV; ``nan`` when unknown (structures read only for prediction).
    groups : array_like of int, shape (n_atoms,), optional
        ``GROUP_A`` (0) or ``GROUP_B`` (1) per atom: the energy is the *interaction* energy
        between the two groups and only A–B pairs count. ``None``: the energy is a total
        energy in which every pair counts once.
    cell : array_like, shape (3, 3), optional
        Cell vectors (rows) in Å; zeros for a cluster.
    pbc : array_like of bool, shape (3,), optional
        Periodicity along each cell vector.
    weight : float, optional
        Weight of this structure in the cost (default 1); it multiplies the inverse squared
        sigmas of all its observables.
    source : str, optional
        Where it was read from (file, ``file[frame]``), used in error messages.
    forces : array_like, shape (n_atoms, 3), optional
        Reference forces in eV/Å (``None``: the structure has none).
    stress : array_like, shape (6,) or (3, 3), optional
        Reference stress in eV/Å³, ASE's sign convention (σ = (1/V) ∂E/∂ε: negative under
        compression) and Voigt order xx, yy, zz, yz, xz, xy; a (3, 3) matrix must be
        symmetric and is stored in Voigt form. Needs a cell periodic in all three directions.
    first_line : int, optional
        Line number of atom 1 in ``source`` for line-based files (0: not line based), so
        that messages about atoms can name their lines.
    """

    name: str
    symbols: tuple
    positions: np.ndarray
    energy: float = float("nan")
    groups: np.ndarray | None = None
    cell: np.ndarray = field(default_factory=lambda: np.zeros((3, 3)))
    pbc: np.ndarray = field(default_factory=lambda: np.zeros(3, bool))
    weight: float = 1.0
    source: str = ""
    forces: np.ndarray | None = None
    stress: np.ndarray | None = None
    first_line: int = 0

    def __post_init__(self):
        where = self.source or self.name
        symbols = tuple(map(str, self.symbols))
        pos = np.asarray(self.positions, dtype=float)
        if pos.ndim != 2 or pos.shape[1] != 3 or pos.shape[0] != len(symbols):
            raise DataError(
                f"positions have shape {pos.shape}, expected ({len(symbols)}, 3)", where
            )
        if not np.all(np.isfinite(pos)):
            raise DataError("positions contain NaN or inf", where)
        cell = np.asarray(self.cell, dtype=float).reshape(3, 3)
        pbc = np.broadcast_to(np.asarray(self.pbc, dtype=bool), (3,))
        if pbc.any() and abs(np.linalg.det(cell)) < 1e-9:
            # the neighbour lists need a proper cell for a periodic direction
            raise DataError("periodic structure with a singular cell", where)
        groups = self.groups
        if groups is not None:
            groups = np.asarray(groups)
            if groups.shape != (len(symbols),):
                raise DataError(
                    f"group ids have shape {groups.shape}, expected ({len(symbols)},)", where
                )
            if not ((groups == GROUP_A) | (groups == GROUP_B)).all():
                raise DataError("group ids must be 0 (group A) or 1 (group B)", where)
            groups = groups.astype(np.int8)
        energy = float(self.energy)
        if np.isinf(energy):
            raise DataError(f"reference energy is {energy}", where)
        weight = float(self.weight)
        if not np.isfinite(weight) or weight < 0:
            raise DataError(f"weight must be finite and >= 0, got {weight}", where)
        forces = None if self.forces is None else _check_forces(self.forces, len(symbols), where)
        stress = None
        if self.stress is not None:
            stress = _check_stress(self.stress, where)
            if not (pbc.all() and abs(np.linalg.det(cell)) > 1e-9):
                raise DataError(
                    "a stress needs a cell periodic in all three directions (it is the "
                    "energy's derivative with respect to the cell's strain)", where)
        object.__setattr__(self, "forces", None if forces is None else _readonly(forces))
        object.__setattr__(self, "stress", None if stress is None else _readonly(stress))
        object.__setattr__(self, "first_line", int(self.first_line))
        object.__setattr__(self, "symbols", symbols)
        object.__setattr__(self, "positions", _readonly(pos))
        object.__setattr__(self, "cell", _readonly(cell))
        object.__setattr__(self, "pbc", _readonly(pbc))
        object.__setattr__(self, "groups", None if groups is None else _readonly(groups))
        object.__setattr__(self, "energy", energy)
        object.__setattr__(self, "weight", weight)
        object.__setattr__(self, "_periodic", bool(pbc.any()))  # asked once per structure

    @classmethod
    def _trusted(cls, name, symbols, positions, energy, groups=None, cell=None, pbc=None,
                 weight=1.0, source="", forces=None, stress=None, first_line=0):
        """A Structure from values a reader has already validated in bulk (a tuple of str
        symbols, float arrays of the right shapes, finite positions...): no checks, no
        copies beyond making the arrays read-only. 20 µs per structure of checks add up to
        most of a 32 000-structure read."""
        self = object.__new__(cls)
        periodic = pbc is not None and bool(pbc.any())
        if pbc is None:
            pbc = _NO_PBC
        if cell is None:
            cell = _NO_CELL
        for value in (positions, groups, cell, pbc, forces, stress):
            if isinstance(value, np.ndarray) and value.flags.writeable:
                value.setflags(write=False)
        # the frozen dataclass's fields, set as object.__setattr__ would, in one update
        self.__dict__.update(
            name=name, symbols=symbols, positions=positions, energy=float(energy),
            groups=groups, cell=cell, pbc=pbc, weight=float(weight), source=source,
            forces=forces, stress=stress, first_line=int(first_line), _periodic=periodic)
        return self

    @classmethod
    def batch(cls, names, symbols, positions, energies, *, groups=None, cells=None,
              pbcs=None, weights=None, sources=None, forces=None, stresses=None,
              first_lines=None) -> list:
        """Many structures at once, with every check of the constructor.

        Each argument holds one entry per structure, as the constructor takes it (``None``
        as a whole: the constructor's default for all). The checks run over all structures
        together, with a few numpy calls on arrays of every structure instead of a dozen
        on each one's tiny arrays (the constructor costs ~40 µs, most of reading 2000
        frames of 32 atoms; this, a few µs a structure). When any check fails, the
        structures are made one by one, so that the first bad one raises the very
        :class:`~ljfit.errors.DataError` the constructor gives.

        The arrays are copies, read-only, as the constructor makes them; those of one kind
        (positions, cells, forces ...) share one block of memory.

        Returns
        -------
        list of Structure
        """
        n = len(names)

        def column(values, default):
            return [default] * n if values is None else list(values)

        kw = dict(name=list(names), symbols=list(symbols), positions=list(positions),
                  energy=list(energies), groups=column(groups, None),
                  cell=column(cells, None), pbc=column(pbcs, None),
                  weight=column(weights, 1.0), source=column(sources, ""),
                  forces=column(forces, None), stress=column(stresses, None),
                  first_line=column(first_lines, 0))
        if any(len(v) != n for v in kw.values()):
            raise ValueError("Structure.batch: every argument needs one entry per structure")
        try:
            out = cls._batch(**kw)
        except Exception:  # noqa: BLE001 - anything odd: the constructor decides, one by one
            out = None
        if out is None:
            out = []
            for k in range(n):
                args = {key: values[k] for key, values in kw.items()}
                for key in ("cell", "pbc"):  # None: the constructor's own default
                    if args[key] is None:
                        del args[key]
                out.append(cls(**args))
        return out

    @classmethod
    def _batch(cls, name, symbols, positions, energy, groups, cell, pbc, weight, source,
               forces, stress, first_line):
        """The structures of :meth:`batch` when every check passes, else None."""
        n = len(name)
        if n == 0:
            return []
        syms = [tuple(map(str, sy)) for sy in symbols]
        counts = np.array([len(sy) for sy in syms], dtype=np.intp)
        pos = [np.asarray(p, dtype=float) for p in positions]
        if any(p.shape != (c, 3) for p, c in zip(pos, counts.tolist())):
            return None
        starts = np.concatenate([[0], np.cumsum(counts)]).tolist()
        all_pos = np.concatenate(pos)  # one copy of every position
        if not np.isfinite(all_pos).all():
            return None
        cells = np.array([np.zeros((3, 3)) if c is None else
                          np.asarray(c, dtype=float).reshape(3, 3) for c in cell])
        pbc_rows = []
        for p in pbc:
            if p is None:
                p = _NO_PBC
            elif not (isinstance(p, np.ndarray) and p.dtype == bool and p.shape == (3,)):
                p = np.broadcast_to(np.asarray(p, dtype=bool), (3,))
            pbc_rows.append(p)
        pbcs = np.array(pbc_rows, dtype=bool)
        periodic = pbcs.any(axis=1)
        # batched det: numpy's gufunc runs the same LAPACK factorisation on each matrix
        volume = np.abs(np.linalg.det(cells))
        if np.any(periodic & (volume < 1e-9)):
            return None
        group_arrays = [None] * n
        if any(g is not None for g in groups):
            for k, g in enumerate(groups):
                if g is None:
                    continue
                g = np.asarray(g)
                if g.shape != (counts[k],) or not ((g == GROUP_A) | (g == GROUP_B)).all():
                    return None
                group_arrays[k] = _readonly(g.astype(np.int8))
        energies = np.array([float(e) for e in energy])
        if np.isinf(energies).any():
            return None
        weights = np.array([float(w) for w in weight])
        if not (np.isfinite(weights) & (weights >= 0)).all():
            return None
        force_list = [None] * n
        have_f = [k for k, f in enumerate(forces) if f is not None]
        if have_f:
            fs = [np.array(forces[k], dtype=float) for k in have_f]
            if any(f.shape != (counts[k], 3) for f, k in zip(fs, have_f)):
                return None
            all_f = np.concatenate(fs)
            if not np.isfinite(all_f).all():
                return None
            all_f.setflags(write=False)
            ends = np.cumsum([len(f) for f in fs]).tolist()
            for k, a, b in zip(have_f, [0] + ends[:-1], ends):
                force_list[k] = all_f[a:b]
        stress_list = [None] * n
        have_s = [k for k, st in enumerate(stress) if st is not None]
        if have_s:
            rows = []
            for k in have_s:
                st = np.asarray(stress[k], dtype=float)
                if st.shape != (6,):  # a 3x3 matrix: the constructor's own conversion
                    st = _check_stress(stress[k], source[k] or name[k])
                rows.append(st)
            all_s = np.array(rows)
            if not np.isfinite(all_s).all():
                return None
            idx = np.array(have_s)
            if not np.all(pbcs[idx].all(axis=1) & (volume[idx] > 1e-9)):
                return None
            all_s.setflags(write=False)
            for row, k in enumerate(have_s):
                stress_list[k] = all_s[row]
        for a in (all_pos, cells, pbcs):
            a.setflags(write=False)
        out = []
        new = object.__new__
        for k in range(n):
            self = new(cls)
            # the frozen dataclass's fields, set as the constructor sets them
            self.__dict__.update(
                name=name[k], symbols=syms[k], positions=all_pos[starts[k]:starts[k + 1]],
                energy=float(energies[k]), groups=group_arrays[k], cell=cells[k],
                pbc=pbcs[k], weight=float(weights[k]), source=source[k],
                forces=force_list[k], stress=stress_list[k], first_line=int(first_line[k]),
                _periodic=bool(periodic[k]))
            out.append(self)
        return out

    # -- derived views -------------------------------------------------------------------
    @property
    def n_atoms(self) -> int:
        return len(self.symbols)

    @property
    def volume(self) -> float:
        """|det(cell)| in Å³ (0 for a cluster)."""
        return float(abs(np.linalg.det(self.cell)))

    @property
    def periodic(self) -> bool:
        return self._periodic

    @property
    def interaction(self) -> bool:
        """True when the energy is an A–B interaction energy (groups are set)."""
        return self.groups is not None

    def group_symbols(self, group: int) -> tuple:
        """Symbols of the atoms of one group, in file order (for group A: site order)."""
        if self.groups is None:
            return self.symbols
        return tuple(s for s, g in zip(self.symbols, self.groups) if g == group)

    def with_energy(self, energy: float) -> "Structure":
        return replace(self, energy=energy)

    def with_weight(self, weight: float) -> "Structure":
        return replace(self, weight=weight)


def _check_forces(forces, n_atoms: int, where: str) -> np.ndarray:
    try:
        f = np.array(forces, dtype=float)
    except (TypeError, ValueError):
        raise DataError("forces are not numbers", where) from None
    if f.shape != (n_atoms, 3):
        raise DataError(
            f"forces have shape {f.shape}, expected ({n_atoms}, 3): one vector per atom", where
        )
    bad = ~np.isfinite(f).all(axis=1)
    if bad.any():
        raise DataError(f"the force on atom {int(np.argmax(bad)) + 1} is NaN or inf", where)
    return f


#: Voigt order of a stress: xx, yy, zz, yz, xz, xy (ASE's).
VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


def _check_stress(stress, where: str) -> np.ndarray:
    try:
        s = np.array(stress, dtype=float)
    except (TypeError, ValueError):
        raise DataError("the stress is not numbers", where) from None
    if s.shape in ((3, 3), (9,)):
        s = s.reshape(3, 3)
        if not np.all(np.isfinite(s)):
            raise DataError("the stress holds NaN or inf", where)
        scale = max(float(np.abs(s).max()), 1e-300)
        if np.abs(s - s.T).max() > 1e-6 * scale:
            raise DataError("the stress matrix is not symmetric", where)
        s = np.array([s[a, b] for a, b in VOIGT])
    if s.shape != (6,):
        raise DataError(
            f"the stress has shape {s.shape}, expected 6 Voigt components (xx yy zz yz xz xy) "
            "or a 3x3 matrix", where)
    if not np.all(np.isfinite(s)):
        raise DataError("the stress holds NaN or inf", where)
    return s


class Dataset(Sequence):
    """An ordered, immutable collection of :class:`Structure` with reference energies.

    Parameters
    ----------
    structures : sequence of Structure
    path : str, optional
        Where it was read from (shown in summaries and reports).
    layout : str, optional
        ``"seed"`` (substrate/surface folder), ``"ase"``, or ``""`` (built in code).
    energy_unit : str, optional
        Unit the reference energies were given in (they are stored in eV).
    group_mode : str, optional
        How the groups were assigned (``"seed"``, ``"tags"``, ``"fragments"``,
        ``"first:N"``, ``"array:NAME"``, ``"all"``).
    """

    def __init__(
        self,
        structures: Sequence[Structure],
        *,
        path: str = "",
        layout: str = "",
        energy_unit: str = "eV",
        group_mode: str = "",
        name: str | None = None,
    ):
        self._structures = tuple(structures)
        self._name = name
        if not self._structures:
            raise DataError("the dataset holds no structures", path or None)
        names = [s.name for s in self._structures]
        if len(set(names)) != len(names):
            seen, dup = set(), []
            for n in names:
                if n in seen and n not in dup:
                    dup.append(n)
                seen.add(n)
            raise DataError(f"duplicate structure names: {', '.join(sorted(dup)[:5])}",
                            path or None)
        self._names = names
        self._energies = np.array([s.energy for s in self._structures], dtype=float)
        self._weights = np.array([s.weight for s in self._structures], dtype=float)
        self._cache: dict = {}  # what the structures imply, computed once (they never change)
        kinds = {s.interaction for s in self._structures}
        if len(kinds) > 1:
            raise DataError(
                "some structures have two groups (interaction energies) and some none "
                "(total energies); a dataset must be one or the other",
                path or None,
            )
        self.path = str(path)
        self.layout = layout
        self.energy_unit = energy_unit
        self.group_mode = group_mode

    # -- Sequence protocol ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._structures)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self.subset(range(len(self))[i])
        return self._structures[i]

    def __iter__(self) -> Iterator[Structure]:
        return iter(self._structures)

    def __repr__(self) -> str:
        return f"<Dataset {self.name!r}: {len(self)} structures, {', '.join(self.elements)}>"

    # -- arrays --------------------------------------------------------------------------
    @property
    def structures(self) -> tuple:
        return self._structures

    @property
    def energies(self) -> np.ndarray:
        """Reference energies, shape (n_structures,), eV (``nan`` where unknown); a copy."""
        return self._energies.copy()

    @property
    def weights(self) -> np.ndarray:
        """Per-structure weights, shape (n_structures,); a copy."""
        return self._weights.copy()

    @property
    def names(self) -> list:
        return list(self._names)

    @property
    def n_atoms(self) -> np.ndarray:
        """Atoms per structure, shape (n_structures,); a copy."""
        reps, index = self._layouts()
        return np.array([s.n_atoms for s in reps], dtype=int)[index]

    @property
    def has_forces(self) -> np.ndarray:
        """Which structures carry reference forces, bool (n_structures,); a copy."""
        return self._flags()[0].copy()

    @property
    def has_stress(self) -> np.ndarray:
        """Which structures carry a reference stress, bool (n_structures,); a copy."""
        return self._flags()[1].copy()

    def _flags(self) -> tuple:
        """(has forces, has stress, periodic) per structure, computed once: a fit asks for
        each several times (plan, targets, summaries), 32 000 attribute reads each time."""
        flags = self._cache.get("flags")
        if flags is None:
            n = len(self._structures)
            flags = (np.fromiter((s.forces is not None for s in self._structures), bool, n),
                     np.fromiter((s.stress is not None for s in self._structures), bool, n),
                     np.fromiter((s.periodic for s in self._structures), bool, n))
            for a in flags:
                a.setflags(write=False)
            self._cache["flags"] = flags
        return flags

    def compositions(self) -> tuple:
        """(elements, counts): the dataset's elements (alphabetical) and how many atoms of
        each every structure holds, int array (n_structures, n_elements); a copy."""
        elements = self.elements
        rows = self._cache.get("composition_rows")
        if rows is None:
            col = {e: k for k, e in enumerate(elements)}
            reps, _ = self._layouts()
            rows = np.zeros((len(reps), len(elements)), dtype=int)
            for r, s in enumerate(reps):
                np.add.at(rows[r], [col[sym] for sym in s.symbols], 1)
            self._cache["composition_rows"] = rows
        return elements, rows[self._layouts()[1]]

    @property
    def name(self) -> str:
        """Short name for reports and the default results folder: given by the reader (a
        folder's name, a file's stem), else the last part of ``path``."""
        import os

        if self._name:
            return self._name
        return os.path.basename(os.path.normpath(self.path)) if self.path else "dataset"

    @property
    def interaction(self) -> bool:
        """True when every energy is an A–B interaction energy."""
        return self._structures[0].interaction

    @property
    def elements(self) -> list:
        return list(self._elements())

    def _elements(self) -> tuple:
        elements = self._cache.get("elements")
        if elements is None:
            elements = self._cache["elements"] = tuple(sorted(
                {sym for s in self._layouts()[0] for sym in s.symbols}))
        return elements

    def _layouts(self) -> tuple:
        """(representatives, index): one structure per distinct (symbols, groups) layout,
        in file order of first appearance, and the layout of every structure (int array).

        Computed once per dataset (summaries, the report and the LAMMPS export ask many
        times). Readers share one symbols tuple and one groups array among the structures
        of a layout, so the objects' identities are looked up first; only a new pair of
        objects is compared by value (structures joined from parallel parts carry one copy
        per part, and comparing 57 symbols per structure cost more than the rest).
        """
        found = self._cache.get("layouts")
        if found is None:
            by_id: dict = {}
            by_value: dict = {}
            reps: list = []
            index = np.empty(len(self._structures), dtype=np.intp)
            for i, s in enumerate(self._structures):
                symbols, groups = s.symbols, s.groups
                # the ids stay valid: the structures (in self) hold these objects
                k = by_id.get((id(symbols), id(groups)))
                if k is None:
                    key = (symbols, None if groups is None else groups.tobytes())
                    k = by_value.get(key)
                    if k is None:
                        k = by_value[key] = len(reps)
                        reps.append(s)
                    by_id[(id(symbols), id(groups))] = k
                index[i] = k
            index.setflags(write=False)
            found = self._cache["layouts"] = (tuple(reps), index)
        return found

    def _distinct_layouts(self) -> list:
        """One structure per distinct (symbols, groups) layout: summaries of 10⁵ structures
        of one kind then look at one, not 10⁵ (in file order of first appearance)."""
        return list(self._layouts()[0])

    def group_elements(self, group: int) -> list:
        return sorted({sym for s in self._layouts()[0] for sym in s.group_symbols(group)})

    @property
    def has_energies(self) -> bool:
        return bool(np.all(np.isfinite(self.energies)))

    # -- derived datasets ----------------------------------------------------------------
    def subset(self, indices) -> "Dataset":
        """A new dataset with the structures at ``indices`` (in that order; repeats allowed
        and renamed ``name#k`` so that names stay unique, as a bootstrap needs)."""
        picked, seen = [], {}
        for i in np.asarray(indices, dtype=int).ravel():
            s = self._structures[int(i)]
            k = seen.get(s.name, 0)
            seen[s.name] = k + 1
            picked.append(s if k == 0 else replace(s, name=f"{s.name}#{k}"))
        return Dataset(
            picked,
            path=self.path,
            layout=self.layout,
            energy_unit=self.energy_unit,
            group_mode=self.group_mode,
            name=self._name,
        )

    def with_weights(self, weights) -> "Dataset":
        w = np.broadcast_to(np.asarray(weights, dtype=float), (len(self),))
        return Dataset(
            [s.with_weight(x) for s, x in zip(self._structures, w)],
            path=self.path,
            layout=self.layout,
            energy_unit=self.energy_unit,
            group_mode=self.group_mode,
            name=self._name,
        )

    # -- summary -------------------------------------------------------------------------
    def summary(self) -> dict:
        """Counts, elements per group and energy range, as plain Python types."""
        e = self._energies
        fin = e[np.isfinite(e)]
        natoms = self.n_atoms
        forces, stress = self.has_forces, self.has_stress
        out = {
            "path": self.path,
            "name": self.name,
            "layout": self.layout,
            "n_structures": len(self),
            "n_atoms_min": int(natoms.min()),
            "n_atoms_max": int(natoms.max()),
            "elements": self.elements,
            "energy": "interaction" if self.interaction else "total",
            "group_mode": self.group_mode,
            "periodic": int(self._flags()[2].sum()),
            "energy_unit_read": self.energy_unit,
            "n_energies": int(fin.size),
            "energy_min_eV": float(fin.min()) if fin.size else None,
            "energy_max_eV": float(fin.max()) if fin.size else None,
            "energy_mean_eV": float(fin.mean()) if fin.size else None,
            "n_with_forces": int(forces.sum()),
            "n_force_components": int(3 * natoms[forces].sum()),
            "n_with_stress": int(stress.sum()),
        }
        if self.interaction:
            n_a = [int(np.sum(s.groups == GROUP_A)) for s in self._layouts()[0]]
            out["elements_group_A"] = self.group_elements(GROUP_A)
            out["elements_group_B"] = self.group_elements(GROUP_B)
            out["n_atoms_group_A"] = sorted({int(x) for x in n_a})
        return out

    def _group_lines(self, s) -> list:
        """Which group is which, with atom counts and elements (and, for the seed layout,
        the layout's own words: its 'substrate' is group A, whatever surface scientists
        would call it)."""
        layouts = self._layouts()[0]
        n_b = sorted({int(np.sum(x.groups == GROUP_B)) for x in layouts})
        a = (f"{'/'.join(map(str, s['n_atoms_group_A']))} atoms "
             f"({', '.join(s['elements_group_A'])})")
        b = f"{'/'.join(map(str, n_b))} atoms ({', '.join(s['elements_group_B'])})"
        if self.layout == "seed":
            lines = [f"groups       A = the layout's 'substrate' (p_N.xyz): {a}",
                     f"             B = the layout's 'surface' (the rest of "
                     f"p_N_extended.xyz): {b}"]
            if max(s["n_atoms_group_A"]) < min(n_b):
                lines.append("             (the layout's words; in surface science the "
                             "smaller group A is the adsorbate, B the substrate)")
            return lines
        return [f"groups       A: {a}; B: {b} (from {s['group_mode']})"]

    def describe(self) -> str:
        """A few human-readable lines of :meth:`summary`."""
        s = self.summary()
        lines = [
            f"dataset      {s['path'] or s['name']}  (layout: {s['layout'] or 'in memory'})",
            f"structures   {s['n_structures']}  ({s['periodic']} periodic), "
            f"{s['n_atoms_min']}-{s['n_atoms_max']} atoms each",
            f"elements     {', '.join(s['elements'])}",
        ]
        if self.interaction:
            lines.append(
                f"energy       interaction between group A ({', '.join(s['elements_group_A'])}; "
                f"{'/'.join(map(str, s['n_atoms_group_A']))} atoms) and group B "
                f"({', '.join(s['elements_group_B'])}), groups from {s['group_mode']}"
            )
            lines += self._group_lines(s)
        else:
            lines.append("energy       total (every pair counts once)")
        if s["n_energies"]:
            lines.append(
                f"energies     {s['n_energies']} in [{s['energy_min_eV']:.6g}, "
                f"{s['energy_max_eV']:.6g}] eV (read as {s['energy_unit_read']})"
            )
        else:
            lines.append("energies     none")
        if s["n_with_forces"] or s["n_with_stress"]:
            lines.append(
                f"forces       {s['n_with_forces']} structures ({s['n_force_components']} "
                f"components); stress: {s['n_with_stress']} structures"
            )
        return "\n".join(lines)
