"""The results folder on disk: checks, atomic staging, figures, and the whole write."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from .lammps import lammps_export
from .run import FitRun, to_json
from .tables import (
    _csv_text,
    metrics_document,
    parameters_frame,
    params_document,
    predictions_frame,
)
from .text import markdown_report

# ----------------------------------------------------------------------------------------
# the folder
# ----------------------------------------------------------------------------------------


def _inside(a: Path, b: Path) -> bool:
    """True when ``a`` is ``b`` or inside it."""
    return a == b or b in a.parents


def check_output_dir(out, force: bool = False, protect=()) -> Path:
    """Refuse an output folder that exists and is not empty (unless ``force``), that is
    not a folder, or (with ``force``) that holds one of the ``protect`` paths (the input
    data) or the working directory."""
    out = Path(out)
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise DataError("the output path exists and is not a folder", str(out))
        if any(out.iterdir()):
            if not force:
                raise DataError(
                    "the output folder exists and is not empty; use --force to replace it "
                    "or --out to choose another",
                    str(out),
                )
            real = out.resolve()
            for p in [Path.cwd(), *map(Path, protect)]:
                if _inside(Path(os.path.abspath(p)).resolve(), real):
                    raise DataError(
                        f"refusing to replace this folder: it holds {p} (input data or the "
                        "working directory)",
                        str(out),
                    )
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def staged_folder(out, force: bool = False, protect=()):
    """Yield a temporary folder beside ``out``; on success rename it to ``out`` (replacing
    an old ``out`` only with ``force``), on any exception (KeyboardInterrupt too) delete it
    and leave ``out`` untouched."""
    out = Path(out)
    check_output_dir(out, force, protect)
    parent = out.parent if str(out.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=".ljfit-"))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        check_output_dir(out, force, protect)  # again: it may have appeared meanwhile
        if out.exists() and not any(out.iterdir()):
            out.rmdir()
        if out.exists():
            holder = Path(tempfile.mkdtemp(dir=parent, prefix=".ljfit-old-"))
            old = holder / "old"
            os.rename(out, old)
            try:
                os.rename(tmp, out)
            except BaseException:
                os.rename(old, out)
                raise
            shutil.rmtree(holder, ignore_errors=True)
        else:
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_text(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def write_figures(run: FitRun, folder: Path) -> list:
    """Save the figures of a run into ``folder``; returns the file names written."""
    from .. import plots

    written = []
    res = run.results
    ref = run.dataset.energies
    preds = {m: r.predictions for m, r in res.items()}
    ax = plots.parity(reference=ref, predictions=preds, title=f"parity: {run.dataset.name}")
    plots.save(ax, folder / "parity.png")
    written.append("parity.png")
    ax = plots.residuals(reference=ref, predictions=preds,
                         title=f"residuals: {run.dataset.name}")
    plots.save(ax, folder / "residuals.png")
    written.append("residuals.png")
    best = run.best_result
    if best is None:
        # the lowest-cost result with defined parameters, if any, still shows the curves
        cand = [r for r in res.values() if r.defined]
        best_for_curves = min(cand, key=lambda r: r.cost) if cand else None
    else:
        best_for_curves = best
    if best_for_curves is not None:
        ax = plots.potentials(run.model, best_for_curves.x,
                              title=f"fitted pair potentials ({best_for_curves.method})")
        plots.save(ax, folder / "potentials.png")
        written.append("potentials.png")
    if best is not None and best.correlation is not None:
        ax = plots.correlation(best.correlation, best.names,
                               title=f"parameter correlations ({best.method})")
        plots.save(ax, folder / "correlation.png")
        written.append("correlation.png")
    if run.profiles:
        # Δcost of one standard error: Δχ²/2 = 1/2 with absolute sigmas, else s²/2
        threshold = 0.5 if best.absolute_sigma else best.reduced_chi2 / 2
        threshold = threshold if np.isfinite(threshold) else None
        fig = plots.profiles(run.profiles, title=f"cost profiles ({run.best})",
                             threshold=threshold)
        plots.save(fig, folder / "profiles.png")
        written.append("profiles.png")
    return written


def write_results(run: FitRun, out, *, force: bool = False, plots: bool = True,
                  protect=()) -> Path:
    """Write the whole results folder of ``run`` to ``out`` atomically.

    Parameters
    ----------
    run : FitRun
    out : str or Path
        The folder; refused when it exists and is not empty, unless ``force``.
    force : bool
    plots : bool
        Write the PNG figures (and embed them in report.md).
    protect : sequence of paths
        Paths ``out`` must never contain when replaced (the input data).

    Returns
    -------
    Path
        ``out``.

    Notes
    -----
    Warnings of the LAMMPS export (a cutoff that drops pairs the fit counted) are appended
    to ``run.notes`` before report.md and metrics.json are written.
    """
    out = Path(out)
    with staged_folder(out, force=force, protect=protect) as tmp:
        _write_text(tmp / "parameters.csv", _csv_text(parameters_frame(run)))
        _write_text(tmp / "predictions.csv", _csv_text(predictions_frame(run)))
        doc = params_document(run)
        _write_text(tmp / "params.json", to_json(doc))
        lmp = lammps_export(run)
        for name, text in lmp.files.items():  # pair.lmp, in.lammps, structure.data
            _write_text(tmp / name, text)
        # its warnings (a cutoff that drops pairs of the fit) join the run's, so that
        # report.md, metrics.json and the console summary (printed after) all show them
        run.notes.extend(w for w in lmp.warnings if w not in run.notes)
        figures = write_figures(run, tmp) if plots else []
        _write_text(tmp / "report.md", markdown_report(run, figures))
        _write_text(tmp / "metrics.json", to_json(metrics_document(run)))
    return out
