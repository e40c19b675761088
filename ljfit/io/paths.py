"""Which files a path names: a folder, a file or a glob pattern; the folder rule of the ASE layout."""

from __future__ import annotations

import glob as _glob
import os
import re
from pathlib import Path

from ..errors import DataError
from .common import _natural_key, path_problem

#: Extensions read from a folder in the ``"ase"`` layout (compressed variants too).
FOLDER_EXTENSIONS = (
    "xyz", "extxyz", "traj", "db", "cif", "pdb", "vasp", "poscar", "xsf", "gro",
    "g96", "castep", "cell", "geom", "pwi", "pwo", "nwo", "gjf", "cube", "car", "arc",
    "con", "res", "shelx", "mol", "sdf", "cjson", "xtl", "rmc6f",
)  # fmt: skip
_COMPRESSION = ("gz", "bz2", "xz")
_VASP_NAMES = re.compile(r"^(POSCAR|CONTCAR)", re.IGNORECASE)

#: File names of the substrate/surface layout.
_SEED_SUB = re.compile(r"^p_(\d+)\.xyz$", re.ASCII)  # ASCII: int() of the digits is N
_SEED_EXT = re.compile(r"^p_(\d+)_extended\.xyz$", re.ASCII)
#: Either of them in one match: N, and whether it is the extended file.
_SEED_NAME = re.compile(r"^p_(\d+)(_extended)?\.xyz$", re.ASCII)


def _resolve_path(display: str) -> tuple[Path | None, list[Path]]:
    """(folder, []) for a folder, (None, files) for a file or a glob pattern."""
    p = Path(os.path.expanduser(display))
    if p.is_dir():
        return p, []
    if p.is_file():
        return None, [p]
    if _glob.has_magic(display):
        files = sorted(
            (Path(f) for f in _glob.glob(os.path.expanduser(display)) if os.path.isfile(f)),
            key=lambda f: _natural_key(str(f)),
        )
        if not files:
            raise DataError("the pattern matches no file", display)
        return None, files
    if p.exists():
        raise DataError(f"{path_problem(p) or 'not a regular file'} or folder", display)
    if os.path.islink(p):  # a link loop or a link to nothing: say so
        raise DataError(path_problem(p), display)
    raise DataError("no such file or folder", display)


# -- folder scanning -------------------------------------------------------------------------


def _has_seed_files(folder: Path) -> bool:
    with os.scandir(folder) as entries:
        # by name alone: a p_N_extended.xyz that is a folder or a broken link is then
        # reported by the seed reader, instead of the folder being read as another layout
        return any(_SEED_EXT.match(e.name) for e in entries)


def structure_files(folder) -> list[Path]:
    """Files of ``folder`` that the ``"ase"`` layout reads, in natural order.

    Parameters
    ----------
    folder : str or Path

    Returns
    -------
    list of Path
        Regular, non-hidden files whose extension (after an optional compression
        suffix ``.gz``/``.bz2``/``.xz``) is in :data:`FOLDER_EXTENSIONS`, or whose name
        starts with ``POSCAR`` or ``CONTCAR``.
    """
    out = []
    with os.scandir(folder) as it:
        entries = list(it)
    for entry in entries:
        name = entry.name
        if name.startswith(".") or not entry.is_file():
            continue
        parts = name.lower().split(".")
        if len(parts) > 2 and parts[-1] in _COMPRESSION:
            parts = parts[:-1]
        ext = parts[-1] if len(parts) > 1 else ""
        if ext in FOLDER_EXTENSIONS or _VASP_NAMES.match(name):
            out.append(Path(folder) / name)
    return sorted(out, key=lambda f: _natural_key(f.name))


def _folder_structure_files(folder: Path, display: str) -> list[Path]:
    files = structure_files(folder)
    if not files:
        with os.scandir(folder) as entries:
            ignored = [e.name for e in entries if not e.name.startswith(".")]
        ignored.sort(key=_natural_key)
        extra = ""
        if ignored:
            extra = f" (ignored: {', '.join(ignored[:8])}{', ...' if len(ignored) > 8 else ''})"
        raise DataError(
            "the folder holds no structure files: neither p_N.xyz/p_N_extended.xyz pairs "
            f"nor files with an extension ASE reads{extra}",
            display,
        )
    return files


