#!/usr/bin/env python
"""Benchmark the certified bounded linear fit against the nonlinear methods on S22x5.

S22x5 (``ase.data.s22``: 22 dimers at 0.9, 1.0, 1.2, 1.5, 2.0 × their equilibrium
separation, 110 CCSD(T)/CBS interaction energies in eV), per-pair scope, default bounds
(ε ∈ [1e-6, 1] eV, σ ∈ [1, 6] Å). Side by side in one run:

* ``linear``: the cone program with its ε_lo branch and bound — cost, certified lower
  bound, relative gap, cone programs solved, wall time;
* ``least_squares``, ``basinhopping``, ``dual_annealing`` from their default start (now the
  certified point) — cost and time;
* the same three from ``--seeds`` seeded random starts in the bounds (what a search without
  the certified start does): every cost, how many reached the certified optimum (within
  1e-7 relative), median time.

Usage: ``python scripts/bench_bounded.py [--offset] [--seeds 10] [--quick]``
(``--quick``: 10 hops / 50 annealing iterations instead of ljfit's 100 / 300).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

import ljfit
from ljfit.dataset import Dataset, Structure
from ljfit.fitting import Problem
from ljfit.fitting.local import random_starts

REACHED_RTOL = 1e-7  # a run "reached" the optimum when its cost is within this of it


def s22x5_dataset() -> Dataset:
    """The 110 S22x5 dimers with their interaction energies (eV, without the module's
    offset correction); the two monomers (``dimer atoms``) are groups A and B."""
    from ase.data.s22 import data, get_s22x5_id, s22x5

    factors = ["0.9", "1.0", "1.2", "1.5", "2.0"]
    out = []
    for name in s22x5:
        system, dist = get_s22x5_id(name)
        d = data[system]
        n1, n2 = d["dimer atoms"]
        out.append(Structure(name, list(d["symbols"]), np.array(d[f"positions {dist}"]),
                             energy=d["interaction energies s22x5"][factors.index(dist)],
                             groups=[0] * n1 + [1] * n2))
    return Dataset(out, group_mode="fragments")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--offset", action="store_true", help="fit a free energy offset too")
    ap.add_argument("--seeds", type=int, default=10, help="random-start runs per method")
    ap.add_argument("--quick", action="store_true",
                    help="10 hops / 50 annealing iterations (default: 100 / 300)")
    args = ap.parse_args(argv)
    opts = {"basinhopping": {"niter": 10 if args.quick else 100},
            "dual_annealing": {"maxiter": 50 if args.quick else 300},
            "least_squares": {}}

    ds = s22x5_dataset()
    model = ljfit.LJModel(ds, scope="per-pair", offset=args.offset)
    print(f"S22x5: {len(ds)} dimers, {model}, default bounds"
          f"{' + offset' if args.offset else ''}")

    t0 = time.perf_counter()
    lin = ljfit.fit(model, ds, "linear")
    t_lin = time.perf_counter() - t0
    cone = lin.extra.get("cone", {})
    best = lin.cost
    print("\nlinear (cone program + eps_lo branch and bound)")
    print(f"  cost          {lin.cost:.12f} (chi2/2)")
    print(f"  lower bound   {lin.lower_bound:.12f} (chi2/2)  (root relaxation "
          f"{cone.get('relaxed_bound', float('nan')):.10f}, root status "
          f"{cone.get('root_status', '-')})")
    print(f"  gap           {lin.gap:.2e}  certified: {lin.certified}")
    print(f"  cone programs {cone.get('nodes', 0)}, branched on {cone.get('branched', [])}")
    print(f"  time          {t_lin:.3f} s")

    print("\nfrom the default start (the certified point):")
    print(f"  {'method':<16s} {'cost (chi2/2)':>16s} {'gap':>10s} {'time (s)':>9s}")
    for m in ("least_squares", "basinhopping", "dual_annealing"):
        t0 = time.perf_counter()
        r = ljfit.fit(model, ds, m, seed=0, progress=False, **opts[m])
        dt = time.perf_counter() - t0
        print(f"  {m:<16s} {r.cost:16.10f} {r.gap:10.2e} {dt:9.2f}")

    problem = Problem(model, ds.energies)
    starts = random_starts(problem, args.seeds, np.random.default_rng(12))
    print(f"\nfrom {args.seeds} seeded random starts in the bounds (seed k, start k):")
    print(f"  {'method':<16s} {'reached':>8s} {'best cost':>14s} {'median cost':>12s} "
          f"{'median time (s)':>16s}  costs")
    for m in ("least_squares", "basinhopping", "dual_annealing"):
        costs, times = [], []
        for k, x0 in enumerate(starts):
            t0 = time.perf_counter()
            r = ljfit.fit(model, ds, m, x0=x0, seed=k, progress=False, **opts[m])
            times.append(time.perf_counter() - t0)
            costs.append(r.cost)
        reached = sum(c <= best * (1 + REACHED_RTOL) for c in costs)
        print(f"  {m:<16s} {reached:>4d}/{len(costs):<3d} {min(costs):14.8f} "
              f"{statistics.median(costs):12.6f} {statistics.median(times):16.2f}  "
              + " ".join(f"{c:.6f}" for c in costs))
        below = [c for c in costs if c < lin.lower_bound * (1 - 1e-12)]
        if below:  # would contradict the certificate
            print(f"  !! {m}: cost below the certified lower bound: {below}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
