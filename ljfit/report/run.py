"""What a results folder is written from (:class:`FitRun`) and the small helpers every writer shares."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Every file a results folder can hold.
FILES = (
    "parameters.csv",
    "params.json",
    "predictions.csv",
    "predictions_forces.csv",
    "predictions_stress.csv",
    "metrics.json",
    "pair.lmp",
    "in.lammps",
    "structure.data",
    "parity.png",
    "parity_forces.png",
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
        Seed, loss, priors, absolute_sigma... (recorded in metrics.json).
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
    plan : FitPlan, optional
        The observables fitted, their sigmas and the reference energies
        (:func:`ljfit.observe.plan`).
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
    plan: object = None

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
    low = min(r.objective for _, r in ok)  # data cost + prior terms: what the fits minimise
    # an exact fit: costs at round-off level of the energies (residuals ~1e-9 relative) tie
    y = np.asarray(ok[0][1].predictions, float) - np.asarray(ok[0][1].residuals, float)
    floor = 1e-18 * 0.5 * float(np.sum(y[np.isfinite(y)] ** 2))
    for m, r in ok:
        if r.objective <= low + TIE_RTOL * abs(low) + floor:
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
        sizes = {int(np.sum(s.groups == 0)) for s in dataset._distinct_layouts()}
        return f"first:{sizes.pop()}" if len(sizes) == 1 else None
    return mode or None


def prior_lines(run) -> list:
    """One ``name = value ± width unit`` per Gaussian prior of the run (empty without)."""
    spec = run.model.spec
    return [f"{n} = {float(v):g} ± {float(w):g} {spec[n].unit if n in spec else ''}".rstrip()
            for n, (v, w) in (run.fit_options.get("priors") or {}).items()]


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
    rec["force_key"] = read_options.get("force_key") or "forces"
    rec["stress_key"] = read_options.get("stress_key") or "stress"
    rec["energy_unit"] = dataset.energy_unit
    return rec
