#!/usr/bin/env python
"""Benchmark ljfit's featuriser, energy model and end-to-end fitting.

Measurements (sizes of a full run; ``--quick`` shrinks them for a smoke test):

1. Featurisation: 10^5 in-memory structures, each a 9-atom ethanol (group A) over a 48-atom
   Au(111) slab (group B), randomly rotated and placed: 9 × 48 = 432 A–B pairs each.
   Time to build the Dataset, time of ``compute_features(kind="pair")`` and ``kind="site"``
   in pairs/s, and memory.
2. One energy + Jacobian evaluation (``model.energies(x)`` + ``model.jacobian(x)``) on those
   features, per-pair, per-element (and per-site) scopes.
3. Against (a) a "seed-style" cost function (re-reads every p_N.xyz / p_N_extended.xyz file
   and loops over the pairs in Python at each call) on 200 structures written to a temp
   folder, and (b) ASE's LennardJones calculator on the same 200 structures.
4. Periodic Ar end to end: 2000 rattled, strained 32-atom fcc Ar cells with ASE LJ energies
   (shifted, rc 8.5 Å) + noise in one extxyz file; read_dataset + LJModel + fit(linear) +
   fit(least_squares), against a stored reference of 17 s; neighbour lists of ASE vs the
   matscipy path of ljfit; recovered ε, σ against the truth.
5. Peak memory of the whole run.

Everything compared is measured in the same run, interleaved, best and median of several
repeats. Generated files live in a ``tempfile.mkdtemp()`` folder, removed at the end.

Usage::

    python scripts/bench_model.py            # full run (a few minutes)
    python scripts/bench_model.py --quick    # smoke run (seconds)

The printed output is also written to ``results/bench_model.txt`` (``--out`` to change,
``--out ''`` for none).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_util import (  # noqa: E402
    Check,
    Tee,
    calibrate,
    fmt_bytes,
    fmt_time,
    interleaved,
    profile_top,
    rss_now,
    rss_peak,
    table,
    time_once,
    traced_peak,
)

import ljfit  # noqa: E402
from ljfit import Dataset, LJModel, Structure, compute_features  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SEED = 20240611

# ---- targets and reference numbers -----------------------------------------------------
FULL_N_STRUCTURES = 100_000
FULL_N_SEED = 200
FULL_N_AR = 2000
TARGET_PAIRS_PER_S = 40e6
TARGET_FEATURE_MEMORY = 2 * 1024**3  # bytes
TARGET_SEED_RATIO = 1000.0
REFERENCE_AR_SECONDS = 17.0  # same Ar job in a widely used fitting framework (compiled LJ)
TARGET_AR_SECONDS = REFERENCE_AR_SECONDS / 10
RECOVERY_TOL = 1e-3  # relative error of the recovered ε, σ

#: Ethanol–Au(111) truth for the seed-layout energies (eV, Å), as in make_example_data.py.
SEED_PARAMETERS = {
    "Au-C": (0.012, 3.2),
    "Au-H": (0.006, 2.7),
    "Au-O": (0.014, 3.0),
}
AR_EPSILON, AR_SIGMA, AR_CUTOFF = 0.0104, 3.40, 8.5
AR_NOISE = 1e-5  # eV per cell
AR_RATTLE = 0.1  # Å
AR_STRAIN = 0.01  # max |strain component|


# ========================================================================================
# optional parts of ljfit (being written): import them if present
# ========================================================================================


def load_read_dataset():
    """``ljfit.io.read_dataset``, or (None, reason)."""
    try:
        from ljfit.io import read_dataset

        return read_dataset, ""
    except Exception as exc:  # noqa: BLE001 - report whatever breaks the import
        return None, f"ljfit.io not importable ({type(exc).__name__}: {exc})"


def load_fit():
    """``ljfit.fit``, or (None, reason)."""
    fit = getattr(ljfit, "fit", None)
    if fit is not None:
        return fit, ""
    try:
        from ljfit.fitting import fit

        return fit, ""
    except Exception as exc:  # noqa: BLE001
        return None, f"ljfit.fit not available yet ({type(exc).__name__}: {exc})"


# ========================================================================================
# data generation
# ========================================================================================


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


def substrate_on_slab(n, seed=SEED):
    """Ethanol over Au(111): (symbols, groups, positions (n, 57, 3)).

    The molecule is rotated uniformly at random about its centre, its centre placed at a
    random point of the slab's surface cell, 4–7 Å above the top layer (closest atoms
    ≈ 2–5 Å from the surface).
    """
    from ase.build import fcc111, molecule

    mol = molecule("CH3CH2OH")
    slab = fcc111("Au", (4, 4, 3))
    rng = np.random.default_rng(seed)
    m0 = mol.positions - mol.positions.mean(axis=0)
    pos = np.empty((n, len(mol) + len(slab), 3))
    pos[:, : len(mol)] = np.einsum("nij,aj->nai", random_rotations(rng, n), m0)
    lateral = rng.random((n, 2)) @ slab.cell.array[:2, :2]
    height = slab.positions[:, 2].max() + rng.uniform(4.0, 7.0, n)
    pos[:, : len(mol)] += np.column_stack([lateral, height])[:, None, :]
    pos[:, len(mol):] = slab.positions
    symbols = tuple(mol.get_chemical_symbols() + slab.get_chemical_symbols())
    groups = np.array([0] * len(mol) + [1] * len(slab), dtype=np.int8)
    return symbols, groups, pos


def reference_interaction(symbols, groups, pos, parameters):
    """Σ_{A×B} 4ε((σ/r)^12 − (σ/r)^6) per structure, plain numpy (independent of ljfit)."""
    a = np.flatnonzero(groups == 0)
    b = np.flatnonzero(groups == 1)
    eps = np.array([[parameters["-".join(sorted((symbols[i], symbols[j])))][0] for j in b] for i in a])
    sig = np.array([[parameters["-".join(sorted((symbols[i], symbols[j])))][1] for j in b] for i in a])
    d = pos[:, a, None, :] - pos[:, None, b, :]
    r = np.sqrt(np.einsum("gabk,gabk->gab", d, d))
    s6 = (sig / r) ** 6
    return np.sum(4.0 * eps * (s6 * s6 - s6), axis=(1, 2))


def build_dataset(symbols, groups, pos, energies=None):
    """In-memory Dataset, one Structure per row of ``pos`` (what a reader would produce)."""
    if energies is None:
        energies = np.full(len(pos), np.nan)
    return Dataset(
        [
            Structure(name=f"s{k}", symbols=symbols, positions=pos[k], energy=energies[k],
                      groups=groups)
            for k in range(len(pos))
        ],
        group_mode="first:9",
    )


def write_seed_folder(folder, symbols, groups, pos, energies):
    """The substrate/surface layout: p_N.xyz (count, 'energy E', substrate) and
    p_N_extended.xyz (headerless 'Symbol x y z', substrate then surface)."""
    folder.mkdir(parents=True, exist_ok=True)
    n_sub = int(np.sum(groups == 0))
    for k in range(len(pos)):
        lines = [f"{s} {x:.10f} {y:.10f} {z:.10f}" for s, (x, y, z) in zip(symbols, pos[k])]
        (folder / f"p_{k}.xyz").write_text(
            f"{n_sub}\nenergy {energies[k]:.10f}\n" + "\n".join(lines[:n_sub]) + "\n"
        )
        (folder / f"p_{k}_extended.xyz").write_text("\n".join(lines) + "\n")


def make_ar_cells(n, seed=SEED):
    """n periodic 32-atom fcc Ar cells, strained and rattled, with ASE LJ energies + noise."""
    from ase.build import bulk
    from ase.calculators.lj import LennardJones
    from ase.calculators.singlepoint import SinglePointCalculator

    rng = np.random.default_rng(seed + 1)
    base = bulk("Ar", "fcc", a=5.26, cubic=True).repeat(2)
    frames, clean = [], []
    for _ in range(n):
        atoms = base.copy()
        strain = rng.uniform(-AR_STRAIN, AR_STRAIN, (3, 3))
        strain = 0.5 * (strain + strain.T)
        atoms.set_cell(atoms.cell.array @ (np.eye(3) + strain), scale_atoms=True)
        atoms.positions += rng.normal(0.0, AR_RATTLE, atoms.positions.shape)
        atoms.calc = LennardJones(epsilon=AR_EPSILON, sigma=AR_SIGMA, rc=AR_CUTOFF)
        e = atoms.get_potential_energy()
        clean.append(e)
        atoms.calc = SinglePointCalculator(atoms, energy=e + rng.normal(0.0, AR_NOISE))
        frames.append(atoms)
    return frames, np.array(clean)


# ========================================================================================
# 1. featurisation
# ========================================================================================


def bench_featurisation(ds, repeats, out):
    n_pairs = ds_pairs(ds)
    funcs = {
        "compute_features(kind='pair')": lambda: compute_features(ds, kind="pair"),
        "compute_features(kind='site')": lambda: compute_features(ds, kind="site"),
    }
    t = interleaved(funcs, repeats, number=1)
    rows = []
    for name, tm in t.items():
        rows.append([name, fmt_time(tm.best), fmt_time(tm.median),
                     f"{n_pairs / tm.best / 1e6:.1f}", f"{n_pairs / tm.median / 1e6:.1f}"])
    out(table(rows, ["call", "best", "median", "M pairs/s (best)", "M pairs/s (median)"]))
    # memory: one extra, untimed call under tracemalloc
    peak_pair, feat_pair = traced_peak(lambda: compute_features(ds, kind="pair"))
    peak_site, feat_site = traced_peak(lambda: compute_features(ds, kind="site"))
    assert feat_pair.n_pairs == n_pairs, (feat_pair.n_pairs, n_pairs)
    return t, {"pair": peak_pair, "site": peak_site}, feat_pair, feat_site


def ds_pairs(ds):
    return sum(int(np.sum(s.groups == 0)) * int(np.sum(s.groups == 1)) for s in ds)


# ========================================================================================
# 2. energy + Jacobian evaluation
# ========================================================================================


def eval_call(model, x):
    def call():
        model.energies(x)
        model.jacobian(x)

    return call


def bench_evaluation(feat_pair, feat_site, repeats, out):
    models = {
        "per-pair": LJModel(feat_pair, scope="per-pair"),
        "per-element": LJModel(feat_pair, scope="per-element"),
        "per-site": LJModel(feat_site, scope="per-site"),
    }
    funcs = {}
    for scope, m in models.items():
        x = m.spec.x0 * (1.0 + 0.01 * np.arange(m.n_free))  # not the defaults, all distinct
        funcs[scope] = eval_call(m, x)
    t = interleaved(funcs, repeats, min_time=0.1)
    rows = []
    for scope, tm in t.items():
        m = models[scope]
        rows.append([scope, m.features.n_slots, m.n_free, fmt_time(tm.best), fmt_time(tm.median),
                     f"{tm.best / m.n_structures * 1e9:.1f}"])
    out(table(rows, ["scope", "slots", "params", "best", "median", "ns/structure (best)"]))
    return t


# ========================================================================================
# 3. seed-style cost function and ASE LennardJones vs ljfit
# ========================================================================================


def seed_style_energies(folder, n, params):
    """What users write today: at every cost call, re-read every file and loop over the
    substrate × surface pairs in Python. ``params``: {"Au-C": (eps, sigma), ...}.
    Returns (model energies, reference energies)."""
    model, ref = [], []
    for k in range(n):
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
        substrate, surface = atoms[:n_sub], atoms[n_sub:]
        e = 0.0
        for sa, xa, ya, za in substrate:
            for sb, xb, yb, zb in surface:
                eps, sig = params["-".join(sorted((sa, sb)))]
                r = math.sqrt((xa - xb) ** 2 + (ya - yb) ** 2 + (za - zb) ** 2)
                sr6 = (sig / r) ** 6
                e += 4.0 * eps * (sr6 * sr6 - sr6)
        model.append(e)
    return np.array(model), np.array(ref)


def seed_style_cost(folder, n, params):
    model, ref = seed_style_energies(folder, n, params)
    return float(np.sum((model - ref) ** 2))


def ase_lj_energies(frames, epsilon, sigma, rc):
    """ASE LennardJones, one (ε, σ) for every pair, all pairs of the Atoms within rc."""
    from ase.calculators.lj import LennardJones

    out = np.empty(len(frames))
    for k, atoms in enumerate(frames):
        atoms.calc = LennardJones(epsilon=epsilon, sigma=sigma, rc=rc)
        out[k] = atoms.get_potential_energy()
    return out


def bench_vs_seed_and_ase(symbols, groups, pos, tmp, repeats, read_dataset, out):
    from ase import Atoms

    n = len(pos)
    energies = reference_interaction(symbols, groups, pos, SEED_PARAMETERS)
    folder = tmp / "seed"
    write_seed_folder(folder, symbols, groups, pos, energies)

    # ljfit on the same structures: from the files if the reader is there
    if read_dataset is not None:
        t_read, ds = time_once(lambda: read_dataset(folder))
        source = f"read_dataset(folder) ({ds.layout} layout)"
    else:
        t_read, ds = time_once(lambda: build_dataset(symbols, groups, pos, energies))
        source = "in-memory Structures (ljfit.io pending)"
    t_feat, model = time_once(lambda: LJModel(ds, scope="per-pair"))
    x = np.array([SEED_PARAMETERS[n.split("[")[1].rstrip("]")][0 if n.startswith("eps") else 1]
                  for n in model.spec.free_names])
    # agreement: the two evaluations compute the same energies
    e_seed, e_ref = seed_style_energies(folder, n, SEED_PARAMETERS)
    order = np.argsort([int(nm.split("_")[1]) if nm.startswith("p_") else int(nm[1:])
                        for nm in ds.names])
    e_ljfit = model.energies(x)[order]
    max_diff = float(np.max(np.abs(e_ljfit - e_seed)))
    max_ref = float(np.max(np.abs(e_seed - e_ref)))

    frames = [Atoms(symbols, positions=p) for p in pos]
    eps_ase, sig_ase = SEED_PARAMETERS["Au-C"]
    rc_ase = 30.0  # beyond every distance in these clusters: all pairs count
    n_all = len(symbols) * (len(symbols) - 1) // 2
    n_ab = int(np.sum(groups == 0)) * int(np.sum(groups == 1))

    ljfit_eval = eval_call(model, x)
    funcs = {
        "seed-style cost (re-read + Python pair loop)": lambda: seed_style_cost(folder, n, SEED_PARAMETERS),
        "ASE LennardJones energies": lambda: ase_lj_energies(frames, eps_ase, sig_ase, rc_ase),
        "ljfit energies + jacobian": ljfit_eval,
    }
    number = {k: 1 for k in funcs}
    number["ljfit energies + jacobian"] = calibrate(ljfit_eval, 0.05)
    t = interleaved(funcs, repeats, number=number)
    lj = t["ljfit energies + jacobian"]
    rows = []
    for name, tm in t.items():
        rows.append([name, fmt_time(tm.best), fmt_time(tm.median),
                     f"{tm.best / lj.best:,.0f}×", f"{tm.median / lj.median:,.0f}×"])
    out(f"{n} structures (9 + 48 atoms); ljfit features from {source}")
    out(table(rows, ["one evaluation on all structures", "best", "median", "vs ljfit (best)",
                     "vs ljfit (median)"]))
    out(f"one-off ljfit cost before the first evaluation: read {fmt_time(t_read)} + "
        f"featurise (LJModel) {fmt_time(t_feat)}")
    seed = t["seed-style cost (re-read + Python pair loop)"]
    gain = seed.best - lj.best
    out(f"counting that one-off cost too, ljfit is ahead of the seed-style loop from cost call "
        f"{math.ceil((t_read + t_feat) / gain) + 1 if gain > 0 else 'never'} on "
        f"(a fit makes tens to thousands of calls)")
    out(f"check: max |E_ljfit − E_seed-style| = {max_diff:.2e} eV; seed-style vs stored "
        f"reference energies {max_ref:.2e} eV (file rounding)")
    out(f"note: ASE LennardJones takes one (ε, σ) for all elements and computes ALL "
        f"{n_all} pairs of the {len(symbols)} atoms (also Au–Au and intra-molecule; "
        f"rc = {rc_ase:g} Å so every pair counts) plus forces and stress, energy only, no "
        f"derivatives w.r.t. ε, σ; ljfit evaluates only the {n_ab} A×B pairs (via features "
        f"computed once) and also returns the Jacobian.")
    return t, max_diff


# ========================================================================================
# 4. periodic Ar end to end
# ========================================================================================


def stage_read(read_dataset, path):
    return read_dataset(path, groups="all")


def stage_model(ds):
    return LJModel(ds, scope="per-pair", cutoff=AR_CUTOFF, shift=True)


def stage_fit(fit, model, ds, method):
    return fit(model, ds, method=method, seed=0)


class StandInResult:
    """Mimics FitResult for the stand-in fitters (used only while ljfit.fit is pending)."""

    def __init__(self, model, p, ds, nfev, success, wall):
        self.params = model.spec.as_dict(p[model.spec.free])
        resid = model.energies(p[model.spec.free]) - ds.energies
        self.cost = 0.5 * float(resid @ resid)
        self.rmse = float(np.sqrt(np.mean(resid**2)))
        self.success, self.nfev, self.wall_time = success, nfev, wall


def standin_fit(model, ds, method="linear", seed=0):
    """NOT ljfit.fit: numpy lstsq on the design matrix, or scipy least_squares with the
    model's analytic Jacobian from the spec defaults. Indicative numbers only."""
    t0 = time.perf_counter()
    y = ds.energies
    if method == "linear":
        X, _ = model.design_matrix()
        c, *_ = np.linalg.lstsq(X, y, rcond=None)
        p = model.from_coefficients(c)
        return StandInResult(model, p, ds, 1, bool(np.all(np.isfinite(p))),
                             time.perf_counter() - t0)
    from scipy.optimize import least_squares

    spec = model.spec
    res = least_squares(lambda x: model.energies(x) - y, spec.x0, jac=model.jacobian,
                        bounds=(spec.lower, spec.upper), x_scale="jac")
    return StandInResult(model, spec.full(res.x), ds, res.nfev, bool(res.success),
                         time.perf_counter() - t0)


