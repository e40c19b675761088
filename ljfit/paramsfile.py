"""The ``params.json`` document: its schema, and the one loader every reader of it uses.

``ljfit fit`` writes ``params.json`` (see :func:`ljfit.report.params_document`);
:meth:`ljfit.LJCalculator.from_file` and ``ljfit predict`` read it back through
:func:`load_params`, which checks the whole document before anything is built from it: a
tampered or truncated file fails with one :class:`~ljfit.errors.DataError` naming the file
and the key (``params.json: model.cutoff: expected a positive number or null, got 'ten'``),
never a KeyError, a RecursionError or a silent NaN.

Schema (every key not listed is ignored, so later versions may add keys)
------------------------------------------------------------------------
``ljfit_version``  str, optional; its major version must be this ljfit's (``0.x``)
``model``          object, required:
    ``scope``      required; per-pair | per-element | per-site
    ``mixing``     null or lorentz-berthelot | geometric
    ``potential``  "lj" or "mie:N:M" with 0 < M < N <= :data:`MAX_EXPONENT` (default lj);
                   ``n``, ``m`` when present must agree with it
    ``cutoff``     null or a finite number > 0 (Å)
    ``shift``, ``offset``, ``reference_energies``  booleans (default false); a shift
                   needs a cutoff
    ``energy``     "interaction" or "total"
    ``groups``     null or a group rule (tags, first:N, array:NAME, fragments, all, auto)
    ``layout``     null, "", "seed" or "ase";  ``n_substrate`` null or an integer >= 1
    ``group_mode``, ``read_groups``, ``energy_key``, ``force_key``, ``stress_key``  null
                   or strings
    ``energy_unit``  null or a known unit (eV, kcal/mol, kJ/mol, Ha)
    ``slots``      a list of strings
``parameters``     object, required, not empty: ``epsilon[KEY]`` in [0, :data:`MAX_EPSILON`]
                   eV, ``sigma[KEY]`` in (0, :data:`MAX_SIGMA`] Å, ``offset`` and
                   ``e0[ELEMENT]`` with \\|value\\| <= :data:`MAX_OFFSET` eV; ``null`` only
                   where a fit left a
                   value undefined (refused when the values are needed)

This module imports nothing heavy at import time (the command line reads
:data:`MAX_EXPONENT` before numpy is loaded).
"""

from __future__ import annotations

import json
import math
import re

from . import __version__
from .errors import DataError, FitError

__all__ = ["load_params", "MAX_EXPONENT", "MAX_EPSILON", "MAX_SIGMA", "MAX_OFFSET",
           "MAX_PARAMS_BYTES"]

#: Largest Mie repulsive exponent: (σ/r)^n with n = 1000 overflows double precision
#: already at r = σ/2 (2^1000 ≈ 1e301, times ε); n = 100 keeps every plausible distance
#: finite. The command line's ``--potential`` has the same limit.
MAX_EXPONENT = 100.0
#: Largest ε (eV) a params.json may hold: pair well depths are meV to a few eV; 10^6 eV is
#: a broken file, and ε = 1e308 made every prediction inf.
MAX_EPSILON = 1e6
#: Largest σ (Å).
MAX_SIGMA = 1e4
#: Largest |offset| (eV).
MAX_OFFSET = 1e12
#: Largest params.json read (a per-site model of 10^5 sites is a few MB).
MAX_PARAMS_BYTES = 64 << 20

_NAME = re.compile(r"^(epsilon|sigma|e0)\[[^\[\]]+\]$|^offset$")


def _show(value, limit: int = 60) -> str:
    try:
        text = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        text = repr(type(value).__name__)
    return text if len(text) <= limit else f"{text[:limit - 20]}...{text[-12:]}"


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise ValueError(f"the key {dup!r} appears twice in one object")
    return dict(pairs)


def _parse(path, display: str) -> dict:
    from .io.common import read_regular_file

    data = read_regular_file(path, display, max_bytes=MAX_PARAMS_BYTES,
                             what="parameter file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"not a JSON parameter file (byte {exc.start} is not UTF-8 text)",
                        display) from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise DataError("not a usable parameter file: JSON nested too deeply", display) from None
    except ValueError as exc:  # JSONDecodeError, duplicate keys, a 5000-digit integer
        raise DataError(f"not a JSON parameter file ({' '.join(str(exc).split())[:200]})",
                        display) from None


