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
import tracemalloc
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


def rss_now() -> int:
    """Current resident set size of this process, bytes (Linux /proc; 0 if unavailable)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def rss_peak() -> int:
    """Peak resident set size of this process so far (ru_maxrss), bytes."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb if sys.platform == "darwin" else kb * 1024


def traced_peak(fn):
    """(peak bytes allocated during ``fn()`` above the memory live before it, result).

    Uses tracemalloc, which sees Python objects and numpy array buffers (numpy reports its
    data allocations to tracemalloc); it does not see memory of compiled libraries that
    bypass it. Slows the call down, so never combine with timing.
    """
    was = tracemalloc.is_tracing()
    if not was:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    try:
        out = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not was:
            tracemalloc.stop()
    return peak - base, out


# --------------------------------------------------------------------------------------
# profiling
# --------------------------------------------------------------------------------------


def profile_top(fn, n: int = 12, sort: str = "tottime") -> str:
    """Run ``fn`` under cProfile; the ``n`` top functions by ``sort`` as text."""
    prof = cProfile.Profile()
    prof.enable()
    try:
        fn()
    finally:
        prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(sort)
    stats.print_stats(n)
    lines = buf.getvalue().splitlines()
    # drop pstats' preamble up to the column header
    for k, line in enumerate(lines):
        if line.strip().startswith("ncalls"):
            lines = lines[k:]
            break
    return "\n".join(line for line in lines if line.strip())


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
        print(*args, **kwargs, flush=True)
        print(*args, **{k: v for k, v in kwargs.items() if k != "flush"}, file=self.buf)

    def text(self) -> str:
        return self.buf.getvalue()


@dataclass
class Check:
    """One line of the summary block."""

    name: str
    value: str
    target: str
    status: str  # PASS / FAIL / PENDING / INFO

    def line(self) -> str:
        return f"{self.name}: {self.value} (target: {self.target}) {self.status}"
