r"""Pair potentials as pure array functions: Lennard-Jones 12-6 and Mie n-m.

The Mie potential with repulsive exponent :math:`n` and attractive exponent :math:`m`,

.. math::

    \phi(r) = C\,\varepsilon\left[\left(\frac{\sigma}{r}\right)^n
              - \left(\frac{\sigma}{r}\right)^m\right],
    \qquad C(n, m) = \frac{n}{n-m}\left(\frac{n}{m}\right)^{m/(n-m)},

has its minimum :math:`-\varepsilon` at :math:`r_\min = (n/m)^{1/(n-m)}\sigma`; for
:math:`(n, m) = (12, 6)` it is Lennard-Jones with :math:`C = 4`, :math:`r_\min = 2^{1/6}\sigma`.
Written as :math:`\phi = C_n r^{-n} - C_m r^{-m}` it is *linear* in the coefficients

.. math::

    C_n = C\varepsilon\sigma^n, \qquad C_m = C\varepsilon\sigma^m,

which map back by :math:`\sigma = (C_n/C_m)^{1/(n-m)}`, :math:`\varepsilon = C_m/(C\sigma^m)`
(for LJ: :math:`\varepsilon = C_6^2/(4C_{12})`, :math:`\sigma = (C_{12}/C_6)^{1/6}`).

A cutoff is not a flag threaded through the kernel but a wrapper (:func:`cut`): truncation
drops pairs beyond :math:`r_c`; a shift subtracts :math:`\phi(r_c)` from every pair inside it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .errors import FitError

__all__ = ["Mie", "LJ", "parse_potential", "cut"]


@dataclass(frozen=True)
class Mie:
    """Mie n-m pair potential with fixed exponents ``n > m > 0`` (LJ is ``Mie(12, 6)``)."""

    n: float = 12.0
    m: float = 6.0

    def __post_init__(self):
        n, m = float(self.n), float(self.m)
        if not (np.isfinite(n) and np.isfinite(m) and n > m > 0):
            raise FitError(f"potential exponents must satisfy n > m > 0, got n={n}, m={m}")
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "m", m)

    # -- identity ------------------------------------------------------------------------
    @property
    def is_lj(self) -> bool:
        return self.n == 12.0 and self.m == 6.0

    @property
    def name(self) -> str:
        return "lj" if self.is_lj else f"mie:{self.n:g}:{self.m:g}"

    @property
    def prefactor(self) -> float:
        """C(n, m) = n/(n−m)·(n/m)^(m/(n−m)); 4 for LJ."""
        n, m = self.n, self.m
        return n / (n - m) * (n / m) ** (m / (n - m))

    @property
    def rmin_over_sigma(self) -> float:
        """Position of the minimum in units of σ: (n/m)^(1/(n−m)); 2^(1/6) for LJ."""
        return (self.n / self.m) ** (1.0 / (self.n - self.m))

    # -- kernel --------------------------------------------------------------------------
    def energy(self, r, epsilon, sigma):
        """Pair energy φ(r) in eV; arrays broadcast (r in Å, ε in eV, σ in Å)."""
        sr = sigma / np.asarray(r, dtype=float)
        return self.prefactor * epsilon * (sr**self.n - sr**self.m)

    def denergy_dr(self, r, epsilon, sigma):
        """dφ/dr in eV/Å: C ε (−n σ^n r^(−n−1) + m σ^m r^(−m−1))."""
        r = np.asarray(r, dtype=float)
        sr = sigma / r
        return self.prefactor * epsilon * (-self.n * sr**self.n + self.m * sr**self.m) / r

    # -- linear coefficients -------------------------------------------------------------
    def coefficients(self, epsilon, sigma):
        """(C_n, C_m) = (C ε σ^n, C ε σ^m)."""
        c = self.prefactor * np.asarray(epsilon, dtype=float)
        sigma = np.asarray(sigma, dtype=float)
        return c * sigma**self.n, c * sigma**self.m

    def coefficient_derivatives(self, epsilon, sigma):
        """∂(C_n, C_m)/∂(ε, σ) as four arrays: dCn/dε, dCn/dσ, dCm/dε, dCm/dσ."""
        c = self.prefactor
        eps = np.asarray(epsilon, dtype=float)
        sig = np.asarray(sigma, dtype=float)
        sn, sm = sig**self.n, sig**self.m
        return c * sn, c * eps * self.n * sn / sig, c * sm, c * eps * self.m * sm / sig

    def from_coefficients(self, cn, cm):
        """(ε, σ) from (C_n, C_m); ``nan`` where either coefficient is not positive."""
        cn = np.asarray(cn, dtype=float)
        cm = np.asarray(cm, dtype=float)
        ok = (cn > 0) & (cm > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            sigma = np.where(ok, (cn / np.where(ok, cm, 1.0)) ** (1.0 / (self.n - self.m)), np.nan)
            eps = np.where(ok, cm / (self.prefactor * sigma**self.m), np.nan)
        return eps, sigma

    def inverse_powers(self, r2):
        """(r^−n, r^−m) from squared distances r² (Å²), multiplications only for LJ."""
        inv2 = 1.0 / r2
        if self.is_lj:
            inv6 = inv2 * inv2 * inv2
            return inv6 * inv6, inv6
        return inv2 ** (self.n / 2), inv2 ** (self.m / 2)

    def force_factors(self, r2, rn, rm):
        """(n r^−n−2, m r^−m−2) from r² and the :meth:`inverse_powers` ``rn``, ``rm`` (each
        possibly times a pair weight): −(1/r) d(r^−p)/dr, the factors that turn a pair
        vector into its force and virial features."""
        inv2 = 1.0 / r2
        return (self.n * inv2) * rn, (self.m * inv2) * rm


LJ = Mie(12.0, 6.0)


def parse_potential(spec) -> Mie:
    """``"lj"`` → LJ 12-6; ``"mie:N:M"`` → Mie(N, M); a :class:`Mie` is returned as is."""
    if isinstance(spec, Mie):
        return spec
    text = str(spec).strip().lower()
    if text in ("lj", "lj126", "lj12-6", "lennard-jones"):
        return LJ
    match = re.fullmatch(r"mie:([0-9.eE+]+):([0-9.eE+]+)", text)
    try:
        if not match:
            raise ValueError
        n, m = float(match.group(1)), float(match.group(2))
    except ValueError:
        raise FitError(
            f"potential: expected 'lj' or 'mie:N:M' (e.g. mie:9:6), got {spec!r}"
        ) from None
    return Mie(n, m)


def cut(potential: Mie, cutoff: float | None, shift: bool = False):
    """Wrap a kernel with a cutoff: returns ``energy(r, ε, σ)`` and ``denergy_dr(r, ε, σ)``.

    Truncated: φ_c(r) = φ(r) for r ≤ r_c, 0 beyond. Shifted: φ_c(r) = φ(r) − φ(r_c) inside.
    The derivative is unchanged inside r_c (the shift is a constant).
    """
    if cutoff is None:
        if shift:
            raise FitError("shift: a shifted potential needs a cutoff")
        return potential.energy, potential.denergy_dr

    def energy(r, epsilon, sigma):
        r = np.asarray(r, dtype=float)
        e = potential.energy(r, epsilon, sigma)
        if shift:
            e = e - potential.energy(cutoff, epsilon, sigma)
        return np.where(r <= cutoff, e, 0.0)

    def denergy_dr(r, epsilon, sigma):
        r = np.asarray(r, dtype=float)
        return np.where(r <= cutoff, potential.denergy_dr(r, epsilon, sigma), 0.0)

    return energy, denergy_dr
