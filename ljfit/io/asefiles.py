"""The ``"ase"`` layout: every file format :mod:`ase.io` reads."""

from __future__ import annotations

import math
import os
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.data import chemical_symbols
from ase.io.formats import string2index

from ..dataset import Structure
from ..errors import DataError
from .common import _csv_lookup, find_duplicate_atoms
from .groups import groups_for_atoms, parse_groups
from .paths import _COMPRESSION, _SEED_SUB

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
