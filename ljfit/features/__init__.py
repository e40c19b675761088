r"""Pair features: geometry turned into numbers once, before any fitting.

For a pair potential :math:`\phi = C_n r^{-n} - C_m r^{-m}` whose coefficients depend only
on the *slot* :math:`k` of a pair (its element pair, or its group-A site), the energy of
structure :math:`s` is

.. math::

    E_s = \sum_k C_{n,k}\,S^{(n)}_{sk} - C_{m,k}\,S^{(m)}_{sk},
    \qquad S^{(p)}_{sk} = \sum_{(i,j)\in s,\ \mathrm{slot}(i,j)=k} \left(r_{ij}^{-p}
          - \delta_\mathrm{shift}\, r_c^{-p}\right),

a matrix product with the per-slot sums :math:`S^{(n)}, S^{(m)}` (shape
``(n_structures, n_slots)``). Forces and stress are linear in the same coefficients (see
:mod:`ljfit.features.accumulate`): their feature rows are computed in the same pass over the
pairs, only for the structures asked for. Which pairs count: group A × group B for
interaction energies, every pair once for total energies; with a cutoff only pairs with
:math:`r \le r_c`, with all periodic images of a periodic cell.

Two paths produce the pairs (:mod:`ljfit.features.batched`): structures with the same atoms
in the same order (a molecule over a surface, snapshots of one cell) are stacked and their
candidate pairs computed by broadcasting — for periodic cells image by image, each image
with only the atoms that can reach it — then culled at the cutoff before any power is
taken; large periodic cells (more than :data:`DENSE_MAX_ATOMS` atoms, unless small next to
the cutoff sphere) go through vesin's compiled cell list one cell at a time. Both reduce
chunk by chunk, so peak memory is set by ``chunk_pairs``, not by the size of the data set.
Duplicate atoms (closer than :data:`ljfit.dataset.MIN_DISTANCE`) are found from the same
distances. The featuriser's matrix products run on one BLAS thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..dataset import Dataset
from ..errors import FitError
from ..potentials import LJ, Mie
from .accumulate import Accumulator
from .geometry import (
    MAX_IMAGES,
    check_images,
    check_pair_budget,
    estimate_images,
    estimate_pairs,
    neighbour_list,
    pair_list,
)
from .slots import KINDS, SlotTable, slot_label

__all__ = ["PairFeatures", "compute_features", "concatenate", "pair_list", "slot_label",
           "KINDS", "DENSE_MAX_ATOMS", "BATCHED_MAX_SPHERES"]

#: Periodic cells (and clusters with a cutoff) of at most this many atoms take the batched
#: path; larger clusters with a cutoff the compiled neighbour list (vesin), larger cells
#: too unless they are small next to the cutoff (:data:`BATCHED_MAX_SPHERES`).
DENSE_MAX_ATOMS = 128
#: A larger periodic cell whose volume is at most this many cutoff spheres (4/3 π r_c³)
#: takes the batched path too. The batched path's cost grows with its candidate pairs —
#: for a large cell the n²/2 pairs of the home cell, about V/(4/3 π r_c³) candidates per
#: pair inside the cutoff — vesin's with the pairs, except that it slows down three- to
#: four-fold when the cutoff exceeds about half the cell. Measured (fcc Ar, 32 to 864
#: atoms, r_c 5 to 14 Å; every cell of up to 128 atoms is faster batched): the batched path
#: wins below 3.3–5.6 spheres and loses above 6–8.
BATCHED_MAX_SPHERES = 4.5


def _readonly(*arrays):
    for a in arrays:
        if a is not None:
            a.setflags(write=False)


@dataclass(frozen=True, eq=False)
class PairFeatures:
    """Per-structure, per-slot sums of the pair terms of energies, forces and stress.

    Attributes
    ----------
    kind : {"pair", "site"}
    slots : tuple
        Slot keys: ``(a, b)`` element pairs sorted alphabetically, or site indices.
    sn, sm : ndarray, shape (n_structures, n_slots)
        :math:`\\sum r^{-n}` and :math:`\\sum r^{-m}` (Å^-n, Å^-m) over the pairs inside the
        cutoff, *not* shifted.
    counts : ndarray, shape (n_structures, n_slots)
        Number of pairs inside the cutoff, for the shift.
    potential : Mie
    cutoff : float or None
        Å.
    shift : bool
    names : tuple of str
        Structure names (rows).
    site_elements : tuple of str or None
        Element of each site (``kind == "site"``).
    fn, fm : ndarray, shape (n_force_rows, n_slots) or None
        Force rows :math:`X^{(n)}, X^{(m)}` (Å^-n-1, Å^-m-1): ``F = fn C_n − fm C_m``, three
        rows (x, y, z) per atom of every structure whose forces were featurised, in
        structure order then atom order.
    force_rows : ndarray of int, shape (n_structures,)
        Force rows of each structure (3·n_atoms, or 0).
    vn, vm : ndarray, shape (n_stress_rows, n_slots) or None
        Stress rows (Å^-n-3, Å^-m-3): ``σ = vn C_n − vm C_m`` in eV/Å³, six rows (Voigt xx,
        yy, zz, yz, xz, xy) per structure whose stress was featurised.
    stress_rows : ndarray of int, shape (n_structures,)
        6 or 0.
    n_atoms : ndarray of int, shape (n_structures,)
    elements : tuple of str
        The data set's elements, alphabetical (columns of ``composition``).
    composition : ndarray of int, shape (n_structures, n_elements)
        Atoms of each element per structure (the features of per-element reference
        energies).
    max_distance : float or None
        The largest distance of an interacting pair (Å): what a cutoff must reach to count
        every pair of these structures.
    """

    kind: str
    slots: tuple
    sn: np.ndarray
    sm: np.ndarray
    counts: np.ndarray
    potential: Mie = LJ
    cutoff: float | None = None
    shift: bool = False
    names: tuple = ()
    site_elements: tuple | None = None
    fn: np.ndarray | None = None
    fm: np.ndarray | None = None
    force_rows: np.ndarray | None = None
    vn: np.ndarray | None = None
    vm: np.ndarray | None = None
    stress_rows: np.ndarray | None = None
    n_atoms: np.ndarray | None = None
    elements: tuple = ()
    composition: np.ndarray | None = None
    max_distance: float | None = None
    _eff: tuple = field(default=None, repr=False)

    def __post_init__(self):
        S = self.sn.shape[0]
        zeros = np.zeros(S, dtype=np.int64)
        for name in ("force_rows", "stress_rows"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, zeros.copy())
        if self.n_atoms is None:
            object.__setattr__(self, "n_atoms", zeros.copy())
        if self.composition is None:
            object.__setattr__(self, "composition", np.zeros((S, 0), dtype=np.int64))
        _readonly(self.sn, self.sm, self.counts, self.fn, self.fm, self.vn, self.vm,
                  self.force_rows, self.stress_rows, self.n_atoms, self.composition)
        an, am = self.sn, self.sm
        if self.shift:
            rc = float(self.cutoff)
            an = self.sn - self.counts * rc ** (-self.potential.n)
            am = self.sm - self.counts * rc ** (-self.potential.m)
            _readonly(an, am)
        object.__setattr__(self, "_eff", (an, am))

    # -- shapes ------------------------------------------------------------------------
    @property
    def n_structures(self) -> int:
        return self.sn.shape[0]

    @property
    def n_slots(self) -> int:
        return len(self.slots)

    @property
    def labels(self) -> list:
        return [slot_label(s) for s in self.slots]

    @property
    def n_pairs(self) -> int:
        """Total number of interacting pairs (inside the cutoff) over all structures."""
        return int(round(float(self.counts.sum())))

    @property
    def n_force_rows(self) -> int:
        return int(self.force_rows.sum())

    @property
    def n_stress_rows(self) -> int:
        return int(self.stress_rows.sum())

    @property
    def effective(self) -> tuple:
        """(A_n, A_m), each (n_structures, n_slots): the energy sums with the shift applied,
        so that :math:`E = A_n C_n - A_m C_m`."""
        return self._eff

    def force_index(self, indices=None) -> np.ndarray:
        """Rows of :attr:`fn` belonging to the structures ``indices`` (in that order)."""
        return _row_index(self.force_rows, indices)

    def stress_index(self, indices=None) -> np.ndarray:
        return _row_index(self.stress_rows, indices)

    def take(self, indices) -> "PairFeatures":
        """Rows ``indices`` (repeats allowed): the features of a subset, no recomputation."""
        idx = np.asarray(indices, dtype=int)
        fi = self.force_index(idx) if self.fn is not None else None
        vi = self.stress_index(idx) if self.vn is not None else None
        return PairFeatures(
            kind=self.kind,
            slots=self.slots,
            sn=self.sn[idx],
            sm=self.sm[idx],
            counts=self.counts[idx],
            potential=self.potential,
            cutoff=self.cutoff,
            shift=self.shift,
            names=tuple(self.names[i] for i in idx) if self.names else (),
            site_elements=self.site_elements,
            fn=None if fi is None else self.fn[fi],
            fm=None if fi is None else self.fm[fi],
            force_rows=self.force_rows[idx],
            vn=None if vi is None else self.vn[vi],
            vm=None if vi is None else self.vm[vi],
            stress_rows=self.stress_rows[idx],
            n_atoms=self.n_atoms[idx],
            elements=self.elements,
            composition=self.composition[idx],
            max_distance=None,  # of a subset: not known without its distances
        )

    def without_forces(self, forces: bool = False, stress: bool = False) -> "PairFeatures":
        """The same features with the force (``forces=False``) and/or stress rows dropped."""
        keep_f, keep_s = forces and self.fn is not None, stress and self.vn is not None
        S = self.n_structures
        return PairFeatures(
            kind=self.kind, slots=self.slots, sn=self.sn, sm=self.sm, counts=self.counts,
            potential=self.potential, cutoff=self.cutoff, shift=self.shift, names=self.names,
            site_elements=self.site_elements,
            fn=self.fn if keep_f else None, fm=self.fm if keep_f else None,
            force_rows=self.force_rows if keep_f else np.zeros(S, dtype=np.int64),
            vn=self.vn if keep_s else None, vm=self.vm if keep_s else None,
            stress_rows=self.stress_rows if keep_s else np.zeros(S, dtype=np.int64),
            n_atoms=self.n_atoms, elements=self.elements, composition=self.composition,
            max_distance=self.max_distance,
        )


def concatenate(parts) -> "PairFeatures":
    """The features of several sets of structures, one after another (parts featurised
    apart, e.g. in parallel): rows stacked in order, slot columns aligned on the sorted union
    of the parts' slots, elements likewise.

    Raises
    ------
    FitError
        Parts made with different kinds, potentials, cutoffs or shifts.
    """
    parts = list(parts)
    if not parts:
        raise FitError("no features to join")
    first = parts[0]
    for f in parts[1:]:
        if (f.kind, f.potential, f.cutoff, f.shift) != (first.kind, first.potential,
                                                        first.cutoff, first.shift):
            raise FitError("features made with different kinds, potentials or cutoffs "
                           "cannot be joined")
    key = (lambda s: (s,)) if first.kind == "site" else (lambda s: s)
    slots = tuple(sorted({s for f in parts for s in f.slots}, key=key))
    col = {s: k for k, s in enumerate(slots)}
    elements = tuple(sorted({e for f in parts for e in f.elements}))
    ecol = {e: k for k, e in enumerate(elements)}
    S = sum(f.n_structures for f in parts)
    K = len(slots)

    def stack(attr, rows_of):
        if all(getattr(f, attr) is None for f in parts):
            return None
        total = sum(rows_of(f) for f in parts)
        out = np.zeros((total, K), order="F")  # column-major, as compute_features gives
        r = 0
        for f in parts:
            a, n = getattr(f, attr), rows_of(f)
            if a is not None and n:
                out[r:r + n, [col[s] for s in f.slots]] = a
            r += n
        return out

    def n_struct(f):
        return f.n_structures

    composition = np.zeros((S, len(elements)), dtype=np.int64)
    r = 0
    for f in parts:
        composition[r:r + f.n_structures, [ecol[e] for e in f.elements]] = f.composition
        r += f.n_structures
    site_elements = None
    if first.kind == "site":
        seen: dict = {}
        for f in parts:
            for s, els in zip(f.slots, f.site_elements or ()):
                seen.setdefault(s, set()).update(els.split("/"))
        site_elements = tuple("/".join(sorted(seen[s])) for s in slots)
    distances = [f.max_distance for f in parts]
    return PairFeatures(
        kind=first.kind, slots=slots,
        sn=stack("sn", n_struct), sm=stack("sm", n_struct), counts=stack("counts", n_struct),
        potential=first.potential, cutoff=first.cutoff, shift=first.shift,
        names=tuple(n for f in parts for n in f.names), site_elements=site_elements,
        fn=stack("fn", lambda f: f.n_force_rows), fm=stack("fm", lambda f: f.n_force_rows),
        force_rows=np.concatenate([f.force_rows for f in parts]),
        vn=stack("vn", lambda f: f.n_stress_rows), vm=stack("vm", lambda f: f.n_stress_rows),
        stress_rows=np.concatenate([f.stress_rows for f in parts]),
        n_atoms=np.concatenate([f.n_atoms for f in parts]),
        elements=elements, composition=composition,
        max_distance=None if None in distances else max(distances),
    )


def _row_index(rows_per_structure, indices=None) -> np.ndarray:
    rows = np.asarray(rows_per_structure, dtype=np.int64)
    start = np.concatenate(([0], np.cumsum(rows)[:-1]))
    if indices is None:
        indices = np.arange(len(rows))
    idx = np.asarray(indices, dtype=np.int64)
    lengths = rows[idx]
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    # start of each selected structure, repeated over its rows, plus the position within
    offsets = np.repeat(start[idx] - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    return offsets + np.arange(total)


_CONTROLLER = []


def _one_blas_thread():
    """A context limiting BLAS to one thread (the controller is made once: finding the
    loaded BLAS libraries costs a few ms)."""
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


def _mask(value, n, name) -> np.ndarray:
    if value is None or value is False:
        return np.zeros(n, dtype=bool)
    if value is True:
        return np.ones(n, dtype=bool)
    mask = np.asarray(value, dtype=bool)
    if mask.shape != (n,):
        raise FitError(f"{name}: expected True/False or one flag per structure ({n}), "
                       f"got shape {mask.shape}")
    return mask


def compute_features(
    dataset: Dataset,
    *,
    kind: str = "pair",
    potential: Mie = LJ,
    cutoff: float | None = None,
    shift: bool = False,
    forces=False,
    stress=False,
    chunk_pairs: int = 1 << 18,
    dense_max_atoms: int | None = None,
) -> PairFeatures:
    """Per-structure, per-slot pair sums of a dataset (see module docstring).

    Parameters
    ----------
    dataset : Dataset
    kind : {"pair", "site"}
        Slot by element pair, or by group-A site (needs interaction energies).
    potential : Mie
        Supplies the exponents n, m.
    cutoff : float, optional
        Å. Required for periodic structures.
    shift : bool
        Shift every pair energy by −φ(r_c) (needs a cutoff).
    forces, stress : bool or array_like of bool, shape (n_structures,)
        Also compute force rows / stress rows, for every structure (True) or those flagged.
        The stress needs a cell periodic in all three directions.
    chunk_pairs : int
        Candidate pairs (× periodic images) processed at once; bounds the memory (about 100
        bytes per candidate pair, 250 with forces).
    dense_max_atoms : int, optional
        Periodic cells and clusters with a cutoff that have more atoms take the compiled
        neighbour list (vesin), one structure at a time, instead of the batched
        broadcasting. Default: the measured choice — :data:`DENSE_MAX_ATOMS`, and larger
        cells too whose volume is at most :data:`BATCHED_MAX_SPHERES` cutoff spheres.

    Returns
    -------
    PairFeatures
    """
    from .batched import batched_block, neighbour_block

    if kind not in KINDS:
        raise FitError(f"kind: expected one of {KINDS}, got {kind!r}")
    if kind == "site" and not dataset.interaction:
        raise FitError(
            "scope per-site needs interaction energies between two groups (substrate/surface "
            "layout, tags, first:N or fragments); this dataset has total energies"
        )
    if cutoff is not None:
        cutoff = float(cutoff)
        if not (np.isfinite(cutoff) and cutoff > 0):
            raise FitError(f"cutoff must be a positive number of Å, got {cutoff}")
    if shift and cutoff is None:
        raise FitError("shift: a shifted potential needs a cutoff")
    S = len(dataset)
    if any(s.positions is None for s in dataset):
        raise FitError("these structures were featurised elsewhere (their positions were "
                       "not kept); featurise the data set they came from")
    force_mask = _mask(forces, S, "forces")
    stress_mask = _mask(stress, S, "stress")

    n_atoms = dataset.n_atoms
    groups_key, layouts = {}, []
    for idx, s in enumerate(dataset):
        key = (s.symbols, None if s.groups is None else s.groups.tobytes(), s.pbc.tobytes())
        k = groups_key.get(key)
        if k is None:
            k = groups_key[key] = len(layouts)
            layouts.append([])
        layouts[k].append(idx)
    # the checks and estimates of every cell of a layout at once (one determinant per
    # structure in Python cost as much as featurising a small cell)
    estimate, volumes = 0.0, np.zeros(S)
    for members in layouts:
        first = dataset[members[0]]
        if not first.periodic:
            for idx in members:
                if stress_mask[idx]:
                    raise FitError(f"stress of {dataset[idx].name}: needs a cell periodic in "
                                   "all three directions")
            estimate += len(members) * 0.5 * first.n_atoms * (first.n_atoms - 1)
            continue
        if cutoff is None:
            raise FitError(
                f"cutoff: {first.name} is periodic; periodic structures need a cutoff "
                "(e.g. --cutoff 8.5)"
            )
        cells = np.stack([dataset[idx].cell for idx in members])
        vol = np.abs(np.linalg.det(cells))
        volumes[members] = vol
        bad = stress_mask[members] & ~(first.pbc.all() & (vol > 0))
        if bad.any():
            raise FitError(f"stress of {dataset[members[int(np.argmax(bad))]].name}: needs a "
                           "cell periodic in all three directions")
        estimate += float(np.sum(estimate_pairs(first.n_atoms, vol, cutoff)))
    check_pair_budget(estimate, dataset.path or dataset.name)
    for members in layouts:  # the image list of every cell must fit, too
        first = dataset[members[0]]
        if first.periodic:
            cells = np.stack([dataset[idx].cell for idx in members])
            images = estimate_images(cells, first.pbc, cutoff)
            bad = ~(images <= MAX_IMAGES)
            if bad.any():
                k = int(np.argmax(bad))
                check_images(images[k], dataset[members[k]], cutoff)

    table = SlotTable(kind, dataset)
    force_offset = np.full(S, -1, dtype=np.int64)
    fa = n_atoms[force_mask]
    force_offset[force_mask] = np.concatenate(([0], np.cumsum(fa)[:-1])) if fa.size else []
    stress_index = np.full(S, -1, dtype=np.int64)
    stress_index[stress_mask] = np.arange(int(stress_mask.sum()))
    inv_volume = np.zeros(S)
    inv_volume[stress_mask] = 1.0 / volumes[stress_mask]
    acc = Accumulator(table.n_slots, potential, n_atoms, force_offset, stress_index,
                      inv_volume)

    # one BLAS thread: the products here are many and small (or skinny); on a busy machine
    # a second OpenBLAS thread made the cluster path with forces up to 17× slower
    with _one_blas_thread():
        for members in layouts:
            first = dataset[members[0]]
            if first.periodic or cutoff is not None:
                big = first.n_atoms > (DENSE_MAX_ATOMS if dense_max_atoms is None
                                       else dense_max_atoms)
                if big and dense_max_atoms is None and first.periodic:
                    sphere = 4.0 / 3.0 * np.pi * cutoff**3
                    big = volumes[members].max() > BATCHED_MAX_SPHERES * sphere
            else:
                big = False
            if big:
                nl = None if cutoff is None else neighbour_list(cutoff)
                for idx in members:
                    neighbour_block(dataset, idx, table, cutoff, acc, nl)
            else:
                batched_block(dataset, members, table, cutoff, chunk_pairs, acc)

    # a slot none of whose pairs is inside the cutoff in any structure has no parameter to
    # fit: drop it, so clusters and periodic cells give the same slots
    keep = acc.count.sum(axis=0) > 0

    def columns(a):
        # column-major (slot by slot), as boolean column selection leaves them: X @ c is
        # then an axpy per slot, and energies keep the bits of earlier ljfit versions. The
        # accumulator's arrays already are: no copy when every slot is kept.
        if a is None or keep.all():
            return a
        return a[:, keep]

    slots = tuple(s for s, k in zip(table.keys, keep) if k)
    site_elements = None
    if kind == "site":
        seen: dict = {}
        for members in layouts:
            s = dataset[members[0]]
            used = np.flatnonzero(acc.count[members].sum(axis=0) > 0)
            symbols = [sym for sym, g in zip(s.symbols, s.groups) if g == 0]
            for k in used:
                seen.setdefault(int(k), set()).add(symbols[k])
        site_elements = tuple("/".join(sorted(seen[s])) for s in slots)
    elements, composition = dataset.compositions()
    return PairFeatures(
        kind=kind,
        slots=slots,
        sn=columns(acc.en),
        sm=columns(acc.em),
        counts=columns(acc.count),
        potential=potential,
        cutoff=cutoff,
        shift=bool(shift),
        names=tuple(dataset.names),
        site_elements=site_elements,
        fn=columns(acc.fn),
        fm=columns(acc.fm),
        force_rows=np.where(force_mask, 3 * n_atoms, 0).astype(np.int64),
        vn=columns(acc.vn),
        vm=columns(acc.vm),
        stress_rows=np.where(stress_mask, 6, 0).astype(np.int64),
        n_atoms=n_atoms.astype(np.int64),
        elements=tuple(elements),
        composition=composition.astype(np.int64),
        max_distance=float(np.sqrt(acc.max_r2)),
    )
