"""Tests of ljfit.uncertainty: bootstrap, cross-validation, closed-form LOO, profiles.

The synthetic data are built here, in memory: a small molecule (group A) at random
orientations around a 13-atom Au icosahedron (group B), placed so that the closest A–B
distance is drawn in 2.3–2.9 Å for half of the structures (repulsive wall) and 2.9–6.0 Å for
the other half (well and tail). Energies are the model's energies at known per-pair
parameters plus Gaussian noise, so the per-pair problem is well posed (max leverage of the
H2O set ≈ 0.5) and its truth is known.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from ljfit import Dataset, FitError, LJModel, Structure, fit
from ljfit.uncertainty import (
    OVERFIT_RATIO,
    BootstrapResult,
    CVResult,
    Profile,
    bootstrap,
    cross_validate,
    loo_residuals_linear,
    profile,
    profiles,
)

TRUTH = {"Au-C": (0.020, 3.2), "Au-H": (0.008, 2.7), "Au-O": (0.030, 3.0)}
NOISE = 0.001  # eV


# --------------------------------------------------------------------------------------
# synthetic data
# --------------------------------------------------------------------------------------


def _rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _place(mol_pos, au_pos, rng, d_lo, d_hi):
    """Molecule rotated at random, moved along a random direction until its closest
    distance to the cluster is a value drawn in [d_lo, d_hi] (bisection)."""
    p = (mol_pos - mol_pos.mean(0)) @ _rotation(rng).T
    u = rng.normal(size=3)
    u /= np.linalg.norm(u)
    target = rng.uniform(d_lo, d_hi)
    lo, hi = 0.0, 30.0
    for _ in range(60):
        t = 0.5 * (lo + hi)
        d = np.min(np.linalg.norm((p + t * u)[:, None] - au_pos[None], axis=-1))
        lo, hi = (t, hi) if d < target else (lo, t)
    return p + hi * u


def make_geometries(n, seed, molecule="H2O", wall_fraction=0.5):
    """Dataset of ``n`` molecule + Au13 structures (energies 0; set them with
    :func:`with_energies`)."""
    from ase.build import molecule as ase_molecule
    from ase.cluster import Icosahedron

    rng = np.random.default_rng(seed)
    au = Icosahedron("Au", 2).positions
    au = au - au.mean(0)
    mols = [ase_molecule(m) for m in molecule.split("|")]
    n_wall = int(round(wall_fraction * n))
    structures = []
    for k in range(n):
        mol = mols[k % len(mols)]
        d_range = (2.3, 2.9) if k < n_wall else (2.9, 6.0)
        pos = _place(mol.positions, au, rng, *d_range)
        structures.append(Structure(
            f"s{k:03d}", mol.get_chemical_symbols() + ["Au"] * len(au),
            np.vstack([pos, au]), energy=0.0, groups=[0] * len(mol) + [1] * len(au),
        ))
    return Dataset(structures, group_mode="seed")


def truth_values(model) -> dict:
    out = {}
    for key, (e, s) in TRUTH.items():
        if f"epsilon[{key}]" in model.spec:
            out[f"epsilon[{key}]"], out[f"sigma[{key}]"] = e, s
    return out


def with_energies(geometries, energies, weights=None) -> Dataset:
    w = np.ones(len(geometries)) if weights is None else weights
    return Dataset([s.with_energy(float(e)).with_weight(float(x))
                    for s, e, x in zip(geometries, energies, w)], group_mode="seed")


@pytest.fixture(scope="module")
def water():
    """(geometries, per-pair model, noise-free energies): 50 H2O + Au13 structures."""
    geo = make_geometries(50, seed=3)
    model = LJModel(geo, scope="per-pair")
    return geo, model, model.energies(truth_values(model))


@pytest.fixture(scope="module")
def water_data(water):
    """(model, dataset with 1 meV noise, linear fit)."""
    geo, model, e0 = water
    rng = np.random.default_rng(11)
    ds = with_energies(geo, e0 + NOISE * rng.normal(size=len(geo)))
    return model, ds, fit(model, ds, "linear")


# --------------------------------------------------------------------------------------
# bootstrap
# --------------------------------------------------------------------------------------


def test_bootstrap_coverage(water):
    """Percentile intervals (linear method, 200 resamples) contain the truth.

    50 replicated datasets (same geometries, fresh noise) × 4 parameters = 200 intervals.
    Nominal coverage is 0.95; the binomial spread over 200 independent intervals would be
    ±0.015, but ε and σ of a pair are correlated (|r| ≈ 0.99), so there are closer to 100
    independent checks (±0.022), and a percentile bootstrap of 50 structures is slightly
    narrow (≈ sqrt((m − n)/m) = 0.96 of the sampling spread; observed 0.93). The tolerance,
    coverage ≥ 0.85, is about four spreads below nominal: it passes for a correct bootstrap
    and fails for intervals that are too narrow by a factor ~1.5.
    """
    geo, model, e0 = water
    truth = truth_values(model)
    rng = np.random.default_rng(2024)
    hits = []
    for rep in range(50):
        ds = with_energies(geo, e0 + NOISE * rng.normal(size=len(geo)))
        b = bootstrap(model, ds, "linear", n=200, seed=rep, progress=False)
        assert b.n_failed == 0 and b.samples.shape == (200, 4)
        hits += [b.ci_low[nm] <= truth[nm] <= b.ci_high[nm] for nm in b.names]
    coverage = float(np.mean(hits))
    assert coverage >= 0.85, f"coverage {coverage:.3f} over {len(hits)} intervals"


def test_bootstrap_std_matches_jacobian_stderr(water_data):
    model, ds, result = water_data
    assert result.success and not np.isnan(list(result.stderr.values())).any()
    b = bootstrap(model, ds, "linear", n=1000, seed=1, result=result, progress=False)
    for nm in b.names:
        ratio = b.std[nm] / result.stderr[nm]
        assert 0.5 < ratio < 2.0, (nm, ratio)
        # the full fit lies inside its own bootstrap interval
        assert b.ci_low[nm] < result.params[nm] < b.ci_high[nm]


def test_bootstrap_result_fields_and_json(water_data):
    model, ds, result = water_data
    b = bootstrap(model, ds, "linear", n=50, seed=0, level=0.9, progress=False)
    assert isinstance(b, BootstrapResult)
    assert b.names == model.spec.free_names and b.n == 50 and b.level == 0.9
    assert b.samples.shape == (b.n_ok, model.n_free) and b.n_ok + b.n_failed == 50
    for nm, col in zip(b.names, b.samples.T):
        assert b.mean[nm] == pytest.approx(col.mean())
        assert b.std[nm] == pytest.approx(col.std(ddof=1))
        assert b.ci_low[nm] == pytest.approx(np.percentile(col, 5.0))
        assert b.ci_high[nm] == pytest.approx(np.percentile(col, 95.0))
    d = json.loads(json.dumps(b.to_dict()))
    assert set(d) == {"method", "n", "seed", "level", "n_failed", "wall_time_s", "reason",
                      "parameters"}
    assert d["reason"] is None
    assert set(d["parameters"]) == set(b.names)
    assert set(d["parameters"][b.names[0]]) == {"mean", "std", "ci_low", "ci_high"}


def test_bootstrap_fast_linear_path_equals_fit(water_data):
    """Each linear refit equals fit(model.take(rows), method="linear") on the same resample
    (the resamples are drawn up front from default_rng(seed))."""
    model, ds, _ = water_data
    b = bootstrap(model, ds, "linear", n=5, seed=7, progress=False)
    draws = np.random.default_rng(7).integers(0, len(ds), size=(5, len(ds)))
    for rows, got in zip(draws, b.samples):
        ref = fit(model.take(rows), energies=ds.energies[rows], weights=ds.weights[rows],
                  method="linear")
        np.testing.assert_allclose(got, ref.x, rtol=1e-10)


def test_bootstrap_least_squares_fresh_start_matches_linear(water_data):
    """Same seed → same resamples; least_squares started as a fresh fit of each resample
    finds the same optimum as the exact linear solve (no bound active)."""
    model, ds, result = water_data
    lin = bootstrap(model, ds, "linear", n=8, seed=3, progress=False)
    ls = bootstrap(model, ds, "least_squares", n=8, seed=3, result=result, progress=False)
    assert ls.method == "least_squares" and ls.n_failed == 0
    np.testing.assert_allclose(ls.samples, lin.samples, rtol=1e-6)


@pytest.fixture(scope="module")
def exact_underdetermined():
    """Methanol (6 sites, 12 parameters) over Au, 8 energies with 0.5 meV noise, per-site:
    every full fit is exact (RMSE ~1e-15 eV) and underdetermined."""
    from conftest import make_adsorbate_dataset

    ds = make_adsorbate_dataset(8, np.random.default_rng(3), noise=5e-4)
    model = LJModel(ds, scope="per-site")
    return model, ds, fit(model, ds, "least_squares")


def test_bootstrap_of_underdetermined_fit_is_undefined(exact_underdetermined):
    """Refits of an exact, underdetermined fit gave intervals ~1e-14 wide that missed the
    truth: the intervals are undefined instead, with the reason, in every output."""
    from ljfit.report import FitRun, markdown_report, parameters_frame, summary_text

    model, ds, result = exact_underdetermined
    assert result.underdetermined and result.rmse < 1e-9
    b = bootstrap(model, ds, "least_squares", n=20, seed=0, result=result, progress=False)
    assert b.reason and "underdetermined" in b.reason
    d = b.to_dict()
    assert all(v["ci_low"] is None and v["ci_high"] is None for v in d["parameters"].values())
    run = FitRun(ds, model, {"least_squares": result}, bootstrap=b,
                 bootstrap_method="least_squares")
    assert "intervals undefined: the fit is underdetermined" in summary_text(run)
    assert "Intervals undefined: the fit is underdetermined" in markdown_report(run)
    assert parameters_frame(run).ci_low.isna().all()


def test_cv_refits_start_fresh_not_from_the_exact_full_fit(exact_underdetermined):
    """Fold fits started from the full (exact) fit never moved: a held-out RMSE at round-off
    (1e-13 eV). Started as fresh fits they predict the held-out structures with a real error,
    well above the 0.5 meV noise."""
    model, ds, result = exact_underdetermined
    cv = cross_validate(model, ds, "least_squares", k=4, seed=0, result=result)
    assert cv.rmse > 5e-4, cv.rmse
    assert any("over-fitting" in w for w in cv.warnings)


def test_bootstrap_counts_failed_refits(water):
    """A pair type (Au-C) present in three structures only: resamples with none of them leave
    its ε, σ undefined (no data); they are counted as failed and excluded. (With one, the
    linear method returns a feasible point of the bounded optimum: not a failure.)"""
    geo, model, e0 = water
    extra = make_geometries(3, seed=5, molecule="CO", wall_fraction=0.34)
    structures = list(geo) + [Structure(f"co{k}", s.symbols, s.positions, energy=0.0,
                                        groups=s.groups) for k, s in enumerate(extra)]
    geo2 = Dataset(structures, group_mode="seed")
    m2 = LJModel(geo2, scope="per-pair")
    y = m2.energies(truth_values(m2)) + NOISE * np.random.default_rng(0).normal(size=len(geo2))
    ds = with_energies(geo2, y)
    b = bootstrap(m2, ds, "linear", n=100, seed=0, progress=False)
    draws = np.random.default_rng(0).integers(0, len(ds), size=(100, len(ds)))
    no_co = int(np.sum(~np.any(draws >= len(geo), axis=1)))
    assert no_co > 0 and b.n_failed == no_co, (b.n_failed, no_co)
    assert b.samples.shape == (100 - b.n_failed, m2.n_free)
    assert np.all(np.isfinite(b.samples))


def test_bootstrap_progress_bar(water_data, capsys):
    model, ds, _ = water_data
    b = bootstrap(model, ds, "linear", n=300, seed=0, progress=True)
    assert b.n == 300 and b.samples.shape[0] == 300 - b.n_failed
    assert "bootstrap" in capsys.readouterr().err


# --------------------------------------------------------------------------------------
# cross-validation
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["unweighted", "weighted", "offset"])
def test_loo_equals_hat_matrix(water, case):
    geo, model, e0 = water
    rng = np.random.default_rng(5)
    y = e0 + NOISE * rng.normal(size=len(geo))
    weights = rng.uniform(0.5, 2.0, size=len(geo)) if case == "weighted" else None
    if case == "offset":
        model = LJModel(geo, scope="per-pair", offset=True)
        y = y + 0.05
    ds = with_energies(geo, y, weights)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NNLS bound active
        loo = loo_residuals_linear(model, ds)
    cv = cross_validate(model, ds, "linear", k="loo")
    assert cv.k == "loo" and np.array_equal(cv.folds, np.arange(len(ds)))
    np.testing.assert_allclose(cv.predictions - ds.energies, loo, rtol=0, atol=1e-8)
    # a correct model: held-out error close to the training error
    assert 1.0 < cv.ratio < OVERFIT_RATIO
    assert not any("over-fitting" in w for w in cv.warnings)


def _ethanol_per_site(n=10):
    geo = make_geometries(n, seed=8, molecule="CH3CH2OH")
    pair = LJModel(geo, scope="per-pair")
    y = pair.energies(truth_values(pair)) + NOISE * np.random.default_rng(1).normal(size=n)
    ds = with_energies(geo, y)
    return LJModel(ds, scope="per-site"), ds


@pytest.mark.parametrize("k", [5, "loo"], ids=["5-fold", "loo"])
def test_cv_detects_overfitting(k):
    """Per-site scope, 9 sites → 18 free parameters for 10 energies."""
    model, ds = _ethanol_per_site()
    assert model.n_free == 18
    cv = cross_validate(model, ds, "linear", k=k, seed=0)
    assert isinstance(cv, CVResult)
    assert np.all(np.isfinite(cv.predictions))
    assert cv.rmse > 10 * max(cv.train_rmse, 1e-6)  # held-out ≫ training
    over = [w for w in cv.warnings if "over-fitting" in w]
    assert len(over) == 1 and "held-out RMSE" in over[0]
    assert any("fewer training structures than the 18 free parameters" in w
               for w in cv.warnings)
    d = json.loads(json.dumps(cv.to_dict()))
    assert set(d) == {"method", "k", "seed", "rmse", "mae", "train_rmse", "train_mae",
                      "ratio", "warnings"}


def test_cv_folds_balanced_and_seeded(water_data):
    model, ds, result = water_data
    a = cross_validate(model, ds, "linear", k=7, seed=4, result=result)
    b = cross_validate(model, ds, "linear", k=7, seed=4, result=result)
    c = cross_validate(model, ds, "linear", k=7, seed=5, result=result)
    np.testing.assert_array_equal(a.folds, b.folds)
    np.testing.assert_array_equal(a.predictions, b.predictions)
    assert not np.array_equal(a.folds, c.folds)
    counts = np.bincount(a.folds)
    assert len(counts) == 7 and counts.max() - counts.min() <= 1
    assert a.train_rmse == pytest.approx(result.rmse)
    assert a.to_dict()["ratio"] == pytest.approx(a.rmse / result.rmse)


def test_cv_least_squares_matches_linear(water_data):
    model, ds, result = water_data
    lin = cross_validate(model, ds, "linear", k=5, seed=2, result=result)
    ls = cross_validate(model, ds, "least_squares", k=5, seed=2)
    np.testing.assert_array_equal(lin.folds, ls.folds)
    np.testing.assert_allclose(ls.predictions, lin.predictions, rtol=0, atol=1e-7)


# --------------------------------------------------------------------------------------
# reproducibility
# --------------------------------------------------------------------------------------


def test_same_seed_same_intervals_different_seed_different(water_data):
    model, ds, _ = water_data
    a = bootstrap(model, ds, "linear", n=100, seed=42, progress=False)
    b = bootstrap(model, ds, "linear", n=100, seed=42, progress=False)
    c = bootstrap(model, ds, "linear", n=100, seed=43, progress=False)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert a.ci_low == b.ci_low and a.ci_high == b.ci_high
    assert a.ci_low != c.ci_low
    fa = cross_validate(model, ds, "linear", k=5, seed=42).folds
    fb = cross_validate(model, ds, "linear", k=5, seed=42).folds
    fc = cross_validate(model, ds, "linear", k=5, seed=43).folds
    np.testing.assert_array_equal(fa, fb)
    assert not np.array_equal(fa, fc)


# --------------------------------------------------------------------------------------
# profiles
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["linear", "linear-offset", "least_squares"])
def fitted(request, water):
    geo, _, e0 = water
    offset = request.param == "linear-offset"
    model = LJModel(geo, scope="per-pair", offset=offset)
    y = e0 + NOISE * np.random.default_rng(12).normal(size=len(geo)) + (0.02 if offset else 0)
    ds = with_energies(geo, y)
    method = "least_squares" if request.param == "least_squares" else "linear"
    return model, ds, fit(model, ds, method)


def test_profiles_minimum_at_fit(fitted):
    model, ds, result = fitted
    profs = profiles(model, ds, result, n_points=11)
    assert list(profs) == result.names
    for name, p in profs.items():
        assert isinstance(p, Profile) and p.name == name
        v = result.params[name]
        assert np.all(np.diff(p.values) > 0)
        spec = model.spec[name]
        if spec.lower < p.values[0] and p.values[-1] < spec.upper:  # not clipped: symmetric
            assert len(p.values) == 11 and p.values[5] == v
        else:
            assert len(p.values) in (11, 12)
        i = int(np.flatnonzero(p.values == v)[0])  # the fitted value is a grid point
        assert np.all(np.isfinite(p.cost))
        assert int(np.argmin(p.cost)) == i, name
        assert p.best_value == v
        assert p.best_cost == pytest.approx(result.cost, rel=1e-9)
        assert np.all(p.cost >= result.cost * (1 - 1e-9)), name
        # the profile rises on both sides (a determined parameter)
        assert p.cost[0] > result.cost and p.cost[-1] > result.cost
        if name != "offset" and result.method != "linear":
            assert spec.lower <= p.values[0] and p.values[-1] <= spec.upper
        json.dumps(p.to_dict())


def test_profile_curvature_matches_stderr(water_data):
    """Near the optimum F(v ± se) − F_min ≈ s²/2, s² = 2F/(m − n) (quadratic model)."""
    model, ds, result = water_data
    m, n = len(ds), model.n_free
    s2 = 2 * result.cost / (m - n)
    for name in ("sigma[Au-O]", "epsilon[Au-H]"):
        se = result.stderr[name]
        p = profile(model, ds, result, name, n_points=3, span=se)
        rise = np.delete(p.cost, np.flatnonzero(p.values == result.params[name])) - p.best_cost
        np.testing.assert_allclose(rise, s2 / 2, rtol=0.3)


def test_profile_span_and_clipping(water_data):
    model, ds, result = water_data
    name = "sigma[Au-H]"
    p = profile(model, ds, result, name, n_points=5, span=0.2)
    v = result.params[name]
    assert p.values[0] == pytest.approx(v - 0.2) and p.values[-1] == pytest.approx(v + 0.2)
    wide = profile(model, ds, result, name, n_points=5, span=100.0)
    assert wide.values[0] == model.spec[name].lower and wide.values[-1] == model.spec[name].upper


# --------------------------------------------------------------------------------------
# argument errors
# --------------------------------------------------------------------------------------


def _calls(model, ds, result, element_model):
    return {
        "bootstrap-n<2": (lambda: bootstrap(model, ds, n=1), "n:"),
        "bootstrap-n-float": (lambda: bootstrap(model, ds, n=10.5), "n:"),
        "bootstrap-level": (lambda: bootstrap(model, ds, n=10, level=1.5), "level:"),
        "bootstrap-method": (lambda: bootstrap(model, ds, "newton", n=10), "method:"),
        "bootstrap-energies": (lambda: bootstrap(model, ds, n=10, energies=ds.energies),
                               "energies:"),
        "bootstrap-linear-nonlinear-model": (lambda: bootstrap(element_model, ds, n=10),
                                             "method linear"),
        "bootstrap-result-other-model": (
            lambda: bootstrap(element_model, ds, "least_squares", n=10, result=result),
            "result:"),
        "bootstrap-seed": (lambda: bootstrap(model, ds, n=10, seed=None), "seed:"),
        "cv-seed": (lambda: cross_validate(model, ds, seed=-1), "seed:"),
        "cv-k<2": (lambda: cross_validate(model, ds, k=1), "k:"),
        "cv-k>n": (lambda: cross_validate(model, ds, k=len(ds) + 1), "k:"),
        "cv-k-str": (lambda: cross_validate(model, ds, k="all"), "k:"),
        "cv-method": (lambda: cross_validate(model, ds, "nope"), "method:"),
        "cv-dataset-mismatch": (lambda: cross_validate(model, ds[:10]), "dataset:"),
        "cv-dataset-type": (lambda: cross_validate(model, list(ds)), "dataset:"),
        "loo-nonlinear-model": (lambda: loo_residuals_linear(element_model, ds),
                                "method linear"),
        "profile-name": (lambda: profile(model, ds, result, "epsilon[Au-Xe]"), "name:"),
        "profile-n_points": (lambda: profile(model, ds, result, "sigma[Au-H]", n_points=2),
                             "n_points:"),
        "profile-span": (lambda: profile(model, ds, result, "sigma[Au-H]", span=-1.0),
                         "span:"),
        "profile-result-type": (lambda: profile(model, ds, {"x": 1}, "sigma[Au-H]"),
                                "result:"),
        "profiles-dataset-mismatch": (lambda: profiles(model, ds[:5], result), "dataset:"),
    }


_CASES = list(_calls(None, None, None, None))


@pytest.mark.parametrize("case", _CASES)
def test_argument_errors(water_data, case):
    model, ds, result = water_data
    element_model = LJModel(model.features, scope="per-element")
    call, match = _calls(model, ds, result, element_model)[case]
    with pytest.raises(FitError, match=match):
        call()


def test_default_profile_spans_a_few_standard_errors(water_data):
    """The default grid spans ±3 standard errors (it spanned ±10 % of the value, ±20-80
    stderr for σ, which hid the 1-stderr level): the cost rises by ~9 s²/2 at the ends."""
    from ljfit.uncertainty import PROFILE_SPAN_STDERR

    model, ds, result = water_data
    m, n = len(ds), model.n_free
    s2 = 2 * result.cost / (m - n)
    for name in result.names:
        se = result.stderr[name]
        p = profile(model, ds, result, name, n_points=7)
        v = result.params[name]
        assert p.values[0] == pytest.approx(v - PROFILE_SPAN_STDERR * se, rel=1e-9)
        assert p.values[-1] == pytest.approx(v + PROFILE_SPAN_STDERR * se, rel=1e-9)
        rise = np.array([p.cost[0], p.cost[-1]]) - p.best_cost
        np.testing.assert_allclose(rise, 9 * s2 / 2, rtol=0.35)


def test_bootstrap_spans_cover_the_interval(water_data):
    from ljfit.uncertainty import bootstrap_spans

    model, ds, result = water_data
    b = bootstrap(model, ds, "linear", n=200, seed=0, progress=False)
    spans = bootstrap_spans(result, b)
    for name in result.names:
        v = result.params[name]
        assert spans[name] >= max(v - b.ci_low[name], b.ci_high[name] - v)
