"""Fitters: recovery of known parameters, agreement with the certified linear optimum,
global searches vs a multistart sweep, bounds, seeds, calibrated standard errors, and the
identifiability flags."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import fcc111, molecule
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

import ljfit
from ljfit.dataset import Dataset, Structure
from ljfit.errors import FitError

TRUTH = {
    "epsilon[Au-C]": 0.012,
    "epsilon[Au-O]": 0.009,
    "sigma[Au-C]": 3.2,
    "sigma[Au-O]": 3.0,
}
# fast settings for the global methods in tests
FAST = {"basinhopping": {"niter": 15}, "dual_annealing": {"maxiter": 60}}


def adsorbate(n_structures, *, seed=0, mol="CO", slab=(3, 3, 2), d_range=(2.7, 7.0)):
    """A molecule (group A) over an Au(111) cluster (group B) in random orientations, with
    its closest molecule–Au distance drawn in ``d_range`` (Å) so that both the repulsive
    wall and the tail are sampled (for CO over 3x3x2 Au with 2.7–7 Å, the largest parameter
    correlation is ~0.9: well posed). Energies are zero (set them with a model)."""
    rng = np.random.default_rng(seed)
    m = molecule(mol)
    au = fcc111("Au", slab)
    au_pos = au.positions - [au.cell[0, 0] / 2 + au.cell[1, 0] / 2, au.cell[1, 1] / 2, 0]
    top = au_pos[:, 2].max()
    sym = list(m.get_chemical_symbols()) + list(au.get_chemical_symbols())
    groups = [0] * len(m) + [1] * len(au)
    out = []
    for k in range(n_structures):
        p = Rotation.from_quat(rng.normal(size=4)).apply(m.positions - m.positions.mean(0))
        p[:, :2] += rng.uniform(-1.5, 1.5, size=2)
        p[:, 2] += top + 6.0
        d = np.linalg.norm(p[:, None] - au_pos[None], axis=-1).min()
        p[:, 2] -= d - rng.uniform(*d_range)  # lowers the molecule to the drawn distance
        out.append(Structure(f"s{k}", sym, np.vstack([p, au_pos]), energy=0.0, groups=groups))
    return Dataset(out)


def with_energies(ds, energies):
    return Dataset([s.with_energy(e) for s, e in zip(ds, energies)])


def synthetic(n=40, noise=0.0, seed=0, scope="per-pair", truth=TRUTH, **kw):
    ds0 = adsorbate(n, seed=seed, **kw)
    model = ljfit.LJModel(ds0, scope=scope)
    e = model.energies(truth)
    e = e + np.random.default_rng(seed + 1000).normal(0, noise, size=len(e)) if noise else e
    return model, with_energies(ds0, e)


def rare_gas_clusters(n=30, seed=0):
    """Random Ar/Kr clusters of 7 atoms (total energies: every pair), nearest neighbours
    3.0–5 Å."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        pos = [np.zeros(3)]
        while len(pos) < 7:
            c = pos[rng.integers(len(pos))] + rng.normal(size=3) * 2.5
            d = np.linalg.norm(np.array(pos) - c, axis=1).min()
            if 3.0 < d < 5.0:
                pos.append(c)
        sym = list(rng.choice(["Ar", "Kr"], size=7))
        sym[0], sym[1] = "Ar", "Kr"
        out.append(Structure(f"c{k}", sym, np.array(pos), energy=0.0))
    return Dataset(out)


LB_TRUTH = {"epsilon[Ar]": 0.0104, "epsilon[Kr]": 0.0140, "sigma[Ar]": 3.40, "sigma[Kr]": 3.65}


@pytest.fixture(scope="module")
def clean():
    return synthetic(noise=0.0)


@pytest.fixture(scope="module")
def noisy():
    return synthetic(noise=0.002, seed=3)


def relerr(params, truth):
    return max(abs(params[k] - v) / abs(v) for k, v in truth.items())


# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "method, tol",
    [
        pytest.param("linear", 1e-10, id="linear"),
        pytest.param("least_squares", 1e-6, id="least_squares"),
        pytest.param("basinhopping", 1e-6, id="basinhopping"),
        pytest.param("dual_annealing", 1e-6, id="dual_annealing"),
        pytest.param("differential_evolution", 1e-6, id="differential_evolution"),
    ],
)
def test_noise_free_recovery(clean, method, tol):
    model, ds = clean
    res = ljfit.fit(model, ds, method, progress=False, maxiter=60, niter=15)
    assert res.success or method == "differential_evolution", res.message
    assert relerr(res.params, TRUTH) < tol
    assert res.determined, res.warnings
    assert res.rmse < 1e-9


