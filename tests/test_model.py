"""The energy model: physics checks, ASE agreement, analytic Jacobian, linear structure."""

import numpy as np
import pytest
from ase.calculators.lj import LennardJones
from conftest import (
    ADSORBATE_PARAMS,
    ARGON,
    ARKR_ELEMENT_PARAMS,
    ARKR_PARAMS,
    make_adsorbate_dataset,
    make_cluster_dataset,
    make_fcc_argon_dataset,
    params_to_values,
    structure_to_atoms,
)

from ljfit.dataset import Dataset, Structure
from ljfit.errors import FitError
from ljfit.features import compute_features
from ljfit.model import LJModel
from ljfit.params import ParamSpec


@pytest.fixture(scope="module")
def argon_clusters():
    """Single-species Ar clusters (total energies)."""
    return make_cluster_dataset(5, np.random.default_rng(30), elements=("Ar",), name="ar")


# --------------------------------------------------------------------------------------
# a dimer at the minimum
# --------------------------------------------------------------------------------------

EPS, SIG = 0.015, 3.1

DIMER_VALUES = {
    "per-pair": {"epsilon[Au-C]": EPS, "sigma[Au-C]": SIG},
    "per-site": {"epsilon[0]": EPS, "sigma[0]": SIG},
    # mixed values that give back (EPS, SIG) for the Au–C pair
    "per-element/lorentz-berthelot": {"epsilon[Au]": EPS / 2, "epsilon[C]": 2 * EPS,
                                      "sigma[Au]": SIG - 0.4, "sigma[C]": SIG + 0.4},
    "per-element/geometric": {"epsilon[Au]": EPS / 3, "epsilon[C]": 3 * EPS,
                              "sigma[Au]": SIG / 1.2, "sigma[C]": SIG * 1.2},
}


@pytest.mark.parametrize("potential, n, m", [pytest.param("lj", 12, 6, id="lj"),
                                             pytest.param("mie:9:6", 9, 6, id="mie96"),
                                             pytest.param("mie:14:7", 14, 7, id="mie147")])
@pytest.mark.parametrize("how", list(DIMER_VALUES))
def test_dimer_at_minimum_gives_minus_epsilon(how, potential, n, m):
    scope, _, mixing = how.partition("/")
    rmin = (n / m) ** (1 / (n - m)) * SIG
    # a far-away copy checks that the energy is not just any number
    ds = Dataset([Structure("min", ["C", "Au"], [[0, 0, 0], [0, 0, rmin]], groups=[0, 1]),
                  Structure("far", ["C", "Au"], [[0, 0, 0], [0, 0, 1e3]], groups=[0, 1])])
    model = LJModel(ds, scope=scope, mixing=mixing or "lb", potential=potential)
    e = model.energies(DIMER_VALUES[how])
    assert e[0] == pytest.approx(-EPS, rel=1e-12)
    assert abs(e[1]) < 1e-15
    eps, sig = model.slot_parameters(DIMER_VALUES[how])
    assert (eps[0], sig[0]) == pytest.approx((EPS, SIG), rel=1e-14)


def test_total_energy_dimer():
    r = 2 ** (1 / 6) * ARGON[1]
    ds = Dataset([Structure("ar2", ["Ar", "Ar"], [[0, 0, 0], [r, 0, 0]])])
    for scope in ("per-pair", "per-element"):
        model = LJModel(ds, scope=scope)
        key = "Ar-Ar" if scope == "per-pair" else "Ar"
        e = model.energies({f"epsilon[{key}]": ARGON[0], f"sigma[{key}]": ARGON[1]})
        assert e[0] == pytest.approx(-ARGON[0], rel=1e-13)


# --------------------------------------------------------------------------------------
# agreement with the builders' truth and with ASE
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("which, kwargs, values", [
    pytest.param("adsorbate_dataset", {}, params_to_values(ADSORBATE_PARAMS), id="ads-cluster"),
    pytest.param("slab_dataset", {"cutoff": 7.0}, params_to_values(ADSORBATE_PARAMS),
                 id="ads-periodic-slab"),
    pytest.param("cluster_dataset", {}, params_to_values(ARKR_PARAMS), id="ArKr-total"),
    pytest.param("fcc_dataset", {"cutoff": 8.5}, params_to_values({"Ar-Ar": ARGON}),
                 id="fcc-total"),
])
def test_model_reproduces_builder_truth(request, which, kwargs, values):
    ds = request.getfixturevalue(which)
    model = LJModel(ds, scope="per-pair", **kwargs)
    np.testing.assert_allclose(model.energies(values), ds.energies, rtol=1e-10)


