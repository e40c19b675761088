"""The ``"ase"`` layout: structures and their energies, forces, stress, weights and groups
from the frames of any file :mod:`ase.io` reads (:mod:`ljfit.io.frames` makes the frames;
extended XYZ in compiled code).

Forces come from the calculator result or per-atom array named ``force_key`` (default
``forces``); the stress from the calculator result or ``info`` entry ``stress_key`` (default
``stress``; 3×3 or Voigt 6, eV/Å³ in ASE's sign convention, σ = V⁻¹ ∂E/∂ε, negative under
compression), else from ``info['virial']`` (3×3, eV): σ = −W/V, the libAtoms/QUIP convention
W = −σV. Forces and stress are read in the energy unit of the file per Å and per Å³ and
converted like the energies.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from ase.data import atomic_numbers

from ..dataset import Structure
from ..errors import DataError
from .common import _csv_lookup
from .frames import Frame, _select_frames, read_frames
from .groups import groups_for_atoms, parse_groups
from .paths import _COMPRESSION, _SEED_SUB

__all__ = ["read_ase_files", "Frame", "read_frames"]


def _file_labels(files: list[Path]) -> list[str]:
    """Base name of each file's structures: the stem, or the relative path if stems clash."""
    stems = [
        Path(f.stem).stem if f.suffix.lower()[1:] in _COMPRESSION else f.stem for f in files
    ]
    if len(set(stems)) == len(stems):
        return stems
    root = os.path.commonpath([str(f.parent.resolve()) for f in files])
    return [os.path.relpath(str(f.resolve()), root) for f in files]


# -- what a frame says: energy, forces, stress, weight ----------------------------------------


def _frame_energy(frame: Frame, key: str, where: str, display: str):
    """Energy of a frame as given in the file, or None when there is none."""
    if key in frame.info:
        value, origin = frame.info[key], f"info[{key!r}]"
    elif key in frame.results:
        value, origin = frame.results[key], f"calculator result {key!r}"
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


def _numbers(value, what, where) -> np.ndarray:
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"{what} {np.asarray(value).ravel()[:3]!r}… is not numbers",
                        where) from None


def _frame_forces(frame: Frame, key: str, where: str):
    """Forces (n, 3) in the file's energy unit per Å, or None."""
    value = frame.results.get(key)
    in_results = value is not None
    if value is None:
        value = frame.arrays.get(key)
    if value is None:
        return None
    # the texts of the messages only when one is raised (this runs for every frame)
    origin = f"calculator result {key!r}" if in_results else f"per-atom array {key!r}"
    f = value if type(value) is np.ndarray and value.dtype == float else _numbers(
        value, f"forces ({origin})", where)
    n = len(frame.symbols)
    if f.shape != (n, 3):
        raise DataError(f"forces ({origin}) have shape {f.shape}, expected ({n}, 3): one "
                        "vector per atom", where)
    if not np.isfinite(f).all():
        atom = int(np.argmax(~np.isfinite(f).all(axis=1)))
        raise DataError(f"forces ({origin}): the force on atom {atom + 1} is NaN or inf",
                        where)
    return f


def _frame_stress(frame: Frame, key: str, where: str):
    """Stress as Voigt 6 (energy unit per Å³, ASE's sign), or None: ``key`` as a calculator
    result or info entry, else (for the default key) ``info['virial']`` as −W/V."""
    value = frame.results.get(key)
    origin = f"calculator result {key!r}"
    if value is None and key in frame.info:
        value, origin = frame.info[key], f"info[{key!r}]"
    virial = False
    if value is None and key == "stress" and "virial" in frame.info:
        value, origin, virial = frame.info["virial"], "info['virial']", True
    if value is None:
        return None
    s = value if type(value) is np.ndarray and value.dtype == float else _numbers(
        value, origin, where)
    if s.size == 9:
        s = s.reshape(3, 3)
        if not np.isfinite(s).all():
            raise DataError(f"{origin} holds NaN or inf", where)
        scale = max(float(np.abs(s).max()), 1e-300)
        if np.abs(s - s.T).max() > 1e-6 * scale:
            raise DataError(f"{origin} is not a symmetric 3x3 matrix", where)
        s = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
    if s.shape != (6,):
        raise DataError(f"{origin} has {s.size} values, expected 6 (Voigt xx yy zz yz xz "
                        "xy) or 9 (a 3x3 matrix)", where)
    if not np.isfinite(s).all():
        raise DataError(f"{origin} holds NaN or inf", where)
    if virial:
        volume = abs(float(np.linalg.det(frame.cell)))
        if not (frame.pbc.all() and volume > 0):
            raise DataError("info['virial'] needs a 3D periodic cell to become a stress",
                            where)
        s = -s / volume
    return s


