"""Reading and featurising in parallel parts: local processes (--jobs) and a real
dask.distributed cluster (--scheduler) give the serial results to 1e-12."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.lj import LennardJones
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from conftest import make_adsorbate_dataset, make_cluster_dataset
from test_io import MALFORMED, write_seed

import ljfit
from ljfit import parallel
from ljfit.cli import main
from ljfit.errors import DataError
from ljfit.features import compute_features, concatenate
from ljfit.io import seed as io_seed
from ljfit.io import seed_bulk
from ljfit.io.seed import list_seed_folder

EXAMPLE = Path(__file__).resolve().parent.parent / "data" / "example"

READ = dict(layout="auto", n_substrate=None, groups="auto", energy_key="energy",
            energy_unit="eV", energies_csv=None, force_key="forces", stress_key="stress")
FEATURES = {"kind": "pair", "potential": ljfit.LJ, "cutoff": None, "shift": False}


def _argon_file(path, n=12, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n):
        a = bulk("Ar", "fcc", a=5.26, cubic=True).repeat((1, 1, 2))
        a.rattle(0.1, seed=int(rng.integers(1 << 30)))
        a.calc = LennardJones(epsilon=0.0104, sigma=3.4, rc=6.0)
        e, f, s = a.get_potential_energy(), a.get_forces(), a.get_stress()
        a.calc = SinglePointCalculator(a, energy=e, forces=f, stress=s)
        frames.append(a)
    write(path, frames, format="extxyz")
    return path


def _same_features(a, b, rtol=1e-12):
    assert a.slots == b.slots and a.names == b.names
    for attr in ("sn", "sm", "counts", "fn", "fm", "vn", "vm"):
        x, y = getattr(a, attr), getattr(b, attr)
        assert (x is None) == (y is None), attr
        if x is not None:
            np.testing.assert_allclose(x, y, rtol=rtol, atol=0, err_msg=attr)


@pytest.mark.parametrize("pieces", [pytest.param([13, 27], id="3-parts"),
                                    pytest.param([1], id="2-parts-of-1-and-39")])
def test_concatenated_features_equal_the_whole(pieces):
    ds = ljfit.read_dataset(EXAMPLE)
    edges = [0, *pieces, len(ds)]
    parts = [compute_features(ds[a:b], kind="site") for a, b in zip(edges, edges[1:])]
    _same_features(concatenate(parts), compute_features(ds, kind="site"))


@pytest.mark.parametrize("jobs", [1, 2])
def test_parts_of_a_seed_folder_and_of_one_file(tmp_path, jobs):
    fo = dict(kind="pair", potential=ljfit.LJ, cutoff=None, shift=False)
    ds, f, _ = parallel.featurise([str(EXAMPLE)], READ, fo, jobs=jobs)
    serial = ljfit.read_dataset(EXAMPLE)
    assert ds.names == serial.names and ds.name == serial.name
    np.testing.assert_array_equal(ds.energies, serial.energies)
    _same_features(f, compute_features(serial))
    path = _argon_file(tmp_path / "ar.extxyz")
    fo = dict(kind="pair", potential=ljfit.LJ, cutoff=6.0, shift=True)
    ds, f, _ = parallel.featurise([str(path)], dict(READ, groups="all"), fo, jobs=jobs)
    serial = ljfit.read_dataset(path, groups="all")
    assert ds.names == serial.names
    _same_features(f, compute_features(serial, cutoff=6.0, shift=True, forces=True,
                                       stress=True))
    # the parts keep positions of their first structure only
    assert ds[0].positions is not None
    assert any(s.positions is None for s in ds)


@pytest.mark.parametrize("fmt", ["extxyz", "xyz"], ids=["extxyz-C-parser", "plain-xyz-ase"])
@pytest.mark.parametrize("index", [":", "2:11", "::3", "::-1"])
@pytest.mark.parametrize("n_parts", [2, 5])
def test_parts_of_one_file_read_their_frames_only(tmp_path, monkeypatch, fmt, index, n_parts):
    """A part of one file's frames parses only its own (the C parser seeks to them): the
    parts joined equal the serial read, frame for frame, whatever frames ``index``
    selects."""
    import ase.io

    from ljfit.io import _plan_read, _read_planned, _split, asefiles

    path = _argon_file(tmp_path / "ar.extxyz")
    if fmt == "xyz":  # no key=value comment lines: ASE's reader, every frame, then the block
        plain = tmp_path / "ar.xyz"
        write(plain, ase.io.read(path, ":"), format="xyz")
        path = plain
    opts = dict(READ, groups="all", index=index, require_energies=False)
    serial = ljfit.read_dataset(path, **opts)
    made = []
    original = asefiles.Frame.from_extxyz.__func__
    monkeypatch.setattr(asefiles.Frame, "from_extxyz", classmethod(
        lambda cls, f, comment=None: made.append(1) or original(cls, f, comment)))
    parts = _split(_plan_read(path, **opts), n_parts)
    assert len(parts) == min(n_parts, len(serial))  # no empty part
    rows = []
    for part in parts:
        made.clear()
        ds = _read_planned(part)
        if fmt == "extxyz":
            assert len(made) == len(ds)  # its frames, not the file's
        rows += [_frame_row(s) for s in ds]
    assert rows == [_frame_row(s) for s in serial]


def _frame_row(s):
    return s.name, s.positions.tobytes(), np.float64(s.energy).tobytes(), s.cell.tobytes()


def _fit_outputs(folder):
    params = json.loads((folder / "params.json").read_text())["parameters"]
    metrics = json.loads((folder / "metrics.json").read_text())
    return params, metrics


def _compare(a, b):
    pa, ma = _fit_outputs(a)
    pb, mb = _fit_outputs(b)
    assert pa.keys() == pb.keys()
    for k in pa:
        assert pa[k] == pytest.approx(pb[k], rel=1e-12, abs=1e-15), k
    for m in ma["methods"]:
        for key in ("cost", "energy_rmse", "force_rmse", "stress_rmse"):
            x, y = ma["methods"][m][key], mb["methods"][m][key]
            assert (x is None and y is None) or x == pytest.approx(y, rel=1e-10), (m, key)
    pred_a = (a / "predictions.csv").read_text().splitlines()
    pred_b = (b / "predictions.csv").read_text().splitlines()
    assert pred_a[0] == pred_b[0] and len(pred_a) == len(pred_b)
    for row_a, row_b in zip(pred_a[1:], pred_b[1:]):
        name_a, *x = row_a.split(",")
        name_b, *y = row_b.split(",")
        assert name_a == name_b
        np.testing.assert_allclose(np.array(x, float), np.array(y, float), rtol=1e-12,
                                   atol=1e-15, err_msg=name_a)


def test_cli_jobs_2_equals_serial(tmp_path):
    path = _argon_file(tmp_path / "ar.extxyz")
    base = ["fit", str(path), "--cutoff", "6", "--shift", "--method", "linear,least_squares",
            "--no-plots", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "serial")]) == 0
    assert main([*base, "--out", str(tmp_path / "jobs"), "--jobs", "2"]) == 0
    _compare(tmp_path / "serial", tmp_path / "jobs")
    assert (tmp_path / "jobs" / "predictions_forces.csv").read_text() == \
        (tmp_path / "serial" / "predictions_forces.csv").read_text()


def test_cli_on_a_real_dask_cluster_equals_serial(tmp_path):
    distributed = pytest.importorskip("dask.distributed")  # in the test extra: never skips there
    base = ["fit", str(EXAMPLE), "--method", "linear,least_squares", "--no-plots", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "serial")]) == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, host="127.0.0.1") as cluster:
        with distributed.Client(cluster) as client:
            assert len(client.scheduler_info()["workers"]) == 2
            code = main([*base, "--out", str(tmp_path / "dask"), "--scheduler",
                         cluster.scheduler_address])
            # the tasks ran in both worker processes: each has imported ljfit.parallel,
            # which a fresh worker only does to run featurise_part
            imported = client.run(lambda: __import__("sys").modules.get("ljfit.parallel")
                                  is not None)
    assert code == 0
    assert len(imported) == 2 and all(imported.values()), imported
    _compare(tmp_path / "serial", tmp_path / "dask")


def test_unreachable_scheduler_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT", "1s")
    code = main(["fit", str(EXAMPLE), "--out", str(tmp_path / "o"), "--scheduler",
                 "tcp://127.0.0.1:9", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "scheduler" in err[0], err


def _joined_copies(ds, edges):
    """The structures of ``ds`` cut at ``edges``, each piece pickled and loaded apart (as
    the parts of --jobs come back: one copy of a layout's symbols and groups per piece)."""
    import pickle

    pieces = [pickle.loads(pickle.dumps(ds.structures[a:b]))
              for a, b in zip([0, *edges], [*edges, len(ds)])]
    return ljfit.Dataset([s for p in pieces for s in p], path=ds.path, layout=ds.layout,
                         energy_unit=ds.energy_unit, group_mode=ds.group_mode, name=ds.name)


def _layouts_by_value(ds):
    """The distinct layouts the plain way (every structure compared by value)."""
    seen: dict = {}
    for s in ds:
        seen.setdefault((s.symbols, None if s.groups is None else s.groups.tobytes()), s)
    return list(seen)


@pytest.mark.parametrize("make", [
    pytest.param(lambda: ljfit.read_dataset(EXAMPLE), id="seed-folder"),
    pytest.param(lambda: make_adsorbate_dataset(9, molecule="CH3OH|H2O|CH3OH"),
                 id="mixed-molecules"),
    pytest.param(lambda: make_cluster_dataset(7), id="clusters-total"),
])
def test_dataset_summaries_cached_and_equal_for_joined_copies(make):
    ds = make()
    joined = _joined_copies(ds, [2, 5])
    for d in (ds, joined):
        keys = [(s.symbols, None if s.groups is None else s.groups.tobytes())
                for s in d._distinct_layouts()]
        assert keys == _layouts_by_value(d)
        np.testing.assert_array_equal(d.n_atoms, [s.n_atoms for s in d])
        elements, counts = d.compositions()
        assert elements == sorted({e for s in d for e in s.symbols})
        np.testing.assert_array_equal(
            counts, [[s.symbols.count(e) for e in elements] for s in d])
        np.testing.assert_array_equal(d.has_forces, [s.forces is not None for s in d])
    assert joined.summary() == ds.summary() and joined.describe() == ds.describe()
    # the arrays handed out are copies: changing one leaves the dataset as it was
    n = ds.n_atoms
    n[:] = -1
    ds.has_forces[:] = True
    ds.compositions()[1][:] = -1
    assert ds.summary() == joined.summary()
    np.testing.assert_array_equal(ds.n_atoms, joined.n_atoms)


# -- the substrate/surface folder, listed once (on the client) --------------------------------


def _seed_folder(tmp_path, numbers=(1, 2, 3, 5, 10, 11)):
    folder = write_seed(tmp_path / "seed", numbers)
    for junk in ("notes.txt", "p_x.xyz", "p_3.xyz.bak", "p_2_extended.xyz~", "q_1.xyz"):
        (folder / junk).write_text("not a structure\n")
    return folder


def test_seed_listing_in_one_pass_equals_the_sorted_walk(tmp_path):
    folder = _seed_folder(tmp_path)
    with pytest.warns(UserWarning, match="missing p_4, p_6, p_7, p_8, p_9"):
        fast = list_seed_folder(folder, str(folder), None, False, True)
    assert fast[0] == [1, 2, 3, 5, 10, 11]
    assert (fast[1], fast[2]) == io_seed._scan_sorted(folder, str(folder))
    blocks = [io_seed.listing_block(fast, k, 4) for k in range(4)]
    assert [n for b in blocks for n in b[0]] == fast[0]
    assert all(b[1] is None and b[2] is None for b in blocks)  # the usual names
    for b in map(io_seed._names, blocks):
        assert b[1] == {n: fast[1][n] for n in b[0]} and b[2] == {n: fast[2][n] for n in b[0]}
    # a name of its own (leading zeros), or a p_N.xyz missing: the names are sent
    odd = (fast[0], {**fast[1], 5: "p_05.xyz"}, fast[2])
    assert io_seed.listing_block(odd, 2, 4) == ([5], {5: "p_05.xyz"}, {5: "p_5_extended.xyz"})
    del odd[1][10]
    assert io_seed.listing_block(odd, 1, 2) == (
        [5, 10, 11], {5: "p_05.xyz", 11: "p_11.xyz"},
        {5: "p_5_extended.xyz", 10: "p_10_extended.xyz", 11: "p_11_extended.xyz"})


def _link_loop(folder):
    (folder / "p_2.xyz").unlink()
    (folder / "p_2.xyz").symlink_to("p_2.xyz")


LISTING_PROBLEMS = [
    pytest.param(lambda d: (d / "p_01.xyz").write_text((d / "p_1.xyz").read_text()),
                 "carry the same number 1", id="one-number-twice"),
    pytest.param(lambda d: ((d / "p_3_extended.xyz").unlink(),
                            (d / "p_3_extended.xyz").mkdir()),
                 "p_3_extended.xyz: a folder", id="folder"),
    pytest.param(_link_loop, "p_2.xyz: a symbolic link loop", id="link-loop"),
    pytest.param(lambda d: (d / "p_5.xyz").unlink(), "no partner p_5.xyz", id="unpaired"),
    pytest.param(lambda d: (d / "p_99999999999.xyz").write_text("1\nenergy 0\nH 0 0 0\n"),
                 "absurdly large", id="absurd-number"),
]


@pytest.mark.parametrize("edit, words", LISTING_PROBLEMS)
def test_seed_listing_problems_named_as_by_the_sorted_walk(tmp_path, monkeypatch, edit,
                                                           words):
    folder = _seed_folder(tmp_path)
    edit(folder)
    with pytest.raises(DataError) as fast:
        ljfit.read_dataset(folder)
    assert words in str(fast.value)
    with pytest.raises(DataError) as parts:
        parallel.featurise([str(folder)], READ, FEATURES, jobs=2)
    with monkeypatch.context() as m:  # the walk in natural order, file by file
        m.setattr(io_seed, "_scan_names", lambda folder: None)
        with pytest.raises(DataError) as walked:
            ljfit.read_dataset(folder)
    assert str(fast.value) == str(walked.value) == str(parts.value)


def _mixed_seed_folder(folder, n=11, seed=3):
    """p_N pairs of three molecules over two or three Ar atoms (several layouts, several
    atom counts), energies in the comment lines and in energies.csv."""
    rng = np.random.default_rng(seed)
    molecules = [("O", "H", "H"), ("C", "O"), ("H", "H")]
    folder.mkdir()
    rows = ["name,energy"]
    for k in range(1, n + 1):
        mol = molecules[k % 3]
        surface = ("Ar",) * (2 + k % 2)
        sub = rng.uniform(-1.0, 1.0, (len(mol), 3)) + [0.0, 0.0, 4.0]
        surf = np.column_stack([3.8 * np.arange(len(surface)), np.zeros((len(surface), 2))])
        lines = [f"{s} {x:.8f} {y:.8f} {z:.8f}\n"
                 for s, (x, y, z) in zip(mol + surface, np.vstack([sub, surf]))]
        energy = float(rng.normal(-0.1, 0.05))
        (folder / f"p_{k}.xyz").write_text(f"{len(mol)}\nenergy {energy:.10f}\n"
                                           + "".join(lines[:len(mol)]))
        (folder / f"p_{k}_extended.xyz").write_text("".join(lines))
        rows.append(f"p_{k},{2 * energy:.10f}")
    (folder / "energies.csv").write_text("\n".join(rows) + "\n")
    return folder


def _rows(ds):
    return [(s.name, s.symbols, s.positions.tobytes(), s.energy, s.groups.tobytes(),
             s.source, s.first_line, s.weight) for s in ds]


@pytest.mark.parametrize("options", [
    pytest.param({}, id="plain"),
    pytest.param({"energy_unit": "kcal/mol"}, id="kcal-per-mol"),
    pytest.param({"energies_csv": "energies.csv"}, id="energies-csv"),
    pytest.param({"groups": "first:2"}, id="first-2"),
])
@pytest.mark.parametrize("small_lines", [20_000, 0], ids=["python-split", "pandas-reader"])
def test_seed_bulk_reader_equals_the_line_by_line_reader(tmp_path, monkeypatch, options,
                                                         small_lines):
    """Both bulk parsers (Python split for small inputs, pandas' C reader for large ones)
    give the line-by-line reader's Dataset, byte for byte."""
    monkeypatch.setattr(seed_bulk, "SMALL_TABLE_LINES", small_lines)
    parsed = []
    table = seed_bulk._atom_table
    monkeypatch.setattr(seed_bulk, "_atom_table", lambda blobs: parsed.append(table(blobs))
                        or parsed[-1])
    folder = _mixed_seed_folder(tmp_path / "mixed")
    if "energies_csv" in options:
        options = dict(options, energies_csv=folder / options["energies_csv"])
    bulk = ljfit.read_dataset(folder, **options)
    assert len(parsed) == 2 and all(t is not None for t in parsed)  # the bulk path ran
    assert len(bulk._distinct_layouts()) == 6
    with monkeypatch.context() as m:
        m.setattr(io_seed, "_bulk_structures", lambda *a, **k: None)
        lines = ljfit.read_dataset(folder, **options)
    assert _rows(bulk) == _rows(lines)
    # structures of one layout share one symbols tuple and one groups array
    for s in bulk:
        first = next(t for t in bulk._distinct_layouts() if t.symbols == s.symbols
                     and np.array_equal(t.groups, s.groups))
        assert s.symbols is first.symbols and s.groups is first.groups


# -- --jobs N on the command line: the serial results, whatever the input -------------------


def _gappy_weighted_seed(tmp_path):
    """The example's structures renumbered with gaps, energies and weights from a CSV file
    in which the first quarter (all of --jobs 2's first part) weighs 0."""
    folder = tmp_path / "gappy"
    folder.mkdir()
    rows = ["name,energy,weight"]
    for k, src in enumerate(sorted(EXAMPLE.glob("p_*_extended.xyz"),
                                   key=lambda p: int(p.name.split("_")[1]))):
        n = int(src.name.split("_")[1])
        m = 3 * n + (n % 2)  # gaps everywhere
        (folder / f"p_{m}_extended.xyz").write_text(src.read_text())
        sub = (EXAMPLE / f"p_{n}.xyz").read_text()
        (folder / f"p_{m}.xyz").write_text(sub)
        energy = float(sub.splitlines()[1].split()[1])
        rows.append(f"p_{m},{energy!r},{0 if k < 10 else 1 + k % 3}")
    (tmp_path / "e.csv").write_text("\n".join(rows) + "\n")
    return [str(folder), "--energies-csv", str(tmp_path / "e.csv")]


def _tagged_files(tmp_path, tagged=(0, 1, 2, 3, 4)):
    """Five extxyz files of Ar-Kr dimers, tagged (groups from tags) in the files
    ``tagged``."""
    from ase import Atoms

    folder = tmp_path / "dimers"
    folder.mkdir()
    rng = np.random.default_rng(5)
    for f in range(5):
        frames = []
        for k in range(4):
            d = rng.uniform(3.0, 5.0)
            a = Atoms("ArKr", positions=[[0, 0, 0], [d, 0, 0]],
                      tags=[0, 1] if f in tagged else [0, 0])
            a.calc = SinglePointCalculator(a, energy=4 * 0.012 * ((3.5 / d) ** 12
                                                                  - (3.5 / d) ** 6))
            frames.append(a)
        write(folder / f"run{f}.extxyz", frames, format="extxyz")
    return [str(folder)]


CLI_CASES = [
    pytest.param(lambda t: [str(_argon_file(t / "ar.extxyz")), "--cutoff", "6", "--shift"],
                 id="one-file-forces-stress"),
    pytest.param(lambda t: [str(EXAMPLE)], id="seed-example"),
    pytest.param(lambda t: [str(EXAMPLE), "--scope", "per-site"], id="seed-per-site"),
    pytest.param(_gappy_weighted_seed, id="seed-gaps-csv-weights"),
    pytest.param(_tagged_files, id="files-tags"),
    pytest.param(lambda t: [*_tagged_files(t, tagged=()), "--groups", "all"],
                 id="files-total-energies"),
    pytest.param(lambda t: [str(EXAMPLE), str(EXAMPLE / "../example_tags")],
                 id="two-paths"),
]


@pytest.mark.parametrize("jobs", [2, 3])
@pytest.mark.parametrize("make", CLI_CASES)
def test_cli_jobs_equals_serial(tmp_path, make, jobs):
    given = make(tmp_path)
    base = ["fit", *given, "--method", "linear,least_squares", "--no-plots", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "serial")]) == 0
    assert main([*base, "--out", str(tmp_path / "jobs"), "--jobs", str(jobs)]) == 0
    _compare(tmp_path / "serial", tmp_path / "jobs")
    for name in ("predictions_forces.csv", "predictions_stress.csv"):
        if (tmp_path / "serial" / name).exists():
            assert (tmp_path / "jobs" / name).read_text() == \
                (tmp_path / "serial" / name).read_text()
    # what the report says of the data is the same (the fits agree to rounding, which
    # may end least_squares an iteration earlier or later)
    assert _dataset_section(tmp_path / "jobs") == _dataset_section(tmp_path / "serial")
    assert json.loads((tmp_path / "jobs" / "metrics.json").read_text())["dataset"] == \
        json.loads((tmp_path / "serial" / "metrics.json").read_text())["dataset"]


