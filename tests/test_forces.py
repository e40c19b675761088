"""Forces and stress in the model and the fit (issue #9).

Physics: the model's force and stress rows against ljfit's ASE calculator, ASE's own
LennardJones and finite differences of the model's energy. Fitting: exact recovery of ε, σ
and per-element reference energies from noise-free energies, forces and stress; calibrated
χ² and standard errors under known noise; forces decorrelating ε and σ. Command line:
interaction energies refuse the file's forces; malformed arrays are one line naming file
and frame.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.lj import LennardJones
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from conftest import (
    ADSORBATE_PARAMS,
    ARGON,
    make_adsorbate_dataset,
    make_cluster_dataset,
    make_fcc_argon_dataset,
    params_to_values,
    structure_to_atoms,
)

import ljfit
from ljfit import DataError, Dataset, FitError, LJCalculator, LJModel, Structure
from ljfit.cli import main
from ljfit.fitting import Problem, Sigmas, Targets, fit_problem
from ljfit.observe import plan

ARKR = {"Ar": (0.0104, 3.40), "Kr": (0.0140, 3.65)}
E0 = {"Ar": -0.0421, "Kr": -0.0583}  # made-up reference energies per atom, eV


# --------------------------------------------------------------------------------------
# builders
# --------------------------------------------------------------------------------------


def _cells(n, rng, sizes=(1, 2), kr_fraction=(0.0, 0.6), a=5.6, strain=0.02,
           rattle=0.1):
    """Periodic fcc-like Ar/Kr cells of different sizes and compositions."""
    from ase.build import bulk

    out = []
    for k in range(n):
        rep = (1, 1, int(rng.choice(sizes)))
        atoms = bulk("Ar", "fcc", a=a, cubic=True).repeat(rep)
        n_kr = int(round(rng.uniform(*kr_fraction) * len(atoms)))
        symbols = ["Kr"] * n_kr + ["Ar"] * (len(atoms) - n_kr)
        rng.shuffle(symbols)
        atoms.set_chemical_symbols(symbols)
        atoms.set_cell(atoms.cell.array @ (np.eye(3) + rng.uniform(-strain, strain, (3, 3))),
                       scale_atoms=True)
        atoms.positions += rng.normal(scale=rattle, size=atoms.positions.shape)
        out.append(atoms)
    return out


def _labelled(frames, values, *, scope="per-pair", cutoff=6.0, shift=True, e0=None,
              noise_e=0.0, noise_f=0.0, noise_s=0.0, rng=None):
    """Structures with energies, forces and stress from ljfit's calculator (+ e0, noise)."""
    calc_values = dict(values)
    if e0:
        calc_values.update({f"e0[{e}]": v for e, v in e0.items()})
    calc = LJCalculator(calc_values, scope=scope, cutoff=cutoff, shift=shift)
    rng = rng or np.random.default_rng(0)
    out = []
    for k, atoms in enumerate(frames):
        a = atoms.copy()
        a.calc = calc
        e = a.get_potential_energy() + noise_e * rng.normal()
        f = a.get_forces() + noise_f * rng.normal(size=(len(a), 3))
        s = a.get_stress() + noise_s * rng.normal(size=6)
        out.append(Structure(f"c{k}", a.get_chemical_symbols(), a.positions, e, cell=a.cell,
                             pbc=a.pbc, forces=f, stress=s))
    return Dataset(out, group_mode="all")


def _pair_values(elements):
    """Per-pair values of Lorentz–Berthelot mixed per-element parameters."""
    out = {}
    els = sorted(elements)
    for i, a in enumerate(els):
        for b in els[i:]:
            ea, sa = elements[a]
            eb, sb = elements[b]
            out[f"epsilon[{a}-{b}]"] = float(np.sqrt(ea * eb))
            out[f"sigma[{a}-{b}]"] = 0.5 * (sa + sb)
    return out


# --------------------------------------------------------------------------------------
# physics: the model's forces and stress
# --------------------------------------------------------------------------------------


