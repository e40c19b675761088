r"""Reduction of interacting pairs to per-slot sums: energies, forces and virials.

A pair (i, j) of slot k at distance vector :math:`\mathbf d = \mathbf r_j - \mathbf r_i`
(periodic image included), :math:`r = |\mathbf d|`, contributes to its structure's energy
:math:`C_{n,k} r^{-n} - C_{m,k} r^{-m}` (times a weight w: 1, or ½ for a periodic
total-energy pair listed in both directions). Its contribution to the force on atom j,
:math:`\mathbf F_j = -\partial E/\partial\mathbf r_j`, is

.. math::

    \mathbf F_j \mathrel{+}= w\,\bigl(n C_{n,k} r^{-n-2} - m C_{m,k} r^{-m-2}\bigr)\,\mathbf d,
    \qquad \mathbf F_i \mathrel{-}= \text{the same},

and to the stress (ASE's convention :math:`\sigma = V^{-1}\,\partial E/\partial\varepsilon`,
negative under compression; Voigt order xx, yy, zz, yz, xz, xy)

.. math::

    \sigma_{\alpha\beta} \mathrel{+}= \frac{w}{V}\,\phi'(r)\,\frac{d_\alpha d_\beta}{r}
        = -\frac{w}{V}\bigl(n C_{n,k} r^{-n-2} - m C_{m,k} r^{-m-2}\bigr) d_\alpha d_\beta .

Every observable is therefore linear in :math:`(C_{n,k}, C_{m,k})`: written as
:math:`X^{(n)} C_n - X^{(m)} C_m`, the feature rows are

==========  ==================================================  =========================
row         :math:`X^{(n)}_{\cdot k}`                            :math:`X^{(m)}_{\cdot k}`
==========  ==================================================  =========================
energy      :math:`\sum w r^{-n}`                                 same with m
force       :math:`\pm\sum w\,n r^{-n-2} d_\alpha`                same with m
stress      :math:`-\sum w\,n r^{-n-2} d_\alpha d_\beta / V`      same with m
==========  ==================================================  =========================

A shift of the pair energy by a constant changes only the energy rows (by the pair count
times :math:`r_c^{-p}`); forces and stress are the same shifted or not, and a truncated
potential counts exactly the pairs inside the cutoff in all three.

Two reductions, both local to a chunk (its structures, its atoms) and added to the global
arrays at the end of the chunk, so that memory is bounded by the chunk: ``add`` takes a
flat list of pairs (after culling at the cutoff) and reduces it with ``np.bincount``;
``add_dense`` takes every candidate pair of G structures that share their atoms, as
(G, p) arrays, and reduces with matrix products against the chunk's fixed incidence
matrices (BLAS; several times faster where nothing is culled, e.g. clusters).
"""

from __future__ import annotations

import numpy as np

from ..dataset import VOIGT

__all__ = ["Accumulator"]

#: pairs per piece of the force and stress reduction (see Accumulator.add), and entries
#: per piece of the clusters' force matrix (add_dense)
_PIECE = 8192
#: the entries and column pointers of the pieces' incidence matrices (two per pair)
_SIGNS = np.tile([1.0, -1.0], _PIECE)
_INDPTR = np.arange(0, 2 * _PIECE + 1, 2, dtype=np.int32)
_DENSE_PIECE = 1 << 16


def _add_rows(target, rows, block):
    """target[rows] += block, with a slice when the rows are one contiguous run."""
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
        target[rows[0]:rows[-1] + 1] += block
    else:
        target[rows] += block


