"""Pair kernels: minima, prefactors, coefficients, derivatives, cutoffs, parsing."""

import numpy as np
import pytest
from conftest import mie_energy, mie_prefactor

from ljfit.errors import FitError
from ljfit.potentials import LJ, Mie, cut, parse_potential

EXPONENTS = [
    pytest.param(12, 6, id="lj-12-6"),
    pytest.param(9, 6, id="mie-9-6"),
    pytest.param(14, 7, id="mie-14-7"),
    pytest.param(10, 4, id="mie-10-4"),
    pytest.param(20.5, 6.5, id="mie-20.5-6.5"),
]


def central_difference(f, x, h):
    return (f(x + h) - f(x - h)) / (2 * h)


def test_lj_dimer_minimum():
    eps, sig = 0.0104, 3.4
    rmin = 2 ** (1 / 6) * sig
    assert LJ.rmin_over_sigma == pytest.approx(2 ** (1 / 6), rel=1e-15)
    assert LJ.energy(rmin, eps, sig) == pytest.approx(-eps, rel=1e-13)
    assert abs(LJ.denergy_dr(rmin, eps, sig)) < 1e-14
    assert LJ.prefactor == 4.0
    # the textbook form 4ε[(σ/r)^12 − (σ/r)^6] on a grid
    r = np.linspace(2.8, 12.0, 50)
    np.testing.assert_allclose(LJ.energy(r, eps, sig),
                               4 * eps * ((sig / r) ** 12 - (sig / r) ** 6), rtol=1e-13)


@pytest.mark.parametrize("n, m", EXPONENTS)
def test_mie_minimum_position_and_depth(n, m):
    eps, sig = 0.02, 3.1
    pot = Mie(n, m)
    rmin = (n / m) ** (1 / (n - m)) * sig
    assert pot.rmin_over_sigma * sig == pytest.approx(rmin, rel=1e-14)
    assert pot.energy(rmin, eps, sig) == pytest.approx(-eps, rel=1e-12)
    assert abs(pot.denergy_dr(rmin, eps, sig)) < 1e-12 * eps / sig
    # it really is the minimum: a fine grid around it never goes lower
    r = rmin * np.linspace(0.9, 1.5, 6001)
    e = pot.energy(r, eps, sig)
    assert e.min() >= -eps * (1 + 1e-12)
    assert r[np.argmin(e)] == pytest.approx(rmin, rel=2e-4)
    # φ(σ) = 0
    assert abs(pot.energy(sig, eps, sig)) < 1e-15


@pytest.mark.parametrize("n, m", EXPONENTS)
def test_prefactor_formula(n, m):
    assert Mie(n, m).prefactor == pytest.approx(n / (n - m) * (n / m) ** (m / (n - m)), rel=1e-14)


@pytest.mark.parametrize("n, m, expected", [
    pytest.param(12, 6, 4.0, id="12-6"),
    pytest.param(14, 7, 4.0, id="14-7"),   # C(2m, m) = 4 for every m
    pytest.param(9, 6, 6.75, id="9-6"),    # 3 · 1.5²
    pytest.param(8, 4, 4.0, id="8-4"),
])
def test_prefactor_known_values(n, m, expected):
    assert Mie(n, m).prefactor == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("n, m", EXPONENTS)
def test_energy_matches_textbook(n, m):
    r = np.linspace(2.2, 15.0, 40)
    np.testing.assert_allclose(Mie(n, m).energy(r, 0.013, 3.3), mie_energy(r, 0.013, 3.3, n, m),
                               rtol=1e-12)


@pytest.mark.parametrize("n, m", EXPONENTS)
def test_coefficients_and_round_trip(n, m):
    rng = np.random.default_rng(3)
    eps = rng.uniform(1e-4, 0.5, 20)
    sig = rng.uniform(1.5, 5.0, 20)
    pot = Mie(n, m)
    cn, cm = pot.coefficients(eps, sig)
    c = mie_prefactor(n, m)
    np.testing.assert_allclose(cn, c * eps * sig**n, rtol=1e-13)
    np.testing.assert_allclose(cm, c * eps * sig**m, rtol=1e-13)
    # φ = C_n r^−n − C_m r^−m
    r = 3.7
    np.testing.assert_allclose(cn * r**-n - cm * r**-m, pot.energy(r, eps, sig), rtol=1e-10)
    e2, s2 = pot.from_coefficients(cn, cm)
    np.testing.assert_allclose(e2, eps, rtol=1e-12)
    np.testing.assert_allclose(s2, sig, rtol=1e-12)


def test_lj_from_coefficients_closed_form():
    c12, c6 = 4 * 0.01 * 3.0**12, 4 * 0.01 * 3.0**6
    eps, sig = LJ.from_coefficients(c12, c6)
    assert eps == pytest.approx(c6**2 / (4 * c12), rel=1e-13)
    assert sig == pytest.approx((c12 / c6) ** (1 / 6), rel=1e-13)


def test_from_coefficients_nonpositive_is_nan():
    eps, sig = LJ.from_coefficients([1.0, -1.0, 1.0, 0.0], [1.0, 1.0, -2.0, 1.0])
    assert np.isfinite(eps[0]) and np.isfinite(sig[0])
    assert np.all(np.isnan(eps[1:])) and np.all(np.isnan(sig[1:]))


