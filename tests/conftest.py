"""Shared test helpers: small synthetic datasets with known truth, built in memory.

Everything here is independent of ljfit's featuriser and model: the reference energies of
the builders come from :func:`reference_pairs`, a plain Python loop over atom pairs (and
periodic images), and :func:`mie_energy`, the textbook formula. Tests import the builders
directly (``from conftest import make_adsorbate_dataset``) or use the session fixtures at
the end of this file.

Builders
--------
make_adsorbate_dataset   molecule (group A: C/H/O) over an Au(111) patch or periodic slab
                         (group B); interaction energies, per-pair or per-site truth
make_cluster_dataset     Ar/Kr clusters of varying size; total energies (every pair)
make_fcc_argon_dataset   rattled, strained periodic fcc Ar (32 atoms); total energies
"""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ljfit.dataset import Dataset, Structure  # noqa: E402

# --------------------------------------------------------------------------------------
# known truth
# --------------------------------------------------------------------------------------

#: Per-pair (ε eV, σ Å) of the adsorbate datasets (molecule C/H/O on Au).
ADSORBATE_PARAMS = {"Au-C": (0.020, 3.20), "Au-H": (0.008, 2.70), "Au-O": (0.030, 3.00)}
#: Per-element (ε, σ) of argon and krypton; mixed pairs by Lorentz–Berthelot.
ARGON = (0.0104, 3.40)
KRYPTON = (0.0140, 3.65)
ARKR_ELEMENT_PARAMS = {"Ar": ARGON, "Kr": KRYPTON}
ARKR_PARAMS = {
    "Ar-Ar": ARGON,
    "Ar-Kr": (float(np.sqrt(ARGON[0] * KRYPTON[0])), 0.5 * (ARGON[1] + KRYPTON[1])),
    "Kr-Kr": KRYPTON,
}
FCC_AR_A = 5.26  #: lattice constant of the fcc Ar builder, Å


def mie_prefactor(n: float, m: float) -> float:
    """C(n, m) = n/(n−m) · (n/m)^(m/(n−m)) (4 for 12-6)."""
    return n / (n - m) * (n / m) ** (m / (n - m))


def mie_energy(r, eps, sig, n=12.0, m=6.0):
    """Textbook Mie / LJ pair energy C ε [(σ/r)^n − (σ/r)^m]."""
    r = np.asarray(r, dtype=float)
    return mie_prefactor(n, m) * eps * ((sig / r) ** n - (sig / r) ** m)


def params_to_values(params: dict) -> dict:
    """``{"Au-C": (ε, σ)}`` → ``{"epsilon[Au-C]": ε, "sigma[Au-C]": σ}``."""
    out = {}
    for key, (e, s) in params.items():
        out[f"epsilon[{key}]"] = float(e)
        out[f"sigma[{key}]"] = float(s)
    return out


# --------------------------------------------------------------------------------------
# the oracle: pairs by explicit loops
# --------------------------------------------------------------------------------------


def _image_translations(structure: Structure, cutoff: float) -> np.ndarray:
    """Every lattice translation that can bring an image within ``cutoff`` (plus a margin)."""
    cell = np.asarray(structure.cell, dtype=float)
    volume = abs(np.linalg.det(cell))
    ranges = []
    for k in range(3):
        if structure.pbc[k]:
            a, b = cell[(k + 1) % 3], cell[(k + 2) % 3]
            height = volume / np.linalg.norm(np.cross(a, b))
            nk = int(np.ceil(cutoff / height)) + 1
            ranges.append(range(-nk, nk + 1))
        else:
            ranges.append(range(0, 1))
    shifts = np.array(list(itertools.product(*ranges)), dtype=float)
    return shifts @ cell


def reference_pairs(structure: Structure, cutoff: float | None = None):
    """Every interacting pair of a structure, by loops over i, j (and images).

    Total energy (no groups): every unordered pair once; for a periodic cell every ordered
    pair (i, j, image) with weight 1/2, self-images included. Interaction energy: every
    i ∈ A, j ∈ B (and every image of j) with weight 1.

    Returns
    -------
    i, j : int arrays; d : (P, 3) array r_j + T − r_i; r : distances; w : weights
    """
    pos = np.asarray(structure.positions, dtype=float)
    groups = structure.groups
    n = len(pos)
    if structure.periodic:
        assert cutoff is not None
        shifts = _image_translations(structure, cutoff)
        zero = np.all(shifts == 0, axis=1)
    else:
        shifts, zero = np.zeros((1, 3)), np.array([True])
    out_i, out_j, out_d, out_w = [], [], [], []
    for i in range(n):
        for j in range(n):
            if groups is None:
                if not structure.periodic and j <= i:
                    continue
                w = 0.5 if structure.periodic else 1.0
            else:
                if not (groups[i] == 0 and groups[j] == 1):
                    continue
                w = 1.0
            d = pos[j] + shifts - pos[i]
            r = np.linalg.norm(d, axis=1)
            keep = np.ones(len(r), bool) if cutoff is None else r <= cutoff
            if i == j:
                keep &= ~zero
            for dk in d[keep]:
                out_i.append(i)
                out_j.append(j)
                out_d.append(dk)
                out_w.append(w)
    d = np.array(out_d, dtype=float).reshape(-1, 3)
    return (np.array(out_i, int), np.array(out_j, int), d, np.linalg.norm(d, axis=1),
            np.array(out_w, float))