def _dataset_section(folder):
    text = (folder / "report.md").read_text()
    return text.split("## Dataset", 1)[1].split("\n## ", 1)[0]


# -- bad input: the error serial reading gives, naming the file and line ----------------------


@pytest.mark.parametrize("build, where, word", MALFORMED)
def test_parts_raise_the_serial_error(tmp_path, build, where, word):
    path, kwargs = build(tmp_path)
    options = dict(READ, **{k: str(v) if isinstance(v, Path) else v
                            for k, v in kwargs.items()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError) as serial:
            ljfit.read_dataset(path, **options)
        with pytest.raises(DataError) as parts:
            parallel.featurise([str(path)], options, FEATURES, jobs=2)
    assert str(parts.value) == str(serial.value)


def test_cli_jobs_bad_line_is_one_error_line_naming_it(tmp_path, capsys):
    folder = _seed_folder(tmp_path, numbers=range(1, 13))
    lines = (folder / "p_11_extended.xyz").read_text().splitlines(keepends=True)
    lines[3] = "Ar 0 zero 0\n"
    (folder / "p_11_extended.xyz").write_text("".join(lines))
    code = main(["fit", str(folder), "--out", str(tmp_path / "o"), "--jobs", "2", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "p_11_extended.xyz:4" in err[0] and "not three numbers" in err[0], err
    assert not (tmp_path / "o").exists()


def test_parts_warn_gaps_once_and_check_the_weights_of_the_whole(tmp_path):
    folder = _seed_folder(tmp_path, numbers=[1, 2, 3, 4, 7, 8, 9, 10])
    rows = [f"p_{n},{-0.1 * n},{0 if n < 4 else 1}" for n in [1, 2, 3, 4, 7, 8, 9, 10]]
    csv = tmp_path / "w.csv"
    csv.write_text("name,energy,weight\n" + "\n".join(rows) + "\n")
    options = dict(READ, energies_csv=str(csv))
    with pytest.warns(UserWarning, match="missing p_5, p_6") as caught:
        ds, _, messages = parallel.featurise([str(folder)], options, FEATURES, jobs=2)
    assert len([w for w in caught if "gaps" in str(w.message)]) == 1 and messages == []
    np.testing.assert_array_equal(ds.weights, [0, 0, 0, 1, 1, 1, 1, 1])
    csv.write_text(csv.read_text().replace(",1\n", ",0\n"))
    with pytest.warns(UserWarning, match="gaps"), pytest.raises(DataError) as err:
        parallel.featurise([str(folder)], options, FEATURES, jobs=2)
    assert "every structure has weight 0" in str(err.value) and str(folder) in str(err.value)


def test_a_worker_error_stops_the_other_parts(tmp_path):
    folder = _seed_folder(tmp_path, numbers=range(1, 41))
    (folder / "p_1_extended.xyz").write_text("Ar 0 zero 0\n")
    with pytest.raises(DataError, match=r"p_1_extended.xyz:1"), \
            parallel.submit([str(folder)], READ, FEATURES, jobs=2) as parts:
        assert parts.runner.pool is not None
        parts.result()
    assert parts.runner.pool is None  # shut down, the parts not started yet dropped


def test_a_part_is_sent_the_csv_rows_of_its_structures_only(tmp_path):
    from ljfit.io import _plan_read, _split

    folder = _mixed_seed_folder(tmp_path / "mixed")
    csv = folder / "energies.csv"
    csv.write_text(csv.read_text() + "p_99,1.0\n")  # a row no structure looks up
    plan = _plan_read(folder, energies_csv=csv)
    parts = _split(plan, 3)
    assert [len(p.csv_energies) for p in parts] == [len(p.listing[0]) for p in parts]
    assert sorted(k for p in parts for k in p.csv_energies) == \
        sorted(k for k in plan.csv_energies if k != "p_99")
    whole = ljfit.read_dataset(folder, energies_csv=csv)
    pieces = [ljfit.io._read_planned(p) for p in parts]
    np.testing.assert_array_equal(np.concatenate([d.energies for d in pieces]),
                                  whole.energies)


@pytest.mark.parametrize("small_lines, expected", [(50_000, False), (100, True)])
def test_parent_imports_pandas_only_for_parts_that_parse_with_it(monkeypatch, small_lines,
                                                                 expected):
    """The example's parts (20 structures of 57 atoms) split their lines in Python unless
    the limit is below their ~1140 lines: then pandas is imported before the fork."""
    monkeypatch.setattr(seed_bulk, "SMALL_TABLE_LINES", small_lines)
    tasks = parallel._tasks([str(EXAMPLE)], READ, 2)
    assert parallel._seed_parts_need_pandas([part for _, part in tasks]) is expected
