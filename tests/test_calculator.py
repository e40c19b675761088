"""The ASE calculator: forces and stress by finite differences, agreement with ASE's LJ and
with the fitted model, parameter files.

Needs :func:`ljfit.io.groups_for_atoms` (groups from tags, first:N, ...).
"""

import json

import numpy as np
import pytest
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.lj import LennardJones
from conftest import (
    ADSORBATE_PARAMS,
    ARGON,
    ARKR_ELEMENT_PARAMS,
    ARKR_PARAMS,
    make_cluster_dataset,
    params_to_values,
    structure_to_atoms,
)

from ljfit.calculator import LJCalculator
from ljfit.errors import DataError, FitError
from ljfit.model import LJModel

ADS_ELEMENTS = {"Au": (0.012, 3.1), "C": (0.03, 3.3), "H": (0.005, 2.6), "O": (0.04, 3.0)}
SITE_PARAMS = {str(k): (0.01 + 0.004 * k, 2.8 + 0.1 * k) for k in range(6)}


def rel_err(a, b):
    return np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(b)


def energy_at(calc, atoms, positions=None, cell=None):
    a = atoms.copy()
    if cell is not None:
        a.set_cell(cell, scale_atoms=True)
    if positions is not None:
        a.positions = positions
    return calc.get_potential_energy(a)


def finite_difference_forces(calc, atoms, h=1e-5):
    f = np.zeros((len(atoms), 3))
    for i in range(len(atoms)):
        for k in range(3):
            p = atoms.positions.copy()
            p[i, k] += h
            ep = energy_at(calc, atoms, p)
            p[i, k] -= 2 * h
            em = energy_at(calc, atoms, p)
            f[i, k] = -(ep - em) / (2 * h)
    return f


def finite_difference_stress(calc, atoms, h=1e-6):
    """(1/V) ∂E/∂ε for symmetric strains ε, as a 3×3 tensor."""
    cell = atoms.cell.array
    out = np.zeros((3, 3))
    for a in range(3):
        for b in range(a, 3):
            e = np.zeros((3, 3))
            e[a, b] = e[b, a] = h
            scale = 0.5 if a != b else 1.0  # ε_ab = ε_ba = h/2 off the diagonal
            ep = energy_at(calc, atoms, cell=cell @ (np.eye(3) + scale * e))
            em = energy_at(calc, atoms, cell=cell @ (np.eye(3) - scale * e))
            out[a, b] = out[b, a] = (ep - em) / (2 * h) / atoms.get_volume()
    return out


CALC_CASES = [
    # dataset fixture, scope, mixing, potential, cutoff, shift, values, groups
    pytest.param("adsorbate_dataset", "per-pair", "lb", "lj", None, False,
                 params_to_values(ADSORBATE_PARAMS), "tags", id="ads-cluster-pair-tags"),
    pytest.param("adsorbate_dataset", "per-element", "lb", "mie:9:6", 6.0, True,
                 params_to_values(ADS_ELEMENTS), "first:6", id="ads-cluster-elem-mie-shift"),
    pytest.param("slab_dataset", "per-site", "lb", "lj", 7.0, True,
                 params_to_values(SITE_PARAMS), "tags", id="slab-periodic-site-shift"),
    pytest.param("slab_dataset", "per-pair", "lb", "lj", 7.0, False,
                 params_to_values(ADSORBATE_PARAMS), "tags", id="slab-periodic-pair-truncate"),
    pytest.param("cluster_dataset", "per-element", "geometric", "lj", None, False,
                 params_to_values(ARKR_ELEMENT_PARAMS), "all", id="ArKr-cluster-elem-geo"),
    pytest.param("fcc_dataset", "per-pair", "lb", "mie:14:7", 8.5, True,
                 params_to_values({"Ar-Ar": ARGON}), "all", id="fcc-periodic-mie-shift"),
]


def _calc(values, scope, mixing, potential, cutoff, shift, groups, offset=0.0):
    values = dict(values, offset=offset) if offset else values
    return LJCalculator(values, scope=scope, mixing=mixing, potential=potential, cutoff=cutoff,
                        shift=shift, groups=groups)


@pytest.mark.parametrize("which, scope, mixing, potential, cutoff, shift, values, groups",
                         CALC_CASES)
def test_forces_vs_finite_differences(request, which, scope, mixing, potential, cutoff, shift,
                                      values, groups):
    atoms = structure_to_atoms(request.getfixturevalue(which)[1])
    calc = _calc(values, scope, mixing, potential, cutoff, shift, groups, offset=0.4)
    forces = calc.get_forces(atoms)
    assert np.abs(forces).max() > 1e-3
    assert rel_err(forces, finite_difference_forces(calc, atoms)) <= 1e-6
    # Newton's third law: the forces sum to zero
    assert np.linalg.norm(forces.sum(axis=0)) <= 1e-12 * np.abs(forces).sum()


@pytest.mark.parametrize("which, scope, mixing, potential, cutoff, shift, values, groups",
                         CALC_CASES)
