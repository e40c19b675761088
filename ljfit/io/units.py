"""Energy units: names, aliases and factors to eV (from :mod:`ase.units`)."""

from __future__ import annotations

import re

from ase import units

from ..errors import DataError

# -- units -----------------------------------------------------------------------------------

#: Factor converting one unit of energy to eV, by canonical unit name.
ENERGY_UNITS: dict[str, float] = {
    "eV": 1.0,
    "kcal/mol": units.kcal / units.mol,
    "kJ/mol": units.kJ / units.mol,
    "Ha": units.Hartree,
}

_UNIT_ALIASES: dict[str, str] = {
    **{name.lower(): name for name in ENERGY_UNITS},
    "electronvolt": "eV",
    "electronvolts": "eV",
    "kcal": "kcal/mol",
    "kcalmol": "kcal/mol",
    "kcal_mol": "kcal/mol",
    "kcal/mole": "kcal/mol",
    "kcalmol-1": "kcal/mol",
    "kcalpermol": "kcal/mol",
    "kj": "kJ/mol",
    "kjmol": "kJ/mol",
    "kj_mol": "kJ/mol",
    "kj/mole": "kJ/mol",
    "kjmol-1": "kJ/mol",
    "kjpermol": "kJ/mol",
    "hartree": "Ha",
    "hartrees": "Ha",
    "eh": "Ha",
}


def canonical_unit(unit: str) -> str:
    """Canonical name (a key of :data:`ENERGY_UNITS`) of an energy unit.

    Parameters
    ----------
    unit : str
        ``"eV"``, ``"kcal/mol"``, ``"kJ/mol"`` or ``"Ha"``, or an alias, case-insensitive
        (``"ev"``, ``"kcal"``, ``"kj/mol"``, ``"hartree"``, ``"Eh"`` ...).

    Returns
    -------
    str

    Raises
    ------
    DataError
        Unknown unit; the message lists the valid ones.
    """
    key = re.sub(r"[\s·*]+", "", str(unit)).lower()
    try:
        return _UNIT_ALIASES[key]
    except KeyError:
        raise DataError(
            f"unknown energy unit {unit!r}; valid units: {', '.join(ENERGY_UNITS)} "
            "(case-insensitive; also 'kcal', 'kj', 'hartree')"
        ) from None


def energy_factor(unit: str) -> float:
    """Factor that converts an energy in ``unit`` to eV (``E_eV = factor * E_unit``).

    Parameters
    ----------
    unit : str
        See :func:`canonical_unit`.

    Returns
    -------
    float
        eV per ``unit``; e.g. 0.0433641 for kcal/mol.
    """
    return ENERGY_UNITS[canonical_unit(unit)]