@pytest.mark.parametrize("method", ["least_squares", "basinhopping", "dual_annealing"])
def test_noisy_cost_matches_linear_optimum(noisy, method):
    model, ds = noisy
    lin = ljfit.fit(model, ds, "linear")
    assert lin.success and lin.extra["certified_global_optimum"]
    res = ljfit.fit(model, ds, method, progress=False, **FAST.get(method, {}))
    assert res.cost == pytest.approx(lin.cost, rel=1e-6)
    assert res.cost >= lin.cost * (1 - 1e-9)  # nothing beats the certified optimum


def test_linear_is_certified_and_matches_lstsq(noisy):
    """With every coefficient positive, NNLS is the plain least-squares solution."""
    model, ds = noisy
    lin = ljfit.fit(model, ds, "linear")
    X, _ = model.design_matrix()
    c = np.linalg.lstsq(X, ds.energies, rcond=None)[0]
    assert np.all(c > 0)
    ref = model.from_coefficients(c)[model.spec.free]
    np.testing.assert_allclose(lin.x, ref, rtol=1e-8)


def _open_bounds(model):
    """ε, σ ∈ [0, inf): the NNLS feasible set, whose boundary C = 0 is a limit of it."""
    return model.with_spec(model.spec.with_bounds(
        {n: (0.0, np.inf) for n in model.spec.names if n.split("[")[0] in ("epsilon", "sigma")}))


def test_linear_boundary_is_reported():
    """Energies with no repulsion at all push C12 to 0: with open bounds ε, σ >= 0 the
    optimum is that limit, its parameters undefined, and said so."""
    model, ds0 = synthetic(n=20)
    an, am = model.features.effective
    ds = with_energies(ds0, -am @ np.array([50.0, 20.0]))  # pure attraction
    res = ljfit.fit(_open_bounds(model), ds, "linear")
    assert not res.success
    assert "boundary" in res.message
    assert any("undefined" in w for w in res.warnings)
    assert not res.defined
    assert res.rmse < 1e-12  # the predictions are still the exact optimum
    assert res.certified and res.lower_bound == res.cost


def test_linear_boundary_outside_default_bounds_gives_bounded_optimum():
    """The same data under the default bounds (σ <= 6 Å excludes C12 = 0): the cone program
    returns defined parameters inside the bounds, certified, and names the NNLS boundary."""
    model, ds0 = synthetic(n=20)
    an, am = model.features.effective
    ds = with_energies(ds0, -am @ np.array([50.0, 20.0]))
    res = ljfit.fit(model, ds, "linear")
    assert res.success and res.defined and res.certified, res.message
    assert res.extra["bounds_active"]
    assert any("unbounded optimum is outside the bounds (Cn[Au-O] = 0" in w
               for w in res.warnings), res.warnings
    lo, hi = model.spec.lower, model.spec.upper
    assert np.all((res.x >= lo) & (res.x <= hi))
    assert res.lower_bound <= res.cost <= res.lower_bound * (1 + 1e-9)
    ls = ljfit.fit(model, ds, "least_squares", x0=model.spec.x0)
    assert res.cost <= ls.cost * (1 + 1e-9)


def test_linear_outside_bounds_gives_bounded_optimum(clean):
    """An unbounded optimum outside the bounds (σ[Au-C] = 3.2 > 3.0): the linear method
    returns the certified bounded optimum (σ[Au-C] on its bound), which least_squares from
    the spec values reaches too."""
    model, ds = clean
    tight = model.with_spec(model.spec.with_bounds({"sigma[Au-C]": (1.0, 3.0)}))
    res = ljfit.fit(tight, ds, "linear")
    assert res.success and res.defined and res.certified, res.message
    assert res.extra["unbounded_parameters"]["sigma[Au-C]"] == pytest.approx(3.2)
    assert res.params["sigma[Au-C]"] == pytest.approx(3.0, abs=1e-12)
    assert res.params["sigma[Au-C]"] <= 3.0
    assert any("sigma[Au-C]" in w and "upper bound" in w for w in res.warnings)
    ls = ljfit.fit(tight, ds, "least_squares", x0=tight.spec.x0)
    assert ls.params["sigma[Au-C]"] == pytest.approx(3.0)
    assert any("sigma[Au-C]" in w and "upper bound" in w for w in ls.warnings)
    assert res.cost <= ls.cost * (1 + 1e-9) and ls.cost <= res.cost * (1 + 1e-6)


def test_linear_needs_linear_model(clean):
    model, ds = clean
    elem = ljfit.LJModel(model.features, scope="per-element")
    with pytest.raises(FitError, match="per-site or per-pair"):
        ljfit.fit(elem, ds, "linear")


