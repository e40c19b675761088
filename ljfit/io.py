"""Read reference structures and energies from files into a :class:`~ljfit.dataset.Dataset`.

This is the only module of ljfit that imports :mod:`ase.io`. Two layouts are understood:

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

import csv
import glob as _glob
import math
import os
import re
import warnings
from pathlib import Path
from typing import Sequence

import ase.io
import numpy as np
from ase import Atoms, units
from ase.data import chemical_symbols
from ase.io.formats import string2index

from .dataset import GROUP_A, GROUP_B, MIN_DISTANCE, Dataset, Structure
from .errors import DataError

__all__ = [
    "ENERGY_UNITS",
    "FOLDER_EXTENSIONS",
    "FRAGMENT_BOND_SCALE",
    "POSITION_TOLERANCE",
    "read_dataset",
    "read_energies_csv",
    "energy_factor",
    "canonical_unit",
    "parse_groups",
    "groups_for_atoms",
    "assign_groups",
    "find_duplicate_atoms",
    "structure_files",
]

# -- units -----------------------------------------------------------------------------------

#: Factor converting one unit of energy to eV, by canonical unit name.
ENERGY_UNITS: dict[str, float] = {
    "eV": 1.0,
    "kcal/mol": units.kcal / units.mol,
    "kJ/mol": units.kJ / units.mol,
    "Ha": units.Hartree,
}

_UNIT_ALIASES: dict[str, str] = {
    **{name.lower(): name for name in ENERGY_UNITS},
    "electronvolt": "eV",
    "electronvolts": "eV",
    "kcal": "kcal/mol",
    "kcalmol": "kcal/mol",
    "kcal_mol": "kcal/mol",
    "kcal/mole": "kcal/mol",
    "kcalmol-1": "kcal/mol",
    "kcalpermol": "kcal/mol",
    "kj": "kJ/mol",
    "kjmol": "kJ/mol",
    "kj_mol": "kJ/mol",
    "kj/mole": "kJ/mol",
    "kjmol-1": "kJ/mol",
    "kjpermol": "kJ/mol",
    "hartree": "Ha",
    "hartrees": "Ha",
    "eh": "Ha",
}


def canonical_unit(unit: str) -> str:
    """Canonical name (a key of :data:`ENERGY_UNITS`) of an energy unit.

    Parameters
    ----------
    unit : str
        ``"eV"``, ``"kcal/mol"``, ``"kJ/mol"`` or ``"Ha"``, or an alias, case-insensitive
        (``"ev"``, ``"kcal"``, ``"kj/mol"``, ``"hartree"``, ``"Eh"`` ...).

    Returns
    -------
    str

    Raises
    ------
    DataError
        Unknown unit; the message lists the valid ones.
    """
    key = re.sub(r"[\s·*]+", "", str(unit)).lower()
    try:
        return _UNIT_ALIASES[key]
    except KeyError:
        raise DataError(
            f"unknown energy unit {unit!r}; valid units: {', '.join(ENERGY_UNITS)} "
            "(case-insensitive; also 'kcal', 'kj', 'hartree')"
        ) from None


def energy_factor(unit: str) -> float:
    """Factor that converts an energy in ``unit`` to eV (``E_eV = factor * E_unit``).

    Parameters
    ----------
    unit : str
        See :func:`canonical_unit`.

    Returns
    -------
    float
        eV per ``unit``; e.g. 0.0433641 for kcal/mol.
    """
    return ENERGY_UNITS[canonical_unit(unit)]


# -- small helpers ---------------------------------------------------------------------------

_ELEMENTS = frozenset(chemical_symbols[1:])  # 'X' (dummy, Z = 0) is not an element

#: Largest difference (Å) between a substrate atom of ``p_N.xyz`` and of ``p_N_extended.xyz``.
POSITION_TOLERANCE = 1e-4

#: Extensions read from a folder in the ``"ase"`` layout (compressed variants too).
FOLDER_EXTENSIONS = (
    "xyz", "extxyz", "traj", "db", "cif", "pdb", "vasp", "poscar", "xsf", "gro",
    "g96", "castep", "cell", "geom", "pwi", "pwo", "nwo", "gjf", "cube", "car", "arc",
    "con", "res", "shelx", "mol", "sdf", "cjson", "xtl", "rmc6f",
)  # fmt: skip
_COMPRESSION = ("gz", "bz2", "xz")
_VASP_NAMES = re.compile(r"^(POSCAR|CONTCAR)", re.IGNORECASE)

_SEED_SUB = re.compile(r"^p_(\d+)\.xyz$")
_SEED_EXT = re.compile(r"^p_(\d+)_extended\.xyz$")


def _natural_key(text: str) -> list:
    """Sort key that orders digit runs numerically (``p_9`` before ``p_10``)."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(text))]


