"""The results folder of a fit: tables, JSON documents, LAMMPS input, figures and report.

Files (exactly these names; see :func:`write_results`)
------------------------------------------------------
``parameters.csv``   ``method,name,value,stderr,unit`` (+ ``ci_low,ci_high`` after a
                     bootstrap), one row per method and parameter, empty where undefined
``params.json``      the best fit, reloadable by :meth:`ljfit.LJCalculator.from_file` and
                     ``ljfit predict``
``predictions.csv``  ``structure,reference,<method>...`` (+ ``<method>_cv``), eV
``metrics.json``     dataset, model, per-method metrics, warnings, CV, bootstrap, wall times
``pair.lmp``         pair_style / pair_coeff (/ pair_modify / neigh_modify) lines of the
                     best fit, to include after read_data
``in.lammps``        a complete LAMMPS input: reads ``structure.data``, includes ``pair.lmp``,
                     ``run 0``; its pe is the first structure's prediction (minus the offset)
``structure.data``   the first structure as a LAMMPS data file (ase's write_lammps_data)
``parity.png``, ``residuals.png``, ``potentials.png``, ``correlation.png``,
``profiles.png``     figures (see :mod:`ljfit.plots`)
``report.md``        a readable summary that embeds the figures

Reproducibility: ``parameters.csv``, ``predictions.csv`` and ``params.json`` hold no time,
path of the output or other run-dependent value, so the same inputs and seed give the same
bytes. Every undefined number is an empty CSV cell or a JSON ``null`` (``allow_nan=False``).

Safety: the folder is written into a staging sibling (``.ljfit-new-*``) and swapped into
place atomically only when everything succeeded, under a lock that admits one writer per
folder; an existing non-empty folder is replaced only with ``force=True``, never when it
contains or lies inside an input. See :mod:`ljfit.report.folder` for the guarantees.
"""

from __future__ import annotations

from .figures import write_figures
from .folder import (
    check_output_dir,
    claim_output_dir,
    release_claims,
    staged_folder,
    write_results,
)
from .lammps import (
    AtomTypes,
    LammpsCutoff,
    LammpsExport,
    atom_types,
    in_lammps,
    interaction_reach,
    lammps_cutoff,
    lammps_data,
    lammps_export,
    pair_lmp,
)
from .run import (
    FILES,
    FLOAT_FORMAT,
    MAX_PROFILE_PARAMETERS,
    TIE_RTOL,
    FitRun,
    best_method,
    calculator_groups,
    collect_warnings,
    model_record,
    to_json,
)
from .tables import (
    forces_frame,
    metrics_document,
    parameters_frame,
    params_document,
    predictions_frame,
    stress_frame,
)
from .text import markdown_report, summary_text

__all__ = [
    "FitRun",
    "FILES",
    "FLOAT_FORMAT",
    "MAX_PROFILE_PARAMETERS",
    "TIE_RTOL",
    "collect_warnings",
    "write_figures",
    "best_method",
    "calculator_groups",
    "model_record",
    "parameters_frame",
    "predictions_frame",
    "forces_frame",
    "stress_frame",
    "params_document",
    "metrics_document",
    "AtomTypes",
    "LammpsCutoff",
    "LammpsExport",
    "atom_types",
    "in_lammps",
    "interaction_reach",
    "lammps_cutoff",
    "lammps_data",
    "lammps_export",
    "pair_lmp",
    "markdown_report",
    "summary_text",
    "check_output_dir",
    "claim_output_dir",
    "release_claims",
    "staged_folder",
    "write_results",
    "to_json",
]