def _model_forces_stress(ds, values, **kw):
    model = LJModel(ds, forces=np.ones(len(ds), bool),
                    stress=np.array([s.periodic for s in ds]), **kw)
    spec = model.spec.with_values({n: v for n, v in values.items() if n in model.spec})
    model = model.with_spec(spec)
    f = model.forces()
    s = model.stress()
    return model, f, s


CASES = [
    pytest.param("cluster", "lj", None, False, id="cluster-lj"),
    pytest.param("cluster", "lj", 7.0, True, id="cluster-lj-cut-shift"),
    pytest.param("cluster", "mie:9:6", 7.0, False, id="cluster-mie96-cut"),
    pytest.param("fcc", "lj", 8.5, False, id="fcc-lj-cut"),
    pytest.param("fcc", "lj", 6.5, True, id="fcc-lj-cut-shift"),
    pytest.param("fcc", "mie:10:5", 6.5, True, id="fcc-mie105-cut-shift"),
    pytest.param("fcc4", "lj", 9.0, True, id="fcc4-self-images"),
    pytest.param("adsorbate", "lj", None, False, id="adsorbate-interaction"),
]


def _case(which):
    rng = np.random.default_rng(5)
    if which == "cluster":
        return make_cluster_dataset(3, rng), {"Ar-Ar": (0.0104, 3.4), "Ar-Kr": (0.012, 3.5),
                                              "Kr-Kr": (0.014, 3.65)}
    if which == "fcc":
        return make_fcc_argon_dataset(2, rng, cutoff=8.5), {"Ar-Ar": ARGON}
    if which == "fcc4":
        return make_fcc_argon_dataset(2, rng, repeat=1, cutoff=9.0), {"Ar-Ar": ARGON}
    return make_adsorbate_dataset(2, rng), ADSORBATE_PARAMS


@pytest.mark.parametrize("which, potential, cutoff, shift", CASES)
def test_model_forces_and_stress_equal_the_calculator(which, potential, cutoff, shift):
    ds, params = _case(which)
    values = params_to_values(params)
    _, f, s = _model_forces_stress(ds, values, potential=potential, cutoff=cutoff, shift=shift)
    groups = "tags" if ds.interaction else "all"
    calc = LJCalculator(values, potential=potential, cutoff=cutoff, shift=shift, groups=groups)
    ref_f, ref_s = [], []
    for st in ds:
        atoms = structure_to_atoms(st)
        atoms.calc = calc
        ref_f.append(atoms.get_forces().ravel())
        if st.periodic:
            ref_s.append(atoms.get_stress())
    ref_f = np.concatenate(ref_f)
    scale = np.abs(ref_f).max()
    np.testing.assert_allclose(f, ref_f, rtol=0, atol=1e-10 * scale)
    if ref_s:
        ref_s = np.concatenate(ref_s)
        np.testing.assert_allclose(s, ref_s, rtol=0, atol=1e-10 * np.abs(ref_s).max())


@pytest.mark.parametrize("periodic", [pytest.param(False, id="cluster"),
                                      pytest.param(True, id="periodic")])
@pytest.mark.parametrize("shift", [pytest.param(False, id="unshifted"),
                                   pytest.param(True, id="shifted")])
def test_model_equals_ase_lennard_jones(periodic, shift):
    """Single element, as ASE's LennardJones defines it (smooth=False: its energy is shifted
    at rc, which does not change forces and stress)."""
    rng = np.random.default_rng(8)
    if periodic:
        ds = make_fcc_argon_dataset(2, rng, cutoff=6.0)
    else:
        ds = make_cluster_dataset(3, rng, elements=("Ar",))
    rc = 6.0
    values = {"epsilon[Ar-Ar]": ARGON[0], "sigma[Ar-Ar]": ARGON[1]}
    model, f, s = _model_forces_stress(ds, values, cutoff=rc, shift=shift)
    ase_lj = LennardJones(epsilon=ARGON[0], sigma=ARGON[1], rc=rc, smooth=False)
    ref_e, ref_f, ref_s = [], [], []
    for st in ds:
        atoms = structure_to_atoms(st)
        atoms.calc = ase_lj
        ref_e.append(atoms.get_potential_energy())
        ref_f.append(atoms.get_forces().ravel())
        if periodic:
            ref_s.append(atoms.get_stress())
    np.testing.assert_allclose(f, np.concatenate(ref_f), rtol=0,
                               atol=1e-10 * np.abs(np.concatenate(ref_f)).max())
    if periodic:
        np.testing.assert_allclose(s, np.concatenate(ref_s), rtol=0,
                                   atol=1e-10 * np.abs(np.concatenate(ref_s)).max())
    if shift:  # ASE shifts the pair energy at rc: the energies agree too
        np.testing.assert_allclose(model.energies(), ref_e, rtol=1e-10)


