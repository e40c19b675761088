"""The results folder of a fit: tables, JSON documents, LAMMPS input, figures and report.

Files (exactly these names; see :func:`write_results`)
------------------------------------------------------
``parameters.csv``   ``method,name,value,stderr,unit`` (+ ``ci_low,ci_high`` after a
                     bootstrap), one row per method and parameter, empty where undefined
``params.json``      the best fit, reloadable by :meth:`ljfit.LJCalculator.from_file` and
                     ``ljfit predict``
``predictions.csv``  ``structure,reference,<method>...`` (+ ``<method>_cv``), eV
``metrics.json``     dataset, model, per-method metrics, warnings, CV, bootstrap, wall times
``lammps.in``        pair_style / pair_coeff lines of the best fit
``parity.png``, ``residuals.png``, ``potentials.png``, ``correlation.png``,
``profiles.png``     figures (see :mod:`ljfit.plots`)
``report.md``        a readable summary that embeds the figures

Reproducibility: ``parameters.csv``, ``predictions.csv`` and ``params.json`` hold no time,
path of the output or other run-dependent value, so the same inputs and seed give the same
bytes. Every undefined number is an empty CSV cell or a JSON ``null`` (``allow_nan=False``).

Safety: the folder is written into a temporary sibling (``.ljfit-*``) and renamed into place
only when everything succeeded; an existing non-empty folder is replaced only with
``force=True`` (moved aside, the new one renamed in, then the old one deleted).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__
from .errors import DataError, LJFitError

__all__ = [
    "FitRun",
    "FILES",
    "FLOAT_FORMAT",
    "best_method",
    "calculator_groups",
    "model_record",
    "parameters_frame",
    "predictions_frame",
    "params_document",
    "metrics_document",
    "lammps_input",
    "markdown_report",
    "summary_text",
    "check_output_dir",
    "staged_folder",
    "write_results",
    "to_json",
]

#: Every file a results folder can hold.
FILES = (
    "parameters.csv",
    "params.json",
    "predictions.csv",
    "metrics.json",
    "lammps.in",
    "parity.png",
    "residuals.png",
    "potentials.png",
    "correlation.png",
    "profiles.png",
    "report.md",
)
#: printf format of every float in the CSV files (round-trips a double to 15 digits).
FLOAT_FORMAT = "%.15g"
#: Relative cost difference below which two methods tie (the earlier method wins).
TIE_RTOL = 1e-9
#: Profiles are drawn only up to this many free parameters.
MAX_PROFILE_PARAMETERS = 12
#: LAMMPS cutoff (Å) written when the fit used none.
DEFAULT_LAMMPS_CUTOFF = 10.0


@dataclass
class FitRun:
    """Everything a results folder is written from.

    Attributes
    ----------
    dataset : Dataset
    model : LJModel
        The model fitted (its spec holds the bounds and fixed values).
    results : dict of str to FitResult
        In the order the methods ran.
    read_options : dict
        The options the dataset was read with (layout, n_substrate, groups, energy_key,
        energy_unit, energies_csv).
    fit_options : dict
        Seed, loss, regularization, prior... (recorded in metrics.json).
    cv : dict of str to CVResult, optional
    cv_k : int or str, optional
    bootstrap : BootstrapResult, optional
    bootstrap_method : str, optional
    profiles : dict of str to Profile, optional
    notes : list of str
        Warnings of the run beyond those of the fits (python warnings, skipped steps).
    wall_time : float
        Seconds, whole run (metrics.json only).
    t0 : float, optional
        ``time.perf_counter()`` at the start of the run: when set, the wall time in
        metrics.json is measured up to the moment it is written (figures included).
    """

    dataset: object
    model: object
    results: dict
    read_options: dict = field(default_factory=dict)
    fit_options: dict = field(default_factory=dict)
    cv: dict | None = None
    cv_k: object = None
    bootstrap: object = None
    bootstrap_method: str | None = None
    profiles: dict | None = None
    notes: list = field(default_factory=list)
    wall_time: float = 0.0
    t0: float | None = None

    @property
    def best(self) -> str | None:
        return best_method(self.results)

    @property
    def best_result(self):
        b = self.best
        return None if b is None else self.results[b]

    def all_warnings(self) -> list:
        return collect_warnings(self.results, self.notes, self.cv)


# ----------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------


def _num(v):
    """A finite float, or None."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _clean(obj):
    """Plain JSON data: numpy → Python, NaN/inf → None, tuples → lists, keys → str."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_clean(v) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _num(obj)
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "to_dict"):
        return _clean(obj.to_dict())
    return str(obj)


def to_json(obj) -> str:
    """Indented JSON text of ``obj`` after :func:`_clean`; never NaN or inf."""
    return json.dumps(_clean(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def best_method(results: dict) -> str | None:
    """The method with the lowest cost among results that succeeded and have defined
    parameters; costs within a relative :data:`TIE_RTOL` (or at round-off level of the
    reference energies) tie and the earlier method wins.
    ``None`` when no result qualifies."""
    ok = [(m, r) for m, r in results.items() if r.success and r.defined and np.isfinite(r.cost)]
    if not ok:
        return None
    low = min(r.cost for _, r in ok)
    # an exact fit: costs at round-off level of the energies (residuals ~1e-9 relative) tie
    y = np.asarray(ok[0][1].predictions, float) - np.asarray(ok[0][1].residuals, float)
    floor = 1e-18 * 0.5 * float(np.sum(y[np.isfinite(y)] ** 2))
    for m, r in ok:
        if r.cost <= low + TIE_RTOL * abs(low) + floor:
            return m
    return None  # pragma: no cover


def collect_warnings(results: dict, notes=(), cv=None) -> list:
    """Warnings of every fit (identical texts merged, prefixed with their methods), then
    those of the cross-validation, then the run's notes."""
    merged: dict[str, list] = {}
    for m, r in results.items():
        for w in r.warnings:
            merged.setdefault(w, []).append(m)
    out = [f"{', '.join(ms)}: {w}" for w, ms in merged.items()]
    for m, c in (cv or {}).items():
        out += [f"{m} (cross-validation): {w}" for w in getattr(c, "warnings", [])]
    out += list(notes)
    return list(dict.fromkeys(out))


