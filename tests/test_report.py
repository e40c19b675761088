"""The results folder writer (ljfit.report): best method, tables, JSON documents, LAMMPS
input, the staged (atomic) folder, and the report text."""

from __future__ import annotations

import json
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
    check_output_dir,
    lammps_input,
    markdown_report,
    metrics_document,
    params_document,
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
# LAMMPS
# ---------------------------------------------------------------------------------------


def _coeffs(text):
    return [ln.split("#")[0].split() for ln in text.splitlines() if ln.startswith("pair_coeff")]


def test_lammps_per_pair(run):
    values = run.results["linear"].params
    text = lammps_input(run.model, values, run.dataset)
    assert "units metal" in text
    assert "pair_style lj/cut 10" in text
    assert "#   type 1 = Au" in text
    coeffs = _coeffs(text)
    assert coeffs[0] == ["pair_coeff", "*", "*", "0.0", "1.0"]
    # Au (1) with C (2): the fitted Au-C values
    au_c = [c for c in coeffs if c[1:3] == ["1", "2"]][0]
    assert float(au_c[3]) == pytest.approx(values["epsilon[Au-C]"], rel=1e-9)
    assert float(au_c[4]) == pytest.approx(values["sigma[Au-C]"], rel=1e-9)
    assert "pair_modify" not in text


def test_lammps_mie_cutoff_shift_offset(adsorbate_dataset):
    model = LJModel(adsorbate_dataset, potential="mie:9:6", cutoff=7.5, shift=True, offset=True)
    values = model.spec.as_dict()
    text = lammps_input(model, values, adsorbate_dataset)
    assert "pair_style mie/cut 7.5" in text
    assert "pair_modify shift yes" in text
    assert all(len(c) == 7 and c[5:] == ["9", "6"] for c in _coeffs(text))
    assert "offset" in text


def test_lammps_per_element_mixes_every_pair(cluster_dataset):
    model = LJModel(cluster_dataset, scope="per-element")
    values = model.spec.as_dict()
    coeffs = _coeffs(lammps_input(model, values, cluster_dataset))
    assert [c[1:3] for c in coeffs] == [["1", "1"], ["1", "2"], ["2", "2"]]


def test_lammps_per_site_explains_types(adsorbate_dataset):
    model = LJModel(adsorbate_dataset, scope="per-site")
    text = lammps_input(model, model.spec.as_dict(), adsorbate_dataset)
    assert "one atom type per site" in text
    assert "#   site 0:" in text
    assert "Au (group B)" in text


def test_lammps_without_defined_parameters(run):
    text = lammps_input(run.model, None, run.dataset)
    assert "pair_coeff" not in text.replace("no pair_coeff", "")


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
                     "lammps.in", "report.md"}
    assert names <= set(FILES)
    df = pd.read_csv(out / "parameters.csv")
    assert len(df) == 2 * len(run.model.spec)
    assert "![" not in (out / "report.md").read_text()