def _energy(st, values, **kw):
    model = LJModel(Dataset([st]), **kw)
    return model.energies({n: v for n, v in values.items() if n in model.spec})[0]


@pytest.mark.parametrize("which, potential, cutoff, shift", [
    c for c in CASES if c.id in ("cluster-lj", "cluster-mie96-cut", "fcc-lj-cut-shift",
                                 "fcc-mie105-cut-shift", "adsorbate-interaction")])
def test_model_forces_and_stress_are_derivatives_of_its_energy(which, potential, cutoff,
                                                                shift):
    ds, params = _case(which)
    st = ds[0]
    values = params_to_values(params)
    kw = dict(potential=potential, cutoff=cutoff, shift=shift)
    _, f, s = _model_forces_stress(Dataset([st]), values, **kw)
    h = 1e-5
    fd = np.zeros((st.n_atoms, 3))
    for i in range(st.n_atoms):
        for k in range(3):
            pos = np.array(st.positions)
            pos[i, k] += h
            ep = _energy(Structure("p", st.symbols, pos, groups=st.groups, cell=st.cell,
                                   pbc=st.pbc), values, **kw)
            pos[i, k] -= 2 * h
            em = _energy(Structure("m", st.symbols, pos, groups=st.groups, cell=st.cell,
                                   pbc=st.pbc), values, **kw)
            fd[i, k] = -(ep - em) / (2 * h)
    assert np.linalg.norm(f - fd.ravel()) <= 1e-7 * np.linalg.norm(fd)
    if st.periodic:
        voigt = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
        vol = st.volume
        fd_s = np.zeros(6)
        for v, (a, b) in enumerate(voigt):
            e = np.zeros((3, 3))
            e[a, b] = e[b, a] = 1e-6 if a != b else 1e-6
            if a != b:
                e *= 0.5
            out = []
            for sign in (1, -1):
                m = np.eye(3) + sign * e
                out.append(_energy(Structure("s", st.symbols, st.positions @ m,
                                             groups=st.groups, cell=st.cell @ m, pbc=st.pbc),
                                   values, **kw))
            fd_s[v] = (out[0] - out[1]) / (2e-6) / vol
        assert np.linalg.norm(s - fd_s) <= 1e-7 * np.linalg.norm(fd_s)


# --------------------------------------------------------------------------------------
# fitting: exact recovery
# --------------------------------------------------------------------------------------