def test_per_atom_energies_sum_to_energy(request, which, scope, mixing, potential, cutoff,
                                         shift, values, groups):
    atoms = structure_to_atoms(request.getfixturevalue(which)[2])
    calc = _calc(values, scope, mixing, potential, cutoff, shift, groups, offset=-0.3)
    atoms.calc = calc
    e = atoms.get_potential_energy()
    per_atom = atoms.get_potential_energies()
    assert per_atom.shape == (len(atoms),)
    assert per_atom.sum() == pytest.approx(e, rel=1e-12)
    no_offset = LJCalculator(dict(values, offset=-0.3), scope=scope, mixing=mixing,
                             potential=potential, cutoff=cutoff, shift=shift, groups=groups,
                             include_offset=False)
    assert no_offset.get_potential_energy(atoms) == pytest.approx(e + 0.3, rel=1e-12)


@pytest.mark.filterwarnings("ignore:per-site scope:UserWarning")
@pytest.mark.parametrize("which, scope, mixing, potential, cutoff, shift, values, groups",
                         CALC_CASES)
def test_calculator_equals_model(request, which, scope, mixing, potential, cutoff, shift,
                                 values, groups):
    ds = request.getfixturevalue(which)
    model = LJModel(ds, scope=scope, mixing=mixing, potential=potential, cutoff=cutoff,
                    shift=shift, offset=True)
    values = dict(values, offset=0.25)
    expected = model.energies(values)
    calc = LJCalculator(values, scope=scope, mixing=mixing, potential=potential, cutoff=cutoff,
                        shift=shift, groups=groups)
    got = [calc.get_potential_energy(structure_to_atoms(s)) for s in ds]
    np.testing.assert_allclose(got, expected, rtol=1e-10)


@pytest.mark.parametrize("groups", ["tags", "first:6"])
def test_interaction_energy_is_the_binding_energy(adsorbate_dataset, groups):
    """A–B interaction = E(all pairs) − E(molecule alone) − E(substrate alone)."""
    atoms = structure_to_atoms(adsorbate_dataset[0])
    values = params_to_values(ADS_ELEMENTS)  # per-element: every pair, like pairs included
    total = LJCalculator(values, scope="per-element", groups="all")
    e_int = LJCalculator(values, scope="per-element", groups=groups).get_potential_energy(atoms)
    e_all = total.get_potential_energy(atoms)
    e_mol = total.get_potential_energy(atoms[:6])
    e_sub = total.get_potential_energy(atoms[6:])
    assert e_int == pytest.approx(e_all - e_mol - e_sub, rel=1e-10)
    assert abs(e_int) > 1e-3


def test_matches_ase_lj_cluster():
    eps, sig = ARGON
    ds = make_cluster_dataset(2, np.random.default_rng(40), elements=("Ar",), n_atoms=(9, 9))
    for s in ds:
        atoms = structure_to_atoms(s)
        ref = structure_to_atoms(s)
        ref.calc = LennardJones(epsilon=eps, sigma=sig, rc=1000.0, smooth=False)
        atoms.calc = LJCalculator({"epsilon[Ar-Ar]": eps, "sigma[Ar-Ar]": sig})
        assert atoms.get_potential_energy() == pytest.approx(ref.get_potential_energy(),
                                                             rel=1e-10)
        assert rel_err(atoms.get_forces(), ref.get_forces()) <= 1e-10
        assert rel_err(atoms.get_potential_energies(), ref.get_potential_energies()) <= 1e-10


@pytest.mark.parametrize("scope, values", [
    pytest.param("per-pair", {"epsilon[Ar-Ar]": ARGON[0], "sigma[Ar-Ar]": ARGON[1]}, id="pair"),
    pytest.param("per-element", {"epsilon[Ar]": ARGON[0], "sigma[Ar]": ARGON[1]}, id="element"),
])
def test_matches_ase_lj_periodic(fcc_dataset, scope, values):
    eps, sig = ARGON
    for s in fcc_dataset:
        atoms = structure_to_atoms(s)
        ref = structure_to_atoms(s)
        ref.calc = LennardJones(epsilon=eps, sigma=sig, rc=8.5, smooth=False)
        atoms.calc = LJCalculator(values, scope=scope, cutoff=8.5, shift=True)
        assert atoms.get_potential_energy() == pytest.approx(ref.get_potential_energy(),
                                                             rel=1e-10)
        assert rel_err(atoms.get_forces(), ref.get_forces()) <= 1e-10
        assert rel_err(atoms.get_stress(), ref.get_stress()) <= 1e-10
        assert rel_err(atoms.get_potential_energies(), ref.get_potential_energies()) <= 1e-10


def test_stress_vs_finite_differences(fcc_dataset):
    atoms = structure_to_atoms(fcc_dataset[0])
    calc = LJCalculator({"epsilon[Ar-Ar]": ARGON[0], "sigma[Ar-Ar]": ARGON[1]}, cutoff=8.5,
                        shift=True)
    atoms.calc = calc
    stress = atoms.get_stress(voigt=False)
    assert rel_err(stress, finite_difference_stress(calc, atoms)) <= 1e-6


