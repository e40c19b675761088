#!/usr/bin/env python
"""Benchmark ljfit's reading, featurisation and end-to-end fits (issues #9 and #10).

One run measures, side by side, on files it generates in a temporary folder:

1. Reading 2000 extended-XYZ frames (32-atom Ar cells with energy, forces, stress):
   ``ase.io.read(path, ":")`` vs ``extxyz.read_dicts(path)`` raw, and
   ``ljfit.read_dataset`` through the extxyz C parser vs through ASE's reader (the same code
   path with ``ljfit.io.frames._extxyz_frames`` returning None); also the read of the
   32 000-structure substrate/surface folder.
2. Featurisation throughput, in process (``compute_features``; M pairs/s inside the cutoff,
   each pair once): periodic fcc Ar cells of 32, 108, 256, 500 and 2000 atoms (rc 8.5 Å,
   shifted), Ar clusters of the same sizes (no cutoff: every pair), ethanol over a 48-atom
   Au(111) slab (the 432 substrate × surface pairs); energies alone next to energies + forces
   (+ stress for cells), the 108-atom cells also through the compiled path (the
   ``DENSE_MAX_ATOMS`` crossover), and clusters with forces under 1 vs all BLAS threads.
3. End to end, whole processes of the ``ljfit`` console script, interleaved:
   a. ``ljfit fit --method linear`` on 2000 × 32-atom Ar cells: ljfit 0.1.0 (``--baseline``)
      vs this ljfit on energies only (the same job) and with the file's forces and stress,
      a bare-numpy pipeline (``scripts/_bench_bare.py``) as a yardstick, and
      ``ljfit --version`` (interpreter start-up + imports: the floor of every command);
   b. issue #9: 500 of those cells, ``--method linear,least_squares``, energies only vs
      energies + forces + stress;
   c. 32 000 substrate/surface structures (ethanol over a rattled Au(111) slab): serial vs
      ``--jobs 2``;
   d. 1000 × 500-atom Ar cells, energies only, linear: wall time and peak RSS.
4. The 0.1.0-era "seed-style" cost function (re-read every file, Python loop over the pairs)
   vs one ljfit energies + Jacobian evaluation, and that evaluation on 32 000 structures.

Then a summary with every target of issues #9 and #10 and whether it was met; a missed
target is profiled (cProfile: the functions with their share of the time; for ``ljfit fit``
also the stages import / read / featurise / fit / write, and for ``--jobs`` the Amdahl
bound of the serial run's parallelisable share). cProfile inflates call-heavy Python code:
shares are indicative, the timings above are not profiled.

Data (all generated, nothing downloaded): fcc Ar (a = 5.26 Å), cells strained by a random
symmetric strain (components ≤ 1 %) and rattled (σ = 0.1 Å); energies, forces and stress of
the 32-atom cells by ASE's ``LennardJones(epsilon=0.0104, sigma=3.4, rc=8.5, smooth=False)``
(energies shifted at rc, so ljfit fits with ``--shift``); the energies of the 500-atom cells
by numpy over vesin's neighbour list (the same formula, checked against ASE's calculator on
two cells). Substrate/surface structures: ethanol rotated uniformly at random, 4–7 Å above
a 4×4×3 Au(111) slab whose atoms are rattled (σ = 0.05 Å) independently in every structure
(so no two slabs are the same), interaction energies by numpy with the per-pair Au–C/H/O
parameters of ``make_example_data.py``.

Timings: wall clock. In-process measurements: interleaved repeats, best and median.
Whole processes: one untimed warm-up run of each command, then rounds running every
command once in a rotating order; ratios are taken round by round (pairwise), peak RSS and
CPU time are the child's own (``os.wait4``). Targets on absolute times are judged on the
best repeat (on a shared machine other jobs only add time), ratios on the median of the
pairwise ratios.

Usage::

    python scripts/bench_model.py                     # full run (~10 min on 2 cores)
    python scripts/bench_model.py --quick             # smoke run (~1 min), sizes reduced
    python scripts/bench_model.py --baseline /tmp/venv-010/bin/python
    python scripts/bench_model.py --only features     # section 2 alone (and its targets)

``--baseline PYTHON``: the interpreter of a virtualenv holding ljfit 0.1.0 (commit 1db22d9,
"today's time" of issue #10), whose ``ljfit`` console script sits next to it::

    mkdir /tmp/ljfit-0.1.0 && git archive 1db22d9 | tar -x -C /tmp/ljfit-0.1.0
    python3 -m venv /tmp/venv-010 && /tmp/venv-010/bin/pip install -e /tmp/ljfit-0.1.0

Without it the 0.1.0 rows are left out and the end-to-end time is reported absolutely and
as a ratio to the bare-numpy pipeline. The output is also written to
``results/bench_model.txt`` (``--out`` to change, ``--out ''`` for none).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_util import (  # noqa: E402
    Tee,
    cpu_model,
    fmt_bytes,
    fmt_time,
    interleaved,
    interleaved_processes,
    load_average,
    memory_total,
    pairwise,
    profile_call,
    profile_shares,
    table,
    usable_cores,
)

import ljfit  # noqa: E402
from ljfit import Dataset, LJModel, Structure, compute_features  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent
SEED = 20240611

AR_EPSILON, AR_SIGMA, AR_CUTOFF = 0.0104, 3.40, 8.5
AR_A = 5.26  # Å, fcc lattice constant
AR_RATTLE = 0.1  # Å
AR_STRAIN = 0.01  # largest |strain component|
SLAB_RATTLE = 0.05  # Å, per structure
#: Ethanol–Au(111) truth for the substrate/surface energies (eV, Å), as make_example_data.py.
SEED_PARAMETERS = {"Au-C": (0.012, 3.2), "Au-H": (0.006, 2.7), "Au-O": (0.014, 3.0)}

#: repeats of the fcc conventional cell giving the cell sizes of the featurisation table
CELL_REPEATS = {32: (2, 2, 2), 108: (3, 3, 3), 256: (4, 4, 4), 500: (5, 5, 5), 2000: (5, 5, 20)}

# ---- sizes: full run, and --quick ------------------------------------------------------
FULL = dict(n_ar=2000, n_forces=500, n_big=1000, n_seed=32_000, n_loop=200,
            feat_pairs=4.5e6, feat_repeats=5, read_repeats=3, e2e_repeats=3)
QUICK = dict(n_ar=200, n_forces=100, n_big=40, n_seed=2000, n_loop=40,
             feat_pairs=3e5, feat_repeats=2, read_repeats=2, e2e_repeats=2)

# ---- targets (issues #9, #10) -----------------------------------------------------------
T_E2E_RATIO = 0.35  # × ljfit 0.1.0 on 2000 × 32-atom cells, --method linear
T_E2E_IDLE_SECONDS = 2.0  # "≈ 2 s on an idle 2-core machine" (informative)
T_PAIRS_PER_S = 5e6  # 32-atom cells and clusters
T_FLAT = 2.0  # fastest / slowest cell size, 32 … 2000 atoms
T_FORCES_COST = 3.0  # featurising E+F(+S) / E
T_FORCES_E2E_SECONDS = 5.0  # "a few seconds": 500 cells, E+F+S, linear + least_squares
T_SEED_SECONDS = 5.0  # 32 000 substrate/surface structures end to end
T_BIG_RSS = 1 << 30  # 1000 × 500-atom cells
T_JOBS_SPEEDUP = 1.6


# ========================================================================================
# data generation
# ========================================================================================


def fcc_ar(repeat):
    from ase.build import bulk

    return bulk("Ar", "fcc", a=AR_A, cubic=True).repeat(repeat)


def strained_rattled(base, rng):
    """(positions, cell) of ``base`` under a random symmetric strain, rattled."""
    strain = rng.uniform(-AR_STRAIN, AR_STRAIN, (3, 3))
    strain = 0.5 * (strain + strain.T)
    m = np.eye(3) + strain
    cell = base.cell.array @ m
    pos = base.positions @ m + rng.normal(0.0, AR_RATTLE, base.positions.shape)
    return pos, cell


def ar_cells_ase(n, repeat, seed):
    """n strained, rattled cells with ASE LennardJones energy, forces and stress."""
    from ase.calculators.lj import LennardJones
    from ase.calculators.singlepoint import SinglePointCalculator

    rng = np.random.default_rng(seed)
    base = fcc_ar(repeat)
    frames = []
    for _ in range(n):
        atoms = base.copy()
        pos, cell = strained_rattled(base, rng)
        atoms.set_cell(cell)
        atoms.positions = pos
        atoms.calc = LennardJones(epsilon=AR_EPSILON, sigma=AR_SIGMA, rc=AR_CUTOFF,
                                  smooth=False)
        e, f, s = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        atoms.calc = SinglePointCalculator(atoms, energy=e, forces=f, stress=s)
        frames.append(atoms)
    return frames


def lj_energy_numpy(pos, cell):
    """ASE LennardJones(smooth=False)'s energy of one periodic cell, by numpy on vesin's
    half neighbour list: Σ 4ε[(σ/r)¹² − (σ/r)⁶] − φ(rc) over the pairs within rc."""
    from vesin import NeighborList

    nl = NeighborList(cutoff=AR_CUTOFF, full_list=False)
    (d,) = nl.compute(points=pos, box=cell, periodic=True, quantities="d")
    s6 = (AR_SIGMA / d) ** 6
    rc6 = (AR_SIGMA / AR_CUTOFF) ** 6
    return 4.0 * AR_EPSILON * (float(np.sum(s6 * s6 - s6)) - len(d) * (rc6 * rc6 - rc6))


def ar_cells_numpy(n, repeat, seed):
    """n strained, rattled cells with numpy energies (and the largest difference to ASE's
    calculator on the first two)."""
    from ase.calculators.lj import LennardJones
    from ase.calculators.singlepoint import SinglePointCalculator

    rng = np.random.default_rng(seed)
    base = fcc_ar(repeat)
    frames, check = [], 0.0
    for k in range(n):
        atoms = base.copy()
        pos, cell = strained_rattled(base, rng)
        atoms.set_cell(cell)
        atoms.positions = pos
        e = lj_energy_numpy(atoms.positions, atoms.cell.array)
        if k < 2:
            atoms.calc = LennardJones(epsilon=AR_EPSILON, sigma=AR_SIGMA, rc=AR_CUTOFF,
                                      smooth=False)
            check = max(check, abs(atoms.get_potential_energy() - e))
        atoms.calc = SinglePointCalculator(atoms, energy=e)
        frames.append(atoms)
    return frames, check


def random_rotations(rng, n):
    """n uniformly distributed rotation matrices, shape (n, 3, 3)."""
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1)[:, None]
    w, x, y, z = q.T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=1,
    )


def substrate_on_slab(n, seed):
    """Ethanol (group A, 9 atoms) over a 4×4×3 Au(111) slab (group B, 48 atoms):
    (symbols, groups, positions (n, 57, 3)). The molecule is rotated uniformly at random,
    its centre placed over a random point of the surface cell 4–7 Å above the top layer;
    the slab's atoms are rattled by N(0, SLAB_RATTLE) in every structure."""
    from ase.build import fcc111, molecule

    mol = molecule("CH3CH2OH")
    slab = fcc111("Au", (4, 4, 3))
    rng = np.random.default_rng(seed)
    m0 = mol.positions - mol.positions.mean(axis=0)
    na = len(mol)
    pos = np.empty((n, na + len(slab), 3))
    pos[:, :na] = np.einsum("nij,aj->nai", random_rotations(rng, n), m0)
    lateral = rng.random((n, 2)) @ slab.cell.array[:2, :2]
    height = slab.positions[:, 2].max() + rng.uniform(4.0, 7.0, n)
    pos[:, :na] += np.column_stack([lateral, height])[:, None, :]
    pos[:, na:] = slab.positions + rng.normal(0.0, SLAB_RATTLE, (n, len(slab), 3))
    symbols = tuple(mol.get_chemical_symbols() + slab.get_chemical_symbols())
    groups = np.array([0] * na + [1] * len(slab), dtype=np.int8)
    return symbols, groups, pos