@pytest.mark.parametrize("potential, n, m", [pytest.param("lj", 12, 6, id="lj"),
                                             pytest.param("mie:9:6", 9, 6, id="mie96")])
@pytest.mark.parametrize("cutoff, shift", [pytest.param(None, False, id="nocut"),
                                           pytest.param(5.5, True, id="cut-shift")])
def test_per_site_truth(potential, n, m, cutoff, shift):
    site = {str(k): (0.01 + 0.004 * k, 2.8 + 0.1 * k) for k in range(6)}
    ds = make_adsorbate_dataset(6, np.random.default_rng(31), params=site, kind="site",
                                n=n, m=m, cutoff=cutoff, shift=shift, offset=0.3)
    model = LJModel(ds, scope="per-site", potential=potential, cutoff=cutoff, shift=shift,
                    offset=True)
    e = model.energies({**params_to_values(site), "offset": 0.3})
    np.testing.assert_allclose(e, ds.energies, rtol=1e-10)


@pytest.mark.parametrize("scope", ["per-pair", "per-element"])
def test_energies_match_ase_lj_cluster(argon_clusters, scope):
    eps, sig = ARGON
    key = "Ar-Ar" if scope == "per-pair" else "Ar"
    model = LJModel(argon_clusters, scope=scope)
    e = model.energies({f"epsilon[{key}]": eps, f"sigma[{key}]": sig})
    ref = []
    for s in argon_clusters:
        atoms = structure_to_atoms(s)
        atoms.calc = LennardJones(epsilon=eps, sigma=sig, rc=1000.0, smooth=False)
        ref.append(atoms.get_potential_energy())
    np.testing.assert_allclose(e, ref, rtol=1e-10)


@pytest.mark.parametrize("repeat", [pytest.param(2, id="32-atoms"),
                                    pytest.param(1, id="4-atoms-self-images")])
def test_energies_match_ase_lj_periodic_fcc(repeat):
    eps, sig = ARGON
    fcc_dataset = make_fcc_argon_dataset(3, np.random.default_rng(32), repeat=repeat)
    model = LJModel(fcc_dataset, scope="per-pair", cutoff=8.5, shift=True)
    e = model.energies({"epsilon[Ar-Ar]": eps, "sigma[Ar-Ar]": sig})
    ref = []
    for s in fcc_dataset:
        atoms = structure_to_atoms(s)
        atoms.calc = LennardJones(epsilon=eps, sigma=sig, rc=8.5, smooth=False)
        ref.append(atoms.get_potential_energy())
    np.testing.assert_allclose(e, ref, rtol=1e-10)
    # the shift matters here: without it the energies differ
    unshifted = LJModel(fcc_dataset, scope="per-pair", cutoff=8.5).energies(
        {"epsilon[Ar-Ar]": eps, "sigma[Ar-Ar]": sig})
    assert np.all(np.abs(unshifted - ref) > 1e-3 * np.abs(ref))


# --------------------------------------------------------------------------------------
# analytic Jacobian vs central finite differences
# --------------------------------------------------------------------------------------

MODELS = [
    # dataset fixture, scope, mixing
    pytest.param("adsorbate_dataset", "per-pair", "lorentz-berthelot", id="ads-pair"),
    pytest.param("adsorbate_dataset", "per-site", "lorentz-berthelot", id="ads-site"),
    pytest.param("adsorbate_dataset", "per-element", "lorentz-berthelot", id="ads-elem-lb"),
    pytest.param("adsorbate_dataset", "per-element", "geometric", id="ads-elem-geo"),
    pytest.param("cluster_dataset", "per-pair", "lorentz-berthelot", id="ArKr-pair"),
    pytest.param("cluster_dataset", "per-element", "lorentz-berthelot", id="ArKr-elem-lb"),
    pytest.param("cluster_dataset", "per-element", "geometric", id="ArKr-elem-geo"),
]
CUTOFFS = [pytest.param(None, False, id="nocut"), pytest.param(6.0, False, id="truncate"),
           pytest.param(6.0, True, id="shift")]
POTENTIALS = [pytest.param("lj", id="lj"), pytest.param("mie:9:6", id="mie96"),
              pytest.param("mie:14:7", id="mie147")]