def test_no_stress_without_a_3d_cell(adsorbate_dataset, slab_dataset):
    for s, kw in ((adsorbate_dataset[0], {}), (slab_dataset[0], {"cutoff": 7.0})):
        atoms = structure_to_atoms(s)
        atoms.calc = LJCalculator(params_to_values(ADSORBATE_PARAMS), groups="tags", **kw)
        with pytest.raises(PropertyNotImplementedError):
            atoms.get_stress()


def test_missing_parameter_names_it(adsorbate_dataset):
    atoms = structure_to_atoms(adsorbate_dataset[0])
    values = params_to_values(ADSORBATE_PARAMS)
    del values["sigma[Au-O]"]
    with pytest.raises(FitError, match=r"sigma\[Au-O\]"):
        LJCalculator(values, groups="tags").get_potential_energy(atoms)
    site = params_to_values(SITE_PARAMS)
    del site["epsilon[4]"]
    with pytest.raises(FitError, match=r"epsilon\[4\]"):
        LJCalculator(site, scope="per-site", groups="tags").get_potential_energy(atoms)
    elem = params_to_values(ADS_ELEMENTS)
    del elem["epsilon[Au]"]
    with pytest.raises(FitError, match=r"epsilon\[Au\]"):
        LJCalculator(elem, scope="per-element", groups="tags").get_potential_energy(atoms)


def test_per_site_needs_groups(adsorbate_dataset):
    atoms = structure_to_atoms(adsorbate_dataset[0])
    with pytest.raises(FitError, match="groups"):
        LJCalculator(params_to_values(SITE_PARAMS), scope="per-site",
                     groups="all").get_potential_energy(atoms)


def test_nothing_within_cutoff():
    from ase import Atoms

    atoms = Atoms("ArKr", positions=[[0, 0, 0], [0, 0, 9.0]])
    calc = LJCalculator(params_to_values(ARKR_PARAMS), cutoff=5.0)
    atoms.calc = calc
    assert atoms.get_potential_energy() == 0.0
    np.testing.assert_array_equal(atoms.get_forces(), 0.0)


def test_set_discards_cached_results(cluster_dataset):
    """calc.set(...) with a changed parameter must not return the old results."""
    atoms = structure_to_atoms(cluster_dataset[0])
    values = params_to_values(ARKR_PARAMS)
    atoms.calc = calc = LJCalculator(values)
    before = atoms.get_potential_energy()
    calc.set(values=params_to_values({k: (2 * e, s) for k, (e, s) in ARKR_PARAMS.items()}))
    assert atoms.get_potential_energy() == pytest.approx(2 * before, rel=1e-12)


def test_set_rebuilds_the_cut_kernel(cluster_dataset):
    """After calc.set(cutoff=..., shift=...) (and a reset) the calculator must equal one
    built with those settings: the shift must not be the one frozen in __init__."""
    atoms = structure_to_atoms(cluster_dataset[0])
    values = params_to_values(ARKR_PARAMS)
    calc = LJCalculator(values)
    calc.set(cutoff=5.0, shift=True)
    calc.reset()
    fresh = LJCalculator(values, cutoff=5.0, shift=True)
    assert calc.get_potential_energy(atoms) == pytest.approx(fresh.get_potential_energy(atoms),
                                                             rel=1e-12)


def _write_params(path, scope, mixing, values, cutoff=None, shift=False, groups="tags"):
    doc = {"model": {"scope": scope, "mixing": mixing, "potential": "lj", "cutoff": cutoff,
                     "shift": shift, "groups": groups},
           "parameters": values}
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("scope, mixing, values", [
    pytest.param("per-pair", None, params_to_values(ADSORBATE_PARAMS), id="per-pair"),
    pytest.param("per-element", "geometric", params_to_values(ADS_ELEMENTS), id="per-element"),
    pytest.param("per-site", None, params_to_values(SITE_PARAMS), id="per-site"),
])
def test_from_file(tmp_path, adsorbate_dataset, scope, mixing, values):
    values = dict(values, offset=0.1)
    path = _write_params(tmp_path / "params.json", scope, mixing, values)
    calc = LJCalculator.from_file(path)
    model = LJModel(adsorbate_dataset, scope=scope, mixing=mixing or "lb", offset=True)
    got = [calc.get_potential_energy(structure_to_atoms(s)) for s in adsorbate_dataset]
    np.testing.assert_allclose(got, model.energies(values), rtol=1e-10)
    # keyword overrides win over the file
    cut = LJCalculator.from_file(path, cutoff=5.0, shift=True)
    direct = LJCalculator(values, scope=scope, mixing=mixing or "lb", cutoff=5.0, shift=True,
                          groups="tags")
    atoms = structure_to_atoms(adsorbate_dataset[3])
    assert cut.get_potential_energy(atoms) == pytest.approx(direct.get_potential_energy(atoms),
                                                            rel=1e-14)
    assert cut.get_potential_energy(atoms) != pytest.approx(got[3], rel=1e-6)


def test_from_file_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        LJCalculator.from_file(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="bad.json"):
        LJCalculator.from_file(bad)
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"parameters": {}}))
    with pytest.raises(DataError, match="model"):
        LJCalculator.from_file(partial)
