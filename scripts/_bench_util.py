"""Small helpers for the benchmark scripts: interleaved timing, memory probes, output.

Nothing here knows about ljfit. Timings are wall-clock (``time.perf_counter``); on a noisy
machine the things compared are always run side by side, interleaved, and summarised by
their best and median repeat.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field

# --------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------


@dataclass
class Timing:
    """Seconds per call of one benchmarked callable, one entry per repeat."""

    name: str
    samples: list = field(default_factory=list)
    number: int = 1  # calls per sample (each sample is the mean over `number` calls)

    @property
    def best(self) -> float:
        return min(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def __str__(self):
        return f"{self.name}: best {fmt_time(self.best)}, median {fmt_time(self.median)}"


def time_once(fn):
    """(seconds, result) of a single call."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def calibrate(fn, min_time: float = 0.05, max_number: int = 100_000) -> int:
    """Calls per sample so that one sample lasts about ``min_time`` seconds."""
    fn()  # warm-up
    number = 1
    while number < max_number:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        if time.perf_counter() - t0 >= min_time:
            break
        number *= 2
    return number


def interleaved(funcs: dict, repeats: int, *, number=None, min_time: float = 0.05) -> dict:
    """Time several callables side by side.

    Each repeat runs every callable once (``number`` calls each), in a rotating order so
    that no callable always runs first or right after the same neighbour. ``number`` may be
    an int for all, a dict per name, or None to calibrate each to ~``min_time`` s/sample.

    Returns ``{name: Timing}`` with seconds *per call*.
    """
    names = list(funcs)
    if number is None:
        numbers = {n: calibrate(funcs[n], min_time) for n in names}
    elif isinstance(number, dict):
        numbers = {n: number.get(n, 1) for n in names}
    else:
        numbers = {n: int(number) for n in names}
    out = {n: Timing(n, number=numbers[n]) for n in names}
    for r in range(repeats):
        order = names[r % len(names):] + names[: r % len(names)]
        for n in order:
            fn, k = funcs[n], numbers[n]
            t0 = time.perf_counter()
            for _ in range(k):
                fn()
            out[n].samples.append((time.perf_counter() - t0) / k)
    return out


# --------------------------------------------------------------------------------------
# memory
# --------------------------------------------------------------------------------------


