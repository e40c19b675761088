"""The bulk reader of a substrate/surface folder: every p_N file read in one pass, their atom
lines parsed at once (a Python split for small inputs, pandas' C reader for large ones),
every check vectorised, one symbols tuple and groups array per layout. It gives the
line-by-line reader's Dataset byte for byte (tested), or None when anything is unusual:
the line-by-line reader in :mod:`ljfit.io.seed` then finds the problem and names it."""

from __future__ import annotations

import math
import os

import numpy as np

from ..dataset import GROUP_A, GROUP_B, Structure
from .common import _ELEMENTS, MAX_COORDINATE, POSITION_TOLERANCE, _csv_lookup

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



