"""The two ways pairs are produced and handed to the :class:`Accumulator`.

``batched_block``: structures with identical atoms, groups and periodicity, stacked
(G, n, 3), in chunks of at most ``chunk_pairs`` candidate pairs; candidates beyond the
cutoff are culled before any power is taken. Clusters: every pair (i < j, or i ∈ A,
j ∈ B) of every structure, reduced by matrix products when nothing needs culling. Periodic
cells: image by image, each image pairing only the atoms that can come within the cutoff
of it (:func:`_periodic_pairs`): in a 108-atom Ar cell at r_c = 8.5 Å, 23 000 candidates
per cell instead of the 156 000 of every pair × 27 images, for 4 000 pairs inside.

``neighbour_block``: one large structure through vesin's compiled cell list.

Both also look for duplicate atoms (closer than :data:`ljfit.dataset.MIN_DISTANCE`) in
the distances they compute; for interaction energies, whose candidate pairs join the two
groups only, the pairs inside each group are checked too, once per distinct group geometry
(a rigid slab shared by 10⁵ structures is checked once).
"""

from __future__ import annotations

import numpy as np

from ..dataset import GROUP_A, GROUP_B, MIN_DISTANCE
from ..errors import DataError
from .geometry import (
    image_shifts,
    neighbour_pairs,
    orient_interaction,
    plane_distances,
    wrapped_fractional,
)

__all__ = ["batched_block", "neighbour_block"]

_MIN2 = MIN_DISTANCE**2


def duplicate_error(structure, i: int, j: int, r2: float) -> DataError:
    """The message of a duplicate atom: both atoms (and their lines), the distance."""
    i, j = sorted((int(i), int(j)))
    lines = ""
    if structure.first_line:
        lines = f" (lines {structure.first_line + i} and {structure.first_line + j})"
    return DataError(
        f"atoms {i + 1} and {j + 1}{lines} are at the same position "
        f"({np.sqrt(max(r2, 0.0)):.2g} Å apart; the same atom written twice?)",
        structure.source or structure.name,
    )


def _square_norm(d):
    """|d|² over the last axis as ((x² + y²) + z²), C-ordered: the same bits whatever the
    array's shape (einsum's order of summation can differ in the last bit, and a
    Fortran-ordered result sends the reductions down another BLAS path)."""
    x, y, z = d[..., 0], d[..., 1], d[..., 2]
    r = np.multiply(x, x, order="C")
    r += y * y
    r += z * z
    return r


def _candidates(pos, t, ii, jj):
    """Squared distances of candidate pairs (ii, jj) × image translations t, for culling.

    Returns ``delta`` (g, p, 3) = r_j − r_i within the cell and ``r2`` (g, n_img, p). With
    images, r² = |Δ|² + |t|² + 2 t·Δ: one batched matrix product instead of three
    broadcast passes per component (rounding ~1e-13 Å² at these sizes: callers cull with a
    margin and recompute the survivors exactly)."""
    delta = pos[:, jj] - pos[:, ii]
    d2 = _square_norm(delta)
    if t is None:
        return delta, d2[:, None, :]
    r2 = np.matmul(t, delta.transpose(0, 2, 1))
    r2 *= 2.0
    r2 += d2[:, None, :]
    r2 += np.einsum("gsk,gsk->gs", t, t)[:, :, None]
    return delta, r2


def _exact(delta, t):
    """Exact distance vectors and r² of every candidate, (g, n_img, p, 3) and (g, n_img, p)."""
    d = delta[:, None, :, :] if t is None else delta[:, None, :, :] + t[:, :, None, :]
    return d, _square_norm(d)


#: relative and absolute margin (Å²) of the culling test before the exact one
_CULL_RTOL, _CULL_ATOL = 1e-9, 1e-9


def _check_min(r2, members, ii, jj, dataset, g0):
    """Raise for the closest candidate pair (r2: exact, (g, p)) if it is a duplicate atom."""
    flat = int(np.argmin(r2))
    if r2.flat[flat] < _MIN2:
        g, q = divmod(flat, r2.shape[1])
        raise duplicate_error(dataset[int(members[g0 + g])], ii[q], jj[q],
                              float(r2.flat[flat]))


