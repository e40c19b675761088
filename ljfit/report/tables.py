"""The tables and JSON documents of a results folder: parameters.csv, predictions.csv, params.json, metrics.json."""

from __future__ import annotations

import csv
import io
import time

import numpy as np

from .. import __version__
from .run import FLOAT_FORMAT, FitRun, _clean, _num, model_record

# ----------------------------------------------------------------------------------------
# tables and documents
# ----------------------------------------------------------------------------------------


def _parameter_rows(run: FitRun) -> tuple:
    """(columns, rows as dicts) of parameters.csv; see :func:`parameters_frame`."""
    spec = run.model.spec
    boot = run.bootstrap
    rows = []
    for method, res in run.results.items():
        for p in spec:
            value = _num(res.params.get(p.name))
            se = _num(res.stderr.get(p.name)) if p.vary else None
            row = {"method": method, "name": p.name, "value": value, "stderr": se,
                   "unit": p.unit}
            if boot is not None:
                mine = method == run.bootstrap_method
                row["ci_low"] = _num(boot.ci_low.get(p.name)) if mine else None
                row["ci_high"] = _num(boot.ci_high.get(p.name)) if mine else None
            rows.append(row)
    cols = ["method", "name", "value", "stderr", "unit"]
    if boot is not None:
        cols += ["ci_low", "ci_high"]
    return cols, rows


#: the text columns of parameters.csv (the others are numbers)
_PARAMETER_TEXT = ("method", "name", "unit")


def parameters_frame(run: FitRun):
    """Long table ``method,name,value,stderr,unit`` (+ ``ci_low,ci_high``)."""
    import pandas as pd

    cols, rows = _parameter_rows(run)
    df = pd.DataFrame(rows, columns=cols)
    for c in cols:
        if c not in _PARAMETER_TEXT:
            df[c] = df[c].astype(float)
    return df


def parameters_csv(run: FitRun) -> str:
    """parameters.csv: the text ``_csv_text(parameters_frame(run))`` is, without pandas
    (see :func:`_csv_of`)."""
    cols, rows = _parameter_rows(run)
    cells = [_text_cells([r[c] for r in rows]) if c in _PARAMETER_TEXT
             else _float_cells([r[c] for r in rows]) for c in cols]
    return _csv_of(cols, cells)


def _prediction_columns(run: FitRun) -> dict:
    """{column: values} of predictions.csv; see :func:`predictions_frame`."""
    data = {"structure": run.dataset.names, "reference": run.dataset.energies}
    for m, r in run.results.items():
        data[m] = np.asarray(r.predictions, dtype=float)
    for m, c in (run.cv or {}).items():
        data[f"{m}_cv"] = np.asarray(c.predictions, dtype=float)
    return data


def predictions_frame(run: FitRun):
    """``structure,reference,<method>...`` (+ ``<method>_cv``), eV."""
    import pandas as pd

    df = pd.DataFrame(_prediction_columns(run))
    for c in df.columns[1:]:
        df[c] = df[c].where(np.isfinite(df[c]), np.nan)
    return df


def predictions_csv(run: FitRun) -> str:
    """predictions.csv: the text ``_csv_text(predictions_frame(run))`` is, without pandas
    (see :func:`_csv_of`); values that are not finite are empty cells, as there."""
    data = _prediction_columns(run)
    names = list(data)
    cells = [_text_cells(data[names[0]])]
    for c in names[1:]:
        v = np.asarray(data[c], dtype=float)
        cells.append(_float_cells(np.where(np.isfinite(v), v, np.nan).tolist()))
    return _csv_of(names, cells)


# parameters.csv and predictions.csv are written without pandas: importing it costs
# 0.12-0.18 s, most of what writing a results folder of a linear fit takes, for two tables of
# a few thousand cells. _csv_of writes the bytes DataFrame.to_csv(index=False,
# float_format=FLOAT_FORMAT, na_rep="", lineterminator="\n") writes -- pandas hands its
# cells, each number as FLOAT_FORMAT % value and every missing one as na_rep, to the
# standard library's csv.writer with the same dialect -- and a test compares the two on
# every kind of run (methods, bootstrap, cross-validation, names that need quoting,
# missing and infinite values). The DataFrames stay the tables of the Python API; the
# large force and stress tables have their own writer, rows_csv, tested the same way.


def _float_cells(values) -> list:
    """Cells of a number column: ``FLOAT_FORMAT % v``, empty for a missing value (None,
    NaN)."""
    return ["" if v is None or v != v else FLOAT_FORMAT % v for v in values]


def _text_cells(values) -> list:
    """Cells of a text column: the string, empty for a missing value (None, NaN)."""
    return ["" if v is None or (isinstance(v, float) and v != v) else str(v) for v in values]


