"""The ljfit command line: commands, options, the results folder contract, safety (never
overwrite, atomic writes), reproducibility, exit codes and one-line errors."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import ljfit  # noqa: E402
from ljfit import cli  # noqa: E402
from ljfit.cli import main, parse_args  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "example"
TAGS = ROOT / "data" / "example_tags"
FAST = ["--method", "linear,least_squares", "--no-plots", "--quiet"]
GLOBAL_FAST = ["--niter", "3", "--maxiter", "10"]
CONTRACT_FILES = {
    "parameters.csv", "params.json", "predictions.csv", "metrics.json", "pair.lmp",
    "in.lammps", "structure.data",
    "parity.png", "residuals.png", "potentials.png", "correlation.png", "profiles.png",
    "report.md",
}


def _ljfit_script() -> str:
    exe = shutil.which("ljfit", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("the ljfit console script is not installed")
    return exe


def _one_error_line(err: str, *needles) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ljfit: error: "), err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def _fit(tmp_path, *extra, name="out", data=EXAMPLE):
    out = tmp_path / name
    code = main(["fit", str(data), "--out", str(out), *extra])
    return code, out


# ---------------------------------------------------------------------------------------
# a full run (all methods, CV, bootstrap, plots), shared by several tests
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "example"
    code = main(["fit", str(EXAMPLE), "--out", str(out), "--cv", "loo", "--bootstrap", "30",
                 "--quiet", *GLOBAL_FAST])
    assert code == 0
    return out


def test_full_run_writes_exactly_the_contract_files(full_run):
    assert {p.name for p in full_run.iterdir()} == CONTRACT_FILES
    for png in CONTRACT_FILES:
        if png.endswith(".png"):
            assert (full_run / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # no temporary folders left beside it
    assert [p.name for p in full_run.parent.iterdir()] == ["example"]


def test_parameters_csv_schema(full_run):
    df = pd.read_csv(full_run / "parameters.csv")
    assert list(df.columns) == ["method", "name", "value", "stderr", "unit", "ci_low", "ci_high"]
    methods = ["linear", "least_squares"]  # --method auto (the default) on a linear model
    assert list(dict.fromkeys(df["method"])) == methods
    names = ["epsilon[Au-C]", "epsilon[Au-H]", "epsilon[Au-O]",
             "sigma[Au-C]", "sigma[Au-H]", "sigma[Au-O]"]
    assert list(df[df.method == "linear"]["name"]) == names
    assert set(df["unit"]) == {"eV", "Å"}
    best = json.loads((full_run / "params.json").read_text())["method"]
    assert df[df.method == best]["ci_low"].notna().all()
    assert df[df.method != best]["ci_low"].isna().all()
    # close to the truth the data were made with
    truth = json.loads((EXAMPLE / "truth.json").read_text())["parameters"]
    lin = df[df.method == "linear"].set_index("name")["value"]
    for n, v in truth.items():
        assert lin[n] == pytest.approx(v, rel=0.2)


def test_predictions_csv_schema(full_run):
    df = pd.read_csv(full_run / "predictions.csv")
    methods = ["linear", "least_squares"]
    assert list(df.columns) == ["structure", "reference", *methods,
                                *[f"{m}_cv" for m in methods]]
    assert list(df.structure) == [f"p_{i}" for i in range(1, 41)]
    ds = ljfit.read_dataset(EXAMPLE)
    np.testing.assert_allclose(df.reference, ds.energies, rtol=1e-14)
    assert df.notna().all().all()


def test_params_json_schema(full_run):
    doc = json.loads((full_run / "params.json").read_text())
    assert list(doc)[:5] == ["ljfit_version", "model", "method", "parameters", "stderr"]
    assert doc["ljfit_version"] == ljfit.__version__
    model = doc["model"]
    for key in ("scope", "mixing", "potential", "cutoff", "shift", "offset", "groups",
                "layout", "n_substrate", "energy_unit"):
        assert key in model
    assert model["groups"] == "first:9" and model["layout"] == "seed"
    assert model["n_substrate"] == 9 and model["scope"] == "per-pair"
    assert doc["method"] in ("linear", "least_squares", "basinhopping", "dual_annealing")
    assert set(doc["parameters"]) == set(doc["stderr"])
    assert all(isinstance(v, float) for v in doc["parameters"].values())


def test_metrics_json_schema(full_run):
    doc = json.loads((full_run / "metrics.json").read_text())
    for key in ("dataset", "model", "n_free_parameters", "determined", "warnings",
                "best_method", "methods", "cv", "bootstrap", "wall_time_s"):
        assert key in doc, key
    assert doc["dataset"]["n_structures"] == 40
    assert doc["dataset"]["elements"] == ["Au", "C", "H", "O"]
    assert doc["dataset"]["path"] == str(EXAMPLE)
    assert doc["n_free_parameters"] == 6
    assert isinstance(doc["determined"], bool)
    for m, d in doc["methods"].items():
        for key in ("cost", "rmse", "mae", "max_abs_error", "r2", "nfev", "wall_time_s",
                    "success", "message"):
            assert key in d, (m, key)
    assert set(doc["cv"]) == set(doc["methods"])  # every method succeeded
    assert doc["cv"]["linear"]["rmse"] > 0 and doc["cv"]["linear"]["k"] == "loo"
    assert doc["bootstrap"]["n"] == 30
    assert doc["bootstrap"]["method"] == doc["best_method"]
    assert doc["wall_time_s"] > 0


def test_no_nan_or_inf_anywhere(full_run):
    for name in ("parameters.csv", "predictions.csv", "params.json", "metrics.json",
                 "pair.lmp", "in.lammps", "structure.data", "report.md"):
        text = (full_run / name).read_text()
        assert not re.search(r"\b(nan|NaN|inf|Infinity)\b", text), name
    json.loads((full_run / "metrics.json").read_text())  # strict JSON


def test_report_md(full_run):
    text = (full_run / "report.md").read_text()
    for needle in ("## Dataset", "## Model", "## Best fit", "## Metrics per method",
                   "## Warnings", "## Cross-validation", "## Bootstrap",
                   "![parity](parity.png)", "![profiles](profiles.png)", "sigma[Au-O]"):
        assert needle in text
    assert not re.search(r"\d s\b|seconds|wall_time", text)  # times only in metrics.json


def test_lammps_files(full_run):
    text = (full_run / "pair.lmp").read_text()
    # included after read_data: units are set by then
    assert not any(ln.split()[:1] == ["units"] for ln in text.splitlines())
    assert "pair_style lj/cut " in text and "neigh_modify exclude molecule/intra all" in text
    params = json.loads((full_run / "params.json").read_text())["parameters"]
    line = [ln for ln in text.splitlines() if ln.startswith("pair_coeff 1 2 ")][0]
    assert float(line.split()[3]) == params["epsilon[Au-C]"]  # every digit
    script = (full_run / "in.lammps").read_text()
    assert "units metal" in script and "read_data ${data}" in script
    assert "include pair.lmp" in script and "run 0" in script


# ---------------------------------------------------------------------------------------
# params.json is reloadable: predict and the ASE calculator reproduce the fit
# ---------------------------------------------------------------------------------------


def test_predict_reproduces_predictions(full_run, tmp_path, capsys):
    best = json.loads((full_run / "params.json").read_text())["method"]
    ref = pd.read_csv(full_run / "predictions.csv")
    out = tmp_path / "pred.csv"
    assert main(["predict", str(full_run / "params.json"), str(EXAMPLE), "--out", str(out)]) == 0
    got = pd.read_csv(out)
    assert list(got.columns) == ["structure", "energy", "reference"]
    assert list(got.structure) == list(ref.structure)
    np.testing.assert_allclose(got.energy, ref[best], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.reference, ref.reference, rtol=0, atol=1e-15)
    # to standard output by default
    capsys.readouterr()
    assert main(["predict", str(full_run / "params.json"), str(EXAMPLE)]) == 0
    assert capsys.readouterr().out == out.read_text()
    # refuses to overwrite its --out file without --force
    assert main(["predict", str(full_run / "params.json"), str(EXAMPLE), "--out", str(out)]) == 2
    _one_error_line(capsys.readouterr().err, str(out))


@pytest.mark.parametrize("with_reference", [True, False, "some"])
def test_predict_writes_what_pandas_writes(with_reference):
    """predict's CSV is formatted without pandas: the bytes DataFrame.to_csv writes, with
    names that need quoting and values of every magnitude, missing references empty."""
    from ljfit.cli.predict import predictions_text
    from ljfit.report import FLOAT_FORMAT

    rng = np.random.default_rng(3)
    names = ["a,b", 'q"t', "nl\nx", " sp", "Å", "p_1", "=x", "cr\ry"]
    energies = np.concatenate([[-0.0, 5e-324, 1e300, 1 / 3], rng.normal(size=4) * 1e-3])
    refs = np.full(len(names), np.nan)
    if with_reference:
        refs = rng.normal(size=len(names))
        if with_reference == "some":
            refs[::3] = np.nan
    data = {"structure": names, "energy": energies}
    if np.isfinite(refs).any():
        data["reference"] = refs
    expected = pd.DataFrame(data).to_csv(index=False, float_format=FLOAT_FORMAT, na_rep="",
                                         lineterminator="\n")
    assert predictions_text(names, energies, refs) == expected


def test_predict_structures_without_energies(full_run, tmp_path):
    # only the extended files (no energies): the group rule first:9 comes from params.json
    folder = tmp_path / "new"
    folder.mkdir()
    for n in (1, 2):
        shutil.copy(EXAMPLE / f"p_{n}_extended.xyz", folder)
    out = tmp_path / "e.csv"
    assert main(["predict", str(full_run / "params.json"), str(folder), "--out", str(out)]) == 0
    got = pd.read_csv(out)
    assert list(got.columns) == ["structure", "energy"]
    ref = pd.read_csv(full_run / "predictions.csv")
    best = json.loads((full_run / "params.json").read_text())["method"]
    np.testing.assert_allclose(got.energy, ref[best][:2], atol=1e-12)


def _extended_atoms(n):
    from ase import Atoms

    lines = (EXAMPLE / f"p_{n}_extended.xyz").read_text().split("\n")
    rows = [ln.split() for ln in lines if ln.strip()]
    return Atoms([r[0] for r in rows], positions=[[float(v) for v in r[1:4]] for r in rows])


def test_calculator_from_params_json_reproduces_fit(full_run):
    best = json.loads((full_run / "params.json").read_text())["method"]
    ref = pd.read_csv(full_run / "predictions.csv").set_index("structure")[best]
    calc = ljfit.LJCalculator.from_file(full_run / "params.json")
    for n in (1, 7, 40):
        atoms = _extended_atoms(n)
        atoms.calc = calc
        assert atoms.get_potential_energy() == pytest.approx(ref[f"p_{n}"], abs=1e-10)


def test_predict_errors(tmp_path, capsys, full_run):
    assert main(["predict", str(tmp_path / "missing.json"), str(EXAMPLE)]) == 2
    _one_error_line(capsys.readouterr().err, "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["predict", str(bad), str(EXAMPLE)]) == 2
    _one_error_line(capsys.readouterr().err, "bad.json")
    # parameters for pairs the structures need but the fit did not have
    doc = json.loads((full_run / "params.json").read_text())
    del doc["parameters"]["epsilon[Au-O]"]
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps(doc))
    assert main(["predict", str(partial), str(EXAMPLE)]) == 2
    _one_error_line(capsys.readouterr().err, "epsilon[Au-O]")


# ---------------------------------------------------------------------------------------
# never overwrite; --force; atomic writes
# ---------------------------------------------------------------------------------------


def test_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    code, _ = _fit(tmp_path, *FAST)
    assert code == 2
    _one_error_line(capsys.readouterr().err, str(out), "--force")
    assert [p.name for p in out.iterdir()] == ["precious.txt"]
    assert (out / "precious.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_force_replaces(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    code, _ = _fit(tmp_path, *FAST, "--force")
    assert code == 0
    names = {p.name for p in out.iterdir()}
    assert "old.txt" not in names and "params.json" in names
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_empty_existing_folder_is_used(tmp_path):
    (tmp_path / "out").mkdir()
    code, out = _fit(tmp_path, *FAST)
    assert code == 0 and (out / "params.json").is_file()


def test_force_never_deletes_the_input(tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(EXAMPLE, data)
    before = sorted(p.name for p in data.iterdir())
    assert main(["fit", str(data), "--out", str(data), "--force", *FAST]) == 2
    _one_error_line(capsys.readouterr().err, "refusing")
    assert main(["fit", str(data), "--out", str(tmp_path), "--force", *FAST]) == 2
    assert sorted(p.name for p in data.iterdir()) == before


@pytest.mark.parametrize("exc, code", [(KeyboardInterrupt, 130), (RuntimeError, 1)],
                         ids=["interrupt", "crash"])
def test_interrupted_run_leaves_nothing(tmp_path, monkeypatch, capsys, exc, code):
    import ljfit.report.folder

    def boom(*a, **k):
        raise exc("stop")

    monkeypatch.setattr(ljfit.report.folder, "markdown_report", boom)
    out = tmp_path / "out"
    assert main(["fit", str(EXAMPLE), "--out", str(out), *FAST]) == code
    assert list(tmp_path.iterdir()) == []
    # with --force the old folder survives an interrupted replacement
    out.mkdir()
    (out / "old.txt").write_text("old")
    assert main(["fit", str(EXAMPLE), "--out", str(out), "--force", *FAST]) == code
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert [p.name for p in out.iterdir()] == ["old.txt"]
    capsys.readouterr()


def test_a_signal_wrapped_by_c_code_is_still_an_interrupt(tmp_path, monkeypatch, capsys):
    """A signal landing while a pybind11 extension initialises (matplotlib's Agg backend,
    imported on the first figure) comes out as ImportError("initialization failed") with
    the KeyboardInterrupt as its cause: still 'interrupted' and 130, not an internal
    error."""
    import signal

    import ljfit.report.folder
    from ljfit import _signals

    def import_hit_by_sigint(*a, **k):
        try:
            _signals.handler(signal.SIGINT, None)
        except KeyboardInterrupt as exc:
            raise ImportError("initialization failed") from exc

    monkeypatch.setattr(ljfit.report.folder, "markdown_report", import_hit_by_sigint)
    assert main(["fit", str(EXAMPLE), "--out", str(tmp_path / "out"), *FAST]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "ljfit: interrupted"
    assert list(tmp_path.iterdir()) == []


def test_a_signal_while_the_handlers_are_installed(monkeypatch, capsys):
    """The handler is live as soon as install() sets it: a signal arriving before install()
    returns ends the run like any other (it escaped main() as a KeyboardInterrupt, and the
    process died of SIGINT: exit status -2 instead of 143)."""
    import signal

    from ljfit import _signals

    before = {s: signal.getsignal(s) for s in _signals.SIGNALS}
    real = _signals.install

    def install_hit_by_sigterm():
        real()
        _signals.handler(signal.SIGTERM, None)

    monkeypatch.setattr(_signals, "install", install_hit_by_sigterm)
    try:
        assert main(["--version"]) == 143
        assert capsys.readouterr().err.strip() == "ljfit: interrupted"
    finally:
        for s, h in before.items():
            signal.signal(s, h)


def test_the_command_line_runs_numpys_blas_single_threaded():
    """The command line limits BLAS to one thread for the whole run; threadpoolctl can only
    limit libraries already loaded, and nothing has imported numpy when the limit is set,
    so it loads numpy first (in a fresh interpreter: here numpy is long loaded)."""
    import subprocess
    import sys

    code = ("import os, sys\n"
            "for v in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):\n"
            "    os.environ.pop(v, None)\n"
            "import ljfit.cli as cli\n"
            "assert 'numpy' not in sys.modules\n"
            "with cli._blas_threads():\n"
            "    import numpy\n"
            "    from threadpoolctl import threadpool_info\n"
            "    blas = [i for i in threadpool_info() if i['user_api'] == 'blas']\n"
            "    assert blas and all(i['num_threads'] == 1 for i in blas), blas\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_default_output_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", str(EXAMPLE), *FAST]) == 0
    assert (tmp_path / "results" / "example" / "params.json").is_file()
    assert main(["fit", str(EXAMPLE), *FAST]) == 2  # second time: refuses


# ---------------------------------------------------------------------------------------
# reproducibility
# ---------------------------------------------------------------------------------------


def test_byte_identical_reruns(tmp_path):
    args = ["--method", "all", "--no-plots", "--quiet", "--seed", "3", "--n-starts", "2",
            "--cv", "4", "--bootstrap", "5", *GLOBAL_FAST]
    assert _fit(tmp_path, *args, name="a")[0] == 0
    assert _fit(tmp_path, *args, name="b")[0] == 0
    # and in a separate process (another hash seed, a fresh interpreter)
    env = dict(os.environ, PYTHONHASHSEED="12345")
    proc = subprocess.run([_ljfit_script(), "fit", str(EXAMPLE), "--out", str(tmp_path / "c"),
                           *args], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    for name in ("parameters.csv", "predictions.csv", "params.json"):
        a = (tmp_path / "a" / name).read_bytes()
        assert a == (tmp_path / "b" / name).read_bytes(), name
        assert a == (tmp_path / "c" / name).read_bytes(), name


# ---------------------------------------------------------------------------------------
# options: parsing (every option) and effects
# ---------------------------------------------------------------------------------------

_PARSE_CASES = [
    (["--layout", "seed"], "layout", "seed"),
    (["--n-substrate", "9"], "n_substrate", 9),
    (["--groups", "first:9"], "groups", "first:9"),
    (["--energy-key", "E"], "energy_key", "E"),
    (["--energy-unit", "kcal/mol"], "energy_unit", "kcal/mol"),
    (["--energies-csv", "e.csv"], "energies_csv", "e.csv"),
    (["--scope", "per-element"], "scope", "per-element"),
    (["--scope", "site"], "scope", "per-site"),
    (["--mixing", "geometric"], "mixing", "geometric"),
    (["--potential", "mie:9:6"], "potential", "mie:9:6"),
    (["--cutoff", "8.5"], "cutoff", 8.5),
    (["--shift"], "shift", True),
    (["--offset"], "offset", True),
    (["--method", "linear, least_squares"], "method", "linear,least_squares"),
    (["--loss", "soft_l1"], "loss", "soft_l1"),
    (["--f-scale", "0.01"], "f_scale", 0.01),
    (["--bounds", "sigma[Au-C]=2.5:4", "--bounds", "offset=-inf:0"], "bounds",
     [("sigma[Au-C]", (2.5, 4.0)), ("offset", (-math.inf, 0.0))]),
    (["--fix", "sigma[Au-H]=2.7"], "fix", [("sigma[Au-H]", 2.7)]),
    (["--prior", "sigma[Au-O]=3±0.1"], "prior", [("sigma[Au-O]", (3.0, 0.1))]),
    (["--prior", "offset=-0.5+-0.02"], "prior", [("offset", (-0.5, 0.02))]),
    (["--absolute-sigma"], "absolute_sigma", True),
    (["--seed", "7"], "seed", 7),
    (["--niter", "5"], "niter", 5),
    (["--maxiter", "9"], "maxiter", 9),
    (["--n-starts", "2"], "n_starts", 2),
    (["--bootstrap", "100"], "bootstrap", 100),
    (["--bootstrap-method", "least_squares"], "bootstrap_method", "least_squares"),
    (["--cv", "5"], "cv", 5),
    (["--cv", "loo"], "cv", "loo"),
    (["--out", "dir"], "out", "dir"),
    (["--force"], "force", True),
    (["--no-plots"], "no_plots", True),
    (["--quiet"], "quiet", True),
    (["--debug"], "debug", True),
]


@pytest.mark.parametrize("argv, dest, value", _PARSE_CASES,
                         ids=[c[0][0] + ("=" + c[0][1] if len(c[0]) > 1 else "")
                              for c in _PARSE_CASES])
def test_fit_option_parsed(argv, dest, value):
    args = parse_args(["fit", "PATH", *argv])
    assert getattr(args, dest) == value
    assert args.path == ["PATH"]


_BAD_OPTIONS = [
    ["--cutoff", "-1"], ["--cutoff", "x"], ["--scope", "per-atom"], ["--mixing", "x"],
    ["--potential", "mie:6:9"], ["--layout", "xyz"], ["--n-substrate", "0"], ["--cv", "1"],
    ["--cv", "all"], ["--bounds", "sigma[Au-C]"], ["--bounds", "sigma[Au-C]=4:2"],
    ["--fix", "sigma[Au-C]=big"], ["--seed", "-1"], ["--loss", "l1"], ["--f-scale", "0"],
    ["--regularization", "0.1"], ["--bootstrap", "x"], ["--bootstrap", "1"], ["--unknown"],
    ["--prior", "sigma[Au-O]=3.0"], ["--prior", "sigma[Au-O]=3.0±0"],
    ["--prior", "sigma[Au-O]=3.0±x"],
]


@pytest.mark.parametrize("argv", _BAD_OPTIONS, ids=[" ".join(a) for a in _BAD_OPTIONS])
def test_bad_option_exit_2_one_line(argv, capsys, tmp_path):
    assert main(["fit", str(EXAMPLE), "--out", str(tmp_path / "o"), *argv]) == 2
    _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv, needle", [
    (["--method", "newton"], "newton"),
    (["--method", "linear", "--scope", "per-element"], "linear"),
    (["--fix", "sigma[Au-Xe]=3"], "sigma[Au-Xe]"),
    (["--bounds", "epsilon[Au-C]=-1:1"], "epsilon[Au-C]"),
    (["--groups", "tags"], "tags"),
    (["--energy-unit", "furlongs"], "furlongs"),
    (["--energies-csv", "/nonexistent.csv"], "nonexistent.csv"),
    (["--bootstrap", "5", "--bootstrap-method", "dual_annealing", "--method", "linear"],
     "dual_annealing"),
    (["--cv", "45", "--method", "linear"], "45"),
], ids=["method", "linear-per-element", "fix-unknown", "negative-bound", "groups",
        "unit", "csv", "bootstrap-method", "cv-too-many-folds"])
def test_bad_request_exit_2_one_line(argv, needle, capsys, tmp_path):
    assert main(["fit", str(EXAMPLE), "--out", str(tmp_path / "o"), "--quiet", *argv]) == 2
    _one_error_line(capsys.readouterr().err, needle)
    assert not (tmp_path / "o").exists()


def _metrics(out):
    return json.loads((out / "metrics.json").read_text())


def _params(out):
    return json.loads((out / "params.json").read_text())


def test_model_options_take_effect(tmp_path):
    code, out = _fit(tmp_path, "--scope", "per-element", "--mixing", "geometric",
                     "--potential", "mie:9:6", "--cutoff", "9", "--shift", "--offset",
                     "--method", "least_squares", "--no-plots", "--quiet")
    assert code == 0
    model = _params(out)["model"]
    assert (model["scope"], model["mixing"], model["potential"], model["cutoff"],
            model["shift"], model["offset"]) == ("per-element", "geometric", "mie:9:6", 9.0,
                                                 True, True)
    assert "offset" in _params(out)["parameters"]
    text = (out / "pair.lmp").read_text()
    assert "pair_style mie/cut 9" in text and "pair_modify shift yes" in text
    # underdetermined (interaction energies fix only products of element epsilons):
    # written with its warning, not hidden
    m = _metrics(out)
    assert m["determined"] is False
    assert any("underdetermined" in w for w in m["warnings"])


def test_fix_and_bounds_take_effect(tmp_path):
    code, out = _fit(tmp_path, "--fix", "sigma[Au-H]=2.7", "--bounds", "sigma[Au-C]=3.0:3.1",
                     "--method", "least_squares,basinhopping", "--no-plots", "--quiet",
                     *GLOBAL_FAST)
    assert code == 0
    df = pd.read_csv(out / "parameters.csv")
    # a fixed sigma keeps the model linear (C_n = σ^6 C_m); a fixed epsilon does not: "all"
    # leaves the linear method out
    args = parse_args(["fit", str(EXAMPLE), "--fix", "sigma[Au-H]=2.7"])
    model = cli.common._build_model(ljfit.read_dataset(EXAMPLE), args)
    assert "linear" in ljfit.fitting.methods_for(model, "all")
    args = parse_args(["fit", str(EXAMPLE), "--fix", "epsilon[Au-H]=0.01"])
    model = cli.common._build_model(ljfit.read_dataset(EXAMPLE), args)
    assert "linear" not in ljfit.fitting.methods_for(model, "all")
    fixed = df[df.name == "sigma[Au-H]"]
    assert (fixed.value == 2.7).all() and fixed.stderr.isna().all()
    sc = df[df.name == "sigma[Au-C]"].value
    assert ((sc >= 3.0) & (sc <= 3.1)).all()
    assert _metrics(out)["n_free_parameters"] == 5


def test_prior_loss_seed(tmp_path):
    code, out = _fit(tmp_path, "--prior", "sigma[Au-O]=2.5±0.01",
                     "--loss", "soft_l1", "--f-scale", "0.002", "--seed", "4",
                     "--method", "least_squares", "--no-plots", "--quiet")
    assert code == 0
    opts = _metrics(out)["options"]
    assert opts == {"seed": 4, "priors": {"sigma[Au-O]": [2.5, 0.01]},
                    "loss": "soft_l1", "f_scale": 0.002}
    params = _params(out)
    assert params["priors"] == {"sigma[Au-O]": [2.5, 0.01]}  # every prior used, stated
    assert abs(params["parameters"]["sigma[Au-O]"] - 2.5) < 0.05  # held by the prior
    assert "sigma[Au-O] = 2.5 ± 0.01 Å" in (out / "report.md").read_text()


def test_readme_prior_example_keeps_the_fit(tmp_path):
    """The README's prior example: a prior at the fitted value's neighbourhood moves only
    σ[Au-O] (toward 3.0) and leaves the RMSE near the prior-free 0.72 meV (the removed ridge
    gave 16.9 meV and pulled every other parameter to ε = 0.01, σ = 3)."""
    code, out = _fit(tmp_path, "--prior", "sigma[Au-O]=3.0±0.1", "--no-plots", "--quiet",
                     *GLOBAL_FAST)
    assert code == 0
    m = _metrics(out)
    assert "linear" not in m["methods"]  # a prior on σ is not linear in (C12, C6)
    assert m["methods"]["least_squares"]["rmse"] < 0.8e-3
    p = _params(out)["parameters"]
    assert 2.96 < p["sigma[Au-O]"] < 3.0


def test_regularization_is_refused_with_the_new_form(tmp_path, capsys):
    code, _ = _fit(tmp_path, "--regularization", "0.1", *FAST)
    assert code == 2
    _one_error_line(capsys.readouterr().err, "--prior 'sigma[Au-O]=3.0±0.1'")
    code, _ = _fit(tmp_path, "--prior", "sigma[Au-O]=3.0±0.1", *FAST)
    assert code == 2  # linear asked for explicitly: refused, naming the parameter
    _one_error_line(capsys.readouterr().err, "method linear", "sigma[Au-O]")


def test_reading_options_take_effect(tmp_path):
    ds = ljfit.read_dataset(EXAMPLE)
    code, out = _fit(tmp_path, "--layout", "seed", "--n-substrate", "9",
                     "--energy-unit", "kcal/mol", *FAST)
    assert code == 0
    ref = pd.read_csv(out / "predictions.csv").reference
    np.testing.assert_allclose(ref, ds.energies * ljfit.io.energy_factor("kcal/mol"))
    assert _params(out)["model"]["energy_unit"] == "kcal/mol"


def test_energies_csv_and_key_options(tmp_path):
    csv = tmp_path / "e.csv"
    ds = ljfit.read_dataset(TAGS)
    pd.DataFrame({"name": ds.names, "energy": 2 * ds.energies}).to_csv(csv, index=False)
    code, out = _fit(tmp_path, "--energies-csv", str(csv), "--groups", "tags",
                     "--energy-key", "energy", *FAST, data=TAGS)
    assert code == 0
    np.testing.assert_allclose(pd.read_csv(out / "predictions.csv").reference, 2 * ds.energies)
    assert _params(out)["model"]["groups"] == "tags"


def test_tags_data_full_cycle(tmp_path):
    from ase.io import read

    code, out = _fit(tmp_path, *FAST, data=TAGS / "dimers.extxyz")
    assert code == 0
    best = _params(out)["method"]
    ref = pd.read_csv(out / "predictions.csv")[best]
    calc = ljfit.LJCalculator.from_file(out / "params.json")
    frames = read(TAGS / "dimers.extxyz", ":")
    for atoms, e in zip(frames, ref):
        atoms.calc = calc
        assert atoms.get_potential_energy() == pytest.approx(e, abs=1e-12)


def test_undefined_linear_parameters_are_empty_cells(tmp_path):
    # per-site on the first 10 example structures (18 parameters, 10 energies): the linear
    # optimum leaves several sites on the boundary C = 0; with bounds ε, σ ∈ [0, inf) that
    # boundary is a limit of allowed values, so the optimum has undefined parameters (with
    # the default bounds it is excluded, and the cone program returns defined ones)
    sub = tmp_path / "sub10"
    sub.mkdir()
    for i in range(1, 11):
        for name in (f"p_{i}.xyz", f"p_{i}_extended.xyz"):
            shutil.copy(EXAMPLE / name, sub / name)
    open_bounds = [arg for k in range(9) for kind in ("epsilon", "sigma")
                   for arg in ("--bounds", f"{kind}[{k}]=0:inf")]
    code, out = _fit(tmp_path, "--scope", "per-site", *FAST, *open_bounds, data=sub)
    assert code == 0
    df = pd.read_csv(out / "parameters.csv", keep_default_na=False)
    lin = df[df.method == "linear"]
    assert (lin.value == "").any()
    assert not (out / "parameters.csv").read_text().count("nan")
    m = _metrics(out)
    assert m["methods"]["linear"]["success"] is False
    assert m["best_method"] != "linear"  # undefined parameters are never the best fit


def test_summary_on_stdout_and_quiet(tmp_path, capsys):
    code, out = _fit(tmp_path, "--method", "linear,least_squares", "--no-plots")
    assert code == 0
    text = capsys.readouterr().out
    assert "RMSE" in text and "best fit (linear)" in text and str(out) in text
    assert "warnings:" not in text  # the example is well posed
    code, out = _fit(tmp_path, "--method", "least_squares", "--no-plots",
                     "--bounds", "sigma[Au-H]=2.9:6", name="bounded")
    assert code == 0
    text = capsys.readouterr().out
    assert "warnings:" in text and "sigma[Au-H] = 2.9 Å is at its lower bound" in text
    code, _ = _fit(tmp_path, *FAST, name="quiet")
    assert code == 0
    cap = capsys.readouterr()
    assert cap.out == "" and cap.err == ""


# ---------------------------------------------------------------------------------------
# --config
# ---------------------------------------------------------------------------------------


def test_config_toml_command_line_wins(tmp_path):
    cfg = tmp_path / "fit.toml"
    cfg.write_text(
        'method = ["linear"]\n'
        'scope = "per-pair"\n'
        "no_plots = true\n"
        "quiet = true\n"
        "seed = 5\n"
        "cutoff = 12.0\n"
        'fix = ["sigma[Au-H]=2.7"]\n'
        "[bounds]\n"
        '"sigma[Au-C]" = [3.0, 3.5]\n'
    )
    args = parse_args(["fit", str(EXAMPLE), "--config", str(cfg), "--seed", "9",
                       "--fix", "sigma[Au-H]=2.8"])
    assert args.method == "linear" and args.no_plots and args.quiet
    assert args.seed == 9 and args.cutoff == 12.0
    assert dict(args.fix) == {"sigma[Au-H]": 2.8}  # merged, command line wins per name
    assert dict(args.bounds) == {"sigma[Au-C]": (3.0, 3.5)}
    cfg.write_text('method = "linear"\nno-plots = true\nquiet = true\nseed = 5\n')
    code, out = _fit(tmp_path, "--config", str(cfg), "--method", "linear,least_squares")
    assert code == 0
    m = _metrics(out)
    assert list(m["methods"]) == ["linear", "least_squares"] and m["options"]["seed"] == 5
    assert not (out / "parity.png").exists()


@pytest.mark.parametrize("toml", [
    '[prior]\n"sigma[Au-O]" = [3.0, 0.1]\n"offset" = "-0.5±0.02"\n',
    'prior = ["sigma[Au-O]=3.0±0.1", "offset=-0.5+-0.02"]\n',
], ids=["table", "list"])
def test_config_priors(tmp_path, toml):
    cfg = tmp_path / "p.toml"
    cfg.write_text(toml)
    args = parse_args(["fit", "P", "--config", str(cfg)])
    assert dict(args.prior) == {"sigma[Au-O]": (3.0, 0.1), "offset": (-0.5, 0.02)}


def test_absolute_sigma_run(tmp_path):
    """--absolute-sigma: standard errors from the sigmas (1 meV per structure here), stated in
    the report and metrics; the example's residuals are ~0.8 meV, so χ²/ν ≈ 0.6 < 1."""
    code, out = _fit(tmp_path, "--absolute-sigma", "--method", "linear", "--no-plots",
                     "--quiet")
    code_rel, out_rel = _fit(tmp_path, "--method", "linear", "--no-plots", "--quiet",
                             name="rel")
    assert code == code_rel == 0
    m = _metrics(out)
    assert m["options"]["absolute_sigma"] is True and m["methods"]["linear"]["absolute_sigma"]
    chi = m["methods"]["linear"]["reduced_chi2"]
    se, se_rel = _params(out)["stderr"], _params(out_rel)["stderr"]
    for name in se:  # relative errors are the absolute ones times sqrt(χ²/ν)
        assert se_rel[name] == pytest.approx(se[name] * chi**0.5, rel=1e-9)
    assert "sigmas are the true errors (absolute sigma)" in (out / "report.md").read_text()


