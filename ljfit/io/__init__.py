"""Read reference structures and energies from files into a :class:`~ljfit.dataset.Dataset`.

This package is the only part of ljfit that imports :mod:`ase.io`. Two layouts are understood:

``"seed"`` -- the substrate/surface folder
    For every number N, ``p_N.xyz`` is a standard XYZ file (count line, comment line, atom
    lines) holding the *substrate* atoms; the second whitespace-separated token of its comment
    line is the reference energy (``energy -0.19085``). ``p_N_extended.xyz`` is headerless,
    one ``Symbol x y z`` line per atom, the substrate atoms first (the same atoms as in
    ``p_N.xyz``), then the *surface* atoms. The energy is the interaction energy between
    the two groups. Both files are parsed here in plain Python (fast, with exact line
    numbers in error messages).

``"ase"`` -- anything :func:`ase.io.read` reads (extended XYZ first)
    A file, a glob pattern or a folder. When ``path`` is a folder, the files read are its
    regular, non-hidden files (no recursion) whose extension (after an optional ``.gz``,
    ``.bz2`` or ``.xz``) is one of :data:`FOLDER_EXTENSIONS`, plus files named
    ``POSCAR*``/``CONTCAR*``, in natural order (``a2`` before ``a10``). Everything else --
    ``energies.csv``, ``truth.json``, ``README``, ``.txt``, ``.json``, ``.log`` ... -- is
    ignored. To read another kind of file, name it or use a glob pattern: a file or pattern
    is handed to ASE whatever its extension.

Energies are converted to eV (:data:`ENERGY_UNITS`); every malformed input raises
:class:`~ljfit.errors.DataError` naming the file and line (or ``file[frame]``).
"""

from __future__ import annotations

import glob as _glob
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..dataset import Dataset
from ..errors import DataError
from .asefiles import read_ase_files
from .common import MAX_COORDINATE, POSITION_TOLERANCE, find_duplicate_atoms
from .energies_csv import read_energies_csv, read_energies_table
from .groups import FRAGMENT_BOND_SCALE, assign_groups, groups_for_atoms, parse_groups
from .paths import (
    FOLDER_EXTENSIONS,
    _folder_structure_files,
    _has_seed_files,
    _resolve_path,
    structure_files,
)
from .seed import _names as _seed_names
from .seed import _read_seed_folder, list_seed_folder, listing_block
from .units import ENERGY_UNITS, canonical_unit, energy_factor

__all__ = [
    "ENERGY_UNITS",
    "FOLDER_EXTENSIONS",
    "FRAGMENT_BOND_SCALE",
    "POSITION_TOLERANCE",
    "read_dataset",
    "read_energies_csv",
    "read_energies_table",
    "energy_factor",
    "canonical_unit",
    "parse_groups",
    "groups_for_atoms",
    "assign_groups",
    "find_duplicate_atoms",
    "structure_files",
]


# -- the public entry point ------------------------------------------------------------------


def check_coordinates(structures) -> None:
    """Refuse atoms or cell vectors beyond ±:data:`MAX_COORDINATE` Å (a corrupted number,
    like 1e308, that would overflow every distance), naming the structure's file."""
    if not structures:
        return
    # one pass over all coordinates at once; the structure is looked for only on failure
    everything = np.concatenate([np.asarray(st.positions).ravel() for st in structures]
                                + [np.asarray(st.cell).ravel() for st in structures])
    if not np.any(np.abs(everything) > MAX_COORDINATE):
        return
    for st in structures:
        for what, arr in (("atom", st.positions), ("cell vector", st.cell)):
            bad = np.flatnonzero(np.any(np.abs(arr) > MAX_COORDINATE, axis=1))
            if bad.size:
                i = int(bad[0])
                value = float(np.max(np.abs(arr[i])))
                raise DataError(
                    f"{what} {i + 1} has a coordinate of magnitude {value:.3g} Å; beyond "
                    f"±{MAX_COORDINATE:g} Å it is no atomic structure (a corrupted number?)",
                    st.source or st.name,
                )


