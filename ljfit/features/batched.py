"""The two ways pairs are produced and handed to the :class:`Accumulator`.

``batched_block``: structures with identical atoms, groups and periodicity, stacked
(G, n, 3). The candidate pairs (every i < j, or every i ∈ A, j ∈ B) times every periodic
image that can come within the cutoff are computed by broadcasting, in chunks of at most
``chunk_pairs`` candidates; candidates beyond the cutoff are culled before any power is
taken (in a 32-atom cell at r_c = 8.5 Å only about one candidate in eleven survives).

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
from .geometry import image_shifts, neighbour_pairs, orient_interaction, wrapped_positions

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


def _check_min(delta, t, r2, members, ii, jj, dataset, g0):
    """Raise for the closest candidate pair if it is a duplicate atom (exact distances)."""
    if r2.min() >= _MIN2 + _CULL_ATOL:
        return
    _, r2 = _exact(delta, t)
    flat = int(np.argmin(r2))
    if r2.flat[flat] < _MIN2:
        g, rest = divmod(flat, r2.shape[1] * len(ii))
        q = rest % len(ii)
        raise duplicate_error(dataset[int(members[g0 + g])], ii[q], jj[q],
                              float(r2.flat[flat]))


def batched_block(dataset, members, table, cutoff, chunk_pairs, acc):
    """Features of structures sharing one layout (see module docstring)."""
    first = dataset[members[0]]
    n = first.n_atoms
    pbc = np.asarray(first.pbc, dtype=bool)
    periodic = bool(pbc.any())
    interaction = first.groups is not None
    members = np.asarray(members, dtype=np.int64)
    pos = np.stack([dataset[int(k)].positions for k in members])  # (G, n, 3)
    cells = np.stack([dataset[int(k)].cell for k in members]) if periodic else None
    if periodic:
        pos = wrapped_positions(pos, cells, pbc)
        shifts = image_shifts(cells, pbc, cutoff)
    else:
        shifts = np.zeros((1, 3), dtype=int)
    if interaction:
        a = np.flatnonzero(first.groups == GROUP_A)
        b = np.flatnonzero(first.groups == GROUP_B)
        i, j = np.repeat(a, len(b)), np.tile(b, len(a))
        _check_within_groups(dataset, members, pos, cells, pbc, shifts, [a, b])
    else:
        i, j = np.triu_indices(n, 1)
    if len(i):
        slot = table.ids(first, i, j)
        if not periodic and len(i) * n * acc.K <= _DENSE_MAX_ENTRIES:
            _dense_pairs(dataset, members, pos, i, j, slot, cutoff, chunk_pairs, acc)
        else:
            _pairs(dataset, members, pos, cells, shifts, i, j, slot, cutoff, chunk_pairs,
                   acc, check=True)
    if periodic and not interaction and cutoff is not None:
        # an atom with its own periodic images: one candidate per atom and ±S pair
        half = image_shifts(cells, pbc, cutoff, half=True)
        if len(half):
            ii = np.arange(n)
            _pairs(dataset, members, pos, cells, half, ii, ii, table.ids(first, ii, ii),
                   cutoff, chunk_pairs, acc, check=False)


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
        incidence = np.zeros((p, n * K))
        incidence[np.arange(p), j * K + local] += 1.0
        incidence[np.arange(p), i * K + local] -= 1.0
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


def _pairs(dataset, members, pos, cells, shifts, i, j, slot, cutoff, chunk_pairs, acc,
           check):
    n_img = len(shifts)
    rc2 = np.inf if cutoff is None else cutoff * cutoff
    cull2 = rc2 * (1 + _CULL_RTOL) + _CULL_ATOL
    need_d = acc.wants_vectors
    if need_d:
        wants = acc.wants(members)
    p_step = max(1, min(len(i), chunk_pairs // n_img))
    for p0 in range(0, len(i), p_step):
        ii, jj, ss = i[p0:p0 + p_step], j[p0:p0 + p_step], slot[p0:p0 + p_step]
        g_step = max(1, chunk_pairs // (n_img * len(ii)))
        for g0 in range(0, len(members), g_step):
            g1 = min(len(members), g0 + g_step)
            t = None if cells is None else np.einsum("sk,gkl->gsl", shifts, cells[g0:g1])
            delta, r2 = _candidates(pos[g0:g1], t, ii, jj)
            if check:
                _check_min(delta, t, r2, members, ii, jj, dataset, g0)
            if cutoff is None and t is None:  # every candidate counts, exactly as computed
                gl = np.repeat(np.arange(g1 - g0), len(ii))
                pp = np.tile(np.arange(len(ii)), g1 - g0)
                d = delta.reshape(-1, 3)
                r2s = r2.ravel()
            else:
                gl, img, pp = np.nonzero(r2 <= cull2)
                d = delta[gl, pp]
                if t is not None:
                    d += t[gl, img]
                r2s = _square_norm(d)
                if cutoff is not None:
                    inside = r2s <= rc2
                    if not inside.all():
                        gl, pp, d, r2s = gl[inside], pp[inside], d[inside], r2s[inside]
            if need_d and not wants[g0:g1].any():
                d = None
            acc.add(members[g0:g1], gl, ss[pp], r2s, d, ii[pp], jj[pp])


def _check_within_groups(dataset, members, pos, cells, pbc, shifts, groups):
    """Duplicate atoms inside each group (interaction energies never pair them).

    Clusters: exactly, without computing the group's pairs. Two atoms closer than d are
    closer than d along any direction, so on a generic direction u the projections of a
    duplicate pair differ by less than MIN_DISTANCE: after sorting each structure's
    projections only the runs of gaps below it hold candidates (almost never any), and those
    are checked exactly. Periodic cells (images) compare the group's pairs, once per distinct
    group geometry (a rigid slab shared by 10⁵ structures is checked once)."""
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
        ii, jj = np.triu_indices(len(atoms), 1)
        t = np.einsum("sk,gkl->gsl", shifts, cells[first])
        delta, r2 = _candidates(sub[first], t, ii, jj)
        if r2.min() < _MIN2 + _CULL_ATOL:
            _, r2 = _exact(delta, t)
            flat_k = int(np.argmin(r2))
            if r2.flat[flat_k] < _MIN2:
                g, rest = divmod(flat_k, r2.shape[1] * len(ii))
                q = rest % len(ii)
                raise duplicate_error(dataset[int(members[first[g]])], atoms[ii[q]],
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


def neighbour_block(dataset, idx, table, cutoff, acc):
    """One structure through vesin's compiled neighbour list (every pair once)."""
    s = dataset[idx]
    pbc = np.asarray(s.pbc, dtype=bool)
    if cutoff is None:  # a large cluster without cutoff: every pair
        cutoff_nl = float(np.ptp(s.positions, axis=0).max() * 1.01 + 1.0)
    else:
        cutoff_nl = cutoff
    cell = s.cell if pbc.any() else np.zeros((3, 3))
    i, j, d = neighbour_pairs(s.positions, cell, pbc, cutoff_nl)
    r2 = _square_norm(d)
    if len(r2):
        k = int(np.argmin(r2))
        if r2[k] < _MIN2:
            raise duplicate_error(s, i[k], j[k], float(r2[k]))
    if s.groups is not None:
        i, j, d = orient_interaction(s.groups, i, j, d)
        r2 = _square_norm(d)
    if len(i) == 0:
        return
    slot = table.ids(s, i, j)
    acc.add(np.array([idx]), np.zeros(len(i), dtype=np.int64), slot, r2, d, i, j)
