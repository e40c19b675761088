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
        "force_key": getattr(args, "force_key", None) or "forces",
        "stress_key": getattr(args, "stress_key", None) or "stress",
    }


def _read(path, options: dict, require_energies=True, weighted=True):
    """Read the dataset; ``weighted``: the command uses the weights of the energies (all
    but predict), so all-zero weights are refused naming the input."""
    from .. import _signals
    from ..io import check_weights, read_dataset

    if isinstance(path, (list, tuple)) and len(path) == 1:
        path = path[0]
    _signals.pause_for_test("reading")
    ds = read_dataset(path, require_energies=require_energies, **options)
    if weighted and ds.has_energies:
        shown = " ".join(map(str, path)) if isinstance(path, (list, tuple)) else str(path)
        check_weights(ds.structures, shown)
    return ds


def _sigmas(dataset, args):
    """The expected errors the options give (defaults per :meth:`Sigmas.default_for`)."""
    from ..fitting.targets import Sigmas

    base = Sigmas.default_for(dataset)
    energy = getattr(args, "energy_sigma", None)
    return Sigmas(
        energy=base.energy if energy is None else energy[0],
        energy_per_atom=base.energy_per_atom if energy is None else energy[1],
        forces=getattr(args, "force_sigma", None) or base.forces,
        stress=getattr(args, "stress_sigma", None) or base.stress,
    )


def _plan(dataset, args):
    """What the fit observes (:func:`ljfit.observe.plan`) from the options."""
    from ..observe import plan

    return plan(
        dataset,
        forces=getattr(args, "fit_forces", None),
        stress=getattr(args, "fit_stress", None),
        force_key_explicit=bool(getattr(args, "force_key", None)),
        stress_key_explicit=bool(getattr(args, "stress_key", None)),
        reference_energies=getattr(args, "reference_energies", None) or "auto",
        offset=bool(args.offset),
        sigmas=_sigmas(dataset, args),
    )


def _feature_options(args, scope=None) -> dict:
    """What :func:`ljfit.features.compute_features` needs of the options (and the force and
    stress policy, for featurising in parallel parts)."""
    from ..potentials import parse_potential

    return {
        "kind": "site" if (scope or args.scope or "per-pair") == "per-site" else "pair",
        "potential": parse_potential(args.potential or "lj"),
        "cutoff": args.cutoff,
        "shift": bool(args.shift),
        "forces_policy": getattr(args, "fit_forces", None),
        "stress_policy": getattr(args, "fit_stress", None),
        "force_key_explicit": bool(getattr(args, "force_key", None)),
        "stress_key_explicit": bool(getattr(args, "stress_key", None)),
    }


def _build_model(dataset, args, with_bounds=True, scope=None, fit_plan=None, features=None):
    """The model the options describe (``scope`` overrides ``--scope``), with the force and
    stress rows and reference energies of ``fit_plan`` (default: none of them); from
    ``features`` already computed (in parallel) when given."""
    from ..model import LJModel

    common = dict(
        scope=scope or args.scope or "per-pair",
        mixing=args.mixing or "lorentz-berthelot",
        offset=bool(args.offset),
        reference_energies=fit_plan is not None and fit_plan.fits_e0,
    )
    if features is not None:
        keep_f = fit_plan is not None and bool(fit_plan.forces.any())
        keep_s = fit_plan is not None and bool(fit_plan.stress.any())
        model = LJModel(features.without_forces(keep_f, keep_s), **common)
        model.group_mode = dataset.group_mode
        model.energy = "interaction" if dataset.interaction else "total"
    else:
        model = LJModel(
            dataset,
            potential=args.potential or "lj",
            cutoff=args.cutoff,
            shift=bool(args.shift),
            forces=False if fit_plan is None else fit_plan.forces,
            stress=False if fit_plan is None else fit_plan.stress,
            **common,
        )
    spec = model.spec
    if fit_plan is not None and fit_plan.e0:
        spec = spec.with_fixed({f"e0[{e}]": v for e, v in fit_plan.e0.items()})
    if with_bounds:
        bounds = dict(getattr(args, "bounds", None) or [])
        fixed = dict(getattr(args, "fix", None) or [])
        both = sorted(set(bounds) & set(fixed))
        if both:
            raise FitError(f"--bounds and --fix both name {', '.join(both)}")
        if bounds:
            spec = spec.with_bounds(bounds)
        if fixed:
            spec = spec.with_fixed(fixed)
    if spec is not model.spec:
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


def _input_paths(args, extra=(), every_file: bool = True) -> list:
    """Every path the command reads, for the checks that keep the output away from them.

    The input PATH (a folder: the folder and every entry in it, whose symbolic links the
    checks resolve -- an input file may be a link into the output folder; a glob pattern:
    the files it matches and the folder it looks into), ``--energies-csv``, ``--config``
    and ``extra`` (the params.json of ``predict``); ``~`` expanded.

    ``every_file=False``: of a folder's entries only the symbolic links, for an output
    folder (``fit``): it can hold or lie inside a plain entry only if it holds or lies
    inside the folder, which is protected itself.
    """
    paths = []
    given = getattr(args, "path", None)
    given = list(given) if isinstance(given, (list, tuple)) else [given]
    for p in (*given, getattr(args, "energies_csv", None), getattr(args, "config", None),
              getattr(args, "reference_energies", None), *extra):
        if not p or p in ("fit", "none", "auto"):
            continue
        p = os.path.expanduser(str(p))
        if _glob.has_magic(p):
            paths.extend(_glob.glob(p))
            while _glob.has_magic(p):  # protect the folder the pattern looks into
                p = os.path.dirname(p) or "."
        paths.append(p)
        if os.path.isdir(p):
            try:
                # resolving each of 64 000 plain files, at each of the 5 checks of an
                # output folder, cost 15 s
                with os.scandir(p) as entries:
                    paths.extend(e.path for e in entries if every_file or e.is_symlink())
            except OSError:
                pass  # unreadable: the reader will say so
    return paths