def check_weights(structures, display: str) -> None:
    """Refuse structures that all have weight 0: nothing to fit. Checked where the file is
    known (the fitter can only say "the weights")."""
    if structures and all(st.weight == 0 for st in structures):
        raise DataError(
            f"every structure has weight 0 (info['weight'] of all {len(structures)}), so "
            "there is nothing to fit; give at least one structure a positive weight",
            display,
        )


def read_dataset(
    path,
    *,
    layout: str = "auto",
    n_substrate: int | None = None,
    groups: str = "auto",
    energy_key: str = "energy",
    energy_unit: str = "eV",
    energies_csv=None,
    index=":",
    require_energies: bool = True,
    force_key: str = "forces",
    stress_key: str = "stress",
    part: tuple | None = None,
    decisions: dict | None = None,
) -> Dataset:
    """Read structures and reference energies into a :class:`~ljfit.dataset.Dataset`.

    Parameters
    ----------
    path : str or Path, or a list of them
        A folder, a file, or a glob pattern (``"runs/*.extxyz"``); several are read one
        after another into one dataset (names that clash are prefixed with their path).
    layout : {"auto", "seed", "ase"}
        ``"auto"``: ``"seed"`` when ``path`` is a folder holding ``p_*_extended.xyz`` files,
        else ``"ase"``. See the module docstring for both layouts and the folder rule.
    n_substrate : int, optional
        Number of substrate (group A) atoms at the start of every structure. Seed layout:
        overrides the count line of ``p_N.xyz``. ASE layout: same as ``groups="first:N"``.
    groups : str
        How atoms are split into group A (0) and group B (1) -- see
        :func:`groups_for_atoms`. ``"auto"`` in the ASE layout decides once for the whole
        dataset: ``"tags"`` when any atom of any structure has a non-zero tag, else
        ``"all"`` (total energies). The seed layout accepts ``"auto"``/``"seed"`` and
        ``"first:N"`` (as ``n_substrate``).
    energy_key : str
        ASE layout: the energy is ``atoms.info[energy_key]``, else the result of that name
        of the attached calculator (ASE turns ``energy=`` in an extxyz comment into a
        calculator result). Not used by the seed layout.
    energy_unit : str
        Unit of the energies in the files or CSV (see :data:`ENERGY_UNITS`); they are
        converted to eV, and the dataset records this unit.
    energies_csv : str or Path, optional
        CSV file with columns ``name,energy`` (and optionally ``weight``); when given (or,
        in the ASE layout, when the folder holds ``energies.csv``) it is the only source of
        energies. A structure is matched by its name (file stem, ``stem[k]`` for frame k of
        a multi-frame file, or ``info['name']``) or by its file name with extension
        (``file.xyz`` or ``file.xyz[k]``).
    index : str, int or slice
        Frames of each file to read, as for :func:`ase.io.read` (``":"``: all,
        ``"-1"``: the last, ``"0:10:2"``). Frames keep their number in the file in the
        names. Seed layout: must be ``":"``.
    require_energies : bool
        When False (structures read for prediction), a missing energy becomes ``nan``.
    force_key : str
        ASE layout: reference forces are the calculator result or per-atom array of this
        name (eV/Å in the energy unit of the file per Å); absent → the structure has none.
    stress_key : str
        ASE layout: the reference stress is the calculator result or ``info`` entry of this
        name (3×3 or Voigt 6, ASE's sign), else ``info['virial']`` as −virial/volume.
    part : (k, n), optional
        Read only the k-th of n contiguous blocks of the structures (parallel reading, see
        :mod:`ljfit.parallel`); ``decisions`` (a dict) then receives what the block saw of
        the data-wide rules (names, tags).

    Returns
    -------
    Dataset
        Energies in eV, positions in Å.

    Raises
    ------
    DataError
        For every malformed or inconsistent input, naming the file and line or frame.
    """
    if isinstance(path, (list, tuple)):
        options = dict(layout=layout, n_substrate=n_substrate, groups=groups,
                       energy_key=energy_key, energy_unit=energy_unit,
                       energies_csv=energies_csv, index=index,
                       require_energies=require_energies, force_key=force_key,
                       stress_key=stress_key)
        return _read_several([str(p) for p in path], options)
    plan = _plan_read(path, layout=layout, n_substrate=n_substrate, groups=groups,
                      energy_key=energy_key, energy_unit=energy_unit,
                      energies_csv=energies_csv, index=index,
                      require_energies=require_energies, force_key=force_key,
                      stress_key=stress_key)
    if part is not None:
        plan = _plan_part(plan, *part)
    return _read_planned(plan, decisions)