def ar_pipeline(read_dataset, fit, path):
    """One end-to-end run; returns ({stage: seconds}, {method: result})."""
    times, results = {}, {}
    times["read_dataset"], ds = time_once(lambda: stage_read(read_dataset, path))
    times["LJModel (featurise)"], model = time_once(lambda: stage_model(ds))
    for method in ("linear", "least_squares"):
        times[f"fit {method}"], results[method] = time_once(
            lambda: stage_fit(fit, model, ds, method))
    return times, results, ds, model


def bench_ar(tmp, n_cells, repeats, nl_repeats, read_dataset, fit, fit_note, profile, out):
    import ase.io
    from ase.neighborlist import neighbor_list
    from matscipy.neighbours import neighbour_list

    from ljfit.features import pair_list

    t_gen, (frames, clean) = time_once(lambda: make_ar_cells(n_cells))
    path = tmp / "ar.extxyz"
    t_write, _ = time_once(lambda: ase.io.write(path, frames, format="extxyz"))
    out(f"{n_cells} cells × 32 Ar, rattle {AR_RATTLE} Å, strain ≤ {AR_STRAIN:g}, ASE "
        f"LennardJones(ε={AR_EPSILON}, σ={AR_SIGMA}, rc={AR_CUTOFF}) shifted + N(0, {AR_NOISE:g} eV) "
        f"noise; generated in {fmt_time(t_gen)}, written in {fmt_time(t_write)} "
        f"({path.stat().st_size / 1e6:.1f} MB)")
    res = {"total": None, "recovery": None, "pending": None}
    if read_dataset is None:
        out("read_dataset: PENDING (ljfit.io missing); end-to-end not timed")
        res["pending"] = "ljfit.io"
    else:
        fitter, label = fit, "ljfit.fit"
        if fit is None:
            fitter, label = standin_fit, "STAND-IN fit (ljfit.fit pending: numpy lstsq / scipy least_squares)"
            res["pending"] = "ljfit.fit"
            out(f"{fit_note}\n→ timing the fit stages with a {label}; these numbers are "
                "indicative only and not judged.")
        runs = []
        for r in range(repeats):
            times, results, ds, model = ar_pipeline(read_dataset, fitter, path)
            runs.append((times, results))
        stages = list(runs[0][0])
        warm = runs[1:] if len(runs) > 1 else runs
        rows = []
        for st in stages:
            vals = [rt[st] for rt, _ in warm]
            rows.append([st, fmt_time(runs[0][0][st]), fmt_time(min(vals)),
                         fmt_time(float(np.median(vals)))])
        totals = [sum(rt.values()) for rt, _ in runs]
        warm_totals = totals[1:] if len(totals) > 1 else totals
        med_total = float(np.median(warm_totals))
        rows.append(["TOTAL", fmt_time(totals[0]), fmt_time(min(warm_totals)), fmt_time(med_total)])
        out(table(rows, ["stage", "run 1 (cold)", f"best of {len(warm)} warm", "median warm"]))
        out(f"reference: {REFERENCE_AR_SECONDS:g} s for the same job in a widely used fitting "
            f"framework with a compiled LJ (energies only) → ljfit "
            f"{REFERENCE_AR_SECONDS / min(warm_totals):.1f}× faster (best warm), "
            f"{REFERENCE_AR_SECONDS / med_total:.1f}× (median warm), "
            f"{REFERENCE_AR_SECONDS / totals[0]:.1f}× (cold run 1)")
        out(f"structures {len(ds)}, pairs inside the cutoff {model.features.n_pairs / 1:,.0f} "
            f"(each counted once)")
        # recovery
        rec_rows, worst = [], 0.0
        for method, fr in runs[-1][1].items():
            eps = fr.params["epsilon[Ar-Ar]"]
            sig = fr.params["sigma[Ar-Ar]"]
            de, ds_ = abs(eps / AR_EPSILON - 1), abs(sig / AR_SIGMA - 1)
            worst = max(worst, de, ds_)
            rec_rows.append([method, f"{eps:.6f}", f"{de:.1e}", f"{sig:.5f}", f"{ds_:.1e}",
                             f"{fr.rmse:.2e}", str(fr.success), str(fr.nfev)])
        out(f"recovered parameters ({label}); truth ε = {AR_EPSILON} eV, σ = {AR_SIGMA} Å")
        out(table(rec_rows, ["method", "ε (eV)", "|Δε/ε|", "σ (Å)", "|Δσ/σ|", "rmse (eV)",
                             "success", "nfev"]))
        res.update(total=med_total, cold=totals[0], best=min(warm_totals), recovery=worst,
                   stages={st: float(np.min([rt[st] for rt, _ in warm])) for st in stages})
        if profile and min(warm_totals) >= TARGET_AR_SECONDS:
            out(f"\nend-to-end misses {fmt_time(TARGET_AR_SECONDS)}: cProfile of one run "
                "(top 14 by own time):")
            out(profile_top(lambda: ar_pipeline(read_dataset, fitter, path), 14))

    # neighbour lists side by side
    nl_funcs = {
        "ase.neighborlist.neighbor_list('ijD')": lambda: [
            neighbor_list("ijD", a, AR_CUTOFF) for a in frames],
        "matscipy neighbour_list('ijD')": lambda: [
            neighbour_list("ijD", positions=a.positions, cell=a.cell.array, pbc=a.pbc,
                           cutoff=AR_CUTOFF) for a in frames],
        "ljfit.features.pair_list (matscipy)": lambda: [
            pair_list(a.positions, cell=a.cell.array, pbc=a.pbc, cutoff=AR_CUTOFF)
            for a in frames],
    }
    t = interleaved(nl_funcs, nl_repeats, number=1)
    ase_t = t["ase.neighborlist.neighbor_list('ijD')"]
    rows = [[name, fmt_time(tm.best), fmt_time(tm.median), f"{ase_t.best / tm.best:.1f}×",
             f"{ase_t.median / tm.median:.1f}×"] for name, tm in t.items()]
    out(f"\nneighbour lists of all {n_cells} cells, cutoff {AR_CUTOFF} Å ({nl_repeats} interleaved repeats)")
    out(table(rows, ["neighbour list", "best", "median", "vs ASE (best)", "vs ASE (median)"]))
    res["nl"] = t
    return res


