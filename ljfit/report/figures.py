"""The figures of a results folder, drawn on two cores where that is safe.

Drawing and saving the five figures of a fit is pure matplotlib work of ~0.9 s on the
example data: on the command line that was the largest part of the run. The figures are
independent, so :func:`write_figures` with ``workers=2`` forks one child process (POSIX
``fork``: the child has the run, and matplotlib, already in memory) that draws one share
while the parent draws the other, both into the staging folder.

What keeps this safe:

* the child resets SIGINT and SIGTERM to their default action before anything else (the
  signals are blocked across the ``fork``, so ljfit's own handler, which cleans up the
  staging folder, never runs in the child), and always leaves by ``os._exit`` (no
  ``atexit``, no ``finally`` of the parent's stack);
* the parent reaps the child before it returns or raises: on an error or interrupt in the
  parent it kills the child first, so no child writes into a staging folder being deleted;
* when the child fails (or ``fork`` does), the parent draws the child's share itself: the
  figures are the same bytes either way.

``workers=1`` (the default of the Python API, e.g. inside a Jupyter kernel) draws
everything in the calling process.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import numpy as np

from .. import _signals
from .run import FitRun

__all__ = ["write_figures", "figure_jobs"]

#: The figures the child draws when there are two workers (the costly half: the
#: correlation matrix with its annotations, the grid of profiles, a force density).
_CHILD_SHARE = ("correlation.png", "profiles.png", "parity_forces.png")


def figure_jobs(run: FitRun) -> list:
    """``[(file name, draw)]`` of the figures of ``run``, in report order; ``draw(path)``
    draws one figure and saves it as ``path``."""
    from .. import plots

    jobs = []
    res = run.results
    ref = run.dataset.energies
    preds = {m: r.predictions for m, r in res.items()}
    name = run.dataset.name

    def parity(path):
        plots.save(plots.parity(reference=ref, predictions=preds, title=f"parity: {name}"),
                   path)

    def residuals(path):
        plots.save(plots.residuals(reference=ref, predictions=preds,
                                   title=f"residuals: {name}"), path)

    jobs += [("parity.png", parity), ("residuals.png", residuals)]
    best = run.best_result
    if best is None:
        # the lowest-cost result with defined parameters, if any, still shows the curves
        cand = [r for r in res.values() if r.defined]
        curves = min(cand, key=lambda r: r.cost) if cand else None
    else:
        curves = best
    if curves is not None:
        def potentials(path):
            plots.save(plots.potentials(run.model, curves.x,
                                        title=f"fitted pair potentials ({curves.method})"),
                       path)

        jobs.append(("potentials.png", potentials))
    if best is not None and best.correlation is not None:
        def correlation(path):
            plots.save(plots.correlation(best.correlation, best.names,
                                         title=f"parameter correlations ({best.method})"),
                       path)

        jobs.append(("correlation.png", correlation))
    if curves is not None and "forces" in curves.observed:
        o = curves.observed["forces"]

        def parity_forces(path):
            plots.save(plots.parity_forces(reference=o["predictions"] - o["residuals"],
                                           predicted=o["predictions"], method=curves.method,
                                           title=f"force parity: {name}"), path)

        jobs.append(("parity_forces.png", parity_forces))
    if run.profiles and best is not None:
        # Δcost of one standard error: Δχ²/2 = 1/2 with absolute sigmas, else s²/2
        threshold = 0.5 if best.absolute_sigma else best.reduced_chi2 / 2
        threshold = threshold if np.isfinite(threshold) else None

        def profiles(path):
            plots.save(plots.profiles(run.profiles, title=f"cost profiles ({run.best})",
                                      threshold=threshold), path)

        jobs.append(("profiles.png", profiles))
    return jobs


def _can_fork() -> bool:
    # Linux only: macOS's system libraries are not fork-safe once threads exist
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def _fork_child(jobs, folder: Path) -> int:
    """Fork a child that draws ``jobs`` into ``folder``; its pid (0 never returns here in
    the child), or -1 when it could not be started."""
    signals = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        pid = os.fork()
    except OSError:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
        return -1
    if pid == 0:  # the child: never returns
        code = 1
        try:
            for s in signals:
                signal.signal(s, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, old)  # a pending signal ends it here
            _signals.pause_for_test("figures-child")  # test hook: the child is drawing
            for name, draw in jobs:
                draw(folder / name)
            code = 0
        except BaseException:  # noqa: BLE001 - the parent redraws what is missing
            code = 1
        finally:
            os._exit(code)
    signal.pthread_sigmask(signal.SIG_SETMASK, old)
    return pid


def _reap(pid: int, kill: bool = False) -> bool:
    """Wait for the child ``pid`` (killing it first with ``kill``, or when the wait itself
    is interrupted); True when it exited with 0."""
    if kill:
        _kill(pid)
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return False
    except BaseException:  # Ctrl-C while waiting: the child must not outlive the staging
        _kill(pid)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        raise
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def write_figures(run: FitRun, folder: Path, *, workers: int = 1) -> list:
    """Save the figures of ``run`` into ``folder``; returns the file names written.

    Parameters
    ----------
    run : FitRun
    folder : Path
        An existing folder (the staging folder of a results folder).
    workers : int
        2: draw the costly share in a forked child process at the same time (Linux; falls
        back to one process when fork is unavailable or the child fails). 1: all here.
    """
    folder = Path(folder)
    jobs = figure_jobs(run)
    if not jobs:
        return []
    child_jobs = [(n, d) for n, d in jobs if n in _CHILD_SHARE]
    mine = [(n, d) for n, d in jobs if n not in _CHILD_SHARE]
    pid = -1
    if workers > 1 and child_jobs and mine and _can_fork():
        import matplotlib.pyplot  # noqa: F401 - once, before the fork: both processes have it

        pid = _fork_child(child_jobs, folder)
    if pid <= 0:
        mine = jobs
    ok = False
    try:
        if pid > 0:
            _signals.pause_for_test("figures")  # test hook: the child is drawing its share
        for name, draw in mine:
            draw(folder / name)
        ok = True
    finally:
        if pid > 0:
            # on an error or interrupt here: stop the child before the staging folder goes
            child_ok = _reap(pid, kill=not ok)
            if ok and not child_ok:
                for name, draw in child_jobs:  # the same figures, drawn here
                    draw(folder / name)
            elif ok:
                missing = [(n, d) for n, d in child_jobs if not (folder / n).is_file()]
                for name, draw in missing:
                    draw(folder / name)
    return [name for name, _ in jobs]