def _csv_of(header, columns) -> str:
    """CSV text of a header and columns of cells (strings), in pandas' ``to_csv`` dialect
    (``,``, minimal quoting with ``"`` doubled, ``\\n`` line ends)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(zip(*columns))
    return buf.getvalue()


_COMPONENTS = np.array(["x", "y", "z"])
_VOIGT = np.array(["xx", "yy", "zz", "yz", "xz", "xy"])


def forces_frame(run: FitRun):
    """``structure,atom,element,component,reference,<method>...`` of every fitted force
    component (eV/Å; ``atom`` is the 0-based index in its structure), or None when no forces
    were fitted."""
    return _rows_frame(run, "forces")


def stress_frame(run: FitRun):
    """``structure,component,reference,<method>...`` of every fitted stress component
    (eV/Å³, Voigt xx yy zz yz xz xy), or None."""
    return _rows_frame(run, "stress")


def _rows_columns(run, kind, text=None):
    """{column: array} of predictions_forces.csv / predictions_stress.csv (non-finite
    numbers as NaN), or None when no row of that kind was fitted. ``text``, if given, maps
    each distinct text value (structure names, element symbols, components) before the
    values are repeated over the rows."""
    text = text or (lambda v: v)
    f = run.model.features
    per = f.force_rows if kind == "forces" else f.stress_rows
    have = np.flatnonzero(per)
    if not len(have):
        return None
    names = np.array([text(run.dataset.names[k]) for k in have], dtype=object)
    data = {"structure": np.repeat(names, per[have])}
    if kind == "forces":
        n_atoms = f.n_atoms[have]
        atoms = np.concatenate([np.arange(n) for n in n_atoms])
        data["atom"] = np.repeat(atoms, 3)
        symbols = np.concatenate([np.asarray(run.dataset[int(k)].symbols, dtype=object)
                                  for k in have])
        distinct = {e: text(e) for e in set(symbols.tolist())}
        data["element"] = np.repeat(np.array([distinct[e] for e in symbols], dtype=object), 3)
        data["component"] = np.tile(np.array([text(c) for c in _COMPONENTS], dtype=object),
                                    int(n_atoms.sum()))
    else:
        data["component"] = np.tile(np.array([text(c) for c in _VOIGT], dtype=object),
                                    len(have))
    sl = run.model.row_slices()[kind]
    refs = [getattr(run.dataset[int(k)], kind) for k in have]
    data["reference"] = np.concatenate([np.full(n, np.nan) if r is None else np.ravel(r)
                                        for r, n in zip(refs, per[have])])
    for m, r in run.results.items():
        o = r.observed.get(kind)
        data[m] = np.asarray(o["predictions"], dtype=float) if o else np.full(sl.stop - sl.start,
                                                                              np.nan)
    for c in list(data)[list(data).index("reference"):]:
        v = np.asarray(data[c], dtype=float)
        data[c] = np.where(np.isfinite(v), v, np.nan)
    return data


def _rows_frame(run, kind):
    data = _rows_columns(run, kind)
    if data is None:
        return None
    import pandas as pd  # only for the Python API's table

    return pd.DataFrame(data)


def rows_csv(run: FitRun, kind: str) -> str | None:
    """predictions_forces.csv (``kind="forces"``) or predictions_stress.csv: the text
    ``_csv_text(forces_frame(run))`` / ``stress_frame`` is, without pandas, or None.

    These tables have a row per force (stress) component -- 3 N per structure -- so their
    cells are made column by column with C-level ``map`` calls: pandas formats each number
    through a Python function (2.1 s of a 4.5 s fit of 4000 32-atom cells with forces).
    Text cells are quoted once per distinct value (before they are repeated over the rows),
    as ``csv.writer`` quotes them.
    """
    data = _rows_columns(run, kind, text=_quoted)
    if data is None:
        return None
    cols = []
    for v in data.values():
        if v.dtype == object:  # text, quoted already
            cells = v.tolist()
        elif v.dtype.kind in "iu":
            cells = list(map(str, v.tolist()))
        elif np.isnan(v).any():
            cells = _float_cells(v.tolist())
        else:
            cells = list(map(FLOAT_FORMAT.__mod__, v.tolist()))
        cols.append(cells)
    header = ",".join(_quoted(str(c)) for c in data)
    return header + "\n" + "\n".join(map(",".join, zip(*cols))) + "\n"


def _quoted(text) -> str:
    """One cell as ``csv.writer`` (the dialect of :func:`_csv_of`) writes it in a row of
    several: its own quoting rules (which characters need quotes differs between Python
    versions), applied once per distinct value."""
    text = "" if text is None or (isinstance(text, float) and text != text) else str(text)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([text, ""])
    return buf.getvalue()[:-2]  # without the empty second cell's "," and the "\n"


def _csv_text(df) -> str:
    return df.to_csv(index=False, float_format=FLOAT_FORMAT, na_rep="", lineterminator="\n")


def params_document(run: FitRun) -> dict:
    """The best fit as ``params.json`` holds it (no times or output paths)."""
    best = run.best
    res = run.results.get(best) if best else None
    spec = run.model.spec
    params = {p.name: (_num(res.params.get(p.name)) if res else None) for p in spec}
    stderr = {
        p.name: (_num(res.stderr.get(p.name)) if res is not None and p.vary else None)
        for p in spec
    }
    doc = {
        "ljfit_version": __version__,
        "model": model_record(run.model, run.dataset, run.read_options),
        "method": best,
        "parameters": params,
        "stderr": stderr,
        "fixed": [p.name for p in spec if not p.vary],
        "seed": run.fit_options.get("seed"),
    }
    priors = run.fit_options.get("priors")
    if priors:  # every Gaussian prior the fit used: [value, width] in the parameter's unit
        doc["priors"] = {n: [float(v), float(w)] for n, (v, w) in priors.items()}
    if res is not None:
        if res.at_bound:
            doc["at_bound"] = dict(res.at_bound)
        if res.undetermined:
            # the values above are one point of what the data allow (they predict the same
            # energies); these names are not determined by the data
            doc["undetermined"] = list(res.undetermined)
        if res.determined_combinations:
            doc["determined_combinations"] = {
                c["name"]: {"formula": c["formula"], "value": _num(c["value"]),
                            "stderr": _num(c["stderr"]), "unit": c["unit"]}
                for c in res.determined_combinations}
    if run.bootstrap is not None and best == run.bootstrap_method:
        doc["ci_low"] = {n: _num(run.bootstrap.ci_low.get(n)) for n in spec.names}
        doc["ci_high"] = {n: _num(run.bootstrap.ci_high.get(n)) for n in spec.names}
    return doc


def metrics_document(run: FitRun) -> dict:
    """``metrics.json``: dataset, model, per-method metrics, warnings, CV, bootstrap, times."""
    best = run.best_result
    methods = {}
    for m, r in run.results.items():
        d = r.metrics()
        d.update(
            underdetermined=bool(r.underdetermined),
            defined=bool(r.defined),
            jac_rank=int(r.jac_rank),
            jac_condition=_num(r.jac_condition),
            warnings=list(r.warnings),
            notes=list(r.notes),
            at_bound=dict(r.at_bound),
            undetermined=list(r.undetermined),
            absolute_sigma=bool(r.absolute_sigma),
        )
        if "per_pair_lower_bound" in r.extra:
            d["per_pair_lower_bound"] = _num(r.extra["per_pair_lower_bound"])
        if "cone" in r.extra:  # the bounded linear solve: how the certificate was reached
            d["cone"] = _clean(r.extra["cone"])
        if r.extra.get("loss") not in (None, "linear"):  # a robust loss and its scale
            d.update(loss=r.extra["loss"], f_scale=_num(r.extra.get("f_scale")),
                     f_scale_source=r.extra.get("f_scale_source"))
        methods[m] = d
    ds = dict(run.dataset.summary())
    doc = {
        "ljfit_version": __version__,
        "dataset": ds,
        "model": model_record(run.model, run.dataset, run.read_options),
        "n_free_parameters": int(run.model.n_free),
        "free_parameters": list(run.model.spec.free_names),
        "fixed_parameters": {p.name: p.value for p in run.model.spec if not p.vary},
        "bounds": {p.name: [_num(p.lower), _num(p.upper)] for p in run.model.spec if p.vary},
        "determined": bool(best is not None and best.determined),
        "status": best.status if best is not None else "no usable fit",
        "warnings": run.all_warnings(),
        "best_method": run.best,
        "options": dict(run.fit_options),
        "methods": methods,
    }
    if run.plan is not None:
        doc["observables"] = run.plan.describe(run.dataset)
    if run.cv is not None:
        doc["cv"] = {m: c.to_dict() for m, c in run.cv.items()}
    if run.bootstrap is not None:
        doc["bootstrap"] = run.bootstrap.to_dict()
    if run.profiles:
        doc["profiles"] = {n: p.to_dict() for n, p in run.profiles.items()}
    wall = run.wall_time if run.t0 is None else time.perf_counter() - run.t0
    doc["wall_time_s"] = float(wall)
    return doc