@dataclass(frozen=True)
class _ReadPlan:
    """What :func:`read_dataset` decides before it reads a structure: the options checked,
    the layout resolved, the energies CSV parsed and, for the substrate/surface layout,
    the p_N files listed (``listing``, see :func:`~ljfit.io.seed.list_seed_folder`).

    Parallel reading (:mod:`ljfit.parallel`) plans once on the client and hands every
    part its slice (:func:`_split`), so that the parts neither list the folder again nor
    decide anything the client already did; :func:`_read_planned` reads one.
    """

    display: str
    folder: Path | None
    files: list = field(repr=False)
    layout: str
    unit: str
    factor: float
    n_substrate: int | None
    groups: str
    energy_key: str
    index: object
    require_energies: bool
    force_key: str
    stress_key: str
    csv_name: str = ""
    # (no repr of the tables: 32 000 entries each)
    csv_energies: dict | None = field(default=None, repr=False)
    csv_weights: dict | None = field(default=None, repr=False)
    # seed: (numbers, {N: p_N.xyz}, {N: p_N_extended.xyz})
    listing: tuple | None = field(default=None, repr=False)
    part: tuple | None = None  # (k, n): the k-th of n blocks of the structures


def _plan_read(path, *, layout="auto", n_substrate=None, groups="auto", energy_key="energy",
               energy_unit="eV", energies_csv=None, index=":", require_energies=True,
               force_key="forces", stress_key="stress") -> _ReadPlan:
    """Check the options of :func:`read_dataset` and decide what to read (in this order,
    so that the first problem is the one reported, serially or in parallel)."""
    unit = canonical_unit(energy_unit)
    factor = ENERGY_UNITS[unit]
    layout = str(layout).strip().lower()
    if layout not in ("auto", "seed", "ase"):
        raise DataError(f"unknown layout {layout!r}; valid: auto, seed, ase")
    if n_substrate is not None:
        integer = isinstance(n_substrate, (int, np.integer)) and not isinstance(n_substrate, bool)
        if not integer or n_substrate < 1:
            raise DataError(f"n_substrate must be a positive integer, got {n_substrate!r}")
        n_substrate = int(n_substrate)
    display = str(path)
    folder, files = _resolve_path(display)
    if layout == "auto":
        layout = "seed" if folder is not None and _has_seed_files(folder) else "ase"

    csv_name = str(energies_csv) if energies_csv is not None else ""
    if not csv_name and layout == "ase" and folder is not None:
        if (folder / "energies.csv").is_file():
            csv_name = str(folder / "energies.csv")
    csv_energies, csv_weights = read_energies_table(csv_name) if csv_name else (None, None)

    mode, arg = parse_groups(groups)
    listing = None
    if layout == "seed":
        if folder is None:
            raise DataError(
                "the substrate/surface ('seed') layout needs a folder of p_N.xyz and "
                "p_N_extended.xyz files",
                display,
            )
        if not (index == slice(None) or str(index).strip() == ":"):
            raise DataError(
                f"index={index!r} selects frames of ASE files; the substrate/surface layout "
                "reads every p_N"
            )
        if mode == "first":
            if n_substrate is not None and n_substrate != arg:
                raise DataError(f"n_substrate={n_substrate} contradicts groups={groups!r}")
            n_substrate = arg
        elif mode not in ("auto", "seed"):
            raise DataError(
                f"groups={groups!r} does not apply to the substrate/surface layout, whose "
                "groups are the substrate (p_N.xyz) and the surface atoms; use 'auto', "
                "'seed' or 'first:N'",
                display,
            )
        listing = list_seed_folder(folder, display, n_substrate, csv_energies is not None,
                                   require_energies)
    else:
        if folder is not None:
            files = _folder_structure_files(folder, display)
        if n_substrate is not None:
            if mode == "auto":
                groups = f"first:{n_substrate}"
            elif not (mode == "first" and arg == n_substrate):
                raise DataError(f"n_substrate={n_substrate} contradicts groups={groups!r}")
    return _ReadPlan(
        display=display, folder=folder, files=files, layout=layout, unit=unit, factor=factor,
        n_substrate=n_substrate, groups=groups, energy_key=energy_key, index=index,
        require_energies=require_energies, force_key=force_key, stress_key=stress_key,
        csv_name=csv_name, csv_energies=csv_energies, csv_weights=csv_weights,
        listing=listing)