def batched_block(dataset, members, table, cutoff, chunk_pairs, acc):
    """Features of structures sharing one layout (see module docstring)."""
    first = dataset[members[0]]
    n = first.n_atoms
    pbc = np.asarray(first.pbc, dtype=bool)
    interaction = first.groups is not None
    members = np.asarray(members, dtype=np.int64)
    pos = np.stack([dataset[int(k)].positions for k in members])  # (G, n, 3)
    if interaction:
        a = np.flatnonzero(first.groups == GROUP_A)
        b = np.flatnonzero(first.groups == GROUP_B)
    if pbc.any():
        cells = np.stack([dataset[int(k)].cell for k in members])
        pos, frac = wrapped_fractional(pos, cells, pbc)
        if interaction:
            _check_within_groups(dataset, members, pos, cells, pbc,
                                 image_shifts(cells, pbc, cutoff), [a, b],
                                 min(chunk_pairs, _BLOCK))
        _periodic_pairs(dataset, members, pos, frac, cells, pbc, table, cutoff, chunk_pairs,
                        acc)
        return
    if interaction:
        i, j = np.repeat(a, len(b)), np.tile(b, len(a))
        _check_within_groups(dataset, members, pos, None, pbc, None, [a, b])
    else:
        i, j = np.triu_indices(n, 1)
    if len(i):
        slot = table.ids(first, i, j)
        if len(i) * n * acc.K <= _DENSE_MAX_ENTRIES:
            _dense_pairs(dataset, members, pos, i, j, slot, cutoff, chunk_pairs, acc)
        else:
            _pairs(dataset, members, pos, i, j, slot, cutoff, chunk_pairs, acc)


#: largest incidence matrix (candidate pairs × atoms × slots) of the dense reduction
_DENSE_MAX_ENTRIES = 1 << 21


