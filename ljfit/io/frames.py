"""Frames of structure files, whichever reader makes them: extended XYZ in compiled code,
every other format through :mod:`ase.io`.

Extended XYZ files (``.xyz``, ``.extxyz``) are first scanned in bulk — count lines against
the lines the file holds, so a frame that claims 10⁹ atoms fails at once, with its line —
and then parsed by the C parser of the ``extxyz`` package (libAtoms), ~7 times faster than
``ase.io.read`` on the same file (``scripts/bench_model.py``); a caller that wants some
frames only (a part of ``--jobs``) has the parser seek to them. Its frames are translated to
what ASE would have made of them (per-configuration properties such as ``energy`` and
``stress`` and per-atom ``forces`` as calculator results, species capitalised), so both
readers give the same :class:`Frame`. Anything the C parser refuses, plain XYZ files (a
comment line without ``key=value``), compressed files and every other format go through
:func:`ase.io.iread`, whose failures become :class:`~ljfit.errors.DataError` naming file and
frame.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
from ase.data import chemical_symbols
from ase.outputs import all_outputs as _ALL_OUTPUTS

from ..errors import DataError

__all__ = ["Frame", "read_frames", "scan_xyz", "EXTXYZ_SUFFIXES"]

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