class Accumulator:
    """Global per-slot sums, filled chunk by chunk.

    Parameters
    ----------
    n_slots : int
        Global, not yet pruned, slot columns.
    potential : Mie
        Supplies the exponents and the inverse powers.
    n_atoms : ndarray of int, shape (n_structures,)
    force_offset : ndarray of int, shape (n_structures,)
        Index of the structure's first atom in the force rows (rows ``3·a + α``), or −1 when
        its forces are not featurised.
    stress_index : ndarray of int, shape (n_structures,)
        Index of the structure among those whose stress is featurised (rows ``6·s + v``),
        or −1.
    inv_volume : ndarray, shape (n_structures,)
        1/V (Å⁻³) where the stress is featurised.
    """

    def __init__(self, n_slots, potential, n_atoms, force_offset, stress_index, inv_volume):
        self.K = int(n_slots)
        self.potential = potential
        self.n_atoms = np.asarray(n_atoms, dtype=np.int64)
        self.force_offset = np.asarray(force_offset, dtype=np.int64)
        self.stress_index = np.asarray(stress_index, dtype=np.int64)
        self.inv_volume = np.asarray(inv_volume, dtype=float)
        S, K = len(self.n_atoms), self.K
        # column-major, as the features are handed out (see compute_features): no copy at
        # the end when every slot is kept
        self.en, self.em, self.count = (np.zeros((S, K), order="F") for _ in range(3))
        self.max_r2 = 0.0  # the largest interacting pair distance², Å²
        n_force_rows = 3 * int(self.n_atoms[self.force_offset >= 0].sum())
        self.fn = self.fm = self.vn = self.vm = None
        if n_force_rows:
            self.fn, self.fm = (np.zeros((n_force_rows, K), order="F") for _ in range(2))
        n_stress = int((self.stress_index >= 0).sum())
        if n_stress:
            self.vn, self.vm = (np.zeros((6 * n_stress, K), order="F") for _ in range(2))

    @property
    def wants_vectors(self) -> bool:
        """Whether any structure needs the pair vectors (forces or stress)."""
        return self.fn is not None or self.vn is not None

    def wants(self, structures) -> np.ndarray:
        """Which of ``structures`` have forces or stress featurised."""
        return (self.force_offset[structures] >= 0) | (self.stress_index[structures] >= 0)

    def _force_rows(self, structures):
        """(has, rows): featurised structures among ``structures`` and the global force rows
        of their atoms, 3 per atom, in order."""
        fo = self.force_offset[structures]
        has = fo >= 0
        n = self.n_atoms[structures][has]
        start = np.repeat(fo[has] - np.concatenate(([0], np.cumsum(n)[:-1])), n)
        atoms = start + np.arange(int(n.sum()))
        return has, (3 * atoms[:, None] + np.arange(3)).ravel()

    def _stress_rows(self, structures):
        si = self.stress_index[structures]
        has = si >= 0
        return has, (6 * si[has][:, None] + np.arange(6)).ravel()

    # ------------------------------------------------------------------------------------
    def add(self, structures, s_local, slot, r2, d=None, i=None, j=None, w=None):
        """Add a chunk of pairs given one by one.

        Parameters
        ----------
        structures : ndarray of int, shape (G,)
            Global row of each structure the chunk's pairs belong to.
        s_local : ndarray of int, shape (P,)
            Index into ``structures`` of each pair's structure.
        slot : ndarray of int, shape (P,)
            Global slot id of each pair.
        r2 : ndarray, shape (P,)
            Squared distances, Å².
        d : ndarray, shape (P, 3), optional
            r_j − r_i (Å); needed when any of the chunk's structures has forces or stress
            featurised.
        i, j : ndarray of int, shape (P,), optional
            Atom indices within the structure (for the forces).
        w : ndarray, shape (P,), optional
            Pair weights (default 1).
        """
        structures = np.asarray(structures, dtype=np.int64)
        G, K = len(structures), self.K
        if len(r2) == 0:
            return
        self.max_r2 = max(self.max_r2, float(r2.max()))
        rn, rm = self.potential.inverse_powers(r2)
        if w is not None:
            rn, rm = rn * w, rm * w
        bins = s_local * K + slot
        size = G * K
        _add_rows(self.en, structures, np.bincount(bins, rn, size).reshape(G, K))
        _add_rows(self.em, structures, np.bincount(bins, rm, size).reshape(G, K))
        _add_rows(self.count, structures, np.bincount(bins, w, size).reshape(G, K))
        if d is None or not self.wants(structures).any():
            return
        # forces and stress piece by piece, each piece over the structures it touches:
        # their temporaries (a dozen arrays per pair) then stay small, in memory the
        # allocator reuses (fresh large arrays cost a page fault per 4 KiB — more than the
        # arithmetic on them)
        for p0 in range(0, len(r2), _PIECE):
            p1 = p0 + _PIECE
            sl = s_local[p0:p1]
            lo, hi = int(sl.min()), int(sl.max()) + 1
            self._add_vectors(structures[lo:hi], sl - lo, slot[p0:p1], r2[p0:p1],
                              rn[p0:p1], rm[p0:p1], d[p0:p1], i[p0:p1], j[p0:p1])

    def _add_vectors(self, structures, s_local, slot, r2, rn, rm, d, i, j):
        """Force and stress rows of a piece of :meth:`add` (rn, rm: its r⁻ⁿ, r⁻ᵐ)."""
        G, K = len(structures), self.K
        gn, gm = self.potential.force_factors(r2, rn, rm)  # (times the weight)
        if self.fn is not None:
            has, rows = self._force_rows(structures)
            if has.any():
                from scipy.sparse import csc_matrix  # here: importing it costs ~0.1 s

                local = np.full(G, -1, dtype=np.int64)
                n_at = self.n_atoms[structures][has]
                local[has] = np.concatenate(([0], np.cumsum(n_at)[:-1]))
                base = local[s_local]
                keep = None if has.all() else base >= 0
                sl = slot
                if keep is not None:  # pairs of structures whose forces are not asked for
                    base, sl, dk = base[keep], sl[keep], d[keep]
                    ii, jj, gnk, gmk = i[keep], j[keep], gn[keep], gm[keep]
                else:
                    dk, ii, jj, gnk, gmk = d, i, j, gn, gm
                n_local = int(n_at.sum())
                P = len(gnk)
                # the incidence of the pairs on (atom, slot), column by column (+1 at j,
                # −1 at i: a sparse matrix in column form needs no sorting) times the pair
                # terms of both targets and the three components, (P, 2·3)
                # int32 indices when they fit: scipy would otherwise make a copy
                itype = np.int32 if n_local * K < 2**31 else np.int64
                rows_ij = np.empty((P, 2), dtype=itype)
                np.add(base, jj, out=rows_ij[:, 0], casting="unsafe")
                np.add(base, ii, out=rows_ij[:, 1], casting="unsafe")
                if K > 1:
                    rows_ij *= K
                    rows_ij += sl[:, None].astype(itype)
                incidence = csc_matrix((_SIGNS[:2 * P], rows_ij.ravel(), _INDPTR[:P + 1]),
                                       shape=(n_local * K, P))
                w = np.empty((P, 2, 3))
                np.multiply(gnk[:, None], dk, out=w[:, 0])
                np.multiply(gmk[:, None], dk, out=w[:, 1])
                f = incidence @ w.reshape(P, 6)  # (n_local·K, 2·3)
                f = f.reshape(n_local, K, 2, 3).transpose(2, 0, 3, 1)  # (2, atom, α, slot)
                _add_rows(self.fn, rows, f[0].reshape(3 * n_local, K))
                _add_rows(self.fm, rows, f[1].reshape(3 * n_local, K))
        if self.vn is not None:
            has, rows = self._stress_rows(structures)
            if has.any():
                local = np.full(G, -1, dtype=np.int64)
                local[has] = np.arange(int(has.sum()))
                loc = local[s_local]
                keep = None if has.all() else loc >= 0
                sl, dk, gnk, gmk, sk = slot, d, gn, gm, s_local
                if keep is not None:
                    loc, sl, dk, gnk, gmk, sk = (x[keep] for x in (loc, sl, d, gn, gm,
                                                                  s_local))
                n_s = int(has.sum())
                bins = loc * K + sl
                # d_α d_β in Voigt order, (6, P), shared by both targets
                dd = np.empty((6, len(bins)))
                dt = dk.T
                for v, (a, b) in enumerate(VOIGT):
                    np.multiply(dt[a], dt[b], out=dd[v])
                # per (structure, slot): sums over runs of equal bins (pairs come grouped by
                # structure; a piece with several slots is put in order first)
                if len(bins) > 1 and not np.all(bins[1:] >= bins[:-1]):
                    order = np.argsort(bins, kind="stable")
                    bins, dd, gnk, gmk = bins[order], dd[:, order], gnk[order], gmk[order]
                starts = np.flatnonzero(np.concatenate(([True], bins[1:] != bins[:-1])))
                used = bins[starts]
                # −1/V of each bin's structure, applied to the sums
                scale = -self.inv_volume[structures][has][used // K]
                for target, g in ((self.vn, gnk), (self.vm, gmk)):
                    sums = np.add.reduceat(dd * g, starts, axis=1)  # (6, bins used)
                    out = np.zeros((n_s * K, 6))
                    out[used] = sums.T * scale[:, None]
                    _add_rows(target, rows, out.reshape(n_s, K, 6).transpose(0, 2, 1)
                              .reshape(-1, K))

    def add_dense(self, structures, cols, r2, d, onehot, incidence, inside=None):
        """Add every candidate pair of G structures sharing one pair list.

        Parameters
        ----------
        structures : ndarray of int, shape (G,)
        cols : ndarray of int, shape (K',)
            The global slots the pairs fall into (the columns of ``onehot``).
        r2 : ndarray, shape (G, p)
            Squared distances of the p candidate pairs, Å².
        d : ndarray, shape (G, p, 3) or None
            Pair vectors r_j − r_i, Å (needed for forces and stress).
        onehot : ndarray, shape (p, K')
            1 where pair p belongs to slot ``cols[k]``.
        incidence : scipy.sparse.csr_matrix, shape (n_atoms·K', p) or None
            +1 at (j·K' + k, p), −1 at (i·K' + k, p): maps pair terms to forces.
        inside : ndarray of bool, shape (G, p), optional
            Pairs within the cutoff (default: all).
        """
        structures = np.asarray(structures, dtype=np.int64)
        G, K = len(structures), len(cols)
        within = r2 if inside is None else np.where(inside, r2, 0.0)
        if within.size:
            self.max_r2 = max(self.max_r2, float(within.max()))
        rn, rm = self.potential.inverse_powers(r2)
        if inside is not None:
            rn = np.where(inside, rn, 0.0)
            rm = np.where(inside, rm, 0.0)
            cnt = inside.astype(float) @ onehot
        else:
            cnt = np.broadcast_to(onehot.sum(axis=0), (G, K))
        _add_block(self.en, structures, cols, rn @ onehot)
        _add_block(self.em, structures, cols, rm @ onehot)
        _add_block(self.count, structures, cols, cnt)
        if d is None or not self.wants(structures).any():
            return
        gn, gm = self.potential.force_factors(r2, rn, rm)
        if self.fn is not None:
            has, rows = self._force_rows(structures)
            if has.any():
                n_at, p = incidence.shape[0] // K, incidence.shape[1]
                fgn, fgm, fd = (gn, gm, d) if has.all() else (gn[has], gm[has], d[has])
                H = len(fgn)
                # the pair terms of both targets and the three components as the columns of
                # one matrix (p, 2·3·h), times the incidence: F = Σ over each atom's pairs.
                # h structures at a time: the matrix stays small (see _PIECE)
                h_step = max(1, _DENSE_PIECE // (6 * p))
                out = np.empty((2, H, n_at, 3, K))
                for h0 in range(0, H, h_step):
                    h1 = min(H, h0 + h_step)
                    w = np.empty((p, 2, 3, h1 - h0))
                    for t, g in enumerate((fgn[h0:h1].T, fgm[h0:h1].T)):
                        for a in range(3):
                            np.multiply(g, fd[h0:h1, :, a].T, out=w[:, t, a, :])
                    prod = incidence @ w.reshape(p, -1)  # (n_at·K, 2·3·h)
                    out[:, h0:h1] = prod.reshape(n_at, K, 2, 3, -1).transpose(2, 4, 0, 3, 1)
                _add_block(self.fn, rows, cols, out[0].reshape(-1, K))
                _add_block(self.fm, rows, cols, out[1].reshape(-1, K))
        if self.vn is not None:
            has, rows = self._stress_rows(structures)
            if has.any():
                scale = -self.inv_volume[structures][has][:, None]
                for target, g in ((self.vn, gn), (self.vm, gm)):
                    gs = g[has] * scale
                    dd = d[has]
                    block = np.empty((int(has.sum()), 6, K))
                    for v, (a, b) in enumerate(VOIGT):
                        block[:, v, :] = (gs * dd[:, :, a] * dd[:, :, b]) @ onehot
                    _add_block(target, rows, cols, block.reshape(-1, K))


def _add_block(target, rows, cols, block):
    """target[rows][:, cols] += block (cols: a subset of the slot columns)."""
    if len(cols) == target.shape[1] and np.array_equal(cols, np.arange(len(cols))):
        _add_rows(target, rows, block)
        return
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
        target[rows[0]:rows[-1] + 1, cols] += block
    else:
        target[np.ix_(rows, cols)] += block