VARIANTS = [pytest.param(False, False, id="plain"), pytest.param(True, False, id="offset"),
            pytest.param(True, True, id="offset-fixed")]


def random_spec(model, rng, fixed=False):
    """Values spread over a physical range; optionally the first σ and last ε fixed."""
    values = {}
    for p in model.spec:
        if p.kind == "epsilon":
            values[p.name] = rng.uniform(0.005, 0.05)
        elif p.kind == "sigma":
            values[p.name] = rng.uniform(2.6, 3.6)
        else:
            values[p.name] = rng.uniform(0.2, 1.0)
    spec = model.spec.with_values(values)
    if fixed:
        sig = [n for n in spec.names if n.startswith("sigma")][0]
        eps = [n for n in spec.names if n.startswith("epsilon")][-1]
        spec = spec.with_fixed({sig: values[sig], eps: values[eps]})
    return spec


def fd_jacobian(f, x, rel=1e-6):
    x = np.asarray(x, dtype=float)
    cols = []
    for j in range(len(x)):
        h = rel * abs(x[j])
        xp, xm = x.copy(), x.copy()
        xp[j] += h
        xm[j] -= h
        cols.append((f(xp) - f(xm)) / (2 * h))
    return np.array(cols).T


def assert_columns_close(jac, fd, tol=1e-6):
    for k in range(jac.shape[1]):
        scale = np.linalg.norm(jac[:, k])
        assert scale > 0, f"column {k} is zero"
        assert np.linalg.norm(jac[:, k] - fd[:, k]) <= tol * scale, f"column {k}"


@pytest.mark.parametrize("offset, fixed", VARIANTS)
@pytest.mark.parametrize("potential", POTENTIALS)
@pytest.mark.parametrize("cutoff, shift", CUTOFFS)
@pytest.mark.parametrize("which, scope, mixing", MODELS)
def test_jacobian_vs_finite_differences(request, which, scope, mixing, cutoff, shift,
                                        potential, offset, fixed):
    ds = request.getfixturevalue(which)
    model = LJModel(ds, scope=scope, mixing=mixing, potential=potential, cutoff=cutoff,
                    shift=shift, offset=offset)
    model = model.with_spec(random_spec(model, np.random.default_rng(7), fixed))
    x = model.spec.x0
    assert model.n_free == len(model.spec) - (2 if fixed else 0)
    jac = model.jacobian(x)
    assert jac.shape == (len(ds), model.n_free)
    assert_columns_close(jac, fd_jacobian(model.energies, x))
    # the full Jacobian (fixed parameters too), by finite differences over every name
    names = model.spec.names

    def energies_full(p):
        return model.energies(dict(zip(names, p)))

    full = model.full_jacobian(x)
    assert_columns_close(full, fd_jacobian(energies_full, model.spec.full(x)))
    np.testing.assert_array_equal(jac, full[:, model.spec.free])


# --------------------------------------------------------------------------------------
# the linear structure
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [pytest.param(False, id="no-offset"),
                                    pytest.param(True, id="offset")])
@pytest.mark.parametrize("potential", ["lj", "mie:9:6"])
@pytest.mark.parametrize("scope, cutoff, shift", [
    pytest.param("per-pair", None, False, id="pair-nocut"),
    pytest.param("per-pair", 6.0, True, id="pair-shift"),
    pytest.param("per-site", None, False, id="site-nocut"),
    pytest.param("per-site", 6.0, True, id="site-shift"),
])
def test_design_matrix_reproduces_energies(adsorbate_dataset, scope, cutoff, shift,
                                           potential, offset):
    model = LJModel(adsorbate_dataset, scope=scope, potential=potential, cutoff=cutoff,
                    shift=shift, offset=offset)
    model = model.with_spec(random_spec(model, np.random.default_rng(8)))
    x = model.spec.x0
    X, columns = model.design_matrix()
    labels = model.features.labels
    assert columns == ([f"Cn[{s}]" for s in labels] + [f"Cm[{s}]" for s in labels]
                       + (["offset"] if offset else []))
    c = model.coefficients(x)
    assert X.shape == (len(adsorbate_dataset), len(c))
    np.testing.assert_allclose(X @ c, model.energies(x), rtol=1e-12)
    np.testing.assert_allclose(model.from_coefficients(c), model.spec.full(x), rtol=1e-12)
    assert model.linear