@pytest.mark.parametrize("loss", ["soft_l1", "huber", "cauchy"])
def test_robust_loss_resists_outliers(loss):
    model, ds = synthetic(noise=0.0005, seed=5)
    e = ds.energies.copy()
    e[[3, 11]] += 0.5  # two gross outliers
    bad = with_energies(ds, e)
    plain = ljfit.fit(model, bad, "least_squares")
    robust = ljfit.fit(model, bad, "least_squares", loss=loss, f_scale=0.005)
    assert relerr(robust.params, TRUTH) < 0.5 * relerr(plain.params, TRUTH)
    assert relerr(robust.params, TRUTH) < 0.05


def test_weights_change_the_fit(noisy):
    model, ds = noisy
    w = np.ones(len(ds))
    w[:10] = 100.0
    a = ljfit.fit(model, ds, "linear")
    b = ljfit.fit(model, ds, "linear", weights=w)
    c = ljfit.fit(model.take(np.r_[np.repeat(np.arange(10), 100), np.arange(10, len(ds))]),
                  energies=np.r_[np.repeat(ds.energies[:10], 100), ds.energies[10:]],
                  method="linear")
    assert not np.allclose(a.x, b.x)
    np.testing.assert_allclose(b.x, c.x, rtol=1e-7)  # weight 100 == 100 copies


# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lb_problem():
    ds0 = rare_gas_clusters(30)
    model = ljfit.LJModel(ds0, scope="per-element", mixing="lorentz-berthelot")
    e = model.energies(LB_TRUTH) + np.random.default_rng(7).normal(0, 0.001, len(ds0))
    ds = with_energies(ds0, e)
    sweep = ljfit.fit(model, ds, "least_squares", n_starts=199, seed=1)
    return model, ds, sweep


def test_lb_recovers_truth_noise_free():
    ds0 = rare_gas_clusters(30)
    model = ljfit.LJModel(ds0, scope="per-element")
    ds = with_energies(ds0, model.energies(LB_TRUTH))
    res = ljfit.fit(model, ds, "least_squares")
    assert res.extra["start"] == "per-pair linear solve mapped to elements"
    assert relerr(res.params, LB_TRUTH) < 1e-6


@pytest.mark.parametrize("method", ["basinhopping", "dual_annealing"])
def test_global_methods_reach_sweep_optimum_from_random_starts(lb_problem, method):
    model, ds, sweep = lb_problem
    problem = ljfit.fitting.Problem(model, ds.energies)
    starts = ljfit.fitting.local.random_starts(problem, 20, np.random.default_rng(11))
    # wide hops (stepsize = the whole range) so that 10 hops suffice in a test
    opts = {"basinhopping": {"niter": 10, "stepsize": 1.0}, "dual_annealing": {"maxiter": 30}}[method]
    for k, x0 in enumerate(starts):
        res = ljfit.fit(model, ds, method, x0=x0, seed=k, progress=False, **opts)
        assert res.cost <= sweep.cost * (1 + 1e-6), (k, res.cost, sweep.cost)


# ---------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sig_hi=st.floats(2.6, 4.0),
    eps_hi=st.floats(0.002, 0.02),
    noise=st.sampled_from([0.0, 0.005, 0.05]),
    method=st.sampled_from(["linear", "least_squares", "basinhopping", "dual_annealing"]),
)
def test_no_method_returns_parameters_outside_bounds(sig_hi, eps_hi, noise, method, clean):
    model, ds = clean
    if noise:
        ds = with_energies(ds, ds.energies + np.random.default_rng(0).normal(0, noise, len(ds)))
    bounds = {n: (1.0, sig_hi) for n in model.spec.names if n.startswith("sigma")}
    bounds.update({n: (1e-4, eps_hi) for n in model.spec.names if n.startswith("epsilon")})
    bounded = model.with_spec(model.spec.with_bounds(bounds))
    res = ljfit.fit(bounded, ds, method, progress=False, niter=3, maxiter=10)
    lo, hi = bounded.spec.lower, bounded.spec.upper
    x = res.x[np.isfinite(res.x)]
    assert np.all(x >= lo[np.isfinite(res.x)]) and np.all(x <= hi[np.isfinite(res.x)])


# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["basinhopping", "dual_annealing", "differential_evolution"])
def test_same_seed_same_numbers_different_seed_same_optimum(noisy, method):
    model, ds = noisy
    opts = {"niter": 5, "maxiter": 20, "progress": False}
    a = ljfit.fit(model, ds, method, seed=1, **opts)
    b = ljfit.fit(model, ds, method, seed=1, **opts)
    c = ljfit.fit(model, ds, method, seed=2, **opts)
    assert np.array_equal(a.x, b.x) and a.cost == b.cost and a.nfev == b.nfev
    np.testing.assert_allclose(c.x, a.x, rtol=1e-6)


def test_multistart_is_seeded(noisy):
    model, ds = noisy
    a = ljfit.fit(model, ds, "least_squares", n_starts=5, seed=4)
    b = ljfit.fit(model, ds, "least_squares", n_starts=5, seed=4)
    assert np.array_equal(a.x, b.x) and a.nfev == b.nfev


