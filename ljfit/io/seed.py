"""The substrate/surface (``"seed"``) folder layout: ``p_N.xyz`` + ``p_N_extended.xyz``."""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from ..dataset import GROUP_A, GROUP_B, Structure
from ..errors import DataError
from .common import (
    _ELEMENTS,
    MAX_COORDINATE,
    POSITION_TOLERANCE,
    _csv_lookup,
    _read_text,
    _strip_trailing_blank,
    _unknown_symbol_message,
    excerpt,
    path_problem,
)
from .paths import _SEED_EXT, _SEED_NAME, _SEED_SUB
from .seed_bulk import _bulk_structures

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


def _read_substrate_file(path: Path, display: str, need_energy: bool):
    """Parse ``p_N.xyz``: (symbols, positions, energy-or-None)."""
    lines = _strip_trailing_blank(_read_text(path, display).splitlines())
    if not lines:
        raise DataError(
            "empty file; expected an XYZ file (count line, comment line with the energy, atoms)",
            display,
        )
    first = lines[0].strip()
    if not _is_count(first):
        raise DataError(f"first line must be the atom count, got {excerpt(first)}",
                        f"{display}:1")
    count = _count(first, lines, display)
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
                f"missing energy token: the comment line {excerpt(lines[1].strip())} must hold the "
                f"energy as its second field, as in 'energy -0.19085'{hint}",
                f"{display}:2",
            )
        try:
            energy = float(tokens[1])
        except ValueError:
            raise DataError(
                f"energy {excerpt(tokens[1])} (second field of the comment line) is not a number",
                f"{display}:2",
            ) from None
        if not math.isfinite(energy):
            raise DataError(f"energy is {tokens[1]}, not a finite number", f"{display}:2")
    body = _xyz_body(lines, count, display)
    symbols, positions = _parse_atom_lines(body, 3, display)
    return symbols, positions, energy


def _is_count(token: str) -> bool:
    # ASCII digits only: '²'.isdigit() is True, but int('²') fails
    return token.isascii() and token.isdigit()


def _count(token: str, lines: list, display: str) -> int:
    """The atom count of an XYZ count line; a count with more digits than the file has
    lines is refused before int() (which gives up beyond 4300 digits)."""
    if len(token.lstrip("0")) > len(str(len(lines))):
        raise DataError(
            f"atom count mismatch: the count line says {excerpt(token, 30)} atoms but "
            f"{max(len(lines) - 2, 0)} atom line(s) follow", f"{display}:1")
    return int(token)


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
    if len(head) == 1 and _is_count(head[0]):  # an XYZ header after all
        lines, first_lineno = _xyz_body(lines, _count(head[0], lines, display), display), 3
    symbols, positions = _parse_atom_lines(lines, first_lineno, display)
    return symbols, positions, first_lineno


#: Largest N of a ``p_N.xyz`` file name. A folder of 10^9 structures is no plan, and the
#: gap check once walked every number up to N (p_99999999999.xyz: out of memory after 15 s).
MAX_STRUCTURE_NUMBER = 10**9


def _structure_number(digits: str, where: str) -> int:
    """N of ``p_N.xyz`` (ASCII digits), refusing absurd values at once."""
    n = int(digits)  # at most 255 digits: a file name is at most 255 bytes
    if n > MAX_STRUCTURE_NUMBER:
        shown = (digits if len(digits) <= 20
                 else f"{digits[:8]}...{digits[-4:]} ({len(digits)} digits)")
        raise DataError(
            f"structure number {shown} is absurdly large (p_N files are numbered 1, 2, ... "
            f"up to at most {MAX_STRUCTURE_NUMBER:_}); rename the file", where)
    return n


def _check_magnitude(positions, display: str, first_lineno: int) -> None:
    """A coordinate beyond ±MAX_COORDINATE Å (1e308: a corrupted number) is refused with
    its line before any distance is computed (its square overflows)."""
    bad = np.flatnonzero(np.any(np.abs(positions) > MAX_COORDINATE, axis=1))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"coordinate of magnitude {np.max(np.abs(positions[i])):.3g} Å; beyond "
            f"±{MAX_COORDINATE:g} Å it is no atomic position (a corrupted number?)",
            f"{display}:{first_lineno + i}")