def test_force_and_stress_tables_are_written_as_pandas_writes_them():
    """predictions_forces.csv / predictions_stress.csv are formatted without pandas (its
    per-number formatting was half of a fit of 4000 cells with forces): the bytes of
    DataFrame.to_csv on forces_frame / stress_frame, with names that need quoting, a
    structure with forces but no stress, and missing and infinite predictions."""
    from dataclasses import replace

    from ljfit.report import FitRun, forces_frame, stress_frame
    from ljfit.report.tables import _csv_text, rows_csv

    ds = _labelled(_frames(6), _pair_values(ARKR), e0=E0)
    names = ["a,b", 'say "hi"', "line\nbreak", " lead", "cr\rx", "Å;'q'"]
    ds = Dataset([replace(st, name=names[k], stress=None if k == 2 else st.stress)
                  for k, st in enumerate(ds)], group_mode="all")
    p = plan(ds)
    model = LJModel(ds, cutoff=6.0, shift=True, forces=p.forces, stress=p.stress,
                    reference_energies=True)
    res = ljfit.fit(model, ds, "linear", sigmas=p.sigmas)
    odd = {k: dict(v) for k, v in res.observed.items()}
    for kind in ("forces", "stress"):
        pred = np.array(odd[kind]["predictions"], dtype=float)
        pred[:4] = [np.nan, np.inf, -0.0, 5e-324]
        odd[kind]["predictions"] = pred
    runs = [FitRun(ds, model, {"linear": res}),
            FitRun(ds, model, {"linear": res, "odd,\"m": replace(res, observed=odd)})]
    for run in runs:
        for kind, frame in (("forces", forces_frame), ("stress", stress_frame)):
            text = rows_csv(run, kind)
            assert text == _csv_text(frame(run)), kind
    table = stress_frame(runs[0])  # the structure without stress has no rows
    assert len(table) == 5 * 6 and set(table["structure"]) == set(names) - {names[2]}


def _frames(n=10, seed=3):
    return _cells(n, np.random.default_rng(seed), sizes=(1, 2))


@pytest.mark.parametrize("method", ["linear", "least_squares"])
def test_noise_free_energies_forces_stress_recover_pairs_and_e0(method):
    values = _pair_values(ARKR)
    ds = _labelled(_frames(), values, e0=E0)
    p = plan(ds)
    assert p.reference_energies == "fit" and p.forces.all() and p.stress.all()
    model = LJModel(ds, cutoff=6.0, shift=True, forces=p.forces, stress=p.stress,
                    reference_energies=True)
    res = ljfit.fit(model, ds, method, sigmas=p.sigmas)
    truth = {**values, **{f"e0[{e}]": v for e, v in E0.items()}}
    for name, v in truth.items():
        assert res.params[name] == pytest.approx(v, rel=1e-8, abs=1e-12), name
    assert set(res.observed) == {"energy", "forces", "stress"}
    assert res.observed["forces"]["rmse"] < 1e-9


def test_noise_free_per_element_lorentz_berthelot_recovers_elements_and_e0():
    ds = _labelled(_frames(seed=4), _pair_values(ARKR), e0=E0)
    p = plan(ds)
    model = LJModel(ds, scope="per-element", cutoff=6.0, shift=True, forces=p.forces,
                    stress=p.stress, reference_energies=True)
    res = ljfit.fit(model, ds, "least_squares", sigmas=p.sigmas)
    for el, (eps, sig) in ARKR.items():
        assert res.params[f"epsilon[{el}]"] == pytest.approx(eps, rel=1e-6)
        assert res.params[f"sigma[{el}]"] == pytest.approx(sig, rel=1e-6)
        assert res.params[f"e0[{el}]"] == pytest.approx(E0[el], rel=1e-6)


# --------------------------------------------------------------------------------------
# statistics: chi² and standard errors with known noise
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def argon_model():
    """Ar cells (one composition: no e0) with exact E, F; the model featurised once."""
    frames = _cells(80, np.random.default_rng(11), sizes=(2,), kr_fraction=(0.0, 0.0))
    values = {"epsilon[Ar-Ar]": ARGON[0], "sigma[Ar-Ar]": ARGON[1]}
    ds = _labelled(frames, values)
    model = LJModel(ds, cutoff=6.0, shift=True, forces=True)
    exact = model.predict({"epsilon[Ar-Ar]": ARGON[0], "sigma[Ar-Ar]": ARGON[1]})
    return model, exact


SIG_E, SIG_F = 0.004, 0.02  # eV per structure, eV/Å


def _noisy_problem(model, exact, rng):
    S = model.n_structures
    sigma = np.full(len(exact), SIG_F)
    sigma[:S] = SIG_E
    y = exact + sigma * rng.normal(size=len(exact))
    return Problem(model, targets=Targets(y, sigma, np.ones(len(y))))