def interaction_energies(symbols, groups, pos, block=2000):
    """Σ_{A×B} 4ε((σ/r)¹² − (σ/r)⁶) per structure, plain numpy (independent of ljfit)."""
    a, b = np.flatnonzero(groups == 0), np.flatnonzero(groups == 1)

    def pick(k):
        return np.array([[SEED_PARAMETERS["-".join(sorted((symbols[i], symbols[j])))][k]
                          for j in b] for i in a])

    eps, sig = pick(0), pick(1)
    out = np.empty(len(pos))
    for g0 in range(0, len(pos), block):
        p = pos[g0:g0 + block]
        d = p[:, a, None, :] - p[:, None, b, :]
        r2 = np.einsum("gabk,gabk->gab", d, d)
        s6 = (sig * sig / r2) ** 3
        out[g0:g0 + block] = np.sum(4.0 * eps * (s6 * s6 - s6), axis=(1, 2))
    return out


def write_seed_folder(folder, symbols, groups, pos, energies):
    """The substrate/surface layout: p_N.xyz (count, 'energy E', substrate atoms) and
    p_N_extended.xyz (headerless 'Symbol x y z', substrate then surface), N = 1..n."""
    folder.mkdir(parents=True, exist_ok=True)
    n_sub = int(np.sum(groups == 0))
    fmt = [f"{s} %.10f %.10f %.10f" for s in symbols]
    for k in range(len(pos)):
        lines = [f % tuple(xyz) for f, xyz in zip(fmt, pos[k].tolist())]
        with open(folder / f"p_{k + 1}.xyz", "w") as fh:
            fh.write(f"{n_sub}\nenergy {energies[k]:.12f}\n" + "\n".join(lines[:n_sub]) + "\n")
        with open(folder / f"p_{k + 1}_extended.xyz", "w") as fh:
            fh.write("\n".join(lines) + "\n")


def ar_cluster(n_atoms, rng):
    """The n_atoms fcc sites closest to a point of a large fcc block, rattled."""
    side = max(2, math.ceil((n_atoms / 4) ** (1 / 3)) + 2)
    block = fcc_ar((side, side, side))
    centre = block.cell.array.sum(axis=0) / 2 + np.array([0.3, 0.2, 0.1])
    d = np.linalg.norm(block.positions - centre, axis=1)
    pos = block.positions[np.argsort(d, kind="stable")[:n_atoms]]
    return pos + rng.normal(0.0, AR_RATTLE, pos.shape)


def pairs_per_cell(n_atoms):
    """Expected pairs within rc of an n_atoms fcc Ar cell (each once)."""
    density = 4 / AR_A**3
    return n_atoms * 0.5 * density * 4 / 3 * math.pi * AR_CUTOFF**3