# ---------------------------------------------------------------------------------------
def test_standard_errors_are_calibrated():
    """Over 300 noisy replicas the truth lies within ±1 stderr in ~68 % of cases (accepted:
    60–76 %; the binomial spread over 300 × 4 draws is ~1.3 %)."""
    ds0 = adsorbate(40, seed=21)
    model = ljfit.LJModel(ds0)
    e0 = model.energies(TRUTH)
    rng = np.random.default_rng(99)
    hits = []
    for _ in range(300):
        res = ljfit.fit(model, energies=e0 + rng.normal(0, 0.002, len(e0)), method="linear")
        assert res.success
        se = np.array([res.stderr[n] for n in res.names])
        truth = np.array([TRUTH[n] for n in res.names])
        hits.append(np.abs(res.x - truth) <= se)
    coverage = np.mean(hits)
    assert 0.60 <= coverage <= 0.76, coverage


# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def nine_sites():
    """Ethanol (9 sites) over Au, 10 energies, per-site scope: 18 parameters, 10 data."""
    ds0 = adsorbate(10, seed=8, mol="CH3CH2OH")
    pair = ljfit.LJModel(ds0, scope="per-pair")
    truth = {"epsilon[Au-C]": 0.012, "epsilon[Au-H]": 0.006, "epsilon[Au-O]": 0.014,
             "sigma[Au-C]": 3.2, "sigma[Au-H]": 2.7, "sigma[Au-O]": 3.0}
    ds = with_energies(ds0, pair.energies(truth))
    return ljfit.LJModel(ds, scope="per-site"), ds


@pytest.mark.parametrize("method", ["linear", "least_squares"])
def test_nine_sites_ten_energies_flagged_underdetermined(nine_sites, method):
    model, ds = nine_sites
    assert model.n_free == 18
    res = ljfit.fit(model, ds, method)
    assert res.underdetermined
    msg = " ".join(res.warnings)
    assert "18 free parameters but only 10 structures" in msg
    assert "per-element" in msg  # the coarser-scope remedy


def test_ridge_gives_unique_finite_answer(nine_sites):
    model, ds = nine_sites
    prior = {n: (0.01 if n.startswith("epsilon") else 3.0) for n in model.spec.free_names}
    kw = {"regularization": 1e-3, "prior": prior}
    a = ljfit.fit(model, ds, "least_squares", **kw)
    b = ljfit.fit(model, ds, "least_squares", x0=model.spec.x0 * 1.1, **kw)
    assert np.all(np.isfinite(a.x))
    np.testing.assert_allclose(a.x, b.x, rtol=1e-5)
    problem = ljfit.fitting.Problem(model, ds.energies, regularization=1e-3, prior=prior)
    assert np.linalg.matrix_rank(problem.jac(a.x)) == model.n_free
    assert any("regularization" in w for w in a.warnings)
    lin = ljfit.fit(model, ds, "linear", **kw)
    assert np.all(np.isfinite(lin.predictions))


def test_at_bound_warning_names_parameter(clean):
    model, ds = clean
    m = model.with_spec(model.spec.with_bounds({"sigma[Au-O]": (3.1, 6.0)}))
    res = ljfit.fit(m, ds, "least_squares")
    assert "sigma[Au-O] = 3.1 Å is at its lower bound" in res.warnings


def test_fit_does_not_raise_on_failure(clean):
    model, ds = clean
    res = ljfit.fit(model, ds, "least_squares", max_nfev=1, x0=model.spec.x0)
    assert not res.success
    assert res.message


@pytest.mark.parametrize(
    "kwargs, match",
    [
        pytest.param({"method": "newton"}, "unknown 'newton'", id="unknown-method"),
        pytest.param({"method": "least_squares", "loss": "l7"}, "loss", id="bad-loss"),
        pytest.param({"method": "least_squares", "regularization": -1}, "regularization",
                     id="negative-ridge"),
        pytest.param({"method": "least_squares", "prior": {"sigma[X]": 1}}, "unknown parameter",
                     id="unknown-prior"),
        pytest.param({"method": "least_squares", "weights": -np.ones(40)}, "weights",
                     id="negative-weights"),
    ],
)
def test_bad_requests_raise_fit_error(clean, kwargs, match):
    model, ds = clean
    with pytest.raises(FitError, match=match):
        ljfit.fit(model, ds, **kwargs)


def test_fit_methods_all_skips_linear_for_per_element(clean):
    model, ds = clean
    elem = ljfit.LJModel(model.features, scope="per-element")
    assert ljfit.fitting.methods_for(elem, "all") == [
        "least_squares", "basinhopping", "dual_annealing"]
    assert ljfit.fitting.methods_for(model, "all")[0] == "linear"
