"""Geometry shared by the featurisation paths and the calculator: periodic images, wrapping,
compiled neighbour lists, the all-pairs list of one structure, and the up-front estimate of
how many pairs a cutoff makes (so that an absurd cutoff is refused before anything is
allocated)."""

from __future__ import annotations

import math

import numpy as np

from ..dataset import GROUP_A, GROUP_B
from ..errors import FitError

__all__ = ["image_shifts", "wrapped_positions", "wrapped_fractional", "plane_distances",
           "pair_list", "neighbour_list", "neighbour_pairs", "estimate_pairs",
           "estimate_images", "check_images", "check_pair_budget", "MAX_PAIRS", "MAX_IMAGES"]

#: More interacting pairs (over the whole data set) than this are refused up front: at a few
#: million pairs per second they would take hours.
MAX_PAIRS = 5e9
#: More periodic images per cell than this are refused up front (a cutoff many times the
#: cell: the image list alone would not fit in memory).
MAX_IMAGES = 1e5


def image_shifts(cells, pbc, cutoff, half=False):
    """Integer image shifts S (n_img, 3) covering every image within ``cutoff`` of a cell,
    for wrapped positions: along a periodic axis k, |S_k| ≤ ceil(r_c / h_k) with h_k the
    distance between the lattice planes spanned by the other two vectors (the smallest over
    ``cells``, shape (g, 3, 3)). ``half``: only S > 0 lexicographically (an atom with its own
    images, each pair once)."""
    pbc = np.asarray(pbc, dtype=bool)
    reps = np.zeros(3, dtype=int)
    if cutoff is not None and pbc.any():
        for k in range(3):
            if pbc[k]:
                reps[k] = int(np.ceil(cutoff / plane_distances(cells)[:, k].min()))
    grid = np.stack(np.meshgrid(*[np.arange(-r, r + 1) for r in reps], indexing="ij"), -1)
    shifts = grid.reshape(-1, 3)
    if half:
        positive = (shifts[:, 0] > 0) | ((shifts[:, 0] == 0) & (
            (shifts[:, 1] > 0) | ((shifts[:, 1] == 0) & (shifts[:, 2] > 0))))
        shifts = shifts[positive]
    return shifts


def plane_distances(cells) -> np.ndarray:
    """Distance between the lattice planes spanned by the other two vectors, per axis:
    h_k = V / |a_{k+1} × a_{k+2}|, shape (g, 3) for cells (g, 3, 3)."""
    cells = np.asarray(cells, dtype=float).reshape(-1, 3, 3)
    vol = np.abs(np.linalg.det(cells))
    out = np.empty((len(cells), 3))
    for k in range(3):
        a, b = cells[:, (k + 1) % 3], cells[:, (k + 2) % 3]
        out[:, k] = vol / np.linalg.norm(np.cross(a, b), axis=1)
    return out


def wrapped_positions(pos, cells, pbc):
    """Positions (g, n, 3) wrapped into their cells along the periodic axes."""
    pbc = np.asarray(pbc, dtype=bool)
    if not pbc.any():
        return pos
    return wrapped_fractional(pos, cells, pbc)[0]


def wrapped_fractional(pos, cells, pbc):
    """Positions (g, n, 3) wrapped into their cells along the periodic axes, and their
    fractional coordinates (in [0, 1) along the periodic axes, up to rounding).

    Returns
    -------
    wrapped : ndarray, shape (g, n, 3)
        Å.
    frac : ndarray, shape (g, n, 3)
        ``wrapped = frac @ cell``.
    """
    pbc = np.asarray(pbc, dtype=bool)
    frac = np.linalg.solve(np.transpose(cells, (0, 2, 1)), np.transpose(pos, (0, 2, 1)))
    frac = np.transpose(frac, (0, 2, 1))  # (g, n, 3): pos = frac @ cell
    frac[..., pbc] %= 1.0
    return np.einsum("gnk,gkl->gnl", frac, cells), frac


def estimate_pairs(n_atoms, volume, cutoff):
    """Expected number of pairs within ``cutoff`` of a periodic cell of ``n_atoms`` atoms and
    ``volume`` Å³ at uniform density: N² (4/3 π r_c³) / (2V) (every pair once). Arrays of
    cells give an array."""
    if cutoff is None:
        return 0.5 * n_atoms * (n_atoms - 1)
    with np.errstate(over="ignore", divide="ignore"):
        sphere = 4.0 / 3.0 * math.pi * np.float64(cutoff) ** 3
        out = 0.5 * np.asarray(n_atoms, float) ** 2 * sphere / np.asarray(volume, float)
    return float(out) if out.ndim == 0 else out


