#!/usr/bin/env python
"""Generate the example data sets of ljfit from known Lennard-Jones parameters.

``data/example/``
    The substrate/surface ("seed") layout: 40 pairs ``p_N.xyz`` (ethanol, 9 atoms, with the
    reference energy in the comment line) and ``p_N_extended.xyz`` (the same ethanol
    followed by a 48-atom Au(111) slab, written without cell). The energy is the
    ethanol–slab Lennard-Jones interaction with per-element-pair parameters plus Gaussian
    noise of 1 meV. ``truth.json`` holds the parameters, the noise and the noise-free
    energies.

``data/example_tags/dimers.extxyz``
    12 frames of a CH4 molecule (tag 0) next to an Ar3 cluster (tag 1) at varied
    separations, with the noise-free CH4–Ar3 interaction energy as ``energy=`` in the
    comment line, and its own ``truth.json``.

``data/example_forces/cells.extxyz``
    24 periodic Ar/Kr fcc cells (4 or 8 atoms, Kr fraction 0–75 %, strained and rattled)
    with *total* energies, forces and stress: Lennard-Jones with Lorentz–Berthelot mixed
    per-element parameters, cut at 6 Å and shifted, plus per-element reference energies
    e0 (eV/atom) and Gaussian noise (1 meV/atom on energies, 10 meV/Å on forces,
    1e-5 eV/Å³ on stress). ``truth.json`` holds everything.

The energies are computed here with plain numpy, independently of ljfit, so that the data
can serve as an oracle. The output is deterministic: running the script again rewrites
identical files.

Usage: ``python scripts/make_example_data.py [--out DATA_DIR]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from ase.build import fcc111, molecule

SEED = 20240611
NOISE_EV = 0.001

#: Au(111) slab -- ethanol parameters (eV, Å), keys "A-B" with A, B in alphabetical order.
SEED_PARAMETERS = {
    "Au-C": {"epsilon": 0.020, "sigma": 3.2},
    "Au-H": {"epsilon": 0.010, "sigma": 2.7},
    "Au-O": {"epsilon": 0.022, "sigma": 3.0},
}
#: Ar3 -- CH4 parameters (eV, Å).
TAGS_PARAMETERS = {
    "Ar-C": {"epsilon": 0.0045, "sigma": 3.4},
    "Ar-H": {"epsilon": 0.0025, "sigma": 2.9},
}

N_STRUCTURES = 40
N_DIMERS = 12
CLOSEST_RANGE = (2.25, 5.0)  # Å, closest ethanol–Au distance over the structures


def pair_key(a: str, b: str) -> str:
    return "-".join(sorted((a, b)))


def lj_interaction(sym_a, pos_a, sym_b, pos_b, parameters) -> float:
    """Σ_{i in A, j in B} 4 ε_ij ((σ_ij/r)^12 − (σ_ij/r)^6), vectorised, eV."""
    r = np.linalg.norm(pos_a[:, None, :] - pos_b[None, :, :], axis=-1)
    keys = np.array([[pair_key(a, b) for b in sym_b] for a in sym_a])
    eps = np.vectorize(lambda k: parameters[k]["epsilon"])(keys)
    sig = np.vectorize(lambda k: parameters[k]["sigma"])(keys)
    s6 = (sig / r) ** 6
    return float(np.sum(4.0 * eps * (s6 * s6 - s6)))


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniformly distributed rotation matrix (from a normalised Gaussian quaternion)."""
    w, x, y, z = (q := rng.normal(size=4)) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def closest(pos_a: np.ndarray, pos_b: np.ndarray) -> float:
    return float(np.min(np.linalg.norm(pos_a[:, None, :] - pos_b[None, :, :], axis=-1)))


def lift_to_distance(mol: np.ndarray, slab: np.ndarray, target: float) -> np.ndarray:
    """Shift ``mol`` along z (it starts above ``slab``) so its closest distance is ``target``.

    The closest distance grows monotonically with the height as long as the molecule is
    above every slab atom, so a bisection finds the shift.
    """
    lo = slab[:, 2].max() - mol[:, 2].min() + 0.1  # every molecule atom above the slab
    hi = lo + target + 1.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if closest(mol + [0.0, 0.0, mid], slab) < target:
            lo = mid
        else:
            hi = mid
    return mol + [0.0, 0.0, 0.5 * (lo + hi)]


def xyz_line(symbol: str, xyz) -> str:
    return f"{symbol:<2s} {xyz[0]:12.8f} {xyz[1]:12.8f} {xyz[2]:12.8f}\n"


