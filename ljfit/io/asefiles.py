"""The ``"ase"`` layout: every file format :mod:`ase.io` reads, extended XYZ in compiled code.

Extended XYZ files (``.xyz``, ``.extxyz``) are first scanned in bulk — count lines against
the lines the file holds, so a frame that claims 10⁹ atoms fails at once, with its line —
and then parsed by the C parser of the ``extxyz`` package (libAtoms), about 20 times faster
than ASE's pure-Python reader on the same file. Its frames are translated to what ASE would
have made of them (per-configuration properties such as ``energy`` and ``stress`` and
per-atom ``forces`` as calculator results, species capitalised), so both readers give the
same :class:`~ljfit.dataset.Dataset`. Anything the C parser refuses, plain XYZ files (a
comment line without ``key=value``), compressed files and every other format go through
:func:`ase.io.iread`, whose failures become :class:`~ljfit.errors.DataError` naming file and
frame.

Forces come from the calculator result or per-atom array named ``force_key`` (default
``forces``); the stress from the calculator result or ``info`` entry ``stress_key`` (default
``stress``; 3×3 or Voigt 6, eV/Å³ in ASE's sign convention, σ = V⁻¹ ∂E/∂ε, negative under
compression), else from ``info['virial']`` (3×3, eV): σ = −W/V, the libAtoms/QUIP convention
W = −σV. Forces and stress are read in the energy unit of the file per Å and per Å³ and
converted like the energies.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from pathlib import Path

import numpy as np
from ase.data import atomic_numbers, chemical_symbols
from ase.outputs import all_outputs as _ALL_OUTPUTS

from ..dataset import Structure
from ..errors import DataError
from .common import _csv_lookup
from .groups import groups_for_atoms, parse_groups
from .paths import _COMPRESSION, _SEED_SUB

__all__ = ["read_ase_files", "Frame", "read_frames"]

#: Files read by the compiled extended-XYZ parser first.
EXTXYZ_SUFFIXES = (".xyz", ".extxyz")

# How ASE's extended XYZ reader names columns and which comment-line keys it makes calculator
# results: copies of ``ase.io.extxyz.REV_PROPERTY_NAME_MAP`` and ``per_config_properties``
# (a test pins them to ASE's). Importing anything from ``ase.io`` runs its package
# ``__init__``, which loads trajectories, constraints, space groups and with them
# scipy.integrate and scipy.optimize: 0.36 s where scipy is not loaded yet (``ljfit
# predict``), ~45 ms where it is (a fit), for two small constants.
_ASE_COLUMN_NAMES = {"pos": "positions", "Z": "numbers", "charge": "charges",
                     "species": "symbols"}
_ASE_PER_CONFIG = frozenset(("energy", "free_energy", "stress", "dipole", "magmom",
                             "polarization", "dielectric_tensor"))
#: Voigt xx yy zz yz xz xy of a 3x3 matrix: its flat elements 0 4 8 5 2 1
_VOIGT_FLAT = np.array([0, 4, 8, 5, 2, 1])


# -- one frame, whichever reader made it ------------------------------------------------------


class Frame:
    """What ljfit needs of one frame, from ASE's reader or the compiled one.

    Attributes
    ----------
    symbols : list of str
    positions : ndarray, shape (n, 3)
    cell : ndarray, shape (3, 3)
        Cell vectors as rows, Å.
    pbc : ndarray of bool, shape (3,)
    info : dict
        Per-frame entries that are not calculator results.
    arrays : dict
        Per-atom arrays that are not calculator results (``tags``, ...).
    results : dict
        Calculator results (``energy``, ``forces``, ``stress`` as Voigt 6, ...).
    """

    __slots__ = ("symbols", "positions", "cell", "pbc", "info", "arrays", "results")

    def __init__(self, symbols, positions, cell, pbc, info, arrays, results):
        self.symbols = symbols
        self.positions = positions
        self.cell = cell
        self.pbc = pbc
        self.info = info
        self.arrays = arrays
        self.results = results

    @classmethod
    def from_atoms(cls, atoms) -> "Frame":
        results = dict(getattr(atoms.calc, "results", None) or {}) if atoms.calc else {}
        arrays = {k: v for k, v in atoms.arrays.items() if k not in ("numbers", "positions")}
        numbers = atoms.numbers
        bad = (numbers <= 0) | (numbers >= len(chemical_symbols))
        symbols = [chemical_symbols[z] if not b else f"Z={z}" for z, b in zip(numbers, bad)]
        return cls(symbols, np.asarray(atoms.positions, dtype=float), atoms.cell.array.copy(),
                   np.asarray(atoms.pbc, dtype=bool), dict(atoms.info), arrays, results)

    @classmethod
    def from_extxyz(cls, f, comment: bytes | None = None) -> "Frame":
        """A frame of the ``extxyz`` package, translated as ASE's reader translates it
        (``comment``: the frame's comment line, for ASE's default periodicity)."""
        arrays = {_ASE_COLUMN_NAMES.get(k, k): np.asarray(v) for k, v in f.arrays.items()}
        info = dict(f.info)
        results = {}
        symbols = arrays.pop("symbols", None)
        numbers = arrays.pop("numbers", None)
        if symbols is not None:
            symbols = symbols.tolist()
            if not isinstance(symbols, list):
                raise TypeError("species column is not a column")
            # capitalised once per distinct symbol, not per atom
            capital = {s: str(s).capitalize() for s in set(symbols)}
            symbols = [capital[s] for s in symbols]
        elif numbers is not None:
            symbols = [chemical_symbols[int(z)] if 0 < int(z) < len(chemical_symbols)
                       else f"Z={int(z)}" for z in numbers]
        else:
            raise ValueError("no species or Z column")
        positions = np.asarray(arrays.pop("positions"), dtype=float).reshape(-1, 3)
        for name in list(arrays):
            if name in _ALL_OUTPUTS and name not in ("initial_charges",):
                results[name] = arrays.pop(name)
        for key in list(info):
            if key in _ASE_PER_CONFIG:
                value = info.pop(key)
                if key == "stress" and np.shape(value) == (3, 3):
                    value = np.asarray(value, dtype=float).ravel()[_VOIGT_FLAT]
                results[key] = value
        cell = np.asarray(f.cell, dtype=float).T.copy()  # vectors as columns → rows
        pbc = np.asarray(f.pbc, dtype=bool).reshape(3)
        if comment is not None and b"Lattice=" not in comment and b"pbc=" not in comment:
            # ASE: no Lattice and no pbc key mean a cluster (the C parser says periodic)
            pbc = np.zeros(3, dtype=bool)
        return cls(symbols, positions, cell, pbc, info, arrays, results)

    def tags(self) -> np.ndarray:
        t = self.arrays.get("tags")
        return np.zeros(len(self.symbols), dtype=int) if t is None else np.asarray(t)

    def atoms(self):
        """An :class:`ase.Atoms` of the frame (for the group rules that need one)."""
        from ase import Atoms

        atoms = Atoms(symbols=self.symbols, positions=self.positions, cell=self.cell,
                      pbc=self.pbc)
        for key, value in self.arrays.items():
            if key == "tags":
                atoms.set_tags(np.asarray(value))
            elif np.shape(value)[:1] == (len(self.symbols),):
                atoms.new_array(key, np.asarray(value))
        return atoms


# -- reading files ----------------------------------------------------------------------------


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
    if isinstance(index, str) and index.strip() == ":":
        return list(range(n_total))  # every frame (the default): no need for ase.io
    if isinstance(index, str):
        try:
            from ase.io.formats import string2index  # ase.io: 0.07 s, only for an index

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


def scan_xyz(data: bytes, display: str) -> list:
    """Frame layout of an XYZ text: ``[(first line, n_atoms, comment), ...]``.

    Checks every count line against the lines that follow, before anything is allocated
    for the atoms: a count the file cannot hold is a DataError naming its line.
    """
    lines = data.split(b"\n")
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    frames = []
    k = 0
    while k < end:
        head = lines[k].strip()
        if len(head) > 12 and head.isdigit():
            raise DataError(f"frame {len(frames)}: the count line (line {k + 1}) says "
                            f"{len(head)}-digit number of atoms; no file holds that many",
                            display)
        try:
            n = int(head)
        except ValueError:
            text = head[:40].decode("utf-8", "replace")
            raise DataError(f"frame {len(frames)}: line {k + 1} should be the atom count, "
                            f"got {text!r}", display) from None
        if n < 0:
            raise DataError(f"frame {len(frames)}: atom count {n} at line {k + 1}", display)
        available = end - k - 2
        if n > available:
            raise DataError(
                f"frame {len(frames)}: the count line (line {k + 1}) says {n} atoms but the "
                f"file holds only {max(available, 0)} more line(s)", display)
        comment = lines[k + 1] if k + 1 < len(lines) else b""
        if n:
            _check_columns(comment, lines[k + 2], len(frames), k + 3, display)
        frames.append((k + 1, n, comment))
        k += n + 2
    return frames


_PROPERTIES = re.compile(rb"Properties=([A-Za-z0-9_:]+)")


def _check_columns(comment: bytes, first_atom: bytes, frame: int, lineno: int, display):
    """The columns a frame's ``Properties`` declares against those of its first atom line:
    a reader allocates what is declared (``pos:R:399999999`` is 3 GB) before it reads."""
    m = _PROPERTIES.search(comment)
    if not m:
        return
    parts = m.group(1).split(b":")
    if len(parts) % 3:
        return  # malformed: the parsers say what is wrong
    try:
        declared = sum(int(c) for c in parts[2::3])
    except ValueError:
        return
    have = len(first_atom.split())
    if declared > have:
        text = m.group(1)[:60].decode("ascii", "replace")
        raise DataError(f"frame {frame}: Properties={text} declares {declared} columns but "
                        f"line {lineno} holds {have}", display)


def _extxyz_frames(path: Path, display: str, layout: list, only=None, data=None):
    """Frames by the compiled parser, or None where it does not apply (plain XYZ comment
    lines, a parse failure: ASE's reader then gives the established result or message).

    ``only``: the indices of the frames wanted, ``data`` the file's bytes; the parser then
    starts at each run of consecutive ones (a part of ``--jobs`` reads its own
    frames, not the whole file) and the result holds those frames, in that order.
    """
    if not all(b"=" in comment for _, _, comment in layout):
        return None
    try:
        import extxyz
    except ImportError:  # pragma: no cover - a dependency; ASE's reader still works
        return None
    try:
        if only is None:
            frames = extxyz.read_dicts(str(path))
            frames = frames if isinstance(frames, list) else [frames]
            wanted = layout
        else:
            frames = _extxyz_runs(path, data, layout, only)
            wanted = [layout[k] for k in only]
    except Exception:  # noqa: BLE001 - any refusal: ASE's reader decides and explains
        return None
    if len(frames) != len(wanted) or any(f.natoms != n for f, (_, n, _) in zip(frames, wanted)):
        return None
    try:
        return [Frame.from_extxyz(f, comment) for f, (_, _, comment) in zip(frames, wanted)]
    except Exception:  # noqa: BLE001
        return None


def _extxyz_runs(path: Path, data: bytes, layout: list, only) -> list:
    """The frames ``only`` of an extxyz file by the compiled parser, seeking to the first
    frame of each run of consecutive indices (its byte offset from the count lines of
    ``layout``)."""
    from extxyz import cextxyz
    from extxyz.core import iread_dicts

    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    only = np.asarray(only, dtype=np.int64)
    breaks = np.flatnonzero(np.diff(only) != 1) + 1
    frames = []
    fp = cextxyz.cfopen(str(path), "r")
    if not fp:
        raise OSError(f"cannot open {path}")
    try:
        for run in np.split(only, breaks):
            line = layout[int(run[0])][0] - 1  # 0-based line of the count
            offset = 0 if line == 0 else int(newlines[line - 1]) + 1
            if cextxyz.cfseek(fp, offset, 0) != 0:
                raise OSError(f"cannot seek in {path}")
            frames += itertools.islice(iread_dicts(fp, use_cextxyz=True), len(run))
    finally:
        cextxyz.cfclose(fp)
    return frames


def read_frames(path: Path, display: str, select=None) -> list[Frame] | tuple:
    """Every frame of a file (see the module docstring for which reader); with ``select``
    (a function of the number of frames in the file giving the indices wanted), only those,
    as ``(indices, frames)``: the compiled parser then parses no other frame."""
    if path.stat().st_size == 0:
        raise DataError("empty file", display)
    if path.suffix.lower() in EXTXYZ_SUFFIXES:
        data = path.read_bytes()
        if b"\x00" in data:
            raise DataError("ASE cannot read frame 0 of this file (binary data, not a text "
                            "structure file)", display)
        layout = scan_xyz(data, display)
        if not layout:
            raise DataError("the file holds no structures", display)
        if select is None:
            frames = _extxyz_frames(path, display, layout)
        else:
            only = list(select(len(layout)))
            if only == list(range(len(layout))):
                frames = _extxyz_frames(path, display, layout)
            else:
                frames = _extxyz_frames(path, display, layout, only, data) if only else []
            if frames is not None:
                return only, frames
        if frames is not None:
            return frames
    frames = [Frame.from_atoms(a) for a in _ase_frames(path, display)]
    if select is None:
        return frames
    only = list(select(len(frames)))
    return only, [frames[k] for k in only]


def _ase_frames(path: Path, display: str) -> list:
    import ase.io

    frames = []
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