def fresh_process_pipeline(path, fit_available):
    """Wall time of a new Python process doing import + the whole Ar job (what a user
    waits for at the command line, interpreter start-up included)."""
    code = (
        "import ljfit\n"
        f"ds = ljfit.read_dataset({str(path)!r}, groups='all')\n"
        f"m = ljfit.LJModel(ds, scope='per-pair', cutoff={AR_CUTOFF}, shift=True)\n"
        "ljfit.fit(m, ds, method='linear', seed=0)\n"
        "ljfit.fit(m, ds, method='least_squares', seed=0)\n"
    )
    if not fit_available:
        return None
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        return f"failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr else proc.returncode}"
    return dt


# ========================================================================================
# main
# ========================================================================================


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes, few repeats (smoke run)")
    p.add_argument("--n-structures", type=int, default=None,
                   help=f"structures for featurisation/evaluation (default {FULL_N_STRUCTURES:,}; "
                        "quick 2,000)")
    p.add_argument("--n-seed", type=int, default=None,
                   help=f"structures of the seed-style comparison (default {FULL_N_SEED}; quick 40)")
    p.add_argument("--n-ar", type=int, default=None,
                   help=f"Ar cells of the end-to-end run (default {FULL_N_AR}; quick 100)")
    p.add_argument("--repeats", type=int, default=None,
                   help="interleaved repeats per measurement (default 5; quick 2)")
    p.add_argument("--nl-repeats", type=int, default=None,
                   help="repeats of the neighbour-list comparison (ASE's takes ~30 s per pass "
                        "on 2000 cells; default 2)")
    p.add_argument("--no-profile", action="store_true", help="no cProfile of missed targets")
    p.add_argument("--out", default=str(REPO / "results" / "bench_model.txt"),
                   help="also write the output here ('' for none)")
    a = p.parse_args(argv)
    q = a.quick
    a.n_structures = a.n_structures or (2000 if q else FULL_N_STRUCTURES)
    a.n_seed = a.n_seed or (40 if q else FULL_N_SEED)
    a.n_ar = a.n_ar or (100 if q else FULL_N_AR)
    a.repeats = a.repeats or (2 if q else 5)
    a.nl_repeats = a.nl_repeats or (1 if q else 2)
    return a