def _unknown_symbol_message(symbol: str) -> str:
    hint = ""
    if symbol.capitalize() in _ELEMENTS and symbol != symbol.capitalize():
        hint = f" (did you mean {symbol.capitalize()!r}?)"
    return f"unknown element symbol {symbol!r}{hint}"


def find_duplicate_atoms(positions, cell=None, pbc=None) -> tuple[int, int, float] | None:
    """First pair of atoms closer than :data:`ljfit.dataset.MIN_DISTANCE`.

    Parameters
    ----------
    positions : array_like, shape (n_atoms, 3)
        Cartesian positions in Å.
    cell : array_like, shape (3, 3), optional
        Cell vectors (rows) in Å; with ``pbc``, positions are wrapped into the cell first.
    pbc : array_like of bool, shape (3,), optional

    Returns
    -------
    (i, j, distance) or None
        Zero-based atom indices ``i < j`` (the lowest such pair) and their distance in Å.
    """
    from scipy.spatial import cKDTree

    pos = np.asarray(positions, dtype=float)
    if len(pos) < 2:
        return None
    if pbc is not None and np.any(pbc):
        from ase.geometry import wrap_positions

        pos = wrap_positions(pos, np.asarray(cell, dtype=float), pbc=pbc)
    pairs = cKDTree(pos).query_pairs(MIN_DISTANCE, output_type="ndarray")
    if len(pairs) == 0:
        return None
    pairs = np.sort(pairs, axis=1)
    i, j = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))[0]]
    return int(i), int(j), float(np.linalg.norm(pos[i] - pos[j]))


# -- groups ----------------------------------------------------------------------------------

_GROUP_MODES = ("auto", "seed", "tags", "fragments", "all")

#: Groups "fragments": atoms i, j are bonded when closer than this times the sum of their
#: covalent radii (1.0 would miss C-H bonds: 1.09 Å > 0.76 + 0.31 Å).
FRAGMENT_BOND_SCALE = 1.2


def parse_groups(how) -> tuple[str, object]:
    """Split a group specification into ``(mode, argument)``.

    Parameters
    ----------
    how : str or None
        ``"auto"``, ``"seed"``, ``"tags"``, ``"fragments"``, ``"all"`` (or ``None``),
        ``"first:N"`` or ``"array:NAME"``.

    Returns
    -------
    (str, object)
        ``("first", N)`` with int N >= 1, ``("array", NAME)``, or ``(mode, None)``.
    """
    if how is None:
        return "all", None
    text = str(how).strip()
    low = text.lower()
    if low in _GROUP_MODES:
        return low, None
    if low.startswith("first:"):
        arg = text.split(":", 1)[1].strip()
        if not arg.isdigit() or int(arg) < 1:
            raise DataError(f"groups={how!r}: N in 'first:N' must be a positive integer")
        return "first", int(arg)
    if low.startswith("array:"):
        arg = text.split(":", 1)[1].strip()
        if not arg:
            raise DataError(f"groups={how!r}: give the array name, as in 'array:NAME'")
        return "array", arg
    raise DataError(
        f"unknown group mode {how!r}; valid: auto, tags, first:N, array:NAME, fragments, all"
    )


def _fragments(atoms: Atoms) -> tuple[int, np.ndarray]:
    """Connected components of the covalent-radius bond graph: (count, label per atom)."""
    from ase.neighborlist import natural_cutoffs, neighbor_list
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(atoms)
    i, j = neighbor_list("ij", atoms, natural_cutoffs(atoms, mult=FRAGMENT_BOND_SCALE))
    graph = coo_matrix((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n, n))
    return connected_components(graph, directed=False)