def test_reduced_chi2_is_one_with_matching_sigmas(argon_model):
    model, exact = argon_model
    rng = np.random.default_rng(21)
    chi = [fit_problem(_noisy_problem(model, exact, rng), "linear").reduced_chi2
           for _ in range(5)]
    assert model.n_observations >= 2000  # χ²/dof then has a spread of ~0.03
    assert all(0.9 < c < 1.1 for c in chi), chi


def test_standard_errors_cover_the_truth(argon_model):
    """±1 stderr holds the truth in 60–76 % of 300 replicas (68 % expected)."""
    model, exact = argon_model
    rng = np.random.default_rng(22)
    truth = np.array([ARGON[0], ARGON[1]])
    inside = []
    for _ in range(300):
        res = fit_problem(_noisy_problem(model, exact, rng), "linear")
        se = np.array([res.stderr[n] for n in res.names])
        inside.append(np.abs(res.x - truth) <= se)
    frac = np.mean(inside)
    assert 0.60 <= frac <= 0.76, frac


def test_forces_decorrelate_epsilon_and_sigma():
    """Energies alone of a few similar cells pin only a combination of ε and σ; their forces
    pin both: the correlation drops below 0.99 and both standard errors shrink."""
    frames = _cells(6, np.random.default_rng(31), sizes=(1,), kr_fraction=(0.0, 0.0),
                    strain=0.003, rattle=0.1)
    values = {"epsilon[Ar-Ar]": ARGON[0], "sigma[Ar-Ar]": ARGON[1]}
    ds = _labelled(frames, values, noise_e=0.002, noise_f=0.01,
                   rng=np.random.default_rng(32))
    sig = Sigmas(energy=0.002, forces=0.01)
    energies_only = ljfit.fit(LJModel(ds, cutoff=6.0, shift=True), ds, "linear", sigmas=sig)
    with_forces = ljfit.fit(LJModel(ds, cutoff=6.0, shift=True, forces=True), ds, "linear",
                            sigmas=sig)
    assert abs(energies_only.correlation[0, 1]) > 0.99
    assert abs(with_forces.correlation[0, 1]) < 0.99
    for name in ("epsilon[Ar-Ar]", "sigma[Ar-Ar]"):
        assert with_forces.stderr[name] < energies_only.stderr[name], name


# --------------------------------------------------------------------------------------
# what is fitted: interaction energies, reference energies
# --------------------------------------------------------------------------------------


def _interaction_file(tmp_path, with_forces=True):
    frames = []
    for k, sep in enumerate((3.4, 3.8, 4.3, 5.0)):
        atoms = Atoms("Ar2Kr", positions=[[0, 0, 0], [3.8, 0, 0], [1.9, sep, 0]])
        atoms.set_tags([0, 0, 1])
        kw = {"energy": -0.01 * (k + 1)}
        if with_forces:
            kw["forces"] = np.full((3, 3), 0.01 * k)
        atoms.calc = SinglePointCalculator(atoms, **kw)
        frames.append(atoms)
    path = tmp_path / "dimers.extxyz"
    write(path, frames, format="extxyz")
    return path


def _one_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_interaction_energies_refuse_the_file_forces(tmp_path, capsys):
    path = _interaction_file(tmp_path)
    code = main(["fit", str(path), "--forces", "--out", str(tmp_path / "o"), "--quiet"])
    line = _one_line(capsys.readouterr().err)
    assert code == 2 and "--forces" in line and "interaction" in line and "--force-key" in line


def test_interaction_energies_leave_forces_out_by_default_and_say_so(tmp_path, capsys):
    path = _interaction_file(tmp_path)
    out = tmp_path / "o"
    assert main(["fit", str(path), "--out", str(out), "--method", "linear",
                 "--no-plots"]) == 0
    text = capsys.readouterr().out
    assert "4 energies" in text and "force components" not in text
    assert "forces in the data not fitted" in text
    assert not (out / "predictions_forces.csv").exists()


def test_interaction_forces_under_an_explicit_key_are_fitted(tmp_path):
    path = _interaction_file(tmp_path)
    out = tmp_path / "o"
    assert main(["fit", str(path), "--force-key", "forces", "--out", str(out), "--method",
                 "linear", "--quiet", "--no-plots"]) == 0
    lines = (out / "predictions_forces.csv").read_text().splitlines()
    assert lines[0].startswith("structure,atom,element,component,reference,linear")
    assert len(lines) == 1 + 4 * 3 * 3


