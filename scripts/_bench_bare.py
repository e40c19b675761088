#!/usr/bin/env python
"""A bare-numpy LJ fit of periodic cells: the yardstick of ``scripts/bench_model.py``.

What a careful user would write by hand for one job, with numpy only and no checks: read
an extended XYZ file of periodic cells that all have the same number of atoms (``energy=``
and ``Lattice=`` from the comment lines, positions from columns 2–4), sum r⁻¹² and r⁻⁶ over
every pair within the cutoff with every periodic image (broadcast over a block of cells,
culled at the cutoff before the powers), shift at the cutoff, and solve the 2-parameter
linear least squares for C12 = 4εσ¹², C6 = 4εσ⁶. No validation, no output files, one
element, one cell size: a yardstick that puts ljfit's end-to-end time in proportion (with
or without ljfit 0.1.0 at hand).

Usage: ``python scripts/_bench_bare.py FILE.extxyz CUTOFF`` — prints ε (eV), σ (Å) and the
number of pairs inside the cutoff.
"""

from __future__ import annotations

import io
import itertools
import re
import sys

import numpy as np

_LATTICE = re.compile(rb'Lattice="([^"]*)"')
_ENERGY = re.compile(rb"(?:^|\s)energy=(\S+)")


def read_cells(path):
    """(positions (G, n, 3), cells (G, 3, 3), energies (G,)) of an extxyz file of
    equal-sized periodic cells."""
    with open(path, "rb") as fh:
        lines = fh.read().split(b"\n")
    n = int(lines[0])
    stride = n + 2
    count = len([ln for ln in lines[::stride] if ln.strip()])
    comments = lines[1::stride][:count]
    cells = np.array([_LATTICE.search(c).group(1).split() for c in comments],
                     dtype=float).reshape(count, 3, 3)
    energies = np.array([float(_ENERGY.search(c).group(1)) for c in comments])
    atom_lines = [ln for k in range(count) for ln in lines[k * stride + 2:k * stride + 2 + n]]
    xyz = np.loadtxt(io.BytesIO(b"\n".join(atom_lines)), usecols=(1, 2, 3))
    return xyz.reshape(count, n, 3), cells, energies


def pair_sums(pos, cells, cutoff, block=256):
    """Σ r⁻¹², Σ r⁻⁶ and the pair count per cell, every pair once: the i < j pairs with
    every periodic image that can come within the cutoff (broadcast over a block of cells,
    culled at the cutoff before any power is taken), and each atom with its own images
    (one per ±S pair)."""
    G, n, _ = pos.shape
    inv = np.linalg.inv(cells)
    frac = np.einsum("gni,gij->gnj", pos, inv) % 1.0
    pos = np.einsum("gni,gij->gnj", frac, cells)
    # images that can come within the cutoff: n_k = ceil(rc / width_k) along each vector
    widths = 1.0 / np.linalg.norm(inv, axis=1)  # (G, 3): distances between lattice planes
    reach = np.ceil(cutoff / widths.min(axis=0)).astype(int)
    shifts = np.array(list(itertools.product(*(range(-r, r + 1) for r in reach))), float)
    rc2 = cutoff * cutoff
    iu, ju = np.triu_indices(n, 1)
    s12, s6, cnt = np.zeros(G), np.zeros(G), np.zeros(G)
    for g0 in range(0, G, block):
        p, c = pos[g0:g0 + block], cells[g0:g0 + block]
        g = len(p)
        t = np.einsum("sk,gkl->gsl", shifts, c)  # (g, S, 3)
        d = (p[:, ju] - p[:, iu])[:, None, :, :] + t[:, :, None, :]  # (g, S, P, 3)
        r2 = np.einsum("gspk,gspk->gsp", d, d)
        gi, _, _ = idx = np.nonzero(r2 <= rc2)
        inv6 = 1.0 / r2[idx] ** 3
        s6[g0:g0 + g] += np.bincount(gi, inv6, g)
        s12[g0:g0 + g] += np.bincount(gi, inv6 * inv6, g)
        cnt[g0:g0 + g] += np.bincount(gi, None, g)
        # an atom and its own images: n atoms × the ±S pairs within the cutoff, each once
        t2 = np.einsum("gsk,gsk->gs", t, t)
        own = (t2 > 0) & (t2 <= rc2)
        inv6 = np.where(own, 1.0 / np.where(own, t2, 1.0) ** 3, 0.0)
        s6[g0:g0 + g] += 0.5 * n * inv6.sum(axis=1)
        s12[g0:g0 + g] += 0.5 * n * (inv6 * inv6).sum(axis=1)
        cnt[g0:g0 + g] += 0.5 * n * own.sum(axis=1)
    return s12, s6, cnt


def fit(path, cutoff):
    pos, cells, energies = read_cells(path)
    s12, s6, cnt = pair_sums(pos, cells, cutoff)
    X = np.column_stack([s12 - cnt * cutoff**-12, -(s6 - cnt * cutoff**-6)])
    (c12, c6), *_ = np.linalg.lstsq(X, energies, rcond=None)
    return c6 * c6 / (4.0 * c12), (c12 / c6) ** (1.0 / 6.0), int(cnt.sum())


if __name__ == "__main__":
    eps, sigma, pairs = fit(sys.argv[1], float(sys.argv[2]))
    print(f"epsilon {eps:.10g} sigma {sigma:.10g} pairs {pairs}")