def groups_for_atoms(atoms: Atoms, how="auto", *, source: str = "") -> np.ndarray | None:
    """Group id of every atom of an :class:`ase.Atoms`, as :func:`read_dataset` assigns them.

    Parameters
    ----------
    atoms : ase.Atoms
    how : str
        ``"auto"``: ``"tags"`` when any atom has a non-zero tag, else ``"all"``.
        ``"tags"``: tag 0 -> group A (0), any other tag -> group B (1).
        ``"first:N"``: the first N atoms are group A, the rest group B.
        ``"array:NAME"``: per-atom array ``atoms.arrays[NAME]``; values 0/1 (or False/True)
        are taken as they are, otherwise it must hold exactly two distinct values and the
        smaller one is group A.
        ``"fragments"``: bonded fragments, atoms closer than :data:`FRAGMENT_BOND_SCALE`
        times the sum of their covalent radii (:func:`ase.neighborlist.natural_cutoffs`)
        being bonded; there must be exactly two, and the one holding atom 0 is group A.
        ``"all"`` (or ``None``): no groups, the energy is a total energy.
    source : str, optional
        Name of the structure for error messages.

    Returns
    -------
    ndarray of int8, shape (n_atoms,), or None
        ``None`` for ``"all"`` (and ``"auto"`` without tags).

    Raises
    ------
    DataError
        The mode cannot be applied, or one group comes out empty.
    """
    mode, arg = parse_groups(how)
    where = source or atoms.get_chemical_formula()
    n = len(atoms)
    if mode == "auto":
        mode = "tags" if np.any(atoms.get_tags() != 0) else "all"
    if mode == "all":
        return None
    if mode == "seed":
        raise DataError(
            "groups='seed' belongs to the substrate/surface folder layout; for a single "
            "structure use 'first:N' with N the number of substrate atoms",
            where,
        )
    if mode == "tags":
        groups = (atoms.get_tags() != 0).astype(np.int8)
        what = "tags (tag 0 -> group A, non-zero -> group B)"
    elif mode == "first":
        if arg >= n:
            raise DataError(
                f"group B is empty: groups 'first:{arg}' but the structure has {n} atoms",
                where,
            )
        groups = np.full(n, GROUP_B, dtype=np.int8)
        groups[:arg] = GROUP_A
        what = f"first:{arg}"
    elif mode == "array":
        if arg not in atoms.arrays:
            have = ", ".join(k for k in atoms.arrays if k not in ("numbers", "positions"))
            raise DataError(
                f"no per-atom array {arg!r} for groups 'array:{arg}' "
                f"(per-atom arrays present: {have or 'none'})",
                where,
            )
        values = np.asarray(atoms.arrays[arg])
        if values.shape != (n,):
            raise DataError(
                f"per-atom array {arg!r} has shape {values.shape}; groups need one value "
                f"per atom, shape ({n},)",
                where,
            )
        distinct = np.unique(values)
        if values.dtype == bool or np.isin(distinct, (0, 1)).all():
            groups = values.astype(np.int8)
        elif len(distinct) == 2:
            groups = (values == distinct[1]).astype(np.int8)
        else:
            raise DataError(
                f"per-atom array {arg!r} holds {len(distinct)} distinct values "
                f"({', '.join(map(str, distinct[:5]))}{', ...' if len(distinct) > 5 else ''}); "
                "groups need 0/1 or exactly two distinct values",
                where,
            )
        what = f"array {arg!r}"
    elif mode == "fragments":
        count, labels = _fragments(atoms)
        if count != 2:
            raise DataError(
                f"groups 'fragments' needs exactly two bonded fragments, found {count}",
                where,
            )
        groups = (labels != labels[0]).astype(np.int8)
        what = "fragments"
    else:  # pragma: no cover - parse_groups allows nothing else
        raise AssertionError(mode)
    for g, label in ((GROUP_A, "A"), (GROUP_B, "B")):
        if not np.any(groups == g):
            raise DataError(f"group {label} is empty (groups from {what})", where)
    return groups


def assign_groups(
    symbols: Sequence[str],
    positions,
    *,
    how="auto",
    tags=None,
    arrays: dict | None = None,
    cell=None,
    pbc=None,
    source: str = "",
) -> np.ndarray | None:
    """:func:`groups_for_atoms` for plain arrays instead of an :class:`ase.Atoms`.

    Parameters
    ----------
    symbols : sequence of str, length n_atoms
    positions : array_like, shape (n_atoms, 3)
        Å.
    how : str
        See :func:`groups_for_atoms`.
    tags : array_like of int, shape (n_atoms,), optional
    arrays : dict of str to array_like, shape (n_atoms, ...), optional
        Per-atom arrays for ``"array:NAME"``.
    cell : array_like, shape (3, 3), optional
    pbc : array_like of bool, shape (3,), optional
    source : str, optional

    Returns
    -------
    ndarray of int8, shape (n_atoms,), or None
    """
    atoms = Atoms(
        symbols=list(symbols), positions=positions, tags=tags, cell=cell, pbc=pbc
    )
    for key, value in (arrays or {}).items():
        atoms.new_array(key, np.asarray(value))
    return groups_for_atoms(atoms, how, source=source)


# -- energies CSV ----------------------------------------------------------------------------


def _read_text(path: Path, display: str) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read the file ({exc.strerror or exc})", display) from None
    if b"\x00" in data:
        raise DataError("not a text file (it holds binary data)", display)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"not a text file (byte {exc.start} is not valid UTF-8 text)", display
        ) from None