def test_config_command_section(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('scope = "per-element"\n[fit]\nscope = "per-site"\n[predict]\nout = "x"\n')
    assert parse_args(["fit", "P", "--config", str(cfg)]).scope == "per-site"
    assert parse_args(["info", "P", "--config", str(cfg)]).scope == "per-element"


@pytest.mark.parametrize("text, needle", [
    ("nonsense = 1\n", "nonsense"),
    ("cutoff = 'far'\n", "cutoff"),
    ("shift = 'yes'\n", "shift"),
    ("scope = 'per-atom'\n", "scope"),
    ("method = [\n", "TOML"),
    ("bounds = {'sigma[Au-C]' = [1]}\n", "sigma[Au-C]"),
], ids=["unknown-key", "bad-float", "bad-bool", "bad-scope", "bad-toml", "bad-bounds"])
def test_config_errors(tmp_path, capsys, text, needle):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    assert main(["fit", str(EXAMPLE), "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    _one_error_line(capsys.readouterr().err, "c.toml", needle)


def test_config_missing_file(tmp_path, capsys):
    assert main(["info", str(EXAMPLE), "--config", str(tmp_path / "none.toml")]) == 2
    _one_error_line(capsys.readouterr().err, "none.toml")


# ---------------------------------------------------------------------------------------
# malformed substrate/surface folders: exit 2, one line naming the file
# ---------------------------------------------------------------------------------------


def _seed_copy(tmp_path, n=3):
    folder = tmp_path / "data"
    folder.mkdir()
    for i in range(1, n + 1):
        for f in (f"p_{i}.xyz", f"p_{i}_extended.xyz"):
            shutil.copy(EXAMPLE / f, folder / f)
    return folder


def _edit_line(path, lineno, new):
    lines = path.read_text().split("\n")
    lines[lineno - 1] = new(lines[lineno - 1]) if callable(new) else new
    path.write_text("\n".join(lines))


def _missing_energy(f):
    _edit_line(f / "p_1.xyz", 2, "energy")
    return "p_1.xyz"


def _non_numeric(f):
    _edit_line(f / "p_2.xyz", 2, "energy abc eV")
    return "p_2.xyz"


def _no_partner(f):
    (f / "p_2_extended.xyz").unlink()
    return "p_2"


def _short_line(f):
    _edit_line(f / "p_1_extended.xyz", 12, "Au 1.0 2.0")
    return "p_1_extended.xyz"


def _unknown_element(f):
    _edit_line(f / "p_3_extended.xyz", 15, lambda s: "Xx" + s[2:])
    return "p_3_extended.xyz"


def _empty(f):
    for p in f.iterdir():
        p.unlink()
    return str(f)


_BROKEN = [_missing_energy, _non_numeric, _no_partner, _short_line, _unknown_element, _empty]


# info and check-grad read without requiring energies: only the structure errors apply
_MALFORMED = [("fit", b) for b in _BROKEN] + [
    (c, b) for c in ("info", "check-grad") for b in _BROKEN
    if b not in (_missing_energy, _non_numeric)
]


@pytest.mark.parametrize("command, breaker", _MALFORMED,
                         ids=[f"{c}-{b.__name__.strip('_')}" for c, b in _MALFORMED])
def test_malformed_folder_exit_2(tmp_path, capsys, breaker, command):
    folder = _seed_copy(tmp_path)
    needle = breaker(folder)
    argv = [command, str(folder)]
    if command == "fit":
        argv += ["--out", str(tmp_path / "out"), *FAST]
    assert main(argv) == 2
    _one_error_line(capsys.readouterr().err, needle)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------
# info, check-grad, --version, --help
# ---------------------------------------------------------------------------------------


def test_info(capsys):
    assert main(["info", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "structures   40" in out
    rows = {ln.split()[0]: ln for ln in out.splitlines()
            if ln.split() and ln.split()[0] in ("per-site", "per-pair", "per-element")}
    assert set(rows) == {"per-site", "per-pair", "per-element"}
    assert rows["per-pair"].split()[1:4] == ["6", "40", "6"]  # free, structures, rank
    assert "underdetermined" in rows["per-element"]
    assert "suggested scope: per-pair" in out


def test_info_total_energies(capsys, cluster_dataset, tmp_path):
    from conftest import write_extxyz

    write_extxyz(cluster_dataset, tmp_path / "clusters.extxyz")
    assert main(["info", str(tmp_path / "clusters.extxyz")]) == 0
    out = capsys.readouterr().out
    assert "not applicable" in out  # per-site needs two groups
    assert "suggested scope: per-element" in out


@pytest.mark.parametrize("opts", [
    [], ["--scope", "per-element", "--offset"], ["--scope", "per-site"],
    ["--potential", "mie:9:6", "--cutoff", "6", "--shift"],
    ["--scope", "per-element", "--mixing", "geometric", "--seed", "3"],
    ["--fix", "sigma[Au-H]=2.7"],
], ids=["default", "per-element-offset", "per-site", "mie-cutoff-shift", "geometric",
        "fixed"])
def test_check_grad(capsys, opts):
    assert main(["check-grad", str(EXAMPLE), *opts]) == 0
    out = capsys.readouterr().out
    values = [float(m) for m in re.findall(r"max relative error: ([0-9.eE+-]+)", out)]
    assert len(values) == 3  # two points and overall
    assert max(values) < 1e-6
    assert out.strip().splitlines()[-1].startswith("max relative error:")


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"ljfit {ljfit.__version__}"


@pytest.mark.parametrize("command", ["fit", "info", "predict", "check-grad"])
def test_help_with_examples(capsys, command):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"ljfit {command}" in out


def test_no_command_is_usage_error(capsys):
    assert main([]) == 2
    _one_error_line(capsys.readouterr().err)


def test_internal_error_exit_1(monkeypatch, capsys):
    def boom(args):
        raise ZeroDivisionError("oops")

    from ljfit.cli import info as info_command

    monkeypatch.setattr(info_command, "cmd_info", boom)
    assert main(["info", str(EXAMPLE)]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "ljfit: internal error: ZeroDivisionError: oops (run with --debug for the traceback)"]
    assert main(["info", str(EXAMPLE), "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "ljfit: internal error: ZeroDivisionError" in err


# ---------------------------------------------------------------------------------------
# the console script, in a subprocess: real exit codes and stderr
# ---------------------------------------------------------------------------------------


def test_console_script_fit_and_error(tmp_path):
    exe = _ljfit_script()
    out = tmp_path / "res"
    proc = subprocess.run([exe, "fit", str(EXAMPLE), "--out", str(out), *FAST],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""
    assert (out / "params.json").is_file()
    # again: refuses to overwrite, exit 2, one line
    proc = subprocess.run([exe, "fit", str(EXAMPLE), "--out", str(out), *FAST],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    _one_error_line(proc.stderr, str(out))


def test_console_script_malformed_input(tmp_path):
    exe = _ljfit_script()
    folder = _seed_copy(tmp_path)
    _non_numeric(folder)
    proc = subprocess.run([exe, "fit", str(folder), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    line = _one_error_line(proc.stderr, "p_2.xyz")
    assert line.startswith(f"ljfit: error: {folder / 'p_2.xyz'}:2: ")
    proc = subprocess.run([exe, "fit", "--cutoff"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    _one_error_line(proc.stderr)


# ---------------------------------------------------------------------------------------
# the other commands' options
# ---------------------------------------------------------------------------------------

_READING = [
    (["--layout", "ase"], "layout", "ase"),
    (["--n-substrate", "9"], "n_substrate", 9),
    (["--groups", "array:grp"], "groups", "array:grp"),
    (["--energy-key", "E"], "energy_key", "E"),
    (["--energy-unit", "Ha"], "energy_unit", "Ha"),
    (["--energies-csv", "e.csv"], "energies_csv", "e.csv"),
    (["--quiet"], "quiet", True),
    (["--debug"], "debug", True),
]


@pytest.mark.parametrize("command", ["info", "predict", "check-grad"])
@pytest.mark.parametrize("argv, dest, value", _READING, ids=[c[0][0] for c in _READING])
def test_reading_options_of_every_command(command, argv, dest, value):
    pos = ["params.json", "PATH"] if command == "predict" else ["PATH"]
    args = parse_args([command, *pos, *argv])
    assert getattr(args, dest) == value


@pytest.mark.parametrize("command, argv, dest, value", [
    ("info", ["--scope", "per-site"], "scope", "per-site"),
    ("info", ["--cutoff", "7"], "cutoff", 7.0),
    ("check-grad", ["--potential", "mie:10:5"], "potential", "mie:10:5"),
    ("check-grad", ["--seed", "11"], "seed", 11),
    ("check-grad", ["--bounds", "offset=-1:1"], "bounds", [("offset", (-1.0, 1.0))]),
    ("check-grad", ["--fix", "offset=0.1"], "fix", [("offset", 0.1)]),
    ("predict", ["--out", "e.csv"], "out", "e.csv"),
    ("predict", ["--force"], "force", True),
], ids=["info-scope", "info-cutoff", "cg-potential", "cg-seed", "cg-bounds", "cg-fix",
        "predict-out", "predict-force"])
def test_command_specific_options(command, argv, dest, value):
    pos = ["params.json", "PATH"] if command == "predict" else ["PATH"]
    assert getattr(parse_args([command, *pos, *argv]), dest) == value


def test_check_grad_quiet_prints_only_the_result(capsys):
    assert main(["check-grad", str(EXAMPLE), "--quiet"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("max relative error: ")


def test_info_without_energies(tmp_path, capsys):
    folder = tmp_path / "new"
    folder.mkdir()
    for n in range(1, 8):
        shutil.copy(EXAMPLE / f"p_{n}_extended.xyz", folder)
    assert main(["info", str(folder), "--n-substrate", "9"]) == 0
    out = capsys.readouterr().out
    assert "structures   7" in out and "no reference energies" in out


def test_default_out_name_is_safe():
    class D:
        name = "*.extxyz"

    assert cli.common._default_out(D()) == Path("results") / "extxyz"


def test_bootstrap_method_option(tmp_path):
    code, out = _fit(tmp_path, "--bootstrap", "10", "--bootstrap-method", "least_squares",
                     *FAST)
    assert code == 0
    df = pd.read_csv(out / "parameters.csv")
    assert df[df.method == "least_squares"]["ci_low"].notna().all()
    assert df[df.method == "linear"]["ci_low"].isna().all()
    m = _metrics(out)
    assert m["bootstrap"]["method"] == "least_squares" and m["bootstrap"]["n"] == 10
    assert "## Bootstrap (least_squares)" in (out / "report.md").read_text()


# ---------------------------------------------------------------------------------------
# every malformed input of the reading tests, through the command line
# ---------------------------------------------------------------------------------------
from test_io import MALFORMED as _IO_MALFORMED  # noqa: E402

_READ_FLAGS = {"energies_csv": "--energies-csv", "energy_unit": "--energy-unit",
               "layout": "--layout", "groups": "--groups", "energy_key": "--energy-key",
               "n_substrate": "--n-substrate"}


@pytest.mark.parametrize("build, where, word", _IO_MALFORMED)
def test_every_reading_error_is_exit_2_one_line(tmp_path, capsys, build, where, word):
    """Each malformed input of tests/test_io.py: exit 2, one line naming the file, no
    traceback, no output folder."""
    path, kwargs = build(tmp_path)
    argv = ["fit", str(path), "--out", str(tmp_path / "out"), "--quiet", *FAST[:2]]
    for key, value in kwargs.items():
        argv += [_READ_FLAGS[key], str(value)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    line = _one_error_line(err)
    assert (where or str(tmp_path)) in line and word in line
    assert not (tmp_path / "out").exists()


def test_energies_only_example_fits_exactly_as_in_0_1_0(tmp_path):
    """The shipped example (energies only) gives the parameters.csv of ljfit 0.1.0 byte for
    byte: forces, sigmas and reference energies changed nothing for energies-only data."""
    golden = Path(__file__).parent / "data" / "example_parameters_v0.1.0.csv"
    out = tmp_path / "res"
    assert main(["fit", str(EXAMPLE), "--out", str(out), "--no-plots", "--quiet",
                 "--method", "linear,least_squares,basinhopping,dual_annealing"]) == 0
    assert (out / "parameters.csv").read_bytes() == golden.read_bytes()


def test_info_periodic_without_cutoff_says_so(capsys, fcc_dataset, tmp_path):
    from conftest import write_extxyz

    write_extxyz(fcc_dataset, tmp_path / "cells.extxyz")
    assert main(["info", str(tmp_path / "cells.extxyz")]) == 0
    out = capsys.readouterr().out
    assert "underdetermined" not in out
    assert "periodic and no cutoff was given; run again with --cutoff" in out


def test_total_energies_of_dimers_hint_at_fragments(tmp_path):
    """Water dimers read without tags are total energies (bonded pairs count): the run
    says so and points at --groups fragments."""
    from ase.build import molecule
    from ase.io import write

    frames = []
    for k in range(6):
        a, b = molecule("H2O"), molecule("H2O")
        b.positions += [0.0, 0.0, 2.8 + 0.2 * k]
        d = a + b
        d.info["energy"] = -0.2 + 0.03 * k
        frames.append(d)
    write(tmp_path / "dimers.extxyz", frames)
    code, out = _fit(tmp_path, "--method", "least_squares", "--no-plots", "--quiet",
                     data=tmp_path / "dimers.extxyz")
    assert code == 0
    warnings = " ".join(_metrics(out)["warnings"])
    assert "holds 2 covalent fragments" in warnings and "--groups fragments" in warnings