def feature_sets(target_pairs, seed):
    """In-memory Datasets of the featurisation table:
    [(label, kind, n_atoms, Dataset, compute_features kwargs, forces, stress), ...]."""
    rng = np.random.default_rng(seed)
    sets = []
    for n_atoms, rep in CELL_REPEATS.items():
        base = fcc_ar(rep)
        count = max(2, round(target_pairs / pairs_per_cell(n_atoms)))
        symbols = tuple(base.get_chemical_symbols())
        structures = []
        for k in range(count):
            pos, cell = strained_rattled(base, rng)
            structures.append(Structure(name=f"c{k}", symbols=symbols, positions=pos,
                                        energy=0.0, cell=cell, pbc=np.ones(3, bool)))
        ds = Dataset(structures)
        kw = dict(cutoff=AR_CUTOFF, shift=True)
        sets.append((f"Ar cell {n_atoms}", "cell", n_atoms, ds, kw, True, True))
        # across the batched/compiled crossover (DENSE_MAX_ATOMS): the other path
        if n_atoms == 108:
            sets.append((f"Ar cell {n_atoms}, compiled path", "diag", n_atoms, ds,
                         dict(kw, dense_max_atoms=0), True, True))
    for n_atoms in CELL_REPEATS:
        count = max(2, round(target_pairs / (n_atoms * (n_atoms - 1) / 2)))
        symbols = ("Ar",) * n_atoms
        structures = [Structure(name=f"k{k}", symbols=symbols, positions=ar_cluster(n_atoms, rng),
                                energy=0.0) for k in range(count)]
        sets.append((f"Ar cluster {n_atoms}, all pairs", "cluster", n_atoms,
                     Dataset(structures), {}, True, False))
    count = max(2, round(target_pairs / 432))
    symbols, groups, pos = substrate_on_slab(count, seed + 7)
    structures = [Structure(name=f"s{k}", symbols=symbols, positions=pos[k], energy=0.0,
                            groups=groups) for k in range(count)]
    sets.append(("ethanol/Au(111), 9×48 pairs", "cluster", 57, Dataset(structures), {},
                 True, False))
    return sets


# ========================================================================================
# helpers
# ========================================================================================


class Bench:
    """Everything one run shares: output, temp folder, commands, the summary."""

    def __init__(self, args):
        self.args = args
        self.out = Tee()
        self.tmp = Path(tempfile.mkdtemp(prefix="ljfit_bench_"))
        self.checks = []  # [target, measured, threshold, status]
        self.profiles = []  # texts printed at the end
        self.ljfit_cmd = [str(Path(sys.executable).parent / "ljfit")]
        self.base_cmd = None
        if args.baseline:
            self.base_cmd = [str(Path(args.baseline).parent / "ljfit")]

    def check(self, target, measured, threshold, ok, judged=True):
        status = "INFO" if ok is None else ("PASS" if ok else "FAIL")
        if ok is not None and not judged:
            status = f"({'pass' if ok else 'fail'}: not full size)"
        self.checks.append([target, measured, threshold, status])
        return status

    def profile(self, make_text):
        """Add the text ``make_text()`` builds to the profiles printed at the end (not with
        --no-profile)."""
        if not self.args.no_profile:
            self.profiles.append(make_text())

    def outdir(self, name):
        return str(self.tmp / "out" / name)


def rounds_text(runs, attr="wall"):
    vals = [getattr(r, attr) for r in runs]
    return min(vals), statistics.median(vals)


def process_table(runs: dict, reference: str | None = None) -> str:
    """One row per command: best/median wall, CPU, peak RSS; pairwise ratios to
    ``reference``."""
    rows = []
    for name, rs in runs.items():
        best, med = rounds_text(rs)
        cpu = statistics.median(r.cpu for r in rs)
        rss = max(r.maxrss for r in rs)
        row = [name, f"{best:.3f} s", f"{med:.3f} s", f"{cpu:.2f} s", fmt_bytes(rss)]
        if reference:
            if name == reference:
                row.append("1")
            else:
                ratios = pairwise(runs[reference], rs)
                row.append(f"{statistics.median(ratios):.3f} ({min(ratios):.3f}–{max(ratios):.3f})")
        rows.append(row)
    headers = ["command", "best wall", "median wall", "CPU (median)", "peak RSS (max)"]
    if reference:
        headers.append(f"× {reference} (median of rounds, range)")
    return table(rows, headers)


def read_parameters(folder):
    """{name: value} of the first method in parameters.csv of a results folder."""
    path = Path(folder) / "parameters.csv"
    if not path.exists():
        return {}
    values = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            values.setdefault(row["method"], {})[row["name"]] = float(row["value"])
    return values


#: stages of ``ljfit fit`` in a profile: (label, [(file suffix, function), ...])
CLI_STAGES = [
    ("import ljfit (the package: lazy)", [("ljfit/__init__.py", "<module>")]),
    # (not scipy's vendored scipy/_lib/array_api_compat/numpy/__init__.py)
    ("import numpy", [("site-packages/numpy/__init__.py", "<module>")]),
    ("import ljfit.fitting (scipy.optimize only when a method needs it)",
     [("ljfit/fitting/__init__.py", "<module>")]),
    ("read (cli _read)", [("ljfit/cli/common.py", "_read")]),
    ("featurise (cli _build_model)", [("ljfit/cli/common.py", "_build_model")]),
    ("read + featurise in parts (parallel.submit + Parts.result)",
     [("ljfit/parallel.py", "submit"), ("ljfit/parallel.py", "result")]),
    ("fit", [("ljfit/fitting/__init__.py", "fit")]),
    ("write results (report write_results)", [("ljfit/report/folder.py", "write_results")]),
]


def cli_stages(stats):
    """{label: cumulative seconds} of CLI_STAGES in a pstats.Stats (one call each)."""
    found = {}
    for label, keys in CLI_STAGES:
        total = sum(v[3] for k, v in stats.stats.items()
                    if any(k[0].endswith(f) and k[2] == fn for f, fn in keys))
        if total >= 1e-3:  # a stage this run did not take (serial vs --jobs) is left out
            found[label] = total
    return found


def profile_cli(bench, argv, label, n=14, amdahl=False):
    """cProfile of ``ljfit ARGV`` in a fresh process of this interpreter (imports included):
    the top functions by own time, then ljfit's by cumulative time, with shares of the
    profiled total."""
    import pstats

    prof = bench.tmp / f"profile_{len(bench.profiles)}.prof"
    code = ("import cProfile, sys\n"
            "pr = cProfile.Profile(); pr.enable()\n"
            "from ljfit.cli import main\n"
            f"rc = main({[str(a) for a in argv]!r})\n"
            f"pr.disable(); pr.dump_stats({str(prof)!r}); sys.exit(rc)\n")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=bench.tmp)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return f"profile of {label}: failed ({proc.stderr.strip().splitlines()[-1:]})"
    stats = pstats.Stats(str(prof))
    ljfit_only = pstats.Stats(str(prof))
    ljfit_only.stats = {k: v for k, v in ljfit_only.stats.items() if "/ljfit/" in k[0]}
    total = stats.total_tt
    stages = cli_stages(stats)
    rows = [[k, f"{v:.3f} s", f"{100 * v / total:.1f} %"] for k, v in stages.items()]
    rest = total - sum(stages.values())
    rows.append(["rest (the other imports -- ljfit's modules, ase, extxyz, threadpoolctl --, "
                 "planning, ...)", f"{rest:.3f} s", f"{100 * rest / total:.1f} %"])
    text = table(rows, ["stage", "cumulative", "share"])
    if amdahl:
        par = sum(v for k, v in stages.items() if k.startswith(("read", "featurise")))
        frac = par / total
        text += (f"\nparallelisable by --jobs (read + featurise): {100 * frac:.0f} % of the "
                 f"serial run → Amdahl bound with 2 workers and no overhead: "
                 f"{1 / ((1 - frac) + frac / 2):.2f}×")
    return (f"cProfile of {label} ({wall:.2f} s wall under the profiler, "
            f"{stats.total_tt:.2f} s profiled):\n"
            f"ljfit {' '.join(map(str, argv))}\n" + text + "\n"
            "top functions by own time:\n" + profile_shares(stats, n, "tottime")
            + "\nljfit's functions by cumulative time (shares of the same total):\n"
            + profile_shares(ljfit_only, n, "cumulative", total=stats.total_tt))