def _plan_part(plan: _ReadPlan, k: int, n: int) -> _ReadPlan:
    """The plan of the k-th of n contiguous parts of ``plan``'s structures: a block of the
    p_N files (seed), of the files, or of the frames of a single file (ase)."""
    if plan.layout != "seed":
        return replace(plan, part=(k, n))
    block = listing_block(plan.listing, k, n)
    if plan.csv_energies is None:
        return replace(plan, listing=block, part=(k, n))
    # the CSV rows this block's structures look up, not all of them for every part
    numbers, subs, exts = _seed_names(block)
    keys = set()
    for m in numbers:
        name = subs.get(m, f"p_{m}.xyz")[:-4]
        keys.update((name, f"{name}.xyz", exts[m][:-4], exts[m]))
    rows = {key: plan.csv_energies[key] for key in keys if key in plan.csv_energies}
    weights = None
    if plan.csv_weights is not None:
        weights = {key: plan.csv_weights[key] for key in keys if key in plan.csv_weights}
    return replace(plan, listing=block, part=(k, n), csv_energies=rows, csv_weights=weights)


def _split(plan: _ReadPlan, n_parts: int) -> list:
    """``plan`` cut into at most ``n_parts`` parts (fewer when it holds fewer p_N pairs,
    files, or frames of its one file)."""
    if plan.layout == "seed":
        n = len(plan.listing[0])
    elif len(plan.files) >= n_parts:
        n = n_parts
    elif len(plan.files) == 1 and plan.files[0].suffix.lower() in (".xyz", ".extxyz"):
        n = _frames_in(plan.files[0], plan.display, plan.index)
    else:
        n = len(plan.files)
    n = max(1, min(n_parts, n))
    return [_plan_part(plan, k, n) for k in range(n)]


def _frames_in(path: Path, display: str, index=":") -> int:
    """Frames of one XYZ file that ``index`` selects, by its count lines; 1 when the file
    or the selection is odd in any way (its one part then reads it as the serial reader
    does, and fails with the same words)."""
    from .common import read_regular_file
    from .frames import _select_frames, scan_xyz

    try:
        n = len(scan_xyz(read_regular_file(path, display), display))
        return max(1, len(_select_frames(n, index, display)))
    except (DataError, OSError):
        return 1


