"""The results folder writer (ljfit.report): best method, tables, JSON documents, LAMMPS
input, the staged (atomic) folder, and the report text."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from ljfit import LJCalculator, LJModel, fit  # noqa: E402
from ljfit.errors import DataError  # noqa: E402
from ljfit.report import (  # noqa: E402
    FILES,
    FitRun,
    best_method,
    calculator_groups,
    atom_types,
    check_output_dir,
    interaction_reach,
    lammps_cutoff,
    lammps_data,
    lammps_export,
    markdown_report,
    metrics_document,
    params_document,
    pair_lmp,
    parameters_frame,
    predictions_frame,
    staged_folder,
    summary_text,
    to_json,
    write_results,
)


@pytest.fixture(scope="module")
def run(request):
    ds = request.getfixturevalue("adsorbate_dataset")
    model = LJModel(ds, scope="per-pair")
    results = {m: fit(model, ds, m) for m in ("linear", "least_squares")}
    return FitRun(ds, model, results, read_options={"groups": "auto"},
                  fit_options={"seed": 0})


# ---------------------------------------------------------------------------------------
# best method
# ---------------------------------------------------------------------------------------


def test_best_method_lowest_cost_ties_to_first(run):
    lin, ls = run.results["linear"], run.results["least_squares"]
    # equal costs up to round-off: the earlier method wins
    assert best_method({"least_squares": ls, "linear": lin}) == "least_squares"
    assert best_method({"linear": lin, "least_squares": ls}) == "linear"
    worse = replace(ls, cost=lin.cost + 1e-6)
    assert best_method({"least_squares": worse, "linear": lin}) == "linear"


def test_best_method_skips_failed_and_undefined(run):
    lin, ls = run.results["linear"], run.results["least_squares"]
    failed = replace(lin, cost=0.0, success=False)
    undefined = replace(lin, cost=0.0, x=np.full_like(lin.x, np.nan))
    assert best_method({"a": failed, "b": undefined, "c": ls}) == "c"
    assert best_method({"a": failed, "b": undefined}) is None


# ---------------------------------------------------------------------------------------
# documents
# ---------------------------------------------------------------------------------------


def test_calculator_groups(adsorbate_dataset, cluster_dataset):
    from ljfit.dataset import Dataset

    seed_like = Dataset(list(adsorbate_dataset), group_mode="seed")
    assert calculator_groups(seed_like) == "first:6"  # CH3OH: 6 atoms in group A
    assert calculator_groups(cluster_dataset) == "all"


def test_parameters_frame_columns_and_empty_stderr_for_fixed(adsorbate_dataset):
    model = LJModel(adsorbate_dataset)
    model = model.with_spec(model.spec.with_fixed({"sigma[Au-H]": 2.7}))
    res = {"least_squares": fit(model, adsorbate_dataset, "least_squares")}
    df = parameters_frame(FitRun(adsorbate_dataset, model, res))
    assert list(df.columns) == ["method", "name", "value", "stderr", "unit"]
    assert list(df["name"]) == model.spec.names
    row = df[df["name"] == "sigma[Au-H]"].iloc[0]
    assert row["value"] == 2.7 and np.isnan(row["stderr"]) and row["unit"] == "Å"


def test_parameters_frame_bootstrap_columns(run):
    class Boot:
        names = run.model.spec.free_names
        ci_low = {n: 1.0 for n in names}
        ci_high = {n: 2.0 for n in names}

    r = replace(run, bootstrap=Boot(), bootstrap_method="linear")
    df = parameters_frame(r)
    assert list(df.columns) == ["method", "name", "value", "stderr", "unit", "ci_low", "ci_high"]
    assert (df[df.method == "linear"]["ci_low"] == 1.0).all()
    assert df[df.method == "least_squares"]["ci_low"].isna().all()


def test_predictions_frame(run):
    df = predictions_frame(run)
    assert list(df.columns) == ["structure", "reference", "linear", "least_squares"]
    assert list(df.structure) == run.dataset.names


def _csv_variants(run):
    """FitRuns whose tables hold every kind of cell: the fixture's, with bootstrap columns,
    with cross-validation columns, and fakes with names that need quoting and values that
    are missing, infinite, negative zero, tiny, huge or integral."""
    from types import SimpleNamespace

    from ljfit.dataset import Dataset

    class Boot:
        names = run.model.spec.free_names
        ci_low = {n: 1.0 for n in names}
        ci_high = {n: float("nan") for n in names}

    n = len(run.dataset)
    rng = np.random.default_rng(7)
    odd = [np.nan, np.inf, -np.inf, -0.0, 0.0, 5e-324, 1e-300, 1.7976931348623157e308, 3.0,
           -2.5e17, 1 / 3, 123456789012345680.0]
    values = np.concatenate([odd, rng.normal(size=n) * 10.0 ** rng.integers(-20, 20, n)])[:n]
    spec = run.model.spec
    fake_params = {p.name: v for p, v in zip(spec, [np.inf, -0.0, None, 1e-310, np.nan, 7.0]
                                             * len(spec))}
    fake = SimpleNamespace(params=fake_params, stderr={p.name: 1e300 for p in spec},
                           predictions=values)
    names = ["a,b", 'say "hi"', "line\nbreak", " lead", "trail ", "Å∑;semi", "=1+1\ttab",
             "cr\rx'q'"]
    renamed = Dataset([replace(st, name=f"{names[k % len(names)]}{k}")
                       for k, st in enumerate(run.dataset)], group_mode="tags")
    cv = {"linear": SimpleNamespace(predictions=values[::-1].copy())}
    return [run,
            replace(run, bootstrap=Boot(), bootstrap_method="linear"),
            replace(run, cv=cv, cv_k=3),
            replace(run, results={**run.results, "odd": fake}),
            replace(run, dataset=renamed, results={"weird,method\"": fake}, cv=cv, cv_k=2)]


def test_tables_are_written_as_pandas_writes_them(run):
    """parameters.csv and predictions.csv are formatted without pandas (its import is most
    of writing a linear fit's folder): the bytes of DataFrame.to_csv on the frames."""
    from ljfit.report.tables import _csv_text, parameters_csv, predictions_csv

    for r in _csv_variants(run):
        assert parameters_csv(r) == _csv_text(parameters_frame(r))
        assert predictions_csv(r) == _csv_text(predictions_frame(r))


def test_to_json_never_writes_nan():
    text = to_json({"a": float("nan"), "b": [np.inf, np.float64(1.5)], "c": np.arange(2),
                    "d": (np.bool_(True),)})
    assert json.loads(text) == {"a": None, "b": [None, 1.5], "c": [0, 1], "d": [True]}
    assert "NaN" not in text and "Infinity" not in text


def test_params_document_reloads_in_calculator(run, tmp_path):
    from conftest import structure_to_atoms

    doc = params_document(run)
    assert set(doc) >= {"ljfit_version", "model", "method", "parameters", "stderr"}
    assert doc["method"] == "linear"
    path = tmp_path / "params.json"
    path.write_text(to_json(doc))
    doc["model"]["groups"] = "tags"  # the in-memory dataset has no group rule; use tags
    path.write_text(to_json(doc))
    calc = LJCalculator.from_file(path)
    s = run.dataset[0]
    atoms = structure_to_atoms(s)
    atoms.calc = calc
    assert atoms.get_potential_energy() == pytest.approx(
        run.results["linear"].predictions[0], abs=1e-12)


def test_metrics_document_keys_and_json(run):
    doc = metrics_document(run)
    for key in ("dataset", "model", "n_free_parameters", "determined", "warnings",
                "best_method", "methods", "wall_time_s"):
        assert key in doc
    for m in ("linear", "least_squares"):
        assert set(doc["methods"][m]) >= {"cost", "rmse", "mae", "max_abs_error", "r2",
                                          "nfev", "wall_time_s", "success", "message"}
    json.loads(to_json(doc))


def test_underdetermined_warnings_not_hidden(adsorbate_dataset):
    ds = adsorbate_dataset.subset(range(4))  # 4 structures, 6 parameters
    model = LJModel(ds)
    run = FitRun(ds, model, {"least_squares": fit(model, ds, "least_squares")})
    doc = metrics_document(run)
    assert doc["determined"] is False
    assert any("underdetermined" in w for w in doc["warnings"])
    assert "underdetermined" in markdown_report(run)
    assert "underdetermined" in summary_text(run)


# ---------------------------------------------------------------------------------------
# LAMMPS (the text; tests/test_lammps.py runs it in the engine)
# ---------------------------------------------------------------------------------------


def _coeffs(text):
    return [ln.split("#")[0].split() for ln in text.splitlines() if ln.startswith("pair_coeff")]


def _coeff(text, i, j):
    return [c for c in _coeffs(text) if c[1:3] == [str(i), str(j)]][0]


def _brute_reach(ds):
    """Largest interacting distance by loops (the oracle of interaction_reach)."""
    best = 0.0
    for s in ds:
        for a in range(s.n_atoms):
            for b in range(a + 1, s.n_atoms):
                if s.groups is None or s.groups[a] != s.groups[b]:
                    best = max(best, float(np.linalg.norm(s.positions[a] - s.positions[b])))
    return best


def test_pair_lmp_per_pair_full_precision(run):
    values = run.results["linear"].params
    text = pair_lmp(run.model, values, run.dataset)
    # included after read_data, when units are set: no units command
    assert not any(ln.split()[:1] == ["units"] for ln in text.splitlines())
    for k, el in enumerate(["Au", "C", "H", "O"], start=1):
        assert f"#   type {k} = {el}" in text
    coeffs = _coeffs(text)
    assert coeffs[0] == ["pair_coeff", "*", "*", "0.0", "1.0"]
    # Au (1) with C (2): the fitted values, every digit
    au_c = _coeff(text, 1, 2)
    assert au_c[3] == f"{values['epsilon[Au-C]']:.17g}"
    assert float(au_c[3]) == values["epsilon[Au-C]"]
    assert float(au_c[4]) == values["sigma[Au-C]"]
    assert len(au_c[3].replace(".", "").replace("-", "").lstrip("0")) >= 16
    assert "pair_modify" not in text


def test_pair_lmp_excludes_intra_group_pairs_exactly_for_interaction_energies(
        run, cluster_dataset, fcc_dataset):
    line = "neigh_modify exclude molecule/intra all"
    text = pair_lmp(run.model, run.results["linear"].params, run.dataset)
    assert text.splitlines().count(line) == 1
    for ds, kw in ((cluster_dataset, {}), (fcc_dataset, {"cutoff": 8.5})):
        model = LJModel(ds, scope="per-element", **kw)
        assert "neigh_modify" not in pair_lmp(model, model.spec.as_dict(), ds)
        assert atom_types(model, ds).molecule_ids(ds[0]) is None


def test_pair_lmp_without_cutoff_covers_every_pair(run, cluster_dataset):
    for ds, scope in ((run.dataset, "per-pair"), (cluster_dataset, "per-element")):
        model = LJModel(ds, scope=scope)
        reach = _brute_reach(ds)
        assert interaction_reach(ds) == pytest.approx(reach, rel=1e-12)
        cut = lammps_cutoff(model, ds)
        assert cut.source == "covers" and cut.warning() is None
        assert cut.value == math.ceil(reach + 1.0) and cut.value >= reach + 1.0
        text = pair_lmp(model, model.spec.as_dict(), ds)
        assert f"pair_style lj/cut {cut.value:g}\n" in text
        assert "the fit used none" in text and f"{reach:.6g} Å" in text


def test_pair_lmp_mie_cutoff_shift_offset(adsorbate_dataset):
    model = LJModel(adsorbate_dataset, potential="mie:9:6", cutoff=7.5, shift=True, offset=True)
    values = model.spec.as_dict()
    text = pair_lmp(model, values, adsorbate_dataset)
    assert "pair_style mie/cut 7.5\n" in text
    assert "# cutoff 7.5 Å: the fit's own" in text
    lines = text.splitlines()
    # pair_modify after pair_style (it modifies the current style)
    assert lines.index("pair_modify shift yes") > lines.index("pair_style mie/cut 7.5")
    # epsilon sigma gammaR gammaA
    assert all(len(c) == 7 and c[5:] == ["9", "6"] for c in _coeffs(text))
    assert "offset" in text and "LAMMPS's pe lacks it" in text


def test_pair_lmp_per_element_mixes_every_pair(cluster_dataset):
    from conftest import ARKR_ELEMENT_PARAMS, params_to_values

    model = LJModel(cluster_dataset, scope="per-element", mixing="lorentz-berthelot")
    values = params_to_values(ARKR_ELEMENT_PARAMS)
    text = pair_lmp(model, values, cluster_dataset)
    assert [c[1:3] for c in _coeffs(text)] == [["1", "1"], ["1", "2"], ["2", "2"]]
    ar_kr = _coeff(text, 1, 2)
    (ea, sa), (ek, sk) = ARKR_ELEMENT_PARAMS["Ar"], ARKR_ELEMENT_PARAMS["Kr"]
    assert float(ar_kr[3]) == pytest.approx(np.sqrt(ea * ek), rel=1e-15)
    assert float(ar_kr[4]) == pytest.approx(0.5 * (sa + sk), rel=1e-15)


def test_pair_lmp_per_site_one_type_per_site(adsorbate_dataset):
    model = LJModel(adsorbate_dataset, scope="per-site")
    values = {n: (0.01 + 0.001 * k if n.startswith("eps") else 3.0 + 0.01 * k)
              for k, n in enumerate(model.spec.names)}
    types = atom_types(model, adsorbate_dataset)
    text = pair_lmp(model, values, adsorbate_dataset)
    n_sites = len(adsorbate_dataset[0].group_symbols(0))  # CH3OH: 6 sites
    assert types.n_sites == n_sites and types.element_type == {"Au": n_sites + 1}
    assert f"#   type {n_sites + 1} = Au (group B)" in text
    for k in range(n_sites):
        c = _coeff(text, k + 1, n_sites + 1)
        assert (float(c[3]), float(c[4])) == (values[f"epsilon[{k}]"], values[f"sigma[{k}]"])
    assert len(_coeffs(text)) == n_sites + 1  # the zero line and one per site
    # the types of a structure: site k -> k + 1, gold -> the Au type
    s = adsorbate_dataset[0]
    assert list(types.of(s)) == list(range(1, n_sites + 1)) + [n_sites + 1] * (
        s.n_atoms - n_sites)
    assert list(types.molecule_ids(s)) == [1] * n_sites + [2] * (s.n_atoms - n_sites)


def test_pair_lmp_reports_e0_and_keeps_it_out_of_pair_coeff(cluster_dataset):
    model = LJModel(cluster_dataset, scope="per-pair")
    values = model.spec.as_dict()
    plain = pair_lmp(model, values, cluster_dataset)
    text = pair_lmp(model, {**values, "e0[Ar]": -1.25, "e0[Kr]": -2.5}, cluster_dataset)
    assert _coeffs(text) == _coeffs(plain)
    assert "e0[Ar] = -1.25" in text and "e0[Kr] = -2.5" in text


def test_lammps_export_expected_pe_subtracts_offset_and_e0(cluster_dataset):
    model = LJModel(cluster_dataset, scope="per-pair", offset=True)
    res = fit(model, cluster_dataset, "linear")
    res = replace(res, params={**res.params, "e0[Ar]": -0.5})
    run_ = FitRun(cluster_dataset, model, {"linear": res})
    exp = lammps_export(run_)
    first = cluster_dataset[0]
    n_ar = first.symbols.count("Ar")
    want = res.predictions[0] - res.params["offset"] + 0.5 * n_ar
    assert exp.expected_pe == pytest.approx(want, abs=1e-12)
    script = exp.files["in.lammps"]
    assert f"LAMMPS's pe must be {want:.17g} eV" in script or \
        f"{exp.expected_pe:.17g}" in script
    assert "offset" in script and "e0" in script


def test_lammps_types_and_reach_errors_name_the_structure(cluster_dataset, fcc_dataset):
    from ljfit.dataset import Structure

    types = atom_types(LJModel(cluster_dataset), cluster_dataset)
    xe = Structure("xenon1", ["Ar", "Xe"], [[0, 0, 0], [4, 0, 0]])
    with pytest.raises(DataError, match=r"xenon1: element Xe has no LAMMPS atom type"):
        types.of(xe)
    with pytest.raises(DataError, match=r"fcc000: .*periodic"):
        interaction_reach(fcc_dataset)


def test_lammps_without_defined_parameters(run):
    text = pair_lmp(run.model, None, run.dataset)
    assert _coeffs(text) == [] and "no fit with defined parameters" in text


def test_lammps_fallback_cutoff_warns_with_measured_error(tmp_path):
    """Pairs reaching beyond MAX_AUTO_CUTOFF: the default cutoff, and a warning with the
    error it causes, computed independently here (the oracle with and without cutoff)."""
    from conftest import ARKR_PARAMS, _random_cluster, reference_energy

    from ljfit.dataset import Dataset, Structure
    from ljfit.report.lammps import MAX_AUTO_CUTOFF
    from ljfit.report.run import DEFAULT_LAMMPS_CUTOFF

    rng = np.random.default_rng(5)
    structs = []
    for k in range(12):
        # two small clusters 10-60 Å apart: the last structures reach beyond 50 Å
        near, far = _random_cluster(4, rng), _random_cluster(3, rng)
        pos = np.vstack([near, far + [10.0 + 4.5 * k, 0.0, 0.0]])
        s = Structure(f"s{k}", list(rng.choice(["Ar", "Kr"], size=7)), pos)
        structs.append(s.with_energy(reference_energy(s, ARKR_PARAMS)))
    ds = Dataset(structs, group_mode="all")
    model = LJModel(ds, scope="per-pair")
    res = fit(model, ds, "linear")
    cut = lammps_cutoff(model, ds, res.params)
    assert cut.source == "default" and cut.value == DEFAULT_LAMMPS_CUTOFF
    assert cut.reach > MAX_AUTO_CUTOFF
    params = {k: (res.params[f"epsilon[{k}]"], res.params[f"sigma[{k}]"]) for k in ARKR_PARAMS}
    delta = np.array([reference_energy(s, params, cutoff=DEFAULT_LAMMPS_CUTOFF)
                      - reference_energy(s, params) for s in ds])
    assert cut.max_error == pytest.approx(np.abs(delta).max(), rel=1e-9)
    assert cut.rms_error == pytest.approx(np.sqrt(np.mean(delta**2)), rel=1e-9)
    assert cut.max_error > 1e-6  # the cross pairs at 40-60 Å are really dropped
    warning = cut.warning()
    assert f"{cut.max_error:.3g} eV" in warning and "--cutoff" in warning
    # the warning reaches the pair.lmp comment, metrics.json, report.md and the console
    run_ = FitRun(ds, model, {"linear": res})
    out = write_results(run_, tmp_path / "res", plots=False)
    assert "WARNING" in (out / "pair.lmp").read_text()
    assert "pair_style lj/cut 10\n" in (out / "pair.lmp").read_text()
    assert warning in json.loads((out / "metrics.json").read_text())["warnings"]
    assert warning in (out / "report.md").read_text()
    assert warning in summary_text(run_)


def test_lammps_data_keeps_geometry(run, fcc_dataset, slab_dataset, tmp_path):
    """structure.data read back by ase: the same distances (clusters) or the same lattice
    and fractional differences (periodic cells); atoms at least the cutoff inside
    non-periodic faces; types and molecule IDs as pair.lmp numbers them."""
    from ase.io import read

    from ljfit.features import pair_list

    cases = [(run.dataset, run.model, "full"),
             (fcc_dataset, LJModel(fcc_dataset, cutoff=8.5), "atomic"),
             (slab_dataset, LJModel(slab_dataset, cutoff=7.0), "full")]
    for ds, model, style in cases:
        s = ds[0]
        types = atom_types(model, ds)
        rc = lammps_cutoff(model, ds).value
        path = tmp_path / f"{ds.name}.data"
        path.write_text(lammps_data(s, types, rc))
        atoms = read(path, format="lammps-data", atom_style=style, units="metal")
        assert len(atoms) == s.n_atoms
        assert list(atoms.get_array("type")) == list(types.of(s))
        atoms.pbc = s.pbc  # a data file has no boundary (in.lammps sets it)
        if style == "full":
            assert list(atoms.get_array("mol-id")) == list(types.molecule_ids(s))
        # every interacting pair at the same distance (periodic images included)
        _, _, v0, _ = pair_list(s.positions, cell=s.cell, pbc=s.pbc, groups=s.groups,
                                cutoff=rc if s.periodic else None)
        _, _, v1, _ = pair_list(atoms.positions, cell=atoms.cell.array, pbc=atoms.pbc,
                                groups=s.groups, cutoff=rc if s.periodic else None)
        np.testing.assert_allclose(np.sort(np.linalg.norm(v1, axis=1)),
                                   np.sort(np.linalg.norm(v0, axis=1)), rtol=0, atol=1e-10)
        if np.all(s.pbc):
            np.testing.assert_allclose(atoms.cell.cellpar(), s_cellpar(s), atol=1e-10)
        frac = atoms.get_scaled_positions(wrap=False)
        heights = atoms.cell.volume / np.linalg.norm(
            np.cross(atoms.cell[[1, 2, 0]], atoms.cell[[2, 0, 1]]), axis=1)
        for k in np.flatnonzero(~np.asarray(s.pbc)):
            assert frac[:, k].min() * heights[k] > rc and (1 - frac[:, k].max()) * heights[k] > rc


def _ase_lammps_data(structure, types, cutoff):
    """structure.data as ljfit wrote it through ase.io.lammpsdata.write_lammps_data (the
    reference of :func:`lammps_data`, which writes the same lines without importing
    ase.io)."""
    import io

    from ase import Atoms
    from ase.calculators.lammps import Prism
    from ase.io.lammpsdata import write_lammps_data

    from ljfit import __version__
    from ljfit.report.lammps import BOX_MARGIN, _lammps_cell

    pos, cell = _lammps_cell(structure, float(cutoff) + BOX_MARGIN)
    atoms = Atoms(list(structure.symbols), positions=pos, cell=cell, pbc=structure.pbc)
    atoms.set_array("type", types.of(structure))
    mol = types.molecule_ids(structure)
    if mol is not None:
        atoms.set_array("mol-id", mol)
    prism = Prism(cell, pbc=structure.pbc)
    tilt = np.asarray(prism.get_lammps_prism())[3:]
    buf = io.StringIO()
    write_lammps_data(buf, atoms, specorder=list(types.symbols), masses=True, units="metal",
                      atom_style="full" if mol is not None else "atomic", prismobj=prism,
                      force_skew=bool(np.any(tilt != 0.0)))
    text = buf.getvalue()
    first = f"LAMMPS data file written by ljfit {__version__}: {structure.name}"
    return first + text[text.index("\n"):]


@pytest.mark.filterwarnings("ignore:per-site scope, but these sites")
@pytest.mark.parametrize("scope", ["per-pair", "per-site"])
def test_lammps_data_is_what_ase_writes(scope, run, fcc_dataset, slab_dataset,
                                        adsorbate_dataset, cluster_dataset):
    """Byte for byte the file of ase.io.lammpsdata.write_lammps_data: orthogonal and
    strained (tilted) periodic cells, a 4-atom cell, slabs, clusters; atomic and full atom
    styles, per-site types (an element several times in the type list), a type whose
    element the structure lacks."""
    from conftest import make_fcc_argon_dataset

    small = make_fcc_argon_dataset(2, np.random.default_rng(5), repeat=1)
    cases = [(run.dataset, 10.0), (fcc_dataset, 8.5), (slab_dataset, 7.0),
             (adsorbate_dataset, 12.0), (cluster_dataset, 9.0), (small, 6.0)]
    for ds, rc in cases:
        if scope == "per-site" and not ds.interaction:
            continue
        model = LJModel(ds, scope=scope, cutoff=rc if ds[0].periodic else None)
        types = atom_types(model, ds)
        for s in ds:
            assert lammps_data(s, types, rc) == _ase_lammps_data(s, types, rc), s.name


def s_cellpar(s):
    from ase.geometry import cell_to_cellpar

    return cell_to_cellpar(np.asarray(s.cell))


# ---------------------------------------------------------------------------------------
# the folder
# ---------------------------------------------------------------------------------------


def test_check_output_dir(tmp_path):
    check_output_dir(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    check_output_dir(tmp_path / "empty")
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("keep")
    with pytest.raises(DataError, match="not empty"):
        check_output_dir(full)
    check_output_dir(full, force=True)
    with pytest.raises(DataError, match="refusing"):
        check_output_dir(full, force=True, protect=[full / "x"])
    (tmp_path / "file").write_text("")
    with pytest.raises(DataError, match="not a folder"):
        check_output_dir(tmp_path / "file")


def test_staged_folder_exception_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        with staged_folder(out) as tmp:
            (tmp / "half.csv").write_text("x")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_staged_folder_force_replaces_and_failure_keeps_old(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with staged_folder(out, force=True) as tmp:
            (tmp / "new.txt").write_text("new")
            raise RuntimeError("boom")
    assert (out / "old.txt").read_text() == "old"
    with staged_folder(out, force=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_write_results_without_plots(run, tmp_path):
    out = write_results(run, tmp_path / "res", plots=False)
    names = {p.name for p in out.iterdir()}
    assert names == {"parameters.csv", "params.json", "predictions.csv", "metrics.json",
                     "pair.lmp", "in.lammps", "structure.data", "report.md"}
    assert names <= set(FILES)
    df = pd.read_csv(out / "parameters.csv")
    assert len(df) == 2 * len(run.model.spec)
    assert "![" not in (out / "report.md").read_text()


# ---------------------------------------------------------------------------------------
# labels: one status everywhere
# ---------------------------------------------------------------------------------------


def test_poor_fit_labelled_in_console_metrics_and_report(adsorbate_dataset):
    """R² < 0 (energies LJ cannot follow) is "poor fit" in every output, with the hint."""
    from ljfit.dataset import Dataset

    y = 0.05 + 0.002 * np.random.default_rng(1).normal(size=len(adsorbate_dataset))
    ds = Dataset([s.with_energy(e) for s, e in zip(adsorbate_dataset, y)])
    model = LJModel(ds)
    run = FitRun(ds, model, {"least_squares": fit(model, ds, "least_squares")})
    doc = metrics_document(run)
    assert doc["status"] == "poor fit" and doc["methods"]["least_squares"]["status"] == \
        "poor fit"
    text = summary_text(run)
    row = [ln for ln in text.splitlines() if ln.startswith("least_squares")][0]
    # every flag that applies, the most severe first (here also underdetermined: ε[Au-C]
    # goes to ~0 at this best constant-ish fit)
    assert row.endswith("  <- best") and row.split()[4] == "poor"
    assert "check the reference energies" in text
    assert "**poor fit" in markdown_report(run)


@pytest.mark.parametrize("fixture, words", [
    ("adsorbate_dataset", "interaction energies between group A and group B: only A–B pairs "
                          "count"),
    ("cluster_dataset", "total energies: every pair counts"),
])
def test_console_states_the_energy_mode(request, fixture, words):
    ds = request.getfixturevalue(fixture)
    model = LJModel(ds)
    run = FitRun(ds, model, {"linear": fit(model, ds, "linear")})
    assert words in summary_text(run).splitlines()[1]  # the observables line


def test_priors_and_bounds_reported(run):
    ds, model = run.dataset, run.model
    bounded = model.with_spec(model.spec.with_bounds({"sigma[Au-O]": (3.05, 6.0)}))
    priors = {"sigma[Au-C]": (3.2, 0.05)}
    res = fit(bounded, ds, "least_squares", priors=priors)
    assert res.at_bound == {"sigma[Au-O]": "lower"}
    r = FitRun(ds, bounded, {"least_squares": res}, fit_options={"seed": 0, "priors": priors})
    doc = params_document(r)
    assert doc["priors"] == {"sigma[Au-C]": [3.2, 0.05]}
    assert doc["at_bound"] == {"sigma[Au-O]": "lower"} and doc["stderr"]["sigma[Au-O]"] is None
    md = markdown_report(r)
    assert "sigma[Au-C] = 3.2 ± 0.05 Å" in md and "at lower bound" in md
    text = summary_text(r)
    assert "priors: sigma[Au-C] = 3.2 ± 0.05 Å" in text and "(at lower bound)" in text