def _dense_pairs(dataset, members, pos, i, j, slot, cutoff, chunk_pairs, acc):
    """Clusters: every candidate pair of every structure as (G, p) arrays, reduced by
    matrix products (nothing is culled; pairs beyond a cutoff are masked)."""
    n = pos.shape[1]
    p = len(i)
    # only the slots these pairs use: the products stay small (and the same BLAS kernel
    # sums them in the same order whatever the number of slots in the data set)
    cols, local = np.unique(slot, return_inverse=True)
    K = len(cols)
    onehot = np.zeros((p, K))
    onehot[np.arange(p), local] = 1.0
    incidence = None
    if acc.fn is not None:
        # sparse, two entries per pair: a product with it costs two multiply-adds per pair
        # and column, where a dense one costs n·K
        from scipy.sparse import csr_matrix

        rows = np.concatenate((j * K + local, i * K + local))
        incidence = csr_matrix((np.concatenate((np.ones(p), -np.ones(p))),
                                (rows, np.tile(np.arange(p), 2))), shape=(n * K, p))
    rc2 = None if cutoff is None else cutoff * cutoff
    g_step = max(1, chunk_pairs // p)
    for g0 in range(0, len(members), g_step):
        g1 = min(len(members), g0 + g_step)
        delta = pos[g0:g1, j] - pos[g0:g1, i]
        r2 = _square_norm(delta)
        flat = int(np.argmin(r2))
        if r2.flat[flat] < _MIN2:
            g, q = divmod(flat, p)
            raise duplicate_error(dataset[int(members[g0 + g])], i[q], j[q],
                                  float(r2.flat[flat]))
        inside = None if rc2 is None else r2 <= rc2
        d = delta if acc.wants_vectors and acc.wants(members[g0:g1]).any() else None
        acc.add_dense(members[g0:g1], cols, r2, d, onehot, incidence, inside)


def _pairs(dataset, members, pos, i, j, slot, cutoff, chunk_pairs, acc):
    """Clusters too large for the dense reduction: the candidate pairs (i, j) of every
    structure in chunks, culled at the cutoff, reduced one by one."""
    rc2 = np.inf if cutoff is None else cutoff * cutoff
    need_d = acc.wants_vectors
    if need_d:
        wants = acc.wants(members)
    p_step = max(1, min(len(i), chunk_pairs))
    for p0 in range(0, len(i), p_step):
        ii, jj, ss = i[p0:p0 + p_step], j[p0:p0 + p_step], slot[p0:p0 + p_step]
        g_step = max(1, chunk_pairs // len(ii))
        for g0 in range(0, len(members), g_step):
            g1 = min(len(members), g0 + g_step)
            delta = pos[g0:g1, jj] - pos[g0:g1, ii]
            r2 = _square_norm(delta)
            _check_min(r2, members, ii, jj, dataset, g0)
            if cutoff is None:  # every candidate counts
                gl = np.repeat(np.arange(g1 - g0), len(ii))
                pp = np.tile(np.arange(len(ii)), g1 - g0)
                d = delta.reshape(-1, 3)
                r2s = r2.ravel()
            else:
                gl, pp = np.nonzero(r2 <= rc2)
                d = delta[gl, pp]
                r2s = r2[gl, pp]
            if need_d and not wants[g0:g1].any():
                d = None
            acc.add(members[g0:g1], gl, ss[pp], r2s, d, ii[pp], jj[pp])


def _periodic_pairs(dataset, members, pos, frac, cells, pbc, table, cutoff, chunk_pairs,
                    acc):
    """Periodic cells: every pair within the cutoff once, image by image, culled per image
    before any pair distance is computed.

    A pair (i, j) with image shift S can lie within r_c only if, along every periodic axis k,
    |f_j,k + S_k − f_i,k|·h_k ≤ r_c (f: fractional coordinates, h_k: distance between the
    lattice planes normal to that axis: no distance is shorter than its projection on a
    plane normal). Its projection on the atoms: j's image must lie within r_c/h_k of the
    home cell, and i within r_c/h_k of the shifted cell. For each image only those atoms are
    paired: a face image keeps ~r_c/h of the atoms on each side, an edge or a corner image
    far fewer (7× fewer candidates than all atoms × all images in a 108-atom Ar cell at
    8.5 Å). The kept atoms of each cell are packed to the left of a (G, n_images, width)
    index, padded with a far-away dummy atom, so that every image block is one batched
    matrix product. Total energies take each unordered pair once: i < j in the home cell,
    every (i, j) — an atom with its own image included — for the images S > 0
    (lexicographically), since (j, i, −S) is the same pair; interaction energies every
    i ∈ A, j ∈ B with every image.
    """
    first = dataset[int(members[0])]
    G, n = pos.shape[:2]
    interaction = first.groups is not None
    # blocks of candidates well under the chunk: their temporaries stay in memory the
    # allocator reuses (fresh large arrays cost a page fault per 4 KiB) and in cache
    chunk_pairs = min(chunk_pairs, _BLOCK)
    rc2 = cutoff * cutoff
    # duplicate atoms are looked for among the same candidates, even under a cutoff shorter
    # than MIN_DISTANCE
    reach = max(cutoff, MIN_DISTANCE)
    cull2 = max(rc2, _MIN2) * (1 + _CULL_RTOL) + _CULL_ATOL
    grid_i, grid_j = np.divmod(np.arange(n * n), n)
    slots = table.ids(first, grid_i, grid_j).reshape(n, n)
    if interaction:
        shifts = image_shifts(cells, pbc, cutoff)  # (i, j) ordered: every image
        may_i, may_j = first.groups == GROUP_A, first.groups == GROUP_B
    else:
        shifts = image_shifts(cells, pbc, cutoff, half=True)
        may_i = may_j = None
    out = _Survivors(dataset, members, slots, cutoff, chunk_pairs, acc)
    g_step = max(1, chunk_pairs // max(1, len(shifts) * n))
    for g0 in range(0, G, g_step):
        g1 = min(G, g0 + g_step)
        out.start(g0, g1)
        if not interaction:
            _home_pairs(pos[g0:g1], chunk_pairs, out)
        if len(shifts):
            _image_pairs(pos[g0:g1], frac[g0:g1], cells[g0:g1], pbc, shifts, reach, cull2,
                         may_i, may_j, chunk_pairs, out)
    out.flush()


#: candidate pairs per block of the periodic path (at most chunk_pairs)
_BLOCK = 1 << 16


def _home_pairs(pos, chunk_pairs, out):
    """Total energies: the pairs i < j of the home cell (no image), exactly."""
    G, n = pos.shape[:2]
    flat_pos = pos.reshape(-1, 3)
    hi_all, hj_all = np.triu_indices(n, 1)
    for p0 in range(0, len(hi_all), chunk_pairs):  # a cell larger than the chunk: in parts
        hi, hj = hi_all[p0:p0 + chunk_pairs], hj_all[p0:p0 + chunk_pairs]
        p = len(hi)
        g_step = max(1, min(G, chunk_pairs // p))
        # rows of the flattened positions (one-dimensional takes: several times faster than
        # fancy indexing over two axes)
        first = (np.arange(g_step) * n)[:, None]
        rows_i, rows_j = first + hi, first + hj
        for g0 in range(0, G, g_step):
            g1 = min(G, g0 + g_step)
            part = flat_pos[g0 * n:g1 * n]
            delta = np.take(part, rows_j[:g1 - g0], axis=0)
            delta -= np.take(part, rows_i[:g1 - g0], axis=0)
            r2 = _square_norm(delta)
            flat = np.flatnonzero(r2 <= out.keep2)
            g, q = np.divmod(flat, p)
            g += g0
            out.add(g, np.take(hi, q), np.take(hj, q),
                    np.take(delta.reshape(-1, 3), flat, axis=0), np.take(r2, flat))


#: images whose blocks are padded to one shape and computed together: at most this much
#: padding (relative), unless the padded block is this small (candidates per structure)
_IMAGE_PAD, _IMAGE_SMALL = 1.25, 2048


def _image_pairs(pos, frac, cells, pbc, shifts, reach, cull2, may_i, may_j, chunk_pairs,
                 out):
    """The pairs of G cells with the images ``shifts`` (see :func:`_periodic_pairs`)."""
    G, n = pos.shape[:2]
    h = plane_distances(cells)  # (G, 3)
    # margins: fractional coordinates carry rounding, and wrapping may leave 1.0
    c = reach / h * (1 + _CULL_RTOL) + _CULL_RTOL  # (G, 3)
    keep_i = keep_j = None
    for k in np.flatnonzero(pbc):
        # along axis k, per shift value v: j's image within reach of the home cell, i within
        # reach of the shifted one (then one lookup per image instead of a test per image)
        v = np.arange(shifts[:, k].min(), shifts[:, k].max() + 1)
        f = frac[:, None, :, k]  # (G, 1, n)
        lo, hi = -c[:, k, None, None], 1.0 + c[:, k, None, None]
        fj, fi = f + v[:, None], f - v[:, None]  # (G, n_v, n)
        mj = ((fj >= lo) & (fj <= hi))[:, shifts[:, k] - v[0]]  # (G, S, n)
        mi = ((fi >= lo) & (fi <= hi))[:, shifts[:, k] - v[0]]
        keep_j = mj if keep_j is None else keep_j & mj
        keep_i = mi if keep_i is None else keep_i & mi
    if may_i is not None:
        keep_i = keep_i & may_i
        keep_j = keep_j & may_j
    count_i, count_j = keep_i.sum(axis=-1), keep_j.sum(axis=-1)  # (G, S)
    wi, wj = count_i.max(axis=0), count_j.max(axis=0)  # (S,)
    # each cell's kept atoms first, in order, padded with the dummy atom n
    idx_i = _packed(keep_i, count_i, int(wi.max()))
    idx_j = _packed(keep_j, count_j, int(wj.max()))
    t = np.einsum("sk,gkl->gsl", shifts, cells)  # (G, S, 3)
    # |r_j + T − r_i|² ≤ c² ⟺ a·b ≥ (|r_i|² − c²)/2 with a = (r_i, 1), b = (r_j + T,
    # −|r_j + T|²/2): one batched matrix product per block of images (its rounding, ~1e-13
    # Å² at these sizes, is covered by the culling margin; the survivors' vectors and r²
    # are then computed directly, as (r_j + T) − r_i). Rows of the cells' atoms, then one
    # dummy atom per cell: i's far on one side, j's far on the other, beyond r_c of
    # anything.
    far = 4.0 * (np.abs(pos).max() + np.abs(t).max() + reach + 1.0)
    rows_i = np.empty((G, n + 1, 4))
    rows_i[:, :n, :3] = pos
    rows_i[:, n, :3] = far
    rows_i[..., 3] = 1.0
    rows_i = rows_i.reshape(-1, 4)
    rows_j = np.zeros((G, n + 1, 4))
    rows_j[:, :n, :3] = pos
    rows_j[:, n, :3] = -far
    rows_j = rows_j.reshape(-1, 4)
    pos_i = np.ascontiguousarray(rows_i[:, :3])  # for the exact vectors of the survivors
    half_i = _square_norm(pos_i)
    half_i -= cull2
    half_i *= 0.5
    base = (np.arange(G) * (n + 1))[:, None, None]
    for images, w_i, w_j in _image_groups(wi, wj, chunk_pairs):
        ri = (base + idx_i[:, images, :w_i]).ravel()  # rows of i, (G·s·w_i,)
        rj = (base + idx_j[:, images, :w_j]).ravel()
        a = np.take(rows_i, ri, axis=0).reshape(G, len(images), w_i, 4)
        b = np.take(rows_j, rj, axis=0).reshape(G, len(images), w_j, 4)
        b[..., :3] += t[:, images, None, :]
        b[..., 3] = _square_norm(b[..., :3])
        b[..., 3] *= -0.5
        bt = b.swapaxes(-1, -2)
        ha = np.take(half_i, ri).reshape(G, len(images), w_i, 1)
        pos_j = np.ascontiguousarray(b[..., :3]).reshape(-1, 3)
        s = len(images)
        # sub-blocks of at most chunk_pairs candidates: several cells, or the rows of i of
        # one cell in parts (a cell larger than the chunk)
        per_cell = s * w_i * w_j
        g_step = max(1, chunk_pairs // per_cell)
        p_step = w_i if per_cell <= chunk_pairs else max(1, chunk_pairs // (s * w_j))
        for g0 in range(0, G, g_step):
            g1 = min(G, g0 + g_step)
            for p0 in range(0, w_i, p_step):
                p1 = min(w_i, p0 + p_step)
                m = np.matmul(a[g0:g1, :, p0:p1], bt[g0:g1])
                flat = np.flatnonzero(m >= ha[g0:g1, :, p0:p1])
                if not len(flat):
                    continue
                # flat = ((g·s + k)·(p1 − p0) + p)·w_j + q, within the sub-block
                rest, q = np.divmod(flat, w_j)
                gk, p = np.divmod(rest, p1 - p0)
                gk += g0 * s  # g·s + k of the block
                pa = gk * w_i
                pa += p
                pa += p0
                pa = np.take(ri, pa)
                pb = gk * w_j
                pb += q
                d = np.take(pos_j, pb, axis=0)
                d -= np.take(pos_i, pa, axis=0)
                out.add(gk // s, pa % (n + 1), np.take(rj, pb) % (n + 1), d, _square_norm(d))


def _packed(keep, count, width):
    """(G, S, width) indices of the True entries of ``keep`` (G, S, n) along its last axis,
    in order, padded with n; ``count``: their number, (G, S)."""
    G, S, n = keep.shape
    flat = np.flatnonzero(keep)
    row, atom = np.divmod(flat, n)
    count = count.ravel()
    start = np.cumsum(count) - count
    rank = np.arange(len(flat)) - np.repeat(start, count)
    out = np.full((G * S, width), n)
    out[row, rank] = atom
    return out.reshape(G, S, width)


def _image_groups(wi, wj, chunk_pairs):
    """Images with atoms on both sides, largest blocks first, gathered into groups computed
    as one padded block (at most ``chunk_pairs`` candidates per cell, unless one image alone
    has more): [(images, width_i, width_j), ...]."""
    size = wi * wj
    images = np.flatnonzero(size > 0)
    images = images[np.argsort(-size[images], kind="stable")]
    groups, cur, w_i, w_j, used = [], [], 0, 0, 0
    for s in images.tolist():
        a, b = max(w_i, int(wi[s])), max(w_j, int(wj[s]))
        padded = (len(cur) + 1) * a * b
        if cur and (padded > chunk_pairs or (padded > _IMAGE_PAD * (used + size[s])
                                              and padded > _IMAGE_SMALL)):
            groups.append((np.array(cur), w_i, w_j))
            cur, used, a, b = [], 0, int(wi[s]), int(wj[s])
        cur.append(s)
        w_i, w_j, used = a, b, used + int(size[s])
    if cur:
        groups.append((np.array(cur), w_i, w_j))
    return groups


class _Survivors:
    """The pairs found inside the cutoff, checked for duplicate atoms and handed to the
    accumulator: a large part at once, small ones (small cells, corner images) gathered
    first so that the per-call cost of the reduction stays small, up to ``chunk_pairs / 2``
    pairs (memory stays bounded by the chunk)."""

    #: parts of at least this many pairs go to the accumulator as they come
    DIRECT = 8192

    def __init__(self, dataset, members, slots, cutoff, chunk_pairs, acc):
        self.dataset, self.members, self.acc = dataset, members, acc
        # one slot for every pair (a single element): no lookup per pair
        self.slots = slots if slots.min() != slots.max() else int(slots.flat[0])
        self.rc2 = cutoff * cutoff
        self.keep2 = max(self.rc2, _MIN2)  # what the exact check must still see
        self.limit = max(1, chunk_pairs // 2)
        self.parts, self.count = [], 0

    def start(self, g0, g1):
        """The next block of cells, ``members[g0:g1]``."""
        self.flush()
        self.block = self.members[g0:g1]
        self.need_d = self.acc.wants_vectors and bool(self.acc.wants(self.block).any())

    def add(self, g, i, j, d, r2):
        """Pairs of the block's cells ``g`` (local): exact vectors d and r²."""
        if not len(r2):
            return
        if r2.min() < _MIN2:
            # an atom with its own image is no duplicate
            k = int(np.argmin(np.where(i == j, np.inf, r2)))
            if r2[k] < _MIN2:
                raise duplicate_error(self.dataset[int(self.block[g[k]])], i[k], j[k],
                                      float(r2[k]))
        inside = r2 <= self.rc2
        if not inside.all():
            g, i, j, d, r2 = g[inside], i[inside], j[inside], d[inside], r2[inside]
        part = (g, i, j, d if self.need_d else None, r2)
        if len(r2) >= self.DIRECT:
            self._reduce(*part)
            return
        self.parts.append(part)
        self.count += len(r2)
        if self.count >= self.limit:
            self.flush()

    def flush(self):
        """Hand the gathered pairs to the accumulator."""
        if not self.parts:
            return
        parts = (None if p[0] is None else np.concatenate(p) for p in zip(*self.parts))
        self.parts, self.count = [], 0
        self._reduce(*parts)

    def _reduce(self, g, i, j, d, r2):
        slot = (self.slots[i, j] if isinstance(self.slots, np.ndarray)
                else np.broadcast_to(np.int64(self.slots), r2.shape))
        self.acc.add(self.block, g, slot, r2, d, i, j)


def _check_within_groups(dataset, members, pos, cells, pbc, shifts, groups,
                         chunk_pairs=1 << 18):
    """Duplicate atoms inside each group (interaction energies never pair them).

    Clusters: exactly, without computing the group's pairs. Two atoms closer than d are
    closer than d along any direction, so on a generic direction u the projections of a
    duplicate pair differ by less than MIN_DISTANCE: after sorting each structure's
    projections only the runs of gaps below it hold candidates (almost never any), and those
    are checked exactly. Periodic cells (images) compare the group's pairs, once per distinct
    group geometry (a rigid slab shared by 10⁵ structures is checked once), in chunks of at
    most ``chunk_pairs`` candidates (a slab rattled in every structure is 10⁵ geometries)."""
    for atoms in groups:
        if len(atoms) < 2:
            continue
        sub = pos[:, atoms]  # (G, n_g, 3)
        if cells is None:
            _check_by_projection(dataset, members, sub, atoms)
            continue
        flat = np.hstack([sub.reshape(len(members), -1), cells.reshape(len(members), -1)])
        _, first = np.unique(flat, axis=0, return_index=True)
        first = np.sort(first)
        i_all, j_all = np.triu_indices(len(atoms), 1)
        p_step = max(1, chunk_pairs // len(shifts))
        for p0 in range(0, len(i_all), p_step):
            ii, jj = i_all[p0:p0 + p_step], j_all[p0:p0 + p_step]
            g_step = max(1, chunk_pairs // (len(shifts) * len(ii)))
            for g0 in range(0, len(first), g_step):
                sel = first[g0:g0 + g_step]
                t = np.einsum("sk,gkl->gsl", shifts, cells[sel])
                delta, r2 = _candidates(sub[sel], t, ii, jj)
                if r2.min() >= _MIN2 + _CULL_ATOL:
                    continue
                _, r2 = _exact(delta, t)
                flat_k = int(np.argmin(r2))
                if r2.flat[flat_k] < _MIN2:
                    g, rest = divmod(flat_k, r2.shape[1] * len(ii))
                    q = rest % len(ii)
                    raise duplicate_error(dataset[int(members[sel[g]])], atoms[ii[q]],
                                          atoms[jj[q]], float(r2.flat[flat_k]))


#: a fixed generic direction (irrational components): lattices do not line up along it
_DIRECTION = np.array([0.5773502691896258, 0.5906544393598327, 0.5637421093530624])
_DIRECTION /= np.linalg.norm(_DIRECTION)


def _check_by_projection(dataset, members, sub, atoms):
    proj = sub @ _DIRECTION  # (G, n_g)
    order = np.argsort(proj, axis=1, kind="stable")
    sorted_p = np.take_along_axis(proj, order, axis=1)
    close = np.diff(sorted_p, axis=1) < MIN_DISTANCE
    if not close.any():
        return
    for g in np.flatnonzero(close.any(axis=1)):
        # every pair within a run of close neighbours in projection, exactly
        idx = order[g]
        run = np.concatenate(([False], close[g])) | np.concatenate((close[g], [False]))
        cand = idx[run]
        d = sub[g, cand][:, None, :] - sub[g, cand][None, :, :]
        r2 = _square_norm(d)
        r2[np.tril_indices(len(cand))] = np.inf
        k = int(np.argmin(r2))
        if r2.flat[k] < _MIN2:
            a, b = divmod(k, len(cand))
            raise duplicate_error(dataset[int(members[g])], atoms[cand[a]], atoms[cand[b]],
                                  float(r2.flat[k]))


def neighbour_block(dataset, idx, table, cutoff, acc, nl=None):
    """One structure through vesin's compiled neighbour list (every pair once).

    ``nl``: a :func:`~ljfit.features.geometry.neighbour_list` for ``cutoff`` to reuse (its
    buffers are read in place). A periodic cell's pairs are reduced in blocks, so that the
    temporaries stay small; a cluster's in one piece (the order of summation of earlier
    versions)."""
    s = dataset[idx]
    pbc = np.asarray(s.pbc, dtype=bool)
    if cutoff is None:  # a large cluster without cutoff: every pair
        cutoff_nl, nl = float(np.ptp(s.positions, axis=0).max() * 1.01 + 1.0), None
    else:
        cutoff_nl = cutoff
    cell = s.cell if pbc.any() else np.zeros((3, 3))
    i_all, j_all, d_all = neighbour_pairs(s.positions, cell, pbc, cutoff_nl, nl=nl)
    P = len(i_all)
    step = _BLOCK if pbc.any() else max(P, 1)
    for p0 in range(0, P, step):
        i = i_all[p0:p0 + step].astype(np.int64)
        j = j_all[p0:p0 + step].astype(np.int64)
        d = d_all[p0:p0 + step]
        r2 = _square_norm(d)
        k = int(np.argmin(r2))
        if r2[k] < _MIN2:
            raise duplicate_error(s, i[k], j[k], float(r2[k]))
        if s.groups is not None:
            i, j, d = orient_interaction(s.groups, i, j, d)
            if len(i) == 0:
                continue
            r2 = _square_norm(d)
        slot = table.ids(s, i, j)
        acc.add(np.array([idx]), np.zeros(len(i), dtype=np.int64), slot, r2, d, i, j)