def calculator_groups(dataset) -> str | None:
    """How :func:`ljfit.io.groups_for_atoms` splits one structure as the reader did:
    ``"first:N"`` for the substrate/surface layout (N = substrate size, when it is the same
    in every structure), else the dataset's group mode (``"tags"``, ``"all"``,
    ``"first:N"``, ``"array:NAME"``, ``"fragments"``); None when no single rule exists."""
    mode = dataset.group_mode or ("all" if not dataset.interaction else "")
    if mode == "seed":
        sizes = {int(np.sum(s.groups == 0)) for s in dataset}
        return f"first:{sizes.pop()}" if len(sizes) == 1 else None
    return mode or None


def model_record(model, dataset, read_options: dict) -> dict:
    """``model.describe()`` plus the reading options needed to rebuild the model."""
    rec = dict(model.describe())
    rec["group_mode"] = rec.get("groups")
    rec["groups"] = calculator_groups(dataset)
    rec["layout"] = dataset.layout
    n_sub = read_options.get("n_substrate")
    if n_sub is None and dataset.layout == "seed" and rec["groups"]:
        n_sub = int(rec["groups"].split(":", 1)[1])
    rec["n_substrate"] = n_sub
    rec["read_groups"] = read_options.get("groups") or "auto"
    rec["energy_key"] = read_options.get("energy_key") or "energy"
    rec["energy_unit"] = dataset.energy_unit
    return rec


# ----------------------------------------------------------------------------------------
# tables and documents
# ----------------------------------------------------------------------------------------