def _frame_weight(frame: Frame, where: str) -> float:
    weight = frame.info.get("weight", 1.0)
    try:
        return float(np.asarray(weight, dtype=float).item())
    except (TypeError, ValueError):
        raise DataError(f"weight {weight!r} in info is not a number", where) from None


def _groups(frame: Frame, how, where):
    mode, arg = parse_groups(how)
    n = len(frame.symbols)
    if mode == "all":
        return None
    if mode == "tags":
        groups = (frame.tags() != 0).astype(np.int8)
        for g, label in ((0, "A"), (1, "B")):
            if not np.any(groups == g):
                raise DataError(f"group {label} is empty (groups from tags (tag 0 -> group "
                                "A, non-zero -> group B))", where)
        return groups
    if mode == "first":
        if arg >= n:
            raise DataError(f"group B is empty: groups 'first:{arg}' but the structure has "
                            f"{n} atoms", where)
        groups = np.ones(n, dtype=np.int8)
        groups[:arg] = 0
        return groups
    return groups_for_atoms(frame.atoms(), how, source=where)


def _structures(picked, groups, energy_key, factor, csv_energies, csv_name,
                require_energies, force_key, stress_key, csv_weights, *, batch: bool):
    """(structures, frames without an energy) of the picked frames: each frame's entries
    checked, then the structures made by :meth:`Structure.batch` (``batch``) or one by one
    (every check of a frame before the next frame's: the error of the first bad frame)."""
    unknown = _unknown_symbols(picked) if batch else True
    rows = []
    structures, missing = [], []
    for frame, name, aliases, where, fdisplay in picked:
        if unknown:
            bad = [k for k, s in enumerate(frame.symbols) if s not in atomic_numbers or s == "X"]
            if bad:
                i = bad[0]
                raise DataError(f"atom {i + 1}: unknown element ({frame.symbols[i]})", where)
        g = _groups(frame, groups, where)
        if csv_energies is not None:
            energy = _csv_lookup(csv_energies, aliases, name, csv_name, require_energies)
        else:
            energy = _frame_energy(frame, energy_key, where, fdisplay)
            if energy is None:
                missing.append((where, frame))
                energy = math.nan
        weight = _frame_weight(frame, where)
        if csv_weights is not None:
            for key in aliases:
                if key in csv_weights:
                    weight = csv_weights[key]
                    break
        forces = _frame_forces(frame, force_key, where)
        stress = _frame_stress(frame, stress_key, where)
        row = dict(
            name=name,
            symbols=frame.symbols,
            positions=frame.positions,
            energy=energy * factor,
            groups=g,
            cell=frame.cell,
            pbc=frame.pbc,
            weight=weight,
            source=where,
            forces=None if forces is None else forces * factor,
            stress=None if stress is None else stress * factor,
        )
        if batch:
            rows.append(row)
        else:
            structures.append(Structure(**row))
    if batch:
        structures = Structure.batch(
            [r["name"] for r in rows], [r["symbols"] for r in rows],
            [r["positions"] for r in rows], [r["energy"] for r in rows],
            groups=[r["groups"] for r in rows], cells=[r["cell"] for r in rows],
            pbcs=[r["pbc"] for r in rows], weights=[r["weight"] for r in rows],
            sources=[r["source"] for r in rows], forces=[r["forces"] for r in rows],
            stresses=[r["stress"] for r in rows])
    return structures, missing