def rss_peak() -> int:
    """Peak resident set size of this process so far (ru_maxrss), bytes."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb if sys.platform == "darwin" else kb * 1024


# --------------------------------------------------------------------------------------
# profiling
# --------------------------------------------------------------------------------------


def profile_shares(stats: pstats.Stats, n: int = 12, sort: str = "tottime",
                   total: float | None = None) -> str:
    """The ``n`` top functions of ``stats`` by ``sort`` ("tottime" or "cumulative"), each with
    its own and cumulative time and their shares of ``total`` (default: the profile's total,
    i.e. the sum of every function's own time)."""
    total = total or stats.total_tt or 1.0
    entries = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():
        entries.append((tt, ct, nc, f"{_short_path(file)}:{line}({func})"))
    key = (lambda e: e[0]) if sort == "tottime" else (lambda e: e[1])
    entries.sort(key=key, reverse=True)
    rows = [[name, f"{nc}", f"{tt:.3f} s", f"{100 * tt / total:.1f} %", f"{ct:.3f} s",
             f"{100 * ct / total:.1f} %"] for tt, ct, nc, name in entries[:n]]
    return table(rows, ["function", "calls", "own", "own share", "cumulative", "cum. share"],
                 align="lrrrrr")


def _short_path(file: str) -> str:
    """site-packages/…/ljfit/x.py → ljfit/x.py; built-ins unchanged."""
    if file.startswith("~") or file.startswith("<"):
        return file
    parts = file.replace("\\", "/").split("/")
    for anchor in ("site-packages", "dist-packages", "lib"):
        if anchor in parts:
            k = len(parts) - 1 - parts[::-1].index(anchor)
            return "/".join(parts[k + 1:])
    for k, part in enumerate(parts):
        if part == "ljfit" and k + 1 < len(parts):
            return "/".join(parts[k:])
    return "/".join(parts[-2:])


def profile_call(fn, n: int = 12, sort: str = "tottime") -> str:
    """Run ``fn`` under cProfile; its top ``n`` functions with their shares of the total."""
    prof = cProfile.Profile()
    prof.enable()
    try:
        fn()
    finally:
        prof.disable()
    stats = pstats.Stats(prof)
    return (f"total {stats.total_tt:.3f} s (profiled)\n"
            + profile_shares(stats, n, sort))


# --------------------------------------------------------------------------------------
# whole processes
# --------------------------------------------------------------------------------------


@dataclass
class ProcRun:
    """One finished child process: wall seconds, peak RSS (bytes), CPU seconds, exit code."""

    wall: float
    maxrss: int
    cpu: float
    returncode: int
    stderr: str = ""


#: GNU time: peak RSS of exactly the command (see run_process)
GNU_TIME = "/usr/bin/time"

#: Fallback launcher where GNU time is missing: a small Python that spawns the command and
#: reports its os.wait4 rusage.
_LAUNCHER = (
    "import os, sys\n"
    "pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)\n"
    "_, status, ru = os.wait4(pid, 0)\n"
    "code = os.waitstatus_to_exitcode(status)\n"
    "open(sys.argv[1], 'w').write(f'{ru.ru_maxrss} {ru.ru_utime} {ru.ru_stime} {code}')\n"
    "sys.exit(code)\n"
)


def run_process(cmd, *, env=None, cwd=None, stdout=None) -> ProcRun:
    """Run ``cmd`` to completion: wall clock from start to exit, and the command's own peak
    RSS and user + system CPU time (children it waited for included, e.g. worker processes).

    The command is started by GNU time (``/usr/bin/time -f '%M %U %S %x'``), not directly:
    Linux reports as the peak RSS of a child started from this process (fork or vfork, then
    exec) at least the memory this process had when it started it — hundreds of MB in a
    benchmark that holds data. GNU time is a few MB. Without it, a small Python launcher
    does the same. ``stdout``: a path for the command's standard output (default:
    discarded)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "rusage")
        if os.path.exists(GNU_TIME):
            wrapped = [GNU_TIME, "-q", "-f", "%M %U %S %x", "-o", report, *map(str, cmd)]
        else:
            wrapped = [sys.executable, "-S", "-c", _LAUNCHER, report, *map(str, cmd)]
        with open(os.path.join(tmp, "stderr"), "w+b") as err, \
                (open(stdout, "wb") if stdout else open(os.devnull, "wb")) as out:
            t0 = time.perf_counter()
            proc = subprocess.run(wrapped, stdout=out, stderr=err, env=env, cwd=cwd)
            wall = time.perf_counter() - t0
            err.seek(0)
            text = err.read().decode("utf-8", "replace")
        try:
            with open(report) as fh:
                fields = fh.read().split()
            kb, user, system = int(fields[0]), float(fields[1]), float(fields[2])
        except (OSError, ValueError, IndexError):
            kb, user, system = 0, float("nan"), float("nan")
    rss = kb if sys.platform == "darwin" else kb * 1024
    return ProcRun(wall, rss, user + system, proc.returncode, text)


def interleaved_processes(variants: dict, repeats: int, *, warmup: bool = True,
                          env=None, cwd=None, on_run=None) -> dict:
    """Run several commands side by side: ``repeats`` rounds, each running every command
    once in a rotating order (A B C, B C A, C A B, ...), after one untimed warm-up run of
    each (bytecode caches, page cache). Returns ``{name: [ProcRun, ...]}``, one entry per
    round, so that ratios can be taken round by round. A failing run raises RuntimeError
    with the tail of its standard error."""
    names = list(variants)
    runs = {n: [] for n in names}

    def one(name):
        r = run_process(variants[name], env=env, cwd=cwd)
        if r.returncode != 0:
            tail = "\n".join(r.stderr.strip().splitlines()[-8:])
            raise RuntimeError(f"{name}: exit {r.returncode}: {' '.join(map(str, variants[name]))}"
                               f"\n{tail}")
        return r

    if warmup:
        for n in names:
            one(n)
    for k in range(repeats):
        order = names[k % len(names):] + names[: k % len(names)]
        for n in order:
            r = one(n)
            runs[n].append(r)
            if on_run is not None:
                on_run(n, k, r)
    return runs


def pairwise(runs_a: list, runs_b: list, attr: str = "wall") -> list:
    """Round-by-round ratios b/a of two interleaved series."""
    return [getattr(b, attr) / getattr(a, attr) for a, b in zip(runs_a, runs_b)]


# --------------------------------------------------------------------------------------
# the machine
# --------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def memory_total() -> int:
    """Bytes of RAM (MemTotal), 0 if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


# --------------------------------------------------------------------------------------
# formatting and output
# --------------------------------------------------------------------------------------


def fmt_time(s: float) -> str:
    if s >= 1.0:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3f} ms"
    if s >= 1e-6:
        return f"{s * 1e6:.2f} µs"
    return f"{s * 1e9:.1f} ns"


def fmt_bytes(b: float) -> str:
    for unit, f in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if abs(b) >= f:
            return f"{b / f:.2f} {unit}"
    return f"{b:.0f} B"


def table(rows, headers, align=None) -> str:
    """Plain-text table; ``align`` a string of 'l'/'r' per column (default: first l)."""
    rows = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[k]) for r in rows)) if rows else len(h)
              for k, h in enumerate(headers)]
    align = align or ("l" + "r" * (len(headers) - 1))

    def line(cells):
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w)
                         for c, w, a in zip(cells, widths, align)).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep] + [line(r) for r in rows])


class Tee:
    """Print to stdout and keep a copy (written to a file at the end)."""

    def __init__(self):
        self.buf = io.StringIO()

    def __call__(self, *args, **kwargs):
        print(*args, **{**kwargs, "flush": True})
        print(*args, **{k: v for k, v in kwargs.items() if k != "flush"}, file=self.buf)

    def text(self) -> str:
        return self.buf.getvalue()