def _gaps(numbers: list, show: int = 20) -> tuple:
    """(how many numbers in 1..max(numbers) are missing, the first ``show`` of them), in
    time proportional to ``len(numbers)``, not to the largest number."""
    present = sorted(set(numbers))
    count = present[-1] - sum(1 for n in present if n >= 1)
    first = []
    expected = 1
    for n in present:
        if n < 1:
            continue
        while expected < n and len(first) < show:
            first.append(expected)
            expected += 1
        if len(first) >= show:
            break
        expected = n + 1
    return count, first


def _scan_names(folder: Path) -> tuple | None:
    """({N: p_N.xyz}, {N: p_N_extended.xyz}) of a folder in one pass over its entries, in
    no particular order; None when any p_N name needs a closer look (two names with one N,
    an entry that is no regular file, an N of 10 digits or more): :func:`_scan_sorted`
    then finds the first problem in natural order and names it."""
    subs: dict[int, str] = {}
    exts: dict[int, str] = {}
    try:
        with os.scandir(folder) as it:
            for entry in it:
                name = entry.name
                if not name.startswith("p_"):
                    continue
                m = _SEED_NAME.match(name)
                if m is None:
                    continue
                digits = m.group(1)
                table = exts if m.group(2) else subs
                n = int(digits) if len(digits) < 10 else -1
                # is_file() is answered from the directory entry for a regular file (no
                # stat of each of 64 000 files); links are followed as path_problem does
                if n < 0 or n in table or not entry.is_file():
                    return None
                table[n] = name
    except OSError:
        return None
    return subs, exts


def _scan_sorted(folder: Path, display: str) -> tuple:
    """({N: p_N.xyz}, {N: p_N_extended.xyz}) of a folder, its p_N entries visited in
    natural order, raising at the first that is no regular file or repeats a number."""
    subs: dict[int, str] = {}
    exts: dict[int, str] = {}
    with os.scandir(folder) as it:
        entries = sorted((e for e in it if e.name.startswith("p_")),
                         key=lambda e: _seed_order(e.name))
    for entry in entries:
        for regex, table in ((_SEED_SUB, subs), (_SEED_EXT, exts)):
            m = regex.match(entry.name)
            if not m:
                continue
            where = os.path.join(display, entry.name)
            # a p_N name that is a folder, a FIFO, a dangling link or a link loop is a
            # mistake to name, not a file to skip (skipping it reported a missing partner)
            problem = path_problem(entry.path)
            if problem is not None:
                raise DataError(f"{problem}; expected a structure file", where)
            n = _structure_number(m.group(1), where)
            if n in table:
                raise DataError(
                    f"{table[n]} and {entry.name} carry the same number {n}", display
                )
            table[n] = entry.name
    return subs, exts


def list_seed_folder(folder: Path, display: str, n_substrate: int | None, have_csv: bool,
                     require_energies: bool) -> tuple:
    """The p_N pairs of a substrate/surface folder, checked: gaps in the numbering warned,
    unpaired files rejected.

    Parameters
    ----------
    folder : Path
    display : str
        The folder as the user named it (for messages).
    n_substrate : int, optional
        Substrate atoms per structure; with it (and energies from a CSV file when they are
        required) a p_N_extended.xyz needs no p_N.xyz.
    have_csv : bool
        The energies come from a CSV file.
    require_energies : bool

    Returns
    -------
    (list of int, dict, dict)
        The numbers N in order, and the file names by N: ``{N: "p_N.xyz"}``,
        ``{N: "p_N_extended.xyz"}``. :func:`_read_seed_folder` reads them (or a block of
        them: parallel parts are handed their slice, the folder is listed once).
    """
    scanned = _scan_names(folder)
    subs, exts = scanned if scanned is not None else _scan_sorted(folder, display)
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
    if orphans and (n_substrate is None or (require_energies and not have_csv)):
        n = orphans[0]
        raise DataError(
            f"no partner p_{n}.xyz in the folder (it holds the energy and the substrate "
            "atoms)",
            os.path.join(display, exts[n]),
        )
    n_gaps, gaps = _gaps(numbers)
    if n_gaps:
        shown = ", ".join(f"p_{g}" for g in gaps) + (", ..." if n_gaps > len(gaps) else "")
        warnings.warn(
            f"{display}: numbering has gaps, missing {shown} ({n_gaps} number(s)); "
            f"read {len(numbers)} structures",
            UserWarning,
            stacklevel=4,
        )
    return numbers, subs, exts


