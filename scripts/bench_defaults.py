#!/usr/bin/env python
"""Wall time of ``ljfit fit`` with the default ``--method auto`` against ``--method all``,
of ``ljfit --help``, and of drawing the figures in one process or two.

Each command variant runs the console command in a fresh process (imports included, as a
user sees it), interleaved with the others, ``--repeat`` times; the table gives the best
and median wall time and the methods each variant ran. The figures of one fit are then
written in-process with ``workers=1`` and ``workers=2``, interleaved. Nothing is asserted
(the machine may be shared and loaded): compare the medians side by side; the machine and
its load are printed.

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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_util import cpu_model, load_average, usable_cores  # noqa: E402

CLI = "import sys; from ljfit.cli import main; sys.exit(main(sys.argv[1:]))"


def _run(data, method, plots, extra, out) -> float:
    cmd = [sys.executable, "-c", CLI, "fit", str(data), "--out", str(out), "--force",
           "--quiet", *extra]
    if method:
        cmd += ["--method", method]
    if not plots:
        cmd.append("--no-plots")
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def _figures(data, extra, repeat) -> dict:
    """Wall times of writing the figures of the default fit with 1 and 2 processes."""
    import matplotlib

    matplotlib.use("Agg")
    from ljfit.cli import main as cli_main
    from ljfit.report import figures

    captured = {}
    real = figures.write_figures

    def keep(run, folder, *, workers=1):  # the run of a real `ljfit fit`, to redraw
        captured["run"] = run
        return real(run, folder, workers=workers)

    figures.write_figures = keep
    import ljfit.report.folder as folder_module

    folder_module.write_figures = keep
    with tempfile.TemporaryDirectory() as tmp:
        cli_main(["fit", str(data), "--out", str(Path(tmp) / "res"), "--quiet", *extra])
        times = {1: [], 2: []}
        for k in range(repeat):
            for workers in (1, 2):
                out = Path(tmp) / f"fig-{workers}-{k}"
                out.mkdir()
                t0 = time.perf_counter()
                real(captured["run"], out, workers=workers)
                times[workers].append(time.perf_counter() - t0)
    return times


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
    helps = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", CLI, "--help"], check=True,
                       stdout=subprocess.DEVNULL)
        helps.append(time.perf_counter() - t0)
    figures = _figures(args.data, extra, args.repeat)
    print(f"machine: {cpu_model()}, {usable_cores()} usable cores; load average "
          f"{load_average()}; Python {sys.version.split()[0]}")
    print(f"ljfit fit {args.data} {args.extra}  ({args.repeat} interleaved repeats, "
          "fresh process each)")
    print(f"{'--method':<10s} {'plots':<6s} {'best (s)':>9s} {'median (s)':>11s}  methods")
    for (m, p), t in times.items():
        print(f"{m:<10s} {'yes' if p else 'no':<6s} {min(t):>9.2f} {statistics.median(t):>11.2f}"
              f"  {', '.join(methods[(m, p)])}")
    print(f"ljfit --help: best {min(helps):.3f} s, median {statistics.median(helps):.3f} s")
    for workers, t in figures.items():
        print(f"figures of the default fit, {workers} process{'es' if workers > 1 else ''}: "
              f"best {min(t):.2f} s, median {statistics.median(t):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