def estimate_images(cell, pbc, cutoff):
    """Periodic images within ``cutoff`` a cell's atoms must be paired with: the product
    over periodic axes of 2·ceil(r_c/h_k) + 1 (h_k: distance between lattice planes).
    ``cell`` (3, 3) gives a float, a stack (g, 3, 3) an array (g,)."""
    one = np.ndim(cell) == 2
    n = 1 if one else len(cell)
    if cutoff is None or not np.any(pbc):
        return 1.0 if one else np.ones(n)
    h = plane_distances(cell)
    with np.errstate(over="ignore", divide="ignore"):
        reach = np.where(np.asarray(pbc, bool), 2.0 * np.ceil(np.float64(cutoff) / h) + 1.0,
                         1.0)
        out = np.prod(reach, axis=1)
    return float(out[0]) if one else out


def _power(x: float) -> str:
    """4.2e+11 → '4.2·10^11'."""
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa}·10^{int(exponent)}"


def check_images(n_images: float, structure, cutoff) -> None:
    """Refuse a cutoff that reaches more than :data:`MAX_IMAGES` images of a cell."""
    if not (n_images <= MAX_IMAGES):
        h = float(plane_distances(structure.cell)[0][np.asarray(structure.pbc, bool)].min())
        count = (f"≈ {_power(n_images)} periodic images" if np.isfinite(n_images)
                 else "more periodic images than a float can count")
        raise FitError(f"cutoff: {cutoff:g} Å reaches {count} of the {h:.3g} Å cell of "
                       f"{structure.name} (at most {MAX_IMAGES:.0e} allowed); lower --cutoff")


def check_pair_budget(n_pairs: float, where: str = "") -> None:
    """Refuse a data set whose cutoff makes more than :data:`MAX_PAIRS` pairs (FitError
    with the estimate: count, memory of storing them, time at 5 M pairs/s)."""
    if not (n_pairs <= MAX_PAIRS):  # also catches inf / nan from an overflowing cutoff
        if math.isfinite(n_pairs):
            count = f"≈ {_power(n_pairs)} pairs"
            tb = n_pairs * 100 / 1e12
            hours = n_pairs / 5e6 / 3600
            size = (f"about {tb:,.3g} TB to hold and {hours:,.3g} h to compute" if tb < 1000
                    else f"about {tb:,.0f} TB to hold and {hours:,.0f} h to compute")
        else:
            count, size = "more pairs than a float can count", "far beyond any machine"
        raise FitError(
            f"cutoff: {count}{' in ' + where if where else ''} ({size}); lower --cutoff")


def neighbour_list(cutoff):
    """vesin's half neighbour list for ``cutoff``, one thread: the pair order (and so every
    floating-point sum) is then reproducible."""
    from vesin import NeighborList

    return NeighborList(cutoff=float(cutoff), full_list=False, n_threads=1)


def neighbour_pairs(positions, cell, pbc, cutoff, nl=None):
    """Every pair within ``cutoff`` once (half list), from vesin's compiled cell list.

    Parameters
    ----------
    nl : vesin.NeighborList, optional
        A list made by :func:`neighbour_list` for this cutoff, reused: the arrays returned
        are then its own buffers (no copy, no fresh memory), valid until its next use.

    Returns
    -------
    i, j : ndarray of int, shape (P,)
        int64, or vesin's uint64 when ``nl`` is given.
    d : ndarray, shape (P, 3)
        r_j + S·cell − r_i, Å. An atom with its own image appears once per ±S pair.
    """
    reuse = nl is not None
    if not reuse:
        nl = neighbour_list(cutoff)
    i, j, d = nl.compute(points=np.asarray(positions, dtype=float),
                         box=np.asarray(cell, dtype=float),
                         periodic=[bool(p) for p in pbc], quantities="ijD", copy=not reuse)
    if reuse:
        return i, j, d
    return i.astype(np.int64), j.astype(np.int64), d


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
        i, j, vec = neighbour_pairs(pos, cell, pbc, cutoff)
        if groups is not None:
            i, j, vec = orient_interaction(groups, i, j, vec)
            return i, j, vec, np.ones(len(i))
        # both directions, half weight each: the convention of the calculator's per-atom
        # energies and of the double-loop oracle of the tests
        return (np.concatenate((i, j)), np.concatenate((j, i)), np.concatenate((vec, -vec)),
                np.full(2 * len(i), 0.5))
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


def orient_interaction(groups, i, j, d):
    """Keep the pairs of a half list that join group A and group B, written i ∈ A, j ∈ B
    (a pair found as (j, i) is turned around: d → −d)."""
    gi, gj = groups[i], groups[j]
    ab = (gi == GROUP_A) & (gj == GROUP_B)
    ba = (gi == GROUP_B) & (gj == GROUP_A)
    i2 = np.where(ab, i, j)
    j2 = np.where(ab, j, i)
    d2 = np.where(ab[:, None], d, -d)
    keep = ab | ba
    return i2[keep], j2[keep], d2[keep]