def _load():
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" ({os.cpu_count()} CPUs)"
    except OSError:
        return "n/a"


def status(ok, full_size):
    if not full_size:
        return "INFO (not the specified size)"
    return "PASS" if ok else "FAIL"


def main(argv=None):
    args = parse_args(argv)
    out = Tee()
    checks: list[Check] = []
    t_start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="ljfit_bench_"))
    read_dataset, io_note = load_read_dataset()
    fit, fit_note = load_fit()
    try:
        import ase
        import matscipy
        import scipy

        out("ljfit benchmark — scripts/bench_model.py" + ("  [--quick]" if args.quick else ""))
        out(f"python {sys.version.split()[0]}, numpy {np.__version__}, scipy {scipy.__version__}, "
            f"ase {ase.__version__}, matscipy {matscipy.__version__}, ljfit {ljfit.__version__}; "
            f"{os.cpu_count()} CPUs")
        out(f"ljfit.io: {'present' if read_dataset else 'PENDING — ' + io_note}; "
            f"ljfit.fit: {'present' if fit else 'PENDING — ' + fit_note}")
        out("timings: wall clock, interleaved repeats, best and median. Targets are judged on "
            "the BEST repeat: on this shared 2-core machine other jobs only ever add time, so "
            "the best is the least contaminated estimate; the median shows the spread.")
        out(f"load average at start: {_load()}")

        # ---------------------------------------------------------------- 1
        n = args.n_structures
        full1 = n == FULL_N_STRUCTURES
        out(f"\n=== 1. featurisation: {n:,} structures × (9 × 48) pairs ===")
        t_gen, (symbols, groups, pos) = time_once(lambda: substrate_on_slab(n))
        rss0 = rss_now()
        t_build, ds = time_once(lambda: build_dataset(symbols, groups, pos))
        rss_ds = rss_now() - rss0
        pos_seed = pos[: args.n_seed].copy()
        del pos
        out(f"geometry generated in {fmt_time(t_gen)} (numpy, not benchmarked)")
        out(f"build Dataset of {n:,} Structures: {fmt_time(t_build)} "
            f"({t_build / n * 1e6:.1f} µs/structure, single run); RSS grew {fmt_bytes(rss_ds)}")
        t_feat, peaks, feat_pair, feat_site = bench_featurisation(ds, args.repeats, out)
        n_pairs = feat_pair.n_pairs
        rss_sec1 = rss_peak()
        out(f"pairs: {n_pairs:,}; slots pair {feat_pair.labels}, site {len(feat_site.slots)}")
        out(f"memory: tracemalloc peak of one compute_features call (its working arrays and "
            f"outputs, above what was live before) pair {fmt_bytes(peaks['pair'])}, "
            f"site {fmt_bytes(peaks['site'])}; process peak RSS so far (ru_maxrss: interpreter, "
            f"imports, the Dataset, featurisation) {fmt_bytes(rss_sec1)}")
        tp = t_feat["compute_features(kind='pair')"]
        ts = t_feat["compute_features(kind='site')"]
        rate_p, rate_s = n_pairs / tp.best, n_pairs / ts.best
        checks.append(Check("featurisation throughput, pair",
                            f"{rate_p / 1e6:.1f} M pairs/s (best; median {n_pairs / tp.median / 1e6:.1f})",
                            "≥ 40 M pairs/s", status(rate_p >= TARGET_PAIRS_PER_S, full1)))
        checks.append(Check("featurisation throughput, site",
                            f"{rate_s / 1e6:.1f} M pairs/s (best; median {n_pairs / ts.median / 1e6:.1f})",
                            "≥ 40 M pairs/s", status(rate_s >= TARGET_PAIRS_PER_S, full1)))
        mem = max(rss_sec1, max(peaks.values()))
        checks.append(Check(f"featurisation peak memory ({n:,} structures)",
                            f"{mem / 2**30:.2f} GB process peak RSS "
                            f"(compute_features alone {fmt_bytes(max(peaks.values()))}, tracemalloc)",
                            "< 2 GB", status(mem < TARGET_FEATURE_MEMORY, full1)))
        checks.append(Check(f"Dataset build ({n:,} Structures)", f"{t_build:.2f} s",
                            "none", "INFO"))
        if not args.no_profile and rate_p < TARGET_PAIRS_PER_S:
            out("\nfeaturisation misses 40 M pairs/s: cProfile of compute_features(kind='pair') "
                "(top 12 by own time):")
            out(profile_top(lambda: compute_features(ds, kind="pair"), 12))

        # ---------------------------------------------------------------- 2
        out(f"\n=== 2. one energies(x) + jacobian(x) evaluation on {n:,} structures ===")
        t_eval = bench_evaluation(feat_pair, feat_site, max(args.repeats, 5), out)
        for scope in ("per-pair", "per-element", "per-site"):
            tm = t_eval[scope]
            checks.append(Check(f"energies+jacobian, {scope}, {n:,} structures",
                                f"{tm.best * 1e3:.3f} ms (median {tm.median * 1e3:.3f})",
                                "none", "INFO"))
        del ds, feat_pair, feat_site

        # ---------------------------------------------------------------- 3
        ns = args.n_seed
        full3 = ns == FULL_N_SEED
        out(f"\n=== 3. vs seed-style cost function and ASE LennardJones ({ns} structures) ===")
        t3, diff = bench_vs_seed_and_ase(symbols, groups, pos_seed, tmp, args.repeats,
                                         read_dataset, out)
        lj = t3["ljfit energies + jacobian"]
        sd = t3["seed-style cost (re-read + Python pair loop)"]
        r_seed, r_seed_med = sd.best / lj.best, sd.median / lj.median
        r_ase = t3["ASE LennardJones energies"].best / lj.best
        checks.append(Check(f"speed-up vs seed-style cost ({ns} structures)",
                            f"{r_seed:,.0f}× (best/best; median/median {r_seed_med:,.0f}×)",
                            "≥ 1000×", status(r_seed >= TARGET_SEED_RATIO, full3)))
        checks.append(Check(f"speed-up vs ASE LennardJones ({ns} structures; ASE: all pairs, "
                            "energy only)", f"{r_ase:,.0f}×", "none", "INFO"))
        checks.append(Check("ljfit vs seed-style energies agree", f"max diff {diff:.1e} eV",
                            "< 1e-6 eV", "PASS" if diff < 1e-6 else "FAIL"))

        # ---------------------------------------------------------------- 4
        na = args.n_ar
        full4 = na == FULL_N_AR
        out(f"\n=== 4. periodic Ar end to end ({na} cells) ===")
        r4 = bench_ar(tmp, na, args.repeats if not args.quick else 2, args.nl_repeats,
                      read_dataset, fit, fit_note, not args.no_profile, out)
        if r4["total"] is None:
            checks.append(Check(f"Ar end-to-end ({na} cells)", "not run", f"< {TARGET_AR_SECONDS:g} s",
                                f"PENDING ({r4['pending']})"))
        else:
            stages = ", ".join(f"{k} {v:.2f}" for k, v in r4["stages"].items())
            value = (f"{r4['best']:.2f} s best warm (median {r4['total']:.2f}, cold {r4['cold']:.2f}; "
                     f"best stages: {stages}) = {REFERENCE_AR_SECONDS / r4['best']:.1f}× vs "
                     f"{REFERENCE_AR_SECONDS:g} s")
            if r4["pending"]:
                st = f"PENDING ({r4['pending']}; fit stages are a stand-in)"
            else:
                st = status(r4["best"] < TARGET_AR_SECONDS, full4)
            checks.append(Check(f"Ar end-to-end ({na} cells)", value, f"< {TARGET_AR_SECONDS:g} s",
                                st))
            checks.append(Check("Ar recovered ε, σ (worst relative error)", f"{r4['recovery']:.1e}",
                                f"< {RECOVERY_TOL:g}",
                                ("PASS" if r4["recovery"] < RECOVERY_TOL else "FAIL")
                                + (" (stand-in fit)" if r4["pending"] else "")))
            fresh = fresh_process_pipeline(tmp / "ar.extxyz", fit is not None)
            if fresh is not None:
                out(f"fresh process (interpreter start + import ljfit + the whole job): "
                    f"{fresh if isinstance(fresh, str) else fmt_time(fresh)}")
                if not isinstance(fresh, str):
                    checks.append(Check(f"Ar end-to-end in a fresh process ({na} cells)",
                                        f"{fresh:.2f} s", "none", "INFO"))
        nl = r4["nl"]
        a_t = nl["ase.neighborlist.neighbor_list('ijD')"].best
        m_t = nl["ljfit.features.pair_list (matscipy)"].best
        checks.append(Check(f"neighbour lists {na} cells: ASE vs ljfit/matscipy",
                            f"{a_t:.2f} s vs {m_t:.3f} s ({a_t / m_t:.0f}×, best)", "none", "INFO"))

        # ---------------------------------------------------------------- 5
        peak = rss_peak()
        out(f"\n=== 5. whole run ===\npeak RSS (ru_maxrss) {fmt_bytes(peak)}; wall time "
            f"{time.perf_counter() - t_start:.1f} s; load average at end: {_load()}")
        checks.append(Check("peak memory of the whole run", f"{peak / 2**30:.2f} GB (ru_maxrss)",
                            "none (featurisation: < 2 GB)", "INFO"))

        out("\n=== summary ===")
        for c in checks:
            out(c.line())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(out.text())
    return 0 if not any(c.status == "FAIL" for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