def _unknown_symbols(picked) -> bool:
    """True when some frame holds a symbol that is no element (or ``X``): the frames are
    then searched one by one for the first such atom."""
    seen = set()
    for frame, *_ in picked:
        seen.update(frame.symbols)
    return any(s not in atomic_numbers or s == "X" for s in seen)


# -- the layout -------------------------------------------------------------------------------


def read_ase_files(
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
    force_key: str = "forces",
    stress_key: str = "stress",
    csv_weights: dict | None = None,
    part: tuple | None = None,
    decisions: dict | None = None,
) -> tuple[list[Structure], str]:
    """Structures of every selected frame of ``files``, and the group mode applied.

    ``named_by_file``: errors name each file by its path (folder, pattern) rather than
    by ``display`` (the path the user gave for a single file). Structures are named by
    ``info['name']`` when every frame has a distinct one, else ``file`` / ``file[k]``.

    ``part=(k, n)``: only the k-th of n contiguous blocks (of the files when there are at
    least n, else of the frames). The naming and the ``auto`` group rule look at every
    frame; a part sees only its own, so it records what it saw in ``decisions``
    (``default_names``, ``info_names``, ``any_tags``) for the caller to decide for all.
    """
    from .seed import _block

    labels = _file_labels(files)
    pairs = list(zip(files, labels))
    if part is not None and len(files) >= part[1]:
        pairs = pairs[_block(len(files), *part)]
    # a part of one file's frames reads only its block of the selected frames
    frame_part = part is not None and len(files) < part[1]
    picked = []  # (frame, name, aliases for the CSV, "file[k]", file)
    for f, label in pairs:
        fdisplay = str(f) if named_by_file else display
        total = [0]

        def select(n, fdisplay=fdisplay, total=total):
            total[0] = n
            chosen = _select_frames(n, index, fdisplay)
            return chosen[_block(len(chosen), *part)] if frame_part else chosen

        ks, frames = read_frames(f, fdisplay, select)
        multi = total[0] > 1
        for k, frame in zip(ks, frames):
            suffix = f"[{k}]" if multi else ""
            name = f"{label}{suffix}"
            aliases = [name, f"{f.name}{suffix}", f"{label}[{k}]", f"{f.name}[{k}]"]
            picked.append((frame, name, aliases, f"{fdisplay}[{k}]", fdisplay))
    info_names = [fr.info.get("name") for fr, *_ in picked]
    if decisions is not None:
        decisions["default_names"] = [nm for _, nm, *_ in picked]
        decisions["info_names"] = [str(n).strip() if isinstance(n, str) and n.strip()
                                   else None for n in info_names]
        decisions["any_tags"] = any(np.any(fr.tags() != 0) for fr, *_ in picked)
    if all(isinstance(n, str) and n.strip() for n in info_names) and \
            len(set(info_names)) == len(info_names):
        picked = [(fr, str(nm).strip(), [str(nm).strip(), *aliases], where, fd)
                  for (fr, _, aliases, where, fd), nm in zip(picked, info_names)]

    mode, _ = parse_groups(groups)
    if mode == "auto":
        any_tags = any(np.any(fr.tags() != 0) for fr, *_ in picked)
        groups = "tags" if any_tags else "all"
    mode, arg = parse_groups(groups)
    group_mode = mode if arg is None else f"{mode}:{arg}"

    args = (picked, groups, energy_key, factor, csv_energies, csv_name, require_energies,
            force_key, stress_key, csv_weights)
    try:
        structures, missing = _structures(*args, batch=True)
    except Exception:  # noqa: BLE001 - made again one by one, which raises the right error
        # a bad frame: made one by one, the first bad frame in file order raises its error
        # (the batch checks every frame's file entries before any frame's structure)
        structures, missing = _structures(*args, batch=False)
    if missing and require_energies:
        keys = sorted({k for _, fr in missing for k in fr.info})
        calc_keys = sorted({k for _, fr in missing for k in fr.results})
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
