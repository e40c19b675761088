"""LAMMPS input of a fit."""

from __future__ import annotations

import numpy as np

from .. import __version__
from ..errors import LJFitError
from .run import DEFAULT_LAMMPS_CUTOFF

# ----------------------------------------------------------------------------------------
# LAMMPS
# ----------------------------------------------------------------------------------------


def _g(v: float) -> str:
    return f"{v:.10g}"


def lammps_input(model, values: dict | None, dataset=None) -> str:
    """LAMMPS lines (units metal: eV, Å) for the pair potential with ``values``.

    Atom types are numbered by element, alphabetically (per-site: one type per site, then
    the group-B elements). Pairs the fit has no parameter for get zero coefficients, with a
    comment saying so.
    """
    from ..params import resolve_pair

    pot = model.potential
    mie = not pot.is_lj
    rc = model.cutoff
    lines = ["# LAMMPS pair potential fitted by ljfit " + __version__, "units metal"]
    if rc is None:
        lines.append(
            f"# the fit used no cutoff; {DEFAULT_LAMMPS_CUTOFF:g} Å below is a default, "
            "pairs beyond it are dropped"
        )
    rc_txt = _g(rc if rc is not None else DEFAULT_LAMMPS_CUTOFF)
    lines.append(f"pair_style {'mie/cut' if mie else 'lj/cut'} {rc_txt}")
    if model.shift:
        lines.append("pair_modify shift yes")
    defined = values is not None and all(
        v is not None and np.isfinite(v) for v in values.values()
    )
    if values is None or not defined:
        lines.append("# no fit with defined parameters: no pair_coeff lines written")
        return "\n".join(lines) + "\n"
    elements = list(dataset.elements) if dataset is not None else list(model.elements)

    def coeff(i, j, eps, sig, note=""):
        extra = f" {_g(pot.n)} {_g(pot.m)}" if mie else ""
        return f"pair_coeff {i} {j} {_g(eps)} {_g(sig)}{extra}{note}"

    zero = "0.0 1.0" + (f" {_g(pot.n)} {_g(pot.m)}" if mie else "")
    fitted, unfitted = [], []
    if model.scope == "per-site":
        sites = list(model.features.slots)
        site_el = list(model.features.site_elements or ["?"] * len(sites))
        b_el = (dataset.group_elements(1) if dataset is not None and dataset.interaction
                else elements)
        lines += [
            "# per-site parameters: every site of group A (the substrate, in file order) has",
            "# its own epsilon and sigma, so LAMMPS needs one atom type per site: give site k",
            f"# type k+1 (types 1..{len(sites)}) and the group-B atoms the element types after",
            "# them. Atom types:",
        ]
        site_type, el_type = {}, {}
        for k, (s, el) in enumerate(zip(sites, site_el), start=1):
            site_type[s] = k
            lines.append(f"#   type {k} = site {s} ({el})")
        for k, el in enumerate(b_el, start=len(sites) + 1):
            el_type[el] = k
            lines.append(f"#   type {k} = {el} (group B)")
        lines.append("# site parameters (site: epsilon eV, sigma Å):")
        for s in sites:
            eps, sig = resolve_pair("per-site", model.mixing, values, s)
            lines.append(f"#   site {s}: {_g(eps)} {_g(sig)}")
            for el in b_el:
                fitted.append((site_type[s], el_type[el], eps, sig, f"site {s} - {el}"))
        unfitted.append("pairs within group A or within group B")
    else:
        lines.append("# atom types (alphabetical by element):")
        for k, el in enumerate(elements, start=1):
            lines.append(f"#   type {k} = {el}")
        if model.scope == "per-element":
            lines.append(f"# per-element parameters mixed by the {model.mixing} rule")
        if dataset is not None and dataset.interaction:
            lines.append(
                "# the fit used interaction energies between groups A and B only: pairs "
                "within a group were not part of it"
            )
        slots = set(model.features.labels)
        for a in range(len(elements)):
            for b in range(a, len(elements)):
                pair = (elements[a], elements[b])
                label = "-".join(pair)
                if model.scope == "per-pair" and label not in slots:
                    unfitted.append(label)
                    continue
                try:
                    eps, sig = resolve_pair(model.scope, model.mixing, values, pair)
                except LJFitError:  # an element without parameters
                    unfitted.append(label)
                    continue
                fitted.append((a + 1, b + 1, eps, sig, label))
    if unfitted:
        lines.append(f"# not fitted, set to zero: {', '.join(unfitted)}")
        lines.append(f"pair_coeff * * {zero}")
    for i, j, eps, sig, label in fitted:
        lines.append(coeff(i, j, eps, sig, f"  # {label}"))
    if model.offset and values.get("offset") is not None:
        lines.append(
            f"# the fitted constant energy offset {_g(values['offset'])} eV is not part of "
            "the pair potential"
        )
    return "\n".join(lines) + "\n"