# ========================================================================================
# sections
# ========================================================================================


def generate(bench, sizes):
    """Write every input file; returns their paths and the featurisation sets."""
    import ase.io

    out, tmp = bench.out, bench.tmp
    data = {}
    rows = []

    t0 = time.perf_counter()
    frames = ar_cells_ase(sizes["n_ar"], CELL_REPEATS[32], SEED)
    data["ar"] = tmp / f"ar32_{sizes['n_ar']}.extxyz"
    ase.io.write(data["ar"], frames, format="extxyz")
    data["ar_forces"] = tmp / f"ar32_{sizes['n_forces']}.extxyz"
    ase.io.write(data["ar_forces"], frames[: sizes["n_forces"]], format="extxyz")
    rows.append([data["ar"].name, f"{sizes['n_ar']} × 32-atom Ar cells, E + F + S by ASE "
                 "LennardJones", fmt_bytes(data["ar"].stat().st_size),
                 fmt_time(time.perf_counter() - t0)])
    rows.append([data["ar_forces"].name, f"the first {sizes['n_forces']} of them",
                 fmt_bytes(data["ar_forces"].stat().st_size), "(same)"])
    del frames

    t0 = time.perf_counter()
    frames, diff = ar_cells_numpy(sizes["n_big"], CELL_REPEATS[500], SEED + 1)
    data["big"] = tmp / f"ar500_{sizes['n_big']}.extxyz"
    ase.io.write(data["big"], frames, format="extxyz")
    rows.append([data["big"].name, f"{sizes['n_big']} × 500-atom Ar cells, E by numpy "
                 f"(vs ASE {diff:.1e} eV)", fmt_bytes(data["big"].stat().st_size),
                 fmt_time(time.perf_counter() - t0)])
    if diff > 1e-9:
        raise RuntimeError(f"numpy LJ energies differ from ASE's by {diff} eV")
    del frames

    t0 = time.perf_counter()
    symbols, groups, pos = substrate_on_slab(sizes["n_seed"], SEED + 2)
    energies = interaction_energies(symbols, groups, pos)
    data["seed"] = tmp / f"seed_{sizes['n_seed']}"
    write_seed_folder(data["seed"], symbols, groups, pos, energies)
    n_loop = sizes["n_loop"]
    data["seed_small"] = tmp / f"seed_{n_loop}"
    write_seed_folder(data["seed_small"], symbols, groups, pos[:n_loop], energies[:n_loop])
    size = sum(e.stat().st_size for e in os.scandir(data["seed"]))
    rows.append([data["seed"].name + "/", f"{sizes['n_seed']:,} ethanol/Au(111) structures, "
                 "2 files each, numpy energies", fmt_bytes(size),
                 fmt_time(time.perf_counter() - t0)])
    rows.append([data["seed_small"].name + "/", f"the first {n_loop} of them", "", "(same)"])
    del pos

    t0 = time.perf_counter()
    data["feature_sets"] = feature_sets(sizes["feat_pairs"], SEED + 3)
    rows.append(["(in memory)", f"featurisation sets, ~{sizes['feat_pairs'] / 1e6:g} M pairs "
                 "each", "", fmt_time(time.perf_counter() - t0)])
    out(table(rows, ["input", "content", "size", "generated in"], align="llrr"))
    out(f"in {tmp} (removed at the end)")
    return data


def generate_feature_sets(bench, sizes):
    """Only the in-memory featurisation sets (``--only features``)."""
    t0 = time.perf_counter()
    data = {"feature_sets": feature_sets(sizes["feat_pairs"], SEED + 3)}
    bench.out(table([["(in memory)", f"featurisation sets, ~{sizes['feat_pairs'] / 1e6:g} M "
                      "pairs each", "", fmt_time(time.perf_counter() - t0)]],
                    ["input", "content", "size", "generated in"], align="llrr"))
    return data


def section_read(bench, data, sizes):
    import ase.io
    import extxyz

    from ljfit.io import frames as io_frames

    out, path = bench.out, str(data["ar"])

    def ljfit_ase_reader():
        saved = io_frames._extxyz_frames
        io_frames._extxyz_frames = lambda *a, **k: None
        try:
            return ljfit.read_dataset(path, groups="all")
        finally:
            io_frames._extxyz_frames = saved

    funcs = {
        "ase.io.read(path, ':')": lambda: ase.io.read(path, ":"),
        "extxyz.read_dicts(path)": lambda: extxyz.read_dicts(path),
        "ljfit.read_dataset, ASE reader": ljfit_ase_reader,
        "ljfit.read_dataset, C parser": lambda: ljfit.read_dataset(path, groups="all"),
    }
    ds_c, ds_a = funcs["ljfit.read_dataset, C parser"](), ljfit_ase_reader()
    same = (np.array_equal(ds_c.energies, ds_a.energies)
            and all(np.array_equal(a.positions, b.positions)
                    and np.array_equal(a.forces, b.forces) and np.array_equal(a.stress, b.stress)
                    for a, b in zip(ds_c, ds_a)))
    t = interleaved(funcs, sizes["read_repeats"], number=1)
    ref = t["ljfit.read_dataset, C parser"]
    rows = [[name, fmt_time(tm.best), fmt_time(tm.median), f"{tm.best / ref.best:.1f}×"]
            for name, tm in t.items()]
    out(f"{Path(path).name}: {len(ds_c)} frames × 32 atoms (species, positions, forces; "
        f"energy, stress, Lattice, pbc); {sizes['read_repeats']} interleaved repeats")
    out(table(rows, ["reader", "best", "median", "÷ ljfit C parser (best)"]))
    out(f"both ljfit paths give the same Dataset (energies, positions, forces, stress): {same}")
    asef = t["ljfit.read_dataset, ASE reader"]
    raw, ase_raw = t["extxyz.read_dicts(path)"], t["ase.io.read(path, ':')"]
    bench.check(f"read {len(ds_c)} frames: ljfit via C parser vs via ASE reader",
                f"{ref.best:.3f} s vs {asef.best:.3f} s ({asef.best / ref.best:.1f}×; raw: "
                f"extxyz {raw.best:.3f} s, ase.io.read {ase_raw.best:.3f} s)", "—", None)
    # the substrate/surface folder
    seed = str(data["seed"])
    ts = interleaved({"read_dataset(seed folder)": lambda: ljfit.read_dataset(seed)},
                     sizes["read_repeats"], number=1)["read_dataset(seed folder)"]
    out(f"\nljfit.read_dataset of the {sizes['n_seed']:,}-structure substrate/surface folder "
        f"({2 * sizes['n_seed']:,} files): best {fmt_time(ts.best)}, median "
        f"{fmt_time(ts.median)}")
    return same


