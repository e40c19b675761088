"""Small helpers shared by the readers: element symbols, text files, duplicates, CSV look-up."""

from __future__ import annotations

import errno
import math
import os
import re
import stat
from pathlib import Path
from typing import Sequence

import numpy as np
from ase.data import chemical_symbols

from ..dataset import MIN_DISTANCE
from ..errors import DataError

# -- small helpers ---------------------------------------------------------------------------

_ELEMENTS = frozenset(chemical_symbols[1:])  # 'X' (dummy, Z = 0) is not an element

#: Largest |coordinate| (Å) of an atom or a cell vector component: 100 µm is no atomic
#: structure, and squared distances of coordinates near 1e154 overflow.
MAX_COORDINATE = 1e6

#: Largest difference (Å) between a substrate atom of ``p_N.xyz`` and of ``p_N_extended.xyz``.
POSITION_TOLERANCE = 1e-4


def _natural_key(text: str) -> list:
    """Sort key that orders digit runs numerically (``p_9`` before ``p_10``)."""
    # isdecimal, not isdigit: '²' is a digit to isdigit but int('²') fails
    return [int(t) if t.isdecimal() else t.lower() for t in re.split(r"(\d+)", str(text))]


def _unknown_symbol_message(symbol: str) -> str:
    hint = ""
    if symbol.capitalize() in _ELEMENTS and symbol != symbol.capitalize():
        hint = f" (did you mean {symbol.capitalize()!r}?)"
    return f"unknown element symbol {excerpt(symbol)}{hint}"


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
        Zero-based atom indices ``i < j`` (the lowest such pair) and their distance in Å;
        None also when the positions are not finite or a periodic cell is singular (not
        this function's to judge: :class:`~ljfit.dataset.Structure` refuses both).
    """
    from scipy.spatial import cKDTree

    pos = np.asarray(positions, dtype=float)
    if len(pos) < 2 or not np.all(np.abs(pos) <= MAX_COORDINATE):
        # NaN/inf or absurd positions (a KD-tree overflows on 1e308): refused by
        # Structure and read_dataset, which name the file and frame
        return None
    if pbc is not None and np.any(pbc):
        from ase.geometry import wrap_positions

        cell = np.asarray(cell, dtype=float)
        if not (np.all(np.abs(cell) <= MAX_COORDINATE) and abs(np.linalg.det(cell)) > 1e-9):
            # a periodic cell of zero volume (or no lattice at all): cannot wrap, and
            # Structure refuses it ("singular cell"), naming the file and frame
            return None
        pos = wrap_positions(pos, cell, pbc=pbc)
    pairs = cKDTree(pos).query_pairs(MIN_DISTANCE, output_type="ndarray")
    if len(pairs) == 0:
        return None
    pairs = np.sort(pairs, axis=1)
    i, j = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))[0]]
    return int(i), int(j), float(np.linalg.norm(pos[i] - pos[j]))



def excerpt(value, limit: int = 60) -> str:
    """``repr`` of a value quoted in a message, cut to about ``limit`` characters: a token
    of a hostile file may be a megabyte long, and a message is one readable line."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit - 20]}...{text[-12:]} ({len(text)} characters)"


_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode: int) -> str:
    """What a non-regular ``st_mode`` is, in words (``"a folder"``, ``"a named pipe
    (FIFO)"`` ...)."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return "not a regular file"


def path_problem(path) -> str | None:
    """Why ``path`` cannot be read as a regular file, in plain words, or None if it can.

    Follows symbolic links; names a dangling link, a link loop, a folder, a FIFO, a device.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop (following the links never reaches a file)"
        if exc.errno == errno.ENOENT and os.path.islink(path):
            return f"a symbolic link to {os.readlink(path)!r}, which does not exist"
        if exc.errno == errno.ENOENT:
            return "no such file"
        return f"cannot read it ({exc.strerror or exc})"
    if not stat.S_ISREG(st.st_mode):
        return f"{file_kind(st.st_mode)}, not a regular file"
    return None


def read_regular_file(path, display: str, *, max_bytes: int | None = None,
                      what: str = "file") -> bytes:
    """The bytes of a regular file (symbolic links followed); anything else is refused.

    A FIFO would block for ever, ``/dev/zero`` would fill the memory, a folder cannot be
    read: each is refused up front with a :class:`~ljfit.errors.DataError` naming
    ``display`` and what the path is. The file is opened with ``O_NONBLOCK`` and checked
    again on the open descriptor, so swapping the path for a FIFO between the check and
    the open cannot block either.

    Parameters
    ----------
    path : str or Path
    display : str
        The name used in messages.
    max_bytes : int, optional
        Refuse files larger than this (a config or params.json of gigabytes is not one).
    what : str
        What the file is, for messages ("config file", "parameter file").

    Returns
    -------
    bytes
    """
    problem = path_problem(path)
    if problem is not None:
        if what != "file" and problem != "no such file":
            problem = f"cannot use this {what}: {problem}"
        raise DataError(problem, display)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise DataError(f"cannot read the {what} ({exc.strerror or exc})", display) from None
    with open(fd, "rb", closefd=True) as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # replaced after the check above
            raise DataError(f"{what}: {file_kind(st.st_mode)}, not a regular file", display)
        too_big = (f"the {what} is larger than {max_bytes:,} bytes; is it the right file?"
                   if max_bytes is not None else "")
        if max_bytes is not None and st.st_size > max_bytes:
            raise DataError(too_big, display)
        try:
            data = fh.read() if max_bytes is None else fh.read(max_bytes + 1)
        except OSError as exc:
            raise DataError(f"cannot read the {what} ({exc.strerror or exc})", display) from None
        if max_bytes is not None and len(data) > max_bytes:  # grew while being read
            raise DataError(too_big, display)
    return data


def _read_text(path: Path, display: str) -> str:
    data = read_regular_file(path, display)
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