def read_energies_csv(path) -> dict[str, float]:
    """Read a ``name,energy`` CSV file.

    Parameters
    ----------
    path : str or Path
        CSV file with a header holding the columns ``name`` and ``energy``
        (case-insensitive; other columns are ignored).

    Returns
    -------
    dict of str to float
        Energy per structure name, in the unit of the file (not converted).

    Raises
    ------
    DataError
        Missing file, bad columns, empty or duplicate names, non-numeric or non-finite
        energies; the message names the file and line.
    """
    display = str(path)
    if not Path(path).is_file():
        raise DataError("energies CSV file not found", display)
    text = _read_text(Path(path), display)
    rows = csv.reader(text.splitlines())
    header = next(rows, None)
    if header is None:
        raise DataError("empty energies CSV; expected a header 'name,energy'", display)
    columns = [c.strip().lower() for c in header]
    missing = [c for c in ("name", "energy") if c not in columns]
    if missing:
        raise DataError(
            f"bad columns {header!r}: the header must name the columns 'name' and 'energy' "
            f"(missing: {', '.join(missing)})",
            f"{display}:1",
        )
    i_name, i_energy = columns.index("name"), columns.index("energy")
    out: dict[str, float] = {}
    for lineno, row in enumerate(rows, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        where = f"{display}:{lineno}"
        if len(row) <= max(i_name, i_energy):
            raise DataError(f"row has {len(row)} columns, the header {len(header)}", where)
        name, value = row[i_name].strip(), row[i_energy].strip()
        if not name:
            raise DataError("empty structure name", where)
        if name in out:
            raise DataError(f"structure name {name!r} appears twice", where)
        try:
            energy = float(value)
        except ValueError:
            raise DataError(f"energy {value!r} of {name!r} is not a number", where) from None
        if not math.isfinite(energy):
            raise DataError(f"energy of {name!r} is {value}, not a finite number", where)
        out[name] = energy
    if not out:
        raise DataError("the energies CSV holds no rows", display)
    return out


# -- the public entry point ------------------------------------------------------------------


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
) -> Dataset:
    """Read structures and reference energies into a :class:`~ljfit.dataset.Dataset`.

    Parameters
    ----------
    path : str or Path
        A folder, a file, or a glob pattern (``"runs/*.extxyz"``).
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
        CSV file with columns ``name,energy``; when given (or, in the ASE layout, when the
        folder holds ``energies.csv``) it is the only source of energies. A structure is
        matched by its name (file stem, ``stem[k]`` for frame k of a multi-frame file) or
        by its file name with extension (``file.xyz`` or ``file.xyz[k]``).
    index : str, int or slice
        Frames of each file to read, as for :func:`ase.io.read` (``":"``: all,
        ``"-1"``: the last, ``"0:10:2"``). Frames keep their number in the file in the
        names. Seed layout: must be ``":"``.
    require_energies : bool
        When False (structures read for prediction), a missing energy becomes ``nan``.

    Returns
    -------
    Dataset
        Energies in eV, positions in Å.

    Raises
    ------
    DataError
        For every malformed or inconsistent input, naming the file and line or frame.
    """
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
    csv_energies = read_energies_csv(csv_name) if csv_name else None

    mode, arg = parse_groups(groups)
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
        structures = _read_seed_folder(
            folder, display, n_substrate, csv_energies, csv_name, factor, require_energies
        )
        group_mode = "seed"
    else:
        if folder is not None:
            files = _folder_structure_files(folder, display)
        if n_substrate is not None:
            if mode == "auto":
                groups = f"first:{n_substrate}"
            elif not (mode == "first" and arg == n_substrate):
                raise DataError(f"n_substrate={n_substrate} contradicts groups={groups!r}")
        structures, group_mode = _read_ase_files(
            files,
            display,
            named_by_file=folder is not None or len(files) > 1 or _glob.has_magic(display),
            groups=groups,
            energy_key=energy_key,
            factor=factor,
            csv_energies=csv_energies,
            csv_name=csv_name,
            index=index,
            require_energies=require_energies,
        )
    return Dataset(
        structures, path=display, layout=layout, energy_unit=unit, group_mode=group_mode
    )


def _resolve_path(display: str) -> tuple[Path | None, list[Path]]:
    """(folder, []) for a folder, (None, files) for a file or a glob pattern."""
    p = Path(os.path.expanduser(display))
    if p.is_dir():
        return p, []
    if p.is_file():
        return None, [p]
    if _glob.has_magic(display):
        files = sorted(
            (Path(f) for f in _glob.glob(os.path.expanduser(display)) if os.path.isfile(f)),
            key=lambda f: _natural_key(str(f)),
        )
        if not files:
            raise DataError("the pattern matches no file", display)
        return None, files
    if p.exists():
        raise DataError("not a regular file or folder", display)
    raise DataError("no such file or folder", display)