def section_features(bench, data, sizes):
    out = bench.out
    rows, results = [], {}
    for label, kind, n_atoms, ds, kw, forces, stress in data["feature_sets"]:
        with_fs = "E+F+S" if stress else "E+F"
        funcs = {
            "E": lambda ds=ds, kw=kw: compute_features(ds, **kw),
            with_fs: lambda ds=ds, kw=kw, f=forces, s=stress: compute_features(
                ds, forces=f, stress=s, **kw),
        }
        n_pairs = compute_features(ds, **kw).n_pairs
        t = interleaved(funcs, sizes["feat_repeats"], number=1)
        te, tf = t["E"], t[with_fs]
        ratios = [b / a for a, b in zip(te.samples, tf.samples)]
        rate = n_pairs / te.best
        results[label] = dict(kind=kind, n_atoms=n_atoms, rate=rate,
                              rate_med=n_pairs / te.median, rate_f=n_pairs / tf.best,
                              cost=statistics.median(ratios), ds=ds, kw=kw, fs=with_fs)
        rows.append([label, len(ds), f"{n_pairs / len(ds):,.0f}", f"{n_pairs / 1e6:.2f}",
                     f"{rate / 1e6:.2f}", f"{n_pairs / te.median / 1e6:.2f}",
                     f"{n_pairs / tf.best / 1e6:.2f}", with_fs,
                     f"{statistics.median(ratios):.2f}×"])
        out(f"  {label}: {rate / 1e6:.2f} M pairs/s (E, best)")
    out(f"\ncompute_features, in process, {sizes['feat_repeats']} interleaved repeats; pairs "
        "inside the cutoff, each once (cells: rc 8.5 Å, shifted; clusters: no cutoff)")
    out(table(rows, ["structures", "count", "pairs each", "M pairs", "E M/s best",
                     "E M/s median", "with F M/s best", "observables", "F cost (median)"]))
    out("F cost: time with forces (and stress) ÷ time of energies alone, median of the "
        "interleaved pairs. 'compiled path': the same cells through vesin's cell list "
        f"(dense_max_atoms=0) instead of the batched broadcasting that cells of up to "
        f"DENSE_MAX_ATOMS = {ljfit.features.DENSE_MAX_ATOMS} atoms take (and larger cells of "
        f"at most {getattr(ljfit.features, 'BATCHED_MAX_SPHERES', 0):g} cutoff spheres). "
        "BLAS single-threaded (as the ljfit command line runs it).")
    blas_threads(bench, data, sizes)
    return results


def blas_threads(bench, data, sizes):
    """The dense cluster path with forces is made of BLAS products: time it under a limit
    of 1 and of all BLAS threads set around the Python API (compute_features limits its
    own products to one thread, so both should be alike)."""
    from threadpoolctl import threadpool_limits

    cores = usable_cores()
    rows = []
    for label, kind, n_atoms, ds, kw, forces, stress in data["feature_sets"]:
        if label not in ("Ar cluster 108, all pairs", "ethanol/Au(111), 9×48 pairs"):
            continue

        def run(threads, ds=ds, kw=kw):
            with threadpool_limits(limits=threads, user_api="blas"):
                return compute_features(ds, forces=True, **kw)

        n_pairs = run(1).n_pairs
        t = interleaved({1: lambda: run(1), cores: lambda: run(cores)},
                        sizes["feat_repeats"], number=1)
        rows.append([label, f"{n_pairs / t[1].best / 1e6:.2f}",
                     f"{n_pairs / t[1].median / 1e6:.2f}",
                     f"{n_pairs / t[cores].best / 1e6:.2f}",
                     f"{n_pairs / t[cores].median / 1e6:.2f}",
                     f"{t[cores].median / t[1].median:.2f}×"])
    bench.out(f"\nE+F of clusters (dense BLAS path) under a limit of 1 vs {cores} BLAS threads "
              f"set around compute_features (which limits its own products to one thread); "
              f"load average now {load_average()}")
    bench.out(table(rows, ["structures", "1 thread M/s best", "median",
                           f"{cores} threads M/s best", "median", "slow-down (median)"]))


def judge_features(bench, res, full):
    cells = {k: v for k, v in res.items() if v["kind"] == "cell"}
    clusters = {k: v for k, v in res.items() if v["kind"] == "cluster"}
    c32 = res["Ar cell 32"]
    st = bench.check("featurisation, 32-atom cells (E)", f"{c32['rate'] / 1e6:.2f} M pairs/s "
                     f"(median {c32['rate_med'] / 1e6:.2f})", "≥ 5 M pairs/s",
                     c32["rate"] >= T_PAIRS_PER_S, full)
    if st == "FAIL":
        profile_features(bench, "Ar cell 32", c32)
    worst = min(clusters, key=lambda k: clusters[k]["rate"])
    w = clusters[worst]
    st = bench.check("featurisation, clusters (E, slowest row)",
                     f"{w['rate'] / 1e6:.2f} M pairs/s ({worst})", "≥ 5 M pairs/s",
                     w["rate"] >= T_PAIRS_PER_S, full)
    if st == "FAIL":
        profile_features(bench, worst, w)
    fast = max(cells, key=lambda k: cells[k]["rate"])
    slow = min(cells, key=lambda k: cells[k]["rate"])
    spread = cells[fast]["rate"] / cells[slow]["rate"]
    st = bench.check("featurisation flat over cells of 32…2000 atoms (E)",
                     f"fastest/slowest {spread:.2f} ({fast.split()[-1]} vs "
                     f"{slow.split()[-1]} atoms, {cells[slow]['rate'] / 1e6:.2f} M/s)",
                     "≤ 2×", spread <= T_FLAT, full)
    if st == "FAIL" or cells[slow]["rate"] < T_PAIRS_PER_S:
        profile_features(bench, slow, cells[slow])
    costly = max((k for k in res if res[k]["kind"] != "diag"), key=lambda k: res[k]["cost"])
    c = res[costly]
    st = bench.check("featurising forces (+stress) vs energies (issue #9; worst row)",
                     f"{c['cost']:.2f}× ({costly}, {c['fs']})", "≤ ~3×",
                     c["cost"] <= T_FORCES_COST, full)
    if st == "FAIL":
        profile_features(bench, costly, c, forces=True)


def profile_features(bench, label, r, forces=False):
    ds, kw = r["ds"], r["kw"]
    extra = dict(forces=True, stress=r["fs"] == "E+F+S") if forces else {}
    bench.profile(lambda: f"cProfile of compute_features on '{label}'"
                          f"{' with ' + r['fs'] if forces else ''} ({len(ds)} structures):\n"
                          + profile_call(lambda: compute_features(ds, **kw, **extra), 14))


def _ar_linear_fit(path):
    """``ljfit fit`` arguments of the Ar cell end-to-end runs (total energies, rc 8.5 Å,
    shifted, linear, nothing but the tables written)."""
    return ["fit", path, "--groups", "all", "--cutoff", str(AR_CUTOFF), "--shift",
            "--method", "linear", "--no-plots", "--quiet", "--force"]