def make_seed_example(out: Path, rng: np.random.Generator) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("p_*.xyz"):
        old.unlink()
    ethanol = molecule("CH3CH2OH")
    mol_sym = ethanol.get_chemical_symbols()
    mol0 = ethanol.positions - ethanol.positions.mean(axis=0)
    slab = fcc111("Au", size=(4, 4, 3))
    slab_sym = slab.get_chemical_symbols()
    slab_pos = np.round(slab.positions, 8)
    top = slab_pos[slab_pos[:, 2] > slab_pos[:, 2].max() - 0.1]
    lateral_lo, lateral_hi = top[:, :2].min(axis=0), top[:, :2].max(axis=0)
    center = 0.5 * (lateral_lo + lateral_hi)
    # closest distances spread evenly over the range, in random order
    targets = rng.permutation(np.linspace(*CLOSEST_RANGE, N_STRUCTURES))
    noise = rng.normal(0.0, NOISE_EV, size=N_STRUCTURES)
    clean, energies = {}, {}
    for n in range(1, N_STRUCTURES + 1):
        mol = mol0 @ random_rotation(rng).T
        offset = center + rng.uniform(-0.25, 0.25, size=2) * (lateral_hi - lateral_lo)
        mol = mol + np.append(offset, 0.0)
        mol = np.round(lift_to_distance(mol, slab_pos, targets[n - 1]), 8)
        e = lj_interaction(mol_sym, mol, slab_sym, slab_pos, SEED_PARAMETERS)
        clean[f"p_{n}"] = e
        energies[f"p_{n}"] = e + noise[n - 1]
        mol_lines = [xyz_line(s, x) for s, x in zip(mol_sym, mol)]
        slab_lines = [xyz_line(s, x) for s, x in zip(slab_sym, slab_pos)]
        with open(out / f"p_{n}.xyz", "w") as fh:
            fh.write(f"{len(mol_sym)}\nenergy {energies[f'p_{n}']:.9f} eV\n")
            fh.writelines(mol_lines)
        with open(out / f"p_{n}_extended.xyz", "w") as fh:
            fh.writelines(mol_lines + slab_lines)
    truth = {
        "description": "ethanol (substrate, group A) on a 48-atom Au(111) slab (surface, "
        "group B); interaction energy = per-element-pair LJ + Gaussian noise",
        "scope": "per-pair",
        "potential": "lj",
        "cutoff": None,
        "shift": False,
        "noise_eV": NOISE_EV,
        "seed": SEED,
        "n_substrate": len(mol_sym),
        "parameters": _flat(SEED_PARAMETERS),
        "energies_noise_free": {k: round(v, 12) for k, v in clean.items()},
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")


def make_tags_example(out: Path, rng: np.random.Generator) -> None:
    out.mkdir(parents=True, exist_ok=True)
    ch4 = molecule("CH4")
    ch4_sym = ch4.get_chemical_symbols()
    ch4_0 = ch4.positions - ch4.positions.mean(axis=0)
    d_arar = 3.76  # Å, Ar3: equilateral triangle in the xy plane
    ar3 = d_arar / np.sqrt(3.0) * np.array(
        [[np.cos(t), np.sin(t), 0.0] for t in (0.0, 2 * np.pi / 3, 4 * np.pi / 3)]
    )
    separations = np.linspace(2.9, 6.5, N_DIMERS)  # Å, CH4 centre above the Ar3 plane
    clean = {}
    with open(out / "dimers.extxyz", "w") as fh:
        for k, h in enumerate(separations):
            mol = np.round(ch4_0 @ random_rotation(rng).T + [0.0, 0.0, h], 8)
            pos = np.vstack([mol, np.round(ar3, 8)])
            sym = ch4_sym + ["Ar"] * 3
            tags = [0] * len(ch4_sym) + [1] * 3
            e = lj_interaction(ch4_sym, mol, ["Ar"] * 3, np.round(ar3, 8), TAGS_PARAMETERS)
            clean[f"dimers[{k}]"] = round(e, 12)
            fh.write(f"{len(sym)}\n")
            fh.write(
                f'Properties=species:S:1:pos:R:3:tags:I:1 energy={e:.12f} pbc="F F F"\n'
            )
            for s, x, t in zip(sym, pos, tags):
                fh.write(f"{xyz_line(s, x).rstrip()} {t:4d}\n")
    truth = {
        "description": "CH4 (tag 0, group A) next to an Ar3 cluster (tag 1, group B); "
        "interaction energy = per-element-pair LJ, no noise",
        "scope": "per-pair",
        "potential": "lj",
        "cutoff": None,
        "shift": False,
        "noise_eV": 0.0,
        "seed": SEED,
        "parameters": _flat(TAGS_PARAMETERS),
        "energies_noise_free": clean,
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")


#: Ar/Kr per-element parameters (eV, Å), mixed by Lorentz–Berthelot; reference energies.
FORCES_ELEMENTS = {"Ar": {"epsilon": 0.0104, "sigma": 3.40},
                   "Kr": {"epsilon": 0.0140, "sigma": 3.65}}
FORCES_E0 = {"Ar": -0.0421, "Kr": -0.0583}
FORCES_CUTOFF = 6.0
FORCES_NOISE = {"energy_per_atom": 0.001, "forces": 0.01, "stress": 1e-5}
N_CELLS = 24


def lj_periodic(symbols, positions, cell, elements, cutoff):
    """Energy (shifted at the cutoff), forces and stress (ASE's sign, Voigt) of a periodic
    cell by an explicit sum over ASE's neighbour list: every pair once from each side."""
    from ase import Atoms
    from ase.neighborlist import neighbor_list

    atoms = Atoms(symbols, positions=positions, cell=cell, pbc=True)
    i, j, d = neighbor_list("ijD", atoms, cutoff)  # both directions: weight 1/2
    sym = np.asarray(symbols)
    ea = np.array([elements[s]["epsilon"] for s in sym])
    sa = np.array([elements[s]["sigma"] for s in sym])
    eps, sig = np.sqrt(ea[i] * ea[j]), 0.5 * (sa[i] + sa[j])
    r = np.linalg.norm(d, axis=1)
    sr6, src6 = (sig / r) ** 6, (sig / cutoff) ** 6
    e_pair = 4 * eps * (sr6 * sr6 - sr6) - 4 * eps * (src6 * src6 - src6)
    dphi = 4 * eps * (-12 * sr6 * sr6 + 6 * sr6) / r  # dφ/dr
    g = (0.5 * dphi / r)[:, None] * d  # ∂E/∂d, half per direction
    forces = np.zeros((len(sym), 3))
    np.add.at(forces, i, g)
    np.add.at(forces, j, -g)
    virial = g.T @ d  # Σ ∂E/∂d ⊗ d
    stress = virial / abs(np.linalg.det(cell))
    voigt = [stress[0, 0], stress[1, 1], stress[2, 2], stress[1, 2], stress[0, 2],
             stress[0, 1]]
    return 0.5 * float(e_pair.sum()), forces, np.array(voigt)


def make_forces_example(out: Path, rng: np.random.Generator) -> None:
    from ase.build import bulk

    out.mkdir(parents=True, exist_ok=True)
    clean = {}
    with open(out / "cells.extxyz", "w") as fh:
        for k in range(N_CELLS):
            base = bulk("Ar", "fcc", a=5.5, cubic=True).repeat((1, 1, 1 + k % 2))
            n = len(base)
            n_kr = int(rng.integers(0, 3 * n // 4 + 1))
            sym = ["Kr"] * n_kr + ["Ar"] * (n - n_kr)
            rng.shuffle(sym)
            cell = base.cell.array @ (np.eye(3) + rng.uniform(-0.02, 0.02, (3, 3)))
            pos = base.get_scaled_positions() @ cell + rng.normal(scale=0.12, size=(n, 3))
            cell, pos = np.round(cell, 8), np.round(pos, 8)
            e, f, s = lj_periodic(sym, pos, cell, FORCES_ELEMENTS, FORCES_CUTOFF)
            e += sum(FORCES_E0[x] for x in sym)
            clean[f"cells[{k}]"] = round(e, 12)
            e += FORCES_NOISE["energy_per_atom"] * n * rng.normal()
            f = f + FORCES_NOISE["forces"] * rng.normal(size=f.shape)
            s = s + FORCES_NOISE["stress"] * rng.normal(size=6)
            full = np.array([[s[0], s[5], s[4]], [s[5], s[1], s[3]], [s[4], s[3], s[2]]])
            lattice = " ".join(f"{v:.8f}" for v in cell.ravel())
            stress = " ".join(f"{v:.12g}" for v in full.ravel())
            fh.write(f"{n}\n")
            fh.write(f'Lattice="{lattice}" Properties=species:S:1:pos:R:3:forces:R:3 '
                     f'energy={e:.12f} stress="{stress}" pbc="T T T"\n')
            for x, p_, f_ in zip(sym, pos, f):
                fh.write(f"{xyz_line(x, p_).rstrip()} {f_[0]:14.8f} {f_[1]:14.8f} "
                         f"{f_[2]:14.8f}\n")
    truth = {
        "description": "periodic Ar/Kr fcc cells, total energies + forces + stress: LJ with "
        "Lorentz-Berthelot mixed per-element parameters, cut at 6 A and shifted, plus "
        "per-element reference energies e0, plus noise",
        "scope": "per-element",
        "mixing": "lorentz-berthelot",
        "potential": "lj",
        "cutoff": FORCES_CUTOFF,
        "shift": True,
        "noise": FORCES_NOISE,
        "seed": SEED,
        "parameters": {**{f"epsilon[{e}]": v["epsilon"] for e, v in FORCES_ELEMENTS.items()},
                       **{f"sigma[{e}]": v["sigma"] for e, v in FORCES_ELEMENTS.items()},
                       **{f"e0[{e}]": v for e, v in FORCES_E0.items()}},
        "energies_noise_free": clean,
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")


def _flat(parameters: dict) -> dict:
    out = {}
    for pair in sorted(parameters):
        out[f"epsilon[{pair}]"] = parameters[pair]["epsilon"]
        out[f"sigma[{pair}]"] = parameters[pair]["sigma"]
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = Path(__file__).resolve().parent.parent / "data"
    parser.add_argument(
        "--out", type=Path, default=default, help="data folder (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    rng = np.random.default_rng(SEED)
    make_seed_example(args.out / "example", rng)
    make_tags_example(args.out / "example_tags", rng)
    make_forces_example(args.out / "example_forces", rng)
    print(f"wrote {args.out / 'example'}, {args.out / 'example_tags'} and "
          f"{args.out / 'example_forces'}")


if __name__ == "__main__":
    main()
