r"""Pair features: geometry turned into numbers once, before any fitting.

For a pair potential :math:`\phi = C_n r^{-n} - C_m r^{-m}` whose coefficients depend only
on the *slot* :math:`k` of a pair (its element pair, or its substrate site), the energy of
structure :math:`s` is

.. math::

    E_s = \sum_k C_{n,k}\,S^{(n)}_{sk} - C_{m,k}\,S^{(m)}_{sk},
    \qquad S^{(p)}_{sk} = \sum_{(i,j)\in s,\ \mathrm{slot}(i,j)=k} \left(r_{ij}^{-p}
          - \delta_\mathrm{shift}\, r_c^{-p}\right),

a matrix product with the per-slot sums :math:`S^{(n)}, S^{(m)}` (shape
``(n_structures, n_slots)``). Those sums are all the fitters ever need; they are computed
here once. Which pairs count: group A × group B for interaction energies, every pair once
for total energies; with a cutoff only pairs with :math:`r \le r_c`, with all periodic images
of a periodic cell (a neighbour list, not the minimum image).

Structures are batched: those with the same atoms in the same order and the same periodicity
(the usual case: a substrate on a surface, or snapshots of one cell) are stacked and processed
in chunks of ``chunk_pairs`` candidate pairs; distances come from broadcasting (every periodic
image within the cutoff, positions wrapped first), and the per-slot reduction is a matrix
product with a one-hot slot matrix. Large periodic cells (more than ``dense_max_atoms``) go
through matscipy's compiled neighbour list and one ``np.bincount``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .dataset import GROUP_A, GROUP_B, MIN_DISTANCE, Dataset, Structure
from .errors import DataError, FitError
from .potentials import LJ, Mie

__all__ = ["PairFeatures", "compute_features", "pair_list", "slot_label", "KINDS"]

#: ``"pair"``: one slot per element pair (per-element and per-pair scopes);
#: ``"site"``: one slot per atom of group A, by its index within group A (per-site scope).
KINDS = ("pair", "site")


def slot_label(slot) -> str:
    """``3`` for a site, ``"Au-C"`` for an element pair (alphabetical)."""
    return str(slot) if isinstance(slot, (int, np.integer)) else "-".join(slot)


@dataclass(frozen=True, eq=False)
class PairFeatures:
    """Per-structure, per-slot sums of inverse powers of the pair distances.

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
    _eff: tuple = field(default=None, repr=False)

    def __post_init__(self):
        for a in (self.sn, self.sm, self.counts):
            a.setflags(write=False)
        an, am = self.sn, self.sm
        if self.shift:
            rc = float(self.cutoff)
            an = self.sn - self.counts * rc ** (-self.potential.n)
            am = self.sm - self.counts * rc ** (-self.potential.m)
            an.setflags(write=False)
            am.setflags(write=False)
        object.__setattr__(self, "_eff", (an, am))

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
        return int(self.counts.sum())

    @property
    def effective(self) -> tuple:
        """(A_n, A_m), each (n_structures, n_slots): the sums with the shift applied,
        so that :math:`E = A_n C_n - A_m C_m`."""
        return self._eff

    def take(self, indices) -> "PairFeatures":
        """Rows ``indices`` (repeats allowed): the features of a subset, no recomputation."""
        idx = np.asarray(indices, dtype=int)
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
        )


# --------------------------------------------------------------------------------------
# pair lists of one structure (periodic path and the calculator)
# --------------------------------------------------------------------------------------


def _interacting_mask(groups, i, j):
    if groups is None:
        return None
    return (groups[i] == GROUP_A) & (groups[j] == GROUP_B)