def parameters_frame(run: FitRun):
    """Long table ``method,name,value,stderr,unit`` (+ ``ci_low,ci_high``)."""
    import pandas as pd

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
    df = pd.DataFrame(rows, columns=cols)
    for c in cols:
        if c not in ("method", "name", "unit"):
            df[c] = df[c].astype(float)
    return df


def predictions_frame(run: FitRun):
    """``structure,reference,<method>...`` (+ ``<method>_cv``), eV."""
    import pandas as pd

    data = {"structure": run.dataset.names, "reference": run.dataset.energies}
    for m, r in run.results.items():
        data[m] = np.asarray(r.predictions, dtype=float)
    for m, c in (run.cv or {}).items():
        data[f"{m}_cv"] = np.asarray(c.predictions, dtype=float)
    df = pd.DataFrame(data)
    for c in df.columns[1:]:
        df[c] = df[c].where(np.isfinite(df[c]), np.nan)
    return df


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
        )
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
        "warnings": run.all_warnings(),
        "best_method": run.best,
        "options": dict(run.fit_options),
        "methods": methods,
    }
    if run.cv is not None:
        doc["cv"] = {m: c.to_dict() for m, c in run.cv.items()}
    if run.bootstrap is not None:
        doc["bootstrap"] = run.bootstrap.to_dict()
    if run.profiles:
        doc["profiles"] = {n: p.to_dict() for n, p in run.profiles.items()}
    wall = run.wall_time if run.t0 is None else time.perf_counter() - run.t0
    doc["wall_time_s"] = float(wall)
    return doc


# ----------------------------------------------------------------------------------------
# LAMMPS
# ----------------------------------------------------------------------------------------


def _g(v: float) -> str:
    return f"{v:.10g}"


