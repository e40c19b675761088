"""Parameter specification: names ↔ vector, bounds, fixed values; scopes and mixing rules.

Names are the contract shared by the model, the fitters, every output file and the
calculator:

=============  ==============================  ======================================
scope          parameters                      applied to a pair (i, j)
=============  ==============================  ======================================
per-site       ``epsilon[3]``, ``sigma[3]``    site = index of the group-A atom within
                                               group A (0-based, file order)
per-pair       ``epsilon[Au-C]``, ``sigma[..]`` its element pair, alphabetical
per-element    ``epsilon[C]``, ``sigma[C]``    mixed from both elements' values
(any)          ``offset``                      a constant added to every energy (eV)
(any)          ``e0[Ar]``                      reference energy of one atom of an element,
                                               added per atom to total energies (eV)
=============  ==============================  ======================================

Mixing rules for per-element: Lorentz–Berthelot σ_ab = (σ_a+σ_b)/2, ε_ab = √(ε_a ε_b);
geometric σ_ab = √(σ_a σ_b), ε_ab = √(ε_a ε_b).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Iterable, Mapping

import numpy as np

from .errors import FitError

__all__ = [
    "Parameter",
    "ParamSpec",
    "SCOPES",
    "MIXING_RULES",
    "DEFAULT_BOUNDS",
    "LINEAR_KINDS",
    "normalize_scope",
    "normalize_mixing",
    "slot_parameter_names",
    "mix",
    "resolve_pair",
]

SCOPES = ("per-site", "per-element", "per-pair")
MIXING_RULES = ("lorentz-berthelot", "geometric")
#: Physical default bounds: ε in eV, σ in Å.
DEFAULT_BOUNDS = {"epsilon": (1e-6, 1.0), "sigma": (1.0, 6.0), "offset": (-np.inf, np.inf),
                  "e0": (-np.inf, np.inf)}
DEFAULT_VALUES = {"epsilon": 0.01, "sigma": 3.0, "offset": 0.0, "e0": 0.0}
UNITS = {"epsilon": "eV", "sigma": "Å", "offset": "eV", "e0": "eV"}
#: Parameters that enter the energy linearly with either sign (no pair potential in them).
LINEAR_KINDS = ("offset", "e0")

_NAME = re.compile(r"^(epsilon|sigma|e0)\[([^\]]+)\]$|^offset$")


def normalize_scope(scope: str) -> str:
    s = str(scope).strip().lower().replace("_", "-")
    s = {"site": "per-site", "element": "per-element", "pair": "per-pair"}.get(s, s)
    if s not in SCOPES:
        raise FitError(f"scope: expected one of {', '.join(SCOPES)}, got {scope!r}")
    return s


def normalize_mixing(mixing: str) -> str:
    m = str(mixing).strip().lower().replace("_", "-")
    m = {"lb": "lorentz-berthelot", "lorentz": "lorentz-berthelot", "geo": "geometric"}.get(m, m)
    if m not in MIXING_RULES:
        raise FitError(f"mixing: expected one of {', '.join(MIXING_RULES)}, got {mixing!r}")
    return m


def slot_parameter_names(scope: str, slot):
    """Names of the parameters that set a slot's ε and σ.

    Returns ``(eps_name, sigma_name)`` for per-site / per-pair scopes, and
    ``((eps_a, eps_b), (sigma_a, sigma_b))`` for per-element (to be mixed).
    """
    if scope == "per-element":
        a, b = slot
        return (f"epsilon[{a}]", f"epsilon[{b}]"), (f"sigma[{a}]", f"sigma[{b}]")
    key = str(slot) if scope == "per-site" else "-".join(slot)
    return f"epsilon[{key}]", f"sigma[{key}]"


def mix(mixing: str, eps_a, eps_b, sig_a, sig_b):
    """(ε_ab, σ_ab) from per-element values by a mixing rule (arrays broadcast)."""
    eps = np.sqrt(np.multiply(eps_a, eps_b))
    if mixing == "lorentz-berthelot":
        sig = 0.5 * (np.add(sig_a, sig_b))
    else:
        sig = np.sqrt(np.multiply(sig_a, sig_b))
    return eps, sig


def resolve_pair(scope: str, mixing: str, values: Mapping[str, float], slot):
    """(ε, σ) of one slot from a name → value mapping; FitError naming a missing parameter."""
    names = slot_parameter_names(scope, slot)
    try:
        if scope == "per-element":
            (ea, eb), (sa, sb) = names
            eps, sig = mix(mixing, values[ea], values[eb], values[sa], values[sb])
            return float(eps), float(sig)
        return float(values[names[0]]), float(values[names[1]])
    except KeyError as exc:
        raise FitError(
            f"no parameter {exc.args[0]} for the pair {slot!r} (scope {scope})"
        ) from None


@dataclass(frozen=True)
class Parameter:
    """One named parameter: value, bounds, and whether the fit varies it.

    Parameters
    ----------
    name : str
        ``epsilon[KEY]``, ``sigma[KEY]``, ``e0[ELEMENT]`` or ``offset``.
    value : float
        Current (starting, or fitted) value; eV for ε, e0 and offset, Å for σ.
    lower, upper : float
        Bounds (may be infinite); ``lower < upper``.
    vary : bool
        False: held at ``value`` (fixed).
    """

    name: str
    value: float
    lower: float = -np.inf
    upper: float = np.inf
    vary: bool = True

    def __post_init__(self):
        if not _NAME.match(self.name):
            raise FitError(
                f"parameter name {self.name!r}: expected epsilon[KEY], sigma[KEY], e0[ELEMENT] "
                "or offset"
            )
        lo, hi, v = float(self.lower), float(self.upper), float(self.value)
        if math.isnan(lo) or math.isnan(hi) or not lo < hi:
            raise FitError(f"bounds of {self.name}: need lower < upper, got [{lo}, {hi}]")
        if not math.isfinite(v):
            raise FitError(f"value of {self.name} must be finite, got {v}")
        if self.kind in ("epsilon", "sigma") and lo < 0:
            raise FitError(f"bounds of {self.name}: {self.kind} cannot be negative (lower={lo})")
        object.__setattr__(self, "lower", lo)
        object.__setattr__(self, "upper", hi)
        object.__setattr__(self, "value", v)

    @property
    def kind(self) -> str:
        """``"epsilon"``, ``"sigma"``, ``"e0"`` or ``"offset"``."""
        return self.name.split("[", 1)[0]

    @property
    def key(self) -> str:
        """What is inside the brackets (site index, element, or element pair)."""
        return self.name[self.name.index("[") + 1 : -1] if "[" in self.name else ""

    @property
    def unit(self) -> str:
        return UNITS[self.kind]


class ParamSpec:
    """An ordered set of :class:`Parameter`: maps names ↔ the free-parameter vector ``x``.

    The *full* vector holds every parameter in order; ``x`` holds only the free ones.
    Immutable: the ``with_*`` methods return new specs.
    """

    def __init__(self, parameters: Iterable[Parameter]):
        self._params = tuple(parameters)
        names = [p.name for p in self._params]
        if len(set(names)) != len(names):
            raise FitError(f"duplicate parameter names in {names}")
        self._index = {n: k for k, n in enumerate(names)}
        self._free = np.array([k for k, p in enumerate(self._params) if p.vary], dtype=int)

    # -- lookup --------------------------------------------------------------------------
    def __len__(self):
        return len(self._params)

    def __iter__(self):
        return iter(self._params)

    def __contains__(self, name):
        return name in self._index

    def __getitem__(self, name) -> Parameter:
        return self._params[self.index(name)]

    def __repr__(self):
        rows = ", ".join(
            f"{p.name}={p.value:.6g}{'' if p.vary else ' (fixed)'}" for p in self._params
        )
        return f"ParamSpec({rows})"

    def index(self, name: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            raise FitError(
                f"unknown parameter {name!r}; this model has: {', '.join(self.names)}"
            ) from None

    @property
    def names(self) -> list:
        return [p.name for p in self._params]

    @property
    def free(self) -> np.ndarray:
        """Indices of the free parameters in the full vector."""
        return self._free

    @property
    def free_names(self) -> list:
        return [self._params[k].name for k in self._free]

    @property
    def n_free(self) -> int:
        return len(self._free)

    @property
    def values(self) -> np.ndarray:
        """Full vector of current values, shape (n_parameters,)."""
        return np.array([p.value for p in self._params], dtype=float)

    @property
    def x0(self) -> np.ndarray:
        """Free vector of current values, shape (n_free,)."""
        return self.values[self._free]

    @property
    def lower(self) -> np.ndarray:
        return np.array([self._params[k].lower for k in self._free], dtype=float)

    @property
    def upper(self) -> np.ndarray:
        return np.array([self._params[k].upper for k in self._free], dtype=float)

    @property
    def kinds(self) -> list:
        return [self._params[k].kind for k in self._free]

    # -- vectors -------------------------------------------------------------------------
    def full(self, x=None) -> np.ndarray:
        """Full vector with the free entries taken from ``x`` (shape (n_free,))."""
        values = self.values
        if x is not None:
            x = np.asarray(x, dtype=float)
            if x.shape != (self.n_free,):
                raise FitError(f"x has shape {x.shape}, expected ({self.n_free},) free parameters")
            values[self._free] = x
        return values

    def as_dict(self, x=None) -> dict:
        """``{name: value}`` for every parameter (free ones from ``x``)."""
        return dict(zip(self.names, map(float, self.full(x))))

    def clip(self, x) -> np.ndarray:
        return np.clip(np.asarray(x, dtype=float), self.lower, self.upper)

    # -- derived specs -------------------------------------------------------------------
    def _replace(self, name, **changes) -> "ParamSpec":
        k = self.index(name)
        params = list(self._params)
        params[k] = replace(params[k], **changes)
        return ParamSpec(params)

    def with_values(self, values: Mapping[str, float] | np.ndarray) -> "ParamSpec":
        """New spec with new values: a mapping by name, or a free vector ``x``."""
        if not isinstance(values, Mapping):
            values = np.asarray(values, dtype=float)
            if values.shape != (self.n_free,):
                raise FitError(
                    f"values: expected {self.n_free} free parameters, got shape {values.shape}"
                )
            values = dict(zip(self.free_names, values))
        spec = self
        for name, v in values.items():
            spec = spec._replace(name, value=float(v))
        return spec

    def with_bounds(self, bounds: Mapping[str, tuple]) -> "ParamSpec":
        """New spec with ``{name: (lower, upper)}``; a value outside is moved inside."""
        spec = self
        for name, (lo, hi) in bounds.items():
            p = spec[name]
            lo, hi = float(lo), float(hi)
            value = min(max(p.value, lo), hi)  # a value outside the new bounds moves inside
            spec = spec._replace(name, lower=lo, upper=hi, value=value)
        return spec

    def with_fixed(self, fixed: Mapping[str, float]) -> "ParamSpec":
        """New spec with ``{name: value}`` held fixed."""
        spec = self
        for name, v in fixed.items():
            p = spec[name]
            v = float(v)
            lo, hi = min(p.lower, v), max(p.upper, v)
            if lo == hi:
                hi = lo + 1.0
            spec = spec._replace(name, value=v, vary=False, lower=lo, upper=hi)
        return spec

    def with_free(self, names: Iterable[str]) -> "ParamSpec":
        spec = self
        for name in names:
            spec = spec._replace(name, vary=True)
        return spec

    def to_records(self, x=None) -> list:
        """One dict per parameter: name, value, lower, upper, vary, unit."""
        full = self.full(x)
        return [
            {
                "name": p.name,
                "value": float(v),
                "lower": p.lower,
                "upper": p.upper,
                "vary": p.vary,
                "unit": p.unit,
            }
            for p, v in zip(self._params, full)
        ]