# -- folder scanning -------------------------------------------------------------------------


def _has_seed_files(folder: Path) -> bool:
    with os.scandir(folder) as entries:
        return any(_SEED_EXT.match(e.name) and e.is_file() for e in entries)


def structure_files(folder) -> list[Path]:
    """Files of ``folder`` that the ``"ase"`` layout reads, in natural order.

    Parameters
    ----------
    folder : str or Path

    Returns
    -------
    list of Path
        Regular, non-hidden files whose extension (after an optional compression
        suffix ``.gz``/``.bz2``/``.xz``) is in :data:`FOLDER_EXTENSIONS`, or whose name
        starts with ``POSCAR`` or ``CONTCAR``.
    """
    out = []
    with os.scandir(folder) as it:
        entries = list(it)
    for entry in entries:
        name = entry.name
        if name.startswith(".") or not entry.is_file():
            continue
        parts = name.lower().split(".")
        if len(parts) > 2 and parts[-1] in _COMPRESSION:
            parts = parts[:-1]
        ext = parts[-1] if len(parts) > 1 else ""
        if ext in FOLDER_EXTENSIONS or _VASP_NAMES.match(name):
            out.append(Path(folder) / name)
    return sorted(out, key=lambda f: _natural_key(f.name))


def _folder_structure_files(folder: Path, display: str) -> list[Path]:
    files = structure_files(folder)
    if not files:
        with os.scandir(folder) as entries:
            ignored = [e.name for e in entries if not e.name.startswith(".")]
        ignored.sort(key=_natural_key)
        extra = ""
        if ignored:
            extra = f" (ignored: {', '.join(ignored[:8])}{', ...' if len(ignored) > 8 else ''})"
        raise DataError(
            "the folder holds no structure files: neither p_N.xyz/p_N_extended.xyz pairs "
            f"nor files with an extension ASE reads{extra}",
            display,
        )
    return files


# -- the seed layout -------------------------------------------------------------------------


def _parse_atom_lines(
    lines: Sequence[str], first_lineno: int, display: str
) -> tuple[list[str], np.ndarray]:
    """Parse ``Symbol x y z`` lines (extra columns ignored). Returns symbols, positions (n, 3)."""
    symbols: list[str] = []
    coords: list[tuple[float, float, float]] = []
    for lineno, line in enumerate(lines, start=first_lineno):
        tokens = line.split()
        where = f"{display}:{lineno}"
        if len(tokens) < 4:
            what = f"short line with {len(tokens)} field(s) {line.strip()!r}"
            raise DataError(
                f"{what if tokens else 'empty line'}; expected an atom line 'Symbol x y z'", where
            )
        if tokens[0] not in _ELEMENTS:
            raise DataError(_unknown_symbol_message(tokens[0]), where)
        try:
            xyz = (float(tokens[1]), float(tokens[2]), float(tokens[3]))
        except ValueError:
            raise DataError(
                f"coordinates {' '.join(tokens[1:4])!r} are not three numbers", where
            ) from None
        if not all(map(math.isfinite, xyz)):
            raise DataError(f"coordinates {' '.join(tokens[1:4])!r} are not finite", where)
        symbols.append(tokens[0])
        coords.append(xyz)
    return symbols, np.array(coords, dtype=float).reshape(-1, 3)


def _strip_trailing_blank(lines: list[str]) -> list[str]:
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    return lines[:end]


def _read_substrate_file(path: Path, display: str, need_energy: bool):
    """Parse ``p_N.xyz``: (symbols, positions, energy-or-None)."""
    lines = _strip_trailing_blank(_read_text(path, display).splitlines())
    if not lines:
        raise DataError(
            "empty file; expected an XYZ file (count line, comment line with the energy, atoms)",
            display,
        )
    first = lines[0].strip()
    if not first.isdigit():
        raise DataError(f"first line must be the atom count, got {first!r}", f"{display}:1")
    count = int(first)
    if count < 1:
        raise DataError("atom count is 0", f"{display}:1")
    if len(lines) < 2:
        raise DataError(
            "missing comment line with the energy (as 'energy -0.19085')", f"{display}:2"
        )
    energy = None
    if need_energy:
        tokens = lines[1].split()
        if len(tokens) < 2:
            hint = " (with a space, not '=')" if "=" in lines[1] else ""
            raise DataError(
                f"missing energy token: the comment line {lines[1].strip()!r} must hold the "
                f"energy as its second field, as in 'energy -0.19085'{hint}",
                f"{display}:2",
            )
        try:
            energy = float(tokens[1])
        except ValueError:
            raise DataError(
                f"energy {tokens[1]!r} (second field of the comment line) is not a number",
                f"{display}:2",
            ) from None
        if not math.isfinite(energy):
            raise DataError(f"energy is {tokens[1]}, not a finite number", f"{display}:2")
    body = _xyz_body(lines, count, display)
    symbols, positions = _parse_atom_lines(body, 3, display)
    return symbols, positions, energy