def lammps_input(model, values: dict | None, dataset=None) -> str:
    """LAMMPS lines (units metal: eV, Å) for the pair potential with ``values``.

    Atom types are numbered by element, alphabetically (per-site: one type per site, then
    the group-B elements). Pairs the fit has no parameter for get zero coefficients, with a
    comment saying so.
    """
    from .params import resolve_pair

    pot = model.potential
    mie = not pot.is_lj
    rc = model.cutoff
    lines = ["# LAMMPS pair potential fitted by ljfit " + __version__, "units metal"]
    if rc is None:
        lines.append(
            f"# the fit used no cutoff; {DEFAULT_LAMMPS_CUTOFF:g} Å below is a default, "
            "pairs beyond it are dropped"
        )
    rc_txt = _g(rc if rc is not None else DEFAULT_LAMMPS_CUTOFF)
    lines.append(f"pair_style {'mie/cut' if mie else 'lj/cut'} {rc_txt}")
    if model.shift:
        lines.append("pair_modify shift yes")
    defined = values is not None and all(
        v is not None and np.isfinite(v) for v in values.values()
    )
    if values is None or not defined:
        lines.append("# no fit with defined parameters: no pair_coeff lines written")
        return "\n".join(lines) + "\n"
    elements = list(dataset.elements) if dataset is not None else list(model.elements)

    def coeff(i, j, eps, sig, note=""):
        extra = f" {_g(pot.n)} {_g(pot.m)}" if mie else ""
        return f"pair_coeff {i} {j} {_g(eps)} {_g(sig)}{extra}{note}"

    zero = "0.0 1.0" + (f" {_g(pot.n)} {_g(pot.m)}" if mie else "")
    fitted, unfitted = [], []
    if model.scope == "per-site":
        sites = list(model.features.slots)
        site_el = list(model.features.site_elements or ["?"] * len(sites))
        b_el = (dataset.group_elements(1) if dataset is not None and dataset.interaction
                else elements)
        lines += [
            "# per-site parameters: every site of group A (the substrate, in file order) has",
            "# its own epsilon and sigma, so LAMMPS needs one atom type per site: give site k",
            f"# type k+1 (types 1..{len(sites)}) and the group-B atoms the element types after",
            "# them. Atom types:",
        ]
        site_type, el_type = {}, {}
        for k, (s, el) in enumerate(zip(sites, site_el), start=1):
            site_type[s] = k
            lines.append(f"#   type {k} = site {s} ({el})")
        for k, el in enumerate(b_el, start=len(sites) + 1):
            el_type[el] = k
            lines.append(f"#   type {k} = {el} (group B)")
        lines.append("# site parameters (site: epsilon eV, sigma Å):")
        for s in sites:
            eps, sig = resolve_pair("per-site", model.mixing, values, s)
            lines.append(f"#   site {s}: {_g(eps)} {_g(sig)}")
            for el in b_el:
                fitted.append((site_type[s], el_type[el], eps, sig, f"site {s} - {el}"))
        unfitted.append("pairs within group A or within group B")
    else:
        lines.append("# atom types (alphabetical by element):")
        for k, el in enumerate(elements, start=1):
            lines.append(f"#   type {k} = {el}")
        if model.scope == "per-element":
            lines.append(f"# per-element parameters mixed by the {model.mixing} rule")
        if dataset is not None and dataset.interaction:
            lines.append(
                "# the fit used interaction energies between groups A and B only: pairs "
                "within a group were not part of it"
            )
        slots = set(model.features.labels)
        for a in range(len(elements)):
            for b in range(a, len(elements)):
                pair = (elements[a], elements[b])
                label = "-".join(pair)
                if model.scope == "per-pair" and label not in slots:
                    unfitted.append(label)
                    continue
                try:
                    eps, sig = resolve_pair(model.scope, model.mixing, values, pair)
                except LJFitError:  # an element without parameters
                    unfitted.append(label)
                    continue
                fitted.append((a + 1, b + 1, eps, sig, label))
    if unfitted:
        lines.append(f"# not fitted, set to zero: {', '.join(unfitted)}")
        lines.append(f"pair_coeff * * {zero}")
    for i, j, eps, sig, label in fitted:
        lines.append(coeff(i, j, eps, sig, f"  # {label}"))
    if model.offset and values.get("offset") is not None:
        lines.append(
            f"# the fitted constant energy offset {_g(values['offset'])} eV is not part of "
            "the pair potential"
        )
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------
# text: report.md and the terminal summary
# ----------------------------------------------------------------------------------------


def _fmt(v, digits=6) -> str:
    v = _num(v)
    return "—" if v is None else f"{v:.{digits}g}"