def _check_version(doc, display):
    version = doc.get("ljfit_version")
    if version is None:
        return  # written by hand (or by a test): the model and parameters decide
    match = re.match(r"^(\d+)\.(\d+)", version) if isinstance(version, str) else None
    if match is None:
        raise DataError(f"ljfit_version: expected a version string like \"0.1.0\", got "
                        f"{_show(version)}", display)
    ours = int(__version__.split(".")[0])
    if int(match.group(1)) != ours:
        raise DataError(
            f"ljfit_version: written by ljfit {version}; this ljfit ({__version__}) reads "
            f"params.json files of ljfit {ours}.x", display)


def _check_model(model, display) -> dict:
    def bad(key, what, value):
        return DataError(f"model.{key}: {what}, got {_show(value)}", display)

    def text_or_null(key):
        v = model.get(key)
        if v is not None and not isinstance(v, str):
            raise bad(key, "expected a string or null", v)
        return v

    def flag(key):
        v = model.get(key, False)
        if v is None:
            v = False
        if not isinstance(v, bool):
            raise bad(key, "expected true or false", v)
        return v

    from .params import normalize_mixing, normalize_scope
    from .potentials import parse_potential

    out = dict(model)
    if "scope" not in model:
        raise DataError("model.scope: missing (per-pair, per-element or per-site)", display)
    for key, parse in (("scope", normalize_scope), ("mixing", normalize_mixing)):
        v = model.get(key)
        if v is None and key == "mixing":
            out[key] = None
            continue
        if not isinstance(v, str):
            raise bad(key, "expected a string", v)
        try:
            out[key] = parse(v)
        except FitError as exc:
            raise DataError(f"model.{key}: {str(exc).split(': ', 1)[-1]}", display) from None
    pot = model.get("potential", "lj")
    if pot is None:
        pot = "lj"
    if not isinstance(pot, str):
        raise bad("potential", "expected \"lj\" or \"mie:N:M\"", pot)
    try:
        potential = parse_potential(pot)
    except FitError as exc:
        raise DataError(f"model.potential: {str(exc).split(': ', 1)[-1]}", display) from None
    if potential.n > MAX_EXPONENT:
        raise bad("potential", f"the repulsive exponent must be at most {MAX_EXPONENT:g}", pot)
    out["potential"] = potential.name
    for key, value in (("n", potential.n), ("m", potential.m)):
        if key in model and model[key] is not None and (
                not _is_number(model[key]) or float(model[key]) != value):
            raise bad(key, f"disagrees with potential {potential.name!r} ({key} = {value:g})",
                      model[key])
    cutoff = model.get("cutoff")
    if cutoff is not None and not (_is_number(cutoff) and math.isfinite(cutoff) and cutoff > 0):
        raise bad("cutoff", "expected a positive number (Å) or null", cutoff)
    out["cutoff"] = None if cutoff is None else float(cutoff)
    out["shift"], out["offset"] = flag("shift"), flag("offset")
    out["reference_energies"] = flag("reference_energies")
    if out["shift"] and cutoff is None:
        raise DataError("model.shift: a shifted potential needs a cutoff, and model.cutoff "
                        "is null", display)
    energy = model.get("energy", "interaction")
    if energy not in ("interaction", "total"):
        raise bad("energy", "expected \"interaction\" or \"total\"", energy)
    for key in ("group_mode", "read_groups", "energy_key", "force_key", "stress_key"):
        text_or_null(key)
    from .io.groups import parse_groups
    from .io.units import canonical_unit

    def parsed_by(key, parse):
        """model[key], a string or null, that ``parse`` accepts (its DataError re-raised
        naming the key)."""
        value = text_or_null(key)
        if value is not None:
            try:
                parse(value)
            except DataError as exc:
                raise DataError(f"model.{key}: {exc.detail}", display) from None

    parsed_by("groups", parse_groups)
    layout = model.get("layout")
    if layout not in (None, "", "seed", "ase"):
        raise bad("layout", "expected \"seed\", \"ase\" or null", layout)
    n_sub = model.get("n_substrate")
    if n_sub is not None and not (isinstance(n_sub, int) and not isinstance(n_sub, bool)
                                  and 1 <= n_sub <= 10**9):
        raise bad("n_substrate", "expected an integer >= 1 or null", n_sub)
    parsed_by("energy_unit", canonical_unit)
    slots = model.get("slots")
    if slots is not None and not (isinstance(slots, list)
                                  and all(isinstance(s, str) for s in slots)):
        raise bad("slots", "expected a list of strings", slots)
    return out