@pytest.mark.parametrize("edit, words", [
    pytest.param(lambda a: a.calc.results.update(forces=np.full((len(a), 3), np.nan)),
                 "NaN", id="forces-nan"),
    pytest.param(lambda a: a.info.update(virial=np.ones((3, 3)) * [[1], [2], [3]]),
                 "symmetric", id="virial-not-symmetric"),
    pytest.param(lambda a: a.calc.results.update(stress=np.full(6, np.inf)), "inf",
                 id="stress-inf"),
])
def test_malformed_forces_and_stress_exit_2_naming_file_and_frame(tmp_path, capsys, edit,
                                                                  words):
    frames = []
    for atoms in _cells(3, np.random.default_rng(2), sizes=(1,), kr_fraction=(0.0, 0.0)):
        atoms.calc = SinglePointCalculator(atoms, energy=-0.1, forces=np.zeros((len(atoms), 3)),
                                           stress=np.zeros(6))
        frames.append(atoms)
    if words == "symmetric":
        del frames[1].calc.results["stress"]
    edit(frames[1])
    path = tmp_path / "bad.extxyz"
    write(path, frames, format="extxyz")
    code = main(["fit", str(path), "--cutoff", "5", "--out", str(tmp_path / "o"), "--quiet"])
    line = _one_line(capsys.readouterr().err)
    assert code == 2 and "bad.extxyz[1]" in line and words in line, line


def test_reference_energies_of_one_composition_are_refused(tmp_path, capsys):
    frames = _cells(3, np.random.default_rng(2), sizes=(1,), kr_fraction=(0.25, 0.25))
    ds = _labelled(frames, _pair_values(ARKR))
    path = tmp_path / "same.extxyz"
    write(path, [structure_to_atoms(s) for s in ds], format="extxyz")
    with pytest.raises(FitError, match="same composition .*only .*e0\\[Ar\\]"):
        plan(ds, reference_energies="fit")
    assert plan(ds).reference_energies == "none"  # auto: nothing to tell them apart


def test_reference_energies_from_a_file_are_fixed_and_reach_the_calculator(tmp_path):
    values = _pair_values(ARKR)
    frames = _frames(8, seed=6)
    ds = _labelled(frames, values, e0=E0)
    path = tmp_path / "cells.extxyz"
    atoms = []
    for st in ds:
        a = structure_to_atoms(st)
        a.calc = SinglePointCalculator(a, energy=st.energy, forces=st.forces,
                                       stress=st.stress)
        atoms.append(a)
    write(path, atoms, format="extxyz")
    e0_file = tmp_path / "e0.csv"
    e0_file.write_text("element,e0\n" + "".join(f"{e},{v!r}\n" for e, v in E0.items()))
    out = tmp_path / "o"
    assert main(["fit", str(path), "--cutoff", "6", "--shift", "--reference-energies",
                 str(e0_file), "--method", "linear", "--out", str(out), "--quiet",
                 "--no-plots"]) == 0
    calc = LJCalculator.from_file(out / "params.json")
    for st, a in zip(ds, atoms):
        b = a.copy()
        b.calc = calc
        assert b.get_potential_energy() == pytest.approx(st.energy, rel=1e-9)
    import json

    params = json.loads((out / "params.json").read_text())["parameters"]
    assert params["e0[Ar]"] == E0["Ar"] and params["e0[Kr]"] == E0["Kr"]


def test_bad_reference_energy_files_name_the_line(tmp_path):
    bad = tmp_path / "e0.csv"
    bad.write_text("element,e0\nAr,-0.1\nKr,abc\n")
    with pytest.raises(DataError, match=r"e0.csv:3.*not a number"):
        ljfit.observe.read_reference_energies(bad)