def section_ar_e2e(bench, data, sizes, full):
    out, path = bench.out, str(data["ar"])
    common = _ar_linear_fit(path)
    variants = {}
    if bench.base_cmd:
        variants["ljfit 0.1.0"] = bench.base_cmd + common + ["--out", bench.outdir("v010")]
    variants["ljfit E"] = bench.ljfit_cmd + common + ["--no-forces", "--no-stress", "--out",
                                                      bench.outdir("cur_e")]
    variants["ljfit E+F+S"] = bench.ljfit_cmd + common + ["--out", bench.outdir("cur_efs")]
    variants["bare numpy"] = [sys.executable, str(SCRIPTS / "_bench_bare.py"), path,
                              str(AR_CUTOFF)]
    variants["ljfit --version"] = bench.ljfit_cmd + ["--version"]  # start-up floor
    out(f"{Path(path).name}: {sizes['n_ar']} × 32-atom Ar cells; "
        f"{sizes['e2e_repeats']} rounds after a warm-up, rotating order")
    for name, cmd in variants.items():
        out(f"  {name}: {' '.join(Path(c).name if k == 0 else c for k, c in enumerate(cmd))}")
    runs = interleaved_processes(variants, sizes["e2e_repeats"], cwd=bench.tmp)
    reference = "ljfit 0.1.0" if bench.base_cmd else "bare numpy"
    out(process_table(runs, reference))
    out("ljfit --version: interpreter start-up and the imports of the ljfit script, the floor "
        "under every ljfit command")
    # recovered parameters
    rows = []
    for name, folder in (("ljfit 0.1.0", "v010"), ("ljfit E", "cur_e"),
                         ("ljfit E+F+S", "cur_efs")):
        if name not in variants:
            continue
        p = read_parameters(bench.outdir(folder)).get("linear", {})
        eps, sig = p.get("epsilon[Ar-Ar]", float("nan")), p.get("sigma[Ar-Ar]", float("nan"))
        rows.append([name, f"{eps:.8f}", f"{abs(eps / AR_EPSILON - 1):.1e}", f"{sig:.7f}",
                     f"{abs(sig / AR_SIGMA - 1):.1e}"])
    bare = subprocess.run(variants["bare numpy"], capture_output=True, text=True,
                          cwd=bench.tmp).stdout.split()
    if len(bare) >= 4:
        eps, sig = float(bare[1]), float(bare[3])
        rows.append(["bare numpy", f"{eps:.8f}", f"{abs(eps / AR_EPSILON - 1):.1e}",
                     f"{sig:.7f}", f"{abs(sig / AR_SIGMA - 1):.1e}"])
    out(f"recovered (truth ε = {AR_EPSILON} eV, σ = {AR_SIGMA} Å):")
    out(table(rows, ["command", "ε (eV)", "|Δε/ε|", "σ (Å)", "|Δσ/σ|"]))

    cur = runs["ljfit E"]
    best, med = rounds_text(cur)
    if bench.base_cmd:
        ratios = pairwise(runs["ljfit 0.1.0"], cur)
        r = statistics.median(ratios)
        b0, m0 = rounds_text(runs["ljfit 0.1.0"])
        st = bench.check(f"end to end {sizes['n_ar']} × 32-atom Ar, linear, vs 0.1.0",
                         f"{r:.3f}× (rounds {min(ratios):.3f}–{max(ratios):.3f}; "
                         f"{best:.2f} s vs {b0:.2f} s best)", "≤ 0.35×",
                         r <= T_E2E_RATIO, full)
    else:
        ratios = pairwise(runs["bare numpy"], cur)
        st = bench.check(f"end to end {sizes['n_ar']} × 32-atom Ar, linear",
                         f"{best:.2f} s best (median {med:.2f}); "
                         f"{statistics.median(ratios):.2f}× bare numpy",
                         "≤ 0.35× 0.1.0 (no --baseline: not judged)", None)
    if bench.base_cmd:
        bare = pairwise(runs["bare numpy"], cur)
        bench.check("same, vs the bare-numpy pipeline", f"{statistics.median(bare):.2f}× "
                    f"({best:.2f} s vs {rounds_text(runs['bare numpy'])[0]:.2f} s best)", "—",
                    None)
    bench.check("same, absolute (loaded machine)", f"{best:.2f} s best, {med:.2f} s median",
                "≈ 2 s on an idle machine", None)
    efs_best, _ = rounds_text(runs["ljfit E+F+S"])
    bench.check("same with the file's forces and stress fitted", f"{efs_best:.2f} s best",
                "—", None)
    bench.check("≥ 20× faster than KLIFF-KIM on the same file", "not measured (KLIFF and "
                "the KIM API are not installed here)", "≥ 20×", None)
    if st == "FAIL":
        bench.profile(lambda: profile_cli(bench, variants["ljfit E"][1:],
                                          "the end-to-end Ar run (energies)"))
    return runs


def section_forces_e2e(bench, data, sizes, full):
    out, path = bench.out, str(data["ar_forces"])
    common = ["fit", path, "--groups", "all", "--cutoff", str(AR_CUTOFF), "--shift",
              "--method", "linear,least_squares", "--no-plots", "--quiet", "--force"]
    variants = {
        "energies only": bench.ljfit_cmd + common + ["--no-forces", "--no-stress", "--out",
                                                     bench.outdir("f_e")],
        "energies + forces + stress": bench.ljfit_cmd + common + ["--out",
                                                                  bench.outdir("f_efs")],
    }
    out(f"{Path(path).name}: {sizes['n_forces']} × 32-atom Ar cells, "
        f"--method linear,least_squares; {sizes['e2e_repeats']} rounds after a warm-up")
    runs = interleaved_processes(variants, sizes["e2e_repeats"], cwd=bench.tmp)
    out(process_table(runs, "energies only"))
    rows = []
    for name, folder in (("energies only", "f_e"), ("energies + forces + stress", "f_efs")):
        for method, p in read_parameters(bench.outdir(folder)).items():
            eps, sig = p.get("epsilon[Ar-Ar]", float("nan")), p.get("sigma[Ar-Ar]", float("nan"))
            rows.append([name, method, f"{eps:.8f}", f"{abs(eps / AR_EPSILON - 1):.1e}",
                         f"{sig:.7f}", f"{abs(sig / AR_SIGMA - 1):.1e}"])
    out(table(rows, ["fit", "method", "ε (eV)", "|Δε/ε|", "σ (Å)", "|Δσ/σ|"]))
    best, med = rounds_text(runs["energies + forces + stress"])
    st = bench.check(f"issue #9: fit E+F+S, {sizes['n_forces']} cells, linear + least_squares",
                     f"{best:.2f} s best (median {med:.2f}; energies only "
                     f"{rounds_text(runs['energies only'])[0]:.2f} s)",
                     f"'a few seconds': ≤ {T_FORCES_E2E_SECONDS:g} s", best <= T_FORCES_E2E_SECONDS,
                     full)
    if st == "FAIL":
        bench.profile(lambda: profile_cli(bench, variants["energies + forces + stress"][1:],
                                          "the forces fit"))