def listing_block(listing: tuple, k: int, parts: int) -> tuple:
    """The k-th of ``parts`` contiguous blocks of a :func:`list_seed_folder` listing: what a
    parallel part needs to read. When every file of the block is named ``p_N.xyz`` and
    ``p_N_extended.xyz`` (no leading zeros, both present) the names are left out (None):
    sending 16 000 names to each of 4 parts cost the client 50 ms before the workers
    could start."""
    numbers, subs, exts = listing
    mine = numbers[_block(len(numbers), k, parts)]
    if all(subs.get(n) == f"p_{n}.xyz" and exts[n] == f"p_{n}_extended.xyz" for n in mine):
        return (mine, None, None)
    return (mine, {n: subs[n] for n in mine if n in subs}, {n: exts[n] for n in mine})


def _names(listing: tuple) -> tuple:
    """A listing with the names :func:`listing_block` left out filled in."""
    numbers, subs, exts = listing
    if subs is None:
        subs = {n: f"p_{n}.xyz" for n in numbers}
        exts = {n: f"p_{n}_extended.xyz" for n in numbers}
    return numbers, subs, exts


def _read_seed_folder(
    folder: Path,
    display: str,
    n_substrate: int | None,
    csv_energies: dict | None,
    csv_name: str,
    factor: float,
    require_energies: bool,
    part: tuple | None = None,
    listing: tuple | None = None,
) -> list[Structure]:
    """Every p_N pair of a folder, in numeric order (gaps warned, unpaired files rejected);
    with ``part=(k, n)`` only the k-th of n contiguous blocks of them; with ``listing``
    (from :func:`list_seed_folder`, or a block of one) those files, without listing the
    folder again."""
    if listing is None:
        listing = list_seed_folder(folder, display, n_substrate, csv_energies is not None,
                                   require_energies)
        if part is not None:
            listing = listing_block(listing, *part)
    numbers, subs, exts = _names(listing)
    structures = _bulk_structures(folder, display, numbers, subs, exts, n_substrate,
                                  csv_energies, csv_name, factor, require_energies)
    if structures is None:  # something is off: read file by file for the exact message
        structures = [
            _one_structure(folder, display, n, subs, exts, n_substrate, csv_energies,
                           csv_name, factor, require_energies)
            for n in numbers
        ]
    return structures


def _block(n: int, k: int, parts: int) -> slice:
    """The k-th of ``parts`` contiguous blocks of n items (sizes differ by at most one)."""
    edges = np.linspace(0, n, parts + 1).round().astype(int)
    return slice(int(edges[k]), int(edges[k + 1]))


def _seed_order(name: str):
    """Natural order of p_N file names (p_9 before p_10), by N first."""
    digits = name[2:].split("_", 1)[0].split(".", 1)[0]
    return (int(digits), name) if digits.isdigit() else (-1, name)


def _one_structure(folder, display, n, subs, exts, n_substrate, csv_energies, csv_name,
                   factor, require_energies) -> Structure:
    """The structure p_N, parsed line by line (every problem named with its line)."""
    ext_file = os.path.join(display, exts[n])
    ext_syms, ext_pos, ext_line0 = _read_extended_file(folder / exts[n], ext_file)
    _check_magnitude(ext_pos, ext_file, ext_line0)
    name = Path(subs.get(n, f"p_{n}.xyz")).stem
    energy = None
    if n in subs:
        sub_file = os.path.join(display, subs[n])
        sub_syms, sub_pos, energy = _read_substrate_file(
            folder / subs[n], sub_file, need_energy=csv_energies is None
        )
        _check_magnitude(sub_pos, sub_file, 3)
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
    if csv_energies is not None:
        aliases = [name, f"{name}.xyz", Path(exts[n]).stem, exts[n]]
        energy = _csv_lookup(csv_energies, aliases, name, csv_name, require_energies)
    elif energy is None:  # p_N.xyz absent, prediction only
        energy = math.nan
    groups = np.full(len(ext_syms), GROUP_B, dtype=np.int8)
    groups[:n_sub] = GROUP_A
    return Structure(
        name=name,
        symbols=ext_syms,
        positions=ext_pos,
        energy=energy * factor,
        groups=groups,
        source=ext_file,
        first_line=ext_line0,
    )


# -- the bulk path ----------------------------------------------------------------------------