def test_design_matrix_with_fixed_offset(adsorbate_dataset):
    """A fixed offset is no column: X c + offset = E."""
    model = LJModel(adsorbate_dataset, scope="per-pair", offset=True)
    model = model.with_spec(random_spec(model, np.random.default_rng(9))
                            .with_fixed({"offset": 0.7}))
    X, columns = model.design_matrix()
    assert "offset" not in columns
    np.testing.assert_allclose(X @ model.coefficients() + 0.7, model.energies(), rtol=1e-12)


def test_design_matrix_refuses_nonlinear_models(adsorbate_dataset):
    elem = LJModel(adsorbate_dataset, scope="per-element")
    assert not elem.linear
    with pytest.raises(FitError, match="per-element"):
        elem.design_matrix()
    pair = LJModel(adsorbate_dataset, scope="per-pair")
    fixed = pair.with_spec(pair.spec.with_fixed({"sigma[Au-H]": 2.7}))
    assert not fixed.linear
    with pytest.raises(FitError, match="fixed"):
        fixed.design_matrix()


def test_from_coefficients_nonpositive_gives_nan(adsorbate_dataset):
    model = LJModel(adsorbate_dataset, scope="per-pair")
    c = model.coefficients()
    c[0] = -c[0]  # Cn[Au-C] < 0
    p = dict(zip(model.spec.names, model.from_coefficients(c)))
    assert np.isnan(p["epsilon[Au-C]"]) and np.isnan(p["sigma[Au-C]"])
    assert np.isfinite(p["epsilon[Au-H]"])


# --------------------------------------------------------------------------------------
# purity, mixing equivalences, subsets
# --------------------------------------------------------------------------------------


def test_energies_are_pure(adsorbate_dataset):
    model = LJModel(adsorbate_dataset, scope="per-element", offset=True)
    spec_before = model.spec.values.copy()
    sn_before = model.features.sn.copy()
    x = random_spec(model, np.random.default_rng(4)).x0
    x_before = x.copy()
    e1, j1 = model.energies(x), model.jacobian(x)
    e_default = model.energies()
    e2, j2 = model.energies(x), model.jacobian(x)
    np.testing.assert_array_equal(e1, e2)
    np.testing.assert_array_equal(j1, j2)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(model.spec.values, spec_before)
    np.testing.assert_array_equal(model.features.sn, sn_before)
    np.testing.assert_array_equal(model.energies(), e_default)
    assert not np.allclose(e1, e_default)
    # a name → value dict means the same as the vector
    np.testing.assert_array_equal(model.energies(dict(zip(model.spec.free_names, x))), e1)


def test_per_element_like_pair_equals_per_pair(argon_clusters):
    eps, sig = 0.012, 3.35
    pair = LJModel(argon_clusters, scope="per-pair").energies(
        {"epsilon[Ar-Ar]": eps, "sigma[Ar-Ar]": sig})
    for mixing in ("lorentz-berthelot", "geometric"):
        elem = LJModel(argon_clusters, scope="per-element", mixing=mixing).energies(
            {"epsilon[Ar]": eps, "sigma[Ar]": sig})
        np.testing.assert_allclose(elem, pair, rtol=1e-13)


@pytest.mark.parametrize("mixing", ["lorentz-berthelot", "geometric"])
def test_per_element_equals_per_pair_with_mixed_values(cluster_dataset, mixing):
    (ea, sa), (eb, sb) = ARKR_ELEMENT_PARAMS["Ar"], ARKR_ELEMENT_PARAMS["Kr"]
    s_ab = 0.5 * (sa + sb) if mixing == "lorentz-berthelot" else np.sqrt(sa * sb)
    pair_values = params_to_values({"Ar-Ar": (ea, sa), "Kr-Kr": (eb, sb),
                                    "Ar-Kr": (np.sqrt(ea * eb), s_ab)})
    pair = LJModel(cluster_dataset, scope="per-pair").energies(pair_values)
    elem = LJModel(cluster_dataset, scope="per-element", mixing=mixing).energies(
        params_to_values(ARKR_ELEMENT_PARAMS))
    np.testing.assert_allclose(elem, pair, rtol=1e-12)
    if mixing == "lorentz-berthelot":  # the builder's truth is LB-mixed
        np.testing.assert_allclose(elem, cluster_dataset.energies, rtol=1e-10)
    else:  # and geometric mixing gives a different answer
        assert not np.allclose(elem, cluster_dataset.energies, rtol=1e-4)