def _xyz_body(lines: list[str], count: int, display: str) -> list[str]:
    """The atom lines after an XYZ header, checked against the count line."""
    body = lines[2:]
    if len(body) != count:
        raise DataError(
            f"atom count mismatch: the count line says {count} atoms but "
            f"{len(body)} atom line(s) follow",
            f"{display}:1",
        )
    return body


def _read_extended_file(path: Path, display: str):
    """Parse ``p_N_extended.xyz``: (symbols, positions, line number of atom 0).

    Headerless; a standard XYZ header (count line + comment) is accepted as well.
    """
    lines = _strip_trailing_blank(_read_text(path, display).splitlines())
    if not lines:
        raise DataError("empty file; expected one 'Symbol x y z' line per atom", display)
    first_lineno = 1
    head = lines[0].split()
    if len(head) == 1 and head[0].isdigit():  # an XYZ header after all
        lines, first_lineno = _xyz_body(lines, int(head[0]), display), 3
    symbols, positions = _parse_atom_lines(lines, first_lineno, display)
    return symbols, positions, first_lineno


def _read_seed_folder(
    folder: Path,
    display: str,
    n_substrate: int | None,
    csv_energies: dict | None,
    csv_name: str,
    factor: float,
    require_energies: bool,
) -> list[Structure]:
    """Every p_N pair of a folder, in numeric order (gaps warned, unpaired files rejected)."""
    subs: dict[int, str] = {}
    exts: dict[int, str] = {}
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: _natural_key(e.name))
    for entry in entries:
        for regex, table in ((_SEED_SUB, subs), (_SEED_EXT, exts)):
            m = regex.match(entry.name)
            if m and entry.is_file():
                n = int(m.group(1))
                if n in table:
                    raise DataError(
                        f"{table[n]} and {entry.name} carry the same number {n}", display
                    )
                table[n] = entry.name
    numbers = sorted(set(subs) | set(exts))
    if not numbers:
        raise DataError("no p_N.xyz / p_N_extended.xyz files in the folder", display)
    for n in numbers:
        if n not in exts:
            raise DataError(
                f"no partner p_{n}_extended.xyz in the folder (the structure with the "
                "surface atoms)",
                os.path.join(display, subs[n]),
            )
    orphans = [n for n in numbers if n not in subs]
    if orphans and (n_substrate is None or (require_energies and csv_energies is None)):
        n = orphans[0]
        raise DataError(
            f"no partner p_{n}.xyz in the folder (it holds the energy and the substrate "
            "atoms)",
            os.path.join(display, exts[n]),
        )
    gaps = sorted(set(range(1, numbers[-1] + 1)) - set(numbers))
    if gaps:
        shown = ", ".join(f"p_{g}" for g in gaps[:20]) + (", ..." if len(gaps) > 20 else "")
        warnings.warn(
            f"{display}: numbering has gaps, missing {shown} ({len(gaps)} number(s)); "
            f"read {len(numbers)} structures",
            UserWarning,
            stacklevel=3,
        )

    structures = []
    for n in numbers:
        ext_file = os.path.join(display, exts[n])
        ext_syms, ext_pos, ext_line0 = _read_extended_file(folder / exts[n], ext_file)
        name = Path(subs.get(n, f"p_{n}.xyz")).stem
        energy = None
        if n in subs:
            sub_file = os.path.join(display, subs[n])
            sub_syms, sub_pos, energy = _read_substrate_file(
                folder / subs[n], sub_file, need_energy=csv_energies is None
            )
            n_sub = n_substrate if n_substrate is not None else len(sub_syms)
            m = min(n_sub, len(sub_syms), len(ext_syms))
            bad = np.flatnonzero(np.asarray(ext_syms[:m]) != np.asarray(sub_syms[:m]))
            if bad.size:
                i = int(bad[0])
                raise DataError(
                    f"substrate atom {i + 1} differs: {ext_file}:{ext_line0 + i} has "
                    f"{ext_syms[i]} but {sub_file}:{3 + i} has {sub_syms[i]}",
                    ext_file,
                )
            dist = np.linalg.norm(ext_pos[:m] - sub_pos[:m], axis=1)
            bad = np.flatnonzero(dist > POSITION_TOLERANCE)
            if bad.size:
                i = int(bad[0])
                raise DataError(
                    f"substrate atom {i + 1} ({ext_syms[i]}) is {dist[i]:.3g} Å away from "
                    f"where {sub_file}:{3 + i} puts it ({ext_file}:{ext_line0 + i}); the "
                    f"substrate atoms must come first in the same order (tolerance "
                    f"{POSITION_TOLERANCE} Å)",
                    ext_file,
                )
        else:
            n_sub = n_substrate
        if len(ext_syms) <= n_sub:
            raise DataError(
                f"atom count mismatch: {len(ext_syms)} atoms, but the first {n_sub} are the "
                "substrate; no surface atoms follow",
                ext_file,
            )
        dup = find_duplicate_atoms(ext_pos)
        if dup is not None:
            i, j, d = dup
            raise DataError(
                f"atoms {i + 1} and {j + 1} (lines {ext_line0 + i} and {ext_line0 + j}) are "
                f"at the same position ({d:.2g} Å apart)",
                ext_file,
            )
        if csv_energies is not None:
            aliases = [name, f"{name}.xyz", Path(exts[n]).stem, exts[n]]
            energy = _csv_lookup(csv_energies, aliases, name, csv_name, require_energies)
        elif energy is None:  # p_N.xyz absent, prediction only
            energy = math.nan
        groups = np.full(len(ext_syms), GROUP_B, dtype=np.int8)
        groups[:n_sub] = GROUP_A
        structures.append(
            Structure(
                name=name,
                symbols=ext_syms,
                positions=ext_pos,
                energy=energy * factor,
                groups=groups,
                source=ext_file,
            )
        )
    return structures


