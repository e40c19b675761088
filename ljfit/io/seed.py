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


#: Bytes asked of each read(): a p_N file of thousands of atoms takes a few reads.
_CHUNK = 1 << 16


def _read_files(paths: list) -> list | None:
    """The bytes of every file, or None when one cannot be read (the line-by-line reader
    then names it). os.open/os.read, not open(): a Python file object per file cost more
    than the read itself, 0.15 s of 64 000 small files; O_NONBLOCK: a FIFO swapped in after
    the listing reads as empty (and is named by the line-by-line reader), never blocks."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
    out = []
    for path in paths:
        try:
            fd = os.open(path, flags)
        except OSError:
            return None
        try:
            data = os.read(fd, _CHUNK)
            if data:  # until EOF: read() may return less than asked before it
                more = os.read(fd, _CHUNK)
                if more:
                    chunks = [data, more]
                    while more:
                        more = os.read(fd, _CHUNK)
                        chunks.append(more)
                    data = b"".join(chunks)
        except OSError:
            return None
        finally:
            os.close(fd)
        out.append(data)
    return out


def _atom_table(blobs: list) -> tuple | None:
    """Parse many files of ``Symbol x y z`` lines at once (pandas' C reader): (symbol code
    per atom, the symbols the codes stand for, positions (N, 3), atoms per file), or None
    when anything is unusual (the line-by-line parser then finds and names it)."""
    import io

    parts = [data.rstrip() for data in blobs]
    if not all(parts):
        return None
    text = b"\n".join(parts) + b"\n"
    if b"\x00" in text or b"\r" in text or b"\t" in text:
        return None
    counts = np.array([data.count(b"\n") for data in parts], dtype=np.int64) + 1
    if int(counts.sum()) <= SMALL_TABLE_LINES:
        return _small_atom_table(text, counts)
    import pandas as pd

    try:
        table = pd.read_csv(io.BytesIO(text), sep=" ", header=None, skipinitialspace=True,
                            names=["s", "x", "y", "z"], dtype={"s": "category", "x": float,
                                                               "y": float, "z": float},
                            engine="c", na_filter=False, skip_blank_lines=False)
    except (ValueError, pd.errors.ParserError):
        return None
    if len(table) != int(counts.sum()):
        return None
    pos = table[["x", "y", "z"]].to_numpy(dtype=float)
    if not np.all(np.isfinite(pos)) or np.abs(pos).max(initial=0.0) > MAX_COORDINATE:
        return None
    codes = table["s"].cat.codes.to_numpy()
    uniques = [str(s) for s in table["s"].cat.categories]
    if np.any(codes < 0) or not set(uniques) <= _ELEMENTS:
        return None
    return codes, uniques, pos, counts


#: atom lines up to which _atom_table parses without pandas: splitting them in Python costs
#: ~2.4 us a line, pandas' C reader ~0.2 us a line after its import (~0.22 s); even at this
#: size the Python split is the faster (0.12 s against 0.23 s)
SMALL_TABLE_LINES = 50_000


def _small_atom_table(text: bytes, counts) -> tuple | None:
    """:func:`_atom_table` of a small input: the lines split in Python, the numbers by
    ``float`` (as the line-by-line parser reads them)."""
    lines = text[:-1].split(b"\n")
    rows = [line.split() for line in lines]
    if b"_" in text or any(len(r) != 4 for r in rows):
        return None  # (float() would take "1_0"; the line-by-line parser decides)
    try:
        pos = np.array([[float(x), float(y), float(z)] for _, x, y, z in rows], dtype=float)
    except ValueError:
        return None
    if not np.all(np.isfinite(pos)) or np.abs(pos).max(initial=0.0) > MAX_COORDINATE:
        return None
    try:
        names = [r[0].decode("ascii") for r in rows]
    except UnicodeDecodeError:
        return None
    uniques = sorted(set(names))
    if not set(uniques) <= _ELEMENTS:
        return None
    code_of = {u: k for k, u in enumerate(uniques)}
    codes = np.array([code_of[n] for n in names], dtype=np.int8 if len(uniques) < 128
                     else np.int16)
    return codes, uniques, pos.reshape(-1, 3), counts


def _substrate_heads(blobs: list, need_energy: bool) -> tuple | None:
    """(declared atom counts, energies or NaN, atom-line bodies) of p_N.xyz files, or None
    when a count line or an energy needs the line-by-line reader's message."""
    n = len(blobs)
    declared = np.empty(n, dtype=np.int64)
    energies = np.full(n, math.nan)
    bodies = []
    for k, data in enumerate(blobs):
        head = data.split(b"\n", 2)
        if len(head) < 3:
            return None
        count = head[0].strip()
        if not count.isdigit() or len(count) > 9:
            return None  # (an absurd count: the line-by-line reader names it)
        declared[k] = int(count)
        if need_energy:
            tokens = head[1].split()
            try:
                energies[k] = float(tokens[1])
            except (IndexError, ValueError):
                return None
        bodies.append(head[2])
    if need_energy and not np.all(np.isfinite(energies)):
        return None
    return declared, energies, bodies


