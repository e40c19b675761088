"""Reference energies from a ``name,energy`` CSV file."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from ..errors import DataError
from .common import _read_text, excerpt, path_problem


def _rows(lines, display):
    """csv.reader rows; its own errors (a field over the size limit, a stray quote in
    strict mode...) become a DataError naming the line."""
    reader = csv.reader(lines)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataError(f"not a readable CSV row ({exc})",
                            f"{display}:{reader.line_num}") from None
        yield row


def read_energies_csv(path) -> dict[str, float]:
    """Read a ``name,energy`` CSV file.

    Parameters
    ----------
    path : str or Path
        CSV file with a header holding the columns ``name`` and ``energy``
        (case-insensitive; other columns are ignored, but see :func:`read_energies_table`
        for ``weight``).

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
    return read_energies_table(path)[0]


def read_energies_table(path) -> tuple:
    """Read a ``name,energy[,weight]`` CSV file: (energies, weights or None).

    The optional ``weight`` column gives each structure's weight in the cost (finite,
    >= 0; an empty cell means 1). See :func:`read_energies_csv` for the rest.
    """
    display = str(path)
    problem = path_problem(path)
    if problem is not None:  # a folder, a FIFO, /dev/zero, a link loop: say which
        raise DataError("energies CSV file not found" if problem == "no such file"
                        else f"cannot use this energies CSV file: {problem}", display)
    text = _read_text(Path(path), display)
    rows = _rows(text.splitlines(), display)
    header = next(rows, None)
    if header is None:
        raise DataError("empty energies CSV; expected a header 'name,energy'", display)
    columns = [c.strip().lower() for c in header]
    missing = [c for c in ("name", "energy") if c not in columns]
    if missing:
        raise DataError(
            f"bad columns {excerpt(header)}: the header must name the columns 'name' and 'energy' "
            f"(missing: {', '.join(missing)})",
            f"{display}:1",
        )
    i_name, i_energy = columns.index("name"), columns.index("energy")
    i_weight = columns.index("weight") if "weight" in columns else None
    out: dict[str, float] = {}
    weights: dict[str, float] | None = {} if i_weight is not None else None
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
            raise DataError(f"structure name {excerpt(name)} appears twice", where)
        try:
            energy = float(value)
        except ValueError:
            raise DataError(f"energy {excerpt(value)} of {excerpt(name)} is not a number",
                            where) from None
        if not math.isfinite(energy):
            raise DataError(f"energy of {excerpt(name)} is {excerpt(value)}, not a finite "
                            "number", where)
        out[name] = energy
        if weights is not None:
            text_w = row[i_weight].strip() if len(row) > i_weight else ""
            try:
                w = float(text_w) if text_w else 1.0
            except ValueError:
                raise DataError(f"weight {text_w!r} of {name!r} is not a number",
                                where) from None
            if not (math.isfinite(w) and w >= 0):
                raise DataError(f"weight of {name!r} must be finite and >= 0, got {text_w}",
                                where)
            weights[name] = w
    if not out:
        raise DataError("the energies CSV holds no rows", display)
    return out, weights