@pytest.mark.parametrize("n, m", EXPONENTS)
def test_coefficient_derivatives_vs_finite_differences(n, m):
    pot = Mie(n, m)
    eps, sig = 0.017, 3.2
    dcn_de, dcn_ds, dcm_de, dcm_ds = pot.coefficient_derivatives(eps, sig)
    he, hs = 1e-6 * eps, 1e-6 * sig
    fd_e = central_difference(lambda e: np.array(pot.coefficients(e, sig)), eps, he)
    fd_s = central_difference(lambda s: np.array(pot.coefficients(eps, s)), sig, hs)
    np.testing.assert_allclose([dcn_de, dcm_de], fd_e, rtol=1e-7)
    np.testing.assert_allclose([dcn_ds, dcm_ds], fd_s, rtol=1e-7)


@pytest.mark.parametrize("n, m", EXPONENTS)
def test_denergy_dr_vs_finite_differences(n, m):
    pot = Mie(n, m)
    eps, sig = 0.02, 3.0
    r = np.linspace(2.4, 12.0, 97)
    h = 1e-6 * r
    fd = central_difference(lambda x: pot.energy(x, eps, sig), r, h)
    analytic = pot.denergy_dr(r, eps, sig)
    assert np.linalg.norm(analytic - fd) <= 1e-7 * np.linalg.norm(analytic)


@pytest.mark.parametrize("n, m", EXPONENTS)
def test_inverse_powers(n, m):
    r = np.linspace(2.0, 11.0, 25)
    rn, rm = Mie(n, m).inverse_powers(r**2)
    np.testing.assert_allclose(rn, r ** (-float(n)), rtol=1e-13)
    np.testing.assert_allclose(rm, r ** (-float(m)), rtol=1e-13)


@pytest.mark.parametrize("pot", [pytest.param(LJ, id="lj"), pytest.param(Mie(9, 6), id="mie-9-6")])
@pytest.mark.parametrize("shift", [pytest.param(False, id="truncated"), pytest.param(True, id="shifted")])
def test_cut(pot, shift):
    eps, sig, rc = 0.015, 3.3, 7.5
    energy, denergy = cut(pot, rc, shift)
    inside = np.linspace(2.8, rc, 30)
    outside = np.array([rc + 1e-9, rc + 0.5, 20.0, 1e3])
    e_rc = mie_energy(rc, eps, sig, pot.n, pot.m)
    expected = mie_energy(inside, eps, sig, pot.n, pot.m) - (e_rc if shift else 0.0)
    np.testing.assert_allclose(energy(inside, eps, sig), expected, rtol=1e-12, atol=1e-18)
    np.testing.assert_array_equal(energy(outside, eps, sig), 0.0)
    if shift:
        assert energy(rc, eps, sig) == pytest.approx(0.0, abs=1e-18)
    else:
        assert energy(rc, eps, sig) == pytest.approx(e_rc, rel=1e-13)
    # the derivative does not see the shift, and vanishes beyond rc
    np.testing.assert_allclose(denergy(inside, eps, sig), pot.denergy_dr(inside, eps, sig),
                               rtol=1e-13)
    np.testing.assert_array_equal(denergy(outside, eps, sig), 0.0)


def test_cut_without_cutoff_is_the_bare_kernel():
    energy, denergy = cut(LJ, None)
    r = np.linspace(3, 30, 5)
    np.testing.assert_array_equal(energy(r, 0.01, 3.0), LJ.energy(r, 0.01, 3.0))
    np.testing.assert_array_equal(denergy(r, 0.01, 3.0), LJ.denergy_dr(r, 0.01, 3.0))
    with pytest.raises(FitError, match="shift"):
        cut(LJ, None, shift=True)


@pytest.mark.parametrize("text, n, m", [
    pytest.param("lj", 12, 6, id="lj"),
    pytest.param(" LJ ", 12, 6, id="LJ-spaces"),
    pytest.param("lennard-jones", 12, 6, id="lennard-jones"),
    pytest.param("mie:9:6", 9, 6, id="mie-9-6"),
    pytest.param("MIE:14:7", 14, 7, id="mie-14-7-upper"),
    pytest.param("mie:12.5:6.5", 12.5, 6.5, id="mie-fractional"),
    pytest.param("mie:12:6", 12, 6, id="mie-12-6-is-lj"),
])
def test_parse_potential(text, n, m):
    pot = parse_potential(text)
    assert (pot.n, pot.m) == (n, m)
    assert parse_potential(pot.name) == pot  # the name parses back


def test_parse_potential_names_and_passthrough():
    assert parse_potential("mie:12:6").name == "lj"
    assert parse_potential("mie:9:6").name == "mie:9:6"
    pot = Mie(10, 5)
    assert parse_potential(pot) is pot


@pytest.mark.parametrize("text", [
    pytest.param("morse", id="unknown"),
    pytest.param("", id="empty"),
    pytest.param("mie:9", id="one-exponent"),
    pytest.param("mie:9:6:3", id="three-exponents"),
    pytest.param("mie:a:b", id="letters"),
    pytest.param("mie:6:9", id="n-below-m"),
    pytest.param("mie:6:6", id="n-equals-m"),
    pytest.param("mie:9:0", id="m-zero"),
    pytest.param("mie:1e999:6", id="infinite"),
    pytest.param("mie:.:6", id="lone-dot"),
    pytest.param("mie:1e:6", id="dangling-exponent"),
])
def test_parse_potential_rejects(text):
    with pytest.raises(FitError):
        parse_potential(text)


@pytest.mark.parametrize("n, m", [(6, 12), (6, 6), (12, 0), (12, -6), (float("nan"), 6),
                                  (float("inf"), 6)])
def test_mie_rejects_bad_exponents(n, m):
    with pytest.raises(FitError, match="n > m > 0"):
        Mie(n, m)
