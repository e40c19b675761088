#!/usr/bin/env python
"""Wall time of ``ljfit fit`` with the default ``--method auto`` against ``--method all``.

Each variant runs the console command in a fresh process (imports included, as a user sees
it), interleaved with the others, ``--repeat`` times; the table gives the best and median
wall time and the methods each variant ran. Nothing is asserted (the machine may be
shared and loaded): compare the medians side by side.

Usage: ``python scripts/bench_defaults.py [DATA_DIR] [--repeat 5] [--extra "--scope per-element"]``
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(data, method, plots, extra, out) -> float:
    cmd = [sys.executable, "-c", "import sys; from ljfit.cli import main; "
           "sys.exit(main(sys.argv[1:]))", "fit", str(data), "--out", str(out), "--force",
           "--quiet", *extra]
    if method:
        cmd += ["--method", method]
    if not plots:
        cmd.append("--no-plots")
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", default=str(ROOT / "data" / "example"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--extra", default="", help="more fit options, e.g. '--scope per-element'")
    args = ap.parse_args(argv)
    extra = shlex.split(args.extra)
    variants = [(m, p) for m in ("auto", "all") for p in (True, False)]
    times = {v: [] for v in variants}
    methods = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            for m, p in variants:  # interleaved: load changes hit every variant alike
                out = Path(tmp) / f"{m}-{p}"
                times[(m, p)].append(_run(args.data, m, p, extra, out))
                metrics = json.loads((out / "metrics.json").read_text())
                methods[(m, p)] = list(metrics["methods"])
    print(f"ljfit fit {args.data} {args.extra}  ({args.repeat} interleaved repeats, "
          "fresh process each)")
    print(f"{'--method':<10s} {'plots':<6s} {'best (s)':>9s} {'median (s)':>11s}  methods")
    for (m, p), t in times.items():
        print(f"{m:<10s} {'yes' if p else 'no':<6s} {min(t):>9.2f} {statistics.median(t):>11.2f}"
              f"  {', '.join(methods[(m, p)])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