def _csv_lookup(
    table: dict, aliases: Sequence[str], name: str, csv_name: str, required: bool
) -> float:
    for key in aliases:
        if key in table:
            return table[key]
    if required:
        raise DataError(
            f"{csv_name} has no energy for structure {name!r} (looked for "
            f"{', '.join(repr(a) for a in dict.fromkeys(aliases))})"
        )
    return math.nan


# -- the ASE layout --------------------------------------------------------------------------


def _file_labels(files: list[Path]) -> list[str]:
    """Base name of each file's structures: the stem, or the relative path if stems clash."""
    stems = [
        Path(f.stem).stem if f.suffix.lower()[1:] in _COMPRESSION else f.stem for f in files
    ]
    if len(set(stems)) == len(stems):
        return stems
    root = os.path.commonpath([str(f.parent.resolve()) for f in files])
    return [os.path.relpath(str(f.resolve()), root) for f in files]


def _select_frames(n_total: int, index, display: str) -> list[int]:
    if isinstance(index, str):
        try:
            idx = string2index(index.strip())
        except ValueError:
            raise DataError(
                f"bad frame selection index={index!r}; use e.g. ':', '-1', '0:10:2'"
            ) from None
    else:
        idx = index
    frames = np.arange(n_total)
    if isinstance(idx, slice):
        return [int(k) for k in frames[idx]]
    try:
        return [int(frames[int(idx)])]
    except IndexError:
        raise DataError(
            f"frame {idx} does not exist: the file holds {n_total} frame(s)", display
        ) from None


def _read_frames(path: Path, display: str) -> list[Atoms]:
    """Every frame of a file, any exception of ase.io turned into a DataError naming it."""
    if path.stat().st_size == 0:
        raise DataError("empty file", display)
    frames: list[Atoms] = []
    try:
        for atoms in ase.io.iread(str(path), index=":"):
            frames.append(atoms)
    except Exception as exc:  # any parser failure of ase.io becomes a DataError
        if isinstance(exc, UnicodeDecodeError):
            what = "binary data, not a text structure file"
        elif isinstance(exc, KeyError) and str(exc.args[0]).isalpha():
            what = f"unknown element symbol {exc.args[0]!r}?"
        else:
            what = f"{type(exc).__name__}: {exc}"
        raise DataError(
            f"ASE cannot read frame {len(frames)} of this file ({what})", display
        ) from exc
    if not frames:
        raise DataError("the file holds no structures", display)
    return frames