def _check_parameters(values, display, require_values) -> dict:
    if not isinstance(values, dict):
        raise DataError(f"parameters: expected an object of name: value, got "
                        f"{_show(values)}", display)
    if not values:
        raise DataError("parameters: empty (no parameter values)", display)
    out, undefined = {}, []
    for name, v in values.items():
        shown = name if len(name) <= 60 and name.isprintable() else _show(name)
        where = f"parameters.{shown}"
        if not _NAME.match(name):
            raise DataError(f"{where}: expected names epsilon[KEY], sigma[KEY], e0[ELEMENT] "
                            f"or offset, got {_show(name)}", display)
        if v is None:
            undefined.append(name)
            out[name] = None
            continue
        if not _is_number(v):
            raise DataError(f"{where}: expected a number or null, got {_show(v)}", display)
        x = float(v)
        kind = name.split("[", 1)[0]
        if not math.isfinite(x):
            raise DataError(f"{where}: {x} is not a finite number", display)
        if kind == "epsilon" and not 0.0 <= x <= MAX_EPSILON:
            raise DataError(f"{where}: epsilon must lie in [0, {MAX_EPSILON:g}] eV, got "
                            f"{x:g}", display)
        if kind == "sigma" and not 0.0 < x <= MAX_SIGMA:
            raise DataError(f"{where}: sigma must lie in (0, {MAX_SIGMA:g}] Å, got {x:g}",
                            display)
        if kind in ("offset", "e0") and not abs(x) <= MAX_OFFSET:
            raise DataError(f"{where}: |{kind}| must be at most {MAX_OFFSET:g} eV, got {x:g}",
                            display)
        out[name] = x
    if undefined and require_values:
        raise DataError(
            "the parameters are undefined (the fit found no defined optimum): "
            + ", ".join(undefined[:6]) + (", ..." if len(undefined) > 6 else ""), display)
    return out


def load_params(path, *, require_values: bool = True) -> dict:
    """Read and validate a ``params.json``.

    Parameters
    ----------
    path : str or Path
        A regular file (``~`` expanded); FIFOs, devices and files over
        :data:`MAX_PARAMS_BYTES` are refused.
    require_values : bool
        Refuse ``null`` parameter values (a fit without a defined optimum).

    Returns
    -------
    dict
        The document, with ``model`` normalised (scope and mixing canonical, defaults
        filled in for ``potential``, ``cutoff``, ``shift``, ``offset``) and every
        parameter a finite float (or None when ``require_values`` is False).

    Raises
    ------
    DataError
        Not a readable regular file, not JSON, or not the schema in the module docstring;
        the message names the file and the key.
    """
    import os

    display = str(path)
    doc = _parse(os.path.expanduser(display), display)
    if not isinstance(doc, dict):
        raise DataError(f"not an ljfit params.json: expected a JSON object, got "
                        f"{type(doc).__name__}", display)
    _check_version(doc, display)
    if not isinstance(doc.get("model"), dict):
        raise DataError("model: missing or not an object; not an ljfit params.json "
                        "(needs 'model' and 'parameters')", display)
    out = dict(doc)
    out["model"] = _check_model(doc["model"], display)
    if "parameters" not in doc:
        raise DataError("parameters: missing; not an ljfit params.json (needs 'model' and "
                        "'parameters')", display)
    out["parameters"] = _check_parameters(doc["parameters"], display, require_values)
    return out