def pair_list(positions, *, cell=None, pbc=None, groups=None, cutoff=None):
    """Interacting pairs of one structure with their distance vectors.

    Parameters
    ----------
    positions : ndarray, shape (n_atoms, 3)
        Å.
    cell : ndarray, shape (3, 3), optional
    pbc : ndarray of bool, shape (3,), optional
    groups : ndarray of int, shape (n_atoms,), optional
        With groups, only pairs i ∈ A, j ∈ B, each once; without, every pair once
        (periodic images included: a pair with its image counts once, as in a total energy).
    cutoff : float, optional
        Å; required when any direction is periodic.

    Returns
    -------
    i, j : ndarray of int, shape (n_pairs,)
    vec : ndarray, shape (n_pairs, 3)
        r_j − r_i (with the periodic image shift), Å.
    weight : ndarray, shape (n_pairs,)
        1, or 1/2 where a periodic total-energy pair is listed in both directions.
    """
    pos = np.asarray(positions, dtype=float)
    n = len(pos)
    periodic = pbc is not None and bool(np.any(pbc))
    if periodic:
        if cutoff is None:
            raise FitError("cutoff: periodic structures need a cutoff (e.g. --cutoff 8.5)")
        from matscipy.neighbours import neighbour_list

        i, j, vec = neighbour_list(
            "ijD", positions=pos, cell=np.asarray(cell, float), pbc=np.asarray(pbc, bool),
            cutoff=float(cutoff),
        )
        mask = _interacting_mask(groups, i, j)
        if mask is not None:
            i, j, vec = i[mask], j[mask], vec[mask]
            weight = np.ones(len(i))
        else:  # the full list holds every pair twice (i→j and j→i)
            weight = np.full(len(i), 0.5)
        return i, j, vec, weight
    if groups is None:
        i, j = np.triu_indices(n, 1)
    else:
        a = np.flatnonzero(groups == GROUP_A)
        b = np.flatnonzero(groups == GROUP_B)
        i, j = np.repeat(a, len(b)), np.tile(b, len(a))
    vec = pos[j] - pos[i]
    if cutoff is not None:
        keep = np.einsum("pk,pk->p", vec, vec) <= cutoff * cutoff
        i, j, vec = i[keep], j[keep], vec[keep]
    return i, j, vec, np.ones(len(i))


# --------------------------------------------------------------------------------------
# slots
# --------------------------------------------------------------------------------------


def _site_index(groups: np.ndarray) -> np.ndarray:
    """Index of each group-A atom within group A (−1 for group B)."""
    site = np.full(len(groups), -1)
    a = groups == GROUP_A
    site[a] = np.arange(int(a.sum()))
    return site