def _md_table(header, rows) -> list:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def markdown_report(run: FitRun, figures=()) -> str:
    """``report.md``: dataset, model, parameters with uncertainties, metrics, warnings,
    cross-validation, bootstrap, figures. No times (they are in metrics.json)."""
    ds, model, spec = run.dataset, run.model, run.model.spec
    best = run.best
    lines = [f"# ljfit report: {ds.name}", ""]
    lines += ["## Dataset", "", "```", ds.describe(), "```", ""]
    rec = model_record(model, ds, run.read_options)
    lines += ["## Model", ""]
    pot = model.potential
    lines += _md_table(
        ["setting", "value"],
        [
            ["scope", rec["scope"]],
            ["mixing", rec["mixing"] or "—"],
            ["potential", f"{pot.name} (n = {pot.n:g}, m = {pot.m:g})"],
            ["cutoff", "none" if rec["cutoff"] is None else f"{rec['cutoff']:g} Å"],
            ["shift", "yes" if rec["shift"] else "no"],
            ["offset", "fitted" if rec["offset"] else "no"],
            ["energy", rec["energy"]],
            ["groups", rec["groups"] or rec["group_mode"] or "—"],
            ["slots", ", ".join(map(str, rec["slots"]))],
            ["free parameters", f"{model.n_free} (structures: {len(ds)})"],
            ["seed", run.fit_options.get("seed")],
        ],
    )
    lines.append("")
    fixed = [p for p in spec if not p.vary]
    if fixed:
        lines += ["Fixed: " + ", ".join(f"{p.name} = {_g(p.value)} {p.unit}" for p in fixed), ""]

    lines += ["## Best fit", ""]
    if best is None:
        lines += [
            "**No method succeeded with defined parameters**: `params.json` holds no usable "
            "parameters. See the warnings below.",
            "",
        ]
    else:
        res = run.results[best]
        det = "determined" if res.determined else "**underdetermined** (see warnings)"
        lines += [f"Method **{best}** (lowest cost), {det}.", ""]
        boot = run.bootstrap if run.bootstrap_method == best else None
        header = ["parameter", "value", "std. error", "unit"]
        if boot is not None:
            lev = getattr(boot, "level", 0.95)
            header += [f"bootstrap {100 * float(lev):g}% interval"]
        rows = []
        for p in spec:
            row = [f"`{p.name}`", _fmt(res.params.get(p.name), 8),
                   "fixed" if not p.vary else _fmt(res.stderr.get(p.name), 3), p.unit]
            if boot is not None:
                lo, hi = _num(boot.ci_low.get(p.name)), _num(boot.ci_high.get(p.name))
                row.append("—" if lo is None or hi is None else f"[{lo:.6g}, {hi:.6g}]")
            rows.append(row)
        lines += _md_table(header, rows) + [""]

    lines += ["## Parameters by method", ""]
    methods = list(run.results)
    rows = [[f"`{p.name}`", p.unit] + [_fmt(run.results[m].params.get(p.name), 7)
                                        for m in methods] for p in spec]
    lines += _md_table(["parameter", "unit"] + methods, rows) + [""]

    lines += ["## Metrics per method", ""]
    rows = []
    for m, r in run.results.items():
        rows.append([
            m + (" (best)" if m == best else ""),
            _fmt(r.cost, 4), _fmt(1000 * r.rmse, 4), _fmt(1000 * r.mae, 4),
            _fmt(1000 * r.max_abs_error, 4), _fmt(r.r2, 6), r.nfev,
            "yes" if r.success else "**no**",
            "**yes**" if r.underdetermined else "no",
        ])
    lines += _md_table(
        ["method", "cost (eV²)", "RMSE (meV)", "MAE (meV)", "max abs. error (meV)", "R²",
         "nfev", "converged", "underdetermined"],
        rows,
    ) + [""]
    for m, r in run.results.items():
        if r.message:
            lines.append(f"- {m}: {r.message}")
    lines.append("")

    warns = run.all_warnings()
    lines += ["## Warnings", ""]
    lines += [f"- {w}" for w in warns] if warns else ["None."]
    lines.append("")

    if run.cv is not None:
        lines += [f"## Cross-validation ({run.cv_k}{'-fold' if run.cv_k != 'loo' else ''})", ""]
        rows = [[m, _fmt(1000 * c.rmse, 4), _fmt(1000 * c.mae, 4),
                 _fmt(1000 * c.train_rmse, 4), "; ".join(c.warnings) or "—"]
                for m, c in run.cv.items()]
        lines += _md_table(
            ["method", "held-out RMSE (meV)", "held-out MAE (meV)", "training RMSE (meV)",
             "warnings"], rows) + [""]
        lines += ["Held-out predictions are the `<method>_cv` columns of `predictions.csv`.", ""]

    if run.bootstrap is not None:
        b = run.bootstrap
        lines += [f"## Bootstrap ({run.bootstrap_method})", ""]
        rows = [[f"`{n}`", _fmt(b.mean.get(n), 7), _fmt(b.std.get(n), 3),
                 _fmt(b.ci_low.get(n), 7), _fmt(b.ci_high.get(n), 7)] for n in b.names]
        lines += _md_table(["parameter", "mean", "std", "ci_low", "ci_high"], rows) + [""]

    if figures:
        lines += ["## Figures", ""]
        for name in figures:
            stem = Path(name).stem
            lines += [f"![{stem}]({name})", ""]
    lines += ["## Files", "",
              "- `parameters.csv`: every method's parameters (long format)",
              "- `params.json`: the best fit, for `ljfit predict` and `LJCalculator.from_file`",
              "- `predictions.csv`: reference and predicted energies (eV)",
              "- `metrics.json`: metrics, warnings, options and wall times",
              "- `lammps.in`: LAMMPS pair_style / pair_coeff lines of the best fit", ""]
    return "\n".join(lines)