def section_seed(bench, data, sizes, full):
    out, path = bench.out, str(data["seed"])
    common = ["fit", path, "--method", "linear", "--no-plots", "--quiet", "--force"]
    variants = {}
    if bench.base_cmd:
        variants["ljfit 0.1.0"] = bench.base_cmd + common + ["--out", bench.outdir("s010")]
    variants["serial"] = bench.ljfit_cmd + common + ["--out", bench.outdir("s1")]
    variants["--jobs 2"] = bench.ljfit_cmd + common + ["--jobs", "2", "--out",
                                                       bench.outdir("s2")]
    out(f"{Path(path).name}/: {sizes['n_seed']:,} substrate/surface structures (9 × 48 "
        f"pairs each), per-pair, --method linear; {sizes['e2e_repeats']} rounds after a "
        "warm-up, rotating order")
    runs = interleaved_processes(variants, sizes["e2e_repeats"], cwd=bench.tmp)
    out(process_table(runs, "serial"))
    p1 = read_parameters(bench.outdir("s1")).get("linear", {})
    p2 = read_parameters(bench.outdir("s2")).get("linear", {})
    diff = max((abs(p1[k] - p2[k]) / abs(p1[k]) for k in p1), default=float("nan"))
    truth = {f"{q}[{k}]": v[i] for k, v in SEED_PARAMETERS.items()
             for i, q in enumerate(("epsilon", "sigma"))}
    rec = max((abs(p1[k] / truth[k] - 1) for k in truth if k in p1), default=float("nan"))
    out(f"serial vs --jobs 2 parameters: largest relative difference {diff:.1e}; "
        f"recovered vs truth: worst relative error {rec:.1e}")
    best, med = rounds_text(runs["serial"])
    st = bench.check(f"{sizes['n_seed']:,} substrate/surface structures read + featurised + "
                     "fitted (serial)", f"{best:.2f} s best (median {med:.2f})",
                     f"< {T_SEED_SECONDS:g} s", best < T_SEED_SECONDS, full)
    serial_argv = variants["serial"][1:]
    if st == "FAIL":
        bench.profile(lambda: profile_cli(bench, serial_argv, "the serial seed-layout run",
                                          amdahl=True))
    cpu_s = statistics.median(r.cpu for r in runs["serial"])
    cpu_p = statistics.median(r.cpu for r in runs["--jobs 2"])
    out(f"CPU time (user + system, parent and workers): --jobs 2 {cpu_p:.2f} s vs serial "
        f"{cpu_s:.2f} s ({100 * (cpu_p / cpu_s - 1):+.0f} %)")
    parts_in_process(bench, path, sizes, best)
    speed = [1.0 / r for r in pairwise(runs["serial"], runs["--jobs 2"])]
    cores = usable_cores()
    st = bench.check(f"--jobs 2 vs serial, {sizes['n_seed']:,} structures",
                     f"{statistics.median(speed):.2f}× (rounds {min(speed):.2f}–"
                     f"{max(speed):.2f}; {cores} cores, shared)", "≥ 1.6×",
                     statistics.median(speed) >= T_JOBS_SPEEDUP, full)
    if st == "FAIL" and not any("serial seed-layout" in p for p in bench.profiles):
        bench.profile(lambda: profile_cli(
            bench, serial_argv, "the serial seed-layout run (what --jobs 2 parallelises: "
            "read_dataset and compute_features; the rest stays serial)", amdahl=True))
        bench.profile(lambda: profile_cli(bench, variants["--jobs 2"][1:],
                                          "the --jobs 2 run (the parent process only)"))
    return runs


def parts_in_process(bench, path, sizes, serial_wall):
    """The work of --jobs 2 without the machine's contention: its parts (read + featurise,
    ``ljfit.parallel.featurise_part``) run one after another in this process, next to the
    serial read + featurise, interleaved; and what that predicts for 2 idle cores."""
    import pickle

    from ljfit import parallel
    from ljfit.cli.common import _feature_options, _reading_options
    from ljfit.cli.options import parse_args as cli_args

    args = cli_args(["fit", path, "--method", "linear", "--jobs", "2"])
    read_opts, feat_opts = _reading_options(args), _feature_options(args)
    tasks = parallel._tasks([path], read_opts, parallel.PARTS_PER_WORKER * 2)
    sizes_mb = []

    def parts():
        for p, part in tasks:
            r = parallel.featurise_part(p, read_opts, part, feat_opts)
            if len(sizes_mb) < len(tasks):
                sizes_mb.append(len(pickle.dumps(r)) / 1e6)

    def serial():
        compute_features(ljfit.read_dataset(path))

    t = interleaved({"serial": serial, "parts": parts}, sizes["read_repeats"], number=1)
    ts, tp = t["serial"].best, t["parts"].best
    rest = max(serial_wall - ts, 0.0)
    ideal = rest + tp / 2
    bench.out(f"in this process, no contention between our own processes: serial read + "
              f"featurise {ts:.2f} s; the {len(tasks)} parts of --jobs 2 one after another "
              f"{tp:.2f} s ({100 * (tp / ts - 1):+.0f} %; results pickled "
              f"{sum(sizes_mb):.1f} MB). With the rest of the serial run ({rest:.2f} s: "
              f"start-up, fit, writing) staying serial, 2 idle cores would give at best "
              f"{rest:.2f} + {tp:.2f}/2 = {ideal:.2f} s, {serial_wall / ideal:.2f}× serial "
              "(before process start-up and transfer costs).")


def section_big(bench, data, sizes, full):
    out, path = bench.out, str(data["big"])
    common = _ar_linear_fit(path)
    variants = {}
    if bench.base_cmd:
        variants["ljfit 0.1.0"] = bench.base_cmd + common + ["--out", bench.outdir("b010")]
    variants["ljfit"] = bench.ljfit_cmd + common + ["--out", bench.outdir("b1")]
    out(f"{Path(path).name}: {sizes['n_big']} × 500-atom Ar cells (energies only), linear; "
        f"{sizes['e2e_repeats']} rounds after a warm-up")
    runs = interleaved_processes(variants, sizes["e2e_repeats"], cwd=bench.tmp)
    out(process_table(runs, "ljfit 0.1.0" if bench.base_cmd else None))
    p = read_parameters(bench.outdir("b1")).get("linear", {})
    out(f"recovered ε = {p.get('epsilon[Ar-Ar]', float('nan')):.8f} eV, "
        f"σ = {p.get('sigma[Ar-Ar]', float('nan')):.7f} Å")
    rss = max(r.maxrss for r in runs["ljfit"])
    best, med = rounds_text(runs["ljfit"])
    extra = ""
    if bench.base_cmd:
        b0 = runs["ljfit 0.1.0"]
        extra = (f"; 0.1.0: {fmt_bytes(max(r.maxrss for r in b0))}, "
                 f"{rounds_text(b0)[0]:.2f} s")
    st = bench.check(f"{sizes['n_big']} × 500-atom cells, E, linear: peak RSS",
                     f"{fmt_bytes(rss)} (wall {best:.2f} s best{extra})", "< 1 GB",
                     rss < T_BIG_RSS, full)
    if st == "FAIL":
        bench.profile(lambda: profile_cli(bench, variants["ljfit"][1:], "the 500-atom run"))


def seed_style_energies(folder, n, params):
    """The 0.1.0-era user code: at every cost call re-read every p_N.xyz / p_N_extended.xyz
    and loop over the substrate × surface pairs in Python."""
    model, ref = [], []
    for k in range(1, n + 1):
        with open(os.path.join(folder, f"p_{k}.xyz")) as fh:
            lines = fh.read().splitlines()
        n_sub = int(lines[0])
        ref.append(float(lines[1].split()[1]))
        atoms = []
        with open(os.path.join(folder, f"p_{k}_extended.xyz")) as fh:
            for line in fh:
                if line.strip():
                    s, x, y, z = line.split()
                    atoms.append((s, float(x), float(y), float(z)))
        e = 0.0
        for sa, xa, ya, za in atoms[:n_sub]:
            for sb, xb, yb, zb in atoms[n_sub:]:
                eps, sig = params["-".join(sorted((sa, sb)))]
                r = math.sqrt((xa - xb) ** 2 + (ya - yb) ** 2 + (za - zb) ** 2)
                sr6 = (sig / r) ** 6
                e += 4.0 * eps * (sr6 * sr6 - sr6)
        model.append(e)
    return np.array(model), np.array(ref)