def test_shipped_force_example_recovers_its_truth(tmp_path):
    """data/example_forces, fitted as data/README.md says, from the file to params.json:
    every parameter within 3 standard errors of the truth, the reduced χ² near 1."""
    import json
    from pathlib import Path

    folder = Path(__file__).resolve().parent.parent / "data" / "example_forces"
    out = tmp_path / "o"
    assert main(["fit", str(folder), "--cutoff", "6", "--shift", "--scope", "per-element",
                 "--force-sigma", "0.01", "--stress-sigma", "1e-5", "--method",
                 "least_squares", "--out", str(out), "--quiet", "--no-plots"]) == 0
    truth = json.loads((folder / "truth.json").read_text())["parameters"]
    doc = json.loads((out / "params.json").read_text())
    for name, value in truth.items():
        assert abs(doc["parameters"][name] - value) < 3 * doc["stderr"][name], name
    metrics = json.loads((out / "metrics.json").read_text())["methods"]["least_squares"]
    assert 0.8 < metrics["reduced_chi2"] < 1.25
    assert metrics["n_force_components"] == 432 and metrics["n_stress_components"] == 144


# --------------------------------------------------------------------------------------
# featurisation: force rows of clusters (the dense path), piece by piece
# --------------------------------------------------------------------------------------


def _cluster_force_rows(structure, cutoff, potential):
    """X^(n), X^(m) (3N,) per slot label of one cluster, by a loop over its pairs."""
    from conftest import pair_label, reference_pairs

    n, m = potential.n, potential.m
    out = {}
    i, j, d, r, w = reference_pairs(structure, cutoff)
    for a, b, dd, rr, ww in zip(i, j, d, r, w):
        fn, fm = out.setdefault(pair_label(structure, a, b),
                                (np.zeros(3 * structure.n_atoms), np.zeros(3 * structure.n_atoms)))
        for f, p in ((fn, n), (fm, m)):
            f[3 * b:3 * b + 3] += ww * p * rr ** (-p - 2) * dd
            f[3 * a:3 * a + 3] -= ww * p * rr ** (-p - 2) * dd
    return out


@pytest.mark.parametrize("piece", [pytest.param(1, id="one-structure-per-piece"),
                                   pytest.param(200, id="a-few-per-piece"),
                                   pytest.param(None, id="default-pieces")])
@pytest.mark.parametrize("which, cutoff", [pytest.param("arkr", None, id="ArKr-all-pairs"),
                                           pytest.param("arkr", 5.0, id="ArKr-cut5"),
                                           pytest.param("adsorbate", None, id="adsorbate")])
def test_cluster_force_rows_match_the_pair_loop(monkeypatch, which, cutoff, piece):
    """The dense path's force rows (one sparse product per piece of structures, both
    targets and three components at once) against a loop over the pairs, for pieces of one
    structure, of a few, and the default; structures without forces asked in between."""
    from ljfit.features import accumulate

    if piece is not None:
        monkeypatch.setattr(accumulate, "_DENSE_PIECE", piece)
    rng = np.random.default_rng(17)
    if which == "arkr":
        symbols = ["Ar", "Kr", "Ar", "Ar", "Kr", "Ar", "Kr"]
        ds = Dataset([Structure(f"k{k}", symbols, rng.uniform(0, 7, (7, 3)))
                      for k in range(6)])
    else:
        ds = make_adsorbate_dataset(6, rng)
    flags = np.array([True, True, False, True, True, True])
    f = ljfit.compute_features(ds, cutoff=cutoff, forces=flags)
    for s in np.flatnonzero(flags):
        ref = _cluster_force_rows(ds[s], cutoff, ljfit.LJ)
        rows = f.force_index([s])
        for k, lab in enumerate(f.labels):
            fn, fm = ref.get(lab, (np.zeros(len(rows)), np.zeros(len(rows))))
            for got, want in ((f.fn[rows, k], fn), (f.fm[rows, k], fm)):
                np.testing.assert_allclose(got, want, rtol=0,
                                           atol=1e-12 * max(np.abs(want).max(), 1e-300),
                                           err_msg=f"{which}, structure {s}, slot {lab}")