def test_take_and_with_spec(cluster_dataset):
    model = LJModel(cluster_dataset, scope="per-element", offset=True, cutoff=7.0)
    spec = random_spec(model, np.random.default_rng(5), fixed=True)
    other = model.with_spec(spec)
    assert other.features is model.features
    assert (other.scope, other.mixing, other.offset) == (model.scope, model.mixing, True)
    np.testing.assert_array_equal(other.energies(), model.energies(spec.as_dict()))
    idx = [3, 0, 3, 6]
    sub = other.take(idx)
    assert sub.n_structures == 4 and sub.spec.names == other.spec.names
    np.testing.assert_allclose(sub.energies(), other.energies()[idx], rtol=1e-12)
    np.testing.assert_allclose(sub.jacobian(), other.jacobian()[idx], rtol=1e-12)
    # the same as a model built from the subset of structures
    direct = LJModel(cluster_dataset.subset(idx), scope="per-element", offset=True, cutoff=7.0,
                     spec=spec)
    np.testing.assert_allclose(direct.energies(), sub.energies(), rtol=1e-12)


def test_spec_order_does_not_matter(adsorbate_dataset):
    model = LJModel(adsorbate_dataset, scope="per-pair", offset=True)
    spec = random_spec(model, np.random.default_rng(6))
    shuffled = ParamSpec(list(spec)[::-1])
    other = LJModel(adsorbate_dataset, scope="per-pair", offset=True, spec=shuffled)
    assert other.spec.names == model.spec.names
    np.testing.assert_allclose(other.energies(), model.with_spec(spec).energies(), rtol=1e-15)


def test_spec_must_match_the_model(adsorbate_dataset):
    model = LJModel(adsorbate_dataset, scope="per-pair")
    per_site = LJModel(adsorbate_dataset, scope="per-site")
    with pytest.raises(FitError, match=r"missing.*epsilon\[Au-C\]"):
        model.with_spec(per_site.spec)


def test_per_site_warns_when_sites_change_element(slab_dataset):
    # CH3OH, H2O, CO2: site 0 is C or O, sites 1 and 2 are H or O
    with pytest.warns(UserWarning, match="0: C/O; 1: H/O; 2: H/O"):
        LJModel(slab_dataset, scope="per-site", cutoff=7.0)


def test_default_spec(adsorbate_dataset):
    model = LJModel(adsorbate_dataset, scope="per-element", offset=True)
    assert model.spec.names == ["epsilon[Au]", "epsilon[C]", "epsilon[H]", "epsilon[O]",
                                "sigma[Au]", "sigma[C]", "sigma[H]", "sigma[O]", "offset"]
    site = LJModel(adsorbate_dataset, scope="per-site")
    assert site.spec.names == [f"epsilon[{k}]" for k in range(6)] + [f"sigma[{k}]"
                                                                     for k in range(6)]


def test_model_errors(cluster_dataset, adsorbate_dataset):
    with pytest.raises(FitError, match="per-site"):
        LJModel(cluster_dataset, scope="per-site")
    with pytest.raises(FitError, match="site"):
        LJModel(compute_features(adsorbate_dataset, kind="pair"), scope="per-site")
    with pytest.raises(FitError, match="scope"):
        LJModel(cluster_dataset, scope="per-molecule")
    with pytest.raises(FitError, match="Dataset"):
        LJModel([1, 2, 3])


@pytest.mark.parametrize("periodic", [pytest.param(False, id="cluster"),
                                      pytest.param(True, id="periodic-box")])
def test_no_pairs_inside_cutoff_is_an_error(cluster_dataset, periodic):
    box = dict(cell=np.eye(3) * 100.0, pbc=True) if periodic else {}
    ds = Dataset([Structure(s.name, s.symbols, s.positions, **box) for s in cluster_dataset])
    with pytest.raises(FitError, match="no interacting pairs"):
        LJModel(ds, cutoff=1.0)


def test_model_from_features_equals_model_from_dataset(adsorbate_dataset):
    f = compute_features(adsorbate_dataset, kind="site", cutoff=6.0, shift=True)
    a = LJModel(f, scope="per-site")
    b = LJModel(adsorbate_dataset, scope="per-site", cutoff=6.0, shift=True)
    x = random_spec(a, np.random.default_rng(2)).x0
    np.testing.assert_allclose(a.energies(x), b.energies(x), rtol=1e-14)
