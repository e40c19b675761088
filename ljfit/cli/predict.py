"""``ljfit predict``: energies of structures with the parameters of a params.json."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import DataError, FitError
from .common import _Captured, _emit_warnings, _input_paths, _read

# ----------------------------------------------------------------------------------------
# predict
# ----------------------------------------------------------------------------------------


def _load_params(path):
    """The validated params.json (:func:`ljfit.paramsfile.load_params`)."""
    from ..paramsfile import load_params

    return load_params(path)


def _check_out_file(out: str, inputs) -> None:
    """``--out`` of predict is a file that is none of the inputs (compared after ``~`` and
    with every symbolic link resolved), whatever ``--force`` says."""
    real = os.path.realpath(os.path.expanduser(out))
    if os.path.isdir(real):
        raise DataError("the output path is a folder; --out names the CSV file to write", out)
    for p in inputs:
        if os.path.realpath(p) == real:
            raise DataError(f"refusing to write the predictions over an input file ({p})", out)


def _write_file(out: str, text: str) -> None:
    """Write ``text`` to ``out`` atomically: a uniquely named temporary file beside it,
    fsync'ed, then renamed over it (a reader, or a concurrent run, never sees half a file;
    an interrupt or a full disk leaves the old file as it was)."""
    import tempfile

    path = Path(os.path.expanduser(out))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:100]}.",
                                   suffix=".ljfit-tmp")
    except OSError as exc:
        raise DataError(f"cannot write the output file ({exc.strerror or exc})", out) from None
    try:
        with open(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        raise DataError(f"cannot write the output file ({exc.strerror or exc}); nothing "
                        "was changed", out) from None
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def predictions_text(names, energies, references) -> str:
    """The CSV ``structure,energy`` (+ ``reference`` when any is known), as
    ``pandas.DataFrame.to_csv(index=False, float_format=FLOAT_FORMAT, na_rep="",
    lineterminator="\\n")`` writes it, without importing pandas (0.12 s; see
    :func:`ljfit.report.tables._csv_of`)."""
    import numpy as np

    from ..report.tables import _csv_of, _float_cells, _text_cells

    header, columns = ["structure", "energy"], [_text_cells(names),
                                                 _float_cells(np.asarray(energies).tolist())]
    ref = np.asarray(references, dtype=float)
    if np.isfinite(ref).any():
        header.append("reference")
        columns.append(_float_cells(ref.tolist()))
    return _csv_of(header, columns)


def cmd_predict(args) -> int:
    import numpy as np

    from ..model import LJModel

    doc = _load_params(args.params)
    rec = doc["model"]
    layout = args.layout
    if layout is None:  # the recorded layout, where it can read PATH
        recorded = rec.get("layout")
        folder = Path(os.path.expanduser(str(args.path[0])))
        seed_ok = (recorded == "seed" and folder.is_dir()
                   and any(folder.glob("p_*_extended.xyz")))
        layout = recorded if recorded == "ase" or seed_ok else "auto"
    opts = {
        "layout": layout,
        "n_substrate": args.n_substrate,
        "groups": args.groups or rec.get("groups") or rec.get("read_groups") or "auto",
        "energy_key": args.energy_key or rec.get("energy_key") or "energy",
        "energy_unit": args.energy_unit or rec.get("energy_unit") or "eV",
        "energies_csv": args.energies_csv,
        "force_key": args.force_key or "forces",
        "stress_key": args.stress_key or "stress",
    }
    shown = " ".join(map(str, args.path))
    if args.out:
        _check_out_file(args.out, _input_paths(args, extra=[args.params]))
        if os.path.lexists(os.path.expanduser(args.out)) and not args.force:
            raise DataError("the output file exists; use --force to replace it", args.out)
    with _Captured() as captured:
        ds = _read(args.path, opts, require_energies=False, weighted=False)
        if ds.interaction != (rec.get("energy", "interaction") == "interaction"):
            raise DataError(
                f"the parameters were fitted to {rec.get('energy')} energies but these "
                f"structures have {'two groups' if ds.interaction else 'no groups'}; set "
                "--groups", shown)
        try:
            model = LJModel(
                ds, scope=rec["scope"], mixing=rec.get("mixing") or "lorentz-berthelot",
                potential=rec.get("potential") or "lj", cutoff=rec.get("cutoff"),
                shift=bool(rec.get("shift")), offset=bool(rec.get("offset")),
                reference_energies=bool(rec.get("reference_energies")),
            )
        except FitError as exc:
            raise DataError(str(exc), shown) from None
        values = doc["parameters"]
        missing = [n for n in model.spec.names if n not in values]
        if missing:
            raise DataError(
                f"{args.params} has no parameter {', '.join(missing[:6])} needed by these "
                "structures (element pairs, sites or elements the fit did not see)", shown)
        energies = model.energies({n: float(values[n]) for n in model.spec.names})
        bad = np.flatnonzero(~np.isfinite(energies))
        if bad.size:  # never write inf or NaN
            raise DataError(
                f"the parameters give a non-finite energy ({energies[bad[0]]}) for structure "
                f"{ds.names[bad[0]]!r}{f' and {bad.size - 1} more' if bad.size > 1 else ''} "
                "(an overflow: parameters out of any physical range, or atoms on top of "
                "each other)", str(args.params))
    _emit_warnings(captured.messages, args.quiet)
    text = predictions_text(ds.names, energies, ds.energies)
    if args.out:
        _write_file(args.out, text)
    else:
        sys.stdout.write(text)
    return 0