def _read_planned(plan: _ReadPlan, decisions: dict | None = None) -> Dataset:
    """Read what ``plan`` (:func:`_plan_read`, or a part of it) names into a Dataset."""
    folder, files, display = plan.folder, plan.files, plan.display
    if plan.layout == "seed":
        structures = _read_seed_folder(
            folder, display, plan.n_substrate, plan.csv_energies, plan.csv_name,
            plan.factor, plan.require_energies, listing=plan.listing,
        )
        group_mode = "seed"
        if plan.csv_weights is not None:
            structures = [s.with_weight(plan.csv_weights.get(s.name, s.weight))
                          for s in structures]
        # no check_coordinates: both seed readers refuse coordinates beyond the limit,
        # naming the file and line, and a seed structure has no cell
    else:
        structures, group_mode = read_ase_files(
            files,
            display,
            named_by_file=folder is not None or len(files) > 1 or _glob.has_magic(display),
            groups=plan.groups,
            energy_key=plan.energy_key,
            factor=plan.factor,
            csv_energies=plan.csv_energies,
            csv_name=plan.csv_name,
            index=plan.index,
            require_energies=plan.require_energies,
            force_key=plan.force_key,
            stress_key=plan.stress_key,
            csv_weights=plan.csv_weights,
            part=plan.part,
            decisions=decisions,
        )
        check_coordinates(structures)
    # a part may hold only structures of weight 0: the caller checks the joined whole
    if plan.require_energies and plan.part is None:
        check_weights(structures, display)
    return Dataset(
        structures, path=display, layout=plan.layout, energy_unit=plan.unit,
        group_mode=group_mode, name=_dataset_name(display, folder, files),
    )


def _dataset_name(display: str, folder, files) -> str:
    """A folder's name; a file's stem; for a glob pattern the stem of its one file, or the
    stems' common part, or else the folder the pattern looks into."""
    import os

    if folder is not None:
        return os.path.basename(os.path.normpath(str(folder))) or "dataset"
    stems = [Path(f).name.split(".")[0] for f in files]
    if len(stems) == 1:
        return stems[0]
    common = os.path.commonprefix(stems).rstrip("_-. ")
    if common:
        return common
    parent = os.path.basename(os.path.normpath(os.path.dirname(str(files[0])) or "."))
    return parent if parent not in ("", ".", "..") else "dataset"


def _read_several(paths: list, options: dict) -> Dataset:
    """Each path read on its own, the structures joined (clashing names prefixed)."""
    if not paths:
        raise DataError("no input path given")
    parts = [read_dataset(p, **options) for p in paths]
    kinds = {d.interaction for d in parts}
    if len(kinds) > 1:
        first = next(d for d in parts if d.interaction)
        other = next(d for d in parts if not d.interaction)
        raise DataError(
            f"{first.path} has interaction energies (two groups) but {other.path} total "
            "energies; read them separately or set --groups")
    seen: dict = {}
    for d in parts:
        for s in d:
            seen[s.name] = seen.get(s.name, 0) + 1
    labels = _path_labels(paths)
    structures = []
    for d, label in zip(parts, labels):
        for s in d:
            if seen[s.name] > 1:
                from dataclasses import replace

                s = replace(s, name=f"{label}/{s.name}")
            structures.append(s)
    layouts = {d.layout for d in parts}
    modes = {d.group_mode for d in parts}
    shown = " ".join(paths[:3]) + (f" (+{len(paths) - 3} more)" if len(paths) > 3 else "")
    return Dataset(structures, path=shown, layout=layouts.pop() if len(layouts) == 1 else
                   "mixed", energy_unit=parts[0].energy_unit,
                   group_mode=modes.pop() if len(modes) == 1 else "mixed",
                   name=_several_name([d.name for d in parts]))


def _path_labels(paths) -> list:
    """What tells the paths apart: each path relative to their common folder, without
    extensions (``x/run.extxyz``, ``y/run.extxyz`` → ``x``, ``y`` when the stems agree)."""
    import os

    absolute = [os.path.abspath(os.path.expanduser(p)) for p in paths]
    root = os.path.commonpath(absolute) if len(absolute) > 1 else os.path.dirname(absolute[0])
    rel = [os.path.relpath(p, root) for p in absolute]
    stems = [Path(r).parent.as_posix() if Path(r).parent.as_posix() != "." else
             Path(r).name.split(".")[0] for r in rel]
    return stems if len(set(stems)) == len(stems) else [r.replace(os.sep, "/") for r in rel]


def _several_name(names) -> str:
    """The common part of the datasets' names, or the first."""
    import os

    names = list(names)
    common = os.path.commonprefix(names).rstrip("_-. ")
    return common or names[0]


