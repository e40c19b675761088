"""Steps every command shares: reading, building the model, warnings, output paths."""

from __future__ import annotations

import glob as _glob
import os
import re
import sys
import warnings
from pathlib import Path

from ..errors import FitError

# ----------------------------------------------------------------------------------------
# shared steps
# ----------------------------------------------------------------------------------------


def _reading_options(args) -> dict:
    return {
        "layout": args.layout or "auto",
        "n_substrate": args.n_substrate,
        "groups": args.groups or "auto",
        "energy_key": args.energy_key or "energy",
        "energy_unit": args.energy_unit or "eV",
        "energies_csv": args.energies_csv,
    }


def _read(path, options: dict, require_energies=True, weighted=True):
    """Read the dataset; ``weighted``: the command uses the weights of the energies (all
    but predict), so all-zero weights are refused naming the input."""
    from .. import _signals
    from ..io import check_weights, read_dataset

    _signals.pause_for_test("reading")
    ds = read_dataset(path, require_energies=require_energies, **options)
    if weighted and ds.has_energies:
        check_weights(ds.structures, str(path))
    return ds


def _build_model(dataset, args, with_bounds=True, scope=None):
    """The model the options describe (``scope`` overrides ``--scope``)."""
    from ..model import LJModel

    model = LJModel(
        dataset,
        scope=scope or args.scope or "per-pair",
        mixing=args.mixing or "lorentz-berthelot",
        potential=args.potential or "lj",
        cutoff=args.cutoff,
        shift=bool(args.shift),
        offset=bool(args.offset),
    )
    if with_bounds:
        spec = model.spec
        bounds = dict(getattr(args, "bounds", None) or [])
        fixed = dict(getattr(args, "fix", None) or [])
        both = sorted(set(bounds) & set(fixed))
        if both:
            raise FitError(f"--bounds and --fix both name {', '.join(both)}")
        if bounds:
            spec = spec.with_bounds(bounds)
        if fixed:
            spec = spec.with_fixed(fixed)
        if bounds or fixed:
            model = model.with_spec(spec)
    from .. import _signals

    _signals.pause_for_test("fitting")  # test hook: features computed, the fits come next
    return model


def _warning_text(w) -> str:
    """One line: the message, and for anything but a UserWarning its category and origin
    (a numerical RuntimeWarning means little without them)."""
    text = " ".join(str(w.message).split())
    if issubclass(w.category, UserWarning) and w.category is UserWarning:
        return text
    where = f"{Path(w.filename).parent.name}/{Path(w.filename).name}:{w.lineno}"
    return f"{w.category.__name__} in {where}: {text}"


class _Captured:
    """Collect Python warnings raised while running a command (existing filters apply)."""

    def __enter__(self):
        self._cm = warnings.catch_warnings(record=True)
        self.records = self._cm.__enter__()
        return self

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)

    @property
    def messages(self) -> list:
        return list(dict.fromkeys(_warning_text(w) for w in self.records))


def _emit_warnings(messages, quiet):
    if not quiet:
        for m in messages:
            print(f"ljfit: warning: {m}", file=sys.stderr)


def _default_out(dataset) -> Path:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", dataset.name).strip("._") or "dataset"
    return Path("results") / name


def _input_paths(args, extra=()) -> list:
    """Every path the command reads, for the checks that keep the output away from them.

    The input PATH (a folder: the folder and every entry in it, whose symbolic links the
    checks resolve -- an input file may be a link into the output folder; a glob pattern:
    the files it matches and the folder it looks into), ``--energies-csv``, ``--config``
    and ``extra`` (the params.json of ``predict``); ``~`` expanded.
    """
    paths = []
    for p in (getattr(args, "path", None), getattr(args, "energies_csv", None),
              getattr(args, "config", None), *extra):
        if not p:
            continue
        p = os.path.expanduser(str(p))
        if _glob.has_magic(p):
            paths.extend(_glob.glob(p))
            while _glob.has_magic(p):  # protect the folder the pattern looks into
                p = os.path.dirname(p) or "."
        paths.append(p)
        if os.path.isdir(p):
            try:
                with os.scandir(p) as entries:
                    paths.extend(e.path for e in entries)
            except OSError:
                pass  # unreadable: the reader will say so
    return paths
