"""Small helpers shared by the readers: element symbols, text files, duplicates, CSV look-up."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Sequence

import numpy as np
from ase.data import chemical_symbols

from ..dataset import MIN_DISTANCE
from ..errors import DataError

# -- small helpers ---------------------------------------------------------------------------

_ELEMENTS = frozenset(chemical_symbols[1:])  # 'X' (dummy, Z = 0) is not an element

#: Largest difference (Å) between a substrate atom of ``p_N.xyz`` and of ``p_N_extended.xyz``.
POSITION_TOLERANCE = 1e-4


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



def _strip_trailing_blank(lines: list[str]) -> list[str]:
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    return lines[:end]



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


