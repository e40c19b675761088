r"""The LAMMPS export of a fit: ``pair.lmp``, ``in.lammps`` and ``structure.data``.

Three files, each a contract (tools read them by name):

``pair.lmp``
    Units-free lines to ``include`` once the simulation box exists (after ``read_data``):
    ``pair_style lj/cut RC`` (``mie/cut`` for a Mie n-m potential), one ``pair_coeff`` per
    pair of atom types with every value printed to 17 significant digits,
    ``pair_modify shift yes`` when the fit was shifted, and for interaction energies
    ``neigh_modify exclude molecule/intra all``.
``structure.data``
    The first structure of the data set, as :func:`ase.io.lammpsdata.write_lammps_data`
    writes it, with the atom types of ``pair.lmp`` (and molecule IDs 1 = group A, 2 = group B for
    interaction energies) and the masses.
``in.lammps``
    A complete input (``units metal``, ``atom_style``, ``boundary``, ``read_data``,
    ``include pair.lmp``, ``run 0``): run from the results folder, LAMMPS's ``pe`` is the
    first structure's prediction of the best method, minus the fitted constant ``offset``
    (LAMMPS pair styles have no constant term).

Which pairs LAMMPS counts
-------------------------
A total energy counts every pair once, as LAMMPS does. An interaction energy counts only
pairs of one group-A atom and one group-B atom; the groups may hold the same elements (a
dimer, a bilayer, a molecule on a surface of its own element), so type-based exclusions
cannot separate them. ``structure.data`` therefore gives every group-A atom molecule ID 1
and every group-B atom molecule ID 2, and ``neigh_modify exclude molecule/intra all``
drops every pair inside one molecule, periodic images included: what remains is exactly
group A × group B.

Atom types
----------
One type per element, alphabetical (per-pair and per-element scopes). Per-site scope: the
k-th group-A atom in file order (site k, parameters ``epsilon[k]``, ``sigma[k]``) is type
k+1, for every site index the data set has, then one type per group-B element; each site
type gets its own ``pair_coeff`` lines with the group-B types.

Cutoff
------
The fit's cutoff when it had one. A fit without a cutoff (clusters only: periodic data
needs one) gets the smallest whole number of Å at least :data:`AUTO_CUTOFF_MARGIN` beyond
the largest interacting pair distance of the data set, so that LAMMPS counts every pair
the fit counted. When that exceeds :data:`MAX_AUTO_CUTOFF` the export falls back to
:data:`~ljfit.report.run.DEFAULT_LAMMPS_CUTOFF` and measures the energy error this causes
on the data set (the model evaluated with that cutoff); the warning goes into the run's
warnings (console, report.md, metrics.json).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from .. import __version__
from ..dataset import GROUP_A, GROUP_B
from ..errors import DataError, LJFitError
from .run import DEFAULT_LAMMPS_CUTOFF

__all__ = [
    "PAIR_FILE",
    "INPUT_FILE",
    "DATA_FILE",
    "MAX_AUTO_CUTOFF",
    "AUTO_CUTOFF_MARGIN",
    "AtomTypes",
    "LammpsCutoff",
    "LammpsExport",
    "atom_types",
    "interaction_reach",
    "lammps_cutoff",
    "pair_lmp",
    "lammps_data",
    "in_lammps",
    "lammps_export",
]

PAIR_FILE = "pair.lmp"
INPUT_FILE = "in.lammps"
DATA_FILE = "structure.data"
#: Å: an automatic cutoff above this is not used (see the module docstring).
MAX_AUTO_CUTOFF = 50.0
#: Å: an automatic cutoff lies at least this far beyond the largest interacting distance.
AUTO_CUTOFF_MARGIN = 1.0
#: Å beyond the cutoff between the atoms and a non-periodic face of the LAMMPS box.
BOX_MARGIN = 1.0


def _g(v: float) -> str:
    """Short form of a number for people (report.md)."""
    return f"{v:.10g}"


def _full(v: float) -> str:
    """A double in full (17 significant digits: it reads back to the same bits)."""
    return f"{float(v):.17g}"


def _is_e0(name: str) -> bool:
    """Per-element reference energies ``e0[El]`` (eV per atom): not pair coefficients."""
    return str(name).startswith("e0[")


# ----------------------------------------------------------------------------------------
# atom types
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AtomTypes:
    """LAMMPS atom types of a data set, shared by ``pair.lmp`` and every data file.

    Attributes
    ----------
    labels : tuple of str
        What each type is, for comments (``"Ar"``, ``"site 3 (C)"``, ``"Au (group B)"``);
        type t is ``labels[t - 1]``.
    symbols : tuple of str
        Element of each type (its mass).
    n_sites : int
        Per-site scope: the first ``n_sites`` types are the group-A sites; else 0.
    element_type : dict of str to int
        Type of each element (per-site scope: of each group-B element).
    interaction : bool
        Interaction energies: the data files carry molecule IDs (1 = group A, 2 = group B).
    """

    labels: tuple
    symbols: tuple
    n_sites: int = 0
    element_type: dict = field(default_factory=dict)
    interaction: bool = False

    @property
    def n_types(self) -> int:
        return len(self.labels)

    def of(self, structure) -> np.ndarray:
        """LAMMPS type (1-based) of every atom of ``structure``.

        Raises
        ------
        DataError
            An element (or site) that the data set the types were made for does not hold.
        """
        sym = structure.symbols
        out = np.empty(len(sym), dtype=int)
        if self.n_sites:
            if structure.groups is None:
                raise DataError("per-site atom types need two groups", structure.name)
            site = np.cumsum(structure.groups == GROUP_A) - 1
            for k, (s, g) in enumerate(zip(sym, structure.groups)):
                if g == GROUP_A:
                    if site[k] >= self.n_sites:
                        raise DataError(
                            f"group A has more than the {self.n_sites} sites of the fit",
                            structure.name)
                    out[k] = site[k] + 1
                else:
                    out[k] = self._element(s, structure)
            return out
        for k, s in enumerate(sym):
            out[k] = self._element(s, structure)
        return out

    def _element(self, symbol, structure) -> int:
        try:
            return self.element_type[symbol]
        except KeyError:
            raise DataError(
                f"element {symbol} has no LAMMPS atom type (types: "
                f"{', '.join(self.element_type)})", structure.name) from None

    def molecule_ids(self, structure) -> np.ndarray | None:
        """Molecule ID of every atom (1 = group A, 2 = group B), or None for total energies."""
        if not self.interaction:
            return None
        if structure.groups is None:
            raise DataError("interaction energies need two groups", structure.name)
        return np.where(structure.groups == GROUP_A, 1, 2).astype(int)


def atom_types(model, dataset) -> AtomTypes:
    """The atom types of ``pair.lmp`` for ``model`` fitted on ``dataset``."""
    interaction = bool(dataset.interaction)
    if model.scope == "per-site":
        n_sites = max(int(np.sum(s.groups == GROUP_A)) for s in dataset)
        site_el: dict = {}
        for s in dataset:
            for k, el in enumerate(s.group_symbols(GROUP_A)):
                site_el.setdefault(k, []).append(el)
        labels, symbols = [], []
        for k in range(n_sites):
            els = sorted(set(site_el[k]))
            labels.append(f"site {k} ({'/'.join(els)})")
            symbols.append(site_el[k][0])  # its element in the first structure holding it
        b_el = dataset.group_elements(GROUP_B)
        element_type = {el: n_sites + 1 + i for i, el in enumerate(b_el)}
        labels += [f"{el} (group B)" for el in b_el]
        symbols += b_el
        return AtomTypes(tuple(labels), tuple(symbols), n_sites, element_type, interaction)
    els = list(dataset.elements)
    return AtomTypes(tuple(els), tuple(els), 0, {el: i + 1 for i, el in enumerate(els)},
                     interaction)


# ----------------------------------------------------------------------------------------
# cutoff
# ----------------------------------------------------------------------------------------


def interaction_reach(dataset, chunk: int = 1 << 21) -> float:
    """Largest distance between two interacting atoms (Å) over the structures of a data set
    without periodicity: group A × group B for interaction energies, every pair for total
    energies. 0 when no structure has a pair.

    Structures with the same atoms and groups are stacked, at most ``chunk`` distances at
    a time.
    """
    blocks: dict = {}
    for k, s in enumerate(dataset):
        if s.periodic:
            raise DataError("the reach of pairs is infinite in a periodic structure; "
                            "fit with a cutoff", s.name)
        key = (s.n_atoms, None if s.groups is None else s.groups.tobytes())
        blocks.setdefault(key, []).append(k)
    best = 0.0
    for (n, gkey), members in blocks.items():
        groups = dataset[members[0]].groups
        if groups is None:
            i, j = np.triu_indices(n, 1)
        else:
            a, b = np.flatnonzero(groups == GROUP_A), np.flatnonzero(groups == GROUP_B)
            i, j = np.repeat(a, len(b)), np.tile(b, len(a))
        if len(i) == 0:
            continue
        step = max(1, chunk // len(i))
        for g0 in range(0, len(members), step):
            pos = np.stack([dataset[m].positions for m in members[g0:g0 + step]])
            d = pos[:, j] - pos[:, i]
            best = max(best, float(np.einsum("gpk,gpk->gp", d, d).max()))
    return math.sqrt(best)


@dataclass(frozen=True)
class LammpsCutoff:
    """The cutoff written to ``pair.lmp`` and why.

    Attributes
    ----------
    value : float
        Å.
    source : {"fit", "covers", "default"}
        The fit's own cutoff; an automatic one that covers every interacting pair of the
        data set; or the default, when covering them would need more than
        :data:`MAX_AUTO_CUTOFF`.
    reach : float or None
        Largest interacting pair distance of the data set (Å), for a fit without a cutoff.
    max_error, rms_error : float or None
        ``"default"`` only: max |ΔE| and RMS ΔE over the structures (eV) between the model
        with this cutoff and the fitted model (None when the parameters are undefined).
    first_error : float or None
        ``"default"`` only: ΔE of the first structure (eV), what LAMMPS's pe on
        ``structure.data`` differs by from the fit's prediction.
    """

    value: float
    source: str
    reach: float | None = None
    max_error: float | None = None
    rms_error: float | None = None
    first_error: float | None = None

    def comment(self) -> str:
        if self.source == "fit":
            return f"# cutoff {self.value:g} Å: the fit's own"
        if self.source == "covers":
            return (f"# cutoff {self.value:g} Å: the fit used none; its largest interacting "
                    f"pair distance is {self.reach:.6g} Å, so this cutoff counts every pair "
                    "the fit counted (in larger structures pairs beyond it are dropped)")
        return "# WARNING: " + self.warning()

    def warning(self) -> str | None:
        """The run warning of a fallback cutoff (None otherwise)."""
        if self.source != "default":
            return None
        if self.max_error is None:
            err = "its energy error on the data set was not measured (no defined parameters)"
        else:
            err = (f"which changes the energies of the data set by up to "
                   f"{self.max_error:.3g} eV (RMS {self.rms_error:.3g} eV)")
        return (f"LAMMPS export: the fit used no cutoff and its interacting pairs reach "
                f"{self.reach:.4g} Å (more than {MAX_AUTO_CUTOFF:g} Å); pair.lmp cuts them at "
                f"{self.value:g} Å, {err}; fit with --cutoff to export the same model")


def _values_for(model, values) -> dict:
    """The entries of ``values`` that are parameters of ``model``."""
    return {n: float(values[n]) for n in model.spec.names}


def lammps_cutoff(model, dataset, values=None) -> LammpsCutoff:
    """The cutoff ``pair.lmp`` is written with (see :class:`LammpsCutoff`).

    Parameters
    ----------
    model : LJModel
    dataset : Dataset
        The data set the model was fitted on.
    values : dict, optional
        Fitted parameters by name; used to measure the error of a fallback cutoff.
    """
    if model.cutoff is not None:
        return LammpsCutoff(float(model.cutoff), "fit")
    reach = model.features.max_distance  # measured by the featuriser in passing
    if reach is None or model.features.n_structures != len(dataset):
        reach = interaction_reach(dataset)
    auto = float(math.ceil(reach + AUTO_CUTOFF_MARGIN))
    if auto <= MAX_AUTO_CUTOFF:
        return LammpsCutoff(auto, "covers", reach)
    rc = float(DEFAULT_LAMMPS_CUTOFF)
    if not _defined(values):
        return LammpsCutoff(rc, "default", reach)
    from ..model import LJModel

    full = model.energies(_values_for(model, values))
    with warnings.catch_warnings():  # the same data set: its warnings were given already
        warnings.simplefilter("ignore")
        try:
            cut = LJModel(dataset, scope=model.scope, mixing=model.mixing,
                          potential=model.potential, cutoff=rc, offset=model.offset)
        except LJFitError:  # no pair at all inside rc: only the offset is left
            cut = None
    if cut is None:
        e_cut = np.full(len(full), float(values.get("offset") or 0.0) if model.offset else 0.0)
    else:
        e_cut = cut.energies(_values_for(cut, values))
    delta = e_cut - full
    return LammpsCutoff(rc, "default", reach, float(np.max(np.abs(delta))),
                        float(np.sqrt(np.mean(delta**2))), float(delta[0]))


# ----------------------------------------------------------------------------------------
# pair.lmp
# ----------------------------------------------------------------------------------------


def _defined(values) -> bool:
    return values is not None and all(
        v is not None and np.isfinite(v) for n, v in values.items() if not _is_e0(n))


def pair_lmp(model, values: dict | None, dataset, cutoff: LammpsCutoff | None = None,
             types: AtomTypes | None = None, method: str | None = None) -> str:
    """Text of ``pair.lmp`` (LAMMPS units metal: eV, Å).

    Parameters
    ----------
    model : LJModel
    values : dict or None
        Parameter values by name (eV, Å); None or any undefined value: no ``pair_coeff``
        lines (a comment says why). Keys ``e0[El]`` are reported, not used.
    dataset : Dataset
        The data set of the fit (atom types, cutoff, which pairs count).
    cutoff : LammpsCutoff, optional
        Default: :func:`lammps_cutoff`.
    types : AtomTypes, optional
        Default: :func:`atom_types`.
    method : str, optional
        The fit method, for the header.

    Returns
    -------
    str
        No ``units`` line: the file is included after the box exists.
    """
    from ..params import resolve_pair

    types = atom_types(model, dataset) if types is None else types
    cutoff = lammps_cutoff(model, dataset, values) if cutoff is None else cutoff
    pot = model.potential
    mie = not pot.is_lj
    head = f"# LAMMPS pair potential fitted by ljfit {__version__}"
    if method:
        head += f" (method {method})"
    lines = [
        head + f", data set {dataset.name}; units metal (eV, Å)",
        "# include it once the box exists (after read_data), e.g. 'include pair.lmp';",
        "# in.lammps runs it on structure.data",
        "# atom types:",
    ]
    lines += [f"#   type {t} = {lab}" for t, lab in enumerate(types.labels, start=1)]
    if model.scope == "per-element":
        lines.append(f"# per-element parameters mixed by the {model.mixing} rule; every type "
                     "pair is written out, so LAMMPS mixes nothing itself")
    if model.scope == "per-site":
        lines.append("# per-site parameters: each group-A site (its index in group A, file "
                     "order) is its own type")
    lines.append(cutoff.comment())
    lines.append(f"pair_style {'mie/cut' if mie else 'lj/cut'} {_full(cutoff.value)}")
    if not _defined(values):
        lines.append("# no fit with defined parameters: no pair_coeff lines written "
                     "(LAMMPS stops with 'All pair coeffs are not set')")
    else:
        exps = f" {_full(pot.n)} {_full(pot.m)}" if mie else ""
        fitted, unfitted = _type_pairs(model, values, types, resolve_pair)
        if unfitted:
            lines.append("# no parameter in the fit, set to zero: " + ", ".join(unfitted))
            lines.append(f"pair_coeff * * 0.0 1.0{exps}")
        for i, j, eps, sig, label in fitted:
            lines.append(f"pair_coeff {i} {j} {_full(eps)} {_full(sig)}{exps}  # {label}")
    if model.shift:
        lines.append("# the fit shifted every pair energy by -phi(cutoff)")
        lines.append("pair_modify shift yes")
    if types.interaction:
        lines += [
            "# interaction energies: the fit counted only pairs of a group-A atom (molecule",
            "# ID 1 in structure.data) and a group-B atom (molecule ID 2); pairs inside one",
            "# molecule ID are excluded (needs an atom style with molecule IDs: full, molecular)",
            "neigh_modify exclude molecule/intra all",
        ]
    if values is not None:
        off = values.get("offset")
        if model.offset and off is not None:
            lines.append(f"# the fitted constant offset {_full(off)} eV is no pair term: "
                         "LAMMPS's pe lacks it")
        e0 = {n: v for n, v in values.items() if _is_e0(n)}
        if e0:
            lines.append("# per-atom reference energies (eV, no pair terms, LAMMPS's pe lacks "
                         "them): " + ", ".join(f"{n} = {_full(v)}" for n, v in e0.items()))
    return "\n".join(lines) + "\n"


def _type_pairs(model, values, types: AtomTypes, resolve_pair):
    """(fitted (i, j, eps, sig, label) for i <= j, unfitted labels) over every type pair."""
    fitted, unfitted = [], []
    if types.n_sites:
        slots = set(model.features.slots)
        b_types = sorted(types.element_type.items(), key=lambda kv: kv[1])
        for k in range(types.n_sites):
            if k not in slots:
                unfitted.append(f"site {k}")
                continue
            eps, sig = resolve_pair("per-site", model.mixing, values, k)
            for el, t in b_types:
                fitted.append((k + 1, t, eps, sig, f"{types.labels[k]} - {el}"))
        unfitted.append("pairs within group A or within group B")
        return fitted, unfitted
    slots = set(model.features.labels)
    els = sorted(types.element_type.items(), key=lambda kv: kv[1])
    for a, (ea, ta) in enumerate(els):
        for eb, tb in els[a:]:
            pair = tuple(sorted((ea, eb)))
            label = "-".join(pair)
            if model.scope == "per-pair" and label not in slots:
                unfitted.append(label)
                continue
            try:
                eps, sig = resolve_pair(model.scope, model.mixing, values, pair)
            except LJFitError:  # an element without parameters (no pair of it in the fit)
                unfitted.append(label)
                continue
            fitted.append((ta, tb, eps, sig, label))
    return fitted, unfitted


# ----------------------------------------------------------------------------------------
# structure.data
# ----------------------------------------------------------------------------------------


def _lammps_cell(structure, margin: float):
    """(positions, cell) for LAMMPS: along every periodic axis the structure's own; along
    every non-periodic axis the atoms are moved along that cell vector (all together) and
    the vector is stretched so that every atom lies at least ``margin`` Å inside both
    faces. A structure with no periodic axis gets an orthogonal box. Distances between
    atoms and periodic images are unchanged."""
    pos = np.asarray(structure.positions, float)
    pbc = np.asarray(structure.pbc, bool)
    cell = np.asarray(structure.cell, float) if pbc.any() else np.eye(3)
    frac = np.linalg.solve(cell.T, pos.T).T
    vol = abs(np.linalg.det(cell))
    new = cell.copy()
    for k in np.flatnonzero(~pbc):
        # spacing of the planes of constant frac[k] (Å per unit of frac[k]), of the cell
        # the fractional coordinates were taken in
        h = vol / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3]))
        lo, hi = float(frac[:, k].min()), float(frac[:, k].max())
        pad = margin / h
        scale = (hi - lo) + 2 * pad
        frac[:, k] = (frac[:, k] - lo + pad) / scale
        new[k] = cell[k] * scale
    return frac @ new, new


def lammps_data(structure, types: AtomTypes, cutoff: float, *, title: str | None = None) -> str:
    """Text of a LAMMPS data file of one structure (units metal), as
    :func:`ase.io.lammpsdata.write_lammps_data` writes it.

    Parameters
    ----------
    structure : Structure
    types : AtomTypes
        The atom types of ``pair.lmp`` (``type`` array, masses per type).
    cutoff : float
        Å; along non-periodic axes the box leaves more than this around the atoms.
    title : str, optional
        The first line (a comment for LAMMPS).

    Returns
    -------
    str
        ``atom_style full`` (molecule ID 1 = group A, 2 = group B, charges 0) for
        interaction energies, else ``atom_style atomic``. Periodic cells keep their shape
        (rotated into LAMMPS's convention, tilt factors written whenever one is non-zero).

    Notes
    -----
    ASE's cell rotation (``Prism``) and unit conversion are used as they are; the lines are
    those of ``write_lammps_data(fd, atoms, specorder=types.symbols, masses=True,
    units="metal", atom_style=..., prismobj=prism, force_skew=any tilt)`` with ASE's title
    line replaced (a test compares the bytes). That function lives in ``ase.io``, whose
    package ``__init__`` loads trajectories, constraints, space groups and with them
    scipy.integrate and scipy.optimize: ~0.35 s of every ``ljfit fit`` for one small file.
    """
    from ase.calculators.lammps import Prism, convert
    from ase.data import atomic_masses, atomic_numbers

    pos, cell = _lammps_cell(structure, float(cutoff) + BOX_MARGIN)
    kinds = types.of(structure)
    mol = types.molecule_ids(structure)
    prism = Prism(cell, pbc=structure.pbc)
    box = prism.get_lammps_prism()
    xhi, yhi, zhi, xy, xz, yz = convert(box, "distance", "ASE", "metal")
    first = title or f"LAMMPS data file written by ljfit {__version__}: {structure.name}"
    lines = [first.replace("\n", " "), "", f"{len(kinds)} atoms",
             f"{len(types.symbols)} atom types", "",
             f"0.0 {xhi:23.17g}  xlo xhi", f"0.0 {yhi:23.17g}  ylo yhi",
             f"0.0 {zhi:23.17g}  zlo zhi"]
    if np.any(box[3:] != 0.0) or prism.is_skewed():
        lines.append(f"{xy:23.17g} {xz:23.17g} {yz:23.17g}  xy xz yz")
    lines += ["", "Masses", ""]
    for t, symbol in enumerate(types.symbols):
        # the element's standard mass: ASE's of an Atoms built from symbols alone
        mass = convert(float(atomic_masses[atomic_numbers[symbol]]), "mass", "ASE", "metal")
        lines.append(f"{t + 1} {mass:23.17g} # {symbol}")
    lines += ["", f"Atoms # {'atomic' if mol is None else 'full'}", ""]
    r = convert(prism.vector_to_lammps(pos), "distance", "ASE", "metal")
    if mol is None:
        lines += [f"{i + 1:>6} {s:>3} {x:23.17g} {y:23.17g} {z:23.17g}"
                  for i, (s, (x, y, z)) in enumerate(zip(kinds.tolist(), r.tolist()))]
    else:
        charges = convert(np.zeros(len(kinds)), "charge", "ASE", "metal")
        lines += [f"{i + 1:>6} {m:>3} {s:>3} {q:>5} {x:23.17g} {y:23.17g} {z:23.17g}"
                  for i, (m, s, q, (x, y, z)) in enumerate(zip(
                      mol.tolist(), kinds.tolist(), charges.tolist(), r.tolist()))]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------
# in.lammps
# ----------------------------------------------------------------------------------------


def _boundary(structure) -> str:
    return " ".join("p" if p else "f" for p in structure.pbc)


def in_lammps(structure, types: AtomTypes, *, expected: float | None = None,
              note: str = "") -> str:
    """Text of ``in.lammps``: reads ``structure.data`` (or ``-var data FILE``), includes
    ``pair.lmp``, prints pe after ``run 0``.

    Parameters
    ----------
    structure : Structure
        The structure in ``structure.data`` (its periodicity sets ``boundary``).
    types : AtomTypes
    expected : float, optional
        The pe LAMMPS must print (eV), for the comment.
    note : str, optional
        Where ``expected`` comes from (comment lines, without ``#``).
    """
    lines = [
        f"# LAMMPS input written by ljfit {__version__}: run it in this folder,",
        "#   lmp -in in.lammps",
        f"# structure.data holds {structure.name}, the first structure of the data set; another",
        "# data file with the same atom types: lmp -in in.lammps -var data FILE",
    ]
    if expected is not None:
        lines.append(f"# LAMMPS's pe must be {_full(expected)} eV:")
    lines += [f"#   {ln}" for ln in note.splitlines() if ln]
    lines += [
        "units metal",
        f"atom_style {'full' if types.interaction else 'atomic'}",
        f"boundary {_boundary(structure)}",
        f"variable data index {DATA_FILE}",
        "read_data ${data}",
        f"include {PAIR_FILE}",
        "thermo_style custom pe",
        "thermo_modify format float %24.17g",
        "run 0",
        'print "ljfit: pe = $(pe:%.17g) eV"',
    ]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------
# the whole export
# ----------------------------------------------------------------------------------------


@dataclass
class LammpsExport:
    """The three LAMMPS files of a run, and the warnings of writing them.

    Attributes
    ----------
    files : dict of str to str
        ``{"pair.lmp": text, "in.lammps": text, "structure.data": text}``.
    cutoff : LammpsCutoff
    types : AtomTypes
    expected_pe : float or None
        What LAMMPS's pe must be on ``structure.data`` (eV).
    warnings : list of str
    """

    files: dict
    cutoff: LammpsCutoff
    types: AtomTypes
    expected_pe: float | None = None
    warnings: list = field(default_factory=list)


def lammps_export(run) -> LammpsExport:
    """``pair.lmp``, ``in.lammps`` and ``structure.data`` of a :class:`FitRun` (its best
    method; the first structure of its data set).

    The expected pe is the best method's prediction of the first structure minus the fitted
    ``offset`` and, when ``values`` hold ``e0[El]``, minus Σ e0 over its atoms.
    """
    model, ds = run.model, run.dataset
    best = run.best
    res = run.results.get(best) if best else None
    values = None
    if res is not None:
        values = {n: (None if v is None else float(v)) for n, v in res.params.items()}
    types = atom_types(model, ds)
    cutoff = lammps_cutoff(model, ds, values)
    first = ds[0]
    expected, note = None, ""
    if res is not None and _defined(values):
        pred = float(np.asarray(res.predictions, float)[0])
        expected = pred
        note = f"the prediction of {first.name} by {best} in predictions.csv, {_full(pred)} eV"
        if model.offset and values.get("offset"):
            expected -= values["offset"]
            note += (f",\nminus the fitted offset {_full(values['offset'])} eV (LAMMPS pair "
                     "styles have no constant term)")
        if cutoff.first_error is not None:
            expected += cutoff.first_error
            note += (f",\nminus {_full(-cutoff.first_error)} eV, the energy of its pairs "
                     f"beyond the {cutoff.value:g} Å cutoff: the fit counted them, LAMMPS "
                     "drops them (see the WARNING in pair.lmp)")
        e0 = {n[3:-1]: v for n, v in values.items() if _is_e0(n)}
        if e0:
            total = sum(e0.get(el, 0.0) for el in first.symbols)
            expected -= total
            note += (f",\nminus the per-atom reference energies e0 summed over its atoms, "
                     f"{_full(total)} eV")
    else:
        note = "no method gave defined parameters: pair.lmp has no pair_coeff lines"
    files = {
        PAIR_FILE: pair_lmp(model, values, ds, cutoff, types, best),
        INPUT_FILE: in_lammps(first, types, expected=expected, note=note),
        DATA_FILE: lammps_data(first, types, cutoff.value),
    }
    warns = [w for w in (cutoff.warning(),) if w]
    return LammpsExport(files, cutoff, types, expected, warns)