class _SlotTable:
    """Assigns global slot ids; kept sorted at the end (see :meth:`order`)."""

    def __init__(self, kind):
        self.kind = kind
        self.ids: dict = {}
        self.site_elements: dict = {}

    def ids_for(self, structure: Structure, i, j) -> np.ndarray:
        """Global slot id of each pair (i, j) of ``structure``."""
        out = np.empty(len(i), dtype=int)
        if len(i) == 0:
            return out
        if self.kind == "site":
            site = _site_index(structure.groups)[i]
            for s in np.unique(site):
                sel = site == s
                el = structure.symbols[int(i[np.argmax(sel)])]
                self.site_elements.setdefault(int(s), set()).add(el)
                out[sel] = self.ids.setdefault(int(s), len(self.ids))
            return out
        # integer element codes, sorted alphabetically, so (lo, hi) is the sorted pair
        elements, code = np.unique(np.asarray(structure.symbols), return_inverse=True)
        ci, cj = code[i], code[j]
        pair_code = np.minimum(ci, cj) * len(elements) + np.maximum(ci, cj)
        uniq, inverse = np.unique(pair_code, return_inverse=True)
        lut = np.array(
            [self.ids.setdefault((str(elements[u // len(elements)]),
                                  str(elements[u % len(elements)])), len(self.ids))
             for u in uniq]
        )
        return lut[inverse]

    def order(self):
        """(sorted slot keys, permutation old id → new id)."""
        keys = sorted(self.ids, key=lambda k: (k,) if self.kind == "site" else k)
        perm = np.empty(len(keys), dtype=int)
        for new, k in enumerate(keys):
            perm[self.ids[k]] = new
        return tuple(keys), perm


# --------------------------------------------------------------------------------------
# the featuriser
# --------------------------------------------------------------------------------------


def _check_min_distance(r2min, structure: Structure, where_i, where_j):
    if r2min < MIN_DISTANCE**2:
        raise DataError(
            f"atoms {where_i} and {where_j} are {np.sqrt(r2min):.3g} Å apart "
            "(the same atom written twice?)",
            structure.source or structure.name,
        )


def compute_features(
    dataset: Dataset,
    *,
    kind: str = "pair",
    potential: Mie = LJ,
    cutoff: float | None = None,
    shift: bool = False,
    chunk_pairs: int = 1 << 21,
    dense_max_atoms: int = 256,
) -> PairFeatures:
    """Per-structure, per-slot inverse-power sums of a dataset (see module docstring).

    Parameters
    ----------
    dataset : Dataset
    kind : {"pair", "site"}
        Slot by element pair, or by substrate site (needs interaction energies).
    potential : Mie
        Supplies the exponents n, m.
    cutoff : float, optional
        Å. Required for periodic structures.
    shift : bool
        Shift every pair energy by −φ(r_c) (needs a cutoff).
    chunk_pairs : int
        Candidate pairs (× periodic images) processed at once; bounds the memory (~100
        bytes per pair).
    dense_max_atoms : int
        Periodic cells with more atoms use a compiled neighbour list (matscipy) per cell
        instead of the batched all-images computation.

    Returns
    -------
    PairFeatures
    """
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

    n_struct = len(dataset)
    table = _SlotTable(kind)
    # accumulate in "old" slot ids; the column count grows as slots appear
    acc_n: list = []  # (rows, old_ids, values) triples, reduced at the end
    acc_m: list = []
    acc_c: list = []

    dense: dict = {}
    sparse = []
    for idx, s in enumerate(dataset):
        periodic = s.periodic
        if periodic and cutoff is None:
            raise FitError(
                f"cutoff: {s.name} is periodic; periodic structures need a cutoff "
                "(e.g. --cutoff 8.5)"
            )
        if periodic and s.n_atoms > dense_max_atoms:
            sparse.append(idx)
        else:
            key = (s.symbols, None if s.groups is None else s.groups.tobytes(),
                   s.pbc.tobytes())
            dense.setdefault(key, []).append(idx)

    for members in dense.values():
        _dense_block(dataset, members, table, potential, cutoff, chunk_pairs,
                     acc_n, acc_m, acc_c)
    if sparse:
        _sparse_block(dataset, sparse, table, potential, cutoff, acc_n, acc_m, acc_c)

    slots, perm = table.order()
    n_slots = len(slots)
    out = []
    for acc in (acc_n, acc_m, acc_c):
        mat = np.zeros((n_struct, n_slots))
        for rows, cols, block in acc:
            # block: (len(rows), len(cols)) dense, columns in old ids
            mat[np.ix_(rows, perm[cols])] += block
        out.append(mat)
    # a slot none of whose pairs is inside the cutoff in any structure has no parameter to
    # fit: drop it, so clusters and periodic cells give the same slots
    keep = out[2].sum(axis=0) > 0
    slots = tuple(s for s, k in zip(slots, keep) if k)
    site_elements = None
    if kind == "site":
        site_elements = tuple("/".join(sorted(table.site_elements[s])) for s in slots)
    return PairFeatures(
        kind=kind,
        slots=slots,
        sn=out[0][:, keep],
        sm=out[1][:, keep],
        counts=out[2][:, keep],
        potential=potential,
        cutoff=cutoff,
        shift=bool(shift),
        names=tuple(dataset.names),
        site_elements=site_elements,
    )


def _image_shifts(cells, pbc, cutoff, half=False):
    """Integer image shifts S (n_img, 3) covering every image within ``cutoff`` of a cell,
    for wrapped positions: along a periodic axis k, |S_k| ≤ ceil(r_c / h_k) with h_k the
    distance between the lattice planes spanned by the other two vectors (the largest over
    ``cells``). ``half``: only S > 0 lexicographically (an atom with its own images, each
    pair once)."""
    reps = np.zeros(3, dtype=int)
    if cutoff is not None and pbc.any():
        vol = np.abs(np.linalg.det(cells))  # (g,)
        for k in range(3):
            if pbc[k]:
                a, b = cells[:, (k + 1) % 3], cells[:, (k + 2) % 3]
                h = vol / np.linalg.norm(np.cross(a, b), axis=1)
                reps[k] = int(np.ceil(cutoff / h.min()))
    grid = np.stack(np.meshgrid(*[np.arange(-r, r + 1) for r in reps], indexing="ij"), -1)
    shifts = grid.reshape(-1, 3)
    if half:
        positive = (shifts[:, 0] > 0) | ((shifts[:, 0] == 0) & (
            (shifts[:, 1] > 0) | ((shifts[:, 1] == 0) & (shifts[:, 2] > 0))))
        shifts = shifts[positive]
    return shifts


def _wrapped_positions(pos, cells, pbc):
    """Positions (g, n, 3) wrapped into their cells along the periodic axes."""
    if not pbc.any():
        return pos
    frac = np.linalg.solve(np.transpose(cells, (0, 2, 1)), np.transpose(pos, (0, 2, 1)))
    frac = np.transpose(frac, (0, 2, 1))  # (g, n, 3): pos = frac @ cell
    frac[..., pbc] %= 1.0
    return np.einsum("gnk,gkl->gnl", frac, cells)


def _dense_block(dataset, members, table, potential, cutoff, chunk_pairs, acc_n, acc_m, acc_c):
    """Structures with identical atoms, groups and periodicity, stacked and processed in
    chunks: distances of every candidate pair (and periodic image) by broadcasting, then a
    matrix product with a one-hot slot matrix. Clusters, and cells of a few hundred atoms."""
    first = dataset[members[0]]
    n = first.n_atoms
    pbc = np.asarray(first.pbc, dtype=bool)
    interaction = first.groups is not None
    if interaction:
        a = np.flatnonzero(first.groups == GROUP_A)
        b = np.flatnonzero(first.groups == GROUP_B)
        i, j = np.repeat(a, len(b)), np.tile(b, len(a))
    else:
        i, j = np.triu_indices(n, 1)
    rows_all = np.asarray(members)
    pos = np.stack([dataset[k].positions for k in members])  # (G, n, 3)
    cells = np.stack([dataset[k].cell for k in members]) if pbc.any() else None
    if pbc.any():
        pos = _wrapped_positions(pos, cells, pbc)
        shifts = _image_shifts(cells, pbc, cutoff)
    else:
        shifts = np.zeros((1, 3), dtype=int)
    rc2 = np.inf if cutoff is None else cutoff * cutoff

    def add(rows, cols, rn, rm, cnt):
        acc_n.append((rows, cols, rn))
        acc_m.append((rows, cols, rm))
        acc_c.append((rows, cols, cnt))

    if len(i):
        slot_old = table.ids_for(first, i, j)
        cols, local = np.unique(slot_old, return_inverse=True)
        onehot = np.zeros((len(i), len(cols)))
        onehot[np.arange(len(i)), local] = 1.0
        n_img = len(shifts)
        # memory bound: g structures × n_img images × p pairs ≤ chunk_pairs
        p_step = max(1, min(len(i), chunk_pairs // n_img))
        for p0 in range(0, len(i), p_step):
            ii, jj, oh = i[p0 : p0 + p_step], j[p0 : p0 + p_step], onehot[p0 : p0 + p_step]
            g_step = max(1, chunk_pairs // (n_img * len(ii)))
            for g0 in range(0, len(members), g_step):
                p = pos[g0 : g0 + g_step]
                r2 = np.zeros((len(p), n_img, len(ii)))
                t = (shifts @ cells[g0 : g0 + g_step]) if cells is not None else None
                for k in range(3):
                    pk = np.ascontiguousarray(p[:, :, k])
                    if interaction and p0 == 0 and len(ii) == len(i):
                        # A×B block by broadcasting: no gather over pairs
                        dk = (pk[:, b][:, None, :] - pk[:, a][:, :, None]).reshape(len(p), -1)
                    else:
                        dk = pk[:, jj] - pk[:, ii]
                    if t is None:
                        r2[:, 0] += dk * dk
                    else:
                        dk = dk[:, None, :] + t[:, :, None, k]
                        r2 += dk * dk
                flat = int(np.argmin(r2))
                if r2.flat[flat] < MIN_DISTANCE**2:
                    g, rest = divmod(flat, n_img * len(ii))
                    q = rest % len(ii)
                    _check_min_distance(r2.flat[flat], dataset[members[g0 + g]],
                                        int(ii[q]), int(jj[q]))
                inside = r2 <= rc2
                rn, rm = potential.inverse_powers(r2)
                if cutoff is not None:
                    rn = np.where(inside, rn, 0.0)
                    rm = np.where(inside, rm, 0.0)
                add(rows_all[g0 : g0 + g_step], cols, rn.sum(axis=1) @ oh,
                    rm.sum(axis=1) @ oh, inside.sum(axis=1).astype(float) @ oh)
    if pbc.any() and not interaction:
        # an atom with its own periodic images: the distance depends on the cell only
        half = _image_shifts(cells, pbc, cutoff, half=True)
        if len(half):
            ii = np.arange(n)
            slot_old = table.ids_for(first, ii, ii)
            cols, local = np.unique(slot_old, return_inverse=True)
            per_slot = np.bincount(local, minlength=len(cols)).astype(float)  # atoms per slot
            t = np.einsum("sk,gkl->gsl", half, cells)
            r2 = np.einsum("gsl,gsl->gs", t, t)
            inside = r2 <= rc2
            rn, rm = potential.inverse_powers(r2)
            rn = np.where(inside, rn, 0.0).sum(axis=1)
            rm = np.where(inside, rm, 0.0).sum(axis=1)
            cnt = inside.sum(axis=1).astype(float)
            add(rows_all, cols, np.outer(rn, per_slot), np.outer(rm, per_slot),
                np.outer(cnt, per_slot))


def _sparse_block(dataset, members, table, potential, cutoff, acc_n, acc_m, acc_c):
    """Large periodic cells: one compiled (matscipy) neighbour list each, one bincount."""
    rows, slot_ids, w_all, r2_all = [], [], [], []
    for idx in members:
        s = dataset[idx]
        i, j, vec, w = pair_list(s.positions, cell=s.cell, pbc=s.pbc, groups=s.groups,
                                 cutoff=cutoff)
        r2 = np.einsum("pk,pk->p", vec, vec)
        if len(r2):
            k = int(np.argmin(r2))
            _check_min_distance(r2[k], s, int(i[k]), int(j[k]))
        rows.append(np.full(len(i), idx))
        slot_ids.append(table.ids_for(s, i, j))
        w_all.append(w)
        r2_all.append(r2)
    counts = np.array([len(r) for r in rows])
    uniq_rows = np.asarray(members)
    row_local = np.repeat(np.arange(len(members)), counts)  # members are visited in order
    slot_ids = np.concatenate(slot_ids).astype(int)
    w = np.concatenate(w_all)
    rn, rm = potential.inverse_powers(np.concatenate(r2_all))
    n_old = len(table.ids)
    flat = row_local * n_old + slot_ids
    size = len(uniq_rows) * n_old
    cols = np.arange(n_old)
    for acc, vals in ((acc_n, rn * w), (acc_m, rm * w), (acc_c, w)):
        block = np.bincount(flat, weights=vals, minlength=size).reshape(len(uniq_rows), n_old)
        acc.append((uniq_rows, cols, block))