def _layout_index(codes, starts, n_atoms, n_sub) -> tuple:
    """(layout of every structure, (first structure of each layout)): structures with the
    same symbols in the same order and the same substrate size share one layout, found
    with numpy (one row per structure) instead of a dictionary lookup per structure."""
    n = len(starts)
    index = np.empty(n, dtype=np.int64)
    firsts: list = []
    sizes = np.stack([n_atoms, n_sub], axis=1)
    for size in np.unique(sizes, axis=0):
        members = np.flatnonzero((sizes == size).all(axis=1))
        width = int(size[0])
        rows = codes[starts[members, None] + np.arange(width)]
        _, first, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
        index[members] = len(firsts) + inverse.reshape(-1)
        firsts.extend(int(m) for m in members[first])
    return index, firsts


def _bulk_structures(folder, display, numbers, subs, exts, n_substrate, csv_energies,
                     csv_name, factor, require_energies) -> list | None:
    """Every p_N at once: the files read in one pass, their atom lines parsed in bulk with
    numpy/pandas, every check vectorised. None when any file needs a closer look (an XYZ
    header in an extended file, a short or odd line, a mismatch...)."""
    need_energy = csv_energies is None
    if any(n not in subs for n in numbers):
        return None
    base = str(folder) + os.sep  # plain strings: pathlib costs more than a small file's read
    ext_blobs = _read_files([base + exts[n] for n in numbers])
    sub_blobs = None if ext_blobs is None else _read_files([base + subs[n] for n in numbers])
    if ext_blobs is None or sub_blobs is None:
        return None
    # p_N.xyz: count line, comment line with the energy, atom lines
    heads = _substrate_heads(sub_blobs, need_energy)
    if heads is None:
        return None
    declared, energies, sub_bodies = heads
    ext = _atom_table(ext_blobs)
    sub = _atom_table(sub_bodies)
    if ext is None or sub is None:
        return None
    ext_codes, ext_uniques, ext_pos, ext_n = ext
    ext_pos.setflags(write=False)  # each structure's positions are a read-only view
    sub_codes, sub_uniques, sub_pos, sub_n = sub
    if not np.array_equal(declared, sub_n):
        return None
    # one numbering of the symbols for both tables
    lut = np.array([ext_uniques.index(s) if s in ext_uniques else -1 for s in sub_uniques],
                   dtype=np.int64)
    sub_codes = lut[sub_codes]
    n_sub = sub_n if n_substrate is None else np.full(len(numbers), n_substrate)
    if np.any(n_sub > sub_n) or np.any(ext_n <= n_sub):
        return None
    # the substrate atoms come first in p_N_extended.xyz, as in p_N.xyz
    ext_start = np.concatenate(([0], np.cumsum(ext_n)[:-1]))
    sub_start = np.concatenate(([0], np.cumsum(sub_n)[:-1]))
    take = np.repeat(ext_start - sub_start, n_sub) + _ranges(sub_start, n_sub)
    mine = _ranges(sub_start, n_sub)
    if not np.array_equal(ext_codes[take], sub_codes[mine]):
        return None
    if np.any(np.linalg.norm(ext_pos[take] - sub_pos[mine], axis=1) > POSITION_TOLERANCE):
        return None
    # one symbols tuple and one groups array per layout, shared by its structures
    index, firsts = _layout_index(ext_codes, ext_start, ext_n, n_sub)
    shared = []
    for k in firsts:
        a, b = int(ext_start[k]), int(ext_start[k] + ext_n[k])
        groups = np.full(b - a, GROUP_B, dtype=np.int8)
        groups[: int(n_sub[k])] = GROUP_A
        groups.setflags(write=False)
        shared.append((tuple(ext_uniques[c] for c in ext_codes[a:b]), groups))
    names = [subs[n][:-4] for n in numbers]  # p_N.xyz → p_N
    if csv_energies is not None:
        values = [_csv_lookup(csv_energies, [name, f"{name}.xyz", exts[n][:-4], exts[n]],
                              name, csv_name, require_energies) * factor
                  for name, n in zip(names, numbers)]
    else:
        values = (energies * factor).tolist()  # the products Python floats would give
    display_dir = os.path.join(display, "")
    ends = (ext_start + ext_n).tolist()
    trusted = Structure._trusted
    return [trusted(name=name, symbols=shared[j][0], positions=ext_pos[a:b], energy=energy,
                    groups=shared[j][1], source=f"{display_dir}{exts[n]}", first_line=1)
            for name, n, j, a, b, energy in zip(names, numbers, index.tolist(),
                                                ext_start.tolist(), ends, values)]


def _ranges(starts, lengths) -> np.ndarray:
    """Concatenated ranges start..start+length."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    offsets = np.repeat(np.asarray(starts, dtype=np.int64) -
                        np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    return offsets + np.arange(total)