def _frame_energy(atoms: Atoms, key: str, where: str, display: str):
    """Energy of a frame as given in the file, or None when there is none."""
    if key in atoms.info:
        value, origin = atoms.info[key], f"info[{key!r}]"
    elif atoms.calc is not None and key in (getattr(atoms.calc, "results", None) or {}):
        value, origin = atoms.calc.results[key], f"calculator result {key!r}"
    else:
        return None
    if isinstance(value, (bool, np.bool_)):
        hint = ""
        if _SEED_SUB.match(Path(display).name):
            hint = (
                "; this looks like a substrate file of the substrate/surface layout, whose "
                "p_N_extended.xyz partner is missing"
            )
        raise DataError(f"energy {origin} is a flag ({value}), not a number{hint}", where)
    try:
        arr = np.asarray(value, dtype=float)
        energy = float(arr.item()) if arr.size == 1 else None
    except (TypeError, ValueError):
        energy = None
    if energy is None:
        raise DataError(f"energy {origin} = {value!r} is not a number", where)
    if not math.isfinite(energy):
        raise DataError(f"energy {origin} is {energy}, not a finite number", where)
    return energy


def _read_ase_files(
    files: list[Path],
    display: str,
    *,
    named_by_file: bool,
    groups,
    energy_key: str,
    factor: float,
    csv_energies: dict | None,
    csv_name: str,
    index,
    require_energies: bool,
) -> tuple[list[Structure], str]:
    """Structures of every selected frame of ``files``, and the group mode applied.

    ``named_by_file``: errors name each file by its path (folder, pattern) rather than
    by ``display`` (the path the user gave for a single file).
    """
    labels = _file_labels(files)
    picked = []  # (atoms, name, aliases for the CSV, "file[k]", file)
    for f, label in zip(files, labels):
        fdisplay = str(f) if named_by_file else display
        frames = _read_frames(f, fdisplay)
        multi = len(frames) > 1
        for k in _select_frames(len(frames), index, fdisplay):
            suffix = f"[{k}]" if multi else ""
            name = f"{label}{suffix}"
            aliases = [name, f"{f.name}{suffix}", f"{label}[{k}]", f"{f.name}[{k}]"]
            picked.append((frames[k], name, aliases, f"{fdisplay}[{k}]", fdisplay))

    mode, _ = parse_groups(groups)
    if mode == "auto":
        any_tags = any(np.any(a.get_tags() != 0) for a, *_ in picked)
        groups = "tags" if any_tags else "all"
    mode, arg = parse_groups(groups)
    group_mode = mode if arg is None else f"{mode}:{arg}"

    structures, missing = [], []
    for atoms, name, aliases, where, fdisplay in picked:
        numbers = atoms.numbers
        if np.any(numbers <= 0) or np.any(numbers >= len(chemical_symbols)):
            i = int(np.flatnonzero((numbers <= 0) | (numbers >= len(chemical_symbols)))[0])
            raise DataError(f"atom {i + 1}: unknown element (atomic number {numbers[i]})", where)
        dup = find_duplicate_atoms(atoms.positions, atoms.cell.array, atoms.pbc)
        if dup is not None:
            i, j, d = dup
            raise DataError(
                f"atoms {i + 1} and {j + 1} are at the same position ({d:.2g} Å apart)", where
            )
        g = groups_for_atoms(atoms, groups, source=where)
        if csv_energies is not None:
            energy = _csv_lookup(csv_energies, aliases, name, csv_name, require_energies)
        else:
            energy = _frame_energy(atoms, energy_key, where, fdisplay)
            if energy is None:
                missing.append((where, atoms))
                energy = math.nan
        weight = atoms.info.get("weight", 1.0)
        try:
            weight = float(np.asarray(weight, dtype=float).item())
        except (TypeError, ValueError):
            raise DataError(f"weight {weight!r} in info is not a number", where) from None
        structures.append(
            Structure(
                name=name,
                symbols=atoms.get_chemical_symbols(),
                positions=atoms.positions,
                energy=energy * factor,
                groups=g,
                cell=atoms.cell.array,
                pbc=atoms.pbc,
                weight=weight,
                source=where,
            )
        )
    if missing and require_energies:
        keys = sorted({k for _, a in missing for k in a.info})
        calc_keys = sorted(
            {k for _, a in missing if a.calc is not None for k in getattr(a.calc, "results", {})}
        )
        found = (
            f"info keys present: {', '.join(keys) or 'none'}; calculator results: "
            f"{', '.join(calc_keys) or 'none'}"
        )
        advice = (
            "name the key that holds it with --energy-key (energy_key=), or give an "
            "energies CSV file with columns name,energy (energies_csv=)"
        )
        if len(missing) == len(structures):
            raise DataError(
                f"no reference energies found: none of the {len(structures)} structures has "
                f"info[{energy_key!r}] or a calculator energy {energy_key!r} ({found}); {advice}",
                display,
            )
        shown = ", ".join(w for w, _ in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise DataError(
            f"{len(missing)} of {len(structures)} structures have no energy "
            f"{energy_key!r}: {shown}; {advice}",
            display,
        )
    return structures, group_mode
