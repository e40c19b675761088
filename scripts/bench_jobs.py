"""When does ``ljfit fit --jobs 2`` pay? Serial against ``--jobs 2`` over data-set sizes.

Writes substrate/surface folders (ethanol over Au(111), as ``bench_model.py``'s section 3c)
and extxyz files of periodic 32-atom Ar cells (rc 8.5 Å, as its section 3a) of growing size,
and times whole ``ljfit fit --method linear --no-plots`` processes, serial and ``--jobs 2``,
side by side (rounds in a rotating order after a warm-up). Prints per size the best and
median wall times and the round-by-round speed-up serial / ``--jobs 2``; the crossover is
the smallest size from which the median speed-up stays above 1.

    python scripts/bench_jobs.py            # sizes 250 … 16 000, 3 rounds
    python scripts/bench_jobs.py --quick    # 2 sizes, 2 rounds (smoke run)
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_util import (  # noqa: E402
    cpu_model,
    interleaved_processes,
    load_average,
    memory_total,
    pairwise,
    table,
    usable_cores,
)
from bench_model import (  # noqa: E402
    AR_CUTOFF,
    CELL_REPEATS,
    SEED,
    ar_cells_ase,
    interaction_energies,
    substrate_on_slab,
    write_seed_folder,
)

SEED_SIZES = (250, 1000, 4000, 16_000)
AR_SIZES = (250, 1000, 4000)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 sizes, 2 rounds")
    ap.add_argument("--repeats", type=int, default=None, help="rounds (default 3)")
    args = ap.parse_args(argv)
    seed_sizes = SEED_SIZES[:2] if args.quick else SEED_SIZES
    ar_sizes = AR_SIZES[:2] if args.quick else AR_SIZES
    repeats = args.repeats or (2 if args.quick else 3)

    print("ljfit --jobs crossover — scripts/bench_jobs.py")
    print(f"machine: {cpu_model()}, {usable_cores()} cores usable, "
          f"{memory_total() / 2**30:.1f} GiB RAM; Python {sys.version.split()[0]}")
    print(f"load average at start (1/5/15 min): {load_average()} — a shared machine; the "
          "two variants run side by side, so their ratio is what to read")
    ljfit = [str(Path(sys.executable).parent / "ljfit")]
    tmp = Path(tempfile.mkdtemp(prefix="ljfit-bench-jobs-"))
    rows = []
    try:
        symbols, groups, pos = substrate_on_slab(max(seed_sizes), SEED + 2)
        energies = interaction_energies(symbols, groups, pos)
        frames = ar_cells_ase(max(ar_sizes), CELL_REPEATS[32], SEED)
        inputs = []
        for n in seed_sizes:
            folder = tmp / f"seed_{n}"
            write_seed_folder(folder, symbols, groups, pos[:n], energies[:n])
            inputs.append((f"substrate/surface, {n:,} structures", str(folder), []))
        import ase.io

        for n in ar_sizes:
            path = tmp / f"ar32_{n}.extxyz"
            ase.io.write(path, frames[:n], format="extxyz")
            inputs.append((f"32-atom Ar cells, {n:,} frames", str(path),
                           ["--groups", "all", "--cutoff", str(AR_CUTOFF)]))
        del pos, frames

        for label, path, extra in inputs:
            common = ["fit", path, "--method", "linear", "--no-plots", "--quiet", "--force",
                      *extra]
            variants = {
                "serial": ljfit + common + ["--out", str(tmp / "o1")],
                "--jobs 2": ljfit + common + ["--jobs", "2", "--out", str(tmp / "o2")],
            }
            runs = interleaved_processes(variants, repeats, cwd=tmp)
            speed = [1.0 / r for r in pairwise(runs["serial"], runs["--jobs 2"])]
            s = [r.wall for r in runs["serial"]]
            p = [r.wall for r in runs["--jobs 2"]]
            rows.append([label, f"{min(s):.2f} / {statistics.median(s):.2f}",
                         f"{min(p):.2f} / {statistics.median(p):.2f}",
                         f"{statistics.median(speed):.2f}× ({min(speed):.2f}–"
                         f"{max(speed):.2f})"])
            print(f"  {label}: serial {statistics.median(s):.2f} s, --jobs 2 "
                  f"{statistics.median(p):.2f} s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(table(rows, ["input", "serial s (best / median)", "--jobs 2 s (best / median)",
                       "speed-up, median (rounds)"], align="lrrr"))
    print(f"load average at the end: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