def summary_text(run: FitRun, out=None) -> str:
    """A short table for the terminal: per-method cost and RMSE, the best parameters,
    warnings and the output folder."""
    ds, model = run.dataset, run.model
    lines = [
        f"{ds.name}: {len(ds)} structures, {', '.join(ds.elements)}; model {model.scope} "
        f"{model.potential.name}, {model.n_free} free parameters",
        "",
        f"{'method':<16s} {'cost (eV²)':>12s} {'RMSE (meV)':>11s} {'R²':>9s}  status",
    ]
    best = run.best
    for m, r in run.results.items():
        status = "ok" if r.success else "not converged"
        if not r.defined:
            status = "undefined parameters"
        elif r.underdetermined:
            status += ", underdetermined"
        if m == best:
            status += "  <- best"
        lines.append(f"{m:<16s} {_fmt(r.cost, 4):>12s} {_fmt(1000 * r.rmse, 4):>11s} "
                     f"{_fmt(r.r2, 5):>9s}  {status}")
    lines.append("")
    if best is None:
        lines.append("no method succeeded with defined parameters")
    else:
        res = run.results[best]
        boot = run.bootstrap if run.bootstrap_method == best else None
        lines.append(f"best fit ({best}):")
        for p in model.spec:
            v = res.params.get(p.name)
            se = _num(res.stderr.get(p.name)) if p.vary else None
            se_txt = "(fixed)" if not p.vary else ("" if se is None else f"± {se:.3g}")
            ci = ""
            if boot is not None and p.vary:
                lo, hi = _num(boot.ci_low.get(p.name)), _num(boot.ci_high.get(p.name))
                ci = "" if lo is None or hi is None else f"  [{lo:.6g}, {hi:.6g}]"
            lines.append(f"  {p.name:<22s} {_fmt(v, 8):>14s} {se_txt:<12s} {p.unit}{ci}")
        if boot is not None:
            lev = 100 * float(getattr(boot, "level", 0.95))
            lines.append(f"  (in brackets: bootstrap {lev:g}% interval, {boot.n} resamples, "
                         f"{getattr(boot, 'n_failed', 0)} failed)")
    if run.cv is not None:
        lines.append("")
        lines.append(f"cross-validation ({run.cv_k}): " + ", ".join(
            f"{m} {_fmt(1000 * c.rmse, 4)} meV" for m, c in run.cv.items()))
    warns = run.all_warnings()
    if warns:
        lines += ["", "warnings:"] + [f"  - {w}" for w in warns]
    if out is not None:
        lines += ["", f"results written to {out}{os.sep}"]
    return "\n".join(lines)


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
    from . import plots

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
        m, n = int(np.count_nonzero(run.dataset.weights > 0)), best.x.size
        threshold = best.cost / (m - n) if m > n else None
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
    """
    out = Path(out)
    with staged_folder(out, force=force, protect=protect) as tmp:
        _write_text(tmp / "parameters.csv", _csv_text(parameters_frame(run)))
        _write_text(tmp / "predictions.csv", _csv_text(predictions_frame(run)))
        doc = params_document(run)
        _write_text(tmp / "params.json", to_json(doc))
        _write_text(tmp / "lammps.in",
                    lammps_input(run.model, doc["parameters"] if doc["method"] else None,
                                 run.dataset))
        figures = write_figures(run, tmp) if plots else []
        _write_text(tmp / "report.md", markdown_report(run, figures))
        _write_text(tmp / "metrics.json", to_json(metrics_document(run)))
    return out