def section_loop(bench, data, sizes):
    out = bench.out
    small, n = str(data["seed_small"]), sizes["n_loop"]
    t0 = time.perf_counter()
    ds = ljfit.read_dataset(small)
    model = LJModel(ds, scope="per-pair")
    t_once = time.perf_counter() - t0
    x = np.array([SEED_PARAMETERS[nm.split("[")[1].rstrip("]")][0 if nm.startswith("eps") else 1]
                  for nm in model.spec.free_names])
    e_loop, _ = seed_style_energies(small, n, SEED_PARAMETERS)
    order = np.argsort([int(nm.split("_")[1]) for nm in ds.names])
    diff = float(np.max(np.abs(model.energies(x)[order] - e_loop)))

    def ljfit_eval(m=model):
        m.energies(x)
        m.jacobian(x)

    t = interleaved({"seed-style cost (re-read + Python pair loop)":
                     lambda: seed_style_energies(small, n, SEED_PARAMETERS),
                     "ljfit energies + Jacobian": ljfit_eval},
                    sizes["feat_repeats"],
                    number={"seed-style cost (re-read + Python pair loop)": 1,
                            "ljfit energies + Jacobian": 200})
    lj = t["ljfit energies + Jacobian"]
    rows = [[name, fmt_time(tm.best), fmt_time(tm.median), f"{tm.best / lj.best:,.0f}×"]
            for name, tm in t.items()]
    out(f"one cost evaluation on {n} substrate/surface structures")
    out(table(rows, ["evaluation", "best", "median", "÷ ljfit (best)"]))
    out(f"one-off ljfit cost before the first evaluation: read + featurise {fmt_time(t_once)}; "
        f"max |E_ljfit − E_loop| = {diff:.1e} eV")
    # the same evaluation on the big folder
    big = ljfit.read_dataset(str(data["seed"]))
    mbig = LJModel(big, scope="per-pair")
    tb = interleaved({"e": lambda: (mbig.energies(x), mbig.jacobian(x))},
                     max(5, sizes["feat_repeats"]), number=None)["e"]
    out(f"ljfit energies + Jacobian on {len(big):,} structures: best {fmt_time(tb.best)}, "
        f"median {fmt_time(tb.median)}")
    sd = t["seed-style cost (re-read + Python pair loop)"]
    bench.check(f"seed-style cost vs ljfit evaluation ({n} structures)",
                f"{sd.best / lj.best:,.0f}× (agree to {diff:.0e} eV)", "—", None)


# ========================================================================================
# main
# ========================================================================================


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes, 2 repeats (smoke run)")
    p.add_argument("--baseline", metavar="PYTHON",
                   help="python of a venv with ljfit 0.1.0 (its ljfit script next to it)")
    p.add_argument("--repeats", type=int, help="rounds of the whole-process comparisons "
                   "(default 3; quick 2)")
    p.add_argument("--no-profile", action="store_true", help="no cProfile of missed targets")
    p.add_argument("--keep", action="store_true", help="keep the generated files")
    p.add_argument("--only", choices=["features"],
                   help="run one section alone: 'features' generates only the in-memory "
                        "featurisation sets and runs section 2 (with its targets)")
    p.add_argument("--out", default=str(REPO / "results" / "bench_model.txt"),
                   help="also write the output here ('' for none)")
    a = p.parse_args(argv)
    a.sizes = dict(QUICK if a.quick else FULL)
    if a.repeats:
        a.sizes["e2e_repeats"] = a.repeats
    return a


def versions(python):
    code = ("import sys, numpy, ljfit; print(ljfit.__version__, numpy.__version__, "
            "sys.version.split()[0], ljfit.__file__)")
    # not from the repository's folder: "python -c" would import its ljfit
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd="/")
    return proc.stdout.split() if proc.returncode == 0 else None


def git_describe():
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "ljfit"],
                               capture_output=True, text=True).stdout.strip()
        return rev + (" (ljfit/ modified)" if dirty else "")
    except OSError:
        return "?"


def header(bench):
    import ase
    import extxyz  # noqa: F401
    import scipy
    import vesin

    out, args = bench.out, bench.args
    from importlib.metadata import version

    out("ljfit benchmark — scripts/bench_model.py" + ("  [--quick: reduced sizes, targets "
                                                        "not judged]" if args.quick else ""))
    out(f"machine: {cpu_model()}, {usable_cores()} cores usable ({os.cpu_count()} online), "
        f"{memory_total() / 2**30:.1f} GiB RAM, {platform.system()} {platform.release()}")
    out(f"software: Python {platform.python_version()}, numpy {np.__version__}, scipy "
        f"{scipy.__version__}, ase {ase.__version__}, extxyz {version('extxyz')}, vesin "
        f"{vesin.__version__}; ljfit {ljfit.__version__} at commit {git_describe()}")
    if args.baseline:
        v = versions(args.baseline)
        if v is None or not Path(bench.base_cmd[0]).exists():
            raise SystemExit(f"--baseline {args.baseline}: not a python with ljfit and an "
                             "ljfit script next to it")
        out(f"baseline: ljfit {v[0]} (numpy {v[1]}, Python {v[2]}) from {Path(v[3]).parent}")
    else:
        out("baseline: none (no --baseline): end-to-end times absolute and against the "
            "bare-numpy pipeline")
    if not Path(bench.ljfit_cmd[0]).exists():
        raise SystemExit(f"no ljfit console script next to {sys.executable}")
    out(f"load average at start (1/5/15 min): {load_average()} on {os.cpu_count()} CPUs — "
        "a SHARED machine: other jobs run during this benchmark, so times carry their noise "
        "(best = least disturbed, median = typical).")


def main(argv=None):
    args = parse_args(argv)
    bench = Bench(args)
    out, sizes = bench.out, args.sizes
    full = not args.quick
    t_start = time.perf_counter()
    # in-process timings with single-threaded BLAS, as the ljfit command line runs (OpenBLAS
    # threads spinning on a loaded machine distort small products); children unaffected
    from threadpoolctl import threadpool_limits

    blas = threadpool_limits(limits=1, user_api="blas")
    try:
        header(bench)
        out("\n=== 0. inputs (generated; not benchmarked) ===")
        if args.only == "features":
            data = generate_feature_sets(bench, sizes)
        else:
            data = generate(bench, sizes)

            out("\n=== 1. reading: ASE's reader vs the extxyz C parser ===")
            section_read(bench, data, sizes)

        out("\n=== 2. featurisation throughput (in process) ===")
        res = section_features(bench, data, sizes)
        judge_features(bench, res, full)
        data.pop("feature_sets")
        res = None
        if args.only == "features":
            return finish(bench, args, t_start)

        out(f"\n=== 3a. end to end: ljfit fit --method linear, {sizes['n_ar']} × 32-atom Ar "
            "cells (whole processes) ===")
        section_ar_e2e(bench, data, sizes, full)

        out(f"\n=== 3b. issue #9: forces and stress, {sizes['n_forces']} cells, linear + "
            "least_squares (whole processes) ===")
        section_forces_e2e(bench, data, sizes, full)

        out(f"\n=== 3c. {sizes['n_seed']:,} substrate/surface structures: serial vs --jobs 2 "
            "(whole processes) ===")
        section_seed(bench, data, sizes, full)

        out(f"\n=== 3d. {sizes['n_big']} × 500-atom Ar cells: time and peak RSS (whole "
            "processes) ===")
        section_big(bench, data, sizes, full)

        out("\n=== 4. the 0.1.0-era seed-style cost function vs one ljfit evaluation ===")
        section_loop(bench, data, sizes)

        return finish(bench, args, t_start)
    finally:
        blas.restore_original_limits()
        if args.keep:
            print(f"generated files kept in {bench.tmp}")
        else:
            shutil.rmtree(bench.tmp, ignore_errors=True)
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(bench.out.text())


def finish(bench, args, t_start):
    """The profiles of the missed targets and the summary table; returns the exit code."""
    out = bench.out
    if bench.profiles and not args.no_profile:
        out("\n=== profiles of the missed targets ===")
        for text in bench.profiles:
            out("\n" + text)

    kind = "QUICK run: reduced sizes, not judged" if args.quick else "full sizes"
    out(f"\n=== summary ({kind}; {time.perf_counter() - t_start:.0f} s; load average at "
        f"end: {load_average()}) ===")
    out(table(bench.checks, ["target", "measured", "threshold", "status"], align="llll"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
