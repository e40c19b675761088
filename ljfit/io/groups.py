"""Which atoms form group A and group B: tags, first:N, array:NAME, fragments, all."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from ase import Atoms

from ..dataset import GROUP_A, GROUP_B
from ..errors import DataError

# -- groups ----------------------------------------------------------------------------------

_GROUP_MODES = ("auto", "seed", "tags", "fragments", "all")

#: Groups "fragments": atoms i, j are bonded when closer than this times the sum of their
#: covalent radii (1.0 would miss C-H bonds: 1.09 Å > 0.76 + 0.31 Å).
FRAGMENT_BOND_SCALE = 1.2


def parse_groups(how) -> tuple[str, object]:
    """Split a group specification into ``(mode, argument)``.

    Parameters
    ----------
    how : str or None
        ``"auto"``, ``"seed"``, ``"tags"``, ``"fragments"``, ``"all"`` (or ``None``),
        ``"first:N"`` or ``"array:NAME"``.

    Returns
    -------
    (str, object)
        ``("first", N)`` with int N >= 1, ``("array", NAME)``, or ``(mode, None)``.
    """
    if how is None:
        return "all", None
    text = str(how).strip()
    low = text.lower()
    if low in _GROUP_MODES:
        return low, None
    if low.startswith("first:"):
        arg = text.split(":", 1)[1].strip()
        if not arg.isdigit() or int(arg) < 1:
            raise DataError(f"groups={how!r}: N in 'first:N' must be a positive integer")
        return "first", int(arg)
    if low.startswith("array:"):
        arg = text.split(":", 1)[1].strip()
        if not arg:
            raise DataError(f"groups={how!r}: give the array name, as in 'array:NAME'")
        return "array", arg
    raise DataError(
        f"unknown group mode {how!r}; valid: auto, tags, first:N, array:NAME, fragments, all"
    )


def _fragments(atoms: Atoms) -> tuple[int, np.ndarray]:
    """Connected components of the covalent-radius bond graph: (count, label per atom)."""
    from ase.neighborlist import natural_cutoffs, neighbor_list
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(atoms)
    i, j = neighbor_list("ij", atoms, natural_cutoffs(atoms, mult=FRAGMENT_BOND_SCALE))
    graph = coo_matrix((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n, n))
    return connected_components(graph, directed=False)


def groups_for_atoms(atoms: Atoms, how="auto", *, source: str = "") -> np.ndarray | None:
    """Group id of every atom of an :class:`ase.Atoms`, as :func:`read_dataset` assigns them.

    Parameters
    ----------
    atoms : ase.Atoms
    how : str
        ``"auto"``: ``"tags"`` when any atom has a non-zero tag, else ``"all"``.
        ``"tags"``: tag 0 -> group A (0), any other tag -> group B (1).
        ``"first:N"``: the first N atoms are group A, the rest group B.
        ``"array:NAME"``: per-atom array ``atoms.arrays[NAME]``; values 0/1 (or False/True)
        are taken as they are, otherwise it must hold exactly two distinct values and the
        smaller one is group A.
        ``"fragments"``: bonded fragments, atoms closer than :data:`FRAGMENT_BOND_SCALE`
        times the sum of their covalent radii (:func:`ase.neighborlist.natural_cutoffs`)
        being bonded; there must be exactly two, and the one holding atom 0 is group A.
        ``"all"`` (or ``None``): no groups, the energy is a total energy.
    source : str, optional
        Name of the structure for error messages.

    Returns
    -------
    ndarray of int8, shape (n_atoms,), or None
        ``None`` for ``"all"`` (and ``"auto"`` without tags).

    Raises
    ------
    DataError
        The mode cannot be applied, or one group comes out empty.
    """
    mode, arg = parse_groups(how)
    where = source or atoms.get_chemical_formula()
    n = len(atoms)
    if mode == "auto":
        mode = "tags" if np.any(atoms.get_tags() != 0) else "all"
    if mode == "all":
        return None
    if mode == "seed":
        raise DataError(
            "groups='seed' belongs to the substrate/surface folder layout; for a single "
            "structure use 'first:N' with N the number of substrate atoms",
            where,
        )
    if mode == "tags":
        groups = (atoms.get_tags() != 0).astype(np.int8)
        what = "tags (tag 0 -> group A, non-zero -> group B)"
    elif mode == "first":
        if arg >= n:
            raise DataError(
                f"group B is empty: groups 'first:{arg}' but the structure has {n} atoms",
                where,
            )
        groups = np.full(n, GROUP_B, dtype=np.int8)
        groups[:arg] = GROUP_A
        what = f"first:{arg}"
    elif mode == "array":
        if arg not in atoms.arrays:
            have = ", ".join(k for k in atoms.arrays if k not in ("numbers", "positions"))
            raise DataError(
                f"no per-atom array {arg!r} for groups 'array:{arg}' "
                f"(per-atom arrays present: {have or 'none'})",
                where,
            )
        values = np.asarray(atoms.arrays[arg])
        if values.shape != (n,):
            raise DataError(
                f"per-atom array {arg!r} has shape {values.shape}; groups need one value "
                f"per atom, shape ({n},)",
                where,
            )
        distinct = np.unique(values)
        if values.dtype == bool or np.isin(distinct, (0, 1)).all():
            groups = values.astype(np.int8)
        elif len(distinct) == 2:
            groups = (values == distinct[1]).astype(np.int8)
        else:
            raise DataError(
                f"per-atom array {arg!r} holds {len(distinct)} distinct values "
                f"({', '.join(map(str, distinct[:5]))}{', ...' if len(distinct) > 5 else ''}); "
                "groups need 0/1 or exactly two distinct values",
                where,
            )
        what = f"array {arg!r}"
    elif mode == "fragments":
        count, labels = _fragments(atoms)
        if count != 2:
            raise DataError(
                f"groups 'fragments' needs exactly two bonded fragments, found {count}",
                where,
            )
        groups = (labels != labels[0]).astype(np.int8)
        what = "fragments"
    else:  # pragma: no cover - parse_groups allows nothing else
        raise AssertionError(mode)
    for g, label in ((GROUP_A, "A"), (GROUP_B, "B")):
        if not np.any(groups == g):
            raise DataError(f"group {label} is empty (groups from {what})", where)
    return groups


def assign_groups(
    symbols: Sequence[str],
    positions,
    *,
    how="auto",
    tags=None,
    arrays: dict | None = None,
    cell=None,
    pbc=None,
    source: str = "",
) -> np.ndarray | None:
    """:func:`groups_for_atoms` for plain arrays instead of an :class:`ase.Atoms`.

    Parameters
    ----------
    symbols : sequence of str, length n_atoms
    positions : array_like, shape (n_atoms, 3)
        Å.
    how : str
        See :func:`groups_for_atoms`.
    tags : array_like of int, shape (n_atoms,), optional
    arrays : dict of str to array_like, shape (n_atoms, ...), optional
        Per-atom arrays for ``"array:NAME"``.
    cell : array_like, shape (3, 3), optional
    pbc : array_like of bool, shape (3,), optional
    source : str, optional

    Returns
    -------
    ndarray of int8, shape (n_atoms,), or None
    """
    atoms = Atoms(
        symbols=list(symbols), positions=positions, tags=tags, cell=cell, pbc=pbc
    )
    for key, value in (arrays or {}).items():
        atoms.new_array(key, np.asarray(value))
    return groups_for_atoms(atoms, how, source=source)