def pair_label(structure: Structure, i: int, j: int, kind: str = "pair") -> str:
    """Slot label of a pair: ``"Au-C"`` (alphabetical) or the site index of i within A."""
    if kind == "site":
        return str(int(np.sum(structure.groups[:i] == 0)))
    return "-".join(sorted((structure.symbols[i], structure.symbols[j])))


def reference_energy(structure, params, *, kind="pair", n=12.0, m=6.0, cutoff=None,
                     shift=False, offset=0.0):
    """Energy of one structure by the oracle; ``params`` maps slot labels to (ε, σ)."""
    i, j, _, r, w = reference_pairs(structure, cutoff)
    e = offset
    for a, b, rr, ww in zip(i, j, r, w):
        eps, sig = params[pair_label(structure, a, b, kind)]
        phi = mie_energy(rr, eps, sig, n, m)
        if shift:
            phi -= mie_energy(cutoff, eps, sig, n, m)
        e += ww * phi
    return float(e)


# --------------------------------------------------------------------------------------
# builders
# --------------------------------------------------------------------------------------


def random_rotation(rng) -> np.ndarray:
    """A uniformly random proper rotation matrix."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def make_adsorbate_dataset(n_structures=8, rng=None, *, molecule="CH3OH", periodic=False,
                           params=None, kind="pair", cutoff=None, shift=False, offset=0.0,
                           noise=0.0, n=12.0, m=6.0, name="ads"):
    """A molecule (group A, file order first) over gold (group B), randomly placed.

    The substrate is an 18-atom Au(111) 3×3×2 patch: a cluster (``periodic=False``) or the
    slab with its cell and pbc (True, True, False) (``periodic=True``, needs ``cutoff``).
    The molecule (an :func:`ase.build.molecule` name, or several names separated by ``|`` to
    mix atom counts; C/H/O) is rotated at random, moved laterally by up to ±1.5 Å and put
    2.5–4.5 Å above the top layer, so A–B distances span ≈2.5–10 Å.

    Energies: interaction energy by :func:`reference_energy` with ``params`` (slot label →
    (ε, σ); default :data:`ADSORBATE_PARAMS`, per-pair; ``kind="site"`` for per-site truth),
    the given cutoff/shift/Mie exponents, plus ``offset`` and Gaussian ``noise`` (eV).
    """
    from ase.build import fcc111
    from ase.build import molecule as ase_molecule

    rng = np.random.default_rng(0) if rng is None else rng
    params = ADSORBATE_PARAMS if params is None else params
    slab = fcc111("Au", size=(3, 3, 2), vacuum=6.0)
    sub_pos = slab.positions
    top = sub_pos[:, 2].max()
    centre = sub_pos[:, :2].mean(axis=0)
    names = molecule.split("|")
    structures = []
    for k in range(n_structures):
        mol = ase_molecule(names[k % len(names)])
        p = (mol.positions - mol.positions.mean(axis=0)) @ random_rotation(rng).T
        p[:, :2] += centre + rng.uniform(-1.5, 1.5, size=2)
        p[:, 2] += top + rng.uniform(2.5, 4.5) - p[:, 2].min()
        symbols = mol.get_chemical_symbols() + slab.get_chemical_symbols()
        s = Structure(
            name=f"{name}{k:03d}",
            symbols=symbols,
            positions=np.vstack([p, sub_pos]),
            groups=[0] * len(mol) + [1] * len(slab),
            cell=slab.cell.array if periodic else np.zeros((3, 3)),
            pbc=slab.pbc if periodic else False,
        )
        e = reference_energy(s, params, kind=kind, n=n, m=m, cutoff=cutoff, shift=shift,
                             offset=offset)
        structures.append(s.with_energy(e + noise * rng.normal()))
    return Dataset(structures, group_mode="seed")


def _random_cluster(n_atoms, rng, dmin=3.6, radius=None):
    radius = 2.4 * n_atoms ** (1 / 3) if radius is None else radius
    pos = []
    while len(pos) < n_atoms:
        x = rng.uniform(-radius, radius, 3)
        if np.linalg.norm(x) <= radius and all(np.linalg.norm(x - y) >= dmin for y in pos):
            pos.append(x)
    return np.array(pos)


def make_cluster_dataset(n_structures=8, rng=None, *, elements=("Ar", "Kr"),
                         n_atoms=(5, 9), params=None, cutoff=None, shift=False,
                         offset=0.0, noise=0.0, name="clu"):
    """Random rare-gas clusters (sizes drawn from ``n_atoms`` = (min, max) inclusive, random
    composition over ``elements``, nearest neighbours ≥ 3.6 Å), with *total* energies (every
    pair once, no groups). Truth: ``params`` (default :data:`ARKR_PARAMS`, per-pair, with
    Ar–Kr by Lorentz–Berthelot from :data:`ARKR_ELEMENT_PARAMS`)."""
    rng = np.random.default_rng(1) if rng is None else rng
    params = ARKR_PARAMS if params is None else params
    structures = []
    for k in range(n_structures):
        na = int(rng.integers(n_atoms[0], n_atoms[1] + 1))
        symbols = list(rng.choice(elements, size=na))
        s = Structure(f"{name}{k:03d}", symbols, _random_cluster(na, rng))
        e = reference_energy(s, params, cutoff=cutoff, shift=shift, offset=offset)
        structures.append(s.with_energy(e + noise * rng.normal()))
    return Dataset(structures, group_mode="all")


def make_fcc_argon_dataset(n_structures=4, rng=None, *, rattle=0.1, strain=0.02,
                           cutoff=8.5, shift=False, params=None, repeat=2, name="fcc"):
    """Periodic fcc Ar, ``bulk("Ar", "fcc", a=5.26, cubic=True).repeat(2)`` (32 atoms, 10.52 Å
    cell, so ``cutoff`` = 8.5 Å reaches beyond the nearest images), each randomly strained
    (±``strain``) and rattled (σ = ``rattle`` Å). Total energies with the given cutoff/shift
    (truth: :data:`ARGON`). ``repeat=1``: the 4-atom cubic cell, where an atom also meets
    its own periodic images."""
    from ase.build import bulk

    rng = np.random.default_rng(2) if rng is None else rng
    params = {"Ar-Ar": ARGON} if params is None else params
    base = bulk("Ar", "fcc", a=FCC_AR_A, cubic=True).repeat(repeat)
    structures = []
    for k in range(n_structures):
        deform = np.eye(3) + rng.uniform(-strain, strain, (3, 3))
        cell = base.cell.array @ deform
        frac = base.get_scaled_positions()
        pos = frac @ cell + rng.normal(scale=rattle, size=frac.shape)
        s = Structure(f"{name}{k:03d}", base.get_chemical_symbols(), pos, cell=cell, pbc=True)
        structures.append(s.with_energy(reference_energy(s, params, cutoff=cutoff,
                                                         shift=shift)))
    return Dataset(structures, group_mode="all")


def structure_to_atoms(structure: Structure):
    """An ase.Atoms of a Structure; groups become tags (A → 0, B → 1) for ``groups="tags"``."""
    from ase import Atoms

    atoms = Atoms(structure.symbols, positions=structure.positions, cell=structure.cell,
                  pbc=structure.pbc)
    if structure.groups is not None:
        atoms.set_tags(np.asarray(structure.groups, int))
    return atoms


def write_extxyz(dataset, path):
    """The structures of ``dataset`` with their energies as ``info['energy']``, written to
    an extended XYZ file ``path``; returns ``path``."""
    from ase.io import write

    frames = []
    for s in dataset:
        a = structure_to_atoms(s)
        a.info["energy"] = s.energy
        frames.append(a)
    write(path, frames, format="extxyz")
    return path


# --------------------------------------------------------------------------------------
# session fixtures (datasets are immutable, so sharing them is safe)
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def adsorbate_dataset():
    """8 CH3OH-on-Au(18) clusters, per-pair truth :data:`ADSORBATE_PARAMS`, no cutoff."""
    return make_adsorbate_dataset(8, np.random.default_rng(10))


@pytest.fixture(scope="session")
def slab_dataset():
    """6 molecules (CH3OH, H2O, CO2 mixed) on a periodic Au(111) slab, cutoff 7 Å."""
    return make_adsorbate_dataset(6, np.random.default_rng(11), molecule="CH3OH|H2O|CO2",
                                  periodic=True, cutoff=7.0, name="slab")


@pytest.fixture(scope="session")
def cluster_dataset():
    """8 Ar/Kr clusters of 5–9 atoms, total energies, truth :data:`ARKR_PARAMS`."""
    return make_cluster_dataset(8, np.random.default_rng(12))


@pytest.fixture(scope="session")
def fcc_dataset():
    """3 rattled periodic fcc Ar cells (32 atoms), total energies, cutoff 8.5 Å."""
    return make_fcc_argon_dataset(3, np.random.default_rng(13))
