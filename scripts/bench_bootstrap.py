#!/usr/bin/env python
"""Benchmark the bootstrap of ljfit on the shipped example.

``data/example`` (24 ethanol + Au(111) structures), per-pair scope, linear method:

* wall time of ``bootstrap(n=1000)`` (target < 10 s; one column-scaled NNLS solve per resample
  on rows of the precomputed design matrix),
* side by side, the time of 20 bootstrap refits with ``least_squares`` (warm-started from the
  full fit) and of 20 refits through the generic ``fit(model.take(rows), method="linear")``,
  each per refit and extrapolated to 1000,
* the percentile intervals next to the Jacobian standard errors and the truth of the
  generated data (``truth.json``), and the cross-validation summary.

Usage: ``python scripts/bench_bootstrap.py [DATA_DIR] [--n 1000] [--seed 0]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import ljfit
from ljfit.uncertainty import bootstrap, cross_validate

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("data", nargs="?", default=str(ROOT / "data" / "example"))
    ap.add_argument("--n", type=int, default=1000, help="bootstrap resamples (default 1000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-compare", type=int, default=20,
                    help="refits timed for the comparison (default 20)")
    args = ap.parse_args(argv)

    ds = ljfit.read_dataset(args.data)
    model = ljfit.LJModel(ds, scope="per-pair")
    result = ljfit.fit(model, ds, "linear")
    print(f"dataset: {ds!r}")
    print(f"model:   {model!r}")
    print(f"full linear fit: RMSE {result.rmse * 1e3:.3f} meV, cost {result.cost:.4g} (χ²/2)")

    # warm-up (imports, first-call overheads) so that the timings compare like with like
    bootstrap(model, ds, "linear", n=10, seed=args.seed, progress=False)

    b = bootstrap(model, ds, "linear", n=args.n, seed=args.seed, result=result, progress=False)
    t_lin = b.wall_time

    k = args.n_compare
    ls = bootstrap(model, ds, "least_squares", n=k, seed=args.seed, result=result,
                   progress=False)
    t_ls = ls.wall_time

    draws = np.random.default_rng(args.seed).integers(0, len(ds), size=(k, len(ds)))
    y, w = ds.energies, ds.weights
    t0 = time.perf_counter()
    for rows in draws:
        ljfit.fit(model.take(rows), energies=y[rows], weights=w[rows], method="linear")
    t_generic = time.perf_counter() - t0

    print()
    print(f"{'refits':<44s}{'n':>6s}{'wall':>11s}{'per refit':>13s}{'x1000 (est.)':>15s}")
    rows = [
        ("bootstrap linear (fast NNLS path)", args.n, t_lin),
        ("bootstrap least_squares (warm start)", k, t_ls),
        ("fit(model.take(rows), 'linear') (generic)", k, t_generic),
    ]
    for name, n, t in rows:
        print(f"{name:<44s}{n:>6d}{t:>10.3f}s{t / n * 1e3:>11.3f}ms{t / n * 1000:>14.2f}s")
    verdict = "PASS" if t_lin < 10.0 else "FAIL"
    print(f"\nbootstrap N={args.n} linear: {t_lin:.3f} s (target < 10 s, ideally < 2 s) {verdict}")
    print(f"least_squares refit / linear refit: {(t_ls / k) / (t_lin / args.n):.0f}x")

    truth = {}
    truth_file = Path(args.data) / "truth.json"
    if truth_file.exists():
        raw = json.loads(truth_file.read_text())
        for key, vals in raw.get("parameters", {}).items():
            if isinstance(vals, dict):  # {"Au-C": {"epsilon": …, "sigma": …}}
                truth.update({f"{kind}[{key}]": float(v) for kind, v in vals.items()})
            else:  # {"epsilon[Au-C]": …}
                truth[key] = float(vals)

    lvl = int(round(100 * b.level))
    print(f"\n{lvl}% percentile intervals (N={args.n}, {b.n_failed} failed refits):")
    print(f"{'parameter':<16s}{'fit':>11s}{'stderr':>10s}{'boot mean':>11s}{'boot std':>10s}"
          f"{'ci_low':>11s}{'ci_high':>11s}{'truth':>9s}  in CI")
    for nm in b.names:
        t = truth.get(nm, np.nan)
        inside = "yes" if b.ci_low[nm] <= t <= b.ci_high[nm] else ("no" if np.isfinite(t) else "")
        print(f"{nm:<16s}{result.params[nm]:>11.5g}{result.stderr[nm]:>10.3g}"
              f"{b.mean[nm]:>11.5g}{b.std[nm]:>10.3g}{b.ci_low[nm]:>11.5g}"
              f"{b.ci_high[nm]:>11.5g}{t:>9.4g}  {inside}")

    print("\ncross-validation (linear):")
    for k_ in ("loo", 5):
        t0 = time.perf_counter()
        cv = cross_validate(model, ds, "linear", k=k_, seed=args.seed, result=result)
        dt = time.perf_counter() - t0
        print(f"  k={k_!s:<4s} held-out RMSE {cv.rmse * 1e3:.3f} meV, training "
              f"{cv.train_rmse * 1e3:.3f} meV, ratio {cv.ratio:.2f}  ({dt * 1e3:.1f} ms)")
        for msg in cv.warnings:
            print(f"    warning: {msg}")
    return 0 if t_lin < 10.0 else 1


if __name__ == "__main__":
    sys.exit(main())
