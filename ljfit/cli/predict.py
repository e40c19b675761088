"""``ljfit predict``: energies of structures with the parameters of a params.json."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

from ..errors import DataError, FitError
from .common import _Captured, _emit_warnings, _read

# ----------------------------------------------------------------------------------------
# predict
# ----------------------------------------------------------------------------------------


def _load_params(path):
    import json

    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("no such file", str(path)) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"not a JSON parameter file ({exc})", str(path)) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("model"), dict) \
            or not isinstance(doc.get("parameters"), dict):
        raise DataError("not an ljfit params.json: needs 'model' and 'parameters'", str(path))
    model = doc["model"]
    if "scope" not in model:
        raise DataError("not an ljfit params.json: the model has no 'scope'", str(path))
    values = doc["parameters"]
    bad = [n for n, v in values.items()
           if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)]
    if bad or not values:
        raise DataError(
            "the parameters are undefined (the fit found no defined optimum): "
            + (", ".join(bad[:6]) or "none given"), str(path))
    return doc


def cmd_predict(args) -> int:
    import numpy as np
    import pandas as pd

    from ..model import LJModel
    from ..report import FLOAT_FORMAT

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
    if args.out and Path(args.out).exists() and not args.force:
        raise DataError("the output file exists; use --force to replace it", args.out)
    with _Captured() as captured:
        ds = _read(args.path, opts, require_energies=False)
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
    _emit_warnings(captured.messages, args.quiet)
    data = {"structure": ds.names, "energy": energies}
    ref = ds.energies
    if np.isfinite(ref).any():
        data["reference"] = ref
    df = pd.DataFrame(data)
    text = df.to_csv(index=False, float_format=FLOAT_FORMAT, na_rep="", lineterminator="\n")
    if args.out:
        out = Path(args.out)
        if out.parent and not out.parent.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.ljfit-tmp")
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, out)
        finally:
            if tmp.exists():
                tmp.unlink()
    else:
        sys.stdout.write(text)
    return 0
